#include "xmpp/codec/serializer.h"

#include <algorithm>

#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/xml_text.h"

namespace causeway::xmpp {

namespace {

void AppendAttr(std::string_view prefix, std::string_view name, std::string_view value,
                std::string* out) {
  out->push_back(' ');
  if (!prefix.empty()) {
    out->append(prefix);
    out->push_back(':');
  }
  out->append(name);
  out->append("='");
  AppendEscapedAttr(value, out);
  out->push_back('\'');
}

void Write(const Element& e, XmlScope scope, std::string* out) {
  std::string_view prefix;
  bool declare_prefix = false;
  if (e.ns() == kNsStreams) {
    prefix = "stream";
    declare_prefix = !scope.stream_prefix;
    scope.stream_prefix = true;
  } else if (e.ns() == kNsDialback) {
    prefix = "db";
    declare_prefix = !scope.db_prefix;
    scope.db_prefix = true;
  }
  out->push_back('<');
  if (!prefix.empty()) {
    out->append(prefix);
    out->push_back(':');
  }
  out->append(e.name());
  if (declare_prefix) {
    out->append(" xmlns:");
    out->append(prefix);
    out->append("='");
    AppendEscapedAttr(e.ns(), out);
    out->push_back('\'');
  } else if (prefix.empty() && e.ns() != scope.default_ns) {
    AppendAttr({}, "xmlns", e.ns(), out);
    scope.default_ns = e.ns();
  }
  int generated = 0;
  for (const Attribute& a : e.attributes()) {
    if (a.ns.empty()) {
      if (a.name == "xmlns") continue;  // namespaces come from ns(), never from attributes
      AppendAttr({}, a.name, a.value, out);
    } else if (a.ns == kNsXml) {
      AppendAttr("xml", a.name, a.value, out);
    } else {
      std::string generated_prefix = "ns" + std::to_string(generated++);
      AppendAttr("xmlns", generated_prefix, a.ns, out);
      AppendAttr(generated_prefix, a.name, a.value, out);
    }
  }
  if (e.children().empty() && e.text().empty()) {
    out->append("/>");
    return;
  }
  out->push_back('>');
  AppendEscapedText(e.text(), out);
  for (const Element& child : e.children()) {
    Write(child, scope, out);
    AppendEscapedText(child.tail(), out);
  }
  out->append("</");
  if (!prefix.empty()) {
    out->append(prefix);
    out->push_back(':');
  }
  out->append(e.name());
  out->push_back('>');
}

}  // namespace

bool StreamHeader::DeclaresNamespace(std::string_view uri) const {
  for (const auto& [prefix, bound] : prefixes) {
    if (bound == uri) return true;
  }
  return false;
}

XmlScope StreamScope(const StreamHeader& header) {
  XmlScope scope;
  scope.default_ns = header.content_ns;
  scope.stream_prefix = true;
  for (const auto& [prefix, uri] : header.prefixes) {
    if (prefix == "db" && uri == kNsDialback) scope.db_prefix = true;
  }
  return scope;
}

void AppendXml(const Element& element, std::string* out, const XmlScope& scope) {
  Write(element, scope, out);
}

std::string ToXml(const Element& element, const XmlScope& scope) {
  std::string out;
  Write(element, scope, &out);
  return out;
}

std::string StreamHeaderXml(const StreamHeader& header, bool xml_declaration) {
  std::string out;
  if (xml_declaration) out.append("<?xml version='1.0'?>");
  out.append("<stream:stream");
  if (!header.content_ns.empty()) AppendAttr({}, "xmlns", header.content_ns, &out);
  AppendAttr("xmlns", "stream", kNsStreams, &out);
  for (const auto& [prefix, uri] : header.prefixes) {
    if (prefix == "stream" || prefix == "xml" || prefix.empty()) continue;
    AppendAttr("xmlns", prefix, uri, &out);
  }
  if (!header.from.empty()) AppendAttr({}, "from", header.from, &out);
  if (!header.to.empty()) AppendAttr({}, "to", header.to, &out);
  if (!header.id.empty()) AppendAttr({}, "id", header.id, &out);
  if (!header.version.empty()) AppendAttr({}, "version", header.version, &out);
  if (!header.lang.empty()) AppendAttr("xml", "lang", header.lang, &out);
  int generated = 0;
  for (const Attribute& a : header.other_attributes) {
    if (a.ns.empty()) {
      if (a.name != "xmlns") AppendAttr({}, a.name, a.value, &out);
    } else if (a.ns == kNsXml) {
      AppendAttr("xml", a.name, a.value, &out);
    } else {
      std::string generated_prefix;
      do {  // not one of the declared prefixes: a second declaration would be ill-formed
        generated_prefix = "ns" + std::to_string(generated++);
      } while (std::any_of(header.prefixes.begin(), header.prefixes.end(),
                           [&](const auto& p) { return p.first == generated_prefix; }));
      AppendAttr("xmlns", generated_prefix, a.ns, &out);
      AppendAttr(generated_prefix, a.name, a.value, &out);
    }
  }
  out.push_back('>');
  return out;
}

}  // namespace causeway::xmpp
