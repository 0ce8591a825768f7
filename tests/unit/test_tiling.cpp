// Tiled detection (src/detect/tiling.h, issue 14): the tile plan, the cut-face test, the manifest
// keys, and the merge of tile boxes with the whole photo's (finish_tiled) on synthetic boxes, under
// both suppression rules, against the untiled reference (finish).
#include <gtest/gtest.h>

#include "detect/decoders.h"
#include "detect/nms.h"
#include "detect/tiling.h"
#include "facelens/config.h"
#include "image/tensor.h"

namespace facelens {
namespace {

void expect_box(const Box& b, float x1, float y1, float x2, float y2) {
  EXPECT_NEAR(b.x1, x1, 1e-4f);
  EXPECT_NEAR(b.y1, y1, 1e-4f);
  EXPECT_NEAR(b.x2, x2, 1e-4f);
  EXPECT_NEAR(b.y2, y2, 1e-4f);
}

detect::TilingRule rule() {
  detect::TilingRule r;
  r.enabled = true;
  return r;  // min_image_scale 2, overlap 0.25, 4 tiles
}

TEST(Tiling, SmallPhotosAreNotTiled) {
  EXPECT_TRUE(detect::plan_tiles(320, 240, 320, 240, rule()).empty());
  EXPECT_TRUE(detect::plan_tiles(639, 479, 320, 240, rule()).empty()) << "below 2x the input on both axes";
  EXPECT_TRUE(detect::plan_tiles(0, 0, 320, 240, rule()).empty());
  auto one = rule();
  one.max_tiles = 1;
  EXPECT_TRUE(detect::plan_tiles(1920, 1080, 320, 240, one).empty()) << "a 1 x 1 grid is the whole-photo pass";
}

TEST(Tiling, GridCoversThePhotoWithTheOverlap) {
  // The 600x604 group selfie of issue 14: 2 x 3 tiles at the model's scale, capped at 4: 2 x 2.
  auto t = detect::plan_tiles(600, 604, 320, 240, rule());
  ASSERT_EQ(t.size(), 4u);
  // Tile side = ceil(600 / (1 + 0.75)) = 343, ceil(604 / 1.75) = 346; the last tile ends at the edge.
  for (const auto& tile : t) {
    EXPECT_EQ(tile.width, 343);
    EXPECT_EQ(tile.height, 346);
    EXPECT_LE(tile.x + tile.width, 600);
    EXPECT_LE(tile.y + tile.height, 604);
  }
  EXPECT_EQ(t[0].x, 0);
  EXPECT_EQ(t[0].y, 0);
  EXPECT_EQ(t[3].x + t[3].width, 600);
  EXPECT_EQ(t[3].y + t[3].height, 604);
  // Neighbours share at least a quarter of a tile.
  EXPECT_GE(t[0].x + t[0].width - t[1].x, 343 / 4);
  EXPECT_GE(t[0].y + t[0].height - t[2].y, 346 / 4);
  // A tall photo: a column of tiles.
  auto tall = detect::plan_tiles(320, 1000, 320, 240, rule());
  ASSERT_EQ(tall.size(), 4u);
  for (const auto& tile : tall) EXPECT_EQ(tile.width, 320);
  // A 1920x1080 photo would want 6 x 5 tiles; the cap keeps 4, no more.
  EXPECT_EQ(detect::plan_tiles(1920, 1080, 320, 240, rule()).size(), 4u);
  auto nine = rule();
  nine.max_tiles = 9;
  EXPECT_EQ(detect::plan_tiles(1920, 1080, 320, 240, nine).size(), 9u);
}

TEST(Tiling, CutByTileEdgeOnlyInsideThePhoto) {
  const detect::Tile left{0, 0, 343, 346};  // top-left tile of a 600x604 photo
  EXPECT_FALSE(detect::cut_by_tile_edge({100, 100, 200, 200}, left, 600, 604, 4));
  EXPECT_TRUE(detect::cut_by_tile_edge({300, 100, 341, 200}, left, 600, 604, 4)) << "within the margin of x = 343";
  EXPECT_TRUE(detect::cut_by_tile_edge({100, 300, 200, 360}, left, 600, 604, 4)) << "beyond the bottom edge";
  // The photo's own border never cuts: a face against the left or top border stays.
  EXPECT_FALSE(detect::cut_by_tile_edge({-10, -5, 60, 80}, left, 600, 604, 4));
  const detect::Tile last{257, 258, 343, 346};
  EXPECT_FALSE(detect::cut_by_tile_edge({500, 500, 610, 610}, last, 600, 604, 4));
  EXPECT_TRUE(detect::cut_by_tile_edge({258, 400, 330, 480}, last, 600, 604, 4));
}

TEST(Tiling, ManifestKeys) {
  const char* text = R"({"models":[{"id":"d","file":"d.onnx","task":"detector","tiling":"on",
    "tiling_min_image_scale":3,"tiling_overlap":0.3,"tiling_max_tiles":9,"tiling_edge_margin":1}]})";
  auto m = models::parse_manifest(text, "test");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto r = detect::tiling_rule_of(m->models[0]);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->enabled);
  EXPECT_FLOAT_EQ(r->min_image_scale, 3);
  EXPECT_FLOAT_EQ(r->overlap, 0.3f);
  EXPECT_EQ(r->max_tiles, 9);
  EXPECT_FLOAT_EQ(r->edge_margin, 1);
  // Absent: off.
  auto plain = models::parse_manifest(R"({"models":[{"id":"d","file":"d.onnx","task":"detector"}]})", "test");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(detect::tiling_rule_of(plain->models[0])->enabled);
  for (const char* bad : {R"("tiling":"yes")", R"("tiling_overlap":0.95)", R"("tiling_max_tiles":2.5)",
                          R"("tiling_min_image_scale":0.5)", R"("tiling_edge_margin":-1)"}) {
    auto b = models::parse_manifest(
        std::string(R"({"models":[{"id":"d","file":"d.onnx","task":"detector",)") + bad + "}]}", "test");
    ASSERT_TRUE(b.ok()) << bad;
    auto e = detect::tiling_rule_of(b->models[0]);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.status().message().find("'d'"), std::string::npos) << e.status().message();
  }
}

TEST(Tiling, OwnAreaDropsIsTheRulesPairwiseTest) {
  const Box p{0, 0, 100, 100}, q{61, 0, 161, 100};
  EXPECT_FALSE(detect::own_area_drops(p, q, 0.4f, 0.f));
  EXPECT_TRUE(detect::own_area_drops(p, q, 0.4f, 1.f));
  EXPECT_EQ(detect::bottom_first_own_area({p, q}, 0.4f, 1.f).size(), 1u);
  // Own area: a small box inside a large one is dropped by it, not the other way round.
  const Box big{0, 0, 100, 100}, small{10, 10, 30, 30};
  EXPECT_TRUE(detect::own_area_drops(big, small, 0.4f, 0.f));
  EXPECT_FALSE(detect::own_area_drops(small, big, 0.4f, 0.f));
  EXPECT_FALSE(detect::own_area_drops(big, Box{5, 5, 5, 9}, 0.4f, 0.f)) << "an empty box is never tested";
}

// Whole-photo candidates: one face; tile candidates: the same face (a slightly different box),
// a new small face found twice (two tiles), and nothing else.
struct Merge {
  std::vector<detect::Candidate> whole{{{100, 100, 160, 170}, 0.9f, std::nullopt}};
  std::vector<detect::Candidate> tiled{{{102, 98, 158, 166}, 0.95f, std::nullopt},
                                       {{10, 10, 20, 22}, 0.7f, std::nullopt},
                                       {{10.5f, 10, 20.5f, 22}, 0.75f, std::nullopt}};
};

TEST(Tiling, MergeKeepsWholePhotoFacesAndAddsNewOnes) {
  for (auto rule : {models::Suppression::kBottomFirstOwnArea, models::Suppression::kHardNmsIou}) {
    SCOPED_TRACE(models::suppression_name(rule));
    models::DetectorContract c;
    c.suppression = rule;
    c.suppression_pixel_offset = rule == models::Suppression::kBottomFirstOwnArea ? 1.f : 0.f;
    detect::InputMap map;  // model input 320x240 from a 640x480 photo: x_orig = x_in * 2
    map.scale_x = map.scale_y = 0.5f;
    Merge m;
    auto ref = detect::finish(m.whole, map, 640, 480, c, 0.4f, 10);
    auto got = detect::finish_tiled(m.whole, m.tiled, map, 640, 480, c, 0.4f, 10);
    ASSERT_EQ(ref.size(), 1u);
    ASSERT_EQ(got.size(), 2u) << "the whole photo's face once, the new face once";
    // The whole photo's face keeps the untiled box (not the tile's, though it scores higher).
    expect_box(got[0].box, ref[0].box.x1, ref[0].box.y1, ref[0].box.x2, ref[0].box.y2);
    EXPECT_FLOAT_EQ(got[0].score, 0.9f);
    // The new face, in photo pixels; of its two tile boxes the rule's own choice.
    const bool bottom_first = rule == models::Suppression::kBottomFirstOwnArea;
    EXPECT_FLOAT_EQ(got[1].score, bottom_first ? 0.7f : 0.75f);  // equal y2: the first; else the best score
    expect_box(got[1].box, bottom_first ? 20 : 21, 20, bottom_first ? 40 : 41, 44);
    // No tile candidates: exactly the untiled answer.
    auto none = detect::finish_tiled(m.whole, {}, map, 640, 480, c, 0.4f, 10);
    ASSERT_EQ(none.size(), ref.size());
    expect_box(none[0].box, ref[0].box.x1, ref[0].box.y1, ref[0].box.x2, ref[0].box.y2);
    // max_faces counts the merged faces, best first.
    auto one = detect::finish_tiled(m.whole, m.tiled, map, 640, 480, c, 0.4f, 1);
    ASSERT_EQ(one.size(), 1u);
    EXPECT_FLOAT_EQ(one[0].score, 0.9f);
  }
}

TEST(Tiling, TileFaceThatWouldDropAWholePhotoFaceIsDropped) {
  // bottom_first_own_area: a tile box with a higher bottom edge would drop the whole photo's box
  // (it covers >= 40 % of it); the whole photo's box wins, as the untiled answer would have it.
  models::DetectorContract c;
  c.suppression = models::Suppression::kBottomFirstOwnArea;
  detect::InputMap map;
  std::vector<detect::Candidate> whole{{{100, 100, 200, 200}, 0.8f, std::nullopt}};
  std::vector<detect::Candidate> tiled{{{100, 90, 200, 150}, 0.99f, std::nullopt}};
  ASSERT_TRUE(detect::own_area_drops(tiled[0].box, whole[0].box, 0.4f, 0.f));
  auto got = detect::finish_tiled(whole, tiled, map, 640, 480, c, 0.4f, 10);
  ASSERT_EQ(got.size(), 1u);
  expect_box(got[0].box, 100, 100, 200, 200);
  // Keypoints of a tile face come back in photo pixels like its box.
  std::vector<detect::Candidate> kp{{{300, 300, 340, 350}, 0.9f, FivePoints{}}};
  for (int k = 0; k < 5; ++k) (*kp[0].keypoints)[k] = {310.f + k, 320.f};
  map.scale_x = map.scale_y = 0.5f;
  auto with_kp = detect::finish_tiled({}, kp, map, 1000, 1000, c, 0.4f, 10);
  ASSERT_EQ(with_kp.size(), 1u);
  ASSERT_TRUE(with_kp[0].keypoints);
  EXPECT_FLOAT_EQ((*with_kp[0].keypoints)[2].x, 624.f);
  EXPECT_FLOAT_EQ((*with_kp[0].keypoints)[2].y, 640.f);
}

TEST(Tiling, RegionInputIsTheCroppedPhotosInput) {
  // A tile's input (prepare_input on a region) against the reference: the cropped photo's input.
  Image img;
  img.width = 97;
  img.height = 61;
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 37 + i / 291) % 256);
  for (const char* resize : {"stretch", "letterbox"}) {
    SCOPED_TRACE(resize);
    const std::string text =
        std::string(
            R"({"models":[{"id":"d","file":"d.onnx","task":"detector","input":{"shape":[1,3,24,32],"color":"BGR","mean":[127,127,127],"std":[128,128,128],"resize":")") +
        resize + R"("},"letterbox_align":"center","pad_value":114}]})";
    auto m = models::parse_manifest(text, "test");
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    const auto& e = m->models[0];
    detect::InputMap a, b;
    const auto got = detect::prepare_input(img, 13, 7, 50, 41, e, &a);
    const auto ref = detect::prepare_input(image::crop(img, 13, 7, 50, 41), e, &b);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_FLOAT_EQ(got[i], ref[i]) << i;
    EXPECT_FLOAT_EQ(a.scale_x, b.scale_x);
    EXPECT_FLOAT_EQ(a.scale_y, b.scale_y);
    EXPECT_FLOAT_EQ(a.offset_x, b.offset_x);
    EXPECT_FLOAT_EQ(a.offset_y, b.offset_y);
    // The whole photo as a region is the whole photo's input.
    const auto whole = detect::prepare_input(img, 0, 0, img.width, img.height, e, &a);
    EXPECT_EQ(whole, detect::prepare_input(img, e, &b));
  }
}

TEST(Tiling, ConfigOverride) {
  auto on = parse_config("[detector]\ntiling = true\n", "f.toml", {});
  ASSERT_TRUE(on.ok()) << on.status().to_string();
  ASSERT_TRUE(on->detect_tiling.has_value());
  EXPECT_TRUE(*on->detect_tiling);
  auto off = parse_config("[detector]\ntiling = false\n", "f.toml", {});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->detect_tiling, std::optional<bool>(false));
  auto absent = parse_config("[detector]\nmax_faces = 3\n", "f.toml", {});
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->detect_tiling.has_value()) << "absent: the manifest's";
  auto wrong = parse_config("[detector]\ntiling = \"on\"\n", "f.toml", {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("tiling"), std::string::npos);
}

}  // namespace
}  // namespace facelens
