#include "gateway/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::gateway {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// HELP text escapes backslash and newline; label values also the double quote.
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else if (quote && c == '"') {
      out.append("\\\"");
    } else {
      out.push_back(c);
    }
  }
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGauge:
      break;
  }
  return "gauge";
}

}  // namespace

MetricSample* MetricsWriter::Add(MetricType type, std::string_view name, std::string_view help,
                                 double value, MetricLabels labels) {
  size_t index = families_.size();
  if (auto it = by_name_.find(ToAbsl(name)); it != by_name_.end()) {
    index = it->second;
  } else {
    by_name_.emplace(std::string(name), index);
    families_.push_back(MetricFamily{std::string(name), std::string(help), type, {}});
  }
  MetricFamily& family = families_[index];
  if (family.type != type) return nullptr;
  family.samples.push_back(MetricSample{std::move(labels), value, {}});
  return &family.samples.back();
}

void MetricsWriter::Histogram(std::string_view name, std::string_view help,
                              const std::vector<double>& upper_bounds,
                              const std::vector<uint64_t>& bucket_counts, double sum,
                              MetricLabels labels) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= upper_bounds.size(); ++i) {
    cumulative += i < bucket_counts.size() ? bucket_counts[i] : 0;
    MetricLabels with_le = labels;
    with_le.emplace_back("le", i < upper_bounds.size() ? FormatMetricValue(upper_bounds[i]) : "+Inf");
    MetricSample* bucket = Add(MetricType::kHistogram, name, help,
                               static_cast<double>(cumulative), std::move(with_le));
    if (bucket == nullptr) return;  // the name is taken by another type
    bucket->suffix = "_bucket";
  }
  Add(MetricType::kHistogram, name, help, sum, labels)->suffix = "_sum";
  Add(MetricType::kHistogram, name, help, static_cast<double>(cumulative), std::move(labels))
      ->suffix = "_count";
}

void MetricsWriter::Merge(MetricsWriter&& other) {
  for (MetricFamily& family : other.families_) {
    auto [it, inserted] = by_name_.try_emplace(family.name, families_.size());
    if (inserted) {
      families_.push_back(std::move(family));
      continue;
    }
    MetricFamily& mine = families_[it->second];
    if (mine.type != family.type) continue;
    for (MetricSample& sample : family.samples) mine.samples.push_back(std::move(sample));
  }
  other.families_.clear();
  other.by_name_.clear();
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name) {
    if (!IsNameChar(c) && c != ':') return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.substr(0, 2) == "__") return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integral values below 2^53 are exact in a double: print them without exponent or point.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest of 15 or 17 significant digits that reads back as the same double.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", value);
  if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

std::string RenderPrometheusText(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& family : families) {
    if (family.samples.empty() || !IsValidMetricName(family.name)) continue;
    out.append("# HELP ").append(family.name).push_back(' ');
    AppendEscaped(out, family.help, /*quote=*/false);
    out.append("\n# TYPE ").append(family.name).push_back(' ');
    out.append(TypeName(family.type)).push_back('\n');
    for (const MetricSample& sample : family.samples) {
      bool labels_ok = true;
      for (const auto& [name, value] : sample.labels) labels_ok = labels_ok && IsValidLabelName(name);
      if (!labels_ok) continue;
      out.append(family.name).append(sample.suffix);
      if (!sample.labels.empty()) {
        out.push_back('{');
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.append(sample.labels[i].first).append("=\"");
          AppendEscaped(out, sample.labels[i].second, /*quote=*/true);
          out.push_back('"');
        }
        out.push_back('}');
      }
      out.push_back(' ');
      out.append(FormatMetricValue(sample.value)).push_back('\n');
    }
  }
  return out;
}

}  // namespace causeway::gateway
