#include "core/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace causeway {
namespace {

TEST(Utf8, SequenceLengthsAtEveryBoundary) {
  struct Case {
    std::string bytes;
    size_t length;
  };
  const Case cases[] = {
      {"a", 1},
      {"\x7f", 1},
      {"\xc2\x80", 2},          // U+0080, the first two-byte character
      {"\xc1\xbf", 0},          // overlong U+007F
      {"\xdf\xbf", 2},          // U+07FF
      {"\xe0\xa0\x80", 3},      // U+0800
      {"\xe0\x9f\xbf", 0},      // overlong U+07FF
      {"\xed\x9f\xbf", 3},      // U+D7FF
      {"\xed\xa0\x80", 0},      // U+D800, a surrogate
      {"\xef\xbf\xbf", 3},      // U+FFFF (valid UTF-8; XML refuses it separately)
      {"\xf0\x90\x80\x80", 4},  // U+10000
      {"\xf0\x8f\xbf\xbf", 0},  // overlong U+FFFF
      {"\xf4\x8f\xbf\xbf", 4},  // U+10FFFF
      {"\xf4\x90\x80\x80", 0},  // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},
      {"\x80", 0},              // a lone continuation byte
      {"\xe2\x82", 0},          // truncated
      {"\xc3(", 0},             // continuation missing
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Utf8SequenceLength(c.bytes, 0), c.length) << testing::PrintToString(c.bytes);
  }
}

TEST(Utf8, WholeStrings) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII"));
  EXPECT_TRUE(IsValidUtf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("ok then \xff"));
  EXPECT_FALSE(IsValidUtf8("\xe2\x82\xac\xe2\x82"));  // a valid character, then a truncated one
  EXPECT_FALSE(IsValidUtf8(std::string("nul \0 then \xc0\x80", 13)));
  EXPECT_TRUE(IsValidUtf8(std::string("nul \0 is a character", 21)));
}

}  // namespace
}  // namespace causeway
