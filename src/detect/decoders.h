// Detector pre- and post-processing shared by the detector families: fitting an image into the
// model input (stretch or letterbox) and the per-family decoders of raw model outputs. Pure
// functions on values the caller owns (unit-tested on hand-made tensors); thread-safe.
//
//   detect::InputMap map;
//   std::vector<float> input = detect::prepare_input(img, entry, &map);   // NCHW, one image
//   ... run the model ...
//   auto cand = detect::decode_yolov5face(out.data, /*score_threshold=*/0.5f);   // input pixels
//   auto faces = detect::finish(std::move(cand), map, img.width, img.height, entry.detector,
//                               /*suppress_threshold=*/0.5f, 100);
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "detect/detector.h"
#include "facelens/image.h"
#include "models/manifest.h"

namespace facelens::detect {

// How model-input pixels map back to the original image: x_orig = (x_in - offset_x) / scale_x.
struct InputMap {
  float scale_x = 1, scale_y = 1;
  float offset_x = 0, offset_y = 0;
  Point to_original(Point p) const { return {(p.x - offset_x) / scale_x, (p.y - offset_y) / scale_y}; }
};

// How a letterbox scales the image (manifest key "letterbox_scale"): "fit" enlarges or shrinks
// it to fill the input along one side; "down_only" never enlarges it (a smaller image keeps its
// pixels and lies in the padding), as OpenCV's FaceDetectorYN runs YuNet on the image's own
// size padded at the bottom-right, never upscaled.
enum class LetterboxScale { kFit, kDownOnly };
StatusOr<LetterboxScale> parse_letterbox_scale(const std::string& name);
const char* letterbox_scale_name(LetterboxScale s);
// The entry's letterbox_scale ("fit" when absent); InvalidArgument naming the entry otherwise.
StatusOr<LetterboxScale> letterbox_scale_of(const models::ModelEntry& entry);

// The placement of a w x h image in a model input of W x H: "stretch" fills it; "letterbox"
// keeps the aspect ratio (resized size = floor(w * s) with s = min(W/w, H/h), and s <= 1 for
// kDownOnly), aligned "top_left" or "center" (offset = floor of half the free space).
struct Placement {
  int resized_width = 0, resized_height = 0;
  int offset_x = 0, offset_y = 0;
  InputMap map;
};
Placement place(int w, int h, int input_width, int input_height, models::ResizeRule resize, const std::string& align,
                LetterboxScale scale = LetterboxScale::kFit);

// The model input for `img` as `entry` describes it (input.resize, letterbox_align,
// letterbox_scale, pad_value, colour order, mean/std): 1 x C x H x W floats. The entry's keys
// were checked when its detector was made (letterbox_scale_of).
std::vector<float> prepare_input(const Image& img, const models::ModelEntry& entry, InputMap* map);
// The same for the region (x, y, w, h) of `img` taken as the image (a tile, tiling.h); `map`
// maps to the region's pixels.
std::vector<float> prepare_input(const Image& img, int x, int y, int w, int h, const models::ModelEntry& entry,
                                 InputMap* map);

// A detection in model-input pixels, before NMS and mapping back.
struct Candidate {
  Box box;
  float score = 0;
  std::optional<FivePoints> keypoints;
};

// SCRFD, one stride: scores [n*A], boxes [n*A,4] distances (in strides) from the anchor centre
// (x1,y1,x2,y2 = c - d0, c - d1, c + d2, c + d3), keypoints [n*A,10] offsets or empty; anchor
// centres (col*stride, row*stride) for a rows x cols grid, A anchors per cell, cell-major.
void decode_scrfd_level(std::span<const float> scores, std::span<const float> boxes, std::span<const float> kps,
                        int stride, int rows, int cols, int anchors, float score_threshold,
                        std::vector<Candidate>* out);

// YuNet, one stride: cls and obj [n], boxes [n,4] (cx = (col+b0)*s, w = exp(b2)*s), keypoints
// [n,10] ((col+k)*s); score = sqrt(cls*obj) when `sqrt_score`, else cls*obj.
void decode_yunet_level(std::span<const float> cls, std::span<const float> obj, std::span<const float> boxes,
                        std::span<const float> kps, int stride, int rows, int cols, bool sqrt_score,
                        float score_threshold, std::vector<Candidate>* out);

// YOLOv5-face rows of 16: cx, cy, w, h, obj, 5 x (x, y), cls; score = obj * cls.
std::vector<Candidate> decode_yolov5face(std::span<const float> rows, float score_threshold);
// YOLOv8-face [20, n] (channel-major): cx, cy, w, h, score, 5 x (x, y, visibility).
std::vector<Candidate> decode_yolov8face(std::span<const float> data, int n, float score_threshold);
// YOLOv10 end-to-end rows of 6 (x1, y1, x2, y2, score, class) or 6 + 15 (then 5 x (x, y, v));
// rows of another class than `face_class` are dropped.
std::vector<Candidate> decode_yolov10(std::span<const float> rows, int row_width, int face_class,
                                      float score_threshold);

// The detector's selection, as its manifest entry states it (`contract`): keeps the
// contract.max_candidates best-scoring candidates (0 = all), maps them to original pixels, clips
// boxes to the image, applies contract.suppression with `suppress_threshold` when it is >= 0 (else
// keeps all), drops empty boxes and keeps at most max_faces (0 = all), best score first. Each
// detection's crop_box follows contract.box_shape (from the unclipped box).
std::vector<Detection> finish(std::vector<Candidate> cand, const InputMap& map, int image_width, int image_height,
                              const models::DetectorContract& contract, float suppress_threshold, int max_faces);

// finish() with tile candidates beside the whole photo's (tiling.h): `tiled` are in the same
// model-input frame as `cand` (`map`), cut faces already dropped and each tile's candidates
// capped at contract.max_candidates. `cand` is selected exactly as finish() selects it; `tiled`
// goes through the same suppression among itself, and a tile box that conflicts with a kept
// whole-photo box under that rule (hard_nms_iou: IoU > threshold; bottom_first_own_area: either
// box would drop the other) is dropped. Needs suppress_threshold >= 0 when `tiled` is not empty.
std::vector<Detection> finish_tiled(std::vector<Candidate> cand, std::vector<Candidate> tiled, const InputMap& map,
                                    int image_width, int image_height, const models::DetectorContract& contract,
                                    float suppress_threshold, int max_faces);

}  // namespace facelens::detect
