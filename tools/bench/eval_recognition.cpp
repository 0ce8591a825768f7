// Recognition quality of the configured models on the labelled photos of ../shared/data:
// - verification: every pair of labelled faces, ROC AUC, equal error rate, TAR at FAR 1e-3, the
//   threshold with the best accuracy, accuracy and false-accept / false-reject rates at the
//   manifest threshold and at that one;
// - identification: leave-one-out nearest neighbour over face_api_js (8 people x 5) and openface.
//   build/tools/bench/eval_recognition [--models DIR] [--data DIR]
// Prints one JSON object. Used to calibrate thresholds.match in models/manifest.json.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "facelens/calibration.h"
#include "facelens/engine.h"
#include "recognize/recognizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

struct Sample {
  std::string path, person, set;
  std::vector<float> embedding;
};

static std::string person_of_face_api(const std::string& stem) {
  std::string p = stem;
  while (!p.empty() && std::isdigit(static_cast<unsigned char>(p.back()))) p.pop_back();
  return p;
}

int main(int argc, char** argv) {
  std::string data = FACELENS_TEST_DATA, models;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--data")) data = argv[++i];
    else if (!std::strcmp(argv[i], "--models")) models = argv[++i];
  }
  if (!fs::is_directory(data + "/faces")) {
    std::cerr << "eval_recognition: no labelled photos at " << data << "/faces (pass --data DIR)\n";
    return 2;
  }
  facelens::EngineOptions eo;
  eo.models_dir = models;
  auto engine = facelens::Engine::create(eo);
  if (!engine.ok()) {
    std::cerr << engine.status().to_string() << "\n";
    return 1;
  }
  std::vector<Sample> samples;
  auto add = [&](const fs::path& p, const std::string& person, const std::string& set) {
    samples.push_back({p.string(), person, set, {}});
  };
  const std::string f = data + "/faces/";
  for (const auto& e : fs::directory_iterator(f + "face_api_js"))
    if (e.path().extension() == ".png") add(e.path(), person_of_face_api(e.path().stem().string()), "face_api_js");
  for (const char* n : {"lennon-1", "lennon-2", "clapton-1", "clapton-2", "adams", "carell"})
    add(f + "openface/" + n + ".jpg", std::string(n).substr(0, std::string(n).find('-')), "openface");
  for (const auto& d : fs::directory_iterator(f + "face_recognition/knn/train"))
    for (const auto& e : fs::directory_iterator(d.path())) add(e.path(), d.path().filename().string(), "knn_train");
  // Every other one-person photo of face_recognition/ (obama.jpg, obama2.jpg and biden.jpg are
  // byte-identical to their knn/train copies, so they are not added twice).
  for (const char* n : {"obama3.jpg", "obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg",
                        "obama_small.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "knn/test/obama1.jpg"})
    add(f + "face_recognition/" + n, "obama", "face_recognition");
  add(f + "face_recognition/lin-manuel-miranda.png", "lin_manuel_miranda", "face_recognition");
  add(f + "face_recognition/alex-lacamoire.png", "alex_lacamoire", "face_recognition");
  add(f + "face_recognition/knn/test/alex_lacamoire1.jpg", "alex_lacamoire", "face_recognition");
  add(f + "face_recognition/knn/test/johnsnow_test1.jpg", "kit_harington", "face_recognition");
  std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) { return a.path < b.path; });

  facelens::AnalyzeOptions what;
  what.embedding = true;
  json skipped = json::array();
  std::vector<Sample> used;
  for (auto& s : samples) {
    auto r = (*engine)->analyze_file(s.path, what);
    if (!r.ok() || r->faces.empty()) {
      skipped.push_back({{"image", s.path}, {"why", r.ok() ? "no face" : r.status().to_string()}});
      continue;
    }
    // The largest face is the labelled one.
    auto& face = *std::max_element(r->faces.begin(), r->faces.end(),
                                   [](const auto& a, const auto& b) { return a.box.area() < b.box.area(); });
    s.embedding = face.embedding;
    used.push_back(s);
  }

  // Verification over all pairs (the maths of include/facelens/calibration.h, as `facelens calibrate`).
  std::vector<facelens::ScoredPair> pairs;
  for (size_t i = 0; i < used.size(); ++i)
    for (size_t j = i + 1; j < used.size(); ++j)
      pairs.push_back(
          {facelens::recognize::cosine(used[i].embedding, used[j].embedding), used[i].person == used[j].person});
  size_t n_pos = 0;
  for (auto& p : pairs) n_pos += p.same;
  std::vector<float> pos, neg;
  for (auto& p : pairs) (p.same ? pos : neg).push_back(p.score);
  std::sort(neg.begin(), neg.end());
  const double auc = facelens::roc_auc(pairs);
  auto at = [&](float t) {
    const auto r = facelens::rates_at(pairs, t);
    return json{{"threshold", t}, {"accuracy", r.accuracy}, {"far", r.far}, {"frr", r.frr}};
  };
  const float best_t = facelens::best_accuracy(pairs).threshold;
  // Equal error rate: the point of the ROC curve where FAR and FRR are closest (their mean there).
  double eer = 1, eer_gap = 2;
  float eer_t = 1;
  for (const auto& p : facelens::roc_curve(pairs)) {
    const double frr = 1 - p.tar;
    if (std::abs(p.far - frr) < eer_gap) {
      eer_gap = std::abs(p.far - frr);
      eer = (p.far + frr) / 2;
      eer_t = p.threshold;
    }
  }
  auto at_far = facelens::threshold_for_far(pairs, 1e-3);
  // The lowest threshold with no false accept.
  auto no_fa = facelens::threshold_for_far(pairs, 0.0);
  const float far0 = no_fa.ok() ? no_fa->threshold : 1.f;

  // Leave-one-out identification per set.
  json loo = json::object();
  for (const char* set : {"face_api_js", "openface"}) {
    int n = 0, correct = 0, correct_above = 0;
    for (size_t i = 0; i < used.size(); ++i) {
      if (used[i].set != set) continue;
      float best = -2;
      const Sample* who = nullptr;
      for (size_t j = 0; j < used.size(); ++j) {
        if (j == i || used[j].set != set) continue;
        float c = facelens::recognize::cosine(used[i].embedding, used[j].embedding);
        if (c > best) {
          best = c;
          who = &used[j];
        }
      }
      ++n;
      if (who && who->person == used[i].person) {
        ++correct;
        if (best >= (*engine)->match_threshold()) ++correct_above;
      }
    }
    loo[set] = {{"images", n},
                {"top1_accuracy", n ? static_cast<double>(correct) / n : 0.0},
                {"top1_accuracy_above_threshold", n ? static_cast<double>(correct_above) / n : 0.0}};
  }

  std::sort(pos.begin(), pos.end());
  json out = {
      {"images", used.size()},
      {"highest_impostor_similarity", neg.empty() ? 0.f : neg.back()},
      {"lowest_genuine_similarities", std::vector<float>(pos.begin(), pos.begin() + std::min<size_t>(5, pos.size()))},
      {"pairs", pairs.size()},
      {"same_person_pairs", n_pos},
      {"roc_auc", auc},
      {"eer", {{"rate", eer}, {"threshold", eer_t}}},
      {"tar_at_far_1e-3", at_far.ok()
                              ? json{{"tar", 1 - at_far->frr}, {"far", at_far->far}, {"threshold", at_far->threshold}}
                              : json(at_far.status().to_string())},
      {"manifest_threshold", at((*engine)->match_threshold())},
      {"best_accuracy_threshold", at(best_t)},
      {"lowest_threshold_without_false_accept", at(far0)},
      {"leave_one_out", loo},
      {"skipped", skipped}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
