#pragma once
// recvmmsg/sendmmsg batches over preallocated buffers: the UDP data path of media/io allocates
// nothing per datagram. A RecvBatch is shared by every socket of a worker (reads are drained
// synchronously, one socket at a time); a SendBatch copies outgoing datagrams into its arena
// until it is flushed to one socket. Worker thread only.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/net_address.h"

namespace causeway::media::io {

// Room for one IP_PKTINFO or IPV6_PKTINFO control message (the larger of the two).
struct alignas(cmsghdr) PacketInfoControl {
  std::array<char, CMSG_SPACE(sizeof(in6_pktinfo))> bytes;
};

// Turns on IP_PKTINFO / IPV6_RECVPKTINFO: each datagram then carries the address it was sent
// to, which a socket bound to 0.0.0.0 or [::] needs to answer from that same address.
bool EnablePacketInfo(int fd, bool v6);

// NetAddress <-> sockaddr without Asio endpoints (on every datagram). Returns the length to pass
// to the kernel.
socklen_t ToSockaddr(const NetAddress& address, sockaddr_storage& out);
// A v4-mapped IPv6 source is reported as plain IPv4 (as sip/io's FromAsioAddress does).
NetAddress FromSockaddr(const sockaddr_storage& address);

class RecvBatch {
 public:
  // `slots` datagrams per recvmmsg, each up to `slot_bytes` (a longer one is flagged truncated).
  // The slots are reserved, not touched: a page is only faulted in once a datagram reaches it.
  RecvBatch(size_t slots, size_t slot_bytes);

  // One recvmmsg(MSG_DONTWAIT) on `fd`: the number of datagrams (>= 0; 0 = would block) or
  // -errno. `destinations`: also collect each datagram's destination address (EnablePacketInfo).
  int Receive(int fd, bool destinations = false);

  size_t capacity() const { return msgs_.size(); }
  std::string_view payload(size_t i) const {
    return {storage_.get() + i * slot_bytes_, msgs_[i].msg_len};
  }
  NetAddress source(size_t i) const { return FromSockaddr(addrs_[i]); }
  bool truncated(size_t i) const { return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  // The address datagram `i` was sent to, with `local`'s port; `local` itself when the
  // datagram carried no packet info (Receive without `destinations`).
  NetAddress destination(size_t i, const NetAddress& local) const;

 private:
  size_t slot_bytes_;
  std::unique_ptr<char[]> storage_;  // not initialized: untouched slots cost no resident memory
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> addrs_;
  std::vector<PacketInfoControl> control_;
};

class SendBatch {
 public:
  // Up to `slots` datagrams whose bytes together fit in `arena_bytes`.
  SendBatch(size_t slots, size_t arena_bytes);

  // Copies `payload` for `to`. False when the batch is full (flush, then add again) or the
  // payload can never fit (longer than the arena: the caller counts it as an error). `source`:
  // the local address to send from (IP_PKTINFO), for sockets bound to a wildcard address.
  bool Add(const NetAddress& to, std::string_view payload, const NetAddress* source = nullptr);
  bool fits_ever(size_t bytes) const { return bytes <= arena_bytes_; }

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }

  struct Result {
    size_t sent = 0;
    size_t would_block = 0;  // dropped: the socket buffer was full (never wait, never queue)
    size_t failed = 0;       // refused by the kernel for that destination (e.g. family mismatch)
  };
  // sendmmsg(MSG_DONTWAIT) until every datagram is sent or dropped; the batch is empty after.
  Result Flush(int fd);
  void Clear() { count_ = 0; used_ = 0; }

 private:
  size_t arena_bytes_;
  std::unique_ptr<char[]> arena_;
  size_t used_ = 0;
  size_t count_ = 0;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> addrs_;
  std::vector<PacketInfoControl> control_;
};

}  // namespace causeway::media::io
