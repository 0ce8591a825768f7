#include "attributes/attributes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "image/tensor.h"
#include "models/binding.h"

namespace facelens::attributes {
namespace {

// ---- crop rules (input.crop in the manifest) ---------------------------------------------------
//
// Each rule reproduces the crop of one function of faceplugin-face-recognition-js@0.0.1 lib/*.js,
// generalised by the manifest's numbers. Those functions first truncate the box to integers
// (parseInt), so the rules here do too.

using image::CropRect;

struct IntBox {
  int x = 0, y = 0, w = 0, h = 0;
};

IntBox int_box(const Box& b) {
  const int x1 = static_cast<int>(b.x1), y1 = static_cast<int>(b.y1);
  const int x2 = static_cast<int>(b.x2), y2 = static_cast<int>(b.y2);
  return {std::min(x1, x2), std::min(y1, y2), std::abs(x2 - x1), std::abs(y2 - y1)};
}

// "box": the box itself.
CropRect crop_box(const IntBox& b) { return {b.x, b.y, b.w, b.h}; }

// "scaled_box": the box scaled by `scale` about its centre, the scale lowered so the crop fits the
// image, then shifted to lie inside it (fr_age.js / fr_gender.js alignAgeImage / alignGenderImage).
CropRect crop_scaled_box(const IntBox& b, float scale, int iw, int ih) {
  const float x = static_cast<float>(b.x), y = static_cast<float>(b.y);
  return image::scaled_crop(Box{x, y, x + static_cast<float>(b.w), y + static_cast<float>(b.h)}, scale, iw, ih);
}

// "anchored_box": the top-left corner stays, width and height grow by `scale` (to the right and
// down), each at most image size - 1 (fr_expression.js alignExpressionImage).
CropRect crop_anchored_box(const IntBox& b, float scale, int iw, int ih) {
  return {b.x, b.y, std::min(static_cast<int>(b.w * scale), iw - 1), std::min(static_cast<int>(b.h * scale), ih - 1)};
}

// "expanded_box": every side moves out by (scale - 1) / 2 of the box size, so the crop is `scale`
// times the box; a corner outside the image is moved to the edge keeping the size, the size
// capped at the image size (fr_pose.js predictPose: width/4 each side for scale 1.5).
CropRect crop_expanded_box(const IntBox& b, float scale, int iw, int ih) {
  const float pad = (scale - 1) / 2;
  const int x1 = static_cast<int>(b.x - b.w * pad), y1 = static_cast<int>(b.y - b.h * pad);
  const int x2 = static_cast<int>(b.x + b.w + b.w * pad), y2 = static_cast<int>(b.y + b.h + b.h * pad);
  return {std::max(x1, 0), std::max(y1, 0), std::min(x2 - x1, iw), std::min(y2 - y1, ih)};
}

// "eye_square": a square about one eye centre, `scale` times the eye's corner-to-corner width,
// moved to start inside the image and shrunk to end inside it (fr_eye.js getEyeBBox). The JS takes
// the eye width from 68 landmarks; from five points it is eye_width_iod x the distance between the
// eye centres.
CropRect crop_eye_square(Point eye, float eye_width, float scale, int iw, int ih) {
  const int cx = static_cast<int>(eye.x), cy = static_cast<int>(eye.y);
  int size = static_cast<int>(eye_width * scale);
  const int x = std::max(0, static_cast<int>(cx - size / 2.f)), y = std::max(0, static_cast<int>(cy - size / 2.f));
  if (x + size >= iw) size = iw - x - 1;
  if (y + size >= ih) size = ih - y - 1;
  return {x, y, size, size};
}

const char* const kFaceCrops = "box, scaled_box, anchored_box, expanded_box";

bool known_face_crop(models::CropRule c) {
  using models::CropRule;
  return c == CropRule::kBox || c == CropRule::kScaledBox || c == CropRule::kAnchoredBox || c == CropRule::kExpandedBox;
}

CropRect face_crop(const models::InputContract& in, const Box& box, int iw, int ih) {
  const IntBox b = int_box(box);
  if (in.crop == models::CropRule::kScaledBox) return crop_scaled_box(b, in.crop_scale, iw, ih);
  if (in.crop == models::CropRule::kAnchoredBox) return crop_anchored_box(b, in.crop_scale, iw, ih);
  if (in.crop == models::CropRule::kExpandedBox) return crop_expanded_box(b, in.crop_scale, iw, ih);
  return crop_box(b);
}

std::vector<float> softmax(std::span<const float> logits) {
  std::vector<float> p(logits.begin(), logits.end());
  if (p.empty()) return p;
  const float m = *std::max_element(p.begin(), p.end());
  double s = 0;
  for (float& v : p) s += (v = std::exp(v - m));
  for (float& v : p) v = static_cast<float>(v / s);
  return p;
}

std::string entry_name(const models::ModelEntry& e) { return "manifest entry '" + e.id + "'"; }

// Number of values of a session output when its shape is fixed, else -1.
int64_t static_size(const runtime::Session& s, int index) {
  int64_t n = 1;
  for (int64_t d : s.outputs()[static_cast<size_t>(index)].shape) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

// ---- the common part: entry, session, input tensor ---------------------------------------------

class ModelBase : public AttributeModel {
 public:
  ModelBase(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s) : AttributeModel(e, std::move(s)) {}

 protected:
  // Crops `r` from `img`, resizes it to the model input, normalises it and runs the model.
  StatusOr<std::vector<runtime::Tensor>> run_crop(const Image& img, const CropRect& r) const {
    const auto& in = entry_.input;
    const int w = in.width(), h = in.height(), c = in.norm.channels();
    if (r.w < 2 || r.h < 2 || r.x >= img.width || r.y >= img.height) {
      return invalid_argument("face region " + std::to_string(r.w) + "x" + std::to_string(r.h) + " at (" +
                              std::to_string(r.x) + "," + std::to_string(r.y) + ") is too small or outside the " +
                              std::to_string(img.width) + "x" + std::to_string(img.height) + " image for " +
                              entry_name(entry_) + ": pass a face box (and landmarks) inside the image");
    }
    std::vector<float> input(static_cast<size_t>(c) * w * h);
    // A grey input takes the weights of the entry's gray_source (see the manifest).
    image::crop_resize_planar(img, r.x, r.y, r.w, r.h, w, h, in.norm, input.data());
    runtime::TensorRef ref{input, {1, c, h, w}};
    auto out = session_->run({&ref, 1});
    if (!out.ok()) return out.status().with_context(entry_name(entry_));
    return out;
  }
};

Status check_input(const models::ModelEntry& e, bool face_crop_rule) {
  const auto& in = e.input;
  if (in.shape.size() != 4 || in.height() <= 0 || in.width() <= 0) {
    return invalid_argument(entry_name(e) +
                            ": input.shape must be NCHW with fixed height and width, e.g. "
                            "[1, 3, 64, 64]: fix input.shape in the manifest");
  }
  if (in.channels() != in.norm.channels()) {
    return invalid_argument(entry_name(e) + ": input.shape has " + std::to_string(in.channels()) +
                            " channels but input.color has " + std::to_string(in.norm.channels()) +
                            ": fix input.color or input.shape in the manifest");
  }
  if (face_crop_rule && !known_face_crop(in.crop)) {
    return invalid_argument(entry_name(e) + ": input.crop '" + std::string(models::name(in.crop)) + "' is not one of " +
                            kFaceCrops + ": fix input.crop in the manifest");
  }
  if (!(in.crop_scale > 0)) {
    return invalid_argument(entry_name(e) + ": input.crop_scale must be > 0: fix it in the manifest");
  }
  return Status::Ok();
}

// ---- age and gender: SSR-Net soft stagewise regression ------------------------------------------
//
// y = V * sum_k sum_i p_k[i] * (i + lambda_local * eta_k[i]) / prod_{j<=k} s_j * (1 + lambda_d * delta_j)
// with s_k bins in stage k (Yang et al., "SSR-Net", IJCAI 2018, eq. 5-7; fr_age.js mergeAge).
// V (ssr_range), lambda_local and lambda_d come from the manifest.
class SsrNet {
 public:
  static StatusOr<SsrNet> create(const models::ModelEntry& e, const runtime::Session& s) {
    SsrNet n;
    const int stages = static_cast<int>(e.number("ssr_stages", 0));
    if (stages < 1) {
      return invalid_argument(entry_name(e) +
                              ": ssr_stages (number of SSR-Net stages, 3 for SSR-Net) is missing: "
                              "add it to the manifest entry");
    }
    for (int k = 1; k <= stages; ++k) {
      const std::string st = "stage" + std::to_string(k);
      FACELENS_ASSIGN_OR_RETURN(int p, models::output_index(e, s, st + "_probs"));
      FACELENS_ASSIGN_OR_RETURN(int o, models::output_index(e, s, st + "_offsets"));
      FACELENS_ASSIGN_OR_RETURN(int d, models::output_index(e, s, st + "_delta"));
      n.stages_.push_back({p, o, d});
    }
    n.range_ = e.number("ssr_range", 0);
    n.lambda_local_ = e.number("ssr_lambda_local", 0);
    n.lambda_d_ = e.number("ssr_lambda_d", 0);
    if (!(n.range_ > 0)) {
      return invalid_argument(entry_name(e) + ": ssr_range (the regression range V) must be > 0: fix the manifest");
    }
    return n;
  }

  StatusOr<double> decode(const std::vector<runtime::Tensor>& out) const {
    double y = 0, denom = 1;
    for (const Stage& st : stages_) {
      const auto& p = out[static_cast<size_t>(st.probs)].data;
      const auto& eta = out[static_cast<size_t>(st.offsets)].data;
      const auto& delta = out[static_cast<size_t>(st.delta)].data;
      if (p.empty() || eta.size() != p.size() || delta.empty()) {
        return internal_error("SSR-Net stage outputs have " + std::to_string(p.size()) + " probabilities, " +
                              std::to_string(eta.size()) + " offsets and " + std::to_string(delta.size()) +
                              " deltas: expected equal non-zero bin counts and one delta");
      }
      denom *= static_cast<double>(p.size()) * (1 + lambda_d_ * delta[0]);
      double sum = 0;
      for (size_t i = 0; i < p.size(); ++i) sum += (static_cast<double>(i) + lambda_local_ * eta[i]) * p[i];
      y += sum / denom;
    }
    return y * range_;
  }

 private:
  struct Stage {
    int probs, offsets, delta;
  };
  std::vector<Stage> stages_;
  double range_ = 0, lambda_local_ = 0, lambda_d_ = 0;
};

class AgeModel final : public ModelBase {
 public:
  AgeModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, SsrNet n)
      : ModelBase(e, std::move(s)), net_(std::move(n)) {}

  Status apply(const Image& img, const Box& box, const std::optional<FivePoints>&, Attributes* out) const override {
    FACELENS_ASSIGN_OR_RETURN(auto t, run_crop(img, face_crop(entry_.input, box, img.width, img.height)));
    FACELENS_ASSIGN_OR_RETURN(double age, net_.decode(t));
    out->age = static_cast<float>(age);
    return Status::Ok();
  }

 private:
  SsrNet net_;
};

// The regressed value g (about 0..1) is read as the probability of labels[1]; labels[1] is chosen
// when g > thresholds.<labels[1]> (0.5 when absent).
class GenderModel final : public ModelBase {
 public:
  GenderModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, SsrNet n)
      : ModelBase(e, std::move(s)),
        net_(std::move(n)),
        threshold_(e.threshold(e.labels.size() == 2 ? e.labels[1] : "", 0.5)) {}

  Status apply(const Image& img, const Box& box, const std::optional<FivePoints>&, Attributes* out) const override {
    FACELENS_ASSIGN_OR_RETURN(auto t, run_crop(img, face_crop(entry_.input, box, img.width, img.height)));
    FACELENS_ASSIGN_OR_RETURN(double g, net_.decode(t));
    const float p1 = static_cast<float>(std::clamp(g, 0.0, 1.0));
    const bool second = g > threshold_;
    out->gender = entry_.labels[second ? 1 : 0];
    out->gender_score = second ? p1 : 1 - p1;
    return Status::Ok();
  }

 private:
  SsrNet net_;
  double threshold_;
};

// ---- expression: softmax classifier -------------------------------------------------------------
class ExpressionModel final : public ModelBase {
 public:
  ExpressionModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int logits)
      : ModelBase(e, std::move(s)), logits_(logits) {}

  Status apply(const Image& img, const Box& box, const std::optional<FivePoints>&, Attributes* out) const override {
    FACELENS_ASSIGN_OR_RETURN(auto t, run_crop(img, face_crop(entry_.input, box, img.width, img.height)));
    const std::vector<float> p = softmax(t[static_cast<size_t>(logits_)].data);
    if (p.size() != entry_.labels.size()) {
      return invalid_argument("model '" + session_->model_path() + "' gave " + std::to_string(p.size()) + " classes, " +
                              entry_name(entry_) + " has " + std::to_string(entry_.labels.size()) +
                              " labels: fix labels in the manifest");
    }
    const size_t best = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    out->expression = entry_.labels[best];
    out->expression_score = p[best];
    return Status::Ok();
  }

 private:
  int logits_;
};

// ---- head pose: binned classification, angle = expectation over the bins (Hopenet) ------------
// angle = angle_min + bin_width * sum_i softmax(logits)_i * i   (fr_pose.js predictPose:
// 66 bins of 3 degrees from -99; Ruiz et al., "Fine-Grained Head Pose Estimation Without
// Keypoints", CVPRW 2018).
class PoseModel final : public ModelBase {
 public:
  PoseModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, std::array<int, 3> idx)
      : ModelBase(e, std::move(s)),
        idx_(idx),
        bin_width_(e.number("bin_width_degrees", 0)),
        angle_min_(e.number("angle_min_degrees", 0)) {}

  Status apply(const Image& img, const Box& box, const std::optional<FivePoints>&, Attributes* out) const override {
    FACELENS_ASSIGN_OR_RETURN(auto t, run_crop(img, face_crop(entry_.input, box, img.width, img.height)));
    std::array<float, 3> angles{};
    for (size_t a = 0; a < 3; ++a) {
      const std::vector<float> p = softmax(t[static_cast<size_t>(idx_[a])].data);
      double e = 0;
      for (size_t i = 0; i < p.size(); ++i) e += p[i] * static_cast<double>(i);
      angles[a] = static_cast<float>(angle_min_ + bin_width_ * e);
    }
    out->pose = angles;
    return Status::Ok();
  }

 private:
  std::array<int, 3> idx_;  // yaw, pitch, roll outputs
  double bin_width_, angle_min_;
};

// ---- eye closure: one run per eye on a grey square around it -------------------------------------
class EyeModel final : public ModelBase {
 public:
  EyeModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int logits, size_t open)
      : ModelBase(e, std::move(s)),
        logits_(logits),
        open_(open),
        eye_width_iod_(static_cast<float>(e.number("eye_width_iod", 0))) {}

  Status apply(const Image& img, const Box&, const std::optional<FivePoints>& landmarks,
               Attributes* out) const override {
    if (!landmarks) {
      return failed_precondition(entry_name(entry_) +
                                 " (eye closure) needs the five landmarks of the face: "
                                 "run the landmark model first or pass them");
    }
    const Point l = (*landmarks)[0], r = (*landmarks)[1];
    const float iod = std::hypot(r.x - l.x, r.y - l.y);
    const float eye_width = iod * eye_width_iod_;
    std::array<float, 2> open{};
    for (size_t k = 0; k < 2; ++k) {
      const CropRect c = crop_eye_square((*landmarks)[k], eye_width, entry_.input.crop_scale, img.width, img.height);
      FACELENS_ASSIGN_OR_RETURN(auto t, run_crop(img, c));
      const std::vector<float> p = softmax(t[static_cast<size_t>(logits_)].data);
      if (p.size() != entry_.labels.size()) {
        return invalid_argument("model '" + session_->model_path() + "' gave " + std::to_string(p.size()) +
                                " classes, " + entry_name(entry_) + " has " + std::to_string(entry_.labels.size()) +
                                " labels: fix labels in the manifest");
      }
      open[k] = p[open_];
    }
    out->eyes_open = open;
    return Status::Ok();
  }

 private:
  int logits_;
  size_t open_;  // index of the "open" class
  float eye_width_iod_;
};

Status check_labels(const models::ModelEntry& e, const runtime::Session& s, int output) {
  if (e.labels.empty()) {
    return invalid_argument(entry_name(e) + " has no labels: add \"labels\": [...] (one name per class)");
  }
  const int64_t n = static_size(s, output);
  if (n >= 0 && n != static_cast<int64_t>(e.labels.size())) {
    return invalid_argument("model '" + s.model_path() + "' has " + std::to_string(n) + " classes, " + entry_name(e) +
                            " lists " + std::to_string(e.labels.size()) + " labels: fix labels in the manifest");
  }
  return Status::Ok();
}

using ModelPtr = std::shared_ptr<const AttributeModel>;

StatusOr<ModelPtr> create_ssr(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, bool gender) {
  FACELENS_RETURN_IF_ERROR(check_input(e, /*face_crop_rule=*/true));
  FACELENS_ASSIGN_OR_RETURN(SsrNet net, SsrNet::create(e, *s));
  if (!gender) return ModelPtr(std::make_shared<AgeModel>(e, std::move(s), std::move(net)));
  if (e.labels.size() != 2) {
    return invalid_argument(entry_name(e) +
                            ": a gender model needs two labels, [value near 0, value near 1], "
                            "e.g. [\"female\", \"male\"]: fix labels in the manifest");
  }
  return ModelPtr(std::make_shared<GenderModel>(e, std::move(s), std::move(net)));
}

StatusOr<ModelPtr> create_expression(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s) {
  FACELENS_RETURN_IF_ERROR(check_input(e, /*face_crop_rule=*/true));
  FACELENS_ASSIGN_OR_RETURN(int logits, models::output_index(e, *s, "logits"));
  FACELENS_RETURN_IF_ERROR(check_labels(e, *s, logits));
  return ModelPtr(std::make_shared<ExpressionModel>(e, std::move(s), logits));
}

StatusOr<ModelPtr> create_pose(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s) {
  FACELENS_RETURN_IF_ERROR(check_input(e, /*face_crop_rule=*/true));
  std::array<int, 3> idx{};
  const char* roles[3] = {"yaw", "pitch", "roll"};
  for (size_t a = 0; a < 3; ++a) {
    FACELENS_ASSIGN_OR_RETURN(idx[a], models::output_index(e, *s, roles[a]));
  }
  if (!(e.number("bin_width_degrees", 0) > 0) || e.numbers.count("angle_min_degrees") == 0) {
    return invalid_argument(entry_name(e) +
                            ": a pose model needs bin_width_degrees (> 0) and angle_min_degrees "
                            "(angle = angle_min + bin_width * expected bin): add them to the manifest");
  }
  return ModelPtr(std::make_shared<PoseModel>(e, std::move(s), idx));
}

StatusOr<ModelPtr> create_eye(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s) {
  FACELENS_RETURN_IF_ERROR(check_input(e, /*face_crop_rule=*/false));
  if (e.input.crop != models::CropRule::kEyeSquare) {
    return invalid_argument(entry_name(e) + ": input.crop '" + std::string(models::name(e.input.crop)) +
                            "' is not a crop the eye model knows (eye_square): fix input.crop in the manifest");
  }
  if (!(e.number("eye_width_iod", 0) > 0)) {
    return invalid_argument(entry_name(e) +
                            ": eye_width_iod (eye width / distance between the eye centres) must be "
                            "> 0: add it to the manifest");
  }
  FACELENS_ASSIGN_OR_RETURN(int logits, models::output_index(e, *s, "logits"));
  FACELENS_RETURN_IF_ERROR(check_labels(e, *s, logits));
  const auto it = std::find(e.labels.begin(), e.labels.end(), "open");
  if (it == e.labels.end()) {
    return invalid_argument(entry_name(e) + ": labels must name the \"open\" class: fix labels in the manifest");
  }
  return ModelPtr(std::make_shared<EyeModel>(e, std::move(s), logits, static_cast<size_t>(it - e.labels.begin())));
}

}  // namespace

StatusOr<std::shared_ptr<const AttributeModel>> create_attribute_model(
    const models::ModelEntry& entry, std::shared_ptr<const runtime::Session> session) {
  using models::Family;
  const std::optional<Family> f = entry.family;
  const bool known =
      f == Family::kAge || f == Family::kGender || f == Family::kExpression || f == Family::kPose || f == Family::kEye;
  if (!known) {
    return unimplemented(entry_name(entry) + ": attribute family '" + std::string(models::name(f)) +
                         "' is not implemented; known families: age, gender, expression, pose, eye");
  }
  if (!session) return invalid_argument(entry_name(entry) + ": no session given: open the model's session first");
  if (f == Family::kAge) return create_ssr(entry, std::move(session), /*gender=*/false);
  if (f == Family::kGender) return create_ssr(entry, std::move(session), /*gender=*/true);
  if (f == Family::kExpression) return create_expression(entry, std::move(session));
  if (f == Family::kPose) return create_pose(entry, std::move(session));
  return create_eye(entry, std::move(session));
}

}  // namespace facelens::attributes
