#pragma once
// A small immutable XML tree over expat for the Lync bodies (MS-PRES, MS-SIPRE), and a writer.
//
// Parsing is strict and bounded: DOCTYPE / entity declarations and processing instructions are
// rejected, the input must be UTF-8 (whatever the XML declaration says), and size, depth and
// element count are capped. Every failure is absl::InvalidArgumentError carrying SIP 400 (see
// core/status.h): the caller answers 400 and stores nothing.
//
// Each element keeps the byte range of its own source text (start tag to end tag) so published
// category XML can be redistributed verbatim. Names are split into namespace URI and local name.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/utf8.h"

namespace causeway::sip::lync {

struct XmlLimits {
  size_t max_bytes = 256 * 1024;
  size_t max_depth = 32;
  size_t max_elements = 20000;
  size_t max_attributes = 64;  // per element
};

struct XmlAttribute {
  std::string ns;     // namespace URI, "" for unprefixed attributes
  std::string name;   // local name
  std::string value;  // entity references decoded
};

class XmlElement {
 public:
  std::string_view ns() const { return ns_; }      // namespace URI ("" when none)
  std::string_view name() const { return name_; }  // local name
  const std::vector<XmlAttribute>& attributes() const { return attributes_; }
  const std::vector<XmlElement>& children() const { return children_; }
  // Character data directly inside this element (CDATA included, children's text excluded).
  std::string_view text() const { return text_; }

  // The first attribute with local name `name` (any namespace; unprefixed preferred).
  std::optional<std::string_view> Attr(std::string_view name) const;
  std::optional<std::string_view> AttrNs(std::string_view ns, std::string_view name) const;
  std::string_view AttrOr(std::string_view name, std::string_view fallback) const;

  // First child with local name `name`, or nullptr. A '/'-separated path walks down ("a/b").
  const XmlElement* Child(std::string_view path) const;
  // Every direct child with local name `name`, in document order.
  std::vector<const XmlElement*> Children(std::string_view name) const;
  // Text of Child(path), "" when absent.
  std::string_view ChildText(std::string_view path) const;

  // The exact source bytes of this element, from '<' of the start tag to '>' of the end tag.
  std::string_view outer_xml() const { return outer_; }
  // The exact source bytes between the start and end tags ("" for <x/>).
  std::string_view inner_xml() const { return inner_; }

 private:
  friend class XmlParser;
  std::string ns_;
  std::string name_;
  std::string text_;
  std::vector<XmlAttribute> attributes_;
  std::vector<XmlElement> children_;
  std::string_view outer_;
  std::string_view inner_;
};

// A parsed document: owns the source text the elements' byte ranges point into. Movable (the
// source lives on the heap, so views stay valid), not copyable.
class XmlDocument {
 public:
  XmlDocument(XmlDocument&&) = default;
  XmlDocument& operator=(XmlDocument&&) = default;
  XmlDocument(const XmlDocument&) = delete;
  XmlDocument& operator=(const XmlDocument&) = delete;

  const XmlElement& root() const { return root_; }
  std::string_view source() const { return *source_; }

 private:
  friend class XmlParser;
  XmlDocument() = default;
  std::unique_ptr<std::string> source_;
  XmlElement root_;
};

// Parses one document. Errors: InvalidArgument (SIP 400) for malformed, unsafe or oversized input.
absl::StatusOr<XmlDocument> ParseXml(std::string_view body, const XmlLimits& limits = {});

using causeway::IsValidUtf8;  // core/utf8.h

// True for names the writer may emit: ASCII letter or '_' first, then letters, digits, '_', '-',
// '.', ':' (a conservative subset of XML 1.0 Name).
bool IsXmlName(std::string_view name);

// Escaping for text and attribute values. Characters XML 1.0 cannot carry (C0 controls other than
// TAB/LF/CR, invalid UTF-8) are replaced by U+FFFD so the output is always well-formed.
std::string XmlEscapeText(std::string_view s);
std::string XmlEscapeAttr(std::string_view s);

// Streaming writer producing compact XML (no whitespace added). Element and attribute names are
// written as given: pass constants, or check IsXmlName() first for names that come from data.
//   XmlWriter w;
//   w.Open("contactList").Attr("deltaNum", "3");
//   w.Open("group").Attr("id", "1").Close();   // <group id="1"/>
//   w.Close();
//   std::string xml = std::move(w).Finish();
class XmlWriter {
 public:
  // Starts <name; attributes may follow until content or Close().
  XmlWriter& Open(std::string_view name);
  XmlWriter& Attr(std::string_view name, std::string_view value);
  XmlWriter& Attr(std::string_view name, int64_t value);
  XmlWriter& Text(std::string_view text);
  // Appends already well-formed XML unchanged (verbatim category XML).
  XmlWriter& Raw(std::string_view xml);
  // <name>text</name> in one call.
  XmlWriter& Element(std::string_view name, std::string_view text);
  // Closes the innermost open element ("/>" when it had no content).
  XmlWriter& Close();
  size_t depth() const { return open_.size(); }
  // Closes what is still open and returns the document.
  std::string Finish() &&;

 private:
  void EndStartTag();
  std::string out_;
  std::vector<std::string> open_;
  bool start_tag_open_ = false;
};

}  // namespace causeway::sip::lync
