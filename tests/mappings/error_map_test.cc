#include "mappings/error_map.h"

#include <string_view>
#include <utility>

#include "gtest/gtest.h"
#include "mappings/sip_im.h"

namespace causeway::mappings {
namespace {

using R = DeliveryFailureReason;

constexpr R kAllReasons[] = {R::kNotFound, R::kUnavailable, R::kTimeout,
                             R::kRejected, R::kTooLarge,    R::kInternal};

// The condition sent for each reason, and the type it goes out with (its RFC 6120 default).
std::pair<std::string_view, std::string_view> Error(R reason) {
  xmpp::StanzaErrorCondition c = XmppConditionFromFailureReason(reason);
  return {xmpp::StanzaErrorName(c), xmpp::StanzaErrorTypeName(xmpp::DefaultErrorType(c))};
}

TEST(ErrorMap, ReasonToStanzaError) {
  using P = std::pair<std::string_view, std::string_view>;
  EXPECT_EQ(Error(R::kNotFound), (P{"item-not-found", "cancel"}));
  EXPECT_EQ(Error(R::kUnavailable), (P{"service-unavailable", "cancel"}));
  EXPECT_EQ(Error(R::kTimeout), (P{"remote-server-timeout", "wait"}));
  EXPECT_EQ(Error(R::kRejected), (P{"forbidden", "auth"}));
  EXPECT_EQ(Error(R::kTooLarge), (P{"policy-violation", "modify"}));
  EXPECT_EQ(Error(R::kInternal), (P{"internal-server-error", "cancel"}));
}

// RFC 6120 §8.3.3, all 22 defined conditions.
TEST(ErrorMap, EveryDefinedConditionHasAReason) {
  struct Case {
    std::string_view condition;
    R reason;
  };
  constexpr Case kCases[] = {
      {"bad-request", R::kRejected},
      {"conflict", R::kRejected},
      {"feature-not-implemented", R::kRejected},
      {"forbidden", R::kRejected},
      {"gone", R::kNotFound},
      {"internal-server-error", R::kInternal},
      {"item-not-found", R::kNotFound},
      {"jid-malformed", R::kNotFound},
      {"not-acceptable", R::kRejected},
      {"not-allowed", R::kRejected},
      {"not-authorized", R::kRejected},
      {"policy-violation", R::kRejected},
      {"recipient-unavailable", R::kUnavailable},
      {"redirect", R::kUnavailable},
      {"registration-required", R::kRejected},
      {"remote-server-not-found", R::kNotFound},
      {"remote-server-timeout", R::kTimeout},
      {"resource-constraint", R::kUnavailable},
      {"service-unavailable", R::kUnavailable},
      {"subscription-required", R::kRejected},
      {"undefined-condition", R::kInternal},
      {"unexpected-request", R::kRejected},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(FailureReasonFromXmppCondition(c.condition), c.reason) << c.condition;
  }
  EXPECT_EQ(FailureReasonFromXmppCondition("payment-required"), R::kInternal);  // RFC 3920 only
  EXPECT_EQ(FailureReasonFromXmppCondition("Item-Not-Found"), R::kInternal);    // names are exact
  EXPECT_EQ(FailureReasonFromXmppCondition(""), R::kInternal);
}

TEST(ErrorMap, ReasonsRoundTripExceptTooLarge) {
  for (R r : kAllReasons) {
    const R back = FailureReasonFromXmppCondition(XmppConditionFromFailureReason(r));
    EXPECT_EQ(back, r == R::kTooLarge ? R::kRejected : r) << DeliveryFailureReasonName(r);
  }
}

TEST(SipCodes, ReasonToSipCodeAndBack) {
  EXPECT_EQ(SipCodeFromFailureReason(R::kNotFound), 404);
  EXPECT_EQ(SipCodeFromFailureReason(R::kUnavailable), 480);
  EXPECT_EQ(SipCodeFromFailureReason(R::kTimeout), 408);
  EXPECT_EQ(SipCodeFromFailureReason(R::kRejected), 403);
  EXPECT_EQ(SipCodeFromFailureReason(R::kTooLarge), 413);
  EXPECT_EQ(SipCodeFromFailureReason(R::kInternal), 500);
  for (R r : kAllReasons) {
    EXPECT_EQ(FailureReasonFromSipCode(SipCodeFromFailureReason(r)), r)
        << DeliveryFailureReasonName(r);
  }
}

// Issue 4: SIP 480/404/408 <-> service-unavailable/item-not-found/remote-server-timeout.
TEST(SipCodes, UndeliverableSipMessageGivesTheXmppErrorTheIssueNames) {
  auto condition = [](int code) {
    return xmpp::StanzaErrorName(XmppConditionFromFailureReason(FailureReasonFromSipCode(code)));
  };
  EXPECT_EQ(condition(480), "service-unavailable");
  EXPECT_EQ(condition(404), "item-not-found");
  EXPECT_EQ(condition(408), "remote-server-timeout");
  auto code = [](std::string_view condition) {
    return SipCodeFromFailureReason(FailureReasonFromXmppCondition(condition));
  };
  EXPECT_EQ(code("service-unavailable"), 480);
  EXPECT_EQ(code("item-not-found"), 404);
  EXPECT_EQ(code("remote-server-timeout"), 408);
}

}  // namespace
}  // namespace causeway::mappings
