#!/bin/sh
# run-user.sh - boot the riscv64 Linux guest with vtpu.ko and the Linux
# user-space programs of `make linux-user`, and run a command in it
# (docs/linux.md, "User space").
#
#   guest/linux-user/run-user.sh [options] [CMD...]
#     --build DIR      the host build (default: build): DIR/linux-user/rootfs
#                      and DIR/driver/linux/vtpu.ko are put into the
#                      initramfs for this boot (run-linux.sh --add), so the
#                      image need not be rebuilt after they change
#     --linux-dir DIR  the kernel and initramfs (default: BUILD/linux)
#     --qemu PATH      qemu-system-riscv64 with the vtpu
#     --qemu-args ARGS more QEMU arguments (split at spaces), e.g. the
#                      vtpu-ici object and further vtpus of a slice
#     other options    passed to guest/linux/run-linux.sh (--device,
#                      --timeout, --append, --mem, --smp, --script)
#   CMD (with its arguments) runs instead of a shell, and its exit status
#   is QEMU's (run-linux.sh --run); without CMD, an interactive shell.
#
# make demo is `run-user.sh vtpu-demo`; guest/run-bench.sh runs
# vtpu-latency with it.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
LINUX=
pass=
qargs=

while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --linux-dir) LINUX=$2; shift 2 ;;
    --qemu-args) qargs="$qargs $2"; shift 2 ;;
    --qemu|--device|--timeout|--append|--mem|--smp|--script|--variant)
        pass="$pass $1 $2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "run-user: unknown option $1 (--help)" >&2; exit 2 ;;
    *) break ;;
    esac
done
case "$BUILD" in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
: "${LINUX:=$BUILD/linux}"
TREE=$BUILD/linux-user/rootfs
[ -x "$TREE/usr/bin/vtpu-run" ] ||
    { echo "run-user: no $TREE (make linux-user)" >&2; exit 2; }

# Every file of the tree, then the module.
set_adds() {
    find "$TREE" -type f | sort | while IFS= read -r f; do
        printf ' --add %s:%s' "$f" "${f#"$TREE"}"
    done
    ko=$BUILD/driver/linux/vtpu.ko
    [ -f "$ko" ] && printf ' --add %s:/lib/modules/vtpu.ko' "$ko"
    return 0
}
adds=$(set_adds)

# shellcheck disable=SC2086
if [ $# -gt 0 ]; then
    exec "$ROOT/guest/linux/run-linux.sh" --dir "$LINUX" $pass $adds \
        --run "$*" -- $qargs
fi
# shellcheck disable=SC2086
exec "$ROOT/guest/linux/run-linux.sh" --dir "$LINUX" $pass $adds -- $qargs
