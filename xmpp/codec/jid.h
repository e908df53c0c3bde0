#pragma once
// JIDs (RFC 7622): [ localpart "@" ] domainpart [ "/" resourcepart ].
//
// What is checked and normalized:
//  - each present part is 1..1023 bytes of well-formed UTF-8 without control characters;
//  - the localpart has none of the characters RFC 7622 §3.3.1 forbids: " & ' / : < > @ and space;
//  - the domainpart is a hostname (labels of letters, digits, '-', '_' and non-ASCII, no empty
//    label), an IPv4 address or a bracketed IPv6 literal; one trailing dot is stripped (§3.2);
//  - the domainpart and the localpart are lower-cased for ASCII letters only.
// Not implemented: the PRECIS profiles (UsernameCaseMapped for the localpart, OpaqueString for
// the resourcepart, RFC 8265) and IDNA2008 for the domainpart. Non-ASCII parts pass through
// unchanged, so two JIDs that differ only in non-ASCII case or normalization compare unequal.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace causeway::xmpp {

inline constexpr size_t kMaxJidPartBytes = 1023;

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
