#pragma once
// Helpers shared by the network tests of several areas (tests/sip_io, tests/xmpp_io and, through
// xmpp_io's support header, tests/gateway): a throwaway PKI made with the openssl CLI, and
// loopback ports reserved for the life of the test process. Header-only: nothing to build.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "gtest/gtest.h"

namespace causeway::test_support {

// One leaf certificate, files <name>.pem / <name>.key, signed by the CA <ca>.pem / <ca>.key.
struct LeafSpec {
  std::string name;
  std::string common_name;
  std::string subject_alt_names;  // e.g. "DNS:a.test" or "DNS:localhost,IP:127.0.0.1"
  std::string ca = "ca";
};

// In a fresh temp dir removed on destruction, made with the openssl CLI (EC P-256, two days):
// a CA (ca.pem / ca.key), a second CA nobody trusts (other-ca.pem / other-ca.key) and leaf
// certificates for serverAuth and clientAuth. ok() is false once any openssl step failed.
class TestPki {
 public:
  // `tag` names the temp dir (/tmp/causeway-<tag>-XXXXXX), so a leftover shows whose it was.
  TestPki(std::string_view tag, std::initializer_list<LeafSpec> leaves) {
    std::string dir = "/tmp/causeway-" + std::string(tag) + "-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) return;
    dir_ = dir;
    ok_ = MakeCa("ca", "Causeway-Test-CA",
                 " -addext basicConstraints=critical,CA:TRUE"
                 " -addext keyUsage=keyCertSign,cRLSign") &&
          MakeCa("other-ca", "Other-CA", "");
    for (const LeafSpec& leaf : leaves) AddLeaf(leaf);
  }
  ~TestPki() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  bool ok() const { return ok_; }
  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  // One more leaf (e.g. a test's own domains). Returns ok().
  bool AddLeaf(const LeafSpec& leaf) {
    ok_ = ok_ && MakeLeaf(leaf);
    return ok_;
  }
  bool AddLeaf(std::string name, std::string common_name, std::string subject_alt_names) {
    return AddLeaf(LeafSpec{std::move(name), std::move(common_name), std::move(subject_alt_names)});
  }

 private:
  bool Run(const std::string& cmd) {
    std::string full = "cd '" + dir_ + "' && " + cmd + " >/dev/null 2>&1";
    return std::system(full.c_str()) == 0;
  }
  bool MakeCa(const std::string& name, const std::string& common_name,
              const std::string& extensions) {
    return Run(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        name + ".key -out " + name + ".pem -days 2 -subj /CN=" + common_name + extensions);
  }
  bool MakeLeaf(const LeafSpec& leaf) {
    const std::string& name = leaf.name;
    std::ofstream(dir_ + "/" + name + ".ext")
        << "basicConstraints=CA:FALSE\nsubjectAltName=" << leaf.subject_alt_names
        << "\nextendedKeyUsage=serverAuth,clientAuth\n";
    return Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
               name + ".key -out " + name + ".csr -subj /CN=" + leaf.common_name) &&
           Run("openssl x509 -req -in " + name + ".csr -CA " + leaf.ca + ".pem -CAkey " + leaf.ca +
               ".key -CAcreateserial -days 2 -out " + name + ".pem -extfile " + name + ".ext");
  }

  std::string dir_;
  bool ok_ = false;
};

// A loopback TCP port reserved for the life of this process. The probe socket stays bound with
// SO_REUSEPORT, so the service under test can bind the port too; it never listens, so until a
// service does, connecting to the port is refused. Closing it would let the kernel hand the
// port out again, here or to a test process running in parallel, and two services on one port
// with SO_REUSEPORT share its connections.
inline uint16_t ReserveLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket";
    return 0;
  }
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ADD_FAILURE() << "bind to a loopback port";
    ::close(fd);
    return 0;
  }
  return ntohs(sa.sin_port);  // fd deliberately left open
}

}  // namespace causeway::test_support
