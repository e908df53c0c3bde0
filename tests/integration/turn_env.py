"""The TURN relay under test (causeway's [turn] or coturn's turnserver) and the tools around it,
shared by turn_relay_test.py, turn_ice_test.py and bench/turn_relay/run.py.

  RelaySpec          what a test wants from the relay (listen port, realm, users, secret, peer
                     policy, quotas, threads); both servers are configured from it
  CoturnRelay        turnserver with that spec on the command line
  CausewayRelay      causeway with a [turn] section (processes.Causeway underneath)
  TurnPeer           turnutils_peer, the UDP echo peer on loopback
  rest_credentials   the TURN REST API pair: username "<expiry>:<user>",
                     password base64(HMAC-SHA1(secret, username)) (coturn --use-auth-secret)
  StunClient         raw STUN over UDP or TCP (aioice.stun messages) for the negative cases
  run_uclient        turnutils_uclient with its summary parsed
  ProcSample         CPU ticks and peak RSS of a server from /proc

Everything binds 127.0.0.1, every wait is bounded and every process is stopped by its PID
(processes.py). Run with /usr/bin/python3 (python3-aioice is a Debian package).
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import string
import struct
import subprocess
import time

import processes
from processes import LOOPBACK

try:
    from aioice import stun  # python3-aioice
except ImportError:  # only the raw STUN helpers need it
    stun = None

TURNSERVER = "/usr/bin/turnserver"
UCLIENT = "/usr/bin/turnutils_uclient"
PEER = "/usr/bin/turnutils_peer"
REQUESTED_TRANSPORT_UDP = 17 << 24


# ---------------------------------------------------------------------------------------------
# Credentials

def rest_credentials(secret, user, ttl_s=86400, now=None):
    """(username, password) in the TURN REST API shape both servers accept."""
    expiry = int(now if now is not None else time.time()) + int(ttl_s)
    username = "%d:%s" % (expiry, user)
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def long_term_key(username, realm, password):
    """RFC 8489 §9.2.2: the MESSAGE-INTEGRITY key, MD5(username:realm:password)."""
    return hashlib.md5(("%s:%s:%s" % (username, realm, password)).encode()).digest()


# ---------------------------------------------------------------------------------------------
# The relay

class RelaySpec:
    """One relay configuration, expressed for both servers.

    users: {name: password} static long-term users; secret: REST API shared secret ("" = none;
    coturn cannot serve both at once, so a spec sets one or the other for it). allow_loopback:
    peers on 127.0.0.0/8 allowed (causeway allow_peers = ["127.0.0.0/8"], coturn
    --allow-loopback-peers). Without it both servers refuse loopback, RFC 1918, multicast and the
    other special-purpose ranges (coturn is given those as --denied-peer-ip, causeway refuses
    them by default).
    """

    def __init__(self, port, realm="turn.test", users=None, secret="", allow_loopback=True,
                 max_allocations=10000, per_user=32, per_ip=64, threads=2,
                 port_min=None, port_max=None, quiet=False):
        self.port = port
        self.realm = realm
        self.users = dict(users or {})
        self.secret = secret
        self.allow_loopback = allow_loopback
        self.max_allocations = max_allocations
        self.per_user = per_user
        self.per_ip = per_ip
        self.threads = threads
        if port_min is None:
            # Relayed ports above the kernel's ephemeral range (32768-60999 on Debian), in a
            # random block of 1000 so relays of tests running side by side rarely meet.
            port_min = 61000 + 1000 * random.randrange(4)
            port_max = port_min + 999
        self.port_min = port_min
        self.port_max = port_max
        self.quiet = quiet  # benchmarks: no per-packet or per-session logging


# Special-purpose IPv4 ranges causeway refuses by default (media/turn/peer_policy.h); coturn
# allows them unless told, so it gets them as --denied-peer-ip to behave the same.
DENIED_V4 = ["0.0.0.0-0.255.255.255", "10.0.0.0-10.255.255.255", "100.64.0.0-100.127.255.255",
             "169.254.0.0-169.254.255.255", "172.16.0.0-172.31.255.255",
             "192.0.0.0-192.0.0.255", "192.168.0.0-192.168.255.255",
             "198.18.0.0-198.19.255.255", "240.0.0.0-255.255.255.255"]


class CoturnRelay:
    """turnserver with `spec`, UDP and TCP on spec.port, log and pid file in `workdir`."""

    name = "coturn"

    def __init__(self, workdir, spec, binary=TURNSERVER, config_file=None):
        """`config_file`: a turnserver.conf with the fixed options (listening/relay IP, auth
        mode, peer policy, logging); the spec's ports, realm, secret or users, threads and quotas
        still come from the command line. Without it everything is on the command line."""
        if spec.users and spec.secret:
            raise ValueError("coturn serves static users or a REST secret, not both")
        os.makedirs(workdir, exist_ok=True)
        self.spec = spec
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "turnserver.log")
        self.proc = None
        argv = [binary] + (["-c", config_file] if config_file else ["-n"])
        argv += ["--listening-port", str(spec.port), "--min-port", str(spec.port_min),
                 "--max-port", str(spec.port_max), "--realm", spec.realm,
                 "--relay-threads", str(spec.threads),
                 "--user-quota", str(spec.per_user), "--total-quota", str(spec.max_allocations),
                 "--pidfile", os.path.join(workdir, "turnserver.pid"),
                 "--userdb", os.path.join(workdir, "turndb")]
        if spec.secret:
            argv += ["--static-auth-secret", spec.secret]
        for name, password in sorted(spec.users.items()):
            argv += ["--user", "%s:%s" % (name, password)]
        if not config_file:
            argv += ["--listening-ip", LOOPBACK, "--relay-ip", LOOPBACK, "--fingerprint",
                     "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780"]
            argv += ["--use-auth-secret"] if spec.secret else ["--lt-cred-mech"]
            if spec.allow_loopback:
                argv += ["--allow-loopback-peers"]
            argv += ["--no-multicast-peers"]
            for r in DENIED_V4:
                argv += ["--denied-peer-ip", r]
            if spec.quiet:
                argv += ["--no-stdout-log", "--log-file", "/dev/null"]
            else:
                argv += ["--log-file", self.log_path, "--simple-log", "--verbose"]
        self.argv = argv

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout_s=10):
        out = open(os.path.join(self.workdir, "turnserver.out"), "a")
        self.proc = processes.spawn(self.argv, death_signal=signal.SIGTERM, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        ok = (processes.wait_port_bound(self.spec.port, False, self.proc, timeout_s)
              and processes.wait_port_bound(self.spec.port, True, self.proc, timeout_s))
        if not ok:
            self.stop()
            raise RuntimeError("turnserver did not bind 127.0.0.1:%d within %ds:\n%s"
                               % (self.spec.port, timeout_s, self.log()[-2000:]))
        # Its relay threads come up after the listeners are bound.
        time.sleep(0.3)

    def stop(self):
        rc = processes.stop_process(self.proc)
        self.proc = None
        return rc

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return (processes.read_text(self.log_path)
                + processes.read_text(os.path.join(self.workdir, "turnserver.out")))

    def credentials(self, user, ttl_s=86400):
        return rest_credentials(self.spec.secret, user, ttl_s)


def _toml_list(items):
    return "[%s]" % ", ".join('"%s"' % i for i in items)


class CausewayRelay(processes.Causeway):
    """causeway with a [turn] section from `spec` (SIP only on one TCP port of its own)."""

    name = "causeway"
    TURN_SECTION = (
        '[turn]\nudp = ["$host:$port"]\ntcp = ["$host:$port"]\ntls = []\n'
        'relay_addresses = ["$host"]\nport_min = $port_min\nport_max = $port_max\n'
        'realm = "$realm"\nsecret = "$secret"\nusers = $users\nallow_peers = $allow_peers\n'
        'max_allocations = $max_allocations\nmax_allocations_per_user = $per_user\n'
        'max_allocations_per_ip = $per_ip\n')

    def __init__(self, binary, workdir, spec, sip_port, turn_template=None):
        """`turn_template`: the [turn] section as a string.Template text ($port, $port_min,
        $port_max, $realm, $secret, $users, $allow_peers, $max_allocations, $per_user, $per_ip);
        None = the section this class writes."""
        self.spec = spec
        users = ["%s:%s" % (n, p) for n, p in sorted(spec.users.items())]
        turn = string.Template(turn_template or self.TURN_SECTION).substitute(
            host=LOOPBACK, port=spec.port, port_min=spec.port_min, port_max=spec.port_max,
            realm=spec.realm, secret=spec.secret, users=_toml_list(users),
            allow_peers=_toml_list(["127.0.0.0/8"] if spec.allow_loopback else []),
            max_allocations=spec.max_allocations, per_user=spec.per_user, per_ip=spec.per_ip)
        config = '[sip]\nudp = []\ntcp = ["%s:%d"]\ntls = []\n\n%s' % (LOOPBACK, sip_port, turn)
        # quiet: "info", not less: start() waits for the msg=started line, logged at info.
        super().__init__(binary, workdir, config, log_level="info" if spec.quiet else "debug")
        # processes.Causeway writes workers = 2; the spec's thread count wins.
        with open(self.config_path) as f:
            text = f.read()
        with open(self.config_path, "w") as f:
            f.write(text.replace("workers = 2\n", "workers = %d\n" % spec.threads, 1))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout_s=None):
        super().start()
        for tcp in (False, True):
            if not processes.wait_port_bound(self.spec.port, tcp, self.proc, 5.0):
                raise RuntimeError("causeway started but does not serve TURN on %s %d:\n%s"
                                   % ("TCP" if tcp else "UDP", self.spec.port, self.log()[-2000:]))

    def credentials(self, user, ttl_s=86400):
        """The pair `causeway turn credentials` issues (the daemon's own CLI)."""
        r = subprocess.run([self.binary, "turn", "credentials", "--user", user, "--ttl",
                            str(ttl_s), "--config", self.config_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("causeway turn credentials: exit %d: %s"
                               % (r.returncode, r.stderr.decode(errors="replace")))
        issued = json.loads(r.stdout)
        return issued["username"], issued["password"]


def make_relay(kind, binary, workdir, spec, ports, coturn_config=None, causeway_turn=None):
    """A relay of `kind` ("causeway" or "coturn"), not started."""
    if kind == "coturn":
        return CoturnRelay(workdir, spec, binary or TURNSERVER, coturn_config)
    if kind == "causeway":
        return CausewayRelay(binary, workdir, spec, ports.get(), causeway_turn)
    raise ValueError("unknown relay kind %r" % kind)


class TurnPeer:
    """turnutils_peer: echoes every UDP datagram back to its sender, on 127.0.0.1:port."""

    def __init__(self, port, workdir):
        self.port = port
        self.log_path = os.path.join(workdir, "peer-%d.log" % port)
        self.proc = None

    def start(self):
        with open(self.log_path, "w") as log:
            self.proc = processes.spawn([PEER, "-L", LOOPBACK, "-p", str(self.port)],
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        if not processes.wait_port_bound(self.port, False, self.proc, 5.0):
            self.stop()
            raise RuntimeError("turnutils_peer did not bind UDP %d" % self.port)

    def stop(self):
        rc = processes.stop_process(self.proc)
        self.proc = None
        return rc


# ---------------------------------------------------------------------------------------------
# turnutils_uclient

_SUMMARY = {
    "sent": r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=\d+",
    "received": r"start_mclient: tot_send_msgs=\d+, tot_recv_msgs=(\d+)",
    "transmit_s": r"Total transmit time is (\d+)",
    "lost": r"Total lost packets (\d+) \(",
    "loss_pct": r"Total lost packets \d+ \(([-\d.naif]+)%\)",
    "send_dropped": r"total send dropped (\d+) \(",
    "rtt_avg_ms": r"Average round trip delay ([-\d.naif]+) ms",
    "rtt_min_ms": r"Average round trip delay [-\d.naif]+ ms; min = (\d+) ms",
    "rtt_max_ms": r"Average round trip delay [-\d.naif]+ ms; min = \d+ ms, max = (\d+) ms",
    "jitter_avg_ms": r"Average jitter ([-\d.naif]+) ms",
    "jitter_max_ms": r"Average jitter [-\d.naif]+ ms; min = \d+ ms, max = (\d+) ms",
}
_PROGRESS = re.compile(r"^(\d+): : start_mclient: msz=(\d+), tot_send_msgs=(\d+), "
                       r"tot_recv_msgs=(\d+)", re.M)


def parse_uclient(text):
    """uclient's closing summary as numbers (missing lines are absent from the dict), plus
    `progress`: the once-a-second (second, sessions, sent, received) lines."""
    out = {}
    for key, pattern in _SUMMARY.items():
        m = re.search(pattern, text)
        if m:
            try:
                out[key] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
            except ValueError:
                out[key] = float("nan")
    out["progress"] = [tuple(int(g) for g in m.groups()) for m in _PROGRESS.finditer(text)]
    return out


def uclient_argv(port, peer_port, username, password, messages, clients, length=160,
                 interval_ms=20, tcp=False, send_indications=False, secret=None,
                 local_address=None, rtcp_pairs=False):
    """turnutils_uclient for `clients` sessions of `messages` packets each, one allocation per
    session (-c: no RTCP pair; `rtcp_pairs`: uclient's default RTP+RTCP allocations, the RTP one
    with EVEN-PORT R and the RTCP one claiming its RESERVATION-TOKEN), to the echo peer on loopback. uclient opens one more probe
    allocation per session (its ALTERNATE-SERVER probe) and leaves it to expire.
    `local_address`: the clients' source address (any of 127.0.0.0/8), default 127.0.0.1."""
    argv = [UCLIENT, "-p", str(port), "-e", LOOPBACK, "-r", str(peer_port), "-n", str(messages),
            "-m", str(clients), "-l", str(length), "-z", str(interval_ms), "-X"]
    if not rtcp_pairs:
        argv.append("-c")
    if local_address:
        argv += ["-L", local_address]
    if secret is not None:
        argv += ["-u", username, "-W", secret]  # uclient derives the REST pair itself
    else:
        argv += ["-u", username, "-w", password]
    if tcp:
        argv.append("-t")
    if send_indications:
        argv.append("-s")
    return argv + [LOOPBACK]


def run_uclient(argv, timeout_s, log_path=None):
    """(exit code, output, parsed summary). A run over `timeout_s` is killed (exit None)."""
    proc = processes.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        processes.kill_process(proc)
        out, _ = proc.communicate(timeout=processes.KILL_WAIT_S)
        rc = None
    text = out.decode(errors="replace")
    if log_path:
        with open(log_path, "w") as f:
            f.write(" ".join(argv) + "\n" + text)
    return rc, text, parse_uclient(text)


# ---------------------------------------------------------------------------------------------
# Raw STUN

class StunClient:
    """One client 5-tuple to the relay (a UDP socket or a TCP connection) sending aioice.stun
    Messages and waiting, bounded, for the response with the same transaction id."""

    def __init__(self, port, tcp=False, host=LOOPBACK):
        self.tcp = tcp
        self.server = (host, port)
        if tcp:
            self.sock = socket.create_connection(self.server, timeout=5)
            self._buf = b""
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((LOOPBACK, 0))
            self.sock.connect(self.server)
        self.realm = None
        self.nonce = None
        self.key = None
        self.username = None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if self.tcp:
            self.sock.sendall(data)
        else:
            self.sock.send(data)

    def recv_raw(self, timeout_s):
        """One datagram (UDP) or one framed STUN/ChannelData message (TCP); None on timeout.
        b"" when a TCP server closed the connection."""
        deadline = time.monotonic() + timeout_s
        if not self.tcp:
            self.sock.settimeout(timeout_s)
            try:
                return self.sock.recv(65536)
            except (socket.timeout, ConnectionRefusedError):
                return None
        while True:
            need = _stream_frame_length(self._buf)
            if need is not None and len(self._buf) >= need:
                frame, self._buf = self._buf[:need], self._buf[need:]
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return b""
            if not chunk:
                return b""
            self._buf += chunk

    def request(self, message, timeout_s=2.0, retries=2):
        """Sends `message` and returns the parsed response (None when nothing answered). UDP
        retransmits up to `retries` times, the same bytes, as RFC 8489 §6.2.1 does."""
        data = bytes(message)
        per_try = timeout_s / (retries + 1) if not self.tcp else timeout_s
        for _ in range(1 if self.tcp else retries + 1):
            self.send_raw(data)
            deadline = time.monotonic() + per_try
            while time.monotonic() < deadline:
                raw = self.recv_raw(max(0.01, deadline - time.monotonic()))
                if not raw:
                    if raw == b"":
                        return None
                    break
                try:
                    response = stun.parse_message(raw)
                except ValueError:
                    continue  # not STUN (ChannelData) or a method aioice does not know
                if response.transaction_id == message.transaction_id:
                    return response
        return None

    # -- TURN requests, long-term credentials --------------------------------------------------

    def new(self, method, **attributes):
        m = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
        for k, v in attributes.items():
            m.attributes[k.replace("_", "-")] = v
        return m

    def authenticate(self, message, username=None, key=None, nonce=None):
        """Adds USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (+FINGERPRINT)."""
        message.attributes["USERNAME"] = username or self.username
        message.attributes["REALM"] = self.realm
        message.attributes["NONCE"] = nonce if nonce is not None else self.nonce
        message.add_message_integrity(key or self.key)
        return message

    def challenge(self):
        """An unauthenticated Allocate: the 401 response (realm and nonce kept), or what came."""
        r = self.request(self.new(stun.Method.ALLOCATE,
                                  REQUESTED_TRANSPORT=REQUESTED_TRANSPORT_UDP))
        if r is not None and error_code(r) == 401:
            self.realm = r.attributes.get("REALM")
            self.nonce = r.attributes.get("NONCE")
        return r

    def login(self, username, password):
        self.username = username
        self.key = long_term_key(username, self.realm, password)

    def allocate(self, lifetime=None):
        m = self.new(stun.Method.ALLOCATE, REQUESTED_TRANSPORT=REQUESTED_TRANSPORT_UDP)
        if lifetime is not None:
            m.attributes["LIFETIME"] = lifetime
        return self.request(self.authenticate(m))

    def refresh(self, lifetime):
        return self.request(self.authenticate(self.new(stun.Method.REFRESH, LIFETIME=lifetime)))

    def create_permission(self, peer):
        return self.request(self.authenticate(
            self.new(stun.Method.CREATE_PERMISSION, XOR_PEER_ADDRESS=peer)))

    def allocate_with_auth(self, username, password):
        """Challenge, then Allocate with the credentials; the final response."""
        r = self.challenge()
        if r is None or error_code(r) != 401:
            return r
        self.login(username, password)
        return self.allocate()


def error_code(message):
    """The STUN error code of an error response, 0 for a success, None for no message."""
    if message is None:
        return None
    if message.message_class == stun.Class.RESPONSE:
        return 0
    return message.attributes.get("ERROR-CODE", (-1, ""))[0]


def _stream_frame_length(buf):
    """Bytes of the first STUN or ChannelData message in a TCP stream buffer (ChannelData padded
    to 4 over streams, RFC 8656 §12.5); None until the 4-byte prefix is there."""
    if len(buf) < 4:
        return None
    first, length = struct.unpack("!HH", buf[:4])
    if 0x4000 <= first <= 0x7FFF:
        return 4 + ((length + 3) & ~3)
    return 20 + length


# ---------------------------------------------------------------------------------------------
# /proc

class ProcSample:
    """CPU ticks (utime + stime, every thread) and peak RSS of one PID, from /proc."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid):
        self.pid = pid

    def cpu_s(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.TICK  # fields 14, 15 of stat(5)

    def status(self, key):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
        return None

    def peak_rss_kib(self):
        v = self.status("VmHWM")
        return int(v.split()[0]) if v else None

    def threads(self):
        v = self.status("Threads")
        return int(v) if v else None
