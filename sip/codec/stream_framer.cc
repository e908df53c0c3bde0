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

namespace {

FrameResult Frame(std::string_view buffered, const ParseLimits& limits, bool awaiting_pong,
                  StreamFramer::ScanState& st) {
  using Kind = FrameResult::Kind;
  if (buffered.empty()) return Result(Kind::kNeedMore, 0);
  if (st.pos == 0) {
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
  }

  // Walk complete lines of the header section, enforcing the limits as we go.
  const size_t header_limit = limits.max_message_bytes;
  auto finish_length = [&](size_t logical_end) -> std::optional<FrameResult> {
    if (!st.pending_length) return std::nullopt;
    st.pending_length = false;
    std::string_view value =
        scan::Trim(buffered.substr(st.length_value_start, logical_end - st.length_value_start));
    std::optional<uint64_t> n = scan::ParseDecimal(value, 0xffffffffULL);
    if (!n) return Error(400, "bad Content-Length");
    if (st.has_content_length) return Error(400, "multiple Content-Length headers");
    if (*n > limits.max_message_bytes) return Error(413, "body too large");
    st.content_length = static_cast<size_t>(*n);
    st.has_content_length = true;
    return std::nullopt;
  };
  while (true) {
    size_t pos = st.pos;
    size_t nl = buffered.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (buffered.size() - pos > limits.max_header_line ||
          buffered.size() - st.logical_start > limits.max_header_line) {
        return Error(513, "header line too long");
      }
      if (buffered.size() > header_limit) return Error(513, "header section too large");
      return Result(Kind::kNeedMore, 0);
    }
    size_t line_end = (nl > pos && buffered[nl - 1] == '\r') ? nl - 1 : nl;
    bool empty = line_end == pos;
    bool continuation = !empty && st.lines > 0 && (buffered[pos] == ' ' || buffered[pos] == '\t');
    // A line that could still be continued is only judged once its successor's first byte is in.
    if (!continuation) {
      if (std::optional<FrameResult> error = finish_length(pos)) return *error;
      st.logical_start = pos;
    }
    if (line_end - st.logical_start > limits.max_header_line) {
      return Error(513, "header line too long");
    }
    if (empty) {
      if (st.lines == 0) return Error(400, "empty start line");
      size_t header_bytes = nl + 1;
      if (!st.has_content_length) {
        return Error(400, "Content-Length required on stream transports");  // RFC 3261 §18.3
      }
      if (header_bytes + st.content_length > limits.max_message_bytes) {
        return Error(513, "message too large");
      }
      size_t total = header_bytes + st.content_length;
      if (buffered.size() < total) return Result(Kind::kNeedMore, 0);  // state kept: body only
      return Result(Kind::kMessage, total);
    }
    if (!continuation) {
      ++st.lines;
      if (st.lines > limits.max_headers + 1) return Error(513, "too many headers");
      if (st.lines > 1) {
        std::string_view line = buffered.substr(pos, line_end - pos);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return Error(400, "header line without ':'");
        if (LookupHeader(scan::TrimRight(line.substr(0, colon))) == HeaderId::kContentLength) {
          st.pending_length = true;
          st.length_value_start = pos + colon + 1;
        }
      }
    }
    st.pos = nl + 1;
    if (st.pos > header_limit) return Error(513, "header section too large");
  }
}

}  // namespace

FrameResult FrameStream(std::string_view buffered, const ParseLimits& limits, bool awaiting_pong) {
  StreamFramer::ScanState state;
  return Frame(buffered, limits, awaiting_pong, state);
}

FrameResult StreamFramer::Next(std::string_view buffered, bool awaiting_pong) {
  if (buffered.size() < state_.pos) state_ = ScanState();  // contract broken: start over safely
  FrameResult r = Frame(buffered, limits_, awaiting_pong, state_);
  if (!r.need_more()) state_ = ScanState();
  return r;
}

}  // namespace causeway::sip
