// Helpers the model converters share for editing an ONNX graph held as a protobuf (Debian's
// libonnx-dev): parsing, tensor data access, float16 encoding, consumer/producer maps, names,
// shape inference. Private to src/models/ (includes the ONNX protobuf headers); callers outside
// use convert/convert.h. Pure functions on values the caller owns; no shared state.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "facelens/status.h"

namespace facelens::models::graph {

// Parses serialized ModelProto bytes; `origin` names the source in errors.
StatusOr<onnx::ModelProto> parse_model(const std::string& bytes, const std::string& origin);
StatusOr<std::string> serialize_model(const onnx::ModelProto& model);

// Version of `domain` ("" = ai.onnx) in the model's opset imports; 0 when absent.
int64_t opset_version(const onnx::ModelProto& model, const std::string& domain);
// Adds the import when absent (keeps an existing one as is).
void ensure_opset(onnx::ModelProto& model, const std::string& domain, int64_t version);

// Number of elements of a tensor of this shape.
int64_t element_count(const onnx::TensorProto& t);
// The float32 values of a FLOAT tensor (raw_data or float_data).
StatusOr<std::vector<float>> read_floats(const onnx::TensorProto& t);
// The values of an INT64 (or INT32) tensor.
StatusOr<std::vector<int64_t>> read_ints(const onnx::TensorProto& t);
// Replaces the contents (data_type, raw_data) of `t`, keeping its name and dims.
void set_floats(onnx::TensorProto& t, std::span<const float> values);
void set_int64s(onnx::TensorProto& t, std::span<const int64_t> values);
void set_int8s(onnx::TensorProto& t, std::span<const int8_t> values);
void set_uint8s(onnx::TensorProto& t, std::span<const uint8_t> values);
void set_int32s(onnx::TensorProto& t, std::span<const int32_t> values);
// Stores `values` as FLOAT16; returns how many finite values were clamped to +-65504.
int set_float16s(onnx::TensorProto& t, std::span<const float> values);

// IEEE 754 binary16 encoding, round to nearest even; finite values beyond the range saturate to
// +-65504 (a float16 infinity in a weight would poison every output).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

// Makes a tensor with this name, dims and data.
onnx::TensorProto make_float_tensor(const std::string& name, std::vector<int64_t> dims, std::span<const float> values);

// Producers and consumers of every value name in the main graph (subgraphs are not looked into).
struct GraphIndex {
  std::map<std::string, int> producer;                // value -> node index
  std::map<std::string, std::vector<int>> consumers;  // value -> node indexes (once per node)
  std::map<std::string, int> initializer;             // name -> index in graph.initializer
  std::set<std::string> graph_inputs;                 // non-initializer inputs
  std::set<std::string> graph_outputs;
};
GraphIndex index_graph(const onnx::GraphProto& g);

// A value name not used in `g` yet, derived from `base`; remembers what it handed out.
class NameMaker {
 public:
  explicit NameMaker(const onnx::GraphProto& g);
  std::string make(const std::string& base);

 private:
  std::set<std::string> used_;
};

// Moves the tensors of Constant nodes into initializers (so that converters see every constant
// in one place) and drops initializers from graph.input (allowed from IR version 4). Returns the
// number of Constant nodes moved.
int normalize_constants(onnx::ModelProto& model);

// Names every unnamed node "<op_type>_<index>" (unique), so that nodes can be referred to by name.
void name_nodes(onnx::ModelProto& model);

// Element type of every value the graph declares or ONNX shape inference can infer (graph
// inputs, initializers, value_info, outputs). Runs inference on a copy; never fails: values it
// cannot type are absent from the map.
std::map<std::string, int32_t> value_types(const onnx::ModelProto& model, std::string* error = nullptr);

// Clears graph.value_info and fills it again by ONNX shape inference (errors from inference are
// swallowed: value_info is optional for ONNX Runtime). Returns false when inference failed.
bool refresh_value_info(onnx::ModelProto& model, std::string* error = nullptr);

// True when the node has a graph attribute (If, Loop, Scan): converters leave those alone.
bool has_subgraph(const onnx::NodeProto& n);

// Attribute lookups with defaults.
int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback);
float attr_float(const onnx::NodeProto& n, const std::string& name, float fallback);
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name);

}  // namespace facelens::models::graph
