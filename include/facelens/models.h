// facelens — looking at model files.
//
//   auto d = facelens::inspect_model("models/fr_feature.onnx");
//   if (d.ok()) for (auto& in : d->inputs) std::cout << in.name << " " << in.shape_string();
//
// Reads the ONNX protobuf directly (no inference session): works for any ONNX file, with a
// clear error for one that is not ONNX. Thread-safe; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens {

struct ModelDescription {
  std::string path;
  int64_t file_bytes = 0;
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string graph_name;
  std::vector<std::pair<std::string, int64_t>> opsets;  // domain ("" = ai.onnx) -> version
  int64_t n_nodes = 0;
  int64_t n_parameters = 0;  // elements of all initializers
  std::vector<TensorDesc> inputs;   // graph inputs that are not initializers
  std::vector<TensorDesc> outputs;
};

StatusOr<ModelDescription> inspect_model(const std::string& path);

}  // namespace facelens
