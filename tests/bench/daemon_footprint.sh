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
# Waits for the agent: at stop it still writes its state and history.
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; } || true
  rm -rf "$work"
}
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
# schedstat's first field is nanoseconds on CPU: utime/stime tick in 10 ms
# steps, too coarse for a process this quiet.
read -r c0 _ < "/proc/$pid/schedstat"
sleep "$secs"
read -r c1 _ < "/proc/$pid/schedstat"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
awk -v c="$((c1 - c0))" -v s="$secs" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "imwatch over %d s at a 1 s interval: CPU %.4f s (%.4f%% of a core, %.0f us per second), RSS %d kB (peak %d kB)\n",
    s, c / 1e9, 100 * c / 1e9 / s, c / 1e3 / s, rss, hwm }'
