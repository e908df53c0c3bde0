#include "sip/lync/diagnostics.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::sip::lync {
namespace {

// The errors this server generates. ErrorId and reason come from the MS-OCER table named in the
// comment where it has a row for the condition ("MS-OCER 8.x": the tables for releases before
// the current one; the current-release tables in section 7 keep these ids and texts; the front
// end's table is "ErrorIds 4000-4999"). Where MS-OCER has no row for the condition we use 4000,
// the front end's default ErrorId ("User services default."), with our own reason, so an operator
// still reads what failed.
constexpr std::array kTable = {
    // Front end 4001 "XML parse failure.": a body we could not parse.
    Diagnostic{400, 4001, "XML parse failure.", false},
    // Front end 4004, an ms-diagnostics-public row: a request not signed in as the From user.
    Diagnostic{403, 4004, "Credentials provided are not authorized to act as specified from URI.",
               true},
    kDiagNoSuchUser,  // 404, front end 4005
    // No row: method not allowed here.
    Diagnostic{405, 4000, "Method not allowed.", false},
    // MS-OCER 8.6 OCS server API and applications 5001.
    Diagnostic{408, 5001, "Request timed out.", false},
    // No row: a SERVICE publish or contact change with an out-of-date version (MS-PRES 409).
    Diagnostic{409, 4000, "Publication version is out of date.", false},
    // Front end 4008 ("Input data too large - ..."): message or body over our limits.
    Diagnostic{413, 4008, "Input data too large.", false},
    // Front end 4013.
    Diagnostic{415, 4013, "Content-type does not match the expected content-type.", false},
    // No row: Require names an extension we do not support.
    Diagnostic{420, 4000, "Bad extension.", false},
    // No row: registration interval too brief.
    Diagnostic{423, 4000, "Interval too brief.", false},
    kDiagUserOffline,  // 480, SipStack 1007
    // No row: no dialog or transaction matches.
    Diagnostic{481, 4000, "Dialog or transaction does not exist.", false},
    // No row: loop detected by the proxy.
    Diagnostic{482, 4000, "Loop detected.", false},
    // No row: Max-Forwards reached zero.
    Diagnostic{483, 4000, "Too many hops.", false},
    // MS-OCER 8.6, 5002.
    Diagnostic{487, 5002, "Request was cancelled.", false},
    // No row: SUBSCRIBE for an event package we do not serve.
    Diagnostic{489, 4000, "Event package not supported.", false},
    // MS-OCER 8.6, 5003.
    Diagnostic{500, 5003, "Internal processing failure.", false},
    // No row.
    Diagnostic{501, 4000, "Method not implemented.", false},
    // No row (MS-OCER's "Server overloaded." row, 17000, belongs to the client version filter).
    Diagnostic{503, 4000, "Server overloaded.", false},
    // MS-OCER 8.2 SipStack 1005: no next hop answered for the destination domain.
    Diagnostic{504, 1005, "Cannot route to destination domain.", false},
    // Front end 4008 again: a header line or message the parser refuses as too large.
    Diagnostic{513, 4008, "Input data too large.", false},
};

bool IsQuotable(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return c != '"' && c != '\\' && u >= 0x20 && u != 0x7f;
}

void AppendQuoted(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    if (IsQuotable(c)) out.push_back(c);
  }
  out.push_back('"');
}

bool IsAttributeNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// The end of the header section: the index of the "\r\n\r\n", or npos.
size_t HeaderEnd(std::string_view bytes) { return bytes.find("\r\n\r\n"); }

bool StartsWithNoCase(std::string_view text, size_t at, std::string_view prefix) {
  return at <= text.size() && text.size() - at >= prefix.size() &&
         absl::EqualsIgnoreCase(ToAbsl(text.substr(at, prefix.size())), ToAbsl(prefix));
}

}  // namespace

std::span<const Diagnostic> DiagnosticTable() { return kTable; }

std::optional<Diagnostic> DiagnosticForStatus(int status) {
  if (status < 400 || status > 699 || status == 401 || status == 407) return std::nullopt;
  for (const Diagnostic& d : kTable) {
    if (d.status == status) return d;
  }
  Diagnostic relayed = kDiagNotFromPreviousHop;
  relayed.status = status;
  return relayed;
}

std::string FormatDiagnostic(
    int error_id, std::string_view reason, std::string_view source,
    std::span<const std::pair<std::string_view, std::string_view>> attributes) {
  std::string out = absl::StrCat(error_id, ";reason=");
  AppendQuoted(out, reason);
  out.append(";source=");
  AppendQuoted(out, source);
  for (const auto& [name, value] : attributes) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsAttributeNameChar)) continue;
    out.push_back(';');
    out.append(name);
    out.push_back('=');
    AppendQuoted(out, value);
  }
  return out;
}

bool AddDiagnosticIfMissing(SipMessage& response, std::string_view source) {
  if (!response.is_response()) return false;
  std::optional<Diagnostic> d = DiagnosticForStatus(response.status_code());
  if (!d) return false;
  if (response.FindHeader(kMsDiagnostics) != nullptr ||
      response.FindHeader(kMsDiagnosticsPublic) != nullptr) {
    return false;
  }
  return response
      .AppendHeader(d->is_public ? kMsDiagnosticsPublic : kMsDiagnostics,
                    FormatDiagnostic(d->error_id, d->reason, source))
      .ok();
}

size_t StripDiagnostics(SipMessage& message) {
  return message.RemoveHeaders(kMsDiagnostics) + message.RemoveHeaders(kMsDiagnosticsPublic);
}

std::optional<int> ResponseStatus(std::string_view bytes) {
  // "SIP/2.0 NNN " — the version compared case-insensitively (RFC 3261 §7.1).
  if (bytes.size() < 12 || !StartsWithNoCase(bytes, 0, "SIP/2.0 ")) return std::nullopt;
  int code = 0;
  for (size_t i = 8; i < 11; ++i) {
    if (bytes[i] < '0' || bytes[i] > '9') return std::nullopt;
    code = code * 10 + (bytes[i] - '0');
  }
  if (bytes[11] != ' ' || code < 100) return std::nullopt;
  return code;
}

bool HasDiagnosticHeader(std::string_view bytes) {
  const size_t end = HeaderEnd(bytes);
  const std::string_view headers = end == std::string_view::npos ? bytes : bytes.substr(0, end + 2);
  // Every header line starts right after a '\n'; the start line is never a header.
  for (size_t nl = headers.find('\n'); nl != std::string_view::npos;
       nl = headers.find('\n', nl + 1)) {
    if (!StartsWithNoCase(headers, nl + 1, kMsDiagnostics)) continue;
    // "ms-diagnostics" or "ms-diagnostics-public", then optional blanks and the colon.
    size_t at = nl + 1 + kMsDiagnostics.size();
    if (StartsWithNoCase(headers, at, "-public")) at += 7;
    while (at < headers.size() && (headers[at] == ' ' || headers[at] == '\t')) ++at;
    if (at < headers.size() && headers[at] == ':') return true;
  }
  return false;
}

bool IsServedDomain(std::string_view host, std::span<const std::string> domains) {
  if (domains.empty()) return true;
  for (const std::string& d : domains) {
    if (absl::EqualsIgnoreCase(ToAbsl(d), ToAbsl(host))) return true;
  }
  return false;
}

bool LeavesOrganisation(bool to_signed_in_client, std::string_view from_host,
                        std::span<const std::string> domains) {
  return !to_signed_in_client && !IsServedDomain(from_host, domains);
}

bool DiagnosticsFilter::OnResponse(int status, bool to_signed_in_client, std::string& bytes) {
  if (to_signed_in_client) {
    if (status < 400 || HasDiagnosticHeader(bytes)) return false;
    std::optional<Diagnostic> d = DiagnosticForStatus(status);
    const size_t end = HeaderEnd(bytes);
    if (!d || end == std::string::npos) return false;
    // Inserted as the last header line: no re-serialization, the body and its length stay.
    bytes.insert(end + 2,
                 absl::StrCat(ToAbsl(d->is_public ? kMsDiagnosticsPublic : kMsDiagnostics), ": ",
                              FormatDiagnostic(d->error_id, d->reason, options_.source), "\r\n"));
    ++stats_.added;
    return true;
  }
  if (!HasDiagnosticHeader(bytes)) return false;
  // Rare: a response with a diagnostic for a peer that is not a signed-in client. Parse it to
  // learn whose request it answers. Our own serialization: limits only need to fit it.
  ParseLimits limits;
  limits.max_message_bytes = std::max(limits.max_message_bytes, bytes.size());
  limits.max_headers = std::max(limits.max_headers, bytes.size());
  limits.max_header_line = std::max(limits.max_header_line, bytes.size());
  absl::StatusOr<SipMessage> message = SipMessage::Parse(bytes, limits);
  if (!message.ok()) return false;
  if (!LeavesOrganisation(false, message->from().uri.host(), options_.domains)) return false;
  if (StripDiagnostics(*message) == 0) return false;
  bytes = message->Serialize();
  ++stats_.stripped;
  return true;
}

}  // namespace causeway::sip::lync
