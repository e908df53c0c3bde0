#include "media/io/stream_framer.h"

#include <cstdint>

#include "media/msturn/msturn_message.h"
#include "media/stun/stun_message.h"

namespace causeway::media::io {
namespace {

uint16_t Read16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) << 8 | static_cast<uint8_t>(b[at + 1]));
}

}  // namespace

StreamDialect DetectStreamDialect(std::string_view first_bytes) {
  if (first_bytes.empty()) return StreamDialect::kUnknown;
  const uint8_t type = static_cast<uint8_t>(first_bytes[0]);
  if (type != static_cast<uint8_t>(msturn::TcpFrameType::kControl) &&
      type != static_cast<uint8_t>(msturn::TcpFrameType::kData)) {
    return StreamDialect::kTurn;
  }
  if (first_bytes.size() < 2) return StreamDialect::kUnknown;
  return first_bytes[1] == 0 ? StreamDialect::kMsTurn : StreamDialect::kTurn;
}

StreamFrame NextStreamFrame(std::string_view bytes, size_t max_frame_bytes,
                            StreamDialect dialect) {
  using Kind = StreamFrame::Kind;
  if (bytes.empty()) return {};
  if (dialect == StreamDialect::kMsTurn) {
    absl::StatusOr<msturn::TcpFrame> frame = msturn::ParseTcpFrame(bytes);
    if (frame.ok()) {
      if (frame->frame_bytes > max_frame_bytes) return {Kind::kInvalid, 0};
      return {Kind::kMsTurn, frame->frame_bytes};
    }
    if (!absl::IsUnavailable(frame.status())) return {Kind::kInvalid, 0};
    if (bytes.size() >= 4 && 4 + size_t{Read16(bytes, 2)} > max_frame_bytes) {
      return {Kind::kInvalid, 0};
    }
    return {};
  }
  const uint8_t top = static_cast<uint8_t>(bytes[0]) & 0xC0;
  if (top == 0x00) {
    if (bytes.size() < 4) return {};
    const size_t length = Read16(bytes, 2);
    const size_t total = stun::kHeaderBytes + length;
    if (length % 4 != 0 || total > max_frame_bytes) return {Kind::kInvalid, 0};
    if (bytes.size() < stun::kHeaderBytes) {
      // The cookie sits at bytes 4..7: reject a wrong one without waiting for the whole header.
      static constexpr uint8_t kCookie[4] = {0x21, 0x12, 0xA4, 0x42};
      for (size_t i = 4; i < bytes.size() && i < 8; ++i) {
        if (static_cast<uint8_t>(bytes[i]) != kCookie[i - 4]) return {Kind::kInvalid, 0};
      }
      return {};
    }
    if (!stun::LooksLikeStun(bytes)) return {Kind::kInvalid, 0};
    if (bytes.size() < total) return {};
    return {Kind::kStun, total};
  }
  if (top == 0x40) {
    if (bytes.size() < 4) return {};
    const uint16_t channel = Read16(bytes, 0);
    if (channel < stun::kMinChannel || channel > stun::kMaxChannel) return {Kind::kInvalid, 0};
    const size_t length = Read16(bytes, 2);
    const size_t total = 4 + ((length + 3) & ~size_t{3});
    if (total > max_frame_bytes) return {Kind::kInvalid, 0};
    if (bytes.size() < total) return {};
    // The codec's own framing decides the frame, so io and the relay logic agree on it.
    absl::StatusOr<stun::ChannelData> frame = stun::ParseChannelData(bytes, stun::Framing::kStream);
    if (!frame.ok()) return {Kind::kInvalid, 0};
    return {Kind::kChannelData, frame->frame_bytes};
  }
  return {Kind::kInvalid, 0};
}

}  // namespace causeway::media::io
