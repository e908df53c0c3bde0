#include <sys/socket.h>

#include "gtest/gtest.h"
#include "tests/sip_io/transport_test_util.h"

namespace causeway::sip {
namespace {

using namespace testing;

TEST(SipTransportUdp, ReceivesAndSends) {
  TransportHarness h;
  ASSERT_TRUE(h.Open(LoopbackOptions({TransportKind::kUdp})).ok());
  NetAddress server = h.Bound(TransportKind::kUdp);
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(h.transport().AdvertisedAddress(TransportKind::kUdp, false), server);
  EXPECT_TRUE(h.transport().Supports(TransportKind::kUdp));
  EXPECT_FALSE(h.transport().Supports(TransportKind::kTcp));

  NetAddress client;
  Fd fd = UdpSocket(*NetAddress::Parse("127.0.0.1:0"), &client);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(UdpSendTo(fd.get(), Options("udp-1", "UDP"), server));
  ASSERT_TRUE(h.user().WaitMessages(1));
  Received r = h.user().messages()[0];
  EXPECT_EQ(r.method, "OPTIONS");
  EXPECT_EQ(r.call_id, "udp-1");
  EXPECT_EQ(r.info.kind, TransportKind::kUdp);
  EXPECT_EQ(r.info.source, client);
  EXPECT_EQ(r.info.local, server);
  EXPECT_EQ(r.info.connection, 0u);

  h.Send({TransportKind::kUdp, r.info.source, 0, ""}, "SIP/2.0 200 OK\r\nX: y\r\n\r\n", 5);
  auto got = UdpRecv(fd.get());
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "SIP/2.0 200 OK\r\nX: y\r\n\r\n");
  EXPECT_EQ(h.Counter(&TransportCounters::udp_datagrams_received), 1u);
  EXPECT_EQ(h.Counter(&TransportCounters::udp_datagrams_sent), 1u);
  EXPECT_TRUE(h.user().failures().empty());
}

TEST(SipTransportUdp, MalformedRequestGets400ResponsesAndJunkAreDropped) {
  TransportHarness h;
  ASSERT_TRUE(h.Open(LoopbackOptions({TransportKind::kUdp})).ok());
  NetAddress server = h.Bound(TransportKind::kUdp);
  NetAddress client;
  Fd fd = UdpSocket(*NetAddress::Parse("127.0.0.1:0"), &client);
  std::string bad = Options("udp-bad", "UDP");
  bad.replace(bad.find("CSeq: 1 OPTIONS"), 15, "CSeq: x OPTIONS");
  ASSERT_TRUE(UdpSendTo(fd.get(), bad, server));
  auto got = UdpRecv(fd.get());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->rfind("SIP/2.0 400 ", 0), 0u) << *got;
  EXPECT_NE(got->find("Call-ID: udp-bad\r\n"), std::string::npos);

  // A broken response, a request without Via, CRLF keepalives and STUN-looking bytes: no answer.
  ASSERT_TRUE(UdpSendTo(fd.get(), "SIP/2.0 200 OK\r\nCSeq: nope\r\n\r\n", server));
  ASSERT_TRUE(UdpSendTo(fd.get(), "OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n", server));
  ASSERT_TRUE(UdpSendTo(fd.get(), "\r\n\r\n", server));
  ASSERT_TRUE(UdpSendTo(fd.get(), std::string("\x00\x01\x00\x00", 4), server));
  EXPECT_FALSE(UdpRecv(fd.get(), std::chrono::milliseconds(300)));
  EXPECT_TRUE(h.user().messages().empty());
  EXPECT_EQ(h.Counter(&TransportCounters::parse_errors), 3u);
  EXPECT_EQ(h.Counter(&TransportCounters::error_responses_sent), 1u);
  EXPECT_EQ(h.Counter(&TransportCounters::unanswerable_dropped), 3u);
  EXPECT_EQ(h.Counter(&TransportCounters::keepalive_pings), 1u);
}

TEST(SipTransportUdp, OverSizeDatagramIsAnsweredWithTheCodecCode) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kUdp});
  o.limits.max_message_bytes = 600;
  TransportHarness h;
  ASSERT_TRUE(h.Open(o).ok());
  NetAddress client;
  Fd fd = UdpSocket(*NetAddress::Parse("127.0.0.1:0"), &client);
  ASSERT_TRUE(UdpSendTo(fd.get(), Options("big", "UDP", std::string(1000, 'b')),
                        h.Bound(TransportKind::kUdp)));
  auto got = UdpRecv(fd.get());
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->rfind("SIP/2.0 413 ", 0) == 0 || got->rfind("SIP/2.0 513 ", 0) == 0) << *got;
}

TEST(SipTransportUdp, Ipv6Loopback) {
  SipTransportOptions o;
  o.listen.push_back({TransportKind::kUdp, *NetAddress::Parse("[::1]:0"), {}});
  TransportHarness h;
  absl::Status s = h.Open(o);
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback: " << s;
  NetAddress server = h.Bound(TransportKind::kUdp);
  EXPECT_TRUE(server.is_v6());
  NetAddress client;
  Fd fd = UdpSocket(*NetAddress::Parse("[::1]:0"), &client);
  ASSERT_TRUE(UdpSendTo(fd.get(), Options("v6", "UDP"), server));
  ASSERT_TRUE(h.user().WaitMessages(1));
  EXPECT_EQ(h.user().messages()[0].info.source, client);
  h.Send({TransportKind::kUdp, client, 0, ""}, "SIP/2.0 200 OK\r\n\r\n", 1);
  EXPECT_TRUE(UdpRecv(fd.get()));
  // No IPv4 UDP socket: an IPv4 destination fails through OnSendFailed.
  h.Send({TransportKind::kUdp, *NetAddress::Parse("127.0.0.1:9"), 0, ""}, "x", 77);
  ASSERT_TRUE(h.user().WaitFailures(1));
  EXPECT_EQ(h.user().failures()[0].token, 77u);
}

TEST(SipTransportListen, BindErrorsNameTransportAndAddress) {
  // A plain listener without SO_REUSEPORT holds the port.
  Fd holder(::socket(AF_INET, SOCK_STREAM, 0));
  NetAddress any = *NetAddress::Parse("127.0.0.1:0");
  socklen_t len;
  sockaddr_storage ss = ToSockaddr(any, &len);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&ss), len), 0);
  ASSERT_EQ(::listen(holder.get(), 1), 0);
  sockaddr_storage out{};
  socklen_t out_len = sizeof(out);
  getsockname(holder.get(), reinterpret_cast<sockaddr*>(&out), &out_len);
  NetAddress taken = FromSockaddr(out);

  SipTransportOptions o;
  o.listen.push_back({TransportKind::kTcp, taken, {}});
  TransportHarness h;
  absl::Status s = h.Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()), "TCP " + taken.ToString() + ": address already in use");

  SipTransportOptions bad;
  bad.listen.push_back({TransportKind::kUdp, *NetAddress::Parse("192.0.2.55:5060"), {}});
  TransportHarness h2;
  absl::Status s2 = h2.Open(bad);
  ASSERT_FALSE(s2.ok());
  EXPECT_EQ(std::string(s2.message()).rfind("UDP 192.0.2.55:5060: ", 0), 0u) << s2;

  SipTransportOptions tls = LoopbackOptions({TransportKind::kTls});
  TransportHarness h3;
  absl::Status s3 = h3.Open(tls);
  ASSERT_FALSE(s3.ok());
  EXPECT_NE(std::string(s3.message()).find("no TLS server context"), std::string::npos);
}

TEST(SipTransportListen, WorkersShareThePortThroughReusePort) {
  TransportHarness first;
  ASSERT_TRUE(first.Open(LoopbackOptions({TransportKind::kUdp, TransportKind::kTcp})).ok());
  SipTransportOptions again;
  again.listen = first.transport().BoundListeners();
  TransportHarness second;
  ASSERT_TRUE(second.Open(again).ok());
  EXPECT_EQ(second.Bound(TransportKind::kUdp), first.Bound(TransportKind::kUdp));
  EXPECT_EQ(second.Bound(TransportKind::kTcp), first.Bound(TransportKind::kTcp));
  // Connections to the shared port land on one of the two.
  for (int i = 0; i < 4; ++i) {
    Fd c = TcpConnect(first.Bound(TransportKind::kTcp));
    ASSERT_GE(c.get(), 0);
    ASSERT_TRUE(SendAll(c.get(), Options("share-" + std::to_string(i))));
  }
  auto total = [&] { return first.user().messages().size() + second.user().messages().size(); };
  for (int i = 0; i < 500 && total() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(total(), 4u);
}

TEST(SipTransportListen, AdvertisedAddressOverridesAndFallsBack) {
  SipTransportOptions o = LoopbackOptions({TransportKind::kTcp});
  o.listen[0].advertised = *NetAddress::Parse("198.51.100.7");  // port 0: take the bound one
  TransportHarness h;
  ASSERT_TRUE(h.Open(o).ok());
  NetAddress adv = h.transport().AdvertisedAddress(TransportKind::kTcp, false);
  EXPECT_EQ(adv.HostString(), "198.51.100.7");
  EXPECT_EQ(adv.port(), h.Bound(TransportKind::kTcp).port());
  // No IPv6 TCP listener: the IPv4 one is the fallback. No UDP listener at all: unset.
  EXPECT_EQ(h.transport().AdvertisedAddress(TransportKind::kTcp, true), adv);
  EXPECT_EQ(h.transport().AdvertisedAddress(TransportKind::kUdp, false), NetAddress());
}

}  // namespace
}  // namespace causeway::sip
