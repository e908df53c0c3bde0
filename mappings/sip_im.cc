#include "mappings/sip_im.h"

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/strings.h"
#include "sip/codec/multipart.h"

namespace causeway::mappings {
namespace {

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

bool IsText(std::string_view type) { return type == "text/plain" || type == "text/html"; }

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

}  // namespace causeway::mappings
