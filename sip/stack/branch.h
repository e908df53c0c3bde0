#pragma once
// Via branch parameters (RFC 3261 §8.1.1.7): "z9hG4bK" magic cookie, then our shard tag, then
// randomness, e.g. "z9hG4bKcw3.k2j5x9q0tq7m1c8d". The shard tag lets a response that lands on
// another worker (UDP with SO_REUSEPORT hashes by 4-tuple) be routed to the worker owning the
// client transaction without any shared table.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace causeway::sip {

inline constexpr std::string_view kMagicCookie = "z9hG4bK";

// True when `branch` starts with the RFC 3261 magic cookie (case-sensitive, as the RFC says).
bool HasMagicCookie(std::string_view branch);

// A fresh branch for `shard` using `rng` (one generator per worker: no locks).
std::string MakeBranch(uint32_t shard, std::mt19937_64& rng);

// The shard encoded by MakeBranch(), or nullopt for branches we did not generate.
std::optional<uint32_t> ShardOfBranch(std::string_view branch);

// A random token for To/From tags ([0-9a-z], `length` chars).
std::string RandomToken(std::mt19937_64& rng, size_t length = 16);

}  // namespace causeway::sip
