// The model registry: the manifest plus the folder its files live in. Checks each file's sha256
// before its first use (once per registry; the result is remembered). Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facelens/status.h"
#include "models/manifest.h"

namespace facelens::models {

enum class FileState { kOk, kMissing, kHashMismatch, kUnchecked };
const char* file_state_name(FileState s);

struct FileCheck {
  const ModelEntry* entry = nullptr;
  std::string path;
  FileState state = FileState::kUnchecked;
  std::string actual_sha256;
  Status status;  // OK, or what is wrong and how to fix it
};

class ModelRegistry {
 public:
  // `models_dir` holds the model files; `manifest_path` names them ("" = models_dir/manifest.json).
  // Relative "file" values of the manifest are relative to models_dir.
  static StatusOr<std::shared_ptr<ModelRegistry>> open(const std::string& models_dir,
                                                       const std::string& manifest_path = "");

  const Manifest& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  std::string path_of(const ModelEntry& e) const;

  // Verifies the file of `e` (sha256 against the manifest); cached after the first success.
  FileCheck check(const ModelEntry& e) const;
  // check() for the entry with this id; its path on success.
  StatusOr<std::string> verified_path(const std::string& id) const;

 private:
  ModelRegistry(Manifest m, std::string dir) : manifest_(std::move(m)), dir_(std::move(dir)) {}
  Manifest manifest_;
  std::string dir_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::string> verified_;  // path -> sha256
};

}  // namespace facelens::models
