# vtpu top-level Makefile: the two commands of the README and helpers.
#   make demo    install what is missing, build (QEMU too), boot the
#                bare-metal guest demo in QEMU with a vtpu (guest/)
#   make demo-engine  the engine-only demo (vtpu-run, no QEMU)
#   make debug   the guest demo in QEMU, halted, gdb stub on :1234
#                (GUEST=program; docs/debugging.md)
#   make check   install what is missing, build, run every test suite
#                (and the unit tests again under ASan+UBSan, the QEMU
#                qtests and the system tests)
#   make bench   run the benchmarks, JSON lines into bench/results/ and a
#                chart of the latest run (bench/results/latest.png)
#   make bench-guest  guest latency/throughput in QEMU (guest/run-bench.sh)
#   make qemu    build qemu-system-riscv64 with the vtpu device into
#                $(BUILD)/qemu (hw/qemu/build-qemu.sh, docs/qemu.md)
#   make check-qemu  the device's qtests against that QEMU
#   make check-system  boot the guest programs in that QEMU (tests/system)

BUILD      ?= build
ASAN_BUILD ?= build-asan
QEMU_BUILD ?= $(BUILD)/qemu
MESON      ?= meson
NINJA      ?= ninja

.PHONY: all deps build demo demo-engine debug check check-asan check-qemu \
	check-system qemu bench bench-guest format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	$(MESON) setup $(BUILD) --buildtype=debugoptimized -Dwerror=true

build: deps $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

GUEST ?= vtpu-demo

demo: build qemu
	guest/run-guest.sh --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    $(BUILD)/guest/vtpu-demo.elf

demo-engine: build
	$(BUILD)/tools/vtpu-run --bare $(BUILD)/firmware/demo.elf --gen v5p

debug: build qemu
	guest/run-guest.sh --debug --qemu $(QEMU_BUILD)/qemu-system-riscv64 \
	    $(BUILD)/guest/$(GUEST).elf

# QEMU is built first: the gdb suite's QEMU session needs it.
check: build qemu
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2
	$(MAKE) check-asan
	$(MAKE) check-qemu
	$(MAKE) check-system

$(ASAN_BUILD)/build.ninja: | deps
	$(MESON) setup $(ASAN_BUILD) --buildtype=debug -Dwerror=true \
	    -Db_sanitize=address,undefined -Db_lundef=false

check-asan: deps $(ASAN_BUILD)/build.ninja
	$(NINJA) -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ASAN_OPTIONS=detect_leaks=1 \
	$(MESON) test -C $(ASAN_BUILD) --suite unit --print-errorlogs --num-processes 2

qemu: deps
	hw/qemu/build-qemu.sh $(QEMU_BUILD)

check-qemu: qemu
	python3 tests/qemu/vtpu_qtest.py --qemu $(QEMU_BUILD)/qemu-system-riscv64
	python3 tests/qemu/guest_boundary_qtest.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64

check-system: build qemu
	python3 tests/system/test_system.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD)
	python3 tests/system/test_gdb.py \
	    --qemu $(QEMU_BUILD)/qemu-system-riscv64 --build $(BUILD)

bench: build
	bench/run-all.sh $(BUILD)
	python3 bench/plot.py

bench-guest: build qemu
	VTPU_QEMU=$(abspath $(QEMU_BUILD))/qemu-system-riscv64 \
	    guest/run-bench.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
