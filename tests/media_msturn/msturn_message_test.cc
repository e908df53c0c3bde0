// MS-TURN codec: the exchange captured from libnice (a real MS-TURN client) parsed and verified,
// the relay's answers re-encoded byte for byte, dialect detection against RFC 8489 STUN, malformed
// input, padded senders, TCP framing.

#include "media/msturn/msturn_message.h"

#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "media/stun/stun_message.h"
#include "tests/media_msturn/libnice_vectors.h"

namespace causeway::msturn {
namespace {

using ::testing::ElementsAre;

std::string FromHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
  };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

NetAddress Loopback(uint16_t port) { return NetAddress::V4(0x7F000001, port); }

std::string Key() {
  return stun::LongTermKey(vectors::kUsername, vectors::kRealm, vectors::kPassword);
}

std::vector<uint16_t> Types(const MsTurnMessage& message) {
  std::vector<uint16_t> types;
  for (const MsTurnAttribute& attribute : message.attributes()) types.push_back(attribute.type);
  return types;
}

TEST(MsTurnLibnice, FirstAllocateRequest) {
  const std::string bytes = FromHex(vectors::kAllocateRequest);
  EXPECT_EQ(DetectDialect(bytes), Dialect::kMsTurn);
  EXPECT_FALSE(stun::LooksLikeStun(bytes));  // no RFC 8489 cookie in the header
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->message_type(), type::kAllocateRequest);
  EXPECT_FALSE(message->padded());
  EXPECT_THAT(Types(*message), ElementsAre(attr::kMagicCookie, attr::kMsVersion));
  auto request = ReadAllocateRequest(*message);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->ms_version, 1u);
  EXPECT_FALSE(request->has_integrity);
  EXPECT_FALSE(request->username.has_value());
  EXPECT_TRUE(absl::IsNotFound(VerifyMessageIntegrity(*message, Key())));
}

TEST(MsTurnLibnice, UnauthorizedAnswerReencodedByteForByte) {
  const std::string expected = FromHex(vectors::kAllocateUnauthorized);
  const std::string request_bytes = FromHex(vectors::kAllocateRequest);
  auto request = MsTurnMessage::Parse(request_bytes);
  ASSERT_TRUE(request.ok());
  AllocateChallenge challenge;
  challenge.realm = vectors::kRealm;
  challenge.nonce = vectors::kNonce;
  challenge.ms_version = 1;
  auto encoded = EncodeAllocateError(request->transaction_id(), challenge);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(*encoded, expected);
  auto parsed = MsTurnMessage::Parse(*encoded);
  ASSERT_TRUE(parsed.ok());
  auto error = stun::ReadErrorCode(*parsed->FindValue(attr::kErrorCode));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, 401);
  EXPECT_EQ(parsed->FindValue(attr::kRealm), vectors::kRealm);  // 0x0015
  EXPECT_EQ(parsed->FindValue(attr::kNonce), vectors::kNonce);  // 0x0014
  EXPECT_EQ(parsed->Find(attr::kMessageIntegrity), nullptr);
}

TEST(MsTurnLibnice, AuthenticatedAllocateVerifiesWithTheKnownPassword) {
  const std::string bytes = FromHex(vectors::kAllocateRequestAuthenticated);
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_THAT(Types(*message), ElementsAre(attr::kMagicCookie, attr::kMsVersion, attr::kRealm,
                                           attr::kNonce, attr::kUsername, attr::kMessageIntegrity));
  auto request = ReadAllocateRequest(*message);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->username, vectors::kUsername);
  EXPECT_EQ(request->realm, vectors::kRealm);
  EXPECT_EQ(request->nonce, vectors::kNonce);
  EXPECT_TRUE(request->has_integrity);
  EXPECT_FALSE(request->lifetime.has_value());

  EXPECT_TRUE(VerifyMessageIntegrity(*message, Key()).ok());
  EXPECT_TRUE(absl::IsUnauthenticated(VerifyMessageIntegrity(
      *message, stun::LongTermKey(vectors::kUsername, vectors::kRealm, "wrong"))));
  // RFC 8489's coverage (no zero padding to 64 bytes) does not match: the dialect matters.
  std::string tampered = bytes;
  tampered[tampered.size() - 26] ^= 1;  // inside USERNAME
  auto changed = MsTurnMessage::Parse(tampered);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(VerifyMessageIntegrity(*changed, Key())));
}

TEST(MsTurnLibnice, RefreshIsAnotherAuthenticatedAllocate) {
  const std::string bytes = FromHex(vectors::kAllocateRefresh);
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_TRUE(VerifyMessageIntegrity(*message, Key()).ok());
  auto request = ReadAllocateRequest(*message);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->username, vectors::kUsername);
  EXPECT_EQ(request->nonce, vectors::kNonce);  // the nonce of the first 401, reused
  EXPECT_FALSE(request->lifetime.has_value());
}

TEST(MsTurnLibnice, AllocateSuccessReencodedByteForByte) {
  const std::string expected = FromHex(vectors::kAllocateSuccess);
  const std::string request_bytes = FromHex(vectors::kAllocateRequestAuthenticated);
  auto request = MsTurnMessage::Parse(request_bytes);
  ASSERT_TRUE(request.ok());
  const std::string connection_id = FromHex(vectors::kConnectionId);
  AllocateSuccess success;
  success.relayed = Loopback(vectors::kRelayPort);
  success.reflexive = Loopback(vectors::kClientPort);
  success.lifetime = 480;
  success.ms_version = 1;
  success.connection_id = connection_id;
  auto encoded = EncodeAllocateSuccess(request->transaction_id(), success, Key());
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(*encoded, expected);

  auto parsed = MsTurnMessage::Parse(expected);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyMessageIntegrity(*parsed, Key()).ok());
  EXPECT_EQ(stun::ReadAddress(*parsed->FindValue(attr::kMappedAddress)).value(),
            Loopback(vectors::kRelayPort));
  EXPECT_EQ(ReadMsXorAddress(*parsed->FindValue(attr::kXorMappedAddress),
                             parsed->transaction_id())
                .value(),
            Loopback(vectors::kClientPort));
  auto sequence = ReadMsSequenceNumber(*parsed->FindValue(attr::kMsSequenceNumber));
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(sequence->connection_id, connection_id);
  EXPECT_EQ(sequence->sequence, 0u);
}

TEST(MsTurnLibnice, SendRequestCarriesAnRfcStunCheckForThePeer) {
  const std::string bytes = FromHex(vectors::kSendRequest);
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_TRUE(VerifyMessageIntegrity(*message, Key()).ok());
  auto send = ReadSendRequest(*message);
  ASSERT_TRUE(send.ok()) << send.status();
  EXPECT_EQ(send->destination, Loopback(vectors::kPeerPort));
  EXPECT_EQ(send->username, vectors::kUsername);
  EXPECT_EQ(send->realm, vectors::kRealm);  // no NONCE: the realm only keys the integrity
  EXPECT_EQ(message->Find(attr::kNonce), nullptr);
  ASSERT_TRUE(send->sequence.has_value());
  EXPECT_EQ(send->sequence->connection_id, FromHex(vectors::kConnectionId));
  EXPECT_EQ(send->sequence->sequence, 1u);
  // The payload is the client's ICE check: RFC 8489 STUN inside an MS-TURN Send.
  EXPECT_EQ(DetectDialect(send->data), Dialect::kRfc8489);
  EXPECT_TRUE(stun::StunMessage::Parse(send->data).ok());
  EXPECT_FALSE(ReadAllocateRequest(*message).ok());  // wrong type
}

TEST(MsTurnLibnice, SetActiveDestinationRequestAndAnswer) {
  const std::string bytes = FromHex(vectors::kSetActiveDestinationRequest);
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_TRUE(VerifyMessageIntegrity(*message, Key()).ok());
  auto request = ReadSetActiveDestinationRequest(*message);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->destination, Loopback(vectors::kPeerPort));
  EXPECT_EQ(request->username, vectors::kUsername);
  ASSERT_TRUE(request->sequence.has_value());
  EXPECT_GT(request->sequence->sequence, 1u);

  auto answer = EncodeSetActiveDestinationSuccess(message->transaction_id(), 1, Key());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(*answer, FromHex(vectors::kSetActiveDestinationSuccess));
  auto error = EncodeSetActiveDestinationError(message->transaction_id(), 403, "Forbidden", Key());
  ASSERT_TRUE(error.ok());
  auto parsed = MsTurnMessage::Parse(*error);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->message_type(), type::kSetActiveDestinationErrorResponse);
  EXPECT_TRUE(VerifyMessageIntegrity(*parsed, Key()).ok());
}

TEST(MsTurnLibnice, DataIndicationAppendedByteForByteWithoutAllocatingPerPacket) {
  const std::string expected = FromHex(vectors::kDataIndication);
  auto parsed = MsTurnMessage::Parse(expected);
  ASSERT_TRUE(parsed.ok());
  auto indication = ReadDataIndication(*parsed);
  ASSERT_TRUE(indication.ok()) << indication.status();
  EXPECT_EQ(indication->remote, Loopback(vectors::kPeerPort));
  EXPECT_EQ(indication->data, "hello before active destination");

  std::string out;
  out.reserve(256);
  const char* storage = out.data();
  ASSERT_TRUE(AppendDataIndication(parsed->transaction_id(), indication->remote, indication->data,
                                   out));
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.data(), storage);  // appended into the caller's reserved buffer
  out.clear();
  ASSERT_TRUE(AppendDataIndication(parsed->transaction_id(), indication->remote, indication->data,
                                   out));
  EXPECT_EQ(out.data(), storage);
}

// --- Detection ----------------------------------------------------------------------------------

TEST(MsTurnDialect, TellsMsTurnFromRfc8489AndData) {
  stun::TransactionId rfc_id{};
  stun::StunMessageBuilder rfc(stun::method::kAllocate, stun::StunClass::kRequest, rfc_id);
  rfc.AddRequestedTransport(17);
  const std::string rfc_bytes = std::move(rfc).Finish().value();
  EXPECT_EQ(DetectDialect(rfc_bytes), Dialect::kRfc8489);
  EXPECT_FALSE(MsTurnMessage::Parse(rfc_bytes).ok());

  std::string channel_data;
  stun::AppendChannelData(0x4000, "media", stun::Framing::kDatagram, channel_data);
  EXPECT_EQ(DetectDialect(channel_data), Dialect::kNone);
  std::string rtp(24, 'r');
  rtp[0] = static_cast<char>(0x80);  // RTP version 2
  EXPECT_EQ(DetectDialect(rtp), Dialect::kNone);
  EXPECT_EQ(DetectDialect(""), Dialect::kNone);

  // An MS-TURN transaction id that starts with the RFC 8489 cookie is still MS-TURN.
  TransactionId id{0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  MsTurnMessageBuilder builder(type::kAllocateRequest, id);
  builder.AddUint32(attr::kMsVersion, 1);
  const std::string ms = std::move(builder).Finish().value();
  EXPECT_TRUE(stun::LooksLikeStun(ms));
  EXPECT_EQ(DetectDialect(ms), Dialect::kMsTurn);
}

// --- Malformed input ---------------------------------------------------------------------------

TEST(MsTurnParse, EveryTruncationOfEveryVectorIsRejected) {
  for (const char* hex : {vectors::kAllocateRequest, vectors::kAllocateUnauthorized,
                          vectors::kAllocateRequestAuthenticated, vectors::kAllocateSuccess,
                          vectors::kSendRequest, vectors::kSetActiveDestinationRequest,
                          vectors::kSetActiveDestinationSuccess, vectors::kDataIndication}) {
    const std::string bytes = FromHex(hex);
    ASSERT_TRUE(MsTurnMessage::Parse(bytes).ok()) << hex;
    for (size_t size = 0; size < bytes.size(); ++size) {
      EXPECT_FALSE(MsTurnMessage::Parse(std::string_view(bytes).substr(0, size)).ok())
          << hex << " at " << size;
    }
  }
}

TEST(MsTurnParse, HeaderAndFramingErrors) {
  const std::string good = FromHex(vectors::kAllocateRequestAuthenticated);
  std::string top_bits = good;
  top_bits[0] = static_cast<char>(0x40);
  EXPECT_FALSE(MsTurnMessage::Parse(top_bits).ok());
  std::string no_cookie = good;
  no_cookie[24] ^= 1;  // MAGIC-COOKIE value
  EXPECT_FALSE(MsTurnMessage::Parse(no_cookie).ok());
  EXPECT_EQ(DetectDialect(no_cookie), Dialect::kNone);
  std::string long_length = good + "x";
  EXPECT_FALSE(MsTurnMessage::Parse(long_length).ok());
  std::string overrun = good;
  overrun[good.size() - 22] = 0x7F;  // MESSAGE-INTEGRITY length high byte
  EXPECT_FALSE(MsTurnMessage::Parse(overrun).ok());

  MsTurnLimits small;
  small.max_message_bytes = good.size() - 1;
  EXPECT_TRUE(absl::IsResourceExhausted(MsTurnMessage::Parse(good, small).status()));
  MsTurnLimits few;
  few.max_attributes = 3;
  EXPECT_TRUE(absl::IsResourceExhausted(MsTurnMessage::Parse(good, few).status()));
}

TEST(MsTurnParse, PaddedSenderIsReadToo) {
  TransactionId id{};
  id[15] = 7;
  // Built by hand with RFC 8489 padding: USERNAME "alice" + 3 bytes, then LIFETIME.
  std::string bytes = FromHex("00030018") + std::string(reinterpret_cast<char*>(id.data()), 16) +
                      FromHex("000f000472c64bc6") + FromHex("00060005") + "alice" +
                      std::string(3, '\0') + FromHex("000d000400000258");
  bytes[3] = static_cast<char>(bytes.size() - 20);
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_TRUE(message->padded());
  EXPECT_EQ(message->FindValue(attr::kUsername), "alice");
  EXPECT_EQ(stun::ReadUint32(*message->FindValue(attr::kLifetime)).value(), 600u);
}

TEST(MsTurnParse, UnknownRequiredListedAndAttributesAfterIntegrityIgnored) {
  TransactionId id{};
  MsTurnMessageBuilder builder(type::kAllocateRequest, id);
  builder.AddAttribute(0x0019, std::string(4, '\0'));  // RFC 8656 REQUESTED-TRANSPORT: unknown
  builder.AddAttribute(0x8022, "optional is fine");
  builder.AddMessageIntegrity(Key());
  std::string bytes = std::move(builder).Finish().value();
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok());
  EXPECT_THAT(message->unknown_required(), ElementsAre(0x0019));
  EXPECT_TRUE(VerifyMessageIntegrity(*message, Key()).ok());

  const std::string trailer = FromHex("000d000400000001");  // LIFETIME after MI
  bytes += trailer;
  bytes[3] = static_cast<char>(bytes[3] + trailer.size());
  auto with_trailer = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(with_trailer.ok());
  EXPECT_EQ(with_trailer->Find(attr::kLifetime), nullptr);
}

TEST(MsTurnIntegrity, Sha256VariantRoundTrips) {
  TransactionId id{};
  id[0] = 9;
  MsTurnMessageBuilder builder(type::kSetActiveDestinationResponse, id);
  builder.AddUint32(attr::kMsVersion, 3);
  builder.AddMessageIntegrity(Key(), IntegrityDigest::kSha256);
  const std::string bytes = std::move(builder).Finish().value();
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok());
  EXPECT_EQ(message->FindValue(attr::kMessageIntegrity)->size(), 32u);
  EXPECT_TRUE(VerifyMessageIntegrity(*message, Key()).ok());
  EXPECT_FALSE(VerifyMessageIntegrity(*message, "other").ok());
}

TEST(MsTurnReaders, RejectBadValues) {
  TransactionId id{};
  EXPECT_FALSE(ReadMsXorAddress("\x00\x01\x00", id).ok());
  EXPECT_FALSE(ReadMsXorAddress(std::string("\x00\x03\x00\x00\x00\x00\x00\x00", 8), id).ok());
  EXPECT_FALSE(ReadMsSequenceNumber(std::string(23, 'x')).ok());
  EXPECT_FALSE(ReadRequestedAddressFamily(std::string("\x03\x00\x00\x00", 4)).ok());
  EXPECT_EQ(ReadRequestedAddressFamily(std::string("\x02\x00\x00\x00", 4)).value(), 2);

  const NetAddress v6 = *NetAddress::Parse("[2001:db8::1]:3478");
  id[3] = 0x55;
  MsTurnMessageBuilder builder(type::kAllocateResponse, id);
  builder.AddMsXorAddress(attr::kXorMappedAddress, v6);
  builder.AddAttribute(attr::kRealm, std::string(kMaxRealmBytes + 1, 'r'));
  const std::string bytes = std::move(builder).Finish().value();
  auto message = MsTurnMessage::Parse(bytes);
  ASSERT_TRUE(message.ok());
  EXPECT_EQ(ReadMsXorAddress(*message->FindValue(attr::kXorMappedAddress), id).value(), v6);

  MsTurnMessageBuilder sad(type::kSetActiveDestinationRequest, id);
  sad.AddAddress(attr::kDestinationAddress, NetAddress::V4(0, 0));
  sad.AddAttribute(attr::kRealm, std::string(kMaxRealmBytes + 1, 'r'));
  const std::string sad_bytes = std::move(sad).Finish().value();
  auto bad_realm = MsTurnMessage::Parse(sad_bytes);
  ASSERT_TRUE(bad_realm.ok());
  EXPECT_FALSE(ReadSetActiveDestinationRequest(*bad_realm).ok());

  MsTurnMessageBuilder clear(type::kSetActiveDestinationRequest, id);
  clear.AddAddress(attr::kDestinationAddress, NetAddress::V4(0, 0));
  const std::string clear_bytes = std::move(clear).Finish().value();
  auto cleared = MsTurnMessage::Parse(clear_bytes);
  ASSERT_TRUE(cleared.ok());
  auto request = ReadSetActiveDestinationRequest(*cleared);
  ASSERT_TRUE(request.ok());
  EXPECT_FALSE(request->destination.has_value());

  MsTurnMessageBuilder send(type::kSendRequest, id);
  send.AddAttribute(attr::kData, "no destination");
  const std::string send_bytes = std::move(send).Finish().value();
  EXPECT_FALSE(ReadSendRequest(MsTurnMessage::Parse(send_bytes).value()).ok());
}

TEST(MsTurnEncode, OverflowIsAnError) {
  TransactionId id{};
  MsTurnMessageBuilder builder(type::kSendRequest, id);
  builder.AddAttribute(attr::kData, std::string(0x10000, 'x'));
  EXPECT_FALSE(std::move(builder).Finish().ok());
  std::string out;
  EXPECT_FALSE(AppendDataIndication(id, Loopback(1), std::string(0xFFF0, 'x'), out));
  EXPECT_TRUE(out.empty());
  AllocateChallenge challenge;
  challenge.code = 200;
  EXPECT_FALSE(EncodeAllocateError(id, challenge).ok());
  AllocateSuccess success;
  success.connection_id = "short";
  EXPECT_FALSE(EncodeAllocateSuccess(id, success, Key()).ok());
}

// --- TCP framing ([MS-TURN] 2.1.4) -------------------------------------------------------------

TEST(MsTurnTcp, FramesControlAndData) {
  const std::string message = FromHex(vectors::kAllocateRequest);
  std::string stream;
  AppendTcpFrame(TcpFrameType::kControl, message, stream);
  AppendTcpFrame(TcpFrameType::kData, "rtp", stream);
  auto first = ParseTcpFrame(stream);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->type, TcpFrameType::kControl);
  EXPECT_EQ(first->payload, message);
  auto second = ParseTcpFrame(std::string_view(stream).substr(first->frame_bytes));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->type, TcpFrameType::kData);
  EXPECT_EQ(second->payload, "rtp");
  EXPECT_EQ(first->frame_bytes + second->frame_bytes, stream.size());

  for (size_t size = 0; size < first->frame_bytes; ++size) {
    const auto partial = ParseTcpFrame(std::string_view(stream).substr(0, size));
    EXPECT_TRUE(absl::IsUnavailable(partial.status())) << size;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(ParseTcpFrame(std::string("\x01\x00\x00\x00", 4)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseTcpFrame(std::string("\x02\x01\x00\x00", 4)).status()));
}

TEST(MsTurnTcp, LibniceFrames) {
  const std::string control = FromHex(vectors::kTcpControlFrame);
  auto frame = ParseTcpFrame(control);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->type, TcpFrameType::kControl);
  EXPECT_EQ(frame->frame_bytes, control.size());
  EXPECT_EQ(DetectDialect(frame->payload), Dialect::kMsTurn);
  auto message = MsTurnMessage::Parse(frame->payload);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->message_type(), type::kAllocateRequest);

  const std::string data = FromHex(vectors::kTcpDataFrameFromClient);
  auto media = ParseTcpFrame(data);
  ASSERT_TRUE(media.ok()) << media.status();
  EXPECT_EQ(media->type, TcpFrameType::kData);
  EXPECT_EQ(media->payload.substr(2), "media after active destination");
  EXPECT_EQ(DetectDialect(media->payload), Dialect::kNone);
}

}  // namespace
}  // namespace causeway::msturn
