#!/usr/bin/python3
"""N real imwatch agents in one room on one private prosody: a benchmark.

    /usr/bin/python3 tests/bench/fleet_bench.py --agents 200      # by hand (README figures)
    /usr/bin/python3 tests/bench/fleet_bench.py --short           # CI: 20 agents, bounded

Every agent is the real binary (build/agent/imwatch) with its own config and
state dir and --proc-root at a private copy of tests/fixtures/proc/current;
prosody runs with its MUC component on 127.0.0.1 on a free port; the admin
is a slixmpp client in the room. Measured: the time until all N are in the
room, `all: status` until the Nth answer, CPU and RSS of the server and of
the agents idle and while answering, and the delay of the vanish
announcement after a SIGKILL of one agent.

A measurement, not a test: it exits 1 only if the agents do not all join or
do not all answer (and 2 on a setup error). Every wait is bounded.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import fleet  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ROOM = "ops@" + fleet.MUC
# Every agent reads the same fixture copy: one write to its loadavg makes all
# of them fire at once (an alert storm), the next one resolves them all.
STORM_RULE = "storm: load1 > 4 clear 3"
LOAD_LOW, LOAD_HIGH = "0.84 0.71 0.65 2/412 3124605\n", "9.00 8.00 7.00 3/412 3124605\n"


def cpu_of(pids):
    """Summed CPU seconds of the live ones among pids."""
    return sum(c for c in (fleet.proc_cpu_seconds(p) for p in pids) if c is not None)


def rss_of(pids):
    vals = [r for r in (fleet.proc_rss_kb(p) for p in pids) if r is not None]
    return vals


class Figures:
    def __init__(self):
        self.rows = []

    def add(self, what, value):
        self.rows.append((what, value))
        print(f"bench: {what}: {value}", flush=True)

    def table(self):
        out = ["| measure | value |", "|---|---|"]
        out += [f"| {w} | {v} |" for w, v in self.rows]
        return "\n".join(out)


def sample(label, fig, server_pid, agent_pids, window):
    """CPU over `window` seconds and RSS at its end, server and agents."""
    s0, a0, t0 = fleet.proc_cpu_seconds(server_pid), cpu_of(agent_pids), time.monotonic()
    time.sleep(window)
    s1, a1, dt = fleet.proc_cpu_seconds(server_pid), cpu_of(agent_pids), time.monotonic() - t0
    rss = rss_of(agent_pids)
    fig.add(f"{label}: prosody CPU", f"{100 * (s1 - s0) / dt:.2f} % of a core over {dt:.0f} s")
    fig.add(f"{label}: agents CPU, all {len(agent_pids)}", f"{100 * (a1 - a0) / dt:.2f} % of a core")
    fig.add(f"{label}: CPU per agent", f"{1000 * (a1 - a0) / dt / len(agent_pids):.3f} ms/s")
    fig.add(f"{label}: prosody RSS", f"{fleet.proc_rss_kb(server_pid) / 1024:.1f} MB")
    fig.add(f"{label}: agent RSS median / max",
            f"{statistics.median(rss) / 1024:.1f} / {max(rss) / 1024:.1f} MB")


async def status_round(admin, nicks, fig, server_pid, agent_pids, timeout, n_round):
    seen0 = len(admin.messages)
    s0, a0 = fleet.proc_cpu_seconds(server_pid), cpu_of(agent_pids)
    t0 = time.monotonic()
    admin.say("all: status")

    def answered():
        # An answer names its host first (`web001  OK  load ...`).
        return {nk for (_, nk, body) in admin.messages[seen0:] if nk in nicks and body.startswith(nk)}
    ok = await fleet.until(lambda: len(answered()) >= len(nicks), timeout)
    got = answered()
    t1 = max((t for (t, nk, _) in admin.messages[seen0:] if nk in nicks), default=t0)
    s1, a1 = fleet.proc_cpu_seconds(server_pid), cpu_of(agent_pids)
    times = sorted(t - t0 for (t, nk, _) in admin.messages[seen0:] if nk in nicks)
    if times:
        fig.add(f"all: status #{n_round}: answers", f"{len(got)} of {len(nicks)}; first {times[0] * 1000:.0f} ms,"
                f" median {statistics.median(times) * 1000:.0f} ms, last {(t1 - t0) * 1000:.0f} ms")
    else:
        fig.add(f"all: status #{n_round}: answers", f"0 of {len(nicks)} within {timeout} s")
    fig.add(f"all: status #{n_round}: CPU spent", f"prosody {1000 * (s1 - s0):.0f} ms,"
            f" agents {1000 * (a1 - a0):.0f} ms in all")
    return ok, admin.messages[seen0:]


async def storm_round(admin, nicks, fig, server_pid, agent_pids, proc_root, label, text, args):
    """Rewrites the shared loadavg; waits for a `storm` message from every agent."""
    seen0, chats0 = len(admin.messages), len(admin.chats)
    s0, a0 = fleet.proc_cpu_seconds(server_pid), cpu_of(agent_pids)
    t0 = time.monotonic()
    with open(proc_root + "/loadavg.new", "w") as f:
        f.write(text)
    os.replace(proc_root + "/loadavg.new", proc_root + "/loadavg")

    def said():
        return {nk for (_, nk, body) in admin.messages[seen0:] if nk in nicks and "storm" in body}
    await fleet.until(lambda: len(said()) >= len(nicks), parse_seconds(args.probe_interval) + args.answer_timeout)
    times = sorted(t - t0 for (t, nk, b) in admin.messages[seen0:] if nk in nicks and "storm" in b)
    s1, a1 = fleet.proc_cpu_seconds(server_pid), cpu_of(agent_pids)
    private = sum("storm" in b for (_, _, b) in admin.chats[chats0:])
    last = f"{times[-1]:.1f} s" if times else "-"
    fig.add(label, f"{len(said())} of {len(nicks)} in the room, the last {last} after the write"
            f" (probes every {args.probe_interval}); {private} privately to alice")
    fig.add(f"{label}: CPU spent", f"prosody {1000 * (s1 - s0):.0f} ms, agents {1000 * (a1 - a0):.0f} ms in all")


async def connected_only(args, agents, server, fig, t0):
    """--no-room: the same agents, connected but in no room (the baseline)."""
    def up():
        return [a for a in agents if "xmpp: connected as" in fleet.tail(a.log, 4096)]
    ok = await fleet.until(lambda: len(up()) == len(agents), args.join_timeout, step=0.2)
    fig.add(f"all {args.agents} connected (no room)", f"{len(up())} connected, {time.monotonic() - t0:.1f} s"
            " after the first start (by their logs)")
    if ok:
        fig.add("prosody open descriptors", str(len(os.listdir(f"/proc/{server.pid}/fd"))))
        await asyncio.sleep(args.settle)
        await asyncio.get_running_loop().run_in_executor(None, sample, "idle, no room", fig, server.pid,
                                                         [a.pid for a in agents], args.window)
    return ok


async def bench(args, fl, fig):
    proc_root = os.path.join(fl.root, "proc")
    shutil.copytree(os.path.join(REPO, "tests/fixtures/proc/current"), proc_root)
    server = fl.own(fleet.Prosody(fl.root, fl.certs, hibernation=args.hibernation))
    names = [f"web{i:03d}" for i in range(1, args.agents + 1)]
    passwords = {n: fleet.new_password() for n in names + ["alice"]}
    t = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: server.register(n, passwords[n]), passwords))
    fig.add("accounts registered (prosodyctl, 4 at a time)", f"{len(passwords)} in {time.monotonic() - t:.1f} s")
    server.start()

    admin = fleet.make_admin("alice@" + fleet.DOMAIN, passwords["alice"], server.port, fl.ca, ROOM, nick="alice")
    await asyncio.wait_for(admin.in_room.wait(), 20)

    room = ROOM if args.room else None
    agents = [fl.own(fleet.Agent(fl.root, args.binary, n, server.port, fl.ca, passwords[n], room=room,
                                 admins=["alice@" + fleet.DOMAIN], proc_root=proc_root, rules=[STORM_RULE],
                                 ping_interval=args.ping_interval, probe_interval=args.probe_interval))
              for n in names]
    t0 = time.monotonic()
    join_cpu0 = fleet.proc_cpu_seconds(server.pid)
    for a in agents:
        a.start()
    nicks = set(names)
    if not args.room:
        return await connected_only(args, agents, server, fig, t0)
    joined = await fleet.until(lambda: nicks <= set(admin.present), args.join_timeout, step=0.05)
    in_room = nicks & set(admin.present)
    if in_room:
        last = max(admin.joined_at[n] for n in in_room) - t0
        fig.add(f"all {args.agents} in the room", f"{len(in_room)} joined; the last {last:.1f} s after the first start")
        spent = fleet.proc_cpu_seconds(server.pid) - join_cpu0
        fig.add("prosody CPU for connect + TLS + SASL + join", f"{1000 * spent:.0f} ms in all,"
                f" {1000 * spent / len(in_room):.1f} ms per agent")
    dead = [a.name for a in agents if not a.alive()]
    if not joined:
        fig.add("join FAILED", f"{len(in_room)} of {args.agents} in the room after {args.join_timeout} s;"
                f" exited: {dead[:5]}")
        for a in agents:
            if a.name not in in_room:
                print(f"--- {a.name} log tail ---\n{fleet.tail(a.log)}")
                break
        return False
    pids = [a.pid for a in agents]
    fig.add("prosody open descriptors", str(len(os.listdir(f"/proc/{server.pid}/fd"))))

    await asyncio.sleep(args.settle)
    await asyncio.get_running_loop().run_in_executor(None, sample, "idle", fig, server.pid, pids, args.window)

    ok = True
    for r in range(1, args.rounds + 1):
        good, _ = await status_round(admin, nicks, fig, server.pid, pids, args.answer_timeout, r)
        ok = ok and good
        await asyncio.sleep(1)
    if not ok:
        return False

    # While answering: `all: status` again as soon as the last answer came,
    # for a window (never more than the server can take: no backlog).
    async def back_to_back():
        end, n = time.monotonic() + args.window, 0
        while time.monotonic() < end:
            mark = len(admin.messages)
            admin.say("all: status")
            n += 1
            await fleet.until(lambda: len({nk for (_, nk, b) in admin.messages[mark:]
                                           if nk in nicks and b.startswith(nk)}) >= len(nicks), args.answer_timeout)
        return n
    task = asyncio.create_task(back_to_back())
    await asyncio.get_running_loop().run_in_executor(
        None, sample, "answering (all: status back to back)", fig, server.pid, pids, args.window)
    fig.add("answering: rounds of all: status in the window", str(await task))
    await asyncio.sleep(3)

    for label, text in (("alert storm: all fire", LOAD_HIGH), ("alert storm: all resolve", LOAD_LOW)):
        await storm_round(admin, nicks, fig, server.pid, pids, proc_root, label, text, args)
    await asyncio.sleep(2)
    # Every agent is alive until the SIGKILL below: any vanishing so far is false.
    false_vanish = sum("vanished without a goodbye" in b for (_, _, b) in admin.messages)
    fig.add("live hosts announced vanished (before the SIGKILL)", str(false_vanish))

    if args.vanish:
        victim = agents[len(agents) // 2]
        seen0 = len(admin.messages)
        t_kill = time.monotonic()
        victim.kill()
        pat = f"{victim.nick} vanished"
        got = await fleet.until(lambda: any(pat in b for (_, _, b) in admin.messages[seen0:]), args.vanish_timeout)
        if got:
            t, who, body = next(m for m in admin.messages[seen0:] if pat in m[2])
            await asyncio.sleep(min(5, 3 * parse_seconds(args.ping_interval)))
            count = sum(pat in b for (_, _, b) in admin.messages[seen0:])
            fig.add("vanish announced after SIGKILL", f"{t - t_kill:.1f} s (ping_interval {args.ping_interval}),"
                    f" by {who}, {count} time(s): {body!r}")
        else:
            fig.add("vanish announced after SIGKILL", f"not within {args.vanish_timeout} s")
    admin.disconnect()
    await asyncio.sleep(0.5)
    return True


def parse_seconds(d):
    units = {"s": 1, "m": 60, "h": 3600}
    return float(d[:-1]) * units[d[-1]] if d[-1] in units else float(d)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--short", action="store_true", help="20 agents, short windows (what CI runs)")
    p.add_argument("--binary", default=os.path.join(REPO, "build/agent/imwatch"))
    p.add_argument("--ping-interval", default="10s")
    p.add_argument("--probe-interval", default="10s")
    p.add_argument("--hibernation", type=int, default=60, help="prosody's smacks_hibernation_time")
    p.add_argument("--window", type=float, default=30, help="seconds each CPU sample spans")
    p.add_argument("--settle", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--join-timeout", type=float, default=0)
    p.add_argument("--answer-timeout", type=float, default=60)
    p.add_argument("--vanish-timeout", type=float, default=0)
    p.add_argument("--no-vanish", dest="vanish", action="store_false")
    p.add_argument("--no-room", dest="room", action="store_false",
                   help="the baseline: agents connected, in no room (idle figures only)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = p.parse_args()
    if args.short:
        args.agents, args.window, args.settle, args.rounds = 20, 5, 2, 2
        args.ping_interval = args.probe_interval = "2s"
    if not args.join_timeout:
        args.join_timeout = 30 + 0.3 * args.agents
    if not args.vanish_timeout:
        args.vanish_timeout = 3 * parse_seconds(args.ping_interval) + 30
    if not os.access(args.binary, os.X_OK):
        print(f"bench: {args.binary} not built (cmake --build build --target imwatch)")
        return 2
    fig = Figures()
    started = time.monotonic()
    with fleet.Fleet(prefix="imwatch-fleet-bench-", keep=args.keep) as fl:
        if args.keep:
            print(f"bench: temp dir {fl.root}")
        try:
            ok = asyncio.run(bench(args, fl, fig))
        except (RuntimeError, TimeoutError, OSError) as e:
            print(f"bench: setup failed: {e}")
            return 2
    print(f"\nimwatch fleet bench: {args.agents} agents, ping_interval {args.ping_interval},"
          f" probes every {args.probe_interval}, {time.monotonic() - started:.0f} s in all\n")
    print(fig.table())
    print(f"\nresult: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
