#!/bin/sh
# run-linux.sh - boot the riscv64 Linux guest (guest/linux/build-linux.sh)
# in QEMU's virt machine (AIA: APLIC + IMSIC, so PCIe MSI/MSI-X work) with
# a vtpu, console on stdio.
#
#   guest/linux/run-linux.sh [options] [-- more QEMU arguments]
#     --qemu PATH     qemu-system-riscv64 with the vtpu device
#                     (default: $VTPU_QEMU or build/qemu/qemu-system-riscv64)
#     --variant V     normal (build/linux, default) or debug (build/linux-debug)
#     --dir DIR       the guest's build directory (Image, initramfs.cpio)
#     --device OPTS   the vtpu's -device argument (default: $VTPU_DEVICE or
#                     vtpu,gen=v4); "none": no vtpu
#     --run CMD       run CMD (sh -c) in the guest instead of a shell, then
#                     power off; QEMU's exit code is CMD's (CMD holds no
#                     double quote: use --script for more)
#     --script FILE   run the shell script FILE in the guest likewise
#     --add H:G       put host file H into the guest as G for this boot (G
#                     ending in /: keep the name); repeatable.  --script and
#                     --add append a small cpio archive to the initramfs
#                     (the kernel unpacks both), the image is not rebuilt.
#     --append ARGS   more kernel command-line arguments
#     --mem SIZE      guest RAM (default 512M; 1G for the debug variant)
#     --smp N         harts (default 1)
#     --timeout S     kill QEMU after S seconds, exit 124 (default: none
#                     for the interactive shell, 300 with --run/--script)
#     --gdb PORT      QEMU's gdb stub on tcp::PORT, the machine halted
#                     until gdb continues (-S); writes DIR/gdbinit, which
#                     loads vmlinux, the kernel's gdb scripts (lx-symbols,
#                     lx-dmesg...) and connects (make debug-linux,
#                     docs/debugging.md "Debugging the Linux driver")
#     --tc-gdb PORT   the vtpu's own gdb stub for the TCs' kernels on
#                     tcp::PORT (the device's gdb= property)
#
# Interactive: a root shell on the console; Ctrl-C goes to the guest,
# Ctrl-A x quits QEMU, 'poweroff' or Ctrl-D ends the VM.
# Exit codes with --run/--script: CMD's status; 124 timeout; 125 the guest
# ended without reporting a status (kernel panic, init died).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QEMU=${VTPU_QEMU:-$ROOT/build/qemu/qemu-system-riscv64}
DEVICE=${VTPU_DEVICE:-vtpu,gen=v4}
VARIANT=normal
DIR=
RUN=
SCRIPT=
ADDS=
APPEND=
MEM=
SMP=1
TIMEOUT=
GDB=
TCGDB=

while [ $# -gt 0 ]; do
    case "$1" in
    --qemu) QEMU=$2; shift 2 ;;
    --variant) VARIANT=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --run) RUN=$2; shift 2 ;;
    --script) SCRIPT=$2; shift 2 ;;
    --add) ADDS="$ADDS $2"; shift 2 ;;
    --append) APPEND="$APPEND $2"; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --smp) SMP=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --gdb) GDB=$2; shift 2 ;;
    --tc-gdb) TCGDB=$2; shift 2 ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    --) shift; break ;;
    *) echo "run-linux: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done

case "$VARIANT" in
normal) : "${DIR:=$ROOT/build/linux}"; : "${MEM:=512M}" ;;
debug) : "${DIR:=$ROOT/build/linux-debug}"; : "${MEM:=1G}" ;;
*) echo "run-linux: unknown variant $VARIANT" >&2; exit 2 ;;
esac
BIOS=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
[ -x "$QEMU" ] || { echo "run-linux: no QEMU at $QEMU (make qemu)" >&2; exit 2; }
if [ ! -f "$DIR/Image" ] || [ ! -f "$DIR/initramfs.cpio" ]; then
    echo "run-linux: no $DIR/Image or initramfs.cpio (make linux)" >&2
    exit 2
fi
[ -f "$BIOS" ] || { echo "run-linux: no $BIOS (apt-get install opensbi)" >&2; exit 2; }
[ -z "$SCRIPT" ] || [ -f "$SCRIPT" ] ||
    { echo "run-linux: no script $SCRIPT" >&2; exit 2; }
case "$RUN" in *\"*) echo "run-linux: --run CMD cannot hold a double quote (use --script)" >&2; exit 2 ;; esac

BATCH=
[ -n "$RUN$SCRIPT" ] && BATCH=1
[ -z "$TIMEOUT" ] && [ -n "$BATCH" ] && TIMEOUT=300

CMDLINE="console=ttyS0$APPEND"
[ -n "$RUN" ] && CMDLINE="$CMDLINE vtpu.run=\"$RUN\""

# One console: the guest's UART and what kernels print on the TCs (the
# device's chardev=) share stdio.  Interactive: Ctrl-C is the guest's
# (signal=off).  Batch: a reboot request (kernel panic) ends QEMU.
if [ -n "$BATCH" ]; then
    CHARDEV=stdio,id=con,mux=on
    set -- -no-reboot "$@"
    CMDLINE="$CMDLINE panic=-1"
else
    CHARDEV=stdio,id=con,mux=on,signal=off
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
INITRD=$DIR/initramfs.cpio
# --script/--add: a second cpio archive after the image's (gen_init_cpio
# from the build); the kernel unpacks one after the other, later wins.
if [ -n "$SCRIPT$ADDS" ]; then
    list=$tmp/extra.list
    : >"$list"
    if [ -n "$SCRIPT" ]; then
        echo "dir /vtpu 0755 0 0" >>"$list"
        echo "file /vtpu/run.sh $(realpath "$SCRIPT") 0755 0 0" >>"$list"
    fi
    for x in $ADDS; do
        h=${x%%:*} g=${x#*:}
        case "$x" in *:*) ;; *) echo "run-linux: --add wants HOST:GUEST, got $x" >&2; exit 2 ;; esac
        [ -f "$h" ] || { echo "run-linux: no file $h" >&2; exit 2; }
        case "$g" in */) g=$g$(basename "$h") ;; esac
        # the parent directories, outermost first (existing ones are fine)
        p=$(dirname "$g") ps=
        while [ "$p" != / ] && [ "$p" != . ]; do ps="$p $ps"; p=$(dirname "$p"); done
        for p in $ps; do echo "dir $p 0755 0 0" >>"$list"; done
        mode=0644
        [ -x "$h" ] && mode=0755
        echo "file $g $(realpath "$h") $mode 0 0" >>"$list"
    done
    "$DIR/bin/gen_init_cpio" "$list" >"$tmp/extra.cpio"
    cat "$DIR/initramfs.cpio" "$tmp/extra.cpio" >"$tmp/initrd.cpio"
    INITRD=$tmp/initrd.cpio
fi

if [ -n "$TCGDB" ]; then
    [ "$DEVICE" != none ] || { echo "run-linux: --tc-gdb needs a vtpu" >&2; exit 2; }
    DEVICE="$DEVICE,gdb=tcp::$TCGDB"
fi
if [ -n "$GDB" ]; then
    KDIR=$(realpath "$DIR/kernel")
    [ -f "$KDIR/vmlinux" ] || { echo "run-linux: no $KDIR/vmlinux for --gdb" >&2; exit 2; }
    [ -e "$KDIR/vmlinux-gdb.py" ] ||
        echo "run-linux: no $KDIR/vmlinux-gdb.py (CONFIG_GDB_SCRIPTS): no lx- commands" >&2
    MODDIR=$(realpath "$DIR")/driver
    {
        echo "# written by guest/linux/run-linux.sh --gdb $GDB"
        echo "set pagination off"
        echo "set confirm off"
        echo "add-auto-load-safe-path $KDIR"
        echo "file $KDIR/vmlinux"
        echo "target remote localhost:$GDB"
        if [ -e "$KDIR/vmlinux-gdb.py" ]; then
            echo "source $KDIR/vmlinux-gdb.py"
            echo "# The kernel's page tables are up at start_kernel (a hardware"
            echo "# breakpoint: at reset its address is not mapped); from there"
            echo "# lx-symbols loads vtpu.ko's symbols when /init loads it."
            echo "hbreak start_kernel"
            echo "continue"
            echo "delete"
            echo "lx-symbols $MODDIR"
            echo "set breakpoint pending on"
        fi
    } >"$DIR/gdbinit"
    set -- -gdb "tcp::$GDB" -S "$@"
    {
        echo "run-linux: QEMU halted, its gdb stub on localhost:$GDB; in another shell:"
        echo "  gdb-multiarch -x $(realpath "$DIR")/gdbinit"
        echo "  (gdb) break vtpu_probe      # stops at start_kernel first, vtpu.ko's symbols come with lx-symbols"
        echo "  (gdb) continue"
        [ -z "$TCGDB" ] || echo "run-linux: kernels on the TCs: gdb-multiarch MODULE.elf -ex 'target remote :$TCGDB'"
    } >&2
fi
[ "$DEVICE" != none ] && set -- -device "$DEVICE,chardev=con" "$@"
set -- -M virt,aia=aplic-imsic -m "$MEM" -smp "$SMP" -display none \
    -monitor none -chardev "$CHARDEV" -serial chardev:con \
    -bios "$BIOS" -kernel "$DIR/Image" -initrd "$INITRD" \
    -append "$CMDLINE" "$@"

if [ -z "$BATCH" ]; then
    rc=0
    if [ -n "$TIMEOUT" ]; then
        timeout --foreground -k 5 "$TIMEOUT" "$QEMU" "$@" || rc=$?
    else
        "$QEMU" "$@" || rc=$?
    fi
    exit "$rc"
fi

# Batch: copy the console through, note whether the guest reported its
# status; QEMU's exit code is that status (vtpu-exit).
{
    rc=0
    timeout --foreground -k 5 "$TIMEOUT" "$QEMU" "$@" </dev/null || rc=$?
    echo "$rc" >"$tmp/rc"
} | tee "$tmp/out"
rc=$(cat "$tmp/rc")
[ "$rc" = 124 ] && { echo "run-linux: timed out after $TIMEOUT s" >&2; exit 124; }
if ! grep -q '^VTPU-RUN-EXIT [0-9]*' "$tmp/out"; then
    echo "run-linux: the guest ended without a VTPU-RUN-EXIT line (QEMU exit $rc)" >&2
    exit 125
fi
exit "$rc"
