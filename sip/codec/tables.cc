// Name tables: methods, header names (long and compact forms), default reason phrases.

#include <array>
#include <cstdint>
#include <string_view>

#include "absl/strings/match.h"
#include "core/strings.h"
#include "sip/codec/message.h"
#include "sip/codec/scan.h"

namespace causeway::sip {
namespace {

struct MethodEntry {
  std::string_view name;
  Method method;
};
constexpr std::array<MethodEntry, 16> kMethods = {{
    {"INVITE", Method::kInvite},
    {"ACK", Method::kAck},
    {"BYE", Method::kBye},
    {"CANCEL", Method::kCancel},
    {"REGISTER", Method::kRegister},
    {"OPTIONS", Method::kOptions},
    {"INFO", Method::kInfo},
    {"MESSAGE", Method::kMessage},
    {"SUBSCRIBE", Method::kSubscribe},
    {"NOTIFY", Method::kNotify},
    {"REFER", Method::kRefer},
    {"PRACK", Method::kPrack},
    {"UPDATE", Method::kUpdate},
    {"PUBLISH", Method::kPublish},
    {"SERVICE", Method::kService},
    {"BENOTIFY", Method::kBenotify},
}};

struct HeaderEntry {
  std::string_view name;
  HeaderId id;
};
// Indexed by HeaderId: canonical long names.
constexpr std::array<std::string_view, static_cast<size_t>(HeaderId::kCount)> kHeaderNames = {
    "",
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Route",
    "Record-Route",
    "Content-Length",
    "Content-Type",
    "Expires",
    "Min-Expires",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Allow",
    "WWW-Authenticate",
    "Authorization",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "User-Agent",
    "Server",
    "Event",
    "Subscription-State",
    "Path",
    "Allow-Events",
    "Accept",
    "Date",
    "Timestamp",
    "Content-Encoding",
    "Subject",
    "Refer-To",
    "Referred-By",
    "Session-Expires",
    "Accept-Contact",
    "Reject-Contact",
    "Request-Disposition",
    "Identity",
    "Identity-Info",
    "Content-Disposition",
    "Authentication-Info",
    "Retry-After",
    "Warning",
    "RSeq",
    "RAck",
    "SIP-ETag",
    "SIP-If-Match",
    "Min-SE",
};

// Compact forms: RFC 3261 §7.3.3 and the RFCs that added one (3265, 3515, 3892, 3841, 4028, 4474).
HeaderId CompactId(char c) {
  switch (c | 0x20) {
    case 'v':
      return HeaderId::kVia;
    case 'f':
      return HeaderId::kFrom;
    case 't':
      return HeaderId::kTo;
    case 'i':
      return HeaderId::kCallId;
    case 'm':
      return HeaderId::kContact;
    case 'l':
      return HeaderId::kContentLength;
    case 'c':
      return HeaderId::kContentType;
    case 'k':
      return HeaderId::kSupported;
    case 's':
      return HeaderId::kSubject;
    case 'e':
      return HeaderId::kContentEncoding;
    case 'o':
      return HeaderId::kEvent;
    case 'u':
      return HeaderId::kAllowEvents;
    case 'r':
      return HeaderId::kReferTo;
    case 'b':
      return HeaderId::kReferredBy;
    case 'x':
      return HeaderId::kSessionExpires;
    case 'a':
      return HeaderId::kAcceptContact;
    case 'j':
      return HeaderId::kRejectContact;
    case 'd':
      return HeaderId::kRequestDisposition;
    case 'y':
      return HeaderId::kIdentity;
    case 'n':
      return HeaderId::kIdentityInfo;
    default:
      return HeaderId::kOther;
  }
}

}  // namespace

Method ParseMethod(std::string_view text) {
  for (const MethodEntry& entry : kMethods) {
    if (entry.name == text) return entry.method;
  }
  return Method::kUnknown;
}

std::string_view MethodName(Method method) {
  for (const MethodEntry& entry : kMethods) {
    if (entry.method == method) return entry.name;
  }
  return {};
}

HeaderId LookupHeader(std::string_view name) {
  if (name.size() == 1) return CompactId(name[0]);
  // Bucket the canonical names by length once; a lookup then compares a handful at most.
  constexpr size_t kMaxLen = 24;
  struct Buckets {
    std::array<std::array<uint8_t, 8>, kMaxLen + 1> ids{};
    std::array<uint8_t, kMaxLen + 1> count{};
  };
  static const Buckets buckets = [] {
    Buckets b;
    for (size_t i = 1; i < kHeaderNames.size(); ++i) {
      size_t len = kHeaderNames[i].size();
      if (len <= kMaxLen && b.count[len] < b.ids[len].size()) {
        b.ids[len][b.count[len]++] = static_cast<uint8_t>(i);
      }
    }
    return b;
  }();
  if (name.size() > kMaxLen) return HeaderId::kOther;
  for (uint8_t k = 0; k < buckets.count[name.size()]; ++k) {
    uint8_t id = buckets.ids[name.size()][k];
    if (scan::EqualsNoCase(kHeaderNames[id], name)) return static_cast<HeaderId>(id);
  }
  return HeaderId::kOther;
}

std::string_view HeaderName(HeaderId id) {
  size_t index = static_cast<size_t>(id);
  return index < kHeaderNames.size() ? kHeaderNames[index] : std::string_view();
}

std::string_view DefaultReason(int code) {
  switch (code) {
    case 100:
      return "Trying";
    case 180:
      return "Ringing";
    case 181:
      return "Call Is Being Forwarded";
    case 182:
      return "Queued";
    case 183:
      return "Session Progress";
    case 199:
      return "Early Dialog Terminated";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Notification";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Moved Temporarily";
    case 305:
      return "Use Proxy";
    case 380:
      return "Alternative Service";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 412:
      return "Conditional Request Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Unsupported URI Scheme";
    case 420:
      return "Bad Extension";
    case 421:
      return "Extension Required";
    case 422:
      return "Session Interval Too Small";
    case 423:
      return "Interval Too Brief";
    case 429:
      return "Provide Referrer Identity";
    case 430:
      return "Flow Failed";
    case 439:
      return "First Hop Lacks Outbound Support";
    case 480:
      return "Temporarily Unavailable";
    case 481:
      return "Call/Transaction Does Not Exist";
    case 482:
      return "Loop Detected";
    case 483:
      return "Too Many Hops";
    case 484:
      return "Address Incomplete";
    case 485:
      return "Ambiguous";
    case 486:
      return "Busy Here";
    case 487:
      return "Request Terminated";
    case 488:
      return "Not Acceptable Here";
    case 489:
      return "Bad Event";
    case 491:
      return "Request Pending";
    case 493:
      return "Undecipherable";
    case 494:
      return "Security Agreement Required";
    case 500:
      return "Server Internal Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Server Time-out";
    case 505:
      return "Version Not Supported";
    case 513:
      return "Message Too Large";
    case 580:
      return "Precondition Failure";
    case 600:
      return "Busy Everywhere";
    case 603:
      return "Decline";
    case 604:
      return "Does Not Exist Anywhere";
    case 606:
      return "Not Acceptable";
    default:
      break;
  }
  if (code >= 100 && code < 200) return "Provisional";
  if (code >= 200 && code < 300) return "Success";
  if (code >= 300 && code < 400) return "Redirection";
  if (code >= 400 && code < 500) return "Client Error";
  if (code >= 500 && code < 600) return "Server Error";
  return "Global Failure";
}

}  // namespace causeway::sip
