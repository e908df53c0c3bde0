#pragma once
// ms-diagnostics (MS-OCER): the diagnostic header a Lync server puts on the error responses it
// generates, and its removal from responses that leave the organisation (MS-OCSPROT 2.9.1.4: the
// header "can contain private or sensitive enterprise information").
//
// Header syntax (Office Communications Server documentation of Ms-Diagnostics):
//   ms-diagnostics: <ErrorId>;reason="<text>";source="<server fqdn>"[;<attr>="<value>"]*
// ms-diagnostics-public has the same syntax and carries the ErrorIds MS-OCER marks as public.
// Clients read the reason text: pidgin-sipe shows reason="..." of ms-diagnostics (404, 503, call
// and conference errors) and of ms-diagnostics-public (403 to REGISTER).
//
// The ErrorId ranges (MS-OCER): 1000-1999 SIP stack, 2000-2999 presence, 4000-4999 front end
// (user services), 5000-5999 server API and applications, 17000-17999 client version filter.
//
// Everything here works on bytes or on a parsed message and keeps no state but its options and
// counters, so a worker can call it on every outgoing message: DiagnosticsFilter::OnOutgoing costs
// a few byte compares for a request.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sip/codec/message.h"

namespace causeway::sip::lync {

inline constexpr std::string_view kMsDiagnostics = "ms-diagnostics";
inline constexpr std::string_view kMsDiagnosticsPublic = "ms-diagnostics-public";

// One row of the table of errors this server generates.
struct Diagnostic {
  int status = 0;    // the SIP status code it goes with
  int error_id = 0;  // MS-OCER ErrorId
  std::string_view reason;
  bool is_public = false;  // MS-OCER lists it as ms-diagnostics-public
};

// Rows named for code that generates a specific condition (the table has them too).
// Front end (MS-OCER 4000-4999) 4005.
inline constexpr Diagnostic kDiagNoSuchUser{
    404, 4005, "Destination URI either not enabled for SIP or does not exist.", false};
// MS-OCER 8.2 SipStack 1007: a user of ours without a registered endpoint.
inline constexpr Diagnostic kDiagUserOffline{480, 1007, "Temporarily cannot route.", false};
// MS-OCER 8.16 protocol client version filter 17002.
inline constexpr Diagnostic kDiagClientVersionBlocked{403, 17002,
                                                      "Invalid protocol client version.", false};
// MS-OCER 8.2 SipStack 1011: an error relayed from a hop that gave no diagnostic.
inline constexpr Diagnostic kDiagNotFromPreviousHop{
    0, 1011, "ms-diagnostics header not provided by previous hop.", false};

// Every row, by status code (one per code). See diagnostics.cc for the MS-OCER source of each.
std::span<const Diagnostic> DiagnosticTable();

// The diagnostic for an error response with `status`; nullopt below 400, above 699 and for the
// authentication challenges 401 and 407 (steps of a handshake, not failures). A status without a
// row gets kDiagNotFromPreviousHop: this server generates the codes in the table, so others were
// relayed from a UA or a server that gave none.
std::optional<Diagnostic> DiagnosticForStatus(int status);

// The header value: `<id>;reason="<reason>";source="<source>"` plus `;name="value"` per extra
// attribute (names that are not tokens are skipped). Quotes, backslashes and control characters
// are dropped from every quoted text, so the value always parses (pidgin-sipe cuts the reason at
// the first quote).
std::string FormatDiagnostic(
    int error_id, std::string_view reason, std::string_view source,
    std::span<const std::pair<std::string_view, std::string_view>> attributes = {});

// Adds the diagnostic of the response's status when it has neither ms-diagnostics nor
// ms-diagnostics-public. Returns true when a header was added (false for requests, < 400, 401,
// 407 and responses that already carry one).
bool AddDiagnosticIfMissing(SipMessage& response, std::string_view source);

// Removes every ms-diagnostics and ms-diagnostics-public line; returns how many.
size_t StripDiagnostics(SipMessage& message);

// --- byte-level helpers (no parsing) ---

// The status code of a serialized response ("SIP/2.0 404 ..."), nullopt for a request or garbage.
std::optional<int> ResponseStatus(std::string_view bytes);

// True when a header line of `bytes` (before the blank line) is ms-diagnostics or
// ms-diagnostics-public, names compared case-insensitively.
bool HasDiagnosticHeader(std::string_view bytes);

// --- the organisation's edge ---

// `host` is one of `domains` (case-insensitive). An empty list serves every domain (the
// development default of sip.domains), so nothing is foreign then.
bool IsServedDomain(std::string_view host, std::span<const std::string> domains);

// A response leaves the organisation when it goes to a peer that is not one of our signed-in
// clients and the request it answers did not come from a served domain (its From host; a
// response carries the request's From): federation partners and other networks.
bool LeavesOrganisation(bool to_signed_in_client, std::string_view from_host,
                        std::span<const std::string> domains);

struct DiagnosticsFilterOptions {
  std::string source;                // our server name (lync.server_name / certificate name)
  std::vector<std::string> domains;  // served domains; empty = every domain
};

struct DiagnosticsFilterStats {
  uint64_t added = 0;     // diagnostics added to errors for signed-in clients
  uint64_t stripped = 0;  // responses that lost their diagnostics at the edge
};

// The outgoing hook of a worker: one call per serialized message, before the MS-SIPAE signature
// (the signature covers the final bytes, so it is computed last).
class DiagnosticsFilter {
 public:
  explicit DiagnosticsFilter(DiagnosticsFilterOptions options) : options_(std::move(options)) {}

  // `bytes` is one serialized message about to be sent; `to_signed_in_client()` says whether its
  // destination connection has an MS-SIPAE association (asked for responses only, so a request
  // costs a few byte compares). An error response (>= 400) for a signed-in client without a
  // diagnostic gets one; a response leaving the organisation loses any. Returns true when
  // `bytes` changed.
  template <typename ToSignedInClient>
  bool OnOutgoing(std::string& bytes, ToSignedInClient&& to_signed_in_client) {
    const std::optional<int> status = ResponseStatus(bytes);
    if (!status) return false;  // a request
    return OnResponse(*status, to_signed_in_client(), bytes);
  }

  // The same for a serialized response whose status and destination are known.
  bool OnResponse(int status, bool to_signed_in_client, std::string& bytes);

  const DiagnosticsFilterOptions& options() const { return options_; }
  const DiagnosticsFilterStats& stats() const { return stats_; }

 private:
  DiagnosticsFilterOptions options_;
  DiagnosticsFilterStats stats_;
};

}  // namespace causeway::sip::lync
