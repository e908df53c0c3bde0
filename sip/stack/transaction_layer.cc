#include "sip/stack/transaction_layer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/stack/branch.h"

namespace causeway::sip {
namespace {

constexpr std::string_view kLog = "sip.txn";
constexpr char kKeySep = '\x1f';  // cannot appear in a token, host or method
// Method part of the alias key of non-INVITE server transactions ("*" is no method in use).
constexpr std::string_view kAnyMethod = "*";

uint16_t DefaultPort(TransportKind kind) { return kind == TransportKind::kTls ? 5061 : 5060; }

// Keys are plain concatenations separated by a byte that cannot occur in any of the parts.
void AppendKeyPart(std::string& key, std::string_view part) {
  key.append(part);
  key.push_back(kKeySep);
}

// §17.2.3 server key: branch + sent-by + method, with ACK folded onto INVITE (it belongs to the
// INVITE transaction) and `method_override` used by CANCEL to find the INVITE it targets. Without
// the magic cookie (RFC 2543 peers) the key is built from the fields §17.2.3 lists for them.
std::string ServerKey(const SipMessage& request, std::string_view method_override = {}) {
  const Via& via = request.vias().front();
  std::string_view method = method_override;
  if (method.empty()) {
    method = request.method() == Method::kAck ? std::string_view("INVITE") : request.method_text();
  }
  std::string key;
  key.reserve(96);
  if (!HasMagicCookie(via.branch)) {
    key.append("2543");
    key.push_back(kKeySep);
    AppendKeyPart(key, request.request_uri_text());
    AppendKeyPart(key, request.call_id());
    AppendKeyPart(key, request.from_tag());
    AppendKeyPart(key, absl::StrCat(request.cseq()));
  }
  AppendKeyPart(key, via.branch);
  const size_t host_at = key.size();
  AppendKeyPart(key, via.host);
  for (size_t i = host_at; i < key.size(); ++i) {
    key[i] = absl::ascii_tolower(static_cast<unsigned char>(key[i]));  // hosts ignore case
  }
  AppendKeyPart(key, via.port ? absl::StrCat(*via.port) : std::string());
  key.append(method);
  return key;
}

std::string ClientKey(std::string_view branch, std::string_view method) {
  std::string key;
  key.reserve(branch.size() + method.size() + 1);
  AppendKeyPart(key, branch);
  key.append(method);
  return key;
}

// §18.2.2 (+ RFC 3581): where responses to `request` go. Streams: back on the connection it came
// in on (the transport falls back to received-IP : sent-by port if that connection is gone).
// Datagrams: maddr if it is an address, else the source IP and the rport (if asked for) or the
// sent-by port.
Destination ResponseDestination(const SipMessage& request, const ReceiveInfo& info) {
  const Via& via = request.vias().front();
  Destination to;
  to.kind = info.kind;
  to.address = info.source;
  if (IsReliable(info.kind)) {
    to.connection = info.connection;
    to.address.set_port(via.port.value_or(DefaultPort(info.kind)));
    return to;
  }
  if (!via.maddr.empty()) {
    if (auto maddr = NetAddress::Parse(via.maddr, via.port.value_or(5060))) {
      to.address = *maddr;
      return to;
    }
  }
  if (!via.rport) to.address.set_port(via.port.value_or(5060));
  return to;
}

// §18.2.1 / RFC 3581: the top Via as it must read after reception, or nullopt if unchanged.
std::optional<std::string> AnnotatedTopVia(const Via& via, const ReceiveInfo& info) {
  const std::string source_host = info.source.HostString();
  std::string_view host = via.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  // An IPv6 literal may be written in another (equivalent) form: compare parsed addresses.
  bool same_host = false;
  if (auto parsed = NetAddress::Parse(host)) {
    NetAddress a = *parsed;
    a.set_port(0);
    NetAddress b = info.source;
    b.set_port(0);
    same_host = (a == b);
  }
  const bool need_received = !same_host || via.rport;
  const bool need_rport = via.rport && !via.rport_value.has_value();
  const bool received_ok = via.received == source_host;
  if ((!need_received || received_ok) && !need_rport) return std::nullopt;

  std::string out = absl::StrCat(ToAbsl(via.protocol_name), "/", ToAbsl(via.protocol_version), "/",
                                 ToAbsl(via.transport), " ", ToAbsl(via.host));
  if (via.port) absl::StrAppend(&out, ":", *via.port);
  for (const GenericParam& p : via.params) {
    if (absl::EqualsIgnoreCase(ToAbsl(p.name), "received")) continue;
    if (absl::EqualsIgnoreCase(ToAbsl(p.name), "rport")) continue;
    absl::StrAppend(&out, ";", ToAbsl(p.name));
    if (p.has_value) absl::StrAppend(&out, "=", ToAbsl(p.value));
  }
  if (need_received) absl::StrAppend(&out, ";received=", source_host);
  if (via.rport) {
    absl::StrAppend(&out, ";rport=", via.rport_value.value_or(info.source.port()));
  }
  return out;
}

// The header lines an ACK (§17.1.1.3) or CANCEL (§9.1) copies from the original request.
std::string BuildAckOrCancel(const SipMessage& request, std::string_view method,
                             std::string_view to_value) {
  const Header* from = request.FindHeader(HeaderId::kFrom);
  std::string out = absl::StrCat(
      ToAbsl(method), " ", ToAbsl(request.request_uri_text()),
      " SIP/2.0\r\nVia: ", ToAbsl(request.vias().front().raw),
      "\r\nMax-Forwards: 70\r\nFrom: ", from ? ToAbsl(from->value) : absl::string_view(),
      "\r\nTo: ", ToAbsl(to_value), "\r\nCall-ID: ", ToAbsl(request.call_id()),
      "\r\nCSeq: ", request.cseq(), " ", ToAbsl(method), "\r\n");
  for (std::string_view route : request.HeaderValues(HeaderId::kRoute)) {
    absl::StrAppend(&out, "Route: ", ToAbsl(route), "\r\n");
  }
  absl::StrAppend(&out, "Content-Length: 0\r\n\r\n");
  return out;
}

// Zero or negative timer values would turn retransmission into a busy loop: clamp to sane minima.
TransactionTimers Normalized(TransactionTimers t) {
  using std::chrono::milliseconds;
  t.t1 = std::max<Duration>(t.t1, milliseconds(1));
  t.t2 = std::max(t.t2, t.t1);
  t.t4 = std::max<Duration>(t.t4, Duration::zero());
  t.timer_d = std::max<Duration>(t.timer_d, Duration::zero());
  t.trying_delay = std::max<Duration>(t.trying_delay, Duration::zero());
  t.max_client_transactions = std::max<size_t>(t.max_client_transactions, 1);
  t.max_server_transactions = std::max<size_t>(t.max_server_transactions, 1);
  return t;
}

}  // namespace

std::string_view ClientStateName(ClientState s) {
  switch (s) {
    case ClientState::kCalling: return "Calling";
    case ClientState::kTrying: return "Trying";
    case ClientState::kProceeding: return "Proceeding";
    case ClientState::kCompleted: return "Completed";
    case ClientState::kAccepted: return "Accepted";
  }
  return "?";
}

std::string_view ServerStateName(ServerState s) {
  switch (s) {
    case ServerState::kTrying: return "Trying";
    case ServerState::kProceeding: return "Proceeding";
    case ServerState::kCompleted: return "Completed";
    case ServerState::kConfirmed: return "Confirmed";
    case ServerState::kAccepted: return "Accepted";
  }
  return "?";
}

enum class TransactionLayer::TimerKind : uint8_t {
  kRetransmit,  // A / E (client), G (server)
  kTimeout,     // B / F (client), H (server)
  kLinger,      // D / K / M (client), I / J / L (server): then Terminated
  kCancelWait,  // client INVITE: no final 64*T1 after our CANCEL (§9.1)
  kTrying100,   // server INVITE: delayed 100 Trying
  kTuGuard,     // server: the TU never answered
};

struct TransactionLayer::ClientTxn {
  ClientTransactionId id = 0;
  bool invite = false;
  bool reliable = false;
  ClientState state = ClientState::kTrying;
  std::string key;
  std::string bytes;  // the serialized request, for retransmission
  Destination to;
  std::optional<SipMessage> request;  // INVITE only: source of the ACK and CANCEL
  std::string ack;                    // INVITE non-2xx: the ACK, resent on final retransmissions
  Duration interval{};                // current A/E interval
  TimerId retransmit = kInvalidTimerId;
  TimerId timeout = kInvalidTimerId;
  TimerId linger = kInvalidTimerId;
  TimerId cancel_wait = kInvalidTimerId;
  bool cancel_requested = false;
  bool cancel_sent = false;
  ClientTransactionId cancel_for = 0;  // set on our internal CANCEL transactions
};

struct TransactionLayer::ServerTxn {
  ServerTransactionId id = 0;
  bool invite = false;
  bool reliable = false;
  ServerState state = ServerState::kTrying;
  std::string key;
  std::string any_method_key;  // non-INVITE: key with method "*", so a CANCEL can find it (§9.2)
  Destination reply_to;
  std::string last_response;   // most recent response bytes (provisional or final)
  std::string delayed_trying;  // INVITE with send_100_immediately off: the 100 to send later
  bool internal = false;       // answered by the layer (CANCEL, 503): TU never sees
  Duration interval{};         // current G interval
  TimerId retransmit = kInvalidTimerId;
  TimerId timeout = kInvalidTimerId;
  TimerId linger = kInvalidTimerId;
  TimerId trying = kInvalidTimerId;
  TimerId guard = kInvalidTimerId;
  TimePoint created{};
};

TransactionLayer::TransactionLayer(Transport& transport, TimerWheel& timers, const Clock& clock,
                                   TransactionUser& user, TransactionTimers config, uint32_t shard)
    : transport_(transport),
      timers_(timers),
      clock_(clock),
      user_(user),
      config_(Normalized(config)),
      shard_(shard),
      rng_(std::random_device{}() ^ (static_cast<uint64_t>(shard) << 32)) {}

TransactionLayer::~TransactionLayer() {
  // Timer callbacks capture `this`: none may outlive the layer.
  for (auto& [id, ct] : clients_) {
    Disarm(ct->retransmit);
    Disarm(ct->timeout);
    Disarm(ct->linger);
    Disarm(ct->cancel_wait);
  }
  for (auto& [id, st] : servers_) {
    Disarm(st->retransmit);
    Disarm(st->timeout);
    Disarm(st->linger);
    Disarm(st->trying);
    Disarm(st->guard);
  }
}

std::string TransactionLayer::NewBranch() { return MakeBranch(shard_, rng_); }

std::optional<uint32_t> TransactionLayer::ShardOfBranch(std::string_view branch) {
  return sip::ShardOfBranch(branch);
}

size_t TransactionLayer::pending_count() const {
  size_t pending = 0;
  for (const auto& [id, ct] : clients_) {
    pending += ct->state == ClientState::kCalling || ct->state == ClientState::kTrying ||
               ct->state == ClientState::kProceeding;
  }
  for (const auto& [id, st] : servers_) {
    pending += st->state == ServerState::kTrying || st->state == ServerState::kProceeding;
  }
  return pending;
}

std::string TransactionLayer::MakeVia(TransportKind kind, bool v6) {
  const NetAddress addr = transport_.AdvertisedAddress(kind, v6);
  return absl::StrCat("SIP/2.0/", ToAbsl(TransportName(kind)), " ", addr.HostForUri(), ":",
                      addr.port(), ";branch=", NewBranch(),
                      kind == TransportKind::kUdp ? ";rport" : "");
}

std::optional<ClientState> TransactionLayer::client_state(ClientTransactionId id) const {
  auto it = clients_.find(id);
  if (it == clients_.end()) return std::nullopt;
  return it->second->state;
}

std::optional<ServerState> TransactionLayer::server_state(ServerTransactionId id) const {
  auto it = servers_.find(id);
  if (it == servers_.end()) return std::nullopt;
  return it->second->state;
}

TimerId TransactionLayer::Arm(Duration delay, uint64_t id, TimerKind kind, bool client) {
  return timers_.Schedule(delay, [this, id, kind, client] {
    if (client) {
      OnClientTimer(id, kind);
    } else {
      OnServerTimer(id, kind);
    }
  });
}

void TransactionLayer::Disarm(TimerId& timer) {
  if (timer != kInvalidTimerId) timers_.Cancel(timer);
  timer = kInvalidTimerId;
}

void TransactionLayer::OnMessage(SipMessage&& message, const ReceiveInfo& info) {
  if (message.vias().empty()) return;  // the codec rejects these; never index an empty list
  if (message.is_response()) {
    HandleResponse(std::move(message), info);
  } else {
    HandleRequest(std::move(message), info);
  }
}

// ---------------------------------------------------------------------------------------------
// Client transactions (§17.1)

absl::StatusOr<ClientTransactionId> TransactionLayer::SendRequest(SipMessage request,
                                                                  const Destination& to) {
  if (!request.is_request()) return absl::InvalidArgumentError("SendRequest: not a request");
  if (request.method() == Method::kAck) {
    return absl::InvalidArgumentError("SendRequest: ACK is not a transaction; use SendStateless");
  }
  if (request.vias().empty() || !HasMagicCookie(request.vias().front().branch)) {
    return absl::InvalidArgumentError("SendRequest: top Via needs a z9hG4bK branch (NewBranch)");
  }
  const Via& via = request.vias().front();
  TransportKind via_kind;
  if (!ParseTransportName(via.transport, &via_kind) || via_kind != to.kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("SendRequest: Via transport ", ToAbsl(via.transport),
                     " does not match destination ", ToAbsl(TransportName(to.kind))));
  }
  if (clients_.size() >= config_.max_client_transactions) {
    return absl::ResourceExhaustedError("SendRequest: too many client transactions");
  }
  std::string key = ClientKey(via.branch, request.method_text());
  if (client_keys_.contains(key)) {
    return absl::AlreadyExistsError("SendRequest: branch already used by a live transaction");
  }

  auto ct = std::make_unique<ClientTxn>();
  ct->id = next_id_++;
  ct->invite = request.method() == Method::kInvite;
  ct->reliable = IsReliable(to.kind);
  ct->state = ct->invite ? ClientState::kCalling : ClientState::kTrying;
  ct->key = key;
  ct->to = to;
  ct->bytes = request.Serialize();
  if (ct->invite) ct->request.emplace(std::move(request));
  return StartClient(std::move(ct), std::move(key));
}

ClientTransactionId TransactionLayer::StartClient(std::unique_ptr<ClientTxn> ct, std::string key) {
  const ClientTransactionId id = ct->id;
  ClientTxn& ref = *ct;
  client_keys_.emplace(std::move(key), id);
  clients_.emplace(id, std::move(ct));

  transport_.Send(ref.to, ref.bytes, id);
  // A (INVITE) / E (non-INVITE): retransmit on unreliable transports only. B / F: always.
  if (!ref.reliable) {
    ref.interval = config_.t1;
    ref.retransmit = Arm(ref.interval, id, TimerKind::kRetransmit, true);
  }
  ref.timeout = Arm(config_.Timer64T1(), id, TimerKind::kTimeout, true);
  return id;
}

absl::Status TransactionLayer::SendStateless(const SipMessage& message, const Destination& to) {
  transport_.Send(to, message.Serialize(), 0);
  return absl::OkStatus();
}

absl::Status TransactionLayer::CancelClient(ClientTransactionId id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return absl::NotFoundError("CancelClient: no such transaction");
  ClientTxn& ct = *it->second;
  if (!ct.invite) return absl::FailedPreconditionError("CancelClient: only INVITE is cancelled");
  switch (ct.state) {
    case ClientState::kCalling:
      ct.cancel_requested = true;  // §9.1: wait for a provisional response
      return absl::OkStatus();
    case ClientState::kProceeding:
      ct.cancel_requested = true;
      if (!ct.cancel_sent) SendCancelNow(ct);
      return absl::OkStatus();
    default: return absl::FailedPreconditionError("CancelClient: a final response already arrived");
  }
}

void TransactionLayer::SendCancelNow(ClientTxn& invite) {
  invite.cancel_sent = true;
  // §9.1: if the INVITE gets no final response 64*T1 after the CANCEL, give up on it.
  invite.cancel_wait = Arm(config_.Timer64T1(), invite.id, TimerKind::kCancelWait, true);

  const SipMessage& req = *invite.request;
  const Header* to = req.FindHeader(HeaderId::kTo);
  absl::StatusOr<SipMessage> cancel =
      SipMessage::Parse(BuildAckOrCancel(req, "CANCEL", to ? to->value : std::string_view()));
  if (!cancel.ok()) {
    log::Error(kLog, "cannot build CANCEL", {{"error", cancel.status().ToString()}});
    return;
  }
  std::string key = ClientKey(req.vias().front().branch, "CANCEL");
  if (client_keys_.contains(key) || clients_.size() >= config_.max_client_transactions) return;

  auto ct = std::make_unique<ClientTxn>();
  ct->id = next_id_++;
  ct->invite = false;
  ct->reliable = invite.reliable;
  ct->state = ClientState::kTrying;
  ct->key = key;
  ct->to = invite.to;
  ct->bytes = cancel->Serialize();
  ct->cancel_for = invite.id;
  StartClient(std::move(ct), std::move(key));
}

void TransactionLayer::HandleResponse(SipMessage&& response, const ReceiveInfo& info) {
  const int code = response.status_code();
  if (code < 100 || code > 699) return;
  auto key_it =
      client_keys_.find(ClientKey(response.vias().front().branch, response.cseq_method_text()));
  if (key_it == client_keys_.end()) {
    user_.OnStrayResponse(std::move(response), info);
    return;
  }
  const ClientTransactionId id = key_it->second;
  ClientTxn& ct = *clients_.at(id);
  const bool internal = ct.cancel_for != 0;

  if (ct.invite) {
    switch (ct.state) {
      case ClientState::kCalling:
      case ClientState::kProceeding:
        if (code < 200) {
          if (ct.state == ClientState::kCalling) {
            // §17.1.1.2: a provisional stops retransmissions and Timer B.
            Disarm(ct.retransmit);
            Disarm(ct.timeout);
            ct.state = ClientState::kProceeding;
            if (ct.cancel_requested && !ct.cancel_sent) SendCancelNow(ct);
          }
        } else if (code < 300) {
          // RFC 6026 §8.4: Accepted, so 2xx retransmissions (forked too) still reach the TU.
          Disarm(ct.retransmit);
          Disarm(ct.timeout);
          Disarm(ct.cancel_wait);
          ct.state = ClientState::kAccepted;
          ct.request.reset();
          ct.linger = Arm(config_.Timer64T1(), id, TimerKind::kLinger, true);  // Timer M
        } else {
          Disarm(ct.retransmit);
          Disarm(ct.timeout);
          Disarm(ct.cancel_wait);
          ct.state = ClientState::kCompleted;
          const Header* to = response.FindHeader(HeaderId::kTo);
          ct.ack = BuildAckOrCancel(*ct.request, "ACK", to ? to->value : std::string_view());
          ct.request.reset();
          transport_.Send(ct.to, ct.ack, id);
          if (ct.reliable) {
            TerminateClient(id);  // Timer D = 0
          } else {
            ct.linger = Arm(config_.timer_d, id, TimerKind::kLinger, true);
          }
        }
        user_.OnResponse(id, std::move(response), info);
        return;
      case ClientState::kAccepted:
        if (code >= 200 && code < 300) user_.OnResponse(id, std::move(response), info);
        return;
      case ClientState::kCompleted:
        if (code >= 300) transport_.Send(ct.to, ct.ack, id);  // final retransmitted: ACK again
        return;
      case ClientState::kTrying: return;
    }
    return;
  }

  // Non-INVITE (§17.1.2.2).
  if (ct.state != ClientState::kTrying && ct.state != ClientState::kProceeding) return;
  if (code < 200) {
    ct.state = ClientState::kProceeding;
  } else {
    Disarm(ct.retransmit);
    Disarm(ct.timeout);
    ct.state = ClientState::kCompleted;
    if (ct.reliable) {
      TerminateClient(id);  // Timer K = 0
    } else {
      ct.linger = Arm(config_.t4, id, TimerKind::kLinger, true);
    }
  }
  if (!internal) user_.OnResponse(id, std::move(response), info);
}

void TransactionLayer::OnClientTimer(ClientTransactionId id, TimerKind kind) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  ClientTxn& ct = *it->second;
  const bool internal = ct.cancel_for != 0;
  switch (kind) {
    case TimerKind::kRetransmit:
      ct.retransmit = kInvalidTimerId;
      if (ct.state == ClientState::kCalling) {
        ct.interval *= 2;  // Timer A doubles without a cap (§17.1.1.2)
      } else if (ct.state == ClientState::kTrying) {
        ct.interval = std::min(ct.interval * 2, config_.t2);
      } else if (ct.state == ClientState::kProceeding && !ct.invite) {
        ct.interval = config_.t2;  // §17.1.2.2: E fires with T2 in Proceeding
      } else {
        return;
      }
      transport_.Send(ct.to, ct.bytes, id);
      ct.retransmit = Arm(ct.interval, id, TimerKind::kRetransmit, true);
      return;
    case TimerKind::kTimeout:  // B / F
      ct.timeout = kInvalidTimerId;
      TerminateClient(id);
      if (!internal) user_.OnClientTimeout(id);
      return;
    case TimerKind::kCancelWait:
      ct.cancel_wait = kInvalidTimerId;
      if (ct.state != ClientState::kProceeding) return;
      TerminateClient(id);
      user_.OnClientTimeout(id);
      return;
    case TimerKind::kLinger:  // D / K / M
      ct.linger = kInvalidTimerId;
      TerminateClient(id);
      return;
    case TimerKind::kTrying100:
    case TimerKind::kTuGuard: return;
  }
}

void TransactionLayer::TerminateClient(ClientTransactionId id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  std::unique_ptr<ClientTxn> ct = std::move(it->second);
  clients_.erase(it);
  client_keys_.erase(ct->key);
  Disarm(ct->retransmit);
  Disarm(ct->timeout);
  Disarm(ct->linger);
  Disarm(ct->cancel_wait);
}

// ---------------------------------------------------------------------------------------------
// Server transactions (§17.2)

TransactionLayer::ServerTxn* TransactionLayer::CreateServer(std::string key, bool invite,
                                                            const Destination& reply_to) {
  auto st = std::make_unique<ServerTxn>();
  st->id = next_id_++;
  st->invite = invite;
  st->reliable = IsReliable(reply_to.kind);
  st->state = invite ? ServerState::kProceeding : ServerState::kTrying;
  st->key = key;
  st->reply_to = reply_to;
  st->created = clock_.Now();
  ServerTxn* raw = st.get();
  server_keys_.emplace(std::move(key), raw->id);
  servers_.emplace(raw->id, std::move(st));
  return raw;
}

void TransactionLayer::SendServerBytes(ServerTxn& st, const std::string& bytes) {
  transport_.Send(st.reply_to, bytes, st.id);
}

void TransactionLayer::RespondStateless(const SipMessage& request, int code,
                                        const Destination& to) {
  SipMessage response = MakeResponse(request, code, {}, code == 100 ? "" : RandomToken(rng_));
  transport_.Send(to, response.Serialize(), 0);
}

void TransactionLayer::HandleRequest(SipMessage&& request, const ReceiveInfo& info) {
  // §18.2.1 / RFC 3581: record where the request really came from in the top Via.
  if (std::optional<std::string> via = AnnotatedTopVia(request.vias().front(), info)) {
    if (request.PopVia()) {
      absl::Status s = request.PushVia(*via);
      if (!s.ok()) {
        log::Warn(kLog, "cannot annotate top Via", {{"error", s.ToString()}});
        return;  // the Via is gone: no way to answer
      }
    }
  }
  const Destination reply_to = ResponseDestination(request, info);
  std::string key = ServerKey(request);

  if (request.method() == Method::kAck) {
    auto it = server_keys_.find(key);
    if (it != server_keys_.end()) {
      ServerTxn& st = *servers_.at(it->second);
      if (st.state == ServerState::kCompleted) {
        // §17.2.1: the ACK for our non-2xx final; stop retransmitting, absorb stragglers.
        Disarm(st.retransmit);
        Disarm(st.timeout);
        st.state = ServerState::kConfirmed;
        if (st.reliable) {
          TerminateServer(st.id);  // Timer I = 0
        } else {
          LingerServer(st, config_.t4);  // Timer I
        }
        return;
      }
      if (st.state == ServerState::kConfirmed) return;
      if (st.state == ServerState::kProceeding) return;  // ACK before any final: bogus
      // Accepted: RFC 6026 §8.7 passes it to the TU.
    }
    user_.OnAck(std::move(request), info);
    return;
  }

  // A retransmission of a request with a live transaction.
  if (auto it = server_keys_.find(key); it != server_keys_.end()) {
    ServerTxn& st = *servers_.at(it->second);
    switch (st.state) {
      case ServerState::kProceeding:
      case ServerState::kCompleted:
        // Resend the most recent response (provisional in Proceeding, final in Completed).
        if (!st.last_response.empty()) SendServerBytes(st, st.last_response);
        return;
      case ServerState::kTrying:     // nothing to resend yet
      case ServerState::kConfirmed:  // absorbed
      case ServerState::kAccepted:   // RFC 6026 §8.5: absorbed, the TU retransmits the 2xx
        return;
    }
    return;
  }

  if (request.method() == Method::kCancel) {
    HandleCancel(std::move(request), info, reply_to);
    return;
  }

  const bool invite = request.method() == Method::kInvite;
  if (!MakeRoomForServer()) {
    RespondStateless(request, 503, reply_to);  // no memory for state: answer and forget
    return;
  }
  if (!accepting_) {
    // Stateful, so the ACK for an INVITE's 503 is absorbed here instead of reaching the TU.
    AnswerInternally(request, std::move(key), invite, 503, reply_to);
    return;
  }

  ServerTxn* st = CreateServer(std::move(key), invite, reply_to);
  const ServerTransactionId id = st->id;
  if (!invite) {
    st->any_method_key = ServerKey(request, kAnyMethod);
    server_keys_.emplace(st->any_method_key, id);  // first one wins if a peer reuses a branch
  }
  if (invite) {
    if (config_.send_100_immediately) {
      st->last_response = MakeResponse(request, 100).Serialize();
      SendServerBytes(*st, st->last_response);
    } else {
      // The request itself goes to the TU: build the 100 now, send it only if the TU is slow.
      st->delayed_trying = MakeResponse(request, 100).Serialize();
      st->trying = Arm(config_.trying_delay, id, TimerKind::kTrying100, false);
    }
  }
  if (config_.server_tu_timeout > Duration::zero()) {
    st->guard = Arm(config_.server_tu_timeout, id, TimerKind::kTuGuard, false);
  }
  user_.OnRequest(id, std::move(request), info);
}

void TransactionLayer::AnswerInternally(const SipMessage& request, std::string key, bool invite,
                                        int code, const Destination& reply_to) {
  ServerTxn* st = CreateServer(std::move(key), invite, reply_to);
  const ServerTransactionId id = st->id;
  st->internal = true;
  st->state = ServerState::kCompleted;
  st->last_response = MakeResponse(request, code, {}, RandomToken(rng_)).Serialize();
  SendServerBytes(*st, st->last_response);
  if (invite) {  // a non-2xx final: Timers G and H until the ACK
    if (!st->reliable) {
      st->interval = config_.t1;
      st->retransmit = Arm(st->interval, id, TimerKind::kRetransmit, false);
    }
    st->timeout = Arm(config_.Timer64T1(), id, TimerKind::kTimeout, false);
  } else if (st->reliable) {
    TerminateServer(id);  // Timer J = 0
  } else {
    LingerServer(*st, config_.Timer64T1());  // Timer J
  }
}

void TransactionLayer::HandleCancel(SipMessage&& cancel, const ReceiveInfo& info,
                                    const Destination& reply_to) {
  // §9.2: find the INVITE server transaction this CANCEL targets (same key, method INVITE).
  std::optional<ServerTransactionId> invite_id;
  bool matched = false;
  if (auto it = server_keys_.find(ServerKey(cancel, "INVITE")); it != server_keys_.end()) {
    invite_id = it->second;
    matched = true;
  } else {
    // A CANCEL for a non-INVITE request: answered 200, but it has no effect on that request.
    matched = server_keys_.contains(ServerKey(cancel, kAnyMethod));
  }
  if (!MakeRoomForServer()) {
    RespondStateless(cancel, 503, reply_to);
    return;
  }
  // The CANCEL is its own non-INVITE server transaction, answered by the layer, so that CANCEL
  // retransmissions get the same answer.
  AnswerInternally(cancel, ServerKey(cancel), false, matched ? 200 : 481, reply_to);
  if (!invite_id) return;
  const ServerTxn& invite = *servers_.at(*invite_id);
  // Only a still-pending INVITE is the TU's business; after a final the CANCEL has no effect.
  if (invite.state == ServerState::kProceeding) {
    user_.OnCancel(*invite_id, std::move(cancel), info);
  }
}

absl::Status TransactionLayer::SendResponse(ServerTransactionId id, SipMessage response) {
  auto it = servers_.find(id);
  if (it == servers_.end() || it->second->internal) {
    return absl::NotFoundError("SendResponse: no such server transaction");
  }
  if (!response.is_response()) return absl::InvalidArgumentError("SendResponse: not a response");
  const int code = response.status_code();
  if (code < 100 || code > 699) return absl::InvalidArgumentError("SendResponse: bad status");
  ServerTxn& st = *it->second;

  if (st.invite) {
    if (st.state == ServerState::kAccepted) {
      if (code < 200 || code >= 300) {
        return absl::FailedPreconditionError("SendResponse: INVITE already accepted");
      }
      SendServerBytes(st, response.Serialize());  // RFC 6026: TU-driven 2xx retransmission
      return absl::OkStatus();
    }
    if (st.state != ServerState::kProceeding) {
      return absl::FailedPreconditionError("SendResponse: final response already sent");
    }
    Disarm(st.trying);
    st.delayed_trying.clear();
    st.last_response = response.Serialize();
    SendServerBytes(st, st.last_response);
    if (code < 200) return absl::OkStatus();
    Disarm(st.guard);
    if (code < 300) {
      st.state = ServerState::kAccepted;
      LingerServer(st, config_.Timer64T1());  // Timer L
      return absl::OkStatus();
    }
    st.state = ServerState::kCompleted;
    if (!st.reliable) {
      st.interval = config_.t1;
      st.retransmit = Arm(st.interval, id, TimerKind::kRetransmit, false);  // Timer G
    }
    st.timeout = Arm(config_.Timer64T1(), id, TimerKind::kTimeout, false);  // Timer H
    return absl::OkStatus();
  }

  if (st.state != ServerState::kTrying && st.state != ServerState::kProceeding) {
    return absl::FailedPreconditionError("SendResponse: final response already sent");
  }
  st.last_response = response.Serialize();
  SendServerBytes(st, st.last_response);
  if (code < 200) {
    st.state = ServerState::kProceeding;
    return absl::OkStatus();
  }
  Disarm(st.guard);
  st.state = ServerState::kCompleted;
  if (st.reliable) {
    TerminateServer(id);  // Timer J = 0
  } else {
    LingerServer(st, config_.Timer64T1());  // Timer J
  }
  return absl::OkStatus();
}

void TransactionLayer::OnServerTimer(ServerTransactionId id, TimerKind kind) {
  auto it = servers_.find(id);
  if (it == servers_.end()) return;
  ServerTxn& st = *it->second;
  switch (kind) {
    case TimerKind::kRetransmit:  // G
      st.retransmit = kInvalidTimerId;
      if (st.state != ServerState::kCompleted) return;
      SendServerBytes(st, st.last_response);
      st.interval = std::min(st.interval * 2, config_.t2);
      st.retransmit = Arm(st.interval, id, TimerKind::kRetransmit, false);
      return;
    case TimerKind::kTimeout: {  // H: the ACK never came
      st.timeout = kInvalidTimerId;
      const bool internal = st.internal;
      TerminateServer(id);
      if (!internal) user_.OnServerTimeout(id);
      return;
    }
    case TimerKind::kLinger:  // I / J / L
      st.linger = kInvalidTimerId;
      TerminateServer(id);
      return;
    case TimerKind::kTrying100:
      st.trying = kInvalidTimerId;
      if (st.state == ServerState::kProceeding && st.last_response.empty()) {
        st.last_response = std::move(st.delayed_trying);
        SendServerBytes(st, st.last_response);
      }
      st.delayed_trying.clear();
      return;
    case TimerKind::kTuGuard:
      st.guard = kInvalidTimerId;
      log::Warn(kLog, "TU never answered; dropping server transaction",
                {{"id", id},
                 {"age_ms",
                  std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - st.created)
                      .count()}});
      TerminateServer(id);
      user_.OnServerTimeout(id);
      return;
    case TimerKind::kCancelWait: return;
  }
}

void TransactionLayer::TerminateServer(ServerTransactionId id) {
  auto it = servers_.find(id);
  if (it == servers_.end()) return;
  std::unique_ptr<ServerTxn> st = std::move(it->second);
  servers_.erase(it);
  server_keys_.erase(st->key);
  if (!st->any_method_key.empty()) {
    auto alias = server_keys_.find(st->any_method_key);
    if (alias != server_keys_.end() && alias->second == id) server_keys_.erase(alias);
  }
  Disarm(st->retransmit);
  Disarm(st->timeout);
  Disarm(st->linger);
  Disarm(st->trying);
  Disarm(st->guard);
}

void TransactionLayer::LingerServer(ServerTxn& st, Duration delay) {
  st.linger = Arm(delay, st.id, TimerKind::kLinger, false);
  // Ids of transactions that already ended leave the front first: lingering times are few and
  // equal per kind, so the queue stays about as long as the set of lingering transactions.
  while (!lingering_.empty() && !servers_.contains(lingering_.front())) lingering_.pop_front();
  lingering_.push_back(st.id);
}

bool TransactionLayer::MakeRoomForServer() {
  // A lingering transaction only absorbs retransmissions of a request already answered (Timer J
  // is 32 s over UDP, so at 10,000 requests/s a worker holds 320,000 of them): under pressure the
  // oldest gives way before any new request is refused.
  while (servers_.size() >= config_.max_server_transactions && !lingering_.empty()) {
    const ServerTransactionId oldest = lingering_.front();
    lingering_.pop_front();
    auto it = servers_.find(oldest);
    if (it == servers_.end() || it->second->linger == kInvalidTimerId) continue;
    TerminateServer(oldest);
    ++lingering_ended_early_;
  }
  return servers_.size() < config_.max_server_transactions;
}

// ---------------------------------------------------------------------------------------------

void TransactionLayer::OnSendFailed(uint64_t token, const Destination& /*to*/,
                                    const absl::Status& error) {
  if (token == 0) return;
  if (auto it = clients_.find(token); it != clients_.end()) {
    ClientTxn& ct = *it->second;
    const bool pending = ct.state == ClientState::kCalling || ct.state == ClientState::kTrying ||
                         ct.state == ClientState::kProceeding;
    // A failed ACK (Completed) or anything in Accepted (RFC 6026) changes nothing for the TU.
    if (!pending) return;
    const bool internal = ct.cancel_for != 0;
    TerminateClient(token);
    if (!internal) {
      user_.OnClientTransportError(token, SipError(503, FromAbsl(error.message())));
    }
    return;
  }
  if (auto it = servers_.find(token); it != servers_.end()) {
    const bool internal = it->second->internal;
    TerminateServer(token);
    if (!internal) user_.OnServerTransportError(token, error);
  }
}

}  // namespace causeway::sip
