#include "common.h"

#include <iostream>

namespace facelens::cli {

int exit_code_of(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: return kExitBadInput;
    default: return kExitFailure;
  }
}

int fail(const Status& s) {
  std::cerr << "facelens: " << s.to_string() << "\n";
  return exit_code_of(s) == 0 ? kExitFailure : exit_code_of(s);
}

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--models", c.models_dir, "folder with manifest.json and the model files (default: $FACELENS_MODELS or the build's models/)");
  cmd->add_option("--threads", c.threads, "ONNX Runtime intra-op threads per model (0 = one per core)");
  cmd->add_flag("--json", c.json_out, "print JSON, one object per line");
}

EngineOptions engine_options(const Common& c) {
  EngineOptions o;
  o.models_dir = c.models_dir;
  o.intra_op_threads = c.threads;
  return o;
}

nlohmann::ordered_json services_json(const Engine& engine) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& s : engine.services())
    if (s.loaded) j[s.service == "attribute" ? s.model_id : s.service] = s.provider;
  return j;
}

}  // namespace facelens::cli
