#!/usr/bin/python3
"""Authoritative test DNS server for the core/dns and SIP resolver tests (python3-dnslib).

Usage: dns_server.py PORT [--zone FILE]
Listens on 127.0.0.1:PORT over UDP (and TCP on the same port, best effort). PORT 0 picks a free
port. Prints "PORT <n>" on stdout once it serves, then runs until killed (SIGTERM/SIGKILL).

Answers from the zone below (or FILE): records of the asked type, following CNAMEs (bounded);
NOERROR with no answers when the name exists without that type; NXDOMAIN when the name does not
exist; SERVFAIL for any name under servfail.test.
"""

import argparse
import os
import signal
import sys
import threading

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

TEST_ZONE = r"""
$TTL 300
; NAPTR ordering and filtering: order then preference; SCTP and non-"s" rules are ignored.
naptr.test.              IN NAPTR 20 10 "s" "SIP+D2U"  "" _sip._udp.naptr.test.
naptr.test.              IN NAPTR 10 20 "s" "SIP+D2T"  "" _sip._tcp.naptr.test.
naptr.test.              IN NAPTR 10 10 "s" "SIPS+D2T" "" _sips._tcp.naptr.test.
naptr.test.              IN NAPTR 5  10 "s" "SIP+D2S"  "" _sip._sctp.naptr.test.
naptr.test.              IN NAPTR 5  10 "u" "E2U+sip"  "!^.*$!sip:x@naptr.test!" .
_sips._tcp.naptr.test.   IN SRV 0 0 5061 tls.naptr.test.
_sip._tcp.naptr.test.    IN SRV 0 0 5062 tcp.naptr.test.
_sip._udp.naptr.test.    IN SRV 0 0 5063 udp.naptr.test.
_sip._sctp.naptr.test.   IN SRV 0 0 5064 sctp.naptr.test.
tls.naptr.test.          IN A 127.0.0.11
tcp.naptr.test.          IN A 127.0.0.12
udp.naptr.test.          IN A 127.0.0.13
sctp.naptr.test.         IN A 127.0.0.14

; SRV priority and weights (no NAPTR; the A record must lose to SRV).
srv.test.                IN A 127.0.1.99
_sip._udp.srv.test.      IN SRV 10 60 5070 a.srv.test.
_sip._udp.srv.test.      IN SRV 10 30 5071 b.srv.test.
_sip._udp.srv.test.      IN SRV 10 10 5072 c.srv.test.
_sip._udp.srv.test.      IN SRV 20 0  5073 d.srv.test.
a.srv.test.              IN A 127.0.1.1
b.srv.test.              IN A 127.0.1.2
c.srv.test.              IN A 127.0.1.3
d.srv.test.              IN A 127.0.1.4

; "." target: service decidedly not available; the A record must not be used.
dot.test.                IN A 127.0.2.99
_sip._udp.dot.test.      IN SRV 0 0 0 .

; No NAPTR, no SRV: A / AAAA on the default port.
v4only.test.             IN A 127.0.3.1
dual.test.               IN A 127.0.3.2
dual.test.               IN AAAA ::1
alias.test.              IN CNAME dual.test.

; sips: only the TLS SRV may be used.
sips.test.               IN A 127.0.4.99
_sips._tcp.sips.test.    IN SRV 0 0 5061 edge.sips.test.
_sip._udp.sips.test.     IN SRV 0 0 5060 udp.sips.test.
edge.sips.test.          IN A 127.0.4.1
udp.sips.test.           IN A 127.0.4.2

; Lync-style federation: only _sipfederationtls._tcp is published.
fed.test.                IN A 127.0.5.99
_sipfederationtls._tcp.fed.test. IN SRV 0 0 5061 sip.fed.test.
sip.fed.test.            IN A 127.0.5.1

; Short-lived answer for cache expiry.
ttl1.test.             1 IN A 127.0.6.1
"""


class ZoneResolver(BaseResolver):
    MAX_CNAME_HOPS = 8

    def __init__(self, zone_text):
        self.by_name = {}
        for rr in RR.fromZone(zone_text):
            self.by_name.setdefault(str(rr.rname).lower(), []).append(rr)

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = request.q.qtype
        if qname == "servfail.test." or qname.endswith(".servfail.test."):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if qname not in self.by_name:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        name = qname
        for _ in range(self.MAX_CNAME_HOPS):
            records = self.by_name.get(name, [])
            typed = [rr for rr in records if rr.rtype == qtype]
            if typed:
                for rr in typed:
                    reply.add_answer(rr)
                break
            cnames = [rr for rr in records if rr.rtype == QTYPE.CNAME]
            if not cnames:
                break
            reply.add_answer(cnames[0])
            name = str(cnames[0].rdata.label).lower()
        return reply


def die_with_parent():
    """The test that started us may crash before it stops us: exit when the parent goes away."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # the ppid check in main() still catches it within a second


def main():
    parent = os.getppid()
    die_with_parent()
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--zone", help="zone file to serve instead of the built-in test zone")
    args = parser.parse_args()
    zone = TEST_ZONE
    if args.zone:
        with open(args.zone, encoding="utf-8") as f:
            zone = f.read()
    resolver = ZoneResolver(zone)
    logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    udp = DNSServer(resolver, address="127.0.0.1", port=args.port, logger=logger)
    port = udp.server.server_address[1]
    servers = [udp]
    try:
        servers.append(DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=logger))
    except OSError:
        pass  # TCP is a nicety (truncated answers); UDP is what the tests use
    for s in servers:
        s.start_thread()
    print(f"PORT {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        if os.getppid() != parent:
            break
    for s in servers:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
