#include "sip/codec/message.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/scan.h"

namespace causeway::sip {
namespace {

using scan::IsWs;
using scan::SkipWs;
using scan::Trim;

absl::Status Bad(std::string_view what) { return SipError(400, what); }

constexpr uint64_t kMaxCSeq = 0xffffffffULL;  // RFC 3261 §8.1.1.5: a 32-bit unsigned integer

// "SIP/2.0" with "SIP" case-insensitive (RFC 3261 §25: literal strings are case-insensitive).
// Returns 0 for SIP/2.0, 505 for another well-formed version, 400 for garbage.
int CheckVersion(std::string_view v) {
  if (v.size() < 7 || !absl::EqualsIgnoreCase(ToAbsl(v.substr(0, 4)), "SIP/")) return 400;
  std::string_view num = v.substr(4);
  size_t dot = num.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == num.size()) return 400;
  for (size_t i = 0; i < num.size(); ++i) {
    if (i != dot && !scan::IsDigit(num[i])) return 400;
  }
  return num == "2.0" ? 0 : 505;
}

bool ValidHeaderValueText(std::string_view value) {
  return value.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

absl::StatusOr<Via> ParseVia(std::string_view value) {
  Via via;
  value = Trim(value);
  via.raw = value;
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport (SLASH = SWS "/" SWS)
  std::string_view* parts[3] = {&via.protocol_name, &via.protocol_version, &via.transport};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      pos = SkipWs(value, pos);
      if (pos >= value.size() || value[pos] != '/') return Bad("bad Via sent-protocol");
      pos = SkipWs(value, pos + 1);
    }
    size_t start = pos;
    while (pos < value.size() && scan::IsTokenByte(value[pos])) ++pos;
    if (pos == start) return Bad("bad Via sent-protocol");
    *parts[i] = value.substr(start, pos - start);
  }
  size_t host_start = SkipWs(value, pos);
  if (host_start == pos) return Bad("Via needs LWS before sent-by");
  pos = host_start;
  if (pos < value.size() && value[pos] == '[') {
    size_t close = value.find(']', pos);
    if (close == std::string_view::npos) return Bad("bad Via IPv6 reference");
    pos = close + 1;
  } else {
    while (pos < value.size() && (scan::IsAlnum(value[pos]) || value[pos] == '-' ||
                                  value[pos] == '.' || value[pos] == '_')) {
      ++pos;
    }
  }
  via.host = value.substr(host_start, pos - host_start);
  if (via.host.empty()) return Bad("Via without host");
  size_t after_host = SkipWs(value, pos);
  if (after_host < value.size() && value[after_host] == ':') {
    size_t port_start = SkipWs(value, after_host + 1);
    size_t port_end = port_start;
    while (port_end < value.size() && scan::IsDigit(value[port_end])) ++port_end;
    std::optional<uint64_t> port =
        scan::ParseDecimal(value.substr(port_start, port_end - port_start), 65535);
    if (!port || port_end - port_start > 5) return Bad("bad Via port");
    via.port = static_cast<uint16_t>(*port);
    pos = port_end;
  }
  absl::Status status = ParseGenericParams(value.substr(pos), &via.params);
  if (!status.ok()) return status;
  for (const GenericParam& p : via.params) {
    std::string_view n = p.name;
    if (scan::EqualsNoCase(n, "branch")) {
      via.branch = p.value;
    } else if (scan::EqualsNoCase(n, "received")) {
      via.received = p.value;
    } else if (scan::EqualsNoCase(n, "maddr")) {
      via.maddr = p.value;
    } else if (scan::EqualsNoCase(n, "rport")) {
      via.rport = true;
      if (p.has_value) {
        std::optional<uint64_t> port = scan::ParseDecimal(p.value, 65535);
        if (!port) return Bad("bad Via rport");
        via.rport_value = static_cast<uint16_t>(*port);
      }
    } else if (scan::EqualsNoCase(n, "ttl")) {
      std::optional<uint64_t> ttl = scan::ParseDecimal(p.value, 255);
      if (!ttl) return Bad("bad Via ttl");
      via.ttl = static_cast<uint8_t>(*ttl);
    }
  }
  return via;
}

SipMessage::SipMessage() = default;
SipMessage::SipMessage(SipMessage&&) noexcept = default;
SipMessage& SipMessage::operator=(SipMessage&&) noexcept = default;
SipMessage::~SipMessage() = default;

absl::StatusOr<SipMessage> SipMessage::Parse(std::string bytes, const ParseLimits& limits) {
  if (bytes.size() > limits.max_message_bytes) return SipError(513, "message too large");
  // Built in place inside the StatusOr: the message is a few KB of inline storage, not moved.
  absl::StatusOr<SipMessage> result(absl::in_place, InPlace());
  SipMessage& message = *result;
  message.buffer_ = std::make_unique<std::string>(std::move(bytes));
  absl::Status status = message.ParseInternal(limits);
  if (!status.ok()) return status;
  // RFC 3261 §8.1.1: these six make a request; responses carry all but Max-Forwards.
  if (message.vias_.empty()) return Bad("missing Via");
  if (message.from_.uri_text.empty()) return Bad("missing From");
  if (message.to_.uri_text.empty()) return Bad("missing To");
  if (message.call_id_.empty()) return Bad("missing Call-ID");
  if (message.cseq_method_text_.empty()) return Bad("missing CSeq");
  if (message.is_request_ && message.cseq_method_text_ != message.method_text_) {
    return Bad("CSeq method does not match the request method");  // RFC 4475 mismatch01/02
  }
  return result;
}

absl::Status SipMessage::ParseInternal(const ParseLimits& limits) {
  char* data = buffer_->data();
  const size_t size = buffer_->size();
  std::string_view all(data, size);
  size_t pos = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  while (pos < size && (data[pos] == '\r' || data[pos] == '\n')) ++pos;

  // Start line.
  size_t lf = all.find('\n', pos);
  if (lf == std::string_view::npos) return Bad("incomplete start line");
  size_t line_end = (lf > pos && data[lf - 1] == '\r') ? lf - 1 : lf;
  if (line_end - pos > limits.max_header_line) return SipError(513, "start line too long");
  std::string_view start = all.substr(pos, line_end - pos);
  if (start.find('\r') != std::string_view::npos) return Bad("bare CR in start line");
  if (start.size() >= 4 && absl::EqualsIgnoreCase(ToAbsl(start.substr(0, 4)), "SIP/")) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    is_request_ = false;
    size_t sp = start.find(' ');
    if (sp == std::string_view::npos) return Bad("bad status line");
    int version = CheckVersion(start.substr(0, sp));
    if (version != 0) return SipError(version, "unsupported SIP version");
    std::string_view rest = start.substr(sp + 1);
    size_t sp2 = rest.find(' ');
    std::string_view code = rest.substr(0, sp2);
    if (code.size() != 3) return Bad("bad status code");
    std::optional<uint64_t> value = scan::ParseDecimal(code, 699);
    if (!value || *value < 100) return Bad("bad status code");
    status_code_ = static_cast<int>(*value);
    // A missing SP before an empty reason is tolerated (RFC 4475 noreason: liberal receivers).
    reason_ = sp2 == std::string_view::npos ? std::string_view() : rest.substr(sp2 + 1);
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version, single SPs (RFC 4475 lwsstart, trws).
    is_request_ = true;
    size_t sp1 = start.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return Bad("bad request line");
    size_t sp2 = start.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return Bad("bad request line");
    method_text_ = start.substr(0, sp1);
    for (char c : method_text_) {
      if (!scan::IsTokenByte(c)) return Bad("bad method");
    }
    method_ = ParseMethod(method_text_);
    request_uri_text_ = start.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version_text = start.substr(sp2 + 1);
    if (version_text.find(' ') != std::string_view::npos) {
      return Bad("extra SP in request line");  // RFC 4475 lwsruri, trws
    }
    int version = CheckVersion(version_text);
    if (version != 0) return SipError(version, "unsupported SIP version");
    absl::StatusOr<Uri> uri = Uri::Parse(request_uri_text_);
    if (!uri.ok()) return uri.status();
    if (uri->is_sip() && !uri->headers().empty()) {
      return Bad("headers in Request-URI");  // RFC 3261 §19.1.1 table; RFC 4475 escruri
    }
    request_uri_ = *uri;
  }
  pos = lf + 1;

  // Header lines, with continuation lines (RFC 3261 §7.3.1 folding) unfolded in place. One pass:
  // each line is found with one memchr, the header vector is reserved once up front.
  headers_.reserve(std::min<size_t>(limits.max_headers, 24));
  std::optional<size_t> content_length;
  size_t body_start = std::string_view::npos;
  while (pos < size) {
    // The empty line ends the header section.
    if (data[pos] == '\n') {
      body_start = pos + 1;
      break;
    }
    if (data[pos] == '\r' && pos + 1 < size && data[pos + 1] == '\n') {
      body_start = pos + 2;
      break;
    }
    if (data[pos] == ' ' || data[pos] == '\t') return Bad("continuation line without header");
    size_t line_start = pos;
    size_t nl;
    while (true) {
      const void* hit = std::memchr(data + pos, '\n', size - pos);
      if (hit == nullptr) return Bad("incomplete header section");
      nl = static_cast<size_t>(static_cast<const char*>(hit) - data);
      if (nl + 1 < size && (data[nl + 1] == ' ' || data[nl + 1] == '\t')) {
        // Folding: CRLF + WSP is LWS; overwrite the line break with spaces (zero-copy unfold).
        data[nl] = ' ';
        if (nl > line_start && data[nl - 1] == '\r') data[nl - 1] = ' ';
        pos = nl + 1;
        continue;
      }
      break;
    }
    size_t logical_end = (nl > line_start && data[nl - 1] == '\r') ? nl - 1 : nl;
    pos = nl + 1;
    if (logical_end - line_start > limits.max_header_line) {
      return SipError(513, "header line too long");
    }
    if (headers_.size() >= limits.max_headers) return SipError(513, "too many headers");
    std::string_view line(data + line_start, logical_end - line_start);
    size_t name_end = 0;
    while (name_end < line.size() && scan::IsTokenByte(line[name_end])) ++name_end;
    size_t colon = name_end;
    while (colon < line.size() && (line[colon] == ' ' || line[colon] == '\t')) ++colon;
    if (name_end == 0 || colon >= line.size() || line[colon] != ':') {
      return Bad("bad header name");
    }
    std::string_view value = line.substr(colon + 1);
    if (std::memchr(value.data(), '\r', value.size()) != nullptr) return Bad("bare CR in header");
    Header header;
    header.name = line.substr(0, name_end);
    header.id = LookupHeader(header.name);
    header.value = Trim(value);
    if (header.id == HeaderId::kContentLength) {
      // RFC 4475 ncl (negative), mcl01 (duplicated): both unrecoverable framing errors.
      if (content_length) return Bad("multiple Content-Length headers");
      std::optional<uint64_t> length =
          scan::ParseDecimal(header.value, std::numeric_limits<uint32_t>::max());
      if (!length) return Bad("bad Content-Length");
      if (*length > limits.max_message_bytes) return SipError(413, "body too large");
      content_length = static_cast<size_t>(*length);
    }
    headers_.push_back(header);
  }
  if (body_start == std::string_view::npos) return Bad("incomplete header section");

  size_t available = size - body_start;
  if (content_length) {
    if (*content_length > available) {
      return Bad("Content-Length larger than the message");  // RFC 4475 clerr
    }
    body_ = std::string_view(data + body_start, *content_length);
  } else {
    body_ = std::string_view(data + body_start, available);
  }
  return Reindex();
}

absl::Status SipMessage::Reindex() {
  // A freshly parsed message has nothing to reset (the common, hot case).
  if (!vias_.empty() || !from_.raw.empty() || !to_.raw.empty() || !call_id_.empty() ||
      !cseq_method_text_.empty() || max_forwards_ || !routes_.empty() || !record_routes_.empty()) {
    vias_.clear();
    from_ = NameAddr();
    to_ = NameAddr();
    call_id_ = {};
    cseq_ = 0;
    cseq_method_ = Method::kUnknown;
    cseq_method_text_ = {};
    max_forwards_.reset();
    routes_.clear();
    record_routes_.clear();
  }
  bool seen_from = false, seen_to = false, seen_call_id = false, seen_cseq = false;
  bool seen_max_forwards = false;
  for (const Header& h : headers_) {
    switch (h.id) {
      case HeaderId::kVia: {
        absl::Status status;
        size_t before = vias_.size();
        bool ok = scan::ForEachListItem(h.value, [&](std::string_view item) {
          absl::StatusOr<Via> via = ParseVia(item);
          if (!via.ok()) {
            status = via.status();
            return false;
          }
          vias_.push_back(std::move(*via));
          return true;
        });
        if (!status.ok()) return status;
        if (!ok) return Bad("bad Via list");
        if (vias_.size() == before) return Bad("empty Via");
        break;
      }
      case HeaderId::kFrom:
      case HeaderId::kTo: {
        bool& seen = h.id == HeaderId::kFrom ? seen_from : seen_to;
        if (seen) return Bad("duplicated From/To");  // RFC 4475 multi01
        seen = true;
        absl::StatusOr<NameAddr> addr = ParseNameAddr(h.value);
        if (!addr.ok()) return addr.status();
        (h.id == HeaderId::kFrom ? from_ : to_) = std::move(*addr);
        break;
      }
      case HeaderId::kCallId: {
        if (seen_call_id) return Bad("duplicated Call-ID");
        seen_call_id = true;
        if (h.value.empty()) return Bad("empty Call-ID");
        for (char c : h.value) {
          if (IsWs(c)) return Bad("bad Call-ID");
        }
        call_id_ = h.value;
        break;
      }
      case HeaderId::kCSeq: {
        if (seen_cseq) return Bad("duplicated CSeq");
        seen_cseq = true;
        // CSeq = 1*DIGIT LWS Method
        std::string_view v = h.value;
        size_t digits = 0;
        while (digits < v.size() && scan::IsDigit(v[digits])) ++digits;
        std::optional<uint64_t> number = scan::ParseDecimal(v.substr(0, digits), kMaxCSeq);
        if (!number) return Bad("bad CSeq number");
        size_t m = SkipWs(v, digits);
        if (m == digits || m >= v.size()) return Bad("bad CSeq");
        std::string_view method = v.substr(m);
        for (char c : method) {
          if (!scan::IsTokenByte(c)) return Bad("bad CSeq method");
        }
        cseq_ = static_cast<uint32_t>(*number);
        cseq_method_text_ = method;
        cseq_method_ = ParseMethod(method);
        break;
      }
      case HeaderId::kMaxForwards: {
        if (seen_max_forwards) return Bad("duplicated Max-Forwards");
        seen_max_forwards = true;
        std::optional<uint64_t> value = scan::ParseDecimal(h.value, 255);
        if (!value) return Bad("bad Max-Forwards");  // RFC 4475 scalar02
        max_forwards_ = static_cast<int>(*value);
        break;
      }
      case HeaderId::kRoute:
      case HeaderId::kRecordRoute: {
        absl::Status status;
        std::vector<NameAddr>& list = h.id == HeaderId::kRoute ? routes_ : record_routes_;
        bool ok = scan::ForEachListItem(h.value, [&](std::string_view item) {
          absl::StatusOr<NameAddr> addr = ParseNameAddr(item);
          if (!addr.ok()) {
            status = addr.status();
            return false;
          }
          list.push_back(std::move(*addr));
          return true;
        });
        if (!status.ok()) return status;
        if (!ok) return Bad("bad route list");
        break;
      }
      default:
        break;
    }
  }
  return absl::OkStatus();
}

// ---- Lazy accessors ----

const Header* SipMessage::FindHeader(HeaderId id) const {
  for (const Header& h : headers_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

const Header* SipMessage::FindHeader(std::string_view name) const {
  HeaderId id = LookupHeader(name);
  if (id != HeaderId::kOther) return FindHeader(id);
  for (const Header& h : headers_) {
    if (h.id == HeaderId::kOther && absl::EqualsIgnoreCase(ToAbsl(h.name), ToAbsl(name))) {
      return &h;
    }
  }
  return nullptr;
}

std::vector<std::string_view> SipMessage::HeaderValues(HeaderId id) const {
  std::vector<std::string_view> out;
  for (const Header& h : headers_) {
    if (h.id == id) out.push_back(h.value);
  }
  return out;
}

std::vector<std::string_view> SipMessage::HeaderValues(std::string_view name) const {
  HeaderId id = LookupHeader(name);
  if (id != HeaderId::kOther) return HeaderValues(id);
  std::vector<std::string_view> out;
  for (const Header& h : headers_) {
    if (h.id == HeaderId::kOther && absl::EqualsIgnoreCase(ToAbsl(h.name), ToAbsl(name))) {
      out.push_back(h.value);
    }
  }
  return out;
}

absl::StatusOr<std::vector<NameAddr>> SipMessage::GetNameAddrs(HeaderId id) const {
  std::vector<NameAddr> out;
  std::vector<std::string_view> items;
  bool found = false;
  for (const Header& h : headers_) {
    if (h.id != id) continue;
    found = true;
    items.clear();
    absl::Status status = SplitCommaList(h.value, &items);
    if (!status.ok()) return status;
    for (std::string_view item : items) {
      absl::StatusOr<NameAddr> addr = ParseNameAddr(item, id == HeaderId::kContact);
      if (!addr.ok()) return addr.status();
      out.push_back(std::move(*addr));
    }
  }
  if (!found) return absl::NotFoundError(HeaderName(id).data());
  return out;
}

absl::StatusOr<std::vector<NameAddr>> SipMessage::GetContacts() const {
  return GetNameAddrs(HeaderId::kContact);
}

absl::StatusOr<std::vector<NameAddr>> SipMessage::GetPath() const {
  return GetNameAddrs(HeaderId::kPath);
}

namespace {

absl::StatusOr<uint32_t> ParseDeltaSeconds(const Header* h) {
  if (h == nullptr) return absl::NotFoundError("header absent");
  std::optional<uint64_t> value = scan::ParseDecimal(h->value, kMaxCSeq);
  if (!value) return Bad("bad delta-seconds");  // RFC 4475 scalar02's Expires
  return static_cast<uint32_t>(*value);
}

}  // namespace

absl::StatusOr<uint32_t> SipMessage::GetExpires() const {
  return ParseDeltaSeconds(FindHeader(HeaderId::kExpires));
}

absl::StatusOr<uint32_t> SipMessage::GetMinExpires() const {
  return ParseDeltaSeconds(FindHeader(HeaderId::kMinExpires));
}

absl::StatusOr<MediaType> SipMessage::GetContentType() const {
  const Header* h = FindHeader(HeaderId::kContentType);
  if (h == nullptr) return absl::NotFoundError("no Content-Type");
  return ParseMediaType(h->value);
}

absl::StatusOr<TokenWithParams> SipMessage::GetEvent() const {
  const Header* h = FindHeader(HeaderId::kEvent);
  if (h == nullptr) return absl::NotFoundError("no Event");
  return ParseTokenWithParams(h->value);
}

absl::StatusOr<TokenWithParams> SipMessage::GetSubscriptionState() const {
  const Header* h = FindHeader(HeaderId::kSubscriptionState);
  if (h == nullptr) return absl::NotFoundError("no Subscription-State");
  return ParseTokenWithParams(h->value);
}

absl::StatusOr<std::vector<std::string_view>> SipMessage::GetTokens(HeaderId id) const {
  std::vector<std::string_view> out;
  for (const Header& h : headers_) {
    if (h.id != id) continue;
    absl::StatusOr<std::vector<std::string_view>> tokens = ParseTokenList(h.value);
    if (!tokens.ok()) return tokens.status();
    out.insert(out.end(), tokens->begin(), tokens->end());
  }
  return out;
}

absl::StatusOr<std::vector<AuthValue>> SipMessage::GetAuth(HeaderId id) const {
  std::vector<AuthValue> out;
  for (const Header& h : headers_) {
    if (h.id != id) continue;
    absl::StatusOr<AuthValue> value = ParseAuthValue(h.value);
    if (!value.ok()) return value.status();
    out.push_back(std::move(*value));
  }
  if (out.empty()) return absl::NotFoundError("no credentials/challenge");
  return out;
}

// ---- Mutation ----

std::string_view SipMessage::Own(std::string_view text) {
  owned_.emplace_back(text);
  return owned_.back();
}

absl::Status SipMessage::ValidateAndReindex(std::vector<Header> previous) {
  absl::Status status = Reindex();
  if (status.ok()) return status;
  headers_ = std::move(previous);
  absl::Status restored = Reindex();
  (void)restored;  // the previous state was indexed before: it indexes again
  return status;
}

std::string_view SipMessage::OwnedHeaderName(std::string_view name, HeaderId* id) {
  *id = LookupHeader(name);
  if (*id != HeaderId::kOther) return HeaderName(*id);  // static storage
  return Own(name);
}

absl::Status SipMessage::InsertHeader(HeaderId id, std::string_view name, std::string_view value,
                                      bool front) {
  if (!ValidHeaderValueText(value)) return Bad("CR/LF in header value");
  Header header{id, name, Own(Trim(value))};
  std::vector<Header> previous = headers_;
  auto same = [&](const Header& h) {
    return h.id == id &&
           (id != HeaderId::kOther || absl::EqualsIgnoreCase(ToAbsl(h.name), ToAbsl(name)));
  };
  if (front) {
    auto it = std::find_if(headers_.begin(), headers_.end(), same);
    headers_.insert(it == headers_.end() ? headers_.begin() : it, header);
  } else {
    auto it = std::find_if(headers_.rbegin(), headers_.rend(), same);
    headers_.insert(it == headers_.rend() ? headers_.end() : it.base(), header);
  }
  return ValidateAndReindex(std::move(previous));
}

absl::Status SipMessage::PrependHeader(HeaderId id, std::string_view value) {
  if (id == HeaderId::kOther || id == HeaderId::kCount) return Bad("use the name overload");
  return InsertHeader(id, HeaderName(id), value, /*front=*/true);
}

absl::Status SipMessage::PrependHeader(std::string_view name, std::string_view value) {
  if (!IsToken(name)) return Bad("bad header name");
  HeaderId id;
  std::string_view owned = OwnedHeaderName(name, &id);
  return InsertHeader(id, owned, value, /*front=*/true);
}

absl::Status SipMessage::AppendHeader(HeaderId id, std::string_view value) {
  if (id == HeaderId::kOther || id == HeaderId::kCount) return Bad("use the name overload");
  return InsertHeader(id, HeaderName(id), value, /*front=*/false);
}

absl::Status SipMessage::AppendHeader(std::string_view name, std::string_view value) {
  if (!IsToken(name)) return Bad("bad header name");
  HeaderId id;
  std::string_view owned = OwnedHeaderName(name, &id);
  return InsertHeader(id, owned, value, /*front=*/false);
}

size_t SipMessage::RemoveHeaders(HeaderId id) {
  if (id == HeaderId::kOther) return 0;
  size_t before = headers_.size();
  std::erase_if(headers_, [id](const Header& h) { return h.id == id; });
  size_t removed = before - headers_.size();
  if (removed > 0) (void)Reindex();  // removing lines never makes the rest invalid
  return removed;
}

size_t SipMessage::RemoveHeaders(std::string_view name) {
  HeaderId id = LookupHeader(name);
  if (id != HeaderId::kOther) return RemoveHeaders(id);
  size_t before = headers_.size();
  std::erase_if(headers_, [name](const Header& h) {
    return h.id == HeaderId::kOther && absl::EqualsIgnoreCase(ToAbsl(h.name), ToAbsl(name));
  });
  return before - headers_.size();
}

absl::Status SipMessage::SetHeader(HeaderId id, std::string_view value) {
  if (id == HeaderId::kOther || id == HeaderId::kCount) return Bad("use the name overload");
  if (!ValidHeaderValueText(value)) return Bad("CR/LF in header value");
  std::vector<Header> previous = headers_;
  Header header{id, HeaderName(id), Own(Trim(value))};
  auto first =
      std::find_if(headers_.begin(), headers_.end(), [id](const Header& h) { return h.id == id; });
  if (first == headers_.end()) {
    headers_.push_back(header);
  } else {
    *first = header;
    auto rest =
        std::remove_if(first + 1, headers_.end(), [id](const Header& h) { return h.id == id; });
    headers_.erase(rest, headers_.end());
  }
  return ValidateAndReindex(std::move(previous));
}

absl::Status SipMessage::SetHeader(std::string_view name, std::string_view value) {
  HeaderId id = LookupHeader(name);
  if (id != HeaderId::kOther) return SetHeader(id, value);
  if (!IsToken(name)) return Bad("bad header name");
  if (!ValidHeaderValueText(value)) return Bad("CR/LF in header value");
  RemoveHeaders(name);
  headers_.push_back(Header{HeaderId::kOther, Own(name), Own(Trim(value))});
  return absl::OkStatus();
}

absl::Status SipMessage::SetRequestUri(std::string_view text) {
  if (!is_request_) return absl::FailedPreconditionError("not a request");
  absl::StatusOr<Uri> probe = Uri::Parse(text);
  if (!probe.ok()) return probe.status();
  if (probe->is_sip() && !probe->headers().empty()) return Bad("headers in Request-URI");
  request_uri_text_ = Own(text);
  request_uri_ = *Uri::Parse(request_uri_text_);
  return absl::OkStatus();
}

absl::Status SipMessage::SetStatus(int code, std::string_view reason) {
  if (is_request_) return absl::FailedPreconditionError("not a response");
  if (code < 100 || code > 699) return Bad("status code out of range");
  if (!ValidHeaderValueText(reason)) return Bad("CR/LF in reason phrase");
  status_code_ = code;
  reason_ = reason.empty() ? DefaultReason(code) : Own(reason);
  return absl::OkStatus();
}

absl::Status SipMessage::PushVia(std::string_view value) {
  absl::StatusOr<Via> via = ParseVia(value);  // one value, not a list
  if (!via.ok()) return via.status();
  return PrependHeader(HeaderId::kVia, value);
}

namespace {

// Removes the first comma-list element of the first `id` line; erases the line if it was alone.
bool RemoveFirstListValue(std::vector<Header>& headers, HeaderId id) {
  auto it =
      std::find_if(headers.begin(), headers.end(), [id](const Header& h) { return h.id == id; });
  if (it == headers.end()) return false;
  std::vector<std::string_view> items;
  if (!SplitCommaList(it->value, &items).ok() || items.size() <= 1) {
    headers.erase(it);
    return true;
  }
  // The remainder is a suffix of the same value: no copy needed.
  const char* rest = items[1].data();
  it->value = std::string_view(rest, it->value.data() + it->value.size() - rest);
  return true;
}

}  // namespace

bool SipMessage::PopVia() {
  if (!RemoveFirstListValue(headers_, HeaderId::kVia)) return false;
  (void)Reindex();
  return true;
}

bool SipMessage::RemoveFirstRoute() {
  if (!RemoveFirstListValue(headers_, HeaderId::kRoute)) return false;
  (void)Reindex();
  return true;
}

void SipMessage::SetMaxForwards(int value) {
  value = std::clamp(value, 0, 255);
  (void)SetHeader(HeaderId::kMaxForwards, std::to_string(value));
}

absl::Status SipMessage::SetToTag(std::string_view tag) {
  if (!IsToken(tag)) return Bad("bad tag");
  if (to_.uri_text.empty()) return absl::FailedPreconditionError("no To header");
  std::string value;
  if (to_.Param("tag").has_value()) {
    // Rebuild canonically with the tag replaced (covers a valueless ";tag" too).
    NameAddr updated = to_;
    for (GenericParam& p : updated.params) {
      if (absl::EqualsIgnoreCase(ToAbsl(p.name), "tag")) {
        p.value = tag;
        p.has_value = true;
      }
    }
    value = updated.ToString();
  } else {
    value.append(to_.raw).append(";tag=").append(tag);
  }
  return SetHeader(HeaderId::kTo, value);
}

void SipMessage::SetBody(std::string_view content_type, std::string_view body) {
  body_ = body.empty() ? std::string_view() : Own(body);
  if (content_type.empty() || !ValidHeaderValueText(content_type)) {
    RemoveHeaders(HeaderId::kContentType);
  } else {
    (void)SetHeader(HeaderId::kContentType, content_type);
  }
  (void)SetHeader(HeaderId::kContentLength, std::to_string(body_.size()));
}

// ---- Serialization ----

void SipMessage::SerializeTo(std::string* out) const {
  size_t estimate = 64 + body_.size();
  for (const Header& h : headers_) estimate += h.name.size() + h.value.size() + 4;
  out->reserve(out->size() + estimate);
  if (is_request_) {
    out->append(method_text_).append(" ").append(request_uri_text_).append(" SIP/2.0\r\n");
  } else {
    char code[4] = {static_cast<char>('0' + status_code_ / 100),
                    static_cast<char>('0' + status_code_ / 10 % 10),
                    static_cast<char>('0' + status_code_ % 10), 0};
    out->append("SIP/2.0 ").append(code, 3).append(" ").append(reason_).append("\r\n");
  }
  // Content-Length is always last and always computed from the body (canonical form).
  for (const Header& h : headers_) {
    if (h.id == HeaderId::kContentLength) continue;
    std::string_view name = h.id == HeaderId::kOther ? h.name : HeaderName(h.id);
    out->append(name).append(": ").append(h.value).append("\r\n");
  }
  out->append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n");
  out->append("\r\n").append(body_);
}

std::string SipMessage::Serialize() const {
  std::string out;
  SerializeTo(&out);
  return out;
}

SipMessage SipMessage::Clone() const {
  SipMessage copy;
  copy.buffer_ = std::make_unique<std::string>(buffer_ ? *buffer_ : std::string());
  copy.owned_ = owned_;
  const char* old_begin = buffer_ ? buffer_->data() : nullptr;
  const size_t old_size = buffer_ ? buffer_->size() : 0;
  // Points a view of this message at the same bytes in the copy's storage.
  auto rebase = [&](std::string_view v) -> std::string_view {
    if (v.empty()) return {};
    if (old_begin != nullptr && v.data() >= old_begin &&
        v.data() + v.size() <= old_begin + old_size) {
      return std::string_view(copy.buffer_->data() + (v.data() - old_begin), v.size());
    }
    for (size_t i = 0; i < owned_.size(); ++i) {
      const std::string& s = owned_[i];
      if (v.data() >= s.data() && v.data() + v.size() <= s.data() + s.size()) {
        return std::string_view(copy.owned_[i].data() + (v.data() - s.data()), v.size());
      }
    }
    return v;  // static storage (canonical header names, default reasons)
  };
  copy.is_request_ = is_request_;
  copy.method_ = method_;
  copy.method_text_ = rebase(method_text_);
  copy.request_uri_text_ = rebase(request_uri_text_);
  if (is_request_) {
    absl::StatusOr<Uri> uri = Uri::Parse(copy.request_uri_text_);
    if (uri.ok()) copy.request_uri_ = *uri;
  }
  copy.status_code_ = status_code_;
  copy.reason_ = rebase(reason_);
  copy.headers_.reserve(headers_.size());
  for (const Header& h : headers_) {
    copy.headers_.push_back(Header{h.id, rebase(h.name), rebase(h.value)});
  }
  copy.body_ = rebase(body_);
  (void)copy.Reindex();  // same text as ours, which indexed
  return copy;
}

// ---- Responses ----

SipMessage MakeResponse(const SipMessage& request, int code, std::string_view reason,
                        std::string_view to_tag) {
  if (code < 100 || code > 699) code = 500;
  std::string text = "SIP/2.0 ";
  text.append(std::to_string(code)).append(" ");
  std::string_view phrase = reason.empty() ? DefaultReason(code) : reason;
  for (char c : phrase) {
    if (c != '\r' && c != '\n') text.push_back(c);
  }
  text.append("\r\n");
  for (const Header& h : request.headers()) {
    bool copy = h.id == HeaderId::kVia || h.id == HeaderId::kFrom || h.id == HeaderId::kCallId ||
                h.id == HeaderId::kCSeq || (code == 100 && h.id == HeaderId::kTimestamp);
    if (h.id == HeaderId::kTo) {
      text.append("To: ").append(h.value);
      if (code != 100 && !to_tag.empty() && !request.to().Param("tag").has_value()) {
        std::string tag;
        for (char c : to_tag) {
          if (IsTokenChar(c)) tag.push_back(c);
        }
        if (!tag.empty()) text.append(";tag=").append(tag);
      }
      text.append("\r\n");
    } else if (copy) {
      text.append(HeaderName(h.id)).append(": ").append(h.value).append("\r\n");
    }
  }
  text.append("Content-Length: 0\r\n\r\n");
  SipMessage response;
  ParseLimits unlimited{std::numeric_limits<size_t>::max(), std::numeric_limits<size_t>::max(),
                        std::numeric_limits<size_t>::max()};
  response.buffer_ = std::make_unique<std::string>(std::move(text));
  if (!response.ParseInternal(unlimited).ok()) {
    // Only reachable when the request itself was mutated into something unparsable: answer with
    // a bare status line rather than nothing.
    SipMessage bare;
    bare.buffer_ = std::make_unique<std::string>("SIP/2.0 500 Server Internal Error\r\n\r\n");
    (void)bare.ParseInternal(unlimited);
    return bare;
  }
  return response;
}

}  // namespace causeway::sip
