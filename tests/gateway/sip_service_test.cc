// The SIP service with several workers: state shared across workers (registered flows) must work
// whichever worker the kernel's SO_REUSEPORT hash gave each connection to.

#include "gateway/sip_service.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/bus.h"
#include "core/events.h"
#include "core/strings.h"
#include "gateway/config.h"
#include "gateway/state_dir.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "tests/gateway/sip_test_peer.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using sip::SipMessage;

using testing::SipTestPeer;

std::string Header(const SipMessage& m, std::string_view name) {
  const sip::Header* h = m.FindHeader(name);
  return h ? std::string(h->value) : std::string();
}

class SipServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GatewayConfig config = DefaultConfig();
    config.general.state_dir = dir_ / "state";
    config.sip.udp.clear();
    config.sip.tls.clear();
    config.sip.tcp = {*NetAddress::Parse("127.0.0.1:0")};
    config.sip.domains = {"example.com"};
    StartContext context;
    context.config = std::make_shared<const GatewayConfig>(config);
    absl::StatusOr<std::string> state_dir = PrepareStateDir(dir_ / "state");
    ASSERT_TRUE(state_dir.ok()) << state_dir.status();
    context.state_dir = *state_dir;
    context.workers = 2;
    SipServiceHooks hooks;
    hooks.on_worker = [this](runtime::Worker&, Bus& bus) {
      subscriptions_.push_back(bus.Subscribe<InstantMessageEvent>(
          [this](const InstantMessageEvent& e) {
            std::lock_guard<std::mutex> lock(events_mu_);
            delivered_.push_back(e);
          }));
      subscriptions_.push_back(bus.Subscribe<DeliveryFailureEvent>(
          [this](const DeliveryFailureEvent& e) {
            std::lock_guard<std::mutex> lock(events_mu_);
            failed_.push_back(e);
          }));
    };
    service_ = MakeSipService(std::move(hooks));
    ASSERT_TRUE(service_->Start(context).ok());
    for (const std::string& listener : service_->Listeners()) {
      const std::string prefix = "tcp:127.0.0.1:";
      if (listener.rfind(prefix, 0) == 0) {
        uint32_t port = 0;
        ASSERT_TRUE(absl::SimpleAtoi(ToAbsl(std::string_view(listener).substr(prefix.size())), &port));
        port_ = static_cast<uint16_t>(port);
      }
    }
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (service_) service_->Stop();
  }

  testing::ScratchDir dir_;
  std::vector<Subscription> subscriptions_;  // outlive the service's buses (see core/bus.h)
  std::mutex events_mu_;
  std::vector<InstantMessageEvent> delivered_;
  std::vector<DeliveryFailureEvent> failed_;
  std::unique_ptr<Service> service_;
  uint16_t port_ = 0;
};

// RFC 5626: a UA registered with +sip.instance is reached over the connection it registered on,
// its Contact (here a port nobody listens on) is never dialled. Before connection ids named their
// worker, a flow accepted by worker 1 was unknown to worker 0, which then dialled the Contact.
TEST_F(SipServiceTest, RegisteredFlowsAreUsedFromEveryWorker) {
  // Enough connections that both workers own some (the reuseport hash is per 4-tuple); every one
  // must work wherever it landed.
  constexpr int kUsers = 16;
  std::vector<std::unique_ptr<SipTestPeer>> users;
  for (int i = 0; i < kUsers; ++i) {
    auto peer = std::make_unique<SipTestPeer>(port_);
    ASSERT_TRUE(peer->connected());
    const std::string aor = absl::StrCat("sip:user", i, "@example.com");
    ASSERT_TRUE(peer->Send(absl::StrCat(
        "REGISTER sip:example.com SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:", peer->local_port(), ";branch=z9hG4bKreg", i, "\r\n",
        "Max-Forwards: 70\r\n"
        "From: <", aor, ">;tag=r", i, "\r\n",
        "To: <", aor, ">\r\n",
        "Call-ID: reg-", i, "@test\r\n"
        "CSeq: 1 REGISTER\r\n"
        // Port 9 on loopback: nothing listens there, so dialling the Contact fails loudly.
        "Contact: <sip:user", i, "@127.0.0.1:9;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-",
        absl::Dec(i, absl::kZeroPad12), ">\";reg-id=1\r\n"
        "Supported: outbound, path\r\n"
        "Expires: 600\r\n"
        "Content-Length: 0\r\n\r\n")));
    std::optional<SipMessage> answer = peer->Receive();
    ASSERT_TRUE(answer.has_value()) << "user " << i;
    ASSERT_EQ(answer->status_code(), 200) << "user " << i;
    users.push_back(std::move(peer));
  }

  SipTestPeer sender(port_);
  ASSERT_TRUE(sender.connected());
  for (int i = 0; i < kUsers; ++i) {
    const std::string target = absl::StrCat("sip:user", i, "@example.com");
    ASSERT_TRUE(sender.Send(absl::StrCat(
        "MESSAGE ", target, " SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:", sender.local_port(), ";branch=z9hG4bKmsg", i, "\r\n",
        "Max-Forwards: 70\r\n"
        "From: <sip:sender@example.com>;tag=s", i, "\r\n",
        "To: <", target, ">\r\n",
        "Call-ID: msg-", i, "@test\r\n"
        "CSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 5\r\n\r\nhello")));

    std::optional<SipMessage> delivered = users[i]->Receive();
    ASSERT_TRUE(delivered.has_value()) << "MESSAGE for user " << i << " never reached its flow";
    EXPECT_EQ(delivered->method_text(), "MESSAGE");
    EXPECT_EQ(Header(*delivered, "Call-ID"), absl::StrCat("msg-", i, "@test"));
    SipMessage ok = sip::MakeResponse(*delivered, 200, "OK", absl::StrCat("u", i));
    ASSERT_TRUE(users[i]->Send(ok.Serialize()));

    std::optional<SipMessage> final_response = sender.Final();  // a 100 Trying may come first
    ASSERT_TRUE(final_response.has_value()) << "no answer for the MESSAGE to user " << i;
    EXPECT_EQ(final_response->status_code(), 200) << "user " << i;
    EXPECT_EQ(Header(*final_response, "Call-ID"), absl::StrCat("msg-", i, "@test"));
  }

  // A MESSAGE for a user of our domain with no registration is refused (480).
  ASSERT_TRUE(sender.Send(absl::StrCat(
      "MESSAGE sip:nobody@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TCP 127.0.0.1:", sender.local_port(), ";branch=z9hG4bKnobody\r\n",
      "Max-Forwards: 70\r\nFrom: <sip:sender@example.com>;tag=sn\r\n"
      "To: <sip:nobody@example.com>\r\nCall-ID: nobody@test\r\nCSeq: 1 MESSAGE\r\n"
      "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")));
  std::optional<SipMessage> refused = sender.Final();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status_code(), 480);

  // Without XMPP (no xmpp_domains) IMs between SIP users stay SIP business: the bus carries events
  // towards their destination network (core/events.h), and these never leave SIP. Let the worker
  // finish any outcome handling it may have queued before looking.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard<std::mutex> lock(events_mu_);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_TRUE(failed_.empty());
}

}  // namespace
}  // namespace causeway::gateway
