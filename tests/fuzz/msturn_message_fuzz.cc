// libFuzzer target for the MS-TURN codec (media/msturn), which sees every datagram and TCP frame a
// Lync client sends the relay: any bytes must give a message or an error, never a crash, a hang or
// unbounded memory. Also checks that a parsed message re-encoded attribute by attribute (unpadded,
// as the builder writes) parses back to the same attributes, and that a Data indication built
// from the input parses back.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "media/msturn/msturn_message.h"
#include "media/stun/stun_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace msturn = causeway::msturn;
  namespace stun = causeway::stun;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  const msturn::Dialect dialect = msturn::DetectDialect(bytes);
  msturn::MsTurnLimits limits;
  limits.max_message_bytes = msturn::kMaxMessageBytesHardCap;
  auto message = msturn::MsTurnMessage::Parse(bytes, limits);
  if (message.ok() && dialect != msturn::Dialect::kMsTurn) __builtin_trap();

  if (message.ok()) {
    (void)msturn::VerifyMessageIntegrity(*message, "0123456789abcdef");
    (void)msturn::ReadAllocateRequest(*message);
    (void)msturn::ReadSendRequest(*message);
    (void)msturn::ReadSetActiveDestinationRequest(*message);
    (void)msturn::ReadDataIndication(*message);
    const msturn::TransactionId& id = message->transaction_id();
    msturn::MsTurnMessageBuilder builder(message->message_type(), id);
    const auto& attributes = message->attributes();
    for (size_t i = 1; i < attributes.size(); ++i) {  // [0] is MAGIC-COOKIE, the builder adds it
      const msturn::MsTurnAttribute& attribute = attributes[i];
      switch (attribute.type) {
        case msturn::attr::kXorMappedAddress:
          (void)msturn::ReadMsXorAddress(attribute.value, id);
          break;
        case msturn::attr::kMappedAddress:
        case msturn::attr::kDestinationAddress:
        case msturn::attr::kRemoteAddress:
        case msturn::attr::kAlternateServer:
          (void)stun::ReadAddress(attribute.value);
          break;
        case msturn::attr::kErrorCode:
          (void)stun::ReadErrorCode(attribute.value);
          break;
        case msturn::attr::kMsSequenceNumber:
          (void)msturn::ReadMsSequenceNumber(attribute.value);
          break;
        case msturn::attr::kRequestedAddressFamily:
          (void)msturn::ReadRequestedAddressFamily(attribute.value);
          break;
        default:
          break;
      }
      builder.AddAttribute(attribute.type, attribute.value);
    }
    auto encoded = std::move(builder).Finish();
    if (!encoded.ok()) __builtin_trap();  // never longer than the input
    auto again = msturn::MsTurnMessage::Parse(std::string_view(*encoded), limits);
    if (!again.ok() || again->attributes().size() != attributes.size()) __builtin_trap();
    for (size_t i = 0; i < attributes.size(); ++i) {
      if (again->attributes()[i].type != attributes[i].type ||
          again->attributes()[i].value != attributes[i].value) {
        __builtin_trap();
      }
    }

    // The data path encoder: the input as the payload of a Data indication.
    std::string indication;
    const auto remote = causeway::NetAddress::V4(0x7F000001, 3478);
    if (msturn::AppendDataIndication(id, remote, bytes, indication)) {
      auto parsed = msturn::MsTurnMessage::Parse(std::string_view(indication), limits);
      if (!parsed.ok()) __builtin_trap();
      auto read = msturn::ReadDataIndication(*parsed);
      if (!read.ok() || read->data != bytes || !(read->remote == remote)) __builtin_trap();
    }
  }

  auto frame = msturn::ParseTcpFrame(bytes);
  if (frame.ok() && frame->frame_bytes > size) __builtin_trap();
  return 0;
}
