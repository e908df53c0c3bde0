// media/io/stream_framer: RFC 8656 §12.5 framing of STUN and ChannelData over a byte stream,
// without sockets.
#include "media/io/stream_framer.h"

#include <string>

#include "gtest/gtest.h"
#include "media/stun/stun_message.h"

namespace causeway::media::io {
namespace {

using Kind = StreamFrame::Kind;
constexpr size_t kMax = 65536 + 4;

std::string Stun(std::string_view software) {
  stun::TransactionId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i + 1);
  stun::StunMessageBuilder b(stun::method::kBinding, stun::StunClass::kRequest, id);
  b.AddAttribute(stun::attr::kSoftware, software);
  auto m = std::move(b).Finish();
  EXPECT_TRUE(m.ok());
  return m.ok() ? *m : std::string();
}

std::string Channel(uint16_t channel, std::string_view data) {
  std::string out;
  stun::AppendChannelData(channel, data, stun::Framing::kStream, out);
  return out;
}

TEST(StreamFramer, StunMessageNeedsAllItsBytes) {
  std::string m = Stun("abcde");  // 5-byte value: the attribute is padded, the message aligned
  ASSERT_EQ(m.size() % 4, 0u);
  for (size_t n = 0; n < m.size(); ++n) {
    EXPECT_EQ(NextStreamFrame(std::string_view(m).substr(0, n), kMax).kind, Kind::kNeedMore) << n;
  }
  StreamFrame f = NextStreamFrame(m + "trailing", kMax);
  EXPECT_EQ(f.kind, Kind::kStun);
  EXPECT_EQ(f.length, m.size());
}

TEST(StreamFramer, ChannelDataIncludesItsPadding) {
  std::string frame = Channel(0x4001, "hello");  // 4 + 5 data + 3 padding
  ASSERT_EQ(frame.size(), 12u);
  EXPECT_EQ(NextStreamFrame(std::string_view(frame).substr(0, 9), kMax).kind, Kind::kNeedMore);
  EXPECT_EQ(NextStreamFrame(std::string_view(frame).substr(0, 11), kMax).kind, Kind::kNeedMore);
  StreamFrame f = NextStreamFrame(frame + Channel(0x4002, ""), kMax);
  EXPECT_EQ(f.kind, Kind::kChannelData);
  EXPECT_EQ(f.length, 12u);
  StreamFrame empty = NextStreamFrame(Channel(0x4FFF, ""), kMax);
  EXPECT_EQ(empty.kind, Kind::kChannelData);
  EXPECT_EQ(empty.length, 4u);
}

TEST(StreamFramer, GarbageIsInvalidAsSoonAsTheHeaderShowsIt) {
  // "GE" reads as channel 0x4745 (valid) with length "T " = 21536: nothing to reject until the
  // relay logic finds no such channel binding.
  EXPECT_EQ(NextStreamFrame("GET / HTTP/1.1\r\n", kMax).kind, Kind::kNeedMore);
  EXPECT_EQ(NextStreamFrame("\xC0GET", kMax).kind, Kind::kInvalid);  // top bits 11
  EXPECT_EQ(NextStreamFrame("\x80\x01\x00\x00", kMax).kind, Kind::kInvalid);  // top bits 10
  // A TLS ClientHello on the TCP port: STUN bits and a valid length, then no magic cookie.
  EXPECT_EQ(NextStreamFrame(std::string("\x16\x03\x01\x00", 4), kMax).kind, Kind::kNeedMore);
  EXPECT_EQ(NextStreamFrame(std::string("\x16\x03\x01\x00\x05", 5), kMax).kind, Kind::kInvalid);
  // STUN length not a multiple of 4.
  EXPECT_EQ(NextStreamFrame(std::string("\x00\x01\x00\x05", 4), kMax).kind, Kind::kInvalid);
  // Channel 0x5000: above RFC 8656's 0x4FFF, inside RFC 5766's 0x7FFF. Framed when the codec
  // accepts the old range (stun::kMaxChannel), invalid otherwise.
  EXPECT_EQ(NextStreamFrame(std::string("\x50\x00\x00\x04wxyz", 8), kMax).kind,
            stun::kMaxChannel >= 0x5000 ? Kind::kChannelData : Kind::kInvalid);
  // A whole header with a wrong cookie.
  std::string bad = Stun("x");
  bad[4] = 0x22;
  EXPECT_EQ(NextStreamFrame(bad, kMax).kind, Kind::kInvalid);
}

TEST(StreamFramer, FramesOverTheLimitAreInvalid) {
  std::string m = Stun(std::string(100, 'a'));
  EXPECT_EQ(NextStreamFrame(m, m.size()).kind, Kind::kStun);
  EXPECT_EQ(NextStreamFrame(std::string_view(m).substr(0, 4), m.size() - 4).kind, Kind::kInvalid);
  std::string c = Channel(0x4000, std::string(64, 'x'));
  EXPECT_EQ(NextStreamFrame(c, 68).kind, Kind::kChannelData);
  EXPECT_EQ(NextStreamFrame(std::string_view(c).substr(0, 4), 67).kind, Kind::kInvalid);
}

TEST(StreamFramer, TheFirstTwoBytesDecideTheDialect) {
  EXPECT_EQ(DetectStreamDialect(""), StreamDialect::kUnknown);
  EXPECT_EQ(DetectStreamDialect(std::string("\x02", 1)), StreamDialect::kUnknown);
  EXPECT_EQ(DetectStreamDialect(std::string("\x02\x00", 2)), StreamDialect::kMsTurn);
  EXPECT_EQ(DetectStreamDialect(std::string("\x03\x00", 2)), StreamDialect::kMsTurn);
  EXPECT_EQ(DetectStreamDialect(std::string("\x02\x01", 2)), StreamDialect::kTurn);
  EXPECT_EQ(DetectStreamDialect(std::string("\x00", 1)), StreamDialect::kTurn);  // STUN
  EXPECT_EQ(DetectStreamDialect(Channel(0x4000, "x")), StreamDialect::kTurn);
}

TEST(StreamFramer, MsTurnFramesIncludeTheirHeader) {
  // [MS-TURN] 2.1.4: type 0x02 control / 0x03 data, a zero byte, a 16-bit length.
  const std::string control = std::string("\x02\x00\x00\x05", 4) + "hello";
  const std::string data = std::string("\x03\x00\x00\x00", 4);
  const std::string both = control + data;
  for (size_t n = 0; n < control.size(); ++n) {
    EXPECT_EQ(NextStreamFrame(both.substr(0, n), kMax, StreamDialect::kMsTurn).kind,
              Kind::kNeedMore) << n;
  }
  StreamFrame f = NextStreamFrame(both, kMax, StreamDialect::kMsTurn);
  EXPECT_EQ(f.kind, Kind::kMsTurn);
  EXPECT_EQ(f.length, control.size());  // no padding in this dialect
  f = NextStreamFrame(data, kMax, StreamDialect::kMsTurn);
  EXPECT_EQ(f.kind, Kind::kMsTurn);
  EXPECT_EQ(f.length, 4u);
  // An RFC 8656 message inside an MS-TURN stream, or a bad reserved byte, ends it.
  EXPECT_EQ(NextStreamFrame(Stun("x"), kMax, StreamDialect::kMsTurn).kind, Kind::kInvalid);
  EXPECT_EQ(NextStreamFrame(std::string("\x02\x01\x00\x00", 4), kMax, StreamDialect::kMsTurn)
                .kind,
            Kind::kInvalid);
  EXPECT_EQ(NextStreamFrame(control, control.size() - 1, StreamDialect::kMsTurn).kind,
            Kind::kInvalid);
}

}  // namespace
}  // namespace causeway::media::io
