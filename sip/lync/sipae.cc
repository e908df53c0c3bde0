#include "sip/lync/sipae.h"

#include <charconv>
#include <type_traits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/name_addr.h"

namespace causeway::sip::lync {
namespace {

constexpr std::string_view kComponent = "sipae";

// absl::StrCat over std::string_view (Debian's absl::string_view is a distinct type).
void AppendPiece(std::string* out, std::string_view s) { out->append(s); }
void AppendPiece(std::string* out, const std::string& s) { out->append(s); }
void AppendPiece(std::string* out, const char* s) { out->append(s); }
template <typename N>
requires std::is_integral_v<N>
void AppendPiece(std::string* out, N n) { out->append(std::to_string(n)); }
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(&out, args), ...);
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}

// SIPE's sipmsg_find_part_of_header(): the text after the first `before` (or from the start)
// up to the next `after` (or the end). nullopt when `before` is not found.
std::optional<std::string_view> FindPart(std::string_view hdr, std::string_view before,
                                         std::string_view after) {
  size_t start = 0;
  if (!before.empty()) {
    size_t at = hdr.find(before);
    if (at == std::string_view::npos) return std::nullopt;
    start = at + before.size();
  }
  std::string_view rest = hdr.substr(start);
  if (!after.empty()) {
    size_t end = rest.find(after);
    if (end != std::string_view::npos) return rest.substr(0, end);
  }
  return rest;
}

std::string_view Header(const SipMessage& msg, std::string_view name) {
  const sip::Header* h = msg.FindHeader(name);
  return h ? h->value : std::string_view();
}

// sipmsg_parse_p_asserted_identity().
void ParseAssertedIdentity(std::string_view hdr, std::string_view* sip_uri,
                           std::string_view* tel_uri) {
  if (IStartsWith(hdr, "tel:")) {
    *tel_uri = hdr;
    return;
  }
  size_t pos = 0;
  for (int guard = 0; guard < 64 && pos <= hdr.size(); ++guard) {
    size_t comma = hdr.find(',', pos);
    std::string_view part =
        hdr.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    std::optional<std::string_view> uri = FindPart(part, "<", ">");
    if (uri) {
      if (IStartsWith(*uri, "sip:")) {
        if (sip_uri->empty()) *sip_uri = *uri;
      } else if (IStartsWith(*uri, "tel:")) {
        if (tel_uri->empty()) *tel_uri = *uri;
      }
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
}

// The NTLM credentials of a client message: Authorization first, then Proxy-Authorization.
std::optional<SipaeAuthParams> FindNtlmCredentials(const SipMessage& msg) {
  for (HeaderId id : {HeaderId::kAuthorization, HeaderId::kProxyAuthorization}) {
    for (std::string_view value : msg.HeaderValues(id)) {
      absl::StatusOr<SipaeAuthParams> p = ParseSipaeAuth(value);
      if (p.ok() && IEquals(p->scheme, "NTLM")) return *std::move(p);
    }
  }
  return std::nullopt;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

absl::StatusOr<SipaeAuthParams> ParseSipaeAuth(std::string_view header_value) {
  absl::StatusOr<AuthValue> v = ParseAuthValue(header_value);
  if (!v.ok()) return v.status();
  SipaeAuthParams p;
  p.scheme = std::string(v->scheme);
  for (const AuthParam& a : v->params) {
    std::string value = a.quoted ? a.Unquoted() : std::string(a.value);
    std::string_view n = a.name;
    if (IEquals(n, "qop")) {
      p.qop = value;
    } else if (IEquals(n, "realm")) {
      p.realm = value;
    } else if (IEquals(n, "targetname")) {
      p.targetname = value;
    } else if (IEquals(n, "opaque")) {
      p.opaque = value;
    } else if (IEquals(n, "gssapi-data")) {
      p.gssapi_data = value;
      p.has_gssapi_data = true;
    } else if (IEquals(n, "crand")) {
      p.crand = value;
    } else if (IEquals(n, "cnum")) {
      p.cnum = value;
    } else if (IEquals(n, "response")) {
      p.response = value;
      p.has_response = true;
    } else if (IEquals(n, "srand")) {
      p.srand = value;
    } else if (IEquals(n, "snum")) {
      p.snum = value;
    } else if (IEquals(n, "rspauth")) {
      p.rspauth = value;
    } else if (IEquals(n, "version")) {
      int ver = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), ver);
      if (ec != std::errc() || ptr != value.data() + value.size()) {
        return SipError(400, "MS-SIPAE: bad version parameter");
      }
      p.version = ver;
    }
  }
  return p;
}

std::string FormatSipaeOffer(std::string_view realm, std::string_view targetname, int version) {
  return Cat("NTLM realm=\"", realm, "\", targetname=\"", targetname, "\", version=", version);
}

std::string FormatSipaeChallenge(std::string_view opaque, std::string_view gssapi_data_base64,
                                 std::string_view realm, std::string_view targetname, int version) {
  return Cat("NTLM opaque=\"", opaque, "\", gssapi-data=\"", gssapi_data_base64,
             "\", targetname=\"", targetname, "\", realm=\"", realm, "\", version=", version);
}

std::string BuildSipaeSignatureBuffer(const SipMessage& msg, const SipaeSignatureContext& ctx,
                                      int version) {
  std::string_view call_id = Header(msg, "Call-ID");
  std::string_view cseq_hdr = Header(msg, "CSeq");
  std::string_view cseq_num = FindPart(cseq_hdr, {}, " ").value_or(std::string_view());
  std::string_view method;
  if (msg.is_request()) {
    method = msg.method_text();
  } else {
    size_t sp = cseq_hdr.find(' ');
    if (sp != std::string_view::npos) method = cseq_hdr.substr(sp + 1);
  }
  std::string_view from = Header(msg, "From");
  std::string_view to = Header(msg, "To");
  std::string_view from_url = FindPart(from, "<", ">").value_or(std::string_view());
  std::string_view from_tag = FindPart(from, ";tag=", ";").value_or(std::string_view());
  std::string_view to_url = FindPart(to, "<", ">").value_or(std::string_view());
  std::string_view to_tag = FindPart(to, ";tag=", ";").value_or(std::string_view());
  std::string_view pai_sip, pai_tel;
  const sip::Header* pai = msg.FindHeader("P-Asserted-Identity");
  if (pai == nullptr) pai = msg.FindHeader("P-Preferred-Identity");
  if (pai != nullptr) ParseAssertedIdentity(pai->value, &pai_sip, &pai_tel);
  std::string_view expires = Header(msg, "Expires");
  std::string code = msg.is_response() ? Cat("<", msg.status_code(), ">") : "";

  auto b = [](std::string_view s) { return Cat("<", s, ">"); };
  std::string out = Cat(b(ctx.protocol), b(ctx.rand), b(ctx.num), b(ctx.realm), b(ctx.targetname),
                        b(call_id), b(cseq_num), b(method), b(from_url), b(from_tag));
  if (version < 3) {
    out += Cat(b(to_tag), b(expires), code);
  } else {
    out += Cat(b(to_url), b(to_tag), b(pai_sip), b(pai_tel), b(expires), code);
  }
  return out;
}

SecurityAssociation::SecurityAssociation(NtlmSessionKeys keys, std::string user, std::string domain,
                                         std::string opaque, std::string realm,
                                         std::string targetname, int version,
                                         std::function<uint32_t()> random32)
    : keys_(keys),
      user_(std::move(user)),
      domain_(std::move(domain)),
      opaque_(std::move(opaque)),
      realm_(std::move(realm)),
      targetname_(std::move(targetname)),
      version_(version),
      random32_(std::move(random32)) {}

absl::Status SecurityAssociation::VerifyIncoming(const SipMessage& msg) {
  std::optional<SipaeAuthParams> cred = FindNtlmCredentials(msg);
  if (!cred || !cred->has_response) return SipError(401, "MS-SIPAE: message is not signed");
  if (cred->opaque != opaque_) return SipError(401, "MS-SIPAE: unknown security association");
  if (cred->realm != realm_ || cred->targetname != targetname_) {
    return SipError(401, "MS-SIPAE: realm or targetname does not match the association");
  }
  uint64_t cnum = 0;
  if (!ParseDecimal(cred->cnum, &cnum) || cred->crand.empty()) {
    return SipError(403, "MS-SIPAE: bad crand/cnum");
  }
  std::string sig;
  if (!HexDecode(cred->response, &sig) || sig.size() != 16) {
    return SipError(403, "MS-SIPAE: malformed response signature");
  }
  SipaeSignatureContext ctx{cred->scheme, cred->crand, cred->cnum, cred->realm, cred->targetname};
  std::string buffer = BuildSipaeSignatureBuffer(msg, ctx, version_);
  std::array<uint8_t, 16> mac = NtlmMac(keys_.flags, keys_.client_sign_key, keys_.client_seal_key,
                                        kSipaeNtlmSequence, buffer);
  if (!ConstantTimeEquals(mac, AsBytes(sig))) {
    log::Info(kComponent, "bad client signature",
              {log::Field("user", user_), log::Field("cnum", cnum)});
    return SipError(403, "MS-SIPAE: bad message signature");
  }
  // Replay window: 128 numbers back from the highest seen.
  if (cnum > highest_cnum_) {
    uint64_t shift = cnum - highest_cnum_;
    if (shift >= 128) {
      window_[0] = window_[1] = 0;
    } else if (shift >= 64) {
      window_[1] = window_[0] << (shift - 64);
      window_[0] = 0;
    } else if (shift > 0) {
      window_[1] = (window_[1] << shift) | (window_[0] >> (64 - shift));
      window_[0] <<= shift;
    }
    highest_cnum_ = cnum;
    window_[0] |= 1;
  } else {
    uint64_t back = highest_cnum_ - cnum;
    if (back >= 128) return SipError(403, "MS-SIPAE: cnum too old");
    uint64_t& word = window_[back / 64];
    uint64_t bit = uint64_t{1} << (back % 64);
    if (word & bit) return SipError(403, "MS-SIPAE: replayed cnum");
    word |= bit;
  }
  return absl::OkStatus();
}

std::string SecurityAssociation::SignatureHeader(const SipMessage& msg) {
  ++snum_;
  uint32_t srand = 0;
  if (random32_) {
    srand = random32_();
  } else {
    std::array<uint8_t, 4> b{};
    RandomBytes(b);
    srand =
        uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
  }
  SipaeSignatureContext ctx{"NTLM", absl::StrFormat("%08X", srand), Cat(snum_), realm_,
                            targetname_};
  std::string buffer = BuildSipaeSignatureBuffer(msg, ctx, version_);
  std::array<uint8_t, 16> mac = NtlmMac(keys_.flags, keys_.server_sign_key, keys_.server_seal_key,
                                        kSipaeNtlmSequence, buffer);
  return Cat("NTLM rspauth=\"", HexEncode(mac), "\", srand=\"", ctx.rand, "\", snum=\"", ctx.num,
             "\", opaque=\"", opaque_, "\", qop=\"auth\", targetname=\"", targetname_,
             "\", realm=\"", realm_, "\"");
}

absl::Status SecurityAssociation::Sign(SipMessage* msg) {
  // SIPE builds its check string from the first of Proxy-Authorization, Proxy-Authentication-Info,
  // Authentication-Info: only ours may be present.
  msg->RemoveHeaders(HeaderId::kAuthenticationInfo);
  msg->RemoveHeaders(HeaderId::kProxyAuthorization);
  msg->RemoveHeaders("Proxy-Authentication-Info");
  return msg->AppendHeader(HeaderId::kAuthenticationInfo, SignatureHeader(*msg));
}

bool IsSipaeHandshake(const SipMessage& request) {
  std::optional<SipaeAuthParams> cred = FindNtlmCredentials(request);
  return cred && cred->has_gssapi_data;
}

bool HasSipaeSignature(const SipMessage& message) {
  std::optional<SipaeAuthParams> cred = FindNtlmCredentials(message);
  return cred && cred->has_response && !cred->has_gssapi_data;
}

std::optional<NtlmLogin> SipaeAuthenticateLogin(const SipMessage& request) {
  std::optional<SipaeAuthParams> cred = FindNtlmCredentials(request);
  if (!cred || !cred->has_gssapi_data || cred->gssapi_data.empty()) return std::nullopt;
  std::string token;
  if (!absl::Base64Unescape(ToAbsl(cred->gssapi_data), &token)) return std::nullopt;
  absl::StatusOr<NtlmLogin> login = PeekNtlmAuthenticateLogin(token);
  if (!login.ok()) return std::nullopt;
  return *std::move(login);
}

SipaeAuthenticator::SipaeAuthenticator(SipaeConfig config, const Clock& clock, NtHashLookup lookup,
                                       std::function<void(std::span<uint8_t>)> random,
                                       std::function<uint64_t()> now_filetime)
    : config_(std::move(config)),
      clock_(clock),
      lookup_(std::move(lookup)),
      random_(std::move(random)),
      now_filetime_(std::move(now_filetime)) {
  if (!random_) {
    random_ = [](std::span<uint8_t> out) {
      if (!RandomBytes(out)) {
        log::Error(kComponent, "RAND_bytes failed");
      }
    };
  }
}

uint32_t SipaeAuthenticator::Random32() {
  std::array<uint8_t, 4> b{};
  random_(b);
  return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
}

std::string SipaeAuthenticator::NewOpaque() {
  for (int i = 0; i < 16; ++i) {
    std::string opaque = absl::StrFormat("%08X", Random32());
    if (!pending_.contains(opaque)) return opaque;
  }
  std::array<uint8_t, 8> b{};
  random_(b);
  return HexEncode(b);
}

void SipaeAuthenticator::Expire() {
  TimePoint now = clock_.Now();
  while (!order_.empty()) {
    auto& [opaque, created] = order_.front();
    auto it = pending_.find(opaque);
    bool stale = it == pending_.end() || it->second.created != created;
    if (!stale && now - created < config_.pending_timeout &&
        pending_.size() < config_.max_pending) {
      break;
    }
    if (!stale) pending_.erase(it);
    order_.pop_front();
  }
}

SipaeRegisterResult SipaeAuthenticator::Offer(int code, std::string reason) const {
  SipaeRegisterResult r;
  r.kind = code == 401 && reason.empty() ? SipaeRegisterResult::Kind::kChallenge
                                         : SipaeRegisterResult::Kind::kRejected;
  r.sip_code = code;
  r.reason = std::move(reason);
  if (code == 401) {
    r.www_authenticate = FormatSipaeOffer(config_.realm, config_.targetname, config_.version);
  }
  return r;
}

SipaeRegisterResult SipaeAuthenticator::HandleRegister(const SipMessage& request) {
  Expire();
  std::optional<SipaeAuthParams> cred = FindNtlmCredentials(request);
  if (!cred || !cred->has_gssapi_data) return Offer(401, "");

  std::string token;
  if (!absl::Base64Unescape(ToAbsl(cred->gssapi_data), &token)) {
    return Offer(400, "gssapi-data is not base64");
  }
  bool is_authenticate = token.size() >= 12 &&
                         token.compare(0, 8, std::string("NTLMSSP\0", 8)) == 0 &&
                         static_cast<uint8_t>(token[8]) == 3;
  if (!is_authenticate) {
    // Step 2: empty gssapi-data (connectionless) or a NEGOTIATE: answer a CHALLENGE.
    std::array<uint8_t, 8> server_challenge{};
    random_(server_challenge);
    uint64_t now_ft = now_filetime_ ? now_filetime_() : 0;
    absl::StatusOr<NtlmChallengeState> state =
        BuildNtlmChallenge(config_.names, token, now_ft, server_challenge);
    if (!state.ok()) return Offer(400, std::string(state.status().message()));
    std::string opaque = NewOpaque();
    while (pending_.size() >= config_.max_pending && !order_.empty()) {
      pending_.erase(order_.front().first);
      order_.pop_front();
    }
    SipaeRegisterResult r;
    r.kind = SipaeRegisterResult::Kind::kChallenge;
    r.sip_code = 401;
    r.www_authenticate =
        FormatSipaeChallenge(opaque, FromAbsl(absl::Base64Escape(ToAbsl(state->challenge_message))),
                             config_.realm, config_.targetname, config_.version);
    TimePoint now = clock_.Now();
    pending_[opaque] = Pending{*std::move(state), now};
    order_.emplace_back(opaque, now);
    if (order_.size() > 2 * config_.max_pending + 16) {
      // Completed handshakes leave names behind a live entry: rebuild from the live ones.
      std::deque<std::pair<std::string, TimePoint>> live;
      for (auto& entry : order_) {
        auto found = pending_.find(entry.first);
        if (found != pending_.end() && found->second.created == entry.second) {
          live.push_back(std::move(entry));
        }
      }
      order_ = std::move(live);
    }
    return r;
  }

  // Step 3: AUTHENTICATE for a pending context.
  auto it = pending_.find(cred->opaque);
  if (cred->opaque.empty() || it == pending_.end()) {
    return Offer(401, "AUTHENTICATE for an unknown or expired context");
  }
  NtlmChallengeState state = std::move(it->second.state);
  pending_.erase(it);  // one attempt per challenge
  NtlmVerifyOptions options;
  options.now_filetime = now_filetime_ ? now_filetime_() : 0;
  options.max_clock_skew = config_.max_clock_skew;
  absl::StatusOr<NtlmAuthResult> auth = VerifyNtlmAuthenticate(state, token, lookup_, options);
  if (!auth.ok()) {
    return Offer(absl::IsInvalidArgument(auth.status()) ? 403 : 401,
                 std::string(auth.status().message()));
  }
  auto sa = std::make_unique<SecurityAssociation>(
      auth->keys, auth->user, auth->domain, cred->opaque, config_.realm, config_.targetname,
      config_.version, [random = random_] {
        std::array<uint8_t, 4> b{};
        random(b);
        return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) |
               (uint32_t{b[3]} << 24);
      });
  if (cred->has_response) {
    absl::Status signed_ok = sa->VerifyIncoming(request);
    if (!signed_ok.ok()) return Offer(403, std::string(signed_ok.message()));
  }
  log::Info(kComponent, "NTLM authentication succeeded",
            {log::Field("user", auth->user), log::Field("domain", auth->domain)});
  SipaeRegisterResult r;
  r.kind = SipaeRegisterResult::Kind::kAuthenticated;
  r.sip_code = 200;
  r.sa = std::move(sa);
  return r;
}

}  // namespace causeway::sip::lync
