// The model manifest (models/manifest.json): one entry per model file with its sha256 and every
// fact about its contract. Parsed once; entries are immutable values afterwards.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "facelens/status.h"
#include "image/tensor.h"

namespace facelens::models {

struct InputContract {
  std::string name;
  std::vector<int64_t> shape;  // NCHW; -1 for a symbolic batch
  image::Normalization norm;   // colour order, mean and std (on 0..255 values)
  std::string resize = "stretch";  // "stretch", "letterbox", "align5"
  std::string crop = "box";        // for face models: "box", "scaled_box"
  float crop_scale = 1.0f;
  int channels() const { return shape.size() == 4 ? static_cast<int>(shape[1]) : 0; }
  int height() const { return shape.size() == 4 ? static_cast<int>(shape[2]) : 0; }
  int width() const { return shape.size() == 4 ? static_cast<int>(shape[3]) : 0; }
};

struct ModelEntry {
  std::string id;
  std::string file;
  std::string sha256;
  std::string package;
  std::string package_path;
  std::string task;    // "detector", "landmarks", "recognizer", "liveness", "attribute", "deepfake"
  std::string family;  // "ultraface", "mobilefacenet", ...
  InputContract input;
  std::map<std::string, std::string> outputs;  // role -> output tensor name
  std::map<std::string, double> thresholds;
  std::map<std::string, double> numbers;       // other numeric facts (embedding_size, live_index...)
  std::map<std::string, std::string> strings;  // other text facts (activation, notes...)
  std::vector<std::string> labels;             // class names, for classifiers
  std::string license;
  std::string source;

  double threshold(const std::string& key, double fallback) const;
  double number(const std::string& key, double fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
};

struct Manifest {
  std::string path;
  std::vector<ModelEntry> models;
  std::map<std::string, std::string> defaults;  // service -> model id

  const ModelEntry* find(const std::string& id) const;
  // The entry the manifest names as default for a service ("detector", ...), or nullptr.
  const ModelEntry* default_for(const std::string& service) const;
};

StatusOr<Manifest> load_manifest(const std::string& path);
StatusOr<Manifest> parse_manifest(const std::string& json_text, const std::string& origin);

}  // namespace facelens::models
