#!/usr/bin/python3
"""The administrator's side of tests/package/run.sh: an independent XMPP
client (slixmpp, not gloox) that logs in, optionally sends one chat command
to the agent, and waits for a chat message whose body contains a string.

Exit status: 0 when such a message arrived, 1 on timeout or error.
Run it with /usr/bin/python3: python3-slixmpp is only importable there.
"""
import argparse
import asyncio
import logging
import sys

import slixmpp


class Admin(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password)
        self.args = args
        self.found = False
        self.ca_certs = args.ca_file
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", lambda _: self.stop("authentication failed"))

    def stop(self, why):
        print(f"xmpp_admin: {why}", file=sys.stderr)
        self.disconnect()

    async def on_start(self, _event):
        self.send_presence()
        if self.args.ready_file:
            with open(self.args.ready_file, "w") as f:
                f.write("ready\n")
        if self.args.send:
            self.send_message(mto=self.args.to, mbody=self.args.send, mtype="chat")

    def on_message(self, msg):
        if msg["type"] not in ("chat", "normal"):
            return
        body = msg["body"]
        print(f"xmpp_admin: from {msg['from']}: {body}", file=sys.stderr)
        if self.args.expect in body:
            self.found = True
            self.disconnect()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--expect", required=True, help="substring the awaited message body contains")
    p.add_argument("--send", help="chat command to send once logged in")
    p.add_argument("--to", help="the agent's JID, with --send")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--ready-file", help="written once logged in")
    args = p.parse_args()
    if args.send and not args.to:
        p.error("--send needs --to")
    logging.basicConfig(level=logging.ERROR)

    xmpp = Admin(args)
    xmpp.connect(address=(args.host, args.port))
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(xmpp.disconnected, args.timeout))
    except asyncio.TimeoutError:
        print(f"xmpp_admin: no message containing {args.expect!r} within {args.timeout:g} s", file=sys.stderr)
    return 0 if xmpp.found else 1


if __name__ == "__main__":
    sys.exit(main())
