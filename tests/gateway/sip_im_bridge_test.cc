// The SIP side of the IM bridge, driven through a started SIP service (TCP on 127.0.0.1, two
// workers) with raw SIP clients on one side and a fake XMPP adapter on the workers' buses on the
// other. The fake answers IMs for bob@xmpp.test with a receipt published on the OTHER worker's bus
// (an answer need not arrive where the message was published), IMs for offline@xmpp.test with an
// "unavailable" failure, and IMs for silent@xmpp.test not at all.

#include "gateway/sip_im_bridge.h"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/bus.h"
#include "core/events.h"
#include "core/strings.h"
#include "gateway/config.h"
#include "gateway/sip_service.h"
#include "gateway/state_dir.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "tests/gateway/sip_test_peer.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using sip::SipMessage;
using std::chrono::milliseconds;

using Peer = testing::SipTestPeer;

std::string Header(const SipMessage& m, std::string_view name) {
  const sip::Header* h = m.FindHeader(name);
  return h ? std::string(h->value) : std::string();
}

// A request from alice@lync.test over `peer`.
std::string Request(const Peer& peer, std::string_view method, std::string_view uri,
                    std::string_view to, std::string_view call_id, int cseq,
                    std::string_view extra_headers, std::string_view content_type,
                    std::string_view body) {
  std::string text = absl::StrCat(
      ToAbsl(method), " ", ToAbsl(uri),
      " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:", peer.local_port(), ";branch=z9hG4bK",
      ToAbsl(call_id), "-", cseq,
      "\r\nMax-Forwards: 70\r\nFrom: <sip:alice@lync.test>;tag=al1\r\nTo: ", ToAbsl(to),
      "\r\nCall-ID: ", ToAbsl(call_id), "\r\nCSeq: ", cseq, " ", ToAbsl(method), "\r\n",
      ToAbsl(extra_headers));
  if (!content_type.empty()) absl::StrAppend(&text, "Content-Type: ", ToAbsl(content_type), "\r\n");
  absl::StrAppend(&text, "Content-Length: ", body.size(), "\r\n\r\n", ToAbsl(body));
  return text;
}

class SipImBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GatewayConfig config = DefaultConfig();
    config.general.state_dir = dir_ / "state";
    config.sip.udp.clear();
    config.sip.tls.clear();
    config.sip.tcp = {*NetAddress::Parse("127.0.0.1:0")};
    config.sip.domains = {"lync.test"};
    StartContext context;
    context.config = std::make_shared<const GatewayConfig>(config);
    absl::StatusOr<std::string> state_dir = PrepareStateDir(dir_ / "state");
    ASSERT_TRUE(state_dir.ok()) << state_dir.status();
    context.state_dir = *state_dir;
    context.workers = 2;

    mappings::DomainMapConfig domains;
    domains.local = {{"lync.test", "lync.test"}};
    domains.federated_domains = {"xmpp.test"};
    absl::StatusOr<mappings::DomainMap> map = mappings::DomainMap::Create(domains);
    ASSERT_TRUE(map.ok()) << map.status();

    SipServiceHooks hooks;
    hooks.xmpp_domains = std::make_shared<const mappings::DomainMap>(*std::move(map));
    hooks.receipt_wait = milliseconds(200);
    hooks.on_worker = [this](runtime::Worker& worker, Bus& bus) { AddFakeXmpp(worker, bus); };
    service_ = MakeSipService(std::move(hooks));
    ASSERT_TRUE(service_->Start(context).ok());
    for (const std::string& listener : service_->Listeners()) {
      const std::string prefix = "tcp:127.0.0.1:";
      if (listener.rfind(prefix, 0) == 0) {
        uint32_t port = 0;
        ASSERT_TRUE(
            absl::SimpleAtoi(ToAbsl(std::string_view(listener).substr(prefix.size())), &port));
        port_ = static_cast<uint16_t>(port);
      }
    }
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (service_) service_->Stop();
  }

  // The fake XMPP adapter of one worker (called before the workers run).
  void AddFakeXmpp(runtime::Worker& worker, Bus& bus) {
    const size_t index = workers_.size();
    workers_.push_back({&worker, &bus});
    subscriptions_.push_back(
        bus.Subscribe<InstantMessageEvent>([this, index](const InstantMessageEvent& e) {
          if (e.to.network != Network::kXmpp) return;  // ours, on its way to SIP
          {
            std::lock_guard<std::mutex> lock(mu_);
            ims_.push_back(e);
          }
          if (e.to.user == "bob") {
            DeliveryReceiptEvent receipt{e.message_id, e.to, e.from};
            PublishOn((index + 1) % workers_.size(), receipt);
          } else if (e.to.user == "offline") {
            DeliveryFailureEvent failure{e.message_id, e.to, e.from,
                                         DeliveryFailureReason::kUnavailable, "bob is offline"};
            (void)workers_[index].bus->Publish(failure);  // from inside the bridge's Publish
          }
        }));
    subscriptions_.push_back(bus.Subscribe<ChatStateEvent>([this](const ChatStateEvent& e) {
      if (e.to.network != Network::kXmpp) return;
      std::lock_guard<std::mutex> lock(mu_);
      states_.push_back(e);
    }));
    subscriptions_.push_back(
        bus.Subscribe<DeliveryReceiptEvent>([this](const DeliveryReceiptEvent& e) {
          if (e.to.network != Network::kXmpp) return;
          std::lock_guard<std::mutex> lock(mu_);
          receipts_.push_back(e);
        }));
    subscriptions_.push_back(
        bus.Subscribe<DeliveryFailureEvent>([this](const DeliveryFailureEvent& e) {
          if (e.to.network != Network::kXmpp) return;
          std::lock_guard<std::mutex> lock(mu_);
          failures_.push_back(e);
        }));
  }

  // Publishes `event` on worker `index`'s bus, on that worker's thread.
  template <typename E>
  void PublishOn(size_t index, E event) {
    Bus* bus = workers_[index].bus;
    workers_[index].worker->Post([bus, e = std::move(event)] { (void)bus->Publish(e); });
  }

  // Bounded wait for `done` (checked under the lock).
  bool WaitFor(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (done()) return true;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  // Registers alice@lync.test over `peer` as an RFC 5626 flow.
  void RegisterAlice(Peer& peer) {
    ASSERT_TRUE(peer.Send(Request(
        peer, "REGISTER", "sip:lync.test", "<sip:alice@lync.test>", "reg-alice", 1,
        absl::StrCat("Contact: <sip:alice@127.0.0.1:9;transport=tcp>;+sip.instance=\"<urn:uuid:"
                     "00000000-0000-0000-0000-00000000a11c>\";reg-id=1\r\n"
                     "Supported: outbound, path\r\nExpires: 600\r\n"),
        "", "")));
    std::optional<SipMessage> answer = peer.Final();
    ASSERT_TRUE(answer.has_value());
    ASSERT_EQ(answer->status_code(), 200);
  }

  struct WorkerBus {
    runtime::Worker* worker;
    Bus* bus;
  };

  testing::ScratchDir dir_;
  std::vector<WorkerBus> workers_;
  std::vector<Subscription> subscriptions_;  // outlive the service's buses (see core/bus.h)
  std::mutex mu_;
  std::vector<InstantMessageEvent> ims_;
  std::vector<ChatStateEvent> states_;
  std::vector<DeliveryReceiptEvent> receipts_;
  std::vector<DeliveryFailureEvent> failures_;
  std::unique_ptr<Service> service_;
  uint16_t port_ = 0;
};

TEST_F(SipImBridgeTest, PagerMessageIsAnsweredByTheXmppOutcome) {
  Peer alice(port_);
  ASSERT_TRUE(alice.connected());

  // Delivered: the receipt (published on the other worker) makes the 200.
  ASSERT_TRUE(alice.Send(Request(alice, "MESSAGE", "sip:bob@xmpp.test", "<sip:bob@xmpp.test>",
                                 "pager-1", 1, "", "text/plain; charset=UTF-8", "hello bob")));
  std::optional<SipMessage> ok = alice.Final();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status_code(), 200);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(ims_.size(), 1u);
    EXPECT_EQ(ims_[0].to, (Address{Network::kXmpp, "bob", "xmpp.test", ""}));
    EXPECT_EQ(ims_[0].from, (Address{Network::kSip, "alice", "lync.test", ""}));
    EXPECT_EQ(ims_[0].body, "hello bob");
    EXPECT_EQ(ims_[0].conversation_id, "pager-1");
    EXPECT_TRUE(ims_[0].receipt_requested);
  }

  // Refused by the XMPP side: its reason becomes the SIP code, its text a Warning.
  ASSERT_TRUE(alice.Send(Request(alice, "MESSAGE", "sip:offline@xmpp.test",
                                 "<sip:offline@xmpp.test>", "pager-2", 1, "", "text/plain", "hi")));
  std::optional<SipMessage> unavailable = alice.Final();
  ASSERT_TRUE(unavailable.has_value());
  EXPECT_EQ(unavailable->status_code(), 480);
  EXPECT_NE(Header(*unavailable, "Warning").find("bob is offline"), std::string::npos);

  // Nobody answers: 202 Accepted once receipt_wait (200 ms here) is over, not before.
  const auto sent_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(alice.Send(Request(alice, "MESSAGE", "sip:silent@xmpp.test", "<sip:silent@xmpp.test>",
                                 "pager-3", 1, "", "text/plain", "hi")));
  std::optional<SipMessage> accepted = alice.Final();
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->status_code(), 202);
  EXPECT_GE(std::chrono::steady_clock::now() - sent_at, milliseconds(150));

  // A contact of a federated domain whose user part cannot be a JID (a phone number) is refused.
  ASSERT_TRUE(alice.Send(Request(alice, "MESSAGE", "sip:+15551234@xmpp.test;user=phone",
                                 "<sip:+15551234@xmpp.test;user=phone>", "pager-4", 1, "",
                                 "text/plain", "hi")));
  std::optional<SipMessage> forbidden = alice.Final();
  ASSERT_TRUE(forbidden.has_value());
  EXPECT_EQ(forbidden->status_code(), 403);

  // A typing notification is no message: answered at once, published as a chat state.
  ASSERT_TRUE(alice.Send(
      Request(alice, "MESSAGE", "sip:bob@xmpp.test", "<sip:bob@xmpp.test>", "pager-5", 1, "",
              "application/im-iscomposing+xml",
              "<?xml version=\"1.0\"?><isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">"
              "<state>active</state></isComposing>")));
  std::optional<SipMessage> typing = alice.Final();
  ASSERT_TRUE(typing.has_value());
  EXPECT_EQ(typing->status_code(), 200);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(states_.size(), 1u);
  EXPECT_EQ(states_[0].state, ChatState::kComposing);
  EXPECT_EQ(states_[0].to.user, "bob");
  EXPECT_EQ(ims_.size(), 3u);  // the typing notification is not an IM
}

TEST_F(SipImBridgeTest, LyncImSession) {
  Peer alice(port_);
  ASSERT_TRUE(alice.connected());
  const std::string sdp =
      "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=message 5060 sip null\r\na=accept-types:text/plain text/html\r\n";
  ASSERT_TRUE(alice.Send(
      Request(alice, "INVITE", "sip:bob@xmpp.test", "<sip:bob@xmpp.test>", "session-1", 1,
              absl::StrCat("Contact: <sip:alice@127.0.0.1:", alice.local_port(),
                           ";transport=tcp>\r\nms-text-format: text/plain; charset=UTF-8;ms-body=",
                           absl::Base64Escape("first message"), "\r\n"),
              "application/sdp", sdp)));
  std::optional<SipMessage> ok = alice.Final();
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status_code(), 200);
  EXPECT_NE(ok->body().find("m=message 5060 sip null"), std::string_view::npos);
  EXPECT_NE(ok->body().find("text/html"), std::string_view::npos);
  const std::string to_tag(ok->to_tag());
  ASSERT_FALSE(to_tag.empty());
  absl::StatusOr<std::vector<sip::NameAddr>> contacts = ok->GetContacts();
  ASSERT_TRUE(contacts.ok() && !contacts->empty());
  const std::string target(contacts->front().uri_text);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(ims_.size(), 1u);
    EXPECT_EQ(ims_[0].body, "first message");
    EXPECT_EQ(ims_[0].conversation_id, "session-1");
  }

  const std::string to = absl::StrCat("<sip:bob@xmpp.test>;tag=", to_tag);
  ASSERT_TRUE(alice.Send(Request(alice, "ACK", target, to, "session-1", 1, "", "", "")));
  ASSERT_TRUE(alice.Send(Request(alice, "MESSAGE", target, to, "session-1", 2, "",
                                 "text/plain; charset=UTF-8", "second message")));
  std::optional<SipMessage> second = alice.Final();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status_code(), 200);
  EXPECT_EQ(second->cseq(), 2u);  // the ACK was absorbed: nothing came back for it

  ASSERT_TRUE(alice.Send(Request(
      alice, "INFO", target, to, "session-1", 3, "", "application/xml",
      "<?xml version=\"1.0\"?><KeyboardActivity><status status=\"type\" /></KeyboardActivity>")));
  std::optional<SipMessage> info = alice.Final();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->status_code(), 200);

  ASSERT_TRUE(alice.Send(Request(alice, "BYE", target, to, "session-1", 4, "", "", "")));
  std::optional<SipMessage> bye = alice.Final();
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->status_code(), 200);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(ims_.size(), 2u);
    EXPECT_EQ(ims_[1].body, "second message");
    EXPECT_EQ(ims_[1].conversation_id, "session-1");
    EXPECT_EQ(ims_[1].to, (Address{Network::kXmpp, "bob", "xmpp.test", ""}));
    ASSERT_EQ(states_.size(), 2u);
    EXPECT_EQ(states_[0].state, ChatState::kComposing);
    EXPECT_EQ(states_[1].state, ChatState::kGone);
    EXPECT_EQ(states_[1].conversation_id, "session-1");
  }

  // The session is over: a request in it is no longer the bridge's.
  ASSERT_TRUE(alice.Send(Request(alice, "INFO", target, to, "session-1", 5, "", "", "")));
  std::optional<SipMessage> after = alice.Final();
  ASSERT_TRUE(after.has_value());
  EXPECT_NE(after->status_code(), 200);

  // A call (audio) to an XMPP contact is refused; an IM session refused by the XMPP side too.
  ASSERT_TRUE(
      alice.Send(Request(alice, "INVITE", "sip:bob@xmpp.test", "<sip:bob@xmpp.test>", "call-1", 1,
                         "", "application/sdp", "v=0\r\nm=audio 49170 RTP/AVP 0\r\n")));
  std::optional<SipMessage> call = alice.Final();
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->status_code(), 488);
  ASSERT_TRUE(alice.Send(Request(
      alice, "INVITE", "sip:offline@xmpp.test", "<sip:offline@xmpp.test>", "session-2", 1,
      absl::StrCat("ms-text-format: text/plain;ms-body=", absl::Base64Escape("anyone?"), "\r\n"),
      "application/sdp", sdp)));
  std::optional<SipMessage> refused = alice.Final();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status_code(), 480);

  // Cancelled while its first message waits for the XMPP side: 200 for the CANCEL, 487 for the
  // INVITE, and no session (well before receipt_wait would have answered 200).
  const std::string invite = Request(
      alice, "INVITE", "sip:silent@xmpp.test", "<sip:silent@xmpp.test>", "session-3", 1,
      absl::StrCat("ms-text-format: text/plain;ms-body=", absl::Base64Escape("wait"), "\r\n"),
      "application/sdp", sdp);
  ASSERT_TRUE(alice.Send(invite));
  ASSERT_TRUE(WaitFor([this] { return ims_.size() == 4; }));  // published: now it is held
  // Same Via branch as the INVITE (RFC 3261 §9.1).
  ASSERT_TRUE(alice.Send(absl::StrCat(
      "CANCEL sip:silent@xmpp.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:", alice.local_port(),
      ";branch=z9hG4bKsession-3-1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@lync.test>;tag=al1\r\n"
      "To: <sip:silent@xmpp.test>\r\nCall-ID: session-3\r\nCSeq: 1 CANCEL\r\n"
      "Content-Length: 0\r\n\r\n")));
  std::optional<SipMessage> cancel_ok = alice.Final(milliseconds(150));
  ASSERT_TRUE(cancel_ok.has_value());
  EXPECT_EQ(cancel_ok->status_code(), 200);
  EXPECT_EQ(cancel_ok->cseq_method(), sip::Method::kCancel);
  std::optional<SipMessage> terminated = alice.Final(milliseconds(150));
  ASSERT_TRUE(terminated.has_value());
  EXPECT_EQ(terminated->status_code(), 487);
  EXPECT_EQ(terminated->cseq_method(), sip::Method::kInvite);
}

TEST_F(SipImBridgeTest, BusMessagesReachRegisteredSipUsersInOrder) {
  Peer alice(port_);
  ASSERT_TRUE(alice.connected());
  RegisterAlice(alice);

  InstantMessageEvent first;
  first.message_id = "x1";
  first.conversation_id = "thread-1";
  first.from = Address{Network::kXmpp, "bob", "xmpp.test", "phone"};
  first.to = Address{Network::kSip, "alice", "lync.test", ""};
  first.body = "one";
  first.alternatives.push_back(AlternativeBody{"text/html", "<b>one</b>"});
  first.receipt_requested = true;
  InstantMessageEvent second = first;
  second.message_id = "x2";
  second.body = "two";
  second.alternatives.clear();
  PublishOn(0, first);
  PublishOn(0, second);

  std::optional<SipMessage> m1 = alice.Receive();
  ASSERT_TRUE(m1.has_value());
  ASSERT_TRUE(m1->is_request());
  EXPECT_EQ(m1->method(), sip::Method::kMessage);
  EXPECT_EQ(m1->from().uri.text(), "sip:bob@xmpp.test");
  EXPECT_EQ(m1->to().uri.text(), "sip:alice@lync.test");
  EXPECT_NE(Header(*m1, "Content-Type").find("multipart/alternative"), std::string::npos);
  EXPECT_NE(m1->body().find("<b>one</b>"), std::string_view::npos);
  // One message in flight per conversation: the second waits for the first's answer.
  EXPECT_FALSE(alice.Receive(milliseconds(300)).has_value());
  ASSERT_TRUE(alice.Send(sip::MakeResponse(*m1, 200, "OK", "a1").Serialize()));

  std::optional<SipMessage> m2 = alice.Receive();
  ASSERT_TRUE(m2.has_value());
  ASSERT_TRUE(m2->is_request());
  EXPECT_EQ(m2->body(), "two");
  EXPECT_NE(m2->call_id(), m1->call_id());
  // A failure from the endpoint is the XMPP sender's failure.
  ASSERT_TRUE(alice.Send(sip::MakeResponse(*m2, 486, "Busy Here", "a2").Serialize()));

  ASSERT_TRUE(WaitFor([this] { return receipts_.size() == 1 && failures_.size() == 1; }));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(receipts_[0].message_id, "x1");
  EXPECT_EQ(receipts_[0].from, first.to);
  EXPECT_EQ(receipts_[0].to, first.from);
  EXPECT_EQ(failures_[0].message_id, "x2");
  EXPECT_EQ(failures_[0].reason, DeliveryFailureReason::kUnavailable);
  EXPECT_EQ(failures_[0].to, first.from);
}

TEST_F(SipImBridgeTest, BusMessageForAnUnregisteredUserFails) {
  InstantMessageEvent im;
  im.message_id = "x3";
  im.from = Address{Network::kXmpp, "bob", "xmpp.test", "phone"};
  im.to = Address{Network::kSip, "nobody", "lync.test", ""};
  im.body = "anyone?";
  im.receipt_requested = true;
  PublishOn(1, im);
  // A typing notification for her goes nowhere and is not answered.
  PublishOn(1, ChatStateEvent{"thread", im.from, im.to, ChatState::kComposing});
  ASSERT_TRUE(WaitFor([this] { return !failures_.empty(); }));
  std::this_thread::sleep_for(milliseconds(100));
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(failures_.size(), 1u);
  EXPECT_EQ(failures_[0].message_id, "x3");
  EXPECT_EQ(failures_[0].reason, DeliveryFailureReason::kUnavailable);
  EXPECT_EQ(failures_[0].from, im.to);
  EXPECT_EQ(failures_[0].to, im.from);
  EXPECT_TRUE(receipts_.empty());
}

}  // namespace
}  // namespace causeway::gateway
