#!/bin/sh
# run-bench.sh [BUILD_DIR] - boot guest/bench/vtpu-latency in QEMU and
# append its JSON lines to bench/results/<date>-<commit>.jsonl after a
# header line (the format of bench/run-all.sh), noting the guest device.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build=$(pwd)/$build ;; esac
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%d)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
cores=$(nproc 2>/dev/null || echo 1)
device=${VTPU_DEVICE:-vtpu,gen=v4}
out="$root/bench/results/$date-$commit.jsonl"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

VTPU_DEVICE=$device "$root/guest/run-guest.sh" --timeout 300 \
    --qemu "${VTPU_QEMU:-$build/qemu/qemu-system-riscv64}" \
    "$build/guest/vtpu-latency.elf" > "$tmp"
mkdir -p "$root/bench/results"
printf '{"header":true,"date":"%s","commit":"%s","cpu":"%s","cores":%s,"guest":"qemu-system-riscv64 virt, -device %s"}\n' \
    "$date" "$commit" "$cpu" "$cores" "$device" >> "$out"
tr -d '\r' < "$tmp" | grep '^{' | tee -a "$out"
echo "run-bench: results in $out" >&2
