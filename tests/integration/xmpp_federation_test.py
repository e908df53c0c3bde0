#!/usr/bin/python3
"""XMPP federation end to end: a Lync user on causeway and an XMPP user on Prosody.

Inside a network namespace the test creates (xmpp_env.py):
  - a test DNS server: _xmpp-server._tcp SRV for lync.test -> 127.0.0.3:5269 (causeway) and
    xmpp.test -> 127.0.0.2:5269 (Prosody), so the two servers find each other as in production;
  - a test CA with certificates for both domains (s2s authenticates by certificate, SASL EXTERNAL);
  - Prosody 0.12 (Debian) serving xmpp.test, user bob, driven by a slixmpp client;
  - causeway serving lync.test (SIP TLS on 127.0.0.3:5061, [xmpp] mode s2s on 127.0.0.3:5269),
    user alice signed in with pidgin-sipe (tests/lync_client's sipe_driver), the real Lync client.

Cases (each reports what it saw; a failure names the step):
  subscribe   alice adds bob (SIP SERVICE setContact) -> bob gets <presence type=subscribe/> from
              alice@lync.test, accepts and asks back -> alice's list shows bob online and bob
              receives alice's presence
  presence    every availability class both ways: Lync states -> XMPP show/status, XMPP show ->
              the Lync state SIPE reports, notes as status texts
  chat        IMs both ways with non-ASCII text intact, typing <-> XEP-0085 composing
  receipts    bob's message with a XEP-0184 request is answered <received/> once SIPE took it
  errors      bob -> nobody@lync.test gets a stanza error; alice -> sip:nobody@xmpp.test gets
              SIPE's undelivered-message error
  outage      Prosody stopped: alice's IM to bob fails back to alice (never silence); Prosody
              back: the next IM is delivered

--mode component runs the same cases with causeway as Prosody's XEP-0114 component
"lync.xmpp.test" ([xmpp] mode = "component", domains = ["lync.test=lync.xmpp.test"]) instead of an
s2s peer: alice is alice@lync.xmpp.test on the XMPP side (still sip:alice@lync.test on the SIP
side), and Prosody stopped means the component link is down.

Run as root (namespaces): /usr/bin/python3 tests/integration/xmpp_federation_test.py
    --causeway build/X/gateway/causeway --driver build/X/tests/lync_client/sipe_driver
    [--mode s2s|component]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lync_client"))

from lync_sipe_test import CaseFailure, check, wait_contact_list_loaded  # noqa: E402
from sipe_client import SipeClient  # noqa: E402
import processes  # noqa: E402
from processes import wait_until  # noqa: E402
from xmpp_env import DnsServer, EnvError, Netns, Prosody, TestPki, XmppClient  # noqa: E402

LYNC = "lync.test"
XMPP = "xmpp.test"
LYNC_IP = "127.0.0.3"
XMPP_IP = "127.0.0.2"
SIP_TLS_PORT = 5061
ALICE = ("alice", "Alice-pw-1", "Alice Lync")
BOB = ("bob", "Bob-pw-1")
ALICE_URI = "sip:alice@%s" % LYNC
BOB_URI = "sip:bob@%s" % XMPP
COMPONENT = "lync.xmpp.test"
COMPONENT_SECRET = "component-secret-1"
COMPONENT_PORT = 5347
COMPONENT_LINK_UP = 'component=xmpp msg="component link up"'
BOB_JID = "bob@%s" % XMPP
START_TIMEOUT_S = 20
EVENT_TIMEOUT_S = 15
SIGN_IN_TIMEOUT_S = 20

# Lync state set by SIPE -> (XMPP <show/>, the state SIPE reports back for that show).
LYNC_TO_XMPP = [("busy", "dnd"), ("dnd", "dnd"), ("brb", "away"), ("away", "xa"),
                ("available", "")]
# XMPP <show/> -> the SIPE status id alice sees (presence_map.h: the reverse table).
XMPP_TO_LYNC = [("dnd", "do-not-disturb"), ("away", "be-right-back"), ("xa", "away"),
                ("chat", "available"), (None, "available")]


class Causeway(processes.Causeway):
    """causeway in the namespace, serving lync.test with the test CA's certificate, SIP on
    LYNC_IP, XMPP federation with xmpp.test as Prosody's s2s peer or its XEP-0114 component."""

    def __init__(self, netns, binary, workdir, pki, mode):
        self.cert, self.key = pki.cert(LYNC)
        config = ('[sip]\ndomains = ["%s"]\nudp = []\ntcp = ["%s:5060"]\ntls = ["%s:%d"]\n\n'
                  '[tls]\ncertificate = "%s"\nkey = "%s"\nca = "%s"\n\n'
                  '[xmpp]\nfederation = "allow-list"\nfederated_domains = ["%s"]\n'
                  'receipt_wait_ms = 3000\n'
                  % (LYNC, LYNC_IP, LYNC_IP, SIP_TLS_PORT, self.cert, self.key, pki.ca, XMPP))
        if mode == "component":
            config += ('mode = "component"\ndomains = ["%s=%s"]\ncomponent_host = "%s"\n'
                       'component_port = %d\ncomponent_secret = "%s"\ncomponent_domain = "%s"\n'
                       % (LYNC, COMPONENT, XMPP_IP, COMPONENT_PORT, COMPONENT_SECRET, COMPONENT))
        else:
            config += 'mode = "s2s"\nlisten = ["%s:5269"]\n' % LYNC_IP
        super().__init__(binary, workdir, config, spawn_prefix=netns.argv(),
                         start_timeout_s=START_TIMEOUT_S)


class World:
    def __init__(self, args, workdir):
        self.args = args
        self.dir = workdir
        # The XMPP domain of causeway's users: its own (s2s) or the component's.
        self.lync_xmpp_domain = COMPONENT if args.mode == "component" else LYNC
        self.alice_jid = "alice@%s" % self.lync_xmpp_domain
        self.ns = None
        self.dns = None
        self.pki = None
        self.prosody = None
        self.causeway = None
        self.alice = None
        self.bob = None

    def start(self):
        self.ns = Netns()
        self.ns.create()
        self.pki = TestPki(os.path.join(self.dir, "pki"))
        self.dns = DnsServer(self.ns, workdir=self.dir)
        self.dns.add_xmpp_domain(XMPP, XMPP_IP)
        self.dns.add_xmpp_domain(LYNC, LYNC_IP)
        self.dns.start()
        component = ((COMPONENT, COMPONENT_SECRET, COMPONENT_PORT)
                     if self.args.mode == "component" else None)
        self.prosody = Prosody(self.ns, XMPP, XMPP_IP, self.pki, os.path.join(self.dir, "prosody"),
                               users={BOB[0]: BOB[1]}, component=component)
        self.prosody.start()
        self.causeway = Causeway(self.ns, self.args.causeway, os.path.join(self.dir, "causeway"),
                                 self.pki, self.args.mode)
        self.causeway.add_user(ALICE_URI, ALICE[1], ALICE[2])
        self.causeway.start()
        self.bob = XmppClient(self.ns, BOB_JID, BOB[1], XMPP_IP, self.prosody.c2s_port,
                              self.pki.ca, log_path=os.path.join(self.dir, "bob.log"))
        self.bob.start()
        self.bob.connect()
        self.alice = SipeClient(self.args.driver, user=ALICE_URI, password=ALICE[1],
                                login="%s@%s" % (ALICE[0], LYNC),
                                server="%s:%d" % (LYNC_IP, SIP_TLS_PORT),
                                trust_cert=self.causeway.cert,
                                debug_file=os.path.join(self.dir, "alice.sipe-debug.log"),
                                prefix=self.ns.argv())
        self.alice.tag = "alice"
        self.alice.start()
        self.alice.wait_for("signed_on", timeout=SIGN_IN_TIMEOUT_S)
        wait_contact_list_loaded(self.alice)

    def stop(self):
        for step in (lambda: self.alice and self.alice.stop(),
                     lambda: self.bob and self.bob.close(),
                     lambda: self.causeway and self.causeway.stop(),
                     lambda: self.prosody and self.prosody.stop(),
                     lambda: self.dns and self.dns.stop(),
                     lambda: self.ns and self.ns.destroy()):
            try:
                step()
            except Exception as e:  # keep stopping the rest
                print("cleanup: %s" % e, file=sys.stderr)


def status_of(world, uri, timeout=EVENT_TIMEOUT_S, predicate=None):
    return world.alice.wait_for("buddy_status", lambda e: e["uri"] == uri and
                                (predicate is None or predicate(e)), timeout=timeout)


# ---- cases

def case_subscribe(w):
    w.alice.send("add %s Federated" % BOB_URI)
    w.alice.wait_for("buddy_added", lambda e: e["uri"] == BOB_URI, timeout=EVENT_TIMEOUT_S)
    request = w.bob.wait_subscription_request(frm=w.alice_jid, timeout=EVENT_TIMEOUT_S)
    w.bob.accept_subscription(w.alice_jid, subscribe_back=True)
    # bob's approval brings his presence to alice; alice has bob as a contact, which approves
    # bob's request: alice's presence reaches bob.
    try:
        status_of(w, BOB_URI, predicate=lambda e: e.get("online"))
    except TimeoutError as e:
        raise CaseFailure("alice never saw bob online: %s" % str(e)[:600])
    subscribed = w.bob.wait_presence(frm=w.alice_jid, ptype="subscribed", timeout=EVENT_TIMEOUT_S)
    presence = w.bob.wait_presence(frm=w.alice_jid, predicate=lambda e: e.get("type") in ("", None),
                                   timeout=EVENT_TIMEOUT_S)
    roster = w.bob.roster()
    item = roster.get(w.alice_jid, {})
    check(item.get("subscription") == "both", "bob's roster item for alice: %r" % item)
    return "bob asked by %s, alice sees bob online, bob's roster: both, alice's presence %r" % (
        request.get("from"), presence.get("show") or "available")


def case_presence(w):
    seen = []
    for n, (lync_state, show) in enumerate(LYNC_TO_XMPP):
        note = "Café ☕ %s #%d" % (lync_state, n)
        w.alice.send("status %s %s" % (lync_state, note))
        try:
            w.bob.wait_presence(frm=w.alice_jid, predicate=lambda e, s=show, t=note:
                                (e.get("show") or "") == s and e.get("status") == t and
                                e.get("type") in ("", None), timeout=EVENT_TIMEOUT_S)
        except EnvError as e:
            raise CaseFailure("alice set %s %r; bob never saw show=%r with that status: %s"
                              % (lync_state, note, show, str(e)[:600]))
        seen.append("%s->%s" % (lync_state, show or "(none)"))
    for n, (show, sipe_status) in enumerate(XMPP_TO_LYNC):
        note = "Grüße %s #%d" % (show, n)
        w.alice.skip("buddy_status")
        w.bob.send_presence(show=show, status=note)
        try:
            status_of(w, BOB_URI, predicate=lambda e, s=sipe_status, t=note:
                      e["status"] == s and t in (e.get("message") or ""))
        except TimeoutError as e:
            raise CaseFailure("bob set show=%r %r; alice never saw %s with that note: %s"
                              % (show, note, sipe_status, str(e)[:600]))
        seen.append("%s->%s" % (show or "(none)", sipe_status))
    return ", ".join(seen)


def case_chat(w):
    text1 = "Grüße, Bob ☕ <b>not bold</b> & 1 < 2"
    text2 = "Merci Alice — çà & là 漢字"
    w.alice.send("im %s %s" % (BOB_URI, text1))
    got = w.bob.wait_message(lambda e: e.get("body"), frm=w.alice_jid, timeout=EVENT_TIMEOUT_S)
    check(got["body"] == text1, "bob received %r, alice sent %r" % (got["body"], text1))
    w.bob.send_message(w.alice_jid, text2)
    got = w.alice.wait_for("im_received", lambda e: e["from"] == BOB_URI, timeout=EVENT_TIMEOUT_S)
    check(got["text"] == text2, "alice received %r, bob sent %r" % (got["text"], text2))
    w.bob.send_chat_state(w.alice_jid, "composing")
    w.alice.wait_for("typing", lambda e: e["from"] == BOB_URI and e["state"] == "typing",
                     timeout=EVENT_TIMEOUT_S)
    w.alice.send("typing %s" % BOB_URI)
    w.bob.wait_message(lambda e: e.get("chat_state") == "composing", frm=w.alice_jid,
                       timeout=EVENT_TIMEOUT_S)
    return "IMs both ways intact, typing both ways"


def case_receipts(w):
    msg_id = w.bob.send_message(w.alice_jid, "please confirm", request_receipt=True)
    w.alice.wait_for("im_received", lambda e: e["from"] == BOB_URI and
                     e["text"] == "please confirm", timeout=EVENT_TIMEOUT_S)
    w.bob.wait_message(lambda e: e.get("receipt") == msg_id, frm=w.alice_jid,
                       timeout=EVENT_TIMEOUT_S)
    return "receipt for %s" % msg_id


def case_errors(w):
    nobody = "nobody@%s" % w.lync_xmpp_domain
    w.bob.send_message(nobody, "anyone there?")
    err = w.bob.wait_error(frm=nobody, timeout=EVENT_TIMEOUT_S)
    condition = (err.get("error") or {}).get("condition")
    check(condition in ("item-not-found", "service-unavailable"),
          "bob's error condition %r" % condition)
    # Someone who is not signed in cannot write to XMPP users under a Lync name: as a directory
    # user it is challenged (407), as another name of our domain it is refused (403).
    for n, (sender, want) in enumerate(((ALICE_URI, "407"), ("sip:ghost@%s" % LYNC, "403"))):
        spoof = ("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/TCP %s:5099;branch=z9hG4bKspoof%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <%s>;tag=sp\r\nTo: <%s>\r\n"
                 "Call-ID: spoof%d@test\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 5\r\n\r\nspoof" % (BOB_URI, LYNC_IP, n, sender, BOB_URI, n))
        answer = w.ns.run("/usr/bin/python3", "-c", SEND_RAW_SIP, LYNC_IP, "5060", spoof).stdout
        check(answer.startswith("SIP/2.0 " + want),
              "unauthenticated MESSAGE from %s answered %r, want %s" % (sender, answer, want))
    time.sleep(0.3)
    leaked = [e for e in w.bob.drain() if e.get("body") == "spoof"]
    check(not leaked, "bob received a spoofed message")
    w.alice.skip("im_error")
    w.alice.send("im sip:nobody@%s hello?" % XMPP)
    w.alice.wait_for("im_error", lambda e: "nobody@" in e.get("to", ""), timeout=EVENT_TIMEOUT_S)
    return "xmpp->lync %s, unauthenticated SIP senders 407/403, lync->xmpp im_error" % condition


# Sends one SIP request over TCP (argv: host port text) and prints the first final status line.
SEND_RAW_SIP = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].encode())
data, deadline = b"", time.monotonic() + 5
while time.monotonic() < deadline:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
    finals = [l for l in data.decode(errors="replace").split("\\r\\n")
              if l.startswith("SIP/2.0 ") and not l.startswith("SIP/2.0 1")]
    if finals:
        print(finals[0])
        break
"""


def case_outage(w):
    links_up = w.causeway.log().count(COMPONENT_LINK_UP)
    w.prosody.stop()
    w.alice.skip("im_error")
    w.alice.send("im %s while you are down" % BOB_URI)
    try:
        w.alice.wait_for("im_error", lambda e: BOB_URI in e.get("to", ""), timeout=40)
    except TimeoutError as e:
        raise CaseFailure("alice's IM to a stopped server: no error: %s" % str(e)[:600])
    w.prosody.start()
    if w.args.mode == "component":
        # The component reconnects on its own back-off; an IM before that fails like the first.
        if not wait_until(lambda: w.causeway.log().count(COMPONENT_LINK_UP) > links_up, 30):
            raise CaseFailure("the component link did not come back within 30 s")
    w.bob.close()
    w.bob = XmppClient(w.ns, BOB_JID, BOB[1], XMPP_IP, w.prosody.c2s_port, w.pki.ca,
                       log_path=os.path.join(w.dir, "bob2.log"))
    w.bob.start()
    w.bob.connect()
    w.alice.send("im %s welcome back" % BOB_URI)
    w.bob.wait_message(lambda e: e.get("body") == "welcome back", frm=w.alice_jid, timeout=30)
    return "error while down, delivered after restart"


CASES = [("subscribe", case_subscribe), ("presence", case_presence), ("chat", case_chat),
         ("receipts", case_receipts), ("errors", case_errors), ("outage", case_outage)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--causeway", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--mode", choices=("s2s", "component"), default="s2s",
                        help="causeway's [xmpp] mode: an s2s peer of Prosody or its component")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--only", help="comma-separated case names (after setup)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        return 77
    Netns.clean_stale()
    workdir = tempfile.mkdtemp(prefix="cw-xmpp-fed-")
    world = World(args, workdir)
    failures = 0
    try:
        try:
            world.start()
        except Exception:
            traceback.print_exc()
            print("FAIL setup; causeway log tail:\n%s" % (
                world.causeway.log()[-4000:] if world.causeway else ""))
            return 1
        only = set(args.only.split(",")) if args.only else None
        for name, case in CASES:
            if only and name not in only:
                continue
            started = time.monotonic()
            try:
                detail = case(world)
                print("PASS %-10s %.1fs %s" % (name, time.monotonic() - started, detail))
            except (CaseFailure, EnvError, TimeoutError) as e:
                failures += 1
                print("FAIL %-10s %.1fs %s" % (name, time.monotonic() - started, e))
            sys.stdout.flush()
        if failures:
            print("causeway log tail:\n%s" % world.causeway.log()[-6000:])
    finally:
        world.stop()
        if args.keep or failures:
            print("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
