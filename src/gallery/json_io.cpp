#include "gallery/json_io.h"

#include <map>
#include <nlohmann/json.hpp>

#include "core/base64.h"

namespace facelens::gallery {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kExportFormat = "facelens-gallery";
constexpr int kExportVersion = 1;

StatusOr<std::vector<uint8_t>> crop_pixels(const std::string& in) {
  if (in.size() % 4 != 0) return invalid_argument("crop: rgb_base64 is not base64 (length not a multiple of 4)");
  auto bytes = core::base64_decode(in);
  if (!bytes) return invalid_argument("crop: rgb_base64 is not base64");
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

}  // namespace

StatusOr<std::string> export_json(const Store& store, bool with_crops) {
  FACELENS_ASSIGN_OR_RETURN(auto ids, store.identities());
  std::map<int64_t, json> faces;  // identity id -> faces array
  FACELENS_RETURN_IF_ERROR(store.for_each_face(with_crops, [&](StoredFace&& f) -> Status {
    json j;
    j["model_id"] = f.model_id;
    j["embedding"] = f.embedding;
    j["quality"] = f.quality;
    j["box"] = {f.box.x1, f.box.y1, f.box.x2, f.box.y2};
    j["image_sha256"] = f.image_sha256.empty() ? json(nullptr) : json(f.image_sha256);
    j["created_at"] = f.created_at;
    if (with_crops && !f.crop.empty())
      j["crop"] = {
          {"width", f.crop.width}, {"height", f.crop.height}, {"rgb_base64", core::base64_encode(f.crop.pixels)}};
    auto& arr = faces[f.identity_id];
    if (arr.is_null()) arr = json::array();
    arr.push_back(std::move(j));
    return Status::Ok();
  }));
  json out;
  out["format"] = kExportFormat;
  out["version"] = kExportVersion;
  json identities = json::array();
  for (const auto& i : ids) {
    json j;
    j["name"] = display_identity_name(i.name);
    j["metadata"] = json::parse(i.metadata, nullptr, /*allow_exceptions=*/false);
    if (j["metadata"].is_discarded()) j["metadata"] = json::object();
    j["created_at"] = i.created_at;
    j["updated_at"] = i.updated_at;
    auto it = faces.find(i.id);
    j["faces"] = it == faces.end() ? json::array() : std::move(it->second);
    identities.push_back(std::move(j));
  }
  out["identities"] = std::move(identities);
  // Stored text that is not UTF-8 (model ids, timestamps written by hand) becomes U+FFFD rather
  // than an exception.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<ImportPlan> read_import(const std::string& text, const Store& store) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return invalid_argument("import: not a JSON object");
  if (doc.value("format", "") != kExportFormat)
    return invalid_argument(std::string("import: expected \"format\": \"") + kExportFormat +
                            "\" (a `facelens gallery export` file)");
  if (!doc.contains("version") || !doc["version"].is_number_integer() || doc["version"].get<int>() > kExportVersion)
    return invalid_argument("import: unsupported export version (this facelens reads version " +
                            std::to_string(kExportVersion) + ")");
  if (!doc.contains("identities") || !doc["identities"].is_array())
    return invalid_argument("import: no \"identities\" array");
  ImportPlan plan;
  auto& items = plan.items;
  std::set<std::string> seen_images;
  for (const auto& ji : doc["identities"]) {
    const std::string where = "import: identity #" + std::to_string(items.size());
    if (!ji.is_object() || !ji.contains("name") || !ji["name"].is_string() || ji["name"].get<std::string>().empty())
      return invalid_argument(where + ": needs a non-empty \"name\"");
    NewIdentityFaces item;
    item.name = ji["name"].get<std::string>();
    if (Status valid = validate_identity_name(item.name); !valid.ok()) return valid.with_context(where);
    FACELENS_ASSIGN_OR_RETURN(auto existing, store.find_identity(item.name));
    if (ji.contains("metadata")) {
      if (!ji["metadata"].is_object()) return invalid_argument(where + ": \"metadata\" must be an object");
      if (!existing) item.metadata = ji["metadata"].dump();
    }
    if (!existing) {
      item.created_at = ji.value("created_at", "");
      item.updated_at = ji.value("updated_at", "");
    }
    if (ji.contains("faces") && !ji["faces"].is_array())
      return invalid_argument(where + ": \"faces\" must be an array");
    for (const auto& jf : ji.value("faces", json::array())) {
      const std::string fw = where + " ('" + item.name + "') face #" + std::to_string(item.faces.size());
      if (!jf.is_object() || !jf.contains("embedding") || !jf["embedding"].is_array() || jf["embedding"].empty())
        return invalid_argument(fw + ": needs an \"embedding\" array");
      if (!jf.contains("model_id") || !jf["model_id"].is_string())
        return invalid_argument(fw + ": needs a \"model_id\"");
      StoredFace f;
      for (const auto& x : jf["embedding"]) {
        if (!x.is_number()) return invalid_argument(fw + ": embedding values must be numbers");
        f.embedding.push_back(x.get<float>());
      }
      if (plan.dim == 0) plan.dim = f.embedding.size();
      if (f.embedding.size() != plan.dim) return invalid_argument(fw + ": embeddings of different dimensions");
      f.model_id = jf["model_id"].get<std::string>();
      plan.models.insert(f.model_id);
      f.quality = jf.value("quality", 0.f);
      if (jf.contains("box")) {
        const auto& b = jf["box"];
        if (!b.is_array() || b.size() != 4) return invalid_argument(fw + ": \"box\" must be [x1, y1, x2, y2]");
        f.box = {b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
      }
      if (jf.contains("image_sha256") && jf["image_sha256"].is_string())
        f.image_sha256 = jf["image_sha256"].get<std::string>();
      f.created_at = jf.value("created_at", "");
      if (jf.contains("crop")) {
        const auto& c = jf["crop"];
        if (!c.is_object() || !c.contains("rgb_base64") || !c["rgb_base64"].is_string())
          return invalid_argument(fw + ": \"crop\" needs width, height and rgb_base64");
        f.crop.width = c.value("width", 0);
        f.crop.height = c.value("height", 0);
        FACELENS_ASSIGN_OR_RETURN(f.crop.pixels, crop_pixels(c["rgb_base64"].get<std::string>()));
        if (f.crop.width <= 0 || f.crop.height <= 0 ||
            f.crop.pixels.size() != static_cast<size_t>(f.crop.width) * f.crop.height * 3)
          return invalid_argument(fw + ": crop is not width x height RGB pixels");
      }
      if (!f.image_sha256.empty()) {
        FACELENS_ASSIGN_OR_RETURN(auto owner, store.find_image(f.image_sha256));
        if (owner || !seen_images.insert(f.image_sha256).second) {
          ++plan.result.n_duplicates;
          continue;
        }
      }
      item.faces.push_back(std::move(f));
    }
    if (existing && item.faces.empty()) continue;
    plan.result.n_faces += item.faces.size();
    ++plan.result.n_identities;
    items.push_back(std::move(item));
  }
  if (plan.models.size() > 1) return invalid_argument("import: the file mixes embeddings of several models");
  return plan;
}

}  // namespace facelens::gallery
