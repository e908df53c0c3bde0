#!/usr/bin/python3
"""SIP -> XMPP IMs end to end: sipp through causeway and Prosody to slixmpp receivers.

The topology of tests/integration/xmpp_federation_test.py, imported from there: a network
namespace (loopback only), a test DNS answering SRV/A for lync.test (causeway, 127.0.0.3) and
xmpp.test (Prosody, 127.0.0.2), a test CA, Prosody from Debian serving xmpp.test with in-memory
storage, causeway serving lync.test in s2s mode (TLS + SASL EXTERNAL both ways, lab mode: no
users, so no SIP authentication). Two paths, at each rate of a ladder of steps:

  e2e   sipp -> causeway (SIP TCP) -> s2s -> Prosody -> c2s -> receiver;
        receipt -> Prosody -> s2s -> causeway -> SIP 200 -> sipp
  xmpp  the reference without causeway: slixmpp senders logged in to the same Prosody (c2s)
        -> Prosody -> the same receivers; receipt -> Prosody -> sender

Receivers: --users accounts recvN@xmpp.test, spread over --receiver-procs slixmpp processes
(this file, --receiver-agent). Each answers every XEP-0184 request at once and checks, per
(receiver, sender) pair, that the bodies' "seq N" grow by exactly the conversation count: lower is
out of order, equal a duplicate, a larger jump a gap. --conversations senders write round-robin
(conversation k to recv(k mod users)): on the e2e path sip:<step>c<k>@lync.test (new names each
step), on the reference path sendK@xmpp.test (--sender-procs processes, --sender-agent).

A step offers rate x --step-seconds messages. It passes with < 1% of them failed or unanswered
(bench/sip_load's rule), every one received exactly once, in order (no loss, no reorder), and
at least 90% of the rate achieved (the load generators slow down rather than fail when the path
saturates). A path stops at its first failing step. Per step: achieved rate (answered / wall
time, tail included), response time p50/p99 (sipp -trace_rtt, whole ms; the senders' send ->
receipt), Prosody, causeway, receivers' and load generators' CPU (100% = one core), received /
missing / out of order / duplicates. The ratio e2e / xmpp of the highest passing rates ends the run.

Run as root (ip netns); exits 77 otherwise:
  /usr/bin/python3 bench/xmpp_bridge/e2e.py --causeway build/e2e/gateway/causeway \
      [--rates 200 500 1000 2000 3000 4000 5000 6000] [--step-seconds 10] [--paths e2e xmpp] \
      [--keep DIR]

Every process is started under `ip netns exec` with a parent-death signal and stopped by PID;
every wait is bounded.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INTEGRATION = os.path.join(REPO, "tests", "integration")
sys.path.insert(0, INTEGRATION)

from processes import stop_process  # noqa: E402
from xmpp_env import (PYTHON, DnsServer, EnvError, Netns, Prosody, TestPki,  # noqa: E402
                      readline_bounded, serve_stdin_json)
# The federation test's causeway: lync.test, SIP TCP on LYNC_IP:5060, [xmpp] s2s on LYNC_IP:5269.
from xmpp_federation_test import LYNC, LYNC_IP, XMPP, XMPP_IP, Causeway  # noqa: E402


def _load(name, path):
    """A module by file path (bench/*/run.py share one file name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# bench/sip_load/run.py: CPU ticks, percentiles, sipp stats and options; bench/xmpp_bridge/run.py:
# the forward latency causeway logs at shutdown.
sip_load = _load("sip_load_run", os.path.join(REPO, "bench", "sip_load", "run.py"))
xmpp_bridge_run = _load("xmpp_bridge_run", os.path.join(HERE, "run.py"))
MAX_FAILED_RATIO = sip_load.MAX_FAILED_RATIO
MIN_CARRIED_RATIO = 0.9  # answered messages per second over the offered rate
CLK_TCK = sip_load.CLK_TCK
SIP_TCP_PORT = 5060  # causeway's SIP TCP listener in the federation test's config
DEFAULT_RATES = [200, 500, 1000, 2000, 3000, 4000, 5000, 6000]
PASSWORD = "bench-pw-1"
UAC_XML = os.path.join(HERE, "im_uac_users.xml")
AGENT_READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 8.0  # after the load: messages still queued in Prosody or the receivers
TAIL_S = 6.0  # answers awaited after the last message (causeway's receipt_wait_ms is 3000)


# ---------------------------------------------------------------------------------------------
# Agents: slixmpp processes in the namespace, driven by JSON lines on stdin/stdout.

def _agent_client_class():
    import slixmpp

    class PinnedClient(slixmpp.ClientXMPP):
        """Connects to the given address: slixmpp would resolve the JID's domain otherwise."""

        def __init__(self, jid, password, address, port):
            super().__init__(jid, password)
            self.pinned = (address, port)

        async def get_dns_records(self, domain, port=None):
            return [(self.boundjid.domain, self.pinned[0], self.pinned[1])]

    return PinnedClient


def _agent_connect_all(loop, cfg, setup):
    """Logs every JID in cfg["jids"] in (STARTTLS with the test CA), calls setup(client) before
    connecting and sends initial presence once the session starts. Returns {jid: client}, or
    raises RuntimeError naming the first client without a session within cfg["wait"] s."""
    import asyncio
    client_class = _agent_client_class()
    clients = {}
    started = []
    for jid in cfg["jids"]:
        client = client_class(jid, cfg["password"], cfg["address"], cfg["port"])
        client.ca_certs = cfg["ca_file"]
        client.whitespace_keepalive = False
        done = loop.create_future()

        def on_session(_, c=client, d=done):
            c.send_presence()
            if not d.done():
                d.set_result(None)

        def on_failure(*args, d=done, j=jid):
            if not d.done():
                d.set_exception(RuntimeError("%s: %s" % (j, args[0] if args else "failed")))

        client.add_event_handler("session_start", on_session)
        client.add_event_handler("failed_auth", on_failure)
        client.add_event_handler("connection_failed", on_failure)
        setup(client)
        client.connect(address=(cfg["address"], cfg["port"]))
        clients[jid] = client
        started.append(done)
    loop.run_until_complete(asyncio.wait_for(asyncio.gather(*started), cfg["wait"]))
    return clients


def _agent_serve(loop, handle):
    """Runs the loop; every stdin line is a JSON request for `handle` (a coroutine function whose
    result goes out as one JSON line). Returns when stdin closes."""
    async def run(request):
        try:
            reply = await handle(request)
        except Exception as e:  # every failure goes back as a reply
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    serve_stdin_json(loop, run)


def receiver_agent(cfg):
    """Receivers: count messages, check "seq N" order per (receiver, sender), answer receipts."""
    import asyncio
    from xml.sax.saxutils import quoteattr
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stride = cfg["stride"]
    counts = {"received": 0, "out_of_order": 0, "duplicates": 0, "gaps": 0, "receipts_sent": 0,
              "errors": 0, "not_seq": 0}
    last_seq = {}  # (receiver bare JID, sender bare JID) -> highest seq so far
    body_tag = "{jabber:client}body"
    request_tag = "{urn:xmpp:receipts}request"

    def setup(client):
        def on_message(msg):
            xml = msg.xml  # the element itself: slixmpp's stanza interface costs per access
            if xml.get("type") == "error":
                counts["errors"] += 1
                return
            body = xml.find(body_tag)
            if body is None:
                return  # chat states and the like
            counts["received"] += 1
            sender = xml.get("from", "")
            key = (xml.get("to", "").split("/", 1)[0], sender.split("/", 1)[0])
            text = body.text or ""
            if text.startswith("seq ") and text[4:].isdigit():
                seq = int(text[4:])
                last = last_seq.get(key)
                if last is not None:
                    if seq < last:
                        counts["out_of_order"] += 1
                    elif seq == last:
                        counts["duplicates"] += 1
                    elif seq - last != stride:
                        counts["gaps"] += 1
                if last is None or seq > last:
                    last_seq[key] = seq
            else:
                counts["not_seq"] += 1
            msg_id = xml.get("id")
            if msg_id and xml.find(request_tag) is not None:
                client.send_raw("<message to=%s type='chat'><received xmlns='urn:xmpp:receipts' "
                                "id=%s/></message>" % (quoteattr(sender), quoteattr(msg_id)))
                counts["receipts_sent"] += 1

        client.register_handler(Callback("bench message", StanzaPath("message"), on_message))

    clients = _agent_connect_all(loop, cfg, setup)
    print(json.dumps({"ready": sorted(clients)}), flush=True)

    async def handle(request):
        if request.get("op") == "stats":
            return dict(counts)
        raise ValueError("unknown op %r" % request.get("op"))

    _agent_serve(loop, handle)
    for client in clients.values():
        client.abort()
    return 0


def sender_agent(cfg):
    """Senders: on {"op": "run", "rate", "seconds", "tail"} send `rate` messages/s round-robin
    over cfg["conversations"] ([sender JID, receiver JID, k]) with a receipt request and reply
    with sent / answered counts and the send -> receipt times. Conversation k's bodies are
    "seq k+1", "seq k+1+stride", ...: the numbering of sipp's calls on the e2e path, so the
    receivers check both paths alike."""
    import asyncio
    from xml.sax.saxutils import quoteattr
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stride = cfg["stride"]
    pending = {}  # message id -> send time (loop clock)
    state = {"rtts_ms": [], "errors": 0, "number": 0}
    received_tag = "{urn:xmpp:receipts}received"

    def setup(client):
        def on_message(msg):
            xml = msg.xml
            if xml.get("type") == "error":
                state["errors"] += 1
                pending.pop(xml.get("id"), None)
                return
            receipt = xml.find(received_tag)
            if receipt is None:
                return
            sent_at = pending.pop(receipt.get("id"), None)
            if sent_at is not None:
                state["rtts_ms"].append((loop.time() - sent_at) * 1000.0)

        client.register_handler(Callback("bench receipt", StanzaPath("message"), on_message))

    clients = _agent_connect_all(loop, cfg, setup)
    # [client, quoted receiver JID, next seq]
    conversations = [[clients[sender], quoteattr(to), k + 1]
                     for sender, to, k in cfg["conversations"]]
    print(json.dumps({"ready": sorted(clients)}), flush=True)

    async def run(rate, seconds, tail):
        pending.clear()
        state["rtts_ms"] = []
        state["errors"] = 0
        start = loop.time()
        sent = 0
        total = int(rate * seconds)
        while sent < total:
            due = min(total, int(rate * (loop.time() - start)) + 1)
            while sent < due:
                conversation = conversations[state["number"] % len(conversations)]
                client, to, seq = conversation
                conversation[2] += stride
                state["number"] += 1
                msg_id = "b%d" % state["number"]
                pending[msg_id] = loop.time()
                client.send_raw("<message to=%s type='chat' id='%s'><body>seq %d</body>"
                                "<request xmlns='urn:xmpp:receipts'/></message>"
                                % (to, msg_id, seq))
                sent += 1
            await asyncio.sleep(0.002)
        send_seconds = loop.time() - start
        deadline = loop.time() + tail
        while pending and loop.time() < deadline:
            await asyncio.sleep(0.02)
        rtts = sorted(state["rtts_ms"])
        return {"sent": sent, "answered": len(rtts), "unanswered": len(pending),
                "errors": state["errors"], "send_seconds": send_seconds,
                "rtts_ms": [round(r, 2) for r in rtts]}

    async def handle(request):
        if request.get("op") == "run":
            return await run(request["rate"], request["seconds"], request["tail"])
        raise ValueError("unknown op %r" % request.get("op"))

    _agent_serve(loop, handle)
    for client in clients.values():
        client.abort()
    return 0


# ---------------------------------------------------------------------------------------------
# Parent side

class Agent:
    """One agent process (this file, --receiver-agent or --sender-agent) in the namespace."""

    def __init__(self, netns, kind, cfg, workdir, name):
        self.name = name
        cfg_path = os.path.join(workdir, name + ".json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(workdir, name + ".log"), "wb")
        self.proc = netns.spawn(PYTHON, os.path.abspath(__file__), "--%s-agent" % kind, cfg_path,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                text=True, bufsize=1)
        line = readline_bounded(self.proc.stdout, AGENT_READY_TIMEOUT_S)
        if '"ready"' not in line:
            self.stop()
            raise EnvError("%s did not log in (%r), see %s" % (name, line, self.log.name))

    def send(self, op, **args):
        args["op"] = op
        try:
            self.proc.stdin.write(json.dumps(args) + "\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise EnvError("%s: gone: %s" % (self.name, e)) from e

    def reply(self, timeout_s):
        line = readline_bounded(self.proc.stdout, timeout_s)
        if not line:
            raise EnvError("%s: no answer within %.0f s" % (self.name, timeout_s))
        reply = json.loads(line)
        if "error" in reply:
            raise EnvError("%s: %s" % (self.name, reply["error"]))
        return reply

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the agent leaves when stdin closes
            except OSError:
                pass
        stop_process(self.proc, grace_s=3.0)
        self.proc.stdout.close()
        self.log.close()


def conversation_receiver(k, users):
    return "recv%d@%s" % (k % users, XMPP)


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.dir = workdir
        self.ns = self.dns = self.prosody = self.causeway = None
        self.receivers = []
        self.senders = []
        self.steps = {"e2e": [], "xmpp": []}
        self.sipp_port = 6000

    def _dir(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        return d

    def start(self):
        a = self.args
        self.ns = Netns(prefix="cwe2e")
        self.ns.create()
        pki = TestPki(self._dir("pki"))
        self.dns = DnsServer(self.ns, workdir=self.dir)
        self.dns.add_xmpp_domain(XMPP, XMPP_IP)
        self.dns.add_xmpp_domain(LYNC, LYNC_IP)
        self.dns.start()
        receivers = ["recv%d" % i for i in range(a.users)]
        senders = ["send%d" % i for i in range(a.senders)] if "xmpp" in a.paths else []
        started = time.monotonic()
        # log_level warn: Prosody logs several debug lines per stanza, which would be measured.
        self.prosody = Prosody(self.ns, XMPP, XMPP_IP, pki, self._dir("prosody"),
                               users={u: PASSWORD for u in receivers + senders},
                               log_level="warn")
        self.prosody.start()
        print("prosody up with %d accounts in %.1f s" % (len(receivers) + len(senders),
                                                          time.monotonic() - started), flush=True)
        if "e2e" in a.paths:
            self.causeway = Causeway(self.ns, a.causeway, self._dir("causeway"), pki, "s2s")
            self.causeway.start()
        common = {"password": PASSWORD, "address": XMPP_IP, "port": self.prosody.c2s_port,
                  "ca_file": pki.ca, "wait": 30, "stride": a.conversations}
        for p in range(a.receiver_procs):
            jids = ["%s@%s" % (u, XMPP) for u in receivers[p::a.receiver_procs]]
            self.receivers.append(Agent(self.ns, "receiver", dict(common, jids=jids),
                                        self.dir, "receivers%d" % p))
        for p in range(a.sender_procs if senders else 0):
            mine = set("%s@%s" % (u, XMPP) for u in senders[p::a.sender_procs])
            conversations = [["%s@%s" % (senders[k % len(senders)], XMPP),
                              conversation_receiver(k + k // len(senders), a.users), k]
                             for k in range(a.conversations)]
            conversations = [c for c in conversations if c[0] in mine]
            self.senders.append((Agent(self.ns, "sender",
                                       dict(common, jids=sorted(mine), conversations=conversations),
                                       self.dir, "senders%d" % p), len(conversations)))
        print("%d receivers in %d processes, %d senders in %d processes logged in" % (
            len(receivers), len(self.receivers), len(senders), len(self.senders)), flush=True)

    def stop(self):
        for agent in self.receivers + [s for s, _ in self.senders]:
            try:
                agent.stop()
            except Exception as e:  # keep stopping the rest
                print("cleanup %s: %s" % (agent.name, e), file=sys.stderr)
        for step in (lambda: self.causeway and self.causeway.stop(),
                     lambda: self.prosody and self.prosody.stop(),
                     lambda: self.dns and self.dns.stop(),
                     lambda: self.ns and self.ns.destroy()):
            try:
                step()
            except Exception as e:
                print("cleanup: %s" % e, file=sys.stderr)

    # -- measurements

    def receiver_counts(self):
        total = {}
        for agent in self.receivers:
            agent.send("stats")
            for key, value in agent.reply(10.0).items():
                total[key] = total.get(key, 0) + value
        return total

    def wait_received(self, before, expected):
        """Receiver counters since `before` once `expected` messages arrived, or once nothing
        more arrived for 1 s (at most DRAIN_TIMEOUT_S)."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        last, last_change = None, time.monotonic()
        while True:
            now = self.receiver_counts()
            delta = {k: v - before.get(k, 0) for k, v in now.items()}
            if delta["received"] >= expected or time.monotonic() >= deadline:
                return delta
            if delta["received"] != last:
                last, last_change = delta["received"], time.monotonic()
            elif time.monotonic() - last_change >= 1.0:
                return delta
            time.sleep(0.2)

    def pids(self):
        return {"prosody": [self.prosody.proc.pid],
                "causeway": [self.causeway.proc.pid] if self.causeway else [],
                "receivers": [r.proc.pid for r in self.receivers],
                "senders": [s.proc.pid for s, _ in self.senders]}

    def ticks(self):
        return {name: sip_load.cpu_ticks(pids) for name, pids in self.pids().items()}

    # -- steps

    def run_e2e(self, rate, seconds, tag):
        """sipp -> causeway -> Prosody -> receivers at `rate` for `seconds`."""
        step_dir = self._dir(tag)
        calls = int(rate * seconds)
        budget = int(seconds + TAIL_S) + 2
        inf = os.path.join(step_dir, "conversations.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for k in range(self.args.conversations):
                # New sender names each step, so the order checks start over.
                f.write("%sc%d;%s;\n" % (tag.replace("_", ""), k,
                                         conversation_receiver(k, self.args.users).split("@")[0]))
        self.sipp_port += 1
        cmd = sip_load.sipp_base("tcp", self.sipp_port, self.sipp_port)
        cmd[cmd.index("domain") + 1] = LYNC
        cmd += ["-key", "from_domain", LYNC, "-key", "to_domain", XMPP,
                "-sf", UAC_XML, "%s:%d" % (LYNC_IP, SIP_TCP_PORT), "-inf", inf,
                "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(max(rate * 4, 100)),
                "-timeout", "%ds" % budget, "-trace_stat", "-stf",
                os.path.join(step_dir, "stat.csv"), "-fd", "1",
                "-trace_rtt", "-rtt_freq", "100", "-timer_resol", "1",
                "-trace_err", "-error_file", os.path.join(step_dir, "err.log")]
        before = self.receiver_counts()
        ticks0 = self.ticks()
        t0 = time.monotonic()
        with open(os.path.join(step_dir, "screen.log"), "w") as out:
            sipp = self.ns.spawn(*cmd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=step_dir)
            sipp_ticks = 0
            try:
                deadline = time.monotonic() + budget + 5
                while sipp.poll() is None and time.monotonic() < deadline:
                    sipp_ticks = max(sipp_ticks, sip_load.cpu_ticks([sipp.pid]))
                    time.sleep(0.2)
            finally:
                stop_process(sipp)
        wall = time.monotonic() - t0
        ticks1 = self.ticks()
        ok_calls, failed = sip_load.read_stats(os.path.join(step_dir, "stat.csv"))
        rtts = sip_load.read_rtts(step_dir)
        got = self.wait_received(before, calls)
        return self._step("e2e", rate, calls, ok_calls, rtts, wall, ticks0, ticks1,
                          100.0 * sipp_ticks / CLK_TCK / wall, got)

    def run_xmpp(self, rate, seconds):
        """slixmpp senders -> Prosody -> receivers at `rate` for `seconds` (no causeway)."""
        before = self.receiver_counts()
        ticks0 = self.ticks()
        t0 = time.monotonic()
        for agent, count in self.senders:
            agent.send("run", rate=rate * count / self.args.conversations, seconds=seconds,
                       tail=TAIL_S)
        replies = [agent.reply(seconds * 3 + TAIL_S + 10) for agent, _ in self.senders]
        wall = time.monotonic() - t0
        ticks1 = self.ticks()
        sent = sum(r["sent"] for r in replies)
        answered = sum(r["answered"] for r in replies)
        rtts = sorted(x for r in replies for x in r["rtts_ms"])
        got = self.wait_received(before, sent)
        senders_cpu = 100.0 * (ticks1["senders"] - ticks0["senders"]) / CLK_TCK / wall
        step = self._step("xmpp", rate, int(rate * seconds), answered, rtts, wall, ticks0, ticks1,
                          senders_cpu, got)
        step["sent"] = sent
        step["send_seconds"] = max(r["send_seconds"] for r in replies)
        return step

    def _step(self, path, rate, offered, ok_calls, rtts, wall, ticks0, ticks1, load_cpu, got):
        cpu = {name: 100.0 * (ticks1[name] - ticks0[name]) / CLK_TCK / wall for name in ticks0}
        not_ok = offered - ok_calls
        step = {
            "path": path, "rate": rate, "offered": offered, "ok_calls": ok_calls,
            "fail_ratio": not_ok / offered, "achieved": ok_calls / wall, "seconds": wall,
            "p50": sip_load.percentile(rtts, 50), "p99": sip_load.percentile(rtts, 99),
            "prosody_cpu": cpu["prosody"], "causeway_cpu": cpu["causeway"],
            "receivers_cpu": cpu["receivers"], "load_cpu": load_cpu,
            "received": got["received"], "missing": offered - got["received"],
            "out_of_order": got["out_of_order"], "duplicates": got["duplicates"],
            "gaps": got["gaps"], "errors": got["errors"], "load1": os.getloadavg()[0],
        }
        # sipp and the senders fall behind rather than fail when the path saturates: the step
        # also has to carry its rate (the wall time includes start-up and the tail).
        step["ok"] = (not_ok / offered < MAX_FAILED_RATIO and step["missing"] <= 0
                      and step["out_of_order"] == 0 and step["duplicates"] == 0
                      and step["achieved"] >= MIN_CARRIED_RATIO * rate)
        return step

    def run(self):
        a = self.args
        # Warm-up: s2s streams both ways (TLS, SASL EXTERNAL), c2s sessions, before any timing.
        if "e2e" in a.paths:
            warm = self.run_e2e(50, 2.0, "warmup")
            print(format_step(warm), "(warm-up)", flush=True)
            if warm["ok_calls"] == 0:
                raise EnvError("warm-up: no message through; see %s" % self.dir)
        if "xmpp" in a.paths:
            warm = self.run_xmpp(50, 1.0)
            print(format_step(warm), "(warm-up)", flush=True)
        failed = set()
        for rate in a.rates:
            for path in ("e2e", "xmpp"):
                if path in failed or path not in a.paths:
                    continue
                step = (self.run_e2e(rate, a.step_seconds, "e2e_%d" % rate) if path == "e2e"
                        else self.run_xmpp(rate, a.step_seconds))
                self.steps[path].append(step)
                with open(os.path.join(self._dir("steps"), "%s_%d.json" % (path, rate)), "w") as f:
                    json.dump(step, f)
                print(format_step(step), flush=True)
                if not step["ok"]:
                    failed.add(path)
                if self.causeway and self.causeway.proc.poll() is not None:
                    raise EnvError("causeway died, see %s" % self.causeway.log_path)
                if not self.prosody.running:
                    raise EnvError("Prosody died, see %s" % self.prosody.log_path)
                # A failed step may leave messages queued in Prosody: the next step starts once
                # the receivers got nothing new for 1 s (bounded by DRAIN_TIMEOUT_S).
                self.wait_received(self.receiver_counts(), float("inf"))


def format_step(s):
    return ("%-4s %5d/s  ok %6d/%-6d (%5.0f/s) not ok %5.2f%%  rtt p50 %5.1f p99 %6.1f ms  "
            "cpu prosody %3.0f%% causeway %3.0f%% receivers %3.0f%% %s %3.0f%%  "
            "received %d missing %d ooo %d dup %d gaps %d  load %.1f  %s" % (
                s["path"], s["rate"], s["ok_calls"], s["offered"], s["achieved"],
                100 * s["fail_ratio"], s["p50"], s["p99"], s["prosody_cpu"], s["causeway_cpu"],
                s["receivers_cpu"], "sipp" if s["path"] == "e2e" else "senders", s["load_cpu"],
                s["received"], s["missing"], s["out_of_order"], s["duplicates"], s["gaps"],
                s["load1"], "PASS" if s["ok"] else "FAIL"))


def summary(bench):
    print()
    print("| rate/s | path | ok / offered | achieved/s | p50 / p99 ms | Prosody CPU | causeway CPU "
          "| receivers CPU | sipp / senders CPU | missing / ooo / dup | load | result |")
    print("| -----: | ---- | ------------ | ---------: | ------------ | ----------: | -----------: "
          "| ------------: | -----------------: | ------------------- | ---: | ------ |")
    steps = sorted(bench.steps["e2e"] + bench.steps["xmpp"], key=lambda s: (s["rate"], s["path"]))
    for s in steps:
        print("| %d | %s | %d/%d | %.0f | %.0f / %.0f | %.0f%% | %.0f%% | %.0f%% | %.0f%% "
              "| %d / %d / %d | %.1f | %s |" % (
                  s["rate"], s["path"], s["ok_calls"], s["offered"], s["achieved"], s["p50"],
                  s["p99"], s["prosody_cpu"], s["causeway_cpu"], s["receivers_cpu"],
                  s["load_cpu"], s["missing"], s["out_of_order"], s["duplicates"], s["load1"],
                  "PASS" if s["ok"] else "FAIL"))
    best = {path: sip_load.max_sustained(steps) for path, steps in bench.steps.items()}
    for path, b in best.items():
        if b:
            print("%s max sustained: %d/s (achieved %.0f/s; Prosody %.0f%%, causeway %.0f%%, "
                  "receivers %.0f%% of one core)" % (path, b["rate"], b["achieved"],
                                                      b["prosody_cpu"], b["causeway_cpu"],
                                                      b["receivers_cpu"]))
        elif bench.steps[path]:
            print("%s max sustained: none of the rates passed" % path)
    if best["e2e"] and best["xmpp"]:
        print("ratio e2e / xmpp (highest passing steps): %.2f" % (
            best["e2e"]["achieved"] / best["xmpp"]["achieved"]))


def bench_main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--causeway", required=True, metavar="BINARY")
    parser.add_argument("--rates", type=int, nargs="+", default=DEFAULT_RATES)
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=10, help="XMPP receivers")
    parser.add_argument("--conversations", type=int, default=20,
                        help="senders on the e2e path; conversations on the xmpp path")
    parser.add_argument("--senders", type=int, default=10,
                        help="XMPP sender accounts of the reference path")
    parser.add_argument("--receiver-procs", type=int, default=2)
    parser.add_argument("--sender-procs", type=int, default=2)
    parser.add_argument("--paths", nargs="+", choices=["e2e", "xmpp"], default=["e2e", "xmpp"])
    parser.add_argument("--keep", metavar="DIR", help="keep logs in DIR")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        return 77
    for tool in ("sipp", "prosody", "prosodyctl", "openssl"):
        if shutil.which(tool) is None:
            print("%s not found (scripts/setup.sh installs it)" % tool)
            return 1
    if args.conversations > args.senders * args.users:
        parser.error("--conversations must be at most --senders x --users")
    args.causeway = os.path.abspath(args.causeway)
    workdir = args.keep or tempfile.mkdtemp(prefix="causeway-e2e-bench-")
    os.makedirs(workdir, exist_ok=True)
    Netns.clean_stale("cwe2e")
    bench = Bench(args, workdir)
    started = time.monotonic()
    rc = 0
    try:
        bench.start()
        bench.run()
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        print("error: %s" % e)
        rc = 1
    finally:
        bench.stop()
    summary(bench)
    if bench.causeway:
        xmpp_bridge_run.forward_latency(bench.causeway.log_path)
    print("total %.0f s%s" % (time.monotonic() - started,
                              ", logs in " + workdir if args.keep else ""))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


def main():
    if len(sys.argv) == 3 and sys.argv[1] in ("--receiver-agent", "--sender-agent"):
        with open(sys.argv[2]) as f:
            cfg = json.load(f)
        agent = receiver_agent if sys.argv[1] == "--receiver-agent" else sender_agent
        return agent(cfg)
    return bench_main()


if __name__ == "__main__":
    sys.exit(main())
