#include "services/factory.h"

#include <string>

namespace facelens::services {

namespace {

using models::ModelService;
using models::Task;
using ServicePtr = std::shared_ptr<const ModelService>;

// Converts the StatusOr of a service class to the StatusOr of its base.
template <typename T>
StatusOr<ServicePtr> as_base(StatusOr<std::shared_ptr<const T>> made) {
  if (!made.ok()) return made.status();
  return ServicePtr(std::move(*made));
}

}  // namespace

StatusOr<ServicePtr> make_service(const models::ModelEntry& entry, std::shared_ptr<const runtime::Session> session,
                                  const ServiceOptions& options) {
  const ServiceModel one{&entry, std::move(session)};
  return make_service(std::span<const ServiceModel>(&one, 1), options);
}

StatusOr<ServicePtr> make_service(std::span<const ServiceModel> models, const ServiceOptions& options) {
  if (models.empty()) return invalid_argument("make_service needs at least one model");
  for (const auto& m : models) {
    if (!m.entry) return invalid_argument("make_service: a model without its manifest entry");
    if (!m.session) {
      return invalid_argument("model '" + m.entry->id + "': no session given: open the model's session first");
    }
    if (m.entry->task != models[0].entry->task) {
      return invalid_argument("models '" + models[0].entry->id + "' and '" + m.entry->id +
                              "' are of different tasks: one service runs models of one task");
    }
  }
  const models::ModelEntry& e = *models[0].entry;
  if (models.size() > 1 && e.task != Task::kLiveness) {
    return invalid_argument("a " + std::string(models::name(e.task)) + " service runs one model, not " +
                            std::to_string(models.size()) + " (only liveness models are fused)");
  }
  const auto& s = models[0].session;
  switch (e.task) {
    case Task::kDetector: return as_base(detect::create_detector(e, s, options.detector));
    case Task::kLandmarks: return as_base(landmarks::LandmarkModel::create(e, s));
    case Task::kRecognizer: return as_base(recognize::Recognizer::create(e, s));
    case Task::kLiveness: {
      std::vector<std::shared_ptr<const liveness::LivenessModel>> parts;
      for (const auto& m : models) {
        FACELENS_ASSIGN_OR_RETURN(auto part, liveness::LivenessModel::create(*m.entry, m.session));
        parts.push_back(std::move(part));
      }
      return as_base(liveness::FusedLiveness::create(std::move(parts)));
    }
    case Task::kDeepfake: return as_base(deepfake::DeepfakeModel::create(e, s, options.deepfake));
    case Task::kAttribute: return as_base(attributes::create_attribute_model(e, s));
  }
  return invalid_argument("model '" + e.id + "': no service for its task");
}

}  // namespace facelens::services
