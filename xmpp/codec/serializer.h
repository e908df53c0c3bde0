#pragma once
// Writes elements and stream headers as XML that StreamParser reads back to equal elements.
//
// Namespaces: an element gets xmlns='...' only where its namespace differs from the one in scope
// (a stanza in its stream's content namespace carries none). Elements in the stream namespace are
// written with the `stream:` prefix and dialback elements with `db:` (some servers still match
// those prefixes literally), declared on the element unless the scope already binds them.
// Namespaced attributes other than xml:* get a generated prefix declared on their element.
// Text and attribute values are escaped (xml_text.h); names are written as given (they come from
// the parser or from constants).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xmpp/codec/element.h"

namespace causeway::xmpp {

// The <stream:stream> start tag's content (RFC 6120 §4.7).
struct StreamHeader {
  std::string content_ns;  // the default namespace: jabber:client / jabber:server / ...
  std::string to;
  std::string from;
  std::string id;
  std::string version;  // "1.0"; "" for pre-RFC streams (XEP-0114 components send none)
  std::string lang;     // xml:lang
  // Prefixes declared besides `stream` (e.g. {"db", "jabber:server:dialback"}: XEP-0220 support).
  std::vector<std::pair<std::string, std::string>> prefixes;
  // Any other attribute, in document order.
  std::vector<Attribute> other_attributes;

  bool DeclaresNamespace(std::string_view uri) const;
  friend bool operator==(const StreamHeader&, const StreamHeader&) = default;
};

// What the surrounding XML has already bound where an element is written.
struct XmlScope {
  std::string_view default_ns;
  bool stream_prefix = false;  // `stream` bound to kNsStreams
  bool db_prefix = false;      // `db` bound to kNsDialback
};

// The scope of a stanza written inside a stream opened with `header`.
XmlScope StreamScope(const StreamHeader& header);

// Appends `element` (its tail() excluded) to `out`.
void AppendXml(const Element& element, std::string* out, const XmlScope& scope = {});
std::string ToXml(const Element& element, const XmlScope& scope = {});

// "<?xml version='1.0'?>" (optional) and the stream start tag, left open.
std::string StreamHeaderXml(const StreamHeader& header, bool xml_declaration = true);
inline constexpr std::string_view kStreamFooter = "</stream:stream>";

}  // namespace causeway::xmpp
