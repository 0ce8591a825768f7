// Where the benchmark gets a model at a given precision ("fp32", "fp16", "int8").
//
//   auto variants = bench::registry_variants(registry, env);
//   if (Status s = variants->supports("fp16"); !s.ok()) note(s.message());   // skipped, with why
//   auto session = variants->open(entry, "fp32", session_options);
//
// Today only fp32 (the manifest's files, sha256-checked by the registry) is available; fp16 and
// int8 variants come from the converter (`facelens models convert --latency N` times them). Wiring them is a
// second implementation of this interface (e.g. over convert/precision_cache.h), passed in
// BenchOptions::variants; the benchmark itself does not change.
// Implementations are immutable after creation and thread-safe.
#pragma once

#include <memory>
#include <string>

#include "facelens/status.h"
#include "models/manifest.h"
#include "models/registry.h"
#include "runtime/environment.h"
#include "runtime/session.h"

namespace facelens::bench {

class ModelVariants {
 public:
  virtual ~ModelVariants() = default;
  // OK when models can be opened at `precision`; else Unavailable saying why and what to do.
  virtual Status supports(const std::string& precision) const = 0;
  // The session of `entry` at `precision`, placed by `options`.
  virtual StatusOr<std::shared_ptr<const runtime::Session>> open(const models::ModelEntry& entry,
                                                                 const std::string& precision,
                                                                 const runtime::SessionOptions& options) const = 0;
  // The sha256 of the file open() runs for `entry` at `precision`.
  virtual StatusOr<std::string> sha256(const models::ModelEntry& entry, const std::string& precision) const = 0;
};

// fp32 only: the registry's files. Other precisions answer Unavailable (naming `facelens models
// convert --latency N`, which times them).
std::shared_ptr<const ModelVariants> registry_variants(std::shared_ptr<const models::ModelRegistry> registry,
                                                       std::shared_ptr<const runtime::Environment> env);

// The precisions the benchmark knows: fp32, fp16, int8.
bool is_known_precision(const std::string& precision);

}  // namespace facelens::bench
