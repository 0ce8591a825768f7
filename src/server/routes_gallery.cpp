// Routes on the gallery: POST /v1/identify, the identities (list, get, enrol, add a face, delete)
// and POST /v1/verify against an identity.
#include <string>

#include "facelens/result_json.h"
#include "server/server_impl.h"

namespace facelens {

using server::dump;
using server::json;
using server::send_error;
using server::send_json;
using server::send_status;

namespace {
// A shared store whose last successful check is older than this is treated as unreachable (its
// gallery checks it every second; a database that hangs instead of refusing shows here).
constexpr int64_t kGalleryStaleMs = 10000;
}  // namespace

std::string Server::Impl::gallery_unavailable(bool with_error) const {
  if (!gallery) return "";
  const GallerySyncState st = gallery->sync_state();
  if (!st.connected) {
    return "the gallery is not connected to its database" +
           (st.error.empty() || !with_error ? "" : " (" + st.error + ")") +
           ": this replica answers gallery requests again once it has reconnected and caught up";
  }
  if (st.shared && st.check_age_ms > kGalleryStaleMs) {
    return "the gallery's database has not answered for " + std::to_string(st.check_age_ms / 1000) +
           " s: this replica answers gallery requests again once it does";
  }
  return "";
}

// Every gallery route answers 409 when the service runs without a gallery, and 503 UNAVAILABLE
// (Retry-After: 1) while the gallery cannot answer; true when it did.
bool Server::Impl::refused_gallery(server::HttpResponse& res) const {
  if (!gallery) {
    send_error(res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    return true;
  }
  // The database's own message (addresses, user names) stays in /ready for keyed callers and in
  // the log; a client is told what happens and when to retry.
  const std::string why = gallery_unavailable(/*with_error=*/false);
  if (why.empty()) return false;
  res.set_header("Retry-After", "1");
  send_error(res, 503, "UNAVAILABLE", why);
  return true;
}

void Server::Impl::verify_identity(Request& r, std::span<const uint8_t> span_a, const std::string& identity) {
  if (refused_gallery(r.res)) return;
  auto img = decode(span_a);
  if (!img.ok()) return send_status(r.res, img.status());
  auto v = recognition->verify(img->image, identity);
  if (!v.ok()) return send_status(r.res, v.status());
  send_json(r.res, 200, format::to_json(*v));
}

void Server::Impl::install_gallery_routes() {
  route("POST", "/v1/identify", Role::kUser, true, [this](Request& r) {
    if (refused_gallery(r.res)) return;
    auto bytes = image_of(r, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    int top_k = 5;
    auto k = param(r, "top_k");
    if (!k.ok()) return send_status(r.res, k.status());
    if (!k->empty()) top_k = std::atoi(k->c_str());
    if (top_k < 1 || top_k > options.max_top_k) {
      return send_error(r.res, 400, "INVALID_ARGUMENT", "top_k must be 1.." + std::to_string(options.max_top_k));
    }
    auto img = decode(*bytes);
    if (!img.ok()) return send_status(r.res, img.status());
    auto id = recognition->identify(img->image, top_k);
    if (!id.ok()) return send_status(r.res, id.status());
    send_json(r.res, 200, format::to_json(*id));
  });

  auto identity_json = [this](const IdentityInfo& i) {
    // Stored by any program: bounded before it is parsed, like a request.
    json meta = server::json_depth_within(i.metadata_json, options.max_json_depth)
                    ? json::parse(i.metadata_json, nullptr, false)
                    : json(nullptr);
    return json{{"id", i.name},
                {"name", i.name},
                {"metadata", meta.is_object() ? meta : json::object()},
                {"faces", i.n_faces},
                {"created_at", i.created_at},
                {"updated_at", i.updated_at}};
  };
  route("GET", "/v1/identities", Role::kUser, false, [this, identity_json](Request& r) {
    if (refused_gallery(r.res)) return;
    auto list = gallery->list();
    if (!list.ok()) return send_status(r.res, list.status());
    json arr = json::array();
    for (const auto& i : *list) arr.push_back(identity_json(i));
    send_json(r.res, 200, {{"identities", arr}});
  });
  route("GET", "/v1/identities/{id}", Role::kUser, false, [this, identity_json](Request& r) {
    if (refused_gallery(r.res)) return;
    const std::string& name = r.args[0];
    auto list = gallery->list();
    if (!list.ok()) return send_status(r.res, list.status());
    for (const auto& i : *list) {
      if (i.name != name) continue;
      json j = identity_json(i);
      json faces = json::array();
      if (auto fs = gallery->faces(); fs.ok()) {
        for (const auto& f : *fs) {
          if (f.name != name) continue;
          faces.push_back({{"face_id", f.id},
                           {"model_id", f.model_id},
                           {"quality", f.quality},
                           {"box", {f.box.x1, f.box.y1, f.box.x2, f.box.y2}},
                           {"image_sha256", f.image_sha256},
                           {"created_at", f.created_at}});
        }
      }
      j["face_list"] = faces;
      return send_json(r.res, 200, j);
    }
    send_error(r.res, 404, "NOT_FOUND", "no identity '" + name + "'");
  });
  auto enroll = [this](Request& r, const std::string& name) {
    if (refused_gallery(r.res)) return;
    if (name.empty()) return send_error(r.res, 400, "INVALID_ARGUMENT", "missing identity name");
    auto bytes = image_of(r, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    EnrollOptions eo;
    auto meta = metadata_param(r);
    if (!meta.ok()) return send_status(r.res, meta.status());
    if (!meta->empty()) eo.metadata_json = *meta;
    auto largest = param(r, "largest");
    if (!largest.ok()) return send_status(r.res, largest.status());
    eo.largest_face = *largest == "true";
    auto e = recognition->enroll(name, *bytes, eo);
    if (!e.ok()) return send_status(r.res, e.status());
    send_json(r.res, 201,
              {{"id", e->name},
               {"name", e->name},
               {"face_id", e->face_id},
               {"image_sha256", e->image_sha256},
               {"box", format::to_json(e->face)["box"]},
               {"sharpness", e->sharpness}});
  };
  route("POST", "/v1/identities", Role::kAdmin, true, [this, enroll](Request& r) {
    auto name = param(r, "name");
    if (!name.ok()) return send_status(r.res, name.status());
    enroll(r, *name);
  });
  route("POST", "/v1/identities/{id}/faces", Role::kAdmin, true, [enroll](Request& r) { enroll(r, r.args[0]); });
  route("DELETE", "/v1/identities/{id}", Role::kAdmin, false, [this](Request& r) {
    if (refused_gallery(r.res)) return;
    Status s = gallery->remove(r.args[0]);
    if (!s.ok()) return send_status(r.res, s);
    send_json(r.res, 200, {{"deleted", r.args[0]}});
  });
}

}  // namespace facelens
