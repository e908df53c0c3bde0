#include "gateway/metrics_http.h"

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "sip/io/transport_endpoint.h"
#include "sip/io/udp.h"

namespace causeway::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr size_t kMaxMethodBytes = 16;
// After the response: how long and how much we keep reading what the client still sends, so
// that closing with unread bytes does not reset the connection under the response.
constexpr auto kLinger = std::chrono::seconds(1);
constexpr size_t kMaxLingerBytes = 64 * 1024;
// After a failed accept (e.g. out of descriptors): wait before the next one instead of spinning.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

// RFC 9110 §5.6.2 token characters.
bool IsTchar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool IsVisible(char c) { return c > 0x20 && c < 0x7f; }

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

std::string_view StripCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// "METHOD SP request-target SP HTTP/1.x".
bool ParseRequestLine(std::string_view line, HttpRequestHead* head) {
  const size_t first = line.find(' ');
  if (first == std::string_view::npos) return false;
  const size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return false;
  std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  std::string_view version = line.substr(second + 1);
  if (method.size() > kMaxMethodBytes || !IsToken(method)) return false;
  if (target.empty()) return false;
  for (char c : target) {
    if (!IsVisible(c)) return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  head->method = method;
  head->target = target;
  return true;
}

// "name: value" with a token name and no control characters but HTAB in the value. Folded
// continuation lines (obsolete, RFC 9112 §5.2) start with whitespace and are refused.
bool IsHeaderLine(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) return false;
  for (char c : line.substr(colon + 1)) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

HttpResponse TextResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

}  // namespace

HttpHeadParse ParseHttpRequestHead(std::string_view received, size_t max_bytes) {
  HttpHeadParse result;
  const size_t line_end = received.find('\n');
  std::string_view first =
      received.substr(0, line_end == std::string_view::npos ? received.size() : line_end);
  // Only printable ASCII, spaces and the CR before the LF can be part of a request line.
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i] == ' ' || IsVisible(first[i])) continue;
    if (first[i] == '\r' && i + 1 == first.size()) continue;
    result.state = HttpHeadParse::State::kBad;
    return result;
  }
  if (line_end == std::string_view::npos) {
    if (received.size() >= max_bytes) result.state = HttpHeadParse::State::kTooLarge;
    return result;
  }
  if (line_end + 1 > max_bytes) {
    result.state = HttpHeadParse::State::kTooLarge;
    return result;
  }
  HttpRequestHead head;
  if (!ParseRequestLine(StripCr(first), &head)) {
    result.state = HttpHeadParse::State::kBad;
    return result;
  }
  size_t pos = line_end + 1;
  while (true) {
    const size_t next = received.find('\n', pos);
    if (next == std::string_view::npos || next + 1 > max_bytes) {
      if (next != std::string_view::npos || received.size() >= max_bytes) {
        result.state = HttpHeadParse::State::kTooLarge;
      }
      return result;
    }
    std::string_view line = StripCr(received.substr(pos, next - pos));
    if (line.empty()) {
      result.state = HttpHeadParse::State::kComplete;
      result.head = head;
      return result;
    }
    if (!IsHeaderLine(line)) {
      result.state = HttpHeadParse::State::kBad;
      return result;
    }
    pos = next + 1;
  }
}

std::string SerializeHttpResponse(const HttpResponse& response, bool head_only) {
  std::string out = absl::StrCat("HTTP/1.1 ", response.status, " ",
                                 ToAbsl(ReasonPhrase(response.status)), "\r\n");
  absl::StrAppend(&out, "Content-Type: ", response.content_type, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  out.append("Connection: close\r\n\r\n");
  if (!head_only) out.append(response.body);
  return out;
}

HttpResponse RouteMetricsRequest(const HttpRequestHead& head, const MetricsHttpHandlers& handlers) {
  std::string_view path = head.target.substr(0, head.target.find('?'));
  if (path != "/metrics" && path != "/health" && path != "/ready") {
    return TextResponse(404, "not found: try /metrics, /health or /ready\n");
  }
  if (head.method != "GET" && head.method != "HEAD") {
    HttpResponse response = TextResponse(405, "method not allowed\n");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }
  if (path == "/health") return TextResponse(200, "ok\n");
  if (path == "/ready") {
    if (handlers.ready && !handlers.ready()) return TextResponse(503, "draining\n");
    return TextResponse(200, "ready\n");
  }
  HttpResponse response =
      TextResponse(200, handlers.metrics ? handlers.metrics() : std::string());
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return response;
}

// ---- the server: everything below runs on the server's thread, but Start and Stop ----

class MetricsHttpServer::Impl {
 public:
  Impl(MetricsHttpOptions options, MetricsHttpHandlers handlers)
      : options_(std::move(options)),
        handlers_(std::move(handlers)),
        acceptor_(io_),
        accept_retry_(io_) {}

  ~Impl() { Stop(); }

  absl::StatusOr<NetAddress> Bind() {
    const NetAddress& bind = options_.listen;
    boost::system::error_code ec;
    acceptor_.open(bind.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (ec) return sip::ListenError("HTTP", bind, ec);
    if (bind.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    // A restart must not wait for the previous process's TIME_WAIT connections.
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor_.bind(sip::ToTcpEndpoint(bind), ec);
    if (ec) return sip::ListenError("HTTP", bind, ec);
    acceptor_.listen(static_cast<int>(options_.max_connections), ec);
    if (ec) return sip::ListenError("HTTP", bind, ec);
    tcp::endpoint local = acceptor_.local_endpoint(ec);
    if (ec) return sip::ListenError("HTTP", bind, ec);
    return sip::FromEndpoint(local);
  }

  void Run() {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
      for (const std::weak_ptr<Connection>& weak : connections_) {
        if (std::shared_ptr<Connection> connection = weak.lock()) connection->Close();
      }
      connections_.clear();
      io_.stop();  // what is still pending is destroyed with the io_context
    });
    thread_.join();
  }

 private:
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(Impl& server, tcp::socket socket)
        : server_(server), socket_(std::move(socket)), timer_(server.io_) {}

    void Start() {
      timer_.expires_after(server_.options_.timeout);
      timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->Close();
      });
      Read();
    }

    void Close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      socket_.close(ignored);
      timer_.cancel();
      --server_.active_;
    }

   private:
    void Read() {
      socket_.async_read_some(
          asio::buffer(chunk_),
          [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
            self->OnRead(ec, n);
          });
    }

    void OnRead(const boost::system::error_code& ec, size_t n) {
      if (closed_) return;
      if (ec) {
        Close();
        return;
      }
      received_.append(chunk_.data(), n);
      HttpHeadParse parse = ParseHttpRequestHead(received_, server_.options_.max_header_bytes);
      switch (parse.state) {
        case HttpHeadParse::State::kNeedMore:
          Read();
          return;
        case HttpHeadParse::State::kBad:
          Respond(TextResponse(400, "bad request\n"), false);
          return;
        case HttpHeadParse::State::kTooLarge:
          Respond(TextResponse(431, "request head too large\n"), false);
          return;
        case HttpHeadParse::State::kComplete:
          Respond(RouteMetricsRequest(parse.head, server_.handlers_), parse.head.method == "HEAD");
          return;
      }
    }

    void Respond(const HttpResponse& response, bool head_only) {
      if (response.status >= 400 && response.status != 404 && response.status != 405) {
        log::Debug("metrics", "bad HTTP request", {{"status", static_cast<int64_t>(response.status)}});
      }
      sent_ = SerializeHttpResponse(response, head_only);
      asio::async_write(socket_, asio::buffer(sent_),
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                          self->OnWritten(ec);
                        });
    }

    void OnWritten(const boost::system::error_code& ec) {
      if (closed_) return;
      if (ec) {
        Close();
        return;
      }
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      timer_.expires_after(kLinger);  // cancels the exchange timeout's wait
      timer_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
        if (!wait_ec) self->Close();
      });
      Linger();
    }

    void Linger() {
      socket_.async_read_some(
          asio::buffer(chunk_),
          [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
            self->lingered_ += n;
            if (ec || self->lingered_ > kMaxLingerBytes) {
              self->Close();
            } else if (!self->closed_) {
              self->Linger();
            }
          });
    }

    Impl& server_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    std::array<char, 2048> chunk_;
    std::string received_;
    std::string sent_;
    size_t lingered_ = 0;
    bool closed_ = false;
  };

  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        log::Warn("metrics", "accept failed", {{"why", ec.message()}});
        accept_retry_.expires_after(kAcceptRetry);
        accept_retry_.async_wait([this](const boost::system::error_code& wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      if (active_ >= options_.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);  // over the cap: the scraper retries; nothing is queued for it
      } else {
        ++active_;
        auto connection = std::make_shared<Connection>(*this, std::move(socket));
        std::erase_if(connections_, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
        connections_.push_back(connection);
        connection->Start();
      }
      Accept();
    });
  }

  MetricsHttpOptions options_;
  MetricsHttpHandlers handlers_;
  asio::io_context io_{1};  // declared before everything that uses it: destroyed last
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::vector<std::weak_ptr<Connection>> connections_;
  size_t active_ = 0;
  std::thread thread_;
};

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl, NetAddress local)
    : impl_(std::move(impl)), local_(local) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (impl_) impl_->Stop();
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    MetricsHttpOptions options, MetricsHttpHandlers handlers) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handlers));
  absl::StatusOr<NetAddress> local = impl->Bind();
  if (!local.ok()) return local.status();
  impl->Run();
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(impl), *local));
}

}  // namespace causeway::gateway
