// SrvResolver end to end: c-ares on an io_context against tests/dns/dns_server.py serving
// tests/dns/srv_zone.txt (XMPP s2s services, RFC 6120 §3.2), plus a silent UDP socket.

#include "core/dns/srv_resolver.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "tests/dns/dns_test_server.h"

namespace causeway::dns {
namespace {

using std::chrono::milliseconds;

constexpr uint16_t kXmppServerPort = 5269;
const std::vector<std::string> kXmppServices = {"_xmpps-server._tcp", "_xmpp-server._tcp"};

std::string Describe(const std::vector<SrvTarget>& targets) {
  std::string out;
  for (const SrvTarget& t : targets) {
    if (!out.empty()) out += " ";
    out += (t.service.empty() ? std::string("-") : t.service) + ":" + t.host + "=" +
           t.address.ToString();
  }
  return out;
}

class SrvResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new dns_test::DnsServerProcess(dns_test::TestDnsDir() + "srv_zone.txt");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_->port(), 0) << "dns_server.py did not start"; }

  SrvResolverOptions Options(const std::string& servers) {
    SrvResolverOptions options;
    options.dns.channel.servers = servers;
    options.dns.channel.timeout = milliseconds(1000);
    options.dns.channel.tries = 2;
    options.random_seed = 7;
    return options;
  }
  std::unique_ptr<SrvResolver> Make(SrvResolverOptions options) {
    auto resolver = SrvResolver::Create(io_, std::move(options));
    EXPECT_TRUE(resolver.ok()) << resolver.status();
    return resolver.ok() ? std::move(*resolver) : nullptr;
  }
  std::unique_ptr<SrvResolver> Make() { return Make(Options(server_->servers())); }

  // Resolves and runs the io_context until the callback fired (at most 10 s).
  SrvResolver::Result Run(SrvResolver& resolver, const SrvRequest& request) {
    std::optional<SrvResolver::Result> result;
    resolver.Resolve(request, [&](SrvResolver::Result r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "callback must not run inside Resolve()";
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!result && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(milliseconds(100));
      if (io_.stopped()) io_.restart();
    }
    if (!result) return absl::DeadlineExceededError("test: no callback within 10 s");
    return std::move(*result);
  }
  std::string ResolveText(SrvResolver& resolver, const SrvRequest& request) {
    SrvResolver::Result r = Run(resolver, request);
    if (!r.ok()) return "error: " + r.status().ToString();
    return Describe(*r);
  }

  static dns_test::DnsServerProcess* server_;
  boost::asio::io_context io_;
};

dns_test::DnsServerProcess* SrvResolverTest::server_ = nullptr;

TEST_F(SrvResolverTest, BothServicesInOrderPriorityAndWeights) {
  auto resolver = Make();
  std::map<std::string, int> first_starttls;
  constexpr int kRuns = 1000;  // after the first run, answers come from the cache
  for (int i = 0; i < kRuns; ++i) {
    SrvResolver::Result r = Run(*resolver, {kXmppServices, "xmpp.test", kXmppServerPort});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 6u) << Describe(*r);
    // Direct TLS first (first service), AAAA before A; then priority 10 in weighted order; then 20.
    EXPECT_EQ((*r)[0], (SrvTarget{"direct.xmpp.test", 5270, *NetAddress::Parse("[fd00::7:10]:5270"),
                                  "_xmpps-server._tcp"}));
    EXPECT_EQ((*r)[1].address.ToString(), "127.0.7.10:5270");
    EXPECT_EQ((*r)[5], (SrvTarget{"backup.xmpp.test", 5279, *NetAddress::Parse("127.0.7.4:5279"),
                                  "_xmpp-server._tcp"}));
    std::string middle;
    for (int j = 2; j < 5; ++j) {
      EXPECT_EQ((*r)[j].service, "_xmpp-server._tcp");
      EXPECT_EQ((*r)[j].port, kXmppServerPort);
      middle += (*r)[j].host.front();
    }
    std::sort(middle.begin(), middle.end());
    EXPECT_EQ(middle, "abc");
    ++first_starttls[(*r)[2].host];
  }
  // Weights 60/30/10: first picks ~61/101, ~30/101, ~10/101. Loose bounds.
  EXPECT_GT(first_starttls["a.xmpp.test"], kRuns * 45 / 100);
  EXPECT_LT(first_starttls["a.xmpp.test"], kRuns * 75 / 100);
  EXPECT_GT(first_starttls["b.xmpp.test"], kRuns * 18 / 100);
  EXPECT_LT(first_starttls["b.xmpp.test"], kRuns * 42 / 100);
  EXPECT_GT(first_starttls["c.xmpp.test"], kRuns * 3 / 100);
  EXPECT_LT(first_starttls["c.xmpp.test"], kRuns * 20 / 100);
}

TEST_F(SrvResolverTest, ServicesAreTriedInTheOrderGiven) {
  SrvResolverOptions options = Options(server_->servers());
  options.address_order = AddressOrder::kV4Only;
  auto resolver = Make(options);
  SrvResolver::Result r =
      Run(*resolver, {{"_xmpp-server._tcp", "_xmpps-server._tcp"}, "xmpp.test", kXmppServerPort});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 5u) << Describe(*r);
  EXPECT_EQ((*r)[3].host, "backup.xmpp.test");
  EXPECT_EQ((*r)[4].address.ToString(), "127.0.7.10:5270");
  EXPECT_EQ((*r)[4].service, "_xmpps-server._tcp");
  // One service alone.
  EXPECT_EQ(ResolveText(*resolver, {{"_xmpps-server._tcp"}, "xmpp.test", kXmppServerPort}),
            "_xmpps-server._tcp:direct.xmpp.test=127.0.7.10:5270");
}

TEST_F(SrvResolverTest, AddressOrderIsConfigurable) {
  SrvResolverOptions options = Options(server_->servers());
  options.address_order = AddressOrder::kV4First;
  EXPECT_EQ(ResolveText(*Make(options), {{"_xmpps-server._tcp"}, "xmpp.test", 0}),
            "_xmpps-server._tcp:direct.xmpp.test=127.0.7.10:5270 "
            "_xmpps-server._tcp:direct.xmpp.test=[fd00::7:10]:5270");
  options.address_order = AddressOrder::kV6Only;
  EXPECT_EQ(ResolveText(*Make(options), {{"_xmpps-server._tcp"}, "xmpp.test", 0}),
            "_xmpps-server._tcp:direct.xmpp.test=[fd00::7:10]:5270");
}

TEST_F(SrvResolverTest, OneServicePublishedIsEnoughAndNoFallback) {
  // _xmpps-server._tcp.plain.test does not exist; the domain's own A record is not used.
  EXPECT_EQ(ResolveText(*Make(), {kXmppServices, "plain.test", kXmppServerPort}),
            "_xmpp-server._tcp:s2s.plain.test=127.0.8.1:5269");
}

TEST_F(SrvResolverTest, RootTargetMeansNotAvailable) {
  SrvResolver::Result r = Run(*Make(), {kXmppServices, "noxmpp.test", kXmppServerPort});
  ASSERT_FALSE(r.ok()) << Describe(*r);
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_NE(r.status().ToString().find("not available"), std::string::npos) << r.status();
  EXPECT_NE(r.status().ToString().find("noxmpp.test"), std::string::npos) << r.status();
}

TEST_F(SrvResolverTest, FallsBackToTheDomainWithoutSrv) {
  auto resolver = Make();
  // NXDOMAIN for both SRV names.
  EXPECT_EQ(ResolveText(*resolver, {kXmppServices, "bare.test", kXmppServerPort}),
            "-:bare.test=[fd00::10:1]:5269 -:bare.test=127.0.10.1:5269");
  // NODATA: the SRV name exists, without SRV records.
  EXPECT_EQ(ResolveText(*resolver, {kXmppServices, "NoData.test.", kXmppServerPort}),
            "-:nodata.test=127.0.11.1:5269");
  // The fallback port is the caller's.
  EXPECT_EQ(ResolveText(*resolver, {{"_xmpp-server._tcp"}, "nodata.test", 5999}),
            "-:nodata.test=127.0.11.1:5999");
  // Without a fallback port there is nothing to fall back to.
  SrvResolver::Result none = Run(*resolver, {kXmppServices, "bare.test", 0});
  EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
  // No services at all: only the fallback.
  EXPECT_EQ(ResolveText(*resolver, {{}, "xmpp.test", kXmppServerPort}),
            "-:xmpp.test=127.0.7.99:5269");
}

TEST_F(SrvResolverTest, NxDomainDanglingTargetAndServFail) {
  auto resolver = Make();
  SrvResolver::Result nx = Run(*resolver, {kXmppServices, "nope.test", kXmppServerPort});
  EXPECT_TRUE(absl::IsNotFound(nx.status())) << nx.status();
  EXPECT_NE(nx.status().ToString().find("nope.test"), std::string::npos) << nx.status();
  // An SRV target without addresses: NotFound, and no fallback to the domain's A record.
  SrvResolver::Result dangling = Run(*resolver, {kXmppServices, "dangling.test", kXmppServerPort});
  EXPECT_TRUE(absl::IsNotFound(dangling.status())) << dangling.status();
  EXPECT_NE(dangling.status().ToString().find("missing.dangling.test"), std::string::npos)
      << dangling.status();
  // SERVFAIL on SRV: RFC 6120 falls back; the A lookup fails the same way, so Unavailable.
  SrvResolver::Result servfail = Run(*resolver, {kXmppServices, "x.servfail.test", 5269});
  EXPECT_TRUE(absl::IsUnavailable(servfail.status())) << servfail.status();
  EXPECT_NE(servfail.status().ToString().find("x.servfail.test"), std::string::npos)
      << servfail.status();
}

TEST_F(SrvResolverTest, IpLiteralNeedsNoDns) {
  dns_test::SilentUdpSocket silent;  // any DNS query would time out
  auto resolver = Make(Options(silent.servers()));
  EXPECT_EQ(ResolveText(*resolver, {kXmppServices, "[::1]", kXmppServerPort}), "-:::1=[::1]:5269");
  EXPECT_EQ(ResolveText(*resolver, {kXmppServices, "192.0.2.7", kXmppServerPort}),
            "-:192.0.2.7=192.0.2.7:5269");
  SrvResolver::Result no_port = Run(*resolver, {kXmppServices, "192.0.2.7", 0});
  EXPECT_TRUE(absl::IsInvalidArgument(no_port.status())) << no_port.status();
}

TEST_F(SrvResolverTest, InvalidRequestsAndOptions) {
  auto resolver = Make();
  for (const SrvRequest& bad :
       {SrvRequest{kXmppServices, "", 5269}, SrvRequest{{"xmpp-server._tcp"}, "xmpp.test", 5269},
        SrvRequest{{"_xmpp-server._tcp."}, "xmpp.test", 5269}, SrvRequest{{}, "xmpp.test", 0}}) {
    SrvResolver::Result r = Run(*resolver, bad);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  }
  SrvResolverOptions options = Options(server_->servers());
  options.max_targets = 0;
  EXPECT_FALSE(SrvResolver::Create(io_, options).ok());
  options = Options("not a server list");
  EXPECT_FALSE(SrvResolver::Create(io_, options).ok());
  options = Options(server_->servers());
  options.dns.max_queries_in_flight = 0;
  EXPECT_FALSE(SrvResolver::Create(io_, options).ok());
}

TEST_F(SrvResolverTest, AnswersComeFromTheTtlCacheWhileTheServerIsDown) {
  dns_test::DnsServerProcess own(dns_test::TestDnsDir() + "srv_zone.txt");
  ASSERT_NE(own.port(), 0);
  SrvResolverOptions options = Options(own.servers());
  options.dns.channel.timeout = milliseconds(200);
  options.dns.channel.tries = 1;
  auto resolver = Make(options);
  const std::string plain = ResolveText(*resolver, {kXmppServices, "plain.test", 5269});
  ASSERT_EQ(plain, "_xmpp-server._tcp:s2s.plain.test=127.0.8.1:5269");
  const std::string bare = ResolveText(*resolver, {kXmppServices, "bare.test", 5269});
  ASSERT_EQ(bare.rfind("-:bare.test=", 0), 0u) << bare;
  EXPECT_GT(resolver->cache().size(), 0u);

  own.Stop();
  // Anything not answered from the cache would now time out (Unavailable).
  EXPECT_EQ(ResolveText(*resolver, {kXmppServices, "plain.test", 5269}), plain);
  EXPECT_EQ(ResolveText(*resolver, {kXmppServices, "bare.test", 5269}), bare);  // negative SRV
  SrvResolver::Result uncached = Run(*resolver, {kXmppServices, "xmpp.test", 5269});
  EXPECT_TRUE(absl::IsUnavailable(uncached.status())) << uncached.status();
}

TEST_F(SrvResolverTest, DestroyingTheResolverDropsPendingCallbacks) {
  dns_test::SilentUdpSocket silent;
  SrvResolverOptions options = Options(silent.servers());
  options.dns.channel.timeout = milliseconds(100);
  options.dns.channel.tries = 1;
  auto resolver = Make(options);
  bool called = false;
  resolver->Resolve({kXmppServices, "xmpp.test", 5269},
                    [&](SrvResolver::Result) { called = true; });
  io_.restart();
  io_.run_for(milliseconds(20));  // the SRV queries are now on the wire
  EXPECT_EQ(resolver->queries_in_flight(), 2u);
  resolver->Resolve({kXmppServices, "192.0.2.1", 5269},
                    [&](SrvResolver::Result) { called = true; });
  resolver.reset();
  io_.restart();
  io_.run_for(milliseconds(300));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace causeway::dns
