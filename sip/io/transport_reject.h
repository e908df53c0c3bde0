#pragma once
// Answers for requests that failed to parse. SipMessage::Parse gives no message on error, so the
// answer is built from the raw lines a response must echo (RFC 3261 §8.2.6: Via, From, To,
// Call-ID, CSeq). No answer when the bytes are a response (§18.1.2), or when the start line or a
// Via cannot be found: without a Via there is nowhere to send a response.

#include <optional>
#include <string>
#include <string_view>

namespace causeway::sip {

// Limits on what is echoed, so a hostile request cannot make us build a huge answer.
inline constexpr size_t kRejectMaxEchoedLine = 2048;
inline constexpr size_t kRejectMaxEchoedVias = 16;
inline constexpr size_t kRejectMaxScanBytes = 65536;

// `code` is the SIP status to send (400, 413, 505, 513...); `reason` is free text (typically the
// parse error), cleaned to a valid reason phrase and cut to 120 characters. Adds a To tag when the
// request's To has none (a stateless answer still needs one, RFC 3261 §8.2.6.2).
std::optional<std::string> BuildRejectResponse(std::string_view raw, int code,
                                               std::string_view reason);

// A reason phrase made of printable characters only (RFC 3261 §25.1 TEXT-UTF8 minus controls).
std::string CleanReasonPhrase(std::string_view text, size_t max_length = 120);

}  // namespace causeway::sip
