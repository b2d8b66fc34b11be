#!/usr/bin/python3
"""The admin's side of `packaging/demo.sh --fleet`: alice in the ops room.

She joins the room and waits until every agent of --agents is in it, asks
`all: status` and prints the answers, makes one alert fire (rewrites the
loadavg file of the agent whose --proc-root is a private copy, --fire),
waits for that alert in the room, sends SIGKILL to one agent (--kill
NICK:PID, a child of demo.sh) and prints the vanish announcement one of the
others makes. Everything within --timeout seconds, or it says which step
did not happen and exits 1.

TLS is verified against --ca-file only; the password comes from
--password-file, never from the command line. Run with /usr/bin/python3.
"""

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
import time
from pathlib import Path

try:
    import slixmpp
except ImportError:
    sys.exit("demo_fleet_admin.py: cannot import slixmpp; install python3-slixmpp "
             "(packaging/install-deps.sh) and run this with /usr/bin/python3")


class DemoError(Exception):
    pass


class Admin(slixmpp.ClientXMPP):
    def __init__(self, jid, password, room, ca_file):
        super().__init__(jid, password)
        self.room = room
        self.nick = slixmpp.JID(jid).user
        self.ssl_context = ssl.create_default_context(cafile=ca_file)
        self.ca_certs = Path(ca_file)  # keeps slixmpp from adding the system CAs
        self.register_plugin("xep_0045")
        self.present = set()
        self.said = []  # (nick, body) in the order heard
        self.changed = asyncio.Event()
        self.failure = self.loop.create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler(f"muc::{room}::presence", self.on_presence)
        self.add_event_handler("failed_auth", lambda _: self.fail("the server refused alice's password"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"cannot connect: {e}"))

    def fail(self, why):
        if not self.failure.done():
            self.failure.set_result(why)

    async def on_session_start(self, _):
        self.send_presence()
        await self.get_roster()
        self.plugin["xep_0045"].join_muc(self.room, self.nick, maxhistory="0")

    def on_presence(self, pres):
        who = pres["muc"]["nick"]
        if who == self.nick:
            return
        if pres["type"] == "unavailable":
            if who in self.present:
                print(f"[room] {who} left", flush=True)
            self.present.discard(who)
        elif who not in self.present:
            self.present.add(who)
            print(f"[room] {who} joined ({pres['muc']['jid'].bare})", flush=True)
        self.changed.set()

    def on_groupchat(self, msg):
        if msg["mucnick"] == self.nick or not msg["body"]:
            return
        self.said.append((msg["mucnick"], msg["body"]))
        show(msg["mucnick"], "room", msg["body"])
        self.changed.set()

    def ask(self, command):
        show(self.nick, "room", command)
        self.send_message(mto=self.room, mbody=command, mtype="groupchat")


def show(sender, receiver, body):
    prefix = f"{sender} -> {receiver}: "
    lines = body.split("\n")
    print(prefix + lines[0], flush=True)
    for line in lines[1:]:
        print(" " * len(prefix) + line, flush=True)


async def until(client, what, predicate, deadline):
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DemoError(f"timed out waiting for {what}")
        if client.failure.done():
            raise DemoError(f"{client.failure.result()} (while waiting for {what})")
        client.changed.clear()
        try:
            await asyncio.wait_for(client.changed.wait(), min(remaining, 0.5))
        except asyncio.TimeoutError:
            pass


async def run(client, args):
    deadline = time.monotonic() + args.timeout
    agents = args.agents.split(",")
    fire_nick, fire_file = args.fire.split(":", 1)
    kill_nick, kill_pid = args.kill.split(":", 1)
    client.connect(address=(args.server, args.port))
    await until(client, f"{', '.join(agents)} in {args.room}", lambda: set(agents) <= client.present, deadline)

    mark = len(client.said)
    client.ask("all: status")
    await until(client, "an answer from every agent to `all: status`",
                lambda: set(agents) <= {n for n, _ in client.said[mark:]}, deadline)

    mark = len(client.said)
    print(f"demo: {fire_nick}'s load1 goes to 9.00 (its --proc-root is a private copy)", flush=True)
    tmp = fire_file + ".new"
    Path(tmp).write_text("9.00 8.00 7.00 3/412 3124605\n")
    os.replace(tmp, fire_file)
    await until(client, f"{fire_nick}'s alert in the room",
                lambda: any(n == fire_nick and "demo" in b for n, b in client.said[mark:]), deadline)

    mark = len(client.said)
    print(f"demo: SIGKILL to {kill_nick} (pid {kill_pid}): no goodbye", flush=True)
    t = time.monotonic()
    os.kill(int(kill_pid), signal.SIGKILL)
    await until(client, f"an announcement that {kill_nick} vanished",
                lambda: any(f"{kill_nick} vanished" in b for _, b in client.said[mark:]), deadline)
    print(f"demo: announced {time.monotonic() - t:.1f} s after the kill", flush=True)
    await client.disconnect(wait=2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jid", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--agents", required=True, help="their nicks, comma-separated")
    p.add_argument("--fire", required=True, help="NICK:LOADAVG-FILE")
    p.add_argument("--kill", required=True, help="NICK:PID")
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--timeout", type=float, default=45)
    args = p.parse_args()
    password = Path(args.password_file).read_text().rstrip("\r\n")
    logging.basicConfig(level=logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = Admin(args.jid, password, args.room, args.ca_file)
    try:
        loop.run_until_complete(run(client, args))
    except DemoError as e:
        print(f"demo_fleet_admin.py: error: {e}", file=sys.stderr, flush=True)
        client.abort()
        return 1
    except KeyboardInterrupt:
        client.abort()
        return 130
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
