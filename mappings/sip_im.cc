#include "mappings/sip_im.h"

#include <chrono>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/strings.h"
#include "sip/codec/multipart.h"

namespace causeway::mappings {
namespace {

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

bool IsText(std::string_view type) { return type == "text/plain" || type == "text/html"; }

// One tag of a small XML document, as the scanner below sees it.
struct ScannedTag {
  std::string_view local_name;  // without a namespace prefix
  std::string_view attributes;  // the text between the name and '>' (or "/>")
  bool closing = false;         // </name>
  size_t end = 0;               // offset just after '>'
};

// The next element tag at or after `from` (declarations, comments and processing instructions
// skipped), or nullopt at the end or on a truncated tag.
std::optional<ScannedTag> NextTag(std::string_view xml, size_t from) {
  for (;;) {
    const size_t open = xml.find('<', from);
    if (open == std::string_view::npos || open + 1 >= xml.size()) return std::nullopt;
    const size_t close = xml.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const char first = xml[open + 1];
    if (first == '?' || first == '!') {
      from = close + 1;
      continue;
    }
    ScannedTag tag;
    tag.closing = first == '/';
    std::string_view inside =
        xml.substr(open + 1 + (tag.closing ? 1 : 0), close - open - 1 - (tag.closing ? 1 : 0));
    if (!inside.empty() && inside.back() == '/') inside.remove_suffix(1);
    size_t name_end = 0;
    while (name_end < inside.size() &&
           !absl::ascii_isspace(static_cast<unsigned char>(inside[name_end]))) {
      ++name_end;
    }
    std::string_view name = inside.substr(0, name_end);
    if (const size_t colon = name.find(':'); colon != std::string_view::npos) {
      name = name.substr(colon + 1);
    }
    tag.local_name = name;
    tag.attributes = inside.substr(name_end);
    tag.end = close + 1;
    return tag;
  }
}

// The value of attribute `name` (unprefixed) in a tag's attribute text.
std::optional<std::string_view> AttributeValue(std::string_view attributes, std::string_view name) {
  size_t at = 0;
  while (at < attributes.size()) {
    while (at < attributes.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(attributes[at]))) {
      ++at;
    }
    const size_t eq = attributes.find('=', at);
    if (eq == std::string_view::npos) return std::nullopt;
    const bool wanted =
        absl::StripAsciiWhitespace(ToAbsl(attributes.substr(at, eq - at))) == ToAbsl(name);
    size_t quote = eq + 1;
    while (quote < attributes.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(attributes[quote]))) {
      ++quote;
    }
    if (quote >= attributes.size() || (attributes[quote] != '"' && attributes[quote] != '\'')) {
      return std::nullopt;
    }
    const size_t end = attributes.find(attributes[quote], quote + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (wanted) return attributes.substr(quote + 1, end - quote - 1);
    at = end + 1;
  }
  return std::nullopt;
}

// The first tag of `xml` when it is an element named `root`.
std::optional<ScannedTag> RootTag(std::string_view xml, std::string_view root) {
  std::optional<ScannedTag> tag = NextTag(xml, 0);
  if (!tag || tag->closing || tag->local_name != root) return std::nullopt;
  return tag;
}

// The first start tag named `name` after `from`.
std::optional<ScannedTag> FindElement(std::string_view xml, size_t from, std::string_view name) {
  for (std::optional<ScannedTag> tag = NextTag(xml, from); tag; tag = NextTag(xml, tag->end)) {
    if (!tag->closing && tag->local_name == name) return tag;
  }
  return std::nullopt;
}

bool IsUserUnreserved(char c) {
  // RFC 3261 §25.1: unreserved and user-unreserved characters stand for themselves in a user part.
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("-_.!~*'()&=+$,;?/").find(c) != std::string_view::npos;
}

constexpr size_t kMaxPagerBody = 60 * 1024;  // under the codec's 64 KiB message limit

}  // namespace

absl::StatusOr<Address> AddressFromSipUri(const sip::Uri& uri) {
  if (uri.scheme() == sip::UriScheme::kTel) {
    if (!uri.is_global_number()) return absl::InvalidArgumentError("local tel URI");
    return Address{Network::kPstn, std::string(uri.user()), "", ""};
  }
  if (!uri.is_sip() || !uri.has_user() || uri.user().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("not a user address: ", ToAbsl(uri.text())));
  }
  Address a;
  a.network = Network::kSip;
  a.user = sip::UnescapeUri(uri.user());
  a.domain = Lower(uri.host());
  if (std::optional<std::string_view> gr = uri.Param("gr")) a.resource = std::string(*gr);
  return a;
}

absl::StatusOr<InstantMessageEvent> ImFromSipMessage(const sip::SipMessage& request) {
  const bool invite = request.is_request() && request.method() == sip::Method::kInvite;
  if (!request.is_request() || (request.method() != sip::Method::kMessage && !invite)) {
    return absl::InvalidArgumentError("not a MESSAGE");
  }
  absl::StatusOr<Address> from = AddressFromSipUri(request.from().uri);
  if (!from.ok()) return from.status();
  absl::StatusOr<Address> to = AddressFromSipUri(request.to().uri);
  if (!to.ok()) return to.status();

  InstantMessageEvent event;
  event.from = *std::move(from);
  event.to = *std::move(to);
  event.conversation_id = std::string(request.call_id());
  event.message_id = absl::StrCat(ToAbsl(request.call_id()), "/", request.cseq());
  event.timestamp = std::chrono::system_clock::now();

  if (invite) {
    // MS-SIPRE: the first message of an IM session, base64 in ms-text-format's ms-body.
    const sip::Header* format = request.FindHeader("ms-text-format");
    if (format == nullptr) return absl::InvalidArgumentError("INVITE without a first message");
    // Split by hand: ms-body is raw base64, whose '=' padding is not a token (RFC 3261 params).
    const std::string_view value = format->value;
    const std::string lower = Lower(value);
    const size_t at = lower.find("ms-body=");
    std::string text;
    if (at == std::string::npos) {
      return absl::InvalidArgumentError("INVITE without a first message");
    }
    std::string_view encoded = value.substr(at + 8);
    encoded = encoded.substr(0, encoded.find(';'));
    if (!absl::Base64Unescape(absl::StripAsciiWhitespace(ToAbsl(encoded)), &text)) {
      return absl::InvalidArgumentError("ms-body is not base64");
    }
    const std::string media(
        absl::StripAsciiWhitespace(ToAbsl(std::string_view(lower).substr(0, lower.find(';')))));
    if (!IsText(media)) return absl::InvalidArgumentError("first message is not text");
    event.content_type = media;
    event.body = std::move(text);
    return event;
  }
  absl::StatusOr<sip::MediaType> type = request.GetContentType();
  const std::string media =
      type.ok() ? Lower(absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype)))
                : std::string("text/plain");  // RFC 3428 bodies without a type are text
  if (IsText(media)) {
    event.content_type = media;
    event.body = std::string(request.body());
    return event;
  }
  if (media != "multipart/alternative") {
    return absl::InvalidArgumentError(absl::StrCat("not an instant message: ", media));
  }
  const sip::Header* header = request.FindHeader(sip::HeaderId::kContentType);
  absl::StatusOr<std::vector<sip::MultipartPart>> parts =
      sip::ParseMultipartBody(header->value, request.body());
  if (!parts.ok()) return parts.status();
  bool have_body = false;
  for (const sip::MultipartPart& part : *parts) {
    absl::StatusOr<sip::MediaType> part_type = sip::ParseMediaType(part.content_type());
    const std::string part_media =
        part_type.ok()
            ? Lower(absl::StrCat(ToAbsl(part_type->type), "/", ToAbsl(part_type->subtype)))
            : std::string("text/plain");
    if (!have_body && part_media == "text/plain") {
      event.content_type = part_media;
      event.body = std::string(part.body);
      have_body = true;
    } else {
      event.alternatives.push_back(AlternativeBody{part_media, std::string(part.body)});
    }
  }
  if (!have_body) {
    if (event.alternatives.empty()) return absl::InvalidArgumentError("empty multipart message");
    event.content_type = event.alternatives.front().content_type;
    event.body = std::move(event.alternatives.front().body);
    event.alternatives.erase(event.alternatives.begin());
  }
  return event;
}

DeliveryFailureReason FailureReasonFromSipCode(int code) {
  switch (code) {
    case 404:
    case 484:
    case 604:
      return DeliveryFailureReason::kNotFound;
    case 480:
    case 410:
    case 486:
    case 600:
      return DeliveryFailureReason::kUnavailable;
    case 408:
      return DeliveryFailureReason::kTimeout;
    case 401:
    case 403:
    case 407:
    case 488:
    case 603:
      return DeliveryFailureReason::kRejected;
    case 413:
    case 513:
      return DeliveryFailureReason::kTooLarge;
    default:
      return DeliveryFailureReason::kInternal;
  }
}

int SipCodeFromFailureReason(DeliveryFailureReason reason) {
  switch (reason) {
    case DeliveryFailureReason::kNotFound:
      return 404;
    case DeliveryFailureReason::kUnavailable:
      return 480;
    case DeliveryFailureReason::kTimeout:
      return 408;
    case DeliveryFailureReason::kRejected:
      return 403;
    case DeliveryFailureReason::kTooLarge:
      return 413;
    case DeliveryFailureReason::kInternal:
      return 500;
  }
  return 500;
}

absl::StatusOr<ChatState> ChatStateFromIsComposing(std::string_view body) {
  std::optional<ScannedTag> root = RootTag(body, "isComposing");
  if (!root) return absl::InvalidArgumentError("not an isComposing document");
  std::optional<ScannedTag> state = FindElement(body, root->end, "state");
  if (!state) return absl::InvalidArgumentError("isComposing without a state");
  const size_t text_end = body.find('<', state->end);
  const absl::string_view text = absl::StripAsciiWhitespace(
      ToAbsl(body.substr(state->end, text_end == std::string_view::npos ? std::string_view::npos
                                                                        : text_end - state->end)));
  if (text == "active") return ChatState::kComposing;
  if (text == "idle") return ChatState::kPaused;
  return absl::InvalidArgumentError(absl::StrCat("unknown isComposing state: ", text));
}

absl::StatusOr<ChatState> ChatStateFromKeyboardActivity(std::string_view body) {
  std::optional<ScannedTag> root = RootTag(body, "KeyboardActivity");
  if (!root) return absl::InvalidArgumentError("not a KeyboardActivity document");
  std::optional<ScannedTag> status = FindElement(body, root->end, "status");
  if (!status) return absl::InvalidArgumentError("KeyboardActivity without a status");
  std::optional<std::string_view> value = AttributeValue(status->attributes, "status");
  if (value == "type") return ChatState::kComposing;
  if (value == "idle") return ChatState::kPaused;
  return absl::InvalidArgumentError("unknown KeyboardActivity status");
}

absl::StatusOr<std::string> IsComposingBody(ChatState state) {
  std::string_view value;
  std::string_view refresh;
  switch (state) {
    case ChatState::kComposing:
      value = "active";
      refresh = "<refresh>60</refresh>\r\n";
      break;
    case ChatState::kPaused:
      value = "idle";
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("no isComposing state for ", ToAbsl(ChatStateName(state))));
  }
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\r\n"
      "<state>",
      ToAbsl(value), "</state>\r\n<contenttype>text/plain</contenttype>\r\n", ToAbsl(refresh),
      "</isComposing>\r\n");
}

bool IsImSessionOffer(const sip::SipMessage& invite) {
  if (!invite.is_request() || invite.method() != sip::Method::kInvite) return false;
  absl::StatusOr<sip::MediaType> type = invite.GetContentType();
  if (!type.ok() ||
      Lower(absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype))) != "application/sdp") {
    return false;
  }
  for (absl::string_view line : absl::StrSplit(ToAbsl(invite.body()), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "m=")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() >= 3 && (fields[0] == "message" || fields[0] == "x-ms-message") &&
        absl::EqualsIgnoreCase(fields[2], "sip")) {
      return true;
    }
  }
  return false;
}

std::string ImSessionAnswerSdp(std::string_view host) {
  absl::string_view bare = ToAbsl(host);
  absl::ConsumePrefix(&bare, "[");
  absl::ConsumeSuffix(&bare, "]");
  const absl::string_view family = bare.find(':') != absl::string_view::npos ? "IP6" : "IP4";
  return absl::StrCat("v=0\r\no=- 0 0 IN ", family, " ", bare, "\r\ns=session\r\nc=IN ", family,
                      " ", bare,
                      "\r\nt=0 0\r\nm=message 5060 sip null\r\n"
                      "a=accept-types:text/plain text/html multipart/alternative\r\n");
}

std::string SipUriOf(const Address& address) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "sip:";
  for (char c : address.user) {
    if (IsUserUnreserved(c)) {
      uri.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      uri.push_back('%');
      uri.push_back(kHex[byte >> 4]);
      uri.push_back(kHex[byte & 0xf]);
    }
  }
  absl::StrAppend(&uri, "@", ToAbsl(address.domain));
  return uri;
}

absl::StatusOr<sip::SipMessage> PagerMessage(const Address& from, const Address& to,
                                             const OutgoingRequestIds& ids,
                                             std::string_view content_type, std::string_view body) {
  if (from.network != Network::kSip || to.network != Network::kSip || from.user.empty() ||
      to.user.empty()) {
    return absl::InvalidArgumentError("a MESSAGE goes between SIP users");
  }
  if (body.size() > kMaxPagerBody) return absl::OutOfRangeError("message too large for SIP");
  const std::string to_uri = SipUriOf(to);
  std::string text =
      absl::StrCat("MESSAGE ", to_uri, " SIP/2.0\r\nVia: ", ids.via,
                   "\r\nMax-Forwards: ", ids.max_forwards, "\r\nFrom: <", SipUriOf(from),
                   ">;tag=", ids.from_tag, "\r\nTo: <", to_uri, ">\r\nCall-ID: ", ids.call_id,
                   "\r\nCSeq: ", ids.cseq, " MESSAGE\r\nContent-Type: ", ToAbsl(content_type),
                   "\r\nContent-Length: ", body.size(), "\r\n\r\n", ToAbsl(body));
  return sip::SipMessage::Parse(std::move(text));
}

namespace {

// The RFC 2046 multipart/alternative MESSAGE of a plain and an HTML body.
absl::StatusOr<sip::SipMessage> PagerMultipartAlternative(const Address& from, const Address& to,
                                                          const OutgoingRequestIds& ids,
                                                          std::string_view plain,
                                                          std::string_view html) {
  // A boundary that occurs in neither body (RFC 2046 §5.1.1).
  std::string boundary = "causeway-alternative";
  for (int n = 1;
       absl::StrContains(ToAbsl(plain), boundary) || absl::StrContains(ToAbsl(html), boundary);
       ++n) {
    boundary = absl::StrCat("causeway-alternative-", n);
  }
  const std::string body = absl::StrCat(
      "--", boundary, "\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n", ToAbsl(plain),
      "\r\n--", boundary, "\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n", ToAbsl(html),
      "\r\n--", boundary, "--\r\n");
  return PagerMessage(from, to, ids,
                      absl::StrCat("multipart/alternative; boundary=\"", boundary, "\""), body);
}

}  // namespace

absl::StatusOr<sip::SipMessage> PagerMessageFromIm(const InstantMessageEvent& im,
                                                   const Address& from,
                                                   const OutgoingRequestIds& ids) {
  std::optional<std::string_view> plain;
  std::optional<std::string_view> html;
  auto take = [&](std::string_view type, std::string_view body) {
    const std::string lower = Lower(type);
    if (lower == "text/plain" && !plain) plain = body;
    if (lower == "text/html" && !html) html = body;
  };
  take(im.content_type, im.body);
  for (const AlternativeBody& alternative : im.alternatives) {
    take(alternative.content_type, alternative.body);
  }
  if (!plain && !html) {
    return absl::InvalidArgumentError(
        absl::StrCat("no text body in an instant message of ", ToAbsl(im.content_type)));
  }
  absl::StatusOr<sip::SipMessage> message =
      !html    ? PagerMessage(from, im.to, ids, "text/plain; charset=UTF-8", *plain)
      : !plain ? PagerMessage(from, im.to, ids, "text/html; charset=UTF-8", *html)
               : PagerMultipartAlternative(from, im.to, ids, *plain, *html);
  // A message a server held back keeps the time it was sent (RFC 3261 §20.17 Date, RFC 1123
  // form); clients that show it can tell an old message from a new one.
  if (message.ok() && im.delayed) {
    (void)message->AppendHeader(
        sip::HeaderId::kDate,
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromChrono(im.timestamp),
                         absl::UTCTimeZone()));
  }
  return message;
}

}  // namespace causeway::mappings
