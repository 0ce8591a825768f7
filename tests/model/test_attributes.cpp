// Face attribute models (age, gender, expression, head pose, eye closure) on real faces, with the
// face boxes and five points of ../shared/data/reference/default_models.json (so no detector is
// involved) or, for the 150x150 face_api_js crops, a box over most of the image.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "attributes/attributes.h"
#include "common/test_env.h"
#include "facelens/image.h"
#include "models/binding.h"
#include "models/registry.h"
#include "runtime/environment.h"

namespace {

using facelens::Attributes;
using facelens::Box;
using facelens::FivePoints;
using facelens::Image;
using facelens::attributes::AttributeModel;

struct Models {
  std::map<std::string, std::shared_ptr<const AttributeModel>> by_family;
  std::string error;  // why they could not be opened
  const AttributeModel& get(const std::string& family) const { return *by_family.at(family); }
};

Models open_models() {
  Models out;
  auto fail = [&out](std::string why) {
    out.error = std::move(why);
    return out;
  };
  auto registry = facelens::models::ModelRegistry::open(facelens::testing::models_dir());
  if (!registry.ok()) return fail(registry.status().to_string());
  auto env = facelens::runtime::Environment::create({});
  if (!env.ok()) return fail(env.status().to_string());
  for (const char* id : {"fr_age", "fr_gender", "fr_expression", "fr_pose", "fr_eye"}) {
    const auto* entry = (*registry)->manifest().find(id);
    if (!entry) return fail(std::string("manifest has no entry ") + id);
    auto session = facelens::models::open_session(**registry, *entry, *env, {});
    if (!session.ok()) return fail(session.status().to_string());
    auto model = facelens::attributes::create_attribute_model(*entry, *session);
    if (!model.ok()) return fail(model.status().to_string());
    out.by_family[std::string(facelens::models::name(entry->family))] = *model;
  }
  return out;
}

// The five attribute models of the manifest, opened once for the whole test program.
const Models& models() {
  static const Models m = open_models();
  return m;
}

#define REQUIRE_ATTRIBUTE_MODELS() \
  FACELENS_REQUIRE_MODELS();       \
  ASSERT_TRUE(models().error.empty()) << models().error

struct Face {
  Box box;
  std::optional<FivePoints> five;
};

// Face `index` of `image` in the reference file (boxes x1,y1,x2,y2 and five points in pixels).
std::optional<Face> reference_face(const std::string& image, size_t index) {
  std::ifstream f(facelens::testing::data_dir() + "/reference/default_models.json");
  const auto j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("images") || !j["images"].contains(image)) return std::nullopt;
  const auto& faces = j["images"][image]["faces"];
  if (index >= faces.size()) return std::nullopt;
  const auto& b = faces[index]["box"];
  Face face;
  face.box = {b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
  FivePoints five;
  for (size_t k = 0; k < 5; ++k)
    five[k] = {faces[index]["five"][k][0].get<float>(), faces[index]["five"][k][1].get<float>()};
  face.five = five;
  return face;
}

Image load(const std::string& relative) {
  auto img = facelens::decode_image_file(facelens::testing::data_dir() + "/faces/" + relative, {});
  EXPECT_TRUE(img.ok()) << relative << ": " << img.status().to_string();
  return img.ok() ? img->image : Image{};
}

// Runs every attribute model on one face (the eye model only with five points) and prints the values.
Attributes run_all(const std::string& name, const Image& img, const Face& face) {
  Attributes a;
  for (const char* family : {"age", "gender", "expression", "pose", "eye"}) {
    if (std::string(family) == "eye" && !face.five) continue;
    const auto st = models().get(family).apply(img, face.box, face.five, &a);
    EXPECT_TRUE(st.ok()) << name << " " << family << ": " << st.to_string();
  }
  std::cout << "[ values   ] " << name << ": age " << a.age.value_or(-1) << ", " << a.gender.value_or("?") << " "
            << a.gender_score.value_or(-1) << ", " << a.expression.value_or("?") << " "
            << a.expression_score.value_or(-1);
  if (a.pose) std::cout << ", yaw/pitch/roll " << (*a.pose)[0] << " " << (*a.pose)[1] << " " << (*a.pose)[2];
  if (a.eyes_open) std::cout << ", eyes open " << (*a.eyes_open)[0] << " " << (*a.eyes_open)[1];
  std::cout << "\n";
  return a;
}

Attributes run_reference(const std::string& image, size_t index = 0) {
  const auto face = reference_face(image, index);
  EXPECT_TRUE(face.has_value()) << image << " face " << index << " is not in the reference file";
  if (!face) return {};
  return run_all(image, load(image), *face);
}

// The face_api_js images are 150x150 crops that the face fills.
Attributes run_face_api_crop(const std::string& image) {
  const Image img = load(image);
  if (img.empty()) return {};
  return run_all(image, img, Face{Box{10, 10, img.width - 10.f, img.height - 10.f}, std::nullopt});
}

// An attribute family facelens does not know ("hair") is refused where the manifest names it,
// with the known families; an entry whose family is none of the attribute families (or absent)
// is unimplemented as an attribute model.
TEST(Attributes, UnknownFamilyIsRefused) {
  const auto manifest = facelens::models::parse_manifest(
      R"({"models": [{"id": "hair_colour", "file": "hair.onnx", "task": "attribute", "family": "hair"}]})", "test");
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().code(), facelens::StatusCode::kInvalidArgument);
  EXPECT_NE(manifest.status().message().find("'hair'"), std::string::npos) << manifest.status().message();
  for (const char* known : {"age", "gender", "expression", "pose", "eye"}) {
    EXPECT_NE(manifest.status().message().find(known), std::string::npos) << manifest.status().message();
  }
  for (const auto family : {std::optional<facelens::models::Family>(facelens::models::Family::kScrfd),
                            std::optional<facelens::models::Family>()}) {
    facelens::models::ModelEntry entry;
    entry.id = "not_an_attribute";
    entry.task = facelens::models::Task::kAttribute;
    entry.family = family;
    const auto m = facelens::attributes::create_attribute_model(entry, nullptr);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), facelens::StatusCode::kUnimplemented);
    for (const char* known : {"age", "gender", "expression", "pose", "eye"}) {
      EXPECT_NE(m.status().message().find(known), std::string::npos) << m.status().message();
    }
  }
}

TEST(Attributes, ManifestEntriesOpenTheirModels) {
  REQUIRE_ATTRIBUTE_MODELS();
  std::set<std::string> families;
  for (const auto& [family, model] : models().by_family) {
    EXPECT_NE(model, nullptr) << family;
    families.insert(family);
  }
  EXPECT_EQ(families, (std::set<std::string>{"age", "expression", "eye", "gender", "pose"}));
}

// Every value in its range; each model writes only its own fields, so one model alone, all five in
// one order and all five in the reverse order give the same values, run after run (exactly: the
// same input through the same session).
TEST(Attributes, ValuesAreInRangeDeterministicAndIndependentOfOrder) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const std::vector<std::string> families = {"age", "gender", "expression", "pose", "eye"};
  const std::pair<const char*, size_t> faces[] = {
      {"face_recognition/obama.jpg", 0}, {"face_recognition/two_people.jpg", 1}, {"openface/longoria-cooper.jpg", 1}};
  auto run = [&](const Image& img, const Face& face, const std::vector<std::string>& order) {
    Attributes a;
    for (const auto& family : order) {
      const auto st = models().get(family).apply(img, face.box, face.five, &a);
      EXPECT_TRUE(st.ok()) << family << ": " << st.to_string();
    }
    return a;
  };
  auto same = [](const Attributes& x, const Attributes& y) {
    return x.age == y.age && x.gender == y.gender && x.gender_score == y.gender_score && x.expression == y.expression &&
           x.expression_score == y.expression_score && x.pose == y.pose && x.eyes_open == y.eyes_open;
  };
  for (const auto& [image, index] : faces) {
    const auto face = reference_face(image, index);
    ASSERT_TRUE(face && face->five) << image;
    const Image img = load(image);
    ASSERT_FALSE(img.empty()) << image;
    const Attributes a = run(img, *face, families);
    ASSERT_TRUE(a.age && a.gender && a.gender_score && a.expression && a.expression_score && a.pose && a.eyes_open)
        << image;
    EXPECT_GT(*a.age, 0.f) << image;
    EXPECT_LT(*a.age, 110.f) << image;
    EXPECT_TRUE(*a.gender == "male" || *a.gender == "female") << *a.gender;
    EXPECT_GE(*a.gender_score, 0.5f) << image;  // the probability of the label given
    EXPECT_LE(*a.gender_score, 1.f) << image;
    EXPECT_GT(*a.expression_score, 0.f) << image;
    EXPECT_LE(*a.expression_score, 1.f) << image;
    for (float angle : *a.pose) EXPECT_LE(std::abs(angle), 90.f) << image;
    for (float p : *a.eyes_open) {
      EXPECT_GE(p, 0.f) << image;
      EXPECT_LE(p, 1.f) << image;
    }
    EXPECT_TRUE(same(a, run(img, *face, families))) << image << ": a second run differs";
    EXPECT_TRUE(same(a, run(img, *face, {families.rbegin(), families.rend()}))) << image << ": the order matters";
    Attributes merged;
    for (const auto& family : families) {
      const Attributes alone = run(img, *face, {family});
      merged.age = merged.age ? merged.age : alone.age;
      merged.gender = merged.gender ? merged.gender : alone.gender;
      merged.gender_score = merged.gender_score ? merged.gender_score : alone.gender_score;
      merged.expression = merged.expression ? merged.expression : alone.expression;
      merged.expression_score = merged.expression_score ? merged.expression_score : alone.expression_score;
      merged.pose = merged.pose ? merged.pose : alone.pose;
      merged.eyes_open = merged.eyes_open ? merged.eyes_open : alone.eyes_open;
    }
    EXPECT_TRUE(same(a, merged)) << image << ": a model alone gives other values";
  }
}

TEST(Attributes, EyeModelNeedsLandmarks) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const Image img = load("face_recognition/obama.jpg");
  Attributes a;
  const auto st = models().get("eye").apply(img, Box{382, 90, 603, 404}, std::nullopt, &a);
  EXPECT_EQ(st.code(), facelens::StatusCode::kFailedPrecondition) << st.to_string();
  EXPECT_FALSE(a.eyes_open.has_value());
}

TEST(Attributes, BoxOutsideTheImageIsAnError) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const Image img = load("face_recognition/obama.jpg");
  Attributes a;
  const auto st = models().get("expression").apply(img, Box{5000, 5000, 5100, 5100}, std::nullopt, &a);
  EXPECT_EQ(st.code(), facelens::StatusCode::kInvalidArgument) << st.to_string();
}

// obama.jpg: Barack Obama's official portrait (about 50 years old), facing the camera, smiling,
// eyes open. Its gender value sits at the decision boundary (0.51 male when this test was
// written), so gender is checked on the other photos of him.
TEST(Attributes, ObamaIsAnAdultFacingTheCameraSmilingWithOpenEyes) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const Attributes a = run_reference("face_recognition/obama.jpg");
  ASSERT_TRUE(a.age && a.gender && a.gender_score && a.pose && a.eyes_open && a.expression && a.expression_score);
  EXPECT_GT(*a.age, 30.f);
  EXPECT_LT(*a.age, 70.f);
  EXPECT_GE(*a.gender_score, 0.5f);  // the score is the probability of the label given
  EXPECT_EQ(*a.expression, "happy");
  EXPECT_GT(*a.expression_score, 0.5f);
  EXPECT_LT(std::abs((*a.pose)[0]), 25.f);
  EXPECT_LT(std::abs((*a.pose)[1]), 25.f);
  EXPECT_LT(std::abs((*a.pose)[2]), 25.f);
  EXPECT_GT((*a.eyes_open)[0], 0.5f);
  EXPECT_GT((*a.eyes_open)[1], 0.5f);
}

TEST(Attributes, MenAreMaleAdults) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const std::pair<const char*, size_t> men[] = {{"face_recognition/obama2.jpg", 0},
                                                {"face_recognition/obama3.jpg", 0},
                                                {"face_recognition/biden.jpg", 0},
                                                {"openface/longoria-cooper.jpg", 0}};  // Bradley Cooper
  for (const auto& [image, index] : men) {
    const Attributes a = run_reference(image, index);
    ASSERT_TRUE(a.gender && a.gender_score && a.age) << image;
    EXPECT_EQ(*a.gender, "male") << image;
    EXPECT_GT(*a.gender_score, 0.5f) << image;
    EXPECT_GT(*a.age, 20.f) << image;
    EXPECT_LT(*a.age, 80.f) << image;
  }
}

TEST(Attributes, WomenAreFemaleAdults) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  std::vector<Attributes> women = {run_reference("openface/longoria-cooper.jpg", 1),  // Eva Longoria
                                   run_face_api_crop("face_api_js/bernadette1.png")};
  for (const Attributes& a : women) {
    ASSERT_TRUE(a.gender && a.gender_score && a.age);
    EXPECT_EQ(*a.gender, "female");
    EXPECT_GT(*a.gender_score, 0.5f);
    EXPECT_GT(*a.age, 20.f);
    EXPECT_LT(*a.age, 60.f);
  }
  // Tight grey 150x150 crops are hard for this 64x64 model: only the clear cases are asserted
  // above; these are printed for the record.
  for (const char* image : {"face_api_js/penny1.png", "face_api_js/amy1.png"}) run_face_api_crop(image);
}

TEST(Attributes, SmilesAreHappyAndAStraightFaceIsNot) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  for (const Attributes& a :
       {run_face_api_crop("face_api_js/amy1.png"), run_face_api_crop("face_api_js/bernadette1.png"),
        run_reference("openface/longoria-cooper.jpg", 0), run_reference("openface/longoria-cooper.jpg", 1)}) {
    ASSERT_TRUE(a.expression && a.expression_score);
    EXPECT_EQ(*a.expression, "happy");
    EXPECT_GT(*a.expression_score, 0.9f);
  }
  const Attributes lennon = run_reference("openface/lennon-2.jpg");
  ASSERT_TRUE(lennon.expression);
  EXPECT_EQ(*lennon.expression, "neutral");
}

TEST(Attributes, OpenEyesAreOpen) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const std::pair<const char*, size_t> faces[] = {{"face_recognition/obama2.jpg", 0},
                                                  {"face_recognition/obama3.jpg", 0},
                                                  {"face_recognition/biden.jpg", 0},
                                                  {"openface/longoria-cooper.jpg", 0},
                                                  {"openface/longoria-cooper.jpg", 1}};
  for (const auto& [image, index] : faces) {
    const Attributes a = run_reference(image, index);
    ASSERT_TRUE(a.eyes_open) << image;
    EXPECT_GT((*a.eyes_open)[0], 0.5f) << image;
    EXPECT_GT((*a.eyes_open)[1], 0.5f) << image;
  }
}

// Roll is the tilt of the line between the eyes (positive: the right eye lower in the image).
TEST(Attributes, RollFollowsTheEyeLine) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const std::pair<const char*, size_t> faces[] = {
      {"face_recognition/obama.jpg", 0},      {"face_recognition/obama2.jpg", 0},
      {"face_recognition/obama3.jpg", 0},     {"face_recognition/biden.jpg", 0},
      {"face_recognition/two_people.jpg", 0}, {"face_recognition/two_people.jpg", 1},
      {"openface/lennon-1.jpg", 0},           {"openface/lennon-2.jpg", 0},
      {"openface/longoria-cooper.jpg", 0},    {"openface/longoria-cooper.jpg", 1}};
  for (const auto& [image, index] : faces) {
    const auto face = reference_face(image, index);
    ASSERT_TRUE(face && face->five) << image;
    const auto& p = *face->five;
    const float eye_line = std::atan2(p[1].y - p[0].y, p[1].x - p[0].x) * 180.f / 3.14159265f;
    Attributes a;
    ASSERT_TRUE(models().get("pose").apply(load(image), face->box, face->five, &a).ok()) << image;
    std::cout << "[ values   ] " << image << " " << index << ": roll " << (*a.pose)[2] << ", eye line " << eye_line
              << " degrees\n";
    EXPECT_NEAR((*a.pose)[2], eye_line, 8.f) << image << " face " << index;
  }
}

// A mirrored face turns the other way: yaw and roll change sign, pitch stays.
TEST(Attributes, MirroredFaceFlipsYawAndRoll) {
  REQUIRE_ATTRIBUTE_MODELS();
  FACELENS_REQUIRE_DATA();
  const std::string name = "face_recognition/biden.jpg";
  const auto face = reference_face(name, 0);
  ASSERT_TRUE(face.has_value());
  const Image img = load(name);
  ASSERT_FALSE(img.empty());
  Image mirrored = img;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      std::copy_n(img.row(y) + 3 * x, 3,
                  mirrored.pixels.data() + (static_cast<size_t>(y) * img.width + (img.width - 1 - x)) * 3);
    }
  }
  const float w = static_cast<float>(img.width);
  const Face flipped{Box{w - face->box.x2, face->box.y1, w - face->box.x1, face->box.y2}, std::nullopt};
  const Attributes a = run_all(name, img, *face);
  const Attributes b = run_all(name + " mirrored", mirrored, flipped);
  ASSERT_TRUE(a.pose && b.pose);
  EXPECT_NEAR((*a.pose)[0], -(*b.pose)[0], 5.f);
  EXPECT_NEAR((*a.pose)[1], (*b.pose)[1], 5.f);
  EXPECT_NEAR((*a.pose)[2], -(*b.pose)[2], 5.f);
}

}  // namespace
