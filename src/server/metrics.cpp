#include "server/metrics.h"

#include <sstream>

namespace facelens::server {

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  help_[name] = {type, help};
}

void Metrics::count(const std::string& name, const std::string& labels, double by) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[name][labels] += by;
}

void Metrics::gauge(const std::string& name, const std::string& labels, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[name][labels] = value;
}

void Metrics::observe(const std::string& name, const std::string& labels, double value,
                      const std::vector<double>& buckets) {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram& h = histograms_[name][labels];
  if (h.buckets.empty()) {
    h.buckets = buckets;
    h.counts.assign(buckets.size(), 0);
  }
  for (size_t i = 0; i < h.buckets.size(); ++i)
    if (value <= h.buckets[i]) ++h.counts[i];
  h.sum += value;
  ++h.n;
}

static std::string with(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return "{" + labels + "," + extra + "}";
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o.precision(15);  // Unix timestamps in seconds need 13 significant digits (the default is 6)
  auto header = [&](const std::string& name) {
    auto it = help_.find(name);
    if (it == help_.end()) return;
    o << "# HELP " << name << " " << it->second.second << "\n# TYPE " << name << " " << it->second.first << "\n";
  };
  for (const auto& [name, series] : values_) {
    header(name);
    for (const auto& [labels, v] : series) o << name << (labels.empty() ? "" : "{" + labels + "}") << " " << v << "\n";
  }
  for (const auto& [name, series] : histograms_) {
    header(name);
    for (const auto& [labels, h] : series) {
      for (size_t i = 0; i < h.buckets.size(); ++i) {
        std::ostringstream le;
        le << h.buckets[i];
        o << name << "_bucket" << with(labels, "le=\"" + le.str() + "\"") << " " << h.counts[i] << "\n";
      }
      o << name << "_bucket" << with(labels, "le=\"+Inf\"") << " " << h.n << "\n";
      o << name << "_sum" << (labels.empty() ? "" : "{" + labels + "}") << " " << h.sum << "\n";
      o << name << "_count" << (labels.empty() ? "" : "{" + labels + "}") << " " << h.n << "\n";
    }
  }
  return o.str();
}

}  // namespace facelens::server
