#pragma once
// The TLS identity the gateway presents: either the operator's certificate/key files (checked
// before anything listens) or a self-signed pair the gateway generates and keeps in its state
// directory. Runs on the main thread at startup; workers get the resulting file paths.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace causeway::gateway {

// File names of the managed pair inside the state directory.
inline constexpr std::string_view kSelfSignedCertFile = "self-signed-cert.pem";
inline constexpr std::string_view kSelfSignedKeyFile = "self-signed-key.pem";
// Managed certificates closer than this to expiry are replaced at startup.
inline constexpr int kRenewBeforeDays = 30;

enum class KeyType {
  kRsa2048,  // what we generate: older Lync/OCS clients and servers do not offer ECDSA suites
  kEcP256,
};

struct SelfSignedOptions {
  // Subject alternative names beyond the fixed DNS:localhost, IP:127.0.0.1 and IP:::1; each entry
  // is a host name (DNS:) or an IP literal (IP:). The first one is also the subject CN.
  std::vector<std::string> names = {};
  int validity_years = 10;  // calendar years from now, [1, 100]
  KeyType key_type = KeyType::kRsa2048;
};

struct PemPair {
  std::string certificate_pem;
  std::string key_pem;  // unencrypted PKCS#8
};

// A new self-signed certificate (serverAuth + clientAuth, SHA-256 signature) and its key.
absl::StatusOr<PemPair> GenerateSelfSigned(const SelfSignedOptions& options);

struct CertificateInfo {
  std::string certificate_path;                // absolute
  std::string key_path;                        // absolute
  std::string fingerprint_sha256;              // "AB:CD:..." over the DER leaf certificate
  std::string subject;                         // one line, e.g. "O=Causeway, CN=localhost"
  std::vector<std::string> subject_alt_names;  // "DNS:localhost", "IP:127.0.0.1", ...
  std::string not_after;                       // "2036-11-25T09:00:00Z"
  bool self_signed_managed = false;            // the pair lives in the state directory
  bool generated = false;                      // created during this call
};

// Loads a certificate file (leaf first, then any chain) and its key and checks that they parse,
// that the key is unencrypted and belongs to the leaf, and that the leaf is currently valid.
// Errors are one line naming the config key and the file, e.g.
//   "tls.key: /etc/causeway/key.pem: does not match the certificate in tls.certificate".
absl::StatusOr<CertificateInfo> InspectCertificatePair(const std::string& certificate_path,
                                                       const std::string& key_path);

// Checks that a CA bundle is readable and holds at least one PEM certificate.
absl::Status CheckCaBundle(const std::string& path);

// The identity for `tls`: the configured pair when tls.certificate/tls.key are set, otherwise the
// managed pair in `state_dir` (an existing directory), generated on first start and regenerated
// when missing, unreadable, mismatched, within kRenewBeforeDays of expiry or not covering every
// served domain. The key file is written 0600 and both files are replaced atomically.
absl::StatusOr<CertificateInfo> PrepareCertificate(const TlsConfig& tls,
                                                   const std::string& state_dir,
                                                   const std::vector<std::string>& domains);

}  // namespace causeway::gateway
