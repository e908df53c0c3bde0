#pragma once
// What a Lync client needs in the 200 to its REGISTER beyond RFC 3261 (MS-SIPREGE, as pidgin-sipe
// and Lync read it): the OCS 2007+ dialect markers, the self-events it may subscribe to, and the
// keep-alive interval.
//
// The client compares each Supported line whole and splits Allow-Events on "," without trimming,
// so the markers go on lines of their own and the event list has no spaces.

#include <chrono>

#include "sip/codec/message.h"

namespace causeway::sip::lync {

struct RegistrationOptions {
  // ms-keep-alive timeout: how often the client must send a CRLF keep-alive on its connection.
  std::chrono::seconds keep_alive{300};
};

// True for a REGISTER from a Lync-dialect client (an epid on From, ms-keep-alive, or the
// msrtc-event-categories option). Standard SIP phones get a plain RFC 3261 answer.
bool IsLyncRegister(const SipMessage& request);

// Adds the MS-SIPREGE headers to `response` (a 200 to `request`) when IsLyncRegister(request).
void AddRegisterOkHeaders(const SipMessage& request, SipMessage& response,
                          const RegistrationOptions& options);

// The self-events we serve (the Allow-Events value of the REGISTER 200): the OCS 2007+ set. The
// OCS 2005 ones (vnd-microsoft-provisioning, vnd-microsoft-roaming-ACL) are not served, so they
// are not offered either.
inline constexpr std::string_view kAllowEvents =
    "vnd-microsoft-roaming-contacts,presence,presence.wpending,vnd-microsoft-roaming-self,"
    "vnd-microsoft-provisioning-v2";

}  // namespace causeway::sip::lync
