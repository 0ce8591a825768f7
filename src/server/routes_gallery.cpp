// Routes on the gallery: POST /v1/identify, the identities (list, get, enrol, add a face, rename
// and edit metadata, delete one face or the identity), a face's stored crop and POST /v1/verify
// against an identity.
#include <cmath>
#include <optional>
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
    send_error(res, 409, "FAILED_PRECONDITION", "this service runs without a gallery: identities cannot be used here");
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

Status Server::Impl::for_client(const Status& s) const {
  if (s.ok()) return s;
  std::string m = s.message();
  auto replace_all = [&m](const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (size_t at = m.find(from); at != std::string::npos; at = m.find(from, at + to.size()))
      m.replace(at, from.size(), to);
  };
  if (gallery) {
    // "the gallery sqlite:/srv/data/gallery.db" and the like: the store is the client's "gallery".
    const std::string store = gallery->sync_state().store;
    replace_all("the gallery " + store, "the gallery");
    replace_all(" in " + store, " in the gallery");
    replace_all(store, "the gallery");
    const GalleryOptions& go = gallery->options();
    if (!go.db_path.empty()) replace_all(go.db_path, "the gallery");
    // The operator's fix, without the server's path: `facelens gallery reembed --db PATH`.
    replace_all("`facelens gallery reembed --db the gallery`", "`facelens gallery reembed` on the server");
  }
  // What the library says of its options and the program of its flags, in the request's words.
  replace_all("with --largest / EnrollOptions::largest_face", "with the field largest=true");
  replace_all("GalleryOptions::", "");
  replace_all("EnrollOptions::", "");
  return Status(s.code(), m);
}

void Server::Impl::verify_identity(Request& r, std::span<const uint8_t> span_a, const std::string& identity) {
  if (refused_gallery(r.res)) return;
  auto threshold = threshold_param(r);
  if (!threshold.ok()) return send_status(r.res, threshold.status());
  auto img = decode(span_a);
  if (!img.ok()) return send_status(r.res, img.status());
  auto v = recognition->verify(img->image, identity, *threshold);
  if (!v.ok()) return send_status(r.res, for_client(v.status()));
  send_json(r.res, 200, format::to_json(*v));
}

namespace {

// A face id of a path ("/v1/faces/{face_id}/crop"): a positive integer.
std::optional<int64_t> face_id_of(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? std::optional<int64_t>(v) : std::nullopt;
}

constexpr const char* kImageBody =
    "the image as a raw body (Content-Type image/jpeg, image/png, image/webp or image/bmp), as the file field "
    "'image' of multipart/form-data, or as JSON {\"image\": \"<base64 or data:image/...;base64, URI>\"}";

}  // namespace

void Server::Impl::install_gallery_routes() {
  route(
      "POST", "/v1/identify", Role::kUser, true,
      [this](Request& r) {
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
        auto threshold = threshold_param(r);
        if (!threshold.ok()) return send_status(r.res, threshold.status());
        auto img = decode(*bytes);
        if (!img.ok()) return send_status(r.res, img.status());
        auto id = recognition->identify(img->image, top_k, *threshold);
        if (!id.ok()) return send_status(r.res, for_client(id.status()));
        send_json(r.res, 200, format::to_json(*id));
      },
      /*raw_image=*/true,
      std::string(kImageBody) + "; optional top_k (1.." + std::to_string(options.max_top_k) +
          ") and threshold (-1..1) as fields or query parameters");

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
    if (!list.ok()) return send_status(r.res, for_client(list.status()));
    json arr = json::array();
    for (const auto& i : *list) arr.push_back(identity_json(i));
    send_json(r.res, 200, {{"identities", arr}});
  });
  route("GET", "/v1/identities/{id}", Role::kUser, false, [this, identity_json](Request& r) {
    if (refused_gallery(r.res)) return;
    const std::string& name = r.args[0];
    auto identity = gallery->identity(name);
    if (!identity.ok()) return send_status(r.res, for_client(identity.status()));
    auto faces = gallery->faces(name);
    if (!faces.ok()) return send_status(r.res, for_client(faces.status()));
    json j = identity_json(*identity);
    json list = json::array();
    for (const auto& f : *faces) {
      json face = {{"face_id", f.id},
                   {"model_id", f.model_id},
                   {"quality", format::round_score(f.quality)},
                   {"box", format::box_json(f.box)},
                   {"image_sha256", f.image_sha256},
                   {"created_at", f.created_at}};
      if (f.has_crop) face["crop_url"] = "/v1/faces/" + std::to_string(f.id) + "/crop";
      list.push_back(std::move(face));
    }
    j["face_list"] = std::move(list);
    send_json(r.res, 200, j);
  });
  route("GET", "/v1/faces/{face_id}/crop", Role::kUser, false, [this](Request& r) {
    if (refused_gallery(r.res)) return;
    const auto id = face_id_of(r.args[0]);
    if (!id) return send_error(r.res, 404, "NOT_FOUND", "no face '" + r.args[0] + "': face ids are positive integers");
    auto crop = gallery->crop(*id);
    if (!crop.ok()) return send_status(r.res, for_client(crop.status()));
    auto png = encode_png(*crop);
    if (!png.ok()) return send_status(r.res, png.status());
    // Biometric data: never kept by a browser or proxy after the face is deleted or the key forgotten.
    r.res.set_header("Cache-Control", "private, no-store");
    r.res.set_content(std::string(png->begin(), png->end()), "image/png");
  });

  auto enroll = [this](Request& r, const std::string& name, bool must_exist) {
    if (refused_gallery(r.res)) return;
    if (name.empty()) return send_error(r.res, 400, "INVALID_ARGUMENT", "missing field 'name': the identity's name");
    if (must_exist) {
      if (Status s = gallery->check_identity(name); !s.ok()) {
        if (s.code() == StatusCode::kNotFound)
          return send_error(r.res, 404, "NOT_FOUND",
                            "no identity '" + name + "': create it with POST /v1/identities (fields name and image)");
        return send_status(r.res, for_client(s));
      }
    }
    auto bytes = image_of(r, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    EnrollOptions eo;
    auto meta = metadata_param(r);
    if (!meta.ok()) return send_status(r.res, meta.status());
    if (!meta->empty()) eo.metadata_json = *meta;
    auto largest = param(r, "largest");
    if (!largest.ok()) return send_status(r.res, largest.status());
    if (!largest->empty() && *largest != "true" && *largest != "false")
      return send_error(r.res, 400, "INVALID_ARGUMENT", "largest must be true or false, got '" + *largest + "'");
    eo.largest_face = *largest == "true";
    eo.must_exist = must_exist;  // checked again inside the write: a DELETE or rename meanwhile is a 404
    auto e = recognition->enroll(name, *bytes, eo);
    if (!e.ok()) return send_status(r.res, for_client(e.status()));
    send_json(r.res, 201,
              {{"id", e->name},
               {"name", e->name},
               {"face_id", e->face_id},
               {"image_sha256", e->image_sha256},
               {"box", format::box_json(e->face.box)},
               {"sharpness", std::round(e->sharpness * 10) / 10}});
  };
  route(
      "POST", "/v1/identities", Role::kAdmin, true,
      [this, enroll](Request& r) {
        auto name = param(r, "name");
        if (!name.ok()) return send_status(r.res, name.status());
        enroll(r, *name, /*must_exist=*/false);
      },
      /*raw_image=*/true,
      "multipart/form-data or JSON with the fields name (the identity, created when new) and image (a file, or "
      "base64 / a data: URI in JSON); optional metadata (a JSON object) and largest (true: enrol the largest of "
      "several faces)");
  route(
      "POST", "/v1/identities/{id}/faces", Role::kAdmin, true,
      [enroll](Request& r) { enroll(r, r.args[0], /*must_exist=*/true); }, /*raw_image=*/true,
      std::string(kImageBody) + "; optional largest (true: enrol the largest of several faces)");
  route("DELETE", "/v1/identities/{id}", Role::kAdmin, false, [this](Request& r) {
    if (refused_gallery(r.res)) return;
    Status s = gallery->remove(r.args[0]);
    if (!s.ok()) return send_status(r.res, for_client(s));
    send_json(r.res, 200, {{"deleted", r.args[0]}});
  });
  route("DELETE", "/v1/identities/{id}/faces/{face_id}", Role::kAdmin, false, [this](Request& r) {
    if (refused_gallery(r.res)) return;
    const std::string& name = r.args[0];
    const auto id = face_id_of(r.args[1]);
    if (!id)
      return send_error(r.res, 404, "NOT_FOUND",
                        "identity '" + name + "' has no face '" + r.args[1] + "': face ids are positive integers");
    Status s = gallery->remove_face(name, *id);
    if (!s.ok()) return send_status(r.res, for_client(s));
    send_json(r.res, 200, {{"deleted", {{"identity", name}, {"face_id", *id}}}});
  });
  route(
      "PATCH", "/v1/identities/{id}", Role::kAdmin, false,
      [this, identity_json](Request& r) {
        if (refused_gallery(r.res)) return;
        const std::string& name = r.args[0];
        for (const auto field : *r.body) {
          if (field.key != "name" && field.key != "metadata")
            return send_error(r.res, 400, "INVALID_ARGUMENT",
                              "unknown field '" + std::string(field.key) + "': send name and/or metadata");
        }
        std::optional<std::string> new_name;
        if (auto v = json_field(r, "name")) {
          std::string_view text;
          if (v->get(text) != simdjson::SUCCESS)
            return send_error(r.res, 400, "INVALID_ARGUMENT", "name must be a string: the identity's new name");
          new_name = std::string(text);
          if (Status s = validate_identity_name(*new_name); !s.ok()) return send_status(r.res, s);
        }
        std::optional<std::string> metadata;
        if (json_field(r, "metadata")) {
          auto meta = metadata_param(r);
          if (!meta.ok()) return send_status(r.res, meta.status());
          json parsed = json::parse(*meta, nullptr, false);
          if (parsed.is_discarded() || !parsed.is_object())
            return send_error(r.res, 400, "INVALID_ARGUMENT",
                              "metadata must be a JSON object, e.g. {\"employee_id\": 42}");
          metadata = *meta;
        }
        if (!new_name && !metadata)
          return send_error(r.res, 400, "INVALID_ARGUMENT", "send name (a new name) and/or metadata (a JSON object)");
        // One write: a taken name (409) leaves the metadata unchanged too.
        Status s = gallery->update_identity(name, {.name = new_name, .metadata_json = metadata});
        if (s.code() == StatusCode::kFailedPrecondition)
          return send_error(r.res, 409, "CONFLICT", for_client(s).message());
        if (!s.ok()) return send_status(r.res, for_client(s));
        auto identity = gallery->identity(new_name.value_or(name));
        if (!identity.ok()) return send_status(r.res, for_client(identity.status()));
        send_json(r.res, 200, identity_json(*identity));
      },
      /*raw_image=*/false, "JSON {\"name\": \"<new name>\", \"metadata\": {...}} (either or both)");
}

}  // namespace facelens
