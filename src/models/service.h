// What every model service shares (detector, landmarks, recognizer, liveness, deepfake,
// attribute): the manifest entry it was built from, the session(s) it runs, and through them the
// execution provider really used and where the nodes were placed. Each service derives from it and
// adds its own calls (detect, predict, embed, score, apply); services::make_service builds one
// from an entry and a session.
//
//   std::shared_ptr<const models::ModelService> s = ...;   // services::make_service(entry, session)
//   spdlog::info("{} '{}' runs on {}", name(s->task()), s->entry().id, s->provider());
//   s->request_arena_shrink();
//
// Immutable after construction; every method is const and thread-safe. A service owns a share of
// its sessions: they live as long as the service.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/manifest.h"
#include "runtime/session.h"

namespace facelens::models {

class ModelService {
 public:
  virtual ~ModelService() = default;
  ModelService(const ModelService&) = delete;
  ModelService& operator=(const ModelService&) = delete;

  // The manifest entry of the service's model (of its first model when it fuses several).
  const ModelEntry& entry() const { return entry_; }
  Task task() const { return entry_.task; }
  // The session of entry(); sessions() lists every session of the service.
  const runtime::Session& session() const { return *session_; }
  virtual std::vector<const runtime::Session*> sessions() const { return {session_.get()}; }
  // The execution provider session() really runs on (e.g. "CPUExecutionProvider").
  const std::string& provider() const { return session_->provider(); }
  // Makes the next call of every session return its arena's free chunks to the system.
  void request_arena_shrink() const {
    for (const auto* s : sessions()) s->request_arena_shrink();
  }

 protected:
  ModelService(ModelEntry entry, std::shared_ptr<const runtime::Session> session)
      : entry_(std::move(entry)), session_(std::move(session)) {}

  const ModelEntry entry_;
  const std::shared_ptr<const runtime::Session> session_;
};

}  // namespace facelens::models
