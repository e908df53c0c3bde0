// The bus glue of federated presence: events from the other network reach the front end, and the
// front end's decisions come back out on the bus addressed to JIDs.
#include "gateway/presence_federation.h"

#include <memory>
#include <string>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/directory.h"
#include "core/timer_wheel.h"
#include "gtest/gtest.h"
#include "sip/lync/front_end.h"
#include "sip/stack/sip_server.h"
#include "tests/sip_stack/fake_transport.h"

namespace causeway::gateway {
namespace {

class NoResolver : public sip::NextHopResolver {
 public:
  void Resolve(const sip::Uri&, Callback done) override {
    done(absl::NotFoundError("no DNS in this test"));
  }
};

class PresenceFederationTest : public ::testing::Test {
 protected:
  PresenceFederationTest() {
    UserRecord alice;
    alice.uri = "sip:alice@lync.test";
    alice.display_name = "Alice A";
    directory_.Publish({alice});
    mappings::DomainMapConfig map;
    map.local = {{"lync.test", "lync.test"}};
    map.federated_domains = {"xmpp.test"};
    domains_ = std::make_shared<const mappings::DomainMap>(*mappings::DomainMap::Create(map));
    sip::SipServerOptions options;
    options.domains = {"lync.test"};
    options.purge_interval = Duration::zero();
    server_ = std::make_unique<sip::SipServer>(transport_, wheel_, clock_, location_, resolver_,
                                               options);
    sip::lync::FrontEndOptions fe;
    fe.domains = {"lync.test"};
    fe.federated_domain = FederatedDomains(domains_);
    state_ = std::make_unique<sip::lync::FrontEndState>(fe, store_, location_, &directory_);
    front_end_ = std::make_unique<sip::lync::FrontEnd>(*state_, *server_, clock_,
                                                       "<sip:127.0.0.1:5061;transport=tls>");
    server_->SetLocalService(front_end_.get());
    federation_ = std::make_unique<PresenceFederation>(*front_end_, bus_, domains_);
    seen_.push_back(bus_.Subscribe<SubscriptionEvent>([this](const SubscriptionEvent& e) {
      if (e.to.network == Network::kXmpp) subscriptions_.push_back(e);
    }));
    seen_.push_back(bus_.Subscribe<PresenceEvent>([this](const PresenceEvent& e) {
      if (e.to && e.to->network == Network::kXmpp) presences_.push_back(e);
    }));
  }
  ~PresenceFederationTest() override {
    federation_.reset();
    server_->SetLocalService(nullptr);
  }

  SimulatedClock clock_;
  TimerWheel wheel_{clock_};
  sip::testing::FakeTransport transport_{&clock_};
  sip::LocationStore location_;
  NoResolver resolver_;
  SnapshotDirectory directory_;
  sip::lync::MemoryRoamingStore store_;
  std::shared_ptr<const mappings::DomainMap> domains_;
  std::unique_ptr<sip::SipServer> server_;
  std::unique_ptr<sip::lync::FrontEndState> state_;
  std::unique_ptr<sip::lync::FrontEnd> front_end_;
  Bus bus_;
  std::unique_ptr<PresenceFederation> federation_;
  std::vector<Subscription> seen_;
  std::vector<SubscriptionEvent> subscriptions_;
  std::vector<PresenceEvent> presences_;
};

const Address kBobJid{Network::kXmpp, "bob", "xmpp.test", "phone"};

TEST_F(PresenceFederationTest, SubscribeForAnUnknownUserIsAnsweredUnsubscribedToTheJid) {
  SubscriptionEvent subscribe;
  subscribe.from = kBobJid.Bare();
  subscribe.to = Address{Network::kSip, "nobody", "lync.test", ""};
  ASSERT_TRUE(bus_.Publish(subscribe).ok());
  ASSERT_EQ(subscriptions_.size(), 1u);
  EXPECT_EQ(subscriptions_[0].action, SubscriptionAction::kUnsubscribed);
  EXPECT_EQ(subscriptions_[0].from, (Address{Network::kSip, "nobody", "lync.test", ""}));
  EXPECT_EQ(subscriptions_[0].to, kBobJid.Bare());
  EXPECT_EQ(federation_->stats().delivered, 1u);
  EXPECT_EQ(federation_->stats().published, 1u);
}

TEST_F(PresenceFederationTest, ProbeBeforeApprovalRevealsNothing) {
  // bob asks to see alice: pending until she allows him, so a probe is answered unsubscribed.
  SubscriptionEvent subscribe;
  subscribe.from = kBobJid.Bare();
  subscribe.to = Address{Network::kSip, "alice", "lync.test", ""};
  ASSERT_TRUE(bus_.Publish(subscribe).ok());
  ASSERT_EQ(subscriptions_.size(), 0u);  // pending: alice has not allowed him yet
  PresenceProbeEvent probe{kBobJid.Bare(), subscribe.to};
  ASSERT_TRUE(bus_.Publish(probe).ok());
  ASSERT_EQ(subscriptions_.size(), 1u);
  EXPECT_EQ(subscriptions_[0].action, SubscriptionAction::kUnsubscribed);
  EXPECT_TRUE(presences_.empty());
}

TEST_F(PresenceFederationTest, EventsThatAreNotForSipUsersAreLeftAlone) {
  // Our own outputs travel to kXmpp; a presence from a SIP address is not the other network's.
  PresenceEvent outgoing;
  outgoing.from = Address{Network::kSip, "alice", "lync.test", ""};
  outgoing.to = kBobJid.Bare();
  ASSERT_TRUE(bus_.Publish(outgoing).ok());
  // From a domain that is not federated: unmappable, counted, nothing reaches the front end.
  PresenceEvent stranger;
  stranger.from = Address{Network::kXmpp, "eve", "other.test", "x"};
  stranger.to = Address{Network::kSip, "alice", "lync.test", ""};
  stranger.availability = Availability::kAvailable;
  ASSERT_TRUE(bus_.Publish(stranger).ok());
  EXPECT_EQ(federation_->stats().delivered, 0u);
  EXPECT_EQ(federation_->stats().unmappable, 1u);
}

}  // namespace
}  // namespace causeway::gateway
