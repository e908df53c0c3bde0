#include "mappings/xmpp_stanza_map.h"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/strings.h"
#include "core/utf8.h"
#include "mappings/error_map.h"
#include "mappings/presence_map.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/codec/stream_parser.h"
#include "xmpp/codec/xml_text.h"

namespace causeway::mappings {
namespace {

using xmpp::Element;
using Condition = xmpp::StanzaErrorCondition;

constexpr std::string_view kNsChatStates = "http://jabber.org/protocol/chatstates";  // XEP-0085
constexpr std::string_view kNsReceipts = "urn:xmpp:receipts";                        // XEP-0184
constexpr std::string_view kNsXhtmlIm = "http://jabber.org/protocol/xhtml-im";       // XEP-0071
constexpr std::string_view kNsXhtml = "http://www.w3.org/1999/xhtml";
constexpr std::string_view kNsNick = "http://jabber.org/protocol/nick";  // XEP-0172
constexpr std::string_view kNsDelay = "urn:xmpp:delay";                   // XEP-0203
constexpr std::string_view kNsLegacyDelay = "jabber:x:delay";             // XEP-0091 (obsolete)

// ---- text safety ----

// XML 1.0 Char: TAB, LF, CR and everything from U+0020 except U+FFFE/U+FFFF (surrogates cannot
// occur in well-formed UTF-8).
bool IsXmlCharAt(std::string_view s, size_t i, size_t len) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (len == 1) return c >= 0x20 || c == '\t' || c == '\n' || c == '\r';
  return !(len == 3 && c == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
           static_cast<unsigned char>(s[i + 2]) >= 0xBE);
}

// `text` without the characters XML cannot carry; InvalidArgument when it is not UTF-8 (the
// serializer would turn such bytes into U+FFFD, silently changing what the user wrote).
absl::StatusOr<std::string> XmlSafeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t run = 0;  // start of the bytes not yet copied: copied in runs, not per character
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x80) {
      ++i;
      continue;
    }
    const size_t len = c < 0x80 ? 1 : Utf8SequenceLength(text, i);
    if (len == 0) return absl::InvalidArgumentError("text is not UTF-8");
    if (!IsXmlCharAt(text, i, len)) {
      out.append(text.substr(run, i - run));
      run = i + len;
    }
    i += len;
  }
  out.append(text.substr(run));
  return out;
}

// For display strings (status, nick, error text): invalid bytes are dropped rather than failing.
std::string XmlSafeLabel(std::string_view text) {
  absl::StatusOr<std::string> safe = XmlSafeText(text);
  if (safe.ok()) return *std::move(safe);
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      ++i;
      continue;
    }
    if (IsXmlCharAt(text, i, len)) out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

// ---- XHTML-IM (XEP-0071) ----

// The XHTML 1.0 Integration Set of XEP-0071 §6 (structure, text, hypertext, list, image modules)
// minus html/head/title/body, which only make sense as the wrapper.
constexpr std::array<std::string_view, 31> kXhtmlKept = {
    "a",  "abbr", "acronym", "address", "blockquote", "br",   "cite", "code",   "dd", "dfn", "div",
    "dl", "dt",   "em",      "h1",      "h2",         "h3",   "h4",   "h5",     "h6", "img", "kbd",
    "li", "ol",   "p",       "pre",     "q",          "samp", "span", "strong", "ul"};

// XEP-0071 §6 excludes the scripting, style sheet, object, applet, frames, forms, meta and link
// modules, §9 because they run code or fetch things; the element and everything in it goes.
constexpr std::array<std::string_view, 22> kXhtmlDroppedWithContent = {
    "script",   "style", "object", "applet", "embed",  "iframe",   "frame",  "frameset",
    "noscript", "form",  "input",  "button", "select", "textarea", "option", "link",
    "meta",     "base",  "param",  "head",   "title",  "map"};

// Attributes of the recommended profile (XEP-0071 §7: a href/type, img alt/height/src/width,
// style everywhere) plus the harmless cite/title. Event attributes (on*) are never among them.
constexpr std::array<std::string_view, 9> kXhtmlAttributes = {
    "href", "type", "alt", "height", "src", "width", "style", "cite", "title"};

// URI schemes a link or image may use; javascript:, vbscript:, data: and the like may not.
constexpr std::array<std::string_view, 8> kSafeSchemes = {"http", "https", "mailto", "xmpp",
                                                          "sip",  "sips",  "im",     "ftp"};

template <size_t N>
bool OneOf(const std::array<std::string_view, N>& list, std::string_view value) {
  for (std::string_view item : list) {
    if (item == value) return true;
  }
  return false;
}

// ASCII-lower-cased copy without white space and controls, as browsers read "java\tscript:".
std::string Squeezed(std::string_view value) {
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) continue;
    out.push_back(static_cast<char>(absl::ascii_tolower(u)));
  }
  return out;
}

bool IsSafeUri(std::string_view value) {
  const std::string uri = Squeezed(value);
  const size_t colon = uri.find(':');
  if (colon == std::string::npos) return true;  // relative: no scheme to run
  const size_t path = uri.find_first_of("/?#");
  if (path != std::string::npos && path < colon) return true;  // the colon is in the path
  return OneOf(kSafeSchemes, std::string_view(uri).substr(0, colon));
}

// Inline CSS can load URLs and, in old engines, run script (expression(), -moz-binding);
// escapes could hide either.
bool IsSafeStyle(std::string_view value) {
  const std::string css = Squeezed(value);
  for (std::string_view bad :
       {"url(", "expression", "javascript:", "behavior", "binding", "@import", "\\"}) {
    if (absl::StrContains(css, ToAbsl(bad))) return false;
  }
  return true;
}

void SanitizeXhtmlAttributes(Element& element) {
  std::vector<xmpp::Attribute>& attributes = element.mutable_attributes();
  std::vector<xmpp::Attribute> kept;
  for (xmpp::Attribute& a : attributes) {
    if (a.ns.empty()) absl::AsciiStrToLower(&a.name);
    bool keep = false;
    if (a.ns == xmpp::kNsXml) {
      keep = a.name == "lang";
    } else if (a.ns.empty() && OneOf(kXhtmlAttributes, a.name)) {
      if (a.name == "href" || a.name == "src" || a.name == "cite") {
        keep = IsSafeUri(a.value);
      } else if (a.name == "style") {
        keep = IsSafeStyle(a.value);
      } else {
        keep = true;
      }
    }
    if (keep) kept.push_back(std::move(a));
  }
  attributes = std::move(kept);
}

// Keeps the Integration Set, unwraps other XHTML elements (XEP-0071 §8: a recipient processes
// the content of an element it does not know as if the element were not there) and drops
// active or foreign content with everything inside it.
void SanitizeXhtmlChildren(Element& parent) {
  std::vector<Element> children = std::move(parent.mutable_children());
  parent.mutable_children().clear();
  for (Element& child : children) {
    const bool xhtml = child.ns() == kNsXhtml;
    // HTML names are case-insensitive and XHTML's are lower-case: <BR> from an HTML editor is br.
    if (xhtml) child.set_name(absl::AsciiStrToLower(ToAbsl(child.name())));
    if (!xhtml || OneOf(kXhtmlDroppedWithContent, child.name())) {
      parent.AppendText(child.tail());
      continue;
    }
    SanitizeXhtmlChildren(child);
    if (OneOf(kXhtmlKept, child.name())) {
      SanitizeXhtmlAttributes(child);
      parent.AddChild(std::move(child));
      continue;
    }
    parent.AppendText(child.text());
    for (Element& grandchild : child.mutable_children()) parent.AddChild(std::move(grandchild));
    parent.AppendText(child.tail());
  }
}

bool HasContent(const Element& element) {
  return !element.text().empty() || !element.children().empty();
}

// The content of an XHTML <body> as markup in the XHTML namespace without the body tags.
std::string InnerXhtml(const Element& body) {
  std::string out;
  const xmpp::XmlScope scope{kNsXhtml};
  xmpp::AppendEscapedText(body.text(), &out);
  for (const Element& child : body.children()) {
    xmpp::AppendXml(child, &out, scope);
    xmpp::AppendEscapedText(child.tail(), &out);
  }
  return out;
}

// The character data of a (sanitized) XHTML tree, with line breaks for <br/> and blocks.
void AppendPlainText(const Element& element, std::string* out) {
  out->append(element.text());
  for (const Element& child : element.children()) {
    if (child.name() == "br") out->push_back('\n');
    AppendPlainText(child, out);
    const std::string& n = child.name();
    if (n == "p" || n == "div" || n == "li" || n == "blockquote" || n == "pre" ||
        (n.size() == 2 && n[0] == 'h' && n[1] >= '1' && n[1] <= '6')) {
      if (!out->empty() && out->back() != '\n') out->push_back('\n');
    }
    out->append(child.tail());
  }
}

// Collects the first-level elements of the wrapper stream XhtmlBodyFromMarkup parses.
class BodyCollector : public xmpp::StreamHandler {
 public:
  void OnStreamOpen(const xmpp::StreamHeader&) override {}
  void OnStanza(Element& stanza) override {
    if (++count_ == 1) body_ = std::move(stanza);
  }
  void OnStreamClose() override { closed_ = true; }

  int count() const { return count_; }
  bool closed() const { return closed_; }
  Element& body() { return body_; }

 private:
  int count_ = 0;
  bool closed_ = false;
  Element body_;
};

// `markup` (the content of an HTML body) as a sanitized XHTML <body/>, or nullopt when it is not
// well-formed XML on its own: it is parsed inside a wrapper, and markup that closes the wrapper
// early or opens a second one is refused, not spliced.
std::optional<Element> XhtmlBodyFromMarkup(std::string_view markup) {
  if (!IsValidUtf8(markup)) return std::nullopt;
  // HTML's most common entity, which XML does not predefine (Lync writes it for every run of
  // spaces); any other named entity makes the markup unusable, as XML says.
  std::string text;
  text.reserve(markup.size());
  for (size_t i = 0; i < markup.size();) {
    if (markup.substr(i).starts_with("&nbsp;")) {
      text.append("&#160;");
      i += 6;
    } else {
      text.push_back(markup[i++]);
    }
  }
  BodyCollector collector;
  xmpp::StreamLimits limits;
  limits.max_stanza_bytes = text.size() + 128;  // the whole fragment is one element
  xmpp::StreamParser parser(collector, limits);
  const std::string open =
      absl::StrCat("<stream:stream xmlns='", ToAbsl(xmpp::kNsServer), "' xmlns:stream='",
                   ToAbsl(xmpp::kNsStreams), "'><body xmlns='", ToAbsl(kNsXhtml), "'>");
  if (!parser.Feed(open).ok() || !parser.Feed(text).ok() || !parser.Feed("</body>").ok()) {
    return std::nullopt;
  }
  if (collector.count() != 1 || collector.closed()) return std::nullopt;
  Element body = std::move(collector.body());
  SanitizeXhtmlChildren(body);
  body.mutable_attributes().clear();
  return body;
}

// ---- addresses ----

Address AddressOfJid(const xmpp::Jid& jid) {
  return Address{Network::kXmpp, jid.node(), jid.domain(), jid.resource()};
}

struct Refusal {
  Condition condition;
  std::string text;
};

struct Endpoints {
  Address from;  // kXmpp, full JID as sent
  Address to;    // kSip, bare: the local user addressed
  std::string from_bare;
  std::string to_bare;
};

// Checks and maps the addressing of a stanza for one of our users.
std::variant<Endpoints, Refusal> ResolveEndpoints(const Element& stanza, const DomainMap& domains) {
  absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
  if (!from.ok()) return Refusal{Condition::kJidMalformed, "missing or malformed 'from'"};
  absl::StatusOr<xmpp::Jid> to = xmpp::StanzaToJid(stanza);
  if (!to.ok()) return Refusal{Condition::kJidMalformed, "missing or malformed 'to'"};

  if (domains.IsLocalXmppDomain(from->domain())) {
    return Refusal{Condition::kForbidden, "a local domain's stanza arrived over XMPP"};
  }
  absl::StatusOr<Address> sender = SipAddressFromXmpp(AddressOfJid(from->Bare()), domains);
  if (!sender.ok()) {
    if (absl::IsNotFound(sender.status())) {
      return Refusal{Condition::kForbidden, "the sender's domain is not federated"};
    }
    return Refusal{Condition::kNotAcceptable, "the sender has no address on the Lync side"};
  }

  if (!domains.IsLocalXmppDomain(to->domain())) {
    return Refusal{Condition::kItemNotFound, "not a domain of this gateway"};
  }
  if (to->node().empty()) {
    return Refusal{Condition::kServiceUnavailable, "the gateway itself takes no such stanza"};
  }
  absl::StatusOr<Address> recipient = SipAddressFromXmpp(AddressOfJid(to->Bare()), domains);
  if (!recipient.ok()) {
    // RFC 6121 §8.5.1: a user that cannot exist is answered like any absent user.
    return Refusal{Condition::kServiceUnavailable, "no such user"};
  }
  return Endpoints{AddressOfJid(*from), *std::move(recipient), from->BareString(),
                   to->BareString()};
}

XmppInbound Refuse(Condition condition, std::string text) {
  XmppInbound out;
  out.error = condition;
  out.error_text = std::move(text);
  return out;
}

// The child `name` in the stanza's namespace whose language is the stanza's (or unmarked),
// else the first one (RFC 6121 §5.2.3, §4.7.2.2: one per xml:lang).
const Element* ChildForLanguage(const Element& stanza, std::string_view ns, std::string_view name) {
  const std::optional<std::string_view> stanza_lang = stanza.AttrNs(xmpp::kNsXml, "lang");
  const Element* first = nullptr;
  for (const Element& child : stanza.children()) {
    if (!child.Is(ns, name)) continue;
    const std::optional<std::string_view> lang = child.AttrNs(xmpp::kNsXml, "lang");
    if (!lang || (stanza_lang && *lang == *stanza_lang)) return &child;
    if (first == nullptr) first = &child;
  }
  return first;
}

std::optional<ChatState> ChatStateOf(const Element& stanza) {
  for (const Element& child : stanza.children()) {
    ChatState state;
    if (child.ns() == kNsChatStates && ParseChatState(child.name(), &state)) return state;
  }
  return std::nullopt;
}

// An <html/> payload's body as a text/html alternative ("" when it carries nothing).
std::string HtmlAlternative(const Element& stanza) {
  const Element* html = stanza.FindChild(kNsXhtmlIm, "html");
  if (html == nullptr) return {};
  const Element* body = ChildForLanguage(*html, kNsXhtml, "body");
  if (body == nullptr) return {};
  Element copy = *body;
  SanitizeXhtmlChildren(copy);
  if (!HasContent(copy)) return {};
  return InnerXhtml(copy);
}

// <message type=error>: the failure of something we sent. Never answered (RFC 6120 §8.3.1).
XmppInbound InboundMessageError(const Element& stanza, const DomainMap& domains) {
  XmppInbound out;
  const std::string_view id = xmpp::StanzaId(stanza);
  if (id.empty()) return out;  // nothing of ours to refer to
  absl::StatusOr<xmpp::Jid> to = xmpp::StanzaToJid(stanza);
  if (!to.ok() || !domains.IsLocalXmppDomain(to->domain())) return out;
  absl::StatusOr<Address> original_sender = SipAddressFromXmpp(AddressOfJid(to->Bare()), domains);
  if (!original_sender.ok()) return out;
  DeliveryFailureEvent failure;
  failure.message_id = std::string(id);
  absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
  if (from.ok()) failure.from = AddressOfJid(*from);
  failure.from.network = Network::kXmpp;
  failure.to = *std::move(original_sender);
  const std::optional<xmpp::ReceivedStanzaError> error = xmpp::ReadStanzaError(stanza);
  if (error && error->condition) {
    failure.reason = FailureReasonFromXmppCondition(*error->condition);
    failure.text = !error->text.empty() ? XmlSafeLabel(error->text)
                                        : std::string(xmpp::StanzaErrorName(*error->condition));
  } else {
    failure.reason = DeliveryFailureReason::kInternal;
    failure.text = "error without a known condition";
  }
  out.events.push_back(std::move(failure));
  return out;
}

// XEP-0203 <delay stamp='2002-09-10T23:08:25Z'/> (XEP-0082 DateTime: fractions and offsets
// allowed), or the older XEP-0091 <x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/> (UTC).
// A stamp that does not parse is ignored: the message is still delivered, as of now.
std::optional<WallTime> DelayedSendTime(const Element& stanza) {
  absl::Time t;
  std::string error;
  if (const Element* delay = stanza.FindChild(kNsDelay, "delay")) {
    if (absl::ParseTime(absl::RFC3339_full, ToAbsl(delay->AttrOr("stamp", "")), &t, &error)) {
      return absl::ToChronoTime(t);
    }
  }
  if (const Element* legacy = stanza.FindChild(kNsLegacyDelay, "x")) {
    if (absl::ParseTime("%E4Y%m%dT%H:%M:%S", ToAbsl(legacy->AttrOr("stamp", "")),
                        absl::UTCTimeZone(), &t, &error)) {
      return absl::ToChronoTime(t);
    }
  }
  return std::nullopt;
}

XmppInbound InboundMessage(const Element& stanza, const DomainMap& domains) {
  const std::string_view type = xmpp::StanzaType(stanza);
  if (type == "error") return InboundMessageError(stanza, domains);

  std::variant<Endpoints, Refusal> resolved = ResolveEndpoints(stanza, domains);
  if (Refusal* refusal = std::get_if<Refusal>(&resolved)) {
    return Refuse(refusal->condition, std::move(refusal->text));
  }
  Endpoints& ends = std::get<Endpoints>(resolved);

  // RFC 6121 §8.5.2.1.1 / §8.5.3.2.1: groupchat to a user who is in no room of ours.
  if (type == "groupchat") {
    return Refuse(Condition::kServiceUnavailable, "groupchat is not carried to Lync");
  }
  // chat, normal, headline, absent and unknown types (RFC 6121 §5.2.2: read as normal) alike.
  const std::string_view id = xmpp::StanzaId(stanza);
  const std::string_view thread = stanza.ChildText(stanza.ns(), "thread");
  std::string conversation_id;
  if (!thread.empty()) {
    absl::StatusOr<std::string> safe = XmlSafeText(thread);
    if (safe.ok()) conversation_id = *std::move(safe);
  }
  if (conversation_id.empty()) {
    // Stable per pair of users, so a chat state and the messages around it share it.
    conversation_id = absl::StrCat("xmpp:", ends.from_bare, "|", ends.to_bare);
  }

  XmppInbound out;
  const Element* body = ChildForLanguage(stanza, stanza.ns(), "body");
  if (body != nullptr && !body->text().empty()) {
    absl::StatusOr<std::string> text = XmlSafeText(body->text());
    if (!text.ok()) return Refuse(Condition::kBadRequest, "the body is not UTF-8");
    InstantMessageEvent im;
    im.message_id = std::string(id);
    im.conversation_id = conversation_id;
    im.from = ends.from;
    im.to = ends.to;
    im.body = *std::move(text);
    if (std::string html = HtmlAlternative(stanza); !html.empty()) {
      im.alternatives.push_back({"text/html", std::move(html)});
    }
    // XEP-0184 §5.1: a receipt names the message's id; without one there is nothing to name.
    im.receipt_requested = !id.empty() && stanza.FindChild(kNsReceipts, "request") != nullptr;
    if (std::optional<WallTime> sent = DelayedSendTime(stanza)) {
      im.timestamp = *sent;
      im.delayed = true;
    } else {
      im.timestamp = std::chrono::system_clock::now();
    }
    out.events.push_back(std::move(im));
  }
  if (std::optional<ChatState> state = ChatStateOf(stanza)) {
    out.events.push_back(ChatStateEvent{conversation_id, ends.from, ends.to, *state});
  }
  if (const Element* received = stanza.FindChild(kNsReceipts, "received")) {
    // Receipts before XEP-0184 1.1 carried no id and reused the message's own.
    const std::string_view acked = received->AttrOr("id", id);
    if (!acked.empty()) {
      out.events.push_back(DeliveryReceiptEvent{std::string(acked), ends.from, ends.to});
    }
  }
  if (!out.events.empty()) return out;
  // Extensions we do not carry (chat markers, carbons, ...) are ignored, not bounced.
  for (const Element& child : stanza.children()) {
    if (child.ns() != stanza.ns()) return out;
  }
  return Refuse(Condition::kBadRequest, "a message without a body, chat state or receipt");
}

XmppInbound InboundPresence(const Element& stanza, const DomainMap& domains) {
  XmppInbound out;
  const std::string_view type = xmpp::StanzaType(stanza);
  // Presence is never bounced: an unknown recipient's presence is ignored (RFC 6121 §8.5.1),
  // errors are never answered, and a presence loop would cost both servers every change.
  std::variant<Endpoints, Refusal> resolved = ResolveEndpoints(stanza, domains);
  if (std::holds_alternative<Refusal>(resolved) || type == "error") return out;
  Endpoints& ends = std::get<Endpoints>(resolved);

  if (type.empty() || type == "unavailable") {
    XmppPresence presence;
    presence.available = type.empty();
    presence.show = std::string(stanza.ChildText(stanza.ns(), "show"));
    if (const Element* status = ChildForLanguage(stanza, stanza.ns(), "status")) {
      presence.status = XmlSafeLabel(status->text());
    }
    int priority = 0;
    if (absl::SimpleAtoi(ToAbsl(stanza.ChildText(stanza.ns(), "priority")), &priority)) {
      presence.priority = priority;
    }
    PresenceEvent event = PresenceEventFromXmpp(ends.from, presence);
    event.to = ends.to;
    out.events.push_back(std::move(event));
    return out;
  }
  if (type == "probe") {
    out.events.push_back(PresenceProbeEvent{ends.from.Bare(), ends.to});
    return out;
  }
  SubscriptionAction action;
  if (!ParseSubscriptionAction(type, &action)) return out;  // an unknown type: ignored
  SubscriptionEvent event{ends.from.Bare(), ends.to, action, {}};
  if (action == SubscriptionAction::kSubscribe) {
    event.display_name = XmlSafeLabel(stanza.ChildText(kNsNick, "nick"));
  }
  out.events.push_back(std::move(event));
  return out;
}

// ---- outbound ----

// The JID a local SIP user speaks from (bare + `resource`). Only users of our own SIP domains:
// anything else would make us speak for a domain we do not serve.
absl::StatusOr<xmpp::Jid> LocalJid(const Address& sip, const DomainMap& domains,
                                   std::string_view resource) {
  if (sip.network == Network::kSip && !domains.IsLocalSipDomain(sip.domain)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a user of a local domain: ", ToAbsl(sip.ToString())));
  }
  absl::StatusOr<Address> xmpp = XmppAddressFromSip(sip, domains);
  if (!xmpp.ok()) return xmpp.status();
  return xmpp::Jid::Make(xmpp->user, xmpp->domain, resource);
}

// The XMPP address an event travels to: a user of a reachable remote domain.
absl::StatusOr<xmpp::Jid> RemoteJid(const Address& to, const DomainMap& domains, bool bare) {
  if (to.network != Network::kXmpp) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an XMPP address (", ToAbsl(NetworkName(to.network)), ")"));
  }
  if (to.user.empty()) return absl::InvalidArgumentError("XMPP address without a node");
  if (domains.IsLocalXmppDomain(to.domain) || !domains.SipDomainFor(to.domain).ok()) {
    return absl::NotFoundError(absl::StrCat("not a reachable XMPP domain: ", ToAbsl(to.domain)));
  }
  return xmpp::Jid::Make(to.user, to.domain, bare ? std::string_view() : to.resource);
}

struct Addressing {
  std::string from;
  std::string to;
};

absl::StatusOr<Addressing> ResolveOutbound(const Address& from, const Address& to,
                                           const DomainMap& domains, std::string_view resource,
                                           bool bare_to) {
  absl::StatusOr<xmpp::Jid> local = LocalJid(from, domains, resource);
  if (!local.ok()) return local.status();
  absl::StatusOr<xmpp::Jid> remote = RemoteJid(to, domains, bare_to);
  if (!remote.ok()) return remote.status();
  return Addressing{local->ToString(), remote->ToString()};
}

std::string_view MediaType(std::string_view content_type) {
  const size_t semicolon = content_type.find(';');
  return FromAbsl(absl::StripAsciiWhitespace(ToAbsl(content_type.substr(0, semicolon))));
}

bool IsMediaType(std::string_view content_type, std::string_view type) {
  return absl::EqualsIgnoreCase(ToAbsl(MediaType(content_type)), ToAbsl(type));
}

void AddThread(Element& message, std::string_view conversation_id) {
  if (conversation_id.empty()) return;
  std::string thread = XmlSafeLabel(conversation_id);
  if (!thread.empty()) message.AddChild(message.ns(), "thread").SetText(thread);
}

}  // namespace

XmppInbound EventsFromXmppStanza(const xmpp::Element& stanza, const DomainMap& domains) {
  switch (xmpp::KindOf(stanza)) {
    case xmpp::StanzaKind::kMessage:
      return InboundMessage(stanza, domains);
    case xmpp::StanzaKind::kPresence:
      return InboundPresence(stanza, domains);
    case xmpp::StanzaKind::kIq: {
      const std::string_view type = xmpp::StanzaType(stanza);
      if (type == "result" || type == "error") return {};  // RFC 6120 §8.2.3: never answered
      return Refuse(Condition::kFeatureNotImplemented, "no IQ is carried to Lync");
    }
    case xmpp::StanzaKind::kNone:
      break;
  }
  return Refuse(Condition::kBadRequest, "not a stanza");
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const InstantMessageEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, event.to, domains, context.resource, /*bare_to=*/false);
  if (!addressing.ok()) return addressing.status();

  // The plain text for <body/> and the markup for XHTML-IM, whichever representation has them.
  std::string plain;
  std::optional<Element> xhtml;
  std::string_view html_markup;
  bool have_plain = false;
  if (IsMediaType(event.content_type, "text/plain")) {
    plain = event.body;
    have_plain = true;
  } else if (IsMediaType(event.content_type, "text/html")) {
    html_markup = event.body;
  }
  for (const AlternativeBody& alternative : event.alternatives) {
    if (!have_plain && IsMediaType(alternative.content_type, "text/plain")) {
      plain = alternative.body;
      have_plain = true;
    } else if (html_markup.empty() && IsMediaType(alternative.content_type, "text/html")) {
      html_markup = alternative.body;
    }
  }
  if (!html_markup.empty()) xhtml = XhtmlBodyFromMarkup(html_markup);
  if (!have_plain) {
    if (!xhtml) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no text/plain body and no well-formed text/html one (", event.content_type, ")"));
    }
    AppendPlainText(*xhtml, &plain);
    while (!plain.empty() && plain.back() == '\n') plain.pop_back();
  }
  absl::StatusOr<std::string> body = XmlSafeText(plain);
  if (!body.ok()) return body.status();
  if (body->empty()) return absl::InvalidArgumentError("empty message body");

  Element message = xmpp::MakeStanza(xmpp::StanzaKind::kMessage, context.content_ns, "chat",
                                     addressing->to, addressing->from, event.message_id);
  message.AddChild(context.content_ns, "body").SetText(*body);
  AddThread(message, event.conversation_id);
  if (xhtml && HasContent(*xhtml)) {
    message.AddChild(kNsXhtmlIm, "html").AddChild(*std::move(xhtml));
  }
  // XEP-0085 §5.1: a message with a body carries <active/> (we cannot know the contact's support).
  message.AddChild(kNsChatStates, "active");
  if (event.receipt_requested && !event.message_id.empty()) {
    message.AddChild(kNsReceipts, "request");
  }
  return message;
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const ChatStateEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, event.to, domains, context.resource, /*bare_to=*/false);
  if (!addressing.ok()) return addressing.status();
  // XEP-0085 §5.5: a standalone notification is a type=chat message without a body.
  Element message = xmpp::MakeStanza(xmpp::StanzaKind::kMessage, context.content_ns, "chat",
                                     addressing->to, addressing->from);
  message.AddChild(kNsChatStates, ChatStateName(event.state));
  AddThread(message, event.conversation_id);
  return message;
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const DeliveryReceiptEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  if (event.message_id.empty()) return absl::InvalidArgumentError("receipt without a message id");
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, event.to, domains, context.resource, /*bare_to=*/false);
  if (!addressing.ok()) return addressing.status();
  // XEP-0184 §4 example 3: a message of its own id whose <received/> names the original one. Our
  // id is derived, not random, so the function stays pure; an error bouncing it names no message
  // of the SIP side and is dropped there.
  Element message =
      xmpp::MakeStanza(xmpp::StanzaKind::kMessage, context.content_ns, "", addressing->to,
                       addressing->from, absl::StrCat("receipt-", event.message_id));
  message.AddChild(kNsReceipts, "received").SetAttr("id", event.message_id);
  return message;
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const DeliveryFailureEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  // From the bare JID the sender addressed: the SIP side answers for the user, not an endpoint.
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, event.to, domains, /*resource=*/{}, /*bare_to=*/false);
  if (!addressing.ok()) return addressing.status();
  Element message = xmpp::MakeStanza(xmpp::StanzaKind::kMessage, context.content_ns, "error",
                                     addressing->to, addressing->from, event.message_id);
  message.AddChild(xmpp::MakeStanzaError(XmppConditionFromFailureReason(event.reason),
                                         context.content_ns, XmlSafeLabel(event.text)));
  return message;
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const PresenceEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  if (!event.to) {
    return absl::InvalidArgumentError("broadcast presence: the adapter fans it out first");
  }
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, *event.to, domains, context.resource, /*bare_to=*/false);
  if (!addressing.ok()) return addressing.status();
  // event.device names a Lync endpoint (SIP instance): it stays on the SIP side.
  const XmppPresence presence = XmppPresenceFromEvent(event);
  Element stanza =
      xmpp::MakeStanza(xmpp::StanzaKind::kPresence, context.content_ns,
                       presence.available ? "" : "unavailable", addressing->to, addressing->from);
  if (presence.available && !presence.show.empty()) {
    stanza.AddChild(context.content_ns, "show").SetText(presence.show);
  }
  if (std::string status = XmlSafeLabel(presence.status); !status.empty()) {
    stanza.AddChild(context.content_ns, "status").SetText(status);
  }
  if (presence.available && presence.priority != 0) {
    stanza.AddChild(context.content_ns, "priority").SetText(absl::StrCat(presence.priority));
  }
  return stanza;
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const PresenceProbeEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  // RFC 6121 §4.3: a probe is from and to bare JIDs.
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, event.to, domains, /*resource=*/{}, /*bare_to=*/true);
  if (!addressing.ok()) return addressing.status();
  return xmpp::MakeStanza(xmpp::StanzaKind::kPresence, context.content_ns, "probe", addressing->to,
                          addressing->from);
}

absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const SubscriptionEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context) {
  // RFC 6121 §3: subscription stanzas are between bare JIDs and carry no show or status.
  absl::StatusOr<Addressing> addressing =
      ResolveOutbound(event.from, event.to, domains, /*resource=*/{}, /*bare_to=*/true);
  if (!addressing.ok()) return addressing.status();
  Element stanza =
      xmpp::MakeStanza(xmpp::StanzaKind::kPresence, context.content_ns,
                       SubscriptionActionName(event.action), addressing->to, addressing->from);
  // XEP-0172 §4.2: the nickname travels with the subscription request.
  if (event.action == SubscriptionAction::kSubscribe) {
    if (std::string nick = XmlSafeLabel(event.display_name); !nick.empty()) {
      stanza.AddChild(kNsNick, "nick").SetText(nick);
    }
  }
  return stanza;
}

}  // namespace causeway::mappings
