#include "sip/lync/security_layer.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/name_addr.h"

namespace causeway::sip::lync {
namespace {

constexpr std::string_view kLog = "sipae";
constexpr std::string_view kDigestLog = "digest";
// 64*T1: how long a UDP client may retransmit one request.
constexpr Duration kRetransmitWindow = std::chrono::seconds(32);
constexpr size_t kMaxSeenRetransmits = 4096;

NtHashLookup DirectoryLookup(const UserDirectory& directory) {
  return [&directory](std::string_view user, std::string_view domain) -> std::optional<Bytes16> {
    absl::StatusOr<UserRef> found = directory.FindByLogin(user, domain);
    if (!found.ok() || *found == nullptr) return std::nullopt;
    return (*found)->nt_hash;
  };
}

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

// "example.test" of "sip:alice@example.test".
std::string_view DomainOfAor(std::string_view aor) {
  size_t at = aor.rfind('@');
  return at == std::string_view::npos ? std::string_view() : aor.substr(at + 1);
}

// The 403 reasons of the sender rules (see security_layer.h); they are the answers' reason phrases.
constexpr std::string_view kUnknownSender = "Not a User of This Domain";
constexpr std::string_view kNotTheSignedInUser = "From Is Not the Signed-In User";

// Requests a sender rule does not apply to: ACK and CANCEL cannot be challenged (RFC 3261 §22.1);
// REGISTER is the registrar's (Authorize).
bool ExemptFromSenderRules(Method method) {
  return method == Method::kAck || method == Method::kCancel || method == Method::kRegister;
}

bool HasDigestCredentials(const SipMessage& request, HeaderId id) {
  for (std::string_view value : request.HeaderValues(id)) {
    absl::StatusOr<AuthValue> a = ParseAuthValue(value);
    if (a.ok() && absl::EqualsIgnoreCase(ToAbsl(a->scheme), "Digest")) return true;
  }
  return false;
}

}  // namespace

// ---- FailureLimiter ----

FailureLimiter::FailureLimiter(int max_failures, Duration window, size_t max_keys)
    : max_failures_(std::max(max_failures, 1)),
      window_(window),
      max_keys_(std::max<size_t>(max_keys, 1)) {}

bool FailureLimiter::Locked(const std::string& key, TimePoint now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  if (now - it->second.first >= window_) {
    entries_.erase(it);  // its order_ record is skipped when reached
    return false;
  }
  return it->second.count >= max_failures_;
}

int FailureLimiter::Fail(const std::string& key, TimePoint now) {
  auto it = entries_.find(key);
  if (it != entries_.end() && now - it->second.first >= window_) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    while (entries_.size() >= max_keys_ && !order_.empty()) {
      auto oldest = entries_.find(order_.front().first);
      if (oldest != entries_.end() && oldest->second.first == order_.front().second) {
        entries_.erase(oldest);
      }
      order_.pop_front();
    }
    it = entries_.emplace(key, Entry{0, now}).first;
    order_.emplace_back(key, now);
    if (order_.size() > 2 * max_keys_ + 16) {
      // Records of cleared or expired entries pile up: keep only the live ones.
      std::deque<std::pair<std::string, TimePoint>> live;
      for (auto& record : order_) {
        auto found = entries_.find(record.first);
        if (found != entries_.end() && found->second.first == record.second) {
          live.push_back(std::move(record));
        }
      }
      order_ = std::move(live);
    }
  }
  return ++it->second.count;
}

// ---- SecurityLayer ----

SecurityLayer::SecurityLayer(SecurityLayerOptions options, const Clock& clock,
                             const UserDirectory& directory)
    : directory_(directory),
      clock_(clock),
      options_(std::move(options)),
      authenticator_(options_.sipae, clock, DirectoryLookup(directory), {},
                     [] { return FileTimeFromUnix(std::chrono::system_clock::now()); }),
      ntlm_failures_(options_.max_failures, options_.failure_window,
                     options_.max_tracked_failures) {}

SecurityLayer::~SecurityLayer() = default;

bool SecurityLayer::InReauthWindow(const Association& a) const {
  return a.reauth_since && clock_.Now() - *a.reauth_since < options_.sipae.pending_timeout;
}

bool SecurityLayer::Reauthenticating(ConnectionId id) const {
  auto it = associations_.find(id);
  return it != associations_.end() && InReauthWindow(it->second);
}

DigestAuthenticator* SecurityLayer::DigestFor(std::string_view domain) {
  std::string realm = Lower(domain);
  if (realm.empty()) return nullptr;
  if (auto it = digest_.find(realm); it != digest_.end()) return it->second.get();
  // Only our users' domains get an authenticator: the map stays as small as the directory's
  // domain list whatever requests claim.
  std::vector<std::string> domains = directory_.Domains();
  if (std::find(domains.begin(), domains.end(), realm) == domains.end()) return nullptr;
  DigestServerConfig config;
  config.realm = realm;
  config.secret = options_.digest_secret;
  config.nonce_lifetime = options_.digest_nonce_lifetime;
  config.algorithms = options_.digest_algorithms;
  config.require_uri_match = false;  // pidgin-sipe answers a 407 with uri="(null)"
  config.max_failures = options_.max_failures;
  config.failure_window = options_.failure_window;
  config.max_tracked_peers = options_.max_tracked_failures;
  const UserDirectory& directory = directory_;
  auto lookup = [&directory](std::string_view user,
                             std::string_view in_realm) -> std::optional<DigestHa1Set> {
    // The HA1 binds the username as typed: only the URI's user part can match what is stored.
    if (user.empty() || user.find_first_of("@:;<> ") != std::string_view::npos) {
      return std::nullopt;
    }
    UserRef found = directory.FindByUri(absl::StrCat("sip:", ToAbsl(user), "@", ToAbsl(in_realm)));
    if (found == nullptr) return std::nullopt;
    return DigestHa1Set{found->ha1_md5, found->ha1_sha256};
  };
  auto created = std::make_unique<DigestAuthenticator>(std::move(config), clock_, lookup);
  DigestAuthenticator* raw = created.get();
  digest_.emplace(realm, std::move(created));
  return raw;
}

bool SecurityLayer::IsUserDomain(std::string_view host) const {
  const std::string domain = Lower(host);
  const std::vector<std::string> domains = directory_.Domains();  // sorted (core/directory.h)
  return !domain.empty() && std::binary_search(domains.begin(), domains.end(), domain);
}

absl::Status SecurityLayer::Authorize(const SipMessage& request, std::string_view aor,
                                      const ReceiveInfo& info, ResponseHeaders* response_headers) {
  auto it = info.connection == 0 ? associations_.end() : associations_.find(info.connection);
  if (it != associations_.end() && HasSipaeSignature(request)) {
    // A refresh signed with the connection's association (OnIncoming checked the signature).
    if (info.authenticated_user.empty()) return SipError(401, "unsigned REGISTER");
    if (!absl::EqualsIgnoreCase(ToAbsl(it->second.aor), ToAbsl(aor))) {
      ++stats_.rejected;
      return SipError(403, "REGISTER for another user's address");
    }
    return absl::OkStatus();
  }
  if (IsSipaeHandshake(request)) return AuthorizeNtlm(request, aor, info, response_headers);
  if (HasDigestCredentials(request, HeaderId::kAuthorization)) {
    return AuthorizeDigest(request, aor, info, response_headers);
  }

  // No credentials (a first REGISTER, or SIPE's 8-hourly re-authentication on an associated
  // connection): every method the client may use. Digest first: simple clients (sipp) read the
  // first challenge; SIPE looks for the NTLM one by name.
  bool offered = false;
  if (DigestAuthenticator* digest = DigestFor(DomainOfAor(aor))) {
    for (std::string& challenge : digest->Challenges()) {
      response_headers->emplace_back("WWW-Authenticate", std::move(challenge));
    }
    ++stats_.digest_challenged;
    offered = true;
  }
  if (IsReliable(info.kind) && info.connection != 0) {
    response_headers->emplace_back(
        "WWW-Authenticate",
        FormatSipaeOffer(options_.sipae.realm, options_.sipae.targetname, options_.sipae.version));
    offered = true;
  }
  if (!offered) {
    ++stats_.rejected;
    return SipError(403, "no authentication method for this address");
  }
  return SipError(401, "credentials required");
}

absl::Status SecurityLayer::AuthorizeNtlm(const SipMessage& request, std::string_view aor,
                                          const ReceiveInfo& info,
                                          ResponseHeaders* response_headers) {
  if (!IsReliable(info.kind) || info.connection == 0) {
    // MS-SIPAE associations live on a connection; NTLM over UDP has nowhere to keep one.
    ++stats_.rejected;
    return SipError(403, "NTLM sign-in needs a TLS or TCP connection");
  }
  // Brute force: failed AUTHENTICATEs per (login, peer IP). The login is named the way the
  // directory resolves it, so "alice", "alice@example.test" and "EXAMPLE\alice" share a counter.
  const TimePoint now = clock_.Now();
  std::string failure_key;
  if (std::optional<NtlmLogin> login = SipaeAuthenticateLogin(request)) {
    absl::StatusOr<UserRef> user = directory_.FindByLogin(login->user, login->domain);
    failure_key = absl::StrCat((user.ok() && *user != nullptr)
                                   ? (*user)->uri
                                   : Lower(absl::StrCat(login->domain, "\\", login->user)),
                               "|", info.source.HostString());
    if (ntlm_failures_.Locked(failure_key, now)) {
      ++stats_.rejected;
      ++stats_.locked_out;
      log::Info(kLog, "sign-in refused: too many failures", {{"key", failure_key}});
      return SipError(403, "too many failed sign-ins");
    }
  }

  SipaeRegisterResult result = authenticator_.HandleRegister(request);
  switch (result.kind) {
    case SipaeRegisterResult::Kind::kChallenge:
      ++stats_.handshakes_started;
      response_headers->emplace_back("WWW-Authenticate", std::move(result.www_authenticate));
      return SipError(result.sip_code == 0 ? 401 : result.sip_code, "NTLM challenge");
    case SipaeRegisterResult::Kind::kRejected:
      ++stats_.rejected;
      if (!failure_key.empty()) ntlm_failures_.Fail(failure_key, now);
      log::Info(kLog, "sign-in refused", {{"aor", std::string(aor)}, {"reason", result.reason}});
      if (!result.www_authenticate.empty()) {
        response_headers->emplace_back("WWW-Authenticate", std::move(result.www_authenticate));
      }
      return SipError(result.sip_code == 0 ? 403 : result.sip_code, result.reason);
    case SipaeRegisterResult::Kind::kAuthenticated:
      break;
  }
  if (!failure_key.empty()) ntlm_failures_.Clear(failure_key);

  absl::StatusOr<UserRef> user = directory_.FindByLogin(result.sa->user(), result.sa->domain());
  if (!user.ok() || *user == nullptr) {
    ++stats_.rejected;
    return SipError(403, "user no longer exists");
  }
  if (!absl::EqualsIgnoreCase(ToAbsl((*user)->uri), ToAbsl(aor))) {
    ++stats_.rejected;
    log::Info(kLog, "sign-in for another user's address refused",
              {{"login", result.sa->user()}, {"user", (*user)->uri}, {"aor", std::string(aor)}});
    return SipError(403, "authenticated user does not own this address");
  }
  if (!associations_.contains(info.connection) &&
      associations_.size() >= options_.max_associations) {
    ++stats_.rejected;
    return SipError(503, "too many signed-in clients");
  }
  log::Info(kLog, "signed in",
            {{"user", (*user)->uri}, {"connection", static_cast<int64_t>(info.connection)}});
  // Replaces an old association (re-authentication): from now on only the new keys verify.
  associations_[info.connection] = Association{std::move(result.sa), (*user)->uri, std::nullopt};
  ++stats_.authenticated;
  return absl::OkStatus();
}

absl::Status SecurityLayer::AuthorizeDigest(const SipMessage& request, std::string_view aor,
                                            const ReceiveInfo& info,
                                            ResponseHeaders* response_headers) {
  const std::string_view domain = DomainOfAor(aor);
  DigestAuthenticator* digest = DigestFor(domain);
  if (digest == nullptr) {
    ++stats_.rejected;
    return SipError(403, "no Digest realm for this address");
  }
  DigestVerdict verdict = digest->VerifyRequest(request, info.source.HostString(), false);
  switch (verdict.kind) {
    case DigestVerdict::Kind::kOk:
      break;
    case DigestVerdict::Kind::kChallenge:
      ++stats_.digest_challenged;
      for (std::string& challenge : verdict.challenges) {
        response_headers->emplace_back("WWW-Authenticate", std::move(challenge));
      }
      return SipError(401, verdict.reason);
    case DigestVerdict::Kind::kForbidden:
      ++stats_.rejected;
      ++stats_.locked_out;
      return SipError(403, verdict.reason);
    case DigestVerdict::Kind::kBadRequest:
      ++stats_.rejected;
      return SipError(400, verdict.reason);
  }
  UserRef user =
      directory_.FindByUri(absl::StrCat("sip:", ToAbsl(verdict.user), "@", ToAbsl(Lower(domain))));
  if (user == nullptr || !absl::EqualsIgnoreCase(ToAbsl(user->uri), ToAbsl(aor))) {
    ++stats_.rejected;
    log::Info(kDigestLog, "REGISTER for another user's address refused",
              {{"user", verdict.user}, {"aor", std::string(aor)}});
    return SipError(403, "authenticated user does not own this address");
  }
  ++stats_.digest_authenticated;
  return absl::OkStatus();
}

absl::Status SecurityLayer::CheckProxyDigest(const SipMessage& request, ReceiveInfo* info,
                                             ResponseHeaders* response_headers) {
  if (ExemptFromSenderRules(request.method())) return absl::OkStatus();
  absl::StatusOr<std::string> from = CanonicalAor(request.from().uri);
  if (!from.ok()) return absl::OkStatus();
  UserRef user = directory_.FindByUri(*from);
  if (user == nullptr) {
    // A name in one of our domains that no user of ours has cannot be proven, only forged.
    if (IsUserDomain(request.from().uri.host())) {
      ++stats_.unknown_senders;
      log::Info(kDigestLog, "request from no user of our domain refused",
                {{"from", *from}, {"peer", info->source.ToString()}});
      return SipError(403, kUnknownSender);
    }
    // Not one of our domains (a federation peer, a caller reaching one of our users): what it
    // may do is decided by routing policy, not by sign-in security.
    return absl::OkStatus();
  }

  const bool udp = info->kind == TransportKind::kUdp;
  std::string seen_key;
  const TimePoint now = clock_.Now();
  if (udp && !request.vias().empty()) {
    std::vector<std::string_view> credentials = request.HeaderValues(HeaderId::kProxyAuthorization);
    if (!credentials.empty()) {
      seen_key = absl::StrCat(ToAbsl(request.vias().front().branch), "|",
                              ToAbsl(info->source.ToString()), "|", ToAbsl(credentials.front()));
      auto seen = digest_seen_.find(seen_key);
      if (seen != digest_seen_.end() && now - seen->second.at < kRetransmitWindow &&
          seen->second.aor == user->uri) {
        digest_user_ = seen->second.aor;
        info->authenticated_user = digest_user_;
        return absl::OkStatus();
      }
    }
  }

  DigestAuthenticator* digest = DigestFor(user->Domain());
  if (digest == nullptr) return SipError(403, "no Digest realm for this user");
  DigestVerdict verdict = digest->VerifyRequest(request, info->source.HostString(), true);
  switch (verdict.kind) {
    case DigestVerdict::Kind::kOk:
      break;
    case DigestVerdict::Kind::kChallenge:
      ++stats_.digest_challenged;
      for (std::string& challenge : verdict.challenges) {
        response_headers->emplace_back("Proxy-Authenticate", std::move(challenge));
      }
      return SipError(407, verdict.reason);
    case DigestVerdict::Kind::kForbidden:
      ++stats_.locked_out;
      return SipError(403, verdict.reason);
    case DigestVerdict::Kind::kBadRequest:
      return SipError(400, verdict.reason);
  }
  if (!absl::EqualsIgnoreCase(ToAbsl(verdict.user), ToAbsl(user->UserPart()))) {
    log::Info(kDigestLog, "request with another user's credentials refused",
              {{"user", verdict.user}, {"from", *from}});
    return SipError(403, "credentials do not match the From user");
  }
  ++stats_.digest_authenticated;
  digest_user_ = user->uri;
  info->authenticated_user = digest_user_;
  if (!seen_key.empty()) {
    while (!digest_seen_order_.empty() &&
           (digest_seen_.size() >= kMaxSeenRetransmits ||
            now - digest_seen_order_.front().second >= kRetransmitWindow)) {
      auto old = digest_seen_.find(digest_seen_order_.front().first);
      if (old != digest_seen_.end() && old->second.at == digest_seen_order_.front().second) {
        digest_seen_.erase(old);
      }
      digest_seen_order_.pop_front();
    }
    digest_seen_[seen_key] = Seen{now, user->uri};
    digest_seen_order_.emplace_back(seen_key, now);
  }
  return absl::OkStatus();
}

absl::Status SecurityLayer::OnIncoming(const SipMessage& message, ReceiveInfo* info,
                                       ResponseHeaders* response_headers) {
  auto it = info->connection == 0 ? associations_.end() : associations_.find(info->connection);
  if (it == associations_.end()) {
    if (!message.is_request()) return absl::OkStatus();
    return CheckProxyDigest(message, info, response_headers);
  }
  Association& association = it->second;
  const bool is_signed = HasSipaeSignature(message);
  if (message.is_request() && message.method() == Method::kRegister && !is_signed) {
    // A new handshake on the same connection (SIPE re-authenticates every 8 hours with an
    // unsigned REGISTER, then runs the handshake steps): the registrar runs it. The old
    // association stays until the new one replaces it.
    if (!InReauthWindow(association)) {
      association.reauth_since = clock_.Now();
      ++stats_.reauthentications;
      log::Info(kLog, "re-authentication", {{"user", association.aor}});
    }
    return absl::OkStatus();
  }
  if (!is_signed && InReauthWindow(association)) {
    // The client has dropped its keys for the new handshake and cannot sign: treat it like a
    // connection without association until the handshake completes.
    if (!message.is_request()) return absl::OkStatus();
    return CheckProxyDigest(message, info, response_headers);
  }
  absl::Status verified = association.sa->VerifyIncoming(message);
  if (!verified.ok()) {
    ++stats_.bad_signatures;
    log::Info(kLog, "bad signature",
              {{"user", association.aor}, {"why", FromAbsl(verified.message())}});
    return verified;
  }
  ++stats_.verified;
  if (message.is_request() && message.to_tag().empty() &&
      !ExemptFromSenderRules(message.method())) {
    // Signed by the user, sent as someone else: refused before anyone trusts the From. Only
    // outside dialogs (see security_layer.h).
    absl::StatusOr<std::string> from = CanonicalAor(message.from().uri);
    if (!from.ok() || !absl::EqualsIgnoreCase(ToAbsl(*from), ToAbsl(association.aor))) {
      ++stats_.impersonations;
      log::Info(kLog, "signed request from another address refused",
                {{"user", association.aor}, {"from", std::string(message.from().uri.text())}});
      return SipError(403, kNotTheSignedInUser);
    }
  }
  info->authenticated_user = association.aor;
  return absl::OkStatus();
}

bool SecurityLayer::OnOutgoing(const Destination& to, std::string& bytes) {
  if (to.connection == 0) return true;
  auto it = associations_.find(to.connection);
  if (it == associations_.end()) return true;
  // During a re-handshake the client may hold no keys or only the new ones: send unsigned.
  if (InReauthWindow(it->second)) return true;
  absl::StatusOr<SipMessage> message = SipMessage::Parse(bytes);
  if (!message.ok()) return false;
  if (!it->second.sa->Sign(&*message).ok()) return false;
  bytes = message->Serialize();
  ++stats_.signed_out;
  return true;
}

size_t RemoveConsumedCredentials(SipMessage& message, const std::vector<std::string>& realms) {
  auto is_sipae = [](std::string_view scheme) {
    return absl::EqualsIgnoreCase(ToAbsl(scheme), "NTLM") ||
           absl::EqualsIgnoreCase(ToAbsl(scheme), "Kerberos") ||
           absl::EqualsIgnoreCase(ToAbsl(scheme), "TLS-DSK");
  };
  auto ours = [&realms](const AuthValue& value) {
    std::optional<std::string_view> realm = value.Param("realm");
    if (!realm) return false;
    std::string_view r = *realm;
    if (r.size() >= 2 && r.front() == '"' && r.back() == '"') r = r.substr(1, r.size() - 2);
    return std::any_of(realms.begin(), realms.end(), [r](const std::string& mine) {
      return absl::EqualsIgnoreCase(ToAbsl(mine), ToAbsl(r));
    });
  };
  size_t removed = 0;
  const bool keep_authorization = message.is_request() && message.method() == Method::kRegister;
  for (HeaderId id : {HeaderId::kAuthorization, HeaderId::kProxyAuthorization}) {
    if (id == HeaderId::kAuthorization && keep_authorization) continue;
    std::vector<std::string_view> values = message.HeaderValues(id);
    if (values.empty()) continue;
    std::vector<std::string> kept;
    for (std::string_view v : values) {
      absl::StatusOr<AuthValue> parsed = ParseAuthValue(v);
      const bool consumed =
          parsed.ok() && (is_sipae(parsed->scheme) ||
                          (id == HeaderId::kProxyAuthorization &&
                           absl::EqualsIgnoreCase(ToAbsl(parsed->scheme), "Digest") &&
                           ours(*parsed)));
      if (consumed) {
        ++removed;
      } else {
        kept.emplace_back(v);
      }
    }
    if (kept.size() == values.size()) continue;
    message.RemoveHeaders(id);
    for (const std::string& v : kept) (void)message.AppendHeader(id, v);
  }
  return removed;
}

}  // namespace causeway::sip::lync
