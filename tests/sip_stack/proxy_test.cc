// Proxy core (RFC 3261 §16) against a recording transaction layer, so each test can play the
// downstream side (responses, timeouts, transport errors) step by step. sip_server_test.cc runs
// the same proxy over the real transaction layer and a fake transport.

#include "sip/stack/proxy.h"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/status.h"
#include "core/strings.h"
#include "core/timer_wheel.h"
#include "gtest/gtest.h"

namespace causeway::sip {
namespace {

class AddressOnlyTransport : public Transport {
 public:
  void Send(const Destination&, std::string, uint64_t) override { ++sends; }
  NetAddress AdvertisedAddress(TransportKind kind, bool v6) const override {
    uint16_t port = kind == TransportKind::kTls ? 5061 : 5060;
    return v6 ? *NetAddress::Parse("::1", port) : *NetAddress::Parse("127.0.0.1", port);
  }
  bool Supports(TransportKind) const override { return true; }
  int sends = 0;
};

class RecordingTransactions : public ProxyTransactions {
 public:
  struct Sent {
    ProxyClientTxId id;
    SipMessage request;
    Destination to;
  };
  absl::StatusOr<ProxyClientTxId> SendRequest(SipMessage request, const Destination& to) override {
    if (fail_sends) return absl::UnavailableError("refused");
    ProxyClientTxId id = next_id++;
    sent.push_back({id, std::move(request), to});
    return id;
  }
  absl::Status SendResponse(ProxyServerTxId server, SipMessage response) override {
    if (finals_by_server[server] && response.status_code() >= 300) {
      return absl::FailedPreconditionError("final already sent");
    }
    if (response.status_code() >= 200) finals_by_server[server] = true;
    responses.push_back(std::move(response));
    return absl::OkStatus();
  }
  absl::Status CancelClient(ProxyClientTxId client) override {
    cancelled.push_back(client);
    return absl::OkStatus();
  }
  absl::Status SendStateless(const SipMessage& message, const Destination& to) override {
    stateless.push_back({0, message.Clone(), to});
    return absl::OkStatus();
  }
  std::string NewBranch() override { return absl::StrCat("z9hG4bKcw0.b", ++branches); }

  std::vector<Sent> sent;
  std::vector<SipMessage> responses;
  std::vector<ProxyClientTxId> cancelled;
  std::vector<Sent> stateless;
  std::map<ProxyServerTxId, bool> finals_by_server;
  ProxyClientTxId next_id = 100;
  int branches = 0;
  bool fail_sends = false;
};

// Resolves IP-literal URIs to themselves (port default 5060, transport param), answers host
// names from a table, synchronously.
class TableResolver : public NextHopResolver {
 public:
  void Resolve(const Uri& uri, Callback done) override {
    ++calls;
    std::string host(uri.host());
    if (auto it = table.find(host); it != table.end()) {
      done(it->second);
      return;
    }
    std::optional<NetAddress> a = NetAddress::Parse(host, uri.port().value_or(5060));
    if (!a) {
      done(SipError(404, "no such domain"));
      return;
    }
    Destination d;
    d.address = *a;
    TransportKind kind = TransportKind::kUdp;
    if (!uri.transport().empty()) ParseTransportName(uri.transport(), &kind);
    d.kind = kind;
    done(std::vector<Destination>{d});
  }
  std::map<std::string, std::vector<Destination>> table;
  int calls = 0;
};

class Directory : public AorDirectory {
 public:
  bool Exists(std::string_view aor) const override { return aor == "sip:bob@example.com"; }
};

SipMessage Parse(std::string text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

// A request from the caller at 127.0.0.2 with `extra` header lines (each ending in \r\n).
SipMessage Request(std::string_view method, std::string_view ruri, std::string_view extra = "",
                   std::string_view max_forwards = "Max-Forwards: 70\r\n") {
  return Parse(absl::StrCat(
      ToAbsl(method), " ", ToAbsl(ruri), " SIP/2.0\r\n",
      "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-caller1;received=127.0.0.2;rport=5062\r\n",
      "From: <sip:carol@example.com>;tag=from1\r\n", "To: <sip:alice@example.com>\r\n",
      "Call-ID: call-1@127.0.0.2\r\n", "CSeq: 1 ", ToAbsl(method), "\r\n",
      ToAbsl(max_forwards), "Contact: <sip:carol@127.0.0.2:5062>\r\n", ToAbsl(extra),
      "Content-Length: 0\r\n\r\n"));
}

class ProxyTest : public ::testing::Test {
 protected:
  ProxyTest() : wheel_(clock_) { Make({}); }

  void Make(ProxyOptions options, const AorDirectory* directory = nullptr) {
    options.domains = {"example.com"};
    proxy_ = std::make_unique<Proxy>(tx_, transport_, resolver_, store_, wheel_, clock_, options,
                                     directory);
    info_.kind = TransportKind::kUdp;
    info_.source = *NetAddress::Parse("127.0.0.2:5062");
    info_.local = *NetAddress::Parse("127.0.0.1:5060");
  }

  // Registers `contact` for alice@example.com over the given flow.
  void Bind(std::string contact, TransportKind kind = TransportKind::kUdp,
            ConnectionId connection = 0, std::string source = "127.0.0.3:5070") {
    RegisterUpdate u;
    u.call_id = absl::StrCat("reg-", contact);
    u.cseq = 1;
    u.flow.kind = kind;
    u.flow.connection = connection;
    u.flow.source = *NetAddress::Parse(source);
    ContactUpdate c;
    c.contact_uri = contact;
    c.contact_key = contact;
    c.expires = std::chrono::seconds(3600);
    u.contacts.push_back(c);
    ASSERT_TRUE(store_.Apply("sip:alice@example.com", u, clock_.Now()).ok());
  }

  void Deliver(SipMessage request, ProxyServerTxId server = 1) {
    proxy_->OnRequest(server, std::move(request), info_);
  }

  // The downstream answer `code` to the request sent as tx_.sent[i].
  void Answer(size_t i, int code, std::string_view to_tag = "callee") {
    SipMessage response = MakeResponse(tx_.sent[i].request, code, {}, to_tag);
    proxy_->OnResponse(tx_.sent[i].id, std::move(response), info_);
  }

  std::vector<int> Codes() const {
    std::vector<int> codes;
    for (const SipMessage& r : tx_.responses) codes.push_back(r.status_code());
    return codes;
  }

  SimulatedClock clock_;
  TimerWheel wheel_;
  LocationStore store_;
  AddressOnlyTransport transport_;
  RecordingTransactions tx_;
  TableResolver resolver_;
  ReceiveInfo info_;
  std::unique_ptr<Proxy> proxy_;
};

TEST_F(ProxyTest, MaxForwardsZeroIs483) {
  Deliver(Request("MESSAGE", "sip:bob@other.net", "", "Max-Forwards: 0\r\n"));
  EXPECT_EQ(Codes(), std::vector<int>{483});
  EXPECT_TRUE(tx_.sent.empty());
  EXPECT_EQ(proxy_->stats().too_many_hops, 1u);
}

TEST_F(ProxyTest, MaxForwardsDecrementedOrDefaulted) {
  Deliver(Request("MESSAGE", "sip:bob@127.0.0.9", "", "Max-Forwards: 5\r\n"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(tx_.sent[0].request.max_forwards(), 4);
  Deliver(Request("MESSAGE", "sip:bob@127.0.0.9", "", ""), 2);
  ASSERT_EQ(tx_.sent.size(), 2u);
  EXPECT_EQ(tx_.sent[1].request.max_forwards(), 70);
}

TEST_F(ProxyTest, ForwardsToForeignDomainWithViaAndRecordRoute) {
  Deliver(Request("INVITE", "sip:bob@127.0.0.9:5080"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  const SipMessage& out = tx_.sent[0].request;
  EXPECT_EQ(out.request_uri_text(), "sip:bob@127.0.0.9:5080");
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.9:5080");
  ASSERT_EQ(out.vias().size(), 2u);
  EXPECT_EQ(out.vias()[0].host, "127.0.0.1");
  EXPECT_EQ(out.vias()[0].port, 5060);
  EXPECT_TRUE(out.vias()[0].branch.starts_with("z9hG4bKcw0.b1."));
  EXPECT_EQ(out.vias()[1].branch, "z9hG4bK-caller1");
  ASSERT_EQ(out.record_routes().size(), 1u);
  EXPECT_EQ(out.record_routes()[0].uri_text, "sip:127.0.0.1:5060;lr");
  // Responses lose our Via and go upstream.
  Answer(0, 180);
  Answer(0, 200);
  ASSERT_EQ(Codes(), (std::vector<int>{180, 200}));
  EXPECT_EQ(tx_.responses[1].vias().size(), 1u);
  EXPECT_EQ(tx_.responses[1].vias()[0].branch, "z9hG4bK-caller1");
  EXPECT_EQ(proxy_->context_count(), 0u);
}

TEST_F(ProxyTest, NoRecordRouteForNonDialogRequests) {
  Deliver(Request("MESSAGE", "sip:bob@127.0.0.9"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_TRUE(tx_.sent[0].request.record_routes().empty());
}

TEST_F(ProxyTest, HundredTryingIsNotForwarded) {
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"));
  Answer(0, 100);
  EXPECT_TRUE(tx_.responses.empty());
}

TEST_F(ProxyTest, LoopIs482ButSpiralIsForwarded) {
  Deliver(Request("MESSAGE", "sip:bob@127.0.0.9"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  // The same request comes back to us unchanged: a loop.
  SipMessage looped = Parse(tx_.sent[0].request.Serialize());
  Deliver(std::move(looped), 2);
  EXPECT_EQ(Codes(), std::vector<int>{482});
  EXPECT_EQ(proxy_->stats().loops, 1u);
  // It comes back with a different Request-URI (retargeted downstream): a spiral.
  SipMessage spiral = Parse(tx_.sent[0].request.Serialize());
  ASSERT_TRUE(spiral.SetRequestUri("sip:bob@127.0.0.10").ok());
  Deliver(std::move(spiral), 3);
  EXPECT_EQ(tx_.sent.size(), 2u);
}

TEST_F(ProxyTest, UnknownProxyRequireIs420WithUnsupported) {
  Deliver(Request("INVITE", "sip:bob@127.0.0.9", "Proxy-Require: foo, bar\r\n"));
  ASSERT_EQ(Codes(), std::vector<int>{420});
  auto unsupported = tx_.responses[0].HeaderValues(HeaderId::kUnsupported);
  ASSERT_EQ(unsupported.size(), 2u);
  EXPECT_EQ(unsupported[0], "foo");
  // A supported one passes.
  ProxyOptions options;
  options.supported_proxy_options = {"foo"};
  Make(options);
  Deliver(Request("INVITE", "sip:bob@127.0.0.9", "Proxy-Require: foo\r\n"), 2);
  EXPECT_EQ(tx_.sent.size(), 1u);
}

TEST_F(ProxyTest, OwnRouteIsStrippedAndNextRouteIsTheNextHop) {
  Deliver(Request("BYE", "sip:bob@192.0.2.50",
                  "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.8:5090;lr>\r\n"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  const SipMessage& out = tx_.sent[0].request;
  EXPECT_EQ(out.request_uri_text(), "sip:bob@192.0.2.50");  // unchanged: loose routing
  ASSERT_EQ(out.routes().size(), 1u);
  EXPECT_EQ(out.routes()[0].uri_text, "sip:127.0.0.8:5090;lr");
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.8:5090");
}

TEST_F(ProxyTest, StrictRouteFixUp) {
  // A strict router put our URI in the Request-URI; the real one is the last Route.
  Deliver(Request("BYE", "sip:127.0.0.1:5060", "Route: <sip:bob@127.0.0.9:5099>\r\n"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(tx_.sent[0].request.request_uri_text(), "sip:bob@127.0.0.9:5099");
  EXPECT_TRUE(tx_.sent[0].request.routes().empty());
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.9:5099");
}

TEST_F(ProxyTest, RoutesToRegisteredContactOverItsFlow) {
  Bind("sip:alice@192.168.1.20:5060;transport=tcp", TransportKind::kTcp, 77, "127.0.0.3:40001");
  Deliver(Request("INVITE", "sip:alice@example.com"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  const RecordingTransactions::Sent& s = tx_.sent[0];
  EXPECT_EQ(s.request.request_uri_text(), "sip:alice@192.168.1.20:5060;transport=tcp");
  EXPECT_EQ(s.to.kind, TransportKind::kTcp);
  EXPECT_EQ(s.to.connection, 77u);
  EXPECT_EQ(s.to.address.ToString(), "127.0.0.3:40001");
  EXPECT_EQ(resolver_.calls, 0);
  EXPECT_EQ(s.request.vias()[0].transport, "TCP");
  // UDP in, TCP out: one Record-Route per side (RFC 5658).
  ASSERT_EQ(s.request.record_routes().size(), 2u);
  EXPECT_EQ(s.request.record_routes()[0].uri_text, "sip:127.0.0.1:5060;transport=tcp;lr");
  EXPECT_EQ(s.request.record_routes()[1].uri_text, "sip:127.0.0.1:5060;lr");
}

TEST_F(ProxyTest, ContactOnTheRegisteringHostButAnotherPortGetsTheRequest) {
  // A UA that registers from an ephemeral port (or from a helper process) but listens on its
  // Contact port: RFC 3261 §16.5 sends to the Contact, not to the REGISTER's source.
  Bind("sip:alice@127.0.0.3:5080;transport=tcp", TransportKind::kTcp, 77, "127.0.0.3:40001");
  Deliver(Request("MESSAGE", "sip:alice@example.com"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(resolver_.calls, 1);
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.3:5080");
  EXPECT_EQ(tx_.sent[0].to.connection, 0u);
}

TEST_F(ProxyTest, OutboundInstanceAlwaysUsesTheRegistrationFlow) {
  RegisterUpdate u;
  u.call_id = "reg-outbound";
  u.cseq = 1;
  u.flow.kind = TransportKind::kTls;
  u.flow.connection = 9;
  u.flow.source = *NetAddress::Parse("127.0.0.3:40003");
  ContactUpdate c;
  c.contact_uri = "sip:alice@127.0.0.3:5081;transport=tls";
  c.contact_key = c.contact_uri;
  c.expires = std::chrono::seconds(3600);
  c.instance_id = "<urn:uuid:00000000-0000-0000-0000-000000000001>";
  u.contacts.push_back(c);
  ASSERT_TRUE(store_.Apply("sip:alice@example.com", u, clock_.Now()).ok());
  Deliver(Request("MESSAGE", "sip:alice@example.com"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(resolver_.calls, 0);
  EXPECT_EQ(tx_.sent[0].to.connection, 9u);
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.3:40003");
}

TEST_F(ProxyTest, GruuReachesOnlyTheInstanceItNames) {
  auto bind = [this](std::string_view instance, std::string_view epid, ConnectionId connection,
                     std::string_view source) {
    RegisterUpdate u;
    u.call_id = absl::StrCat("reg-", ToAbsl(instance));
    u.cseq = 1;
    u.epid = std::string(epid);
    u.flow.kind = TransportKind::kTls;
    u.flow.connection = connection;
    u.flow.source = *NetAddress::Parse(source);
    ContactUpdate c;
    c.contact_uri = absl::StrCat("sip:alice@", ToAbsl(source), ";transport=tls");
    c.contact_key = c.contact_uri;
    c.expires = std::chrono::seconds(3600);
    c.instance_id = absl::StrCat("<urn:uuid:", ToAbsl(instance), ">");
    u.contacts.push_back(c);
    ASSERT_TRUE(store_.Apply("sip:alice@example.com", u, clock_.Now()).ok());
  };
  bind("0001", "epid1", 11, "127.0.0.3:40001");
  bind("0002", "epid2", 12, "127.0.0.4:40002");
  Deliver(Request("MESSAGE", "sip:alice@example.com;gr=urn:uuid:0002"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(tx_.sent[0].to.connection, 12u);
  Deliver(Request("MESSAGE", "sip:alice@example.com;opaque=user:epid:epid1;gruu"));
  ASSERT_EQ(tx_.sent.size(), 2u);
  EXPECT_EQ(tx_.sent[1].to.connection, 11u);
  // The AOR itself forks to both; a GRUU of an instance that is gone is 480 (RFC 5627 §7).
  Deliver(Request("MESSAGE", "sip:alice@example.com"));
  EXPECT_EQ(tx_.sent.size(), 4u);
  Deliver(Request("MESSAGE", "sip:alice@example.com;gr=urn:uuid:0003"));
  EXPECT_EQ(tx_.sent.size(), 4u);
  EXPECT_EQ(Codes().back(), 480);
}

TEST_F(ProxyTest, V6InV4OutGetsARecordRoutePerFamily) {
  info_.source = *NetAddress::Parse("[::1]:5062");
  info_.local = *NetAddress::Parse("[::1]:5060");
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  const SipMessage& out = tx_.sent[0].request;
  ASSERT_EQ(out.record_routes().size(), 2u);
  EXPECT_EQ(out.record_routes()[0].uri_text, "sip:127.0.0.1:5060;lr");
  EXPECT_EQ(out.record_routes()[1].uri_text, "sip:[::1]:5060;lr");
  EXPECT_EQ(out.vias()[0].host, "127.0.0.1");
  // Both of them are recognised as ours when they come back as Route values.
  SipMessage bye = Request("BYE", "sip:bob@127.0.0.9",
                           "Route: <sip:[::1]:5060;lr>, <sip:127.0.0.1:5060;lr>\r\n");
  Deliver(std::move(bye), 2);
  ASSERT_EQ(tx_.sent.size(), 2u);
  EXPECT_TRUE(tx_.sent[1].request.routes().empty());
}

TEST_F(ProxyTest, InDialogRequestThroughBothOwnRecordRoutes) {
  Deliver(Request("BYE", "sip:carol@127.0.0.2:5062",
                  "Route: <sip:127.0.0.1:5060;transport=tcp;lr>, <sip:127.0.0.1:5060;lr>\r\n"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_TRUE(tx_.sent[0].request.routes().empty());
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.2:5062");
}

TEST_F(ProxyTest, InDialogRequestToARegisteredContactUsesItsFlow) {
  Bind("sip:alice@192.168.1.20:5061;transport=tls", TransportKind::kTls, 31, "127.0.0.3:40002");
  Deliver(Request("BYE", "sip:alice@192.168.1.20:5061;transport=tls",
                  "Route: <sip:127.0.0.1:5060;lr>\r\n"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(tx_.sent[0].to.kind, TransportKind::kTls);
  EXPECT_EQ(tx_.sent[0].to.connection, 31u);
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.3:40002");
  EXPECT_EQ(resolver_.calls, 0);
  // The ACK for a 2xx takes the same flow.
  proxy_->OnAck(Request("ACK", "sip:alice@192.168.1.20:5061;transport=tls"), info_);
  ASSERT_EQ(tx_.stateless.size(), 1u);
  EXPECT_EQ(tx_.stateless[0].to.connection, 31u);
}

TEST_F(ProxyTest, ForkingFirst200WinsAndOthersAreCancelled) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  Deliver(Request("INVITE", "sip:alice@example.com"));
  ASSERT_EQ(tx_.sent.size(), 2u);
  Answer(0, 180, "a");
  Answer(1, 180, "b");
  EXPECT_EQ(Codes(), (std::vector<int>{180, 180}));
  Answer(1, 200, "b");
  EXPECT_EQ(Codes(), (std::vector<int>{180, 180, 200}));
  ASSERT_EQ(tx_.cancelled.size(), 1u);
  EXPECT_EQ(tx_.cancelled[0], tx_.sent[0].id);
  // The cancelled branch's 487 is absorbed; the context ends.
  Answer(0, 487, "a");
  EXPECT_EQ(Codes().size(), 3u);
  EXPECT_EQ(proxy_->context_count(), 0u);
}

TEST_F(ProxyTest, EverySecond2xxIsForwardedToo) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  Deliver(Request("INVITE", "sip:alice@example.com"));
  Answer(0, 200, "a");
  Answer(1, 200, "b");  // raced the CANCEL: still forwarded (§16.7 step 9)
  EXPECT_EQ(Codes(), (std::vector<int>{200, 200}));
}

TEST_F(ProxyTest, BestResponseWaitsForAllBranches) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  Deliver(Request("INVITE", "sip:alice@example.com"));
  Answer(0, 500);
  EXPECT_TRUE(tx_.responses.empty());
  Answer(1, 486);
  EXPECT_EQ(Codes(), std::vector<int>{486});  // lowest class wins
}

TEST_F(ProxyTest, SixXxWinsAndCancelsTheRest) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  Deliver(Request("INVITE", "sip:alice@example.com"));
  Answer(0, 180);
  Answer(1, 603);
  ASSERT_EQ(tx_.cancelled.size(), 1u);
  Answer(0, 487);
  EXPECT_EQ(Codes(), (std::vector<int>{180, 603}));
}

TEST_F(ProxyTest, PreferredFourXxAndChallengesAreAggregated) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  Deliver(Request("MESSAGE", "sip:alice@example.com"));
  ASSERT_EQ(tx_.sent.size(), 2u);
  proxy_->OnResponse(tx_.sent[0].id, MakeResponse(tx_.sent[0].request, 404, {}, "x"), info_);
  SipMessage challenge = MakeResponse(tx_.sent[1].request, 407, {}, "y");
  ASSERT_TRUE(challenge.AppendHeader(HeaderId::kProxyAuthenticate, "Digest realm=\"b\"").ok());
  proxy_->OnResponse(tx_.sent[1].id, std::move(challenge), info_);
  ASSERT_EQ(Codes(), std::vector<int>{407});
  EXPECT_EQ(tx_.responses[0].HeaderValues(HeaderId::kProxyAuthenticate).size(), 1u);
}

TEST_F(ProxyTest, InviteTimeoutGives408) {
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"));
  proxy_->OnClientTimeout(tx_.sent[0].id);
  EXPECT_EQ(Codes(), std::vector<int>{408});
  EXPECT_EQ(proxy_->stats().timeouts, 1u);
  EXPECT_EQ(proxy_->context_count(), 0u);
}

TEST_F(ProxyTest, NonInviteTimeoutIsNotAnswered408) {
  // RFC 4320 §4.2: the caller's transaction times out on its own.
  Deliver(Request("MESSAGE", "sip:bob@127.0.0.9"));
  proxy_->OnClientTimeout(tx_.sent[0].id);
  EXPECT_TRUE(tx_.responses.empty());
  EXPECT_EQ(proxy_->context_count(), 0u);
}

TEST_F(ProxyTest, LateResolverCallbackAfterDestructionIsHarmless) {
  class Deferred : public NextHopResolver {
   public:
    void Resolve(const Uri&, Callback done) override { pending.push_back(std::move(done)); }
    std::vector<Callback> pending;
  } deferred;
  auto proxy = std::make_unique<Proxy>(tx_, transport_, deferred, store_, wheel_, clock_,
                                       ProxyOptions{});
  proxy->OnRequest(1, Request("MESSAGE", "sip:bob@127.0.0.9"), info_);
  ASSERT_EQ(deferred.pending.size(), 1u);
  proxy.reset();
  Destination d;
  d.address = *NetAddress::Parse("127.0.0.9:5060");
  deferred.pending[0](std::vector<Destination>{d});
  EXPECT_TRUE(tx_.sent.empty());
}

TEST_F(ProxyTest, AsyncResolutionSendsWhenTheAnswerArrives) {
  class Deferred : public NextHopResolver {
   public:
    void Resolve(const Uri&, Callback done) override { pending.push_back(std::move(done)); }
    std::vector<Callback> pending;
  } deferred;
  Proxy proxy(tx_, transport_, deferred, store_, wheel_, clock_, ProxyOptions{});
  proxy.OnRequest(1, Request("MESSAGE", "sip:bob@far.example"), info_);
  EXPECT_TRUE(tx_.sent.empty());
  Destination d;
  d.address = *NetAddress::Parse("127.0.0.9:5060");
  deferred.pending[0](std::vector<Destination>{d});
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(tx_.sent[0].request.request_uri_text(), "sip:bob@far.example");
}

TEST_F(ProxyTest, TransportErrorTriesNextDestinationThenAnswers500) {
  Destination a, b;
  a.address = *NetAddress::Parse("127.0.0.11:5060");
  b.address = *NetAddress::Parse("127.0.0.12:5060");
  resolver_.table["pool.example.net"] = {a, b};
  Deliver(Request("MESSAGE", "sip:bob@pool.example.net"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  proxy_->OnClientTransportError(tx_.sent[0].id, SipError(503, "refused"));
  ASSERT_EQ(tx_.sent.size(), 2u);
  EXPECT_EQ(tx_.sent[1].to.address.ToString(), "127.0.0.12:5060");
  EXPECT_NE(tx_.sent[1].request.vias()[0].branch, tx_.sent[0].request.vias()[0].branch);
  proxy_->OnClientTransportError(tx_.sent[1].id, SipError(503, "refused"));
  // §16.7 step 6: the branch's 503 goes upstream as 500.
  EXPECT_EQ(Codes(), std::vector<int>{500});
}

TEST_F(ProxyTest, RequestToUsOrOurDomainWithoutUserIs404) {
  Deliver(Request("SUBSCRIBE", "sip:127.0.0.1:5060"));
  Deliver(Request("SUBSCRIBE", "sip:example.com"), 2);
  EXPECT_EQ(Codes(), (std::vector<int>{404, 404}));
  EXPECT_TRUE(tx_.sent.empty());
}

TEST_F(ProxyTest, ResolverNotFoundIs404AndOtherFailuresAre500) {
  class Failing : public NextHopResolver {
   public:
    void Resolve(const Uri&, Callback done) override { done(next); }
    absl::Status next;
  } failing;
  Proxy proxy(tx_, transport_, failing, store_, wheel_, clock_, ProxyOptions{});
  failing.next = absl::NotFoundError("NXDOMAIN far.example");
  proxy.OnRequest(1, Request("MESSAGE", "sip:bob@far.example"), info_);
  failing.next = absl::UnavailableError("timeout");
  proxy.OnRequest(2, Request("MESSAGE", "sip:bob@far.example"), info_);
  EXPECT_EQ(Codes(), (std::vector<int>{404, 500}));
}

TEST_F(ProxyTest, UnresolvableDomainUsesTheResolverCode) {
  Deliver(Request("MESSAGE", "sip:bob@nowhere.invalid"));
  EXPECT_EQ(Codes(), std::vector<int>{404});
}

TEST_F(ProxyTest, CancelFromCallerCancelsBranchesAndAnswers487) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  Deliver(Request("INVITE", "sip:alice@example.com"), 9);
  Answer(0, 180);
  proxy_->OnCancel(9);
  EXPECT_EQ(tx_.cancelled.size(), 2u);
  EXPECT_EQ(Codes(), (std::vector<int>{180, 487}));
  EXPECT_EQ(proxy_->stats().cancels, 1u);
  Answer(0, 487);
  EXPECT_EQ(Codes().size(), 2u);
  // The other callee answered before its CANCEL arrived: the 2xx still reaches the caller,
  // statelessly, since the INVITE server transaction already sent its 487.
  Answer(1, 200);
  EXPECT_EQ(Codes().size(), 2u);
  ASSERT_EQ(tx_.stateless.size(), 1u);
  EXPECT_EQ(tx_.stateless[0].request.status_code(), 200);
  EXPECT_EQ(tx_.stateless[0].to.address.ToString(), "127.0.0.2:5062");
  EXPECT_EQ(proxy_->context_count(), 0u);
  proxy_->OnCancel(9);  // stale: harmless
}

TEST_F(ProxyTest, UnregisteredUserIs480AndUnknownUserIs404) {
  Deliver(Request("INVITE", "sip:alice@example.com"));
  EXPECT_EQ(Codes(), std::vector<int>{480});
  Directory directory;
  Make({}, &directory);
  Deliver(Request("INVITE", "sip:nobody@example.com"), 2);
  Deliver(Request("INVITE", "sip:bob@example.com"), 3);
  EXPECT_EQ(Codes(), (std::vector<int>{480, 404, 480}));
}

// Originate: a local service's request, routed like a received one, final response to a callback.

TEST_F(ProxyTest, OriginatedRequestForksAndReportsTheFirst2xxOnce) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  std::vector<int> finals;
  ASSERT_TRUE(proxy_
                  ->Originate(Request("MESSAGE", "sip:alice@example.com"), info_,
                              [&finals](const SipMessage& r) { finals.push_back(r.status_code()); })
                  .ok());
  ASSERT_EQ(tx_.sent.size(), 2u);
  // Our Via above the originator's, which the responses keep.
  ASSERT_EQ(tx_.sent[0].request.vias().size(), 2u);
  EXPECT_EQ(tx_.sent[0].request.vias()[1].branch, "z9hG4bK-caller1");
  // Retargeted to each binding, like a received request.
  std::set<std::string_view> targets = {tx_.sent[0].request.request_uri_text(),
                                        tx_.sent[1].request.request_uri_text()};
  EXPECT_EQ(targets,
            (std::set<std::string_view>{"sip:alice@127.0.0.3:5070", "sip:alice@127.0.0.4:5070"}));
  Answer(0, 180, "a");  // provisionals are not reported
  EXPECT_TRUE(finals.empty());
  Answer(1, 200, "b");
  EXPECT_EQ(finals, std::vector<int>{200});
  Answer(0, 200, "a");  // a second 2xx is not a second final
  EXPECT_EQ(finals, std::vector<int>{200});
  EXPECT_TRUE(tx_.responses.empty());  // no server transaction was answered
  EXPECT_EQ(proxy_->context_count(), 0u);
  EXPECT_EQ(proxy_->stats().originated, 1u);
}

TEST_F(ProxyTest, OriginatedRequestGetsTheBestResponseOfItsBranches) {
  Bind("sip:alice@127.0.0.3:5070", TransportKind::kUdp, 0, "127.0.0.3:5070");
  Bind("sip:alice@127.0.0.4:5070", TransportKind::kUdp, 0, "127.0.0.4:5070");
  std::vector<int> finals;
  ASSERT_TRUE(proxy_
                  ->Originate(Request("MESSAGE", "sip:alice@example.com"), info_,
                              [&finals](const SipMessage& r) { finals.push_back(r.status_code()); })
                  .ok());
  ASSERT_EQ(tx_.sent.size(), 2u);
  Answer(0, 500);
  EXPECT_TRUE(finals.empty());  // the other branch may still do better
  Answer(1, 486);
  EXPECT_EQ(finals, std::vector<int>{486});
  EXPECT_TRUE(tx_.responses.empty());
}

TEST_F(ProxyTest, OriginatedRequestErrorsAreReportedAtOnce) {
  Directory directory;
  Make({}, &directory);
  std::vector<int> finals;
  auto record = [&finals](const SipMessage& r) { finals.push_back(r.status_code()); };
  ASSERT_TRUE(proxy_->Originate(Request("MESSAGE", "sip:bob@example.com"), info_, record).ok());
  EXPECT_EQ(finals, std::vector<int>{480});  // before Originate returned
  ASSERT_TRUE(proxy_->Originate(Request("MESSAGE", "sip:nobody@example.com"), info_, record).ok());
  ASSERT_TRUE(
      proxy_
          ->Originate(Request("MESSAGE", "sip:alice@example.com", "", "Max-Forwards: 0\r\n"), info_,
                      record)
          .ok());
  EXPECT_EQ(finals, (std::vector<int>{480, 404, 483}));
  EXPECT_TRUE(tx_.responses.empty());
  EXPECT_TRUE(tx_.sent.empty());
  EXPECT_EQ(proxy_->context_count(), 0u);

  // The originator may go on from inside its callback (here: the next message of a queue).
  Bind("sip:alice@127.0.0.3:5070");
  bool sent_next = false;
  ASSERT_TRUE(proxy_
                  ->Originate(Request("MESSAGE", "sip:bob@example.com"), info_,
                              [this, &sent_next](const SipMessage&) {
                                sent_next =
                                    proxy_
                                        ->Originate(Request("MESSAGE", "sip:alice@example.com"),
                                                    info_, [](const SipMessage&) {})
                                        .ok();
                              })
                  .ok());
  EXPECT_TRUE(sent_next);
  EXPECT_EQ(tx_.sent.size(), 1u);
}

TEST_F(ProxyTest, OriginatedRequestTimeoutIsReported408) {
  // Unlike a received non-INVITE (NonInviteTimeoutIsNotAnswered408): the originator has no
  // transaction of its own that would time out.
  std::vector<int> finals;
  ASSERT_TRUE(proxy_
                  ->Originate(Request("MESSAGE", "sip:bob@127.0.0.9"), info_,
                              [&finals](const SipMessage& r) { finals.push_back(r.status_code()); })
                  .ok());
  ASSERT_EQ(tx_.sent.size(), 1u);
  proxy_->OnClientTimeout(tx_.sent[0].id);
  EXPECT_EQ(finals, std::vector<int>{408});
  EXPECT_TRUE(tx_.responses.empty());
  EXPECT_EQ(proxy_->context_count(), 0u);
}

TEST_F(ProxyTest, OriginateRefusesWhatItCannotComplete) {
  int calls = 0;
  auto count = [&calls](const SipMessage&) { ++calls; };
  for (std::string_view method : {"INVITE", "ACK", "CANCEL"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(
        proxy_->Originate(Request(method, "sip:bob@127.0.0.9"), info_, count)))
        << method;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      proxy_->Originate(Request("MESSAGE", "sip:bob@127.0.0.9"), info_, nullptr)));
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(tx_.sent.empty());
  EXPECT_EQ(proxy_->stats().originated, 0u);
}

TEST_F(ProxyTest, TimerCCancelsARingingBranch) {
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"));
  Answer(0, 180);
  TimerWheel::AdvanceSimulated(clock_, wheel_, std::chrono::minutes(2));
  Answer(0, 183);  // resets Timer C
  TimerWheel::AdvanceSimulated(clock_, wheel_, std::chrono::minutes(2));
  EXPECT_TRUE(tx_.cancelled.empty());
  TimerWheel::AdvanceSimulated(clock_, wheel_, std::chrono::minutes(2));
  ASSERT_EQ(tx_.cancelled.size(), 1u);
  Answer(0, 487);
  EXPECT_EQ(Codes(), (std::vector<int>{180, 183, 487}));
}

TEST_F(ProxyTest, AckFor2xxIsForwardedStatelessly) {
  proxy_->OnAck(Request("ACK", "sip:bob@127.0.0.9:5080", "Route: <sip:127.0.0.1:5060;lr>\r\n"),
                info_);
  ASSERT_EQ(tx_.stateless.size(), 1u);
  const SipMessage& ack = tx_.stateless[0].request;
  EXPECT_EQ(tx_.stateless[0].to.address.ToString(), "127.0.0.9:5080");
  EXPECT_TRUE(ack.routes().empty());
  EXPECT_EQ(ack.vias().size(), 2u);
  EXPECT_EQ(ack.max_forwards(), 69);
  EXPECT_TRUE(tx_.sent.empty());
}

TEST_F(ProxyTest, Stray2xxIsForwardedToTheNextVia) {
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"));
  SipMessage ok = MakeResponse(tx_.sent[0].request, 200, {}, "callee");
  Answer(0, 200);
  ASSERT_EQ(proxy_->context_count(), 0u);
  // A retransmission after the transaction is gone arrives as a stray response.
  proxy_->OnStrayResponse(std::move(ok), info_);
  ASSERT_EQ(tx_.stateless.size(), 1u);
  EXPECT_EQ(tx_.stateless[0].to.address.ToString(), "127.0.0.2:5062");
  EXPECT_EQ(tx_.stateless[0].request.vias().size(), 1u);
  // A stray non-2xx is dropped; so is a response whose top Via is not ours.
  proxy_->OnStrayResponse(MakeResponse(tx_.sent[0].request, 486, {}, "x"), info_);
  proxy_->OnStrayResponse(MakeResponse(Request("INVITE", "sip:x@127.0.0.9"), 200, {}, "x"), info_);
  EXPECT_EQ(tx_.stateless.size(), 1u);
}

TEST_F(ProxyTest, FailedSendIsAnswered) {
  tx_.fail_sends = true;
  Deliver(Request("MESSAGE", "sip:bob@127.0.0.9"));
  EXPECT_EQ(Codes(), std::vector<int>{500});
  EXPECT_EQ(proxy_->context_count(), 0u);
}

TEST_F(ProxyTest, ContextLimitGives503) {
  ProxyOptions options;
  options.max_contexts = 1;
  Make(options);
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"), 1);
  Deliver(Request("INVITE", "sip:bob@127.0.0.9"), 2);
  EXPECT_EQ(Codes(), std::vector<int>{503});
}

TEST_F(ProxyTest, PathOfTheBindingBecomesTheRoute) {
  RegisterUpdate u;
  u.call_id = "r";
  u.cseq = 1;
  u.path = {"<sip:127.0.0.20:5060;lr>"};
  ContactUpdate c;
  c.contact_uri = "sip:alice@10.1.1.1";
  c.contact_key = c.contact_uri;
  c.expires = std::chrono::seconds(60);
  u.contacts.push_back(c);
  ASSERT_TRUE(store_.Apply("sip:alice@example.com", u, clock_.Now()).ok());
  Deliver(Request("MESSAGE", "sip:alice@example.com"));
  ASSERT_EQ(tx_.sent.size(), 1u);
  EXPECT_EQ(tx_.sent[0].to.address.ToString(), "127.0.0.20:5060");
  ASSERT_EQ(tx_.sent[0].request.routes().size(), 1u);
  EXPECT_EQ(tx_.sent[0].request.request_uri_text(), "sip:alice@10.1.1.1");
}

}  // namespace
}  // namespace causeway::sip
