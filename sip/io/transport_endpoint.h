#pragma once
// NetAddress <-> Asio endpoint conversions (header-only: tiny and used on every datagram).

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include "core/net_address.h"

namespace causeway::sip {

inline boost::asio::ip::address ToAsioAddress(const NetAddress& a) {
  if (a.is_v6()) return boost::asio::ip::address_v6(a.bytes());
  return boost::asio::ip::address_v4(a.v4_host_order());
}

inline NetAddress FromAsioAddress(const boost::asio::ip::address& ip, uint16_t port) {
  if (ip.is_v6()) {
    const boost::asio::ip::address_v6 v6 = ip.to_v6();
    // A v4-mapped peer on a dual-stack socket is reported as plain IPv4.
    if (v6.is_v4_mapped()) {
      return NetAddress::V4(
          boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_uint(), port);
    }
    return NetAddress::V6(v6.to_bytes(), port);
  }
  return NetAddress::V4(ip.to_v4().to_uint(), port);
}

inline boost::asio::ip::tcp::endpoint ToTcpEndpoint(const NetAddress& a) {
  return {ToAsioAddress(a), a.port()};
}
inline boost::asio::ip::udp::endpoint ToUdpEndpoint(const NetAddress& a) {
  return {ToAsioAddress(a), a.port()};
}
template <typename Endpoint>
NetAddress FromEndpoint(const Endpoint& ep) {
  return FromAsioAddress(ep.address(), ep.port());
}

}  // namespace causeway::sip
