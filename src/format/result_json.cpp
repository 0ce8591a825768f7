#include "facelens/result_json.h"

#include <cmath>
#include <sstream>

namespace facelens::format {

using json = nlohmann::ordered_json;

// Pixel coordinates to 0.01 px and scores to 1e-4: enough for any use, and short lines.
double round_px(double v) { return std::round(v * 100.0) / 100.0; }
double round_score(double v) { return std::round(v * 10000.0) / 10000.0; }

static double r2(double v) { return round_px(v); }
static double r4(double v) { return round_score(v); }

json box_json(const Box& b) { return {r2(b.x1), r2(b.y1), r2(b.x2), r2(b.y2)}; }

namespace {
json deepfake_json(const Deepfake& d) {
  return {{"score", r4(d.score)}, {"fake", d.fake}, {"threshold", r4(d.threshold)}};
}
}  // namespace

json to_json(const Face& f) {
  json j;
  j["box"] = box_json(f.box);
  j["score"] = r4(f.score);
  if (f.landmarks) {
    json pts = json::array();
    for (const auto& p : *f.landmarks) pts.push_back({r2(p.x), r2(p.y)});
    j["landmarks"] = pts;
  }
  if (!f.embedding.empty()) j["embedding"] = f.embedding;
  if (f.quality) j["quality"] = r4(*f.quality);
  if (f.deepfake) j["deepfake"] = deepfake_json(*f.deepfake);
  if (f.liveness) {
    j["liveness"] = {
        {"score", r4(f.liveness->score)}, {"live", f.liveness->live}, {"threshold", r4(f.liveness->threshold)}};
    json probs = json::array();
    for (float p : f.liveness->probabilities) probs.push_back(r4(p));
    j["liveness"]["probabilities"] = probs;
  }
  if (f.attributes) {
    const auto& a = *f.attributes;
    json at = json::object();
    if (a.age) at["age"] = std::round(*a.age * 10) / 10;
    if (a.gender) at["gender"] = {{"label", *a.gender}, {"score", r4(a.gender_score.value_or(0))}};
    if (a.expression) at["expression"] = {{"label", *a.expression}, {"score", r4(a.expression_score.value_or(0))}};
    if (a.pose) at["pose"] = {{"yaw", r2((*a.pose)[0])}, {"pitch", r2((*a.pose)[1])}, {"roll", r2((*a.pose)[2])}};
    if (a.eyes_open) at["eyes_open"] = {{"left", r4((*a.eyes_open)[0])}, {"right", r4((*a.eyes_open)[1])}};
    j["attributes"] = at;
  }
  return j;
}

json to_json(const ImageResult& r) {
  json j;
  j["width"] = r.width;
  j["height"] = r.height;
  json faces = json::array();
  for (const auto& f : r.faces) faces.push_back(to_json(f));
  j["faces"] = faces;
  return j;
}

json to_json(const ImageResult& r, const std::string& image) {
  json j = {{"image", image}};
  j.update(to_json(r));
  return j;
}

json to_json(const VerifyResult& v) {
  json j = {{"similarity", r4(v.similarity)}, {"match", v.match}, {"threshold", r4(v.threshold)}};
  j["box_a"] = box_json(v.face_a.box);
  j["box_b"] = box_json(v.face_b.box);
  if (v.face_a.deepfake) j["deepfake_a"] = deepfake_json(*v.face_a.deepfake);
  if (v.face_b.deepfake) j["deepfake_b"] = deepfake_json(*v.face_b.deepfake);
  return j;
}

json to_json(const GalleryVerifyResult& v) {
  return {{"identity", v.name},
          {"similarity", r4(v.score)},
          {"match", v.match},
          {"threshold", r4(v.threshold)},
          {"box_a", box_json(v.face.box)}};
}

json to_json(const IdentifyResult& r) {
  json faces = json::array();
  for (const auto& f : r.faces) {
    json matches = json::array();
    for (const auto& m : f.matches) matches.push_back({{"name", m.name}, {"score", r4(m.score)}});
    faces.push_back({{"box", box_json(f.face.box)},
                     {"identity", f.identity ? json(f.identity->name) : json(nullptr)},
                     {"score", r4(f.score)},
                     {"matches", matches}});
  }
  return {{"width", r.width}, {"height", r.height}, {"threshold", r4(r.threshold)}, {"faces", faces}};
}

json providers_json(std::span<const ServiceInfo> services) {
  json j = json::object();
  for (const auto& s : services)
    if (s.loaded) j[s.service == "attribute" ? s.model_id : s.service] = s.provider;
  return j;
}

json error_json(const std::string& image, const Status& status) {
  return {{"image", image}, {"error", {{"code", status_code_name(status.code())}, {"message", status.message()}}}};
}

static json tensors_json(const std::vector<TensorDesc>& ts) {
  json arr = json::array();
  for (const auto& t : ts) {
    json shape = json::array();
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (t.shape[i] >= 0) shape.push_back(t.shape[i]);
      else shape.push_back(t.dim_names[i].empty() ? json("?") : json(t.dim_names[i]));
    }
    arr.push_back({{"name", t.name}, {"type", t.element_type}, {"shape", shape}});
  }
  return arr;
}

json to_json(const ModelDescription& d) {
  json opsets = json::object();
  for (const auto& [domain, v] : d.opsets) opsets[domain.empty() ? "ai.onnx" : domain] = v;
  return {{"path", d.path},
          {"file_bytes", d.file_bytes},
          {"ir_version", d.ir_version},
          {"producer", d.producer_name + (d.producer_version.empty() ? "" : " " + d.producer_version)},
          {"graph", d.graph_name},
          {"opsets", opsets},
          {"nodes", d.n_nodes},
          {"parameters", d.n_parameters},
          {"inputs", tensors_json(d.inputs)},
          {"outputs", tensors_json(d.outputs)}};
}

std::string to_text(const ImageResult& r, const std::string& image) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << image << ": " << r.width << "x" << r.height << ", " << r.faces.size()
    << (r.faces.size() == 1 ? " face" : " faces") << "\n";
  for (size_t i = 0; i < r.faces.size(); ++i) {
    const Face& f = r.faces[i];
    o << "  #" << i << " box [" << f.box.x1 << ", " << f.box.y1 << ", " << f.box.x2 << ", " << f.box.y2 << "]";
    o.precision(3);
    o << " score " << f.score;
    if (f.liveness) o << " liveness " << f.liveness->score << (f.liveness->live ? " (live)" : " (spoof)");
    if (f.deepfake) o << " deepfake " << f.deepfake->score << (f.deepfake->fake ? " (fake)" : " (real)");
    if (f.quality) o << " quality " << *f.quality;
    if (!f.embedding.empty()) o << " embedding " << f.embedding.size() << "-d";
    if (f.attributes) {
      const auto& a = *f.attributes;
      if (a.age) o << " age " << *a.age;
      if (a.gender) o << " " << *a.gender;
      if (a.expression) o << " " << *a.expression;
      if (a.pose) o << " yaw/pitch/roll " << (*a.pose)[0] << "/" << (*a.pose)[1] << "/" << (*a.pose)[2];
    }
    o.precision(1);
    o << "\n";
  }
  return o.str();
}

nlohmann::ordered_json to_json(std::span<const EpPlacement> placement) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& p : placement) {
    nlohmann::ordered_json ops = nlohmann::ordered_json::object();
    for (const auto& [op, n] : p.op_types) ops[op] = n;
    out.push_back({{"ep", p.ep}, {"nodes", p.n_nodes}, {"op_types", ops}});
  }
  return out;
}

}  // namespace facelens::format
