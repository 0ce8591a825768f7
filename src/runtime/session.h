// One ONNX Runtime inference session for one model file: created once, immutable, shared by all
// threads (run() is thread-safe; each call allocates its own outputs). Float32 inputs/outputs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facelens/status.h"
#include "facelens/types.h"
#include "runtime/environment.h"

namespace Ort {
struct Session;
struct MemoryInfo;
}

namespace facelens::runtime {

enum class GraphOptimization { kDisabled, kBasic, kExtended, kAll };

struct SessionOptions {
  int intra_op_threads = 0;  // 0: ONNX Runtime's default (one per physical core)
  int inter_op_threads = 1;
  // Spinning idle threads burn the other core on a 2-core machine; off by default (measured in
  // bench/stage_bench: spinning on made the surrounding pre/post-processing slower).
  bool allow_spinning = false;
  GraphOptimization graph_optimization = GraphOptimization::kAll;
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

std::string shape_to_string(std::span<const int64_t> shape);

class Session {
 public:
  static StatusOr<std::shared_ptr<const Session>> create(std::shared_ptr<const Environment> env,
                                                         const std::string& model_path,
                                                         const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  const std::string& model_path() const { return path_; }
  // The execution provider the session really runs on.
  const std::string& provider() const { return provider_; }
  // Index of the input/output with this name, or -1.
  int input_index(const std::string& name) const;
  int output_index(const std::string& name) const;

  // Runs the model on `inputs` (one per model input, in model order) and returns every output
  // in model order. Shapes are checked against the model's fixed dims first.
  StatusOr<std::vector<Tensor>> run(std::span<const TensorRef> inputs) const;

 private:
  Session() = default;
  std::shared_ptr<const Environment> env_;
  std::unique_ptr<Ort::Session> session_;
  std::unique_ptr<Ort::MemoryInfo> cpu_memory_;
  std::vector<TensorSpec> inputs_, outputs_;
  std::vector<std::string> input_names_, output_names_;
  std::string path_;
  std::string provider_;
};

}  // namespace facelens::runtime
