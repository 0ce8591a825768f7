// facelens — plain value types shared by the public API. Coordinates are pixels of the original
// (decoded, EXIF-oriented) image, x to the right, y down; boxes are [x1, y1, x2, y2].
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace facelens {

struct Point {
  float x = 0;
  float y = 0;
};

struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
  float area() const { return width() > 0 && height() > 0 ? width() * height() : 0.f; }
};

// Intersection over union of two boxes (0 when either is empty).
float iou(const Box& a, const Box& b);

// A tensor's declared element type and shape; symbolic or unknown dims are -1 (name in dim_names).
struct TensorDesc {
  std::string name;
  std::string element_type;  // "float32", "float16", "int64", ...
  std::vector<int64_t> shape;
  std::vector<std::string> dim_names;  // same length as shape; "" for fixed dims
  std::string shape_string() const;    // "1x3x112x112", "batchx512"
};

// The five alignment points: left eye, right eye, nose tip, left and right mouth corner
// (left/right as seen in the image).
using FivePoints = std::array<Point, 5>;

struct Liveness {
  float score = 0;    // probability that the face is live, 0..1
  bool live = false;  // score >= threshold
  float threshold = 0;
  std::vector<float> probabilities;  // the model's class probabilities
};

struct Attributes {
  std::optional<float> age;               // years
  std::optional<std::string> gender;      // "male" / "female"
  std::optional<float> gender_score;      // probability of `gender`
  std::optional<std::string> expression;  // e.g. "neutral", "happy"
  std::optional<float> expression_score;
  std::optional<std::array<float, 3>> pose;       // yaw, pitch, roll in degrees
  std::optional<std::array<float, 2>> eyes_open;  // probability, left and right eye
};

// A deepfake (face manipulation) classifier's verdict on one face.
struct Deepfake {
  float score = 0;    // probability that the face is manipulated, 0..1
  bool fake = false;  // score >= threshold
  float threshold = 0;
};

struct Face {
  Box box;
  float score = 0;
  std::optional<FivePoints> landmarks;
  std::vector<float> embedding;  // L2-normalised; empty unless asked
  // Face quality from the recognizer, when it gives one: AdaFace's feature norm (higher = a
  // clearer face; comparable only between faces of the same model).
  std::optional<float> quality;
  std::optional<Deepfake> deepfake;  // when a deepfake model is configured and asked for
  std::optional<Liveness> liveness;
  std::optional<Attributes> attributes;
};

// The index of the face with the largest box (the first of equal ones); `faces` is not empty.
size_t largest_face(std::span<const Face> faces);

}  // namespace facelens
