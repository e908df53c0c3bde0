#pragma once
// TURN over TCP/TLS (RFC 8489 §6.2.2, RFC 8656 §12.5): a client's byte stream is a sequence of
// STUN messages (20-byte header, length field, no padding beyond the 4-byte attribute
// alignment) and ChannelData frames (4-byte header, padded to a multiple of 4 over streams). The
// first byte says which: top bits 00 = STUN, 01 = ChannelData (RFC 7983); anything else at a frame
// boundary is garbage and ends the connection. Pure function, no I/O: fuzzable and testable.
//
// MS-TURN ([MS-TURN] 2.1.4, Lync / Office Communicator) frames its TCP streams differently:
// every frame has a 4-byte header — type 0x02 (TURN control) or 0x03 (end-to-end data), a zero
// byte, a 16-bit length. A connection's first two bytes decide its dialect for good: 0x02 or
// 0x03 then 0x00 is MS-TURN (no RFC 8489 method has a message type 0x02xx or 0x03xx).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace causeway::media::io {

enum class StreamDialect : uint8_t { kUnknown, kTurn, kMsTurn };

// kUnknown until the first two bytes are there (or the first byte already rules MS-TURN out).
StreamDialect DetectStreamDialect(std::string_view first_bytes);

struct StreamFrame {
  enum class Kind { kNeedMore, kStun, kChannelData, kMsTurn, kInvalid };
  Kind kind = Kind::kNeedMore;
  size_t length = 0;  // bytes of the frame (ChannelData: padding included; MS-TURN: header)
};

// The frame at the start of `bytes`. kInvalid as early as the header proves it (bad first bits,
// bad magic cookie, STUN length not a multiple of 4, channel outside stun::kMinChannel..
// kMaxChannel, a frame longer than `max_frame_bytes`); kNeedMore while the frame is incomplete.
StreamFrame NextStreamFrame(std::string_view bytes, size_t max_frame_bytes,
                            StreamDialect dialect = StreamDialect::kTurn);

}  // namespace causeway::media::io
