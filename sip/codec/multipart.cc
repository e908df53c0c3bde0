#include "sip/codec/multipart.h"

#include "absl/strings/match.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/scan.h"

namespace causeway::sip {
namespace {

absl::Status Bad(std::string_view what) { return SipError(400, what); }

// Finds "--boundary" at the start of a line at or after `from`. Returns npos when absent.
size_t FindDelimiter(std::string_view body, std::string_view delimiter, size_t from) {
  size_t pos = from;
  while (pos <= body.size()) {
    size_t hit = body.find(delimiter, pos);
    if (hit == std::string_view::npos) return hit;
    bool line_start = hit == 0 || body[hit - 1] == '\n';
    size_t after = hit + delimiter.size();
    // The boundary must be followed by "--", transport padding or the line end (RFC 2046 §5.1.1).
    bool whole = after == body.size() || body[after] == '-' || body[after] == '\r' ||
                 body[after] == '\n' || body[after] == ' ' || body[after] == '\t';
    if (line_start && whole) return hit;
    pos = hit + 1;
  }
  return std::string_view::npos;
}

absl::Status ParsePartHeaders(std::string_view text, const MultipartLimits& limits,
                              std::vector<Header>* out) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos;
    // A logical line runs until a line break not followed by whitespace (folding).
    while (true) {
      size_t nl = text.find('\n', end);
      if (nl == std::string_view::npos) {
        end = text.size();
        break;
      }
      end = nl;
      if (nl + 1 < text.size() && (text[nl + 1] == ' ' || text[nl + 1] == '\t')) {
        end = nl + 1;
        continue;
      }
      break;
    }
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    line = scan::TrimRight(line);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Bad("part header without ':'");
    std::string_view name = scan::TrimRight(line.substr(0, colon));
    if (!IsToken(name)) return Bad("bad part header name");
    if (out->size() >= limits.max_part_headers) return Bad("too many part headers");
    out->push_back(Header{LookupHeader(name), name, scan::Trim(line.substr(colon + 1))});
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view MultipartPart::content_type() const {
  for (const Header& h : headers) {
    if (h.id == HeaderId::kContentType) return h.value;
  }
  return {};
}

absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view body,
                                                          std::string_view boundary,
                                                          const MultipartLimits& limits) {
  if (boundary.empty() || boundary.size() > 70) return Bad("bad multipart boundary");
  std::string delimiter = "--";
  delimiter.append(boundary);
  size_t pos = FindDelimiter(body, delimiter, 0);  // skips the preamble
  if (pos == std::string_view::npos) return Bad("multipart delimiter not found");
  std::vector<MultipartPart> parts;
  while (true) {
    size_t after = pos + delimiter.size();
    if (body.substr(after, 2) == "--") return parts;  // close delimiter; the epilogue is ignored
    // Transport padding, then the line break that ends the delimiter line.
    while (after < body.size() && (body[after] == ' ' || body[after] == '\t')) ++after;
    if (body.substr(after, 2) == "\r\n") {
      after += 2;
    } else if (body.substr(after, 1) == "\n") {
      after += 1;
    } else {
      return Bad("bad multipart delimiter line");
    }
    size_t next = FindDelimiter(body, delimiter, after);
    if (next == std::string_view::npos) return Bad("multipart close delimiter missing");
    // The line break before the next delimiter belongs to the delimiter.
    size_t content_end = next;
    if (content_end > after && body[content_end - 1] == '\n') --content_end;
    if (content_end > after && body[content_end - 1] == '\r') --content_end;
    std::string_view content = body.substr(after, content_end - after);
    if (parts.size() >= limits.max_parts) return Bad("too many multipart parts");
    MultipartPart part;
    // Headers end at the first empty line; a part may start with it (no headers at all).
    size_t split = std::string_view::npos;
    size_t body_start = 0;
    if (content.substr(0, 2) == "\r\n") {
      split = 0;
      body_start = 2;
    } else if (content.substr(0, 1) == "\n") {
      split = 0;
      body_start = 1;
    } else if (size_t crlf = content.find("\r\n\r\n"); crlf != std::string_view::npos) {
      split = crlf;
      body_start = crlf + 4;
    }
    if (size_t lflf = content.find("\n\n");
        lflf != std::string_view::npos && (split == std::string_view::npos || lflf < split)) {
      split = lflf;
      body_start = lflf + 2;
    }
    if (split == std::string_view::npos) {
      // Only headers, no blank line: RFC 2046 allows a part with an empty body.
      split = content.size();
      body_start = content.size();
    }
    absl::Status status = ParsePartHeaders(content.substr(0, split), limits, &part.headers);
    if (!status.ok()) return status;
    part.body = content.substr(body_start);
    parts.push_back(std::move(part));
    pos = next;
  }
}

absl::StatusOr<std::vector<MultipartPart>> ParseMultipartBody(std::string_view content_type,
                                                              std::string_view body,
                                                              const MultipartLimits& limits) {
  absl::StatusOr<MediaType> type = ParseMediaType(content_type);
  if (!type.ok()) return type.status();
  if (!absl::EqualsIgnoreCase(ToAbsl(type->type), "multipart")) {
    return SipError(415, "not a multipart body");
  }
  std::optional<std::string_view> boundary = type->Param("boundary");
  if (!boundary || boundary->empty()) return Bad("multipart without boundary");
  std::string unquoted = UnquoteString(*boundary);
  return ParseMultipart(body, unquoted, limits);
}

}  // namespace causeway::sip
