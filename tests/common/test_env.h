// Where tests find their data. Tests that need ../shared/data or the fetched models skip with a
// printed reason when those are absent, so a fresh clone elsewhere still passes.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace facelens::testing {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// ../shared/data, or "" when absent.
inline std::string data_dir() {
  std::string d = env_or("FACELENS_TEST_DATA", FACELENS_TEST_DATA_DEFAULT);
  return !d.empty() && std::filesystem::is_directory(d + "/faces") ? d : std::string();
}

inline std::string models_dir() { return env_or("FACELENS_MODELS", FACELENS_MODELS_DEFAULT); }

inline bool default_models_present() {
  std::string d = models_dir();
  return !d.empty() && std::filesystem::exists(d + "/manifest.json") && std::filesystem::exists(d + "/fr_detect.onnx");
}

}  // namespace facelens::testing

// Skip the current test unless ../shared/data is present.
#define FACELENS_REQUIRE_DATA()                                                          \
  do {                                                                                   \
    if (::facelens::testing::data_dir().empty())                                         \
      GTEST_SKIP() << "../shared/data is absent (set FACELENS_TEST_DATA): test skipped"; \
  } while (0)

// Skip the current test unless the default models were fetched (scripts/setup.sh).
#define FACELENS_REQUIRE_MODELS()                                                       \
  do {                                                                                  \
    if (!::facelens::testing::default_models_present())                                 \
      GTEST_SKIP() << "default models are absent (run scripts/setup.sh): test skipped"; \
  } while (0)
