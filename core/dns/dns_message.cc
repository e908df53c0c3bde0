#include "core/dns/dns_message.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::dns {
namespace {

constexpr size_t kMaxNameLength = 255;  // RFC 1035 §2.3.4
constexpr int kMaxPointerJumps = 32;    // far more than any sane message needs; stops loops
constexpr uint16_t kClassIn = 1;

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed DNS response: ", ToAbsl(what)));
}

// A cursor over the whole message; names may point anywhere before themselves.
class Reader {
 public:
  explicit Reader(std::string_view msg) : msg_(msg) {}

  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }
  size_t remaining() const { return pos_ <= msg_.size() ? msg_.size() - pos_ : 0; }

  bool U8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = static_cast<uint8_t>(msg_[pos_++]);
    return true;
  }
  bool U16(uint16_t* out) {
    if (remaining() < 2) return false;
    *out = static_cast<uint16_t>((static_cast<uint8_t>(msg_[pos_]) << 8) |
                                 static_cast<uint8_t>(msg_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* out) {
    uint16_t hi = 0, lo = 0;
    if (!U16(&hi) || !U16(&lo)) return false;
    *out = (static_cast<uint32_t>(hi) << 16) | lo;
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = msg_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // A <character-string> (RFC 1035 §3.3): one length byte, then that many bytes.
  bool CharString(std::string* out) {
    uint8_t len = 0;
    std::string_view bytes;
    if (!U8(&len) || !Bytes(len, &bytes)) return false;
    out->assign(bytes);
    return true;
  }

  // Reads a possibly compressed domain name at the cursor, lower-cased, dot-separated, without the
  // trailing dot ("" is the root). Leaves the cursor after the name's in-place bytes.
  bool Name(std::string* out) {
    out->clear();
    size_t p = pos_;
    size_t resume = 0;  // where the cursor goes after the first pointer
    bool jumped = false;
    int jumps = 0;
    size_t wire_length = 1;  // the root label
    for (;;) {
      if (p >= msg_.size()) return false;
      const uint8_t len = static_cast<uint8_t>(msg_[p]);
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= msg_.size()) return false;
        const size_t target = (static_cast<size_t>(len & 0x3F) << 8) |
                              static_cast<uint8_t>(msg_[p + 1]);
        // Pointers must go strictly backwards: with the jump cap this rules out loops.
        if (target >= p || ++jumps > kMaxPointerJumps) return false;
        if (!jumped) resume = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // 0x40/0x80 label types are obsolete
      if (len == 0) {
        pos_ = jumped ? resume : p + 1;
        return true;
      }
      if (p + 1 + len > msg_.size()) return false;
      wire_length += len + 1;
      if (wire_length > kMaxNameLength) return false;
      if (!out->empty()) out->push_back('.');
      out->append(absl::AsciiStrToLower(absl::string_view(msg_.data() + p + 1, len)));
      p += 1 + len;
    }
  }

 private:
  std::string_view msg_;
  size_t pos_ = 0;
};

absl::Status ParseRdata(std::string_view msg, size_t rdata_pos, uint16_t rdlength, DnsType type,
                        DnsRecords* out) {
  Reader r(msg);
  r.set_pos(rdata_pos);
  const size_t end = rdata_pos + rdlength;
  switch (type) {
    case DnsType::kA: {
      uint32_t ip = 0;
      if (rdlength != 4 || !r.U32(&ip)) return Malformed("A rdata");
      out->addresses.push_back(NetAddress::V4(ip, 0));
      return absl::OkStatus();
    }
    case DnsType::kAaaa: {
      std::string_view bytes;
      if (rdlength != 16 || !r.Bytes(16, &bytes)) return Malformed("AAAA rdata");
      std::array<uint8_t, 16> ip{};
      for (size_t i = 0; i < 16; ++i) ip[i] = static_cast<uint8_t>(bytes[i]);
      out->addresses.push_back(NetAddress::V6(ip, 0));
      return absl::OkStatus();
    }
    case DnsType::kSrv: {
      SrvRecord srv;
      if (!r.U16(&srv.priority) || !r.U16(&srv.weight) || !r.U16(&srv.port) ||
          !r.Name(&srv.target) || r.pos() != end) {
        return Malformed("SRV rdata");
      }
      if (srv.target.empty()) srv.target = ".";
      out->srv.push_back(std::move(srv));
      return absl::OkStatus();
    }
    case DnsType::kNaptr: {
      NaptrRecord naptr;
      if (!r.U16(&naptr.order) || !r.U16(&naptr.preference) || !r.CharString(&naptr.flags) ||
          !r.CharString(&naptr.service) || !r.CharString(&naptr.regexp) ||
          !r.Name(&naptr.replacement) || r.pos() != end) {
        return Malformed("NAPTR rdata");
      }
      out->naptr.push_back(std::move(naptr));
      return absl::OkStatus();
    }
  }
  return Malformed("unexpected type");
}

}  // namespace

std::string_view DnsTypeName(DnsType type) {
  switch (type) {
    case DnsType::kA:
      return "A";
    case DnsType::kAaaa:
      return "AAAA";
    case DnsType::kSrv:
      return "SRV";
    case DnsType::kNaptr:
      return "NAPTR";
  }
  return "?";
}

absl::StatusOr<DnsRecords> ParseDnsAnswers(std::string_view response, DnsType type,
                                           const DnsParseLimits& limits) {
  Reader r(response);
  uint16_t id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  if (!r.U16(&id) || !r.U16(&flags) || !r.U16(&qdcount) || !r.U16(&ancount) ||
      !r.U16(&nscount) || !r.U16(&arcount)) {
    return Malformed("short header");
  }
  if ((flags & 0x8000) == 0) return Malformed("not a response");
  std::string name;
  for (uint16_t i = 0; i < qdcount; ++i) {
    uint16_t qtype = 0, qclass = 0;
    if (!r.Name(&name) || !r.U16(&qtype) || !r.U16(&qclass)) return Malformed("question");
  }
  DnsRecords out;
  size_t taken = 0;
  bool have_ttl = false;
  for (uint16_t i = 0; i < ancount; ++i) {
    uint16_t rtype = 0, rclass = 0, rdlength = 0;
    uint32_t ttl = 0;
    if (!r.Name(&name) || !r.U16(&rtype) || !r.U16(&rclass) || !r.U32(&ttl) ||
        !r.U16(&rdlength)) {
      return Malformed("answer header");
    }
    const size_t rdata_pos = r.pos();
    if (r.remaining() < rdlength) return Malformed("answer rdata length");
    r.set_pos(rdata_pos + rdlength);
    if (rtype != static_cast<uint16_t>(type) || rclass != kClassIn) continue;  // CNAME, others
    if (taken >= limits.max_records) continue;
    absl::Status status = ParseRdata(response, rdata_pos, rdlength, type, &out);
    if (!status.ok()) return status;
    ++taken;
    // RFC 2181 §8: a TTL with the top bit set is treated as zero.
    if (ttl > 0x7FFFFFFFu) ttl = 0;
    out.min_ttl = have_ttl ? std::min(out.min_ttl, ttl) : ttl;
    have_ttl = true;
  }
  return out;
}

}  // namespace causeway::dns
