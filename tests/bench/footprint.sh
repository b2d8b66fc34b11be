#!/usr/bin/env bash
# CPU and memory of imwatch next to monit, collectd and a floor, in one run
# on this machine, over the same window, all polling every second with
# equivalent load/memory/CPU/swap rules, and the same filesystems with
# space and inode rules (the mounts imwatch's filesystem probe selects on
# this machine, listed in the output). Not a test: a measurement.
#
# Usage: tests/bench/footprint.sh [SECONDS]     (default 60)
#        FOOTPRINT_IMWATCH=path/to/imwatch tests/bench/footprint.sh ...  (another build, for before/after)
#
# Builds no part of the project: it needs build/agent/imwatch and
# build/tests/footprint_server (cmake --build build --target imwatch
# footprint_server; the latter is built with the benchmarks), and monit and
# collectd from Debian (packaging/install-deps.sh footprint). Only the floor,
# tests/bench/floor_loop.c, is compiled here, with cc, into the temp dir.
#
#   imwatch   the shipped default rules (packaging/imwatch.conf), every probe
#             at 1 s (the filesystem probe too), connected over TLS to a
#             private prosody on loopback (footprint_server: throwaway CA,
#             password in a 0600 file that the config names; never on a
#             command line)
#   monit     `monit -I -c FILE`: `set daemon 1`, one `check system` with
#             load/memory/swap/cpu(wait) tests and one `check filesystem`
#             per mount with space and inode tests; no HTTP interface, no mail
#   collectd  `collectd -f -C FILE`: load, memory, cpu, vmem, df (the same
#             mounts, bytes and inodes) + threshold (same limits as imwatch's
#             rules), logfile; no network or write plugin
#   floor     tests/bench/floor_loop.c: preads the 4 files and
#             /proc/self/mountinfo each second and statfs()es each mount
#
# All four start together; after FOOTPRINT_SETTLE seconds (default 5) the
# window opens. CPU is the sum over all threads of /proc/PID/task/*/schedstat
# (nanoseconds on CPU; utime ticks are too coarse for processes this quiet);
# RSS is VmRSS at the end of the window, peak is VmHWM. imwatch must be
# connected for the whole window (its socket to prosody ESTABLISHED at both
# ends of the window, no disconnect in its log) or the run fails. Every child
# is stopped by its PID on exit, also on failure or Ctrl-C; the temp dir goes.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
settle=${FOOTPRINT_SETTLE:-5}
bin=${FOOTPRINT_IMWATCH:-build/agent/imwatch}
server_bin=build/tests/footprint_server
[[ $secs =~ ^[0-9]+$ && $secs -ge 5 ]] || { echo "footprint.sh: SECONDS must be a number >= 5" >&2; exit 2; }
for f in "$bin" "$server_bin"; do
  [ -x "$f" ] || { echo "footprint.sh: $f missing; cmake --build build --target imwatch footprint_server" >&2; exit 2; }
done
for c in monit collectd cc; do
  command -v "$c" >/dev/null || { echo "footprint.sh: $c not found (packaging/install-deps.sh footprint)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/imwatch-footprint-XXXXXX)
declare -A pid=()
order=(imwatch monit collectd floor server)
sleeper=""
# A sleep that a signal interrupts: bash runs traps only between commands,
# and the window's sleep is long.
pause() {
  sleep "$1" &
  sleeper=$!
  wait "$sleeper"
  sleeper=""
}
cleanup() {
  local rc=$? name p i
  trap - EXIT INT TERM
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  for name in "${order[@]}"; do
    p=${pid[$name]:-}
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  for name in "${order[@]}"; do
    p=${pid[$name]:-}
    [ -n "$p" ] || continue
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  exec 7>&- 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "footprint.sh: $*" >&2; exit 1; }

cc -O2 -Wall -o "$work/floor_loop" tests/bench/floor_loop.c

# The server lives until its stdin (a FIFO we hold open) closes or it gets
# SIGTERM; it stops prosody by PID on the way out.
mkfifo "$work/server.in"
exec 7<>"$work/server.in"
"$server_bin" "$work" $((secs + settle + 600)) <"$work/server.in" >"$work/server.out" 2>"$work/server.log" &
pid[server]=$!
for ((i = 0; i < 120; i++)); do
  grep -q '^ready' "$work/server.out" 2>/dev/null && break
  kill -0 "${pid[server]}" 2>/dev/null || fail "footprint_server failed: $(tail -5 "$work/server.log")"
  sleep 0.25
done
read -r _ prosody_pid port <"$work/server.out" || fail "footprint_server never got ready"

# --- the mounts: those imwatch's filesystem probe watches here -------------
# From its own --once, so all four do the same statfs calls. A mount point
# the kernel escapes (a space is \040) cannot be written into monit's or
# collectd's config as is: left out of theirs and the floor's, and said.
printf 'state-dir = %s\n' "$work/once-state" >"$work/once.conf"
mapfile -t mounts < <("$bin" --once --format json --config "$work/once.conf" 2>/dev/null |
  grep -o '"fs_used_pct{[^}]*}"' | sed 's/^"fs_used_pct{//; s/}"$//')
plain=()
for m in "${mounts[@]}"; do
  if [[ $m == *\\* || $m == *'"'* ]]; then
    echo "footprint.sh: $m left out of monit's, collectd's and the floor's work"
  else
    plain+=("$m")
  fi
done

# --- configs ---------------------------------------------------------------
{
  echo "state-dir = $work/imwatch-state"
  echo "log-level = info"  # only events are logged: start, connect, disconnect
  for p in loadavg meminfo vmstat pressure filesystem; do printf '[probe.%s]\ninterval = 1s\n' "$p"; done
  sed -n '/^\[alert\]/,/^\[xmpp\]/p' packaging/imwatch.conf | grep -v '^\[xmpp\]'
  cat "$work/xmpp.conf"
} >"$work/imwatch.conf"

# monit caps `for N cycles` at 64: the 2 and 5 minute delays of imwatch's
# rules become 60 cycles (60 s). Swap: monit has usage, not a swap-in rate.
cat >"$work/monitrc" <<EOF
set daemon 1
set logfile $work/monit.log
set pidfile $work/monit.pid
set idfile $work/monit.id
set statefile $work/monit.state
check system footprint
  if loadavg (5min) per core > 1.5 for 60 cycles then alert
  if memory usage > 90 % for 60 cycles then alert
  if swap usage > 50 % for 60 cycles then alert
  if cpu usage (wait) > 30 % for 60 cycles then alert
EOF
for i in "${!plain[@]}"; do
  cat >>"$work/monitrc" <<EOF
check filesystem fs$i with path "${plain[$i]}"
  if space usage > 90 % for 60 cycles then alert
  if inode usage > 90 % for 60 cycles then alert
EOF
done
chmod 600 "$work/monitrc"  # monit refuses a control file others can read

# Hits = samples in a row, i.e. imwatch's `for` at 1 s. Swap-in: 1000 kB/s
# is 250 pages/s of 4 KiB.
mkdir -p "$work/collectd"
cat >"$work/collectd.conf" <<EOF
Hostname "footprint"
FQDNLookup false
BaseDir "$work/collectd"
PIDFile "$work/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$work/collectd.log"
  Timestamp true
</Plugin>
LoadPlugin load
LoadPlugin memory
LoadPlugin cpu
LoadPlugin vmem
LoadPlugin df
LoadPlugin threshold
<Plugin df>
$(for m in "${plain[@]}"; do printf '  MountPoint "%s"\n' "$m"; done)
  IgnoreSelected false
  ReportInodes true
  ValuesPercentage true
  ValuesAbsolute false
</Plugin>
<Plugin load>
  ReportRelative true
</Plugin>
<Plugin memory>
  ValuesPercentage true
</Plugin>
<Plugin cpu>
  ReportByCpu false
  ValuesPercentage true
</Plugin>
<Plugin threshold>
  <Plugin "load">
    <Type "load">
      DataSource "midterm"
      WarningMax 1.5
      FailureMax 3
      Hits 300
    </Type>
  </Plugin>
  <Plugin "memory">
    <Type "percent">
      Instance "used"
      WarningMax 90
      FailureMax 97
      Hits 120
    </Type>
  </Plugin>
  <Plugin "cpu">
    <Type "percent">
      Instance "wait"
      WarningMax 30
      FailureMax 60
      Hits 300
    </Type>
  </Plugin>
  <Plugin "df">
    <Type "percent_bytes">
      Instance "used"
      WarningMax 90
      FailureMax 95
      Hits 300
    </Type>
    <Type "percent_inodes">
      Instance "used"
      WarningMax 90
      FailureMax 95
      Hits 300
    </Type>
  </Plugin>
  <Plugin "vmem">
    <Type "vmpage_io">
      Instance "swap"
      DataSource "in"
      WarningMax 250
      FailureMax 2500
      Hits 120
    </Type>
  </Plugin>
</Plugin>
EOF

# --- start all four at once -------------------------------------------------
load_before=$(cat /proc/loadavg)
"$bin" --config "$work/imwatch.conf" >"$work/imwatch.log" 2>&1 &
pid[imwatch]=$!
monit -I -c "$work/monitrc" >"$work/monit.out" 2>&1 &
pid[monit]=$!
collectd -f -C "$work/collectd.conf" -P "$work/collectd.pid" >"$work/collectd.out" 2>&1 &
pid[collectd]=$!
"$work/floor_loop" $((secs + settle + 600)) "${plain[@]}" >"$work/floor.out" 2>&1 &
pid[floor]=$!

# imwatch's sockets that are ESTABLISHED to prosody's port (/proc/net/tcp).
connected() {
  local p=${pid[imwatch]} inodes hexport
  inodes=$(find "/proc/$p/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n')
  [ -n "$inodes" ] || return 1
  hexport=$(printf '%04X' "$port")
  awk -v port="$hexport" -v list="$inodes" 'BEGIN { n = split(list, a, "\n"); for (i = 1; i <= n; i++) if (a[i] != "") want[a[i]] = 1 }
    NR > 1 { split($3, r, ":"); if (r[2] == port && $4 == "01" && ($10 in want)) found = 1 }
    END { exit !found }' /proc/net/tcp
}

for ((i = 0; i < 4 * 30; i++)); do
  grep -q 'xmpp: connected' "$work/imwatch.log" && break
  kill -0 "${pid[imwatch]}" 2>/dev/null || fail "imwatch exited: $(tail -5 "$work/imwatch.log")"
  sleep 0.25
done
grep -q 'xmpp: connected' "$work/imwatch.log" || fail "imwatch did not connect within 30 s: $(tail -5 "$work/imwatch.log")"
pause "$settle"
for name in imwatch monit collectd floor; do
  kill -0 "${pid[$name]}" 2>/dev/null || fail "$name exited early; see its log: $(tail -5 "$work/$name".{log,out} 2>/dev/null)"
done
connected || fail "imwatch has no ESTABLISHED connection to prosody at the start of the window"

cpu_ns() {  # all threads: collectd reads in a pool of threads
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}
declare -A c0=() c1=() rss=() hwm=() pss=()
for name in imwatch monit collectd floor; do c0[$name]=$(cpu_ns "${pid[$name]}"); done
t0=$(date +%s.%N)
pause "$secs"
for name in imwatch monit collectd floor; do c1[$name]=$(cpu_ns "${pid[$name]}"); done
t1=$(date +%s.%N)
for name in imwatch monit collectd floor; do
  kill -0 "${pid[$name]}" 2>/dev/null || fail "$name exited during the window"
  rss[$name]=$(awk '/^VmRSS/ { print $2 }' "/proc/${pid[$name]}/status")
  hwm[$name]=$(awk '/^VmHWM/ { print $2 }' "/proc/${pid[$name]}/status")
  pss[$name]=$(awk '/^Pss:/ { print $2 }' "/proc/${pid[$name]}/smaps_rollup")
done
# Where imwatch's RSS is, by mapping: kB resident, and of it private dirty
# (written: heap, stack, relocated data; the rest is clean file pages that
# the page cache shares with every process mapping the same file).
breakdown=$(awk -v exe="$(readlink -f "$bin")" '
  function group(path) {
    if (path == exe) return "the imwatch binary (text, data)"
    if (path ~ /\/(libc|ld-linux-x86-64)\.so/) return "libc, ld.so"
    if (path ~ /\/lib(gnutls|p11-kit|gmp|nettle|hogweed|tasn1|unistring|idn2|ffi)\.so/) return "GnuTLS and the libraries under it"
    if (path ~ /\/lib(idn|z)\.so/) return "libidn, libz (for gloox)"
    if (path ~ /\/lib(stdc\+\+|gcc_s|m|gloox|boost_[a-z_]*|spdlog|fmt)\.so/) return "C++ libraries, libm (shared)"
    if (path == "[heap]") return "heap (malloc)"
    if (path == "[stack]") return "stack"
    if (path == "") return "other anonymous"
    if (path ~ /^\[v/) return "vdso"
    return "other: " path
  }
  /^[0-9a-f]+-[0-9a-f]+ / { g = group($6) }
  /^Rss:/ { rss[g] += $2 }
  /^Private_Dirty:/ { dirty[g] += $2 }
  END { for (k in rss) if (rss[k] > 0) printf "| %-36s | %6d | %6d |\n", k, rss[k], dirty[k] }' "/proc/${pid[imwatch]}/smaps" | sort -t'|' -k3 -rn)
connected || fail "imwatch has no ESTABLISHED connection to prosody at the end of the window"
if grep -Eq 'xmpp: (link lost|cannot connect)|retrying' "$work/imwatch.log"; then
  fail "imwatch lost its XMPP link during the run: $(grep -E 'xmpp:' "$work/imwatch.log" | tail -3)"
fi
load_after=$(cat /proc/loadavg)
rollup=$(awk '/^(Anonymous|Rss|Pss):/ { printf "%s %s kB  ", $1, $2 }' "/proc/${pid[imwatch]}/smaps_rollup")

window=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "footprint over ${window} s at a 1 s poll interval (after ${settle} s to settle); $(nproc) CPUs"
echo "load average before: $load_before"
echo "load average after:  $load_after"
echo "imwatch connected over TLS to prosody $prosody_pid on 127.0.0.1:$port for the whole window"
echo "filesystems watched by all four, each second: ${plain[*]:-(none: the probe selected no mount here)}"
echo
printf '| %-8s | %8s | %10s | %10s | %6s | %8s | %6s | %9s | %9s |\n' tool "CPU s" "% of core" "µs/poll" "RSS MB" "peak MB" "PSS MB" "CPU×floor" "RSS×floor"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------- ---------: -----------: -----------: -------: ---------: -------: ----------: ----------:
fcpu=$((c1[floor] - c0[floor]))
for name in imwatch monit collectd floor; do
  awk -v n="$name" -v c="$((c1[$name] - c0[$name]))" -v w="$window" -v r="${rss[$name]}" -v h="${hwm[$name]}" \
      -v p="${pss[$name]}" -v fc="$fcpu" -v fr="${rss[floor]}" 'BEGIN {
    polls = int(w + 0.5)  # one poll round per second
    printf "| %-8s | %8.4f | %9.4f%% | %10.0f | %6.1f | %8.1f | %6.1f | %8.2f× | %8.1f× |\n",
      n, c / 1e9, 100 * c / 1e9 / w, c / 1e3 / polls, r / 1024, h / 1024, p / 1024, (fc > 0 ? c / fc : 0), r / fr }'
done
echo
echo "imwatch smaps_rollup: $rollup"
echo
echo "imwatch's RSS by mapping (kB):"
echo "| mapping | RSS | private dirty |"
echo "|---|---:|---:|"
echo "$breakdown"

# The goals of the evidence issue, as verdicts (the run itself succeeded).
awk -v i="$((c1[imwatch] - c0[imwatch]))" -v m="$((c1[monit] - c0[monit]))" -v c="$((c1[collectd] - c0[collectd]))" \
    -v f="$fcpu" -v r="${rss[imwatch]}" 'BEGIN {
  printf "goal: CPU below monit and collectd: %s; within 2x of the floor: %s (%.2fx); RSS under 6 MB connected: %s (%.1f MB)\n",
    (i < m && i < c) ? "yes" : "NO", (i <= 2 * f) ? "yes" : "NO", (f > 0 ? i / f : 0), (r < 6 * 1024) ? "yes" : "NO", r / 1024 }'
