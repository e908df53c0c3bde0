// The metric families written from statistics structs: names, labels, which parts appear when.

#include "gateway/metrics_sources.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/gateway/metrics_test_util.h"

namespace causeway::gateway {
namespace {

using testing::SumSamples;

std::string Render(const MetricsWriter& out) { return RenderPrometheusText(out.families()); }

TEST(MetricsSources, SipWorkerFamiliesCarryTheWorkerLabel) {
  sip::TransportCounters transport;
  sip::TransportCounters::Inc(transport.messages_received, 7);
  sip::TransportCounters::Inc(transport.parse_errors, 2);
  SipWorkerStats stats;
  stats.open = true;
  stats.transport = &transport;
  stats.connections = 3;
  stats.server_transactions = 4;
  stats.server.options = 5;
  stats.proxy.originated = 6;
  stats.registrar.rejected = 8;
  sip::lync::SecurityLayerStats security;
  security.impersonations = 9;
  security.digest_challenged = 10;
  stats.security = security;
  stats.security_associations = 11;

  MetricsWriter out;
  WriteSipWorkerMetrics(stats, 1, out);
  std::string text = Render(out);
  const std::string w1 = "worker=\"1\"";
  EXPECT_EQ(SumSamples(text, "causeway_sip_messages_received_total", w1), 7) << text;
  EXPECT_EQ(SumSamples(text, "causeway_sip_parse_errors_total", w1), 2);
  EXPECT_EQ(SumSamples(text, "causeway_sip_connections", w1), 3);
  EXPECT_EQ(SumSamples(text, "causeway_sip_transactions", "kind=\"server\""), 4);
  EXPECT_EQ(SumSamples(text, "causeway_sip_options_answered_total", w1), 5);
  EXPECT_EQ(SumSamples(text, "causeway_sip_proxy_originated_total", w1), 6);
  EXPECT_EQ(SumSamples(text, "causeway_sip_registrar_rejected_total", w1), 8);
  EXPECT_EQ(SumSamples(text, "causeway_auth_impersonations_total", w1), 9);
  EXPECT_EQ(SumSamples(text, "causeway_auth_digest_challenges_total", w1), 10);
  EXPECT_EQ(SumSamples(text, "causeway_auth_signed_in_connections", w1), 11);
  EXPECT_FALSE(SumSamples(text, "causeway_presence_federation_published_total").has_value());
  EXPECT_NE(text.find("# TYPE causeway_sip_connections gauge\n"), std::string::npos);
  for (const MetricFamily& family : out.families()) {
    EXPECT_TRUE(IsValidMetricName(family.name)) << family.name;
    EXPECT_EQ(family.type == MetricType::kCounter,
              family.name.size() > 6 && family.name.substr(family.name.size() - 6) == "_total")
        << family.name << ": counters and only counters end in _total";
  }
}

TEST(MetricsSources, AClosedShardReportsItsTransportOnly) {
  sip::TransportCounters transport;
  sip::TransportCounters::Inc(transport.messages_sent, 4);
  SipWorkerStats stats;  // open = false: the shard closed (stopping)
  stats.transport = &transport;
  stats.server.options = 99;
  MetricsWriter out;
  WriteSipWorkerMetrics(stats, 0, out);
  std::string text = Render(out);
  EXPECT_EQ(SumSamples(text, "causeway_sip_messages_sent_total"), 4) << text;
  EXPECT_FALSE(SumSamples(text, "causeway_sip_options_answered_total").has_value()) << text;
  EXPECT_FALSE(SumSamples(text, "causeway_auth_signed_in_connections").has_value()) << text;
}

TEST(MetricsSources, XmppEdgeWithLatencyHistogramAndS2s) {
  XmppEdgeStats edge;
  edge.stanzas_in = 3;
  edge.forward_latency.Record(std::chrono::microseconds(40));   // le 50 us
  edge.forward_latency.Record(std::chrono::microseconds(900));  // le 1 ms
  edge.forward_latency.Record(std::chrono::seconds(5));         // above the last bound
  xmpp::io::S2sStats s2s;
  s2s.dialback_verifies_sent = 2;
  MetricsWriter out;
  WriteXmppEdgeMetrics(edge, &s2s, 2, out);
  std::string text = Render(out);
  EXPECT_EQ(SumSamples(text, "causeway_xmpp_stanzas_received_total", "worker=\"2\""), 3) << text;
  EXPECT_EQ(SumSamples(text, "causeway_xmpp_s2s_dialback_verifies_total"), 2);
  EXPECT_EQ(SumSamples(text, "causeway_xmpp_forward_latency_seconds_bucket", "le=\"5e-05\""), 1)
      << text;
  EXPECT_EQ(SumSamples(text, "causeway_xmpp_forward_latency_seconds_bucket", "le=\"0.001\""), 2);
  EXPECT_EQ(SumSamples(text, "causeway_xmpp_forward_latency_seconds_bucket", "le=\"+Inf\""), 3);
  EXPECT_EQ(SumSamples(text, "causeway_xmpp_forward_latency_seconds_count"), 3);
  EXPECT_NEAR(SumSamples(text, "causeway_xmpp_forward_latency_seconds_sum").value_or(0),
              5.00094, 1e-6);
  EXPECT_NE(text.find("# TYPE causeway_xmpp_forward_latency_seconds histogram\n"),
            std::string::npos);

  MetricsWriter component_mode;
  WriteXmppEdgeMetrics(edge, nullptr, 2, component_mode);
  EXPECT_EQ(Render(component_mode).find("causeway_xmpp_s2s_"), std::string::npos);
}

TEST(MetricsSources, ProcessFamilies) {
  MetricsWriter out;
  WriteProcessMetrics(absl::FromUnixSeconds(1700000000), out);
  std::string text = Render(out);
  EXPECT_EQ(SumSamples(text, "process_start_time_seconds"), 1700000000) << text;
  EXPECT_EQ(SumSamples(text, "causeway_build_info", "version=\""), 1) << text;
  EXPECT_GT(SumSamples(text, "process_resident_memory_bytes").value_or(0), 0) << text;
  EXPECT_GT(SumSamples(text, "process_open_fds").value_or(0), 2) << text;  // stdin/out/err
  EXPECT_GE(SumSamples(text, "process_cpu_seconds_total").value_or(-1), 0) << text;
}

}  // namespace
}  // namespace causeway::gateway
