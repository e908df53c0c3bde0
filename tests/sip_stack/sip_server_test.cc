// SipServer end to end over the real transaction layer, a fake transport and a simulated clock:
// REGISTER, OPTIONS, and calls proxied to registered contacts (forking, CANCEL, timeouts).

#include "sip/stack/sip_server.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/status.h"
#include "core/strings.h"
#include "core/timer_wheel.h"
#include "gtest/gtest.h"
#include "tests/sip_stack/fake_transport.h"

namespace causeway::sip {
namespace {

using std::chrono::seconds;
using testing::FakeTransport;

// IP-literal URIs resolve to themselves over UDP (or the URI's transport).
class LiteralResolver : public NextHopResolver {
 public:
  void Resolve(const Uri& uri, Callback done) override {
    std::optional<NetAddress> a = NetAddress::Parse(uri.host(), uri.port().value_or(5060));
    if (!a) {
      done(SipError(404, "unknown host"));
      return;
    }
    Destination d;
    d.address = *a;
    if (!uri.transport().empty()) ParseTransportName(uri.transport(), &d.kind);
    done(std::vector<Destination>{d});
  }
};

ReceiveInfo Udp(std::string_view source) {
  ReceiveInfo info;
  info.kind = TransportKind::kUdp;
  info.source = *NetAddress::Parse(source);
  info.local = *NetAddress::Parse("127.0.0.1:5060");
  return info;
}

SipMessage Parse(std::string text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status() << "\n" << text;
  return std::move(*m);
}

class SipServerTest : public ::testing::Test {
 protected:
  SipServerTest() {
    SipServerOptions options;
    options.domains = {"example.com"};
    options.registrar.wall_clock = [] { return absl::UnixEpoch(); };
    server_ = std::make_unique<SipServer>(transport_, wheel_, clock_, store_, resolver_, options);
  }

  void Receive(std::string text, std::string_view source) {
    server_->transport_user().OnMessage(Parse(std::move(text)), Udp(source));
  }

  // A UA at `addr` registers sip:`user`@example.com with contact sip:`user`@`addr`.
  void RegisterUa(std::string_view user, std::string_view addr) {
    Receive(absl::StrCat("REGISTER sip:example.com SIP/2.0\r\n",
                         "Via: SIP/2.0/UDP ", ToAbsl(addr), ";branch=z9hG4bK-r-", ToAbsl(addr),
                         "\r\nFrom: <sip:", ToAbsl(user), "@example.com>;tag=r1\r\n",
                         "To: <sip:", ToAbsl(user), "@example.com>\r\n",
                         "Call-ID: reg-", ToAbsl(addr), "\r\nCSeq: 1 REGISTER\r\n",
                         "Contact: <sip:", ToAbsl(user), "@", ToAbsl(addr), ">\r\n",
                         "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
            addr);
  }

  std::string Invite(std::string_view ruri, std::string_view branch = "z9hG4bK-inv1") {
    return absl::StrCat("INVITE ", ToAbsl(ruri), " SIP/2.0\r\n",
                        "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=", ToAbsl(branch), "\r\n",
                        "From: <sip:carol@example.com>;tag=c1\r\n",
                        "To: <sip:alice@example.com>\r\n", "Call-ID: call-9\r\n",
                        "CSeq: 1 INVITE\r\nContact: <sip:carol@127.0.0.2:5062>\r\n",
                        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
  }

  // Messages sent to `addr` whose first line starts with `prefix`, parsed.
  std::vector<SipMessage> SentTo(std::string_view addr, std::string_view prefix) {
    std::vector<SipMessage> out;
    for (const FakeTransport::Sent& s : transport_.sent) {
      if (s.to.address.ToString() == addr && s.StartsWith(prefix)) out.push_back(s.Parse());
    }
    return out;
  }

  // The callee at `addr` answers the INVITE it received with `code`.
  void CalleeAnswers(std::string_view addr, int code, std::string_view tag) {
    std::vector<SipMessage> invites = SentTo(addr, "INVITE");
    ASSERT_FALSE(invites.empty());
    SipMessage response = MakeResponse(invites.back(), code, {}, tag);
    server_->transport_user().OnMessage(std::move(response), Udp(addr));
  }

  SimulatedClock clock_;
  TimerWheel wheel_{clock_};
  FakeTransport transport_{&clock_};
  LocationStore store_;
  LiteralResolver resolver_;
  std::unique_ptr<SipServer> server_;
};

TEST_F(SipServerTest, RegisterIsAnsweredByTheRegistrar) {
  RegisterUa("alice", "127.0.0.3:5070");
  std::vector<SipMessage> ok = SentTo("127.0.0.3:5070", "SIP/2.0 200");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].HeaderValues(HeaderId::kContact).size(), 1u);
  EXPECT_EQ(store_.Lookup("sip:alice@example.com", clock_.Now()).size(), 1u);
  EXPECT_EQ(server_->stats().registers, 1u);
}

TEST_F(SipServerTest, OptionsToUsIsAnsweredWithCapabilities) {
  Receive(absl::StrCat("OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-o1\r\n",
                       "From: <sip:carol@example.com>;tag=o\r\nTo: <sip:127.0.0.1>\r\n",
                       "Call-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n",
                       "Content-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  std::vector<SipMessage> ok = SentTo("127.0.0.2:5062", "SIP/2.0 200");
  ASSERT_EQ(ok.size(), 1u);
  ASSERT_NE(ok[0].FindHeader(HeaderId::kAllow), nullptr);
  EXPECT_TRUE(absl::StrContains(ToAbsl(ok[0].FindHeader(HeaderId::kAllow)->value), "REGISTER"));
  EXPECT_NE(ok[0].FindHeader(HeaderId::kAccept), nullptr);
  EXPECT_NE(ok[0].FindHeader(HeaderId::kSupported), nullptr);
  EXPECT_EQ(server_->stats().options, 1u);
}

TEST_F(SipServerTest, OptionsWithUnsupportedRequireIs420) {
  Receive(absl::StrCat("OPTIONS sip:example.com SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-o2\r\n",
                       "From: <sip:carol@example.com>;tag=o\r\nTo: <sip:example.com>\r\n",
                       "Call-ID: opt-2\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n",
                       "Require: 100rel, path\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  std::vector<SipMessage> r = SentTo("127.0.0.2:5062", "SIP/2.0 420");
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].HeaderValues(HeaderId::kUnsupported).size(), 1u);
  EXPECT_EQ(r[0].HeaderValues(HeaderId::kUnsupported)[0], "100rel");
}

TEST_F(SipServerTest, RegisterRequiringAnUnknownExtensionIs420) {
  Receive(absl::StrCat("REGISTER sip:example.com SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.3:5070;branch=z9hG4bK-rq\r\n",
                       "From: <sip:alice@example.com>;tag=r1\r\n",
                       "To: <sip:alice@example.com>\r\nCall-ID: reg-q\r\nCSeq: 1 REGISTER\r\n",
                       "Contact: <sip:alice@127.0.0.3:5070>\r\nRequire: gruu, path\r\n",
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.3:5070");
  std::vector<SipMessage> r = SentTo("127.0.0.3:5070", "SIP/2.0 420");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].HeaderValues(HeaderId::kUnsupported).size(), 1u);
  EXPECT_EQ(store_.binding_count(), 0u);
  EXPECT_EQ(server_->stats().bad_extension, 1u);
}

TEST_F(SipServerTest, RegisterForAnotherDomainIsProxied) {
  Receive(absl::StrCat("REGISTER sip:127.0.0.9:5080 SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.3:5070;branch=z9hG4bK-rf\r\n",
                       "From: <sip:alice@other.example>;tag=r1\r\n",
                       "To: <sip:alice@other.example>\r\nCall-ID: reg-f\r\nCSeq: 1 REGISTER\r\n",
                       "Contact: <sip:alice@127.0.0.3:5070>\r\n",
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.3:5070");
  EXPECT_EQ(SentTo("127.0.0.9:5080", "REGISTER").size(), 1u);
  EXPECT_EQ(server_->stats().registers, 0u);
  EXPECT_EQ(server_->stats().proxied, 1u);
}

TEST_F(SipServerTest, OptionsWithMaxForwardsZeroIsAnsweredHere) {
  Receive(absl::StrCat("OPTIONS sip:bob@elsewhere.example SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-o3\r\n",
                       "From: <sip:carol@example.com>;tag=o\r\nTo: <sip:bob@elsewhere.example>\r\n",
                       "Call-ID: opt-3\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\n",
                       "Content-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 200").size(), 1u);
}

TEST_F(SipServerTest, CallToRegisteredUserAndAckThrough) {
  RegisterUa("alice", "127.0.0.3:5070");
  transport_.Take();
  Receive(Invite("sip:alice@example.com"), "127.0.0.2:5062");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 100").size(), 1u);
  std::vector<SipMessage> invites = SentTo("127.0.0.3:5070", "INVITE sip:alice@127.0.0.3:5070");
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].vias().size(), 2u);
  EXPECT_EQ(invites[0].record_routes().size(), 1u);
  CalleeAnswers("127.0.0.3:5070", 180, "a1");
  CalleeAnswers("127.0.0.3:5070", 200, "a1");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 180").size(), 1u);
  std::vector<SipMessage> oks = SentTo("127.0.0.2:5062", "SIP/2.0 200");
  ASSERT_EQ(oks.size(), 1u);
  EXPECT_EQ(oks[0].vias().size(), 1u);
  // The caller's ACK follows the Record-Route through us to the contact, statelessly.
  Receive(absl::StrCat("ACK sip:alice@127.0.0.3:5070 SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-ack1\r\n",
                       "Route: <sip:127.0.0.1:5060;lr>\r\n",
                       "From: <sip:carol@example.com>;tag=c1\r\n",
                       "To: <sip:alice@example.com>;tag=a1\r\n", "Call-ID: call-9\r\n",
                       "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  std::vector<SipMessage> acks = SentTo("127.0.0.3:5070", "ACK");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].routes().empty());
  EXPECT_EQ(server_->stats().acks, 1u);
}

TEST_F(SipServerTest, ForkedCallOneAnswersTheOtherIsCancelled) {
  RegisterUa("alice", "127.0.0.3:5070");
  RegisterUa("alice", "127.0.0.4:5070");
  transport_.Take();
  Receive(Invite("sip:alice@example.com"), "127.0.0.2:5062");
  ASSERT_EQ(SentTo("127.0.0.3:5070", "INVITE").size(), 1u);
  ASSERT_EQ(SentTo("127.0.0.4:5070", "INVITE").size(), 1u);
  CalleeAnswers("127.0.0.3:5070", 180, "a");
  CalleeAnswers("127.0.0.4:5070", 180, "b");
  CalleeAnswers("127.0.0.3:5070", 200, "a");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 200").size(), 1u);
  // MS-OCSPROT 2.5.11 / RFC 3261 §16.7 step 10: the other endpoint gets a CANCEL.
  std::vector<SipMessage> cancels = SentTo("127.0.0.4:5070", "CANCEL");
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(SentTo("127.0.0.3:5070", "CANCEL").size(), 0u);
  // It answers 487; the layer ACKs it and nothing more reaches the caller.
  CalleeAnswers("127.0.0.4:5070", 487, "b");
  EXPECT_EQ(SentTo("127.0.0.4:5070", "ACK").size(), 1u);
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 487").size(), 0u);
  EXPECT_EQ(server_->proxy().context_count(), 0u);
}

TEST_F(SipServerTest, CallerCancelGets487AndBranchesAreCancelled) {
  RegisterUa("alice", "127.0.0.3:5070");
  transport_.Take();
  Receive(Invite("sip:alice@example.com"), "127.0.0.2:5062");
  CalleeAnswers("127.0.0.3:5070", 180, "a");
  Receive(absl::StrCat("CANCEL sip:alice@example.com SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-inv1\r\n",
                       "From: <sip:carol@example.com>;tag=c1\r\n",
                       "To: <sip:alice@example.com>\r\n", "Call-ID: call-9\r\n",
                       "CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 200").size(), 1u);  // the CANCEL's 200
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 487").size(), 1u);
  EXPECT_EQ(SentTo("127.0.0.3:5070", "CANCEL").size(), 1u);
  EXPECT_EQ(server_->stats().cancels, 1u);
}

TEST_F(SipServerTest, SilentCalleeGives408) {
  RegisterUa("alice", "127.0.0.3:5070");
  transport_.Take();
  const TimePoint start = clock_.Now();
  Receive(Invite("sip:alice@example.com"), "127.0.0.2:5062");
  TimerWheel::AdvanceSimulated(clock_, wheel_, seconds(31));
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 408").size(), 0u);
  TimerWheel::AdvanceSimulated(clock_, wheel_, seconds(2));
  // Timer B (64*T1) ends the branch; the 408 goes upstream (and is retransmitted over UDP by
  // the server transaction until the caller ACKs it).
  TimePoint first_408{};
  for (const FakeTransport::Sent& s : transport_.sent) {
    if (s.StartsWith("SIP/2.0 408")) {
      first_408 = s.at;
      break;
    }
  }
  ASSERT_NE(first_408, TimePoint{});
  EXPECT_EQ(first_408 - start, seconds(32));
  EXPECT_EQ(server_->proxy().context_count(), 0u);
}

TEST_F(SipServerTest, UnregisteredUserGets480) {
  Receive(Invite("sip:alice@example.com"), "127.0.0.2:5062");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 480").size(), 1u);
}

// Takes SUBSCRIBEs, answers them 200 and sends a NOTIFY back to the subscriber; records what it saw.
class RecordingLocalService : public LocalService {
 public:
  explicit RecordingLocalService(SipServer& server) : server_(server) {}
  bool OnRequest(ServerTransactionId id, SipMessage& request, const ReceiveInfo& info) override {
    if (request.method_text() != "SUBSCRIBE") return false;
    (void)server_.layer().SendResponse(id, MakeResponse(request, 200, {}, "svc"));
    auto notify = SipMessage::Parse(absl::StrCat(
        "NOTIFY sip:carol@127.0.0.2:5062 SIP/2.0\r\n",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=", server_.layer().NewBranch(), "\r\n",
        "From: <sip:alice@example.com>;tag=svc\r\nTo: <sip:carol@example.com>;tag=c1\r\n",
        "Call-ID: sub-1\r\nCSeq: 1 NOTIFY\r\nEvent: presence\r\nMax-Forwards: 70\r\n",
        "Content-Length: 0\r\n\r\n"));
    EXPECT_TRUE(notify.ok());
    Destination to;
    to.address = info.source;
    auto sent = server_.layer().SendRequest(std::move(*notify), to);
    EXPECT_TRUE(sent.ok());
    if (sent.ok()) notify_ = *sent;
    return true;
  }
  bool OnResponse(ClientTransactionId id, SipMessage& response) override {
    if (id != notify_) return false;
    codes.push_back(response.status_code());
    return true;
  }
  bool OnClientFailure(ClientTransactionId id, int code) override {
    if (id != notify_) return false;
    codes.push_back(code);
    return true;
  }
  std::vector<int> codes;

 private:
  SipServer& server_;
  ClientTransactionId notify_ = 0;
};

TEST_F(SipServerTest, LocalServiceTakesRequestsBeforeTheProxyAndGetsItsResponses) {
  RecordingLocalService service(*server_);
  server_->SetLocalService(&service);
  Receive(absl::StrCat("SUBSCRIBE sip:alice@example.com SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-s1\r\n",
                       "From: <sip:carol@example.com>;tag=c1\r\nTo: <sip:alice@example.com>\r\n",
                       "Call-ID: sub-1\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n",
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 200").size(), 1u);
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 480").size(), 0u);  // the proxy never saw it
  std::vector<SipMessage> notifies = SentTo("127.0.0.2:5062", "NOTIFY");
  ASSERT_EQ(notifies.size(), 1u);
  server_->transport_user().OnMessage(MakeResponse(notifies[0], 200, {}, "c1"),
                                      Udp("127.0.0.2:5062"));
  EXPECT_EQ(service.codes, std::vector<int>{200});
  EXPECT_EQ(server_->stats().local, 1u);
  // What the service declines still reaches the proxy.
  Receive(Invite("sip:alice@example.com"), "127.0.0.2:5062");
  EXPECT_EQ(SentTo("127.0.0.2:5062", "SIP/2.0 480").size(), 1u);
  server_->SetLocalService(nullptr);
}

TEST_F(SipServerTest, LocalServiceHearsTimeoutsOfItsRequests) {
  RecordingLocalService service(*server_);
  server_->SetLocalService(&service);
  Receive(absl::StrCat("SUBSCRIBE sip:alice@example.com SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-s2\r\n",
                       "From: <sip:carol@example.com>;tag=c1\r\nTo: <sip:alice@example.com>\r\n",
                       "Call-ID: sub-1\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n",
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.2:5062");
  TimerWheel::AdvanceSimulated(clock_, wheel_, seconds(33));  // Timer F
  EXPECT_EQ(service.codes, std::vector<int>{408});
  server_->SetLocalService(nullptr);
}

TEST_F(SipServerTest, ExpiredBindingsArePurgedPeriodically) {
  Receive(absl::StrCat("REGISTER sip:example.com SIP/2.0\r\n",
                       "Via: SIP/2.0/UDP 127.0.0.3:5070;branch=z9hG4bK-rx\r\n",
                       "From: <sip:alice@example.com>;tag=r1\r\n",
                       "To: <sip:alice@example.com>\r\nCall-ID: reg-x\r\nCSeq: 1 REGISTER\r\n",
                       "Contact: <sip:alice@127.0.0.3:5070>;expires=60\r\n",
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
          "127.0.0.3:5070");
  EXPECT_EQ(store_.binding_count(), 1u);
  TimerWheel::AdvanceSimulated(clock_, wheel_, seconds(75));
  EXPECT_EQ(store_.binding_count(), 0u);
  EXPECT_EQ(server_->stats().purged_bindings, 1u);
}

}  // namespace
}  // namespace causeway::sip
