#pragma once
// The sign-in security of one worker: MS-SIPAE NTLM for Lync clients and SIP Digest for standard
// SIP UAs (phones, sipp), next to each other.
//
// MS-SIPAE: the REGISTER handshake (as the registrar's authorizer), one security association per
// authenticated client connection, the check of every signed message a client sends, and the
// signature on every message sent to such a connection.
//
// It sits between the transport and the stack on the worker that owns the connections, so an
// association is only ever touched by one thread:
//   transport -> OnIncoming (verify, name the user, or challenge) -> stack
//   stack -> OnOutgoing (sign) -> transport
// A proxy re-signs per target connection: a request forwarded from alice to bob is verified with
// alice's association on the way in and signed with bob's on the way out.
//
// REGISTER (Authorize):
//   - signed (MS-SIPAE) on an associated connection: a refresh, for the user's own AOR only;
//   - an NTLM handshake step: runs it (TLS/TCP only); failed AUTHENTICATEs are counted per
//     (login, peer IP) and after `max_failures` within `failure_window` the answer is 403 without
//     running NTLM;
//   - `Authorization: Digest`: verified with the user's HA1 from the directory (username = the
//     URI's user part, realm = its domain), for the user's own AOR only (403 otherwise); any
//     transport. Wrong password -> 401 with a fresh challenge, too many -> 403, an expired nonce
//     or a replayed nonce-count -> 401 with stale=true;
//   - no credentials (also SIPE's unsigned 8-hourly re-authentication on an associated
//     connection): 401 with the NTLM offer (TLS/TCP) and the Digest challenges (SHA-256, then
//     MD5) of the AOR's domain.
// Other requests (OnIncoming), by who their From names (ACK and CANCEL are never challenged, RFC
// 3261 §22.1; REGISTER is the registrar's, above):
//   - on an associated connection (signed): the signed-in user only. An out-of-dialog request
//     whose From is another address is refused (403, `impersonations`): the signature proves who
//     sent it, and whatever trusts From next (the proxy's callee, the XMPP bridge) would believe
//     the forged name. In a dialog From is the local URI the caller chose (a number, an alias),
//     so it is left alone there; the dialog's tags tie the request to its participants;
//   - from a connection without association, one of our users: a valid Digest
//     Proxy-Authorization for that user, otherwise 407 with Proxy-Authenticate;
//   - from a connection without association, an address in one of our users' domains that is no
//     user (disabled, deleted or made up: "sip:nobody@example.test"): refused (403,
//     `unknown_senders`); nobody can prove such a name, so every one of them is forged;
//   - any other address (federation peers, callers reaching our users) passes here: what it may
//     do is policy, decided later.
// A refusal's status message is the reason phrase of its 403.
//
// Re-authentication race (SIPE drops its NTLM context before the unsigned REGISTER and signs
// nothing until the new handshake completed; it verifies nothing either while it has no context,
// but disconnects on a signature it cannot verify once the new context exists): from that
// REGISTER until the new association replaces the old one (or `sipae.pending_timeout` passes), the
// connection is "re-authenticating":
//   - messages still signed with the old keys verify against the old association (it stays);
//   - unsigned requests are treated like those of a connection without association (Digest rule
//     above, SIPE answers a 407 with Digest), unsigned responses pass without naming a user;
//   - what we send to the connection goes unsigned, never with keys the client may no longer
//     hold (an unsigned message is processed or ignored by SIPE, a bad signature drops the
//     connection). The 200 that completes the handshake is signed with the new association.

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/clock.h"
#include "core/directory.h"
#include "sip/codec/message.h"
#include "sip/lync/sipae.h"
#include "sip/stack/digest_auth.h"
#include "sip/stack/registrar.h"
#include "sip/stack/transport.h"

namespace causeway::sip::lync {

struct SecurityLayerOptions {
  SipaeConfig sipae;
  // Largest number of associations kept (one per signed-in client connection).
  size_t max_associations = 100000;
  // Key of the stateless Digest nonces. Give every worker the same one so a nonce issued by one
  // verifies on another; empty: random per layer.
  std::string digest_secret;
  std::chrono::seconds digest_nonce_lifetime = std::chrono::seconds(300);
  std::vector<DigestAlgorithm> digest_algorithms = DigestServerConfig{}.algorithms;
  // Brute-force limit for NTLM and Digest alike: per (login, peer IP), `max_failures` failed
  // attempts within `failure_window`, then 403 until the window has passed. Bounded tables.
  int max_failures = 5;
  std::chrono::seconds failure_window = std::chrono::seconds(300);
  size_t max_tracked_failures = 16384;
};

struct SecurityLayerStats {
  uint64_t handshakes_started = 0;
  uint64_t authenticated = 0;  // NTLM sign-ins
  uint64_t rejected = 0;       // failed handshakes and REGISTERs for an AOR not the user's
  uint64_t verified = 0;       // signed messages accepted
  uint64_t bad_signatures = 0;
  uint64_t signed_out = 0;            // messages we signed
  uint64_t reauthentications = 0;     // unsigned REGISTERs on an associated connection
  uint64_t digest_authenticated = 0;  // REGISTERs and requests proven with Digest
  uint64_t digest_challenged = 0;     // 401/407 with Digest challenges
  uint64_t locked_out = 0;            // 403 for too many failures (NTLM and Digest)
  uint64_t unknown_senders = 0;       // 403: From in one of our domains but no user of ours
  uint64_t impersonations = 0;        // 403: signed request whose From is not the signed-in user
};

// Failed attempts per key within a window, bounded in keys (the oldest entry goes first). One
// thread only.
class FailureLimiter {
 public:
  FailureLimiter(int max_failures, Duration window, size_t max_keys);
  // True when `key` has `max_failures` failures within the window ending `now`.
  bool Locked(const std::string& key, TimePoint now);
  // Counts one failure; returns the count within the window.
  int Fail(const std::string& key, TimePoint now);
  void Clear(const std::string& key) { entries_.erase(key); }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int count = 0;
    TimePoint first;
  };
  int max_failures_;
  Duration window_;
  size_t max_keys_;
  absl::flat_hash_map<std::string, Entry> entries_;
  std::deque<std::pair<std::string, TimePoint>> order_;  // (key, first) in insertion order
};

// Removes the credentials this server consumed from a message it is about to forward (RFC 3261
// §22.3: a proxy removes the Proxy-Authorization of its own realm; MS-SIPAE signatures belong to
// one client connection): Authorization/Proxy-Authorization values with an MS-SIPAE scheme
// (NTLM, Kerberos, TLS-DSK), and Digest Proxy-Authorization values for one of `realms`. A REGISTER
// keeps its Authorization (the registrar checks it). Returns how many values went.
size_t RemoveConsumedCredentials(SipMessage& message, const std::vector<std::string>& realms);

class SecurityLayer final : public RegisterAuthorizer {
 public:
  using ResponseHeaders = std::vector<std::pair<std::string, std::string>>;

  // `directory` answers the NT hash / HA1 of a login and maps it to its address-of-record; it
  // must outlive the layer, as must `clock`.
  SecurityLayer(SecurityLayerOptions options, const Clock& clock, const UserDirectory& directory);
  ~SecurityLayer() override;

  // RegisterAuthorizer (see the file comment). Success of an NTLM handshake creates (or
  // replaces) the connection's association; the 200 is then signed by OnOutgoing.
  absl::Status Authorize(const SipMessage& request, std::string_view aor, const ReceiveInfo& info,
                         ResponseHeaders* response_headers) override;

  // A message received on `info.connection` (0 for UDP). OK: pass it on; info->authenticated_user
  // is set when the message proved its user (an MS-SIPAE signature, or Digest
  // Proxy-Authorization; the view stays valid until the next call). An error carries the SIP code
  // (SipCodeOf) to answer a request with, plus `response_headers` to add to that answer (407 ->
  // Proxy-Authenticate), and for a 403 the reason phrase in its message (short, for the sender:
  // it names nothing the sender did not send); responses failing are dropped by the caller.
  absl::Status OnIncoming(const SipMessage& message, ReceiveInfo* info,
                          ResponseHeaders* response_headers);

  // Signs `bytes` (one serialized message) when `to` is an associated connection (not while it
  // re-authenticates). Returns false when the message cannot be parsed back (it is then sent
  // unsigned and the client ignores it).
  bool OnOutgoing(const Destination& to, std::string& bytes);

  void OnConnectionClosed(ConnectionId id) { associations_.erase(id); }

  bool HasAssociation(ConnectionId id) const { return associations_.contains(id); }
  // True while the associated connection `id` runs a new handshake (see the file comment).
  bool Reauthenticating(ConnectionId id) const;
  size_t association_count() const { return associations_.size(); }
  const SecurityLayerStats& stats() const { return stats_; }

 private:
  struct Association {
    std::unique_ptr<SecurityAssociation> sa;
    std::string aor;  // "sip:alice@example.test", from the directory
    // Set when an unsigned REGISTER / handshake step arrived on the connection.
    std::optional<TimePoint> reauth_since;
  };

  bool InReauthWindow(const Association& a) const;
  absl::Status AuthorizeNtlm(const SipMessage& request, std::string_view aor,
                             const ReceiveInfo& info, ResponseHeaders* response_headers);
  absl::Status AuthorizeDigest(const SipMessage& request, std::string_view aor,
                               const ReceiveInfo& info, ResponseHeaders* response_headers);
  // Digest rule for a request from a connection without (usable) association.
  absl::Status CheckProxyDigest(const SipMessage& request, ReceiveInfo* info,
                                ResponseHeaders* response_headers);
  // The Digest authenticator of `domain` (lower-case), created on first use; nullptr when none of
  // our users has this domain.
  DigestAuthenticator* DigestFor(std::string_view domain);
  // Whether `host` is the domain of one of the directory's users (asked of the directory each
  // time: a domain whose last user went is no longer ours).
  bool IsUserDomain(std::string_view host) const;

  const UserDirectory& directory_;
  const Clock& clock_;
  SecurityLayerOptions options_;
  SipaeAuthenticator authenticator_;
  absl::flat_hash_map<ConnectionId, Association> associations_;
  absl::flat_hash_map<std::string, std::unique_ptr<DigestAuthenticator>> digest_;
  FailureLimiter ntlm_failures_;
  std::string digest_user_;  // storage behind info->authenticated_user for Digest requests
  // UDP retransmissions of a request proven with Digest (same branch and credentials) are
  // accepted again for 32 s (64*T1) although their nonce-count repeats: the transaction layer
  // behind us absorbs them. Bounded.
  struct Seen {
    TimePoint at;
    std::string aor;
  };
  absl::flat_hash_map<std::string, Seen> digest_seen_;
  std::deque<std::pair<std::string, TimePoint>> digest_seen_order_;
  SecurityLayerStats stats_;
};

}  // namespace causeway::sip::lync
