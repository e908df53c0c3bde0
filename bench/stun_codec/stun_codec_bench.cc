// Per-packet costs of the relay's hot paths, one core: a Binding request with short-term
// MESSAGE-INTEGRITY and FINGERPRINT decoded and verified (what ICE connectivity checks cost the
// server), its success response encoded, and a ChannelData frame parsed (every relayed packet).

#include <string>

#include "benchmark/benchmark.h"
#include "media/stun/stun_message.h"

namespace causeway::stun {
namespace {

constexpr std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";
const TransactionId kId = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

std::string BindingRequest() {
  StunMessageBuilder builder(method::kBinding, StunClass::kRequest, kId);
  builder.AddAttribute(attr::kSoftware, "STUN test client");
  builder.AddUint32(attr::kPriority, 0x6e0001ff);
  builder.AddAttribute(attr::kIceControlled, "\x93\x2f\xf9\xb1\x51\x26\x3b\x36");
  builder.AddAttribute(attr::kUsername, "evtj:h6vY");
  builder.AddMessageIntegrity(kPassword);
  builder.AddFingerprint();
  return *std::move(builder).Finish();
}

void BM_DecodeVerifyBindingRequest(benchmark::State& state) {
  const std::string request = BindingRequest();
  for (auto _ : state) {
    auto message = StunMessage::Parse(request);
    bool ok = message.ok() && VerifyFingerprint(*message).ok() &&
              VerifyMessageIntegrity(*message, kPassword).ok();
    if (!ok) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeVerifyBindingRequest);

void BM_DecodeOnlyBindingRequest(benchmark::State& state) {
  const std::string request = BindingRequest();
  for (auto _ : state) {
    auto message = StunMessage::Parse(request);
    benchmark::DoNotOptimize(message);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeOnlyBindingRequest);

void BM_EncodeBindingResponse(benchmark::State& state) {
  const NetAddress mapped = *NetAddress::Parse("192.0.2.1:32853");
  for (auto _ : state) {
    StunMessageBuilder builder(method::kBinding, StunClass::kSuccess, kId);
    builder.AddXorAddress(attr::kXorMappedAddress, mapped);
    builder.AddMessageIntegrity(kPassword);
    builder.AddFingerprint();
    auto encoded = std::move(builder).Finish();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeBindingResponse);

void BM_ParseChannelData(benchmark::State& state) {
  std::string frame;
  AppendChannelData(0x4001, std::string(160, 'r'), Framing::kDatagram, frame);  // 20 ms G.711
  for (auto _ : state) {
    auto parsed = ParseChannelData(frame, Framing::kDatagram);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseChannelData);

}  // namespace
}  // namespace causeway::stun

BENCHMARK_MAIN();
