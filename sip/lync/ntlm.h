#pragma once
// NTLM (MS-NLMP) server side, as a Lync front end speaks it for MS-SIPAE: builds the
// CHALLENGE_MESSAGE, verifies an NTLMv2 AUTHENTICATE_MESSAGE against the user's NT hash (the
// directory stores only MD4(UTF-16LE(password)), never the password), derives the exported session
// key and the sign/seal keys, and computes message signatures (MAC, extended session security).
//
// Only NTLMv2 is accepted: NTLMv1/LM responses, anonymous logons and clients that do not negotiate
// Unicode and extended session security are refused (the error says why). Pure: no I/O, no clock
// (callers pass the current FILETIME), randomness is passed in.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "sip/lync/crypto.h"

namespace causeway::sip::lync {

// MS-NLMP 2.2.2.5 NegotiateFlags.
inline constexpr uint32_t kNtlmNegotiateUnicode = 0x00000001;
inline constexpr uint32_t kNtlmNegotiateOem = 0x00000002;
inline constexpr uint32_t kNtlmRequestTarget = 0x00000004;
inline constexpr uint32_t kNtlmNegotiateSign = 0x00000010;
inline constexpr uint32_t kNtlmNegotiateSeal = 0x00000020;
inline constexpr uint32_t kNtlmNegotiateDatagram = 0x00000040;
inline constexpr uint32_t kNtlmNegotiateLmKey = 0x00000080;
inline constexpr uint32_t kNtlmNegotiateNtlm = 0x00000200;
inline constexpr uint32_t kNtlmAnonymous = 0x00000800;
inline constexpr uint32_t kNtlmNegotiateAlwaysSign = 0x00008000;
inline constexpr uint32_t kNtlmTargetTypeDomain = 0x00010000;
inline constexpr uint32_t kNtlmTargetTypeServer = 0x00020000;
inline constexpr uint32_t kNtlmNegotiateExtendedSessionSecurity = 0x00080000;
inline constexpr uint32_t kNtlmNegotiateIdentify = 0x00100000;
inline constexpr uint32_t kNtlmNegotiateTargetInfo = 0x00800000;
inline constexpr uint32_t kNtlmNegotiateVersion = 0x02000000;
inline constexpr uint32_t kNtlm128 = 0x20000000;
inline constexpr uint32_t kNtlmNegotiateKeyExchange = 0x40000000;
inline constexpr uint32_t kNtlm56 = 0x80000000;

// The flags offered in a connectionless (SIP) CHALLENGE: what pidgin-sipe and Lync clients require
// (Unicode, NTLM, always-sign, extended session security, target info, sign, datagram, identify,
// key exchange, 128/56-bit).
inline constexpr uint32_t kNtlmConnectionlessServerFlags =
    kNtlmNegotiateUnicode | kNtlmRequestTarget | kNtlmNegotiateSign | kNtlmNegotiateDatagram |
    kNtlmNegotiateNtlm | kNtlmNegotiateAlwaysSign | kNtlmTargetTypeDomain |
    kNtlmNegotiateExtendedSessionSecurity | kNtlmNegotiateIdentify | kNtlmNegotiateTargetInfo |
    kNtlmNegotiateVersion | kNtlm128 | kNtlmNegotiateKeyExchange | kNtlm56;

// Names the server announces (TargetName and the TargetInfo AV pairs). NetBIOS names are usually
// upper case ("CONTOSO", "FE01"); DNS names lower case. Empty fields are left out.
struct NtlmServerNames {
  std::string netbios_domain;
  std::string netbios_computer;
  std::string dns_domain;
  std::string dns_computer;
  std::string dns_tree;
};

// What the server keeps between its CHALLENGE and the client's AUTHENTICATE.
struct NtlmChallengeState {
  std::string negotiate_message;  // empty in connectionless mode (SIP)
  std::string challenge_message;  // the bytes sent (needed for the MIC)
  std::array<uint8_t, 8> server_challenge{};
  uint32_t flags = 0;  // flags offered in the CHALLENGE
};

// Keys of an established NTLM session (MS-NLMP 3.4.5). `flags` are the negotiated flags (from the
// AUTHENTICATE message); they decide how MACs are computed.
struct NtlmSessionKeys {
  uint32_t flags = 0;
  Bytes16 exported_session_key{};
  Bytes16 client_sign_key{};
  Bytes16 server_sign_key{};
  Bytes16 client_seal_key{};
  Bytes16 server_seal_key{};
};

struct NtlmAuthResult {
  std::string user;         // as sent by the client (UTF-8)
  std::string domain;       // as sent by the client (UTF-8), may be empty
  std::string workstation;  // as sent by the client (UTF-8), may be empty
  NtlmSessionKeys keys;
};

// The user's NT hash (MD4 of the UTF-16LE password) for the user and domain the client sent, or
// nullopt when the user is unknown or disabled. The integrator wires it to the user directory.
using NtHashLookup =
    std::function<std::optional<Bytes16>(std::string_view user, std::string_view domain)>;

// FILETIME: 100 ns ticks since 1601-01-01 UTC (the NTLMv2 timestamp unit).
uint64_t FileTimeFromUnix(std::chrono::system_clock::time_point t);

// NTOWFv2 = HMAC_MD5(NT hash, UTF-16LE(Uppercase(user) + domain)). Uppercasing is ASCII-only.
Bytes16 NtowfV2(const Bytes16& nt_hash, std::string_view utf8_user, std::string_view utf8_domain);

// UTF-8 <-> UTF-16LE (invalid UTF-8 sequences become U+FFFD; unpaired surrogates likewise).
std::string NtlmUtf16Le(std::string_view utf8);
std::string NtlmUtf8FromUtf16Le(std::string_view utf16le);

// Builds a CHALLENGE_MESSAGE. `negotiate_message` empty: connectionless (SIP; flags =
// kNtlmConnectionlessServerFlags). Otherwise the NEGOTIATE is parsed and the offered flags follow
// the client's request (Unicode, NTLM, extended session security and target info always set).
// `now_filetime` != 0 adds an MsvAvTimestamp AV pair. `server_challenge` must be random.
absl::StatusOr<NtlmChallengeState> BuildNtlmChallenge(
    const NtlmServerNames& names, std::string_view negotiate_message, uint64_t now_filetime,
    const std::array<uint8_t, 8>& server_challenge);

struct NtlmVerifyOptions {
  uint64_t now_filetime = 0;  // 0: do not check the NTLMv2 timestamp
  std::chrono::seconds max_clock_skew = std::chrono::hours(36);  // MS-NLMP MaxLifetime default
};

// Verifies an AUTHENTICATE_MESSAGE answering `challenge`: NTLMv2 proof, timestamp (if asked), MIC
// (when the client flags one), then derives the session keys. Errors are PermissionDenied for bad
// credentials/unknown users, InvalidArgument for malformed or refused (v1, anonymous) messages.
absl::StatusOr<NtlmAuthResult> VerifyNtlmAuthenticate(const NtlmChallengeState& challenge,
                                                      std::string_view authenticate_message,
                                                      const NtHashLookup& lookup,
                                                      const NtlmVerifyOptions& options = {});

// The user and domain names an AUTHENTICATE_MESSAGE carries (UTF-8, as sent), read without
// checking anything else: for rate-limiting failed sign-ins before the NTLMv2 check runs.
struct NtlmLogin {
  std::string user;
  std::string domain;
};
absl::StatusOr<NtlmLogin> PeekNtlmAuthenticateLogin(std::string_view authenticate_message);

// SIGNKEY/SEALKEY (MS-NLMP 3.4.5.2/3.4.5.3) for both directions from the exported session key.
NtlmSessionKeys DeriveNtlmSessionKeys(uint32_t flags, const Bytes16& exported_session_key);

// NTLMSSP_MESSAGE_SIGNATURE with extended session security (MS-NLMP 3.4.4.2): version 1,
// HMAC_MD5(sign_key, seq || message)[0..7] (RC4-encrypted with the seal key when key exchange was
// negotiated; in datagram mode the RC4 key is MD5(seal_key || seq), fresh per message), seq.
std::array<uint8_t, 16> NtlmMac(uint32_t flags, const Bytes16& sign_key, const Bytes16& seal_key,
                                uint32_t seq, std::string_view message);

}  // namespace causeway::sip::lync
