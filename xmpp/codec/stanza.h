#pragma once
// Helpers for the three stanza kinds (RFC 6120 §8): kind, type, id, to, from.

#include <string_view>

#include "absl/status/statusor.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/jid.h"

namespace causeway::xmpp {

enum class StanzaKind { kNone, kMessage, kPresence, kIq };

// kMessage/kPresence/kIq for <message/>, <presence/>, <iq/> in a content namespace
// (jabber:client, jabber:server, jabber:component:accept); kNone for anything else
// (stream features, dialback, SASL, ...).
StanzaKind KindOf(const Element& element);
std::string_view StanzaKindName(StanzaKind kind);  // "message", ..., "" for kNone

// The raw attribute values, "" when absent. The type's defaults (message: "normal", presence:
// available) are the caller's to apply: "" keeps "absent" distinguishable.
std::string_view StanzaType(const Element& stanza);
std::string_view StanzaId(const Element& stanza);
std::string_view StanzaTo(const Element& stanza);
std::string_view StanzaFrom(const Element& stanza);

// to/from parsed as JIDs. InvalidArgument carrying jid-malformed (StanzaErrorOf) when the
// attribute is malformed, NotFound when it is absent.
absl::StatusOr<Jid> StanzaToJid(const Element& stanza);
absl::StatusOr<Jid> StanzaFromJid(const Element& stanza);

// A new stanza of `kind` in `content_ns` with the given addressing (empty values are omitted).
Element MakeStanza(StanzaKind kind, std::string_view content_ns, std::string_view type,
                   std::string_view to = {}, std::string_view from = {}, std::string_view id = {});

}  // namespace causeway::xmpp
