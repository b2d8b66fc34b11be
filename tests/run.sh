#!/usr/bin/env bash
# The whole test suite, as CI runs it: a normal build and its tests, then the
# same tests built with AddressSanitizer + UndefinedBehaviorSanitizer.
# Assumes packaging/install-deps.sh has run. Usage: tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

build_and_test() {  # DIR CMAKE-ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 300)
}

echo "== tests (RelWithDebInfo)"
build_and_test build

echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build_and_test build-asan -DIMWATCH_SANITIZE=ON -DIMWATCH_BUILD_BENCHMARKS=OFF
