#!/bin/sh
# build-qemu.sh - build qemu-system-riscv64 with the vtpu PCI device.
#
#   hw/qemu/build-qemu.sh [OUT]        (OUT defaults to build/qemu)
#   hw/qemu/build-qemu.sh --fetch-only (step 1 only: the download, which
#                                       may run apt; make demo does it
#                                       before building in parallel)
#
# QEMU has no out-of-tree device interface, so this script:
#   1. downloads the upstream source tarball of Debian's QEMU 7.2 source
#      package (qemu_7.2+dfsg.orig.tar.xz, Debian patches not applied) into
#      ~/.cache/vtpu/qemu-src, adding a deb-src apt stanza derived from the
#      machine's Debian sources if there is none (needs root or sudo);
#   2. unpacks it into OUT/src and patches three lines into its build files
#      (hw/Kconfig, hw/meson.build, the trace subdirectory list);
#   3. overlays OUT/src/hw/vtpu: symlinks to hw/vtpu/{,abi/,include/}*.[ch]
#      (the engine, flattened)
#      and hw/qemu/*.[ch] + trace-events (the glue), plus a generated
#      Kconfig and meson.build;
#   4. configures a minimal riscv64-softmmu in OUT/build with ccache
#      (CCACHE_DIR ~/.cache/vtpu/ccache) and builds qemu-system-riscv64,
#      linked as OUT/qemu-system-riscv64.
# Steps 1-2 and the configure run once; afterwards a run only refreshes the
# overlay and lets ninja rebuild what changed (seconds for a vtpu edit).
# docs/qemu.md has the details.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FETCH_ONLY=
if [ "${1:-}" = "--fetch-only" ]; then
    FETCH_ONLY=1
    shift
fi
case "${1:-}" in -*) echo "build-qemu: unknown option $1" >&2; exit 2 ;; esac
OUT=${1:-$ROOT/build/qemu}
case "$OUT" in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
CACHE=${VTPU_CACHE:-$HOME/.cache/vtpu}
SRC_CACHE=$CACHE/qemu-src
QEMU_UPSTREAM=7.2.0
ORIG_GLOB="qemu_7.2+dfsg.orig.tar.*"

# Debian's tools first: a pyenv/venv python3 earlier in PATH must not be
# the one QEMU's configure and meson pick up.
PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
export PATH
export CCACHE_DIR="${CCACHE_DIR:-$CACHE/ccache}"
# Depend mode: on a miss ccache hashes the compiler's own dependency file
# instead of running the preprocessor once more first; a cold build of
# QEMU took 466 s of CPU instead of 581 s (docs/qemu.md "Build").
export CCACHE_DEPEND="${CCACHE_DEPEND:-1}"

log() { echo "build-qemu: $*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

have_deb_src() {
    grep -qs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources && return 0
    grep -qs '^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}

# A deb-src stanza for every Debian "Types: deb" stanza (deb822) or "deb"
# line (one-line format) already configured.
add_deb_src() {
    tmp=$(mktemp)
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        grep -q '^URIs:.*debian' "$f" || continue
        sed -n '/^Types:/,$p' "$f" | sed 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' >>"$tmp"
        echo >>"$tmp"
    done
    if ! grep -q '^Types: deb-src' "$tmp"; then
        : >"$tmp"
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            sed -n 's/^deb \(.*debian.*\)$/deb-src \1/p' "$f" >>"$tmp"
        done
        [ -s "$tmp" ] || { log "no Debian apt source to derive deb-src from"; exit 1; }
        as_root cp "$tmp" /etc/apt/sources.list.d/vtpu-deb-src.list
    else
        as_root cp "$tmp" /etc/apt/sources.list.d/vtpu-deb-src.sources
    fi
    rm -f "$tmp"
    as_root chmod 644 /etc/apt/sources.list.d/vtpu-deb-src.* 2>/dev/null || true
    as_root apt-get update -qq
}

fetch_source() {
    # shellcheck disable=SC2086
    set -- "$SRC_CACHE"/$ORIG_GLOB
    [ -f "$1" ] && return 0
    have_deb_src || add_deb_src
    mkdir -p "$SRC_CACHE"
    log "downloading Debian's qemu source package into $SRC_CACHE"
    # download-only: the orig tarball is used as is (no dpkg-source run,
    # no Debian patches), see docs/qemu.md.
    (cd "$SRC_CACHE" && apt-get source --download-only qemu) ||
        (cd "$SRC_CACHE" && as_root apt-get source --download-only qemu)
    # shellcheck disable=SC2086
    set -- "$SRC_CACHE"/$ORIG_GLOB
    [ -f "$1" ] || { log "no $ORIG_GLOB after apt-get source"; exit 1; }
}

unpack_source() {
    [ -f "$OUT/src/.vtpu-unpacked" ] && return 0
    # shellcheck disable=SC2086
    set -- "$SRC_CACHE"/$ORIG_GLOB
    log "unpacking $(basename "$1")"
    rm -rf "$OUT/src" "$OUT/build"
    mkdir -p "$OUT/src"
    tar xf "$1" -C "$OUT/src" --strip-components=1
    [ "$(cat "$OUT/src/VERSION")" = "$QEMU_UPSTREAM" ] ||
        { log "expected QEMU $QEMU_UPSTREAM, got $(cat "$OUT/src/VERSION")"; exit 1; }
    touch "$OUT/src/.vtpu-unpacked"
}

# The hooks that make QEMU's build see hw/vtpu; each applied once.
patch_tree() {
    t=$OUT/src
    grep -q '^source vtpu/Kconfig' "$t/hw/Kconfig" ||
        echo 'source vtpu/Kconfig' >>"$t/hw/Kconfig"
    grep -q "^subdir('vtpu')" "$t/hw/meson.build" ||
        echo "subdir('vtpu')" >>"$t/hw/meson.build"
    grep -q "'hw/vtpu'," "$t/meson.build" ||
        sed -i "s|^    'hw/9pfs',\$|    'hw/9pfs',\n    'hw/vtpu',|" "$t/meson.build"
    grep -q "'hw/vtpu'," "$t/meson.build" ||
        { log "could not add hw/vtpu to trace_events_subdirs"; exit 1; }
    # "info vtpu": the table entry; vtpu-pci.c registers the handler with
    # monitor_register_hmp().
    grep -q '"vtpu"' "$t/hmp-commands-info.hx" || cat >>"$t/hmp-commands-info.hx" <<'HX'

    {
        .name       = "vtpu",
        .args_type  = "",
        .params     = "",
        .help       = "show the state of the vtpu devices",
    },

SRST
  ``info vtpu``
    Show the state of each vtpu device: ring, fence, interrupts,
    counters, per-TC instructions retired and the last error.
ERST
HX
    patch_aplic "$t/hw/intc/riscv_aplic.c"
    patch_bql_trylock "$t/softmmu/cpus.c"
    patch_qom_schema "$t/qapi/qom.json"
}

# -object and object-add accept only the types of the QAPI union
# ObjectOptions (qapi/qom.json), each with its properties' schema: the
# vtpu-ici object (hw/qemu/vtpu-ici.c) joins it.  docs/qemu.md "Patches
# to QEMU".
patch_qom_schema() {
    f=$1
    grep -q 'VtpuIciProperties' "$f" && return 0
    [ "$(grep -c "^    { 'name': 'x-vfio-user-server', 'features': \[ 'unstable' \] }\$" "$f")" = 1 ] &&
    [ "$(grep -c "^      'x-vfio-user-server': *'VfioUserServerProperties'\$" "$f")" = 1 ] ||
        { log "could not patch $f (vtpu-ici)"; exit 1; }
    sed -i -e "s|^\(    { 'name': 'x-vfio-user-server', 'features': \[ 'unstable' \] }\)\$|\1,\n    'vtpu-ici'|" \
        -e "s|^\(      'x-vfio-user-server': *'VfioUserServerProperties'\)\$|\1,\n      'vtpu-ici':                   'VtpuIciProperties'|" "$f"
    cat >>"$f" <<'QAPI'

##
# @VtpuIciProperties:
#
# Properties for vtpu-ici objects: the ICI fabric that joins vtpu
# devices into a slice (added by vtpu's hw/qemu/build-qemu.sh; vtpu's
# docs/qemu.md, "Several chips: vtpu-ici").
#
# @topology: the slice's shape: N, XxY, XxYxZ, mesh:XxY, or a
#            generation's slice such as v5p-16
#
# @hop-latency: link model, nanoseconds per hop (default 1000)
#
# @link-bandwidth: link model, bytes per second of one link direction
#                  (default 45G)
#
# @launch-timeout: milliseconds a collective launch waits for the
#                  other chips before it fails (default 0: no limit)
#
# Since: 7.2
##
{ 'struct': 'VtpuIciProperties',
  'data': { 'topology': 'str',
            '*hop-latency': 'uint32',
            '*link-bandwidth': 'size',
            '*launch-timeout': 'uint32' } }
QAPI
    grep -q "^    'vtpu-ici'\$" "$f" && grep -q "^      'vtpu-ici': " "$f" ||
        { log "could not patch $f (vtpu-ici)"; exit 1; }
}

# QEMU 7.2's APLIC in MSI mode sets a level-triggered source pending on
# every setipnum write, asserted or not; Linux's APLIC-MSI driver writes
# setipnum at each EOI of a level interrupt, so the UART's (and the
# vtpu's, with INTx) interrupt storms until Linux disables it ("irq 11:
# nobody cared").  The AIA spec (4.9.2) makes it pending only while the
# source is asserted; later QEMUs do that.  docs/qemu.md "Patches to QEMU".
patch_aplic() {
    f=$1
    grep -q 'vtpu: AIA 4.9.2' "$f" && return 0
    [ "$(grep -c '^    riscv_aplic_set_pending_raw(aplic, irq, pending);$' "$f")" = 1 ] ||
        { log "riscv_aplic.c is not the expected QEMU 7.2 source"; exit 1; }
    sed -i '/^    riscv_aplic_set_pending_raw(aplic, irq, pending);$/i\
    /* vtpu: AIA 4.9.2: in MSI mode a level source becomes pending only\
     * while it is asserted (hw/qemu/build-qemu.sh patch_aplic). */\
    if (aplic->msimode \&\& pending \&\&\
        (((sm == APLIC_SOURCECFG_SM_LEVEL_HIGH) \&\&\
          !(aplic->state[irq] \& APLIC_ISTATE_INPUT)) ||\
         ((sm == APLIC_SOURCECFG_SM_LEVEL_LOW) \&\&\
          (aplic->state[irq] \& APLIC_ISTATE_INPUT)))) {\
        return;\
    }\
' "$f"
    grep -q 'vtpu: AIA 4.9.2' "$f" || { log "could not patch $f"; exit 1; }
}

# QEMU 7.2 cannot take the BQL without waiting for it.  The device's
# command worker must never wait for it (an MMIO caller holds it while it
# waits for the device) but may take it when it is free, and deliver its
# interrupt there and then instead of waking the main loop to run a
# bottom half that does.  The glue declares the function itself, so no
# header changes and nothing else recompiles.  docs/qemu.md "Patches to
# QEMU" and "Interrupt delivery".
patch_bql_trylock() {
    f=$1
    grep -q 'vtpu: BQL trylock' "$f" && return 0
    [ "$(grep -c '^void qemu_mutex_unlock_iothread(void)$' "$f")" = 1 ] ||
        { log "cpus.c is not the expected QEMU 7.2 source"; exit 1; }
    sed -i '/^void qemu_mutex_unlock_iothread(void)$/i\
/* vtpu: BQL trylock (hw/qemu/build-qemu.sh patch_bql_trylock): take the\
 * BQL if it is free and return true, else return false at once. */\
bool qemu_mutex_trylock_iothread(void);\
bool qemu_mutex_trylock_iothread(void)\
{\
    g_assert(!qemu_mutex_iothread_locked());\
    if (qemu_mutex_trylock(\&qemu_global_mutex)) {\
        return false;\
    }\
    set_iothread_locked(true);\
    return true;\
}\
' "$f"
    grep -q 'vtpu: BQL trylock' "$f" || { log "could not patch $f"; exit 1; }
}

# Write $2 to $1 only when it differs, so ninja does not reconfigure.
put() {
    if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
        printf '%s\n' "$2" >"$1"
    fi
}

overlay() {
    d=$OUT/src/hw/vtpu
    mkdir -p "$d"
    # Drop links whose target went away, then link every current file.
    for l in "$d"/*; do
        [ -L "$l" ] && [ ! -e "$l" ] && rm -f "$l"
    done
    engine=""
    for f in "$ROOT"/hw/vtpu/*.c "$ROOT"/hw/vtpu/*.h "$ROOT"/hw/vtpu/abi/*.c \
             "$ROOT"/hw/vtpu/abi/*.h "$ROOT"/hw/vtpu/include/*.h; do
        ln -sfn "$f" "$d/$(basename "$f")"
        case "$f" in *.c) engine="$engine '$(basename "$f")'," ;; esac
    done
    glue=""
    for f in "$ROOT"/hw/qemu/*.c "$ROOT"/hw/qemu/*.h "$ROOT"/hw/qemu/trace-events; do
        [ -f "$f" ] || continue
        ln -sfn "$f" "$d/$(basename "$f")"
        case "$f" in *.c) glue="$glue '$(basename "$f")'," ;; esac
    done
    put "$d/Kconfig" "# generated by vtpu hw/qemu/build-qemu.sh
config VTPU
    bool
    default y if PCI_DEVICES
    depends on PCI && MSI_NONBROKEN"
    put "$d/meson.build" "# generated by vtpu hw/qemu/build-qemu.sh
# The engine (pure C, no QEMU headers) is a static library of its own so
# it keeps its own flags; the glue is an ordinary softmmu source.
vtpu_engine = static_library('vtpu-engine', [$engine],
  dependencies : [glib],
  c_args : ['-fno-strict-aliasing', '-fno-math-errno', '-Wextra', '-Werror', '-g'],
  build_by_default : false)
softmmu_ss.add(when : 'CONFIG_VTPU', if_true : [files($glue),
  declare_dependency(link_with : vtpu_engine)])"
    # The devices the build has: the virt board (with what it selects:
    # PCIe host, UART, PLIC/APLIC/IMSIC, virtio-mmio, fw_cfg), the vtpu,
    # pcie-root-port (hot-plug), virtio-blk (a disk image for whoever
    # wants one) and semihosting (target/riscv links it in any case);
    # no sifive/spike/microchip boards, no other optional devices:
    # 1180 objects to build instead of 1740.
    put "$OUT/src/configs/devices/riscv64-softmmu/vtpu.mak" "# generated by vtpu hw/qemu/build-qemu.sh
CONFIG_RISCV_VIRT=y
CONFIG_SEMIHOSTING=y
CONFIG_ARM_COMPATIBLE_SEMIHOSTING=y
CONFIG_PCIE_PORT=y
CONFIG_VIRTIO_BLK=y
CONFIG_VTPU=y"
}

# Only the virt board and the vtpu (vtpu.mak above); no debug information
# for QEMU itself (the engine library keeps -g): together they halve the
# CPU time of a cold build (docs/qemu.md "Building").
CONFIGURE_ARGS="--target-list=riscv64-softmmu --without-default-features
 --disable-docs --disable-werror --enable-fdt=system
 --disable-install-blobs --enable-trace-backends=log
 --without-default-devices --with-devices-riscv64=vtpu
 --disable-debug-info"

configure() {
    # A build configured with other arguments (an older checkout) is
    # configured again from scratch, as is one with another device set.
    stamp="$CONFIGURE_ARGS
$(cat "$OUT/src/configs/devices/riscv64-softmmu/vtpu.mak")"
    if [ -f "$OUT/build/build.ninja" ] &&
        [ "$(cat "$OUT/configure.args" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    rm -rf "$OUT/build"
    mkdir -p "$OUT/build"
    log "configuring QEMU in $OUT/build"
    # shellcheck disable=SC2086
    (cd "$OUT/build" && CC="ccache gcc" ../src/configure $CONFIGURE_ARGS) \
        >"$OUT/configure.log" 2>&1 ||
        { tail -30 "$OUT/configure.log"; rm -f "$OUT/build/build.ninja"; exit 1; }
    printf '%s\n' "$stamp" >"$OUT/configure.args"
}

fetch_source
[ -n "$FETCH_ONLY" ] && exit 0
unpack_source
patch_tree
overlay
configure
log "building qemu-system-riscv64"
# The glue is compiled with QEMU's own warning flags, as a QEMU source;
# a warning in a vtpu file fails the build (the engine library has
# -Werror itself).
ninja -C "$OUT/build" qemu-system-riscv64 >"$OUT/ninja.log" 2>&1 ||
    { tail -40 "$OUT/ninja.log"; exit 1; }
if grep -q "hw/vtpu/.*warning:" "$OUT/ninja.log"; then
    grep -A4 "hw/vtpu/.*warning:" "$OUT/ninja.log"
    log "warnings in the vtpu glue: fix them"
    exit 1
fi
ln -sfn build/qemu-system-riscv64 "$OUT/qemu-system-riscv64"
log "done: $OUT/qemu-system-riscv64"
