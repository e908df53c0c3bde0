#include "sip/stack/digest_auth.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <random>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "sip/codec/name_addr.h"

namespace causeway::sip {
namespace {

constexpr std::string_view kComponent = "digest";

// One-shot digests through OpenSSL (EVP: no deprecated APIs).
std::string RawDigest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return std::string();
  return std::string(reinterpret_cast<const char*>(out), len);
}
std::string Md5Raw(std::string_view data) { return RawDigest(EVP_md5(), data); }
std::string Sha256Raw(std::string_view data) { return RawDigest(EVP_sha256(), data); }

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

bool ParseDigestAlgorithm(std::string_view name, DigestAlgorithm* out) {
  for (DigestAlgorithm alg : {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5}) {
    if (IEquals(name, DigestAlgorithmName(alg))) {
      *out = alg;
      return true;
    }
  }
  return false;
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
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
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
  if (config_.algorithms.empty()) config_.algorithms = DigestServerConfig{}.algorithms;
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
  for (DigestAlgorithm alg : config_.algorithms) {
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
  DigestAlgorithm alg = DigestAlgorithm::kMd5;  // RFC 2617: no algorithm= means MD5
  if (std::optional<std::string> a = param("algorithm")) {
    if (!ParseDigestAlgorithm(*a, &alg)) return Challenge(proxy, false, "unsupported algorithm");
  }
  if (std::find(config_.algorithms.begin(), config_.algorithms.end(), alg) ==
      config_.algorithms.end()) {
    return Challenge(proxy, false, "algorithm not offered");
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
