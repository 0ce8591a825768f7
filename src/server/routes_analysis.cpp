// Routes on images alone: POST /v1/detect, /v1/embed, /v1/analyze and /v1/verify.
#include <string>

#include "facelens/result_json.h"
#include "server/server_impl.h"

namespace facelens {

using server::json;
using server::send_error;
using server::send_json;
using server::send_status;

json Server::Impl::with_providers(json j) const {
  j["providers"] = format::providers_json(engine->services());
  return j;
}

void Server::Impl::analyze_route(const char* path, AnalyzeOptions what) {
  route(
      "POST", path, Role::kUser, true,
      [this, what](Request& r) {
        auto bytes = image_of(r, "image");
        if (!bytes.ok()) return send_status(r.res, bytes.status());
        auto result = engine->analyze_bytes(*bytes, what);
        if (!result.ok()) return send_status(r.res, result.status());
        send_json(r.res, 200, with_providers(format::to_json(*result)));
      },
      /*raw_image=*/true,
      "the image as a raw body (Content-Type image/jpeg, image/png, image/webp or image/bmp), as the file field "
      "'image' of multipart/form-data, or as JSON {\"image\": \"<base64 or data:image/...;base64, URI>\"}");
}

void Server::Impl::install_analysis_routes() {
  AnalyzeOptions detect, embed, analyze;
  embed.embedding = true;
  analyze.liveness = true;
  analyze.attributes = true;
  analyze.deepfake = true;  // only when a deepfake model is configured
  analyze_route("/v1/detect", detect);
  analyze_route("/v1/embed", embed);
  analyze_route("/v1/analyze", analyze);

  route(
      "POST", "/v1/verify", Role::kUser, true,
      [this](Request& r) {
        const bool with_a = has_field(r, "image_a");
        auto a = image_of(r, with_a ? "image_a" : "image");
        if (!a.ok()) return send_status(r.res, with_a ? a.status().with_context("image_a") : a.status());
        auto span_a = *a;
        auto identity_param = param(r, "identity");
        if (!identity_param.ok()) return send_status(r.res, identity_param.status());
        const std::string& identity = *identity_param;
        if (!identity.empty()) return verify_identity(r, span_a, identity);  // routes_gallery.cpp
        auto b = image_of(r, "image_b");
        if (!b.ok()) return send_status(r.res, b.status().with_context("image_b"));
        auto span_b = *b;
        auto ia = decode(span_a);
        if (!ia.ok()) return send_status(r.res, ia.status().with_context("image_a"));
        auto ib = decode(span_b);
        if (!ib.ok()) return send_status(r.res, ib.status().with_context("image_b"));
        auto threshold = threshold_param(r);
        if (!threshold.ok()) return send_status(r.res, threshold.status());
        auto v = engine->verify(ia->image, ib->image);
        if (!v.ok()) return send_status(r.res, v.status());
        if (*threshold >= -1) {  // this request's threshold, decided as Engine::verify decides
          v->threshold = *threshold;
          v->match = v->similarity >= *threshold;
        }
        send_json(r.res, 200, with_providers(format::to_json(*v)));
      },
      /*raw_image=*/false,
      "multipart/form-data or JSON with two images, image_a and image_b (files, or base64 / data: URIs in JSON), "
      "or an image and identity (an enrolled name); optional threshold (-1..1)");
}

}  // namespace facelens
