// Small ONNX models with known outputs, written by the tests themselves (ONNX protobuf from
// Debian's libonnx-dev), for the model families whose weights cannot be had here: YOLOv10 (with
// and without keypoints), YOLOv8-face, YOLOv5-face, ArcFace/AdaFace-shaped recognizers,
// Xception-style deepfake classifiers, MiniFASNet-shaped liveness models. They have the same
// input/output contract as the real families and outputs that are either constants (detector
// heads encoding known boxes) or simple arithmetic on the input (per-channel mean, then a linear
// map), so that the decoders can be checked exactly.
//
//   auto dir = facelens::testing::GenDir("decoders");          // a fresh temp folder, removed at exit
//   std::string f = dir.path("yolov10.onnx");
//   facelens::testing::write_detector_head(f, {1, 3, 640, 640}, {1, 300, 6}, values);
//
// Functions write one file and abort the test (ADD_FAILURE + return false) on I/O errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace facelens::testing {

// A temporary folder for generated files (under the system temp dir), removed by the destructor.
class GenDir {
 public:
  explicit GenDir(const std::string& tag);
  ~GenDir();
  GenDir(const GenDir&) = delete;
  GenDir& operator=(const GenDir&) = delete;
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// Detector head: input "images" of `input_shape` (NCHW, fixed), one output of `output_shape`
//   output = values + gain * mean(input)
// where mean is the mean of every input element (after the caller's normalisation) and `gain` has
// the output's size (empty = all zeros: a constant head). `output_name` names the output.
bool write_detector_head(const std::string& path, const std::vector<int64_t>& input_shape,
                         const std::vector<int64_t>& output_shape, const std::vector<float>& values,
                         const std::vector<float>& gain = {}, const std::string& output_name = "output0");

// Linear model on the per-channel mean of an image: input "input" [N,3,S,S] (N symbolic when
// `dynamic_batch`), m = mean over H and W [N,3], f = m * weights + bias, weights [3,K] row-major,
// bias [K]. Outputs, by `head`:
//   kLinear:  "output" f [N,K]
//   kSigmoid: "output" sigmoid(f) [N,K]
//   kAdaFace: "feature" f / |f| [N,K] and "norm" |f| [N,1]
enum class LinearHead { kLinear, kSigmoid, kAdaFace };
bool write_linear_model(const std::string& path, int size, const std::vector<float>& weights,
                        const std::vector<float>& bias, LinearHead head, bool dynamic_batch = true);

// A file that is ONNX but fits no family: [1,3,32,32] -> [1,7,7].
bool write_unsupported_model(const std::string& path);

}  // namespace facelens::testing
