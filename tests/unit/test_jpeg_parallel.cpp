// Striped decoding of sequential and progressive JPEGs at their restart markers (src/image/jpeg_parallel.h) against
// its reference, TurboJPEG's single-threaded tjDecompress2 of the same file at the same scale:
// equal pixels, bit for bit, for every chroma subsampling, restart interval, size and DCT scale.
// The files are encoded here with the libjpeg API (the only one of the two that writes restart
// markers); files the striped path does not apply to, and damaged files, decode through
// decode_image exactly as on one thread.
#include <gtest/gtest.h>
#include <turbojpeg.h>

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
// clang-format on

#include <csetjmp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "common/test_env.h"
#include "facelens/image.h"
#include "image/jpeg_parallel.h"

namespace facelens {
namespace {

using Bytes = std::vector<uint8_t>;

// What an encode writes.
struct EncodeSpec {
  int width = 0;
  int height = 0;
  int components = 3;  // 1 grey, 3 YCbCr, 4 CMYK (Adobe)
  int h_samp = 2;      // the first component's sampling factors (the others have 1x1)
  int v_samp = 2;
  int restart_interval = 0;  // in MCUs
  int restart_rows = 0;      // in rows of MCUs (libjpeg's restart_in_rows); used when interval is 0
  bool progressive = false;
  bool coarse_ac = false;       // progressive: the AC coefficients stay at bit 1 (never refined)
  bool separate_scans = false;  // sequential: one scan per component
  bool ycck = false;            // 4 components stored as YCCK
  int quality = 92;
};

struct EncodeErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};

[[noreturn]] void encode_error_exit(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<EncodeErrorManager*>(cinfo->err)->jump, 1);
}

// Noise with strong colour: the worst case for chroma upsampling across a stripe edge.
Bytes make_noise(int width, int height, int components, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes px(static_cast<size_t>(width) * height * components);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < components; ++c) {
        const int smooth = ((x * (c + 3) + y * (5 - c)) * 2) & 255;
        px[(static_cast<size_t>(y) * width + x) * components + c] =
            static_cast<uint8_t>((smooth + static_cast<int>(rng() % 96)) & 255);
      }
    }
  }
  return px;
}

// Encodes with the libjpeg API; empty on a libjpeg error.
Bytes encode(const EncodeSpec& spec, const Bytes& pixels) {
  jpeg_compress_struct cinfo;
  EncodeErrorManager err;
  unsigned char* out = nullptr;
  unsigned long size = 0;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = encode_error_exit;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(out);
    return {};
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(spec.width);
  cinfo.image_height = static_cast<JDIMENSION>(spec.height);
  cinfo.input_components = spec.components;
  cinfo.in_color_space = spec.components == 1 ? JCS_GRAYSCALE : spec.components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  if (spec.ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, spec.quality, TRUE);
  cinfo.comp_info[0].h_samp_factor = spec.h_samp;
  cinfo.comp_info[0].v_samp_factor = spec.v_samp;
  for (int c = 1; c < cinfo.num_components; ++c)
    cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  cinfo.restart_interval = static_cast<unsigned int>(spec.restart_interval);
  cinfo.restart_in_rows = spec.restart_interval == 0 ? spec.restart_rows : 0;
  if (spec.progressive) jpeg_simple_progression(&cinfo);
  // A script whose AC coefficients are never refined to their last bit: legal (libjpeg only asks
  // for every DC), and decoded with block smoothing.
  std::vector<jpeg_scan_info> script;
  if (spec.coarse_ac) {
    jpeg_scan_info dc{};
    dc.comps_in_scan = cinfo.num_components;
    for (int c = 0; c < cinfo.num_components; ++c) dc.component_index[c] = c;
    dc.Se = 0;
    script.push_back(dc);
    for (int c = 0; c < cinfo.num_components; ++c) {
      jpeg_scan_info ac{};
      ac.comps_in_scan = 1;
      ac.component_index[0] = c;
      ac.Ss = 1;
      ac.Se = 63;
      ac.Al = 1;
      script.push_back(ac);
    }
    cinfo.scan_info = script.data();
    cinfo.num_scans = static_cast<int>(script.size());
  }
  if (spec.separate_scans) {  // every coefficient of one component per scan: a sequential file
    for (int c = 0; c < cinfo.num_components; ++c) {
      jpeg_scan_info one{};
      one.comps_in_scan = 1;
      one.component_index[0] = c;
      one.Se = 63;
      script.push_back(one);
    }
    cinfo.scan_info = script.data();
    cinfo.num_scans = static_cast<int>(script.size());
  }
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(spec.width) * spec.components;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes bytes(out, out + size);
  std::free(out);
  return bytes;
}

Bytes encode(const EncodeSpec& spec) { return encode(spec, make_noise(spec.width, spec.height, spec.components, 7)); }

// The reference: tjDecompress2 on one thread, as decode_jpeg calls it. Empty on failure.
Bytes reference_decode(const Bytes& jpeg, int scale_denom, image::JpegStripeOutput output, int& out_w, int& out_h) {
  tjhandle tj = tjInitDecompress();
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  Bytes pixels;
  // TurboJPEG 2.1 reads no header with a subsampling outside its list (YCCK 2x2,1x1,1x1,1x1 here)
  // but decodes it: the size then comes from the frame header.
  if (tjDecompressHeader3(tj, jpeg.data(), jpeg.size(), &w, &h, &subsamp, &colorspace) != 0) {
    const auto plan = image::plan_jpeg_stripes(jpeg);
    if (plan) w = plan->width, h = plan->height;
  }
  if (w > 0 && h > 0) {
    const tjscalingfactor f{1, scale_denom};
    out_w = TJSCALED(w, f);
    out_h = TJSCALED(h, f);
    const bool cmyk = output == image::JpegStripeOutput::kCmyk;
    pixels.resize(static_cast<size_t>(out_w) * out_h * (cmyk ? 4 : 3));
    if (tjDecompress2(tj, jpeg.data(), jpeg.size(), pixels.data(), out_w, 0, out_h, cmyk ? TJPF_CMYK : TJPF_RGB,
                      TJFLAG_STOPONWARNING) != 0) {
      ADD_FAILURE() << "reference decode: " << tjGetErrorStr2(tj);
      pixels.clear();
    }
  }
  tjDestroy(tj);
  return pixels;
}

// Largest absolute difference between two equal-sized buffers, and the first row it is in.
struct Difference {
  int max = 0;
  long first_at = -1;
};
Difference compare(const Bytes& a, const Bytes& b) {
  Difference d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const int diff = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    if (diff > d.max) d.max = diff;
    if (diff != 0 && d.first_at < 0) d.first_at = static_cast<long>(i);
  }
  return d;
}

// Decodes `jpeg` in n_stripes stripes at each DCT scale and expects the reference's pixels.
void expect_striped_equals_reference(const Bytes& jpeg, int n_stripes, const std::string& what,
                                     image::JpegStripeOutput output = image::JpegStripeOutput::kRgb) {
  const auto plan = image::plan_jpeg_stripes(jpeg);
  ASSERT_TRUE(plan.has_value()) << what << ": the striped path should apply";
  ASSERT_GE(plan->max_stripes(), 2) << what;
  for (int denom : {1, 2, 4, 8}) {
    int out_w = 0, out_h = 0;
    const Bytes expected = reference_decode(jpeg, denom, output, out_w, out_h);
    ASSERT_FALSE(expected.empty()) << what << " 1/" << denom;
    Bytes got(expected.size(), 0xAB);
    ASSERT_TRUE(image::decode_jpeg_stripes(jpeg, *plan, denom, output, got.data(), n_stripes))
        << what << " 1/" << denom << ": " << n_stripes << " stripes";
    const Difference d = compare(expected, got);
    const size_t stride = static_cast<size_t>(out_w) * (output == image::JpegStripeOutput::kCmyk ? 4 : 3);
    EXPECT_EQ(d.max, 0) << what << " 1/" << denom << ", " << n_stripes << " stripes: first difference in row "
                        << (d.first_at < 0 ? -1 : static_cast<long>(d.first_at / static_cast<long>(stride))) << " of "
                        << out_h;
  }
}

std::string describe(const EncodeSpec& s) {
  return std::string(s.progressive ? "progressive " : "") + std::to_string(s.width) + "x" + std::to_string(s.height) +
         " c" + std::to_string(s.components) + " " + std::to_string(s.h_samp) + "x" + std::to_string(s.v_samp) +
         " interval " + std::to_string(s.restart_interval) + " rows " + std::to_string(s.restart_rows);
}

// ---------------------------------------------------------------------------------------------
// Plans

TEST(JpegStripePlan, FindsTheSegmentsAndTheRowsWhereTheyStart) {
  // 4:2:0, 100x70: MCUs of 16x16, 7 per row, 5 rows; a restart every 2 rows = 14 MCUs.
  EncodeSpec spec{.width = 100, .height = 70, .restart_rows = 2};
  const auto plan = image::plan_jpeg_stripes(encode(spec));
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->width, 100);
  EXPECT_EQ(plan->height, 70);
  EXPECT_FALSE(plan->progressive);
  EXPECT_EQ(plan->mcu_height, 16);
  EXPECT_EQ(plan->mcu_rows, 5);
  ASSERT_EQ(plan->scans.size(), 1u);
  const image::JpegScanPlan& scan = plan->scans[0];
  EXPECT_EQ(scan.mcus_per_row, 7);
  EXPECT_EQ(scan.mcu_rows, 5);
  EXPECT_EQ(scan.restart_interval, 14);
  EXPECT_EQ(scan.segment_begin.size(), 3u);  // rows 0-1, 2-3, 4
  EXPECT_EQ(scan.marker_code.size(), 2u);
  EXPECT_EQ(plan->boundary_rows(), (std::vector<int>{2, 4}));
  EXPECT_EQ(plan->max_stripes(), 3);

  // Several segments per row: every row boundary is a segment boundary.
  spec = EncodeSpec{.width = 96, .height = 64, .h_samp = 1, .v_samp = 1, .restart_interval = 4};  // 12 MCUs a row
  const auto split = image::plan_jpeg_stripes(encode(spec));
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->boundary_rows(), (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));

  // An interval across rows: 12 MCUs a row, 18 MCUs a segment, rows 3 and 6 start a segment.
  spec.restart_interval = 18;
  const auto across = image::plan_jpeg_stripes(encode(spec));
  ASSERT_TRUE(across.has_value());
  EXPECT_EQ(across->boundary_rows(), (std::vector<int>{3, 6}));
}

TEST(JpegStripePlan, ReadsEveryScanOfAProgressiveFile) {
  // 4:2:0, 100x70, a restart every row of each scan: libjpeg's simple progression has 10 scans,
  // DC scans of all three components (7 MCUs of 16x16 a row, 5 rows) and AC scans of one
  // component each (its 8x8 blocks: 13 a row and 9 rows for the luma, 7 and 5 for chroma).
  EncodeSpec spec{.width = 100, .height = 70, .restart_rows = 1, .progressive = true};
  const auto plan = image::plan_jpeg_stripes(encode(spec));
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->progressive);
  EXPECT_EQ(plan->mcu_height, 16);
  EXPECT_EQ(plan->mcu_rows, 5);
  ASSERT_EQ(plan->scans.size(), 10u);
  int luma_scans = 0;
  for (const image::JpegScanPlan& scan : plan->scans) {
    EXPECT_EQ(scan.restart_interval, scan.mcus_per_row) << "a restart every row";
    EXPECT_EQ(static_cast<int>(scan.segment_begin.size()), scan.mcu_rows);
    if (scan.mcus_per_row == 13) {
      ++luma_scans;
      EXPECT_EQ(scan.mcu_rows, 9);
      EXPECT_EQ(scan.rows_per_frame_row, 2);
    } else {
      EXPECT_EQ(scan.mcus_per_row, 7);
      EXPECT_EQ(scan.mcu_rows, 5);
      EXPECT_EQ(scan.rows_per_frame_row, 1);
    }
  }
  EXPECT_EQ(luma_scans, 4);  // its first AC bands, their refinement and the refinement of all
  // A cut needs segments starting at its row and the next in every scan: rows 1 to 3 (4 is the
  // last row).
  EXPECT_EQ(plan->boundary_rows(), (std::vector<int>{1, 2, 3}));

  // Every other row: the cut at row 2 has no segment starting at row 3.
  spec.restart_rows = 2;
  const auto every_other = image::plan_jpeg_stripes(encode(spec));
  ASSERT_TRUE(every_other.has_value());
  EXPECT_EQ(every_other->max_stripes(), 1);
}

TEST(JpegStripePlan, DeclinesFilesItDoesNotApplyTo) {
  EncodeSpec spec{.width = 64, .height = 64};
  EXPECT_FALSE(image::plan_jpeg_stripes(encode(spec)).has_value()) << "no restart markers";
  spec.progressive = true;
  EXPECT_FALSE(image::plan_jpeg_stripes(encode(spec)).has_value()) << "progressive, no restart markers";
  spec.restart_rows = 1;
  spec.coarse_ac = true;
  EXPECT_FALSE(image::plan_jpeg_stripes(encode(spec)).has_value()) << "progressive, coefficients left imprecise";
  spec.coarse_ac = false;
  EXPECT_TRUE(image::plan_jpeg_stripes(encode(spec)).has_value()) << "progressive";
  spec.progressive = false;
  Bytes ok = encode(spec);
  ASSERT_TRUE(image::plan_jpeg_stripes(ok).has_value());
  // A segment larger than the image: one segment, nothing to cut.
  spec.restart_rows = 0;
  spec.restart_interval = 1000;
  const auto one = image::plan_jpeg_stripes(encode(spec));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->max_stripes(), 1);

  // Truncated (no EOI), a restart marker out of sequence, junk before a marker segment.
  const Bytes truncated(ok.begin(), ok.end() - 40);
  EXPECT_FALSE(image::plan_jpeg_stripes(truncated).has_value());
  const auto plan = image::plan_jpeg_stripes(ok);
  Bytes renumbered = ok;
  renumbered[plan->scans[0].marker_code[1]] = 0xD5;
  EXPECT_FALSE(image::plan_jpeg_stripes(renumbered).has_value());
  Bytes junk = ok;
  junk.insert(junk.begin() + 2, {0x00, 0x01});
  EXPECT_FALSE(image::plan_jpeg_stripes(junk).has_value());
  EXPECT_FALSE(image::plan_jpeg_stripes(Bytes{0xFF, 0xD8, 0xFF}).has_value());
  EncodeSpec separate{.width = 64, .height = 64, .restart_rows = 1, .separate_scans = true};
  EXPECT_FALSE(image::plan_jpeg_stripes(encode(separate)).has_value()) << "a sequential file of 3 scans";
  // More restart markers than the scan has segments: declined at the first one too many.
  EncodeSpec tiny{.width = 8, .height = 8, .components = 1, .h_samp = 1, .v_samp = 1, .restart_interval = 1};
  Bytes flood = encode(tiny);
  Bytes markers;
  for (int k = 0; k < 4000; ++k) markers.insert(markers.end(), {0xFF, static_cast<uint8_t>(0xD0 + k % 8)});
  flood.insert(flood.end() - 2, markers.begin(), markers.end());
  EXPECT_FALSE(image::plan_jpeg_stripes(flood).has_value()) << "a flood of restart markers";
  EXPECT_FALSE(image::plan_jpeg_stripes(Bytes{}).has_value());
}

TEST(JpegStripePlan, AutomaticCountFollowsSizeCoresAndMarkers) {
  image::JpegStripePlan plan;
  plan.width = 1920;
  plan.height = 1080;  // 2.07 Mpx
  plan.mcu_height = 8;
  plan.mcu_rows = 135;
  image::JpegScanPlan& scan = plan.scans.emplace_back();
  scan.mcus_per_row = 240;
  scan.mcu_rows = 135;
  scan.restart_interval = 240;
  scan.segment_begin.resize(135);  // a segment a row: 134 cuts
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/2), 2);
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/16), 8);  // 0.25 Mpx a stripe
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/1), 1);
  scan.restart_interval = 240 * 100;  // one cut, at row 100
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/16), 2);
  scan.restart_interval = 240;
  plan.width = 640;
  plan.height = 480;  // 0.31 Mpx: one thread when sequential, three when progressive (0.1 Mpx a stripe)
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/16), 1);
  plan.progressive = true;
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/16), 3);
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/2), 2);
  plan.width = 400;
  plan.height = 240;  // 0.096 Mpx: one
  EXPECT_EQ(image::automatic_stripe_count(plan, /*hardware_threads=*/16), 1);
}

// ---------------------------------------------------------------------------------------------
// Pixels: the striped decode against the single-threaded one

TEST(JpegStripes, EqualTheSingleThreadedDecodeForEverySubsamplingAndScale) {
  // Sizes that are not multiples of the MCU, the last row of MCUs one pixel tall, and intervals in
  // rows, across rows and within rows.
  const int sizes[][2] = {{333, 250}, {161, 97}, {64, 48}, {200, 129}};
  const int samplings[][2] = {{2, 2}, {2, 1}, {1, 2}, {1, 1}};
  for (const auto& size : sizes) {
    for (const auto& sampling : samplings) {
      for (int variant = 0; variant < 3; ++variant) {
        EncodeSpec spec{.width = size[0], .height = size[1], .h_samp = sampling[0], .v_samp = sampling[1]};
        const int mcus_per_row = (spec.width + 8 * spec.h_samp - 1) / (8 * spec.h_samp);
        if (variant == 0) spec.restart_rows = 1;
        if (variant == 1) spec.restart_rows = 3;
        if (variant == 2) spec.restart_interval = mcus_per_row * 3 / 2;  // a segment starts every 2 rows
        const Bytes jpeg = encode(spec);
        ASSERT_FALSE(jpeg.empty()) << describe(spec);
        const auto plan = image::plan_jpeg_stripes(jpeg);
        ASSERT_TRUE(plan.has_value()) << describe(spec);
        if (plan->max_stripes() < 2) continue;  // 64x48 at 3 rows a segment, 2x2: 3 rows, one segment
        for (int n : {2, 3, plan->max_stripes()}) expect_striped_equals_reference(jpeg, n, describe(spec));
      }
    }
  }
}

TEST(JpegStripes, EqualTheSingleThreadedDecodeOfProgressiveFiles) {
  const int sizes[][2] = {{333, 250}, {161, 97}, {64, 48}, {200, 129}};
  const int samplings[][2] = {{2, 2}, {2, 1}, {1, 2}, {1, 1}};
  for (const auto& size : sizes) {
    for (const auto& sampling : samplings) {
      EncodeSpec spec{.width = size[0],
                      .height = size[1],
                      .h_samp = sampling[0],
                      .v_samp = sampling[1],
                      .restart_rows = 1,
                      .progressive = true};
      const Bytes jpeg = encode(spec);
      ASSERT_FALSE(jpeg.empty()) << describe(spec);
      const auto plan = image::plan_jpeg_stripes(jpeg);
      ASSERT_TRUE(plan.has_value()) << describe(spec);
      ASSERT_GE(plan->max_stripes(), 2) << describe(spec);  // 48 rows of 16: one cut, at row 1
      for (int n : {2, 3, plan->max_stripes()}) expect_striped_equals_reference(jpeg, n, describe(spec));
    }
  }
  // The hook takes the striped path for a progressive file (the damaged-file tests pass without).
  const Bytes progressive = encode(EncodeSpec{.width = 333, .height = 250, .restart_rows = 1, .progressive = true});
  int w = 0, h = 0;
  const Bytes expected = reference_decode(progressive, 1, image::JpegStripeOutput::kRgb, w, h);
  Bytes got(expected.size());
  EXPECT_TRUE(
      image::decode_jpeg_parallel(progressive, 1, image::JpegStripeOutput::kRgb, got.data(), w, h, /*threads=*/2));
  EXPECT_EQ(got, expected);
  // A restart interval in MCUs, the same for every scan (jpegtran -restart 8B): 128 pixels wide,
  // 4:2:0, the DC scans have 8 MCUs a row, the luma's AC scans 16 blocks, the chroma's 8. Every 8
  // MCUs restarts every scan at every row; every 16 restarts the DC scans every other row only.
  EncodeSpec every8{.width = 128, .height = 96, .restart_interval = 8, .progressive = true};
  const auto plan8 = image::plan_jpeg_stripes(encode(every8));
  ASSERT_TRUE(plan8.has_value());
  EXPECT_EQ(plan8->boundary_rows(), (std::vector<int>{1, 2, 3, 4}));
  expect_striped_equals_reference(encode(every8), 3, describe(every8));
  EncodeSpec every16 = every8;
  every16.restart_interval = 16;
  const auto plan16 = image::plan_jpeg_stripes(encode(every16));
  ASSERT_TRUE(plan16.has_value());
  EXPECT_EQ(plan16->max_stripes(), 1);
  // One component, and four (Adobe CMYK).
  EncodeSpec grey{
      .width = 97, .height = 161, .components = 1, .h_samp = 1, .v_samp = 1, .restart_rows = 1, .progressive = true};
  expect_striped_equals_reference(encode(grey), 3, "grey " + describe(grey));
  grey.h_samp = grey.v_samp = 2;  // one component with 2x2 sampling: still 8x8 MCUs
  expect_striped_equals_reference(encode(grey), 3, "grey 2x2 " + describe(grey));
  EncodeSpec cmyk{
      .width = 120, .height = 90, .components = 4, .h_samp = 1, .v_samp = 1, .restart_rows = 1, .progressive = true};
  expect_striped_equals_reference(encode(cmyk), 3, "cmyk " + describe(cmyk), image::JpegStripeOutput::kCmyk);
}

TEST(JpegStripes, EqualTheSingleThreadedDecodeForGreyAndCmyk) {
  for (const auto& size : {std::pair{333, 250}, std::pair{97, 161}}) {
    EncodeSpec grey{
        .width = size.first, .height = size.second, .components = 1, .h_samp = 1, .v_samp = 1, .restart_rows = 2};
    const Bytes g = encode(grey);
    expect_striped_equals_reference(g, 2, "grey " + describe(grey));
    expect_striped_equals_reference(g, 5, "grey " + describe(grey));
    // A grey file with 2x2 sampling on its one component (legal, rare; jpegtran -grayscale keeps
    // a 4:2:0 file's factors): 8x8 MCUs, put out by libjpeg 2 rows of blocks at a time.
    grey.h_samp = grey.v_samp = 2;
    expect_striped_equals_reference(encode(grey), 3, "grey 2x2 " + describe(grey));
    grey.restart_rows = 1;
    expect_striped_equals_reference(encode(grey), 2, "grey 2x2 " + describe(grey));
    expect_striped_equals_reference(encode(grey), 5, "grey 2x2 " + describe(grey));

    EncodeSpec cmyk{
        .width = size.first, .height = size.second, .components = 4, .h_samp = 1, .v_samp = 1, .restart_rows = 1};
    expect_striped_equals_reference(encode(cmyk), 3, "cmyk " + describe(cmyk), image::JpegStripeOutput::kCmyk);
    cmyk.ycck = true;
    cmyk.h_samp = cmyk.v_samp = 2;
    expect_striped_equals_reference(encode(cmyk), 3, "ycck " + describe(cmyk), image::JpegStripeOutput::kCmyk);
  }
}

// ---------------------------------------------------------------------------------------------
// decode_image: the hook in decode_jpeg

DecodeOptions threads_option(int threads, JpegWarnings warnings = JpegWarnings::kStrict) {
  DecodeOptions o;
  o.decode_threads = threads;
  o.jpeg_warnings = warnings;
  return o;
}

// decode_image with `threads` against decode_image on one thread: the same status and pixels.
void expect_same_as_one_thread(const Bytes& jpeg, int threads, const DecodeOptions& base, const std::string& what) {
  DecodeOptions one = base, many = base;
  one.decode_threads = 1;
  many.decode_threads = threads;
  const auto a = decode_image(jpeg, one);
  const auto b = decode_image(jpeg, many);
  ASSERT_EQ(a.ok(), b.ok()) << what << ": " << (a.ok() ? b.status().message() : a.status().message());
  if (!a.ok()) {
    EXPECT_EQ(a.status().code(), b.status().code()) << what;
    EXPECT_EQ(a.status().message(), b.status().message()) << what;
    return;
  }
  EXPECT_EQ(a->image.width, b->image.width) << what;
  EXPECT_EQ(a->image.height, b->image.height) << what;
  EXPECT_EQ(a->scale, b->scale) << what;
  EXPECT_EQ(compare(a->image.pixels, b->image.pixels).max, 0) << what;
}

TEST(JpegStripes, DecodeImageUsesThemWithEveryOptionAndScale) {
  EncodeSpec spec{.width = 333, .height = 250, .restart_rows = 1};
  const Bytes jpeg = encode(spec);
  for (int min_side : {0, 160, 80, 40, 20}) {  // full size, 1/2, 1/4, 1/8
    DecodeOptions o;
    o.min_width = o.min_height = min_side;
    expect_same_as_one_thread(jpeg, 3, o, "min side " + std::to_string(min_side));
  }
  // The hook takes the striped path for this file (a decode that did not would pass the test
  // above too).
  int w = 0, h = 0;
  const Bytes expected = reference_decode(jpeg, 1, image::JpegStripeOutput::kRgb, w, h);
  Bytes got(expected.size());
  EXPECT_TRUE(image::decode_jpeg_parallel(jpeg, 1, image::JpegStripeOutput::kRgb, got.data(), w, h, /*threads=*/2));
  EXPECT_EQ(got, expected);
  EXPECT_FALSE(image::decode_jpeg_parallel(jpeg, 1, image::JpegStripeOutput::kRgb, got.data(), w, h, /*threads=*/1));
  EXPECT_FALSE(image::decode_jpeg_parallel(jpeg, 1, image::JpegStripeOutput::kRgb, got.data(), w + 1, h, 2))
      << "a size other than the file's";

  // CMYK through decode_image (its CMYK to RGB step after the stripes).
  EncodeSpec cmyk{.width = 120, .height = 90, .components = 4, .h_samp = 1, .v_samp = 1, .restart_rows = 1};
  expect_same_as_one_thread(encode(cmyk), 2, DecodeOptions{}, "cmyk");

  DecodeOptions negative;
  negative.decode_threads = -1;
  EXPECT_EQ(decode_image(jpeg, negative).status().code(), StatusCode::kInvalidArgument);
}

// An Exif APP1 segment with the orientation tag (big-endian TIFF), inserted after SOI.
Bytes with_orientation(const Bytes& jpeg, int orientation) {
  const Bytes tiff = {'M',  'M',  0, 42, 0, 0, 0, 8,  // header, IFD0 at 8
                      0,    1,                        // one entry
                      0x01, 0x12, 0, 3,  0, 0, 0, 1, 0, static_cast<uint8_t>(orientation),
                      0,    0,    0, 0,  0, 0};  // no next IFD
  Bytes app1 = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  const size_t length = app1.size() - 2;
  app1[2] = static_cast<uint8_t>(length >> 8);
  app1[3] = static_cast<uint8_t>(length & 0xFF);
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

TEST(JpegStripes, ExifOrientationAppliesAfterThem) {
  EncodeSpec spec{.width = 161, .height = 97, .restart_rows = 1};
  const Bytes jpeg = with_orientation(encode(spec), 6);
  ASSERT_TRUE(image::plan_jpeg_stripes(jpeg).has_value()) << "EXIF is skipped by the stripes, not refused";
  const auto rotated = decode_image(jpeg, threads_option(2));
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  EXPECT_EQ(rotated->image.width, 97);
  EXPECT_EQ(rotated->image.height, 161);
  expect_same_as_one_thread(jpeg, 2, DecodeOptions{}, "orientation 6");
}

TEST(JpegStripes, FilesTheyDoNotApplyToDecodeAsBefore) {
  EncodeSpec spec{.width = 200, .height = 129};
  expect_same_as_one_thread(encode(spec), 2, DecodeOptions{}, "no restart markers");
  spec.progressive = true;
  expect_same_as_one_thread(encode(spec), 2, DecodeOptions{}, "progressive without restart markers");
  spec.restart_rows = 1;
  spec.coarse_ac = true;
  spec.h_samp = spec.v_samp = 1;
  expect_same_as_one_thread(encode(spec), 2, DecodeOptions{}, "progressive, block smoothing");
}

// Damage in a stripe: whatever the single-threaded decode says (refusal, or the image with its
// damage in lenient mode), the threaded decode says the same, in every warning mode. libjpeg
// reports some damage (bytes left over before a restart marker) only at a later marker, which
// may lie in another stripe: the cases cover every marker.
std::vector<std::pair<std::string, Bytes>> damaged_copies(const Bytes& jpeg, const image::JpegStripePlan& plan) {
  std::vector<std::pair<std::string, Bytes>> damaged;
  Bytes before_eoi = jpeg;
  before_eoi.insert(before_eoi.begin() + static_cast<std::ptrdiff_t>(plan.scans.back().segment_end.back()),
                    {0x12, 0x34, 0x56});
  damaged.emplace_back("bytes before EOI", before_eoi);
  // Marker segments after the last scan, which the single-threaded decode reads: a DHT of a bad
  // length, a DHT of a bad index, and a JFIF header of version 2 (a warning).
  const auto before_end = [&](const Bytes& segment) {
    Bytes b = jpeg;
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(plan.scans.back().segment_end.back()), segment.begin(),
             segment.end());
    return b;
  };
  damaged.emplace_back("DHT of a bad length after the last scan", before_end({0xFF, 0xC4, 0x00, 0x03, 0x00}));
  Bytes bad_index = {0xFF, 0xC4, 0x00, 0x13, 0x04};
  bad_index.resize(bad_index.size() + 16, 0);
  damaged.emplace_back("DHT of a bad index after the last scan", before_end(bad_index));
  damaged.emplace_back("JFIF 2.0 after the last scan",
                       before_end({0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 2, 0, 0, 0, 1, 0, 1, 0, 0}));
  // No restart interval (DRI 0) for the last scan, whose data still has restart markers.
  Bytes no_restarts = jpeg;
  no_restarts.insert(no_restarts.begin() + static_cast<std::ptrdiff_t>(plan.scans.back().kept_segments.back().first),
                     {0xFF, 0xDD, 0x00, 0x04, 0x00, 0x00});
  damaged.emplace_back("DRI 0 before the last scan", no_restarts);
  damaged.emplace_back("truncated", Bytes(jpeg.begin(), jpeg.end() - 500));
  // In the first scan and in the last (a progressive file's AC refinement).
  std::vector<size_t> scans = {0};
  if (plan.scans.size() > 1) scans.push_back(plan.scans.size() - 1);
  for (size_t s : scans) {
    const image::JpegScanPlan& scan = plan.scans[s];
    const std::string in = plan.scans.size() > 1 ? " in scan " + std::to_string(s) : "";
    const size_t scan_end = scan.segment_end.back();
    // Bytes overwritten in the last stripe's data, and in the first's.
    for (size_t at : {scan_end - std::min<size_t>(300, (scan_end - scan.data_begin) / 2), scan.data_begin + 20}) {
      Bytes b = jpeg;
      for (size_t i = at; i < at + 16; ++i) {
        const auto v = static_cast<uint8_t>(b[i] * 31 + 7);
        b[i] = v == 0xFF ? 0x12 : v;  // no new markers
      }
      damaged.emplace_back("overwritten at " + std::to_string(at) + in, b);
    }
    // Extraneous bytes before each restart marker.
    for (size_t k = 0; k < scan.marker_code.size(); ++k) {
      for (size_t n_junk : {1, 3}) {
        Bytes b = jpeg;
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(scan.segment_end[k]), n_junk, 0x12);
        damaged.emplace_back(std::to_string(n_junk) + " bytes before RST of segment " + std::to_string(k) + in, b);
      }
    }
    // A segment cut short (the next RST early), a restart marker dropped.
    const size_t k = scan.segment_begin.size() - 4;
    Bytes cut = jpeg;
    cut.erase(cut.begin() + static_cast<std::ptrdiff_t>(std::min(scan.segment_begin[k] + 10, scan.segment_end[k])),
              cut.begin() + static_cast<std::ptrdiff_t>(scan.segment_end[k]));
    damaged.emplace_back("segment cut short" + in, cut);
    Bytes dropped = jpeg;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(scan.segment_end[k]),
                  dropped.begin() + static_cast<std::ptrdiff_t>(scan.marker_code[k] + 1));
    damaged.emplace_back("marker dropped" + in, dropped);
    // Random bits flipped anywhere in the scan.
    std::mt19937 rng(3);
    for (int t = 0; t < 20; ++t) {
      Bytes b = jpeg;
      for (int f = 0; f < 3; ++f) {
        const size_t at = scan.data_begin + rng() % (scan_end - scan.data_begin);
        b[at] = static_cast<uint8_t>(b[at] ^ (1u << (rng() % 8)));
      }
      damaged.emplace_back("flipped bits, trial " + std::to_string(t) + in, b);
    }
  }
  return damaged;
}

TEST(JpegStripes, DamagedFilesAreJudgedAsOnOneThread) {
  const EncodeSpec specs[] = {
      {.width = 333, .height = 250, .restart_rows = 1},                                // 4:2:0, a row a segment
      {.width = 250, .height = 170, .h_samp = 1, .v_samp = 1, .restart_interval = 8},  // 4:4:4, 4 segments a row
      {.width = 200, .height = 260, .components = 1, .h_samp = 1, .v_samp = 1, .restart_rows = 3},  // grey
      {.width = 333, .height = 250, .restart_rows = 1, .progressive = true},                        // progressive 4:2:0
  };
  for (const EncodeSpec& spec : specs) {
    const Bytes jpeg = encode(spec);
    const auto plan = image::plan_jpeg_stripes(jpeg);
    ASSERT_TRUE(plan.has_value()) << describe(spec);
    for (const auto& [what, bytes] : damaged_copies(jpeg, *plan)) {
      for (JpegWarnings w : {JpegWarnings::kStrict, JpegWarnings::kAll, JpegWarnings::kLenient}) {
        for (int threads : {2, 3, 5}) {
          DecodeOptions o = threads_option(1, w);
          o.min_width = o.min_height = threads == 5 ? 60 : 0;  // 1/2 or 1/4 scale, and full size
          expect_same_as_one_thread(bytes, threads, o,
                                    describe(spec) + ", " + what + ", " + jpeg_warnings_name(w) + ", " +
                                        std::to_string(threads) + " threads");
        }
      }
    }
  }
}

TEST(JpegStripes, RealCameraFileEqualsTheSingleThreadedDecode) {
  FACELENS_REQUIRE_DATA();
  const std::string path = testing::data_dir() + "/faces/face_recognition/obama-1080p.jpg";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  const Bytes jpeg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (int n : {2, 3, 8}) expect_striped_equals_reference(jpeg, n, path);
  for (int min_side : {0, 540, 270, 135}) {
    DecodeOptions o;
    o.min_width = o.min_height = min_side;
    expect_same_as_one_thread(jpeg, 2, o, path + " min side " + std::to_string(min_side));
  }
}

}  // namespace
}  // namespace facelens
