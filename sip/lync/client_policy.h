#pragma once
// Client version policy (MS-OCSPROT 2.6.1): the server checks the User-Agent of a sign-in
// (REGISTER) and refuses clients below the version an administrator requires. Modelled on Lync
// Server's client version policy rules (New-CsClientVersionPolicyRule: UserAgent, Major/Minor
// Version, BuildNumber, QfeNumber, CompareOp EQL/NEQ/GTR/GEQ/LSS/LEQ, Action Allow/Block; the
// rules are checked in order and the first that matches decides).
//
// Rule syntax (config key lync.blocked_clients, one string per rule):
//
//   rule    = [action SP] product ["/" [op] version]
//   action  = "block" / "allow"              ; default block
//   product = a User-Agent product token, case-insensitive (UCCAPI, OC, Sipe, ...) or "*"
//   op      = "<" / "<=" / "=" / "!=" / ">=" / ">"   ; default "<" (block below a version)
//   version = 1 to 4 numbers separated by dots (major.minor.build.qfe, each 0..65535); missing
//             parts are 0
//
//   "UCCAPI/15.0"               block UCCAPI below 15.0 (Lync 2010 sends UCCAPI/4.0.7577.0,
//                               Lync 2013 UCCAPI/15.0.4481.1000)
//   "OC/<=4.0.7577"             block Lync 2010 (OC/4.0) up to build 7577
//   "Sipe"                      block every version of Sipe
//   "allow UCCAPI/>=16.0", "*"  only Skype for Business 2016 and later may sign in
//
// A named product matches any product token of the User-Agent ("UCCAPI/16.0.4849.1000
// OC/16.0.4849.1000 (Skype for Business)" has UCCAPI and OC); "*" matches the first token, or an
// empty User-Agent. A token without a version counts as version 0. No matching rule = allowed.
// A blocked REGISTER is answered 403 with ms-diagnostics 17002 (MS-OCER 8.16, protocol client
// version filter, "Invalid protocol client version.") and a Warning with the same text, which is
// what pidgin-sipe shows ("You have been rejected by the server: ...").

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sip/codec/message.h"

namespace causeway::sip::lync {

using ClientVersion = std::array<uint32_t, 4>;  // major, minor, build, qfe

enum class ClientAction : uint8_t { kBlock, kAllow };
enum class VersionOp : uint8_t {
  kAny,
  kLess,
  kLessEqual,
  kEqual,
  kNotEqual,
  kGreaterEqual,
  kGreater
};

struct ClientVersionRule {
  ClientAction action = ClientAction::kBlock;
  std::string product;  // lower case; "*" = any
  VersionOp op = VersionOp::kAny;
  ClientVersion version{};
  std::string text;  // as configured
};

// Parses one rule; the error message says what is wrong (no key name: the caller adds it).
absl::StatusOr<ClientVersionRule> ParseClientVersionRule(std::string_view text);

// One product token of a User-Agent ("UCCAPI/15.0.4481.1000"); comments in parentheses are
// skipped. Versions keep their leading numeric parts ("1.25.0rc1" -> 1.25.0).
struct UserAgentProduct {
  std::string_view name;
  ClientVersion version{};
};
std::vector<UserAgentProduct> ParseUserAgent(std::string_view user_agent);

// True when `rule` matches `user_agent` (product and version; the action is not considered).
bool RuleMatches(const ClientVersionRule& rule, std::string_view user_agent);

class ClientPolicy {
 public:
  // Every rule must parse; the error names the first bad one.
  static absl::StatusOr<ClientPolicy> Create(const std::vector<std::string>& rules);

  // The first rule matching `user_agent` when it blocks, else nullptr (allowed).
  const ClientVersionRule* Blocking(std::string_view user_agent) const;

  // For a REGISTER whose User-Agent the policy blocks: the 403 to send back (ms-diagnostics with
  // `source` = our server name, Warning 399 with the same reason), and a log line naming the
  // rule. nullopt for anything else.
  std::optional<SipMessage> AnswerRegister(const SipMessage& request,
                                           std::string_view source) const;

  bool empty() const { return rules_.empty(); }
  const std::vector<ClientVersionRule>& rules() const { return rules_; }

 private:
  std::vector<ClientVersionRule> rules_;
};

}  // namespace causeway::sip::lync
