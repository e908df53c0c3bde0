#include "xmpp/codec/stream_parser.h"

#include <expat.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/namespaces.h"

namespace causeway::xmpp {

namespace {

// Separates namespace URI, local name and prefix in expat's names. U+0001 cannot occur in XML 1.0
// text, not even as a character reference, so it never collides with a URI.
constexpr char kNsSeparator = '\x01';

struct QName {
  std::string_view ns;
  std::string_view local;
  std::string_view prefix;
};

QName SplitName(const XML_Char* qualified) {
  std::string_view q(qualified);
  size_t first = q.find(kNsSeparator);
  if (first == std::string_view::npos) return {{}, q, {}};
  size_t second = q.find(kNsSeparator, first + 1);
  if (second == std::string_view::npos) return {q.substr(0, first), q.substr(first + 1), {}};
  return {q.substr(0, first), q.substr(first + 1, second - first - 1), q.substr(second + 1)};
}

bool IsXmlWhitespace(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

absl::Status ExpatError(XML_Error code, XML_Size line, XML_Size column) {
  StreamErrorCondition condition = StreamErrorCondition::kNotWellFormed;
  switch (code) {
    case XML_ERROR_UNBOUND_PREFIX:
    case XML_ERROR_UNDECLARING_PREFIX:
    case XML_ERROR_RESERVED_PREFIX_XML:
    case XML_ERROR_RESERVED_PREFIX_XMLNS:
    case XML_ERROR_RESERVED_NAMESPACE_URI:
      condition = StreamErrorCondition::kBadNamespacePrefix;
      break;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_PARAM_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_MISPLACED_XML_PI:
      condition = StreamErrorCondition::kRestrictedXml;
      break;
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING:
      condition = StreamErrorCondition::kUnsupportedEncoding;
      break;
    case XML_ERROR_NO_MEMORY:
      condition = StreamErrorCondition::kResourceConstraint;
      break;
    default:
      break;
  }
  return StreamError(condition, absl::StrCat("xmpp stream: ", XML_ErrorString(code), " at line ",
                                             line, " column ", column));
}

}  // namespace

// expat's C callbacks, with access to the parser's state.
class StreamParserCallbacks {
 public:
  static StreamParser& Self(void* user) { return *static_cast<StreamParser*>(user); }
  // expat may still deliver an event or two after XML_StopParser: they are dropped.
  static bool Active(const StreamParser& self) {
    return self.status_.ok() && !self.reset_requested_ && !self.stream_closed_;
  }

  static uint64_t EventEnd(StreamParser& self) {
    XML_Index index = XML_GetCurrentByteIndex(self.parser_);
    int count = XML_GetCurrentByteCount(self.parser_);
    if (index < 0 || count < 0) return self.fed_;
    return static_cast<uint64_t>(index) + static_cast<uint64_t>(count);
  }

  static void OnStart(void* user, const XML_Char* name, const XML_Char** atts) {
    StreamParser& self = Self(user);
    if (!Active(self)) return;
    if (self.depth_ == 0) return OpenStream(self, name, atts);
    if (self.depth_ - 1 >= self.limits_.max_depth) {
      return self.Fail(StreamError(StreamErrorCondition::kPolicyViolation,
                                   "xmpp stream: element nesting over the depth limit"));
    }
    QName q = SplitName(name);
    Element* element;
    if (self.depth_ == 1) {
      XML_Index index = XML_GetCurrentByteIndex(self.parser_);
      self.stanza_begin_ = index < 0 ? self.boundary_ : static_cast<uint64_t>(index);
      self.stanza_tag_end_ = EventEnd(self);
      // The previous stanza's storage is reused when the handler did not move it away: its
      // strings and attribute slots keep their capacity.
      element = &self.stanza_;
      element->set_ns(q.ns);
      element->set_name(q.local);
      element->mutable_text().clear();
      element->mutable_tail().clear();
      element->mutable_children().clear();
    } else {
      std::vector<Element>& siblings = self.open_.back()->mutable_children();
      if (siblings.empty()) siblings.reserve(4);  // stanzas rarely have more direct children
      element = &self.open_.back()->AddChild(q.ns, q.local);
    }
    size_t count = 0;
    for (const XML_Char** a = atts; a[0] != nullptr; a += 2) ++count;
    if (count > self.limits_.max_attributes) {
      return self.Fail(StreamError(StreamErrorCondition::kPolicyViolation,
                                   "xmpp stream: element with too many attributes"));
    }
    std::vector<Attribute>& attributes = element->mutable_attributes();
    attributes.resize(count);
    for (size_t i = 0; i < count; ++i) {
      QName attr = SplitName(atts[2 * i]);
      Attribute& out = attributes[i];
      out.ns.assign(attr.ns);
      out.name.assign(attr.local);
      out.value.assign(atts[2 * i + 1]);
    }
    self.open_.push_back(element);
    ++self.depth_;
  }

  static void OpenStream(StreamParser& self, const XML_Char* name, const XML_Char** atts) {
    QName q = SplitName(name);
    if (q.ns != kNsStreams || q.local != "stream") {
      return self.Fail(
          StreamError(StreamErrorCondition::kInvalidNamespace,
                      "xmpp stream: root is not {http://etherx.jabber.org/streams}stream"));
    }
    if (q.prefix != "stream") {
      return self.Fail(StreamError(StreamErrorCondition::kBadNamespacePrefix,
                                   "xmpp stream: the stream namespace prefix must be 'stream'"));
    }
    StreamHeader& header = self.header_;
    for (auto& [prefix, uri] : self.pending_declarations_) {
      if (prefix.empty()) {
        header.content_ns = uri;
      } else if (prefix != "stream") {
        header.prefixes.emplace_back(std::move(prefix), std::move(uri));
      }
    }
    self.pending_declarations_.clear();
    if (!IsContentNamespace(header.content_ns)) {
      return self.Fail(StreamError(
          StreamErrorCondition::kInvalidNamespace,
          absl::StrCat("xmpp stream: unsupported content namespace '", header.content_ns, "'")));
    }
    size_t count = 0;
    for (const XML_Char** a = atts; a[0] != nullptr; a += 2) {
      if (++count > self.limits_.max_attributes) {
        return self.Fail(StreamError(StreamErrorCondition::kPolicyViolation,
                                     "xmpp stream: stream header with too many attributes"));
      }
      QName attr = SplitName(a[0]);
      std::string_view value(a[1]);
      if (attr.ns.empty() && attr.local == "to") {
        header.to.assign(value);
      } else if (attr.ns.empty() && attr.local == "from") {
        header.from.assign(value);
      } else if (attr.ns.empty() && attr.local == "id") {
        header.id.assign(value);
      } else if (attr.ns.empty() && attr.local == "version") {
        header.version.assign(value);
      } else if (attr.ns == kNsXml && attr.local == "lang") {
        header.lang.assign(value);
      } else {
        header.other_attributes.push_back(
            Attribute{std::string(attr.ns), std::string(attr.local), std::string(value)});
      }
    }
    self.depth_ = 1;
    self.stream_open_ = true;
    self.boundary_ = EventEnd(self);
    self.event_end_ = self.boundary_;
    self.handler_.OnStreamOpen(header);
  }

  static void OnEnd(void* user, const XML_Char* /*name*/) {
    StreamParser& self = Self(user);
    if (!Active(self) || self.depth_ == 0) return;
    --self.depth_;
    if (self.depth_ == 0) {
      self.stream_closed_ = true;
      // A self-closing root (<stream:stream .../>) has no end-tag bytes of its own.
      self.event_end_ = XML_GetCurrentByteCount(self.parser_) > 0 ? EventEnd(self) : self.boundary_;
      // Whatever follows the root is not ours to parse (expat would call it junk).
      XML_StopParser(self.parser_, XML_FALSE);
      self.handler_.OnStreamClose();
      return;
    }
    self.open_.pop_back();
    if (self.depth_ > 1) return;
    // A first-level element is complete. An empty-element tag has no end-tag bytes of its own.
    int count = XML_GetCurrentByteCount(self.parser_);
    uint64_t end = count > 0 ? EventEnd(self) : self.stanza_tag_end_;
    if (end - self.stanza_begin_ > self.limits_.max_stanza_bytes) {
      return self.Fail(StreamError(StreamErrorCondition::kPolicyViolation,
                                   "xmpp stream: stanza over the size limit"));
    }
    self.boundary_ = end;
    self.event_end_ = end;
    self.handler_.OnStanza(self.stanza_);
  }

  static void OnText(void* user, const XML_Char* s, int len) {
    StreamParser& self = Self(user);
    if (!Active(self) || len <= 0) return;
    std::string_view text(s, static_cast<size_t>(len));
    if (self.depth_ >= 2) {
      self.open_.back()->AppendText(text);
      return;
    }
    if (self.depth_ == 1) {
      // Between stanzas only whitespace (keepalives, pretty-printing) may appear.
      if (!IsXmlWhitespace(text)) {
        return self.Fail(
            StreamError(StreamErrorCondition::kBadFormat, "xmpp stream: text between stanzas"));
      }
      self.boundary_ = EventEnd(self);
    }
  }

  static void OnNamespaceStart(void* user, const XML_Char* prefix, const XML_Char* uri) {
    StreamParser& self = Self(user);
    if (self.depth_ != 0 || !Active(self)) return;  // inside stanzas expat resolves them
    if (self.pending_declarations_.size() >= self.limits_.max_attributes) {
      return self.Fail(StreamError(StreamErrorCondition::kPolicyViolation,
                                   "xmpp stream: stream header with too many declarations"));
    }
    self.pending_declarations_.emplace_back(prefix != nullptr ? prefix : "",
                                            uri != nullptr ? uri : "");
  }

  static void OnXmlDecl(void* user, const XML_Char* /*version*/, const XML_Char* encoding,
                        int /*standalone*/) {
    if (encoding != nullptr && !EqualsIgnoreAsciiCase(encoding, "UTF-8")) {
      Self(user).Fail(StreamError(StreamErrorCondition::kUnsupportedEncoding,
                                  "xmpp stream: encoding other than UTF-8 declared"));
    }
  }

  static void Restricted(void* user, std::string_view what) {
    Self(user).Fail(StreamError(StreamErrorCondition::kRestrictedXml,
                                absl::StrCat("xmpp stream: ", ToAbsl(what), " not allowed")));
  }
  static void OnDoctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    Restricted(user, "DOCTYPE");
  }
  static void OnEntityDecl(void* user, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                           const XML_Char*, const XML_Char*, const XML_Char*) {
    Restricted(user, "entity declaration");
  }
  static void OnProcessingInstruction(void* user, const XML_Char*, const XML_Char*) {
    Restricted(user, "processing instruction");
  }
  static void OnComment(void* user, const XML_Char*) { Restricted(user, "comment"); }
};

StreamParser::StreamParser(StreamHandler& handler, StreamLimits limits)
    : handler_(handler), limits_(limits) {
  limits_.max_stanza_bytes = std::max<size_t>(limits_.max_stanza_bytes, 1);
  // The forced encoding overrides any declaration; a declared non-UTF-8 one is refused in
  // OnXmlDecl (RFC 6120 §11.6).
  parser_ = XML_ParserCreateNS("UTF-8", kNsSeparator);
  InstallHandlers();
}

StreamParser::~StreamParser() {
  if (parser_ != nullptr) XML_ParserFree(parser_);
}

void StreamParser::InstallHandlers() {
  if (parser_ == nullptr) return;
  using C = StreamParserCallbacks;
  XML_SetUserData(parser_, this);
  XML_SetReturnNSTriplet(parser_, XML_TRUE);  // the stream root's prefix is checked
  XML_SetElementHandler(parser_, &C::OnStart, &C::OnEnd);
  XML_SetCharacterDataHandler(parser_, &C::OnText);
  XML_SetStartNamespaceDeclHandler(parser_, &C::OnNamespaceStart);
  XML_SetXmlDeclHandler(parser_, &C::OnXmlDecl);
  XML_SetStartDoctypeDeclHandler(parser_, &C::OnDoctype);
  XML_SetEntityDeclHandler(parser_, &C::OnEntityDecl);
  XML_SetProcessingInstructionHandler(parser_, &C::OnProcessingInstruction);
  XML_SetCommentHandler(parser_, &C::OnComment);
  XML_SetParamEntityParsing(parser_, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
  // Deferring re-parse would hold a complete stanza back until more bytes arrive.
  XML_SetReparseDeferralEnabled(parser_, XML_FALSE);
#endif
}

void StreamParser::ClearState() {
  header_ = StreamHeader();
  pending_declarations_.clear();
  stanza_.Clear();
  open_.clear();
  depth_ = 0;
  stream_open_ = false;
  stream_closed_ = false;
  status_ = absl::OkStatus();
  fed_ = 0;
  boundary_ = 0;
  stanza_begin_ = 0;
  stanza_tag_end_ = 0;
  event_end_ = 0;
  reset_requested_ = false;
}

void StreamParser::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  if (in_parse_) XML_StopParser(parser_, XML_FALSE);
}

void StreamParser::Reset() {
  if (in_parse_) {
    // expat cannot be reset from inside its own callback: stop it, Feed finishes the reset.
    reset_requested_ = true;
    XML_StopParser(parser_, XML_FALSE);
    return;
  }
  if (parser_ != nullptr) XML_ParserReset(parser_, "UTF-8");
  InstallHandlers();
  ClearState();
}

absl::Status StreamParser::Feed(std::string_view bytes) {
  consumed_ = 0;
  if (parser_ == nullptr) {
    return StreamError(StreamErrorCondition::kResourceConstraint, "xmpp stream: no parser");
  }
  if (!status_.ok()) return status_;
  if (stream_closed_) {
    consumed_ = bytes.size();
    return absl::OkStatus();
  }
  // Slices no larger than a stanza may be: after each, the bytes since the last complete stanza
  // are checked, so expat's buffer and the tree never grow past about two stanza limits.
  const size_t slice_limit = std::min<size_t>(limits_.max_stanza_bytes, size_t{1} << 26);
  const uint64_t feed_begin = fed_;
  // Bytes of this feed up to the end of the construct last reported to the handler.
  auto consumed_up_to = [&](uint64_t end) {
    return static_cast<size_t>(std::min(std::max(end, feed_begin), fed_) - feed_begin);
  };
  while (!bytes.empty()) {
    size_t n = std::min(bytes.size(), slice_limit);
    in_parse_ = true;
    XML_Status st = XML_Parse(parser_, bytes.data(), static_cast<int>(n), XML_FALSE);
    in_parse_ = false;
    fed_ += n;
    if (reset_requested_) {
      consumed_ = consumed_up_to(event_end_);
      Reset();
      return absl::OkStatus();
    }
    if (!status_.ok()) return status_;
    if (stream_closed_) {
      consumed_ = consumed_up_to(event_end_);
      return absl::OkStatus();
    }
    if (st != XML_STATUS_OK) {
      status_ = ExpatError(XML_GetErrorCode(parser_), XML_GetCurrentLineNumber(parser_),
                           XML_GetCurrentColumnNumber(parser_));
      return status_;
    }
    if (fed_ - boundary_ > limits_.max_stanza_bytes) {
      Fail(StreamError(StreamErrorCondition::kPolicyViolation,
                       "xmpp stream: stanza over the size limit"));
      return status_;
    }
    bytes.remove_prefix(n);
  }
  consumed_ = static_cast<size_t>(fed_ - feed_begin);
  return absl::OkStatus();
}

}  // namespace causeway::xmpp
