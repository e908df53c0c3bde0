#include "sip/stack/proxy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"

namespace causeway::sip {
namespace {

constexpr std::string_view kLog = "proxy";
constexpr size_t kMaxRouteStrips = 8;  // bounds §16.4 removal of our own Route values

uint16_t DefaultPort(TransportKind kind) { return kind == TransportKind::kTls ? 5061 : 5060; }

// FNV-1a: stable across workers and restarts, unlike absl::Hash (seeded per process).
void Fnv(uint64_t& h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= 0xff;  // field separator
  h *= 1099511628211ull;
}

bool IsDialogCreating(Method m) {
  return m == Method::kInvite || m == Method::kSubscribe || m == Method::kRefer ||
         m == Method::kNotify || m == Method::kUpdate;
}

// §16.7 step 6: within the 4xx class these carry information the caller can act on.
bool IsPreferred4xx(int code) {
  return code == 401 || code == 407 || code == 415 || code == 420 || code == 484;
}

bool Better(int candidate, int current) {
  if (current == 0) return true;
  const int cc = candidate / 100, bc = current / 100;
  if (bc == 6) return false;
  if (cc == 6) return true;
  if (cc != bc) return cc < bc;
  return cc == 4 && IsPreferred4xx(candidate) && !IsPreferred4xx(current);
}

std::optional<Destination> DestinationFromVia(const Via& via) {
  TransportKind kind;
  if (!ParseTransportName(via.transport, &kind)) return std::nullopt;
  std::string_view host = via.received.empty() ? via.host : via.received;
  uint16_t port = via.rport_value ? *via.rport_value : via.port.value_or(DefaultPort(kind));
  std::optional<NetAddress> address = NetAddress::Parse(host, port);
  if (!address) return std::nullopt;  // a host name: stray responses are not worth a lookup
  address->set_port(port);
  Destination d;
  d.kind = kind;
  d.address = *address;
  return d;
}

}  // namespace

// Counts nested entry points so contexts are erased only when no handler can still use them.
class Proxy::Scope {
 public:
  explicit Scope(Proxy& proxy) : proxy_(proxy) { ++proxy_.depth_; }
  ~Scope() {
    if (--proxy_.depth_ == 0) proxy_.Flush();
  }

 private:
  Proxy& proxy_;
};

Proxy::Proxy(ProxyTransactions& transactions, Transport& transport, NextHopResolver& resolver,
             LocationStore& location, TimerWheel& timers, const Clock& clock,
             ProxyOptions options, const AorDirectory* directory)
    : transactions_(transactions),
      transport_(transport),
      resolver_(resolver),
      location_(location),
      timers_(timers),
      clock_(clock),
      options_(std::move(options)),
      domains_(options_.domains),
      directory_(directory) {
  if (options_.default_max_forwards <= 0) options_.default_max_forwards = 70;
  if (options_.max_branches == 0) options_.max_branches = 1;
}

Proxy::~Proxy() {
  for (auto& [id, ctx] : contexts_) {
    if (ctx->timer_c != kInvalidTimerId) timers_.Cancel(ctx->timer_c);
  }
}

Proxy::Context* Proxy::FindContext(uint64_t context_id) {
  auto it = contexts_.find(context_id);
  return it == contexts_.end() ? nullptr : it->second.get();
}

void Proxy::Flush() {
  std::vector<uint64_t> finished;
  finished.swap(finished_);
  for (uint64_t id : finished) {
    auto it = contexts_.find(id);
    if (it == contexts_.end()) continue;
    Context& ctx = *it->second;
    if (ctx.timer_c != kInvalidTimerId) timers_.Cancel(ctx.timer_c);
    if (!ctx.originated) by_server_.erase(ctx.server);
    for (const Branch& b : ctx.branches) {
      if (b.client != 0) by_client_.erase(b.client);
    }
    contexts_.erase(it);
  }
}

bool Proxy::IsLocalUri(const Uri& uri) const {
  if (!uri.is_sip()) return false;
  std::string_view host = uri.host();
  bool host_match = false;
  bool port_match = !uri.port().has_value();
  for (TransportKind kind : {TransportKind::kUdp, TransportKind::kTcp, TransportKind::kTls}) {
    if (!transport_.Supports(kind)) continue;
    for (bool v6 : {false, true}) {
      NetAddress a = transport_.AdvertisedAddress(kind, v6);
      if (a.is_unspecified()) continue;
      if (uri.port() && *uri.port() == a.port()) port_match = true;
      if (absl::EqualsIgnoreCase(ToAbsl(host), a.HostForUri()) ||
          absl::EqualsIgnoreCase(ToAbsl(host), a.HostString())) {
        host_match = true;
      }
    }
  }
  for (const std::string& name : options_.local_hosts) {
    if (absl::EqualsIgnoreCase(ToAbsl(host), name)) host_match = true;
  }
  return host_match && port_match;
}

bool Proxy::IsOwnVia(const Via& via) const {
  TransportKind kind;
  if (!ParseTransportName(via.transport, &kind) || !transport_.Supports(kind)) return false;
  for (bool v6 : {false, true}) {
    NetAddress a = transport_.AdvertisedAddress(kind, v6);
    if (a.is_unspecified()) continue;
    if (via.port.value_or(DefaultPort(kind)) != a.port()) continue;
    if (absl::EqualsIgnoreCase(ToAbsl(via.host), a.HostForUri())) return true;
  }
  return false;
}

std::string Proxy::LoopHash(const SipMessage& request) const {
  // §16.6 step 8 lists the fields; the received top Via is left out on purpose: a request that
  // comes back to us has a different top Via, so including it would hide every real loop.
  uint64_t h = 14695981039346656037ull;
  Fnv(h, request.to_tag());
  Fnv(h, request.from_tag());
  Fnv(h, request.call_id());
  Fnv(h, request.request_uri_text());
  Fnv(h, absl::StrCat(request.cseq()));
  for (std::string_view v : request.HeaderValues(HeaderId::kProxyRequire)) Fnv(h, v);
  for (std::string_view v : request.HeaderValues(HeaderId::kProxyAuthorization)) Fnv(h, v);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[i] = kHex[h & 0xf];
  return out;
}

bool Proxy::IsLooped(const SipMessage& request) const {
  std::string hash;
  for (const Via& via : request.vias()) {
    if (!IsOwnVia(via)) continue;
    if (hash.empty()) hash = LoopHash(request);
    // Our branches end in ".<loop hash>"; a spiral (Request-URI changed) hashes differently.
    size_t dot = via.branch.rfind('.');
    if (dot != std::string_view::npos && via.branch.substr(dot + 1) == hash) return true;
  }
  return false;
}

int Proxy::Validate(const SipMessage& request, std::vector<std::string>* unsupported) const {
  const Uri& ruri = request.request_uri();
  if (!ruri.is_sip() && ruri.scheme() != UriScheme::kTel) return 416;
  if (request.max_forwards() && *request.max_forwards() <= 0) return 483;
  if (request.method() != Method::kAck && request.method() != Method::kCancel &&
      IsLooped(request)) {
    return 482;
  }
  absl::StatusOr<std::vector<std::string_view>> required =
      request.GetTokens(HeaderId::kProxyRequire);
  if (!required.ok()) return 400;
  for (std::string_view option : *required) {
    bool ok = std::any_of(options_.supported_proxy_options.begin(),
                          options_.supported_proxy_options.end(), [option](const std::string& s) {
                            return absl::EqualsIgnoreCase(ToAbsl(s), ToAbsl(option));
                          });
    if (!ok) unsupported->emplace_back(option);
  }
  return unsupported->empty() ? 0 : 420;
}

void Proxy::PreprocessRoutes(SipMessage& request) const {
  // §16.4: a strict-routing previous hop put our Record-Route URI in the Request-URI; the real
  // Request-URI is the last Route value.
  if (!request.routes().empty() && IsLocalUri(request.request_uri())) {
    std::string last(request.routes().back().uri_text);
    std::vector<std::string> kept;
    for (size_t i = 0; i + 1 < request.routes().size(); ++i) {
      kept.emplace_back(request.routes()[i].raw);
    }
    if (request.SetRequestUri(last).ok()) {
      request.RemoveHeaders(HeaderId::kRoute);
      for (const std::string& r : kept) (void)request.AppendHeader(HeaderId::kRoute, r);
    }
  }
  for (size_t i = 0; i < kMaxRouteStrips && !request.routes().empty(); ++i) {
    if (!IsLocalUri(request.routes().front().uri)) break;
    request.RemoveFirstRoute();
  }
}

std::string Proxy::OwnVia(TransportKind kind, bool v6, std::string_view branch) const {
  NetAddress a = transport_.AdvertisedAddress(kind, v6);
  return absl::StrCat("SIP/2.0/", ToAbsl(TransportName(kind)), " ", a.ToString(),
                      ";branch=", ToAbsl(branch));
}

std::string Proxy::RecordRouteUri(TransportKind kind, bool v6) const {
  NetAddress a = transport_.AdvertisedAddress(kind, v6);
  std::string transport;
  if (kind == TransportKind::kTcp) transport = ";transport=tcp";
  if (kind == TransportKind::kTls) transport = ";transport=tls";
  return absl::StrCat("<sip:", a.ToString(), transport, ";lr>");
}

std::optional<Destination> Proxy::RegisteredFlow(const Uri& uri) const {
  if (!uri.is_sip()) return std::nullopt;
  std::optional<Binding> b = location_.FindByContact(ContactKey(uri), clock_.Now());
  if (!b) return std::nullopt;
  return FlowOf(*b);
}

// The registration's flow is the way to reach a contact when the client asked for it (RFC 5626
// +sip.instance: outbound clients, and Lync, whose TLS clients never listen), when the Contact's
// IP is not the one the REGISTER came from (the client is behind a NAT), or when the flow ends
// where the Contact points anyway (reuse the connection). Otherwise (same host, another port)
// RFC 3261 §16.5 holds: the request goes to the Contact URI, e.g. a UA that registers from an
// ephemeral port but listens on its Contact port.
std::optional<Destination> Proxy::FlowOf(const Binding& b) {
  if (b.flow.source.is_unspecified() || b.flow.source.port() == 0) return std::nullopt;
  Destination d;
  d.kind = b.flow.kind;
  d.address = b.flow.source;
  d.connection = b.flow.connection;
  if (!b.instance_id.empty()) return d;
  absl::StatusOr<Uri> contact = Uri::Parse(b.contact_uri);
  if (!contact.ok() || !contact->is_sip()) return std::nullopt;
  std::optional<NetAddress> host = NetAddress::Parse(contact->host());
  if (!host) return std::nullopt;
  TransportKind kind = TransportKind::kUdp;
  if (contact->scheme() == UriScheme::kSips) kind = TransportKind::kTls;
  if (!contact->transport().empty() && !ParseTransportName(contact->transport(), &kind)) {
    return std::nullopt;
  }
  host->set_port(b.flow.source.port());
  if (*host != b.flow.source) return d;  // NAT: the Contact's address is not reachable
  host->set_port(contact->port().value_or(kind == TransportKind::kTls ? 5061 : 5060));
  if (kind != b.flow.kind || *host != b.flow.source) return std::nullopt;
  return d;
}

void Proxy::Reply(ProxyServerTxId server, const SipMessage& request, int code,
                  std::string_view reason) {
  ++stats_.local_replies;
  SipMessage response = MakeResponse(request, code, reason, NewLocalTag());
  absl::Status s = transactions_.SendResponse(server, std::move(response));
  if (!s.ok()) log::Debug(kLog, "reply not sent", {{"code", code}, {"why", FromAbsl(s.message())}});
}

void Proxy::OnRequest(ProxyServerTxId server, SipMessage&& request, const ReceiveInfo& info) {
  Scope scope(*this);
  if (request.method() == Method::kAck) {  // an ACK always goes stateless (§16.11)
    OnAck(std::move(request), info);
    return;
  }
  ++stats_.requests;
  if (request.method() == Method::kCancel) {
    // The transaction layer matches CANCELs to INVITE server transactions itself (OnCancel); one
    // that reaches us matches nothing we know of.
    Reply(server, request, 481);
    return;
  }

  std::optional<SipMessage> answer = Route(std::move(request), info, server, nullptr);
  if (!answer) return;
  ++stats_.local_replies;
  absl::Status s = transactions_.SendResponse(server, *std::move(answer));
  if (!s.ok()) log::Debug(kLog, "reply not sent", {{"why", FromAbsl(s.message())}});
}

absl::Status Proxy::Originate(SipMessage request, const ReceiveInfo& info,
                              FinalResponseCallback on_final) {
  const Method method = request.method();
  if (!request.is_request() || method == Method::kInvite || method == Method::kAck ||
      method == Method::kCancel) {
    return absl::InvalidArgumentError("Originate: INVITE, ACK and CANCEL cannot be originated");
  }
  if (request.vias().empty()) return absl::InvalidArgumentError("Originate: no Via");
  if (!on_final) return absl::InvalidArgumentError("Originate: no final-response callback");
  Scope scope(*this);
  ++stats_.requests;
  ++stats_.originated;
  std::optional<SipMessage> answer = Route(std::move(request), info, 0, &on_final);
  if (answer) {
    ++stats_.local_replies;
    on_final(*answer);
  }
  return absl::OkStatus();
}

std::optional<SipMessage> Proxy::Route(SipMessage&& request, const ReceiveInfo& info,
                                       ProxyServerTxId server, FinalResponseCallback* on_final) {
  std::vector<std::string> unsupported;
  if (int code = Validate(request, &unsupported); code != 0) {
    if (code == 482) ++stats_.loops;
    if (code == 483) ++stats_.too_many_hops;
    SipMessage response = MakeResponse(request, code, {}, NewLocalTag());
    for (const std::string& u : unsupported) {
      (void)response.AppendHeader(HeaderId::kUnsupported, u);
    }
    return response;
  }
  if (contexts_.size() >= options_.max_contexts) {
    return MakeResponse(request, 503, "Proxy Overloaded", NewLocalTag());
  }

  const std::string loop_hash = LoopHash(request);  // over the request as received
  PreprocessRoutes(request);

  // §16.5 target set.
  std::vector<Branch> branches;
  const Uri& ruri = request.request_uri();
  const bool routed = !request.routes().empty();
  std::optional<std::string> aor;
  if (!routed && ruri.is_sip() && ruri.has_user()) {
    absl::StatusOr<std::string> canonical = CanonicalAor(ruri);
    if (canonical.ok()) aor = *std::move(canonical);
  }
  std::vector<Binding> bindings;
  bool ours = false;
  if (aor) {
    bindings = location_.Lookup(*aor, clock_.Now());
    // With no configured domains, "ours" means "someone registered it" (see registrar.h).
    ours = domains_.accepts_any() ? !bindings.empty() : domains_.Serves(ruri.host());
    // A GRUU reaches the one instance it names, never the AOR's other devices (RFC 5627 §7).
    if (std::optional<GruuTarget> gruu = GruuOf(ruri)) {
      std::erase_if(bindings, [&gruu](const Binding& b) { return !BindingMatches(b, *gruu); });
    }
  }
  if (!routed && !ours && !ruri.has_user() &&
      (IsLocalUri(ruri) || (!domains_.accepts_any() && domains_.Serves(ruri.host())))) {
    // Addressed to this server or one of its domains but to no user: nothing to forward to (and
    // forwarding would only come back to us). REGISTER and OPTIONS never get here (SipServer).
    return MakeResponse(request, 404, {}, NewLocalTag());
  }
  if (ours) {
    if (bindings.empty()) {
      const bool exists = directory_ == nullptr || directory_->Exists(*aor);
      return MakeResponse(request, exists ? 480 : 404, {}, NewLocalTag());
    }
    for (const Binding& b : bindings) {
      if (branches.size() >= options_.max_branches) break;
      Branch branch;
      branch.target = b.contact_uri;
      branch.preloaded_routes = b.path;
      if (b.path.empty()) branch.fixed = FlowOf(b);
      branches.push_back(std::move(branch));
    }
  } else if (!routed && !ruri.is_sip() && ruri.scheme() != UriScheme::kTel) {
    return MakeResponse(request, 416, {}, NewLocalTag());
  } else {
    Branch branch;
    branch.target = std::string(request.request_uri_text());
    // An in-dialog request to a registered contact (the remote target is a UA behind NAT or on
    // its own TCP/TLS connection) must use the flow it registered over.
    if (!routed) branch.fixed = RegisteredFlow(ruri);
    branches.push_back(std::move(branch));
  }

  auto owned = std::make_unique<Context>(std::move(request));
  Context& ctx = *owned;
  ctx.id = next_context_id_++;
  ctx.server = server;
  if (on_final != nullptr) {
    ctx.on_final = std::move(*on_final);
    ctx.originated = true;
  }
  ctx.is_invite = ctx.request.method() == Method::kInvite;
  ctx.received.kind = info.kind;
  ctx.received.source = info.source;
  ctx.received.local = info.local;
  ctx.received.connection = info.connection;
  ctx.branches = std::move(branches);
  ctx.loop_hash = loop_hash;
  const uint64_t id = ctx.id;
  contexts_.emplace(id, std::move(owned));
  if (!ctx.originated) by_server_[server] = id;
  if (ctx.is_invite) {
    ctx.timer_c = timers_.Schedule(options_.timer_c, [this, id] { OnTimerC(id); });
  }
  for (size_t i = 0; i < ctx.branches.size(); ++i) StartBranch(id, i);
  return std::nullopt;
}

void Proxy::StartBranch(uint64_t context_id, size_t index) {
  Context* ctx = FindContext(context_id);
  if (ctx == nullptr || index >= ctx->branches.size()) return;
  Branch& branch = ctx->branches[index];
  if (branch.fixed) {
    branch.destinations = {*branch.fixed};
    branch.next_destination = 0;
    SendBranch(*ctx, index);
    return;
  }
  ResolveBranch(context_id, index);
}

void Proxy::ResolveBranch(uint64_t context_id, size_t index) {
  Context* ctx = FindContext(context_id);
  if (ctx == nullptr) return;
  Branch& branch = ctx->branches[index];
  // Next hop: a pre-loaded route (Path), else the first Route of the request, else the target.
  std::string next_hop = branch.target;
  if (!branch.preloaded_routes.empty()) {
    absl::StatusOr<NameAddr> route = ParseNameAddr(branch.preloaded_routes.front());
    if (route.ok()) next_hop = std::string(route->uri_text);
  } else if (!ctx->request.routes().empty()) {
    next_hop = std::string(ctx->request.routes().front().uri_text);
  }
  absl::StatusOr<Uri> uri = Uri::Parse(next_hop);
  if (!uri.ok()) {
    FinishBranch(*ctx, index, 400, nullptr);
    return;
  }
  branch.state = BranchState::kResolving;
  resolver_.Resolve(*uri, [this, alive = std::weak_ptr<bool>(alive_), context_id, index](
                              absl::StatusOr<std::vector<Destination>> result) {
    if (alive.expired()) return;  // the proxy is gone (shutdown with lookups in flight)
    Scope scope(*this);
    Context* c = FindContext(context_id);
    if (c == nullptr) return;
    Branch& b = c->branches[index];
    if (b.state != BranchState::kResolving) return;  // cancelled or finished meanwhile
    if (!result.ok() || result->empty()) {
      // NXDOMAIN / no usable records -> 404 (RFC 3263 gives no code; this is what callers can
      // act on); anything else (timeouts, SERVFAIL) -> 503, sent upstream as 500.
      int code = 503;
      if (!result.ok()) {
        code = SipCodeOf(result.status()).value_or(absl::IsNotFound(result.status()) ? 404 : 503);
      }
      FinishBranch(*c, index, code, nullptr);
      return;
    }
    b.destinations = *std::move(result);
    b.next_destination = 0;
    SendBranch(*c, index);
  });
}

void Proxy::SendBranch(Context& ctx, size_t index) {
  Branch& branch = ctx.branches[index];
  while (branch.next_destination < branch.destinations.size()) {
    const Destination& to = branch.destinations[branch.next_destination++];
    SipMessage out = ctx.request.Clone();
    // §16.6 step 2: the Request-URI of this target.
    if (out.request_uri_text() != branch.target && !out.SetRequestUri(branch.target).ok()) {
      FinishBranch(ctx, index, 400, nullptr);
      return;
    }
    // Step 3: Max-Forwards.
    out.SetMaxForwards(out.max_forwards() ? *out.max_forwards() - 1
                                          : options_.default_max_forwards);
    // Step 4: Record-Route, twice when the request changes transport or address family so each
    // side gets an address it can reach (RFC 5658).
    if (options_.record_route && IsDialogCreating(out.method())) {
      const bool in_v6 = ctx.received.local.is_v6();
      const bool out_v6 = to.address.is_v6();
      if (ctx.received.kind != to.kind || in_v6 != out_v6) {
        (void)out.PrependHeader(HeaderId::kRecordRoute, RecordRouteUri(ctx.received.kind, in_v6));
      }
      (void)out.PrependHeader(HeaderId::kRecordRoute, RecordRouteUri(to.kind, out_v6));
    }
    // Step 6: the binding's Path becomes the route set.
    for (auto it = branch.preloaded_routes.rbegin(); it != branch.preloaded_routes.rend(); ++it) {
      (void)out.PrependHeader(HeaderId::kRoute, *it);
    }
    // Step 8: our Via; the branch ends with the loop-detection hash (§16.3 step 4).
    std::string branch_id =
        absl::StrCat(transactions_.NewBranch(), ".", ctx.loop_hash);
    if (!out.PushVia(OwnVia(to.kind, to.address.is_v6(), branch_id)).ok()) {
      FinishBranch(ctx, index, 500, nullptr);
      return;
    }
    absl::StatusOr<ProxyClientTxId> client = transactions_.SendRequest(std::move(out), to);
    if (!client.ok()) {
      log::Info(kLog, "branch send failed", {{"to", to.address.ToString()},
                                             {"why", FromAbsl(client.status().message())}});
      continue;  // next destination
    }
    ++stats_.forwarded;
    if (branch.client != 0) by_client_.erase(branch.client);
    branch.client = *client;
    branch.state = BranchState::kCalling;
    by_client_[*client] = BranchRef{ctx.id, index};
    return;
  }
  FinishBranch(ctx, index, 503, nullptr);
}

void Proxy::FinishBranch(Context& ctx, size_t index, int code, SipMessage* response) {
  Branch& branch = ctx.branches[index];
  if (branch.state == BranchState::kCompleted) return;
  branch.state = BranchState::kCompleted;
  branch.final_code = code;
  std::optional<SipMessage> synthesized;
  if (response == nullptr) {
    synthesized = MakeResponse(ctx.request, code, {}, NewLocalTag());
    response = &*synthesized;
  }
  // §16.7 step 7: collect every challenge so the caller can answer all of them at once.
  if (code == 401 || code == 407) {
    for (std::string_view v : response->HeaderValues(HeaderId::kWwwAuthenticate)) {
      ctx.challenges_www.emplace_back(v);
    }
    for (std::string_view v : response->HeaderValues(HeaderId::kProxyAuthenticate)) {
      ctx.challenges_proxy.emplace_back(v);
    }
  }
  const int best_code = ctx.best ? ctx.best->status_code() : 0;
  if (Better(code, best_code)) ctx.best = std::move(*response);
  // §16.7 step 5 / MS-OCSPROT multiple endpoints: a 6xx ends the search on every branch.
  if (code >= 600) CancelPending(ctx);
  MaybeComplete(ctx);
}

void Proxy::CancelPending(Context& ctx) {
  for (size_t i = 0; i < ctx.branches.size(); ++i) {
    Branch& b = ctx.branches[i];
    if (b.state == BranchState::kCompleted || b.cancel_requested) continue;
    b.cancel_requested = true;
    if (b.state == BranchState::kResolving) {
      FinishBranch(ctx, i, 487, nullptr);  // never sent: nothing to cancel downstream
      continue;
    }
    if (ctx.is_invite) {
      absl::Status s = transactions_.CancelClient(b.client);
      if (!s.ok()) log::Debug(kLog, "CANCEL not sent", {{"why", FromAbsl(s.message())}});
    }
  }
}

void Proxy::SendFinal(Context& ctx, SipMessage response) {
  if (ctx.originated) {
    // Moved out first: exactly once, even if the originator re-enters the proxy.
    FinalResponseCallback on_final = std::move(ctx.on_final);
    if (on_final) on_final(response);
    return;
  }
  absl::Status s = transactions_.SendResponse(ctx.server, std::move(response));
  if (!s.ok()) log::Debug(kLog, "final not sent", {{"why", FromAbsl(s.message())}});
}

void Proxy::MaybeComplete(Context& ctx) {
  for (const Branch& b : ctx.branches) {
    if (b.state != BranchState::kCompleted) return;
  }
  if (!ctx.final_sent) {
    ctx.final_sent = true;
    SipMessage best = ctx.best ? std::move(*ctx.best) : MakeResponse(ctx.request, 500);
    ctx.best.reset();
    if (best.status_code() == 503) {
      // §16.7 step 6: a 503 from downstream must not make the caller think WE are unavailable.
      SipMessage converted = MakeResponse(ctx.request, 500, {}, NewLocalTag());
      best = std::move(converted);
    }
    if (best.status_code() == 401 || best.status_code() == 407) {
      best.RemoveHeaders(HeaderId::kWwwAuthenticate);
      best.RemoveHeaders(HeaderId::kProxyAuthenticate);
      for (const std::string& c : ctx.challenges_www) {
        (void)best.AppendHeader(HeaderId::kWwwAuthenticate, c);
      }
      for (const std::string& c : ctx.challenges_proxy) {
        (void)best.AppendHeader(HeaderId::kProxyAuthenticate, c);
      }
    }
    // RFC 4320 §4.2: never a 408 to a non-INVITE: the caller's own transaction timed out too,
    // and a late 408 would only feed the "408 storm" that RFC describes. An originator has no
    // transaction of its own: it learns of the timeout from us.
    if (ctx.is_invite || ctx.originated || best.status_code() != 408) {
      SendFinal(ctx, std::move(best));
    }
  }
  finished_.push_back(ctx.id);
}

void Proxy::OnResponse(ProxyClientTxId client, SipMessage&& response, const ReceiveInfo& info) {
  Scope scope(*this);
  auto ref = by_client_.find(client);
  if (ref == by_client_.end() || FindContext(ref->second.context) == nullptr) {
    // The context is gone (every branch ended): a 2xx retransmission is still forwarded
    // (RFC 6026 §8.4 via the stray path); anything else is dropped.
    OnStrayResponse(std::move(response), info);
    return;
  }
  Context* ctx = FindContext(ref->second.context);
  const size_t index = ref->second.index;
  Branch& branch = ctx->branches[index];
  const int code = response.status_code();
  // §16.7 step 3: our Via goes; a response with nothing left was meant for us.
  if (!response.PopVia() || response.vias().empty()) return;

  if (code < 200) {
    if (branch.state == BranchState::kCalling) branch.state = BranchState::kProceeding;
    if (code == 100) return;  // hop-by-hop: the transaction layer already sent ours
    if (ctx->is_invite && ctx->timer_c != kInvalidTimerId) {  // §16.7 step 2: reset Timer C
      timers_.Cancel(ctx->timer_c);
      const uint64_t id = ctx->id;
      ctx->timer_c = timers_.Schedule(options_.timer_c, [this, id] { OnTimerC(id); });
    }
    if (!ctx->final_sent && !ctx->originated) {
      (void)transactions_.SendResponse(ctx->server, std::move(response));
    }
    return;
  }

  if (code < 300) {
    // §16.7 step 9: every 2xx to an INVITE goes upstream, even after another one did.
    const bool forward = ctx->is_invite || !ctx->final_sent;
    const bool completed_before = branch.state == BranchState::kCompleted;
    branch.state = BranchState::kCompleted;
    branch.final_code = code;
    // §16.7 step 10 / MS-OCSPROT 2.5.11 (steps 4-5): the other endpoints are CANCELled, then
    // the 200 goes to the caller.
    if (ctx->is_invite && !ctx->saw_2xx) {
      ctx->saw_2xx = true;
      CancelPending(*ctx);
    }
    if (forward && ctx->cancelled && ctx->final_sent) {
      // The callee answered while our 487 was on its way (see OnCancel): the server transaction
      // is done, so the 2xx goes statelessly; the caller's UA ACKs and BYEs it (§13.2.2.4).
      if (std::optional<Destination> to = DestinationFromVia(response.vias().front())) {
        ++stats_.stateless;
        (void)transactions_.SendStateless(response, *to);
      }
    } else if (forward) {
      ctx->final_sent = true;
      SendFinal(*ctx, std::move(response));
    }
    if (!completed_before) MaybeComplete(*ctx);
    return;
  }

  FinishBranch(*ctx, index, code, &response);
}

void Proxy::OnClientTimeout(ProxyClientTxId client) {
  Scope scope(*this);
  auto ref = by_client_.find(client);
  if (ref == by_client_.end()) return;
  Context* ctx = FindContext(ref->second.context);
  if (ctx == nullptr) return;
  const size_t index = ref->second.index;
  Branch& branch = ctx->branches[index];
  ++stats_.timeouts;
  // RFC 3263 §4.3: a transaction timeout moves on to the next destination, unless the branch
  // already heard from this one or is being cancelled.
  if (branch.state == BranchState::kCalling && !branch.cancel_requested &&
      branch.next_destination < branch.destinations.size()) {
    SendBranch(*ctx, index);
    return;
  }
  FinishBranch(*ctx, index, 408, nullptr);
}

void Proxy::OnClientTransportError(ProxyClientTxId client, const absl::Status& error) {
  Scope scope(*this);
  auto ref = by_client_.find(client);
  if (ref == by_client_.end()) return;
  Context* ctx = FindContext(ref->second.context);
  if (ctx == nullptr) return;
  const size_t index = ref->second.index;
  Branch& branch = ctx->branches[index];
  log::Info(kLog, "branch transport error", {{"why", FromAbsl(error.message())}});
  if (!branch.cancel_requested && branch.next_destination < branch.destinations.size()) {
    SendBranch(*ctx, index);
    return;
  }
  FinishBranch(*ctx, index, 503, nullptr);  // §16.7 step 6 turns it into 500 upstream
}

void Proxy::OnTimerC(uint64_t context_id) {
  Scope scope(*this);
  Context* ctx = FindContext(context_id);
  if (ctx == nullptr) return;
  ctx->timer_c = kInvalidTimerId;
  // §16.6 step 11: branches that got a provisional are CANCELled (their 487 completes them);
  // branches that never answered are ended with a 408.
  for (size_t i = 0; i < ctx->branches.size(); ++i) {
    Branch& b = ctx->branches[i];
    if (b.state == BranchState::kCompleted) continue;
    if (b.state == BranchState::kProceeding && !b.cancel_requested) {
      b.cancel_requested = true;
      (void)transactions_.CancelClient(b.client);
    } else if (b.state != BranchState::kProceeding) {
      ++stats_.timeouts;
      if (b.client != 0) (void)transactions_.CancelClient(b.client);
      FinishBranch(*ctx, i, 408, nullptr);
    }
  }
}

void Proxy::OnCancel(ProxyServerTxId invite_server) {
  Scope scope(*this);
  auto it = by_server_.find(invite_server);
  if (it == by_server_.end()) return;
  Context* ctx = FindContext(it->second);
  if (ctx == nullptr || ctx->cancelled) return;
  ++stats_.cancels;
  ctx->cancelled = true;
  if (!ctx->final_sent) {
    // Answer the caller now rather than after every branch's 487: a branch that never sent a
    // provisional cannot be CANCELled and would hold the caller until Timer B.
    ctx->final_sent = true;
    Reply(ctx->server, ctx->request, 487);
  }
  CancelPending(*ctx);
  MaybeComplete(*ctx);
}

void Proxy::OnAck(SipMessage&& ack, const ReceiveInfo&) {
  Scope scope(*this);
  ++stats_.requests;
  ForwardStatelessly(std::move(ack));
}

void Proxy::ForwardStatelessly(SipMessage&& request) {
  if (request.max_forwards() && *request.max_forwards() <= 0) return;  // nobody to tell
  PreprocessRoutes(request);
  std::string next_hop;
  std::optional<Destination> fixed;
  if (!request.routes().empty()) {
    next_hop = std::string(request.routes().front().uri_text);
  } else {
    next_hop = std::string(request.request_uri_text());
    const Uri& ruri = request.request_uri();
    fixed = RegisteredFlow(ruri);
    absl::StatusOr<std::string> aor = absl::InvalidArgumentError("no user");
    if (!fixed && ruri.is_sip() && ruri.has_user()) aor = CanonicalAor(ruri);
    if (aor.ok()) {
      std::vector<Binding> bindings = location_.Lookup(*aor, clock_.Now());
      const bool ours =
          domains_.accepts_any() ? !bindings.empty() : domains_.Serves(ruri.host());
      if (std::optional<GruuTarget> gruu = GruuOf(ruri)) {
        std::erase_if(bindings, [&gruu](const Binding& b) { return !BindingMatches(b, *gruu); });
      }
      if (ours) {
        if (bindings.empty()) return;  // an ACK to nobody: drop (§16.11, nothing to answer)
        const Binding& b = bindings.front();
        if (!request.SetRequestUri(b.contact_uri).ok()) return;
        next_hop = b.contact_uri;
        fixed = FlowOf(b);
      }
    }
  }
  request.SetMaxForwards(request.max_forwards() ? *request.max_forwards() - 1
                                                : options_.default_max_forwards);
  auto send = [this](SipMessage msg, const Destination& to) {
    if (!msg.PushVia(OwnVia(to.kind, to.address.is_v6(), transactions_.NewBranch())).ok()) return;
    ++stats_.stateless;
    absl::Status s = transactions_.SendStateless(msg, to);
    if (!s.ok()) log::Debug(kLog, "stateless send failed", {{"why", FromAbsl(s.message())}});
  };
  if (fixed) {
    send(std::move(request), *fixed);
    return;
  }
  absl::StatusOr<Uri> uri = Uri::Parse(next_hop);
  if (!uri.ok()) return;
  auto shared = std::make_shared<SipMessage>(std::move(request));
  resolver_.Resolve(*uri, [send, shared, alive = std::weak_ptr<bool>(alive_)](
                              absl::StatusOr<std::vector<Destination>> result) {
    if (alive.expired() || !result.ok() || result->empty()) return;
    send(std::move(*shared), result->front());
  });
}

void Proxy::OnStrayResponse(SipMessage&& response, const ReceiveInfo&) {
  Scope scope(*this);
  // §16.11 / §16.7: only 2xx to INVITE are forwarded without a context (the 2xx retransmissions
  // of a UAS after our client transaction ended); everything else is dropped.
  if (response.cseq_method() != Method::kInvite || response.status_code() < 200 ||
      response.status_code() >= 300) {
    return;
  }
  if (response.vias().empty() || !IsOwnVia(response.vias().front())) return;
  if (!response.PopVia() || response.vias().empty()) return;
  std::optional<Destination> to = DestinationFromVia(response.vias().front());
  if (!to) return;
  ++stats_.stateless;
  (void)transactions_.SendStateless(response, *to);
}

}  // namespace causeway::sip
