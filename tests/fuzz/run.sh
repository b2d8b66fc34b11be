#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz into build-fuzz/ and runs them.
#
# For each target (build-fuzz/targets.txt, written by tests/fuzz/CMakeLists.txt):
#  1. replays every file of tests/fuzz/regressions/TARGET/ and
#     tests/fuzz/corpus/TARGET/ once, without fuzzing, so past crashes stay
#     fixed (a target whose replay fails is not fuzzed: fix that first);
#  2. fuzzes for SECONDS on a scratch copy of those files (new inputs never
#     touch the repo), with ASan + UBSan + LeakSanitizer, a 10 s hang limit
#     per input and a 2 GiB RSS limit;
#  3. prints the executions from libFuzzer's final stats. A crash, leak,
#     timeout, out-of-memory or sanitizer report is copied into
#     tests/fuzz/regressions/TARGET/ (commit it with the fix).
# Exits non-zero if anything failed. Installs nothing.
#
# Targets run side by side, IMWATCH_FUZZ_JOBS at a time (default: one per
# core); each is a single libFuzzer process, so each gets its full SECONDS.
#
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 60)
#        IMWATCH_FUZZ_TARGETS="config probes" tests/fuzz/run.sh 30   (a subset)
#        tests/fuzz/run.sh --build-only   (build, run nothing: CI overlaps the
#                                          fixed-length fuzzing with other work)
set -uo pipefail

build_only=""
if [[ ${1:-} == --build-only ]]; then
  build_only=1
  shift
fi
secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 1)); then
  echo "usage: $0 [SECONDS_PER_TARGET]  (a whole number of seconds, default 60)" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-fuzz

die() { echo "fuzz: $*" >&2; exit 2; }

for tool in clang clang++ cmake; do
  command -v "$tool" >/dev/null ||
    die "$tool not found. The fuzz targets need Debian's clang 14 and its libFuzzer runtime:
  apt-get install -y clang libclang-rt-14-dev cmake"
done
# clang without compiler-rt links nothing with -fsanitize=fuzzer: say so plainly.
probe=$(mktemp -d)
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe/t.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/t.cpp" -o "$probe/t" 2>"$probe/err"; then
  cat "$probe/err" >&2
  rm -rf "$probe"
  die "clang++ cannot link -fsanitize=fuzzer,address,undefined: install libclang-rt-14-dev"
fi
rm -rf "$probe"

echo "== building into $build"
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; die "cmake configure failed"; }
cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log" >&2; die "build failed (full log: $build/build.log)"; }

[[ -n $build_only ]] && { echo "== built"; exit 0; }

mapfile -t targets <"$build/targets.txt"
if [[ -n ${IMWATCH_FUZZ_TARGETS:-} ]]; then
  read -ra targets <<<"$IMWATCH_FUZZ_TARGETS"
fi

# Scratch space on tmpfs when there is one: corpus copies, artifacts, and the
# files the config and probes targets write on every run (IMWATCH_FUZZ_TMPDIR).
base=${TMPDIR:-/tmp}
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
scratch=$(mktemp -d "$base/imwatch-fuzz-run.XXXXXX") || die "cannot make a scratch directory in $base"
trap 'rm -rf "$scratch"' EXIT
export IMWATCH_FUZZ_TMPDIR=$scratch/tmp
mkdir -p "$IMWATCH_FUZZ_TMPDIR" "$build/logs"

# Leaks count as failures; UB is fatal (also compiled in: -fno-sanitize-recover).
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

# The report of a failed run: from the first sanitizer/libFuzzer error line on.
show_failure() {  # LOG
  local from
  from=$(grep -n -m1 -E '^==[0-9]+==|^ERROR: libFuzzer|fuzz invariant failed|terminate called|runtime error:' "$1" | cut -d: -f1)
  sed -n "${from:-1},\$p" "$1" | grep -v '^MS: \|^0x\|^Base64: ' | head -60 | sed 's/^/    /'
}

# One target, start to end; its console output goes to logs/TARGET.out and
# its outcome to $scratch/TARGET.result ("EXECUTIONS<TAB>RESULT"), so that
# targets can run side by side (IMWATCH_FUZZ_JOBS, default: one per core).
fuzz_one() {  # TARGET
  local t=$1 bin=$build/${1}_fuzz corpus=$here/corpus/$1 regressions=$here/regressions/$1
  local log=$build/logs/$1.log work=$scratch/$1 rc input execs f
  local -a files dict found saved
  finish() { printf '%s\t%s\n' "$1" "$2" >"$scratch/$t.result"; }

  # 1. Replay.
  mapfile -d '' -t files < <(find "$corpus" "$regressions" -type f -print0 2>/dev/null | sort -z)
  echo "== $t: replaying ${#files[@]} inputs"
  if ((${#files[@]} > 0)) && ! "$bin" "${common[@]}" "${files[@]}" >"$build/logs/$t.replay.log" 2>&1; then
    input=$(grep '^Running: ' "$build/logs/$t.replay.log" | tail -1 | sed 's/^Running: //')
    echo "!! $t: replay FAILED on ${input#$root/}"
    show_failure "$build/logs/$t.replay.log"
    finish - "replay FAILED: ${input#$root/}"
    return
  fi

  # 2. Fuzz.
  mkdir -p "$work/corpus" "$work/artifacts"
  for f in "${files[@]}"; do  # regressions/x and corpus/x may share a name
    cp "$f" "$work/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
  done
  dict=()
  [[ -f $here/dict/$t.dict ]] && dict=(-dict="$here/dict/$t.dict")
  echo "== $t: fuzzing for ${secs}s"
  "$bin" "${common[@]}" -max_total_time="$secs" "${dict[@]}" -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')

  # 3. Findings.
  mapfile -t found < <(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | sort)
  if ((rc != 0 || ${#found[@]} > 0)); then
    mkdir -p "$regressions"
    saved=()
    for f in "${found[@]}"; do
      cp "$f" "$regressions/" && saved+=("${regressions#$root/}/$(basename "$f")")
    done
    echo "!! $t: FAILED (exit $rc); input saved as: ${saved[*]:-(none: see $log)}"
    show_failure "$log"
    finish "${execs:-?}" "FAILED: ${saved[*]:-see ${log#$root/}}"
  else
    finish "${execs:-?}" ok
  fi
}

for t in "${targets[@]}"; do
  [[ -x $build/${t}_fuzz ]] || die "no such target: $t"
done
jobs=${IMWATCH_FUZZ_JOBS:-$(nproc)}
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
  fuzz_one "$t" >"$build/logs/$t.out" 2>&1 &
  running=$((running + 1))
done
wait
for t in "${targets[@]}"; do cat "$build/logs/$t.out"; done

declare -A execs result
failed=0
for t in "${targets[@]}"; do
  if [[ -f $scratch/$t.result ]]; then
    IFS=$'\t' read -r execs[$t] result[$t] <"$scratch/$t.result"
    [[ ${result[$t]} == ok ]] || failed=1
  else
    result[$t]="no result (the run died)"
    failed=1
  fi
done

echo
echo "== summary (${secs}s per target; logs in ${build#$root/}/logs/)"
printf '%-10s %14s  %s\n' target executions result
for t in "${targets[@]}"; do
  printf '%-10s %14s  %s\n' "$t" "${execs[$t]:--}" "${result[$t]:-not run}"
done
exit $failed
