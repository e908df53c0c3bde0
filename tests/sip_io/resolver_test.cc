// RFC 3263 resolution end to end: c-ares on an io_context against tests/dns/dns_server.py (an
// authoritative server for a test zone on 127.0.0.1), plus a silent UDP socket for timeouts.

#include "sip/io/resolver.h"
#include "sip/io/resolver_uri.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "tests/dns/dns_test_server.h"

namespace causeway::sip {
namespace {

using std::chrono::milliseconds;

using dns_test::DnsServerProcess;
using dns_test::SilentUdpSocket;

std::string Describe(const std::vector<ResolvedTarget>& targets) {
  std::string out;
  for (const ResolvedTarget& t : targets) {
    if (!out.empty()) out += " ";
    out += std::string(TransportName(t.kind)) + ":" + t.address.ToString() + "/" + t.server_name;
  }
  return out;
}

class ResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new DnsServerProcess(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(server_->port(), 0) << "dns_server.py did not start"; }

  ResolverOptions Options(const std::string& servers) {
    ResolverOptions options;
    options.dns.servers = servers;
    options.dns.timeout = milliseconds(1000);
    options.dns.tries = 2;
    options.random_seed = 7;
    return options;
  }

  std::unique_ptr<Resolver> Make(ResolverOptions options) {
    auto resolver = Resolver::Create(io_, std::move(options));
    EXPECT_TRUE(resolver.ok()) << resolver.status();
    return resolver.ok() ? std::move(*resolver) : nullptr;
  }
  std::unique_ptr<Resolver> Make() { return Make(Options(server_->servers())); }

  // Resolves and runs the io_context until the callback fired (at most 10 s).
  Resolver::Result Run(Resolver& resolver, const SipTarget& target) {
    std::optional<Resolver::Result> result;
    resolver.Resolve(target, [&](Resolver::Result r) { result = std::move(r); });
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

  Resolver::Result RunUri(Resolver& resolver, const std::string& text) {
    absl::StatusOr<Uri> uri = Uri::Parse(text);
    if (!uri.ok()) return uri.status();
    std::optional<Resolver::Result> result;
    ResolveUri(resolver, *uri, [&](Resolver::Result r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "callback must not run inside ResolveUri()";
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!result && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(milliseconds(100));
      if (io_.stopped()) io_.restart();
    }
    if (!result) return absl::DeadlineExceededError("test: no callback within 10 s");
    return std::move(*result);
  }

  std::string ResolveText(Resolver& resolver, const SipTarget& target) {
    Resolver::Result r = Run(resolver, target);
    if (!r.ok()) return "error: " + r.status().ToString();
    return Describe(*r);
  }

  static DnsServerProcess* server_;
  boost::asio::io_context io_;
};

DnsServerProcess* ResolverTest::server_ = nullptr;

TEST_F(ResolverTest, NumericIpNeedsNoDns) {
  SilentUdpSocket silent;  // any DNS query would time out
  ResolverOptions options = Options(silent.servers());
  auto resolver = Make(options);
  ASSERT_NE(resolver, nullptr);
  // Any DNS query would fail (timeout), so a correct answer shows none was made.
  EXPECT_EQ(ResolveText(*resolver, {"192.0.2.1"}), "UDP:192.0.2.1:5060/192.0.2.1");
  EXPECT_EQ(ResolveText(*resolver, {"192.0.2.1", std::nullopt, std::nullopt, true}),
            "TLS:192.0.2.1:5061/192.0.2.1");
  EXPECT_EQ(ResolveText(*resolver, {"[::1]", 5070, TransportKind::kTcp}), "TCP:[::1]:5070/::1");
  EXPECT_EQ(ResolveText(*resolver, {"::1", std::nullopt, TransportKind::kTcp, true}),
            "TLS:[::1]:5061/::1");

  options.transports = {TransportKind::kTcp, TransportKind::kTls};  // no UDP: TCP instead
  auto tcp_only = Make(options);
  EXPECT_EQ(ResolveText(*tcp_only, {"192.0.2.1"}), "TCP:192.0.2.1:5060/192.0.2.1");
}

TEST_F(ResolverTest, ExplicitPortUsesAAndAaaaOnly) {
  auto resolver = Make();
  // srv.test has SRV records, but an explicit port means A/AAAA only.
  EXPECT_EQ(ResolveText(*resolver, {"srv.test", 5080}), "UDP:127.0.1.99:5080/srv.test");
  EXPECT_EQ(ResolveText(*resolver, {"dual.test", 5080}),
            "UDP:[::1]:5080/dual.test UDP:127.0.3.2:5080/dual.test");
  EXPECT_EQ(ResolveText(*resolver, {"DUAL.test.", 5080, TransportKind::kTcp}),
            "TCP:[::1]:5080/dual.test TCP:127.0.3.2:5080/dual.test");
  EXPECT_EQ(ResolveText(*resolver, {"dual.test", 5081, std::nullopt, true}),
            "TLS:[::1]:5081/dual.test TLS:127.0.3.2:5081/dual.test");
}

TEST_F(ResolverTest, AddressOrderIsConfigurable) {
  ResolverOptions options = Options(server_->servers());
  options.address_order = AddressOrder::kV4First;
  EXPECT_EQ(ResolveText(*Make(options), {"dual.test", 5080}),
            "UDP:127.0.3.2:5080/dual.test UDP:[::1]:5080/dual.test");
  options.address_order = AddressOrder::kV4Only;
  EXPECT_EQ(ResolveText(*Make(options), {"dual.test", 5080}), "UDP:127.0.3.2:5080/dual.test");
  options.address_order = AddressOrder::kV6Only;
  EXPECT_EQ(ResolveText(*Make(options), {"dual.test", 5080}), "UDP:[::1]:5080/dual.test");
  EXPECT_EQ(ResolveText(*Make(options), {"v4only.test", 5080}).rfind("error: NOT_FOUND", 0), 0u);
}

TEST_F(ResolverTest, NaptrOrderAndPreference) {
  auto resolver = Make();
  // Orders 5 (SCTP, non-"s": ignored), 10 (SIPS pref 10, SIP+D2T pref 20), 20 (SIP+D2U).
  EXPECT_EQ(ResolveText(*resolver, {"naptr.test"}),
            "TLS:127.0.0.11:5061/naptr.test TCP:127.0.0.12:5062/naptr.test "
            "UDP:127.0.0.13:5063/naptr.test");
}

TEST_F(ResolverTest, NaptrKeepsOnlySupportedTransports) {
  ResolverOptions options = Options(server_->servers());
  options.transports = {TransportKind::kUdp};
  EXPECT_EQ(ResolveText(*Make(options), {"naptr.test"}), "UDP:127.0.0.13:5063/naptr.test");
  options.transports = {TransportKind::kUdp, TransportKind::kTcp};
  EXPECT_EQ(ResolveText(*Make(options), {"naptr.test"}),
            "TCP:127.0.0.12:5062/naptr.test UDP:127.0.0.13:5063/naptr.test");
  // sips keeps SIPS+D2T only.
  EXPECT_EQ(ResolveText(*Make(), {"naptr.test", std::nullopt, std::nullopt, true}),
            "TLS:127.0.0.11:5061/naptr.test");
}

TEST_F(ResolverTest, SrvPriorityAndWeights) {
  auto resolver = Make();
  std::map<std::string, int> first;
  constexpr int kRuns = 1000;  // after the first run, answers come from the cache
  for (int i = 0; i < kRuns; ++i) {
    Resolver::Result r = Run(*resolver, {"srv.test"});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 4u) << Describe(*r);
    // Priority 20 (d) always last; priority 10 (a, b, c) in weighted order before it.
    EXPECT_EQ((*r)[3].address.ToString(), "127.0.1.4:5073");
    std::string firsts;
    for (int j = 0; j < 3; ++j) firsts += (*r)[j].address.HostString().back();
    std::sort(firsts.begin(), firsts.end());
    EXPECT_EQ(firsts, "123");
    EXPECT_EQ((*r)[0].kind, TransportKind::kUdp);
    EXPECT_EQ((*r)[0].server_name, "srv.test");
    ++first[(*r)[0].address.ToString()];
  }
  // Weights 60/30/10: first picks ~60%, ~30%, ~10%. Loose bounds.
  EXPECT_GT(first["127.0.1.1:5070"], kRuns * 45 / 100);
  EXPECT_LT(first["127.0.1.1:5070"], kRuns * 75 / 100);
  EXPECT_GT(first["127.0.1.2:5071"], kRuns * 18 / 100);
  EXPECT_LT(first["127.0.1.2:5071"], kRuns * 42 / 100);
  EXPECT_GT(first["127.0.1.3:5072"], kRuns * 3 / 100);
  EXPECT_LT(first["127.0.1.3:5072"], kRuns * 20 / 100);
}

TEST_F(ResolverTest, ExplicitTransportQueriesItsSrvOnly) {
  auto resolver = Make();
  Resolver::Result udp = Run(*resolver, {"srv.test", std::nullopt, TransportKind::kUdp});
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_EQ(udp->size(), 4u);
  // No _sip._tcp.srv.test: A record of srv.test on 5060 over TCP.
  EXPECT_EQ(ResolveText(*resolver, {"srv.test", std::nullopt, TransportKind::kTcp}),
            "TCP:127.0.1.99:5060/srv.test");
}

TEST_F(ResolverTest, RootTargetMeansNotAvailable) {
  auto resolver = Make();
  Resolver::Result r = Run(*resolver, {"dot.test"});
  ASSERT_FALSE(r.ok()) << Describe(*r);
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_NE(r.status().ToString().find("not available"), std::string::npos) << r.status();
  EXPECT_NE(r.status().ToString().find("dot.test"), std::string::npos) << r.status();
}

TEST_F(ResolverTest, FallsBackToAddressRecordsOnDefaultPort) {
  auto resolver = Make();
  EXPECT_EQ(ResolveText(*resolver, {"v4only.test"}), "UDP:127.0.3.1:5060/v4only.test");
  EXPECT_EQ(ResolveText(*resolver, {"v4only.test", std::nullopt, std::nullopt, true}),
            "TLS:127.0.3.1:5061/v4only.test");
  ResolverOptions options = Options(server_->servers());
  options.transports = {TransportKind::kTcp, TransportKind::kTls};
  EXPECT_EQ(ResolveText(*Make(options), {"v4only.test"}), "TCP:127.0.3.1:5060/v4only.test");
}

TEST_F(ResolverTest, AaaaAndCname) {
  auto resolver = Make();
  EXPECT_EQ(ResolveText(*resolver, {"dual.test"}),
            "UDP:[::1]:5060/dual.test UDP:127.0.3.2:5060/dual.test");
  EXPECT_EQ(ResolveText(*resolver, {"alias.test"}),
            "UDP:[::1]:5060/alias.test UDP:127.0.3.2:5060/alias.test");
}

TEST_F(ResolverTest, SipsUsesOnlyTlsSrv) {
  auto resolver = Make();
  EXPECT_EQ(ResolveText(*resolver, {"sips.test", std::nullopt, std::nullopt, true}),
            "TLS:127.0.4.1:5061/sips.test");
  EXPECT_EQ(ResolveText(*resolver, {"sips.test", std::nullopt, TransportKind::kTcp, true}),
            "TLS:127.0.4.1:5061/sips.test");
  // Plain sip: _sips._tcp first, then _sip._udp (no _sip._tcp published).
  EXPECT_EQ(ResolveText(*resolver, {"sips.test"}),
            "TLS:127.0.4.1:5061/sips.test UDP:127.0.4.2:5060/sips.test");
}

TEST_F(ResolverTest, FederationSrvService) {
  ResolverOptions options = Options(server_->servers());
  options.extra_services = {{"_sipfederationtls._tcp", TransportKind::kTls, true}};
  // Only the federation SRV exists; the certificate name is the SRV target (Lync edge FQDN).
  EXPECT_EQ(ResolveText(*Make(options), {"fed.test"}), "TLS:127.0.5.1:5061/sip.fed.test");
  options.extra_services[0].server_name_from_target = false;
  EXPECT_EQ(ResolveText(*Make(options), {"fed.test"}), "TLS:127.0.5.1:5061/fed.test");
  // Without it: the domain's A record on 5060/UDP.
  EXPECT_EQ(ResolveText(*Make(), {"fed.test"}), "UDP:127.0.5.99:5060/fed.test");
  // Extra services come after the standard ones unless asked otherwise.
  options.extra_services[0].server_name_from_target = true;
  options.extra_services.push_back({"_sipinternaltls._tcp", TransportKind::kTls, true});
  EXPECT_EQ(ResolveText(*Make(options), {"sips.test"}), "TLS:127.0.4.1:5061/sips.test "
                                                        "UDP:127.0.4.2:5060/sips.test");
}

TEST_F(ResolverTest, NxDomainIsNotFoundWithTheName) {
  auto resolver = Make();
  for (const SipTarget& target : {SipTarget{"nope.test"}, SipTarget{"nope.test", 5060},
                                  SipTarget{"nope.test", std::nullopt, TransportKind::kTcp}}) {
    Resolver::Result r = Run(*resolver, target);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
    EXPECT_NE(r.status().ToString().find("nope.test"), std::string::npos) << r.status();
  }
}

TEST_F(ResolverTest, ServFailIsUnavailable) {
  auto resolver = Make();
  Resolver::Result r = Run(*resolver, {"x.servfail.test"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_NE(r.status().ToString().find("x.servfail.test"), std::string::npos) << r.status();
}

TEST_F(ResolverTest, TimeoutIsUnavailable) {
  SilentUdpSocket silent;
  ASSERT_NE(silent.port(), 0);
  ResolverOptions options = Options(silent.servers());
  options.dns.timeout = milliseconds(100);
  options.dns.tries = 1;
  auto resolver = Make(options);
  const auto start = std::chrono::steady_clock::now();
  Resolver::Result r = Run(*resolver, {"naptr.test"});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_NE(r.status().ToString().find("naptr.test"), std::string::npos) << r.status();
  EXPECT_GE(elapsed, milliseconds(90));
  EXPECT_LT(elapsed, milliseconds(3000));
  // A timeout is not cached: the next resolve asks again (and times out again).
  EXPECT_EQ(resolver->cache().size(), 0u);
}

TEST_F(ResolverTest, InvalidTargets) {
  auto resolver = Make();
  Resolver::Result empty = Run(*resolver, {""});
  EXPECT_TRUE(absl::IsInvalidArgument(empty.status())) << empty.status();
  Resolver::Result sips_udp = Run(*resolver, {"x.test", std::nullopt, TransportKind::kUdp, true});
  EXPECT_TRUE(absl::IsInvalidArgument(sips_udp.status())) << sips_udp.status();
  Resolver::Result port0 = Run(*resolver, {"x.test", 0});
  EXPECT_TRUE(absl::IsInvalidArgument(port0.status())) << port0.status();
  Resolver::Result long_name = Run(*resolver, {std::string(300, 'a'), 5060});
  EXPECT_FALSE(long_name.ok());

  ResolverOptions options = Options(server_->servers());
  options.transports = {TransportKind::kUdp};
  auto udp_only = Make(options);
  Resolver::Result tls = Run(*udp_only, {"x.test", std::nullopt, TransportKind::kTls});
  EXPECT_TRUE(absl::IsFailedPrecondition(tls.status())) << tls.status();
  Resolver::Result sips = Run(*udp_only, {"192.0.2.1", std::nullopt, std::nullopt, true});
  EXPECT_TRUE(absl::IsFailedPrecondition(sips.status())) << sips.status();
}

TEST_F(ResolverTest, BadOptionsAreRejected) {
  ResolverOptions options = Options(server_->servers());
  options.transports.clear();
  EXPECT_FALSE(Resolver::Create(io_, options).ok());
  options = Options("not a server list");
  EXPECT_FALSE(Resolver::Create(io_, options).ok());
  options = Options(server_->servers());
  options.extra_services = {{"sipfederationtls._tcp", TransportKind::kTls, true}};
  EXPECT_FALSE(Resolver::Create(io_, options).ok());
  options = Options(server_->servers());
  options.dns.tries = 0;
  EXPECT_FALSE(Resolver::Create(io_, options).ok());
}

TEST_F(ResolverTest, CacheAnswersWhileServerIsDown) {
  DnsServerProcess own;
  ASSERT_NE(own.port(), 0);
  ResolverOptions options = Options(own.servers());
  options.dns.timeout = milliseconds(200);
  options.dns.tries = 1;
  auto resolver = Make(options);
  const std::string expected = ResolveText(*resolver, {"naptr.test"});
  ASSERT_EQ(expected.rfind("TLS:127.0.0.11:5061", 0), 0u) << expected;
  Resolver::Result nx = Run(*resolver, {"nope.test"});
  ASSERT_TRUE(absl::IsNotFound(nx.status())) << nx.status();
  Resolver::Result short_lived = Run(*resolver, {"ttl1.test", 5060});
  ASSERT_TRUE(short_lived.ok()) << short_lived.status();
  EXPECT_GT(resolver->cache().size(), 0u);

  own.Stop();
  // With the server gone, anything not answered from the cache would come back Unavailable.
  EXPECT_EQ(ResolveText(*resolver, {"naptr.test"}), expected);
  // NXDOMAIN is cached too (negative TTL), so it stays NotFound rather than timing out.
  Resolver::Result nx_again = Run(*resolver, {"nope.test"});
  EXPECT_TRUE(absl::IsNotFound(nx_again.status())) << nx_again.status();

  // The 1 s TTL answer expires: now the (dead) server is asked and the query times out.
  std::this_thread::sleep_for(milliseconds(1100));
  Resolver::Result expired = Run(*resolver, {"ttl1.test", 5060});
  EXPECT_TRUE(absl::IsUnavailable(expired.status())) << expired.status();
}

TEST_F(ResolverTest, DestroyingTheResolverDropsPendingCallbacks) {
  SilentUdpSocket silent;
  ResolverOptions options = Options(silent.servers());
  options.dns.timeout = milliseconds(100);
  options.dns.tries = 1;
  auto resolver = Make(options);
  bool called = false;
  resolver->Resolve({"naptr.test"}, [&](Resolver::Result) { called = true; });
  io_.restart();
  io_.run_for(milliseconds(20));  // the NAPTR query is now on the wire
  resolver->Resolve({"192.0.2.1"}, [&](Resolver::Result) { called = true; });  // already posted
  resolver.reset();
  io_.restart();
  io_.run_for(milliseconds(300));
  EXPECT_FALSE(called);
}

TEST_F(ResolverTest, ResolvesCodecUris) {
  auto resolver = Make();
  Resolver::Result sips = RunUri(*resolver, "sips:alice@naptr.test");
  ASSERT_TRUE(sips.ok()) << sips.status();
  EXPECT_EQ(Describe(*sips), "TLS:127.0.0.11:5061/naptr.test");
  Resolver::Result maddr = RunUri(*resolver, "sip:bob@naptr.test;maddr=v4only.test;transport=tcp");
  ASSERT_TRUE(maddr.ok()) << maddr.status();
  EXPECT_EQ(Describe(*maddr), "TCP:127.0.3.1:5060/v4only.test");
  Resolver::Result tel = RunUri(*resolver, "tel:+15551234567");
  EXPECT_TRUE(absl::IsInvalidArgument(tel.status())) << tel.status();
}

TEST_F(ResolverTest, ConcurrentLookupsShareOneQuery) {
  auto resolver = Make();
  int done = 0;
  for (int i = 0; i < 10; ++i) {
    resolver->Resolve({"dual.test", 5080}, [&](Resolver::Result r) {
      EXPECT_EQ(Describe(*r), "UDP:[::1]:5080/dual.test UDP:127.0.3.2:5080/dual.test");
      ++done;
    });
  }
  EXPECT_EQ(resolver->queries_in_flight(), 2u);  // one AAAA and one A for all ten
  io_.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done < 10 && std::chrono::steady_clock::now() < deadline) {
    io_.run_one_for(milliseconds(100));
    if (io_.stopped()) io_.restart();
  }
  EXPECT_EQ(done, 10);
  EXPECT_EQ(resolver->queries_in_flight(), 0u);
}

TEST_F(ResolverTest, InFlightQueryLimit) {
  ResolverOptions options = Options(server_->servers());
  options.max_queries_in_flight = 1;
  auto resolver = Make(options);
  // The AAAA query takes the only slot; the A lookup is refused at once, so only IPv6 comes back.
  EXPECT_EQ(ResolveText(*resolver, {"dual.test", 5080}), "UDP:[::1]:5080/dual.test");
  options.max_queries_in_flight = 0;
  EXPECT_FALSE(Resolver::Create(io_, options).ok());
}

TEST_F(ResolverTest, ManyConcurrentResolves) {
  auto resolver = Make();
  int done = 0;
  int ok = 0;
  const char* hosts[] = {"naptr.test", "srv.test", "dual.test", "v4only.test", "nope.test",
                         "sips.test", "fed.test", "alias.test"};
  for (int i = 0; i < 40; ++i) {
    resolver->Resolve({hosts[i % 8]}, [&](Resolver::Result r) {
      ++done;
      if (r.ok()) ++ok;
    });
  }
  io_.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done < 40 && std::chrono::steady_clock::now() < deadline) {
    io_.run_one_for(milliseconds(100));
    if (io_.stopped()) io_.restart();
  }
  EXPECT_EQ(done, 40);
  EXPECT_EQ(ok, 35);  // nope.test fails 5 times
}

}  // namespace
}  // namespace causeway::sip
