#pragma once
// MS-SIPAE NTLM over SIP, as a Lync front end does it and as pidgin-sipe 1.25 checks it.
//
// Registration handshake (connectionless NTLM, TLS; one state machine per server, contexts named
// by `opaque`):
//   REGISTER without NTLM credentials         -> 401, WWW-Authenticate: NTLM realm, targetname,
//                                                version (an offer; no gssapi-data)
//   REGISTER, Authorization: NTLM gssapi-data="" (or a NEGOTIATE)
//                                              -> 401, WWW-Authenticate: NTLM opaque, gssapi-data=
//                                                 <CHALLENGE>, targetname, realm, version
//   REGISTER, Authorization: NTLM opaque, gssapi-data=<AUTHENTICATE> [, crand, cnum, response]
//                                              -> SecurityAssociation (caller answers 200 and
//                                                 signs it) or 401 with a fresh offer
// Pending contexts expire (default 30 s) and are bounded in number (oldest evicted first).
//
// Message signing after the handshake (MS-SIPAE 3.2.5.x, byte-exact with SIPE's sipmsg_breakdown):
//   <auth-protocol><crand|srand><cnum|snum><realm><targetname><Call-ID><CSeq number><method>
//   <From URI><From tag><To URI><To tag><P-Asserted-Identity sip URI><... tel URI><Expires>[<code>]
// (version 3+; version 2 omits To URI and the identity fields). The NTLM MAC always uses sequence
// number 100 (what Lync and SIPE do); crand/cnum and srand/snum carry the per-message freshness.
// Every message the server sends to the client after the handshake carries
//   Authentication-Info: NTLM rspauth="<MAC>", srand="<8 hex>", snum="<n>", opaque, qop="auth",
//                        targetname, realm
// on responses AND on requests (SIPE looks only at Authentication-Info). SIPE ignores unsigned
// messages except 401s and REGISTER responses, and drops the connection on a bad signature.
// Client messages carry Authorization: NTLM qop, opaque, realm, targetname, crand, cnum, response.
//
// Wiring (registrar/proxy, per client connection):
//   REGISTER: if the connection has an association and HasSipaeSignature(request), check it
//     with sa->VerifyIncoming(); otherwise HandleRegister() and answer what it says (a
//     kAuthenticated result replaces the connection's association; answer 200 and sa->Sign() it).
//     SIPE re-authenticates every 8 h with an unsigned REGISTER (no Authorization) on the same
//     connection and needs the NTLM offer then, not a 401 without WWW-Authenticate.
//   Any other message from the client: sa->VerifyIncoming(); on error answer SipCodeOf(status)
//     (requests) or drop it (responses).
//   Every message sent to the client once it has an association (responses incl. provisional,
//     and requests the proxy forwards to it): sa->Sign(&msg) as the very last step.
//   The user lookup gets the user and domain exactly as the client typed its login: SIPE sends
//     "alice@contoso.com" with an empty domain for a UPN login, or "alice" + "CONTOSO" for
//     "CONTOSO\alice".
// Verified end to end against pidgin-sipe 1.25 (Debian 12): handshake, signed REGISTER/INVITE/ACK/
// MESSAGE/BYE from the client, signed 200s and a server-originated MESSAGE accepted by SIPE.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "sip/codec/message.h"
#include "sip/lync/ntlm.h"

namespace causeway::sip::lync {

inline constexpr std::string_view kSipaeRealm = "SIP Communications Service";
// The NTLM sequence number inside every MS-SIPAE signature (Lync and SIPE use 100).
inline constexpr uint32_t kSipaeNtlmSequence = 100;

// The NTLM/Kerberos/TLS-DSK parameters of one WWW-Authenticate, Authorization,
// Proxy-Authorization or Authentication-Info value. Values are unquoted; absent = empty.
struct SipaeAuthParams {
  std::string scheme;  // "NTLM", "Kerberos", "TLS-DSK"
  std::string qop, realm, targetname, opaque, gssapi_data, crand, cnum, response, srand, snum,
      rspauth;
  std::optional<int> version;
  bool has_gssapi_data = false;  // gssapi-data present (possibly "")
  bool has_response = false;     // response present
};

// Parses a header value ("NTLM qop=\"auth\", realm=...", parameters in any order).
absl::StatusOr<SipaeAuthParams> ParseSipaeAuth(std::string_view header_value);

// The offer of a first 401: NTLM realm="...", targetname="...", version=N.
std::string FormatSipaeOffer(std::string_view realm, std::string_view targetname, int version);
// The second 401: NTLM opaque="...", gssapi-data="<base64>", targetname, realm, version. The
// parameter layout matches what SIPE's fill_auth() can parse (quoted strings, `name="`).
std::string FormatSipaeChallenge(std::string_view opaque, std::string_view gssapi_data_base64,
                                 std::string_view realm, std::string_view targetname, int version);

// The fields SIPE's sipmsg_breakdown() adds in front of the message's own fields.
struct SipaeSignatureContext {
  std::string protocol = "NTLM";
  std::string rand;  // crand or srand (8 hex digits)
  std::string num;   // cnum or snum (decimal)
  std::string realm;
  std::string targetname;
};

// The signature input string for `msg` (see the file comment). `version` < 3 uses the old layout.
std::string BuildSipaeSignatureBuffer(const SipMessage& msg, const SipaeSignatureContext& ctx,
                                      int version);

// The state of one signed connection (per client connection and user), created when the
// handshake succeeds. Verifies what the client sends and signs what the server sends.
class SecurityAssociation {
 public:
  // Normally made by SipaeAuthenticator. `random32` yields srand values (empty: RAND_bytes).
  SecurityAssociation(NtlmSessionKeys keys, std::string user, std::string domain,
                      std::string opaque, std::string realm, std::string targetname, int version,
                      std::function<uint32_t()> random32);

  // Checks the client's signature on a request or response it sent (Authorization or
  // Proxy-Authorization with this opaque, crand, cnum, response). OK, or an error carrying the SIP
  // answer (causeway::SipCodeOf): 401 missing/foreign credentials, 403 bad signature or replayed
  // cnum (window of 128 numbers; anything older or already seen is refused).
  absl::Status VerifyIncoming(const SipMessage& msg);

  // The Authentication-Info value for a message the server sends to the client (response or
  // request): call it last, after every header that enters the signature is final. Advances snum.
  std::string SignatureHeader(const SipMessage& msg);
  // Removes Authentication-Info, Proxy-Authorization and Proxy-Authentication-Info from `msg`
  // (SIPE would take its check values from the first of those present) and adds ours.
  absl::Status Sign(SipMessage* msg);

  const std::string& user() const { return user_; }
  const std::string& domain() const { return domain_; }
  const std::string& opaque() const { return opaque_; }
  const std::string& realm() const { return realm_; }
  const std::string& targetname() const { return targetname_; }
  int version() const { return version_; }
  uint32_t server_sequence() const { return snum_; }  // last snum used (0 = none yet)
  uint64_t highest_client_sequence() const { return highest_cnum_; }
  const NtlmSessionKeys& keys() const { return keys_; }

 private:
  NtlmSessionKeys keys_;
  std::string user_, domain_, opaque_, realm_, targetname_;
  int version_;
  std::function<uint32_t()> random32_;
  uint32_t snum_ = 0;
  uint64_t highest_cnum_ = 0;
  uint64_t window_[2] = {0, 0};  // bit i: highest_cnum_ - i was seen (i < 128)
};

// True when the request's NTLM credentials carry gssapi-data, i.e. it is a step of the
// handshake (HandleRegister) rather than a message signed with an existing association.
bool IsSipaeHandshake(const SipMessage& request);
// True when the message carries NTLM credentials with a signature (response=) and no
// gssapi-data: something to check with SecurityAssociation::VerifyIncoming. A REGISTER that is
// neither signed nor a handshake step (no NTLM credentials at all) starts a new handshake: SIPE
// re-authenticates that way every 8 hours on the same connection and expects the NTLM offer.
bool HasSipaeSignature(const SipMessage& message);

// The login (user, domain) of the NTLM AUTHENTICATE a REGISTER carries (step 3), nullopt for any
// other request. Nothing is verified: it names the key of a failed-sign-in limiter.
std::optional<NtlmLogin> SipaeAuthenticateLogin(const SipMessage& request);

struct SipaeConfig {
  std::string realm = std::string(kSipaeRealm);
  std::string targetname;  // the FQDN clients connect to, e.g. "fe01.contoso.com"
  int version = 4;         // 4: SIPE also signs the final REGISTER (verified here)
  NtlmServerNames names;   // TargetName / TargetInfo of the CHALLENGE
  Duration pending_timeout = std::chrono::seconds(30);
  size_t max_pending = 4096;
  std::chrono::seconds max_clock_skew = std::chrono::hours(36);
};

struct SipaeRegisterResult {
  enum class Kind {
    kChallenge,      // answer `sip_code` (401) with WWW-Authenticate: www_authenticate
    kAuthenticated,  // `sa` is set: keep it for the connection, answer 200 signed by sa->Sign()
    kRejected,       // answer `sip_code` (400/401/403); www_authenticate set for 401
  };
  Kind kind = Kind::kRejected;
  int sip_code = 0;
  std::string www_authenticate;
  std::unique_ptr<SecurityAssociation> sa;
  std::string reason;  // for logs
};

// Runs the REGISTER handshake. One per worker (no locking); pure apart from the injected clock,
// random source and wall clock.
class SipaeAuthenticator {
 public:
  // `random` fills bytes (default: OpenSSL RAND_bytes). `now_filetime` returns the wall clock as a
  // FILETIME for the NTLMv2 timestamp (default: none; no timestamp pair, no skew check).
  SipaeAuthenticator(SipaeConfig config, const Clock& clock, NtHashLookup lookup,
                     std::function<void(std::span<uint8_t>)> random = {},
                     std::function<uint64_t()> now_filetime = {});

  // Handles one REGISTER (see the file comment for the three steps).
  SipaeRegisterResult HandleRegister(const SipMessage& request);

  size_t pending_count() const { return pending_.size(); }
  const SipaeConfig& config() const { return config_; }

 private:
  struct Pending {
    NtlmChallengeState state;
    TimePoint created;
  };
  SipaeRegisterResult Offer(int code, std::string reason) const;
  void Expire();
  std::string NewOpaque();
  uint32_t Random32();

  SipaeConfig config_;
  const Clock& clock_;
  NtHashLookup lookup_;
  std::function<void(std::span<uint8_t>)> random_;
  std::function<uint64_t()> now_filetime_;
  absl::flat_hash_map<std::string, Pending> pending_;
  std::deque<std::pair<std::string, TimePoint>> order_;  // insertion order, for expiry/eviction
};

}  // namespace causeway::sip::lync
