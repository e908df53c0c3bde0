#pragma once
// A mutable XML element for parsed and built stanzas: namespace URI + local name, attributes in
// document order, child elements, and character data in the ElementTree layout:
//
//   <body>Hi <b>there</b>, you</body>
//   body.text() == "Hi "      the data before the first child
//   b.text()    == "there"
//   b.tail()    == ", you"    the data after </b>, up to the next sibling or the parent's end
//
// Mixed content (XHTML-IM) keeps its order this way without a separate text-node type, and the
// common case (a leaf like <body>) is one string. Namespace prefixes are not kept: they are
// resolved on parse and chosen again by the serializer (serializer.h).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace causeway::xmpp {

struct Attribute {
  std::string ns;  // namespace URI; "" for unprefixed attributes (the usual case)
  std::string name;
  std::string value;

  friend bool operator==(const Attribute&, const Attribute&) = default;
};

class Element {
 public:
  Element() = default;
  Element(std::string_view ns, std::string_view name) : ns_(ns), name_(name) {}

  const std::string& ns() const { return ns_; }
  const std::string& name() const { return name_; }
  void set_ns(std::string_view ns) { ns_.assign(ns); }
  void set_name(std::string_view name) { name_.assign(name); }
  bool Is(std::string_view ns, std::string_view name) const { return name_ == name && ns_ == ns; }

  // ---- attributes ----
  const std::vector<Attribute>& attributes() const { return attributes_; }
  std::vector<Attribute>& mutable_attributes() { return attributes_; }
  // The unprefixed attribute `name`, if present.
  std::optional<std::string_view> Attr(std::string_view name) const;
  std::string_view AttrOr(std::string_view name, std::string_view fallback) const;
  std::optional<std::string_view> AttrNs(std::string_view ns, std::string_view name) const;
  // Sets (replacing) or adds an unprefixed / namespaced attribute.
  Element& SetAttr(std::string_view name, std::string_view value);
  Element& SetAttrNs(std::string_view ns, std::string_view name, std::string_view value);
  bool RemoveAttr(std::string_view name);

  // ---- content ----
  const std::string& text() const { return text_; }
  const std::string& tail() const { return tail_; }
  std::string& mutable_text() { return text_; }
  std::string& mutable_tail() { return tail_; }
  Element& SetText(std::string_view text);
  // Appends character data after everything this element holds so far (to text() when it has
  // no children, else to the last child's tail()).
  void AppendText(std::string_view text);

  const std::vector<Element>& children() const { return children_; }
  std::vector<Element>& mutable_children() { return children_; }
  // Appends a child and returns it (the reference lives until the next change of children()).
  Element& AddChild(Element child);
  Element& AddChild(std::string_view ns, std::string_view name);
  // First child with this namespace and local name, or nullptr.
  const Element* FindChild(std::string_view ns, std::string_view name) const;
  Element* FindChild(std::string_view ns, std::string_view name);
  // First child in namespace `ns` whatever its name (error conditions, payloads), or nullptr.
  const Element* FindChildInNs(std::string_view ns) const;
  // text() of FindChild(ns, name), "" when absent.
  std::string_view ChildText(std::string_view ns, std::string_view name) const;

  // Empties the element but keeps the capacity of its own strings and vectors for reuse.
  void Clear();

  friend bool operator==(const Element& a, const Element& b);

 private:
  std::string ns_;
  std::string name_;
  std::vector<Attribute> attributes_;
  std::vector<Element> children_;
  std::string text_;
  std::string tail_;
};

}  // namespace causeway::xmpp
