#pragma once
// STUN (RFC 8489) and TURN (RFC 8656) messages: zero-copy decoding over the received bytes, typed
// attribute readers, FINGERPRINT / MESSAGE-INTEGRITY(-SHA256) verification, and a builder that
// encodes with padding and appends the integrity and fingerprint attributes last. No I/O.
//
// Ownership: a StunMessage holds string_views into the bytes given to Parse; the caller keeps
// those bytes alive (a receive buffer) as long as the message is used.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::stun {

inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr size_t kHeaderBytes = 20;
// The 16-bit length field bounds any message; UDP callers use the smaller StunLimits default.
inline constexpr size_t kMaxMessageBytesHardCap = kHeaderBytes + 0xFFFF;

using TransactionId = std::array<uint8_t, 12>;

enum class StunClass : uint8_t { kRequest = 0, kIndication = 1, kSuccess = 2, kError = 3 };

namespace method {
inline constexpr uint16_t kBinding = 0x001;
inline constexpr uint16_t kAllocate = 0x003;  // RFC 8656 §18
inline constexpr uint16_t kRefresh = 0x004;
inline constexpr uint16_t kSend = 0x006;
inline constexpr uint16_t kData = 0x007;
inline constexpr uint16_t kCreatePermission = 0x008;
inline constexpr uint16_t kChannelBind = 0x009;
}  // namespace method

namespace attr {
// RFC 8489 §18.3 comprehension-required (< 0x8000) ...
inline constexpr uint16_t kMappedAddress = 0x0001;
inline constexpr uint16_t kUsername = 0x0006;
inline constexpr uint16_t kMessageIntegrity = 0x0008;
inline constexpr uint16_t kErrorCode = 0x0009;
inline constexpr uint16_t kUnknownAttributes = 0x000A;
inline constexpr uint16_t kRealm = 0x0014;
inline constexpr uint16_t kNonce = 0x0015;
inline constexpr uint16_t kMessageIntegritySha256 = 0x001C;
inline constexpr uint16_t kPasswordAlgorithm = 0x001D;
inline constexpr uint16_t kUserhash = 0x001E;
inline constexpr uint16_t kXorMappedAddress = 0x0020;
// ... RFC 8656 §18 (TURN) ...
inline constexpr uint16_t kChannelNumber = 0x000C;
inline constexpr uint16_t kLifetime = 0x000D;
inline constexpr uint16_t kXorPeerAddress = 0x0012;
inline constexpr uint16_t kData = 0x0013;
inline constexpr uint16_t kXorRelayedAddress = 0x0016;
inline constexpr uint16_t kRequestedAddressFamily = 0x0017;
inline constexpr uint16_t kEvenPort = 0x0018;
inline constexpr uint16_t kRequestedTransport = 0x0019;
inline constexpr uint16_t kDontFragment = 0x001A;
inline constexpr uint16_t kReservationToken = 0x0022;
// ... RFC 8445 (ICE) ...
inline constexpr uint16_t kPriority = 0x0024;
inline constexpr uint16_t kUseCandidate = 0x0025;
// comprehension-optional (>= 0x8000).
inline constexpr uint16_t kAdditionalAddressFamily = 0x8000;
inline constexpr uint16_t kAddressErrorCode = 0x8001;
inline constexpr uint16_t kPasswordAlgorithms = 0x8002;
inline constexpr uint16_t kAlternateDomain = 0x8003;
inline constexpr uint16_t kIcmp = 0x8004;
inline constexpr uint16_t kSoftware = 0x8022;
inline constexpr uint16_t kAlternateServer = 0x8023;
inline constexpr uint16_t kFingerprint = 0x8028;
inline constexpr uint16_t kIceControlled = 0x8029;
inline constexpr uint16_t kIceControlling = 0x802A;
}  // namespace attr

// True for the comprehension-required types this codec (and the relay built on it) understands.
bool IsKnownRequiredAttribute(uint16_t type);

// Message type = method bits interleaved with the two class bits (RFC 8489 §5, figure 3).
uint16_t ComposeMessageType(uint16_t method, StunClass stun_class);

struct StunLimits {
  size_t max_message_bytes = 1500;  // one UDP datagram; streams may raise it up to the hard cap
  size_t max_attributes = 64;
};

struct StunAttribute {
  uint16_t type = 0;
  std::string_view value;  // without padding, points into the parsed bytes
  size_t offset = 0;       // of the attribute header within the message
};

class StunMessage {
 public:
  // Checks the header (zero top bits, magic cookie, length multiple of 4 and equal to the bytes
  // after the header) and the attribute framing; `bytes` must be exactly one message.
  // Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and
  // anything after FINGERPRINT, are ignored (RFC 8489 §14.5, §14.6, §14.7): not listed.
  static absl::StatusOr<StunMessage> Parse(std::string_view bytes, const StunLimits& limits = {});

  uint16_t message_type() const { return message_type_; }
  uint16_t method() const;
  StunClass stun_class() const;
  const TransactionId& transaction_id() const { return transaction_id_; }
  std::string_view bytes() const { return bytes_; }
  const absl::InlinedVector<StunAttribute, 8>& attributes() const { return attributes_; }
  // Comprehension-required types not understood: a server answers a request with 420 and
  // UNKNOWN-ATTRIBUTES listing them (RFC 8489 §6.3.1.1).
  const absl::InlinedVector<uint16_t, 4>& unknown_required() const { return unknown_required_; }

  // The first attribute of `type` (the only one that counts, RFC 8489 §14), or nullptr.
  const StunAttribute* Find(uint16_t type) const;
  std::optional<std::string_view> FindValue(uint16_t type) const;

 private:
  std::string_view bytes_;
  uint16_t message_type_ = 0;
  TransactionId transaction_id_{};
  absl::InlinedVector<StunAttribute, 8> attributes_;
  absl::InlinedVector<uint16_t, 4> unknown_required_;
};

// True when `bytes` could be a STUN message (top bits 00 and the magic cookie), without parsing:
// the demultiplexing test RFC 7983 uses between STUN, ChannelData, DTLS and RTP.
bool LooksLikeStun(std::string_view bytes);

// --- Typed readers of attribute values ---------------------------------------------------------

// XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (RFC 8489 §14.2).
absl::StatusOr<NetAddress> ReadXorAddress(std::string_view value, const TransactionId& id);
// MAPPED-ADDRESS, ALTERNATE-SERVER (RFC 8489 §14.1).
absl::StatusOr<NetAddress> ReadAddress(std::string_view value);

struct ErrorCode {
  int code = 0;  // class * 100 + number, 300..699
  std::string_view reason;
};
absl::StatusOr<ErrorCode> ReadErrorCode(std::string_view value);
absl::StatusOr<std::vector<uint16_t>> ReadUnknownAttributes(std::string_view value);
// LIFETIME, PRIORITY and other 32-bit values.
absl::StatusOr<uint32_t> ReadUint32(std::string_view value);
// REQUESTED-TRANSPORT: the IP protocol number (17 = UDP).
absl::StatusOr<uint8_t> ReadRequestedTransport(std::string_view value);
// CHANNEL-NUMBER: 0x4000..0x7FFF (kMinChannel..kMaxChannel).
absl::StatusOr<uint16_t> ReadChannelNumber(std::string_view value);
// USERNAME (< 513 bytes), REALM, NONCE, SOFTWARE (< 763 bytes): UTF-8 text checked for length
// only; the value is returned as is.
absl::StatusOr<std::string_view> ReadText(uint16_t type, std::string_view value);

// --- Integrity -----------------------------------------------------------------------------

// Short-term credentials: the key is the password (RFC 8489 §9.1.1; OpaqueString preparation is
// the identity for the ASCII passwords we issue).
std::string ShortTermKey(std::string_view password);
// Long-term credentials: MD5(username ":" realm ":" password), 16 raw bytes (§9.2.2).
std::string LongTermKey(std::string_view username, std::string_view realm,
                        std::string_view password);

// HMAC over `pieces` fed in order without copying, through a per-thread OpenSSL context. Writes
// the MAC (20 or 32 bytes) to `out` (room for EVP_MAX_MD_SIZE = 64); returns its length, 0 on
// failure. The verifiers below and the MS-TURN codec (its own covered byte range) use it.
enum class HmacDigest : uint8_t { kSha1, kSha256 };
size_t HmacPieces(HmacDigest digest, std::string_view key,
                  std::initializer_list<std::string_view> pieces, unsigned char* out);

// OK when FINGERPRINT is present, last, and matches; NotFound when absent; DataLoss on mismatch.
absl::Status VerifyFingerprint(const StunMessage& message);
// OK when MESSAGE-INTEGRITY is present and matches for `key`; NotFound when absent;
// Unauthenticated on mismatch.
absl::Status VerifyMessageIntegrity(const StunMessage& message, std::string_view key);
absl::Status VerifyMessageIntegritySha256(const StunMessage& message, std::string_view key);

// --- Encoding ------------------------------------------------------------------------------

class StunMessageBuilder {
 public:
  StunMessageBuilder(uint16_t method, StunClass stun_class, const TransactionId& id);
  // Encodes into `reuse` (cleared first): a caller that moves its buffer in and takes it back from
  // Finish() encodes without allocating once the buffer has grown.
  StunMessageBuilder(uint16_t method, StunClass stun_class, const TransactionId& id,
                     std::string reuse);

  // The padding byte after values whose length is not a multiple of 4. RFC 8489 says it is
  // ignored by receivers; RFC 5769's vectors use 0x20, so byte-exact re-encoding needs a choice.
  void set_padding_byte(char padding) { padding_ = padding; }

  void AddAttribute(uint16_t type, std::string_view value);
  void AddXorAddress(uint16_t type, const NetAddress& address);
  void AddAddress(uint16_t type, const NetAddress& address);
  void AddErrorCode(int code, std::string_view reason);
  void AddUnknownAttributes(const std::vector<uint16_t>& types);
  void AddUint32(uint16_t type, uint32_t value);
  void AddRequestedTransport(uint8_t protocol);
  void AddChannelNumber(uint16_t channel);
  // Integrity over everything so far; add them after all other attributes, SHA-1 before SHA-256,
  // then the fingerprint.
  void AddMessageIntegrity(std::string_view key);
  void AddMessageIntegritySha256(std::string_view key);
  void AddFingerprint();

  // The encoded message; an error if a value or the message went over the 16-bit lengths.
  absl::StatusOr<std::string> Finish() &&;

 private:
  void AppendHeader(uint16_t type, size_t value_length);
  void SetLength(size_t body_bytes);

  std::string buffer_;
  char padding_ = 0;
  bool overflow_ = false;
};

// --- ChannelData (RFC 8656 §12.4) ------------------------------------------------------------

inline constexpr uint16_t kMinChannel = 0x4000;
// RFC 8656 §12 narrowed channels to 0x4000..0x4FFF; RFC 5766 allowed up to 0x7FFF and its clients
// (coturn's turnutils among them) still pick numbers there. Both are accepted: 0x5000..0x7FFF
// (first byte 80..127) collides with nothing in the RFC 7983 demultiplexing, which leaves that
// range unassigned; below 0x4000 and from 0x8000 up (STUN, DTLS, RTP) stay refused.
inline constexpr uint16_t kMaxChannel = 0x7FFF;

enum class Framing : uint8_t {
  kDatagram,  // UDP: one message per datagram, padding optional
  kStream,    // TCP/TLS: padded to a multiple of 4 so the next message starts aligned
};

struct ChannelData {
  uint16_t channel = 0;
  std::string_view data;  // points into the parsed bytes
  size_t frame_bytes = 0;  // bytes to consume: header + data (+ padding over streams)
};

// True when the first byte says ChannelData (0b01, RFC 7983 range 64..79 once channels are valid).
bool LooksLikeChannelData(std::string_view bytes);
// Over streams, Unavailable means "read more" (the frame is not complete yet). InvalidArgument:
// channel outside 0x4000..0x7FFF or, over datagrams, a length beyond the datagram.
absl::StatusOr<ChannelData> ParseChannelData(std::string_view bytes, Framing framing);
// Appends a ChannelData message to `out` (padded over streams).
void AppendChannelData(uint16_t channel, std::string_view data, Framing framing, std::string& out);

}  // namespace causeway::stun
