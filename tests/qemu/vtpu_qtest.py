#!/usr/bin/env python3
"""vtpu_qtest.py - qtests of the vtpu PCI device in qemu-system-riscv64.

    tests/qemu/vtpu_qtest.py [--qemu PATH] [unittest options]

Each test starts its own QEMU (-accel qtest, no guest CPU runs), probes
and configures the device through ECAM like firmware would, and drives it
through BAR0, BAR2 and a command ring in guest RAM.  The register map and
command formats are docs/registers.md; the constants below are the ones
of hw/vtpu/abi/vtpu-regs.h.
"""

import argparse
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest import QEMU, PCIDevice, QTestError, VIRT_DRAM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
QEMU_BIN = os.environ.get("VTPU_QEMU",
                          os.path.join(ROOT, "build/qemu/qemu-system-riscv64"))
SLOT = 2

# --- vtpu-regs.h, parsed (vtpu_regs.py): nothing here is copied by hand --
from vtpu_regs import REG, OP, ERR, FAULT, CONST, fmask  # noqa: E402,F401

globals().update(REG)  # ID, CAPS, ..., RING_TAIL, ERR_MSG: byte offsets
MAGIC = CONST["VTPU_ID_MAGIC"]


def _launch_const(name):
    """A #define of vtpu-launch.h (the launch descriptor's ABI)."""
    with open(os.path.join(ROOT, "hw/vtpu/abi/vtpu-launch.h")) as f:
        m = re.search(r"^#define %s (0x[0-9a-fA-F]+|\d+)u?\b" % name,
                      f.read(), re.M)
    return int(m.group(1), 0)


LAUNCH_MAGIC = _launch_const("VTPU_LAUNCH_MAGIC")
LAUNCH_VERSION = _launch_const("VTPU_LAUNCH_VERSION")
ST_DISABLED, ST_IDLE, ST_BUSY, ST_ERROR, ST_RESETTING = (
    CONST["VTPU_STATE_" + n]
    for n in ("DISABLED", "IDLE", "BUSY", "ERROR", "RESETTING"))
INT_FENCE, INT_ERROR, INT_IDLE, INT_PROGRESS = (
    fmask("INT", n) for n in ("FENCE", "ERROR", "IDLE", "PROGRESS"))
OP_NOP, OP_H2D, OP_D2H, OP_D2D, OP_FILL, OP_LOAD_PROG, OP_LAUNCH, OP_FENCE = (
    OP[n] for n in ("NOP", "COPY_H2D", "COPY_D2H", "COPY_D2D", "FILL",
                    "LOAD_PROG", "LAUNCH", "FENCE"))
FENCE_IRQ = CONST["VTPU_FENCE_F_IRQ"]
FENCE_WB = CONST["VTPU_FENCE_F_WRITEBACK"]
LAUNCH_RESULT = CONST["VTPU_LAUNCH_F_RESULT"]
LAUNCH_CHECK_EXIT = CONST["VTPU_LAUNCH_F_CHECK_EXIT"]
globals().update({"E_" + n: v for n, v in ERR.items()})
ACK_SKIP, ACK_ABORT = CONST["VTPU_ACK_SKIP"], CONST["VTPU_ACK_ABORT"]

RING = VIRT_DRAM + 0x100000      # ring in guest RAM
DATA = VIRT_DRAM + 0x200000      # host-side buffers
UNMAPPED = 0x7f0000000000        # nothing decodes this bus address
UART = 0x10000000                # MMIO, not RAM: DMA must refuse it


def cmd(op, flags=0, arg=0, src=0, dst=0, length=0, args=(0, 0, 0, 0),
        addr=0, hdr=None, ranges=0):
    if hdr is None:
        hdr = op | flags << 8
    return struct.pack("<IIQQQ4IQQ", hdr, arg, src, dst, length, *args,
                       addr, ranges)


def tiny_elf(words):
    """An RV32 ET_EXEC with one PT_LOAD of `words` at IMEM (0x100000)."""
    code = struct.pack("<%dI" % len(words), *words)
    ehsize, phsize = 52, 32
    off = ehsize + phsize
    entry = 0x00100000
    eh = struct.pack("<4sBBBB8xHHIIIIIHHHHHH", b"\x7fELF", 1, 1, 1, 0,
                     2, 243, 1, entry, ehsize, 0, 0, ehsize, phsize, 1,
                     40, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, off, entry, entry, len(code), len(code),
                     5, 4)
    return eh + ph + code


# exit(a2): addi a0, a2, 0; addi a7, zero, 93; ecall
EXIT_A2 = tiny_elf([0x00060513, 0x05d00893, 0x00000073])
# for (;;);
SPIN = tiny_elf([0x0000006f])
# TC 0: sem.wait(0, 1) (blocks: nobody signals); other TCs: for (;;);
#   bnez a0, spin; addi t0, zero, 1; sem.wait zero, t0; j .; spin: j .
WAIT0_SPIN = tiny_elf([0x00051863, 0x00100293, 0x0050307b, 0x0000006f,
                       0x0000006f])


class Vtpu:
    """The device as a test sees it: config space, BARs, a ring."""

    def __init__(self, q, slot=SLOT, bus=0):
        self.q = q
        self.pci = PCIDevice(q, slot, bus=bus)
        self.bars = self.pci.assign_bars()
        self.regs = self.bars[0][0]
        self.ap, self.ap_size = self.bars[2]
        self.ring_size = 0
        self.tail = 0

    def rd(self, off): return self.q.readl(self.regs + off)
    def wr(self, off, v): self.q.writel(self.regs + off, v)

    def state(self): return self.rd(STATUS) & 0xf

    def wait(self, pred, what, timeout=10.0):
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise AssertionError("timeout waiting for " + what)
            time.sleep(0.002)

    def setup_ring(self, size=16, base=RING, int_enable=0xf):
        if VIRT_DRAM <= base < VIRT_DRAM + (128 << 20):
            self.q.memset(base, size * 64, 0)
        self.wr(CONTROL, 0)
        self.wr(RING_BASE_LO, base & 0xffffffff)
        self.wr(RING_BASE_HI, base >> 32)
        self.wr(RING_SIZE, size)
        self.wr(INT_ENABLE, int_enable)
        self.wr(CONTROL, 1)
        self.ring_base, self.ring_size, self.tail = base, size, 0

    def submit(self, *cmds):
        for c in cmds:
            self.q.write(self.ring_base + 64 * self.tail, c)
            self.tail = (self.tail + 1) % self.ring_size
        self.wr(RING_TAIL, self.tail)

    def settle(self, timeout=10.0):
        """Wait until the ring drained or the device stopped on an error."""
        def done():
            st = self.state()
            return st == ST_ERROR or (st == ST_IDLE and
                                      self.rd(RING_HEAD) == self.tail)
        self.wait(done, "ring to settle", timeout)
        return self.state()

    def run(self, *cmds, timeout=10.0):
        self.submit(*cmds)
        return self.settle(timeout)

    def err_msg(self):
        raw = self.q.read(self.regs + ERR_MSG, 256)
        return raw.split(b"\0", 1)[0].decode(errors="replace")

    def system_reset(self):
        """Reset the machine; firmware would then assign the BARs again."""
        self.q.qmp("system_reset")
        self.wait(lambda: self.pci.cfg_readw(0x04) & 0x6 == 0,
                  "PCI reset (command register cleared)")
        return Vtpu(self.q)

    def soft_reset(self):
        self.wr(CONTROL, 1 << 31)
        self.wait(lambda: self.state() == ST_DISABLED, "soft reset")


def start(*props, timeout=60.0, extra=()):
    dev = ",".join(["vtpu", "addr=%d.0" % SLOT] + list(props))
    return QEMU(QEMU_BIN, ["-device", dev] + list(extra), timeout=timeout)


SMALL = ("hbm-size=64M",)


class Identity(unittest.TestCase):
    def test_pci_identity_and_bars(self):
        with start(*SMALL) as q:
            pci = PCIDevice(q, SLOT)
            self.assertEqual(pci.cfg_readw(0x0), 0x1af4)
            self.assertEqual(pci.cfg_readw(0x2), 0x10f7)
            self.assertEqual(pci.cfg_readw(0x2c), 0x1af4)
            self.assertEqual(pci.cfg_readw(0x2e), 0x1100)
            self.assertEqual(pci.cfg_readl(0x8) >> 16, 0x1200)
            self.assertEqual(pci.cfg_readb(0x8), 1)  # revision = major
            self.assertEqual(pci.cfg_readb(0x3d), 1)  # INTA
            self.assertEqual(pci.bar_info(0), (0x1000, False, False))
            self.assertEqual(pci.bar_info(2), (16 << 20, True, True))
            self.assertIsNotNone(pci.bar_info(4))      # MSI-X table
            self.assertIsNotNone(pci.find_cap(0x11))   # MSI-X capability

    def test_registers_follow_properties(self):
        with start("gen=v4", "cores=1", "hbm-size=32M", "vmem-size=4M",
                   "smem-size=256K", "aperture-size=1M") as q:
            d = Vtpu(q)
            self.assertEqual(d.ap_size, 1 << 20)
            self.assertEqual(d.rd(ID), MAGIC)
            self.assertEqual(d.rd(VERSION) >> 16, 1)
            self.assertEqual(d.rd(CAPS) & 0xf, 0xf)
            self.assertEqual(struct.pack("<I", d.rd(GEN)), b"v4\0\0")
            self.assertEqual(d.rd(NUM_TCS), 1)
            self.assertEqual(d.rd(HBM_SIZE_LO), 32 << 20)
            self.assertEqual(d.rd(HBM_SIZE_HI), 0)
            self.assertEqual(q.readq(d.regs + HBM_SIZE_LO), 32 << 20)
            self.assertEqual(d.rd(VMEM_SIZE), 4 << 20)
            self.assertEqual(d.rd(SMEM_SIZE), 256 << 10)
            self.assertEqual(d.rd(VREG_SHAPE), 8 | 128 << 8 | 32 << 24)
            self.assertEqual(d.rd(VREG_COUNT), 32 | 8 << 8)
            self.assertEqual(d.rd(MXU) & 0xffff, 128)
            self.assertEqual(d.rd(LIMITS), 16 | 16 << 8)
            self.assertEqual(d.rd(APERTURE_SIZE), 1 << 20)
            self.assertEqual(d.state(), ST_DISABLED)
            d.wr(SCRATCH, 0xdeadbeef)
            self.assertEqual(d.rd(SCRATCH), 0xdeadbeef)

    def test_presets(self):
        for gen, tcs, mxu in (("v5e", 1, 128), ("v5p", 2, 128),
                              ("v6e", 1, 256)):
            with start("gen=" + gen, *SMALL) as q:
                d = Vtpu(q)
                self.assertEqual(struct.pack("<I", d.rd(GEN)).rstrip(b"\0"),
                                 gen.encode())
                self.assertEqual(d.rd(NUM_TCS), tcs)
                self.assertEqual(d.rd(MXU) & 0xffff, mxu)

    def test_help_lists_properties(self):
        import subprocess
        out = subprocess.run([QEMU_BIN, "-M", "virt", "-device", "vtpu,help"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        for p in ("gen=", "cores=", "hbm-size=", "vmem-size=", "smem-size=",
                  "imem-size=", "insn-budget=", "aperture-size=", "msix="):
            self.assertIn(p, out.stdout)
        self.assertIn("TensorCores", out.stdout)

    def test_bad_properties_refused(self):
        import subprocess
        for prop, name in (("cores=99", "cores"), ("gen=v9", "gen"),
                           ("hbm-size=banana", "hbm-size"),
                           ("aperture-size=12345", "aperture-size")):
            out = subprocess.run(
                [QEMU_BIN, "-M", "virt", "-display", "none", "-nodefaults",
                 "-accel", "qtest", "-qtest", "null",
                 "-device", "vtpu," + prop], capture_output=True, text=True,
                timeout=30)
            self.assertNotEqual(out.returncode, 0, prop)
            self.assertIn(name, out.stderr, prop)


class Commands(unittest.TestCase):
    def test_copies_fill_fence(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            payload = bytes(random.Random(1).randrange(256)
                            for _ in range(8192))
            q.write(DATA, payload)
            st = d.run(cmd(OP_H2D, src=DATA, dst=0x1000, length=8192),
                       cmd(OP_D2D, src=0x1000, dst=0x10000, length=8192),
                       cmd(OP_FILL, dst=0x20000, length=64, arg=0xa5a5f00d),
                       cmd(OP_D2H, src=0x10000, dst=DATA + 0x10000,
                           length=8192),
                       cmd(OP_NOP),
                       cmd(OP_FENCE, FENCE_IRQ | FENCE_WB, arg=42,
                           addr=DATA + 0x30000))
            self.assertEqual(st, ST_IDLE, d.err_msg())
            self.assertEqual(q.read(DATA + 0x10000, 8192), payload)
            # BAR2 shows HBM (RAM-backed window).
            self.assertEqual(q.read(d.ap + 0x1000, 8192), payload)
            self.assertEqual(q.readl(d.ap + 0x20000), 0xa5a5f00d)
            self.assertEqual(q.readl(d.ap + 0x2003c), 0xa5a5f00d)
            self.assertEqual(d.rd(FENCE), 42)
            self.assertEqual(q.readl(DATA + 0x30000), 42)
            self.assertEqual(d.rd(CMD_COUNT), 6)
            self.assertEqual(d.rd(BYTES_IN_LO), 8192)
            self.assertEqual(d.rd(BYTES_OUT_LO), 8192)
            self.assertEqual(d.rd(INT_STATUS) & 0xf,
                             INT_FENCE | INT_IDLE | INT_PROGRESS)
            self.assertEqual(d.rd(RING_HEAD), 6)

    def test_intx(self):
        with start(*SMALL, "msix=off") as q:
            d = Vtpu(q)
            d.setup_ring(int_enable=INT_FENCE)
            self.assertFalse(d.pci.intx_pending())
            d.run(cmd(OP_FENCE, FENCE_IRQ, arg=1))
            d.wait(d.pci.intx_pending, "INTx to rise")
            d.wr(INT_STATUS, INT_FENCE)
            d.wait(lambda: not d.pci.intx_pending(), "INTx to fall")
            # A fence without F_IRQ leaves the line low.
            d.run(cmd(OP_FENCE, arg=2))
            self.assertEqual(d.rd(FENCE), 2)
            time.sleep(0.05)
            self.assertFalse(d.pci.intx_pending())

    def test_msix(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            cap = d.pci.find_cap(0x11)
            table_bir = d.pci.cfg_readl(cap + 4)
            table = d.bars[table_bir & 7][0] + (table_bir & ~7)
            msg_addr = DATA + 0x40000
            q.writel(table + 0, msg_addr & 0xffffffff)
            q.writel(table + 4, msg_addr >> 32)
            q.writel(table + 8, 0x1234)
            q.writel(table + 12, 0)  # unmasked
            d.pci.cfg_writew(cap + 2, 0x8000)  # MSI-X enable
            d.setup_ring(int_enable=INT_FENCE)
            d.run(cmd(OP_FENCE, FENCE_IRQ, arg=7))
            d.wait(lambda: q.readl(msg_addr) == 0x1234, "MSI-X message")
            self.assertFalse(d.pci.intx_pending())

    def test_every_raise_delivered_both_paths(self):
        """Each completion interrupt arrives, delivered on the worker
        (x-irq-direct, default; also with the worker polling for the
        next doorbell, x-worker-spin) or through the main loop's bottom
        half: an MSI-X message per fence; the latency probes and `info
        vtpu` account for them."""
        for prop in ("x-irq-direct=on", "x-irq-direct=off",
                     "x-worker-spin=200"):
            direct = "off" if prop == "x-irq-direct=off" else "on"
            with start(*SMALL, prop) as q:
                d = Vtpu(q)
                cap = d.pci.find_cap(0x11)
                table_bir = d.pci.cfg_readl(cap + 4)
                table = d.bars[table_bir & 7][0] + (table_bir & ~7)
                msg_addr = DATA + 0x40000
                q.writel(table + 0, msg_addr & 0xffffffff)
                q.writel(table + 4, msg_addr >> 32)
                q.writel(table + 8, 0x1234)
                q.writel(table + 12, 0)
                d.pci.cfg_writew(cap + 2, 0x8000)  # MSI-X enable
                d.setup_ring(int_enable=INT_FENCE)
                self.assertTrue(d.rd(CAPS) & 1 << 5)  # LATENCY
                for k in range(1, 41):
                    q.writel(msg_addr, 0)
                    d.run(cmd(OP_FENCE, FENCE_IRQ, arg=k))
                    d.wait(lambda: q.readl(msg_addr) == 0x1234,
                           "MSI-X message %d (%s)" % (k, prop))
                    d.wr(INT_STATUS, INT_FENCE)
                self.assertEqual(d.rd(FENCE), 40)
                self.assertGreater(d.rd(LAT_BUSY), 0)
                self.assertGreater(d.rd(LAT_IRQ), 0)
                self.assertGreater(d.rd(LAT_DELIVER), 0)
                out = q.hmp("info vtpu")
                m = re.search(r"interrupt delivery: (\d+) raises, (\d+) of "
                              r"them deferred", out)
                self.assertIsNotNone(m, out)
                self.assertGreaterEqual(int(m.group(1)), 40, out)
                if direct == "off":
                    self.assertGreaterEqual(int(m.group(2)), 40, out)
                self.assertIn("last round trip (us): wake ", out)

    def test_msix_aimed_at_own_registers(self):
        """A guest that points the MSI-X message at the device's own BAR0
        (RING_TAIL, SCRATCH, INT_ENABLE) must not hang QEMU: delivering
        the message would re-enter the device from its own interrupt
        path.  The write is dropped and logged; the device goes on."""
        for direct in ("on", "off"):
            with start(*SMALL, "x-irq-direct=" + direct) as q:
                d = Vtpu(q)
                cap = d.pci.find_cap(0x11)
                table_bir = d.pci.cfg_readl(cap + 4)
                table = d.bars[table_bir & 7][0] + (table_bir & ~7)
                d.setup_ring(int_enable=INT_FENCE)
                for reg, data in ((SCRATCH, 0x1234), (INT_ENABLE, 0),
                                  (RING_TAIL, 3)):
                    q.writel(table + 0, (d.regs + reg) & 0xffffffff)
                    q.writel(table + 4, (d.regs + reg) >> 32)
                    q.writel(table + 8, data)
                    q.writel(table + 12, 0)
                    d.pci.cfg_writew(cap + 2, 0x8000)  # MSI-X enable
                    d.wr(SCRATCH, 0x55)
                    for k in range(3):
                        # raised by the worker (x-irq-direct: delivered
                        # there when the BQL is free) ...
                        d.run(cmd(OP_FENCE, FENCE_IRQ, arg=k + 1))
                        d.wr(INT_STATUS, INT_FENCE)
                        # ... and by a register write, delivered by the
                        # writing thread itself
                        d.wr(INT_ENABLE, 0)
                        d.run(cmd(OP_FENCE, FENCE_IRQ, arg=k + 1))
                        d.wr(INT_ENABLE, INT_FENCE)
                        d.wr(INT_STATUS, INT_FENCE)
                    self.assertEqual(d.rd(SCRATCH), 0x55)
                    self.assertEqual(d.rd(INT_ENABLE), INT_FENCE)
                    self.assertEqual(d.rd(FENCE), 3)
                    self.assertEqual(d.rd(ERR_CODE), 0)

    def test_launch(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            q.write(DATA, EXIT_A2)
            st = d.run(cmd(OP_H2D, src=DATA, dst=0x100000, length=len(EXIT_A2)),
                       cmd(OP_LOAD_PROG, arg=3, src=0x100000,
                           length=len(EXIT_A2)),
                       cmd(OP_LAUNCH, LAUNCH_RESULT, arg=3 | 1 << 8,
                           args=(5, 0, 0, 0), addr=DATA + 0x1000),
                       cmd(OP_FENCE, arg=9))
            self.assertEqual(st, ST_IDLE, d.err_msg())
            self.assertEqual(d.rd(LAST_EXIT), 5)
            self.assertEqual(d.rd(LAUNCH_COUNT), 1)
            status, code, ntcs = struct.unpack("<IiI", q.read(DATA + 0x1000, 12))
            self.assertEqual((status, code, ntcs), (0, 5, 1))
            # F_CHECK_EXIT turns the non-zero exit into an error.
            st = d.run(cmd(OP_LAUNCH, LAUNCH_CHECK_EXIT, arg=3,
                           args=(6, 0, 0, 0)))
            self.assertEqual(st, ST_ERROR)
            self.assertEqual(d.rd(ERR_CODE), 12)
            self.assertEqual(d.rd(ERR_VALUE), 6)

    def test_reset_stops_a_running_kernel(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            q.write(DATA, SPIN)
            d.run(cmd(OP_H2D, src=DATA, dst=0, length=len(SPIN)),
                  cmd(OP_LOAD_PROG, arg=0, src=0, length=len(SPIN)))
            d.submit(cmd(OP_LAUNCH, arg=0))
            time.sleep(0.2)
            self.assertEqual(d.state(), ST_BUSY)
            t0 = time.monotonic()
            d = d.system_reset()
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(d.rd(RING_SIZE), 0)
            self.assertEqual(d.state(), ST_DISABLED)
            self.assertEqual(d.rd(ID), MAGIC)

    def test_quit_while_kernel_runs(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            q.write(DATA, SPIN)
            d.run(cmd(OP_H2D, src=DATA, dst=0, length=len(SPIN)),
                  cmd(OP_LOAD_PROG, arg=0, src=0, length=len(SPIN)))
            d.submit(cmd(OP_LAUNCH, arg=0))
            time.sleep(0.2)
            self.assertEqual(d.state(), ST_BUSY)
            try:
                q.qmp("quit")
            except QTestError:
                pass
            self.assertEqual(q.proc.wait(10), 0, q.stderr())


# PCIe native hot-plug through a pcie-root-port (the virt machine's root
# bus has no hot-plug controller).  Slot registers in the root port's PCI
# Express capability, and QEMU 7.2's behaviour (hw/pci/pcie.c):
#   - device_del on a powered slot "presses the attention button" (SLTSTA
#     ABP); the device goes when the guest writes SLTCTL with the power
#     controller off (PCC) and the power indicator off, which is what
#     Linux pciehp does after the button press;
#   - device_add into an empty slot (powered off since reset) sets
#     presence detect (PDS) and keeps the function unpowered (config reads
#     all-ones) until the guest writes SLTCTL with PCC clear.
RP_SLOT, RP_BUS = 3, 1
EXP_SLTCTL, EXP_SLTSTA = 0x18, 0x1a
SLTCTL_PIC, SLTCTL_PIC_ON, SLTCTL_PIC_BLINK, SLTCTL_PIC_OFF = \
    0x300, 0x100, 0x200, 0x300
SLTCTL_PCC = 0x400               # 1 = power off
SLTSTA_ABP, SLTSTA_PDC, SLTSTA_PDS = 0x01, 0x08, 0x40


def proc_status(pid):
    """(VmRSS in KiB, thread count) of a process."""
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.split()
    return int(st["VmRSS"][0]), int(st["Threads"][0])


class Hotplug(unittest.TestCase):
    """Hot-unplug (and re-plug) behind a pcie-root-port while a kernel
    spins, with the guest's side of the PCIe native hot-plug handshake
    done through the root port's Slot Control/Status registers."""

    DEV = ("hbm-size=64M",)
    TOUCH = 16 << 20             # HBM bytes filled per device: leak probe

    def start(self):
        q = QEMU(QEMU_BIN, [
            "-device", "pcie-root-port,id=rp0,slot=1,chassis=1,addr=%d.0"
            % RP_SLOT,
            "-device", ",".join(("vtpu", "bus=rp0", "id=tpu0") + self.DEV)],
            timeout=120)
        q.start()
        self.addCleanup(q.kill)
        rp = PCIDevice(q, RP_SLOT)
        self.assertEqual(rp.cfg_readw(0x0a), 0x0604)     # PCI-to-PCI bridge
        exp = rp.find_cap(0x10)
        self.assertIsNotNone(exp)
        rp.setup_bridge(RP_BUS, 0x40000000, 0x4fffffff)
        return q, rp, exp

    def slot(self, rp, exp):
        return rp.cfg_readw(exp + EXP_SLTCTL), rp.cfg_readw(exp + EXP_SLTSTA)

    def wait_slot(self, rp, exp, mask, what):
        end = time.monotonic() + 10
        while not self.slot(rp, exp)[1] & mask:
            if time.monotonic() > end:
                raise AssertionError("timeout waiting for " + what)
            time.sleep(0.002)
        rp.cfg_writew(exp + EXP_SLTSTA, mask & (SLTSTA_ABP | SLTSTA_PDC))

    def set_slot(self, rp, exp, power_off, indicator):
        ctl = self.slot(rp, exp)[0] & ~(SLTCTL_PCC | SLTCTL_PIC)
        rp.cfg_writew(exp + EXP_SLTCTL, ctl | indicator |
                      (SLTCTL_PCC if power_off else 0))

    def spin_kernel(self, q):
        """Enumerate the function behind the port, dirty HBM, and leave
        a launch of `for (;;);` running on it."""
        d = Vtpu(q, slot=0, bus=RP_BUS)
        self.assertEqual(d.pci.cfg_readl(0), 0x10f71af4)
        self.assertEqual(d.rd(ID), MAGIC)
        d.setup_ring()
        q.write(DATA, SPIN)
        st = d.run(cmd(OP_FILL, dst=0x100000, length=self.TOUCH,
                       arg=0x5a5aa5a5),
                   cmd(OP_H2D, src=DATA, dst=0, length=len(SPIN)),
                   cmd(OP_LOAD_PROG, arg=0, src=0, length=len(SPIN)))
        self.assertEqual(st, ST_IDLE, d.err_msg())
        self.assertEqual(q.readl(d.ap + 0x100000), 0x5a5aa5a5)
        d.submit(cmd(OP_LAUNCH, arg=0))
        time.sleep(0.1)
        self.assertEqual(d.state(), ST_BUSY)
        return d

    def unplug(self, q, rp, exp):
        """device_del, then what pciehp does on the button press: power
        indicator blinking, then power and indicator off."""
        q.qmp("device_del", id="tpu0")
        self.wait_slot(rp, exp, SLTSTA_ABP, "attention button press")
        self.assertTrue(self.slot(rp, exp)[1] & SLTSTA_PDS)
        self.set_slot(rp, exp, False, SLTCTL_PIC_BLINK)
        t0 = time.monotonic()
        self.set_slot(rp, exp, True, SLTCTL_PIC_OFF)
        ev = q.wait_event("DEVICE_DELETED", device="tpu0")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(ev["data"]["path"], "/machine/peripheral/tpu0")
        self.assertEqual(q.qmp("query-status")["status"], "running")
        self.assertFalse(self.slot(rp, exp)[1] & SLTSTA_PDS)
        rp.cfg_writew(exp + EXP_SLTSTA, SLTSTA_PDC)
        self.assertEqual(PCIDevice(q, 0, bus=RP_BUS).cfg_readw(0), 0xffff)
        self.assertNotIn("tpu0", self.qdev_ids(q.qmp("query-pci")))
        self.assertNotIn("vtpu", q.hmp("info qtree"))
        self.assertEqual(q.hmp("info vtpu").strip(), "")

    def plug(self, q, rp, exp):
        """device_add into the empty (powered off) slot, then power it on
        as a guest would after the presence-detect event."""
        q.qmp("device_add", driver="vtpu", bus="rp0", id="tpu0",
              **dict(p.split("=") for p in self.DEV))
        self.wait_slot(rp, exp, SLTSTA_PDC, "presence detect change")
        self.assertTrue(self.slot(rp, exp)[1] & SLTSTA_PDS)
        fn = PCIDevice(q, 0, bus=RP_BUS)
        self.assertEqual(fn.cfg_readw(0), 0xffff)          # slot unpowered
        self.set_slot(rp, exp, False, SLTCTL_PIC_ON)
        self.assertEqual(fn.cfg_readw(0), 0x1af4)
        self.assertIn("tpu0", self.qdev_ids(q.qmp("query-pci")))

    def qdev_ids(self, pci):
        ids = []
        for bus in pci:
            for dev in bus["devices"]:
                ids.append(dev.get("qdev_id", ""))
                br = dev.get("pci_bridge")
                if br:
                    ids += self.qdev_ids([br])
        return ids

    def test_hot_unplug_while_kernel_runs(self):
        q, rp, exp = self.start()
        ctl, sta = self.slot(rp, exp)
        self.assertTrue(sta & SLTSTA_PDS)
        self.assertEqual(ctl & (SLTCTL_PCC | SLTCTL_PIC), SLTCTL_PIC_ON)
        self.spin_kernel(q)
        self.unplug(q, rp, exp)
        # Plug + run + unplug again, five times: QEMU's RSS must not grow
        # by the HBM each device dirtied (TOUCH bytes), as it would if the
        # chip outlived the device.  The first cycle warms QEMU up.
        self.plug(q, rp, exp)
        self.spin_kernel(q)
        self.unplug(q, rp, exp)
        rss0, threads0 = proc_status(q.proc.pid)
        for _ in range(5):
            self.plug(q, rp, exp)
            self.spin_kernel(q)
            rss_live = proc_status(q.proc.pid)[0]
            self.unplug(q, rp, exp)
        rss1, threads1 = proc_status(q.proc.pid)
        print("\nhotplug: VmRSS %d KiB -> %d KiB after 5 cycles (%d KiB "
              "with a device), threads %d -> %d"
              % (rss0, rss1, rss_live, threads0, threads1), file=sys.stderr)
        # The probe works: a live device shows its dirtied HBM in RSS...
        self.assertGreater(rss_live - rss0, (self.TOUCH >> 10) * 3 // 4)
        # ...and five unplugged ones leave less than one device's worth,
        # and no engine threads.
        self.assertLess(rss1 - rss0, (self.TOUCH >> 10) // 2)
        self.assertLessEqual(threads1, threads0 + 1)
        self.assertTrue(q.alive(), q.stderr())
        q.qmp("quit")
        self.assertEqual(q.proc.wait(10), 0, q.stderr())


class Aperture(unittest.TestCase):
    def test_window_moves_and_ends(self):
        with start("hbm-size=8M", "aperture-size=4M") as q:
            d = Vtpu(q)
            q.writeq(d.ap + 0x10, 0x0123456789abcdef)
            self.assertEqual(q.readq(d.ap + 0x10), 0x0123456789abcdef)
            self.assertEqual(q.readb(d.ap + 0x10), 0xef)
            self.assertEqual(q.readw(d.ap + 0x12), 0x89ab)
            d.setup_ring()
            d.run(cmd(OP_FILL, dst=0x600000, length=16, arg=0x11223344))
            d.wr(APERTURE_BASE_LO, 0x600000)
            self.assertEqual(q.readl(d.ap), 0x11223344)
            # Window half past the end of HBM: reads 0, writes dropped.
            self.assertEqual(q.readl(d.ap + 0x1ff000), 0)
            q.writel(d.ap + 0x300000, 0xffffffff)
            self.assertEqual(q.readl(d.ap + 0x300000), 0)
            d.wr(APERTURE_BASE_LO, 0)
            self.assertEqual(q.readq(d.ap + 0x10), 0x0123456789abcdef)
            # Unaligned base bits read 0.
            d.wr(APERTURE_BASE_LO, 0x1234)
            self.assertEqual(d.rd(APERTURE_BASE_LO), 0x1000)


class Malformed(unittest.TestCase):
    def expect_error(self, d, code, *cmds):
        st = d.run(*cmds)
        self.assertEqual(st, ST_ERROR)
        self.assertEqual(d.rd(ERR_CODE), code, d.err_msg())
        self.assertTrue(d.rd(INT_STATUS) & INT_ERROR)
        return d

    def test_bad_commands(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            self.expect_error(d, E_BAD_OPCODE, cmd(0xff))
            self.assertEqual(d.rd(ERR_VALUE), 0xff)
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_BAD_OPCODE, cmd(0))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_BAD_FLAGS, cmd(OP_NOP, hdr=0x10001))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_BAD_LENGTH, cmd(OP_H2D, src=DATA, length=0))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_HBM_RANGE,
                              cmd(OP_H2D, src=DATA, dst=(64 << 20) - 4,
                                  length=8))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_HOST_DMA,
                              cmd(OP_H2D, src=UNMAPPED, dst=0, length=64))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_HOST_DMA,
                              cmd(OP_D2H, src=0, dst=UART, length=16))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_HOST_DMA,
                              cmd(OP_FENCE, FENCE_WB, arg=3, addr=UNMAPPED))
            d.wr(ERR_ACK, ACK_SKIP)
            self.expect_error(d, E_NO_PROGRAM, cmd(OP_LAUNCH, arg=9))
            d.wr(ERR_ACK, ACK_SKIP)
            q.memset(DATA, 256, 0x5a)
            self.expect_error(d, E_BAD_ELF,
                              cmd(OP_H2D, src=DATA, dst=0, length=256),
                              cmd(OP_LOAD_PROG, arg=1, src=0, length=256))
            self.assertTrue(d.err_msg())
            d.wr(ERR_ACK, ACK_ABORT)
            # Still usable after all that.
            d.wr(INT_STATUS, 0xf)
            self.assertEqual(d.run(cmd(OP_FENCE, arg=77)), ST_IDLE)
            self.assertEqual(d.rd(FENCE), 77)
            self.assertEqual(d.rd(ERR_COUNT), 10)

    def test_ring_pointers(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring(size=8)
            d.wr(RING_TAIL, 8)
            d.wait(lambda: d.state() == ST_ERROR, "RING_POINTER")
            self.assertEqual(d.rd(ERR_CODE), E_RING_POINTER)
            self.assertEqual(d.rd(ERR_VALUE), 8)
            d.wr(ERR_ACK, ACK_ABORT)
            # A ring nobody can read.
            d.setup_ring(base=UNMAPPED)
            d.wr(RING_TAIL, 1)
            d.wait(lambda: d.state() == ST_ERROR, "RING_FETCH")
            self.assertEqual(d.rd(ERR_CODE), E_RING_FETCH)
            d.wr(ERR_ACK, ACK_ABORT)
            # Bad ring size is refused at enable.
            d.wr(CONTROL, 0)
            d.wr(RING_SIZE, 3)
            d.wr(CONTROL, 1)
            d.wait(lambda: d.state() == ST_ERROR, "RING_CONFIG")
            self.assertEqual(d.rd(ERR_CODE), E_RING_CONFIG)

    def test_bus_master_off(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            d.pci.set_command(memory=True, master=False)
            q.write(RING, cmd(OP_FENCE, arg=5))
            d.wr(RING_TAIL, 1)
            d.wait(lambda: d.state() == ST_ERROR, "fetch refused")
            self.assertEqual(d.rd(ERR_CODE), E_RING_FETCH)
            self.assertEqual(d.rd(FENCE), 0)
            d.pci.set_command(memory=True, master=True)
            d.wr(ERR_ACK, 3)  # RETRY
            d.wait(lambda: d.rd(FENCE) == 5, "retry after bus master on")

    def test_register_abuse(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.wr(ID, 0)
            d.wr(NUM_TCS, 7)
            d.wr(RING_HEAD, 3)
            self.assertEqual(d.rd(ID), MAGIC)
            self.assertEqual(d.rd(NUM_TCS), 2)
            self.assertEqual(d.rd(RING_HEAD), 0)
            d.wr(SCRATCH, 0x11223344)
            self.assertEqual(q.readb(d.regs + SCRATCH), 0)      # odd size
            self.assertEqual(q.readw(d.regs + SCRATCH), 0)
            self.assertEqual(q.readl(d.regs + SCRATCH + 1), 0)  # misaligned
            self.assertEqual(q.readq(d.regs + SCRATCH + 4), 0)
            q.writeb(d.regs + SCRATCH, 0xff)
            q.writel(d.regs + SCRATCH + 2, 0)
            self.assertEqual(d.rd(SCRATCH), 0x11223344)
            self.assertEqual(d.rd(0x800), 0)                    # unmapped
            d.wr(0xffc, 1)
            self.assertEqual(d.rd(ERR_ACK), 0)                  # write-only
            self.assertEqual(d.rd(ID), MAGIC)
            self.assertIn("1af4:10f7", q.hmp("info pci"))


def kernel_module():
    """kernels.elf of the build QEMU_BIN belongs to (build/qemu/..)."""
    env = os.environ.get("VTPU_KERNELS")
    if env:
        return env
    build = os.path.dirname(os.path.dirname(os.path.abspath(QEMU_BIN)))
    return os.path.join(build, "firmware/kernels/kernels.elf")


def kernel_index(elf, name):
    """Index of kernel `name` in the module's .vtpu.kernels section."""
    shoff, = struct.unpack_from("<I", elf, 32)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 46)
    sec = [struct.unpack_from("<IIIIII", elf, shoff + i * shentsize)
           for i in range(shnum)]
    strtab = sec[shstrndx][4]
    for nm, _, _, _, off, size in sec:
        if elf[strtab + nm:].split(b"\0", 1)[0] == b".vtpu.kernels":
            # each entry says its size (vtpu_kernel_entry.size, offset 6)
            esize, = struct.unpack_from("<H", elf, off + 6) if size else (1,)
            for i in range(size // esize):
                e = elf[off + esize * i + 8:off + esize * i + 40]
                if e.split(b"\0", 1)[0] == name.encode():
                    return i
    raise AssertionError("no kernel %s in the module" % name)


class Monitor(unittest.TestCase):
    """`info vtpu` (HMP, through QMP's human-monitor-command)."""

    def tc_lines(self, q):
        out = q.hmp("info vtpu")
        lines = [ln.strip() for ln in out.splitlines()
                 if ln.strip().startswith("TC ")]
        self.assertEqual(len(lines), 2, out)
        return lines

    def test_info_vtpu_tc_states(self):
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            self.assertEqual(self.tc_lines(q), ["TC 0: idle", "TC 1: idle"])
            # exit(5) on TC 0 only: the pc is the ecall's (third word).
            q.write(DATA, EXIT_A2)
            st = d.run(cmd(OP_H2D, src=DATA, dst=0x100000, length=len(EXIT_A2)),
                       cmd(OP_LOAD_PROG, arg=3, src=0x100000,
                           length=len(EXIT_A2)),
                       cmd(OP_LAUNCH, arg=3 | 1 << 8, args=(5, 0, 0, 0)))
            self.assertEqual(st, ST_IDLE, d.err_msg())
            tc0, tc1 = self.tc_lines(q)
            self.assertEqual(tc0, "TC 0: exited (code 5) at pc 0x00100008, "
                             "3 instructions")
            self.assertEqual(tc1, "TC 1: idle")
            # TC 0 blocked in a semaphore wait (its pc known), TC 1
            # running (no pc, instructions a lower bound).
            q.write(DATA, WAIT0_SPIN)
            d.run(cmd(OP_H2D, src=DATA, dst=0, length=len(WAIT0_SPIN)),
                  cmd(OP_LOAD_PROG, arg=0, src=0, length=len(WAIT0_SPIN)))
            d.submit(cmd(OP_LAUNCH, arg=0))
            d.wait(lambda: self.tc_lines(q)[0].startswith("TC 0: blocked"),
                   "TC 0 blocked")
            # TC 1 into its loop (on a loaded host its thread may not have
            # run one instruction yet, and a reset would stop it at entry).
            d.wait(lambda: re.match(r"TC 1: running, [1-9]\d*\+",
                                    self.tc_lines(q)[1]), "TC 1 running")
            tc0, tc1 = self.tc_lines(q)
            self.assertRegex(tc0, r"^TC 0: blocked at pc 0x00100008, "
                             r"\d+ instructions$")
            self.assertRegex(tc1, r"^TC 1: running, \d+\+ instructions$")
            # A soft reset stops the run and leaves its traces ...
            d.soft_reset()
            tc0, tc1 = self.tc_lines(q)
            self.assertRegex(tc0, r"^TC 0: stopped at pc 0x00100008")
            self.assertRegex(tc1, r"^TC 1: stopped at pc 0x00100010")
            # ... a system reset returns the TCs to power-on state.
            d = d.system_reset()
            self.assertEqual(self.tc_lines(q), ["TC 0: idle", "TC 1: idle"])

    def test_info_vtpu_kernel_and_grid_point(self):
        path = kernel_module()
        if not os.path.exists(path):
            self.skipTest("no kernel module at %s" % path)
        with open(path, "rb") as f:
            elf = f.read()
        k = kernel_index(elf, "nop0")
        # nop0 over grid (3,) 'arbitrary': TC 0 runs all three points.
        desc = struct.pack("<IHHIIBB4BHIIIIIIQQ", LAUNCH_MAGIC,
                           LAUNCH_VERSION, 640, k, 0,
                           1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0)
        desc += bytes(640 - len(desc))
        hbm_elf, hbm_desc = 0x200000, 0x800000
        with start(*SMALL) as q:
            d = Vtpu(q)
            d.setup_ring()
            q.write(DATA, elf)
            q.write(DATA + 0x100000, desc)
            st = d.run(cmd(OP_H2D, src=DATA, dst=hbm_elf, length=len(elf)),
                       cmd(OP_H2D, src=DATA + 0x100000, dst=hbm_desc,
                           length=len(desc)),
                       cmd(OP_LOAD_PROG, arg=1, src=hbm_elf, length=len(elf)),
                       cmd(OP_LAUNCH, arg=1, args=(hbm_desc, 0, 0, 0)))
            self.assertEqual(st, ST_IDLE, d.err_msg())
            self.assertEqual(d.rd(LAST_EXIT), 0)
            tc0, tc1 = self.tc_lines(q)
            self.assertRegex(tc0, r"^TC 0: exited \(code 0\) at pc 0x[0-9a-f]{8}"
                             r", \d+ instructions; kernel nop0 \(#%d\) done at "
                             r"grid point \(2\), step 3 of 3$" % k)
            self.assertRegex(tc1, r"^TC 1: exited \(code 0\) .*; kernel nop0 "
                             r"\(#%d\) done, no grid points on this TC$" % k)


class DebugAids(unittest.TestCase):
    """Properties trace-file and dma-order, the TC_STAT registers
    (docs/debugging.md, "Finding ordering bugs, seeing what happened")."""
    TC_STAT_SEL, TC_STAT_LO = 0x118, 0x120

    def test_trace_file_and_counters(self):
        path = kernel_module()
        if not os.path.exists(path):
            self.skipTest("no kernel module at %s" % path)
        with open(path, "rb") as f:
            elf = f.read()
        k = kernel_index(elf, "nop0")
        desc = struct.pack("<IHHIIBB4BHIIIIIIQQ", LAUNCH_MAGIC,
                           LAUNCH_VERSION, 640, k, 0,
                           1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0)
        desc += bytes(640 - len(desc))
        hbm_elf, hbm_desc = 0x200000, 0x800000
        with tempfile.TemporaryDirectory(prefix="vtpu-qtest-") as tmp:
            trace = os.path.join(tmp, "trace.json")
            with start(*SMALL, "trace-file=" + trace,
                       "dma-order=on-wait") as q:
                d = Vtpu(q)
                d.setup_ring()
                q.write(DATA, elf)
                q.write(DATA + 0x100000, desc)
                st = d.run(cmd(OP_H2D, src=DATA, dst=hbm_elf, length=len(elf)),
                           cmd(OP_H2D, src=DATA + 0x100000, dst=hbm_desc,
                               length=len(desc)),
                           cmd(OP_LOAD_PROG, arg=1, src=hbm_elf,
                               length=len(elf)),
                           cmd(OP_LAUNCH, arg=1, args=(hbm_desc, 0, 0, 0)))
                self.assertEqual(st, ST_IDLE, d.err_msg())
                # TC 0: instructions (index 0) and DMAs started (index 9):
                # at least the runtime's copy of the launch descriptor.
                d.wr(self.TC_STAT_SEL, 0 << 8 | 0)
                self.assertGreater(d.rd(self.TC_STAT_LO), 100)
                d.wr(self.TC_STAT_SEL, 0 << 8 | 9)
                self.assertGreaterEqual(d.rd(self.TC_STAT_LO), 1)
                d.wr(self.TC_STAT_SEL, 9 << 8 | 0)  # no TC 9: reads 0
                self.assertEqual(d.rd(self.TC_STAT_LO), 0)
            # Valid JSON even if the device was never finalized.
            with open(trace) as f:
                ev = json.load(f)["traceEvents"]
            names = {(e.get("ph"), e.get("name"), e.get("tid")) for e in ev}
            for tc in (0, 1):
                self.assertIn(("X", "run", tc), names)
            self.assertIn(("X", "kernel nop0", 0), names)

    def test_bad_dma_order_refused(self):
        out = subprocess.run(
            [QEMU_BIN, "-M", "virt", "-display", "none", "-nodefaults",
             "-accel", "qtest", "-qtest", "null",
             "-device", "vtpu,dma-order=sometimes"], capture_output=True,
            text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("dma-order", out.stderr)


class Random(unittest.TestCase):
    SEED = 20240611
    SECONDS = float(os.environ.get("VTPU_FUZZ_SECONDS", "15"))

    def test_random_registers_and_rings(self):
        rng = random.Random(self.SEED)
        with start(*SMALL, "insn-budget=100000", timeout=self.SECONDS + 60) as q:
            d = Vtpu(q)
            offsets = list(range(0, 0x120, 4)) + list(range(0x200, 0x240, 4)) \
                + [0x400, 0x4fc, 0x800, 0xffc]
            end = time.monotonic() + self.SECONDS
            n = 0
            while time.monotonic() < end:
                n += 1
                # Random ring contents: mostly valid opcodes, random fields
                # pointing at RAM, HBM, MMIO or nothing.
                base = rng.choice([RING, RING + 64 * rng.randrange(64),
                                   UNMAPPED, UART, rng.getrandbits(64)])
                if VIRT_DRAM <= base < VIRT_DRAM + (64 << 20):
                    ents = bytearray()
                    for _ in range(16):
                        addrs = [DATA + rng.randrange(1 << 20), UART, UNMAPPED,
                                 rng.randrange(64 << 20), rng.getrandbits(64)]
                        ents += cmd(rng.randrange(0, 10),
                                    flags=rng.choice([0, 0, 1, 2, 3,
                                                      rng.getrandbits(8)]),
                                    arg=rng.getrandbits(32),
                                    src=rng.choice(addrs),
                                    dst=rng.choice(addrs),
                                    length=rng.choice([4, 64, 4096,
                                                       rng.getrandbits(20),
                                                       rng.getrandbits(64)]),
                                    addr=rng.choice(addrs))
                    q.write(base & ~63, bytes(ents))
                for _ in range(rng.randrange(1, 40)):
                    off = rng.choice(offsets)
                    if off == CONTROL and rng.random() < 0.5:
                        val = rng.choice([0, 1])
                    elif off in (RING_BASE_LO, RING_BASE_HI):
                        val = (base >> (32 if off == RING_BASE_HI else 0)) \
                            & 0xffffffff if rng.random() < 0.8 \
                            else rng.getrandbits(32)
                    elif off == RING_SIZE:
                        val = rng.choice([16, 8, 2, rng.getrandbits(32)])
                    elif off == RING_TAIL:
                        val = rng.randrange(20)
                    else:
                        val = rng.getrandbits(32)
                    size = rng.choice([4, 4, 4, 4, 8, 1, 2])
                    o = off + (rng.randrange(4) if rng.random() < 0.05 else 0)
                    if size == 8:
                        q.writeq(d.regs + (o & ~7), val | val << 32)
                    elif size == 4:
                        q.writel(d.regs + o, val)
                    elif size == 2:
                        q.writew(d.regs + o, val)
                    else:
                        q.writeb(d.regs + o, val)
                    if rng.random() < 0.1:
                        d.rd(rng.choice(offsets))
                if rng.random() < 0.1:
                    q.writel(d.ap + rng.randrange(d.ap_size // 4) * 4,
                             rng.getrandbits(32))
                self.assertEqual(d.rd(ID), MAGIC)
            self.assertTrue(q.alive(), q.stderr())
            d = d.system_reset()
            self.assertEqual(d.state(), ST_DISABLED)
            self.assertEqual(d.rd(ID), MAGIC)
            self.assertEqual(d.rd(RING_SIZE), 0)
            self.assertEqual(d.rd(ERR_CODE), 0)
            self.assertEqual(d.rd(NUM_TCS), 2)
            d.setup_ring()
            self.assertEqual(d.run(cmd(OP_FENCE, arg=1234)), ST_IDLE)
            self.assertEqual(d.rd(FENCE), 1234)
            print("\nrandom: %d rounds, seed %d" % (n, self.SEED),
                  file=sys.stderr)


def main():
    global QEMU_BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=QEMU_BIN)
    args, rest = ap.parse_known_args()
    QEMU_BIN = args.qemu
    if not os.access(QEMU_BIN, os.X_OK):
        print("vtpu_qtest: no QEMU at %s (make qemu)" % QEMU_BIN,
              file=sys.stderr)
        return 1
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
