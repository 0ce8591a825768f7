// Binding a manifest entry to a real model file and session: hash check, session creation, and a
// check that the model's inputs and outputs are those the manifest promises.
#pragma once

#include <memory>
#include <string>

#include "facelens/status.h"
#include "models/manifest.h"
#include "models/registry.h"
#include "runtime/session.h"

namespace facelens::models {

// Verifies the file's sha256, creates the session and checks input name/shape and output names
// against `entry`. Errors name the file and say what to fix.
StatusOr<std::shared_ptr<const runtime::Session>> open_session(const ModelRegistry& registry, const ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Environment> env,
                                                               const runtime::SessionOptions& options);
// Creates the session for a model file outside the registry (a user's --detector FILE): no hash.
StatusOr<std::shared_ptr<const runtime::Session>> open_session_unverified(
    const std::string& path, const ModelEntry& entry, std::shared_ptr<const runtime::Environment> env,
    const runtime::SessionOptions& options);

// Index of the session output the manifest names for `role` (outputs.<role>).
StatusOr<int> output_index(const ModelEntry& entry, const runtime::Session& session, const std::string& role);

}  // namespace facelens::models
