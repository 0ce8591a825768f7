// facelens info, facelens models list|inspect.
#include <iostream>
#include <map>

#include "common.h"
#include "facelens/result_json.h"

namespace facelens::cli {
namespace {

using json = nlohmann::ordered_json;

std::string version_string(int v) {  // CUDA's 13000 -> "13.0", cuDNN's 91300 -> "9.13.0"
  if (v <= 0) return "none";
  if (v >= 10000 && v < 90000) return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
}

json cuda_json(const CudaReport& cu) {
  json devices = json::array();
  for (const auto& d : cu.devices) {
    devices.push_back({{"ordinal", d.ordinal},
                       {"name", d.name},
                       {"memory_bytes", d.total_memory_bytes},
                       {"pci_bus_id", d.pci_bus_id}});
  }
  json j = {{"available", cu.available}};
  if (!cu.reason.empty()) j["reason"] = cu.reason;
  if (!cu.ep_library.empty()) j["ep_library"] = cu.ep_library;
  j["runtime_version"] = version_string(cu.runtime_version);
  j["driver_version"] = version_string(cu.driver_version);
  j["cudnn_version"] = version_string(cu.cudnn_version);
  if (!cu.cudnn_reason.empty()) j["cudnn_reason"] = cu.cudnn_reason;
  j["devices"] = devices;
  return j;
}

int cmd_info(const Common& c) {
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  auto engine = Engine::create(*opts);
  // CUDA is probed (core, runtime, driver, provider, cuDNN, devices) unless the CPU is asked for.
  // After the engine exists: ONNX Runtime's environment is shared, so the CUDA provider is
  // registered once and stays loaded for the engine.
  auto rt = query_runtime_info(opts->runtime, /*probe_cuda=*/opts->runtime.provider != Provider::kCpu);
  if (!rt.ok()) return fail(rt.status());
  json j;
  j["facelens_version"] = version();
  j["onnxruntime_version"] = rt->onnxruntime_version;
  j["core_library"] = rt->core_library;
  j["providers"] = rt->providers;
  json devices = json::array();
  for (const auto& d : rt->ep_devices) {
    json e = {{"ep", d.ep_name},
              {"ep_vendor", d.ep_vendor},
              {"type", d.device_type},
              {"vendor", d.device_vendor},
              {"device_id", d.device_id}};
    if (d.cuda_ordinal >= 0) e["cuda_ordinal"] = d.cuda_ordinal;
    devices.push_back(e);
  }
  j["ep_devices"] = devices;
  j["cuda"] = cuda_json(rt->cuda);
  int rc = 0;
  json models = json::array();
  if (!engine.ok()) {
    j["error"] = engine.status().to_string();
    rc = fail(engine.status());
  } else {
    j["models_dir"] = (*engine)->models_dir();
    for (const auto& m : (*engine)->check_models()) {
      json e = {{"id", m.id}, {"task", m.task}, {"family", m.family}, {"path", m.path}, {"status", m.state}};
      if (m.state == "hash mismatch") {
        e["expected_sha256"] = m.expected_sha256;
        e["actual_sha256"] = m.actual_sha256;
      }
      if (!m.message.empty()) {
        e["message"] = m.message;
        std::cerr << "facelens: " << m.message << "\n";
        rc = kExitFailure;
      }
      models.push_back(e);
    }
    // Load every service (as a run would) to report the provider each really got, and why not CUDA.
    AnalyzeOptions all;
    all.embedding = all.liveness = all.attributes = all.deepfake = true;
    if (rc == 0) {
      Status warm = (*engine)->warm_up(all);
      if (!warm.ok()) {
        j["error"] = warm.to_string();
        rc = fail(warm);
      }
    }
    json services = json::array();
    for (const auto& sv : (*engine)->services()) {
      json e = {{"service", sv.service}, {"model", sv.model_id}, {"family", sv.family},
                {"path", sv.model_path}, {"loaded", sv.loaded},  {"requested_provider", sv.requested}};
      if (sv.loaded) {
        e["provider"] = sv.provider;
        if (!sv.provider_reason.empty()) e["cuda_unavailable_reason"] = sv.provider_reason;
        if (!sv.device_ids.empty()) e["device_ids"] = sv.device_ids;
        if (!sv.cudnn_conv_algo_search.empty()) e["cudnn_conv_algo_search"] = sv.cudnn_conv_algo_search;
        if (!sv.cudnn_conv_algo_search_reason.empty())
          e["cudnn_conv_algo_search_reason"] = sv.cudnn_conv_algo_search_reason;
        e["placement"] = format::to_json(sv.placement);
        if (!sv.placement_error.empty()) e["placement_error"] = sv.placement_error;
      }
      services.push_back(e);
    }
    j["services"] = services;
  }
  j["models"] = models;
  if (c.json_out) {
    std::cout << j.dump() << "\n";  // one object per line, as every --json
    return rc;
  }
  std::cout << "facelens " << version() << ", ONNX Runtime " << rt->onnxruntime_version << "\n"
            << "core: " << rt->core_library << "\nproviders:";
  for (const auto& p : rt->providers) std::cout << " " << p;
  std::cout << "\nEP devices:\n";
  for (const auto& d : rt->ep_devices) {
    std::cout << "  " << d.ep_name << " on " << d.device_type << " " << d.device_id << " (" << d.device_vendor << ")";
    if (d.cuda_ordinal >= 0) std::cout << ", CUDA ordinal " << d.cuda_ordinal;
    std::cout << "\n";
  }
  const auto& cu = rt->cuda;
  std::cout << "CUDA: " << (cu.available ? "available" : "unavailable: " + cu.reason) << "\n";
  if (cu.runtime_version > 0) {
    std::cout << "  runtime " << version_string(cu.runtime_version) << ", driver " << version_string(cu.driver_version)
              << ", cuDNN " << (cu.cudnn_reason.empty() ? version_string(cu.cudnn_version) : cu.cudnn_reason) << "\n";
  }
  for (const auto& d : cu.devices) {
    std::cout << "  device " << d.ordinal << ": " << d.name << ", " << (d.total_memory_bytes >> 20) << " MiB, PCI "
              << d.pci_bus_id << "\n";
  }
  std::cout << "models (" << j.value("models_dir", std::string("?")) << "):\n";
  for (const auto& m : models)
    std::cout << "  " << m["id"].get<std::string>() << " [" << m["task"].get<std::string>() << ", "
              << m["family"].get<std::string>() << "]: " << m["status"].get<std::string>() << "\n";
  if (j.contains("services")) {
    // Each reason CUDA was not used is printed once: the services that share it refer to it.
    std::map<std::string, std::string> reason_first;  // reason -> the service it was printed with
    std::cout << "services:\n";
    for (const auto& sv : j["services"]) {
      std::cout << "  " << sv["service"].get<std::string>() << " " << sv["model"].get<std::string>() << " ["
                << sv["family"].get<std::string>()
                << "]: " << (sv["loaded"].get<bool>() ? sv["provider"].get<std::string>() : std::string("not loaded"));
      if (sv.contains("cuda_unavailable_reason")) {
        const std::string why = sv["cuda_unavailable_reason"].get<std::string>();
        const std::string name = sv["service"].get<std::string>() + " " + sv["model"].get<std::string>();
        if (!cu.available && why == cu.reason) std::cout << " (CUDA not used: see CUDA above)";
        else if (auto it = reason_first.find(why); it != reason_first.end())
          std::cout << " (CUDA not used: as for " << it->second << ")";
        else {
          reason_first.emplace(why, name);
          std::cout << " (CUDA not used: " << why << ")";
        }
      }
      std::cout << "\n";
      if (sv.contains("cudnn_conv_algo_search"))
        std::cout << "    cuDNN algorithm search " << sv["cudnn_conv_algo_search"].get<std::string>() << "\n";
      if (sv.contains("placement")) {
        std::vector<EpPlacement> placement;
        for (const auto& p : sv["placement"]) {
          EpPlacement e{p["ep"].get<std::string>(), p["nodes"].get<int>(), {}};
          for (const auto& [op, n] : p["op_types"].items()) e.op_types[op] = n.get<int>();
          placement.push_back(std::move(e));
        }
        if (!placement.empty()) std::cout << "    nodes: " << placement_to_string(placement) << "\n";
      }
    }
  }
  return rc;
}

// The file's description, the family facelens takes it for and the manifest entry it would use
// (that of the models folder's manifest.json / extra.json with the same sha256, else the family's).
int cmd_inspect(const Common& c, const std::string& path, const std::string& family) {
  auto d = inspect_model(path);
  if (!d.ok()) return fail(d.status());
  json j = format::to_json(*d);
  std::string models_dir, manifest;
  if (auto opts = engine_options(c); opts.ok()) {
    if (auto engine = Engine::create(*opts); engine.ok()) models_dir = (*engine)->models_dir();
    manifest = opts->manifest;
  }
  auto fm = match_model_file(path, family, models_dir, manifest);
  if (fm.ok()) {
    j["family"] = fm->family;
    j["task"] = fm->task;
    j["recognised_by"] = fm->how;
    if (!fm->manifest_path.empty()) j["manifest"] = fm->manifest_path;
    if (!fm->alternatives.empty()) j["other_families"] = fm->alternatives;
    j["entry"] = json::parse(fm->entry_json);
  } else {
    j["error"] = fm.status().to_string();
  }
  if (c.json_out) {
    std::cout << j.dump() << "\n";
    return fm.ok() ? 0 : fail(fm.status());
  }
  std::cout << path << "\n  producer " << j["producer"].get<std::string>() << ", IR " << d->ir_version << ", opsets "
            << j["opsets"].dump() << "\n  " << d->n_nodes << " nodes, " << d->n_parameters << " parameters\n";
  for (const auto& t : d->inputs)
    std::cout << "  input  " << t.name << ": " << t.element_type << " " << t.shape_string() << "\n";
  for (const auto& t : d->outputs)
    std::cout << "  output " << t.name << ": " << t.element_type << " " << t.shape_string() << "\n";
  if (!fm.ok()) return fail(fm.status());
  std::cout << "  family " << fm->family << " (" << fm->task << "), "
            << (fm->how == "manifest" ? "manifest entry '" + fm->entry_id + "' of " + fm->manifest_path
                : fm->how == "named"  ? std::string("as named")
                                      : std::string("recognised from its signature"));
  if (!fm->alternatives.empty()) {
    std::cout << "; the signature also fits";
    for (const auto& a : fm->alternatives) std::cout << " " << a;
    std::cout << " (choose with --family)";
  }
  std::cout << "\n  manifest entry it would use:\n" << j["entry"].dump(2) << "\n";
  return 0;
}

}  // namespace

void register_info_commands(CLI::App& app, Common& common, std::vector<Runner>& runners) {
  auto* info = app.add_subcommand("info", "versions, execution providers, devices and model files");
  add_common(info, common);
  runners.push_back([info, &common]() -> std::optional<int> {
    if (!*info) return std::nullopt;
    return cmd_info(common);
  });

  auto* models = app.add_subcommand("models", "model files: list, inspect, convert (FP16, INT8, dynamic batch)");
  models->require_subcommand(1);
  auto* list = models->add_subcommand("list", "the models of the manifest and the state of their files");
  add_common(list, common);
  runners.push_back([list, &common]() -> std::optional<int> {
    if (!*list) return std::nullopt;
    return cmd_info(common);
  });
  auto inspect_path = std::make_shared<std::string>();
  auto inspect_family = std::make_shared<std::string>();
  auto* inspect = models->add_subcommand(
      "inspect",
      "inputs, outputs, opsets and size of any ONNX file; the family facelens takes it for and the "
      "manifest entry it would use");
  inspect->add_option("file", *inspect_path, "ONNX model file")->required();
  inspect->add_option("--family", *inspect_family, "take the model for this family (when its signature is ambiguous)");
  add_common(inspect, common);
  runners.push_back([inspect, inspect_path, inspect_family, &common]() -> std::optional<int> {
    if (!*inspect) return std::nullopt;
    return cmd_inspect(common, *inspect_path, *inspect_family);
  });
}

}  // namespace facelens::cli
