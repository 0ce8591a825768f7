// The model manifest (models/manifest.json): one entry per model file with its sha256 and every
// fact about its contract. Parsed once; entries are immutable values afterwards.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/status.h"
#include "image/tensor.h"

namespace facelens::models {

// What a model does (the entry's "task"). The order is the Engine's service order (services(),
// warm-up); kTaskCount follows the last value.
enum class Task {
  kDetector,    // "detector"
  kLandmarks,   // "landmarks"
  kRecognizer,  // "recognizer"
  kLiveness,    // "liveness"
  kDeepfake,    // "deepfake"
  kAttribute,   // "attribute"
};
inline constexpr size_t kTaskCount = 6;
StatusOr<Task> parse_task(std::string_view name);
std::string_view name(Task t);

// The model family (the entry's "family"): whose conventions a model follows, which decoder or
// model class runs it. Detector, recognizer, liveness, deepfake and landmark families are also in
// family.cpp's table (signature, template); attribute families are the models of src/attributes.
// A family is named in the manifest or recognised from a model file; an unknown name is an error
// at the manifest (or option) that names it.
enum class Family {
  kUltraface,      // "ultraface" (detector)
  kScrfd,          // "scrfd" (detector)
  kYunet,          // "yunet" (detector)
  kYolov5Face,     // "yolov5face" (detector)
  kYolov8Face,     // "yolov8face" (detector)
  kYolov10,        // "yolov10" (detector)
  kYolov10Face,    // "yolov10face" (detector)
  kArcface,        // "arcface" (recognizer)
  kAdaface,        // "adaface" (recognizer)
  kMobileFaceNet,  // "mobilefacenet" (recognizer)
  kMiniFasNet,     // "minifasnet" (liveness)
  kXception,       // "xception" (deepfake)
  kLandmark68,     // "landmark68" (landmarks)
  kAge,            // "age" (attribute)
  kGender,         // "gender" (attribute)
  kExpression,     // "expression" (attribute)
  kPose,           // "pose" (attribute)
  kEye,            // "eye" (attribute)
};
inline constexpr size_t kFamilyCount = 18;
StatusOr<Family> parse_family(std::string_view name);
std::string_view name(Family f);
// The name of an entry's family, "" when the entry names none.
std::string_view name(const std::optional<Family>& f);

// The precision of a model file's weights and arithmetic.
enum class Precision {
  kFp32,  // "fp32": the file as shipped
  kFp16,  // "fp16"
  kInt8,  // "int8"
};
StatusOr<Precision> parse_precision(std::string_view name);
std::string_view name(Precision p);

// How an image (or face crop) becomes the model input (input.resize).
enum class ResizeRule {
  kStretch,    // "stretch": to the input size, aspect ratio not kept (default)
  kLetterbox,  // "letterbox": scaled to fit, padded (letterbox_align)
  kAlign5,     // "align5": five-point similarity warp to the ArcFace template
};
StatusOr<ResizeRule> parse_resize_rule(std::string_view name);
std::string_view name(ResizeRule r);

// The region of the image a face model sees (input.crop); crop_scale is the factor of the scaled
// rules. Which rules a model accepts is checked where the model is built.
enum class CropRule {
  kBox,          // "box": the face box (default)
  kScaledBox,    // "scaled_box": the box scaled about its centre, kept inside the image
  kMarginBox,    // "margin_box": a square of side crop_scale x the larger box side (deepfake)
  kAnchoredBox,  // "anchored_box": attributes (src/attributes)
  kExpandedBox,  // "expanded_box": attributes (src/attributes)
  kEyeSquare,    // "eye_square": squares about the eyes (eye model)
};
StatusOr<CropRule> parse_crop_rule(std::string_view name);
std::string_view name(CropRule r);

// How a detector reduces its candidates to faces.
enum class Suppression {
  // "hard_nms_iou": best score first, drop every box whose IoU with a kept one is > thresholds.nms_iou
  // (boxes in image pixels, clipped to the image). The default.
  kHardNmsIou,
  // "bottom_first_own_area": the faceplugin package's rule (lib/fr_detect.js cpuNMS): boxes with a
  // positive size in model-input pixels, sorted by bottom edge y2 ascending; keep the first, drop
  // every other box whose intersection (each side + suppression_pixel_offset px) over that box's
  // own area is >= thresholds.own_area_overlap; repeat.
  kBottomFirstOwnArea,
};
StatusOr<Suppression> parse_suppression(const std::string& name);
const char* suppression_name(Suppression s);

// The box a detector hands to the face crops of the next stages (landmarks, liveness, attributes).
enum class BoxShape {
  kAsDetected,    // "as_detected": the detected box (default)
  kSquareHeight,  // "square_height": side = box height, same centre, clipped to [0,W-1]x[0,H-1]
};
StatusOr<BoxShape> parse_box_shape(const std::string& name);
const char* box_shape_name(BoxShape s);

// Rounding of a box before cropping, or of predicted points.
enum class Rounding {
  kNone,      // "none" (default)
  kTruncate,  // "truncate": toward zero, as JavaScript's parseInt
};
StatusOr<Rounding> parse_rounding(const std::string& name);
const char* rounding_name(Rounding r);

// Five alignment points from 68 iBUG-300W landmarks (0-based indices).
enum class FivePointRule {
  // "eyelid_mean": eye centres = mean of 37,38,40,41 and 43,44,46,47; nose 30; mouth corners =
  // mean of 48,60 and 54,64 (faceplugin lib/fr_feature.js convert68pts5pts). The default.
  kEyelidMean,
  // "eye_contour_mean": eye centres = mean of 36..41 and 42..47; nose 30; mouth corners 48 and 54.
  kEyeContourMean,
};
StatusOr<FivePointRule> parse_five_point_rule(const std::string& name);
const char* five_point_rule_name(FivePointRule r);

// Detector facts beyond the input contract (entry keys of the same names).
struct DetectorContract {
  Suppression suppression = Suppression::kHardNmsIou;
  float suppression_pixel_offset = 0;  // bottom_first_own_area: +N px on each intersection side
  int max_candidates = 0;              // best-scoring candidates kept before suppression; 0 = all
  BoxShape box_shape = BoxShape::kAsDetected;
};

// Landmark model facts (entry keys of the same names).
struct LandmarkContract {
  FivePointRule five_points = FivePointRule::kEyelidMean;
  Rounding points_rounding = Rounding::kNone;
};

struct InputContract {
  std::string name;
  std::vector<int64_t> shape;  // NCHW; -1 for a symbolic batch
  image::Normalization norm;   // colour order, mean and std (on 0..255 values)
  ResizeRule resize = ResizeRule::kStretch;
  CropRule crop = CropRule::kBox;  // for face models
  float crop_scale = 1.0f;
  Rounding crop_rounding = Rounding::kNone;  // of the face box before the crop
  int channels() const { return shape.size() == 4 ? static_cast<int>(shape[1]) : 0; }
  int height() const { return shape.size() == 4 ? static_cast<int>(shape[2]) : 0; }
  int width() const { return shape.size() == 4 ? static_cast<int>(shape[3]) : 0; }
};

// The match threshold (cosine similarity) of a recognizer entry without thresholds.match: a last
// resort only, since every recognizer of models/manifest.json and every family default
// (family.cpp) carries its own; the value is the uncalibrated MobileFaceNet family default's.
inline constexpr double kFallbackMatchThreshold = 0.4;

struct ModelEntry {
  std::string id;
  std::string file;
  std::string sha256;
  std::string package;
  std::string package_path;
  Task task = Task::kDetector;
  std::optional<Family> family;  // none: the manifest entry names no family
  InputContract input;
  DetectorContract detector;                   // task "detector"
  LandmarkContract landmarks;                  // task "landmarks"
  std::map<std::string, std::string> outputs;  // role -> output tensor name
  std::map<std::string, double> thresholds;
  std::map<std::string, double> numbers;       // other numeric facts (embedding_size, live_index...)
  std::map<std::string, std::string> strings;  // other text facts (activation, notes...)
  std::vector<std::string> labels;             // class names, for classifiers
  std::string license;
  std::string source;

  double threshold(const std::string& key, double fallback) const;
  // A recognizer's thresholds.match (kFallbackMatchThreshold when the entry has none).
  double match_threshold() const { return threshold("match", kFallbackMatchThreshold); }
  double number(const std::string& key, double fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
};

struct Manifest {
  std::string path;
  std::vector<ModelEntry> models;
  std::map<std::string, std::string> defaults;  // service -> model id

  const ModelEntry* find(const std::string& id) const;
  // The entry the manifest names as default for a service ("detector", ...), or nullptr.
  const ModelEntry* default_for(const std::string& service) const;
};

StatusOr<Manifest> load_manifest(const std::string& path);
StatusOr<Manifest> parse_manifest(const std::string& json_text, const std::string& origin);

}  // namespace facelens::models
