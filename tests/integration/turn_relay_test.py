#!/usr/bin/python3
"""The TURN relay (RFC 8656) against coturn's test tools and raw STUN, on loopback.

The same checks run against causeway's [turn] relay and against coturn's turnserver (the
reference: every check here passes with coturn 4.6.1). turnutils_peer echoes on a free UDP port
of 127.0.0.1; turnutils_uclient drives allocations through the relay to it.

Phase static   (users alice, bob; peers on 127.0.0.0/8 allowed)
  uclient-udp-channel, uclient-udp-send, uclient-tcp-channel, uclient-tcp-send: 4 sessions x 50
      packets of 160 bytes every 20 ms (200 packets/s), over ChannelData or Send/Data
      indications; uclient exits 0, sent = received = 200, 0 lost
  wrong-password  unauthenticated Allocate -> 401 with REALM and NONCE; with a wrong password
                  -> 401 again (no allocation)
  unknown-user    -> 401
  bad-nonce       a garbage NONCE with good credentials -> 438 carrying a NONCE other than
                  the one sent; the retry with it -> success (then Refresh 0 -> success)
  garbage         truncated header, a length past the datagram, random bytes, text, a short
                  ChannelData: no answer to any; then a Binding and a new allocation still work;
                  over TCP, a garbage stream gets no STUN answer and a new connection is served
Phase secret   (REST API secret; peers on loopback allowed)
  credentials     causeway: `causeway turn credentials` prints {"username": "<expiry>:NAME",
                  "password": base64(HMAC-SHA1(secret, username)), "ttl", "uris"} (checked
                  against the secret); coturn: the same pair computed here
  uclient-*       as above with the issued pair (-u/-w) and with uclient deriving it (-W)
  expired         a correctly signed username whose expiry has passed -> 401
  wrong-secret    a pair signed with another secret -> 401
Phase policy   (user alice, no allow_peers, at most 3 allocations per user)
  forbidden-peers CreatePermission for 127.0.0.1, 10.0.0.1, 224.0.0.1 -> 403 each;
                  8.8.8.8 -> success (the refusals are by range, not blanket)
  quota           3 allocations of alice from 3 client ports succeed, the 4th -> 486
Phase secret-quota (REST secret, at most 2 allocations per user)
  secret-quota    erin's pairs with 3 different expiries: 2 allocations, the 3rd -> 486 (the
                  quota counts the user, not the "<expiry>:<user>" username)

Usage:
  turn_relay_test.py --server coturn [--binary /usr/bin/turnserver]
  turn_relay_test.py --server causeway --binary build/X/gateway/causeway [--log-dir DIR]
Exit 0 only when every check passed; 77 when coturn's tools are not installed.
"""

import argparse
import base64
import hashlib
import hmac
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import processes  # noqa: E402
import turn_env  # noqa: E402
from turn_env import (RelaySpec, StunClient, TurnPeer, error_code, make_relay,  # noqa: E402
                      run_uclient, uclient_argv)
from aioice import stun  # noqa: E402

MESSAGES = 50
CLIENTS = 4
LENGTH = 160
INTERVAL_MS = 20
UCLIENT_TIMEOUT_S = 60  # sessions start 1-6 s apart (uclient), then 1 s of packets, then drain
SILENCE_S = 0.5         # how long garbage must stay unanswered


class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, ok, what, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", what,
                           (": " + str(detail)) if detail and not ok else ""), flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok


def uclient_case(c, relay, peer, logdir, name, username, password=None, secret=None, tcp=False,
                 send=False, rtcp_pairs=False):
    argv = uclient_argv(relay.spec.port, peer.port, username, password, MESSAGES, CLIENTS,
                        LENGTH, INTERVAL_MS, tcp=tcp, send_indications=send, secret=secret,
                        rtcp_pairs=rtcp_pairs)
    rc, text, s = run_uclient(argv, UCLIENT_TIMEOUT_S, os.path.join(logdir, name + ".log"))
    expected = MESSAGES * CLIENTS
    tail = " | ".join(text.strip().splitlines()[-6:])
    c.check(rc == 0, "%s: uclient exit 0" % name, "exit %s: %s" % (rc, tail))
    c.check(s.get("sent") == expected and s.get("received") == expected,
            "%s: sent = received = %d" % (name, expected),
            "sent %s received %s" % (s.get("sent"), s.get("received")))
    c.check(s.get("lost") == 0 and s.get("send_dropped") == 0, "%s: nothing lost" % name,
            "lost %s, send dropped %s" % (s.get("lost"), s.get("send_dropped")))
    print("     %s: rtt avg %s ms max %s ms, jitter avg %s ms" % (
        name, s.get("rtt_avg_ms"), s.get("rtt_max_ms"), s.get("jitter_avg_ms")), flush=True)


def uclient_matrix(c, relay, peer, logdir, phase, pairs):
    """pairs: {(tcp, send): (username, password, secret)}."""
    for (tcp, send), (username, password, secret) in pairs.items():
        name = "%s-uclient-%s-%s%s" % (phase, "tcp" if tcp else "udp",
                                       "send" if send else "channel",
                                       "-W" if secret is not None else "")
        uclient_case(c, relay, peer, logdir, name, username, password, secret, tcp, send)


def release(client):
    """Refresh 0 for a client holding an allocation (quotas stay clean)."""
    return error_code(client.refresh(0)) == 0


def phase_static(c, relay, peer, logdir):
    users = relay.spec.users
    uclient_matrix(c, relay, peer, logdir, "static", {
        (False, False): ("alice", users["alice"], None),
        (False, True): ("alice", users["alice"], None),
        (True, False): ("bob", users["bob"], None),
        (True, True): ("bob", users["bob"], None)})
    # uclient's default: RTP+RTCP allocation pairs through EVEN-PORT R / RESERVATION-TOKEN (the
    # RTCP allocation may land on another worker of the relay than the one holding the port).
    uclient_case(c, relay, peer, logdir, "static-uclient-udp-rtcp-pairs", "alice",
                 users["alice"], rtcp_pairs=True)
    port = relay.spec.port

    with StunClient(port) as s:
        r = s.challenge()
        c.check(error_code(r) == 401 and bool(s.realm) and bool(s.nonce),
                "wrong-password: unauthenticated Allocate -> 401 with REALM and NONCE",
                r and r.attributes)
        c.check(s.realm == relay.spec.realm, "wrong-password: REALM is the configured one",
                s.realm)
        s.login("alice", "not-" + users["alice"])
        r = s.allocate()
        c.check(error_code(r) == 401, "wrong-password: wrong password -> 401 again",
                r and r.attributes)
    # Each further credential on a 5-tuple of its own: coturn ties a 5-tuple to the first
    # username it authenticated (another one there gets 437).
    with StunClient(port) as s:
        r = s.allocate_with_auth("mallory", "whatever")
        c.check(error_code(r) == 401, "unknown-user: -> 401", r and r.attributes)

    with StunClient(port) as s:
        s.challenge()
        s.login("alice", users["alice"])
        bad = b"garbage-nonce-0123456789"
        m = s.authenticate(s.new(stun.Method.ALLOCATE,
                                 REQUESTED_TRANSPORT=turn_env.REQUESTED_TRANSPORT_UDP), nonce=bad)
        r = s.request(m)
        fresh = r.attributes.get("NONCE") if r is not None else None
        c.check(error_code(r) == 438, "bad-nonce: garbage NONCE -> 438", r and r.attributes)
        c.check(bool(fresh) and fresh != bad, "bad-nonce: 438 carries a NONCE, not the one sent",
                fresh)
        if fresh:
            s.nonce = fresh
        r = s.allocate()
        c.check(error_code(r) == 0, "bad-nonce: retry with that NONCE -> Allocate success",
                r and r.attributes)
        relayed = r.attributes.get("XOR-RELAYED-ADDRESS") if error_code(r) == 0 else None
        c.check(relayed is not None and relayed[0] == processes.LOOPBACK
                and relay.spec.port_min <= relayed[1] <= relay.spec.port_max,
                "bad-nonce: XOR-RELAYED-ADDRESS on 127.0.0.1 inside the port range", relayed)
        if error_code(r) == 0:
            c.check(release(s), "bad-nonce: Refresh 0 -> success")

    garbage_case(c, relay)


def garbage_case(c, relay):
    port = relay.spec.port
    garbage = [
        ("truncated header", b"\x00\x03\x00"),
        ("length past the datagram", b"\x00\x03\x00\x64\x21\x12\xa4\x42" + b"t" * 12),
        ("random bytes", bytes((i * 151 + 7) % 256 for i in range(64))),
        ("text", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("short ChannelData", b"\x40\x00\x00\x10abcd"),
        ("bad fingerprint", _bad_fingerprint_binding()),
    ]
    with StunClient(port) as s:
        for what, data in garbage:
            s.send_raw(data)
            answer = s.recv_raw(SILENCE_S)
            c.check(answer is None, "garbage: %s -> no answer" % what, answer)
        r = s.request(stun.Message(stun.Method.BINDING, stun.Class.REQUEST))
        c.check(error_code(r) == 0 and r.attributes.get("XOR-MAPPED-ADDRESS") == (
            processes.LOOPBACK, s.sock.getsockname()[1]),
            "garbage: then a Binding on the same 5-tuple -> XOR-MAPPED-ADDRESS", r and r.attributes)
    with StunClient(port) as s:
        r = s.allocate_with_auth("alice", relay.spec.users["alice"])
        c.check(error_code(r) == 0, "garbage: a new UDP allocation still works",
                r and r.attributes)
        if error_code(r) == 0:
            release(s)
    with StunClient(port, tcp=True) as s:
        s.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"z" * 64)
        answer = s.recv_raw(SILENCE_S)
        c.check(not answer, "garbage: TCP garbage stream -> no STUN answer (closed or silent)",
                answer)
    with StunClient(port, tcp=True) as s:
        r = s.allocate_with_auth("alice", relay.spec.users["alice"])
        c.check(error_code(r) == 0, "garbage: a new TCP connection gets an allocation",
                r and r.attributes)
        if error_code(r) == 0:
            release(s)
    c.check(relay.running(), "garbage: relay still running")


def _bad_fingerprint_binding():
    m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    m.attributes["FINGERPRINT"] = 0x12345678
    return bytes(m)


def phase_secret(c, relay, peer, logdir):
    spec = relay.spec
    username, password = relay.credentials("carol", ttl_s=3600)
    expiry, _, user = username.partition(":")
    expected_pw = base64.b64encode(hmac.new(spec.secret.encode(), username.encode(),
                                            hashlib.sha1).digest()).decode()
    c.check(user == "carol" and expiry.isdigit()
            and 3500 <= int(expiry) - time.time() <= 3700,
            "credentials: username <expiry>:carol, expiry = now + ttl", username)
    c.check(password == expected_pw, "credentials: password = base64(HMAC-SHA1(secret, username))",
            password)
    uclient_matrix(c, relay, peer, logdir, "secret", {
        (False, False): (username, password, None),
        (False, True): ("dave", None, spec.secret),
        (True, False): ("dave", None, spec.secret),
        (True, True): (username, password, None)})

    # One 5-tuple per credential (coturn ties a 5-tuple to the first username it saw).
    with StunClient(spec.port) as s:
        r = s.allocate_with_auth(*turn_env.rest_credentials(spec.secret, "carol", ttl_s=-60))
        c.check(error_code(r) == 401, "expired: expiry passed -> 401", r and r.attributes)
    with StunClient(spec.port) as s:
        r = s.allocate_with_auth(*turn_env.rest_credentials("not-" + spec.secret, "carol"))
        c.check(error_code(r) == 401, "wrong-secret: -> 401", r and r.attributes)
    with StunClient(spec.port) as s:
        r = s.allocate_with_auth(username, password)
        c.check(error_code(r) == 0, "secret: the issued pair allocates", r and r.attributes)
        if error_code(r) == 0:
            c.check(release(s), "secret: Refresh 0 -> success")


def phase_policy(c, relay):
    spec = relay.spec
    password = spec.users["alice"]
    clients = []
    try:
        s = StunClient(spec.port)
        clients.append(s)
        r = s.allocate_with_auth("alice", password)
        if not c.check(error_code(r) == 0, "policy: Allocate -> success", r and r.attributes):
            return
        for peer in ("127.0.0.1", "10.0.0.1", "224.0.0.1"):
            r = s.create_permission((peer, 5000))
            c.check(error_code(r) == 403, "forbidden-peers: CreatePermission %s -> 403" % peer,
                    r and r.attributes)
        r = s.create_permission(("8.8.8.8", 5000))
        c.check(error_code(r) == 0, "forbidden-peers: CreatePermission 8.8.8.8 -> success",
                r and r.attributes)
        for i in range(1, spec.per_user):
            s = StunClient(spec.port)
            clients.append(s)
            r = s.allocate_with_auth("alice", password)
            c.check(error_code(r) == 0, "quota: allocation %d of %d -> success"
                    % (i + 1, spec.per_user), r and r.attributes)
        s = StunClient(spec.port)
        clients.append(s)
        r = s.allocate_with_auth("alice", password)
        c.check(error_code(r) == 486, "quota: allocation %d -> 486" % (spec.per_user + 1),
                r and r.attributes)
        clients.pop().close()
        for s in clients:
            release(s)
    finally:
        for s in clients:
            s.close()


def phase_secret_quota(c, relay):
    """The per-user quota counts the user, not the username: pairs with other expiries of the
    same user do not get past it (coturn keys its quota the same way)."""
    spec = relay.spec
    clients = []
    try:
        for i in range(spec.per_user + 1):
            s = StunClient(spec.port)
            clients.append(s)
            r = s.allocate_with_auth(*turn_env.rest_credentials(spec.secret, "erin",
                                                                ttl_s=3600 + 7 * i))
            want = 0 if i < spec.per_user else 486
            c.check(error_code(r) == want, "secret-quota: erin's allocation %d (expiry +%d s) -> %s"
                    % (i + 1, 3600 + 7 * i, want or "success"), r and r.attributes)
        clients.pop().close()
        for s in clients:
            release(s)
    finally:
        for s in clients:
            s.close()


def run_phase(c, args, root, ports, name, spec, body):
    print("== phase %s (%s)" % (name, args.server), flush=True)
    workdir = os.path.join(root, name)
    os.makedirs(workdir, exist_ok=True)
    relay = make_relay(args.server, args.binary, os.path.join(workdir, "relay"), spec, ports)
    peer = TurnPeer(ports.get(), workdir)
    try:
        peer.start()
        relay.start()
        body(relay, peer, workdir)
        c.check(relay.running(), "%s: relay still running at the end" % name)
    except Exception as e:  # a harness failure is a failed check, with the relay's log kept
        c.check(False, "%s: harness" % name, "%s: %s" % (type(e).__name__, e))
    finally:
        rc = relay.stop()
        peer.stop()
        if args.server == "causeway":
            c.check(rc == 0, "%s: SIGTERM -> exit 0" % name, rc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("causeway", "coturn"), required=True)
    parser.add_argument("--binary", help="causeway binary, or turnserver (default %s)"
                        % turn_env.TURNSERVER)
    parser.add_argument("--log-dir", help="keep logs here (default: a temp dir, removed on pass)")
    args = parser.parse_args()
    if args.server == "causeway" and not args.binary:
        parser.error("--server causeway needs --binary")
    if args.binary:
        args.binary = os.path.abspath(args.binary)
    for tool in (turn_env.UCLIENT, turn_env.PEER) + (
            (turn_env.TURNSERVER,) if args.server == "coturn" and not args.binary else ()):
        if not os.access(tool, os.X_OK):
            print("skipped: %s is not installed (Debian package coturn)" % tool)
            return 77

    root = args.log_dir or tempfile.mkdtemp(prefix="turn-relay-%s-" % args.server)
    os.makedirs(root, exist_ok=True)
    ports = processes.PortAllocator()
    c = Checks()
    started = time.monotonic()
    try:
        run_phase(c, args, root, ports, "static",
                  RelaySpec(ports.get(), users={"alice": "Alice-pw-1", "bob": "Bob-pw-1"}),
                  lambda relay, peer, workdir: phase_static(c, relay, peer, workdir))
        run_phase(c, args, root, ports, "secret",
                  RelaySpec(ports.get(), secret="turn-test-secret-%d" % os.getpid()),
                  lambda relay, peer, workdir: phase_secret(c, relay, peer, workdir))
        run_phase(c, args, root, ports, "policy",
                  RelaySpec(ports.get(), users={"alice": "Alice-pw-1"}, allow_loopback=False,
                            per_user=3),
                  lambda relay, peer, workdir: phase_policy(c, relay))
        run_phase(c, args, root, ports, "secret-quota",
                  RelaySpec(ports.get(), secret="turn-quota-secret-%d" % os.getpid(), per_user=2),
                  lambda relay, peer, workdir: phase_secret_quota(c, relay))
    finally:
        print("%d passed, %d failed (%s, %.0f s)%s" % (
            c.passed, len(c.failed), args.server, time.monotonic() - started,
            "" if not c.failed else ": " + "; ".join(c.failed)))
        if c.failed or args.log_dir:
            print("logs in %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
