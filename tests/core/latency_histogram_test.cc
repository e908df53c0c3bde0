#include "core/latency_histogram.h"

#include <chrono>

#include "gtest/gtest.h"

namespace causeway {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(LatencyHistogram, EmptyHasNoQuantile) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Quantile(0.5), -1);
}

TEST(LatencyHistogram, BoundsAreInclusive) {
  LatencyHistogram h;
  h.Record(microseconds(25));   // first bucket (<= 25)
  h.Record(microseconds(26));   // second (<= 50)
  h.Record(microseconds(1000)); // <= 1000
  EXPECT_EQ(h.bucket(0), 1u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(7), 1u);
  EXPECT_EQ(h.sum_us(), 1051u);
}

TEST(LatencyHistogram, QuantileIsTheUpperBoundOfTheBucketHoldingTheRank) {
  LatencyHistogram h;
  for (int i = 0; i < 990; ++i) h.Record(microseconds(180));  // <= 200
  for (int i = 0; i < 9; ++i) h.Record(microseconds(900));    // <= 1000
  h.Record(milliseconds(40));                                  // <= 50000
  EXPECT_EQ(h.Quantile(0.5), 200);
  EXPECT_EQ(h.Quantile(0.99), 200);   // rank 990
  EXPECT_EQ(h.Quantile(0.991), 1000);  // rank 991
  EXPECT_EQ(h.Quantile(0.999), 1000);  // rank 999
  EXPECT_EQ(h.Quantile(1.0), 50000);
}

TEST(LatencyHistogram, OverflowAndNegativeSamples) {
  LatencyHistogram h;
  h.Record(std::chrono::seconds(3));
  h.Record(microseconds(-5));  // clocks that went backwards count as zero
  EXPECT_EQ(h.bucket(LatencyHistogram::kBuckets - 1), 1u);
  EXPECT_EQ(h.bucket(0), 1u);
  EXPECT_EQ(h.Quantile(0.5), 25);
  EXPECT_EQ(h.Quantile(1.0), -1);
}

TEST(LatencyHistogram, MergeAddsBucketsCountsAndSums) {
  LatencyHistogram a, b;
  a.Record(microseconds(10));
  b.Record(microseconds(400));
  b.Record(microseconds(400));
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.sum_us(), 810u);
  EXPECT_EQ(a.Quantile(0.5), 500);
}

}  // namespace
}  // namespace causeway
