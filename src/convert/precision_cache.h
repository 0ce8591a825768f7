// The automatic precision cache: converted variants of model files kept on disk, keyed by what
// made them (the source file's sha256, the converter version, the ONNX Runtime version, the
// precision and its options), with a JSON record beside each. A changed model file has another
// sha256, hence another key: its old variants are never used again and remove_stale() deletes them.
//
//   models::PrecisionCache cache("");                    // ${XDG_CACHE_HOME:-~/.cache}/facelens/models
//   models::CacheKey key{sha256, "int8", "minmax", runtime::Environment::ort_version()};
//   if (auto hit = cache.find("fr_feature", key)) use(hit->model_path);
//   else cache.store("fr_feature", key, &bytes, record_json);
//
// Files are written through a temporary name and renamed, so concurrent processes see either no
// entry or a complete one. The object itself holds only the folder name; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "facelens/status.h"

namespace facelens::models {

struct CacheKey {
  std::string model_sha256;
  std::string precision;  // "fp16", "int8", ... or "auto" for a recorded decision
  std::string options;    // converter options that change the output, canonical text
  std::string ort_version;
  int converter_version = 0;  // models::kConverterVersion when left 0
  std::string provider;       // for "auto" decisions: "cpu" or "cuda"

  // 16 hex digits of the sha256 of every field: the name under which the entry is stored.
  std::string id() const;
};

class PrecisionCache {
 public:
  // `dir`: the cache folder (created on the first store). The tools choose it
  // (${XDG_CACHE_HOME:-~/.cache}/facelens/models, tools/cli/common.cpp); the library has no default.
  explicit PrecisionCache(std::string dir);
  const std::string& dir() const { return dir_; }

  struct Entry {
    std::string model_path;  // the variant (empty for a decision record)
    std::string record_path;
    std::string record_json;  // what store() was given, plus the key fields
  };
  // The complete entry for (model_id, key), or nothing.
  std::optional<Entry> find(const std::string& model_id, const CacheKey& key) const;
  // Stores a variant (`model_bytes` non-null) and/or its record. `record_json` must be a JSON
  // object; the key's fields are added to it under "key".
  StatusOr<Entry> store(const std::string& model_id, const CacheKey& key, const std::string* model_bytes,
                        const std::string& record_json) const;
  // Deletes the entries of `model_id` whose source sha256 is not `current_sha256`; returns how
  // many files were removed.
  int remove_stale(const std::string& model_id, const std::string& current_sha256) const;

 private:
  std::string stem(const std::string& model_id, const CacheKey& key) const;
  std::string dir_;
};

}  // namespace facelens::models
