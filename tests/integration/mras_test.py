#!/usr/bin/python3
"""MRAS (MS-AVEDGEA) against the running daemon: a Lync client's media relay credentials.

  mras_test.py --causeway build/X/gateway/causeway [--log-dir DIR]

Starts causeway on free 127.0.0.1 ports with a temporary state dir, users alice and bob, and the
TURN relay on (UDP and TCP listeners on one free port, public_host 127.0.0.1), then plays
lync_mras.xml with sipp over TCP with Digest (through lync_sipe_test's relay that shows sipp only
the MD5 challenge):

  REGISTER; provisioning-v2 carries <mrasUri>; SERVICE to it with pidgin-sipe's request -> 200;
  a malformed body -> 400 "Request Malformed"; bob's credentials asked by alice -> 403
  "Forbidden"; the wrong content type -> 415.

Then checks what the 200 handed out against the relay's configuration: username
"<expiry>:alice@example.test" (or its base64) with the expiry within the credential TTL, the
password base64(HMAC-SHA1(secret, username)) (or its base64) with the secret from
<state_dir>/turn-secret (the TURN REST scheme media/turn uses), a duration of at most the TTL in minutes, and a mediaRelay naming
public_host and the relay's UDP and TCP ports. Last, coturn's turnutils_uclient (RFC 8656) and
libnice in its MS-TURN mode (Lync's dialect) relay through causeway with that pair over UDP and
TCP (uclient: 5 messages, none lost; libnice: media both ways), and the same username with a
wrong password gets no allocation from either. Exit status 1 on failure; every
process is stopped by PID (turnutils_uclient runs under a timeout) and every wait is bounded.
"""

import argparse
import base64
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from processes import LOOPBACK, Causeway, PortAllocator, read_text  # noqa: E402
from lync_sipe_test import DOMAIN, Md5OnlyRelay, Sipp, causeway_config  # noqa: E402

USERS = {"alice": ("Alice-pw-1", "Alice A"), "bob": ("Bob-pw-2", "Bob B")}
CREDENTIAL_TTL_S = 3600
UCLIENT_TIMEOUT_S = 30


class Failure(Exception):
    pass


def check(cond, reason):
    if not cond:
        raise Failure(reason)


class Context:
    """What lync_sipe_test.Sipp needs: log_dir, ports, sipp_relay(), sipps."""

    def __init__(self, causeway_binary, log_dir):
        self.log_dir = log_dir
        self.ports = PortAllocator()
        self.sip_port = self.ports.get()
        self.tls_port = self.ports.get()
        self.turn_port = self.ports.get()
        config = causeway_config(self.sip_port, self.tls_port) + (
            '\n[turn]\nudp = ["%s:%d"]\ntcp = ["%s:%d"]\npublic_host = "%s"\n'
            'credential_ttl_s = %d\n'
            # turnutils_uclient's peers are on loopback, which the relay refuses by default.
            'allow_peers = ["127.0.0.0/8"]\n' % (LOOPBACK, self.turn_port, LOOPBACK,
                                                 self.turn_port, LOOPBACK, CREDENTIAL_TTL_S))
        self.causeway = Causeway(causeway_binary, log_dir, config)
        self.relay = None
        self.sipps = []

    def sipp_relay(self):
        if self.relay is None:
            self.relay = Md5OnlyRelay(self.sip_port, self.ports)
        return self.relay

    def cleanup(self):
        for s in self.sipps:
            if s.proc.poll() is None:
                s.stop()
        if self.relay:
            self.relay.close()
        if self.causeway.running():
            self.causeway.stop()


def xml_text(body, name):
    m = re.search(r"<%s>([^<]*)</%s>" % (name, name), body)
    return m.group(1) if m else None


def run(ctx):
    for user, (password, display) in USERS.items():
        ctx.causeway.add_user("sip:%s@%s" % (user, DOMAIN), password, display)
    ctx.causeway.start()
    started = time.time()
    s = Sipp(ctx, "mras", "lync_mras.xml", "alice", USERS["alice"][0], keys=[("other", "bob")])
    rc = s.wait()
    s.stop()
    check(rc == 0, "sipp lync_mras.xml exit %s: %s" % (rc, s.first_error()))

    prov = [t for t in s.received(r"SIP/2\.0 200", r"^CSeq:\s*\d+ SUBSCRIBE") if "mrasUri" in t]
    check(prov, "no provisioning 200 with mrasUri")
    mras_uri = xml_text(prov[-1], "mrasUri")
    oks = s.received(r"SIP/2\.0 200", r"^CSeq:\s*\d+ SERVICE")
    check(oks, "no 200 to the MRAS SERVICE")
    body = oks[-1]
    username = xml_text(body, "username")
    password = xml_text(body, "password")
    duration = xml_text(body, "duration")
    check(username and password and duration, "credentials incomplete: %s" % body[-800:])
    # The gateway may hand the pair out base64-encoded (libnice's MS-TURN/OC2007 mode decodes
    # what MRAS gave); the TURN REST form underneath is the same.
    if not re.match(r"^\d+:", username):
        try:
            username = base64.b64decode(username, validate=True).decode()
            password = base64.b64decode(password, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise Failure("username %r is neither <expiry>:<user> nor its base64" % username)
    expiry, _, who = username.partition(":")
    check(who == "alice@%s" % DOMAIN, "username %r is not alice's" % username)
    check(expiry.isdigit() and started < int(expiry) <= time.time() + CREDENTIAL_TTL_S + 5,
          "username expiry %s is not within the %d s TTL" % (expiry, CREDENTIAL_TTL_S))
    check(0 < int(duration) <= CREDENTIAL_TTL_S // 60,
          "duration %s minutes is not within the %d s TTL" % (duration, CREDENTIAL_TTL_S))
    secret_path = os.path.join(ctx.causeway.state_dir, "turn-secret")
    secret = read_text(secret_path).strip()
    check(secret, "no relay secret in %s" % secret_path)
    want = base64.b64encode(hmac.new(secret.encode(), username.encode(),
                                     hashlib.sha1).digest()).decode()
    check(password == want, "password %r is not base64(HMAC-SHA1(turn-secret, username))"
          % password)
    check(xml_text(body, "hostName") == LOOPBACK, "hostName is not turn.public_host: %s"
          % xml_text(body, "hostName"))
    check(xml_text(body, "udpPort") == str(ctx.turn_port), "udpPort %s, relay on %d"
          % (xml_text(body, "udpPort"), ctx.turn_port))
    check(xml_text(body, "tcpPort") == str(ctx.turn_port), "tcpPort %s, relay on %d"
          % (xml_text(body, "tcpPort"), ctx.turn_port))
    relayed = use_on_relay(ctx, username, password)
    return ("provisioning mrasUri %s; credentials %s (duration %s min) verified against "
            "turn-secret; malformed -> 400, another user -> 403, wrong type -> 415; %s"
            % (mras_uri, username, duration, relayed))


def uclient(ctx, username, password, extra=()):
    """turnutils_uclient (coturn) through the relay: client-to-client over one allocation each,
    5 messages of 120 bytes. Returns (exit code, output)."""
    cmd = (["turnutils_uclient", "-y", "-c", "-n", "5", "-m", "1", "-l", "120"] + list(extra) +
           ["-u", username, "-w", password, "-p", str(ctx.turn_port), LOOPBACK])
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=UCLIENT_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # run() killed the child it started
        return None, "timed out after %d s" % UCLIENT_TIMEOUT_S
    return r.returncode, r.stdout.decode(errors="replace")


def use_on_relay(ctx, username, password):
    """The MRAS pair allocates on the relay and carries data over UDP and TCP; a wrong password
    does not allocate."""
    check(shutil.which("turnutils_uclient") is not None,
          "turnutils_uclient not installed (Debian package coturn; scripts/setup.sh installs it)")
    for transport, extra in (("udp", ()), ("tcp", ("-t",))):
        rc, out = uclient(ctx, username, password, extra)
        lost = re.search(r"Total lost packets (\d+)", out)
        check(rc == 0 and lost and lost.group(1) == "0",
              "turnutils_uclient over %s with the MRAS credentials: exit %s: %s"
              % (transport, rc, out.strip()[-600:]))
    rc, out = uclient(ctx, username, "not-" + password)
    check(rc != 0 and "Allocation" in out,
          "turnutils_uclient with a wrong password was not refused: exit %s: %s"
          % (rc, out.strip()[-600:]))
    # The Lync way: libnice in its MS-TURN mode (OC2007R2) with the pair as MRAS handed it out.
    for transport in ("udp", "tcp"):
        rc, out = libnice_probe(ctx, username, password, transport)
        check(rc == 0, "libnice MS-TURN over %s with the MRAS credentials: exit %s: %s"
              % (transport, rc, out.strip()[-600:]))
    rc, out = libnice_probe(ctx, username, "not-" + password, "udp")
    check(rc == 1, "libnice MS-TURN with a wrong password: exit %s: %s" % (rc, out.strip()[-600:]))
    return ("the pair allocates and relays over UDP and TCP (0 lost) for turnutils_uclient (RFC "
            "8656) and libnice (MS-TURN, media both ways); a wrong password does neither")


def libnice_probe(ctx, username, password, transport):
    """tests/integration/libnice_msturn_probe.py against the relay: exit 0 when libnice got a
    relayed candidate and media crossed the relay both ways."""
    cmd = ["/usr/bin/python3", os.path.join(HERE, "libnice_msturn_probe.py"), "--server",
           "%s:%d" % (LOOPBACK, ctx.turn_port), "--user", username, "--password", password,
           "--transport", transport, "--seconds", "5"]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=UCLIENT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % UCLIENT_TIMEOUT_S
    return r.returncode, r.stdout.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--causeway", required=True, help="the causeway binary")
    ap.add_argument("--log-dir", help="keep all logs here (default: a temp dir, kept on failure)")
    args = ap.parse_args()
    if not os.access(args.causeway, os.X_OK):
        print("FAIL setup: %s is not executable" % args.causeway)
        return 1
    if shutil.which("sipp") is None:
        print("FAIL setup: sipp not found (Debian package sip-tester)")
        return 1
    if args.log_dir:
        log_dir = os.path.abspath(args.log_dir)
        shutil.rmtree(log_dir, ignore_errors=True)
        os.makedirs(log_dir)
    else:
        log_dir = tempfile.mkdtemp(prefix="mras-test-")
    ctx = Context(args.causeway, log_dir)
    t0 = time.monotonic()
    try:
        why = run(ctx)
        ok = True
    except Failure as e:
        ok, why = False, str(e)
    except Exception as e:  # noqa: BLE001 - report, clean up, fail
        ok, why = False, "%s: %s" % (type(e).__name__, e)
    finally:
        ctx.cleanup()
    print("%s mras (%.1fs): %s" % ("PASS" if ok else "FAIL", time.monotonic() - t0, why))
    if not ok:
        print("logs kept in %s (causeway.log, sipp/)" % log_dir)
    elif not args.log_dir:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
