#include "convert/drift_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "align/aligner.h"
#include "attributes/attributes.h"
#include "detect/detector.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "models/binding.h"
#include "recognize/recognizer.h"
#include "services/factory.h"

namespace facelens::optimize {

namespace {

using Sessions = std::pair<std::shared_ptr<const runtime::Session>, std::shared_ptr<const runtime::Session>>;

bool ends_with_path(const std::string& path, const std::string& suffix) {
  if (suffix.empty() || suffix.size() > path.size()) return false;
  if (path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  return suffix.size() == path.size() || path[path.size() - suffix.size() - 1] == '/' || suffix.front() == '/';
}

Status compare_raw(const models::ModelEntry& entry, const Sessions& s, const SampleSet& set, int max_samples,
                   models::DriftReport& r) {
  FACELENS_ASSIGN_OR_RETURN(auto inputs, model_inputs(entry, set, max_samples));
  for (const auto& sample : inputs) {
    const auto refs = runtime::refs_of(sample);
    FACELENS_ASSIGN_OR_RETURN(auto a, s.first->run(refs));
    FACELENS_ASSIGN_OR_RETURN(auto b, s.second->run(refs));
    if (a.size() != b.size()) return internal_error("the converted model has other outputs than the original");
    for (size_t o = 0; o < a.size(); ++o) {
      if (a[o].data.size() != b[o].data.size()) {
        return internal_error("output '" + s.first->outputs()[o].name + "' changed size: " +
                              std::to_string(a[o].data.size()) + " -> " + std::to_string(b[o].data.size()));
      }
      double norm = 0, diff = 0;
      for (size_t i = 0; i < a[o].data.size(); ++i) {
        norm = std::max(norm, static_cast<double>(std::fabs(a[o].data[i])));
        diff = std::max(diff, static_cast<double>(std::fabs(a[o].data[i] - b[o].data[i])));
      }
      r.max_abs_diff = std::max(r.max_abs_diff, diff);
      // A scalar or (nearly) zero output has no direction: the cosine of 0.0012 and 0.0 is 0 and
      // says nothing. Such outputs agree (1) when they differ by at most 1% (+0.01 absolute).
      if (a[o].data.size() == 1 || norm < 1e-3) {
        r.output_cosine.add(diff <= 0.01 + 0.01 * norm ? 1.0 : 0.0);
        continue;
      }
      r.output_cosine.add(models::cosine(a[o].data, b[o].data));
    }
  }
  r.n_samples = static_cast<int>(inputs.size());
  return Status::Ok();
}

Status compare_recognizer(const models::ModelEntry& entry, const Sessions& s, const SampleSet& set,
                          const DriftOptions& o, models::DriftReport& r) {
  FACELENS_ASSIGN_OR_RETURN(auto ra, services::make<models::Task::kRecognizer>(entry, s.first));
  FACELENS_ASSIGN_OR_RETURN(auto rb, services::make<models::Task::kRecognizer>(entry, s.second));
  r.threshold = o.match_threshold >= 0 ? o.match_threshold : entry.match_threshold();
  r.far = o.far;
  // The largest face of each image, embedded by both models.
  struct Item {
    size_t image;
    std::vector<float> a, b;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < set.images.size(); ++i) {
    const auto& si = set.images[i];
    std::vector<Image> aligned;
    std::vector<int> idx;
    for (size_t k = 0; k < si.faces.size(); ++k) {
      if (!si.faces[k].five || si.faces[k].score < o.min_face_score) continue;
      aligned.push_back(align::align_face(si.image, *si.faces[k].five, ra->input_size()));
      idx.push_back(static_cast<int>(k));
    }
    if (aligned.empty()) continue;
    FACELENS_ASSIGN_OR_RETURN(auto ea, ra->embed(aligned));
    FACELENS_ASSIGN_OR_RETURN(auto eb, rb->embed(aligned));
    const int largest = si.largest_face(o.min_face_score);
    for (size_t k = 0; k < ea.size(); ++k) {
      r.embedding_cosine.add(recognize::cosine(ea[k], eb[k]));
      if (idx[k] == largest) items.push_back({i, ea[k], eb[k]});
    }
  }
  std::vector<double> gen_a, imp_a, gen_b, imp_b;
  for (size_t x = 0; x < items.size(); ++x) {
    for (size_t y = x + 1; y < items.size(); ++y) {
      const double sa = recognize::cosine(items[x].a, items[y].a);
      const double sb = recognize::cosine(items[x].b, items[y].b);
      ++r.n_pairs;
      if ((sa >= r.threshold) != (sb >= r.threshold)) ++r.decision_flips;
      const std::string& ia = set.images[items[x].image].identity;
      const std::string& ib = set.images[items[y].image].identity;
      const bool genuine = !ia.empty() && ia == ib;
      (genuine ? gen_a : imp_a).push_back(sa);
      (genuine ? gen_b : imp_b).push_back(sb);
    }
  }
  r.tar_original = models::tar_at_far(gen_a, imp_a, o.far);
  r.tar_converted = models::tar_at_far(gen_b, imp_b, o.far);
  for (const auto& [pa, pb] : o.key_pairs) {
    const Item* a = nullptr;
    const Item* b = nullptr;
    for (const auto& it : items) {
      if (!a && ends_with_path(set.images[it.image].path, pa)) a = &it;
      if (!b && ends_with_path(set.images[it.image].path, pb)) b = &it;
    }
    if (!a || !b) continue;
    ++r.n_key_pairs;
    const double sa = recognize::cosine(a->a, b->a), sb = recognize::cosine(a->b, b->b);
    if ((sa >= r.threshold) != (sb >= r.threshold)) ++r.key_pair_flips;
    r.notes.push_back(pa + " / " + pb + ": similarity " + std::to_string(sa).substr(0, 6) + " -> " +
                      std::to_string(sb).substr(0, 6) + ((sb >= r.threshold) ? " (match)" : " (no match)"));
  }
  return Status::Ok();
}

Status compare_detector(const models::ModelEntry& entry, const Sessions& s, const SampleSet& set, const DriftOptions& o,
                        models::DriftReport& r) {
  auto da = services::make<models::Task::kDetector>(entry, s.first);
  if (!da.ok() && da.status().code() == StatusCode::kUnimplemented) {
    r.notes.push_back("boxes not compared: " + da.status().message());
    return Status::Ok();
  }
  if (!da.ok()) return da.status();
  FACELENS_ASSIGN_OR_RETURN(auto db, services::make<models::Task::kDetector>(entry, s.second));
  r.boxes_compared = true;
  double worst = 2;
  std::string worst_note;
  models::Stats low_iou;
  int low_unmatched = 0;
  for (const auto& si : set.images) {
    FACELENS_ASSIGN_OR_RETURN(auto a, (*da)->detect(si.image));
    FACELENS_ASSIGN_OR_RETURN(auto b, db->detect(si.image));
    std::vector<Box> ba, bb;
    for (const auto& d : a) ba.push_back(d.box);
    for (const auto& d : b) bb.push_back(d.box);
    const auto m = models::match_boxes(ba, bb, 0.3);
    // Detections below min_face_score (in both models) are reported, not held to the bounds.
    std::vector<char> used_a(a.size(), 0), used_b(b.size(), 0);
    for (const auto& [i, j] : m.pairs) used_a[i] = used_b[j] = 1;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].score >= o.min_face_score) ++r.n_faces_original;
      if (!used_a[i]) ++(a[i].score >= o.min_face_score ? r.n_unmatched : low_unmatched);
    }
    for (size_t j = 0; j < b.size(); ++j)
      if (!used_b[j]) ++(b[j].score >= o.min_face_score ? r.n_unmatched : low_unmatched);
    for (size_t k = 0; k < m.pairs.size(); ++k) {
      if (std::max(a[m.pairs[k].first].score, b[m.pairs[k].second].score) < o.min_face_score) {
        low_iou.add(m.ious[k]);
        continue;
      }
      r.box_iou.add(m.ious[k]);
      if (m.ious[k] < worst) {
        worst = m.ious[k];
        worst_note = "lowest box IoU " + std::to_string(worst).substr(0, 6) + " in " + si.path + " (scores " +
                     std::to_string(a[m.pairs[k].first].score).substr(0, 5) + " / " +
                     std::to_string(b[m.pairs[k].second].score).substr(0, 5) + ")";
      }
      r.max_score_diff = std::max(
          r.max_score_diff, static_cast<double>(std::fabs(a[m.pairs[k].first].score - b[m.pairs[k].second].score)));
    }
  }
  if (!worst_note.empty()) r.notes.push_back(worst_note);
  if (!low_iou.empty() || low_unmatched) {
    r.notes.push_back("detections scored below " + std::to_string(o.min_face_score).substr(0, 4) +
                      " (not bounded): " + std::to_string(low_iou.n) + " matched, IoU min " +
                      (low_iou.empty() ? std::string("-") : std::to_string(low_iou.min).substr(0, 6)) + ", " +
                      std::to_string(low_unmatched) + " unmatched");
  }
  return Status::Ok();
}

Status compare_landmarks(const models::ModelEntry& entry, const Sessions& s, const SampleSet& set,
                         const DriftOptions& o, models::DriftReport& r) {
  FACELENS_ASSIGN_OR_RETURN(auto la, services::make<models::Task::kLandmarks>(entry, s.first));
  FACELENS_ASSIGN_OR_RETURN(auto lb, services::make<models::Task::kLandmarks>(entry, s.second));
  for (const auto& si : set.images) {
    for (const auto& f : si.faces) {
      if (f.score < o.min_face_score) continue;
      auto pa = la->predict68(si.image, f.box);
      if (!pa.ok()) continue;
      FACELENS_ASSIGN_OR_RETURN(auto pb, lb->predict68(si.image, f.box));
      double sum = 0;
      for (size_t k = 0; k < pa->size(); ++k) sum += std::hypot((*pa)[k].x - pb[k].x, (*pa)[k].y - pb[k].y);
      const double size = std::max<double>(1.0, std::max(f.box.width(), f.box.height()));
      r.landmark_error.add(sum / static_cast<double>(pa->size()) / size);
    }
  }
  return Status::Ok();
}

// Flips of labels the original decided within flip_margin of their threshold: reported, not
// counted in label_flips.
void note_near_threshold_flips(int near, const DriftOptions& o, models::DriftReport& r) {
  if (near == 0) return;
  r.notes.push_back(std::to_string(near) + " label(s) flipped within " + std::to_string(o.flip_margin).substr(0, 4) +
                    " of the decision threshold (not held to the bounds)");
}

Status compare_liveness(const models::ModelEntry& entry, const Sessions& s, const SampleSet& set, const DriftOptions& o,
                        models::DriftReport& r) {
  FACELENS_ASSIGN_OR_RETURN(auto la, services::make<models::Task::kLiveness>(entry, s.first));
  FACELENS_ASSIGN_OR_RETURN(auto lb, services::make<models::Task::kLiveness>(entry, s.second));
  int near = 0;  // flips of faces the original scored within flip_margin of the threshold
  for (const auto& si : set.images) {
    for (const auto& f : si.faces) {
      if (f.score < o.min_face_score) continue;
      auto a = la->score(si.image, f.box);
      if (!a.ok()) continue;
      FACELENS_ASSIGN_OR_RETURN(auto b, lb->score(si.image, f.box));
      for (size_t k = 0; k < a->probabilities.size() && k < b.probabilities.size(); ++k)
        r.max_probability_diff =
            std::max(r.max_probability_diff, static_cast<double>(std::fabs(a->probabilities[k] - b.probabilities[k])));
      ++r.n_labels;
      if (a->live != b.live) {
        // A face the original scores within flip_margin of the threshold may flip on rounding.
        if (std::fabs(a->score - a->threshold) < o.flip_margin) ++near;
        else ++r.label_flips;
      }
    }
  }
  note_near_threshold_flips(near, o, r);
  return Status::Ok();
}

Status compare_attribute(const models::ModelEntry& entry, const Sessions& s, const SampleSet& set,
                         const DriftOptions& o, models::DriftReport& r) {
  FACELENS_ASSIGN_OR_RETURN(auto ma, services::make<models::Task::kAttribute>(entry, s.first));
  FACELENS_ASSIGN_OR_RETURN(auto mb, services::make<models::Task::kAttribute>(entry, s.second));
  int near = 0;  // flips of labels the original decided within flip_margin of its threshold
  double age = 0, pose = 0;
  auto prob = [&](double a, double b) { r.max_probability_diff = std::max(r.max_probability_diff, std::fabs(a - b)); };
  for (const auto& si : set.images) {
    for (const auto& f : si.faces) {
      if (f.score < o.min_face_score) continue;
      Attributes a, b;
      if (!ma->apply(si.image, f.box, f.five, &a).ok()) continue;
      FACELENS_RETURN_IF_ERROR(mb->apply(si.image, f.box, f.five, &b));
      if (a.age && b.age) age = std::max(age, static_cast<double>(std::fabs(*a.age - *b.age)));
      if (a.gender && b.gender) {
        ++r.n_labels;
        if (*a.gender != *b.gender) {
          // gender_score is the probability of the label chosen: near 0.5, either label is a guess.
          if (a.gender_score && *a.gender_score - 0.5f < o.flip_margin) ++near;
          else ++r.label_flips;
        } else if (a.gender_score && b.gender_score) prob(*a.gender_score, *b.gender_score);
      }
      if (a.expression && b.expression) {
        ++r.n_labels;
        if (*a.expression != *b.expression) ++r.label_flips;
        else if (a.expression_score && b.expression_score) prob(*a.expression_score, *b.expression_score);
      }
      if (a.eyes_open && b.eyes_open) {
        for (int k = 0; k < 2; ++k) {
          ++r.n_labels;
          if (((*a.eyes_open)[k] >= 0.5f) != ((*b.eyes_open)[k] >= 0.5f)) {
            if (std::fabs((*a.eyes_open)[k] - 0.5f) < o.flip_margin) ++near;
            else ++r.label_flips;
          }
          prob((*a.eyes_open)[k], (*b.eyes_open)[k]);
        }
      }
      if (a.pose && b.pose)
        for (int k = 0; k < 3; ++k) pose = std::max(pose, static_cast<double>(std::fabs((*a.pose)[k] - (*b.pose)[k])));
    }
  }
  if (age > 0) r.notes.push_back("age: max difference " + std::to_string(age).substr(0, 5) + " years");
  if (pose > 0) r.notes.push_back("head pose: max difference " + std::to_string(pose).substr(0, 5) + " degrees");
  note_near_threshold_flips(near, o, r);
  return Status::Ok();
}

}  // namespace

StatusOr<models::DriftReport> measure_drift(const models::ModelEntry& entry, const std::string& original,
                                            const std::string& converted, const SampleSet& set,
                                            const DriftOptions& options,
                                            std::shared_ptr<const runtime::Environment> env) {
  models::DriftReport r;
  r.model = entry.id;
  r.task = models::name(entry.task);
  r.original_path = original;
  r.converted_path = converted;
  std::error_code ec;
  r.original_bytes = static_cast<int64_t>(std::filesystem::file_size(original, ec));
  r.converted_bytes = static_cast<int64_t>(std::filesystem::file_size(converted, ec));
  r.n_images = static_cast<int>(set.images.size());
  runtime::SessionOptions so;
  so.service.provider = Provider::kCpu;
  FACELENS_ASSIGN_OR_RETURN(auto sa, models::open_session_unverified(original, entry, env, so));
  auto sb = models::open_session_unverified(converted, entry, env, so);
  if (!sb.ok()) return sb.status().with_context("the converted model does not load in ONNX Runtime");
  const Sessions s{sa, *sb};
  FACELENS_RETURN_IF_ERROR(compare_raw(entry, s, set, options.max_samples, r));
  using models::Task;
  if (entry.task == Task::kRecognizer) FACELENS_RETURN_IF_ERROR(compare_recognizer(entry, s, set, options, r));
  else if (entry.task == Task::kDetector) FACELENS_RETURN_IF_ERROR(compare_detector(entry, s, set, options, r));
  else if (entry.task == Task::kLandmarks) FACELENS_RETURN_IF_ERROR(compare_landmarks(entry, s, set, options, r));
  else if (entry.task == Task::kLiveness) FACELENS_RETURN_IF_ERROR(compare_liveness(entry, s, set, options, r));
  else if (entry.task == Task::kAttribute) FACELENS_RETURN_IF_ERROR(compare_attribute(entry, s, set, options, r));
  else r.notes.push_back("task '" + r.task + "': raw outputs compared only");
  return r;
}

StatusOr<double> measure_latency(const std::string& model_path, const models::CalibrationSample& input, int runs,
                                 int warmup, int threads, std::shared_ptr<const runtime::Environment> env) {
  runtime::SessionOptions so;
  so.intra_op_threads = threads;
  so.service.provider = Provider::kCpu;
  FACELENS_ASSIGN_OR_RETURN(auto s, runtime::Session::create(std::move(env), model_path, so));
  const auto refs = runtime::refs_of(input);
  for (int i = 0; i < warmup; ++i) FACELENS_RETURN_IF_ERROR(s->run(refs).status());
  std::vector<double> ms;
  for (int i = 0; i < std::max(1, runs); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    FACELENS_RETURN_IF_ERROR(s->run(refs).status());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

}  // namespace facelens::optimize
