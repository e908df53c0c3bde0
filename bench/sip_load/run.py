#!/usr/bin/python3
"""SIP load benchmark: causeway side by side with the Kamailio reference proxy.

For each target (kamailio always, causeway when --causeway is given) and each scenario (MESSAGE,
short calls INVITE/200/ACK/BYE), registers one callee, then drives sipp at increasing rates,
each step offering rate * --step-seconds calls. A step passes when fewer than 1% of the offered
calls failed or did not complete within the step's time budget (step + 5 s). Prints
per step: completed/failed calls, response time p50/p99 (sipp -trace_rtt), CPU% and memory of
the proxy process tree (from /proc), CPU% of the sipp caller; then per scenario the max
sustained rate of each target and the causeway/kamailio ratio.

  bench/sip_load/run.py --causeway build/h7/gateway/causeway          # both targets
  bench/sip_load/run.py                                               # Kamailio only

Uses the same scenarios (tests/integration/*.xml), ports scheme and proxy launchers as the
integration tests. Everything runs on 127.0.0.1; every process is stopped by PID.
"""

import argparse
import csv
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INTEGRATION = os.path.join(REPO, "tests", "integration")
sys.path.insert(0, INTEGRATION)
import run_sipp_tests as it  # noqa: E402  (shared launchers, PKI)
from processes import PortAllocator, stop_process, wait_port_bound  # noqa: E402

DEFAULT_RATES = [500, 1000, 2000, 4000, 8000, 16000]
MAX_FAILED_RATIO = 0.01  # failed or unfinished calls, over offered calls
# The callee keeps each finished call this long to re-answer retransmitted requests whose 200
# was lost (T1 retransmissions at 0.5, 1, 2, 4 s), instead of counting them against the proxy.
LINGER_MS = 4500
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

SCENARIOS = {
    # name: (caller scenario, callee scenario, extra caller options)
    "message": ("message_uac.xml", "message_uas.xml", []),
    # 100 ms between ACK and BYE: a multi-process proxy could otherwise deliver the BYE first.
    "call": ("invite_uac.xml", "invite_uas.xml", ["-d", "100"]),
}


# ---------------------------------------------------------------------------------------------
# /proc accounting for a process and its descendants (Kamailio forks one process per worker)

def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    # comm may contain spaces: fields start after the last ')'
    return data[data.rindex(")") + 2:].split()


def process_tree(root):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo and len(tree) < 4096:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            pass
    return total


def memory_kb(pids):
    """Proportional set size summed over the tree (shared memory counted once), RSS fallback."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            try:
                with open("/proc/%d/statm" % pid) as f:
                    total += int(f.read().split()[1]) * PAGE_KB
            except OSError:
                pass
    return total


class Sampler:
    """Samples the proxy's memory while a step runs; CPU comes from tick deltas."""

    def __init__(self, root_pid):
        self.root = root_pid
        self.pids = process_tree(root_pid)
        self.max_kb = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            self.max_kb = max(self.max_kb, memory_kb(self.pids))
            self.stop.wait(0.5)

    def __enter__(self):
        self.pids = process_tree(self.root)
        self.t0 = time.monotonic()
        self.ticks0 = cpu_ticks(self.pids)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.elapsed = time.monotonic() - self.t0
        self.cpu_percent = 100.0 * (cpu_ticks(self.pids) - self.ticks0) / CLK_TCK / self.elapsed


# ---------------------------------------------------------------------------------------------

def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def read_rtts(step_dir):
    values = []
    for path in glob.glob(os.path.join(step_dir, "*_rtt.csv")):
        with open(path, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2:
                    try:
                        values.append(float(row[1]))
                    except ValueError:
                        pass  # header line
    values.sort()
    return values


def read_stats(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        header, last = rows[0], rows[-1]
        return (int(last[header.index("SuccessfulCall(C)")]),
                int(last[header.index("FailedCall(C)")]))
    except (OSError, IndexError, ValueError):
        return 0, 0


def sipp_base(transport, port, contact_port):
    return ["sipp", "-i", it.LOOPBACK, "-p", str(port), "-t", "u1" if transport == "udp" else "t1",
            "-nostdin", "-key", "domain", it.DOMAIN, "-key", "tp", transport.upper(),
            "-key", "ctp", "" if transport == "udp" else ";transport=" + transport,
            "-key", "cport", str(contact_port), "-key", "linger", str(LINGER_MS),
            "-max_socket", "1024",
            "-buff_size", str(4 << 20)]


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.ports = PortAllocator()
        self.results = {}  # (target, scenario) -> list of step dicts

    def run_target(self, target, binary):
        tdir = os.path.join(self.workdir, target)
        os.makedirs(tdir, exist_ok=True)
        proxy_dir = os.path.join(tdir, "proxy")
        os.makedirs(proxy_dir, exist_ok=True)
        if target == "kamailio":
            proxy = it.KamailioProxy(binary, proxy_dir, self.ports, self.args.transport, None,
                                     children=self.args.workers)
        else:
            pki_dir = os.path.join(tdir, "pki")
            os.makedirs(pki_dir, exist_ok=True)
            pki = it.make_test_pki(pki_dir)  # causeway's config always names its TLS files
            proxy = it.CausewayProxy(binary, proxy_dir, self.ports, self.args.transport, pki)
        try:
            proxy.start()
        except RuntimeError as e:
            print("%s: could not start: %s" % (target, e))
            return
        try:
            for scenario in self.args.scenarios:
                self.results[(target, scenario)] = self.run_scenario(target, scenario, proxy, tdir)
                if not proxy.alive():
                    print("%s: proxy died (exit %s), see %s" % (target, proxy.proc.returncode,
                                                              proxy.log_path))
                    break
        finally:
            proxy.stop()

    def run_scenario(self, target, scenario, proxy, tdir):
        uac_xml, uas_xml, extra = SCENARIOS[scenario]
        sdir = os.path.join(tdir, scenario)
        os.makedirs(sdir, exist_ok=True)
        callee = "bench_" + scenario
        uas_port = self.ports.get()
        uas_log = open(os.path.join(sdir, "uas.log"), "w")
        uas = subprocess.Popen(
            sipp_base(self.args.transport, uas_port, uas_port) +
            ["-sf", os.path.join(INTEGRATION, uas_xml), "-trace_err",
             "-error_file", os.path.join(sdir, "uas_err.log")],
            stdout=uas_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=sdir)
        steps = []
        try:
            if not wait_port_bound(uas_port, self.args.transport != "udp", uas):
                print("%s/%s: callee sipp did not start" % (target, scenario))
                return steps
            reg = subprocess.run(
                sipp_base(self.args.transport, self.ports.get(), uas_port) +
                ["-sf", os.path.join(INTEGRATION, "register.xml"), "%s:%d" % (it.LOOPBACK,
                                                                             proxy.port),
                 "-m", "1", "-timeout", "10s", "-timeout_error", "-key", "user", callee],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=sdir, timeout=30)
            if reg.returncode != 0:
                print("%s/%s: REGISTER failed (sipp exit %d)" % (target, scenario,
                                                                reg.returncode))
                return steps
            for rate in self.args.rates:
                if time.monotonic() > self.deadline:
                    print("%s/%s: time budget used up, stopping before %d/s"
                          % (target, scenario, rate))
                    break
                step = self.run_step(target, scenario, proxy, sdir, rate, callee, uac_xml, extra)
                steps.append(step)
                print(format_step(target, scenario, step), flush=True)
                if not step["ok"] or not proxy.alive():
                    break
                time.sleep(1.0)  # let transactions of the previous step expire a little
        finally:
            stop_process(uas)
            uas_log.close()
        return steps

    def run_step(self, target, scenario, proxy, sdir, rate, callee, uac_xml, extra):
        step_dir = os.path.join(sdir, "rate_%d" % rate)
        os.makedirs(step_dir, exist_ok=True)
        calls = int(rate * self.args.step_seconds)
        budget = self.args.step_seconds + 5  # time to finish the tail of the step
        port = self.ports.get()
        cmd = (sipp_base(self.args.transport, port, port) +
               ["-sf", os.path.join(INTEGRATION, uac_xml), "%s:%d" % (it.LOOPBACK, proxy.port),
                "-s", callee, "-key", "user", "bench_caller",
                "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(max(rate * 2, 100)),
                "-timeout", "%ds" % budget, "-trace_stat", "-stf",
                os.path.join(step_dir, "stat.csv"), "-fd", "1",
                "-trace_rtt", "-rtt_freq", "100", "-timer_resol", "1",
                "-trace_err", "-error_file", os.path.join(step_dir, "err.log")] + extra)
        with open(os.path.join(step_dir, "screen.log"), "w") as out:
            with Sampler(proxy.proc.pid) as sample:
                sipp = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=step_dir)
                sipp_ticks = 0
                try:
                    deadline = time.monotonic() + budget + 5
                    while sipp.poll() is None and time.monotonic() < deadline:
                        sipp_ticks = max(sipp_ticks, cpu_ticks([sipp.pid]))
                        time.sleep(0.2)
                finally:
                    stop_process(sipp)
        ok_calls, failed = read_stats(os.path.join(step_dir, "stat.csv"))
        rtts = read_rtts(step_dir)
        wall = max(sample.elapsed, 1e-3)
        not_ok = calls - ok_calls  # failed, or still running when the budget ran out
        return {
            "rate": rate, "asked": calls, "ok_calls": ok_calls, "failed": failed,
            "fail_ratio": not_ok / calls,
            "p50": percentile(rtts, 50), "p99": percentile(rtts, 99),
            "proxy_cpu": sample.cpu_percent, "proxy_mb": sample.max_kb / 1024.0,
            "sipp_cpu": 100.0 * sipp_ticks / CLK_TCK / wall, "seconds": wall,
            "ok": not_ok / calls < MAX_FAILED_RATIO,
        }


def format_step(target, scenario, s):
    return ("%-9s %-8s %6d/s  ok %7d/%-7d not ok %5.2f%%  rtt p50 %7.2f ms p99 %7.2f ms  "
            "proxy cpu %5.0f%% mem %6.1f MB  sipp cpu %4.0f%%  %5.1fs  %s"
            % (target, scenario, s["rate"], s["ok_calls"], s["asked"], 100 * s["fail_ratio"],
               s["p50"], s["p99"], s["proxy_cpu"], s["proxy_mb"], s["sipp_cpu"], s["seconds"],
               "PASS" if s["ok"] else "FAIL"))


def max_sustained(steps):
    passing = [s for s in steps if s["ok"]]
    return max(passing, key=lambda s: s["rate"]) if passing else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--causeway", metavar="BINARY",
                        help="causeway binary (omit: Kamailio only)")
    parser.add_argument("--kamailio", metavar="BINARY", default="kamailio")
    parser.add_argument("--no-kamailio", action="store_true", help="benchmark causeway only")
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--rates", type=int, nargs="+", default=DEFAULT_RATES)
    parser.add_argument("--step-seconds", type=float, default=5.0,
                        help="offered load per step (calls = rate * this), default 5")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="proxy worker count (Kamailio -n, causeway workers)")
    parser.add_argument("--budget-seconds", type=float, default=280.0,
                        help="stop stepping up once the whole run has used this much time")
    parser.add_argument("--keep", metavar="DIR", help="keep sipp/proxy logs in DIR")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)")
        return 1

    targets = []
    if not args.no_kamailio:
        targets.append(("kamailio", args.kamailio))
    if args.causeway:
        targets.append(("causeway", os.path.abspath(args.causeway)))
    if not targets:
        parser.error("nothing to benchmark")

    workdir = args.keep or tempfile.mkdtemp(prefix="causeway-bench-")
    os.makedirs(workdir, exist_ok=True)
    bench = Bench(args, workdir)
    start = time.monotonic()
    # Split the time budget evenly so the second target gets the same chance as the first.
    for i, (target, binary) in enumerate(targets):
        share = (args.budget_seconds - (time.monotonic() - start)) / (len(targets) - i)
        bench.deadline = time.monotonic() + share
        bench.run_target(target, binary)

    print()
    print("%-8s  %-30s  %-30s  %s" % ("scenario", "kamailio max sustained",
                                      "causeway max sustained", "causeway/kamailio"))
    for scenario in args.scenarios:
        cells, rates = [], {}
        for target in ("kamailio", "causeway"):
            steps = bench.results.get((target, scenario))
            best = max_sustained(steps) if steps else None
            if steps is None:
                cells.append("-")
            elif best is None:
                cells.append("< %d/s" % args.rates[0])
            else:
                rates[target] = best["rate"]
                capped = "" if best is not steps[-1] else "+"  # never failed: limit not reached
                cells.append("%d/s%s p50 %.2f p99 %.2f ms" % (best["rate"], capped, best["p50"],
                                                              best["p99"]))
        ratio = ("%.2f" % (rates["causeway"] / rates["kamailio"])
                 if "causeway" in rates and "kamailio" in rates else "-")
        print("%-8s  %-30s  %-30s  %s" % (scenario, cells[0], cells[1], ratio))
    print("(+ = passed the highest rate tried; the limit may be sipp or the 2 shared cores)")
    print("total %.0fs%s" % (time.monotonic() - start, ", logs in " + workdir if args.keep else ""))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
