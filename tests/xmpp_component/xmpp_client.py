#!/usr/bin/python3
"""A one-shot XMPP client for tests/xmpp_component: logs in anonymously (SASL ANONYMOUS, no TLS)
to a Prosody on loopback, sends one chat message, and waits for an answer from the same bare JID
with the expected body. Exit 0 when the answer came, 1 when it did not within --timeout, 2 when
the login failed. Prints its own JID ("JID <jid>") once the session starts.

  xmpp_client.py --port 5222 --domain xmpp.test --to bob@gw.xmpp.test \
                 --body 'hello component' --expect 'hello client' --timeout 15
"""

import argparse
import asyncio
import sys

import slixmpp


class OneShotClient(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.domain, "")
        self.args = args
        self.exit_code = 1
        self.finished = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", self.on_failed)
        self.add_event_handler("disconnected", self.on_disconnected)

    def finish(self, code):
        if not self.finished.done():
            self.exit_code = code
            self.finished.set_result(code)

    async def on_session_start(self, _event):
        print("JID %s" % self.boundjid.full, flush=True)
        self.send_message(mto=self.args.to, mbody=self.args.body, mtype="chat")

    def on_message(self, msg):
        print("MESSAGE from=%s type=%s body=%r" % (msg["from"], msg["type"], msg["body"]),
              flush=True)
        if msg["from"].bare == self.args.to and msg["body"] == self.args.expect:
            self.finish(0)

    def on_failed(self, _event):
        self.finish(2)

    def on_disconnected(self, _event):
        self.finish(self.exit_code)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--expect", required=True)
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()

    client = OneShotClient(args)
    client.connect((args.host, args.port), force_starttls=False, disable_starttls=True)
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(client.finished, args.timeout))
    except asyncio.TimeoutError:
        print("TIMEOUT", flush=True)
    code = client.exit_code
    client.disconnect()
    try:
        loop.run_until_complete(asyncio.wait_for(client.disconnected, 2.0))
    except (asyncio.TimeoutError, Exception):  # leaving anyway
        pass
    return code


if __name__ == "__main__":
    sys.exit(main())
