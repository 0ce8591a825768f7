// facelens — synthetic reference-design models: architecture-faithful ONNX graphs of YOLOv10n,
// ArcFace IResNet-50, AdaFace IR-101 and Xception with random weights, for timing those
// architectures where their trained weights cannot be had (speed depends on the architecture, not
// on the weights). `facelens models synth ARCH OUT.onnx` is synth_model().
//
//   facelens::SynthOptions o;
//   o.arch = facelens::SynthArch::kArcfaceR50;
//   o.output = "arcface_r50.synthetic.onnx";
//   o.seed = 7;
//   auto r = facelens::synth_model(o);   // r->cost.n_parameters ~ 43.6 M, r->cost.macs ~ 6.3 G
//   auto c = facelens::count_model_cost("any.onnx");   // parameters and MACs of any model file
//
// Every file synth_model() writes carries the metadata property kSyntheticMetadataKey = "true"
// (and the architecture and seed): the Engine refuses such a model (its answers would be
// meaningless), while `facelens bench` and `facelens models convert` accept it (a converted file
// keeps the property).
//
// Thread-safety: pure functions over their arguments. Units: parameters and multiply-accumulates
// (MACs) for one sample (batch 1); FLOPs = 2 x MACs; sizes in bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/status.h"

namespace facelens {

// The ONNX metadata_props entries of a synthetic model.
inline constexpr const char kSyntheticMetadataKey[] = "facelens.synthetic";  // value "true"
inline constexpr const char kSyntheticArchMetadataKey[] = "facelens.synthetic.arch";
inline constexpr const char kSyntheticSeedMetadataKey[] = "facelens.synthetic.seed";

enum class SynthArch {
  kYolov10n,      // "yolov10n": [B,3,640,640] -> [B,300,6] (x1,y1,x2,y2,score,class), NMS-free head
  kArcfaceR50,    // "arcface-r50": insightface IResNet-50, [B,3,112,112] -> [B,512]
  kAdafaceIr101,  // "adaface-ir101": AdaFace IR-101, [B,3,112,112] -> feature [B,512] + norm [B,1]
  kXception,      // "xception": Chollet's Xception, [B,3,299,299] -> logits [B,2]
};
const char* synth_arch_name(SynthArch arch);
StatusOr<SynthArch> parse_synth_arch(std::string_view name);
// Every architecture, in the order above.
const std::vector<SynthArch>& synth_archs();

// What the reference figures of an architecture are (the published parameter count and MACs at
// its input size), for checks and reports.
struct SynthReference {
  double n_parameters = 0;  // of the published model (see `note` where the head differs)
  double macs = 0;          // per sample at the input size
  std::string source;       // where the figures come from
  std::string note;         // how the synthetic graph differs from the figures' model, if at all
};
SynthReference synth_reference(SynthArch arch);

// Parameters (learned weights: Conv/ConvTranspose/Gemm/MatMul weights and biases, BatchNormalization
// scale and bias, PRelu slopes; not BatchNormalization running statistics nor other constants) and
// MACs of Conv, ConvTranspose, Gemm and MatMul with the shapes ONNX shape inference gives at batch 1.
struct ModelCost {
  int64_t n_parameters = 0;
  int64_t macs = 0;
  std::map<std::string, int64_t> macs_by_op;  // op type -> MACs
};
// Errors: not an ONNX file; shapes that inference cannot fix for some counted node (the message
// names it).
StatusOr<ModelCost> count_model_cost(const std::string& path);

struct SynthOptions {
  SynthArch arch = SynthArch::kArcfaceR50;
  std::string output;  // the ONNX file written (replaced when it exists)
  uint64_t seed = 1;   // the same seed gives the same weights
};

struct SynthReport {
  std::string arch;    // synth_arch_name()
  std::string family;  // the facelens model family that reads it ("yolov10", "arcface", ...)
  std::string output;
  int64_t file_bytes = 0;
  std::vector<int64_t> input_shape;  // -1 = the dynamic batch
  std::vector<std::string> outputs;  // output names with shapes, e.g. "output0 [batch,300,6]"
  ModelCost cost;
  SynthReference reference;
};

// Writes the graph of options.arch with random weights (He-scaled, BatchNormalization near unit
// variance, residual branches damped so that activations stay of order one) to options.output.
StatusOr<SynthReport> synth_model(const SynthOptions& options);

// The metadata_props of an ONNX file (key -> value); empty when it has none.
StatusOr<std::map<std::string, std::string>> model_metadata(const std::string& path);

// The report as `facelens models synth` prints it (lines ending in '\n'); as JSON (one object).
std::string synth_report_text(const SynthReport& report);
std::string synth_report_json(const SynthReport& report);

}  // namespace facelens
