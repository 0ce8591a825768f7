// Shared pieces of the facelens program's commands: common options, exit codes, errors.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "facelens/facelens.h"

namespace facelens::cli {

// Exit codes: 0 success; 1 failure (model, runtime); 2 usage error; 3 bad input (an image or
// file that could not be used).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitBadInput = 3;

int exit_code_of(const Status& s);
// Prints the status to stderr and returns its exit code (never 0).
int fail(const Status& s);
// fail() for the status of an operation on what the user named (an identity, an input file),
// after the models were loaded: kNotFound is then bad input (3), not a runtime failure.
int fail_input(const Status& s);

// Options every command that loads models takes.
struct Common {
  std::string models_dir;
  std::string config;  // facelens.toml
  int threads = 0;
  bool json_out = false;
  std::string provider;  // "" = from the config (default auto)
  std::vector<int> devices;
  bool require_gpu = false;
  // Model files outside the manifest, per service (see EngineOptions::detector_file).
  std::string manifest;
  std::string detector_file, detector_family;
  std::string recognizer_file, recognizer_family;
  std::vector<std::string> liveness_files;
  std::string deepfake_file, deepfake_family;
  float deepfake_margin = -1;
};
// Adds --json to the command's own options and the config, model and runtime options under their
// own heading, which the help prints after the command's own options.
void add_common(CLI::App* cmd, Common& c);
// ONNX Runtime intra-op threads per session under `facelens serve` when neither --threads nor the
// config's [runtime] intra_op_threads sets them (the measurement behind it: cmd_serve.cpp); the
// bench's own `serve` and its in-process pipeline use it too, to compare like with like.
inline constexpr int kServeIntraOpThreads = 1;

inline constexpr const char* kModelOptionsGroup = "Config, models and runtime (every command)";
// The [server] and [gallery] tables of the config file (if any) over `base`.
StatusOr<ServiceConfig> service_config(const Common& c, ServiceConfig base = {});
// The engine options of the config file (if any) with the command line on top, and the folders
// the library needs resolved here: models_dir (see default_models_dir), known_models_dir (the
// build's models/), calibration_dir ($FACELENS_CALIBRATION) and precision_cache_dir
// (${XDG_CACHE_HOME:-~/.cache}/facelens/models).
StatusOr<EngineOptions> engine_options(const Common& c, EngineOptions base = {});
// $FACELENS_MODELS, else the models/ folder of the build (compiled into the programs only).
std::string default_models_dir();
// --config, else $FACELENS_CONFIG ("" = none).
std::string config_path(const Common& c);

// The match threshold a command uses and where it comes from: --threshold (flag >= 0), else the
// config's [recognizer] match_threshold (the one `calibrate --write-config` writes), else the
// recognizer's manifest entry. `options` as engine_options(c) returned them.
enum class ThresholdSource { kFlag, kConfig, kManifest };
const char* threshold_source_name(ThresholdSource s);  // "flag", "config", "manifest" (JSON)
struct ThresholdChoice {
  float value = 0;
  ThresholdSource source = ThresholdSource::kManifest;
  std::string origin;  // "--threshold", the config file, the recognizer's model id
  // "--threshold", "fl.toml [recognizer] match_threshold", "the manifest of fr_feature"
  std::string describe() const;
};
ThresholdChoice match_threshold_choice(const Common& c, float flag, const EngineOptions& options, const Engine& engine);

// The images of command-line arguments: a file stays itself; a folder stands for the image files
// directly in it (.jpg .jpeg .png .webp .bmp, any case), sorted by name. A folder without any is
// kInvalidArgument; a path that does not exist stays (its error comes with its result).
StatusOr<std::vector<std::string>> expand_images(const std::vector<std::string>& args);
// What lies directly in a folder, each list sorted: images (by extension), other files and
// subfolders. Never throws: an unreadable folder or entry is a status naming it.
struct FolderEntries {
  std::vector<std::string> images;
  std::vector<std::string> files;    // regular files that are not images
  std::vector<std::string> folders;  // full paths
};
StatusOr<FolderEntries> read_folder(const std::string& dir);
bool has_image_extension(const std::string& path);

// A command group adds its subcommands to `app` and a runner per subcommand; a runner returns
// std::nullopt when its subcommand was not the one given.
using Runner = std::function<std::optional<int>()>;
void register_info_commands(CLI::App& app, Common& common, std::vector<Runner>& runners);
// Adds `convert` under the `models` subcommand: call after register_info_commands.
void register_convert_commands(CLI::App& app, Common& common, std::vector<Runner>& runners);
void register_image_commands(CLI::App& app, Common& common, std::vector<Runner>& runners);
void register_serve_commands(CLI::App& app, Common& common, std::vector<Runner>& runners);
void register_bench_commands(CLI::App& app, Common& common, std::vector<Runner>& runners);
// `gallery enroll|list|remove|identify|verify|export|import|reembed|check` and `calibrate`.
void register_gallery_commands(CLI::App& app, Common& common, std::vector<Runner>& runners);

}  // namespace facelens::cli
