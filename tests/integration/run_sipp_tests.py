#!/usr/bin/python3
"""sipp integration tests for the causeway SIP proxy (or the Kamailio reference proxy).

Starts the proxy on free 127.0.0.1 ports, runs each case with sipp (bounded by -m counts and
-timeout), checks exit codes and call statistics, stops every process it started by PID, prints
one line per case and a final "N passed, N failed" line. Exit status 1 on any failure.

  run_sipp_tests.py --target causeway --binary build/h7/gateway/causeway --transport udp
  run_sipp_tests.py --target kamailio --transport tcp

Cases: 1 OPTIONS ping; 2 REGISTER alice+bob, MESSAGE alice->bob; 3 INVITE/180/200/ACK/BYE with
Record-Route honoured; 4 parallel forking to two contacts (loser gets CANCEL, answers 487);
5 (UDP only) the callee ignores the first MESSAGE/INVITE and answers the proxy's retransmission;
6 MESSAGE to a user with no binding gets 404 or 480 from the proxy itself; 7 Max-Forwards: 0 -> 483.

TLS: Debian's sipp is built without TLS, so for --transport tls each sipp talks plain TCP to an
in-process relay that carries the bytes over TLS (certificates from a throw-away test CA made
with the openssl CLI) to and from the proxy. Vias and Contacts say TLS / transport=tls and
Contacts name the relay's TLS port, so the proxy sees ordinary TLS user agents.
"""

import argparse
import csv
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # also when imported from bench/*/run.py
from processes import (LOOPBACK, PortAllocator, port_in_use, stop_process,  # noqa: E402
                       wait_port_bound)

REPO = os.path.dirname(os.path.dirname(HERE))
KAMAILIO_CFG = os.path.join(REPO, "bench", "kamailio", "kamailio.cfg")
KAMAILIO_TLS_MODULE_DIRS = [
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
]
DOMAIN = "causeway.test"

SIPP_TIMEOUT_S = 20  # per sipp instance; Timer B/F are 32 s so a stuck transaction fails here
PROXY_START_TIMEOUT_S = 15
MAX_RELAY_CONNECTIONS = 64


# ---------------------------------------------------------------------------------------------
# TLS: test CA and the TCP<->TLS relay

def make_test_pki(directory):
    """CA + one server/client certificate (SANs: the test domain, localhost, 127.0.0.1)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=causeway test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    paths = {"ca": os.path.join(directory, "ca.pem")}
    for name in ("proxy", "ua"):
        with open(os.path.join(directory, name + ".ext"), "w") as ext:
            ext.write("basicConstraints=CA:FALSE\n"
                      "keyUsage=digitalSignature,keyEncipherment\n"
                      "extendedKeyUsage=serverAuth,clientAuth\n"
                      "subjectAltName=DNS:%s,DNS:%s.%s,DNS:localhost,IP:127.0.0.1\n"
                      % (DOMAIN, name, DOMAIN, ))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=%s.%s" % (name, DOMAIN))
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")
        paths[name + "_cert"] = os.path.join(directory, name + ".pem")
        paths[name + "_key"] = os.path.join(directory, name + ".key")
    return paths


def _pump(a, b, stop):
    """Copies bytes both ways between two connected sockets until EOF, error or `stop`.
    One thread owns both sockets (an SSL object must not be used from two threads)."""
    socks = (a, b)
    pending = {a: bytearray(), b: bytearray()}  # bytes waiting to be written TO the key socket
    try:
        for s in socks:
            s.setblocking(False)
        while not stop.is_set():
            readable = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
            writable = [s for s in socks if pending[s]]
            if not readable:
                readable, writable, _ = select.select(socks, writable, [], 0.2)
            for s in readable:
                other = b if s is a else a
                if len(pending[other]) > (1 << 20):
                    continue  # bounded buffering: let the slow side drain first
                try:
                    data = s.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    continue
                if not data:
                    return
                pending[other] += data
            for s in socks:
                if pending[s]:
                    try:
                        sent = s.send(pending[s])
                        del pending[s][:sent]
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                        pass
    except (OSError, ValueError):
        return
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class TlsRelay:
    """Listens on a loopback port and bridges each accepted connection to `target`.

    mode "to_tls": accepts plain TCP (a sipp client) and connects with TLS to the proxy.
    mode "from_tls": accepts TLS (the proxy calling a registered contact) and connects plain TCP
    to a sipp UAS.
    """

    def __init__(self, mode, listen_port, target_port, pki, stop):
        self.mode = mode
        self.listen_port = listen_port
        self.target_port = target_port
        self.stop = stop
        self.errors = []
        if mode == "to_tls":
            self.ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki["ca"])
            self.ctx.check_hostname = False  # the proxy cert is checked against the CA only
        else:
            self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(pki["ua_cert"], pki["ua_key"])
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, listen_port))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.connections = 0
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self.connections >= MAX_RELAY_CONNECTIONS:
                conn.close()
                continue
            self.connections += 1
            threading.Thread(target=self._bridge, args=(conn,), daemon=True).start()
        self.listener.close()

    def _bridge(self, conn):
        try:
            conn.settimeout(5)
            if self.mode == "to_tls":
                raw = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
                upstream = self.ctx.wrap_socket(raw, server_hostname=DOMAIN)
                downstream = conn
            else:
                downstream = self.ctx.wrap_socket(conn, server_side=True)
                upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
        except (OSError, ssl.SSLError) as e:
            self.errors.append("%s relay :%d -> :%d: %s" % (self.mode, self.listen_port,
                                                             self.target_port, e))
            conn.close()
            return
        _pump(downstream, upstream, self.stop)


# ---------------------------------------------------------------------------------------------
# Proxies under test

class Proxy:
    def __init__(self, workdir, ports, transport, pki):
        self.workdir = workdir
        self.port = ports.get()       # UDP and TCP
        self.tls_port = ports.get()
        self.transport = transport
        self.pki = pki
        self.proc = None
        self.log_path = os.path.join(workdir, "proxy.log")

    def sip_port(self):
        return self.tls_port if self.transport == "tls" else self.port

    def start(self):
        cmd = self.command()
        self.log = open(self.log_path, "w")
        self.log.write("# " + " ".join(cmd) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + PROXY_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited with %s at startup, see %s"
                                   % (self.proc.returncode, self.log_path))
            if self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError("proxy not listening after %ds, see %s"
                           % (PROXY_START_TIMEOUT_S, self.log_path))

    def _ready(self):
        port = self.sip_port() if self.transport != "udp" else self.port
        if self.transport == "udp":
            return port_in_use(port, tcp=False)
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return None
        rc = stop_process(self.proc, grace_s=15.0)  # causeway drains up to shutdown_timeout_s=10
        self.log.close()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class CausewayProxy(Proxy):
    def __init__(self, binary, *args):
        super().__init__(*args)
        self.binary = binary

    def command(self):
        state_dir = os.path.join(self.workdir, "state")
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        os.chmod(state_dir, 0o700)  # the daemon warns about group/other access
        config = os.path.join(self.workdir, "causeway.toml")
        tls = self.pki or {}
        with open(config, "w") as f:
            f.write('[general]\nstate_dir = "%s"\nworkers = 2\n\n' % state_dir)
            f.write('[sip]\nudp = ["%s:%d"]\ntcp = ["%s:%d"]\n'
                    % (LOOPBACK, self.port, LOOPBACK, self.port))
            if self.pki:
                f.write('tls = ["%s:%d"]\n' % (LOOPBACK, self.tls_port))
            f.write('domains = ["%s"]\n\n' % DOMAIN)
            f.write('[tls]\ncertificate = "%s"\nkey = "%s"\nca = "%s"\n'
                    % (tls.get("proxy_cert", ""), tls.get("proxy_key", ""), tls.get("ca", "")))
            # Off: their default ports (metrics 9464, relay 3478) would clash with a daemon of a
            # test running alongside.
            f.write('\n[metrics]\nlisten = ""\n\n[turn]\nudp = []\ntcp = []\n')
        return [self.binary, "--config", config]


def kamailio_has_tls():
    return any(os.path.exists(os.path.join(d, "tls.so")) for d in KAMAILIO_TLS_MODULE_DIRS)


class KamailioProxy(Proxy):
    def __init__(self, binary, *args, children=2):
        super().__init__(*args)
        self.binary = binary or "kamailio"
        self.children = children

    def command(self):
        rundir = os.path.join(self.workdir, "kamailio-run")
        os.makedirs(rundir, exist_ok=True)
        cmd = [self.binary, "-f", KAMAILIO_CFG, "-DD", "-E", "-Y", rundir,
               "-P", os.path.join(rundir, "kamailio.pid"), "-n", str(self.children),
               "-m", "256", "-M", "16",
               "-l", "udp:%s:%d" % (LOOPBACK, self.port), "-l", "tcp:%s:%d" % (LOOPBACK, self.port),
               "-A", 'TEST_DOMAIN="%s"' % DOMAIN]
        if self.pki:
            tls_cfg = os.path.join(rundir, "tls.cfg")
            with open(tls_cfg, "w") as f:
                f.write("[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                        "require_certificate = no\nprivate_key = %s\ncertificate = %s\n"
                        "ca_list = %s\n\n[client:default]\nmethod = TLSv1.2+\n"
                        "verify_certificate = no\nrequire_certificate = no\n"
                        % (self.pki["proxy_key"], self.pki["proxy_cert"], self.pki["ca"]))
            cmd += ["-l", "tls:%s:%d" % (LOOPBACK, self.tls_port), "-A", "WITH_TLS",
                    "-A", 'TLS_CONFIG="%s"' % tls_cfg]
        return cmd


# ---------------------------------------------------------------------------------------------
# sipp

class Sipp:
    """One sipp process: a client (remote given) or a server, bounded by -m and -timeout."""

    def __init__(self, ctx, name, scenario, *, port, remote_port=None, service=None, user=None,
                 calls=1, contact_port=None, extra=()):
        self.name = name
        self.ctx = ctx
        self.port = port
        self.calls = calls
        self.logbase = os.path.join(ctx.case_dir, name)
        self.stat_path = self.logbase + "_stat.csv"
        cmd = ["sipp", "-sf", os.path.join(HERE, scenario)]
        if remote_port is not None:
            cmd.append("%s:%d" % (LOOPBACK, remote_port))
        cmd += ["-i", LOOPBACK, "-p", str(port), "-m", str(calls),
                "-t", "u1" if ctx.transport == "udp" else "t1",
                "-timeout", "%ds" % SIPP_TIMEOUT_S, "-timeout_error", "-nostdin",
                "-max_socket", "64",
                "-key", "domain", DOMAIN, "-key", "tp", ctx.transport.upper(),
                "-key", "ctp", "" if ctx.transport == "udp" else ";transport=" + ctx.transport,
                "-key", "cport", str(contact_port or port), "-key", "linger", "0",
                "-trace_msg", "-message_file", self.logbase + "_msg.log",
                "-trace_err", "-error_file", self.logbase + "_err.log",
                "-trace_stat", "-stf", self.stat_path, "-fd", "1"]
        if service:
            cmd += ["-s", service]
        if user:
            cmd += ["-key", "user", user]
        cmd += list(extra)
        self.cmd = cmd
        self.out = open(self.logbase + "_screen.log", "w")
        self.out.write("# " + " ".join(cmd) + "\n")
        self.out.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=ctx.case_dir)
        ctx.processes.append(self)

    def wait(self, timeout_s=SIPP_TIMEOUT_S + 10):
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            self.out.close()
            return "%s: killed after %ds" % (self.name, timeout_s)
        self.out.close()
        return self.check()

    def stats(self):
        """(successful, failed) calls from the last line of the -trace_stat CSV."""
        try:
            with open(self.stat_path, newline="") as f:
                rows = list(csv.reader(f, delimiter=";"))
        except OSError:
            return None
        if len(rows) < 2:
            return None
        header, last = rows[0], rows[-1]
        try:
            return (int(last[header.index("SuccessfulCall(C)")]),
                    int(last[header.index("FailedCall(C)")]))
        except (ValueError, IndexError):
            return None

    def check(self):
        """None when the run is good, else a one-line reason."""
        rc = self.proc.returncode
        stats = self.stats()
        if rc != 0:
            reason = {1: "a call failed", 97: "internal exit", 99: "no call processed",
                      255: "fatal error"}.get(rc & 0xff if rc is not None else 255, "?")
            return "%s: sipp exit %s (%s)%s%s" % (self.name, rc, reason,
                                                 ", stats ok/failed=%s/%s" % stats if stats else "",
                                                 self._first_error())
        if stats is not None and (stats[0] != self.calls or stats[1] != 0):
            return "%s: %d successful, %d failed calls, expected %d" % (self.name, stats[0],
                                                                       stats[1], self.calls)
        return None

    def _first_error(self):
        path = self.logbase + "_err.log"
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("The following events"):
                        return " [" + line[:200] + "]"
        except OSError:
            pass
        return ""

    def kill(self):
        stop_process(self.proc)
        if not self.out.closed:
            self.out.close()


class CaseContext:
    def __init__(self, runner, name):
        self.runner = runner
        self.transport = runner.transport
        self.case_dir = os.path.join(runner.log_dir, "%s-%s" % (runner.transport, name))
        os.makedirs(self.case_dir, exist_ok=True)
        self.processes = []
        self.relays = []

    def port(self):
        return self.runner.ports.get()

    def proxy_port(self):
        """Where sipp clients send: the proxy, or for TLS a relay that carries it over TLS."""
        if self.transport != "tls":
            return self.runner.proxy.port
        relay = TlsRelay("to_tls", self.port(), self.runner.proxy.tls_port, self.runner.pki,
                         self.runner.stop_relays)
        self.relays.append(relay)
        return relay.listen_port

    def contact_port(self, sipp_port):
        """The port to register/advertise for a sipp listening on `sipp_port`."""
        if self.transport != "tls":
            return sipp_port
        relay = TlsRelay("from_tls", self.port(), sipp_port, self.runner.pki,
                         self.runner.stop_relays)
        self.relays.append(relay)
        return relay.listen_port

    def uas(self, name, scenario, calls=1, extra=()):
        port = self.port()
        contact = self.contact_port(port)
        s = Sipp(self, name, scenario, port=port, contact_port=contact, calls=calls, extra=extra)
        if not wait_port_bound(port, self.transport != "udp", s.proc):
            raise CaseFailure("%s: sipp UAS did not start%s" % (name, s._first_error()))
        s.contact = contact
        return s

    def client(self, name, scenario, *, user, service=None, contact_port=None, calls=1,
               extra=()):
        port = self.port()
        return Sipp(self, name, scenario, port=port, remote_port=self.proxy_port(),
                    user=user, service=service, calls=calls,
                    contact_port=contact_port or self.contact_port(port), extra=extra)

    def run_client(self, *args, **kwargs):
        s = self.client(*args, **kwargs)
        err = s.wait()
        if err:
            raise CaseFailure(err)
        return s

    def register(self, user, contact_port):
        self.run_client("register_" + user, "register.xml", user=user, contact_port=contact_port)

    def finish(self, servers):
        errors = [e for e in (s.wait() for s in servers) if e]
        if errors:
            raise CaseFailure("; ".join(errors))

    def cleanup(self):
        for s in self.processes:
            s.kill()


class CaseFailure(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Cases

def case_options(ctx):
    ctx.run_client("options", "options.xml", user="ping")


def case_message(ctx):
    alice, bob = "alice_msg", "bob_msg"
    bob_uas = ctx.uas("uas_" + bob, "message_uas.xml")
    ctx.register(alice, ctx.contact_port(ctx.port()))
    ctx.register(bob, bob_uas.contact)
    ctx.run_client("message_" + alice, "message_uac.xml", user=alice, service=bob)
    ctx.finish([bob_uas])


def case_call(ctx):
    alice, bob = "alice_call", "bob_call"
    bob_uas = ctx.uas("uas_" + bob, "invite_uas.xml")
    ctx.register(bob, bob_uas.contact)
    ctx.run_client("invite_" + alice, "invite_uac.xml", user=alice, service=bob,
                   extra=["-d", "200"])
    ctx.finish([bob_uas])


def case_fork(ctx):
    alice, bob = "alice_fork", "bob_fork"
    answer = ctx.uas("uas_%s_answer" % bob, "invite_uas.xml")
    cancelled = ctx.uas("uas_%s_cancelled" % bob, "fork_uas_cancel.xml")
    ctx.register(bob, cancelled.contact)
    ctx.register(bob, answer.contact)
    # The answering UAS replies at once; the other rings until the proxy CANCELs it.
    ctx.run_client("invite_" + alice, "invite_uac.xml", user=alice, service=bob,
                   extra=["-d", "200"])
    ctx.finish([answer, cancelled])


def case_unknown_user(ctx):
    ctx.run_client("message_unknown", "message_uac_unknown.xml", user="alice_unknown",
                   service="nobody_registered")


def case_max_forwards(ctx):
    ctx.run_client("message_maxfwd0", "message_uac_maxfwd0.xml", user="alice_mf",
                   service="bob_mf")


# Over UDP sipp swallows a copy of the last received message as a retransmission (it never
# matches the next <recv>); -nr turns that detection off (and sipp's own retransmissions, which
# loopback does not need), so the second <recv> sees the proxy's retransmission.
NO_RETRANS_DETECTION = ["-nr"]


def case_retrans_message(ctx):
    alice, bob = "alice_rtx", "bob_rtx"
    bob_uas = ctx.uas("uas_" + bob, "message_uas_retrans.xml", extra=NO_RETRANS_DETECTION)
    ctx.register(bob, bob_uas.contact)
    # The caller does not retransmit either: only the proxy's client transaction can.
    ctx.run_client("message_" + alice, "message_uac.xml", user=alice, service=bob,
                   extra=NO_RETRANS_DETECTION)
    ctx.finish([bob_uas])


def case_retrans_invite(ctx):
    alice, bob = "alice_rtxinv", "bob_rtxinv"
    bob_uas = ctx.uas("uas_" + bob, "invite_uas_retrans.xml", extra=NO_RETRANS_DETECTION)
    ctx.register(bob, bob_uas.contact)
    ctx.run_client("invite_" + alice, "invite_uac.xml", user=alice, service=bob,
                   extra=["-d", "200"] + NO_RETRANS_DETECTION)
    ctx.finish([bob_uas])


CASES = [
    ("1-options", case_options, None),
    ("2-register-message", case_message, None),
    ("3-call-record-route", case_call, None),
    ("4-fork-cancel", case_fork, None),
    ("5-retransmit-message", case_retrans_message, "udp"),
    ("5-retransmit-invite", case_retrans_invite, "udp"),
    ("6-unknown-user", case_unknown_user, None),
    ("7-max-forwards-0", case_max_forwards, None),
]


# ---------------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args):
        self.transport = args.transport
        self.log_dir = args.log_dir or tempfile.mkdtemp(prefix="causeway-sipp-")
        os.makedirs(self.log_dir, exist_ok=True)
        self.ports = PortAllocator()
        self.stop_relays = threading.Event()
        self.pki = None
        if self.transport == "tls" or (args.target == "causeway"):
            # causeway always gets a TLS listener with our CA so the config matches deployment.
            pki_dir = os.path.join(self.log_dir, "pki")
            os.makedirs(pki_dir, exist_ok=True)
            self.pki = make_test_pki(pki_dir)
        workdir = os.path.join(self.log_dir, "proxy")
        os.makedirs(workdir, exist_ok=True)
        if args.target == "causeway":
            self.proxy = CausewayProxy(args.binary, workdir, self.ports, self.transport, self.pki)
        else:
            self.proxy = KamailioProxy(args.binary, workdir, self.ports, self.transport,
                                       self.pki if self.transport == "tls" else None)

    def run(self, only, budget_s):
        passed = failed = 0
        deadline = time.monotonic() + budget_s
        try:
            self.proxy.start()
            for name, fn, transport_only in CASES:
                if only and not any(o in name for o in only):
                    continue
                if transport_only and transport_only != self.transport:
                    continue
                if time.monotonic() > deadline:
                    failed += 1
                    print("FAIL %s/%s: not run, the %ds budget is used up"
                          % (self.transport, name, budget_s), flush=True)
                    continue
                ctx = CaseContext(self, name)
                start = time.monotonic()
                error = None
                try:
                    fn(ctx)
                except CaseFailure as e:
                    error = str(e)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    error = "harness error: %s" % e
                finally:
                    ctx.cleanup()
                relay_errors = [e for r in ctx.relays for e in r.errors]
                if error and relay_errors:
                    error += " (relay: %s)" % "; ".join(relay_errors[:3])
                if not self.proxy.alive():
                    error = (error or "") + " proxy died (exit %s)" % self.proxy.proc.returncode
                took = time.monotonic() - start
                label = "%s/%s" % (self.transport, name)
                if error:
                    failed += 1
                    print("FAIL %-32s %5.1fs  %s  [logs: %s]" % (label, took, error, ctx.case_dir),
                          flush=True)
                else:
                    passed += 1
                    print("PASS %-32s %5.1fs" % (label, took), flush=True)
                if not self.proxy.alive():
                    break
        finally:
            self.stop_relays.set()
            rc = self.proxy.stop()
            if rc not in (0, -signal.SIGTERM, None):
                print("note: proxy exit status %s on SIGTERM (log: %s)" % (rc, self.proxy.log_path))
        return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=["causeway", "kamailio"], required=True)
    parser.add_argument("--binary", help="causeway or kamailio binary (kamailio: default in PATH)")
    parser.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    parser.add_argument("--log-dir", help="keep sipp/proxy logs here (default: temp dir, removed "
                        "when everything passes)")
    parser.add_argument("--case", action="append", help="run only cases whose name contains this")
    parser.add_argument("--budget-seconds", type=int, default=240,
                        help="start no new case after this long (ctest TIMEOUT is 300)")
    args = parser.parse_args()

    if args.target == "causeway" and not args.binary:
        parser.error("--binary is required for --target causeway")
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)")
        return 1
    if args.target == "kamailio" and args.transport == "tls" and not kamailio_has_tls():
        print("SKIP tls/*: kamailio tls.so not installed (package kamailio-tls-modules); "
              "kamailio runs UDP and TCP only")
        print("0 passed, 0 failed")
        return 0

    if args.binary:
        # The proxy runs with its work dir as cwd: a relative path must not depend on it.
        found = shutil.which(args.binary)
        if found is None:
            print("FAIL %s/startup: binary %s not found or not executable"
                  % (args.transport, args.binary))
            print("0 passed, 1 failed")
            return 1
        args.binary = os.path.abspath(found)

    keep = args.log_dir is not None
    runner = Runner(args)
    try:
        passed, failed = runner.run(args.case, args.budget_seconds)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print("FAIL %s/startup: %s" % (args.transport, e))
        passed, failed = 0, 1
    print("%d passed, %d failed" % (passed, failed))
    if failed:
        print("logs kept in %s" % runner.log_dir)
    elif not keep:
        shutil.rmtree(runner.log_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
