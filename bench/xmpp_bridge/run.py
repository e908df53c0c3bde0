#!/usr/bin/python3
"""SIP -> XMPP IM benchmark: sipp MESSAGEs through causeway to an XMPP s2s sink, next to SIP -> SIP.

One causeway (lab mode: no users, so no authentication; sip.domains = lync.test, [xmpp] s2s with
sink.test federated and statically routed) and one xmpp_sink (bench/xmpp_bridge/xmpp_sink.cc, an
S2sService serving sink.test that answers every XEP-0184 request at once and checks per
conversation that the "seq N" bodies arrive in order without gaps). At each rate two steps run:

  xmpp  sipp -> causeway -> s2s (TLS by default) -> sink, receipt -> causeway -> 200 -> sipp
  sip   sipp -> causeway -> sipp UAS registered as sinkuser@lync.test -> 200 -> sipp

Each step offers rate x --step-seconds MESSAGEs from --conversations senders (call N is sent by
conversation N mod conversations). Per step: completed/failed, response time p50/p99 (sipp
-trace_rtt), causeway CPU and peak PSS, sink and sipp CPU, and for xmpp the sink's received,
out-of-order, duplicate and gap counts. "Added latency" at a rate = xmpp p99 - sip p99.

  bench/xmpp_bridge/run.py --causeway build/h-bench/gateway/causeway \
      --sink build/h-bench/bench/xmpp_bridge/xmpp_sink [--no-tls] [--rates 2000 5000] [--keep DIR]

Everything runs on 127.0.0.1; every process is stopped by PID.
"""

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import select
import socket
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INTEGRATION = os.path.join(REPO, "tests", "integration")
sys.path.insert(0, INTEGRATION)
import run_sipp_tests as it  # noqa: E402  (proxy launcher base)
from processes import PortAllocator, stop_process, wait_port_bound  # noqa: E402

# bench/sip_load/run.py: /proc accounting, percentiles, sipp stats (loaded by path: same file name)
_spec = importlib.util.spec_from_file_location(
    "sip_load_run", os.path.join(REPO, "bench", "sip_load", "run.py"))
sip_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sip_load)

SIP_DOMAIN = "lync.test"
SINK_DOMAIN = "sink.test"
CALLEE = "sinkuser"
DEFAULT_RATES = [2000, 5000, 10000, 15000, 20000, 25000]
MAX_FAILED_RATIO = sip_load.MAX_FAILED_RATIO
CLK_TCK = sip_load.CLK_TCK
UAC_XML = os.path.join(HERE, "im_uac.xml")


def make_pki(directory):
    """A CA and EC leaves for lync.test (causeway's [tls]) and sink.test (the sink)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=xmpp_bridge bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for domain in (SIP_DOMAIN, SINK_DOMAIN):
        with open(os.path.join(directory, domain + ".ext"), "w") as ext:
            ext.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                      "subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n" % domain)
        openssl("req", *ec, "-keyout", domain + ".key", "-out", domain + ".csr",
                "-subj", "/CN=" + domain)
        openssl("x509", "-req", "-in", domain + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", domain + ".pem", "-days", "2", "-extfile",
                domain + ".ext")
    return {name: os.path.join(directory, name) for name in (
        "ca.pem", SIP_DOMAIN + ".pem", SIP_DOMAIN + ".key", SINK_DOMAIN + ".pem",
        SINK_DOMAIN + ".key")}


def thread_ticks(pid):
    """utime+stime per thread of one process: whether one worker is the bottleneck."""
    ticks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                data = f.read()
            fields = data[data.rindex(")") + 2:].split()
            ticks[tid] = int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return ticks


def udp_receive_drops():
    """Datagrams the kernel dropped for full receive buffers, machine-wide (/proc/net/snmp):
    a dropped MESSAGE comes back as sipp's retransmission 500 ms later, out of order."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


class Causeway(it.Proxy):
    """causeway with [xmpp] s2s towards the sink; SIP over UDP/TCP on one port."""

    def __init__(self, binary, workdir, ports, pki, sink_port, workers, require_tls):
        super().__init__(workdir, ports, "udp", None)
        self.binary = binary
        self.xmpp_port = ports.get()
        state_dir = os.path.join(workdir, "state")
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        os.chmod(state_dir, 0o700)
        self.config = os.path.join(workdir, "causeway.toml")
        with open(self.config, "w") as f:
            f.write('[general]\nstate_dir = "%s"\nworkers = %d\n\n' % (state_dir, workers))
            f.write('[sip]\nudp = ["%s:%d"]\ntcp = ["%s:%d"]\ntls = []\ndomains = ["%s"]\n\n'
                    % (it.LOOPBACK, self.port, it.LOOPBACK, self.port, SIP_DOMAIN))
            f.write('[tls]\ncertificate = "%s"\nkey = "%s"\nca = "%s"\n\n'
                    % (pki[SIP_DOMAIN + ".pem"], pki[SIP_DOMAIN + ".key"], pki["ca.pem"]))
            f.write('[xmpp]\nmode = "s2s"\nlisten = ["%s:%d"]\nfederated_domains = ["%s"]\n'
                    'static_routes = ["%s=%s:%d"]\nrequire_tls = %s\n'
                    % (it.LOOPBACK, self.xmpp_port, SINK_DOMAIN, SINK_DOMAIN, it.LOOPBACK,
                       sink_port, "true" if require_tls else "false"))

    def command(self):
        return [self.binary, "--config", self.config]


class Sink:
    def __init__(self, binary, workdir, port, causeway_xmpp_port, pki, stride, tls):
        self.out_path = os.path.join(workdir, "sink.out")
        self.err = open(os.path.join(workdir, "sink.err"), "w")
        self.out = open(self.out_path, "w")
        cmd = [binary, "--domain", SINK_DOMAIN, "--listen", "%s:%d" % (it.LOOPBACK, port),
               "--route", "%s=%s:%d" % (SIP_DOMAIN, it.LOOPBACK, causeway_xmpp_port),
               "--stride", str(stride)]
        cmd += (["--cert", pki[SINK_DOMAIN + ".pem"], "--key", pki[SINK_DOMAIN + ".key"],
                 "--ca", pki["ca.pem"]] if tls else ["--no-tls"])
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, cwd=workdir)
        if not wait_port_bound(port, True, self.proc):
            raise RuntimeError("xmpp_sink did not start, see %s" % self.err.name)

    def stats(self):
        """The sink's counters now (SIGUSR1 makes it print one JSON line)."""
        with open(self.out_path) as f:
            before = len(f.readlines())
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(self.out_path) as f:
                lines = f.readlines()
            if len(lines) > before and lines[-1].endswith("\n"):
                return json.loads(lines[-1])
            time.sleep(0.05)
        raise RuntimeError("xmpp_sink did not report")

    def stop(self):
        stop_process(self.proc)
        self.out.close()
        self.err.close()


class Probe:
    """Sub-millisecond response times (sipp's -trace_rtt has whole ms): a thread sending one
    MESSAGE every `interval` s over its own UDP socket next to the sipp load, timing each to
    its final response with perf_counter. Its own conversation; bodies "seq N" with N growing
    by `stride` like sipp's calls, so the sink checks it too."""

    def __init__(self, proxy_port, to_domain, user, stride, seconds, interval=0.005):
        self.proxy = (it.LOOPBACK, proxy_port)
        self.to_domain = to_domain
        self.user = user
        self.stride = stride
        self.seconds = seconds
        self.interval = interval
        self.rtts_ms = []
        self.failed = 0
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _request(self, port, n):
        body = "seq %d" % (n * self.stride)
        return ("MESSAGE sip:%s@%s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s-%d;rport\r\n"
                "From: <sip:%s@%s>;tag=p%d\r\n"
                "To: <sip:%s@%s>\r\n"
                "Call-ID: %s-%d@probe\r\n"
                "CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n"
                "Content-Length: %d\r\n\r\n%s"
                % (CALLEE, self.to_domain, it.LOOPBACK, port, self.user, n, self.user, SIP_DOMAIN,
                   n, CALLEE, self.to_domain, self.user, n, len(body), body)).encode()

    def _run(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((it.LOOPBACK, 0))
        port = sock.getsockname()[1]
        pending = {}  # call number -> send time
        start = time.perf_counter()
        end = start + self.seconds
        next_send = start
        n = 0
        while True:
            now = time.perf_counter()
            if now >= next_send and now < end:
                n += 1
                pending[n] = time.perf_counter()
                sock.sendto(self._request(port, n), self.proxy)
                next_send += self.interval
                continue
            if now >= end + 6.0 or (now >= end and not pending):
                break
            ready, _, _ = select.select([sock], [], [], max(0.0, min(next_send, end + 6.0) - now))
            if not ready:
                continue
            data = sock.recv(65535)
            got = time.perf_counter()
            text = data.decode("latin-1")
            code = text[8:11]
            number = None
            for line in text.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() in ("call-id", "i"):
                    try:
                        number = int(value.strip().split("-")[-1].split("@")[0])
                    except ValueError:
                        pass
                    break
            if number not in pending or code.startswith("1"):
                continue
            t0 = pending.pop(number)
            if code == "200":
                self.rtts_ms.append((got - t0) * 1000.0)
            else:
                self.failed += 1
        self.sent = n
        self.failed += len(pending)  # unanswered
        self.rtts_ms.sort()
        sock.close()


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.ports = PortAllocator()
        self.steps = {"xmpp": [], "sip": []}

    @staticmethod
    def sipp_base(port, contact_port):
        """sip_load's sipp options with the served domain in place of its test domain."""
        cmd = sip_load.sipp_base("udp", port, contact_port)
        cmd[cmd.index("domain") + 1] = SIP_DOMAIN
        return cmd

    def sipp(self, port):
        return self.sipp_base(port, port) + [
            "-key", "from_domain", SIP_DOMAIN, "-s", CALLEE]

    def run(self):
        a = self.args
        pki = make_pki(self._dir("pki"))
        sink_port = self.ports.get()
        cw = Causeway(a.causeway, self._dir("causeway"), self.ports, pki, sink_port, a.workers,
                      not a.no_tls)
        sink = Sink(a.sink, self._dir("sink"), sink_port, cw.xmpp_port, pki, a.conversations,
                    not a.no_tls)
        uas = None
        try:
            cw.start()
            # SIP->SIP reference callee: a sipp UAS registered as sinkuser@lync.test.
            uas_port = self.ports.get()
            udir = self._dir("uas")
            uas = subprocess.Popen(
                self.sipp_base(uas_port, uas_port) +
                ["-sf", os.path.join(INTEGRATION, "message_uas.xml")],
                stdout=open(os.path.join(udir, "uas.log"), "w"), stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=udir)
            if not wait_port_bound(uas_port, False, uas):
                raise RuntimeError("callee sipp did not start")
            reg = subprocess.run(
                self.sipp_base(self.ports.get(), uas_port) +
                ["-sf", os.path.join(INTEGRATION, "register.xml"),
                 "%s:%d" % (it.LOOPBACK, cw.port), "-key", "user", CALLEE, "-m", "1", "-timeout", "10s", "-timeout_error"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=udir, timeout=30)
            if reg.returncode != 0:
                raise RuntimeError("REGISTER of the SIP callee failed")
            # Warm-up: brings the s2s streams up both ways (TLS, SASL EXTERNAL) before timing.
            warm = self.run_step(cw, sink, "xmpp", 200, seconds=2.0, tag="warmup")
            print(format_step(warm), flush=True)
            if warm["ok_calls"] == 0:
                raise RuntimeError("warm-up: no message through to the sink; see %s"
                                   % self.workdir)
            failed = set()
            for rate in a.rates:
                for path in ("xmpp", "sip"):
                    if path in failed or path not in a.paths:
                        continue
                    step = self.run_step(cw, sink, path, rate, a.step_seconds)
                    self.steps[path].append(step)
                    print(format_step(step), flush=True)
                    if not step["ok"]:
                        failed.add(path)
                    if not cw.alive():
                        raise RuntimeError("causeway died, see %s" % cw.log_path)
                    time.sleep(1.0)
        finally:
            if uas is not None:
                stop_process(uas)
            cw.stop()
            final = None
            try:
                final = sink.stats()
            except (RuntimeError, OSError, ValueError):
                pass
            sink.stop()
            if final:
                print("sink total: %d messages, %d receipts sent, %d undeliverable"
                      % (final["messages"], final["receipts_sent"], final["undeliverable"]))

    def run_step(self, cw, sink, path, rate, seconds, tag=None):
        tag = tag or "%s_%d" % (path, rate)
        step_dir = self._dir(tag)
        calls = int(rate * seconds)
        budget = int(seconds) + 8  # the tail: receipt_wait is 5 s
        callers = self.args.callers
        # UDP from one source port reaches one causeway worker (SO_REUSEPORT hashes the 4-tuple):
        # `callers` sipp processes, each rate/callers with its own conversations, load them all.
        cmds = []
        for i in range(callers):
            # Fresh conversation names per step, so the sink's per-conversation checks start over.
            inf = os.path.join(step_dir, "users%d.csv" % i)
            with open(inf, "w") as f:
                f.write("SEQUENTIAL\n")
                for k in range(self.args.conversations):
                    f.write("%sc%dk%d;\n" % (tag.replace("_", ""), k, i))
            port = self.ports.get()
            cmds.append(self.sipp(port) + [
                "-sf", UAC_XML, "%s:%d" % (it.LOOPBACK, cw.port), "-inf", inf,
                "-key", "to_domain", SINK_DOMAIN if path == "xmpp" else SIP_DOMAIN,
                "-r", str(rate // callers), "-rp", "1000", "-m", str(calls // callers),
                "-l", str(max(rate * 3 // callers, 100)),
                "-timeout", "%ds" % budget, "-trace_stat", "-stf",
                os.path.join(step_dir, "stat%d.csv" % i), "-fd", "1",
                "-trace_rtt", "-rtt_freq", "100", "-timer_resol", "1",
                "-trace_err", "-error_file", os.path.join(step_dir, "err%d.log" % i)])
        calls = (calls // callers) * callers
        probe = Probe(cw.port, SINK_DOMAIN if path == "xmpp" else SIP_DOMAIN,
                      tag.replace("_", "") + "probe", self.args.conversations, seconds)
        sink_ticks0 = sip_load.cpu_ticks([sink.proc.pid])
        drops0 = udp_receive_drops()
        threads0 = thread_ticks(cw.proc.pid)
        with open(os.path.join(step_dir, "screen.log"), "w") as out:
            with sip_load.Sampler(cw.proc.pid) as sample:
                sipps = [subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=step_dir)
                         for cmd in cmds]
                probe.thread.start()
                sipp_ticks = {}
                try:
                    deadline = time.monotonic() + budget + 5
                    while (any(p.poll() is None for p in sipps)
                           and time.monotonic() < deadline):
                        for p in sipps:
                            sipp_ticks[p.pid] = max(sipp_ticks.get(p.pid, 0),
                                                    sip_load.cpu_ticks([p.pid]))
                        time.sleep(0.2)
                finally:
                    for p in sipps:
                        stop_process(p)
                sipp_ticks = sum(sipp_ticks.values())
        probe.thread.join(timeout=15)
        wall = max(sample.elapsed, 1e-3)
        threads1 = thread_ticks(cw.proc.pid)
        busiest = max((t - threads0.get(tid, 0) for tid, t in threads1.items()), default=0)
        sink_cpu = 100.0 * (sip_load.cpu_ticks([sink.proc.pid]) - sink_ticks0) / CLK_TCK / wall
        ok_calls = failed = 0
        for i in range(callers):
            ok_i, failed_i = sip_load.read_stats(os.path.join(step_dir, "stat%d.csv" % i))
            ok_calls += ok_i
            failed += failed_i
        rtts = sip_load.read_rtts(step_dir)
        not_ok = calls - ok_calls
        step = {
            "path": path, "rate": rate, "asked": calls, "ok_calls": ok_calls, "failed": failed,
            "fail_ratio": not_ok / calls, "achieved": ok_calls / wall,
            "p50": sip_load.percentile(rtts, 50), "p99": sip_load.percentile(rtts, 99),
            "p999": sip_load.percentile(rtts, 99.9),
            "cw_cpu": sample.cpu_percent, "cw_busiest_thread": 100.0 * busiest / CLK_TCK / wall, "cw_mb": sample.max_kb / 1024.0,
            "sipp_cpu": 100.0 * sipp_ticks / CLK_TCK / wall, "sink_cpu": sink_cpu,
            "seconds": wall, "ok": not_ok / calls < MAX_FAILED_RATIO,
            "udp_drops": udp_receive_drops() - drops0,
            "load1": os.getloadavg()[0],  # other jobs on the machine skew everything
            "probe_sent": probe.sent, "probe_failed": probe.failed,
            "probe_p50": sip_load.percentile(probe.rtts_ms, 50),
            "probe_p99": sip_load.percentile(probe.rtts_ms, 99),
        }
        if path == "xmpp":
            prefix = tag.replace("_", "") + "c"
            convs = {jid: c for jid, c in sink.stats()["conversations"].items()
                     if jid.startswith(prefix) or jid.startswith(prefix[:-1] + "probe")}
            step["sink_received"] = sum(c["received"] for c in convs.values())
            step["sink_missing"] = calls + probe.sent - step["sink_received"]
            for key in ("out_of_order", "duplicates", "gaps"):
                step["sink_" + key] = sum(c[key] for c in convs.values())
            # Every MESSAGE sipp sent must reach the sink exactly once, in order.
            step["ok"] = step["ok"] and step["sink_out_of_order"] == 0 and \
                step["sink_duplicates"] == 0
        with open(os.path.join(step_dir, "step.json"), "w") as f:
            json.dump(step, f)
        return step

    def _dir(self, name):
        d = os.path.join(self.workdir, name)
        os.makedirs(d, exist_ok=True)
        return d


def format_step(s):
    line = ("%-4s %6d/s  ok %7d/%-7d (%6.0f/s) not ok %5.2f%%  rtt p50 %6.2f p99 %6.2f "
            "p99.9 %6.2f ms  causeway cpu %4.0f%% (busiest thread %3.0f%%) pss %5.1f MB  sink cpu %3.0f%%  sipp cpu %3.0f%%"
            % (s["path"], s["rate"], s["ok_calls"], s["asked"], s["achieved"],
               100 * s["fail_ratio"], s["p50"], s["p99"], s["p999"], s["cw_cpu"],
               s["cw_busiest_thread"], s["cw_mb"],
               s["sink_cpu"], s["sipp_cpu"]))
    line += "  probe p50 %.3f p99 %.3f ms (%d sent, %d failed)" % (
        s["probe_p50"], s["probe_p99"], s["probe_sent"], s["probe_failed"])
    if "sink_received" in s:
        line += "  sink got %d missing %d ooo %d dup %d gaps %d" % (
            s["sink_received"], s["sink_missing"], s["sink_out_of_order"], s["sink_duplicates"],
            s["sink_gaps"])
    return line + "  udp drops %d  load %.1f" % (s["udp_drops"], s["load1"]) + ("  PASS" if s["ok"] else "  FAIL")


def summary(bench):
    best = {p: sip_load.max_sustained(steps) for p, steps in bench.steps.items()}
    for path, b in best.items():
        print("%s max sustained: %s" % (path, "%d/s" % b["rate"] if b else "-"))
    sip_by_rate = {s["rate"]: s for s in bench.steps["sip"]}
    print("%-7s %11s %11s %9s %13s %13s %11s %13s" % (
        "rate", "xmpp p99", "sip p99", "added", "probe xmpp", "probe sip", "added", "cpu xmpp/sip"))
    for s in bench.steps["xmpp"]:
        ref = sip_by_rate.get(s["rate"])
        if ref is None:
            continue
        print("%-7d %8.0f ms %8.0f ms %6.0f ms %10.3f ms %10.3f ms %8.3f ms %13.2f" % (
            s["rate"], s["p99"], ref["p99"], s["p99"] - ref["p99"], s["probe_p99"],
            ref["probe_p99"], s["probe_p99"] - ref["probe_p99"],
            s["cw_cpu"] / ref["cw_cpu"] if ref["cw_cpu"] else float("nan")))


def forward_latency(log_path):
    """Prints the latency causeway itself added, SIP read -> stanza on the s2s stream, as its XMPP
    edges logged it at shutdown (bucket upper bounds, whole run including the warm-up)."""
    try:
        with open(log_path) as f:
            lines = [l for l in f if 'msg="edge stopped"' in l]
    except OSError:
        return
    for line in lines:
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if int(fields.get("ims_timed", "0")) > 0:
            print("causeway forward latency (SIP read -> s2s stream, whole run): %s IMs  "
                  "p50 <= %s us  p99 <= %s us  p99.9 <= %s us" % (
                      fields["ims_timed"], fields["forward_p50_us"], fields["forward_p99_us"],
                      fields["forward_p999_us"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--causeway", required=True, metavar="BINARY")
    parser.add_argument("--sink", required=True, metavar="BINARY", help="xmpp_sink binary")
    parser.add_argument("--rates", type=int, nargs="+", default=DEFAULT_RATES)
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--callers", type=int, default=2, help="sipp processes per step")
    parser.add_argument("--paths", nargs="+", choices=["xmpp", "sip"], default=["xmpp", "sip"])
    parser.add_argument("--no-tls", action="store_true",
                        help="s2s without TLS (dialback over plain TCP); default TLS + SASL EXTERNAL")
    parser.add_argument("--keep", metavar="DIR", help="keep logs in DIR")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)")
        return 1
    args.causeway = os.path.abspath(args.causeway)
    args.sink = os.path.abspath(args.sink)
    workdir = args.keep or tempfile.mkdtemp(prefix="causeway-xmpp-bench-")
    os.makedirs(workdir, exist_ok=True)
    bench = Bench(args, workdir)
    start = time.monotonic()
    rc = 0
    try:
        bench.run()
    except RuntimeError as e:
        print("error: %s" % e)
        rc = 1
    print()
    summary(bench)
    forward_latency(os.path.join(workdir, "causeway", "proxy.log"))
    print("total %.0fs%s" % (time.monotonic() - start, ", logs in " + workdir if args.keep else ""))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
