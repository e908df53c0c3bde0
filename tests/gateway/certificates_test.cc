#include "gateway/certificates.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "core/log.h"
#include "gateway/state_dir.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using testing::FileMode;
using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

X509Ptr ParseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr x(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return x;
}

PkeyPtr ParseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PkeyPtr k(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return k;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Verifies `cert` with itself as the only trust anchor, as a TLS client would for `host`.
bool VerifiesFor(X509* cert, const std::string& host, bool ip) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, cert);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  }
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

// A certificate for `key` valid from now+`from_s` to now+`to_s` (for expiry tests).
std::string CertWithValidity(EVP_PKEY* key, long from_s, long to_s) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), to_s);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("old"), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_sign(x.get(), key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

TEST(Certificates, GeneratesSelfSignedWithSansAndTenYears) {
  absl::StatusOr<PemPair> pair =
      GenerateSelfSigned({.names = {"Sip.Example.com", "10.1.2.3", "2001:db8::5", "localhost"},
                          .key_type = KeyType::kEcP256});
  ASSERT_TRUE(pair.ok()) << pair.status();
  X509Ptr cert = ParseCert(pair->certificate_pem);
  PkeyPtr key = ParseKey(pair->key_pem);
  ASSERT_TRUE(cert && key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  EXPECT_NE(pair->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);  // unencrypted PKCS#8

  // Self-signed: issuer == subject and the signature verifies with its own key.
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  EXPECT_EQ(X509_verify(cert.get(), key.get()), 1);

  // SAN: the fixed loopback names plus each served name, lower-cased, without duplicates.
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "sip.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "2001:db8::5", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other.example.com", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "10.1.2.4", 0), 1);
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(sk_GENERAL_NAME_num(names), 6);  // localhost once
  GENERAL_NAMES_free(names);

  // Ten calendar years, give or take the backdating and leap days.
  int days = 0;
  int secs = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())),
      1);
  EXPECT_GE(days, 3651);
  EXPECT_LE(days, 3654);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert.get())), 0);

  // Usable as a TLS server certificate for its names, with itself as the trust anchor.
  EXPECT_TRUE(VerifiesFor(cert.get(), "sip.example.com", false));
  EXPECT_TRUE(VerifiesFor(cert.get(), "127.0.0.1", true));
  EXPECT_FALSE(VerifiesFor(cert.get(), "evil.example.com", false));
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
}

TEST(Certificates, RsaIsTheDefaultKeyType) {
  absl::StatusOr<PemPair> pair = GenerateSelfSigned({});
  ASSERT_TRUE(pair.ok()) << pair.status();
  PkeyPtr key = ParseKey(pair->key_pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);
}

TEST(Certificates, RejectsBadNamesAndValidity) {
  EXPECT_FALSE(GenerateSelfSigned({.names = {"a,DNS:evil.com"}}).ok());
  EXPECT_FALSE(GenerateSelfSigned({.names = {"bad name"}}).ok());
  EXPECT_FALSE(GenerateSelfSigned({.validity_years = 0}).ok());
  EXPECT_FALSE(GenerateSelfSigned({.validity_years = 101}).ok());
}

TEST(Certificates, ManagedPairIsCreatedOnceThenReused) {
  ScratchDir dir;
  absl::StatusOr<std::string> state = PrepareStateDir(dir / "state/nested");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(FileMode(*state), 0700u);
  TlsConfig tls = DefaultConfig().tls;

  absl::StatusOr<CertificateInfo> first = PrepareCertificate(tls, *state, {"example.com"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->generated);
  EXPECT_TRUE(first->self_signed_managed);
  EXPECT_EQ(first->certificate_path, *state + "/self-signed-cert.pem");
  EXPECT_EQ(first->key_path, *state + "/self-signed-key.pem");
  EXPECT_EQ(FileMode(first->key_path), 0600u);
  EXPECT_EQ(FileMode(first->certificate_path), 0644u);
  EXPECT_EQ(first->fingerprint_sha256.size(), 32u * 3 - 1);
  EXPECT_TRUE(Contains(first->subject_alt_names, "DNS:localhost"));
  EXPECT_TRUE(Contains(first->subject_alt_names, "DNS:example.com"));
  EXPECT_TRUE(Contains(first->subject_alt_names, "IP:127.0.0.1"));
  EXPECT_TRUE(Contains(first->subject_alt_names, "IP:::1"));
  EXPECT_NE(first->subject.find("CN = example.com"), std::string::npos) << first->subject;

  absl::StatusOr<CertificateInfo> second = PrepareCertificate(tls, *state, {"example.com"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->generated);
  EXPECT_EQ(second->fingerprint_sha256, first->fingerprint_sha256);

  // A newly served domain the certificate does not name: a new certificate.
  absl::StatusOr<CertificateInfo> third =
      PrepareCertificate(tls, *state, {"example.com", "example.org"});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->generated);
  EXPECT_NE(third->fingerprint_sha256, first->fingerprint_sha256);
  EXPECT_TRUE(Contains(third->subject_alt_names, "DNS:example.org"));
  // Dropping a domain keeps the (still covering) certificate.
  absl::StatusOr<CertificateInfo> fourth = PrepareCertificate(tls, *state, {"example.org"});
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(fourth->generated);
}

TEST(Certificates, ManagedPairIsRepairedWhenIncompleteOrBroken) {
  ScratchDir dir;
  TlsConfig tls = DefaultConfig().tls;
  absl::StatusOr<CertificateInfo> first = PrepareCertificate(tls, dir.path(), {});
  ASSERT_TRUE(first.ok()) << first.status();

  ASSERT_EQ(::unlink(first->certificate_path.c_str()), 0);
  absl::StatusOr<CertificateInfo> again = PrepareCertificate(tls, dir.path(), {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->generated);

  WriteFile(again->certificate_path, "garbage");
  absl::StatusOr<CertificateInfo> repaired = PrepareCertificate(tls, dir.path(), {});
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_TRUE(repaired->generated);

  // A key from another pair: mismatched, so regenerated.
  absl::StatusOr<PemPair> other = GenerateSelfSigned({.key_type = KeyType::kEcP256});
  ASSERT_TRUE(other.ok());
  WriteFile(repaired->key_path, other->key_pem, 0600);
  absl::StatusOr<CertificateInfo> rematched = PrepareCertificate(tls, dir.path(), {});
  ASSERT_TRUE(rematched.ok()) << rematched.status();
  EXPECT_TRUE(rematched->generated);

  // Close to expiry: renewed.
  PkeyPtr key = ParseKey(ReadFile(rematched->key_path));
  ASSERT_TRUE(key);
  WriteFile(rematched->certificate_path, CertWithValidity(key.get(), -86400, 5 * 86400));
  absl::StatusOr<CertificateInfo> renewed = PrepareCertificate(tls, dir.path(), {});
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_TRUE(renewed->generated);
  X509Ptr cert = ParseCert(ReadFile(renewed->certificate_path));
  ASSERT_TRUE(cert);
  std::time_t in_a_year = std::time(nullptr) + 365 * 86400;
  EXPECT_GT(X509_cmp_time(X509_get0_notAfter(cert.get()), &in_a_year), 0);
}

class ConfiguredPair : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PemPair> pair =
        GenerateSelfSigned({.names = {"edge.example"}, .key_type = KeyType::kEcP256});
    ASSERT_TRUE(pair.ok());
    pair_ = *pair;
    cert_ = dir_ / "cert.pem";
    key_ = dir_ / "key.pem";
    WriteFile(cert_, pair_.certificate_pem);
    WriteFile(key_, pair_.key_pem, 0600);
    tls_ = DefaultConfig().tls;
    tls_.certificate = cert_;
    tls_.key = key_;
  }
  std::string ErrorOf() {
    absl::StatusOr<CertificateInfo> info = PrepareCertificate(tls_, dir_.path(), {});
    return info.ok() ? "ok" : std::string(info.status().message());
  }

  ScratchDir dir_;
  PemPair pair_;
  std::string cert_;
  std::string key_;
  TlsConfig tls_;
};

TEST_F(ConfiguredPair, IsUsedAsIs) {
  absl::StatusOr<CertificateInfo> info = PrepareCertificate(tls_, dir_.path(), {"other.example"});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->generated);
  EXPECT_FALSE(info->self_signed_managed);
  EXPECT_EQ(info->certificate_path, cert_);
  EXPECT_TRUE(Contains(info->subject_alt_names, "DNS:edge.example"));
  // Nothing was generated in the state directory.
  EXPECT_EQ(FileMode(dir_ / "self-signed-key.pem"), 0u);
}

std::string g_warnings;
void CaptureWarnings(std::string_view line) { g_warnings.append(line); }

TEST_F(ConfiguredPair, SharedKeyIsAcceptedWithAWarning) {
  g_warnings.clear();
  log::SetSinkForTesting(&CaptureWarnings);
  EXPECT_EQ(ErrorOf(), "ok");  // 0600
  EXPECT_EQ(g_warnings, "");
  ::chmod(key_.c_str(), 0644);
  EXPECT_EQ(ErrorOf(), "ok");
  log::SetSinkForTesting(nullptr);
  EXPECT_NE(g_warnings.find("level=warn component=tls msg=\"private key is readable by group or "
                            "others\" key=" +
                            key_ + " mode=0644"),
            std::string::npos)
      << g_warnings;
}

TEST_F(ConfiguredPair, ChainFileWithIntermediatesIsAccepted) {
  absl::StatusOr<PemPair> other = GenerateSelfSigned({.key_type = KeyType::kEcP256});
  ASSERT_TRUE(other.ok());
  WriteFile(cert_, pair_.certificate_pem + other->certificate_pem);
  EXPECT_EQ(ErrorOf(), "ok");
  WriteFile(cert_, pair_.certificate_pem +
                       "-----BEGIN CERTIFICATE-----\nAAAA\n"
                       "-----END CERTIFICATE-----\n");
  EXPECT_EQ(ErrorOf().rfind("tls.certificate: " + cert_ + ": bad certificate in chain", 0), 0u)
      << ErrorOf();
}

TEST_F(ConfiguredPair, UnreadableFilesAreNamed) {
  tls_.certificate = dir_ / "nope.pem";
  EXPECT_EQ(ErrorOf(),
            "tls.certificate: " + tls_.certificate + ": cannot read: No such file or directory");
  tls_.certificate = cert_;
  tls_.key = dir_ / "nokey.pem";
  EXPECT_EQ(ErrorOf(), "tls.key: " + tls_.key + ": cannot read: No such file or directory");
}

TEST_F(ConfiguredPair, GarbageIsRejected) {
  WriteFile(cert_, "not a certificate\n");
  EXPECT_EQ(ErrorOf().rfind("tls.certificate: " + cert_ + ": no PEM certificate", 0), 0u)
      << ErrorOf();
  WriteFile(cert_, pair_.certificate_pem);
  WriteFile(key_, "not a key\n");
  EXPECT_EQ(ErrorOf().rfind("tls.key: " + key_ + ": no PEM private key", 0), 0u) << ErrorOf();
}

TEST_F(ConfiguredPair, MismatchedKeyIsRejected) {
  absl::StatusOr<PemPair> other = GenerateSelfSigned({.key_type = KeyType::kEcP256});
  ASSERT_TRUE(other.ok());
  WriteFile(key_, other->key_pem, 0600);
  EXPECT_EQ(ErrorOf(), "tls.key: " + key_ + ": does not match the certificate in tls.certificate");
}

TEST_F(ConfiguredPair, EncryptedKeyIsRejectedWithoutPrompting) {
  PkeyPtr key = ParseKey(pair_.key_pem);
  ASSERT_TRUE(key);
  BIO* bio = BIO_new(BIO_s_mem());
  static const char kPass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, key.get(), EVP_aes_256_cbc(), kPass,
                                          sizeof kPass - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  WriteFile(key_, std::string(data, static_cast<size_t>(len)), 0600);
  BIO_free(bio);
  EXPECT_EQ(ErrorOf().rfind("tls.key: " + key_ + ": encrypted keys are not supported", 0), 0u)
      << ErrorOf();
}

TEST_F(ConfiguredPair, ExpiredAndNotYetValidAreRejected) {
  PkeyPtr key = ParseKey(pair_.key_pem);
  ASSERT_TRUE(key);
  WriteFile(cert_, CertWithValidity(key.get(), -10 * 86400, -86400));
  EXPECT_EQ(ErrorOf().rfind("tls.certificate: " + cert_ + ": expired on ", 0), 0u) << ErrorOf();
  WriteFile(cert_, CertWithValidity(key.get(), 86400, 10 * 86400));
  EXPECT_EQ(ErrorOf().rfind("tls.certificate: " + cert_ + ": not valid before ", 0), 0u)
      << ErrorOf();
}

TEST_F(ConfiguredPair, CaBundleIsChecked) {
  tls_.ca = dir_ / "ca.pem";
  EXPECT_EQ(ErrorOf(), "tls.ca: " + tls_.ca + ": cannot read: No such file or directory");
  WriteFile(tls_.ca, "");
  EXPECT_EQ(ErrorOf().rfind("tls.ca: " + tls_.ca + ": no PEM certificate", 0), 0u) << ErrorOf();
  WriteFile(tls_.ca, pair_.certificate_pem);
  EXPECT_EQ(ErrorOf(), "ok");
}

TEST(StateDir, CreatesResolvesAndRejects) {
  ScratchDir dir;
  absl::StatusOr<std::string> made = PrepareStateDir(dir / "a/b/c/");
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, dir / "a/b/c");
  EXPECT_EQ(FileMode(*made), 0700u);
  // Existing directories are accepted as they are.
  EXPECT_TRUE(PrepareStateDir(*made).ok());

  WriteFile(dir / "file", "x");
  absl::StatusOr<std::string> not_dir = PrepareStateDir(dir / "file");
  ASSERT_FALSE(not_dir.ok());
  EXPECT_EQ(not_dir.status().message(),
            "general.state_dir: " + (dir / "file") + ": not a directory");
  absl::StatusOr<std::string> under_file = PrepareStateDir(dir / "file/sub");
  ASSERT_FALSE(under_file.ok());
  EXPECT_EQ(under_file.status().message(),
            "general.state_dir: " + (dir / "file/sub") + ": cannot create: Not a directory");
  EXPECT_EQ(not_dir.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StateDir, RelativePathsResolveAgainstTheWorkingDirectory) {
  ScratchDir dir;
  char old[4096];
  ASSERT_NE(::getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  absl::StatusOr<std::string> made = PrepareStateDir("causeway-state");
  ASSERT_EQ(::chdir(old), 0);
  ASSERT_TRUE(made.ok()) << made.status();
  char real[4096];
  ASSERT_NE(::realpath(dir.path().c_str(), real), nullptr);
  EXPECT_TRUE(*made == dir / "causeway-state" || *made == std::string(real) + "/causeway-state")
      << *made;
}

TEST(StateDir, LockIsExclusiveUntilReleased) {
  ScratchDir dir;
  {
    absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(dir.path());
    ASSERT_TRUE(lock.ok()) << lock.status();
    EXPECT_EQ(ReadFile(dir / "causeway.lock"), std::to_string(::getpid()) + "\n");
    absl::StatusOr<StateDirLock> second = StateDirLock::Acquire(dir.path());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(second.status().message(), "general.state_dir: " + dir.path() +
                                             ": in use by another causeway process (pid " +
                                             std::to_string(::getpid()) + ")");
    StateDirLock moved = std::move(*lock);  // ownership moves, the lock stays held
    EXPECT_FALSE(StateDirLock::Acquire(dir.path()).ok());
  }
  EXPECT_TRUE(StateDirLock::Acquire(dir.path()).ok());
}

}  // namespace
}  // namespace causeway::gateway
