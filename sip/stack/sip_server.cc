#include "sip/stack/sip_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "core/log.h"
#include "core/strings.h"

namespace causeway::sip {
namespace {

SipServerOptions Normalize(SipServerOptions options) {
  options.registrar.domains = options.domains;
  options.proxy.domains = options.domains;
  options.proxy.local_hosts = options.local_hosts;
  return options;
}

std::string JoinTokens(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) {
    if (!out.empty()) out += ", ";
    out += t;
  }
  return out;
}

}  // namespace

SipServer::SipServer(Transport& transport, TimerWheel& timers, const Clock& clock,
                     LocationStore& location, NextHopResolver& resolver, SipServerOptions options,
                     RegisterAuthorizer* authorizer, const AorDirectory* directory)
    : timers_(timers),
      clock_(clock),
      location_(location),
      options_(Normalize(std::move(options))),
      domains_(options_.domains),
      layer_(transport, timers, clock, *this, options_.timers, options_.shard),
      adapter_(layer_),
      registrar_(location, clock, options_.registrar, authorizer),
      proxy_(std::make_unique<Proxy>(adapter_, transport, resolver, location, timers, clock,
                                     options_.proxy, directory)) {
  SchedulePurge();
}

SipServer::~SipServer() {
  if (purge_timer_ != kInvalidTimerId) timers_.Cancel(purge_timer_);
}

void SipServer::SchedulePurge() {
  if (options_.purge_interval <= Duration::zero()) return;
  purge_timer_ = timers_.Schedule(options_.purge_interval, [this] {
    purge_timer_ = kInvalidTimerId;
    std::vector<std::string> aors;
    stats_.purged_bindings += location_.PurgeExpired(
        clock_.Now(), options_.purge_budget, options_.on_bindings_expired ? &aors : nullptr);
    if (!aors.empty()) options_.on_bindings_expired(aors);
    SchedulePurge();
  });
}

bool SipServer::IsForUs(const SipMessage& request) const {
  // Every Route value must be ours: otherwise the request is on its way elsewhere.
  for (const NameAddr& route : request.routes()) {
    if (!proxy_->IsLocalUri(route.uri)) return false;
  }
  return true;
}

bool SipServer::IsOptionsForUs(const SipMessage& request) const {
  if (request.method() != Method::kOptions || !IsForUs(request)) return false;
  // §16.3 step 3: an OPTIONS that cannot go further is answered by the element it reached.
  if (request.max_forwards() && *request.max_forwards() <= 0) return true;
  const Uri& ruri = request.request_uri();
  if (!ruri.is_sip() || (ruri.has_user() && !ruri.user().empty())) return false;
  return proxy_->IsLocalUri(ruri) || (!domains_.accepts_any() && domains_.Serves(ruri.host()));
}

bool SipServer::RejectUnsupported(ServerTransactionId id, const SipMessage& request) {
  absl::StatusOr<std::vector<std::string_view>> required = request.GetTokens(HeaderId::kRequire);
  std::vector<std::string> unsupported;
  if (required.ok()) {
    for (std::string_view option : *required) {
      bool ok = std::any_of(options_.supported.begin(), options_.supported.end(),
                            [option](const std::string& s) {
                              return absl::EqualsIgnoreCase(ToAbsl(s), ToAbsl(option));
                            });
      if (!ok) unsupported.emplace_back(option);
    }
  }
  if (required.ok() && unsupported.empty()) return false;
  SipMessage response = MakeResponse(request, required.ok() ? 420 : 400, {}, NewLocalTag());
  for (const std::string& u : unsupported) (void)response.AppendHeader(HeaderId::kUnsupported, u);
  ++stats_.bad_extension;
  (void)layer_.SendResponse(id, std::move(response));
  return true;
}

void SipServer::AnswerOptions(ServerTransactionId id, const SipMessage& request) {
  ++stats_.options;
  SipMessage response = MakeResponse(request, 200, {}, NewLocalTag());
  (void)response.AppendHeader(HeaderId::kAllow, kAllow);
  (void)response.AppendHeader(HeaderId::kAccept, "application/sdp");
  if (!options_.supported.empty()) {
    (void)response.AppendHeader(HeaderId::kSupported, JoinTokens(options_.supported));
  }
  (void)layer_.SendResponse(id, std::move(response));
}

void SipServer::OnRequest(ServerTransactionId id, SipMessage&& request, const ReceiveInfo& info) {
  ++stats_.requests;
  if (request.method() == Method::kRegister && IsForUs(request) &&
      request.request_uri().is_sip() && registrar_.domains().Serves(request.request_uri().host())) {
    if (RejectUnsupported(id, request)) return;
    ++stats_.registers;
    SipMessage response = registrar_.Handle(request, info);
    absl::Status s = layer_.SendResponse(id, std::move(response));
    if (!s.ok()) log::Debug("sip_server", "REGISTER answer not sent", {{"why", FromAbsl(s.message())}});
    return;
  }
  if (IsOptionsForUs(request)) {
    if (RejectUnsupported(id, request)) return;
    AnswerOptions(id, request);
    return;
  }
  if (local_ != nullptr && local_->OnRequest(id, request, info)) {
    ++stats_.local;
    return;
  }
  ++stats_.proxied;
  proxy_->OnRequest(id, std::move(request), info);
}

void SipServer::OnAck(SipMessage&& ack, const ReceiveInfo& info) {
  ++stats_.acks;
  proxy_->OnAck(std::move(ack), info);
}

void SipServer::OnCancel(ServerTransactionId invite, SipMessage&&, const ReceiveInfo&) {
  ++stats_.cancels;
  proxy_->OnCancel(invite);
}

void SipServer::OnResponse(ClientTransactionId id, SipMessage&& response,
                           const ReceiveInfo& info) {
  ++stats_.responses;
  if (local_ != nullptr && local_->OnResponse(id, response)) return;
  proxy_->OnResponse(id, std::move(response), info);
}

void SipServer::OnClientTimeout(ClientTransactionId id) {
  if (local_ != nullptr && local_->OnClientFailure(id, 408)) return;
  proxy_->OnClientTimeout(id);
}

void SipServer::OnClientTransportError(ClientTransactionId id, const absl::Status& error) {
  if (local_ != nullptr && local_->OnClientFailure(id, 503)) return;
  proxy_->OnClientTransportError(id, error);
}

void SipServer::OnStrayResponse(SipMessage&& response, const ReceiveInfo& info) {
  ++stats_.stray_responses;
  proxy_->OnStrayResponse(std::move(response), info);
}

}  // namespace causeway::sip
