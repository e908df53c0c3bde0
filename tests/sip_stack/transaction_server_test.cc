// Server transactions (RFC 3261 §17.2, RFC 6026 §8.5-8.7), CANCEL handling (§9.2), the response
// path (§18.2.1/§18.2.2, RFC 3581) and graceful shutdown.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sip_stack/transaction_fixture.h"

namespace causeway::sip::testing {
namespace {

using ServerTxnTest = TransactionTest;

std::vector<Duration> Ms(std::initializer_list<int> ms) {
  std::vector<Duration> out;
  for (int m : ms) out.push_back(milliseconds(m));
  return out;
}

constexpr std::string_view kBranch = "z9hG4bKpeer1";

// Delivers a peer request and returns the server transaction id the TU got (0 if none).
ServerTransactionId Receive(TransactionLayer& layer, RecordingTu& tu, std::string_view text,
                            const ReceiveInfo& info) {
  const size_t before = tu.requests.size();
  layer.OnMessage(ParseOrDie(text), info);
  if (tu.requests.size() == before) return 0;
  for (auto it = tu.events.rbegin(); it != tu.events.rend(); ++it) {
    if (it->kind == "request") return it->id;
  }
  return 0;
}

SipMessage Answer(const RecordingTu& tu, int code, std::string_view tag = "uas1") {
  return MakeResponse(tu.requests.back(), code, {}, code == 100 ? "" : tag);
}

TEST_F(ServerTxnTest, InviteGets100TryingAtOnceAndRetransmissionsGetTheLatestProvisional) {
  const std::string invite = RequestText("INVITE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, invite, Udp());
  ASSERT_NE(id, 0u);
  EXPECT_EQ(layer_->server_state(id), ServerState::kProceeding);
  ASSERT_EQ(transport_.sent.size(), 1u);
  EXPECT_TRUE(transport_.sent[0].StartsWith("SIP/2.0 100 "));
  EXPECT_EQ(transport_.sent[0].token, id);
  EXPECT_EQ(transport_.sent[0].Parse().to_tag(), "");  // 100 carries no To tag

  layer_->OnMessage(ParseOrDie(invite), Udp());  // retransmission: 100 again, no new TU event
  EXPECT_EQ(transport_.Count("SIP/2.0 100 "), 2u);
  EXPECT_EQ(tu_.Count("request"), 1u);

  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 180)).ok());
  layer_->OnMessage(ParseOrDie(invite), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 180 "), 2u);
  Run(seconds(100));  // no retransmission of provisionals by the layer, no timeout in Proceeding
  EXPECT_EQ(transport_.sent.size(), 4u);
  EXPECT_EQ(layer_->server_state(id), ServerState::kProceeding);
}

TEST_F(ServerTxnTest, NonSuccessFinalRetransmitsWithTimerGUntilTimerH) {
  ServerTransactionId id = Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 486)).ok());
  EXPECT_EQ(layer_->server_state(id), ServerState::kCompleted);
  EXPECT_EQ(layer_->SendResponse(id, Answer(tu_, 500)).code(),
            absl::StatusCode::kFailedPrecondition);
  Run(seconds(40));
  EXPECT_EQ(SendTimes("SIP/2.0 486 "),
            Ms({0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  ASSERT_EQ(tu_.Count("server-timeout"), 1u);
  EXPECT_EQ(tu_.events.back().at - t0_, seconds(32));
  EXPECT_EQ(layer_->server_count(), 0u);
}

TEST_F(ServerTxnTest, OnlyTransactionsWithoutAFinalResponseArePending) {
  ServerTransactionId id = Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  ASSERT_NE(id, 0u);
  EXPECT_EQ(layer_->pending_count(), 1u);  // Proceeding: the TU still owes an answer
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 486)).ok());
  // Completed: waiting for an ACK only; a drain need not wait for it.
  EXPECT_EQ(layer_->server_count(), 1u);
  EXPECT_EQ(layer_->pending_count(), 0u);
}

TEST_F(ServerTxnTest, AckConfirmsAndIsAbsorbedThenTimerI) {
  const std::string invite = RequestText("INVITE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, invite, Udp());
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 404)).ok());
  Run(milliseconds(600));  // one Timer G retransmission
  const std::string ack = RequestText("ACK", kBranch);
  layer_->OnMessage(ParseOrDie(ack), Udp());
  EXPECT_EQ(layer_->server_state(id), ServerState::kConfirmed);
  layer_->OnMessage(ParseOrDie(ack), Udp());     // ACK retransmission: absorbed
  layer_->OnMessage(ParseOrDie(invite), Udp());  // late INVITE retransmission: absorbed
  EXPECT_EQ(tu_.Count("ack"), 0u);
  Run(milliseconds(4990));
  EXPECT_EQ(layer_->server_state(id), ServerState::kConfirmed);
  Run(milliseconds(10));  // Timer I = T4
  EXPECT_EQ(layer_->server_state(id), std::nullopt);
  EXPECT_EQ(SendTimes("SIP/2.0 404 "), Ms({0, 500}));
  EXPECT_EQ(tu_.Count("server-timeout"), 0u);
}

TEST_F(ServerTxnTest, RetransmittedInviteInCompletedGetsTheFinalAgain) {
  const std::string invite = RequestText("INVITE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, invite, Udp());
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 480)).ok());
  layer_->OnMessage(ParseOrDie(invite), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 480 "), 2u);
}

TEST_F(ServerTxnTest, OverTcpNoTimerGAndConfirmedEndsAtOnce) {
  const std::string invite = RequestText("INVITE", kBranch, "TCP", "127.0.0.2:5070");
  ServerTransactionId id = Receive(*layer_, tu_, invite, Tcp(11));
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 486)).ok());
  Run(seconds(5));
  EXPECT_EQ(transport_.Count("SIP/2.0 486 "), 1u);
  layer_->OnMessage(ParseOrDie(RequestText("ACK", kBranch, "TCP", "127.0.0.2:5070")), Tcp(11));
  EXPECT_EQ(layer_->server_count(), 0u);  // Timer I = 0
}

TEST_F(ServerTxnTest, OverTcpTimerHStillRuns) {
  ServerTransactionId id =
      Receive(*layer_, tu_, RequestText("INVITE", kBranch, "TCP", "127.0.0.2:5070"), Tcp(11));
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 486)).ok());
  Run(seconds(40));
  EXPECT_EQ(transport_.Count("SIP/2.0 486 "), 1u);
  EXPECT_EQ(tu_.Count("server-timeout"), 1u);
}

TEST_F(ServerTxnTest, SuccessEntersAcceptedAbsorbsRetransmissionsAndPassesAcksUntilTimerL) {
  const std::string invite = RequestText("INVITE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, invite, Udp());
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 200)).ok());
  EXPECT_EQ(layer_->server_state(id), ServerState::kAccepted);
  layer_->OnMessage(ParseOrDie(invite), Udp());  // RFC 6026 §8.5: absorbed
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 1u);
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 200)).ok());  // the TU's own retransmission
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 2u);
  EXPECT_EQ(layer_->SendResponse(id, Answer(tu_, 486)).code(),
            absl::StatusCode::kFailedPrecondition);
  // The 2xx ACK normally has its own branch; either way it reaches the TU.
  layer_->OnMessage(ParseOrDie(RequestText("ACK", kBranch)), Udp());
  layer_->OnMessage(ParseOrDie(RequestText("ACK", "z9hG4bKnewbranch")), Udp());
  EXPECT_EQ(tu_.Count("ack"), 2u);
  Run(milliseconds(31990));
  EXPECT_EQ(layer_->server_state(id), ServerState::kAccepted);
  Run(milliseconds(10));  // Timer L = 64*T1
  EXPECT_EQ(layer_->server_state(id), std::nullopt);
  EXPECT_EQ(layer_->SendResponse(id, Answer(tu_, 200)).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 2u);
}

TEST_F(ServerTxnTest, DelayedTryingIsSentOnlyIfTheTuIsSlow) {
  TransactionTimers timers;
  timers.send_100_immediately = false;
  Rebuild(timers);
  ServerTransactionId quick = Receive(*layer_, tu_, RequestText("INVITE", "z9hG4bKq"), Udp());
  ServerTransactionId slow = Receive(*layer_, tu_, RequestText("INVITE", "z9hG4bKs"), Udp());
  EXPECT_EQ(transport_.sent.size(), 0u);
  Run(milliseconds(100));
  ASSERT_TRUE(layer_->SendResponse(quick, MakeResponse(tu_.requests[0], 180, {}, "t")).ok());
  Run(milliseconds(100));
  ASSERT_EQ(transport_.Count("SIP/2.0 100 "), 1u);
  EXPECT_EQ(transport_.sent.back().token, slow);
  EXPECT_EQ(transport_.sent.back().at - t0_, milliseconds(200));
  EXPECT_EQ(transport_.Count("SIP/2.0 180 "), 1u);
}

TEST_F(ServerTxnTest, NonInviteTryingAbsorbsThenCompletedResendsFinalUntilTimerJ) {
  const std::string message = RequestText("MESSAGE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, message, Udp());
  ASSERT_NE(id, 0u);
  EXPECT_EQ(layer_->server_state(id), ServerState::kTrying);
  EXPECT_EQ(transport_.sent.size(), 0u);  // no automatic 100 for non-INVITE
  layer_->OnMessage(ParseOrDie(message), Udp());
  EXPECT_EQ(transport_.sent.size(), 0u);  // Trying: retransmission absorbed
  EXPECT_EQ(tu_.Count("request"), 1u);
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 100)).ok());
  EXPECT_EQ(layer_->server_state(id), ServerState::kProceeding);
  layer_->OnMessage(ParseOrDie(message), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 100 "), 2u);
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 200)).ok());
  EXPECT_EQ(layer_->server_state(id), ServerState::kCompleted);
  layer_->OnMessage(ParseOrDie(message), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 2u);
  EXPECT_EQ(layer_->SendResponse(id, Answer(tu_, 500)).code(),
            absl::StatusCode::kFailedPrecondition);
  Run(seconds(40));
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 2u);  // no Timer G for non-INVITE
  EXPECT_EQ(layer_->server_count(), 0u);
}

TEST_F(ServerTxnTest, NonInviteOverTcpEndsWithTheFinal) {
  ServerTransactionId id =
      Receive(*layer_, tu_, RequestText("OPTIONS", kBranch, "TCP", "127.0.0.2:5070"), Tcp(5));
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 200)).ok());
  EXPECT_EQ(layer_->server_count(), 0u);  // Timer J = 0
}

TEST_F(ServerTxnTest, TuAnsweringInsideOnRequestIsSafe) {
  tu_.on_request = [this](ServerTransactionId id, SipMessage& request) {
    EXPECT_TRUE(layer_->SendResponse(id, MakeResponse(request, 200, {}, "x")).ok());
  };
  Receive(*layer_, tu_, RequestText("OPTIONS", kBranch, "TCP", "127.0.0.2:5070"), Tcp(5));
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 1u);
  EXPECT_EQ(layer_->server_count(), 0u);
}

TEST_F(ServerTxnTest, MatchingUsesBranchSentByAndMethod) {
  ServerTransactionId a = Receive(*layer_, tu_, RequestText("MESSAGE", kBranch), Udp());
  // Same branch, other sent-by: another transaction (§17.2.3).
  ServerTransactionId b =
      Receive(*layer_, tu_, RequestText("MESSAGE", kBranch, "UDP", "127.0.0.9:5070"),
              Udp("127.0.0.9:5070"));
  // Same branch and sent-by, other method: another transaction.
  ServerTransactionId c = Receive(*layer_, tu_, RequestText("OPTIONS", kBranch), Udp());
  // Host comparison ignores case.
  ServerTransactionId d =
      Receive(*layer_, tu_, RequestText("NOTIFY", kBranch, "UDP", "PC.Example.com:5070"), Udp());
  ServerTransactionId e =
      Receive(*layer_, tu_, RequestText("NOTIFY", kBranch, "UDP", "pc.example.com:5070"), Udp());
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(c, 0u);
  EXPECT_NE(d, 0u);
  EXPECT_EQ(e, 0u);
  EXPECT_EQ(layer_->server_count(), 4u);
}

TEST_F(ServerTxnTest, Rfc2543RequestsWithoutCookieMatchOnDialogFields) {
  const std::string invite = RequestText("INVITE", "oldstyle1");
  ServerTransactionId id = Receive(*layer_, tu_, invite, Udp());
  ASSERT_NE(id, 0u);
  layer_->OnMessage(ParseOrDie(invite), Udp());
  EXPECT_EQ(tu_.Count("request"), 1u);
  EXPECT_EQ(transport_.Count("SIP/2.0 100 "), 2u);
  // A new CSeq is a new transaction.
  EXPECT_NE(Receive(*layer_, tu_,
                    RequestText("INVITE", "oldstyle1", "UDP", "127.0.0.2:5070", "", 2), Udp()),
            0u);
  ASSERT_TRUE(layer_->SendResponse(id, MakeResponse(tu_.requests[0], 486, {}, "t")).ok());
  layer_->OnMessage(ParseOrDie(RequestText("ACK", "oldstyle1")), Udp());
  EXPECT_EQ(layer_->server_state(id), ServerState::kConfirmed);
}

TEST_F(ServerTxnTest, AckMatchingNothingGoesToTheTu) {
  layer_->OnMessage(ParseOrDie(RequestText("ACK", "z9hG4bKfor2xx")), Udp());
  EXPECT_EQ(tu_.Count("ack"), 1u);
  EXPECT_EQ(layer_->server_count(), 0u);
  EXPECT_EQ(transport_.sent.size(), 0u);
}

// --- CANCEL (§9.2) ---

TEST_F(ServerTxnTest, CancelOfPendingInviteIsAnswered200AndTheTuIsTold) {
  ServerTransactionId invite = Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  ASSERT_TRUE(layer_->SendResponse(invite, Answer(tu_, 180)).ok());
  const std::string cancel = RequestText("CANCEL", kBranch);
  layer_->OnMessage(ParseOrDie(cancel), Udp());
  ASSERT_EQ(transport_.Count("SIP/2.0 200 "), 1u);
  const SipMessage ok = transport_.sent.back().Parse();
  EXPECT_EQ(ok.cseq_method(), Method::kCancel);
  EXPECT_FALSE(ok.to_tag().empty());
  ASSERT_EQ(tu_.Count("cancel"), 1u);
  EXPECT_EQ(tu_.events.back().id, invite);
  EXPECT_EQ(tu_.Count("request"), 1u);  // the CANCEL is not a new request for the TU

  layer_->OnMessage(ParseOrDie(cancel), Udp());  // retransmitted CANCEL: same 200, no new event
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 2u);
  EXPECT_EQ(tu_.Count("cancel"), 1u);

  ASSERT_TRUE(layer_->SendResponse(invite, Answer(tu_, 487)).ok());
  EXPECT_EQ(transport_.Count("SIP/2.0 487 "), 1u);
  layer_->OnMessage(ParseOrDie(RequestText("ACK", kBranch)), Udp());
  EXPECT_EQ(layer_->server_state(invite), ServerState::kConfirmed);
  Run(seconds(40));
  EXPECT_EQ(layer_->server_count(), 0u);
}

TEST_F(ServerTxnTest, CancelMatchingNothingGets481) {
  layer_->OnMessage(ParseOrDie(RequestText("CANCEL", "z9hG4bKunknown")), Udp());
  ASSERT_EQ(transport_.Count("SIP/2.0 481 "), 1u);
  EXPECT_EQ(tu_.events.size(), 0u);
  // A CANCEL with the INVITE's branch but another sent-by does not match it either.
  Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  layer_->OnMessage(ParseOrDie(RequestText("CANCEL", kBranch, "UDP", "127.0.0.7:5070")), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 481 "), 2u);
  EXPECT_EQ(tu_.Count("cancel"), 0u);
}

TEST_F(ServerTxnTest, CancelOfNonInviteIsAnswered200WithoutEffect) {
  const std::string message = RequestText("MESSAGE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, message, Udp());
  layer_->OnMessage(ParseOrDie(RequestText("CANCEL", kBranch)), Udp());
  ASSERT_EQ(transport_.Count("SIP/2.0 200 "), 1u);
  EXPECT_EQ(transport_.sent.back().Parse().cseq_method(), Method::kCancel);
  EXPECT_EQ(tu_.Count("cancel"), 0u);
  EXPECT_EQ(layer_->server_state(id), ServerState::kTrying);
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 200)).ok());
  Run(seconds(40));
  EXPECT_EQ(layer_->server_count(), 0u);
  // Once the MESSAGE transaction is gone, the same CANCEL matches nothing.
  layer_->OnMessage(ParseOrDie(RequestText("CANCEL", kBranch, "UDP", "127.0.0.2:5070", "", 1)),
                    Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 481 "), 1u);
}

TEST_F(ServerTxnTest, CancelAfterTheFinalIsAnsweredButNotForwarded) {
  ServerTransactionId invite = Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  ASSERT_TRUE(layer_->SendResponse(invite, Answer(tu_, 200)).ok());
  layer_->OnMessage(ParseOrDie(RequestText("CANCEL", kBranch)), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 2u);  // INVITE's 200 + CANCEL's 200
  EXPECT_EQ(tu_.Count("cancel"), 0u);
}

// --- response path (§18.2) ---

TEST_F(ServerTxnTest, UdpResponsesFollowRportAndReceived) {
  // rport asked for, source port differs from sent-by: reply to the source IP and port, and the
  // response's Via carries received and rport values.
  Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKr1", "UDP", "10.9.9.9:5070;rport"),
          Udp("127.0.0.5:40123"));
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 200)).ok());
  const FakeTransport::Sent& sent = transport_.sent.back();
  EXPECT_EQ(sent.to.kind, TransportKind::kUdp);
  EXPECT_EQ(sent.to.address.ToString(), "127.0.0.5:40123");
  const SipMessage response = sent.Parse();
  EXPECT_EQ(response.vias()[0].received, "127.0.0.5");
  EXPECT_EQ(response.vias()[0].rport_value, 40123);
  EXPECT_EQ(response.vias()[0].host, "10.9.9.9");
  EXPECT_EQ(tu_.requests.back().vias()[0].received, "127.0.0.5");  // the TU saw it too

  // No rport: source IP, sent-by port; received added because the host differs.
  Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKr2", "UDP", "host.example.com:5080"),
          Udp("127.0.0.6:40000"));
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 200)).ok());
  EXPECT_EQ(transport_.sent.back().to.address.ToString(), "127.0.0.6:5080");
  EXPECT_EQ(transport_.sent.back().Parse().vias()[0].received, "127.0.0.6");

  // Sent-by equals the source and no rport: Via untouched, default port when absent.
  Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKr3", "UDP", "127.0.0.7"),
          Udp("127.0.0.7:5060"));
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 200)).ok());
  EXPECT_EQ(transport_.sent.back().to.address.ToString(), "127.0.0.7:5060");
  EXPECT_EQ(transport_.sent.back().Parse().vias()[0].raw, "SIP/2.0/UDP 127.0.0.7;branch=z9hG4bKr3");

  // maddr wins on datagrams.
  Receive(*layer_, tu_,
          RequestText("MESSAGE", "z9hG4bKr4", "UDP", "127.0.0.8:5090;maddr=127.0.0.9"),
          Udp("127.0.0.8:5090"));
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 200)).ok());
  EXPECT_EQ(transport_.sent.back().to.address.ToString(), "127.0.0.9:5090");
}

TEST_F(ServerTxnTest, IPv6SourceMatchingSentByNeedsNoReceived) {
  Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKv6", "UDP", "[::1]:5070"),
          Udp("[::1]:5070"));
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 200)).ok());
  EXPECT_EQ(transport_.sent.back().Parse().vias()[0].received, "");
  EXPECT_EQ(transport_.sent.back().to.address.ToString(), "[::1]:5070");
}

TEST_F(ServerTxnTest, StreamResponsesReuseTheConnection) {
  Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKt1", "TCP", "client.invalid:5070"),
          Tcp(77, "127.0.0.4:51000"));
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 200)).ok());
  const Destination& to = transport_.sent.back().to;
  EXPECT_EQ(to.kind, TransportKind::kTcp);
  EXPECT_EQ(to.connection, 77u);
  // Fallback if the connection is gone (§18.2.2): received IP, sent-by port.
  EXPECT_EQ(to.address.ToString(), "127.0.0.4:5070");
}

TEST_F(ServerTxnTest, ServerTransportErrorEndsTheTransaction) {
  ServerTransactionId id = Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 486)).ok());
  layer_->OnSendFailed(id, transport_.sent.back().to, absl::UnavailableError("unreachable"));
  EXPECT_EQ(tu_.Count("server-transport-error"), 1u);
  EXPECT_EQ(layer_->server_count(), 0u);
  EXPECT_EQ(layer_->SendResponse(id, Answer(tu_, 486)).code(), absl::StatusCode::kNotFound);
  layer_->OnSendFailed(0, transport_.sent.back().to, absl::UnavailableError("stateless"));
  layer_->OnSendFailed(987654, transport_.sent.back().to, absl::UnavailableError("stale"));
  EXPECT_EQ(tu_.events.size(), 2u);  // request + server-transport-error
}

TEST_F(ServerTxnTest, TuThatNeverAnswersIsBoundedByTheGuard) {
  TransactionTimers timers;
  timers.server_tu_timeout = seconds(90);
  Rebuild(timers);
  ServerTransactionId id = Receive(*layer_, tu_, RequestText("MESSAGE", kBranch), Udp());
  Run(seconds(89));
  EXPECT_EQ(layer_->server_state(id), ServerState::kTrying);
  Run(seconds(1));
  EXPECT_EQ(layer_->server_state(id), std::nullopt);
  EXPECT_EQ(tu_.Count("server-timeout"), 1u);
}

TEST_F(ServerTxnTest, StopAcceptingAnswers503ButLetsLiveTransactionsFinish) {
  const std::string invite = RequestText("INVITE", kBranch);
  ServerTransactionId id = Receive(*layer_, tu_, invite, Udp());
  layer_->StopAccepting();
  EXPECT_FALSE(layer_->accepting());
  const std::string message = RequestText("MESSAGE", "z9hG4bKlate");
  EXPECT_EQ(Receive(*layer_, tu_, message, Udp()), 0u);
  ASSERT_EQ(transport_.Count("SIP/2.0 503 "), 1u);
  EXPECT_FALSE(transport_.sent.back().Parse().to_tag().empty());
  layer_->OnMessage(ParseOrDie(message), Udp());  // retransmission: the same 503
  EXPECT_EQ(transport_.Count("SIP/2.0 503 "), 2u);
  // A new INVITE gets a 503 whose ACK is absorbed (never shown to the TU as a 2xx ACK).
  const std::string late_invite = RequestText("INVITE", "z9hG4bKlateinv");
  EXPECT_EQ(Receive(*layer_, tu_, late_invite, Udp()), 0u);
  EXPECT_EQ(transport_.Count("SIP/2.0 503 "), 3u);
  EXPECT_EQ(transport_.Count("SIP/2.0 100 "), 1u);
  layer_->OnMessage(ParseOrDie(RequestText("ACK", "z9hG4bKlateinv")), Udp());
  EXPECT_EQ(tu_.Count("ack"), 0u);
  EXPECT_EQ(tu_.Count("request"), 1u);
  // The live INVITE still gets retransmission handling, CANCEL and its final.
  layer_->OnMessage(ParseOrDie(invite), Udp());
  EXPECT_EQ(transport_.Count("SIP/2.0 100 "), 2u);
  layer_->OnMessage(ParseOrDie(RequestText("CANCEL", kBranch)), Udp());
  EXPECT_EQ(tu_.Count("cancel"), 1u);
  ASSERT_TRUE(layer_->SendResponse(id, Answer(tu_, 487)).ok());
  layer_->OnMessage(ParseOrDie(RequestText("ACK", kBranch)), Udp());
  EXPECT_EQ(layer_->server_state(id), ServerState::kConfirmed);
  Run(seconds(40));
  EXPECT_EQ(layer_->server_count(), 0u);
  EXPECT_EQ(layer_->client_count(), 0u);
  EXPECT_EQ(tu_.Count("server-timeout"), 0u);
}

TEST_F(ServerTxnTest, UnacknowledgedInternal503IsNotReportedToTheTu) {
  layer_->StopAccepting();
  EXPECT_EQ(Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp()), 0u);
  Run(seconds(40));  // Timer G retransmits, Timer H ends it: the TU never knew this transaction
  EXPECT_EQ(SendTimes("SIP/2.0 503 "),
            Ms({0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_EQ(tu_.events.size(), 0u);
  EXPECT_EQ(layer_->server_count(), 0u);
}

TEST_F(ServerTxnTest, ServerTransactionLimitAnswers503) {
  TransactionTimers timers;
  timers.max_server_transactions = 1;
  Rebuild(timers);
  EXPECT_NE(Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKa"), Udp()), 0u);
  EXPECT_EQ(Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKb"), Udp()), 0u);
  EXPECT_EQ(transport_.Count("SIP/2.0 503 "), 1u);
}

TEST_F(ServerTxnTest, AtTheLimitTheOldestLingeringTransactionMakesRoom) {
  TransactionTimers timers;
  timers.max_server_transactions = 2;
  Rebuild(timers);
  // Two answered MESSAGEs over UDP linger (Timer J, 32 s) to absorb retransmissions.
  ServerTransactionId a = Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKa"), Udp());
  ASSERT_TRUE(layer_->SendResponse(a, Answer(tu_, 200)).ok());
  Run(milliseconds(10));
  ServerTransactionId b = Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKb"), Udp());
  ASSERT_TRUE(layer_->SendResponse(b, Answer(tu_, 200)).ok());
  EXPECT_EQ(layer_->server_state(a), ServerState::kCompleted);
  // A third request is admitted: the oldest lingering transaction (a) ends early, b stays.
  ServerTransactionId c = Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKc"), Udp());
  EXPECT_NE(c, 0u);
  EXPECT_EQ(transport_.Count("SIP/2.0 503 "), 0u);
  EXPECT_EQ(layer_->lingering_ended_early(), 1u);
  EXPECT_FALSE(layer_->server_state(a).has_value());
  EXPECT_EQ(layer_->server_state(b), ServerState::kCompleted);
  // b still absorbs its retransmission: the 200 is sent again, the TU sees nothing new.
  const size_t requests_seen = tu_.events.size();
  Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKb"), Udp());
  EXPECT_EQ(tu_.events.size(), requests_seen);
  EXPECT_EQ(transport_.Count("SIP/2.0 200 "), 3u);
  // With nothing lingering left to end (b lingers, c pending: b makes room, then c alone
  // remains next to d), a request beyond the limit while all are pending gets 503.
  ServerTransactionId d = Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKd"), Udp());
  EXPECT_NE(d, 0u);
  EXPECT_EQ(layer_->lingering_ended_early(), 2u);
  EXPECT_EQ(Receive(*layer_, tu_, RequestText("MESSAGE", "z9hG4bKe"), Udp()), 0u);
  EXPECT_EQ(transport_.Count("SIP/2.0 503 "), 1u);
  EXPECT_EQ(layer_->server_count(), 2u);
}

TEST_F(ServerTxnTest, DestroyingTheLayerCancelsItsTimers) {
  Receive(*layer_, tu_, RequestText("INVITE", kBranch), Udp());
  ASSERT_TRUE(layer_->SendResponse(tu_.events.back().id, Answer(tu_, 486)).ok());
  ASSERT_TRUE(layer_->SendRequest(OutgoingRequest("MESSAGE"), UdpDest()).ok());
  EXPECT_GT(wheel_.size(), 0u);
  layer_.reset();
  EXPECT_EQ(wheel_.size(), 0u);
  Run(seconds(40));  // nothing fires into the dead layer
  EXPECT_EQ(transport_.Count("SIP/2.0 486 "), 1u);
}

}  // namespace
}  // namespace causeway::sip::testing
