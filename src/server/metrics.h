// Prometheus text-format metrics (exposition format 0.0.4): counters and histograms with labels.
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace facelens::server {

class Metrics {
 public:
  void count(const std::string& name, const std::string& labels, double by = 1);
  void observe(const std::string& name, const std::string& labels, double value, const std::vector<double>& buckets);
  void gauge(const std::string& name, const std::string& labels, double value);
  void describe(const std::string& name, const std::string& type, const std::string& help);
  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> buckets;
    std::vector<uint64_t> counts;  // cumulative at render time
    double sum = 0;
    uint64_t n = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> help_;  // name -> type, help
  std::map<std::string, std::map<std::string, double>> values_;      // counters and gauges
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
};

}  // namespace facelens::server
