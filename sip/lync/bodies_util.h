#pragma once
// Helpers shared by the bodies_*.cc parsers (not a public API).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync::internal {

// Decimal unsigned 32-bit value; surrounding XML whitespace allowed.
std::optional<uint32_t> ParseUint32(std::string_view s);
// "1 2  3" -> {1,2,3}; nullopt when an item is not a number.
std::optional<std::vector<uint32_t>> ParseIdList(std::string_view s);
// "true"/"1" / "false"/"0" (xs:boolean), case-insensitive.
std::optional<bool> ParseBool(std::string_view s);
std::string_view TrimXmlSpace(std::string_view s);
std::string JoinIds(const std::vector<uint32_t>& ids);

// 400 with "lync <what>: <detail>".
absl::Status BodyError(std::string_view what, std::string_view detail);

// Required uint32 attribute.
absl::StatusOr<uint32_t> RequiredUint(const XmlElement& e, std::string_view attr,
                                      std::string_view what);
// Optional uint32 attribute: absent -> nullopt, malformed -> error.
absl::StatusOr<std::optional<uint32_t>> OptionalUint(const XmlElement& e, std::string_view attr,
                                                     std::string_view what);

}  // namespace causeway::sip::lync::internal
