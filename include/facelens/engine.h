// facelens — the face pipeline: decode, detect, landmarks, align, embed, liveness, attributes.
//
//   facelens::EngineOptions opt;                       // every field but models_dir has a default
//   opt.models_dir = "models";                         // the folder with manifest.json
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
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "facelens/image.h"
#include "facelens/runtime_info.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens {

struct EngineOptions {
  // Folder with manifest.json and the model files (required: Engine::create fails without it; the
  // tools take --models DIR, else $FACELENS_MODELS, else the models/ folder of the build).
  std::string models_dir;
  // Another models folder whose manifests (manifest.json, extra.json) are also searched by sha256
  // for the *_file models below (the tools pass the build's models/ folder); "" = none.
  std::string known_models_dir;
  // Model ids from the manifest, per service; "" = the manifest's default for that service.
  std::string detector;
  std::string landmarks;
  std::string recognizer;
  std::string liveness;
  std::vector<std::string> attributes;  // empty = every manifest entry with task "attribute"
  std::string deepfake;                 // "" = the manifest's default deepfake model, if any
  // The manifest to read; "" = models_dir/manifest.json. Its relative "file" values are relative
  // to models_dir (e.g. models/extra.json with the folder of the extra models).
  std::string manifest;

  // Model files outside the manifest (a user's own), per service; each replaces that service's
  // model. Its entry is the manifest entry with the same sha256 when one exists (manifest.json
  // and extra.json of the models folder), else the family's conventions; the family is
  // recognised from the model's inputs and outputs unless named ("scrfd", "yunet", "yolov5face",
  // "yolov8face", "yolov10", "yolov10face", "ultraface", "arcface", "adaface", "mobilefacenet",
  // "minifasnet", "xception"; `facelens models inspect FILE` shows what a file is taken for).
  std::string detector_file, detector_family;
  std::string recognizer_file, recognizer_family;
  std::vector<std::string> liveness_files;  // several are fused (mean of their softmax)
  std::string deepfake_file, deepfake_family;
  float deepfake_margin = -1;  // crop side / larger side of the face box; < 0: the manifest's (1.3)

  // Execution providers, CUDA options per service, threads, model cache (runtime_options.h).
  RuntimeOptions runtime;

  // Model precision per service ("detector", "landmarks", "recognizer", "liveness", "attribute",
  // "deepfake"; "*" for every service): "fp32" (the file as shipped, the default), "fp16", "int8",
  // or "auto" (FP16 on CUDA; on the CPU INT8 when it is faster and within the drift bounds, else
  // FP32). A variant is made on first load, checked against the original, cached on disk and
  // reused; a changed model file gets a new one. INT8 needs calibration_dir.
  std::map<std::string, std::string> precision;
  // Where converted variants are kept; required for a precision other than fp32 (the tools pass
  // ${XDG_CACHE_HOME:-~/.cache}/facelens/models).
  std::string precision_cache_dir;
  // Face photos for INT8 calibration and drift; "" = none (the tools pass $FACELENS_CALIBRATION).
  std::string calibration_dir;

  float detect_threshold = -1;  // < 0: the detector's manifest threshold
  float nms_iou = -1;           // < 0: the detector's manifest value
  // Tiled detection of photos much larger than the detector's input (more small faces found, at
  // the cost of up to tiling_max_tiles more detector runs): nullopt = the manifest entry's "tiling"
  // (docs/models.md), true / false force it on / off.
  std::optional<bool> detect_tiling;
  int max_faces = 100;         // faces kept per image, best first
  float match_threshold = -1;  // < 0: the recognizer's calibrated manifest threshold

  DecodeOptions decode;

  // Dynamic batching of the recognizer: faces of concurrent calls are merged into one recognizer
  // call of up to max_batch faces, waiting at most max_wait_ms for more. kAuto batches when the
  // recognizer runs on CUDA (one call for N faces costs little more than one face) and not on the
  // CPU, where merging puts the faces of concurrent requests on one session one after another:
  // 58 requests/s batched vs 98 unbatched for /v1/embed at 32 connections on 2 cores.
  struct Batching {
    enum class Mode { kOff, kOn, kAuto };
    Mode mode = Mode::kOff;  // a single caller gains nothing; the HTTP service uses kAuto
    int max_batch = 8;
    double max_wait_ms = 2.0;
  } batching;
};

// "auto", "on" or "off" (the CLI's --batching and the config's [batching] mode).
StatusOr<EngineOptions::Batching::Mode> parse_batching_mode(const std::string& name);

struct AnalyzeOptions {
  bool landmarks = true;   // five points per face
  bool embedding = false;  // L2-normalised embedding per face (implies landmarks)
  bool liveness = false;
  bool attributes = false;
  bool deepfake = false;  // when a deepfake model is configured (ignored when none is)
};

struct ImageResult {
  int width = 0;  // original image size
  int height = 0;
  std::vector<Face> faces;  // best detection score first
  // The JPEG DCT scale the detector's image was decoded at (analyze_bytes/analyze_file): 1 = full
  // size, 0.5, 0.25, 0.125. Coordinates are in original pixels whatever it is.
  double decode_scale = 1.0;
};

struct VerifyResult {
  float similarity = 0;
  bool match = false;
  float threshold = 0;
  Face face_a;  // the largest face of each image (with `deepfake` when a deepfake model is configured)
  Face face_b;
};

struct ServiceInfo {
  std::string service;   // "detector", "landmarks", "recognizer", "liveness", "attribute"
  std::string model_id;  // fused liveness models: "id1+id2"
  std::string model_path;
  std::string family;  // "scrfd", "arcface", ... (the manifest entry's)
  bool loaded = false;
  std::string provider;           // the execution provider really used, when loaded
  std::string provider_reason;    // why CUDA is not used, when it was asked for or tried
  std::string precision;          // the variant loaded: "fp32", "fp16", "int8"
  std::string precision_source;   // "original", "cache" (made on an earlier start), "converted" (made now)
  std::string precision_reason;   // why this precision (the measurements, for "auto")
  std::string requested;          // the provider asked for: "auto", "cuda", "cpu"
  std::vector<int> device_ids;    // CUDA devices of the pool
  std::vector<int> queue_depths;  // calls in flight per device (or CPU replica)
  // Where the model's nodes run, per execution provider (ONNX Runtime's recorded assignment).
  std::vector<EpPlacement> placement;
  std::string placement_error;  // why there is no placement record, when there is none
  // On CUDA: the cuDNN algorithm search used, and why it differs from the configured one.
  std::string cudnn_conv_algo_search;
  std::string cudnn_conv_algo_search_reason;
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
  // Decodes then analyzes. A photo with a side over 10x the detector's resized size is analysed on
  // area-averaged copies (analyze() does the same on an Image); such a JPEG is decoded only at the
  // DCT scales of those copies: the detector's (twice its input), and a second decode only when the
  // faces need more pixels than that one has (README "Images"). Coordinates in original pixels.
  StatusOr<ImageResult> analyze_bytes(std::span<const uint8_t> bytes, const AnalyzeOptions& what) const;
  StatusOr<ImageResult> analyze_file(const std::string& path, const AnalyzeOptions& what) const;
  // One result per image, in order; a failure of one image does not stop the others.
  std::vector<StatusOr<ImageResult>> analyze_batch(std::span<const Image> images, const AnalyzeOptions& what) const;

  // Compares the largest face of each image. Error when an image has no face.
  StatusOr<VerifyResult> verify(const Image& a, const Image& b) const;
  // Cosine similarity of two embeddings and the decision at the match threshold.
  VerifyResult compare(std::span<const float> a, std::span<const float> b) const;
  float match_threshold() const;
  // The recognizer's model id from the manifest ("" when none is configured). Galleries store it
  // with every embedding so that embeddings of different models are never compared.
  std::string recognizer_model_id() const;
  // The face as the recognizer sees it: five-point similarity warp to the ArcFace template at the
  // recognizer's input size (e.g. 112x112). Needs the face's landmarks.
  StatusOr<Image> align_face(const Image& image, const Face& face) const;
  // L2-normalised embeddings of faces already aligned (as align_face makes them), in order; crops
  // of another size are resized to the recognizer's input first.
  StatusOr<std::vector<std::vector<float>>> embed_aligned(std::span<const Image> aligned) const;

  // Loads the services `what` needs now (else they load on first use).
  Status warm_up(const AnalyzeOptions& what) const;
  std::vector<ServiceInfo> services() const;
  // Unloads models idle for longer than runtime.idle_unload_seconds or over the memory budget
  // (also done on every model load); returns the ids of the models unloaded.
  std::vector<std::string> collect_idle() const;
  // How many recognizer batches had each size (index = faces per batch); empty without batching.
  std::vector<uint64_t> recognizer_batch_sizes() const;
  // Makes the next call of every loaded session return its memory arena's free chunks to the
  // system (ORT memory.enable_memory_arena_shrinkage), e.g. after a burst.
  void shrink_arenas() const;
  // Every model of the manifest with the state of its file (hash checked).
  std::vector<ModelFileInfo> check_models() const;
  const std::string& models_dir() const;
  // The decode limits and rules ([limits] of the config) that images given as bytes or files are
  // held to: the gallery and the server decode with these too.
  const DecodeOptions& decode_options() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facelens
