// libFuzzer target for the DNS answer parser (core/dns) every resolver uses on every reply: any
// bytes must give records or an error, never a crash, a hang or unbounded memory.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/dns/dns_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using causeway::dns::DnsType;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (DnsType type : {DnsType::kA, DnsType::kAaaa, DnsType::kSrv, DnsType::kNaptr}) {
    auto records = causeway::dns::ParseDnsAnswers(bytes, type);
    if (records.ok()) {
      // Read everything the result holds so the sanitizers check it.
      size_t total = records->addresses.size() + records->naptr.size();
      for (const auto& srv : records->srv) total += srv.target.size();
      volatile size_t sink = total;
      (void)sink;
    }
  }
  return 0;
}
