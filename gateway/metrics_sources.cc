#include "gateway/metrics_sources.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/latency_histogram.h"
#include "gateway/cli.h"

namespace causeway::gateway {
namespace {

// One counter of a stats struct: the family it feeds and the field it reads.
template <typename Stats>
struct CounterField {
  const char* name;
  const char* help;
  uint64_t Stats::*field;
};

template <typename Stats, size_t N>
void WriteCounters(const Stats& stats, const CounterField<Stats> (&fields)[N],
                   const MetricLabels& labels, MetricsWriter& out) {
  for (const CounterField<Stats>& f : fields) {
    out.Counter(f.name, f.help, static_cast<double>(stats.*(f.field)), labels);
  }
}

struct AtomicCounterField {
  const char* name;
  const char* help;
  std::atomic<uint64_t> sip::TransportCounters::*field;
};

constexpr AtomicCounterField kTransportCounters[] = {
    {"causeway_sip_messages_received_total", "SIP messages received and parsed (all transports).",
     &sip::TransportCounters::messages_received},
    {"causeway_sip_messages_sent_total", "SIP messages handed to a socket (all transports).",
     &sip::TransportCounters::messages_sent},
    {"causeway_sip_bytes_received_total", "SIP bytes received (all transports).",
     &sip::TransportCounters::bytes_received},
    {"causeway_sip_bytes_sent_total", "SIP bytes sent (all transports).",
     &sip::TransportCounters::bytes_sent},
    {"causeway_sip_udp_datagrams_received_total", "UDP datagrams received.",
     &sip::TransportCounters::udp_datagrams_received},
    {"causeway_sip_udp_datagrams_sent_total", "UDP datagrams sent.",
     &sip::TransportCounters::udp_datagrams_sent},
    {"causeway_sip_connections_accepted_total", "Inbound TCP/TLS connections accepted.",
     &sip::TransportCounters::connections_accepted},
    {"causeway_sip_connections_rejected_total",
     "Inbound TCP/TLS connections refused over the per-peer or global cap.",
     &sip::TransportCounters::connections_rejected_over_cap},
    {"causeway_sip_connections_opened_total",
     "Outbound TCP/TLS connections established (TLS: handshaken).",
     &sip::TransportCounters::connections_opened},
    {"causeway_sip_connect_failures_total", "Outbound connects or TLS handshakes that failed.",
     &sip::TransportCounters::connect_failures},
    {"causeway_sip_tls_handshake_failures_total", "TLS handshakes that failed (either direction).",
     &sip::TransportCounters::tls_handshake_failures},
    {"causeway_sip_connections_closed_total", "TCP/TLS connections closed.",
     &sip::TransportCounters::connections_closed},
    {"causeway_sip_connections_idle_closed_total", "TCP/TLS connections closed for idleness.",
     &sip::TransportCounters::connections_idle_closed},
    {"causeway_sip_parse_errors_total", "Received bytes that did not parse as SIP.",
     &sip::TransportCounters::parse_errors},
    {"causeway_sip_error_responses_sent_total",
     "Error responses the transport sent for unparseable or oversized requests.",
     &sip::TransportCounters::error_responses_sent},
    {"causeway_sip_unanswerable_dropped_total", "Bad input dropped without an answer.",
     &sip::TransportCounters::unanswerable_dropped},
    {"causeway_sip_keepalive_pings_total", "RFC 5626 CRLF keep-alive pings received.",
     &sip::TransportCounters::keepalive_pings},
    {"causeway_sip_send_failures_total", "Sends that failed.",
     &sip::TransportCounters::send_failures},
    {"causeway_sip_send_queue_full_total",
     "Sends refused because the connection's write queue was full.",
     &sip::TransportCounters::send_queue_full},
};

constexpr CounterField<sip::SipServerStats> kServerCounters[] = {
    {"causeway_sip_requests_total", "New SIP requests received (ACK not included).",
     &sip::SipServerStats::requests},
    {"causeway_sip_registers_total", "REGISTER requests handled by the registrar.",
     &sip::SipServerStats::registers},
    {"causeway_sip_options_answered_total", "OPTIONS requests answered by Causeway itself.",
     &sip::SipServerStats::options},
    {"causeway_sip_requests_proxied_total", "Requests handed to the proxy.",
     &sip::SipServerStats::proxied},
    {"causeway_sip_requests_local_total",
     "Requests taken by a local service (Lync front end, IM bridge).",
     &sip::SipServerStats::local},
    {"causeway_sip_bad_extension_total", "Requests answered 420 Bad Extension.",
     &sip::SipServerStats::bad_extension},
    {"causeway_sip_acks_total", "ACK requests received.", &sip::SipServerStats::acks},
    {"causeway_sip_cancels_total", "CANCEL requests received.", &sip::SipServerStats::cancels},
    {"causeway_sip_responses_total", "SIP responses received.", &sip::SipServerStats::responses},
    {"causeway_sip_stray_responses_total", "Responses matching no client transaction.",
     &sip::SipServerStats::stray_responses},
    {"causeway_sip_bindings_purged_total", "Registrations removed because they expired.",
     &sip::SipServerStats::purged_bindings},
};

constexpr CounterField<sip::ProxyStats> kProxyCounters[] = {
    {"causeway_sip_proxy_requests_total", "Requests the proxy handled (ACK included).",
     &sip::ProxyStats::requests},
    {"causeway_sip_proxy_branches_total", "Client transactions the proxy started (one per branch).",
     &sip::ProxyStats::forwarded},
    {"causeway_sip_proxy_stateless_total", "ACKs and stray 2xx forwarded statelessly.",
     &sip::ProxyStats::stateless},
    {"causeway_sip_proxy_local_replies_total", "Responses the proxy generated itself.",
     &sip::ProxyStats::local_replies},
    {"causeway_sip_proxy_loops_total", "Requests refused as loops (482).",
     &sip::ProxyStats::loops},
    {"causeway_sip_proxy_too_many_hops_total", "Requests refused for Max-Forwards (483).",
     &sip::ProxyStats::too_many_hops},
    {"causeway_sip_proxy_timeouts_total", "Branches ended by a timeout (408).",
     &sip::ProxyStats::timeouts},
    {"causeway_sip_proxy_cancels_total", "CANCELs received from callers.",
     &sip::ProxyStats::cancels},
    {"causeway_sip_proxy_originated_total",
     "Requests of local services (the XMPP bridge) routed by the proxy.",
     &sip::ProxyStats::originated},
};

constexpr CounterField<sip::RegistrarStats> kRegistrarCounters[] = {
    {"causeway_sip_registrar_accepted_total", "REGISTER requests answered 200 (queries included).",
     &sip::RegistrarStats::accepted},
    {"causeway_sip_registrar_rejected_total", "REGISTER requests answered with an error.",
     &sip::RegistrarStats::rejected},
    {"causeway_sip_registrar_removed_all_total", "Accepted REGISTERs with Contact: *.",
     &sip::RegistrarStats::removed_all},
};

constexpr CounterField<sip::lync::SecurityLayerStats> kSecurityCounters[] = {
    {"causeway_auth_ntlm_handshakes_total", "MS-SIPAE NTLM handshakes started.",
     &sip::lync::SecurityLayerStats::handshakes_started},
    {"causeway_auth_ntlm_sign_ins_total", "MS-SIPAE NTLM sign-ins that succeeded.",
     &sip::lync::SecurityLayerStats::authenticated},
    {"causeway_auth_rejected_total",
     "Failed handshakes and REGISTERs for an address that is not the user's.",
     &sip::lync::SecurityLayerStats::rejected},
    {"causeway_auth_signatures_verified_total", "Signed messages from clients accepted.",
     &sip::lync::SecurityLayerStats::verified},
    {"causeway_auth_bad_signatures_total", "Messages from clients with a bad signature.",
     &sip::lync::SecurityLayerStats::bad_signatures},
    {"causeway_auth_messages_signed_total", "Messages signed for signed-in clients.",
     &sip::lync::SecurityLayerStats::signed_out},
    {"causeway_auth_reauthentications_total",
     "Unsigned REGISTERs on an already signed-in connection.",
     &sip::lync::SecurityLayerStats::reauthentications},
    {"causeway_auth_digest_authenticated_total", "Requests proven with Digest credentials.",
     &sip::lync::SecurityLayerStats::digest_authenticated},
    {"causeway_auth_digest_challenges_total", "401/407 answers carrying Digest challenges.",
     &sip::lync::SecurityLayerStats::digest_challenged},
    {"causeway_auth_locked_out_total", "403 answers for too many failed attempts.",
     &sip::lync::SecurityLayerStats::locked_out},
    {"causeway_auth_unknown_senders_total",
     "Requests refused (403): From in one of our domains but no user of ours.",
     &sip::lync::SecurityLayerStats::unknown_senders},
    {"causeway_auth_impersonations_total",
     "Signed requests refused (403): From is not the signed-in user.",
     &sip::lync::SecurityLayerStats::impersonations},
};

constexpr CounterField<PresenceFederation::Stats> kPresenceFederationCounters[] = {
    {"causeway_presence_federation_published_total",
     "Front-end presence and subscription outputs put on the event bus for XMPP.",
     &PresenceFederation::Stats::published},
    {"causeway_presence_federation_delivered_total",
     "Presence and subscription events from XMPP handed to the front end.",
     &PresenceFederation::Stats::delivered},
    {"causeway_presence_federation_unmappable_total",
     "Presence events dropped: an address without a form on the other side.",
     &PresenceFederation::Stats::unmappable},
};

constexpr CounterField<sip::lync::FrontEndStats> kFrontEndCounters[] = {
    {"causeway_lync_subscribes_total", "SUBSCRIBE requests the Lync front end handled.",
     &sip::lync::FrontEndStats::subscribes},
    {"causeway_lync_services_total", "SERVICE requests the Lync front end handled.",
     &sip::lync::FrontEndStats::services},
    {"causeway_lync_notifications_total", "NOTIFY/BENOTIFY requests the front end sent.",
     &sip::lync::FrontEndStats::notifications},
    {"causeway_lync_rejected_total", "Front-end requests answered 4xx.",
     &sip::lync::FrontEndStats::rejected},
    {"causeway_lync_mras_granted_total", "MRAS requests answered with media relay credentials.",
     &sip::lync::FrontEndStats::mras_granted},
    {"causeway_lync_mras_refused_total", "MRAS requests answered with an error.",
     &sip::lync::FrontEndStats::mras_refused},
};

constexpr CounterField<XmppEdgeStats> kXmppEdgeCounters[] = {
    {"causeway_xmpp_stanzas_received_total", "Stanzas delivered to the XMPP edge.",
     &XmppEdgeStats::stanzas_in},
    {"causeway_xmpp_stanzas_sent_total", "Events handed to the XMPP transport as stanzas.",
     &XmppEdgeStats::stanzas_out},
    {"causeway_xmpp_events_published_total", "Bus events made from inbound stanzas.",
     &XmppEdgeStats::events_published},
    {"causeway_xmpp_iq_answered_total", "IQ requests answered (disco, ping).",
     &XmppEdgeStats::iq_answered},
    {"causeway_xmpp_iq_refused_total", "IQ requests refused (service-unavailable, item-not-found).",
     &XmppEdgeStats::iq_refused},
    {"causeway_xmpp_errors_bounced_total",
     "Error replies to unmappable or refused messages and presence.",
     &XmppEdgeStats::errors_bounced},
    {"causeway_xmpp_refused_domain_total",
     "Stanzas from non-federated domains and events to blocked ones.",
     &XmppEdgeStats::refused_domain},
    {"causeway_xmpp_mapping_failures_total", "Bus events that had no stanza form.",
     &XmppEdgeStats::mapping_failures},
    {"causeway_xmpp_delivery_failures_total",
     "Delivery failures sent back to SIP senders of instant messages.",
     &XmppEdgeStats::failures_published},
    {"causeway_xmpp_undeliverable_other_total",
     "Bounced stanzas that were not instant messages.",
     &XmppEdgeStats::undeliverable_other},
    {"causeway_xmpp_routed_to_owner_total",
     "Events posted to the worker owning their remote domain's s2s stream.",
     &XmppEdgeStats::routed_to_owner},
};

constexpr CounterField<xmpp::io::S2sStats> kS2sCounters[] = {
    {"causeway_xmpp_s2s_streams_in_total", "Inbound s2s connections accepted.",
     &xmpp::io::S2sStats::streams_in},
    {"causeway_xmpp_s2s_streams_out_total", "Outbound s2s connections established.",
     &xmpp::io::S2sStats::streams_out},
    {"causeway_xmpp_s2s_streams_authenticated_in_total", "Inbound s2s streams authenticated.",
     &xmpp::io::S2sStats::streams_authenticated_in},
    {"causeway_xmpp_s2s_streams_authenticated_out_total", "Outbound s2s streams authenticated.",
     &xmpp::io::S2sStats::streams_authenticated_out},
    {"causeway_xmpp_s2s_pairs_sasl_external_total",
     "Domain pairs authenticated with SASL EXTERNAL.",
     &xmpp::io::S2sStats::pairs_sasl_external},
    {"causeway_xmpp_s2s_pairs_dialback_total", "Domain pairs authenticated with dialback.",
     &xmpp::io::S2sStats::pairs_dialback},
    {"causeway_xmpp_s2s_inbound_refused_total", "Inbound s2s connections refused over the limits.",
     &xmpp::io::S2sStats::inbound_refused},
    {"causeway_xmpp_s2s_stanzas_in_total", "Stanzas received on s2s streams.",
     &xmpp::io::S2sStats::stanzas_in},
    {"causeway_xmpp_s2s_stanzas_out_total", "Stanzas handed to authenticated s2s streams.",
     &xmpp::io::S2sStats::stanzas_out},
    {"causeway_xmpp_s2s_bounced_total", "Stanzas the s2s service could not deliver.",
     &xmpp::io::S2sStats::bounced},
    {"causeway_xmpp_s2s_auth_failures_total", "s2s streams closed before authenticating.",
     &xmpp::io::S2sStats::auth_failures},
    {"causeway_xmpp_s2s_connect_failures_total", "Outbound s2s connects that failed.",
     &xmpp::io::S2sStats::connect_failures},
    {"causeway_xmpp_s2s_dns_failures_total", "s2s SRV/address lookups that failed.",
     &xmpp::io::S2sStats::dns_failures},
    {"causeway_xmpp_s2s_dialback_verifies_total", "Dialback verify requests sent.",
     &xmpp::io::S2sStats::dialback_verifies_sent},
    {"causeway_xmpp_s2s_idle_closed_total", "s2s streams closed for idleness.",
     &xmpp::io::S2sStats::idle_closed},
};

constexpr CounterField<xmpp::component::ComponentStats> kComponentCounters[] = {
    {"causeway_xmpp_component_attempts_total", "Component connection attempts started.",
     &xmpp::component::ComponentStats::attempts},
    {"causeway_xmpp_component_connects_total", "Component handshakes accepted.",
     &xmpp::component::ComponentStats::connects},
    {"causeway_xmpp_component_reconnects_total", "Component handshakes accepted after the first.",
     &xmpp::component::ComponentStats::reconnects},
    {"causeway_xmpp_component_auth_failures_total",
     "Component attempts ended by a stream error before the handshake (e.g. wrong secret).",
     &xmpp::component::ComponentStats::auth_failures},
    {"causeway_xmpp_component_stanzas_in_total", "Stanzas the XMPP server routed to us.",
     &xmpp::component::ComponentStats::stanzas_in},
    {"causeway_xmpp_component_stanzas_out_total", "Stanzas written to the component stream.",
     &xmpp::component::ComponentStats::stanzas_out},
    {"causeway_xmpp_component_requeued_total", "Stanzas taken back after a disconnect.",
     &xmpp::component::ComponentStats::requeued},
    {"causeway_xmpp_component_bounced_total", "Stanzas the component stream could not deliver.",
     &xmpp::component::ComponentStats::bounced},
};

// A LatencyHistogram (microsecond buckets) as a Prometheus histogram in seconds.
void WriteLatencyHistogram(std::string_view name, std::string_view help,
                           const LatencyHistogram& histogram, const MetricLabels& labels,
                           MetricsWriter& out) {
  static const std::vector<double>* const kBoundsSeconds = [] {
    auto* bounds = new std::vector<double>;
    for (int64_t us : LatencyHistogram::kBoundsUs) bounds->push_back(static_cast<double>(us) / 1e6);
    return bounds;
  }();
  std::vector<uint64_t> counts(LatencyHistogram::kBuckets);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = histogram.bucket(i);
  out.Histogram(name, help, *kBoundsSeconds, counts,
                static_cast<double>(histogram.sum_us()) / 1e6, labels);
}

// --- media relay ---

using turn::TurnStats;
constexpr CounterField<TurnStats> kTurnCounters[] = {
    {"causeway_turn_allocations_created_total", "TURN allocations created.",
     &TurnStats::allocations_created},
    {"causeway_turn_allocations_expired_total", "TURN allocations that ran out of lifetime.",
     &TurnStats::allocations_expired},
    {"causeway_turn_allocations_deleted_total",
     "TURN allocations ended by the client (Refresh 0, stream closed) or by shutdown.",
     &TurnStats::allocations_deleted},
    {"causeway_turn_binding_requests_total", "STUN Binding requests answered or dropped.",
     &TurnStats::binding_requests},
    {"causeway_turn_requests_total", "Allocate, Refresh, CreatePermission and ChannelBind requests.",
     &TurnStats::requests},
    {"causeway_turn_challenges_total", "401 challenges to requests without credentials.",
     &TurnStats::challenges},
    {"causeway_turn_auth_failures_total",
     "Requests refused for a bad username, password, realm or integrity.",
     &TurnStats::auth_failures},
    {"causeway_turn_stale_nonces_total", "438 answers (stale or foreign nonce).",
     &TurnStats::stale_nonces},
    {"causeway_turn_mismatches_total", "437 answers (allocation mismatch).",
     &TurnStats::mismatches},
    {"causeway_turn_quota_rejections_total", "486 answers (per-user or per-IP quota).",
     &TurnStats::quota_rejections},
    {"causeway_turn_capacity_rejections_total", "508 answers (relay capacity, ports, bindings).",
     &TurnStats::capacity_rejections},
    {"causeway_turn_forbidden_peers_total", "403 answers for peers outside the address policy.",
     &TurnStats::forbidden_peers},
    {"causeway_turn_bad_requests_total", "400, 420, 440, 442 and 443 answers.",
     &TurnStats::bad_requests},
    {"causeway_turn_malformed_total", "Client packets discarded as malformed.",
     &TurnStats::malformed},
    {"causeway_turn_amplification_drops_total",
     "Answers to unauthenticated UDP requests dropped by the per-source amplification budget.",
     &TurnStats::amplification_drops},
    {"causeway_turn_to_peer_packets_total", "Datagrams relayed from clients to peers.",
     &TurnStats::to_peer_packets},
    {"causeway_turn_to_peer_bytes_total", "Payload bytes relayed from clients to peers.",
     &TurnStats::to_peer_bytes},
    {"causeway_turn_from_peer_packets_total", "Datagrams relayed from peers to clients.",
     &TurnStats::from_peer_packets},
    {"causeway_turn_from_peer_bytes_total", "Payload bytes relayed from peers to clients.",
     &TurnStats::from_peer_bytes},
    {"causeway_turn_dropped_no_permission_total",
     "Packets dropped for want of a permission or channel.",
     &TurnStats::dropped_no_permission},
    {"causeway_turn_dropped_no_allocation_total",
     "Data from clients without an allocation, dropped.", &TurnStats::dropped_no_allocation},
    {"causeway_turn_msturn_send_requests_total", "MS-TURN Send requests received.",
     &TurnStats::msturn_send_requests},
    {"causeway_turn_dropped_no_destination_total",
     "MS-TURN raw client data without an active destination, dropped.",
     &TurnStats::dropped_no_destination},
    {"causeway_turn_dialect_mismatches_total",
     "Messages of one dialect on the other dialect's allocation, dropped.",
     &TurnStats::dialect_mismatches},
    {"causeway_turn_msturn_replays_total",
     "MS-TURN Send/Set Active Destination with a foreign connection id or an old sequence.",
     &TurnStats::msturn_replays},
};

using media::io::RelayIoCounters;
constexpr CounterField<RelayIoCounters> kRelayIoCounters[] = {
    {"causeway_turn_udp_datagrams_received_total", "Datagrams read from clients over UDP.",
     &RelayIoCounters::client_datagrams_in},
    {"causeway_turn_udp_datagrams_sent_total", "Datagrams sent to clients over UDP.",
     &RelayIoCounters::client_datagrams_out},
    {"causeway_turn_peer_datagrams_received_total", "Datagrams read on relayed sockets.",
     &RelayIoCounters::peer_datagrams_in},
    {"causeway_turn_peer_datagrams_sent_total", "Datagrams sent from relayed sockets.",
     &RelayIoCounters::peer_datagrams_out},
    {"causeway_turn_recv_batches_total", "recvmmsg calls that returned datagrams.",
     &RelayIoCounters::recv_batches},
    {"causeway_turn_send_batches_total", "sendmmsg flushes.", &RelayIoCounters::send_batches},
    {"causeway_turn_send_drops_total", "Sends dropped because a UDP socket buffer was full.",
     &RelayIoCounters::send_drops_would_block},
    {"causeway_turn_stream_queue_drops_total",
     "Sends dropped because a stream connection's write queue was full.",
     &RelayIoCounters::send_drops_queue_full},
    {"causeway_turn_send_errors_total", "Sends refused by the kernel or without a destination.",
     &RelayIoCounters::send_errors},
    {"causeway_turn_port_exhaustion_total", "Allocations that found no free relayed port.",
     &RelayIoCounters::port_exhaustion},
    {"causeway_turn_streams_accepted_total", "TCP/TLS client connections accepted.",
     &RelayIoCounters::stream_accepted},
    {"causeway_turn_streams_rejected_total", "TCP/TLS connections refused by the per-IP cap.",
     &RelayIoCounters::stream_rejected},
    {"causeway_turn_streams_invalid_total", "Connections closed for garbage or oversized frames.",
     &RelayIoCounters::stream_invalid},
    {"causeway_turn_tls_handshake_failures_total", "Failed TLS handshakes on the relay.",
     &RelayIoCounters::tls_handshake_failures},
};


MetricLabels WorkerLabel(size_t worker) { return {{"worker", absl::StrCat(worker)}}; }

// Fields 14 (utime) and 15 (stime) of /proc/self/stat would need parsing around the command
// name; getrusage gives the same CPU time directly.
double CpuSeconds() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The second field of /proc/self/statm (resident pages); -1 when unreadable.
double ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  unsigned long size = 0;
  unsigned long resident = 0;
  int read = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (read != 2) return -1;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// Entries of /proc/self/fd but ".", ".." and the directory's own descriptor; -1 when unreadable.
double OpenDescriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  double count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;
}

}  // namespace

void WriteSipWorkerMetrics(const SipWorkerStats& stats, size_t worker, MetricsWriter& out) {
  const MetricLabels labels = WorkerLabel(worker);
  if (stats.transport != nullptr) {
    for (const AtomicCounterField& f : kTransportCounters) {
      out.Counter(f.name, f.help,
                  static_cast<double>((stats.transport->*(f.field)).load(std::memory_order_relaxed)),
                  labels);
    }
    out.Gauge("causeway_sip_connections", "Open SIP TCP/TLS connections.",
              static_cast<double>(stats.connections), labels);
  }
  if (!stats.open) return;
  WriteCounters(stats.server, kServerCounters, labels, out);
  WriteCounters(stats.proxy, kProxyCounters, labels, out);
  WriteCounters(stats.registrar, kRegistrarCounters, labels, out);
  const char* transactions_help =
      "SIP transactions held (completed ones included while they absorb retransmissions).";
  out.Gauge("causeway_sip_transactions", transactions_help,
            static_cast<double>(stats.client_transactions),
            {{"worker", absl::StrCat(worker)}, {"kind", "client"}});
  out.Gauge("causeway_sip_transactions", transactions_help,
            static_cast<double>(stats.server_transactions),
            {{"worker", absl::StrCat(worker)}, {"kind", "server"}});
  out.Gauge("causeway_sip_proxy_contexts", "Requests the proxy is forwarding (response contexts).",
            static_cast<double>(stats.proxy_contexts), labels);
  if (stats.security) {
    WriteCounters(*stats.security, kSecurityCounters, labels, out);
    out.Gauge("causeway_auth_signed_in_connections",
              "Client connections with an MS-SIPAE security association.",
              static_cast<double>(stats.security_associations), labels);
  }
  if (stats.presence_federation) {
    WriteCounters(*stats.presence_federation, kPresenceFederationCounters, labels, out);
  }
}

void WriteSipSharedMetrics(const SipSharedStats& stats, MetricsWriter& out) {
  out.Gauge("causeway_sip_registered_aors", "Addresses of record with live registrations.",
            static_cast<double>(stats.location_aors));
  out.Gauge("causeway_sip_registered_bindings", "Live registration bindings (contacts).",
            static_cast<double>(stats.location_bindings));
  WriteCounters(stats.front_end, kFrontEndCounters, {}, out);
  out.Gauge("causeway_lync_subscriptions", "Subscriptions the Lync front end holds.",
            static_cast<double>(stats.front_end_subscriptions));
}

void WriteXmppEdgeMetrics(const XmppEdgeStats& edge, const xmpp::io::S2sStats* s2s, size_t worker,
                          MetricsWriter& out) {
  const MetricLabels labels = WorkerLabel(worker);
  WriteCounters(edge, kXmppEdgeCounters, labels, out);
  WriteLatencyHistogram("causeway_xmpp_forward_latency_seconds",
                        "Instant messages from the gateway reading them (SIP) to their stanza going "
                        "onto the s2s stream or the component link: the latency the gateway adds.",
                        edge.forward_latency, labels, out);
  if (s2s != nullptr) WriteCounters(*s2s, kS2sCounters, labels, out);
}

void WriteComponentMetrics(const xmpp::component::ComponentStats& stats, uint64_t lost,
                           MetricsWriter& out) {
  out.Gauge("causeway_xmpp_component_connected",
            "1 while the XEP-0114 component stream is up, else 0.", stats.connected ? 1 : 0);
  WriteCounters(stats, kComponentCounters, {}, out);
  out.Counter("causeway_xmpp_component_lost_total",
              "Stanzas from the component stream that found no worker's edge (shutdown).",
              static_cast<double>(lost));
}

void WriteTurnWorkerMetrics(const turn::TurnStats& stats, const media::io::RelayIoCounters& io,
                            size_t worker, MetricsWriter& out) {
  const MetricLabels labels = WorkerLabel(worker);
  out.Gauge("causeway_turn_allocations", "TURN allocations held.",
            static_cast<double>(stats.allocations), labels);
  out.Gauge("causeway_turn_msturn_allocations", "TURN allocations in the MS-TURN dialect (Lync).",
            static_cast<double>(stats.msturn_allocations), labels);
  out.Gauge("causeway_turn_permissions", "TURN permissions installed (expired ones until swept).",
            static_cast<double>(stats.permissions), labels);
  out.Gauge("causeway_turn_channels", "TURN channel bindings (quarantined ones included).",
            static_cast<double>(stats.channels), labels);
  out.Gauge("causeway_turn_relay_sockets", "Relayed UDP sockets open.",
            static_cast<double>(io.relay_sockets_open), labels);
  out.Gauge("causeway_turn_streams", "TCP/TLS client connections open.",
            static_cast<double>(io.stream_open), labels);
  WriteCounters(stats, kTurnCounters, labels, out);
  WriteCounters(io, kRelayIoCounters, labels, out);
}

void WriteProcessMetrics(absl::Time started, MetricsWriter& out) {
  out.Gauge("causeway_build_info", "Causeway's version; the value is always 1.", 1,
            {{"version", std::string(kVersion)}});
  out.Gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.",
            absl::ToDoubleSeconds(started - absl::UnixEpoch()));
  out.Counter("process_cpu_seconds_total", "User and system CPU time spent, seconds.",
              CpuSeconds());
  if (double rss = ResidentBytes(); rss >= 0) {
    out.Gauge("process_resident_memory_bytes", "Resident memory size, bytes.", rss);
  }
  if (double fds = OpenDescriptors(); fds >= 0) {
    out.Gauge("process_open_fds", "Open file descriptors.", fds);
  }
}

void AttachSipMetrics(MetricsCollector& collector, SipServiceHooks& hooks) {
  hooks.on_worker_stats = [&collector](runtime::Worker& worker,
                                       std::function<SipWorkerStats()> read) {
    collector.AddWorkerSource(
        worker, [read = std::move(read), index = worker.index()](MetricsWriter& out) {
          WriteSipWorkerMetrics(read(), index, out);
        });
  };
  hooks.on_shared_stats = [&collector](std::function<SipSharedStats()> read) {
    collector.AddSource([read = std::move(read)](MetricsWriter& out) {
      WriteSipSharedMetrics(read(), out);
    });
  };
}

}  // namespace causeway::gateway
