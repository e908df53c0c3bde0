#include "sip/io/transport_reject.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::sip {
namespace {

enum class Echo { kNone, kVia, kFrom, kTo, kCallId, kCSeq };

Echo Classify(std::string_view name) {
  name = FromAbsl(absl::StripAsciiWhitespace(ToAbsl(name)));
  auto is = [&](std::string_view a) { return absl::EqualsIgnoreCase(ToAbsl(name), ToAbsl(a)); };
  if (is("via") || is("v")) return Echo::kVia;
  if (is("from") || is("f")) return Echo::kFrom;
  if (is("to") || is("t")) return Echo::kTo;
  if (is("call-id") || is("i")) return Echo::kCallId;
  if (is("cseq")) return Echo::kCSeq;
  return Echo::kNone;
}

std::string_view CanonicalName(Echo e) {
  switch (e) {
    case Echo::kVia: return "Via";
    case Echo::kFrom: return "From";
    case Echo::kTo: return "To";
    case Echo::kCallId: return "Call-ID";
    case Echo::kCSeq: return "CSeq";
    case Echo::kNone: break;
  }
  return "";
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}

// Value text safe to echo: no control characters (a CR or LF would inject headers).
std::string CleanValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == '\t') out.push_back(' ');
    else if (u >= 0x20 && u != 0x7f) out.push_back(c);
  }
  return out;
}

std::string MakeTag() {
  static std::atomic<uint64_t> counter{0};
  uint64_t x = static_cast<uint64_t>(
                   std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (counter.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return absl::StrCat("cw", absl::Hex(x));
}

struct Line {
  std::string_view text;
  size_t next = 0;  // offset of the following line
};

// The line starting at `pos` (without its CRLF or LF); nullopt at end of input.
std::optional<Line> NextLine(std::string_view raw, size_t pos) {
  if (pos >= raw.size()) return std::nullopt;
  size_t lf = raw.find('\n', pos);
  size_t end = lf == std::string_view::npos ? raw.size() : lf;
  size_t next = lf == std::string_view::npos ? raw.size() : lf + 1;
  std::string_view text = raw.substr(pos, end - pos);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return Line{text, next};
}

}  // namespace

std::string CleanReasonPhrase(std::string_view text, size_t max_length) {
  std::string out = CleanValue(text);
  std::string_view trimmed = FromAbsl(absl::StripAsciiWhitespace(ToAbsl(out)));
  if (trimmed.size() > max_length) trimmed = trimmed.substr(0, max_length);
  return std::string(trimmed);
}

std::optional<std::string> BuildRejectResponse(std::string_view raw, int code,
                                               std::string_view reason) {
  if (code < 300 || code > 699) return std::nullopt;
  if (raw.size() > kRejectMaxScanBytes) raw = raw.substr(0, kRejectMaxScanBytes);
  size_t pos = 0;
  while (pos < raw.size() && (raw[pos] == '\r' || raw[pos] == '\n')) ++pos;  // §7.5 leading CRLF
  std::optional<Line> start = NextLine(raw, pos);
  if (!start) return std::nullopt;

  // Request-Line: Method SP Request-URI SP SIP-Version. A response is never answered.
  std::string_view line = start->text;
  if (absl::StartsWith(ToAbsl(line), "SIP/")) return std::nullopt;
  size_t sp = line.find(' ');
  if (sp == 0 || sp == std::string_view::npos) return std::nullopt;
  std::string_view method = line.substr(0, sp);
  for (char c : method) {
    if (!IsTokenChar(c)) return std::nullopt;
  }
  if (method == "ACK") return std::nullopt;  // RFC 3261 §17: ACK is never answered

  std::array<std::string, 6> single;  // From, To, Call-ID, CSeq by Echo index
  std::vector<std::string> vias;
  Echo current = Echo::kNone;
  std::string* current_text = nullptr;
  pos = start->next;
  while (std::optional<Line> l = NextLine(raw, pos)) {
    pos = l->next;
    if (l->text.empty()) break;  // end of the header section
    if (l->text.front() == ' ' || l->text.front() == '\t') {  // folded continuation (§7.3.1)
      if (current_text != nullptr && current_text->size() < kRejectMaxEchoedLine) {
        absl::StrAppend(current_text, " ",
                        CleanValue(FromAbsl(absl::StripAsciiWhitespace(ToAbsl(l->text)))));
      }
      continue;
    }
    current = Echo::kNone;
    current_text = nullptr;
    size_t colon = l->text.find(':');
    if (colon == std::string_view::npos) continue;
    current = Classify(l->text.substr(0, colon));
    if (current == Echo::kNone) continue;
    std::string value =
        CleanValue(FromAbsl(absl::StripAsciiWhitespace(ToAbsl(l->text.substr(colon + 1)))));
    if (current == Echo::kVia) {
      if (vias.size() >= kRejectMaxEchoedVias) {
        current = Echo::kNone;
        continue;
      }
      vias.push_back(std::move(value));
      current_text = &vias.back();
    } else {
      std::string& slot = single[static_cast<size_t>(current)];
      if (!slot.empty()) {  // duplicate: keep the first one
        current = Echo::kNone;
        continue;
      }
      slot = std::move(value);
      current_text = &slot;
    }
  }
  // Folded continuations may make a line grow past the cap; drop whatever is still too long.
  vias.erase(std::remove_if(vias.begin(), vias.end(),
                            [](const std::string& v) {
                              return v.empty() || v.size() > kRejectMaxEchoedLine;
                            }),
             vias.end());
  if (vias.empty()) return std::nullopt;

  std::string reason_phrase = CleanReasonPhrase(reason);
  if (reason_phrase.empty()) reason_phrase = code == 400 ? "Bad Request" : "Error";
  std::string out = absl::StrCat("SIP/2.0 ", code, " ", reason_phrase, "\r\n");
  for (const std::string& via : vias) absl::StrAppend(&out, "Via: ", via, "\r\n");
  for (Echo e : {Echo::kFrom, Echo::kTo, Echo::kCallId, Echo::kCSeq}) {
    std::string& value = single[static_cast<size_t>(e)];
    if (value.empty() || value.size() > kRejectMaxEchoedLine) continue;
    if (e == Echo::kTo &&
        !absl::StrContains(absl::AsciiStrToLower(ToAbsl(value)), ";tag=")) {
      absl::StrAppend(&value, ";tag=", MakeTag());
    }
    absl::StrAppend(&out, ToAbsl(CanonicalName(e)), ": ", value, "\r\n");
  }
  absl::StrAppend(&out, "Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace causeway::sip
