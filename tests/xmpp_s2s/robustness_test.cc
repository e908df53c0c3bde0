// Mutated, truncated and re-chunked s2s streams (built from Prosody-style transcripts) fed to
// both kinds of machine. Whatever arrives: the stream reports its close at most once, writes
// nothing after it, delivers stanzas only from pairs it authenticated, and authenticates an
// inbound pair only by the certificate or by a dialback answer from its owner.

#include <random>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "tests/xmpp_s2s/harness.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/s2s/s2s_stream.h"

namespace causeway::xmpp::s2s {
namespace {

using testing::Peer;
using testing::ValidCert;

constexpr std::string_view kOpen =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
    "version='1.0' from='xmpp.test' to='lync.test' xml:lang='en'>";

std::string InboundTranscript() {
  std::string s(kOpen);
  s += "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
  s += kOpen;
  s += "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>eG1wcC50ZXN0</auth>";
  s += kOpen;
  s += "<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat'><body>Hi</body>"
       "</message> \n";
  s += "<iq from='xmpp.test' to='lync.test' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>";
  s += "<db:result from='conf.xmpp.test' to='lync.test'>abcdef</db:result>";
  s += "<db:verify from='xmpp.test' to='lync.test' id='x1'>abcdef</db:verify>";
  // conf.xmpp.test is still being verified: this one ends the stream with invalid-from.
  s += "<presence from='room@conf.xmpp.test/nick' to='alice@lync.test'/>";
  s += "</stream:stream>";
  return s;
}

std::string OutboundTranscript() {
  std::string answer =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='xmpp.test' to='lync.test' id='ID' xml:lang='en'>";
  std::string s = answer;
  s += "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
       "</starttls></stream:features><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
  s += answer;
  s += "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>"
       "EXTERNAL</mechanism></mechanisms><dialback xmlns='urn:xmpp:features:dialback'><errors/>"
       "</dialback></stream:features><failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
       "<not-authorized/></failure>";
  s += "<db:result from='xmpp.test' to='lync.test' type='valid'/>";
  s += "<db:verify from='xmpp.test' to='lync.test' id='v1' type='valid'/>";
  s += "</stream:stream>";
  return s;
}

std::string Mutate(std::string s, std::mt19937& rng) {
  static constexpr std::string_view kAlphabet = "<>/='\" xmlns:db\x01\xff";
  const int mutations = std::uniform_int_distribution<int>(1, 3)(rng);
  for (int m = 0; m < mutations && !s.empty(); ++m) {
    size_t at = std::uniform_int_distribution<size_t>(0, s.size() - 1)(rng);
    size_t len = std::uniform_int_distribution<size_t>(1, 24)(rng);
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
      case 0:
        s[at] = kAlphabet[std::uniform_int_distribution<size_t>(0, kAlphabet.size() - 1)(rng)];
        break;
      case 1:
        s.erase(at, len);
        break;
      case 2:
        s.insert(at, s.substr(at, len));
        break;
      default:
        s.resize(at);  // truncated
        break;
    }
  }
  return s;
}

// Feeds `input` in random chunks, completing TLS whenever the machine asks for it.
void FeedAll(S2sStream& stream, std::string_view input, std::mt19937& rng) {
  for (int guard = 0; guard < 100000 && !input.empty(); ++guard) {
    if (stream.state() == S2sStream::State::kTlsHandshake) {
      stream.OnTlsEstablished(ValidCert("xmpp.test"));
      continue;
    }
    size_t chunk = std::uniform_int_distribution<size_t>(1, 40)(rng);
    size_t used = stream.Feed(input.substr(0, std::min(chunk, input.size())));
    input.remove_prefix(used);
    if (used == 0 && stream.state() != S2sStream::State::kTlsHandshake) break;
  }
}

void CheckInvariants(const Peer& peer) {
  EXPECT_LE(peer.closed_calls, 1);
  if (peer.closed) {
    EXPECT_EQ(peer.transcript.size(), peer.transcript_at_close);
  }
  for (const auto& [stanza, pair] : peer.received) {
    bool authenticated = false;
    for (const auto& [p, method] : peer.authenticated) authenticated |= p == pair;
    EXPECT_TRUE(authenticated) << pair.remote;
    absl::StatusOr<Jid> from = StanzaFromJid(stanza);
    ASSERT_TRUE(from.ok());
    EXPECT_EQ(from->domain(), pair.remote);
  }
}

S2sConfig LyncConfig() {
  S2sConfig config;
  config.local_domains = {"lync.test"};
  config.dialback_secret = "lync-secret";
  return config;
}

TEST(RobustnessTest, MutatedInboundStreams) {
  std::mt19937 rng(20261207);
  const std::string transcript = InboundTranscript();
  int closed_with_error = 0;
  for (int i = 0; i < 2000; ++i) {
    SimulatedClock clock;
    Peer us;
    us.stream = S2sStream::Receiving(LyncConfig(), us, clock);
    us.stream->Start();
    const std::string input = i == 0 ? transcript : Mutate(transcript, rng);
    FeedAll(*us.stream, input, rng);
    CheckInvariants(us);
    // Nobody answers dialback here: only the certificate can authenticate, and only xmpp.test.
    for (const auto& [pair, method] : us.authenticated) {
      EXPECT_EQ(method, AuthMethod::kSaslExternal);
      EXPECT_EQ(pair.remote, "xmpp.test");
    }
    if (i == 0) {  // the unmutated stream: both stanzas from xmpp.test, then the spoof's end
      EXPECT_EQ(us.received.size(), 2u);
      EXPECT_EQ(us.verify_needed.size(), 1u);
      EXPECT_NE(us.transcript.find("id='x1' type='invalid'"), std::string::npos);
      ASSERT_TRUE(us.closed);
      EXPECT_EQ(us.closed->condition, StreamErrorCondition::kInvalidFrom);
    }
    if (us.closed && us.closed->condition) ++closed_with_error;
  }
  EXPECT_GT(closed_with_error, 100);  // the mutations do reach the error paths
}

TEST(RobustnessTest, MutatedOutboundStreams) {
  std::mt19937 rng(7);
  const std::string transcript = OutboundTranscript();
  for (int i = 0; i < 2000; ++i) {
    SimulatedClock clock;
    Peer us;
    us.stream = S2sStream::Initiating(LyncConfig(), "lync.test", "xmpp.test", us, clock).value();
    ASSERT_TRUE(us.stream->Send(testing::Message("a@lync.test", "b@xmpp.test", "x")).ok());
    us.stream->Start();
    FeedAll(*us.stream, i == 0 ? transcript : Mutate(transcript, rng), rng);
    CheckInvariants(us);
    if (i == 0) {  // SASL refused, dialback accepted, the queued stanza written, clean close
      ASSERT_EQ(us.authenticated.size(), 1u);
      EXPECT_EQ(us.authenticated[0].second, AuthMethod::kDialback);
      ASSERT_TRUE(us.closed);
      EXPECT_TRUE(us.unsent.empty());
    }
    // A stanza is either written after authentication or handed back: never lost.
    const bool written = us.transcript.find("<message") != std::string::npos;
    if (us.closed) {
      EXPECT_NE(written, us.unsent.size() == 1u) << i;
    }
    if (written) {
      EXPECT_FALSE(us.authenticated.empty());
    }
  }
}

}  // namespace
}  // namespace causeway::xmpp::s2s
