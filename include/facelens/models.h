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
  int64_t n_parameters = 0;        // elements of all initializers
  std::vector<TensorDesc> inputs;  // graph inputs that are not initializers
  std::vector<TensorDesc> outputs;
};

StatusOr<ModelDescription> inspect_model(const std::string& path);

// What facelens takes a model file for (`facelens models inspect FILE`, EngineOptions::*_file):
// the manifest entry with the file's sha256 when one of the searched manifests lists it, else the
// entry of its family (the one named, or the first whose input/output signature the file fits).
struct ModelFileMatch {
  std::string family;         // "scrfd", "arcface", ...
  std::string task;           // "detector", "recognizer", ...
  std::string how;            // "manifest", "named" or "signature"
  std::string manifest_path;  // the manifest of the entry, when how is "manifest"
  std::string entry_id;
  std::vector<std::string> alternatives;  // other families the signature also fits
  std::string entry_json;                 // the entry in the schema of models/manifest.json
};
// Searches by sha256 the manifests of `models_dir` (manifest.json, extra.json; "" = none) and
// `manifest` ("" = none); `family` "" = recognise it. Errors: not an ONNX file, an unknown family,
// a signature no family fits (the message lists the families).
StatusOr<ModelFileMatch> match_model_file(const std::string& path, const std::string& family,
                                          const std::string& models_dir, const std::string& manifest = "");

}  // namespace facelens
