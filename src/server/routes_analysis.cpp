// Routes on images alone: POST /v1/detect, /v1/embed, /v1/analyze and /v1/verify.
#include <string>

#include "format/result_json.h"
#include "server/server_impl.h"

namespace facelens {

using server::as_bytes;
using server::json;
using server::send_error;
using server::send_json;
using server::send_status;

json Server::Impl::result_json(const ImageResult& r) const {
  json j = format::to_json(r, "");
  j.erase("image");
  j["providers"] = services_providers();
  return j;
}
json Server::Impl::services_providers() const {
  json j = json::object();
  for (const auto& s : engine->services())
    if (s.loaded) j[s.service == "attribute" ? s.model_id : s.service] = s.provider;
  return j;
}

void Server::Impl::analyze_route(const char* path, AnalyzeOptions what) {
  route("POST", path, Role::kUser, true, [this, what](Request& r) {
    auto bytes = image_of(r, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    auto result = engine->analyze_bytes(as_bytes(*bytes), what);
    if (!result.ok()) return send_status(r.res, result.status());
    send_json(r.res, 200, result_json(*result));
  });
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

  route("POST", "/v1/verify", Role::kUser, true, [this](Request& r) {
    auto a = image_of(r, "image_a");
    if (!a.ok()) a = image_of(r, "image");
    if (!a.ok()) return send_status(r.res, a.status());
    auto span_a = as_bytes(*a);
    auto identity_param = param(r, "identity");
    if (!identity_param.ok()) return send_status(r.res, identity_param.status());
    const std::string& identity = *identity_param;
    if (!identity.empty()) return verify_identity(r, span_a, identity);  // routes_gallery.cpp
    auto b = image_of(r, "image_b");
    if (!b.ok()) return send_status(r.res, b.status());
    auto span_b = as_bytes(*b);
    auto ia = decode_image(span_a, engine->decode_options());
    if (!ia.ok()) return send_status(r.res, ia.status().with_context("image_a"));
    auto ib = decode_image(span_b, engine->decode_options());
    if (!ib.ok()) return send_status(r.res, ib.status().with_context("image_b"));
    auto v = engine->verify(ia->image, ib->image);
    if (!v.ok()) return send_status(r.res, v.status());
    send_json(r.res, 200, {{"similarity", v->similarity}, {"match", v->match}, {"threshold", v->threshold},
                           {"box_a", format::to_json(v->face_a)["box"]}, {"box_b", format::to_json(v->face_b)["box"]}});
  });
}

}  // namespace facelens
