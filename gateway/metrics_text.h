#pragma once
// Metric families and their Prometheus text exposition (format 0.0.4): what a scrape of
// `GET /metrics` returns. Pure: no I/O, no clocks, no threads; gateway/metrics_collector.h fills a
// MetricsWriter from the workers and gateway/metrics_http.h serves the rendered text.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace causeway::gateway {

enum class MetricType : uint8_t { kCounter, kGauge, kHistogram };

// Label name/value pairs in the order they are printed.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

struct MetricSample {
  MetricLabels labels;
  double value = 0;
  std::string suffix;  // appended to the family name: histograms' _bucket, _sum, _count
};

struct MetricFamily {
  std::string name;  // counters end in _total (Prometheus naming)
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<MetricSample> samples;
};

// Collects samples into families: one family per name, families in the order their names first
// appear, samples in the order added. Not thread-safe: one writer per thread, merged afterwards.
class MetricsWriter {
 public:
  void Counter(std::string_view name, std::string_view help, double value,
               MetricLabels labels = {}) {
    Add(MetricType::kCounter, name, help, value, std::move(labels));
  }
  void Gauge(std::string_view name, std::string_view help, double value,
             MetricLabels labels = {}) {
    Add(MetricType::kGauge, name, help, value, std::move(labels));
  }
  // `bucket_counts` per bucket (not cumulative): one per upper bound in `upper_bounds`
  // (ascending), then the one above the last; written as the cumulative _bucket{le=...} series
  // ending in le="+Inf", plus _sum and _count.
  void Histogram(std::string_view name, std::string_view help,
                 const std::vector<double>& upper_bounds,
                 const std::vector<uint64_t>& bucket_counts, double sum, MetricLabels labels = {});
  // Moves `other`'s samples in: those of a family already here join it.
  void Merge(MetricsWriter&& other);

  const std::vector<MetricFamily>& families() const { return families_; }

 private:
  // A sample whose family already exists with another type is dropped (a naming bug): nullptr.
  MetricSample* Add(MetricType type, std::string_view name, std::string_view help, double value,
           MetricLabels labels);

  std::vector<MetricFamily> families_;
  absl::flat_hash_map<std::string, size_t> by_name_;
};

// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__": reserved).
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

// The text format 0.0.4: per family "# HELP", "# TYPE", then one line per sample; help text and
// label values escaped. Families without samples or with an invalid name, and samples with an
// invalid label name, are left out rather than making the whole scrape unparseable.
std::string RenderPrometheusText(const std::vector<MetricFamily>& families);

// A sample value as the format writes it: integers exactly (counters), "NaN", "+Inf", "-Inf",
// other numbers with enough digits to read back the same double.
std::string FormatMetricValue(double value);

// The Content-Type of RenderPrometheusText's output.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace causeway::gateway
