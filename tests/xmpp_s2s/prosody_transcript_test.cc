// Prosody 0.12 s2s transcripts, both directions: what Prosody sends when it opens a stream to us
// (fed to a receiving machine, byte by byte) and what it answers when we open one to it (fed to
// an initiating machine). Written from Prosody's stream headers, features and SASL/dialback
// elements as it emits them (single quotes, xmlns:db on every header, xml:lang='en').

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "tests/xmpp_s2s/harness.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/s2s/dialback.h"
#include "xmpp/s2s/s2s_stream.h"

namespace causeway::xmpp::s2s {
namespace {

using testing::Message;
using testing::Peer;
using testing::SelfSignedCert;
using testing::ValidCert;
using State = S2sStream::State;

// Prosody opening a stream to lync.test (as initiating server: no id).
constexpr std::string_view kProsodyOpens =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
    "version='1.0' from='xmpp.test' to='lync.test' xml:lang='en'>";
constexpr std::string_view kProsodyStartTls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

// Prosody answering our stream to xmpp.test (as receiving server).
std::string ProsodyAnswers(std::string_view id) {
  return "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
         "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
         "version='1.0' from='xmpp.test' to='lync.test' id='" +
         std::string(id) + "' xml:lang='en'>";
}
constexpr std::string_view kProsodyTlsFeatures =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "</stream:features>";

S2sConfig LyncConfig() {
  S2sConfig config;
  config.local_domains = {"lync.test"};
  config.dialback_secret = "lync-secret";
  config.stream_id_source = [] { return std::string("our-stream-id"); };
  return config;
}

// Feeds one byte at a time, as the slowest network would; stops where TLS takes over.
size_t FeedBytewise(S2sStream& stream, std::string_view input) {
  size_t used = 0;
  while (used < input.size()) {
    size_t n = stream.Feed(input.substr(used, 1));
    if (n == 0) break;
    used += n;
  }
  return used;
}

TEST(ProsodyTranscriptTest, ProsodyConnectsToUsWithSaslExternal) {
  SimulatedClock clock;
  Peer us;
  us.stream = S2sStream::Receiving(LyncConfig(), us, clock);
  us.stream->Start();

  const std::string before_tls = std::string(kProsodyOpens) + std::string(kProsodyStartTls);
  EXPECT_EQ(FeedBytewise(*us.stream, before_tls), before_tls.size());
  EXPECT_EQ(us.tls_roles, std::vector<TlsRole>{TlsRole::kServer});
  EXPECT_TRUE(us.transcript.find("from='lync.test' to='xmpp.test' id='our-stream-id'") !=
              std::string::npos);
  EXPECT_TRUE(us.transcript.find("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") !=
              std::string::npos);

  us.stream->OnTlsEstablished(ValidCert("xmpp.test"));
  const std::string after_tls =
      std::string(kProsodyOpens) +
      // Prosody names its domain as authzid: base64("xmpp.test").
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>eG1wcC50ZXN0</auth>" +
      std::string(kProsodyOpens) +
      "<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat' id='m-1' "
      "xml:lang='en'><body>Hi</body><active xmlns='http://jabber.org/protocol/chatstates'/>"
      "</message> \n"
      "<presence from='bob@xmpp.test/phone' to='alice@lync.test'><show>away</show></presence>"
      "</stream:stream>";
  FeedBytewise(*us.stream, after_tls);

  EXPECT_TRUE(us.transcript.find("<mechanism>EXTERNAL</mechanism>") != std::string::npos);
  EXPECT_TRUE(us.transcript.find("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>") !=
              std::string::npos);
  ASSERT_EQ(us.authenticated.size(), 1u);
  EXPECT_EQ(us.authenticated[0].first, (DomainPair{"lync.test", "xmpp.test"}));
  ASSERT_EQ(us.received.size(), 2u);
  EXPECT_EQ(KindOf(us.received[0].first), StanzaKind::kMessage);
  EXPECT_EQ(us.received[0].first.ChildText("jabber:server", "body"), "Hi");
  EXPECT_EQ(KindOf(us.received[1].first), StanzaKind::kPresence);
  ASSERT_TRUE(us.closed);
  EXPECT_EQ(us.closed->origin, CloseOrigin::kRemote);
  EXPECT_FALSE(us.closed->condition);
  EXPECT_EQ(us.transcript.substr(us.transcript.size() - 16), "</stream:stream>");
}

TEST(ProsodyTranscriptTest, ProsodyConnectsToUsWithDialback) {
  SimulatedClock clock;
  Peer us;
  us.stream = S2sStream::Receiving(LyncConfig(), us, clock);
  us.stream->Start();
  us.stream->Feed(std::string(kProsodyOpens) + std::string(kProsodyStartTls));
  us.stream->OnTlsEstablished(SelfSignedCert("xmpp.test"));  // not trusted: no EXTERNAL
  FeedBytewise(*us.stream,
               std::string(kProsodyOpens) +
                   "<db:result from='xmpp.test' to='lync.test'>"
                   "c5a1c1e0f0e2c9b8d8e5a7f3b1c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8</db:result>");
  EXPECT_TRUE(us.transcript.find("EXTERNAL") == std::string::npos);
  ASSERT_EQ(us.verify_needed.size(), 1u);
  EXPECT_EQ(
      us.verify_needed[0],
      (DialbackVerifyRequest{"lync.test", "xmpp.test", "our-stream-id",
                             "c5a1c1e0f0e2c9b8d8e5a7f3b1c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8"}));
  ASSERT_TRUE(
      us.stream->ApplyDialbackVerifyResult({"lync.test", "xmpp.test", "our-stream-id", true}).ok());
  EXPECT_TRUE(us.transcript.find("<db:result from='lync.test' to='xmpp.test' type='valid'/>") !=
              std::string::npos);
  us.stream->Feed("<message from='bob@xmpp.test' to='alice@lync.test'><body>x</body></message>");
  EXPECT_EQ(us.received.size(), 1u);
  EXPECT_EQ(us.authenticated[0].second, AuthMethod::kDialback);
}

TEST(ProsodyTranscriptTest, WeConnectToProsodyWithSaslExternal) {
  SimulatedClock clock;
  Peer us;
  us.stream = S2sStream::Initiating(LyncConfig(), "lync.test", "xmpp.test", us, clock).value();
  ASSERT_TRUE(us.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "queued")).ok());
  us.stream->Start();
  FeedBytewise(*us.stream, ProsodyAnswers("c0ffee-1") + std::string(kProsodyTlsFeatures));
  EXPECT_TRUE(us.transcript.find("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") !=
              std::string::npos);
  const std::string proceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
  EXPECT_EQ(FeedBytewise(*us.stream, proceed + "\x16\x03\x01"), proceed.size());
  EXPECT_EQ(us.tls_roles, std::vector<TlsRole>{TlsRole::kClient});
  us.stream->OnTlsEstablished(ValidCert("xmpp.test"));
  FeedBytewise(*us.stream,
               ProsodyAnswers("c0ffee-2") +
                   "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                   "<mechanism>EXTERNAL</mechanism></mechanisms>"
                   "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>"
                   "</stream:features>");
  EXPECT_TRUE(us.transcript.find("mechanism='EXTERNAL'>=</auth>") != std::string::npos);
  EXPECT_TRUE(us.authenticated.empty());
  FeedBytewise(*us.stream, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
                               ProsodyAnswers("c0ffee-3") + "<stream:features/>");
  ASSERT_EQ(us.authenticated.size(), 1u);
  EXPECT_EQ(us.authenticated[0].second, AuthMethod::kSaslExternal);
  EXPECT_EQ(us.stream->stream_id(), "c0ffee-3");
  // The queued stanza followed the fourth header we sent.
  size_t last_header = us.transcript.rfind("<stream:stream");
  size_t message = us.transcript.find("<message from='alice@lync.test' to='bob@xmpp.test'");
  ASSERT_NE(message, std::string::npos);
  EXPECT_LT(last_header, message);
}

TEST(ProsodyTranscriptTest, WeConnectToProsodyWithDialback) {
  SimulatedClock clock;
  Peer us;
  us.stream = S2sStream::Initiating(LyncConfig(), "lync.test", "xmpp.test", us, clock).value();
  us.stream->Start();
  us.stream->Feed(ProsodyAnswers("p-1") + std::string(kProsodyTlsFeatures));
  us.stream->Feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  us.stream->OnTlsEstablished(SelfSignedCert("xmpp.test"));
  // Prosody does not trust our certificate: dialback only.
  us.stream->Feed(ProsodyAnswers("p-2") +
                  "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/>"
                  "</dialback></stream:features>");
  const std::string key = DialbackKey("lync-secret", "xmpp.test", "lync.test", "p-2");
  EXPECT_TRUE(us.transcript.find("<db:result from='lync.test' to='xmpp.test'>" + key +
                                 "</db:result>") != std::string::npos);
  us.stream->Feed("<db:result from='xmpp.test' to='lync.test' type='valid'/>");
  ASSERT_EQ(us.authenticated.size(), 1u);
  EXPECT_EQ(us.authenticated[0].second, AuthMethod::kDialback);
  // Prosody's answer to a verification we asked for on this stream.
  ASSERT_TRUE(us.stream->SendDialbackVerify({"lync.test", "xmpp.test", "their-id", "k"}).ok());
  EXPECT_TRUE(us.transcript.find("<db:verify from='lync.test' to='xmpp.test' id='their-id'>k"
                                 "</db:verify>") != std::string::npos);
  us.stream->Feed("<db:verify from='xmpp.test' to='lync.test' id='their-id' type='invalid'/>");
  ASSERT_EQ(us.verify_answered.size(), 1u);
  EXPECT_EQ(us.verify_answered[0],
            (DialbackVerifyResult{"lync.test", "xmpp.test", "their-id", false}));
}

TEST(ProsodyTranscriptTest, ProsodyStreamErrorIsReported) {
  SimulatedClock clock;
  Peer us;
  us.stream = S2sStream::Initiating(LyncConfig(), "lync.test", "xmpp.test", us, clock).value();
  us.stream->Start();
  us.stream->Feed(ProsodyAnswers("e-1") +
                  "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                  "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>This server does not serve "
                  "xmpp.test</text></stream:error></stream:stream>");
  ASSERT_TRUE(us.closed);
  EXPECT_EQ(us.closed->origin, CloseOrigin::kRemote);
  EXPECT_EQ(us.closed->condition, StreamErrorCondition::kHostUnknown);
  EXPECT_NE(us.closed->reason.find("does not serve"), std::string::npos);
  EXPECT_EQ(us.closed_calls, 1);
}

}  // namespace
}  // namespace causeway::xmpp::s2s
