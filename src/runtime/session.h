// One model file on one or several devices: created once, immutable, shared by all threads
// (run() is thread-safe; each call allocates its own outputs). Float32 inputs/outputs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facelens/runtime_info.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "runtime/environment.h"

namespace Ort {
struct Session;
struct MemoryInfo;
}  // namespace Ort

namespace facelens::runtime {

enum class GraphOptimization { kDisabled, kBasic, kExtended, kAll };

struct SessionOptions {
  int intra_op_threads = 0;  // 0: ONNX Runtime's default (one per physical core)
  int inter_op_threads = 1;
  // Spinning idle threads burn the other core on a 2-core machine; off by default (measured in
  // tools/bench/stage_bench: spinning on made the surrounding pre/post-processing slower).
  bool allow_spinning = false;
  GraphOptimization graph_optimization = GraphOptimization::kAll;
  // Where ONNX Runtime writes the graph it runs after its optimisations ("" = nowhere): what the
  // int8 tests look at (which DequantizeLinear/QuantizeLinear pairs it fused away).
  std::string optimized_model_path;
  // Execution provider and its CUDA options (see facelens/runtime_options.h).
  // service.device_ids lists the CUDA devices: one ONNX Runtime session per device (a device
  // pool), each call going to the device with the fewest calls in flight.
  ResolvedServiceOptions service;
  // On the CPU, the number of identical sessions in the pool (for tests of the balancing logic;
  // one CPU session already uses every core).
  int cpu_replicas = 1;
  bool require_gpu = false;  // no CPU fallback: an error saying why CUDA cannot be used
  std::string cuda_ep_path;  // "" = next to the loaded libonnxruntime (the CLI reads $FACELENS_CUDA_EP)
  // Run through an IoBinding (inputs copied to the device once, outputs bound to host memory and
  // copied back once). Always on for CUDA sessions; on CPU only when asked (tests compare paths).
  bool io_binding = false;
  // With io_binding: inputs are first copied into tensors of a staging allocator and outputs bound
  // to its memory. Always on for CUDA sessions, where the staging memory is the device's pinned
  // host memory (OrtDeviceMemoryType_HOST_ACCESSIBLE: DMA instead of pageable copies); on the CPU
  // only when asked, with the CPU allocator (tests compare it with plain runs).
  bool stage_io = false;
  // The input shapes the service feeds (for the first inputs, in model order). On CUDA the session
  // runs once on zeros of these shapes at creation: the check that it really runs there (cuDNN,
  // kernels) and the warm-up of the cuDNN algorithm search for these shapes. Inputs without one:
  // their fixed dims, 1 for symbolic ones.
  std::vector<std::vector<int64_t>> probe_shapes;
  // On CUDA, batch sizes the service will also feed (e.g. the dynamic batcher's): each is run once
  // at creation too, so that cuDNN's search for it is not paid by a request. Inputs whose batch
  // dim is fixed ignore it.
  std::vector<int64_t> warmup_batches;
};

// cudnn_conv_algo_search for one session. EXHAUSTIVE searches again for every new input shape:
// kept when the shapes are fixed (the model's own dims, or probe shapes the caller feeds, warmed
// up at creation); a model with symbolic dims beyond the batch and no probe shapes (a detector fed
// images of any size) gets HEURISTIC. `reason` says why when the value differs from `configured`.
struct ConvSearchChoice {
  std::string value;
  std::string reason;
};
ConvSearchChoice conv_algo_search_for(const std::string& configured, std::span<const TensorDesc> inputs,
                                      std::span<const std::vector<int64_t>> probe_shapes);

// The shapes run at creation, one per input: `probe_shapes[i]` when given, else input i's dims;
// symbolic (negative) dims become 1.
std::vector<std::vector<int64_t>> probe_shapes_for(std::span<const TensorDesc> inputs,
                                                   std::span<const std::vector<int64_t>> probe_shapes);

// Every run made at creation on CUDA, each one shape per input: the probe shapes, then the same
// with each distinct warm-up batch size > 1 on the inputs whose batch dim is symbolic (none when
// no input has one).
std::vector<std::vector<std::vector<int64_t>>> creation_runs(std::span<const TensorDesc> inputs,
                                                             std::span<const std::vector<int64_t>> probe_shapes,
                                                             std::span<const int64_t> warmup_batches);

struct RunFlags {
  // Return the memory arena's free chunks to the system at the end of this run
  // (ORT run option memory.enable_memory_arena_shrinkage).
  bool shrink_arena = false;
};

using TensorSpec = TensorDesc;

// Input for run(): borrowed data, row-major, with its shape.
struct TensorRef {
  std::span<const float> data;
  std::vector<int64_t> shape;
};

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Views of `tensors` (valid while they live), e.g. to run a stored sample again.
std::vector<TensorRef> refs_of(std::span<const Tensor> tensors);

std::string shape_to_string(std::span<const int64_t> shape);

// The index of the smallest queue depth; ties go to the first at or after `start` (so equal
// loads rotate). Returns 0 for an empty list.
size_t pick_least_loaded(std::span<const int> depths, size_t start);

class Session {
 public:
  static StatusOr<std::shared_ptr<const Session>> create(std::shared_ptr<const Environment> env,
                                                         const std::string& model_path, const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  const std::string& model_path() const { return path_; }
  // The execution provider the session really runs on ("CUDAExecutionProvider" or
  // "CPUExecutionProvider"), and why CUDA is not used when it was asked for or tried ("" else).
  const std::string& provider() const { return provider_; }
  const std::string& fallback_reason() const { return fallback_reason_; }
  // On the CPU because this install has no CUDA provider (Environment::cuda_absent): the
  // expected place when the provider is auto.
  bool cuda_absent() const { return cuda_absent_; }
  // CUDA device ids of the pool (empty on the CPU).
  std::vector<int> device_ids() const;
  size_t n_replicas() const;
  // Calls in flight and calls served, per replica (for health output and tests).
  std::vector<int> queue_depths() const;
  std::vector<int64_t> calls_served() const;
  bool uses_io_binding() const;
  // Inputs/outputs staged in pinned host memory (CUDA) or the CPU allocator (stage_io on the CPU),
  // and on CUDA why pinned memory is not used when it is not (the session then copies through
  // pageable memory).
  bool uses_staging() const;
  const std::string& staging_error() const { return staging_error_; }
  // Where ONNX Runtime runs the nodes (its recorded graph assignment, first replica), and why
  // that record is missing when it is.
  const std::vector<EpPlacement>& placement() const { return placement_; }
  const std::string& placement_error() const { return placement_error_; }
  // On CUDA: the cudnn_conv_algo_search value used, and why it differs from the configured one.
  const std::string& conv_algo_search() const { return conv_search_.value; }
  const std::string& conv_algo_search_reason() const { return conv_search_.reason; }
  // Index of the output with this name, or -1.
  int output_index(const std::string& name) const;
  // The model file's custom metadata (ONNX metadata_props), e.g. facelens.synthetic.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Runs the model on `inputs` (one per model input, in model order) and returns every output
  // in model order. Shapes are checked against the model's fixed dims first.
  StatusOr<std::vector<Tensor>> run(std::span<const TensorRef> inputs, RunFlags flags = {}) const;
  // The next run on each replica shrinks its memory arena (as RunFlags::shrink_arena).
  void request_arena_shrink() const;

  struct Replica;

 private:
  Session() = default;
  std::shared_ptr<const Environment> env_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::unique_ptr<Ort::MemoryInfo> cpu_memory_;
  std::vector<TensorSpec> inputs_, outputs_;
  std::vector<std::string> input_names_, output_names_;
  std::map<std::string, std::string> metadata_;
  std::string path_;
  std::string provider_;
  std::string fallback_reason_;
  bool cuda_absent_ = false;
  std::vector<EpPlacement> placement_;
  std::string placement_error_;
  std::string staging_error_;
  ConvSearchChoice conv_search_;
  mutable std::atomic<size_t> next_{0};
};

}  // namespace facelens::runtime
