#pragma once
// SIP Digest authentication, server side (RFC 3261 §22, RFC 7616 algorithms per RFC 8760):
// MD5 and SHA-256, qop=auth, and RFC 2069-style responses without qop (older pidgin-sipe).
// Credentials come from the directory as precomputed HA1 = H(user:realm:password) per
// algorithm; the password is never seen here.
//
// pidgin-sipe 1.25 (sip-sec-digest.c / sip-transport.c) answers a 407 with MD5 whatever the
// algorithm (it reads only the FIRST Proxy-Authenticate; our nonce is shared by both challenges
// so that works), qop=auth, nc=00000001, and uri="(null)" because it takes the target from the 407
// response instead of its request: set require_uri_match = false for such clients.
//
// Nonces are stateless: hex(timestamp | random | HMAC-SHA256(secret,
// timestamp|random|realm)[0..15]), so any worker holding the secret can check them; an expired but
// otherwise valid nonce with a correct response is answered with stale=true. Replays are caught by
// a bounded nonce-count table (nc must grow per nonce; without qop a nonce is good once). Brute
// force is limited per user+peer: after `max_failures` failures within `failure_window` the answer
// is 403 until the window passes. Both tables are bounded (oldest entries evicted; an evicted nonce
// is treated as stale, never as fresh). Pure: clock and randomness are injected; one instance per
// worker.
//
// Typical use (registrar or proxy):
//   DigestVerdict v = auth.VerifyRequest(request, peer_ip, /*proxy=*/false);
//   switch (v.kind) { kOk: proceed as v.user; kChallenge: answer v.sip_code with one
//   WWW-Authenticate (or Proxy-Authenticate) line per v.challenges entry; kForbidden/kBadRequest:
//   answer v.sip_code. }

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/clock.h"
#include "sip/codec/message.h"

namespace causeway::sip {

enum class DigestAlgorithm : uint8_t { kMd5, kSha256 };

// "MD5" / "SHA-256" (the algorithm= token).
std::string_view DigestAlgorithmName(DigestAlgorithm alg);
// The inverse, case-insensitive; false for anything else.
bool ParseDigestAlgorithm(std::string_view name, DigestAlgorithm* out);

// Lower-case hex of H(data).
std::string DigestHashHex(DigestAlgorithm alg, std::string_view data);
// HA1 = H(user ":" realm ":" password), lower-case hex: what the directory stores per realm.
std::string DigestHa1(DigestAlgorithm alg, std::string_view user, std::string_view realm,
                      std::string_view password);
// The request-digest: H(HA1:nonce:nc:cnonce:qop:H(method:uri)) for qop=auth, or
// H(HA1:nonce:H(method:uri)) when `qop` is empty (RFC 2069). Lower-case hex.
std::string DigestResponse(DigestAlgorithm alg, std::string_view ha1_hex, std::string_view nonce,
                           std::string_view nc, std::string_view cnonce, std::string_view qop,
                           std::string_view method, std::string_view uri);
// HMAC-SHA-256 (RFC 2104); exposed for tests.
std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data);

// HA1 values of one user for one realm, lower-case hex; empty when not provisioned.
struct DigestHa1Set {
  std::string md5;
  std::string sha256;
};
// nullopt: unknown or disabled user. The integrator wires it to the user directory.
using DigestHa1Lookup =
    std::function<std::optional<DigestHa1Set>(std::string_view user, std::string_view realm)>;

struct DigestServerConfig {
  std::string realm;   // the one realm this authenticator serves (e.g. the SIP domain)
  std::string secret;  // nonce HMAC key; empty: 32 random bytes at construction
  std::chrono::seconds nonce_lifetime = std::chrono::seconds(300);
  size_t max_tracked_nonces = 16384;
  // Offered in this order (one challenge header each, one shared nonce) and the only ones
  // accepted. RFC 8760 puts the strongest first; a site whose phones answer only the first
  // challenge and know only MD5 lists MD5 alone. Empty is treated as the default.
  std::vector<DigestAlgorithm> algorithms = {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5};
  bool allow_no_qop = true;       // accept RFC 2069 responses (pidgin-sipe's 407 handling)
  bool require_uri_match = true;  // uri= must equal the Request-URI (else 400)
  int max_failures = 5;           // per user+peer within failure_window, then 403
  std::chrono::seconds failure_window = std::chrono::seconds(300);
  size_t max_tracked_peers = 16384;
};

struct DigestVerdict {
  enum class Kind {
    kOk,          // authenticated as `user`
    kChallenge,   // answer sip_code (401, or 407 for proxy) with `challenges`
    kForbidden,   // 403: too many failures for this user and peer
    kBadRequest,  // 400: malformed credentials or uri mismatch
  };
  Kind kind = Kind::kChallenge;
  int sip_code = 401;
  std::vector<std::string> challenges;  // header values, in the configured algorithm order
  std::string user;
  std::string reason;  // for logs
};

class DigestAuthenticator {
 public:
  // `random` fills bytes (default: std::random_device).
  DigestAuthenticator(DigestServerConfig config, const Clock& clock, DigestHa1Lookup lookup,
                      std::function<void(std::span<uint8_t>)> random = {});

  // Fresh challenge header values (one nonce shared by all algorithms), in `algorithms` order,
  // each "Digest realm=..., nonce=..., algorithm=..., qop=\"auth\"" [+ ", stale=true"].
  std::vector<std::string> Challenges(bool stale = false);

  // Verifies one Authorization/Proxy-Authorization value for `method` and `request_uri`, from
  // `peer` (an address string, used for brute-force limiting). `proxy` selects 407 over 401.
  DigestVerdict Verify(std::string_view credentials, std::string_view method,
                       std::string_view request_uri, std::string_view peer, bool proxy);
  // The same for a request: takes its first Digest Authorization (or Proxy-Authorization when
  // `proxy`) for our realm; none -> challenge.
  DigestVerdict VerifyRequest(const SipMessage& request, std::string_view peer, bool proxy);

  size_t tracked_nonces() const { return nonces_.size(); }
  size_t tracked_peers() const { return failures_.size(); }

 private:
  struct NonceUse {
    uint32_t last_nc = 0;
    uint64_t issued = 0;
  };
  struct Failures {
    int count = 0;
    TimePoint first;
  };
  std::string MakeNonce();
  // Checks the nonce MAC; sets *issued (seconds) on success.
  bool ParseNonce(std::string_view nonce, uint64_t* issued) const;
  uint64_t NowSeconds() const;
  DigestVerdict Challenge(bool proxy, bool stale, std::string reason);
  DigestVerdict Fail(bool proxy, const std::string& key, std::string reason);
  bool Locked(const std::string& key);
  // Records nc for `nonce`; false when it is a replay (or the nonce's history was evicted).
  bool RecordNonceCount(std::string_view nonce, uint64_t issued, uint32_t nc);

  DigestServerConfig config_;
  const Clock& clock_;
  DigestHa1Lookup lookup_;
  std::function<void(std::span<uint8_t>)> random_;
  absl::flat_hash_map<std::string, NonceUse> nonces_;
  std::deque<std::string> nonce_order_;
  uint64_t evicted_watermark_ = 0;  // newest issue time of an evicted nonce (+1), 0 = none
  absl::flat_hash_map<std::string, Failures> failures_;
  std::deque<std::string> failure_order_;
};

}  // namespace causeway::sip
