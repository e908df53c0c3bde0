#include "core/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace causeway {

void LatencyHistogram::Record(std::chrono::nanoseconds latency) {
  const int64_t us = std::max<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(latency).count(), 0);
  // Few bounds, most samples in the first ones: a linear scan beats a binary search here.
  size_t i = 0;
  while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
  ++buckets_[i];
  ++count_;
  sum_us_ += static_cast<uint64_t>(us);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_us_ += other.sum_us_;
}

int64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0 || !(q > 0) || q > 1) return -1;
  // The rank of the q-quantile sample, 1-based: the smallest r with r >= q * count.
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return i < kBoundsUs.size() ? kBoundsUs[i] : -1;
  }
  return -1;
}

}  // namespace causeway
