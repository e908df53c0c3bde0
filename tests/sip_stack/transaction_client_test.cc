// Client transactions (RFC 3261 §17.1, RFC 6026 §8.4) and client-side CANCEL (§9.1).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sip/stack/branch.h"
#include "tests/sip_stack/transaction_fixture.h"

namespace causeway::sip::testing {
namespace {

using ClientTxnTest = TransactionTest;

std::vector<Duration> Ms(std::initializer_list<int> ms) {
  std::vector<Duration> out;
  for (int m : ms) out.push_back(milliseconds(m));
  return out;
}

// The response a UAS would send to the request we sent as transport_.sent[index].
SipMessage ResponseTo(const FakeTransport::Sent& sent, int code, std::string_view tag = "totag9") {
  SipMessage request = sent.Parse();
  return MakeResponse(request, code, {}, tag);
}

TEST_F(ClientTxnTest, InviteOverUdpRetransmitsWithTimerAThenTimesOutWithTimerB) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(layer_->client_state(*id), ClientState::kCalling);
  Run(seconds(40));
  EXPECT_EQ(SendTimes("INVITE"), Ms({0, 500, 1500, 3500, 7500, 15500, 31500}));
  ASSERT_EQ(tu_.events.size(), 1u);
  EXPECT_EQ(tu_.events[0].kind, "timeout");
  EXPECT_EQ(tu_.events[0].id, *id);
  EXPECT_EQ(tu_.events[0].at - t0_, seconds(32));
  EXPECT_EQ(layer_->client_count(), 0u);
  EXPECT_EQ(layer_->client_state(*id), std::nullopt);
  for (const auto& s : transport_.sent) EXPECT_EQ(s.token, *id);
}

TEST_F(ClientTxnTest, InviteOverTcpNeverRetransmits) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE", TransportKind::kTcp), TcpDest());
  ASSERT_TRUE(id.ok());
  Run(seconds(40));
  EXPECT_EQ(SendTimes("INVITE"), Ms({0}));
  EXPECT_EQ(tu_.Count("timeout"), 1u);
  EXPECT_EQ(tu_.events[0].at - t0_, seconds(32));  // Timer B runs on every transport
}

TEST_F(ClientTxnTest, ProvisionalStopsRetransmissionsAndTimerB) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  Run(milliseconds(700));  // one retransmission at 500 ms
  layer_->OnMessage(ResponseTo(transport_.sent[0], 180), Udp("127.0.0.3:5060"));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kProceeding);
  layer_->OnMessage(ResponseTo(transport_.sent[0], 183), Udp("127.0.0.3:5060"));
  Run(seconds(120));
  EXPECT_EQ(SendTimes("INVITE"), Ms({0, 500}));
  ASSERT_EQ(tu_.events.size(), 2u);
  EXPECT_EQ(tu_.events[0].code, 180);
  EXPECT_EQ(tu_.events[1].code, 183);
  EXPECT_EQ(layer_->client_state(*id), ClientState::kProceeding);
}

TEST_F(ClientTxnTest, NonSuccessFinalIsAckedByTheTransactionAndAbsorbedWhenRetransmitted) {
  auto id = layer_->SendRequest(
      OutgoingRequest("INVITE", TransportKind::kUdp,
                      "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n"),
      UdpDest());
  ASSERT_TRUE(id.ok());
  const SipMessage invite = transport_.sent[0].Parse();
  layer_->OnMessage(ResponseTo(transport_.sent[0], 486, "busytag"), Udp("127.0.0.3:5060"));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kCompleted);
  ASSERT_EQ(transport_.Count("ACK "), 1u);
  const SipMessage ack = transport_.sent.back().Parse();
  // §17.1.1.3: same Request-URI, Call-ID, From, CSeq number; To with the response's tag; one Via
  // equal to the request's top Via; the Route set copied.
  EXPECT_EQ(ack.method(), Method::kAck);
  EXPECT_EQ(ack.request_uri_text(), invite.request_uri_text());
  EXPECT_EQ(ack.call_id(), invite.call_id());
  EXPECT_EQ(ack.from_tag(), "fromtag1");
  EXPECT_EQ(ack.to_tag(), "busytag");
  EXPECT_EQ(ack.cseq(), invite.cseq());
  EXPECT_EQ(ack.cseq_method(), Method::kAck);
  ASSERT_EQ(ack.vias().size(), 1u);
  EXPECT_EQ(ack.vias()[0].branch, invite.vias()[0].branch);
  ASSERT_EQ(ack.routes().size(), 2u);
  EXPECT_EQ(ack.routes()[1].uri_text, "sip:p2.example.com;lr");
  EXPECT_EQ(transport_.sent.back().to.address, UdpDest().address);
  ASSERT_EQ(tu_.events.size(), 1u);
  EXPECT_EQ(tu_.events[0].code, 486);

  // Retransmitted 486: ACK again, TU not bothered.
  Run(seconds(1));
  layer_->OnMessage(ResponseTo(transport_.sent[0], 486, "busytag"), Udp("127.0.0.3:5060"));
  EXPECT_EQ(transport_.Count("ACK "), 2u);
  EXPECT_EQ(tu_.events.size(), 1u);
  // No INVITE retransmission after the final.
  Run(seconds(10));
  EXPECT_EQ(SendTimes("INVITE"), Ms({0}));
  // Timer D (32 s) ends the transaction; then the same 486 is a stray.
  EXPECT_EQ(layer_->client_state(*id), ClientState::kCompleted);
  Run(seconds(21));
  EXPECT_EQ(layer_->client_state(*id), std::nullopt);
  layer_->OnMessage(ResponseTo(transport_.sent[0], 486, "busytag"), Udp("127.0.0.3:5060"));
  EXPECT_EQ(tu_.Count("stray"), 1u);
}

TEST_F(ClientTxnTest, NonSuccessFinalOverTcpTerminatesAtOnce) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE", TransportKind::kTcp), TcpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 603), Tcp(7));
  EXPECT_EQ(transport_.Count("ACK "), 1u);
  EXPECT_EQ(layer_->client_count(), 0u);  // Timer D = 0
  EXPECT_EQ(tu_.Count("response"), 1u);
}

TEST_F(ClientTxnTest, SuccessEntersAcceptedAndForwardsRetransmittedTwoHundredsUntilTimerM) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Udp("127.0.0.3:5060"));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kAccepted);
  EXPECT_EQ(transport_.Count("ACK "), 0u);  // the TU ACKs 2xx (§13.2.2.4)
  Run(seconds(2));
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Udp("127.0.0.3:5060"));
  // A forked 2xx with another To tag too.
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200, "fork2"), Udp("127.0.0.3:5060"));
  // A late 1xx or non-2xx in Accepted is absorbed.
  layer_->OnMessage(ResponseTo(transport_.sent[0], 180), Udp("127.0.0.3:5060"));
  EXPECT_EQ(tu_.Count("response"), 3u);
  EXPECT_EQ(SendTimes("INVITE"), Ms({0}));
  Run(seconds(30));  // Timer M = 64*T1 = 32 s after the first 2xx
  EXPECT_EQ(layer_->client_state(*id), std::nullopt);
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Udp("127.0.0.3:5060"));
  EXPECT_EQ(tu_.Count("stray"), 1u);
  EXPECT_EQ(tu_.Count("timeout"), 0u);
}

TEST_F(ClientTxnTest, NonInviteOverUdpUsesTimerECappedAtT2ThenTimerF) {
  auto id = layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(layer_->client_state(*id), ClientState::kTrying);
  Run(seconds(40));
  EXPECT_EQ(SendTimes("MESSAGE"),
            Ms({0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  ASSERT_EQ(tu_.events.size(), 1u);
  EXPECT_EQ(tu_.events[0].kind, "timeout");
  EXPECT_EQ(tu_.events[0].at - t0_, seconds(32));
  EXPECT_EQ(layer_->client_count(), 0u);
}

TEST_F(ClientTxnTest, NonInviteProceedingRetransmitsEveryT2) {
  auto id = layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest());
  ASSERT_TRUE(id.ok());
  Run(milliseconds(200));
  layer_->OnMessage(ResponseTo(transport_.sent[0], 100), Udp("127.0.0.3:5060"));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kProceeding);
  Run(seconds(40));
  EXPECT_EQ(SendTimes("MESSAGE"), Ms({0, 500, 4500, 8500, 12500, 16500, 20500, 24500, 28500}));
  EXPECT_EQ(tu_.Count("response"), 1u);
  EXPECT_EQ(tu_.Count("timeout"), 1u);
}

TEST_F(ClientTxnTest, NonInviteFinalThenTimerKAbsorbsRetransmissions) {
  auto id = layer_->SendRequest(OutgoingRequest("OPTIONS"), UdpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Udp("127.0.0.3:5060"));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kCompleted);
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Udp("127.0.0.3:5060"));
  EXPECT_EQ(tu_.Count("response"), 1u);
  Run(milliseconds(4990));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kCompleted);
  Run(milliseconds(10));  // Timer K = T4 = 5 s
  EXPECT_EQ(layer_->client_state(*id), std::nullopt);
  EXPECT_EQ(SendTimes("OPTIONS"), Ms({0}));
}

TEST_F(ClientTxnTest, NonInviteOverTcpFinalTerminatesAtOnce) {
  auto id = layer_->SendRequest(OutgoingRequest("REGISTER", TransportKind::kTcp), TcpDest());
  ASSERT_TRUE(id.ok());
  Run(seconds(10));
  EXPECT_EQ(SendTimes("REGISTER"), Ms({0}));
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Tcp(3));
  EXPECT_EQ(layer_->client_count(), 0u);
  EXPECT_EQ(tu_.Count("response"), 1u);
}

TEST_F(ClientTxnTest, TransportErrorIsReportedAs503AndEndsTheTransaction) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE", TransportKind::kTcp), TcpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnSendFailed(transport_.sent[0].token, TcpDest(),
                       absl::UnavailableError("connection refused"));
  ASSERT_EQ(tu_.events.size(), 1u);
  EXPECT_EQ(tu_.events[0].kind, "transport-error");
  EXPECT_EQ(tu_.events[0].id, *id);
  EXPECT_EQ(tu_.events[0].code, 503);
  EXPECT_EQ(layer_->client_count(), 0u);
  // Late failure reports and timers for the dead transaction do nothing.
  layer_->OnSendFailed(*id, TcpDest(), absl::UnavailableError("again"));
  Run(seconds(40));
  EXPECT_EQ(tu_.events.size(), 1u);
}

TEST_F(ClientTxnTest, TransportErrorAfterFinalIsIgnored) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 200), Udp("127.0.0.3:5060"));
  layer_->OnSendFailed(*id, UdpDest(), absl::UnavailableError("icmp unreachable"));
  EXPECT_EQ(layer_->client_state(*id), ClientState::kAccepted);
  EXPECT_EQ(tu_.Count("transport-error"), 0u);
}

TEST_F(ClientTxnTest, StrayResponsesAndStaleIds) {
  layer_->OnMessage(
      ParseOrDie("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnobody\r\n"
                 "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: z\r\n"
                 "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
      Udp("127.0.0.3:5060"));
  EXPECT_EQ(tu_.Count("stray"), 1u);
  EXPECT_EQ(layer_->CancelClient(424242).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(layer_
                ->SendResponse(424242, ParseOrDie("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;"
                                                  "branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\n"
                                                  "To: <sip:b@x>\r\nCall-ID: z\r\nCSeq: 1 "
                                                  "MESSAGE\r\nContent-Length: 0\r\n\r\n"))
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(layer_->client_state(424242), std::nullopt);
  EXPECT_EQ(layer_->server_state(424242), std::nullopt);
}

TEST_F(ClientTxnTest, ResponseForSameBranchButOtherMethodDoesNotMatch) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  SipMessage request = transport_.sent[0].Parse();
  std::string text = MakeResponse(request, 200, {}, "t").Serialize();
  const size_t at = text.find("CSeq: 1 INVITE");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 14, "CSeq: 1 CANCEL");
  layer_->OnMessage(ParseOrDie(text), Udp("127.0.0.3:5060"));
  EXPECT_EQ(tu_.Count("stray"), 1u);
  EXPECT_EQ(layer_->client_state(*id), ClientState::kCalling);
}

TEST_F(ClientTxnTest, SendRequestValidatesItsInput) {
  EXPECT_EQ(layer_->SendRequest(OutgoingRequest("ACK"), UdpDest()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(layer_->SendRequest(ParseOrDie(RequestText("INVITE", "rfc2543branch")), UdpDest())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(layer_->SendRequest(OutgoingRequest("INVITE", TransportKind::kTcp), UdpDest())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  SipMessage response = ParseOrDie(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\n"
      "To: <sip:b@x>\r\nCall-ID: z\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(layer_->SendRequest(std::move(response), UdpDest()).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string branch = layer_->NewBranch();
  ASSERT_TRUE(layer_->SendRequest(ParseOrDie(RequestText("MESSAGE", branch)), UdpDest()).ok());
  EXPECT_EQ(
      layer_->SendRequest(ParseOrDie(RequestText("MESSAGE", branch)), UdpDest()).status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST_F(ClientTxnTest, ClientTransactionLimit) {
  TransactionTimers timers;
  timers.max_client_transactions = 2;
  Rebuild(timers);
  ASSERT_TRUE(layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest()).ok());
  ASSERT_TRUE(layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest()).ok());
  EXPECT_EQ(layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest()).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(layer_->client_count(), 2u);
}

TEST_F(ClientTxnTest, CustomTimersScaleEveryTimerAndZeroT1IsClamped) {
  TransactionTimers timers;
  timers.t1 = Duration::zero();  // clamped to 1 ms: A doubles from 1 ms, B = 64 ms
  Rebuild(timers);
  ASSERT_TRUE(layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest()).ok());
  // The 10 ms wheel rounds each deadline up to its tick (never early): 1->10, 12->20, 24->30...
  Run(seconds(1));
  EXPECT_EQ(SendTimes("INVITE"), Ms({0, 10, 20, 30, 40, 60}));
  EXPECT_EQ(tu_.Count("timeout"), 1u);
  EXPECT_EQ(tu_.events.back().at - t0_, milliseconds(70));
}

// --- CANCEL (§9.1) ---

TEST_F(ClientTxnTest, CancelWaitsForAProvisionalThenIsBuiltPerSection9_1) {
  auto id = layer_->SendRequest(
      OutgoingRequest("INVITE", TransportKind::kUdp, "Route: <sip:p1.example.com;lr>\r\n"),
      UdpDest());
  ASSERT_TRUE(id.ok());
  const SipMessage invite = transport_.sent[0].Parse();
  ASSERT_TRUE(layer_->CancelClient(*id).ok());
  EXPECT_EQ(transport_.Count("CANCEL "), 0u);  // no provisional yet: MUST NOT send
  Run(milliseconds(600));
  EXPECT_EQ(transport_.Count("CANCEL "), 0u);
  layer_->OnMessage(ResponseTo(transport_.sent[0], 180), Udp("127.0.0.3:5060"));
  ASSERT_EQ(transport_.Count("CANCEL "), 1u);
  const FakeTransport::Sent& sent_cancel = transport_.sent.back();
  EXPECT_EQ(sent_cancel.to.address, UdpDest().address);
  const SipMessage cancel = sent_cancel.Parse();
  EXPECT_EQ(cancel.request_uri_text(), invite.request_uri_text());
  EXPECT_EQ(cancel.call_id(), invite.call_id());
  EXPECT_EQ(cancel.from_tag(), invite.from_tag());
  EXPECT_EQ(cancel.to().raw, invite.to().raw);
  EXPECT_EQ(cancel.cseq(), invite.cseq());
  EXPECT_EQ(cancel.cseq_method(), Method::kCancel);
  ASSERT_EQ(cancel.vias().size(), 1u);
  EXPECT_EQ(cancel.vias()[0].raw, invite.vias()[0].raw);
  ASSERT_EQ(cancel.routes().size(), 1u);
  EXPECT_EQ(layer_->CancelClient(*id).code(), absl::StatusCode::kOk);  // idempotent
  EXPECT_EQ(transport_.Count("CANCEL "), 1u);

  // 200 for the CANCEL is absorbed; 487 for the INVITE reaches the TU and is ACKed.
  layer_->OnMessage(MakeResponse(cancel, 200, {}, "totag9"), Udp("127.0.0.3:5060"));
  layer_->OnMessage(ResponseTo(transport_.sent[0], 487), Udp("127.0.0.3:5060"));
  ASSERT_EQ(tu_.Count("response"), 2u);
  EXPECT_EQ(tu_.events[0].code, 180);
  EXPECT_EQ(tu_.events[1].code, 487);
  EXPECT_EQ(transport_.Count("ACK "), 1u);
  EXPECT_EQ(layer_->CancelClient(*id).code(), absl::StatusCode::kFailedPrecondition);
  Run(seconds(40));
  EXPECT_EQ(transport_.Count("CANCEL "), 1u);  // the CANCEL transaction completed: no resend
  EXPECT_EQ(layer_->client_count(), 0u);
  EXPECT_EQ(tu_.Count("timeout"), 0u);
}

TEST_F(ClientTxnTest, NoCancelWhenTheFinalArrivesFirst) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(layer_->CancelClient(*id).ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 486), Udp("127.0.0.3:5060"));
  Run(seconds(40));
  EXPECT_EQ(transport_.Count("CANCEL "), 0u);
  EXPECT_EQ(tu_.Count("response"), 1u);
}

TEST_F(ClientTxnTest, CancelRetransmitsOverUdpAndGivesUpOnTheInviteAfter64T1) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 100), Udp("127.0.0.3:5060"));
  Run(seconds(1));
  const TimePoint cancel_at = clock_.Now();
  ASSERT_TRUE(layer_->CancelClient(*id).ok());
  Run(seconds(40));  // nobody answers the CANCEL nor the INVITE
  std::vector<Duration> cancels = SendTimes("CANCEL ");
  ASSERT_EQ(cancels.size(), 11u);  // Timer E schedule, like any non-INVITE
  EXPECT_EQ(cancels[1] - cancels[0], milliseconds(500));
  EXPECT_EQ(cancels[4] - cancels[3], seconds(4));
  ASSERT_EQ(tu_.Count("timeout"), 1u);
  EXPECT_EQ(tu_.events.back().id, *id);
  EXPECT_EQ(tu_.events.back().at - cancel_at, seconds(32));
  EXPECT_EQ(layer_->client_count(), 0u);
}

TEST_F(ClientTxnTest, CancelOnlyAppliesToPendingInvites) {
  auto msg = layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest());
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(layer_->CancelClient(*msg).code(), absl::StatusCode::kFailedPrecondition);
  auto inv = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(inv.ok());
  layer_->OnMessage(ResponseTo(transport_.sent.back(), 200), Udp("127.0.0.3:5060"));
  EXPECT_EQ(layer_->CancelClient(*inv).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ClientTxnTest, CancelTransactionTransportErrorIsNotTheTusBusiness) {
  auto id = layer_->SendRequest(OutgoingRequest("INVITE"), UdpDest());
  ASSERT_TRUE(id.ok());
  layer_->OnMessage(ResponseTo(transport_.sent[0], 180), Udp("127.0.0.3:5060"));
  ASSERT_TRUE(layer_->CancelClient(*id).ok());
  const uint64_t cancel_token = transport_.sent.back().token;
  EXPECT_NE(cancel_token, *id);
  layer_->OnSendFailed(cancel_token, UdpDest(), absl::UnavailableError("x"));
  EXPECT_EQ(tu_.Count("transport-error"), 0u);
  EXPECT_EQ(layer_->client_state(*id), ClientState::kProceeding);
}

// --- branches ---

TEST_F(ClientTxnTest, BranchesCarryMagicCookieAndShard) {
  Rebuild({}, 0x2a);
  const std::string a = layer_->NewBranch();
  const std::string b = layer_->NewBranch();
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("z9hG4bK"));
  EXPECT_EQ(TransactionLayer::ShardOfBranch(a), 0x2au);
  EXPECT_EQ(layer_->shard(), 0x2au);
  for (std::string_view bad :
       {"", "z9hG4bK", "z9hG4bKcw", "z9hG4bKcw1", "z9hG4bKcw1.", "z9hG4bKcw.abc", "z9hG4bKcwzz.abc",
        "z9hG4bKcw123456789.abc", "z9hG4bK776asdhds", "xyz"}) {
    EXPECT_EQ(TransactionLayer::ShardOfBranch(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(ShardOfBranch("z9hG4bKcwffffffff.x"), 0xffffffffu);
  std::mt19937_64 rng(1);
  EXPECT_EQ(ShardOfBranch(MakeBranch(7, rng)), 7u);
  const std::string via = layer_->MakeVia(TransportKind::kUdp, false);
  EXPECT_TRUE(via.starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcw2a.")) << via;
  EXPECT_TRUE(via.ends_with(";rport")) << via;
  EXPECT_TRUE(layer_->MakeVia(TransportKind::kTls, true).starts_with("SIP/2.0/TLS [::1]:5061;"));
}

}  // namespace
}  // namespace causeway::sip::testing
