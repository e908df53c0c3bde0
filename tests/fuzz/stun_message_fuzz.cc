// libFuzzer target for the STUN/TURN codec (media/stun) that sees every datagram the relay
// receives: any bytes must give a message or an error, never a crash, a hang or unbounded memory.
// Also checks that a parsed message re-encoded attribute by attribute parses again.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "media/stun/stun_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace stun = causeway::stun;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  stun::StunLimits limits;
  limits.max_message_bytes = stun::kMaxMessageBytesHardCap;
  auto message = stun::StunMessage::Parse(bytes, limits);
  if (message.ok()) {
    (void)stun::VerifyFingerprint(*message);
    (void)stun::VerifyMessageIntegrity(*message, "key");
    (void)stun::VerifyMessageIntegritySha256(*message, "key");
    const stun::TransactionId& id = message->transaction_id();
    stun::StunMessageBuilder builder(message->method(), message->stun_class(), id);
    for (const stun::StunAttribute& attribute : message->attributes()) {
      switch (attribute.type) {
        case stun::attr::kXorMappedAddress:
        case stun::attr::kXorPeerAddress:
        case stun::attr::kXorRelayedAddress:
          if (auto address = stun::ReadXorAddress(attribute.value, id); address.ok()) {
            builder.AddXorAddress(attribute.type, *address);
            continue;
          }
          break;
        case stun::attr::kMappedAddress:
          (void)stun::ReadAddress(attribute.value);
          break;
        case stun::attr::kErrorCode:
          (void)stun::ReadErrorCode(attribute.value);
          break;
        case stun::attr::kUnknownAttributes:
          (void)stun::ReadUnknownAttributes(attribute.value);
          break;
        case stun::attr::kLifetime:
          (void)stun::ReadUint32(attribute.value);
          break;
        case stun::attr::kRequestedTransport:
          (void)stun::ReadRequestedTransport(attribute.value);
          break;
        case stun::attr::kChannelNumber:
          (void)stun::ReadChannelNumber(attribute.value);
          break;
        case stun::attr::kUsername:
        case stun::attr::kRealm:
        case stun::attr::kNonce:
        case stun::attr::kSoftware:
          (void)stun::ReadText(attribute.type, attribute.value);
          break;
        default:
          break;
      }
      builder.AddAttribute(attribute.type, attribute.value);
    }
    auto encoded = std::move(builder).Finish();
    if (encoded.ok() && !stun::StunMessage::Parse(*encoded, limits).ok()) __builtin_trap();
  }

  for (auto framing : {stun::Framing::kDatagram, stun::Framing::kStream}) {
    auto channel_data = stun::ParseChannelData(bytes, framing);
    if (channel_data.ok() && channel_data->frame_bytes > size) __builtin_trap();
  }
  return 0;
}
