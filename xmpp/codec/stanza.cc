#include "xmpp/codec/stanza.h"

#include <optional>

#include "xmpp/codec/errors.h"
#include "xmpp/codec/namespaces.h"

namespace causeway::xmpp {

namespace {

absl::StatusOr<Jid> AddressOf(const Element& stanza, std::string_view attribute) {
  std::optional<std::string_view> value = stanza.Attr(attribute);
  if (!value) return absl::NotFoundError("xmpp: stanza has no address attribute");
  return Jid::Parse(*value);
}

}  // namespace

StanzaKind KindOf(const Element& element) {
  if (!IsContentNamespace(element.ns())) return StanzaKind::kNone;
  const std::string& name = element.name();
  if (name == "message") return StanzaKind::kMessage;
  if (name == "presence") return StanzaKind::kPresence;
  if (name == "iq") return StanzaKind::kIq;
  return StanzaKind::kNone;
}

std::string_view StanzaKindName(StanzaKind kind) {
  switch (kind) {
    case StanzaKind::kMessage:
      return "message";
    case StanzaKind::kPresence:
      return "presence";
    case StanzaKind::kIq:
      return "iq";
    case StanzaKind::kNone:
      break;
  }
  return "";
}

std::string_view StanzaType(const Element& stanza) { return stanza.AttrOr("type", ""); }
std::string_view StanzaId(const Element& stanza) { return stanza.AttrOr("id", ""); }
std::string_view StanzaTo(const Element& stanza) { return stanza.AttrOr("to", ""); }
std::string_view StanzaFrom(const Element& stanza) { return stanza.AttrOr("from", ""); }

absl::StatusOr<Jid> StanzaToJid(const Element& stanza) { return AddressOf(stanza, "to"); }
absl::StatusOr<Jid> StanzaFromJid(const Element& stanza) { return AddressOf(stanza, "from"); }

Element MakeStanza(StanzaKind kind, std::string_view content_ns, std::string_view type,
                   std::string_view to, std::string_view from, std::string_view id) {
  Element stanza(content_ns, StanzaKindName(kind));
  if (!from.empty()) stanza.SetAttr("from", from);
  if (!to.empty()) stanza.SetAttr("to", to);
  if (!type.empty()) stanza.SetAttr("type", type);
  if (!id.empty()) stanza.SetAttr("id", id);
  return stanza;
}

}  // namespace causeway::xmpp
