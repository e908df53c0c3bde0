#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/dns/srv_order.h"

namespace causeway::dns {
namespace {

std::vector<std::string> Targets(const std::vector<SrvRecord>& records) {
  std::vector<std::string> out;
  for (const SrvRecord& r : records) out.push_back(r.target);
  return out;
}

TEST(SrvOrderTest, LowerPriorityAlwaysFirst) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 50; ++i) {
    auto ordered = OrderSrvRecords({{30, 5, 1, "c"}, {10, 5, 1, "a"}, {20, 5, 1, "b"}}, rng);
    EXPECT_EQ(Targets(ordered), (std::vector<std::string>{"a", "b", "c"}));
  }
}

TEST(SrvOrderTest, DropsRootTargets) {
  std::mt19937_64 rng(2);
  EXPECT_TRUE(OrderSrvRecords({{0, 0, 0, "."}}, rng).empty());
  EXPECT_EQ(Targets(OrderSrvRecords({{0, 0, 0, "."}, {1, 0, 5060, "x"}}, rng)),
            (std::vector<std::string>{"x"}));
  EXPECT_TRUE(OrderSrvRecords({}, rng).empty());
}

TEST(SrvOrderTest, WeightsDriveFirstChoice) {
  // RFC 2782: pick in [0, sum], first running sum >= pick. Weights 60/30/10 (sum 100): the first
  // pick is a with 61/101, b 30/101, c 10/101. Loose bounds over 4000 runs.
  std::mt19937_64 rng(12345);
  std::map<std::string, int> first;
  constexpr int kRuns = 4000;
  for (int i = 0; i < kRuns; ++i) {
    auto ordered = OrderSrvRecords({{1, 60, 1, "a"}, {1, 30, 1, "b"}, {1, 10, 1, "c"}}, rng);
    ASSERT_EQ(ordered.size(), 3u);
    ++first[ordered[0].target];
  }
  EXPECT_NEAR(first["a"] / double(kRuns), 61.0 / 101, 0.05);
  EXPECT_NEAR(first["b"] / double(kRuns), 30.0 / 101, 0.05);
  EXPECT_NEAR(first["c"] / double(kRuns), 10.0 / 101, 0.04);
}

TEST(SrvOrderTest, ZeroWeightRarelyFirstButNeverLost) {
  std::mt19937_64 rng(99);
  int zero_first = 0;
  constexpr int kRuns = 2000;
  for (int i = 0; i < kRuns; ++i) {
    auto ordered = OrderSrvRecords({{1, 100, 1, "big"}, {1, 0, 1, "zero"}}, rng);
    ASSERT_EQ(ordered.size(), 2u);
    if (ordered[0].target == "zero") ++zero_first;
  }
  // Chance 1/101 per run: expect ~20, allow a wide band.
  EXPECT_GT(zero_first, 0);
  EXPECT_LT(zero_first, 80);
  // All weights zero: each is equally likely first.
  int a_first = 0;
  for (int i = 0; i < kRuns; ++i) {
    auto ordered = OrderSrvRecords({{1, 0, 1, "a"}, {1, 0, 1, "b"}}, rng);
    if (ordered[0].target == "a") ++a_first;
  }
  EXPECT_NEAR(a_first / double(kRuns), 0.5, 0.06);
}

}  // namespace
}  // namespace causeway::dns
