#include "xmpp/codec/xml_text.h"

namespace causeway::xmpp {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

void AppendEscaped(std::string_view s, bool attribute, std::string* out) {
  out->reserve(out->size() + s.size());
  size_t i = 0;
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  auto flush = [&](size_t end) {
    if (end > run) out->append(s.data() + run, end - run);
  };
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::string_view replacement;
    size_t len = 1;
    if (c >= 0x80) {
      len = Utf8SequenceLength(s, i);
      if (len == 0) {
        len = 1;
        replacement = kReplacement;
      } else if (len == 3 && c == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
                 static_cast<unsigned char>(s[i + 2]) >= 0xBE) {
        replacement = kReplacement;  // U+FFFE and U+FFFF are not XML characters
      } else {
        i += len;
        continue;
      }
    } else {
      switch (c) {
        case '&':
          replacement = "&amp;";
          break;
        case '<':
          replacement = "&lt;";
          break;
        case '>':
          replacement = "&gt;";
          break;
        case '"':
          if (attribute) replacement = "&quot;";
          break;
        case '\'':
          if (attribute) replacement = "&apos;";
          break;
        case '\t':
          if (attribute) replacement = "&#9;";
          break;
        case '\n':
          if (attribute) replacement = "&#10;";
          break;
        case '\r':
          replacement = "&#13;";
          break;
        default:
          if (c < 0x20) replacement = kReplacement;  // C0 controls are not XML 1.0 characters
      }
      if (replacement.empty()) {
        ++i;
        continue;
      }
    }
    flush(i);
    out->append(replacement);
    i += len;
    run = i;
  }
  flush(s.size());
}

}  // namespace

void AppendEscapedText(std::string_view s, std::string* out) { AppendEscaped(s, false, out); }
void AppendEscapedAttr(std::string_view s, std::string* out) { AppendEscaped(s, true, out); }

}  // namespace causeway::xmpp
