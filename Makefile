# vtpu top-level Makefile: the two commands of the README and helpers.
#   make demo    install what is missing, build (QEMU and the riscv64
#                Linux guest too), boot Linux in QEMU with a vtpu, load
#                vtpu.ko and run the demo in Linux user space
#   make demo-bare  the bare-metal guest demo in QEMU (guest/, no Linux)
#   make demo-slice  the bare-metal slice demo: four vtpus on a vtpu-ici
#                fabric running collectives (docs/multichip.md "QEMU")
#   make demo-slice-linux  the same through vtpu.ko in Linux user space
#                (vtpu-slice; docs/linux.md "Collectives over a slice")
#   make demo-engine  the engine-only demo (vtpu-run, no QEMU)
#   make debug   the guest demo in QEMU, halted, gdb stub on :1234
#                (GUEST=program; docs/debugging.md)
#   make debug-linux  the debug kernel halted, gdb stub on :1234 with
#                vmlinux and vtpu.ko's symbols (lx-symbols), the TCs'
#                stub on :1235 (docs/debugging.md)
#   make check   install what is missing, build, run every test suite
#                (and the unit tests again under ASan+UBSan, the QEMU
#                qtests and the system tests)
#   make bench   run the benchmarks, JSON lines into bench/results/ and a
#                chart of the latest run (bench/results/latest.png)
#   make bench-guest  guest latency/throughput in QEMU (guest/run-bench.sh)
#   make qemu    build qemu-system-riscv64 with the vtpu device into
#                $(BUILD)/qemu (hw/qemu/build-qemu.sh, docs/qemu.md)
#   make check-tsan  the unit tests that run the device's and TCs'
#                threads again under ThreadSanitizer (suite 'tsan')
#   make check-qemu  the device's qtests against that QEMU
#   make check-system  boot the guest programs in that QEMU (tests/system)
#   make fuzz    run the libFuzzer targets, FUZZ_TIME seconds each, and
#                report executions per target (docs/fuzzing.md)
#   make check-fuzz  each fuzz target briefly (CHECK_FUZZ_TIME) under
#                ASan+UBSan; any crash or report fails

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
CHECK_FUZZ_TIME ?= 20
QEMU_BUILD ?= $(BUILD)/qemu
MESON      ?= meson
NINJA      ?= ninja

.PHONY: fuzz fuzz-build check-fuzz
.PHONY: check-tsan
.PHONY: all deps build demo demo-bare demo-slice demo-slice-linux demo-engine debug \
	check check-asan \
	check-qemu \
	check-system qemu bench bench-guest format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	$(MESON) setup $(BUILD) --buildtype=debugoptimized -Dwerror=true

build: deps $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

GUEST ?= vtpu-demo

# The demo in Linux user space: vtpu-demo (guest/linux-user) through
# vtpu.ko; see "Linux user space" below.
# What may run apt (packages, deb-src, source downloads) runs first, one
# at a time (apt and dpkg take locks); then QEMU and the Linux guest build
# side by side, so that one's single-threaded steps (configure, links,
# kallsyms) overlap the other's compiling (docs/linux.md "Building").
demo: demo-fetch
	$(MAKE) -j2 qemu linux-user linux-driver
	guest/linux-user/run-user.sh --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    --build $(BUILD) --linux-dir $(LINUX_BUILD) --timeout 600 vtpu-demo

.PHONY: demo-fetch
demo-fetch: deps
	guest/linux/build-linux.sh --fetch-only
	hw/qemu/build-qemu.sh --fetch-only

demo-bare: build qemu
	guest/run-guest.sh --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    $(BUILD)/guest/vtpu-demo.elf

# The slice demo: four vtpu devices on one vtpu-ici fabric (a 2x2
# torus), collectives launched on every chip (docs/multichip.md "QEMU").
SLICE_DEV = vtpu,gen=v5e,hbm-size=256M,ici=ici0
demo-slice: build qemu
	guest/run-guest.sh --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    --device $(SLICE_DEV),chip=0,addr=2.0 \
	    $(BUILD)/guest/vtpu-slice-demo.elf -- \
	    -object vtpu-ici,id=ici0,topology=2x2 \
	    -device $(SLICE_DEV),chip=1,addr=3.0 \
	    -device $(SLICE_DEV),chip=2,addr=4.0 \
	    -device $(SLICE_DEV),chip=3,addr=5.0

# The same slice in Linux user space: vtpu-slice (guest/linux-user)
# through vtpu.ko, one /dev/accel/accelN per chip (docs/linux.md
# "Collectives over a slice").
demo-slice-linux: qemu linux-user linux-driver
	guest/linux-user/run-user.sh --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    --build $(BUILD) --linux-dir $(LINUX_BUILD) --timeout 600 \
	    --device $(SLICE_DEV),chip=0,addr=2.0 \
	    --qemu-args "-object vtpu-ici,id=ici0,topology=2x2 \
	        -device $(SLICE_DEV),chip=1,addr=3.0 \
	        -device $(SLICE_DEV),chip=2,addr=4.0 \
	        -device $(SLICE_DEV),chip=3,addr=5.0" vtpu-slice

demo-engine: build
	$(BUILD)/tools/vtpu-run --bare $(BUILD)/firmware/demo.elf --gen v5p

debug: build qemu
	guest/run-guest.sh --debug --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    $(BUILD)/guest/$(GUEST).elf

# QEMU is built first: the gdb suite's QEMU session needs it.
check: build qemu
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2
	$(MAKE) check-asan
	$(MAKE) check-tsan
	$(MAKE) check-fuzz
	$(MAKE) check-qemu
	$(MAKE) check-system
	$(MAKE) check-linux-debug

$(ASAN_BUILD)/build.ninja: | deps
	$(MESON) setup $(ASAN_BUILD) --buildtype=debug -Dwerror=true \
	    -Db_sanitize=address,undefined -Db_lundef=false

check-asan: deps $(ASAN_BUILD)/build.ninja
	$(NINJA) -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ASAN_OPTIONS=detect_leaks=1 \
	$(MESON) test -C $(ASAN_BUILD) --suite unit --print-errorlogs --num-processes 2

# ThreadSanitizer over the tests in suite 'tsan' (tests/meson.build): TC
# threads, semaphores, the device worker, resets and stops.  Any report
# fails the test (halt_on_error).  The engine locks with pthreads
# (hw/vtpu/vtpu-thread.h), which TSan understands; GLib's own locks are
# futexes it cannot see, hence G_SLICE=always-malloc (GSlice hands
# memory between threads behind such a lock).  setarch -R: GCC 12's TSan
# cannot place its shadow memory under the wider mmap randomisation of
# newer kernels.  tests/tsan.supp lists races of the emulated program,
# each with its reason; none of the engine's.
$(TSAN_BUILD)/build.ninja: | deps
	$(MESON) setup $(TSAN_BUILD) --buildtype=debugoptimized -Dwerror=true \
	    -Db_sanitize=thread

check-tsan: deps $(TSAN_BUILD)/build.ninja
	$(NINJA) -C $(TSAN_BUILD)
	G_SLICE=always-malloc \
	TSAN_OPTIONS=halt_on_error=1:suppressions=$(abspath tests/tsan.supp) \
	$(MESON) test -C $(TSAN_BUILD) --suite tsan --print-errorlogs \
	    --num-processes 2 --wrapper 'setarch -R'

# libFuzzer targets (tests/fuzz, docs/fuzzing.md): clang, ASan+UBSan,
# everything in $(FUZZ_BUILD) instrumented.  Only the fuzz targets (and
# what they embed) are built.
FUZZ_CC ?= $(shell command -v ccache >/dev/null 2>&1 && echo 'ccache clang' || echo clang)
FUZZ_TARGETS = fuzz_elf fuzz_cmd fuzz_launch fuzz_npy fuzz_snapshot

$(FUZZ_BUILD)/build.ninja: | deps
	CC="$(FUZZ_CC)" $(MESON) setup $(FUZZ_BUILD) --buildtype=debugoptimized \
	    -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined \
	    -Db_lundef=false

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	$(NINJA) -C $(FUZZ_BUILD) -j2 $(addprefix tests/fuzz/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	tests/fuzz/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_TIME)

# From the committed corpus alone, two targets at a time: about
# 2 x CHECK_FUZZ_TIME of fuzzing.
check-fuzz: fuzz-build
	FUZZ_JOBS=2 FUZZ_FRESH=1 tests/fuzz/run-fuzz.sh $(FUZZ_BUILD) \
	    $(CHECK_FUZZ_TIME)

qemu: deps
	hw/qemu/build-qemu.sh $(QEMU_BUILD)

check-qemu: qemu
	python3 tests/qemu/vtpu_qtest.py --qemu $(QEMU_BUILD)/qemu-system-riscv64
	python3 tests/qemu/guest_boundary_qtest.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64
	timeout 900 python3 tests/qemu/migration_qtest.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64
	timeout 600 python3 tests/qemu/vtpu_ici_qtest.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64

check-system: build qemu
	python3 tests/system/test_system.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD)
	python3 tests/system/test_gdb.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD)
	timeout 900 python3 tests/system/test_migrate.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD)
	python3 tests/system/test_linux.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_BUILD)
	python3 tests/system/test_linux_user.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_BUILD)
	python3 tests/system/test_linux_driver.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_BUILD)
	$(MAKE) -C driver/linux checkpatch KDIR=$(abspath $(LINUX_BUILD))/kernel

# The riscv64 Linux guest (guest/linux, docs/linux.md): kernel Image and
# initramfs in $(LINUX_BUILD); LINUX_EXTRA="HOST:GUEST ..." adds files to
# the initramfs (also guest/linux/extra-files.txt).
#   make linux        build it (installs its packages; ~/.cache/vtpu caches)
#   make linux-debug  the debug kernel (KASAN, lockdep...) in $(BUILD)/linux-debug
#   make run-linux    boot it with a vtpu, a root shell on the console
#                     (LINUX_RUN='cmd' runs cmd instead and exits with its status)
#   make check-linux  the Linux system test alone (also in check-system)
LINUX_BUILD ?= $(BUILD)/linux
LINUX_EXTRA ?=
LINUX_RUN ?=
.PHONY: linux linux-debug run-linux check-linux

linux:
	guest/linux/build-linux.sh --out $(LINUX_BUILD) \
	    $(addprefix --extra ,$(LINUX_EXTRA))

linux-debug:
	guest/linux/build-linux.sh --variant debug --out $(LINUX_DEBUG_BUILD) \
	    $(addprefix --extra ,$(LINUX_EXTRA))

run-linux: linux qemu
	guest/linux/run-linux.sh --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    --dir $(LINUX_BUILD) $(if $(LINUX_RUN),--run '$(LINUX_RUN)')

check-linux: linux qemu
	python3 tests/system/test_linux.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_BUILD)

check-system: linux

# Linux user space (guest/linux-user, docs/linux.md "User space"): the
# runtime with its Linux backend (driver/linux/user), vtpu-run,
# vtpu-demo, vtpu-selftest and vtpu-latency for riscv64 Linux, static, in
# $(BUILD)/linux-user/rootfs with the kernel modules they load.
# guest/linux/extra-files.txt puts that tree into the initramfs (make
# linux-driver after it); guest/linux-user/run-user.sh adds it and vtpu.ko
# to a boot as they are, so a stale image does not matter.
#   make linux-user        build them
#   make check-linux-user  their system test alone (also in check-system)
.PHONY: linux-user check-linux-user

linux-user: build
	$(MAKE) -f guest/linux-user/linux-user.mk \
	    OUT=$(abspath $(BUILD))/linux-user \
	    FIRMWARE=$(abspath $(BUILD))/firmware/kernels

check-linux-user: linux-user linux-driver qemu
	python3 tests/system/test_linux_user.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_BUILD)

check-system: linux-user

# The DRM accel driver (driver/linux, docs/linux.md "The driver"): vtpu.ko
# and its guest test program vtpu-test in $(BUILD)/driver/linux, built
# against $(LINUX_BUILD)/kernel; then the initramfs again, so that /init
# loads /lib/modules/vtpu.ko (guest/linux/extra-files.txt).
#   make linux-driver        build them
#   make check-linux-driver  the driver's system test alone (also in
#                            check-system)
.PHONY: linux-driver check-linux-driver

linux-driver: linux build
	$(MAKE) -C driver/linux all KDIR=$(abspath $(LINUX_BUILD))/kernel \
	    OUT=$(abspath $(BUILD))/driver/linux
	guest/linux/build-linux.sh --initramfs-only --out $(LINUX_BUILD) \
	    $(addprefix --extra ,$(LINUX_EXTRA))

check-linux-driver: linux-driver qemu
	python3 tests/system/test_linux_driver.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_BUILD)
	$(MAKE) -C driver/linux checkpatch KDIR=$(abspath $(LINUX_BUILD))/kernel

check-system: linux-driver

# The driver's system test once more on the debug kernel (guest/linux/
# debug.config: KASAN, lockdep, DEBUG_OBJECTS, DMA-API debugging): the
# kernel in $(LINUX_DEBUG_BUILD), vtpu.ko built against it in
# $(LINUX_DEBUG_BUILD)/driver and booted in place of the image's; any
# report fails (tests/system/test_linux_driver.py --debug-kernel).
#   make check-linux-debug   build all that and run it (also in check)
LINUX_DEBUG_BUILD ?= $(BUILD)/linux-debug
.PHONY: check-linux-debug linux-debug-driver

linux-debug-driver: linux-user linux-debug linux-driver
	$(MAKE) -C driver/linux modules KDIR=$(abspath $(LINUX_DEBUG_BUILD))/kernel \
	    OUT=$(abspath $(LINUX_DEBUG_BUILD))/driver
	guest/linux/build-linux.sh --variant debug --initramfs-only \
	    --out $(LINUX_DEBUG_BUILD) $(addprefix --extra ,$(LINUX_EXTRA)) \
	    --extra $(LINUX_DEBUG_BUILD)/driver/vtpu.ko:/lib/modules/

check-linux-debug: linux-debug-driver qemu
	python3 tests/system/test_linux_driver.py --debug-kernel \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_DEBUG_BUILD) \
	    --module $(LINUX_DEBUG_BUILD)/driver/vtpu.ko
	python3 tests/system/test_linux_gdb.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD) \
	    --linux-dir $(LINUX_DEBUG_BUILD)

# The debug kernel halted under QEMU's gdb stub (GDB_PORT), vtpu.ko's
# symbols through the kernel's lx-symbols, and the vtpu's own stub for
# the TCs' kernels (TC_GDB_PORT); the console is this terminal.  In
# another shell: gdb-multiarch -x $(LINUX_DEBUG_BUILD)/gdbinit
# (docs/debugging.md "Debugging the Linux driver").
GDB_PORT ?= 1234
TC_GDB_PORT ?= 1235
.PHONY: debug-linux
debug-linux: linux-debug-driver qemu
	guest/linux/run-linux.sh --variant debug --dir $(LINUX_DEBUG_BUILD) \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    --gdb $(GDB_PORT) --tc-gdb $(TC_GDB_PORT)

bench: build
	bench/run-all.sh $(BUILD)
	python3 bench/plot.py

# Bare metal and Linux user space in one run (guest/run-bench.sh).
bench-guest: build qemu linux-user linux-driver
	VTPU_QEMU=$(abspath $(QEMU_BUILD))/qemu-system-riscv64 \
	VTPU_LINUX_DIR=$(abspath $(LINUX_BUILD)) \
	    guest/run-bench.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
