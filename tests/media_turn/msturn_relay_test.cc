// media/turn serving MS-TURN: the exchange captured from libnice (a real MS-TURN client,
// tests/media_msturn/libnice_vectors.h) replayed against a TurnWorker with a recording RelayIo and
// a simulated clock. The relay's answers are held to what libnice accepted: where the captured
// responder's answer is deterministic (Allocate success, Set Active Destination success) the
// relay must produce it byte for byte.
//
// The captured authenticated requests carry the capture's NONCE and MS-SEQUENCE-NUMBER connection
// id; TurnShared::AcceptNonceForTesting and TurnWorker::SetNextConnectionIdForTesting let them be
// replayed unchanged, so the relay verifies libnice's own MESSAGE-INTEGRITY. Everything else is
// built here with the codec in libnice's form (same attributes, same order) and fresh nonces.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "media/msturn/msturn_message.h"
#include "media/stun/stun_message.h"
#include "media/turn/turn_server.h"
#include "tests/media_msturn/libnice_vectors.h"
#include "tests/media_turn/fake_relay_io.h"

namespace causeway::turn {
namespace {

namespace vectors = msturn::vectors;
namespace mattr = msturn::attr;
namespace mtype = msturn::type;
using msturn::MsTurnMessage;
using msturn::MsTurnMessageBuilder;

std::string Unhex(std::string_view hex) {
  return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
}

NetAddress Addr(std::string_view text) { return *NetAddress::Parse(text); }

NetAddress Loopback(uint16_t port) {
  NetAddress address = Addr("127.0.0.1");
  address.set_port(port);
  return address;
}

msturn::TransactionId Tid(uint8_t seed) {
  msturn::TransactionId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(seed * 17 + i);
  return id;
}

// Credentials as libnice puts them on the wire.
struct MsAuth {
  std::string username = vectors::kUsername;
  std::string password = vectors::kPassword;
  std::string realm = vectors::kRealm;
  std::string nonce;
  std::string Key() const { return stun::LongTermKey(username, realm, password); }
};

using AddAttributes = std::function<void(MsTurnMessageBuilder&)>;

class MsTurnRelayTest : public ::testing::Test {
 protected:
  MsTurnRelayTest() {
    options_.default_lifetime_s = 480;  // what the captured success granted
    io_.relay_v4 = "127.0.0.1";
    io_.next_port = vectors::kRelayPort;
    Rebuild();
  }

  // `password`: alice's password on the relay; `allow_loopback`: the libnice peer is on loopback,
  // which the default peer policy forbids.
  void Rebuild(std::string password = vectors::kPassword, bool allow_loopback = true,
               bool accept_captured_nonce = true) {
    worker_.reset();
    CredentialOptions credentials;
    credentials.realm = vectors::kRealm;
    credentials.static_users.emplace(vectors::kUsername, std::move(password));
    credentials.static_users.emplace("bob", "builder");
    std::vector<CidrRange> allow;
    if (allow_loopback) allow.push_back(*CidrRange::Parse("127.0.0.0/8"));
    shared_ = std::make_unique<TurnShared>(options_, Credentials(std::move(credentials)),
                                           PeerPolicy(std::move(allow), {}));
    if (accept_captured_nonce) shared_->AcceptNonceForTesting(vectors::kNonce);
    wheel_ = std::make_unique<TimerWheel>(clock_);
    worker_ = std::make_unique<TurnWorker>(*shared_, io_, *wheel_, clock_);
    worker_->SetNextConnectionIdForTesting(Unhex(vectors::kConnectionId));
  }

  void Advance(std::chrono::seconds d) { TimerWheel::AdvanceSimulated(clock_, *wheel_, d); }

  static ClientFlow Udp(uint16_t port = vectors::kClientPort) {
    return ClientFlow{Loopback(port), Loopback(3478), ClientTransport::kUdp, 0};
  }
  static ClientFlow Tcp(uint64_t connection = 7) {
    return ClientFlow{Loopback(vectors::kClientPort), Loopback(3478), ClientTransport::kTcp,
                      connection};
  }

  // Sends `bytes`; returns the relay's answer (empty when it sent none).
  std::string Send(const ClientFlow& flow, std::string_view bytes) {
    const size_t before = io_.to_client.size();
    worker_->OnClientMessage(flow, bytes);
    EXPECT_LE(io_.to_client.size(), before + 1) << "more than one answer";
    if (io_.to_client.size() == before) return {};
    std::string answer = std::move(io_.to_client.back().message);
    io_.to_client.pop_back();
    return answer;
  }

  // Parses an answer kept in answer_ (the view stays valid until the next call).
  std::optional<MsTurnMessage> Exchange(const ClientFlow& flow, std::string_view bytes) {
    answer_ = Send(flow, bytes);
    if (answer_.empty()) return std::nullopt;
    absl::StatusOr<MsTurnMessage> parsed = MsTurnMessage::Parse(answer_);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return std::nullopt;
    return *parsed;
  }

  static int ErrorCodeOf(const MsTurnMessage& message) {
    std::optional<std::string_view> value = message.FindValue(mattr::kErrorCode);
    if (!value) return 0;
    return stun::ReadErrorCode(*value)->code;
  }

  // The first Allocate's 401: its NONCE, checked the way libnice reads the challenge.
  std::string FetchNonce(const ClientFlow& flow) {
    std::optional<MsTurnMessage> answer = Exchange(flow, Unhex(vectors::kAllocateRequest));
    EXPECT_TRUE(answer);
    if (!answer) return {};
    EXPECT_EQ(answer->message_type(), mtype::kAllocateErrorResponse);
    EXPECT_EQ(ErrorCodeOf(*answer), 401);
    return std::string(answer->FindValue(mattr::kNonce).value_or(""));
  }

  // An Allocate in libnice's form: MAGIC-COOKIE, MS-VERSION, [LIFETIME], REALM, NONCE, USERNAME,
  // MESSAGE-INTEGRITY.
  static std::string Allocate(uint8_t tid, const MsAuth& auth,
                              std::optional<uint32_t> lifetime = std::nullopt,
                              const AddAttributes& add = {}) {
    MsTurnMessageBuilder builder(mtype::kAllocateRequest, Tid(tid));
    builder.AddUint32(mattr::kMsVersion, 1);
    if (lifetime) builder.AddUint32(mattr::kLifetime, *lifetime);
    if (add) add(builder);
    builder.AddAttribute(mattr::kRealm, auth.realm);
    builder.AddAttribute(mattr::kNonce, auth.nonce);
    builder.AddAttribute(mattr::kUsername, auth.username);
    builder.AddMessageIntegrity(auth.Key());
    return *std::move(builder).Finish();
  }

  // A Send request in libnice's form (no NONCE).
  static std::string SendRequest(uint8_t tid, const NetAddress& peer, std::string_view data,
                                 uint32_t sequence, std::string_view connection_id,
                                 const MsAuth& auth = {}) {
    MsTurnMessageBuilder builder(mtype::kSendRequest, Tid(tid));
    builder.AddAttribute(mattr::kUsername, auth.username);
    builder.AddAddress(mattr::kDestinationAddress, peer);
    builder.AddUint32(mattr::kMsVersion, 1);
    builder.AddMsSequenceNumber(connection_id, sequence);
    builder.AddAttribute(mattr::kRealm, auth.realm);
    builder.AddAttribute(mattr::kData, data);
    builder.AddMessageIntegrity(auth.Key());
    return *std::move(builder).Finish();
  }

  // A Set Active Destination request in libnice's form; nullopt clears (0.0.0.0:0).
  static std::string SetActive(uint8_t tid, std::optional<NetAddress> peer, uint32_t sequence,
                               std::string_view connection_id, const MsAuth& auth = {}) {
    MsTurnMessageBuilder builder(mtype::kSetActiveDestinationRequest, Tid(tid));
    builder.AddAttribute(mattr::kUsername, auth.username);
    builder.AddMsSequenceNumber(connection_id, sequence);
    builder.AddAttribute(mattr::kRealm, auth.realm);
    builder.AddAddress(mattr::kDestinationAddress, peer.value_or(Addr("0.0.0.0")));
    builder.AddMessageIntegrity(auth.Key());
    return *std::move(builder).Finish();
  }

  // The captured first Allocate, its 401, and the captured authenticated Allocate; returns the
  // success (checked byte for byte against the capture).
  void AllocateAsCaptured(const ClientFlow& flow = Udp()) {
    FetchNonce(flow);
    EXPECT_EQ(Send(flow, Unhex(vectors::kAllocateRequestAuthenticated)),
              Unhex(vectors::kAllocateSuccess));
  }

  std::string ConnectionId() const { return Unhex(vectors::kConnectionId); }
  NetAddress Peer() const { return Loopback(vectors::kPeerPort); }

  TurnOptions options_;
  SimulatedClock clock_;
  FakeRelayIo io_;
  std::unique_ptr<TurnShared> shared_;
  std::unique_ptr<TimerWheel> wheel_;
  std::unique_ptr<TurnWorker> worker_;
  std::string answer_;
};

TEST_F(MsTurnRelayTest, FirstAllocateIsChallengedWithRealmNonceAndNoIntegrity) {
  const ClientFlow flow = Udp();
  std::optional<MsTurnMessage> answer = Exchange(flow, Unhex(vectors::kAllocateRequest));
  ASSERT_TRUE(answer);
  // The captured 401's layout: MAGIC-COOKIE, ERROR-CODE, REALM, NONCE, MS-VERSION, same id.
  const std::string captured_bytes = Unhex(vectors::kAllocateUnauthorized);
  absl::StatusOr<MsTurnMessage> captured = MsTurnMessage::Parse(captured_bytes);
  ASSERT_TRUE(captured.ok());
  ASSERT_EQ(answer->attributes().size(), captured->attributes().size());
  for (size_t i = 0; i < answer->attributes().size(); ++i) {
    EXPECT_EQ(answer->attributes()[i].type, captured->attributes()[i].type) << i;
  }
  EXPECT_EQ(answer->message_type(), mtype::kAllocateErrorResponse);
  EXPECT_EQ(answer->transaction_id(), captured->transaction_id());
  EXPECT_EQ(ErrorCodeOf(*answer), 401);
  EXPECT_EQ(answer->FindValue(mattr::kRealm), std::optional<std::string_view>(vectors::kRealm));
  EXPECT_EQ(answer->FindValue(mattr::kMsVersion), captured->FindValue(mattr::kMsVersion));
  EXPECT_EQ(answer->Find(mattr::kMessageIntegrity), nullptr);
  const std::string nonce(answer->FindValue(mattr::kNonce).value_or(""));
  EXPECT_EQ(shared_->CheckNonce(nonce, flow.client, clock_.Now()), TurnShared::NonceCheck::kValid);
  EXPECT_EQ(worker_->stats().challenges, 1u);
  EXPECT_EQ(worker_->allocation_count(), 0u);
}

TEST_F(MsTurnRelayTest, LibniceExchangeIsServedAsCaptured) {
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  ASSERT_EQ(worker_->allocation_count(), 1u);
  ASSERT_EQ(io_.open.size(), 1u);
  EXPECT_EQ(worker_->stats().msturn_allocations, 1u);

  // Send: relayed to the destination, DATA as is, never answered.
  const std::string send_bytes = Unhex(vectors::kSendRequest);
  absl::StatusOr<MsTurnMessage> send = MsTurnMessage::Parse(send_bytes);
  absl::StatusOr<msturn::SendRequest> read = msturn::ReadSendRequest(*send);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(Send(flow, send_bytes), "");
  ASSERT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(io_.to_peer[0].peer, Peer());
  EXPECT_EQ(io_.to_peer[0].payload, read->data);
  EXPECT_EQ(io_.to_peer[0].relay, io_.open[0]);

  // Before Set Active Destination the peer's answer comes back as a Data indication.
  worker_->OnPeerPacket(io_.open[0], Peer(), "ice answer");
  ASSERT_EQ(io_.to_client.size(), 1u);
  const std::string indication_bytes = io_.TakeClientMessage();
  absl::StatusOr<MsTurnMessage> indication = MsTurnMessage::Parse(indication_bytes);
  ASSERT_TRUE(indication.ok());
  absl::StatusOr<msturn::DataIndication> data = msturn::ReadDataIndication(*indication);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->remote, Peer());
  EXPECT_EQ(data->data, "ice answer");

  // Set Active Destination: the captured success, byte for byte.
  EXPECT_EQ(Send(flow, Unhex(vectors::kSetActiveDestinationRequest)),
            Unhex(vectors::kSetActiveDestinationSuccess));

  // Raw media both ways.
  EXPECT_EQ(Send(flow, "raw media to the peer"), "");
  ASSERT_EQ(io_.to_peer.size(), 2u);
  EXPECT_EQ(io_.to_peer[1].peer, Peer());
  EXPECT_EQ(io_.to_peer[1].payload, "raw media to the peer");
  worker_->OnPeerPacket(io_.open[0], Peer(), "raw media from the peer");
  ASSERT_EQ(io_.to_client.size(), 1u);
  EXPECT_EQ(io_.TakeClientMessage(), "raw media from the peer");

  // The client's RFC 8489 ICE check (the DATA libnice carried in its Send) is data now too, and
  // so is anything that looks like ChannelData: relayed, not answered.
  const std::string ice_check(read->data);
  ASSERT_TRUE(stun::LooksLikeStun(ice_check));
  EXPECT_EQ(Send(flow, ice_check), "");
  const std::string channel_like("\x40\x01\x00\x04" "abcd", 8);
  EXPECT_EQ(Send(flow, channel_like), "");
  ASSERT_EQ(io_.to_peer.size(), 4u);
  EXPECT_EQ(io_.to_peer[2].payload, ice_check);
  EXPECT_EQ(io_.to_peer[3].payload, channel_like);
  EXPECT_EQ(worker_->stats().binding_requests, 0u);

  // Another port of the permitted IP: still a Data indication, not the active destination.
  worker_->OnPeerPacket(io_.open[0], Loopback(40000), "from another port");
  ASSERT_EQ(io_.to_client.size(), 1u);
  const std::string other_bytes = io_.TakeClientMessage();
  absl::StatusOr<MsTurnMessage> other = MsTurnMessage::Parse(other_bytes);
  ASSERT_TRUE(other.ok());
  data = msturn::ReadDataIndication(*other);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->remote, Loopback(40000));
  EXPECT_EQ(data->data, "from another port");
  // An IP without permission: dropped.
  worker_->OnPeerPacket(io_.open[0], Addr("127.0.0.2:39813"), "stranger");
  EXPECT_TRUE(io_.to_client.empty());
  EXPECT_EQ(worker_->stats().dropped_no_permission, 1u);
  EXPECT_EQ(worker_->stats().to_peer_packets, 4u);
  EXPECT_EQ(worker_->stats().from_peer_packets, 3u);
}

TEST_F(MsTurnRelayTest, WrongPasswordOrTamperedIntegrityGets401WithRealmAndNonce) {
  Rebuild("not-secret");
  const ClientFlow flow = Udp();
  FetchNonce(flow);
  std::optional<MsTurnMessage> answer =
      Exchange(flow, Unhex(vectors::kAllocateRequestAuthenticated));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 401);
  EXPECT_TRUE(answer->FindValue(mattr::kRealm));
  EXPECT_TRUE(answer->FindValue(mattr::kNonce));
  EXPECT_EQ(answer->Find(mattr::kMessageIntegrity), nullptr);
  EXPECT_EQ(worker_->stats().auth_failures, 1u);

  Rebuild();
  std::string tampered = Unhex(vectors::kAllocateRequestAuthenticated);
  tampered[tampered.size() - 1] ^= 0x01;
  answer = Exchange(flow, tampered);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 401);
  EXPECT_EQ(worker_->allocation_count(), 0u);
  // The untouched request still works: nothing was kept from the failures.
  EXPECT_EQ(Send(flow, Unhex(vectors::kAllocateRequestAuthenticated)),
            Unhex(vectors::kAllocateSuccess));
}

TEST_F(MsTurnRelayTest, MissingUsernameUnknownUserAndForeignRealm) {
  const ClientFlow flow = Udp();
  MsAuth auth;
  auth.nonce = FetchNonce(flow);
  // MESSAGE-INTEGRITY without USERNAME: 432.
  MsTurnMessageBuilder builder(mtype::kAllocateRequest, Tid(1));
  builder.AddAttribute(mattr::kRealm, auth.realm);
  builder.AddAttribute(mattr::kNonce, auth.nonce);
  builder.AddMessageIntegrity(auth.Key());
  std::optional<MsTurnMessage> answer = Exchange(flow, *std::move(builder).Finish());
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 432);

  MsAuth stranger = auth;
  stranger.username = "mallory";
  answer = Exchange(flow, Allocate(2, stranger));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 436);

  MsAuth foreign = auth;
  foreign.realm = "elsewhere.test";
  answer = Exchange(flow, Allocate(3, foreign));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 401);
  EXPECT_EQ(worker_->allocation_count(), 0u);
}

TEST_F(MsTurnRelayTest, ForeignOrStaleNonceGets438AndTheFreshOneWorks) {
  // Without the test hook the capture's nonce is not one of ours.
  Rebuild(vectors::kPassword, true, /*accept_captured_nonce=*/false);
  const ClientFlow flow = Udp();
  std::optional<MsTurnMessage> answer =
      Exchange(flow, Unhex(vectors::kAllocateRequestAuthenticated));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
  MsAuth auth;
  auth.nonce = std::string(answer->FindValue(mattr::kNonce).value_or(""));
  EXPECT_NE(auth.nonce, vectors::kNonce);

  // A nonce of ours that aged past nonce_lifetime_s: 438 again, then the fresh one succeeds.
  Advance(std::chrono::seconds(options_.nonce_lifetime_s + 1));
  answer = Exchange(flow, Allocate(1, auth));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
  const std::string fresh(answer->FindValue(mattr::kNonce).value_or(""));
  EXPECT_NE(fresh, auth.nonce);
  auth.nonce = fresh;
  answer = Exchange(flow, Allocate(2, auth));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kAllocateResponse);
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, auth.Key()).ok());
  EXPECT_EQ(worker_->stats().stale_nonces, 2u);
  EXPECT_EQ(worker_->allocation_count(), 1u);
}

TEST_F(MsTurnRelayTest, RepeatedAllocateRefreshesAndRetransmissionGetsTheSameAnswer) {
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  // A retransmission of the same transaction: the same bytes, no second allocation.
  EXPECT_EQ(Send(flow, Unhex(vectors::kAllocateRequestAuthenticated)),
            Unhex(vectors::kAllocateSuccess));
  EXPECT_EQ(worker_->allocation_count(), 1u);
  EXPECT_EQ(io_.open.size(), 1u);

  // libnice's refresh at LIFETIME / 2 (captured): same relayed address, lifetime renewed.
  Advance(std::chrono::seconds(400));
  std::optional<MsTurnMessage> answer = Exchange(flow, Unhex(vectors::kAllocateRefresh));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->message_type(), mtype::kAllocateResponse) << ErrorCodeOf(*answer);
  MsAuth auth;
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, auth.Key()).ok());
  EXPECT_EQ(stun::ReadAddress(*answer->FindValue(mattr::kMappedAddress)).value(),
            Loopback(vectors::kRelayPort));
  EXPECT_EQ(stun::ReadUint32(*answer->FindValue(mattr::kLifetime)).value(), 480u);
  EXPECT_EQ(io_.open.size(), 1u);
  Advance(std::chrono::seconds(400));  // 800 s after the first Allocate, 400 after the refresh
  EXPECT_EQ(worker_->allocation_count(), 1u);
  Advance(std::chrono::seconds(100));
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(worker_->stats().allocations_expired, 1u);
  EXPECT_EQ(io_.closed.size(), 1u);
}

// Measured end to end: libnice refreshes with the nonce of its first Allocate and gives up on a
// 438 to a refresh, so the allocation's own nonce must outlive nonce_lifetime_s for it.
TEST_F(MsTurnRelayTest, RefreshesKeepTheAllocationsOwnNonceButNoOtherStaleOne) {
  Rebuild(vectors::kPassword, true, /*accept_captured_nonce=*/false);
  const ClientFlow flow = Udp();
  MsAuth auth;
  auth.nonce = FetchNonce(flow);
  ASSERT_EQ(Exchange(flow, Allocate(1, auth))->message_type(), mtype::kAllocateResponse);
  Advance(std::chrono::seconds(5));  // nonces of one IP differ by their expiry second
  const std::string other_nonce = FetchNonce(Udp(50003));
  ASSERT_NE(other_nonce, auth.nonce);
  // Three refreshes, each 400 s apart: the nonce is long stale by the second.
  for (uint8_t i = 0; i < 3; ++i) {
    Advance(std::chrono::seconds(400));
    std::optional<MsTurnMessage> answer = Exchange(flow, Allocate(2 + i, auth));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->message_type(), mtype::kAllocateResponse) << ErrorCodeOf(*answer);
  }
  EXPECT_EQ(worker_->stats().stale_nonces, 0u);
  EXPECT_EQ(worker_->allocation_count(), 1u);
  // Another stale nonce of ours is still stale, on this 5-tuple ...
  MsAuth other = auth;
  other.nonce = other_nonce;
  std::optional<MsTurnMessage> answer = Exchange(flow, Allocate(10, other));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
  // ... and the allocation's nonce is no good for a new allocation elsewhere.
  answer = Exchange(Udp(50004), Allocate(11, auth));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 438);
  EXPECT_EQ(worker_->stats().stale_nonces, 2u);
  EXPECT_EQ(worker_->allocation_count(), 1u);
}

TEST_F(MsTurnRelayTest, LifetimeZeroReleasesTheAllocation) {
  const ClientFlow flow = Udp();
  MsAuth auth;
  auth.nonce = FetchNonce(flow);
  ASSERT_EQ(Exchange(flow, Allocate(1, auth))->message_type(), mtype::kAllocateResponse);
  ASSERT_EQ(worker_->allocation_count(), 1u);
  std::optional<MsTurnMessage> answer = Exchange(flow, Allocate(2, auth, 0));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kAllocateResponse);
  EXPECT_EQ(stun::ReadUint32(*answer->FindValue(mattr::kLifetime)).value(), 0u);
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, auth.Key()).ok());
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(io_.closed.size(), 1u);
  EXPECT_EQ(worker_->stats().allocations_deleted, 1u);
  EXPECT_EQ(worker_->stats().msturn_allocations, 0u);
  // Raw data on the 5-tuple now has no allocation to go to: the RFC path discards it.
  EXPECT_EQ(Send(flow, "late media"), "");
  EXPECT_TRUE(io_.to_peer.empty());
}

TEST_F(MsTurnRelayTest, AnotherUserCannotRefreshTheAllocation) {
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  MsAuth bob;
  bob.username = "bob";
  bob.password = "builder";
  bob.nonce = vectors::kNonce;
  std::optional<MsTurnMessage> answer = Exchange(flow, Allocate(5, bob, 0));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 437);
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, bob.Key()).ok());
  EXPECT_EQ(worker_->allocation_count(), 1u);
}

TEST_F(MsTurnRelayTest, ForbiddenPeersAreDroppedOnSendAndRefusedWith403OnSetActive) {
  Rebuild(vectors::kPassword, /*allow_loopback=*/false);
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  EXPECT_EQ(Send(flow, Unhex(vectors::kSendRequest)), "");
  EXPECT_TRUE(io_.to_peer.empty());
  EXPECT_EQ(worker_->stats().forbidden_peers, 1u);

  std::optional<MsTurnMessage> answer =
      Exchange(flow, Unhex(vectors::kSetActiveDestinationRequest));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kSetActiveDestinationErrorResponse);
  EXPECT_EQ(ErrorCodeOf(*answer), 403);
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, MsAuth().Key()).ok());
  // No active destination was set: raw data goes nowhere.
  EXPECT_EQ(Send(flow, "media"), "");
  EXPECT_TRUE(io_.to_peer.empty());
  EXPECT_EQ(worker_->stats().dropped_no_destination, 1u);
  // And no permission either: the peer's packets are dropped.
  worker_->OnPeerPacket(io_.open[0], Peer(), "hello");
  EXPECT_TRUE(io_.to_client.empty());
}

TEST_F(MsTurnRelayTest, QuotaAndCapacityAreAnsweredWith500) {
  options_.max_allocations_per_user = 1;
  Rebuild();
  AllocateAsCaptured(Udp());
  const ClientFlow second = Udp(50001);
  MsAuth auth;
  auth.nonce = FetchNonce(second);
  std::optional<MsTurnMessage> answer = Exchange(second, Allocate(1, auth));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kAllocateErrorResponse);
  EXPECT_EQ(ErrorCodeOf(*answer), 500);
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, auth.Key()).ok());
  EXPECT_EQ(worker_->stats().quota_rejections, 1u);

  // No relayed port left: 500 too, and the quota taken for the attempt is given back.
  io_.ports_left = 0;
  MsAuth bob;
  bob.username = "bob";
  bob.password = "builder";
  bob.nonce = auth.nonce;
  answer = Exchange(second, Allocate(2, bob));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 500);
  EXPECT_EQ(worker_->stats().capacity_rejections, 1u);
  io_.ports_left = 10;
  answer = Exchange(second, Allocate(3, bob));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kAllocateResponse);
  EXPECT_EQ(worker_->allocation_count(), 2u);
}

TEST_F(MsTurnRelayTest, SendAndSetActiveNeedTheAllocationsCredentialsAndConnection) {
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  // Another connection id (an old allocation's): dropped.
  const std::string other_id(20, 'x');
  EXPECT_EQ(Send(flow, SendRequest(1, Peer(), "a", 1, other_id)), "");
  // Another user's valid credentials: dropped.
  MsAuth bob;
  bob.username = "bob";
  bob.password = "builder";
  EXPECT_EQ(Send(flow, SendRequest(2, Peer(), "b", 2, ConnectionId(), bob)), "");
  // alice with a wrong password: dropped.
  MsAuth wrong;
  wrong.password = "guess";
  EXPECT_EQ(Send(flow, SendRequest(3, Peer(), "c", 3, ConnectionId(), wrong)), "");
  EXPECT_EQ(Send(flow, SetActive(4, Peer(), 4, ConnectionId(), wrong)), "");
  EXPECT_TRUE(io_.to_peer.empty());
  EXPECT_EQ(worker_->stats().msturn_replays, 1u);
  EXPECT_EQ(worker_->stats().auth_failures, 3u);
  // The right ones pass.
  EXPECT_EQ(Send(flow, SendRequest(5, Peer(), "d", 5, ConnectionId())), "");
  ASSERT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(io_.to_peer[0].payload, "d");
}

TEST_F(MsTurnRelayTest, SetActiveDestinationReplaysAreIgnoredRetransmissionsAnswered) {
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  const std::string request = Unhex(vectors::kSetActiveDestinationRequest);  // sequence 4
  EXPECT_EQ(Send(flow, request), Unhex(vectors::kSetActiveDestinationSuccess));
  EXPECT_EQ(Send(flow, request), Unhex(vectors::kSetActiveDestinationSuccess));
  // A new transaction with an old sequence number (a replay) changes nothing.
  EXPECT_EQ(Send(flow, SetActive(9, std::nullopt, 4, ConnectionId())), "");
  EXPECT_EQ(worker_->stats().msturn_replays, 1u);
  EXPECT_EQ(Send(flow, "still active"), "");
  ASSERT_EQ(io_.to_peer.size(), 1u);
  // A higher one clears the active destination: raw data is dropped, the peer's data comes as
  // Data indications.
  std::optional<MsTurnMessage> answer =
      Exchange(flow, SetActive(10, std::nullopt, 5, ConnectionId()));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kSetActiveDestinationResponse);
  EXPECT_EQ(Send(flow, "nowhere"), "");
  EXPECT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(worker_->stats().dropped_no_destination, 1u);
  worker_->OnPeerPacket(io_.open[0], Peer(), "x");
  ASSERT_EQ(io_.to_client.size(), 1u);
  EXPECT_EQ(io_.to_client[0].message.substr(0, 2), std::string("\x01\x15", 2));
  io_.to_client.clear();
  // After a refresh libnice counts from the answer's sequence (0) again: accepted.
  ASSERT_EQ(Exchange(flow, Unhex(vectors::kAllocateRefresh))->message_type(),
            mtype::kAllocateResponse);
  answer = Exchange(flow, SetActive(11, Peer(), 1, ConnectionId()));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kSetActiveDestinationResponse);
}

TEST_F(MsTurnRelayTest, TheActiveDestinationLivesAsLongAsItsPermission) {
  const ClientFlow flow = Udp();
  AllocateAsCaptured(flow);
  ASSERT_EQ(Send(flow, Unhex(vectors::kSetActiveDestinationRequest)),
            Unhex(vectors::kSetActiveDestinationSuccess));
  // Media every 200 s keeps the permission (and the allocation, by refreshes) alive.
  for (int i = 0; i < 4; ++i) {
    Advance(std::chrono::seconds(200));
    EXPECT_EQ(Send(flow, "media"), "");
    MsAuth auth;
    auth.nonce = vectors::kNonce;
    ASSERT_EQ(Exchange(flow, Allocate(static_cast<uint8_t>(20 + i), auth))->message_type(),
              mtype::kAllocateResponse);
  }
  EXPECT_EQ(io_.to_peer.size(), 4u);
  // Silence longer than the permission lifetime: the active destination is gone with it.
  Advance(std::chrono::seconds(options_.permission_lifetime_s + 1));
  EXPECT_EQ(Send(flow, "too late"), "");
  EXPECT_EQ(io_.to_peer.size(), 4u);
  EXPECT_EQ(worker_->stats().dropped_no_permission, 1u);
  EXPECT_EQ(Send(flow, "still nowhere"), "");
  EXPECT_EQ(worker_->stats().dropped_no_destination, 1u);
}

TEST_F(MsTurnRelayTest, UnknownComprehensionRequiredAttributeGets420Signed) {
  const ClientFlow flow = Udp();
  MsAuth auth;
  auth.nonce = FetchNonce(flow);
  // REQUESTED-TRANSPORT is RFC 8656's; MS-TURN does not know 0x0019.
  std::optional<MsTurnMessage> answer =
      Exchange(flow, Allocate(1, auth, std::nullopt, [](MsTurnMessageBuilder& b) {
        b.AddAttribute(0x0019, std::string("\x11\0\0\0", 4));
      }));
  ASSERT_TRUE(answer);
  EXPECT_EQ(ErrorCodeOf(*answer), 420);
  EXPECT_EQ(stun::ReadUnknownAttributes(*answer->FindValue(mattr::kUnknownAttributes)).value(),
            std::vector<uint16_t>{0x0019});
  EXPECT_TRUE(msturn::VerifyMessageIntegrity(*answer, auth.Key()).ok());
  EXPECT_EQ(worker_->allocation_count(), 0u);
}

TEST_F(MsTurnRelayTest, DialectsStayApartPerAllocation) {
  // An RFC 8656 allocation on a 5-tuple ignores MS-TURN control messages ...
  const ClientFlow flow = Udp();
  {
    stun::StunMessageBuilder builder(stun::method::kAllocate, stun::StunClass::kRequest,
                                     stun::TransactionId{1, 2, 3});
    builder.AddRequestedTransport(17);
    const std::string first = *std::move(builder).Finish();
    const std::string challenge = Send(flow, first);
    absl::StatusOr<stun::StunMessage> parsed = stun::StunMessage::Parse(challenge);
    ASSERT_TRUE(parsed.ok());
    const std::string nonce(*parsed->FindValue(stun::attr::kNonce));
    stun::StunMessageBuilder signed_builder(stun::method::kAllocate, stun::StunClass::kRequest,
                                            stun::TransactionId{4, 5, 6});
    signed_builder.AddRequestedTransport(17);
    signed_builder.AddAttribute(stun::attr::kUsername, vectors::kUsername);
    signed_builder.AddAttribute(stun::attr::kRealm, vectors::kRealm);
    signed_builder.AddAttribute(stun::attr::kNonce, nonce);
    signed_builder.AddMessageIntegrity(MsAuth().Key());
    const std::string answer = Send(flow, *std::move(signed_builder).Finish());
    ASSERT_TRUE(stun::StunMessage::Parse(answer).ok());
    EXPECT_EQ(stun::StunMessage::Parse(answer)->stun_class(), stun::StunClass::kSuccess);
  }
  ASSERT_EQ(worker_->allocation_count(), 1u);
  EXPECT_EQ(Send(flow, Unhex(vectors::kAllocateRequest)), "");
  EXPECT_EQ(worker_->stats().dialect_mismatches, 1u);
  EXPECT_EQ(worker_->stats().msturn_allocations, 0u);
  // ... and an MS-TURN allocation next to it serves its own 5-tuple.
  const ClientFlow other = Udp(50002);
  MsAuth auth;
  auth.nonce = FetchNonce(other);
  std::optional<MsTurnMessage> answer = Exchange(other, Allocate(1, auth));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message_type(), mtype::kAllocateResponse);
  EXPECT_EQ(worker_->allocation_count(), 2u);
  EXPECT_EQ(worker_->stats().msturn_allocations, 1u);
}

TEST_F(MsTurnRelayTest, TcpFramesCarryControlAndDataBothWays) {
  const ClientFlow flow = Tcp();
  auto frame = [](msturn::TcpFrameType type, std::string_view payload) {
    std::string out;
    msturn::AppendTcpFrame(type, payload, out);
    return out;
  };
  // libnice's captured first control frame: the 401 comes back in a control frame.
  std::string answer = Send(flow, Unhex(vectors::kTcpControlFrame));
  absl::StatusOr<msturn::TcpFrame> control = msturn::ParseTcpFrame(answer);
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->type, msturn::TcpFrameType::kControl);
  EXPECT_EQ(control->frame_bytes, answer.size());
  absl::StatusOr<MsTurnMessage> challenge = MsTurnMessage::Parse(control->payload);
  ASSERT_TRUE(challenge.ok());
  EXPECT_EQ(ErrorCodeOf(*challenge), 401);

  EXPECT_EQ(Send(flow, frame(msturn::TcpFrameType::kControl,
                             Unhex(vectors::kAllocateRequestAuthenticated))),
            frame(msturn::TcpFrameType::kControl, Unhex(vectors::kAllocateSuccess)));
  EXPECT_EQ(Send(flow, frame(msturn::TcpFrameType::kControl,
                             Unhex(vectors::kSetActiveDestinationRequest))),
            frame(msturn::TcpFrameType::kControl, Unhex(vectors::kSetActiveDestinationSuccess)));
  ASSERT_EQ(io_.open.size(), 1u);

  // The captured end-to-end data frame: its payload goes to the peer as is.
  const std::string data_frame = Unhex(vectors::kTcpDataFrameFromClient);
  EXPECT_EQ(Send(flow, data_frame), "");
  ASSERT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(io_.to_peer[0].payload, data_frame.substr(4));
  EXPECT_EQ(io_.to_peer[0].peer, Peer());

  // Peer data: from the active destination in a data frame, from another port in a control
  // frame holding a Data indication.
  worker_->OnPeerPacket(io_.open[0], Peer(), "from the peer");
  EXPECT_EQ(io_.TakeClientMessage(), frame(msturn::TcpFrameType::kData, "from the peer"));
  worker_->OnPeerPacket(io_.open[0], Loopback(40000), "early");
  const std::string indication_frame = io_.TakeClientMessage();
  control = msturn::ParseTcpFrame(indication_frame);
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->type, msturn::TcpFrameType::kControl);
  EXPECT_EQ(control->frame_bytes, indication_frame.size());
  absl::StatusOr<MsTurnMessage> indication = MsTurnMessage::Parse(control->payload);
  ASSERT_TRUE(indication.ok());
  absl::StatusOr<msturn::DataIndication> data = msturn::ReadDataIndication(*indication);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->remote, Loopback(40000));
  EXPECT_EQ(data->data, "early");

  // Truncated or over-long frames are not cut by the worker: discarded.
  EXPECT_EQ(Send(flow, data_frame.substr(0, data_frame.size() - 1)), "");
  EXPECT_EQ(Send(flow, data_frame + "x"), "");
  EXPECT_EQ(io_.to_peer.size(), 1u);
  EXPECT_EQ(worker_->stats().malformed, 2u);

  // The connection's end ends the allocation.
  worker_->OnClientClosed(flow);
  EXPECT_EQ(worker_->allocation_count(), 0u);
  EXPECT_EQ(io_.closed.size(), 1u);
}

TEST_F(MsTurnRelayTest, UnauthenticatedAnswersStayWithinTheAmplificationBudget) {
  // The 401 is larger than the 36-byte Allocate: a spoofed source gets a bounded amount.
  const ClientFlow flow = Udp();
  const std::string request = Unhex(vectors::kAllocateRequest);
  const size_t excess = Send(flow, request).size() - request.size();
  ASSERT_GT(excess, 0u);
  const size_t expected = options_.amplification_budget_bytes / excess;
  const size_t attempts = expected + 10;
  size_t answered = 1;
  for (size_t i = 1; i < attempts; ++i) {
    if (!Send(flow, request).empty()) ++answered;
  }
  EXPECT_EQ(answered, expected);
  EXPECT_EQ(worker_->stats().amplification_drops, attempts - answered);
  // The next window has a budget again.
  Advance(std::chrono::seconds(options_.amplification_window_s));
  EXPECT_FALSE(Send(flow, request).empty());
}

}  // namespace
}  // namespace causeway::turn
