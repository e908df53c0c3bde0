#pragma once
// Message framing on stream transports (TCP/TLS, RFC 3261 §18.3): finds where the first message in
// the buffered bytes ends, using Content-Length, which streams require. Limits are enforced before
// a message is complete (an over-long header section or an over-size declared body fails at
// once), so a transport never buffers more than ParseLimits::max_message_bytes per connection.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "sip/codec/message.h"

namespace causeway::sip {

struct FrameResult {
  enum class Kind : uint8_t {
    kNeedMore,   // not enough bytes yet: read more and call again with the grown buffer
    kMessage,    // the first `length` bytes (headers + body) are one message: hand to Parse
    kKeepalive,  // the first `length` bytes are a keepalive: "\r\n\r\n" ping (length 4) or a
                 // "\r\n" pong (length 2), RFC 5626 §3.5.1. Consume them; answer a ping with a
                 // pong.
    kError,      // unrecoverable framing error: answer with SipCodeOf(status) if possible, close
  };
  Kind kind = Kind::kNeedMore;
  size_t length = 0;
  absl::Status status;  // kError only

  bool need_more() const { return kind == Kind::kNeedMore; }
  bool is_message() const { return kind == Kind::kMessage; }
  bool is_keepalive() const { return kind == Kind::kKeepalive; }
  bool is_error() const { return kind == Kind::kError; }
};

// Looks at the start of `buffered` only; call repeatedly, consuming `length` bytes each time.
// A ping is reported once all four bytes are there; "\r\n" followed by anything but "\r\n" is a
// pong. A bare "\r\n" at the end of the buffer could still become a ping, so it is kNeedMore
// unless `awaiting_pong` (the side that sent a ping sets it: then it is a pong at once).
// Errors: 400 (Content-Length missing/invalid/duplicated, garbage start), 413 (declared body too
// large), 513 (header section, a header line or the header count beyond the limits).
// Cost: a scan of the buffered header bytes per call (memchr speed), bounded by the limits.
FrameResult FrameStream(std::string_view buffered, const ParseLimits& limits = {},
                        bool awaiting_pong = false);

// The same framing for one connection, remembering how far the header section was scanned, so a
// peer trickling bytes costs O(total) instead of O(total^2). Contract: between calls the buffer
// only grows at its end, and after every result other than kNeedMore the caller consumes
// `length` bytes from its front (or closes, on kError) before calling again.
class StreamFramer {
 public:
  explicit StreamFramer(const ParseLimits& limits = {}) : limits_(limits) {}
  FrameResult Next(std::string_view buffered, bool awaiting_pong = false);

  struct ScanState {
    size_t pos = 0;            // start of the next line to look at
    size_t lines = 0;          // complete logical lines so far (start line included)
    size_t logical_start = 0;  // start of the current logical header line
    size_t content_length = 0;
    bool has_content_length = false;
    bool pending_length = false;  // the current logical line is a Content-Length
    size_t length_value_start = 0;
  };

 private:
  ParseLimits limits_;
  ScanState state_;
};

}  // namespace causeway::sip
