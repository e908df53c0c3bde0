#pragma once
// The stanza text crossing the libstrophe boundary, both ways, through our own codec: what we
// write is our serializer's output, what we read is libstrophe's rendering of a received stanza
// (xmpp_stanza_to_text) parsed back into an Element. No libstrophe types here, so this part is
// tested without a server.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/stream_parser.h"

namespace causeway::xmpp::component {

// Moves a stanza built for another stream into jabber:component:accept: the stanza and every
// descendant in jabber:client or jabber:server (its <body/>, <subject/>, <error/> ...) change
// namespace; payload namespaces stay.
void ToComponentNamespace(Element& stanza);

// The XML to write on a component stream (no xmlns on the stanza: it is the stream's default).
std::string ComponentStanzaXml(Element stanza);

// Parses stanzas one at a time as if they were first-level elements of a component stream
// (content namespace jabber:component:accept, so an element without xmlns lands there).
class StanzaTextParser {
 public:
  explicit StanzaTextParser(StreamLimits limits = {});
  StanzaTextParser(const StanzaTextParser&) = delete;
  StanzaTextParser& operator=(const StanzaTextParser&) = delete;

  // Exactly one element; InvalidArgument for anything else (the parser starts afresh after an
  // error, so one bad stanza does not poison the next).
  absl::StatusOr<Element> Parse(std::string_view xml);

 private:
  class Collector : public StreamHandler {
   public:
    void OnStreamOpen(const StreamHeader&) override {}
    void OnStanza(Element& stanza) override;
    void OnStreamClose() override { closed = true; }
    Element element;
    int count = 0;
    bool closed = false;
  };
  void Restart();

  Collector collector_;
  StreamParser parser_;
};

}  // namespace causeway::xmpp::component
