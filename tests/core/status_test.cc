#include "core/status.h"
#include "core/strings.h"

#include "gtest/gtest.h"

namespace causeway {
namespace {

TEST(SipError, CarriesCodeAsPayload) {
  absl::Status status = SipError(413, "message too large");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromAbsl(status.message()), "message too large");
  ASSERT_TRUE(SipCodeOf(status).has_value());
  EXPECT_EQ(*SipCodeOf(status), 413);
}

TEST(SipError, PlainStatusHasNoCode) {
  EXPECT_FALSE(SipCodeOf(absl::InvalidArgumentError("x")).has_value());
  EXPECT_FALSE(SipCodeOf(absl::OkStatus()).has_value());
}

}  // namespace
}  // namespace causeway
