#pragma once
// Structured logging: one line per event, "ts=... level=... component=... msg=\"...\" key=value ...".
// Cheap when the level is filtered out (the fields are not formatted). Thread-safe: each line is
// written with a single write(2).

#include <atomic>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace causeway::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// A key and an already-formatted value; build with Field("peer", addr) or Field("code", 404).
struct Field {
  template <typename T>
  Field(std::string_view k, const T& v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  std::string_view key;
  std::string value;
};

void SetLevel(Level level);
Level GetLevel();
bool Enabled(Level level);
// Parses "debug" | "info" | "warn" | "error".
bool ParseLevel(std::string_view text, Level* out);
std::string_view LevelName(Level level);

// Formats and writes one line to stderr (or the sink installed for tests).
void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {});

// Tests capture lines by installing a sink; nullptr restores stderr.
using Sink = void (*)(std::string_view line);
void SetSinkForTesting(Sink sink);

inline void Debug(std::string_view component, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, component, message, fields);
}
inline void Info(std::string_view component, std::string_view message,
                 std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, component, message, fields);
}
inline void Warn(std::string_view component, std::string_view message,
                 std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, component, message, fields);
}
inline void Error(std::string_view component, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kError)) Write(Level::kError, component, message, fields);
}

}  // namespace causeway::log
