// The Lync front end over the real SipServer (transactions, registrar, proxy), a fake transport
// and a simulated clock: self-subscriptions, SERVICE, presence and their notifications.
#include "sip/lync/front_end.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/status.h"
#include "core/directory.h"
#include "core/strings.h"
#include "core/timer_wheel.h"
#include "gtest/gtest.h"
#include "sip/lync/bodies_contacts.h"
#include "sip/lync/bodies_presence.h"
#include "sip/lync/bodies_roaming.h"
#include "tests/sip_stack/fake_transport.h"

namespace causeway::sip::lync {
namespace {

using sip::testing::FakeTransport;

class NoResolver : public NextHopResolver {
 public:
  void Resolve(const Uri&, Callback done) override { done(SipError(404, "no DNS in this test")); }
};

ReceiveInfo From(std::string_view source, ConnectionId connection,
                 std::string_view authenticated = {}) {
  ReceiveInfo info;
  info.kind = TransportKind::kTls;
  info.source = *NetAddress::Parse(source);
  info.local = *NetAddress::Parse("127.0.0.1:5061");
  info.connection = connection;
  info.authenticated_user = authenticated;
  return info;
}

UserRecord User(std::string uri, std::string name) {
  UserRecord r;
  r.uri = std::move(uri);
  r.display_name = std::move(name);
  return r;
}

class FrontEndTest : public ::testing::Test {
 protected:
  FrontEndTest() {
    directory_.Publish({User("sip:alice@example.test", "Alice A"),
                        User("sip:bob@example.test", "Bob B")});
    SipServerOptions options;
    options.domains = {"example.test"};
    options.purge_interval = Duration::zero();
    server_ = std::make_unique<SipServer>(transport_, wheel_, clock_, location_, resolver_,
                                          options);
    FrontEndOptions fe;
    fe.domains = {"example.test"};
    fe.server_configuration.mras_uri = "sip:mras@example.test";
    state_ = std::make_unique<FrontEndState>(fe, store_, location_, &directory_);
    front_end_ = std::make_unique<FrontEnd>(*state_, *server_, clock_,
                                            "<sip:127.0.0.1:5061;transport=tls>");
    server_->SetLocalService(front_end_.get());
  }
  ~FrontEndTest() override { server_->SetLocalService(nullptr); }

  // Registers `user` over connection `connection` from `source` (as after NTLM).
  void Register(std::string_view user, std::string_view source, ConnectionId connection,
                std::string_view epid) {
    SendRegister(user, source, connection, epid, 1, "");
  }

  // Removes the binding Register() made (the same Call-ID, a higher CSeq, Expires: 0), as a
  // client signing out does.
  void Unregister(std::string_view user, std::string_view source, ConnectionId connection,
                  std::string_view epid) {
    SendRegister(user, source, connection, epid, 2, "Expires: 0\r\n");
  }

  void SendRegister(std::string_view user, std::string_view source, ConnectionId connection,
                    std::string_view epid, int cseq, std::string_view extra_headers) {
    const std::string aor = absl::StrCat("sip:", ToAbsl(user), "@example.test");
    Receive(absl::StrCat("REGISTER sip:example.test SIP/2.0\r\n",
                         "Via: SIP/2.0/TLS ", ToAbsl(source), ";branch=z9hG4bK-r", connection,
                         "-", cseq, "\r\n",
                         "From: <", aor, ">;tag=r;epid=", ToAbsl(epid), "\r\n",
                         "To: <", aor, ">\r\n",
                         "Call-ID: reg-", connection, "\r\n",
                         "CSeq: ", cseq, " REGISTER\r\n",
                         "Contact: <sip:", ToAbsl(source), ";transport=tls>;+sip.instance=",
                         "\"<urn:uuid:", connection, ">\"\r\n",
                         ToAbsl(extra_headers), "Max-Forwards: 70\r\n",
                         "Content-Length: 0\r\n\r\n"),
            From(source, connection, aor));
  }

  void Receive(std::string text, const ReceiveInfo& info) {
    auto m = SipMessage::Parse(std::move(text));
    ASSERT_TRUE(m.ok()) << m.status();
    server_->transport_user().OnMessage(std::move(*m), info);
  }

  // A request from `user` to its own URI (SUBSCRIBE/SERVICE), signed in on `connection`.
  void SelfRequest(std::string_view method, std::string_view user, ConnectionId connection,
                   std::string_view headers, std::string_view content_type = {},
                   std::string_view body = {}, std::string_view call_id = "c1",
                   bool authenticated = true) {
    const std::string aor = absl::StrCat("sip:", ToAbsl(user), "@example.test");
    const int branch = ++branch_;
    std::string text = absl::StrCat(
        ToAbsl(method), " ", aor, " SIP/2.0\r\n", "Via: SIP/2.0/TLS 127.0.0.", connection,
        ":40000;branch=z9hG4bK-", ToAbsl(call_id), "-", branch, "\r\n", "From: <", aor,
        ">;tag=ft-", ToAbsl(call_id), "\r\nTo: <", aor, ">\r\n", "Call-ID: ", ToAbsl(call_id),
        "\r\nCSeq: ", branch, " ", ToAbsl(method), "\r\nMax-Forwards: 70\r\n",
        "Contact: <sip:127.0.0.", connection, ":40000;transport=tls>\r\n", ToAbsl(headers));
    if (!content_type.empty()) absl::StrAppend(&text, "Content-Type: ", ToAbsl(content_type), "\r\n");
    absl::StrAppend(&text, "Content-Length: ", body.size(), "\r\n\r\n", ToAbsl(body));
    Receive(std::move(text),
            From(absl::StrCat("127.0.0.", connection, ":40000"), connection,
                 authenticated ? aor : std::string()));
  }

  // The last message sent whose first line starts with `prefix`, parsed.
  SipMessage Last(std::string_view prefix) {
    for (auto it = transport_.sent.rbegin(); it != transport_.sent.rend(); ++it) {
      if (it->StartsWith(prefix)) return it->Parse();
    }
    ADD_FAILURE() << "nothing sent starting with " << prefix;
    return *SipMessage::Parse("SIP/2.0 500 None\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\n"
                              "From: <sip:x@x>;tag=1\r\nTo: <sip:x@x>\r\nCall-ID: x\r\n"
                              "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  }

  std::string Header(const SipMessage& m, std::string_view name) {
    const sip::Header* h = m.FindHeader(name);
    return h ? std::string(h->value) : std::string();
  }

  SimulatedClock clock_;
  TimerWheel wheel_{clock_};
  FakeTransport transport_{&clock_};
  LocationStore location_;
  NoResolver resolver_;
  SnapshotDirectory directory_;
  MemoryRoamingStore store_;
  std::unique_ptr<SipServer> server_;
  std::unique_ptr<FrontEndState> state_;
  std::unique_ptr<FrontEnd> front_end_;
  int branch_ = 0;
};

constexpr char kSubscribeHeaders[] =
    "Supported: ms-piggyback-first-notify\r\nSupported: ms-benotify\r\n"
    "Proxy-Require: ms-benotify\r\nExpires: 3600\r\n";

TEST_F(FrontEndTest, RoamingContactsArePiggybackedInThe200) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders));
  SipMessage ok = Last("SIP/2.0 200");
  EXPECT_EQ(ok.cseq_method(), Method::kSubscribe);
  EXPECT_EQ(Header(ok, "ms-piggyback-cseq"), "1");
  EXPECT_EQ(Header(ok, "Event"), "vnd-microsoft-roaming-contacts");
  EXPECT_EQ(Header(ok, "Content-Type"), kRoamingContactsContentType);
  EXPECT_FALSE(ok.to_tag().empty());
  absl::StatusOr<ContactList> list = ParseContactList(ok.body());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->groups.size(), 1u);
  EXPECT_EQ(list->groups[0].name, "~");
  EXPECT_TRUE(list->contacts.empty());
  EXPECT_EQ(state_->subscription_count(), 1u);
}

TEST_F(FrontEndTest, SetContactUpdatesEveryEndpointAndTellsTheAddedUser) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("alice", "127.0.0.2:40000", 2, "e2");
  Register("bob", "127.0.0.3:40000", 3, "e3");
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders), {}, {},
              "a1");
  SelfRequest("SUBSCRIBE", "alice", 2,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders), {}, {},
              "a2");
  SelfRequest("SUBSCRIBE", "bob", 3,
              absl::StrCat("Event: vnd-microsoft-roaming-self\r\n", kSubscribeHeaders),
              kRoamingSelfContentType,
              "<roamingList xmlns=\"http://schemas.microsoft.com/2006/09/sip/roaming-self\">"
              "<roaming type=\"subscribers\"/></roamingList>",
              "b1");
  transport_.Take();
  const std::string soap =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
      "<m:setContact xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">"
      "<m:displayName>Bob</m:displayName><m:groups>1</m:groups><m:subscribed>true</m:subscribed>"
      "<m:URI>sip:bob@example.test</m:URI><m:externalURI/><m:deltaNum>1</m:deltaNum>"
      "</m:setContact></s:Body></s:Envelope>";
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType, soap, "svc1");
  EXPECT_EQ(Last("SIP/2.0").status_code(), 200);
  // Both alice endpoints get the new list; bob hears that alice added him.
  std::vector<SipMessage> benotifies;
  for (const FakeTransport::Sent& s : transport_.sent) {
    if (s.StartsWith("BENOTIFY")) benotifies.push_back(s.Parse());
  }
  ASSERT_EQ(benotifies.size(), 3u);
  int contact_lists = 0;
  int subscriber_lists = 0;
  for (const SipMessage& n : benotifies) {
    if (Header(n, "Event") == "vnd-microsoft-roaming-contacts") {
      ++contact_lists;
      // Endpoints get the change as a delta (clients only add from later full lists).
      absl::StatusOr<ContactDelta> delta = ParseContactDelta(n.body());
      ASSERT_TRUE(delta.ok()) << delta.status() << n.body();
      ASSERT_EQ(delta->added_contacts.size(), 1u);
      EXPECT_EQ(delta->added_contacts[0].uri, "sip:bob@example.test");
      EXPECT_EQ(delta->delta_num, 2u);
    } else {
      ++subscriber_lists;
      EXPECT_EQ(Header(n, "Event"), "vnd-microsoft-roaming-self");
      absl::StatusOr<RoamingSelf> self = ParseRoamingSelf(n.body());
      ASSERT_TRUE(self.ok()) << self.status();
      ASSERT_TRUE(self->subscribers.has_value());
      ASSERT_EQ(self->subscribers->size(), 1u);
      EXPECT_EQ((*self->subscribers)[0].user, "alice@example.test");
      EXPECT_EQ((*self->subscribers)[0].display_name, "Alice A");
      EXPECT_FALSE((*self->subscribers)[0].acknowledged);
    }
  }
  EXPECT_EQ(contact_lists, 2);
  EXPECT_EQ(subscriber_lists, 1);
  // And it is in the store (persistence across restarts).
  absl::StatusOr<RoamingData> stored = store_.Load("sip:alice@example.test");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->contacts.contacts.size(), 1u);
}

TEST_F(FrontEndTest, GroupIdsAreStableAndRemovalsReachOtherEndpointsAsDeltas) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("alice", "127.0.0.2:40000", 2, "e2");
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders), {}, {},
              "a1");
  absl::StatusOr<ContactList> first = ParseContactList(Last("SIP/2.0 200").body());
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->groups.size(), 1u);
  const uint32_t default_id = first->groups[0].id;
  SelfRequest("SUBSCRIBE", "alice", 2,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders), {}, {},
              "a2");
  auto soap = [](std::string_view method, std::string_view inner) {
    return absl::StrCat(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:",
        ToAbsl(method), " xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">",
        ToAbsl(inner), "<m:deltaNum>1</m:deltaNum></m:", ToAbsl(method),
        "></s:Body></s:Envelope>");
  };
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType,
              soap("addGroup", "<m:name>Friends</m:name><m:externalURI/>"), "g1");
  SipMessage added = Last("SIP/2.0 200");
  EXPECT_FALSE(absl::StrContains(ToAbsl(added.body()),
                                 absl::StrCat("<groupID>", default_id, "</groupID>")));
  // The default group kept its id in the next full list.
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders), {}, {},
              "a3");
  absl::StatusOr<ContactList> again = ParseContactList(Last("SIP/2.0 200").body());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->groups.size(), 2u);
  for (const ContactGroup& g : again->groups) {
    if (g.name == "~") {
      EXPECT_EQ(g.id, default_id);
    } else {
      EXPECT_NE(g.id, default_id) << g.name;
    }
  }
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType,
              soap("setContact", "<m:displayName/><m:groups/><m:subscribed>true</m:subscribed>"
                                 "<m:URI>sip:bob@example.test</m:URI><m:externalURI/>"),
              "c1");
  transport_.Take();
  SelfRequest("SERVICE", "alice", 2, "", kSoapContentType,
              soap("deleteContact", "<m:URI>sip:bob@example.test</m:URI>"), "c2");
  int deltas = 0;
  for (const FakeTransport::Sent& sent : transport_.sent) {
    if (!sent.StartsWith("BENOTIFY")) continue;
    absl::StatusOr<ContactDelta> delta = ParseContactDelta(sent.Parse().body());
    ASSERT_TRUE(delta.ok());
    ASSERT_EQ(delta->deleted_contacts.size(), 1u);
    EXPECT_EQ(delta->deleted_contacts[0], "sip:bob@example.test");
    ++deltas;
  }
  EXPECT_EQ(deltas, 3);  // every roaming-contacts subscription of alice (a1, a2, a3)
}

TEST_F(FrontEndTest, ContactsAddedLaterJoinTheBatchedSubscription) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("bob", "127.0.0.3:40000", 3, "e3");
  auto batch = [](std::string_view resource) {
    return absl::StrCat(
        "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" "
        "uri=\"sip:alice@example.test\" name=\"\"><action name=\"subscribe\" id=\"1\">"
        "<adhocList><resource uri=\"",
        ToAbsl(resource), "\"/></adhocList></action></batchSub>");
  };
  SelfRequest("SUBSCRIBE", "alice", 1, absl::StrCat("Event: presence\r\n", kSubscribeHeaders),
              kBatchSubscribeContentType, batch("sip:carol@example.test"), "p1");
  SipMessage ok = Last("SIP/2.0 200");
  const std::string tag(ok.to_tag());
  // In the same dialog, bob joins the list: his state comes back in the 200.
  const std::string body = batch("sip:bob@example.test");
  Receive(absl::StrCat("SUBSCRIBE sip:127.0.0.1:5061;transport=tls SIP/2.0\r\n",
                       "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK-p1b\r\n",
                       "From: <sip:alice@example.test>;tag=ft-p1\r\n",
                       "To: <sip:alice@example.test>;tag=", tag, "\r\nCall-ID: p1\r\n",
                       "CSeq: 20 SUBSCRIBE\r\nEvent: presence\r\nExpires: 3600\r\n",
                       "Content-Type: ", ToAbsl(kBatchSubscribeContentType), "\r\n",
                       "Max-Forwards: 70\r\nContent-Length: ", body.size(), "\r\n\r\n", body),
          From("127.0.0.1:40000", 1, "sip:alice@example.test"));
  SipMessage refreshed = Last("SIP/2.0 200");
  EXPECT_EQ(Header(refreshed, "ms-piggyback-cseq"), "20");
  EXPECT_TRUE(absl::StrContains(ToAbsl(refreshed.body()), "sip:bob@example.test"));
  EXPECT_TRUE(absl::StrContains(ToAbsl(refreshed.body()), "<availability>3500</availability>"));
  // And bob's later changes reach alice.
  transport_.Take();
  front_end_->OnRegistrationChanged("sip:bob@example.test");  // nothing changed: no notify
  EXPECT_EQ(transport_.Count("BENOTIFY"), 0u);
  Unregister("bob", "127.0.0.3:40000", 3, "e3");
  front_end_->OnRegistrationChanged("sip:bob@example.test");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "<availability>18500</availability>"));
}

TEST_F(FrontEndTest, PendingWatchersAreTheUnacknowledgedSubscribers) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("bob", "127.0.0.3:40000", 3, "e3");
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType,
              "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
              "<m:setContact xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">"
              "<m:displayName/><m:groups/><m:subscribed>true</m:subscribed>"
              "<m:URI>sip:bob@example.test</m:URI><m:externalURI/><m:deltaNum>1</m:deltaNum>"
              "</m:setContact></s:Body></s:Envelope>",
              "add");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  SelfRequest("SUBSCRIBE", "bob", 3, "Event: presence.wpending\r\nExpires: 0\r\n", {}, {}, "w1");
  SipMessage pending = Last("SIP/2.0 200");
  EXPECT_EQ(Header(pending, "Content-Type"), kWatcherListContentType);
  EXPECT_TRUE(absl::StrContains(ToAbsl(pending.body()), "sip:alice@example.test"));
  // bob acknowledges alice: no longer pending.
  SelfRequest("SERVICE", "bob", 3, "", kSetSubscribersContentType,
              "<setSubscribers xmlns=\"http://schemas.microsoft.com/2006/09/sip/presence-subscribers\">"
              "<subscriber user=\"alice@example.test\" acknowledged=\"true\"/></setSubscribers>",
              "ack");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  SelfRequest("SUBSCRIBE", "bob", 3, "Event: presence.wpending\r\nExpires: 0\r\n", {}, {}, "w2");
  EXPECT_FALSE(absl::StrContains(ToAbsl(Last("SIP/2.0 200").body()), "alice"));
}

TEST_F(FrontEndTest, StandardSubscribersGetNotifyInATransactionAnd481EndsIt) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("bob", "127.0.0.3:40000", 3, "e3");
  // An RFC 6665 watcher (no ms-benotify) subscribes to alice directly.
  Receive(absl::StrCat("SUBSCRIBE sip:alice@example.test SIP/2.0\r\n",
                       "Via: SIP/2.0/TLS 127.0.0.3:40000;branch=z9hG4bK-std1\r\n",
                       "From: <sip:bob@example.test>;tag=std\r\nTo: <sip:alice@example.test>\r\n",
                       "Call-ID: std-sub\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n",
                       "Contact: <sip:127.0.0.3:40000;transport=tls>\r\nExpires: 600\r\n",
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          From("127.0.0.3:40000", 3, "sip:bob@example.test"));
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  ASSERT_EQ(state_->subscription_count(), 1u);
  transport_.Take();
  const std::string publish =
      "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
      "<publications uri=\"sip:alice@example.test\">"
      "<publication categoryName=\"note\" instance=\"0\" container=\"200\" version=\"0\" "
      "expireType=\"static\"><note xmlns=\"http://schemas.microsoft.com/2006/09/sip/note\">"
      "<body type=\"personal\" uri=\"\">lunch</body></note></publication>"
      "</publications></publish>";
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType, publish, "pub");
  EXPECT_EQ(transport_.Count("BENOTIFY"), 0u);
  SipMessage notify = Last("NOTIFY");
  EXPECT_TRUE(absl::StrContains(ToAbsl(notify.body()), "lunch"));
  // The watcher says the dialog is gone: the subscription ends.
  server_->transport_user().OnMessage(MakeResponse(notify, 481, {}, "std"),
                                      From("127.0.0.3:40000", 3));
  EXPECT_EQ(state_->subscription_count(), 0u);
}

TEST_F(FrontEndTest, MalformedServiceBodyIs400AndStoresNothing) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType, "<s:Envelope><s:Body><m:setCon");
  EXPECT_EQ(Last("SIP/2.0").status_code(), 400);
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType,
              "<!DOCTYPE x [<!ENTITY a \"b\">]><publish/>", "c2");
  EXPECT_EQ(Last("SIP/2.0").status_code(), 400);
  absl::StatusOr<RoamingData> stored = store_.Load("sip:alice@example.test");
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->contacts.contacts.empty());
  EXPECT_TRUE(stored->publications.empty());
}

TEST_F(FrontEndTest, UnknownEventIs489WithAllowEvents) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SUBSCRIBE", "alice", 1, "Event: vnd-example-unknown\r\nExpires: 60\r\n");
  SipMessage answer = Last("SIP/2.0");
  EXPECT_EQ(answer.status_code(), 489);
  EXPECT_TRUE(absl::StrContains(Header(answer, "Allow-Events"), "vnd-microsoft-roaming-contacts"));
}

TEST_F(FrontEndTest, UnauthenticatedSelfRequestsAreRefused) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-contacts\r\n", kSubscribeHeaders), {}, {},
              "c1", /*authenticated=*/false);
  EXPECT_EQ(Last("SIP/2.0").status_code(), 403);
  EXPECT_EQ(state_->subscription_count(), 0u);
}

TEST_F(FrontEndTest, PresenceIsAggregatedAndFannedOutToWatchers) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("bob", "127.0.0.3:40000", 3, "e3");
  const std::string batch =
      "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" "
      "uri=\"sip:bob@example.test\" name=\"\"><action name=\"subscribe\" id=\"1\"><adhocList>"
      "<resource uri=\"sip:alice@example.test\"/><resource uri=\"sip:carol@example.test\"/>"
      "</adhocList><categoryList xmlns=\"http://schemas.microsoft.com/2006/09/sip/categorylist\">"
      "<category name=\"state\"/><category name=\"note\"/></categoryList></action></batchSub>";
  SelfRequest("SUBSCRIBE", "bob", 3,
              absl::StrCat("Event: presence\r\nRequire: adhoclist, categoryList\r\n"
                           "Supported: eventlist\r\n",
                           kSubscribeHeaders),
              kBatchSubscribeContentType, batch, "b-presence");
  SipMessage ok = Last("SIP/2.0 200");
  EXPECT_TRUE(absl::StrContains(Header(ok, "Content-Type"), "multipart/related"));
  EXPECT_TRUE(absl::StrContains(ToAbsl(ok.body()), "<availability>3500</availability>"));
  EXPECT_TRUE(absl::StrContains(ToAbsl(ok.body()), "Alice A"));  // contactCard
  EXPECT_TRUE(absl::StrContains(ToAbsl(ok.body()), "terminated"));  // carol is no resource
  transport_.Take();

  // alice publishes a busy user state with a note: bob gets a BENOTIFY with both.
  const std::string publish =
      "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
      "<publications uri=\"sip:alice@example.test\">"
      "<publication categoryName=\"state\" instance=\"536870912\" container=\"2\" version=\"0\" "
      "expireType=\"user\"><state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" manual=\"true\" "
      "xsi:type=\"userState\"><availability>6500</availability></state></publication>"
      "<publication categoryName=\"note\" instance=\"0\" container=\"200\" version=\"0\" "
      "expireType=\"static\"><note xmlns=\"http://schemas.microsoft.com/2006/09/sip/note\">"
      "<body type=\"personal\" uri=\"\">Caf\xC3\xA9 &amp; cake</body></note></publication>"
      "</publications></publish>";
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType, publish, "pub1");
  EXPECT_EQ(Last("SIP/2.0").status_code(), 200);
  SipMessage notify = Last("BENOTIFY");
  EXPECT_EQ(notify.to().uri_text, "sip:bob@example.test");
  EXPECT_EQ(Header(notify, "Event"), "presence");
  absl::StatusOr<CategoriesDocument> doc = ParseCategories(notify.body());
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->uri, "sip:alice@example.test");
  EXPECT_TRUE(absl::StrContains(ToAbsl(notify.body()), "<availability>6500</availability>"));
  EXPECT_TRUE(absl::StrContains(ToAbsl(notify.body()), "Caf\xC3\xA9 &amp; cake"));

  // Republishing with a stale version is a 409 with the current versions; nothing changes.
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType, publish, "pub2");
  SipMessage conflict = Last("SIP/2.0");
  EXPECT_EQ(conflict.status_code(), 409);
  EXPECT_EQ(Header(conflict, "Content-Type"), kFaultContentType);

  // alice signs out: bob sees offline.
  transport_.Take();
  Unregister("alice", "127.0.0.1:40000", 1, "e1");
  EXPECT_EQ(Last("SIP/2.0").status_code(), 200);
  front_end_->OnRegistrationChanged("sip:alice@example.test");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "<availability>18500</availability>"));
}

TEST_F(FrontEndTest, AccessLevelsDecideWhatAWatcherSees) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  Register("bob", "127.0.0.3:40000", 3, "e3");
  // alice publishes a note for her personal contacts only (container 400).
  const std::string publish =
      "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
      "<publications uri=\"sip:alice@example.test\">"
      "<publication categoryName=\"note\" instance=\"0\" container=\"400\" version=\"0\" "
      "expireType=\"static\"><note xmlns=\"http://schemas.microsoft.com/2006/09/sip/note\">"
      "<body type=\"personal\" uri=\"\">for friends</body></note></publication>"
      "</publications></publish>";
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType, publish, "pub");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  const std::string batch =
      "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" "
      "uri=\"sip:bob@example.test\" name=\"\"><action name=\"subscribe\" id=\"1\"><adhocList>"
      "<resource uri=\"sip:alice@example.test\"/></adhocList></action></batchSub>";
  SelfRequest("SUBSCRIBE", "bob", 3, absl::StrCat("Event: presence\r\n", kSubscribeHeaders),
              kBatchSubscribeContentType, batch, "watch");
  SipMessage first = Last("SIP/2.0 200");
  // bob is a colleague (container 200): available, but not the personal note.
  EXPECT_TRUE(absl::StrContains(ToAbsl(first.body()), "<availability>3500</availability>"));
  EXPECT_FALSE(absl::StrContains(ToAbsl(first.body()), "for friends"));

  auto set_members = [&](uint32_t container, std::string_view action, std::string_view call_id) {
    ContainerUpdate update;
    update.id = container;
    update.changes.push_back({std::string(action), {std::string(kMemberUser), "bob@example.test"}});
    SelfRequest("SERVICE", "alice", 1, "", kSetContainerMembersContentType,
                BuildSetContainerMembers({update}), call_id);
    ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  };
  // alice puts bob in her personal level: he sees the note.
  transport_.Take();
  set_members(400, "add", "acl1");
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType,
              absl::StrCat(publish.substr(0, publish.find("version=\"0\"")), "version=\"1\"",
                           publish.substr(publish.find("version=\"0\"") + 11)),
              "pub2");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "for friends"));
  // alice blocks bob: he sees her offline and nothing else, although she is signed in.
  set_members(32000, "add", "acl2");
  SelfRequest("SERVICE", "alice", 1, "", kCategoryPublishContentType,
              absl::StrCat(publish.substr(0, publish.find("version=\"0\"")), "version=\"2\"",
                           publish.substr(publish.find("version=\"0\"") + 11)),
              "pub3");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  SipMessage blocked = Last("BENOTIFY");
  EXPECT_TRUE(absl::StrContains(ToAbsl(blocked.body()), "<availability>18500</availability>"));
  EXPECT_FALSE(absl::StrContains(ToAbsl(blocked.body()), "for friends"));
}

TEST_F(FrontEndTest, SubscriptionRefreshAndRemovalInDialog) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-self\r\n", kSubscribeHeaders), {}, {},
              "dlg");
  SipMessage ok = Last("SIP/2.0 200");
  const std::string tag(ok.to_tag());
  ASSERT_EQ(state_->subscription_count(), 1u);
  auto in_dialog = [&](std::string_view expires, int cseq) {
    Receive(absl::StrCat("SUBSCRIBE sip:127.0.0.1:5061;transport=tls SIP/2.0\r\n",
                         "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK-dlg", cseq, "\r\n",
                         "From: <sip:alice@example.test>;tag=ft-dlg\r\n",
                         "To: <sip:alice@example.test>;tag=", tag, "\r\nCall-ID: dlg\r\n",
                         "CSeq: ", cseq, " SUBSCRIBE\r\nEvent: vnd-microsoft-roaming-self\r\n",
                         "Expires: ", ToAbsl(expires), "\r\nMax-Forwards: 70\r\n",
                         "Content-Length: 0\r\n\r\n"),
            From("127.0.0.1:40000", 1, "sip:alice@example.test"));
  };
  in_dialog("600", 10);
  EXPECT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_EQ(state_->subscription_count(), 1u);
  in_dialog("0", 11);
  EXPECT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_EQ(state_->subscription_count(), 0u);
}

// ---- federation: users of xmpp.test live on another network ----

class FederatedFrontEndTest : public FrontEndTest {
 protected:
  FederatedFrontEndTest() {
    server_->SetLocalService(nullptr);
    FrontEndOptions fe = state_->options();
    fe.federated_domain = [](std::string_view domain) { return domain == "xmpp.test"; };
    front_end_.reset();
    state_ = std::make_unique<FrontEndState>(fe, store_, location_, &directory_);
    front_end_ = std::make_unique<FrontEnd>(*state_, *server_, clock_,
                                            "<sip:127.0.0.1:5061;transport=tls>");
    front_end_->SetFederationSink([this](const FederationOutput& o) { outputs_.push_back(o); });
    server_->SetLocalService(front_end_.get());
  }

  // The outputs so far as "kind from to detail" lines, and forgets them.
  std::vector<std::string> TakeOutputs() {
    std::vector<std::string> lines;
    for (const FederationOutput& o : outputs_) {
      switch (o.kind) {
        case FederationOutput::Kind::kPresence:
          lines.push_back(absl::StrCat("presence ", o.from, " ", o.to, " ", o.availability,
                                       o.note.empty() ? "" : " ", o.note));
          break;
        case FederationOutput::Kind::kSubscription:
          lines.push_back(absl::StrCat(ToAbsl(SubscriptionActionName(o.action)), " ", o.from,
                                       " ", o.to, o.display_name.empty() ? "" : " ",
                                       o.display_name));
          break;
        case FederationOutput::Kind::kProbe:
          lines.push_back(absl::StrCat("probe ", o.from, " ", o.to));
          break;
      }
    }
    outputs_.clear();
    return lines;
  }

  void Publish(std::string_view user, ConnectionId connection, uint32_t availability,
               uint32_t version, std::string_view call_id) {
    const std::string aor = absl::StrCat("sip:", ToAbsl(user), "@example.test");
    SelfRequest("SERVICE", user, connection, "", kCategoryPublishContentType,
                absl::StrCat("<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
                             "<publications uri=\"", aor, "\">"
                             "<publication categoryName=\"state\" instance=\"536870912\" "
                             "container=\"2\" version=\"", version, "\" expireType=\"user\">"
                             "<state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" "
                             "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                             "manual=\"true\" xsi:type=\"userState\"><availability>",
                             availability, "</availability></state></publication>"
                             "</publications></publish>"),
                call_id);
    ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  }

  std::vector<FederationOutput> outputs_;
};

constexpr char kBob[] = "sip:bob@xmpp.test";
constexpr char kAliceAor[] = "sip:alice@example.test";

TEST_F(FederatedFrontEndTest, RemoteSubscribeIsPendingUntilTheUserAllowsIt) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SUBSCRIBE", "alice", 1,
              absl::StrCat("Event: vnd-microsoft-roaming-self\r\n", kSubscribeHeaders),
              kRoamingSelfContentType,
              "<roamingList xmlns=\"http://schemas.microsoft.com/2006/09/sip/roaming-self\">"
              "<roaming type=\"subscribers\"/></roamingList>",
              "self");
  transport_.Take();
  front_end_->OnFederatedSubscription(kBob, kAliceAor, SubscriptionAction::kSubscribe, "Bob X");
  // alice's endpoint hears of the new subscriber; nothing goes back to bob yet.
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "bob@xmpp.test"));
  EXPECT_TRUE(TakeOutputs().empty());
  SelfRequest("SUBSCRIBE", "alice", 1, "Event: presence.wpending\r\nExpires: 0\r\n", {}, {}, "w1");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("SIP/2.0 200").body()), "sip:bob@xmpp.test"));
  // A probe before approval reveals nothing.
  front_end_->OnFederatedProbe(kBob, kAliceAor);
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "unsubscribed sip:alice@example.test sip:bob@xmpp.test"});

  // alice allows bob: subscribed, then her presence.
  SelfRequest("SERVICE", "alice", 1, "", kSetSubscribersContentType,
              "<setSubscribers xmlns=\"http://schemas.microsoft.com/2006/09/sip/presence-subscribers\">"
              "<subscriber user=\"bob@xmpp.test\" acknowledged=\"true\"/></setSubscribers>",
              "ack");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_EQ(TakeOutputs(),
            (std::vector<std::string>{"subscribed sip:alice@example.test sip:bob@xmpp.test",
                                      "presence sip:alice@example.test sip:bob@xmpp.test 3500"}));
  // Her changes follow; an unchanged state is not sent again.
  Publish("alice", 1, 6500, 0, "busy");
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "presence sip:alice@example.test sip:bob@xmpp.test 6500"});
  front_end_->OnRegistrationChanged(kAliceAor);
  EXPECT_TRUE(TakeOutputs().empty());
  front_end_->OnFederatedProbe(kBob, kAliceAor);
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "presence sip:alice@example.test sip:bob@xmpp.test 6500"});

  // Blocking revokes: unsubscribed, and no presence any more.
  ContainerUpdate update;
  update.id = kContainerBlocked;
  update.changes.push_back({"add", {std::string(kMemberUser), "bob@xmpp.test"}});
  SelfRequest("SERVICE", "alice", 1, "", kSetContainerMembersContentType,
              BuildSetContainerMembers({update}), "block");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "unsubscribed sip:alice@example.test sip:bob@xmpp.test"});
  Publish("alice", 1, 3500, 1, "free");
  EXPECT_TRUE(TakeOutputs().empty());
}

TEST_F(FederatedFrontEndTest, SignOutIsOfflineForRemoteSubscribers) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  front_end_->OnFederatedSubscription(kBob, kAliceAor, SubscriptionAction::kSubscribe, "");
  SelfRequest("SERVICE", "alice", 1, "", kSetSubscribersContentType,
              "<setSubscribers xmlns=\"http://schemas.microsoft.com/2006/09/sip/presence-subscribers\">"
              "<subscriber user=\"bob@xmpp.test\" acknowledged=\"true\"/></setSubscribers>",
              "ack");
  TakeOutputs();
  Unregister("alice", "127.0.0.1:40000", 1, "e1");
  front_end_->OnRegistrationChanged(kAliceAor);
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "presence sip:alice@example.test sip:bob@xmpp.test 18500"});
}

TEST_F(FederatedFrontEndTest, AddingARemoteContactSubscribesAndShowsItsPresence) {
  Register("alice", "127.0.0.1:40000", 1, "e1");
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType,
              "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
              "<m:setContact xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">"
              "<m:displayName>Bob</m:displayName><m:groups/><m:subscribed>true</m:subscribed>"
              "<m:URI>sip:bob@xmpp.test</m:URI><m:externalURI/><m:deltaNum>1</m:deltaNum>"
              "</m:setContact></s:Body></s:Envelope>",
              "add");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "subscribe sip:alice@example.test sip:bob@xmpp.test Alice A"});
  const std::string batch =
      "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" "
      "uri=\"sip:alice@example.test\" name=\"\"><action name=\"subscribe\" id=\"1\"><adhocList>"
      "<resource uri=\"sip:bob@xmpp.test\"/></adhocList></action></batchSub>";
  SelfRequest("SUBSCRIBE", "alice", 1, absl::StrCat("Event: presence\r\n", kSubscribeHeaders),
              kBatchSubscribeContentType, batch, "watch");
  SipMessage first = Last("SIP/2.0 200");
  // A federated contact is a resource (not "noresource"), offline until its network says more.
  EXPECT_FALSE(absl::StrContains(ToAbsl(first.body()), "noresource"));
  EXPECT_TRUE(absl::StrContains(ToAbsl(first.body()), "<availability>18500</availability>"));
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "probe sip:alice@example.test sip:bob@xmpp.test"});

  transport_.Take();
  front_end_->OnFederatedPresence(kBob, "phone", kAliceAor, 6500, "On a train");
  SipMessage busy = Last("BENOTIFY");
  EXPECT_TRUE(absl::StrContains(ToAbsl(busy.body()), "<availability>6500</availability>"));
  EXPECT_TRUE(absl::StrContains(ToAbsl(busy.body()), "On a train"));
  // Two devices: the best state counts; the device that leaves no longer does.
  front_end_->OnFederatedPresence(kBob, "laptop", kAliceAor, 3500, "");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "<availability>3500</availability>"));
  front_end_->OnFederatedPresence(kBob, "laptop", kAliceAor, 18500, "");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "<availability>6500</availability>"));
  // bob revokes alice: she sees him offline.
  front_end_->OnFederatedSubscription(kBob, kAliceAor, SubscriptionAction::kUnsubscribed, "");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "<availability>18500</availability>"));
  // Presence directed to someone else does not open alice's view again.
  front_end_->OnFederatedPresence(kBob, "phone", "sip:carol@elsewhere.test", 3500, "");
  EXPECT_TRUE(absl::StrContains(ToAbsl(Last("BENOTIFY").body()), "<availability>18500</availability>"));

  // bob asks for alice's presence: she has him as a contact, so that is approval.
  front_end_->OnFederatedSubscription(kBob, kAliceAor, SubscriptionAction::kSubscribe, "");
  EXPECT_EQ(TakeOutputs(),
            (std::vector<std::string>{"subscribed sip:alice@example.test sip:bob@xmpp.test",
                                      "presence sip:alice@example.test sip:bob@xmpp.test 3500"}));
  // Removing him unsubscribes.
  SelfRequest("SERVICE", "alice", 1, "", kSoapContentType,
              "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
              "<m:deleteContact xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">"
              "<m:URI>sip:bob@xmpp.test</m:URI><m:deltaNum>2</m:deltaNum>"
              "</m:deleteContact></s:Body></s:Envelope>",
              "del");
  ASSERT_EQ(Last("SIP/2.0").status_code(), 200);
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "unsubscribe sip:alice@example.test sip:bob@xmpp.test"});
}

TEST_F(FederatedFrontEndTest, UnknownUsersAndForeignDomainsAreRefused) {
  // RFC 6121 §3.1.3: subscribing to a user that does not exist is answered unsubscribed.
  front_end_->OnFederatedSubscription(kBob, "sip:nobody@example.test",
                                      SubscriptionAction::kSubscribe, "");
  EXPECT_EQ(TakeOutputs(), std::vector<std::string>{
                               "unsubscribed sip:nobody@example.test sip:bob@xmpp.test"});
  // Events that claim to come from a domain that is not federated are ignored.
  front_end_->OnFederatedSubscription("sip:eve@example.test", kAliceAor,
                                      SubscriptionAction::kSubscribe, "");
  front_end_->OnFederatedPresence("sip:eve@other.test", "", kAliceAor, 3500, "");
  EXPECT_TRUE(TakeOutputs().empty());
  EXPECT_EQ(state_->stats().notifications, 0u);
}

}  // namespace
}  // namespace causeway::sip::lync
