#!/bin/bash
# The agent binary under valgrind memcheck through the XMPP integration flow
# (tests/soak/valgrind_flow.cpp: a real prosody on 127.0.0.1, an alert that
# fires, escalates and resolves, every chat command, a stranger, SIGHUP (one
# changing the resource, so the client is rebuilt), a
# prosody restart with an alert in the outbox, SIGTERM).
#
# Fails (exit 1) on any memcheck error, any definitely or indirectly lost
# block, or any failed step of the flow. "Possibly lost" and "still
# reachable" blocks are reported but do not fail the run: the agent exits
# through main() on SIGTERM, so what is still reachable then is one-time
# library state (GnuTLS, gloox, spdlog), not growth.
#
# Suppressions: tests/soak/valgrind.supp, each entry with its reason; only
# third-party, one-time allocations belong there.
#
#   tests/soak/valgrind_flow.sh          # about 1-2 minutes on 2 cores
#
# IMWATCH_VALGRIND_KEEP=1 keeps the memcheck log; IMWATCH_FLOW_TIMEOUT_SCALE
# (default 3) stretches the flow's waits for a slow machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${IMWATCH_BUILD_DIR:-$ROOT/build}
DRIVER=$BUILD/tests/soak/valgrind_flow
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
[[ -x $DRIVER && -x $BUILD/agent/imwatch ]] ||
  { echo "build first: cmake --build $BUILD --target valgrind_flow imwatch" >&2; exit 2; }

LOGDIR=$(mktemp -d /tmp/imwatch-memcheck-XXXXXX)
cleanup() { [[ ${IMWATCH_VALGRIND_KEEP:-0} == 1 ]] && echo "memcheck logs kept in $LOGDIR" || rm -rf "$LOGDIR"; }
trap cleanup EXIT

export IMWATCH_FLOW_TIMEOUT_SCALE=${IMWATCH_FLOW_TIMEOUT_SCALE:-3}
# No spaces in any word: the driver splits IMWATCH_WRAPPER at spaces.
export IMWATCH_WRAPPER="/usr/bin/valgrind --tool=memcheck --leak-check=full
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --error-exitcode=99
  --num-callers=30 --gen-suppressions=all --suppressions=$ROOT/tests/soak/valgrind.supp
  --log-file=$LOGDIR/memcheck.%p.log"

start=$(date +%s)
status=0
# The driver bounds every step; this is the bound on the whole.
timeout -k 10 600 "$DRIVER" || status=$?
log=$(ls "$LOGDIR"/memcheck.*.log 2>/dev/null | head -1 || true)
echo "--- memcheck ($(($(date +%s) - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ -z $log ]]; then
  echo "FAIL: no memcheck log (the agent never ran under valgrind)"
  exit 1
fi
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:' "$log" | sed 's/^==[0-9]*== */  /'
fail=0
grep -q 'ERROR SUMMARY: 0 errors' "$log" || { echo "FAIL: memcheck errors (see below)"; fail=1; }
# With --leak-check=full and no leak, memcheck prints "All heap blocks were
# freed" or a LEAK SUMMARY with zero definite and indirect bytes.
if grep -q 'LEAK SUMMARY' "$log"; then
  grep -qE 'definitely lost: 0 bytes' "$log" || { echo "FAIL: definitely lost blocks"; fail=1; }
  grep -qE 'indirectly lost: 0 bytes' "$log" || { echo "FAIL: indirectly lost blocks"; fail=1; }
fi
((status == 0)) || { echo "FAIL: the flow failed (driver exit $status; 99 from the agent means memcheck errors)"; fail=1; }
if ((fail)); then
  echo "--- $log"
  sed 's/^==[0-9]*== //' "$log" | tail -200
  echo "valgrind flow: FAIL"
  exit 1
fi
echo "valgrind flow: PASS"
