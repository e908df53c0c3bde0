// Fuzzes the XMPP stream parser: the input is fed in a few chunks (sizes taken from its first
// bytes, sometimes with small limits), every stanza it yields is serialized into a new stream
// that must parse back to equal elements, error replies built from stanzas must parse too, and
// JIDs found in to/from must survive Parse(ToString()). Any crash, sanitizer report or broken
// invariant (abort) is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xmpp/codec/errors.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/codec/stream_parser.h"

namespace {

using namespace causeway::xmpp;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

struct Collector : StreamHandler {
  void OnStreamOpen(const StreamHeader& h) override {
    Check(!opened, "second stream open without reset");
    opened = true;
    header = h;
  }
  void OnStanza(Element& stanza) override {
    Check(opened && !closed, "stanza outside a stream");
    stanzas.push_back(std::move(stanza));
  }
  void OnStreamClose() override {
    Check(opened && !closed, "close without open");
    closed = true;
  }
  bool opened = false;
  bool closed = false;
  StreamHeader header;
  std::vector<Element> stanzas;
};

size_t Depth(const Element& e) {
  size_t deepest = 0;
  for (const Element& c : e.children()) deepest = std::max(deepest, Depth(c));
  return deepest + 1;
}

StreamLimits Roomy() {
  StreamLimits limits;
  limits.max_stanza_bytes = std::numeric_limits<size_t>::max();
  limits.max_depth = std::numeric_limits<size_t>::max();
  limits.max_attributes = std::numeric_limits<size_t>::max();
  return limits;
}

// Serialize -> parse must give back equal stanzas (and the header's values).
void CheckRoundTrip(const Collector& first) {
  std::string xml = StreamHeaderXml(first.header);
  XmlScope scope = StreamScope(first.header);
  for (const Element& e : first.stanzas) AppendXml(e, &xml, scope);
  for (const Element& e : first.stanzas) {
    absl::StatusOr<Element> reply = MakeStanzaErrorReply(e, StanzaErrorCondition::kBadRequest, "x");
    if (reply.ok()) AppendXml(*reply, &xml, scope);
  }
  xml += kStreamFooter;
  Collector again;
  StreamParser parser(again, Roomy());
  absl::Status status = parser.Feed(xml);
  if (!status.ok()) std::fprintf(stderr, "%s\n%s\n", status.ToString().c_str(), xml.c_str());
  Check(status.ok(), "serialized stream does not parse");
  Check(again.closed, "serialized stream not closed");
  Check(again.stanzas.size() >= first.stanzas.size(), "stanzas lost in the round trip");
  for (size_t i = 0; i < first.stanzas.size(); ++i) {
    if (!(again.stanzas[i] == first.stanzas[i])) {
      std::fprintf(stderr, "%s\n", ToXml(first.stanzas[i], scope).c_str());
    }
    Check(again.stanzas[i] == first.stanzas[i], "stanza changed in the round trip");
  }
  const StreamHeader& a = first.header;
  const StreamHeader& b = again.header;
  Check(a.content_ns == b.content_ns && a.to == b.to && a.from == b.from && a.id == b.id &&
            a.version == b.version && a.lang == b.lang && a.other_attributes == b.other_attributes,
        "stream header changed in the round trip");
}

void CheckJid(std::string_view text) {
  absl::StatusOr<Jid> jid = Jid::Parse(text);
  if (!jid.ok()) {
    Check(StanzaErrorOf(jid.status()) == StanzaErrorCondition::kJidMalformed,
          "JID error without jid-malformed");
    return;
  }
  absl::StatusOr<Jid> again = Jid::Parse(jid->ToString());
  Check(again.ok() && *again == *jid, "Jid::Parse(ToString()) differs");
  Check(jid->Bare().is_bare(), "bare JID has a resource");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // Byte 0: first chunk size; byte 1: later chunk size; byte 2: small limits when odd.
  size_t first_chunk = data[0] + 1;
  size_t chunk = (data[1] % 64) + 1;
  StreamLimits limits;
  if (data[2] & 1) {
    limits.max_stanza_bytes = 64 + data[2] * 8;
    limits.max_depth = 1 + data[2] % 8;
    limits.max_attributes = data[2] % 5;
  }
  std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);

  Collector collector;
  StreamParser parser(collector, limits);
  absl::Status status;
  std::string_view rest = input;
  size_t n = std::min(first_chunk, rest.size());
  while (status.ok() && !rest.empty()) {
    status = parser.Feed(rest.substr(0, n));
    rest.remove_prefix(n);
    n = std::min(chunk, rest.size());
  }
  if (!status.ok()) {
    Check(StreamErrorOf(status).has_value(), "parser error without a stream condition");
    Check(parser.Feed("<presence/>") == status, "error not sticky");
  }
  for (const Element& e : collector.stanzas) {
    Check(Depth(e) <= limits.max_depth, "stanza deeper than the limit");
    Check(e.attributes().size() <= limits.max_attributes, "more attributes than the limit");
    if (KindOf(e) != StanzaKind::kNone) {
      CheckJid(StanzaTo(e));
      CheckJid(StanzaFrom(e));
    }
  }
  if (collector.opened) CheckRoundTrip(collector);
  if (input.size() < 4096) CheckJid(input);

  // After Reset() the same parser reads the input exactly as a fresh one does.
  collector.opened = collector.closed = false;
  collector.stanzas.clear();
  parser.Reset();
  absl::Status reused = parser.Feed(input);
  Collector second;
  StreamParser fresh(second, limits);
  absl::Status whole = fresh.Feed(input);
  Check(reused == whole, "a reset parser disagrees with a fresh one");
  Check(collector.stanzas == second.stanzas, "a reset parser yields other stanzas");
  return 0;
}
