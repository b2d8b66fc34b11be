#!/usr/bin/python3
"""Agents on the two nodes of an ejabberd cluster share one room.

    /usr/bin/python3 tests/xmpp/ejabberd_cluster.py [--nodes 1|2] [--binary build/agent/imwatch] [--keep]

Two ejabberd 23.01 nodes (ej1@localhost, ej2@localhost) from private dirs,
each with its own c2s port on 127.0.0.1, a private epmd on a free loopback
port, Erlang distribution bound to 127.0.0.1 in a private port window, the
same cookie; node 2 joins with `ejabberdctl join_cluster ej1@localhost`.
Then real agents: web1 on node 1, web2 on node 2, and an admin (slixmpp) on
node 2. Checked: both agents join the room; an alert of web1 reaches the
room; `web1: status` (asked across the nodes) and `all: status` are
answered by each; SIGKILL of web2 is announced exactly once by web1 within
3 x ping_interval (plus slack for the CI machine); and web2's return is
announced. With --nodes 1 the same flow runs on a single node (no epmd,
ERL_DIST_PORT). Everything is stopped by its PID, also on failure. Exit 0 on
success, 1 on a failed check, 2 when the cluster could not be made, 77
(skipped) when not root.
"""

import argparse
import asyncio
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import fleet  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ROOM = "ops@" + fleet.MUC
PING = 2  # the agents' ping_interval, seconds


def port_window(width=12):
    """`width` consecutive free loopback ports (the nodes' distribution window)."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - width)
        if all(not fleet.port_accepts(p) and _bindable(p) for p in range(base, base + width)):
            return base, base + width - 1
    raise RuntimeError("no window of free loopback ports")


def _bindable(port):
    import socket
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what):
        print(f"cluster: {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failed += 1
        return ok


def make_single(fl, log):
    """One node, no epmd (ERL_DIST_PORT): the plain room flow on ejabberd."""
    node = fl.own(fleet.EjabberdNode(fl.root, fl.certs, "ej1", fleet.new_password()))
    t = time.monotonic()
    node.start()
    node.wait_ready()
    fleet.wait_for(lambda: node.ctl("status", timeout=20).returncode == 0, 30, f"{node.node} status", step=0.3)
    log(f"{node.node} up on 127.0.0.1:{node.port} in {time.monotonic() - t:.1f} s (one node)")
    return [node, node]


def make_cluster(fl, log):
    epmd = fl.own(fleet.Epmd(fl.root))
    window = port_window()
    cookie = fleet.new_password()
    nodes = [fleet.EjabberdNode(fl.root, fl.certs, name, cookie, epmd_port=epmd.port, window=window)
             for name in ("ej1", "ej2")]
    for n in nodes:
        fl.own(n)
        t = time.monotonic()
        n.start()
        n.wait_ready()
        fleet.wait_for(lambda: n.ctl("status", timeout=20).returncode == 0, 30, f"{n.node} status", step=0.3)
        log(f"{n.node} up on 127.0.0.1:{n.port} in {time.monotonic() - t:.1f} s (epmd 127.0.0.1:{epmd.port},"
            f" distribution in {window[0]}-{window[1]})")
    t = time.monotonic()
    r = nodes[1].ctl("join_cluster", nodes[0].node)
    if r.returncode != 0:
        raise RuntimeError(f"join_cluster: {r.stdout[-500:]}{r.stderr[-500:]}")
    fleet.wait_for(lambda: nodes[0].node in nodes[1].ctl("list_cluster", timeout=20).stdout and
                   nodes[1].node in nodes[0].ctl("list_cluster", timeout=20).stdout, 30, "list_cluster", step=0.3)
    nodes[1].wait_ready()
    log(f"{nodes[1].node} joined {nodes[0].node} in {time.monotonic() - t:.1f} s")
    return nodes


async def flow(args, fl, c, log):
    nodes = make_cluster(fl, log) if args.nodes == 2 else make_single(fl, log)
    pw = {n: fleet.new_password() for n in ("web1", "web2", "alice")}
    for user, node in (("web1", nodes[0]), ("web2", nodes[1]), ("alice", nodes[0])):
        node.register(user, pw[user])  # accounts live in the shared Mnesia
    proc_root = os.path.join(fl.root, "proc")
    import shutil
    shutil.copytree(os.path.join(REPO, "tests/fixtures/proc/current"), proc_root)

    admin = fleet.make_admin("alice@" + fleet.DOMAIN, pw["alice"], nodes[1].port, fl.ca, ROOM, nick="alice")
    await asyncio.wait_for(admin.in_room.wait(), 20)
    common = dict(room=ROOM, admins=["alice@" + fleet.DOMAIN], proc_root=proc_root, ping_interval=f"{PING}s",
                  probe_interval="1s")
    # web1's rule fires at once on the fixture (load1 0.84): an alert to the room.
    web1 = fl.own(fleet.Agent(fl.root, args.binary, "web1", nodes[0].port, fl.ca, pw["web1"],
                              rules=["fleetdemo: load1 >= 0"], **common))
    web2 = fl.own(fleet.Agent(fl.root, args.binary, "web2", nodes[1].port, fl.ca, pw["web2"], **common))
    web1.start()
    web2.start()
    joined = await fleet.until(lambda: {"web1", "web2"} <= set(admin.present), 20)
    c.check(joined, f"web1 (node 1) and web2 (node {args.nodes}) in {ROOM}: present {sorted(admin.present)}")
    if not joined:
        for a in (web1, web2):
            print(f"--- {a.name} ---\n{fleet.tail(a.log)}")
        return
    c.check(admin.present.get("web1") == "web1@" + fleet.DOMAIN, "the room shows web1's real JID")

    said = lambda nick, pat, since=0: [b for (_, n, b) in admin.messages[since:]  # noqa: E731
                                       if n == nick and re.search(pat, b)]
    c.check(await fleet.until(lambda: said("web1", "fleetdemo"), 15), "web1's alert reached the room (node 1 to 2)")

    mark = len(admin.messages)
    admin.say("web1: status")
    got = await fleet.until(lambda: said("web1", "", mark), 10)
    c.check(got and not said("web2", "", mark), "`web1: status` answered by web1 alone")

    mark = len(admin.messages)
    admin.say("all: status")
    got = await fleet.until(lambda: said("web1", "", mark) and said("web2", "", mark), 10)
    c.check(got, "`all: status` answered by web1 and web2")
    if got:
        for n in ("web1", "web2"):
            line = said(n, "", mark)[0]
            c.check("\n" not in line.strip() and len(line) <= 40, f"{n}'s answer is one line of <= 40: {line!r}")

    await asyncio.sleep(PING)  # the watch is set up after a ping or two
    mark = len(admin.messages)
    t_kill = time.monotonic()
    web2.kill()
    bound = 3 * PING + args.slack
    got = await fleet.until(lambda: said("web1", "web2 vanished", mark), bound)
    delay = time.monotonic() - t_kill
    if not c.check(got, f"web2's SIGKILL announced by web1{' (the other node)' if args.nodes == 2 else ''} within {bound} s: {delay:.1f} s"
                        f" {said('web1', 'web2 vanished', mark)[:1]}"):
        print(f"cluster: the room meanwhile: {admin.messages[mark:]}")
    await asyncio.sleep(2 * PING)
    c.check(len([b for (_, _, b) in admin.messages[mark:] if "web2 vanished" in b]) == 1,
            "announced exactly once")

    mark = len(admin.messages)
    web2.start()
    got = await fleet.until(lambda: any("web2 is back" in b for (_, _, b) in admin.messages[mark:]), 20)
    c.check(got, f"web2's return announced: {[b for (_, _, b) in admin.messages[mark:]][:3]}")
    admin.disconnect()
    await asyncio.sleep(0.3)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--binary", default=os.path.join(REPO, "build/agent/imwatch"))
    p.add_argument("--slack", type=float, default=6, help="seconds beyond 3 x ping_interval (a busy CI machine)")
    p.add_argument("--nodes", type=int, choices=(1, 2), default=2, help="1: the same flow on one node")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("cluster: skipped: needs root (ejabberdctl runs as the ejabberd user)")
        return 77
    started = time.monotonic()
    log = lambda s: print(f"cluster: [{time.monotonic() - started:5.1f} s] {s}", flush=True)  # noqa: E731
    c = Checks()
    with fleet.Fleet(prefix="imwatch-ejcluster-", keep=args.keep) as fl:
        if args.keep:
            log(f"temp dir {fl.root}")
        try:
            asyncio.run(flow(args, fl, c, log))
        except (RuntimeError, TimeoutError, OSError) as e:
            print(f"cluster: could not run: {e}")
            return 2
    log(f"done, everything stopped; {c.failed} failed check(s)")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
