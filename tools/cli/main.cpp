// facelens — command-line program over the public library API.
// Exit codes: 0 success; 1 failure (model, runtime); 2 usage error; 3 bad input (an image or
// file that could not be used).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "facelens/facelens.h"
#include "image/draw.h"
#include "output.h"

namespace {

using facelens::Status;
using facelens::StatusCode;
using json = nlohmann::ordered_json;

constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 3;

int exit_code_of(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: return kExitBadInput;
    default: return kExitFailure;
  }
}

int fail(const Status& s) {
  std::cerr << "facelens: " << s.to_string() << "\n";
  return exit_code_of(s) == 0 ? kExitFailure : exit_code_of(s);
}

struct Common {
  std::string models_dir;
  int threads = 0;
  bool json_out = false;
};

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--models", c.models_dir, "folder with manifest.json and the model files (default: $FACELENS_MODELS or the build's models/)");
  cmd->add_option("--threads", c.threads, "ONNX Runtime intra-op threads per model (0 = one per core)");
  cmd->add_flag("--json", c.json_out, "print JSON, one object per line");
}

facelens::EngineOptions engine_options(const Common& c) {
  facelens::EngineOptions o;
  o.models_dir = c.models_dir;
  o.intra_op_threads = c.threads;
  return o;
}

json services_json(const facelens::Engine& engine) {
  json j = json::object();
  for (const auto& s : engine.services())
    if (s.loaded) j[s.service == "attribute" ? s.model_id : s.service] = s.provider;
  return j;
}

int cmd_info(const Common& c) {
  auto rt = facelens::query_runtime_info();
  if (!rt.ok()) return fail(rt.status());
  auto engine = facelens::Engine::create(engine_options(c));
  json j;
  j["facelens_version"] = facelens::version();
  j["onnxruntime_version"] = rt->onnxruntime_version;
  j["providers"] = rt->providers;
  json devices = json::array();
  for (const auto& d : rt->ep_devices) {
    devices.push_back({{"ep", d.ep_name}, {"ep_vendor", d.ep_vendor}, {"type", d.device_type},
                       {"vendor", d.device_vendor}, {"device_id", d.device_id}});
  }
  j["ep_devices"] = devices;
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
  }
  j["models"] = models;
  if (c.json_out) {
    std::cout << j.dump(2) << "\n";
    return rc;
  }
  std::cout << "facelens " << facelens::version() << ", ONNX Runtime " << rt->onnxruntime_version << "\n"
            << "providers:";
  for (const auto& p : rt->providers) std::cout << " " << p;
  std::cout << "\nEP devices:\n";
  for (const auto& d : rt->ep_devices)
    std::cout << "  " << d.ep_name << " on " << d.device_type << " " << d.device_id << " (" << d.device_vendor << ")\n";
  std::cout << "models (" << j.value("models_dir", std::string("?")) << "):\n";
  for (const auto& m : models)
    std::cout << "  " << m["id"].get<std::string>() << " [" << m["task"].get<std::string>() << ", "
              << m["family"].get<std::string>() << "]: " << m["status"].get<std::string>() << "\n";
  return rc;
}

int cmd_inspect(const std::string& path, bool json_out) {
  auto d = facelens::inspect_model(path);
  if (!d.ok()) return fail(d.status());
  json j = facelens::cli::to_json(*d);
  if (json_out) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << path << "\n  producer " << j["producer"].get<std::string>() << ", IR " << d->ir_version << ", opsets "
            << j["opsets"].dump() << "\n  " << d->n_nodes << " nodes, " << d->n_parameters << " parameters\n";
  for (const auto& t : d->inputs) std::cout << "  input  " << t.name << ": " << t.element_type << " " << t.shape_string() << "\n";
  for (const auto& t : d->outputs) std::cout << "  output " << t.name << ": " << t.element_type << " " << t.shape_string() << "\n";
  return 0;
}

std::string draw_path(const std::string& out, const std::string& image, size_t n_images) {
  if (n_images == 1 && !std::filesystem::is_directory(out)) {
    auto parent = std::filesystem::path(out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    return out;
  }
  std::filesystem::create_directories(out);
  return (std::filesystem::path(out) / (std::filesystem::path(image).stem().string() + ".png")).string();
}

Status draw(const std::string& image_path, const facelens::ImageResult& r, const std::string& out) {
  auto bytes = facelens::read_file_bytes(image_path, facelens::DecodeOptions{}.max_bytes);
  if (!bytes.ok()) return bytes.status();
  auto img = facelens::decode_image(*bytes, {});
  if (!img.ok()) return img.status();
  facelens::Image canvas = std::move(img->image);
  const int thick = std::max(2, canvas.width / 400);
  for (const auto& f : r.faces) {
    facelens::image::draw_box(canvas, f.box, {0, 255, 0}, thick);
    if (f.landmarks)
      for (const auto& p : *f.landmarks) facelens::image::draw_point(canvas, p, {255, 0, 0}, thick + 1);
    char label[32];
    std::snprintf(label, sizeof label, "%.2f", f.score);
    facelens::image::draw_label(canvas, {f.box.x1, std::max(0.f, f.box.y1 - 4.f * thick)}, label, {0, 255, 0});
  }
  return facelens::write_png(canvas, out);
}

// detect / embed / analyze: one result per image, errors per image, exit 0 only if all succeeded.
int cmd_images(const Common& c, const std::vector<std::string>& images, const facelens::AnalyzeOptions& what,
               const std::string& draw_out) {
  auto engine = facelens::Engine::create(engine_options(c));
  if (!engine.ok()) return fail(engine.status());
  // Load (and hash-check) every model this command needs before the first image.
  if (Status s = (*engine)->warm_up(what); !s.ok()) return fail(s);
  int rc = 0;
  for (const auto& path : images) {
    auto r = (*engine)->analyze_file(path, what);
    if (!r.ok()) {
      if (r.status().code() != StatusCode::kInvalidArgument && r.status().code() != StatusCode::kOutOfRange &&
          r.status().code() != StatusCode::kNotFound) {
        // A model or runtime failure affects every image: stop.
        return fail(r.status());
      }
      rc = kExitBadInput;
      if (c.json_out) std::cout << facelens::cli::error_json(path, r.status()).dump() << "\n" << std::flush;
      std::cerr << "facelens: " << path << ": " << r.status().to_string() << "\n";
      continue;
    }
    if (c.json_out) {
      json j = facelens::cli::to_json(*r, path);
      j["providers"] = services_json(**engine);
      std::cout << j.dump() << "\n" << std::flush;
    } else {
      std::cout << facelens::cli::to_text(*r, path) << std::flush;
    }
    if (!draw_out.empty()) {
      Status s = draw(path, *r, draw_path(draw_out, path, images.size()));
      if (!s.ok()) return fail(s);
    }
  }
  return rc;
}

int cmd_verify(const Common& c, const std::string& a, const std::string& b, float threshold) {
  facelens::EngineOptions o = engine_options(c);
  o.match_threshold = threshold;
  auto engine = facelens::Engine::create(o);
  if (!engine.ok()) return fail(engine.status());
  facelens::AnalyzeOptions what;
  what.embedding = true;
  if (Status s = (*engine)->warm_up(what); !s.ok()) return fail(s);
  facelens::Face faces[2];
  const std::string paths[2] = {a, b};
  for (int i = 0; i < 2; ++i) {
    auto r = (*engine)->analyze_file(paths[i], what);
    if (!r.ok()) return fail(r.status().with_context(paths[i]));
    if (r->faces.empty()) return fail(facelens::invalid_argument(paths[i] + ": no face found"));
    faces[i] = *std::max_element(r->faces.begin(), r->faces.end(),
                                 [](const auto& x, const auto& y) { return x.box.area() < y.box.area(); });
  }
  auto v = (*engine)->compare(faces[0].embedding, faces[1].embedding);
  if (c.json_out) {
    json j = {{"image_a", a}, {"image_b", b}, {"similarity", std::round(v.similarity * 1e4) / 1e4},
              {"match", v.match}, {"threshold", v.threshold}};
    j["box_a"] = facelens::cli::to_json(faces[0])["box"];
    j["box_b"] = facelens::cli::to_json(faces[1])["box"];
    j["providers"] = services_json(**engine);
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s vs %s: similarity %.4f, %s (threshold %.3f)\n", a.c_str(), b.c_str(), v.similarity,
                v.match ? "same person" : "different people", v.threshold);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"facelens: face detection, recognition, liveness on ONNX Runtime"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("facelens ") + facelens::version());
  Common common;

  auto* info = app.add_subcommand("info", "versions, execution providers, devices and model files");
  add_common(info, common);

  auto* models = app.add_subcommand("models", "inspect model files");
  models->require_subcommand(1);
  auto* list = models->add_subcommand("list", "the models of the manifest and their state");
  add_common(list, common);
  std::string inspect_path;
  bool inspect_json = false;
  auto* inspect = models->add_subcommand("inspect", "inputs, outputs, opsets and size of any ONNX file");
  inspect->add_option("file", inspect_path, "ONNX model file")->required();
  inspect->add_flag("--json", inspect_json, "print JSON");

  std::vector<std::string> images;
  std::string draw_out;
  facelens::AnalyzeOptions detect_what, embed_what, analyze_what;
  detect_what.landmarks = true;
  embed_what.embedding = true;
  analyze_what.liveness = true;
  analyze_what.attributes = true;
  bool no_landmarks = false, no_liveness = false, no_attributes = false;

  auto* detect = app.add_subcommand("detect", "find faces (boxes, scores, five landmarks)");
  add_common(detect, common);
  detect->add_option("images", images, "image files (JPEG, PNG, WebP, BMP)")->required();
  detect->add_option("--draw", draw_out, "write the image(s) with boxes and landmarks (PNG; a folder for several images)");
  detect->add_flag("--no-landmarks", no_landmarks, "boxes only (faster)");

  auto* embed = app.add_subcommand("embed", "faces with their L2-normalised embeddings");
  add_common(embed, common);
  embed->add_option("images", images, "image files")->required();
  embed->add_option("--draw", draw_out, "write the image(s) with boxes and landmarks");

  auto* analyze = app.add_subcommand("analyze", "faces with liveness and attributes");
  add_common(analyze, common);
  analyze->add_option("images", images, "image files")->required();
  analyze->add_option("--draw", draw_out, "write the image(s) with boxes and landmarks");
  analyze->add_flag("--no-liveness", no_liveness, "skip the liveness model");
  analyze->add_flag("--no-attributes", no_attributes, "skip the attribute models");

  std::string va, vb;
  float threshold = -1;
  auto* verify = app.add_subcommand("verify", "are the largest faces of two images the same person?");
  add_common(verify, common);
  verify->add_option("a", va, "first image")->required();
  verify->add_option("b", vb, "second image")->required();
  verify->add_option("--threshold", threshold, "match threshold on the cosine similarity (default: the manifest's calibrated one)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (*info) return cmd_info(common);
  if (*list) {
    common.json_out = common.json_out || false;
    return cmd_info(common);
  }
  if (*inspect) return cmd_inspect(inspect_path, inspect_json);
  if (*detect) {
    detect_what.landmarks = !no_landmarks;
    return cmd_images(common, images, detect_what, draw_out);
  }
  if (*embed) return cmd_images(common, images, embed_what, draw_out);
  if (*analyze) {
    analyze_what.liveness = !no_liveness;
    analyze_what.attributes = !no_attributes;
    return cmd_images(common, images, analyze_what, draw_out);
  }
  if (*verify) return cmd_verify(common, va, vb, threshold);
  return 2;
}
