#pragma once
// TURN over TCP/TLS (RFC 8489 §6.2.2, RFC 8656 §12.5): a client's byte stream is a sequence of
// STUN messages (20-byte header, length field, no padding beyond the 4-byte attribute
// alignment) and ChannelData frames (4-byte header, padded to a multiple of 4 over streams). The
// first byte says which: top bits 00 = STUN, 01 = ChannelData (RFC 7983); anything else at a frame
// boundary is garbage and ends the connection. Pure function, no I/O: fuzzable and testable.

#include <cstddef>
#include <string_view>

namespace causeway::media::io {

struct StreamFrame {
  enum class Kind { kNeedMore, kStun, kChannelData, kInvalid };
  Kind kind = Kind::kNeedMore;
  size_t length = 0;  // bytes of the frame (ChannelData: padding included) when complete
};

// The frame at the start of `bytes`. kInvalid as early as the header proves it (bad first bits,
// bad magic cookie, STUN length not a multiple of 4, channel outside 0x4000..0x4FFF, a frame
// longer than `max_frame_bytes`); kNeedMore while the frame is incomplete.
StreamFrame NextStreamFrame(std::string_view bytes, size_t max_frame_bytes);

}  // namespace causeway::media::io
