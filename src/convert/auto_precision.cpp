#include "convert/auto_precision.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "convert/converter.h"
#include "convert/precision_cache.h"

namespace facelens::optimize {

namespace {

using json = nlohmann::ordered_json;

// The converter options that shape each cached variant (their defaults; see convert/convert.h).
std::string options_text(models::Precision precision) {
  if (precision == models::Precision::kFp16) {
    std::string s = "fp16 keep:";
    for (const auto& op : models::fp16_block_list()) s += op + ",";
    return s;
  }
  const models::Int8Options o;
  return std::string("int8 static ") + models::calibration_method_name(o.method) +
         (o.per_channel ? " per-channel" : " per-tensor");
}

std::string fmt_ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f ms", v);
  return buf;
}

PrecisionChoice original(const PrecisionRequest& r, std::string source, std::string reason) {
  PrecisionChoice c;
  c.path = r.model_path;
  c.precision = models::Precision::kFp32;
  c.source = std::move(source);
  c.reason = std::move(reason);
  return c;
}

}  // namespace

StatusOr<PrecisionChoice> resolve_precision(const PrecisionRequest& r,
                                            std::shared_ptr<const runtime::Environment> env) {
  using models::Precision;
  if (r.precision == Precision::kFp32) return original(r, "original", "float32 as shipped");
  if (r.model_sha256.empty()) return invalid_argument("resolve_precision needs the model file's sha256");
  if (r.cache_dir.empty()) {
    return invalid_argument(
        "model '" + r.entry.id +
        "': no precision cache folder for its variants: set "
        "EngineOptions::precision_cache_dir (the tools pass ${XDG_CACHE_HOME:-~/.cache}/facelens/models)");
  }
  const bool automatic = !r.precision;
  const Precision target_precision =
      automatic ? (r.provider == Provider::kCuda ? Precision::kFp16 : Precision::kInt8) : *r.precision;
  const std::string target(models::name(target_precision));
  const std::string provider = provider_option_name(r.provider);

  models::PrecisionCache cache(r.cache_dir);
  cache.remove_stale(r.entry.id, r.model_sha256);
  const std::string ort = runtime::Environment::ort_version();
  const models::CacheKey variant_key{
      r.model_sha256, target, options_text(target_precision), ort, models::kConverterVersion, ""};
  const models::CacheKey decision_key{r.model_sha256, "auto", "", ort, models::kConverterVersion, provider};

  if (automatic) {
    if (auto d = cache.find(r.entry.id, decision_key)) {
      const auto rec = json::parse(d->record_json, nullptr, false);
      const std::string chosen = rec.is_object() ? rec.value("chosen", "") : "";
      const std::string reason = rec.is_object() ? rec.value("reason", "") : "";
      if (chosen == "fp32") return original(r, "cache", reason);
      if (auto v = cache.find(r.entry.id, variant_key); v && chosen == target) {
        return PrecisionChoice{v->model_path, target_precision, "cache", reason, 0};
      }
    }
  } else if (auto v = cache.find(r.entry.id, variant_key)) {
    return PrecisionChoice{v->model_path, target_precision, "cache", "asked for " + target, 0};
  }

  // Make the variant: images for calibration and the drift check.
  std::optional<SampleSet> set;
  if (!r.calibration_dir.empty() && r.reference) {
    FACELENS_ASSIGN_OR_RETURN(auto files, list_images(r.calibration_dir, r.max_images));
    FACELENS_ASSIGN_OR_RETURN(set, build_sample_set(files, *r.reference, env));
  }
  if (target_precision == Precision::kInt8 && !set) {
    const std::string why =
        "INT8 needs calibration images: set EngineOptions::calibration_dir (or FACELENS_CALIBRATION) "
        "to a folder of face photos";
    if (automatic) return original(r, "original", why);
    return failed_precondition("model '" + r.entry.id + "': " + why);
  }
  ConvertRequest req;
  req.input = r.model_path;
  req.entry = r.entry;
  req.precision = target_precision;
  req.samples = set ? &*set : nullptr;
  req.check_drift = set.has_value();
  req.latency_runs = automatic && target_precision == Precision::kInt8 ? 20 : 0;
  req.threads = r.threads;
  FACELENS_ASSIGN_OR_RETURN(auto res, convert_model(req, env));

  json record;
  record["source"] = r.model_path;
  record["created"] = static_cast<int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  if (res.drift) record["drift"] = json::parse(models::drift_report_json(*res.drift), nullptr, false);
  else record["drift"] = "not measured: no calibration_dir images";

  auto decide = [&](const std::string& chosen, const std::string& reason) -> Status {
    json d;
    d["chosen"] = chosen;
    d["reason"] = reason;
    d["provider"] = provider;
    d["measurement"] = record;
    return cache.store(r.entry.id, decision_key, nullptr, d.dump()).status();
  };

  if (res.refused) {
    if (!automatic) return failed_precondition("model '" + r.entry.id + "': " + res.refusal);
    const std::string reason = target + " refused, using fp32: " + res.refusal;
    FACELENS_RETURN_IF_ERROR(decide("fp32", reason));
    PrecisionChoice c = original(r, "converted", reason);
    c.conversions = 1;
    return c;
  }
  std::string reason = automatic ? target + " on " + provider : "asked for " + target;
  if (automatic && target_precision == Precision::kInt8 && res.drift) {
    const double a = res.drift->latency_original_ms, b = res.drift->latency_converted_ms;
    if (!(b * r.min_speedup <= a)) {
      reason = "int8 not faster on the CPU (" + fmt_ms(b) + " vs " + fmt_ms(a) + " for fp32), using fp32";
      FACELENS_RETURN_IF_ERROR(decide("fp32", reason));
      PrecisionChoice c = original(r, "converted", reason);
      c.conversions = 1;
      return c;
    }
    reason = "int8 within the drift bounds and faster on the CPU (" + fmt_ms(b) + " vs " + fmt_ms(a) + " for fp32)";
  }
  if (!res.drift) reason += " (drift not measured: no calibration images)";
  FACELENS_ASSIGN_OR_RETURN(auto stored, cache.store(r.entry.id, variant_key, &res.model, record.dump()));
  if (automatic) FACELENS_RETURN_IF_ERROR(decide(target, reason));
  return PrecisionChoice{stored.model_path, target_precision, "converted", reason, 1};
}

}  // namespace facelens::optimize
