#include "gateway/turn_relay.h"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"
#include "gateway/daemon.h"
#include "gateway/state_dir.h"

namespace causeway::gateway {
namespace {

constexpr char kSecretFile[] = "turn-secret";

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::BytesToHexString(absl::string_view(&c, 1)));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

absl::StatusOr<std::string> LoadOrCreateTurnSecret(const GatewayConfig& config,
                                                   const std::string& state_dir) {
  if (!config.turn.secret.empty()) return config.turn.secret;
  const std::string path = absl::StrCat(state_dir, "/", kSecretFile);
  if (::access(path.c_str(), F_OK) == 0) {
    absl::StatusOr<std::string> text = ReadSmallFile("turn.secret", path);
    if (!text.ok()) return text.status();
    std::string secret(absl::StripAsciiWhitespace(*text));
    if (secret.size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("turn.secret: ", path, ": shorter than 16 characters"));
    }
    return secret;
  }
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("turn.secret: no random bytes from OpenSSL");
  }
  std::string secret =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(random), 32));
  if (absl::Status st = WriteFileAtomically(path, secret + "\n", 0600); !st.ok()) return st;
  return secret;
}

std::string TurnRealm(const GatewayConfig& config) {
  if (!config.turn.realm.empty()) return config.turn.realm;
  if (!config.sip.domains.empty()) return config.sip.domains.front();
  return "causeway";
}

turn::CredentialOptions MakeTurnCredentialOptions(const GatewayConfig& config,
                                                  std::string secret) {
  turn::CredentialOptions options;
  options.realm = TurnRealm(config);
  options.secret = std::move(secret);
  for (const std::string& entry : config.turn.users) {
    const size_t colon = entry.find(':');  // validated at load: present, both sides non-empty
    options.static_users.emplace(entry.substr(0, colon), entry.substr(colon + 1));
  }
  return options;
}

turn::TurnOptions MakeTurnOptions(const GatewayConfig& config) {
  const TurnConfig& t = config.turn;
  turn::TurnOptions options;
  options.default_lifetime_s = t.default_lifetime_s;
  options.max_lifetime_s = t.max_lifetime_s;
  options.nonce_lifetime_s = t.nonce_lifetime_s;
  options.max_allocations = t.max_allocations;
  options.max_allocations_per_user = t.max_allocations_per_user;
  options.max_allocations_per_ip = t.max_allocations_per_ip;
  return options;
}

std::string TurnPublicHost(const GatewayConfig& config) {
  const TurnConfig& t = config.turn;
  if (!t.public_host.empty()) return t.public_host;
  for (const auto* list : {&t.udp, &t.tcp, &t.tls}) {
    if (!list->empty()) return list->front().HostForUri();
  }
  return "127.0.0.1";
}

std::vector<std::string> TurnUris(const GatewayConfig& config) {
  const TurnConfig& t = config.turn;
  const std::string host = TurnPublicHost(config);
  std::vector<std::string> uris;
  if (!t.udp.empty()) {
    uris.push_back(absl::StrCat("turn:", host, ":", t.udp.front().port(), "?transport=udp"));
  }
  if (!t.tcp.empty()) {
    uris.push_back(absl::StrCat("turn:", host, ":", t.tcp.front().port(), "?transport=tcp"));
  }
  if (!t.tls.empty()) {
    uris.push_back(absl::StrCat("turns:", host, ":", t.tls.front().port(), "?transport=tcp"));
  }
  return uris;
}

int TurnCredentialsMain(const TurnCommand& command, const GatewayConfig& config) {
  absl::StatusOr<std::string> state_dir = PrepareStateDir(config.general.state_dir);
  if (!state_dir.ok()) {
    PrintError(FromAbsl(state_dir.status().message()));
    return ExitCodeFor(state_dir.status());
  }
  absl::StatusOr<std::string> secret = LoadOrCreateTurnSecret(config, *state_dir);
  if (!secret.ok()) {
    PrintError(FromAbsl(secret.status().message()));
    return ExitCodeFor(secret.status());
  }
  const turn::Credentials credentials(MakeTurnCredentialOptions(config, *std::move(secret)));
  const int64_t ttl = command.ttl_s > 0 ? command.ttl_s : config.turn.credential_ttl_s;
  absl::StatusOr<turn::IssuedCredential> issued =
      credentials.Issue(command.user, absl::Seconds(ttl), absl::Now());
  if (!issued.ok()) {
    PrintError(FromAbsl(issued.status().message()));
    return kExitUsage;
  }
  std::vector<std::string> uris;
  for (const std::string& uri : TurnUris(config)) uris.push_back(JsonString(uri));
  WriteAll(STDOUT_FILENO, absl::StrCat("{\"username\": ", JsonString(issued->username),
                           ", \"password\": ", JsonString(issued->password), ", \"ttl\": ", ttl,
                           ", \"uris\": [", absl::StrJoin(uris, ", "), "]}\n"));
  return kExitOk;
}

}  // namespace causeway::gateway
