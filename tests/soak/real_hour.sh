#!/bin/bash
# The real agent binary on the real /proc at a 1 s interval for SECONDS
# (default 3600), by hand: VmRSS and open descriptors of the agent sampled
# every minute (every SECONDS/20 s for runs under 20 minutes). Fails (exit 1)
# if, after warm-up (the first fifth of the run, at most 5 minutes), RSS ever
# exceeds the warm-up figure by more than IMWATCH_SOAK_RSS_TOLERANCE_KB
# (default 256) or the descriptor count changes; also if the agent dies, or
# does not exit 0 on SIGTERM.
#
# No XMPP: notifications go to the agent's stderr (the console notifier).
# Besides the default rules there is one that always fires and reminds every
# minute, so the notification path runs all the time. State goes to a temp
# dir, removed on exit (also on failure or Ctrl-C); the agent is stopped by
# its PID and dies with this script (setpriv --pdeathsig).
#
#   tests/soak/real_hour.sh          # the hour
#   tests/soak/real_hour.sh 120      # a 2-minute check
set -euo pipefail

SECONDS_TOTAL=${1:-3600}
TOL=${IMWATCH_SOAK_RSS_TOLERANCE_KB:-256}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${IMWATCH_BINARY:-$ROOT/build/agent/imwatch}
[[ $SECONDS_TOTAL =~ ^[0-9]+$ ]] && ((SECONDS_TOTAL >= 20)) || { echo "usage: $0 [SECONDS >= 20]" >&2; exit 2; }
[[ -x $BIN ]] || { echo "$BIN not built (cmake --build build --target imwatch)" >&2; exit 2; }

EVERY=60
((SECONDS_TOTAL < 1200)) && EVERY=$((SECONDS_TOTAL / 20))
WARMUP=$((SECONDS_TOTAL / 5))
((WARMUP > 300)) && WARMUP=300

DIR=$(mktemp -d /tmp/imwatch-real-soak-XXXXXX)
PID=
cleanup() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
  echo "state-dir = $DIR/state"
  echo "hostname = soak"
  for p in loadavg meminfo vmstat pressure; do printf '[probe.%s]\ninterval = 1s\n' "$p"; done
  echo "[alert]"
  grep '^rule = ' "$ROOT/packaging/imwatch.conf"
  echo "rule = always: load1 >= 0 repeat 1m"
} >"$DIR/imwatch.conf"

setpriv --pdeathsig KILL "$BIN" --config "$DIR/imwatch.conf" 2>"$DIR/agent.log" &
PID=$!
sleep 1
kill -0 "$PID" 2>/dev/null || { echo "the agent did not start:"; cat "$DIR/agent.log"; exit 1; }

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
fds() { ls "/proc/$PID/fd" | wc -l; }
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

echo "real soak: $BIN (pid $PID), 1 s interval, ${SECONDS_TOTAL}s, sample every ${EVERY}s, warm-up ${WARMUP}s," \
  "RSS tolerance ${TOL} kB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%8s %10s %5s %10s\n' elapsed "VmRSS kB" fds "CPU ticks"
start=$(date +%s)
base_rss= base_fds= max_rss=0 fail=0
for ((i = 1; i <= SECONDS_TOTAL / EVERY + 1; i++)); do
  now=$(($(date +%s) - start))
  ((now > SECONDS_TOTAL)) && break
  kill -0 "$PID" 2>/dev/null || { echo "FAIL: the agent died"; tail -20 "$DIR/agent.log"; exit 1; }
  r=$(rss) f=$(fds) c=$(cpu)
  printf '%8s %10s %5s %10s\n' "${now}s" "$r" "$f" "$c"
  if ((now >= WARMUP)); then
    if [[ -z $base_rss ]]; then base_rss=$r base_fds=$f; fi
    ((r > max_rss)) && max_rss=$r
    ((f != base_fds)) && { echo "FAIL: open descriptors $base_fds -> $f"; fail=1; }
  fi
  next=$((i * EVERY))
  left=$((next - ($(date +%s) - start)))
  ((left > 0)) && sleep "$left"
done

kill -TERM "$PID"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
status=0
wait "$PID" || status=$?
PID=
notes=$(grep -c 'notify:' "$DIR/agent.log" || true)
echo "after warm-up: VmRSS $base_rss kB, max $max_rss kB (growth $((max_rss - base_rss)) kB, tolerance $TOL kB);" \
  "fds $base_fds; $notes notification lines; exit status $status; load average $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n $base_rss ]] || { echo "FAIL: no sample after warm-up"; fail=1; }
((max_rss - base_rss > TOL)) && { echo "FAIL: RSS grew beyond the tolerance"; fail=1; }
((status == 0)) || { echo "FAIL: exit status $status on SIGTERM"; tail -20 "$DIR/agent.log"; fail=1; }
((notes > 0)) || { echo "FAIL: no notification at all"; fail=1; }
((fail == 0)) && echo "real soak: PASS" || echo "real soak: FAIL"
exit $fail
