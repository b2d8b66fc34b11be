#!/usr/bin/env bash
# The Debian package, proved on a real system. Run as root:
#
#   tests/package/run.sh
#
# 1. builds the source and binary packages (packaging/build-deb.sh);
# 2. lintian --pedantic and blhc --bindnow on them; the unit's
#    systemd-analyze security --offline exposure must be <= 2.0;
# 3. piuparts: install, remove, purge in a clean bookworm chroot;
# 4. boots bookworm with systemd in a container (systemd-nspawn), installs the
#    package with apt, configures a rule that fires and an XMPP account on a
#    private prosody on the host's loopback, and checks: the service runs as
#    user imwatch with no capabilities, the alert reaches an admin client
#    (tests/package/xmpp_admin.py), a reload with a bad config leaves the
#    same process running with the old config, a reinstall keeps the admin's
#    edits and the file's 0640 root:imwatch, and purge removes /etc/imwatch
#    and /var/lib/imwatch. With monitoring-plugins-basic and -systemd
#    installed there, two checks run from the hardened unit: check_procs
#    finds root's systemd-journald (ProtectProc=default) and check_systemd
#    reads dbus.service's state over the system bus. Filesystems as the
#    service sees them: a tmpfs on /home is listed (ProtectHome=read-only),
#    and one remounted read-only while the service runs fires a
#    fs_remounted_ro rule, which resolves when it is read-write again, though
#    ProtectSystem=strict makes every mount read-only in the service's
#    namespace.
#
# The bookworm base tarball (minbase + systemd) is cached in
# /var/cache/imwatch-test/ between runs; the first run creates it (about
# 40 s, needs the Debian mirror). Everything else lives in a temp dir that is
# removed at exit, also on failure; every process the script starts is
# stopped by its PID.
#
# Environment:
#   IMWATCH_TEST_XMPP=0     no [xmpp] section: look for the alert in the
#                           container's journal (console notifier) instead of
#                           at the XMPP admin client
#   IMWATCH_TEST_DEBS=DIR   use the packages already built in DIR
#   IMWATCH_TEST_MIRROR=URL Debian mirror (default: the one apt uses here)
#   IMWATCH_TEST_CACHE=DIR  base tarball cache (default /var/cache/imwatch-test)
#   IMWATCH_TEST_KEEP=1     keep the temp dir (logs, container tree)
#
# Needs: debootstrap systemd-container piuparts lintian blhc prosody openssl
# python3-slixmpp dpkg-dev devscripts, and the build dependencies
# (apt-get build-dep ./packaging).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/package
suite=bookworm
cache=${IMWATCH_TEST_CACHE:-/var/cache/imwatch-test}
use_xmpp=${IMWATCH_TEST_XMPP:-1}
rule=pkgtest_load
domain=test.local

die() { printf 'run.sh: FAIL: %s\n' "$*" >&2; exit 1; }
note() { printf 'run.sh: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, piuparts, systemd-nspawn)"
need=(dpkg-buildpackage lintian blhc piuparts debootstrap systemd-nspawn systemd-analyze nsenter)
[ "$use_xmpp" = 1 ] && need+=(prosody prosodyctl openssl)
for tool in "${need[@]}"; do
  command -v "$tool" >/dev/null || die "$tool not found; see the 'Needs:' line at the top of $0"
done
if [ "$use_xmpp" = 1 ]; then
  /usr/bin/python3 -c 'import slixmpp' 2>/dev/null || die "/usr/bin/python3 cannot import slixmpp (apt-get install python3-slixmpp)"
fi

# --- timing ------------------------------------------------------------------
timings=()
step_name=
step_t0=0
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
step() {
  step_done
  step_name=$1
  step_t0=$(now_ms)
  note "== $step_name"
}
step_done() {
  if [ -n "$step_name" ]; then
    local ms=$(( $(now_ms) - step_t0 ))
    timings+=("$(printf '%7d.%01d s  %s' $((ms / 1000)) $((ms % 1000 / 100)) "$step_name")")
    step_name=
  fi
}
t_start=$(now_ms)

# --- cleanup -----------------------------------------------------------------
work=$(mktemp -d /tmp/imwatch-pkgtest.XXXXXX)
chmod 0755 "$work"
nspawn_pid=
container_pid=
prosody_pid=
admin_pid=

stop_pid() {  # PID SECONDS: SIGTERM, then SIGKILL after SECONDS
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  step_done
  if [ "$rc" != 0 ]; then
    note "failed (status $rc); last lines of the logs in $work:"
    for f in "$work"/container.log "$work"/prosody/prosody.log "$work"/admin*.log; do
      [ -s "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }
    done
    if [ -n "$container_pid" ] && declare -F cexec >/dev/null; then
      echo "--- journalctl -u imwatch in the container"
      cexec journalctl -u imwatch --no-pager -n 30 2>&1
    fi
  fi
  [ -n "$admin_pid" ] && stop_pid "$admin_pid" 2
  if [ -n "$nspawn_pid" ]; then
    # SIGTERM makes systemd-nspawn shut the booted container down cleanly.
    stop_pid "$nspawn_pid" 30
    # If nspawn had to be killed, its container's init survives it.
    [ -n "$container_pid" ] && stop_pid "$container_pid" 5
    wait "$nspawn_pid" 2>/dev/null
  fi
  [ -n "$prosody_pid" ] && stop_pid "$prosody_pid" 5
  if [ "${IMWATCH_TEST_KEEP:-0}" = 1 ]; then
    note "kept $work"
  else
    rm -rf --one-file-system "$work"
  fi
  if [ ${#timings[@]} -gt 0 ]; then
    note "timings:"
    printf '%s\n' "${timings[@]}"
    printf '%7d s    total\n' $(( ($(now_ms) - t_start) / 1000 ))
  fi
  [ "$rc" = 0 ] && note "PASS"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The Debian mirror this machine's apt uses for $suite (deb822 or one-line).
detect_mirror() {
  if [ -n "${IMWATCH_TEST_MIRROR:-}" ]; then echo "$IMWATCH_TEST_MIRROR"; return; fi
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suite_ok = 0; type_ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == s) suite_ok = 1 }
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) type_ok = 1
        }
        if (suite_ok && type_ok && uris != "") { print uris; exit }
      }')
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v s="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++; if ($(i + 1) == s) { print $i; exit } }')
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
mirror=$(detect_mirror)
mirror=${mirror%/}

# --- 1. build ------------------------------------------------------------------
version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
if [ -n "${IMWATCH_TEST_DEBS:-}" ]; then
  out=$(cd "$IMWATCH_TEST_DEBS" && pwd)
else
  step "build the packages (build-deb.sh)"
  out=$work/out
  "$top/packaging/build-deb.sh" "$out"
fi
deb=$out/imwatch_${version}_${arch}.deb
changes=$out/imwatch_${version}_${arch}.changes
buildlog=$out/imwatch_${version}_${arch}.build
for f in "$deb" "$changes"; do [ -f "$f" ] || die "missing $f"; done

# --- 2. static checks ------------------------------------------------------------
step "lintian --pedantic"
rc=0
lintian --pedantic --display-info --fail-on error,warning "$changes" >"$work/lintian.log" 2>&1 || rc=$?
grep -v 'running with root privileges' "$work/lintian.log" || true
[ "$rc" = 0 ] || die "lintian reports errors or warnings (status $rc)"
if [ -f "$buildlog" ]; then
  step "blhc --bindnow"
  blhc --bindnow "$buildlog" || die "blhc: hardening flags missing in the build log"
fi
step "systemd-analyze security --offline (exposure <= 2.0)"
systemd-analyze security --offline=true --threshold=20 --no-pager \
  "$top/packaging/debian/imwatch.service" >"$work/security.log" 2>&1 ||
  { cat "$work/security.log"; die "imwatch.service is exposed more than 2.0"; }
tail -n 1 "$work/security.log"

# --- 3. base tarball (cached) -------------------------------------------------------
include=systemd,dbus
key=$(printf '%s %s %s minbase %s\n' "$suite" "$mirror" "$arch" "$include" | sha256sum | cut -c1-12)
tarball=$cache/$suite-minbase-systemd-$key.tar.gz
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  step "debootstrap $suite minbase + systemd (cached for later runs)"
  (
    flock 9
    if [ ! -s "$tarball" ]; then
      debootstrap --variant=minbase --include="$include" "$suite" "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
      tar -C "$work/base" -czf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
      rm -rf --one-file-system "$work/base"
    fi
  ) 9>"$cache/.lock" || die "debootstrap failed (mirror $mirror)"
fi
note "base tarball: $tarball ($(du -h "$tarball" | cut -f1))"

# --- 4. piuparts ---------------------------------------------------------------------
step "piuparts (install, remove, purge)"
piuparts --basetgz="$tarball" --distribution="$suite" --mirror="$mirror main" \
  --tmpdir="$work" --log-file="$work/piuparts.log" "$deb" >/dev/null 2>&1 ||
  { tail -n 40 "$work/piuparts.log" >&2; die "piuparts failed, log above"; }
grep -E '^[0-9:]+ [0-9]+s INFO: PASS' "$work/piuparts.log" | tail -n 1 || true

# --- 5. a private XMPP server on the host's loopback ---------------------------------
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
agent_pw=agent-$RANDOM$RANDOM
admin_pw=admin-$RANDOM$RANDOM
if [ "$use_xmpp" = 1 ]; then
  step "prosody on 127.0.0.1 with throwaway certificates"
  p=$work/prosody
  mkdir -p "$p/data"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=imwatch-test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$p/ca.key" -out "$p/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$domain" -keyout "$p/server.key" -out "$p/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:*.%s,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    "$domain" "$domain" >"$p/server.ext"
  openssl x509 -req -in "$p/server.csr" -CA "$p/ca.pem" -CAkey "$p/ca.key" -CAcreateserial -days 2 \
    -extfile "$p/server.ext" -out "$p/server.pem" 2>/dev/null
  c2s_port=$(free_port)
  component_port=$(free_port)
  cat >"$p/prosody.cfg.lua" <<EOF
-- Throwaway server for tests/package/run.sh.
run_as_root = true
pidfile = "$p/prosody.pid"
data_path = "$p/data"
log = { info = "$p/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $c2s_port }
component_ports = { $component_port }
http_ports = { }
https_ports = { }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "offline" }
modules_disabled = { "s2s" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
allow_registration = false
network_settings = { nagle = false }
certificates = "$p"
ssl = { key = "$p/server.key"; certificate = "$p/server.pem" }
VirtualHost "$domain"
EOF
  prosody --config "$p/prosody.cfg.lua" -F >"$p/stdout.log" 2>&1 &
  prosody_pid=$!
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$c2s_port") 2>/dev/null && break
    kill -0 "$prosody_pid" 2>/dev/null || die "prosody exited: $(cat "$p/stdout.log")"
    sleep 0.1
  done
  [ "$i" -lt 100 ] || die "prosody does not listen on 127.0.0.1:$c2s_port"
  prosodyctl --config "$p/prosody.cfg.lua" register agent "$domain" "$agent_pw"
  prosodyctl --config "$p/prosody.cfg.lua" register admin "$domain" "$admin_pw"
  note "prosody (PID $prosody_pid) on 127.0.0.1:$c2s_port"
fi

# --- 6. boot bookworm in a container ------------------------------------------------
step "boot $suite with systemd in systemd-nspawn"
root=$work/root
mkdir "$root"
tar -C "$root" -xzf "$tarball"
systemd-nspawn --quiet --register=no --keep-unit --boot --directory="$root" \
  --machine=imwatch-pkgtest --console=read-only >"$work/container.log" 2>&1 </dev/null &
nspawn_pid=$!
# The container's init is systemd-nspawn's child.
for ((i = 0; i < 100; i++)); do
  kill -0 "$nspawn_pid" 2>/dev/null || die "systemd-nspawn exited"
  container_pid=$(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null | awk '{ print $1 }')
  [ -n "$container_pid" ] && [[ $(readlink "/proc/$container_pid/exe" 2>/dev/null) == */systemd ]] && break
  container_pid=
  sleep 0.1
done
[ -n "$container_pid" ] || die "the container's init did not start"

# Runs a command inside the booted container.
cexec() {
  nsenter --target="$container_pid" --mount --uts --ipc --net --pid --root --wd=/ -- \
    /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
for ((i = 0; i < 120; i++)); do
  state=$(cexec systemctl is-system-running 2>/dev/null || true)
  case $state in running | degraded) break ;; esac
  sleep 0.5
done
case $state in
  running) ;;
  degraded) note "container is degraded:"; cexec systemctl --failed --no-legend --no-pager || true ;;
  *) die "container did not finish booting (state '$state')" ;;
esac

# --- 7. install -----------------------------------------------------------------------
step "install with apt in the container"
mkdir -p "$root/var/tmp/pkgtest"
cp "$deb" "$root/var/tmp/pkgtest/"
chmod -R a+rX "$root/var/tmp/pkgtest"
cexec apt-get update -q >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; die "apt-get update failed in the container"; }
# On a clean bookworm, "apt-get build-dep ./packaging" finds every build
# dependency (simulated: nothing is installed).
mkdir -p "$root/var/tmp/pkgtest/packaging"
cp -r "$top/packaging/debian" "$root/var/tmp/pkgtest/packaging/"
cexec apt-get build-dep -s -q /var/tmp/pkgtest/packaging >>"$work/apt.log" 2>&1 ||
  { tail -n 30 "$work/apt.log"; die "apt-get build-dep ./packaging does not resolve on a clean $suite"; }
cexec apt-get install -y -q --no-install-recommends "/var/tmp/pkgtest/$(basename "$deb")" >>"$work/apt.log" 2>&1 ||
  { tail -n 30 "$work/apt.log"; die "apt-get install failed in the container"; }

# The plugins of the [check.NAME] sections (the package suggests them), from
# Debian's archive like the package's own dependencies.
cexec apt-get install -y -q --no-install-recommends monitoring-plugins-basic monitoring-plugins-systemd \
  >>"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; die "installing the monitoring plugins failed"; }
cexec systemctl start dbus.service || die "the system bus does not start in the container"

step "check the installed package"
uid=$(cexec id -u imwatch) || die "no user imwatch"
[ "$(cexec id -gn imwatch)" = imwatch ] || die "user imwatch's group is not imwatch"
perms=$(cexec stat -c '%a %U:%G' /etc/imwatch/imwatch.conf)
[ "$perms" = "640 root:imwatch" ] || die "/etc/imwatch/imwatch.conf is '$perms', want '640 root:imwatch'"
[ "$(cexec systemctl is-enabled imwatch.service)" = enabled ] || die "imwatch.service is not enabled"
cexec systemd-analyze verify --man=no /lib/systemd/system/imwatch.service || die "systemd-analyze verify imwatch.service"
cexec man -w imwatch >/dev/null 2>&1 || note "(man-db not in the container: man pages not checked here)"

# --- 8. configure and start -----------------------------------------------------------
step "configure a firing rule, start the service"
conf=$root/etc/imwatch/imwatch.conf
write_conf() {  # truncating keeps the file's owner and mode, like an editor
  {
    echo "# written by tests/package/run.sh"
    echo "[probe.loadavg]"
    echo "interval = 1s"
    # Two tmpfs mounts made for the test (tmpfs is watched only when named):
    # /srv/pkgdata, remounted read-only while the agent runs, and /home,
    # which the unit must not hide (ProtectHome=read-only).
    echo "[probe.filesystem]"
    echo "interval = 1s"
    echo "include_types = tmpfs"
    echo "[alert]"
    echo "rule = $rule: load1 >= 0"
    echo "rule = pkgtest_ro: fs_remounted_ro > 0"
    # Under the hardened unit: check_procs must see root's journald,
    # check_systemd must read a unit's state over the system bus.
    echo "[check.procs]"
    echo "command = /usr/lib/nagios/plugins/check_procs -C systemd-journal -c 1:"
    echo "interval = 2s"
    echo "[check.units]"
    echo "command = /usr/lib/nagios/plugins/check_systemd -u dbus.service -n"
    echo "interval = 2s"
    if [ "$use_xmpp" = 1 ]; then
      echo "[xmpp]"
      echo "jid = agent@$domain"
      echo "password = $agent_pw"
      echo "host = 127.0.0.1"
      echo "port = $c2s_port"
      echo "admin = admin@$domain"
      echo "ca_file = /etc/imwatch/test-ca.pem"
    fi
    cat
  } >"$conf"
}
if [ "$use_xmpp" = 1 ]; then
  install -m 0644 "$work/prosody/ca.pem" "$root/etc/imwatch/test-ca.pem"
fi
write_conf </dev/null
good_conf=$(cat "$conf")
cexec imwatch --check-config --config /etc/imwatch/imwatch.conf || die "the test configuration does not check"
admin() {  # LOG ARGS...: the admin client, in the background
  local log=$1
  shift
  /usr/bin/python3 "$here/xmpp_admin.py" --jid "admin@$domain" --password "$admin_pw" \
    --port "$c2s_port" --ca-file "$work/prosody/ca.pem" "$@" >"$log" 2>&1 &
  admin_pid=$!
}
wait_admin() {  # WHAT
  local rc=0
  wait "$admin_pid" || rc=$?
  admin_pid=
  [ "$rc" = 0 ] || die "$1"
}
if [ "$use_xmpp" = 1 ]; then
  admin "$work/admin-alert.log" --expect "$rule" --timeout 30 --ready-file "$work/admin.ready"
  for ((i = 0; i < 100; i++)); do [ -e "$work/admin.ready" ] && break; sleep 0.1; done
  [ -e "$work/admin.ready" ] || die "the admin client could not log in: $(cat "$work/admin-alert.log")"
fi
cexec mkdir -p /srv/pkgdata
cexec mount -t tmpfs -o size=4m pkgdata /srv/pkgdata || die "cannot mount a tmpfs in the container"
cexec mount -t tmpfs -o size=4m pkghome /home || die "cannot mount a tmpfs on /home in the container"
t_restart=$(cexec date +%s)
cexec systemctl restart imwatch.service || die "systemctl restart imwatch"
for ((i = 0; i < 50; i++)); do
  [ "$(cexec systemctl is-active imwatch.service)" = active ] && break
  sleep 0.2
done
sleep 1  # still running a second later, not just started
[ "$(cexec systemctl is-active imwatch.service)" = active ] ||
  { cexec journalctl -u imwatch --no-pager -n 30 >"$work/journal.log"; die "imwatch.service is not active"; }
main_pid=$(cexec systemctl show -p MainPID --value imwatch.service)
status=$(cexec cat "/proc/$main_pid/status")
field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$status"; }
[ "$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' <<<"$status")" = "$uid$uid$uid$uid" ] || die "MainPID $main_pid does not run as imwatch ($uid)"
[ "$(field CapEff)" = 0000000000000000 ] || die "CapEff is $(field CapEff), want 0"
[ "$(field CapBnd)" = 0000000000000000 ] || die "CapBnd is $(field CapBnd), want 0"
[ "$(field NoNewPrivs)" = 1 ] || die "NoNewPrivs is not set"
[ "$(field Seccomp)" = 2 ] || die "no seccomp filter"
note "MainPID $main_pid: uid $uid, CapEff 0, CapBnd 0, NoNewPrivs, seccomp"

step "the alert arrives"
if [ "$use_xmpp" = 1 ]; then
  wait_admin "the admin got no chat message containing '$rule' ($(tail -n 3 "$work/admin-alert.log"))"
  grep -m1 "$rule" "$work/admin-alert.log"
else
  for ((i = 0; i < 60; i++)); do
    cexec journalctl -u imwatch --since="@$t_restart" --no-pager -o cat >"$work/journal.log"
    grep -q "$rule" "$work/journal.log" && break
    sleep 0.5
  done
  grep -m1 "$rule" "$work/journal.log" || die "no alert for '$rule' in the journal"
fi

step "the local command reaches the service (RuntimeDirectory, SO_PEERCRED under PrivateUsers)"
[ "$(cexec stat -c '%a %U:%G' /run/imwatch)" = "750 imwatch:imwatch" ] ||
  die "/run/imwatch is $(cexec stat -c '%a %U:%G' /run/imwatch), want 750 imwatch:imwatch"
out=$(cexec /usr/sbin/imwatch ping 2>&1) || die "imwatch ping as root failed: $out"
[ "$out" = pong ] || die "imwatch ping answered '$out', want pong"
out=$(cexec /usr/sbin/imwatch mute 5m 2>&1) || die "imwatch mute 5m as root failed: $out"
note "imwatch ping: $(cexec /usr/sbin/imwatch ping); imwatch mute 5m: $out"
cexec /usr/sbin/imwatch unmute >/dev/null || die "imwatch unmute as root failed"
step "checks: check_procs sees root's processes, check_systemd reaches the bus"
for ((i = 0; i < 60; i++)); do
  cexec journalctl -u imwatch --since="@$t_restart" --no-pager -o cat >"$work/journal.log"
  grep -q "check procs: " "$work/journal.log" && grep -q "check units: " "$work/journal.log" && break
  sleep 0.5
done
grep -m1 "check procs: OK: PROCS OK: " "$work/journal.log" ||
  die "check_procs did not find systemd-journald from the unit: $(grep -m1 'check procs' "$work/journal.log")"
grep -m1 "check units: OK: " "$work/journal.log" ||
  die "check_systemd did not read dbus.service over the bus: $(grep -m1 'check units' "$work/journal.log")"
if [ "$use_xmpp" = 1 ]; then
  admin "$work/admin-checks.log" --send checks --to "agent@$domain" --expect "procs: OK" --timeout 20
  wait_admin "'checks' did not list procs as OK ($(tail -n 3 "$work/admin-checks.log"))"
  note "'checks' lists procs: OK"
fi

step "filesystems under the hardened unit: judged by the superblock, not the sandbox's read-only mounts"
# In the service's mount namespace ProtectSystem=strict makes every mount
# read-only; without that, this step proves nothing.
grep -q ' /srv/pkgdata ro,' <(cexec nsenter -t "$main_pid" -m cat /proc/self/mountinfo) ||
  die "/srv/pkgdata is not a read-only mount in the service's namespace: $(cexec nsenter -t "$main_pid" -m grep pkgdata /proc/self/mountinfo)"
disk_has() {  # WHAT: wait until `imwatch disk` (the service's view) shows WHAT
  for ((i = 0; i < 60; i++)); do
    out=$(cexec /usr/sbin/imwatch disk 2>&1) || true
    grep -q -- "$1" <<<"$out" && return 0
    sleep 0.5
  done
  return 1
}
disk_has /srv/pkgdata || die "imwatch disk does not list /srv/pkgdata: $out"
grep -q '^/home ' <<<"$out" || die "imwatch disk does not list /home (ProtectHome hides it?): $out"
grep -q -e '/srv/pkgdata is read-only' -e '/home is read-only' <<<"$out" &&
  die "imwatch disk calls a read-write filesystem read-only: $out"
note "imwatch disk, from the service: $(tr '\n' '|' <<<"$out")"
alert_has() {  # WANT(1|0) WHAT: wait until `imwatch alerts` does (1) or does not (0) show WHAT
  for ((i = 0; i < 60; i++)); do
    out=$(cexec /usr/sbin/imwatch alerts 2>&1) || true
    if grep -q -- "$2" <<<"$out"; then [ "$1" = 1 ] && return 0; else [ "$1" = 0 ] && return 0; fi
    sleep 0.5
  done
  return 1
}
cexec mount -o remount,ro /srv/pkgdata || die "cannot remount /srv/pkgdata read-only"
alert_has 1 "/srv/pkgdata" || die "no pkgtest_ro alert for /srv/pkgdata after its remount read-only: $out"
disk_has "/srv/pkgdata is read-only" || die "imwatch disk does not call /srv/pkgdata read-only: $out"
note "remounted read-only: $(cexec /usr/sbin/imwatch alerts | tr '\n' '|')"
cexec mount -o remount,rw /srv/pkgdata || die "cannot remount /srv/pkgdata read-write"
alert_has 0 "/srv/pkgdata" || die "the pkgtest_ro alert did not resolve after the remount read-write: $out"
note "read-write again: the alert resolved"

# --- 9. reload with a bad configuration -----------------------------------------------
step "reload with a bad configuration"
write_conf <<<"no_such_option = 1"
bad_line=$(grep -n '^no_such_option' "$conf" | cut -d: -f1)
t_reload=$(cexec date +%s)
cexec systemctl reload imwatch.service || die "systemctl reload imwatch failed"
# The agent logs config errors as file:line; warning or above, so the
# journal priority markers work too.
for ((i = 0; i < 50; i++)); do
  cexec journalctl -u imwatch --since="@$t_reload" -p warning --no-pager -o cat >"$work/journal.log"
  grep -q "imwatch.conf:$bad_line" "$work/journal.log" && break
  sleep 0.2
done
grep -m1 "imwatch.conf:$bad_line" "$work/journal.log" ||
  die "no 'imwatch.conf:$bad_line' error at priority warning or above in the journal after the reload"
sleep 1
[ "$(cexec systemctl is-active imwatch.service)" = active ] || die "the service stopped after a bad reload"
[ "$(cexec systemctl show -p MainPID --value imwatch.service)" = "$main_pid" ] || die "MainPID changed after a bad reload"
if [ "$use_xmpp" = 1 ]; then
  # The old configuration is still in force: its rule is listed.
  admin "$work/admin-rules.log" --send rules --to "agent@$domain" --expect "$rule" --timeout 20
  wait_admin "the 'rules' command did not list '$rule' after the bad reload ($(tail -n 3 "$work/admin-rules.log"))"
  note "'rules' still lists $rule"
fi
printf '%s\n' "$good_conf" >"$conf"

# --- 10. reinstall: the admin's edits and the permissions stay ----------------------
step "reinstall keeps the configuration"
cexec dpkg -i "/var/tmp/pkgtest/$(basename "$deb")" >>"$work/apt.log" 2>&1 </dev/null ||
  { tail -n 30 "$work/apt.log"; die "reinstall failed"; }
[ "$(cat "$conf")" = "$good_conf" ] || die "reinstall changed /etc/imwatch/imwatch.conf"
perms=$(cexec stat -c '%a %U:%G' /etc/imwatch/imwatch.conf)
[ "$perms" = "640 root:imwatch" ] || die "after reinstall /etc/imwatch/imwatch.conf is '$perms'"
for ((i = 0; i < 50; i++)); do
  [ "$(cexec systemctl is-active imwatch.service)" = active ] && break
  sleep 0.2
done
[ "$(cexec systemctl is-active imwatch.service)" = active ] || die "imwatch.service is not active after reinstall"

# --- 11. purge ------------------------------------------------------------------------------
step "purge"
cexec apt-get purge -y -q imwatch >>"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; die "purge failed"; }
for d in /etc/imwatch /var/lib/imwatch; do
  [ ! -e "$root$d" ] || die "$d is still there after purge"
done
[ -z "$(cexec pgrep -u imwatch || true)" ] || die "imwatch processes are left after purge"
cexec systemctl cat imwatch.service >/dev/null 2>&1 && die "imwatch.service is still known after purge"

step "shut the container down"
stop_pid "$nspawn_pid" 30
wait "$nspawn_pid" 2>/dev/null || true
nspawn_pid=
container_pid=
step_done
