#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#  1. a normal build and its tests (unit, end-to-end, XMPP against real
#     prosody and ejabberd), clang-tidy (tests/tidy.sh);
#  1b. evidence, short versions: fault injection (tests/fault/run.sh
#      --short), the 1M-pass soak, memcheck through the XMPP flow, chat load
#      (tests/soak, tests/load), 20 agents in one room (tests/bench/fleet_bench.py
#      --short), and the footprint next to monit and collectd
#      (tests/bench/footprint.sh);
#  2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer;
#  3. the fuzz targets, replaying their corpora and regressions, then a short
#     bounded fuzzing run each (IMWATCH_FUZZ_SECONDS, default 30: 23
#     targets, two at a time on two cores, to keep the CI run under 45
#     minutes);
#  4. the Debian package on a real systemd in a container (needs root),
#     run while the fuzzers run: fuzzing lasts as long as it lasts whatever
#     else the machine does (fewer executions, not more time), so the
#     package's build, piuparts and container boot cost no wall time there.
#     Its output is kept apart and printed after the fuzz summary.
# Assumes `packaging/install-deps.sh package fuzz footprint` has run.
# Usage: tests/run.sh [--quick]   (--quick: stage 1 only)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
quick=""
[ "${1:-}" = "--quick" ] && quick=1

stage() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

build_and_test() {  # DIR CMAKE-ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 300)
}

stage "tests (RelWithDebInfo)"
build_and_test build
stage "clang-tidy (.clang-tidy) over agent/ and probes/: any finding fails"
tests/tidy.sh build

stage "the README's demos: agent, private prosody, admin client; three agents in a room (--fleet)"
packaging/demo.sh
packaging/demo.sh --fleet
[ -n "$quick" ] && exit 0

stage "fault injection (short): prosody and agent killed, link stalled and dropped, state dir read-only and full, broken /proc"
tests/fault/run.sh --short

stage "soak (1,000,000 passes on a fast clock), memcheck through the XMPP flow, chat load (short)"
build/tests/soak/soak
tests/soak/valgrind_flow.sh
build/tests/load/chat_load --short

stage "fleet: 20 real agents in one room on one prosody (a measurement: it fails only if they do not all join and answer)"
timeout 600 /usr/bin/python3 tests/bench/fleet_bench.py --short

stage "footprint next to monit, collectd and a C floor (a measurement: it fails only if a tool does not run or imwatch is not connected)"
tests/bench/footprint.sh 30

# -O1, as the sanitizers' own documentation advises: it compiles faster
# than -O2, and the tests mostly wait on servers and timers.
stage "tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build_and_test build-asan -DIMWATCH_SANITIZE=ON -DIMWATCH_BUILD_BENCHMARKS=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG"

stage "fuzz targets: build"
tests/fuzz/run.sh --build-only

package_pid=""
package_log=""
if [ "$(id -u)" -eq 0 ]; then
  package_log=$(mktemp /tmp/imwatch-package-XXXXXX.log)
  stage "Debian package on a real systemd (in the background, while the fuzzers run; log: $package_log)"
  tests/package/run.sh >"$package_log" 2>&1 &
  package_pid=$!
  trap '[ -z "$package_pid" ] || kill -TERM "$package_pid" 2>/dev/null || true' EXIT
fi

stage "fuzz targets: replay, then ${IMWATCH_FUZZ_SECONDS:-30} s each"
fuzz_rc=0
tests/fuzz/run.sh "${IMWATCH_FUZZ_SECONDS:-30}" || fuzz_rc=$?

stage "Debian package on a real systemd: its output"
package_rc=0
if [ -n "$package_pid" ]; then
  wait "$package_pid" || package_rc=$?
  package_pid=""
  cat "$package_log"
  rm -f "$package_log"
else
  echo "tests/package/run.sh needs root (debootstrap, systemd-nspawn, piuparts): not run"
fi
[ "$fuzz_rc" = 0 ] || { echo "== the fuzz stage failed (exit $fuzz_rc): see its summary above"; exit 1; }
[ "$package_rc" = 0 ] || { echo "== the package stage failed (exit $package_rc)"; exit 1; }
stage "all tests passed"
