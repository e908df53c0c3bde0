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

bool EnablePacketInfo(int fd, bool v6) {
  int on = 1;
  return v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) == 0
            : ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) == 0;
}

RecvBatch::RecvBatch(size_t slots, size_t slot_bytes)
    : slot_bytes_(std::max<size_t>(slot_bytes, 1)),
      msgs_(std::max<size_t>(slots, 1)),
      iov_(msgs_.size()),
      addrs_(msgs_.size()),
      control_(msgs_.size()) {
  storage_ = std::make_unique_for_overwrite<char[]>(msgs_.size() * slot_bytes_);
  for (size_t i = 0; i < msgs_.size(); ++i) {
    iov_[i] = {storage_.get() + i * slot_bytes_, slot_bytes_};
  }
}

int RecvBatch::Receive(int fd, bool destinations) {
  for (size_t i = 0; i < msgs_.size(); ++i) {
    msghdr& h = msgs_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &addrs_[i];
    h.msg_namelen = sizeof(sockaddr_storage);  // the kernel shrinks it: reset every call
    h.msg_iov = &iov_[i];
    h.msg_iovlen = 1;
    if (destinations) {
      h.msg_control = control_[i].bytes.data();
      h.msg_controllen = control_[i].bytes.size();
    }
    msgs_[i].msg_len = 0;
  }
  int n = ::recvmmsg(fd, msgs_.data(), static_cast<unsigned>(msgs_.size()), MSG_DONTWAIT, nullptr);
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  return -errno;
}

NetAddress RecvBatch::destination(size_t i, const NetAddress& local) const {
  // CMSG_NXTHDR takes a non-const msghdr; it only reads it.
  msghdr* h = const_cast<msghdr*>(&msgs_[i].msg_hdr);
  if (h->msg_control == nullptr) return local;
  for (cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      return NetAddress::V4(ntohl(info.ipi_addr.s_addr), local.port());
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      std::array<uint8_t, 16> bytes;
      std::memcpy(bytes.data(), &info.ipi6_addr, 16);
      return NetAddress::V6(bytes, local.port());
    }
  }
  return local;
}

SendBatch::SendBatch(size_t slots, size_t arena_bytes)
    : arena_bytes_(std::max<size_t>(arena_bytes, 1)),
      arena_(std::make_unique_for_overwrite<char[]>(arena_bytes_)),
      msgs_(std::max<size_t>(slots, 1)),
      iov_(msgs_.size()),
      addrs_(msgs_.size()),
      control_(msgs_.size()) {}

bool SendBatch::Add(const NetAddress& to, std::string_view payload, const NetAddress* source) {
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
  if (source != nullptr) {
    char* control = control_[count_].bytes.data();
    std::memset(control, 0, control_[count_].bytes.size());
    h.msg_control = control;
    cmsghdr* c;
    if (source->is_v6()) {
      h.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
      c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo info{};
      std::memcpy(&info.ipi6_addr, source->bytes().data(), 16);
      std::memcpy(CMSG_DATA(c), &info, sizeof(info));
    } else {
      h.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
      c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      info.ipi_spec_dst.s_addr = htonl(source->v4_host_order());  // the source to send from
      std::memcpy(CMSG_DATA(c), &info, sizeof(info));
    }
  }
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
