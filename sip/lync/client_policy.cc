#include "sip/lync/client_policy.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "sip/lync/diagnostics.h"
#include "sip/stack/registrar.h"

namespace causeway::sip::lync {
namespace {

constexpr uint32_t kMaxVersionPart = 65535;  // Lync's version fields are UInt16

// RFC 3261 token characters.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Strict: 1-4 dot-separated numbers, nothing else.
bool ParseRuleVersion(std::string_view text, ClientVersion* out) {
  *out = {};
  size_t part = 0;
  size_t i = 0;
  // Bounded: every iteration fills one of the four parts or returns.
  while (true) {
    if (part == out->size() || i >= text.size() || !absl::ascii_isdigit(text[i])) return false;
    uint64_t value = 0;
    while (i < text.size() && absl::ascii_isdigit(text[i])) {
      value = value * 10 + static_cast<uint64_t>(text[i] - '0');
      if (value > kMaxVersionPart) return false;
      ++i;
    }
    (*out)[part++] = static_cast<uint32_t>(value);
    if (i == text.size()) return true;
    if (text[i] != '.') return false;
    ++i;
  }
}

// Lenient, for what clients send: the leading numeric parts.
ClientVersion ParseAgentVersion(std::string_view text) {
  ClientVersion v{};
  size_t i = 0;
  for (size_t part = 0; part < v.size(); ++part) {
    if (i >= text.size() || !absl::ascii_isdigit(text[i])) break;
    uint64_t value = 0;
    while (i < text.size() && absl::ascii_isdigit(text[i])) {
      value = std::min<uint64_t>(value * 10 + static_cast<uint64_t>(text[i] - '0'), UINT32_MAX);
      ++i;
    }
    v[part] = static_cast<uint32_t>(value);
    if (i >= text.size() || text[i] != '.') break;
    ++i;
  }
  return v;
}

bool Compare(const ClientVersion& have, VersionOp op, const ClientVersion& want) {
  switch (op) {
    case VersionOp::kAny:
      return true;
    case VersionOp::kLess:
      return have < want;
    case VersionOp::kLessEqual:
      return have <= want;
    case VersionOp::kEqual:
      return have == want;
    case VersionOp::kNotEqual:
      return have != want;
    case VersionOp::kGreaterEqual:
      return have >= want;
    case VersionOp::kGreater:
      return have > want;
  }
  return false;
}

}  // namespace

absl::StatusOr<ClientVersionRule> ParseClientVersionRule(std::string_view text) {
  ClientVersionRule rule;
  rule.text = std::string(text);
  std::string_view rest = Trim(text);
  if (rest.empty()) return absl::InvalidArgumentError("empty rule");
  // Optional action word.
  const size_t space = rest.find_first_of(" \t");
  if (space != std::string_view::npos) {
    const std::string_view word = rest.substr(0, space);
    if (absl::EqualsIgnoreCase(ToAbsl(word), "block")) {
      rule.action = ClientAction::kBlock;
    } else if (absl::EqualsIgnoreCase(ToAbsl(word), "allow")) {
      rule.action = ClientAction::kAllow;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", ToAbsl(word), "\" is not an action (block or allow)"));
    }
    rest = Trim(rest.substr(space));
  }
  const size_t slash = rest.find('/');
  const std::string_view product = rest.substr(0, slash);
  if (product.empty()) return absl::InvalidArgumentError("missing product (e.g. UCCAPI/15.0)");
  if (product != "*") {
    for (char c : product) {
      if (!IsTokenChar(c) || c == '*') {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", ToAbsl(product), "\" is not a User-Agent product name (or * for any)"));
      }
    }
  }
  rule.product = absl::AsciiStrToLower(ToAbsl(product));
  if (slash == std::string_view::npos) return rule;  // every version
  std::string_view version = rest.substr(slash + 1);
  static constexpr std::pair<std::string_view, VersionOp> kOps[] = {
      {"<=", VersionOp::kLessEqual}, {">=", VersionOp::kGreaterEqual}, {"!=", VersionOp::kNotEqual},
      {"<", VersionOp::kLess},       {">", VersionOp::kGreater},       {"=", VersionOp::kEqual},
  };
  rule.op = VersionOp::kLess;
  for (const auto& [spelling, op] : kOps) {
    if (version.substr(0, spelling.size()) == spelling) {
      rule.op = op;
      version.remove_prefix(spelling.size());
      break;
    }
  }
  if (!ParseRuleVersion(version, &rule.version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", ToAbsl(version),
                     "\" is not a version: 1 to 4 numbers (0..65535) separated by dots, "
                     "optionally after <, <=, =, !=, >= or > (e.g. UCCAPI/15.0)"));
  }
  return rule;
}

std::vector<UserAgentProduct> ParseUserAgent(std::string_view user_agent) {
  std::vector<UserAgentProduct> out;
  size_t i = 0;
  const size_t n = user_agent.size();
  // Bounded: every iteration consumes at least one character.
  while (i < n) {
    const char c = user_agent[i];
    if (IsSpace(c)) {
      ++i;
    } else if (c == '(') {
      int depth = 0;  // comments nest (RFC 3261 §25.1)
      for (; i < n; ++i) {
        if (user_agent[i] == '\\') {
          ++i;
        } else if (user_agent[i] == '(') {
          ++depth;
        } else if (user_agent[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else {
      size_t end = i;
      while (end < n && !IsSpace(user_agent[end]) && user_agent[end] != '(') ++end;
      const std::string_view token = user_agent.substr(i, end - i);
      const size_t slash = token.find('/');
      UserAgentProduct product;
      product.name = token.substr(0, slash);
      if (slash != std::string_view::npos) {
        product.version = ParseAgentVersion(token.substr(slash + 1));
      }
      if (!product.name.empty()) out.push_back(product);
      i = end;
    }
  }
  return out;
}

bool RuleMatches(const ClientVersionRule& rule, std::string_view user_agent) {
  const std::vector<UserAgentProduct> products = ParseUserAgent(user_agent);
  if (rule.product == "*") {
    const ClientVersion version = products.empty() ? ClientVersion{} : products.front().version;
    return Compare(version, rule.op, rule.version);
  }
  for (const UserAgentProduct& p : products) {
    if (absl::EqualsIgnoreCase(ToAbsl(p.name), rule.product) &&
        Compare(p.version, rule.op, rule.version)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<ClientPolicy> ClientPolicy::Create(const std::vector<std::string>& rules) {
  ClientPolicy policy;
  for (const std::string& text : rules) {
    absl::StatusOr<ClientVersionRule> rule = ParseClientVersionRule(text);
    if (!rule.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", ToAbsl(text), "\": ", rule.status().message()));
    }
    policy.rules_.push_back(*std::move(rule));
  }
  return policy;
}

const ClientVersionRule* ClientPolicy::Blocking(std::string_view user_agent) const {
  for (const ClientVersionRule& rule : rules_) {
    if (RuleMatches(rule, user_agent)) {
      return rule.action == ClientAction::kBlock ? &rule : nullptr;
    }
  }
  return nullptr;
}

std::optional<SipMessage> ClientPolicy::AnswerRegister(const SipMessage& request,
                                                       std::string_view source) const {
  if (rules_.empty() || !request.is_request() || request.method() != Method::kRegister) {
    return std::nullopt;
  }
  const Header* header = request.FindHeader(HeaderId::kUserAgent);
  const std::string_view user_agent = header != nullptr ? header->value : std::string_view();
  const ClientVersionRule* rule = Blocking(user_agent);
  if (rule == nullptr) return std::nullopt;
  log::Info(
      "lync", "sign-in refused by the client version policy",
      {{"user_agent", user_agent}, {"rule", rule->text}, {"aor", request.to().uri.ToString()}});
  SipMessage answer = MakeResponse(request, 403, {}, NewLocalTag());
  const Diagnostic& d = kDiagClientVersionBlocked;
  (void)answer.AppendHeader(kMsDiagnostics, FormatDiagnostic(d.error_id, d.reason, source));
  // RFC 3261 §20.43: 399 = miscellaneous warning; the agent is our host name (no spaces).
  std::string agent;
  for (char c : source) {
    if (IsTokenChar(c) || c == ':' || c == '[' || c == ']') agent.push_back(c);
  }
  if (agent.empty()) agent = "causeway";
  (void)answer.AppendHeader(HeaderId::kWarning,
                            absl::StrCat("399 ", agent, " \"", ToAbsl(d.reason), "\""));
  return answer;
}

}  // namespace causeway::sip::lync
