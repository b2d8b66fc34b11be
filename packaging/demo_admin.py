#!/usr/bin/python3
"""The admin's side of packaging/demo.sh: a small slixmpp chat client.

It logs in as the admin (alice), subscribes to the agent's presence, prints
the agent's presence, waits for the first alert and prints it, asks `status`
and `alerts` and prints the replies, then disconnects. Everything must happen
within --timeout seconds; otherwise it says which step did not happen and
exits with status 1.

TLS is verified against --ca-file only (the demo's throwaway CA), with the
XMPP domain as the certificate name, while the TCP connection goes to
--server:--port. The password is read from --password-file, or from the
IMWATCH_DEMO_PASSWORD environment variable; never from the command line.

Run it with /usr/bin/python3: Debian's python3-slixmpp is installed for that
interpreter only.
"""

import argparse
import asyncio
import logging
import os
import ssl
import sys
import time
from pathlib import Path

try:
    import slixmpp
except ImportError:
    sys.exit("demo_admin.py: cannot import slixmpp; install python3-slixmpp "
             "(packaging/install-deps.sh) and run this with /usr/bin/python3")
except KeyboardInterrupt:
    sys.exit(130)


class DemoError(Exception):
    pass


class Admin(slixmpp.ClientXMPP):
    def __init__(self, jid, password, agent, ca_file):
        super().__init__(jid, password)
        self.agent = slixmpp.JID(agent).bare
        self.me = self.boundjid.user or self.boundjid.bare
        self.them = slixmpp.JID(agent).user or self.agent
        # Trust the demo CA and nothing else; check the name (the XMPP domain).
        self.ssl_context = ssl.create_default_context(cafile=ca_file)
        self.ca_certs = Path(ca_file)  # keeps slixmpp from adding the system CAs
        self.session = self.loop.create_future()
        self.failure = self.loop.create_future()
        self.messages = asyncio.Queue()
        self.presence_seen = asyncio.Event()
        self.last_presence = {}
        self.done = False
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("failed_auth", lambda _: self.fail(
            f"the server refused the password of {self.boundjid.bare}"))
        self.add_event_handler("ssl_invalid_chain", lambda _: self.fail(
            f"TLS: the server's certificate does not verify against {ca_file}"))
        self.add_event_handler("connection_failed", lambda e: self.fail(
            f"cannot connect to the XMPP server: {e}"))
        self.add_event_handler("disconnected", lambda _: None if self.done else self.fail(
            "the XMPP server closed the connection"))

    def fail(self, why):
        if not self.failure.done():
            self.failure.set_result(why)

    async def on_session_start(self, _):
        self.send_presence()
        await self.get_roster()
        self.send_presence(pto=self.agent, ptype="subscribe")
        if not self.session.done():
            self.session.set_result(True)

    def on_presence(self, pres):
        if pres["from"].bare != self.agent:
            return
        kind = pres["type"]  # available, away, dnd, xa, chat, unavailable, subscribe, ...
        if kind == "subscribed":
            print(f"[presence] {self.agent} approved {self.me}'s subscription", flush=True)
            return
        if kind not in ("available", "away", "dnd", "xa", "chat", "unavailable"):
            return
        status = pres["status"]
        who = str(pres["from"])
        if self.last_presence.get(who, ("unavailable", "")) == (kind, status if kind != "unavailable" else ""):
            return  # nothing new, or "unavailable" of a resource never seen online
        self.last_presence[who] = (kind, status if kind != "unavailable" else "")
        print(f'[presence] {who}: {kind}' + (f' "{status}"' if status else ""), flush=True)
        if kind != "unavailable":
            self.presence_seen.set()

    def on_message(self, msg):
        if msg["from"].bare != self.agent or msg["type"] not in ("chat", "normal"):
            return
        body = msg["body"]
        if not body:
            return
        self.messages.put_nowait(body)  # printed by run(), in conversation order

    @staticmethod
    def say(sender, receiver, body):
        prefix = f"{sender} -> {receiver}: "
        lines = body.split("\n")
        print(prefix + lines[0], flush=True)
        for line in lines[1:]:
            print(" " * len(prefix) + line, flush=True)

    def ask(self, command):
        self.say(self.me, self.them, command)
        self.send_message(mto=self.agent, mbody=command, mtype="chat")


async def step(client, what, awaitable, deadline):
    """Waits for `awaitable`, a failure of the client, or the deadline."""
    task = asyncio.ensure_future(awaitable)
    remaining = max(0.0, deadline - time.monotonic())
    finished, _ = await asyncio.wait({task, client.failure}, timeout=remaining,
                                     return_when=asyncio.FIRST_COMPLETED)
    if task in finished:
        return task.result()
    task.cancel()
    if client.failure in finished:
        raise DemoError(f"{client.failure.result()} (while waiting for {what})")
    raise DemoError(f"timed out waiting for {what}")


async def run(client, args):
    deadline = time.monotonic() + args.timeout
    client.connect(address=(args.server, args.port))
    await step(client, f"a session as {client.boundjid.bare}", client.session, deadline)
    await step(client, f"the presence of {client.agent}", client.presence_seen.wait(), deadline)

    async def next_message():
        body = await client.messages.get()
        client.say(client.them, client.me, body)
        return body

    async def alert():
        while args.expect not in await next_message():
            pass

    await step(client, f"an alert containing '{args.expect}' from {client.agent}", alert(), deadline)
    for command in ("status", "alerts"):
        while not client.messages.empty():  # anything said before is not the reply
            await next_message()
        client.ask(command)
        await step(client, f"the agent's reply to '{command}'", next_message(), deadline)
    client.done = True
    await client.disconnect(wait=2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jid", default="alice@demo.local", help="the admin's JID")
    p.add_argument("--agent", default="agent@demo.local", help="the agent's JID")
    p.add_argument("--server", default="127.0.0.1", help="address to connect to")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--ca-file", required=True, help="the only CA trusted")
    p.add_argument("--password-file", help="default: $IMWATCH_DEMO_PASSWORD")
    p.add_argument("--expect", default="demo:", help="text the alert contains")
    p.add_argument("--timeout", type=float, default=30, help="seconds for everything")
    p.add_argument("--debug", action="store_true", help="log the XMPP traffic")
    args = p.parse_args()

    if args.password_file:
        try:
            password = Path(args.password_file).read_text().rstrip("\r\n")
        except OSError as e:
            sys.exit(f"demo_admin.py: cannot read the password: {e}")
    else:
        password = os.environ.get("IMWATCH_DEMO_PASSWORD", "")
    if not password:
        sys.exit("demo_admin.py: no password (--password-file or IMWATCH_DEMO_PASSWORD)")

    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL,
                        format="%(levelname)s %(message)s")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = Admin(args.jid, password, args.agent, args.ca_file)
    try:
        loop.run_until_complete(run(client, args))
    except DemoError as e:
        print(f"demo_admin.py: error: {e}", file=sys.stderr, flush=True)
        client.done = True
        client.abort()
        return 1
    except KeyboardInterrupt:
        client.done = True
        client.abort()
        return 130
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
