#include "facelens/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <toml++/toml.h>

namespace facelens {

namespace {

class Reader {
 public:
  Reader(const toml::table& t, std::string where) : t_(t), where_(std::move(where)) {}

  Status unknown_keys(const std::set<std::string>& known) const {
    for (const auto& [k, v] : t_) {
      if (!known.count(std::string(k.str()))) {
        std::string list;
        for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
        return invalid_argument(where_ + ": unknown key '" + std::string(k.str()) + "' (known: " + list + ")");
      }
    }
    return Status::Ok();
  }
  template <typename T>
  Status get(const char* key, T* out) const {
    const toml::node* n = t_.get(key);
    if (!n) return Status::Ok();
    if constexpr (std::is_same_v<T, bool>) {
      if (auto v = n->value<bool>()) { *out = *v; return Status::Ok(); }
      return wrong(key, "true or false");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = n->value<std::string>()) { *out = *v; return Status::Ok(); }
      return wrong(key, "a string");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto v = n->value<double>()) { *out = static_cast<T>(*v); return Status::Ok(); }
      return wrong(key, "a number");
    } else {
      if (auto v = n->value<int64_t>(); v && *v >= 0) { *out = static_cast<T>(*v); return Status::Ok(); }
      return wrong(key, "a non-negative integer");
    }
  }
  Status get_ints(const char* key, std::vector<int>* out) const {
    const toml::node* n = t_.get(key);
    if (!n) return Status::Ok();
    const toml::array* a = n->as_array();
    if (!a) return wrong(key, "an array of integers, e.g. [0, 1]");
    out->clear();
    for (const auto& e : *a) {
      auto v = e.value<int64_t>();
      if (!v || *v < 0) return wrong(key, "an array of non-negative integers");
      out->push_back(static_cast<int>(*v));
    }
    return Status::Ok();
  }
  const toml::table* table(const char* key) const {
    const toml::node* n = t_.get(key);
    return n ? n->as_table() : nullptr;
  }
  Status check_table(const char* key) const {
    const toml::node* n = t_.get(key);
    if (n && !n->as_table()) return wrong(key, "a table ([" + std::string(key) + "])");
    return Status::Ok();
  }
  const std::string& where() const { return where_; }

 private:
  Status wrong(const char* key, const std::string& what) const {
    return invalid_argument(where_ + ": '" + key + "' must be " + what);
  }
  const toml::table& t_;
  std::string where_;
};

Status read_provider(const Reader& r, const char* key, Provider* out) {
  std::string name;
  FACELENS_RETURN_IF_ERROR(r.get(key, &name));
  if (name.empty()) return Status::Ok();
  auto p = parse_provider(name);
  if (!p.ok()) return p.status().with_context(r.where());
  *out = *p;
  return Status::Ok();
}

Status read_service(const toml::table& t, const std::string& where, ServiceRuntimeOptions* s) {
  Reader r(t, where);
  FACELENS_RETURN_IF_ERROR(r.unknown_keys({"provider", "device_ids", "gpu_mem_limit_mb", "arena_extend_strategy",
                                           "cudnn_conv_algo_search", "do_copy_in_default_stream"}));
  if (t.get("provider")) {
    Provider p = Provider::kAuto;
    FACELENS_RETURN_IF_ERROR(read_provider(r, "provider", &p));
    s->provider = p;
  }
  if (t.get("device_ids")) {
    std::vector<int> ids;
    FACELENS_RETURN_IF_ERROR(r.get_ints("device_ids", &ids));
    s->device_ids = ids;
  }
  if (t.get("gpu_mem_limit_mb")) {
    uint64_t mb = 0;
    FACELENS_RETURN_IF_ERROR(r.get("gpu_mem_limit_mb", &mb));
    s->gpu_mem_limit = mb << 20;
  }
  if (t.get("arena_extend_strategy")) {
    std::string v;
    FACELENS_RETURN_IF_ERROR(r.get("arena_extend_strategy", &v));
    if (v != "kNextPowerOfTwo" && v != "kSameAsRequested")
      return invalid_argument(where + ": arena_extend_strategy must be kNextPowerOfTwo or kSameAsRequested");
    s->arena_extend_strategy = v;
  }
  if (t.get("cudnn_conv_algo_search")) {
    std::string v;
    FACELENS_RETURN_IF_ERROR(r.get("cudnn_conv_algo_search", &v));
    if (v != "EXHAUSTIVE" && v != "HEURISTIC" && v != "DEFAULT")
      return invalid_argument(where + ": cudnn_conv_algo_search must be EXHAUSTIVE, HEURISTIC or DEFAULT");
    s->cudnn_conv_algo_search = v;
  }
  if (t.get("do_copy_in_default_stream")) {
    bool v = true;
    FACELENS_RETURN_IF_ERROR(r.get("do_copy_in_default_stream", &v));
    s->do_copy_in_default_stream = v;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<EngineOptions> parse_config(const std::string& text, const std::string& origin, EngineOptions o) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return invalid_argument(msg.str());
  }
  Reader r(root, origin);
  FACELENS_RETURN_IF_ERROR(r.unknown_keys({"models", "runtime", "services", "detector", "recognizer", "limits"}));
  for (const char* t : {"models", "runtime", "services", "detector", "recognizer", "limits"})
    FACELENS_RETURN_IF_ERROR(r.check_table(t));
  if (const auto* t = r.table("models")) {
    Reader m(*t, origin + " [models]");
    FACELENS_RETURN_IF_ERROR(m.unknown_keys({"dir", "detector", "landmarks", "recognizer", "liveness"}));
    FACELENS_RETURN_IF_ERROR(m.get("dir", &o.models_dir));
    FACELENS_RETURN_IF_ERROR(m.get("detector", &o.detector));
    FACELENS_RETURN_IF_ERROR(m.get("landmarks", &o.landmarks));
    FACELENS_RETURN_IF_ERROR(m.get("recognizer", &o.recognizer));
    FACELENS_RETURN_IF_ERROR(m.get("liveness", &o.liveness));
    // A relative models folder is relative to the config file.
    if (!o.models_dir.empty() && std::filesystem::path(o.models_dir).is_relative() && !origin.empty()) {
      o.models_dir = (std::filesystem::path(origin).parent_path() / o.models_dir).lexically_normal().string();
    }
  }
  if (const auto* t = r.table("runtime")) {
    Reader rt(*t, origin + " [runtime]");
    FACELENS_RETURN_IF_ERROR(rt.unknown_keys({"provider", "require_gpu", "cuda_ep_path", "intra_op_threads",
                                              "inter_op_threads", "allow_spinning", "idle_unload_seconds",
                                              "memory_budget_mb"}));
    FACELENS_RETURN_IF_ERROR(read_provider(rt, "provider", &o.runtime.provider));
    FACELENS_RETURN_IF_ERROR(rt.get("require_gpu", &o.runtime.require_gpu));
    FACELENS_RETURN_IF_ERROR(rt.get("cuda_ep_path", &o.runtime.cuda_ep_path));
    FACELENS_RETURN_IF_ERROR(rt.get("intra_op_threads", &o.runtime.intra_op_threads));
    FACELENS_RETURN_IF_ERROR(rt.get("inter_op_threads", &o.runtime.inter_op_threads));
    FACELENS_RETURN_IF_ERROR(rt.get("allow_spinning", &o.runtime.allow_spinning));
    FACELENS_RETURN_IF_ERROR(rt.get("idle_unload_seconds", &o.runtime.idle_unload_seconds));
    uint64_t mb = o.runtime.memory_budget_bytes >> 20;
    FACELENS_RETURN_IF_ERROR(rt.get("memory_budget_mb", &mb));
    o.runtime.memory_budget_bytes = mb << 20;
  }
  if (const auto* t = r.table("services")) {
    static const std::set<std::string> kServices = {"detector", "landmarks", "recognizer", "liveness",
                                                    "attribute", "deepfake"};
    for (const auto& [k, v] : *t) {
      std::string name(k.str());
      if (!kServices.count(name) || !v.as_table()) {
        return invalid_argument(origin + ": [services." + name +
                                "] is not a service table (known: attribute, deepfake, detector, landmarks, "
                                "liveness, recognizer)");
      }
      FACELENS_RETURN_IF_ERROR(read_service(*v.as_table(), origin + " [services." + name + "]", &o.runtime.services[name]));
    }
  }
  if (const auto* t = r.table("detector")) {
    Reader d(*t, origin + " [detector]");
    FACELENS_RETURN_IF_ERROR(d.unknown_keys({"threshold", "nms_iou", "max_faces"}));
    FACELENS_RETURN_IF_ERROR(d.get("threshold", &o.detect_threshold));
    FACELENS_RETURN_IF_ERROR(d.get("nms_iou", &o.nms_iou));
    FACELENS_RETURN_IF_ERROR(d.get("max_faces", &o.max_faces));
  }
  if (const auto* t = r.table("recognizer")) {
    Reader d(*t, origin + " [recognizer]");
    FACELENS_RETURN_IF_ERROR(d.unknown_keys({"match_threshold"}));
    FACELENS_RETURN_IF_ERROR(d.get("match_threshold", &o.match_threshold));
  }
  if (const auto* t = r.table("limits")) {
    Reader d(*t, origin + " [limits]");
    FACELENS_RETURN_IF_ERROR(d.unknown_keys({"max_pixels", "max_bytes"}));
    FACELENS_RETURN_IF_ERROR(d.get("max_pixels", &o.decode.max_pixels));
    FACELENS_RETURN_IF_ERROR(d.get("max_bytes", &o.decode.max_bytes));
  }
  return o;
}

StatusOr<EngineOptions> load_config(const std::string& path, EngineOptions base) {
  std::ifstream f(path);
  if (!f) return not_found("config file '" + path + "' not found");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path, std::move(base));
}

}  // namespace facelens
