#include "models/registry.h"

#include <filesystem>

#include "core/sha256.h"

namespace facelens::models {

const char* file_state_name(FileState s) {
  switch (s) {
    case FileState::kOk: return "ok";
    case FileState::kMissing: return "missing";
    case FileState::kHashMismatch: return "hash mismatch";
    case FileState::kUnchecked: return "unchecked";
  }
  return "unknown";
}

StatusOr<std::shared_ptr<ModelRegistry>> ModelRegistry::open(const std::string& models_dir,
                                                             const std::string& manifest_path) {
  FACELENS_ASSIGN_OR_RETURN(Manifest m,
                            load_manifest(manifest_path.empty() ? models_dir + "/manifest.json" : manifest_path));
  return std::shared_ptr<ModelRegistry>(new ModelRegistry(std::move(m), models_dir));
}

std::string ModelRegistry::path_of(const ModelEntry& e) const {
  std::filesystem::path p(e.file);
  return p.is_absolute() ? e.file : dir_ + "/" + e.file;
}

FileCheck ModelRegistry::check(const ModelEntry& e) const {
  FileCheck c;
  c.entry = &e;
  c.path = path_of(e);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = verified_.find(c.path);
    if (it != verified_.end()) {
      c.state = FileState::kOk;
      c.actual_sha256 = it->second;
      return c;
    }
  }
  if (!std::filesystem::is_regular_file(c.path)) {
    c.state = FileState::kMissing;
    c.status = not_found("model file '" + c.path + "' (" + e.id + ") is missing: run scripts/setup.sh" +
                         (e.package.empty() ? "" : " (it comes from npm package " + e.package + ")"));
    return c;
  }
  auto sha = core::sha256_file(c.path);
  if (!sha.ok()) {
    c.state = FileState::kMissing;
    c.status = sha.status();
    return c;
  }
  c.actual_sha256 = *sha;
  if (!e.sha256.empty() && *sha != e.sha256) {
    c.state = FileState::kHashMismatch;
    c.status = data_loss("model file '" + c.path + "' (" + e.id + ") has sha256 " + *sha +
                         " but the manifest expects " + e.sha256 +
                         ": the file is corrupt or not the pinned model; delete it and run scripts/setup.sh "
                         "to fetch it again, or fix the manifest entry if you replaced the model on purpose");
    return c;
  }
  c.state = FileState::kOk;
  std::lock_guard<std::mutex> lock(mu_);
  verified_[c.path] = *sha;
  return c;
}

StatusOr<std::string> ModelRegistry::verified_path(const std::string& id) const {
  const ModelEntry* e = manifest_.find(id);
  if (!e) return not_found("no model '" + id + "' in " + manifest_.path);
  FileCheck c = check(*e);
  if (!c.status.ok()) return c.status;
  return c.path;
}

}  // namespace facelens::models
