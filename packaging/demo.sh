#!/usr/bin/env bash
# imwatch's job, end to end, on this machine and nowhere else:
#   a private XMPP server (prosody) on 127.0.0.1 with a throwaway CA,
#   the agent (build/agent/imwatch) with the default rules plus one that fires
#   at once, and an admin chat client (packaging/demo_admin.py, slixmpp) that
#   receives the alert, sees the agent's presence and asks `status` and `alerts`.
# Builds the agent first when needed. Everything lives in a temp dir that is
# removed at the end, and the servers it starts are stopped by their own PIDs,
# also on failure or Ctrl-C. Needs the packages of packaging/install-deps.sh.
#
#   packaging/install-deps.sh && packaging/demo.sh
#
# Environment: IMWATCH_DEMO_TIMEOUT (seconds the admin waits for everything,
# default 30), IMWATCH_DEMO_KEEP=1 (keep the temp dir, for a look at the logs).
#
# packaging/demo.sh --fleet: the ops room instead (docs/fleet.md): prosody with
# its MUC component, three agents (web1, web2, web3) in ops@conference.demo.local,
# alice asks `all: status`, web2's load (a private copy of /proc) rises until
# its alert fires in the room, web3 is SIGKILLed and one of the others
# announces that it vanished. About 15 s.
#
# IMWATCH_DEMO_SCREENSHOT=FILE.png: instead of the slixmpp admin, a real
# client (profanity in an xterm, on a private Xvfb display) logs in as the
# admin; the demo rule then holds for 6m before it fires, so that the
# alert carries a trend, and the screenshot shows the alert with its
# sparkline, `status` and `graph`. About 7 minutes. Needs
#   apt-get install -y profanity xvfb xterm xdotool x11-apps imagemagick
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
binary=$repo/build/agent/imwatch
domain=demo.local
timeout=${IMWATCH_DEMO_TIMEOUT:-30}
demo_rule='demo: load1 >= 0'  # fires at once on any machine
shot=${IMWATCH_DEMO_SCREENSHOT:-}
fleet=""
case "${1:-}" in
  --fleet) fleet=1 ;;
  "") ;;
  *) echo "usage: packaging/demo.sh [--fleet]" >&2; exit 2 ;;
esac
# The trend of an alert needs two 5-minute buckets of history.
[ -z "$shot" ] || demo_rule="demo: load1 >= 0 for ${IMWATCH_DEMO_HOLD:-6m}"
case "$shot" in "" | /*) ;; *) shot=$PWD/$shot ;; esac

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

for tool in openssl prosody prosodyctl /usr/bin/python3; do
  command -v "$tool" >/dev/null || die "$tool is missing; run packaging/install-deps.sh first"
done
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null ||
  die "python3-slixmpp is missing; run packaging/install-deps.sh first"

dir=""
agent_pid=""
prosody_pid=""
admin_pid=""
fleet_pids=()
started=$EPOCHREALTIME

# Stops one of our own children: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

elapsed() {  # seconds since $started, to 0.1 s
  local us=$(( ${EPOCHREALTIME/./} - ${started/./} ))
  printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

show_tail() {
  local name=$1 file=$2
  [ -s "$file" ] || return 0
  printf '\n--- last 20 lines of the %s log (%s) ---\n' "$name" "$file" >&2
  tail -n 20 "$file" >&2
}

cleanup() {
  local status=$?
  trap - EXIT
  trap '' INT TERM HUP  # cleanup is bounded; a second Ctrl-C must not cut it short
  set +e
  if [ -n "$dir" ] && [ "$status" -ne 0 ] && [ "$status" -ne 130 ]; then  # not after Ctrl-C
    show_tail build "$dir/build.log"
    show_tail agent "$dir/agent.log"
    show_tail prosody "$dir/prosody.log"
  fi
  stop_pid "$admin_pid"
  stop_pid "$agent_pid"
  for pid in "${fleet_pids[@]}"; do stop_pid "$pid"; done
  stop_pid "$prosody_pid"
  local kept="temp dir removed"
  if [ -z "$dir" ]; then
    kept="no temp dir"
  elif [ "${IMWATCH_DEMO_KEEP:-}" = 1 ]; then
    kept="temp dir kept: $dir"
  else
    rm -rf -- "$dir"
  fi
  if [ "$status" -eq 0 ]; then
    say "done in $(elapsed) s; agent and prosody stopped, $kept"
  else
    printf 'demo: FAILED (status %s); agent and prosody stopped, %s\n' "$status" "$kept" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
dir=$(mktemp -d "${TMPDIR:-/tmp}/imwatch-demo.XXXXXX")
case "$dir" in *[\"\\]*) die "the temp dir's name must not contain \" or \\: $dir" ;; esac
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- 1. the agent, built when missing or older than its sources -----------
if [ ! -x "$binary" ] ||
   [ -n "$(find CMakeLists.txt agent probes -newer "$binary" -print -quit)" ]; then
  command -v cmake >/dev/null || die "cmake is missing; run packaging/install-deps.sh first"
  say "building imwatch (full output in the build log on failure)"
  cmake -S . -B build >"$dir/build.log" 2>&1 || die "cmake configure failed"
  # Only the agent: the demo needs nothing else. Progress lines only.
  cmake --build build --target imwatch -j"$(nproc)" 2>&1 | tee -a "$dir/build.log" |
    sed -un 's/^\[ *\([0-9]*\)%\] Built target \(.*\)/demo:   built \2 (\1%)/p' ||
    die "build failed"
  [ -x "$binary" ] || die "the build did not produce $binary"
  touch "$binary"  # up to date now, even if make had nothing to relink
  say "built in $(elapsed) s"
  started=$EPOCHREALTIME
else
  say "using $binary (up to date)"
fi

# --- 2. a private prosody on 127.0.0.1 ---------------------------------------
say "temp dir $dir"
mkdir -m 700 "$dir/certs" "$dir/data" "$dir/state"

# A throwaway CA and a server certificate for demo.local (EC keys: fast).
c=$dir/certs
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
{
  openssl req -x509 "${ec[@]}" -keyout "$c/ca.key" -out "$c/ca.pem" -days 1 \
    -subj "/CN=imwatch demo throwaway CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req "${ec[@]}" -keyout "$c/server.key" -out "$c/server.csr" -subj "/CN=$domain"
  printf '%s\n' "subjectAltName=DNS:$domain,DNS:localhost,IP:127.0.0.1" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" >"$c/server.ext"
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -set_serial 2 \
    -days 1 -extfile "$c/server.ext" -out "$c/server.pem"
} >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "openssl failed"; }
say "made a throwaway CA and a certificate for $domain (localhost, 127.0.0.1)"

# A port the kernel considers free on 127.0.0.1 (never the XMPP defaults).
port=""
for _ in 1 2 3 4 5; do
  port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  case "$port" in 5222 | 5269 | 5280 | 5281 | *[!0-9]*) port="" ;; *) break ;; esac
done
[ -n "$port" ] || die "no free port on 127.0.0.1"

run_as_root=false
[ "$(id -u)" -ne 0 ] || run_as_root=true
cat >"$dir/prosody.cfg.lua" <<EOF
-- Private prosody config of imwatch's demo; reachable from 127.0.0.1 only.
run_as_root = $run_as_root
daemonize = false
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
log = { info = "$dir/prosody.log" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $port }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
modules_disabled = { "s2s" }
c2s_require_encryption = true
authentication = "internal_hashed"
network_settings = { nagle = false }
modules_enabled = {
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence";
  "smacks"; "carbons"; "offline"; "posix";
}
ssl = { certificate = "$c/server.pem"; key = "$c/server.key" }
VirtualHost "$domain"
  ssl = { certificate = "$c/server.pem"; key = "$c/server.key" }
EOF
if [ -n "$fleet" ]; then
  # The ops room: created by its first joiner, real JIDs visible to all
  # occupants (agents obey only admins they can identify), no history.
  cat >>"$dir/prosody.cfg.lua" <<EOF
Component "conference.$domain" "muc"
  muc_room_locking = false
  muc_room_default_public_jids = true
  muc_room_default_history_length = 0
EOF
fi

prosody --config "$dir/prosody.cfg.lua" -F </dev/null >>"$dir/prosody.log" 2>&1 &
prosody_pid=$!
for ((i = 0; ; i++)); do
  kill -0 "$prosody_pid" 2>/dev/null || { prosody_pid=""; die "prosody exited during startup"; }
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  [ "$i" -lt 100 ] || die "prosody did not open 127.0.0.1:$port within 10 s"
  sleep 0.1
done
say "prosody (pid $prosody_pid) listens on 127.0.0.1:$port, TLS required, no s2s, no http"

# Two accounts with random passwords, kept in 0600 files, never printed and
# never on a command line: prosodyctl reads them from stdin (typed twice).
users="agent alice"
[ -z "$fleet" ] || users="web1 web2 web3 alice"
for user in $users; do
  (umask 077 && openssl rand -hex 24 >"$dir/$user.password")
  pw=$(<"$dir/$user.password")
  printf '%s\n%s\n' "$pw" "$pw" |
    prosodyctl --config "$dir/prosody.cfg.lua" register "$user" "$domain" >>"$dir/prosodyctl.log" 2>&1 ||
    { cat "$dir/prosodyctl.log" >&2; die "prosodyctl register $user failed"; }
done
unset pw
say "registered $(printf '%s@'"$domain"' ' $users)(random passwords)"

# --- 3f. or the fleet: three agents in one room ------------------------------
if [ -n "$fleet" ]; then
  room=ops@conference.$domain
  # web2 reads a private copy of this machine's /proc files, so that the demo
  # can raise its load; the others read /proc itself.
  mkdir -p "$dir/proc-web2"
  for f in meminfo stat vmstat uptime; do cp "/proc/$f" "$dir/proc-web2/$f"; done
  echo "0.20 0.20 0.20 1/100 1" >"$dir/proc-web2/loadavg"  # quiet, whatever this machine's load
  [ ! -d /proc/pressure ] || cp -r /proc/pressure "$dir/proc-web2/pressure"
  for name in web1 web2 web3; do
    mkdir -m 700 "$dir/state-$name"
    {
      echo "state-dir = $dir/state-$name"
      echo "hostname = $name"
      [ "$name" != web2 ] || echo "proc-root = $dir/proc-web2"
      for probe in loadavg meminfo vmstat pressure; do
        printf '[probe.%s]\ninterval = 1s\n' "$probe"
      done
      # Only web2 has the demo rule: this machine's own load must not fire it.
      [ "$name" != web2 ] || printf '[alert]\nrule = demo: load1 > 4 for 1s\n'
      echo "[xmpp]"
      echo "jid = $name@$domain"
      echo "password_file = $dir/$name.password"
      echo "host = 127.0.0.1"
      echo "port = $port"
      echo "resource = $name"
      echo "admin = alice@$domain"
      echo "room = $room"
      echo "room_nick = $name"
      echo "ping_interval = 2s"
      echo "ca_file = $c/ca.pem"
    } >"$dir/$name.conf"
    "$binary" --check-config --config "$dir/$name.conf" >"$dir/check-config.log" 2>&1 ||
      { cat "$dir/check-config.log" >&2; die "the agent rejected the config of $name"; }
    "$binary" --config "$dir/$name.conf" </dev/null >>"$dir/$name.log" 2>&1 &
    fleet_pids+=($!)
  done
  say "agents web1, web2, web3 (pids ${fleet_pids[*]}) join $room, pings every 2 s"
  say "alice joins the room:"
  echo
  /usr/bin/python3 packaging/demo_fleet_admin.py --jid "alice@$domain" --room "$room" \
    --agents web1,web2,web3 --fire "web2:$dir/proc-web2/loadavg" --kill "web3:${fleet_pids[2]}" \
    --server 127.0.0.1 --port "$port" --ca-file "$c/ca.pem" \
    --password-file "$dir/alice.password" --timeout "$((timeout + 15))" </dev/null &
  admin_pid=$!
  admin_status=0
  # (bash's own "Killed" notice for web3, a job of this script, is not news)
  { wait "$admin_pid" || admin_status=$?; } 2>/dev/null
  admin_pid=""
  if [ "$admin_status" -ne 0 ]; then
    for name in web1 web2 web3; do show_tail "$name" "$dir/$name.log"; done
    die "the admin's side of the fleet demo failed (status $admin_status)"
  fi
  echo
  exit 0
fi

# --- 3. the agent's config ---------------------------------------------------
host=$(uname -n)
{
  echo "# imwatch demo config: every probe each second, the shipped default rules"
  echo "# plus one that fires at once on any machine."
  echo "state-dir = $dir/state"
  echo "hostname = $host"
  [ -z "$shot" ] || echo "log-level = debug"  # the alert is seen in the log
  for probe in loadavg meminfo vmstat pressure; do
    printf '[probe.%s]\ninterval = 1s\n' "$probe"
  done
  echo "[alert]"
  grep '^rule = ' packaging/imwatch.conf
  echo "rule = $demo_rule"
  echo "[xmpp]"
  echo "jid = agent@$domain"
  echo "password_file = $dir/agent.password"
  echo "host = 127.0.0.1"
  echo "port = $port"
  echo "admin = alice@$domain"
  echo "ca_file = $c/ca.pem"
} >"$dir/imwatch.conf"
"$binary" --check-config --config "$dir/imwatch.conf" >"$dir/check-config.log" 2>&1 ||
  { cat "$dir/check-config.log" >&2; die "the agent rejected the demo config"; }
say "agent config: $(grep -c '^rule = ' "$dir/imwatch.conf") rules, one of them '$demo_rule'"

# --- 4. the agent ------------------------------------------------------------
: >"$dir/agent.log"
"$binary" --config "$dir/imwatch.conf" </dev/null >>"$dir/agent.log" 2>&1 &
agent_pid=$!
for ((i = 0; ; i++)); do
  kill -0 "$agent_pid" 2>/dev/null || { agent_pid=""; die "the agent exited during startup"; }
  connected=$(grep -m1 -o 'xmpp: connected as .*' "$dir/agent.log" || true)
  [ -z "$connected" ] || break
  [ "$i" -lt 100 ] || die "the agent did not connect to prosody within 10 s"
  sleep 0.1
done
say "agent (pid $agent_pid) ${connected#xmpp: }"

# --- 5b. or a real client on a private display, for a screenshot -------------
if [ -n "$shot" ]; then
  for tool in Xvfb xterm xdotool xwd convert profanity; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install -y profanity xvfb xterm xdotool x11-apps imagemagick"
  done
  # profanity's own files in the temp dir; its password file is 0600 there.
  export XDG_CONFIG_HOME=$dir/xdg/config XDG_DATA_HOME=$dir/xdg/data
  mkdir -p -m 700 "$XDG_CONFIG_HOME/profanity" "$XDG_DATA_HOME/profanity"
  (
    umask 077
    printf '[alice@%s]\nenabled=true\njid=alice@%s\nserver=127.0.0.1\nport=%s\nresource=profanity\npassword=%s\ntls.policy=trust\n' \
      "$domain" "$domain" "$port" "$(<"$dir/alice.password")" >"$XDG_DATA_HOME/profanity/accounts"
    printf '[ui]\ntitlebar.show=true\nsplash=false\n[notifications]\nmessage=false\n' >"$XDG_CONFIG_HOME/profanity/profrc"
  )
  display=:$((90 + RANDOM % 100))
  Xvfb "$display" -screen 0 1000x760x24 -nolisten tcp </dev/null >"$dir/xvfb.log" 2>&1 &
  admin_pid=$!  # stopped by cleanup, like the others
  sleep 1
  kill -0 "$admin_pid" 2>/dev/null || die "Xvfb did not start on $display"
  DISPLAY=$display xterm -geometry 110x44+0+0 -fa 'DejaVu Sans Mono' -fs 11 -bg white -fg black \
    -e profanity -a "alice@$domain" </dev/null >"$dir/xterm.log" 2>&1 &
  xterm_pid=$!
  say "profanity on $display; waiting for the alert (${IMWATCH_DEMO_HOLD:-6m})"
  for ((i = 0; i < 900; i++)); do
    grep -q 'notify: .*WARNING demo' "$dir/agent.log" && break
    sleep 1
  done
  grep -q 'notify: .*WARNING demo' "$dir/agent.log" || die "no alert within 15 minutes"
  sleep 3
  type_line() {
    # No window manager: focus, not activate.
    local wid
    wid=$(DISPLAY=$display xdotool search --sync --class xterm | head -n 1)
    DISPLAY=$display xdotool windowfocus "$wid"
    DISPLAY=$display xdotool type --delay 20 "$1"
    DISPLAY=$display xdotool key Return
    sleep 3
  }
  type_line "/msg agent@$domain status"
  type_line "graph 5m"
  im=/usr/bin/convert  # ImageMagick's, not whatever else is called convert earlier in PATH
  [ -x "$im" ] || im=convert
  DISPLAY=$display xwd -root -silent | "$im" xwd:- "$shot"
  kill "$xterm_pid" 2>/dev/null || true
  say "screenshot: $shot"
  exit 0
fi

# --- 5. the admin ------------------------------------------------------------
say "alice connects and chats with the agent:"
echo
# In the background with `wait`, so that a signal to this script is acted on at once.
/usr/bin/python3 packaging/demo_admin.py --jid "alice@$domain" --agent "agent@$domain" \
  --server 127.0.0.1 --port "$port" --ca-file "$c/ca.pem" \
  --password-file "$dir/alice.password" --expect "demo: load1" --timeout "$timeout" </dev/null &
admin_pid=$!
admin_status=0
wait "$admin_pid" || admin_status=$?
admin_pid=""
[ "$admin_status" -eq 0 ] || die "the admin's side of the demo failed (status $admin_status)"
echo
