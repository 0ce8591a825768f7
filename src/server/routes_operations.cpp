// Routes for operators and clients: GET /v1/models, /health, /ready, /metrics, /openapi.json and
// the web page at /.
#include <string>

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

void Server::Impl::install_operation_routes() {
  route("GET", "/v1/models", Role::kUser, false, [this](Request& r) {
    json arr = json::array();
    for (const auto& m : engine->check_models()) {
      arr.push_back({{"id", m.id}, {"task", m.task}, {"family", m.family}, {"status", m.state}});
    }
    send_json(r.res, 200, {{"models", arr}, {"match_threshold", engine->match_threshold()}});
  });
  route("GET", "/health", Role::kUser, false, [this](Request& r) {
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
    }
    send_json(r.res, 200, j);
  });
  route("GET", "/ready", Role::kUser, false, [this](Request& r) {
    if (ready) send_json(r.res, 200, {{"ready", true}});
    else send_error(r.res, 503, "UNAVAILABLE", "models are still loading");
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
    r.res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  route("GET", "/openapi.json", Role::kUser, false,
        [](Request& r) { r.res.set_content(std::string(server::kOpenApiJson), "application/json"); });
  route("GET", "/", Role::kUser, false,
        [](Request& r) { r.res.set_content(std::string(server::kIndexHtml), "text/html; charset=utf-8"); });
}

}  // namespace facelens
