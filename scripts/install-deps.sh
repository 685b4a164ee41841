#!/bin/sh
# install-deps.sh - install the Debian 12 packages vtpu needs, if missing.
# (The QEMU build, hw/qemu/build-qemu.sh, needs libpixman-1-dev and
# libfdt-dev besides glib, meson, ninja and ccache; the fuzz targets,
# docs/fuzzing.md, clang and libclang-rt-14-dev, which has libFuzzer; the
# Linux user-space programs, make linux-user, riscv64-linux-gnu-gcc and
# glibc for riscv64; vtpu-run's ICI fabric over MPI, docs/multichip.md, Open
# MPI's mpirun and headers.)
# Run as root (make does it); does nothing when everything is present.
set -eu

PKGS="build-essential pkg-config meson ninja-build ccache libglib2.0-dev
libcmocka-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
qemu-user python3 python3-numpy python3-pytest gdb-multiarch
gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
libpixman-1-dev libfdt-dev xz-utils gnuplot-nox
clang libclang-rt-14-dev
openmpi-bin libopenmpi-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
