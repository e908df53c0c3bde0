#include "sip/stack/digest_auth.h"

#include <charconv>
#include <cstring>
#include <random>

#include "core/log.h"
#include "sip/codec/name_addr.h"

namespace causeway::sip {
namespace {

constexpr std::string_view kComponent = "digest";

// --- MD5 (RFC 1321) and SHA-256 (FIPS 180-4): sip/stack does not link OpenSSL. ---

inline uint32_t Rotl(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }
inline uint32_t Rotr(uint32_t x, int s) { return (x >> s) | (x << (32 - s)); }

void Md5Block(uint32_t h[4], const uint8_t* p) {
  static constexpr uint32_t kK[64] = {
      0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
      0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
      0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
      0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
      0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
      0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
      0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
      0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
      0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
      0xeb86d391};
  static constexpr int kS[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
  uint32_t m[16];
  for (int i = 0; i < 16; ++i) {
    m[i] = uint32_t{p[i * 4]} | (uint32_t{p[i * 4 + 1]} << 8) | (uint32_t{p[i * 4 + 2]} << 16) |
           (uint32_t{p[i * 4 + 3]} << 24);
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  for (int i = 0; i < 64; ++i) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    uint32_t tmp = d;
    d = c;
    c = b;
    b = b + Rotl(a + f + kK[i] + m[g], kS[i]);
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
}

void Sha256Block(uint32_t h[8], const uint8_t* p) {
  static constexpr uint32_t kK[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t{p[i * 4]} << 24) | (uint32_t{p[i * 4 + 1]} << 16) |
           (uint32_t{p[i * 4 + 2]} << 8) | uint32_t{p[i * 4 + 3]};
  }
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t s1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
    uint32_t ch = (e & f) ^ (~e & g);
    uint32_t t1 = hh + s1 + ch + kK[i] + w[i];
    uint32_t s0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
    uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    uint32_t t2 = s0 + maj;
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

// Merkle-Damgard padding shared by both: `big_endian` length for SHA-256, little for MD5.
template <typename Block, typename State>
void HashAll(std::string_view data, bool big_endian, State* state, Block block) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t full = data.size() / 64;
  for (size_t i = 0; i < full; ++i) block(*state, p + i * 64);
  uint8_t tail[128] = {};
  size_t rest = data.size() - full * 64;
  if (rest > 0) std::memcpy(tail, p + full * 64, rest);
  tail[rest] = 0x80;
  size_t len = rest < 56 ? 64 : 128;
  uint64_t bits = uint64_t{data.size()} * 8;
  for (int i = 0; i < 8; ++i) {
    tail[len - 8 + i] = static_cast<uint8_t>(big_endian ? bits >> (56 - 8 * i) : bits >> (8 * i));
  }
  block(*state, tail);
  if (len == 128) block(*state, tail + 64);
}

std::string Md5Raw(std::string_view data) {
  uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  HashAll(data, false, &h, [](uint32_t(&s)[4], const uint8_t* b) { Md5Block(s, b); });
  std::string out(16, '\0');
  for (int i = 0; i < 16; ++i) out[i] = static_cast<char>(h[i / 4] >> (8 * (i % 4)));
  return out;
}

std::string Sha256Raw(std::string_view data) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  HashAll(data, true, &h, [](uint32_t(&s)[8], const uint8_t* b) { Sha256Block(s, b); });
  std::string out(32, '\0');
  for (int i = 0; i < 32; ++i) out[i] = static_cast<char>(h[i / 4] >> (24 - 8 * (i % 4)));
  return out;
}

std::string Hex(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) {
    auto b = static_cast<uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool Unhex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int a = nib(hex[i]), b = nib(hex[i + 1]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<char>(a * 16 + b));
  }
  return true;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// Constant-time comparison of hex strings, case-insensitive (pidgin-sipe sends upper case).
bool HexEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(Lower(a[i]) ^ Lower(b[i]));
  return diff == 0;
}

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

}  // namespace

std::string_view DigestAlgorithmName(DigestAlgorithm alg) {
  return alg == DigestAlgorithm::kSha256 ? "SHA-256" : "MD5";
}

std::string DigestHashHex(DigestAlgorithm alg, std::string_view data) {
  return Hex(alg == DigestAlgorithm::kSha256 ? Sha256Raw(data) : Md5Raw(data));
}

std::string DigestHa1(DigestAlgorithm alg, std::string_view user, std::string_view realm,
                      std::string_view password) {
  return DigestHashHex(alg, Cat({user, ":", realm, ":", password}));
}

std::string DigestResponse(DigestAlgorithm alg, std::string_view ha1_hex, std::string_view nonce,
                           std::string_view nc, std::string_view cnonce, std::string_view qop,
                           std::string_view method, std::string_view uri) {
  std::string ha2 = DigestHashHex(alg, Cat({method, ":", uri}));
  if (qop.empty()) return DigestHashHex(alg, Cat({ha1_hex, ":", nonce, ":", ha2}));
  return DigestHashHex(alg, Cat({ha1_hex, ":", nonce, ":", nc, ":", cnonce, ":", qop, ":", ha2}));
}

std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data) {
  std::string k = key.size() > 64 ? Sha256Raw(key) : std::string(key);
  k.resize(64, '\0');
  std::string ipad(64, '\0'), opad(64, '\0');
  for (int i = 0; i < 64; ++i) {
    ipad[i] = static_cast<char>(k[i] ^ 0x36);
    opad[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  std::string inner = Sha256Raw(ipad + std::string(data));
  std::string outer = Sha256Raw(opad + inner);
  std::array<uint8_t, 32> out{};
  std::memcpy(out.data(), outer.data(), 32);
  return out;
}

DigestAuthenticator::DigestAuthenticator(DigestServerConfig config, const Clock& clock,
                                         DigestHa1Lookup lookup,
                                         std::function<void(std::span<uint8_t>)> random)
    : config_(std::move(config)),
      clock_(clock),
      lookup_(std::move(lookup)),
      random_(std::move(random)) {
  if (!random_) {
    random_ = [](std::span<uint8_t> out) {
      std::random_device rd;
      for (uint8_t& b : out) b = static_cast<uint8_t>(rd());
    };
  }
  if (config_.secret.empty()) {
    std::array<uint8_t, 32> s{};
    random_(s);
    config_.secret.assign(reinterpret_cast<const char*>(s.data()), s.size());
  }
  if (config_.max_tracked_nonces == 0) config_.max_tracked_nonces = 1;
  if (config_.max_tracked_peers == 0) config_.max_tracked_peers = 1;
}

uint64_t DigestAuthenticator::NowSeconds() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count());
}

std::string DigestAuthenticator::MakeNonce() {
  std::string body(16, '\0');
  uint64_t now = NowSeconds();
  for (int i = 0; i < 8; ++i) body[i] = static_cast<char>(now >> (56 - 8 * i));
  random_(std::span<uint8_t>(reinterpret_cast<uint8_t*>(body.data()) + 8, 8));
  std::array<uint8_t, 32> mac = HmacSha256(config_.secret, body + config_.realm);
  body.append(reinterpret_cast<const char*>(mac.data()), 16);
  return Hex(body);
}

bool DigestAuthenticator::ParseNonce(std::string_view nonce, uint64_t* issued) const {
  std::string raw;
  if (nonce.size() != 64 || !Unhex(nonce, &raw)) return false;
  std::array<uint8_t, 32> mac = HmacSha256(config_.secret, raw.substr(0, 16) + config_.realm);
  unsigned diff = 0;
  for (int i = 0; i < 16; ++i) diff |= static_cast<uint8_t>(raw[16 + i]) ^ mac[i];
  if (diff != 0) return false;
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) t = (t << 8) | static_cast<uint8_t>(raw[i]);
  *issued = t;
  return true;
}

std::vector<std::string> DigestAuthenticator::Challenges(bool stale) {
  std::string nonce = MakeNonce();
  std::vector<std::string> out;
  for (DigestAlgorithm alg : {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5}) {
    out.push_back(Cat({"Digest realm=\"", config_.realm, "\", nonce=\"", nonce,
                       "\", algorithm=", DigestAlgorithmName(alg), ", qop=\"auth\""}));
    if (stale) out.back() += ", stale=true";
  }
  return out;
}

DigestVerdict DigestAuthenticator::Challenge(bool proxy, bool stale, std::string reason) {
  DigestVerdict v;
  v.kind = DigestVerdict::Kind::kChallenge;
  v.sip_code = proxy ? 407 : 401;
  v.challenges = Challenges(stale);
  v.reason = std::move(reason);
  return v;
}

bool DigestAuthenticator::Locked(const std::string& key) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return false;
  if (clock_.Now() - it->second.first >= config_.failure_window) {
    failures_.erase(it);  // its failure_order_ entry is skipped when reached
    return false;
  }
  return it->second.count >= config_.max_failures;
}

DigestVerdict DigestAuthenticator::Fail(bool proxy, const std::string& key, std::string reason) {
  TimePoint now = clock_.Now();
  auto it = failures_.find(key);
  if (it == failures_.end() || now - it->second.first >= config_.failure_window) {
    if (it != failures_.end()) failures_.erase(it);
    while (failures_.size() >= config_.max_tracked_peers) {
      if (failure_order_.empty()) {
        failures_.erase(failures_.begin());
        continue;
      }
      failures_.erase(failure_order_.front());
      failure_order_.pop_front();
    }
    failures_[key] = Failures{0, now};
    failure_order_.push_back(key);
    if (failure_order_.size() > 2 * config_.max_tracked_peers + 16) {
      // Names of entries erased on success or expiry pile up: keep only live ones.
      std::deque<std::string> live;
      for (std::string& name : failure_order_) {
        if (failures_.contains(name)) live.push_back(std::move(name));
      }
      failure_order_ = std::move(live);
    }
    it = failures_.find(key);
  }
  ++it->second.count;
  log::Info(kComponent, "digest authentication failed",
            {log::Field("key", key), log::Field("reason", reason),
             log::Field("failures", it->second.count)});
  if (it->second.count >= config_.max_failures) {
    DigestVerdict v;
    v.kind = DigestVerdict::Kind::kForbidden;
    v.sip_code = 403;
    v.reason = "too many failed attempts";
    return v;
  }
  return Challenge(proxy, false, std::move(reason));
}

bool DigestAuthenticator::RecordNonceCount(std::string_view nonce, uint64_t issued, uint32_t nc) {
  auto it = nonces_.find(std::string(nonce));
  if (it == nonces_.end()) {
    // A nonce older than something we evicted may have history we no longer know.
    if (evicted_watermark_ != 0 && issued < evicted_watermark_) return false;
    // Expired nonces are refused before they get here, so their history can go for free.
    uint64_t lifetime = static_cast<uint64_t>(config_.nonce_lifetime.count());
    while (!nonce_order_.empty()) {
      auto old = nonces_.find(nonce_order_.front());
      if (old != nonces_.end() && old->second.issued + lifetime > NowSeconds()) break;
      if (old != nonces_.end()) nonces_.erase(old);
      nonce_order_.pop_front();
    }
    while (nonces_.size() >= config_.max_tracked_nonces && !nonce_order_.empty()) {
      auto old = nonces_.find(nonce_order_.front());
      if (old != nonces_.end()) {
        evicted_watermark_ = std::max(evicted_watermark_, old->second.issued + 1);
        nonces_.erase(old);
      }
      nonce_order_.pop_front();
    }
    nonces_[std::string(nonce)] = NonceUse{nc, issued};
    nonce_order_.emplace_back(nonce);
    return true;
  }
  if (nc <= it->second.last_nc) return false;
  it->second.last_nc = nc;
  return true;
}

DigestVerdict DigestAuthenticator::Verify(std::string_view credentials, std::string_view method,
                                          std::string_view request_uri, std::string_view peer,
                                          bool proxy) {
  absl::StatusOr<AuthValue> auth = ParseAuthValue(credentials);
  if (!auth.ok() || !IEquals(auth->scheme, "Digest")) {
    return Challenge(proxy, false, "no Digest credentials");
  }
  auto param = [&](std::string_view name) -> std::optional<std::string> {
    for (const AuthParam& p : auth->params) {
      if (IEquals(p.name, name)) return p.quoted ? p.Unquoted() : std::string(p.value);
    }
    return std::nullopt;
  };
  std::optional<std::string> user = param("username"), realm = param("realm"),
                             nonce = param("nonce"), uri = param("uri"),
                             response = param("response");
  if (!user || !realm || !nonce || !uri || !response) {
    DigestVerdict v;
    v.kind = DigestVerdict::Kind::kBadRequest;
    v.sip_code = 400;
    v.reason = "Digest credentials lack username, realm, nonce, uri or response";
    return v;
  }
  if (*realm != config_.realm) return Challenge(proxy, false, "foreign realm");
  if (config_.require_uri_match && *uri != request_uri) {
    DigestVerdict v;
    v.kind = DigestVerdict::Kind::kBadRequest;
    v.sip_code = 400;
    v.reason = "Digest uri does not match the Request-URI";
    return v;
  }
  std::string key = Cat({*user, "|", peer});
  if (Locked(key)) {
    DigestVerdict v;
    v.kind = DigestVerdict::Kind::kForbidden;
    v.sip_code = 403;
    v.reason = "too many failed attempts";
    return v;
  }
  DigestAlgorithm alg = DigestAlgorithm::kMd5;
  if (std::optional<std::string> a = param("algorithm")) {
    if (IEquals(*a, "SHA-256")) {
      alg = DigestAlgorithm::kSha256;
    } else if (!IEquals(*a, "MD5")) {
      return Challenge(proxy, false, "unsupported algorithm");
    }
  }
  std::string qop = param("qop").value_or("");
  std::string nc_text, cnonce;
  uint32_t nc = 1;
  if (qop.empty()) {
    if (!config_.allow_no_qop) return Challenge(proxy, false, "qop required");
  } else {
    if (!IEquals(qop, "auth")) return Challenge(proxy, false, "unsupported qop");
    nc_text = param("nc").value_or("");
    cnonce = param("cnonce").value_or("");
    auto [ptr, ec] = std::from_chars(nc_text.data(), nc_text.data() + nc_text.size(), nc, 16);
    if (nc_text.size() != 8 || ec != std::errc() || ptr != nc_text.data() + nc_text.size() ||
        cnonce.empty() || nc == 0) {
      DigestVerdict v;
      v.kind = DigestVerdict::Kind::kBadRequest;
      v.sip_code = 400;
      v.reason = "qop=auth needs nc (8 hex digits) and cnonce";
      return v;
    }
  }
  uint64_t issued = 0;
  if (!ParseNonce(*nonce, &issued)) return Challenge(proxy, false, "nonce not ours");

  std::optional<DigestHa1Set> ha1 = lookup_ ? lookup_(*user, config_.realm) : std::nullopt;
  const std::string* ha1_hex = nullptr;
  if (ha1) ha1_hex = alg == DigestAlgorithm::kSha256 ? &ha1->sha256 : &ha1->md5;
  if (ha1_hex == nullptr || ha1_hex->empty()) return Fail(proxy, key, "unknown user");
  std::string expected = DigestResponse(alg, *ha1_hex, *nonce, nc_text, cnonce, qop, method, *uri);
  if (!HexEquals(expected, *response)) return Fail(proxy, key, "wrong response");

  uint64_t now = NowSeconds();
  if (issued > now) return Challenge(proxy, false, "nonce from the future (clock reset?)");
  if (now >= issued + static_cast<uint64_t>(config_.nonce_lifetime.count())) {
    return Challenge(proxy, true, "nonce expired");
  }
  if (!RecordNonceCount(*nonce, issued, nc)) return Challenge(proxy, true, "nonce count replayed");
  failures_.erase(key);
  DigestVerdict v;
  v.kind = DigestVerdict::Kind::kOk;
  v.sip_code = 200;
  v.user = *user;
  return v;
}

DigestVerdict DigestAuthenticator::VerifyRequest(const SipMessage& request, std::string_view peer,
                                                 bool proxy) {
  HeaderId id = proxy ? HeaderId::kProxyAuthorization : HeaderId::kAuthorization;
  for (std::string_view value : request.HeaderValues(id)) {
    absl::StatusOr<AuthValue> a = ParseAuthValue(value);
    if (!a.ok() || !IEquals(a->scheme, "Digest")) continue;
    std::optional<std::string_view> realm = a->Param("realm");
    if (!realm) continue;
    std::string r(*realm);
    if (r.size() >= 2 && r.front() == '"')
      r = UnquoteString(std::string_view(r).substr(1, r.size() - 2));
    if (r != config_.realm) continue;
    return Verify(value, request.method_text(), request.request_uri_text(), peer, proxy);
  }
  return Challenge(proxy, false, "no credentials for our realm");
}

}  // namespace causeway::sip
