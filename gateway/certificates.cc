#include "gateway/certificates.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/log.h"
#include "core/net_address.h"
#include "core/strings.h"
#include "gateway/names.h"
#include "gateway/state_dir.h"

namespace causeway::gateway {
namespace {

// Certificates and keys are small; anything bigger is not what the operator meant.
constexpr int kMaxChainCertificates = 16;

struct BioFree {
  void operator()(BIO* b) const { BIO_free_all(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The most recent OpenSSL error as text; clears the queue so errors never leak to the next call.
std::string OpenSslError(std::string_view fallback) {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

// Never prompt on a terminal for a pass phrase: encrypted keys are refused instead.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::Status FileError(std::string_view key, std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(key), ": ", ToAbsl(path), ": ", ToAbsl(what)));
}


BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string AsnTimeToIso(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[96];  // sized for any int fields, which keeps -Wformat-truncation quiet
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string Fingerprint(X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(x, EVP_sha256(), md, &len) != 1) return "";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out.push_back(':');
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string SubjectLine(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(x), 0,
                     XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::vector<std::string> AltNames(X509* x) {
  std::vector<std::string> out;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* s = name->d.dNSName;
      out.push_back(absl::StrCat("DNS:", absl::string_view(reinterpret_cast<const char*>(s->data),
                                                           static_cast<size_t>(s->length))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      if (ip->length == 4) {
        out.push_back("IP:" + NetAddress::V4((uint32_t{ip->data[0]} << 24) |
                                                 (uint32_t{ip->data[1]} << 16) |
                                                 (uint32_t{ip->data[2]} << 8) | ip->data[3],
                                             0)
                                  .HostString());
      } else if (ip->length == 16) {
        std::array<uint8_t, 16> bytes;
        std::memcpy(bytes.data(), ip->data, 16);
        out.push_back("IP:" + NetAddress::V6(bytes, 0).HostString());
      }
    }
  }
  return out;
}

// Whether the certificate names `host` (a host name or an IP literal) in its SAN.
bool CoversHost(X509* x, const std::string& host) {
  if (std::optional<NetAddress> ip = NetAddress::Parse(host)) {
    return X509_check_ip_asc(x, ip->HostString().c_str(), 0) == 1;
  }
  return X509_check_host(x, host.c_str(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                         nullptr) == 1;
}

absl::Status AddExtension(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(
      X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(x, ext.get(), -1) != 1) {
    return absl::InternalError(absl::StrCat("certificate extension ", OBJ_nid2sn(nid), "=",
                                            ToAbsl(value), ": ", OpenSslError("failed")));
  }
  return absl::OkStatus();
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}


std::string JoinPath(const std::string& dir, std::string_view name) {
  if (!dir.empty() && dir.back() == '/') return absl::StrCat(ToAbsl(dir), ToAbsl(name));
  return absl::StrCat(ToAbsl(dir), "/", ToAbsl(name));
}

std::string Absolute(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char buf[4096];
  if (::getcwd(buf, sizeof buf) == nullptr) return path;
  return JoinPath(buf, path);
}

// Why the managed pair must be (re)generated, or "" when it can be reused.
std::string ManagedPairProblem(const std::string& cert_path, const std::string& key_path,
                               const std::vector<std::string>& domains) {
  struct stat st;
  bool have_cert = ::stat(cert_path.c_str(), &st) == 0;
  bool have_key = ::stat(key_path.c_str(), &st) == 0;
  if (!have_cert && !have_key) return "first start";
  if (!have_cert || !have_key) return "one of the pair is missing";
  absl::StatusOr<CertificateInfo> info = InspectCertificatePair(cert_path, key_path);
  if (!info.ok()) return std::string(FromAbsl(info.status().message()));
  absl::StatusOr<std::string> pem = ReadSmallFile("tls.certificate", cert_path);
  if (!pem.ok()) return std::string(FromAbsl(pem.status().message()));
  BioPtr bio = MemBio(*pem);
  X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!leaf) return "certificate does not parse";
  std::time_t renew_at = std::time(nullptr) + time_t{kRenewBeforeDays} * 86400;
  if (X509_cmp_time(X509_get0_notAfter(leaf.get()), &renew_at) < 0) {
    return absl::StrCat("expires within ", kRenewBeforeDays, " days (", ToAbsl(info->not_after),
                        ")");
  }
  for (const std::string& d : domains) {
    if (!CoversHost(leaf.get(), d)) return absl::StrCat("does not name served domain ", ToAbsl(d));
  }
  return "";
}

// Sets `t` to now + `years` calendar years (Feb 29 rolls to Mar 1), in the UTCTime or
// GeneralizedTime form RFC 5280 prescribes for that date.
bool SetYearsFromNow(ASN1_TIME* t, int years) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  tm.tm_year += years;
  std::time_t then = timegm(&tm);  // normalizes the date
  return then != static_cast<std::time_t>(-1) && ASN1_TIME_set(t, then) != nullptr;
}

// A key others can read still works, but the operator should know.
void WarnIfKeyIsShared(const std::string& key_path) {
  struct stat st;
  if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log::Warn("tls", "private key is readable by group or others",
              {{"key", key_path}, {"mode", mode}});
  }
}

}  // namespace

absl::StatusOr<PemPair> GenerateSelfSigned(const SelfSignedOptions& options) {
  if (options.validity_years < 1 || options.validity_years > 100) {
    return absl::InvalidArgumentError("validity_years must be in [1, 100]");
  }
  std::vector<std::string> dns = {"localhost"};
  std::vector<std::string> ips = {"127.0.0.1", "::1"};
  for (const std::string& name : options.names) {
    if (std::optional<NetAddress> ip = NetAddress::Parse(name)) {
      std::string text = ip->HostString();
      if (std::find(ips.begin(), ips.end(), text) == ips.end()) ips.push_back(text);
    } else if (IsValidHostname(name)) {
      std::string lower = ToLowerAscii(name);
      if (std::find(dns.begin(), dns.end(), lower) == dns.end()) dns.push_back(lower);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", ToAbsl(name), "\" is neither a host name nor an IP address"));
    }
  }
  std::string common_name = options.names.empty() ? "localhost" : ToLowerAscii(options.names[0]);

  ERR_clear_error();
  PkeyPtr key(options.key_type == KeyType::kEcP256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
  if (!key) return absl::InternalError(absl::StrCat("key generation: ", OpenSslError("failed")));

  X509Ptr x(X509_new());
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  if (!x || !serial) return absl::ResourceExhaustedError("out of memory");
  // RFC 5280: serials are positive and at most 20 bytes; 127 random bits keep them unique.
  if (X509_set_version(x.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get())) == nullptr ||
      // Backdated an hour so peers with slightly slow clocks accept it at once.
      X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) == nullptr ||
      !SetYearsFromNow(X509_getm_notAfter(x.get()), options.validity_years) ||
      X509_set_pubkey(x.get(), key.get()) != 1) {
    return absl::InternalError(absl::StrCat("certificate fields: ", OpenSslError("failed")));
  }
  X509_NAME* name = X509_get_subject_name(x.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("Causeway"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(x.get(), name) != 1) {
    return absl::InternalError(absl::StrCat("certificate name: ", OpenSslError("failed")));
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  std::vector<std::string> san;
  for (const std::string& d : dns) san.push_back("DNS:" + d);
  for (const std::string& ip : ips) san.push_back("IP:" + ip);
  // Names were validated above, so none carries a ',' that would split the list.
  absl::Status st = AddExtension(x.get(), &ctx, NID_subject_alt_name, absl::StrJoin(san, ","));
  if (st.ok()) st = AddExtension(x.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  if (st.ok()) {
    st = AddExtension(x.get(), &ctx, NID_key_usage,
                      options.key_type == KeyType::kEcP256
                          ? "critical,digitalSignature"
                          : "critical,digitalSignature,keyEncipherment");
  }
  // clientAuth too: the same identity is presented when we connect to federated peers.
  if (st.ok()) st = AddExtension(x.get(), &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
  if (st.ok()) st = AddExtension(x.get(), &ctx, NID_subject_key_identifier, "hash");
  if (!st.ok()) return st;
  if (X509_sign(x.get(), key.get(), EVP_sha256()) <= 0) {
    return absl::InternalError(absl::StrCat("certificate signing: ", OpenSslError("failed")));
  }

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), x.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return absl::InternalError(absl::StrCat("PEM encoding: ", OpenSslError("failed")));
  }
  return PemPair{BioToString(cert_bio.get()), BioToString(key_bio.get())};
}

absl::StatusOr<CertificateInfo> InspectCertificatePair(const std::string& certificate_path,
                                                       const std::string& key_path) {
  ERR_clear_error();
  absl::StatusOr<std::string> cert_pem = ReadSmallFile("tls.certificate", certificate_path);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadSmallFile("tls.key", key_path);
  if (!key_pem.ok()) return key_pem.status();

  BioPtr cert_bio = MemBio(*cert_pem);
  X509Ptr leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!leaf) {
    return FileError("tls.certificate", certificate_path,
                     absl::StrCat("no PEM certificate: ", OpenSslError("unreadable")));
  }
  // The rest of the file is the chain; each entry must parse too.
  for (int i = 0; i < kMaxChainCertificates; ++i) {
    X509Ptr extra(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
    if (!extra) break;
  }
  unsigned long trailing = ERR_peek_last_error();
  // End of input after the last certificate is the normal way out of the loop above.
  if (trailing != 0 && ERR_GET_REASON(trailing) != PEM_R_NO_START_LINE) {
    return FileError("tls.certificate", certificate_path,
                     absl::StrCat("bad certificate in chain: ", OpenSslError("unreadable")));
  }
  ERR_clear_error();

  BioPtr key_bio = MemBio(*key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    bool encrypted = key_pem->find("ENCRYPTED") != std::string::npos;
    return FileError("tls.key", key_path,
                     encrypted ? std::string("encrypted keys are not supported (no pass phrase "
                                             "prompt in a daemon); store it unencrypted, 0600")
                               : absl::StrCat("no PEM private key: ", OpenSslError("unreadable")));
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return FileError("tls.key", key_path, "does not match the certificate in tls.certificate");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) <= 0) {
    return FileError("tls.certificate", certificate_path,
                     absl::StrCat("expired on ", AsnTimeToIso(X509_get0_notAfter(leaf.get()))));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(leaf.get())) >= 0) {
    return FileError(
        "tls.certificate", certificate_path,
        absl::StrCat("not valid before ", AsnTimeToIso(X509_get0_notBefore(leaf.get()))));
  }
  CertificateInfo info;
  info.certificate_path = Absolute(certificate_path);
  info.key_path = Absolute(key_path);
  info.fingerprint_sha256 = Fingerprint(leaf.get());
  info.subject = SubjectLine(leaf.get());
  info.subject_alt_names = AltNames(leaf.get());
  info.not_after = AsnTimeToIso(X509_get0_notAfter(leaf.get()));
  return info;
}

absl::Status CheckCaBundle(const std::string& path) {
  ERR_clear_error();
  absl::StatusOr<std::string> pem = ReadSmallFile("tls.ca", path);
  if (!pem.ok()) return pem.status();
  BioPtr bio = MemBio(*pem);
  X509Ptr first(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!first) {
    return FileError("tls.ca", path, absl::StrCat("no PEM certificate: ", OpenSslError("empty")));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

absl::StatusOr<CertificateInfo> PrepareCertificate(const TlsConfig& tls,
                                                   const std::string& state_dir,
                                                   const std::vector<std::string>& domains) {
  if (!tls.ca.empty()) {
    if (absl::Status st = CheckCaBundle(tls.ca); !st.ok()) return st;
  }
  if (!tls.certificate.empty() || !tls.key.empty()) {
    absl::StatusOr<CertificateInfo> info = InspectCertificatePair(tls.certificate, tls.key);
    if (info.ok()) WarnIfKeyIsShared(info->key_path);
    return info;
  }
  std::string cert_path = Absolute(JoinPath(state_dir, kSelfSignedCertFile));
  std::string key_path = Absolute(JoinPath(state_dir, kSelfSignedKeyFile));
  std::string problem = ManagedPairProblem(cert_path, key_path, domains);
  bool generated = false;
  if (!problem.empty()) {
    log::Info("tls", "generating self-signed certificate",
              {{"reason", problem}, {"certificate", cert_path}});
    absl::StatusOr<PemPair> pair = GenerateSelfSigned({.names = domains});
    if (!pair.ok()) return pair.status();
    // Key first: a crash between the two renames then looks like "pair incomplete" next time.
    if (absl::Status st = WriteFileAtomically(key_path, pair->key_pem, 0600); !st.ok()) return st;
    if (absl::Status st = WriteFileAtomically(cert_path, pair->certificate_pem, 0644); !st.ok()) {
      return st;
    }
    generated = true;
  } else {
    WarnIfKeyIsShared(key_path);
  }
  absl::StatusOr<CertificateInfo> info = InspectCertificatePair(cert_path, key_path);
  if (!info.ok()) return info.status();
  info->self_signed_managed = true;
  info->generated = generated;
  return info;
}

}  // namespace causeway::gateway
