#!/bin/sh
# run-bench.sh [BUILD_DIR] - guest latency and throughput in QEMU, JSON
# lines appended to bench/results/<date>-<commit>.jsonl after a header line
# (the format of bench/run-all.sh), noting the guest device:
#   1. the bare-metal guest/bench/vtpu-latency ("bench": "guest"): the
#      ring driver's launch, fence and runtime figures;
#   2. the same device from Linux user space through vtpu.ko
#      (guest/linux-user/vtpu-latency, "bench": "guest-linux"): SUBMIT ->
#      WAIT of an empty launch, launch throughput, the runtime's nop0 —
#      when the Linux guest (BUILD/linux) and `make linux-user` are built
#      (else skipped with a note);
#   3. one "guest-linux" line "launch_sync_vs_bare": the Linux empty launch
#      against the bare-metal one of this run (medians and means; also
#      the stream rates and the runtime's nop0, median against median);
#   4. the baseline of the interrupt path in the same run: the bare-metal
#      program again on a device that delivers every interrupt through
#      QEMU's main loop (x-irq-direct=off, the path before issue 16;
#      lines with "variant":"irq-bh"), and one "guest" line
#      "irq_direct_vs_bh" with the medians' ratios.
# Environment: VTPU_QEMU, VTPU_DEVICE (default vtpu,gen=v4), VTPU_LINUX_DIR
# (default BUILD/linux).
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build=$(pwd)/$build ;; esac
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%d)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
cores=$(nproc 2>/dev/null || echo 1)
device=${VTPU_DEVICE:-vtpu,gen=v4}
qemu=${VTPU_QEMU:-$build/qemu/qemu-system-riscv64}
linux_dir=${VTPU_LINUX_DIR:-$build/linux}
out="$root/bench/results/$date-$commit.jsonl"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

VTPU_DEVICE=$device "$root/guest/run-guest.sh" --timeout 300 \
    --qemu "$qemu" "$build/guest/vtpu-latency.elf" > "$tmp/bare"
tr -d '\r' < "$tmp/bare" | grep '^{' > "$tmp/bare.json"
VTPU_DEVICE=$device,x-irq-direct=off "$root/guest/run-guest.sh" --timeout 300 \
    --qemu "$qemu" "$build/guest/vtpu-latency.elf" > "$tmp/bh"
tr -d '\r' < "$tmp/bh" | grep '^{' |
    sed 's/^{"bench":"guest",/{"bench":"guest","variant":"irq-bh",/' > "$tmp/bh.json"

linux=
if [ -f "$linux_dir/Image" ] && [ -x "$build/linux-user/rootfs/usr/bin/vtpu-latency" ]; then
    if "$root/guest/linux-user/run-user.sh" --build "$build" \
        --linux-dir "$linux_dir" --qemu "$qemu" --device "$device" \
        --timeout 300 --append loglevel=1 vtpu-latency > "$tmp/linux" 2>&1; then
        tr -d '\r' < "$tmp/linux" | grep '^{' > "$tmp/linux.json"
        linux=1
    else
        echo "run-bench: the Linux user-space run failed:" >&2
        tail -20 "$tmp/linux" >&2
    fi
else
    echo "run-bench: no Linux guest in $linux_dir or no $build/linux-user" \
        "(make linux linux-user): Linux figures skipped" >&2
fi

mkdir -p "$root/bench/results"
printf '{"header":true,"date":"%s","commit":"%s","cpu":"%s","cores":%s,"guest":"qemu-system-riscv64 virt, -device %s"%s}\n' \
    "$date" "$commit" "$cpu" "$cores" "$device" \
    "${linux:+,\"linux\":\"bare metal and Linux user space (vtpu.ko), one run\"}" >> "$out"
tee -a "$out" < "$tmp/bare.json"
tee -a "$out" < "$tmp/bh.json"
python3 - "$tmp/bare.json" "$tmp/bh.json" <<'PY' | tee -a "$out"
import json, sys
def load(path):
    return {r["metric"]: r for r in map(json.loads, open(path))}
d, b = load(sys.argv[1]), load(sys.argv[2])
row = {"bench": "guest", "metric": "irq_direct_vs_bh"}
for m in ("launch_sync", "fence_irq", "rt_nop0", "fence_poll", "mmio_read"):
    if m in d and m in b:
        row[m + "_direct_us"] = d[m]["median_us"]
        row[m + "_bh_us"] = b[m]["median_us"]
        row[m + "_ratio"] = round(d[m]["median_us"] / b[m]["median_us"], 2)
print(json.dumps(row, separators=(",", ":")))
PY
if [ -n "$linux" ]; then
    tee -a "$out" < "$tmp/linux.json"
    # The Linux empty launch (SUBMIT -> WAIT) against the bare-metal one
    # (LAUNCH + FENCE + wait) of this run.
    python3 - "$tmp/bare.json" "$tmp/linux.json" <<'PY' | tee -a "$out"
import json, sys
def get(path, metric):
    for line in open(path):
        r = json.loads(line)
        if r.get("metric") == metric:
            return r
    sys.exit("run-bench: no %s in %s" % (metric, path))
b, l = get(sys.argv[1], "launch_sync"), get(sys.argv[2], "launch_sync")
bs, ls = get(sys.argv[1], "launch_stream"), get(sys.argv[2], "launch_stream")
bn, ln = get(sys.argv[1], "rt_nop0"), get(sys.argv[2], "rt_nop0")
print(json.dumps({
    "bench": "guest-linux", "metric": "launch_sync_vs_bare",
    "bare_median_us": b["median_us"], "linux_median_us": l["median_us"],
    "ratio_median": round(l["median_us"] / b["median_us"], 2),
    "bare_mean_us": b["mean_us"], "linux_mean_us": l["mean_us"],
    "ratio_mean": round(l["mean_us"] / b["mean_us"], 2),
    "stream_bare_per_s": bs["per_second"],
    "stream_linux_per_s": ls["per_second"],
    "rt_nop0_ratio_median": round(ln["median_us"] / bn["median_us"], 2),
    # Issue 12's goal: an empty launch from Linux user space within 2x
    # of the bare-metal runtime's (vtpu_rt_run of nop0 on both sides);
    # the raw one (Linux SUBMIT + WAIT against bare LAUNCH + FENCE written
    # to the ring by hand) is reported beside it (docs/linux.md "Latency").
    "runtime_within_2x": ln["median_us"] <= 2 * bn["median_us"],
    "raw_within_2x": l["median_us"] <= 2 * b["median_us"]},
    separators=(",", ":")))
PY
fi
echo "run-bench: results in $out" >&2
