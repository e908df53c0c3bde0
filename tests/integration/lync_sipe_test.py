#!/usr/bin/python3
"""Real-client integration test: pidgin-sipe (through sipe_driver) and sipp against causeway's
Lync front end.

  lync_sipe_test.py --causeway build/X/gateway/causeway \
      --driver build/X/tests/lync_client/sipe_driver [--log-dir DIR] [--only N,N...]

Starts causeway on free 127.0.0.1 ports with a temporary state dir and users alice, bob, carol
(and dave, who never signs in), then runs the cases below in order. Each case prints PASS or FAIL
with a reason; later cases set up what they need themselves, so one failure does not hide the
others. Exit status 1 if any case fails. Every process started here is stopped by PID; every wait
is bounded. Logs (causeway.log, SIPE --debug-file per client, driver output, sipp traces) go to
--log-dir, or to a temp dir that is kept (and printed) only when a case fails.

SIPE clients (NTLM over TLS, MS-SIPAE signatures):
  1 sign-in: alice and bob sign in; a wrong password and a user not in the directory are refused
  2 presence: alice adds bob to "Friends", sees every availability bob sets, with his note
  3 endpoints: a second alice endpoint gets the contact list; a removal on one reaches the other
  4 im: IM and typing both ways, non-ASCII and HTML special characters
  5 offline: bob signs out, alice sees him offline; an IM to offline bob is an error
  6 restart: SIGTERM -> exit 0, restart on the same state dir; alice's contact list persisted
  7 fork: a sipp endpoint of bob (Digest, own epid and +sip.instance) next to SIPE-bob; alice's
    IM INVITE forks to both, SIPE answers, the sipp endpoint gets CANCEL (MS-OCSPROT 2.5.11)
sipp only (standard SIP client over TCP, Digest):
  8 digest-register: 401 -> 200 with the right password
  9 digest-wrong-password: 403 or a new 401, never 200
 10 subscribe-bad-event: SUBSCRIBE with an unknown Event -> 489
 11 service-malformed: SERVICE with a malformed SOAP body -> 400, the roaming contact list is
    unchanged (compared through SUBSCRIBE vnd-microsoft-roaming-contacts before and after)
"""

import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lync_client"))
from sipe_client import SipeClient  # noqa: E402

sys.path.insert(0, HERE)  # also when imported from elsewhere (xmpp_federation_test)
from processes import (LOOPBACK, Causeway, PortAllocator, read_text, spawn,  # noqa: E402
                       stop_process)

DOMAIN = "example.test"
USERS = {  # user part -> (password, display name)
    "alice": ("Alice-pw-1", "Alice A"),
    "bob": ("Bob-pw-2", "Bob B"),
    "carol": ("Carol-pw-3", "Carol C"),
    "dave": ("Dave-pw-4", "Dave D"),
}
SIGN_IN_TIMEOUT_S = 30
EVENT_TIMEOUT_S = 15
SIPP_TIMEOUT_S = 20

# Availability classes the driver offers -> the SIPE status id alice must see.
STATUS_CLASSES = [("busy", "busy"), ("dnd", "do-not-disturb"), ("brb", "be-right-back"),
                  ("away", "away"), ("available", "available")]


def uri(user):
    return "sip:%s@%s" % (user, DOMAIN)


class CaseFailure(Exception):
    pass


def check(cond, reason):
    if not cond:
        raise CaseFailure(reason)


# ---------------------------------------------------------------------------------------------
# causeway

def causeway_config(sip_port, tls_port):
    """causeway's own sections: SIP on loopback (UDP and TCP share `sip_port`), TLS with the
    self-signed certificate causeway makes on first start."""
    return '[sip]\nudp = ["%s:%d"]\ntcp = ["%s:%d"]\ntls = ["%s:%d"]\n' % (
        LOOPBACK, sip_port, LOOPBACK, sip_port, LOOPBACK, tls_port)


class Md5OnlyRelay:
    """TCP relay between sipp and causeway that drops the SHA-256 Digest challenges from 401/407.

    causeway offers Digest with SHA-256 first and MD5 second (RFC 8760 order of preference).
    sipp 3.6 joins all WWW-Authenticate headers and reads the first algorithm= it finds, so it
    gives up on SHA-256 ("authentication must use MD5 or AKAv1-MD5") instead of answering the
    MD5 challenge, as a client without SHA-256 should. The relay shows sipp only the MD5
    challenge; everything else passes byte for byte (messages are framed by Content-Length).
    `seen` keeps every challenge header removed, as evidence of what the server offered.
    """

    CHALLENGE = re.compile(rb"^(WWW|Proxy)-Authenticate:\s*Digest\b[^\r\n]*algorithm=\"?SHA-256",
                           re.I)

    def __init__(self, target_port, ports):
        self.target_port = target_port
        self.port = ports.get()
        self.seen = []
        self.stop = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, self.port))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            t = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            t.start()
            self.threads.append(t)

    def _filter(self, buf, out):
        """Moves every complete message from `buf` to `out`, minus SHA-256 challenges."""
        while True:
            while buf.startswith(b"\r\n"):  # keep-alive CRLFs pass
                out += b"\r\n"
                del buf[:2]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end + 2])
            m = re.search(rb"^(?:Content-Length|l):\s*(\d+)", head, re.M | re.I)
            length = int(m.group(1)) if m else 0
            if len(buf) < end + 4 + length:
                return
            lines = head.split(b"\r\n")
            kept = []
            for line in lines:
                if self.CHALLENGE.match(line):
                    self.seen.append(line.decode(errors="replace"))
                else:
                    kept.append(line)
            # head ends with the last header's CRLF: the join keeps it, one CRLF closes.
            out += b"\r\n".join(kept) + b"\r\n" + bytes(buf[end + 4:end + 4 + length])
            del buf[:end + 4 + length]

    def _pump(self, client, server):
        from_server = bytearray()
        try:
            while not self.stop.is_set():
                readable, _, _ = select.select([client, server], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        server.sendall(data)
                    else:
                        from_server += data
                        out = bytearray()
                        self._filter(from_server, out)
                        if out:
                            client.sendall(out)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def close(self):
        self.stop.set()
        self.listener.close()
        for t in self.threads:
            t.join(timeout=2)


class Sipp:
    """One sipp instance over TCP towards causeway (through ctx.relay); traces in the log dir."""

    def __init__(self, ctx, name, scenario, user, password, keys=(), ooc=None, calls=1):
        self.name = name
        d = os.path.join(ctx.log_dir, "sipp")
        os.makedirs(d, exist_ok=True)
        self.msg_log = os.path.join(d, name + "_msg.log")
        self.err_log = os.path.join(d, name + "_err.log")
        self.screen = os.path.join(d, name + "_screen.log")
        for p in (self.msg_log, self.err_log):
            if os.path.exists(p):
                os.remove(p)
        epid = "%010x" % (abs(hash((name, time.time()))) % (1 << 40))
        instance = "0b0b%04x-5f0c-4c1e-9a3d-%012x" % (os.getpid() & 0xffff,
                                                      abs(hash(name)) % (1 << 48))
        cmd = ["sipp", "%s:%d" % (LOOPBACK, ctx.sipp_relay().port),
               "-sf", os.path.join(HERE, scenario), "-t", "t1", "-i", LOOPBACK, "-p",
               str(ctx.ports.get()), "-m", str(calls), "-nostdin",
               "-timeout", "%ds" % SIPP_TIMEOUT_S, "-timeout_error",
               "-au", user, "-ap", password,
               "-key", "user", user, "-key", "domain", DOMAIN, "-key", "epid", epid,
               "-key", "instance", instance,
               "-trace_msg", "-message_file", self.msg_log,
               "-trace_err", "-error_file", self.err_log]
        for k, v in keys:
            cmd += ["-key", k, v]
        if ooc:
            cmd += ["-oocsf", os.path.join(HERE, ooc)]
        self.cmd = cmd
        self.screen_file = open(self.screen, "w")
        self.screen_file.write(" ".join(cmd) + "\n\n")
        self.screen_file.flush()
        self.proc = spawn(cmd, death_signal=signal.SIGTERM, stdout=self.screen_file,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=d)
        ctx.sipps.append(self)

    def wait(self, timeout=SIPP_TIMEOUT_S + 15):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()

    def stop(self):
        rc = stop_process(self.proc)
        self.screen_file.close()
        return rc

    def messages(self):
        """sipp's message trace as a list of (direction, text): 'sent' / 'received'."""
        text = read_text(self.msg_log)
        # Each entry: a "-----... <timestamp>" line, "TCP message sent (N bytes):" or
        # "TCP message received [N] bytes :", a blank line, the message.
        out = []
        for block in re.split(r"^-{10,}[^\n]*\n", text, flags=re.M)[1:]:
            head, _, message = block.partition("\n")
            if "message sent" in head:
                out.append(("sent", message.strip()))
            elif "message received" in head:
                out.append(("received", message.strip()))
        return out

    def received(self, first_line_re, header_re=None):
        """Received messages whose first line matches (and that have a matching header)."""
        hits = []
        for direction, text in self.messages():
            body = text.split("\n", 1)
            if direction != "received" or not re.match(first_line_re, body[0].strip()):
                continue
            if header_re and not re.search(header_re, text, flags=re.M | re.I):
                continue
            hits.append(text)
        return hits

    def first_error(self):
        lines = [ln.strip() for ln in read_text(self.err_log).splitlines() if ln.strip()]
        responses = [t.split("\n", 1)[0].strip() for d, t in self.messages() if d == "received"]
        what = lines[-1] if lines else "no sipp error logged"
        return "%s (received: %s)" % (what, ", ".join(responses) or "nothing")


# ---------------------------------------------------------------------------------------------
# Test context

class Context:
    def __init__(self, args, log_dir):
        self.args = args
        self.log_dir = log_dir
        self.ports = PortAllocator()
        self.sip_port = self.ports.get()  # UDP + TCP
        self.tls_port = self.ports.get()
        self.causeway = Causeway(args.causeway, log_dir,
                                 causeway_config(self.sip_port, self.tls_port),
                                 log_level=args.causeway_log_level)
        self.clients = {}     # name -> SipeClient (running or not)
        self.all_clients = []
        self.sipps = []
        self.client_serial = 0
        self.relay = None

    def sipp_relay(self):
        if self.relay is None:
            self.relay = Md5OnlyRelay(self.sip_port, self.ports)
        return self.relay

    def new_client(self, name, user, password=None, login_user=None, host_name=None):
        """Starts a SIPE client (fresh libpurple user dir) for `user`; name keys self.clients."""
        self.client_serial += 1
        tag = "%02d-%s" % (self.client_serial, name)
        password = USERS[user][0] if password is None and user in USERS else password
        client = SipeClient(self.args.driver, user=uri(user), password=password,
                            login="%s@%s" % (login_user or user, DOMAIN),
                            server="%s:%d" % (LOOPBACK, self.tls_port),
                            trust_cert=self.causeway.self_signed_cert,
                            debug_file=os.path.join(self.log_dir, tag + ".sipe-debug.log"),
                            host_name=host_name)
        client.tag = tag
        client.start()
        self.clients[name] = client
        self.all_clients.append(client)
        return client

    def signed_in(self, name, user=None, host_name=None):
        """A running, signed-in client `name` (started and signed in now if needed)."""
        c = self.clients.get(name)
        if c is not None and c.running() and any(e["event"] == "signed_on" for e in c.events) \
                and not any(e["event"] in ("connection_error", "signed_off") for e in c.events):
            return c
        if c is not None:
            self.stop_client(name)
        c = self.new_client(name, user or name, host_name=host_name)
        c.wait_for("signed_on", timeout=SIGN_IN_TIMEOUT_S)
        wait_contact_list_loaded(c)
        return c

    def stop_client(self, name, quit=True):
        c = self.clients.pop(name, None)
        if c is None:
            return None
        rc = c.quit() if quit else c.stop()
        self.save_client_output(c)
        return rc

    def save_client_output(self, c):
        try:
            with open(os.path.join(self.log_dir, c.tag + ".driver.log"), "w") as f:
                f.write(c.output() + "\n")
        except OSError:
            pass

    def ensure_friend(self, name="alice"):
        """Makes sure the server's contact list of alice (as the last list SIPE received shows
        it) has bob in group Friends; case 2 does that, later cases repeat it when an earlier
        failure left it otherwise. Returns the (possibly new) signed-in client."""
        alice = self.signed_in(name, "alice")
        if server_has_friend(alice):
            return alice
        # A fresh client: SIPE's local list may disagree with the server's after a failure.
        self.stop_client(name)
        alice = self.signed_in(name, "alice")
        if not server_has_friend(alice):
            alice.send("add %s Friends" % uri("bob"))
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while not server_has_friend(alice):
                if time.monotonic() >= deadline:
                    raise CaseFailure("could not put bob into alice's Friends on the server "
                                      "(setup for this case); last list: %r"
                                      % (contact_lists(sipe_debug(alice))[-1:],))
                time.sleep(0.2)
        return alice

    def cleanup(self):
        for name in list(self.clients):
            try:
                self.stop_client(name)
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        for c in self.all_clients:
            if c.running():
                c.stop()
                self.save_client_output(c)
        for s in self.sipps:
            s.stop()
        if self.relay is not None:
            self.relay.close()
        if self.causeway.running():
            self.causeway.stop()


def sipe_debug(client):
    return read_text(client.args[client.args.index("--debug-file") + 1])


def wait_contact_list_loaded(client, timeout=10.0):
    """Waits until SIPE has merged the server's contact list into libpurple's. Before that, a
    buddy added locally is dropped again by SIPE's clean-up of the local list (a client-side
    race a user adding a contact during sign-in would hit too)."""
    deadline = time.monotonic() + timeout
    while "sipe_buddy_cleanup_local_list" not in sipe_debug(client):
        if time.monotonic() >= deadline:
            raise CaseFailure("%s: SIPE never processed a contact list within %.0fs"
                              % (client.tag, timeout))
        time.sleep(0.1)


def _attrs(tag):
    return dict(re.findall(r'([A-Za-z]+)="([^"]*)"', tag))


def wait_buddy_list(client, predicate, timeout=EVENT_TIMEOUT_S):
    """Polls the driver's buddy list until predicate(list) holds; returns (ok, last list).
    The list's final state is what counts: SIPE adds and drops transient entries on the way."""
    deadline = time.monotonic() + timeout
    while True:
        buddies = client.buddies()
        if predicate(buddies) or time.monotonic() >= deadline:
            return predicate(buddies), buddies
        time.sleep(0.5)


def groups_of(buddies, who):
    return sorted(b["group"] for b in buddies if b["uri"] == who)


def contact_lists(log):
    """The roaming contact list as the server sent it to SIPE (its debug dumps), oldest first:
    [(deltaNum, {group id: name}, {contact uri without sip: -> [group ids]})], one entry per
    full <contactList> and per <contactDelta> applied on top of the previous entry."""
    out = []
    for m in re.finditer(r"<(contactList|contactDelta)\b[^>]*?(?:/>|>.*?</\1>)", log, re.S):
        body = m.group(0)
        delta = re.search(r'deltaNum="(\d+)"', body)
        delta = int(delta.group(1)) if delta else None
        if m.group(1) == "contactList":
            groups, contacts = {}, {}
        elif out:
            groups, contacts = dict(out[-1][1]), dict(out[-1][2])
        else:
            continue  # a delta before any full list: nothing to apply it to
        for kind, tag in re.findall(r"<(group|addedGroup|modifiedGroup|deletedGroup|contact|"
                                    r"addedContact|modifiedContact|deletedContact)\b([^>]*)>",
                                    body):
            a = _attrs(tag)
            if kind in ("group", "addedGroup", "modifiedGroup"):
                groups[a.get("id")] = a.get("name")
            elif kind == "deletedGroup":
                groups.pop(a.get("id"), None)
            elif kind in ("contact", "addedContact", "modifiedContact"):
                contacts[re.sub(r"^sip:", "", a.get("uri", ""))] = a.get("groups", "").split()
            elif kind == "deletedContact":
                contacts.pop(re.sub(r"^sip:", "", a.get("uri", "")), None)
        out.append((delta, groups, contacts))
    return out


def server_has_friend(alice):
    """The last contact list alice's SIPE received has bob in the group named Friends."""
    lists = contact_lists(sipe_debug(alice))
    if not lists:
        return False
    _, groups, contacts = lists[-1]
    friends = [gid for gid, n in groups.items() if n == "Friends"]
    return bool(friends) and friends[0] in contacts.get("bob@" + DOMAIN, [])


def unstable_group_ids(log):
    """Group ids must name the same group in every list the server sends (SIPE keys groups by
    id). Returns descriptions of ids that changed name or names that changed id."""
    problems = []
    by_id, by_name = {}, {}
    for delta, groups, _ in contact_lists(log):
        for gid, name in groups.items():
            if by_id.setdefault(gid, name) != name:
                problems.append("deltaNum %s: group id %s is %r, was %r" % (delta, gid, name,
                                                                           by_id[gid]))
                by_id[gid] = name
            if by_name.setdefault(name, gid) != gid:
                problems.append("deltaNum %s: group %r has id %s, had %s" % (delta, name, gid,
                                                                            by_name[name]))
                by_name[name] = gid
    return problems


def short(text, n=600):
    text = str(text)
    return text if len(text) <= n else text[:n] + " ..."


def event_error(e):
    """A TimeoutError from wait_for carries the whole driver output: keep its first line."""
    return str(e).split("\n", 1)[0]


# ---------------------------------------------------------------------------------------------
# Cases

def case_sign_in(ctx):
    cw = ctx.causeway
    offset = len(cw.log())
    alice = ctx.signed_in("alice")
    bob = ctx.signed_in("bob")
    for name, c in (("alice", alice), ("bob", bob)):
        peer = [e for e in c.events if e["event"] == "tls_peer"]
        check(peer and peer[0].get("trusted"), "%s: no trusted TLS peer event: %r" % (name, peer))
        line = cw.wait_log(r'component=sipae msg="signed in" user=%s ' % re.escape(uri(name)),
                           offset)
        check(line, "causeway log has no 'signed in' line for %s" % uri(name))
    # Signatures: SIPE verifies the server's signature on everything after NTLM and drops
    # unsigned or badly signed messages. Both clients saw validated ones and no failures.
    for name, c in (("alice", alice), ("bob", bob)):
        deadline = time.monotonic() + 10
        while True:
            log = sipe_debug(c)
            ok = log.count("signature of incoming message validated")
            if ok >= 3 or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        bad = [ln for ln in log.splitlines()
               if re.search(r"sip_transport_input:.*signature", ln) and "validated" not in ln]
        check(ok >= 3, "%s: SIPE validated %d server signatures (want >= 3: the REGISTER 200 "
              "and the self-subscriptions)" % (name, ok))
        check(not bad, "%s: SIPE rejected signatures: %s" % (name, short(bad[:3])))

    # A wrong password: connection_error, and causeway logs the refusal.
    offset = len(cw.log())
    wrong = ctx.new_client("bob-wrong", "bob", password="not-" + USERS["bob"][0])
    try:
        err = wrong.wait_for("connection_error", timeout=SIGN_IN_TIMEOUT_S)
    except TimeoutError as e:
        raise CaseFailure("wrong password: " + event_error(e))
    finally:
        ctx.stop_client("bob-wrong", quit=False)
    check(not any(e["event"] == "signed_on" for e in wrong.events),
          "wrong password: signed_on was reported")
    line = cw.wait_log(r'msg="sign-in refused".*%s' % re.escape(uri("bob")), offset)
    check(line, "wrong password: no 'sign-in refused' line for bob in the causeway log")

    # A user not in the directory.
    offset = len(cw.log())
    USERS.setdefault("mallory", ("Mallory-pw", "Mallory"))
    stranger = ctx.new_client("mallory", "mallory")
    try:
        err2 = stranger.wait_for("connection_error", timeout=SIGN_IN_TIMEOUT_S)
    except TimeoutError as e:
        raise CaseFailure("unknown user: " + event_error(e))
    finally:
        ctx.stop_client("mallory", quit=False)
    check(not any(e["event"] == "signed_on" for e in stranger.events),
          "unknown user: signed_on was reported")
    refusal = cw.wait_log(r"mallory@%s" % re.escape(DOMAIN), offset, timeout=2.0)
    return "alice, bob signed in (TLS pinned, NTLM, signatures validated); wrong password -> " \
           "%r; unknown user -> %r; log: %s" % (err.get("reason"), err2.get("reason"),
                                                short(refusal or "(no line naming mallory)", 200))


def case_presence(ctx):
    alice = ctx.signed_in("alice")
    bob = ctx.signed_in("bob")
    bob_uri = uri("bob")
    if not any(b["uri"] == bob_uri for b in alice.buddies()):
        alice.send("add %s Friends" % bob_uri)
        added = alice.wait_for("buddy_added", lambda e: e["uri"] == bob_uri,
                               timeout=EVENT_TIMEOUT_S)
        check(added.get("group") == "Friends", "buddy_added in group %r" % added.get("group"))
    try:
        alice.wait_for("buddy_status", lambda e: e["uri"] == bob_uri and e.get("online"),
                       timeout=EVENT_TIMEOUT_S)
    except TimeoutError as e:
        raise CaseFailure("alice never sees bob online: " + event_error(e))
    ok, buddies = wait_buddy_list(alice, lambda bl: groups_of(bl, bob_uri) == ["Friends"])
    check(ok, "bob is in alice's groups %r, want ['Friends']" % groups_of(buddies, bob_uri))
    seen = []
    for n, (cls, sipe_id) in enumerate(STATUS_CLASSES):
        note = "Café ☕ %s #%d" % (cls, n)
        alice.skip("buddy_status")
        bob.send("status %s %s" % (cls, note))
        try:
            bob.wait_for("status_set", timeout=5)
            ev = alice.wait_for(
                "buddy_status",
                lambda e, s=sipe_id, t=note: e["uri"] == bob_uri and e["status"] == s
                and t in (e.get("message") or ""), timeout=EVENT_TIMEOUT_S)
        except TimeoutError as e:
            last = [x for x in alice.events if x["event"] == "buddy_status" and
                    x["uri"] == bob_uri][-1:]
            raise CaseFailure("bob set %s with note %r; alice never saw status %s with that "
                              "note; last buddy_status: %r" % (cls, note, sipe_id, last)) from e
        seen.append("%s(%r)" % (ev["status"], ev["message"]))
    # The note as alice's SIPE parsed it out of the NOTIFY, byte for byte.
    last_note = "Café ☕ available #%d" % (len(STATUS_CLASSES) - 1)
    log = sipe_debug(alice)
    check("note(%s)" % last_note in log,
          "alice's SIPE debug log never shows note(%s)" % last_note)
    # Adding "Friends" must not renumber the groups alice already has (the default group "~"
    # kept id 1 while Friends got 1 too: SIPE then filed bob under "Other Contacts").
    unstable = unstable_group_ids(log)
    check(not unstable, "the server renumbered contact groups: " + "; ".join(unstable[:4]))
    return "alice saw " + ", ".join(seen)


def case_endpoints(ctx):
    alice = ctx.ensure_friend()
    bob_uri, carol_uri = uri("bob"), uri("carol")
    carol = ctx.signed_in("carol")
    # Another endpoint of alice: its own epid (SIPE hashes the host name into it).
    alice2 = ctx.signed_in("alice2", "alice", host_name="alice-laptop-2")
    epids = {c: re.findall(r"epid=([0-9a-f]+)", sipe_debug(c)) for c in (alice, alice2)}
    check(epids[alice] and epids[alice2] and epids[alice][0] != epids[alice2][0],
          "the two alice endpoints do not have distinct epids: %r"
          % {c.tag: e[:1] for c, e in epids.items()})
    try:
        ev = alice2.wait_for("buddy_added", lambda e: e["uri"] == bob_uri,
                             timeout=EVENT_TIMEOUT_S)
    except TimeoutError as e:
        raise CaseFailure("second alice endpoint did not get bob in its list: " +
                          event_error(e))
    check(ev.get("group") == "Friends", "second endpoint has bob in group %r" % ev.get("group"))
    alice2.ping()
    alice.ping()
    for c in (alice, alice2):  # only what happens from now on counts
        c.skip("buddy_added")
        c.skip("buddy_removed")
    done, failed = [], []
    # An add on the first endpoint reaches the second: carol ends up in Friends there (the
    # final buddy list counts; SIPE files contacts elsewhere on the way when group ids move).
    alice.send("add %s Friends" % carol_uri)
    try:
        alice2.wait_for("buddy_added", lambda e: e["uri"] == carol_uri, timeout=EVENT_TIMEOUT_S)
    except TimeoutError as e:
        failed.append("add on endpoint 1 not seen on endpoint 2: " + event_error(e))
    else:
        ok, buddies = wait_buddy_list(alice2, lambda bl: groups_of(bl, carol_uri) == ["Friends"])
        if ok:
            done.append("add carol on 1 -> carol in Friends on 2")
        else:
            failed.append("carol added on 1 is in groups %r on 2 (want ['Friends'])"
                          % groups_of(buddies, carol_uri))
    # Endpoint 1 already watches bob, so SIPE adds carol to its presence subscription with an
    # in-dialog SUBSCRIBE (batchSub adhocList): the server must start sending carol's state.
    ok, buddies = wait_buddy_list(alice, lambda bl: any(
        b["uri"] == carol_uri and b["online"] for b in bl))
    if ok:
        done.append("endpoint 1 sees carol online (contact added to a running subscription)")
    else:
        failed.append("endpoint 1 never sees carol (signed in) online after adding her: no "
                      "state for a contact added to the running presence subscription "
                      "(in-dialog SUBSCRIBE with batchSub); carol: %r"
                      % [b for b in buddies if b["uri"] == carol_uri])
    # A removal on the second endpoint reaches the first: bob leaves its buddy list.
    alice2.send("remove " + bob_uri)
    ok2, _ = wait_buddy_list(alice2, lambda bl: not groups_of(bl, bob_uri), timeout=5)
    ok1, buddies = wait_buddy_list(alice, lambda bl: not groups_of(bl, bob_uri))
    if ok1 and ok2:
        done.append("remove bob on 2 -> bob gone on 1")
    else:
        failed.append("bob removed on endpoint 2 (gone there: %s) is still on endpoint 1 in "
                      "groups %r" % (ok2, groups_of(buddies, bob_uri)))
    ctx.stop_client("alice2")
    ctx.stop_client("carol")
    if failed:
        raise CaseFailure("; ".join(failed) + (" (worked: %s)" % ", ".join(done) if done else ""))
    return "endpoint 2 got bob in Friends; " + "; ".join(done)


def case_im(ctx):
    alice = ctx.signed_in("alice")
    bob = ctx.signed_in("bob")
    a_uri, b_uri = uri("alice"), uri("bob")
    text1 = "Grüße, Bob ☕ <b>not bold</b> & 1 < 2 > 0 \"q\" 'a'"
    text2 = "Merci Alice — çà & là <i>x</i> < > &amp; 漢字"
    steps = []
    for c in (alice, bob):
        c.skip("im_received")
        c.skip("typing")
        c.skip("im_error")
    try:
        alice.send("im %s %s" % (b_uri, text1))
        got = bob.wait_for("im_received", lambda e: e["from"] == a_uri, timeout=EVENT_TIMEOUT_S)
        check(got["text"] == text1, "bob received %r, alice sent %r" % (got["text"], text1))
        steps.append("alice->bob IM")
        bob.send("typing " + a_uri)
        alice.wait_for("typing", lambda e: e["from"] == b_uri and e["state"] == "typing",
                       timeout=EVENT_TIMEOUT_S)
        steps.append("bob->alice typing")
        bob.send("im %s %s" % (a_uri, text2))
        got = alice.wait_for("im_received", lambda e: e["from"] == b_uri,
                             timeout=EVENT_TIMEOUT_S)
        check(got["text"] == text2, "alice received %r, bob sent %r" % (got["text"], text2))
        steps.append("bob->alice IM")
        alice.send("typing " + b_uri)
        bob.wait_for("typing", lambda e: e["from"] == a_uri and e["state"] == "typing",
                     timeout=EVENT_TIMEOUT_S)
        steps.append("alice->bob typing")
    except TimeoutError as e:
        raise CaseFailure("after [%s]: %s" % (", ".join(steps), event_error(e)))
    for c in (alice, bob):
        try:
            c.expect_none("im_error", duration=0.2)
        except AssertionError as e:
            raise CaseFailure("%s: %s" % (c.user, str(e).split("\n", 1)[0]))
    return ", ".join(steps) + " (texts intact)"


def case_offline(ctx):
    alice = ctx.ensure_friend()
    bob = ctx.signed_in("bob")
    b_uri = uri("bob")
    problem = None
    online = lambda bl: any(b["uri"] == b_uri and b["online"] for b in bl)  # noqa: E731
    ok, buddies = wait_buddy_list(alice, online)
    if not ok:
        # Seen when bob had just been added back to a running presence subscription (case 3
        # checks that on its own); a fresh sign-in subscribes to the whole list at once.
        problem = ("alice did not see bob online before he signed out (%r); went on with a "
                   "fresh alice client" % [b for b in buddies if b["uri"] == b_uri])
        ctx.stop_client("alice")
        alice = ctx.signed_in("alice")
        ok, buddies = wait_buddy_list(alice, online)
        check(ok, problem + ", which does not see him online either")
    alice.skip("buddy_status")
    alice.skip("im_error")
    rc = ctx.stop_client("bob")
    check(rc == 0, "bob's driver exited %s on quit" % rc)
    check(any(e["event"] == "signed_off" for e in bob.events), "bob: no signed_off")
    try:
        off = alice.wait_for("buddy_status", lambda e: e["uri"] == b_uri and not e.get("online"),
                             timeout=EVENT_TIMEOUT_S)
    except TimeoutError as e:
        raise CaseFailure("alice never saw bob offline: " + event_error(e))
    text = "are you there? ☕ <&>"
    alice.send("im %s %s" % (b_uri, text))
    try:
        err = alice.wait_for("im_error", lambda e: e["to"] == b_uri, timeout=40)
    except TimeoutError as e:
        raise CaseFailure("IM to offline bob: no im_error (silently lost?): " + event_error(e))
    if problem:
        raise CaseFailure(problem + "; then: bob offline seen, IM to offline bob -> im_error")
    return "alice saw bob %s; IM to offline bob -> im_error %r" % (off["status"],
                                                                  short(err.get("text"), 160))


def case_restart(ctx):
    cw = ctx.causeway
    ctx.ensure_friend().ping()
    ctx.stop_client("alice")
    for name in list(ctx.clients):
        ctx.stop_client(name)
    rc = cw.stop()
    check(rc == 0, "causeway exited %s on SIGTERM (want 0)" % rc)
    cw.start()
    # A fresh libpurple user dir: the list can only come from the server.
    alice = ctx.signed_in("alice")
    try:
        alice.wait_for("buddy_added", lambda e: e["uri"] == uri("bob"), timeout=EVENT_TIMEOUT_S)
    except TimeoutError as e:
        raise CaseFailure("after restart alice's list has no bob: " + event_error(e))
    ok, buddies = wait_buddy_list(alice, lambda bl: groups_of(bl, uri("bob")) == ["Friends"])
    check(ok, "after restart bob is in alice's groups %r, want ['Friends']"
          % groups_of(buddies, uri("bob")))
    return "SIGTERM -> exit 0; after restart alice's list has bob in Friends"


def case_fork(ctx):
    alice = ctx.signed_in("alice")
    bob = ctx.signed_in("bob")
    done = os.path.join(ctx.log_dir, "sipp", "fork_cancelled.done")
    os.makedirs(os.path.dirname(done), exist_ok=True)
    if os.path.exists(done):
        os.remove(done)
    ep = Sipp(ctx, "fork_bob_endpoint", "lync_endpoint_hold.xml", "bob", USERS["bob"][0],
              keys=[("done", done)], ooc="lync_cancel_uas.xml")
    try:
        deadline = time.monotonic() + SIPP_TIMEOUT_S
        while time.monotonic() < deadline and ep.proc.poll() is None:
            if ep.received(r"SIP/2\.0 200", r"^CSeq:\s*2 REGISTER"):
                break
            time.sleep(0.1)
        if not ep.received(r"SIP/2\.0 200", r"^CSeq:\s*2 REGISTER"):
            raise CaseFailure("sipp endpoint of bob did not register with Digest: %s"
                              % ep.first_error())
        text = "fork test ☕ <ok> & more"
        bob.skip("im_received")
        alice.skip("im_error")
        alice.send("im %s %s" % (uri("bob"), text))
        try:
            got = bob.wait_for("im_received", lambda e: e["from"] == uri("alice"),
                               timeout=EVENT_TIMEOUT_S)
        except TimeoutError as e:
            raise CaseFailure("SIPE-bob did not get the IM: " + event_error(e))
        check(got["text"] == text, "SIPE-bob received %r" % got["text"])
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while time.monotonic() < deadline and not os.path.exists(done):
            time.sleep(0.1)
        invites = ep.received(r"INVITE sip:")
        cancels = ep.received(r"CANCEL sip:")
        check(invites, "the sipp endpoint was never offered the INVITE (received: %s)"
              % ep.first_error())
        check(cancels, "the sipp endpoint got the INVITE but no CANCEL after SIPE answered")
        check(os.path.exists(done), "the sipp endpoint got CANCEL but not the ACK for its 487: "
              "%s" % ep.first_error())
        try:
            alice.expect_none("im_error", duration=0.2)
        except AssertionError as e:
            raise CaseFailure("alice: " + str(e).split("\n", 1)[0])
    finally:
        ep.stop()
    return "INVITE forked to SIPE-bob (answered, IM delivered) and the sipp endpoint " \
           "(180, CANCEL, 200/487, ACK)"


def run_sipp_case(ctx, name, scenario, user, password, keys=()):
    s = Sipp(ctx, name, scenario, user, password, keys=keys)
    rc = s.wait()
    s.stop()
    if rc != 0:
        raise CaseFailure("sipp %s exit %s: %s" % (scenario, rc, s.first_error()))
    return s


def case_digest_register(ctx):
    s = run_sipp_case(ctx, "digest_register", "lync_digest_register.xml", "carol",
                      USERS["carol"][0])
    chall = s.received(r"SIP/2\.0 401")
    check(chall and re.search(r"^WWW-Authenticate:\s*Digest.*algorithm=\"?MD5", chall[0],
                              re.M | re.I), "the 401 has no MD5 Digest challenge")
    auth = [t for d, t in s.messages() if d == "sent" and re.search(r"^Authorization:\s*Digest",
                                                                     t, re.M | re.I)]
    check(auth, "sipp never sent Digest credentials")
    return "REGISTER -> 401 (Digest MD5%s) -> REGISTER with Digest -> 200" % (
        " and SHA-256" if ctx.relay and ctx.relay.seen else "")


def case_digest_wrong(ctx):
    s = run_sipp_case(ctx, "digest_wrong", "lync_digest_register_wrong.xml", "carol",
                      "not-" + USERS["carol"][0])
    final = [t.split("\n", 1)[0] for d, t in s.messages() if d == "received"][-1]
    return "REGISTER with a wrong password -> %s" % final.strip()


def case_bad_event(ctx):
    run_sipp_case(ctx, "subscribe_bad_event", "lync_subscribe_bad_event.xml", "carol",
                  USERS["carol"][0])
    return "SUBSCRIBE Event: x-causeway-no-such-package -> 489"


def contact_list_body(text):
    m = re.search(r"<contactList.*</contactList>|<contactList[^>]*/>", text, re.S)
    return m.group(0) if m else None


def case_service_malformed(ctx):
    peer = "dave@" + DOMAIN
    s = run_sipp_case(ctx, "service_malformed", "lync_service_malformed.xml", "carol",
                      USERS["carol"][0], keys=[("peer", peer)])
    lists = [contact_list_body(t) for t in s.received(r"SIP/2\.0 200",
                                                       r"^CSeq:\s*\d+ SUBSCRIBE")]
    check(len(lists) == 2, "want 2 SUBSCRIBE 200s, got %d" % len(lists))
    before, after = lists
    check(before is not None and after is not None,
          "a SUBSCRIBE 200 carries no contactList (before: %r, after: %r)"
          % (short(before, 200), short(after, 200)))
    check(peer in before, "the valid setContact did not store %s: %s" % (peer, short(before)))
    check("mallory" not in after, "the malformed SERVICE stored mallory: %s" % short(after))
    check(before == after, "contact list changed after the malformed SERVICE:\n  before %s\n"
          "  after  %s" % (short(before), short(after)))
    return "setContact stored %s; malformed SOAP -> 400; contact list unchanged" % peer


CASES = [
    ("1-sign-in", case_sign_in),
    ("2-presence", case_presence),
    ("3-endpoints", case_endpoints),
    ("4-im-typing", case_im),
    ("5-offline", case_offline),
    ("6-restart", case_restart),
    ("7-fork-cancel", case_fork),
    ("8-digest-register", case_digest_register),
    ("9-digest-wrong-password", case_digest_wrong),
    ("10-subscribe-bad-event", case_bad_event),
    ("11-service-malformed", case_service_malformed),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--causeway", required=True, help="the causeway binary")
    ap.add_argument("--driver", required=True, help="the sipe_driver binary")
    ap.add_argument("--log-dir", help="keep all logs here (default: a temp dir, kept on failure)")
    ap.add_argument("--only", help="comma-separated case numbers to run, e.g. 1,2,7")
    ap.add_argument("--budget", type=float, default=270.0,
                    help="seconds; cases not started by then fail as not run (ctest: 300)")
    ap.add_argument("--causeway-log-level", default="debug",
                    help="causeway's general.log_level (default debug: the evidence on failure)")
    args = ap.parse_args()
    for path in (args.causeway, args.driver):
        if not os.access(path, os.X_OK):
            print("FAIL setup: %s is not executable" % path)
            return 1
    if shutil.which("sipp") is None:
        print("FAIL setup: sipp not found (Debian package sip-tester)")
        return 1
    if args.log_dir:
        log_dir = os.path.abspath(args.log_dir)
        os.makedirs(log_dir, exist_ok=True)
        # A fresh run: this script's own files from an earlier run go (debug files append).
        for name in os.listdir(log_dir):
            path = os.path.join(log_dir, name)
            if name in ("state", "sipp"):
                shutil.rmtree(path, ignore_errors=True)
            elif name in ("causeway.log", "causeway.toml") or name.endswith(
                    (".sipe-debug.log", ".driver.log")):
                os.remove(path)
    else:
        log_dir = tempfile.mkdtemp(prefix="lync-sipe-test-")
    only = set(args.only.split(",")) if args.only else None

    ctx = Context(args, log_dir)
    results = []
    try:
        try:
            for user in USERS:
                ctx.causeway.add_user(uri(user), *USERS[user])
            ctx.causeway.start()
        except Exception as e:  # noqa: BLE001
            results.append(("setup", False, str(e)))
        else:
            budget_end = time.monotonic() + args.budget
            for name, fn in CASES:
                if only and name.split("-", 1)[0] not in only:
                    continue
                t0 = time.monotonic()
                if t0 >= budget_end:
                    results.append((name, False, "not run: the %.0fs budget is spent"
                                    % args.budget))
                    print("FAIL %s: not run (time budget spent)" % name, flush=True)
                    continue
                try:
                    if not ctx.causeway.running():
                        ctx.causeway.start()
                    why = fn(ctx)
                    ok = True
                except CaseFailure as e:
                    ok, why = False, str(e)
                except TimeoutError as e:
                    ok, why = False, event_error(e)
                except Exception as e:  # noqa: BLE001 - a broken case must not stop the rest
                    ok, why = False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
                results.append((name, ok, why))
                print("%s %s (%.1fs): %s" % ("PASS" if ok else "FAIL", name,
                                             time.monotonic() - t0, why), flush=True)
    finally:
        ctx.cleanup()
    failed = [r for r in results if not r[1]]
    for name, ok, why in results:
        if name == "setup":
            print("FAIL setup: %s" % why)
    print("%d passed, %d failed" % (len(results) - len(failed), len(failed)))
    if failed:
        print("logs kept in %s (causeway.log, *.sipe-debug.log, *.driver.log, sipp/)" % log_dir)
    elif not args.log_dir:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
