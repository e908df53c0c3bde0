// The Prometheus text exposition: families, escaping, value formatting, what is left out.

#include "gateway/metrics_text.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "tests/gateway/metrics_test_util.h"

namespace causeway::gateway {
namespace {

TEST(MetricsText, RendersHelpTypeAndSamplesPerFamily) {
  MetricsWriter out;
  out.Counter("causeway_x_total", "Things counted.", 3, {{"worker", "0"}});
  out.Gauge("causeway_open", "Open things.", 7);
  out.Counter("causeway_x_total", "Things counted.", 4, {{"worker", "1"}});
  EXPECT_EQ(RenderPrometheusText(out.families()),
            "# HELP causeway_x_total Things counted.\n"
            "# TYPE causeway_x_total counter\n"
            "causeway_x_total{worker=\"0\"} 3\n"
            "causeway_x_total{worker=\"1\"} 4\n"
            "# HELP causeway_open Open things.\n"
            "# TYPE causeway_open gauge\n"
            "causeway_open 7\n");
}

TEST(MetricsText, EscapesHelpAndLabelValues) {
  MetricsWriter out;
  out.Gauge("causeway_info", "Back\\slash and\nnewline \"kept\".", 1,
            {{"version", "a\"b\\c\nd"}, {"kind", "x"}});
  EXPECT_EQ(RenderPrometheusText(out.families()),
            "# HELP causeway_info Back\\\\slash and\\nnewline \"kept\".\n"
            "# TYPE causeway_info gauge\n"
            "causeway_info{version=\"a\\\"b\\\\c\\nd\",kind=\"x\"} 1\n");
}

TEST(MetricsText, MergeJoinsFamiliesAndKeepsTheFirstType) {
  MetricsWriter a;
  a.Counter("causeway_a_total", "A.", 1, {{"worker", "0"}});
  MetricsWriter b;
  b.Counter("causeway_b_total", "B.", 2);
  b.Counter("causeway_a_total", "A.", 5, {{"worker", "1"}});
  b.Gauge("causeway_a_total", "A as a gauge: a naming bug, dropped.", 9);
  a.Merge(std::move(b));
  ASSERT_EQ(a.families().size(), 2u);
  EXPECT_EQ(a.families()[0].name, "causeway_a_total");
  ASSERT_EQ(a.families()[0].samples.size(), 2u);
  EXPECT_EQ(a.families()[0].samples[1].value, 5);
  EXPECT_EQ(a.families()[1].name, "causeway_b_total");
  std::string text = RenderPrometheusText(a.families());
  EXPECT_EQ(testing::SumSamples(text, "causeway_a_total"), 6);
  EXPECT_EQ(text.find(" 9\n"), std::string::npos) << text;
}

TEST(MetricsText, FormatsValuesSoTheyReadBack) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(12345678901234.0), "12345678901234");
  EXPECT_EQ(FormatMetricValue(1.5), "1.5");
  EXPECT_EQ(FormatMetricValue(2.5e-5), "2.5e-05");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  for (double v : {1765151234.123456, 0.1, 1e300, 2.5e-9, 9007199254740993.0 * 4}) {
    double back = 0;
    ASSERT_TRUE(absl::SimpleAtod(FormatMetricValue(v), &back)) << FormatMetricValue(v);
    EXPECT_EQ(back, v) << FormatMetricValue(v);
  }
}

TEST(MetricsText, LeavesOutInvalidNamesAndEmptyFamilies) {
  EXPECT_TRUE(IsValidMetricName("causeway_sip_messages_received_total"));
  EXPECT_TRUE(IsValidMetricName("ns:rule_total"));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("bad-name"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("worker"));
  EXPECT_FALSE(IsValidLabelName("__reserved"));
  EXPECT_FALSE(IsValidLabelName("a:b"));

  std::vector<MetricFamily> families;
  families.push_back({"bad-name", "x", MetricType::kGauge, {{{}, 1, ""}}});
  families.push_back({"causeway_empty", "no samples", MetricType::kGauge, {}});
  families.push_back({"causeway_ok", "kept", MetricType::kGauge,
                      {{{{"__bad", "x"}}, 1, ""}, {{{"good", "y"}}, 2, ""}}});
  EXPECT_EQ(RenderPrometheusText(families),
            "# HELP causeway_ok kept\n"
            "# TYPE causeway_ok gauge\n"
            "causeway_ok{good=\"y\"} 2\n");
}

TEST(MetricsText, HistogramsAreCumulativeWithInfSumAndCount) {
  MetricsWriter out;
  // 2 samples <= 0.001 s, 1 <= 0.01 s, 4 above.
  out.Histogram("causeway_latency_seconds", "Latency.", {0.001, 0.01}, {2, 1, 4}, 1.25,
                {{"worker", "3"}});
  EXPECT_EQ(RenderPrometheusText(out.families()),
            "# HELP causeway_latency_seconds Latency.\n"
            "# TYPE causeway_latency_seconds histogram\n"
            "causeway_latency_seconds_bucket{worker=\"3\",le=\"0.001\"} 2\n"
            "causeway_latency_seconds_bucket{worker=\"3\",le=\"0.01\"} 3\n"
            "causeway_latency_seconds_bucket{worker=\"3\",le=\"+Inf\"} 7\n"
            "causeway_latency_seconds_sum{worker=\"3\"} 1.25\n"
            "causeway_latency_seconds_count{worker=\"3\"} 7\n");
  // A name already used by a counter takes no histogram samples.
  out.Counter("causeway_taken_total", "Taken.", 1);
  out.Histogram("causeway_taken_total", "Not a histogram.", {1}, {1, 1}, 1);
  ASSERT_EQ(out.families().size(), 2u);
  EXPECT_EQ(out.families()[1].samples.size(), 1u);
}

}  // namespace
}  // namespace causeway::gateway
