#include <thread>

#include "gtest/gtest.h"
#include "tests/sip_io/transport_test_util.h"

namespace causeway::sip {
namespace {

using namespace testing;

class SipTransportTcp : public ::testing::Test {
 protected:
  void Open(SipTransportOptions o = LoopbackOptions({TransportKind::kTcp})) {
    ASSERT_TRUE(h_.Open(std::move(o)).ok());
    server_ = h_.Bound(TransportKind::kTcp);
  }
  TransportHarness h_;
  NetAddress server_;
};

TEST_F(SipTransportTcp, FramesSplitAndCoalescedMessages) {
  Open();
  Fd c = TcpConnect(server_);
  ASSERT_GE(c.get(), 0);
  std::string first = Options("split", "TCP", "hello body");
  ASSERT_TRUE(SendAll(c.get(), first.substr(0, 30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(SendAll(c.get(), first.substr(30, first.size() - 35)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(h_.user().messages().empty());  // not complete yet
  ASSERT_TRUE(SendAll(c.get(), first.substr(first.size() - 5) + Options("two-a") +
                                   Options("two-b")));
  ASSERT_TRUE(h_.user().WaitMessages(3));
  auto m = h_.user().messages();
  EXPECT_EQ(m[0].call_id, "split");
  EXPECT_NE(m[0].text.find("hello body"), std::string::npos);
  EXPECT_EQ(m[1].call_id, "two-a");
  EXPECT_EQ(m[2].call_id, "two-b");
  EXPECT_EQ(m[0].info.kind, TransportKind::kTcp);
  EXPECT_NE(m[0].info.connection, 0u);
  EXPECT_EQ(m[0].info.connection, m[2].info.connection);
  EXPECT_EQ(m[0].info.local, server_);
  EXPECT_EQ(m[0].info.source.HostString(), "127.0.0.1");
  EXPECT_EQ(h_.Counter(&TransportCounters::connections_accepted), 1u);
  EXPECT_EQ(h_.Counter(&TransportCounters::messages_received), 3u);
}

TEST_F(SipTransportTcp, ConnectionIdsNameTheOwningWorker) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.owner = 7;
  Open(std::move(o));
  Fd c = TcpConnect(server_);
  ASSERT_TRUE(SendAll(c.get(), Options("owned")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  const ConnectionId id = h_.user().messages()[0].info.connection;
  EXPECT_EQ(OwnerOfConnection(id), 7u);
  EXPECT_NE(id & ((ConnectionId{1} << kConnectionOwnerShift) - 1), 0u);
  EXPECT_EQ(MakeConnectionId(OwnerOfConnection(id), id), id);
}

TEST_F(SipTransportTcp, TrickledBytesFrameOnce) {
  Open();
  Fd c = TcpConnect(server_);
  int one = 1;
  setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string m = Options("trickle", "TCP", "0123456789");
  for (size_t i = 0; i < m.size(); i += 7) {
    ASSERT_TRUE(SendAll(c.get(), m.substr(i, 7)));
    if (i % 70 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(SendAll(c.get(), "\r\n\r\n"));  // a ping right behind it
  ReadResult r = ReadUntil(c.get(), [](const std::string& d) { return d.size() >= 2; });
  EXPECT_EQ(r.data, "\r\n");
  ASSERT_TRUE(h_.user().WaitMessages(1));
  EXPECT_NE(h_.user().messages()[0].text.find("0123456789"), std::string::npos);
  EXPECT_EQ(h_.user().messages().size(), 1u);
}

TEST_F(SipTransportTcp, PingGetsPongAndCountsAsActivity) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.idle_timeout_inbound = std::chrono::milliseconds(400);
  Open(o);
  Fd c = TcpConnect(server_);
  for (int i = 0; i < 5; ++i) {  // 5 x 150 ms > the 400 ms idle timeout
    ASSERT_TRUE(SendAll(c.get(), "\r\n\r\n"));
    ReadResult r = ReadUntil(c.get(), [](const std::string& d) { return d.size() >= 2; });
    ASSERT_FALSE(r.eof) << "closed at ping " << i;
    EXPECT_EQ(r.data, "\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  // A lone CRLF (a pong from the peer) is consumed silently, then a message still parses.
  ASSERT_TRUE(SendAll(c.get(), "\r\n" + Options("after-pong")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  EXPECT_EQ(h_.Counter(&TransportCounters::keepalive_pings), 5u);
  // Silence: the idle timeout closes it.
  ReadResult r = ReadUntil(c.get(), [](const std::string&) { return false; },
                           std::chrono::seconds(3));
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(h_.Counter(&TransportCounters::connections_idle_closed), 1u);
  EXPECT_EQ(h_.Connections(), 0u);
}

TEST_F(SipTransportTcp, MalformedRequestGets400ThenClose) {
  Open();
  Fd c = TcpConnect(server_);
  std::string bad = Options("bad-cseq");
  bad.replace(bad.find("CSeq: 1 OPTIONS"), 15, "CSeq: x OPTIONS");
  ASSERT_TRUE(SendAll(c.get(), bad));
  ReadResult r = ReadUntil(c.get(), [](const std::string&) { return false; });
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.data.rfind("SIP/2.0 400 ", 0), 0u) << r.data;
  EXPECT_NE(r.data.find("Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-bad-cseq\r\n"),
            std::string::npos);
  EXPECT_NE(r.data.find("Call-ID: bad-cseq\r\n"), std::string::npos);
  EXPECT_TRUE(h_.user().messages().empty());
  EXPECT_EQ(h_.Counter(&TransportCounters::parse_errors), 1u);
  EXPECT_EQ(h_.Counter(&TransportCounters::error_responses_sent), 1u);
}

TEST_F(SipTransportTcp, MissingContentLengthIsAFramingError) {
  Open();
  Fd c = TcpConnect(server_);
  std::string bad = Options("no-cl");
  bad.erase(bad.find("Content-Length: 0\r\n"), 19);
  ASSERT_TRUE(SendAll(c.get(), bad));
  ReadResult r = ReadUntil(c.get(), [](const std::string&) { return false; });
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.data.rfind("SIP/2.0 400 ", 0), 0u) << r.data;
}

TEST_F(SipTransportTcp, GarbageIsDroppedWithoutAnswer) {
  Open();
  Fd c = TcpConnect(server_);
  ASSERT_TRUE(SendAll(c.get(), "\x16\x03\x01 this is not SIP\r\nContent-Length: 0\r\n\r\n"));
  ReadResult r = ReadUntil(c.get(), [](const std::string&) { return false; });
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(h_.Counter(&TransportCounters::unanswerable_dropped), 1u);
}

TEST_F(SipTransportTcp, OverSizeGets413ThenClose) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.limits.max_message_bytes = 1024;
  Open(o);
  Fd c = TcpConnect(server_);
  std::string big = Options("huge");
  big.replace(big.find("Content-Length: 0"), 17, "Content-Length: 5000");
  ASSERT_TRUE(SendAll(c.get(), big));  // the body never comes: the header alone is refused
  ReadResult r = ReadUntil(c.get(), [](const std::string&) { return false; });
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.data.rfind("SIP/2.0 413 ", 0), 0u) << r.data;

  // An endless header section is cut off at the limit too (513 from the framer).
  Fd c2 = TcpConnect(server_);
  std::string endless = "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKe\r\n";
  for (int i = 0; i < 100; ++i) endless += "X-Fill: " + std::string(40, 'f') + "\r\n";
  SendAll(c2.get(), endless);
  ReadResult r2 = ReadUntil(c2.get(), [](const std::string&) { return false; });
  EXPECT_TRUE(r2.eof);
  EXPECT_EQ(r2.data.rfind("SIP/2.0 5", 0), 0u) << r2.data;
  EXPECT_TRUE(h_.user().messages().empty());
}

TEST_F(SipTransportTcp, PerPeerCapRefusesTheNextConnection) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.max_connections_per_ip = 2;
  Open(o);
  Fd a = TcpConnect(server_);
  Fd b = TcpConnect(server_);
  ASSERT_TRUE(SendAll(a.get(), Options("cap-a")));
  ASSERT_TRUE(SendAll(b.get(), Options("cap-b")));
  ASSERT_TRUE(h_.user().WaitMessages(2));
  Fd third = TcpConnect(server_);  // the kernel completes the handshake; we close at once
  ReadResult r = ReadUntil(third.get(), [](const std::string&) { return false; });
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(h_.Counter(&TransportCounters::connections_rejected_over_cap), 1u);
  EXPECT_EQ(h_.Connections(), 2u);
  // Closing one frees a slot.
  a.Reset();
  for (int i = 0; i < 200 && h_.Connections() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Fd fourth = TcpConnect(server_);
  ASSERT_TRUE(SendAll(fourth.get(), Options("cap-d")));
  ASSERT_TRUE(h_.user().WaitMessages(3));
}

TEST_F(SipTransportTcp, GlobalCapRefusesToo) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.max_connections = 1;
  Open(o);
  Fd a = TcpConnect(server_);
  ASSERT_TRUE(SendAll(a.get(), Options("g-a")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  Fd b = TcpConnect(server_);
  EXPECT_TRUE(ReadUntil(b.get(), [](const std::string&) { return false; }).eof);
  EXPECT_EQ(h_.Counter(&TransportCounters::connections_rejected_over_cap), 1u);
  // Outbound connections count against the global cap as well.
  h_.Send({TransportKind::kTcp, ClosedTcpPort(), 0, ""}, Options("out"), 3);
  ASSERT_TRUE(h_.user().WaitFailures(1));
  EXPECT_EQ(h_.user().failures()[0].error.code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SipTransportTcp, ResponseReusesTheInboundConnection) {
  Open();
  Fd c = TcpConnect(server_);
  ASSERT_TRUE(SendAll(c.get(), Options("reuse")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  Received req = h_.user().messages()[0];
  // The Via says 127.0.0.1:5999 where nobody listens: the connection is what must be used.
  h_.Send({TransportKind::kTcp, *NetAddress::Parse("127.0.0.1:5999"), req.info.connection, ""},
          "SIP/2.0 200 OK\r\nCall-ID: reuse\r\nContent-Length: 0\r\n\r\n", 11);
  ReadResult r = ReadUntil(c.get(), HasCompleteResponse);
  EXPECT_EQ(r.data, "SIP/2.0 200 OK\r\nCall-ID: reuse\r\nContent-Length: 0\r\n\r\n");
  // Without a connection id, the peer's address (source port) finds the same connection.
  h_.Send({TransportKind::kTcp, req.info.source, 0, ""}, "SIP/2.0 180 Ringing\r\n\r\n", 12);
  r = ReadUntil(c.get(), HasCompleteResponse);
  EXPECT_EQ(r.data, "SIP/2.0 180 Ringing\r\n\r\n");
  EXPECT_EQ(h_.Connections(), 1u);
  EXPECT_EQ(h_.Counter(&TransportCounters::connections_opened), 0u);
  EXPECT_TRUE(h_.user().failures().empty());
}

TEST_F(SipTransportTcp, ConnectFailureReportsSendFailed) {
  Open();
  NetAddress closed = ClosedTcpPort();
  h_.OnWorker([&] {  // one worker turn, so the second send queues behind the pending connect
    h_.transport().Send({TransportKind::kTcp, closed, 0, ""}, Options("refused"), 42);
    h_.transport().Send({TransportKind::kTcp, closed, 0, ""}, Options("refused-2"), 43);
  });
  ASSERT_TRUE(h_.user().WaitFailures(2));
  auto f = h_.user().failures();
  EXPECT_EQ(f[0].token, 42u);
  EXPECT_EQ(f[1].token, 43u);
  EXPECT_EQ(f[0].to.address, closed);
  EXPECT_EQ(f[0].error.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(f[0].error.message()).find("refused"), std::string::npos)
      << f[0].error;
  EXPECT_EQ(h_.Counter(&TransportCounters::connect_failures), 1u);
  EXPECT_EQ(h_.Connections(), 0u);
  // Invalid destinations fail too, asynchronously.
  h_.Send({TransportKind::kTcp, NetAddress(), 0, ""}, "x", 44);
  h_.Send({TransportKind::kTls, closed, 0, "x"}, "x", 45);  // no TLS client context
  ASSERT_TRUE(h_.user().WaitFailures(4));
}

TEST_F(SipTransportTcp, OutboundConnectionIsReusedBothWays) {
  Open();
  // A second transport plays the peer.
  TransportHarness peer;
  ASSERT_TRUE(peer.Open(LoopbackOptions({TransportKind::kTcp})).ok());
  NetAddress peer_addr = peer.Bound(TransportKind::kTcp);
  h_.Send({TransportKind::kTcp, peer_addr, 0, ""}, Options("out-1"), 1);
  h_.Send({TransportKind::kTcp, peer_addr, 0, ""}, Options("out-2"), 2);
  ASSERT_TRUE(peer.user().WaitMessages(2));
  auto got = peer.user().messages();
  EXPECT_EQ(got[0].call_id, "out-1");
  EXPECT_EQ(got[1].call_id, "out-2");
  EXPECT_EQ(got[0].info.connection, got[1].info.connection);
  EXPECT_EQ(h_.Counter(&TransportCounters::connections_opened), 1u);
  // The peer answers on the connection the request came in on.
  peer.Send({TransportKind::kTcp, got[0].info.source, got[0].info.connection, ""},
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-out-1\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: out-1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            9);
  ASSERT_TRUE(h_.user().WaitMessages(1));
  EXPECT_EQ(h_.user().messages()[0].status, 200);
  EXPECT_EQ(peer.Connections(), 1u);
  EXPECT_EQ(h_.Connections(), 1u);
}

TEST_F(SipTransportTcp, QueueCapFailsTheSend) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.max_queued_bytes = 1000;
  Open(o);
  NetAddress closed = ClosedTcpPort();
  // Connecting (to a port that refuses) leaves the messages queued; the second one overflows.
  h_.OnWorker([&] {
    h_.transport().Send({TransportKind::kTcp, closed, 0, ""}, std::string(600, 'a'), 1);
    h_.transport().Send({TransportKind::kTcp, closed, 0, ""}, std::string(600, 'b'), 2);
    h_.transport().Send({TransportKind::kTcp, closed, 0, ""}, std::string(5000, 'c'), 3);
  });
  ASSERT_TRUE(h_.user().WaitFailures(3));
  bool saw_full = false;
  for (const Failure& f : h_.user().failures()) {
    if (f.token == 2) {
      saw_full = f.error.code() == absl::StatusCode::kResourceExhausted;
    }
  }
  EXPECT_TRUE(saw_full);
}

TEST_F(SipTransportTcp, StopAcceptingKeepsConnectionsCloseEndsThem) {
  Open();
  Fd c = TcpConnect(server_);
  ASSERT_TRUE(SendAll(c.get(), Options("before")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  h_.OnWorker([&] { h_.transport().StopAccepting(); });
  Fd refused = TcpConnect(server_);
  EXPECT_LT(refused.get(), 0);
  ASSERT_TRUE(SendAll(c.get(), Options("after")));
  ASSERT_TRUE(h_.user().WaitMessages(2));
  h_.OnWorker([&] { h_.transport().Close(); });
  EXPECT_TRUE(ReadUntil(c.get(), [](const std::string&) { return false; }).eof);
  h_.Send({TransportKind::kTcp, server_, 0, ""}, "x", 5);
  ASSERT_TRUE(h_.user().WaitFailures(1));
  EXPECT_EQ(h_.user().failures()[0].token, 5u);
}

TEST_F(SipTransportTcp, FullSendQueueDropsAreCountedAndReported) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.max_queued_messages = 2;
  Open(std::move(o));
  Fd c = TcpConnect(server_);
  int small = 4096;  // a peer that reads nothing and has little room: the queue fills at once
  setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(SendAll(c.get(), Options("slow-reader")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  const Received first = h_.user().messages()[0];
  const Destination back{TransportKind::kTcp, first.info.source, first.info.connection, ""};
  const std::string big(60000, 'x');
  h_.OnWorker([&] {  // one burst, before any write can complete
    for (int i = 0; i < 64; ++i) {
      h_.transport().Send(back, Options(absl::StrCat("burst-", i), "TCP", big), 0);
    }
  });
  EXPECT_GT(h_.Counter(&TransportCounters::send_queue_full), 0u);
  EXPECT_GE(h_.Counter(&TransportCounters::send_failures),
            h_.Counter(&TransportCounters::send_queue_full));
}

TEST_F(SipTransportTcp, CloseConnectionById) {
  Open();
  Fd c = TcpConnect(server_);
  ASSERT_TRUE(SendAll(c.get(), Options("byid")));
  ASSERT_TRUE(h_.user().WaitMessages(1));
  ConnectionId id = h_.user().messages()[0].info.connection;
  EXPECT_TRUE(h_.OnWorker([&] { return h_.transport().CloseConnection(id); }));
  EXPECT_FALSE(h_.OnWorker([&] { return h_.transport().CloseConnection(id); }));
  EXPECT_TRUE(ReadUntil(c.get(), [](const std::string&) { return false; }).eof);
  ASSERT_TRUE(h_.user().WaitClosed(1));
  EXPECT_EQ(h_.user().closed(), std::vector<ConnectionId>{id});
}

TEST_F(SipTransportTcp, PeerCloseIsReportedOnceWithTheConnectionId) {
  Open();
  ConnectionId id = 0;
  {
    Fd c = TcpConnect(server_);
    ASSERT_TRUE(SendAll(c.get(), Options("bye")));
    ASSERT_TRUE(h_.user().WaitMessages(1));
    id = h_.user().messages()[0].info.connection;
  }  // the client closes
  ASSERT_TRUE(h_.user().WaitClosed(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(h_.user().closed(), std::vector<ConnectionId>{id});
}

}  // namespace
}  // namespace causeway::sip
