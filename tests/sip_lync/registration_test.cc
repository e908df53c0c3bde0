#include "sip/lync/registration.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace causeway::sip::lync {
namespace {

SipMessage Parse(std::string text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

// The REGISTER pidgin-sipe 1.25 sends (sip-transport.c do_register), trimmed to what matters.
SipMessage SipeRegister() {
  return Parse(
      "REGISTER sip:example.test SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKsipe\r\n"
      "From: <sip:alice@example.test>;tag=1a2b;epid=0123456789\r\n"
      "To: <sip:alice@example.test>\r\n"
      "Call-ID: 9f8e\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
      "Contact: <sip:127.0.0.1:40000;transport=tls;ms-opaque=d3470f2e1d>;methods=\"INVITE, "
      "MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";"
      "proxy=replace;+sip.instance=\"<urn:uuid:0000-1>\"\r\n"
      "Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n"
      "Event: registration\r\nAllow-Events: presence\r\nms-keep-alive: UAC;hop-hop=yes\r\n"
      "Content-Length: 0\r\n\r\n");
}

TEST(LyncRegistration, SipeGetsTheDialectMarkersOnLinesOfTheirOwn) {
  SipMessage request = SipeRegister();
  ASSERT_TRUE(IsLyncRegister(request));
  SipMessage ok = MakeResponse(request, 200, {}, "srv");
  RegistrationOptions options;
  options.keep_alive = std::chrono::seconds(120);
  AddRegisterOkHeaders(request, ok, options);
  std::vector<std::string_view> supported = ok.HeaderValues(HeaderId::kSupported);
  EXPECT_EQ(supported, (std::vector<std::string_view>{"msrtc-event-categories", "adhoclist"}));
  std::vector<std::string_view> events = ok.HeaderValues("Allow-Events");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], kAllowEvents);
  EXPECT_EQ(events[0].find(' '), std::string_view::npos);  // SIPE splits on "," untrimmed
  for (std::string_view event : {"vnd-microsoft-roaming-contacts", "vnd-microsoft-roaming-self",
                                 "vnd-microsoft-provisioning-v2", "presence.wpending"}) {
    EXPECT_NE(events[0].find(event), std::string_view::npos) << event;
  }
  std::vector<std::string_view> keep_alive = ok.HeaderValues("ms-keep-alive");
  ASSERT_EQ(keep_alive.size(), 1u);
  EXPECT_EQ(keep_alive[0], "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=120");
  // And it survives the wire as separate lines.
  SipMessage reparsed = Parse(ok.Serialize());
  EXPECT_EQ(reparsed.HeaderValues(HeaderId::kSupported).size(), 2u);
}

TEST(LyncRegistration, StandardPhonesGetNothingExtra) {
  SipMessage request = Parse(
      "REGISTER sip:example.test SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKphone\r\n"
      "From: <sip:bob@example.test>;tag=p1\r\nTo: <sip:bob@example.test>\r\n"
      "Call-ID: ph\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
      "Contact: <sip:bob@127.0.0.1:5062>\r\nSupported: path, outbound\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_FALSE(IsLyncRegister(request));
  SipMessage ok = MakeResponse(request, 200, {}, "srv");
  AddRegisterOkHeaders(request, ok, RegistrationOptions{});
  EXPECT_TRUE(ok.HeaderValues(HeaderId::kSupported).empty());
  EXPECT_TRUE(ok.HeaderValues("Allow-Events").empty());
  EXPECT_TRUE(ok.HeaderValues("ms-keep-alive").empty());
}

}  // namespace
}  // namespace causeway::sip::lync
