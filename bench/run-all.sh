#!/bin/sh
# run-all.sh BUILD_DIR - run every benchmark program of the build and
# append its JSON lines to bench/results/<date>-<commit>.jsonl, after a
# header line naming the date, commit and host CPU.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%d)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
cores=$(nproc 2>/dev/null || echo 1)
mkdir -p "$here/results"
out="$here/results/$date-$commit.jsonl"

printf '{"header":true,"date":"%s","time":"%s","commit":"%s","cpu":"%s","cores":%s}\n' \
    "$date" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$cpu" "$cores" >> "$out"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
status=0
for prog in "$build"/bench/bench_*; do
    # Host programs only: the RV32 workloads (*.elf) are executable too.
    case "$prog" in *.*) continue ;; esac
    [ -f "$prog" ] && [ -x "$prog" ] || continue
    echo "run-all: $(basename "$prog")" >&2
    # Keep only the JSON lines; a failing benchmark fails the run at the end.
    if ! "$prog" > "$tmp"; then
        status=1
    fi
    grep '^{' "$tmp" | tee -a "$out" || true
done
echo "run-all: results in $out" >&2
exit $status
