#!/usr/bin/python3
"""Lync front end load: sign-in storm and presence fan-out, causeway next to Kamailio.

For each target (Kamailio with its registrar + presence modules,
bench/kamailio/kamailio-presence.cfg; causeway's Lync front end when --causeway is given), on a
fresh server each time:

  fan-out   the presentity registers; N watchers each REGISTER (Digest) and SUBSCRIBE to its
            presence (causeway: Lync batched SUBSCRIBE, Kamailio: RFC 3856); the server's memory
            (PSS of its process tree) is read before and after, giving bytes per registered
            endpoint with its subscription; then the presentity publishes once (causeway: SERVICE
            category publish, Kamailio: RFC 3903 PUBLISH) and every watcher logs when its
            (BE)NOTIFY arrived: fan-out time = last arrival - publish send time.
  sign-in   S users sign in as fast as the server answers, at most --concurrency at a time
            (causeway: REGISTER 401/Digest, provisioning-v2 SUBSCRIBE 407/Digest, SERVICE state
            publish; Kamailio: REGISTER 401/Digest, presence fetch SUBSCRIBE 407/Digest + NOTIFY,
            PUBLISH): sign-ins/s = completed sign-ins / wall time.

Prints one line per phase and a final table with both targets and the causeway/kamailio ratios
against the targets of the issue (>= 1.5x Kamailio's sign-in rate, fan-out of 10,000 watchers
in under 1 s, < 4 KiB per registered endpoint).

  bench/lync_load/run.py --causeway build/h-bench/gateway/causeway --quick   # < 2 min
  bench/lync_load/run.py --causeway build/h-bench/gateway/causeway           # 10,000 watchers

Everything runs on 127.0.0.1 on free ports; every process is stopped by PID; every wait is
bounded. Uses the launchers of tests/integration/run_sipp_tests.py, the ports and process
control of tests/integration/processes.py and the /proc accounting of bench/sip_load/run.py.
"""

import argparse
import concurrent.futures
import importlib.util
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import run_sipp_tests as it  # noqa: E402  (proxy launcher base)
from processes import PortAllocator, stop_process  # noqa: E402

# bench/sip_load/run.py: /proc accounting, percentiles, sipp stats (loaded by path: same file name)
_spec = importlib.util.spec_from_file_location(
    "sip_load_run", os.path.join(REPO, "bench", "sip_load", "run.py"))
sip_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sip_load)

DOMAIN = "example.test"
PRESENTITY = "pres"
KAMAILIO_CFG = os.path.join(REPO, "bench", "kamailio", "kamailio-presence.cfg")
KAMAILIO_SQL = "/usr/share/kamailio/db_sqlite"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIPP_TIMEOUT_S = 300  # hard bound on any one sipp process

# Lync state publications: the machine state an endpoint publishes when it signs in, and the
# user state ("busy", manual) the presentity sets; Kamailio gets the PIDF equivalents.
SIGNIN_KEYS = {
    "causeway": ["-key", "state_instance", "1", "-key", "expire_type", "endpoint",
                 "-key", "manual", "false", "-key", "state_type", "machineState",
                 "-key", "availability", "3500"],
    "kamailio": ["-key", "note", "online"],
}
PUBLISH_KEYS = {
    # A new instance each run: a directory reused from an earlier run (--causeway-db) already
    # holds the earlier one at version 0, which a second version-0 publish would conflict with.
    "causeway": ["-key", "state_instance", str(random.randint(1 << 20, (1 << 31) - 1)),
                 "-key", "expire_type", "user",
                 "-key", "manual", "true", "-key", "state_type", "userState",
                 "-key", "availability", "6500"],
    "kamailio": ["-key", "note", "busy"],
}


def user_name(i):
    return "u%d" % i


def password(name):
    return "pw-" + name


# ---------------------------------------------------------------------------------------------
# Servers

class CausewayServer(it.Proxy):
    """causeway with its SQLite directory in workdir/state; users added with `causeway user add`."""

    def __init__(self, binary, workdir, ports, transport, workers):
        super().__init__(workdir, ports, transport, None)
        self.binary = binary
        self.workers = workers
        self.state_dir = os.path.join(workdir, "state")
        self.config = os.path.join(workdir, "causeway.toml")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        with open(self.config, "w") as f:
            f.write('[general]\nstate_dir = "%s"\nworkers = %d\n\n' % (self.state_dir, workers))
            # MD5 only, like Kamailio: sipp 3.6 reads the first challenge and cannot do SHA-256.
            f.write('[sip]\nudp = ["%s:%d"]\ntcp = ["%s:%d"]\ntls = []\ndomains = ["%s"]\n'
                    'digest_algorithms = ["MD5"]\n'
                    % (it.LOOPBACK, self.port, it.LOOPBACK, self.port, DOMAIN))

    def command(self):
        return [self.binary, "--config", self.config]

    def add_users(self, names, jobs):
        """`causeway user add` per user, `jobs` at a time. Returns (seconds, failures)."""
        def add(name):
            r = subprocess.run([self.binary, "--config", self.config, "user", "add",
                                "sip:%s@%s" % (name, DOMAIN), "--password", password(name)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            return r.returncode == 0
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            failures = sum(1 for ok in pool.map(add, names) if not ok)
        return time.monotonic() - t0, failures


class KamailioServer(it.Proxy):
    """Kamailio registrar + presence (kamailio-presence.cfg), users in SQLite `subscriber`."""

    def __init__(self, binary, workdir, ports, transport, workers):
        super().__init__(workdir, ports, transport, None)
        self.binary = binary
        self.workers = workers
        self.db = os.path.join(workdir, "kamailio.db")

    def add_users(self, names, jobs):
        del jobs
        t0 = time.monotonic()
        if os.path.exists(self.db):
            os.unlink(self.db)
        db = sqlite3.connect(self.db)
        for f in ("standard", "auth_db", "presence"):
            with open(os.path.join(KAMAILIO_SQL, f + "-create.sql")) as sql:
                db.executescript(sql.read())
        db.executemany("INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
                       [(n, DOMAIN, password(n)) for n in names])
        db.commit()
        db.close()
        return time.monotonic() - t0, 0

    def command(self):
        rundir = os.path.join(self.workdir, "kamailio-run")
        os.makedirs(rundir, exist_ok=True)
        transport = "tcp"
        return [self.binary, "-f", KAMAILIO_CFG, "-DD", "-E", "-Y", rundir,
                "-P", os.path.join(rundir, "kamailio.pid"), "-n", str(self.workers),
                "-m", "1024", "-M", "16",  # 256 MB of shm runs out at ~6,000 sign-ins
                "-l", "udp:%s:%d" % (it.LOOPBACK, self.port),
                "-l", "tcp:%s:%d" % (it.LOOPBACK, self.port),
                "-A", 'TEST_DOMAIN="%s"' % DOMAIN,
                "-A", 'DBURL="sqlite://%s"' % self.db,
                "-A", 'SERVER_ADDRESS="sip:%s:%d;transport=%s"' % (it.LOOPBACK, self.port,
                                                                    transport)]


# ---------------------------------------------------------------------------------------------
# sipp

class Sipp:
    """One sipp client process over an injection file of users, bounded by -m and -timeout."""

    def __init__(self, bench, directory, name, scenario, server, users, extra, lab):
        self.name = name
        self.dir = directory
        self.log_path = os.path.join(directory, name + "_logs.log")
        self.stat_path = os.path.join(directory, name + "_stat.csv")
        inf = os.path.join(directory, name + "_users.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for n in users:
                # field1: the credentials keyword, or a harmless header in lab mode (causeway
                # with an empty directory answers without challenges).
                cred = ("X-Lab: no-auth" if lab else
                        "[authentication username=%s password=%s]" % (n, password(n)))
                f.write("%s;%s\n" % (n, cred))
        tcp = True
        cmd = ["sipp", "-sf", os.path.join(HERE, scenario), "%s:%d" % (it.LOOPBACK, bench.remote),
               "-i", it.LOOPBACK, "-p", str(bench.ports.get()), "-t", "t1" if tcp else "u1",
               "-inf", inf, "-m", str(len(users)), "-nostdin",
               "-key", "domain", DOMAIN, "-key", "ctp", ";transport=tcp" if tcp else "",
               "-key", "presentity", PRESENTITY,
               "-timeout", "%ds" % SIPP_TIMEOUT_S, "-timeout_error",
               "-max_socket", "1024", "-buff_size", str(4 << 20),
               "-trace_err", "-error_file", os.path.join(directory, name + "_err.log"),
               "-trace_logs", "-log_file", self.log_path,
               "-trace_stat", "-stf", self.stat_path, "-fd", "1"] + list(extra)
        self.out = open(os.path.join(directory, name + "_screen.log"), "w")
        self.out.write("# " + " ".join(cmd) + "\n")
        self.out.flush()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=directory)

    def lines(self, prefix):
        try:
            with open(self.log_path) as f:
                return [line.split() for line in f if line.startswith(prefix)]
        except OSError:
            return []

    def wait_lines(self, prefix, count, timeout_s):
        """Waits until `count` log lines start with `prefix` (or sipp exits / time runs out)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = len(self.lines(prefix))
            if n >= count or self.proc.poll() is not None:
                return n
            time.sleep(0.2)
        return len(self.lines(prefix))

    def wait(self, timeout_s):
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self.stop()
        return time.monotonic() - self.t0

    def stop(self):
        stop_process(self.proc)
        if not self.out.closed:
            self.out.close()

    def stats(self):
        return sip_load.read_stats(self.stat_path)


def times_of(rows):
    """`<word> SEC USEC` log lines (sipp prints its doubles as 123.000000) -> epoch seconds."""
    out = []
    for row in rows:
        try:
            out.append(float(row[1]) + float(row[2]) / 1e6)
        except (IndexError, ValueError):
            pass
    return out


# ---------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.ports = PortAllocator()
        self.results = {}  # target -> dict

    def make_server(self, target, binary, phase):
        d = os.path.join(self.workdir, target, phase)
        os.makedirs(d, exist_ok=True)
        cls = KamailioServer if target == "kamailio" else CausewayServer
        return cls(binary, d, self.ports, "tcp", self.args.workers), d

    def prepare_users(self, target, server, names):
        lab = target == "causeway" and self.args.lab
        if lab:
            return True
        if target == "causeway" and self.args.causeway_db:
            # A directory made by an earlier run's `causeway user add` (same names, passwords).
            shutil.copy(self.args.causeway_db, os.path.join(server.state_dir, "causeway.db"))
            print("%-9s users: copied from %s" % (target, self.args.causeway_db), flush=True)
            return True
        seconds, failures = server.add_users(names, self.args.user_jobs)
        how = ("causeway user add, %d in parallel" % self.args.user_jobs
               if target == "causeway" else "SQLite subscriber table")
        print("%-9s users: %d in %.1fs (%.0f/s, %s)%s" % (
            target, len(names), seconds, len(names) / max(seconds, 1e-3), how,
            ", %d FAILED" % failures if failures else ""), flush=True)
        self.results.setdefault(target, {})["user_add_per_s"] = len(names) / max(seconds, 1e-3)
        return failures == 0

    def run_target(self, target, binary):
        res = self.results.setdefault(target, {})
        names = [user_name(i) for i in range(max(self.args.signins, self.args.watchers))]
        names.append(PRESENTITY)
        # One directory for both phases: the second server copies it (no second `user add`).
        server, d = self.make_server(target, binary, "fanout")
        if not self.prepare_users(target, server, names):
            print("%s: could not create the users" % target)
            return
        res["fanout"] = self.fanout(target, server, d)
        server2, d2 = self.make_server(target, binary, "signin")
        if isinstance(server, CausewayServer):
            shutil.copy(os.path.join(server.state_dir, "causeway.db"), server2.state_dir)
        else:
            shutil.copy(server.db, server2.db)
        res["signin"] = self.signin(target, server2, d2)

    def start(self, target, server):
        try:
            server.start()
        except RuntimeError as e:
            print("%s: could not start: %s" % (target, e))
            return False
        self.remote = server.port
        time.sleep(0.5)
        return True

    def stop(self, server):
        server.stop()

    def fanout(self, target, server, d):
        n = self.args.watchers
        lab = target == "causeway" and self.args.lab
        if not self.start(target, server):
            return None
        hold = None
        watchers = []
        try:
            hold = Sipp(self, d, "presentity", "register_hold.xml", server, [PRESENTITY], [], lab)
            if hold.wait_lines("registered", 1, 20) < 1:
                print("%s fan-out: the presentity did not register, see %s%s"
                      % (target, d, " (a causeway without Digest? --lab runs it without "
                                    "authentication)" if target == "causeway" else ""))
                return None
            time.sleep(1.0)
            pids = sip_load.process_tree(server.proc.pid)
            mem0 = sip_load.memory_kb(pids)
            rss0 = rss_kb(server.proc.pid)
            scenario = "watcher_%s.xml" % target
            # Watchers are spread over several sipp processes, one TCP connection each (a real
            # client has its own; one connection for all would hit causeway's per-connection
            # write queue, sip/io max_queued_messages = 512, and drop the rest of the burst).
            per = max(1, self.args.watchers_per_connection)
            groups = [list(range(i, min(i + per, n))) for i in range(0, n, per)]
            rate = max(1, self.args.watcher_rate // len(groups))
            for k, group in enumerate(groups):
                watchers.append(Sipp(self, d, "watchers%03d" % k, scenario, server,
                                     [user_name(i) for i in group],
                                     ["-r", str(rate), "-rp", "1000", "-l", str(len(group) + 10)],
                                     lab))
            t0 = time.monotonic()
            deadline = t0 + n / self.args.watcher_rate + 60
            subscribed = 0
            while time.monotonic() < deadline:
                subscribed = sum(len(w.lines("subscribed")) for w in watchers)
                if subscribed >= n or any(w.proc.poll() is not None for w in watchers):
                    break
                time.sleep(0.5)
            setup_s = time.monotonic() - t0
            if subscribed < n:
                print("%s fan-out: only %d/%d watchers subscribed within %.0fs, see %s"
                      % (target, subscribed, n, setup_s, d))
                return None
            time.sleep(1.0)  # let the last answers leave and allocations settle
            pids = sip_load.process_tree(server.proc.pid)
            mem1 = sip_load.memory_kb(pids)
            rss1 = rss_kb(server.proc.pid)
            ticks0 = sip_load.cpu_ticks(pids)
            pub = Sipp(self, d, "publisher", "publish_%s.xml" % target, server, [PRESENTITY],
                       PUBLISH_KEYS[target], lab)
            pub.wait(30)
            end = time.monotonic() + self.args.fanout_wait
            for w in watchers:
                w.wait(max(0.1, end - time.monotonic()))
            cpu_s = (sip_load.cpu_ticks(pids) - ticks0) / CLK_TCK
            published = times_of(pub.lines("published"))
            notified = []
            for w in watchers:
                notified += times_of(w.lines("notified"))
            missed = n - len(notified)
            if not published or not notified:
                print("%s fan-out: publish %s, %d notifications, see %s"
                      % (target, "sent" if published else "NOT sent", len(notified), d))
                return None
            start = published[-1]
            seconds = max(notified) - start
            notified.sort()
            r = {
                "watchers": n, "notified": len(notified), "missed": missed,
                "seconds": seconds, "per_s": len(notified) / max(seconds, 1e-6),
                "p50": notified[len(notified) // 2] - start,
                "setup_s": setup_s, "mem_before_mb": mem0 / 1024.0, "mem_after_mb": mem1 / 1024.0,
                "bytes_per_endpoint": (mem1 - mem0) * 1024.0 / n,
                "rss_bytes_per_endpoint": (rss1 - rss0) * 1024.0 / n,
                "server_cpu_s": cpu_s,
            }
            rss = ("; RSS of the process %.0f B/endpoint" % r["rss_bytes_per_endpoint"]
                   if target == "causeway" else "")  # Kamailio's memory is in its children
            print("%-9s fan-out: %d watchers subscribed in %.1fs; memory %.1f -> %.1f MB PSS "
                  "(%.0f B/endpoint%s); one publish -> %d/%d notified in %.3fs (half by %.3fs), "
                  "%.0f notifications/s, %d missed, server cpu %.2fs"
                  % (target, n, setup_s, r["mem_before_mb"], r["mem_after_mb"],
                     r["bytes_per_endpoint"], rss, len(notified), n, seconds, r["p50"],
                     r["per_s"], missed, cpu_s), flush=True)
            return r
        finally:
            for p in watchers + [hold]:
                if p is not None:
                    p.stop()
            self.stop(server)

    def signin(self, target, server, d):
        n = self.args.signins
        lab = target == "causeway" and self.args.lab
        if not self.start(target, server):
            return None
        try:
            pids = sip_load.process_tree(server.proc.pid)
            ticks0 = sip_load.cpu_ticks(pids)
            procs = max(1, self.args.signin_connections)
            users = [user_name(i) for i in range(n)]
            t0 = time.monotonic()
            sipps = [Sipp(self, d, "signin%02d" % k, "signin_%s.xml" % target, server,
                          users[k::procs],
                          SIGNIN_KEYS[target] + [
                              "-r", str(max(1, self.args.signin_rate // procs)), "-rp", "1000",
                              "-l", str(max(1, self.args.concurrency // procs)),
                              "-trace_rtt", "-rtt_freq", "100"], lab)
                     for k in range(procs)]
            sipp_ticks = {}
            deadline = time.monotonic() + SIPP_TIMEOUT_S + 10
            while (any(x.proc.poll() is None for x in sipps) and time.monotonic() < deadline):
                for x in sipps:
                    sipp_ticks[x] = max(sipp_ticks.get(x, 0), sip_load.cpu_ticks([x.proc.pid]))
                time.sleep(0.2)
            for x in sipps:
                x.wait(1)
            seconds = time.monotonic() - t0
            cpu_s = (sip_load.cpu_ticks(pids) - ticks0) / CLK_TCK
            ok = failed = 0
            for x in sipps:
                a, b = x.stats()
                ok += a
                failed += b
            sipp_ticks = sum(sipp_ticks.values())
            rtts = sip_load.read_rtts(d)
            r = {
                "signins": n, "ok": ok, "failed": failed, "seconds": seconds,
                "per_s": ok / max(seconds, 1e-3),
                "p50": sip_load.percentile(rtts, 50), "p99": sip_load.percentile(rtts, 99),
                "server_cpu": 100.0 * cpu_s / max(seconds, 1e-3),
                # CPU the server spent per completed sign-in: its capacity when the load
                # generator, not the server, limits the rate (server cpu well under 100% x cores)
                "cpu_us": 1e6 * cpu_s / max(ok, 1),
                "sipp_cpu": 100.0 * sipp_ticks / CLK_TCK / max(seconds, 1e-3),
            }
            print("%-9s sign-in: %d/%d ok (%d failed) in %.1fs = %.0f sign-ins/s, p50 %.0f ms "
                  "p99 %.0f ms, server cpu %.0f%% (%.0f us per sign-in), sipp cpu %.0f%%"
                  % (target, ok, n, failed, seconds, r["per_s"], r["p50"], r["p99"],
                     r["server_cpu"], r["cpu_us"], r["sipp_cpu"]), flush=True)
            if ok == 0:
                print("%s sign-in: nothing completed, see %s" % (target, d))
            return r
        finally:
            self.stop(server)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def summary(bench, args):
    k = bench.results.get("kamailio", {})
    c = bench.results.get("causeway", {})

    def cell(r, phase, fmt, key):
        v = (r.get(phase) or {}).get(key)
        return fmt % v if v is not None else "-"

    def ratio(phase, key, higher_better=True):
        a = (c.get(phase) or {}).get(key)
        b = (k.get(phase) or {}).get(key)
        if not a or not b:
            return "-"
        if phase == "fanout" and key in ("seconds", "per_s") and any(
                (r.get("fanout") or {}).get("missed") for r in (c, k)):
            return "n/a"  # not the same work: some notifications never came
        return "%.2f" % (a / b if higher_better else b / a)

    rows = [
        ("sign-ins/s (%d users, %d at a time)" % (args.signins, args.concurrency),
         "signin", "%.0f", "per_s", True),
        ("sign-in p99 ms", "signin", "%.0f", "p99", False),
        ("server CPU per sign-in, us", "signin", "%.0f", "cpu_us", False),
        ("fan-out: last of %d notifications, s" % args.watchers, "fanout", "%.3f", "seconds",
         False),
        ("fan-out: notifications/s", "fanout", "%.0f", "per_s", True),
        ("fan-out: notified / watchers", "fanout", "%d", "notified", True),
        ("memory per endpoint + subscription, B", "fanout", "%.0f", "bytes_per_endpoint", False),
    ]
    print()
    print("%-42s %12s %12s %10s" % ("", "kamailio", "causeway", "advantage"))
    for label, phase, fmt, key, higher in rows:
        print("%-42s %12s %12s %10s" % (label, cell(k, phase, fmt, key), cell(c, phase, fmt, key),
                                        ratio(phase, key, higher)))
    print("(advantage = causeway/kamailio for rates, kamailio/causeway for times and memory: "
          "> 1 means causeway is better)")
    cs, cf = c.get("signin") or {}, c.get("fanout") or {}
    ks = k.get("signin") or {}
    if cs or cf:
        print()
        print("issue targets (causeway):")
        if cs and ks and ks.get("per_s"):
            x = cs["per_s"] / ks["per_s"]
            print("  sign-in rate >= 1.5x Kamailio's: %.2fx  %s" % (x, "MET" if x >= 1.5 else
                                                                     "NOT MET"))
            if cs.get("cpu_us") and ks.get("cpu_us"):
                print("    (server CPU per sign-in: Kamailio/causeway = %.2fx)"
                      % (ks["cpu_us"] / cs["cpu_us"]))
        if cf:
            full = cf["watchers"] >= 10000
            met = cf["seconds"] < 1.0 and cf["notified"] == cf["watchers"]
            print("  fan-out of 10,000 watchers < 1 s: %d watchers in %.3fs  %s" % (
                cf["watchers"], cf["seconds"],
                ("MET" if met else "NOT MET") if full else "(quick mode: not 10,000)"))
            b = cf["bytes_per_endpoint"]
            print("  < 4 KiB per registered endpoint with its subscriptions: %.0f B  %s" % (
                b, "MET" if b < 4096 else "NOT MET"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--causeway", metavar="BINARY",
                        help="causeway binary (omit: Kamailio only)")
    parser.add_argument("--kamailio", metavar="BINARY", default="kamailio")
    parser.add_argument("--no-kamailio", action="store_true", help="benchmark causeway only")
    parser.add_argument("--quick", action="store_true",
                        help="small N (1000 sign-ins, 500 watchers): under 2 minutes")
    parser.add_argument("--signins", type=int,
                        help="users in the sign-in storm (5000; quick 1000)")
    parser.add_argument("--watchers", type=int,
                        help="watchers of the presentity (10000; quick 500)")
    parser.add_argument("--concurrency", type=int, default=100,
                        help="sign-ins in progress at once (sipp -l), default 100")
    parser.add_argument("--signin-connections", type=int, default=1,
                        help="sipp processes (one TCP connection each) sharing the storm, "
                             "default 1")
    parser.add_argument("--signin-rate", type=int, default=20000,
                        help="sipp's call rate cap for the storm (sipp -r), default 20000/s")
    parser.add_argument("--watcher-rate", type=int, default=1000,
                        help="new watchers per second while subscribing, default 1000")
    parser.add_argument("--watchers-per-connection", type=int, default=400,
                        help="watchers sharing one sipp process and TCP connection, default 400")
    parser.add_argument("--fanout-wait", type=float, default=60.0,
                        help="seconds to wait for every notification, default 60")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="server workers (Kamailio -n, causeway [general] workers)")
    parser.add_argument("--user-jobs", type=int, default=2,
                        help="`causeway user add` processes at a time, default 2")
    parser.add_argument("--causeway-db", metavar="FILE",
                        help="causeway.db kept from an earlier run with at least as many users "
                             "(skips the `causeway user add` loop)")
    parser.add_argument("--lab", action="store_true",
                        help="causeway with an EMPTY directory: no Digest challenges, From is "
                             "trusted (for binaries without Digest); Kamailio still authenticates")
    parser.add_argument("--keep", metavar="DIR", help="keep sipp/server logs in DIR")
    args = parser.parse_args()
    if args.signins is None:
        args.signins = 1000 if args.quick else 5000
    if args.watchers is None:
        args.watchers = 500 if args.quick else 10000
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)")
        return 1

    targets = []
    if not args.no_kamailio:
        if not os.path.exists(os.path.join(KAMAILIO_SQL, "presence-create.sql")):
            print("Kamailio's SQLite schema is missing (Debian kamailio-sqlite-modules, "
                  "kamailio-presence-modules: scripts/setup.sh installs them)")
            return 1
        targets.append(("kamailio", args.kamailio))
    if args.causeway:
        targets.append(("causeway", os.path.abspath(args.causeway)))
    if not targets:
        parser.error("nothing to benchmark")

    workdir = args.keep or tempfile.mkdtemp(prefix="causeway-lync-load-")
    os.makedirs(workdir, exist_ok=True)
    print("%d sign-ins (%d at a time), %d watchers, TCP, %d workers, load average %s%s"
          % (args.signins, args.concurrency, args.watchers, args.workers, load_average(),
             ", causeway LAB MODE (no auth)" if args.lab else ""), flush=True)
    bench = Bench(args, workdir)
    start = time.monotonic()
    for target, binary in targets:
        bench.run_target(target, binary)
    summary(bench, args)
    print("total %.0fs, load average now %s%s" % (time.monotonic() - start, load_average(),
                                                  ", logs in " + workdir if args.keep else ""))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
