# linux-user.mk - the runtime and tools for riscv64 Linux user space
# (docs/linux.md, "User space"), built statically with Debian's
# riscv64-linux-gnu-gcc and glibc (libc6-dev-riscv64-cross):
#
#   make -f guest/linux-user/linux-user.mk [OUT=build/linux-user]
#        [FIRMWARE=build/firmware/kernels]
#
# (the top-level Makefile's `make linux-user` does this after the host
# build, which makes the kernel modules).  Output: OUT/rootfs, a tree that
# guest/linux/extra-files.txt puts into the initramfs as it is:
#   /usr/bin/vtpu-run        vtpu-run's kernel mode over /dev/accel/accel0
#   /usr/bin/vtpu-demo       the demo (guest/demo/demo.c) in user space
#   /usr/bin/vtpu-selftest   the runtime's tests through the kernel driver
#   /usr/bin/vtpu-latency    launch latency/throughput (make bench-guest)
#   /usr/bin/vtpu-slice      collectives over every vtpu of a vtpu-ici slice
#   /usr/share/vtpu/kernels.elf, selftest.elf   the kernel modules
#   /usr/share/vtpu/x.npy, y.npy   inputs for a vtpu-run example
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
OUT ?= $(ROOT)/build/linux-user
FIRMWARE ?= $(ROOT)/build/firmware/kernels
CROSS ?= riscv64-linux-gnu-
CCACHE := $(shell command -v ccache 2>/dev/null)
CC := $(CCACHE) $(CROSS)gcc
AR := $(CROSS)ar

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -ffp-contract=off -MMD -MP
CPPFLAGS := -I$(ROOT)/driver -I$(ROOT)/driver/linux/user \
	-I$(ROOT)/driver/linux/uapi -I$(ROOT)/hw/vtpu/abi -I$(ROOT)/tools \
	-I$(ROOT)/guest/common -I$(ROOT)/guest/demo -I$(ROOT)/guest/slice \
	-I$(ROOT)/guest/linux-user
LDFLAGS := -static -s

# The portable runtime (the ring backend too: it costs nothing unused)
# and its Linux backend.
LIB_SRC := driver/vtpu_drv.c driver/vtpu_heap.c driver/vtpu_module.c \
	driver/vtpu_rt.c driver/vtpu_rt_ring.c hw/vtpu/abi/vtpu-elf.c \
	driver/linux/user/vtpu_rt_linux.c
LU := guest/linux-user/linux-user.c

RUN_SRC := tools/vtpu-run-linux.c tools/run-kernel.c tools/npy.c \
	tools/module-image.c
DEMO_SRC := guest/linux-user/vtpu-demo.c guest/demo/demo.c $(LU)
SELFTEST_SRC := guest/linux-user/vtpu-selftest.c guest/common/selftest.c \
	guest/common/tiny_elf.c $(LU)
LATENCY_SRC := guest/linux-user/vtpu-latency.c guest/common/tiny_elf.c $(LU)
SLICE_SRC := guest/linux-user/vtpu-slice.c guest/slice/slice-coll.c $(LU)

obj = $(patsubst %.c,$(OUT)/obj/%.o,$(1))
LIB := $(OUT)/libvtpu-rt.a
BIN := $(OUT)/rootfs/usr/bin
SHARE := $(OUT)/rootfs/usr/share/vtpu
PROGS := $(BIN)/vtpu-run $(BIN)/vtpu-demo $(BIN)/vtpu-selftest \
	$(BIN)/vtpu-latency $(BIN)/vtpu-slice
DATA := $(SHARE)/kernels.elf $(SHARE)/selftest.elf $(SHARE)/x.npy \
	$(SHARE)/y.npy

.PHONY: all
all: $(PROGS) $(DATA)

$(OUT)/obj/%.o: $(ROOT)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(call obj,$(LIB_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/vtpu-run: $(call obj,$(RUN_SRC)) $(LIB)
$(BIN)/vtpu-demo: $(call obj,$(DEMO_SRC)) $(LIB)
$(BIN)/vtpu-selftest: $(call obj,$(SELFTEST_SRC)) $(LIB)
$(BIN)/vtpu-latency: $(call obj,$(LATENCY_SRC)) $(LIB)
$(BIN)/vtpu-slice: $(call obj,$(SLICE_SRC)) $(LIB)
$(PROGS):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(SHARE)/%.elf: $(FIRMWARE)/%.elf
	@mkdir -p $(dir $@)
	install -m 0644 $< $@

$(SHARE)/x.npy $(SHARE)/y.npy: $(ROOT)/guest/linux-user/make-npy.py
	python3 $< $(SHARE)
	@touch $(SHARE)/x.npy $(SHARE)/y.npy

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)
