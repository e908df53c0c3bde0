// Two S2sService instances on loopback in one process (one io_context), serving a.test and
// b.test with certificates from a throwaway CA, routed by static routes (no DNS).

#include "xmpp/io/s2s_service.h"

#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xmpp_io/s2s_test_support.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/s2s/dialback.h"

namespace causeway::xmpp::io {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using s2s_test::FreePort;
using s2s_test::Loopback;
using s2s_test::Pki;

struct Received {
  Element stanza;
  s2s::DomainPair pair;
};
struct Bounced {
  Element stanza;
  StanzaErrorCondition condition;
};

// One server: a domain, its certificate, its service and what it saw.
struct Node {
  std::string domain;
  std::string cert;  // "a", "b", "wrong": file stem in the PKI dir
  uint16_t port = 0;
  std::shared_ptr<S2sServiceConfig> config = std::make_shared<S2sServiceConfig>();
  std::unique_ptr<S2sService> service;
  std::vector<Received> received;
  std::vector<Bounced> bounced;

  Node(std::string d, std::string c) : domain(std::move(d)), cert(std::move(c)), port(FreePort()) {
    config->local_domains = {domain};
    config->listen = {Loopback(port)};
    config->dialback_secret = "secret of " + domain;
    config->stream.step_timeout = 5s;
    config->reconnect_initial = 200ms;
    auto tls = S2sTls::Create({{domain,
                                {.certificate_chain_file = Pki().Path(cert + ".pem"),
                                 .private_key_file = Pki().Path(cert + ".key"),
                                 .ca_file = Pki().Path("ca.pem")}}});
    EXPECT_TRUE(tls.ok()) << tls.status();
    if (tls.ok()) config->tls = *tls;
  }

  // Serve one more domain with its own certificate (picked by SNI).
  void AddDomain(const std::string& extra, const std::string& extra_cert) {
    config->local_domains.push_back(extra);
    auto tls = S2sTls::Create({{domain,
                                {.certificate_chain_file = Pki().Path(cert + ".pem"),
                                 .private_key_file = Pki().Path(cert + ".key"),
                                 .ca_file = Pki().Path("ca.pem")}},
                               {extra,
                                {.certificate_chain_file = Pki().Path(extra_cert + ".pem"),
                                 .private_key_file = Pki().Path(extra_cert + ".key"),
                                 .ca_file = Pki().Path("ca.pem")}}});
    ASSERT_TRUE(tls.ok()) << tls.status();
    config->tls = *tls;
  }

  void RouteTo(const Node& other) { config->static_routes[other.domain] = {Loopback(other.port)}; }

  void Start(asio::io_context& io) {
    auto made = S2sService::Create(io, config,
                                   {.on_stanza =
                                        [this](Element s, const s2s::DomainPair& p) {
                                          received.push_back({std::move(s), p});
                                        },
                                    .on_undeliverable =
                                        [this](Element s, StanzaErrorCondition c) {
                                          bounced.push_back({std::move(s), c});
                                        }});
    ASSERT_TRUE(made.ok()) << made.status();
    service = *std::move(made);
  }
};

Element Message(std::string_view from, std::string_view to, std::string_view id,
                std::string_view body) {
  Element m = MakeStanza(StanzaKind::kMessage, kNsServer, "chat", to, from, id);
  m.AddChild(kNsServer, "body").SetText(body);
  return m;
}

class S2sServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Pki().ok()) << "openssl CLI failed"; }

  // Runs the loop until `done` or `limit`; false on timeout.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      io_.run_for(5ms);
      io_.restart();
    }
    return true;
  }
  void RunFor(std::chrono::milliseconds d) {
    io_.run_for(d);
    io_.restart();
  }

  asio::io_context io_;
};

TEST_F(S2sServiceTest, SaslExternalBothWays) {
  Node a("a.test", "a"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test/pc", "bob@b.test", "m1", "hi bob")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; })) << "a -> b not delivered";
  const Element& got = b.received[0].stanza;
  EXPECT_EQ(StanzaFrom(got), "alice@a.test/pc");
  EXPECT_EQ(StanzaTo(got), "bob@b.test");
  EXPECT_EQ(StanzaId(got), "m1");
  EXPECT_EQ(got.ChildText(kNsServer, "body"), "hi bob");
  EXPECT_EQ(b.received[0].pair, (s2s::DomainPair{"b.test", "a.test"}));

  ASSERT_TRUE(b.service->Send(Message("bob@b.test/phone", "alice@a.test", "m2", "hi alice")).ok());
  ASSERT_TRUE(RunUntil([&] { return a.received.size() == 1; })) << "b -> a not delivered";
  EXPECT_EQ(StanzaFrom(a.received[0].stanza), "bob@b.test/phone");
  EXPECT_EQ(StanzaTo(a.received[0].stanza), "alice@a.test");
  EXPECT_EQ(a.received[0].stanza.ChildText(kNsServer, "body"), "hi alice");

  // Both pairs by certificate, no dialback anywhere.
  EXPECT_EQ(b.service->stats().pairs_sasl_external, 2u);  // inbound a->b, outbound b->a
  EXPECT_EQ(a.service->stats().pairs_sasl_external, 2u);
  EXPECT_EQ(a.service->stats().pairs_dialback + b.service->stats().pairs_dialback, 0u);
  EXPECT_EQ(a.service->stats().stanzas_out, 1u);
  EXPECT_EQ(b.service->stats().stanzas_in, 1u);
  EXPECT_TRUE(a.bounced.empty());
  EXPECT_TRUE(b.bounced.empty());
  EXPECT_EQ(a.service->outbound_connections(), 1u);
  EXPECT_EQ(b.service->inbound_connections(), 1u);
}

TEST_F(S2sServiceTest, DialbackWhenTheCertificateDoesNotNameTheDomain) {
  Node a("a.test", "wrong"), b("b.test", "b");  // a presents wrong.test: no SASL EXTERNAL
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test/x", "d1", "via dialback")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; })) << "not delivered";
  EXPECT_EQ(StanzaFrom(b.received[0].stanza), "alice@a.test");
  EXPECT_EQ(StanzaTo(b.received[0].stanza), "bob@b.test/x");
  EXPECT_EQ(b.received[0].pair, (s2s::DomainPair{"b.test", "a.test"}));
  // b asked a (the authoritative server) over its own outbound stream b -> a.
  EXPECT_EQ(b.service->stats().dialback_verifies_sent, 1u);
  EXPECT_EQ(b.service->stats().pairs_dialback, 1u);
  EXPECT_EQ(a.service->stats().pairs_dialback, 1u);  // a's outbound pair a -> b
  EXPECT_EQ(b.service->outbound_connections(), 1u);
  EXPECT_EQ(a.service->inbound_connections(), 1u);
  // b's verify stream authenticates with b's good certificate; db:verify may travel on it before
  // that finishes, so the message can arrive first.
  EXPECT_TRUE(RunUntil([&] { return b.service->stats().pairs_sasl_external == 1u; }))
      << b.service->stats().pairs_sasl_external;
}

TEST_F(S2sServiceTest, DialbackWhenTheChainDoesNotVerify) {
  Node a("a.test", "untrusted"), b("b.test", "b");  // names a.test, but from an unknown CA
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "u1", "unverified")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; })) << "not delivered";
  EXPECT_EQ(StanzaId(b.received[0].stanza), "u1");
  EXPECT_EQ(b.service->stats().dialback_verifies_sent, 1u);
  EXPECT_EQ(a.service->stats().pairs_dialback, 1u);
  EXPECT_EQ(a.service->stats().pairs_sasl_external, 1u);  // b's verify stream into a
}

TEST_F(S2sServiceTest, ServerCertificateChosenBySni) {
  Node a("a.test", "a"), b("b.test", "b");
  b.AddDomain("c.test", "c");
  a.config->stream.require_peer_certificate = true;  // b must present c.test's certificate
  a.config->static_routes["c.test"] = {Loopback(b.port)};
  b.RouteTo(a);
  b.config->static_routes["c.test"] = {};
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "carol@c.test", "sni", "to c")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; })) << "not delivered";
  EXPECT_EQ(b.received[0].pair, (s2s::DomainPair{"c.test", "a.test"}));
  EXPECT_TRUE(a.bounced.empty());
}

TEST_F(S2sServiceTest, DialbackWithoutTheAuthoritativeServerBouncesTheSender) {
  Node a("a.test", "wrong"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  // b cannot reach a's authoritative server to verify the key: the pair is refused.
  b.config->static_routes["a.test"] = {Loopback(FreePort())};
  b.Start(io_);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "x1", "spoof?")).ok());
  ASSERT_TRUE(RunUntil([&] { return a.bounced.size() == 1; })) << "never bounced";
  // At once, not after the 5 s step timeout of the pending verification.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(b.received.empty());
  EXPECT_EQ(a.bounced[0].condition, StanzaErrorCondition::kRemoteServerTimeout);
  EXPECT_EQ(StanzaId(a.bounced[0].stanza), "x1");
}

TEST_F(S2sServiceTest, UnreachableDomainsBounceWithTheRightCondition) {
  Node a("a.test", "a");
  a.config->static_routes["closed.test"] = {Loopback(FreePort())};  // connection refused
  // A listener that accepts and never speaks: the stream header step times out.
  asio::ip::tcp::acceptor silent(io_, {asio::ip::make_address("127.0.0.1"), 0});
  std::vector<asio::ip::tcp::socket> held;
  std::function<void()> accept = [&] {
    silent.async_accept([&](const boost::system::error_code& ec, asio::ip::tcp::socket s) {
      if (ec) return;
      held.push_back(std::move(s));
      accept();
    });
  };
  accept();
  a.config->static_routes["silent.test"] = {Loopback(silent.local_endpoint().port())};
  a.config->stream.step_timeout = 500ms;
  // No route: DNS against a server that refuses (nothing listens on that UDP port).
  a.config->dns.dns.channel.servers = "127.0.0.1:" + std::to_string(FreePort());
  a.config->dns.dns.channel.timeout = 200ms;
  a.config->dns.dns.channel.tries = 1;
  a.Start(io_);

  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "x@closed.test", "c1", "1")).ok());
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "x@silent.test", "s1", "2")).ok());
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "x@nowhere.test", "n1", "3")).ok());
  ASSERT_TRUE(RunUntil([&] { return a.bounced.size() == 3; }, 8s)) << a.bounced.size();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  for (const Bounced& b : a.bounced) {
    std::string_view id = StanzaId(b.stanza);
    if (id == "c1") {
      EXPECT_EQ(b.condition, StanzaErrorCondition::kRemoteServerTimeout);
    }
    if (id == "s1") {
      EXPECT_EQ(b.condition, StanzaErrorCondition::kRemoteServerTimeout);
    }
    if (id == "n1") {
      EXPECT_EQ(b.condition, StanzaErrorCondition::kRemoteServerNotFound);
    }
  }
  EXPECT_EQ(a.service->stats().bounced, 3u);
  EXPECT_GE(a.service->stats().connect_failures, 1u);
  EXPECT_EQ(a.service->stats().dns_failures, 1u);
  EXPECT_EQ(a.service->stats().auth_failures, 1u);  // the silent one
}

TEST_F(S2sServiceTest, FailoverToTheNextTarget) {
  Node a("a.test", "a"), b("b.test", "b");
  a.config->static_routes["b.test"] = {Loopback(FreePort()), Loopback(b.port)};
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "f1", "second target")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; }));
  EXPECT_EQ(a.service->stats().connect_failures, 1u);
  EXPECT_TRUE(a.bounced.empty());
}

TEST_F(S2sServiceTest, PeerRestartReconnectsAndDeliversQueuedStanzas) {
  Node a("a.test", "a"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.config->retry_queued_for = 10s;
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "r0", "before")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; }));

  // b goes away: its streams close with </stream:stream>, its port stops listening.
  EXPECT_TRUE(b.service->Shutdown().empty());
  ASSERT_TRUE(RunUntil([&] { return a.service->outbound_connections() == 0; }, 5s));
  b.service.reset();
  b.received.clear();

  for (int i = 1; i <= 3; ++i) {
    std::string id = "r" + std::to_string(i);
    ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", id, "queued")).ok());
  }
  RunFor(500ms);  // at least one refused attempt, now backing off
  EXPECT_GE(a.service->stats().connect_failures, 1u);
  EXPECT_EQ(a.service->queued_for("b.test"), 3u);
  EXPECT_TRUE(a.bounced.empty());

  b.Start(io_);  // same port
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 3; }, 10s)) << b.received.size();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(StanzaId(b.received[i].stanza), "r" + std::to_string(i + 1));
  }
  EXPECT_TRUE(a.bounced.empty());
  EXPECT_EQ(a.service->stats().streams_authenticated_out, 2u);
}

TEST_F(S2sServiceTest, PeerCrashIsNoticedAndTheNextStanzaReconnects) {
  Node a("a.test", "a"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "k0", "before")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; }));
  b.service.reset();  // no Shutdown: sockets just close, no </stream:stream>
  ASSERT_TRUE(RunUntil([&] { return a.service->outbound_connections() == 0; }, 5s));
  b.received.clear();
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "k1", "after")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; }));
  EXPECT_EQ(StanzaId(b.received[0].stanza), "k1");
  EXPECT_TRUE(a.bounced.empty());
  EXPECT_EQ(a.service->stats().streams_authenticated_out, 2u);
}

// One service per worker, all listening on the same port (SO_REUSEPORT): the kernel spreads
// connections over them.
TEST_F(S2sServiceTest, ServicesOfSeveralWorkersShareTheListenPort) {
  Node a("a.test", "a"), b1("b.test", "b"), b2("b.test", "b");
  b2.port = b1.port;
  b2.config->listen = b1.config->listen;
  a.RouteTo(b1);
  b1.RouteTo(a);
  b2.RouteTo(a);
  a.Start(io_);
  b1.Start(io_);
  b2.Start(io_);  // would fail with "address in use" without SO_REUSEPORT
  ASSERT_NE(b2.service, nullptr);
  EXPECT_EQ(b1.service->listen_addresses(), b2.service->listen_addresses());
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "w1", "to any worker")).ok());
  ASSERT_TRUE(RunUntil([&] { return b1.received.size() + b2.received.size() == 1; }));
}

TEST_F(S2sServiceTest, ThousandMessagesArriveInOrder) {
  Node a("a.test", "a"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.config->max_write_backlog = 4096;  // so that the socket lags and the service queue is used
  a.Start(io_);
  b.Start(io_);
  constexpr int kCount = 1000;
  // The first half is queued while the stream negotiates, the rest goes out on it.
  for (int i = 0; i < kCount / 2; ++i) {
    ASSERT_TRUE(
        a.service->Send(Message("alice@a.test", "bob@b.test", std::to_string(i), "m")).ok());
  }
  ASSERT_TRUE(RunUntil([&] { return !b.received.empty(); }));
  for (int i = kCount / 2; i < kCount; ++i) {
    ASSERT_TRUE(
        a.service->Send(Message("alice@a.test", "bob@b.test", std::to_string(i), "m")).ok());
  }
  EXPECT_GT(a.service->queued_for("b.test"), 0u);  // held back behind the write backlog
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == kCount; }, 20s)) << b.received.size();
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(StanzaId(b.received[i].stanza), std::to_string(i)) << "at " << i;
  }
  EXPECT_EQ(a.service->stats().stanzas_out, static_cast<uint64_t>(kCount));
  EXPECT_TRUE(a.bounced.empty());
}

TEST_F(S2sServiceTest, QueueLimitBouncesWithResourceConstraint) {
  Node a("a.test", "a");
  a.config->static_routes["b.test"] = {Loopback(FreePort())};
  a.config->max_queued_per_domain = 2;
  a.Start(io_);
  EXPECT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "q1", "1")).ok());
  EXPECT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "q2", "2")).ok());
  absl::Status third = a.service->Send(Message("alice@a.test", "bob@b.test", "q3", "3"));
  EXPECT_TRUE(absl::IsResourceExhausted(third)) << third;
  ASSERT_EQ(a.bounced.size(), 1u);
  EXPECT_EQ(StanzaId(a.bounced[0].stanza), "q3");
  EXPECT_EQ(a.bounced[0].condition, StanzaErrorCondition::kResourceConstraint);
  // Misaddressed stanzas are the caller's bug, not bounces.
  EXPECT_TRUE(absl::IsInvalidArgument(
      a.service->Send(Message("alice@elsewhere.test", "bob@b.test", "q4", "4"))));
  EXPECT_TRUE(
      absl::IsInvalidArgument(a.service->Send(Message("alice@a.test", "self@a.test", "q5", "5"))));
}

TEST_F(S2sServiceTest, ShutdownHandsBackQueuedStanzas) {
  Node a("a.test", "a");
  asio::ip::tcp::acceptor silent(io_, {asio::ip::make_address("127.0.0.1"), 0});
  a.config->static_routes["silent.test"] = {Loopback(silent.local_endpoint().port())};
  a.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "x@silent.test", "h1", "1")).ok());
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "x@silent.test", "h2", "2")).ok());
  RunFor(100ms);
  std::vector<Element> back = a.service->Shutdown();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(StanzaId(back[0]), "h1");
  EXPECT_EQ(StanzaId(back[1]), "h2");
  EXPECT_TRUE(a.bounced.empty());
  EXPECT_FALSE(a.service->Send(Message("alice@a.test", "x@silent.test", "h3", "3")).ok());
  ASSERT_EQ(a.bounced.size(), 1u);
  EXPECT_EQ(a.bounced[0].condition, StanzaErrorCondition::kServiceUnavailable);
  RunFor(100ms);
}

TEST_F(S2sServiceTest, IdleStreamsAreClosedAndReopenedOnDemand) {
  Node a("a.test", "a"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.config->idle_timeout = 300ms;
  a.Start(io_);
  b.Start(io_);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "i1", "1")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 1; }));
  ASSERT_EQ(a.service->outbound_connections(), 1u);
  ASSERT_TRUE(RunUntil(
      [&] {
        return a.service->outbound_connections() == 0 && b.service->inbound_connections() == 0;
      },
      5s));
  EXPECT_EQ(a.service->stats().idle_closed, 1u);
  ASSERT_TRUE(a.service->Send(Message("alice@a.test", "bob@b.test", "i2", "2")).ok());
  ASSERT_TRUE(RunUntil([&] { return b.received.size() == 2; }));
  EXPECT_EQ(a.service->stats().streams_authenticated_out, 2u);
  EXPECT_TRUE(a.bounced.empty());
}

TEST_F(S2sServiceTest, InboundConnectionsPerIpAreCapped) {
  Node b("b.test", "b");
  b.config->max_inbound_per_ip = 2;
  b.Start(io_);
  std::vector<asio::ip::tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(io_);
    boost::system::error_code ec;
    clients.back().connect({asio::ip::make_address("127.0.0.1"), b.port}, ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  ASSERT_TRUE(RunUntil([&] { return b.service->stats().inbound_refused == 1; }, 3s));
  EXPECT_EQ(b.service->inbound_connections(), 2u);
  EXPECT_EQ(b.service->stats().streams_in, 2u);
  clients.clear();  // closed without a word: the streams end and free their slots
  ASSERT_TRUE(RunUntil([&] { return b.service->inbound_connections() == 0; }, 3s));
}

// What the hand-driven peer sends once TLS is up and the restarted stream's features are in:
// `send` gets everything read over TLS so far (the stream id is in there), `until` ends the
// read that follows.
struct PeerStep {
  std::function<std::string(const std::string& read_so_far)> send;
  std::string until;
};

// A hand-driven initiating peer on blocking sockets: sends the TLS ClientHello in the same
// write as <starttls/>, before <proceed/> arrives, so the receiving side reads TLS bytes in its
// plaintext read. Returns what came over TLS: the restarted stream's features and the answers
// to `steps` (partial when a step's read fails; "" when TLS never came up).
std::string StartTlsWithEarlyClientHello(uint16_t port, const std::vector<PeerStep>& steps = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return "";
  auto send_all = [fd](const std::string& bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  };
  auto recv_some = [fd](std::string* into) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    into->append(buf, static_cast<size_t>(n));
    return true;
  };
  const std::string header =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
      "from='a.test' to='b.test' version='1.0'>";
  std::string plain;
  if (!send_all(header)) return "";
  while (plain.find("</stream:features>") == std::string::npos) {
    if (!recv_some(&plain)) return "";
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  SSL_set_tlsext_host_name(ssl, "b.test");
  auto drain = [out] {
    std::string bytes;
    char buf[4096];
    int n;
    while ((n = BIO_read(out, buf, sizeof(buf))) > 0) bytes.append(buf, static_cast<size_t>(n));
    return bytes;
  };
  std::string features;
  SSL_do_handshake(ssl);  // WANT_READ: the ClientHello is in `out`
  bool ok = send_all("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + drain());
  // <proceed/> in plaintext; whatever follows it in the same reads is TLS.
  plain.clear();
  size_t proceed_end = std::string::npos;
  while (ok && proceed_end == std::string::npos) {
    ok = recv_some(&plain);
    size_t at = plain.find("<proceed");
    if (at != std::string::npos) {
      size_t close = plain.find("/>", at);
      if (close != std::string::npos) proceed_end = close + 2;
    }
  }
  if (ok) BIO_write(in, plain.data() + proceed_end, static_cast<int>(plain.size() - proceed_end));
  while (ok) {
    int r = SSL_do_handshake(ssl);
    std::string to_send = drain();
    if (!to_send.empty()) ok = send_all(to_send);
    if (r == 1) break;
    if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) ok = false;
    std::string more;
    if (ok && (ok = recv_some(&more))) BIO_write(in, more.data(), static_cast<int>(more.size()));
  }
  if (ok) {
    SSL_write(ssl, header.data(), static_cast<int>(header.size()));
    ok = send_all(drain());
  }
  while (ok && features.find("</stream:features>") == std::string::npos) {
    char buf[4096];
    int n = SSL_read(ssl, buf, sizeof(buf));
    if (n > 0) {
      features.append(buf, static_cast<size_t>(n));
      continue;
    }
    std::string more;
    if ((ok = recv_some(&more))) BIO_write(in, more.data(), static_cast<int>(more.size()));
  }
  const bool tls_up = ok;
  for (const PeerStep& step : steps) {
    if (!ok) break;
    std::string bytes = step.send(features);
    SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size()));
    ok = send_all(drain());
    const size_t from = features.size();
    while (ok && features.find(step.until, from) == std::string::npos) {
      char buf[4096];
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n > 0) {
        features.append(buf, static_cast<size_t>(n));
        continue;
      }
      std::string more;
      if ((ok = recv_some(&more))) BIO_write(in, more.data(), static_cast<int>(more.size()));
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return tls_up ? features : "";
}

TEST_F(S2sServiceTest, TlsBytesInTheStartTlsReadGoToTheHandshake) {
  Node b("b.test", "b");
  b.Start(io_);
  std::atomic<bool> done{false};
  std::string features;
  std::thread peer([&] {
    features = StartTlsWithEarlyClientHello(b.port);
    done = true;
  });
  bool finished = RunUntil([&] { return done.load(); }, 15s);
  peer.join();
  ASSERT_TRUE(finished);
  // The restarted stream's features: no STARTTLS any more, dialback offered (no client cert).
  EXPECT_NE(features.find("features"), std::string::npos) << features;
  EXPECT_EQ(features.find("starttls"), std::string::npos) << features;
  EXPECT_NE(features.find("dialback"), std::string::npos) << features;
}

// Someone claims to be a.test with a made-up dialback key: b asks a (the authoritative server)
// over its outbound stream, a answers invalid, b refuses the pair and ends the stream.
TEST_F(S2sServiceTest, SpoofedDialbackKeyIsRefusedAfterAskingTheAuthoritativeServer) {
  Node a("a.test", "a"), b("b.test", "b");
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  std::atomic<bool> done{false};
  std::string answer;
  std::thread spoofer([&] {
    answer = StartTlsWithEarlyClientHello(b.port,
                                          {{[](const std::string&) {
                                              return "<db:result from='a.test' to='b.test'>"
                                                     "00112233445566778899aabbccddeeff</db:result>";
                                            },
                                            "</stream:stream>"}});
    done = true;
  });
  bool finished = RunUntil([&] { return done.load(); }, 15s);
  spoofer.join();
  ASSERT_TRUE(finished);
  EXPECT_NE(answer.find("type='invalid'"), std::string::npos) << answer;
  EXPECT_NE(answer.find("not-authorized"), std::string::npos) << answer;
  EXPECT_EQ(b.service->stats().dialback_verifies_sent, 1u);
  EXPECT_EQ(b.service->stats().pairs_dialback, 0u);
  EXPECT_EQ(a.service->stats().pairs_dialback, 0u);
  EXPECT_TRUE(b.received.empty());
}

// A stanza the receiving machine refuses without closing the stream (a malformed localpart in
// 'to', jid-malformed): its error reply goes back to the sender's domain through Send, on b's
// outbound stream to a.
TEST_F(S2sServiceTest, StanzaErrorRepliesGoBackThroughTheOutboundStream) {
  Node a("a.test", "a"), b("b.test", "b");  // the raw peer has no certificate: dialback
  a.RouteTo(b);
  b.RouteTo(a);
  a.Start(io_);
  b.Start(io_);
  const std::string secret = a.config->dialback_secret;
  std::atomic<bool> done{false};
  std::string answer;
  std::thread peer([&] {
    answer = StartTlsWithEarlyClientHello(
        b.port, {{[&secret](const std::string& so_far) {
                    // The id of the restarted stream: the last id='...' read so far.
                    size_t at = so_far.rfind("id='");
                    std::string id = so_far.substr(at + 4, so_far.find('\'', at + 4) - at - 4);
                    return "<db:result from='a.test' to='b.test'>" +
                           s2s::DialbackKey(secret, "b.test", "a.test", id) + "</db:result>";
                  },
                  "type='valid'"},
                 {[](const std::string&) {
                    return std::string(
                        "<message xmlns='jabber:server' from='alice@a.test' "
                        "to='bad\"name@b.test' id='bad1' type='chat'><body>x</body>"
                        "</message></stream:stream>");
                  },
                  "</stream:stream>"}});
    done = true;
  });
  bool finished = RunUntil([&] { return done.load() && !a.received.empty(); }, 15s);
  peer.join();
  ASSERT_TRUE(finished) << answer;
  const Element& reply = a.received[0].stanza;
  EXPECT_EQ(StanzaType(reply), "error");
  EXPECT_EQ(StanzaId(reply), "bad1");
  EXPECT_EQ(StanzaTo(reply), "alice@a.test");
  EXPECT_EQ(StanzaFrom(reply), "b.test");
  std::optional<ReceivedStanzaError> error = ReadStanzaError(reply);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->condition, StanzaErrorCondition::kJidMalformed);
  EXPECT_TRUE(b.received.empty());
}

}  // namespace
}  // namespace causeway::xmpp::io
