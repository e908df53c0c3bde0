#pragma once
// multipart/* bodies (RFC 2046 §5.1): Lync sends multipart/alternative (presence) and
// multipart/related (conference invitations). Parts are string_views into the body.

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sip/codec/message.h"

namespace causeway::sip {

struct MultipartPart {
  std::vector<Header> headers;  // MIME part headers (Content-Type, Content-ID...), ids looked up
  std::string_view body;        // part body, without the CRLF that precedes the next delimiter
  std::string_view content_type() const;  // "" when the part has no Content-Type
};

struct MultipartLimits {
  size_t max_parts = 64;
  size_t max_part_headers = 32;
};

// Splits `body` using `boundary` (unquoted). The preamble and epilogue are ignored; a missing
// close delimiter is an error (400).
absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view body,
                                                          std::string_view boundary,
                                                          const MultipartLimits& limits = {});
// Takes the boundary from a Content-Type value ("multipart/mixed; boundary=\"abc\"").
absl::StatusOr<std::vector<MultipartPart>> ParseMultipartBody(std::string_view content_type,
                                                              std::string_view body,
                                                              const MultipartLimits& limits = {});

}  // namespace causeway::sip
