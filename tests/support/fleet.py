"""Real parts for fleet tests and benchmarks, from /usr/bin/python3.

A private prosody with its MUC component, private ejabberd nodes (one, or a
two-node cluster with its own epmd), real imwatch agents with their own
config and state dirs, and an admin that is a real slixmpp client in the
room. Everything listens on 127.0.0.1 on free ports, lives in one temp dir,
and is stopped by its own PID, also when the caller fails: use Fleet as a
context manager.

Only for tests: passwords are random and kept in 0600 files, never printed.
Used by tests/bench/fleet_bench.py and tests/xmpp/ejabberd_cluster.py.
"""

import asyncio
import ctypes
import os
import pwd
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOMAIN = "test.local"
MUC = "conference." + DOMAIN
CLK_TCK = os.sysconf("SC_CLK_TCK")


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when we go, however we go."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(avoid=()):
    """A port the kernel calls free on 127.0.0.1, never an XMPP default."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in (4369, 5222, 5269, 5280, 5281) and port not in avoid:
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError(f"{what}: not within {timeout} s")


def proc_cpu_seconds(pid):
    """CPU time of a live process's main thread, in seconds; None when it is gone.

    imwatch and prosody run one thread each. From /proc/PID/schedstat
    (nanoseconds) when the kernel has it: utime and
    stime come in 10 ms ticks, too coarse for an idle agent."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def stop_process(proc, grace=5.0, sig=signal.SIGTERM):
    """Our own child, by its PID: `sig`, then SIGKILL after `grace`."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def make_certs(d, domain=DOMAIN):
    """A throwaway CA and a server certificate for domain (EC keys: fast)."""
    os.makedirs(d, mode=0o755, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "1",
        "-subj", "/CN=imwatch fleet throwaway CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr", "-subj", f"/CN={domain}")
    with open(f"{d}/server.ext", "w") as f:
        f.write(f"subjectAltName=DNS:{domain},DNS:*.{domain},DNS:localhost,IP:127.0.0.1\n"
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-set_serial", "2", "-days", "1", "-extfile", f"{d}/server.ext", "-out", f"{d}/server.pem")
    os.unlink(f"{d}/ca.key")
    with open(f"{d}/server.pem") as cert, open(f"{d}/server.key") as key:
        bundle = cert.read() + key.read()
    with open(f"{d}/bundle.pem", "w") as f:  # ejabberd's certfiles
        f.write(bundle)
    os.chmod(f"{d}/server.key", 0o644)  # throwaway, and ejabberd runs as its own user
    os.chmod(f"{d}/bundle.pem", 0o644)


class Prosody:
    """prosody 0.12 with `Component "conference.test.local" "muc"`."""

    def __init__(self, root, certs, hibernation=60):
        self.dir = os.path.join(root, "prosody")
        os.makedirs(self.dir + "/data", exist_ok=True)
        self.port = free_port()
        self.config = self.dir + "/prosody.cfg.lua"
        self.log = self.dir + "/prosody.log"
        self.proc = None
        c = certs
        run_as_root = "true" if os.geteuid() == 0 else "false"
        with open(self.config, "w") as f:
            f.write(f"""-- Private prosody of imwatch's fleet tests; 127.0.0.1 only.
run_as_root = {run_as_root}
daemonize = false
pidfile = "{self.dir}/prosody.pid"
data_path = "{self.dir}/data"
log = {{ info = "{self.log}" }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = true
authentication = "internal_hashed"
network_settings = {{ nagle = false }}
-- A SIGKILLed client's session hibernates this long before its room sees it go.
smacks_hibernation_time = {hibernation}
modules_enabled = {{
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence";
  "smacks"; "carbons"; "offline"; "posix";
}}
ssl = {{ certificate = "{c}/server.pem"; key = "{c}/server.key" }}
VirtualHost "{DOMAIN}"
  ssl = {{ certificate = "{c}/server.pem"; key = "{c}/server.key" }}
Component "{MUC}" "muc"
  muc_room_locking = false
  muc_room_default_public_jids = true
  muc_room_default_persistent = true
  muc_room_default_history_length = 0
""")

    def register(self, user, password):
        # The password goes on stdin (typed twice), never on a command line.
        r = subprocess.run(["prosodyctl", "--config", self.config, "register", user, DOMAIN],
                           input=f"{password}\n{password}\n", capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"prosodyctl register {user} failed: {r.stdout[-300:]} {r.stderr[-300:]}")

    def start(self, timeout=10):
        def limits():
            # 200 clients and more: raise the descriptor limit as far as allowed.
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 65536), hard), hard))
            die_with_parent()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["prosody", "--config", self.config, "-F"], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out, preexec_fn=limits)
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("prosody exited during startup; log: " + tail(self.log))
            return port_accepts(self.port)
        wait_for(up, timeout, f"prosody on 127.0.0.1:{self.port}")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self):
        stop_process(self.proc)


class EjabberdNode:
    """One ejabberd 23.01 node from private dirs, run as the ejabberd user.

    Clustered nodes share a private epmd (epmd_port) and a cookie; without a
    cluster, pass epmd_port=None and the node uses ERL_DIST_PORT (no epmd).
    """

    def __init__(self, root, certs, name, cookie, epmd_port=None, window=None):
        self.name = name
        self.node = f"{name}@localhost"
        self.dir = os.path.join(root, name)
        for sub in ("conf", "logs", "spool", "home", "contrib"):
            os.makedirs(f"{self.dir}/{sub}", exist_ok=True)
        self.port = free_port()
        self.config = f"{self.dir}/conf/ejabberd.yml"
        self.ctl_config = f"{self.dir}/conf/ejabberdctl.cfg"
        self.proc = None
        self.epmd_port = epmd_port
        shutil.copy("/etc/ejabberd/inetrc", f"{self.dir}/conf/inetrc")
        lines = [f"ERLANG_NODE={self.node}", "INET_DIST_INTERFACE=127.0.0.1", "EJABBERD_BYPASS_WARNINGS=true",
                 f"EJABBERD_PID_PATH={self.dir}/ejabberd.pid", f"CONTRIB_MODULES_PATH={self.dir}/contrib",
                 f'ERL_OPTIONS="-setcookie {cookie} -env ERL_CRASH_DUMP_BYTES 0"']
        if epmd_port:
            # Every ejabberdctl call starts a hidden node too: a port range.
            lines += ["ERL_EPMD_ADDRESS=127.0.0.1", f"export ERL_EPMD_PORT={epmd_port}",
                      f"FIREWALL_WINDOW={window[0]}-{window[1]}"]
        else:
            lines.append(f"ERL_DIST_PORT={free_port((self.port,))}")
        with open(self.ctl_config, "w") as f:
            f.write("# Private ejabberdctl config of imwatch's fleet tests.\n" + "\n".join(lines) + "\n")
        with open(self.config, "w") as f:
            f.write(f"""# Private ejabberd config of imwatch's fleet tests; 127.0.0.1 only.
hosts:
  - "{DOMAIN}"
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - "{certs}/bundle.pem"
acme:
  auto: false
listen:
  -
    port: {self.port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    starttls_required: true
s2s_access: none
auth_method: internal
auth_password_format: scram
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_caps: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
  mod_admin_extra: {{}}
  mod_muc_admin: {{}}
  mod_stream_mgmt:
    resume_timeout: 20
  mod_muc:
    host: "{MUC}"
    access_create: all
    default_room_options:
      anonymous: false
      persistent: true
      max_users: 1000
    max_users: 1000
    history_size: 0
""")
        pw = pwd.getpwnam("ejabberd") if os.geteuid() == 0 else None
        if pw:
            for base, dirs, files in os.walk(self.dir):
                for n in [base] + [os.path.join(base, x) for x in dirs + files]:
                    os.lchown(n, pw.pw_uid, pw.pw_gid)
        self.user = "ejabberd" if pw else None

    def _env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ERL_", "ERLANG_", "EJABBERD")) and k not in ("HOME", "PATH")}
        env["HOME"] = f"{self.dir}/home"
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        return env

    def ctl(self, *command, timeout=60):
        argv = ["/usr/sbin/ejabberdctl", "--config-dir", f"{self.dir}/conf", "--config", self.config,
                "--ctl-config", self.ctl_config, "--logs", f"{self.dir}/logs", "--spool", f"{self.dir}/spool",
                *command]
        return subprocess.run(argv, env=self._env(), user=self.user, cwd=self.dir, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self):
        argv = ["/usr/sbin/ejabberdctl", "--config-dir", f"{self.dir}/conf", "--config", self.config,
                "--ctl-config", self.ctl_config, "--logs", f"{self.dir}/logs", "--spool", f"{self.dir}/spool",
                "foreground"]
        with open(f"{self.dir}/ejabberd.out", "ab") as out:
            # Its own session: stop() reaches beam.smp (a grandchild) by its pid file.
            self.proc = subprocess.Popen(argv, env=self._env(), user=self.user, cwd=self.dir,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)

    def wait_ready(self, timeout=30):
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.node} exited; log: " + tail(f"{self.dir}/logs/ejabberd.log"))
            return port_accepts(self.port) and self.beam_pid() is not None
        wait_for(up, timeout, f"{self.node} on 127.0.0.1:{self.port}", step=0.1)

    def beam_pid(self):
        try:
            with open(f"{self.dir}/ejabberd.pid") as f:
                pid = int(f.read().split()[0])
            with open(f"/proc/{pid}/comm") as f:
                return pid if f.read().strip() == "beam.smp" else None
        except (OSError, ValueError, IndexError):
            return None

    @property
    def pid(self):
        return self.beam_pid()

    def register(self, user, password):
        # ejabberdctl has no stdin form: the throwaway password is on the control VM's command line.
        r = self.ctl("register", user, DOMAIN, password)
        if r.returncode != 0:
            raise RuntimeError(f"ejabberdctl register {user} on {self.node}: {r.stdout[-300:]}{r.stderr[-300:]}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        beam = self.beam_pid()
        if beam and self.proc.poll() is None:
            try:
                os.kill(beam, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the wrapper's own session
            self.proc.wait(timeout=10)
        if beam:  # beam.smp is the wrapper's child: gone with it, or reaped by init
            for _ in range(100):
                if proc_cpu_seconds(beam) is None:
                    break
                time.sleep(0.05)


class Epmd:
    """A private epmd on 127.0.0.1, in the foreground so its PID is ours."""

    def __init__(self, root):
        self.port = free_port()
        self.log = os.path.join(root, "epmd.log")
        self.env = dict(os.environ, ERL_EPMD_ADDRESS="127.0.0.1", ERL_EPMD_PORT=str(self.port))
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["epmd", "-port", str(self.port), "-address", "127.0.0.1"],
                                         env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         preexec_fn=die_with_parent)
        wait_for(lambda: port_accepts(self.port), 5, f"epmd on 127.0.0.1:{self.port}")

    def stop(self):
        stop_process(self.proc, grace=2)


def tail(path, n=1500):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return "(no log)"


class Agent:
    """The real imwatch binary with its own config and state dir."""

    def __init__(self, root, binary, name, port, ca_file, password, room=None, admins=(), proc_root=None,
                 rules=(), ping_interval="10s", probe_interval="10s", extra_xmpp=(), nick=None):
        self.name = name
        self.nick = nick or name
        self.binary = binary
        self.dir = os.path.join(root, "agents", name)
        os.makedirs(self.dir + "/state", mode=0o700, exist_ok=True)
        self.config = self.dir + "/imwatch.conf"
        self.log = self.dir + "/agent.log"
        self.proc = None
        with open(self.dir + "/password", "w", opener=lambda p, fl: os.open(p, fl, 0o600)) as f:
            f.write(password + "\n")
        lines = [f"state-dir = {self.dir}/state", f"hostname = {name}"]
        if proc_root:
            lines.append(f"proc-root = {proc_root}")
        for probe in ("loadavg", "meminfo", "vmstat", "pressure"):
            lines += [f"[probe.{probe}]", f"interval = {probe_interval}"]
        lines.append("[alert]")
        lines += [f"rule = {r}" for r in rules]
        lines += ["[xmpp]", f"jid = {name}@{DOMAIN}", f"password_file = {self.dir}/password", "host = 127.0.0.1",
                  f"port = {port}", f"ca_file = {ca_file}", f"resource = {name}", f"ping_interval = {ping_interval}"]
        lines += [f"admin = {a}" for a in admins]
        if room:
            lines += [f"room = {room}", f"room_nick = {self.nick}"]
        lines += list(extra_xmpp)
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([self.binary, "--config", self.config], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out, preexec_fn=die_with_parent)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return tail(self.log, 1 << 20)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        stop_process(self.proc)


def new_password():
    return secrets.token_hex(16)


class Fleet:
    """A temp dir and everything started in it, stopped in reverse order."""

    def __init__(self, prefix="imwatch-fleet-", keep=False):
        # SIGTERM (a CI timeout) unwinds like Ctrl-C, through close().
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        self.root = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.root, 0o755)  # ejabberd (its own user) must reach its dirs
        self.keep = keep
        self.parts = []
        self.certs = os.path.join(self.root, "certs")
        make_certs(self.certs)
        self.ca = os.path.join(self.certs, "ca.pem")

    def own(self, part):
        self.parts.append(part)
        return part

    def __enter__(self):
        return self

    def close(self):
        # A second Ctrl-C (or a SIGTERM) must not cut the cleanup short.
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._close()
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _close(self):
        # Every agent told at once (each says its goodbye), then each waited for.
        for part in self.parts:
            if isinstance(part, Agent) and part.alive():
                part.proc.send_signal(signal.SIGTERM)
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception as e:  # cleanup goes on whatever one part did
                print(f"fleet: stopping {type(part).__name__}: {e}")
        self.parts.clear()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, *exc):
        self.close()
        return False


# --- the admin: a real slixmpp client in the room -----------------------------

def make_admin(jid, password, port, ca_file, room, nick="admin"):
    """An slixmpp client that joins `room` and records what it sees there.

    Its events (time.monotonic() stamps): `messages` [(t, nick, body)] of
    groupchat messages, `present` {nick: real JID}, `joined_at` {nick: t},
    `left` [(t, nick)]; private messages in `chats` [(t, from, body)].
    """
    import logging

    import slixmpp

    logging.getLogger("slixmpp").setLevel(logging.ERROR)

    class Admin(slixmpp.ClientXMPP):
        def __init__(self):
            super().__init__(jid, password)
            self.room = room
            self.nick = nick
            self.messages, self.chats, self.left = [], [], []
            self.present, self.joined_at = {}, {}
            self.in_room = asyncio.Event()
            self.register_plugin("xep_0045")
            self.register_plugin("xep_0199")
            self.ca_certs = ca_file
            self.add_event_handler("session_start", self._start)
            self.add_event_handler("groupchat_message", self._groupchat)
            self.add_event_handler("message", self._chat)
            self.add_event_handler(f"muc::{room}::presence", self._presence)

        async def _start(self, _):
            self.send_presence()
            await self.get_roster()
            self.plugin["xep_0045"].join_muc(self.room, self.nick, maxhistory="0")

        def _groupchat(self, msg):
            if msg["mucnick"] != self.nick:
                self.messages.append((time.monotonic(), msg["mucnick"], msg["body"]))

        def _chat(self, msg):
            if msg["type"] in ("chat", "normal"):
                self.chats.append((time.monotonic(), str(msg["from"].bare), msg["body"]))

        def _presence(self, pres):
            who = pres["muc"]["nick"]
            if who == self.nick:
                if pres["type"] != "unavailable":
                    self.in_room.set()
                return
            if pres["type"] == "unavailable":
                self.present.pop(who, None)
                self.left.append((time.monotonic(), who))
            else:
                if who not in self.present:
                    self.joined_at[who] = time.monotonic()
                self.present[who] = str(pres["muc"]["jid"].bare)

        def say(self, body):
            self.send_message(mto=self.room, mbody=body, mtype="groupchat")

    admin = Admin()
    admin.connect(("127.0.0.1", port), force_starttls=True)
    return admin


async def until(predicate, timeout, step=0.02):
    """Awaits predicate() (bounded); True if it held before `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()
