// FrameStream: message boundaries on TCP/TLS, keepalives (RFC 5626), limits before completion.

#include "sip/codec/stream_framer.h"

#include <string>
#include <vector>

#include "core/status.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"

namespace causeway::sip {
namespace {

std::string Message(std::string_view call_id, std::string_view body) {
  std::string m =
      "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
      "From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: ";
  m.append(call_id).append("\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nl: ");
  m.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return m;
}

// Feeds `stream` in chunks of `chunk` bytes like a transport would, collecting what it frames.
struct Collected {
  std::vector<std::string> messages;
  int pings = 0;
  int pongs = 0;
  std::optional<int> error;
};

Collected Feed(const std::string& stream, size_t chunk, const ParseLimits& limits = {},
               StreamFramer* framer = nullptr) {
  Collected out;
  std::string buffer;
  size_t offset = 0;
  // Each iteration either consumes bytes or appends one more chunk: bounded by 2x stream size.
  for (size_t guard = 0; guard < 2 * stream.size() + 8; ++guard) {
    FrameResult r = framer != nullptr ? framer->Next(buffer) : FrameStream(buffer, limits);
    if (r.is_error()) {
      out.error = SipCodeOf(r.status);
      return out;
    }
    if (r.is_message()) {
      out.messages.push_back(buffer.substr(0, r.length));
      buffer.erase(0, r.length);
      continue;
    }
    if (r.is_keepalive()) {
      (r.length == 4 ? out.pings : out.pongs)++;
      buffer.erase(0, r.length);
      continue;
    }
    if (offset >= stream.size()) break;  // need more, and nothing left
    buffer.append(stream, offset, chunk);
    offset += chunk;
  }
  return out;
}

TEST(StreamFramerTest, WholeMessagesAndKeepalivesAtAnySplit) {
  std::string a = Message("one", "hello");
  std::string b = Message("two", "");
  std::string c = Message("three", std::string(1000, 'z'));
  std::string stream = "\r\n\r\n" + a + b + "\r\n\r\n" + c + "\r\nX";
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, stream.size()}) {
    Collected got = Feed(stream, chunk);
    ASSERT_EQ(got.messages.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(got.messages[0], a);
    EXPECT_EQ(got.messages[1], b);
    EXPECT_EQ(got.messages[2], c);
    EXPECT_EQ(got.pings, 2) << "chunk " << chunk;
    EXPECT_EQ(got.pongs, 1) << "chunk " << chunk;  // "\r\n" followed by 'X'
    for (const std::string& m : got.messages) {
      EXPECT_TRUE(SipMessage::Parse(m).ok());
    }
  }
}

TEST(StreamFramerTest, IncrementalFramerMatchesStateless) {
  std::string a = Message("one", "hello");
  std::string folded = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 2\r\nX: y\r\n\r\nhi";
  std::string b = Message("two", std::string(300, 'q'));
  std::string stream = a + "\r\n\r\n" + folded + b;
  for (size_t chunk : {size_t{1}, size_t{5}, size_t{100}}) {
    StreamFramer framer;
    Collected incremental = Feed(stream, chunk, {}, &framer);
    Collected stateless = Feed(stream, chunk);
    ASSERT_EQ(incremental.messages.size(), 3u) << chunk;
    EXPECT_EQ(incremental.messages, stateless.messages);
    EXPECT_EQ(incremental.messages[1], folded);
    EXPECT_EQ(incremental.pings, 1);
    EXPECT_FALSE(incremental.error.has_value());
  }
  // Errors are reported the same way, and the framer starts over afterwards.
  ParseLimits limits;
  limits.max_header_line = 50;
  StreamFramer framer(limits);
  Collected got =
      Feed("INVITE sip:a@b SIP/2.0\r\nX: " + std::string(100, 'a') + "\r\n", 1, limits, &framer);
  EXPECT_EQ(got.error, 513);
  EXPECT_TRUE(framer.Next("\r\n\r\n").is_keepalive());
}

TEST(StreamFramerTest, KeepaliveEdges) {
  EXPECT_TRUE(FrameStream("").need_more());
  EXPECT_TRUE(FrameStream("\r").need_more());
  EXPECT_TRUE(FrameStream("\r\n").need_more());  // may still become a ping
  EXPECT_TRUE(FrameStream("\r\n\r").need_more());
  FrameResult pong = FrameStream("\r\n", {}, /*awaiting_pong=*/true);
  EXPECT_TRUE(pong.is_keepalive());
  EXPECT_EQ(pong.length, 2u);
  FrameResult ping = FrameStream("\r\n\r\nINVITE");
  EXPECT_TRUE(ping.is_keepalive());
  EXPECT_EQ(ping.length, 4u);
  EXPECT_EQ(FrameStream("\r\nOPTIONS").length, 2u);
  EXPECT_EQ(FrameStream("\nOPTIONS").length, 1u);
  EXPECT_TRUE(FrameStream("\rX").is_error());
}

TEST(StreamFramerTest, RequiresContentLength) {
  std::string m = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
  FrameResult r = FrameStream(m);
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 400);
  r = FrameStream("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 400);
  r = FrameStream("OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx");
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 400);
  r = FrameStream("OPTIONS sip:a@b SIP/2.0\r\nContent-Length  :\r\n  3\r\n\r\nabc");
  ASSERT_TRUE(r.is_message());  // folded value
  EXPECT_EQ(r.length, 54u);
  r = FrameStream("\x01garbage");
  ASSERT_TRUE(r.is_error());
  r = FrameStream("OPTIONS sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n");
  ASSERT_TRUE(r.is_error());
}

TEST(StreamFramerTest, LimitsFailBeforeTheMessageIsComplete) {
  ParseLimits limits;
  limits.max_message_bytes = 2000;
  limits.max_header_line = 100;
  limits.max_headers = 5;
  // A declared body beyond the limit fails as soon as the header section is in.
  FrameResult r = FrameStream("INVITE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n", limits);
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 413);
  r = FrameStream(
      "INVITE sip:a@b SIP/2.0\r\nX: " + std::string(1990, 'a') + "\r\nContent-Length: 50\r\n\r\n",
      limits);
  ASSERT_TRUE(r.is_error());
  // An endless header line fails without its end ever arriving.
  r = FrameStream("INVITE sip:a@b SIP/2.0\r\nX: " + std::string(200, 'a'), limits);
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 513);
  r = FrameStream(std::string(150, 'A'), limits);  // no line end at all
  ASSERT_TRUE(r.is_error());
  // Endless folding counts as one line.
  std::string folded = "INVITE sip:a@b SIP/2.0\r\nX: a\r\n";
  for (int i = 0; i < 30; ++i) folded += " more\r\n";
  r = FrameStream(folded, limits);
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 513);
  std::string many = "INVITE sip:a@b SIP/2.0\r\n";
  for (int i = 0; i < 7; ++i) many += "X: 1\r\n";
  r = FrameStream(many, limits);
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(SipCodeOf(r.status), 513);
  // Within limits but incomplete: need more, never an error.
  EXPECT_TRUE(
      FrameStream("INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc", limits).need_more());
}

}  // namespace
}  // namespace causeway::sip
