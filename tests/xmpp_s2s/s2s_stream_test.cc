// S2sStream: an initiating and a receiving machine wired to each other in memory (TLS simulated by
// calling OnTlsEstablished with chosen certificate info), the dialback verify round trip through
// the authoritative server's machines, refusals, addressing errors, timeouts.

#include "xmpp/s2s/s2s_stream.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xmpp_s2s/harness.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/s2s/dialback.h"

namespace causeway::xmpp::s2s {
namespace {

using testing::Link;
using testing::Message;
using testing::Peer;
using testing::Pump;
using testing::SelfSignedCert;
using testing::ValidCert;
using State = S2sStream::State;

S2sConfig ConfigFor(std::string domain, std::string secret, std::string id_prefix) {
  S2sConfig config;
  config.local_domains = {std::move(domain)};
  config.dialback_secret = std::move(secret);
  auto counter = std::make_shared<int>(0);
  config.stream_id_source = [counter, id_prefix] { return id_prefix + std::to_string(++*counter); };
  return config;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

class S2sStreamTest : public ::testing::Test {
 protected:
  // lync.test (us) opens a stream to xmpp.test.
  void Open(TlsInfo lync_cert, TlsInfo xmpp_cert, bool start = true) {
    a.stream = S2sStream::Initiating(lync, "lync.test", "xmpp.test", a, clock).value();
    b.stream = S2sStream::Receiving(xmpp, b, clock);
    ab.initiating_cert = std::move(lync_cert);
    ab.receiving_cert = std::move(xmpp_cert);
    if (start) {
      a.stream->Start();
      b.stream->Start();
      Pump({&ab});
    }
  }

  // Opens a SASL EXTERNAL stream and checks it reached the authenticated state.
  void OpenAuthenticated() {
    Open(ValidCert("lync.test"), ValidCert("xmpp.test"));
    ASSERT_EQ(a.stream->state(), State::kAuthenticated);
    ASSERT_EQ(b.stream->state(), State::kAuthenticated);
  }

  S2sConfig lync = ConfigFor("lync.test", "lync-secret", "lync-");
  S2sConfig xmpp = ConfigFor("xmpp.test", "xmpp-secret", "xmpp-");
  SimulatedClock clock;
  Peer a;  // initiating, lync.test -> xmpp.test
  Peer b;  // receiving, xmpp.test
  Link ab{&a, &b, {}, {}};
};

TEST_F(S2sStreamTest, SaslExternalFullPath) {
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"));

  EXPECT_TRUE(ab.tls_done);
  EXPECT_EQ(a.tls_roles, std::vector<TlsRole>{TlsRole::kClient});
  EXPECT_EQ(b.tls_roles, std::vector<TlsRole>{TlsRole::kServer});
  ASSERT_EQ(a.authenticated.size(), 1u);
  EXPECT_EQ(a.authenticated[0].first, (DomainPair{"lync.test", "xmpp.test"}));
  EXPECT_EQ(a.authenticated[0].second, AuthMethod::kSaslExternal);
  ASSERT_EQ(b.authenticated.size(), 1u);
  EXPECT_EQ(b.authenticated[0].first, (DomainPair{"xmpp.test", "lync.test"}));
  EXPECT_EQ(b.authenticated[0].second, AuthMethod::kSaslExternal);
  EXPECT_TRUE(a.stream->tls_active());
  EXPECT_TRUE(b.stream->tls_active());

  // The wire: STARTTLS required, then EXTERNAL offered, "=" as the empty initial response,
  // three stream headers from each side with a new id for each of the receiver's.
  EXPECT_TRUE(Contains(b.transcript,
                       "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                       "<required/></starttls>"));
  EXPECT_TRUE(Contains(b.transcript, "<mechanism>EXTERNAL</mechanism>"));
  EXPECT_TRUE(Contains(a.transcript,
                       "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                       "mechanism='EXTERNAL'>=</auth>"));
  EXPECT_TRUE(Contains(b.transcript, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
  for (std::string_view id : {"id='xmpp-1'", "id='xmpp-2'", "id='xmpp-3'"}) {
    EXPECT_TRUE(Contains(b.transcript, id)) << id;
  }
  EXPECT_FALSE(Contains(b.transcript, "id='xmpp-4'"));
  EXPECT_EQ(a.stream->stream_id(), "xmpp-3");
  EXPECT_TRUE(Contains(a.transcript, "from='lync.test' to='xmpp.test'"));
  EXPECT_TRUE(Contains(b.transcript, "xmlns:db='jabber:server:dialback'"));

  // Stanzas flow, in order, with their pair.
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test/pc", "bob@xmpp.test", "one")).ok());
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test/pc", "bob@xmpp.test", "two")).ok());
  Pump({&ab});
  ASSERT_EQ(b.received.size(), 2u);
  EXPECT_EQ(b.received[0].first.ChildText("jabber:server", "body"), "one");
  EXPECT_EQ(b.received[1].first.ChildText("jabber:server", "body"), "two");
  EXPECT_EQ(b.received[0].second, (DomainPair{"xmpp.test", "lync.test"}));
  EXPECT_EQ(StanzaFrom(b.received[0].first), "alice@lync.test/pc");

  // Closing handshake both ways.
  a.stream->Close("idle");
  EXPECT_EQ(a.stream->state(), State::kClosing);
  Pump({&ab});
  ASSERT_TRUE(a.closed && b.closed);
  EXPECT_EQ(a.closed->origin, CloseOrigin::kLocal);
  EXPECT_FALSE(a.closed->condition);
  EXPECT_EQ(b.closed->origin, CloseOrigin::kRemote);
  EXPECT_FALSE(b.closed->condition);
  EXPECT_TRUE(Contains(a.transcript, "</stream:stream>"));
  EXPECT_TRUE(Contains(b.transcript, "</stream:stream>"));
  EXPECT_EQ(a.closed_calls, 1);
  EXPECT_EQ(b.closed_calls, 1);
}

TEST_F(S2sStreamTest, SaslAuthzidFormAccepted) {
  lync.sasl_send_authzid = true;  // Prosody's form: base64 of the originating domain
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"));
  EXPECT_TRUE(Contains(a.transcript, "mechanism='EXTERNAL'>bHluYy50ZXN0</auth>"));
  ASSERT_EQ(b.authenticated.size(), 1u);
  EXPECT_EQ(b.authenticated[0].second, AuthMethod::kSaslExternal);
}

TEST_F(S2sStreamTest, CertificateForAnotherDomainGetsDialbackNotExternal) {
  // A verified chain for the wrong name: EXTERNAL is not offered; dialback takes over.
  Open(ValidCert("other.test"), ValidCert("xmpp.test"));
  EXPECT_FALSE(Contains(b.transcript, "EXTERNAL"));
  EXPECT_EQ(a.stream->state(), State::kAwaitDialback);
  ASSERT_EQ(b.verify_needed.size(), 1u);
}

// The full XEP-0220 flow with four machines: lync.test's outbound stream (a) to xmpp.test's
// inbound stream (b); xmpp.test asks lync.test's authoritative server over its own outbound stream
// (c) to lync.test's inbound stream (d), which recomputes the key.
class DialbackTest : public S2sStreamTest {
 protected:
  // Creates the four machines and the owners' glue; StartAll() runs them.
  void CreateAll(const S2sConfig& authoritative) {
    c.stream = S2sStream::Initiating(xmpp, "xmpp.test", "lync.test", c, clock).value();
    d.stream = S2sStream::Receiving(authoritative, d, clock);
    cd.initiating_cert = ValidCert("xmpp.test");
    cd.receiving_cert = ValidCert("lync.test");
    // xmpp.test's owner: pass verify requests to the outbound stream, results back.
    b.on_verify_needed = [this](const DialbackVerifyRequest& request) {
      if (c.stream->state() == State::kIdle) c.stream->Start();
      ASSERT_TRUE(c.stream->SendDialbackVerify(request).ok());
    };
    c.on_verify_answered = [this](const DialbackVerifyResult& result) {
      ASSERT_TRUE(b.stream->ApplyDialbackVerifyResult(result).ok());
    };
    // lync.test's certificate does not verify at xmpp.test: dialback instead of EXTERNAL.
    Open(SelfSignedCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  }

  void StartAll() {
    d.stream->Start();
    a.stream->Start();
    b.stream->Start();
    Pump({&ab, &cd});
  }

  Peer c;  // initiating, xmpp.test -> lync.test (to the authoritative server)
  Peer d;  // receiving, lync.test (authoritative)
  Link cd{&c, &d, {}, {}};
};

TEST_F(DialbackTest, VerifyRoundTripThroughTheAuthoritativeServer) {
  CreateAll(lync);
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "queued")).ok());
  StartAll();

  // b got the key computed over its own stream id, and asked for verification.
  ASSERT_EQ(b.verify_needed.size(), 1u);
  const DialbackVerifyRequest& request = b.verify_needed[0];
  EXPECT_EQ(request.receiving_domain, "xmpp.test");
  EXPECT_EQ(request.originating_domain, "lync.test");
  EXPECT_EQ(request.stream_id, b.stream->stream_id());
  EXPECT_EQ(request.key,
            DialbackKey("lync-secret", "xmpp.test", "lync.test", b.stream->stream_id()));
  EXPECT_FALSE(Contains(b.transcript, "EXTERNAL"));
  EXPECT_TRUE(Contains(b.transcript, "<dialback xmlns='urn:xmpp:features:dialback'><errors/>"));

  // c carried the db:verify, d answered valid, b reported valid on the original stream.
  EXPECT_TRUE(Contains(c.transcript, "<db:verify from='xmpp.test' to='lync.test' id='" +
                                         b.stream->stream_id() + "'>" + request.key));
  EXPECT_TRUE(Contains(d.transcript, "type='valid'"));
  ASSERT_EQ(c.verify_answered.size(), 1u);
  EXPECT_TRUE(c.verify_answered[0].valid);
  EXPECT_TRUE(Contains(b.transcript, "<db:result from='xmpp.test' to='lync.test' type='valid'/>"));

  ASSERT_EQ(a.authenticated.size(), 1u);
  EXPECT_EQ(a.authenticated[0].second, AuthMethod::kDialback);
  ASSERT_EQ(b.authenticated.size(), 1u);
  EXPECT_EQ(b.authenticated[0],
            std::make_pair(DomainPair{"xmpp.test", "lync.test"}, AuthMethod::kDialback));
  // The stanza queued before authentication arrived after it.
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].first.ChildText("jabber:server", "body"), "queued");
  EXPECT_EQ(a.stream->queued_stanzas(), 0u);
  // The authoritative side's own stream (c -> d) authenticated with EXTERNAL meanwhile.
  ASSERT_EQ(d.authenticated.size(), 1u);
  EXPECT_EQ(d.authenticated[0].second, AuthMethod::kSaslExternal);
}

TEST_F(DialbackTest, InvalidKeyIsRefusedAndQueuedStanzasComeBack) {
  // lync.test's authoritative server has another secret than its outbound stream used.
  S2sConfig authoritative = lync;
  authoritative.dialback_secret = "rotated-secret";
  CreateAll(authoritative);
  Element first = Message("alice@lync.test", "bob@xmpp.test", "first");
  Element second = Message("alice@lync.test", "bob@xmpp.test", "second");
  ASSERT_TRUE(a.stream->Send(Element(first)).ok());
  ASSERT_TRUE(a.stream->Send(Element(second)).ok());
  StartAll();

  ASSERT_EQ(c.verify_answered.size(), 1u);
  EXPECT_FALSE(c.verify_answered[0].valid);
  EXPECT_TRUE(Contains(d.transcript, "type='invalid'"));
  EXPECT_TRUE(
      Contains(b.transcript, "<db:result from='xmpp.test' to='lync.test' type='invalid'/>"));
  EXPECT_TRUE(
      Contains(b.transcript, "<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
  EXPECT_TRUE(a.authenticated.empty());
  EXPECT_TRUE(b.authenticated.empty());
  EXPECT_TRUE(b.received.empty());
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kNotAuthorized);
  ASSERT_TRUE(a.closed);
  ASSERT_EQ(a.unsent.size(), 2u);
  EXPECT_EQ(a.unsent[0], first);
  EXPECT_EQ(a.unsent[1], second);
}

TEST_F(S2sStreamTest, AuthoritativeServerAnswersVerifyDirectly) {
  // We (xmpp.test's receiving stream) are asked about a key that xmpp.test issued.
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  const std::string good = DialbackKey("xmpp-secret", "lync.test", "xmpp.test", "S1");
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='lync.test' to='xmpp.test'>");
  b.stream->Feed("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  b.stream->OnTlsEstablished(SelfSignedCert("lync.test"));
  b.stream->Feed(
      "<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='xmpp.test'>");
  b.stream->Feed("<db:verify from='lync.test' to='xmpp.test' id='S1'>" + good + "</db:verify>");
  b.stream->Feed("<db:verify from='lync.test' to='xmpp.test' id='S2'>" + good + "</db:verify>");
  EXPECT_TRUE(
      Contains(b.transcript, "<db:verify from='xmpp.test' to='lync.test' id='S1' type='valid'/>"));
  EXPECT_TRUE(Contains(b.transcript,
                       "<db:verify from='xmpp.test' to='lync.test' id='S2' type='invalid'/>"));
  b.stream->Feed("<db:verify from='lync.test' to='nope.test' id='S1'>" + good + "</db:verify>");
  EXPECT_TRUE(Contains(b.transcript, "<item-not-found"));
  EXPECT_FALSE(b.closed);
}

TEST_F(S2sStreamTest, PlaintextStanzaRefusedWhenTlsRequired) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='xmpp.test'>");
  EXPECT_EQ(b.stream->state(), State::kNegotiating);
  b.stream->Feed("<message from='alice@lync.test' to='bob@xmpp.test'><body>hi</body></message>");
  EXPECT_TRUE(b.received.empty());
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kPolicyViolation);
  EXPECT_TRUE(Contains(b.transcript,
                       "<stream:error><policy-violation "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
  EXPECT_TRUE(Contains(b.transcript, "</stream:stream>"));
}

TEST_F(S2sStreamTest, PlaintextDialbackRefusedWhenTlsRequired) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='lync.test' to='xmpp.test'>"
      "<db:result from='lync.test' to='xmpp.test'>abc</db:result>");
  EXPECT_TRUE(b.verify_needed.empty());
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kPolicyViolation);
}

TEST_F(S2sStreamTest, InitiatorRefusesPeerWithoutTls) {
  // The peer offers only dialback in plaintext; we require TLS.
  a.stream = S2sStream::Initiating(lync, "lync.test", "xmpp.test", a, clock).value();
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "x")).ok());
  a.stream->Start();
  a.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='xmpp.test' to='lync.test' id='p1'><stream:features>"
      "<dialback xmlns='urn:xmpp:features:dialback'/></stream:features>");
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->condition, StreamErrorCondition::kPolicyViolation);
  EXPECT_FALSE(Contains(a.transcript, "db:result"));
  EXPECT_EQ(a.unsent.size(), 1u);
}

TEST_F(S2sStreamTest, OptionalTlsStillUsedWhenOffered) {
  lync.require_tls = false;
  xmpp.require_tls = false;
  Open(SelfSignedCert("lync.test"), ValidCert("xmpp.test"));
  EXPECT_TRUE(ab.tls_done);
  EXPECT_FALSE(Contains(b.transcript, "<required/>"));
}

TEST_F(S2sStreamTest, QueueIsBoundedAndRefusalLeavesTheStanza) {
  lync.max_queued_stanzas = 2;
  a.stream = S2sStream::Initiating(lync, "lync.test", "xmpp.test", a, clock).value();
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "1")).ok());
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "2")).ok());
  Element third = Message("alice@lync.test", "bob@xmpp.test", "3");
  absl::Status status = a.stream->Send(std::move(third));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(third.ChildText("jabber:server", "body"), "3");  // not moved from
  EXPECT_EQ(a.stream->queued_stanzas(), 2u);
  // Wrong addressing for this stream's pair.
  EXPECT_EQ(a.stream->Send(Message("alice@other.test", "bob@xmpp.test", "x")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.stream->Send(Message("alice@lync.test", "bob@other.test", "x")).code(),
            absl::StatusCode::kInvalidArgument);
  Element client_ns =
      MakeStanza(StanzaKind::kMessage, "jabber:client", "chat", "bob@xmpp.test", "alice@lync.test");
  EXPECT_EQ(a.stream->Send(std::move(client_ns)).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(S2sStreamTest, QueuedStanzasReturnedWhenThePeerRefusesTheDomain) {
  xmpp.local_domains = {"elsewhere.test"};  // xmpp.test is not served there
  a.stream = S2sStream::Initiating(lync, "lync.test", "xmpp.test", a, clock).value();
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "1")).ok());
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "2")).ok());
  a.stream->Start();
  b.stream->Start();
  Pump({&ab});
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kHostUnknown);
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->origin, CloseOrigin::kRemote);
  EXPECT_EQ(a.closed->condition, StreamErrorCondition::kHostUnknown);
  ASSERT_EQ(a.unsent.size(), 2u);
  EXPECT_EQ(a.unsent[0].ChildText("jabber:server", "body"), "1");
  EXPECT_EQ(a.unsent[1].ChildText("jabber:server", "body"), "2");
  EXPECT_EQ(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "3")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(S2sStreamTest, SendFromTheAuthenticatedCallbackKeepsOrder) {
  a.stream = S2sStream::Initiating(lync, "lync.test", "xmpp.test", a, clock).value();
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  ab.initiating_cert = ValidCert("lync.test");
  ab.receiving_cert = ValidCert("xmpp.test");
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "queued")).ok());
  a.on_authenticated = [this] {
    ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "later")).ok());
  };
  a.stream->Start();
  b.stream->Start();
  Pump({&ab});
  ASSERT_EQ(b.received.size(), 2u);
  EXPECT_EQ(b.received[0].first.ChildText("jabber:server", "body"), "queued");
  EXPECT_EQ(b.received[1].first.ChildText("jabber:server", "body"), "later");
}

TEST_F(S2sStreamTest, RequiredPeerCertificateMustAuthenticateTheRemoteDomain) {
  lync.require_peer_certificate = true;
  ASSERT_TRUE(a.stream == nullptr);
  Open(ValidCert("lync.test"), SelfSignedCert("xmpp.test"));
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->origin, CloseOrigin::kLocal);
  EXPECT_FALSE(a.closed->condition);
  EXPECT_TRUE(Contains(a.closed->reason, "xmpp.test"));
  EXPECT_TRUE(a.authenticated.empty());
  // No stream was opened over the TLS layer.
  EXPECT_EQ(a.transcript.find("<stream:stream"), a.transcript.rfind("<stream:stream"));
}

TEST_F(S2sStreamTest, RequiredPeerCertificateAccepted) {
  lync.require_peer_certificate = true;
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"));
  EXPECT_FALSE(a.closed);
  EXPECT_EQ(a.stream->state(), State::kAuthenticated);
}

// XEP-0220 §2.5: a second originating domain piggybacks on an authenticated stream.
TEST_F(S2sStreamTest, ReceivingStreamAuthenticatesAdditionalDomainsWithDialback) {
  xmpp.max_domain_pairs = 2;
  OpenAuthenticated();
  b.stream->Feed("<db:result from='conf.lync.test' to='xmpp.test'>k1</db:result>");
  ASSERT_EQ(b.verify_needed.size(), 1u);
  EXPECT_EQ(b.verify_needed[0].originating_domain, "conf.lync.test");
  EXPECT_EQ(b.stream->state(), State::kAuthenticated);  // the first pair keeps flowing
  ASSERT_TRUE(b.stream->next_deadline());
  // Over the limit: a dialback error, not a closed stream.
  b.stream->Feed("<db:result from='other.lync.test' to='xmpp.test'>k2</db:result>");
  EXPECT_EQ(b.verify_needed.size(), 1u);
  EXPECT_TRUE(Contains(b.transcript,
                       "<db:result from='xmpp.test' to='other.lync.test' "
                       "type='error'><error type='modify'>"
                       "<policy-violation"));
  // Stanzas from the pending domain are not accepted yet.
  ASSERT_TRUE(
      b.stream
          ->ApplyDialbackVerifyResult({"xmpp.test", "conf.lync.test", b.stream->stream_id(), true})
          .ok());
  EXPECT_EQ(b.authenticated.size(), 2u);
  b.stream->Feed("<message from='room@conf.lync.test' to='bob@xmpp.test'><body>c</body></message>");
  b.stream->Feed("<message from='alice@lync.test' to='bob@xmpp.test'><body>a</body></message>");
  ASSERT_EQ(b.received.size(), 2u);
  EXPECT_EQ(b.received[0].second, (DomainPair{"xmpp.test", "conf.lync.test"}));
  EXPECT_EQ(b.received[1].second, (DomainPair{"xmpp.test", "lync.test"}));
  b.stream->Feed("<message from='x@other.lync.test' to='bob@xmpp.test'/>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kInvalidFrom);
}

// XEP-0220 §2.5 from the initiating side: conf.lync.test rides on lync.test's stream.
class PiggybackTest : public S2sStreamTest {
 protected:
  void SetUp() override { lync.local_domains = {"lync.test", "conf.lync.test"}; }

  // Answers xmpp.test's verification the way lync.test's authoritative server would, or not.
  void AnswerVerification(bool honest) {
    ASSERT_EQ(b.verify_needed.size(), 1u);
    const DialbackVerifyRequest& request = b.verify_needed[0];
    const bool valid =
        honest &&
        DialbackKeysEqual(request.key, DialbackKey("lync-secret", request.receiving_domain,
                                                   request.originating_domain, request.stream_id));
    ASSERT_TRUE(
        b.stream
            ->ApplyDialbackVerifyResult(
                {request.receiving_domain, request.originating_domain, request.stream_id, valid})
            .ok());
    Pump({&ab});
  }
};

TEST_F(PiggybackTest, SecondLocalDomainAuthenticatedWithDialback) {
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  ASSERT_TRUE(a.stream->AddLocalDomain("conf.lync.test").ok());
  ASSERT_TRUE(a.stream->Send(Message("room@conf.lync.test/x", "bob@xmpp.test", "conf")).ok());
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "main")).ok());
  a.stream->Start();
  b.stream->Start();
  Pump({&ab});
  // The main pair went through SASL EXTERNAL and flows; the conference domain waits.
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].first.ChildText("jabber:server", "body"), "main");
  EXPECT_EQ(a.stream->queued_stanzas(), 1u);
  ASSERT_EQ(b.verify_needed.size(), 1u);
  EXPECT_EQ(b.verify_needed[0].originating_domain, "conf.lync.test");
  EXPECT_EQ(b.verify_needed[0].stream_id, b.stream->stream_id());  // the final stream's id

  AnswerVerification(/*honest=*/true);
  ASSERT_EQ(a.authenticated.size(), 2u);
  EXPECT_EQ(a.authenticated[1],
            std::make_pair(DomainPair{"conf.lync.test", "xmpp.test"}, AuthMethod::kDialback));
  ASSERT_EQ(b.received.size(), 2u);
  EXPECT_EQ(b.received[1].first.ChildText("jabber:server", "body"), "conf");
  EXPECT_EQ(b.received[1].second, (DomainPair{"xmpp.test", "conf.lync.test"}));
  // Now written at once.
  ASSERT_TRUE(a.stream->Send(Message("room@conf.lync.test", "bob@xmpp.test", "again")).ok());
  EXPECT_EQ(a.stream->queued_stanzas(), 0u);
}

TEST_F(PiggybackTest, RefusedDomainGetsItsStanzasBackAndTheStreamGoesOn) {
  OpenAuthenticated();
  ASSERT_TRUE(a.stream->AddLocalDomain("conf.lync.test").ok());
  ASSERT_TRUE(a.stream->Send(Message("room@conf.lync.test", "bob@xmpp.test", "conf")).ok());
  Pump({&ab});
  AnswerVerification(/*honest=*/false);
  ASSERT_EQ(a.refused.size(), 1u);
  EXPECT_EQ(a.refused[0].pair, (DomainPair{"conf.lync.test", "xmpp.test"}));
  ASSERT_EQ(a.refused[0].unsent.size(), 1u);
  EXPECT_EQ(a.refused[0].unsent[0].ChildText("jabber:server", "body"), "conf");
  EXPECT_FALSE(a.closed);
  EXPECT_FALSE(b.closed);
  EXPECT_EQ(a.stream->Send(Message("room@conf.lync.test", "bob@xmpp.test", "x")).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "main")).ok());
  Pump({&ab});
  EXPECT_EQ(b.received.size(), 1u);
}

TEST_F(PiggybackTest, UnansweredPiggybackTimesOutAlone) {
  OpenAuthenticated();
  ASSERT_TRUE(a.stream->AddLocalDomain("conf.lync.test").ok());
  ASSERT_TRUE(a.stream->Send(Message("room@conf.lync.test", "bob@xmpp.test", "conf")).ok());
  Pump({&ab});
  ASSERT_TRUE(a.stream->next_deadline());
  clock.Advance(lync.step_timeout);
  a.stream->Tick();
  ASSERT_EQ(a.refused.size(), 1u);
  EXPECT_EQ(a.refused[0].unsent.size(), 1u);
  EXPECT_FALSE(a.closed);
  EXPECT_FALSE(a.stream->next_deadline());
}

TEST_F(PiggybackTest, OnlyOurDomains) {
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  EXPECT_EQ(a.stream->AddLocalDomain("other.test").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(a.stream->AddLocalDomain("lync.test").ok());  // the stream's own: nothing to do
}

TEST_F(PiggybackTest, PiggybackedStanzasComeBackWhenTheStreamCloses) {
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  ASSERT_TRUE(a.stream->AddLocalDomain("conf.lync.test").ok());
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "main")).ok());
  ASSERT_TRUE(a.stream->Send(Message("room@conf.lync.test", "bob@xmpp.test", "conf")).ok());
  a.stream->Close("shutdown");
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.unsent.size(), 2u);
}

// ---- stanza checks on an authenticated receiving stream ----

TEST_F(S2sStreamTest, SpoofedFromDomainClosesWithInvalidFrom) {
  OpenAuthenticated();
  b.stream->Feed("<message from='mallory@evil.test' to='bob@xmpp.test'><body>x</body></message>");
  EXPECT_TRUE(b.received.empty());
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kInvalidFrom);
  EXPECT_TRUE(
      Contains(b.transcript, "<invalid-from xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
  // The initiating side sees the stream error.
  Pump({&ab});
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->origin, CloseOrigin::kRemote);
  EXPECT_EQ(a.closed->condition, StreamErrorCondition::kInvalidFrom);
}

TEST_F(S2sStreamTest, StanzaToADomainWeDoNotServeIsHostUnknown) {
  OpenAuthenticated();
  b.stream->Feed("<message from='alice@lync.test' to='bob@other.test'/>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kHostUnknown);
}

TEST_F(S2sStreamTest, StanzaWithoutAddressesIsImproperAddressing) {
  OpenAuthenticated();
  b.stream->Feed("<message to='bob@xmpp.test'/>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kImproperAddressing);
}

TEST_F(S2sStreamTest, MalformedFromIsImproperAddressing) {
  OpenAuthenticated();
  b.stream->Feed("<presence from='a@@lync.test' to='bob@xmpp.test'/>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kImproperAddressing);
}

TEST_F(S2sStreamTest, MalformedLocalpartInToIsAStanzaError) {
  OpenAuthenticated();
  b.stream->Feed(
      "<message from='alice@lync.test/pc' to='b&lt;ob@xmpp.test' id='m1'><body>x</body>"
      "</message>");
  EXPECT_FALSE(b.closed);
  ASSERT_EQ(b.rejected.size(), 1u);
  const Element& reply = b.rejected[0];
  EXPECT_EQ(StanzaType(reply), "error");
  EXPECT_EQ(StanzaTo(reply), "alice@lync.test/pc");
  EXPECT_EQ(StanzaFrom(reply), "xmpp.test");
  EXPECT_EQ(StanzaId(reply), "m1");
  std::optional<ReceivedStanzaError> error = ReadStanzaError(reply);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->condition, StanzaErrorCondition::kJidMalformed);
  // The stream goes on.
  b.stream->Feed("<message from='alice@lync.test' to='bob@xmpp.test'><body>ok</body></message>");
  EXPECT_EQ(b.received.size(), 1u);
}

TEST_F(S2sStreamTest, ClientNamespaceStanzaIsInvalidNamespace) {
  OpenAuthenticated();
  b.stream->Feed("<message xmlns='jabber:client' from='alice@lync.test' to='bob@xmpp.test'/>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kInvalidNamespace);
}

TEST_F(S2sStreamTest, WhitespaceKeepalivesAreTolerated) {
  OpenAuthenticated();
  b.stream->Feed(" \n ");
  b.stream->Feed("\t");
  EXPECT_FALSE(b.closed);
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "after")).ok());
  Pump({&ab});
  EXPECT_EQ(b.received.size(), 1u);
}

TEST_F(S2sStreamTest, StanzaBeforeAuthenticationIsNotAuthorized) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='xmpp.test'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  b.stream->OnTlsEstablished(SelfSignedCert("lync.test"));
  b.stream->Feed(
      "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='lync.test' to='xmpp.test'>"
      "<message from='alice@lync.test' to='bob@xmpp.test'/>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kNotAuthorized);
}

TEST_F(S2sStreamTest, SaslExternalRefusedWithoutAMatchingCertificate) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='xmpp.test'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  b.stream->OnTlsEstablished(ValidCert("lync.test"));
  b.stream->Feed(
      "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='lync.test' to='xmpp.test'>");
  EXPECT_TRUE(Contains(b.transcript, "<mechanism>EXTERNAL</mechanism>"));
  // An authzid other than the stream's 'from' (base64 "evil.test").
  b.stream->Feed(
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>ZXZpbC50ZXN0</auth>");
  EXPECT_TRUE(Contains(b.transcript,
                       "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                       "<invalid-authzid/></failure>"));
  EXPECT_FALSE(b.closed);
  // Not base64 at all: second failure ends the stream (max_sasl_attempts = 2).
  b.stream->Feed("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>*</auth>");
  EXPECT_TRUE(Contains(b.transcript, "<incorrect-encoding/>"));
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kPolicyViolation);
  EXPECT_TRUE(b.authenticated.empty());
}

TEST_F(S2sStreamTest, SaslWithoutInitialResponseGetsAnEmptyChallenge) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='xmpp.test'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  b.stream->OnTlsEstablished(ValidCert("lync.test"));
  b.stream->Feed(
      "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='lync.test' to='xmpp.test'>"
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'/>");
  EXPECT_TRUE(Contains(b.transcript,
                       "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>="
                       "</challenge>"));
  b.stream->Feed("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>");
  EXPECT_TRUE(Contains(b.transcript, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
  // The restarted stream in the same read as nothing else: the header comes next.
  b.stream->Feed(
      "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0' from='lync.test' to='xmpp.test'>"
      "<message from='alice@lync.test' to='bob@xmpp.test'/>");
  ASSERT_EQ(b.authenticated.size(), 1u);
  EXPECT_EQ(b.received.size(), 1u);
}

TEST_F(S2sStreamTest, StreamToADomainWeDoNotServeIsHostUnknown) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='nope.test'>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kHostUnknown);
  // Our header went out first (RFC 6120 §4.9.1.2), then the error and the close.
  size_t header = b.transcript.find("<stream:stream");
  size_t error = b.transcript.find("<host-unknown");
  ASSERT_NE(header, std::string::npos);
  ASSERT_NE(error, std::string::npos);
  EXPECT_LT(header, error);
}

TEST_F(S2sStreamTest, ClientStreamIsInvalidNamespace) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='xmpp.test'>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kInvalidNamespace);
}

TEST_F(S2sStreamTest, ParserErrorsBecomeStreamErrors) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  b.stream->Feed(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='xmpp.test'><a></b>");
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kNotWellFormed);
}

TEST_F(S2sStreamTest, BytesAfterStartTlsAreLeftForTheTlsLayer) {
  b.stream = S2sStream::Receiving(xmpp, b, clock);
  const std::string plain =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='lync.test' "
      "to='xmpp.test'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
  const std::string input = plain + "\x16\x03\x01\x02\x00";  // a ClientHello's first bytes
  EXPECT_EQ(b.stream->Feed(input), plain.size());
  EXPECT_EQ(b.stream->state(), State::kTlsHandshake);
  EXPECT_FALSE(b.closed);
}

// Any chunking of the bytes, down to one byte per read, gives the same result: restarts after
// SASL and the TLS boundary land between reads or inside one.
class ChunkedS2sTest : public S2sStreamTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(ChunkedS2sTest, SaslExternalPath) {
  ab.chunk = GetParam();
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "one")).ok());
  a.stream->Start();
  b.stream->Start();
  Pump({&ab});
  ASSERT_EQ(b.authenticated.size(), 1u);
  EXPECT_EQ(b.authenticated[0].second, AuthMethod::kSaslExternal);
  ASSERT_EQ(b.received.size(), 1u);
  a.stream->Close();
  Pump({&ab});
  EXPECT_TRUE(a.closed && b.closed);
  EXPECT_FALSE(a.closed->condition);
}

TEST_P(ChunkedS2sTest, DialbackPathWithPendingVerification) {
  ab.chunk = GetParam();
  Open(SelfSignedCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "one")).ok());
  a.stream->Start();
  b.stream->Start();
  Pump({&ab});
  ASSERT_EQ(b.verify_needed.size(), 1u);
  // What the authoritative server would answer, computed the way it does.
  const DialbackVerifyRequest& request = b.verify_needed[0];
  const bool valid =
      DialbackKeysEqual(request.key, DialbackKey("lync-secret", request.receiving_domain,
                                                 request.originating_domain, request.stream_id));
  EXPECT_TRUE(valid);
  ASSERT_TRUE(b.stream
                  ->ApplyDialbackVerifyResult({request.receiving_domain, request.originating_domain,
                                               request.stream_id, valid})
                  .ok());
  Pump({&ab});
  ASSERT_EQ(a.authenticated.size(), 1u);
  EXPECT_EQ(a.authenticated[0].second, AuthMethod::kDialback);
  EXPECT_EQ(b.received.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Chunks, ChunkedS2sTest, ::testing::Values(1, 2, 3, 7, 64, 0));

// ---- timeouts ----

TEST_F(S2sStreamTest, SilentPeerTimesOutWaitingForHeader) {
  a.stream = S2sStream::Initiating(lync, "lync.test", "xmpp.test", a, clock).value();
  ASSERT_TRUE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "x")).ok());
  a.stream->Start();
  ASSERT_TRUE(a.stream->next_deadline());
  clock.Advance(std::chrono::seconds(29));
  a.stream->Tick();
  EXPECT_FALSE(a.closed);
  clock.Advance(std::chrono::seconds(1));
  a.stream->Tick();
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->condition, StreamErrorCondition::kConnectionTimeout);
  EXPECT_EQ(a.unsent.size(), 1u);
  EXPECT_TRUE(Contains(a.transcript, "<connection-timeout"));
}

TEST_F(S2sStreamTest, EveryNegotiationStepIsBounded) {
  // The TLS handshake never completes.
  Open(ValidCert("lync.test"), ValidCert("xmpp.test"), /*start=*/false);
  a.stream->Start();
  b.stream->Start();
  for (int i = 0; i < 10 && !(a.stream->state() == State::kTlsHandshake &&
                              b.stream->state() == State::kTlsHandshake);
       ++i) {
    Link::Deliver(a, b);
    Link::Deliver(b, a);
  }
  ASSERT_EQ(b.stream->state(), State::kTlsHandshake);
  clock.Advance(lync.step_timeout);
  a.stream->Tick();
  b.stream->Tick();
  ASSERT_TRUE(a.closed && b.closed);
  EXPECT_EQ(a.closed->condition, StreamErrorCondition::kConnectionTimeout);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kConnectionTimeout);
  // Nothing in plaintext over a half-done TLS handshake.
  EXPECT_TRUE(a.out.empty());
  EXPECT_TRUE(b.out.empty());
  EXPECT_FALSE(Contains(a.transcript, "connection-timeout"));
  EXPECT_FALSE(Contains(b.transcript, "</stream:stream>"));
}

TEST_F(S2sStreamTest, UnansweredDialbackVerificationTimesOut) {
  Open(SelfSignedCert("lync.test"), ValidCert("xmpp.test"));  // nobody answers verify_needed
  ASSERT_EQ(b.verify_needed.size(), 1u);
  ASSERT_EQ(b.stream->state(), State::kAwaitDialback);
  ASSERT_TRUE(b.stream->next_deadline());
  clock.Advance(xmpp.step_timeout);
  b.stream->Tick();
  ASSERT_TRUE(b.closed);
  EXPECT_EQ(b.closed->condition, StreamErrorCondition::kRemoteConnectionFailed);
  Pump({&ab});
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->condition, StreamErrorCondition::kRemoteConnectionFailed);
  // A late answer finds nothing.
  EXPECT_FALSE(
      b.stream->ApplyDialbackVerifyResult({"xmpp.test", "lync.test", b.stream->stream_id(), true})
          .ok());
}

TEST_F(S2sStreamTest, CloseWaitsForThePeerThenGivesUp) {
  OpenAuthenticated();
  a.stream->Close("shutting down");
  EXPECT_FALSE(a.closed);
  EXPECT_FALSE(a.stream->Send(Message("alice@lync.test", "bob@xmpp.test", "x")).ok());
  clock.Advance(lync.close_timeout);
  a.stream->Tick();
  ASSERT_TRUE(a.closed);
  EXPECT_EQ(a.closed->origin, CloseOrigin::kLocal);
  EXPECT_FALSE(a.closed->condition);
}

TEST_F(S2sStreamTest, AuthenticatedStreamsHaveNoDeadline) {
  OpenAuthenticated();
  EXPECT_FALSE(a.stream->next_deadline());
  EXPECT_FALSE(b.stream->next_deadline());
  clock.Advance(std::chrono::hours(2));
  a.stream->Tick();
  b.stream->Tick();
  EXPECT_FALSE(a.closed);
  EXPECT_FALSE(b.closed);
}

}  // namespace
}  // namespace causeway::xmpp::s2s
