#pragma once
// Contact list bodies (MS-SIP "roaming contacts", as OCS 2007 / Lync 2010 serve them and
// pidgin-sipe 1.25 parses them) and the SOAP SERVICE requests clients send to change the list.
// Pure builders/parsers: no storage, no SIP logic.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace causeway::sip::lync {

// SUBSCRIBE / NOTIFY Event: vnd-microsoft-roaming-contacts.
inline constexpr std::string_view kRoamingContactsEvent = "vnd-microsoft-roaming-contacts";
inline constexpr std::string_view kRoamingContactsContentType =
    "application/vnd-microsoft-roaming-contacts+xml";
// Content-Type of the SOAP SERVICE requests (and of our answers to them).
inline constexpr std::string_view kSoapContentType = "application/SOAP+xml";

// The name of the default group. Clients show it as "Other Contacts" (SIPE maps any name starting
// with '~' to its localized "Other Contacts") and send "~" when creating "Other Contacts".
inline constexpr std::string_view kDefaultGroupName = "~";

struct ContactGroup {
  uint32_t id = 0;
  std::string name;
  std::string external_uri;
};

struct Contact {
  // Contact URI. The list carries it without "sip:" (SIPE prepends "sip:" unconditionally); the
  // builder strips the scheme, the parser keeps what was sent.
  std::string uri;
  std::string name;                 // display name ("" when none)
  std::vector<uint32_t> group_ids;  // "groups" attribute: space-separated ids
  bool subscribed = true;
  std::string external_uri;
};

struct ContactList {
  uint32_t delta_num = 1;  // [MS-SIP]: deltaNum MUST be non-zero
  std::vector<ContactGroup> groups;
  std::vector<Contact> contacts;
};

// Makes the list what SIPE expects: a group named "~" exists (it is created with the smallest
// unused id when missing, and put first), and every contact belongs to at least one existing
// group (contacts without one go to "~"; ids of groups that do not exist are dropped).
// Contacts whose URI is empty (or only "sip:") are removed; a zero deltaNum becomes 1.
void NormalizeContactList(ContactList& list);

// <contactList deltaNum=".."><group id name externalURI/>..<contact uri name groups subscribed
// externalURI/>..</contactList>. Call NormalizeContactList first for SIPE's expectations.
std::string BuildContactList(const ContactList& list);
absl::StatusOr<ContactList> ParseContactList(std::string_view body);

// "sip:bob@x" -> "bob@x"; anything else unchanged.
std::string_view StripSipScheme(std::string_view uri);
// "bob@x" -> "sip:bob@x"; URIs that already have the scheme are unchanged.
std::string WithSipScheme(std::string_view uri);

// An update after a change (the answer to setContact/addGroup/... comes as a NOTIFY/BENOTIFY of
// this on the roaming-contacts subscription; SIPE applies it in this order):
//   <contactDelta deltaNum=".."><addedGroup id name externalURI/><modifiedGroup .../>
//   <addedContact uri name groups subscribed externalURI/><modifiedContact .../>
//   <deletedContact uri/><deletedGroup id/></contactDelta>
// Unlike the full list, SIPE uses the URIs of a delta as they are: the builder writes them with
// "sip:". A modifiedContact carries the contact's complete group list (groups it is no longer in
// are left).
struct ContactDelta {
  uint32_t delta_num = 1;
  std::vector<ContactGroup> added_groups;
  std::vector<ContactGroup> modified_groups;
  std::vector<Contact> added_contacts;
  std::vector<Contact> modified_contacts;
  std::vector<std::string> deleted_contacts;  // URIs
  std::vector<uint32_t> deleted_groups;       // ids
};
std::string BuildContactDelta(const ContactDelta& delta);
absl::StatusOr<ContactDelta> ParseContactDelta(std::string_view body);

// ---- SOAP SERVICE requests (MS-SIP, as sip-soap.c sends them) ----
//
//   <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
//               xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">
//     <s:Body><m:setContact><m:displayName>..</m:displayName><m:groups>1 2</m:groups>
//       <m:subscribed>true</m:subscribed><m:URI>sip:bob@x</m:URI><m:externalURI/>
//       <m:deltaNum>7</m:deltaNum></m:setContact></s:Body></s:Envelope>

enum class SoapMethod {
  kSetContact,     // displayName, groups, subscribed, URI, externalURI
  kDeleteContact,  // URI
  kAddGroup,       // name, externalURI -> answer BuildAddGroupResponse()
  kModifyGroup,    // groupID, name, externalURI
  kDeleteGroup,    // groupID
  kSetAce,         // type, mask, rights (OCS 2005 ACL; uses its own delta counter)
  kOther,          // any other method (directorySearch, ...): method_name says which
};

struct SoapRequest {
  SoapMethod method = SoapMethod::kOther;
  std::string method_name;            // local name of the element under Body ("setContact")
  std::optional<uint32_t> delta_num;  // absent for requests sent without one (directorySearch)
  // setContact / deleteContact
  std::string uri;  // as sent (normally with "sip:")
  std::string display_name;
  std::vector<uint32_t> group_ids;
  std::optional<bool> subscribed;
  std::string external_uri;
  // addGroup / modifyGroup / deleteGroup
  std::optional<uint32_t> group_id;
  std::string group_name;  // "~" for the default group
  // setACE
  std::string ace_type;
  std::string ace_mask;
  std::string ace_rights;
};

// Errors (400): not XML, no Envelope/Body/method element, a required field missing or malformed
// (setContact without URI, deleteGroup without a numeric groupID, ...).
absl::StatusOr<SoapRequest> ParseSoapRequest(std::string_view body);

// The 200 body SIPE reads after addGroup: Body/addGroup/groupID.
std::string BuildAddGroupResponse(uint32_t group_id);

}  // namespace causeway::sip::lync
