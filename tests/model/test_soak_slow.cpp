// Soak (label slow): resident memory stays flat (within 5 %) over 10,000 pipeline calls
// (decode, detect, landmarks, align, embed) after warm-up.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/test_env.h"
#include "facelens/engine.h"

namespace facelens {
namespace {

// Resident set size in KiB, from /proc/self/status.
long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST(Soak, ResidentMemoryFlatOverTenThousandPipelineCalls) {
  FACELENS_REQUIRE_MODELS();
  std::string photo = testing::data_dir().empty() ? "" : testing::data_dir() + "/faces/face_recognition/obama-240p.jpg";
  if (photo.empty()) GTEST_SKIP() << "../shared/data is absent: test skipped";
  auto bytes = read_file_bytes(photo, 1 << 24);
  ASSERT_TRUE(bytes.ok());
  EngineOptions o;
  o.models_dir = testing::models_dir();
  o.runtime.provider = Provider::kCpu;
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.ok());
  AnalyzeOptions what;
  what.embedding = true;
  for (int i = 0; i < 300; ++i) ASSERT_TRUE((*engine)->analyze_bytes(*bytes, what).ok());  // warm-up
  const long base = rss_kib();
  long peak = base;
  for (int i = 0; i < 10000; ++i) {
    auto r = (*engine)->analyze_bytes(*bytes, what);
    ASSERT_TRUE(r.ok() && r->faces.size() == 1);
    if (i % 500 == 0) peak = std::max(peak, rss_kib());
  }
  const long end = rss_kib();
  std::cout << "[ soak     ] RSS after warm-up " << base << " KiB, peak " << peak << " KiB, after 10,000 calls " << end
            << " KiB\n";
  EXPECT_LE(end, base * 105 / 100);
  EXPECT_GE(end, base * 95 / 100);
  EXPECT_LE(peak, base * 105 / 100);
}

}  // namespace
}  // namespace facelens
