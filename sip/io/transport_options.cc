#include "sip/io/transport_options.h"

namespace causeway::sip {

NetAddress ConnectionLimiter::Ip(const NetAddress& peer) {
  NetAddress ip = peer;
  ip.set_port(0);
  return ip;
}

bool ConnectionLimiter::TryAcquire(const NetAddress& peer, bool inbound) {
  absl::MutexLock lock(&mu_);
  if (total_ >= max_total_) return false;
  if (inbound) {
    size_t& n = per_ip_[Ip(peer)];
    if (n >= max_per_ip_) return false;
    ++n;
  }
  ++total_;
  return true;
}

void ConnectionLimiter::Release(const NetAddress& peer, bool inbound) {
  absl::MutexLock lock(&mu_);
  if (total_ > 0) --total_;
  if (!inbound) return;
  auto it = per_ip_.find(Ip(peer));
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);  // the map holds only peers with connections
}

size_t ConnectionLimiter::total() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

size_t ConnectionLimiter::count_for(const NetAddress& peer) const {
  absl::MutexLock lock(&mu_);
  auto it = per_ip_.find(Ip(peer));
  return it == per_ip_.end() ? 0 : it->second;
}

}  // namespace causeway::sip
