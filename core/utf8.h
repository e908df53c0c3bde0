#pragma once
// UTF-8 well-formedness (RFC 3629), shared by every parser and store that must refuse or repair
// text that is not UTF-8 (XML bodies, XMPP streams and JIDs, the state database).

#include <cstddef>
#include <string_view>

namespace causeway {

// Length of the well-formed UTF-8 sequence starting at s[i] (1..4), 0 when it is not one
// (overlongs, surrogates and code points above U+10FFFF are not). Requires i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// True when all of `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

}  // namespace causeway
