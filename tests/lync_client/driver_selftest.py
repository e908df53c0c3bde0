#!/usr/bin/python3
"""Self-test of sipe_driver without any Causeway server (ctest: lync_client_selftest).

  (a) --selftest-xml: the xmlSAXUserParseMemory interposition makes libxml2 call SAX1
      startElement for a SAX2-magic handler without startElementNs, and SIPE's own
      sipe_xml_parse (inside libsipe.so, loaded by libpurple) builds a tree; with
      --no-interpose both fail, so the check can fail.
  (b) a fake TLS SIP registrar (Python ssl, throwaway openssl certificate): the driver trusts it
      through --trust-cert, sends REGISTER; 401 NTLM -> REGISTER with Authorization NTLM
      gssapi-data=""; 401 with an NTLM CHALLENGE -> REGISTER with an NTLM AUTHENTICATE message.
  (c) a wrong --trust-cert: connection_error and no REGISTER reaches the server.

Usage: driver_selftest.py --driver PATH [--transcript FILE] [--keep]
Everything is bounded; processes are stopped by PID; temp dirs are removed.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipe_client import SipeClient  # noqa: E402

REALM = "SIP Communications Service"
LYNC_USER_AGENT = "UCCAPI/15.0.4481.1000 OC/15.0.4481.1000 (Skype for Business)"
TARGET = "sip/fe.example.test"


def make_cert(directory, name, cn="127.0.0.1"):
    key = os.path.join(directory, name + ".key")
    crt = os.path.join(directory, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:fe.example.test"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return crt, key


# ---------------------------------------------------------------------------------------------
# NTLM CHALLENGE (MS-NLMP 2.2.1.2) for a connectionless (datagram) exchange, as Lync sends it.

def _utf16(s):
    return s.encode("utf-16-le")


def ntlm_challenge(server_challenge=b"\x01\x23\x45\x67\x89\xab\xcd\xef"):
    flags = (0x00000001 | 0x00000004 | 0x00000010 | 0x00000020 | 0x00000040 | 0x00000200 |
             0x00008000 | 0x00010000 | 0x00080000 | 0x00100000 | 0x00800000 | 0x02000000 |
             0x20000000 | 0x40000000 | 0x80000000)  # 0x00100000 IDENTIFY: SIPE requires it
    target_name = _utf16("EXAMPLE")
    av = b""
    for av_id, value in ((2, "EXAMPLE"), (1, "FE"), (4, "example.test"),
                         (3, "fe.example.test")):
        data = _utf16(value)
        av += struct.pack("<HH", av_id, len(data)) + data
    av += struct.pack("<HHQ", 7, 8, 133000000000000000)  # MsvAvTimestamp
    av += struct.pack("<HH", 0, 0)                         # MsvAvEOL
    header_len = 56
    tn_off = header_len
    ti_off = tn_off + len(target_name)
    msg = b"NTLMSSP\x00" + struct.pack("<I", 2)
    msg += struct.pack("<HHI", len(target_name), len(target_name), tn_off)
    msg += struct.pack("<I", flags) + server_challenge + b"\x00" * 8
    msg += struct.pack("<HHI", len(av), len(av), ti_off)
    msg += bytes([6, 1]) + struct.pack("<H", 7601) + b"\x00\x00\x00\x0f"  # version 6.1.7601
    assert len(msg) == header_len
    return base64.b64encode(msg + target_name + av).decode()


def ntlm_message_type(b64):
    try:
        raw = base64.b64decode(b64)
    except ValueError:
        return None
    if len(raw) < 12 or raw[:8] != b"NTLMSSP\x00":
        return None
    return struct.unpack("<I", raw[8:12])[0]


# ---------------------------------------------------------------------------------------------
# A minimal SIP-over-TLS registrar that records what the client sends.

class SipMessage:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                self.headers[-1] = (self.headers[-1][0], self.headers[-1][1] + " " + line.strip())
            elif ":" in line:
                name, _, value = line.partition(":")
                self.headers.append((name.strip(), value.strip()))

    @property
    def method(self):
        return self.start.split(" ", 1)[0]

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def get_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


class FakeRegistrar:
    """Accepts TLS connections on 127.0.0.1 and answers REGISTERs from a script."""

    def __init__(self, cert, key, timeout=30.0, handler=None):
        self.handler = handler      # handler(server, msg) -> bytes or None; default: NTLM script
        self.tls = None             # the current client connection
        self.send_lock = threading.Lock()
        self.outbox = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.deadline = time.monotonic() + timeout
        self.received = []      # SipMessage
        self.sent = []          # bytes
        self.tls_errors = []
        self.connections = 0
        self.lock = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=5.0)
        self.sock.close()

    def wait_requests(self, count, timeout):
        end = time.monotonic() + timeout
        with self.lock:
            while len(self.received) < count and time.monotonic() < end:
                self.lock.wait(0.2)
            return len(self.received) >= count

    def _run(self):
        while not self.stopped and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(10.0)
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.tls_errors.append(repr(e))
                conn.close()
                continue
            self.tls = tls
            try:
                self._serve(tls)
            except (ssl.SSLError, OSError):
                pass
            finally:
                tls.close()

    def _serve(self, tls):
        tls.settimeout(0.1)
        buf = b""
        while not self.stopped and time.monotonic() < self.deadline:
            self._flush(tls)
            try:
                data = tls.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            buf += data
            while True:
                buf = buf.lstrip(b"\r\n")  # RFC 5626 keep-alives
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                m = re.search(rb"(?im)^(content-length|l)\s*:\s*(\d+)", buf[:end])
                length = int(m.group(2)) if m else 0
                if len(buf) < end + 4 + length:
                    break
                msg = SipMessage(buf[:end + 4 + length])
                buf = buf[end + 4 + length:]
                with self.lock:
                    self.received.append(msg)
                    self.lock.notify_all()
                reply = (self.handler or FakeRegistrar.answer)(self, msg)
                if reply:
                    self.send(reply)
                self._flush(tls)

    def send(self, data):
        """Queues raw bytes (a response or a request of our own) for the current connection.

        Only the serving thread touches the TLS socket (OpenSSL objects are not thread-safe);
        it flushes the queue after each message and at least every 100 ms."""
        with self.send_lock:
            self.outbox.append(data)

    def _flush(self, tls):
        with self.send_lock:
            pending, self.outbox = self.outbox, []
        for data in pending:
            self.sent.append(data)
            try:
                tls.sendall(data)
            except (ssl.SSLError, OSError):
                pass  # the client may already be gone (sign-off); keep reading what it sent

    def answer(self, msg):
        if msg.start.startswith("SIP/2.0"):
            return None
        if msg.method != "REGISTER":
            return self._response(msg, "403 Forbidden", [])
        auth = msg.get("Authorization")
        if auth is None:
            return self._response(msg, "401 Unauthorized", [
                ("WWW-Authenticate",
                 'NTLM realm="%s", targetname="%s", version=3' % (REALM, TARGET)),
                ("WWW-Authenticate",
                 'Kerberos realm="%s", targetname="sip/fe.example.test", version=3' % REALM)])
        gssapi = re.search(r'gssapi-data="([^"]*)"', auth)
        if gssapi is not None and gssapi.group(1) == "":
            return self._response(msg, "401 Unauthorized", [
                ("WWW-Authenticate",
                 'NTLM opaque="3A2F5C81", gssapi-data="%s", targetname="%s", realm="%s", '
                 'version=3' % (ntlm_challenge(), TARGET, REALM))])
        # AUTHENTICATE received: a real server would verify it; the fake stops the exchange.
        return self._response(msg, "403 Forbidden", [("ms-diagnostics",
                                                      '1000;reason="fake registrar stops here"')])

    def _response(self, req, status, extra, body=b"", content_type=None):
        lines = ["SIP/2.0 " + status]
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            for value in req.get_all(name):
                if name == "To" and ";tag=" not in value:
                    value += ";tag=fake%d" % len(self.sent)
                lines.append("%s: %s" % (name, value))
        for name, value in extra:
            lines.append("%s: %s" % (name, value))
        lines.append("Server: RTC/7.0")
        if content_type:
            lines.append("Content-Type: " + content_type)
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------------------------------------
# Tests

class Failure(Exception):
    pass


def check(cond, message, client=None):
    if not cond:
        raise Failure(message + ("\n" + client.output() if client is not None else ""))


def run_driver_selftest(driver, tmp, no_interpose):
    args = [driver, "--selftest-xml", "--user-dir", os.path.join(tmp, "xml-udir")]
    if no_interpose:
        args.append("--no-interpose")
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    lines = [l for l in proc.stdout.decode().splitlines() if l.startswith("{")]
    check(lines, "no output from --selftest-xml: %r %r" % (proc.stdout, proc.stderr))
    return proc.returncode, json.loads(lines[-1])


def test_xml_interposition(ctx):
    rc, ev = run_driver_selftest(ctx.driver, ctx.tmp, no_interpose=False)
    check(rc == 0 and ev.get("ok") is True, "interposed parse failed: %r" % ev)
    check(ev["start_element_calls"] == 3, "startElement not called 3 times: %r" % ev)
    check(ev["sipe_contact_uri"] == "sip:bob@example.test", "sipe_xml_parse tree wrong: %r" % ev)
    check(ev["handlers_rewritten"] >= 2, "SIPE's handler did not go through the interposer")
    # Control: without the interposer libxml2 2.9.14 ignores the SAX1 callbacks.
    rc, ev = run_driver_selftest(ctx.driver, ctx.tmp, no_interpose=True)
    check(rc != 0 and ev["start_element_calls"] == 0 and ev["sipe_root"] == "",
          "without interposition the parse unexpectedly worked (test cannot fail?): %r" % ev)


def new_client(ctx, port, trust_cert, name, extra_args=()):
    return SipeClient(ctx.driver, user="sip:alice@example.test", login="alice@example.test",
                      password="Passw0rd!", server="127.0.0.1:%d" % port, transport="tls",
                      trust_cert=trust_cert, user_agent=LYNC_USER_AGENT,
                      debug_file=os.path.join(ctx.tmp, name + ".debug.log"),
                      extra_args=extra_args)


def header_names(msg):
    return [n for n, _ in msg.headers]


def test_tls_register_ntlm(ctx):
    server = FakeRegistrar(ctx.cert, ctx.key, timeout=60)
    client = new_client(ctx, server.port, ctx.cert, "register")
    try:
        client.start()
        peer = client.wait_for("tls_peer", timeout=20)
        check(peer["trusted"] is True, "pinned certificate not trusted: %r" % peer, client)
        check(server.wait_requests(3, 20), "expected 3 REGISTERs, got %d" % len(server.received),
              client)
        r1, r2, r3 = server.received[:3]
        for r in (r1, r2, r3):
            check(r.method == "REGISTER", "not a REGISTER: %s" % r.start, client)
        contact = r1.get("Contact") or ""
        check("+sip.instance=" in contact, "Contact lacks +sip.instance: %s" % contact, client)
        check("epid=" in (r1.get("From") or ""), "From lacks epid: %s" % r1.get("From"), client)
        check(r1.get("Supported") is not None, "no Supported header", client)
        check((r1.get("User-Agent") or "").startswith("UCCAPI/15.0"),
              "--user-agent not used: %r" % r1.get("User-Agent"), client)
        check(r1.get("Authorization") is None, "first REGISTER already has Authorization", client)
        auth2 = r2.get("Authorization") or ""
        check(auth2.startswith("NTLM ") and 'gssapi-data=""' in auth2,
              "second REGISTER lacks NTLM start: %r" % auth2, client)
        check('targetname="%s"' % TARGET in auth2 and 'realm="%s"' % REALM in auth2,
              "second REGISTER does not echo realm/targetname: %r" % auth2, client)
        check(r2.get("Call-ID") == r1.get("Call-ID"), "Call-ID changed between REGISTERs",
              client)
        auth3 = r3.get("Authorization") or ""
        m = re.search(r'gssapi-data="([^"]+)"', auth3)
        check(m is not None and ntlm_message_type(m.group(1)) == 3,
              "third REGISTER lacks an NTLM AUTHENTICATE: %r" % auth3, client)
        check('opaque="3A2F5C81"' in auth3, "opaque not echoed: %r" % auth3, client)
        client.wait_for("connection_error", timeout=15)
        ctx.transcript = (server, client)
    finally:
        code = client.quit(timeout=10)
        server.stop()
    check(code == 0, "driver exit code %r" % code, client)


def test_wrong_certificate(ctx):
    server = FakeRegistrar(ctx.cert, ctx.key, timeout=60)
    client = new_client(ctx, server.port, ctx.other_cert, "wrongcert")
    try:
        client.start()
        peer = client.wait_for("tls_peer", timeout=20)
        check(peer["trusted"] is False, "wrong certificate trusted: %r" % peer, client)
        err = client.wait_for("connection_error", timeout=20)
        check(err.get("reason"), "connection_error without a reason", client)
        time.sleep(1.0)
        check(not server.received, "server received %d messages despite an untrusted cert"
              % len(server.received), client)
    finally:
        code = client.quit(timeout=10)
        server.stop()
    check(code == 0, "driver exit code %r" % code, client)


def test_stdin_eof_and_sigterm(ctx):
    # No server at all: the driver must still exit promptly on EOF and on SIGTERM.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = new_client(ctx, port, ctx.cert, "eof")
    client.start()
    client.wait_for("ready", timeout=10)
    client.proc.stdin.close()
    try:
        client.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    check(client.proc.poll() == 0, "driver did not exit 0 on stdin EOF", client)
    client.stop()
    client = new_client(ctx, port, ctx.cert, "term")
    client.start()
    client.wait_for("ready", timeout=10)
    t0 = time.monotonic()
    code = client.stop(term_timeout=10)
    check(code == 0 and time.monotonic() - t0 < 9, "SIGTERM exit %r" % code, client)


ALLOW_EVENTS = ("vnd-microsoft-provisioning,vnd-microsoft-roaming-contacts,"
                "vnd-microsoft-roaming-ACL,presence,presence.wpending,vnd-microsoft-roaming-self,"
                "vnd-microsoft-provisioning-v2")
CONTACT_LIST = (b'<contactList deltaNum="1" '
                b'xmlns="http://schemas.microsoft.com/2006/09/sip/contactlist">'
                b'<group id="1" name="~" externalURI=""/>'
                b'<group id="2" name="Friends" externalURI=""/>'
                b'<contact uri="bob@example.test" name="Bob" groups="2" subscribed="true" '
                b'externalURI=""/></contactList>')
BOB_CATEGORIES = (
    b'<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" '
    b'uri="sip:bob@example.test">'
    b'<category name="state" instance="0" publishTime="2026-01-01T00:00:00Z" container="2" '
    b'version="1" expireType="static">'
    b'<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="false" '
    b'xsi:type="aggregateState"><availability>6500</availability></state></category>'
    b'<category name="note" instance="0" publishTime="2026-01-01T00:00:00Z" container="2" '
    b'version="1" expireType="static"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note">'
    b'<body type="personal" uri="">In a meeting</body></note></category></categories>')
IM_SDP = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          b"m=message 5061 sip null\r\na=accept-types:text/plain text/html\r\n")


def front_end_handler(server, msg):
    """A front end that registers without a challenge (SIPE then signs nothing) and answers
    what SIPE sends after sign-in: the roaming contact list piggy-backed on the SUBSCRIBE 200,
    IM INVITEs, and 200 OK to everything else."""
    if msg.start.startswith("SIP/2.0") or msg.method == "ACK":
        return None
    extra, body, ctype = [], b"", None
    if msg.method == "REGISTER":
        extra = [("Expires", "7200"), ("Supported", "msrtc-event-categories"),
                 ("Allow-Events", ALLOW_EVENTS),
                 ("Contact", (msg.get("Contact") or "") + ";expires=7200")]
    elif msg.method == "SUBSCRIBE":
        extra = [("Expires", "3600"), ("Contact", "<sip:fe.example.test:5061;transport=tls>")]
        if msg.get("Event") == "vnd-microsoft-roaming-contacts":
            body, ctype = CONTACT_LIST, "application/vnd-microsoft-roaming-contacts+xml"
            extra += [("Event", "vnd-microsoft-roaming-contacts"), ("ms-piggyback-cseq", "1")]
    elif msg.method == "INVITE" and msg.start.startswith("INVITE sip:nobody@"):
        return server._response(msg, "404 Not Found", [])
    elif msg.method == "INVITE":
        extra = [("Contact", "<sip:bob@example.test;gruu;opaque=app:conf:focus>")]
    return server._response(msg, "200 OK", extra, body, ctype)


def sip_request(method, uri, from_, to, call_id, cseq, extra=(), body=b"", ctype=None):
    lines = ["%s %s SIP/2.0" % (method, uri),
             "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK%s%d" % (call_id, cseq),
             "Max-Forwards: 70", "From: " + from_, "To: " + to, "Call-ID: " + call_id,
             "CSeq: %d %s" % (cseq, method)]
    lines += ["%s: %s" % kv for kv in extra]
    if ctype:
        lines.append("Content-Type: " + ctype)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def wait_request(server, predicate, timeout, what, client):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with server.lock:
            for m in server.received:
                if not m.start.startswith("SIP/2.0") and predicate(m):
                    return m
            server.lock.wait(0.2)
    raise Failure("server never received %s\n%s" % (what, client.output()))


def test_signed_in_session(ctx):
    """Every driver command and event against a front end that does not authenticate."""
    server = FakeRegistrar(ctx.cert, ctx.key, timeout=90, handler=front_end_handler)
    client = new_client(ctx, server.port, ctx.cert, "session")
    bob = "sip:bob@example.test"
    try:
        client.start()
        client.wait_for("signed_on", timeout=20)
        # The contact list arrives as XML: SIPE only sees it through the SAX interposer.
        ev = client.wait_for("buddy_added", lambda e: e["uri"] == bob, timeout=10)
        check(ev["group"] == "Friends", "bob not in Friends: %r" % ev, client)
        sub = wait_request(server, lambda m: m.method == "SUBSCRIBE" and
                           m.get("Event") == "presence" and bob.encode() in m.body,
                           10, "a presence SUBSCRIBE for bob", client)
        server.send(sip_request("NOTIFY", "sip:alice@example.test",
                                "<sip:alice@example.test>;tag=fe1",
                                sub.get("From").split(";epid=")[0], sub.get("Call-ID"), 1,
                                [("Event", "presence"),
                                 ("Subscription-State", "active;expires=3600")],
                                BOB_CATEGORIES, "application/msrtc-event-categories+xml"))
        # SIPE may report bob "offline" first (contact list); wait for the NOTIFY's result.
        ev = client.wait_for("buddy_status", lambda e: e["uri"] == bob and e["status"] == "busy",
                             timeout=10)
        check("In a meeting" in (ev["message"] or ""), "presence note not applied: %r" % ev,
              client)
        listed = {b["uri"]: b for b in client.buddies()}
        check(bob in listed and listed[bob]["status"] == "busy", "buddies: %r" % listed, client)

        client.send("im %s hello bob" % bob)
        wait_request(server, lambda m: m.method == "MESSAGE" and m.body == b"hello bob", 10,
                     "MESSAGE 'hello bob'", client)
        client.send("im sip:nobody@example.test are you there")
        ev = client.wait_for("im_error", lambda e: e["to"] == "sip:nobody@example.test", 10)
        check(ev["text"], "im_error without text: %r" % ev, client)
        client.send("typing " + bob)
        wait_request(server, lambda m: m.method == "INFO" and b'status="type"' in m.body, 10,
                     "a typing INFO", client)
        client.send("status away gone fishing")
        wait_request(server, lambda m: m.method == "SERVICE" and b"<availability>15500<" in m.body
                     and b"gone fishing" in m.body, 10, "a presence publication (away)", client)

        # Inbound IM session from bob: INVITE, ACK, MESSAGE, typing INFO.
        bob_from = "<sip:bob@example.test>;tag=bob1;epid=bobepid"
        alice_to = "<sip:alice@example.test>"
        server.send(sip_request("INVITE", "sip:alice@example.test", bob_from, alice_to, "im-in-1",
                                1, [("Contact", "<sip:bob@example.test;gruu;opaque=bob>")],
                                IM_SDP, "application/sdp"))
        end = time.monotonic() + 10
        while time.monotonic() < end and not any(
                m.start.startswith("SIP/2.0 200") and m.get("Call-ID") == "im-in-1"
                for m in list(server.received)):
            time.sleep(0.1)
        server.send(sip_request("ACK", "sip:alice@example.test", bob_from, alice_to, "im-in-1", 1))
        server.send(sip_request("MESSAGE", "sip:alice@example.test", bob_from, alice_to,
                                "im-in-1", 2, (), b"hi alice", "text/plain; charset=UTF-8"))
        ev = client.wait_for("im_received", lambda e: e["from"] == bob, timeout=10)
        check(ev["text"] == "hi alice", "im_received text: %r" % ev, client)
        server.send(sip_request("INFO", "sip:alice@example.test", bob_from, alice_to, "im-in-1",
                                3, (), b'<?xml version="1.0"?><KeyboardActivity>'
                                b'<status status="type" /></KeyboardActivity>', "application/xml"))
        ev = client.wait_for("typing", lambda e: e["from"] == bob, timeout=10)
        check(ev["state"] == "typing", "typing event: %r" % ev, client)

        client.send("remove " + bob)
        client.wait_for("buddy_removed", lambda e: e["uri"] == bob, timeout=10)
        wait_request(server, lambda m: m.method == "SERVICE" and b"deleteContact" in m.body, 10,
                     "a deleteContact SERVICE", client)
        client.send("add sip:carol@example.test Work")
        ev = client.wait_for("buddy_added", lambda e: e["uri"] == "sip:carol@example.test", 10)
        check(ev["group"] == "Work", "carol group: %r" % ev, client)
        wait_request(server, lambda m: m.method == "SERVICE" and b"<m:name>Work</m:name>" in m.body,
                     10, "an addGroup SERVICE", client)
        client.send("bogus")
        client.wait_for("command_error", lambda e: e["command"] == "bogus", timeout=5)
        client.send("quit")
        client.wait_for("signed_off", timeout=10)
        try:
            client.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        check(client.proc.poll() == 0, "driver did not exit 0 after quit", client)
        # Clean sign-off: unsubscribe and de-register before the connection is dropped.
        wait_request(server, lambda m: m.method == "REGISTER" and m.get("Expires") == "0", 5,
                     "a de-REGISTER (Expires: 0)", client)
        wait_request(server, lambda m: m.method == "SUBSCRIBE" and m.get("Expires") == "0" and
                     m.get("Event") == "vnd-microsoft-roaming-contacts", 5,
                     "an unSUBSCRIBE of roaming contacts", client)
    finally:
        client.stop()
        server.stop()


def test_session_without_interposer_loses_contacts(ctx):
    """Control for the interposer: unpatched, SIPE signs in but drops the XML contact list."""
    server = FakeRegistrar(ctx.cert, ctx.key, timeout=60, handler=front_end_handler)
    client = new_client(ctx, server.port, ctx.cert, "nointerpose", ["--no-interpose"])
    try:
        client.start()
        client.wait_for("signed_on", timeout=20)
        wait_request(server, lambda m: m.get("Event") == "vnd-microsoft-roaming-contacts", 10,
                     "the roaming-contacts SUBSCRIBE", client)
        client.expect_none("buddy_added", duration=2.0)
        check(client.buddies() == [], "contacts parsed without the interposer?", client)
    finally:
        code = client.quit(timeout=10)
        server.stop()
    check(code == 0, "driver exit code %r" % code, client)


def write_transcript(path, server, client):
    with open(path, "w") as f:
        for i, msg in enumerate(server.received):
            f.write("=== client -> server #%d ===\n" % (i + 1))
            f.write(msg.raw.decode("utf-8", "replace").replace("\r\n", "\n"))
            f.write("\n")
            if i < len(server.sent):
                f.write("=== server -> client #%d ===\n" % (i + 1))
                f.write(server.sent[i].decode().replace("\r\n", "\n"))
                f.write("\n")
        f.write("=== driver events ===\n")
        f.write("\n".join(client.raw_stdout) + "\n")


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--transcript", help="write the observed SIP exchange here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (debug logs)")
    opts = ap.parse_args()
    if not os.access(opts.driver, os.X_OK):
        print("driver not executable: %s" % opts.driver)
        return 1
    ctx = Ctx()
    ctx.driver = opts.driver
    ctx.tmp = tempfile.mkdtemp(prefix="sipe-selftest-")
    ctx.transcript = None
    passed = failed = 0
    try:
        ctx.cert, ctx.key = make_cert(ctx.tmp, "server")
        ctx.other_cert, _ = make_cert(ctx.tmp, "other")
        for test in (test_xml_interposition, test_tls_register_ntlm, test_wrong_certificate,
                     test_signed_in_session, test_session_without_interposer_loses_contacts,
                     test_stdin_eof_and_sigterm):
            t0 = time.monotonic()
            try:
                test(ctx)
                passed += 1
                print("PASS %s (%.1fs)" % (test.__name__, time.monotonic() - t0), flush=True)
            except Exception:  # noqa: BLE001 - report every failure and continue
                failed += 1
                print("FAIL %s\n%s" % (test.__name__, traceback.format_exc()), flush=True)
        if opts.transcript and ctx.transcript:
            write_transcript(opts.transcript, *ctx.transcript)
    finally:
        if opts.keep:
            print("kept %s" % ctx.tmp)
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
