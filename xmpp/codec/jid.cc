#include "xmpp/codec/jid.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/xml_text.h"

namespace causeway::xmpp {

namespace {

absl::Status Malformed(std::string_view part, std::string_view why) {
  return StanzaError(StanzaErrorCondition::kJidMalformed,
                     absl::StrCat("jid: ", ToAbsl(part), " ", ToAbsl(why)));
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// What every part shares: 1..1023 bytes of UTF-8 without control characters.
absl::Status CheckPart(std::string_view value, std::string_view part) {
  if (value.empty()) return Malformed(part, "is empty");
  if (value.size() > kMaxJidPartBytes) return Malformed(part, "is longer than 1023 bytes");
  if (!IsValidUtf8(value)) return Malformed(part, "is not UTF-8");
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return Malformed(part, "has a control character");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeNode(std::string_view node) {
  if (absl::Status s = CheckPart(node, "localpart"); !s.ok()) return s;
  std::string out(node);
  for (char& c : out) {
    switch (c) {
      case '"':
      case '&':
      case '\'':
      case '/':
      case ':':
      case '<':
      case '>':
      case '@':
      case ' ':
        return Malformed("localpart", "has a forbidden character");
      default:
        c = AsciiLower(c);
    }
  }
  return out;
}

absl::StatusOr<std::string> NormalizeDomain(std::string_view domain) {
  // RFC 7622 §3.2: a trailing label separator is stripped before any other check.
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (absl::Status s = CheckPart(domain, "domainpart"); !s.ok()) return s;
  std::string out(domain);
  if (out.front() == '[') {
    // IPv6 literal (RFC 3986 IP-literal without IPvFuture).
    if (out.size() < 3 || out.back() != ']') return Malformed("domainpart", "bad IP literal");
    for (size_t i = 1; i + 1 < out.size(); ++i) {
      char c = AsciiLower(out[i]);
      bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      if (!hex && c != ':' && c != '.') return Malformed("domainpart", "bad IP literal");
      out[i] = c;
    }
    return out;
  }
  size_t label_length = 0;
  for (char& c : out) {
    if (c == '.') {
      if (label_length == 0) return Malformed("domainpart", "has an empty label");
      label_length = 0;
      continue;
    }
    ++label_length;
    if (static_cast<unsigned char>(c) >= 0x80) continue;  // non-ASCII: passed through (no IDNA)
    if (!IsAsciiAlnum(c) && c != '-' && c != '_') {
      return Malformed("domainpart", "has a character a hostname cannot hold");
    }
    c = AsciiLower(c);
  }
  if (label_length == 0) return Malformed("domainpart", "has an empty label");
  return out;
}

}  // namespace

absl::StatusOr<Jid> Jid::Parse(std::string_view text) {
  std::string_view rest = text;
  std::string_view resource;
  bool has_resource = false;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    resource = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    has_resource = true;
  }
  std::string_view node;
  bool has_node = false;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    node = rest.substr(0, at);
    rest = rest.substr(at + 1);
    has_node = true;
  }
  Jid jid;
  if (has_node) {
    absl::StatusOr<std::string> n = NormalizeNode(node);
    if (!n.ok()) return n.status();
    jid.node_ = *std::move(n);
  }
  absl::StatusOr<std::string> d = NormalizeDomain(rest);
  if (!d.ok()) return d.status();
  jid.domain_ = *std::move(d);
  if (has_resource) {
    if (absl::Status s = CheckPart(resource, "resourcepart"); !s.ok()) return s;
    jid.resource_.assign(resource);
  }
  return jid;
}

absl::StatusOr<Jid> Jid::Make(std::string_view node, std::string_view domain,
                              std::string_view resource) {
  Jid jid;
  if (!node.empty()) {
    absl::StatusOr<std::string> n = NormalizeNode(node);
    if (!n.ok()) return n.status();
    jid.node_ = *std::move(n);
  }
  absl::StatusOr<std::string> d = NormalizeDomain(domain);
  if (!d.ok()) return d.status();
  jid.domain_ = *std::move(d);
  if (!resource.empty()) {
    if (absl::Status s = CheckPart(resource, "resourcepart"); !s.ok()) return s;
    jid.resource_.assign(resource);
  }
  return jid;
}

Jid Jid::Bare() const {
  Jid bare;
  bare.node_ = node_;
  bare.domain_ = domain_;
  return bare;
}

std::string Jid::BareString() const {
  if (node_.empty()) return domain_;
  return absl::StrCat(node_, "@", domain_);
}

std::string Jid::ToString() const {
  std::string out = BareString();
  if (!resource_.empty()) absl::StrAppend(&out, "/", resource_);
  return out;
}

}  // namespace causeway::xmpp
