#pragma once
// UTF-8 validation and XML escaping shared by the serializer and the JID parser.

#include <cstddef>
#include <string>
#include <string_view>

namespace causeway::xmpp {

// Length of the well-formed UTF-8 sequence starting at s[i] (1..4), 0 when it is not one
// (overlongs, surrogates and code points above U+10FFFF are not).
size_t Utf8SequenceLength(std::string_view s, size_t i);

// True when all of `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

// Append `s` escaped for element content: & < > become entity references, CR a character
// reference (a raw CR would be read back as LF). Characters XML 1.0 cannot carry (C0 controls
// other than TAB/LF/CR, U+FFFE/U+FFFF, invalid UTF-8) become U+FFFD, so the output is always
// well-formed whatever `s` holds.
void AppendEscapedText(std::string_view s, std::string* out);

// Same for an attribute value in quotes: also " and ', and TAB/LF/CR as character references
// (attribute-value normalization would turn them into spaces).
void AppendEscapedAttr(std::string_view s, std::string* out);

}  // namespace causeway::xmpp
