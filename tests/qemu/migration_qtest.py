#!/usr/bin/env python3
"""migration_qtest.py - the vtpu device migrates (docs/qemu.md,
"Migration and snapshots").

    tests/qemu/migration_qtest.py [--qemu PATH] [unittest options]

Two QEMUs per test, both under qtest and QMP: a source that drives the
device, and a destination started with -incoming defer; `migrate` moves
the machine over a UNIX socket.  Checked on the destination against the
source and against a run without migration: registers (fence, counters,
ring pointers, interrupt status), HBM, the loaded program slots, and,
for a migration while a long kernel runs on both TCs, the kernel's
result record (exit codes and instruction counts per TC) after it
finishes on the destination.  A destination with another configuration
refuses the stream with a message naming the difference.  Every QEMU is
killed at the end of its test, also on failure.
"""

import argparse
import os
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtpu_qtest as vq  # noqa: E402
from qtest import QEMU, PCIDevice, QTestError  # noqa: E402
from vtpu_qtest import (  # noqa: E402
    DATA, EXIT_A2, FENCE, INT_STATUS, LAST_EXIT, LAUNCH_COUNT, CMD_COUNT,
    LAUNCH_RESULT, OP_D2D, OP_D2H, OP_FENCE, OP_H2D, OP_LAUNCH, OP_LOAD_PROG,
    RING_HEAD, RING_TAIL, ST_BUSY, ST_IDLE, SLOT, Vtpu, cmd, tiny_elf)

DEV = "hbm-size=64M"
REGS = ("FENCE", "LAST_EXIT", "LAUNCH_COUNT", "CMD_COUNT", "RING_HEAD",
        "RING_TAIL", "RING_SIZE", "INT_STATUS", "INT_ENABLE", "CONTROL",
        "BYTES_IN_LO", "BYTES_OUT_LO", "STATUS", "ERR_CODE", "SCRATCH")


def rv_i(op, rd, f3, rs1, imm):
    return (imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op


def rv_r(rd, f3, rs1, rs2, f7):
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x33


def rv_bne(rs1, rs2, off):
    o = off & 0x1fff
    return ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3f) << 25 | rs2 << 20 | \
        rs1 << 15 | 1 << 12 | ((o >> 1) & 0xf) << 8 | \
        ((o >> 11) & 1) << 7 | 0x63


# x = TC + 1; a2 times x = x * 1664525 + 1013904223; exit(x): a long,
# deterministic kernel whose exit code checks every iteration.
T0, T1, T2, A0, A2, A7 = 5, 6, 7, 10, 12, 17
LCG = tiny_elf([
    rv_i(0x13, T0, 0, A0, 1),
    0x196 << 12 | T1 << 7 | 0x37, rv_i(0x13, T1, 0, T1, 0x60D),
    0x3C6EF << 12 | T2 << 7 | 0x37, rv_i(0x13, T2, 0, T2, 0x35F),
    rv_r(T0, 0, T0, T1, 1), rv_r(T0, 0, T0, T2, 0),
    rv_i(0x13, A2, 0, A2, -1), rv_bne(A2, 0, -12),
    rv_i(0x13, A0, 0, T0, 0), rv_i(0x13, A7, 0, 0, 93), 0x73])
ITERS = int(os.environ.get("VTPU_MIGRATE_ITERS", "60000000"))
# long enough (4G instructions per TC) that a live migration's RAM passes
# end while it runs, whatever the host's speed
LONG_ITERS = int(os.environ.get("VTPU_MIGRATE_LONG_ITERS", "1000000000"))


def lcg_exit(tc, n):
    """LCG's exit code on TC `tc` after n iterations: the affine map
    x -> a x + c composed n times by squaring (an independent
    reference, no emulator involved)."""
    a, c, A, C, M = 1664525, 1013904223, 1, 0, 1 << 32
    while n:
        if n & 1:
            A, C = a * A % M, (a * C + c) % M
        a, c = a * a % M, (a * c + c) % M
        n >>= 1
    x = (A * (tc + 1) + C) % M
    return x - M if x >= 1 << 31 else x
RESULT = DATA + 0x1000


class Attached(Vtpu):
    """The device of a destination: BARs and ring as the source set them
    (the configuration space migrated), nothing assigned again."""

    def __init__(self, q, src):
        self.q = q
        self.pci = PCIDevice(q, SLOT)
        self.bars = src.bars
        self.regs, self.ap, self.ap_size = src.regs, src.ap, src.ap_size
        self.ring_base, self.ring_size = src.ring_base, src.ring_size
        self.tail = src.tail


def regs(d):
    return {r: d.rd(getattr(vq, r)) for r in REGS}


class Migration(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vtpu-mig-")
        self.qemus = []

    def tearDown(self):
        for q in self.qemus:
            q.kill()  # also when the test failed

    def qemu(self, dev=DEV, extra=()):
        q = QEMU(vq.QEMU_BIN, ["-device", "vtpu,addr=%d.0,%s" % (SLOT, dev)]
                 + list(extra), timeout=120)
        self.qemus.append(q)
        q.start()
        return q

    def migrate(self, src, dev=DEV, expect_fail=False, paused=False):
        """Start a destination and move src's machine into it (paused:
        the destination stays stopped, -S)."""
        sock = os.path.join(self.tmp, "mig%d.sock" % len(self.qemus))
        dst = self.qemu(dev, ["-incoming", "defer"] +
                        (["-S"] if paused else []))
        dst.qmp("migrate-incoming", uri="unix:" + sock)
        src.qmp("migrate", uri="unix:" + sock)
        end = time.monotonic() + 60
        while True:
            st = src.qmp("query-migrate").get("status")
            if st in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > end:
                raise AssertionError("migration did not end: %s" % st)
            time.sleep(0.02)
        if expect_fail:
            return dst
        self.assertEqual(st, "completed", src.stderr() + dst.stderr())
        end = time.monotonic() + 30
        want = "paused" if paused else "running"
        while True:
            now = dst.qmp("query-status")["status"]
            if now == want:
                break
            if now == "paused" and not paused:
                # a source stopped before the migration leaves the
                # destination stopped too (QEMU's global state): go on
                dst.qmp("cont")
                continue
            if time.monotonic() > end:
                raise AssertionError("destination does not run: " +
                                     dst.stderr())
            time.sleep(0.02)
        return dst

    def load_program(self, d, q, elf, slot):
        q.write(DATA + 0x10000, elf)
        st = d.run(cmd(OP_H2D, src=DATA + 0x10000, dst=0x100000,
                       length=len(elf)),
                   cmd(OP_LOAD_PROG, arg=slot, src=0x100000, length=len(elf)))
        self.assertEqual(st, ST_IDLE, d.err_msg())

    def test_between_commands(self):
        src = self.qemu()
        d = Vtpu(src)
        d.setup_ring()
        payload = os.urandom(1 << 20)
        src.write(DATA + 0x200000, payload)
        self.load_program(d, src, EXIT_A2, 3)
        st = d.run(cmd(OP_H2D, src=DATA + 0x200000, dst=0x800000,
                       length=len(payload)),
                   cmd(OP_LAUNCH, LAUNCH_RESULT, arg=3 | 1 << 8,
                       args=(5, 0, 0, 0), addr=RESULT),
                   cmd(OP_FENCE, arg=9))
        self.assertEqual(st, ST_IDLE, d.err_msg())
        d.wr(vq.SCRATCH, 0x5eed1234)
        before = regs(d)
        hbm_win = src.read(d.ap + 0x800000, 4096)  # BAR2 at HBM 0

        dst = self.migrate(src)
        e = Attached(dst, d)
        self.assertEqual(regs(e), before)
        self.assertEqual(hbm_win, payload[:4096])
        self.assertEqual(dst.read(e.ap + 0x800000, 4096), hbm_win)
        # HBM came along (read back by the destination's device) ...
        st = e.run(cmd(OP_D2H, src=0x800000, dst=DATA + 0x600000,
                       length=len(payload)))
        self.assertEqual(st, ST_IDLE, e.err_msg())
        self.assertEqual(dst.read(DATA + 0x600000, len(payload)), payload)
        # ... and the program slot: launch it again on the destination
        st = e.run(cmd(OP_LAUNCH, arg=3, args=(7, 0, 0, 0)),
                   cmd(OP_FENCE, arg=10))
        self.assertEqual(st, ST_IDLE, e.err_msg())
        self.assertEqual(e.rd(LAST_EXIT), 7)
        self.assertEqual(e.rd(FENCE), 10)
        self.assertEqual(e.rd(LAUNCH_COUNT), before["LAUNCH_COUNT"] + 1)
        # the source is stopped for good (postmigrate)
        self.assertEqual(src.qmp("query-status")["status"], "postmigrate")

    def long_launch(self, d, q, args, slot=4):
        return [cmd(OP_LAUNCH, LAUNCH_RESULT, arg=slot, args=args,
                    addr=RESULT), cmd(OP_FENCE, arg=0x77)]

    def test_while_a_kernel_runs(self):
        """Live migration (RAM passes while the VM and the kernel run), the
        VM stopped for the last pass in the middle of the kernel."""
        src = self.qemu()
        d = Vtpu(src)
        d.setup_ring(size=32)
        self.load_program(d, src, LCG, 4)
        # a short one first: the closed form agrees with the chip
        st = d.run(*self.long_launch(d, src, (1000, 0, 0, 0)), timeout=60)
        self.assertEqual(st, ST_IDLE, d.err_msg())
        got = src.read(RESULT, 112)
        self.assertEqual(struct.unpack_from("<2i", got, 16),
                         (lcg_exit(0, 1000), lcg_exit(1, 1000)))
        src.memset(RESULT, 112, 0)
        d.submit(*self.long_launch(d, src, (LONG_ITERS, 0, 0, 0)))
        time.sleep(0.3)
        self.assertEqual(d.state(), ST_BUSY)
        count = d.rd(LAUNCH_COUNT)
        t0 = time.monotonic()
        dst = self.migrate(src)
        took = time.monotonic() - t0
        # the source stopped mid-kernel: the launch had not completed
        info = src.hmp("info vtpu")
        self.assertIn("state BUSY", info, info)
        self.assertRegex(info, r"TC 0: running at pc 0x001000[0-9a-f]{2}",
                         info)
        self.assertEqual(d.rd(LAUNCH_COUNT), count)
        e = Attached(dst, d)
        st = e.settle(timeout=300)
        self.assertEqual(st, ST_IDLE, e.err_msg())
        self.assertEqual(e.rd(FENCE), 0x77)
        self.assertEqual(e.rd(LAUNCH_COUNT), count + 1)
        got = dst.read(RESULT, 112)
        status, code, ntcs = struct.unpack_from("<IiI", got)
        self.assertEqual((status, ntcs), (0, 2))
        self.assertEqual(struct.unpack_from("<2i", got, 16),
                         (lcg_exit(0, LONG_ITERS), lcg_exit(1, LONG_ITERS)))
        self.assertEqual(struct.unpack_from("<2Q", got, 48),
                         (4 * LONG_ITERS + 8,) * 2)
        self.assertEqual(e.rd(LAST_EXIT) & 0xffffffff,
                         lcg_exit(0, LONG_ITERS) & 0xffffffff)
        sys.stderr.write("[live migration of %.1f s mid-kernel] " % took)

    def test_device_writes_during_live_migration(self):
        """The device writes HBM behind QEMU's dirty tracking (COPY_D2D on
        its worker) while RAM passes run: whatever it wrote after a page
        was sent must reach the destination (the device marks HBM dirty
        when the VM stops)."""
        src = self.qemu()
        d = Vtpu(src)
        d.setup_ring(size=64)
        mib = 1 << 20
        pattern = os.urandom(2 * mib)
        src.write(DATA + 0x400000, pattern)
        st = d.run(cmd(OP_H2D, src=DATA + 0x400000, dst=0, length=2 * mib))
        self.assertEqual(st, ST_IDLE, d.err_msg())
        copies = []  # (from, to) of each COPY_D2D submitted
        sock = os.path.join(self.tmp, "live.sock")
        dst = self.qemu(extra=["-incoming", "defer"])
        dst.qmp("migrate-incoming", uri="unix:" + sock)
        src.qmp("migrate", uri="unix:" + sock)
        n = 0
        while src.qmp("query-migrate").get("status") not in (
                "completed", "failed"):
            if src.qmp("query-status")["status"] != "running":
                time.sleep(0.01)
                continue
            # a copy of 1 MiB from a moving offset of the pattern into one
            # of six 1 MiB regions after it, as long as the VM runs
            if (d.tail + 1) % d.ring_size == d.rd(RING_HEAD):
                continue  # ring full
            off, to = (n * 4096 * 37) % mib, 2 * mib + (n % 6) * mib
            d.submit(cmd(OP_D2D, src=off, dst=to, length=mib))
            copies.append((off, to))
            n += 1
        self.assertEqual(src.qmp("query-migrate")["status"], "completed")
        while dst.qmp("query-status")["status"] != "running":
            time.sleep(0.02)
        e = Attached(dst, d)
        if e.rd(RING_TAIL) != d.tail:
            # the VM stopped between the last entry and its doorbell: that
            # doorbell rang on the source after its state was sent
            copies.pop()
            n -= 1
            e.tail = e.rd(RING_TAIL)
        self.assertEqual(e.settle(timeout=60), ST_IDLE, e.err_msg())
        self.assertEqual(e.rd(CMD_COUNT), 1 + n)
        hbm = bytearray(pattern) + bytearray(6 * mib)  # the model: 8 MiB
        for off, to in copies:
            hbm[to:to + mib] = hbm[off:off + mib]
        st = e.run(cmd(OP_D2H, src=0, dst=DATA + 0x1000000, length=8 * mib))
        self.assertEqual(st, ST_IDLE, e.err_msg())
        got = dst.read(DATA + 0x1000000, 8 * mib)
        for r in range(8):
            self.assertEqual(got[r * mib:(r + 1) * mib],
                             bytes(hbm[r * mib:(r + 1) * mib]),
                             "HBM MiB %d differs after %d copies" % (r, n))
        sys.stderr.write("[%d copies during the migration] " % n)

    def test_stopped_mid_kernel(self):
        """The VM stopped while the kernel runs, then migrated; the result
        record equals the same launch's without migration."""
        src = self.qemu()
        d = Vtpu(src)
        d.setup_ring(size=32)
        self.load_program(d, src, LCG, 4)
        args = (ITERS, 0, 0, 0)
        st = d.run(*self.long_launch(d, src, args), timeout=120)
        self.assertEqual(st, ST_IDLE, d.err_msg())
        ref = src.read(RESULT, 112)
        self.assertEqual(struct.unpack_from("<8Q", ref, 48)[:2],
                         (4 * ITERS + 8,) * 2)
        src.memset(RESULT, 112, 0)
        d.submit(*self.long_launch(d, src, args))
        time.sleep(0.05)
        src.qmp("stop")
        info = src.hmp("info vtpu")
        self.assertIn("state BUSY", info, info)
        dst = self.migrate(src)
        e = Attached(dst, d)
        self.assertEqual(e.settle(timeout=120), ST_IDLE, e.err_msg())
        self.assertEqual(dst.read(RESULT, 112), ref)
        self.assertEqual(e.rd(FENCE), 0x77)

    def test_back_and_forth(self):
        """Migrated mid-kernel twice: source -> B (kept stopped: the
        launch loaded, not yet resumed) -> C, which finishes it."""
        src = self.qemu()
        d = Vtpu(src)
        d.setup_ring()
        self.load_program(d, src, LCG, 2)
        args = (ITERS // 2, 0, 0, 0)
        st = d.run(*self.long_launch(d, src, args, slot=2), timeout=120)
        self.assertEqual(st, ST_IDLE, d.err_msg())
        ref = src.read(RESULT, 112)
        src.memset(RESULT, 112, 0)
        d.submit(cmd(OP_LAUNCH, LAUNCH_RESULT, arg=2, args=args,
                     addr=RESULT), cmd(OP_FENCE, arg=0x78))
        time.sleep(0.05)
        src.qmp("stop")
        self.assertIn("state BUSY", src.hmp("info vtpu"))
        b = self.migrate(src, paused=True)
        self.assertIn("state BUSY", b.hmp("info vtpu"))
        c = self.migrate(b)
        e = Attached(c, d)
        self.assertEqual(e.settle(timeout=120), ST_IDLE, e.err_msg())
        self.assertEqual(c.read(RESULT, 112), ref)
        self.assertEqual(e.rd(FENCE), 0x78)

    def qcow2(self, q, node):
        """A qcow2 image attached as block node `node`, made through QMP
        (blockdev-create; this QEMU has no qemu-img): savevm needs one."""
        path = os.path.join(self.tmp, node + ".qcow2")
        open(path, "wb").close()
        q.qmp("blockdev-add", driver="file", filename=path,
              **{"node-name": node + "-file"})
        q.qmp("blockdev-create", **{"job-id": "mk", "options": {
            "driver": "qcow2", "file": node + "-file", "size": 16 << 20}})
        end = time.monotonic() + 30
        while not any(j["id"] == "mk" and j["status"] == "concluded"
                      for j in q.qmp("query-jobs")):
            if time.monotonic() > end:
                raise AssertionError("blockdev-create did not end")
            time.sleep(0.01)
        q.qmp("job-dismiss", id="mk")
        q.qmp("blockdev-add", driver="qcow2", file=node + "-file",
              **{"node-name": node})

    def test_loadvm_over_a_running_kernel(self):
        """savevm mid-kernel; later, while another launch is quiesced,
        loadvm in the same QEMU: that launch goes, the saved one finishes
        (twice: after the savevm and after the loadvm), same result."""
        q = self.qemu()
        self.qcow2(q, "snap")
        d = Vtpu(q)
        d.setup_ring(size=32)
        self.load_program(d, q, LCG, 4)
        args = (ITERS, 0, 0, 0)
        st = d.run(*self.long_launch(d, q, args), timeout=120)
        self.assertEqual(st, ST_IDLE, d.err_msg())
        ref = q.read(RESULT, 112)
        q.memset(RESULT, 112, 0)
        d.submit(*self.long_launch(d, q, args))
        time.sleep(0.05)
        q.qmp("stop")
        self.assertIn("state BUSY", q.hmp("info vtpu"))
        out = q.hmp("savevm mid")
        self.assertNotIn("rror", out, out)
        saved_tail, count = d.tail, d.rd(LAUNCH_COUNT)
        q.qmp("cont")
        self.assertEqual(d.settle(timeout=120), ST_IDLE, d.err_msg())
        self.assertEqual(q.read(RESULT, 112), ref)
        # another launch (longer), quiesced, then the snapshot loaded over
        q.memset(RESULT, 112, 0)
        d.submit(*self.long_launch(d, q, (ITERS * 4, 0, 0, 0)))
        time.sleep(0.05)
        q.qmp("stop")
        self.assertIn("state BUSY", q.hmp("info vtpu"))
        out = q.hmp("loadvm mid")
        self.assertNotIn("rror", out, out)
        self.assertIn("state BUSY", q.hmp("info vtpu"))
        q.qmp("cont")
        d.tail = saved_tail  # the driver's view is the snapshot's too
        self.assertEqual(d.settle(timeout=120), ST_IDLE, d.err_msg())
        self.assertEqual(q.read(RESULT, 112), ref)
        self.assertEqual(d.rd(LAUNCH_COUNT), count + 1)
        self.assertEqual(d.rd(RING_HEAD), saved_tail)

    def test_other_configuration_refused(self):
        src = self.qemu()
        d = Vtpu(src)
        d.setup_ring()
        self.load_program(d, src, EXIT_A2, 0)
        dst = self.migrate(src, dev=DEV + ",cores=1", expect_fail=True)
        end = time.monotonic() + 20
        while dst.alive() and time.monotonic() < end:
            time.sleep(0.05)
        err = dst.stderr()
        self.assertIn("configuration mismatch: the snapshot is of a chip "
                      "with cores=2, this chip has cores=1", err)
        # the source sent everything (no return path: it does not hear of
        # the failure) and stopped; `cont` lets it and its device go on
        if src.qmp("query-status")["status"] != "running":
            src.qmp("cont")
        self.assertEqual(src.qmp("query-status")["status"], "running")
        st = d.run(cmd(OP_LAUNCH, arg=0, args=(3, 0, 0, 0)))
        self.assertEqual(st, ST_IDLE, d.err_msg())
        self.assertEqual(d.rd(LAST_EXIT), 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=vq.QEMU_BIN)
    args, rest = ap.parse_known_args()
    vq.QEMU_BIN = args.qemu
    if not os.access(vq.QEMU_BIN, os.X_OK):
        print("migration_qtest: no QEMU at %s (make qemu)" % vq.QEMU_BIN,
              file=sys.stderr)
        return 1
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
