// The XMPP edge on loopback, in one process: an XmppEdge serving lync.test (built from a
// GatewayConfig through the wiring functions, TLS required, certificates from the test PKI of
// tests/xmpp_io) and a raw S2sService playing the XMPP server xmpp.test, both on one io_context
// run by the test thread, routed to each other by static routes.

#include "gateway/xmpp_edge.h"

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/runtime/worker.h"
#include "gateway/config.h"
#include "gateway/wiring.h"
#include "gtest/gtest.h"
#include "mappings/error_map.h"
#include "tests/xmpp_io/s2s_test_support.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/io/s2s_service.h"
#include "xmpp/io/s2s_tls.h"

namespace causeway::gateway {
namespace {

using namespace std::chrono_literals;
using xmpp::Element;
using xmpp::StanzaErrorCondition;
using xmpp::StanzaKind;
using xmpp::io::s2s_test::FreePort;
using xmpp::io::s2s_test::Loopback;
using xmpp::io::s2s_test::Pki;

constexpr std::string_view kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kNsDiscoItems = "http://jabber.org/protocol/disco#items";

TEST(XmppCaps, VerificationStringOfTheXep0115SimpleExample) {
  // XEP-0115 §5.2: Exodus 0.9.1 with four features.
  EXPECT_EQ(CapsVerification(
                {{"client", "pc", "", "Exodus 0.9.1"}},
                {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
                 "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"}),
            "QgayPKawpkPSDYmwT/WM94uAlu0=");
  // Order of the input does not matter; content does.
  EXPECT_EQ(
      CapsVerification({{"server", "im", "", "x"}, {"gateway", "simple", "", "x"}}, {"b", "a"}),
      CapsVerification({{"gateway", "simple", "", "x"}, {"server", "im", "", "x"}}, {"a", "b"}));
  EXPECT_NE(CapsVerification({{"client", "pc", "", "x"}}, {"a"}),
            CapsVerification({{"client", "pc", "", "x"}}, {"a", "b"}));
}

TEST(XmppWiring, DomainMapAndServiceConfigFollowTheXmppSection) {
  GatewayConfig config = DefaultConfig();
  config.sip.domains = {"lync.test", "corp.example"};
  config.xmpp.federated_domains = {"xmpp.test", "spam.test"};
  config.xmpp.blocked_domains = {"spam.test"};
  config.xmpp.static_routes = {
      {"xmpp.test", Loopback(5299)}, {"xmpp.test", Loopback(5300)}, {"other.test", Loopback(5301)}};
  config.xmpp.require_tls = false;
  config.xmpp.idle_timeout_s = 42;
  config.xmpp.max_queued_per_domain = 7;
  config.xmpp.dialback_secret = "fixed";
  config.dns.servers = {*NetAddress::Parse("127.0.0.53", 53)};

  // Empty xmpp.domains: one identity pair per served SIP domain.
  EXPECT_EQ(LocalXmppDomains(config), (std::vector<std::string>{"lync.test", "corp.example"}));
  absl::StatusOr<mappings::DomainMap> map = MakeDomainMap(config);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_TRUE(map->IsLocalXmppDomain("corp.example"));
  EXPECT_TRUE(map->XmppDomainFor("xmpp.test").ok());
  EXPECT_FALSE(map->XmppDomainFor("spam.test").ok());  // blocked beats the allow list
  EXPECT_FALSE(map->XmppDomainFor("elsewhere.test").ok());
  config.xmpp.open_federation = true;
  map = MakeDomainMap(config);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_TRUE(map->XmppDomainFor("elsewhere.test").ok());
  EXPECT_FALSE(map->XmppDomainFor("spam.test").ok());  // and beats open federation
  EXPECT_FALSE(map->SipDomainFor("spam.test").ok());

  config.xmpp.domains = {{"corp.example", "xmpp.corp.example"}};
  EXPECT_EQ(LocalXmppDomains(config), std::vector<std::string>{"xmpp.corp.example"});
  map = MakeDomainMap(config);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(*map->XmppDomainFor("corp.example"), "xmpp.corp.example");
  EXPECT_FALSE(map->IsLocalSipDomain("lync.test"));

  xmpp::io::S2sServiceConfig s2s = MakeS2sServiceConfig(config, {"xmpp.corp.example"});
  EXPECT_EQ(s2s.local_domains, std::vector<std::string>{"xmpp.corp.example"});
  EXPECT_EQ(s2s.listen, config.xmpp.listen);
  EXPECT_EQ(s2s.dialback_secret, "fixed");
  EXPECT_FALSE(s2s.stream.require_tls);
  EXPECT_EQ(s2s.idle_timeout, std::chrono::seconds(42));
  EXPECT_EQ(s2s.max_queued_per_domain, 7u);
  EXPECT_EQ(s2s.dns.dns.channel.servers, "127.0.0.53:53");
  ASSERT_EQ(s2s.static_routes.size(), 2u);
  EXPECT_EQ(s2s.static_routes.at("xmpp.test"),
            (std::vector<NetAddress>{Loopback(5299), Loopback(5300)}));  // failover order kept
  EXPECT_EQ(s2s.tls, nullptr);

  CertificateInfo certificate;
  certificate.certificate_path = "/c.pem";
  certificate.key_path = "/k.pem";
  config.tls.ca = "/ca.pem";
  std::vector<xmpp::io::S2sDomainTlsOptions> tls =
      MakeS2sTlsOptions(config, certificate, {"a.test", "b.test"});
  ASSERT_EQ(tls.size(), 2u);
  EXPECT_EQ(tls[1].domain, "b.test");
  EXPECT_EQ(tls[1].tls.certificate_chain_file, "/c.pem");
  EXPECT_EQ(tls[1].tls.private_key_file, "/k.pem");
  EXPECT_EQ(tls[1].tls.ca_file, "/ca.pem");
}

struct Received {
  Element stanza;
};

class XmppEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Pki().ok()) << "openssl CLI failed";
    static const bool leaves = Pki().AddLeaf("lync", "lync.test", "DNS:lync.test") &&
                               Pki().AddLeaf("xmpp", "xmpp.test", "DNS:xmpp.test");
    ASSERT_TRUE(leaves);
    edge_port_ = FreePort();
    peer_port_ = FreePort();

    config_ = DefaultConfig();
    config_.sip.domains = {"lync.test"};
    config_.tls.ca = Pki().Path("ca.pem");
    config_.xmpp.mode = XmppMode::kS2s;
    config_.xmpp.listen = {Loopback(edge_port_)};
    config_.xmpp.federated_domains = {"xmpp.test"};
    config_.xmpp.static_routes = {{"xmpp.test", Loopback(peer_port_)}};

    peer_config_->local_domains = {"xmpp.test"};
    peer_config_->listen = {Loopback(peer_port_)};
    peer_config_->dialback_secret = "peer secret";
    peer_config_->stream.step_timeout = 5s;
    peer_config_->reconnect_initial = 200ms;
    peer_config_->static_routes["lync.test"] = {Loopback(edge_port_)};
    auto tls = xmpp::io::S2sTls::Create({{"xmpp.test",
                                          {.certificate_chain_file = Pki().Path("xmpp.pem"),
                                           .private_key_file = Pki().Path("xmpp.key"),
                                           .ca_file = Pki().Path("ca.pem")}}});
    ASSERT_TRUE(tls.ok()) << tls.status();
    peer_config_->tls = *tls;
    auto peer = xmpp::io::S2sService::Create(
        io(), peer_config_,
        {.on_stanza = [this](
                          Element s,
                          const xmpp::s2s::DomainPair&) { peer_received_.push_back(std::move(s)); },
         .on_undeliverable =
             [this](Element s, StanzaErrorCondition) { peer_bounced_.push_back(std::move(s)); }});
    ASSERT_TRUE(peer.ok()) << peer.status();
    peer_ = *std::move(peer);

    im_sub_ = bus_.Subscribe<InstantMessageEvent>(
        [this](const InstantMessageEvent& e) { ims_.push_back(e); });
    failure_sub_ = bus_.Subscribe<DeliveryFailureEvent>(
        [this](const DeliveryFailureEvent& e) { failures_.push_back(e); });
  }

  // The edge from config_ the way the daemon builds it (wiring.h), with test-sized timers.
  void StartEdge(EdgeRouting* routing = nullptr) { StartEdgeOn(worker_, bus_, routing, &edge_); }
  void StartEdgeOn(runtime::Worker& worker, Bus& bus, EdgeRouting* routing,
                   std::unique_ptr<XmppEdge>* out) {
    absl::StatusOr<mappings::DomainMap> domains = MakeDomainMap(config_);
    ASSERT_TRUE(domains.ok()) << domains.status();
    std::vector<std::string> local = LocalXmppDomains(config_);
    ASSERT_EQ(local, std::vector<std::string>{"lync.test"});
    auto s2s = std::make_shared<xmpp::io::S2sServiceConfig>(MakeS2sServiceConfig(config_, local));
    EXPECT_TRUE(s2s->stream.require_tls);
    EXPECT_FALSE(s2s->dialback_secret.empty());  // random per process
    s2s->stream.step_timeout = 5s;
    s2s->reconnect_initial = 200ms;
    CertificateInfo certificate;
    certificate.certificate_path = Pki().Path("lync.pem");
    certificate.key_path = Pki().Path("lync.key");
    auto tls = xmpp::io::S2sTls::Create(MakeS2sTlsOptions(config_, certificate, local));
    ASSERT_TRUE(tls.ok()) << tls.status();
    s2s->tls = *tls;
    auto options = std::make_shared<XmppEdgeOptions>();
    options->s2s = s2s;
    options->domains = std::make_shared<const mappings::DomainMap>(*std::move(domains));
    options->blocked_domains = config_.xmpp.blocked_domains;
    options->resource = config_.xmpp.resource;
    auto edge = XmppEdge::Create(worker, bus, options, routing);
    ASSERT_TRUE(edge.ok()) << edge.status();
    *out = *std::move(edge);
    ASSERT_EQ((*out)->listen_addresses().size(), 1u);
    EXPECT_EQ((*out)->listen_addresses()[0].port(), edge_port_);
  }

  boost::asio::io_context& io() { return worker_.io_context(); }

  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      io().run_for(5ms);
    }
    return true;
  }
  void RunFor(std::chrono::milliseconds d) { io().run_for(d); }

  // Sends `stanza` from the peer and runs until the peer received `count` stanzas.
  bool PeerSendAndAwait(Element stanza, size_t count) {
    EXPECT_TRUE(peer_->Send(std::move(stanza)).ok());
    return RunUntil([&] { return peer_received_.size() >= count; });
  }

  static Element PeerMessage(std::string_view from, std::string_view to, std::string_view id,
                             std::string_view body) {
    Element m = xmpp::MakeStanza(StanzaKind::kMessage, xmpp::kNsServer, "chat", to, from, id);
    m.AddChild(xmpp::kNsServer, "body").SetText(body);
    return m;
  }
  static Element PeerIq(std::string_view type, std::string_view id, std::string_view ns,
                        std::string_view name) {
    Element iq =
        xmpp::MakeStanza(StanzaKind::kIq, xmpp::kNsServer, type, "lync.test", "xmpp.test", id);
    if (!ns.empty()) iq.AddChild(ns, name);
    return iq;
  }
  static InstantMessageEvent ImToBob(std::string id) {
    InstantMessageEvent im;
    im.message_id = std::move(id);
    im.conversation_id = "conv-1";
    im.from = {Network::kSip, "alice", "lync.test", ""};
    im.to = {Network::kXmpp, "bob", "xmpp.test", ""};
    im.body = "hello bob";
    im.receipt_requested = true;
    return im;
  }

  GatewayConfig config_;
  uint16_t edge_port_ = 0;
  uint16_t peer_port_ = 0;
  SteadyClock clock_;
  runtime::Worker worker_{0, clock_};  // never started: the test thread runs its io_context
  Bus bus_;
  std::shared_ptr<xmpp::io::S2sServiceConfig> peer_config_ =
      std::make_shared<xmpp::io::S2sServiceConfig>();
  std::unique_ptr<xmpp::io::S2sService> peer_;
  std::vector<Element> peer_received_;
  std::vector<Element> peer_bounced_;
  std::vector<InstantMessageEvent> ims_;
  std::vector<DeliveryFailureEvent> failures_;
  Subscription im_sub_;
  Subscription failure_sub_;
  std::unique_ptr<XmppEdge> edge_;  // destroyed first: its service lives on worker_'s io_context
};

TEST_F(XmppEdgeTest, InstantMessageEventArrivesAtThePeerAsMessage) {
  StartEdge();
  InstantMessageEvent im = ImToBob("m-1");
  im.accepted_at = std::chrono::steady_clock::now() - 2ms;  // read from SIP 2 ms ago
  ASSERT_TRUE(bus_.Publish(im).ok());
  ASSERT_TRUE(RunUntil([&] { return !peer_received_.empty(); })) << "nothing arrived";
  const Element& m = peer_received_[0];
  EXPECT_EQ(xmpp::KindOf(m), StanzaKind::kMessage);
  EXPECT_EQ(xmpp::StanzaFrom(m), "alice@lync.test/lync");
  EXPECT_EQ(xmpp::StanzaTo(m), "bob@xmpp.test");
  EXPECT_EQ(xmpp::StanzaId(m), "m-1");
  EXPECT_EQ(m.ChildText(m.ns(), "body"), "hello bob");
  EXPECT_NE(m.FindChild("urn:xmpp:receipts", "request"), nullptr);
  EXPECT_EQ(edge_->stats().stanzas_out, 1u);
  // The latency the gateway added, from reading the SIP message to the stanza on the stream.
  EXPECT_EQ(edge_->stats().forward_latency.count(), 1u);
  EXPECT_GE(edge_->stats().forward_latency.Quantile(1.0), 2000);
  EXPECT_TRUE(failures_.empty());
}

TEST_F(XmppEdgeTest, WorkersShareOneOutboundStreamPerRemoteDomain) {
  // Two workers, as the daemon runs them: IMs to xmpp.test published on either worker's bus leave
  // through the one stream of the worker owning xmpp.test, in the order each bus published them.
  runtime::Worker worker2{1, clock_};
  Bus bus2;
  EdgeRouting routing(2);
  std::unique_ptr<XmppEdge> edge2;
  StartEdge(&routing);
  StartEdgeOn(worker2, bus2, &routing, &edge2);
  ASSERT_NE(edge2, nullptr);
  Subscription failures2 = bus2.Subscribe<DeliveryFailureEvent>(
      [this](const DeliveryFailureEvent& e) { failures_.push_back(e); });
  const size_t owner = routing.OwnerIndex("xmpp.test");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(bus_.Publish(ImToBob(absl::StrCat("w0-", i))).ok());
    ASSERT_TRUE(bus2.Publish(ImToBob(absl::StrCat("w1-", i))).ok());
  }
  auto run_both = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 2000 && !done(); ++i) {
      io().poll();
      worker2.io_context().poll();
      std::this_thread::sleep_for(1ms);
    }
    return done();
  };
  ASSERT_TRUE(run_both([&] { return peer_received_.size() >= 6; }))
      << peer_received_.size() << " of 6 arrived";
  std::vector<std::string> from_w0, from_w1;
  for (const Element& m : peer_received_) {
    std::string id(xmpp::StanzaId(m));
    (id.starts_with("w0-") ? from_w0 : from_w1).push_back(id);
  }
  EXPECT_EQ(from_w0, (std::vector<std::string>{"w0-0", "w0-1", "w0-2"}));
  EXPECT_EQ(from_w1, (std::vector<std::string>{"w1-0", "w1-1", "w1-2"}));
  const XmppEdge& owning = owner == 0 ? *edge_ : *edge2;
  const XmppEdge& other = owner == 0 ? *edge2 : *edge_;
  EXPECT_EQ(owning.s2s_stats()->streams_out, 1u);
  EXPECT_EQ(other.s2s_stats()->streams_out, 0u);
  EXPECT_EQ(owning.stats().stanzas_out, 6u);
  EXPECT_EQ(other.stats().routed_to_owner, 3u);
  EXPECT_EQ(peer_->stats().streams_authenticated_in, 1u);
  EXPECT_TRUE(failures_.empty());
  edge2->Stop();
  edge_->Stop();
  io().poll();
  worker2.io_context().poll();
  edge2.reset();
}

TEST_F(XmppEdgeTest, PeerMessageBecomesAnInstantMessageEventForTheSipUser) {
  StartEdge();
  ASSERT_TRUE(peer_->Send(PeerMessage("bob@xmpp.test/phone", "alice@lync.test", "x-1", "hi")).ok());
  ASSERT_TRUE(RunUntil([&] { return !ims_.empty(); })) << "no event on the bus";
  const InstantMessageEvent& im = ims_[0];
  EXPECT_EQ(im.to, (Address{Network::kSip, "alice", "lync.test", ""}));
  EXPECT_EQ(im.from.network, Network::kXmpp);
  EXPECT_EQ(im.from.user, "bob");
  EXPECT_EQ(im.from.domain, "xmpp.test");
  EXPECT_EQ(im.message_id, "x-1");
  EXPECT_EQ(im.body, "hi");
  EXPECT_EQ(edge_->stats().events_published, 1u);
  EXPECT_TRUE(peer_received_.empty());  // nothing bounced
}

TEST_F(XmppEdgeTest, DiscoInfoItemsAndPingAreAnswered) {
  StartEdge();
  ASSERT_TRUE(PeerSendAndAwait(PeerIq("get", "d-1", kNsDiscoInfo, "query"), 1));
  const Element& info = peer_received_[0];
  EXPECT_EQ(xmpp::StanzaType(info), "result");
  EXPECT_EQ(xmpp::StanzaId(info), "d-1");
  EXPECT_EQ(xmpp::StanzaFrom(info), "lync.test");
  const Element* query = info.FindChild(kNsDiscoInfo, "query");
  ASSERT_NE(query, nullptr);
  std::vector<DiscoIdentity> identities;
  std::vector<std::string> features;
  for (const Element& child : query->children()) {
    if (child.name() == "identity") {
      identities.push_back({std::string(child.AttrOr("category", "")),
                            std::string(child.AttrOr("type", "")), "",
                            std::string(child.AttrOr("name", ""))});
    } else if (child.name() == "feature") {
      features.emplace_back(child.AttrOr("var", ""));
    }
  }
  auto has_identity = [&](std::string_view category, std::string_view type) {
    for (const DiscoIdentity& id : identities) {
      if (id.category == category && id.type == type) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_identity("gateway", "simple"));
  EXPECT_TRUE(has_identity("server", "im"));
  for (const char* feature : {"http://jabber.org/protocol/disco#info", "urn:xmpp:receipts",
                              "http://jabber.org/protocol/chatstates",
                              "http://jabber.org/protocol/xhtml-im", "urn:xmpp:ping"}) {
    EXPECT_NE(std::find(features.begin(), features.end(), feature), features.end()) << feature;
  }
  // What a caps-aware peer does with our presence: hash the answer and compare with ver.
  EXPECT_EQ(CapsVerification(identities, features), EdgeCapsVersion());

  // The node#ver query gives the same answer; an unknown node does not exist.
  Element node_query = PeerIq("get", "d-2", kNsDiscoInfo, "query");
  node_query.mutable_children()[0].SetAttr("node",
                                           std::string(kCapsNode) + "#" + EdgeCapsVersion());
  ASSERT_TRUE(PeerSendAndAwait(node_query, 2));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[1]), "result");
  Element other_node = PeerIq("get", "d-3", kNsDiscoInfo, "query");
  other_node.mutable_children()[0].SetAttr("node", "http://example.com/other");
  ASSERT_TRUE(PeerSendAndAwait(other_node, 3));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[2]), "error");
  auto error = xmpp::ReadStanzaError(peer_received_[2]);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->condition, StanzaErrorCondition::kItemNotFound);

  ASSERT_TRUE(PeerSendAndAwait(PeerIq("get", "i-1", kNsDiscoItems, "query"), 4));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[3]), "result");
  ASSERT_NE(peer_received_[3].FindChild(kNsDiscoItems, "query"), nullptr);
  EXPECT_TRUE(peer_received_[3].FindChild(kNsDiscoItems, "query")->children().empty());

  ASSERT_TRUE(PeerSendAndAwait(PeerIq("get", "p-1", "urn:xmpp:ping", "ping"), 5));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[4]), "result");
  EXPECT_EQ(xmpp::StanzaId(peer_received_[4]), "p-1");
  EXPECT_EQ(edge_->stats().iq_answered, 4u);
}

TEST_F(XmppEdgeTest, UnknownIqIsRefusedAndResultsAreNotAnswered) {
  StartEdge();
  ASSERT_TRUE(PeerSendAndAwait(PeerIq("set", "r-1", "jabber:iq:roster", "query"), 1));
  const Element& reply = peer_received_[0];
  EXPECT_EQ(xmpp::StanzaType(reply), "error");
  EXPECT_EQ(xmpp::StanzaId(reply), "r-1");
  auto error = xmpp::ReadStanzaError(reply);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->condition, StanzaErrorCondition::kServiceUnavailable);

  // An iq result / error is never answered: the ping sent after them is the next reply.
  ASSERT_TRUE(peer_->Send(PeerIq("result", "r-2", "", "")).ok());
  Element iq_error = PeerIq("error", "r-3", "", "");
  iq_error.AddChild(xmpp::MakeStanzaError(StanzaErrorCondition::kBadRequest, xmpp::kNsServer));
  ASSERT_TRUE(peer_->Send(std::move(iq_error)).ok());
  ASSERT_TRUE(PeerSendAndAwait(PeerIq("get", "p-2", "urn:xmpp:ping", "ping"), 2));
  EXPECT_EQ(xmpp::StanzaId(peer_received_[1]), "p-2");
  RunFor(50ms);
  EXPECT_EQ(peer_received_.size(), 2u);
  EXPECT_EQ(edge_->stats().iq_refused, 1u);
}

TEST_F(XmppEdgeTest, AvailablePresenceCarriesEntityCapabilities) {
  StartEdge();
  PresenceEvent presence;
  presence.from = {Network::kSip, "alice", "lync.test", ""};
  presence.to = Address{Network::kXmpp, "bob", "xmpp.test", ""};
  presence.availability = Availability::kAvailable;
  ASSERT_TRUE(bus_.Publish(presence).ok());
  ASSERT_TRUE(RunUntil([&] { return !peer_received_.empty(); }));
  const Element& p = peer_received_[0];
  EXPECT_EQ(xmpp::KindOf(p), StanzaKind::kPresence);
  EXPECT_EQ(xmpp::StanzaType(p), "");
  const Element* c = p.FindChild("http://jabber.org/protocol/caps", "c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->AttrOr("hash", ""), "sha-1");
  EXPECT_EQ(c->AttrOr("node", ""), kCapsNode);
  EXPECT_EQ(c->AttrOr("ver", ""), EdgeCapsVersion());

  // A broadcast (no `to`) is not the edge's to send, and other networks' events are ignored.
  PresenceEvent broadcast = presence;
  broadcast.to.reset();
  ASSERT_TRUE(bus_.Publish(broadcast).ok());
  InstantMessageEvent to_sip = ImToBob("m-sip");
  to_sip.to = {Network::kSip, "carol", "lync.test", ""};
  ASSERT_TRUE(bus_.Publish(to_sip).ok());
  RunFor(100ms);
  EXPECT_EQ(peer_received_.size(), 1u);
  EXPECT_EQ(edge_->stats().stanzas_out, 1u);
}

TEST_F(XmppEdgeTest, UnreachablePeerFailsTheMessageBackToTheSipSender) {
  config_.xmpp.static_routes = {{"xmpp.test", Loopback(FreePort())}};  // nothing listens
  StartEdge();
  ASSERT_TRUE(bus_.Publish(ImToBob("m-2")).ok());
  ASSERT_TRUE(RunUntil([&] { return !failures_.empty(); })) << "no failure event";
  const DeliveryFailureEvent& f = failures_[0];
  EXPECT_EQ(f.message_id, "m-2");
  EXPECT_EQ(f.to, (Address{Network::kSip, "alice", "lync.test", ""}));
  EXPECT_EQ(f.from.network, Network::kXmpp);
  EXPECT_EQ(f.from.user, "bob");
  EXPECT_EQ(f.from.domain, "xmpp.test");
  EXPECT_EQ(f.reason,
            mappings::FailureReasonFromXmppCondition(StanzaErrorCondition::kRemoteServerTimeout));
  EXPECT_EQ(f.text, "remote-server-timeout");
}

TEST_F(XmppEdgeTest, MessagesStillQueuedAtStopAreFailedAsUnavailable) {
  // A peer that accepts TCP and never speaks: the stream stays in negotiation.
  boost::asio::ip::tcp::acceptor silent(io(), {boost::asio::ip::make_address("127.0.0.1"), 0});
  config_.xmpp.static_routes = {{"xmpp.test", Loopback(silent.local_endpoint().port())}};
  StartEdge();
  ASSERT_TRUE(bus_.Publish(ImToBob("m-3")).ok());
  RunFor(200ms);
  EXPECT_TRUE(failures_.empty());
  edge_->Stop();
  ASSERT_EQ(failures_.size(), 1u);
  EXPECT_EQ(failures_[0].message_id, "m-3");
  EXPECT_EQ(failures_[0].reason, DeliveryFailureReason::kUnavailable);
  EXPECT_EQ(failures_[0].to, (Address{Network::kSip, "alice", "lync.test", ""}));
  EXPECT_EQ(edge_->s2s_stats(), nullptr);
  // After Stop, an IM for XMPP is failed at once.
  ASSERT_TRUE(bus_.Publish(ImToBob("m-4")).ok());
  ASSERT_EQ(failures_.size(), 2u);
  EXPECT_EQ(failures_[1].reason, DeliveryFailureReason::kUnavailable);
  edge_->Stop();  // idempotent
  EXPECT_EQ(failures_.size(), 2u);
}

TEST_F(XmppEdgeTest, BlockedDomainIsRefusedBothWays) {
  config_.xmpp.blocked_domains = {"xmpp.test"};
  config_.xmpp.federated_domains = {};
  config_.xmpp.open_federation = true;  // blocked wins over open federation
  StartEdge();
  // Inbound: an error reply, no event.
  ASSERT_TRUE(PeerSendAndAwait(PeerMessage("bob@xmpp.test", "alice@lync.test", "b-1", "spam"), 1));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[0]), "error");
  EXPECT_EQ(xmpp::StanzaId(peer_received_[0]), "b-1");
  auto error = xmpp::ReadStanzaError(peer_received_[0]);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->condition, StanzaErrorCondition::kItemNotFound);
  EXPECT_TRUE(ims_.empty());
  // Outbound: failed at once, nothing sent.
  ASSERT_TRUE(bus_.Publish(ImToBob("b-2")).ok());
  ASSERT_EQ(failures_.size(), 1u);
  EXPECT_EQ(failures_[0].message_id, "b-2");
  EXPECT_EQ(failures_[0].reason, DeliveryFailureReason::kRejected);
  RunFor(100ms);
  EXPECT_EQ(peer_received_.size(), 1u);
  EXPECT_EQ(edge_->stats().refused_domain, 2u);
}

TEST_F(XmppEdgeTest, DomainOutsideTheAllowListIsRefused) {
  config_.xmpp.federated_domains = {"elsewhere.test"};
  StartEdge();
  ASSERT_TRUE(PeerSendAndAwait(PeerMessage("bob@xmpp.test", "alice@lync.test", "n-1", "hi"), 1));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[0]), "error");
  EXPECT_EQ(xmpp::StanzaId(peer_received_[0]), "n-1");
  EXPECT_TRUE(ims_.empty());
  // Disco is not answered either: nothing about us for a domain we do not federate with.
  ASSERT_TRUE(PeerSendAndAwait(PeerIq("get", "d-9", kNsDiscoInfo, "query"), 2));
  EXPECT_EQ(xmpp::StanzaType(peer_received_[1]), "error");
  // An error stanza is never answered (RFC 6120 §8.3.1).
  Element error_message = xmpp::MakeStanza(StanzaKind::kMessage, xmpp::kNsServer, "error",
                                           "alice@lync.test", "bob@xmpp.test", "n-2");
  error_message.AddChild(
      xmpp::MakeStanzaError(StanzaErrorCondition::kItemNotFound, xmpp::kNsServer));
  ASSERT_TRUE(peer_->Send(std::move(error_message)).ok());
  ASSERT_TRUE(PeerSendAndAwait(PeerIq("get", "p-3", "urn:xmpp:ping", "ping"), 3));
  EXPECT_EQ(xmpp::StanzaId(peer_received_[2]), "p-3");  // an error too, not an answer to n-2
  RunFor(50ms);
  EXPECT_EQ(peer_received_.size(), 3u);
}

}  // namespace
}  // namespace causeway::gateway
