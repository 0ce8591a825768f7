// facelens — the configuration file (TOML). Every key has a default, so no file is needed; a
// file overrides the defaults it names, and an unknown key is an error (typos do not pass
// silently). Every key, with its default, is in facelens.example.toml.
//
//   auto opts = facelens::load_config("facelens.toml", {});
//   if (!opts.ok()) return opts.status();   // names the file, the key and what it expected
//   auto engine = facelens::Engine::create(*opts);
#pragma once

#include <string>

#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/server.h"
#include "facelens/status.h"

namespace facelens {

// `base` with the values of the file on top.
StatusOr<EngineOptions> load_config(const std::string& path, EngineOptions base);
StatusOr<EngineOptions> parse_config(const std::string& toml_text, const std::string& origin, EngineOptions base);

// What `facelens serve` and the gallery commands read besides the engine: [server] and [gallery].
struct ServiceConfig {
  ServerOptions server;  // [server] max_concurrent = 0 keeps the base's value
  GalleryOptions gallery;
  bool gallery_enabled = true;
};
StatusOr<ServiceConfig> load_service_config(const std::string& path, ServiceConfig base);
StatusOr<ServiceConfig> parse_service_config(const std::string& toml_text, const std::string& origin,
                                             ServiceConfig base);

}  // namespace facelens
