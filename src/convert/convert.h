// Model converters: float16, int8 (static QDQ from calibration data, or weight-only) and a
// symbolic batch dimension. They edit the ONNX protobuf in memory: serialized model bytes in,
// serialized model bytes out, so callers need no protobuf headers.
//
//   FACELENS_ASSIGN_OR_RETURN(std::string bytes, models::read_model_file("fr_feature.onnx"));
//   models::Fp16Options o;
//   o.keep_fp32_ops = {"Softmax"};
//   FACELENS_ASSIGN_OR_RETURN(auto half, models::convert_fp16(bytes, o));
//   FACELENS_RETURN_IF_ERROR(models::write_model_file(out_path, half.model));
//
// Every converted model keeps the original's graph inputs and outputs (names, float32 type), so
// the services that run it do not change. Converters do not check accuracy: measure the drift
// against the original (convert/drift_eval.h) before using a converted model.
// Thread-safety: pure functions; quantize_int8_static runs ONNX Runtime sessions on a temporary
// file of its own. Units: none.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facelens/convert.h"
#include "facelens/status.h"
#include "runtime/environment.h"
#include "runtime/session.h"

namespace facelens::models {

// Bumped whenever a converter's output changes for the same input: part of the key of the
// automatic precision cache (convert/precision_cache.h), so stale variants are rebuilt.
inline constexpr int kConverterVersion = 7;  // 4: BatchNorm rewrites, uint8 Resize; 5: Concat; 6: equalization;
// 7: a Concat of unlike ranges unquantized, clip-keeping Concat sharing, near-zero BatchNorm left float

// One conversion step, as the public API reports it (include/facelens/convert.h).
using ConversionInfo = ConvertStep;

struct Converted {
  std::string model;  // serialized ModelProto
  ConversionInfo info;
};

StatusOr<std::string> read_model_file(const std::string& path);
// Writes through a temporary file in the same folder, renamed into place: a reader never sees
// a half-written model.
Status write_model_file(const std::string& path, const std::string& bytes);

// ---- float16 -------------------------------------------------------------------------------
// Ops kept in float32 by default: no float16 kernel in ONNX Runtime's providers or float32-only
// inputs (Resize/Upsample scales, NonMaxSuppression, RoiAlign, Range), random generators, and
// reductions that overflow float16 (sum of squares, L2, log-sum-exp, product).
const std::vector<std::string>& fp16_block_list();

struct Fp16Options {
  // Extra op types to keep in float32, e.g. numerically sensitive ones: "Softmax", "ReduceMean".
  std::vector<std::string> keep_fp32_ops;
};
// Initializers and computation in float16; graph inputs and outputs stay float32 through Cast
// nodes; blocked ops stay float32 with Casts around them; value_info is inferred again.
StatusOr<Converted> convert_fp16(const std::string& model, const Fp16Options& options);

// ---- int8 ------------------------------------------------------------------------------------
// kMinMax: the observed range; kPercentile: the range that keeps `percentile` % of the values;
// kMse: the clipping range with the least expected squared quantization error.
enum class CalibrationMethod { kMinMax, kPercentile, kMse };

// What static quantization does with PRelu (ONNX Runtime has no int8 PRelu kernel). kKeep: the
// PRelu stays, computed in float32 between DequantizeLinear and QuantizeLinear. kAuto: one slope
// for all channels becomes LeakyRelu; per-channel slopes become y*s + Relu(y*(1-s)) when every
// 1-s >= 0, else y*s + Relu(y)*(1-s); all of them have int8 kernels. kReluFirst: like kAuto,
// always y*s + Relu(y)*(1-s).
enum class PreluRewrite { kKeep, kAuto, kReluFirst };

// Type of the quantized activations (weights are always int8). ONNX Runtime's x86 kernels
// (MLAS) are built for uint8 activations with int8 weights; it converts int8 activation pairs to
// uint8 itself, but not a QuantizeLinear read by several DequantizeLinear nodes, and an op whose
// input and output types then differ is left in float32.
enum class ActivationType { kUint8, kInt8 };
const char* calibration_method_name(CalibrationMethod m);

struct Int8Options {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;  // kPercentile: keep this share (%) of each activation's values
  // Per-output-channel weight scales for Conv and MatMul, and for Gemm when it stays float32
  // (a Gemm computing in int8 gets one scale: see convert_int8.cpp).
  bool per_channel = true;
  // The converter (convert/converter.h) equalizes channel ranges on the calibration samples
  // first (equalize_channels); quantize_int8_static itself does not look at this.
  bool equalize_channels = true;
  // Op types whose inputs and outputs are not quantized (they run in float32 between
  // DequantizeLinear and QuantizeLinear).
  std::vector<std::string> keep_fp32_ops;
  // Nodes (by name) left in float32: weights, inputs and outputs; e.g. a sensitive last layer.
  std::vector<std::string> keep_fp32_nodes;
  // Nodes (by name) with int8 weights but float32 inputs and outputs (weight-only).
  std::vector<std::string> weight_only_nodes;
  // Activations (by tensor name) left without a QuantizeLinear/DequantizeLinear pair.
  std::vector<std::string> keep_fp32_tensors;
  // true: the output of a quantized op is quantized even when only float32 ops use it (PRelu,
  // Softmax...: no int8 kernel in ONNX Runtime), so the op itself runs in int8 (faster). false:
  // such ops keep int8 weights but compute in float32 (one rounding less per layer).
  bool round_before_float_ops = true;
  PreluRewrite prelu = PreluRewrite::kAuto;
  ActivationType activations = ActivationType::kUint8;
  // Weights in 7 bits (-63..63): x86 without VNNI multiplies uint8 x int8 pairs with
  // VPMADDUBSW, whose int16 sums can saturate at full 8-bit range (ONNX Runtime's quantization
  // docs, "reduce_range").
  bool reduce_range = true;
};

// One calibration sample: one tensor per model input, in the model's input order, prepared as
// the pipeline prepares that model's input (see convert/samples.h).
using CalibrationSample = std::vector<runtime::Tensor>;

// Static QDQ quantization: signed int8 weights (symmetric, per channel), uint8 (or int8)
// activations (asymmetric, ranges from running `samples` through the model), int32 biases for Conv/Gemm.
// BatchNormalization after a Conv is folded into it first; a Relu (or Clip at 0) after a
// quantized op is absorbed into its QuantizeLinear. Opsets below 13 use the com.microsoft
// QuantizeLinear/DequantizeLinear (per-channel needs opset 13 in ai.onnx).
// `calibrated` (optional) receives the activation ranges, for quantizing again with other kept
// nodes without running the samples again.
using ActivationRanges = std::map<std::string, std::pair<float, float>>;  // tensor -> [lo, hi]
StatusOr<Converted> quantize_int8_static(const std::string& model, std::span<const CalibrationSample> samples,
                                         const Int8Options& options, std::shared_ptr<const runtime::Environment> env,
                                         ActivationRanges* calibrated = nullptr);
// The float32 graph that static quantization quantizes: constants as initializers, every node
// named, BatchNormalization folded into its Conv, PRelu rewritten as `options.prelu` says, ai.onnx
// opset 11 or later. It computes the same outputs as `model` up to float32 rounding (tests compare
// them); the Relu folding and the QuantizeLinear/DequantizeLinear pairs come after it.
StatusOr<std::string> int8_float_graph(const std::string& model, const Int8Options& options);
// The same with ranges from an earlier calibration with the same options but fewer (or the same)
// keep_fp32_nodes.
StatusOr<Converted> quantize_int8_static(const std::string& model, const ActivationRanges& ranges,
                                         const Int8Options& options);
// The weighted nodes (Conv, Gemm, MatMul) in the order mixed precision keeps them in float32:
// nearest to an end of the network first (first layers and output heads are the most sensitive
// to quantization), the output end before the input end on ties.
StatusOr<std::vector<std::string>> int8_sensitivity_order(const std::string& model);
// Channel equalization before static quantization, which gives every activation one scale for
// all its channels: for each Conv whose output feeds (through a PRelu or Relu, which commute with
// a positive per-channel factor) only a depthwise Conv, output channel c of the Conv (weights and
// bias) is divided by f_c and channel c of the depthwise Conv multiplied by f_c, with f_c the
// channel's largest |value| on `samples` over the tensor's largest (at least 1/100). The outputs
// are the same in float32; per-channel int8 weights absorb the factors; every channel of the
// activation then spans the 8-bit range instead of a few steps of it. (Cross-layer equalization
// of Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
// Correction", driven by measured activation ranges.) On the default recognizer (MobileFaceNet)
// it raises the int8 embedding cosine from min 0.957 / mean 0.981 to 0.980 / 0.989 (README).
// The result is the float32 graph static quantization works on (int8_float_graph with
// PreluRewrite::kKeep), equalized; quantize it with quantize_int8_static.
StatusOr<Converted> equalize_channels(const std::string& model, std::span<const CalibrationSample> samples,
                                      std::shared_ptr<const runtime::Environment> env);
// Weight-only quantization (no calibration): Conv/Gemm/MatMul weights stored as int8 with a
// DequantizeLinear in front; computation stays float32. About four times smaller files.
StatusOr<Converted> quantize_int8_weights(const std::string& model, const Int8Options& options);

// ---- dynamic batch -------------------------------------------------------------------------
// Makes dimension 0 of every graph input (and of outputs whose dimension 0 is 1) the symbolic
// "batch", and rewrites Reshape shape constants with a hard-coded leading 1 on a batched tensor
// to 0 (copy the batch). value_info is inferred again.
StatusOr<Converted> make_batch_dynamic(const std::string& model);

struct BatchCheck {
  int batch = 0;
  double max_abs_diff_batch1 = 0;  // converted vs original, batch of one
  double max_abs_diff_batchn = 0;  // converted batch of `batch` vs `batch` single runs
};
// Runs `original` and `converted` (files) on deterministic pseudo-random inputs and compares.
StatusOr<BatchCheck> check_dynamic_batch(const std::string& original, const std::string& converted, int batch,
                                         std::shared_ptr<const runtime::Environment> env);

}  // namespace facelens::models
