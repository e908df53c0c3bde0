#pragma once
// Network-order reads and writes and STUN's 4-byte padding: shared by the STUN and MS-TURN
// codecs (both TLV formats of the same family). Callers check bounds first.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace causeway::stun::wire {

inline uint16_t Read16(std::string_view bytes, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(bytes[at]) << 8) |
                               static_cast<uint8_t>(bytes[at + 1]));
}
inline uint32_t Read32(std::string_view bytes, size_t at) {
  return (uint32_t{Read16(bytes, at)} << 16) | Read16(bytes, at + 2);
}
inline void Append16(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value & 0xFF));
}
inline void Append32(std::string& out, uint32_t value) {
  Append16(out, static_cast<uint16_t>(value >> 16));
  Append16(out, static_cast<uint16_t>(value & 0xFFFF));
}
inline size_t Padded(size_t length) { return (length + 3) & ~size_t{3}; }

}  // namespace causeway::stun::wire
