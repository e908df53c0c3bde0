#pragma once
// SIP addresses <-> XMPP addresses (JIDs), both as core Address values. Pure functions.
//
// sip:user@domain becomes the JID user@domain: the user part is escaped per XEP-0106 (JID
// Escaping) into a JID node, and the domain goes through a DomainMap:
//
//  - Local domains are the ones this gateway serves. Each is one configured pair
//    {sip_domain, xmpp_domain}: users of sip:alice@corp.example are reachable as
//    alice@xmpp.corp.example and back. The common case names the same domain on both sides
//    ({"lync.test", "lync.test"}): an identity mapping, still listed explicitly.
//  - Remote domains are everyone else's. Lync federation addresses a contact of a federated
//    XMPP domain as sip:bob@xmpp.test, so a remote domain passes through unchanged in both
//    directions. Which remote domains pass is the federation policy: open federation (any domain
//    that is not local) or an allow list, as Lync Server's federation settings are.
//
// A domain that is neither local nor allowed remote is NotFound, and so is a blocked domain: the
// block list names remote domains refused in both directions even under open federation (an
// operator's answer to an abusive server), compared exactly (a block of example.com does not
// block chat.example.com). A remote domain may not be the
// name of a local domain on either side: bob@corp.example arriving from XMPP while corp.example is
// a local SIP domain mapped to another XMPP name would otherwise alias a local SIP user.
//
// Resources: a SIP GRUU / +sip.instance identifies one Lync endpoint and means nothing to an XMPP
// server, and an XMPP resource is not a GRUU. Both functions return BARE addresses: the SIP side
// forks to the user's endpoints, the XMPP side routes by its own rules, and the adapter that
// speaks for a Lync user on XMPP chooses the resource it sends from.
//
// Telephone numbers never cross: a kPstn address (tel: URI) or a user part in the global-number
// form of RFC 3966 ("+" digits and visual separators, e.g. sip:+15551234@lync.test;user=phone) is
// refused in both directions, so a JID never exposes a phone number and an XMPP sender cannot
// reach the PSTN routing of the SIP side.
//
// Case: the JID node is ASCII-lower-cased (the UsernameCaseMapped profile of RFC 7613 folds case,
// so servers would do it anyway, and the gateway compares JIDs in canonical form); SIP user parts
// are otherwise kept as they are. Non-ASCII case folding and full PRECIS preparation are left to
// the XMPP stack.

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/events.h"

namespace causeway::mappings {

// ---- XEP-0106 JID escaping ----
//
// Escaping turns each of the nine characters a JID node cannot hold (space " & ' / : < > @) into
// "\" and two lower-case hex digits, and escapes a backslash as \5c only where it starts one of
// the ten escape sequences (\20 \22 \26 \27 \2f \3a \3c \3e \40 \5c), so that unescaping gives
// the original back (XEP-0106 §4.1 rule 7, §4.2 step 3). Every other backslash, partial sequence
// (\2p) or sequence of another character (\41) is left alone (§4.3 "Exceptions").
//
// XEP-0106's examples table (§5.1) disagrees with §4.3 for inputs 9-11: it escapes the backslash of
// "c:\net" and "c:\cool" although "\n" and "\c" start no escape sequence. We follow the normative
// rules: "c:\net" escapes to "c\3a\net". Both forms unescape to the same "c:\net", so JIDs that
// other software escaped the table's way still map to the right SIP user.

// InvalidArgument when the result would start or end with \20 (a node may not, XEP-0106 §3.2):
// a user part with leading or trailing spaces has no JID.
absl::StatusOr<std::string> EscapeJidNode(std::string_view unescaped);
// Replaces exactly the ten sequences (lower-case hex only: "CASE IS SIGNIFICANT") and nothing else.
std::string UnescapeJidNode(std::string_view escaped);

// ---- Domains ----

struct DomainPair {
  std::string sip_domain;
  std::string xmpp_domain;
};

struct DomainMapConfig {
  std::vector<DomainPair> local;  // the domains this gateway serves
  bool open_federation = false;   // true: every non-local domain is a reachable remote domain
  std::vector<std::string> federated_domains;  // with open_federation false: the allowed remotes
  std::vector<std::string> blocked_domains;    // never reachable, whatever the federation policy
};

class DomainMap {
 public:
  // Names compare case-insensitively and are stored lower-case. InvalidArgument for an empty or
  // malformed name, a sip or xmpp domain listed twice, or a federated or blocked domain that is
  // local. A domain both federated and blocked is blocked: the block list overrides.
  static absl::StatusOr<DomainMap> Create(const DomainMapConfig& config);

  // The domain to use on the other side, NotFound when it is neither local nor an allowed remote.
  absl::StatusOr<std::string> XmppDomainFor(std::string_view sip_domain) const;
  absl::StatusOr<std::string> SipDomainFor(std::string_view xmpp_domain) const;

  bool IsLocalSipDomain(std::string_view domain) const;
  bool IsLocalXmppDomain(std::string_view domain) const;

 private:
  bool IsAllowedRemote(std::string_view lower_domain) const;

  absl::flat_hash_map<std::string, std::string> sip_to_xmpp_;
  absl::flat_hash_map<std::string, std::string> xmpp_to_sip_;
  absl::flat_hash_set<std::string> federated_;
  absl::flat_hash_set<std::string> blocked_;
  bool open_federation_ = false;
};

// ---- Addresses ----

// {kSip, user, domain, any resource} -> {kXmpp, escaped lower-case node, mapped domain, ""}.
// InvalidArgument for a non-SIP address (kPstn included), an empty user, a telephone-number user,
// control characters, or a user that cannot be a node (leading/trailing space, longer than 1023
// bytes escaped); NotFound for a domain the DomainMap does not reach.
absl::StatusOr<Address> XmppAddressFromSip(const Address& sip, const DomainMap& domains);

// {kXmpp, node, domain, any resource} -> {kSip, unescaped node, mapped domain, ""}.
// InvalidArgument for a non-XMPP address, a domain-only JID, or a node that unescapes to something
// that is not a SIP user part we accept (control characters, leading/trailing white space, a
// telephone number); NotFound for a domain the DomainMap does not reach.
absl::StatusOr<Address> SipAddressFromXmpp(const Address& xmpp, const DomainMap& domains);

}  // namespace causeway::mappings
