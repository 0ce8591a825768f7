// The CUDA path without a GPU: CUDA ordinals read from ONNX Runtime's EP devices, configured ids
// bounded by the devices that exist, the reasons given when the driver or runtime is missing,
// the cuDNN algorithm-search policy, the node-placement report, and the refusal of a core built
// without CUDA.
#include <gtest/gtest.h>

#include <algorithm>

#include "facelens/runtime_info.h"
#include "runtime/cuda_libraries.h"
#include "runtime/environment.h"
#include "runtime/placement.h"
#include "runtime/providers.h"
#include "runtime/session.h"

namespace facelens {
namespace {

using runtime::AssignedNode;

TEST(CudaOrdinal, ReadFromTheEpOptionsDeviceId) {
  // The CUDA factory's EP device carries its ordinal as the option device_id; its memory info
  // agrees. The hardware device id (a PCI device type such as 0x2335) is never used.
  auto o = runtime::cuda_ordinal_of({{"device_id", "3"}}, 3);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, 3);
  // The option wins over the memory info.
  EXPECT_EQ(*runtime::cuda_ordinal_of({{"device_id", "1"}}, 0), 1);
  EXPECT_EQ(*runtime::cuda_ordinal_of({{"device_id", "0"}, {"other", "x"}}, -1), 0);
}

TEST(CudaOrdinal, FallsBackToTheMemoryInfoDeviceId) {
  auto o = runtime::cuda_ordinal_of({}, 2);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, 2);
  auto none = runtime::cuda_ordinal_of({{"arena", "1"}}, -1);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("ordinal"), std::string::npos);
}

TEST(CudaOrdinal, RejectsWhatIsNotAnOrdinal) {
  for (const char* bad : {"", "-1", "0x1", "1a", " 1", "9999999999999"}) {
    auto o = runtime::cuda_ordinal_of({{"device_id", bad}}, 0);
    EXPECT_FALSE(o.ok()) << "'" << bad << "' was taken for an ordinal";
  }
}

TEST(CudaDeviceIds, BoundedByTheDeviceCount) {
  const std::vector<int> ordinals = {0, 1};
  EXPECT_TRUE(runtime::check_cuda_device_ids(std::vector<int>{0}, 2, ordinals).ok());
  EXPECT_TRUE(runtime::check_cuda_device_ids(std::vector<int>{0, 1}, 2, ordinals).ok());
  for (int bad : {2, 7, -1}) {
    Status s = runtime::check_cuda_device_ids(std::vector<int>{0, bad}, 2, ordinals);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("CUDA device " + std::to_string(bad) + " does not exist"), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("counts 2 device(s)"), std::string::npos) << s.message();
  }
}

TEST(CudaDeviceIds, AnOrdinalWithoutAnOrtDeviceIsNamed) {
  // The runtime counts two devices but ONNX Runtime offers only ordinal 0.
  Status s = runtime::check_cuda_device_ids(std::vector<int>{1}, 2, std::vector<int>{0});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("no device with ordinal 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("offers: 0"), std::string::npos) << s.message();
}

TEST(CudaRuntimeErrors, MissingDriverIsNamed) {
  auto why = runtime::explain_cuda_device_count_error(
      35, "cudaErrorInsufficientDriver", "CUDA driver version is insufficient for CUDA runtime version",
      "libcuda.so.1: cannot open shared object file: No such file or directory");
  EXPECT_EQ(why.rfind("libcuda.so.1 (the NVIDIA driver) is missing", 0), 0u) << why;
  EXPECT_NE(why.find("cudaErrorInsufficientDriver"), std::string::npos);
  auto old = runtime::explain_cuda_device_count_error(35, "cudaErrorInsufficientDriver", "insufficient", "");
  EXPECT_NE(old.find("older than the CUDA 13 runtime"), std::string::npos) << old;
  auto none = runtime::explain_cuda_device_count_error(100, "cudaErrorNoDevice", "no CUDA-capable device", "");
  EXPECT_NE(none.find("CUDA_VISIBLE_DEVICES"), std::string::npos) << none;
  auto other = runtime::explain_cuda_device_count_error(999, "cudaErrorUnknown", "unknown error", "");
  EXPECT_NE(other.find("cudaErrorUnknown (999)"), std::string::npos) << other;
}

TEST(ConvSearch, ExhaustiveKeptForFixedShapes) {
  TensorDesc fixed{"input", "float32", {1, 3, 112, 112}, {"", "", "", ""}};
  TensorDesc batch{"input", "float32", {-1, 3, 112, 112}, {"N", "", "", ""}};
  EXPECT_EQ(runtime::conv_algo_search_for("EXHAUSTIVE", {&fixed, 1}, {}).value, "EXHAUSTIVE");
  // A symbolic batch is a bounded set of shapes (one search per batch size).
  auto b = runtime::conv_algo_search_for("EXHAUSTIVE", {&batch, 1}, {});
  EXPECT_EQ(b.value, "EXHAUSTIVE");
  EXPECT_TRUE(b.reason.empty());
}

TEST(ConvSearch, VariableImageSizeGetsHeuristicUnlessTheShapesAreGiven) {
  TensorDesc any{"input", "float32", {1, 3, -1, -1}, {"", "", "H", "W"}};
  auto h = runtime::conv_algo_search_for("EXHAUSTIVE", {&any, 1}, {});
  EXPECT_EQ(h.value, "HEURISTIC");
  EXPECT_NE(h.reason.find("1x3xHxW"), std::string::npos) << h.reason;
  // The service feeds one fixed size (the manifest's): EXHAUSTIVE, warmed up at creation.
  const std::vector<std::vector<int64_t>> probe = {{-1, 3, 640, 640}};
  EXPECT_EQ(runtime::conv_algo_search_for("EXHAUSTIVE", {&any, 1}, probe).value, "EXHAUSTIVE");
  // Another configured value is left alone.
  EXPECT_EQ(runtime::conv_algo_search_for("DEFAULT", {&any, 1}, {}).value, "DEFAULT");
  EXPECT_EQ(runtime::conv_algo_search_for("HEURISTIC", {&any, 1}, {}).value, "HEURISTIC");
}

TEST(ProbeShapes, GivenShapesFirstThenTheModelsDims) {
  TensorDesc a{"a", "float32", {-1, 3, 240, 320}, {"N", "", "", ""}};
  TensorDesc b{"b", "float32", {-1, 4}, {"N", ""}};
  const std::vector<TensorDesc> inputs = {a, b};
  auto derived = runtime::probe_shapes_for(inputs, {});
  ASSERT_EQ(derived.size(), 2u);
  EXPECT_EQ(derived[0], (std::vector<int64_t>{1, 3, 240, 320}));
  EXPECT_EQ(derived[1], (std::vector<int64_t>{1, 4}));
  const std::vector<std::vector<int64_t>> given = {{-1, 3, 480, 640}};
  auto mixed = runtime::probe_shapes_for(inputs, given);
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(mixed[0], (std::vector<int64_t>{1, 3, 480, 640}));
  EXPECT_EQ(mixed[1], (std::vector<int64_t>{1, 4}));
}

TEST(ProbeShapes, WarmUpBatchSizesOnlyWhereTheBatchIsSymbolic) {
  TensorDesc batch{"x", "float32", {-1, 3, 112, 112}, {"N", "", "", ""}};
  const std::vector<std::vector<int64_t>> probe = {{-1, 3, 112, 112}};
  const std::vector<int64_t> sizes = {2, 1, 4, 4, 8, 0};
  auto runs = runtime::creation_runs({&batch, 1}, probe, sizes);
  ASSERT_EQ(runs.size(), 4u);  // batch 1 (the probe), then 2, 4, 8 once each
  EXPECT_EQ(runs[0][0], (std::vector<int64_t>{1, 3, 112, 112}));
  EXPECT_EQ(runs[1][0][0], 2);
  EXPECT_EQ(runs[2][0][0], 4);
  EXPECT_EQ(runs[3][0], (std::vector<int64_t>{8, 3, 112, 112}));
  TensorDesc fixed{"x", "float32", {1, 3, 112, 112}, {"", "", "", ""}};
  EXPECT_EQ(runtime::creation_runs({&fixed, 1}, probe, sizes).size(), 1u);
  EXPECT_EQ(runtime::creation_runs({&batch, 1}, probe, {}).size(), 1u);
}

// The shape of ONNX Runtime's record for a detector on CUDA: the compute nodes on CUDA, the
// shape arithmetic on the CPU (as ORT assigns Shape/Gather/Unsqueeze/Concat feeding a Reshape).
std::vector<AssignedNode> mixed_record() {
  std::vector<AssignedNode> n;
  for (int i = 0; i < 4; ++i) n.push_back({"CUDAExecutionProvider", "", "Conv"});
  for (int i = 0; i < 3; ++i) n.push_back({"CUDAExecutionProvider", "ai.onnx", "Relu"});
  n.push_back({"CUDAExecutionProvider", "com.microsoft", "FusedConv"});
  n.push_back({"CPUExecutionProvider", "", "Shape"});
  n.push_back({"CPUExecutionProvider", "", "Gather"});
  n.push_back({"CUDAExecutionProvider", "", "Reshape"});
  return n;
}

TEST(Placement, CountsNodesAndOperatorTypesPerProvider) {
  auto p = runtime::summarize_placement(mixed_record());
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].ep, "CUDAExecutionProvider");  // most nodes first
  EXPECT_EQ(p[0].n_nodes, 9);
  EXPECT_EQ(p[0].op_types.at("Conv"), 4);
  EXPECT_EQ(p[0].op_types.at("Relu"), 3);  // "ai.onnx" is the standard domain
  EXPECT_EQ(p[0].op_types.at("com.microsoft:FusedConv"), 1);
  EXPECT_EQ(p[0].op_types.at("Reshape"), 1);
  EXPECT_EQ(p[1].ep, "CPUExecutionProvider");
  EXPECT_EQ(p[1].n_nodes, 2);
  EXPECT_EQ(p[1].op_types.size(), 2u);
  EXPECT_EQ(runtime::nodes_on(p, "CUDAExecutionProvider"), 9);
  EXPECT_EQ(runtime::nodes_on(p, "TensorrtExecutionProvider"), 0);
  EXPECT_EQ(runtime::placement_to_string(p),
            "CUDAExecutionProvider 9 nodes (Conv 4, Relu 3, Reshape 1, com.microsoft:FusedConv 1), "
            "CPUExecutionProvider 2 nodes (Gather 1, Shape 1)");
  EXPECT_TRUE(runtime::summarize_placement({}).empty());
}

TEST(Placement, MergesTheSessionsOfAService) {
  auto a = runtime::summarize_placement(mixed_record());
  std::vector<AssignedNode> cpu_only = {{"CPUExecutionProvider", "", "Shape"},
                                        {"CPUExecutionProvider", "", "NonMaxSuppression"}};
  auto b = runtime::summarize_placement(cpu_only);
  runtime::merge_placement(&a, b);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(runtime::nodes_on(a, "CPUExecutionProvider"), 4);
  EXPECT_EQ(a[1].op_types.at("Shape"), 2);
  EXPECT_EQ(a[1].op_types.at("NonMaxSuppression"), 1);
  std::vector<EpPlacement> empty;
  runtime::merge_placement(&empty, b);
  EXPECT_EQ(runtime::nodes_on(empty, "CPUExecutionProvider"), 2);
}

// With the core this test binary loaded: a core built without CUDA is refused with the reason
// before the CUDA provider is registered; a CUDA-enabled one gets past that check.
TEST(CudaCore, ACoreWithoutCudaIsRefusedBeforeRegistration) {
  auto providers = runtime::Environment::available_providers();
  ASSERT_TRUE(providers.ok());
  const bool core_has_cuda = std::find(providers->begin(), providers->end(), runtime::kCudaEpName) != providers->end();
  auto env = runtime::Environment::create({});
  ASSERT_TRUE(env.ok());
  auto n = (*env)->cuda_devices("");
  const CudaReport report = (*env)->cuda_report();
  EXPECT_EQ(report.available, n.ok());
  if (core_has_cuda) {
    if (!n.ok()) {
      EXPECT_EQ(n.status().message().find("build without CUDA"), std::string::npos);
    }
    GTEST_SKIP() << "the loaded core lists CUDAExecutionProvider: nothing to refuse ("
                 << (n.ok() ? std::string("CUDA usable") : n.status().message()) << ")";
  }
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(n.status().message().find("build without CUDA"), std::string::npos) << n.status().message();
  EXPECT_NE(n.status().message().find(runtime::Environment::core_library()), std::string::npos);
  EXPECT_NE(n.status().message().find("setup.sh --gpu"), std::string::npos);
  EXPECT_EQ(report.reason, n.status().message());
  // Refused before registration: ONNX Runtime offers no CUDA device and no library was opened.
  auto devices = (*env)->ep_devices();
  ASSERT_TRUE(devices.ok());
  for (const auto& d : *devices) EXPECT_NE(d.ep_name, runtime::kCudaEpName);
  EXPECT_EQ((*env)->cuda_libraries(), nullptr);
  EXPECT_FALSE((*env)->check_cuda_device_ids(std::vector<int>{0}).ok());
}

TEST(CudaCore, RuntimeInfoNamesTheCoreAndWhyCudaIsNot) {
  auto info = query_runtime_info({}, /*probe_cuda=*/true);
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->core_library.find("libonnxruntime"), std::string::npos) << info->core_library;
  EXPECT_FALSE(info->providers.empty());
  if (!info->cuda.available) {
    EXPECT_FALSE(info->cuda.reason.empty());
  } else {
    EXPECT_FALSE(info->cuda.devices.empty());
  }
  auto unprobed = query_runtime_info({}, /*probe_cuda=*/false);
  ASSERT_TRUE(unprobed.ok());
  EXPECT_FALSE(unprobed->cuda.available);
  EXPECT_EQ(unprobed->cuda.reason, "CUDA was not probed");
}

}  // namespace
}  // namespace facelens
