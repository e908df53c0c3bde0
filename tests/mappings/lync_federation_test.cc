#include "mappings/lync_federation.h"

#include <string>

#include "gtest/gtest.h"

namespace causeway::mappings {
namespace {

using sip::lync::FederationOutput;

DomainMap Domains() {
  DomainMapConfig config;
  config.local = {{"lync.test", "lync.test"}, {"corp.example", "xmpp.corp.example"}};
  config.federated_domains = {"xmpp.test"};
  absl::StatusOr<DomainMap> map = DomainMap::Create(config);
  EXPECT_TRUE(map.ok()) << map.status();
  return *std::move(map);
}

FederationOutput Output(FederationOutput::Kind kind, std::string from, std::string to) {
  FederationOutput out;
  out.kind = kind;
  out.from = std::move(from);
  out.to = std::move(to);
  return out;
}

TEST(LyncFederation, PresenceGoesToTheJidWithTheTableAvailability) {
  FederationOutput out = Output(FederationOutput::Kind::kPresence, "sip:alice@corp.example",
                                "sip:bob@xmpp.test");
  out.availability = 6500;
  out.note = "In a meeting";
  absl::StatusOr<FederationEvent> event = EventFromFederationOutput(out, Domains());
  ASSERT_TRUE(event.ok()) << event.status();
  const auto* presence = std::get_if<PresenceEvent>(&*event);
  ASSERT_NE(presence, nullptr);
  EXPECT_EQ(presence->from, (Address{Network::kSip, "alice", "corp.example", ""}));
  ASSERT_TRUE(presence->to.has_value());
  EXPECT_EQ(*presence->to, (Address{Network::kXmpp, "bob", "xmpp.test", ""}));
  EXPECT_EQ(presence->availability, Availability::kBusy);
  EXPECT_EQ(presence->note, "In a meeting");
  out.availability = 18500;
  event = EventFromFederationOutput(out, Domains());
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(std::get<PresenceEvent>(*event).availability, Availability::kOffline);
}

TEST(LyncFederation, SubscriptionsAndProbesKeepTheirAction) {
  FederationOutput out = Output(FederationOutput::Kind::kSubscription, "sip:alice@lync.test",
                                "sip:Bob@XMPP.test");
  out.action = SubscriptionAction::kUnsubscribed;
  out.display_name = "Alice A";
  absl::StatusOr<FederationEvent> event = EventFromFederationOutput(out, Domains());
  ASSERT_TRUE(event.ok()) << event.status();
  const auto& subscription = std::get<SubscriptionEvent>(*event);
  EXPECT_EQ(subscription.action, SubscriptionAction::kUnsubscribed);
  EXPECT_EQ(subscription.display_name, "Alice A");
  EXPECT_EQ(subscription.to, (Address{Network::kXmpp, "bob", "xmpp.test", ""}));  // JID node folded

  event = EventFromFederationOutput(
      Output(FederationOutput::Kind::kProbe, "sip:alice@lync.test", "sip:bob@xmpp.test"),
      Domains());
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(std::get<PresenceProbeEvent>(*event).to.network, Network::kXmpp);
}

TEST(LyncFederation, UnmappableRecipientsAreErrors) {
  // A domain that is not federated, a telephone number, and text that is no AOR.
  EXPECT_FALSE(EventFromFederationOutput(Output(FederationOutput::Kind::kProbe,
                                                "sip:alice@lync.test", "sip:bob@other.test"),
                                         Domains())
                   .ok());
  EXPECT_FALSE(EventFromFederationOutput(Output(FederationOutput::Kind::kProbe,
                                                "sip:alice@lync.test", "sip:+15551234@xmpp.test"),
                                         Domains())
                   .ok());
  EXPECT_FALSE(EventFromFederationOutput(
                   Output(FederationOutput::Kind::kProbe, "sip:alice@lync.test", "bob"), Domains())
                   .ok());
}

TEST(LyncFederation, AddressesOfEitherNetworkBecomeAors) {
  // An XMPP user of a local XMPP domain is the SIP user of the paired domain; escapes undone.
  absl::StatusOr<std::string> aor = FederationAor(
      Address{Network::kXmpp, "alice", "xmpp.corp.example", "phone"}, Domains());
  ASSERT_TRUE(aor.ok()) << aor.status();
  EXPECT_EQ(*aor, "sip:alice@corp.example");
  aor = FederationAor(Address{Network::kXmpp, "d\\27artagnan", "xmpp.test", "x"}, Domains());
  ASSERT_TRUE(aor.ok()) << aor.status();
  EXPECT_EQ(*aor, "sip:d'artagnan@xmpp.test");
  aor = FederationAor(Address{Network::kSip, "carol", "lync.test", "gr"}, Domains());
  ASSERT_TRUE(aor.ok());
  EXPECT_EQ(*aor, "sip:carol@lync.test");
  EXPECT_FALSE(FederationAor(Address{Network::kXmpp, "", "xmpp.test", ""}, Domains()).ok());
  EXPECT_FALSE(FederationAor(Address{Network::kPstn, "+15551234", "", ""}, Domains()).ok());
  EXPECT_FALSE(FederationAor(Address{Network::kXmpp, "eve", "other.test", ""}, Domains()).ok());
}

}  // namespace
}  // namespace causeway::mappings
