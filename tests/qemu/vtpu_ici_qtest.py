#!/usr/bin/env python3
"""vtpu_ici_qtest.py - qtests of several vtpu devices on one vtpu-ici
fabric (docs/qemu.md, "Several chips: vtpu-ici").

    tests/qemu/vtpu_ici_qtest.py [--qemu PATH] [unittest options]

The property errors at start-up (each names the object, chip or property
at fault), and the guest's side of a collective launch: one launched on
only one device of two waits (QEMU stays responsive) until a reset ends
it, and the device works afterwards; one launched on both runs; with
launch-timeout= the lone launch fails with an error that says why.
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

    def __init__(self, q, i):
        self.q = q
        self.pci = PCIDevice(q, 2 + i)
        self.bars = self.pci.assign_bars(base=VIRT_PCI_MMIO + i * (64 << 20))
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
