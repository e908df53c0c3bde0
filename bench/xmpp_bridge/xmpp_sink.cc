// xmpp_sink: the XMPP end of bench/xmpp_bridge. One S2sService (one thread) serving one domain:
// every <message> is counted, its XEP-0184 <request/> answered with <received/> at once (so the
// causeway SIP side gets its 200), and the "seq N" in its body checked per conversation (the
// sender JID): a conversation's messages must arrive with seq growing by exactly --stride
// (sipp's call number, one conversation every stride calls). Lower = out of order, repeated =
// duplicate, larger = gap (lost or reordered). It is the load's sink, not the measured part.
//
//   xmpp_sink --domain sink.test --listen 127.0.0.1:PORT --route lync.test=127.0.0.1:PORT
//             [--cert F --key F --ca F | --no-tls] --stride N
//
// SIGUSR1 prints the stats as one JSON line on stdout; SIGTERM/SIGINT prints them and exits.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/io/s2s_service.h"

namespace causeway::xmpp::io {
namespace {

constexpr std::string_view kNsReceipts = "urn:xmpp:receipts";

struct Conversation {
  uint64_t received = 0;
  uint64_t last_seq = 0;
  uint64_t out_of_order = 0;  // seq lower than the last one seen
  uint64_t duplicates = 0;    // seq equal to the last one seen
  uint64_t gaps = 0;          // seq beyond last + stride: messages missing (so far) in between
};

struct Options {
  std::string domain = "sink.test";
  std::string listen = "127.0.0.1:5269";
  std::vector<std::pair<std::string, std::string>> routes;  // domain, ip:port
  std::string cert, key, ca;
  bool tls = true;
  uint64_t stride = 1;
};

// "seq 123" anywhere in the body; 0 when absent.
uint64_t SeqOf(std::string_view body) {
  size_t at = body.find("seq ");
  if (at == std::string_view::npos) return 0;
  uint64_t seq = 0;
  std::from_chars(body.data() + at + 4, body.data() + body.size(), seq);
  return seq;
}

class Sink {
 public:
  explicit Sink(const Options& options) : options_(options) {}

  absl::Status Start(boost::asio::io_context& io) {
    auto config = std::make_shared<S2sServiceConfig>();
    config->local_domains = {options_.domain};
    auto listen = NetAddress::Parse(options_.listen, kDefaultS2sPort);
    if (!listen) return absl::InvalidArgumentError("bad --listen " + options_.listen);
    config->listen = {*listen};
    config->dialback_secret = "xmpp_sink dialback";
    config->stream.require_tls = options_.tls;
    config->max_queued_per_domain = 1000000;  // receipts wait while the stream back comes up
    for (const auto& [domain, address] : options_.routes) {
      auto parsed = NetAddress::Parse(address, kDefaultS2sPort);
      if (!parsed) return absl::InvalidArgumentError("bad --route " + address);
      config->static_routes[domain] = {*parsed};
    }
    if (options_.tls) {
      auto tls = S2sTls::Create({{options_.domain,
                                  {.certificate_chain_file = options_.cert,
                                   .private_key_file = options_.key,
                                   .ca_file = options_.ca}}});
      if (!tls.ok()) return tls.status();
      config->tls = *tls;
    }
    auto made = S2sService::Create(
        io, config,
        {.on_stanza = [this](Element stanza, const s2s::DomainPair&) { OnStanza(stanza); },
         .on_undeliverable = [this](Element, StanzaErrorCondition) { ++undeliverable_; }});
    if (!made.ok()) return made.status();
    service_ = *std::move(made);
    return absl::OkStatus();
  }

  void PrintStats() const {
    std::string out = absl::StrCat("{\"messages\":", messages_, ",\"receipts_sent\":", receipts_,
                                   ",\"undeliverable\":", undeliverable_, ",\"other\":", other_,
                                   ",\"conversations\":{");
    bool first = true;
    for (const auto& [from, c] : conversations_) {
      absl::StrAppend(&out, first ? "" : ",", "\"", from, "\":{\"received\":", c.received,
                      ",\"last_seq\":", c.last_seq, ",\"out_of_order\":", c.out_of_order,
                      ",\"duplicates\":", c.duplicates, ",\"gaps\":", c.gaps, "}");
      first = false;
    }
    out += "}}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  void Shutdown() {
    if (service_) service_->Shutdown();
  }

 private:
  void OnStanza(const Element& stanza) {
    if (KindOf(stanza) != StanzaKind::kMessage || StanzaType(stanza) == "error") {
      ++other_;
      return;
    }
    ++messages_;
    // The conversation is the sender's bare JID (JIDs from causeway carry no quoting tricks).
    std::string_view from = StanzaFrom(stanza);
    std::string_view bare = from.substr(0, from.find('/'));
    Conversation& c = conversations_[std::string(bare)];
    ++c.received;
    uint64_t seq = SeqOf(stanza.ChildText(stanza.ns(), "body"));
    if (c.received > 1) {
      if (seq < c.last_seq) {
        ++c.out_of_order;
      } else if (seq == c.last_seq) {
        ++c.duplicates;
      } else if (seq != c.last_seq + options_.stride) {
        ++c.gaps;
      }
    }
    if (seq > c.last_seq) c.last_seq = seq;

    std::string_view id = StanzaId(stanza);
    if (id.empty() || stanza.FindChild(kNsReceipts, "request") == nullptr) return;
    // XEP-0184 §4: <message from=recipient to=sender><received id=original/></message>.
    Element receipt = MakeStanza(StanzaKind::kMessage, kNsServer, "", from, StanzaTo(stanza),
                                 absl::StrCat("r", ++receipts_));
    receipt.AddChild(kNsReceipts, "received").SetAttr("id", id);
    (void)service_->Send(std::move(receipt));  // refusals are counted in on_undeliverable
  }

  Options options_;
  std::unique_ptr<S2sService> service_;
  std::map<std::string, Conversation> conversations_;  // ordered: stable JSON
  uint64_t messages_ = 0, receipts_ = 0, undeliverable_ = 0, other_ = 0;
};

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--domain") {
      options.domain = value();
    } else if (arg == "--listen") {
      options.listen = value();
    } else if (arg == "--route") {
      std::string route = value();
      size_t eq = route.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "--route wants domain=ip:port\n");
        return 2;
      }
      options.routes.emplace_back(route.substr(0, eq), route.substr(eq + 1));
    } else if (arg == "--cert") {
      options.cert = value();
    } else if (arg == "--key") {
      options.key = value();
    } else if (arg == "--ca") {
      options.ca = value();
    } else if (arg == "--no-tls") {
      options.tls = false;
    } else if (arg == "--stride") {
      options.stride = std::stoull(value());
    } else {
      std::fprintf(stderr, "unknown argument %s (see the top of xmpp_sink.cc)\n", argv[i]);
      return 2;
    }
  }
  boost::asio::io_context io(1);
  Sink sink(options);
  if (absl::Status started = sink.Start(io); !started.ok()) {
    std::fprintf(stderr, "xmpp_sink: %s\n", started.ToString().c_str());
    return 1;
  }
  boost::asio::signal_set usr1(io, SIGUSR1);
  std::function<void()> wait_usr1 = [&] {
    usr1.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      sink.PrintStats();
      wait_usr1();
    });
  };
  wait_usr1();
  boost::asio::signal_set stop(io, SIGTERM, SIGINT);
  stop.async_wait([&](const boost::system::error_code&, int) {
    sink.PrintStats();
    sink.Shutdown();
    usr1.cancel();
    io.stop();
  });
  std::fprintf(stderr, "xmpp_sink: %s listening on %s\n", options.domain.c_str(),
               options.listen.c_str());
  io.run();
  return 0;
}

}  // namespace
}  // namespace causeway::xmpp::io

int main(int argc, char** argv) { return causeway::xmpp::io::Main(argc, argv); }
