// The public benchmark API (facelens/benchmark.h): one small CPU run writes results.json and
// report.md, reports its progress in order and its providers; bad options are refused before
// anything runs.
#include <gtest/gtest.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "bench/services.h"
#include "common/onnx_gen.h"
#include "common/test_env.h"
#include "facelens/benchmark.h"
#include "facelens/engine.h"
#include "image/tensor.h"
#include "recognize/recognizer.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

class BenchmarkApi : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    photo_ = std::string(FACELENS_SOURCE_DIR) + "/.deps/samples/astronaut.png";
    if (!fs::exists(photo_)) GTEST_SKIP() << photo_ << " is absent (run scripts/setup.sh): test skipped";
    dir_ = fs::temp_directory_path() / ("facelens_bench_api_" + std::to_string(::getpid()));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  BenchmarkOptions small_options() const {
    BenchmarkOptions o;
    o.images = {photo_};
    o.providers = {"cpu"};
    o.services = {"embed"};
    o.batches = {1};
    o.iterations = 2;
    o.warmup = 1;
    o.warmup_max = 1;  // exactly one warm-up run: the progress below counts them
    o.models_dir = testing::models_dir();
    return o;
  }
  std::string photo_;
  fs::path dir_;
};

TEST_F(BenchmarkApi, SmallCpuRunWritesResultsAndReportsProgress) {
  BenchmarkOptions o = small_options();
  std::vector<BenchmarkProgress> events;
  o.on_progress = [&](const BenchmarkProgress& p) { events.push_back(p); };
  auto r = run_benchmark(o, dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n_failed, 0);
  ASSERT_EQ(r->providers.size(), 1u);
  EXPECT_EQ(r->providers[0].name, "cpu");
  EXPECT_TRUE(r->providers[0].available);
  for (const auto& f : r->chart_files) EXPECT_TRUE(fs::exists(dir_ / f)) << f;

  ASSERT_TRUE(fs::exists(dir_ / "report.md"));
  std::ifstream in(dir_ / "results.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["service"], "embed");
  EXPECT_EQ(j["results"][0]["provider"], "cpu");
  EXPECT_EQ(j["results"][0]["batch"], 1);
  EXPECT_EQ(j["results"][0]["samples_ms"].size(), 2u);

  // One step: kStep, then its 3 runs (1 warm-up + 2 timed) as kRun, then kStepDone.
  std::vector<BenchmarkProgress> steps;
  int runs = 0;
  for (const auto& e : events) {
    if (e.event == BenchmarkProgress::Event::kRun) ++runs;
    if (e.event == BenchmarkProgress::Event::kStep || e.event == BenchmarkProgress::Event::kStepDone)
      steps.push_back(e);
  }
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].event, BenchmarkProgress::Event::kStep);
  EXPECT_EQ(steps[0].n_steps, 1);
  EXPECT_EQ(steps[0].label, "embed cpu fp32 batch 1");
  EXPECT_EQ(steps[1].event, BenchmarkProgress::Event::kStepDone);
  EXPECT_FALSE(steps[1].message.empty());
  EXPECT_EQ(runs, 3);
}

// `--reference-design` on tiny graphs with the reference design's contracts (YOLOv10 head at
// 640x640 with a fixed batch of 1, ArcFace and AdaFace at 112x112, an Xception-shaped classifier
// at 299x299): the comparison table holds each model beside its own reference figure, at fp32 and
// best precision; fp16 variants are made by the converter into the cache once; no CUDA figure is
// filled where CUDA did not run (this machine has none: the reason is shown instead).
TEST_F(BenchmarkApi, ReferenceDesignOnTinyGraphs) {
  testing::GenDir gen("bench_reference");
  std::vector<float> head(300 * 6, 0.0f);
  ASSERT_TRUE(testing::write_detector_head(gen.path("yolov10n.onnx"), {1, 3, 640, 640}, {1, 300, 6}, head));
  std::vector<float> w(3 * 512), b(512, 0.0f);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * static_cast<float>(i % 7);
  ASSERT_TRUE(testing::write_linear_model(gen.path("arcface-r50.onnx"), 112, w, b, testing::LinearHead::kLinear));
  ASSERT_TRUE(testing::write_linear_model(gen.path("adaface-ir101.onnx"), 112, w, b, testing::LinearHead::kAdaFace));
  ASSERT_TRUE(testing::write_linear_model(gen.path("xception.onnx"), 299, {1, -1, 0.5f, 0.5f, -1, 1}, {0, 0},
                                          testing::LinearHead::kLinear));
  BenchmarkOptions o = small_options();
  o.images = {};
  o.providers = {"cpu", "cuda"};
  o.batches = {1, 2};
  o.precisions = {"fp32", "fp16"};
  o.reference_design = true;
  o.reference_models_dir = gen.dir();
  o.reference_cache_dir = gen.path("cache");
  auto r = run_benchmark(o, dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n_failed, 0);
  const bool cuda = r->providers.size() == 2 && r->providers[1].available;

  std::ifstream in(dir_ / "results.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["reference_models"].size(), 4u) << j["skipped"].dump();
  for (const auto& m : j["reference_models"]) {
    EXPECT_TRUE(m["files"].contains("fp16")) << m.dump() << j["skipped"].dump();
    if (m["files"].contains("fp16")) {
      EXPECT_TRUE(fs::exists(m["files"]["fp16"].get<std::string>()));
    }
  }
  EXPECT_EQ(j["reference_models"][0]["dynamic_batch"], false);  // the YOLOv10 head: batch 2 = 2 calls
  const std::map<std::string, std::string> figure = {{"yolov10n", "Face Detection"},
                                                     {"arcface-r50", "Face Recognition"},
                                                     {"adaface-ir101", "Face Recognition"},
                                                     {"xception", "Deepfake Detection"}};
  int n_rows = 0;
  for (const auto& row : j["results"]) {
    ASSERT_TRUE(figure.count(row["service"])) << row["service"];
    EXPECT_EQ(row["reference"], figure.at(row["service"]));
    EXPECT_EQ(row["status"], "ok") << row["note"];
    EXPECT_EQ(row["warmup"], 1);
    EXPECT_EQ(row["warmup_stop"], "fixed");
    if (row["service"] == "yolov10n" && row["batch"] == 2) {
      EXPECT_EQ(row["calls_per_run"], 2);
    }
    if (row["service"] == "xception" && row["batch"] == 2) {
      EXPECT_EQ(row["calls_per_run"], 1);
    }
    if (!cuda) {
      EXPECT_TRUE(row["speedup_vs_cpu"].is_null()) << "no second provider ran";
    }
    ++n_rows;
  }
  EXPECT_EQ(n_rows, 4 * 2 * 2 * (cuda ? 2 : 1));  // models x precisions x batches x providers

  const auto& c = j["reference_comparison"];
  ASSERT_EQ(c.size(), 8u);  // fp32 and best for each model
  for (const auto& row : c) {
    EXPECT_EQ(row["reference"], figure.at(row["arch"]));
    EXPECT_EQ(row["batch"], 1);
    EXPECT_FALSE(row["cpu"]["p50_ms"].is_null()) << row.dump();
    if (!cuda) {
      EXPECT_TRUE(row["cuda"]["p50_ms"].is_null()) << "a CUDA figure without CUDA: " << row.dump();
      EXPECT_NE(row["cuda"]["why_not"].get<std::string>().find("cuda unavailable"), std::string::npos);
    }
  }

  std::ifstream md_in(dir_ / "report.md");
  const std::string md((std::istreambuf_iterator<char>(md_in)), std::istreambuf_iterator<char>());
  for (const auto& [arch, name] : figure)
    for (const std::string kind : {"fp32", "best"})
      EXPECT_NE(md.find("| " + name + " | " + arch + " | " + kind + " |"), std::string::npos)
          << arch << " " << kind << "\n"
          << md;
  EXPECT_NE(md.find("150–200 ms"), std::string::npos);
  if (!cuda) {
    EXPECT_NE(md.find("n/a: cuda unavailable"), std::string::npos);
    EXPECT_EQ(md.find("speedup vs CPU"), std::string::npos);
  }

  // The chart's reference bars (midpoints) stand beside the reference design's models only.
  std::ifstream dat_in(dir_ / "charts" / "cpu_vs_gpu.dat");
  ASSERT_TRUE(dat_in) << "cpu_vs_gpu.dat not written";
  std::string header, line;
  std::getline(dat_in, header);
  EXPECT_NE(header.find("reference design CPU (midpoint)"), std::string::npos) << header;
  EXPECT_EQ(header.find("facelens CUDA"), cuda ? header.find("facelens CUDA") : std::string::npos) << header;
  std::map<std::string, std::string> dat;
  while (std::getline(dat_in, line)) dat[line.substr(0, line.find(' '))] = line;
  ASSERT_EQ(dat.size(), 4u);
  if (!cuda) {
    EXPECT_NE(dat["yolov10n"].find(" 100 20"), std::string::npos) << dat["yolov10n"];  // 80-120, 15-25 ms
    EXPECT_NE(dat["xception"].find(" 350 70"), std::string::npos) << dat["xception"];
  }

  // A second run reuses the fp16 variants in the cache (same files, not converted again).
  const auto first = fs::last_write_time(j["reference_models"][1]["files"]["fp16"].get<std::string>());
  o.reference_archs = {"arcface-r50"};
  o.batches = {1};
  o.providers = {"cpu"};
  ASSERT_TRUE(run_benchmark(o, (dir_ / "again").string()).ok());
  EXPECT_EQ(fs::last_write_time(j["reference_models"][1]["files"]["fp16"].get<std::string>()), first);
}

// The "pipeline" service times the service's own path (Engine::analyze_bytes with /v1/embed's
// options), not a copy of it: on a 13 megapixel JPEG made from a shared photo, every image of a
// batch of 2 (two concurrent calls) answers as Engine::analyze_bytes does on the same bytes, at
// the same DCT decode scale (below 1: a full decode, as a private decode_image path would make,
// answers 1), with the same faces, boxes and embeddings; and `facelens bench --services pipeline`
// records the faces that answer has.
TEST_F(BenchmarkApi, PipelineTimesTheServicePath) {
  FACELENS_REQUIRE_DATA();
  const std::string source = testing::data_dir() + "/faces/face_recognition/obama3.jpg";
  auto bytes = read_file_bytes(source, 1 << 30);
  if (!bytes.ok()) GTEST_SKIP() << source << " is absent: test skipped";
  auto small = decode_image(*bytes, {});
  ASSERT_TRUE(small.ok()) << small.status().to_string();
  // 2333x1434 -> 4666x2868 (13.4 megapixels), baseline 4:2:0.
  const Image large = image::resize(small->image, small->image.width * 2, small->image.height * 2);
  tjhandle h = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long n = 0;
  ASSERT_EQ(tjCompress2(h, large.pixels.data(), large.width, 0, large.height, TJPF_RGB, &out, &n, TJSAMP_420, 90, 0),
            0);
  std::vector<uint8_t> jpeg(out, out + n);
  tjFree(out);
  tjDestroy(h);
  const fs::path photo = dir_ / "large.jpg";
  fs::create_directories(dir_);
  {
    std::ofstream f(photo, std::ios::binary);
    f.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
  }

  EngineOptions eo;
  eo.models_dir = testing::models_dir();
  auto engine = Engine::create(eo);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  AnalyzeOptions embed;
  embed.embedding = true;
  auto expected = (*engine)->analyze_bytes(jpeg, embed);
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  ASSERT_FALSE(expected->faces.empty());
  ASSERT_LT(expected->decode_scale, 1.0) << "a 13 MP photo is detected on a DCT-scaled decode";

  bench::BenchInputs in;
  in.paths = {photo.string()};
  in.encoded = {jpeg};
  bench::ServiceContext ctx;
  ctx.inputs = &in;
  ctx.engine = eo;
  auto pipeline = bench::make_pipeline_bench(ctx);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().to_string();
  ASSERT_TRUE((*pipeline)->prepare(2).ok());
  ASSERT_TRUE((*pipeline)->run().ok());
  ASSERT_EQ((*pipeline)->last_results().size(), 2u);
  EXPECT_EQ((*pipeline)->faces_last_run(), 2 * static_cast<int>(expected->faces.size()));
  for (const ImageResult& got : (*pipeline)->last_results()) {
    EXPECT_EQ(got.decode_scale, expected->decode_scale);
    EXPECT_EQ(got.width, expected->width);
    EXPECT_EQ(got.height, expected->height);
    ASSERT_EQ(got.faces.size(), expected->faces.size());
    for (size_t i = 0; i < got.faces.size(); ++i) {
      EXPECT_GE(iou(got.faces[i].box, expected->faces[i].box), 0.9999f) << "face " << i;
      EXPECT_GE(recognize::cosine(got.faces[i].embedding, expected->faces[i].embedding), 0.9999f) << "face " << i;
    }
  }
  bool recognizer_loaded = false;
  for (const auto& s : (*pipeline)->sessions()) recognizer_loaded |= s.model_id == (*engine)->recognizer_model_id();
  EXPECT_TRUE(recognizer_loaded) << "the pipeline's sessions are its engine's";

  BenchmarkOptions o = small_options();
  o.images = {photo.string()};
  o.services = {"pipeline"};
  auto r = run_benchmark(o, (dir_ / "out").string());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n_failed, 0);
  std::ifstream results(dir_ / "out" / "results.json");
  const auto j = nlohmann::json::parse(results);
  ASSERT_EQ(j["results"].size(), 1u);
  const auto& row = j["results"][0];
  EXPECT_EQ(row["service"], "pipeline");
  EXPECT_EQ(row["status"], "ok") << row["note"];
  EXPECT_EQ(row["item"], "image");
  EXPECT_EQ(row["faces_per_run"], static_cast<int>(expected->faces.size()));
  EXPECT_EQ(row["samples_ms"].size(), 2u);
}

TEST_F(BenchmarkApi, BadOptionsAreRefusedBeforeRunning) {
  BenchmarkOptions o = small_options();
  EXPECT_TRUE(validate_benchmark_options(o).ok());
  o.images.clear();
  EXPECT_EQ(validate_benchmark_options(o).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run_benchmark(o, dir_.string()).status().code(), StatusCode::kInvalidArgument);
  o = small_options();
  o.services = {"teleport"};
  EXPECT_EQ(validate_benchmark_options(o).code(), StatusCode::kInvalidArgument);
  o = small_options();
  o.iterations = 0;
  EXPECT_EQ(validate_benchmark_options(o).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_));
}

}  // namespace
}  // namespace facelens
