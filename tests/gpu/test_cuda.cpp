// CUDA against the CPU, for a GPU host (ctest label gpu; scripts/gpu_check.sh runs them). Every
// test skips with the reason when CUDA cannot be used (no CUDA-enabled core, runtime, driver,
// device or cuDNN). For every default model: CUDA outputs against CPU outputs, node placement,
// device memory against gpu_mem_limit, batched against single runs with their latency; the
// engines on both providers (boxes, embeddings), FP16 on CUDA against FP32, and the device pool
// over two devices when there are two. The reference design's four models (synthesized at test
// time by facelens/synth.h: YOLOv10n, ArcFace-R50, AdaFace IR-101, Xception) are timed on CUDA
// against the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include <unistd.h>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "facelens/synth.h"
#include "models/binding.h"
#include "models/registry.h"
#include "runtime/placement.h"
#include "runtime/session.h"

namespace facelens {
namespace {

double cosine(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  if (aa == 0 && bb == 0) return 1;
  return ab / std::sqrt(aa * bb + 1e-30);
}

// A photo with faces: $FACELENS_SAMPLE, else the sample photo of scripts/setup.sh, else one of
// ../shared/data.
std::string photo() {
  std::string p = testing::env_or("FACELENS_SAMPLE", std::string(FACELENS_SOURCE_DIR) + "/.deps/samples/astronaut.png");
  if (std::filesystem::exists(p)) return p;
  if (!testing::data_dir().empty()) return testing::data_dir() + "/faces/face_recognition/two_people.jpg";
  return "";
}

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok());
    env_ = *env;
    ep_path_ = testing::env_or("FACELENS_CUDA_EP", "");
    auto n = env_->cuda_devices(ep_path_);
    if (!n.ok()) GTEST_SKIP() << "CUDA is unavailable: " << n.status().message();
    if (Status cudnn = env_->cudnn_status(); !cudnn.ok()) GTEST_SKIP() << "CUDA is unavailable: " << cudnn.message();
    n_devices_ = *n;
    auto reg = models::ModelRegistry::open(testing::models_dir());
    ASSERT_TRUE(reg.ok());
    registry_ = *reg;
    for (const auto& e : registry_->manifest().models)
      if (!e.package.empty()) defaults_.push_back(&e);  // the default models
    ASSERT_FALSE(defaults_.empty());
  }
  runtime::SessionOptions options(const models::ModelEntry& e, Provider p) const {
    runtime::SessionOptions so;
    RuntimeOptions rt;
    so.service = rt.resolve(std::string(models::name(e.task)));
    so.service.provider = p;
    so.require_gpu = p == Provider::kCuda;
    so.cuda_ep_path = ep_path_;
    return so;
  }
  StatusOr<std::shared_ptr<const runtime::Session>> open(const models::ModelEntry& e,
                                                         runtime::SessionOptions so) const {
    return models::open_session(*registry_, e, env_, so);
  }
  // Deterministic input of the manifest's shape with `batch` items, values in [-1, 1].
  static runtime::Tensor input(const models::ModelEntry& e, int batch, int seed) {
    runtime::Tensor t;
    t.shape = e.input.shape;
    t.shape[0] = batch;
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    t.data.resize(static_cast<size_t>(n));
    uint32_t x = 2166136261u ^ static_cast<uint32_t>(seed);
    for (auto& v : t.data) {
      x = x * 1664525u + 1013904223u;
      v = static_cast<float>((x >> 8) & 0xffff) / 32767.5f - 1.f;
    }
    return t;
  }
  EngineOptions engine_options(Provider p) const {
    EngineOptions o;
    o.models_dir = testing::models_dir();
    o.runtime.provider = p;
    o.runtime.require_gpu = p == Provider::kCuda;
    o.runtime.cuda_ep_path = ep_path_;
    return o;
  }
  std::shared_ptr<const runtime::Environment> env_;
  std::shared_ptr<models::ModelRegistry> registry_;
  std::vector<const models::ModelEntry*> defaults_;
  std::string ep_path_;
  int n_devices_ = 0;
};

TEST_F(Cuda, EveryDefaultModelGivesTheCpuOutputsAndRunsItsConvolutionsOnCuda) {
  for (const auto* e : defaults_) {
    auto cpu = open(*e, options(*e, Provider::kCpu));
    auto gpu = open(*e, options(*e, Provider::kCuda));
    ASSERT_TRUE(cpu.ok()) << e->id << ": " << cpu.status().to_string();
    ASSERT_TRUE(gpu.ok()) << e->id << ": " << gpu.status().to_string();
    ASSERT_EQ((*gpu)->provider(), "CUDAExecutionProvider") << e->id;
    EXPECT_TRUE((*gpu)->uses_staging()) << e->id << ": " << (*gpu)->staging_error();
    const auto& placement = (*gpu)->placement();
    std::cout << e->id << ": " << runtime::placement_to_string(placement) << "\n";
    EXPECT_GT(runtime::nodes_on(placement, "CUDAExecutionProvider"), 0) << e->id;
    for (const auto& p : placement) {
      if (p.ep != "CPUExecutionProvider") continue;
      EXPECT_EQ(p.op_types.count("Conv"), 0u)
          << e->id << ": convolutions on the CPU: " << runtime::placement_to_string(placement);
    }
    for (int seed = 0; seed < 3; ++seed) {
      auto in = input(*e, 1, seed);
      auto a = (*cpu)->run(runtime::refs_of({&in, 1}));
      auto b = (*gpu)->run(runtime::refs_of({&in, 1}));
      ASSERT_TRUE(a.ok() && b.ok()) << e->id << ": " << (a.ok() ? b.status().to_string() : a.status().to_string());
      ASSERT_EQ(a->size(), b->size());
      for (size_t o = 0; o < a->size(); ++o) {
        EXPECT_EQ((*a)[o].shape, (*b)[o].shape) << e->id;
        EXPECT_GE(cosine((*a)[o].data, (*b)[o].data), 0.999) << e->id << " output " << o;
      }
    }
  }
}

TEST_F(Cuda, EnginesOnCpuAndCudaFindTheSameFacesAndEmbeddings) {
  const std::string file = photo();
  if (file.empty()) GTEST_SKIP() << "no photo (set FACELENS_SAMPLE or run scripts/setup.sh)";
  auto cpu = Engine::create(engine_options(Provider::kCpu));
  auto gpu = Engine::create(engine_options(Provider::kCuda));
  ASSERT_TRUE(cpu.ok() && gpu.ok());
  AnalyzeOptions what;
  what.embedding = what.liveness = true;
  auto a = (*cpu)->analyze_file(file, what);
  auto b = (*gpu)->analyze_file(file, what);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  for (const auto& s : (*gpu)->services()) {
    if (s.loaded) {
      EXPECT_EQ(s.provider, "CUDAExecutionProvider") << s.service << ": " << s.provider_reason;
    }
  }
  ASSERT_FALSE(a->faces.empty());
  ASSERT_EQ(a->faces.size(), b->faces.size());
  for (size_t i = 0; i < a->faces.size(); ++i) {
    EXPECT_GE(iou(a->faces[i].box, b->faces[i].box), 0.99) << "face " << i;
    EXPECT_GE(cosine(a->faces[i].embedding, b->faces[i].embedding), 0.999) << "face " << i;
    ASSERT_TRUE(a->faces[i].liveness && b->faces[i].liveness);
    EXPECT_NEAR(a->faces[i].liveness->score, b->faces[i].liveness->score, 0.01) << "face " << i;
  }
}

TEST_F(Cuda, Fp16OnCudaStaysCloseToFp32OnTheCpu) {
  const std::string file = photo();
  if (file.empty()) GTEST_SKIP() << "no photo (set FACELENS_SAMPLE or run scripts/setup.sh)";
  auto cache = std::filesystem::temp_directory_path() / ("facelens-gpu-fp16-" + std::to_string(::getpid()));
  EngineOptions o = engine_options(Provider::kCuda);
  o.precision["detector"] = "fp16";
  o.precision["recognizer"] = "fp16";
  o.precision_cache_dir = cache.string();
  auto half = Engine::create(o);
  auto full = Engine::create(engine_options(Provider::kCpu));
  ASSERT_TRUE(half.ok() && full.ok());
  AnalyzeOptions what;
  what.embedding = true;
  auto a = (*full)->analyze_file(file, what);
  auto b = (*half)->analyze_file(file, what);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  for (const auto& s : (*half)->services()) {
    if (!s.loaded || (s.service != "detector" && s.service != "recognizer")) continue;
    EXPECT_EQ(s.provider, "CUDAExecutionProvider") << s.service;
    EXPECT_EQ(s.precision, "fp16") << s.service << ": " << s.precision_reason;
  }
  ASSERT_EQ(a->faces.size(), b->faces.size());
  for (size_t i = 0; i < a->faces.size(); ++i) {
    EXPECT_GE(iou(a->faces[i].box, b->faces[i].box), 0.95) << "face " << i;
    EXPECT_GE(cosine(a->faces[i].embedding, b->faces[i].embedding), 0.99) << "face " << i;
  }
  std::filesystem::remove_all(cache);
}

TEST_F(Cuda, DeviceMemoryOfEachServiceStaysWithinItsLimit) {
  const runtime::CudaLibraries* cuda = env_->cuda_libraries();
  ASSERT_NE(cuda, nullptr);
  // The CUDA context and library handles exist once the first session does; measure after it.
  auto first = open(*defaults_[0], options(*defaults_[0], Provider::kCuda));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  // cuDNN/cuBLAS workspaces and handles live outside the arena that gpu_mem_limit bounds.
  constexpr uint64_t kOutsideArena = 512ull << 20;
  for (const auto* e : defaults_) {
    auto before = cuda->memory_info(0);
    ASSERT_TRUE(before.ok()) << before.status().to_string();
    runtime::SessionOptions so = options(*e, Provider::kCuda);
    auto s = open(*e, so);
    ASSERT_TRUE(s.ok()) << e->id << ": " << s.status().to_string();
    const bool batched = e->input.shape[0] < 0;
    auto in = input(*e, batched ? 32 : 1, 7);
    ASSERT_TRUE((*s)->run(runtime::refs_of({&in, 1})).ok());
    auto after = cuda->memory_info(0);
    ASSERT_TRUE(after.ok());
    const int64_t used = static_cast<int64_t>(before->first) - static_cast<int64_t>(after->first);
    std::cout << e->id << ": " << (used >> 20) << " MiB of device memory (gpu_mem_limit "
              << (so.service.gpu_mem_limit >> 20) << " MiB)\n";
    EXPECT_LE(used, static_cast<int64_t>(so.service.gpu_mem_limit + kOutsideArena)) << e->id;
  }
}

TEST_F(Cuda, BatchedRunsGiveTheSingleRunsWithTheirLatency) {
  for (const auto* e : defaults_) {
    if (e->input.shape[0] >= 0) continue;  // a fixed batch of 1
    auto s = open(*e, options(*e, Provider::kCuda));
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    constexpr int kBatch = 8;
    auto batch = input(*e, kBatch, 11);
    auto t0 = std::chrono::steady_clock::now();
    auto all = (*s)->run(runtime::refs_of({&batch, 1}));
    const double batched_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(all.ok()) << all.status().to_string();
    const size_t per_in = batch.data.size() / kBatch;
    double single_ms = 0;
    for (int i = 0; i < kBatch; ++i) {
      runtime::Tensor one{e->input.shape, {batch.data.begin() + i * per_in, batch.data.begin() + (i + 1) * per_in}};
      one.shape[0] = 1;
      auto t1 = std::chrono::steady_clock::now();
      auto r = (*s)->run(runtime::refs_of({&one, 1}));
      single_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
      ASSERT_TRUE(r.ok());
      for (size_t o = 0; o < r->size(); ++o) {
        const size_t per_out = (*all)[o].data.size() / kBatch;
        std::span<const float> part((*all)[o].data.data() + i * per_out, per_out);
        EXPECT_GE(cosine((*r)[o].data, part), 0.9999) << e->id << " item " << i << " output " << o;
      }
    }
    std::cout << e->id << ": batch 1 " << single_ms / kBatch << " ms/item, batch " << kBatch << " "
              << batched_ms / kBatch << " ms/item (first batched run included)\n";
    RecordProperty(e->id + "_batch1_ms_per_item", std::to_string(single_ms / kBatch));
    RecordProperty(e->id + "_batch8_ms_per_item", std::to_string(batched_ms / kBatch));
  }
}

TEST_F(Cuda, DevicePoolSpreadsCallsOverTwoDevices) {
  if (n_devices_ < 2) GTEST_SKIP() << "one CUDA device: the pool needs two";
  const models::ModelEntry* e = registry_->manifest().default_for("recognizer");
  ASSERT_NE(e, nullptr);
  runtime::SessionOptions so = options(*e, Provider::kCuda);
  so.service.device_ids = {0, 1};
  auto pool = open(*e, so);
  ASSERT_TRUE(pool.ok()) << pool.status().to_string();
  EXPECT_EQ((*pool)->device_ids(), (std::vector<int>{0, 1}));
  auto cpu = open(*e, options(*e, Provider::kCpu));
  ASSERT_TRUE(cpu.ok());
  auto in = input(*e, 1, 3);
  auto want = (*cpu)->run(runtime::refs_of({&in, 1}));
  ASSERT_TRUE(want.ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 25; ++k) {
        auto r = (*pool)->run(runtime::refs_of({&in, 1}));
        if (!r.ok() || cosine((*r)[0].data, (*want)[0].data) < 0.999) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  for (int64_t n : (*pool)->calls_served()) EXPECT_GT(n, 10) << "a device got too few calls";
}

// The reference design's models (facelens/synth.h, random weights: written here) on CUDA against
// the CPU: outputs (YOLOv10n: its score column, the top-k may order near-equal rows differently)
// and the p50 of batch 1 and 8 on each provider, printed as "[synth-gpu]" lines (scripts/gpu_check.sh
// copies them into its summary) and recorded as test properties.
TEST_F(Cuda, SyntheticReferenceModelsOnCudaAgainstTheCpu) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("facelens-gpu-synth-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{dir};
  constexpr int kRuns = 10;
  auto p50 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (SynthArch arch : synth_archs()) {
    const std::string name = synth_arch_name(arch);
    SynthOptions o;
    o.arch = arch;
    o.output = (dir / (name + ".onnx")).string();
    auto made = synth_model(o);
    ASSERT_TRUE(made.ok()) << name << ": " << made.status().to_string();
    const std::string service = made->family == "yolov10"    ? "detector"
                                : made->family == "xception" ? "deepfake"
                                                             : "recognizer";
    auto session_options = [&](Provider p) {
      runtime::SessionOptions so;
      RuntimeOptions rt;
      so.service = rt.resolve(service);
      so.service.provider = p;
      so.require_gpu = p == Provider::kCuda;
      so.cuda_ep_path = ep_path_;
      so.warmup_batches = {8};
      return so;
    };
    auto cpu = runtime::Session::create(env_, o.output, session_options(Provider::kCpu));
    auto gpu = runtime::Session::create(env_, o.output, session_options(Provider::kCuda));
    ASSERT_TRUE(cpu.ok()) << name << ": " << cpu.status().to_string();
    ASSERT_TRUE(gpu.ok()) << name << ": " << gpu.status().to_string();
    ASSERT_EQ((*gpu)->provider(), "CUDAExecutionProvider") << name;
    for (int batch : {1, 8}) {
      runtime::Tensor in;
      in.shape = made->input_shape;
      in.shape[0] = batch;
      int64_t n = 1;
      for (int64_t d : in.shape) n *= d;
      in.data.resize(static_cast<size_t>(n));
      uint32_t x = 2166136261u ^ static_cast<uint32_t>(batch);
      for (auto& v : in.data) {
        x = x * 1664525u + 1013904223u;
        v = static_cast<float>((x >> 8) & 0xffff) / 65535.f;  // [0, 1]: YOLO's range, inside the others'
      }
      const auto refs = runtime::refs_of({&in, 1});
      auto a = (*cpu)->run(refs);
      auto b = (*gpu)->run(refs);
      ASSERT_TRUE(a.ok() && b.ok()) << name << ": " << (a.ok() ? b.status().to_string() : a.status().to_string());
      ASSERT_EQ(a->size(), b->size());
      for (size_t k = 0; k < a->size(); ++k) {
        ASSERT_EQ((*a)[k].shape, (*b)[k].shape) << name;
        if (made->family == "yolov10") {
          std::vector<float> sa, sb;
          for (size_t r = 4; r < (*a)[k].data.size(); r += 6) {
            sa.push_back((*a)[k].data[r]);
            sb.push_back((*b)[k].data[r]);
          }
          EXPECT_GE(cosine(sa, sb), 0.999) << name << " batch " << batch << " scores";
        } else {
          EXPECT_GE(cosine((*a)[k].data, (*b)[k].data), 0.999) << name << " batch " << batch << " output " << k;
        }
      }
      double ms[2];
      for (int p = 0; p < 2; ++p) {
        const runtime::Session& s = p == 0 ? **cpu : **gpu;
        std::vector<double> t;
        for (int i = 0; i < kRuns + 2; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          auto r = s.run(refs);
          const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          ASSERT_TRUE(r.ok()) << name << ": " << r.status().to_string();
          if (i >= 2) t.push_back(dt);  // two warm-up runs
        }
        ms[p] = p50(t);
      }
      std::printf("[synth-gpu] %s batch %d: cpu p50 %.2f ms, cuda p50 %.2f ms, %.1fx\n", name.c_str(), batch, ms[0],
                  ms[1], ms[0] / ms[1]);
      RecordProperty(name + "_batch" + std::to_string(batch) + "_cpu_p50_ms", std::to_string(ms[0]));
      RecordProperty(name + "_batch" + std::to_string(batch) + "_cuda_p50_ms", std::to_string(ms[1]));
    }
  }
}

}  // namespace
}  // namespace facelens
