#!/bin/sh
# run-fuzz.sh - run the libFuzzer targets for a while each and report
# (docs/fuzzing.md).  `make fuzz` and `make check-fuzz` call it.
#
#   tests/fuzz/run-fuzz.sh BUILD SECONDS [TARGET...]
#
# Each target fuzzes for SECONDS, starting from the committed corpus
# (tests/fuzz/corpus/TARGET, only read) and from BUILD/fuzz/corpus/TARGET,
# where new inputs go and accumulate from run to run, so the repository
# is never written.  FUZZ_FRESH=1 starts from the committed corpus alone
# (BUILD/fuzz/fresh/TARGET, emptied first): libFuzzer replays a corpus
# before its clock starts, so a grown one would make a short run long.
# A crash, sanitizer report, leak or per-input timeout fails the run: its
# input is in BUILD/fuzz/artifacts/TARGET/ and the report in
# BUILD/fuzz/TARGET.log.  At the end, one line per target from
# libFuzzer's final statistics.  FUZZ_JOBS=2 runs two targets at a time.
# `timeout` stops a target that overruns SECONDS (plus time to replay the
# corpus) so nothing hangs.
set -u

build=${1:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}
secs=${2:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
targets=${*:-fuzz_elf fuzz_cmd fuzz_launch fuzz_npy fuzz_snapshot}
jobs=${FUZZ_JOBS:-1}
fresh=${FUZZ_FRESH:-0}
out=$build/fuzz

# UBSan's default is to print and go on: make every report a failure.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

run_one() {
    t=$1
    exe=$build/tests/fuzz/$t
    corpus=$out/corpus/$t
    if [ "$fresh" = 1 ]; then
        corpus=$out/fresh/$t
        rm -rf "$corpus"
    fi
    mkdir -p "$corpus" "$out/artifacts/$t"
    dict=
    [ -f "$src/$t.dict" ] && dict=-dict=$src/$t.dict
    # -timeout: one input may take 10 s at most (a hang is a failure).
    # shellcheck disable=SC2086
    timeout -k 10 $((2 * secs + 300)) "$exe" -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t/" $dict \
        "$corpus" "$src/corpus/$t" >"$out/$t.log" 2>&1
    echo $? >"$out/$t.status"
}

stat() { # stat TARGET NAME: a stat:: value of the last run
    sed -n "s/^stat::$2: *//p" "$out/$1.log" | tail -n 1
}

for t in $targets; do
    if [ ! -x "$build/tests/fuzz/$t" ]; then
        echo "run-fuzz: $build/tests/fuzz/$t is missing (build $build" \
             "with -Dfuzz=true: docs/fuzzing.md)" >&2
        exit 2
    fi
done
mkdir -p "$out"
echo "run-fuzz: $secs s per target ($targets), $jobs at a time"
running=0
for t in $targets; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

fail=0
corpus_dir=corpus
[ "$fresh" = 1 ] && corpus_dir=fresh
printf '%-12s %10s %9s %6s %7s  %s\n' target executions exec/s new corpus \
    result
for t in $targets; do
    rc=$(cat "$out/$t.status")
    result=ok
    case $rc in
    0) ;;
    124 | 137) result="hard timeout (rc $rc)" ;;
    *) result="FAILED (rc $rc)" ;;
    esac
    [ "$rc" = 0 ] || fail=1
    printf '%-12s %10s %9s %6s %7s  %s\n' "$t" \
        "$(stat "$t" number_of_executed_units)" \
        "$(stat "$t" average_exec_per_sec)" "$(stat "$t" new_units_added)" \
        "$(find "$out/${corpus_dir}/$t" -type f | wc -l)" "$result"
done
for t in $targets; do
    [ "$(cat "$out/$t.status")" = 0 ] && continue
    echo
    echo "==== $t: end of $out/$t.log"
    grep -v '^#[0-9]' "$out/$t.log" | tail -n 40
    for a in "$out/artifacts/$t"/*; do
        [ -f "$a" ] && echo "reproduce: $build/tests/fuzz/$t $a"
    done
done
exit $fail
