// The one place a model service is built from its manifest entry and session: the Engine, the
// benchmark and the conversion's drift and sample code all go through it.
//
//   FACELENS_ASSIGN_OR_RETURN(auto s, models::open_session(registry, entry, env, so));
//   FACELENS_ASSIGN_OR_RETURN(auto any, services::make_service(entry, s));          // by entry.task
//   FACELENS_ASSIGN_OR_RETURN(auto det, services::make<models::Task::kDetector>(entry, s));
//   auto faces = det->detect(image);
//
// Adding a service: its class (deriving from models::ModelService), one case in make_service
// (factory.cpp), its Task value (models/manifest.h) and its ServiceType below.
//
// Pure functions; the services they return are immutable and thread-safe and own a share of their
// sessions.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "attributes/attributes.h"
#include "deepfake/deepfake.h"
#include "detect/detector.h"
#include "facelens/status.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "models/manifest.h"
#include "models/service.h"
#include "recognize/recognizer.h"
#include "runtime/session.h"

namespace facelens::services {

// Options of the services that take any (the others have none).
struct ServiceOptions {
  detect::DetectorOptions detector;    // Task::kDetector
  deepfake::DeepfakeOptions deepfake;  // Task::kDeepfake
};

// One model of a service: its entry and the session opened on its file.
struct ServiceModel {
  const models::ModelEntry* entry = nullptr;
  std::shared_ptr<const runtime::Session> session;
};

// The service of `entry.task` on `session`: a detect::Detector, landmarks::LandmarkModel,
// recognize::Recognizer, liveness::FusedLiveness (of this one model), deepfake::DeepfakeModel or
// attributes::AttributeModel. Errors: the entry does not fit the session or the service (the
// service's own checks, which say what to fix in the manifest), or no session is given.
StatusOr<std::shared_ptr<const models::ModelService>> make_service(const models::ModelEntry& entry,
                                                                   std::shared_ptr<const runtime::Session> session,
                                                                   const ServiceOptions& options = {});
// A service of several models of one task: liveness models are fused (liveness::FusedLiveness,
// in the order given); every other task takes exactly one model.
StatusOr<std::shared_ptr<const models::ModelService>> make_service(std::span<const ServiceModel> models,
                                                                   const ServiceOptions& options = {});

// The class of each task's service.
template <models::Task T>
struct ServiceType;
template <>
struct ServiceType<models::Task::kDetector> {
  using type = detect::Detector;
};
template <>
struct ServiceType<models::Task::kLandmarks> {
  using type = landmarks::LandmarkModel;
};
template <>
struct ServiceType<models::Task::kRecognizer> {
  using type = recognize::Recognizer;
};
template <>
struct ServiceType<models::Task::kLiveness> {
  using type = liveness::FusedLiveness;
};
template <>
struct ServiceType<models::Task::kDeepfake> {
  using type = deepfake::DeepfakeModel;
};
template <>
struct ServiceType<models::Task::kAttribute> {
  using type = attributes::AttributeModel;
};
template <models::Task T>
using ServiceOf = typename ServiceType<T>::type;

// `service` as the class of task T; InvalidArgument when it is a service of another task.
template <models::Task T>
StatusOr<std::shared_ptr<const ServiceOf<T>>> service_as(std::shared_ptr<const models::ModelService> service) {
  auto typed = std::dynamic_pointer_cast<const ServiceOf<T>>(std::move(service));
  if (!typed) return invalid_argument(std::string("the service is not a ") + std::string(models::name(T)));
  return typed;
}

// make_service for an entry of task T, typed; InvalidArgument when entry.task is not T.
template <models::Task T>
StatusOr<std::shared_ptr<const ServiceOf<T>>> make(const models::ModelEntry& entry,
                                                   std::shared_ptr<const runtime::Session> session,
                                                   const ServiceOptions& options = {}) {
  if (entry.task != T) {
    return invalid_argument("model '" + entry.id + "' is a " + std::string(models::name(entry.task)) + ", not a " +
                            std::string(models::name(T)) + ": pick a " + std::string(models::name(T)) + " model");
  }
  FACELENS_ASSIGN_OR_RETURN(auto s, make_service(entry, std::move(session), options));
  return service_as<T>(std::move(s));
}

}  // namespace facelens::services
