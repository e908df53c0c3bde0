#pragma once
// Presence: MS-PRES availability numbers and XMPP <presence/> fields <-> core Availability, as one
// table (presence_map.cc, kPresenceTable). Pure functions.
//
// MS-PRES availability bands (Lync 2010/2013 state schema, OCS 2007 userStateAvailability):
//
//   availability     MS-PRES band   publish  XMPP <show/>         priority
//   available        3000-4499      3500     (none)               50
//   idle             4500-5999      5000     away                 40
//   busy             6000-7499      6500     dnd                  20
//   busy-idle        7500-8999      7500     dnd                  20
//   do-not-disturb   9000-11999     9500     dnd                  20
//   be-right-back    12000-14999    12500    away                 40
//   away             15000-17999    15500    xa                   30
//   offline          18000-         18500    type="unavailable"   -
//
// Below 3000: 0 is "no availability" (UCMA PresenceAvailability.None: nothing published) and reads
// as offline, XMPP having no "unknown"; 1-2999 read as available, as Lync 2010/2013 document
// "0-4499 Available" (OCS 2007 starts the band at 3000). The publish values are the ones Lync
// clients themselves write (ContactAvailability: Free 3500 ... Offline 18500) and the ones
// sip/lync/bodies_presence.h writes; a test keeps the two in agreement.
//
// XMPP <show/> (RFC 6121 §4.7.2.1) has four values for seven online states, so the forward mapping
// merges: idle -> away (what XMPP clients send when the user goes idle), be-right-back -> away
// ("temporarily away"), away -> xa ("extended away"), busy and busy-idle -> dnd (XMPP's only
// "busy"; a busy user who is also inactive is still busy, so busy-idle stays red rather than
// becoming "away"). The reverse picks the state a user would have set for that show value:
//
//   (none)/chat -> available, away -> be-right-back, xa -> away, dnd -> do-not-disturb,
//   type="unavailable" -> offline, an unknown show -> available (RFC 6121: absent = available).
//
// idle and busy-idle are machine-derived states (MS-PRES aggregates them from user and device
// state), never what a presentity publishes, so the reverse never produces them; "away" reads as
// be-right-back (RFC 6121's "temporarily away", UCMA's "temporarily unalertable"). Every show value
// round-trips (show -> Availability -> the same show), and a Lync state settles after one trip
// (Lync -> XMPP -> Lync gives the state the merges above lead to, which then stays).
//
// Priority (RFC 6121 §4.7.2.3) follows the common client defaults (online 50, away 40, xa 30,
// dnd 20) and is never negative: the gateway's resource is the only one speaking for a Lync user,
// and a negative priority would stop the XMPP server from routing bare-JID messages to it while
// Lync still delivers IMs in every online state. The reverse ignores priority: choosing among an
// XMPP user's resources is the XMPP adapter's job before it calls PresenceEventFromXmpp.
//
// Status text: the note when there is one, else the label Lync shows for the activity token
// ("in-a-meeting" -> "In a meeting", "on-the-phone" -> "In a call"; an unknown token gives no
// text rather than leaking the token). The reverse turns a status that is exactly one of those
// labels back into the token, anything else into the note, so notes and activities round-trip.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/events.h"

namespace causeway::mappings {

// The <presence/> fields presence mapping reads and writes (the XMPP codec is another layer).
struct XmppPresence {
  bool available = true;  // false = type="unavailable"
  std::string show;       // "", "chat", "away", "xa", "dnd"
  std::string status;
  int priority = 0;
  friend bool operator==(const XmppPresence&, const XmppPresence&) = default;
};

// One row of the presence table; rows are in MS-PRES band order.
struct PresenceRow {
  Availability availability;
  uint32_t ms_pres_first;    // lowest availability number of the band
  uint32_t ms_pres_publish;  // the number Causeway writes for this availability
  std::string_view show;     // XMPP <show/>, "" = none
  bool xmpp_available;       // false: type="unavailable"
  int priority;
  bool read_back;  // the row `show` reads back as (one per show value)
};
std::span<const PresenceRow> PresenceTable();

// MS-PRES availability number <-> Availability.
Availability AvailabilityFromMsPres(uint32_t availability);
uint32_t MsPresAvailability(Availability availability);
uint32_t MsPresAvailabilityFromEvent(const PresenceEvent& event);

// The label Lync shows for an activity token, "" for an empty or unknown token.
std::string_view ActivityLabel(std::string_view token);

// Availability + note/activity -> <presence/>. `from`, `to`, `device` are the adapter's.
XmppPresence XmppPresenceFromEvent(const PresenceEvent& event);

// <presence/> from `from` (a JID the adapter already mapped, resource included) -> event: from the
// bare address, device = the resource, to = nullopt (the adapter sets it for directed presence),
// timestamp = now.
PresenceEvent PresenceEventFromXmpp(const Address& from, const XmppPresence& presence);

}  // namespace causeway::mappings
