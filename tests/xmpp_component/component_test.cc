// xmpp/component: the XEP-0114 connection through libstrophe against a real Prosody — handshake
// with the right and a wrong secret, stanzas both ways, the server going away and coming back,
// bounces at the deadline, a full queue, Shutdown — plus the stanza text helpers on their own, and
// a scripted XEP-0114 server for what Prosody never does (checks the handshake digest itself,
// sends a stream error after the handshake, garbage, or closes in the middle of the handshake).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "tests/xmpp_component/prosody_instance.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/component/component_connection.h"
#include "xmpp/component/component_wire.h"

namespace causeway::xmpp::component {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::PickFreePort;
using test_support::ProsodyAvailable;
using test_support::ProsodyInstance;

constexpr char kDomain[] = "gw.xmpp.test";
constexpr char kSecret[] = "component-secret";

// ---- the stanza text helpers ----

TEST(ComponentWireTest, StanzaFromAnotherStreamIsWrittenInTheComponentNamespace) {
  Element message = MakeStanza(StanzaKind::kMessage, kNsServer, "chat", "bob@xmpp.test",
                               "alice@gw.xmpp.test", "m1");
  message.AddChild(kNsServer, "body").SetText("hi <there>");
  message.AddChild("urn:xmpp:receipts", "request");
  const std::string xml = ComponentStanzaXml(message);
  EXPECT_EQ(xml,
            "<message from='alice@gw.xmpp.test' to='bob@xmpp.test' type='chat' id='m1'>"
            "<body>hi &lt;there&gt;</body><request xmlns='urn:xmpp:receipts'/></message>");

  // Read back as a component stream reads it: the namespaces moved, the payload kept its own.
  StanzaTextParser parser;
  absl::StatusOr<Element> parsed = parser.Parse(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ns(), kNsComponentAccept);
  EXPECT_EQ(parsed->ChildText(kNsComponentAccept, "body"), "hi <there>");
  EXPECT_NE(parsed->FindChild("urn:xmpp:receipts", "request"), nullptr);
}

TEST(ComponentWireTest, ParsesLibstropheRenderingsWithOrWithoutXmlns) {
  StanzaTextParser parser;
  // libstrophe renders the namespace as an attribute when it has one.
  absl::StatusOr<Element> with = parser.Parse(
      "<iq xmlns=\"jabber:component:accept\" type=\"result\" id=\"p1\" from=\"xmpp.test\" "
      "to=\"gw.xmpp.test\"/>");
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->ns(), kNsComponentAccept);
  EXPECT_EQ(StanzaId(*with), "p1");
  absl::StatusOr<Element> without = parser.Parse(
      "<presence from=\"a@xmpp.test/r\" to=\"b@gw.xmpp.test\"><show>away</show>"
      "</presence>");
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->ns(), kNsComponentAccept);
  EXPECT_EQ(without->ChildText(kNsComponentAccept, "show"), "away");
}

TEST(ComponentWireTest, RejectsAnythingButOneCompleteElementAndRecovers) {
  StanzaTextParser parser;
  EXPECT_FALSE(parser.Parse("<message><body>").ok());             // incomplete
  EXPECT_FALSE(parser.Parse("<message/><message/>").ok());        // two
  EXPECT_FALSE(parser.Parse("<message><a></b></message>").ok());  // ill-formed
  EXPECT_FALSE(parser.Parse("</stream:stream>").ok());            // stream end
  absl::StatusOr<Element> next = parser.Parse("<message id='after'/>");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(StanzaId(*next), "after");
}

// ---- against Prosody ----

// Everything the callbacks report, waited for from the test thread.
class Recorder {
 public:
  struct Bounce {
    Element stanza;
    StanzaErrorCondition condition;
  };
  struct Link {
    bool up;
    absl::Status cause;
  };

  ComponentCallbacks Callbacks() {
    ComponentCallbacks callbacks;
    callbacks.on_stanza = [this](Element stanza) {
      std::lock_guard<std::mutex> lock(mutex_);
      stanzas_.push_back(std::move(stanza));
      changed_.notify_all();
    };
    callbacks.on_undeliverable = [this](Element stanza, StanzaErrorCondition condition) {
      std::lock_guard<std::mutex> lock(mutex_);
      bounces_.push_back({std::move(stanza), condition});
      changed_.notify_all();
    };
    callbacks.on_link = [this](bool up, absl::Status cause) {
      std::lock_guard<std::mutex> lock(mutex_);
      links_.push_back({up, std::move(cause)});
      changed_.notify_all();
    };
    return callbacks;
  }

  // Waits until `done` holds (checked under the lock), at most `timeout`.
  bool WaitFor(const std::function<bool()>& done, milliseconds timeout = seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, done);
  }
  bool WaitLinks(size_t count, milliseconds timeout = seconds(10)) {
    return WaitFor([&] { return links_.size() >= count; }, timeout);
  }
  bool WaitStanzas(size_t count, milliseconds timeout = seconds(10)) {
    return WaitFor([&] { return stanzas_.size() >= count; }, timeout);
  }
  bool WaitBounces(size_t count, milliseconds timeout = seconds(10)) {
    return WaitFor([&] { return bounces_.size() >= count; }, timeout);
  }

  std::vector<Element> stanzas() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stanzas_;
  }
  std::vector<Bounce> bounces() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bounces_;
  }
  std::vector<Link> links() {
    std::lock_guard<std::mutex> lock(mutex_);
    return links_;
  }
  // The stanza with this id, if one arrived.
  std::optional<Element> StanzaWithId(std::string_view id) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Element& stanza : stanzas_) {
      if (StanzaId(stanza) == id) return stanza;
    }
    return std::nullopt;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Element> stanzas_;
  std::vector<Bounce> bounces_;
  std::vector<Link> links_;
};

ComponentConfig ConfigFor(uint16_t port, std::string secret = kSecret) {
  ComponentConfig config;
  config.host = "127.0.0.1";
  config.port = port;
  config.domain = kDomain;
  config.secret = std::move(secret);
  config.connect_timeout = seconds(5);
  config.reconnect_initial = milliseconds(200);
  config.reconnect_max = seconds(1);
  config.retry_queued_for = seconds(30);
  return config;
}

// A chat message from a user at the component to a Prosody account that does not exist:
// Prosody answers it with a service-unavailable error addressed back to the component.
Element MessageToNobody(std::string_view id) {
  Element message = MakeStanza(StanzaKind::kMessage, kNsComponentAccept, "chat", "nobody@xmpp.test",
                               "alice@gw.xmpp.test", id);
  message.AddChild(kNsComponentAccept, "body").SetText(absl::StrCat("message ", ToAbsl(id)));
  return message;
}

void ExpectServiceUnavailableReply(const Element& reply) {
  EXPECT_EQ(reply.name(), "message");
  EXPECT_EQ(StanzaType(reply), "error");
  EXPECT_EQ(StanzaTo(reply), "alice@gw.xmpp.test");
  EXPECT_EQ(StanzaFrom(reply), "nobody@xmpp.test");
  std::optional<ReceivedStanzaError> error = ReadStanzaError(reply);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->condition, StanzaErrorCondition::kServiceUnavailable);
}

class ComponentProsodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ProsodyAvailable()) GTEST_SKIP() << "no " << test_support::kProsodyBinary;
  }
  void StartProsody(test_support::ProsodyOptions options = {}) {
    prosody_.emplace(std::move(options));
    ASSERT_TRUE(prosody_->Start()) << "Prosody did not start; log:\n" << prosody_->Log();
  }
  void TearDown() override {
    if (HasFailure() && prosody_) std::cerr << "---- Prosody log ----\n" << prosody_->Log();
  }

  std::optional<ProsodyInstance> prosody_;
  Recorder recorder_;
};

TEST_F(ComponentProsodyTest, HandshakeWithTheRightSecretIsAccepted) {
  StartProsody();
  auto connection =
      ComponentConnection::Start(ConfigFor(prosody_->component_port()), recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder_.WaitLinks(1));
  const auto links = recorder_.links();
  EXPECT_TRUE(links[0].up) << links[0].cause;
  const ComponentStats stats = (*connection)->stats();
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.auth_failures, 0u);
  EXPECT_TRUE((*connection)->Shutdown().empty());
  EXPECT_FALSE((*connection)->stats().connected);
}

TEST_F(ComponentProsodyTest, WrongSecretIsRefusedWithNotAuthorizedAndRetriedWithBackoff) {
  StartProsody();
  ComponentConfig config = ConfigFor(prosody_->component_port(), "not-the-secret");
  config.reconnect_initial = milliseconds(300);
  config.reconnect_max = seconds(5);
  const auto started = std::chrono::steady_clock::now();
  auto connection = ComponentConnection::Start(config, recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder_.WaitLinks(2));  // the first attempt and one retry, both refused
  const auto elapsed = std::chrono::steady_clock::now() - started;
  for (const Recorder::Link& link : recorder_.links()) {
    EXPECT_FALSE(link.up);
    EXPECT_EQ(StreamErrorOf(link.cause), StreamErrorCondition::kNotAuthorized) << link.cause;
  }
  // The retry came after the backoff, not at once.
  EXPECT_GE(elapsed, milliseconds(300));
  // Backoff doubles: by 1.5 s at most the attempts at ~0, 0.3, 0.9 s have been made.
  std::this_thread::sleep_until(started + milliseconds(1500));
  const ComponentStats stats = (*connection)->stats();
  EXPECT_FALSE(stats.connected);
  EXPECT_EQ(stats.connects, 0u);
  EXPECT_GE(stats.auth_failures, 2u);
  EXPECT_LE(stats.attempts, 3u);
}

TEST_F(ComponentProsodyTest, StanzasGoToProsodyAndItsAnswersArriveAtOnStanza) {
  StartProsody();
  // Callbacks go through an executor, as the gateway posts them to a worker: here a queue the
  // test thread drains, so on_stanza must run on the test thread.
  std::mutex posted_mutex;
  std::deque<std::function<void()>> posted;
  Executor post = [&](std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(posted_mutex);
    posted.push_back(std::move(fn));
  };
  const std::thread::id test_thread = std::this_thread::get_id();
  std::vector<std::thread::id> callback_threads;
  ComponentCallbacks callbacks = recorder_.Callbacks();
  callbacks.on_stanza = [&, inner = callbacks.on_stanza](Element stanza) {
    callback_threads.push_back(std::this_thread::get_id());
    inner(std::move(stanza));
  };
  auto connection =
      ComponentConnection::Start(ConfigFor(prosody_->component_port()), std::move(callbacks), post);
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto drain_until = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::deque<std::function<void()>> batch;
      {
        std::lock_guard<std::mutex> lock(posted_mutex);
        batch.swap(posted);
      }
      for (auto& fn : batch) fn();
      std::this_thread::sleep_for(milliseconds(5));
    }
    return done();
  };
  ASSERT_TRUE(drain_until([&] { return !recorder_.links().empty(); }));
  ASSERT_TRUE(recorder_.links()[0].up);

  // XEP-0199 ping to the server: Prosody's mod_ping answers with a result.
  Element ping = MakeStanza(StanzaKind::kIq, kNsComponentAccept, "get", "xmpp.test",
                            "alice@gw.xmpp.test/lync", "ping-1");
  ping.AddChild("urn:xmpp:ping", "ping");
  ASSERT_TRUE((*connection)->Send(std::move(ping)).ok());
  ASSERT_TRUE((*connection)->Send(MessageToNobody("m-1")).ok());
  ASSERT_TRUE(drain_until([&] {
    return recorder_.StanzaWithId("ping-1").has_value() && recorder_.StanzaWithId("m-1");
  }));

  const Element pong = *recorder_.StanzaWithId("ping-1");
  EXPECT_EQ(pong.name(), "iq");
  EXPECT_EQ(pong.ns(), kNsComponentAccept);
  EXPECT_EQ(StanzaType(pong), "result");
  EXPECT_EQ(StanzaFrom(pong), "xmpp.test");
  EXPECT_EQ(StanzaTo(pong), "alice@gw.xmpp.test/lync");
  ExpectServiceUnavailableReply(*recorder_.StanzaWithId("m-1"));
  for (std::thread::id id : callback_threads) EXPECT_EQ(id, test_thread);

  const ComponentStats stats = (*connection)->stats();
  EXPECT_EQ(stats.stanzas_out, 2u);
  EXPECT_EQ(stats.stanzas_in, 2u);
  EXPECT_EQ(stats.bounced, 0u);
  EXPECT_TRUE((*connection)->Shutdown().empty());
}

// Runs tests/xmpp_component/xmpp_client.py (slixmpp) to completion, at most `timeout`; returns its
// exit code (-1 when it had to be killed) and leaves its output in `output`.
int RunClient(const std::vector<std::string>& args, std::chrono::seconds timeout,
              const std::string& output) {
  std::vector<std::string> argv = {"/usr/bin/python3", CAUSEWAY_XMPP_CLIENT_SCRIPT};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int out = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    execv(raw[0], raw.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(ComponentProsodyTest, AClientMessageToTheComponentDomainArrivesAndTheAnswerReachesIt) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  test_support::ProsodyOptions options;
  options.c2s_port = PickFreePort();
  StartProsody(options);
  // The gateway's part, played here: answer the client from the JID it wrote to.
  std::atomic<ComponentConnection*> self{nullptr};  // set once Start returns
  ComponentCallbacks callbacks = recorder_.Callbacks();
  callbacks.on_stanza = [&, inner = callbacks.on_stanza](Element stanza) {
    ComponentConnection* connection = self.load();
    if (stanza.name() == "message" && StanzaType(stanza) == "chat" && connection != nullptr) {
      Element answer = MakeStanza(StanzaKind::kMessage, kNsComponentAccept, "chat",
                                  StanzaFrom(stanza), StanzaTo(stanza), "answer-1");
      answer.AddChild(kNsComponentAccept, "body").SetText("hello client");
      EXPECT_TRUE(connection->Send(std::move(answer)).ok());
    }
    inner(std::move(stanza));
  };
  auto connection =
      ComponentConnection::Start(ConfigFor(prosody_->component_port()), std::move(callbacks));
  ASSERT_TRUE(connection.ok()) << connection.status();
  self.store(connection->get());
  ASSERT_TRUE(recorder_.WaitLinks(1));
  ASSERT_TRUE(recorder_.links()[0].up);

  const std::string output = prosody_->dir() + "/client.out";
  const int code = RunClient({"--port", std::to_string(options.c2s_port), "--domain", "xmpp.test",
                              "--to", "bob@gw.xmpp.test", "--body", "hello component", "--expect",
                              "hello client", "--timeout", "15"},
                             seconds(30), output);
  std::ifstream in(output);
  const std::string client_log((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  EXPECT_EQ(code, 0) << client_log;

  std::optional<Element> received;
  for (const Element& stanza : recorder_.stanzas()) {
    if (stanza.name() == "message" && StanzaType(stanza) == "chat") received = stanza;
  }
  ASSERT_TRUE(received.has_value()) << client_log;
  EXPECT_EQ(StanzaTo(*received), "bob@gw.xmpp.test");
  absl::StatusOr<Jid> from = StanzaFromJid(*received);
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->domain(), "xmpp.test");  // an anonymous account of Prosody's
  EXPECT_FALSE(from->resource().empty());
  EXPECT_EQ(received->ChildText(kNsComponentAccept, "body"), "hello component");
  (*connection)->Shutdown();
}

TEST_F(ComponentProsodyTest, StanzasSentWhileProsodyIsDownGoOutWhenItReturns) {
  StartProsody();
  auto connection =
      ComponentConnection::Start(ConfigFor(prosody_->component_port()), recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder_.WaitLinks(1));
  ASSERT_TRUE(recorder_.links()[0].up);

  prosody_->Stop();
  ASSERT_TRUE(recorder_.WaitLinks(2));
  EXPECT_FALSE(recorder_.links()[1].up);
  EXPECT_FALSE((*connection)->stats().connected);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*connection)->Send(MessageToNobody(absl::StrCat("q-", i))).ok());
  }
  std::this_thread::sleep_for(milliseconds(500));  // a few refused reconnects meanwhile
  EXPECT_TRUE(recorder_.stanzas().empty());

  ASSERT_TRUE(prosody_->Start()) << prosody_->Log();
  ASSERT_TRUE(recorder_.WaitStanzas(3)) << "only " << recorder_.stanzas().size();
  const auto stanzas = recorder_.stanzas();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(StanzaId(stanzas[i]), absl::StrCat("q-", i));  // in the order sent
    ExpectServiceUnavailableReply(stanzas[i]);
  }
  const ComponentStats stats = (*connection)->stats();
  EXPECT_GE(stats.reconnects, 1u);
  EXPECT_EQ(stats.bounced, 0u);
  EXPECT_TRUE(recorder_.bounces().empty());
}

TEST_F(ComponentProsodyTest, StanzasQueuedPastTheRetryWindowAreBouncedAsRemoteServerTimeout) {
  // Nothing listens on this port: every attempt is refused.
  ComponentConfig config = ConfigFor(PickFreePort());
  config.retry_queued_for = milliseconds(400);
  auto connection = ComponentConnection::Start(config, recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE((*connection)->Send(MessageToNobody("late-1")).ok());
  ASSERT_TRUE((*connection)->Send(MessageToNobody("late-2")).ok());
  ASSERT_TRUE(recorder_.WaitBounces(2, seconds(5)));
  EXPECT_GE(std::chrono::steady_clock::now() - sent, milliseconds(400));
  const auto bounces = recorder_.bounces();
  EXPECT_EQ(StanzaId(bounces[0].stanza), "late-1");
  EXPECT_EQ(StanzaId(bounces[1].stanza), "late-2");
  for (const auto& bounce : bounces) {
    EXPECT_EQ(bounce.condition, StanzaErrorCondition::kRemoteServerTimeout);
  }
  EXPECT_EQ((*connection)->stats().bounced, 2u);
  EXPECT_GE((*connection)->stats().attempts, 1u);
  EXPECT_TRUE((*connection)->Shutdown().empty());
}

TEST_F(ComponentProsodyTest, AFullQueueRefusesWithResourceConstraint) {
  ComponentConfig config = ConfigFor(PickFreePort());
  config.max_queued = 2;
  auto connection = ComponentConnection::Start(config, recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE((*connection)->Send(MessageToNobody("1")).ok());
  ASSERT_TRUE((*connection)->Send(MessageToNobody("2")).ok());
  absl::Status third = (*connection)->Send(MessageToNobody("3"));
  EXPECT_EQ(StanzaErrorOf(third), StanzaErrorCondition::kResourceConstraint) << third;
  ASSERT_TRUE(recorder_.WaitBounces(1));
  EXPECT_EQ(StanzaId(recorder_.bounces()[0].stanza), "3");
  EXPECT_EQ(recorder_.bounces()[0].condition, StanzaErrorCondition::kResourceConstraint);
  EXPECT_EQ((*connection)->Shutdown().size(), 2u);
}

TEST_F(ComponentProsodyTest, ShutdownReturnsUnsentStanzasAndLaterSendsAreBounced) {
  ComponentConfig config = ConfigFor(PickFreePort());
  auto connection = ComponentConnection::Start(config, recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*connection)->Send(MessageToNobody(absl::StrCat("u-", i))).ok());
  }
  const auto before = std::chrono::steady_clock::now();
  std::vector<Element> unsent = (*connection)->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(3));
  ASSERT_EQ(unsent.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(StanzaId(unsent[i]), absl::StrCat("u-", i));
  EXPECT_TRUE((*connection)->Shutdown().empty());  // idempotent

  absl::Status after = (*connection)->Send(MessageToNobody("too-late"));
  EXPECT_EQ(StanzaErrorOf(after), StanzaErrorCondition::kServiceUnavailable) << after;
  ASSERT_TRUE(recorder_.WaitBounces(1));
  EXPECT_EQ(recorder_.bounces()[0].condition, StanzaErrorCondition::kServiceUnavailable);
  EXPECT_TRUE(recorder_.bounces().size() == 1);
}

TEST_F(ComponentProsodyTest, ShutdownWhileConnectedFlushesTheQueueAndClosesTheStream) {
  StartProsody();
  auto connection =
      ComponentConnection::Start(ConfigFor(prosody_->component_port()), recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder_.WaitLinks(1));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*connection)->Send(MessageToNobody(absl::StrCat("f-", i))).ok());
  }
  EXPECT_TRUE((*connection)->Shutdown().empty());
  EXPECT_EQ((*connection)->stats().stanzas_out, 5u);
  EXPECT_EQ((*connection)->stats().bounced, 0u);
  // Prosody saw our </stream:stream> (a clean close), not a dropped socket.
  const std::string log = prosody_->Log();
  EXPECT_NE(log.find("Received </stream:stream>"), std::string::npos) << log;
}

TEST_F(ComponentProsodyTest, AServerThatNeverAnswersTimesTheAttemptOut) {
  // A listener that never accepts: the kernel completes the TCP handshake, nothing answers the
  // stream header.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ComponentConfig config = ConfigFor(ntohs(addr.sin_port));
  config.connect_timeout = milliseconds(400);
  config.reconnect_initial = seconds(5);
  config.reconnect_max = seconds(5);
  auto connection = ComponentConnection::Start(config, recorder_.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder_.WaitLinks(1, seconds(5)));
  EXPECT_FALSE(recorder_.links()[0].up);
  EXPECT_TRUE(absl::IsDeadlineExceeded(recorder_.links()[0].cause)) << recorder_.links()[0].cause;
  EXPECT_EQ((*connection)->stats().auth_failures, 0u);
  (*connection)->Shutdown();
  close(listener);
}

// A component server of our own that accepts the handshake and then never reads: what the
// connection writes piles up in the socket buffers and in libstrophe's queue, until Drop() resets
// the connection.
class StalledServer {
 public:
  StalledServer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listener_, 4);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~StalledServer() {
    Drop();
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
  }
  uint16_t port() const { return port_; }
  // Closes the connection with unread data in it (the peer sees a reset) and stops listening.
  void Drop() {
    std::lock_guard<std::mutex> lock(mutex_);
    dropped_ = true;
    if (conn_ >= 0) {
      close(conn_);
      conn_ = -1;
    }
    if (listener_ >= 0) {
      shutdown(listener_, SHUT_RDWR);
    }
  }

 private:
  void Serve() {
    pollfd accept_poll{listener_, POLLIN, 0};
    if (poll(&accept_poll, 1, 10000) != 1) return;
    int conn = accept(listener_, nullptr, nullptr);
    if (conn < 0) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (dropped_) {
        close(conn);
        return;
      }
      conn_ = conn;
    }
    // Read the stream header, answer it, read the handshake, accept it; then read nothing more.
    std::string seen;
    bool answered_header = false;
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd read_poll{conn, POLLIN, 0};
      if (poll(&read_poll, 1, 100) != 1) continue;
      char buffer[4096];
      const ssize_t n = read(conn, buffer, sizeof(buffer));
      if (n <= 0) return;
      seen.append(buffer, static_cast<size_t>(n));
      if (!answered_header && seen.find("<stream:stream") != std::string::npos &&
          seen.find('>', seen.find("<stream:stream")) != std::string::npos) {
        const std::string header =
            "<stream:stream xmlns='jabber:component:accept' "
            "xmlns:stream='http://etherx.jabber.org/streams' id='stalled-1' "
            "from='gw.xmpp.test'>";
        if (write(conn, header.data(), header.size()) < 0) return;
        answered_header = true;
      }
      if (seen.find("</handshake>") != std::string::npos) {
        constexpr std::string_view kAccepted = "<handshake/>";
        if (write(conn, kAccepted.data(), kAccepted.size()) < 0) return;
        return;
      }
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::mutex mutex_;
  int conn_ = -1;
  bool dropped_ = false;
  std::thread thread_;
};

TEST(ComponentConnectionTest, StanzasLibstropheHadNotWrittenAtADisconnectAreTakenBack) {
  StalledServer server;
  Recorder recorder;
  ComponentConfig config = ConfigFor(server.port());
  config.reconnect_initial = seconds(30);  // no second attempt within the test
  config.reconnect_max = seconds(30);
  config.max_in_flight = 256;
  auto connection = ComponentConnection::Start(config, recorder.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder.WaitLinks(1));
  ASSERT_TRUE(recorder.links()[0].up) << recorder.links()[0].cause;

  // 200 x 64 KiB is far more than loopback socket buffers hold.
  constexpr int kCount = 200;
  const std::string body(64 * 1024, 'x');
  for (int i = 0; i < kCount; ++i) {
    Element message = MessageToNobody(absl::StrCat("big-", i));
    message.FindChild(kNsComponentAccept, "body")->SetText(body);
    ASSERT_TRUE((*connection)->Send(std::move(message)).ok());
  }
  // Wait until the writes stall.
  uint64_t last = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  for (;;) {
    std::this_thread::sleep_for(milliseconds(300));
    const uint64_t out = (*connection)->stats().stanzas_out;
    if (out == last || std::chrono::steady_clock::now() > deadline) break;
    last = out;
  }
  ASSERT_LT((*connection)->stats().stanzas_out, static_cast<uint64_t>(kCount));

  server.Drop();
  ASSERT_TRUE(recorder.WaitLinks(2));
  EXPECT_FALSE(recorder.links()[1].up);
  const ComponentStats stats = (*connection)->stats();
  EXPECT_GT(stats.requeued, 0u);
  std::vector<Element> unsent = (*connection)->Shutdown();
  // Every stanza is either counted as written or handed back, once, in order.
  EXPECT_EQ((*connection)->stats().stanzas_out + unsent.size(), static_cast<uint64_t>(kCount));
  ASSERT_FALSE(unsent.empty());
  const size_t first = kCount - unsent.size();
  for (size_t i = 0; i < unsent.size(); ++i) {
    EXPECT_EQ(StanzaId(unsent[i]), absl::StrCat("big-", first + i));
  }
  EXPECT_TRUE(recorder.bounces().empty());
}

TEST(ComponentConnectionTest, SendRefusesWhatIsNotAStanzaFromTheComponentDomain) {
  Recorder recorder;
  ComponentConfig config = ConfigFor(PickFreePort());
  auto connection = ComponentConnection::Start(config, recorder.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  Element foreign = MessageToNobody("x");
  foreign.SetAttr("from", "alice@elsewhere.test");
  EXPECT_TRUE(absl::IsInvalidArgument((*connection)->Send(foreign)));
  Element no_to = MessageToNobody("y");
  no_to.RemoveAttr("to");
  EXPECT_FALSE((*connection)->Send(no_to).ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*connection)->Send(Element(kNsComponentAccept, "foo"))));
  EXPECT_TRUE((*connection)->Shutdown().empty());  // none of them was queued
  EXPECT_TRUE(recorder.bounces().empty());         // nor bounced: caller bugs
}

TEST(ComponentConnectionTest, StartValidatesTheConfig) {
  Recorder recorder;
  ComponentConfig config = ConfigFor(5347);
  config.domain = "user@gw.xmpp.test";
  EXPECT_FALSE(ComponentConnection::Start(config, recorder.Callbacks()).ok());
  config = ConfigFor(5347, "");
  EXPECT_FALSE(ComponentConnection::Start(config, recorder.Callbacks()).ok());
  config = ConfigFor(5347);
  config.max_queued = 0;
  EXPECT_FALSE(ComponentConnection::Start(config, recorder.Callbacks()).ok());
  EXPECT_FALSE(ComponentConnection::Start(ConfigFor(5347), ComponentCallbacks{}).ok());
}

// ---- against a scripted XEP-0114 server: what Prosody never does ----

// One listening socket on 127.0.0.1 and a thread that runs `script` on each accepted connection
// in turn (at most `max_connections`). Every read is bounded by a timeout.
class FakeComponentServer {
 public:
  class Conn {
   public:
    explicit Conn(int fd) : fd_(fd) {}
    // Reads until `marker` has arrived (what was read stays in buffer()); false on timeout/EOF.
    bool ReadUntil(std::string_view marker, milliseconds timeout = seconds(5)) {
      const auto end = std::chrono::steady_clock::now() + timeout;
      while (buffer_.find(marker) == std::string::npos) {
        const auto left = std::chrono::duration_cast<milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char chunk[4096];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<size_t>(n));
      }
      return true;
    }
    void Write(std::string_view bytes) {
      while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        bytes.remove_prefix(static_cast<size_t>(n));
      }
    }
    // The server side of XEP-0114 §3: our stream header with `id`, then the component's
    // <handshake/> checked against hex(SHA-1(id + secret)). True when accepted.
    bool Handshake(std::string_view secret, std::string_view id = "stream-1") {
      if (!ReadUntil("jabber:component:accept") || !ReadUntil(">")) return false;
      Write(absl::StrCat("<?xml version='1.0'?><stream:stream xmlns:stream='",
                         ToAbsl(kNsStreams), "' xmlns='jabber:component:accept' from='", kDomain,
                         "' id='", ToAbsl(id), "'>"));
      if (!ReadUntil("</handshake>")) return false;
      // <handshake>HEX</handshake>, the start tag possibly with an xmlns.
      const size_t open = buffer_.find("<handshake");
      const size_t text = buffer_.find('>', open);
      const size_t close = buffer_.find("</handshake>");
      if (open == std::string::npos || text == std::string::npos || close < text) return false;
      const std::string digest = buffer_.substr(text + 1, close - text - 1);
      buffer_.erase(0, close + 12);
      const std::string input = absl::StrCat(ToAbsl(id), ToAbsl(secret));
      unsigned char sha[SHA_DIGEST_LENGTH];
      SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), sha);
      std::string expected;
      for (unsigned char b : sha) absl::StrAppend(&expected, absl::Hex(b, absl::kZeroPad2));
      if (digest != expected) {
        Write("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
              "</stream:error></stream:stream>");
        return false;
      }
      Write("<handshake/>");
      return true;
    }
    std::string& buffer() { return buffer_; }

   private:
    int fd_;
    std::string buffer_;
  };
  using Script = std::function<void(int index, Conn& conn)>;

  FakeComponentServer(size_t max_connections, Script script)
      : listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "fake server: no listening socket";
      return;
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, max_connections, script = std::move(script)] {
      for (size_t i = 0; i < max_connections && !stop_; ++i) {
        pollfd p{listener_, POLLIN, 0};
        int ready = 0;
        for (int waited = 0; waited < 100 && !stop_ && ready == 0; ++waited) {
          ready = ::poll(&p, 1, 100);  // at most 10 s per connection, in slices that see stop_
        }
        if (ready <= 0) return;
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) return;
        {
          Conn conn(fd);
          script(static_cast<int>(i), conn);
        }
        ::close(fd);
        accepted_.fetch_add(1);
      }
    });
  }
  ~FakeComponentServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) ::close(listener_);
  }
  uint16_t port() const { return port_; }
  int finished() const { return accepted_.load(); }

 private:
  int listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(ComponentFakeServerTest, TheHandshakeDigestIsRightAndStanzasFlowBothWays) {
  std::atomic<bool> got_ours{false};
  std::string ours;
  std::mutex ours_mutex;
  FakeComponentServer server(1, [&](int, FakeComponentServer::Conn& conn) {
    if (!conn.Handshake(kSecret, "a1b2c3")) return;
    conn.Write("<message from='bob@xmpp.test/pc' to='alice@gw.xmpp.test' type='chat' id='in-1'>"
               "<body>hi from the server</body></message>");
    if (conn.ReadUntil("</message>")) {
      std::lock_guard<std::mutex> lock(ours_mutex);
      ours = conn.buffer();
      got_ours = true;
    }
    conn.ReadUntil("</stream:stream>", seconds(3));  // until Shutdown closes the stream
  });
  Recorder recorder;
  auto connection = ComponentConnection::Start(ConfigFor(server.port()), recorder.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder.WaitStanzas(1)) << "nothing arrived from the server";
  const Element in = recorder.stanzas()[0];
  EXPECT_EQ(StanzaId(in), "in-1");
  EXPECT_EQ(in.ChildText(in.ns(), "body"), "hi from the server");
  Element out = MakeStanza(StanzaKind::kMessage, kNsComponentAccept, "chat", "bob@xmpp.test/pc",
                           "alice@gw.xmpp.test", "out-1");
  out.AddChild(kNsComponentAccept, "body").SetText("hi from the component");
  ASSERT_TRUE((*connection)->Send(out).ok());
  for (int i = 0; i < 500 && !got_ours; ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(got_ours) << "the server got no stanza";
  {
    std::lock_guard<std::mutex> lock(ours_mutex);
    EXPECT_NE(ours.find("hi from the component"), std::string::npos) << ours;
    EXPECT_NE(ours.find("out-1"), std::string::npos) << ours;
  }
  EXPECT_TRUE((*connection)->Shutdown().empty());
  EXPECT_EQ((*connection)->stats().connects, 1u);
}

TEST(ComponentFakeServerTest, AStreamErrorAfterTheHandshakeReconnectsAndNothingIsLost) {
  std::mutex mutex;
  std::vector<std::string> second_stream;  // what arrived on the second connection
  FakeComponentServer server(2, [&](int index, FakeComponentServer::Conn& conn) {
    if (!conn.Handshake(kSecret)) return;
    if (index == 0) {
      // Another instance of the component took over (RFC 6120 §4.9.3.3 conflict).
      conn.Write("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                 "</stream:error></stream:stream>");
      return;
    }
    conn.ReadUntil("id='late-3'", seconds(8));
    conn.ReadUntil("</message>", seconds(2));
    std::lock_guard<std::mutex> lock(mutex);
    second_stream.push_back(conn.buffer());
  });
  Recorder recorder;
  auto connection = ComponentConnection::Start(ConfigFor(server.port()), recorder.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(recorder.WaitLinks(2));  // up, then down with the server's condition
  std::vector<Recorder::Link> links = recorder.links();
  EXPECT_TRUE(links[0].up);
  EXPECT_FALSE(links[1].up);
  EXPECT_EQ(StreamErrorOf(links[1].cause), StreamErrorCondition::kConflict) << links[1].cause;
  // Sent while the link is down or coming back: queued, then written in order.
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE((*connection)->Send(MessageToNobody(absl::StrCat("late-", i))).ok());
  }
  ASSERT_TRUE(recorder.WaitLinks(3, seconds(10)));
  EXPECT_TRUE(recorder.links()[2].up);
  for (int i = 0; i < 1000 && server.finished() < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(second_stream.size(), 1u);
  const std::string& bytes = second_stream[0];
  const size_t one = bytes.find("late-1"), two = bytes.find("late-2"), three = bytes.find("late-3");
  ASSERT_NE(one, std::string::npos) << bytes;
  ASSERT_NE(two, std::string::npos) << bytes;
  ASSERT_NE(three, std::string::npos) << bytes;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_TRUE(recorder.bounces().empty());
  (*connection)->Shutdown();
}

TEST(ComponentFakeServerTest, GarbageOrAnEarlyCloseFromTheServerOnlyCostsAReconnect) {
  std::atomic<bool> answered_with_stream_error{false};
  FakeComponentServer server(3, [&](int index, FakeComponentServer::Conn& conn) {
    if (index == 0) {
      conn.ReadUntil(">");  // closes right after the component's stream header
      return;
    }
    if (!conn.Handshake(kSecret)) return;
    if (index == 1) {
      conn.Write("<message to='alice@gw.xmpp.test'><<<&bogus;");  // not well-formed
      // libstrophe answers with a stream error (RFC 6120 §4.9.3.13) and waits for the close.
      answered_with_stream_error = conn.ReadUntil("stream:error", seconds(3));
      return;
    }
    conn.ReadUntil("</stream:stream>", seconds(8));
  });
  Recorder recorder;
  auto connection = ComponentConnection::Start(ConfigFor(server.port()), recorder.Callbacks());
  ASSERT_TRUE(connection.ok()) << connection.status();
  // Attempt 1 dies in the handshake, attempt 2 is up then dropped for the garbage, attempt 3
  // stays up.
  bool settled = false;
  for (int i = 0; i < 1500 && !settled; ++i) {
    const ComponentStats stats = (*connection)->stats();
    settled = stats.connects >= 2 && stats.connected;
    if (!settled) std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(settled) << "attempts " << (*connection)->stats().attempts;
  const ComponentStats stats = (*connection)->stats();
  EXPECT_GE(stats.attempts, 3u);
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_TRUE(answered_with_stream_error);
  EXPECT_TRUE(recorder.stanzas().empty());  // the broken stanza was never delivered
  (*connection)->Shutdown();
}

}  // namespace
}  // namespace causeway::xmpp::component
