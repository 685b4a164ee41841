#!/usr/bin/env python3
"""test_system.py - boot the bare-metal guest programs (guest/) in
qemu-system-riscv64 with a vtpu and check what they print and their exit
status (QEMU's exit code, through the virt machine's test finisher).

    tests/system/test_system.py [--qemu PATH] [--build DIR] [--guest-dir DIR]
                                [unittest args]

Every boot has a time limit; QEMU is killed (its whole process group)
whatever happens, so a hung guest fails its test instead of hanging CI.
"""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402
from guestvm import boot, PANIC  # noqa: E402


class Demo(unittest.TestCase):
    """vtpu-demo: identity, then every workload matches its reference."""

    def test_demo_on_v4(self):
        t0 = time.monotonic()
        rc, out = boot("vtpu-demo")
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("1af4:10f7", out)
        self.assertIn("generation v4, 2 TCs", out)
        self.assertIn("vtpu-demo: all rows matched", out)
        rows = {}
        for line in out.splitlines():
            m = re.match(r"(add_sin_f32|matmul_f32|sort_f32)\s.*\s(\S+)"
                         r"(?: \(.*\))?$", line)
            if m:
                rows[m.group(1)] = line
        self.assertTrue(rows["add_sin_f32"].endswith(" yes"), out)
        self.assertTrue(rows["matmul_f32"].endswith(" yes"), out)
        sort = rows["sort_f32"]
        self.assertTrue(sort.endswith(" yes") or " skipped " in sort, sort)
        # both TCs ran the grid
        self.assertRegex(rows["add_sin_f32"], r"grid 512\s+2\s")
        sys.stderr.write("[demo booted and ran in %.1f s] " % took)

    def test_demo_on_one_tc(self):
        rc, out = boot("vtpu-demo", device="vtpu,gen=v5e")
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("generation v5e, 1 TCs", out)
        self.assertRegex(out, r"add_sin_f32 .*grid 512\s+1\s.* yes")

    def test_no_device(self):
        """Without a vtpu the demo says so and fails, it does not hang."""
        rc, out = boot("vtpu-demo", device="pci-bridge,chassis_nr=1")
        self.assertEqual(rc, 1, out)
        self.assertIn("no vtpu (1af4:10f7) on PCI", out)


class Selftest(unittest.TestCase):
    """vtpu-selftest: the driver/runtime suite in the guest, per test."""

    def check_run(self, device):
        rc, out = boot("vtpu-selftest", device=device)
        ran = re.findall(r"^test (\w+)", out, re.M)
        failed = re.findall(r"FAIL (\w+)", out)
        self.assertGreaterEqual(len(ran), 29, out)
        self.assertEqual(failed, [], out)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertRegex(out, r"vtpu-selftest: %d tests, 0 failed" % len(ran))
        # each provoked device error was reported in the driver's words
        self.assertIn("(LAUNCH) failed: TC 0 faulted at pc 0x00100004", out)
        self.assertIn("ring tail out of range", out)
        return out

    def test_selftest_v4(self):
        self.check_run("vtpu,gen=v4")

    def test_selftest_one_tc_small_ring_aperture(self):
        out = self.check_run("vtpu,gen=v5e,hbm-size=1G,aperture-size=64K")
        self.assertIn("device: v5e, 1 TCs", out)


class Latency(unittest.TestCase):
    """vtpu-latency runs and prints well-formed measurements."""

    def test_latency_json(self):
        rc, out = boot("vtpu-latency")
        self.assertEqual(rc, 0, out)
        lines = [json.loads(l) for l in out.splitlines()
                 if l.startswith("{")]
        metrics = {l["metric"]: l for l in lines}
        for m in ("launch_sync", "launch_stream", "rt_nop0", "fence_irq",
                  "fence_poll", "mmio_read"):
            self.assertIn(m, metrics, out)
            self.assertGreater(metrics[m]["per_second"], 0)
            self.assertLessEqual(metrics[m]["min_us"],
                                 metrics[m]["median_us"])
        # The device's side of a round trip (LAT_* probes) beside the
        # guest's: each part is within the whole the guest measured.
        ls = metrics["launch_sync"]
        for k in ("dev_wake_us", "dev_run_us", "dev_busy_us", "woken_us"):
            self.assertIn(k, ls, out)
        self.assertGreater(ls["dev_busy_us"], 0)
        self.assertGreater(ls["dev_run_us"], 0)
        self.assertLessEqual(ls["dev_run_us"], ls["dev_busy_us"])
        self.assertLessEqual(ls["dev_busy_us"], ls["woken_us"])
        self.assertIn("dev_deliver_us", metrics["fence_irq"], out)


def slice_args(topology, nchips, gen="v4", ici_props=""):
    """(device, extra) for guestvm.boot: one vtpu-ici object and nchips
    vtpu devices on it, chip i in PCI slot 2 + i."""
    devs = ["vtpu,gen=%s,hbm-size=256M,ici=ici0,chip=%d,addr=%d.0"
            % (gen, i, 2 + i) for i in range(nchips)]
    extra = ["-object", "vtpu-ici,id=ici0,topology=%s%s"
             % (topology, ici_props)]
    for d in devs[1:]:
        extra += ["-device", d]
    return devs[0], extra


class Slice(unittest.TestCase):
    """vtpu-slice-demo: several vtpu devices on one vtpu-ici fabric; the
    guest launches collectives on every chip and checks each result."""

    def check_slice(self, topology, nchips, axes, gen="v4"):
        device, extra = slice_args(topology, nchips, gen)
        t0 = time.monotonic()
        rc, out = boot("vtpu-slice-demo", device=device, extra=extra,
                       timeout=300)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("vtpu-slice-demo: %d vtpu device(s)" % nchips, out)
        # every device found its chip, in PCI order
        for i in range(nchips):
            self.assertRegex(out, r"vtpu 00:%02x\.0: chip %d of %d, mesh "
                             % (2 + i, i, nchips))
        kernels = ("all_reduce_f32", "all_reduce_i32", "reduce_scatter_f32",
                   "reduce_scatter_i32", "all_gather")
        checks = re.findall(r"^check (\w+) axis (\d) chip (\d+): (.*)$", out,
                            re.M)
        got = {(k, int(a), int(c)) for k, a, c, r in checks if r == "ok"}
        want = {(k, a, c) for k in kernels for a in axes
                for c in range(nchips)}
        self.assertEqual(got, want, out)
        self.assertNotIn("MISMATCH", out)
        self.assertNotIn("DIFFERS", out)
        m = re.search(r"vtpu-slice-demo: PASS \((\d+) checks\)", out)
        self.assertIsNotNone(m, out)
        sys.stderr.write("[%s: %s checks in %.1f s] " % (topology, m.group(1),
                                                          took))

    def test_ring_of_2(self):
        self.check_slice("2", 2, (0,))

    def test_ring_of_4(self):
        self.check_slice("4", 4, (0,), gen="v5e")

    def test_torus_2x2(self):
        self.check_slice("2x2", 4, (0, 1), gen="v5e")

    def test_ring_of_8(self):
        self.check_slice("8", 8, (0,), gen="v5e")

    def test_mesh_2x4(self):
        self.check_slice("2x4", 8, (0, 1), gen="v5e")

    def test_missing_chip_refused_by_demo(self):
        """Topology 4 with 3 devices: the guest says the slice is not
        whole and fails, it does not hang."""
        device, extra = slice_args("4", 3, "v5e")
        rc, out = boot("vtpu-slice-demo", device=device, extra=extra,
                       timeout=120)
        self.assertEqual(rc, 1, out)
        self.assertIn("the slice must have one device per chip "
                      "(3 devices found)", out)


class Panic(unittest.TestCase):
    """An unexpected trap gives a report and exit code 120, not a hang."""

    def test_load_fault_report(self):
        rc, out = boot("panic-test", timeout=30)
        self.assertEqual(rc, PANIC, out)
        self.assertIn("*** guest panic: unexpected trap: load access fault "
                      "(mcause 0x5)", out)
        self.assertRegex(out, r"mtval 0x00000000dead0000")
        self.assertRegex(out, r"\bsp  0x00000000[0-9a-f]{8}")
        self.assertIn("t6  0x", out)


if __name__ == "__main__":
    guestvm.main()
