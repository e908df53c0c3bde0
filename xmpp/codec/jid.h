#pragma once
// JIDs (RFC 7622): [ localpart "@" ] domainpart [ "/" resourcepart ].
//
// Each part is prepared and compared in the form RFC 7622 §3.2-§3.4 prescribes, so two JIDs
// that name the same entity are equal (byte-wise) and hash alike:
//  - localpart: the PRECIS UsernameCaseMapped profile (RFC 8265 §3.3 over the IdentifierClass of
//    RFC 8264): fullwidth/halfwidth characters to their decomposition, Unicode toLowerCase,
//    NFC, the bidi rule (RFC 5893) when it holds right-to-left characters, then every code
//    point must be valid in the IdentifierClass (contextual rules of RFC 5892 Appendix A
//    included); RFC 7622 §3.3.1 also forbids " & ' / : < > @ (space is not in the class);
//  - domainpart: one trailing dot stripped first (§3.2); an IPv4 address or bracketed IPv6
//    literal is kept (hex lower-cased); otherwise a hostname whose ASCII labels are letters,
//    digits, '-' and '_'; internationalized names go through IDNA2008 with the UTS #46
//    non-transitional mapping (libidn2) and are stored as U-labels (§3.2.1: A-labels are
//    converted), lower-case, so "xn--4ca0bs.example" and "ÄÖÜ.example" are both "äöü.example";
//    DomainpartToAscii() gives the A-label form DNS, SNI and certificate names need;
//  - resourcepart: the OpaqueString profile (RFC 8265 §4.2 over the FreeformClass): non-ASCII
//    spaces to U+0020, NFC, every code point valid in the FreeformClass; case and spaces kept
//    (also leading ones: RFC 7622 §3.5.2 lists "juliet@example.com/ foo" as invalid, but no
//    rule of the profile forbids it, and other PRECIS implementations accept it).
// RFC 8264 §7: the mapping rules are re-applied until the result is stable (at most 3 more
// passes, else the part is refused), so Parse(ToString()) always gives back the same JID.
// Each prepared part is 1..1023 bytes of UTF-8 (§3.1, counted after mapping); input with a
// control character or ill-formed UTF-8 is refused before any mapping.
//
// The all-ASCII parts that make up nearly all traffic take a byte-wise path that needs no
// Unicode tables and allocates no more than the three part strings; ICU (normalization, case
// mapping, character properties) and libidn2 run only for parts holding non-ASCII characters
// or an "xn--" label. Unicode character data is ICU's (Unicode 15 on Debian 12), IDNA tables
// libidn2's. Internationalized domainparts are also bound by DNS limits (63-byte A-label
// labels, 253 bytes in all); ASCII ones only by the 1023 bytes.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace causeway::xmpp {

inline constexpr size_t kMaxJidPartBytes = 1023;

// The A-label form (RFC 5890, "xn--...") of a prepared domainpart, for DNS queries, TLS SNI and
// certificate name matching; an ASCII domainpart comes back unchanged. InvalidArgument when
// `domainpart` is not one (only happens for strings that did not come out of a Jid).
absl::StatusOr<std::string> DomainpartToAscii(std::string_view domainpart);

class Jid {
 public:
  Jid() = default;

  // InvalidArgument carrying the stanza condition jid-malformed (errors.h StanzaErrorOf).
  static absl::StatusOr<Jid> Parse(std::string_view text);
  // From parts; `node` and `resource` may be empty (absent).
  static absl::StatusOr<Jid> Make(std::string_view node, std::string_view domain,
                                  std::string_view resource = {});

  const std::string& node() const { return node_; }
  const std::string& domain() const { return domain_; }
  const std::string& resource() const { return resource_; }
  bool empty() const { return domain_.empty(); }
  bool is_bare() const { return resource_.empty(); }

  Jid Bare() const;                // without the resource
  std::string ToString() const;    // node@domain/resource, absent parts left out
  std::string BareString() const;  // node@domain

  friend bool operator==(const Jid&, const Jid&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Jid& jid) {
    return H::combine(std::move(h), jid.node_, jid.domain_, jid.resource_);
  }

 private:
  std::string node_;
  std::string domain_;
  std::string resource_;
};

}  // namespace causeway::xmpp
