#include "sip/lync/ntlm.h"

#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"

namespace causeway::sip::lync {
namespace {

constexpr std::string_view kComponent = "ntlm";
constexpr char kSignature[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', '\0'};

// AV pair ids (MS-NLMP 2.2.2.1).
constexpr uint16_t kAvEol = 0;
constexpr uint16_t kAvNbComputerName = 1;
constexpr uint16_t kAvNbDomainName = 2;
constexpr uint16_t kAvDnsComputerName = 3;
constexpr uint16_t kAvDnsDomainName = 4;
constexpr uint16_t kAvDnsTreeName = 5;
constexpr uint16_t kAvFlags = 6;
constexpr uint16_t kAvTimestamp = 7;

constexpr uint32_t kAvFlagMicPresent = 0x2;
constexpr size_t kAuthenticateHeader = 64;  // up to and including NegotiateFlags
constexpr size_t kMicOffset = 72;

constexpr std::string_view kClientSignMagic =
    std::string_view("session key to client-to-server signing key magic constant", 59);
constexpr std::string_view kServerSignMagic =
    std::string_view("session key to server-to-client signing key magic constant", 59);
constexpr std::string_view kClientSealMagic =
    std::string_view("session key to client-to-server sealing key magic constant", 59);
constexpr std::string_view kServerSealMagic =
    std::string_view("session key to server-to-client sealing key magic constant", 59);

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t Get16(std::string_view b, size_t off) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[off]) |
                               (static_cast<uint8_t>(b[off + 1]) << 8));
}
uint32_t Get32(std::string_view b, size_t off) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[off + i]);
  return v;
}
uint64_t Get64(std::string_view b, size_t off) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[off + i]);
  return v;
}

// A security buffer (len, maxlen, offset) within `msg`; false if it points outside.
bool Field(std::string_view msg, size_t at, std::string_view* out) {
  if (at + 8 > msg.size()) return false;
  uint16_t len = Get16(msg, at);
  uint32_t off = Get32(msg, at + 4);
  if (len == 0) {
    *out = {};
    return true;
  }
  if (off > msg.size() || len > msg.size() - off) return false;
  *out = msg.substr(off, len);
  return true;
}

void PutAv(std::string* out, uint16_t id, std::string_view value) {
  Put16(out, id);
  Put16(out, static_cast<uint16_t>(value.size()));
  out->append(value);
}

std::span<const uint8_t> Span(const std::string& s) { return AsBytes(s); }

std::string Concat(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(a.size() + b.size());
  out.append(a);
  out.append(b);
  return out;
}

std::string_view View(const Bytes16& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

absl::Status Refuse(std::string_view why) {
  log::Info(kComponent, "AUTHENTICATE refused", {log::Field("reason", why)});
  return absl::InvalidArgumentError(absl::StrCat("NTLM: ", ToAbsl(why)));
}

}  // namespace

uint64_t FileTimeFromUnix(std::chrono::system_clock::time_point t) {
  auto ticks =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() / 100;
  return static_cast<uint64_t>(ticks) + 116444736000000000ULL;
}

std::string NtlmUtf16Le(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  auto emit = [&out](uint32_t u) {
    out.push_back(static_cast<char>(u & 0xff));
    out.push_back(static_cast<char>(u >> 8));
  };
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
    }
    if (len > 1) {
      if (i + len > s.size()) {
        len = 1;
      } else {
        uint32_t v = c & (0xFF >> (len + 1));
        bool ok = true;
        for (size_t k = 1; k < len; ++k) {
          uint8_t cc = static_cast<uint8_t>(s[i + k]);
          if ((cc & 0xC0) != 0x80) {
            ok = false;
            break;
          }
          v = (v << 6) | (cc & 0x3F);
        }
        if (ok && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
          cp = v;
        } else {
          len = 1;
        }
      }
    }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      emit(0xD800 | (cp >> 10));
      emit(0xDC00 | (cp & 0x3FF));
    } else {
      emit(cp);
    }
  }
  return out;
}

std::string NtlmUtf8FromUtf16Le(std::string_view s) {
  std::string out;
  size_t n = s.size() / 2;
  for (size_t i = 0; i < n; ++i) {
    uint32_t u = Get16(s, i * 2);
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < n) {
      uint32_t lo = Get16(s, (i + 1) * 2);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        ++i;
      } else {
        u = 0xFFFD;
      }
    } else if (u >= 0xD800 && u <= 0xDFFF) {
      u = 0xFFFD;
    }
    if (u < 0x80) {
      out.push_back(static_cast<char>(u));
    } else if (u < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else if (u < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (u >> 12)));
      out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (u >> 18)));
      out.push_back(static_cast<char>(0x80 | ((u >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    }
  }
  return out;
}

Bytes16 NtowfV2(const Bytes16& nt_hash, std::string_view utf8_user, std::string_view utf8_domain) {
  std::string upper(utf8_user);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  std::string data = NtlmUtf16Le(upper) + NtlmUtf16Le(utf8_domain);
  return HmacMd5(nt_hash, Span(data));
}

absl::StatusOr<NtlmChallengeState> BuildNtlmChallenge(
    const NtlmServerNames& names, std::string_view negotiate_message, uint64_t now_filetime,
    const std::array<uint8_t, 8>& server_challenge) {
  NtlmChallengeState state;
  state.server_challenge = server_challenge;
  state.negotiate_message = std::string(negotiate_message);
  uint32_t flags = kNtlmConnectionlessServerFlags;
  if (!negotiate_message.empty()) {
    if (negotiate_message.size() < 16 ||
        std::memcmp(negotiate_message.data(), kSignature, 8) != 0 ||
        Get32(negotiate_message, 8) != 1) {
      return absl::InvalidArgumentError("NTLM: malformed NEGOTIATE_MESSAGE");
    }
    uint32_t requested = Get32(negotiate_message, 12);
    if ((requested & kNtlmNegotiateUnicode) == 0) {
      return absl::InvalidArgumentError("NTLM: client does not negotiate Unicode");
    }
    constexpr uint32_t kAnswerable = kNtlmNegotiateSign | kNtlmNegotiateSeal |
                                     kNtlmNegotiateAlwaysSign | kNtlmNegotiateIdentify |
                                     kNtlmNegotiateVersion | kNtlm128 | kNtlm56 |
                                     kNtlmNegotiateKeyExchange | kNtlmNegotiateDatagram;
    flags = (requested & kAnswerable) | kNtlmNegotiateUnicode | kNtlmNegotiateNtlm |
            kNtlmNegotiateExtendedSessionSecurity | kNtlmNegotiateTargetInfo |
            kNtlmTargetTypeDomain | (requested & kNtlmRequestTarget);
  }
  state.flags = flags;

  std::string target_name = NtlmUtf16Le(names.netbios_domain);
  std::string info;
  if (!names.netbios_domain.empty()) PutAv(&info, kAvNbDomainName, target_name);
  if (!names.netbios_computer.empty()) {
    PutAv(&info, kAvNbComputerName, NtlmUtf16Le(names.netbios_computer));
  }
  if (!names.dns_domain.empty()) PutAv(&info, kAvDnsDomainName, NtlmUtf16Le(names.dns_domain));
  if (!names.dns_computer.empty()) {
    PutAv(&info, kAvDnsComputerName, NtlmUtf16Le(names.dns_computer));
  }
  if (!names.dns_tree.empty()) PutAv(&info, kAvDnsTreeName, NtlmUtf16Le(names.dns_tree));
  if (now_filetime != 0) {
    std::string ts;
    Put64(&ts, now_filetime);
    PutAv(&info, kAvTimestamp, ts);
  }
  PutAv(&info, kAvEol, {});
  if (target_name.size() > 0xffff || info.size() > 0xffff) {
    return absl::InvalidArgumentError("NTLM: server names too long");
  }

  std::string& m = state.challenge_message;
  m.append(kSignature, 8);
  Put32(&m, 2);
  constexpr uint32_t kPayload = 56;
  Put16(&m, static_cast<uint16_t>(target_name.size()));
  Put16(&m, static_cast<uint16_t>(target_name.size()));
  Put32(&m, kPayload);
  Put32(&m, flags);
  m.append(reinterpret_cast<const char*>(server_challenge.data()), 8);
  m.append(8, '\0');
  Put16(&m, static_cast<uint16_t>(info.size()));
  Put16(&m, static_cast<uint16_t>(info.size()));
  Put32(&m, kPayload + static_cast<uint32_t>(target_name.size()));
  // Version: 6.1 build 7601, NTLMSSP_REVISION_W2K3.
  m.push_back(6);
  m.push_back(1);
  Put16(&m, 7601);
  m.append(3, '\0');
  m.push_back(0x0F);
  m.append(target_name);
  m.append(info);
  return state;
}

NtlmSessionKeys DeriveNtlmSessionKeys(uint32_t flags, const Bytes16& esk) {
  NtlmSessionKeys keys;
  keys.flags = flags;
  keys.exported_session_key = esk;
  keys.client_sign_key = Md5(Span(Concat(View(esk), kClientSignMagic)));
  keys.server_sign_key = Md5(Span(Concat(View(esk), kServerSignMagic)));
  size_t seal_len = 5;
  if (flags & kNtlm128) {
    seal_len = 16;
  } else if (flags & kNtlm56) {
    seal_len = 7;
  }
  std::string_view seal_base = View(esk).substr(0, seal_len);
  keys.client_seal_key = Md5(Span(Concat(seal_base, kClientSealMagic)));
  keys.server_seal_key = Md5(Span(Concat(seal_base, kServerSealMagic)));
  return keys;
}

std::array<uint8_t, 16> NtlmMac(uint32_t flags, const Bytes16& sign_key, const Bytes16& seal_key,
                                uint32_t seq, std::string_view message) {
  std::string seq_le;
  Put32(&seq_le, seq);
  Bytes16 hmac = HmacMd5(sign_key, Span(Concat(seq_le, message)));
  std::array<uint8_t, 16> out{};
  out[0] = 1;
  std::memcpy(out.data() + 4, hmac.data(), 8);
  if (flags & kNtlmNegotiateKeyExchange) {
    Bytes16 rc4_key = seal_key;
    if (flags & kNtlmNegotiateDatagram) rc4_key = Md5(Span(Concat(View(seal_key), seq_le)));
    Rc4InPlace(rc4_key, std::span<uint8_t>(out.data() + 4, 8));
  }
  std::memcpy(out.data() + 12, seq_le.data(), 4);
  return out;
}

absl::StatusOr<NtlmLogin> PeekNtlmAuthenticateLogin(std::string_view msg) {
  if (msg.size() < kAuthenticateHeader || std::memcmp(msg.data(), kSignature, 8) != 0 ||
      Get32(msg, 8) != 3) {
    return Refuse("malformed AUTHENTICATE_MESSAGE");
  }
  std::string_view domain16, user16;
  if (!Field(msg, 28, &domain16) || !Field(msg, 36, &user16)) {
    return Refuse("AUTHENTICATE field outside the message");
  }
  if ((Get32(msg, 60) & kNtlmNegotiateUnicode) == 0) {
    return Refuse("client did not negotiate Unicode");
  }
  return NtlmLogin{NtlmUtf8FromUtf16Le(user16), NtlmUtf8FromUtf16Le(domain16)};
}

absl::StatusOr<NtlmAuthResult> VerifyNtlmAuthenticate(const NtlmChallengeState& challenge,
                                                      std::string_view msg,
                                                      const NtHashLookup& lookup,
                                                      const NtlmVerifyOptions& options) {
  if (msg.size() < kAuthenticateHeader || std::memcmp(msg.data(), kSignature, 8) != 0 ||
      Get32(msg, 8) != 3) {
    return Refuse("malformed AUTHENTICATE_MESSAGE");
  }
  std::string_view lm, nt, domain16, user16, host16, enc_key;
  if (!Field(msg, 12, &lm) || !Field(msg, 20, &nt) || !Field(msg, 28, &domain16) ||
      !Field(msg, 36, &user16) || !Field(msg, 44, &host16) || !Field(msg, 52, &enc_key)) {
    return Refuse("AUTHENTICATE field outside the message");
  }
  uint32_t flags = Get32(msg, 60);
  if ((flags & kNtlmAnonymous) || (nt.empty() && lm.size() <= 1)) return Refuse("anonymous logon");
  if ((flags & kNtlmNegotiateUnicode) == 0) return Refuse("client did not negotiate Unicode");
  if (nt.size() == 24) return Refuse("NTLMv1 response (only NTLMv2 is accepted)");
  if (nt.size() < 16 + 28 + 4) return Refuse("NT response too short for NTLMv2 (LM/v1 client)");
  if ((flags & kNtlmNegotiateExtendedSessionSecurity) == 0) {
    return Refuse("client did not negotiate extended session security");
  }
  if (flags & kNtlmNegotiateLmKey) return Refuse("LM session key requested");
  // The client may only keep flags the server offered (plus REQUEST_TARGET, which it echoes).
  uint32_t extra = flags & ~(challenge.flags | kNtlmRequestTarget | kNtlmNegotiateOem);
  if (extra != 0) {
    return Refuse(absl::StrCat("flags not offered by the server: 0x", absl::Hex(extra)));
  }
  if ((flags & kNtlmNegotiateKeyExchange) && enc_key.size() != 16) {
    return Refuse("key exchange without a 16-byte EncryptedRandomSessionKey");
  }
  if (user16.empty()) return Refuse("empty user name");

  NtlmAuthResult result;
  result.user = NtlmUtf8FromUtf16Le(user16);
  result.domain = NtlmUtf8FromUtf16Le(domain16);
  result.workstation = NtlmUtf8FromUtf16Le(host16);

  std::string_view proof = nt.substr(0, 16);
  std::string_view blob = nt.substr(16);  // the "temp" of ComputeResponse
  if (blob[0] != 1 || blob[1] != 1) return Refuse("unknown NTLMv2 response version");
  uint64_t client_time = Get64(blob, 8);
  // AV pairs start at 28; look for MsvAvFlags (MIC present) and check they are well formed.
  bool mic_present = false;
  {
    size_t at = 28;
    bool eol = false;
    for (int guard = 0; guard < 64 && at + 4 <= blob.size(); ++guard) {
      uint16_t id = Get16(blob, at);
      uint16_t len = Get16(blob, at + 2);
      if (at + 4 + len > blob.size()) return Refuse("NTLMv2 AV pair outside the response");
      if (id == kAvEol) {
        eol = true;
        break;
      }
      if (id == kAvFlags && len == 4 && (Get32(blob, at + 4) & kAvFlagMicPresent)) {
        mic_present = true;
      }
      at += 4 + len;
    }
    if (!eol) return Refuse("NTLMv2 AV pairs without MsvAvEOL");
  }
  if (options.now_filetime != 0) {
    uint64_t skew_ticks = static_cast<uint64_t>(options.max_clock_skew.count()) * 10000000ULL;
    uint64_t diff = client_time > options.now_filetime ? client_time - options.now_filetime
                                                       : options.now_filetime - client_time;
    if (diff > skew_ticks) return Refuse("NTLMv2 timestamp outside the allowed clock skew");
  }

  std::optional<Bytes16> nt_hash = lookup ? lookup(result.user, result.domain) : std::nullopt;
  if (!nt_hash) {
    log::Info(kComponent, "AUTHENTICATE for unknown user",
              {log::Field("user", result.user), log::Field("domain", result.domain)});
    return absl::PermissionDeniedError("NTLM: authentication failed");
  }
  Bytes16 key_nt = NtowfV2(*nt_hash, result.user, result.domain);
  std::string challenge_and_blob(reinterpret_cast<const char*>(challenge.server_challenge.data()),
                                 8);
  challenge_and_blob.append(blob);
  Bytes16 expected = HmacMd5(key_nt, Span(challenge_and_blob));
  if (!ConstantTimeEquals(expected, AsBytes(proof))) {
    log::Info(kComponent, "AUTHENTICATE with a wrong NTLMv2 proof",
              {log::Field("user", result.user), log::Field("domain", result.domain)});
    return absl::PermissionDeniedError("NTLM: authentication failed");
  }
  Bytes16 session_base_key = HmacMd5(key_nt, AsBytes(proof));
  Bytes16 exported = session_base_key;  // KXKEY for NTLMv2 is the session base key
  if (flags & kNtlmNegotiateKeyExchange) {
    std::memcpy(exported.data(), enc_key.data(), 16);
    Rc4InPlace(session_base_key, std::span<uint8_t>(exported.data(), 16));
  }
  if (mic_present) {
    if (msg.size() < kMicOffset + 16) return Refuse("MIC flagged but missing");
    std::string zeroed(msg);
    std::memset(zeroed.data() + kMicOffset, 0, 16);
    std::string input = challenge.negotiate_message + challenge.challenge_message + zeroed;
    Bytes16 mic = HmacMd5(exported, Span(input));
    if (!ConstantTimeEquals(mic, AsBytes(msg.substr(kMicOffset, 16)))) {
      log::Info(kComponent, "AUTHENTICATE with a wrong MIC", {log::Field("user", result.user)});
      return absl::PermissionDeniedError("NTLM: authentication failed (MIC)");
    }
  }
  result.keys = DeriveNtlmSessionKeys(flags, exported);
  return result;
}

}  // namespace causeway::sip::lync
