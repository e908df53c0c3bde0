#include "media/io/udp_batch.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace causeway::media::io {

socklen_t ToSockaddr(const NetAddress& address, sockaddr_storage& out) {
  if (address.is_v6()) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&out);
    *s6 = sockaddr_in6{};
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(address.port());
    std::memcpy(&s6->sin6_addr, address.bytes().data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&out);
  *s4 = sockaddr_in{};
  s4->sin_family = AF_INET;
  s4->sin_port = htons(address.port());
  s4->sin_addr.s_addr = htonl(address.v4_host_order());
  return sizeof(sockaddr_in);
}

NetAddress FromSockaddr(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&address);
    const uint8_t* b = s6->sin6_addr.s6_addr;
    const uint16_t port = ntohs(s6->sin6_port);
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMappedPrefix, 12) == 0) {
      return NetAddress::V4(uint32_t{b[12]} << 24 | uint32_t{b[13]} << 16 | uint32_t{b[14]} << 8 |
                                b[15],
                            port);
    }
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), b, 16);
    return NetAddress::V6(bytes, port);
  }
  if (address.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&address);
    return NetAddress::V4(ntohl(s4->sin_addr.s_addr), ntohs(s4->sin_port));
  }
  return NetAddress();
}

RecvBatch::RecvBatch(size_t slots, size_t slot_bytes)
    : slot_bytes_(std::max<size_t>(slot_bytes, 1)),
      msgs_(std::max<size_t>(slots, 1)),
      iov_(msgs_.size()),
      addrs_(msgs_.size()) {
  storage_ = std::make_unique_for_overwrite<char[]>(msgs_.size() * slot_bytes_);
  for (size_t i = 0; i < msgs_.size(); ++i) {
    iov_[i] = {storage_.get() + i * slot_bytes_, slot_bytes_};
  }
}

int RecvBatch::Receive(int fd) {
  for (size_t i = 0; i < msgs_.size(); ++i) {
    msghdr& h = msgs_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &addrs_[i];
    h.msg_namelen = sizeof(sockaddr_storage);  // the kernel shrinks it: reset every call
    h.msg_iov = &iov_[i];
    h.msg_iovlen = 1;
    msgs_[i].msg_len = 0;
  }
  int n = ::recvmmsg(fd, msgs_.data(), static_cast<unsigned>(msgs_.size()), MSG_DONTWAIT, nullptr);
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  return -errno;
}

SendBatch::SendBatch(size_t slots, size_t arena_bytes)
    : arena_bytes_(std::max<size_t>(arena_bytes, 1)),
      arena_(std::make_unique_for_overwrite<char[]>(arena_bytes_)),
      msgs_(std::max<size_t>(slots, 1)),
      iov_(msgs_.size()),
      addrs_(msgs_.size()) {}

bool SendBatch::Add(const NetAddress& to, std::string_view payload) {
  if (count_ == msgs_.size() || payload.size() > arena_bytes_ - used_) return false;
  char* at = arena_.get() + used_;
  if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
  used_ += payload.size();
  iov_[count_] = {at, payload.size()};
  msghdr& h = msgs_[count_].msg_hdr;
  h = msghdr{};
  h.msg_name = &addrs_[count_];
  h.msg_namelen = ToSockaddr(to, addrs_[count_]);
  h.msg_iov = &iov_[count_];
  h.msg_iovlen = 1;
  ++count_;
  return true;
}

SendBatch::Result SendBatch::Flush(int fd) {
  Result r;
  size_t at = 0;
  // Each round sends >= 1 datagram or drops/fails one, so this ends within count_ rounds.
  while (at < count_) {
    int n = ::sendmmsg(fd, msgs_.data() + at, static_cast<unsigned>(count_ - at), MSG_DONTWAIT);
    if (n > 0) {
      r.sent += static_cast<size_t>(n);
      at += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      r.would_block += count_ - at;  // the socket buffer is full: the rest would fail too
      break;
    }
    ++r.failed;  // this datagram's destination was refused; go on with the next one
    ++at;
  }
  Clear();
  return r;
}

}  // namespace causeway::media::io
