#include "facelens/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

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
      if (auto v = n->value<bool>()) {
        *out = *v;
        return Status::Ok();
      }
      return wrong(key, "true or false");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = n->value<std::string>()) {
        *out = *v;
        return Status::Ok();
      }
      return wrong(key, "a string");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto v = n->value<double>()) {
        *out = static_cast<T>(*v);
        return Status::Ok();
      }
      return wrong(key, "a number");
    } else {
      if (auto v = n->value<int64_t>(); v && *v >= 0) {
        *out = static_cast<T>(*v);
        return Status::Ok();
      }
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
  // A name (e.g. provider = "cuda") turned into its value by `parse` (a StatusOr function);
  // absent or "" leaves *out as it is; a wrong name is an error naming the key.
  template <typename T, typename Parse>
  Status get_named(const char* key, Parse parse, T* out) const {
    std::string name;
    FACELENS_RETURN_IF_ERROR(get(key, &name));
    if (name.empty()) return Status::Ok();
    auto parsed = parse(name);
    if (!parsed.ok()) return parsed.status().with_context(where_ + ": '" + key + "'");
    *out = *parsed;
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

Status check_precision(const std::string& v, const std::string& where) {
  if (v == "fp32" || v == "fp16" || v == "int8" || v == "auto") return Status::Ok();
  return invalid_argument(where + ": precision must be fp32, fp16, int8 or auto (got '" + v + "')");
}

// The [services.NAME] table; its precision (if given) into *precision.
Status read_service(const toml::table& t, const std::string& where, ServiceRuntimeOptions* s, std::string* precision) {
  Reader r(t, where);
  FACELENS_RETURN_IF_ERROR(r.unknown_keys({"provider", "device_ids", "gpu_mem_limit_mb", "arena_extend_strategy",
                                           "cudnn_conv_algo_search", "do_copy_in_default_stream", "precision"}));
  FACELENS_RETURN_IF_ERROR(r.get("precision", precision));
  if (!precision->empty()) FACELENS_RETURN_IF_ERROR(check_precision(*precision, where));
  if (t.get("provider")) {
    Provider p = Provider::kAuto;
    FACELENS_RETURN_IF_ERROR(r.get_named("provider", parse_provider, &p));
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

const std::set<std::string> kTables = {"models", "runtime",  "services", "detector", "recognizer",
                                       "limits", "batching", "server",   "gallery"};

StatusOr<toml::table> parse_root(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return invalid_argument(msg.str());
  }
  Reader r(root, origin);
  FACELENS_RETURN_IF_ERROR(r.unknown_keys(kTables));
  for (const auto& t : kTables) FACELENS_RETURN_IF_ERROR(r.check_table(t.c_str()));
  return root;
}

StatusOr<std::string> read_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("config file '" + path + "' not found");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A relative path in the config is relative to the config file.
std::string relative_to(const std::string& origin, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute() || origin.empty()) return path;
  return (std::filesystem::path(origin).parent_path() / path).lexically_normal().string();
}

}  // namespace

StatusOr<EngineOptions> parse_config(const std::string& text, const std::string& origin, EngineOptions o) {
  FACELENS_ASSIGN_OR_RETURN(const toml::table root, parse_root(text, origin));
  Reader r(root, origin);
  if (const auto* t = r.table("models")) {
    Reader m(*t, origin + " [models]");
    FACELENS_RETURN_IF_ERROR(m.unknown_keys({"dir", "detector", "landmarks", "recognizer", "liveness"}));
    FACELENS_RETURN_IF_ERROR(m.get("dir", &o.models_dir));
    FACELENS_RETURN_IF_ERROR(m.get("detector", &o.detector));
    FACELENS_RETURN_IF_ERROR(m.get("landmarks", &o.landmarks));
    FACELENS_RETURN_IF_ERROR(m.get("recognizer", &o.recognizer));
    FACELENS_RETURN_IF_ERROR(m.get("liveness", &o.liveness));
    // A relative models folder is relative to the config file.
    o.models_dir = relative_to(origin, o.models_dir);
  }
  if (const auto* t = r.table("runtime")) {
    Reader rt(*t, origin + " [runtime]");
    FACELENS_RETURN_IF_ERROR(rt.unknown_keys(
        {"provider", "require_gpu", "cuda_ep_path", "intra_op_threads", "inter_op_threads", "allow_spinning",
         "idle_unload_seconds", "memory_budget_mb", "precision", "precision_cache_dir", "calibration_dir"}));
    FACELENS_RETURN_IF_ERROR(rt.get_named("provider", parse_provider, &o.runtime.provider));
    FACELENS_RETURN_IF_ERROR(rt.get("require_gpu", &o.runtime.require_gpu));
    FACELENS_RETURN_IF_ERROR(rt.get("cuda_ep_path", &o.runtime.cuda_ep_path));
    FACELENS_RETURN_IF_ERROR(rt.get("intra_op_threads", &o.runtime.intra_op_threads));
    FACELENS_RETURN_IF_ERROR(rt.get("inter_op_threads", &o.runtime.inter_op_threads));
    FACELENS_RETURN_IF_ERROR(rt.get("allow_spinning", &o.runtime.allow_spinning));
    FACELENS_RETURN_IF_ERROR(rt.get("idle_unload_seconds", &o.runtime.idle_unload_seconds));
    uint64_t mb = o.runtime.memory_budget_bytes >> 20;
    FACELENS_RETURN_IF_ERROR(rt.get("memory_budget_mb", &mb));
    o.runtime.memory_budget_bytes = mb << 20;
    if (t->get("precision")) {
      std::string v;
      FACELENS_RETURN_IF_ERROR(rt.get("precision", &v));
      FACELENS_RETURN_IF_ERROR(check_precision(v, rt.where()));
      o.precision["*"] = v;
    }
    FACELENS_RETURN_IF_ERROR(rt.get("precision_cache_dir", &o.precision_cache_dir));
    o.precision_cache_dir = relative_to(origin, o.precision_cache_dir);
    FACELENS_RETURN_IF_ERROR(rt.get("calibration_dir", &o.calibration_dir));
    o.calibration_dir = relative_to(origin, o.calibration_dir);
  }
  if (const auto* t = r.table("services")) {
    static const std::set<std::string> kServices = {"detector", "landmarks", "recognizer",
                                                    "liveness", "attribute", "deepfake"};
    for (const auto& [k, v] : *t) {
      std::string name(k.str());
      if (!kServices.count(name) || !v.as_table()) {
        return invalid_argument(origin + ": [services." + name +
                                "] is not a service table (known: attribute, deepfake, detector, landmarks, "
                                "liveness, recognizer)");
      }
      const std::string where = origin + " [services." + name + "]";
      std::string precision;
      FACELENS_RETURN_IF_ERROR(read_service(*v.as_table(), where, &o.runtime.services[name], &precision));
      if (!precision.empty()) o.precision[name] = precision;
    }
  }
  if (const auto* t = r.table("detector")) {
    Reader d(*t, origin + " [detector]");
    FACELENS_RETURN_IF_ERROR(d.unknown_keys({"threshold", "nms_iou", "max_faces", "tiling"}));
    FACELENS_RETURN_IF_ERROR(d.get("threshold", &o.detect_threshold));
    FACELENS_RETURN_IF_ERROR(d.get("nms_iou", &o.nms_iou));
    FACELENS_RETURN_IF_ERROR(d.get("max_faces", &o.max_faces));
    if (t->contains("tiling")) {  // absent: the detector's manifest "tiling"
      bool tiling = false;
      FACELENS_RETURN_IF_ERROR(d.get("tiling", &tiling));
      o.detect_tiling = tiling;
    }
  }
  if (const auto* t = r.table("recognizer")) {
    Reader d(*t, origin + " [recognizer]");
    FACELENS_RETURN_IF_ERROR(d.unknown_keys({"match_threshold"}));
    FACELENS_RETURN_IF_ERROR(d.get("match_threshold", &o.match_threshold));
  }
  if (const auto* t = r.table("limits")) {
    Reader d(*t, origin + " [limits]");
    FACELENS_RETURN_IF_ERROR(d.unknown_keys({"max_pixels", "max_bytes", "jpeg_warnings", "decode_threads"}));
    FACELENS_RETURN_IF_ERROR(d.get("max_pixels", &o.decode.max_pixels));
    FACELENS_RETURN_IF_ERROR(d.get("max_bytes", &o.decode.max_bytes));
    FACELENS_RETURN_IF_ERROR(d.get_named("jpeg_warnings", parse_jpeg_warnings, &o.decode.jpeg_warnings));
    FACELENS_RETURN_IF_ERROR(d.get("decode_threads", &o.decode.decode_threads));
  }
  if (const auto* t = r.table("batching")) {
    Reader b(*t, origin + " [batching]");
    FACELENS_RETURN_IF_ERROR(b.unknown_keys({"mode", "max_batch", "max_wait_ms"}));
    FACELENS_RETURN_IF_ERROR(b.get_named("mode", parse_batching_mode, &o.batching.mode));
    FACELENS_RETURN_IF_ERROR(b.get("max_batch", &o.batching.max_batch));
    FACELENS_RETURN_IF_ERROR(b.get("max_wait_ms", &o.batching.max_wait_ms));
    if (o.batching.max_batch < 1) return invalid_argument(b.where() + ": max_batch must be at least 1");
  }
  return o;
}

StatusOr<EngineOptions> load_config(const std::string& path, EngineOptions base) {
  FACELENS_ASSIGN_OR_RETURN(auto text, read_file(path));
  return parse_config(text, path, std::move(base));
}

StatusOr<ServiceConfig> parse_service_config(const std::string& text, const std::string& origin, ServiceConfig c) {
  FACELENS_ASSIGN_OR_RETURN(const toml::table root, parse_root(text, origin));
  Reader r(root, origin);
  if (const auto* t = r.table("server")) {
    Reader s(*t, origin + " [server]");
    FACELENS_RETURN_IF_ERROR(s.unknown_keys(
        {"host", "port", "http_threads", "max_concurrent", "max_queue", "deadline_seconds", "max_body_mb", "max_top_k",
         "api_keys", "max_connections", "max_connections_per_client", "header_timeout_seconds", "body_timeout_seconds",
         "keep_alive_seconds", "max_json_depth", "log_format"}));
    ServerOptions& so = c.server;
    FACELENS_RETURN_IF_ERROR(s.get("host", &so.host));
    FACELENS_RETURN_IF_ERROR(s.get("port", &so.port));
    FACELENS_RETURN_IF_ERROR(s.get("http_threads", &so.threads));
    int max_concurrent = 0;  // 0 = the caller's default (facelens serve: four per core)
    FACELENS_RETURN_IF_ERROR(s.get("max_concurrent", &max_concurrent));
    if (max_concurrent > 0) so.max_concurrent = max_concurrent;
    FACELENS_RETURN_IF_ERROR(s.get("max_queue", &so.max_queue));
    FACELENS_RETURN_IF_ERROR(s.get("deadline_seconds", &so.request_deadline_seconds));
    int64_t mb = so.max_body_bytes >> 20;
    FACELENS_RETURN_IF_ERROR(s.get("max_body_mb", &mb));
    so.max_body_bytes = mb << 20;
    FACELENS_RETURN_IF_ERROR(s.get("max_top_k", &so.max_top_k));
    FACELENS_RETURN_IF_ERROR(s.get("max_connections", &so.max_connections));
    FACELENS_RETURN_IF_ERROR(s.get("max_connections_per_client", &so.max_connections_per_client));
    FACELENS_RETURN_IF_ERROR(s.get("header_timeout_seconds", &so.header_timeout_seconds));
    FACELENS_RETURN_IF_ERROR(s.get("body_timeout_seconds", &so.body_timeout_seconds));
    FACELENS_RETURN_IF_ERROR(s.get("keep_alive_seconds", &so.keep_alive_seconds));
    FACELENS_RETURN_IF_ERROR(s.get("max_json_depth", &so.max_json_depth));
    FACELENS_RETURN_IF_ERROR(s.get_named("log_format", parse_request_log_format, &so.request_log));
    if (so.port > 65535) return invalid_argument(s.where() + ": port must be 0..65535");
    if (so.threads < 0 || so.max_body_bytes < 1 || so.max_top_k < 1 || so.max_connections < 1 ||
        so.max_connections_per_client < 1 || so.max_json_depth < 1)
      return invalid_argument(s.where() +
                              ": max_body_mb, max_top_k, max_connections, max_connections_per_client and "
                              "max_json_depth must be at least 1, http_threads at least 0");
    if (!(so.header_timeout_seconds > 0) || !(so.body_timeout_seconds > 0) || !(so.keep_alive_seconds > 0))
      return invalid_argument(s.where() +
                              ": header_timeout_seconds, body_timeout_seconds and keep_alive_seconds "
                              "must be positive");
    if (const toml::node* n = t->get("api_keys")) {
      // Hashes only: api_keys = [{ sha256 = "<hex sha256 of the key>", role = "admin" | "user" }]
      const toml::array* a = n->as_array();
      const std::string what = s.where() +
                               ": api_keys must be an array of { sha256 = \"<64 hex digits>\", role = "
                               "\"admin\" | \"user\" } (hash a key with: printf %s KEY | sha256sum)";
      if (!a) return invalid_argument(what);
      so.api_keys.clear();
      for (const auto& e : *a) {
        const toml::table* k = e.as_table();
        if (!k) return invalid_argument(what);
        Reader kr(*k, s.where() + " api_keys");
        FACELENS_RETURN_IF_ERROR(kr.unknown_keys({"sha256", "role"}));
        ApiKey key;
        std::string role;
        FACELENS_RETURN_IF_ERROR(kr.get("sha256", &key.sha256));
        FACELENS_RETURN_IF_ERROR(kr.get("role", &role));
        std::transform(key.sha256.begin(), key.sha256.end(), key.sha256.begin(),
                       [](unsigned char ch) { return std::tolower(ch); });
        const bool hex = key.sha256.size() == 64 &&
                         std::all_of(key.sha256.begin(), key.sha256.end(), [](char ch) { return std::isxdigit(ch); });
        if (!hex || (role != "admin" && role != "user")) return invalid_argument(what);
        key.role = role == "admin" ? Role::kAdmin : Role::kUser;
        so.api_keys.push_back(key);
      }
    }
  }
  if (const auto* t = r.table("gallery")) {
    Reader g(*t, origin + " [gallery]");
    FACELENS_RETURN_IF_ERROR(g.unknown_keys(
        {"enabled", "db_path", "db_url", "index", "ann_min_faces", "score", "score_top_k", "durability"}));
    GalleryOptions& go = c.gallery;
    FACELENS_RETURN_IF_ERROR(g.get("enabled", &c.gallery_enabled));
    FACELENS_RETURN_IF_ERROR(g.get("db_path", &go.db_path));
    go.db_path = relative_to(origin, go.db_path);
    FACELENS_RETURN_IF_ERROR(g.get("db_url", &go.db_url));
    if (!go.db_url.empty()) {
      GalleryOptions checked;
      if (Status s = set_gallery_database(checked, go.db_url); !s.ok() || checked.db_url.empty())
        return invalid_argument(origin + " [gallery] db_url: expected postgresql://user:password@host:port/database " +
                                "(or postgres://); a SQLite file goes in db_path");
    }
    FACELENS_RETURN_IF_ERROR(g.get_named("index", parse_index_kind, &go.index));
    FACELENS_RETURN_IF_ERROR(g.get("ann_min_faces", &go.ann_min_faces));
    FACELENS_RETURN_IF_ERROR(g.get_named("score", parse_identity_score, &go.score));
    FACELENS_RETURN_IF_ERROR(g.get("score_top_k", &go.score_top_k));
    FACELENS_RETURN_IF_ERROR(g.get_named("durability", parse_durability, &go.durability));
  }
  return c;
}

StatusOr<ServiceConfig> load_service_config(const std::string& path, ServiceConfig base) {
  FACELENS_ASSIGN_OR_RETURN(auto text, read_file(path));
  return parse_service_config(text, path, std::move(base));
}

}  // namespace facelens
