#include "core/dns/srv_order.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace causeway::dns {

std::vector<SrvRecord> OrderSrvRecords(std::vector<SrvRecord> records, std::mt19937_64& rng) {
  std::erase_if(records, [](const SrvRecord& r) { return r.target == "." || r.target.empty(); });
  std::stable_sort(records.begin(), records.end(),
                   [](const SrvRecord& a, const SrvRecord& b) { return a.priority < b.priority; });
  std::vector<SrvRecord> out;
  out.reserve(records.size());
  size_t begin = 0;
  while (begin < records.size()) {
    size_t end = begin;
    while (end < records.size() && records[end].priority == records[begin].priority) ++end;
    std::vector<SrvRecord> group(std::make_move_iterator(records.begin() + begin),
                                 std::make_move_iterator(records.begin() + end));
    // "Any order" (RFC 2782) is taken as a random one, so equal weights (all 0 included) share
    // first place fairly; weight-0 records go first so the running sum gives them a small chance.
    std::shuffle(group.begin(), group.end(), rng);
    std::stable_partition(group.begin(), group.end(),
                          [](const SrvRecord& r) { return r.weight == 0; });
    while (!group.empty()) {
      uint64_t sum = 0;
      for (const SrvRecord& r : group) sum += r.weight;
      const uint64_t pick = std::uniform_int_distribution<uint64_t>(0, sum)(rng);
      uint64_t running = 0;
      size_t chosen = group.size() - 1;
      for (size_t i = 0; i < group.size(); ++i) {
        running += group[i].weight;
        if (running >= pick) {
          chosen = i;
          break;
        }
      }
      out.push_back(std::move(group[chosen]));
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    begin = end;
  }
  return out;
}

}  // namespace causeway::dns
