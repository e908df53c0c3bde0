#include "core/events.h"

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

namespace causeway {
namespace {

TEST(EventsTest, AddressFormsAndEquality) {
  Address a{Network::kXmpp, "alice", "example.com", "phone"};
  EXPECT_EQ(a.ToString(), "alice@example.com/phone");
  EXPECT_FALSE(a.is_bare());
  Address bare = a.Bare();
  EXPECT_TRUE(bare.is_bare());
  EXPECT_EQ(bare.ToString(), "alice@example.com");
  EXPECT_NE(a, bare);
  EXPECT_EQ(bare, (Address{Network::kXmpp, "alice", "example.com", ""}));
  EXPECT_NE(bare, (Address{Network::kSip, "alice", "example.com", ""}));  // network matters
  EXPECT_EQ((Address{Network::kXmpp, "", "conference.example.com", ""}).ToString(),
            "conference.example.com");
  absl::flat_hash_set<Address> set = {a, bare, bare};
  EXPECT_EQ(set.size(), 2u);
}

TEST(EventsTest, EnumNamesRoundTrip) {
  for (Network n : {Network::kSip, Network::kXmpp, Network::kPstn, Network::kPublicIm}) {
    Network out = Network::kSip;
    ASSERT_TRUE(ParseNetwork(NetworkName(n), &out)) << NetworkName(n);
    EXPECT_EQ(out, n);
  }
  for (int i = 0; i <= static_cast<int>(Availability::kOffline); ++i) {
    const auto a = static_cast<Availability>(i);
    Availability out = Availability::kOffline;
    ASSERT_TRUE(ParseAvailability(AvailabilityName(a), &out)) << i;
    EXPECT_EQ(out, a);
  }
  for (int i = 0; i <= static_cast<int>(DeliveryFailureReason::kInternal); ++i) {
    const auto r = static_cast<DeliveryFailureReason>(i);
    DeliveryFailureReason out = DeliveryFailureReason::kInternal;
    ASSERT_TRUE(ParseDeliveryFailureReason(DeliveryFailureReasonName(r), &out)) << i;
    EXPECT_EQ(out, r);
  }
  for (int i = 0; i <= static_cast<int>(SubscriptionAction::kUnsubscribed); ++i) {
    const auto a = static_cast<SubscriptionAction>(i);
    SubscriptionAction out = SubscriptionAction::kUnsubscribed;
    ASSERT_TRUE(ParseSubscriptionAction(SubscriptionActionName(a), &out)) << i;
    EXPECT_EQ(out, a);
  }
  for (int i = 0; i <= static_cast<int>(ChatState::kGone); ++i) {
    const auto s = static_cast<ChatState>(i);
    ChatState out = ChatState::kGone;
    ASSERT_TRUE(ParseChatState(ChatStateName(s), &out)) << i;
    EXPECT_EQ(out, s);
  }
  // The XEP-0085 element names, which the XMPP mapping writes as they are.
  EXPECT_EQ(ChatStateName(ChatState::kComposing), "composing");
  EXPECT_EQ(SubscriptionActionName(SubscriptionAction::kUnsubscribed), "unsubscribed");
  EXPECT_EQ(AvailabilityName(Availability::kBusyIdle), "busy-idle");
  EXPECT_EQ(NetworkName(Network::kPublicIm), "public-im");
}

TEST(EventsTest, ParsingIsCaseInsensitiveAndRejectsUnknown) {
  Availability a = Availability::kOffline;
  EXPECT_TRUE(ParseAvailability("Do-Not-Disturb", &a));
  EXPECT_EQ(a, Availability::kDoNotDisturb);
  EXPECT_FALSE(ParseAvailability("dnd", &a));
  EXPECT_EQ(a, Availability::kDoNotDisturb);  // unchanged on failure
  EXPECT_FALSE(ParseAvailability("", &a));
  Network n = Network::kSip;
  EXPECT_FALSE(ParseNetwork("smtp", &n));
  EXPECT_EQ(n, Network::kSip);
}

TEST(EventsTest, DefaultsAreSafe) {
  PresenceEvent p;
  EXPECT_EQ(p.availability, Availability::kOffline);
  EXPECT_FALSE(p.to.has_value());  // broadcast
  InstantMessageEvent m;
  EXPECT_EQ(m.content_type, "text/plain");
  EXPECT_FALSE(m.receipt_requested);
  DeliveryFailureEvent f;
  EXPECT_EQ(f.reason, DeliveryFailureReason::kInternal);
}

}  // namespace
}  // namespace causeway
