#include "models/manifest.h"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

namespace facelens::models {

double ModelEntry::threshold(const std::string& key, double fallback) const {
  auto it = thresholds.find(key);
  return it == thresholds.end() ? fallback : it->second;
}
double ModelEntry::number(const std::string& key, double fallback) const {
  auto it = numbers.find(key);
  return it == numbers.end() ? fallback : it->second;
}
std::string ModelEntry::string(const std::string& key, const std::string& fallback) const {
  auto it = strings.find(key);
  return it == strings.end() ? fallback : it->second;
}

const ModelEntry* Manifest::find(const std::string& id) const {
  for (const auto& m : models)
    if (m.id == id) return &m;
  return nullptr;
}

const ModelEntry* Manifest::default_for(const std::string& service) const {
  auto it = defaults.find(service);
  return it == defaults.end() ? nullptr : find(it->second);
}

static StatusOr<image::ChannelOrder> parse_color(const std::string& s, const std::string& where) {
  if (s == "RGB") return image::ChannelOrder::kRGB;
  if (s == "BGR") return image::ChannelOrder::kBGR;
  if (s == "GRAY") return image::ChannelOrder::kGray;
  return invalid_argument(where + ": color '" + s + "' is not one of RGB, BGR, GRAY");
}

// Name <-> value tables of the manifest's vocabularies.
template <typename E>
struct Named {
  const char* name;
  E value;
};
constexpr Named<Suppression> kSuppressions[] = {{"hard_nms_iou", Suppression::kHardNmsIou},
                                                {"bottom_first_own_area", Suppression::kBottomFirstOwnArea}};
constexpr Named<BoxShape> kBoxShapes[] = {{"as_detected", BoxShape::kAsDetected},
                                          {"square_height", BoxShape::kSquareHeight}};
constexpr Named<Rounding> kRoundings[] = {{"none", Rounding::kNone}, {"truncate", Rounding::kTruncate}};
constexpr Named<FivePointRule> kFivePointRules[] = {{"eyelid_mean", FivePointRule::kEyelidMean},
                                                    {"eye_contour_mean", FivePointRule::kEyeContourMean}};
constexpr Named<image::GraySource> kGraySources[] = {{"RGB", image::GraySource::kRGB},
                                                     {"BGR", image::GraySource::kBGR}};

constexpr Named<Task> kTasks[] = {{"detector", Task::kDetector},     {"landmarks", Task::kLandmarks},
                                  {"recognizer", Task::kRecognizer}, {"liveness", Task::kLiveness},
                                  {"deepfake", Task::kDeepfake},     {"attribute", Task::kAttribute}};
static_assert(std::size(kTasks) == kTaskCount);
constexpr Named<Family> kFamilies[] = {{"ultraface", Family::kUltraface},
                                       {"scrfd", Family::kScrfd},
                                       {"yunet", Family::kYunet},
                                       {"yolov5face", Family::kYolov5Face},
                                       {"yolov8face", Family::kYolov8Face},
                                       {"yolov10", Family::kYolov10},
                                       {"yolov10face", Family::kYolov10Face},
                                       {"arcface", Family::kArcface},
                                       {"adaface", Family::kAdaface},
                                       {"mobilefacenet", Family::kMobileFaceNet},
                                       {"minifasnet", Family::kMiniFasNet},
                                       {"xception", Family::kXception},
                                       {"landmark68", Family::kLandmark68},
                                       {"age", Family::kAge},
                                       {"gender", Family::kGender},
                                       {"expression", Family::kExpression},
                                       {"pose", Family::kPose},
                                       {"eye", Family::kEye}};
static_assert(std::size(kFamilies) == kFamilyCount);
constexpr Named<Precision> kPrecisions[] = {
    {"fp32", Precision::kFp32}, {"fp16", Precision::kFp16}, {"int8", Precision::kInt8}};
constexpr Named<ResizeRule> kResizeRules[] = {
    {"stretch", ResizeRule::kStretch}, {"letterbox", ResizeRule::kLetterbox}, {"align5", ResizeRule::kAlign5}};
constexpr Named<CropRule> kCropRules[] = {{"box", CropRule::kBox},
                                          {"scaled_box", CropRule::kScaledBox},
                                          {"margin_box", CropRule::kMarginBox},
                                          {"anchored_box", CropRule::kAnchoredBox},
                                          {"expanded_box", CropRule::kExpandedBox},
                                          {"eye_square", CropRule::kEyeSquare}};

template <typename E, size_t N>
StatusOr<E> parse_named(const Named<E> (&table)[N], std::string_view name, const char* what) {
  std::string known;
  for (const auto& n : table) {
    if (name == n.name) return n.value;
    known += std::string(known.empty() ? "" : ", ") + n.name;
  }
  return invalid_argument(std::string(what) + " '" + std::string(name) + "' is not one of " + known);
}
template <typename E, size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
  for (const auto& n : table)
    if (n.value == value) return n.name;
  return "?";
}

StatusOr<Suppression> parse_suppression(const std::string& name) {
  return parse_named(kSuppressions, name, "suppression");
}
const char* suppression_name(Suppression s) { return name_of(kSuppressions, s); }
StatusOr<BoxShape> parse_box_shape(const std::string& name) { return parse_named(kBoxShapes, name, "box_shape"); }
const char* box_shape_name(BoxShape s) { return name_of(kBoxShapes, s); }
StatusOr<Rounding> parse_rounding(const std::string& name) { return parse_named(kRoundings, name, "rounding"); }
const char* rounding_name(Rounding r) { return name_of(kRoundings, r); }
StatusOr<FivePointRule> parse_five_point_rule(const std::string& name) {
  return parse_named(kFivePointRules, name, "five_points");
}
const char* five_point_rule_name(FivePointRule r) { return name_of(kFivePointRules, r); }
StatusOr<Task> parse_task(std::string_view name) { return parse_named(kTasks, name, "task"); }
std::string_view name(Task t) { return name_of(kTasks, t); }
StatusOr<Family> parse_family(std::string_view name) { return parse_named(kFamilies, name, "family"); }
std::string_view name(Family f) { return name_of(kFamilies, f); }
std::string_view name(const std::optional<Family>& f) { return f ? name(*f) : std::string_view(); }
StatusOr<Precision> parse_precision(std::string_view name) { return parse_named(kPrecisions, name, "precision"); }
std::string_view name(Precision p) { return name_of(kPrecisions, p); }
StatusOr<ResizeRule> parse_resize_rule(std::string_view name) { return parse_named(kResizeRules, name, "resize"); }
std::string_view name(ResizeRule r) { return name_of(kResizeRules, r); }
StatusOr<CropRule> parse_crop_rule(std::string_view name) { return parse_named(kCropRules, name, "crop"); }
std::string_view name(CropRule r) { return name_of(kCropRules, r); }

static const char* kKnown[] = {"id",     "file",        "sha256",    "package",     "package_path",    "task",
                               "family", "input",       "outputs",   "thresholds",  "labels",          "license",
                               "source", "suppression", "box_shape", "five_points", "points_rounding", "gray_source"};

// Parses the optional text key `key` of `e` with `parse` into `*out` (left as is when absent).
template <typename E, typename Parse>
Status read_enum(const nlohmann::json& e, const char* key, Parse parse, const std::string& where, E* out) {
  if (!e.contains(key)) return Status::Ok();
  if (!e[key].is_string()) return invalid_argument(where + ": \"" + key + "\" must be a string");
  auto v = parse(e[key].get<std::string>());
  if (!v.ok()) return invalid_argument(where + ": " + v.status().message() + ": fix \"" + key + "\" in the manifest");
  *out = *v;
  return Status::Ok();
}

StatusOr<Manifest> parse_manifest(const std::string& text, const std::string& origin) {
  using nlohmann::json;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return invalid_argument("model manifest '" + origin + "' is not valid JSON");
  }
  Manifest m;
  m.path = origin;
  if (j.contains("defaults") && j["defaults"].is_object()) {
    for (auto& [k, v] : j["defaults"].items())
      if (v.is_string()) m.defaults[k] = v.get<std::string>();
  }
  if (!j.contains("models") || !j["models"].is_array()) {
    return invalid_argument("model manifest '" + origin + "' has no \"models\" array");
  }
  for (const auto& e : j["models"]) {
    const std::string where =
        "model manifest '" + origin + "', entry " + (e.contains("id") ? e["id"].dump() : std::string("without id"));
    try {
      ModelEntry me;
      me.id = e.at("id").get<std::string>();
      me.file = e.at("file").get<std::string>();
      me.sha256 = e.value("sha256", "");
      me.package = e.value("package", "");
      me.package_path = e.value("package_path", "");
      if (!e.contains("task")) return invalid_argument(where + ": no \"task\": add one of the tasks");
      FACELENS_RETURN_IF_ERROR(read_enum(e, "task", parse_task, where, &me.task));
      if (e.contains("family")) {
        Family family{};
        FACELENS_RETURN_IF_ERROR(read_enum(e, "family", parse_family, where, &family));
        me.family = family;
      }
      me.license = e.value("license", "");
      me.source = e.value("source", "");
      if (e.contains("input")) {
        const auto& in = e["input"];
        me.input.name = in.value("name", "");
        me.input.shape = in.value("shape", std::vector<int64_t>{});
        auto color = parse_color(in.value("color", "RGB"), where);
        if (!color.ok()) return color.status();
        me.input.norm.order = *color;
        auto mean = in.value("mean", std::vector<float>{});
        auto stdev = in.value("std", std::vector<float>{});
        FACELENS_RETURN_IF_ERROR(read_enum(in, "resize", parse_resize_rule, where, &me.input.resize));
        FACELENS_RETURN_IF_ERROR(read_enum(in, "crop", parse_crop_rule, where, &me.input.crop));
        me.input.crop_scale = in.value("crop_scale", 1.0f);
        FACELENS_RETURN_IF_ERROR(read_enum(in, "crop_rounding", parse_rounding, where, &me.input.crop_rounding));
        const size_t c = static_cast<size_t>(me.input.norm.channels());
        if (mean.empty()) mean.assign(c, 0.f);
        if (stdev.empty()) stdev.assign(c, 1.f);
        if (mean.size() != c || stdev.size() != c) {
          return invalid_argument(where + ": input.mean and input.std need " + std::to_string(c) + " values");
        }
        for (size_t k = 0; k < c; ++k) {
          if (stdev[k] == 0) return invalid_argument(where + ": input.std has a zero");
          me.input.norm.mean[k] = mean[k];
          me.input.norm.std[k] = stdev[k];
        }
      }
      FACELENS_RETURN_IF_ERROR(read_enum(
          e, "gray_source", [](const std::string& n) { return parse_named(kGraySources, n, "gray_source"); }, where,
          &me.input.norm.gray_source));
      FACELENS_RETURN_IF_ERROR(read_enum(e, "suppression", parse_suppression, where, &me.detector.suppression));
      FACELENS_RETURN_IF_ERROR(read_enum(e, "box_shape", parse_box_shape, where, &me.detector.box_shape));
      me.detector.suppression_pixel_offset = e.value("suppression_pixel_offset", 0.0f);
      me.detector.max_candidates = e.value("max_candidates", 0);
      if (me.detector.max_candidates < 0) return invalid_argument(where + ": max_candidates must be >= 0 (0 = all)");
      FACELENS_RETURN_IF_ERROR(read_enum(e, "five_points", parse_five_point_rule, where, &me.landmarks.five_points));
      FACELENS_RETURN_IF_ERROR(read_enum(e, "points_rounding", parse_rounding, where, &me.landmarks.points_rounding));
      if (e.contains("outputs"))
        for (auto& [k, v] : e["outputs"].items()) me.outputs[k] = v.get<std::string>();
      if (e.contains("thresholds"))
        for (auto& [k, v] : e["thresholds"].items()) me.thresholds[k] = v.get<double>();
      if (e.contains("labels")) me.labels = e["labels"].get<std::vector<std::string>>();
      for (auto& [k, v] : e.items()) {
        bool known = false;
        for (const char* kk : kKnown) known = known || k == kk;
        if (known) continue;
        if (v.is_number()) me.numbers[k] = v.get<double>();
        else if (v.is_string()) me.strings[k] = v.get<std::string>();
      }
      if (m.find(me.id)) return invalid_argument(where + ": duplicate id");
      m.models.push_back(std::move(me));
    } catch (const json::exception& ex) {
      return invalid_argument(where + ": " + ex.what());
    }
  }
  for (const auto& [service, id] : m.defaults) {
    if (!m.find(id)) {
      return invalid_argument("model manifest '" + origin + "': default " + service + " '" + id + "' has no entry");
    }
  }
  return m;
}

StatusOr<Manifest> load_manifest(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    return not_found("model manifest '" + path +
                     "' not found: run from the facelens checkout, "
                     "or pass --models DIR / set FACELENS_MODELS to the folder with manifest.json");
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_manifest(ss.str(), path);
}

}  // namespace facelens::models
