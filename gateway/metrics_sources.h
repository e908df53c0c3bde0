#pragma once
// The metric families Causeway exposes and where their figures come from: pure writers that turn
// one statistics struct into samples (tested without sockets), and the glue that registers them
// with a MetricsCollector. Names follow Prometheus conventions: causeway_<area>_..._total for
// counters, plain names for gauges, a `worker` label on what each worker keeps.

#include <cstddef>

#include "absl/time/time.h"
#include "gateway/metrics_collector.h"
#include "gateway/metrics_text.h"
#include "gateway/sip_service.h"
#include "gateway/xmpp_edge.h"
#include "media/io/relay_sockets.h"
#include "media/turn/turn_server.h"
#include "xmpp/component/component_connection.h"
#include "xmpp/io/s2s_service.h"

namespace causeway::gateway {

// One SIP worker: transport, transactions, proxy, registrar, MS-SIPAE security layer, presence
// federation. A closed shard (stopping) contributes its transport counters only.
void WriteSipWorkerMetrics(const SipWorkerStats& stats, size_t worker, MetricsWriter& out);
// The location store and front-end tables every worker shares.
void WriteSipSharedMetrics(const SipSharedStats& stats, MetricsWriter& out);
// One worker's XMPP edge; `s2s` null in component mode or once stopped.
void WriteXmppEdgeMetrics(const XmppEdgeStats& edge, const xmpp::io::S2sStats* s2s, size_t worker,
                          MetricsWriter& out);
// The process's XEP-0114 component stream and the stanzas that found no edge.
void WriteComponentMetrics(const xmpp::component::ComponentStats& stats, uint64_t lost,
                           MetricsWriter& out);
// One worker of the media relay: its TURN logic and its sockets.
void WriteTurnWorkerMetrics(const turn::TurnStats& stats, const media::io::RelayIoCounters& io,
                            size_t worker, MetricsWriter& out);
// causeway_build_info, process_start_time_seconds and what /proc tells about this process (CPU
// time, resident memory, open descriptors).
void WriteProcessMetrics(absl::Time started, MetricsWriter& out);

// Sets `hooks`' on_worker_stats and on_shared_stats so that the SIP service registers its
// workers with `collector` at Start. `collector` must outlive the service.
void AttachSipMetrics(MetricsCollector& collector, SipServiceHooks& hooks);

}  // namespace causeway::gateway
