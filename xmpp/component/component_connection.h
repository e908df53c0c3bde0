#pragma once
// XEP-0114 component mode: causeway attaches to a site's existing XMPP server as an external
// component (Prosody: `Component "gw.xmpp.test"` + component_secret, port 5347) instead of
// federating. The stream and its <handshake/> (hex SHA-1 of stream id + secret) are libstrophe's
// (xmpp_connect_component); libstrophe runs its own loop, so each ComponentConnection owns ONE
// thread that runs xmpp_run_once in short slices and owns every libstrophe object. Nothing else
// touches them:
//
//   any thread ── Send(stanza) ──> mutex-guarded queue ──> libstrophe thread ──> server
//   server ──> libstrophe thread ──> Element ──> `post` (e.g. onto a worker's io_context)
//                                              ──> callbacks.on_stanza
//
// Nothing accepted by Send is dropped silently (the same contract as xmpp/io's S2sService): a
// stanza is written to the server, or handed to on_undeliverable with the condition to bounce:
//   remote-server-timeout  queued longer than retry_queued_for while the server was unreachable
//                          or refused the handshake
//   resource-constraint    max_queued stanzas already waiting
//   service-unavailable    Send after Shutdown
// or returned by Shutdown(). Stanzas that libstrophe still held when the connection dropped are
// taken back and queued again in order, so they go out after the reconnect (one that was half
// written may then reach the server twice).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/errors.h"

struct _xmpp_conn_t;  // libstrophe's connection (strophe.h stays out of this header)

namespace causeway::xmpp::component {

inline constexpr uint16_t kDefaultComponentPort = 5347;

struct ComponentConfig {
  std::string host = "127.0.0.1";  // the XMPP server's component listener
  uint16_t port = kDefaultComponentPort;
  std::string domain;  // the component's JID, which the server routes to us
  std::string secret;  // the server's component_secret

  // TCP connect + stream header + handshake; past it the attempt is abandoned (the stream is
  // closed within libstrophe's 2 s; a TCP connect still pending ends at libstrophe's own 5 s).
  Duration connect_timeout = std::chrono::seconds(10);
  Duration reconnect_initial = std::chrono::seconds(1);
  Duration reconnect_max = std::chrono::seconds(60);
  // Stanzas waiting for the connection (Send not yet handed to libstrophe).
  size_t max_queued = 1000;
  // How long a stanza may wait for a connection before it is bounced (remote-server-timeout).
  Duration retry_queued_for = std::chrono::seconds(30);
  // Stanzas handed to libstrophe and not yet written to the socket; beyond this, stanzas stay in
  // our queue (bounded by max_queued) until the server reads.
  size_t max_in_flight = 256;
  // One xmpp_run_once slice: the longest a Send waits before the libstrophe thread picks it up
  // (libstrophe's select cannot be woken from another thread), and the idle wake-up rate.
  std::chrono::milliseconds poll_interval{10};
  // Shutdown waits this long for </stream:stream> to go out before it closes the socket.
  Duration close_timeout = std::chrono::seconds(2);
};

struct ComponentStats {
  bool connected = false;
  uint64_t connects = 0;       // handshakes accepted
  uint64_t reconnects = 0;     // handshakes accepted after the first
  uint64_t attempts = 0;       // connection attempts started
  uint64_t auth_failures = 0;  // attempts ended by a stream error before the handshake was
                               // accepted (not-authorized for a wrong secret)
  uint64_t stanzas_in = 0;     // delivered to on_stanza
  uint64_t stanzas_out = 0;    // written to the socket by libstrophe
  uint64_t requeued = 0;       // taken back from libstrophe after a disconnect
  uint64_t bounced = 0;        // handed to on_undeliverable
};

// How a callback reaches the caller's thread: post(fn) must run fn later, exactly once (e.g.
// boost::asio::post(worker.io_context(), fn)). Empty: callbacks run on the libstrophe thread.
using Executor = std::function<void(std::function<void()>)>;

struct ComponentCallbacks {
  // A stanza the server routed to the component (namespace jabber:component:accept).
  std::function<void(Element stanza)> on_stanza;
  // A stanza Send accepted that cannot be delivered: bounce an error to its sender.
  std::function<void(Element stanza, StanzaErrorCondition condition)> on_undeliverable;
  // Optional: the handshake was accepted (OK) or the link went down or was refused (the cause;
  // StreamErrorOf names a received stream error, e.g. not-authorized for a wrong secret).
  std::function<void(bool up, absl::Status cause)> on_link;
};

class ComponentConnection {
 public:
  // Validates the config and starts the libstrophe thread, which connects at once.
  static absl::StatusOr<std::unique_ptr<ComponentConnection>> Start(ComponentConfig config,
                                                                    ComponentCallbacks callbacks,
                                                                    Executor post = {});
  // Shutdown(), bouncing what it returns as service-unavailable.
  ~ComponentConnection();
  ComponentConnection(const ComponentConnection&) = delete;
  ComponentConnection& operator=(const ComponentConnection&) = delete;

  // Any thread. InvalidArgument (stanza dropped: a caller bug) when it is not a
  // message/presence/iq, `to` does not parse, or `from` is not a JID at the component's domain.
  // Otherwise OK (queued), or the error of a refusal that was also reported through
  // on_undeliverable.
  absl::Status Send(Element stanza);

  // Closes the stream (</stream:stream>, bounded by close_timeout), stops and joins the thread,
  // and returns the stanzas not written, in order. Later Sends are bounced (service-unavailable).
  // Idempotent; callable from any thread but the libstrophe thread (i.e. not from a callback
  // run without an executor).
  std::vector<Element> Shutdown();

  ComponentStats stats() const;
  const ComponentConfig& config() const { return config_; }

 private:
  struct Queued {
    Element stanza;
    TimePoint since;
  };
  struct Strophe;  // libstrophe's context and connection, touched on the loop thread only

  ComponentConnection(ComponentConfig config, ComponentCallbacks callbacks, Executor post);

  // ---- the libstrophe thread ----
  void Run();
  void StartAttempt(TimePoint now);
  void OnConnected();
  void OnDisconnected(_xmpp_conn_t* conn, const absl::Status& cause, bool stream_error);
  void OnStanzaText(std::string_view xml);
  void HandToStrophe();
  void CountWritten();
  void TakeBackInFlight(_xmpp_conn_t* conn);
  void ExpireQueued(TimePoint now);
  void CloseStream();

  // ---- any thread ----
  void Bounce(std::vector<Element> stanzas, StanzaErrorCondition condition);
  void Deliver(std::function<void()> fn);

  const ComponentConfig config_;
  const std::shared_ptr<const ComponentCallbacks> callbacks_;
  const Executor post_;

  std::mutex mutex_;  // guards queue_ and stopping_
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::atomic<bool> stop_{false};
  std::vector<Element> leftover_;  // filled by the thread before it ends
  std::thread thread_;
  bool joined_ = false;

  // Loop-thread state.
  std::unique_ptr<Strophe> strophe_;
  enum class LinkState { kIdle, kConnecting, kConnected };
  LinkState link_ = LinkState::kIdle;
  TimePoint next_attempt_{};
  TimePoint attempt_deadline_{};
  Duration backoff_{};
  std::deque<Element> in_flight_;  // handed to libstrophe, oldest first
  bool timed_out_ = false;         // the attempt being torn down ran out of connect_timeout

  // Stats, read from any thread.
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connects_{0}, attempts_{0}, auth_failures_{0}, stanzas_in_{0},
      stanzas_out_{0}, requeued_{0}, bounced_{0};
};

}  // namespace causeway::xmpp::component
