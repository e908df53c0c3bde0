#!/usr/bin/python3
"""Self-check of tests/integration/xmpp_env.py with Prosody alone (no causeway), as root.

One network namespace; the test DNS server answers SRV/A for a.test (Prosody on 127.0.0.2),
b.test (Prosody on 127.0.0.3) and c.test (127.0.0.4, nothing listens). Both Prosodies require
certificate authentication for s2s (s2s_secure_auth) with the test CA. alice@a.test and bob@b.test:

  1-unbound-srv      libunbound, configured as in Prosody's config, resolves the SRV via our DNS
  2-login            both clients log in over STARTTLS (test CA) on the pinned addresses
  3-subscribe        alice <-> bob mutual subscription, rosters say "both", each sees the other
  4-presence         bob goes away with a status, then dnd; alice sees show/status
  5-chat             a->b and b->a chat with receipt request (+chat state, XHTML-IM): body, state,
                     XHTML intact, receipt for the right id comes back
  6-cert-auth        both Prosody logs show s2s certificate identity validation "valid"
  7-unreachable      message to nobody@c.test -> error (remote-server-not-found or -timeout),
                     bounded, after a.test tried c.test's SRV target
  8-restart          b.test stopped: alice's message to bob gets an error; b.test started again, bob
                     logs in again: a new message arrives
  9-dialback         d.test and e.test (127.0.0.5/.6) trust another CA and allow dialback
                     (s2s_secure_auth = false): a message crosses, e.test verified a dialback key
  10-component       d.test's component port (XEP-0114): a raw component completes the handshake
                     and receives dave's message to echo@gw.d.test

Prints PASS/FAIL per case, then "N passed, N failed"; exit status 0 only if all pass.
  /usr/bin/python3 tests/integration/xmpp_env_selftest.py [--keep] [--log-dir DIR]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xmpp_env  # noqa: E402
from xmpp_env import DnsServer, EnvError, Netns, Prosody, TestPki, XmppClient  # noqa: E402

A, B, C, D, E = "a.test", "b.test", "c.test", "d.test", "e.test"
A_ADDR, B_ADDR, C_ADDR = "127.0.0.2", "127.0.0.3", "127.0.0.4"
D_ADDR, E_ADDR = "127.0.0.5", "127.0.0.6"
ALICE, BOB = "alice@a.test", "bob@b.test"
ERROR_WAIT_S = 20  # Prosody's s2s connect to a closed port fails at once; 20 s bounds a stall

COMPONENT = ("gw.d.test", "component-secret", 5347)

# A bare XEP-0114 component: handshake, then print the first stanza it receives (one line).
COMPONENT_PROBE = r"""
import hashlib, re, socket, sys
host, port, name, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=10)
s.sendall(("<stream:stream xmlns='jabber:component:accept' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % name).encode())
data = b""
while b"id=" not in data or not re.search(rb"<stream:stream[^>]*>", data):
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("closed before stream header: %r" % data)
    data += chunk
sid = re.search(rb"\bid=(['\x22])(.*?)\1", data).group(2).decode()
digest = hashlib.sha1((sid + secret).encode()).hexdigest()
s.sendall(("<handshake>%s</handshake>" % digest).encode())
data = b""
while b"<handshake" not in data:
    chunk = s.recv(4096)
    if not chunk or b"stream:error" in chunk:
        sys.exit("handshake refused: %r" % (data + chunk))
    data += chunk
print("HANDSHAKE OK", flush=True)
data = b""
while b"</message>" not in data:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("closed: %r" % data)
    data += chunk
print(" ".join(data.decode().splitlines()), flush=True)
"""

UNBOUND_PROBE = r"""
local u = require "lunbound"
local ctx = u.new{ resolvconf = true; hoststxt = false; async = false;
  options = { ["local-zone:"] = "test. transparent"; ["do-not-query-localhost:"] = "no" } }
local r = ctx:resolve(arg[1], 33, 1)
print(r.rcode, r.n, r[1] and #r[1] or 0)
"""

CASE_NAMES = ["1-unbound-srv", "2-login", "3-subscribe", "4-presence", "5-chat", "6-cert-auth",
              "7-unreachable", "8-restart", "9-dialback", "10-component"]


class Case:
    def __init__(self, name, fn):
        self.name = name
        self.fn = fn


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def run_selftest(work, log_dir):
    results = []
    ns = Netns()
    dns = None
    prosodies = []
    clients = []
    try:
        ns.create()
        pki = TestPki(os.path.join(work, "pki"))
        dns = DnsServer(ns, workdir=work)
        dns.add_xmpp_domain(A, A_ADDR)
        dns.add_xmpp_domain(B, B_ADDR)
        dns.add_xmpp_domain(C, C_ADDR)
        dns.add_xmpp_domain(D, D_ADDR)
        dns.add_xmpp_domain(E, E_ADDR)
        dns.start()
        pa = Prosody(ns, A, A_ADDR, pki, os.path.join(log_dir, "prosody-a"),
                     users={"alice": "alice-pw"})
        pb = Prosody(ns, B, B_ADDR, pki, os.path.join(log_dir, "prosody-b"),
                     users={"bob": "bob-pw"})
        prosodies += [pa, pb]
        env = {"ns": ns, "pki": pki, "pa": pa, "pb": pb, "clients": clients, "log_dir": log_dir}

        def client(jid, password, prosody, tag):
            c = XmppClient(ns, jid, password, prosody.address, prosody.c2s_port, pki.ca,
                           log_path=os.path.join(log_dir, "client-%s.log" % tag))
            clients.append(c)
            c.start()
            c.connect()
            return c

        env["client"] = client

        def case_unbound_srv():
            probe = os.path.join(work, "unbound_probe.lua")
            with open(probe, "w", encoding="ascii") as f:
                f.write(UNBOUND_PROBE)
            out = ns.run("lua5.4", probe, "_xmpp-server._tcp.b.test", timeout=20)
            fields = out.stdout.split()
            check(fields[:2] == ["0", "1"], "SRV via libunbound: rcode/n = %s" % fields)

        def case_login():
            pa.start()
            pb.start()
            # The PID the harness stops must be Prosody's own (ip netns exec execs).
            pidfile = os.path.join(pa.dir, "prosody.pid")
            check(xmpp_env.wait_until(lambda: os.path.exists(pidfile), 5), "no pidfile")
            with open(pidfile, encoding="ascii") as f:
                check(int(f.read().strip()) == pa.proc.pid, "pidfile != Popen pid")
            env["alice"] = client(ALICE, "alice-pw", pa, "alice")
            env["bob"] = client(BOB, "bob-pw", pb, "bob")

        def case_subscribe():
            alice, bob = env["alice"], env["bob"]
            alice.subscribe(BOB)
            bob.wait_subscription_request(frm=ALICE, timeout=15)
            bob.accept_subscription(ALICE, subscribe_back=True)
            alice.wait_presence(frm=BOB, ptype="subscribed", timeout=15)
            alice.wait_subscription_request(frm=BOB, timeout=15)
            alice.accept_subscription(BOB)
            bob.wait_presence(frm=ALICE, ptype="subscribed", timeout=15)
            # After "subscribed", each server sends the contact's current presence (probe).
            alice.wait_presence(frm=BOB, ptype="", timeout=15)
            bob.wait_presence(frm=ALICE, ptype="", timeout=15)
            for who, other in ((alice, BOB), (bob, ALICE)):
                roster = who.roster()
                check(roster.get(other, {}).get("subscription") == "both",
                      "%s roster: %s" % (who.jid, roster))

        def case_presence():
            alice, bob = env["alice"], env["bob"]
            alice.drain()
            bob.send_presence(show="away", status="Café ☕ back soon")
            p = alice.wait_presence(frm=BOB, ptype="", timeout=10)
            check(p["show"] == "away" and p["status"] == "Café ☕ back soon", "got %s" % p)
            bob.send_presence(show="dnd", status="in a call", priority=5)
            p = alice.wait_presence(frm=BOB, ptype="", timeout=10)
            check(p["show"] == "dnd" and p["status"] == "in a call" and p["priority"] == 5,
                  "got %s" % p)

        def exchange(sender, receiver, receiver_jid, text):
            msg_id = sender.send_message(receiver_jid, text, chat_state="active",
                                         request_receipt=True,
                                         xhtml="<p>%s <b>bold</b></p>" % "hello")
            got = receiver.wait_message(lambda m: m["body"], frm=sender.jid, timeout=15)
            check(got["body"] == text, "body %r != %r" % (got["body"], text))
            check(got["id"] == msg_id, "id %r != %r" % (got["id"], msg_id))
            check(got["receipt_request"], "no receipt request arrived: %s" % got["xml"])
            check(got["chat_state"] == "active", "chat state %r" % got["chat_state"])
            check("<b>bold</b>" in got["xhtml"], "xhtml %r" % got["xhtml"])
            ack = sender.wait_message(lambda m: m["receipt"], frm=receiver_jid, timeout=15)
            check(ack["receipt"] == msg_id, "receipt for %r, sent %r" % (ack["receipt"], msg_id))

        def case_chat():
            alice, bob = env["alice"], env["bob"]
            exchange(alice, bob, BOB, "hi bob < & > \" ' é")
            exchange(bob, alice, ALICE, "hi alice 😀")

        def case_cert_auth():
            for p, peer in ((pa, B), (pb, A)):
                log = p.log_text()
                check("SASL EXTERNAL with %s succeeded" % peer in log,
                      "%s: no SASL EXTERNAL with %s in %s" % (p.domain, peer, p.log_path))
                check("certificate identity validation result: valid" in log,
                      "%s: no valid certificate identity in %s" % (p.domain, p.log_path))
                check("certificate identity validation result: invalid" not in log,
                      "%s: an invalid certificate identity in %s" % (p.domain, p.log_path))

        def case_unreachable():
            alice = env["alice"]
            start = time.monotonic()
            msg_id = alice.send_message("nobody@c.test", "anyone there?")
            err = alice.wait_error(lambda e: e["event"] == "message", frm="nobody@c.test",
                                   timeout=ERROR_WAIT_S)
            took = time.monotonic() - start
            check(err["error"]["condition"] in ("remote-server-not-found", "remote-server-timeout"),
                  "condition %s" % err["error"])
            check(err["id"] == msg_id, "error for id %r, sent %r" % (err["id"], msg_id))
            # The error must come from trying the SRV target, not from a failed lookup.
            check("Next target to try is %s:5269" % C_ADDR in pa.log_text(),
                  "a.test never tried %s:5269 (SRV of c.test); see %s" % (C_ADDR, pa.log_path))
            print("    error %s after %.2f s" % (err["error"]["condition"], took))

        def case_restart():
            alice = env["alice"]
            env["bob"].close()
            check(pb.stop() is not None, "b.test was not running")
            msg_id = alice.send_message(BOB, "are you there?")
            err = alice.wait_error(lambda e: e["event"] == "message" and e["id"] == msg_id,
                                   frm=BOB, timeout=ERROR_WAIT_S)
            print("    while stopped: %s" % err["error"]["condition"])
            pb.start()
            bob = env["bob"] = client(BOB, "bob-pw", pb, "bob2")
            alice.send_message(BOB, "welcome back")
            got = bob.wait_message(lambda m: m["body"] == "welcome back", frm=ALICE, timeout=15)
            check(got["type"] == "chat", "got %s" % got)

        def case_dialback():
            # d.test and e.test trust only another CA: certificates cannot authenticate, and with
            # s2s_secure_auth = false the servers fall back to dialback (XEP-0220).
            other_ca = TestPki(os.path.join(work, "pki-other"))
            pd = Prosody(ns, D, D_ADDR, pki, os.path.join(log_dir, "prosody-d"),
                         users={"dave": "dave-pw"}, secure_auth=False, trust_ca=other_ca.ca,
                         component=COMPONENT)
            pe = Prosody(ns, E, E_ADDR, pki, os.path.join(log_dir, "prosody-e"),
                         users={"erin": "erin-pw"}, secure_auth=False, trust_ca=other_ca.ca)
            prosodies.extend([pd, pe])
            pd.start()
            pe.start()
            dave = env["dave"] = client("dave@d.test", "dave-pw", pd, "dave")
            erin = client("erin@e.test", "erin-pw", pe, "erin")
            dave.send_message("erin@e.test", "dialback works")
            got = erin.wait_message(lambda m: m["body"], frm="dave@d.test", timeout=15)
            check(got["body"] == "dialback works", "got %s" % got)
            check("verified dialback key... it is valid" in pe.log_text(),
                  "e.test did not verify a dialback key (%s)" % pe.log_path)
            check("certificate chain validation result: invalid" in pe.log_text(),
                  "e.test's peer certificate verified although its CA is not trusted")

        def case_component():
            # d.test's XEP-0114 listener: a raw component (inside the namespace) completes the
            # handshake and receives a message dave sends to it.
            script = os.path.join(work, "component_probe.py")
            with open(script, "w", encoding="ascii") as f:
                f.write(COMPONENT_PROBE)
            probe = ns.spawn(xmpp_env.PYTHON, script, D_ADDR, str(COMPONENT[2]), COMPONENT[0],
                             COMPONENT[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
            try:
                line = xmpp_env.readline_bounded(probe.stdout, 10)
                check(line.strip() == "HANDSHAKE OK", "component handshake: %r" % line)
                env["dave"].send_message("echo@" + COMPONENT[0], "to the component")
                line = xmpp_env.readline_bounded(probe.stdout, 10)
                check("to the component" in line and "dave@d.test" in line,
                      "component got %r" % line)
            finally:
                xmpp_env.stop_process(probe, 3)
                probe.stdout.close()

        cases = [Case("1-unbound-srv", case_unbound_srv), Case("2-login", case_login),
                 Case("3-subscribe", case_subscribe), Case("4-presence", case_presence),
                 Case("5-chat", case_chat), Case("6-cert-auth", case_cert_auth),
                 Case("7-unreachable", case_unreachable), Case("8-restart", case_restart),
                 Case("9-dialback", case_dialback), Case("10-component", case_component)]
        for case in cases:
            start = time.monotonic()
            try:
                case.fn()
                ok, reason = True, ""
            except (Failed, EnvError, subprocess.SubprocessError, OSError, KeyError) as e:
                ok, reason = False, "%s: %s" % (type(e).__name__, e)
            took = time.monotonic() - start
            print("%s %s (%.2f s)%s" % ("PASS" if ok else "FAIL", case.name, took,
                                        ": " + reason if reason else ""), flush=True)
            results.append(ok)
            if not ok and case.name == "2-login":
                break  # nothing after it can run
    finally:
        for c in clients:
            c.close()
        for p in prosodies:
            p.stop()
        if dns:
            dns.stop()
        ns.destroy()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-dir", help="keep configs and logs here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir even on success")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces)")
        return 77
    work = tempfile.mkdtemp(prefix="xmpp-env-selftest-")
    log_dir = args.log_dir or work
    os.makedirs(log_dir, exist_ok=True)
    started = time.monotonic()
    try:
        results = run_selftest(work, log_dir)
    except Exception:  # setup failure: report it as a failed run, cleanup already done
        traceback.print_exc()
        results = [False]
    passed = sum(results)
    failed = len(results) - passed
    print("%d passed, %d failed (%.1f s)" % (passed, failed, time.monotonic() - started))
    if failed or args.keep:
        print("logs: %s" % log_dir)
    elif not args.log_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if failed == 0 and passed == len(CASE_NAMES) else 1


if __name__ == "__main__":
    sys.exit(main())
