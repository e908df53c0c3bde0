#include "xmpp/component/component_wire.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/serializer.h"

namespace causeway::xmpp::component {
namespace {

// A stream header that StreamParser accepts as a component stream (XEP-0114 streams carry no
// version); only its namespaces matter here.
constexpr std::string_view kSyntheticHeader =
    "<stream:stream xmlns='jabber:component:accept' "
    "xmlns:stream='http://etherx.jabber.org/streams'>";

void Rename(Element& element) {
  if (element.ns() == kNsClient || element.ns() == kNsServer) element.set_ns(kNsComponentAccept);
  for (Element& child : element.mutable_children()) Rename(child);
}

}  // namespace

void ToComponentNamespace(Element& stanza) { Rename(stanza); }

std::string ComponentStanzaXml(Element stanza) {
  ToComponentNamespace(stanza);
  XmlScope scope;
  scope.default_ns = kNsComponentAccept;
  return ToXml(stanza, scope);
}

void StanzaTextParser::Collector::OnStanza(Element& stanza) {
  ++count;
  if (count == 1) element = std::move(stanza);
}

StanzaTextParser::StanzaTextParser(StreamLimits limits) : parser_(collector_, limits) { Restart(); }

void StanzaTextParser::Restart() {
  parser_.Reset();
  collector_ = Collector();
  // The header alone cannot fail: it is a constant the parser accepts.
  (void)parser_.Feed(kSyntheticHeader);
}

absl::StatusOr<Element> StanzaTextParser::Parse(std::string_view xml) {
  collector_.count = 0;
  absl::Status fed = parser_.Feed(xml);
  if (!fed.ok()) {
    Restart();
    return absl::InvalidArgumentError(absl::StrCat("stanza text does not parse: ", fed.message()));
  }
  if (collector_.count != 1 || collector_.closed) {
    const int count = collector_.count;
    Restart();
    return absl::InvalidArgumentError(absl::StrCat("expected one complete element, got ", count));
  }
  collector_.count = 0;
  return std::move(collector_.element);
}

}  // namespace causeway::xmpp::component
