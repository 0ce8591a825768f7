// facelens detect | embed | analyze | verify.
#include <filesystem>
#include <iostream>

#include "common.h"
#include "facelens/result_json.h"

namespace facelens::cli {
namespace {

using json = nlohmann::ordered_json;

std::string draw_path(const std::string& out, const std::string& image, size_t n_images) {
  if (n_images == 1 && !std::filesystem::is_directory(out)) {
    auto parent = std::filesystem::path(out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    return out;
  }
  std::filesystem::create_directories(out);
  return (std::filesystem::path(out) / (std::filesystem::path(image).stem().string() + ".png")).string();
}

Status draw(const std::string& image_path, const ImageResult& r, const std::string& out) {
  auto bytes = read_file_bytes(image_path, DecodeOptions{}.max_bytes);
  if (!bytes.ok()) return bytes.status();
  auto img = decode_image(*bytes, {});
  if (!img.ok()) return img.status();
  Image canvas = std::move(img->image);
  draw_faces(canvas, r.faces);
  return write_png(canvas, out);
}

// detect / embed / analyze: one result per image, errors per image, exit 0 only if all succeeded.
int cmd_images(const Common& c, const std::vector<std::string>& images, const AnalyzeOptions& what,
               const std::string& draw_out) {
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  auto engine = Engine::create(*opts);
  if (!engine.ok()) return fail(engine.status());
  // Load (and hash-check) every model this command needs before the first image.
  if (Status s = (*engine)->warm_up(what); !s.ok()) return fail(s);
  int rc = 0;
  for (const auto& path : images) {
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
    if (c.json_out) {
      json j = format::to_json(*r, path);
      j["providers"] = format::providers_json((*engine)->services());
      std::cout << j.dump() << "\n" << std::flush;
    } else {
      std::cout << format::to_text(*r, path) << std::flush;
    }
    if (!draw_out.empty()) {
      Status s = draw(path, *r, draw_path(draw_out, path, images.size()));
      if (!s.ok()) return fail(s);
    }
  }
  return rc;
}

int cmd_verify(const Common& c, const std::string& a, const std::string& b, float threshold) {
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  EngineOptions o = *opts;
  o.match_threshold = threshold;
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
  VerifyResult v = (*engine)->compare(faces[0].embedding, faces[1].embedding);
  v.face_a = faces[0];
  v.face_b = faces[1];
  if (c.json_out) {
    json j = {{"image_a", a}, {"image_b", b}};
    j.update(format::to_json(v));
    j["providers"] = format::providers_json((*engine)->services());
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s vs %s: similarity %.4f, %s (threshold %.3f)\n", a.c_str(), b.c_str(), v.similarity,
                v.match ? "same person" : "different people", v.threshold);
    for (int i = 0; i < 2; ++i)
      if (faces[i].deepfake)
        std::printf("  %s: deepfake score %.4f, %s (threshold %.3f)\n", paths[i].c_str(), faces[i].deepfake->score,
                    faces[i].deepfake->fake ? "fake" : "real", faces[i].deepfake->threshold);
  }
  return 0;
}

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
  detect->add_option("images", args->images, "image files (JPEG, PNG, WebP, BMP)")->required();
  detect->add_option("--draw", args->draw_out,
                     "write the image(s) with boxes and landmarks (PNG; a folder for several images)");
  detect->add_flag("--no-landmarks", args->no_landmarks, "boxes only (faster)");
  runners.push_back([detect, args, &common]() -> std::optional<int> {
    if (!*detect) return std::nullopt;
    AnalyzeOptions what;
    what.landmarks = !args->no_landmarks;
    return cmd_images(common, args->images, what, args->draw_out);
  });

  auto* embed = app.add_subcommand("embed", "faces with their L2-normalised embeddings");
  add_common(embed, common);
  embed->add_option("images", args->images, "image files")->required();
  embed->add_option("--draw", args->draw_out, "write the image(s) with boxes and landmarks");
  runners.push_back([embed, args, &common]() -> std::optional<int> {
    if (!*embed) return std::nullopt;
    AnalyzeOptions what;
    what.embedding = true;
    return cmd_images(common, args->images, what, args->draw_out);
  });

  auto* analyze = app.add_subcommand("analyze", "faces with liveness and attributes");
  add_common(analyze, common);
  analyze->add_option("images", args->images, "image files")->required();
  analyze->add_option("--draw", args->draw_out, "write the image(s) with boxes and landmarks");
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
  verify->add_option("--threshold", args->threshold,
                     "match threshold on the cosine similarity (default: the manifest's calibrated one)");
  runners.push_back([verify, args, &common]() -> std::optional<int> {
    if (!*verify) return std::nullopt;
    return cmd_verify(common, args->a, args->b, args->threshold);
  });
}

}  // namespace facelens::cli
