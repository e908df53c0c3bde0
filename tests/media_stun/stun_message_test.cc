// STUN/TURN codec: the RFC 5769 test vectors (decode, verify, re-encode byte for byte), malformed
// messages, integrity and fingerprint failures, unknown attributes, ChannelData framing.

#include "media/stun/stun_message.h"

#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace causeway::stun {
namespace {

using ::testing::ElementsAre;

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// RFC 5769 §2.1 sample request: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, short-term
// MESSAGE-INTEGRITY, FINGERPRINT. Padding bytes are 0x20 in the RFC.
const std::string kSampleRequest = Bytes({
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf});

// §2.2 sample IPv4 response: SOFTWARE, XOR-MAPPED-ADDRESS 192.0.2.1:32853, MI, FINGERPRINT.
const std::string kSampleIpv4Response = Bytes({
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
});

// §2.3 sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const std::string kSampleIpv6Response = Bytes({
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c});

// §2.4 sample request with long-term authentication: USERNAME, NONCE, REALM, MI (no FINGERPRINT).
const std::string kSampleLongTermRequest = Bytes({
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0,
    0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83,
    0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00, 0x15, 0x00, 0x1c,
    0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34,
    0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b,
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14,
    0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02, 0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2,
    0x8c, 0xa8, 0x96, 0x66});

constexpr std::string_view kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
const TransactionId kSampleId = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
// "マトリックス" (matrix) in UTF-8, 18 bytes.
const std::string kLongTermUsername =
    "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
constexpr std::string_view kLongTermNonce = "f//499k954d6OL34oL9FSTvy64sA";

TEST(Rfc5769, SampleRequestDecodesVerifiesAndReencodes) {
  auto message = StunMessage::Parse(kSampleRequest);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->method(), method::kBinding);
  EXPECT_EQ(message->stun_class(), StunClass::kRequest);
  EXPECT_EQ(message->transaction_id(), kSampleId);
  EXPECT_EQ(message->FindValue(attr::kSoftware), "STUN test client");
  EXPECT_EQ(message->FindValue(attr::kUsername), "evtj:h6vY");
  EXPECT_EQ(*ReadUint32(*message->FindValue(attr::kPriority)), 0x6e0001ffu);
  EXPECT_TRUE(message->unknown_required().empty());
  EXPECT_TRUE(VerifyFingerprint(*message).ok());
  EXPECT_TRUE(VerifyMessageIntegrity(*message, ShortTermKey(kShortTermPassword)).ok());
  EXPECT_EQ(VerifyMessageIntegrity(*message, ShortTermKey("wrong")).code(),
            absl::StatusCode::kUnauthenticated);

  StunMessageBuilder builder(method::kBinding, StunClass::kRequest, kSampleId);
  builder.set_padding_byte(0x20);
  builder.AddAttribute(attr::kSoftware, "STUN test client");
  builder.AddUint32(attr::kPriority, 0x6e0001ff);
  builder.AddAttribute(attr::kIceControlled, *message->FindValue(attr::kIceControlled));
  builder.AddAttribute(attr::kUsername, "evtj:h6vY");
  builder.AddMessageIntegrity(ShortTermKey(kShortTermPassword));
  builder.AddFingerprint();
  auto encoded = std::move(builder).Finish();
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, kSampleRequest);
}

TEST(Rfc5769, SampleIpv4ResponseDecodesVerifiesAndReencodes) {
  auto message = StunMessage::Parse(kSampleIpv4Response);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->stun_class(), StunClass::kSuccess);
  EXPECT_EQ(message->FindValue(attr::kSoftware), "test vector");
  auto mapped = ReadXorAddress(*message->FindValue(attr::kXorMappedAddress),
                               message->transaction_id());
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped->ToString(), "192.0.2.1:32853");
  EXPECT_TRUE(VerifyFingerprint(*message).ok());
  EXPECT_TRUE(VerifyMessageIntegrity(*message, ShortTermKey(kShortTermPassword)).ok());

  StunMessageBuilder builder(method::kBinding, StunClass::kSuccess, kSampleId);
  builder.set_padding_byte(0x20);
  builder.AddAttribute(attr::kSoftware, "test vector");
  builder.AddXorAddress(attr::kXorMappedAddress, *mapped);
  builder.AddMessageIntegrity(ShortTermKey(kShortTermPassword));
  builder.AddFingerprint();
  auto encoded = std::move(builder).Finish();
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, kSampleIpv4Response);
}

TEST(Rfc5769, SampleIpv6ResponseDecodesVerifiesAndReencodes) {
  auto message = StunMessage::Parse(kSampleIpv6Response);
  ASSERT_TRUE(message.ok()) << message.status();
  auto mapped = ReadXorAddress(*message->FindValue(attr::kXorMappedAddress),
                               message->transaction_id());
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped->ToString(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(VerifyFingerprint(*message).ok());
  EXPECT_TRUE(VerifyMessageIntegrity(*message, ShortTermKey(kShortTermPassword)).ok());

  StunMessageBuilder builder(method::kBinding, StunClass::kSuccess, kSampleId);
  builder.set_padding_byte(0x20);
  builder.AddAttribute(attr::kSoftware, "test vector");
  builder.AddXorAddress(attr::kXorMappedAddress, *mapped);
  builder.AddMessageIntegrity(ShortTermKey(kShortTermPassword));
  builder.AddFingerprint();
  auto encoded = std::move(builder).Finish();
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, kSampleIpv6Response);
}

TEST(Rfc5769, LongTermRequestDecodesVerifiesAndReencodes) {
  auto message = StunMessage::Parse(kSampleLongTermRequest);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->FindValue(attr::kUsername), kLongTermUsername);
  EXPECT_EQ(message->FindValue(attr::kNonce), kLongTermNonce);
  EXPECT_EQ(message->FindValue(attr::kRealm), "example.org");
  EXPECT_EQ(VerifyFingerprint(*message).code(), absl::StatusCode::kNotFound);
  const std::string key = LongTermKey(kLongTermUsername, "example.org", "TheMatrIX");
  EXPECT_TRUE(VerifyMessageIntegrity(*message, key).ok());
  EXPECT_FALSE(
      VerifyMessageIntegrity(*message, LongTermKey(kLongTermUsername, "example.org", "thematrix"))
          .ok());

  const TransactionId id = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};
  StunMessageBuilder builder(method::kBinding, StunClass::kRequest, id);
  builder.AddAttribute(attr::kUsername, kLongTermUsername);
  builder.AddAttribute(attr::kNonce, kLongTermNonce);
  builder.AddAttribute(attr::kRealm, "example.org");
  builder.AddMessageIntegrity(key);
  auto encoded = std::move(builder).Finish();
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, kSampleLongTermRequest);
}

TEST(StunParse, RejectsTruncatedHeader) {
  for (size_t size = 0; size < kHeaderBytes; ++size) {
    EXPECT_FALSE(StunMessage::Parse(std::string_view(kSampleRequest).substr(0, size)).ok());
  }
}

TEST(StunParse, RejectsBadCookieAndTopBits) {
  std::string bad = kSampleIpv4Response;
  bad[5] ^= 1;
  EXPECT_FALSE(StunMessage::Parse(bad).ok());
  bad = kSampleIpv4Response;
  bad[0] |= 0x40;
  EXPECT_FALSE(StunMessage::Parse(bad).ok());
}

TEST(StunParse, RejectsLengthNotMultipleOf4OrNotMatching) {
  std::string bad = kSampleIpv4Response;
  bad[3] = 0x3d;  // 61
  EXPECT_FALSE(StunMessage::Parse(bad).ok());
  bad = kSampleIpv4Response;
  bad[3] = 0x38;  // multiple of 4 but 4 bytes short of the message
  EXPECT_FALSE(StunMessage::Parse(bad).ok());
  EXPECT_FALSE(StunMessage::Parse(kSampleIpv4Response.substr(0, kSampleIpv4Response.size() - 4))
                   .ok());
}

TEST(StunParse, RejectsAttributeOverrunningTheMessage) {
  std::string bad = kSampleIpv4Response;
  bad[22] = 0x00;
  bad[23] = 0x40;  // SOFTWARE claims 64 bytes
  auto parsed = StunMessage::Parse(bad);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StunParse, EnforcesLimits) {
  StunLimits small;
  small.max_message_bytes = 64;
  EXPECT_EQ(StunMessage::Parse(kSampleRequest, small).status().code(),
            absl::StatusCode::kResourceExhausted);
  small = {};
  small.max_attributes = 3;
  EXPECT_EQ(StunMessage::Parse(kSampleRequest, small).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(StunVerify, FingerprintMismatchAndWrongPassword) {
  std::string tampered = kSampleRequest;
  tampered[25] ^= 0x01;  // inside SOFTWARE: covered by both
  auto message = StunMessage::Parse(tampered);
  ASSERT_TRUE(message.ok());
  EXPECT_EQ(VerifyFingerprint(*message).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyMessageIntegrity(*message, kShortTermPassword).code(),
            absl::StatusCode::kUnauthenticated);

  std::string bad_crc = kSampleRequest;
  bad_crc.back() ^= 0x01;
  auto crc_message = StunMessage::Parse(bad_crc);
  ASSERT_TRUE(crc_message.ok());
  EXPECT_EQ(VerifyFingerprint(*crc_message).code(), absl::StatusCode::kDataLoss);
  // The fingerprint is not covered by the integrity.
  EXPECT_TRUE(VerifyMessageIntegrity(*crc_message, kShortTermPassword).ok());
}

TEST(StunParse, ListsUnknownRequiredAndIgnoresAfterIntegrity) {
  StunMessageBuilder builder(method::kAllocate, StunClass::kRequest, kSampleId);
  builder.AddAttribute(0x7777, "x");
  builder.AddAttribute(0xC001, "optional");  // unknown but comprehension-optional
  builder.AddAttribute(0x7777, "again");     // listed once
  builder.AddRequestedTransport(17);
  builder.AddMessageIntegrity("key");
  builder.AddAttribute(0x6666, "after integrity");  // ignored per RFC 8489 §14.5
  builder.AddFingerprint();
  auto encoded = std::move(builder).Finish();
  ASSERT_TRUE(encoded.ok());
  auto message = StunMessage::Parse(*encoded);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->method(), method::kAllocate);
  EXPECT_THAT(message->unknown_required(), ElementsAre(0x7777));
  EXPECT_EQ(message->Find(0x6666), nullptr);
  EXPECT_EQ(*ReadRequestedTransport(*message->FindValue(attr::kRequestedTransport)), 17);
  EXPECT_TRUE(VerifyFingerprint(*message).ok());
  // The ignored attribute sits between integrity and fingerprint: integrity still holds, since it
  // covers only what precedes it.
  EXPECT_TRUE(VerifyMessageIntegrity(*message, "key").ok());
}

TEST(StunBuilder, TurnAttributesRoundTrip) {
  StunMessageBuilder builder(method::kChannelBind, StunClass::kError, kSampleId);
  builder.AddErrorCode(438, "Stale Nonce");
  builder.AddUnknownAttributes({0x7777, 0x0042});
  builder.AddChannelNumber(0x4001);
  builder.AddUint32(attr::kLifetime, 600);
  builder.AddXorAddress(attr::kXorPeerAddress, *NetAddress::Parse("[2001:db8::1]:3478"));
  builder.AddXorAddress(attr::kXorRelayedAddress, *NetAddress::Parse("203.0.113.9:50000"));
  builder.AddAddress(attr::kMappedAddress, *NetAddress::Parse("198.51.100.7:1234"));
  builder.AddMessageIntegritySha256("secret");
  builder.AddFingerprint();
  auto encoded = std::move(builder).Finish();
  ASSERT_TRUE(encoded.ok());
  auto message = StunMessage::Parse(*encoded);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->method(), method::kChannelBind);
  EXPECT_EQ(message->stun_class(), StunClass::kError);
  auto error = ReadErrorCode(*message->FindValue(attr::kErrorCode));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, 438);
  EXPECT_EQ(error->reason, "Stale Nonce");
  EXPECT_THAT(*ReadUnknownAttributes(*message->FindValue(attr::kUnknownAttributes)),
              ElementsAre(0x7777, 0x0042));
  EXPECT_EQ(*ReadChannelNumber(*message->FindValue(attr::kChannelNumber)), 0x4001);
  EXPECT_EQ(*ReadUint32(*message->FindValue(attr::kLifetime)), 600u);
  const TransactionId& id = message->transaction_id();
  EXPECT_EQ(ReadXorAddress(*message->FindValue(attr::kXorPeerAddress), id)->ToString(),
            "[2001:db8::1]:3478");
  EXPECT_EQ(ReadXorAddress(*message->FindValue(attr::kXorRelayedAddress), id)->ToString(),
            "203.0.113.9:50000");
  EXPECT_EQ(ReadAddress(*message->FindValue(attr::kMappedAddress))->ToString(),
            "198.51.100.7:1234");
  EXPECT_TRUE(VerifyMessageIntegritySha256(*message, "secret").ok());
  EXPECT_EQ(VerifyMessageIntegritySha256(*message, "Secret").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(VerifyFingerprint(*message).ok());
}

TEST(StunReaders, RejectMalformedValues) {
  EXPECT_FALSE(ReadXorAddress(Bytes({0, 1, 0, 0, 1, 2, 3}), kSampleId).ok());
  EXPECT_FALSE(ReadXorAddress(Bytes({0, 3, 0, 0, 1, 2, 3, 4}), kSampleId).ok());
  EXPECT_FALSE(ReadErrorCode(Bytes({0, 0, 2, 0})).ok());   // class 2
  EXPECT_FALSE(ReadErrorCode(Bytes({0, 0, 4, 100})).ok());  // number 100
  EXPECT_FALSE(ReadChannelNumber(Bytes({0x80, 0x00, 0, 0})).ok());
  EXPECT_FALSE(ReadChannelNumber(Bytes({0x3f, 0xff, 0, 0})).ok());
  EXPECT_FALSE(ReadUnknownAttributes(Bytes({0, 1, 2})).ok());
  EXPECT_FALSE(ReadText(attr::kUsername, std::string(513, 'u')).ok());
  EXPECT_TRUE(ReadText(attr::kUsername, std::string(512, 'u')).ok());
}

TEST(ChannelData, ParsesDatagramAndStream) {
  std::string datagram;
  AppendChannelData(0x4000, "hello", Framing::kDatagram, datagram);
  EXPECT_EQ(datagram.size(), 9u);
  EXPECT_TRUE(LooksLikeChannelData(datagram));
  EXPECT_FALSE(LooksLikeStun(datagram));
  auto parsed = ParseChannelData(datagram, Framing::kDatagram);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->channel, 0x4000);
  EXPECT_EQ(parsed->data, "hello");

  std::string stream;
  AppendChannelData(0x4FFF, "hello", Framing::kStream, stream);
  AppendChannelData(0x4001, "abcd", Framing::kStream, stream);
  EXPECT_EQ(stream.size(), 12u + 8u);
  auto first = ParseChannelData(stream, Framing::kStream);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->channel, 0x4FFF);
  EXPECT_EQ(first->data, "hello");
  EXPECT_EQ(first->frame_bytes, 12u);
  auto second = ParseChannelData(std::string_view(stream).substr(first->frame_bytes),
                                 Framing::kStream);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->data, "abcd");
}

TEST(ChannelData, ShortAndBadChannel) {
  std::string stream;
  AppendChannelData(0x4002, "hello", Framing::kStream, stream);
  for (size_t size = 0; size < stream.size(); ++size) {
    EXPECT_EQ(ParseChannelData(stream.substr(0, size), Framing::kStream).status().code(),
              absl::StatusCode::kUnavailable)
        << size;
  }
  // A datagram shorter than its length is discarded; one without padding is fine.
  EXPECT_FALSE(ParseChannelData(stream.substr(0, 8), Framing::kDatagram).ok());
  EXPECT_TRUE(ParseChannelData(stream.substr(0, 9), Framing::kDatagram).ok());
  EXPECT_FALSE(ParseChannelData(stream.substr(0, 3), Framing::kDatagram).ok());
  for (uint16_t channel : {0x3FFF, 0x8000, 0xFFFF, 0x0001}) {
    std::string bad;
    AppendChannelData(channel, "x", Framing::kDatagram, bad);
    EXPECT_EQ(ParseChannelData(bad, Framing::kDatagram).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace causeway::stun
