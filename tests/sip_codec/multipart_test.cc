// multipart/* bodies (RFC 2046 §5.1) as Lync sends them.

#include "sip/codec/multipart.h"

#include <string>

#include "core/status.h"
#include "gtest/gtest.h"

namespace causeway::sip {
namespace {

TEST(MultipartTest, LyncAlternative) {
  std::string body =
      "preamble to ignore\r\n"
      "------=_NextPart_000_0001\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Transfer-Encoding: 7bit\r\n"
      "Content-Disposition: session; handling=optional; ms-proxy-2007fallback\r\n"
      "\r\n"
      "v=0\r\no=- 0 1 IN IP4 10.0.0.1\r\n"
      "\r\n"
      "------=_NextPart_000_0001\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Disposition: session; handling=optional\r\n"
      "\r\n"
      "v=0\r\n"
      "------=_NextPart_000_0001--\r\n"
      "epilogue";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipartBody("multipart/alternative;boundary=\"----=_NextPart_000_0001\"", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].content_type(), "application/sdp");
  EXPECT_EQ((*parts)[0].headers.size(), 3u);
  EXPECT_EQ((*parts)[0].body, "v=0\r\no=- 0 1 IN IP4 10.0.0.1\r\n");
  EXPECT_EQ((*parts)[1].body, "v=0");
}

TEST(MultipartTest, RelatedWithoutPartHeadersAndLfOnly) {
  std::string body = "--b1\n\nfirst\n--b1\nContent-ID: <x@y>\n\nsecond\n--b1--\n";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipartBody("Multipart/Related; type=\"application/sdp\"; boundary=b1", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_TRUE((*parts)[0].headers.empty());
  EXPECT_EQ((*parts)[0].body, "first");
  EXPECT_EQ((*parts)[1].headers[0].name, "Content-ID");
  EXPECT_EQ((*parts)[1].body, "second");
}

TEST(MultipartTest, BoundaryLookalikesInsideContentAreNotDelimiters) {
  std::string body = "--abc\r\n\r\nline --abc inside\r\n--abcdef not a delimiter\r\n--abc--";
  absl::StatusOr<std::vector<MultipartPart>> parts = ParseMultipart(body, "abc");
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "line --abc inside\r\n--abcdef not a delimiter");
}

TEST(MultipartTest, Errors) {
  EXPECT_FALSE(ParseMultipart("--a\r\n\r\nx\r\n", "a").ok());  // no close delimiter
  EXPECT_FALSE(ParseMultipart("no delimiter", "a").ok());
  EXPECT_FALSE(ParseMultipart("--a\r\n\r\nx\r\n--a--", "").ok());
  EXPECT_FALSE(ParseMultipart("--ajunk\r\n", "a").ok());
  EXPECT_FALSE(ParseMultipart("--a\r\nBad Header\r\n\r\nx\r\n--a--", "a").ok());
  EXPECT_EQ(SipCodeOf(ParseMultipartBody("text/plain", "x").status()), 415);
  EXPECT_FALSE(ParseMultipartBody("multipart/mixed", "x").ok());
  MultipartLimits limits;
  limits.max_parts = 2;
  std::string three = "--a\r\n\r\n1\r\n--a\r\n\r\n2\r\n--a\r\n\r\n3\r\n--a--";
  EXPECT_TRUE(ParseMultipart(three, "a").ok());
  EXPECT_FALSE(ParseMultipart(three, "a", limits).ok());
}

}  // namespace
}  // namespace causeway::sip
