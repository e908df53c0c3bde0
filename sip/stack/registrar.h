#pragma once
// RFC 3261 §10.3 registrar: turns a REGISTER into location-store updates and the response to send.
// No I/O: the caller (SipServer) passes the request in and sends the returned response through its
// server transaction.
//
// Served domains: a REGISTER whose Request-URI / To host is not one of `domains` is refused with
// 404. An EMPTY domain list accepts every domain: convenient for a lab, wrong for a deployment
// (any client could create bindings for any AOR) - the daemon's config should always set it.
//
// Authentication lives outside the registrar: it asks a RegisterAuthorizer (NTLM/Kerberos
// per MS-SIPAE or Digest come later). Without one, every REGISTER that passes the checks below is
// accepted; that is stated loudly in the constructor's log line.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "sip/codec/message.h"
#include "sip/codec/uri.h"
#include "sip/stack/location_store.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

// The set of domains this server is responsible for (registrar and proxy §16.5 "our domain").
// Hosts compare case-insensitively. Empty = every domain is ours (see the note above).
class ServedDomains {
 public:
  ServedDomains() = default;
  explicit ServedDomains(std::vector<std::string> domains);
  bool Serves(std::string_view host) const;
  bool accepts_any() const { return domains_.empty(); }
  const std::vector<std::string>& domains() const { return domains_; }

 private:
  std::vector<std::string> domains_;  // lower-case
};

// The address-of-record key of a sip/sips URI (RFC 3261 §10.3 step 5): "sip:user@host[:port]" with
// every URI parameter and header removed, escapes resolved in the user part, host lower-cased, and
// sips folded into sip (one AOR per user whichever scheme reached us). InvalidArgument for tel and
// other schemes, which have no bindings.
absl::StatusOr<std::string> CanonicalAor(const Uri& uri);

// The key that decides whether two Contact URIs name the same binding: scheme, unescaped user,
// lower-case host, port, and the parameters RFC 3261 §19.1.4 says must match when present in
// either URI (transport, user, method, ttl, maddr). Parameters present in one URI only are ignored
// by §19.1.4 and here; conflicting values of other parameters (which §19.1.4 would treat as
// different URIs) are ignored too - a documented simplification that keeps the key hashable.
std::string ContactKey(const Uri& uri);

// Hook for REGISTER authentication (MS-SIPAE NTLM/Kerberos, Digest). The registrar consults it
// after the domain/AOR checks and before touching the location store.
class RegisterAuthorizer {
 public:
  virtual ~RegisterAuthorizer() = default;
  // OK: the request may modify the bindings of `aor`. Otherwise the registrar answers with
  // SipCodeOf(status) (401/403/407; 403 when the status carries no code), adding
  // `response_headers` (e.g. WWW-Authenticate challenges) to the response.
  virtual absl::Status Authorize(const SipMessage& request, std::string_view aor,
                                 const ReceiveInfo& info,
                                 std::vector<std::pair<std::string, std::string>>*
                                     response_headers) = 0;
};

struct RegistrarOptions {
  std::vector<std::string> domains;  // served domains; empty = any (see above)
  std::chrono::seconds default_expires{3600};
  std::chrono::seconds min_expires{60};     // shorter (non-zero) requests get 423 + Min-Expires
  std::chrono::seconds max_expires{86400};  // longer requests are shortened to this
  // Called on every 200 before it is returned: a dialect adds its headers (the Lync front end:
  // Supported, Allow-Events, ms-keep-alive per MS-SIPREGE).
  std::function<void(const SipMessage& request, SipMessage& response)> decorate_accepted;
  // Wall clock for the Date header of 200 responses (tests pin it).
  std::function<absl::Time()> wall_clock = [] { return absl::Now(); };
};

struct RegistrarStats {
  uint64_t accepted = 0;  // 200 OK sent (incl. queries)
  uint64_t rejected = 0;  // any other final response
  uint64_t removed_all = 0;  // "Contact: *" requests accepted
};

class Registrar {
 public:
  // `authorizer` may be null (no authentication, see above); both must outlive the registrar.
  Registrar(LocationStore& store, const Clock& clock, RegistrarOptions options,
            RegisterAuthorizer* authorizer = nullptr);

  // Processes one REGISTER and returns the final response to send (never a provisional one).
  SipMessage Handle(const SipMessage& request, const ReceiveInfo& info);

  const ServedDomains& domains() const { return domains_; }
  const RegistrarStats& stats() const { return stats_; }

 private:
  SipMessage Reject(const SipMessage& request, int code, std::string_view reason = {});

  LocationStore& store_;
  const Clock& clock_;
  RegistrarOptions options_;
  ServedDomains domains_;
  RegisterAuthorizer* authorizer_;
  RegistrarStats stats_;
};

// GRUUs name one instance (device) of an address-of-record. RFC 5627 §5.4 public GRUU:
// "<aor>;gr=urn:uuid:..." (`instance_id` as stored, "<urn:uuid:...>"). Lync (MS-SIPREGE) form,
// built from the endpoint id: "<aor>;opaque=user:epid:<epid>;gruu".
std::string PublicGruu(std::string_view aor, std::string_view instance_id);
std::string LyncGruu(std::string_view aor, std::string_view epid);

// The instance a GRUU Request-URI names: exactly one of the two is set.
struct GruuTarget {
  std::string instance_id;  // "<urn:uuid:...>", from `gr=`
  std::string epid;         // from `opaque=user:epid:...;gruu`
};
std::optional<GruuTarget> GruuOf(const Uri& uri);
bool BindingMatches(const Binding& binding, const GruuTarget& gruu);

// A fresh random token for To tags (and other local identifiers): 16 hex digits.
std::string NewLocalTag();

}  // namespace causeway::sip
