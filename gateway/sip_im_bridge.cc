#include "gateway/sip_im_bridge.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "mappings/sip_im.h"
#include "sip/stack/registrar.h"

namespace causeway::gateway {
namespace {

using sip::Method;
using sip::SipMessage;

constexpr std::string_view kLog = "sip_im";

constexpr std::string_view kAcceptedTypes =
    "text/plain, text/html, multipart/alternative, application/im-iscomposing+xml";

std::string SessionKey(std::string_view call_id, std::string_view local_tag) {
  return absl::StrCat(ToAbsl(call_id), "\n", ToAbsl(local_tag));
}

// What a CANCEL shares with the INVITE it cancels (RFC 3261 §9.2, §17.2.3).
std::string InviteKey(const SipMessage& request) {
  if (request.vias().empty()) return {};
  return absl::StrCat(ToAbsl(request.call_id()), "\n", ToAbsl(request.vias().front().branch));
}

// "<worker>.<id>" -> worker.
std::optional<uint32_t> WorkerOfMessageId(std::string_view id) {
  const size_t dot = id.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  uint32_t worker = 0;
  if (!absl::SimpleAtoi(ToAbsl(id.substr(0, dot)), &worker)) return std::nullopt;
  return worker;
}

// Lower-case "type/subtype", "" when the request has no (valid) Content-Type.
std::string MediaOf(const SipMessage& request) {
  absl::StatusOr<sip::MediaType> type = request.GetContentType();
  if (!type.ok()) return {};
  return absl::AsciiStrToLower(absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype)));
}

// The text of a Warning header's quoted-string: no quotes, backslashes or control characters.
std::string QuotedWarning(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 200)) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(c == '"' || c == '\\' || byte < 0x20 || byte == 0x7f ? ' ' : c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

struct SipImBridge::Held {
  explicit Held(SipMessage r) : request(std::move(r)) {}
  sip::ServerTransactionId id = 0;
  SipMessage request;
  TimerId timer = kInvalidTimerId;
  std::string session_key;  // an INVITE: the session its 2xx establishes
};

// One Lync IM session (MS-SIPRE): the dialog of an INVITE m=message we answered as the XMPP
// contact, enough to recognise its requests and to end it with a BYE of our own.
struct SipImBridge::Session {
  std::string key;
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  std::string local_uri;               // the INVITE's To: the XMPP contact as a SIP URI (our From)
  std::string remote_uri;              // the INVITE's From: the SIP user
  std::string remote_target;           // the INVITE's Contact
  std::vector<std::string> route_set;  // its Record-Route lines, in order (RFC 3261 §12.1.1)
  uint32_t local_cseq = 0;
  sip::Destination flow;  // where the INVITE came from: our BYE goes back there
  Address to;             // the XMPP contact
  TimerId idle_timer = kInvalidTimerId;
  bool established = false;  // 2xx sent
};

struct SipImBridge::Conversation {
  std::deque<InstantMessageEvent> queued;
  bool in_flight = false;
};

struct SipImBridge::Outgoing {
  std::string conversation;
  InstantMessageEvent im;  // as published (XMPP sender, SIP recipient)
};

SipImBridge::SipImBridge(SipImBridgeOptions options, sip::SipServer& server,
                         runtime::Worker& worker, Bus& bus, sip::LocalService* next,
                         ForwardAnswer forward)
    : options_(std::move(options)),
      server_(server),
      worker_(worker),
      bus_(bus),
      next_(next),
      forward_(std::move(forward)) {
  subscriptions_.push_back(
      bus_.Subscribe<InstantMessageEvent>([this](const InstantMessageEvent& e) { OnBusIm(e); }));
  subscriptions_.push_back(
      bus_.Subscribe<ChatStateEvent>([this](const ChatStateEvent& e) { OnBusChatState(e); }));
  subscriptions_.push_back(bus_.Subscribe<DeliveryReceiptEvent>(
      [this](const DeliveryReceiptEvent& e) { OnBusAnswer(e, e.message_id, e.to); }));
  subscriptions_.push_back(bus_.Subscribe<DeliveryFailureEvent>(
      [this](const DeliveryFailureEvent& e) { OnBusAnswer(e, e.message_id, e.to); }));
}

SipImBridge::~SipImBridge() {
  *alive_ = false;
  for (auto& [id, held] : held_) worker_.Cancel(held->timer);
  for (auto& [key, session] : sessions_) worker_.Cancel(session->idle_timer);
}

template <typename E>
void SipImBridge::Publish(const E& event) {
  absl::Status published = bus_.Publish(event);
  if (!published.ok()) {
    log::Warn(kLog, "bus publish failed", {{"why", FromAbsl(published.message())}});
  }
}

bool SipImBridge::ReachedOverXmpp(std::string_view domain) const {
  const std::string lower = absl::AsciiStrToLower(ToAbsl(domain));
  return !options_.domains->IsLocalSipDomain(lower) && options_.domains->XmppDomainFor(lower).ok();
}

void SipImBridge::Reply(sip::ServerTransactionId id, const SipMessage& request, int code,
                        std::string_view reason) {
  SipMessage response = MakeResponse(request, code, reason, sip::NewLocalTag());
  if (code == 415) (void)response.AppendHeader(sip::HeaderId::kAccept, kAcceptedTypes);
  absl::Status sent = server_.layer().SendResponse(id, std::move(response));
  if (!sent.ok()) log::Debug(kLog, "answer not sent", {{"why", FromAbsl(sent.message())}});
}

void SipImBridge::ReplyRetryLater(sip::ServerTransactionId id, const SipMessage& request) {
  SipMessage response = MakeResponse(request, 503, {}, sip::NewLocalTag());
  (void)response.AppendHeader(sip::HeaderId::kRetryAfter, "5");
  (void)server_.layer().SendResponse(id, std::move(response));
}

// ---- SIP -> bus ----

bool SipImBridge::OnRequest(sip::ServerTransactionId id, SipMessage& request,
                            const sip::ReceiveInfo& info) {
  if (!request.to_tag().empty()) {
    auto it = sessions_.find(SessionKey(request.call_id(), request.to_tag()));
    if (it == sessions_.end()) return next_ != nullptr && next_->OnRequest(id, request, info);
    HandleInDialog(id, request, info, *it->second);
    worker_.Rearm();
    return true;
  }
  const sip::Uri& target = request.request_uri();
  const bool ours = (request.method() == Method::kMessage || request.method() == Method::kInvite) &&
                    target.is_sip() && target.has_user() && ReachedOverXmpp(target.host());
  if (!ours) return next_ != nullptr && next_->OnRequest(id, request, info);

  absl::StatusOr<Address> sip_to = mappings::AddressFromSipUri(target);
  absl::StatusOr<Address> to =
      sip_to.ok() ? mappings::XmppAddressFromSip(*sip_to, *options_.domains) : sip_to.status();
  if (!to.ok()) {
    // No such contact (a domain nobody reaches) or no JID for this user (a phone number).
    Reply(id, request, absl::IsNotFound(to.status()) ? 404 : 403);
  } else if (request.method() == Method::kMessage) {
    HandleMessage(id, request, info, *to);
  } else {
    HandleInvite(id, request, info, *to);
  }
  worker_.Rearm();
  return true;
}

void SipImBridge::HandleMessage(sip::ServerTransactionId id, SipMessage& request,
                                const sip::ReceiveInfo& info, const Address& to) {
  if (MediaOf(request) == mappings::kIsComposingType) {
    absl::StatusOr<ChatState> state = mappings::ChatStateFromIsComposing(request.body());
    if (!state.ok()) {
      Reply(id, request, 400, "Bad isComposing Document");
      return;
    }
    PublishChatState(request, to, *state);
    Reply(id, request, 200);
    return;
  }
  absl::StatusOr<InstantMessageEvent> im = mappings::ImFromSipMessage(request);
  if (!im.ok()) {
    Reply(id, request, 415);
    return;
  }
  im->to = to;
  im->accepted_at = info.received_at;  // the edge sending it on measures the added latency
  HoldAndPublish(id, request, *std::move(im), {});
}

void SipImBridge::HandleInvite(sip::ServerTransactionId id, SipMessage& request,
                               const sip::ReceiveInfo& info, const Address& to) {
  if (!mappings::IsImSessionOffer(request)) {
    Reply(id, request, 488);  // calls, desktop sharing, file transfer: XMPP gets IM only
    return;
  }
  if (sessions_.size() >= options_.max_sessions) {
    ReplyRetryLater(id, request);
    return;
  }
  auto session = std::make_unique<Session>();
  session->call_id = std::string(request.call_id());
  session->local_tag = sip::NewLocalTag();
  session->remote_tag = std::string(request.from_tag());
  session->local_uri = std::string(request.to().uri.text());
  session->remote_uri = std::string(request.from().uri.text());
  session->remote_target = session->remote_uri;
  if (absl::StatusOr<std::vector<sip::NameAddr>> contacts = request.GetContacts();
      contacts.ok() && !contacts->empty()) {
    session->remote_target = std::string(contacts->front().uri_text);
  }
  for (std::string_view route : request.HeaderValues(sip::HeaderId::kRecordRoute)) {
    session->route_set.emplace_back(route);
  }
  session->flow.kind = info.kind;
  session->flow.address = info.source;
  session->flow.connection = info.connection;
  session->to = to;
  session->key = SessionKey(session->call_id, session->local_tag);
  const std::string key = session->key;
  Session& s = *session;
  sessions_.emplace(key, std::move(session));

  // The first message rides in the INVITE (ms-text-format): the session is answered when the
  // XMPP side has it. An INVITE without one is answered now.
  absl::StatusOr<InstantMessageEvent> first = mappings::ImFromSipMessage(request);
  if (first.ok()) {
    first->to = to;
    first->accepted_at = info.received_at;
    HoldAndPublish(id, request, *std::move(first), key);
    return;
  }
  SipMessage ok = MakeResponse(request, 200, {}, s.local_tag);
  (void)ok.AppendHeader(sip::HeaderId::kContact, options_.contact);
  for (const std::string& route : s.route_set) {
    (void)ok.AppendHeader(sip::HeaderId::kRecordRoute, route);
  }
  ok.SetBody("application/sdp", mappings::ImSessionAnswerSdp(options_.sdp_host));
  (void)server_.layer().SendResponse(id, std::move(ok));
  s.established = true;
  TouchSession(s);
}

void SipImBridge::HandleInDialog(sip::ServerTransactionId id, SipMessage& request,
                                 const sip::ReceiveInfo& info, Session& session) {
  TouchSession(session);
  switch (request.method()) {
    case Method::kMessage:
      HandleMessage(id, request, info, session.to);
      return;
    case Method::kInfo: {
      // MS-SIPRE typing notifications; any other INFO is acknowledged and ignored.
      absl::StatusOr<ChatState> state = mappings::ChatStateFromKeyboardActivity(request.body());
      if (state.ok()) PublishChatState(request, session.to, *state);
      Reply(id, request, 200);
      return;
    }
    case Method::kBye: {
      const std::string key = session.key;
      PublishChatState(request, session.to, ChatState::kGone);
      worker_.Cancel(session.idle_timer);
      sessions_.erase(key);  // `session` is gone from here on
      Reply(id, request, 200);
      return;
    }
    case Method::kInvite: {  // a session refresh: same answer
      SipMessage ok = MakeResponse(request, 200, {}, session.local_tag);
      (void)ok.AppendHeader(sip::HeaderId::kContact, options_.contact);
      ok.SetBody("application/sdp", mappings::ImSessionAnswerSdp(options_.sdp_host));
      (void)server_.layer().SendResponse(id, std::move(ok));
      return;
    }
    case Method::kOptions:
      Reply(id, request, 200);
      return;
    default:
      Reply(id, request, 501);
      return;
  }
}

void SipImBridge::HoldAndPublish(sip::ServerTransactionId id, SipMessage& request,
                                 InstantMessageEvent im, std::string session_key) {
  im.message_id = absl::StrCat(options_.worker, ".", im.message_id);
  im.receipt_requested = true;
  const bool invite = request.method() == Method::kInvite;
  if (held_.size() >= options_.max_held || held_.contains(im.message_id)) {
    if (held_.contains(im.message_id)) {
      Reply(id, request, 482, "Merged Request");  // RFC 3261 §8.2.2.2: same Call-ID and CSeq
    } else {
      ReplyRetryLater(id, request);
    }
    if (!session_key.empty()) sessions_.erase(session_key);
    return;
  }
  auto held = std::make_unique<Held>(std::move(request));  // taken: the server is done with it
  held->id = id;
  held->session_key = std::move(session_key);
  const std::string message_id = im.message_id;
  held->timer = worker_.Schedule(options_.receipt_wait, [this, message_id, invite] {
    // Nothing from the XMPP side in time: accepted, delivery unconfirmed (RFC 3428 §7).
    AnswerHeld(message_id, invite ? 200 : 202, {});
    worker_.Rearm();
  });
  if (invite) held_invites_[InviteKey(held->request)] = message_id;
  held_.emplace(message_id, std::move(held));
  // The XMPP side may answer from inside Publish (even with a failure): the entry exists first.
  absl::Status published = bus_.Publish(im);
  if (!published.ok()) {
    log::Warn(kLog, "bus publish failed", {{"why", FromAbsl(published.message())}});
    AnswerHeld(message_id, 500, "not handed to XMPP");
  }
}

void SipImBridge::AnswerHeld(const std::string& message_id, int code, std::string_view warning) {
  auto it = held_.find(message_id);
  if (it == held_.end()) return;  // answered already (a late receipt after the 202)
  std::unique_ptr<Held> held = std::move(it->second);
  held_.erase(it);
  worker_.Cancel(held->timer);
  if (held->request.method() == Method::kInvite) held_invites_.erase(InviteKey(held->request));
  const bool success = code >= 200 && code < 300;

  Session* session = nullptr;
  if (!held->session_key.empty()) {
    auto s = sessions_.find(held->session_key);
    if (s != sessions_.end()) session = s->second.get();
  }
  SipMessage response = MakeResponse(held->request, code, {},
                                     session != nullptr ? session->local_tag : sip::NewLocalTag());
  if (!warning.empty() && !success) {
    (void)response.AppendHeader(
        sip::HeaderId::kWarning,
        absl::StrCat("399 ", options_.warning_agent, " ", QuotedWarning(warning)));
  }
  if (session != nullptr) {
    if (success) {
      (void)response.AppendHeader(sip::HeaderId::kContact, options_.contact);
      for (const std::string& route : session->route_set) {
        (void)response.AppendHeader(sip::HeaderId::kRecordRoute, route);
      }
      response.SetBody("application/sdp", mappings::ImSessionAnswerSdp(options_.sdp_host));
      session->established = true;
      TouchSession(*session);
    } else {
      worker_.Cancel(session->idle_timer);
      sessions_.erase(held->session_key);  // refused: no dialog
    }
  }
  absl::Status sent = server_.layer().SendResponse(held->id, std::move(response));
  if (!sent.ok()) log::Debug(kLog, "held answer not sent", {{"why", FromAbsl(sent.message())}});
}

void SipImBridge::OnCancel(std::string_view call_id, std::string_view branch) {
  auto it = held_invites_.find(absl::StrCat(ToAbsl(call_id), "\n", ToAbsl(branch)));
  if (it == held_invites_.end()) return;
  const std::string message_id = it->second;  // AnswerHeld erases the index entry
  AnswerHeld(message_id, 487, {});
  worker_.Rearm();
}

void SipImBridge::OnAnswer(const Answer& answer) {
  if (const auto* receipt = std::get_if<DeliveryReceiptEvent>(&answer)) {
    AnswerHeld(receipt->message_id, 200, {});
  } else if (const auto* failure = std::get_if<DeliveryFailureEvent>(&answer)) {
    AnswerHeld(failure->message_id, mappings::SipCodeFromFailureReason(failure->reason),
               failure->text.empty() ? DeliveryFailureReasonName(failure->reason)
                                     : std::string_view(failure->text));
  }
  worker_.Rearm();
}

void SipImBridge::PublishChatState(const SipMessage& request, const Address& to, ChatState state) {
  absl::StatusOr<Address> from = mappings::AddressFromSipUri(request.from().uri);
  if (!from.ok()) return;
  ChatStateEvent event;
  event.conversation_id = std::string(request.call_id());
  event.from = *std::move(from);
  event.to = to;
  event.state = state;
  Publish(event);
}

void SipImBridge::TouchSession(Session& session) {
  worker_.Cancel(session.idle_timer);
  session.idle_timer = worker_.Schedule(options_.session_idle, [this, key = session.key] {
    ExpireSession(key);
    worker_.Rearm();
  });
}

void SipImBridge::ExpireSession(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  std::unique_ptr<Session> session = std::move(it->second);
  sessions_.erase(it);
  ChatStateEvent gone;
  gone.conversation_id = session->call_id;
  gone.to = session->to;
  if (absl::StatusOr<sip::Uri> uri = sip::Uri::Parse(session->remote_uri); uri.ok()) {
    if (absl::StatusOr<Address> from = mappings::AddressFromSipUri(*uri); from.ok()) {
      gone.from = *std::move(from);
      gone.state = ChatState::kGone;
      Publish(gone);
    }
  }
  if (!session->established) return;
  // The client still thinks the session is up: end it (RFC 3261 §15.1.1).
  std::string bye =
      absl::StrCat("BYE ", session->remote_target, " SIP/2.0\r\nVia: ",
                   server_.layer().MakeVia(session->flow.kind, session->flow.address.is_v6()),
                   "\r\nMax-Forwards: 70\r\n");
  for (const std::string& route : session->route_set)
    absl::StrAppend(&bye, "Route: ", route, "\r\n");
  absl::StrAppend(&bye, "From: <", session->local_uri, ">;tag=", session->local_tag, "\r\nTo: <",
                  session->remote_uri, ">;tag=", session->remote_tag,
                  "\r\nCall-ID: ", session->call_id, "\r\nCSeq: ", ++session->local_cseq,
                  " BYE\r\nContent-Length: 0\r\n\r\n");
  absl::StatusOr<SipMessage> message = SipMessage::Parse(std::move(bye));
  if (!message.ok()) return;
  absl::StatusOr<sip::ClientTransactionId> sent =
      server_.layer().SendRequest(*std::move(message), session->flow);
  if (sent.ok()) {
    byes_.emplace(*sent, key);
  } else {
    log::Debug(kLog, "BYE not sent", {{"why", FromAbsl(sent.status().message())}});
  }
}

bool SipImBridge::AbsorbAck(const SipMessage& ack) {
  return !ack.to_tag().empty() && sessions_.contains(SessionKey(ack.call_id(), ack.to_tag()));
}

bool SipImBridge::OnResponse(sip::ClientTransactionId id, SipMessage& response) {
  auto it = byes_.find(id);
  if (it == byes_.end()) return next_ != nullptr && next_->OnResponse(id, response);
  if (response.status_code() >= 200) byes_.erase(it);
  return true;
}

bool SipImBridge::OnClientFailure(sip::ClientTransactionId id, int code) {
  if (byes_.erase(id) > 0) return true;
  return next_ != nullptr && next_->OnClientFailure(id, code);
}

// ---- bus -> SIP ----

void SipImBridge::Fail(const InstantMessageEvent& im, DeliveryFailureReason reason,
                       std::string text) {
  DeliveryFailureEvent failure;
  failure.message_id = im.message_id;
  failure.from = im.to;
  failure.to = im.from;
  failure.reason = reason;
  failure.text = std::move(text);
  Publish(failure);
}

void SipImBridge::OnBusIm(const InstantMessageEvent& im) {
  if (im.to.network != Network::kSip) return;
  if (!options_.domains->IsLocalSipDomain(im.to.domain)) {
    // The SIP side is the only SIP adapter: nobody else will answer.
    Fail(im, DeliveryFailureReason::kNotFound, "not a domain of this gateway");
    return;
  }
  absl::StatusOr<Address> from = im.from.network == Network::kXmpp
                                     ? mappings::SipAddressFromXmpp(im.from, *options_.domains)
                                     : absl::InvalidArgumentError("not an XMPP sender");
  if (!from.ok()) {
    Fail(im, DeliveryFailureReason::kRejected, std::string(FromAbsl(from.status().message())));
    return;
  }
  const std::string key = absl::StrCat(from->ToString(), " ", im.to.Bare().ToString());
  auto it = conversations_.find(key);
  if (it == conversations_.end()) {
    if (conversations_.size() >= options_.max_conversations) {
      Fail(im, DeliveryFailureReason::kInternal, "too many conversations in progress");
      return;
    }
    it = conversations_.emplace(key, std::make_unique<Conversation>()).first;
  }
  Conversation& conversation = *it->second;
  if (conversation.queued.size() >= options_.max_queued_per_conversation) {
    Fail(im, DeliveryFailureReason::kInternal, "too many messages queued for this recipient");
    return;
  }
  conversation.queued.push_back(im);
  if (!conversation.in_flight) SendNext(key);
  worker_.Rearm();
}

void SipImBridge::SendNext(const std::string& key) {
  for (;;) {
    auto it = conversations_.find(key);
    if (it == conversations_.end()) return;
    Conversation& conversation = *it->second;
    if (conversation.queued.empty()) {
      if (!conversation.in_flight) conversations_.erase(it);
      return;
    }
    InstantMessageEvent im = std::move(conversation.queued.front());
    conversation.queued.pop_front();
    absl::StatusOr<Address> from = mappings::SipAddressFromXmpp(im.from, *options_.domains);
    mappings::OutgoingRequestIds ids;
    ids.call_id = absl::StrCat("im", options_.worker, "-", ++counter_, "-", sip::NewLocalTag());
    ids.from_tag = sip::NewLocalTag();
    ids.via = server_.layer().MakeVia(options_.via_kind, false);
    absl::StatusOr<SipMessage> message =
        from.ok() ? mappings::PagerMessageFromIm(im, *from, ids) : from.status();
    if (!message.ok()) {
      Fail(im,
           absl::IsOutOfRange(message.status()) ? DeliveryFailureReason::kTooLarge
                                                : DeliveryFailureReason::kRejected,
           std::string(FromAbsl(message.status().message())));
      continue;
    }
    conversation.in_flight = true;
    auto out = std::make_unique<Outgoing>();
    out->conversation = key;
    out->im = std::move(im);
    outgoing_.emplace(ids.call_id, std::move(out));
    Originate(*std::move(message), ids.call_id);
    return;
  }
}

void SipImBridge::Originate(SipMessage message, std::string outgoing_call_id) {
  // Through the proxy as if a client had sent it: the AOR's bindings, flows, GRUUs and Path are
  // the proxy's business. The proxy adds its own Via above ours. Its final response (the proxy
  // answers within Timer F, 32 s, with a 408 at worst) ends the outgoing message.
  sip::ReceiveInfo info;
  info.kind = options_.via_kind;
  auto finish = [worker = &worker_, alive = std::weak_ptr<bool>(alive_),
                 call_id = std::move(outgoing_call_id), this](int code) {
    if (call_id.empty() || alive.expired()) return;  // best effort, or the bridge is gone
    // Later, not from inside the proxy: the next message of the conversation goes through it.
    worker->Post([this, alive, call_id, code] {
      if (alive.expired()) return;
      FinishOutgoing(call_id, code);
      worker_.Rearm();
    });
  };
  absl::Status started = server_.proxy().Originate(
      std::move(message), info,
      [finish](const SipMessage& final_response) { finish(final_response.status_code()); });
  if (!started.ok()) {
    log::Warn(kLog, "MESSAGE not originated", {{"why", FromAbsl(started.message())}});
    finish(500);
  }
}

void SipImBridge::FinishOutgoing(const std::string& call_id, int code) {
  auto it = outgoing_.find(call_id);
  if (it == outgoing_.end()) return;
  std::unique_ptr<Outgoing> out = std::move(it->second);
  outgoing_.erase(it);
  if (code >= 200 && code < 300) {
    if (out->im.receipt_requested) {
      DeliveryReceiptEvent receipt;
      receipt.message_id = out->im.message_id;
      receipt.from = out->im.to;
      receipt.to = out->im.from;
      Publish(receipt);
    }
  } else {
    Fail(out->im, mappings::FailureReasonFromSipCode(code),
         absl::StrCat("SIP ", code, " ", ToAbsl(sip::DefaultReason(code))));
  }
  auto conversation = conversations_.find(out->conversation);
  if (conversation != conversations_.end()) {
    conversation->second->in_flight = false;
    SendNext(out->conversation);
  }
}

void SipImBridge::OnBusChatState(const ChatStateEvent& event) {
  if (event.to.network != Network::kSip || !options_.domains->IsLocalSipDomain(event.to.domain)) {
    return;
  }
  absl::StatusOr<std::string> body = mappings::IsComposingBody(event.state);
  if (!body.ok()) return;  // active, inactive, gone: SIP has nothing to say
  absl::StatusOr<Address> from = event.from.network == Network::kXmpp
                                     ? mappings::SipAddressFromXmpp(event.from, *options_.domains)
                                     : absl::InvalidArgumentError("not an XMPP sender");
  if (!from.ok()) return;
  mappings::OutgoingRequestIds ids;
  ids.call_id = absl::StrCat("ic", options_.worker, "-", ++counter_, "-", sip::NewLocalTag());
  ids.from_tag = sip::NewLocalTag();
  ids.via = server_.layer().MakeVia(options_.via_kind, false);
  absl::StatusOr<SipMessage> message =
      mappings::PagerMessage(*from, event.to.Bare(), ids, mappings::kIsComposingType, *body);
  if (!message.ok()) return;
  Originate(*std::move(message), {});  // best effort: nobody waits for its outcome
  worker_.Rearm();
}

void SipImBridge::OnBusAnswer(const Answer& answer, const std::string& message_id,
                              const Address& to) {
  if (to.network != Network::kSip) return;
  std::optional<uint32_t> worker = WorkerOfMessageId(message_id);
  if (!worker) {
    log::Debug(kLog, "answer for an unknown message", {{"id", message_id}});
    return;
  }
  if (*worker == options_.worker) {
    OnAnswer(answer);
  } else if (forward_) {
    forward_(*worker, answer);
  }
}

}  // namespace causeway::gateway
