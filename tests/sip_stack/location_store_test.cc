#include "sip/stack/location_store.h"

#include <chrono>
#include <string>

#include "core/status.h"
#include "gtest/gtest.h"

namespace causeway::sip {
namespace {

using std::chrono::seconds;

constexpr LocationTime kT0 = LocationTime{} + std::chrono::hours(1);

ContactUpdate Contact(std::string uri, int expires_s, int q_milli = 1000) {
  ContactUpdate c;
  c.contact_key = uri;
  c.contact_uri = std::move(uri);
  c.expires = seconds(expires_s);
  c.q_milli = q_milli;
  return c;
}

RegisterUpdate Update(std::string call_id, uint32_t cseq, std::vector<ContactUpdate> contacts) {
  RegisterUpdate u;
  u.call_id = std::move(call_id);
  u.cseq = cseq;
  u.contacts = std::move(contacts);
  return u;
}

TEST(LocationStore, AddLookupAndExpire) {
  LocationStore store;
  auto r = store.Apply("sip:alice@example.com", Update("c1", 1, {Contact("sip:a@10.0.0.1", 60)}),
                       kT0);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].expires, kT0 + seconds(60));

  auto found = store.Lookup("sip:alice@example.com", kT0 + seconds(59));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact_uri, "sip:a@10.0.0.1");
  // Expired bindings are invisible even before a purge runs.
  EXPECT_TRUE(store.Lookup("sip:alice@example.com", kT0 + seconds(60)).empty());
  EXPECT_TRUE(store.Lookup("sip:bob@example.com", kT0).empty());
}

TEST(LocationStore, RefreshSameCallIdNeedsHigherCSeq) {
  LocationStore store;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 5, {Contact("sip:a@h", 60)}), kT0).ok());
  auto same = store.Apply("aor", Update("c1", 5, {Contact("sip:a@h", 120)}), kT0);
  EXPECT_EQ(SipCodeOf(same.status()), 500);
  auto lower = store.Apply("aor", Update("c1", 4, {Contact("sip:a@h", 120)}), kT0);
  EXPECT_EQ(SipCodeOf(lower.status()), 500);
  auto higher = store.Apply("aor", Update("c1", 6, {Contact("sip:a@h", 120)}), kT0);
  ASSERT_TRUE(higher.ok());
  ASSERT_EQ(higher->size(), 1u);
  EXPECT_EQ((*higher)[0].expires, kT0 + seconds(120));
  EXPECT_EQ((*higher)[0].cseq, 6u);
}

TEST(LocationStore, DifferentCallIdReplacesRegardlessOfCSeq) {
  LocationStore store;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 50, {Contact("sip:a@h", 60)}), kT0).ok());
  auto r = store.Apply("aor", Update("c2", 1, {Contact("sip:a@h", 30)}), kT0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].call_id, "c2");
}

TEST(LocationStore, FailedUpdateIsAllOrNothing) {
  LocationStore store;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 5, {Contact("sip:a@h", 60)}), kT0).ok());
  // The second contact is out of order: the first (new) one must not be added either.
  auto r = store.Apply("aor", Update("c1", 5, {Contact("sip:new@h", 60), Contact("sip:a@h", 60)}),
                       kT0);
  EXPECT_FALSE(r.ok());
  auto found = store.Lookup("aor", kT0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact_uri, "sip:a@h");
}

TEST(LocationStore, ZeroExpiresRemovesAndEmptyAorDisappears) {
  LocationStore store;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 1, {Contact("sip:a@h", 60), Contact("sip:b@h", 60)}),
                          kT0).ok());
  EXPECT_EQ(store.binding_count(), 2u);
  auto r = store.Apply("aor", Update("c1", 2, {Contact("sip:a@h", 0)}), kT0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].contact_uri, "sip:b@h");
  ASSERT_TRUE(store.Apply("aor", Update("c1", 3, {Contact("sip:b@h", 0)}), kT0).ok());
  EXPECT_EQ(store.aor_count(), 0u);
  EXPECT_EQ(store.binding_count(), 0u);
}

TEST(LocationStore, RemoveAllChecksOrdering) {
  LocationStore store;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 7, {Contact("sip:a@h", 60)}), kT0).ok());
  ASSERT_TRUE(store.Apply("aor", Update("c2", 1, {Contact("sip:b@h", 60)}), kT0).ok());
  RegisterUpdate star = Update("c1", 7, {});
  star.remove_all = true;
  EXPECT_EQ(SipCodeOf(store.Apply("aor", star, kT0).status()), 500);
  EXPECT_EQ(store.Lookup("aor", kT0).size(), 2u);
  star.cseq = 8;
  auto r = store.Apply("aor", star, kT0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(store.aor_count(), 0u);
}

TEST(LocationStore, InstanceIdAndRegIdIdentifyTheBinding) {
  LocationStore store;
  ContactUpdate c1 = Contact("sip:a@10.0.0.1:5060", 60);
  c1.instance_id = "<urn:uuid:1>";
  c1.reg_id = 1;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 1, {c1}), kT0).ok());
  // Same instance and reg-id from a new address (NAT rebinding): replaces, not adds.
  ContactUpdate moved = Contact("sip:a@10.0.0.9:5060", 60);
  moved.instance_id = "<urn:uuid:1>";
  moved.reg_id = 1;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 2, {moved}), kT0).ok());
  auto found = store.Lookup("aor", kT0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact_uri, "sip:a@10.0.0.9:5060");
  // A second flow of the same instance (reg-id 2) is a separate binding.
  ContactUpdate flow2 = moved;
  flow2.reg_id = 2;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 3, {flow2}), kT0).ok());
  EXPECT_EQ(store.Lookup("aor", kT0).size(), 2u);
  // A plain contact with the same URI does not match an instance binding.
  ASSERT_TRUE(store.Apply("aor", Update("c9", 1, {Contact("sip:a@10.0.0.9:5060", 60)}), kT0).ok());
  EXPECT_EQ(store.Lookup("aor", kT0).size(), 3u);
}

TEST(LocationStore, OrdersByQThenMostRecent) {
  LocationStore store;
  ASSERT_TRUE(store.Apply("aor", Update("c1", 1, {Contact("sip:low@h", 60, 100)}), kT0).ok());
  ASSERT_TRUE(store.Apply("aor", Update("c2", 1, {Contact("sip:old@h", 60, 500)}), kT0).ok());
  ASSERT_TRUE(store.Apply("aor", Update("c3", 1, {Contact("sip:new@h", 60, 500)}), kT0).ok());
  ASSERT_TRUE(store.Apply("aor", Update("c4", 1, {Contact("sip:top@h", 60, 1000)}), kT0).ok());
  auto found = store.Lookup("aor", kT0);
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0].contact_uri, "sip:top@h");
  EXPECT_EQ(found[1].contact_uri, "sip:new@h");
  EXPECT_EQ(found[2].contact_uri, "sip:old@h");
  EXPECT_EQ(found[3].contact_uri, "sip:low@h");
}

TEST(LocationStore, MaxBindingsPerAor) {
  LocationStore store({.shards = 2, .max_bindings_per_aor = 2, .max_aors = 10});
  ASSERT_TRUE(store.Apply("aor", Update("c1", 1, {Contact("sip:a@h", 60), Contact("sip:b@h", 60)}),
                          kT0).ok());
  auto r = store.Apply("aor", Update("c1", 2, {Contact("sip:c@h", 60)}), kT0);
  EXPECT_EQ(SipCodeOf(r.status()), 503);
  EXPECT_EQ(store.binding_count(), 2u);
  // Replacing within the limit still works; so does adding once one expired.
  ASSERT_TRUE(store.Apply("aor", Update("c1", 3, {Contact("sip:a@h", 10)}), kT0).ok());
  EXPECT_TRUE(store.Apply("aor", Update("c1", 4, {Contact("sip:c@h", 60)}), kT0 + seconds(11)).ok());
}

TEST(LocationStore, MaxAors) {
  LocationStore store({.shards = 1, .max_bindings_per_aor = 2, .max_aors = 2});
  ASSERT_TRUE(store.Apply("a1", Update("c", 1, {Contact("sip:a@h", 60)}), kT0).ok());
  ASSERT_TRUE(store.Apply("a2", Update("c", 1, {Contact("sip:a@h", 60)}), kT0).ok());
  EXPECT_EQ(SipCodeOf(store.Apply("a3", Update("c", 1, {Contact("sip:a@h", 60)}), kT0).status()),
            503);
  // Existing AORs can still refresh.
  EXPECT_TRUE(store.Apply("a1", Update("c", 2, {Contact("sip:a@h", 60)}), kT0).ok());
}

TEST(LocationStore, PurgeIsBoundedAndIndexFollowsRefreshes) {
  LocationStore store({.shards = 1, .max_bindings_per_aor = 4, .max_aors = 100});
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store.Apply("aor" + std::to_string(i),
                            Update("c", 1, {Contact("sip:a@h", 10 + i)}), kT0).ok());
  }
  // aor0 is refreshed to a much later expiry: the purge must not drop it.
  ASSERT_TRUE(store.Apply("aor0", Update("c", 2, {Contact("sip:a@h", 1000)}), kT0).ok());
  EXPECT_EQ(store.PurgeExpired(kT0 + seconds(100), 3), 3u);
  EXPECT_EQ(store.aor_count(), 7u);
  EXPECT_EQ(store.PurgeExpired(kT0 + seconds(100), 100), 6u);
  EXPECT_EQ(store.aor_count(), 1u);
  EXPECT_EQ(store.binding_count(), 1u);
  EXPECT_EQ(store.PurgeExpired(kT0 + seconds(100), 100), 0u);
  EXPECT_EQ(store.Lookup("aor0", kT0 + seconds(100)).size(), 1u);
  std::vector<std::string> expired;
  EXPECT_EQ(store.PurgeExpired(kT0 + seconds(1000), 100, &expired), 1u);
  EXPECT_EQ(expired.size(), 1u);
  EXPECT_EQ(store.aor_count(), 0u);
}

TEST(LocationStore, RemoveFlowDropsBindingsOfAClosedConnection) {
  LocationStore store;
  RegisterUpdate tcp = Update("c1", 1, {Contact("sip:a@h;transport=tcp", 60)});
  tcp.flow.kind = TransportKind::kTcp;
  tcp.flow.connection = 42;
  ASSERT_TRUE(store.Apply("aor", tcp, kT0).ok());
  ASSERT_TRUE(store.Apply("aor", Update("c2", 1, {Contact("sip:b@h", 60)}), kT0).ok());
  EXPECT_EQ(store.RemoveFlow(0), 0u);
  std::vector<std::string> aors;
  EXPECT_EQ(store.RemoveFlow(42, &aors), 1u);
  EXPECT_EQ(aors.size(), 1u);
  auto found = store.Lookup("aor", kT0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact_uri, "sip:b@h");
  EXPECT_EQ(store.binding_count(), 1u);
}

TEST(LocationStore, KeepsFlowAndMetadata) {
  LocationStore store;
  RegisterUpdate u = Update("c1", 1, {Contact("sip:a@h", 60)});
  u.flow.kind = TransportKind::kTls;
  u.flow.source = *NetAddress::Parse("127.0.0.5:40000");
  u.flow.connection = 7;
  u.epid = "abc123";
  u.user_agent = "UCCAPI/16.0";
  u.path = {"<sip:edge.example.com;lr>"};
  ASSERT_TRUE(store.Apply("aor", u, kT0).ok());
  auto found = store.Lookup("aor", kT0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].flow, u.flow);
  EXPECT_EQ(found[0].epid, "abc123");
  EXPECT_EQ(found[0].user_agent, "UCCAPI/16.0");
  EXPECT_EQ(found[0].path, u.path);
}

TEST(LocationStore, FindByContactFollowsEveryChange) {
  LocationStore store({.shards = 4, .max_bindings_per_aor = 4, .max_aors = 100});
  RegisterUpdate u = Update("c1", 1, {Contact("sip:a@10.0.0.1", 60), Contact("sip:b@10.0.0.2", 30)});
  u.flow.kind = TransportKind::kTls;
  u.flow.connection = 9;
  ASSERT_TRUE(store.Apply("sip:alice@example.com", u, kT0).ok());
  auto found = store.FindByContact("sip:a@10.0.0.1", kT0);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->flow.connection, 9u);
  EXPECT_FALSE(store.FindByContact("sip:c@10.0.0.3", kT0).has_value());
  // Removal by expires=0 unindexes.
  ASSERT_TRUE(store.Apply("sip:alice@example.com", Update("c1", 2, {Contact("sip:a@10.0.0.1", 0)}),
                          kT0).ok());
  EXPECT_FALSE(store.FindByContact("sip:a@10.0.0.1", kT0).has_value());
  // Expiry hides it at once and the purge unindexes it.
  EXPECT_TRUE(store.FindByContact("sip:b@10.0.0.2", kT0 + seconds(29)).has_value());
  EXPECT_FALSE(store.FindByContact("sip:b@10.0.0.2", kT0 + seconds(30)).has_value());
  EXPECT_EQ(store.PurgeExpired(kT0 + seconds(30)), 1u);
  // A closed connection unindexes its bindings.
  ASSERT_TRUE(store.Apply("sip:bob@example.com", u, kT0).ok());
  EXPECT_TRUE(store.FindByContact("sip:a@10.0.0.1", kT0).has_value());
  EXPECT_EQ(store.RemoveFlow(9), 2u);
  EXPECT_FALSE(store.FindByContact("sip:a@10.0.0.1", kT0).has_value());
}

}  // namespace
}  // namespace causeway::sip
