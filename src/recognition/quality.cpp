#include "recognition/quality.h"

#include <cmath>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace facelens::recognition {
namespace {

std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

double laplacian_variance(const Image& image) {
  if (image.empty()) return 0;
  const cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat grey, lap;
  cv::cvtColor(rgb, grey, cv::COLOR_RGB2GRAY);
  cv::Laplacian(grey, lap, CV_64F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(lap, mean, stddev);
  return stddev[0] * stddev[0];
}

StatusOr<size_t> select_enrollment_face(const std::vector<Face>& faces, const EnrollOptions& eo) {
  if (faces.empty()) return invalid_argument("no face found: enrolment needs a photo with one visible face");
  if (faces.size() > 1 && !eo.largest_face)
    return invalid_argument(std::to_string(faces.size()) +
                            " faces found; enrolment needs exactly one (crop the photo, or enrol the largest face "
                            "with --largest / EnrollOptions::largest_face)");
  const size_t index = largest_face(faces);
  const Face& face = faces[index];
  const float side = std::min(face.box.width(), face.box.height());
  if (eo.min_face_size > 0 && side < eo.min_face_size)
    return invalid_argument("face too small: " + std::to_string(static_cast<int>(face.box.width())) + "x" +
                            std::to_string(static_cast<int>(face.box.height())) + " px, the minimum is " +
                            std::to_string(static_cast<int>(eo.min_face_size)) + " px: use a closer or larger photo");
  if (eo.max_pose_degrees > 0 && face.attributes && face.attributes->pose) {
    const auto& p = *face.attributes->pose;
    if (std::abs(p[0]) > eo.max_pose_degrees || std::abs(p[1]) > eo.max_pose_degrees)
      return invalid_argument("extreme pose: yaw " + std::to_string(static_cast<int>(p[0])) + ", pitch " +
                              std::to_string(static_cast<int>(p[1])) + " degrees (limit " +
                              std::to_string(static_cast<int>(eo.max_pose_degrees)) + "): use a frontal photo");
  }
  if (eo.require_live) {
    if (!face.liveness) return internal_error("liveness was asked but not computed");
    if (!face.liveness->live)
      return invalid_argument("liveness check failed: score " + fixed3(face.liveness->score) + " below " +
                              fixed3(face.liveness->threshold) +
                              " (looks like a photo of a photo or of a screen): use a live capture");
  }
  return index;
}

Status check_sharpness(double sharpness, const EnrollOptions& eo) {
  if (eo.min_sharpness > 0 && sharpness < eo.min_sharpness)
    return invalid_argument("face too blurred: sharpness " + std::to_string(static_cast<int>(sharpness)) +
                            " (variance of the Laplacian of the aligned face), the minimum is " +
                            std::to_string(static_cast<int>(eo.min_sharpness)) + ": use a sharper photo");
  return Status::Ok();
}

}  // namespace facelens::recognition
