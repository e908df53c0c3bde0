// media/turn: the relay's logic against a recording RelayIo and a simulated clock. Every RFC 8656
// rule the relay enforces has a case here; the wire interop with real clients is in
// tests/integration/turn_relay_test.py.

#include "media/turn/turn_server.h"

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "tests/media_turn/fake_relay_io.h"

namespace causeway::turn {
namespace {

using stun::StunClass;
using stun::StunMessage;
using stun::StunMessageBuilder;
namespace attr = stun::attr;
namespace method = stun::method;

constexpr std::string_view kRealm = "example.org";
constexpr std::string_view kUser = "alice";
constexpr std::string_view kPassword = "wonderland";

ClientFlow UdpFlow(std::string_view client = "198.51.100.1:40000") {
  return ClientFlow{*NetAddress::Parse(client), *NetAddress::Parse("192.0.2.1:3478"),
                    ClientTransport::kUdp, 0};
}

stun::TransactionId Tid(uint8_t seed) {
  stun::TransactionId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(seed + i);
  return id;
}

struct Auth {
  Auth() = default;
  Auth(std::string_view user, std::string_view pass) : username(user), password(pass) {}
  std::string username = std::string(kUser);
  std::string password = std::string(kPassword);
  std::string realm = std::string(kRealm);
  std::string nonce;
  bool sha256 = false;
};

class TurnServerTest : public ::testing::Test {
 protected:
  TurnServerTest() { Rebuild(); }

  void Rebuild(std::vector<CidrRange> allow = {}) {
    worker_.reset();
    CredentialOptions credentials;
    credentials.realm = std::string(kRealm);
    credentials.secret = "north-wind";
    credentials.static_users.emplace(std::string(kUser), std::string(kPassword));
    credentials.static_users.emplace("bob", "builder");
    shared_ = std::make_unique<TurnShared>(options_, Credentials(std::move(credentials)),
                                           PeerPolicy(std::move(allow), {}));
    wheel_ = std::make_unique<TimerWheel>(clock_);
    worker_ = std::make_unique<TurnWorker>(*shared_, io_, *wheel_, clock_,
                                           absl::FromUnixSeconds(1'700'000'000 - 3600));
  }

  void Advance(std::chrono::seconds d) { TimerWheel::AdvanceSimulated(clock_, *wheel_, d); }

  // Sends `request` and returns the parsed answer (its bytes kept in last_answer_).
  std::optional<StunMessage> Exchange(const ClientFlow& flow, const std::string& request) {
    worker_->OnClientMessage(flow, request);
    last_answer_ = io_.TakeClientMessage();
    if (last_answer_.empty()) return std::nullopt;
    absl::StatusOr<StunMessage> parsed = StunMessage::Parse(last_answer_);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return std::nullopt;
    return *parsed;
  }

  static int ErrorCodeOf(const StunMessage& message) {
    auto value = message.FindValue(attr::kErrorCode);
    if (!value) return 0;
    return stun::ReadErrorCode(*value)->code;
  }

  // Gets a nonce with an unauthenticated request, as a client does.
  std::string FetchNonce(const ClientFlow& flow) {
    StunMessageBuilder builder(method::kAllocate, StunClass::kRequest, Tid(200));
    builder.AddRequestedTransport(17);
    builder.AddAttribute(attr::kSoftware, "a test client with a long name");
    std::optional<StunMessage> answer = Exchange(flow, *std::move(builder).Finish());
    EXPECT_TRUE(answer.has_value());
    if (!answer) return {};
    EXPECT_EQ(ErrorCodeOf(*answer), 401);
    return std::string(*answer->FindValue(attr::kNonce));
  }

  using AddAttributes = std::function<void(StunMessageBuilder&)>;

  std::string Signed(uint16_t m, uint8_t tid, const Auth& auth, const AddAttributes& add) {
    StunMessageBuilder builder(m, StunClass::kRequest, Tid(tid));
    add(builder);
    builder.AddAttribute(attr::kUsername, auth.username);
    builder.AddAttribute(attr::kRealm, auth.realm);
    builder.AddAttribute(attr::kNonce, auth.nonce);
    const std::string key = stun::LongTermKey(auth.username, auth.realm, auth.password);
    if (auth.sha256) {
      builder.AddMessageIntegritySha256(key);
    } else {
      builder.AddMessageIntegrity(key);
    }
    builder.AddFingerprint();
    return *std::move(builder).Finish();
  }

  // Allocates for `flow` as `user`; returns the relayed address (nullopt + failure otherwise).
  std::optional<NetAddress> Allocate(const ClientFlow& flow, Auth auth = {}, uint8_t tid = 1) {
    if (auth.nonce.empty()) auth.nonce = FetchNonce(flow);
    std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, tid, auth, [](auto& b) {
      b.AddRequestedTransport(17);
    }));
    if (!answer || answer->stun_class() != StunClass::kSuccess) {
      ADD_FAILURE() << "allocate failed: " << (answer ? ErrorCodeOf(*answer) : -1);
      return std::nullopt;
    }
    return stun::ReadXorAddress(*answer->FindValue(attr::kXorRelayedAddress),
                                answer->transaction_id())
        .value();
  }

  std::optional<StunMessage> SignedExchange(const ClientFlow& flow, uint16_t m, uint8_t tid,
                                            const AddAttributes& add, Auth auth = {}) {
    if (auth.nonce.empty()) auth.nonce = FetchNonce(flow);
    return Exchange(flow, Signed(m, tid, auth, add));
  }

  std::optional<StunMessage> CreatePermission(const ClientFlow& flow, std::string_view peer,
                                              uint8_t tid = 10) {
    return SignedExchange(flow, method::kCreatePermission, tid, [&](auto& b) {
      b.AddXorAddress(attr::kXorPeerAddress, *NetAddress::Parse(peer));
    });
  }

  std::optional<StunMessage> ChannelBind(const ClientFlow& flow, uint16_t channel,
                                         std::string_view peer, uint8_t tid = 20) {
    return SignedExchange(flow, method::kChannelBind, tid, [&](auto& b) {
      b.AddChannelNumber(channel);
      b.AddXorAddress(attr::kXorPeerAddress, *NetAddress::Parse(peer));
    });
  }

  TurnOptions options_;
  SimulatedClock clock_;
  FakeRelayIo io_;
  std::unique_ptr<TurnShared> shared_;
  std::unique_ptr<TimerWheel> wheel_;
  std::unique_ptr<TurnWorker> worker_;
  std::string last_answer_;
};

TEST_F(TurnServerTest, BindingAnswersWithTheMappedAddress) {
  const ClientFlow flow = UdpFlow();
  StunMessageBuilder builder(method::kBinding, StunClass::kRequest, Tid(1));
  builder.AddAttribute(attr::kSoftware, "probe");
  builder.AddFingerprint();
  std::optional<StunMessage> answer = Exchange(flow, *std::move(builder).Finish());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(answer->transaction_id(), Tid(1));
  EXPECT_EQ(*stun::ReadXorAddress(*answer->FindValue(attr::kXorMappedAddress), Tid(1)),
            flow.client);
  EXPECT_TRUE(stun::VerifyFingerprint(*answer).ok());
  EXPECT_EQ(answer->FindValue(attr::kSoftware), std::nullopt);  // smallest answer possible
}

TEST_F(TurnServerTest, UnauthenticatedAllocateIsChallengedWithRealmAndNonce) {
  const std::string nonce = FetchNonce(UdpFlow());
  EXPECT_EQ(nonce.size(), 24u);
  std::optional<StunMessage> answer = StunMessage::Parse(last_answer_).value();
  EXPECT_EQ(answer->FindValue(attr::kRealm), kRealm);
  EXPECT_EQ(answer->FindValue(attr::kMessageIntegrity), std::nullopt);
  EXPECT_EQ(worker_->stats().challenges, 1u);
  EXPECT_EQ(worker_->allocation_count(), 0u);
}

TEST_F(TurnServerTest, AllocateSucceedsAndTheAnswerIsSignedWithTheLongTermKey) {
  const ClientFlow flow = UdpFlow();
  Auth auth;
  auth.nonce = FetchNonce(flow);
  std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, 1, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess) << ErrorCodeOf(*answer);
  const NetAddress relayed =
      *stun::ReadXorAddress(*answer->FindValue(attr::kXorRelayedAddress), Tid(1));
  EXPECT_EQ(relayed.HostString(), "203.0.113.7");
  EXPECT_EQ(*stun::ReadXorAddress(*answer->FindValue(attr::kXorMappedAddress), Tid(1)),
            flow.client);
  EXPECT_EQ(*stun::ReadUint32(*answer->FindValue(attr::kLifetime)), 600u);
  EXPECT_TRUE(stun::VerifyMessageIntegrity(*answer, stun::LongTermKey(kUser, kRealm, kPassword))
                  .ok());
  EXPECT_TRUE(stun::VerifyFingerprint(*answer).ok());
  EXPECT_EQ(io_.open.size(), 1u);
  EXPECT_EQ(worker_->allocation_count(), 1u);
  EXPECT_EQ(shared_->total_allocations(), 1u);
}

TEST_F(TurnServerTest, Sha256IntegrityIsAnsweredInKind) {
  const ClientFlow flow = UdpFlow();
  Auth auth;
  auth.sha256 = true;
  auth.nonce = FetchNonce(flow);
  std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, 1, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(answer->FindValue(attr::kMessageIntegrity), std::nullopt);
  EXPECT_TRUE(stun::VerifyMessageIntegritySha256(*answer,
                                                 stun::LongTermKey(kUser, kRealm, kPassword))
                  .ok());
}

TEST_F(TurnServerTest, WrongPasswordUnknownUserAndWrongRealmAreRejectedWith401) {
  const ClientFlow flow = UdpFlow();
  Auth other_realm;
  other_realm.realm = "other.realm";
  for (Auth auth : {Auth(kUser, "guess"), Auth("mallory", kPassword), other_realm}) {
    auth.nonce = FetchNonce(flow);
    std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, 1, auth, [](auto& b) {
      b.AddRequestedTransport(17);
    }));
    ASSERT_TRUE(answer);
    EXPECT_EQ(ErrorCodeOf(*answer), 401);
    EXPECT_TRUE(answer->FindValue(attr::kNonce).has_value());
    EXPECT_EQ(answer->FindValue(attr::kMessageIntegrity), std::nullopt);
  }
  EXPECT_EQ(worker_->stats().auth_failures, 3u);
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_TRUE(io_.open.empty());
}

TEST_F(TurnServerTest, StaleNonceGets438WithAFreshOne) {
  const ClientFlow flow = UdpFlow();
  Auth auth;
  auth.nonce = FetchNonce(flow);
  Advance(std::chrono::seconds(options_.nonce_lifetime_s + 1));
  std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, 1, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
  const std::string fresh(*answer->FindValue(attr::kNonce));
  EXPECT_NE(fresh, auth.nonce);
  auth.nonce = fresh;
  answer = Exchange(flow, Signed(method::kAllocate, 2, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(worker_->stats().stale_nonces, 1u);
}

TEST_F(TurnServerTest, ForgedOrForeignNonceGets438) {
  const ClientFlow flow = UdpFlow();
  Auth auth;
  auth.nonce = FetchNonce(UdpFlow("198.51.100.99:1000"));  // bound to another client IP
  std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, 1, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
  auth.nonce = "00000000ffffffffffffffff";
  answer = Exchange(flow, Signed(method::kAllocate, 2, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
}

TEST_F(TurnServerTest, MissingUsernameWithIntegrityIs400) {
  const ClientFlow flow = UdpFlow();
  StunMessageBuilder builder(method::kAllocate, StunClass::kRequest, Tid(1));
  builder.AddRequestedTransport(17);
  builder.AddMessageIntegrity("k");
  std::optional<StunMessage> answer = Exchange(flow, *std::move(builder).Finish());
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 400);
}

TEST_F(TurnServerTest, RetransmittedAllocateGetsTheSameAnswerAndANewOneGets437) {
  const ClientFlow flow = UdpFlow();
  Auth auth;
  auth.nonce = FetchNonce(flow);
  const std::string request = Signed(method::kAllocate, 1, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  });
  ASSERT_TRUE(Exchange(flow, request));
  const std::string first = last_answer_;
  ASSERT_TRUE(Exchange(flow, request));
  EXPECT_EQ(last_answer_, first);
  EXPECT_EQ(io_.open.size(), 1u);
  std::optional<StunMessage> answer = Exchange(flow, Signed(method::kAllocate, 2, auth, [](auto& b) {
    b.AddRequestedTransport(17);
  }));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 437);
  EXPECT_TRUE(stun::VerifyMessageIntegrity(*answer, stun::LongTermKey(kUser, kRealm, kPassword))
                  .ok());
}

TEST_F(TurnServerTest, AllocateNeedsUdpTransport) {
  const ClientFlow flow = UdpFlow();
  std::optional<StunMessage> answer =
      SignedExchange(flow, method::kAllocate, 1, [](auto& b) { b.AddRequestedTransport(6); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 442);
  answer = SignedExchange(flow, method::kAllocate, 2, [](auto&) {});
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 400);
  EXPECT_EQ(worker_->allocation_count(), 0u);
}

TEST_F(TurnServerTest, LifetimesAreClampedBetweenDefaultAndMaximum) {
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  std::optional<StunMessage> answer = SignedExchange(
      flow, method::kRefresh, 5, [](auto& b) { b.AddUint32(attr::kLifetime, 30); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(*stun::ReadUint32(*answer->FindValue(attr::kLifetime)), 600u);
  answer = SignedExchange(flow, method::kRefresh, 6,
                          [](auto& b) { b.AddUint32(attr::kLifetime, 100000); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(*stun::ReadUint32(*answer->FindValue(attr::kLifetime)), 3600u);
}

TEST_F(TurnServerTest, AllocationExpiresUnlessRefreshed) {
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  Advance(std::chrono::seconds(590));
  ASSERT_TRUE(SignedExchange(flow, method::kRefresh, 5, [](auto&) {}));
  Advance(std::chrono::seconds(590));
  EXPECT_EQ(worker_->allocation_count(), 1u);  // refreshed at 590 s: lives to 1190 s
  Advance(std::chrono::seconds(20));
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(io_.closed.size(), 1u);
  EXPECT_EQ(worker_->stats().allocations_expired, 1u);
  EXPECT_EQ(shared_->total_allocations(), 0u);
}

TEST_F(TurnServerTest, RefreshWithZeroLifetimeDeletesAndRequestsWithoutAllocationGet437) {
  const ClientFlow flow = UdpFlow();
  std::optional<StunMessage> answer = SignedExchange(flow, method::kRefresh, 4, [](auto&) {});
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 437);
  ASSERT_TRUE(Allocate(flow));
  answer = SignedExchange(flow, method::kRefresh, 5,
                          [](auto& b) { b.AddUint32(attr::kLifetime, 0); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(*stun::ReadUint32(*answer->FindValue(attr::kLifetime)), 0u);
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(io_.closed.size(), 1u);
  answer = CreatePermission(flow, "8.8.8.8");
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 437);
}

TEST_F(TurnServerTest, SpecialPurposePeersAreForbiddenByDefault) {
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  for (std::string_view peer : {"127.0.0.1:9", "10.0.0.1:9", "224.0.0.1:9", "169.254.1.1:9",
                                "192.168.1.1:9", "255.255.255.255:9", "0.0.0.0:9"}) {
    std::optional<StunMessage> answer = CreatePermission(flow, peer);
    ASSERT_TRUE(answer);
    EXPECT_EQ(ErrorCodeOf(*answer), 403) << peer;
  }
  std::optional<StunMessage> answer = ChannelBind(flow, 0x4000, "10.1.2.3:5000");
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 403);
  answer = CreatePermission(flow, "8.8.8.8:53");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(worker_->stats().forbidden_peers, 8u);
}

TEST_F(TurnServerTest, AllowPeersOpensARange) {
  Rebuild({*CidrRange::Parse("127.0.0.0/8")});
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  std::optional<StunMessage> answer = CreatePermission(flow, "127.0.0.1:9");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->stun_class(), StunClass::kSuccess);
  answer = CreatePermission(flow, "10.0.0.1:9", 11);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 403);
}

TEST_F(TurnServerTest, SendAndDataIndicationsNeedAPermission) {
  const ClientFlow flow = UdpFlow();
  const NetAddress relayed = *Allocate(flow);
  const NetAddress peer = *NetAddress::Parse("8.8.4.4:7000");
  auto send = [&](uint8_t tid) {
    StunMessageBuilder b(method::kSend, StunClass::kIndication, Tid(tid));
    b.AddXorAddress(attr::kXorPeerAddress, peer);
    b.AddAttribute(attr::kData, "hello peer");
    worker_->OnClientMessage(flow, *std::move(b).Finish());
  };
  send(30);
  EXPECT_TRUE(io_.to_peer.empty());
  EXPECT_EQ(worker_->stats().dropped_no_permission, 1u);
  const RelayId relay = io_.open.front();
  worker_->OnPeerPacket(relay, peer, "unsolicited");
  EXPECT_TRUE(io_.to_client.empty());

  ASSERT_EQ(CreatePermission(flow, "8.8.4.4:1")->stun_class(), StunClass::kSuccess);
  send(31);
  ASSERT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(io_.to_peer[0].peer, peer);
  EXPECT_EQ(io_.to_peer[0].payload, "hello peer");
  EXPECT_EQ(io_.to_peer[0].relay, relay);

  worker_->OnPeerPacket(relay, peer, "hello client");
  ASSERT_EQ(io_.to_client.size(), 1u);
  const std::string indication = io_.TakeClientMessage();
  StunMessage data = StunMessage::Parse(indication).value();
  EXPECT_EQ(data.method(), method::kData);
  EXPECT_EQ(data.stun_class(), StunClass::kIndication);
  EXPECT_EQ(*stun::ReadXorAddress(*data.FindValue(attr::kXorPeerAddress), data.transaction_id()),
            peer);
  EXPECT_EQ(data.FindValue(attr::kData), "hello client");
  EXPECT_NE(relayed.port(), 0);

  // Permissions last 300 s and are not refreshed by data (RFC 8656 §9).
  Advance(std::chrono::seconds(301));
  worker_->OnPeerPacket(relay, peer, "late");
  EXPECT_TRUE(io_.to_client.empty());
}

TEST_F(TurnServerTest, ChannelsCarryDataBothWaysAndEnforceTheirRules) {
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  const RelayId relay = io_.open.front();
  std::optional<StunMessage> answer = ChannelBind(flow, 0x3FFF, "8.8.8.8:5000");
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 400);
  answer = ChannelBind(flow, 0x8000, "8.8.8.8:5000", 21);
  EXPECT_EQ(ErrorCodeOf(*answer), 400);
  answer = ChannelBind(flow, 0x4001, "8.8.8.8:5000", 22);
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(ErrorCodeOf(*ChannelBind(flow, 0x4001, "8.8.8.8:5001", 23)), 400);  // other peer
  EXPECT_EQ(ErrorCodeOf(*ChannelBind(flow, 0x4002, "8.8.8.8:5000", 24)), 400);  // other number
  EXPECT_EQ(ChannelBind(flow, 0x4001, "8.8.8.8:5000", 25)->stun_class(),
            StunClass::kSuccess);  // refresh

  std::string frame;
  stun::AppendChannelData(0x4001, "rtp", stun::Framing::kDatagram, frame);
  worker_->OnClientMessage(flow, frame);
  ASSERT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(io_.to_peer[0].payload, "rtp");
  EXPECT_EQ(io_.to_peer[0].peer, *NetAddress::Parse("8.8.8.8:5000"));

  frame.clear();
  stun::AppendChannelData(0x4005, "unbound", stun::Framing::kDatagram, frame);
  worker_->OnClientMessage(flow, frame);
  EXPECT_EQ(io_.to_peer.size(), 1u);

  worker_->OnPeerPacket(relay, *NetAddress::Parse("8.8.8.8:5000"), "back");
  const std::string back = io_.TakeClientMessage();
  absl::StatusOr<stun::ChannelData> parsed =
      stun::ParseChannelData(back, stun::Framing::kDatagram);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->channel, 0x4001);
  EXPECT_EQ(parsed->data, "back");
  // Same IP, other port: permitted (permissions are per IP) but not on the channel.
  worker_->OnPeerPacket(relay, *NetAddress::Parse("8.8.8.8:6000"), "other port");
  EXPECT_EQ(StunMessage::Parse(io_.TakeClientMessage())->method(), method::kData);
}

TEST_F(TurnServerTest, AnExpiredChannelIsQuarantinedBeforeItsNumberIsReused) {
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  ASSERT_EQ(ChannelBind(flow, 0x4001, "8.8.8.8:5000")->stun_class(), StunClass::kSuccess);
  // Keep the allocation alive; let the channel expire.
  Advance(std::chrono::seconds(550));
  ASSERT_TRUE(SignedExchange(flow, method::kRefresh, 40, [](auto&) {}));
  Advance(std::chrono::seconds(100));
  std::string frame;
  stun::AppendChannelData(0x4001, "late", stun::Framing::kDatagram, frame);
  worker_->OnClientMessage(flow, frame);
  EXPECT_TRUE(io_.to_peer.empty());
  EXPECT_EQ(ErrorCodeOf(*ChannelBind(flow, 0x4001, "8.8.8.8:6000", 41)), 400);
  Advance(std::chrono::seconds(300));
  ASSERT_TRUE(SignedExchange(flow, method::kRefresh, 42, [](auto&) {}));
  EXPECT_EQ(ChannelBind(flow, 0x4001, "8.8.8.8:6000", 43)->stun_class(), StunClass::kSuccess);
}

TEST_F(TurnServerTest, EvenPortWithReservationHoldsTheNextPortForItsToken) {
  const ClientFlow rtp = UdpFlow("198.51.100.1:1000");
  std::optional<StunMessage> answer = SignedExchange(rtp, method::kAllocate, 1, [](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(attr::kEvenPort, std::string_view("\x80", 1));
  });
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess) << ErrorCodeOf(*answer);
  const NetAddress even =
      *stun::ReadXorAddress(*answer->FindValue(attr::kXorRelayedAddress), Tid(1));
  EXPECT_EQ(even.port() % 2, 0);
  const std::optional<std::string_view> token_value =
      answer->FindValue(attr::kReservationToken);
  ASSERT_TRUE(token_value.has_value());
  const std::string token(*token_value);
  ASSERT_EQ(token.size(), 8u);
  ASSERT_EQ(io_.held_ports.size(), 1u);
  EXPECT_EQ(io_.held_ports[0].port(), even.port() + 1);

  // Token and EVEN-PORT together are a bad request; the token alone claims the port.
  const ClientFlow rtcp = UdpFlow("198.51.100.1:1001");
  answer = SignedExchange(rtcp, method::kAllocate, 2, [&](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(attr::kReservationToken, token);
    b.AddAttribute(attr::kEvenPort, std::string_view("\x00", 1));
  });
  EXPECT_EQ(ErrorCodeOf(*answer), 400);
  answer = SignedExchange(rtcp, method::kAllocate, 3, [&](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(attr::kReservationToken, token);
  });
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess) << ErrorCodeOf(*answer);
  EXPECT_EQ(stun::ReadXorAddress(*answer->FindValue(attr::kXorRelayedAddress), Tid(3))->port(),
            even.port() + 1);
  EXPECT_EQ(worker_->allocation_count(), 2u);
  // Peer data to the claimed port reaches its allocation.
  ASSERT_EQ(CreatePermission(rtcp, "8.8.8.8:9")->stun_class(), StunClass::kSuccess);
  const RelayId rtcp_relay = io_.open.back();
  worker_->OnPeerPacket(rtcp_relay, *NetAddress::Parse("8.8.8.8:9"), "rtcp");
  ASSERT_EQ(io_.to_client.size(), 1u);
  EXPECT_EQ(io_.to_client.front().flow, rtcp);
  io_.to_client.clear();
  // A token works once.
  answer = SignedExchange(UdpFlow("198.51.100.1:1002"), method::kAllocate, 4, [&](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(attr::kReservationToken, token);
  });
  EXPECT_EQ(ErrorCodeOf(*answer), 508);
}

TEST_F(TurnServerTest, AnUnclaimedReservationIsReleasedAfter30Seconds) {
  std::optional<StunMessage> answer =
      SignedExchange(UdpFlow("198.51.100.1:1000"), method::kAllocate, 1, [](auto& b) {
        b.AddRequestedTransport(17);
        b.AddAttribute(attr::kEvenPort, std::string_view("\x80", 1));
      });
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess);
  const std::string token(*answer->FindValue(attr::kReservationToken));
  ASSERT_EQ(io_.held_ports.size(), 1u);
  Advance(std::chrono::seconds(31));
  EXPECT_TRUE(io_.held_ports.empty());
  answer = SignedExchange(UdpFlow("198.51.100.1:1001"), method::kAllocate, 2, [&](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(attr::kReservationToken, token);
  });
  EXPECT_EQ(ErrorCodeOf(*answer), 508);
  // Shutdown releases reservations too.
  answer = SignedExchange(UdpFlow("198.51.100.1:1003"), method::kAllocate, 3, [](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(attr::kEvenPort, std::string_view("\x80", 1));
  });
  ASSERT_EQ(answer->stun_class(), StunClass::kSuccess);
  worker_->Shutdown();
  EXPECT_TRUE(io_.open.empty());
  EXPECT_TRUE(io_.held_ports.empty());
}

TEST_F(TurnServerTest, PerUserQuotaGives486AndCapacityGives508) {
  options_.max_allocations_per_user = 2;
  options_.max_allocations = 3;
  Rebuild();
  ASSERT_TRUE(Allocate(UdpFlow("198.51.100.1:1")));
  ASSERT_TRUE(Allocate(UdpFlow("198.51.100.2:1")));
  std::optional<StunMessage> answer = SignedExchange(
      UdpFlow("198.51.100.3:1"), method::kAllocate, 1, [](auto& b) { b.AddRequestedTransport(17); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 486);
  // Secret-derived credentials of the same user share the quota.
  const IssuedCredential issued =
      *shared_->credentials().Issue(kUser, absl::Hours(1), absl::FromUnixSeconds(1'700'000'000));
  answer = SignedExchange(UdpFlow("198.51.100.3:2"), method::kAllocate, 2,
                          [](auto& b) { b.AddRequestedTransport(17); },
                          Auth(issued.username, issued.password));
  EXPECT_EQ(ErrorCodeOf(*answer), 486);
  ASSERT_TRUE(Allocate(UdpFlow("198.51.100.4:1"), Auth("bob", "builder")));
  answer = SignedExchange(UdpFlow("198.51.100.5:1"), method::kAllocate, 3,
                          [](auto& b) { b.AddRequestedTransport(17); },
                          Auth("bob", "builder"));
  EXPECT_EQ(ErrorCodeOf(*answer), 508);
  EXPECT_EQ(worker_->stats().quota_rejections, 2u);
  EXPECT_EQ(worker_->stats().capacity_rejections, 1u);
}

TEST_F(TurnServerTest, PortExhaustionIs508AndReleasesTheQuota) {
  io_.ports_left = 0;
  std::optional<StunMessage> answer = SignedExchange(
      UdpFlow(), method::kAllocate, 1, [](auto& b) { b.AddRequestedTransport(17); });
  EXPECT_EQ(ErrorCodeOf(*answer), 508);
  EXPECT_EQ(shared_->total_allocations(), 0u);
}

TEST_F(TurnServerTest, SecretDerivedCredentialsWorkUntilTheyExpire) {
  // The worker's wall clock starts at 1'700'000'000 - 3600.
  const IssuedCredential issued = *shared_->credentials().Issue(
      "carol", absl::Seconds(3600 + 60), absl::FromUnixSeconds(1'700'000'000 - 3600));
  const ClientFlow flow = UdpFlow();
  Auth auth(issued.username, issued.password);
  ASSERT_TRUE(Allocate(flow, auth));
  Advance(std::chrono::seconds(3600 + 61));  // the allocation expired too; a new flow asks
  auth.nonce.clear();
  std::optional<StunMessage> answer =
      SignedExchange(UdpFlow("198.51.100.1:2"), method::kAllocate, 2,
                     [](auto& b) { b.AddRequestedTransport(17); }, auth);
  EXPECT_EQ(ErrorCodeOf(*answer), 401);
}

TEST_F(TurnServerTest, OnlyTheAllocationsUserMayChangeIt) {
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  std::optional<StunMessage> answer =
      SignedExchange(flow, method::kRefresh, 9, [](auto&) {},
                     Auth("bob", "builder"));
  EXPECT_EQ(ErrorCodeOf(*answer), 441);
}

TEST_F(TurnServerTest, StreamFlowsPadChannelDataAndEndWithTheConnection) {
  ClientFlow flow = UdpFlow();
  flow.transport = ClientTransport::kTcp;
  flow.connection = 7;
  ASSERT_TRUE(Allocate(flow));
  ASSERT_EQ(ChannelBind(flow, 0x4000, "8.8.8.8:5000")->stun_class(), StunClass::kSuccess);
  worker_->OnPeerPacket(io_.open.front(), *NetAddress::Parse("8.8.8.8:5000"), "odd");
  const std::string frame = io_.TakeClientMessage();
  EXPECT_EQ(frame.size(), 8u);  // 4 header + 3 data + 1 padding
  // The same address on UDP is a different 5-tuple.
  ClientFlow udp = flow;
  udp.transport = ClientTransport::kUdp;
  udp.connection = 0;
  EXPECT_EQ(ErrorCodeOf(*SignedExchange(udp, method::kRefresh, 3, [](auto&) {})), 437);
  worker_->OnClientClosed(flow);
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(io_.closed.size(), 1u);
}

TEST_F(TurnServerTest, GarbageAndTruncatedInputIsDiscardedAndCounted) {
  const ClientFlow flow = UdpFlow();
  StunMessageBuilder builder(method::kBinding, StunClass::kRequest, Tid(1));
  builder.AddFingerprint();
  std::string good = *std::move(builder).Finish();
  worker_->OnClientMessage(flow, good.substr(0, good.size() - 3));
  worker_->OnClientMessage(flow, "garbage that is not stun at all");
  worker_->OnClientMessage(flow, std::string(1, '\x40'));
  std::string bad_fingerprint = good;
  bad_fingerprint.back() ^= 1;
  worker_->OnClientMessage(flow, bad_fingerprint);
  EXPECT_TRUE(io_.to_client.empty());
  EXPECT_EQ(worker_->stats().malformed, 4u);
  ASSERT_TRUE(Exchange(flow, good));  // still serving
}

TEST_F(TurnServerTest, UnauthenticatedAnswersStayWithinTheAmplificationBudget) {
  const ClientFlow flow = UdpFlow();
  StunMessageBuilder builder(method::kAllocate, StunClass::kRequest, Tid(1));
  builder.AddRequestedTransport(17);
  const std::string tiny = *std::move(builder).Finish();  // 28 bytes, challenge ~72
  // Enough attempts to exceed the budget whatever its configured size (one challenge's excess
  // over the request is at least 40 bytes), with a bound.
  const size_t attempts = options_.amplification_budget_bytes / 40 + 10;
  size_t answered = 0;
  for (size_t i = 0; i < attempts; ++i) {
    worker_->OnClientMessage(flow, tiny);
    answered += io_.to_client.size();
    io_.to_client.clear();
  }
  EXPECT_GT(answered, 10u);
  EXPECT_LT(answered, attempts);
  EXPECT_EQ(worker_->stats().amplification_drops, attempts - answered);
  // A new window restores the budget; TCP flows are never limited.
  Advance(std::chrono::seconds(options_.amplification_window_s));
  ASSERT_TRUE(Exchange(flow, tiny));
  ClientFlow tcp = flow;
  tcp.transport = ClientTransport::kTcp;
  for (int i = 0; i < 500; ++i) worker_->OnClientMessage(tcp, tiny);
  EXPECT_EQ(io_.to_client.size(), 500u);
}

TEST_F(TurnServerTest, UnknownComprehensionRequiredAttributeGets420) {
  const ClientFlow flow = UdpFlow();
  std::optional<StunMessage> answer = SignedExchange(flow, method::kAllocate, 1, [](auto& b) {
    b.AddRequestedTransport(17);
    b.AddAttribute(0x7777, "x");
  });
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 420);
  EXPECT_EQ(*stun::ReadUnknownAttributes(*answer->FindValue(attr::kUnknownAttributes)),
            std::vector<uint16_t>{0x7777});
}

TEST_F(TurnServerTest, TheTimersHookFiresWhenTimersAreSetNotPerPacket) {
  int calls = 0;
  worker_->set_on_timers_changed([&calls] { ++calls; });
  const ClientFlow flow = UdpFlow();
  ASSERT_TRUE(Allocate(flow));
  EXPECT_EQ(calls, 1);  // the expiry timer
  ASSERT_EQ(ChannelBind(flow, 0x4001, "8.8.8.8:5000")->stun_class(), StunClass::kSuccess);
  const int after_setup = calls;
  std::string frame;
  stun::AppendChannelData(0x4001, "rtp", stun::Framing::kDatagram, frame);
  for (int i = 0; i < 10; ++i) worker_->OnClientMessage(flow, frame);
  worker_->OnPeerPacket(io_.open.front(), *NetAddress::Parse("8.8.8.8:5000"), "back");
  EXPECT_EQ(calls, after_setup);
  io_.to_client.clear();  // the relayed ChannelData
  ASSERT_TRUE(SignedExchange(flow, method::kRefresh, 50, [](auto&) {}));
  EXPECT_EQ(calls, after_setup + 1);  // the expiry moved
}

TEST_F(TurnServerTest, ShutdownReleasesEverything) {
  ASSERT_TRUE(Allocate(UdpFlow("198.51.100.1:1")));
  ASSERT_TRUE(Allocate(UdpFlow("198.51.100.1:2")));
  worker_->Shutdown();
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(io_.closed.size(), 2u);
  EXPECT_EQ(shared_->total_allocations(), 0u);
  EXPECT_EQ(worker_->stats().allocations, 0u);
}

// --- Credentials and policy ------------------------------------------------------------------

TEST(CredentialsTest, SecretDerivedPasswordsMatchCoturnsScheme) {
  CredentialOptions options;
  options.realm = "example.org";
  options.secret = "north-wind";
  Credentials credentials(options);
  // base64(HMAC-SHA1("north-wind", "1700000000:alice")), computed independently with Python.
  EXPECT_EQ(*credentials.PasswordFor("1700000000:alice", absl::FromUnixSeconds(1'600'000'000)),
            "Oko4dt8u/EbTRjRUJWQDFm/zTCc=");
  EXPECT_EQ(absl::BytesToHexString(
                *credentials.KeyFor("1700000000:alice", absl::FromUnixSeconds(1'600'000'000))),
            "72de66bbf35ce09d74a8826041313f09");
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      credentials.PasswordFor("1700000000:alice", absl::FromUnixSeconds(1'700'000'001))
          .status()));
  EXPECT_TRUE(absl::IsNotFound(credentials.PasswordFor("alice", absl::Now()).status()));
  const IssuedCredential issued =
      *credentials.Issue("bob", absl::Seconds(600), absl::FromUnixSeconds(1'000));
  EXPECT_EQ(issued.username, "1600:bob");
  EXPECT_EQ(*credentials.PasswordFor(issued.username, absl::FromUnixSeconds(1'500)),
            issued.password);
  EXPECT_EQ(Credentials::UserOf(issued.username), "bob");
  EXPECT_EQ(Credentials::UserOf("static-user"), "static-user");
  EXPECT_FALSE(credentials.Issue("a:b", absl::Seconds(1), absl::Now()).ok());
  options.secret.clear();
  Credentials no_secret(options);
  EXPECT_FALSE(no_secret.Issue("bob", absl::Seconds(1), absl::Now()).ok());
  EXPECT_TRUE(absl::IsNotFound(no_secret.PasswordFor("1700000000:alice", absl::Now()).status()));
}

TEST(PeerPolicyTest, DeniesSpecialPurposeRangesAndHonoursAllowAndOwnAddresses) {
  PeerPolicy policy({}, {*NetAddress::Parse("203.0.113.50")});
  for (std::string_view denied :
       {"127.0.0.1", "10.9.8.7", "172.31.255.255", "192.168.0.1", "100.64.0.1", "169.254.0.1",
        "224.0.0.1", "239.255.255.250", "255.255.255.255", "0.0.0.0", "240.0.0.1", "::1", "::",
        "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
        "2001:db8::1", "203.0.113.50"}) {
    EXPECT_FALSE(policy.Allowed(*NetAddress::Parse(denied))) << denied;
  }
  for (std::string_view allowed : {"8.8.8.8", "1.1.1.1", "2001:4860:4860::8888",
                                   "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1"}) {
    EXPECT_TRUE(policy.Allowed(*NetAddress::Parse(allowed))) << allowed;
  }
  PeerPolicy open({*CidrRange::Parse("127.0.0.0/8"), *CidrRange::Parse("fd00::/8")}, {});
  EXPECT_TRUE(open.Allowed(*NetAddress::Parse("127.0.0.2")));
  EXPECT_TRUE(open.Allowed(*NetAddress::Parse("fd12::1")));
  EXPECT_TRUE(open.Allowed(*NetAddress::Parse("::ffff:127.0.0.1")));
  EXPECT_FALSE(open.Allowed(*NetAddress::Parse("10.0.0.1")));
}

TEST(PeerPolicyTest, CidrParsing) {
  EXPECT_EQ(CidrRange::Parse("10.0.0.0/8")->ToString(), "10.0.0.0/8");
  EXPECT_EQ(CidrRange::Parse("192.0.2.7")->ToString(), "192.0.2.7/32");
  EXPECT_EQ(CidrRange::Parse("::1")->ToString(), "::1/128");
  EXPECT_FALSE(CidrRange::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(CidrRange::Parse("10.0.0.0/x").ok());
  EXPECT_FALSE(CidrRange::Parse("host.example/8").ok());
  EXPECT_FALSE(CidrRange::Parse("").ok());
  EXPECT_TRUE(CidrRange::Parse("10.0.0.0/9")->Contains(*NetAddress::Parse("10.127.0.1")));
  EXPECT_FALSE(CidrRange::Parse("10.0.0.0/9")->Contains(*NetAddress::Parse("10.128.0.1")));
}

}  // namespace
}  // namespace causeway::turn
