#include "mappings/presence_map.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "sip/lync/bodies_presence.h"  // header only: the numbers the Lync front end writes

namespace causeway::mappings {
namespace {

using A = Availability;

constexpr A kAll[] = {A::kAvailable,    A::kIdle,        A::kBusy, A::kBusyIdle,
                      A::kDoNotDisturb, A::kBeRightBack, A::kAway, A::kOffline};

// Both edges of every MS-PRES band, and the values around them.
TEST(MsPres, EveryBandBoundary) {
  struct Case {
    uint32_t value;
    A expected;
  };
  constexpr Case kCases[] = {
      {0, A::kOffline},  // "None": nothing published
      {1, A::kAvailable},
      {2999, A::kAvailable},
      {3000, A::kAvailable},
      {3500, A::kAvailable},
      {4499, A::kAvailable},
      {4500, A::kIdle},
      {5999, A::kIdle},
      {6000, A::kBusy},
      {6900, A::kBusy},
      {7499, A::kBusy},
      {7500, A::kBusyIdle},
      {8999, A::kBusyIdle},
      {9000, A::kDoNotDisturb},
      {11999, A::kDoNotDisturb},
      {12000, A::kBeRightBack},
      {14999, A::kBeRightBack},
      {15000, A::kAway},
      {17999, A::kAway},
      {18000, A::kOffline},
      {18500, A::kOffline},
      {std::numeric_limits<uint32_t>::max(), A::kOffline},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(AvailabilityFromMsPres(c.value), c.expected)
        << c.value << " gave " << AvailabilityName(AvailabilityFromMsPres(c.value));
  }
}

TEST(MsPres, PublishedNumbersAreLyncsOwnAndReadBack) {
  EXPECT_EQ(MsPresAvailability(A::kAvailable), 3500u);
  EXPECT_EQ(MsPresAvailability(A::kIdle), 5000u);
  EXPECT_EQ(MsPresAvailability(A::kBusy), 6500u);
  EXPECT_EQ(MsPresAvailability(A::kBusyIdle), 7500u);
  EXPECT_EQ(MsPresAvailability(A::kDoNotDisturb), 9500u);
  EXPECT_EQ(MsPresAvailability(A::kBeRightBack), 12500u);
  EXPECT_EQ(MsPresAvailability(A::kAway), 15500u);
  EXPECT_EQ(MsPresAvailability(A::kOffline), 18500u);
  for (A a : kAll) EXPECT_EQ(AvailabilityFromMsPres(MsPresAvailability(a)), a);
  PresenceEvent event;
  event.availability = A::kBeRightBack;
  EXPECT_EQ(MsPresAvailabilityFromEvent(event), 12500u);
}

// sip/lync writes its own enum; the two must never disagree.
TEST(MsPres, AgreesWithTheLyncFrontEnd) {
  namespace lync = sip::lync;
  EXPECT_EQ(MsPresAvailability(A::kAvailable), uint32_t(lync::Availability::kOnline));
  EXPECT_EQ(MsPresAvailability(A::kIdle), uint32_t(lync::Availability::kIdleOnline));
  EXPECT_EQ(MsPresAvailability(A::kBusy), uint32_t(lync::Availability::kBusy));
  EXPECT_EQ(MsPresAvailability(A::kBusyIdle), uint32_t(lync::Availability::kIdleBusy));
  EXPECT_EQ(MsPresAvailability(A::kDoNotDisturb), uint32_t(lync::Availability::kDoNotDisturb));
  EXPECT_EQ(MsPresAvailability(A::kBeRightBack), uint32_t(lync::Availability::kBeRightBack));
  EXPECT_EQ(MsPresAvailability(A::kAway), uint32_t(lync::Availability::kAway));
  EXPECT_EQ(MsPresAvailability(A::kOffline), uint32_t(lync::Availability::kOffline));
}

TEST(PresenceTable, BandsAreOrderedAndEachShowReadsBackOnce) {
  uint32_t previous = 0;
  int read_back[4] = {};
  for (const PresenceRow& row : PresenceTable()) {
    EXPECT_GT(row.ms_pres_first, previous);
    EXPECT_GE(row.ms_pres_publish, row.ms_pres_first);
    previous = row.ms_pres_first;
    if (!row.read_back) continue;
    for (int i = 0; i < 4; ++i) {
      if (row.show == std::string_view(std::array{"", "away", "xa", "dnd"}[i])) ++read_back[i];
    }
  }
  for (int count : read_back) EXPECT_EQ(count, 1);
}

PresenceEvent Event(A availability, std::string note = "", std::string activity = "") {
  PresenceEvent e;
  e.from = Address{Network::kSip, "alice", "lync.test", ""};
  e.availability = availability;
  e.note = std::move(note);
  e.activity = std::move(activity);
  return e;
}

TEST(XmppPresenceFromEvent, ShowAndPriorityPerAvailability) {
  struct Case {
    A availability;
    bool available;
    std::string_view show;
    int priority;
  };
  constexpr Case kCases[] = {
      {A::kAvailable, true, "", 50},       {A::kIdle, true, "away", 40},
      {A::kBusy, true, "dnd", 20},         {A::kBusyIdle, true, "dnd", 20},
      {A::kDoNotDisturb, true, "dnd", 20}, {A::kBeRightBack, true, "away", 40},
      {A::kAway, true, "xa", 30},          {A::kOffline, false, "", 0},
  };
  for (const Case& c : kCases) {
    const XmppPresence p = XmppPresenceFromEvent(Event(c.availability));
    EXPECT_EQ(p.available, c.available) << AvailabilityName(c.availability);
    EXPECT_EQ(p.show, c.show) << AvailabilityName(c.availability);
    EXPECT_EQ(p.priority, c.priority) << AvailabilityName(c.availability);
    EXPECT_EQ(p.status, "");
  }
}

TEST(XmppPresenceFromEvent, StatusIsTheNoteElseTheActivityLabel) {
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kBusy, "Back at 3", "in-a-meeting")).status,
            "Back at 3");
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kBusy, "", "in-a-meeting")).status, "In a meeting");
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kBusy, "", "on-the-phone")).status, "In a call");
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kBusy, "", "in-a-conference")).status,
            "In a conference call");
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kAway, "", "out-of-office")).status, "Out of office");
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kBusy, "", "some-vendor-token")).status, "");
  EXPECT_EQ(XmppPresenceFromEvent(Event(A::kOffline, "Gone fishing")).status, "Gone fishing");
}

XmppPresence Presence(std::string show, std::string status = "", bool available = true) {
  return XmppPresence{available, std::move(show), std::move(status), 0};
}

TEST(PresenceEventFromXmpp, ShowToAvailability) {
  const Address bob{Network::kXmpp, "bob", "xmpp.test", "phone"};
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("")).availability, A::kAvailable);
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("chat")).availability, A::kAvailable);
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("away")).availability, A::kBeRightBack);
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("xa")).availability, A::kAway);
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("dnd")).availability, A::kDoNotDisturb);
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("sleeping")).availability, A::kAvailable);
  EXPECT_EQ(PresenceEventFromXmpp(bob, Presence("dnd", "", false)).availability, A::kOffline);
}

TEST(PresenceEventFromXmpp, ResourceIsTheDeviceAndStatusTheNoteOrActivity) {
  const Address bob{Network::kXmpp, "bob", "xmpp.test", "phone"};
  PresenceEvent e = PresenceEventFromXmpp(bob, Presence("away", "lunch"));
  EXPECT_EQ(e.from, bob.Bare());
  EXPECT_EQ(e.device, "phone");
  EXPECT_FALSE(e.to.has_value());
  EXPECT_EQ(e.note, "lunch");
  EXPECT_EQ(e.activity, "");
  e = PresenceEventFromXmpp(bob, Presence("dnd", "In a call"));
  EXPECT_EQ(e.activity, "on-the-phone");
  EXPECT_EQ(e.note, "");
  e = PresenceEventFromXmpp(bob, Presence("", "", false));
  EXPECT_EQ(e.availability, A::kOffline);
  EXPECT_EQ(e.note, "");
}

TEST(PresenceRoundTrip, EveryShowSurvivesXmppToEventToXmpp) {
  const Address bob{Network::kXmpp, "bob", "xmpp.test", "r"};
  for (std::string_view show : {"", "away", "xa", "dnd"}) {
    const XmppPresence in = Presence(std::string(show), "In a meeting");
    const XmppPresence out = XmppPresenceFromEvent(PresenceEventFromXmpp(bob, in));
    EXPECT_EQ(out.show, show);
    EXPECT_TRUE(out.available);
    EXPECT_EQ(out.status, "In a meeting");
  }
  const XmppPresence gone =
      XmppPresenceFromEvent(PresenceEventFromXmpp(bob, Presence("", "", false)));
  EXPECT_FALSE(gone.available);
}

TEST(PresenceRoundTrip, LyncStatesSettleAfterOneTrip) {
  const Address alice{Network::kXmpp, "alice", "lync.test", ""};
  struct Case {
    A from;
    A after_trip;
  };
  constexpr Case kCases[] = {
      {A::kAvailable, A::kAvailable},
      {A::kIdle, A::kBeRightBack},
      {A::kBusy, A::kDoNotDisturb},
      {A::kBusyIdle, A::kDoNotDisturb},
      {A::kDoNotDisturb, A::kDoNotDisturb},
      {A::kBeRightBack, A::kBeRightBack},
      {A::kAway, A::kAway},
      {A::kOffline, A::kOffline},
  };
  for (const Case& c : kCases) {
    const XmppPresence once = XmppPresenceFromEvent(Event(c.from, "note"));
    const PresenceEvent back = PresenceEventFromXmpp(alice, once);
    EXPECT_EQ(back.availability, c.after_trip) << AvailabilityName(c.from);
    EXPECT_EQ(back.note, "note");
    EXPECT_EQ(XmppPresenceFromEvent(back), once) << AvailabilityName(c.from);
  }
  const PresenceEvent meeting =
      PresenceEventFromXmpp(alice, XmppPresenceFromEvent(Event(A::kBusy, "", "in-a-meeting")));
  EXPECT_EQ(meeting.activity, "in-a-meeting");
  EXPECT_EQ(meeting.note, "");
}

}  // namespace
}  // namespace causeway::mappings
