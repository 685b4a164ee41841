#!/usr/bin/env python3
"""vtpu_ici_qtest.py - qtests of several vtpu devices on one vtpu-ici
fabric (docs/qemu.md, "Several chips: vtpu-ici").

    tests/qemu/vtpu_ici_qtest.py [--qemu PATH] [unittest options]

The property errors at start-up (each names the object, chip or property
at fault), and the guest's side of a collective launch: one launched on
only one device of two waits (QEMU stays responsive) until a reset ends
it, and the device works afterwards; one launched on both runs; with
launch-timeout= the lone launch fails with an error that says why; a
chip unplugged while the other waits for it ends that wait, and plugged
in again it rejoins the slice.
Every QEMU is killed when its test ends, passed or not, and has a time
limit (qtest.QEMU).
"""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest import QEMU, PCIDevice, QTestError, VIRT_PCI_MMIO  # noqa: E402
import vtpu_qtest  # noqa: E402
from vtpu_qtest import (Vtpu, cmd, EXIT_A2, RING, DATA, ST_BUSY,  # noqa: E402
                        ST_IDLE, ST_ERROR, ST_DISABLED, OP_H2D,
                        OP_LOAD_PROG, OP_LAUNCH, OP_FENCE, LAUNCH_RESULT)
from vtpu_regs import REG, CONST, ERR, FAULT  # noqa: E402

COLLECTIVE = CONST["VTPU_LAUNCH_F_COLLECTIVE"]
SMALL = "hbm-size=64M"


class SliceVtpu(Vtpu):
    """Device i of the slice: slot 2 + i, its own BAR window, ring and
    data buffer."""

    def __init__(self, q, i, slot=None, bus=0, base=None):
        self.q = q
        self.pci = PCIDevice(q, 2 + i if slot is None else slot, bus=bus)
        self.bars = self.pci.assign_bars(
            base=VIRT_PCI_MMIO + i * (64 << 20) if base is None else base)
        self.regs = self.bars[0][0]
        self.ap, self.ap_size = self.bars[2]
        self.ring_size = 0
        self.tail = 0
        self.ring = RING + i * 0x10000
        self.data = DATA + i * 0x100000

    def up(self):
        """Ring on, EXIT_A2 (exit with args[0]) in program slot 3."""
        self.setup_ring(base=self.ring)
        self.q.write(self.data, EXIT_A2)
        st = self.run(cmd(OP_H2D, src=self.data, dst=0x100000,
                          length=len(EXIT_A2)),
                      cmd(OP_LOAD_PROG, arg=3, src=0x100000,
                          length=len(EXIT_A2)))
        assert st == ST_IDLE, self.err_msg()

    def launch(self, code, flags=COLLECTIVE, fence=1):
        self.submit(cmd(OP_LAUNCH, flags | LAUNCH_RESULT, arg=3,
                        args=(code, 0, 0, 0), addr=self.data + 0x1000),
                    cmd(OP_FENCE, arg=fence))


def slice_args(topology="2", n=2, props=(), ici_props=""):
    args = ["-object", "vtpu-ici,id=ici0,topology=%s%s" % (topology,
                                                          ici_props)]
    for i in range(n):
        args += ["-device", ",".join(["vtpu", SMALL, "ici=ici0",
                                      "chip=%d" % i, "addr=%d.0" % (2 + i)]
                                     + list(props))]
    return args


def refused(args):
    """Start QEMU with args; it must exit non-zero at once: stderr."""
    out = subprocess.run(
        [vtpu_qtest.QEMU_BIN, "-M", "virt", "-display", "none",
         "-nodefaults", "-accel", "qtest", "-qtest", "null"] + args,
        capture_output=True, text=True, timeout=30)
    assert out.returncode != 0, "QEMU accepted %r" % (args,)
    return out.stderr


def dev(*props):
    return ["-device", ",".join(("vtpu", SMALL) + props)]


class Properties(unittest.TestCase):
    """Bad configurations stop QEMU with an error naming what is wrong."""

    OBJ = ["-object", "vtpu-ici,id=ici0,topology=2"]

    def test_chip_index_out_of_range(self):
        err = refused(self.OBJ + dev("ici=ici0", "chip=2"))
        self.assertIn("chip 2 of vtpu-ici 'ici0'", err)
        self.assertIn("the slice has 2 chips", err)

    def test_duplicate_chip_index(self):
        err = refused(self.OBJ + dev("ici=ici0", "chip=0") +
                      dev("ici=ici0", "chip=0"))
        self.assertIn("chip 0 of vtpu-ici 'ici0'", err)
        self.assertIn("already attached", err)

    def test_unknown_ici_object(self):
        err = refused(dev("ici=nope", "chip=0"))
        self.assertIn("nope", err)

    def test_ici_needs_chip_and_chip_needs_ici(self):
        self.assertIn("property 'ici' needs chip=",
                      refused(self.OBJ + dev("ici=ici0")))
        self.assertIn("property 'chip' (1) needs ici=",
                      refused(dev("chip=1")))

    def test_config_differs(self):
        err = refused(self.OBJ + dev("ici=ici0", "chip=0", "gen=v4") +
                      dev("ici=ici0", "chip=1", "gen=v5e"))
        self.assertIn("chip 1 of vtpu-ici 'ici0'", err)
        self.assertIn("differs from chip 0's", err)

    def test_bad_or_missing_topology(self):
        self.assertIn("vtpu-ici 'ici0': property 'topology'",
                      refused(["-object", "vtpu-ici,id=ici0,topology=2xq"]))
        # QAPI's schema (VtpuIciProperties) requires it before the object
        self.assertIn("Parameter 'topology' is missing",
                      refused(["-object", "vtpu-ici,id=ici0"]))
        self.assertIn("link-bandwidth",
                      refused(["-object", "vtpu-ici,id=ici0,topology=2,"
                               "link-bandwidth=0"]))


class Launches(unittest.TestCase):
    def start(self, ici_props=""):
        q = QEMU(vtpu_qtest.QEMU_BIN, slice_args(ici_props=ici_props),
                 timeout=90)
        q.start()
        self.addCleanup(q.kill)
        a, b = SliceVtpu(q, 0), SliceVtpu(q, 1)
        a.up()
        b.up()
        return q, a, b

    def test_lone_collective_launch_waits_until_reset(self):
        q, a, b = self.start()
        a.launch(5)
        time.sleep(0.3)
        # The launch waits for chip 1; QEMU answers (this very read).
        self.assertEqual(a.state(), ST_BUSY)
        self.assertNotEqual(a.rd(REG["FENCE"]), 1)
        info = q.hmp("info vtpu")
        self.assertIn("slice: chip 0 of 2, topology 2 (vtpu-ici 'ici0')",
                      info)
        self.assertIn("slice: chip 1 of 2", info)
        t0 = time.monotonic()
        a.soft_reset()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(a.state(), ST_DISABLED)
        # usable again: a plain launch, then a collective one on both
        a.up()
        a.launch(6, flags=0, fence=2)
        self.assertEqual(a.settle(), ST_IDLE, a.err_msg())
        self.assertEqual(a.rd(REG["LAST_EXIT"]), 6)
        a.launch(7, fence=3)
        b.launch(8, fence=4)
        self.assertEqual(a.settle(), ST_IDLE, a.err_msg())
        self.assertEqual(b.settle(), ST_IDLE, b.err_msg())
        self.assertEqual((a.rd(REG["FENCE"]), b.rd(REG["FENCE"])), (3, 4))
        self.assertEqual((a.rd(REG["LAST_EXIT"]), b.rd(REG["LAST_EXIT"])),
                         (7, 8))

    def test_system_reset_ends_a_waiting_launch(self):
        q, a, b = self.start()
        b.launch(5)
        time.sleep(0.2)
        self.assertEqual(b.state(), ST_BUSY)
        t0 = time.monotonic()
        q.qmp("system_reset")
        b.wait(lambda: b.pci.cfg_readw(0x04) & 0x6 == 0, "PCI reset")
        self.assertLess(time.monotonic() - t0, 5)
        b = SliceVtpu(q, 1)
        self.assertEqual(b.state(), ST_DISABLED)

    def test_launch_timeout(self):
        q, a, b = self.start(ici_props=",launch-timeout=200")
        t0 = time.monotonic()
        a.launch(5)
        self.assertEqual(a.settle(), ST_ERROR)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        self.assertEqual(a.rd(REG["ERR_CODE"]), ERR["FAULT"])
        self.assertEqual(a.rd(REG["ERR_KIND"]), FAULT["DEADLOCK"])
        self.assertIn("not every chip of the slice launched within 200 ms",
                      a.err_msg())
        # the property can change at run time (qom-set)
        q.qmp("qom-set", path="/objects/ici0", property="launch-timeout",
              value=0)
        self.assertEqual(q.qmp("qom-get", path="/objects/ici0",
                               property="launch-timeout"), 0)
        with self.assertRaises(QTestError) as e:
            q.qmp("qom-set", path="/objects/ici0", property="hop-latency",
                  value=5)
        self.assertIn("property 'hop-latency' cannot change once the "
                      "object exists", str(e.exception))

    def test_object_in_use_and_no_migration(self):
        q, a, b = self.start()
        with self.assertRaises(QTestError) as e:
            q.qmp("object-del", id="ici0")
        self.assertIn("ici0", str(e.exception))
        self.assertEqual(q.qmp("qom-get", path="/objects/ici0",
                               property="topology"), "2")
        with self.assertRaises(QTestError) as e:
            q.qmp("migrate", uri="exec:cat >/dev/null")
        self.assertIn("vtpu", str(e.exception))


class SliceHotplug(vtpu_qtest.Hotplug):
    """Chip 1 behind a pcie-root-port is unplugged while chip 0's
    collective launch waits for it: the launch ends (nothing ran), and
    chip 1 plugged in again joins the slice and runs with chip 0."""

    test_hot_unplug_while_kernel_runs = None  # the parent's test
    BUS1 = 0x50000000

    def start(self):
        q = QEMU(vtpu_qtest.QEMU_BIN, [
            "-object", "vtpu-ici,id=ici0,topology=2",
            "-device", "vtpu,%s,ici=ici0,chip=0,addr=2.0" % SMALL,
            "-device", "pcie-root-port,id=rp0,slot=1,chassis=1,addr=%d.0"
            % vtpu_qtest.RP_SLOT,
            "-device", "vtpu,%s,bus=rp0,id=tpu1,ici=ici0,chip=1" % SMALL],
            timeout=120)
        q.start()
        self.addCleanup(q.kill)
        rp = PCIDevice(q, vtpu_qtest.RP_SLOT)
        exp = rp.find_cap(0x10)
        rp.setup_bridge(vtpu_qtest.RP_BUS, self.BUS1, self.BUS1 + 0x0fffffff)
        return q, rp, exp

    def chip1(self, q):
        return SliceVtpu(q, 1, slot=0, bus=vtpu_qtest.RP_BUS, base=self.BUS1)

    def test_unplug_while_the_other_chip_waits(self):
        q, rp, exp = self.start()
        a, b = SliceVtpu(q, 0), self.chip1(q)
        a.up()
        b.up()
        a.launch(5)
        time.sleep(0.2)
        self.assertEqual(a.state(), ST_BUSY)
        # unplug chip 1 (pciehp's side of the handshake)
        q.qmp("device_del", id="tpu1")
        self.wait_slot(rp, exp, vtpu_qtest.SLTSTA_ABP, "attention button")
        self.set_slot(rp, exp, False, vtpu_qtest.SLTCTL_PIC_BLINK)
        self.set_slot(rp, exp, True, vtpu_qtest.SLTCTL_PIC_OFF)
        q.wait_event("DEVICE_DELETED", device="tpu1")
        rp.cfg_writew(exp + vtpu_qtest.EXP_SLTSTA, vtpu_qtest.SLTSTA_PDC)
        # chip 0's launch ended: it waited for a chip that left
        self.assertEqual(a.settle(timeout=5), ST_IDLE, a.err_msg())
        self.assertEqual(a.rd(REG["FENCE"]), 1)
        info = q.hmp("info vtpu")
        self.assertIn("slice: chip 0 of 2", info)
        self.assertNotIn("slice: chip 1 of 2", info)
        # chip 1 again: it joins the slice, and both run together
        q.qmp("device_add", driver="vtpu", bus="rp0", id="tpu1",
              **{"hbm-size": "64M", "ici": "ici0", "chip": 1})
        self.wait_slot(rp, exp, vtpu_qtest.SLTSTA_PDC, "presence detect")
        self.set_slot(rp, exp, False, vtpu_qtest.SLTCTL_PIC_ON)
        b = self.chip1(q)
        b.up()
        self.assertIn("slice: chip 1 of 2", q.hmp("info vtpu"))
        a.launch(7, fence=2)
        b.launch(8, fence=3)
        self.assertEqual(a.settle(), ST_IDLE, a.err_msg())
        self.assertEqual(b.settle(), ST_IDLE, b.err_msg())
        self.assertEqual((a.rd(REG["LAST_EXIT"]), b.rd(REG["LAST_EXIT"])),
                         (7, 8))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--qemu", default=vtpu_qtest.QEMU_BIN)
    args, rest = ap.parse_known_args()
    vtpu_qtest.QEMU_BIN = os.path.abspath(args.qemu)
    if not os.access(vtpu_qtest.QEMU_BIN, os.X_OK):
        sys.exit("%s: no QEMU at %s (make qemu)" % (sys.argv[0],
                                                    vtpu_qtest.QEMU_BIN))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
