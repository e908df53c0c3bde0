#include "xmpp/s2s/s2s_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/s2s/dialback.h"

namespace causeway::xmpp::s2s {
namespace {

// A bare domain JID's normalized domain, or nullopt when `text` is anything else.
std::optional<std::string> ParseDomain(std::string_view text) {
  absl::StatusOr<Jid> jid = Jid::Parse(text);
  if (!jid.ok() || !jid->node().empty() || !jid->resource().empty()) return std::nullopt;
  return jid->domain();
}

// The domainpart of a JID that did not parse as a whole (for answering a bad localpart).
std::optional<std::string> RawDomainOf(std::string_view jid) {
  size_t slash = jid.find('/');
  if (slash != std::string_view::npos) jid = jid.substr(0, slash);
  size_t at = jid.find('@');
  if (at != std::string_view::npos) jid = jid.substr(at + 1);
  return ParseDomain(jid);
}

bool IsVersionOne(std::string_view version) {
  size_t dot = version.find('.');
  return dot != std::string_view::npos && version.substr(0, dot) == "1";
}

Element DialbackElement(std::string_view name, std::string_view from, std::string_view to) {
  Element element(kNsDialback, name);
  element.SetAttr("from", from);
  element.SetAttr("to", to);
  return element;
}

// XEP-0220 §2.4: <db:result type='error'><error type='...'><condition/></error></db:result>.
Element DialbackError(std::string_view name, std::string_view from, std::string_view to,
                      StanzaErrorCondition condition) {
  Element element = DialbackElement(name, from, to);
  element.SetAttr("type", "error");
  // The <error/> is unprefixed inside <db:result/>, so it is in the stream's jabber:server.
  element.AddChild(MakeStanzaError(condition, kNsServer));
  return element;
}

}  // namespace

std::string_view AuthMethodName(AuthMethod method) {
  switch (method) {
    case AuthMethod::kSaslExternal:
      return "sasl-external";
    case AuthMethod::kDialback:
      return "dialback";
  }
  return "?";
}

std::string_view S2sStateName(S2sStream::State state) {
  using State = S2sStream::State;
  switch (state) {
    case State::kIdle:
      return "idle";
    case State::kAwaitHeader:
      return "await-header";
    case State::kAwaitFeatures:
      return "await-features";
    case State::kNegotiating:
      return "negotiating";
    case State::kAwaitProceed:
      return "await-proceed";
    case State::kTlsHandshake:
      return "tls-handshake";
    case State::kAwaitSaslResult:
      return "await-sasl-result";
    case State::kAwaitDialback:
      return "await-dialback";
    case State::kAuthenticated:
      return "authenticated";
    case State::kClosing:
      return "closing";
    case State::kClosed:
      return "closed";
  }
  return "?";
}

// ---- construction ----

S2sStream::S2sStream(const S2sConfig& config, S2sRole role, S2sStreamHandler& handler,
                     const Clock& clock)
    : config_(config),
      role_(role),
      handler_(handler),
      clock_(clock),
      parser_(*this, config.limits) {
  for (std::string& domain : config_.local_domains) {
    if (std::optional<std::string> normalized = ParseDomain(domain)) domain = *normalized;
  }
}

S2sStream::~S2sStream() = default;

absl::StatusOr<std::unique_ptr<S2sStream>> S2sStream::Initiating(const S2sConfig& config,
                                                                 std::string_view local_domain,
                                                                 std::string_view remote_domain,
                                                                 S2sStreamHandler& handler,
                                                                 const Clock& clock) {
  std::optional<std::string> local = ParseDomain(local_domain);
  std::optional<std::string> remote = ParseDomain(remote_domain);
  if (!local || !remote) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a domain: ", ToAbsl(local ? remote_domain : local_domain)));
  }
  std::unique_ptr<S2sStream> stream(new S2sStream(config, S2sRole::kInitiating, handler, clock));
  if (!stream->IsLocalDomain(*local)) {
    return absl::InvalidArgumentError(absl::StrCat(*local, " is not one of our domains"));
  }
  stream->pair_ = DomainPair{*local, *remote};
  return stream;
}

std::unique_ptr<S2sStream> S2sStream::Receiving(const S2sConfig& config, S2sStreamHandler& handler,
                                                const Clock& clock) {
  return std::unique_ptr<S2sStream>(new S2sStream(config, S2sRole::kReceiving, handler, clock));
}

void S2sStream::Start() {
  if (state_ != State::kIdle) return;
  if (role_ == S2sRole::kInitiating) SendHeader(pair_.local, pair_.remote, "");
  state_ = State::kAwaitHeader;
  SetStepDeadline();
}

// ---- input ----

size_t S2sStream::Feed(std::string_view bytes) {
  if (state_ == State::kIdle) Start();
  size_t used = 0;
  while (used < bytes.size() && state_ != State::kClosed) {
    if (state_ == State::kTlsHandshake) return used;  // the rest is TLS data
    restart_pending_ = false;
    absl::Status status = parser_.Feed(bytes.substr(used));
    used += parser_.last_feed_consumed();
    if (!status.ok()) {
      Fail(StreamErrorOf(status).value_or(StreamErrorCondition::kNotWellFormed),
           FromAbsl(status.message()));
      break;
    }
    // A restart after SASL success Reset the parser mid-read: the rest is the new stream.
    if (!restart_pending_) break;
  }
  return state_ == State::kClosed ? bytes.size() : used;
}

void S2sStream::OnTlsEstablished(const TlsInfo& info) {
  if (state_ != State::kTlsHandshake) return;
  tls_active_ = true;
  tls_info_ = info;
  header_sent_ = false;
  state_ = State::kAwaitHeader;
  SetStepDeadline();
  // RFC 6120 §5.4.3.3: the initiating entity opens a new stream over the TLS layer.
  if (role_ == S2sRole::kInitiating) {
    if (config_.require_peer_certificate && !CertificateAuthenticates(info, pair_.remote)) {
      footer_sent_ = true;  // the owner drops the TLS connection; nothing more is said
      Finish({CloseOrigin::kLocal, std::nullopt,
              absl::StrCat("the certificate does not authenticate ", pair_.remote)});
      return;
    }
    SendHeader(pair_.local, pair_.remote, "");
  }
}

void S2sStream::OnTlsFailed(std::string_view reason) {
  if (state_ == State::kClosed) return;
  footer_sent_ = true;  // nothing more can be written on a failed TLS layer
  Finish({CloseOrigin::kLocal, std::nullopt, absl::StrCat("TLS failed: ", ToAbsl(reason))});
}

void S2sStream::OnStreamOpen(const StreamHeader& header) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  if (header.content_ns != kNsServer) {
    Fail(StreamErrorCondition::kInvalidNamespace, "s2s streams are jabber:server");
    return;
  }
  // Without version='1.0' there are no stream features, hence no STARTTLS (RFC 6120 §4.7.5).
  if (!IsVersionOne(header.version)) {
    Fail(StreamErrorCondition::kUnsupportedVersion, "version 1.0 is required");
    return;
  }
  if (role_ == S2sRole::kInitiating) {
    InitiatingHeader(header);
  } else {
    ReceivingHeader(header);
  }
}

void S2sStream::InitiatingHeader(const StreamHeader& header) {
  if (header.id.empty()) {
    Fail(StreamErrorCondition::kUndefinedCondition, "the response stream header has no id");
    return;
  }
  stream_id_ = header.id;
  header_declares_dialback_ = header.DeclaresNamespace(kNsDialback);
  state_ = State::kAwaitFeatures;
  SetStepDeadline();
}

void S2sStream::ReceivingHeader(const StreamHeader& header) {
  std::optional<std::string> to = ParseDomain(header.to);
  if (!to || !IsLocalDomain(*to)) {
    if (to) header_to_ = *to;
    Fail(StreamErrorCondition::kHostUnknown,
         header.to.empty() ? "no 'to' in the stream header" : "not a domain we serve");
    return;
  }
  std::optional<std::string> from;
  if (!header.from.empty()) {
    from = ParseDomain(header.from);
    if (!from) {
      header_to_ = *to;
      Fail(StreamErrorCondition::kInvalidFrom, "the stream header's 'from' is not a domain");
      return;
    }
  }
  if (sasl_pair_ && ((from && *from != sasl_pair_->remote) || *to != sasl_pair_->local)) {
    header_to_ = *to;
    Fail(StreamErrorCondition::kInvalidFrom, "the restarted stream names other domains");
    return;
  }
  header_to_ = *to;
  header_from_ = from.value_or("");
  stream_id_ = NewStreamId();  // a new id for every (re)started stream, RFC 6120 §4.7.3
  SendHeader(header_to_, header_from_, stream_id_);
  SendFeatures();
  if (sasl_pair_) {
    MarkAuthenticated(*sasl_pair_, AuthMethod::kSaslExternal);
    return;
  }
  state_ = State::kNegotiating;
  SetStepDeadline();
}

void S2sStream::OnStanza(Element& element) {
  if (state_ == State::kClosed) return;
  if (element.Is(kNsStreams, "error")) {
    const Element* condition = element.FindChildInNs(kNsStreamErrors);
    std::optional<StreamErrorCondition> parsed =
        condition ? ParseStreamErrorCondition(condition->name()) : std::nullopt;
    std::string text(element.ChildText(kNsStreamErrors, "text"));
    PeerClosed(
        parsed.value_or(StreamErrorCondition::kUndefinedCondition),
        absl::StrCat("stream error from the peer: ", condition ? condition->name() : "(none)",
                     text.empty() ? "" : " ", text));
    return;
  }
  if (state_ == State::kClosing) return;  // the peer may still be sending; we are done
  if (role_ == S2sRole::kInitiating) {
    InitiatingElement(element);
  } else {
    ReceivingElement(element);
  }
}

void S2sStream::OnStreamClose() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kClosing) {
    Finish({CloseOrigin::kLocal, std::nullopt, close_reason_});
    return;
  }
  PeerClosed(std::nullopt, "the peer closed the stream");
}

// ---- initiating side ----

void S2sStream::InitiatingElement(Element& element) {
  if (element.Is(kNsDialback, "verify") && element.Attr("type")) {
    InitiatingDialbackVerifyAnswer(element);
    return;
  }
  switch (state_) {
    case State::kAwaitFeatures:
      if (element.Is(kNsStreams, "features")) {
        InitiatingFeatures(element);
        return;
      }
      break;
    case State::kAwaitProceed:
      if (element.Is(kNsTls, "proceed")) {
        parser_.Reset();  // the next bytes are TLS records, then a new stream
        state_ = State::kTlsHandshake;
        SetStepDeadline();
        handler_.StartTls(TlsRole::kClient);
        return;
      }
      if (element.Is(kNsTls, "failure")) {
        // RFC 6120 §5.4.2.2: the receiving entity closes the stream after <failure/>.
        PeerClosed(std::nullopt, "the peer refused STARTTLS");
        return;
      }
      break;
    case State::kAwaitSaslResult:
      if (element.Is(kNsSasl, "success")) {
        sasl_succeeded_ = true;
        parser_.Reset();
        restart_pending_ = true;
        header_sent_ = false;
        SendHeader(pair_.local, pair_.remote, "");  // RFC 6120 §6.4.6: restart the stream
        state_ = State::kAwaitHeader;
        SetStepDeadline();
        return;
      }
      if (element.Is(kNsSasl, "challenge")) {  // the peer wants the response after all
        Element response(kNsSasl, "response");
        response.SetText(config_.sasl_send_authzid ? absl::Base64Escape(pair_.local) : "=");
        SendElement(response);
        SetStepDeadline();
        return;
      }
      if (element.Is(kNsSasl, "failure")) {
        sasl_failed_ = true;
        if (peer_offers_dialback_ && !config_.dialback_secret.empty()) {
          SendDialbackResultKey();  // XEP-0178 §3: fall back to dialback
        } else {
          const Element* condition = element.FindChildInNs(kNsSasl);
          Close(absl::StrCat("SASL EXTERNAL refused: ", condition ? condition->name() : "?"));
        }
        return;
      }
      break;
    case State::kAwaitDialback:
      if (element.Is(kNsDialback, "result")) {
        InitiatingDialbackResult(element);
        return;
      }
      break;
    case State::kAuthenticated:
      if (element.Is(kNsDialback, "result")) {  // for a piggybacked domain
        InitiatingDialbackResult(element);
        return;
      }
      Fail(StreamErrorCondition::kUnsupportedStanzaType,
           "an outbound s2s stream carries no inbound stanzas (XEP-0288 is not supported)");
      return;
    default:
      break;
  }
  Fail(StreamErrorCondition::kUnsupportedStanzaType,
       absl::StrCat("unexpected <", element.name(), "/> in ", ToAbsl(S2sStateName(state_))));
}

void S2sStream::InitiatingFeatures(const Element& features) {
  if (sasl_succeeded_) {
    MarkAuthenticated(pair_, AuthMethod::kSaslExternal);
    return;
  }
  const bool starttls = features.FindChild(kNsTls, "starttls") != nullptr;
  bool external = false;
  if (const Element* mechanisms = features.FindChild(kNsSasl, "mechanisms")) {
    for (const Element& mechanism : mechanisms->children()) {
      if (mechanism.Is(kNsSasl, "mechanism") && mechanism.text() == "EXTERNAL") external = true;
    }
  }
  peer_offers_dialback_ =
      features.FindChild(kNsDialbackFeature, "dialback") != nullptr || header_declares_dialback_;

  if (!tls_active_) {
    if (starttls && config_.tls_available) {
      SendElement(Element(kNsTls, "starttls"));
      state_ = State::kAwaitProceed;
      SetStepDeadline();
      return;
    }
    if (config_.require_tls) {
      Fail(StreamErrorCondition::kPolicyViolation, "TLS is required and was not offered");
      return;
    }
  }
  may_send_verify_ = true;
  FlushVerifies();
  if (state_ == State::kClosed) return;
  if (external && config_.tls_available && !sasl_failed_) {
    Element auth(kNsSasl, "auth");
    auth.SetAttr("mechanism", "EXTERNAL");
    // RFC 6120 §6.4.2: "=" is an empty initial response (the peer takes our stream 'from').
    auth.SetText(config_.sasl_send_authzid ? absl::Base64Escape(pair_.local) : "=");
    SendElement(auth);
    state_ = State::kAwaitSaslResult;
    SetStepDeadline();
    return;
  }
  if (peer_offers_dialback_ && !config_.dialback_secret.empty()) {
    SendDialbackResultKey();
    return;
  }
  Close("no authentication method in common with the peer");
}

void S2sStream::SendDialbackResultKey() {
  Element result = DialbackElement("result", pair_.local, pair_.remote);
  result.SetText(DialbackKey(config_.dialback_secret, pair_.remote, pair_.local, stream_id_));
  SendElement(result);
  state_ = State::kAwaitDialback;
  SetStepDeadline();
}

void S2sStream::InitiatingDialbackResult(const Element& element) {
  std::optional<std::string> from = ParseDomain(element.AttrOr("from", ""));
  std::optional<std::string> to = ParseDomain(element.AttrOr("to", ""));
  if (!from || !to || *from != pair_.remote) return;  // not for this stream
  std::string_view type = element.AttrOr("type", "");
  if (*to != pair_.local) {
    ExtraPair* extra = FindExtraPair(*to);
    if (extra == nullptr || !extra->result_sent || extra->valid) return;
    if (type != "valid") {
      RefuseExtraPair(extra - extra_pairs_.data(),
                      absl::StrCat("db:result type='", ToAbsl(type), "'"));
      return;
    }
    extra->valid = true;
    DomainPair pair{extra->local, pair_.remote};
    authenticated_.push_back(pair);
    while (!extra->queue.empty() && state_ == State::kAuthenticated) {
      Element stanza = std::move(extra->queue.front());
      extra->queue.pop_front();
      SendElement(stanza);
    }
    if (state_ == State::kAuthenticated) handler_.Authenticated(pair, AuthMethod::kDialback);
    return;
  }
  if (state_ != State::kAwaitDialback) return;  // a late duplicate answer
  if (type == "valid") {
    MarkAuthenticated(pair_, AuthMethod::kDialback);
    return;
  }
  if (type == "invalid") {
    Close("the peer refused our dialback key (db:result type='invalid')");
    return;
  }
  std::string condition = "?";
  if (const Element* error = element.FindChild(kNsServer, "error")) {
    if (const Element* c = error->FindChildInNs(kNsStanzaErrors)) condition = c->name();
  }
  Close(absl::StrCat("dialback failed: db:result type='", ToAbsl(type), "' ", condition));
}

void S2sStream::InitiatingDialbackVerifyAnswer(const Element& element) {
  std::string_view from = element.AttrOr("from", "");
  std::string_view to = element.AttrOr("to", "");
  std::string_view id = element.AttrOr("id", "");
  auto it = std::find_if(
      verifies_sent_.begin(), verifies_sent_.end(), [&](const DialbackVerifyRequest& r) {
        return r.originating_domain == from && r.receiving_domain == to && r.stream_id == id;
      });
  if (it == verifies_sent_.end()) return;  // an answer to nothing we asked: ignore
  DialbackVerifyResult result{it->receiving_domain, it->originating_domain, it->stream_id,
                              element.AttrOr("type", "") == "valid"};
  verifies_sent_.erase(it);
  handler_.DialbackVerifyAnswered(result);
}

absl::Status S2sStream::Send(Element&& stanza) {
  if (role_ != S2sRole::kInitiating) {
    return absl::FailedPreconditionError("stanzas go out on initiating streams only");
  }
  if (state_ == State::kClosing || state_ == State::kClosed) {
    return absl::FailedPreconditionError("the stream is closing");
  }
  if (KindOf(stanza) == StanzaKind::kNone || stanza.ns() != kNsServer) {
    return absl::InvalidArgumentError("not a jabber:server message, presence or iq");
  }
  absl::StatusOr<Jid> from = StanzaFromJid(stanza);
  absl::StatusOr<Jid> to = StanzaToJid(stanza);
  ExtraPair* extra = from.ok() ? FindExtraPair(from->domain()) : nullptr;
  if (!from.ok() || !to.ok() || to->domain() != pair_.remote ||
      (from->domain() != pair_.local && extra == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a stanza on this stream goes from ", pair_.local, " to ", pair_.remote));
  }
  std::deque<Element>& queue = extra ? extra->queue : queue_;
  const bool ready = extra ? extra->valid : true;
  if (state_ == State::kAuthenticated && ready && queue.empty()) {
    SendElement(stanza);
    return absl::OkStatus();
  }
  if (queued_stanzas() >= config_.max_queued_stanzas) {
    return absl::ResourceExhaustedError("the s2s queue is full");
  }
  queue.push_back(std::move(stanza));
  return absl::OkStatus();
}

absl::Status S2sStream::AddLocalDomain(std::string_view local_domain) {
  if (role_ != S2sRole::kInitiating) {
    return absl::FailedPreconditionError("domains are added to initiating streams");
  }
  if (state_ == State::kClosing || state_ == State::kClosed) {
    return absl::FailedPreconditionError("the stream is closing");
  }
  std::optional<std::string> local = ParseDomain(local_domain);
  if (!local || !IsLocalDomain(*local)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(local_domain), " is not one of our domains"));
  }
  if (*local == pair_.local || FindExtraPair(*local) != nullptr) return absl::OkStatus();
  if (config_.dialback_secret.empty()) {
    return absl::FailedPreconditionError("dialback is disabled");
  }
  if (may_send_verify_ && !peer_offers_dialback_) {
    return absl::FailedPreconditionError("the peer offered no dialback");
  }
  extra_pairs_.push_back(ExtraPair{*local, false, false, TimePoint{}, {}});
  SendExtraResults();
  return absl::OkStatus();
}

S2sStream::ExtraPair* S2sStream::FindExtraPair(std::string_view local) {
  for (ExtraPair& extra : extra_pairs_) {
    if (extra.local == local) return &extra;
  }
  return nullptr;
}

size_t S2sStream::queued_stanzas() const {
  size_t count = queue_.size();
  for (const ExtraPair& extra : extra_pairs_) count += extra.queue.size();
  return count;
}

// Once the stream's own pair is authenticated, its id is final: key the piggybacked domains.
void S2sStream::SendExtraResults() {
  if (role_ != S2sRole::kInitiating || state_ != State::kAuthenticated) return;
  for (size_t i = 0; i < extra_pairs_.size() && state_ == State::kAuthenticated;) {
    ExtraPair& extra = extra_pairs_[i];
    if (extra.result_sent) {
      ++i;
      continue;
    }
    if (!peer_offers_dialback_) {
      RefuseExtraPair(i, "the peer offered no dialback");
      continue;
    }
    Element result = DialbackElement("result", extra.local, pair_.remote);
    result.SetText(DialbackKey(config_.dialback_secret, pair_.remote, extra.local, stream_id_));
    extra.result_sent = true;
    extra.deadline = clock_.Now() + config_.step_timeout;
    SendElement(result);
    ++i;
  }
}

void S2sStream::RefuseExtraPair(size_t index, std::string_view reason) {
  ExtraPair extra = std::move(extra_pairs_[index]);
  extra_pairs_.erase(extra_pairs_.begin() + static_cast<std::ptrdiff_t>(index));
  std::vector<Element> unsent(std::make_move_iterator(extra.queue.begin()),
                              std::make_move_iterator(extra.queue.end()));
  handler_.PairRefused({extra.local, pair_.remote}, reason, std::move(unsent));
}

absl::Status S2sStream::SendDialbackVerify(const DialbackVerifyRequest& request) {
  if (role_ != S2sRole::kInitiating) {
    return absl::FailedPreconditionError("db:verify goes out on initiating streams only");
  }
  if (state_ == State::kClosing || state_ == State::kClosed) {
    return absl::FailedPreconditionError("the stream is closing");
  }
  if (request.originating_domain != pair_.remote || !IsLocalDomain(request.receiving_domain)) {
    return absl::InvalidArgumentError("db:verify goes to the originating domain's server");
  }
  if (verifies_to_send_.size() + verifies_sent_.size() >= config_.max_queued_stanzas) {
    return absl::ResourceExhaustedError("too many dialback verifications outstanding");
  }
  verifies_to_send_.push_back(request);
  if (may_send_verify_) FlushVerifies();
  return absl::OkStatus();
}

void S2sStream::FlushVerifies() {
  while (!verifies_to_send_.empty() && state_ != State::kClosed && state_ != State::kClosing) {
    DialbackVerifyRequest request = std::move(verifies_to_send_.front());
    verifies_to_send_.pop_front();
    Element verify =
        DialbackElement("verify", request.receiving_domain, request.originating_domain);
    verify.SetAttr("id", request.stream_id);
    verify.SetText(request.key);
    verifies_sent_.push_back(std::move(request));
    SendElement(verify);
  }
}

void S2sStream::FlushQueue() {
  while (!queue_.empty() && state_ == State::kAuthenticated) {
    Element stanza = std::move(queue_.front());
    queue_.pop_front();
    SendElement(stanza);
  }
}

// ---- receiving side ----

void S2sStream::SendFeatures() {
  Element features(kNsStreams, "features");
  const bool dialback = !config_.dialback_secret.empty();
  sasl_offered_ = false;
  if (sasl_pair_) {
    // After SASL: nothing left to negotiate (RFC 6120 §6.4.6 still wants the element).
  } else if (!tls_active_) {
    if (config_.tls_available) {
      Element& starttls = features.AddChild(kNsTls, "starttls");
      if (config_.require_tls) starttls.AddChild(kNsTls, "required");
    }
    if (!config_.require_tls && dialback) {
      features.AddChild(kNsDialbackFeature, "dialback").AddChild(kNsDialbackFeature, "errors");
    }
  } else {
    // XEP-0178: EXTERNAL only when the certificate already proves the claimed domain.
    sasl_offered_ = !header_from_.empty() && CertificateAuthenticates(tls_info_, header_from_);
    if (sasl_offered_) {
      features.AddChild(kNsSasl, "mechanisms").AddChild(kNsSasl, "mechanism").SetText("EXTERNAL");
    }
    if (dialback) {
      features.AddChild(kNsDialbackFeature, "dialback").AddChild(kNsDialbackFeature, "errors");
    }
  }
  SendElement(features);
}

void S2sStream::ReceivingElement(Element& element) {
  if (element.Is(kNsTls, "starttls")) {
    if (state_ == State::kNegotiating && !tls_active_ && config_.tls_available) {
      SendElement(Element(kNsTls, "proceed"));
      parser_.Reset();
      state_ = State::kTlsHandshake;
      SetStepDeadline();
      handler_.StartTls(TlsRole::kServer);
    } else {
      SendElement(Element(kNsTls, "failure"));
      handler_.WriteBytes(kStreamFooter);
      footer_sent_ = true;
      Finish({CloseOrigin::kLocal, std::nullopt, "STARTTLS refused (not offered now)"});
    }
    return;
  }
  if (!tls_active_ && config_.require_tls) {
    Fail(StreamErrorCondition::kPolicyViolation, "STARTTLS is required first");
    return;
  }
  if (element.ns() == kNsSasl) {
    ReceivingSasl(element);
    return;
  }
  if (element.Is(kNsDialback, "result")) {
    ReceivingDialbackResult(element);
    return;
  }
  if (element.Is(kNsDialback, "verify")) {
    AnswerDialbackVerify(element);
    return;
  }
  if (KindOf(element) != StanzaKind::kNone) {
    if (authenticated_.empty()) {
      Fail(StreamErrorCondition::kNotAuthorized, "stanza before authentication");
      return;
    }
    ReceivingStanza(element);
    return;
  }
  Fail(StreamErrorCondition::kUnsupportedStanzaType,
       absl::StrCat("unexpected <", element.name(), "/> in ", ToAbsl(S2sStateName(state_))));
}

void S2sStream::ReceivingSasl(const Element& element) {
  if (!authenticated_.empty() || sasl_pair_) {
    Fail(StreamErrorCondition::kPolicyViolation, "SASL after authentication");
    return;
  }
  if (element.name() == "auth") {
    if (element.AttrOr("mechanism", "") != "EXTERNAL" || !sasl_offered_) {
      SaslFailure("invalid-mechanism");
      return;
    }
    if (element.text().empty()) {  // no initial response: ask for it with an empty challenge
      Element challenge(kNsSasl, "challenge");
      challenge.SetText("=");
      SendElement(challenge);
      state_ = State::kAwaitSaslResult;
      SetStepDeadline();
      return;
    }
    CompleteSaslExternal(element.text());
    return;
  }
  if (element.name() == "response" && state_ == State::kAwaitSaslResult) {
    CompleteSaslExternal(element.text());
    return;
  }
  if (element.name() == "abort") {
    SaslFailure("aborted");
    return;
  }
  SaslFailure("malformed-request");
}

void S2sStream::CompleteSaslExternal(std::string_view initial_response) {
  std::string authzid;
  if (initial_response != "=" && !initial_response.empty()) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(ToAbsl(initial_response));
    if (!absl::Base64Unescape(trimmed, &authzid)) {
      SaslFailure("incorrect-encoding");
      return;
    }
  }
  // XEP-0178 §3: an empty authzid means the domain in the stream header's 'from'.
  if (authzid.empty()) authzid = header_from_;
  std::optional<std::string> domain = ParseDomain(authzid);
  if (!domain || (!header_from_.empty() && *domain != header_from_)) {
    SaslFailure("invalid-authzid");
    return;
  }
  if (!CertificateAuthenticates(tls_info_, *domain)) {
    SaslFailure("not-authorized");
    return;
  }
  SendElement(Element(kNsSasl, "success"));
  sasl_pair_ = DomainPair{header_to_, *domain};
  parser_.Reset();  // RFC 6120 §6.4.6: the initiating entity restarts the stream
  restart_pending_ = true;
  header_sent_ = false;
  state_ = State::kAwaitHeader;
  SetStepDeadline();
}

void S2sStream::SaslFailure(std::string_view condition) {
  Element failure(kNsSasl, "failure");
  failure.AddChild(kNsSasl, condition);
  SendElement(failure);
  if (++sasl_attempts_ >= config_.max_sasl_attempts) {
    Fail(StreamErrorCondition::kPolicyViolation, "too many SASL attempts");
    return;
  }
  state_ = State::kNegotiating;
  SetStepDeadline();
}

void S2sStream::ReceivingDialbackResult(const Element& element) {
  if (config_.dialback_secret.empty()) {
    Fail(StreamErrorCondition::kUnsupportedStanzaType, "dialback is disabled");
    return;
  }
  if (element.Attr("type")) return;  // a result type is for the initiating side only
  std::optional<std::string> from = ParseDomain(element.AttrOr("from", ""));
  if (!from) {
    Fail(StreamErrorCondition::kInvalidFrom, "db:result 'from' is not a domain");
    return;
  }
  std::optional<std::string> to = ParseDomain(element.AttrOr("to", ""));
  if (!to || !IsLocalDomain(*to)) {
    if (authenticated_.empty() && pending_.empty()) {
      Fail(StreamErrorCondition::kHostUnknown, "db:result 'to' is not a domain we serve");
    } else {
      SendElement(DialbackError("result", element.AttrOr("to", ""), *from,
                                StanzaErrorCondition::kItemNotFound));
    }
    return;
  }
  if (element.text().empty()) {
    Fail(StreamErrorCondition::kBadFormat, "db:result without a key");
    return;
  }
  DomainPair pair{*to, *from};
  if (IsAuthenticated(pair.local, pair.remote)) {
    Element valid = DialbackElement("result", pair.local, pair.remote);
    valid.SetAttr("type", "valid");
    SendElement(valid);
    return;
  }
  if (std::any_of(pending_.begin(), pending_.end(),
                  [&](const PendingDialback& p) { return p.pair == pair; })) {
    return;  // already being verified
  }
  if (pending_.size() + authenticated_.size() >= config_.max_domain_pairs) {
    SendElement(
        DialbackError("result", pair.local, pair.remote, StanzaErrorCondition::kPolicyViolation));
    return;
  }
  pending_.push_back({pair, element.text(), clock_.Now() + config_.step_timeout});
  if (authenticated_.empty()) {
    state_ = State::kAwaitDialback;
    deadline_.reset();  // the pending verification's own deadline bounds this step
  }
  handler_.DialbackVerifyNeeded({pair.local, pair.remote, stream_id_, element.text()});
}

absl::Status S2sStream::ApplyDialbackVerifyResult(const DialbackVerifyResult& result) {
  if (role_ != S2sRole::kReceiving) {
    return absl::FailedPreconditionError("dialback results apply to receiving streams");
  }
  if (state_ == State::kClosed || state_ == State::kClosing) {
    return absl::FailedPreconditionError("the stream is closing");
  }
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const PendingDialback& p) {
    return p.pair.local == result.receiving_domain && p.pair.remote == result.originating_domain;
  });
  if (it == pending_.end() || result.stream_id != stream_id_) {
    return absl::NotFoundError("no such dialback verification pending on this stream");
  }
  DomainPair pair = it->pair;
  pending_.erase(it);
  Element answer = DialbackElement("result", pair.local, pair.remote);
  answer.SetAttr("type", result.valid ? "valid" : "invalid");
  SendElement(answer);
  if (result.valid) {
    MarkAuthenticated(pair, AuthMethod::kDialback);
  } else if (authenticated_.empty() && pending_.empty()) {
    // Nothing else can happen on this stream (XEP-0220 §2.1.3; RFC 3920 closed it too).
    Fail(StreamErrorCondition::kNotAuthorized, "dialback key invalid");
  }
  return absl::OkStatus();
}

void S2sStream::AnswerDialbackVerify(const Element& element) {
  std::string_view from = element.AttrOr("from", "");  // the receiving server asking
  std::string_view to = element.AttrOr("to", "");      // us, the authoritative server
  std::string_view id = element.AttrOr("id", "");
  std::optional<std::string> ours = ParseDomain(to);
  if (!ours || !IsLocalDomain(*ours) || config_.dialback_secret.empty()) {
    Element error = DialbackError("verify", to, from, StanzaErrorCondition::kItemNotFound);
    error.SetAttr("id", id);
    SendElement(error);
    return;
  }
  const bool valid =
      !id.empty() &&
      DialbackKeysEqual(element.text(), DialbackKey(config_.dialback_secret, from, *ours, id));
  Element answer = DialbackElement("verify", *ours, from);
  answer.SetAttr("id", id);
  answer.SetAttr("type", valid ? "valid" : "invalid");
  SendElement(answer);
}

void S2sStream::ReceivingStanza(Element& stanza) {
  // RFC 6120 §4.9.3.10, §4.9.3.6, §4.9.3.9: addressing errors on s2s close the stream.
  if (stanza.ns() != kNsServer) {
    Fail(StreamErrorCondition::kInvalidNamespace, "stanza outside jabber:server");
    return;
  }
  std::string_view from_text = StanzaFrom(stanza);
  std::string_view to_text = StanzaTo(stanza);
  if (from_text.empty() || to_text.empty()) {
    Fail(StreamErrorCondition::kImproperAddressing, "stanza without 'from' or 'to'");
    return;
  }
  absl::StatusOr<Jid> from = Jid::Parse(from_text);
  if (!from.ok()) {
    Fail(StreamErrorCondition::kImproperAddressing, "malformed 'from'");
    return;
  }
  absl::StatusOr<Jid> to = Jid::Parse(to_text);
  if (!to.ok()) {
    // The sender is known and authenticated: a bad localpart or resource is its stanza's
    // problem (jid-malformed, RFC 6120 §8.3.3.8), not the stream's.
    std::optional<std::string> to_domain = RawDomainOf(to_text);
    if (to_domain && IsLocalDomain(*to_domain) && IsAuthenticated(*to_domain, from->domain())) {
      absl::StatusOr<Element> reply =
          MakeStanzaErrorReply(stanza, StanzaErrorCondition::kJidMalformed);
      if (reply.ok()) {  // never answer an error with an error
        reply->SetAttr("from", *to_domain);
        handler_.StanzaRejected(*std::move(reply));
      }
      return;
    }
    Fail(StreamErrorCondition::kImproperAddressing, "malformed 'to'");
    return;
  }
  if (!IsLocalDomain(to->domain())) {
    Fail(StreamErrorCondition::kHostUnknown, "stanza to a domain we do not serve");
    return;
  }
  if (!IsAuthenticated(to->domain(), from->domain())) {
    Fail(StreamErrorCondition::kInvalidFrom, "stanza from a domain not authenticated here");
    return;
  }
  DomainPair pair{to->domain(), from->domain()};
  handler_.StanzaReceived(std::move(stanza), pair);
}

// ---- shared ----

void S2sStream::MarkAuthenticated(const DomainPair& pair, AuthMethod method) {
  if (!IsAuthenticated(pair.local, pair.remote)) authenticated_.push_back(pair);
  state_ = State::kAuthenticated;
  deadline_.reset();
  FlushQueue();  // before the callback: a Send() from inside it must not overtake the queue
  if (state_ == State::kClosed) return;
  handler_.Authenticated(pair, method);
  SendExtraResults();
}

void S2sStream::SendHeader(const std::string& from, const std::string& to, const std::string& id) {
  StreamHeader header;
  header.content_ns = std::string(kNsServer);
  header.from = from;
  header.to = to;
  header.id = id;
  header.version = "1.0";
  header.prefixes.emplace_back("db", std::string(kNsDialback));
  scope_ = StreamScope(header);
  scope_.default_ns = kNsServer;  // the view must outlive `header`
  header_sent_ = true;
  handler_.WriteBytes(StreamHeaderXml(header));
}

void S2sStream::SendElement(const Element& element) {
  std::string out;
  AppendXml(element, &out, scope_);
  handler_.WriteBytes(out);
}

void S2sStream::Fail(StreamErrorCondition condition, std::string_view text) {
  if (state_ == State::kClosed) return;
  // Mid-handshake, plaintext would corrupt the TLS records: the owner just drops the connection.
  if (state_ == State::kTlsHandshake) footer_sent_ = true;
  if (!footer_sent_) {
    std::string out;
    if (!header_sent_) {  // RFC 6120 §4.9.1.2: open our stream first, then the error
      StreamHeader header;
      header.content_ns = std::string(kNsServer);
      header.from = role_ == S2sRole::kInitiating ? pair_.local : header_to_;
      header.id = role_ == S2sRole::kReceiving ? NewStreamId() : "";
      header.version = "1.0";
      scope_ = StreamScope(header);
      scope_.default_ns = kNsServer;  // the view must outlive `header`
      out = StreamHeaderXml(header);
      header_sent_ = true;
    }
    AppendXml(MakeStreamError(condition), &out, scope_);
    out.append(kStreamFooter);
    footer_sent_ = true;
    handler_.WriteBytes(out);
  }
  Finish({CloseOrigin::kLocal, condition,
          absl::StrCat(ToAbsl(StreamErrorName(condition)), ": ", ToAbsl(text))});
}

void S2sStream::PeerClosed(std::optional<StreamErrorCondition> condition, std::string reason) {
  if (state_ == State::kClosed) return;
  if (!footer_sent_ && header_sent_) {
    footer_sent_ = true;
    handler_.WriteBytes(kStreamFooter);
  }
  Finish({CloseOrigin::kRemote, condition, std::move(reason)});
}

void S2sStream::Close(std::string_view reason) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  close_reason_ = std::string(reason);
  if (!header_sent_ ||
      state_ == State::kTlsHandshake) {  // nothing was said yet: nothing to close on the wire
    Finish({CloseOrigin::kLocal, std::nullopt, close_reason_});
    return;
  }
  footer_sent_ = true;
  handler_.WriteBytes(kStreamFooter);
  state_ = State::kClosing;
  deadline_ = clock_.Now() + config_.close_timeout;
}

void S2sStream::CloseWithError(StreamErrorCondition condition, std::string_view text) {
  Fail(condition, text);
}

void S2sStream::Finish(CloseInfo info) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  deadline_.reset();
  pending_.clear();
  parser_.Reset();  // stop parsing whatever follows in the current read
  std::vector<Element> unsent(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(queue_.end()));
  queue_.clear();
  for (ExtraPair& extra : extra_pairs_) {
    unsent.insert(unsent.end(), std::make_move_iterator(extra.queue.begin()),
                  std::make_move_iterator(extra.queue.end()));
  }
  extra_pairs_.clear();
  std::vector<DialbackVerifyRequest> unsent_verifies(verifies_to_send_.begin(),
                                                     verifies_to_send_.end());
  unsent_verifies.insert(unsent_verifies.end(), verifies_sent_.begin(), verifies_sent_.end());
  verifies_to_send_.clear();
  verifies_sent_.clear();
  handler_.Closed(info, std::move(unsent), std::move(unsent_verifies));
}

void S2sStream::Tick() {
  if (state_ == State::kClosed) return;
  const TimePoint now = clock_.Now();
  if (deadline_ && now >= *deadline_) {
    if (state_ == State::kClosing) {
      Finish({CloseOrigin::kLocal, std::nullopt,
              absl::StrCat(close_reason_, " (the peer did not close its stream in time)")});
    } else {
      Fail(StreamErrorCondition::kConnectionTimeout,
           absl::StrCat("no progress in ", ToAbsl(S2sStateName(state_))));
    }
    return;
  }
  // Piggybacked domains the peer did not answer in time (initiating side).
  for (size_t i = 0; i < extra_pairs_.size() && state_ == State::kAuthenticated;) {
    if (extra_pairs_[i].result_sent && !extra_pairs_[i].valid && now >= extra_pairs_[i].deadline) {
      RefuseExtraPair(i, "no dialback answer in time");
    } else {
      ++i;
    }
  }
  // Dialback verifications that the owner did not answer in time (receiving side).
  for (size_t i = 0;
       i < pending_.size() && state_ != State::kClosed && state_ != State::kClosing;) {
    if (now < pending_[i].deadline) {
      ++i;
      continue;
    }
    DomainPair pair = pending_[i].pair;
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    if (authenticated_.empty() && pending_.empty()) {
      // RFC 6120 §4.9.3.15: the server needed for authentication could not be reached.
      Fail(StreamErrorCondition::kRemoteConnectionFailed,
           absl::StrCat("dialback verification for ", pair.remote, " timed out"));
      return;
    }
    SendElement(DialbackError("result", pair.local, pair.remote,
                              StanzaErrorCondition::kRemoteServerTimeout));
  }
}

std::optional<TimePoint> S2sStream::next_deadline() const {
  std::optional<TimePoint> next = deadline_;
  for (const PendingDialback& pending : pending_) {
    if (!next || pending.deadline < *next) next = pending.deadline;
  }
  for (const ExtraPair& extra : extra_pairs_) {
    if (extra.result_sent && !extra.valid && (!next || extra.deadline < *next)) {
      next = extra.deadline;
    }
  }
  return next;
}

void S2sStream::SetStepDeadline() { deadline_ = clock_.Now() + config_.step_timeout; }

bool S2sStream::IsLocalDomain(std::string_view domain) const {
  return std::find(config_.local_domains.begin(), config_.local_domains.end(), domain) !=
         config_.local_domains.end();
}

bool S2sStream::IsAuthenticated(std::string_view local, std::string_view remote) const {
  return std::any_of(authenticated_.begin(), authenticated_.end(),
                     [&](const DomainPair& p) { return p.local == local && p.remote == remote; });
}

std::string S2sStream::NewStreamId() {
  return config_.stream_id_source ? config_.stream_id_source() : RandomStreamId();
}

}  // namespace causeway::xmpp::s2s
