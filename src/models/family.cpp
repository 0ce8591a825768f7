#include "models/family.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>

#include "core/sha256.h"

namespace facelens::models {

namespace {

// Each family's conventions, in the manifest schema. The values are those of the family's
// reference code (cited in "source"); a manifest entry of a real model overrides all of them.
// Sizes here are the defaults for models whose input is dynamic; a model with a fixed input
// keeps its own.
constexpr const char* kTemplates = R"json({
  "models": [
    {"id": "ultraface", "file": "", "task": "detector", "family": "ultraface",
     "input": {"shape": [1, 3, 240, 320], "color": "RGB", "mean": [127, 127, 127], "std": [128, 128, 128],
               "resize": "stretch"},
     "outputs": {"scores": "scores", "boxes": "boxes"},
     "thresholds": {"score": 0.7, "nms_iou": 0.3},
     "source": "Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB, vision/ssd/config/fd_config.py (image_mean 127, image_std 128) and detect_imgs.py (threshold 0.7, NMS 0.3)"},
    {"id": "scrfd", "file": "", "task": "detector", "family": "scrfd",
     "input": {"shape": [1, 3, 640, 640], "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [128, 128, 128],
               "resize": "letterbox"},
     "letterbox_align": "top_left", "pad_value": 0, "anchors": 2,
     "thresholds": {"score": 0.5, "nms_iou": 0.4},
     "source": "deepinsight/insightface, python-package/insightface/model_zoo/scrfd.py: RGB, (x-127.5)/128, letterbox to 640 at the top-left, 2 anchors per cell, strides 8/16/32, box = centre -/+ distance*stride, det_thresh 0.5, nms_thresh 0.4"},
    {"id": "yunet", "file": "", "task": "detector", "family": "yunet",
     "input": {"shape": [1, 3, 640, 640], "color": "BGR", "mean": [0, 0, 0], "std": [1, 1, 1],
               "resize": "letterbox"},
     "letterbox_align": "top_left", "letterbox_scale": "down_only", "pad_value": 0, "score_combine": "sqrt",
     "thresholds": {"score": 0.9, "nms_iou": 0.3},
     "source": "opencv/opencv, modules/objdetect/src/face_detect.cpp (FaceDetectorYN): BGR 0..255, padded at the bottom-right, score = sqrt(cls*obj), cx = (col+b0)*stride, w = exp(b2)*stride, score_threshold 0.9, nms_threshold 0.3"},
    {"id": "yolov5face", "file": "", "task": "detector", "family": "yolov5face",
     "input": {"shape": [1, 3, 640, 640], "color": "RGB", "mean": [0, 0, 0], "std": [255, 255, 255],
               "resize": "letterbox"},
     "letterbox_align": "center", "pad_value": 114,
     "outputs": {"output": "output"},
     "thresholds": {"score": 0.5, "nms_iou": 0.5},
     "source": "deepcam-cn/yolov5-face, detect_face.py and models/yolo.py: RGB/255, centred letterbox padded with 114, rows cx,cy,w,h,obj,10 keypoints,cls in input pixels, score = obj*cls, NMS 0.5"},
    {"id": "yolov8face", "file": "", "task": "detector", "family": "yolov8face",
     "input": {"shape": [1, 3, 640, 640], "color": "RGB", "mean": [0, 0, 0], "std": [255, 255, 255],
               "resize": "letterbox"},
     "letterbox_align": "center", "pad_value": 114,
     "outputs": {"output": "output0"},
     "thresholds": {"score": 0.5, "nms_iou": 0.5},
     "source": "ultralytics pose head as exported by derronqi/yolov8-face: RGB/255, centred letterbox padded with 114, output [B,4+1+15,N]: cx,cy,w,h, face score, 5 x (x,y,visibility) in input pixels; NMS"},
    {"id": "yolov10", "file": "", "task": "detector", "family": "yolov10",
     "input": {"shape": [1, 3, 640, 640], "color": "RGB", "mean": [0, 0, 0], "std": [255, 255, 255],
               "resize": "letterbox"},
     "letterbox_align": "center", "pad_value": 114, "face_class": 0,
     "outputs": {"output": "output0"},
     "thresholds": {"score": 0.5},
     "source": "THU-MIG/yolov10 end-to-end export (ultralytics): RGB/255, centred letterbox padded with 114, output [B,300,6] = x1,y1,x2,y2,score,class in input pixels, one-to-one head: no NMS"},
    {"id": "yolov10face", "file": "", "task": "detector", "family": "yolov10face",
     "input": {"shape": [1, 3, 640, 640], "color": "RGB", "mean": [0, 0, 0], "std": [255, 255, 255],
               "resize": "letterbox"},
     "letterbox_align": "center", "pad_value": 114, "face_class": 0,
     "outputs": {"output": "output0"},
     "thresholds": {"score": 0.5},
     "source": "YOLOv10 end-to-end pose export (ultralytics): output [B,300,6+15] = x1,y1,x2,y2,score,class, 5 x (x,y,visibility) in input pixels; no NMS"},
    {"id": "arcface", "file": "", "task": "recognizer", "family": "arcface",
     "input": {"shape": [-1, 3, 112, 112], "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5],
               "resize": "align5"},
     "thresholds": {"match": 0.3},
     "calibration": "uncalibrated family default: calibrate thresholds.match for your model (tools/bench/eval_recognition)",
     "source": "deepinsight/insightface, python-package/insightface/model_zoo/arcface_onnx.py: RGB, (x-127.5)/127.5, 112x112 five-point aligned"},
    {"id": "adaface", "file": "", "task": "recognizer", "family": "adaface",
     "input": {"shape": [-1, 3, 112, 112], "color": "BGR", "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5],
               "resize": "align5"},
     "thresholds": {"match": 0.3},
     "calibration": "uncalibrated family default: calibrate thresholds.match for your model (tools/bench/eval_recognition)",
     "source": "mk-minchul/AdaFace, inference.py to_input(): BGR, ((x/255)-0.5)/0.5, 112x112 aligned; the model returns the normalised feature and its norm (the face quality)"},
    {"id": "mobilefacenet", "file": "", "task": "recognizer", "family": "mobilefacenet",
     "input": {"shape": [-1, 3, 112, 112], "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [128, 128, 128],
               "resize": "align5"},
     "thresholds": {"match": 0.4},
     "calibration": "uncalibrated family default: calibrate thresholds.match for your model (tools/bench/eval_recognition)",
     "source": "MobileFaceNet (Chen et al. 2018) as trained with insightface conventions: RGB, (x-127.5)/128, 112x112 five-point aligned"},
    {"id": "minifasnet", "file": "", "task": "liveness", "family": "minifasnet",
     "input": {"shape": [1, 3, 80, 80], "color": "BGR", "mean": [0, 0, 0], "std": [1, 1, 1],
               "resize": "stretch", "crop": "scaled_box", "crop_scale": 2.7},
     "live_index": 1, "activation": "softmax",
     "thresholds": {"live": 0.5},
     "source": "minivision-ai/Silent-Face-Anti-Spoofing, test.py and src/generate_patches.py: BGR 0..255, box scaled about its centre (the scale is in the file name, e.g. 2.7_80x80_MiniFASNetV2, 4_0_0_80x80_MiniFASNetV1SE), softmax, class 1 = real; several models: softmax each, sum"},
    {"id": "xception", "file": "", "task": "deepfake", "family": "xception",
     "input": {"shape": [-1, 3, 299, 299], "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5],
               "resize": "stretch", "crop": "margin_box", "crop_scale": 1.3},
     "fake_index": 1, "activation": "softmax",
     "thresholds": {"fake": 0.5},
     "source": "ondyari/FaceForensics, classification/detect_from_video.py: square box of 1.3 x the larger face side about its centre, 299x299, RGB, mean = std = 0.5 on 0..1; softmax of logits [B,2] with class 1 = fake (or a sigmoid [B,1])"},
    {"id": "landmark68", "file": "", "task": "landmarks", "family": "landmark68",
     "input": {"shape": [1, 1, 64, 64], "color": "GRAY", "mean": [0], "std": [256], "resize": "stretch", "crop": "box"},
     "source": "faceplugin-face-recognition-js lib/fr_landmark.js: grey/256, 68 (x,y) points normalised to the box"}
  ]
})json";

const std::vector<FamilyInfo> kFamilies = {
    {Family::kUltraface, Task::kDetector, "[1,3,H,W] -> scores [1,N,2] + boxes [1,N,4]"},
    {Family::kScrfd, Task::kDetector, "[B,3,H,W] -> score/bbox(/kps) per stride 8,16,32 (6 or 9 outputs)"},
    {Family::kYunet, Task::kDetector, "[B,3,H,W] -> cls/obj/bbox/kps per stride 8,16,32 (12 outputs)"},
    {Family::kYolov5Face, Task::kDetector, "[B,3,H,W] -> [B,N,16] (cx,cy,w,h,obj,10 keypoints,cls)"},
    {Family::kYolov8Face, Task::kDetector, "[B,3,H,W] -> [B,20,N] (cx,cy,w,h,score,5x(x,y,v))"},
    {Family::kYolov10, Task::kDetector, "[B,3,H,W] -> [B,300,6] (x1,y1,x2,y2,score,class), end to end"},
    {Family::kYolov10Face, Task::kDetector, "[B,3,H,W] -> [B,300,21] (x1,y1,x2,y2,score,class,5x(x,y,v)), end to end"},
    {Family::kArcface, Task::kRecognizer, "[B,3,112,112] -> [B,D] (RGB, (x-127.5)/127.5)"},
    {Family::kAdaface, Task::kRecognizer, "[B,3,112,112] -> feature [B,D] + norm [B,1] (BGR)"},
    {Family::kMobileFaceNet, Task::kRecognizer, "[B,3,112,112] -> [B,128] or [B,512] (RGB, (x-127.5)/128)"},
    {Family::kMiniFasNet, Task::kLiveness, "[1,3,80,80] or [1,3,128,128] -> [1,3] logits"},
    {Family::kXception, Task::kDeepfake, "[B,3,S,S] (S >= 160, 299 by default) -> logits [B,2] or sigmoid [B,1]"},
    {Family::kLandmark68, Task::kLandmarks, "[1,1,64,64] grey -> [1,136]"},
};

int64_t dim(const TensorDesc& t, size_t i) { return i < t.shape.size() ? t.shape[i] : -2; }
int64_t last(const TensorDesc& t) { return t.shape.empty() ? -2 : t.shape.back(); }

bool image_input(const ModelDescription& d, int64_t channels) {
  return d.inputs.size() == 1 && d.inputs[0].shape.size() == 4 &&
         (dim(d.inputs[0], 1) == channels || dim(d.inputs[0], 1) < 0);
}
bool square_input(const ModelDescription& d, int64_t size) {
  return image_input(d, 3) && dim(d.inputs[0], 2) == size && dim(d.inputs[0], 3) == size;
}

// Output roles of multi-level detectors: by name when the outputs follow the reference naming
// (score_8, bbox_16, ...), else by position in the reference order (all of the first kind for
// strides 8, 16, 32, then the next kind, ...).
bool multilevel_roles(const ModelDescription& d, const std::vector<std::string>& kinds,
                      std::map<std::string, std::string>* roles) {
  const std::vector<int> strides = {8, 16, 32};
  if (d.outputs.size() != kinds.size() * strides.size()) return false;
  std::map<std::string, std::string> by_name;
  for (const auto& o : d.outputs)
    for (const auto& k : kinds)
      for (int s : strides)
        if (o.name == k + "_" + std::to_string(s)) by_name[o.name] = o.name;
  roles->clear();
  if (by_name.size() == d.outputs.size()) {
    *roles = by_name;
    return true;
  }
  size_t i = 0;
  for (const auto& k : kinds)
    for (int s : strides) (*roles)[k + "_" + std::to_string(s)] = d.outputs[i++].name;
  return true;
}

// Whether the last dims of the outputs (where fixed) fit the per-kind widths of a multi-level
// detector in reference order.
bool multilevel_widths_fit(const ModelDescription& d, const std::vector<int64_t>& widths) {
  if (d.outputs.size() != widths.size() * 3) return false;
  for (size_t i = 0; i < d.outputs.size(); ++i) {
    const int64_t w = last(d.outputs[i]);
    if (w >= 0 && w != widths[i / 3]) return false;
  }
  return true;
}

std::string op_producing(const std::string& path, const std::string& output) {
  std::ifstream f(path, std::ios::binary);
  onnx::ModelProto model;
  if (!f || !model.ParseFromIstream(&f)) return "";
  for (const auto& n : model.graph().node())
    for (const auto& o : n.output())
      if (o == output) return n.op_type();
  return "";
}

StatusOr<Manifest> templates() { return parse_manifest(kTemplates, "built-in family templates"); }

}  // namespace

const std::vector<FamilyInfo>& known_families() { return kFamilies; }

const FamilyInfo* find_family(Family family) {
  for (const auto& f : kFamilies)
    if (f.family == family) return &f;
  return nullptr;
}

StatusOr<Family> parse_file_family(std::string_view family_name) {
  auto f = parse_family(family_name);
  if (!f.ok() || !find_family(*f)) {
    return invalid_argument("unknown model family '" + std::string(family_name) + "'; facelens knows " +
                            known_families_text());
  }
  return *f;
}

std::string known_families_text() {
  std::string out;
  std::optional<Task> task;
  for (const auto& f : kFamilies) {
    if (f.task != task) {
      out += (out.empty() ? "" : "; ") + std::string(name(f.task)) + ": " + std::string(name(f.family));
      task = f.task;
    } else {
      out += ", " + std::string(name(f.family));
    }
  }
  return out;
}

std::vector<Family> match_families(const ModelDescription& d, std::optional<Task> task) {
  std::vector<Family> out;
  const auto& outs = d.outputs;
  if (image_input(d, 3)) {
    // Detectors.
    if (outs.size() == 2 && outs[0].shape.size() == 3 && outs[1].shape.size() == 3) {
      std::set<int64_t> widths = {last(outs[0]), last(outs[1])};
      if (widths == std::set<int64_t>{2, 4}) out.push_back(Family::kUltraface);
    }
    if (multilevel_widths_fit(d, {1, 4}) || multilevel_widths_fit(d, {1, 4, 10})) out.push_back(Family::kScrfd);
    if (multilevel_widths_fit(d, {1, 1, 4, 10})) out.push_back(Family::kYunet);
    if (outs.size() == 1 && outs[0].shape.size() == 3) {
      const auto& o = outs[0];
      if (dim(o, 1) == 300 && last(o) == 6) out.push_back(Family::kYolov10);
      if (dim(o, 1) == 300 && last(o) == 21) out.push_back(Family::kYolov10Face);
      // Rows of 16; exports with a symbolic row width are told apart by their row count.
      if (last(o) == 16 || (last(o) < 0 && dim(o, 1) > 0 && dim(o, 1) != 20 && dim(o, 1) != 300))
        out.push_back(Family::kYolov5Face);
      if (dim(o, 1) == 20) out.push_back(Family::kYolov8Face);
      if (dim(o, 1) == 300 && last(o) < 0) out.insert(out.end(), {Family::kYolov10, Family::kYolov10Face});
    }
    // Recognizers: an aligned 112x112 face to a feature (and its norm).
    if (square_input(d, 112) || (dim(d.inputs[0], 2) < 0 && dim(d.inputs[0], 3) < 0)) {
      if (outs.size() == 1 && outs[0].shape.size() == 2 && last(outs[0]) >= 64) {
        if (last(outs[0]) == 128) out.insert(out.end(), {Family::kMobileFaceNet, Family::kArcface});
        else out.insert(out.end(), {Family::kArcface, Family::kMobileFaceNet});
      }
      if (outs.size() == 2 && outs[0].shape.size() == 2 && outs[1].shape.size() == 2 &&
          ((last(outs[0]) >= 64 && last(outs[1]) == 1) || (last(outs[1]) >= 64 && last(outs[0]) == 1)))
        out.push_back(Family::kAdaface);
    }
    // Liveness (MiniFASNet 80x80 variants and the 128x128 one): a few class logits.
    if ((square_input(d, 80) || square_input(d, 128)) && outs.size() == 1 && outs[0].shape.size() == 2 &&
        (last(outs[0]) == 2 || last(outs[0]) == 3))
      out.push_back(Family::kMiniFasNet);
    // Deepfake classifiers: a large face crop to one or two scores.
    const int64_t h = dim(d.inputs[0], 2), w = dim(d.inputs[0], 3);
    if (h == w && h >= 160 && outs.size() == 1 && outs[0].shape.size() == 2 &&
        (last(outs[0]) == 1 || last(outs[0]) == 2))
      out.push_back(Family::kXception);
  }
  if (image_input(d, 1) && dim(d.inputs[0], 1) == 1 && dim(d.inputs[0], 2) == 64 && dim(d.inputs[0], 3) == 64 &&
      outs.size() == 1 && last(outs[0]) == 136)
    out.push_back(Family::kLandmark68);
  if (task) {
    std::erase_if(out, [&](Family f) { return find_family(f)->task != *task; });
  }
  return out;
}

StatusOr<ModelEntry> entry_from_family(Family family_value, const ModelDescription& d) {
  const std::string family(name(family_value));
  const FamilyInfo* info = find_family(family_value);
  if (!info) {
    return invalid_argument("model family '" + family +
                            "' has no template for a model file (a manifest entry names "
                            "its model); facelens recognises " +
                            known_families_text());
  }
  FACELENS_ASSIGN_OR_RETURN(Manifest t, templates());
  ModelEntry e = *t.find(family);
  e.id = "file:" + std::filesystem::path(d.path).stem().string();
  e.file = d.path;
  e.sha256.clear();
  e.source = "family template '" + family + "' (" + e.source + ")";
  if (d.inputs.size() != 1 || d.inputs[0].shape.size() != e.input.shape.size()) {
    return invalid_argument("model '" + d.path + "' has " + std::to_string(d.inputs.size()) + " input(s) of shape " +
                            (d.inputs.empty() ? std::string("-") : d.inputs[0].shape_string()) + "; family '" + family +
                            "' takes one input " + info->signature);
  }
  const auto& in = d.inputs[0];
  e.input.name = in.name;
  for (size_t i = 0; i < in.shape.size(); ++i)
    if (in.shape[i] >= 0) e.input.shape[i] = in.shape[i];
  if (e.task == Task::kDetector || e.task == Task::kLiveness || e.task == Task::kLandmarks) e.input.shape[0] = 1;
  const auto& outs = d.outputs;
  auto need = [&](size_t n) -> Status {
    if (outs.size() == n) return Status::Ok();
    return invalid_argument("model '" + d.path + "' has " + std::to_string(outs.size()) + " outputs; family '" +
                            family + "' has " + std::to_string(n) + ": " + info->signature);
  };
  if (family_value == Family::kUltraface) {
    FACELENS_RETURN_IF_ERROR(need(2));
    const bool first_scores = last(outs[0]) == 2;
    e.outputs = {{"scores", outs[first_scores ? 0 : 1].name}, {"boxes", outs[first_scores ? 1 : 0].name}};
  } else if (family_value == Family::kScrfd) {
    if (!multilevel_roles(d, {"score", "bbox", "kps"}, &e.outputs) &&
        !multilevel_roles(d, {"score", "bbox"}, &e.outputs))
      return need(9);
  } else if (family_value == Family::kYunet) {
    if (!multilevel_roles(d, {"cls", "obj", "bbox", "kps"}, &e.outputs)) return need(12);
  } else if (e.task == Task::kDetector) {
    FACELENS_RETURN_IF_ERROR(need(1));
    e.outputs = {{"output", outs[0].name}};
  } else if (family_value == Family::kAdaface) {
    if (outs.size() == 1) {
      e.outputs = {{"embedding", outs[0].name}};
      e.strings["quality"] = "feature_norm";
    } else {
      FACELENS_RETURN_IF_ERROR(need(2));
      const bool norm_second = last(outs[1]) == 1;
      e.outputs = {{"embedding", outs[norm_second ? 0 : 1].name}, {"norm", outs[norm_second ? 1 : 0].name}};
    }
  } else if (e.task == Task::kRecognizer) {
    FACELENS_RETURN_IF_ERROR(need(1));
    e.outputs = {{"embedding", outs[0].name}};
    if (last(outs[0]) > 0) e.numbers["embedding_size"] = static_cast<double>(last(outs[0]));
  } else if (e.task == Task::kLiveness || e.task == Task::kDeepfake) {
    FACELENS_RETURN_IF_ERROR(need(1));
    e.outputs = {{"logits", outs[0].name}};
    if (e.task == Task::kLiveness) {
      // Silent-Face-Anti-Spoofing names its files "<scale>_<h>x<w>_<model>" (utility.py
      // parse_model_name), "4_0_0_..." meaning 4.0.
      static const std::regex kName(R"(^(\d+(?:[._]\d+)?)(?:_\d+)*_(\d+)x(\d+)_MiniFASNet)");
      std::smatch m;
      const std::string stem = std::filesystem::path(d.path).stem().string();
      if (std::regex_search(stem, m, kName)) {
        std::string scale = m[1].str();
        std::replace(scale.begin(), scale.end(), '_', '.');
        e.input.crop_scale = std::stof(scale);
      }
    } else if (last(outs[0]) == 1) {
      e.numbers["fake_index"] = 1;
      e.strings["activation"] = "sigmoid";
    }
  } else if (e.task == Task::kLandmarks) {
    FACELENS_RETURN_IF_ERROR(need(1));
    e.outputs = {{"points", outs[0].name}};
  }
  return e;
}

StatusOr<FileModel> entry_for_file(const std::string& path, const FileModelOptions& o) {
  FileModel fm;
  FACELENS_ASSIGN_OR_RETURN(fm.description, inspect_model(path));
  if (o.family && !find_family(*o.family)) {
    return invalid_argument("model family '" + std::string(name(*o.family)) +
                            "' is not recognised from a model file (a manifest entry names its model); facelens "
                            "knows " +
                            known_families_text());
  }
  if (o.family && o.task && find_family(*o.family)->task != *o.task) {
    const std::string task(name(*o.task));
    return invalid_argument("model family '" + std::string(name(*o.family)) + "' is a " +
                            std::string(name(find_family(*o.family)->task)) + ", not a " + task + "; " + task +
                            " families: " + known_families_text());
  }
  auto sha = core::sha256_file(path);
  if (sha.ok()) {
    for (const Manifest* m : o.manifests) {
      for (const auto& e : m->models) {
        if (e.sha256 != *sha || (o.task && e.task != *o.task)) continue;
        if (o.family && e.family != o.family) continue;
        fm.entry = e;
        fm.entry.file = path;
        fm.how = "manifest";
        fm.manifest_path = m->path;
        return fm;
      }
    }
  }
  std::vector<Family> fits = match_families(fm.description, o.task);
  std::optional<Family> family = o.family;
  if (!family) {
    if (fits.empty()) {
      std::string sig;
      for (const auto& t : fm.description.inputs) sig += (sig.empty() ? "" : ", ") + t.name + " " + t.shape_string();
      sig += " -> ";
      for (size_t i = 0; i < fm.description.outputs.size(); ++i)
        sig += (i ? ", " : "") + fm.description.outputs[i].name + " " + fm.description.outputs[i].shape_string();
      return invalid_argument("model '" + path + "' (" + sig + ") fits no " +
                              (o.task ? std::string(name(*o.task)) + " " : "") +
                              "family facelens knows: " + known_families_text() +
                              ". Name its family (--detector-family NAME etc.) if it follows one of them, or add "
                              "a manifest entry");
    }
    family = fits[0];
    fm.how = "signature";
  } else {
    fm.how = "named";
  }
  for (const auto& f : fits)
    if (f != family) fm.alternatives.push_back(f);
  FACELENS_ASSIGN_OR_RETURN(fm.entry, entry_from_family(*family, fm.description));
  if (fm.entry.task == Task::kDeepfake) {
    // A model that ends in its own Softmax / Sigmoid already gives probabilities.
    const std::string op = op_producing(path, fm.entry.outputs["logits"]);
    if (op == "Softmax" || op == "Sigmoid") fm.entry.strings["activation"] = "none";
  }
  return fm;
}

}  // namespace facelens::models

namespace facelens {

StatusOr<ModelFileMatch> match_model_file(const std::string& path, const std::string& family,
                                          const std::string& models_dir, const std::string& manifest) {
  std::vector<models::Manifest> manifests;
  if (!models_dir.empty()) manifests = models::load_known_manifests(models_dir);
  if (!manifest.empty())
    if (auto m = models::load_manifest(manifest); m.ok()) manifests.push_back(std::move(*m));
  models::FileModelOptions fo;
  if (!family.empty()) {
    FACELENS_ASSIGN_OR_RETURN(fo.family, models::parse_file_family(family));
  }
  for (const auto& m : manifests) fo.manifests.push_back(&m);
  FACELENS_ASSIGN_OR_RETURN(auto fm, models::entry_for_file(path, fo));
  ModelFileMatch out;
  out.family = models::name(fm.entry.family);
  out.task = models::name(fm.entry.task);
  out.how = fm.how;
  out.manifest_path = fm.manifest_path;
  out.entry_id = fm.entry.id;
  for (models::Family f : fm.alternatives) out.alternatives.emplace_back(models::name(f));
  out.entry_json = models::entry_to_json(fm.entry);
  return out;
}

}  // namespace facelens

namespace facelens::models {

std::vector<Manifest> load_known_manifests(const std::string& models_dir) {
  std::vector<Manifest> out;
  for (const char* name : {"manifest.json", "extra.json"}) {
    const std::string p = models_dir + "/" + name;
    if (!std::filesystem::is_regular_file(p)) continue;
    auto m = load_manifest(p);
    if (m.ok()) out.push_back(std::move(*m));
  }
  return out;
}

std::string entry_to_json(const ModelEntry& e) {
  using json = nlohmann::ordered_json;
  json j;
  j["id"] = e.id;
  j["file"] = e.file;
  if (!e.sha256.empty()) j["sha256"] = e.sha256;
  if (!e.package.empty()) j["package"] = e.package;
  if (!e.package_path.empty()) j["package_path"] = e.package_path;
  j["task"] = name(e.task);
  j["family"] = std::string(name(e.family));
  json in;
  if (!e.input.name.empty()) in["name"] = e.input.name;
  in["shape"] = e.input.shape;
  const char* color = e.input.norm.order == image::ChannelOrder::kRGB   ? "RGB"
                      : e.input.norm.order == image::ChannelOrder::kBGR ? "BGR"
                                                                        : "GRAY";
  in["color"] = color;
  const int c = e.input.norm.channels();
  in["mean"] = std::vector<float>(e.input.norm.mean.begin(), e.input.norm.mean.begin() + c);
  in["std"] = std::vector<float>(e.input.norm.std.begin(), e.input.norm.std.begin() + c);
  in["resize"] = name(e.input.resize);
  in["crop"] = name(e.input.crop);
  if (e.input.crop_scale != 1.0f) in["crop_scale"] = std::round(static_cast<double>(e.input.crop_scale) * 1e4) / 1e4;
  j["input"] = in;
  j["outputs"] = e.outputs;
  if (!e.thresholds.empty()) j["thresholds"] = e.thresholds;
  if (!e.labels.empty()) j["labels"] = e.labels;
  for (const auto& [k, v] : e.numbers) j[k] = v;
  for (const auto& [k, v] : e.strings) j[k] = v;
  if (!e.license.empty()) j["license"] = e.license;
  if (!e.source.empty()) j["source"] = e.source;
  return j.dump(2);
}

}  // namespace facelens::models
