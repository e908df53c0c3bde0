#include "media/msturn/msturn_message.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "media/stun/stun_message.h"
#include "media/stun/wire_bytes.h"

namespace causeway::msturn {
namespace {

constexpr size_t kAttributeHeaderBytes = 4;
constexpr size_t kMagicCookieAttributeBytes = 8;
constexpr size_t kConnectionIdBytes = 20;
// RFC 3489 / STUN-02 HMAC input: the covered bytes are zero-padded to a multiple of 64.
constexpr size_t kHmacBlock = 64;
constexpr char kZeros[kHmacBlock] = {};

using stun::wire::Append16;
using stun::wire::Append32;
using stun::wire::Padded;
using stun::wire::Read16;
using stun::wire::Read32;

// Address value (RFC 3489 layout: reserved, family, port, address), optionally XORed with the
// transaction id (MS XOR-MAPPED-ADDRESS).
void AppendAddressValue(std::string& out, const NetAddress& address, const TransactionId* mask) {
  out.push_back(0);
  out.push_back(address.is_v6() ? 0x02 : 0x01);
  uint16_t port = address.port();
  if (mask != nullptr) port ^= static_cast<uint16_t>(((*mask)[0] << 8) | (*mask)[1]);
  Append16(out, port);
  const size_t ip_bytes = address.is_v6() ? 16 : 4;
  for (size_t i = 0; i < ip_bytes; ++i) {
    uint8_t byte = address.bytes()[i];
    if (mask != nullptr) byte ^= (*mask)[i];
    out.push_back(static_cast<char>(byte));
  }
}
size_t AddressValueBytes(const NetAddress& address) { return address.is_v6() ? 20 : 8; }

// The MAC over the header (length rewritten to end after a MESSAGE-INTEGRITY of `mac_bytes` at
// `offset`), the attributes before it, and zero padding to a multiple of 64 bytes.
size_t ComputeMac(std::string_view message, size_t offset, size_t mac_bytes, std::string_view key,
                  unsigned char* out) {
  const size_t length = offset + kAttributeHeaderBytes + mac_bytes - kHeaderBytes;
  const char first[4] = {message[0], message[1], static_cast<char>(length >> 8),
                         static_cast<char>(length & 0xFF)};
  const size_t pad = (kHmacBlock - offset % kHmacBlock) % kHmacBlock;
  return stun::HmacPieces(
      mac_bytes == 32 ? stun::HmacDigest::kSha256 : stun::HmacDigest::kSha1, key,
      {std::string_view(first, 4), message.substr(4, offset - 4), std::string_view(kZeros, pad)},
      out);
}

absl::StatusOr<std::string_view> ReadRealm(std::string_view value) {
  if (value.size() > kMaxRealmBytes) return absl::InvalidArgumentError("REALM: over 128 bytes");
  return value;
}

// The first value of each attribute the typed readers use, collected in one pass (the first
// occurrence is the one that counts, as in STUN).
struct FirstValues {
  std::optional<std::string_view> username, realm, nonce, sequence, destination, remote, data,
      lifetime, ms_version, bandwidth, family;
  bool integrity = false;
};
FirstValues Collect(const MsTurnMessage& message) {
  FirstValues first;
  auto keep = [](std::optional<std::string_view>& slot, std::string_view value) {
    if (!slot) slot = value;
  };
  for (const MsTurnAttribute& attribute : message.attributes()) {
    switch (attribute.type) {
      case attr::kUsername: keep(first.username, attribute.value); break;
      case attr::kRealm: keep(first.realm, attribute.value); break;
      case attr::kNonce: keep(first.nonce, attribute.value); break;
      case attr::kMsSequenceNumber: keep(first.sequence, attribute.value); break;
      case attr::kDestinationAddress: keep(first.destination, attribute.value); break;
      case attr::kRemoteAddress: keep(first.remote, attribute.value); break;
      case attr::kData: keep(first.data, attribute.value); break;
      case attr::kLifetime: keep(first.lifetime, attribute.value); break;
      case attr::kMsVersion: keep(first.ms_version, attribute.value); break;
      case attr::kBandwidth: keep(first.bandwidth, attribute.value); break;
      case attr::kRequestedAddressFamily: keep(first.family, attribute.value); break;
      case attr::kMessageIntegrity: first.integrity = true; break;
      default: break;
    }
  }
  return first;
}

// The attributes every authenticated MS-TURN request may carry, checked.
struct CommonFields {
  std::optional<std::string_view> username, realm, nonce;
  std::optional<MsSequenceNumber> sequence;
  bool has_integrity = false;
};
absl::StatusOr<CommonFields> ReadCommon(const FirstValues& first) {
  CommonFields fields;
  if (first.username) {
    auto username = stun::ReadText(stun::attr::kUsername, *first.username);
    if (!username.ok()) return username.status();
    fields.username = *username;
  }
  if (first.realm) {
    auto realm = ReadRealm(*first.realm);
    if (!realm.ok()) return realm.status();
    fields.realm = *realm;
  }
  if (first.nonce) {
    auto nonce = stun::ReadText(stun::attr::kNonce, *first.nonce);
    if (!nonce.ok()) return nonce.status();
    fields.nonce = *nonce;
  }
  if (first.sequence) {
    auto sequence = ReadMsSequenceNumber(*first.sequence);
    if (!sequence.ok()) return sequence.status();
    fields.sequence = *sequence;
  }
  fields.has_integrity = first.integrity;
  return fields;
}

absl::Status ExpectType(const MsTurnMessage& message, uint16_t expected, const char* what) {
  if (message.message_type() != expected) {
    return absl::InvalidArgumentError(std::string("MS-TURN: not a ") + what);
  }
  return absl::OkStatus();
}

}  // namespace

bool IsKnownRequiredAttribute(uint16_t type) {
  switch (type) {
    case attr::kMappedAddress:
    case attr::kUsername:
    case attr::kMessageIntegrity:
    case attr::kErrorCode:
    case attr::kUnknownAttributes:
    case attr::kLifetime:
    case attr::kAlternateServer:
    case attr::kMagicCookie:
    case attr::kBandwidth:
    case attr::kDestinationAddress:
    case attr::kRemoteAddress:
    case attr::kData:
    case attr::kNonce:
    case attr::kRealm:
    case attr::kRequestedAddressFamily:
      return true;
    default:
      return false;
  }
}

// --- Detection --------------------------------------------------------------------------------

bool LooksLikeMsTurn(std::string_view bytes) {
  return bytes.size() >= kHeaderBytes + kMagicCookieAttributeBytes &&
         (static_cast<uint8_t>(bytes[0]) & 0xC0) == 0 &&
         Read16(bytes, 2) == bytes.size() - kHeaderBytes &&
         Read16(bytes, kHeaderBytes) == attr::kMagicCookie &&
         Read16(bytes, kHeaderBytes + 2) == 4 &&
         Read32(bytes, kHeaderBytes + 4) == kTurnMagicCookie;
}

Dialect DetectDialect(std::string_view bytes) {
  if (LooksLikeMsTurn(bytes)) return Dialect::kMsTurn;
  if (stun::LooksLikeStun(bytes)) return Dialect::kRfc8489;
  return Dialect::kNone;
}

// --- Parsing ----------------------------------------------------------------------------------

namespace {

// One attribute walk, unpadded or 4-byte aligned. Fills `attributes` / `unknown`.
absl::Status Walk(std::string_view bytes, const MsTurnLimits& limits, bool aligned,
                  absl::InlinedVector<MsTurnAttribute, 10>& attributes,
                  absl::InlinedVector<uint16_t, 4>& unknown) {
  attributes.clear();
  unknown.clear();
  bool seen_integrity = false;
  size_t count = 0;
  for (size_t at = kHeaderBytes; at < bytes.size();) {
    if (++count > limits.max_attributes) {
      return absl::ResourceExhaustedError("MS-TURN: too many attributes");
    }
    if (bytes.size() - at < kAttributeHeaderBytes) {
      return absl::InvalidArgumentError("MS-TURN: truncated attribute header");
    }
    const uint16_t type = Read16(bytes, at);
    const size_t value_length = Read16(bytes, at + 2);
    const size_t value_at = at + kAttributeHeaderBytes;
    const size_t step = aligned ? Padded(value_length) : value_length;
    if (step > bytes.size() - value_at) {
      return absl::InvalidArgumentError("MS-TURN: attribute overruns the message");
    }
    const MsTurnAttribute attribute{type, bytes.substr(value_at, value_length), at};
    at = value_at + step;
    if (seen_integrity) continue;  // nothing after MESSAGE-INTEGRITY counts
    if (type == attr::kMessageIntegrity) seen_integrity = true;
    if (type < 0x8000 && !IsKnownRequiredAttribute(type) &&
        std::find(unknown.begin(), unknown.end(), type) == unknown.end()) {
      if (unknown.size() < 16) unknown.push_back(type);  // enough for the 420 answer
    }
    attributes.push_back(attribute);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MsTurnMessage> MsTurnMessage::Parse(std::string_view bytes,
                                                   const MsTurnLimits& limits) {
  if (bytes.size() < kHeaderBytes + kMagicCookieAttributeBytes) {
    return absl::InvalidArgumentError("MS-TURN: shorter than header and MAGIC-COOKIE");
  }
  if (bytes.size() > std::min(limits.max_message_bytes, kMaxMessageBytesHardCap)) {
    return absl::ResourceExhaustedError("MS-TURN: message over the size limit");
  }
  if ((static_cast<uint8_t>(bytes[0]) & 0xC0) != 0) {
    return absl::InvalidArgumentError("MS-TURN: top two bits not zero");
  }
  if (Read16(bytes, 2) != bytes.size() - kHeaderBytes) {
    return absl::InvalidArgumentError("MS-TURN: length does not match the message size");
  }
  if (!LooksLikeMsTurn(bytes)) {
    return absl::InvalidArgumentError("MS-TURN: first attribute is not MAGIC-COOKIE 0x72C64BC6");
  }
  MsTurnMessage message;
  message.bytes_ = bytes;
  message.message_type_ = Read16(bytes, 0);
  std::memcpy(message.transaction_id_.data(), bytes.data() + 4, message.transaction_id_.size());
  absl::Status unpadded =
      Walk(bytes, limits, /*aligned=*/false, message.attributes_, message.unknown_required_);
  if (unpadded.ok()) return message;
  if (absl::IsResourceExhausted(unpadded)) return unpadded;
  // Unpadded framing failed: the sender may pad like RFC 8489.
  if (Walk(bytes, limits, /*aligned=*/true, message.attributes_, message.unknown_required_).ok()) {
    message.padded_ = true;
    return message;
  }
  return unpadded;
}

const MsTurnAttribute* MsTurnMessage::Find(uint16_t type) const {
  for (const MsTurnAttribute& attribute : attributes_) {
    if (attribute.type == type) return &attribute;
  }
  return nullptr;
}

std::optional<std::string_view> MsTurnMessage::FindValue(uint16_t type) const {
  const MsTurnAttribute* attribute = Find(type);
  if (attribute == nullptr) return std::nullopt;
  return attribute->value;
}

// --- Readers ----------------------------------------------------------------------------------

absl::StatusOr<NetAddress> ReadMsXorAddress(std::string_view value, const TransactionId& id) {
  if (value.size() < 4) return absl::InvalidArgumentError("XOR-MAPPED-ADDRESS: too short");
  const uint8_t family = static_cast<uint8_t>(value[1]);
  const uint16_t port = Read16(value, 2) ^ static_cast<uint16_t>((id[0] << 8) | id[1]);
  if (family == 0x01) {
    if (value.size() != 8) return absl::InvalidArgumentError("XOR-MAPPED-ADDRESS: bad IPv4 length");
    const uint32_t mask = (uint32_t{id[0]} << 24) | (uint32_t{id[1]} << 16) |
                          (uint32_t{id[2]} << 8) | id[3];
    return NetAddress::V4(Read32(value, 4) ^ mask, port);
  }
  if (family == 0x02) {
    if (value.size() != 20) {
      return absl::InvalidArgumentError("XOR-MAPPED-ADDRESS: bad IPv6 length");
    }
    std::array<uint8_t, 16> ip;
    for (size_t i = 0; i < ip.size(); ++i) ip[i] = static_cast<uint8_t>(value[4 + i]) ^ id[i];
    return NetAddress::V6(ip, port);
  }
  return absl::InvalidArgumentError("XOR-MAPPED-ADDRESS: unknown family");
}

absl::StatusOr<MsSequenceNumber> ReadMsSequenceNumber(std::string_view value) {
  if (value.size() != kConnectionIdBytes + 4) {
    return absl::InvalidArgumentError("MS-SEQUENCE-NUMBER: not 24 bytes");
  }
  return MsSequenceNumber{value.substr(0, kConnectionIdBytes), Read32(value, kConnectionIdBytes)};
}

absl::StatusOr<uint8_t> ReadRequestedAddressFamily(std::string_view value) {
  if (value.size() != 4) return absl::InvalidArgumentError("REQUESTED-ADDRESS-FAMILY: not 4 bytes");
  const uint8_t family = static_cast<uint8_t>(value[0]);
  if (family != 0x01 && family != 0x02) {
    return absl::InvalidArgumentError("REQUESTED-ADDRESS-FAMILY: unknown family");
  }
  return family;
}

absl::StatusOr<AllocateRequest> ReadAllocateRequest(const MsTurnMessage& message) {
  if (auto status = ExpectType(message, type::kAllocateRequest, "Allocate request"); !status.ok()) {
    return status;
  }
  const FirstValues first = Collect(message);
  auto common = ReadCommon(first);
  if (!common.ok()) return common.status();
  AllocateRequest request;
  request.username = common->username;
  request.realm = common->realm;
  request.nonce = common->nonce;
  request.sequence = common->sequence;
  request.has_integrity = common->has_integrity;
  for (auto [value, field] : {std::pair{first.lifetime, &request.lifetime},
                              std::pair{first.ms_version, &request.ms_version},
                              std::pair{first.bandwidth, &request.bandwidth}}) {
    if (value) {
      auto number = stun::ReadUint32(*value);
      if (!number.ok()) return number.status();
      *field = *number;
    }
  }
  if (first.family) {
    auto family = ReadRequestedAddressFamily(*first.family);
    if (!family.ok()) return family.status();
    request.requested_family = *family;
  }
  return request;
}

absl::StatusOr<SendRequest> ReadSendRequest(const MsTurnMessage& message) {
  if (auto status = ExpectType(message, type::kSendRequest, "Send request"); !status.ok()) {
    return status;
  }
  const FirstValues first = Collect(message);
  auto common = ReadCommon(first);
  if (!common.ok()) return common.status();
  const auto& destination = first.destination;
  const auto& data = first.data;
  if (!destination || !data) {
    return absl::InvalidArgumentError("Send request: DESTINATION-ADDRESS and DATA required");
  }
  auto address = stun::ReadAddress(*destination);
  if (!address.ok()) return address.status();
  SendRequest request;
  request.destination = *address;
  request.data = *data;
  request.username = common->username;
  request.realm = common->realm;
  request.sequence = common->sequence;
  request.has_integrity = common->has_integrity;
  return request;
}

absl::StatusOr<SetActiveDestinationRequest> ReadSetActiveDestinationRequest(
    const MsTurnMessage& message) {
  if (auto status = ExpectType(message, type::kSetActiveDestinationRequest,
                               "Set Active Destination request");
      !status.ok()) {
    return status;
  }
  const FirstValues first = Collect(message);
  auto common = ReadCommon(first);
  if (!common.ok()) return common.status();
  SetActiveDestinationRequest request;
  if (first.destination) {
    auto address = stun::ReadAddress(*first.destination);
    if (!address.ok()) return address.status();
    if (!address->is_unspecified() || address->port() != 0) request.destination = *address;
  }
  request.username = common->username;
  request.realm = common->realm;
  request.sequence = common->sequence;
  request.has_integrity = common->has_integrity;
  return request;
}

absl::StatusOr<DataIndication> ReadDataIndication(const MsTurnMessage& message) {
  if (auto status = ExpectType(message, type::kDataIndication, "Data indication"); !status.ok()) {
    return status;
  }
  const FirstValues first = Collect(message);
  const auto& remote = first.remote;
  const auto& data = first.data;
  if (!remote || !data) {
    return absl::InvalidArgumentError("Data indication: REMOTE-ADDRESS and DATA required");
  }
  auto address = stun::ReadAddress(*remote);
  if (!address.ok()) return address.status();
  return DataIndication{*address, *data};
}

// --- Integrity --------------------------------------------------------------------------------

absl::Status VerifyMessageIntegrity(const MsTurnMessage& message, std::string_view key) {
  const MsTurnAttribute* integrity = message.Find(attr::kMessageIntegrity);
  if (integrity == nullptr) return absl::NotFoundError("no MESSAGE-INTEGRITY");
  const size_t size = integrity->value.size();
  if (size != 20 && size != 32) {
    return absl::UnauthenticatedError("MESSAGE-INTEGRITY: neither 20 nor 32 bytes");
  }
  unsigned char mac[64];
  if (ComputeMac(message.bytes(), integrity->offset, size, key, mac) != size) {
    return absl::InternalError("HMAC failed");
  }
  if (CRYPTO_memcmp(mac, integrity->value.data(), size) != 0) {
    return absl::UnauthenticatedError("MESSAGE-INTEGRITY mismatch");
  }
  return absl::OkStatus();
}

// --- Encoding ---------------------------------------------------------------------------------

MsTurnMessageBuilder::MsTurnMessageBuilder(uint16_t message_type, const TransactionId& id) {
  buffer_.reserve(160);
  Append16(buffer_, message_type);
  Append16(buffer_, 0);
  buffer_.append(reinterpret_cast<const char*>(id.data()), id.size());
  AddUint32(attr::kMagicCookie, kTurnMagicCookie);
}

void MsTurnMessageBuilder::AddAttribute(uint16_t type, std::string_view value) {
  if (value.size() > 0xFFFF) {
    overflow_ = true;
    return;
  }
  Append16(buffer_, type);
  Append16(buffer_, static_cast<uint16_t>(value.size()));
  buffer_.append(value);
  const size_t body = buffer_.size() - kHeaderBytes;
  if (body > 0xFFFF) {
    overflow_ = true;
    return;
  }
  buffer_[2] = static_cast<char>(body >> 8);
  buffer_[3] = static_cast<char>(body & 0xFF);
}

void MsTurnMessageBuilder::AddAddress(uint16_t type, const NetAddress& address) {
  std::string value;
  AppendAddressValue(value, address, nullptr);
  AddAttribute(type, value);
}

void MsTurnMessageBuilder::AddMsXorAddress(uint16_t type, const NetAddress& address) {
  TransactionId id;
  std::memcpy(id.data(), buffer_.data() + 4, id.size());
  std::string value;
  AppendAddressValue(value, address, &id);
  AddAttribute(type, value);
}

void MsTurnMessageBuilder::AddErrorCode(int code, std::string_view reason) {
  std::string value;
  Append16(value, 0);
  value.push_back(static_cast<char>((code / 100) & 0x07));
  value.push_back(static_cast<char>(code % 100));
  value.append(reason);
  AddAttribute(attr::kErrorCode, value);
}

void MsTurnMessageBuilder::AddUnknownAttributes(const absl::InlinedVector<uint16_t, 4>& types) {
  std::string value;
  for (uint16_t type : types) Append16(value, type);
  AddAttribute(attr::kUnknownAttributes, value);
}

void MsTurnMessageBuilder::AddUint32(uint16_t type, uint32_t number) {
  std::string value;
  Append32(value, number);
  AddAttribute(type, value);
}

void MsTurnMessageBuilder::AddMsSequenceNumber(std::string_view connection_id, uint32_t sequence) {
  std::string value(connection_id.substr(0, kConnectionIdBytes));
  value.resize(kConnectionIdBytes, '\0');
  Append32(value, sequence);
  AddAttribute(attr::kMsSequenceNumber, value);
}

void MsTurnMessageBuilder::AddMessageIntegrity(std::string_view key, IntegrityDigest digest) {
  const size_t mac_bytes = digest == IntegrityDigest::kSha256 ? 32 : 20;
  unsigned char mac[64] = {};
  if (ComputeMac(buffer_, buffer_.size(), mac_bytes, key, mac) != mac_bytes) overflow_ = true;
  AddAttribute(attr::kMessageIntegrity,
               std::string_view(reinterpret_cast<const char*>(mac), mac_bytes));
}

absl::StatusOr<std::string> MsTurnMessageBuilder::Finish() && {
  if (overflow_) return absl::InvalidArgumentError("MS-TURN: attribute or message over 64 KiB");
  return std::move(buffer_);
}

absl::StatusOr<std::string> EncodeAllocateError(const TransactionId& id,
                                                const AllocateChallenge& challenge,
                                                std::string_view key) {
  if (challenge.code < 300 || challenge.code > 699) {
    return absl::InvalidArgumentError("ERROR-CODE outside 300..699");
  }
  if (challenge.realm.size() > kMaxRealmBytes) {
    return absl::InvalidArgumentError("REALM: over 128 bytes");
  }
  MsTurnMessageBuilder builder(type::kAllocateErrorResponse, id);
  builder.AddErrorCode(challenge.code, challenge.reason);
  if (!challenge.realm.empty()) builder.AddAttribute(attr::kRealm, challenge.realm);
  if (!challenge.nonce.empty()) builder.AddAttribute(attr::kNonce, challenge.nonce);
  if (challenge.ms_version) builder.AddUint32(attr::kMsVersion, *challenge.ms_version);
  if (!key.empty()) builder.AddMessageIntegrity(key);
  return std::move(builder).Finish();
}

absl::StatusOr<std::string> EncodeAllocateSuccess(const TransactionId& id,
                                                  const AllocateSuccess& success,
                                                  std::string_view key) {
  if (!success.connection_id.empty() && success.connection_id.size() != kConnectionIdBytes) {
    return absl::InvalidArgumentError("MS-SEQUENCE-NUMBER: connection id not 20 bytes");
  }
  MsTurnMessageBuilder builder(type::kAllocateResponse, id);
  builder.AddAddress(attr::kMappedAddress, success.relayed);
  builder.AddMsXorAddress(attr::kXorMappedAddress, success.reflexive);
  builder.AddUint32(attr::kLifetime, success.lifetime);
  if (success.ms_version) builder.AddUint32(attr::kMsVersion, *success.ms_version);
  if (!success.connection_id.empty()) {
    builder.AddMsSequenceNumber(success.connection_id, success.sequence);
  }
  builder.AddMessageIntegrity(key);
  return std::move(builder).Finish();
}

absl::StatusOr<std::string> EncodeSetActiveDestinationSuccess(const TransactionId& id,
                                                              std::optional<uint32_t> ms_version,
                                                              std::string_view key) {
  MsTurnMessageBuilder builder(type::kSetActiveDestinationResponse, id);
  if (ms_version) builder.AddUint32(attr::kMsVersion, *ms_version);
  builder.AddMessageIntegrity(key);
  return std::move(builder).Finish();
}

absl::StatusOr<std::string> EncodeSetActiveDestinationError(const TransactionId& id, int code,
                                                            std::string_view reason,
                                                            std::string_view key) {
  if (code < 300 || code > 699) return absl::InvalidArgumentError("ERROR-CODE outside 300..699");
  MsTurnMessageBuilder builder(type::kSetActiveDestinationErrorResponse, id);
  builder.AddErrorCode(code, reason);
  if (!key.empty()) builder.AddMessageIntegrity(key);
  return std::move(builder).Finish();
}

bool AppendDataIndication(const TransactionId& id, const NetAddress& remote,
                          std::string_view data, std::string& out) {
  const size_t address_bytes = AddressValueBytes(remote);
  const size_t body = kMagicCookieAttributeBytes + kAttributeHeaderBytes + address_bytes +
                      kAttributeHeaderBytes + data.size();
  if (body > 0xFFFF) return false;
  // One resize and direct stores: this runs for every peer packet that is not the active
  // destination's (ICE checks, early media).
  const size_t start = out.size();
  out.resize(start + kHeaderBytes + body);
  auto* p = reinterpret_cast<uint8_t*>(out.data() + start);
  auto put16 = [&p](uint16_t value) {
    p[0] = static_cast<uint8_t>(value >> 8);
    p[1] = static_cast<uint8_t>(value & 0xFF);
    p += 2;
  };
  put16(type::kDataIndication);
  put16(static_cast<uint16_t>(body));
  std::memcpy(p, id.data(), id.size());
  p += id.size();
  put16(attr::kMagicCookie);
  put16(4);
  put16(static_cast<uint16_t>(kTurnMagicCookie >> 16));
  put16(static_cast<uint16_t>(kTurnMagicCookie & 0xFFFF));
  put16(attr::kRemoteAddress);
  put16(static_cast<uint16_t>(address_bytes));
  *p++ = 0;
  *p++ = remote.is_v6() ? 0x02 : 0x01;
  put16(remote.port());
  std::memcpy(p, remote.bytes().data(), address_bytes - 4);
  p += address_bytes - 4;
  put16(attr::kData);
  put16(static_cast<uint16_t>(data.size()));
  if (!data.empty()) std::memcpy(p, data.data(), data.size());
  return true;
}

// --- TCP framing ------------------------------------------------------------------------------

absl::StatusOr<TcpFrame> ParseTcpFrame(std::string_view bytes) {
  if (bytes.size() < 4) return absl::UnavailableError("MS-TURN TCP: need more bytes");
  const uint8_t frame_type = static_cast<uint8_t>(bytes[0]);
  if (frame_type != static_cast<uint8_t>(TcpFrameType::kControl) &&
      frame_type != static_cast<uint8_t>(TcpFrameType::kData)) {
    return absl::InvalidArgumentError("MS-TURN TCP: frame type neither 2 nor 3");
  }
  if (bytes[1] != 0) return absl::InvalidArgumentError("MS-TURN TCP: reserved byte not zero");
  const size_t length = Read16(bytes, 2);
  if (bytes.size() - 4 < length) return absl::UnavailableError("MS-TURN TCP: need more bytes");
  return TcpFrame{static_cast<TcpFrameType>(frame_type), bytes.substr(4, length), 4 + length};
}

void AppendTcpFrame(TcpFrameType frame_type, std::string_view payload, std::string& out) {
  out.push_back(static_cast<char>(frame_type));
  out.push_back(0);
  Append16(out, static_cast<uint16_t>(payload.size()));
  out.append(payload);
}

}  // namespace causeway::msturn
