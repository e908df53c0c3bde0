#include "sip/lync/security_layer.h"

#include <chrono>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"

namespace causeway::sip::lync {
namespace {

constexpr std::string_view kLog = "sipae";

NtHashLookup DirectoryLookup(const UserDirectory& directory) {
  return [&directory](std::string_view user, std::string_view domain) -> std::optional<Bytes16> {
    absl::StatusOr<UserRef> found = directory.FindByLogin(user, domain);
    if (!found.ok() || *found == nullptr) return std::nullopt;
    return (*found)->nt_hash;
  };
}

}  // namespace

SecurityLayer::SecurityLayer(SecurityLayerOptions options, const Clock& clock,
                             const UserDirectory& directory)
    : directory_(directory),
      options_(std::move(options)),
      authenticator_(options_.sipae, clock, DirectoryLookup(directory), {},
                     [] { return FileTimeFromUnix(std::chrono::system_clock::now()); }) {}

absl::Status SecurityLayer::Authorize(
    const SipMessage& request, std::string_view aor, const ReceiveInfo& info,
    std::vector<std::pair<std::string, std::string>>* response_headers) {
  if (auto it = associations_.find(info.connection);
      it != associations_.end() && !IsSipaeHandshake(request)) {
    // A refresh signed with the connection's association (OnIncoming checked the signature).
    if (info.authenticated_user.empty()) return SipError(401, "unsigned REGISTER");
    if (!absl::EqualsIgnoreCase(ToAbsl(it->second.aor), ToAbsl(aor))) {
      ++stats_.rejected;
      return SipError(403, "REGISTER for another user's address");
    }
    return absl::OkStatus();
  }
  if (!IsReliable(info.kind) || info.connection == 0) {
    // MS-SIPAE associations live on a connection; NTLM over UDP has nowhere to keep one.
    ++stats_.rejected;
    return SipError(403, "NTLM sign-in needs a TLS or TCP connection");
  }

  SipaeRegisterResult result = authenticator_.HandleRegister(request);
  switch (result.kind) {
    case SipaeRegisterResult::Kind::kChallenge:
      ++stats_.handshakes_started;
      response_headers->emplace_back("WWW-Authenticate", std::move(result.www_authenticate));
      return SipError(result.sip_code == 0 ? 401 : result.sip_code, "NTLM challenge");
    case SipaeRegisterResult::Kind::kRejected:
      ++stats_.rejected;
      log::Info(kLog, "sign-in refused", {{"aor", std::string(aor)}, {"reason", result.reason}});
      if (!result.www_authenticate.empty()) {
        response_headers->emplace_back("WWW-Authenticate", std::move(result.www_authenticate));
      }
      return SipError(result.sip_code == 0 ? 403 : result.sip_code, result.reason);
    case SipaeRegisterResult::Kind::kAuthenticated:
      break;
  }

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
  associations_[info.connection] = Association{std::move(result.sa), (*user)->uri};
  ++stats_.authenticated;
  return absl::OkStatus();
}

absl::Status SecurityLayer::OnIncoming(const SipMessage& message, ReceiveInfo* info) {
  if (info->connection == 0) return absl::OkStatus();
  auto it = associations_.find(info->connection);
  if (it == associations_.end()) return absl::OkStatus();
  if (message.is_request() && message.method() == Method::kRegister &&
      IsSipaeHandshake(message)) {
    return absl::OkStatus();  // a new handshake on the same connection; the registrar runs it
  }
  absl::Status verified = it->second.sa->VerifyIncoming(message);
  if (!verified.ok()) {
    ++stats_.bad_signatures;
    log::Info(kLog, "bad signature", {{"user", it->second.aor},
                                      {"why", FromAbsl(verified.message())}});
    return verified;
  }
  ++stats_.verified;
  info->authenticated_user = it->second.aor;
  return absl::OkStatus();
}

bool SecurityLayer::OnOutgoing(const Destination& to, std::string& bytes) {
  if (to.connection == 0) return true;
  auto it = associations_.find(to.connection);
  if (it == associations_.end()) return true;
  absl::StatusOr<SipMessage> message = SipMessage::Parse(bytes);
  if (!message.ok()) return false;
  if (!it->second.sa->Sign(&*message).ok()) return false;
  bytes = message->Serialize();
  ++stats_.signed_out;
  return true;
}

}  // namespace causeway::sip::lync
