// XML stream parsing throughput for small stanzas (a ~250-byte chat message with chat state and
// receipt request, a presence with caps), serialization, and JID parsing.
// Issue 4's target: >= 1 M small stanzas/s per core.
//
// Each parse iteration feeds one stream of kStanzas stanzas to a parser that is Reset() between
// iterations (as a long-lived connection would reuse it), so items/s is stanzas/s and bytes/s
// the stream throughput.

#include <expat.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/codec/stream_parser.h"

namespace causeway::xmpp {
namespace {

constexpr int kStanzas = 1000;

constexpr std::string_view kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' "
    "from='xmpp.test' to='lync.test' version='1.0' xml:lang='en' id='b3f1c2d4'>";

constexpr std::string_view kChat =
    "<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat' id='a1b2c3d4'>"
    "<body>Hey Alice, are you joining the design review at 3?</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/>"
    "<request xmlns='urn:xmpp:receipts'/></message>";

constexpr std::string_view kPresence =
    "<presence from='bob@xmpp.test/phone' to='alice@lync.test'><show>away</show>"
    "<status>Out to lunch</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org'"
    " ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>";

// The small one-line chat message most IM traffic is (111 bytes).
constexpr std::string_view kSmallChat =
    "<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat' id='a1'>"
    "<body>ok, see you</body></message>";

// 0: chat messages, 1: presences, 2: alternating, 3: small chat messages.
std::string Stream(int kind) {
  std::string s(kHeader);
  for (int i = 0; i < kStanzas; ++i) {
    if (kind == 3) {
      s.append(kSmallChat);
      continue;
    }
    bool chat = kind == 0 || (kind == 2 && i % 2 == 0);
    s.append(chat ? kChat : kPresence);
  }
  return s;
}

struct Counter : StreamHandler {
  void OnStreamOpen(const StreamHeader&) override {}
  void OnStanza(Element& stanza) override {
    ++stanzas;
    benchmark::DoNotOptimize(stanza);
  }
  void OnStreamClose() override {}
  int64_t stanzas = 0;
};

// Like a real consumer: every stanza is moved out and kept until the next one.
struct Keeper : Counter {
  void OnStanza(Element& stanza) override {
    kept = std::move(stanza);
    ++stanzas;
    benchmark::DoNotOptimize(kept);
  }
  Element kept;
};

template <typename Handler>
void RunParse(benchmark::State& state, size_t chunk) {
  std::string stream = Stream(static_cast<int>(state.range(0)));
  Handler handler;
  StreamParser parser(handler);
  for (auto _ : state) {
    parser.Reset();
    std::string_view rest = stream;
    while (!rest.empty()) {
      size_t n = std::min(chunk, rest.size());
      if (!parser.Feed(rest.substr(0, n)).ok()) std::abort();
      rest.remove_prefix(n);
    }
  }
  if (handler.stanzas != state.iterations() * kStanzas) std::abort();
  state.SetItemsProcessed(state.iterations() * kStanzas);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
  state.counters["stanza_bytes"] = static_cast<double>(stream.size() - kHeader.size()) / kStanzas;
}

// The floor: expat alone in the same mode (namespaces, triplets) with empty handlers.
void BM_ExpatOnly(benchmark::State& state) {
  std::string stream = Stream(static_cast<int>(state.range(0)));
  XML_Parser parser = XML_ParserCreateNS("UTF-8", '\x01');
  int64_t elements = 0;
  for (auto _ : state) {
    XML_ParserReset(parser, "UTF-8");
    XML_SetUserData(parser, &elements);
    XML_SetReturnNSTriplet(parser, XML_TRUE);
    XML_SetElementHandler(
        parser,
        [](void* user, const XML_Char*, const XML_Char**) { ++*static_cast<int64_t*>(user); },
        [](void*, const XML_Char*) {});
    XML_SetCharacterDataHandler(parser, [](void*, const XML_Char*, int) {});
    if (XML_Parse(parser, stream.data(), static_cast<int>(stream.size()), XML_FALSE) !=
        XML_STATUS_OK) {
      std::abort();
    }
  }
  XML_ParserFree(parser);
  benchmark::DoNotOptimize(elements);
  state.SetItemsProcessed(state.iterations() * kStanzas);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
}
BENCHMARK(BM_ExpatOnly)->ArgName("chat0_presence1_mix2_small3")->DenseRange(0, 3);

// Whole stream in one Feed, 4 KiB reads (a TLS record's worth), stanzas kept by the consumer.
void BM_ParseStream(benchmark::State& state) { RunParse<Counter>(state, size_t{1} << 30); }
void BM_ParseStream4K(benchmark::State& state) { RunParse<Counter>(state, 4096); }
void BM_ParseStreamKeep(benchmark::State& state) { RunParse<Keeper>(state, 4096); }
BENCHMARK(BM_ParseStream)->ArgName("chat0_presence1_mix2_small3")->DenseRange(0, 3);
BENCHMARK(BM_ParseStream4K)->ArgName("chat0_presence1_mix2_small3")->DenseRange(0, 3);
BENCHMARK(BM_ParseStreamKeep)->ArgName("chat0_presence1_mix2_small3")->DenseRange(0, 3);

Element ParsedChat() {
  struct One : Counter {
    void OnStanza(Element& stanza) override { element = std::move(stanza); }
    Element element;
  } one;
  StreamParser parser(one);
  if (!parser.Feed(std::string(kHeader) + std::string(kChat)).ok()) std::abort();
  return one.element;
}

void BM_SerializeChat(benchmark::State& state) {
  Element chat = ParsedChat();
  StreamHeader header;
  header.content_ns = kNsServer;
  XmlScope scope = StreamScope(header);
  std::string out;
  for (auto _ : state) {
    out.clear();
    AppendXml(chat, &out, scope);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_SerializeChat);

void BM_BuildAndSerializeChat(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    Element m = MakeStanza(StanzaKind::kMessage, kNsServer, "chat", "bob@xmpp.test/phone",
                           "alice@lync.test", "a1b2c3d4");
    m.AddChild(kNsServer, "body").SetText("Hey Bob, are you joining the design review at 3?");
    m.AddChild("http://jabber.org/protocol/chatstates", "active");
    m.AddChild("urn:xmpp:receipts", "request");
    out.clear();
    AppendXml(m, &out, XmlScope{kNsServer, true, false});
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildAndSerializeChat);

// JIDs. The all-ASCII form nearly every stanza carries takes a byte-wise path (no ICU, no
// allocation beyond the part strings); non-ASCII parts go through PRECIS (ICU) and
// internationalized or A-label domains through IDNA2008 (libidn2).
void BM_JidParse(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<Jid> jid = Jid::Parse("Bob@XMPP.test/phone");
    benchmark::DoNotOptimize(jid);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JidParse);

void BM_JidParseText(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    absl::StatusOr<Jid> jid = Jid::Parse(text);
    benchmark::DoNotOptimize(jid);
  }
  state.SetItemsProcessed(state.iterations());
}
// Parts longer than the 15-byte small-string buffer: one allocation each.
BENCHMARK_CAPTURE(BM_JidParseText, ascii_long,
                  std::string_view("Alice.Smith+lync@Federated.Partner.example.com/Lync-3f2a9c01"));
BENCHMARK_CAPTURE(BM_JidParseText, non_ascii_localpart,
                  std::string_view("J\u00FCrgen@XMPP.test/phone"));
BENCHMARK_CAPTURE(BM_JidParseText, non_ascii_resource,
                  std::string_view("bob@xmpp.test/T\u00E9l\u00E9phone"));
BENCHMARK_CAPTURE(BM_JidParseText, idn_domain, std::string_view("bob@B\u00FCcher.example/phone"));
BENCHMARK_CAPTURE(BM_JidParseText, a_label_domain,
                  std::string_view("bob@xn--bcher-kva.example/phone"));

}  // namespace
}  // namespace causeway::xmpp

BENCHMARK_MAIN();
