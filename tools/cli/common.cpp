#include "common.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
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

int fail_input(const Status& s) {
  if (s.code() != StatusCode::kNotFound) return fail(s);
  std::cerr << "facelens: " << s.to_string() << "\n";
  return kExitBadInput;
}

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_flag("--json", c.json_out, "print JSON, one object per line");
  // Everything below goes under its own heading, printed after the command's own options.
  cmd->option_defaults()->group(kModelOptionsGroup);
  cmd->add_option("--config", c.config, "facelens.toml (default: $FACELENS_CONFIG; no file = built-in defaults)");
  cmd->add_option("--models", c.models_dir,
                  "folder with manifest.json and the model files (default: the config's models_dir, else "
                  "$FACELENS_MODELS, else the build's models/)");
  cmd->add_option("--threads", c.threads, "ONNX Runtime intra-op threads per model (0 = one per core)");
  cmd->add_option("--provider", c.provider,
                  "execution provider of every service: auto (CUDA if usable, else CPU), cuda, cpu")
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  cmd->add_option("--device", c.devices, "CUDA device id(s) of every service; several = a device pool");
  cmd->add_flag("--require-gpu", c.require_gpu, "fail (instead of running on the CPU) when CUDA cannot be used");
  cmd->add_option("--manifest", c.manifest,
                  "manifest to read instead of <models>/manifest.json (e.g. models/extra.json)");
  cmd->add_option("--detector", c.detector_file, "detector model file to use instead of the manifest's");
  cmd->add_option("--detector-family", c.detector_family,
                  "family of --detector when its signature is ambiguous (facelens models inspect FILE)");
  cmd->add_option("--recognizer", c.recognizer_file, "recognizer model file to use instead of the manifest's");
  cmd->add_option("--recognizer-family", c.recognizer_family,
                  "family of --recognizer (arcface, adaface, mobilefacenet)");
  cmd->add_option("--liveness", c.liveness_files,
                  "liveness model file; repeat to fuse several (e.g. MiniFASNet V2 and V1SE)")
      ->allow_extra_args(false);  // one file per --liveness, so that image arguments stay images
  cmd->add_option("--deepfake", c.deepfake_file, "deepfake classifier model file (none by default)");
  cmd->add_option("--deepfake-family", c.deepfake_family, "family of --deepfake (xception)");
  cmd->add_option("--deepfake-margin", c.deepfake_margin,
                  "deepfake crop side / larger face box side (default: the manifest's, 1.3)");
  cmd->option_defaults()->group("Options");  // the command's own options, added after these
}

namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// Where converted model variants are kept: ${XDG_CACHE_HOME}/facelens/models, else
// $HOME/.cache/facelens/models, else <temp>/facelens-cache/models.
std::string default_precision_cache_dir() {
  if (const std::string xdg = env_or("XDG_CACHE_HOME", ""); !xdg.empty()) return xdg + "/facelens/models";
  if (const std::string home = env_or("HOME", ""); !home.empty()) return home + "/.cache/facelens/models";
  return (std::filesystem::temp_directory_path() / "facelens-cache" / "models").string();
}
}  // namespace

std::string config_path(const Common& c) {
  if (!c.config.empty()) return c.config;
  return env_or("FACELENS_CONFIG", "");
}

const char* threshold_source_name(ThresholdSource s) {
  switch (s) {
    case ThresholdSource::kFlag: return "flag";
    case ThresholdSource::kConfig: return "config";
    case ThresholdSource::kManifest: return "manifest";
  }
  return "manifest";
}

std::string ThresholdChoice::describe() const {
  switch (source) {
    case ThresholdSource::kFlag: return "--threshold";
    case ThresholdSource::kConfig: return origin + " [recognizer] match_threshold";
    case ThresholdSource::kManifest: return "the manifest of " + origin;
  }
  return origin;
}

ThresholdChoice match_threshold_choice(const Common& c, float flag, const EngineOptions& options,
                                       const Engine& engine) {
  if (flag >= 0) return {flag, ThresholdSource::kFlag, "--threshold"};
  // engine_options() starts from -1 (unset): a value >= 0 came from the config file.
  if (options.match_threshold >= 0) return {engine.match_threshold(), ThresholdSource::kConfig, config_path(c)};
  return {engine.match_threshold(), ThresholdSource::kManifest, engine.recognizer_model_id()};
}

bool has_image_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" || ext == ".bmp";
}

StatusOr<std::vector<std::string>> expand_images(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (!std::filesystem::is_directory(a, ec)) {
      out.push_back(a);
      continue;
    }
    FACELENS_ASSIGN_OR_RETURN(auto found, read_folder(a));
    if (found.images.empty())
      return invalid_argument("the folder " + a +
                              " holds no images (.jpg .jpeg .png .webp .bmp directly in it; subfolders are not read)");
    out.insert(out.end(), found.images.begin(), found.images.end());
  }
  return out;
}

StatusOr<FolderEntries> read_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  FolderEntries out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    const std::string path = it->path().string();
    if (it->is_directory(type_ec)) out.folders.push_back(path);
    else if (it->is_regular_file(type_ec)) (has_image_extension(path) ? out.images : out.files).push_back(path);
    if (type_ec) return invalid_argument("cannot read " + path + ": " + type_ec.message());
  }
  if (ec) return invalid_argument("cannot read the folder " + dir + ": " + ec.message());
  for (auto* v : {&out.images, &out.files, &out.folders}) std::sort(v->begin(), v->end());
  return out;
}

std::string default_models_dir() { return env_or("FACELENS_MODELS", FACELENS_DEFAULT_MODELS_DIR); }

StatusOr<ServiceConfig> service_config(const Common& c, ServiceConfig base) {
  const std::string config = config_path(c);
  if (config.empty()) return base;
  return load_service_config(config, std::move(base));
}

StatusOr<EngineOptions> engine_options(const Common& c, EngineOptions base) {
  EngineOptions o = std::move(base);
  const std::string config = config_path(c);
  if (!config.empty()) {
    FACELENS_ASSIGN_OR_RETURN(o, load_config(config, o));
  }
  // The folders the library takes as options (it reads no environment): --models, else the
  // config's, else $FACELENS_MODELS, else the build's models/.
  if (!c.models_dir.empty()) o.models_dir = c.models_dir;
  if (o.models_dir.empty()) o.models_dir = default_models_dir();
  if (o.known_models_dir.empty()) o.known_models_dir = FACELENS_DEFAULT_MODELS_DIR;
  if (o.calibration_dir.empty()) o.calibration_dir = env_or("FACELENS_CALIBRATION", "");
  if (o.precision_cache_dir.empty()) o.precision_cache_dir = default_precision_cache_dir();
  if (c.threads > 0) o.runtime.intra_op_threads = c.threads;
  if (!c.provider.empty()) {
    FACELENS_ASSIGN_OR_RETURN(o.runtime.provider, parse_provider(c.provider));
    for (auto& [name, s] : o.runtime.services) s.provider.reset();  // the flag is for every service
  }
  if (!c.devices.empty()) {
    for (const char* service : {"detector", "landmarks", "recognizer", "liveness", "attribute", "deepfake"})
      o.runtime.services[service].device_ids = c.devices;
  }
  if (c.require_gpu) o.runtime.require_gpu = true;
  // The CUDA provider library when not configured (../shared/tools/gpu-run.sh on a GPU host sets it).
  if (o.runtime.cuda_ep_path.empty()) o.runtime.cuda_ep_path = env_or("FACELENS_CUDA_EP", "");
  if (!c.manifest.empty()) o.manifest = c.manifest;
  if (!c.detector_file.empty()) o.detector_file = c.detector_file;
  if (!c.detector_family.empty()) o.detector_family = c.detector_family;
  if (!c.recognizer_file.empty()) o.recognizer_file = c.recognizer_file;
  if (!c.recognizer_family.empty()) o.recognizer_family = c.recognizer_family;
  if (!c.liveness_files.empty()) o.liveness_files = c.liveness_files;
  if (!c.deepfake_file.empty()) o.deepfake_file = c.deepfake_file;
  if (!c.deepfake_family.empty()) o.deepfake_family = c.deepfake_family;
  if (c.deepfake_margin > 0) o.deepfake_margin = c.deepfake_margin;
  return o;
}

}  // namespace facelens::cli
