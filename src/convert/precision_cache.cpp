#include "convert/precision_cache.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "convert/convert.h"

namespace facelens::models {

namespace {

namespace fs = std::filesystem;

int converter_version_of(const CacheKey& k) { return k.converter_version ? k.converter_version : kConverterVersion; }

nlohmann::ordered_json key_json(const CacheKey& k) {
  return {{"model_sha256", k.model_sha256},
          {"precision", k.precision},
          {"options", k.options},
          {"ort_version", k.ort_version},
          {"converter_version", converter_version_of(k)},
          {"provider", k.provider}};
}

// A file-system-safe model id.
std::string safe(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "model" : out;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

std::string CacheKey::id() const {
  // FNV-1a, 64 bits, over every field: a stable name; find() still compares the fields themselves.
  const std::string text = key_json(*this).dump();
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

PrecisionCache::PrecisionCache(std::string dir) : dir_(std::move(dir)) {}

std::string PrecisionCache::stem(const std::string& model_id, const CacheKey& key) const {
  return dir_ + "/" + safe(model_id) + "." + safe(key.precision) + "." + key.id();
}

std::optional<PrecisionCache::Entry> PrecisionCache::find(const std::string& model_id, const CacheKey& key) const {
  Entry e;
  e.record_path = stem(model_id, key) + ".json";
  auto text = read_text(e.record_path);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("key")) return std::nullopt;
  if (j["key"] != nlohmann::json(key_json(key))) return std::nullopt;
  if (j.value("has_model", false)) {
    e.model_path = stem(model_id, key) + ".onnx";
    std::error_code ec;
    if (!fs::is_regular_file(e.model_path, ec)) return std::nullopt;
    if (j.contains("model_bytes") && j["model_bytes"].is_number_integer() &&
        static_cast<int64_t>(fs::file_size(e.model_path, ec)) != j["model_bytes"].get<int64_t>())
      return std::nullopt;
  }
  e.record_json = *text;
  return e;
}

StatusOr<PrecisionCache::Entry> PrecisionCache::store(const std::string& model_id, const CacheKey& key,
                                                      const std::string* model_bytes,
                                                      const std::string& record_json) const {
  auto j = nlohmann::ordered_json::parse(record_json.empty() ? "{}" : record_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("cache record must be a JSON object");
  j["key"] = key_json(key);
  j["model_id"] = model_id;
  j["has_model"] = model_bytes != nullptr;
  Entry e;
  e.record_path = stem(model_id, key) + ".json";
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return unavailable("cannot create the model cache folder '" + dir_ + "': " + ec.message() +
                       " (set precision_cache_dir or XDG_CACHE_HOME to a writable folder)");
  }
  if (model_bytes) {
    e.model_path = stem(model_id, key) + ".onnx";
    j["model_bytes"] = static_cast<int64_t>(model_bytes->size());
    FACELENS_RETURN_IF_ERROR(write_model_file(e.model_path, *model_bytes));
  }
  e.record_json = j.dump(2);
  // The record goes last: an entry is complete once its record exists.
  FACELENS_RETURN_IF_ERROR(write_model_file(e.record_path, e.record_json));
  return e;
}

int PrecisionCache::remove_stale(const std::string& model_id, const std::string& current_sha256) const {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return 0;
  const std::string prefix = safe(model_id) + ".";
  int removed = 0;
  std::vector<fs::path> records;
  for (const auto& f : fs::directory_iterator(dir_, ec)) {
    const std::string name = f.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && f.path().extension() == ".json") records.push_back(f.path());
  }
  for (const auto& r : records) {
    auto text = read_text(r.string());
    if (!text) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("model_id", "") != model_id || !j.contains("key")) continue;
    if (j["key"].value("model_sha256", "") == current_sha256) continue;
    fs::path model = r;
    model.replace_extension(".onnx");
    if (fs::remove(model, ec)) ++removed;
    if (fs::remove(r, ec)) ++removed;
  }
  return removed;
}

}  // namespace facelens::models
