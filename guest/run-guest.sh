#!/bin/sh
# run-guest.sh - boot a bare-metal guest program in QEMU's virt machine
# with a vtpu, console on stdout; QEMU's exit code is the guest's status.
#
#   guest/run-guest.sh [options] PROGRAM.elf [-- more QEMU arguments]
#     --qemu PATH     qemu-system-riscv64 with the vtpu device
#                     (default: $VTPU_QEMU or build/qemu/qemu-system-riscv64)
#     --device OPTS   the -device argument (default: $VTPU_DEVICE or
#                     vtpu,gen=v4: 2 TCs)
#     --timeout S     kill QEMU after S seconds (default 300; exit 124)
#     --debug         start halted with the gdb stub on tcp::1234 (-s -S),
#                     no timeout (docs/debugging.md)
#
# Exit codes: 0 the guest passed, 1..119 its failure count (demo, self-
# test), 120 a guest panic (an unexpected trap), 124 timeout.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QEMU=${VTPU_QEMU:-$ROOT/build/qemu/qemu-system-riscv64}
DEVICE=${VTPU_DEVICE:-vtpu,gen=v4}
TIMEOUT=300
DEBUG=

while [ $# -gt 0 ]; do
    case "$1" in
    --qemu) QEMU=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --debug) DEBUG=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [options] PROGRAM.elf [-- QEMU args]" >&2; exit 2; }
ELF=$1; shift
[ "${1:-}" = "--" ] && shift
[ -x "$QEMU" ] || { echo "run-guest: no QEMU at $QEMU (make qemu)" >&2; exit 2; }
[ -f "$ELF" ] || { echo "run-guest: no guest program $ELF (ninja -C build)" >&2; exit 2; }

# One console: the guest's UART and what kernels print on the TCs
# (the device's chardev=, docs/qemu.md "Kernel output") share stdout.
set -- -M virt -m 256M -smp 1 -display none -monitor none \
    -chardev stdio,id=con,mux=on -serial chardev:con \
    -bios none -kernel "$ELF" -device "$DEVICE,chardev=con" "$@"
if [ -n "$DEBUG" ]; then
    echo "run-guest: QEMU halted, gdb stub on localhost:1234; in another shell:" >&2
    echo "  gdb-multiarch $ELF -ex 'target remote :1234'" >&2
    exec "$QEMU" -s -S "$@"
fi
exec timeout --foreground -k 5 "$TIMEOUT" "$QEMU" "$@"
