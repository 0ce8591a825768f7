#include "bench/variants.h"

#include "models/binding.h"

namespace facelens::bench {

namespace {

class RegistryVariants final : public ModelVariants {
 public:
  RegistryVariants(std::shared_ptr<const models::ModelRegistry> registry,
                   std::shared_ptr<const runtime::Environment> env)
      : registry_(std::move(registry)), env_(std::move(env)) {}

  Status supports(const std::string& precision) const override {
    if (precision == "fp32") return Status::Ok();
    if (!is_known_precision(precision))
      return invalid_argument("unknown precision '" + precision + "': expected fp32, fp16 or int8");
    return unavailable(precision + " is not timed by facelens bench: time it with `facelens models convert IN OUT --" +
                       precision + " --latency N`");
  }

  StatusOr<std::shared_ptr<const runtime::Session>> open(const models::ModelEntry& entry, const std::string& precision,
                                                         const runtime::SessionOptions& options) const override {
    FACELENS_RETURN_IF_ERROR(supports(precision));
    return models::open_session(*registry_, entry, env_, options);
  }

  StatusOr<std::string> sha256(const models::ModelEntry& entry, const std::string& precision) const override {
    FACELENS_RETURN_IF_ERROR(supports(precision));
    models::FileCheck check = registry_->check(entry);
    FACELENS_RETURN_IF_ERROR(check.status);
    return check.actual_sha256;
  }

 private:
  std::shared_ptr<const models::ModelRegistry> registry_;
  std::shared_ptr<const runtime::Environment> env_;
};

}  // namespace

std::shared_ptr<const ModelVariants> registry_variants(std::shared_ptr<const models::ModelRegistry> registry,
                                                       std::shared_ptr<const runtime::Environment> env) {
  return std::make_shared<RegistryVariants>(std::move(registry), std::move(env));
}

bool is_known_precision(const std::string& precision) {
  return precision == "fp32" || precision == "fp16" || precision == "int8";
}

}  // namespace facelens::bench
