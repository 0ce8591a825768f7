// facelens — the face pipeline: decode, detect, landmarks, align, embed, liveness, attributes.
//
//   facelens::EngineOptions opt;                       // every field has a default
//   auto engine = facelens::Engine::create(opt);       // opens models/manifest.json
//   if (!engine.ok()) { std::cerr << engine.status().to_string(); return 1; }
//   facelens::AnalyzeOptions what;
//   what.embedding = true;
//   auto r = (*engine)->analyze_file("photo.jpg", what);
//   for (const auto& f : r->faces) use(f.box, f.embedding);
//   auto v = (*engine)->verify(img_a, img_b);          // v->similarity, v->match
//
// Ownership: an Engine owns the ONNX Runtime environment and one session per model, created on
// first use and shared by all calls. Thread-safety: every const method may be called from many
// threads at once; each call keeps its own buffers. Units: pixels of the original image
// (EXIF-oriented), boxes [x1, y1, x2, y2]; similarities are cosines in [-1, 1].
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facelens/image.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens {

struct EngineOptions {
  // Folder with manifest.json and the model files; "" = $FACELENS_MODELS, else the build's models/.
  std::string models_dir;
  // Model ids from the manifest, per service; "" = the manifest's default for that service.
  std::string detector;
  std::string landmarks;
  std::string recognizer;
  std::string liveness;
  std::vector<std::string> attributes;  // empty = every manifest entry with task "attribute"

  // Execution providers, CUDA options per service, threads, model cache (runtime_options.h).
  RuntimeOptions runtime;

  float detect_threshold = -1;  // < 0: the detector's manifest threshold
  float nms_iou = -1;           // < 0: the detector's manifest value
  int max_faces = 100;          // faces kept per image, best first
  float match_threshold = -1;   // < 0: the recognizer's calibrated manifest threshold

  DecodeOptions decode;
};

struct AnalyzeOptions {
  bool landmarks = true;     // five points per face
  bool embedding = false;    // L2-normalised embedding per face (implies landmarks)
  bool liveness = false;
  bool attributes = false;
};

struct ImageResult {
  int width = 0;   // original image size
  int height = 0;
  std::vector<Face> faces;  // best detection score first
};

struct VerifyResult {
  float similarity = 0;
  bool match = false;
  float threshold = 0;
  Face face_a;  // the largest face of each image
  Face face_b;
};

struct ServiceInfo {
  std::string service;   // "detector", "landmarks", "recognizer", "liveness", "attribute"
  std::string model_id;
  std::string model_path;
  bool loaded = false;
  std::string provider;         // the execution provider really used, when loaded
  std::string provider_reason;  // why CUDA is not used, when it was asked for or tried
  std::string requested;        // the provider asked for: "auto", "cuda", "cpu"
  std::vector<int> device_ids;  // CUDA devices of the pool
  std::vector<int> queue_depths;  // calls in flight per device (or CPU replica)
};

struct ModelFileInfo {
  std::string id;
  std::string task;
  std::string family;
  std::string path;
  std::string state;  // "ok", "missing", "hash mismatch"
  std::string expected_sha256;
  std::string actual_sha256;
  std::string message;  // what is wrong and how to fix it; empty when ok
};

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> create(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  StatusOr<ImageResult> analyze(const Image& image, const AnalyzeOptions& what) const;
  // Decodes then analyzes; when no embedding, landmarks or attributes are asked, large JPEGs are
  // decoded downscaled in the DCT domain (boxes still come back in original pixels).
  StatusOr<ImageResult> analyze_bytes(std::span<const uint8_t> bytes, const AnalyzeOptions& what) const;
  StatusOr<ImageResult> analyze_file(const std::string& path, const AnalyzeOptions& what) const;
  // One result per image, in order; a failure of one image does not stop the others.
  std::vector<StatusOr<ImageResult>> analyze_batch(std::span<const Image> images, const AnalyzeOptions& what) const;

  // Compares the largest face of each image. Error when an image has no face.
  StatusOr<VerifyResult> verify(const Image& a, const Image& b) const;
  // Cosine similarity of two embeddings and the decision at the match threshold.
  VerifyResult compare(std::span<const float> a, std::span<const float> b) const;
  float match_threshold() const;

  // Loads the services `what` needs now (else they load on first use).
  Status warm_up(const AnalyzeOptions& what) const;
  std::vector<ServiceInfo> services() const;
  // Unloads models idle for longer than runtime.idle_unload_seconds or over the memory budget
  // (also done on every model load); returns the ids of the models unloaded.
  std::vector<std::string> collect_idle() const;
  // Makes the next call of every loaded session return its memory arena's free chunks to the
  // system (ORT memory.enable_memory_arena_shrinkage), e.g. after a burst.
  void shrink_arenas() const;
  // Every model of the manifest with the state of its file (hash checked).
  std::vector<ModelFileInfo> check_models() const;
  const std::string& models_dir() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facelens
