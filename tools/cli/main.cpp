// facelens — command-line program over the public library API. Each command group lives in its
// own cmd_*.cpp and registers its subcommands here.
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "common.h"

int main(int argc, char** argv) {
  using namespace facelens::cli;
  // Logs go to stderr (stdout carries the results): warnings and errors by default,
  // SPDLOG_LEVEL=info (or debug) shows more.
  spdlog::set_default_logger(spdlog::stderr_color_mt("facelens"));
  spdlog::set_level(spdlog::level::warn);
  spdlog::cfg::load_env_levels();
  CLI::App app{"facelens: face detection, recognition, liveness on ONNX Runtime"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("facelens ") + facelens::version());
  Common common;
  std::vector<Runner> runners;
  register_info_commands(app, common, runners);
  register_convert_commands(app, common, runners);
  register_image_commands(app, common, runners);
  register_serve_commands(app, common, runners);
  register_bench_commands(app, common, runners);
  register_gallery_commands(app, common, runners);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  for (const auto& run : runners) {
    if (auto rc = run()) return *rc;
  }
  return kExitUsage;
}
