// The one result writer (include/facelens/result_json.h) the CLI and the service share: field
// order, rounding, unknown identities, providers of loaded services only; and draw_faces.
#include <gtest/gtest.h>

#include "facelens/image.h"
#include "facelens/result_json.h"

namespace facelens {
namespace {

Face face_at(float x1, float y1, float x2, float y2, float score) {
  Face f;
  f.box = {x1, y1, x2, y2};
  f.score = score;
  return f;
}

TEST(ResultJson, OneRoundingRuleForCoordinatesAndScores) {
  EXPECT_EQ(format::round_px(594.010986328125), 594.01);
  EXPECT_EQ(format::round_score(0.36000001430511475), 0.36);
  EXPECT_EQ(format::round_score(0.123456), 0.1235);
  // Floats are rounded as doubles: the printed value is the short one.
  EXPECT_EQ(nlohmann::json(format::round_score(0.36f)).dump(), "0.36");
  Face f;
  f.box = {594.010986328125f, 1.f / 3, 2.f / 3, 100.f};
  f.score = 0.36f;
  Attributes a;
  a.age = 51.9f;
  f.attributes = a;
  const std::string text = format::to_json(f).dump();
  EXPECT_NE(text.find("[594.01,0.33,0.67,100.0]"), std::string::npos) << text;
  EXPECT_NE(text.find("\"score\":0.36"), std::string::npos) << text;
  EXPECT_NE(text.find("\"age\":51.9"), std::string::npos) << text;
  EXPECT_EQ(text.find("0000"), std::string::npos) << text;
}

TEST(ResultJson, ImageResultWithAndWithoutItsName) {
  ImageResult r;
  r.width = 640;
  r.height = 480;
  r.faces.push_back(face_at(10.123f, 20.456f, 110.789f, 150.001f, 0.987654f));
  const auto j = format::to_json(r);
  EXPECT_EQ(j.dump(), R"({"width":640,"height":480,"faces":[{"box":[10.12,20.46,110.79,150.0],"score":0.9877}]})");
  const auto named = format::to_json(r, "a.jpg");
  ASSERT_EQ(named.begin().key(), "image");  // the name first, then exactly the same object
  auto rest = named;
  rest.erase("image");
  EXPECT_EQ(rest, j);
}

TEST(ResultJson, VerifyIsRoundedAndNamesDeepfakesOnlyWhenScored) {
  VerifyResult v;
  v.similarity = 0.712345678f;
  v.threshold = 0.4f;  // as a float: 0.4000000059604645 unrounded
  v.match = true;
  v.face_a = face_at(1, 2, 3, 4, 0.9f);
  v.face_b = face_at(5, 6, 7, 8, 0.8f);
  auto j = format::to_json(v);
  EXPECT_DOUBLE_EQ(j["similarity"].get<double>(), 0.7123);
  EXPECT_DOUBLE_EQ(j["threshold"].get<double>(), 0.4);
  EXPECT_EQ(j["box_b"].dump(), "[5.0,6.0,7.0,8.0]");
  EXPECT_FALSE(j.contains("deepfake_a"));
  v.face_b.deepfake = Deepfake{};
  v.face_b.deepfake->score = 0.25f;
  j = format::to_json(v);
  EXPECT_FALSE(j.contains("deepfake_a"));
  ASSERT_TRUE(j.contains("deepfake_b"));
  EXPECT_DOUBLE_EQ(j["deepfake_b"]["score"].get<double>(), 0.25);
}

TEST(ResultJson, IdentifyUnknownIsNullAndMatchesAreListed) {
  IdentifyResult r;
  r.width = 100;
  r.height = 50;
  r.threshold = 0.45678f;
  IdentifiedFace known;
  known.face = face_at(0, 0, 10, 10, 0.99f);
  known.identity = Match{};
  known.identity->name = "ada";
  known.score = 0.81234f;
  known.matches = {*known.identity};
  known.matches[0].score = 0.81234f;
  IdentifiedFace unknown;
  unknown.face = face_at(20, 0, 30, 10, 0.9f);
  unknown.score = 0.1f;
  r.faces = {known, unknown};
  const auto j = format::to_json(r);
  EXPECT_DOUBLE_EQ(j["threshold"].get<double>(), 0.4568);
  EXPECT_EQ(j["faces"][0]["identity"], "ada");
  EXPECT_DOUBLE_EQ(j["faces"][0]["score"].get<double>(), 0.8123);
  EXPECT_EQ(j["faces"][0]["matches"][0]["name"], "ada");
  EXPECT_TRUE(j["faces"][1]["identity"].is_null());
  EXPECT_TRUE(j["faces"][1]["matches"].empty());
}

TEST(ResultJson, ProvidersOfLoadedServicesAttributesByModel) {
  std::vector<ServiceInfo> services(3);
  services[0].service = "detector", services[0].loaded = true, services[0].provider = "CPUExecutionProvider";
  services[1].service = "liveness", services[1].loaded = false;
  services[2].service = "attribute", services[2].model_id = "fr_age", services[2].loaded = true,
  services[2].provider = "CUDAExecutionProvider";
  EXPECT_EQ(format::providers_json(services).dump(),
            R"({"detector":"CPUExecutionProvider","fr_age":"CUDAExecutionProvider"})");
}

TEST(DrawFaces, DrawsTheBoxAndLeavesTheRest) {
  Image img;
  img.width = 64;
  img.height = 64;
  img.pixels.assign(64 * 64 * 3, 0);
  const Face f = face_at(16, 20, 48, 56, 0.5f);
  draw_faces(img, std::span(&f, 1));
  auto px = [&](int x, int y) { return img.row(y) + 3 * x; };
  EXPECT_EQ(px(32, 56)[1], 255) << "the bottom edge is green";
  EXPECT_EQ(px(32, 56)[0], 0);
  EXPECT_EQ(px(32, 38)[1], 0) << "inside the box stays as it was";
  EXPECT_EQ(px(2, 62)[1], 0) << "outside the box stays as it was";
}

}  // namespace
}  // namespace facelens
