// Model families recognised from a model's signature (src/models/family.cpp): the real families'
// input and output shapes and names, the entries made from them, and the error that lists the
// known families for a model of none of them.
#include <gtest/gtest.h>

#include "common/onnx_gen.h"
#include "facelens/types.h"
#include "models/family.h"

namespace facelens {
namespace {

using testing::GenDir;

TensorDesc td(const std::string& name, std::vector<int64_t> shape) {
  TensorDesc t;
  t.name = name;
  t.element_type = "float32";
  t.shape = std::move(shape);
  t.dim_names.assign(t.shape.size(), "");
  return t;
}

TEST(Families, SignaturesOfTheRealFamilies) {
  ModelDescription scrfd;
  scrfd.inputs = {td("input.1", {-1, 3, -1, -1})};
  for (const char* k : {"score", "bbox", "kps"})
    for (int s : {8, 16, 32}) scrfd.outputs.push_back(td(std::string(k) + "_" + std::to_string(s), {-1, -1, -1}));
  EXPECT_EQ(models::match_families(scrfd), std::vector<models::Family>{models::Family::kScrfd});
  auto e = models::entry_from_family(models::Family::kScrfd, scrfd);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->outputs.at("kps_16"), "kps_16");
  EXPECT_EQ(e->input.width(), 640);  // dynamic input: the family's default size

  // insightface exports with numeric output names: roles by position.
  ModelDescription numeric = scrfd;
  for (size_t i = 0; i < numeric.outputs.size(); ++i) numeric.outputs[i].name = std::to_string(400 + i);
  auto n = models::entry_from_family(models::Family::kScrfd, numeric);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->outputs.at("score_8"), "400");
  EXPECT_EQ(n->outputs.at("bbox_32"), "405");

  ModelDescription yunet;
  yunet.inputs = {td("input", {1, 3, 640, 640})};
  for (const char* k : {"cls", "obj", "bbox", "kps"})
    for (int s : {8, 16, 32}) {
      const int64_t cells = (640 / s) * (640 / s);
      const int64_t w = std::string(k) == "bbox" ? 4 : std::string(k) == "kps" ? 10 : 1;
      yunet.outputs.push_back(td(std::string(k) + "_" + std::to_string(s), {1, cells, w}));
    }
  EXPECT_EQ(models::match_families(yunet), std::vector<models::Family>{models::Family::kYunet});

  ModelDescription ultra;
  ultra.inputs = {td("input", {1, 3, 240, 320})};
  ultra.outputs = {td("scores", {1, 4420, 2}), td("boxes", {1, 4420, 4})};
  EXPECT_EQ(models::match_families(ultra), std::vector<models::Family>{models::Family::kUltraface});

  ModelDescription v5;
  v5.inputs = {td("input", {-1, 3, -1, -1})};
  v5.outputs = {td("output", {-1, 6300, -1})};
  EXPECT_EQ(models::match_families(v5), std::vector<models::Family>{models::Family::kYolov5Face});

  ModelDescription mfn;
  mfn.inputs = {td("input", {-1, 3, 112, 112})};
  mfn.outputs = {td("embedding", {-1, 128})};
  EXPECT_EQ(models::match_families(mfn)[0], models::Family::kMobileFaceNet);
  EXPECT_TRUE(models::match_families(mfn, models::Task::kDetector).empty());

  ModelDescription fas;
  fas.inputs = {td("input", {1, 3, 80, 80})};
  fas.outputs = {td("output", {1, 3})};
  fas.path = "models/4_0_0_80x80_MiniFASNetV1SE.onnx";
  EXPECT_EQ(models::match_families(fas), std::vector<models::Family>{models::Family::kMiniFasNet});
  auto f = models::entry_from_family(models::Family::kMiniFasNet, fas);
  ASSERT_TRUE(f.ok());
  EXPECT_FLOAT_EQ(f->input.crop_scale, 4.0f);  // the scale the authors put in the file name
  fas.path = "2.7_80x80_MiniFASNetV2.onnx";
  EXPECT_FLOAT_EQ(models::entry_from_family(models::Family::kMiniFasNet, fas)->input.crop_scale, 2.7f);

  // A family without a template (an attribute family; an unknown name is refused by parse_family).
  EXPECT_FALSE(models::entry_from_family(models::Family::kAge, mfn).ok());
  EXPECT_FALSE(models::parse_file_family("resnet").ok());
  EXPECT_FALSE(models::parse_file_family("age").ok());
  EXPECT_EQ(*models::parse_file_family("scrfd"), models::Family::kScrfd);
  const std::string known = models::known_families_text();
  for (const char* fam : {"ultraface", "scrfd", "yunet", "yolov5face", "yolov8face", "yolov10", "yolov10face",
                          "arcface", "adaface", "mobilefacenet", "minifasnet", "xception"})
    EXPECT_NE(known.find(fam), std::string::npos) << fam;
}

// A temporary folder for the generated files of this program.
class Generated : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new GenDir("families"); }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const std::string& f) { return dir_->path(f); }
  static GenDir* dir_;
};

GenDir* Generated::dir_ = nullptr;

TEST_F(Generated, UnsupportedModelListsTheFamilies) {
  const std::string f = path("unknown.onnx");
  ASSERT_TRUE(testing::write_unsupported_model(f));
  auto fm = models::entry_for_file(f, {});
  ASSERT_FALSE(fm.ok());
  const std::string msg = fm.status().message();
  for (const char* fam : {"scrfd", "yunet", "yolov10face", "arcface", "adaface", "xception", "minifasnet"})
    EXPECT_NE(msg.find(fam), std::string::npos) << msg;
  models::FileModelOptions wrong;
  wrong.family = models::Family::kScrfd;
  wrong.task = models::Task::kRecognizer;
  EXPECT_FALSE(models::entry_for_file(f, wrong).ok());
}

}  // namespace
}  // namespace facelens
