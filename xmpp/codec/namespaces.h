#pragma once
// Namespace names the codec and its users compare against (RFC 6120, XEP-0114, XEP-0220).

#include <string_view>

namespace causeway::xmpp {

inline constexpr std::string_view kNsStreams = "http://etherx.jabber.org/streams";
inline constexpr std::string_view kNsClient = "jabber:client";
inline constexpr std::string_view kNsServer = "jabber:server";
inline constexpr std::string_view kNsComponentAccept = "jabber:component:accept";
inline constexpr std::string_view kNsDialback = "jabber:server:dialback";
inline constexpr std::string_view kNsStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams";
inline constexpr std::string_view kNsStanzaErrors = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr std::string_view kNsTls = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kNsSasl = "urn:ietf:params:xml:ns:xmpp-sasl";
// The namespace of the reserved `xml:` prefix (xml:lang), bound without any declaration.
inline constexpr std::string_view kNsXml = "http://www.w3.org/XML/1998/namespace";

// True for the default namespaces a stream may declare for its stanzas.
inline bool IsContentNamespace(std::string_view ns) {
  return ns == kNsClient || ns == kNsServer || ns == kNsComponentAccept;
}

}  // namespace causeway::xmpp
