#pragma once
// A fixed-bucket latency histogram for hot paths: Record is a few compares and an increment, no
// allocation, no lock (one histogram per worker; merge them to report). The bucket bounds are the
// ones exported to Prometheus, fine around a millisecond where the gateway's added latency lives.
//
//   LatencyHistogram h;
//   h.Record(std::chrono::microseconds(420));
//   h.Quantile(0.99);   // the upper bound of the bucket holding the 99th percentile

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace causeway {

class LatencyHistogram {
 public:
  // Upper bounds (inclusive) in microseconds; one more bucket holds everything above the last.
  static constexpr std::array<int64_t, 19> kBoundsUs = {
      25,   50,   100,   200,   300,   500,    750,    1000,   1500,   2000,
      3000, 5000, 10000, 20000, 50000, 100000, 250000, 500000, 1000000};
  static constexpr size_t kBuckets = kBoundsUs.size() + 1;

  void Record(std::chrono::nanoseconds latency);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  // Sum of the recorded latencies, microseconds.
  uint64_t sum_us() const { return sum_us_; }
  // Samples in bucket i (not cumulative); i == kBuckets - 1 is the overflow bucket.
  uint64_t bucket(size_t i) const { return buckets_[i]; }
  // The upper bound (µs) of the bucket holding the q-quantile sample (0 < q <= 1): the true
  // quantile is at most this. -1 for an empty histogram or a sample in the overflow bucket.
  int64_t Quantile(double q) const;

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_us_ = 0;
};

}  // namespace causeway
