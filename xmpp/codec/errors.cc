#include "xmpp/codec/errors.h"

#include <array>
#include <string>

#include "absl/strings/cord.h"
#include "core/strings.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"

namespace causeway::xmpp {

namespace {

constexpr std::array<std::string_view, kStreamErrorConditionCount> kStreamErrorNames = {
    "bad-format",
    "bad-namespace-prefix",
    "conflict",
    "connection-timeout",
    "host-gone",
    "host-unknown",
    "improper-addressing",
    "internal-server-error",
    "invalid-from",
    "invalid-namespace",
    "invalid-xml",
    "not-authorized",
    "not-well-formed",
    "policy-violation",
    "remote-connection-failed",
    "reset",
    "resource-constraint",
    "restricted-xml",
    "see-other-host",
    "system-shutdown",
    "undefined-condition",
    "unsupported-encoding",
    "unsupported-feature",
    "unsupported-stanza-type",
    "unsupported-version",
};

struct StanzaConditionInfo {
  std::string_view name;
  StanzaErrorType type;
};

constexpr std::array<StanzaConditionInfo, kStanzaErrorConditionCount> kStanzaConditions = {{
    {"bad-request", StanzaErrorType::kModify},
    {"conflict", StanzaErrorType::kCancel},
    {"feature-not-implemented", StanzaErrorType::kCancel},
    {"forbidden", StanzaErrorType::kAuth},
    {"gone", StanzaErrorType::kCancel},
    {"internal-server-error", StanzaErrorType::kCancel},
    {"item-not-found", StanzaErrorType::kCancel},
    {"jid-malformed", StanzaErrorType::kModify},
    {"not-acceptable", StanzaErrorType::kModify},
    {"not-allowed", StanzaErrorType::kCancel},
    {"not-authorized", StanzaErrorType::kAuth},
    {"policy-violation", StanzaErrorType::kModify},
    {"recipient-unavailable", StanzaErrorType::kWait},
    {"redirect", StanzaErrorType::kModify},
    {"registration-required", StanzaErrorType::kAuth},
    {"remote-server-not-found", StanzaErrorType::kCancel},
    {"remote-server-timeout", StanzaErrorType::kWait},
    {"resource-constraint", StanzaErrorType::kWait},
    {"service-unavailable", StanzaErrorType::kCancel},
    {"subscription-required", StanzaErrorType::kAuth},
    {"undefined-condition", StanzaErrorType::kModify},
    {"unexpected-request", StanzaErrorType::kWait},
}};

constexpr std::array<std::string_view, 5> kStanzaErrorTypeNames = {"auth", "cancel", "continue",
                                                                   "modify", "wait"};

absl::StatusCode CodeForStreamError(StreamErrorCondition condition) {
  switch (condition) {
    case StreamErrorCondition::kPolicyViolation:
    case StreamErrorCondition::kResourceConstraint:
      return absl::StatusCode::kResourceExhausted;
    case StreamErrorCondition::kNotAuthorized:
      return absl::StatusCode::kPermissionDenied;
    case StreamErrorCondition::kConnectionTimeout:
    case StreamErrorCondition::kRemoteConnectionFailed:
    case StreamErrorCondition::kSystemShutdown:
      return absl::StatusCode::kUnavailable;
    case StreamErrorCondition::kInternalServerError:
      return absl::StatusCode::kInternal;
    default:
      return absl::StatusCode::kInvalidArgument;
  }
}

std::optional<std::string> PayloadOf(const absl::Status& status, std::string_view url) {
  absl::optional<absl::Cord> payload = status.GetPayload(ToAbsl(url));
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

}  // namespace

std::string_view StreamErrorName(StreamErrorCondition condition) {
  return kStreamErrorNames[static_cast<size_t>(condition)];
}

std::optional<StreamErrorCondition> ParseStreamErrorCondition(std::string_view name) {
  for (size_t i = 0; i < kStreamErrorNames.size(); ++i) {
    if (kStreamErrorNames[i] == name) return static_cast<StreamErrorCondition>(i);
  }
  return std::nullopt;
}

std::string_view StanzaErrorTypeName(StanzaErrorType type) {
  return kStanzaErrorTypeNames[static_cast<size_t>(type)];
}

std::optional<StanzaErrorType> ParseStanzaErrorType(std::string_view name) {
  for (size_t i = 0; i < kStanzaErrorTypeNames.size(); ++i) {
    if (kStanzaErrorTypeNames[i] == name) return static_cast<StanzaErrorType>(i);
  }
  return std::nullopt;
}

std::string_view StanzaErrorName(StanzaErrorCondition condition) {
  return kStanzaConditions[static_cast<size_t>(condition)].name;
}

std::optional<StanzaErrorCondition> ParseStanzaErrorCondition(std::string_view name) {
  for (size_t i = 0; i < kStanzaConditions.size(); ++i) {
    if (kStanzaConditions[i].name == name) return static_cast<StanzaErrorCondition>(i);
  }
  return std::nullopt;
}

StanzaErrorType DefaultErrorType(StanzaErrorCondition condition) {
  return kStanzaConditions[static_cast<size_t>(condition)].type;
}

Element MakeStreamError(StreamErrorCondition condition, std::string_view text) {
  Element error(kNsStreams, "error");
  error.AddChild(kNsStreamErrors, StreamErrorName(condition));
  if (!text.empty()) error.AddChild(kNsStreamErrors, "text").SetText(text);
  return error;
}

Element MakeStanzaError(StanzaErrorCondition condition, std::string_view content_ns,
                        std::string_view text, std::optional<StanzaErrorType> type,
                        std::string_view condition_data) {
  Element error(content_ns, "error");
  error.SetAttr("type", StanzaErrorTypeName(type.value_or(DefaultErrorType(condition))));
  error.AddChild(kNsStanzaErrors, StanzaErrorName(condition)).SetText(condition_data);
  if (!text.empty()) error.AddChild(kNsStanzaErrors, "text").SetText(text);
  return error;
}

absl::StatusOr<Element> MakeStanzaErrorReply(const Element& stanza, StanzaErrorCondition condition,
                                             std::string_view text,
                                             std::optional<StanzaErrorType> type) {
  if (KindOf(stanza) == StanzaKind::kNone) {
    return absl::FailedPreconditionError("xmpp: error reply to something that is not a stanza");
  }
  if (StanzaType(stanza) == "error") {
    return absl::FailedPreconditionError(
        "xmpp: an error stanza is never answered (RFC 6120 8.3.1)");
  }
  Element reply(stanza.ns(), stanza.name());
  reply.SetAttr("type", "error");
  if (std::optional<std::string_view> id = stanza.Attr("id")) reply.SetAttr("id", *id);
  if (std::optional<std::string_view> from = stanza.Attr("from")) reply.SetAttr("to", *from);
  if (std::optional<std::string_view> to = stanza.Attr("to")) reply.SetAttr("from", *to);
  reply.AddChild(MakeStanzaError(condition, stanza.ns(), text, type));
  return reply;
}

std::optional<ReceivedStanzaError> ReadStanzaError(const Element& stanza) {
  const Element* error = stanza.FindChild(stanza.ns(), "error");
  if (error == nullptr) return std::nullopt;
  ReceivedStanzaError out;
  out.type = ParseStanzaErrorType(error->AttrOr("type", ""));
  for (const Element& child : error->children()) {
    if (child.ns() != kNsStanzaErrors) continue;
    if (child.name() == "text") {
      out.text = child.text();
    } else if (!out.condition) {
      out.condition = ParseStanzaErrorCondition(child.name());
    }
  }
  return out;
}

absl::Status StreamError(StreamErrorCondition condition, std::string_view message) {
  absl::Status status(CodeForStreamError(condition), ToAbsl(message));
  status.SetPayload(ToAbsl(kStreamErrorPayloadUrl), absl::Cord(ToAbsl(StreamErrorName(condition))));
  return status;
}

std::optional<StreamErrorCondition> StreamErrorOf(const absl::Status& status) {
  std::optional<std::string> name = PayloadOf(status, kStreamErrorPayloadUrl);
  if (!name) return std::nullopt;
  return ParseStreamErrorCondition(*name);
}

absl::Status StanzaError(StanzaErrorCondition condition, std::string_view message) {
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  if (condition == StanzaErrorCondition::kItemNotFound ||
      condition == StanzaErrorCondition::kRemoteServerNotFound) {
    code = absl::StatusCode::kNotFound;
  } else if (condition == StanzaErrorCondition::kServiceUnavailable ||
             condition == StanzaErrorCondition::kRecipientUnavailable) {
    code = absl::StatusCode::kUnavailable;
  } else if (condition == StanzaErrorCondition::kRemoteServerTimeout) {
    code = absl::StatusCode::kDeadlineExceeded;
  }
  absl::Status status(code, ToAbsl(message));
  status.SetPayload(ToAbsl(kStanzaErrorPayloadUrl), absl::Cord(ToAbsl(StanzaErrorName(condition))));
  return status;
}

std::optional<StanzaErrorCondition> StanzaErrorOf(const absl::Status& status) {
  std::optional<std::string> name = PayloadOf(status, kStanzaErrorPayloadUrl);
  if (!name) return std::nullopt;
  return ParseStanzaErrorCondition(*name);
}

}  // namespace causeway::xmpp
