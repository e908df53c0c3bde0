#include "media/turn/turn_server.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "media/msturn/msturn_message.h"
#include "media/turn/turn_allocation.h"

namespace causeway::turn {

using internal::GrantedLifetime;
using internal::IpOnly;
using internal::Seconds;
using stun::StunClass;
using stun::StunMessage;
using stun::StunMessageBuilder;
namespace attr = stun::attr;
namespace method = stun::method;

std::string_view ClientTransportName(ClientTransport transport) {
  switch (transport) {
    case ClientTransport::kUdp:
      return "udp";
    case ClientTransport::kTcp:
      return "tcp";
    case ClientTransport::kTls:
      return "tls";
  }
  return "udp";
}

// --- TurnShared ------------------------------------------------------------------------------

namespace {

constexpr size_t kNonceMacBytes = 8;
constexpr size_t kNonceChars = 8 + 2 * kNonceMacBytes;  // hex expiry + hex MAC

void NonceMac(const std::array<uint8_t, 32>& key, uint32_t expiry, const NetAddress& client,
              unsigned char out[EVP_MAX_MD_SIZE]) {
  unsigned char input[4 + 16 + 1];
  input[0] = static_cast<unsigned char>(expiry >> 24);
  input[1] = static_cast<unsigned char>(expiry >> 16);
  input[2] = static_cast<unsigned char>(expiry >> 8);
  input[3] = static_cast<unsigned char>(expiry);
  std::memcpy(input + 4, client.bytes().data(), 16);
  input[20] = client.is_v6() ? 6 : 4;
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), input, sizeof(input), out, &length);
}

}  // namespace

TurnShared::TurnShared(TurnOptions options, Credentials credentials, PeerPolicy policy)
    : options_(std::move(options)),
      credentials_(std::move(credentials)),
      policy_(std::move(policy)),
      epoch_() {
  if (RAND_bytes(nonce_key_.data(), static_cast<int>(nonce_key_.size())) != 1) {
    // Without a random key nonces would be forgeable; a fixed process start time is the fallback
    // of last resort and is never expected on a system with a working RNG.
    const auto seed =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::memcpy(nonce_key_.data(), &seed, sizeof(seed));
  }
}

std::string TurnShared::IpKey(const NetAddress& address) { return IpOnly(address).HostString(); }

std::string TurnShared::MakeNonce(const NetAddress& client, TimePoint now) const {
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - epoch_).count();
  const uint32_t expiry = static_cast<uint32_t>(std::max<int64_t>(age, 0)) +
                          options_.nonce_lifetime_s;
  unsigned char mac[EVP_MAX_MD_SIZE];
  NonceMac(nonce_key_, expiry, client, mac);
  char expiry_bytes[4] = {static_cast<char>(expiry >> 24), static_cast<char>(expiry >> 16),
                          static_cast<char>(expiry >> 8), static_cast<char>(expiry)};
  return absl::StrCat(absl::BytesToHexString(absl::string_view(expiry_bytes, 4)),
                      absl::BytesToHexString(
                          absl::string_view(reinterpret_cast<const char*>(mac), kNonceMacBytes)));
}

TurnShared::NonceCheck TurnShared::CheckNonce(std::string_view nonce, const NetAddress& client,
                                              TimePoint now) const {
  if (!test_nonce_.empty() && nonce == test_nonce_) return NonceCheck::kValid;
  if (nonce.size() != kNonceChars) return NonceCheck::kInvalid;
  for (char c : nonce) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return NonceCheck::kInvalid;
  }
  const std::string raw = absl::HexStringToBytes(ToAbsl(nonce));
  const uint32_t expiry = (uint32_t{static_cast<uint8_t>(raw[0])} << 24) |
                          (uint32_t{static_cast<uint8_t>(raw[1])} << 16) |
                          (uint32_t{static_cast<uint8_t>(raw[2])} << 8) |
                          uint32_t{static_cast<uint8_t>(raw[3])};
  unsigned char mac[EVP_MAX_MD_SIZE];
  NonceMac(nonce_key_, expiry, client, mac);
  if (CRYPTO_memcmp(mac, raw.data() + 4, kNonceMacBytes) != 0) return NonceCheck::kInvalid;
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - epoch_).count();
  return age > static_cast<int64_t>(expiry) ? NonceCheck::kStale : NonceCheck::kValid;
}

absl::Status TurnShared::ReserveAllocation(std::string_view user, const NetAddress& client,
                                           int* error_code) {
  std::lock_guard<std::mutex> lock(quota_mutex_);
  if (total_.load(std::memory_order_relaxed) >= options_.max_allocations) {
    *error_code = 508;
    return absl::ResourceExhaustedError("relay at capacity");
  }
  uint32_t& by_user = per_user_[ToAbsl(user)];
  uint32_t& by_ip = per_ip_[IpKey(client)];
  if (by_user >= options_.max_allocations_per_user || by_ip >= options_.max_allocations_per_ip) {
    // Undo the map entries operator[] may just have created.
    if (by_user == 0) per_user_.erase(ToAbsl(user));
    if (by_ip == 0) per_ip_.erase(IpKey(client));
    *error_code = 486;
    return absl::ResourceExhaustedError("allocation quota reached");
  }
  ++by_user;
  ++by_ip;
  total_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

bool TurnShared::AddHeldPort(uint64_t token, int held, const NetAddress& address) {
  std::lock_guard<std::mutex> lock(held_mutex_);
  return held_ports_.try_emplace(token, HeldPort{held, address}).second;
}

std::optional<TurnShared::HeldPort> TurnShared::TakeHeldPort(uint64_t token) {
  std::lock_guard<std::mutex> lock(held_mutex_);
  auto it = held_ports_.find(token);
  if (it == held_ports_.end()) return std::nullopt;
  HeldPort port = it->second;
  held_ports_.erase(it);
  return port;
}

void TurnShared::ReleaseAllocation(std::string_view user, const NetAddress& client) {
  std::lock_guard<std::mutex> lock(quota_mutex_);
  if (auto it = per_user_.find(ToAbsl(user)); it != per_user_.end() && --it->second == 0) {
    per_user_.erase(it);
  }
  if (auto it = per_ip_.find(IpKey(client)); it != per_ip_.end() && --it->second == 0) {
    per_ip_.erase(it);
  }
  total_.fetch_sub(1, std::memory_order_relaxed);
}

// --- TurnWorker ------------------------------------------------------------------------------

struct TurnWorker::Request {
  Request(const ClientFlow& f, const StunMessage& m) : flow(f), message(m) {}
  const ClientFlow& flow;
  const StunMessage& message;
  std::string username;
  std::string key;  // long-term key once authenticated
  bool authenticated = false;
  bool sha256 = false;  // the client used MESSAGE-INTEGRITY-SHA256: answer with it
  bool fingerprint = false;
};

TurnWorker::TurnWorker(TurnShared& shared, RelayIo& io, TimerWheel& wheel, const Clock& clock,
                       absl::Time wall_at_start)
    : shared_(shared),
      io_(io),
      wheel_(wheel),
      clock_(clock),
      wall_at_start_(wall_at_start),
      steady_at_start_(clock.Now()),
      amplification_(4096) {
  uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) != 1) {
    seed = static_cast<uint64_t>(steady_at_start_.time_since_epoch().count());
  }
  rng_state_ = seed | 1;
  scratch_.reserve(stun::kMaxMessageBytesHardCap + 8);
}

TurnWorker::~TurnWorker() { Shutdown(); }

absl::Time TurnWorker::WallNow() const {
  return wall_at_start_ + absl::FromChrono(clock_.Now() - steady_at_start_);
}

void TurnWorker::NewTransactionId(stun::TransactionId& id) {
  // splitmix64: indication transaction ids need to be unique, not secret (RFC 8489 §5).
  for (size_t i = 0; i < id.size(); i += 8) {
    uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(id.data() + i, &z, std::min<size_t>(8, id.size() - i));
  }
}

void TurnWorker::OnClientMessage(const ClientFlow& flow, std::string_view bytes) {
  if (flow.transport == ClientTransport::kUdp) {
    if (msturn::LooksLikeMsTurn(bytes)) {
      HandleMsTurn(flow, bytes);
      return;
    }
    // On an MS-TURN allocation's 5-tuple everything but its control messages is media for the
    // active destination, RFC 8489 STUN (the client's ICE checks) and ChannelData look-alikes
    // included. Workers without MS-TURN allocations skip the lookup.
    if (ms_allocations_ > 0) {
      if (auto it = by_flow_.find(flow);
          it != by_flow_.end() && it->second->dialect == RelayDialect::kMsTurn) {
        RelayRawFromClient(*it->second, bytes);
        return;
      }
    }
  } else if (!bytes.empty() && (bytes[0] == static_cast<char>(msturn::TcpFrameType::kControl) ||
                                bytes[0] == static_cast<char>(msturn::TcpFrameType::kData))) {
    // [MS-TURN] 2.1.4 frame: RFC 8656 streams start with 0x00/0x01 (STUN) or 0x40..0x7F.
    HandleMsTurnFrame(flow, bytes);
    return;
  }
  if (stun::LooksLikeChannelData(bytes)) {
    HandleChannelData(flow, bytes);
  } else if (stun::LooksLikeStun(bytes)) {
    HandleStun(flow, bytes);
  } else {
    ++stats_.malformed;
  }
}

void TurnWorker::HandleChannelData(const ClientFlow& flow, std::string_view bytes) {
  const stun::Framing framing =
      flow.transport == ClientTransport::kUdp ? stun::Framing::kDatagram : stun::Framing::kStream;
  absl::StatusOr<stun::ChannelData> data = stun::ParseChannelData(bytes, framing);
  if (!data.ok()) {
    ++stats_.malformed;
    return;
  }
  auto it = by_flow_.find(flow);
  if (it == by_flow_.end()) {
    ++stats_.dropped_no_allocation;
    return;
  }
  Allocation& allocation = *it->second;
  auto channel = allocation.channels.find(data->channel);
  const TimePoint now = clock_.Now();
  // Unbound, expired (quarantined) or permission gone: silently discarded (§12.6).
  if (channel == allocation.channels.end() || channel->second.expires <= now ||
      !HasPermission(allocation, channel->second.peer, now)) {
    ++stats_.dropped_no_permission;
    return;
  }
  ++stats_.to_peer_packets;
  stats_.to_peer_bytes += data->data.size();
  io_.SendToPeer(allocation.relay, channel->second.peer, data->data);
}

void TurnWorker::HandleStun(const ClientFlow& flow, std::string_view bytes) {
  stun::StunLimits limits;
  limits.max_message_bytes = stun::kMaxMessageBytesHardCap;
  absl::StatusOr<StunMessage> message = StunMessage::Parse(bytes, limits);
  if (!message.ok()) {
    ++stats_.malformed;
    return;
  }
  // A FINGERPRINT that does not match means this is not STUN after all (RFC 8489 §7.3).
  if (absl::Status fp = stun::VerifyFingerprint(*message); !fp.ok() && !absl::IsNotFound(fp)) {
    ++stats_.malformed;
    return;
  }
  const StunClass stun_class = message->stun_class();
  const uint16_t m = message->method();
  if (stun_class == StunClass::kIndication) {
    if (m == method::kSend) HandleSendIndication(flow, *message);
    return;  // Binding indications are keep-alives; other indications are ignored
  }
  if (stun_class != StunClass::kRequest) {
    ++stats_.malformed;  // the relay sends no requests, so it expects no responses
    return;
  }
  if (m == method::kBinding) {
    HandleBinding(flow, *message);
    return;
  }
  Request request(flow, *message);
  request.fingerprint = message->Find(attr::kFingerprint) != nullptr;
  switch (m) {
    case method::kAllocate:
    case method::kRefresh:
    case method::kCreatePermission:
    case method::kChannelBind:
      ++stats_.requests;
      HandleAuthenticated(request);
      return;
    default:
      ++stats_.bad_requests;
      SendError(request, 400, "Bad Request");  // unknown method (RFC 8489 §6.3.1)
      return;
  }
}

void TurnWorker::HandleBinding(const ClientFlow& flow, const StunMessage& message) {
  ++stats_.binding_requests;
  if (!message.unknown_required().empty()) {
    Request request(flow, message);
    request.fingerprint = message.Find(attr::kFingerprint) != nullptr;
    StunMessageBuilder builder(method::kBinding, StunClass::kError, message.transaction_id());
    builder.AddErrorCode(420, "Unknown Attribute");
    builder.AddUnknownAttributes(std::vector<uint16_t>(message.unknown_required().begin(),
                                                       message.unknown_required().end()));
    if (request.fingerprint) builder.AddFingerprint();
    absl::StatusOr<std::string> out = std::move(builder).Finish();
    if (out.ok()) io_.SendToClient(flow, *out);
    ++stats_.bad_requests;
    return;
  }
  // No SOFTWARE: the answer to an unauthenticated request stays as small as it can.
  StunMessageBuilder builder(method::kBinding, StunClass::kSuccess, message.transaction_id(),
                             std::move(scratch_));
  builder.AddXorAddress(attr::kXorMappedAddress, flow.client);
  if (message.Find(attr::kFingerprint) != nullptr) builder.AddFingerprint();
  absl::StatusOr<std::string> out = std::move(builder).Finish();
  if (!out.ok()) return;
  scratch_ = *std::move(out);
  if (flow.transport == ClientTransport::kUdp &&
      !WithinAmplificationBudget(flow, message.bytes().size(), scratch_.size())) {
    return;
  }
  io_.SendToClient(flow, scratch_);
}

bool TurnWorker::WithinAmplificationBudget(const ClientFlow& flow, size_t request_bytes,
                                           size_t answer_bytes) {
  if (answer_bytes <= request_bytes) return true;
  const size_t index = absl::Hash<NetAddress>{}(IpOnly(flow.client)) % amplification_.size();
  AmplificationBucket& bucket = amplification_[index];
  const TimePoint now = clock_.Now();
  if (now - bucket.window_start >= Seconds(shared_.options().amplification_window_s)) {
    bucket.window_start = now;
    bucket.excess = 0;
  }
  const uint32_t excess = static_cast<uint32_t>(answer_bytes - request_bytes);
  if (bucket.excess + excess > shared_.options().amplification_budget_bytes) {
    ++stats_.amplification_drops;
    return false;
  }
  bucket.excess += excess;
  return true;
}

void TurnWorker::HandleSendIndication(const ClientFlow& flow, const StunMessage& message) {
  auto it = by_flow_.find(flow);
  if (it == by_flow_.end()) {
    ++stats_.dropped_no_allocation;
    return;
  }
  if (it->second->dialect != RelayDialect::kRfc8656) {
    ++stats_.dialect_mismatches;
    return;
  }
  Allocation& allocation = *it->second;
  const std::optional<std::string_view> peer_value = message.FindValue(attr::kXorPeerAddress);
  const std::optional<std::string_view> data = message.FindValue(attr::kData);
  if (!peer_value || !data) {
    ++stats_.malformed;
    return;
  }
  absl::StatusOr<NetAddress> peer = stun::ReadXorAddress(*peer_value, message.transaction_id());
  if (!peer.ok()) {
    ++stats_.malformed;
    return;
  }
  if (!HasPermission(allocation, *peer, clock_.Now())) {
    ++stats_.dropped_no_permission;
    return;
  }
  ++stats_.to_peer_packets;
  stats_.to_peer_bytes += data->size();
  io_.SendToPeer(allocation.relay, *peer, *data);
}

void TurnWorker::OnPeerPacket(RelayId relay, const NetAddress& peer, std::string_view payload) {
  Allocation* allocation = FindByRelay(relay);
  if (allocation == nullptr) return;  // closed while the datagram was queued
  const TimePoint now = clock_.Now();
  if (!HasPermission(*allocation, peer, now)) {
    ++stats_.dropped_no_permission;
    return;
  }
  ++stats_.from_peer_packets;
  stats_.from_peer_bytes += payload.size();
  if (allocation->dialect == RelayDialect::kMsTurn) {
    SendMsPeerPacket(*allocation, peer, payload);
    return;
  }
  const bool udp = allocation->flow.transport == ClientTransport::kUdp;
  if (auto bound = allocation->channel_by_peer.find(peer);
      bound != allocation->channel_by_peer.end()) {
    if (auto channel = allocation->channels.find(bound->second);
        channel != allocation->channels.end() && channel->second.expires > now) {
      scratch_.clear();
      stun::AppendChannelData(bound->second, payload,
                              udp ? stun::Framing::kDatagram : stun::Framing::kStream, scratch_);
      io_.SendToClient(allocation->flow, scratch_);
      return;
    }
  }
  stun::TransactionId id;
  NewTransactionId(id);
  StunMessageBuilder builder(method::kData, StunClass::kIndication, id, std::move(scratch_));
  builder.AddXorAddress(attr::kXorPeerAddress, peer);
  builder.AddAttribute(attr::kData, payload);
  absl::StatusOr<std::string> out = std::move(builder).Finish();
  if (!out.ok()) {
    scratch_.clear();
    return;  // a datagram too large for a Data indication (> 64 KiB) cannot be relayed
  }
  scratch_ = *std::move(out);
  io_.SendToClient(allocation->flow, scratch_);
}

void TurnWorker::OnClientClosed(const ClientFlow& flow) {
  auto it = by_flow_.find(flow);
  if (it != by_flow_.end()) DeleteAllocation(*it->second, /*expired=*/false);
}

void TurnWorker::Shutdown() {
  while (!by_flow_.empty()) DeleteAllocation(*by_flow_.begin()->second, /*expired=*/false);
  while (!reservations_.empty()) DropReservation(reservations_.begin()->first);
}

// --- Authentication (RFC 8489 §9.2.4) ---------------------------------------------------------

bool TurnWorker::Authenticate(Request& request) {
  const StunMessage& message = request.message;
  const stun::StunAttribute* sha1 = message.Find(attr::kMessageIntegrity);
  const stun::StunAttribute* sha256 = message.Find(attr::kMessageIntegritySha256);
  if (sha1 == nullptr && sha256 == nullptr) {
    ++stats_.challenges;
    SendChallenge(request, 401, "Unauthorized");
    return false;
  }
  const std::optional<std::string_view> username = message.FindValue(attr::kUsername);
  const std::optional<std::string_view> realm = message.FindValue(attr::kRealm);
  const std::optional<std::string_view> nonce = message.FindValue(attr::kNonce);
  if (!username || !realm || !nonce || !stun::ReadText(attr::kUsername, *username).ok()) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return false;
  }
  const TimePoint now = clock_.Now();
  if (shared_.CheckNonce(*nonce, request.flow.client, now) != TurnShared::NonceCheck::kValid) {
    ++stats_.stale_nonces;
    SendChallenge(request, 438, "Stale Nonce");
    return false;
  }
  if (*realm != shared_.credentials().realm()) {
    ++stats_.auth_failures;
    SendChallenge(request, 401, "Unauthorized");
    return false;
  }
  absl::StatusOr<std::string> key = shared_.credentials().KeyFor(*username, WallNow());
  if (!key.ok()) {
    ++stats_.auth_failures;
    SendChallenge(request, 401, "Unauthorized");
    return false;
  }
  // When both are present the SHA-256 one decides, and the answer uses it (§14.6).
  const absl::Status verified = sha256 != nullptr
                                    ? stun::VerifyMessageIntegritySha256(message, *key)
                                    : stun::VerifyMessageIntegrity(message, *key);
  if (!verified.ok()) {
    ++stats_.auth_failures;
    SendChallenge(request, 401, "Unauthorized");
    return false;
  }
  request.username = std::string(*username);
  request.key = *std::move(key);
  request.sha256 = sha256 != nullptr;
  request.authenticated = true;
  return true;
}

void TurnWorker::SendChallenge(Request& request, int code, std::string_view reason) {
  StunMessageBuilder builder(request.message.method(), StunClass::kError,
                             request.message.transaction_id());
  builder.AddErrorCode(code, reason);
  builder.AddAttribute(attr::kRealm, shared_.credentials().realm());
  builder.AddAttribute(attr::kNonce, shared_.MakeNonce(request.flow.client, clock_.Now()));
  if (request.fingerprint) builder.AddFingerprint();
  absl::StatusOr<std::string> out = std::move(builder).Finish();
  if (!out.ok()) return;
  if (request.flow.transport == ClientTransport::kUdp &&
      !WithinAmplificationBudget(request.flow, request.message.bytes().size(), out->size())) {
    return;
  }
  io_.SendToClient(request.flow, *out);
}

void TurnWorker::SendError(Request& request, int code, std::string_view reason) {
  StunMessageBuilder builder(request.message.method(), StunClass::kError,
                             request.message.transaction_id());
  builder.AddErrorCode(code, reason);
  if (request.authenticated) {
    if (!shared_.options().software.empty()) {
      builder.AddAttribute(attr::kSoftware, shared_.options().software);
    }
    if (request.sha256) {
      builder.AddMessageIntegritySha256(request.key);
    } else {
      builder.AddMessageIntegrity(request.key);
    }
    builder.AddFingerprint();
  } else if (request.fingerprint) {
    builder.AddFingerprint();
  }
  absl::StatusOr<std::string> out = std::move(builder).Finish();
  if (!out.ok()) return;
  if (!request.authenticated && request.flow.transport == ClientTransport::kUdp &&
      !WithinAmplificationBudget(request.flow, request.message.bytes().size(), out->size())) {
    return;
  }
  io_.SendToClient(request.flow, *out);
}

absl::StatusOr<std::string> TurnWorker::FinishSigned(Request& request,
                                                     StunMessageBuilder& builder) {
  if (!shared_.options().software.empty()) {
    builder.AddAttribute(attr::kSoftware, shared_.options().software);
  }
  if (request.sha256) {
    builder.AddMessageIntegritySha256(request.key);
  } else {
    builder.AddMessageIntegrity(request.key);
  }
  builder.AddFingerprint();
  return std::move(builder).Finish();
}

void TurnWorker::SendSigned(Request& request, StunMessageBuilder& builder) {
  absl::StatusOr<std::string> out = FinishSigned(request, builder);
  if (out.ok()) io_.SendToClient(request.flow, *out);
}


// --- Requests ----------------------------------------------------------------------------------

void TurnWorker::HandleAuthenticated(Request& request) {
  if (!Authenticate(request)) return;
  const StunMessage& message = request.message;
  if (!message.unknown_required().empty()) {
    StunMessageBuilder builder(message.method(), StunClass::kError, message.transaction_id());
    builder.AddErrorCode(420, "Unknown Attribute");
    builder.AddUnknownAttributes(std::vector<uint16_t>(message.unknown_required().begin(),
                                                       message.unknown_required().end()));
    ++stats_.bad_requests;
    SendSigned(request, builder);
    return;
  }
  auto it = by_flow_.find(request.flow);
  if (it != by_flow_.end() && it->second->dialect != RelayDialect::kRfc8656) {
    ++stats_.dialect_mismatches;  // an RFC 8656 request on an MS-TURN stream's connection
    SendError(request, 437, "Allocation Mismatch");
    return;
  }
  if (message.method() == method::kAllocate) {
    if (it != by_flow_.end()) {
      Allocation& existing = *it->second;
      if (existing.allocate_transaction == message.transaction_id()) {
        io_.SendToClient(request.flow, existing.allocate_response);  // retransmission
        return;
      }
      ++stats_.mismatches;
      SendError(request, 437, "Allocation Mismatch");
      return;
    }
    HandleAllocate(request);
    return;
  }
  if (it == by_flow_.end()) {
    ++stats_.mismatches;
    SendError(request, 437, "Allocation Mismatch");
    return;
  }
  Allocation& allocation = *it->second;
  // Only the user who made the allocation may change it (§9.2.4 / §7).
  if (Credentials::UserOf(request.username) != allocation.user) {
    ++stats_.auth_failures;
    SendError(request, 441, "Wrong Credentials");
    return;
  }
  switch (message.method()) {
    case method::kRefresh:
      HandleRefresh(request, allocation);
      return;
    case method::kCreatePermission:
      HandleCreatePermission(request, allocation);
      return;
    case method::kChannelBind:
      HandleChannelBind(request, allocation);
      return;
    default:
      return;
  }
}

void TurnWorker::HandleAllocate(Request& request) {
  const StunMessage& message = request.message;
  const std::optional<std::string_view> transport = message.FindValue(attr::kRequestedTransport);
  if (!transport) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }
  absl::StatusOr<uint8_t> protocol = stun::ReadRequestedTransport(*transport);
  if (!protocol.ok()) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }
  if (*protocol != 17) {
    ++stats_.bad_requests;
    SendError(request, 442, "Unsupported Transport Protocol");
    return;
  }
  const std::optional<std::string_view> even_port = message.FindValue(attr::kEvenPort);
  const std::optional<std::string_view> token = message.FindValue(attr::kReservationToken);
  const std::optional<std::string_view> family = message.FindValue(attr::kRequestedAddressFamily);
  const std::optional<std::string_view> additional =
      message.FindValue(attr::kAdditionalAddressFamily);
  if ((token && (even_port || family)) || (family && additional) ||
      (even_port && even_port->size() != 1)) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }
  // R bit: reserve the port above the even one (RTP/RTCP pairs); a token claims such a port,
  // and an unknown or expired one gets 508 (§7.2).
  const bool reserve_next =
      even_port && (static_cast<uint8_t>((*even_port)[0]) & 0x80) != 0;
  std::optional<Reservation> claimed;
  if (token) {
    claimed = ClaimReservation(*token);
    if (!claimed) {
      ++stats_.capacity_rejections;
      SendError(request, 508, "Insufficient Capacity");
      return;
    }
  }
  bool v6 = request.flow.client.is_v6();
  if (family) {
    if (family->size() != 4 || ((*family)[0] != 0x01 && (*family)[0] != 0x02)) {
      ++stats_.bad_requests;
      SendError(request, 440, "Address Family not Supported");
      return;
    }
    v6 = (*family)[0] == 0x02;
  } else {
    v6 = claimed ? claimed->address.is_v6() : false;  // §7.2: IPv4 unless the client asks
  }
  if (additional && (additional->size() != 4 || (*additional)[0] != 0x02)) {
    if (claimed) io_.ReleaseHeld(claimed->held);
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }

  const std::string user(Credentials::UserOf(request.username));
  int error_code = 0;
  uint64_t new_token = 0;
  Allocation* created =
      CreateAllocation(request.flow, request.username, user, v6, even_port.has_value(),
                       &error_code, reserve_next, &new_token, claimed ? &*claimed : nullptr);
  if (created == nullptr) {
    switch (error_code) {
      case 486:
        SendError(request, 486, "Allocation Quota Reached");
        return;
      case 440:
        SendError(request, 440, "Address Family not Supported");
        return;
      default:
        SendError(request, 508, "Insufficient Capacity");
        return;
    }
  }
  Allocation& stored = *created;
  stored.allocate_transaction = message.transaction_id();
  std::optional<uint32_t> requested;
  if (auto lifetime = message.FindValue(attr::kLifetime)) {
    if (absl::StatusOr<uint32_t> value = stun::ReadUint32(*lifetime); value.ok()) {
      requested = *value;
    }
  }
  const uint32_t lifetime = GrantedLifetime(shared_.options(), requested);
  stored.expires = clock_.Now() + Seconds(lifetime);
  ScheduleExpiry(stored);

  StunMessageBuilder builder(method::kAllocate, StunClass::kSuccess, message.transaction_id());
  builder.AddXorAddress(attr::kXorRelayedAddress, stored.relayed);
  builder.AddUint32(attr::kLifetime, lifetime);
  builder.AddXorAddress(attr::kXorMappedAddress, request.flow.client);
  if (reserve_next) {
    char token_bytes[8];
    for (int i = 0; i < 8; ++i) token_bytes[i] = static_cast<char>(new_token >> (56 - 8 * i));
    builder.AddAttribute(attr::kReservationToken, std::string_view(token_bytes, 8));
  }
  if (additional) {
    // One relayed address per allocation here: the IPv6 half of a dual allocation is refused.
    std::string address_error;
    address_error.push_back(0x02);  // family
    address_error.push_back(0);
    address_error.push_back(4);   // class 4
    address_error.push_back(40);  // 440
    address_error.append("Address Family not Supported");
    builder.AddAttribute(attr::kAddressErrorCode, address_error);
  }
  absl::StatusOr<std::string> out = FinishSigned(request, builder);
  if (!out.ok()) return;
  stored.allocate_response = *std::move(out);
  io_.SendToClient(request.flow, stored.allocate_response);
}

bool TurnWorker::TakeSlot(uint32_t* slot) {
  if (!free_slots_.empty()) {
    *slot = free_slots_.back();
    free_slots_.pop_back();
    return true;
  }
  if (slots_.size() >= (1u << kSlotBits)) return false;
  *slot = static_cast<uint32_t>(slots_.size());
  slots_.emplace_back();
  generations_.push_back(0);
  return true;
}

void TurnWorker::ReturnSlot(uint32_t slot) {
  generations_[slot] = (generations_[slot] + 1) & ((1u << (32 - kSlotBits)) - 1);
  free_slots_.push_back(slot);
}

bool TurnWorker::ReservePort(const NetAddress& address, uint64_t* token) {
  absl::StatusOr<int> held = io_.HoldPort(address);
  if (!held.ok()) return false;
  uint64_t value = 0;
  // Unguessable: whoever holds the token may claim the port.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof(value)) != 1 || value == 0 ||
      !shared_.AddHeldPort(value, *held, address)) {
    io_.ReleaseHeld(*held);
    return false;
  }
  reservations_[value] = wheel_.Schedule(std::chrono::seconds(30), [this, value] {
    reservations_.erase(value);
    if (std::optional<TurnShared::HeldPort> port = shared_.TakeHeldPort(value)) {
      io_.ReleaseHeld(port->held);
    }
  });
  if (on_timers_changed_) on_timers_changed_();
  *token = value;
  return true;
}

std::optional<TurnWorker::Reservation> TurnWorker::ClaimReservation(std::string_view token) {
  if (token.size() != 8) return std::nullopt;
  uint64_t value = 0;
  for (char c : token) value = (value << 8) | static_cast<uint8_t>(c);
  std::optional<TurnShared::HeldPort> port = shared_.TakeHeldPort(value);
  if (!port) return std::nullopt;
  // The reserving worker's timer (maybe this one's) later finds nothing to release.
  return Reservation{port->held, port->address};
}

void TurnWorker::DropReservation(uint64_t token) {
  auto it = reservations_.find(token);
  if (it == reservations_.end()) return;
  wheel_.Cancel(it->second);
  reservations_.erase(it);
  if (std::optional<TurnShared::HeldPort> port = shared_.TakeHeldPort(token)) {
    io_.ReleaseHeld(port->held);
  }
}

TurnWorker::Allocation* TurnWorker::CreateAllocation(const ClientFlow& flow,
                                                     std::string_view username,
                                                     const std::string& user, bool v6,
                                                     bool even_port, int* error_code,
                                                     bool reserve_next, uint64_t* token,
                                                     const Reservation* claimed) {
  auto release_claimed = [&] {
    if (claimed != nullptr) io_.ReleaseHeld(claimed->held);
  };
  if (!shared_.ReserveAllocation(user, flow.client, error_code).ok()) {
    ++(*error_code == 486 ? stats_.quota_rejections : stats_.capacity_rejections);
    release_claimed();
    return nullptr;
  }
  // A slot, then the relayed socket for it (or the reserved one, slot and socket both held).
  uint32_t slot = 0;
  bool have_slot = true;
  RelayId relay = 0;
  absl::StatusOr<NetAddress> relayed = absl::UnavailableError("not opened");
  if (claimed != nullptr) {
    if (!TakeSlot(&slot)) {
      release_claimed();
      shared_.ReleaseAllocation(user, flow.client);
      ++stats_.capacity_rejections;
      *error_code = 508;
      return nullptr;
    }
    relay = slot | (generations_[slot] << kSlotBits);
    relayed = io_.AdoptRelay(relay, claimed->held);  // takes the descriptor in every case
  } else {
    if (!TakeSlot(&slot)) {
      shared_.ReleaseAllocation(user, flow.client);
      ++stats_.capacity_rejections;
      *error_code = 508;
      return nullptr;
    }
    relay = slot | (generations_[slot] << kSlotBits);
    // With R, an even port whose neighbour is free too: a few tries, each on a fresh port.
    for (int attempt = 0; attempt < (reserve_next ? 8 : 1); ++attempt) {
      relayed = io_.OpenRelay(relay, v6, even_port);
      if (!relayed.ok() || !reserve_next) break;
      NetAddress next = *relayed;
      next.set_port(static_cast<uint16_t>(relayed->port() + 1));
      if (relayed->port() < 0xFFFF && ReservePort(next, token)) break;
      io_.CloseRelay(relay);
      ReturnSlot(slot);
      relayed = absl::ResourceExhaustedError("no even port with a free neighbour");
      if (!TakeSlot(&slot)) {
        have_slot = false;
        break;
      }
      relay = slot | (generations_[slot] << kSlotBits);
    }
  }
  if (!relayed.ok()) {
    if (have_slot) free_slots_.push_back(slot);  // its current id never reached io
    shared_.ReleaseAllocation(user, flow.client);
    if (absl::IsResourceExhausted(relayed.status())) {
      ++stats_.capacity_rejections;
      *error_code = 508;
    } else {
      ++stats_.bad_requests;  // no relay address of that family
      *error_code = 440;
    }
    return nullptr;
  }
  auto allocation = std::make_unique<Allocation>();
  allocation->relay = relay;
  allocation->flow = flow;
  allocation->relayed = *relayed;
  allocation->username = std::string(username);
  allocation->user = user;
  Allocation& stored = *allocation;
  slots_[slot] = std::move(allocation);
  by_flow_[flow] = &stored;
  ++stats_.allocations;
  ++stats_.allocations_created;
  return &stored;
}

void TurnWorker::HandleRefresh(Request& request, Allocation& allocation) {
  const StunMessage& message = request.message;
  if (auto family = message.FindValue(attr::kRequestedAddressFamily)) {
    const bool v6 = family->size() == 4 && (*family)[0] == 0x02;
    if (v6 != allocation.relayed.is_v6()) {
      ++stats_.bad_requests;
      SendError(request, 443, "Peer Address Family Mismatch");
      return;
    }
  }
  std::optional<uint32_t> requested;
  if (auto lifetime = message.FindValue(attr::kLifetime)) {
    if (absl::StatusOr<uint32_t> value = stun::ReadUint32(*lifetime); value.ok()) {
      requested = *value;
    }
  }
  StunMessageBuilder builder(method::kRefresh, StunClass::kSuccess, message.transaction_id());
  if (requested && *requested == 0) {
    builder.AddUint32(attr::kLifetime, 0);
    DeleteAllocation(allocation, /*expired=*/false);
    SendSigned(request, builder);
    return;
  }
  const uint32_t lifetime = GrantedLifetime(shared_.options(), requested);
  allocation.expires = clock_.Now() + Seconds(lifetime);
  ScheduleExpiry(allocation);
  builder.AddUint32(attr::kLifetime, lifetime);
  SendSigned(request, builder);
}

void TurnWorker::HandleCreatePermission(Request& request, Allocation& allocation) {
  const StunMessage& message = request.message;
  absl::InlinedVector<NetAddress, 4> peers;
  for (const stun::StunAttribute& attribute : message.attributes()) {
    if (attribute.type != attr::kXorPeerAddress) continue;
    absl::StatusOr<NetAddress> peer =
        stun::ReadXorAddress(attribute.value, message.transaction_id());
    if (!peer.ok()) {
      ++stats_.bad_requests;
      SendError(request, 400, "Bad Request");
      return;
    }
    peers.push_back(*peer);
  }
  if (peers.empty()) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }
  // All or nothing (§9.2): check every peer before installing any.
  for (const NetAddress& peer : peers) {
    if (peer.is_v6() != allocation.relayed.is_v6()) {
      ++stats_.bad_requests;
      SendError(request, 443, "Peer Address Family Mismatch");
      return;
    }
    if (!shared_.policy().Allowed(peer)) {
      ++stats_.forbidden_peers;
      SendError(request, 403, "Forbidden");
      return;
    }
  }
  const TimePoint now = clock_.Now();
  for (const NetAddress& peer : peers) {
    if (!InstallPermission(allocation, peer, now)) {
      ++stats_.capacity_rejections;
      SendError(request, 508, "Insufficient Capacity");
      return;
    }
  }
  StunMessageBuilder builder(method::kCreatePermission, StunClass::kSuccess,
                             message.transaction_id());
  SendSigned(request, builder);
}

void TurnWorker::HandleChannelBind(Request& request, Allocation& allocation) {
  const StunMessage& message = request.message;
  const std::optional<std::string_view> number = message.FindValue(attr::kChannelNumber);
  const std::optional<std::string_view> peer_value = message.FindValue(attr::kXorPeerAddress);
  absl::StatusOr<uint16_t> channel =
      number ? stun::ReadChannelNumber(*number) : absl::InvalidArgumentError("missing");
  absl::StatusOr<NetAddress> peer =
      peer_value ? stun::ReadXorAddress(*peer_value, message.transaction_id())
                 : absl::InvalidArgumentError("missing");
  if (!channel.ok() || !peer.ok()) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }
  if (peer->is_v6() != allocation.relayed.is_v6()) {
    ++stats_.bad_requests;
    SendError(request, 443, "Peer Address Family Mismatch");
    return;
  }
  if (!shared_.policy().Allowed(*peer)) {
    ++stats_.forbidden_peers;
    SendError(request, 403, "Forbidden");
    return;
  }
  const TimePoint now = clock_.Now();
  const TimePoint quarantine_end_cutoff = now - Seconds(shared_.options().channel_quarantine_s);
  // The number must be free or bound to this same peer, and the peer unbound or bound to this
  // number (§11.2); an expired binding keeps both reserved during its quarantine.
  auto by_number = allocation.channels.find(*channel);
  if (by_number != allocation.channels.end() && by_number->second.peer != *peer &&
      by_number->second.expires > quarantine_end_cutoff) {
    ++stats_.bad_requests;
    SendError(request, 400, "Bad Request");
    return;
  }
  auto by_peer = allocation.channel_by_peer.find(*peer);
  if (by_peer != allocation.channel_by_peer.end() && by_peer->second != *channel) {
    auto other = allocation.channels.find(by_peer->second);
    if (other != allocation.channels.end() && other->second.expires > quarantine_end_cutoff) {
      ++stats_.bad_requests;
      SendError(request, 400, "Bad Request");
      return;
    }
  }
  if (by_number != allocation.channels.end() && by_number->second.peer != *peer) {
    // Quarantine over: the old binding goes.
    allocation.channel_by_peer.erase(by_number->second.peer);
    allocation.channels.erase(by_number);
    --stats_.channels;
  }
  if (by_peer != allocation.channel_by_peer.end() && by_peer->second != *channel) {
    if (allocation.channels.erase(by_peer->second) > 0) --stats_.channels;
    allocation.channel_by_peer.erase(by_peer);
  }
  auto [slot, inserted] = allocation.channels.try_emplace(*channel);
  if (inserted) {
    if (allocation.channels.size() > shared_.options().max_bindings_per_allocation) {
      allocation.channels.erase(slot);
      ++stats_.capacity_rejections;
      SendError(request, 508, "Insufficient Capacity");
      return;
    }
    ++stats_.channels;
  }
  slot->second.peer = *peer;
  slot->second.expires = now + Seconds(shared_.options().channel_lifetime_s);
  allocation.channel_by_peer[*peer] = *channel;
  if (!InstallPermission(allocation, *peer, now)) {
    ++stats_.capacity_rejections;
    SendError(request, 508, "Insufficient Capacity");
    return;
  }
  StunMessageBuilder builder(method::kChannelBind, StunClass::kSuccess, message.transaction_id());
  SendSigned(request, builder);
}

// --- Allocation table --------------------------------------------------------------------------

TurnWorker::Allocation* TurnWorker::FindByRelay(RelayId relay) {
  const uint32_t slot = relay & ((1u << kSlotBits) - 1);
  if (slot >= slots_.size() || slots_[slot] == nullptr || slots_[slot]->relay != relay) {
    return nullptr;
  }
  return slots_[slot].get();
}

void TurnWorker::ScheduleExpiry(Allocation& allocation) {
  if (allocation.expiry_timer != kInvalidTimerId) wheel_.Cancel(allocation.expiry_timer);
  const RelayId relay = allocation.relay;
  allocation.expiry_timer = wheel_.Schedule(allocation.expires - clock_.Now(), [this, relay] {
    Allocation* expired = FindByRelay(relay);
    if (expired == nullptr) return;
    expired->expiry_timer = kInvalidTimerId;
    DeleteAllocation(*expired, /*expired=*/true);
  });
  if (on_timers_changed_) on_timers_changed_();
}

void TurnWorker::DeleteAllocation(Allocation& allocation, bool expired) {
  if (allocation.expiry_timer != kInvalidTimerId) wheel_.Cancel(allocation.expiry_timer);
  io_.CloseRelay(allocation.relay);
  shared_.ReleaseAllocation(allocation.user, allocation.flow.client);
  stats_.permissions -= allocation.permissions.size();
  stats_.channels -= allocation.channels.size();
  --stats_.allocations;
  if (allocation.dialect == RelayDialect::kMsTurn) {
    --ms_allocations_;
    --stats_.msturn_allocations;
  }
  ++(expired ? stats_.allocations_expired : stats_.allocations_deleted);
  by_flow_.erase(allocation.flow);
  const uint32_t slot = allocation.relay & ((1u << kSlotBits) - 1);
  generations_[slot] = (generations_[slot] + 1) & ((1u << (32 - kSlotBits)) - 1);
  slots_[slot].reset();  // `allocation` is gone from here on
  free_slots_.push_back(slot);
}

bool TurnWorker::InstallPermission(Allocation& allocation, const NetAddress& peer,
                                   TimePoint now) {
  const TimePoint expires = now + Seconds(shared_.options().permission_lifetime_s);
  const NetAddress ip = IpOnly(peer);
  if (auto it = allocation.permissions.find(ip); it != allocation.permissions.end()) {
    it->second = expires;
    return true;
  }
  if (allocation.permissions.size() >= shared_.options().max_bindings_per_allocation) {
    // Make room from expired entries first (they are only swept here and on use).
    const size_t before = allocation.permissions.size();
    absl::erase_if(allocation.permissions, [now](const auto& p) { return p.second <= now; });
    stats_.permissions -= before - allocation.permissions.size();
    if (allocation.permissions.size() >= shared_.options().max_bindings_per_allocation) {
      return false;
    }
  }
  allocation.permissions.emplace(ip, expires);
  ++stats_.permissions;
  return true;
}

bool TurnWorker::RefreshPermission(Allocation& allocation, const NetAddress& peer,
                                   TimePoint now) {
  auto it = allocation.permissions.find(IpOnly(peer));
  if (it == allocation.permissions.end()) return false;
  if (it->second > now) {
    it->second = now + Seconds(shared_.options().permission_lifetime_s);
    return true;
  }
  allocation.permissions.erase(it);
  --stats_.permissions;
  return false;
}

bool TurnWorker::HasPermission(Allocation& allocation, const NetAddress& peer, TimePoint now) {
  auto it = allocation.permissions.find(IpOnly(peer));
  if (it == allocation.permissions.end()) return false;
  if (it->second > now) return true;
  allocation.permissions.erase(it);
  --stats_.permissions;
  return false;
}

}  // namespace causeway::turn
