// End to end in one process: a SipService with two workers registers its statistics with the
// collector (AttachSipMetrics), the MetricsService serves them, and SIP traffic moves them.

#include "gateway/metrics_service.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "gateway/config.h"
#include "gateway/metrics_collector.h"
#include "gateway/metrics_sources.h"
#include "gateway/sip_service.h"
#include "gateway/state_dir.h"
#include "gtest/gtest.h"
#include "tests/gateway/metrics_test_util.h"
#include "tests/gateway/sip_test_peer.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using testing::HttpBody;
using testing::HttpGet;
using testing::SumSamples;

class MetricsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GatewayConfig config = DefaultConfig();
    config.general.state_dir = dir_ / "state";
    config.sip.udp.clear();
    config.sip.tls.clear();
    config.sip.tcp = {*NetAddress::Parse("127.0.0.1:0")};
    config.sip.domains = {"example.com"};
    config.metrics.listen = *NetAddress::Parse("127.0.0.1:0");
    absl::StatusOr<std::string> state_dir = PrepareStateDir(dir_ / "state");
    ASSERT_TRUE(state_dir.ok()) << state_dir.status();
    context_.config = std::make_shared<const GatewayConfig>(config);
    context_.state_dir = *state_dir;
    context_.workers = 2;

    auto collector = std::make_shared<MetricsCollector>();
    SipServiceHooks hooks;
    AttachSipMetrics(*collector, hooks);
    sip_ = MakeSipService(std::move(hooks));
    ASSERT_TRUE(sip_->Start(context_).ok());
    for (const std::string& listener : sip_->Listeners()) {
      const std::string prefix = "tcp:127.0.0.1:";
      uint32_t port = 0;
      if (listener.rfind(prefix, 0) == 0 &&
          absl::SimpleAtoi(ToAbsl(std::string_view(listener).substr(prefix.size())), &port)) {
        sip_port_ = static_cast<uint16_t>(port);
      }
    }
    ASSERT_NE(sip_port_, 0);
    metrics_ = std::make_unique<MetricsService>(collector);
    ASSERT_TRUE(metrics_->Start(context_).ok());
    ASSERT_TRUE(metrics_->local_address().has_value());
    metrics_port_ = metrics_->local_address()->port();
  }
  void TearDown() override {
    if (metrics_) metrics_->Stop();  // first, as the daemon does (reverse order)
    if (sip_) sip_->Stop();
  }

  std::string Scrape() {
    std::string response = HttpGet(metrics_port_, "/metrics");
    EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
    return std::string(HttpBody(response));
  }

  testing::ScratchDir dir_;
  StartContext context_;
  std::unique_ptr<Service> sip_;
  std::unique_ptr<MetricsService> metrics_;
  uint16_t sip_port_ = 0;
  uint16_t metrics_port_ = 0;
};

TEST_F(MetricsServiceTest, SipTrafficMovesTheCountersOfTheScrape) {
  std::string before = Scrape();
  // Both workers answered, each with its own series.
  EXPECT_EQ(SumSamples(before, "causeway_metrics_workers_unanswered"), 0) << before;
  EXPECT_TRUE(SumSamples(before, "causeway_sip_messages_received_total", "worker=\"0\"").has_value());
  EXPECT_TRUE(SumSamples(before, "causeway_sip_messages_received_total", "worker=\"1\"").has_value());
  EXPECT_EQ(SumSamples(before, "causeway_build_info"), 1) << before;
  std::optional<double> start_time = SumSamples(before, "process_start_time_seconds");
  ASSERT_TRUE(start_time.has_value()) << before;
  EXPECT_GT(*start_time, 1.7e9);
  EXPECT_NE(before.find("# TYPE causeway_sip_messages_received_total counter\n"),
            std::string::npos);
  EXPECT_NE(before.find("# TYPE causeway_sip_registered_bindings gauge\n"), std::string::npos);
  const double received_before =
      SumSamples(before, "causeway_sip_messages_received_total").value_or(-1);
  const double options_before = SumSamples(before, "causeway_sip_options_answered_total").value_or(-1);
  ASSERT_GE(received_before, 0);
  ASSERT_GE(options_before, 0);

  constexpr int kOptions = 3;
  for (int i = 0; i < kOptions; ++i) {
    testing::SipTestPeer peer(sip_port_);
    ASSERT_TRUE(peer.connected());
    ASSERT_TRUE(peer.Send(absl::StrCat(
        "OPTIONS sip:127.0.0.1:", sip_port_, ";transport=tcp SIP/2.0\r\n",
        "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKmetrics", i, "\r\n",
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@example.com>;tag=m", i, "\r\n",
        "To: <sip:127.0.0.1:", sip_port_, ">\r\n",
        "Call-ID: metrics-", i, "@test\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n")));
    std::optional<sip::SipMessage> answer = peer.Final();
    ASSERT_TRUE(answer.has_value()) << "OPTIONS " << i;
    EXPECT_EQ(answer->status_code(), 200);
  }

  std::string after = Scrape();
  EXPECT_EQ(SumSamples(after, "causeway_sip_messages_received_total").value_or(-1),
            received_before + kOptions)
      << after;
  EXPECT_EQ(SumSamples(after, "causeway_sip_options_answered_total").value_or(-1),
            options_before + kOptions)
      << after;
  EXPECT_GE(SumSamples(after, "causeway_sip_connections_accepted_total").value_or(-1), kOptions);
  // A send is counted when its write completes, which may be after the peer read the bytes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (SumSamples(after, "causeway_sip_messages_sent_total").value_or(-1) < kOptions &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = Scrape();
  }
  EXPECT_GE(SumSamples(after, "causeway_sip_messages_sent_total").value_or(-1), kOptions);
}

TEST_F(MetricsServiceTest, ReadyUntilShutdownBeginsAndListedAsAListener) {
  ASSERT_EQ(metrics_->Listeners().size(), 1u);
  EXPECT_EQ(metrics_->Listeners()[0], absl::StrCat("http:127.0.0.1:", metrics_port_));
  EXPECT_EQ(HttpGet(metrics_port_, "/ready").rfind("HTTP/1.1 200 ", 0), 0u);
  metrics_->StopAccepting();
  EXPECT_EQ(HttpGet(metrics_port_, "/ready").rfind("HTTP/1.1 503 ", 0), 0u);
  // Still scraped while the daemon drains.
  EXPECT_EQ(HttpGet(metrics_port_, "/metrics").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST(MetricsServiceOff, AnEmptyListenStartsNothing) {
  GatewayConfig config = DefaultConfig();
  config.metrics.listen.reset();
  StartContext context;
  context.config = std::make_shared<const GatewayConfig>(config);
  MetricsService metrics(std::make_shared<MetricsCollector>());
  ASSERT_TRUE(metrics.Start(context).ok());
  EXPECT_TRUE(metrics.Listeners().empty());
  EXPECT_FALSE(metrics.local_address().has_value());
  metrics.Stop();
}

}  // namespace
}  // namespace causeway::gateway
