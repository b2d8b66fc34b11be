#!/usr/bin/env bash
# clang-tidy (Debian's clang-tidy 14) over the sources of agent/ and probes/,
# with the checks of .clang-tidy, two files at a time. Any finding fails:
# every check is a WarningsAsErrors one. Prints one line per finding
# (file:line:col, message, check), then the full diagnostics in the log.
#
# Nothing here can pass by skipping: a missing clang-tidy, a missing
# compilation database, an empty file list or a config that lost its checks
# is a failure, and a planted bug must be caught before the real run counts.
#
# Usage: tests/tidy.sh [BUILD-DIR]   (default build; run after cmake, which
# writes BUILD-DIR/compile_commands.json: CMAKE_EXPORT_COMPILE_COMMANDS)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build}
tidy=${CLANG_TIDY:-clang-tidy-14}

fail() { echo "tidy.sh: $*" >&2; exit 1; }

command -v "$tidy" >/dev/null || fail "$tidy not found (apt-get install clang-tidy)"
db=$build/compile_commands.json
[ -f "$db" ] || fail "$db missing: configure first (cmake -S . -B $build)"

# The sources the build compiles, from the compilation database: a file
# added to agent/ or probes/ is checked as soon as CMake builds it.
mapfile -t sources < <(/usr/bin/python3 - "$db" "$root" <<'EOF'
import json, sys
db, root = sys.argv[1], sys.argv[2]
files = {e["file"] for e in json.load(open(db))}
for f in sorted(files):
    if f.startswith(root + "/agent/") or f.startswith(root + "/probes/"):
        print(f[len(root) + 1:])
EOF
)
[ ${#sources[@]} -gt 0 ] || fail "no agent/ or probes/ source in $db"

# The config must still hold the checks that matter.
checks=$("$tidy" --list-checks agent/main.cpp 2>/dev/null)
for c in bugprone-use-after-move bugprone-dangling-handle readability-function-cognitive-complexity; do
  grep -qx "    $c" <<<"$checks" || fail ".clang-tidy does not enable $c"
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# A planted bug (use after move) must be reported, and must fail clang-tidy.
cat >"$logs/plant.cpp" <<'EOF'
#include <string>
#include <utility>
std::string planted(std::string s) {
  std::string t = std::move(s);
  return s + t;
}
EOF
if "$tidy" --quiet --config-file=.clang-tidy "$logs/plant.cpp" -- -std=c++20 >"$logs/plant.log" 2>&1 ||
  ! grep -q 'bugprone-use-after-move' "$logs/plant.log"; then
  cat "$logs/plant.log" >&2
  fail "clang-tidy did not catch the planted use-after-move"
fi

# spdlog is header-only in this build: every source would parse its whole
# implementation (the -inl.h files), library code whose diagnostics are
# filtered out anyway. Declaring the compiled library skips it, which halves
# the time; our own code is parsed exactly as the compiler sees it.
status=0
printf '%s\n' "${sources[@]}" |
  xargs -P2 -I{} sh -c '"$1" -p "$2" --quiet --extra-arg=-DSPDLOG_COMPILED_LIB "$3" >"$4/$(echo "$3" | tr / _).log" 2>&1' \
    _ "$tidy" "$build" {} "$logs" || status=$?

# One line per finding, paths relative to the repository, deduplicated (a
# header's finding is reported once per source that includes it).
cat "$logs"/*_*.log >"$logs/all.txt"
findings=$(grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$logs/all.txt" |
  sed -e "s|^$root/||" -e 's/,-warnings-as-errors\]$/]/' | sort -u || true)

if [ -n "$findings" ]; then
  echo "$findings"
  fail "$(grep -c . <<<"$findings") finding(s) in ${#sources[@]} files (details: $tidy -p $build FILE)"
fi
if [ "$status" -ne 0 ]; then
  # clang-tidy failed without a diagnostic line we recognise (a crash, a
  # bad command line): show everything it said.
  cat "$logs/all.txt"
  fail "clang-tidy failed (xargs exit $status)"
fi
echo "tidy.sh: ${#sources[@]} files, no finding"
