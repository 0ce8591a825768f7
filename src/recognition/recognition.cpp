#include "facelens/recognition.h"

#include <algorithm>

#include "core/sha256.h"
#include "models/manifest.h"
#include "recognition/quality.h"

namespace facelens {

GalleryOptions gallery_options_for(const Engine& engine, GalleryOptions options) {
  if (options.match_threshold < 0) options.match_threshold = engine.match_threshold();
  if (options.model_id.empty()) options.model_id = engine.recognizer_model_id();
  return options;
}

Recognition::Recognition(std::shared_ptr<const Engine> engine, std::shared_ptr<Gallery> gallery)
    : engine_(std::move(engine)), gallery_(std::move(gallery)) {}
Recognition::~Recognition() = default;

StatusOr<std::unique_ptr<Recognition>> Recognition::create(std::shared_ptr<const Engine> engine,
                                                           std::shared_ptr<Gallery> gallery) {
  if (!engine) return invalid_argument("Recognition needs an Engine");
  if (!gallery) return invalid_argument("Recognition needs a Gallery");
  const std::string& declared = gallery->options().model_id;
  const std::string recognizer = engine->recognizer_model_id();
  if (!declared.empty() && declared != recognizer)
    return failed_precondition("the gallery " + gallery->stats().store + " was opened for the recognizer '" + declared +
                               "' but the engine's recognizer is '" + recognizer +
                               "': open the gallery with GalleryOptions::model_id '" + recognizer +
                               "' (gallery_options_for(engine, options) sets it), or configure the engine with the "
                               "recognizer '" +
                               declared + "'");
  return std::unique_ptr<Recognition>(new Recognition(std::move(engine), std::move(gallery)));
}

StatusOr<EnrollResult> Recognition::enroll_file(const std::string& name, const std::string& path,
                                                const EnrollOptions& options) const {
  auto bytes = read_file_bytes(path, engine_->decode_options().max_bytes);
  if (!bytes.ok()) return bytes.status().with_context(path);
  auto r = enroll(name, *bytes, options);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

StatusOr<EnrollResult> Recognition::enroll(const std::string& name, std::span<const uint8_t> bytes,
                                           const EnrollOptions& eo) const {
  const std::string model = engine_->recognizer_model_id();
  EnrollResult result;
  result.name = name;
  result.image_sha256 = core::sha256_hex(bytes);
  // Name, metadata, model and duplicate image: refused before paying for the models.
  FACELENS_RETURN_IF_ERROR(gallery_->check_enrollment(name, eo.metadata_json, model, result.image_sha256));
  FACELENS_ASSIGN_OR_RETURN(auto decoded, decode_image(bytes, engine_->decode_options()));
  const Image& image = decoded.image;
  AnalyzeOptions what;
  what.embedding = true;
  what.liveness = eo.require_live;
  const auto services = engine_->services();
  // Attributes only for the pose check, and only when a pose model is configured.
  what.attributes = eo.max_pose_degrees > 0 && std::any_of(services.begin(), services.end(), [](const ServiceInfo& s) {
                      return s.service == "attribute" && s.family == models::name(models::Family::kPose);
                    });
  FACELENS_ASSIGN_OR_RETURN(auto analysed, engine_->analyze(image, what));
  result.n_faces_in_image = analysed.faces.size();
  FACELENS_ASSIGN_OR_RETURN(const size_t index, recognition::select_enrollment_face(analysed.faces, eo));
  const Face& face = analysed.faces[index];
  FACELENS_ASSIGN_OR_RETURN(auto crop, engine_->align_face(image, face));
  result.sharpness = recognition::laplacian_variance(crop);
  FACELENS_RETURN_IF_ERROR(recognition::check_sharpness(result.sharpness, eo));
  EmbeddingEnrollment e;
  e.name = name;
  e.embedding = face.embedding;
  e.model_id = model;
  e.metadata_json = eo.metadata_json;
  e.must_exist = eo.must_exist;
  e.image_sha256 = result.image_sha256;
  e.box = face.box;
  e.quality = static_cast<float>(result.sharpness);
  if (eo.keep_crop) e.crop = std::move(crop);
  // The gallery checks the model again: a reembed may have run while the models worked.
  FACELENS_ASSIGN_OR_RETURN(auto ids, gallery_->enroll_embeddings({&e, 1}));
  result.face_id = ids.at(0);
  result.face = face;
  return result;
}

StatusOr<IdentifyResult> Recognition::identify(const Image& image, int top_k, float threshold) const {
  const std::string model = engine_->recognizer_model_id();
  FACELENS_RETURN_IF_ERROR(gallery_->check_model(model));
  AnalyzeOptions what;
  what.embedding = true;
  FACELENS_ASSIGN_OR_RETURN(auto analysed, engine_->analyze(image, what));
  std::vector<std::vector<float>> embeddings;
  embeddings.reserve(analysed.faces.size());
  for (const auto& f : analysed.faces) embeddings.push_back(f.embedding);
  FACELENS_ASSIGN_OR_RETURN(auto identified, gallery_->identify_embeddings(embeddings, model, top_k, threshold));
  IdentifyResult result;
  result.width = analysed.width;
  result.height = analysed.height;
  result.threshold = threshold < -1 ? gallery_->match_threshold() : threshold;
  for (size_t i = 0; i < identified.size(); ++i) {
    identified[i].face = std::move(analysed.faces[i]);
    result.faces.push_back(std::move(identified[i]));
  }
  return result;
}

StatusOr<IdentifyResult> Recognition::identify_file(const std::string& path, int top_k) const {
  auto decoded = decode_image_file(path, engine_->decode_options());
  if (!decoded.ok()) return decoded.status().with_context(path);
  auto r = identify(decoded->image, top_k);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

StatusOr<GalleryVerifyResult> Recognition::verify(const Image& image, const std::string& name, float threshold) const {
  const std::string model = engine_->recognizer_model_id();
  FACELENS_RETURN_IF_ERROR(gallery_->check_model(model));
  FACELENS_RETURN_IF_ERROR(gallery_->check_identity(name));
  AnalyzeOptions what;
  what.embedding = true;
  FACELENS_ASSIGN_OR_RETURN(auto analysed, engine_->analyze(image, what));
  if (analysed.faces.empty()) return invalid_argument("no face found");
  const Face& face = analysed.faces[largest_face(analysed.faces)];
  FACELENS_ASSIGN_OR_RETURN(auto v, gallery_->verify_embedding(face.embedding, model, name, threshold));
  v.face = face;
  return v;
}

StatusOr<GalleryVerifyResult> Recognition::verify_file(const std::string& path, const std::string& name) const {
  auto decoded = decode_image_file(path, engine_->decode_options());
  if (!decoded.ok()) return decoded.status().with_context(path);
  auto r = verify(decoded->image, name);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

StatusOr<ReembedResult> Recognition::reembed(const std::function<void(size_t, size_t)>& progress) const {
  const std::string model = engine_->recognizer_model_id();
  if (model.empty()) return failed_precondition("reembed needs a recognizer (manifest defaults.recognizer)");
  const Engine& engine = *engine_;
  return gallery_->reembed(
      model, [&engine](std::span<const Image> crops) { return engine.embed_aligned(crops); }, progress);
}

}  // namespace facelens
