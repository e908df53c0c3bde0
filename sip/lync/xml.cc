#include "sip/lync/xml.h"

#include <expat.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace causeway::sip::lync {

namespace {

// Separates namespace URI and local name in expat's names. U+0001 cannot occur in XML 1.0 text,
// not even as a character reference, so it never collides with a URI.
constexpr char kNsSeparator = '\x01';

void SplitName(const char* qualified, std::string& ns, std::string& local) {
  std::string_view q(qualified);
  size_t sep = q.find(kNsSeparator);
  if (sep == std::string_view::npos) {
    ns.clear();
    local.assign(q);
  } else {
    ns.assign(q.substr(0, sep));
    local.assign(q.substr(sep + 1));
  }
}

absl::Status Invalid(std::string_view message) {
  return SipError(400, absl::StrCat("xml: ", std::string(message)));
}

std::string Escape(std::string_view s, bool attribute) {
  std::string out;
  out.reserve(s.size() + 16);
  size_t i = 0;
  while (i < s.size()) {
    size_t len = Utf8SequenceLength(s, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not valid UTF-8
      ++i;
      continue;
    }
    if (len > 1) {
      // U+FFFE and U+FFFF are not XML characters.
      std::string_view seq = s.substr(i, len);
      if (seq == "\xEF\xBF\xBE" || seq == "\xEF\xBF\xBF") {
        out += "\xEF\xBF\xBD";
      } else {
        out.append(seq);
      }
      i += len;
      continue;
    }
    char c = s[i++];
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        if (attribute) {
          out += "&quot;";
        } else {
          out += c;
        }
        break;
      case '\t':
      case '\n':
      case '\r':
        // Attribute-value normalization would turn raw whitespace into spaces; CR in text
        // would be folded into LF. Character references keep both exact.
        if (attribute || c == '\r') {
          out += absl::StrCat("&#", static_cast<int>(c), ";");
        } else {
          out += c;
        }
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

// ---- XmlElement ----

std::optional<std::string_view> XmlElement::Attr(std::string_view name) const {
  const XmlAttribute* any = nullptr;
  for (const XmlAttribute& a : attributes_) {
    if (a.name != name) continue;
    if (a.ns.empty()) return std::string_view(a.value);
    if (any == nullptr) any = &a;
  }
  if (any != nullptr) return std::string_view(any->value);
  return std::nullopt;
}

std::optional<std::string_view> XmlElement::AttrNs(std::string_view ns,
                                                   std::string_view name) const {
  for (const XmlAttribute& a : attributes_) {
    if (a.ns == ns && a.name == name) return std::string_view(a.value);
  }
  return std::nullopt;
}

std::string_view XmlElement::AttrOr(std::string_view name, std::string_view fallback) const {
  std::optional<std::string_view> v = Attr(name);
  return v ? *v : fallback;
}

const XmlElement* XmlElement::Child(std::string_view path) const {
  const XmlElement* current = this;
  while (current != nullptr) {
    size_t slash = path.find('/');
    std::string_view step = path.substr(0, slash);
    const XmlElement* next = nullptr;
    for (const XmlElement& c : current->children_) {
      if (c.name_ == step) {
        next = &c;
        break;
      }
    }
    current = next;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return current;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view name) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& c : children_) {
    if (c.name_ == name) out.push_back(&c);
  }
  return out;
}

std::string_view XmlElement::ChildText(std::string_view path) const {
  const XmlElement* c = Child(path);
  return c != nullptr ? c->text() : std::string_view();
}

// ---- Parser ----

class XmlParser {
 public:
  XmlParser(const XmlLimits& limits) : limits_(limits) {}

  absl::StatusOr<XmlDocument> Parse(std::string_view body) {
    if (body.size() > limits_.max_bytes || body.size() > static_cast<size_t>(INT32_MAX)) {
      return Invalid("body too large");
    }
    if (!IsValidUtf8(body)) return Invalid("invalid UTF-8");
    XmlDocument doc;
    doc.source_ = std::make_unique<std::string>(body);
    source_ = *doc.source_;

    // The forced encoding overrides any encoding declaration: bytes were checked as UTF-8.
    XML_Parser p = XML_ParserCreateNS("UTF-8", kNsSeparator);
    if (p == nullptr) return absl::ResourceExhaustedError("xml: parser allocation failed");
    parser_ = p;
    XML_SetUserData(p, this);
    XML_SetElementHandler(p, &XmlParser::OnStart, &XmlParser::OnEnd);
    XML_SetCharacterDataHandler(p, &XmlParser::OnText);
    XML_SetStartDoctypeDeclHandler(p, &XmlParser::OnDoctype);
    XML_SetEntityDeclHandler(p, &XmlParser::OnEntityDecl);
    XML_SetProcessingInstructionHandler(p, &XmlParser::OnPi);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);

    XML_Status st = XML_Parse(p, source_.data(), static_cast<int>(source_.size()), XML_TRUE);
    std::string expat_error;
    if (st != XML_STATUS_OK && error_.empty()) {
      expat_error = absl::StrCat(XML_ErrorString(XML_GetErrorCode(p)), " at line ",
                                 XML_GetCurrentLineNumber(p));
    }
    XML_ParserFree(p);
    parser_ = nullptr;
    if (!error_.empty()) return Invalid(error_);
    if (st != XML_STATUS_OK) return Invalid(expat_error);
    if (!root_done_) return Invalid("no root element");
    doc.root_ = std::move(root_);
    return doc;
  }

 private:
  struct Open {
    XmlElement element;
    size_t begin = 0;          // '<' of the start tag
    size_t content_begin = 0;  // first byte after the start tag
  };

  void Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    XML_StopParser(parser_, XML_FALSE);
  }

  static void OnStart(void* user, const XML_Char* name, const XML_Char** atts) {
    auto* self = static_cast<XmlParser*>(user);
    if (!self->error_.empty()) return;
    if (self->stack_.size() >= self->limits_.max_depth) return self->Fail("too deep");
    if (++self->elements_ > self->limits_.max_elements) return self->Fail("too many elements");
    Open open;
    SplitName(name, open.element.ns_, open.element.name_);
    size_t n_attrs = 0;
    for (const XML_Char** a = atts; a[0] != nullptr; a += 2) {
      if (++n_attrs > self->limits_.max_attributes) return self->Fail("too many attributes");
      XmlAttribute attr;
      SplitName(a[0], attr.ns, attr.name);
      attr.value = a[1];
      open.element.attributes_.push_back(std::move(attr));
    }
    XML_Index index = XML_GetCurrentByteIndex(self->parser_);
    int count = XML_GetCurrentByteCount(self->parser_);
    if (index < 0 || count < 0 ||
        static_cast<size_t>(index) + static_cast<size_t>(count) > self->source_.size()) {
      return self->Fail("bad byte index");
    }
    open.begin = static_cast<size_t>(index);
    open.content_begin = open.begin + static_cast<size_t>(count);
    self->stack_.push_back(std::move(open));
  }

  static void OnEnd(void* user, const XML_Char* /*name*/) {
    auto* self = static_cast<XmlParser*>(user);
    if (!self->error_.empty() || self->stack_.empty()) return;
    Open open = std::move(self->stack_.back());
    self->stack_.pop_back();
    XML_Index index = XML_GetCurrentByteIndex(self->parser_);
    int count = XML_GetCurrentByteCount(self->parser_);
    size_t end = 0;
    size_t content_end = 0;
    if (count == 0) {
      // Empty-element tag <x/>: expat reports the end with no bytes of its own.
      end = open.content_begin;
      content_end = open.content_begin;
    } else {
      if (index < 0 || count < 0 || static_cast<size_t>(index) < open.content_begin ||
          static_cast<size_t>(index) + static_cast<size_t>(count) > self->source_.size()) {
        return self->Fail("bad byte index");
      }
      content_end = static_cast<size_t>(index);
      end = content_end + static_cast<size_t>(count);
    }
    std::string_view src = self->source_;
    open.element.outer_ = src.substr(open.begin, end - open.begin);
    open.element.inner_ = src.substr(open.content_begin, content_end - open.content_begin);
    if (self->stack_.empty()) {
      self->root_ = std::move(open.element);
      self->root_done_ = true;
    } else {
      self->stack_.back().element.children_.push_back(std::move(open.element));
    }
  }

  static void OnText(void* user, const XML_Char* s, int len) {
    auto* self = static_cast<XmlParser*>(user);
    if (!self->error_.empty() || self->stack_.empty() || len <= 0) return;
    self->stack_.back().element.text_.append(s, static_cast<size_t>(len));
  }

  static void OnDoctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<XmlParser*>(user)->Fail("DOCTYPE not allowed");
  }

  static void OnEntityDecl(void* user, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                           const XML_Char*, const XML_Char*, const XML_Char*) {
    static_cast<XmlParser*>(user)->Fail("entity declarations not allowed");
  }

  static void OnPi(void* user, const XML_Char*, const XML_Char*) {
    static_cast<XmlParser*>(user)->Fail("processing instructions not allowed");
  }

  const XmlLimits& limits_;
  XML_Parser parser_ = nullptr;
  std::string_view source_;
  std::vector<Open> stack_;
  XmlElement root_;
  bool root_done_ = false;
  size_t elements_ = 0;
  std::string error_;
};

absl::StatusOr<XmlDocument> ParseXml(std::string_view body, const XmlLimits& limits) {
  XmlParser parser(limits);
  return parser.Parse(body);
}

bool IsXmlName(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '.' && c != ':') return false;
  }
  return true;
}

std::string XmlEscapeText(std::string_view s) { return Escape(s, false); }
std::string XmlEscapeAttr(std::string_view s) { return Escape(s, true); }

// ---- XmlWriter ----

void XmlWriter::EndStartTag() {
  if (start_tag_open_) {
    out_ += '>';
    start_tag_open_ = false;
  }
}

XmlWriter& XmlWriter::Open(std::string_view name) {
  EndStartTag();
  out_ += '<';
  out_.append(name);
  open_.emplace_back(name);
  start_tag_open_ = true;
  return *this;
}

XmlWriter& XmlWriter::Attr(std::string_view name, std::string_view value) {
  if (!start_tag_open_) return *this;  // misuse: attributes only inside a start tag
  out_ += ' ';
  out_.append(name);
  out_ += "=\"";
  out_ += XmlEscapeAttr(value);
  out_ += '"';
  return *this;
}

XmlWriter& XmlWriter::Attr(std::string_view name, int64_t value) {
  return Attr(name, std::string_view(std::to_string(value)));
}

XmlWriter& XmlWriter::Text(std::string_view text) {
  EndStartTag();
  out_ += XmlEscapeText(text);
  return *this;
}

XmlWriter& XmlWriter::Raw(std::string_view xml) {
  EndStartTag();
  out_.append(xml);
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view name, std::string_view text) {
  Open(name);
  if (!text.empty()) Text(text);
  return Close();
}

XmlWriter& XmlWriter::Close() {
  if (open_.empty()) return *this;
  if (start_tag_open_) {
    out_ += "/>";
    start_tag_open_ = false;
  } else {
    out_ += "</";
    out_ += open_.back();
    out_ += '>';
  }
  open_.pop_back();
  return *this;
}

std::string XmlWriter::Finish() && {
  while (!open_.empty()) Close();
  return std::move(out_);
}

}  // namespace causeway::sip::lync
