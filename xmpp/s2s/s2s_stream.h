#pragma once
// One XMPP server-to-server TCP stream (RFC 6120 §4-§6, §9; XEP-0220; XEP-0178) as a sans-I/O
// state machine: the owner feeds received bytes, reports the TLS handshake it was asked for and
// ticks the clock; the machine answers through S2sStreamHandler (bytes to write, TLS to start,
// domain pairs authenticated, stanzas received, dialback verifications, close).
//
// Initiating (outbound) side, for one pair local_domain -> remote_domain:
//   header -> features -> <starttls/> -> <proceed/> -> TLS -> header -> features
//     -> SASL EXTERNAL (when offered) -> <success/> -> header -> features -> stanzas flow
//     or <db:result>key</db:result> -> <db:result type='valid'/> -> stanzas flow
// Receiving (inbound) side, for any of our local_domains:
//   the mirror image; a <db:result/> becomes a DialbackVerifyNeeded action, and the owner's answer
//   (from <db:verify/> on an outbound stream to the authoritative server) comes back through
//   ApplyDialbackVerifyResult. A <db:verify/> for one of our domains is answered on the spot (we
//   are the authoritative server: the key is recomputed from the shared secret, XEP-0185).
//
// Streams are one-way (no XEP-0288): stanzas go out on initiating streams and come in on
// receiving streams. Every negotiation step is bounded by `step_timeout`; the owner calls Tick()
// (at least when next_deadline() passes). Callbacks may call Send, Close, SendDialbackVerify and
// ApplyDialbackVerifyResult, but not Feed (the parser is not reentrant: queue the bytes), and must
// not destroy the stream (delete it later on the loop, STYLE.md).

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stream_parser.h"
#include "xmpp/s2s/certificate.h"

namespace causeway::xmpp::s2s {

inline constexpr std::string_view kNsDialbackFeature = "urn:xmpp:features:dialback";

enum class S2sRole { kInitiating, kReceiving };
enum class TlsRole { kClient, kServer };
enum class AuthMethod { kSaslExternal, kDialback };
std::string_view AuthMethodName(AuthMethod method);

// A sending domain authenticated to a receiving domain. On both sides `local` is ours.
struct DomainPair {
  std::string local;
  std::string remote;
  friend bool operator==(const DomainPair&, const DomainPair&) = default;
};

struct S2sConfig {
  // Domains we serve. An initiating stream's local domain must be one of them; a receiving stream
  // accepts streams, dialback pairs and stanzas addressed to any of them.
  std::vector<std::string> local_domains;
  // The dialback secret (XEP-0185). Empty disables dialback: neither offered nor used.
  std::string dialback_secret;
  // Refuse everything but STARTTLS before TLS (RFC 6120 §5.3.1); when false, TLS is still used
  // whenever the peer offers it.
  bool require_tls = true;
  // The owner has a certificate to present: a receiving stream offers STARTTLS, an initiating
  // stream tries SASL EXTERNAL.
  bool tls_available = true;
  // Initiating side: end the stream when the receiving server's certificate does not
  // authenticate the remote domain (CertificateAuthenticates). When false, a dialback stream
  // relies on DNS to reach the right server (XEP-0220 §1.2), as Prosody does by default.
  bool require_peer_certificate = false;
  // Initiating side: send our domain as the SASL EXTERNAL authzid (Prosody's form) instead of
  // the empty initial response "=" (XEP-0178: the peer derives it from the stream header).
  bool sasl_send_authzid = false;
  // Each negotiation step (a header, features, a TLS handshake, a SASL or dialback answer, a
  // dialback verification) must complete within this.
  Duration step_timeout = std::chrono::seconds(30);
  // After our </stream:stream>, how long to wait for the peer's before reporting the close.
  Duration close_timeout = std::chrono::seconds(5);
  // Stanzas held while an initiating stream negotiates; Send() refuses beyond this.
  size_t max_queued_stanzas = 1000;
  // Domain pairs one receiving stream may authenticate or have pending with dialback (XEP-0220
  // §2.5 piggybacking); each pending one costs the owner an outbound verification.
  size_t max_domain_pairs = 16;
  // SASL attempts a receiving stream allows before closing (RFC 6120 §6.4.5: at least 2).
  int max_sasl_attempts = 2;
  StreamLimits limits;
  // Stream ids for receiving streams; RandomStreamId() when empty (tests pin ids).
  std::function<std::string()> stream_id_source;
};

// Receiving side -> owner: check `key` with the authoritative server for `originating_domain`
// (send <db:verify from=receiving to=originating id=stream_id>key</db:verify> on an outbound
// stream to it, see SendDialbackVerify), then call ApplyDialbackVerifyResult.
struct DialbackVerifyRequest {
  std::string receiving_domain;    // ours
  std::string originating_domain;  // the peer's claimed domain
  std::string stream_id;           // the id of the receiving stream that got the key
  std::string key;
  friend bool operator==(const DialbackVerifyRequest&, const DialbackVerifyRequest&) = default;
};

struct DialbackVerifyResult {
  std::string receiving_domain;
  std::string originating_domain;
  std::string stream_id;
  bool valid = false;
  friend bool operator==(const DialbackVerifyResult&, const DialbackVerifyResult&) = default;
};

enum class CloseOrigin {
  kLocal,   // we ended the stream (owner's Close(), a stream error we sent, a timeout)
  kRemote,  // the peer did (</stream:stream>, a stream error it sent, a refusal)
};

struct CloseInfo {
  CloseOrigin origin = CloseOrigin::kLocal;
  // The stream error sent (kLocal) or received (kRemote); nullopt for a clean close.
  std::optional<StreamErrorCondition> condition;
  std::string reason;  // for logs
};

class S2sStreamHandler {
 public:
  virtual ~S2sStreamHandler() = default;
  virtual void WriteBytes(std::string_view bytes) = 0;
  // Run the TLS handshake in `role`. Bytes received after this call are TLS records: decrypt
  // them before feeding (Feed returns how much of a read it used before TLS begins). Call
  // OnTlsEstablished when the handshake is done.
  virtual void StartTls(TlsRole role) = 0;
  // `pair` may exchange stanzas from now on. On an initiating stream the stanzas queued by Send
  // have just been written, in order, before this call.
  virtual void Authenticated(const DomainPair& pair, AuthMethod method) = 0;
  // A stanza from an authenticated pair, already checked (from, to, namespace).
  virtual void StanzaReceived(Element stanza, const DomainPair& pair) = 0;
  // A stanza refused without closing the stream (e.g. jid-malformed 'to'): this error reply is
  // for the sender, and goes out on our outbound stream to its domain (streams are one-way).
  virtual void StanzaRejected(Element error_reply) = 0;
  virtual void DialbackVerifyNeeded(const DialbackVerifyRequest& request) = 0;
  // Initiating side: the authoritative server answered a db:verify we sent.
  virtual void DialbackVerifyAnswered(const DialbackVerifyResult& result) = 0;
  // Initiating side: a domain added with AddLocalDomain was not authenticated (refused, timed
  // out, or the peer has no dialback); `unsent` holds its queued stanzas. The stream goes on.
  virtual void PairRefused(const DomainPair& pair, std::string_view reason,
                           std::vector<Element> unsent) = 0;
  // The stream is over; close the TCP connection once the written bytes are flushed.
  // `unsent` holds every stanza accepted by Send() and not written, for the owner to bounce;
  // `unsent_verifies` the db:verify requests that never got an answer.
  virtual void Closed(const CloseInfo& info, std::vector<Element> unsent,
                      std::vector<DialbackVerifyRequest> unsent_verifies) = 0;
};

class S2sStream final : private StreamHandler {
 public:
  enum class State {
    kIdle,             // before Start()
    kAwaitHeader,      // waiting for the peer's stream header
    kAwaitFeatures,    // initiating: header received, waiting for <stream:features/>
    kNegotiating,      // receiving: features sent, waiting for starttls / auth / db:result
    kAwaitProceed,     // initiating: <starttls/> sent
    kTlsHandshake,     // StartTls() asked, waiting for OnTlsEstablished
    kAwaitSaslResult,  // initiating: <auth/> sent;  receiving: <challenge/> sent
    kAwaitDialback,    // initiating: <db:result/> sent; receiving: verification pending
    kAuthenticated,    // stanzas flow
    kClosing,          // our </stream:stream> sent, waiting for the peer's
    kClosed,
  };

  // An outbound stream from `local_domain` (one of config.local_domains) to `remote_domain`.
  // InvalidArgument when local_domain is not one of config.local_domains or either is not a
  // domain name.
  static absl::StatusOr<std::unique_ptr<S2sStream>> Initiating(const S2sConfig& config,
                                                               std::string_view local_domain,
                                                               std::string_view remote_domain,
                                                               S2sStreamHandler& handler,
                                                               const Clock& clock);
  // An inbound stream accepted on the s2s port.
  static std::unique_ptr<S2sStream> Receiving(const S2sConfig& config, S2sStreamHandler& handler,
                                              const Clock& clock);
  ~S2sStream() override;
  S2sStream(const S2sStream&) = delete;
  S2sStream& operator=(const S2sStream&) = delete;

  // Initiating: writes our stream header. Receiving: starts the clock for the peer's header.
  void Start();

  // Received bytes (plaintext, or decrypted once TLS is on). Returns how many were used: fewer
  // than bytes.size() only when StartTls was asked in the middle, and the rest is TLS data.
  size_t Feed(std::string_view bytes);

  // The handshake asked by StartTls completed; `info` describes the peer's certificate.
  void OnTlsEstablished(const TlsInfo& info);
  // The handshake failed: the stream is closed without further writes.
  void OnTlsFailed(std::string_view reason);

  // Initiating only. The stanza must be from our local domain to the remote domain. Written now
  // when authenticated, else queued (ResourceExhausted beyond max_queued_stanzas, and the stanza
  // is left untouched: it is moved from only on success). FailedPrecondition once closing.
  absl::Status Send(Element&& stanza);

  // Initiating only: authenticate another of our domains to the remote domain on this stream
  // with dialback (XEP-0220 §2.5 piggybacking), once the stream's own pair is authenticated.
  // Send() accepts its stanzas at once and queues them until then; Authenticated or
  // PairRefused reports the outcome. InvalidArgument for a domain that is not ours,
  // FailedPrecondition without a dialback secret or when the peer offered no dialback.
  absl::Status AddLocalDomain(std::string_view local_domain);

  // Initiating only: ask the remote (authoritative) server to verify a dialback key that a
  // receiving stream got. Sent once this stream is past TLS; queued before that.
  absl::Status SendDialbackVerify(const DialbackVerifyRequest& request);

  // Receiving only: the authoritative server's answer for a DialbackVerifyNeeded request.
  // NotFound when no such verification is pending on this stream.
  absl::Status ApplyDialbackVerifyResult(const DialbackVerifyResult& result);

  // Checks the step deadline; call when next_deadline() has passed (calling more often is fine).
  void Tick();
  // When Tick() next has something to do; nullopt when nothing is timed.
  std::optional<TimePoint> next_deadline() const;

  // Graceful close: </stream:stream>, then Closed once the peer closes too (or close_timeout).
  void Close(std::string_view reason = "closed by owner");
  // Ends the stream at once with a stream error (e.g. system-shutdown when the gateway stops).
  void CloseWithError(StreamErrorCondition condition, std::string_view text = {});

  S2sRole role() const { return role_; }
  State state() const { return state_; }
  bool tls_active() const { return tls_active_; }
  // The id of the current stream (ours when receiving, the peer's when initiating).
  const std::string& stream_id() const { return stream_id_; }
  const std::vector<DomainPair>& authenticated_pairs() const { return authenticated_; }
  size_t queued_stanzas() const;

 private:
  struct ExtraPair {  // initiating: one more local domain, piggybacked with dialback
    std::string local;
    bool result_sent = false;
    bool valid = false;
    TimePoint deadline;
    std::deque<Element> queue;
  };
  struct PendingDialback {
    DomainPair pair;
    std::string key;
    TimePoint deadline;
  };

  S2sStream(const S2sConfig& config, S2sRole role, S2sStreamHandler& handler, const Clock& clock);

  // StreamHandler
  void OnStreamOpen(const StreamHeader& header) override;
  void OnStanza(Element& element) override;
  void OnStreamClose() override;

  void InitiatingHeader(const StreamHeader& header);
  void ReceivingHeader(const StreamHeader& header);
  void InitiatingElement(Element& element);
  void ReceivingElement(Element& element);
  void InitiatingFeatures(const Element& features);
  void ReceivingSasl(const Element& element);
  void ReceivingDialbackResult(const Element& element);
  void InitiatingDialbackResult(const Element& element);
  void AnswerDialbackVerify(const Element& element);
  void InitiatingDialbackVerifyAnswer(const Element& element);
  void ReceivingStanza(Element& stanza);

  void SendHeader(const std::string& from, const std::string& to, const std::string& id);
  void SendFeatures();
  void SendElement(const Element& element);
  void SendDialbackResultKey();
  void FlushVerifies();
  void SendExtraResults();
  void RefuseExtraPair(size_t index, std::string_view reason);
  ExtraPair* FindExtraPair(std::string_view local);
  void FlushQueue();
  void MarkAuthenticated(const DomainPair& pair, AuthMethod method);
  void CompleteSaslExternal(std::string_view initial_response);
  void SaslFailure(std::string_view condition);

  // Sends <stream:error/> (after our header if it was never sent) and </stream:stream>, closes.
  void Fail(StreamErrorCondition condition, std::string_view text = {});
  void PeerClosed(std::optional<StreamErrorCondition> condition, std::string reason);
  void Finish(CloseInfo info);
  void SetStepDeadline();

  bool IsLocalDomain(std::string_view domain) const;
  bool IsAuthenticated(std::string_view local, std::string_view remote) const;
  std::string NewStreamId();

  S2sConfig config_;
  S2sRole role_;
  S2sStreamHandler& handler_;
  const Clock& clock_;
  StreamParser parser_;

  State state_ = State::kIdle;
  bool header_sent_ = false;  // our header for the current stream
  bool footer_sent_ = false;  // our </stream:stream>
  bool tls_active_ = false;
  bool restart_pending_ = false;  // the parser was Reset for a restart inside Feed
  TlsInfo tls_info_;
  XmlScope scope_;  // what our current header binds (for writing elements)
  std::string stream_id_;
  std::optional<TimePoint> deadline_;
  std::string close_reason_;  // why we sent </stream:stream> (kClosing)

  // Initiating.
  DomainPair pair_;  // local -> remote
  bool sasl_failed_ = false;
  bool peer_offers_dialback_ = false;
  bool header_declares_dialback_ = false;
  bool may_send_verify_ = false;  // features seen after TLS (or TLS skipped): db:verify may go
  bool sasl_succeeded_ = false;
  std::deque<Element> queue_;
  std::vector<ExtraPair> extra_pairs_;
  std::deque<DialbackVerifyRequest> verifies_to_send_;
  std::vector<DialbackVerifyRequest> verifies_sent_;

  // Receiving.
  std::string header_to_;    // our domain the peer addressed
  std::string header_from_;  // the peer's claimed domain ("" when absent)
  bool sasl_offered_ = false;
  int sasl_attempts_ = 0;
  std::optional<DomainPair> sasl_pair_;  // set on <success/>, authenticated after the restart
  std::vector<PendingDialback> pending_;

  std::vector<DomainPair> authenticated_;
};

std::string_view S2sStateName(S2sStream::State state);

}  // namespace causeway::xmpp::s2s
