// TurnWorker's MS-TURN handlers ([MS-TURN], draft-rosenberg-midcom-turn-08 as Lync speaks it):
// Allocate (also refresh and release), Send, Set Active Destination, and the data path of an
// MS-TURN allocation. The mapping onto RFC 8656 concepts and the wire facts (captured from
// libnice, the open MS-TURN client) are in media/msturn/README.md.

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "media/msturn/msturn_message.h"
#include "media/turn/turn_allocation.h"
#include "media/turn/turn_server.h"

namespace causeway::turn {

using internal::GrantedLifetime;
using msturn::MsTurnMessage;

namespace {

// Answers carry MS-VERSION min(client's, 2): versions 3+ switch MESSAGE-INTEGRITY to SHA-256 and
// add IPv6, which no capture confirms yet (media/msturn/README.md). None when the client sent none.
std::optional<uint32_t> AnswerVersion(std::optional<uint32_t> client) {
  if (!client) return std::nullopt;
  return std::min<uint32_t>(*client, 2);
}

std::optional<uint32_t> VersionOf(const MsTurnMessage& message) {
  std::optional<std::string_view> value = message.FindValue(msturn::attr::kMsVersion);
  if (!value) return std::nullopt;
  absl::StatusOr<uint32_t> version = stun::ReadUint32(*value);
  if (!version.ok()) return std::nullopt;
  return *version;
}

bool SameConnection(const std::optional<msturn::MsSequenceNumber>& sequence,
                    const std::array<char, 20>& connection_id) {
  return !sequence ||
         sequence->connection_id == std::string_view(connection_id.data(), connection_id.size());
}

// A 420 (or other) error of `type` with UNKNOWN-ATTRIBUTES, signed with `key`.
absl::StatusOr<std::string> EncodeUnknownAttributes(uint16_t type, const MsTurnMessage& request,
                                                    std::optional<uint32_t> version,
                                                    std::string_view key) {
  msturn::MsTurnMessageBuilder builder(type, request.transaction_id());
  builder.AddErrorCode(420, "Unknown Attribute");
  builder.AddUnknownAttributes(request.unknown_required());
  if (version) builder.AddUint32(msturn::attr::kMsVersion, *version);
  builder.AddMessageIntegrity(key);
  return std::move(builder).Finish();
}

}  // namespace

void TurnWorker::NewMsTransactionId(std::array<uint8_t, 16>& id) {
  stun::TransactionId half;
  NewTransactionId(half);
  std::memcpy(id.data(), half.data(), half.size());
  NewTransactionId(half);
  std::memcpy(id.data() + half.size(), half.data(), id.size() - half.size());
}

// --- Receiving ---------------------------------------------------------------------------------

void TurnWorker::HandleMsTurnFrame(const ClientFlow& flow, std::string_view bytes) {
  absl::StatusOr<msturn::TcpFrame> frame = msturn::ParseTcpFrame(bytes);
  if (!frame.ok() || frame->frame_bytes != bytes.size()) {
    ++stats_.malformed;  // io hands over exactly one frame
    return;
  }
  if (frame->type == msturn::TcpFrameType::kControl) {
    if (!msturn::LooksLikeMsTurn(frame->payload)) {
      ++stats_.malformed;
      return;
    }
    HandleMsTurn(flow, frame->payload);
    return;
  }
  auto it = by_flow_.find(flow);
  if (it == by_flow_.end()) {
    ++stats_.dropped_no_allocation;
    return;
  }
  if (it->second->dialect != RelayDialect::kMsTurn) {
    ++stats_.dialect_mismatches;
    return;
  }
  RelayRawFromClient(*it->second, frame->payload);
}

void TurnWorker::HandleMsTurn(const ClientFlow& flow, std::string_view bytes) {
  msturn::MsTurnLimits limits;
  limits.max_message_bytes = msturn::kMaxMessageBytesHardCap;
  absl::StatusOr<MsTurnMessage> message = MsTurnMessage::Parse(bytes, limits);
  if (!message.ok()) {
    ++stats_.malformed;
    return;
  }
  auto it = by_flow_.find(flow);
  Allocation* allocation = it == by_flow_.end() ? nullptr : it->second;
  if (allocation != nullptr && allocation->dialect != RelayDialect::kMsTurn) {
    ++stats_.dialect_mismatches;  // MS-TURN control on an RFC 8656 allocation: dropped
    return;
  }
  switch (message->message_type()) {
    case msturn::type::kAllocateRequest:
      ++stats_.requests;
      HandleMsAllocate(flow, *message, allocation);
      return;
    case msturn::type::kSendRequest:
      ++stats_.msturn_send_requests;
      if (allocation == nullptr) {
        ++stats_.dropped_no_allocation;
        return;
      }
      HandleMsSend(*message, *allocation);
      return;
    case msturn::type::kSetActiveDestinationRequest:
      ++stats_.requests;
      if (allocation == nullptr) {
        ++stats_.dropped_no_allocation;  // nothing to authenticate it against: no answer
        return;
      }
      HandleMsSetActiveDestination(*message, *allocation);
      return;
    default:
      ++stats_.malformed;  // responses, indications, Shared Secret: nothing a relay receives
      return;
  }
}

// --- Allocate ([MS-TURN] 3.3.5.1; also the refresh and, with LIFETIME 0, the release) ----------

void TurnWorker::HandleMsAllocate(const ClientFlow& flow, const MsTurnMessage& message,
                                  Allocation* existing) {
  if (existing != nullptr && !existing->allocate_response.empty() &&
      existing->ms_allocate_transaction == message.transaction_id()) {
    SendMsControl(flow, existing->allocate_response);  // retransmission: the same answer
    return;
  }
  const size_t request_bytes = message.bytes().size();
  const TimePoint now = clock_.Now();
  const std::optional<uint32_t> version = AnswerVersion(VersionOf(message));
  const std::string& realm = shared_.credentials().realm();
  // Unauthenticated errors carry REALM and a fresh NONCE so the client can (re)try, and no
  // MESSAGE-INTEGRITY (3.3.5.1).
  auto challenge = [&](int code, std::string_view reason) {
    const std::string nonce = shared_.MakeNonce(flow.client, now);
    msturn::AllocateChallenge answer;
    answer.code = code;
    answer.reason = reason;
    answer.realm = realm;
    answer.nonce = nonce;
    answer.ms_version = version;
    absl::StatusOr<std::string> out = msturn::EncodeAllocateError(message.transaction_id(), answer);
    if (out.ok()) SendMsUnauthenticated(flow, request_bytes, *out);
  };

  absl::StatusOr<msturn::AllocateRequest> request = msturn::ReadAllocateRequest(message);
  if (!request.ok()) {
    ++stats_.bad_requests;
    challenge(400, "Bad Request");
    return;
  }
  if (!request->has_integrity) {
    ++stats_.challenges;
    challenge(401, "Unauthorized");
    return;
  }
  // draft-rosenberg-midcom-turn-08 codes for what a signed request lacks.
  if (!request->username) {
    ++stats_.bad_requests;
    challenge(432, "Missing Username");
    return;
  }
  if (!request->realm) {
    ++stats_.bad_requests;
    challenge(434, "Missing Realm");
    return;
  }
  if (!request->nonce) {
    ++stats_.bad_requests;
    challenge(435, "Missing Nonce");
    return;
  }
  // Every Allocate carries a nonce. libnice answers a 438 to its first Allocate with a new one
  // carrying the fresh nonce (its probe's --stale-once), but not a 438 to a refresh, which reuses
  // the first nonce: a refresh on the allocation's 5-tuple may keep the nonce that authenticated
  // the allocation (checked then, bound to this client IP; integrity is still verified below).
  const bool own_nonce = existing != nullptr && *request->nonce == existing->nonce;
  if (!own_nonce &&
      shared_.CheckNonce(*request->nonce, flow.client, now) != TurnShared::NonceCheck::kValid) {
    ++stats_.stale_nonces;
    challenge(438, "Stale Nonce");
    return;
  }
  if (*request->realm != realm) {
    ++stats_.auth_failures;
    challenge(401, "Unauthorized");
    return;
  }
  absl::StatusOr<std::string> key = shared_.credentials().KeyFor(*request->username, WallNow());
  if (!key.ok()) {
    ++stats_.auth_failures;
    if (absl::IsNotFound(key.status())) {
      challenge(436, "Unknown Username");
    } else {
      challenge(401, "Unauthorized");  // an expired secret-derived username: new credentials
    }
    return;
  }
  if (!msturn::VerifyMessageIntegrity(message, *key).ok()) {
    ++stats_.auth_failures;
    challenge(401, "Unauthorized");
    return;
  }

  // Authenticated: every answer from here is signed with the requester's key.
  auto signed_error = [&](int code, std::string_view reason) {
    msturn::AllocateChallenge answer;
    answer.code = code;
    answer.reason = reason;
    answer.ms_version = version;
    absl::StatusOr<std::string> out =
        msturn::EncodeAllocateError(message.transaction_id(), answer, *key);
    if (out.ok()) SendMsControl(flow, *out);
  };
  if (!message.unknown_required().empty()) {
    ++stats_.bad_requests;
    absl::StatusOr<std::string> out =
        EncodeUnknownAttributes(msturn::type::kAllocateErrorResponse, message, version, *key);
    if (out.ok()) SendMsControl(flow, *out);
    return;
  }

  Allocation* allocation = existing;
  if (allocation != nullptr) {
    // A refresh: only the user who made the allocation may extend or release it.
    if (*request->username != allocation->username) {
      ++stats_.mismatches;
      signed_error(437, "Allocation Mismatch");
      return;
    }
    if (request->lifetime && *request->lifetime == 0) {
      msturn::AllocateSuccess released;
      released.relayed = allocation->relayed;
      released.reflexive = flow.client;
      released.lifetime = 0;
      released.ms_version = allocation->ms_version;
      DeleteAllocation(*allocation, /*expired=*/false);
      absl::StatusOr<std::string> out =
          msturn::EncodeAllocateSuccess(message.transaction_id(), released, *key);
      if (out.ok()) SendMsControl(flow, *out);
      return;
    }
    // libnice takes the MS-SEQUENCE-NUMBER of every Allocate success as its new counter start
    // (socket/udp-turn.c, set_ms_connection_id): the answer says 0, so the replay floor goes too.
    allocation->sad_sequence_seen = false;
  } else {
    if (request->lifetime && *request->lifetime == 0) {
      ++stats_.mismatches;  // releasing what does not exist
      signed_error(437, "Allocation Mismatch");
      return;
    }
    const std::string user(Credentials::UserOf(*request->username));
    const bool v6 = request->requested_family && *request->requested_family == 0x02;
    int error_code = 0;
    allocation = CreateAllocation(flow, *request->username, user, v6, false, &error_code);
    if (allocation == nullptr) {
      // Draft-08 has no quota or capacity codes; libnice gives up on any non-3xx error.
      if (error_code == 440) {
        signed_error(440, "Address Family not Supported");
      } else {
        signed_error(500, "Server Error");
      }
      return;
    }
    allocation->dialect = RelayDialect::kMsTurn;
    ++ms_allocations_;
    ++stats_.msturn_allocations;
    allocation->key = *key;
    allocation->ms_version = version;
    if (test_connection_id_.size() == allocation->connection_id.size()) {
      std::memcpy(allocation->connection_id.data(), test_connection_id_.data(),
                  test_connection_id_.size());
      test_connection_id_.clear();
    } else if (RAND_bytes(reinterpret_cast<unsigned char*>(allocation->connection_id.data()),
                          static_cast<int>(allocation->connection_id.size())) != 1) {
      std::array<uint8_t, 16> fallback;  // unique is what matters; the id is not a secret
      NewMsTransactionId(fallback);
      std::memcpy(allocation->connection_id.data(), fallback.data(), fallback.size());
    }
  }
  allocation->nonce = std::string(*request->nonce);
  const uint32_t lifetime = GrantedLifetime(shared_.options(), request->lifetime);
  allocation->expires = now + internal::Seconds(lifetime);
  ScheduleExpiry(*allocation);

  msturn::AllocateSuccess success;
  success.relayed = allocation->relayed;
  success.reflexive = flow.client;
  success.lifetime = lifetime;
  success.ms_version = allocation->ms_version;
  success.connection_id =
      std::string_view(allocation->connection_id.data(), allocation->connection_id.size());
  success.sequence = 0;
  absl::StatusOr<std::string> out =
      msturn::EncodeAllocateSuccess(message.transaction_id(), success, allocation->key);
  if (!out.ok()) return;
  allocation->ms_allocate_transaction = message.transaction_id();
  allocation->allocate_response = *std::move(out);
  SendMsControl(flow, allocation->allocate_response);
}

// --- Send ([MS-TURN] 1.3, 3.3.5.2): never answered --------------------------------------------

void TurnWorker::HandleMsSend(const MsTurnMessage& message, Allocation& allocation) {
  absl::StatusOr<msturn::SendRequest> request = msturn::ReadSendRequest(message);
  if (!request.ok()) {
    ++stats_.malformed;
    return;
  }
  if (!request->has_integrity || !request->username || *request->username != allocation.username) {
    ++stats_.auth_failures;
    return;
  }
  if (!SameConnection(request->sequence, allocation.connection_id)) {
    ++stats_.msturn_replays;  // a previous allocation's, or forged
    return;
  }
  // The cached key: an HMAC per Send, no MD5.
  if (!msturn::VerifyMessageIntegrity(message, allocation.key).ok()) {
    ++stats_.auth_failures;
    return;
  }
  if (request->destination.is_v6() != allocation.relayed.is_v6()) {
    ++stats_.bad_requests;
    return;
  }
  if (!shared_.policy().Allowed(request->destination)) {
    ++stats_.forbidden_peers;
    return;
  }
  // The Send installs (or refreshes) the permission for the destination's IP ([MS-TURN] 1.3).
  if (!InstallPermission(allocation, request->destination, clock_.Now())) {
    ++stats_.capacity_rejections;
    return;
  }
  ++stats_.to_peer_packets;
  stats_.to_peer_bytes += request->data.size();
  io_.SendToPeer(allocation.relay, request->destination, request->data);
}

// --- Set Active Destination ([MS-TURN] 3.3.5.3) -----------------------------------------------

void TurnWorker::HandleMsSetActiveDestination(const MsTurnMessage& message,
                                              Allocation& allocation) {
  absl::StatusOr<msturn::SetActiveDestinationRequest> request =
      msturn::ReadSetActiveDestinationRequest(message);
  if (!request.ok()) {
    ++stats_.malformed;
    return;
  }
  // Unauthenticated requests are dropped, not answered: no key of theirs to sign an error with,
  // and an unsigned answer would be a free reflector.
  if (!request->has_integrity || !request->username || *request->username != allocation.username ||
      !msturn::VerifyMessageIntegrity(message, allocation.key).ok()) {
    ++stats_.auth_failures;
    return;
  }
  const ClientFlow& flow = allocation.flow;
  if (!allocation.last_sad_answer.empty() &&
      allocation.last_sad_transaction == message.transaction_id()) {
    SendMsControl(flow, allocation.last_sad_answer);  // retransmission: the same answer
    return;
  }
  if (!SameConnection(request->sequence, allocation.connection_id) ||
      (request->sequence && allocation.sad_sequence_seen &&
       request->sequence->sequence <= allocation.last_sad_sequence)) {
    ++stats_.msturn_replays;  // another allocation's, or an old request replayed
    return;
  }
  auto answer = [&](absl::StatusOr<std::string> out) {
    if (!out.ok()) return;
    allocation.last_sad_transaction = message.transaction_id();
    allocation.last_sad_answer = *std::move(out);
    if (request->sequence) {
      allocation.sad_sequence_seen = true;
      allocation.last_sad_sequence = request->sequence->sequence;
    }
    SendMsControl(flow, allocation.last_sad_answer);
  };
  // Errors keep the previous active destination (3.3.5.3).
  if (!message.unknown_required().empty()) {
    ++stats_.bad_requests;
    answer(EncodeUnknownAttributes(msturn::type::kSetActiveDestinationErrorResponse, message,
                                   allocation.ms_version, allocation.key));
    return;
  }
  if (request->destination) {
    const NetAddress& peer = *request->destination;
    if (peer.is_v6() != allocation.relayed.is_v6()) {
      ++stats_.bad_requests;
      answer(msturn::EncodeSetActiveDestinationError(message.transaction_id(), 400,
                                                     "Bad Request", allocation.key));
      return;
    }
    if (!shared_.policy().Allowed(peer)) {
      ++stats_.forbidden_peers;
      answer(msturn::EncodeSetActiveDestinationError(message.transaction_id(), 403, "Forbidden",
                                                     allocation.key));
      return;
    }
    // The client names the peer it sends to: that is the permission, as a Send would install.
    if (!InstallPermission(allocation, peer, clock_.Now())) {
      ++stats_.capacity_rejections;
      answer(msturn::EncodeSetActiveDestinationError(message.transaction_id(), 500,
                                                     "Server Error", allocation.key));
      return;
    }
  }
  allocation.active_destination = request->destination;  // nullopt clears it
  answer(msturn::EncodeSetActiveDestinationSuccess(message.transaction_id(), allocation.ms_version,
                                                   allocation.key));
}

// --- Data path ---------------------------------------------------------------------------------

void TurnWorker::RelayRawFromClient(Allocation& allocation, std::string_view data) {
  if (!allocation.active_destination) {
    ++stats_.dropped_no_destination;
    return;
  }
  // The active destination lives as long as its permission, which this traffic keeps: once it
  // is set the client sends nothing else to that peer (no Send requests that would refresh it).
  if (!RefreshPermission(allocation, *allocation.active_destination, clock_.Now())) {
    allocation.active_destination.reset();
    ++stats_.dropped_no_permission;
    return;
  }
  ++stats_.to_peer_packets;
  stats_.to_peer_bytes += data.size();
  io_.SendToPeer(allocation.relay, *allocation.active_destination, data);
}

// After OnPeerPacket's permission check: raw from the active destination, else a Data indication
// (both allocation-free once scratch_ has grown).
void TurnWorker::SendMsPeerPacket(Allocation& allocation, const NetAddress& peer,
                                  std::string_view payload) {
  const bool stream = allocation.flow.transport != ClientTransport::kUdp;
  if (allocation.active_destination && *allocation.active_destination == peer) {
    if (!stream) {
      io_.SendToClient(allocation.flow, payload);
      return;
    }
    if (payload.size() > 0xFFFF) return;  // cannot be framed (not from a UDP peer)
    scratch_.clear();
    msturn::AppendTcpFrame(msturn::TcpFrameType::kData, payload, scratch_);
    io_.SendToClient(allocation.flow, scratch_);
    return;
  }
  scratch_.clear();
  if (stream) scratch_.append({static_cast<char>(msturn::TcpFrameType::kControl), 0, 0, 0});
  const size_t start = scratch_.size();
  std::array<uint8_t, 16> id;
  NewMsTransactionId(id);
  if (!msturn::AppendDataIndication(id, peer, payload, scratch_)) {
    scratch_.clear();
    return;  // over 64 KiB: cannot be carried
  }
  if (stream) {
    const size_t length = scratch_.size() - start;
    if (length > 0xFFFF) {
      scratch_.clear();
      return;  // the frame's 16-bit length cannot hold it
    }
    scratch_[2] = static_cast<char>(length >> 8);
    scratch_[3] = static_cast<char>(length & 0xFF);
  }
  io_.SendToClient(allocation.flow, scratch_);
}

// --- Answers -----------------------------------------------------------------------------------

void TurnWorker::SendMsControl(const ClientFlow& flow, std::string_view message) {
  if (flow.transport == ClientTransport::kUdp) {
    io_.SendToClient(flow, message);
    return;
  }
  ms_frame_.clear();
  msturn::AppendTcpFrame(msturn::TcpFrameType::kControl, message, ms_frame_);
  io_.SendToClient(flow, ms_frame_);
}

void TurnWorker::SendMsUnauthenticated(const ClientFlow& flow, size_t request_bytes,
                                       std::string_view message) {
  if (flow.transport == ClientTransport::kUdp &&
      !WithinAmplificationBudget(flow, request_bytes, message.size())) {
    return;
  }
  SendMsControl(flow, message);
}

}  // namespace causeway::turn
