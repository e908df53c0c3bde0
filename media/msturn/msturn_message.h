#pragma once
// MS-TURN ([MS-TURN], draft-rosenberg-midcom-turn-08 as Office Communicator / Lync speak it):
// zero-copy parsing, per-message dialect detection against RFC 8489 STUN, typed readers of the
// requests a relay answers (Allocate, Send, Set Active Destination), encoders of its answers
// (Allocate success/error, Set Active Destination success/error, Data indication), MESSAGE-
// INTEGRITY computation/verification and the TCP framing of [MS-TURN] 2.1.4. No I/O.
//
// Wire differences from RFC 8489 (see README.md for the sources):
// - the 20-byte header is type, length, then a 16-byte transaction id (no magic cookie there);
// - the first attribute of every message is MAGIC-COOKIE (0x000F) = 0x72C64BC6;
// - attributes are not padded to 4 bytes (libnice's OC2007 mode, what OCS/Lync accept);
// - REALM is 0x0015 and NONCE 0x0014 (swapped against RFC 8489), DESTINATION-ADDRESS 0x0011 and
//   REMOTE-ADDRESS 0x0012 are plain (not XOR) addresses, XOR-MAPPED-ADDRESS is 0x8020 and XORs
//   with the first 4 bytes of the transaction id;
// - MESSAGE-INTEGRITY is HMAC-SHA1 with the long-term key MD5(user:realm:password) over the
//   header (length = through MESSAGE-INTEGRITY) and the attributes before it, zero-padded to a
//   multiple of 64 bytes.
//
// Ownership: a MsTurnMessage and the typed request views hold string_views into the bytes given
// to Parse; keep the receive buffer alive while they are used.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::msturn {

inline constexpr uint32_t kTurnMagicCookie = 0x72C64BC6;  // [MS-TURN] 2.2.2.8
inline constexpr size_t kHeaderBytes = 20;
inline constexpr size_t kMaxMessageBytesHardCap = kHeaderBytes + 0xFFFF;
inline constexpr size_t kMaxRealmBytes = 128;  // [MS-TURN] 2.2.2.14

using TransactionId = std::array<uint8_t, 16>;

// Full 16-bit message types ([MS-TURN] 2.2.1). They predate RFC 5389's method/class split: the
// Data indication 0x0115 decodes there as "method 5, error response".
namespace type {
inline constexpr uint16_t kAllocateRequest = 0x0003;
inline constexpr uint16_t kAllocateResponse = 0x0103;
inline constexpr uint16_t kAllocateErrorResponse = 0x0113;
inline constexpr uint16_t kSendRequest = 0x0004;  // never answered ([MS-TURN] 2.2.1)
inline constexpr uint16_t kDataIndication = 0x0115;
inline constexpr uint16_t kSetActiveDestinationRequest = 0x0006;
inline constexpr uint16_t kSetActiveDestinationResponse = 0x0106;
inline constexpr uint16_t kSetActiveDestinationErrorResponse = 0x0116;
}  // namespace type

namespace attr {
// Comprehension-required ([MS-TURN] 2.2.2): any other type below 0x8000 gets 420.
inline constexpr uint16_t kMappedAddress = 0x0001;
inline constexpr uint16_t kUsername = 0x0006;
inline constexpr uint16_t kMessageIntegrity = 0x0008;
inline constexpr uint16_t kErrorCode = 0x0009;
inline constexpr uint16_t kUnknownAttributes = 0x000A;
inline constexpr uint16_t kLifetime = 0x000D;
inline constexpr uint16_t kAlternateServer = 0x000E;
inline constexpr uint16_t kMagicCookie = 0x000F;
inline constexpr uint16_t kBandwidth = 0x0010;
inline constexpr uint16_t kDestinationAddress = 0x0011;
inline constexpr uint16_t kRemoteAddress = 0x0012;
inline constexpr uint16_t kData = 0x0013;
inline constexpr uint16_t kNonce = 0x0014;  // RFC 8489's REALM number
inline constexpr uint16_t kRealm = 0x0015;  // RFC 8489's NONCE number
inline constexpr uint16_t kRequestedAddressFamily = 0x0017;
// Comprehension-optional.
inline constexpr uint16_t kMsVersion = 0x8008;
inline constexpr uint16_t kXorMappedAddress = 0x8020;
inline constexpr uint16_t kMsAlternateHostName = 0x8032;
inline constexpr uint16_t kAppId = 0x8037;
inline constexpr uint16_t kSecureTag = 0x8039;
inline constexpr uint16_t kMsSequenceNumber = 0x8050;
inline constexpr uint16_t kMsServiceQuality = 0x8055;
inline constexpr uint16_t kMsAlternateMappedAddress = 0x8090;
inline constexpr uint16_t kMultiplexedSessionId = 0x8095;
}  // namespace attr

bool IsKnownRequiredAttribute(uint16_t type);

// --- Dialect detection -----------------------------------------------------------------------

enum class Dialect : uint8_t {
  kNone,     // neither: ChannelData, raw media after Set Active Destination, or garbage
  kRfc8489,  // RFC 8489 / 8656 STUN-TURN (magic cookie in the header)
  kMsTurn,   // MS-TURN control message (MAGIC-COOKIE attribute first)
};

// True when `bytes` is exactly one MS-TURN message by its fixed prefix: top two bits zero, length
// field = size - 20, and a first attribute MAGIC-COOKIE (type 0x000F, length 4, 0x72C64BC6).
bool LooksLikeMsTurn(std::string_view bytes);
// Per datagram (or de-framed TCP control frame). MS-TURN is tested first: its transaction id can
// hold 0x2112A442 by chance (2^-32), an RFC 8489 message never starts with that attribute.
Dialect DetectDialect(std::string_view bytes);

// --- Parsing ----------------------------------------------------------------------------------

struct MsTurnLimits {
  size_t max_message_bytes = 1500;  // one UDP datagram; TCP frames may raise it to the hard cap
  size_t max_attributes = 32;
};

struct MsTurnAttribute {
  uint16_t type = 0;
  std::string_view value;  // points into the parsed bytes
  size_t offset = 0;       // of the attribute header within the message
};

class MsTurnMessage {
 public:
  // Checks the header, the leading MAGIC-COOKIE attribute and the attribute framing; `bytes` must
  // be exactly one message. Attributes are read unpadded; if that walk does not end exactly at
  // the message end, a 4-byte-aligned walk is tried (a sender padding like RFC 8489). Anything
  // after MESSAGE-INTEGRITY is ignored (not listed), as STUN does.
  static absl::StatusOr<MsTurnMessage> Parse(std::string_view bytes,
                                             const MsTurnLimits& limits = {});
  // The message would point into a temporary that dies at the end of the statement.
  static absl::StatusOr<MsTurnMessage> Parse(std::string&& bytes,
                                             const MsTurnLimits& limits = {}) = delete;

  uint16_t message_type() const { return message_type_; }
  const TransactionId& transaction_id() const { return transaction_id_; }
  std::string_view bytes() const { return bytes_; }
  bool padded() const { return padded_; }  // attributes were 4-byte aligned
  const absl::InlinedVector<MsTurnAttribute, 10>& attributes() const { return attributes_; }
  // Comprehension-required types not understood: a request gets 420 + UNKNOWN-ATTRIBUTES.
  const absl::InlinedVector<uint16_t, 4>& unknown_required() const { return unknown_required_; }

  const MsTurnAttribute* Find(uint16_t type) const;
  std::optional<std::string_view> FindValue(uint16_t type) const;

 private:
  std::string_view bytes_;
  uint16_t message_type_ = 0;
  TransactionId transaction_id_{};
  bool padded_ = false;
  absl::InlinedVector<MsTurnAttribute, 10> attributes_;
  absl::InlinedVector<uint16_t, 4> unknown_required_;
};

// --- Typed readers ----------------------------------------------------------------------------
// MAPPED-ADDRESS, DESTINATION-ADDRESS, REMOTE-ADDRESS, ALTERNATE-SERVER have RFC 8489's plain
// address format: read them with stun::ReadAddress. ERROR-CODE: stun::ReadErrorCode. LIFETIME,
// MS-VERSION, BANDWIDTH: stun::ReadUint32. (media/stun/stun_message.h)

// XOR-MAPPED-ADDRESS (0x8020): port XOR the first 2 bytes of the transaction id, IPv4 XOR its
// first 4 bytes, IPv6 XOR all 16 (libnice stun_usage_turn_process, OC2007 branch).
absl::StatusOr<NetAddress> ReadMsXorAddress(std::string_view value, const TransactionId& id);

// MS-SEQUENCE-NUMBER ([MS-TURN] 2.2.2.21): 20-byte connection id chosen by the server in the
// Allocate response, then a 32-bit sequence number the client increments per request.
struct MsSequenceNumber {
  std::string_view connection_id;  // 20 bytes
  uint32_t sequence = 0;
};
absl::StatusOr<MsSequenceNumber> ReadMsSequenceNumber(std::string_view value);

// REQUESTED-ADDRESS-FAMILY (0x0017): 0x01 IPv4, 0x02 IPv6, then 3 reserved bytes.
absl::StatusOr<uint8_t> ReadRequestedAddressFamily(std::string_view value);

// Allocate request (first or authenticated). Absent attributes stay empty.
struct AllocateRequest {
  std::optional<std::string_view> username, realm, nonce;
  std::optional<uint32_t> lifetime, ms_version, bandwidth;
  std::optional<uint8_t> requested_family;
  std::optional<MsSequenceNumber> sequence;
  bool has_integrity = false;
};
absl::StatusOr<AllocateRequest> ReadAllocateRequest(const MsTurnMessage& message);

// Send request: DESTINATION-ADDRESS and DATA are required; libnice adds USERNAME, MS-VERSION,
// MS-SEQUENCE-NUMBER and REALM (the realm from the Allocate, for the integrity key).
struct SendRequest {
  NetAddress destination;
  std::string_view data;
  std::optional<std::string_view> username, realm;
  std::optional<MsSequenceNumber> sequence;
  bool has_integrity = false;
};
absl::StatusOr<SendRequest> ReadSendRequest(const MsTurnMessage& message);

// Set Active Destination request: DESTINATION-ADDRESS selects the peer whose data then flows
// unencapsulated; absent or 0.0.0.0:0 clears it ([IETFDRAFT-TURN-08] 7.5).
struct SetActiveDestinationRequest {
  std::optional<NetAddress> destination;  // nullopt = clear the active destination
  std::optional<std::string_view> username, realm;
  std::optional<MsSequenceNumber> sequence;
  bool has_integrity = false;
};
absl::StatusOr<SetActiveDestinationRequest> ReadSetActiveDestinationRequest(
    const MsTurnMessage& message);

// Data indication (what the relay sends; readers exist for tests and a client).
struct DataIndication {
  NetAddress remote;
  std::string_view data;
};
absl::StatusOr<DataIndication> ReadDataIndication(const MsTurnMessage& message);

// --- Integrity --------------------------------------------------------------------------------
// Key: stun::LongTermKey(username, realm, password) (MD5, 16 bytes), the same derivation.

enum class IntegrityDigest : uint8_t {
  kSha1,    // 20-byte MESSAGE-INTEGRITY, every MS-Version
  kSha256,  // 32-byte MESSAGE-INTEGRITY, MS-Version >= 3 ([MS-TURN] 2.2.2.17); unverified
};

// OK when MESSAGE-INTEGRITY is present and matches `key` (20 bytes: HMAC-SHA1, 32: HMAC-SHA256);
// NotFound when absent; Unauthenticated on a mismatch or another length.
absl::Status VerifyMessageIntegrity(const MsTurnMessage& message, std::string_view key);

// --- Encoding ---------------------------------------------------------------------------------

class MsTurnMessageBuilder {
 public:
  // Starts the message and adds MAGIC-COOKIE, which must come first.
  MsTurnMessageBuilder(uint16_t message_type, const TransactionId& id);

  void AddAttribute(uint16_t type, std::string_view value);
  void AddAddress(uint16_t type, const NetAddress& address);  // MAPPED/DESTINATION/REMOTE
  void AddMsXorAddress(uint16_t type, const NetAddress& address);
  void AddErrorCode(int code, std::string_view reason);
  void AddUnknownAttributes(const absl::InlinedVector<uint16_t, 4>& types);
  void AddUint32(uint16_t type, uint32_t value);
  void AddMsSequenceNumber(std::string_view connection_id, uint32_t sequence);
  // Must be the last attribute.
  void AddMessageIntegrity(std::string_view key, IntegrityDigest digest = IntegrityDigest::kSha1);

  // The encoded message; an error if an attribute or the message went over the 16-bit lengths.
  absl::StatusOr<std::string> Finish() &&;

 private:
  std::string buffer_;
  bool overflow_ = false;
};

// Answers the relay sends, each a complete message. `key` empty = no MESSAGE-INTEGRITY (the 401
// challenge must not carry one, [MS-TURN] 3.3.5.1).
struct AllocateChallenge {
  int code = 401;  // 401, 432 Missing Username, 436 Unknown User, 438 Stale Nonce, ...
  std::string_view reason = "Unauthorized";
  std::string_view realm;
  std::string_view nonce;
  std::optional<uint32_t> ms_version;
};
absl::StatusOr<std::string> EncodeAllocateError(const TransactionId& id,
                                                const AllocateChallenge& challenge,
                                                std::string_view key = {});

struct AllocateSuccess {
  NetAddress relayed;    // MAPPED-ADDRESS: the allocated public transport address
  NetAddress reflexive;  // XOR-MAPPED-ADDRESS (0x8020): the client's address as seen
  uint32_t lifetime = 0;
  std::optional<uint32_t> ms_version;
  std::string_view connection_id;  // 20 bytes for MS-SEQUENCE-NUMBER, empty = omit it
  uint32_t sequence = 0;
};
absl::StatusOr<std::string> EncodeAllocateSuccess(const TransactionId& id,
                                                  const AllocateSuccess& success,
                                                  std::string_view key);

absl::StatusOr<std::string> EncodeSetActiveDestinationSuccess(const TransactionId& id,
                                                              std::optional<uint32_t> ms_version,
                                                              std::string_view key);
absl::StatusOr<std::string> EncodeSetActiveDestinationError(const TransactionId& id, int code,
                                                            std::string_view reason,
                                                            std::string_view key);

// Data path: appends a Data indication (MAGIC-COOKIE, REMOTE-ADDRESS, DATA; unauthenticated, as
// libnice expects) to `out`, which the caller reuses so nothing is allocated per packet once it
// has grown. Returns false (and appends nothing) when `data` does not fit the 16-bit length.
bool AppendDataIndication(const TransactionId& id, const NetAddress& remote,
                          std::string_view data, std::string& out);

// --- TCP framing ([MS-TURN] 2.1.4) -----------------------------------------------------------

enum class TcpFrameType : uint8_t { kControl = 0x02, kData = 0x03 };

struct TcpFrame {
  TcpFrameType type = TcpFrameType::kControl;
  std::string_view payload;  // a TURN message (kControl) or end-to-end data (kData)
  size_t frame_bytes = 0;    // 4 + payload: what to consume
};

// Unavailable: need more bytes. InvalidArgument: unknown type or non-zero reserved byte (the
// stream is not MS-TURN framed; drop the connection).
absl::StatusOr<TcpFrame> ParseTcpFrame(std::string_view bytes);
void AppendTcpFrame(TcpFrameType type, std::string_view payload, std::string& out);

}  // namespace causeway::msturn
