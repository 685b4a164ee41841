#!/bin/sh
# build-linux.sh - build the riscv64 Linux guest: kernel Image + initramfs.
#
#   guest/linux/build-linux.sh [options]
#     --variant V     normal (default: vtpu.config, output build/linux) or
#                     debug (vtpu.config + debug.config: KASAN, lockdep,
#                     DEBUG_OBJECTS..., output build/linux-debug)
#     --out DIR       output directory (default by variant, above)
#     --extra H:G     add host file or directory H to the initramfs as G
#                     (G ending in / or a directory H: copied under G);
#                     repeatable; also $VTPU_LINUX_EXTRA (space-separated)
#                     and the lines of guest/linux/extra-files.txt
#     --initramfs-only  do not (re)build the kernel, only busybox, the
#                     helpers and the initramfs
#     --jobs N        parallel jobs (default 2)
#     --deps-only     install the Debian packages needed, then exit
#     --fetch-only    install the packages and unpack/download the kernel
#                     and busybox sources (everything that may run apt),
#                     then exit (make demo, before its parallel builds)
#
# What it does (docs/linux.md):
#   1. installs what is missing of the Debian packages below (root or sudo);
#   2. unpacks /usr/src/linux-source-6.12.tar.xz once into
#      ~/.cache/vtpu/linux-src, and busybox's Debian source package
#      (downloaded once with apt-get source) into ~/.cache/vtpu/busybox-src;
#   3. configures the kernel in OUT/kernel (O= build): tinyconfig plus the
#      fragments (merge_config.sh), and fails if any option of a fragment
#      is not in the resulting .config (a dependency was missing);
#   4. builds Image, modules_prepare and modules with ccache
#      (CCACHE_DIR ~/.cache/vtpu/ccache); OUT/kernel stays usable for
#      out-of-tree module builds (make -C OUT/kernel M=...);
#   5. builds busybox (static, riscv64, busybox.config) in OUT/busybox and
#      the static helpers (vtpu-exit, fpcheck) in OUT/bin;
#   6. writes OUT/initramfs.cpio (guest/linux/init as /init, rootfs/,
#      busybox, helpers, extra files).
# Everything is incremental: a second run with nothing changed takes
# seconds.  Build logs: OUT/*.log.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/guest/linux
CACHE=${VTPU_CACHE:-$HOME/.cache/vtpu}
export CCACHE_DIR="${CCACHE_DIR:-$CACHE/ccache}"
# Depend mode: on a miss ccache hashes the compiler's own dependency file
# instead of running the preprocessor once more first; a cold build of
# QEMU took 466 s of CPU instead of 581 s (docs/qemu.md "Build").
export CCACHE_DEPEND="${CCACHE_DEPEND:-1}"
# Debian's tools first (see hw/qemu/build-qemu.sh).
PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
export PATH

KPKG=linux-source-6.12
KTAR=/usr/src/linux-source-6.12.tar.xz
CROSS=riscv64-linux-gnu-
PKGS="$KPKG gcc-riscv64-linux-gnu libc6-dev-riscv64-cross opensbi ccache
make gcc libc6-dev flex bison bc xz-utils bzip2 dpkg-dev"

VARIANT=normal
OUT=
JOBS=2
KERNEL=1
DEPS_ONLY=
FETCH_ONLY=
EXTRAS=${VTPU_LINUX_EXTRA:-}

log() { echo "build-linux: $*"; }
die() { echo "build-linux: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
    --variant) VARIANT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --extra) EXTRAS="$EXTRAS $2"; shift 2 ;;
    --initramfs-only) KERNEL=; shift ;;
    --jobs) JOBS=$2; shift 2 ;;
    --deps-only) DEPS_ONLY=1; shift ;;
    --fetch-only) FETCH_ONLY=1; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) die "unknown option $1 (--help)" ;;
    esac
done

case "$VARIANT" in
normal) FRAGS="$HERE/vtpu.config"; : "${OUT:=$ROOT/build/linux}" ;;
debug) FRAGS="$HERE/vtpu.config $HERE/debug.config"; : "${OUT:=$ROOT/build/linux-debug}" ;;
*) die "unknown variant $VARIANT (normal, debug)" ;;
esac
case "$OUT" in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
KOBJ=$OUT/kernel

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_deps() {
    missing=""
    for p in $PKGS; do
        installed "$p" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root apt-get install -y -qq --no-install-recommends $missing
}

# --- sources -----------------------------------------------------------

# The kernel: Debian's linux-source tarball, unpacked once per package
# version into the cache (read-only afterwards: every build is O=).
unpack_kernel() {
    kver=$(dpkg-query -W -f='${Version}' "$KPKG")
    KSRC=$CACHE/linux-src/linux-source-6.12
    if [ "$(cat "$KSRC/.vtpu-unpacked" 2>/dev/null)" = "$kver" ]; then
        return 0
    fi
    [ -f "$KTAR" ] || die "no $KTAR (apt-get install $KPKG)"
    log "unpacking $KTAR ($kver) into $CACHE/linux-src"
    mkdir -p "$CACHE/linux-src"
    tmp=$CACHE/linux-src/.unpack.$$
    rm -rf "$tmp" "$KSRC"
    mkdir -p "$tmp"
    tar xJf "$KTAR" -C "$tmp"
    mv "$tmp/linux-source-6.12" "$KSRC"
    rmdir "$tmp"
    echo "$kver" >"$KSRC/.vtpu-unpacked"
}

have_deb_src() {
    grep -qs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources && return 0
    grep -qs '^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}

# A deb-src stanza for every Debian "Types: deb" stanza (deb822) or "deb"
# line (one-line format) already configured (as hw/qemu/build-qemu.sh).
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
        [ -s "$tmp" ] || die "no Debian apt source to derive deb-src from"
        as_root cp "$tmp" /etc/apt/sources.list.d/vtpu-deb-src.list
    else
        as_root cp "$tmp" /etc/apt/sources.list.d/vtpu-deb-src.sources
    fi
    rm -f "$tmp"
    as_root chmod 644 /etc/apt/sources.list.d/vtpu-deb-src.* 2>/dev/null || true
    as_root apt-get update -qq
}

# Busybox: Debian 12 has no riscv64 binary package, so its source package
# (upstream 1.35.0 + Debian's patches, security fixes included) is
# downloaded once and unpacked with dpkg-source.
unpack_busybox() {
    BBDIR=$CACHE/busybox-src
    BBSRC=$BBDIR/busybox
    [ -f "$BBSRC/.vtpu-unpacked" ] && return 0
    # shellcheck disable=SC2086
    set -- "$BBDIR"/busybox_*.dsc
    if [ ! -f "$1" ]; then
        have_deb_src || add_deb_src
        mkdir -p "$BBDIR"
        log "downloading Debian's busybox source package into $BBDIR"
        (cd "$BBDIR" && apt-get source --download-only busybox) >"$BBDIR/download.log" 2>&1 ||
            { tail -5 "$BBDIR/download.log"; die "apt-get source busybox failed"; }
        # shellcheck disable=SC2086
        set -- "$BBDIR"/busybox_*.dsc
        [ -f "$1" ] || die "no busybox .dsc after apt-get source"
    fi
    log "unpacking $(basename "$1")"
    rm -rf "$BBSRC"
    dpkg-source -x "$1" "$BBSRC" >"$BBDIR/unpack.log" 2>&1 ||
        { tail -5 "$BBDIR/unpack.log"; die "dpkg-source -x failed"; }
    basename "$1" >"$BBSRC/.vtpu-unpacked"
}

# --- configuration -----------------------------------------------------

# check_config CONFIG FRAGMENT...: every "CONFIG_X=v" line of the
# fragments is in CONFIG, and no "# CONFIG_X is not set" one is set there.
check_config() {
    cfg=$1; shift
    bad=$(cat "$@" | awk -v cfg="$cfg" '
        BEGIN { while ((getline l < cfg) > 0) have[l] = 1 }
        /^CONFIG_[A-Za-z0-9_]+=/ { if (!($0 in have)) print "  wanted " $0 ", have " cur($0) }
        /^# CONFIG_[A-Za-z0-9_]+ is not set/ {
            n = $2; for (l in have) if (index(l, n "=") == 1) print "  wanted " $0 ", have " l }
        function cur(line,   n, l) {
            n = substr(line, 1, index(line, "=")); for (l in have) if (index(l, n) == 1) return l
            return "it unset (a dependency is missing)" }')
    if [ -n "$bad" ]; then
        echo "$bad" >&2
        return 1
    fi
}

kmake() {
    nice make -C "$KSRC" O="$KOBJ" ARCH=riscv CROSS_COMPILE=$CROSS \
        CC="ccache ${CROSS}gcc" KBUILD_BUILD_USER=vtpu KBUILD_BUILD_HOST=vtpu \
        "$@"
}

configure_kernel() {
    mkdir -p "$KOBJ"
    # shellcheck disable=SC2086
    stamp="$(cat "$KSRC/.vtpu-unpacked") $(cat $FRAGS | md5sum)"
    if [ -f "$KOBJ/.config" ] && [ "$(cat "$KOBJ/.vtpu-config" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    log "configuring the kernel ($VARIANT) in $KOBJ"
    {
        kmake tinyconfig
        # shellcheck disable=SC2086
        (cd "$KSRC" && ARCH=riscv CROSS_COMPILE=$CROSS \
            scripts/kconfig/merge_config.sh -m -O "$KOBJ" "$KOBJ/.config" $FRAGS)
        kmake olddefconfig
    } >"$OUT/kernel-config.log" 2>&1 ||
        { tail -20 "$OUT/kernel-config.log"; die "kernel configuration failed"; }
    # shellcheck disable=SC2086
    check_config "$KOBJ/.config" $FRAGS ||
        die "options of $(echo $FRAGS | sed "s|$ROOT/||g") missing from $KOBJ/.config (above)"
    echo "$stamp" >"$KOBJ/.vtpu-config"
}

build_kernel() {
    log "building the kernel ($VARIANT; log $OUT/kernel-build.log)"
    # scripts_gdb: vmlinux-gdb.py and its modules (lx-symbols...) where the
    # config asks for them (debug.config; make debug-linux)
    gdb=
    grep -q '^CONFIG_GDB_SCRIPTS=y' "$KOBJ/.config" && gdb=scripts_gdb
    kmake -j"$JOBS" Image modules_prepare modules $gdb >"$OUT/kernel-build.log" 2>&1 ||
        { grep -E 'error|Error' "$OUT/kernel-build.log" | head -20
          tail -20 "$OUT/kernel-build.log"; die "kernel build failed"; }
    ln -sfn kernel/arch/riscv/boot/Image "$OUT/Image"
    [ -f "$OUT/Image" ] || die "no $OUT/Image after the build"
}

bbmake() {
    nice make -C "$BBSRC" O="$OUT/busybox" CROSS_COMPILE=$CROSS \
        CC="ccache ${CROSS}gcc" "$@"
}

build_busybox() {
    frag=$HERE/busybox.config
    cfg=$OUT/busybox/.config
    mkdir -p "$OUT/busybox"
    stamp="$(cat "$BBSRC/.vtpu-unpacked") $(md5sum <"$frag")"
    if [ ! -f "$cfg" ] || [ "$(cat "$OUT/busybox/.vtpu-config" 2>/dev/null)" != "$stamp" ]; then
        log "configuring busybox"
        # Busybox's allnoconfig ignores KCONFIG_ALLCONFIG, so: allnoconfig,
        # put the fragment's lines in, and let oldconfig resolve the rest.
        bbmake allnoconfig >"$OUT/busybox-config.log" 2>&1 ||
            { tail -20 "$OUT/busybox-config.log"; die "busybox allnoconfig failed"; }
        grep '^CONFIG_' "$frag" | while IFS= read -r l; do
            s=${l%%=*}
            sed -i -e "/^$s=/d" -e "/^# $s is not set/d" "$cfg"
            echo "$l" >>"$cfg"
        done
        yes "" | bbmake oldconfig >>"$OUT/busybox-config.log" 2>&1 ||
            { tail -20 "$OUT/busybox-config.log"; die "busybox oldconfig failed"; }
        check_config "$cfg" "$frag" || die "options of busybox.config missing from $cfg (above)"
        echo "$stamp" >"$OUT/busybox/.vtpu-config"
    fi
    # The source never changes once unpacked: built once per configuration
    # (busybox's make takes seconds even when there is nothing to do).
    if [ -x "$OUT/busybox/busybox" ] && [ -f "$OUT/busybox/busybox.links" ] &&
        [ "$(cat "$OUT/busybox/.vtpu-built" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    log "building busybox (log $OUT/busybox-build.log)"
    bbmake -j"$JOBS" busybox busybox.links >"$OUT/busybox-build.log" 2>&1 ||
        { grep -E 'error' "$OUT/busybox-build.log" | head -20
          tail -20 "$OUT/busybox-build.log"; die "busybox build failed"; }
    echo "$stamp" >"$OUT/busybox/.vtpu-built"
}

# newer A B: A is newer than B, or B does not exist.
newer() { [ ! -e "$2" ] || [ -n "$(find "$1" -newer "$2" 2>/dev/null)" ]; }

# The static helpers: one C file each, rebuilt when the source changed.
build_helpers() {
    mkdir -p "$OUT/bin"
    for p in vtpu-exit fpcheck; do
        if newer "$HERE/$p.c" "$OUT/bin/$p"; then
            ccache ${CROSS}gcc -O2 -static -Wall -Wextra -Werror \
                -o "$OUT/bin/$p" "$HERE/$p.c" -lm
        fi
    done
}

# --- initramfs ---------------------------------------------------------

# entry LINE: one gen_init_cpio line ("file|dir|slink|nod PATH ...").
entry() { echo "$*" >>"$LIST"; }

# add_host HOST GUEST: a file, or a directory's tree, from the host.
add_host() {
    h=$1 g=$2
    case "$h" in /*) ;; *) h=$ROOT/$h ;; esac
    if [ -d "$h" ]; then
        find "$h" -mindepth 1 | sort | while IFS= read -r p; do
            rel=${p#"$h"/}
            t=${g%/}/$rel
            if [ -L "$p" ]; then
                entry "slink $t $(readlink "$p") 0777 0 0"
            elif [ -d "$p" ]; then
                entry "dir $t 0755 0 0"
            elif [ -f "$p" ]; then
                mode=0644
                [ -x "$p" ] && mode=0755
                entry "file $t $p $mode 0 0"
            fi
        done
    elif [ -f "$h" ]; then
        case "$g" in */) g=$g$(basename "$h") ;; esac
        mode=0644
        [ -x "$h" ] && mode=0755
        case "$g" in *.ko) mode=0644 ;; esac
        entry "file $g $h $mode 0 0"
    else
        die "extra file $h does not exist"
    fi
}

build_initramfs() {
    GEN=$OUT/bin/gen_init_cpio
    if newer "$KSRC/usr/gen_init_cpio.c" "$GEN"; then
        mkdir -p "$OUT/bin"
        cc -O2 -o "$GEN" "$KSRC/usr/gen_init_cpio.c"
    fi
    LIST=$OUT/initramfs.list.tmp
    : >"$LIST"
    for d in /dev /proc /sys /tmp /root /etc /bin /sbin /usr/bin /usr/sbin \
        /lib/modules /mnt; do
        entry "dir $d 0755 0 0"
    done
    entry "nod /dev/console 0600 0 0 c 5 1"
    entry "nod /dev/null 0666 0 0 c 1 3"
    entry "file /init $HERE/init 0755 0 0"
    add_host "$HERE/rootfs" /
    entry "file /bin/busybox $OUT/busybox/busybox 0755 0 0"
    # busybox.links: /bin/ls, /usr/bin/awk, ... (the applets configured).
    while IFS= read -r a; do
        [ "$a" = /bin/busybox ] && continue
        case "$a" in
        /bin/*) entry "slink $a busybox 0777 0 0" ;;
        *) entry "slink $a /bin/busybox 0777 0 0" ;;
        esac
    done <"$OUT/busybox/busybox.links"
    entry "file /sbin/vtpu-exit $OUT/bin/vtpu-exit 0755 0 0"
    for a in poweroff halt reboot; do
        entry "slink /sbin/$a vtpu-exit 0777 0 0"
    done
    entry "file /usr/bin/fpcheck $OUT/bin/fpcheck 0755 0 0"
    # Extra files: guest/linux/extra-files.txt ("HOST GUEST" lines; a
    # leading ? makes a missing host file no error), then --extra.
    if [ -f "$HERE/extra-files.txt" ]; then
        grep -v '^[[:space:]]*\(#\|$\)' "$HERE/extra-files.txt" |
            while read -r h g; do
                case "$h" in
                \?*) h=${h#\?}
                     case "$h" in /*) ;; *) h=$ROOT/$h ;; esac
                     [ -e "$h" ] || continue ;;
                esac
                add_host "$h" "$g"
            done
    fi
    for x in $EXTRAS; do
        case "$x" in *:*) ;; *) die "--extra wants HOST:GUEST, got $x" ;; esac
        add_host "${x%%:*}" "${x#*:}"
    done
    # Each path once (the last entry wins), every parent directory before
    # what is in it.
    awk '
        { p = $2; sub(/\/+$/, "", p); if (p == "") next; $2 = p
          if (!(p in line)) order[n++] = p; line[p] = $0 }
        END {
            for (i = 0; i < n; i++) {
                p = order[i]; q = ""; m = split(p, c, "/")
                for (j = 2; j < m; j++) {
                    q = q "/" c[j]
                    if (!(q in done)) {
                        done[q] = 1
                        print ((q in line) ? line[q] : "dir " q " 0755 0 0")
                    }
                }
                if (!(p in done)) { done[p] = 1; print line[p] }
            }
        }' "$LIST" >"$OUT/initramfs.list"
    rm -f "$LIST"
    "$GEN" "$OUT/initramfs.list" >"$OUT/initramfs.cpio.tmp"
    if cmp -s "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"; then
        rm -f "$OUT/initramfs.cpio.tmp"
    else
        mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
    fi
    log "initramfs: $OUT/initramfs.cpio ($(wc -c <"$OUT/initramfs.cpio") bytes, $(wc -l <"$OUT/initramfs.list") entries)"
}

install_deps
[ -n "$DEPS_ONLY" ] && exit 0
mkdir -p "$OUT"
unpack_kernel
unpack_busybox
[ -n "$FETCH_ONLY" ] && exit 0
if [ -n "$KERNEL" ]; then
    configure_kernel
    build_kernel
fi
build_busybox
build_helpers
build_initramfs
log "done: $OUT/Image $OUT/initramfs.cpio"
