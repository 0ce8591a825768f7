// Per-stage CPU timings of the default pipeline on a one-face 640x480 JPEG:
// decode, detect, landmarks, align, embed, liveness, and end to end (decode to embedding).
//   build/tools/bench/stage_bench [--benchmark_min_time=1] [--spinning]
// The photo: ../shared/data/faces/face_recognition/obama-480p.jpg cropped to 640x480 around the
// face (or, without shared data, the setup's astronaut.png resized), JPEG-encoded at quality 90.
#include <benchmark/benchmark.h>
#include <turbojpeg.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include "align/aligner.h"
#include "detect/detector.h"
#include "facelens/engine.h"
#include "image/tensor.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "models/binding.h"
#include "models/registry.h"
#include "recognize/recognizer.h"

namespace {

using namespace facelens;

bool g_spinning = false;
int g_threads = 0;

std::vector<uint8_t> encode_jpeg(const Image& img) {
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  tjCompress2(h, img.pixels.data(), img.width, 0, img.height, TJPF_RGB, &buf, &size, TJSAMP_420, 90, 0);
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

struct Fixture {
  std::vector<uint8_t> jpeg;
  Image image;
  std::string models = FACELENS_DEFAULT_MODELS;
  std::shared_ptr<models::ModelRegistry> registry;
  std::shared_ptr<const runtime::Environment> env;
  std::shared_ptr<const detect::Detector> detector;
  std::shared_ptr<const landmarks::LandmarkModel> landmarks;
  std::shared_ptr<const recognize::Recognizer> recognizer;
  std::shared_ptr<const liveness::LivenessModel> liveness;
  std::unique_ptr<Engine> engine;
  Box box;
  FivePoints five;
  Image aligned;

  static Fixture& get() {
    static Fixture f;  // built once, on first use, by the benchmark thread
    return f;
  }

  template <typename T>
  static T must(StatusOr<T> v, const char* what) {
    if (!v.ok()) {
      std::cerr << what << ": " << v.status().to_string() << "\n";
      std::exit(1);
    }
    return std::move(v).value();
  }

  Fixture() {
    std::string data = FACELENS_TEST_DATA;
    std::string photo = data + "/faces/face_recognition/obama-480p.jpg";
    Image src;
    if (std::filesystem::exists(photo)) {
      Image full = must(decode_image_file(photo, {}), "decode").image;
      src = image::crop(full, 100, 0, 640, 480);
    } else {
      src = image::resize(must(decode_image_file(FACELENS_SAMPLE, {}), "decode sample").image, 640, 480);
    }
    jpeg = encode_jpeg(src);
    image = must(decode_image(jpeg, {}), "decode jpeg").image;
    runtime::SessionOptions so;
    so.allow_spinning = g_spinning;
    so.intra_op_threads = g_threads;
    so.service.provider = Provider::kCpu;
    registry = must(models::ModelRegistry::open(models), "registry");
    env = must(runtime::Environment::create({}), "env");
    const auto& m = registry->manifest();
    auto open = [&](const char* service) {
      return must(models::open_session(*registry, *m.default_for(service), env, so), service);
    };
    detector = must(detect::create_detector(*m.default_for("detector"), open("detector"), {}), "detector");
    landmarks = must(landmarks::LandmarkModel::create(*m.default_for("landmarks"), open("landmarks")), "landmarks");
    recognizer = must(recognize::Recognizer::create(*m.default_for("recognizer"), open("recognizer")), "recognizer");
    liveness = must(liveness::LivenessModel::create(*m.default_for("liveness"), open("liveness")), "liveness");
    EngineOptions eo;
    eo.models_dir = models;
    eo.runtime.allow_spinning = g_spinning;
    eo.runtime.intra_op_threads = g_threads;
    eo.runtime.provider = Provider::kCpu;
    engine = must(Engine::create(eo), "engine");
    auto faces = must(detector->detect(image), "detect");
    if (faces.empty()) {
      std::cerr << "no face in the benchmark photo\n";
      std::exit(1);
    }
    box = faces[0].box;
    five = must(landmarks->predict(image, box), "landmarks");
    aligned = align::align_face(image, five, recognizer->input_size());
  }
};

void BM_Decode(benchmark::State& st) {
  auto& f = Fixture::get();
  for (auto _ : st) benchmark::DoNotOptimize(decode_image(f.jpeg, {}));
}
void BM_Detect(benchmark::State& st) {
  auto& f = Fixture::get();
  for (auto _ : st) benchmark::DoNotOptimize(f.detector->detect(f.image));
}
void BM_Landmarks(benchmark::State& st) {
  auto& f = Fixture::get();
  for (auto _ : st) benchmark::DoNotOptimize(f.landmarks->predict(f.image, f.box));
}
void BM_Align(benchmark::State& st) {
  auto& f = Fixture::get();
  for (auto _ : st) benchmark::DoNotOptimize(align::align_face(f.image, f.five, 112));
}
void BM_Embed(benchmark::State& st) {
  auto& f = Fixture::get();
  std::vector<Image> one = {f.aligned};
  for (auto _ : st) benchmark::DoNotOptimize(f.recognizer->embed(one));
}
void BM_Liveness(benchmark::State& st) {
  auto& f = Fixture::get();
  for (auto _ : st) benchmark::DoNotOptimize(f.liveness->score(f.image, f.box));
}
void BM_EndToEnd_DecodeToEmbedding(benchmark::State& st) {
  auto& f = Fixture::get();
  AnalyzeOptions what;
  what.embedding = true;
  for (auto _ : st) {
    auto r = f.engine->analyze_bytes(f.jpeg, what);
    if (!r.ok() || r->faces.size() != 1) st.SkipWithError("end to end did not find exactly one face");
  }
}

BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Detect)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Landmarks)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Align)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Embed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Liveness)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EndToEnd_DecodeToEmbedding)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--spinning") == 0) g_spinning = true;
    if (std::strncmp(argv[i], "--threads=", 10) == 0) g_threads = std::atoi(argv[i] + 10);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
