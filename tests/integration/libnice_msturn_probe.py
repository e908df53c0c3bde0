#!/usr/bin/python3
"""MS-TURN probe: drives libnice (a real MS-TURN client, Nice.Compatibility.OC2007R2) against a
minimal MS-TURN responder written here, and prints every message of the exchange as hex.

Test-only. It shows what a complete allocation looks like on the wire and produced the vectors in
tests/media_msturn/libnice_vectors.h:

  1. Allocate (no credentials)            -> 401 with REALM (0x0015) and NONCE (0x0014)
  2. Allocate (USERNAME, REALM, NONCE, MI) -> success: MAPPED-ADDRESS = relayed address,
                                             XOR-MAPPED-ADDRESS (0x8020) = reflexive address,
                                             LIFETIME, MS-VERSION, MS-SEQUENCE-NUMBER, MI
  3. connectivity checks towards a peer leave as Send requests (0x0004, DESTINATION-ADDRESS,
     DATA); the responder relays each DATA to the peer socket, never answers Send (MS-TURN has no
     Send response)
  4. selecting the relayed pair sends Set Active Destination (0x0006) -> 0x0106 response
  (at LIFETIME / 2 libnice refreshes with the same authenticated Allocate; --lifetime 6 shows it)
  5. after that libnice sends application data raw (no TURN header) to the server, and raw
     datagrams from the server are taken as coming from the active destination.

With --transport tcp the client reaches the responder over TCP with [MS-TURN] 2.1.4 framing
(type 0x02 control / 0x03 data, 0, length); libnice then nests an RFC 4571 length inside each data
frame.

Requires python3-gi and gir1.2-nice-0.1. Loopback only; everything stops within --seconds.
With --stale-once the first authenticated Allocate gets 438 Stale Nonce with a new NONCE, and
libnice retries with that nonce.

With --server HOST:PORT (and --user/--password) libnice talks to that relay instead; exit 0 when
it obtained a relayed candidate and its connectivity checks reached the peer socket through it.

Usage: /usr/bin/python3 libnice_msturn_probe.py [--seconds 6] [--json] [--transport udp|tcp]
       [--stale-once] [--lifetime N] [--server HOST:PORT --user U --password P]
Exit status 0 when libnice's authenticated Allocate verified with the known password and the
allocation succeeded.
"""

import argparse
import base64
import binascii
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import socket
import struct
import sys

import gi

gi.require_version("Nice", "0.1")
from gi.repository import GLib, Nice  # noqa: E402

USERNAME = b"alice"
PASSWORD = b"secret"
REALM = b"causeway.test"
NONCE = b"0123456789abcdef0123456789abcdef"
TURN_MAGIC = 0x72C64BC6

# MS-TURN attribute types ([MS-TURN] 2.2.2; REALM and NONCE are swapped against RFC 5389).
A_MAPPED, A_USERNAME, A_MI, A_ERROR = 0x0001, 0x0006, 0x0008, 0x0009
A_LIFETIME, A_MAGIC, A_DEST, A_REMOTE, A_DATA = 0x000D, 0x000F, 0x0011, 0x0012, 0x0013
A_NONCE, A_REALM = 0x0014, 0x0015
A_MS_VERSION, A_XOR_MAPPED, A_MS_SEQ = 0x8008, 0x8020, 0x8050


def attrs_of(msg):
    """Unaligned TLV walk (MS-TURN attributes are not padded)."""
    out, at = [], 20
    while at + 4 <= len(msg):
        t, n = struct.unpack_from("!HH", msg, at)
        out.append((t, at, msg[at + 4:at + 4 + n]))
        at += 4 + n
    return out


def find(msg, t):
    for typ, _, val in attrs_of(msg):
        if typ == t:
            return val
    return None


def long_term_key(user, realm, password):
    return hashlib.md5(user + b":" + realm + b":" + password).digest()


def ms_integrity(covered, key):
    """HMAC-SHA1 over the header (length field = through MESSAGE-INTEGRITY) and the attributes
    before MESSAGE-INTEGRITY, zero-padded to a multiple of 64 bytes (RFC 3489 style)."""
    length = len(covered) - 20 + 24
    data = covered[:2] + struct.pack("!H", length) + covered[4:]
    data += b"\0" * ((64 - len(data) % 64) % 64)
    return hmac.new(key, data, hashlib.sha1).digest()


def verify(msg, key):
    for typ, at, val in attrs_of(msg):
        if typ == A_MI:
            return hmac.compare_digest(ms_integrity(msg[:at], key), val)
    return None


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v


def address(ip, port):
    return struct.pack("!BBH", 0, 1, port) + socket.inet_aton(ip)


def build(msg_type, tid, attributes, key=None):
    body = b"".join(attr(t, v) for t, v in attributes)
    msg = struct.pack("!HH", msg_type, len(body)) + tid + body
    if key is not None:
        msg = msg[:2] + struct.pack("!H", len(body) + 24) + msg[4:]
        msg += attr(A_MI, ms_integrity(msg, key))
    return msg


RECV_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                           ctypes.POINTER(ctypes.c_char), ctypes.c_void_p)


def attach_recv(agent, stream, on_data):
    lib = ctypes.CDLL(ctypes.util.find_library("nice") or "libnice.so.10")
    lib.nice_agent_attach_recv.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_void_p, RECV_CB, ctypes.c_void_p]
    lib.nice_agent_attach_recv.restype = ctypes.c_int
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    pointer = get_pointer(agent.__gpointer__, None)
    callback = RECV_CB(lambda _a, _s, _c, n, buf, _d: on_data(ctypes.string_at(buf, n)))
    if not lib.nice_agent_attach_recv(pointer, stream, 1, None, callback, None):
        raise RuntimeError("nice_agent_attach_recv failed")
    return callback  # must outlive the agent's use of it


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp",
                        help="client <-> server transport; tcp uses [MS-TURN] 2.1.4 framing")
    parser.add_argument("--lifetime", type=int, default=480,
                        help="LIFETIME granted; libnice refreshes at half of it")
    parser.add_argument("--server", metavar="HOST:PORT",
                        help="use this MS-TURN relay instead of the built-in responder (UDP or "
                        "--transport tcp); --user/--password are its credentials")
    parser.add_argument("--user", default=USERNAME.decode())
    parser.add_argument("--password", default=PASSWORD.decode())
    parser.add_argument("--stale-once", action="store_true",
                        help="answer the first authenticated Allocate with 438 and a new nonce")
    args = parser.parse_args()
    tcp = args.transport == "tcp"

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    if tcp:
        server.listen(1)
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the "relayed" address
    relay.bind(("127.0.0.1", 0))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a remote ICE candidate
    peer.bind(("127.0.0.1", 0))
    for s in (server, relay, peer):
        s.setblocking(False)

    loop = GLib.MainLoop()
    agent = Nice.Agent.new(loop.get_context(), Nice.Compatibility.OC2007R2)
    agent.set_property("upnp", False)
    agent.set_property("controlling-mode", True)
    local = Nice.Address()
    local.init()
    local.set_from_string("127.0.0.1")
    agent.add_local_address(local)
    stream = agent.add_stream(1)
    # libnice base64-decodes MS-TURN credentials before putting them on the wire.
    relay_host, relay_port = "127.0.0.1", server.getsockname()[1]
    if args.server:
        relay_host, _, port_text = args.server.rpartition(":")
        relay_port = int(port_text)
    agent.set_relay_info(stream, 1, relay_host, relay_port,
                         base64.b64encode(args.user.encode()).decode(),
                         base64.b64encode(args.password.encode()).decode(),
                         Nice.RelayType.TCP if tcp else Nice.RelayType.UDP)

    key = long_term_key(USERNAME, REALM, PASSWORD)
    connection_id = os.urandom(20)
    state = {"client": None, "seq": 0, "active": None, "selected": False,
             "conn": None, "stream": b""}
    log = []

    def record(name, data, note=""):
        entry = {"name": name, "hex": binascii.hexlify(data).decode(), "note": note}
        log.append(entry)
        if not args.json:
            print(f"{name}: {entry['hex']}" + (f"   ({note})" if note else ""))

    def to_client(message, control=True):
        if not tcp:
            server.sendto(message, state["client"])
            return
        # [MS-TURN] 2.1.4: type 0x02 control / 0x03 end-to-end data, reserved 0, length.
        frame = struct.pack("!BBH", 2 if control else 3, 0, len(message)) + message
        if not control:
            record("tcp_data_frame_to_client", frame)
        state["conn"].sendall(frame)

    def answer(data, addr):
        msg_type = struct.unpack_from("!H", data)[0]
        tid = data[4:20]
        if addr is None or find(data, A_MAGIC) != struct.pack("!I", TURN_MAGIC):
            # Not a TURN control message: raw data for the active destination.
            record("raw_data_from_client", data, f"relayed to {state['active']}")
            if state["active"]:
                relay.sendto(data, state["active"])
            return
        state["client"] = addr
        if msg_type == 0x0003 and find(data, A_MI) is None:
            record("allocate_request", data)
            reply = build(0x0113, tid, [(A_MAGIC, struct.pack("!I", TURN_MAGIC)),
                                        (A_ERROR, struct.pack("!HBB", 0, 4, 1) + b"Unauthorized"),
                                        (A_REALM, REALM), (A_NONCE, NONCE),
                                        (A_MS_VERSION, struct.pack("!I", 1))])
            record("allocate_401", reply)
        elif msg_type == 0x0003 and args.stale_once and not state.get("stale_sent"):
            state["stale_sent"] = True
            record("allocate_request_authenticated", data, f"integrity ok={verify(data, key)}")
            reply = build(0x0113, tid, [(A_MAGIC, struct.pack("!I", TURN_MAGIC)),
                                        (A_ERROR, struct.pack("!HBB", 0, 4, 38) + b"Stale Nonce"),
                                        (A_REALM, REALM), (A_NONCE, NONCE[::-1]),
                                        (A_MS_VERSION, struct.pack("!I", 1))])
            record("allocate_438", reply)
        elif msg_type == 0x0003:
            ok = verify(data, key)
            note = f"integrity ok={ok}"
            if state["client"] is not None and "allocate_success" in {e["name"] for e in log}:
                note += " (refresh)"
            if args.stale_once:
                note += f" nonce={'new' if find(data, A_NONCE) == NONCE[::-1] else 'old'}"
            record("allocate_request_authenticated", data, note)
            if not ok:
                return
            state["client"] = addr
            rip, rport = relay.getsockname()
            mask = struct.unpack("!I", tid[:4])[0]  # MS XOR-MAPPED-ADDRESS: XOR with the id
            xor_port = addr[1] ^ (mask >> 16)
            xor_ip = struct.unpack("!I", socket.inet_aton(addr[0]))[0] ^ mask
            reply = build(0x0103, tid, [(A_MAGIC, struct.pack("!I", TURN_MAGIC)),
                                        (A_MAPPED, address(rip, rport)),
                                        (A_XOR_MAPPED,
                                         struct.pack("!BBHI", 0, 1, xor_port, xor_ip)),
                                        (A_LIFETIME, struct.pack("!I", args.lifetime)),
                                        (A_MS_VERSION, struct.pack("!I", 1)),
                                        (A_MS_SEQ, connection_id + struct.pack("!I", 0))], key)
            record("allocate_success", reply)
        elif msg_type == 0x0004:
            ok = verify(data, key)
            dest = find(data, A_DEST)
            payload = find(data, A_DATA) or b""
            record("send_request", data, f"integrity ok={ok}")
            if ok and dest and len(dest) == 8:
                to = (socket.inet_ntoa(dest[4:8]), struct.unpack("!H", dest[2:4])[0])
                relay.sendto(payload, to)
            return  # MS-TURN: the server never answers a Send request
        elif msg_type == 0x0006:
            ok = verify(data, key)
            record("set_active_destination_request", data, f"integrity ok={ok}")
            dest = find(data, A_DEST)
            if not ok or not dest or len(dest) != 8:
                return
            state["active"] = (socket.inet_ntoa(dest[4:8]), struct.unpack("!H", dest[2:4])[0])
            reply = build(0x0106, tid, [(A_MAGIC, struct.pack("!I", TURN_MAGIC)),
                                        (A_MS_VERSION, struct.pack("!I", 1))], key)
            record("set_active_destination_success", reply)
        else:
            record("other", data)
            return
        to_client(reply)

    def on_server(_fd, _cond):
        if tcp:
            conn, addr = server.accept()
            conn.setblocking(False)
            state["conn"], state["peer_addr"] = conn, addr
            GLib.io_add_watch(conn.fileno(), GLib.IO_IN | GLib.IO_HUP, on_conn)
            return True
        try:
            data, addr = server.recvfrom(65535)
        except BlockingIOError:
            return True
        if len(data) >= 20:
            answer(data, addr)
        return True

    def on_conn(_fd, _cond):
        try:
            chunk = state["conn"].recv(65535)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        state["stream"] += chunk
        while len(state["stream"]) >= 4:
            frame_type, reserved, length = struct.unpack_from("!BBH", state["stream"])
            if len(state["stream"]) < 4 + length:
                break
            frame, state["stream"] = state["stream"][:4 + length], state["stream"][4 + length:]
            if frame_type == 2 and reserved == 0:
                if "tcp_control_frame" not in {e["name"] for e in log}:
                    record("tcp_control_frame", frame)
                answer(frame[4:], state["peer_addr"])
            elif frame_type == 3 and reserved == 0:
                record("tcp_data_frame_from_client", frame)
                answer(frame[4:], None)
            else:
                record("tcp_bad_frame", frame)
                return False
        return True

    def on_relay(_fd, _cond):
        # A datagram from a peer to the relayed address: Data indication, or raw once active.
        try:
            data, addr = relay.recvfrom(65535)
        except BlockingIOError:
            return True
        if state["client"] is None:
            return True
        if state["active"] == addr:
            to_client(data, control=False)
            return True
        indication = build(0x0115, os.urandom(16), [(A_MAGIC, struct.pack("!I", TURN_MAGIC)),
                                                   (A_REMOTE, address(*addr)), (A_DATA, data)])
        record("data_indication", indication)
        to_client(indication)
        return True

    def on_peer(_fd, _cond):
        try:
            data, _addr = peer.recvfrom(65535)
        except BlockingIOError:
            return True
        record("peer_received", data)
        return True

    watched = ((server, on_server), (relay, on_relay), (peer, on_peer))
    if args.server:  # the external relay answers; only the peer socket is ours
        watched = ((peer, on_peer),)
    for s, cb in watched:
        GLib.io_add_watch(s.fileno(), GLib.IO_IN, cb)

    def on_gathering_done(_agent, _stream):
        relayed = [c for c in agent.get_local_candidates(stream, 1)
                   if c.type == Nice.CandidateType.RELAYED]
        if not relayed:
            return
        record("relayed_candidate", agent.generate_local_candidate_sdp(relayed[0]).encode())
        fields = agent.generate_local_candidate_sdp(relayed[0]).split()
        relayed_addr = (fields[4], int(fields[5])) if args.server else relay.getsockname()
        remote = agent.parse_remote_candidate_sdp(
            stream, "a=candidate:1 1 UDP 1000 %s %d typ host" % peer.getsockname())
        agent.set_remote_credentials(stream, "peeruser", "peerpass")
        agent.set_remote_candidates(stream, 1, [remote])

        def select():
            # Choosing the relayed pair makes libnice send Set Active Destination.
            # The foundation is a char array GI cannot read; take it from the SDP line.
            # Now libnice's checks (Send requests) have installed the peer's permission: the peer's
            # datagram comes back as a Data indication.
            hello = b"hello before active destination"
            peer.sendto(struct.pack("!H", len(hello)) + hello if tcp else hello, relayed_addr)
            sdp = agent.generate_local_candidate_sdp(relayed[0])
            foundation = sdp.split(":", 1)[1].split()[0]
            ok = agent.set_selected_pair(stream, 1, foundation, "1")
            if ok:
                state["selected"] = True
                GLib.timeout_add(400, send_data)
            return False

        def send_data():
            media = b"media after active destination"
            agent.send(stream, 1, len(media), media.decode())
            media_back = b"media from peer"
            peer.sendto(struct.pack("!H", len(media_back)) + media_back if tcp else media_back,
                        relayed_addr)
            return False

        # Before the active destination: the peer's datagram reaches the client as a Data
        # indication (0x0115) with REMOTE-ADDRESS.
        if not args.server:
            peer.sendto(b"hello before active destination", relayed_addr)
        GLib.timeout_add(600, select)

    agent.connect("candidate-gathering-done", on_gathering_done)
    # libnice reads its sockets only once a receive callback is attached, and
    # nice_agent_attach_recv() is not introspectable (nor is recv's buffer length): call it
    # through ctypes on the agent's GObject pointer, with the default main context.
    keep_alive = attach_recv(agent, stream, lambda data: record("client_received_data", data))
    agent.gather_candidates(stream)
    GLib.timeout_add(int(args.seconds * 1000), loop.quit)
    loop.run()
    agent.remove_stream(stream)
    for s in (server, relay, peer) + ((state["conn"],) if state["conn"] else ()):
        s.close()
    if args.json:
        json.dump(log, sys.stdout, indent=1)
        print()
    names = {e["name"] for e in log}
    if args.server:
        # Against a real relay: success = libnice got a relayed candidate and media crossed it
        # both ways (the peer got the client's, the client the peer's).
        return 0 if {"relayed_candidate", "peer_received", "client_received_data"} <= names else 1
    # Success = the authenticated Allocate verified with the known password.
    return 0 if any(e["name"] == "allocate_request_authenticated" and "ok=True" in e["note"]
                    for e in log) and "allocate_success" in names else 1


if __name__ == "__main__":
    sys.exit(main())
