#!/usr/bin/python3
"""Test environment for XMPP federation tests: network namespace, test DNS, test CA, Prosody,
slixmpp clients.

Everything a federation test needs to put real XMPP peers next to causeway on one machine, as root:

  with Netns() as ns:                              # namespace: loopback only
      pki = TestPki(tmp + "/pki")                  # test CA; pki.cert("a.test") on demand
      dns = DnsServer(ns)                          # dnslib on 127.0.0.1:53 in the namespace
      dns.add_xmpp_domain("a.test", "127.0.0.2")   # SRV _xmpp-server._tcp + A
      dns.start()
      with Prosody(ns, "a.test", "127.0.0.2", pki, tmp + "/a", users={"alice": "pw"}) as a:
          with XmppClient(ns, "alice@a.test", "pw", "127.0.0.2", a.c2s_port, pki.ca) as alice:
              alice.send_message("bob@b.test", "hi", request_receipt=True)
              alice.wait_message(lambda m: m["receipt"], timeout=10)

Design choices (why):
- Namespace: `ip netns add` gives a private loopback (127.0.0.0/8 is all local there, so 127.0.0.2
  and 127.0.0.3 bind without adding addresses), and `ip netns exec` bind-mounts
  /etc/netns/NAME/resolv.conf over /etc/resolv.conf: that is how libunbound and glibc find our DNS.
- DNS: tests/dns/dns_server.py (python3-dnslib) with a generated zone file, on 127.0.0.1:53.
- Prosody's resolver is libunbound (lua-unbound). Two unbound defaults keep it from asking our
  server: `test.` is one of unbound's built-in local zones (answered NXDOMAIN locally), and
  `do-not-query-localhost: yes` refuses to forward to 127.0.0.1. The config therefore sets
  `unbound = { resolvconf = true; options = { ["local-zone:"] = "test. transparent";
  ["do-not-query-localhost:"] = "no" } }`. Only one local-zone can be set this way (a Lua table
  key), so test domains live under `.test` (or under a TLD unbound does not serve itself).
- Prosody runs in the foreground (`prosody -F`), as root (`run_as_root`), with in-memory storage
  for everything but accounts, which `prosodyctl register` writes to the instance's data dir
  before start (internal_hashed). `ip netns exec` execs, so the PID we hold is Prosody's own.
- Clients: slixmpp runs in a child process under `ip netns exec` (this file, `--client-agent`),
  driven by JSON lines over stdin/stdout. A child per client keeps the test process outside the
  namespace, keeps asyncio out of the test code and gives every client a PID that can be stopped.
  The agent pins the server address: slixmpp would otherwise resolve the JID's domain even when
  connect() gets an address.
- Every child gets PR_SET_PDEATHSIG (SIGKILL), so a test killed with SIGKILL leaves no peers
  running; namespaces left by such a run (same prefix, owner PID gone) are removed by the next
  Netns().
- Every wait is bounded; every process is stopped by PID (SIGTERM, then SIGKILL after a grace).
"""

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # also when imported from elsewhere
from processes import (STOP_GRACE_S, kill_process, read_text, spawn, stop_process,  # noqa: E402
                       wait_until)

PYTHON = "/usr/bin/python3"
REPO = os.path.dirname(os.path.dirname(HERE))
DNS_SERVER_SCRIPT = os.path.join(REPO, "tests", "dns", "dns_server.py")
NETNS_DIR = "/etc/netns"
NETNS_RUN_DIR = "/run/netns"
DEFAULT_PREFIX = "cwxmpp"

PROSODY_START_TIMEOUT_S = 15.0
CLIENT_START_TIMEOUT_S = 10.0
DEFAULT_WAIT_S = 10.0


class EnvError(RuntimeError):
    """The environment could not be set up or an operation failed or timed out."""


# ---------------------------------------------------------------------------------------------
# Processes

def _run(argv, timeout=30):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise EnvError("%s failed (%d): %s" % (" ".join(argv), result.returncode,
                                               (result.stderr or result.stdout).strip()))
    return result.stdout


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def listening_tcp(pid):
    """(address, port) pairs in LISTEN state in the network namespace of process `pid` (IPv4)."""
    result = set()
    try:
        with open("/proc/%d/net/tcp" % pid, encoding="ascii") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] != "0A":  # TCP_LISTEN
                    continue
                hex_addr, hex_port = fields[1].split(":")
                raw = bytes.fromhex(hex_addr)[::-1]  # little-endian on x86
                result.add(("%d.%d.%d.%d" % tuple(raw), int(hex_port, 16)))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        pass
    return result


def _is_listening(pid, address, port):
    socks = listening_tcp(pid)
    return (address, port) in socks or ("0.0.0.0", port) in socks


# ---------------------------------------------------------------------------------------------
# Network namespace

class Netns:
    """A network namespace with only loopback up, named PREFIX-PID-N (unique per run).

    `extra_addresses` are added to lo (needed only outside 127.0.0.0/8: the /8 on lo makes every
    127.x address local already). `nameserver` goes to /etc/netns/NAME/resolv.conf, `hosts` (dict
    name -> address) to /etc/netns/NAME/hosts; `ip netns exec` bind-mounts both over /etc.
    """

    _counter = itertools.count()

    def __init__(self, prefix=DEFAULT_PREFIX, extra_addresses=(), nameserver="127.0.0.1",
                 hosts=None):
        self.prefix = prefix
        self.name = "%s-%d-%d" % (prefix, os.getpid(), next(Netns._counter))
        self.extra_addresses = list(extra_addresses)
        self.nameserver = nameserver
        self.hosts = dict(hosts or {})
        self.etc_dir = os.path.join(NETNS_DIR, self.name)
        self._created = False

    # Stale namespaces: "PREFIX-PID-N" whose PID is gone (a run killed before its cleanup).
    @classmethod
    def clean_stale(cls, prefix=DEFAULT_PREFIX):
        pattern = re.compile(r"^%s-(\d+)-\d+$" % re.escape(prefix))
        removed = []
        names = set()
        try:
            names.update(os.listdir(NETNS_RUN_DIR))
        except FileNotFoundError:
            pass
        try:
            names.update(os.listdir(NETNS_DIR))
        except FileNotFoundError:
            pass
        for name in sorted(names):
            m = pattern.match(name)
            if not m:
                continue
            owner = int(m.group(1))
            if owner == os.getpid() or _pid_alive(owner):
                continue
            cls._destroy(name)
            removed.append(name)
        return removed

    @staticmethod
    def _destroy(name):
        # Processes a killed run left inside (PDEATHSIG should have taken them): by PID.
        pids = subprocess.run(["ip", "netns", "pids", name], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=10).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10)
        shutil.rmtree(os.path.join(NETNS_DIR, name), ignore_errors=True)

    def __enter__(self):
        self.create()
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False

    def create(self):
        Netns.clean_stale(self.prefix)
        _run(["ip", "netns", "add", self.name])
        self._created = True
        try:
            _run(["ip", "-n", self.name, "link", "set", "lo", "up"])
            for address in self.extra_addresses:
                _run(["ip", "-n", self.name, "addr", "add", address, "dev", "lo"])
            os.makedirs(self.etc_dir, exist_ok=True)
            self.write_resolv_conf(self.nameserver)
            lines = ["127.0.0.1 localhost", "::1 localhost"]
            lines += ["%s %s" % (addr, name) for name, addr in self.hosts.items()]
            with open(os.path.join(self.etc_dir, "hosts"), "w", encoding="ascii") as f:
                f.write("\n".join(lines) + "\n")
        except BaseException:
            self.destroy()
            raise

    def write_resolv_conf(self, nameserver):
        # attempts/timeout small: a test DNS server either answers at once or is down.
        with open(os.path.join(self.etc_dir, "resolv.conf"), "w", encoding="ascii") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:2\n" % nameserver)

    def destroy(self):
        if self._created:
            Netns._destroy(self.name)
            self._created = False
        shutil.rmtree(self.etc_dir, ignore_errors=True)

    def argv(self, *command):
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command, timeout=30, check=True):
        """Runs a command inside the namespace; returns CompletedProcess (text)."""
        result = subprocess.run(self.argv(*command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise EnvError("in %s: %s failed (%d): %s" % (self.name, " ".join(command),
                                                          result.returncode, result.stderr.strip()))
        return result

    def spawn(self, *command, **kwargs):
        """Starts a process inside the namespace (ip netns exec execs: the PID is the command's)."""
        return spawn(self.argv(*command), **kwargs)


# ---------------------------------------------------------------------------------------------
# DNS

class DnsServer:
    """tests/dns/dns_server.py serving a generated zone on 127.0.0.1:53 (UDP and TCP) in `netns`."""

    def __init__(self, netns, workdir=None, ttl=60):
        self.netns = netns
        self.workdir = workdir
        self.ttl = ttl
        self.records = []  # zone lines
        self.proc = None
        self.zone_path = None

    def add_record(self, line):
        """A raw zone line, e.g. '_xmpp-server._tcp.x.test. IN SRV 0 0 0 .'."""
        self.records.append(line)

    def add_a(self, name, address):
        self.records.append("%s. IN A %s" % (name.rstrip("."), address))

    def add_srv(self, service, domain, target, port, priority=0, weight=0):
        self.records.append("%s.%s. IN SRV %d %d %d %s." % (service, domain.rstrip("."), priority,
                                                           weight, port, target.rstrip(".")))

    def add_xmpp_domain(self, domain, address, port=5269, host=None, client_port=None):
        """SRV _xmpp-server._tcp.DOMAIN -> HOST:PORT (HOST defaults to DOMAIN) and HOST's A record;
        also _xmpp-client._tcp when `client_port` is given."""
        host = host or domain
        self.add_srv("_xmpp-server._tcp", domain, host, port)
        if client_port:
            self.add_srv("_xmpp-client._tcp", domain, host, client_port)
        self.add_a(host, address)
        if host != domain:
            self.add_a(domain, address)

    def zone_text(self):
        return "$TTL %d\n%s\n" % (self.ttl, "\n".join(dict.fromkeys(self.records)))

    def start(self, timeout_s=10.0):
        workdir = self.workdir or self.netns.etc_dir
        self.zone_path = os.path.join(workdir, "test.zone")
        with open(self.zone_path, "w", encoding="ascii") as f:
            f.write(self.zone_text())
        self.proc = self.netns.spawn(PYTHON, DNS_SERVER_SCRIPT, "53", "--zone", self.zone_path,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = readline_bounded(self.proc.stdout, timeout_s)
        if not line.startswith("PORT 53"):
            err = ""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            self.stop()
            raise EnvError("test DNS server did not start: %r %s" % (line, err.strip()))
        if not wait_until(lambda: _is_listening(self.proc.pid, "127.0.0.1", 53), 5.0):
            self.stop()
            raise EnvError("test DNS server: TCP 53 not listening")
        return self

    def stop(self):
        if self.proc:
            stop_process(self.proc)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()
            self.proc = None

    def __enter__(self):
        return self.start() if not self.proc else self

    def __exit__(self, *exc):
        self.stop()
        return False


def readline_bounded(stream, timeout_s):
    """One line from a pipe, or '' after `timeout_s`."""
    box = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else ""


# ---------------------------------------------------------------------------------------------
# Test PKI

class TestPki:
    """A throw-away CA and per-domain server certificates (SAN DNS:domain, optionally more names),
    made with the openssl CLI (EC P-256: fast to generate). `cert(domain)` -> (cert, key) paths."""

    __test__ = False  # not a pytest class

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca.key")
        self._certs = {}
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                      "-subj", "/CN=causeway XMPP test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cert(self, domain, extra_dns=()):
        """Server+client certificate for `domain` (s2s uses one certificate both ways)."""
        if domain in self._certs:
            return self._certs[domain]
        base = os.path.join(self.dir, domain)
        names = ["DNS:" + domain] + ["DNS:" + n for n in extra_dns]
        with open(base + ".ext", "w", encoding="ascii") as ext:
            ext.write("basicConstraints=CA:FALSE\n"
                      "keyUsage=digitalSignature,keyEncipherment\n"
                      "extendedKeyUsage=serverAuth,clientAuth\n"
                      "subjectAltName=%s\n" % ",".join(names))
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=" + domain)
        self._openssl("x509", "-req", "-in", base + ".csr", "-CA", self.ca, "-CAkey", self.ca_key,
                      "-CAcreateserial", "-out", base + ".crt", "-days", "2",
                      "-extfile", base + ".ext")
        os.chmod(base + ".key", 0o600)
        self._certs[domain] = (base + ".crt", base + ".key")
        return self._certs[domain]


# ---------------------------------------------------------------------------------------------
# Prosody

def _lua_string(value):
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def _lua_list(values):
    return "{ %s }" % "; ".join(_lua_string(v) for v in values)


class Prosody:
    """One Prosody instance serving `domain`, c2s and s2s bound to `address`, inside `netns`.

    secure_auth=True: s2s must authenticate by certificate (chain to `pki.ca` and DNS SAN), i.e.
    `s2s_secure_auth = true`; False allows dialback for peers whose certificates do not verify.
    component=(name, secret, port) adds an XEP-0114 component listener on `address`:port.
    users: {"alice": "password"} registered with prosodyctl before start.
    stop() and start() again keep the accounts (the rest is in memory and is lost, as on a restart).
    """

    MODULES = ["roster", "saslauth", "tls", "dialback", "disco", "ping", "posix"]

    def __init__(self, netns, domain, address, pki, workdir, users=None, c2s_port=5222,
                 s2s_port=5269, secure_auth=True, component=None, log_level="debug",
                 extra_config="", s2s_timeout=None, trust_ca=None):
        self.netns = netns
        self.domain = domain
        self.address = address
        self.pki = pki
        self.dir = workdir
        self.users = dict(users or {})
        self.c2s_port = c2s_port
        self.s2s_port = s2s_port
        self.secure_auth = secure_auth
        self.component = component
        self.log_level = log_level
        self.extra_config = extra_config
        self.s2s_timeout = s2s_timeout
        # The CA this instance trusts for s2s peers; another CA's file makes every peer
        # certificate fail verification (how the dialback mode gets exercised).
        self.trust_ca = trust_ca or pki.ca
        self.config_path = os.path.join(workdir, "prosody.cfg.lua")
        self.log_path = os.path.join(workdir, "prosody.log")
        self.data_dir = os.path.join(workdir, "data")
        self.proc = None
        self._prepared = False

    def config_text(self):
        certs_dir = os.path.join(self.dir, "certs")
        lines = [
            "-- generated by tests/integration/xmpp_env.py",
            "run_as_root = true",
            "pidfile = %s" % _lua_string(os.path.join(self.dir, "prosody.pid")),
            "data_path = %s" % _lua_string(self.data_dir),
            "log = { { levels = { min = %s }; to = \"file\"; filename = %s } }"
            % (_lua_string(self.log_level), _lua_string(self.log_path)),
            "modules_enabled = %s" % _lua_list(self.MODULES),
            "modules_disabled = %s" % _lua_list(["offline"]),
            # Accounts on disk (written by prosodyctl before start), everything else in memory:
            # file storage rewrites a user's whole archive per message.
            "default_storage = \"memory\"",
            "storage = { accounts = \"internal\" }",
            "authentication = \"internal_hashed\"",
            "interfaces = { %s }" % _lua_string(self.address),
            "local_interfaces = { %s }" % _lua_string(self.address),
            "c2s_ports = { %d }" % self.c2s_port,
            "s2s_ports = { %d }" % self.s2s_port,
            "c2s_require_encryption = true",
            "s2s_require_encryption = true",
            "s2s_secure_auth = %s" % ("true" if self.secure_auth else "false"),
            "certificates = %s" % _lua_string(certs_dir),
            "ssl = { cafile = %s }" % _lua_string(self.trust_ca),
            # libunbound: ask the nameserver from resolv.conf (ours, on 127.0.0.1) for .test names.
            "unbound = { resolvconf = true; hoststxt = false; options = {"
            " [\"local-zone:\"] = \"test. transparent\";"
            " [\"do-not-query-localhost:\"] = \"no\" } }",
        ]
        if self.s2s_timeout is not None:
            lines.append("s2s_timeout = %d" % self.s2s_timeout)
        if self.component:
            _, _, port = self.component
            lines.append("component_ports = { %d }" % port)
            lines.append("component_interfaces = { %s }" % _lua_string(self.address))
        if self.extra_config:
            lines.append(self.extra_config)
        lines.append("VirtualHost %s" % _lua_string(self.domain))
        if self.component:
            name, secret, _ = self.component
            lines.append("Component %s" % _lua_string(name))
            lines.append("    component_secret = %s" % _lua_string(secret))
        return "\n".join(lines) + "\n"

    def prepare(self):
        """Config dir, certificate, accounts. Done once; start() calls it."""
        if self._prepared:
            return
        os.makedirs(self.data_dir, exist_ok=True)
        certs_dir = os.path.join(self.dir, "certs")
        os.makedirs(certs_dir, exist_ok=True)
        cert, key = self.pki.cert(self.domain)
        # Prosody finds certs/<host>.crt and certs/<host>.key by itself.
        shutil.copyfile(cert, os.path.join(certs_dir, self.domain + ".crt"))
        shutil.copyfile(key, os.path.join(certs_dir, self.domain + ".key"))
        if self.component:
            comp_cert, comp_key = self.pki.cert(self.component[0])
            shutil.copyfile(comp_cert, os.path.join(certs_dir, self.component[0] + ".crt"))
            shutil.copyfile(comp_key, os.path.join(certs_dir, self.component[0] + ".key"))
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text())
        for user, password in self.users.items():
            self.register(user, password)
        self._prepared = True

    def register(self, user, password):
        """prosodyctl register (works while stopped; the running server reads accounts on login)."""
        _run(["prosodyctl", "--config", self.config_path, "register", user, self.domain, password],
             timeout=30)
        self.users[user] = password

    def start(self, timeout_s=PROSODY_START_TIMEOUT_S):
        if self.proc and self.proc.poll() is None:
            raise EnvError("Prosody for %s already running" % self.domain)
        self.prepare()
        stdio = open(os.path.join(self.dir, "prosody.stdio"), "ab")
        try:
            self.proc = self.netns.spawn("prosody", "-F", "--config", self.config_path,
                                         stdin=subprocess.DEVNULL, stdout=stdio, stderr=stdio)
        finally:
            stdio.close()
        ports = [self.c2s_port, self.s2s_port] + ([self.component[2]] if self.component else [])

        def ready():
            if self.proc.poll() is not None:
                return True
            return all(_is_listening(self.proc.pid, self.address, p) for p in ports)

        if not wait_until(ready, timeout_s) or self.proc.poll() is not None:
            code = self.stop()
            raise EnvError("Prosody for %s did not start (exit %s); see %s and %s" % (
                self.domain, code, self.log_path, os.path.join(self.dir, "prosody.stdio")))
        return self

    def stop(self, grace_s=STOP_GRACE_S):
        """SIGTERM, SIGKILL after the grace period; returns the exit code (None if not running)."""
        if not self.proc:
            return None
        code = stop_process(self.proc, grace_s)
        self.proc = None
        return code

    def kill(self):
        """SIGKILL at once (a crash rather than a shutdown)."""
        kill_process(self.proc)
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return read_text(self.log_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------------------------------------
# XMPP client (parent side)

class XmppClient:
    """A slixmpp client in a child process inside `netns`, driven by JSON lines.

    Events (dicts) from the client are queued; wait_* take the first queued event that matches
    (events that arrived before the wait are not lost) and remove it. Every call is bounded.
    Event shapes:
      message:  {"event": "message", "from", "to", "type", "id", "body", "thread", "chat_state",
                 "receipt_request": bool, "receipt": id-or-"", "xhtml": str, "error": {...}|None,
                 "xml"}
      presence: {"event": "presence", "from", "to", "type", "show", "status", "priority",
                 "error": {...}|None, "xml"}
      disconnected: {"event": "disconnected"}
    error = {"type", "condition", "text"}.
    """

    def __init__(self, netns, jid, password, address, port, ca_file, auto_receipts=True,
                 log_path=None):
        self.netns = netns
        self.jid = jid
        self.password = password
        self.address = address
        self.port = port
        self.ca_file = ca_file
        self.auto_receipts = auto_receipts
        self.log_path = log_path
        self.proc = None
        self._ids = itertools.count(1)
        self._replies = {}
        self._events = []
        self._cond = threading.Condition()
        self._reader = None
        self._log = None

    # -- lifecycle

    def start(self):
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = self.netns.spawn(PYTHON, os.path.abspath(__file__), "--client-agent",
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._call("hello", timeout=CLIENT_START_TIMEOUT_S)
        return self

    def close(self):
        if self.proc:
            if self.proc.poll() is None:
                try:
                    self._call("disconnect", timeout=5)
                except EnvError:
                    pass
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            stop_process(self.proc, grace_s=3.0)
            if self._reader:
                self._reader.join(3.0)
            self.proc.stdout.close()
            self.proc = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
            self._log = None

    def __enter__(self):
        self.start()
        try:
            self.connect()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _read_loop(self):
        for line in self.proc.stdout:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                if "reply" in item:
                    self._replies[item["reply"]] = item
                else:
                    self._events.append(item)
                self._cond.notify_all()
        with self._cond:
            self._events.append({"event": "exited"})
            self._cond.notify_all()

    def _call(self, op, timeout=DEFAULT_WAIT_S, **args):
        if not self.proc or self.proc.poll() is not None:
            raise EnvError("%s: client process not running" % self.jid)
        call_id = next(self._ids)
        args.update(op=op, id=call_id)
        try:
            self.proc.stdin.write(json.dumps(args) + "\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise EnvError("%s: client process gone: %s" % (self.jid, e)) from e
        deadline = time.monotonic() + timeout
        with self._cond:
            while call_id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and call_id not in self._replies:
                    raise EnvError("%s: %s: no answer within %.1f s" % (self.jid, op, timeout))
                self._cond.wait(min(left, 0.2))
            reply = self._replies.pop(call_id)
        if not reply.get("ok"):
            raise EnvError("%s: %s failed: %s" % (self.jid, op, reply.get("error")))
        return reply.get("result")

    # -- operations

    def connect(self, timeout=DEFAULT_WAIT_S):
        """Connects to the pinned address, STARTTLS with the test CA, logs in, sends initial
        presence unless told otherwise by send_presence later. Raises EnvError on failure."""
        return self._call("connect", timeout=timeout + 2, jid=self.jid, password=self.password,
                          address=self.address, port=self.port, ca_file=self.ca_file,
                          auto_receipts=self.auto_receipts, wait=timeout)

    def disconnect(self, timeout=5):
        return self._call("disconnect", timeout=timeout)

    def send_message(self, to, body=None, mtype="chat", chat_state=None, request_receipt=False,
                     xhtml=None, msg_id=None, thread=None):
        """Returns the message id."""
        return self._call("message", to=to, body=body, type=mtype, chat_state=chat_state,
                          request_receipt=request_receipt, xhtml=xhtml, msg_id=msg_id,
                          thread=thread)

    def send_chat_state(self, to, state):
        return self.send_message(to, None, chat_state=state)

    def send_receipt(self, to, msg_id):
        return self._call("receipt", to=to, msg_id=msg_id)

    def send_presence(self, show=None, status=None, priority=None, to=None, ptype=None):
        return self._call("presence", show=show, status=status, priority=priority, to=to,
                          type=ptype)

    def subscribe(self, to):
        return self.send_presence(to=to, ptype="subscribe")

    def accept_subscription(self, frm, subscribe_back=False):
        self.send_presence(to=frm, ptype="subscribed")
        if subscribe_back:
            self.subscribe(frm)

    def unsubscribe(self, to):
        return self.send_presence(to=to, ptype="unsubscribe")

    def roster(self, timeout=DEFAULT_WAIT_S):
        """{bare jid: {"subscription", "ask", "name", "groups"}} from the server."""
        return self._call("roster", timeout=timeout + 2, wait=timeout)

    def send_raw(self, xml):
        return self._call("raw", xml=xml)

    # -- waits

    def wait_event(self, predicate, timeout=DEFAULT_WAIT_S, what="event"):
        """Removes and returns the first queued event for which predicate(event) is true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, event in enumerate(self._events):
                    if predicate(event):
                        return self._events.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EnvError("%s: no %s within %.1f s (queued: %s)" % (
                        self.jid, what, timeout, [summarize(e) for e in self._events][-8:]))
                self._cond.wait(min(left, 0.2))

    def wait_message(self, predicate=None, timeout=DEFAULT_WAIT_S, frm=None):
        """A <message/> not of type error (chat, normal, headline; receipts, chat states too)."""
        return self.wait_event(lambda e: e.get("event") == "message" and e.get("type") != "error"
                               and _from_matches(e, frm) and (predicate is None or predicate(e)),
                               timeout, "message from %s" % (frm or "anyone"))

    def wait_error(self, predicate=None, timeout=DEFAULT_WAIT_S, frm=None):
        """A message or presence of type error."""
        return self.wait_event(lambda e: e.get("type") == "error" and _from_matches(e, frm)
                               and (predicate is None or predicate(e)), timeout,
                               "error from %s" % (frm or "anyone"))

    def wait_presence(self, predicate=None, timeout=DEFAULT_WAIT_S, frm=None, ptype=None):
        """A presence with type `ptype` ('' / None = available or unavailable... None = any)."""
        return self.wait_event(lambda e: e.get("event") == "presence" and _from_matches(e, frm)
                               and (ptype is None or e.get("type") == ptype)
                               and (predicate is None or predicate(e)), timeout,
                               "presence %s from %s" % (ptype, frm or "anyone"))

    def wait_subscription_request(self, frm=None, timeout=DEFAULT_WAIT_S):
        return self.wait_presence(frm=frm, ptype="subscribe", timeout=timeout)

    def drain(self):
        """Removes and returns every queued event."""
        with self._cond:
            events, self._events = self._events, []
            return events


def serve_stdin_json(loop, handle):
    """Runs `loop` until stdin closes, starting the coroutine `handle(request)` for every
    non-empty stdin line, parsed as JSON (the agents' request channel)."""
    done = loop.create_future()
    buffer = bytearray()

    def on_stdin():
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            if not done.done():
                done.set_result(None)
            return
        buffer.extend(data)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            if line.strip():
                loop.create_task(handle(json.loads(line)))

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    loop.run_until_complete(done)


def _from_matches(event, frm):
    if frm is None:
        return True
    sender = event.get("from", "")
    return sender == frm or sender.split("/", 1)[0] == frm


def summarize(event):
    parts = [event.get("event", "?"), event.get("type") or "", "from=" + event.get("from", "")]
    for key in ("body", "show", "status", "chat_state", "receipt"):
        if event.get(key):
            parts.append("%s=%r" % (key, event[key]))
    if event.get("error"):
        parts.append("error=%s" % event["error"].get("condition"))
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# XMPP client (agent side: runs inside the namespace, `xmpp_env.py --client-agent`)

def client_agent_main():
    import asyncio
    import logging
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    state = {"xmpp": None}

    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def error_of(stanza):
        if stanza["type"] != "error":
            return None
        err = stanza["error"]
        return {"type": err["type"], "condition": err["condition"], "text": err["text"]}

    class PinnedClient(slixmpp.ClientXMPP):
        def __init__(self, jid, password, address, port):
            super().__init__(jid, password)
            self.pinned = (address, port)

        async def get_dns_records(self, domain, port=None):
            # slixmpp resolves the JID's domain even when connect() has an address: pin it.
            return [(self.boundjid.domain, self.pinned[0], self.pinned[1])]

    def on_message(msg):
        emit({"event": "message", "from": str(msg["from"]), "to": str(msg["to"]),
              "type": msg["type"], "id": msg["id"], "body": msg["body"], "thread": msg["thread"],
              "chat_state": msg["chat_state"],
              "receipt_request": bool(msg.xml.find("{urn:xmpp:receipts}request") is not None),
              "receipt": msg["receipt"], "xhtml": msg["html"]["body"] if msg.xml.find(
                  "{http://jabber.org/protocol/xhtml-im}html") is not None else "",
              "error": error_of(msg), "xml": str(msg)})

    def on_presence(pres):
        emit({"event": "presence", "from": str(pres["from"]), "to": str(pres["to"]),
              # slixmpp's pres["type"] answers the <show/> of available presence: use the attribute
              "type": pres.xml.get("type", ""), "show": pres["show"], "status": pres["status"],
              "priority": pres["priority"], "error": error_of(pres), "xml": str(pres)})

    async def op_connect(req):
        xmpp = PinnedClient(req["jid"], req["password"], req["address"], req["port"])
        xmpp.ca_certs = req["ca_file"]
        for plugin in ("xep_0030", "xep_0085", "xep_0071", "xep_0199"):
            xmpp.register_plugin(plugin)
        xmpp.register_plugin("xep_0184", {"auto_ack": bool(req.get("auto_receipts", True)),
                                          "auto_request": False})
        xmpp.auto_authorize = None   # subscription requests become events, answered by the test
        xmpp.auto_subscribe = False
        xmpp.register_handler(Callback("cw message", StanzaPath("message"), on_message))
        xmpp.register_handler(Callback("cw presence", StanzaPath("presence"), on_presence))
        done = loop.create_future()

        def finish(result):
            if not done.done():
                done.set_result(result)

        async def on_session_start(_):
            try:
                await xmpp.get_roster(timeout=req["wait"])
            except Exception as e:  # an IqError/IqTimeout: report, don't die
                finish("roster: %s" % e)
                return
            xmpp.send_presence()
            finish(None)

        xmpp.add_event_handler("session_start", on_session_start)
        xmpp.add_event_handler("failed_auth", lambda *_: finish("authentication failed"))
        xmpp.add_event_handler("connection_failed", lambda e: finish("connection failed: %s" % e))
        xmpp.add_event_handler("disconnected", lambda *_: (finish("disconnected"),
                                                           emit({"event": "disconnected"})))
        state["xmpp"] = xmpp
        xmpp.connect(address=(req["address"], req["port"]))
        try:
            result = await asyncio.wait_for(done, req["wait"])
        except asyncio.TimeoutError:
            result = "no session within %s s" % req["wait"]
        if result:
            xmpp.abort()
            raise RuntimeError(result)
        return str(xmpp.boundjid)

    def need_session():
        if not state["xmpp"]:
            raise RuntimeError("not connected")
        return state["xmpp"]

    async def op_message(req):
        xmpp = need_session()
        msg = xmpp.make_message(mto=req["to"], mbody=req.get("body"), mtype=req.get("type", "chat"))
        msg["id"] = req.get("msg_id") or xmpp.new_id()
        if req.get("thread"):
            msg["thread"] = req["thread"]
        if req.get("chat_state"):
            msg["chat_state"] = req["chat_state"]
        if req.get("request_receipt"):
            msg["request_receipt"] = True
        if req.get("xhtml"):
            msg["html"]["body"] = req["xhtml"]
        msg.send()
        return msg["id"]

    async def op_receipt(req):
        xmpp = need_session()
        ack = xmpp.Message()
        ack["to"] = req["to"]
        ack["type"] = "chat"
        ack["receipt"] = req["msg_id"]
        ack.send()
        return None

    async def op_presence(req):
        xmpp = need_session()
        kwargs = {}
        if req.get("to"):
            kwargs["pto"] = req["to"]
        if req.get("type"):
            kwargs["ptype"] = req["type"]
        if req.get("show"):
            kwargs["pshow"] = req["show"]
        if req.get("status") is not None:
            kwargs["pstatus"] = req["status"]
        if req.get("priority") is not None:
            kwargs["ppriority"] = req["priority"]
        xmpp.make_presence(**kwargs).send()
        return None

    async def op_roster(req):
        xmpp = need_session()
        # A plain roster get without 'ver' (slixmpp's get_roster sends the version it has and
        # Prosody then answers with an empty result).
        query = xmpp.Iq()
        query["type"] = "get"
        query.enable("roster")
        iq = await query.send(timeout=req.get("wait", DEFAULT_WAIT_S))
        items = {}
        for jid, item in iq["roster"]["items"].items():
            items[str(jid)] = {"subscription": item["subscription"], "ask": item["ask"],
                               "name": item["name"], "groups": list(item["groups"])}
        return items

    async def op_raw(req):
        need_session().send_raw(req["xml"])
        return None

    async def op_disconnect(req):
        xmpp = state["xmpp"]
        if xmpp:
            state["xmpp"] = None
            try:
                await asyncio.wait_for(xmpp.disconnect(wait=1.0), 3.0)
            except (asyncio.TimeoutError, Exception):  # already gone is fine
                xmpp.abort()
        return None

    async def op_hello(req):
        return os.getpid()

    ops = {"hello": op_hello, "connect": op_connect, "message": op_message, "receipt": op_receipt,
           "presence": op_presence, "roster": op_roster, "raw": op_raw,
           "disconnect": op_disconnect}

    async def handle(req):
        try:
            result = await ops[req["op"]](req)
            emit({"reply": req["id"], "ok": True, "result": result})
        except Exception as e:  # every failure goes back to the test as a reply
            emit({"reply": req["id"], "ok": False, "error": "%s: %s" % (type(e).__name__, e)})

    serve_stdin_json(loop, handle)  # until the test closes stdin (or dies)
    if state["xmpp"]:
        state["xmpp"].abort()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client-agent":
        sys.exit(client_agent_main())
    print(__doc__)
    sys.exit(2)
