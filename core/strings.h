#pragma once
// Debian 12's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0: absl::string_view is its own
// type, not std::string_view (likewise absl::optional/variant/any are not the std ones). Our code
// speaks std::string_view and std::optional; convert at the absl boundary here.

#include <string_view>

#include "absl/strings/string_view.h"

namespace causeway {

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view FromAbsl(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace causeway
