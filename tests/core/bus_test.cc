#include "core/bus.h"

#include <string>
#include <vector>

#include "core/events.h"
#include "gtest/gtest.h"

namespace causeway {
namespace {

InstantMessageEvent Im(std::string id) {
  InstantMessageEvent e;
  e.message_id = std::move(id);
  return e;
}

DeliveryReceiptEvent Receipt(std::string id) {
  DeliveryReceiptEvent e;
  e.message_id = std::move(id);
  return e;
}

TEST(BusTest, PublishWithoutSubscribersIsOk) {
  Bus bus;
  EXPECT_TRUE(bus.Publish(Im("1")).ok());
  EXPECT_EQ(bus.SubscriberCount<InstantMessageEvent>(), 0u);
}

TEST(BusTest, DeliversToSubscribersOfThatTypeInOrder) {
  Bus bus;
  std::vector<std::string> log;
  Subscription a = bus.Subscribe<InstantMessageEvent>(
      [&](const InstantMessageEvent& e) { log.push_back("a:" + e.message_id); });
  Subscription p = bus.Subscribe<PresenceEvent>(
      [&](const PresenceEvent& e) { log.push_back("p:" + e.from.user); });
  Subscription b = bus.Subscribe<InstantMessageEvent>(
      [&](const InstantMessageEvent& e) { log.push_back("b:" + e.message_id); });
  EXPECT_EQ(bus.SubscriberCount<InstantMessageEvent>(), 2u);
  EXPECT_EQ(bus.SubscriberCount<PresenceEvent>(), 1u);
  EXPECT_EQ(bus.SubscriberCount<DeliveryReceiptEvent>(), 0u);
  ASSERT_TRUE(bus.Publish(Im("m1")).ok());
  PresenceEvent pres;
  pres.from.user = "alice";
  ASSERT_TRUE(bus.Publish(pres).ok());
  ASSERT_TRUE(bus.Publish(Receipt("x")).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"a:m1", "b:m1", "p:alice"}));
}

TEST(BusTest, SubscriptionDestructionAndResetUnsubscribe) {
  Bus bus;
  int count = 0;
  {
    Subscription s =
        bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent&) { ++count; });
    EXPECT_TRUE(s.active());
    ASSERT_TRUE(bus.Publish(Im("1")).ok());
  }
  ASSERT_TRUE(bus.Publish(Im("2")).ok());
  EXPECT_EQ(count, 1);
  Subscription s = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent&) { ++count; });
  s.Reset();
  EXPECT_FALSE(s.active());
  s.Reset();  // idempotent
  ASSERT_TRUE(bus.Publish(Im("3")).ok());
  EXPECT_EQ(count, 1);
  EXPECT_EQ(bus.SubscriberCount<InstantMessageEvent>(), 0u);
}

TEST(BusTest, MovedSubscriptionKeepsOneRegistration) {
  Bus bus;
  int count = 0;
  Subscription a = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent&) { ++count; });
  Subscription b = std::move(a);
  EXPECT_FALSE(a.active());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(b.active());
  ASSERT_TRUE(bus.Publish(Im("1")).ok());
  EXPECT_EQ(count, 1);
  Subscription c = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent&) { ++count; });
  c = std::move(b);  // c's own subscription is dropped, b's moves in
  EXPECT_EQ(bus.SubscriberCount<InstantMessageEvent>(), 1u);
  ASSERT_TRUE(bus.Publish(Im("2")).ok());
  EXPECT_EQ(count, 2);
}

TEST(BusTest, SubscriptionMayOutliveBus) {
  Subscription s;
  {
    Bus bus;
    s = bus.Subscribe<PresenceEvent>([](const PresenceEvent&) {});
    EXPECT_TRUE(s.active());
  }
  EXPECT_FALSE(s.active());
  s.Reset();  // no crash: the bus is gone
}

TEST(BusTest, HandlerUnsubscribingItselfAndALaterSubscriber) {
  Bus bus;
  std::vector<std::string> log;
  Subscription first, second, third;
  first = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent& e) {
    log.push_back("first:" + e.message_id);
    first.Reset();   // itself, while running
    third.Reset();   // a later subscriber: must not see this event
  });
  second = bus.Subscribe<InstantMessageEvent>(
      [&](const InstantMessageEvent& e) { log.push_back("second:" + e.message_id); });
  third = bus.Subscribe<InstantMessageEvent>(
      [&](const InstantMessageEvent& e) { log.push_back("third:" + e.message_id); });
  ASSERT_TRUE(bus.Publish(Im("1")).ok());
  ASSERT_TRUE(bus.Publish(Im("2")).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"first:1", "second:1", "second:2"}));
  EXPECT_EQ(bus.SubscriberCount<InstantMessageEvent>(), 1u);
}

TEST(BusTest, SubscribeFromHandlerTakesEffectForNextPublish) {
  Bus bus;
  std::vector<std::string> log;
  std::vector<Subscription> added;
  Subscription s = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent& e) {
    log.push_back("s:" + e.message_id);
    if (added.size() < 20) {  // grow the vector to force reallocation while iterating
      added.push_back(bus.Subscribe<InstantMessageEvent>(
          [&](const InstantMessageEvent& e2) { log.push_back("n:" + e2.message_id); }));
      // A brand-new event type too (rehash of the type map while iterating).
      added.push_back(bus.Subscribe<DeliveryFailureEvent>([](const DeliveryFailureEvent&) {}));
    }
  });
  ASSERT_TRUE(bus.Publish(Im("1")).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"s:1"}));
  ASSERT_TRUE(bus.Publish(Im("2")).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"s:1", "s:2", "n:2"}));
}

TEST(BusTest, NestedPublishIsDeliveredAndDepthIsBounded) {
  Bus bus;
  std::vector<std::string> log;
  Subscription im = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent& e) {
    log.push_back("im:" + e.message_id);
    EXPECT_TRUE(bus.Publish(Receipt(e.message_id)).ok());
  });
  Subscription rc = bus.Subscribe<DeliveryReceiptEvent>(
      [&](const DeliveryReceiptEvent& e) { log.push_back("receipt:" + e.message_id); });
  ASSERT_TRUE(bus.Publish(Im("7")).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"im:7", "receipt:7"}));

  // A feedback loop: each handler republishes. The bus stops it at kMaxDepth.
  int calls = 0;
  absl::Status deepest;
  Subscription loop = bus.Subscribe<PresenceEvent>([&](const PresenceEvent& e) {
    ++calls;
    absl::Status s = bus.Publish(e);
    if (!s.ok()) deepest = s;
  });
  ASSERT_TRUE(bus.Publish(PresenceEvent{}).ok());
  EXPECT_EQ(calls, Bus::kMaxDepth);
  EXPECT_EQ(deepest.code(), absl::StatusCode::kResourceExhausted);
}

TEST(BusTest, UnsubscribeDuringNestedPublishOfSameType) {
  Bus bus;
  int outer_calls = 0, victim_calls = 0;
  Subscription victim;
  Subscription s = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent& e) {
    ++outer_calls;
    if (e.message_id == "outer") {
      ASSERT_TRUE(bus.Publish(Im("inner")).ok());
      victim.Reset();
    }
  });
  victim = bus.Subscribe<InstantMessageEvent>([&](const InstantMessageEvent&) { ++victim_calls; });
  ASSERT_TRUE(bus.Publish(Im("outer")).ok());
  EXPECT_EQ(outer_calls, 2);
  EXPECT_EQ(victim_calls, 1);  // saw "inner" only; removed before "outer" reached it
  EXPECT_EQ(bus.SubscriberCount<InstantMessageEvent>(), 1u);
}

}  // namespace
}  // namespace causeway
