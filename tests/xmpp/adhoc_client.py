#!/usr/bin/python3
"""The admin's (or a stranger's) side of tests/xmpp/adhoc_test.cpp: a real
XMPP client library (slixmpp with its XEP-0050 and XEP-0004 plugins, not
gloox) that lists and executes the agent's ad-hoc commands, fills their
forms, cancels a session and submits hostile values.

Prints one line per step, "STEP: what happened", for the test to check;
exit status 0 once the scenario ran (whatever the agent answered), 1 when
the client could not log in or timed out.
Run it with /usr/bin/python3: python3-slixmpp is only importable there.
"""
import argparse
import asyncio
import logging
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


def say(step, what):
    print(f"{step}: {what}", flush=True)


def fields(iq):
    """var -> (type, value, [option values]) of the command's form."""
    out = {}
    form = iq["command"]["form"]
    for var, f in form.get_fields().items():
        opts = [o["value"] for o in f.get_options()]
        out[var] = (f["type"], f.get_value(convert=False), opts)
    return out


def reply_of(iq):
    """The reply: the result form's text, or the notes."""
    cmd = iq["command"]
    text = ""
    if cmd.xml.find("{jabber:x:data}x") is not None:
        f = cmd["form"].get_fields().get("reply")
        if f is not None:
            v = f.get_value(convert=False)
            text = "\\n".join(v) if isinstance(v, list) else str(v)
    notes = " | ".join(f"{t}: {n}" for t, n in cmd["notes"])
    return f"status={cmd['status']} reply={text!r} notes={notes!r}"


class Client(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password)
        self.args = args
        self.ok = False
        self.ca_certs = args.ca_file
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0050")
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda _: self.disconnect())

    async def cmd(self, node, action="execute", payload=None, sessionid=None):
        return await self["xep_0050"].send_command(
            self.args.to, node, action=action, payload=payload, sessionid=sessionid, timeout=10)

    def submit(self, values):
        form = self["xep_0004"].make_form(ftype="submit")
        for var, value in values.items():
            form.add_field(var=var, value=value)
        return form

    async def on_start(self, _event):
        try:
            await (self.admin() if self.args.scenario == "admin" else self.stranger())
            self.ok = True
        except (IqError, IqTimeout) as e:
            say("error", repr(e))
        finally:
            self.disconnect()

    async def admin(self):
        info = await self["xep_0030"].get_info(jid=self.args.to, timeout=10)
        say("disco", "commands" if "http://jabber.org/protocol/commands" in info["disco_info"]["features"]
            else "no commands feature")
        items = await self["xep_0050"].get_commands(self.args.to, timeout=10)
        say("list", " ".join(sorted(i[1] for i in items["disco_items"]["items"])))

        say("ping", reply_of(await self.cmd("ping")))

        iq = await self.cmd("mute")
        sid = iq["command"]["sessionid"]
        say("mute-form", f"status={iq['command']['status']} {sorted(fields(iq).items())}")
        iq = await self.cmd("mute", "complete", self.submit({"duration": "2h", "rule": "memory"}), sid)
        say("mute-done", reply_of(iq))

        iq = await self.cmd("ack")
        sid = iq["command"]["sessionid"]
        f = fields(iq)
        say("ack-form", f"alert options={f['alert'][2]}")
        iq = await self.cmd("ack", "complete", self.submit({"alert": f["alert"][2][0] if f["alert"][2] else "1"}), sid)
        say("ack-done", reply_of(iq))

        # Two stages: the rule, then its values pre-filled, submitted as `set ...`.
        iq = await self.cmd("set")
        sid = iq["command"]["sessionid"]
        say("set-1", f"status={iq['command']['status']} rule options={fields(iq)['rule'][2]}")
        iq = await self.cmd("set", "next", self.submit({"rule": "memory"}), sid)
        f = fields(iq)
        say("set-2", " ".join(f"{k}={f[k][1]}" for k in ("rule", "warn", "crit", "for", "clear", "repeat")))
        iq = await self.cmd("set", "complete", self.submit({"warn": "85", "crit": "95", "for": "1m", "clear": "75",
                                                            "repeat": "1h"}), sid)
        say("set-done", reply_of(iq))

        # Cancelled: the session ends, and a late submission is refused.
        iq = await self.cmd("mute")
        sid = iq["command"]["sessionid"]
        iq = await self.cmd("mute", "cancel", None, sid)
        say("cancel", f"status={iq['command']['status']}")
        iq = await self.cmd("mute", "complete", self.submit({"duration": "1h", "rule": "all"}), sid)
        say("after-cancel", reply_of(iq))

        # Hostile values: a second argument smuggled in, an oversized one, an unknown rule.
        for name, values in (("smuggled", {"duration": "2h memory", "rule": "all"}),
                             ("oversized", {"duration": "1h" * 3000, "rule": "all"}),
                             ("unknown-rule", {"duration": "1h", "rule": "nosuch"})):
            iq = await self.cmd("mute")
            iq = await self.cmd("mute", "complete", self.submit(values), iq["command"]["sessionid"])
            say(name, reply_of(iq))
        say("alerts", reply_of(await self.cmd("alerts")))

        # Sessions waiting for a form are bounded (16); cancelled ones free their place.
        sids = [(await self.cmd("mute"))["command"]["sessionid"] for _ in range(16)]
        say("limit", reply_of(await self.cmd("mute")))
        for sid in sids:
            await self.cmd("mute", "cancel", None, sid)
        iq = await self.cmd("mute")
        say("after-limit", f"status={iq['command']['status']}")
        await self.cmd("mute", "cancel", None, iq["command"]["sessionid"])

    async def stranger(self):
        for step, call in (("disco", lambda: self["xep_0030"].get_info(jid=self.args.to, timeout=10)),
                           ("list", lambda: self["xep_0050"].get_commands(self.args.to, timeout=10)),
                           ("ping", lambda: self.cmd("ping")),
                           ("mute", lambda: self.cmd("mute"))):
            try:
                iq = await call()
                say(step, f"answered: {iq}")
            except IqError as e:
                say(step, f"error {e.iq['error']['condition']}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--to", required=True, help="the agent's full JID")
    p.add_argument("--scenario", choices=("admin", "stranger"), required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    xmpp = Client(args)
    xmpp.connect(address=("127.0.0.1", args.port))
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(xmpp.disconnected, 60))
    except asyncio.TimeoutError:
        say("error", "timed out")
    return 0 if xmpp.ok else 1


if __name__ == "__main__":
    sys.exit(main())
