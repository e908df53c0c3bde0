#include "xmpp/codec/jid.h"

#include <idn2.h>
#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/xml_text.h"

namespace causeway::xmpp {

namespace {

// RFC 7622 counts the 1023 bytes after mapping and normalization, which can shrink a string
// (NFC composes up to three code points into one); input beyond this can never get under the
// limit and is refused before any Unicode work.
constexpr size_t kMaxUnpreparedPartBytes = 4 * kMaxJidPartBytes;

absl::Status Malformed(std::string_view part, std::string_view why) {
  return StanzaError(StanzaErrorCondition::kJidMalformed,
                     absl::StrCat("jid: ", ToAbsl(part), " ", ToAbsl(why)));
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsAsciiControl(unsigned char u) { return u < 0x20 || u == 0x7F; }

// RFC 7622 §3.3.1 forbids these in a localpart on top of UsernameCaseMapped; the space is
// outside the IdentifierClass anyway (listed for the byte-wise ASCII path).
bool IsForbiddenInLocalpart(char c) {
  switch (c) {
    case '"':
    case '&':
    case '\'':
    case '/':
    case ':':
    case '<':
    case '>':
    case '@':
    case ' ':
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// PRECIS (RFC 8264, RFC 8265) over ICU, for parts holding non-ASCII characters only.

std::string Hex(UChar32 c) {
  std::string digits = absl::StrCat(absl::Hex(c, absl::kZeroPad4));
  absl::AsciiStrToUpper(&digits);
  return absl::StrCat("U+", digits);
}

absl::Status IcuFailure(std::string_view part, UErrorCode error) {
  return Malformed(part, absl::StrCat("could not be prepared (", u_errorName(error), ")"));
}

// Well-formed UTF-8 (checked by the caller) as code points.
std::vector<UChar32> CodePoints(std::string_view utf8) {
  std::vector<UChar32> out;
  out.reserve(utf8.size());
  const auto* s = reinterpret_cast<const uint8_t*>(utf8.data());
  const auto length = static_cast<int32_t>(utf8.size());
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(s, i, length, c);
    out.push_back(c);
  }
  return out;
}

// Calls `map(c)` for each code point: a code point it returns (>= 0) replaces c, -1 keeps it.
// For the one-to-one mappings (width, spaces).
template <typename Map>
std::string MapCodePoints(std::string_view utf8, Map map) {
  std::string out;
  out.reserve(utf8.size());
  const auto* s = reinterpret_cast<const uint8_t*>(utf8.data());
  const auto length = static_cast<int32_t>(utf8.size());
  for (int32_t i = 0; i < length;) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, length, c);
    const UChar32 mapped = map(c);
    if (mapped < 0) {
      out.append(utf8.substr(start, i - start));
      continue;
    }
    uint8_t buffer[U8_MAX_LENGTH];
    int32_t n = 0;
    U8_APPEND_UNSAFE(buffer, n, mapped);
    out.append(reinterpret_cast<const char*>(buffer), n);
  }
  return out;
}

// RFC 8265 §3.3.1 width-mapping rule: fullwidth and halfwidth code points (decomposition type
// <wide> or <narrow>, UAX #11) become their decomposition mapping, always one code point.
absl::StatusOr<std::string> MapWidth(std::string_view utf8, std::string_view part) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfkd = icu::Normalizer2::getNFKDInstance(error);
  if (U_FAILURE(error)) return IcuFailure(part, error);
  return MapCodePoints(utf8, [nfkd](UChar32 c) -> UChar32 {
    const int32_t type = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
    if (type != U_DT_WIDE && type != U_DT_NARROW) return -1;
    icu::UnicodeString mapping;
    if (!nfkd->getRawDecomposition(c, mapping) || mapping.countChar32() != 1) return -1;
    return mapping.char32At(0);
  });
}

// RFC 8265 §4.2.1 additional mapping rule of OpaqueString: non-ASCII spaces (Zs) to U+0020.
std::string MapNonAsciiSpaces(std::string_view utf8) {
  return MapCodePoints(utf8, [](UChar32 c) -> UChar32 {
    return c != 0x20 && u_charType(c) == U_SPACE_SEPARATOR ? 0x20 : -1;
  });
}

// RFC 8264 §5.2.3 case mapping: Unicode toLowerCase (full mappings, Final_Sigma context, no
// locale tailoring), so "ΣΑΣ" becomes "σας".
absl::StatusOr<std::string> ToLower(std::string_view utf8, std::string_view part) {
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(utf8.size()));
  UErrorCode error = U_ZERO_ERROR;
  icu::CaseMap::utf8ToLower("", 0, icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())),
                            sink, nullptr, error);
  if (U_FAILURE(error)) return IcuFailure(part, error);
  return out;
}

absl::StatusOr<std::string> ToNfc(std::string_view utf8, std::string_view part) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(error);
  if (U_FAILURE(error)) return IcuFailure(part, error);
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(utf8.size()));
  nfc->normalizeUTF8(0, icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())), sink,
                     nullptr, error);
  if (U_FAILURE(error)) return IcuFailure(part, error);
  return out;
}

// RFC 8264 §7: the rules are applied again until the output is stable; a string that is not
// stable after three more applications is refused.
template <typename Rules>
absl::StatusOr<std::string> ApplyUntilStable(std::string_view input, std::string_view part,
                                             Rules rules) {
  absl::StatusOr<std::string> current = rules(input);
  for (int again = 0; again < 3 && current.ok(); ++again) {
    absl::StatusOr<std::string> next = rules(*current);
    if (!next.ok() || *next == *current) return next;
    current = std::move(next);
  }
  if (!current.ok()) return current;
  return Malformed(part, "does not reach a stable form under its PRECIS profile");
}

// RFC 5893 §2, the bidi rule, for strings holding right-to-left characters (R, AL or AN), as
// RFC 8265 §3.3.1 directs for usernames ("a bidi domain name" in RFC 5893's terms).
bool HasRightToLeft(const std::vector<UChar32>& cps) {
  for (UChar32 c : cps) {
    const UCharDirection d = u_charDirection(c);
    if (d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER) return true;
  }
  return false;
}

bool SatisfiesBidiRule(const std::vector<UChar32>& cps) {
  const UCharDirection first = u_charDirection(cps.front());
  bool rtl;  // condition 1: an RTL label starts with R or AL, an LTR label with L
  if (first == U_LEFT_TO_RIGHT) {
    rtl = false;
  } else if (first == U_RIGHT_TO_LEFT || first == U_RIGHT_TO_LEFT_ARABIC) {
    rtl = true;
  } else {
    return false;
  }
  // Conditions 3 and 6: the last character that is not NSM.
  size_t end = cps.size();
  while (end > 0 && u_charDirection(cps[end - 1]) == U_DIR_NON_SPACING_MARK) --end;
  const UCharDirection last = u_charDirection(cps[end - 1]);
  if (rtl ? !(last == U_RIGHT_TO_LEFT || last == U_RIGHT_TO_LEFT_ARABIC ||
              last == U_EUROPEAN_NUMBER || last == U_ARABIC_NUMBER)
          : !(last == U_LEFT_TO_RIGHT || last == U_EUROPEAN_NUMBER)) {
    return false;
  }
  bool european_number = false;
  bool arabic_number = false;
  for (UChar32 c : cps) {  // conditions 2, 4 and 5
    const UCharDirection d = u_charDirection(c);
    european_number |= d == U_EUROPEAN_NUMBER;
    arabic_number |= d == U_ARABIC_NUMBER;
    switch (d) {
      case U_EUROPEAN_NUMBER:
      case U_EUROPEAN_NUMBER_SEPARATOR:
      case U_COMMON_NUMBER_SEPARATOR:
      case U_EUROPEAN_NUMBER_TERMINATOR:
      case U_OTHER_NEUTRAL:
      case U_BOUNDARY_NEUTRAL:
      case U_DIR_NON_SPACING_MARK:
        break;
      case U_LEFT_TO_RIGHT:
        if (rtl) return false;
        break;
      case U_RIGHT_TO_LEFT:
      case U_RIGHT_TO_LEFT_ARABIC:
      case U_ARABIC_NUMBER:
        if (!rtl) return false;
        break;
      default:
        return false;
    }
  }
  return !(rtl && european_number && arabic_number);
}

// RFC 8264 §8 derived property; kFreePval is "ID_DIS or FREE_PVAL": valid in the FreeformClass
// only.
enum class Derived { kPvalid, kFreePval, kContextJ, kContextO, kDisallowed, kUnassigned };

// RFC 5892 §2.6 Exceptions (F), which RFC 8264 §9.6 takes over.
std::optional<Derived> Exception(UChar32 c) {
  switch (c) {
    case 0x00DF:  // sharp s
    case 0x03C2:  // final sigma
    case 0x06FD:
    case 0x06FE:
    case 0x0F0B:
    case 0x3007:
      return Derived::kPvalid;
    case 0x00B7:  // middle dot
    case 0x0375:  // Greek keraia
    case 0x05F3:  // Hebrew geresh
    case 0x05F4:  // Hebrew gershayim
    case 0x30FB:  // katakana middle dot
      return Derived::kContextO;
    case 0x0640:
    case 0x07FA:
    case 0x302E:
    case 0x302F:
    case 0x3031:
    case 0x3032:
    case 0x3033:
    case 0x3034:
    case 0x3035:
    case 0x303B:
      return Derived::kDisallowed;
    default:
      if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9)) {  // Arabic digits
        return Derived::kContextO;
      }
      return std::nullopt;
  }
}

// HasCompat (RFC 8264 §9.17): toNFKC(cp) != cp.
bool HasCompatibilityEquivalent(UChar32 c, const icu::Normalizer2& nfkc) {
  UErrorCode error = U_ZERO_ERROR;
  const bool normalized = nfkc.isNormalized(icu::UnicodeString(c), error);
  return U_FAILURE(error) || !normalized;
}

Derived DerivedProperty(UChar32 c, const icu::Normalizer2& nfkc) {
  if (std::optional<Derived> exception = Exception(c)) return *exception;
  // BackwardCompatible (G) is empty.
  const auto type = static_cast<UCharCategory>(u_charType(c));
  const bool noncharacter = u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT);
  if (type == U_UNASSIGNED && !noncharacter) return Derived::kUnassigned;
  if (c >= 0x21 && c <= 0x7E) return Derived::kPvalid;  // ASCII7
  if (u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return Derived::kContextJ;
  const int32_t hangul = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
  if (hangul == U_HST_LEADING_JAMO || hangul == U_HST_VOWEL_JAMO || hangul == U_HST_TRAILING_JAMO) {
    return Derived::kDisallowed;  // OldHangulJamo
  }
  if (noncharacter || u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT)) {
    return Derived::kDisallowed;  // PrecisIgnorableProperties
  }
  if (type == U_CONTROL_CHAR) return Derived::kDisallowed;
  if (HasCompatibilityEquivalent(c, nfkc)) return Derived::kFreePval;
  switch (type) {
    case U_LOWERCASE_LETTER:  // LetterDigits
    case U_UPPERCASE_LETTER:
    case U_OTHER_LETTER:
    case U_DECIMAL_DIGIT_NUMBER:
    case U_MODIFIER_LETTER:
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
      return Derived::kPvalid;
    case U_TITLECASE_LETTER:  // OtherLetterDigits
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
    case U_ENCLOSING_MARK:
    case U_SPACE_SEPARATOR:  // Spaces
    case U_MATH_SYMBOL:      // Symbols
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL:
    case U_CONNECTOR_PUNCTUATION:  // Punctuation
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return Derived::kFreePval;
    default:
      return Derived::kDisallowed;
  }
}

bool IsScript(UChar32 c, UScriptCode script) {
  UErrorCode error = U_ZERO_ERROR;
  return uscript_getScript(c, &error) == script && U_SUCCESS(error);
}

UJoiningType JoiningType(UChar32 c) {
  return static_cast<UJoiningType>(u_getIntPropertyValue(c, UCHAR_JOINING_TYPE));
}

bool FollowsVirama(const std::vector<UChar32>& cps, size_t i) {
  constexpr uint8_t kVirama = 9;  // Canonical_Combining_Class
  return i > 0 && u_getCombiningClass(cps[i - 1]) == kVirama;
}

// The regular expression of RFC 5892 A.1:
// (Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D}).
bool NonJoinerBetweenJoiningLetters(const std::vector<UChar32>& cps, size_t i) {
  bool left = false;
  for (size_t k = i; k-- > 0;) {
    const UJoiningType t = JoiningType(cps[k]);
    if (t == U_JT_TRANSPARENT) continue;
    left = t == U_JT_LEFT_JOINING || t == U_JT_DUAL_JOINING;
    break;
  }
  if (!left) return false;
  for (size_t k = i + 1; k < cps.size(); ++k) {
    const UJoiningType t = JoiningType(cps[k]);
    if (t == U_JT_TRANSPARENT) continue;
    return t == U_JT_RIGHT_JOINING || t == U_JT_DUAL_JOINING;
  }
  return false;
}

bool AnyInRange(const std::vector<UChar32>& cps, UChar32 low, UChar32 high) {
  for (UChar32 c : cps) {
    if (c >= low && c <= high) return true;
  }
  return false;
}

// The contextual rules of RFC 5892 Appendix A, for CONTEXTJ and CONTEXTO code points.
bool ContextRuleHolds(const std::vector<UChar32>& cps, size_t i) {
  const UChar32 c = cps[i];
  const bool has_before = i > 0;
  const bool has_after = i + 1 < cps.size();
  switch (c) {
    case 0x200C:  // A.1 zero width non-joiner
      return FollowsVirama(cps, i) || NonJoinerBetweenJoiningLetters(cps, i);
    case 0x200D:  // A.2 zero width joiner
      return FollowsVirama(cps, i);
    case 0x00B7:  // A.3 middle dot, only in "l·l" (Catalan)
      return has_before && has_after && cps[i - 1] == 'l' && cps[i + 1] == 'l';
    case 0x0375:  // A.4 Greek keraia: the next character is Greek
      return has_after && IsScript(cps[i + 1], USCRIPT_GREEK);
    case 0x05F3:  // A.5, A.6 Hebrew geresh and gershayim: the previous character is Hebrew
    case 0x05F4:
      return has_before && IsScript(cps[i - 1], USCRIPT_HEBREW);
    case 0x30FB:  // A.7 katakana middle dot: some Hiragana, Katakana or Han in the string
      for (UChar32 other : cps) {
        if (IsScript(other, USCRIPT_HIRAGANA) || IsScript(other, USCRIPT_KATAKANA) ||
            IsScript(other, USCRIPT_HAN)) {
          return true;
        }
      }
      return false;
    default:
      if (c >= 0x0660 && c <= 0x0669) return !AnyInRange(cps, 0x06F0, 0x06F9);  // A.8
      if (c >= 0x06F0 && c <= 0x06F9) return !AnyInRange(cps, 0x0660, 0x0669);  // A.9
      return false;
  }
}

enum class StringClass { kIdentifier, kFreeform };

// The behavioral rules (RFC 8264 §7 step 6): every code point valid in the string class.
absl::Status CheckStringClass(const std::vector<UChar32>& cps, StringClass string_class,
                              std::string_view part) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(error);
  if (U_FAILURE(error)) return IcuFailure(part, error);
  for (size_t i = 0; i < cps.size(); ++i) {
    switch (DerivedProperty(cps[i], *nfkc)) {
      case Derived::kPvalid:
        continue;
      case Derived::kFreePval:
        if (string_class == StringClass::kFreeform) continue;
        return Malformed(part, absl::StrCat("has ", Hex(cps[i]),
                                            ", which the IdentifierClass disallows (RFC 8264)"));
      case Derived::kContextJ:
      case Derived::kContextO:
        if (ContextRuleHolds(cps, i)) continue;
        return Malformed(
            part, absl::StrCat("has ", Hex(cps[i]), " where its context rule fails (RFC 5892 A)"));
      case Derived::kUnassigned:
        return Malformed(part, absl::StrCat("has the unassigned code point ", Hex(cps[i])));
      case Derived::kDisallowed:
        return Malformed(part, absl::StrCat("has ", Hex(cps[i]), ", which PRECIS disallows"));
    }
  }
  return absl::OkStatus();
}

// RFC 8265 §3.3 UsernameCaseMapped: width mapping, toLowerCase, NFC, bidi rule, IdentifierClass.
absl::StatusOr<std::string> EnforceUsernameCaseMapped(std::string_view input,
                                                      std::string_view part) {
  absl::StatusOr<std::string> prepared =
      ApplyUntilStable(input, part, [part](std::string_view s) -> absl::StatusOr<std::string> {
        absl::StatusOr<std::string> narrow = MapWidth(s, part);
        if (!narrow.ok()) return narrow;
        absl::StatusOr<std::string> lower = ToLower(*narrow, part);
        if (!lower.ok()) return lower;
        return ToNfc(*lower, part);
      });
  if (!prepared.ok()) return prepared;
  if (prepared->empty()) return Malformed(part, "is empty");
  const std::vector<UChar32> cps = CodePoints(*prepared);
  if (HasRightToLeft(cps) && !SatisfiesBidiRule(cps)) {
    return Malformed(part, "breaks the bidi rule (RFC 5893)");
  }
  if (absl::Status s = CheckStringClass(cps, StringClass::kIdentifier, part); !s.ok()) return s;
  return prepared;
}

// RFC 8265 §4.2 OpaqueString: non-ASCII spaces to U+0020, NFC, FreeformClass.
absl::StatusOr<std::string> EnforceOpaqueString(std::string_view input, std::string_view part) {
  absl::StatusOr<std::string> prepared =
      ApplyUntilStable(input, part, [part](std::string_view s) -> absl::StatusOr<std::string> {
        return ToNfc(MapNonAsciiSpaces(s), part);
      });
  if (!prepared.ok()) return prepared;
  if (prepared->empty()) return Malformed(part, "is empty");
  if (absl::Status s = CheckStringClass(CodePoints(*prepared), StringClass::kFreeform, part);
      !s.ok()) {
    return s;
  }
  return prepared;
}

// ---------------------------------------------------------------------------------------------
// The parts.

absl::Status CheckPreparedLength(const std::string& prepared, std::string_view part) {
  if (prepared.size() > kMaxJidPartBytes) return Malformed(part, "is longer than 1023 bytes");
  return absl::OkStatus();
}

absl::StatusOr<std::string> PrepareNonAsciiNode(std::string_view node) {
  if (!IsValidUtf8(node)) return Malformed("localpart", "is not UTF-8");
  absl::StatusOr<std::string> out = EnforceUsernameCaseMapped(node, "localpart");
  if (!out.ok()) return out;
  // Checked on the prepared string: fullwidth "＠" maps to '@'.
  for (char c : *out) {
    if (IsForbiddenInLocalpart(c)) return Malformed("localpart", "has a forbidden character");
  }
  if (absl::Status s = CheckPreparedLength(*out, "localpart"); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> NormalizeNode(std::string_view node) {
  if (node.empty()) return Malformed("localpart", "is empty");
  if (node.size() > kMaxUnpreparedPartBytes) return Malformed("localpart", "is too long");
  // UsernameCaseMapped of printable ASCII is ASCII lower-casing: no width or bidi mapping, NFC
  // keeps it, and the IdentifierClass holds all of 0x21-0x7E.
  std::string out(node);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return PrepareNonAsciiNode(node);
    if (IsAsciiControl(u)) return Malformed("localpart", "has a control character");
    if (IsForbiddenInLocalpart(c)) return Malformed("localpart", "has a forbidden character");
    c = AsciiLower(c);
  }
  if (absl::Status s = CheckPreparedLength(out, "localpart"); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> NormalizeResource(std::string_view resource) {
  if (resource.empty()) return Malformed("resourcepart", "is empty");
  if (resource.size() > kMaxUnpreparedPartBytes) return Malformed("resourcepart", "is too long");
  // OpaqueString keeps printable ASCII and the space as they are.
  for (char c : resource) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      if (!IsValidUtf8(resource)) return Malformed("resourcepart", "is not UTF-8");
      absl::StatusOr<std::string> out = EnforceOpaqueString(resource, "resourcepart");
      if (!out.ok()) return out;
      if (absl::Status s = CheckPreparedLength(*out, "resourcepart"); !s.ok()) return s;
      return out;
    }
    if (IsAsciiControl(u)) return Malformed("resourcepart", "has a control character");
  }
  std::string out(resource);
  if (absl::Status s = CheckPreparedLength(out, "resourcepart"); !s.ok()) return s;
  return out;
}

// Lower-cases an ASCII hostname in place and checks its labels: letters, digits, '-' and '_',
// none empty.
absl::Status CheckAsciiHostname(std::string& name) {
  size_t label_length = 0;
  for (char& c : name) {
    if (c == '.') {
      if (label_length == 0) return Malformed("domainpart", "has an empty label");
      label_length = 0;
      continue;
    }
    ++label_length;
    if (!IsAsciiAlnum(c) && c != '-' && c != '_') {
      return Malformed("domainpart", "has a character a hostname cannot hold");
    }
    c = AsciiLower(c);
  }
  if (label_length == 0) return Malformed("domainpart", "has an empty label");
  return absl::OkStatus();
}

// An A-label ("xn--" prefix, RFC 5890 §2.3.2.1) anywhere in a lower-cased hostname.
bool HasALabel(std::string_view lowered) {
  for (size_t at = lowered.find("xn--"); at != std::string_view::npos;
       at = lowered.find("xn--", at + 1)) {
    if (at == 0 || lowered[at - 1] == '.') return true;
  }
  return false;
}

struct IdnFree {
  void operator()(char* p) const { idn2_free(p); }
};

// IDNA2008 lookup with the UTS #46 non-transitional mapping (case, width, NFC, compatibility
// characters), giving the A-label form.
absl::StatusOr<std::string> ToALabels(std::string_view domain) {
  const std::string input(domain);  // libidn2 reads a NUL-terminated string
  uint8_t* ascii = nullptr;
  const int rc =
      idn2_lookup_u8(reinterpret_cast<const uint8_t*>(input.c_str()), &ascii, IDN2_NONTRANSITIONAL);
  std::unique_ptr<char, IdnFree> owned(reinterpret_cast<char*>(ascii));
  if (rc != IDN2_OK) {
    return Malformed("domainpart", absl::StrCat("is not an internationalized domain name (",
                                                idn2_strerror(rc), ")"));
  }
  std::string out(owned.get());
  // Without the STD3 rules, UTS #46 maps some characters to ASCII no hostname may hold
  // (fullwidth "＜" to '<'): the ASCII form passes the checks of an ASCII domainpart.
  if (absl::Status s = CheckAsciiHostname(out); !s.ok()) return s;
  return out;
}

// RFC 7622 §3.2.1: the domainpart holds U-labels, never A-labels.
absl::StatusOr<std::string> PrepareInternationalDomain(std::string_view domain) {
  absl::StatusOr<std::string> ascii = ToALabels(domain);
  if (!ascii.ok()) return ascii;
  char* unicode = nullptr;
  const int rc = idn2_to_unicode_8z8z(ascii->c_str(), &unicode, 0);
  std::unique_ptr<char, IdnFree> owned(unicode);
  if (rc != IDN2_OK) {
    return Malformed("domainpart",
                     absl::StrCat("has an A-label that does not decode (", idn2_strerror(rc), ")"));
  }
  std::string out(owned.get());
  if (absl::Status s = CheckPreparedLength(out, "domainpart"); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> NormalizeIpLiteral(std::string_view domain) {
  // IPv6 literal (RFC 3986 IP-literal without IPvFuture).
  std::string out(domain);
  if (out.size() < 3 || out.back() != ']') return Malformed("domainpart", "bad IP literal");
  for (size_t i = 1; i + 1 < out.size(); ++i) {
    char c = AsciiLower(out[i]);
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex && c != ':' && c != '.') return Malformed("domainpart", "bad IP literal");
    out[i] = c;
  }
  return out;
}

absl::StatusOr<std::string> NormalizeDomain(std::string_view domain) {
  // RFC 7622 §3.2: a trailing label separator is stripped before any other check.
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty()) return Malformed("domainpart", "is empty");
  if (domain.size() > kMaxUnpreparedPartBytes) return Malformed("domainpart", "is too long");
  bool non_ascii = false;
  for (char c : domain) {
    const auto u = static_cast<unsigned char>(c);
    if (IsAsciiControl(u)) return Malformed("domainpart", "has a control character");
    non_ascii |= u >= 0x80;
  }
  if (domain.front() == '[') return NormalizeIpLiteral(domain);
  if (non_ascii) {
    if (!IsValidUtf8(domain)) return Malformed("domainpart", "is not UTF-8");
    return PrepareInternationalDomain(domain);
  }
  std::string out(domain);
  if (absl::Status s = CheckAsciiHostname(out); !s.ok()) return s;
  if (HasALabel(out)) return PrepareInternationalDomain(out);
  if (absl::Status s = CheckPreparedLength(out, "domainpart"); !s.ok()) return s;
  return out;
}

}  // namespace

absl::StatusOr<std::string> DomainpartToAscii(std::string_view domainpart) {
  for (char c : domainpart) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      if (!IsValidUtf8(domainpart)) return Malformed("domainpart", "is not UTF-8");
      return ToALabels(domainpart);
    }
  }
  return std::string(domainpart);
}

absl::StatusOr<Jid> Jid::Parse(std::string_view text) {
  std::string_view rest = text;
  std::string_view resource;
  bool has_resource = false;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    resource = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    has_resource = true;
  }
  std::string_view node;
  bool has_node = false;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    node = rest.substr(0, at);
    rest = rest.substr(at + 1);
    has_node = true;
  }
  Jid jid;
  if (has_node) {
    absl::StatusOr<std::string> n = NormalizeNode(node);
    if (!n.ok()) return n.status();
    jid.node_ = *std::move(n);
  }
  absl::StatusOr<std::string> d = NormalizeDomain(rest);
  if (!d.ok()) return d.status();
  jid.domain_ = *std::move(d);
  if (has_resource) {
    absl::StatusOr<std::string> r = NormalizeResource(resource);
    if (!r.ok()) return r.status();
    jid.resource_ = *std::move(r);
  }
  return jid;
}

absl::StatusOr<Jid> Jid::Make(std::string_view node, std::string_view domain,
                              std::string_view resource) {
  Jid jid;
  if (!node.empty()) {
    absl::StatusOr<std::string> n = NormalizeNode(node);
    if (!n.ok()) return n.status();
    jid.node_ = *std::move(n);
  }
  absl::StatusOr<std::string> d = NormalizeDomain(domain);
  if (!d.ok()) return d.status();
  jid.domain_ = *std::move(d);
  if (!resource.empty()) {
    absl::StatusOr<std::string> r = NormalizeResource(resource);
    if (!r.ok()) return r.status();
    jid.resource_ = *std::move(r);
  }
  return jid;
}

Jid Jid::Bare() const {
  Jid bare;
  bare.node_ = node_;
  bare.domain_ = domain_;
  return bare;
}

std::string Jid::BareString() const {
  if (node_.empty()) return domain_;
  return absl::StrCat(node_, "@", domain_);
}

std::string Jid::ToString() const {
  std::string out = BareString();
  if (!resource_.empty()) absl::StrAppend(&out, "/", resource_);
  return out;
}

}  // namespace causeway::xmpp
