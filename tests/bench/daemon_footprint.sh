#!/usr/bin/env bash
# The agent's CPU and memory over a window at a 1 s poll interval, with the
# shipped default rules, on this machine's /proc. Not a test: a measurement.
# Usage: tests/bench/daemon_footprint.sh [SECONDS] [BINARY]   (default 60, build/agent/imwatch)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
bin=${2:-build/agent/imwatch}
work=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

{
  echo "state-dir = $work/state"
  echo "log-level = warn"
  for p in loadavg meminfo vmstat pressure; do printf '[probe.%s]\ninterval = 1s\n' "$p"; done
  sed -n '/^\[alert\]/,/^\[xmpp\]/p' packaging/imwatch.conf | grep -v '^\[xmpp\]'
} > "$work/imwatch.conf"

"$bin" --config "$work/imwatch.conf" 2>"$work/log" &
pid=$!
sleep 2  # past start-up
ticks=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
sleep "$secs"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
cpu_s=$(echo "scale=3; ($u1 + $s1 - $u0 - $s0) / $ticks" | bc)
pct=$(echo "scale=4; 100 * $cpu_s / $secs" | bc)
echo "imwatch over ${secs} s at 1 s interval: CPU ${cpu_s} s (${pct}% of a core), RSS ${rss} kB (peak ${hwm} kB)"
