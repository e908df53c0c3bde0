#include "mappings/presence_map.h"

#include <array>
#include <chrono>
#include <utility>

namespace causeway::mappings {
namespace {

// The one presence table (see presence_map.h for the reasoning behind each column).
constexpr std::array<PresenceRow, 8> kPresenceTable = {{
    // clang-format off
    // availability                first  publish show    xmpp available  priority read_back
    {Availability::kAvailable,     3000,  3500,   "",     true,           50,      true},
    {Availability::kIdle,          4500,  5000,   "away", true,           40,      false},
    {Availability::kBusy,          6000,  6500,   "dnd",  true,           20,      false},
    {Availability::kBusyIdle,      7500,  7500,   "dnd",  true,           20,      false},
    {Availability::kDoNotDisturb,  9000,  9500,   "dnd",  true,           20,      true},
    {Availability::kBeRightBack,   12000, 12500,  "away", true,           40,      true},
    {Availability::kAway,          15000, 15500,  "xa",   true,           30,      true},
    {Availability::kOffline,       18000, 18500,  "",     false,          0,       false},
    // clang-format on
}};

// Activity tokens Lync 2013 recognizes (state/activity schema) and the text it shows for them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kActivityLabels = {{
    {"in-a-meeting", "In a meeting"},
    {"on-the-phone", "In a call"},
    {"in-a-conference", "In a conference call"},
    {"out-of-office", "Out of office"},
    {"urgent-interruptions-only", "Urgent interruptions only"},
}};

const PresenceRow& RowFor(Availability availability) {
  for (const PresenceRow& row : kPresenceTable) {
    if (row.availability == availability) return row;
  }
  return kPresenceTable.back();  // unreachable for valid enum values: offline
}

Availability AvailabilityFromShow(std::string_view show) {
  if (show == "chat") return Availability::kAvailable;  // Lync has no "free for chat"
  for (const PresenceRow& row : kPresenceTable) {
    if (row.read_back && row.xmpp_available && row.show == show) return row.availability;
  }
  return Availability::kAvailable;  // RFC 6121 §4.7.2.1: no (known) <show/> means available
}

}  // namespace

std::span<const PresenceRow> PresenceTable() { return kPresenceTable; }

Availability AvailabilityFromMsPres(uint32_t availability) {
  if (availability == 0) return Availability::kOffline;  // "None": nothing published
  Availability result = Availability::kAvailable;        // 1-2999: Lync's "0-4499 Available"
  for (const PresenceRow& row : kPresenceTable) {
    if (availability >= row.ms_pres_first) result = row.availability;
  }
  return result;
}

uint32_t MsPresAvailability(Availability availability) {
  return RowFor(availability).ms_pres_publish;
}

uint32_t MsPresAvailabilityFromEvent(const PresenceEvent& event) {
  return MsPresAvailability(event.availability);
}

std::string_view ActivityLabel(std::string_view token) {
  for (const auto& [known, label] : kActivityLabels) {
    if (known == token) return label;
  }
  return {};
}

XmppPresence XmppPresenceFromEvent(const PresenceEvent& event) {
  const PresenceRow& row = RowFor(event.availability);
  XmppPresence out;
  out.available = row.xmpp_available;
  out.show = std::string(row.show);
  out.priority = row.priority;
  out.status = !event.note.empty() ? event.note : std::string(ActivityLabel(event.activity));
  return out;
}

PresenceEvent PresenceEventFromXmpp(const Address& from, const XmppPresence& presence) {
  PresenceEvent event;
  event.from = from.Bare();
  event.device = from.resource;
  event.availability =
      presence.available ? AvailabilityFromShow(presence.show) : Availability::kOffline;
  for (const auto& [token, label] : kActivityLabels) {
    if (presence.status == label) event.activity = std::string(token);
  }
  if (event.activity.empty()) event.note = presence.status;
  event.timestamp = std::chrono::system_clock::now();
  return event;
}

}  // namespace causeway::mappings
