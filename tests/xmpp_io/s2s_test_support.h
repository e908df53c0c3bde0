#pragma once
// Test helpers shared by the s2s service tests and the gateway's XMPP edge test: a throwaway PKI
// made with the openssl CLI, and loopback ports reserved for the life of the test process.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/net_address.h"
#include "gtest/gtest.h"

namespace causeway::xmpp::io::s2s_test {

// A CA and leaf certificates made with the openssl CLI in a temp dir (the pattern of
// tests/sip_io's TestPki, with SANs chosen per test).
class TestPki {
 public:
  TestPki() {
    char tmpl[] = "/tmp/causeway-xmppio-XXXXXX";
    char* d = ::mkdtemp(tmpl);
    if (d == nullptr) return;
    dir_ = d;
    ok_ = Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
              "-keyout ca.key -out ca.pem -days 2 -subj /CN=Causeway-Test-CA "
              "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign") &&
          Leaf("a", "a.test", "DNS:a.test") && Leaf("b", "b.test", "DNS:b.test") &&
          Leaf("wrong", "wrong.test", "DNS:wrong.test") && Leaf("c", "c.test", "DNS:c.test") &&
          Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
              "-keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=Other-CA") &&
          Leaf("untrusted", "a.test", "DNS:a.test", "other-ca");
  }
  ~TestPki() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  // One more leaf signed by the test CA, files <name>.pem / <name>.key (e.g. a test's domains).
  bool AddLeaf(const std::string& name, const std::string& cn, const std::string& san) {
    return ok_ && Leaf(name, cn, san);
  }

 private:
  bool Run(const std::string& cmd) {
    std::string full = "cd '" + dir_ + "' && " + cmd + " >/dev/null 2>&1";
    return std::system(full.c_str()) == 0;
  }
  bool Leaf(const std::string& name, const std::string& cn, const std::string& san,
            const std::string& ca = "ca") {
    std::ofstream(dir_ + "/" + name + ".ext") << "basicConstraints=CA:FALSE\nsubjectAltName=" << san
                                              << "\nextendedKeyUsage=serverAuth,clientAuth\n";
    return Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
               name + ".key -out " + name + ".csr -subj /CN=" + cn) &&
           Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
               ".key "
               "-CAcreateserial -days 2 -out " +
               name + ".pem -extfile " + name + ".ext");
  }

  std::string dir_;
  bool ok_ = false;
};

// Made once per test binary, removed at exit.
inline TestPki& Pki() {
  static TestPki pki;
  return pki;
}

// A port for one service, reserved for the life of this process: the probe socket stays bound
// (with SO_REUSEPORT, so the service can bind the port too; a socket that never listens gets no
// connections). Closing it would let the kernel hand the port out again, here or to a test
// process running in parallel, and two services on one port with SO_REUSEPORT share connections.
inline uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) ADD_FAILURE() << "bind";
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);  // fd deliberately left open
}

inline NetAddress Loopback(uint16_t port) { return *NetAddress::Parse("127.0.0.1", port); }

}  // namespace causeway::xmpp::io::s2s_test
