// Face embedding model on aligned crops: one shared session; all faces of a call in one batch
// when the model's batch dimension is symbolic, else one run per face. Outputs are L2-normalised.
// Immutable and thread-safe.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "models/manifest.h"
#include "runtime/session.h"

namespace facelens::recognize {

using Embedding = std::vector<float>;

// Scales v to unit length (leaves a zero vector as is).
void l2_normalize(std::vector<float>& v);
// Inner product of two L2-normalised embeddings (= cosine similarity).
float cosine(std::span<const float> a, std::span<const float> b);

class Recognizer {
 public:
  static StatusOr<std::shared_ptr<const Recognizer>> create(const models::ModelEntry& entry,
                                                            std::shared_ptr<const runtime::Session> session);
  // One embedding per aligned face (each input.width x input.height).
  StatusOr<std::vector<Embedding>> embed(std::span<const Image> aligned) const;
  int input_size() const { return entry_.input.width(); }
  bool batched() const { return batched_; }
  float match_threshold() const { return static_cast<float>(entry_.threshold("match", 0.4)); }
  const models::ModelEntry& entry() const { return entry_; }
  const runtime::Session& session() const { return *session_; }

 private:
  Recognizer(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int out, bool batched)
      : entry_(e), session_(std::move(s)), output_(out), batched_(batched) {}
  StatusOr<std::vector<Embedding>> run_batch(std::span<const Image> faces) const;
  models::ModelEntry entry_;
  std::shared_ptr<const runtime::Session> session_;
  int output_;
  bool batched_;
};

}  // namespace facelens::recognize
