#include "sip/lync/mras.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "sip/codec/uri.h"
#include "sip/lync/bodies_util.h"
#include "sip/lync/xml.h"
#include "sip/stack/registrar.h"

namespace causeway::sip::lync {
namespace {

using internal::ParseUint32;
using internal::TrimXmlSpace;

constexpr size_t kMax64 = 64;        // max64CharStringType
constexpr size_t kMax64k = 65536;    // max64kCharStringType
constexpr size_t kMaxUri = 1024;     // a SIP URI in to/from: generous, bounded
constexpr uint32_t kMaxDuration = 7 * 24 * 60;  // a week in minutes; larger asks are malformed

MrasParseError Malformed(std::string detail) {
  return MrasParseError{MrasReason::kRequestMalformed, std::move(detail), std::nullopt};
}

// The canonical AOR of a SIP URI in lower case (Lync compares user URIs without case, and the
// front end lower-cases the authenticated user), "" when it names no SIP user.
std::string AorOf(std::string_view text) {
  absl::StatusOr<Uri> uri = Uri::Parse(text);
  if (!uri.ok() || !uri->is_sip() || !uri->has_user()) return "";
  absl::StatusOr<std::string> aor = CanonicalAor(*uri);
  return aor.ok() ? absl::AsciiStrToLower(*aor) : "";
}

bool IsSipUri(std::string_view text) {
  if (text.empty() || text.size() > kMaxUri) return false;
  absl::StatusOr<Uri> uri = Uri::Parse(text);
  return uri.ok() && uri->is_sip();
}

std::optional<RelayLocation> ParseLocation(std::string_view text) {
  text = TrimXmlSpace(text);
  if (text == "intranet") return RelayLocation::kIntranet;
  if (text == "internet") return RelayLocation::kInternet;
  return std::nullopt;
}

// Elements of the mrasp namespace only: the schema's elements are all qualified.
bool IsMrasElement(const XmlElement& e, std::string_view name) {
  return e.ns() == kMrasNs && e.name() == name;
}

std::optional<MrasParseError> ParseCredentialsRequest(const XmlElement& e,
                                                      MrasCredentialsRequest* out) {
  std::optional<std::string_view> id = e.Attr("credentialsRequestID");
  if (!id || id->empty() || id->size() > kMax64) {
    return Malformed("credentialsRequest without a valid credentialsRequestID");
  }
  out->id = std::string(*id);
  // <xs:sequence> identity, location?, duration?
  const std::vector<XmlElement>& children = e.children();
  size_t i = 0;
  if (i >= children.size() || !IsMrasElement(children[i], "identity")) {
    return Malformed("credentialsRequest without identity");
  }
  std::string_view identity = TrimXmlSpace(children[i].text());
  if (identity.empty() || identity.size() > kMax64k || !children[i].children().empty()) {
    return Malformed("bad identity");
  }
  out->identity = std::string(identity);
  ++i;
  if (i < children.size() && IsMrasElement(children[i], "location")) {
    out->location = ParseLocation(children[i].text());
    if (!out->location || !children[i].children().empty()) return Malformed("bad location");
    ++i;
  }
  if (i < children.size() && IsMrasElement(children[i], "duration")) {
    std::optional<uint32_t> minutes = ParseUint32(children[i].text());
    if (!minutes || *minutes == 0 || *minutes > kMaxDuration || !children[i].children().empty()) {
      return Malformed("bad duration");
    }
    out->duration_minutes = minutes;
    ++i;
  }
  if (i != children.size()) {
    return Malformed(absl::StrCat("unexpected element in credentialsRequest: ",
                                  ToAbsl(children[i].name())));
  }
  return std::nullopt;
}

}  // namespace

std::string_view RelayLocationName(RelayLocation location) {
  return location == RelayLocation::kIntranet ? "intranet" : "internet";
}

std::string_view MrasReasonPhrase(MrasReason reason) {
  switch (reason) {
    case MrasReason::kOk: return "OK";
    case MrasReason::kRequestMalformed: return "Request Malformed";
    case MrasReason::kRequestTooLarge: return "Request Too Large";
    case MrasReason::kNotSupported: return "Not Supported";
    case MrasReason::kServerBusy: return "Server Busy";
    case MrasReason::kTimeOut: return "Time Out";
    case MrasReason::kForbidden: return "Forbidden";
    case MrasReason::kInternalServerError: return "Internal Server Error";
    case MrasReason::kOtherFailure: return "Other Failure";
    case MrasReason::kVersionMismatch: return "Version Mismatch";
  }
  return "Other Failure";
}

int MrasSipStatus(MrasReason reason) {
  switch (reason) {
    case MrasReason::kOk: return 200;
    case MrasReason::kRequestMalformed: return 400;
    case MrasReason::kRequestTooLarge: return 413;
    case MrasReason::kNotSupported: return 501;
    case MrasReason::kServerBusy: return 503;
    case MrasReason::kTimeOut: return 504;
    case MrasReason::kForbidden: return 403;
    case MrasReason::kInternalServerError: return 500;
    case MrasReason::kOtherFailure: return 500;
    case MrasReason::kVersionMismatch: return 400;
  }
  return 500;
}

std::optional<std::pair<uint32_t, uint32_t>> ParseMrasVersion(std::string_view version) {
  const size_t dot = version.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == version.size() || dot > 4 ||
      version.size() - dot - 1 > 4) {
    return std::nullopt;
  }
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const std::string_view major = version.substr(0, dot);
  const std::string_view minor = version.substr(dot + 1);
  if (!digits(major) || !digits(minor)) return std::nullopt;
  return std::make_pair(*ParseUint32(major), *ParseUint32(minor));
}

std::optional<MrasParseError> ParseMrasRequest(std::string_view body, MrasRequest* out) {
  *out = MrasRequest{};
  XmlLimits limits;
  limits.max_bytes = 64 * 1024;  // 100 credentialsRequests of a few hundred bytes fit easily
  limits.max_depth = 8;
  limits.max_elements = 1000;
  absl::StatusOr<XmlDocument> doc = ParseXml(body, limits);
  if (!doc.ok()) return Malformed(std::string(doc.status().message()));
  const XmlElement& root = doc->root();
  if (!IsMrasElement(root, "request")) {
    return Malformed(absl::StrCat("root is not mrasp request: {", ToAbsl(root.ns()), "}",
                                  ToAbsl(root.name())));
  }
  std::optional<std::string_view> request_id = root.Attr("requestID");
  std::optional<std::string_view> version = root.Attr("version");
  std::optional<std::string_view> to = root.Attr("to");
  std::optional<std::string_view> from = root.Attr("from");
  if (!request_id || request_id->empty() || request_id->size() > kMax64) {
    return Malformed("missing or bad requestID");
  }
  if (!version || !ParseMrasVersion(*version)) return Malformed("missing or bad version");
  if (!to || !IsSipUri(*to)) return Malformed("missing or bad to");
  if (!from || !IsSipUri(*from)) return Malformed("missing or bad from");
  const std::string_view route = root.AttrOr("route", "loadbalanced");
  if (route != "loadbalanced" && route != "directip") return Malformed("bad route");
  out->request_id = std::string(*request_id);
  out->version = std::string(*version);
  out->to = std::string(*to);
  out->from = std::string(*from);
  out->route = std::string(route);

  size_t count = 0;
  for (const XmlElement& child : root.children()) {
    if (!IsMrasElement(child, "credentialsRequest")) {
      return Malformed(absl::StrCat("unexpected element in request: ", ToAbsl(child.name())));
    }
    MrasCredentialsRequest request;
    if (std::optional<MrasParseError> error = ParseCredentialsRequest(child, &request)) {
      return error;
    }
    // Every one is checked (a malformed one anywhere makes the request malformed), only the
    // first 100 are kept.
    if (++count <= kMaxMrasCredentialsRequests) out->credentials.push_back(std::move(request));
  }
  if (count == 0) return Malformed("no credentialsRequest");
  if (count > kMaxMrasCredentialsRequests) {
    // MS-AVEDGEA 3.1.5.1.1: schema-valid but for maxOccurs is "Request Too Large", not malformed.
    return MrasParseError{MrasReason::kRequestTooLarge,
                          absl::StrCat(count, " credentialsRequests (at most ",
                                       kMaxMrasCredentialsRequests, ")"),
                          *out};
  }
  return std::nullopt;
}

std::string BuildMrasResponse(const MrasRequest* request, MrasReason reason,
                              std::span<const MrasCredentialsResponse> credentials,
                              std::string_view version) {
  XmlWriter w;
  w.Open("response").Attr("xmlns", kMrasNs);
  if (request != nullptr) w.Attr("requestID", request->request_id);
  if (version.empty()) version = request != nullptr ? request->version : kMrasServerVersion;
  w.Attr("version", version);
  w.Attr("serverVersion", kMrasServerVersion);
  if (request != nullptr) {
    w.Attr("to", request->to);
    w.Attr("from", request->from);
  }
  w.Attr("reasonPhrase", MrasReasonPhrase(reason));
  for (const MrasCredentialsResponse& c : credentials) {
    w.Open("credentialsResponse").Attr("credentialsRequestID", c.id);
    w.Open("credentials");
    w.Element("username", c.username);
    w.Element("password", c.password);
    w.Element("duration", absl::StrCat(std::max<uint32_t>(c.duration_minutes, 1)));
    if (!c.realm.empty()) w.Element("realm", c.realm);
    w.Close();
    w.Open("mediaRelayList");
    for (const MediaRelay& relay : c.relays) {
      w.Open("mediaRelay");
      w.Element("location", RelayLocationName(relay.location));
      w.Element("hostName", relay.host);
      if (relay.udp_port != 0) w.Element("udpPort", absl::StrCat(relay.udp_port));
      if (relay.tcp_port != 0) w.Element("tcpPort", absl::StrCat(relay.tcp_port));
      w.Close();
    }
    w.Close();
    w.Close();
  }
  return std::move(w).Finish();
}

MrasAnswer AnswerMras(std::string_view body, std::string_view user,
                      const MediaRelayAuthority& authority) {
  MrasAnswer answer;
  auto fail = [&answer](const MrasRequest* request, MrasReason reason, std::string detail,
                        std::string_view version = {}) {
    answer.reason = reason;
    answer.status = MrasSipStatus(reason);
    answer.body = BuildMrasResponse(request, reason, {}, version);
    answer.detail = std::move(detail);
    return answer;
  };

  MrasRequest request;
  if (std::optional<MrasParseError> error = ParseMrasRequest(body, &request)) {
    return fail(error->request ? &*error->request : nullptr, error->reason,
                std::move(error->detail));
  }
  const std::pair<uint32_t, uint32_t> version = *ParseMrasVersion(request.version);
  if (version.first < 1 || version.first > 2) {
    // MS-AVEDGEA 3.1.5.2.2: the answer carries the highest version we have below the client's.
    return fail(&request, MrasReason::kVersionMismatch,
                absl::StrCat("version ", request.version, " not supported"), kMrasServerVersion);
  }
  if (user.empty()) return fail(&request, MrasReason::kForbidden, "not signed in");
  const std::string self = absl::AsciiStrToLower(ToAbsl(user));
  if (AorOf(request.from) != self) {
    return fail(&request, MrasReason::kForbidden,
                absl::StrCat("from ", request.from, " is not the signed-in user ", self));
  }
  for (const MrasCredentialsRequest& c : request.credentials) {
    // The identity is opaque to the schema; when it names a SIP user, it must be the requester
    // (credentials are only ever issued for the signed-in user anyway).
    std::string identity = AorOf(c.identity);
    if (identity.empty() && absl::StrContains(c.identity, '@') &&
        !absl::StartsWithIgnoreCase(c.identity, "sip")) {
      identity = AorOf(absl::StrCat("sip:", c.identity));
    }
    if (!identity.empty() && identity != self) {
      return fail(&request, MrasReason::kForbidden,
                  absl::StrCat("identity ", c.identity, " is not the signed-in user"));
    }
  }
  if (!authority) return fail(&request, MrasReason::kServerBusy, "no media relay configured");

  std::vector<MrasCredentialsResponse> responses;
  responses.reserve(request.credentials.size());
  for (const MrasCredentialsRequest& c : request.credentials) {
    MediaRelayRequest ask;
    ask.user = self;
    ask.location = c.location;
    if (c.duration_minutes) ask.duration = std::chrono::minutes(*c.duration_minutes);
    absl::StatusOr<MediaRelayGrant> grant = authority(ask);
    if (!grant.ok()) {
      const bool off = absl::IsUnavailable(grant.status()) ||
                       absl::IsFailedPrecondition(grant.status());
      return fail(&request, off ? MrasReason::kServerBusy : MrasReason::kInternalServerError,
                  std::string(grant.status().message()));
    }
    if (grant->relays.empty()) {
      return fail(&request, MrasReason::kServerBusy, "the media relay has no address to offer");
    }
    MrasCredentialsResponse r;
    r.id = c.id;
    r.username = std::move(grant->username);
    r.password = std::move(grant->password);
    const int64_t minutes = grant->duration.count();
    r.duration_minutes =
        static_cast<uint32_t>(std::clamp<int64_t>(minutes, 1, int64_t{kMaxDuration}));
    r.realm = std::move(grant->realm);
    r.relays = std::move(grant->relays);
    responses.push_back(std::move(r));
  }
  answer.reason = MrasReason::kOk;
  answer.status = 200;
  answer.body = BuildMrasResponse(&request, MrasReason::kOk, responses);
  return answer;
}

}  // namespace causeway::sip::lync
