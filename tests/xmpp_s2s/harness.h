#pragma once
// In-memory wiring for S2sStream tests: each Peer records what its stream asks for; a Link moves
// written bytes between an initiating and a receiving stream and stands in for TLS (it calls
// OnTlsEstablished on both once both asked for it, with the certificate info the test chose).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "gtest/gtest.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/s2s/s2s_stream.h"

namespace causeway::xmpp::s2s::testing {

class Peer : public S2sStreamHandler {
 public:
  void WriteBytes(std::string_view bytes) override {
    out.append(bytes);
    transcript.append(bytes);
  }
  void StartTls(TlsRole role) override { tls_roles.push_back(role); }
  void Authenticated(const DomainPair& pair, AuthMethod method) override {
    authenticated.emplace_back(pair, method);
    if (on_authenticated) on_authenticated();
  }
  void StanzaReceived(Element stanza, const DomainPair& pair) override {
    received.emplace_back(std::move(stanza), pair);
  }
  void StanzaRejected(Element error_reply) override { rejected.push_back(std::move(error_reply)); }
  void DialbackVerifyNeeded(const DialbackVerifyRequest& request) override {
    verify_needed.push_back(request);
    if (on_verify_needed) on_verify_needed(request);
  }
  void DialbackVerifyAnswered(const DialbackVerifyResult& result) override {
    verify_answered.push_back(result);
    if (on_verify_answered) on_verify_answered(result);
  }
  void PairRefused(const DomainPair& pair, std::string_view reason,
                   std::vector<Element> unsent_stanzas) override {
    refused.push_back({pair, std::string(reason), std::move(unsent_stanzas)});
  }
  void Closed(const CloseInfo& info, std::vector<Element> unsent_stanzas,
              std::vector<DialbackVerifyRequest> unsent_verify_requests) override {
    ++closed_calls;
    transcript_at_close = transcript.size();
    closed = info;
    unsent = std::move(unsent_stanzas);
    unsent_verifies = std::move(unsent_verify_requests);
  }

  std::unique_ptr<S2sStream> stream;
  std::string out;         // written and not yet delivered to the other side
  std::string transcript;  // everything written
  std::vector<TlsRole> tls_roles;
  std::vector<std::pair<DomainPair, AuthMethod>> authenticated;
  std::vector<std::pair<Element, DomainPair>> received;
  std::vector<Element> rejected;
  std::vector<DialbackVerifyRequest> verify_needed;
  std::vector<DialbackVerifyResult> verify_answered;
  struct Refusal {
    DomainPair pair;
    std::string reason;
    std::vector<Element> unsent;
  };
  std::vector<Refusal> refused;
  int closed_calls = 0;
  size_t transcript_at_close = 0;
  std::optional<CloseInfo> closed;
  std::vector<Element> unsent;
  std::vector<DialbackVerifyRequest> unsent_verifies;
  std::function<void()> on_authenticated;
  std::function<void(const DialbackVerifyRequest&)> on_verify_needed;
  std::function<void(const DialbackVerifyResult&)> on_verify_answered;
};

// A TCP connection between an initiating and a receiving stream.
struct Link {
  Peer* initiating;
  Peer* receiving;
  TlsInfo initiating_cert;  // what the receiving side learns about the initiating server
  TlsInfo receiving_cert;   // and the other way round
  bool tls_done = false;
  size_t chunk = 0;  // deliver at most this many bytes per Feed (0: everything written)

  // Moves bytes one way; true when something moved.
  static bool Deliver(Peer& from, Peer& to, size_t chunk = 0) {
    if (from.out.empty() || !to.stream) return false;
    if (to.stream->state() == S2sStream::State::kTlsHandshake) return false;  // TLS data waits
    std::string_view bytes = from.out;
    if (chunk != 0 && bytes.size() > chunk) bytes = bytes.substr(0, chunk);
    size_t used = to.stream->Feed(bytes);
    from.out.erase(0, used);
    return used > 0;
  }

  bool Step() {
    bool moved = Deliver(*initiating, *receiving, chunk);
    moved |= Deliver(*receiving, *initiating, chunk);
    using State = S2sStream::State;
    if (initiating->stream->state() == State::kTlsHandshake &&
        receiving->stream->state() == State::kTlsHandshake) {
      receiving->stream->OnTlsEstablished(initiating_cert);
      initiating->stream->OnTlsEstablished(receiving_cert);
      tls_done = true;
      moved = true;
    }
    return moved;
  }
};

// Runs the links until nothing moves (bounded).
inline void Pump(std::vector<Link*> links) {
  for (int round = 0; round < 20000; ++round) {
    bool moved = false;
    for (Link* link : links) moved |= link->Step();
    if (!moved) return;
  }
  ADD_FAILURE() << "links still busy after 20000 rounds";
}

inline TlsInfo ValidCert(std::string domain) {
  TlsInfo info;
  info.dns_names.push_back(std::move(domain));
  info.chain_verified = true;
  return info;
}

inline TlsInfo SelfSignedCert(std::string domain) {
  TlsInfo info = ValidCert(std::move(domain));
  info.chain_verified = false;
  return info;
}

inline Element Message(std::string_view from, std::string_view to, std::string_view body) {
  Element message = MakeStanza(StanzaKind::kMessage, "jabber:server", "chat", to, from);
  message.AddChild("jabber:server", "body").SetText(body);
  return message;
}

}  // namespace causeway::xmpp::s2s::testing
