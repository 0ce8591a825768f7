// facelens detect | embed | analyze | verify.
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include "common.h"
#include "facelens/result_json.h"

namespace facelens::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// Where --draw writes. One image: the file named (PNG or JPEG by its extension), or into the
// folder named when one exists or the name ends with a separator ("drawn/"). Several images: into a folder of that name
// (created), one <stem>.png per image.
struct DrawPlan {
  std::string out;
  bool folder = false;
  std::set<std::string> used;  // file names written into the folder
};

StatusOr<DrawPlan> plan_draw(const std::string& out, const std::vector<std::string>& images) {
  DrawPlan plan{out, false, {}};
  const size_t n_images = images.size();
  std::error_code ec;
  const bool names_folder = !out.empty() && (out.back() == '/' || fs::is_directory(out, ec));
  if (n_images == 1 && !names_folder) {
    FACELENS_RETURN_IF_ERROR(image_format_for_path(out).status().with_context("--draw"));
    if (fs::equivalent(out, images[0], ec))
      return invalid_argument("--draw " + out + " is the photo itself: name another file or a folder");
    return plan;
  }
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    return invalid_argument("--draw " + out + ": " + std::to_string(n_images) +
                            " images are drawn into a folder, and " + out + " is a file: name a folder");
  if (!fs::exists(out, ec) && has_image_extension(out))
    return invalid_argument("--draw " + out + ": " + std::to_string(n_images) +
                            " images are drawn into a folder (created), and " + out +
                            " looks like a file name: name a folder, e.g. --draw drawn/");
  plan.folder = true;
  return plan;
}

// The file one image is drawn into (creating the folders it needs).
StatusOr<std::string> draw_path(DrawPlan& plan, const std::string& image) {
  std::error_code ec;
  if (!plan.folder) {
    const auto parent = fs::path(plan.out).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) return invalid_argument("--draw: cannot create the folder " + parent.string() + ": " + ec.message());
    return plan.out;
  }
  fs::create_directories(plan.out, ec);
  if (ec) return invalid_argument("--draw: cannot create the folder " + plan.out + ": " + ec.message());
  const std::string stem = fs::path(image).stem().string();
  std::string name = stem + ".png";
  for (int k = 2; plan.used.count(name) || fs::equivalent(fs::path(plan.out) / name, image, ec); ++k)
    name = stem + "-" + std::to_string(k) + ".png";  // two photos of one name, or the photo itself
  plan.used.insert(name);
  return (fs::path(plan.out) / name).string();
}

Status draw(const std::string& image_path, const ImageResult& r, const std::string& out) {
  auto bytes = read_file_bytes(image_path, DecodeOptions{}.max_bytes);
  if (!bytes.ok()) return bytes.status();
  auto img = decode_image(*bytes, {});
  if (!img.ok()) return img.status();
  Image canvas = std::move(img->image);
  draw_faces(canvas, r.faces);
  return write_image(canvas, out);
}

// detect / embed / analyze: one result per image, errors per image, exit 0 only if all succeeded.
int cmd_images(const Common& c, const std::vector<std::string>& args, const AnalyzeOptions& what,
               const std::string& draw_out) {
  auto images = expand_images(args);
  if (!images.ok()) return fail(images.status());
  std::optional<DrawPlan> plan;
  if (!draw_out.empty()) {
    auto p = plan_draw(draw_out, *images);
    if (!p.ok()) {
      std::cerr << "facelens: " << p.status().to_string() << "\n";
      return kExitUsage;
    }
    plan = std::move(*p);
  }
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  auto engine = Engine::create(*opts);
  if (!engine.ok()) return fail(engine.status());
  // Load (and hash-check) every model this command needs before the first image.
  if (Status s = (*engine)->warm_up(what); !s.ok()) return fail(s);
  int rc = 0;
  for (const auto& path : *images) {
    auto r = (*engine)->analyze_file(path, what);
    if (!r.ok()) {
      if (r.status().code() != StatusCode::kInvalidArgument && r.status().code() != StatusCode::kOutOfRange &&
          r.status().code() != StatusCode::kNotFound) {
        // A model or runtime failure affects every image: stop.
        return fail(r.status());
      }
      rc = kExitBadInput;
      if (c.json_out) std::cout << format::error_json(path, r.status()).dump() << "\n" << std::flush;
      std::cerr << "facelens: " << path << ": " << r.status().to_string() << "\n";
      continue;
    }
    std::string drawn;
    if (plan) {
      auto out = draw_path(*plan, path);
      Status s = out.ok() ? draw(path, *r, *out) : out.status();
      if (!s.ok()) return fail(s);
      drawn = *out;
    }
    if (c.json_out) {
      json j = format::to_json(*r, path);
      j["providers"] = format::providers_json((*engine)->services());
      if (!drawn.empty()) j["drawn"] = drawn;
      std::cout << j.dump() << "\n" << std::flush;
    } else {
      std::cout << format::to_text(*r, path);
      if (!drawn.empty()) std::cout << "  drawn: " << drawn << "\n";
      std::cout << std::flush;
    }
  }
  return rc;
}

int cmd_verify(const Common& c, const std::string& a, const std::string& b, float threshold) {
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  EngineOptions o = *opts;
  if (threshold >= 0) o.match_threshold = threshold;  // else the config's, else the manifest's
  auto engine = Engine::create(o);
  if (!engine.ok()) return fail(engine.status());
  AnalyzeOptions what;
  what.embedding = true;
  what.deepfake = true;  // when a deepfake model is configured
  if (Status s = (*engine)->warm_up(what); !s.ok()) return fail(s);
  Face faces[2];
  const std::string paths[2] = {a, b};
  for (int i = 0; i < 2; ++i) {
    auto r = (*engine)->analyze_file(paths[i], what);
    if (!r.ok()) return fail(r.status().with_context(paths[i]));
    if (r->faces.empty()) return fail(invalid_argument(paths[i] + ": no face found"));
    faces[i] = *std::max_element(r->faces.begin(), r->faces.end(),
                                 [](const auto& x, const auto& y) { return x.box.area() < y.box.area(); });
  }
  const ThresholdChoice used = match_threshold_choice(c, threshold, *opts, **engine);
  VerifyResult v = (*engine)->compare(faces[0].embedding, faces[1].embedding);
  v.face_a = faces[0];
  v.face_b = faces[1];
  if (c.json_out) {
    json j = {{"image_a", a}, {"image_b", b}};
    j.update(format::to_json(v));
    j["providers"] = format::providers_json((*engine)->services());
    j["threshold_source"] = threshold_source_name(used.source);
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s vs %s: similarity %.4f, %s (threshold %.4f from %s)\n", a.c_str(), b.c_str(), v.similarity,
                v.match ? "same person" : "different people", v.threshold, used.describe().c_str());
    for (int i = 0; i < 2; ++i)
      if (faces[i].deepfake)
        std::printf("  %s: deepfake score %.4f, %s (threshold %.3f)\n", paths[i].c_str(), faces[i].deepfake->score,
                    faces[i].deepfake->fake ? "fake" : "real", faces[i].deepfake->threshold);
  }
  return 0;
}

constexpr const char* kImagesHelp =
    "image files (JPEG, PNG, WebP, BMP), or folders: a folder stands for the images directly in it";
constexpr const char* kDrawHelp =
    "draw boxes and landmarks: one image into this file (.png, .jpg or .jpeg) or existing folder; several "
    "images into this folder (created), one <name>.png each; each path written is printed";

struct ImageArgs {
  std::vector<std::string> images;
  std::string draw_out;
  bool no_landmarks = false, no_liveness = false, no_attributes = false;
  std::string a, b;
  float threshold = -1;
};

}  // namespace

void register_image_commands(CLI::App& app, Common& common, std::vector<Runner>& runners) {
  auto args = std::make_shared<ImageArgs>();

  auto* detect = app.add_subcommand("detect", "find faces (boxes, scores, five landmarks)");
  add_common(detect, common);
  detect->add_option("images", args->images, kImagesHelp)->required();
  detect->add_option("--draw", args->draw_out, kDrawHelp);
  detect->add_flag("--no-landmarks", args->no_landmarks, "boxes only (faster)");
  runners.push_back([detect, args, &common]() -> std::optional<int> {
    if (!*detect) return std::nullopt;
    AnalyzeOptions what;
    what.landmarks = !args->no_landmarks;
    return cmd_images(common, args->images, what, args->draw_out);
  });

  auto* embed = app.add_subcommand("embed", "faces with their L2-normalised embeddings");
  add_common(embed, common);
  embed->add_option("images", args->images, kImagesHelp)->required();
  embed->add_option("--draw", args->draw_out, kDrawHelp);
  runners.push_back([embed, args, &common]() -> std::optional<int> {
    if (!*embed) return std::nullopt;
    AnalyzeOptions what;
    what.embedding = true;
    return cmd_images(common, args->images, what, args->draw_out);
  });

  auto* analyze = app.add_subcommand("analyze", "faces with liveness and attributes");
  add_common(analyze, common);
  analyze->add_option("images", args->images, kImagesHelp)->required();
  analyze->add_option("--draw", args->draw_out, kDrawHelp);
  analyze->add_flag("--no-liveness", args->no_liveness, "skip the liveness model");
  analyze->add_flag("--no-attributes", args->no_attributes, "skip the attribute models");
  runners.push_back([analyze, args, &common]() -> std::optional<int> {
    if (!*analyze) return std::nullopt;
    AnalyzeOptions what;
    what.liveness = !args->no_liveness;
    what.attributes = !args->no_attributes;
    what.deepfake = true;  // when a deepfake model is configured
    return cmd_images(common, args->images, what, args->draw_out);
  });

  auto* verify = app.add_subcommand("verify", "are the largest faces of two images the same person?");
  add_common(verify, common);
  verify->add_option("a", args->a, "first image")->required();
  verify->add_option("b", args->b, "second image")->required();
  verify
      ->add_option("--threshold", args->threshold,
                   "match threshold on the cosine similarity (default: [recognizer] match_threshold of the "
                   "config, as `calibrate --write-config` writes it, else the manifest's)")
      ->check(CLI::Range(0.0, 1.0));  // the unset value is -1: a negative one would be ignored
  runners.push_back([verify, args, &common]() -> std::optional<int> {
    if (!*verify) return std::nullopt;
    return cmd_verify(common, args->a, args->b, args->threshold);
  });
}

}  // namespace facelens::cli
