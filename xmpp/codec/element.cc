#include "xmpp/codec/element.h"

#include <utility>

namespace causeway::xmpp {

std::optional<std::string_view> Element::Attr(std::string_view name) const {
  for (const Attribute& a : attributes_) {
    if (a.name == name && a.ns.empty()) return std::string_view(a.value);
  }
  return std::nullopt;
}

std::string_view Element::AttrOr(std::string_view name, std::string_view fallback) const {
  std::optional<std::string_view> value = Attr(name);
  return value ? *value : fallback;
}

std::optional<std::string_view> Element::AttrNs(std::string_view ns, std::string_view name) const {
  for (const Attribute& a : attributes_) {
    if (a.name == name && a.ns == ns) return std::string_view(a.value);
  }
  return std::nullopt;
}

Element& Element::SetAttr(std::string_view name, std::string_view value) {
  return SetAttrNs({}, name, value);
}

Element& Element::SetAttrNs(std::string_view ns, std::string_view name, std::string_view value) {
  for (Attribute& a : attributes_) {
    if (a.name == name && a.ns == ns) {
      a.value.assign(value);
      return *this;
    }
  }
  attributes_.push_back(Attribute{std::string(ns), std::string(name), std::string(value)});
  return *this;
}

bool Element::RemoveAttr(std::string_view name) {
  for (auto it = attributes_.begin(); it != attributes_.end(); ++it) {
    if (it->name == name && it->ns.empty()) {
      attributes_.erase(it);
      return true;
    }
  }
  return false;
}

Element& Element::SetText(std::string_view text) {
  text_.assign(text);
  return *this;
}

void Element::AppendText(std::string_view text) {
  if (children_.empty()) {
    text_.append(text);
  } else {
    children_.back().tail_.append(text);
  }
}

Element& Element::AddChild(Element child) {
  children_.push_back(std::move(child));
  return children_.back();
}

Element& Element::AddChild(std::string_view ns, std::string_view name) {
  children_.emplace_back(ns, name);
  return children_.back();
}

const Element* Element::FindChild(std::string_view ns, std::string_view name) const {
  for (const Element& c : children_) {
    if (c.Is(ns, name)) return &c;
  }
  return nullptr;
}

Element* Element::FindChild(std::string_view ns, std::string_view name) {
  for (Element& c : children_) {
    if (c.Is(ns, name)) return &c;
  }
  return nullptr;
}

const Element* Element::FindChildInNs(std::string_view ns) const {
  for (const Element& c : children_) {
    if (c.ns_ == ns) return &c;
  }
  return nullptr;
}

std::string_view Element::ChildText(std::string_view ns, std::string_view name) const {
  const Element* c = FindChild(ns, name);
  return c != nullptr ? std::string_view(c->text_) : std::string_view();
}

void Element::Clear() {
  ns_.clear();
  name_.clear();
  attributes_.clear();
  children_.clear();
  text_.clear();
  tail_.clear();
}

bool operator==(const Element& a, const Element& b) {
  return a.name_ == b.name_ && a.ns_ == b.ns_ && a.text_ == b.text_ && a.tail_ == b.tail_ &&
         a.attributes_ == b.attributes_ && a.children_ == b.children_;
}

}  // namespace causeway::xmpp
