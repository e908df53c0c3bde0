#include "sip/codec/stream_framer.h"

#include <optional>

#include "core/status.h"
#include "sip/codec/scan.h"

namespace causeway::sip {
namespace {

FrameResult Error(int code, std::string_view what) {
  FrameResult r;
  r.kind = FrameResult::Kind::kError;
  r.status = SipError(code, what);
  return r;
}

FrameResult Result(FrameResult::Kind kind, size_t length) {
  FrameResult r;
  r.kind = kind;
  r.length = length;
  return r;
}

}  // namespace

FrameResult FrameStream(std::string_view buffered, const ParseLimits& limits, bool awaiting_pong) {
  using Kind = FrameResult::Kind;
  if (buffered.empty()) return Result(Kind::kNeedMore, 0);
  // RFC 5626 §3.5.1 keepalives: CRLFCRLF ping, CRLF pong.
  if (buffered[0] == '\r' || buffered[0] == '\n') {
    if (buffered.size() >= 4 && buffered.substr(0, 4) == "\r\n\r\n") {
      return Result(Kind::kKeepalive, 4);
    }
    if (buffered[0] == '\n') return Result(Kind::kKeepalive, 1);  // stray LF: drop it
    if (buffered.size() < 2) return Result(Kind::kNeedMore, 0);
    if (buffered[1] != '\n') return Error(400, "bare CR on stream");
    if (awaiting_pong) return Result(Kind::kKeepalive, 2);
    if (buffered.size() == 2 || (buffered.size() == 3 && buffered[2] == '\r')) {
      return Result(Kind::kNeedMore, 0);
    }
    return Result(Kind::kKeepalive, 2);
  }
  // A start line begins with a method token or "SIP/": anything else is garbage.
  if (!scan::IsTokenByte(buffered[0])) return Error(400, "garbage on stream");

  // Walk complete lines of the header section, enforcing the limits as we go.
  size_t header_limit = limits.max_message_bytes;
  size_t pos = 0;
  size_t lines = 0;
  size_t logical_start = 0;  // start of the current logical header line (for folding)
  std::optional<size_t> content_length;
  bool pending_length = false;  // the logical line being read is a Content-Length
  size_t length_value_start = 0;
  auto finish_length = [&](size_t logical_end) -> std::optional<FrameResult> {
    if (!pending_length) return std::nullopt;
    pending_length = false;
    std::string_view value = scan::Trim(buffered.substr(length_value_start,
                                                        logical_end - length_value_start));
    std::optional<uint64_t> n = scan::ParseDecimal(value, 0xffffffffULL);
    if (!n) return Error(400, "bad Content-Length");
    if (content_length) return Error(400, "multiple Content-Length headers");
    if (*n > limits.max_message_bytes) return Error(413, "body too large");
    content_length = static_cast<size_t>(*n);
    return std::nullopt;
  };
  while (true) {
    size_t nl = buffered.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (buffered.size() - pos > limits.max_header_line ||
          buffered.size() - logical_start > limits.max_header_line) {
        return Error(513, "header line too long");
      }
      if (buffered.size() > header_limit) return Error(513, "header section too large");
      return Result(Kind::kNeedMore, 0);
    }
    size_t line_end = (nl > pos && buffered[nl - 1] == '\r') ? nl - 1 : nl;
    bool empty = line_end == pos;
    bool continuation = !empty && lines > 0 && (buffered[pos] == ' ' || buffered[pos] == '\t');
    if (!continuation) {
      // A new logical line ends the previous one.
      if (std::optional<FrameResult> error = finish_length(pos)) return *error;
      logical_start = pos;
    }
    if (line_end - logical_start > limits.max_header_line) {
      return Error(513, "header line too long");
    }
    if (empty) {
      if (lines == 0) return Error(400, "empty start line");
      size_t header_bytes = nl + 1;
      if (!content_length) {
        return Error(400, "Content-Length required on stream transports");  // RFC 3261 §18.3
      }
      if (header_bytes + *content_length > limits.max_message_bytes) {
        return Error(513, "message too large");
      }
      size_t total = header_bytes + *content_length;
      if (buffered.size() < total) return Result(Kind::kNeedMore, 0);
      return Result(Kind::kMessage, total);
    }
    if (!continuation) {
      ++lines;
      if (lines > limits.max_headers + 1) return Error(513, "too many headers");
      if (lines > 1) {
        std::string_view line = buffered.substr(pos, line_end - pos);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return Error(400, "header line without ':'");
        if (LookupHeader(scan::TrimRight(line.substr(0, colon))) == HeaderId::kContentLength) {
          pending_length = true;
          length_value_start = pos + colon + 1;
        }
      }
    }
    pos = nl + 1;
    if (pos > header_limit) return Error(513, "header section too large");
  }
}

}  // namespace causeway::sip
