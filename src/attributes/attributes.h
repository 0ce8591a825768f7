// Face attribute models (age, gender, expression, head pose, eye closure), each one model with
// its own crop and decoding, filled into facelens::Attributes. Computed only when asked.
// Immutable and thread-safe.
#pragma once

#include <memory>

#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "models/service.h"
#include "runtime/session.h"

namespace facelens::attributes {

class AttributeModel : public models::ModelService {
 public:
  // Runs the model on the face in `box` (with `landmarks` when the model needs them) and sets
  // its fields of `out`.
  virtual Status apply(const Image& img, const Box& box, const std::optional<FivePoints>& landmarks,
                       Attributes* out) const = 0;

 protected:
  using ModelService::ModelService;
};

// Chooses the implementation by the entry's family ("age", "gender", "expression", "pose", "eye").
StatusOr<std::shared_ptr<const AttributeModel>> create_attribute_model(const models::ModelEntry& entry,
                                                                       std::shared_ptr<const runtime::Session> session);

}  // namespace facelens::attributes
