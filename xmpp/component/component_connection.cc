#include "xmpp/component/component_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <strophe.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/component/component_wire.h"

namespace causeway::xmpp::component {
namespace {

constexpr std::string_view kLog = "xmpp";

std::once_flag strophe_initialized;

// libstrophe's stream error types, in strophe.h's order, as RFC 6120 conditions. invalid-id is
// a pre-RFC condition with no RFC 6120 equivalent.
StreamErrorCondition ConditionOf(xmpp_error_type_t type) {
  switch (type) {
    case XMPP_SE_BAD_FORMAT:
      return StreamErrorCondition::kBadFormat;
    case XMPP_SE_BAD_NS_PREFIX:
      return StreamErrorCondition::kBadNamespacePrefix;
    case XMPP_SE_CONFLICT:
      return StreamErrorCondition::kConflict;
    case XMPP_SE_CONN_TIMEOUT:
      return StreamErrorCondition::kConnectionTimeout;
    case XMPP_SE_HOST_GONE:
      return StreamErrorCondition::kHostGone;
    case XMPP_SE_HOST_UNKNOWN:
      return StreamErrorCondition::kHostUnknown;
    case XMPP_SE_IMPROPER_ADDR:
      return StreamErrorCondition::kImproperAddressing;
    case XMPP_SE_INTERNAL_SERVER_ERROR:
      return StreamErrorCondition::kInternalServerError;
    case XMPP_SE_INVALID_FROM:
      return StreamErrorCondition::kInvalidFrom;
    case XMPP_SE_INVALID_NS:
      return StreamErrorCondition::kInvalidNamespace;
    case XMPP_SE_INVALID_XML:
      return StreamErrorCondition::kInvalidXml;
    case XMPP_SE_NOT_AUTHORIZED:
      return StreamErrorCondition::kNotAuthorized;
    case XMPP_SE_POLICY_VIOLATION:
      return StreamErrorCondition::kPolicyViolation;
    case XMPP_SE_REMOTE_CONN_FAILED:
      return StreamErrorCondition::kRemoteConnectionFailed;
    case XMPP_SE_RESOURCE_CONSTRAINT:
      return StreamErrorCondition::kResourceConstraint;
    case XMPP_SE_RESTRICTED_XML:
      return StreamErrorCondition::kRestrictedXml;
    case XMPP_SE_SEE_OTHER_HOST:
      return StreamErrorCondition::kSeeOtherHost;
    case XMPP_SE_SYSTEM_SHUTDOWN:
      return StreamErrorCondition::kSystemShutdown;
    case XMPP_SE_UNSUPPORTED_ENCODING:
      return StreamErrorCondition::kUnsupportedEncoding;
    case XMPP_SE_UNSUPPORTED_STANZA_TYPE:
      return StreamErrorCondition::kUnsupportedStanzaType;
    case XMPP_SE_UNSUPPORTED_VERSION:
      return StreamErrorCondition::kUnsupportedVersion;
    case XMPP_SE_XML_NOT_WELL_FORMED:
      return StreamErrorCondition::kNotWellFormed;
    case XMPP_SE_INVALID_ID:
    case XMPP_SE_UNDEFINED_CONDITION:
      break;
  }
  return StreamErrorCondition::kUndefinedCondition;
}

void LogFromStrophe(void*, xmpp_log_level_t level, const char* area, const char* msg) {
  const std::string_view text = msg ? msg : "";
  const std::initializer_list<log::Field> fields = {log::Field("lib", "libstrophe"),
                                                    log::Field("area", area ? area : "")};
  switch (level) {
    case XMPP_LEVEL_DEBUG:
      log::Debug(kLog, text, fields);
      break;
    case XMPP_LEVEL_INFO:
      log::Info(kLog, text, fields);
      break;
    case XMPP_LEVEL_WARN:
      log::Warn(kLog, text, fields);
      break;
    case XMPP_LEVEL_ERROR:
      log::Error(kLog, text, fields);
      break;
  }
}

// libstrophe 0.12.2 reads conn->sm_state (XEP-0198 state) for every received stanza, but only
// xmpp_connect_client allocates it: a component connection crashes on the first stanza after the
// handshake. Public API only: a throw-away client connection gets one, handed over with
// xmpp_conn_get_sm_state (allowed once it is disconnected) and xmpp_conn_set_sm_state. The donor
// connects to a loopback listener of ours that never accepts, and is released before the loop
// runs, so nothing leaves the machine and no server sees it.
xmpp_sm_state_t* SmStateFromDonor(xmpp_ctx_t* ctx) {
  struct Capture {
    xmpp_sm_state_t* state = nullptr;
  } capture;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    if (listener >= 0) close(listener);
    return nullptr;
  }
  xmpp_conn_t* donor = xmpp_conn_new(ctx);
  if (donor != nullptr) {
    xmpp_conn_set_jid(donor, "sm-donor@localhost");
    xmpp_conn_set_flags(donor, XMPP_CONN_FLAG_DISABLE_TLS);
    auto on_event = [](xmpp_conn_t* conn, xmpp_conn_event_t event, int, xmpp_stream_error_t*,
                       void* userdata) {
      if (event == XMPP_CONN_DISCONNECT || event == XMPP_CONN_FAIL) {
        static_cast<Capture*>(userdata)->state = xmpp_conn_get_sm_state(conn);
      }
    };
    if (xmpp_connect_client(donor, "127.0.0.1", ntohs(addr.sin_port), on_event, &capture) !=
        XMPP_EOK) {
      capture.state = xmpp_conn_get_sm_state(donor);  // failed at once: still disconnected
    }
    // A connecting donor reports its disconnect here first, where the state is taken.
    xmpp_conn_release(donor);
  }
  close(listener);
  return capture.state;
}

}  // namespace

// Everything of libstrophe's, created, used and freed on the loop thread. Nested, so its static
// trampolines reach the connection's private members.
struct ComponentConnection::Strophe {
  explicit Strophe(ComponentConnection& owner) : owner(owner) {
    logger.handler = &LogFromStrophe;
    logger.userdata = nullptr;
    ctx = xmpp_ctx_new(nullptr, &logger);
  }
  ~Strophe() {
    if (conn != nullptr) xmpp_conn_release(conn);  // a live one reports its disconnect first
    if (ctx != nullptr) xmpp_ctx_free(ctx);
  }

  static void OnConnEvent(xmpp_conn_t* conn, xmpp_conn_event_t event, int error,
                          xmpp_stream_error_t* stream_error, void* userdata) {
    auto& self = static_cast<Strophe*>(userdata)->owner;
    if (event == XMPP_CONN_CONNECT) {
      self.OnConnected();
      return;
    }
    if (event == XMPP_CONN_RAW_CONNECT) return;  // not used by component streams
    absl::Status cause;
    if (stream_error != nullptr) {
      cause =
          StreamError(ConditionOf(stream_error->type),
                      absl::StrCat("stream error from the server", stream_error->text ? ": " : "",
                                   stream_error->text ? stream_error->text : ""));
    } else if (self.timed_out_) {
      cause = absl::DeadlineExceededError("no accepted handshake within connect_timeout");
    } else if (error != 0) {
      cause = absl::UnavailableError(absl::StrCat("connection failed: ", std::strerror(error)));
    } else {
      cause = absl::UnavailableError("connection closed");
    }
    self.OnDisconnected(conn, cause, stream_error != nullptr);
  }

  static int OnStanza(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
    auto* strophe = static_cast<Strophe*>(userdata);
    const char* name = xmpp_stanza_get_name(stanza);
    const std::string_view kind = name ? name : "";
    if (kind != "message" && kind != "presence" && kind != "iq") {
      log::Debug(kLog, "component: ignored a non-stanza element", {log::Field("name", kind)});
      return 1;
    }
    char* text = nullptr;
    size_t length = 0;
    if (xmpp_stanza_to_text(stanza, &text, &length) != XMPP_EOK || text == nullptr) {
      log::Error(kLog, "component: a received stanza could not be rendered");
      return 1;
    }
    strophe->owner.OnStanzaText(std::string_view(text, length));
    xmpp_free(strophe->ctx, text);
    return 1;  // keep the handler
  }

  ComponentConnection& owner;
  xmpp_log_t logger{};
  xmpp_ctx_t* ctx = nullptr;
  xmpp_conn_t* conn = nullptr;
  StanzaTextParser parser;
};

absl::StatusOr<std::unique_ptr<ComponentConnection>> ComponentConnection::Start(
    ComponentConfig config, ComponentCallbacks callbacks, Executor post) {
  absl::StatusOr<Jid> domain = Jid::Parse(config.domain);
  if (!domain.ok() || !domain->node().empty() || !domain->resource().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("component domain is not a bare domain: '", config.domain, "'"));
  }
  config.domain = domain->domain();
  if (config.host.empty() || config.port == 0) {
    return absl::InvalidArgumentError("component host and port are required");
  }
  if (config.secret.empty()) return absl::InvalidArgumentError("component secret is empty");
  if (config.max_queued == 0 || config.max_in_flight == 0) {
    return absl::InvalidArgumentError("max_queued and max_in_flight must be positive");
  }
  if (config.reconnect_initial <= Duration::zero() ||
      config.reconnect_max < config.reconnect_initial) {
    return absl::InvalidArgumentError("reconnect_initial must be positive and <= reconnect_max");
  }
  if (!callbacks.on_stanza || !callbacks.on_undeliverable) {
    return absl::InvalidArgumentError("on_stanza and on_undeliverable are required");
  }
  std::call_once(strophe_initialized, [] { xmpp_initialize(); });
  std::unique_ptr<ComponentConnection> connection(
      new ComponentConnection(std::move(config), std::move(callbacks), std::move(post)));
  connection->thread_ = std::thread([raw = connection.get()] { raw->Run(); });
  return connection;
}

ComponentConnection::ComponentConnection(ComponentConfig config, ComponentCallbacks callbacks,
                                         Executor post)
    : config_(std::move(config)),
      callbacks_(std::make_shared<const ComponentCallbacks>(std::move(callbacks))),
      post_(std::move(post)) {}

ComponentConnection::~ComponentConnection() {
  std::vector<Element> unsent = Shutdown();
  if (!unsent.empty()) Bounce(std::move(unsent), StanzaErrorCondition::kServiceUnavailable);
}

absl::Status ComponentConnection::Send(Element stanza) {
  if (KindOf(stanza) == StanzaKind::kNone) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a stanza: <", stanza.name(), "> in '", stanza.ns(), "'"));
  }
  if (absl::StatusOr<Jid> to = StanzaToJid(stanza); !to.ok()) return to.status();
  absl::StatusOr<Jid> from = StanzaFromJid(stanza);
  if (!from.ok()) return from.status();
  if (from->domain() != config_.domain) {
    return absl::InvalidArgumentError(absl::StrCat("from '", ToAbsl(StanzaFrom(stanza)),
                                                   "' is not at the component domain '",
                                                   config_.domain, "'"));
  }
  StanzaErrorCondition refusal;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && queue_.size() < config_.max_queued) {
      queue_.push_back(Queued{std::move(stanza), std::chrono::steady_clock::now()});
      return absl::OkStatus();
    }
    refusal = stopping_ ? StanzaErrorCondition::kServiceUnavailable
                        : StanzaErrorCondition::kResourceConstraint;
  }
  std::vector<Element> refused;
  refused.push_back(std::move(stanza));
  Bounce(std::move(refused), refusal);
  return StanzaError(refusal, refusal == StanzaErrorCondition::kServiceUnavailable
                                  ? "component connection shut down"
                                  : "component queue full");
}

std::vector<Element> ComponentConnection::Shutdown() {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // From a callback on the loop thread (no executor): joining would deadlock. A caller bug;
    // the loop still stops, and the destructor (from another thread) collects what is left.
    log::Error(kLog, "component: Shutdown called on the libstrophe thread; call it elsewhere");
    stop_.store(true);
    return {};
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (joined_) return {};
    stopping_ = true;
    joined_ = true;
  }
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  std::vector<Element> unsent = std::move(leftover_);
  std::lock_guard<std::mutex> lock(mutex_);
  for (Queued& queued : queue_) unsent.push_back(std::move(queued.stanza));
  queue_.clear();
  return unsent;
}

ComponentStats ComponentConnection::stats() const {
  ComponentStats stats;
  stats.connected = connected_.load();
  stats.connects = connects_.load();
  stats.reconnects = stats.connects > 0 ? stats.connects - 1 : 0;
  stats.attempts = attempts_.load();
  stats.auth_failures = auth_failures_.load();
  stats.stanzas_in = stanzas_in_.load();
  stats.stanzas_out = stanzas_out_.load();
  stats.requeued = requeued_.load();
  stats.bounced = bounced_.load();
  return stats;
}

// ---- the libstrophe thread ----

void ComponentConnection::Run() {
  // libstrophe writes with send(2): a peer gone mid-write must give EPIPE, not kill the process.
  // Blocking the signal in this thread alone leaves the process's disposition to its owner.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

  strophe_ = std::make_unique<Strophe>(*this);
  if (strophe_->ctx == nullptr) {
    log::Error(kLog, "component: libstrophe context could not be created");
    strophe_.reset();
    return;  // Sends stay queued and are returned by Shutdown
  }
  // One connection object for the connection's life: libstrophe reconnects a disconnected one.
  xmpp_conn_t* conn = xmpp_conn_new(strophe_->ctx);
  xmpp_sm_state_t* sm_state = conn ? SmStateFromDonor(strophe_->ctx) : nullptr;
  if (sm_state == nullptr || xmpp_conn_set_sm_state(conn, sm_state) != XMPP_EOK) {
    log::Error(kLog, "component: libstrophe connection could not be set up");
    if (sm_state != nullptr) xmpp_free_sm_state(sm_state);
    if (conn != nullptr) xmpp_conn_release(conn);
    strophe_.reset();
    return;
  }
  xmpp_conn_set_jid(conn, config_.domain.c_str());
  xmpp_conn_set_pass(conn, config_.secret.c_str());
  xmpp_handler_add(conn, &Strophe::OnStanza, nullptr, nullptr, nullptr, strophe_.get());
  strophe_->conn = conn;
  backoff_ = config_.reconnect_initial;
  next_attempt_ = std::chrono::steady_clock::now();
  const auto slice =
      static_cast<unsigned long>(std::max<int64_t>(1, config_.poll_interval.count()));
  while (!stop_.load()) {
    const TimePoint now = std::chrono::steady_clock::now();
    if (link_ == LinkState::kIdle && now >= next_attempt_) StartAttempt(now);
    if (link_ == LinkState::kConnecting && now >= attempt_deadline_) {
      log::Warn(kLog, "component: no accepted handshake in time, giving up this attempt",
                {log::Field("server", absl::StrCat(config_.host, ":", config_.port))});
      // A connected stream gets </stream:stream> and is closed within libstrophe's 2 s; a TCP
      // connect still pending ends at libstrophe's own connect timeout (5 s).
      timed_out_ = true;
      attempt_deadline_ = TimePoint::max();
      xmpp_disconnect(strophe_->conn);
    }
    HandToStrophe();
    ExpireQueued(now);
    xmpp_run_once(strophe_->ctx, slice);
    CountWritten();
  }
  CloseStream();
  strophe_.reset();
}

void ComponentConnection::StartAttempt(TimePoint now) {
  attempts_.fetch_add(1);
  link_ = LinkState::kConnecting;
  attempt_deadline_ = now + config_.connect_timeout;
  log::Debug(kLog, "component: connecting",
             {log::Field("server", absl::StrCat(config_.host, ":", config_.port)),
              log::Field("domain", config_.domain)});
  if (xmpp_connect_component(strophe_->conn, config_.host.c_str(), config_.port,
                             &Strophe::OnConnEvent, strophe_.get()) != XMPP_EOK) {
    OnDisconnected(
        nullptr,
        absl::UnavailableError(absl::StrCat("cannot connect to ", config_.host, ":", config_.port)),
        false);
  }
}

void ComponentConnection::OnConnected() {
  link_ = LinkState::kConnected;
  connected_.store(true);
  connects_.fetch_add(1);
  backoff_ = config_.reconnect_initial;
  log::Info(kLog, "component: handshake accepted",
            {log::Field("server", absl::StrCat(config_.host, ":", config_.port)),
             log::Field("domain", config_.domain)});
  Deliver([callbacks = callbacks_] {
    if (callbacks->on_link) callbacks->on_link(true, absl::OkStatus());
  });
}

void ComponentConnection::OnDisconnected(xmpp_conn_t* conn, const absl::Status& cause,
                                         bool stream_error) {
  const bool was_connected = link_ == LinkState::kConnected;
  if (conn != nullptr) TakeBackInFlight(conn);
  link_ = LinkState::kIdle;
  timed_out_ = false;
  connected_.store(false);
  if (!was_connected && stream_error) auth_failures_.fetch_add(1);
  // A link that worked is retried soon; failed attempts back off exponentially.
  if (was_connected) backoff_ = config_.reconnect_initial;
  next_attempt_ = std::chrono::steady_clock::now() + backoff_;
  backoff_ = std::min<Duration>(backoff_ * 2, config_.reconnect_max);
  if (!stop_.load()) {
    const bool refused = !was_connected && stream_error;
    (refused ? log::Error : log::Warn)(
        kLog, was_connected ? "component: connection lost" : "component: connection failed",
        {log::Field("server", absl::StrCat(config_.host, ":", config_.port)),
         log::Field("domain", config_.domain), log::Field("cause", cause.ToString()),
         log::Field("retry_in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                       next_attempt_ - std::chrono::steady_clock::now())
                                       .count())});
  }
  Deliver([callbacks = callbacks_, cause] {
    if (callbacks->on_link) callbacks->on_link(false, cause);
  });
}

void ComponentConnection::OnStanzaText(std::string_view xml) {
  absl::StatusOr<Element> stanza = strophe_->parser.Parse(xml);
  if (!stanza.ok()) {
    log::Error(kLog, "component: a received stanza does not parse",
               {log::Field("error", stanza.status().ToString())});
    return;
  }
  stanzas_in_.fetch_add(1);
  Deliver([callbacks = callbacks_, element = std::move(*stanza)]() mutable {
    callbacks->on_stanza(std::move(element));
  });
}

void ComponentConnection::HandToStrophe() {
  if (link_ != LinkState::kConnected || strophe_->conn == nullptr) return;
  const size_t pending = static_cast<size_t>(std::max(0, xmpp_conn_send_queue_len(strophe_->conn)));
  if (pending >= config_.max_in_flight) return;
  std::vector<Element> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t take = std::min(queue_.size(), config_.max_in_flight - pending);
    batch.reserve(take);
    for (size_t i = 0; i < take; ++i) {
      batch.push_back(std::move(queue_.front().stanza));
      queue_.pop_front();
    }
  }
  for (Element& stanza : batch) {
    const std::string xml = ComponentStanzaXml(stanza);
    xmpp_send_raw(strophe_->conn, xml.data(), xml.size());
    in_flight_.push_back(std::move(stanza));
  }
}

void ComponentConnection::CountWritten() {
  if (link_ != LinkState::kConnected || strophe_->conn == nullptr) return;
  const size_t pending = static_cast<size_t>(std::max(0, xmpp_conn_send_queue_len(strophe_->conn)));
  while (in_flight_.size() > pending) {
    in_flight_.pop_front();
    stanzas_out_.fetch_add(1);
  }
}

void ComponentConnection::TakeBackInFlight(xmpp_conn_t* conn) {
  // libstrophe keeps its send queue until the connection is reset: whatever is still in it was
  // not written (the head may be partly written). Only our own (user) elements come back.
  size_t unwritten = 0;
  for (size_t i = 0; i <= in_flight_.size(); ++i) {
    char* text = xmpp_conn_send_queue_drop_element(conn, XMPP_QUEUE_YOUNGEST);
    if (text == nullptr) break;
    xmpp_free(strophe_->ctx, text);
    ++unwritten;
  }
  unwritten = std::min(unwritten, in_flight_.size());
  const size_t written = in_flight_.size() - unwritten;
  stanzas_out_.fetch_add(written);
  if (unwritten == 0) {
    in_flight_.clear();
    return;
  }
  requeued_.fetch_add(unwritten);
  const TimePoint now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  // Back to the front, oldest first, ahead of what was sent meanwhile.
  for (size_t i = in_flight_.size(); i > written; --i) {
    queue_.push_front(Queued{std::move(in_flight_[i - 1]), now});
  }
  in_flight_.clear();
}

void ComponentConnection::ExpireQueued(TimePoint now) {
  if (link_ == LinkState::kConnected) return;
  std::vector<Element> expired;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto is_expired = [&](const Queued& queued) {
      return now - queued.since >= config_.retry_queued_for;
    };
    if (std::none_of(queue_.begin(), queue_.end(), is_expired)) return;
    std::deque<Queued> kept;
    for (Queued& queued : queue_) {
      if (is_expired(queued)) {
        expired.push_back(std::move(queued.stanza));
      } else {
        kept.push_back(std::move(queued));
      }
    }
    queue_.swap(kept);
  }
  log::Warn(kLog, "component: bouncing stanzas the server did not take in time",
            {log::Field("count", expired.size()), log::Field("domain", config_.domain)});
  Bounce(std::move(expired), StanzaErrorCondition::kRemoteServerTimeout);
}

void ComponentConnection::CloseStream() {
  if (strophe_->conn == nullptr) return;
  if (link_ == LinkState::kConnected) {
    // What is queued goes out ahead of </stream:stream> (libstrophe's queue is FIFO).
    HandToStrophe();
    xmpp_disconnect(strophe_->conn);
    const TimePoint deadline = std::chrono::steady_clock::now() + config_.close_timeout;
    while (link_ != LinkState::kIdle && std::chrono::steady_clock::now() < deadline) {
      xmpp_run_once(strophe_->ctx, 10);
      CountWritten();
    }
  }
  // Releasing a connection still open (no answer in time) or still connecting closes the socket
  // and reports the disconnect, which takes back what was not written.
  xmpp_conn_t* conn = std::exchange(strophe_->conn, nullptr);
  xmpp_conn_release(conn);
  if (link_ != LinkState::kIdle) {
    OnDisconnected(nullptr, absl::CancelledError("shut down"), false);
  }
  for (Element& stanza : in_flight_) leftover_.push_back(std::move(stanza));
  in_flight_.clear();
}

// ---- any thread ----

void ComponentConnection::Bounce(std::vector<Element> stanzas, StanzaErrorCondition condition) {
  bounced_.fetch_add(stanzas.size());
  for (Element& stanza : stanzas) {
    Deliver([callbacks = callbacks_, element = std::move(stanza), condition]() mutable {
      callbacks->on_undeliverable(std::move(element), condition);
    });
  }
}

void ComponentConnection::Deliver(std::function<void()> fn) {
  if (post_) {
    post_(std::move(fn));
  } else {
    fn();
  }
}

}  // namespace causeway::xmpp::component
