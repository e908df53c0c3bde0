#pragma once
// Server Dialback keys (XEP-0185, as XEP-0220 §4.4 recommends) and stream ids.
//
//   key = hex(HMAC-SHA256(hex(SHA-256(secret)), receiving + ' ' + originating + ' ' + stream_id))
//
// The authoritative server recomputes the key from the same inputs when asked with <db:verify/>,
// so it keeps no per-stream state; the stream id in the input ties a key to one stream.

#include <string>
#include <string_view>

namespace causeway::xmpp::s2s {

// Lower-case hex, 64 characters.
std::string DialbackKey(std::string_view secret, std::string_view receiving_domain,
                        std::string_view originating_domain, std::string_view stream_id);

// Compares two keys in time independent of where they differ.
bool DialbackKeysEqual(std::string_view a, std::string_view b);

// A stream id with 128 bits from the OS random source (RFC 6120 §4.7.3 wants ids that cannot be
// guessed, since dialback keys depend on them), as 32 hex characters.
std::string RandomStreamId();

}  // namespace causeway::xmpp::s2s
