#pragma once
// MRAS, the Media Relay Authentication Service (MS-AVEDGEA): a signed-in Lync client asks for
// A/V edge (TURN) credentials with a SERVICE to the MRAS URI it got in provisioning
// (MS-OCSPROT 2.5.3 step 11) and gets a username/password pair, how long it lasts, and where the
// relays are. What pidgin-sipe 1.25 sends and reads (sipe-media.c):
//
//   SERVICE <mrasUri>                 Content-Type: application/msrtc-media-relay-auth+xml
//   <request requestID="7" from="sip:alice@x" version="1.0" to="<mrasUri>"
//            xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp">
//     <credentialsRequest credentialsRequestID="7">
//       <identity>sip:alice@x</identity><location>internet</location><duration>480</duration>
//     </credentialsRequest></request>
//
//   200 <response xmlns="..mrasp" requestID="7" version="1.0" serverVersion="2.0" to=".." from=".."
//            reasonPhrase="OK"><credentialsResponse credentialsRequestID="7">
//     <credentials><username>..</username><password>..</password><duration>480</duration>
//     </credentials><mediaRelayList><mediaRelay><location>internet</location>
//     <hostName>relay.x</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay>
//     </mediaRelayList></credentialsResponse></response>
//
// SIPE takes the credentials only when reasonPhrase is "OK" and reads only hostName (never
// directIPAddress), so a relay is always sent as hostName (MS-AVEDGEA 2.2.3.1.3.2 allows an IP
// address there). Durations are minutes (480 = the 8 hours Lync clients ask for).
//
// Errors (MS-AVEDGEA 3.1.5.1): a request that is not SERVICE or not of this content type gets a
// SIP error without a body (415 carries Accept); every later failure carries a <response> whose
// reasonPhrase names it (2.2.4.7), with the SIP status below. A malformed request's response has
// no requestID/to/from and the server's version (3.1.5.2.2).
//
// Pure: no SIP transaction, no storage; the relay credentials come from a MediaRelayAuthority the
// gateway provides (the SIP layer does not know the TURN server).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace causeway::sip::lync {

inline constexpr std::string_view kMrasContentType = "application/msrtc-media-relay-auth+xml";
inline constexpr std::string_view kMrasNs = "http://schemas.microsoft.com/2006/09/sip/mrasp";
// The user part of the MRAS URI the front end answers when none is configured ("sip:MRASLoc@<the
// user's domain>", after Lync's "sip:MRASLoc.<pool fqdn>@<domain>").
inline constexpr std::string_view kDefaultMrasUser = "MRASLoc";
// The highest MS-AVEDGEA version this server speaks; 1.0 (SIPE, OCS 2007) and 2.0 (Lync) are read.
inline constexpr std::string_view kMrasServerVersion = "2.0";
inline constexpr size_t kMaxMrasCredentialsRequests = 100;  // requestType maxOccurs

enum class RelayLocation : uint8_t { kIntranet, kInternet };
std::string_view RelayLocationName(RelayLocation location);  // "intranet" / "internet"

// reasonPhraseType (MS-AVEDGEA 2.2.4.7).
enum class MrasReason : uint8_t {
  kOk,
  kRequestMalformed,
  kRequestTooLarge,
  kNotSupported,
  kServerBusy,
  kTimeOut,
  kForbidden,
  kInternalServerError,
  kOtherFailure,
  kVersionMismatch,
};
std::string_view MrasReasonPhrase(MrasReason reason);  // "OK", "Request Malformed", ...
// The SIP status that goes with it: 200, 400 (malformed, version mismatch), 413 (too large),
// 501 (not supported), 503 (server busy), 504 (time out), 403 (forbidden), 500 (internal, other).
int MrasSipStatus(MrasReason reason);

// ---- request (MS-AVEDGEA 2.2.2.1) ----

struct MrasCredentialsRequest {
  std::string id;        // credentialsRequestID
  std::string identity;  // whose credentials (SIPE: the user's SIP URI)
  std::optional<RelayLocation> location;
  std::optional<uint32_t> duration_minutes;  // positive
};

struct MrasRequest {
  std::string request_id;
  std::string version;  // "major.minor"
  std::string to;       // the MRAS URI
  std::string from;     // the requesting user's SIP URI
  std::string route;    // "loadbalanced" (default) or "directip"
  std::vector<MrasCredentialsRequest> credentials;  // 1..100
};

// What ParseMrasRequest found wrong: a parse failure of the body, or a request that is
// schema-valid but asks for more than 100 credentials (kRequestTooLarge; `request` then holds
// its attributes and the first 100 credentialsRequests so the answer can echo them).
struct MrasParseError {
  MrasReason reason = MrasReason::kRequestMalformed;
  std::string detail;
  std::optional<MrasRequest> request;
};

// Strict against the schema: root <request> in the mrasp namespace with requestID, version,
// to and from (SIP URIs), optional route; only credentialsRequest children, each with
// credentialsRequestID and identity, then optionally location and duration in that order.
// Identifiers are at most 64 characters (max64CharStringType).
std::optional<MrasParseError> ParseMrasRequest(std::string_view body, MrasRequest* out);

// "1.0" -> {1, 0}; nullopt unless digits '.' digits.
std::optional<std::pair<uint32_t, uint32_t>> ParseMrasVersion(std::string_view version);

// ---- response (MS-AVEDGEA 2.2.3.1) ----

struct MediaRelay {
  RelayLocation location = RelayLocation::kInternet;
  std::string host;       // FQDN or IP literal, sent as <hostName>
  uint16_t udp_port = 0;  // 0 = not offered
  uint16_t tcp_port = 0;
};

struct MrasCredentialsResponse {
  std::string id;  // the credentialsRequestID answered
  std::string username;
  std::string password;
  uint32_t duration_minutes = 0;  // positive
  std::string realm;              // optional <realm>
  std::vector<MediaRelay> relays;
};

// The <response> body. `request` null: the request could not be read (no requestID/to/from,
// version = kMrasServerVersion); `version` overrides the echoed version (Version Mismatch).
std::string BuildMrasResponse(const MrasRequest* request, MrasReason reason,
                              std::span<const MrasCredentialsResponse> credentials,
                              std::string_view version = {});

// ---- the relay side, filled by the gateway ----

struct MediaRelayRequest {
  std::string user;  // the signed-in user's AOR, e.g. "sip:alice@example.test"
  std::optional<RelayLocation> location;     // where the client says it is
  std::optional<std::chrono::minutes> duration;  // what it asked for
};

struct MediaRelayGrant {
  std::string username;  // e.g. "<unix expiry>:<user>" (media/turn Credentials::Issue)
  std::string password;
  std::chrono::minutes duration{0};  // how long the pair is valid; at least one minute is sent
  std::string realm;                 // optional, sent as <realm>
  std::vector<MediaRelay> relays;    // at least one
};

// Issues relay credentials. Called on worker threads, concurrently, outside the front end's lock:
// it must be thread-safe and must not block. Errors: Unavailable or FailedPrecondition when the
// relay is off or cannot issue (answered 503 "Server Busy"), anything else 500 "Internal Server
// Error".
using MediaRelayAuthority =
    std::function<absl::StatusOr<MediaRelayGrant>(const MediaRelayRequest&)>;

// ---- the whole exchange, for one request body from a signed-in user ----

struct MrasAnswer {
  int status = 200;
  std::string body;  // a <response> document (every answer after the content-type check has one)
  MrasReason reason = MrasReason::kOk;
  std::string detail;  // why, for the log
};

// `user` is the authenticated AOR ("sip:alice@x", lower case) or "" when the request is not
// authenticated. Refuses (403 "Forbidden") unsigned requests and a from/identity naming another
// user; answers 503 "Server Busy" when `authority` is empty or says the relay is off.
MrasAnswer AnswerMras(std::string_view body, std::string_view user,
                      const MediaRelayAuthority& authority);

}  // namespace causeway::sip::lync
