#include "gallery/quality.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace facelens::gallery {

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

}  // namespace facelens::gallery
