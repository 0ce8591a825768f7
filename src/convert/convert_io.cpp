// Reading and writing model files for the converters.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include "convert/convert.h"

namespace facelens::models {

StatusOr<std::string> read_model_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("model file '" + path + "' cannot be read: check the path");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) return internal_error("reading '" + path + "' failed");
  return ss.str();
}

Status write_model_file(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  std::random_device rd;
  const fs::path tmp = target.string() + ".tmp" + std::to_string(rd());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return internal_error("cannot write '" + tmp.string() + "': check that the folder is writable");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      f.close();
      fs::remove(tmp, ec);
      return internal_error("writing '" + tmp.string() + "' failed (disk full?)");
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    return internal_error("cannot move the converted model into place at '" + path + "': " + why);
  }
  return Status::Ok();
}

}  // namespace facelens::models
