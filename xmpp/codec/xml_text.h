#pragma once
// XML escaping shared by the serializer and the JID parser (UTF-8 checks: core/utf8.h).

#include <cstddef>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace causeway::xmpp {

using causeway::IsValidUtf8;  // core/utf8.h
using causeway::Utf8SequenceLength;

// Append `s` escaped for element content: & < > become entity references, CR a character
// reference (a raw CR would be read back as LF). Characters XML 1.0 cannot carry (C0 controls
// other than TAB/LF/CR, U+FFFE/U+FFFF, invalid UTF-8) become U+FFFD, so the output is always
// well-formed whatever `s` holds.
void AppendEscapedText(std::string_view s, std::string* out);

// Same for an attribute value in quotes: also " and ', and TAB/LF/CR as character references
// (attribute-value normalization would turn them into spaces).
void AppendEscapedAttr(std::string_view s, std::string* out);

}  // namespace causeway::xmpp
