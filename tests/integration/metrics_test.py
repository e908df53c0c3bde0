#!/usr/bin/python3
"""The metrics endpoint of the real causeway binary.

Starts causeway on its embedded defaults (no --config) in a temporary working directory, so SIP
listens on 127.0.0.1:5060 (UDP/TCP) and 5061 (TLS) and metrics on 127.0.0.1:9464, then:
  1. GET /metrics -> 200, text format 0.0.4, the families an operator expects;
  2. one SIP OPTIONS over UDP -> 200, and the next scrape shows the received-messages, OPTIONS
     and UDP datagram counters grown by it;
  3. /health and /ready 200, an unknown path 404, POST 405, garbage 400;
  4. a second daemon (other SIP ports) on the same metrics port exits 1 with one line naming
     the port; with [metrics] listen = "" it starts;
  5. SIGTERM -> exit 0.
Every process started is stopped by its PID. Exit 77 (skipped) when another process holds one of
the default ports already.

  metrics_test.py --causeway build/release/gateway/causeway
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import processes

METRICS = (processes.LOOPBACK, 9464)
SIP = (processes.LOOPBACK, 5060)
START_TIMEOUT_S = 30  # the first start generates a certificate


class DefaultsDaemon:
    """causeway without --config, run in `workdir` (its state dir lands there), log there."""

    def __init__(self, binary, workdir):
        self.log_path = os.path.join(workdir, "causeway.log")
        with open(self.log_path, "w") as log:
            self.proc = processes.spawn([binary], death_signal=signal.SIGTERM, cwd=workdir,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def log(self):
        return processes.read_text(self.log_path)

    def wait_started(self):
        processes.wait_until(lambda: "msg=started" in self.log() or self.proc.poll() is not None,
                             START_TIMEOUT_S, 0.1)
        return "msg=started" in self.log()

    def stop(self):
        return processes.stop_process(self.proc, grace_s=15.0)


def http(method, path, data=None):
    """(status, content type, body) of one request to the metrics endpoint."""
    req = urllib.request.Request("http://%s:%d%s" % (METRICS + (path,)), data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def raw_http(data):
    with socket.create_connection(METRICS, timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return b"".join(chunks).decode("latin-1")
            chunks.append(chunk)


def total(text, family):
    """Sum of a family's samples in exposition text; None when it has none."""
    pattern = re.compile(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(family), re.M)
    values = [float(v) for v in pattern.findall(text)]
    return sum(values) if values else None


def sip_options():
    """One OPTIONS over UDP to the daemon; the status line of its answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    port = s.getsockname()[1]
    try:
        for attempt in range(5):  # UDP: retry like a UA would
            msg = ("OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKmetricsit%d\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: <sip:probe@127.0.0.1>;tag=it\r\n"
                   "To: <sip:127.0.0.1:5060>\r\n"
                   "Call-ID: metrics-it@127.0.0.1\r\n"
                   "CSeq: 1 OPTIONS\r\n"
                   "Content-Length: 0\r\n\r\n" % (port, attempt))
            s.sendto(msg.encode(), SIP)
            try:
                data, _ = s.recvfrom(65535)
                return data.decode("latin-1").split("\r\n", 1)[0], attempt + 1
            except socket.timeout:
                continue
        return None, 5
    finally:
        s.close()


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": " + detail) if detail and not ok else ""))
        if not ok:
            self.failed += 1
        return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--causeway", required=True, help="the causeway binary")
    args = parser.parse_args()
    binary = os.path.abspath(args.causeway)

    for port, tcp in ((SIP[1], False), (SIP[1], True), (5061, True), (METRICS[1], True)):
        if processes.port_in_use(port, tcp):
            print("skipped: %s port %d is held by another process" % ("TCP" if tcp else "UDP", port))
            return 77

    c = Checks()
    root = tempfile.mkdtemp(prefix="causeway-metrics-")
    daemons = []
    try:
        first_dir = os.path.join(root, "first")
        os.mkdir(first_dir)
        first = DefaultsDaemon(binary, first_dir)
        daemons.append(first)
        if not c.check(first.wait_started(), "daemon started on embedded defaults", first.log()):
            return 1
        c.check("http:127.0.0.1:9464" in first.log(), "startup line lists the metrics listener",
                first.log())

        status, ctype, before = http("GET", "/metrics")
        c.check(status == 200, "GET /metrics -> 200", str(status))
        c.check(ctype.startswith("text/plain; version=0.0.4"), "content type text format 0.0.4",
                ctype)
        for family in ("causeway_build_info", "process_start_time_seconds",
                       "causeway_sip_messages_received_total", "causeway_sip_options_answered_total",
                       "causeway_sip_registered_bindings", "causeway_metrics_workers_unanswered"):
            c.check(total(before, family) is not None, "family %s present" % family)
        c.check("# TYPE causeway_sip_messages_received_total counter" in before, "TYPE line")
        c.check(total(before, "causeway_metrics_workers_unanswered") == 0, "every worker answered")

        status_line, tries = sip_options()
        c.check(status_line == "SIP/2.0 200 OK", "OPTIONS over UDP -> 200", str(status_line))
        _, _, after = http("GET", "/metrics")
        for family in ("causeway_sip_messages_received_total", "causeway_sip_options_answered_total",
                       "causeway_sip_udp_datagrams_received_total"):
            grown = (total(after, family) or 0) - (total(before, family) or 0)
            c.check(1 <= grown <= tries, "%s grew by the OPTIONS sent" % family,
                    "grew by %s, sent %d" % (grown, tries))

        c.check(http("GET", "/health")[0] == 200, "GET /health -> 200")
        c.check(http("GET", "/ready")[0] == 200, "GET /ready -> 200")
        c.check(http("GET", "/nope")[0] == 404, "GET /nope -> 404")
        c.check(http("POST", "/metrics", data=b"x")[0] == 405, "POST /metrics -> 405")
        garbage = raw_http(b"\x16\x03\x01\x00\x05hello")
        c.check(garbage.startswith("HTTP/1.1 400 "), "garbage -> 400 and closed", garbage[:40])
        oversized = raw_http(b"GET /metrics HTTP/1.1\r\n" + b"X-Filler: aaaaaaaaaa\r\n" * 500
                             + b"\r\n")
        c.check(oversized.startswith("HTTP/1.1 431 "), "10 KiB head -> 431 and closed",
                oversized[:40])

        # A second daemon with SIP ports of its own: the metrics port is the one in use. Then the
        # same with [metrics] listen = "".
        ports = processes.PortAllocator()
        sip_port, tls_port = ports.get(), ports.get()
        for name, metrics_section in (("busy", '[metrics]\nlisten = "127.0.0.1:9464"\n'),
                                      ("off", '[metrics]\nlisten = ""\n')):
            second = processes.Causeway(
                binary, os.path.join(root, name),
                '[sip]\nudp = ["127.0.0.1:%d"]\ntcp = ["127.0.0.1:%d"]\ntls = ["127.0.0.1:%d"]\n%s'
                % (sip_port, sip_port, tls_port, metrics_section), log_level="info",
                start_timeout_s=START_TIMEOUT_S)
            daemons.append(second)
            try:
                second.start()
                started = True
            except RuntimeError:
                started = False
            if name == "busy":
                rc = second.proc.returncode
                out = second.log()
                expected = "causeway: metrics: HTTP 127.0.0.1:9464: address already in use"
                errors = [line for line in out.splitlines() if line.startswith("causeway:")]
                c.check(not started and rc == 1, "second daemon on the same metrics port exits 1",
                        "rc=%s" % rc)
                c.check(errors == [expected], "one line naming the metrics port", out[-300:])
            else:
                c.check(started, "with [metrics] listen = \"\" it starts", second.log()[-300:])
                c.check("http:" not in second.log(), "and lists no metrics listener")
                c.check(second.stop() == 0, "and stops with 0")

        c.check(first.stop() == 0, "SIGTERM -> exit 0", first.log()[-300:])
    finally:
        for d in daemons:
            d.stop()
        if c.failed == 0:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("logs kept in %s" % root)
    print("%d failed" % c.failed)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
