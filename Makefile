# vtpu top-level Makefile: the two commands of the README and helpers.
#   make demo    install what is missing, build, run the demo
#   make check   install what is missing, build, run every test suite
#                (and the unit tests again under ASan+UBSan)
#   make bench   run the benchmarks, JSON lines into bench/results/
#   make qemu    build qemu-system-riscv64 with the vtpu device into
#                $(BUILD)/qemu (hw/qemu/build-qemu.sh, docs/qemu.md)
#   make check-qemu  the device's qtests against that QEMU

BUILD      ?= build
ASAN_BUILD ?= build-asan
QEMU_BUILD ?= $(BUILD)/qemu
MESON      ?= meson
NINJA      ?= ninja

.PHONY: all deps build demo check check-asan check-qemu qemu bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	$(MESON) setup $(BUILD) --buildtype=debugoptimized -Dwerror=true

build: deps $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

demo: build
	$(BUILD)/tools/vtpu-run --bare $(BUILD)/firmware/demo.elf --gen v5p

check: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2
	$(MAKE) check-asan
	$(MAKE) check-qemu

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

bench: build
	bench/run-all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
