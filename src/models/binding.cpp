#include "models/binding.h"

namespace facelens::models {

static Status check_contract(const ModelEntry& e, const runtime::Session& s) {
  if (s.inputs().empty()) return invalid_argument("model '" + s.model_path() + "' has no inputs");
  const auto& in = s.inputs()[0];
  if (!e.input.name.empty() && in.name != e.input.name) {
    return invalid_argument("model '" + s.model_path() + "' has input '" + in.name + "', the manifest entry '" + e.id +
                            "' says '" + e.input.name + "': fix input.name in the manifest");
  }
  bool same = in.shape.size() == e.input.shape.size();
  for (size_t d = 0; same && d < in.shape.size(); ++d) {
    // A symbolic model dim accepts any manifest value; a fixed one must match (-1 in the manifest
    // means "any batch").
    if (in.shape[d] >= 0 && e.input.shape[d] >= 0 && in.shape[d] != e.input.shape[d]) same = false;
  }
  if (!same) {
    std::string want = runtime::shape_to_string(e.input.shape);
    return invalid_argument("model '" + s.model_path() + "' expects input " + in.shape_string() +
                            ", the manifest entry '" + e.id + "' says " + want + ": fix input.shape in the manifest");
  }
  for (const auto& [role, name] : e.outputs) {
    FACELENS_RETURN_IF_ERROR(output_index(e, s, role).status());
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<const runtime::Session>> open_session_unverified(
    const std::string& path, const ModelEntry& entry, std::shared_ptr<const runtime::Environment> env,
    const runtime::SessionOptions& options) {
  runtime::SessionOptions so = options;
  // The service feeds the manifest's input size (batch 1 first): fixed shapes, warmed up on CUDA.
  if (so.probe_shapes.empty() && !entry.input.shape.empty()) so.probe_shapes.push_back(entry.input.shape);
  FACELENS_ASSIGN_OR_RETURN(auto session, runtime::Session::create(std::move(env), path, so));
  FACELENS_RETURN_IF_ERROR(check_contract(entry, *session));
  return session;
}

StatusOr<std::shared_ptr<const runtime::Session>> open_session(const ModelRegistry& registry, const ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Environment> env,
                                                               const runtime::SessionOptions& options) {
  FileCheck c = registry.check(entry);
  if (!c.status.ok()) return c.status;
  return open_session_unverified(c.path, entry, std::move(env), options);
}

StatusOr<int> output_index(const ModelEntry& e, const runtime::Session& s, const std::string& role) {
  auto it = e.outputs.find(role);
  if (it == e.outputs.end()) {
    return invalid_argument("manifest entry '" + e.id + "' names no outputs." + role + ": add it");
  }
  int idx = s.output_index(it->second);
  if (idx < 0) {
    std::string have;
    for (const auto& o : s.outputs()) have += (have.empty() ? "" : ", ") + o.name;
    return invalid_argument("model '" + s.model_path() + "' has no output '" + it->second + "' (it has " + have +
                            "): fix outputs." + role + " in the manifest entry '" + e.id + "'");
  }
  return idx;
}

}  // namespace facelens::models
