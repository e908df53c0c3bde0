#!/usr/bin/python3
"""TURN relay throughput: causeway's [turn] relay against coturn, side by side, on loopback.

For every load point each server runs in turn (fresh process, same credentials scheme, same
echo peer): turnutils_uclient opens CLIENTS allocations (REST-secret credentials, -W) and every
session sends a LENGTH-byte packet every INTERVAL ms for DURATION s over ChannelData (or
Send/Data indications with --mode send) to turnutils_peer on 127.0.0.1, which echoes it back
through the relay. Per server and point:

  offered   CLIENTS x 1000 / INTERVAL messages/s (each message crosses the relay twice:
            client -> peer and peer -> client, so relayed packets/s = 2 x messages/s)
  achieved  echoed messages/s while every session is sending (from uclient's once-a-second
            counters, the window after the last session started until the first one stops)
  loss      uclient's "Total lost packets" (sent - echoed, after its drain) in %
  rtt/jit   uclient's average round trip and jitter (1 ms resolution) and their maxima
  cpu       the relay's utime+stime (/proc/PID/stat, every thread) over the same window, as %
            of one core and as microseconds per relayed packet; uclient's and the peer's CPU
            beside it (the three share the machine's cores: a saturated generator caps the rate)
  rss       the relay's peak RSS (VmHWM) and its thread count

Then, unless --no-ladder, the offered rate rises at --ladder-clients sessions by shortening the
interval (--ladder-intervals) until loss > 0.1%: the last step below that is the sustained
maximum. The causeway/coturn ratios close the report (achieved rate, CPU per packet, RSS).

  bench/turn_relay/run.py --skip-causeway                 # coturn only (until [turn] exists)
  bench/turn_relay/run.py --causeway build/X/gateway/causeway
  options: --clients 50 200 --interval-ms 20 --length 160 --duration-s 15 --mode channel|send
           --tcp --threads 2 --procs N --ladder-clients 200 --ladder-intervals 10 8 6 5 4 3 2 1
           --no-ladder --json FILE --keep DIR
Needs coturn (turnserver, turnutils_uclient, turnutils_peer). Run it on an idle machine.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "integration"))

import processes  # noqa: E402
import turn_env  # noqa: E402
from turn_env import ProcSample, RelaySpec, TurnPeer  # noqa: E402

COTURN_CONF = os.path.join(HERE, "turnserver.conf")
CAUSEWAY_TURN = os.path.join(HERE, "causeway-turn.toml")
SECRET = "bench-turn-secret"
REALM = "bench.turn.test"
LOSS_LIMIT_PCT = 0.1
SAMPLE_S = 0.25
START_SPREAD_S = 6  # uclient starts each session 1-6 s after the last allocation


def udp_socket_drops():
    """{(inode, local port): drops} of every IPv4 UDP socket (/proc/net/udp, last column)."""
    out = {}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 13:
                out[(fields[9], int(fields[1].rsplit(":", 1)[1], 16))] = int(fields[12])
    return out


class CpuSampler:
    """(wall time, CPU seconds) of a few PIDs every SAMPLE_S, on a thread; and the receive-buffer
    drops of every UDP socket, by owner: the relay's listener, its relayed ports, the peer, the
    rest (uclient's sockets)."""

    def __init__(self, pids, classify=None):
        self.samplers = {name: ProcSample(pid) for name, pid in pids.items() if pid}
        self.samples = []
        self.classify = classify
        self.socket_drops = {}
        self.ticks = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, name, pid):
        self.samplers[name] = ProcSample(pid)

    def _sample(self):
        row = {"t": time.time()}
        for name, s in list(self.samplers.items()):
            try:
                row[name] = s.cpu_s()
            except OSError:
                pass
        self.samples.append(row)

    def _run(self):
        while not self.stop_event.is_set():
            self._sample()
            self.ticks += 1
            if self.classify and self.ticks % 4 == 0:
                try:
                    for key, drops in udp_socket_drops().items():
                        self.socket_drops[key] = max(drops, self.socket_drops.get(key, 0))
                except OSError:
                    pass
            self.stop_event.wait(SAMPLE_S)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=5)

    def drops_by_owner(self):
        out = {}
        for (_, port), drops in self.socket_drops.items():
            owner = self.classify(port)
            out[owner] = out.get(owner, 0) + drops
        return out

    def cpu_between(self, name, t1, t2):
        """CPU seconds `name` used between wall times t1 and t2 (nearest samples)."""
        rows = [r for r in self.samples if name in r]
        if len(rows) < 2:
            return None, None
        a = min(rows, key=lambda r: abs(r["t"] - t1))
        b = min(rows, key=lambda r: abs(r["t"] - t2))
        if b["t"] <= a["t"]:
            return None, None
        return b[name] - a[name], b["t"] - a["t"]


def udp_counters():
    """The kernel's UDP drop counters (/proc/net/snmp): where packets die when nothing reports
    them (a full receive buffer of the relay, the peer or uclient)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    names, values = rows[0][1:], [int(v) for v in rows[1][1:]]
    return {k: v for k, v in zip(names, values) if k in ("InErrors", "RcvbufErrors",
                                                          "SndbufErrors")}


def steady_window(summary, duration_s):
    """(first second, last second, echoed messages/s) while every session sends, from uclient's
    once-a-second lines; None when the run had no such window."""
    progress = summary.get("progress", [])
    connect = summary.get("connect_s")
    if connect is None or not progress:
        return None
    t1 = connect + START_SPREAD_S + 1
    t2 = connect + 1 + duration_s
    rows = [p for p in progress if t1 <= p[0] <= t2]
    if len(rows) < 2 or rows[-1][0] <= rows[0][0]:
        return None
    return rows[0][0], rows[-1][0], (rows[-1][3] - rows[0][3]) / (rows[-1][0] - rows[0][0])


def split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_point(args, server, clients, interval_ms, workdir, ports):
    """One server at one load point: a fresh relay and peer, `procs` uclient processes sharing
    the sessions (one single-threaded uclient saturates first), each from its own source address
    127.0.0.(10+i) as real clients come from many addresses."""
    os.makedirs(workdir, exist_ok=True)
    messages = max(1, int(args.duration_s * 1000 / interval_ms))
    procs = args.procs or max(1, math.ceil(clients / 25))
    # Every session also leaves its ALTERNATE-SERVER probe allocation behind (uclient), so room
    # for twice the sessions, in ports and quotas.
    spec = RelaySpec(ports.get(), realm=REALM, secret=SECRET, threads=args.threads,
                     max_allocations=100000, per_user=100000, per_ip=100000,
                     port_min=args.port_min, port_max=args.port_max, quiet=True)
    result = {"server": server, "clients": clients, "interval_ms": interval_ms,
              "offered_msg_s": clients * 1000.0 / interval_ms, "messages": messages,
              "uclient_procs": procs}
    relay = None
    peer = TurnPeer(ports.get(), workdir)
    sampler = None
    running = []
    try:
        if server == "coturn":
            relay = turn_env.CoturnRelay(os.path.join(workdir, "relay"), spec, args.turnserver,
                                         COTURN_CONF)
        else:
            with open(CAUSEWAY_TURN) as f:
                template = f.read()
            relay = turn_env.CausewayRelay(args.causeway, os.path.join(workdir, "relay"), spec,
                                           ports.get(), template)
        peer.start()
        relay.start()

        def owner(port):
            if port == spec.port:
                return "relay_listener"
            if spec.port_min <= port <= spec.port_max:
                return "relay_relayed"
            return "peer" if port == peer.port else "uclient"
        sampler = CpuSampler({"relay": relay.pid, "peer": peer.proc.pid}, owner)
        timeout_s = 60 + clients * 0.5 + args.duration_s + START_SPREAD_S + 30
        sampler.start()
        udp_before = udp_counters()
        result["load_before"] = os.getloadavg()[0]
        for i, n in enumerate(split(clients, procs)):
            argv = turn_env.uclient_argv(spec.port, peer.port, "bench", None, messages, n,
                                         args.length, interval_ms, tcp=args.tcp,
                                         send_indications=args.mode == "send", secret=SECRET,
                                         local_address="127.0.0.%d" % (10 + i))
            out_path = os.path.join(workdir, "uclient-%d.log" % i)
            with open(out_path, "w") as out:
                spawn_wall = time.time()
                proc = processes.spawn(argv, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            sampler.add("uclient%d" % i, proc.pid)
            running.append((proc, out_path, spawn_wall, n))
        deadline = time.monotonic() + timeout_s
        rcs = []
        for proc, _, _, _ in running:
            try:
                rcs.append(proc.wait(timeout=max(1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                processes.kill_process(proc)
                rcs.append(None)
        udp_after = udp_counters()
        result["udp_rcvbuf_errors"] = udp_after["RcvbufErrors"] - udp_before["RcvbufErrors"]
        result["udp_sndbuf_errors"] = udp_after["SndbufErrors"] - udp_before["SndbufErrors"]
        sample = ProcSample(relay.pid)
        result["relay_peak_rss_kib"] = sample.peak_rss_kib()
        result["relay_threads"] = sample.threads()
        result["relay_cpu_total_s"] = sample.cpu_s()
        sampler.stop()
        result["udp_drops_by_owner"] = sampler.drops_by_owner()
        result["uclient_rc"] = rcs

        totals = {"sent": 0, "received": 0, "lost": 0, "send_dropped": 0}
        rtt_sum = jit_sum = 0.0
        rtt_max = jit_max = 0
        rate = 0.0
        windows = []
        errors = []
        for (proc, out_path, spawn_wall, n), rc in zip(running, rcs):
            text = processes.read_text(out_path)
            summary = turn_env.parse_uclient(text)
            log_s, since_start_s = _re_connect(text)
            summary["connect_s"] = log_s
            for key in totals:
                totals[key] += summary.get(key) or 0
            got = summary.get("received") or 0
            rtt_sum += (summary.get("rtt_avg_ms") or 0) * got
            jit_sum += (summary.get("jitter_avg_ms") or 0) * got
            rtt_max = max(rtt_max, summary.get("rtt_max_ms") or 0)
            jit_max = max(jit_max, summary.get("jitter_max_ms") or 0)
            result.setdefault("connect_s", since_start_s)
            window = steady_window(summary, args.duration_s)
            if window is None:
                errors.append("%s: no steady window" % os.path.basename(out_path))
            else:
                s1, s2, r = window
                rate += r
                # Wall time of log second 0: uclient counts whole wall-clock seconds, from its
                # first log line (the connect line itself in TCP runs).
                base = math.floor(spawn_wall) + since_start_s - log_s
                windows.append((base + s1, base + s2))
            if rc != 0:
                errors.append("%s exit %s: %s" % (os.path.basename(out_path), rc,
                                                  " | ".join(text.splitlines()[-2:])))
            elif summary.get("sent") != messages * n:
                errors.append("%s sent %s of %d" % (os.path.basename(out_path),
                                                    summary.get("sent"), messages * n))
        result.update(totals)
        result["loss_pct"] = (100.0 * totals["lost"] / totals["sent"]) if totals["sent"] else None
        if totals["received"]:
            result["rtt_avg_ms"] = rtt_sum / totals["received"]
            result["jitter_avg_ms"] = jit_sum / totals["received"]
        result["rtt_max_ms"] = rtt_max
        result["jitter_max_ms"] = jit_max
        if windows and not errors:
            # CPU over the span where every process was in its steady window.
            t1, t2 = max(w[0] for w in windows), min(w[1] for w in windows)
            if t2 - t1 < 2:
                t1, t2 = min(w[0] for w in windows), max(w[1] for w in windows)
            result["window_wall_s"] = t2 - t1
            result["achieved_msg_s"] = rate
            result["relayed_pkt_s"] = 2 * rate
            names = ["relay", "peer"] + ["uclient%d" % i for i in range(procs)]
            for name in names:
                cpu, wall = sampler.cpu_between(name, t1, t2)
                if cpu is None:
                    continue
                key = "uclient" if name.startswith("uclient") else name
                result["%s_cpu_pct" % key] = result.get("%s_cpu_pct" % key, 0) + 100 * cpu / wall
            if result.get("relay_cpu_pct") is not None and rate > 0:
                result["relay_us_per_pkt"] = 1e4 * result["relay_cpu_pct"] / (2 * rate)
        if errors:
            result["error"] = "; ".join(errors)
    except Exception as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if sampler and sampler.thread.is_alive():
            sampler.stop()
        for proc, _, _, _ in running:
            if proc.poll() is None:
                processes.kill_process(proc)
        rc = relay.stop() if relay else None
        peer.stop()
        if server == "causeway" and rc not in (0, None):
            result.setdefault("error", "causeway exit %s at stop" % rc)
    return result


def _re_connect(text):
    """(log second, seconds since start) at which uclient finished allocating, from its "Total
    connect time" line. uclient's log seconds count from its first log line, which is that line
    itself when nothing was logged before (TCP runs), so the two can differ."""
    m = re.search(r"^(\d+): : Total connect time is (\d+)", text, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def run_point_retried(args, server, clients, interval_ms, workdir, ports):
    """run_point, once more when a uclient session drew the same random channel number for its
    two peers (the relay rightly answers 400 and uclient exits; ~1% of runs with 200 sessions;
    coturn's reason phrase names the cause, causeway's says "Bad Request")."""
    r = run_point(args, server, clients, interval_ms, workdir, ports)
    if "channel bind: error 400" in (r.get("error") or ""):
        print("# %s: uclient channel-number collision, point repeated" % server, flush=True)
        r = run_point(args, server, clients, interval_ms, workdir + "-again", ports)
        r["repeated"] = True
    return r


def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def print_row(r):
    print("%-8s %4d x %3d ms (%d uclient)  offered %7.0f/s  achieved %7s/s  relayed %7s pkt/s"
          "  loss %7s%%  rtt %5s/%3s ms  jit %5s/%3s ms  cpu %5s%% (%5s us/pkt)"
          "  uclient %4s%%  peer %4s%%  rss %6s KiB  thr %3s  udp rcvbuf drops %s  load %s%s" % (
              r["server"], r["clients"], r["interval_ms"], r.get("uclient_procs", 1),
              r["offered_msg_s"],
              fmt(r.get("achieved_msg_s")), fmt(r.get("relayed_pkt_s")),
              fmt(r.get("loss_pct"), "%.3f"), fmt(r.get("rtt_avg_ms"), "%.2f"),
              fmt(r.get("rtt_max_ms")), fmt(r.get("jitter_avg_ms"), "%.2f"),
              fmt(r.get("jitter_max_ms")), fmt(r.get("relay_cpu_pct"), "%.1f"),
              fmt(r.get("relay_us_per_pkt"), "%.2f"), fmt(r.get("uclient_cpu_pct")),
              fmt(r.get("peer_cpu_pct")), fmt(r.get("relay_peak_rss_kib")),
              fmt(r.get("relay_threads")), fmt(r.get("udp_rcvbuf_errors")) + (
                  " %s" % {k: v for k, v in r.get("udp_drops_by_owner", {}).items() if v}
                  if r.get("udp_rcvbuf_errors") else ""),
              fmt(r.get("load_before"), "%.1f"),
              ("  ERROR " + r["error"]) if r.get("error") else ""), flush=True)


def sustained(rows):
    ok = [r for r in rows if not r.get("error") and r.get("loss_pct") is not None
          and r["loss_pct"] <= LOSS_LIMIT_PCT]
    return max(ok, key=lambda r: r["offered_msg_s"]) if ok else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--causeway", help="the causeway binary (with [turn])")
    p.add_argument("--skip-causeway", action="store_true", help="coturn only")
    p.add_argument("--turnserver", default=turn_env.TURNSERVER)
    p.add_argument("--clients", type=int, nargs="+", default=[50, 200])
    p.add_argument("--interval-ms", type=int, default=20, help="uclient -z: whole ms")
    p.add_argument("--length", type=int, default=160)
    p.add_argument("--duration-s", type=float, default=15)
    p.add_argument("--mode", choices=("channel", "send"), default="channel")
    p.add_argument("--tcp", action="store_true", help="clients reach the relay over TCP")
    p.add_argument("--procs", type=int, default=0,
                   help="uclient processes sharing the sessions (default: one per 25 sessions)")
    p.add_argument("--threads", type=int, default=2,
                   help="coturn --relay-threads and causeway workers (default 2)")
    p.add_argument("--ladder-clients", type=int, default=200)
    p.add_argument("--ladder-intervals", type=int, nargs="+", default=[10, 8, 6, 5, 4, 3, 2, 1])
    p.add_argument("--no-ladder", action="store_true")
    p.add_argument("--port-min", type=int, default=61000)
    p.add_argument("--port-max", type=int, default=64999)
    p.add_argument("--json", help="write every result here")
    p.add_argument("--keep", help="keep work dirs (logs) here")
    args = p.parse_args()
    servers = ["coturn"]
    if not args.skip_causeway:
        if not args.causeway:
            p.error("--causeway BINARY, or --skip-causeway until the binary has [turn]")
        args.causeway = os.path.abspath(args.causeway)
        servers.append("causeway")

    root = args.keep or tempfile.mkdtemp(prefix="turn-bench-")
    ports = processes.PortAllocator()
    results = []
    print("# %s, %d-byte packets, %s over %s, %d relay threads/workers, load %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), args.length, args.mode,
        "tcp" if args.tcp else "udp", args.threads,
        " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
    try:
        step = 0
        for clients in args.clients:
            for server in servers:
                step += 1
                r = run_point_retried(args, server, clients, args.interval_ms,
                                      os.path.join(root, "%02d-%s-%d" % (step, server, clients)),
                                      ports)
                r["phase"] = "fixed"
                results.append(r)
                print_row(r)
        if not args.no_ladder:
            live = list(servers)
            for interval in args.ladder_intervals:
                for server in list(live):
                    step += 1
                    r = run_point_retried(
                        args, server, args.ladder_clients, interval,
                        os.path.join(root, "%02d-%s-ladder-%d" % (step, server, interval)), ports)
                    r["phase"] = "ladder"
                    results.append(r)
                    print_row(r)
                    if r.get("error") or (r.get("loss_pct") or 0) > LOSS_LIMIT_PCT:
                        live.remove(server)
                if not live:
                    break
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print("# load after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    for server in servers:
        best = sustained([r for r in results if r["server"] == server])
        print("# %s sustained maximum (loss <= %.1f%%): %s" % (
            server, LOSS_LIMIT_PCT, "none" if best is None else
            "%.0f msg/s offered, %.0f achieved = %.0f relayed pkt/s (%d x %g ms)" % (
                best["offered_msg_s"], best.get("achieved_msg_s") or 0,
                best.get("relayed_pkt_s") or 0, best["clients"], best["interval_ms"])))
    if "causeway" in servers:
        for r in results:
            if r["server"] != "causeway":
                continue
            ref = next((x for x in results if x["server"] == "coturn"
                        and x["clients"] == r["clients"] and x["interval_ms"] == r["interval_ms"]
                        and x["phase"] == r["phase"]), None)
            if ref is None:
                continue

            def ratio(key):
                a, b = r.get(key), ref.get(key)
                return "-" if not a or not b else "%.2f" % (a / b)
            print("# causeway/coturn at %d x %d ms: achieved %s, cpu/pkt %s, peak rss %s" % (
                r["clients"], r["interval_ms"], ratio("achieved_msg_s"),
                ratio("relay_us_per_pkt"), ratio("relay_peak_rss_kib")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
