#include "sip/stack/branch.h"

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::sip {
namespace {

// Our tag after the cookie; distinguishes our branches from other implementations' that might
// happen to contain hex digits.
constexpr std::string_view kShardTag = "cw";
constexpr size_t kRandomChars = 16;  // 36^16 ~ 2^82: collisions are not a concern
constexpr size_t kMaxShardHexDigits = 8;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

bool HasMagicCookie(std::string_view branch) { return branch.starts_with(kMagicCookie); }

std::string RandomToken(std::mt19937_64& rng, size_t length) {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out(length, '0');
  uint64_t bits = 0;
  int left = 0;
  for (char& c : out) {
    if (left == 0) {
      bits = rng();
      left = 10;  // 10 draws of 6 bits from one 64-bit word
    }
    // 6 bits -> 0..63, folded onto 36 symbols; the slight bias is irrelevant for uniqueness.
    c = kAlphabet[(bits & 63) % 36];
    bits >>= 6;
    --left;
  }
  return out;
}

std::string MakeBranch(uint32_t shard, std::mt19937_64& rng) {
  return absl::StrCat(ToAbsl(kMagicCookie), ToAbsl(kShardTag), absl::Hex(shard), ".",
                      RandomToken(rng, kRandomChars));
}

std::optional<uint32_t> ShardOfBranch(std::string_view branch) {
  if (!branch.starts_with(kMagicCookie)) return std::nullopt;
  branch.remove_prefix(kMagicCookie.size());
  if (!branch.starts_with(kShardTag)) return std::nullopt;
  branch.remove_prefix(kShardTag.size());
  uint32_t shard = 0;
  size_t digits = 0;
  while (digits < branch.size() && branch[digits] != '.') {
    const int v = HexValue(branch[digits]);
    if (v < 0 || digits == kMaxShardHexDigits) return std::nullopt;
    shard = (shard << 4) | static_cast<uint32_t>(v);
    ++digits;
  }
  // Need at least one digit, the dot, and some randomness after it.
  if (digits == 0 || digits + 1 >= branch.size()) return std::nullopt;
  return shard;
}

}  // namespace causeway::sip
