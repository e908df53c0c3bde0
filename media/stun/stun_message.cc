#include "media/stun/stun_message.h"
#include "media/stun/wire_bytes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

namespace causeway::stun {
namespace {

constexpr size_t kAttributeHeaderBytes = 4;
constexpr size_t kSha1Bytes = 20;
constexpr size_t kFingerprintBytes = 4;
constexpr uint32_t kFingerprintXor = 0x5354554e;
constexpr size_t kMaxUsernameBytes = 512;
constexpr size_t kMaxTextBytes = 762;  // REALM, NONCE, SOFTWARE, reason phrase: < 763 bytes

using wire::Append16;
using wire::Append32;
using wire::Padded;
using wire::Read16;
using wire::Read32;

// CRC-32 (ISO-HDLC, the zlib one), table built at compile time.
constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

uint32_t CrcUpdate(uint32_t crc, std::string_view bytes) {
  for (char ch : bytes) crc = kCrcTable[(crc ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (crc >> 8);
  return crc;
}

// The bytes an integrity or fingerprint attribute at `offset` covers: the message up to
// `offset`, with the header's length field rewritten to end right after that attribute
// (RFC 8489 §14.5, §14.7). The first 4 bytes are returned separately to avoid a copy.
struct CoveredBytes {
  std::array<char, 4> type_and_length;
  std::string_view rest;  // from the magic cookie up to the attribute
};
CoveredBytes Covered(std::string_view message, size_t offset, size_t value_bytes) {
  CoveredBytes covered{};
  const size_t length = offset + kAttributeHeaderBytes + value_bytes - kHeaderBytes;
  covered.type_and_length = {message[0], message[1], static_cast<char>(length >> 8),
                             static_cast<char>(length & 0xFF)};
  covered.rest = message.substr(4, offset - 4);
  return covered;
}

// HMAC through per-thread EVP_MAC contexts: OpenSSL 3's one-shot HMAC() fetches the algorithm and
// the digest and builds a context on every call (a Binding request took 1.45 us to verify that
// way, 0.70 us now). Re-initialising a kept context with the new key skips all that; the covered
// bytes go in as two pieces (rewritten length, then the rest) so the message is never copied.
struct MacContextDeleter {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};
using MacContext = std::unique_ptr<EVP_MAC_CTX, MacContextDeleter>;

// One context per digest and thread, its digest set once: naming the digest on every init would
// fetch it again.
EVP_MAC_CTX* NewMacContext(const char* digest_name) {
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac == nullptr) return nullptr;
  EVP_MAC_CTX* context = EVP_MAC_CTX_new(hmac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>(digest_name), 0),
      OSSL_PARAM_construct_end()};
  if (context != nullptr && EVP_MAC_CTX_set_params(context, params) != 1) {
    EVP_MAC_CTX_free(context);
    return nullptr;
  }
  return context;
}

EVP_MAC_CTX* ThreadMacContext(HmacDigest digest) {
  thread_local MacContext sha1(NewMacContext("SHA1"));
  thread_local MacContext sha256(NewMacContext("SHA256"));
  return digest == HmacDigest::kSha1 ? sha1.get() : sha256.get();
}

}  // namespace

size_t HmacPieces(HmacDigest digest, std::string_view key,
                  std::initializer_list<std::string_view> pieces, unsigned char* out) {
  EVP_MAC_CTX* context = ThreadMacContext(digest);
  if (context == nullptr) return 0;
  // An empty key still needs a non-null pointer for EVP_MAC_init to treat it as a new key.
  static const unsigned char kEmpty = 0;
  const unsigned char* key_bytes =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  size_t length = 0;
  if (EVP_MAC_init(context, key_bytes, key.size(), nullptr) != 1) return 0;
  for (std::string_view piece : pieces) {
    if (EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(piece.data()),
                       piece.size()) != 1) {
      return 0;
    }
  }
  if (EVP_MAC_final(context, out, &length, EVP_MAX_MD_SIZE) != 1) return 0;
  return length;
}

namespace {

// Returns the MAC length, 0 on failure.
size_t Hmac(HmacDigest digest, std::string_view key, std::string_view first,
            std::string_view rest, unsigned char* out) {
  return HmacPieces(digest, key, {first, rest}, out);
}

}  // namespace

bool IsKnownRequiredAttribute(uint16_t type) {
  switch (type) {
    case attr::kMappedAddress:
    case attr::kUsername:
    case attr::kMessageIntegrity:
    case attr::kErrorCode:
    case attr::kUnknownAttributes:
    case attr::kRealm:
    case attr::kNonce:
    case attr::kMessageIntegritySha256:
    case attr::kPasswordAlgorithm:
    case attr::kUserhash:
    case attr::kXorMappedAddress:
    case attr::kChannelNumber:
    case attr::kLifetime:
    case attr::kXorPeerAddress:
    case attr::kData:
    case attr::kXorRelayedAddress:
    case attr::kRequestedAddressFamily:
    case attr::kEvenPort:
    case attr::kRequestedTransport:
    case attr::kDontFragment:
    case attr::kReservationToken:
    case attr::kPriority:
    case attr::kUseCandidate:
      return true;
    default:
      return false;
  }
}

uint16_t ComposeMessageType(uint16_t method, StunClass stun_class) {
  const uint16_t c = static_cast<uint16_t>(stun_class);
  return static_cast<uint16_t>((method & 0x000F) | ((method & 0x0070) << 1) |
                               ((method & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7));
}

uint16_t StunMessage::method() const {
  return static_cast<uint16_t>((message_type_ & 0x000F) | ((message_type_ & 0x00E0) >> 1) |
                               ((message_type_ & 0x3E00) >> 2));
}

StunClass StunMessage::stun_class() const {
  return static_cast<StunClass>(((message_type_ >> 4) & 1) | ((message_type_ >> 7) & 2));
}

bool LooksLikeStun(std::string_view bytes) {
  return bytes.size() >= kHeaderBytes && (static_cast<uint8_t>(bytes[0]) & 0xC0) == 0 &&
         Read32(bytes, 4) == kMagicCookie;
}

absl::StatusOr<StunMessage> StunMessage::Parse(std::string_view bytes, const StunLimits& limits) {
  if (bytes.size() < kHeaderBytes) return absl::InvalidArgumentError("STUN: shorter than header");
  if (bytes.size() > std::min(limits.max_message_bytes, kMaxMessageBytesHardCap)) {
    return absl::ResourceExhaustedError("STUN: message over the size limit");
  }
  if ((static_cast<uint8_t>(bytes[0]) & 0xC0) != 0) {
    return absl::InvalidArgumentError("STUN: top two bits not zero");
  }
  if (Read32(bytes, 4) != kMagicCookie) return absl::InvalidArgumentError("STUN: bad magic cookie");
  const size_t length = Read16(bytes, 2);
  if (length % 4 != 0) return absl::InvalidArgumentError("STUN: length not a multiple of 4");
  if (length != bytes.size() - kHeaderBytes) {
    return absl::InvalidArgumentError("STUN: length does not match the message size");
  }

  StunMessage message;
  message.bytes_ = bytes;
  message.message_type_ = Read16(bytes, 0);
  std::memcpy(message.transaction_id_.data(), bytes.data() + 8, message.transaction_id_.size());

  bool seen_integrity = false, seen_integrity_sha256 = false, seen_fingerprint = false;
  size_t count = 0;
  for (size_t at = kHeaderBytes; at < bytes.size();) {
    if (++count > limits.max_attributes) {
      return absl::ResourceExhaustedError("STUN: too many attributes");
    }
    if (bytes.size() - at < kAttributeHeaderBytes) {
      return absl::InvalidArgumentError("STUN: truncated attribute header");
    }
    const uint16_t type = Read16(bytes, at);
    const size_t value_length = Read16(bytes, at + 2);
    const size_t value_at = at + kAttributeHeaderBytes;
    if (Padded(value_length) > bytes.size() - value_at) {
      return absl::InvalidArgumentError("STUN: attribute overruns the message");
    }
    const StunAttribute attribute{type, bytes.substr(value_at, value_length), at};
    at = value_at + Padded(value_length);

    // After FINGERPRINT nothing counts; after MESSAGE-INTEGRITY only the SHA-256 variant and
    // FINGERPRINT; after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT.
    if (seen_fingerprint) continue;
    if (seen_integrity_sha256 && type != attr::kFingerprint) continue;
    if (seen_integrity && type != attr::kFingerprint && type != attr::kMessageIntegritySha256) {
      continue;
    }
    if (type == attr::kMessageIntegrity) seen_integrity = true;
    if (type == attr::kMessageIntegritySha256) seen_integrity_sha256 = true;
    if (type == attr::kFingerprint) seen_fingerprint = true;
    if (type < 0x8000 && !IsKnownRequiredAttribute(type) &&
        std::find(message.unknown_required_.begin(), message.unknown_required_.end(), type) ==
            message.unknown_required_.end()) {
      message.unknown_required_.push_back(type);
    }
    message.attributes_.push_back(attribute);
  }
  return message;
}

const StunAttribute* StunMessage::Find(uint16_t type) const {
  for (const StunAttribute& attribute : attributes_) {
    if (attribute.type == type) return &attribute;
  }
  return nullptr;
}

std::optional<std::string_view> StunMessage::FindValue(uint16_t type) const {
  const StunAttribute* attribute = Find(type);
  if (attribute == nullptr) return std::nullopt;
  return attribute->value;
}

// --- Readers ---------------------------------------------------------------------------------

namespace {

absl::StatusOr<NetAddress> ReadAddressMasked(std::string_view value, const TransactionId* id) {
  if (value.size() < 4) return absl::InvalidArgumentError("STUN address: too short");
  const uint8_t family = static_cast<uint8_t>(value[1]);
  uint16_t port = Read16(value, 2);
  if (id != nullptr) port ^= static_cast<uint16_t>(kMagicCookie >> 16);
  if (family == 0x01) {
    if (value.size() != 8) return absl::InvalidArgumentError("STUN address: bad IPv4 length");
    uint32_t ip = Read32(value, 4);
    if (id != nullptr) ip ^= kMagicCookie;
    return NetAddress::V4(ip, port);
  }
  if (family == 0x02) {
    if (value.size() != 20) return absl::InvalidArgumentError("STUN address: bad IPv6 length");
    std::array<uint8_t, 16> ip;
    std::memcpy(ip.data(), value.data() + 4, ip.size());
    if (id != nullptr) {
      // XOR with the magic cookie followed by the transaction id.
      const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
      for (size_t i = 0; i < 4; ++i) ip[i] ^= cookie[i];
      for (size_t i = 0; i < 12; ++i) ip[4 + i] ^= (*id)[i];
    }
    return NetAddress::V6(ip, port);
  }
  return absl::InvalidArgumentError("STUN address: unknown family");
}

}  // namespace

absl::StatusOr<NetAddress> ReadXorAddress(std::string_view value, const TransactionId& id) {
  return ReadAddressMasked(value, &id);
}

absl::StatusOr<NetAddress> ReadAddress(std::string_view value) {
  return ReadAddressMasked(value, nullptr);
}

absl::StatusOr<ErrorCode> ReadErrorCode(std::string_view value) {
  if (value.size() < 4) return absl::InvalidArgumentError("ERROR-CODE: too short");
  const int error_class = static_cast<uint8_t>(value[2]) & 0x07;
  const int number = static_cast<uint8_t>(value[3]);
  if (error_class < 3 || error_class > 6 || number > 99) {
    return absl::InvalidArgumentError("ERROR-CODE: code outside 300..699");
  }
  if (value.size() - 4 > kMaxTextBytes) {
    return absl::InvalidArgumentError("ERROR-CODE: reason too long");
  }
  return ErrorCode{error_class * 100 + number, value.substr(4)};
}

absl::StatusOr<std::vector<uint16_t>> ReadUnknownAttributes(std::string_view value) {
  if (value.size() % 2 != 0) return absl::InvalidArgumentError("UNKNOWN-ATTRIBUTES: odd length");
  std::vector<uint16_t> types;
  types.reserve(value.size() / 2);
  for (size_t at = 0; at < value.size(); at += 2) types.push_back(Read16(value, at));
  return types;
}

absl::StatusOr<uint32_t> ReadUint32(std::string_view value) {
  if (value.size() != 4) return absl::InvalidArgumentError("STUN: 32-bit attribute not 4 bytes");
  return Read32(value, 0);
}

absl::StatusOr<uint8_t> ReadRequestedTransport(std::string_view value) {
  if (value.size() != 4) return absl::InvalidArgumentError("REQUESTED-TRANSPORT: not 4 bytes");
  return static_cast<uint8_t>(value[0]);
}

absl::StatusOr<uint16_t> ReadChannelNumber(std::string_view value) {
  if (value.size() != 4) return absl::InvalidArgumentError("CHANNEL-NUMBER: not 4 bytes");
  const uint16_t channel = Read16(value, 0);
  if (channel < kMinChannel || channel > kMaxChannel) {
    return absl::InvalidArgumentError("CHANNEL-NUMBER: outside 0x4000..0x7FFF");
  }
  return channel;
}

absl::StatusOr<std::string_view> ReadText(uint16_t type, std::string_view value) {
  const size_t limit = type == attr::kUsername ? kMaxUsernameBytes : kMaxTextBytes;
  if (value.size() > limit) return absl::InvalidArgumentError("STUN: text attribute too long");
  return value;
}

// --- Integrity -------------------------------------------------------------------------------

std::string ShortTermKey(std::string_view password) { return std::string(password); }

std::string LongTermKey(std::string_view username, std::string_view realm,
                        std::string_view password) {
  std::string input;
  input.reserve(username.size() + realm.size() + password.size() + 2);
  input.append(username).append(":").append(realm).append(":").append(password);
  std::string key(16, '\0');
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), reinterpret_cast<unsigned char*>(key.data()), &length,
             EVP_md5(), nullptr);
  return key;
}

absl::Status VerifyFingerprint(const StunMessage& message) {
  const StunAttribute* fingerprint = message.Find(attr::kFingerprint);
  if (fingerprint == nullptr) return absl::NotFoundError("no FINGERPRINT");
  const std::string_view bytes = message.bytes();
  if (fingerprint->value.size() != kFingerprintBytes ||
      fingerprint->offset + kAttributeHeaderBytes + kFingerprintBytes != bytes.size()) {
    return absl::DataLossError("FINGERPRINT: malformed or not last");
  }
  const CoveredBytes covered = Covered(bytes, fingerprint->offset, kFingerprintBytes);
  uint32_t crc = CrcUpdate(0xFFFFFFFFu, {covered.type_and_length.data(), 4});
  crc = CrcUpdate(crc, covered.rest) ^ 0xFFFFFFFFu;
  if ((crc ^ kFingerprintXor) != Read32(fingerprint->value, 0)) {
    return absl::DataLossError("FINGERPRINT mismatch");
  }
  return absl::OkStatus();
}

namespace {

absl::Status VerifyHmac(const StunMessage& message, const StunAttribute* attribute,
                        HmacDigest digest_kind, std::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  const CoveredBytes covered = Covered(message.bytes(), attribute->offset, attribute->value.size());
  const size_t digest_length = Hmac(digest_kind, key, {covered.type_and_length.data(), 4},
                                    covered.rest, digest);
  if (digest_length == 0) return absl::InternalError("HMAC failed");
  if (attribute->value.size() > digest_length ||
      CRYPTO_memcmp(digest, attribute->value.data(), attribute->value.size()) != 0) {
    return absl::UnauthenticatedError("MESSAGE-INTEGRITY mismatch");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyMessageIntegrity(const StunMessage& message, std::string_view key) {
  const StunAttribute* integrity = message.Find(attr::kMessageIntegrity);
  if (integrity == nullptr) return absl::NotFoundError("no MESSAGE-INTEGRITY");
  if (integrity->value.size() != kSha1Bytes) {
    return absl::UnauthenticatedError("MESSAGE-INTEGRITY: not 20 bytes");
  }
  return VerifyHmac(message, integrity, HmacDigest::kSha1, key);
}

absl::Status VerifyMessageIntegritySha256(const StunMessage& message, std::string_view key) {
  const StunAttribute* integrity = message.Find(attr::kMessageIntegritySha256);
  if (integrity == nullptr) return absl::NotFoundError("no MESSAGE-INTEGRITY-SHA256");
  // Truncation to 16..32 bytes in steps of 4 is allowed (RFC 8489 §14.6).
  const size_t size = integrity->value.size();
  if (size < 16 || size > 32 || size % 4 != 0) {
    return absl::UnauthenticatedError("MESSAGE-INTEGRITY-SHA256: bad length");
  }
  return VerifyHmac(message, integrity, HmacDigest::kSha256, key);
}

// --- Builder ---------------------------------------------------------------------------------

StunMessageBuilder::StunMessageBuilder(uint16_t method, StunClass stun_class,
                                       const TransactionId& id)
    : StunMessageBuilder(method, stun_class, id, std::string()) {}

StunMessageBuilder::StunMessageBuilder(uint16_t method, StunClass stun_class,
                                       const TransactionId& id, std::string reuse)
    : buffer_(std::move(reuse)) {
  buffer_.clear();
  buffer_.reserve(256);
  Append16(buffer_, ComposeMessageType(method, stun_class));
  Append16(buffer_, 0);
  Append32(buffer_, kMagicCookie);
  buffer_.append(reinterpret_cast<const char*>(id.data()), id.size());
}

void StunMessageBuilder::SetLength(size_t body_bytes) {
  if (body_bytes > 0xFFFF) {
    overflow_ = true;
    return;
  }
  buffer_[2] = static_cast<char>(body_bytes >> 8);
  buffer_[3] = static_cast<char>(body_bytes & 0xFF);
}

void StunMessageBuilder::AppendHeader(uint16_t type, size_t value_length) {
  if (value_length > 0xFFFF) overflow_ = true;
  Append16(buffer_, type);
  Append16(buffer_, static_cast<uint16_t>(value_length));
}

void StunMessageBuilder::AddAttribute(uint16_t type, std::string_view value) {
  AppendHeader(type, value.size());
  buffer_.append(value);
  buffer_.append(Padded(value.size()) - value.size(), padding_);
  SetLength(buffer_.size() - kHeaderBytes);
}

void StunMessageBuilder::AddAddress(uint16_t type, const NetAddress& address) {
  std::string value;
  value.push_back(0);
  value.push_back(address.is_v6() ? 0x02 : 0x01);
  Append16(value, address.port());
  value.append(reinterpret_cast<const char*>(address.bytes().data()), address.is_v6() ? 16 : 4);
  AddAttribute(type, value);
}

void StunMessageBuilder::AddXorAddress(uint16_t type, const NetAddress& address) {
  // On the stack: this runs once per relayed Data indication.
  char value[20];
  value[0] = 0;
  value[1] = address.is_v6() ? 0x02 : 0x01;
  const uint16_t port = static_cast<uint16_t>(address.port() ^ (kMagicCookie >> 16));
  value[2] = static_cast<char>(port >> 8);
  value[3] = static_cast<char>(port & 0xFF);
  // The mask is the magic cookie followed by the transaction id: header bytes 4..19.
  const size_t ip_bytes = address.is_v6() ? 16 : 4;
  for (size_t i = 0; i < ip_bytes; ++i) {
    value[4 + i] =
        static_cast<char>(address.bytes()[i] ^ static_cast<uint8_t>(buffer_[4 + i]));
  }
  AddAttribute(type, std::string_view(value, 4 + ip_bytes));
}

void StunMessageBuilder::AddErrorCode(int code, std::string_view reason) {
  std::string value;
  Append16(value, 0);
  value.push_back(static_cast<char>((code / 100) & 0x07));
  value.push_back(static_cast<char>(code % 100));
  value.append(reason);
  AddAttribute(attr::kErrorCode, value);
}

void StunMessageBuilder::AddUnknownAttributes(const std::vector<uint16_t>& types) {
  std::string value;
  for (uint16_t type : types) Append16(value, type);
  AddAttribute(attr::kUnknownAttributes, value);
}

void StunMessageBuilder::AddUint32(uint16_t type, uint32_t number) {
  std::string value;
  Append32(value, number);
  AddAttribute(type, value);
}

void StunMessageBuilder::AddRequestedTransport(uint8_t protocol) {
  // Protocol then 3 reserved bytes (RFC 8656 §18.7).
  const char value[4] = {static_cast<char>(protocol), 0, 0, 0};
  AddAttribute(attr::kRequestedTransport, std::string_view(value, 4));
}

void StunMessageBuilder::AddChannelNumber(uint16_t channel) {
  std::string value;
  Append16(value, channel);
  Append16(value, 0);  // RFFU
  AddAttribute(attr::kChannelNumber, value);
}

void StunMessageBuilder::AddMessageIntegrity(std::string_view key) {
  const size_t offset = buffer_.size();
  SetLength(offset + kAttributeHeaderBytes + kSha1Bytes - kHeaderBytes);
  unsigned char digest[EVP_MAX_MD_SIZE] = {};
  Hmac(HmacDigest::kSha1, key, std::string_view(buffer_).substr(0, offset), {}, digest);
  AddAttribute(attr::kMessageIntegrity,
               std::string_view(reinterpret_cast<const char*>(digest), kSha1Bytes));
}

void StunMessageBuilder::AddMessageIntegritySha256(std::string_view key) {
  const size_t offset = buffer_.size();
  SetLength(offset + kAttributeHeaderBytes + 32 - kHeaderBytes);
  unsigned char digest[EVP_MAX_MD_SIZE] = {};
  Hmac(HmacDigest::kSha256, key, std::string_view(buffer_).substr(0, offset), {}, digest);
  AddAttribute(attr::kMessageIntegritySha256,
               std::string_view(reinterpret_cast<const char*>(digest), 32));
}

void StunMessageBuilder::AddFingerprint() {
  const size_t offset = buffer_.size();
  SetLength(offset + kAttributeHeaderBytes + kFingerprintBytes - kHeaderBytes);
  const uint32_t crc = CrcUpdate(0xFFFFFFFFu, buffer_) ^ 0xFFFFFFFFu;
  AddUint32(attr::kFingerprint, crc ^ kFingerprintXor);
}

absl::StatusOr<std::string> StunMessageBuilder::Finish() && {
  if (overflow_) return absl::InvalidArgumentError("STUN: attribute or message over 64 KiB");
  return std::move(buffer_);
}

// --- ChannelData -----------------------------------------------------------------------------

bool LooksLikeChannelData(std::string_view bytes) {
  return bytes.size() >= 4 && (static_cast<uint8_t>(bytes[0]) & 0xC0) == 0x40;
}

absl::StatusOr<ChannelData> ParseChannelData(std::string_view bytes, Framing framing) {
  if (bytes.size() < 4) {
    if (framing == Framing::kStream) return absl::UnavailableError("ChannelData: need more bytes");
    return absl::InvalidArgumentError("ChannelData: shorter than header");
  }
  const uint16_t channel = Read16(bytes, 0);
  if (channel < kMinChannel || channel > kMaxChannel) {
    return absl::InvalidArgumentError("ChannelData: channel outside 0x4000..0x7FFF");
  }
  const size_t length = Read16(bytes, 2);
  ChannelData result;
  result.channel = channel;
  if (framing == Framing::kStream) {
    result.frame_bytes = 4 + Padded(length);
    if (bytes.size() < result.frame_bytes) {
      return absl::UnavailableError("ChannelData: need more bytes");
    }
  } else {
    // Over UDP the datagram may carry padding or not (RFC 8656 §12.5); too short is discarded.
    if (bytes.size() - 4 < length) {
      return absl::InvalidArgumentError("ChannelData: length beyond the datagram");
    }
    result.frame_bytes = bytes.size();
  }
  result.data = bytes.substr(4, length);
  return result;
}

void AppendChannelData(uint16_t channel, std::string_view data, Framing framing,
                       std::string& out) {
  Append16(out, channel);
  Append16(out, static_cast<uint16_t>(data.size()));
  out.append(data);
  if (framing == Framing::kStream) out.append(Padded(data.size()) - data.size(), '\0');
}

}  // namespace causeway::stun
