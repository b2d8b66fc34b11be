#!/usr/bin/env bash
# Fault injection (tests/fault/fault_inject.cpp): prosody and the agent killed
# and restarted, the link stalled and dropped, the state dir read-only and
# full (root), /proc files broken; fails on any lost or duplicated
# notification. Builds nothing: build the `fault_inject` target first.
# Usage: tests/fault/run.sh [--short|--long] [--seed N] [--keep]
#   --short (default): 5 kills each, well under 4 minutes; CI runs this
#   --long: 20 kills each, 10-20 minutes, by hand
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${IMWATCH_BUILD_DIR:-build}/tests/fault/fault_inject
if [ ! -x "$bin" ]; then
  echo "$bin not built (cmake --build build --target fault_inject imwatch)" >&2
  exit 2
fi
mode=--short
case "${1:-}" in
  --short|--long) mode=$1; shift ;;
esac
exec "$bin" "$mode" "$@"
