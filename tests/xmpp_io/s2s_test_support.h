#pragma once
// Test helpers shared by the s2s service tests and the gateway's XMPP edge test: one throwaway
// PKI per test binary with the s2s tests' domains, and loopback ports reserved for the life of
// the test process (both from tests/common/net_test_util.h).

#include <cstdint>

#include "core/net_address.h"
#include "tests/common/net_test_util.h"

namespace causeway::xmpp::io::s2s_test {

// The CA, a.test, b.test, c.test, wrong.test and "untrusted" (a.test signed by other-ca): made
// once per test binary, removed at exit. Tests add their own leaves with AddLeaf().
inline test_support::TestPki& Pki() {
  static test_support::TestPki pki("xmppio", {{"a", "a.test", "DNS:a.test"},
                                              {"b", "b.test", "DNS:b.test"},
                                              {"wrong", "wrong.test", "DNS:wrong.test"},
                                              {"c", "c.test", "DNS:c.test"},
                                              {"untrusted", "a.test", "DNS:a.test", "other-ca"}});
  return pki;
}

// A loopback port that refuses connections until a service listens on it.
inline uint16_t FreePort() { return test_support::ReserveLoopbackPort(); }

inline NetAddress Loopback(uint16_t port) { return *NetAddress::Parse("127.0.0.1", port); }

}  // namespace causeway::xmpp::io::s2s_test
