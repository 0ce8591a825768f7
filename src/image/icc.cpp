#include "image/icc.h"

#include <lcms2.h>

#include <memory>

namespace facelens::image {

namespace {

struct ContextCloser {
  void operator()(cmsContext c) const { cmsDeleteContext(c); }
};
struct ProfileCloser {
  void operator()(void* p) const { cmsCloseProfile(p); }
};
struct TransformCloser {
  void operator()(void* t) const { cmsDeleteTransform(t); }
};

}  // namespace

bool to_srgb(Image& img, std::span<const uint8_t> icc_profile) {
  if (icc_profile.empty() || img.empty()) return false;
  // Every lcms2 object here is local to the call (no shared context), so concurrent calls are safe.
  cmsContext ctx = cmsCreateContext(nullptr, nullptr);
  if (ctx == nullptr) return false;
  std::unique_ptr<_cmsContext_struct, ContextCloser> ctx_owner(ctx);
  cmsHPROFILE in = cmsOpenProfileFromMemTHR(ctx, icc_profile.data(), static_cast<cmsUInt32Number>(icc_profile.size()));
  if (in == nullptr) return false;
  std::unique_ptr<void, ProfileCloser> in_owner(in);
  if (cmsGetColorSpace(in) != cmsSigRgbData) return false;
  cmsHPROFILE srgb = cmsCreate_sRGBProfileTHR(ctx);
  if (srgb == nullptr) return false;
  std::unique_ptr<void, ProfileCloser> srgb_owner(srgb);
  cmsHTRANSFORM t = cmsCreateTransformTHR(ctx, in, TYPE_RGB_8, srgb, TYPE_RGB_8, INTENT_PERCEPTUAL, 0);
  if (t == nullptr) return false;
  std::unique_ptr<void, TransformCloser> t_owner(t);
  cmsDoTransform(t, img.pixels.data(), img.pixels.data(), static_cast<cmsUInt32Number>(img.width) * img.height);
  return true;
}

}  // namespace facelens::image
