// Routes for operators and clients: GET /v1/models, /health, /ready, /metrics, /openapi.json and
// the web console at / (with its script /app.js and style sheet /app.css).
#include <chrono>
#include <string>
#include <thread>

#include "core/sha256.h"
#include "facelens/result_json.h"
#include "facelens/version.h"
#include "server/server_impl.h"
#include "server/static_assets.h"

namespace facelens {

using server::json;
using server::send_error;
using server::send_json;
using server::send_status;

using server::without_paths;

namespace {
// /ready waits up to kReadyLagWaits x kReadyLagWaitMs for a gallery lag to clear before it counts.
constexpr int kReadyLagWaits = 10;
constexpr int kReadyLagWaitMs = 25;

// One file of the web console, embedded in the program: served with a strong ETag (its content's
// hash) and "no-cache", so a browser revalidates (304, no body) and never runs a stale script
// against a newer page after an upgrade.
struct StaticAsset {
  std::string body;
  std::string content_type;
  std::string etag;
};
StaticAsset static_asset(std::string_view body, std::string content_type) {
  return {std::string(body), std::move(content_type), "\"" + core::sha256_hex(body).substr(0, 16) + "\""};
}
}  // namespace

void Server::Impl::install_operation_routes() {
  metrics.describe("facelens_gallery_connected", "gauge",
                   "1 while the gallery's database is reachable (SQLite: always)");
  metrics.describe("facelens_gallery_lag_changes", "gauge",
                   "changes committed to the gallery's database not yet applied to this replica's index");
  metrics.describe("facelens_gallery_applied_seq", "gauge", "the last change of the gallery's log applied here");
  metrics.describe("facelens_gallery_ready", "gauge", "1 when the gallery is connected and caught up (/ready)");
  metrics.describe("facelens_gallery_last_sync_timestamp_seconds", "gauge",
                   "when this replica last checked the gallery's database successfully (Unix time)");
  metrics.describe("facelens_gallery_last_sync_age_seconds", "gauge",
                   "seconds since this replica last checked the gallery's database successfully");
  route("GET", "/v1/models", Role::kUser, false, [this](Request& r) {
    json arr = json::array();
    for (const auto& m : engine->check_models()) {
      arr.push_back({{"id", m.id}, {"task", m.task}, {"family", m.family}, {"status", m.state}});
    }
    send_json(r.res, 200, {{"models", arr}, {"match_threshold", format::round_score(engine->match_threshold())}});
  });
  route("GET", "/health", Role::kUser, false, [this](Request& r) {
    // A probe without a key (liveness: the process answers) learns nothing else.
    if (keyless(r)) {
      return send_json(r.res, 200, {{"status", "ok"}});
    }
    json services = json::array();
    for (const auto& s : engine->services()) {
      json e = {
          {"service", s.service}, {"model", s.model_id}, {"loaded", s.loaded}, {"requested_provider", s.requested}};
      if (s.loaded) {
        e["provider"] = s.provider;
        if (!s.provider_reason.empty()) e["cuda_unavailable_reason"] = without_paths(s.provider_reason);
        if (!s.device_ids.empty()) e["device_ids"] = s.device_ids;
        e["queue_depths"] = s.queue_depths;
        e["placement"] = format::to_json(s.placement);
      }
      services.push_back(e);
    }
    json j = {{"status", "ok"}, {"version", version()}, {"services", services}};
    if (gallery) {
      auto st = gallery->stats();
      j["gallery"] = {{"store", st.store.substr(0, st.store.find(':'))},  // "sqlite", never its path
                      {"identities", st.n_identities},
                      {"faces", st.n_faces},
                      {"index", st.index},
                      {"model_id", st.model_id}};
      const GallerySyncState sync = gallery->sync_state();
      j["gallery"]["sync"] = {{"shared", sync.shared},
                              {"connected", sync.connected},
                              {"applied_seq", sync.applied_seq},
                              {"lag", sync.lag},
                              {"last_check_age_ms", sync.check_age_ms}};
      if (!sync.error.empty()) j["gallery"]["sync"]["error"] = without_paths(sync.error);
    }
    send_json(r.res, 200, j);
  });
  // Ready: models loaded, and the gallery (if any) connected to its database and caught up with
  // its changes. A balancer takes a replica out of rotation while it answers 503.
  route("GET", "/ready", Role::kUser, false, [this](Request& r) {
    std::string why = ready ? gallery_unavailable(!keyless(r)) : "models are still loading";
    if (why.empty() && gallery) {
      // A change being applied shows as a lag for milliseconds: only one that lasts is a reason.
      GallerySyncState st = gallery->sync_state();
      for (int i = 0; st.lag > 0 && i < kReadyLagWaits; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kReadyLagWaitMs));
        st = gallery->sync_state();
      }
      if (st.lag > 0) why = "the gallery is " + std::to_string(st.lag) + " changes behind its database: catching up";
    }
    if (why.empty()) return send_json(r.res, 200, {{"ready", true}});
    r.res.set_header("Retry-After", "1");
    send_error(r.res, 503, "UNAVAILABLE", why);
  });
  route("GET", "/metrics", Role::kUser, false, [this](Request& r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      metrics.gauge("facelens_inflight", "state=\"running\"", running);
      metrics.gauge("facelens_inflight", "state=\"waiting\"", static_cast<double>(queue.size()));
    }
    const auto sizes = engine->recognizer_batch_sizes();
    for (size_t n = 1; n < sizes.size(); ++n) {
      metrics.gauge("facelens_recognizer_batches_total", "size=\"" + std::to_string(n) + "\"",
                    static_cast<double>(sizes[n]));
    }
    if (http) {
      const auto c = http->stats();
      metrics.gauge("facelens_connections_open", "", static_cast<double>(c.open));
      metrics.gauge("facelens_connections_rejected_total", "reason=\"total_limit\"",
                    static_cast<double>(c.rejected_total_cap));
      metrics.gauge("facelens_connections_rejected_total", "reason=\"client_limit\"",
                    static_cast<double>(c.rejected_client_cap));
      metrics.gauge("facelens_connection_timeouts_total", "phase=\"headers\"", static_cast<double>(c.header_timeouts));
      metrics.gauge("facelens_connection_timeouts_total", "phase=\"body\"", static_cast<double>(c.body_timeouts));
      metrics.gauge("facelens_bad_requests_total", "", static_cast<double>(c.bad_requests));
    }
    if (gallery) {
      const GallerySyncState st = gallery->sync_state();
      metrics.gauge("facelens_gallery_connected", "", st.connected ? 1 : 0);
      metrics.gauge("facelens_gallery_lag_changes", "", static_cast<double>(st.lag));
      metrics.gauge("facelens_gallery_applied_seq", "", static_cast<double>(st.applied_seq));
      metrics.gauge("facelens_gallery_ready", "", gallery_unavailable(false).empty() && st.lag == 0 ? 1 : 0);
      if (st.check_age_ms >= 0) {
        const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        metrics.gauge("facelens_gallery_last_sync_timestamp_seconds", "", now - st.check_age_ms / 1000.0);
        metrics.gauge("facelens_gallery_last_sync_age_seconds", "", st.check_age_ms / 1000.0);
      }
    }
    r.res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  route("GET", "/openapi.json", Role::kUser, false,
        [](Request& r) { r.res.set_content(std::string(server::kOpenApiJson), "application/json"); });
  for (auto [path, asset] : {std::pair{"/", static_asset(server::kIndexHtml, "text/html; charset=utf-8")},
                             std::pair{"/app.js", static_asset(server::kAppJs, "text/javascript; charset=utf-8")},
                             std::pair{"/app.css", static_asset(server::kAppCss, "text/css; charset=utf-8")}}) {
    route("GET", path, Role::kUser, false, [asset = std::move(asset)](Request& r) {
      r.res.set_header("Cache-Control", "no-cache");
      r.res.set_header("ETag", asset.etag);
      if (r.req.header("if-none-match") == asset.etag) {
        r.res.status = 304;
        return;
      }
      r.res.set_content(asset.body, asset.content_type);
    });
  }
}

}  // namespace facelens
