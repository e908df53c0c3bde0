#!/usr/bin/python3
"""ICE through the TURN relay: two aioice agents that can only reach each other relayed.

The relay (causeway's [turn] or coturn, as in turn_relay_test.py) runs on a free 127.0.0.1 port
with a REST API secret and peers on loopback allowed. For each client transport (udp, then tcp;
aioice 0.8 speaks TURN over both) two aioice Connections (one controlling), each given the relay
as turn_server with its own issued credentials and transport_policy RELAY:
  gather        each agent has at least one relayed candidate, on 127.0.0.1 in the relay's range
  connect       only the relayed candidates are exchanged (everything else filtered out);
                ICE completes on both sides within 20 s and the nominated pair is relay -> relay
  data          30 datagrams each way arrive intact and in order (ChannelData through the relay)
  close         both agents close (their allocations are deleted) and the relay keeps running

Usage:
  turn_ice_test.py --server coturn
  turn_ice_test.py --server causeway --binary build/X/gateway/causeway [--log-dir DIR]
Exit 0 only when every check passed; 77 when aioice or coturn is not installed.
"""

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import processes  # noqa: E402
import turn_env  # noqa: E402
from turn_env import RelaySpec, make_relay  # noqa: E402

try:
    import aioice
    from aioice.ice import TransportPolicy
except ImportError:
    aioice = None

GATHER_TIMEOUT_S = 15
CONNECT_TIMEOUT_S = 20
RECV_TIMEOUT_S = 5
DATAGRAMS = 30


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


def nominated_types(conn):
    """(local type, remote type) of the pair aioice nominated for component 1 (a private field:
    aioice has no public accessor for the selected pair)."""
    pair = getattr(conn, "_nominated", {}).get(1)
    if pair is None:
        return None
    return pair.local_candidate.type, pair.remote_candidate.type


async def ice_case(c, relay, transport):
    spec = relay.spec
    tag = "ice-%s" % transport
    agents = []
    try:
        for controlling, user in ((True, "ice-a"), (False, "ice-b")):
            username, password = relay.credentials(user, ttl_s=600)
            agents.append(aioice.Connection(
                ice_controlling=controlling, components=1,
                turn_server=(processes.LOOPBACK, spec.port), turn_username=username,
                turn_password=password, turn_transport=transport, use_ipv6=False,
                transport_policy=TransportPolicy.RELAY))
        a, b = agents

        try:
            await asyncio.wait_for(asyncio.gather(a.gather_candidates(), b.gather_candidates()),
                                   GATHER_TIMEOUT_S)
        except Exception as e:
            c.check(False, "%s: gather" % tag, "%s: %s" % (type(e).__name__, e))
            return
        relayed = []
        for name, agent in (("a", a), ("b", b)):
            mine = [x for x in agent.local_candidates if x.type == "relay"]
            relayed.append(mine)
            c.check(len(mine) >= 1 and all(
                x.host == processes.LOOPBACK and spec.port_min <= x.port <= spec.port_max
                for x in mine),
                "%s: agent %s has a relayed candidate on 127.0.0.1 in the relay's range"
                % (tag, name), [x.to_sdp() for x in agent.local_candidates])
        if not all(relayed):
            return

        # Only relayed candidates cross; end-of-candidates after them.
        for agent, other, theirs in ((a, b, relayed[1]), (b, a, relayed[0])):
            for cand in theirs:
                await agent.add_remote_candidate(cand)
            await agent.add_remote_candidate(None)
            agent.remote_username = other.local_username
            agent.remote_password = other.local_password

        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), CONNECT_TIMEOUT_S)
            connected = True
        except Exception as e:
            connected = False
            c.check(False, "%s: ICE connects" % tag, "%s: %s" % (type(e).__name__, e))
        if not connected:
            return
        c.check(True, "%s: ICE connects (%.2f s)" % (tag, time.monotonic() - started))
        for name, agent in (("a", a), ("b", b)):
            c.check(nominated_types(agent) == ("relay", "relay"),
                    "%s: agent %s nominated relay -> relay" % (tag, name), nominated_types(agent))

        for src, dst, direction in ((a, b, "a->b"), (b, a, "b->a")):
            sent = [("%s %s #%d " % (tag, direction, i)).encode() + bytes(range(64))
                    for i in range(DATAGRAMS)]
            got = []
            try:
                for payload in sent:
                    await src.send(payload)
                    got.append(await asyncio.wait_for(dst.recv(), RECV_TIMEOUT_S))
            except Exception as e:
                c.check(False, "%s: data %s" % (tag, direction),
                        "after %d of %d: %s: %s" % (len(got), DATAGRAMS, type(e).__name__, e))
                continue
            c.check(got == sent, "%s: %d datagrams %s intact and in order"
                    % (tag, DATAGRAMS, direction))
    finally:
        for agent in agents:
            try:
                await asyncio.wait_for(agent.close(), 10)
            except Exception as e:
                c.check(False, "%s: close" % tag, "%s: %s" % (type(e).__name__, e))
    c.check(relay.running(), "%s: relay still running" % tag)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("causeway", "coturn"), required=True)
    parser.add_argument("--binary", help="causeway binary, or turnserver (default %s)"
                        % turn_env.TURNSERVER)
    parser.add_argument("--transports", default="udp,tcp")
    parser.add_argument("--log-dir", help="keep logs here (default: a temp dir, removed on pass)")
    parser.add_argument("-v", "--verbose", action="store_true", help="aioice debug logging")
    args = parser.parse_args()
    if args.server == "causeway" and not args.binary:
        parser.error("--server causeway needs --binary")
    if aioice is None:
        print("skipped: aioice is not installed (Debian package python3-aioice)")
        return 77
    if args.server == "coturn" and not args.binary and not os.access(turn_env.TURNSERVER,
                                                                     os.X_OK):
        print("skipped: %s is not installed (Debian package coturn)" % turn_env.TURNSERVER)
        return 77
    if args.binary:
        args.binary = os.path.abspath(args.binary)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)

    root = args.log_dir or tempfile.mkdtemp(prefix="turn-ice-%s-" % args.server)
    os.makedirs(root, exist_ok=True)
    ports = processes.PortAllocator()
    c = Checks()
    relay = make_relay(args.server, args.binary, os.path.join(root, "relay"),
                       RelaySpec(ports.get(), secret="ice-test-secret-%d" % os.getpid()), ports)
    started = time.monotonic()
    try:
        relay.start()
        for transport in args.transports.split(","):
            print("== %s over %s" % (args.server, transport), flush=True)
            asyncio.run(ice_case(c, relay, transport))
    except Exception as e:
        c.check(False, "harness", "%s: %s" % (type(e).__name__, e))
    finally:
        rc = relay.stop()
        if args.server == "causeway":
            c.check(rc == 0, "SIGTERM -> exit 0", rc)
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
