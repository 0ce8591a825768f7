#include "convert/samples.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "align/aligner.h"
#include "detect/decoders.h"
#include "detect/detector.h"
#include "image/tensor.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "models/binding.h"
#include "services/factory.h"

namespace facelens::optimize {

namespace fs = std::filesystem;

StatusOr<std::vector<std::string>> list_images(const std::string& dir, int max_images) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found("image folder '" + dir + "' does not exist");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" || ext == ".bmp")
      files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return not_found("no images (jpg, png, webp, bmp) under '" + dir + "'");
  if (max_images > 0 && static_cast<int>(files.size()) > max_images) {
    std::vector<std::string> picked;
    for (int i = 0; i < max_images; ++i) picked.push_back(files[i * files.size() / max_images]);
    files = std::move(picked);
  }
  return files;
}

std::string identity_of(const std::string& path) {
  const fs::path p(path);
  const std::string parent = p.parent_path().filename().string();
  const std::string grand = p.parent_path().parent_path().filename().string();
  if (grand == "train" || grand == "test" || grand == "people" || grand == "identities") return parent;
  std::string stem = p.stem().string();
  size_t cut = stem.size();
  for (size_t i = 0; i < stem.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(stem[i])) || stem[i] == '_') {
      cut = i;
      break;
    }
  }
  stem = stem.substr(0, cut);
  while (!stem.empty() && stem.back() == '-') stem.pop_back();
  std::transform(stem.begin(), stem.end(), stem.begin(), [](unsigned char c) { return std::tolower(c); });
  return stem;
}

int SampleImage::largest_face(float min_score) const {
  int best = -1;
  for (size_t i = 0; i < faces.size(); ++i)
    if (faces[i].score >= min_score && (best < 0 || faces[i].box.area() > faces[best].box.area()))
      best = static_cast<int>(i);
  return best;
}

int SampleSet::n_faces() const {
  int n = 0;
  for (const auto& i : images) n += static_cast<int>(i.faces.size());
  return n;
}

StatusOr<SampleSet> build_sample_set(const std::vector<std::string>& files, const Reference& ref,
                                     std::shared_ptr<const runtime::Environment> env, int max_faces) {
  runtime::SessionOptions so;
  so.service.provider = Provider::kCpu;
  FACELENS_ASSIGN_OR_RETURN(auto ds, models::open_session_unverified(ref.detector_path, ref.detector, env, so));
  detect::DetectorOptions dopt;
  dopt.max_faces = max_faces;
  services::ServiceOptions sopt;
  sopt.detector = dopt;
  FACELENS_ASSIGN_OR_RETURN(auto detector, services::make<models::Task::kDetector>(ref.detector, ds, sopt));
  std::shared_ptr<const landmarks::LandmarkModel> lm;
  if (!detector->has_keypoints() && ref.landmarks) {
    FACELENS_ASSIGN_OR_RETURN(auto ls, models::open_session_unverified(ref.landmarks_path, *ref.landmarks, env, so));
    FACELENS_ASSIGN_OR_RETURN(lm, services::make<models::Task::kLandmarks>(*ref.landmarks, ls));
  }
  SampleSet set;
  Status last = Status::Ok();
  for (const auto& f : files) {
    auto decoded = decode_image_file(f, DecodeOptions{});
    if (!decoded.ok()) {
      last = decoded.status();
      continue;
    }
    SampleImage si;
    si.path = f;
    si.identity = identity_of(f);
    si.image = std::move(decoded->image);
    FACELENS_ASSIGN_OR_RETURN(auto dets, detector->detect(si.image));
    for (const auto& d : dets) {
      SampleFace face;
      face.box = d.box;
      face.score = d.score;
      face.five = d.keypoints;
      if (!face.five && lm) {
        auto five = lm->predict(si.image, d.box);
        if (five.ok()) face.five = *five;
      }
      si.faces.push_back(face);
    }
    set.images.push_back(std::move(si));
  }
  if (set.images.empty()) {
    return last.ok() ? not_found("no image to build the sample set from") : last.with_context("no image decoded");
  }
  return set;
}

namespace {

runtime::Tensor planar_crop(const Image& img, int x, int y, int w, int h, const models::InputContract& in) {
  runtime::Tensor t;
  const int c = in.norm.channels();
  t.shape = {1, c, in.height(), in.width()};
  t.data.resize(static_cast<size_t>(c) * in.width() * in.height());
  image::crop_resize_planar(img, x, y, w, h, in.width(), in.height(), in.norm, t.data.data());
  return t;
}

}  // namespace

StatusOr<std::vector<models::CalibrationSample>> model_inputs(const models::ModelEntry& entry, const SampleSet& set,
                                                              int max_samples) {
  const auto& in = entry.input;
  if (in.shape.size() != 4 || in.width() <= 0 || in.height() <= 0) {
    return invalid_argument("manifest entry '" + entry.id + "': input.shape must be [N,C,H,W] with fixed H and W");
  }
  std::vector<models::CalibrationSample> all;
  for (const auto& si : set.images) {
    const Image& img = si.image;
    if (entry.task == models::Task::kDetector) {
      // The detector's own input preparation (stretch or letterbox, as its family needs).
      runtime::Tensor t;
      t.shape = {1, in.norm.channels(), in.height(), in.width()};
      detect::InputMap map;
      t.data = detect::prepare_input(img, entry, &map);
      all.push_back({std::move(t)});
      continue;
    }
    for (const auto& f : si.faces) {
      if (entry.task == models::Task::kRecognizer) {
        if (!f.five) continue;
        const Image aligned = align::align_face(img, *f.five, in.width());
        runtime::Tensor t;
        t.shape = {1, in.norm.channels(), in.height(), in.width()};
        t.data.resize(static_cast<size_t>(in.norm.channels()) * in.width() * in.height());
        image::to_planar(aligned, in.norm, t.data.data());
        all.push_back({std::move(t)});
      } else if (entry.task == models::Task::kLandmarks) {
        const int x1 = std::max(0, static_cast<int>(f.box.x1)), y1 = std::max(0, static_cast<int>(f.box.y1));
        const int x2 = std::min(img.width, static_cast<int>(f.box.x2)),
                  y2 = std::min(img.height, static_cast<int>(f.box.y2));
        if (x2 - x1 < 2 || y2 - y1 < 2) continue;
        all.push_back({planar_crop(img, x1, y1, x2 - x1, y2 - y1, in)});
      } else if (in.crop == models::CropRule::kEyeSquare) {
        if (!f.five) continue;
        // The eye crop: a square about each eye centre, eye_width_iod x the eye distance x crop_scale.
        const Point l = (*f.five)[0], r = (*f.five)[1];
        const float iod = std::hypot(r.x - l.x, r.y - l.y);
        const int size = std::max(2, static_cast<int>(entry.number("eye_width_iod", 0.4) * iod * in.crop_scale));
        for (const Point& e : {l, r}) {
          const int x = std::clamp(static_cast<int>(e.x - size / 2.f), 0, std::max(0, img.width - size));
          const int y = std::clamp(static_cast<int>(e.y - size / 2.f), 0, std::max(0, img.height - size));
          all.push_back({planar_crop(img, x, y, std::min(size, img.width), std::min(size, img.height), in)});
        }
      } else {
        // Liveness and attribute crops: the box scaled about its centre and kept inside the image.
        const image::CropRect r = image::scaled_crop(f.box, std::max(1.f, in.crop_scale), img.width, img.height);
        if (r.w < 2 || r.h < 2) continue;
        all.push_back({planar_crop(img, r.x, r.y, r.w, r.h, in)});
      }
    }
  }
  if (all.empty()) {
    return not_found("no input for model '" + entry.id + "' could be built from " + std::to_string(set.images.size()) +
                     " images (" + std::to_string(set.n_faces()) + " faces found): use images with faces");
  }
  if (max_samples > 0 && static_cast<int>(all.size()) > max_samples) {
    std::vector<models::CalibrationSample> picked;
    for (int i = 0; i < max_samples; ++i) picked.push_back(std::move(all[i * all.size() / max_samples]));
    all = std::move(picked);
  }
  return all;
}

}  // namespace facelens::optimize
