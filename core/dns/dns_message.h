#pragma once
// A bounded, non-throwing parser for the answer section of a DNS response (RFC 1035 §4) for the
// record types our resolvers need (SIP RFC 3263, XMPP RFC 6120 §3.2): A, AAAA, SRV (RFC 2782) and
// NAPTR (RFC 3403). We parse ourselves instead of ares_parse_*_reply because those drop the TTL of
// SRV/NAPTR records, which the cache needs. Pure function over bytes: no I/O, fuzzable alone.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::dns {

enum class DnsType : uint16_t { kA = 1, kAaaa = 28, kSrv = 33, kNaptr = 35 };

std::string_view DnsTypeName(DnsType type);  // "A", "AAAA", "SRV", "NAPTR"

struct SrvRecord {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;  // lower-case, no trailing dot; "." (the root) means "service not here"
  friend bool operator==(const SrvRecord&, const SrvRecord&) = default;
};

struct NaptrRecord {
  uint16_t order = 0;
  uint16_t preference = 0;
  std::string flags;        // e.g. "s"
  std::string service;      // e.g. "SIP+D2T"
  std::string regexp;       // unused by SIP (RFC 3263 uses replacement only)
  std::string replacement;  // lower-case domain name, no trailing dot
  friend bool operator==(const NaptrRecord&, const NaptrRecord&) = default;
};

// The records of one type found in a response's answer section (CNAME chains are followed simply by
// taking every record of the asked type). Addresses have port 0.
struct DnsRecords {
  std::vector<NetAddress> addresses;  // kA / kAaaa
  std::vector<SrvRecord> srv;
  std::vector<NaptrRecord> naptr;
  uint32_t min_ttl = 0;  // smallest TTL among the records taken (0 if none)
  bool empty() const { return addresses.empty() && srv.empty() && naptr.empty(); }
};

struct DnsParseLimits {
  size_t max_records = 64;  // answers beyond this are ignored (bounded memory per response)
};

// Parses `response` (a full DNS message) and keeps the answer records of `type`, class IN.
// InvalidArgument on malformed input (truncated, bad compression pointers, loops, bad rdata).
absl::StatusOr<DnsRecords> ParseDnsAnswers(std::string_view response, DnsType type,
                                           const DnsParseLimits& limits = {});

}  // namespace causeway::dns
