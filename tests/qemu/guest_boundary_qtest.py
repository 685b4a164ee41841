#!/usr/bin/env python3
"""guest_boundary_qtest.py - the vtpu device against a hostile guest, in QEMU.

    tests/qemu/guest_boundary_qtest.py [--qemu PATH] [unittest options]

docs/registers.md, "The guest boundary"; docs/qemu.md, "Host memory",
"Kernel output", "Reset":
  - LOAD_PROG while the guest flips the ELF's program headers through
    BAR2: QEMU stays up, every load either succeeds or is refused;
  - kernel output into a chardev nobody reads: the kernel keeps running,
    drops are counted, soft and system reset finish within 100 ms, QMP
    answers; output into a file arrives escaped;
  - host memory: filling all of a small HBM raises QEMU's RSS by at most
    that much, a system reset gives it back and HBM reads zero after it;
    the same with memdev=; the default HBM is capped.
Each test starts its own QEMU (killed on exit, with a deadline).
"""

import os
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtpu_qtest as vq  # noqa: E402
from vtpu_qtest import (Vtpu, cmd, start, ST_IDLE, ST_ERROR, ST_BUSY,  # noqa
                        ST_DISABLED, OP_H2D, OP_LOAD_PROG, OP_LAUNCH,
                        OP_FILL, ERR_CODE, E_BAD_ELF, ERR_ACK, ACK_SKIP,
                        INT_STATUS, INT_ERROR, LAST_EXIT, CONTROL, CAPS,
                        HBM_SIZE_LO, OUT_BYTES_LO, OUT_DROPPED_LO, DATA)

SMEM = 0x10000000
IMEM = 0x00100000


def j_imm(off):
    """The J-type immediate field of `jal x0, off`."""
    o = off & 0x1fffff
    return ((o >> 20 & 1) << 31 | (o >> 1 & 0x3ff) << 21 |
            (o >> 11 & 1) << 20 | (o >> 12 & 0xff) << 12 | 0x6f)


def elf(words, data=b""):
    """RV32 ET_EXEC: `words` at IMEM, `data` as the SMEM image."""
    code = struct.pack("<%dI" % len(words), *words)
    nph = 2 if data else 1
    off = 52 + 32 * nph
    eh = struct.pack("<4sBBBB8xHHIIIIIHHHHHH", b"\x7fELF", 1, 1, 1, 0,
                     2, 243, 1, IMEM, 52, 0, 0, 52, 32, nph, 40, 0, 0)
    ph = struct.pack("<8I", 1, off, IMEM, IMEM, len(code), len(code), 5, 4)
    if data:
        ph += struct.pack("<8I", 1, off + len(code), SMEM, SMEM, len(data),
                          len(data), 6, 4)
    return eh + ph + code + data


def b_imm(f3, rs1, rs2, off):
    """A B-type branch (bne: f3 = 1) by `off` bytes."""
    o = off & 0x1fff
    return ((o >> 12 & 1) << 31 | (o >> 5 & 0x3f) << 25 | rs2 << 20 |
            rs1 << 15 | f3 << 12 | (o >> 1 & 0xf) << 8 |
            (o >> 11 & 1) << 7 | 0x63)


def printer(text, count=0):
    """write(1, text) `count` times then exit(0); for ever if count is 0."""
    assert len(text) < 2048 and count < 2048
    loop = [0x00100513,                       # addi a0, zero, 1
            0x100005b7,                       # lui a1, 0x10000 (SMEM)
            0x00000613 | len(text) << 20,     # addi a2, zero, len
            0x04000893,                       # addi a7, zero, 64 (write)
            0x00000073]                       # ecall
    if not count:
        return elf(loop + [j_imm(-4 * len(loop))], text)
    w = [0x00000413 | count << 20] + loop     # addi s0, zero, count
    w += [0xfff40413,                         # addi s0, s0, -1
          b_imm(1, 8, 0, -4 * (len(loop) + 1)),  # bnez s0, loop
          0x00000513, 0x05d00893, 0x00000073]    # exit(0)
    return elf(w, text)


def load(d, q, image, slot=0, at=0x100000):
    q.write(d.ap + at, image)  # through BAR2, as a driver may
    return d.run(cmd(OP_LOAD_PROG, arg=slot, src=at, length=len(image)))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def rd64(d, lo):
    low = d.rd(lo)
    return low | d.rd(lo + 4) << 32


def ack(d):
    code = d.rd(ERR_CODE)
    d.wr(ERR_ACK, ACK_SKIP)
    d.wr(INT_STATUS, INT_ERROR)
    return code


class LoadProgRace(unittest.TestCase):
    def test_flip_headers_during_load_prog(self):
        # A large code segment makes each load take a while; the
        # program headers are flipped through BAR2 while it runs.
        nops = [0x00000013] * (1 << 17)        # 512 KiB of addi x0,x0,0
        image = elf(nops + [0x02a00513, 0x05d00893, 0x00000073],
                    b"\xab" * 4096)
        phdr = 52
        lies = [(phdr + 16, 0x7ffff000), (phdr + 8, 0x10000000),
                (phdr + 4, 0x10), (phdr + 32 + 16, 0x00100000),
                (phdr + 32 + 8, 0x00100000), (phdr + 20, 0x40000000)]
        with start("hbm-size=64M", "aperture-size=4M", timeout=120) as q:
            d = Vtpu(q)
            d.setup_ring()
            at = 0x100000
            q.write(d.ap + at, image)
            ok = refused = 0
            end = time.monotonic() + 8
            i = 0
            while time.monotonic() < end:
                d.submit(cmd(OP_LOAD_PROG, arg=i % 16, src=at,
                             length=len(image)))
                for k in range(6):
                    off, val = lies[(i + k) % len(lies)]
                    q.writel(d.ap + at + off, val)
                    q.write(d.ap + at + off, image[off:off + 4])
                st = d.settle()
                if st == ST_ERROR:
                    self.assertEqual(ack(d), E_BAD_ELF, d.err_msg())
                    refused += 1
                else:
                    ok += 1
                i += 1
            self.assertTrue(q.alive(), q.stderr())
            print("\nLOAD_PROG with flipping headers: %d loaded, %d refused"
                  % (ok, refused), file=sys.stderr)
            self.assertGreater(ok + refused, 20)
            # Sound afterwards: the real image loads and runs.
            q.write(d.ap + at, image)
            self.assertEqual(d.run(cmd(OP_LOAD_PROG, arg=0, src=at,
                                       length=len(image))), ST_IDLE,
                             d.err_msg())
            self.assertEqual(d.run(cmd(OP_LAUNCH, arg=0 | 1 << 8),
                                   timeout=30), ST_IDLE, d.err_msg())
            self.assertEqual(d.rd(LAST_EXIT), 42)


class Output(unittest.TestCase):
    def test_output_to_file_is_escaped(self):
        tmp = tempfile.mkdtemp(prefix="vtpu-out-")
        path = os.path.join(tmp, "tc.log")
        text = b"tc says \x1b[31mhi\x1b[0m\\\n"
        with start("hbm-size=64M", "chardev=tcout",
                   extra=["-chardev", "file,id=tcout,path=" + path]) as q:
            d = Vtpu(q)
            d.setup_ring()
            self.assertTrue(d.rd(CAPS) & 1 << 4)
            self.assertEqual(load(d, q, printer(text, 3)), ST_IDLE,
                             d.err_msg())
            self.assertEqual(d.run(cmd(OP_LAUNCH, arg=1 << 8)), ST_IDLE,
                             d.err_msg())
            want = b"tc says \\x1b[31mhi\\x1b[0m\\\\\n" * 3
            d.wait(lambda: os.path.getsize(path) >= len(want), "output")
            with open(path, "rb") as f:
                self.assertEqual(f.read(), want)
            self.assertEqual(rd64(d, OUT_BYTES_LO), len(want))
            self.assertEqual(rd64(d, OUT_DROPPED_LO), 0)
            self.assertIn("kernel output: %d bytes, 0 dropped, to chardev"
                          % len(want), q.hmp("info vtpu"))

    def test_no_chardev_counts_and_drops(self):
        with start("hbm-size=64M") as q:
            d = Vtpu(q)
            d.setup_ring()
            self.assertEqual(load(d, q, printer(b"hello\n", 10)), ST_IDLE)
            self.assertEqual(d.run(cmd(OP_LAUNCH, arg=1 << 8)), ST_IDLE)
            self.assertEqual(rd64(d, OUT_DROPPED_LO), 60)
            self.assertEqual(rd64(d, OUT_BYTES_LO), 0)
            self.assertIn("60 dropped, no chardev", q.hmp("info vtpu"))

    def test_reset_with_a_sink_that_never_reads(self):
        tmp = tempfile.mkdtemp(prefix="vtpu-out-")
        sock_path = os.path.join(tmp, "tc.sock")
        with start("hbm-size=64M", "chardev=tcout", "output-rate=256M",
                   extra=["-chardev", "socket,id=tcout,path=%s,server=on,"
                          "wait=off" % sock_path]) as q:
            # The reader connects and never reads a byte.
            cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            cl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            cl.connect(sock_path)
            try:
                d = Vtpu(q)
                image = printer(b"x" * 1000 + b"\n")
                for how in ("soft", "system"):
                    d.setup_ring()
                    self.assertEqual(load(d, q, image), ST_IDLE, d.err_msg())
                    d.submit(cmd(OP_LAUNCH, arg=0))
                    # The socket fills, the buffer fills, output is
                    # dropped, and the kernel goes on printing.
                    d.wait(lambda: rd64(d, OUT_DROPPED_LO) > 1 << 20,
                           "output dropped", timeout=20)
                    self.assertEqual(d.state(), ST_BUSY)
                    t0 = time.monotonic()
                    if how == "soft":
                        d.wr(CONTROL, 1 << 31)
                        d.wait(lambda: d.state() == ST_DISABLED,
                               "soft reset", timeout=5)
                    else:
                        d = d.system_reset()
                        self.assertEqual(d.state(), ST_DISABLED)
                    ms = (time.monotonic() - t0) * 1000
                    print("\n%s reset with a blocked sink: %.1f ms "
                          "(over qtest)" % (how, ms), file=sys.stderr)
                    self.assertLess(ms, 100)
                    # The main loop answers.
                    self.assertEqual(q.qmp("query-status")["status"],
                                     "running")
            finally:
                cl.close()


def dma_probe_elf():
    path = os.path.join(vq.ROOT, "build", "tests", "rv32", "dma_probe.elf")
    if not os.path.exists(path):
        raise unittest.SkipTest("%s not built (ninja -C build)" % path)
    with open(path, "rb") as f:
        return f.read()


class Isolation(unittest.TestCase):
    """LAUNCH with F_RANGES: a launch reaches only the HBM it was granted
    (docs/registers.md, "Isolation").  dma_probe reads a3 bytes at HBM
    a2 and writes them, each + 1, at HBM a4."""

    A, B, C = 0x200000, 0x300000, 0x400000  # A, B granted; C someone else's
    TABLE = DATA + 0x8000                   # the range table, guest RAM
    F_RANGES = vq.CONST["VTPU_LAUNCH_F_RANGES"]

    def grant(self, q, ranges, rsvd=0):
        q.write(self.TABLE, struct.pack("<II", len(ranges), rsvd) +
                b"".join(struct.pack("<QQ", o, n) for o, n in ranges))

    def launch(self, d, src, n, dst):
        return d.run(cmd(OP_LAUNCH, self.F_RANGES, arg=1 | 1 << 8,
                         args=(src, n, dst, 0), ranges=self.TABLE))

    def test_launch_reaches_only_granted_hbm(self):
        image = dma_probe_elf()
        secret = bytes(range(7, 7 + 64))
        with start("hbm-size=64M", "aperture-size=8M") as q:
            d = Vtpu(q)
            d.setup_ring()
            self.assertEqual(load(d, q, image, slot=1, at=0x600000), ST_IDLE,
                             d.err_msg())
            q.write(d.ap + self.A, bytes(64 * [0x41]))
            q.write(d.ap + self.C, secret)
            self.grant(q, [(self.A, 0x1000), (self.B, 0x1000)])
            # Inside the grant: A -> B works.
            self.assertEqual(self.launch(d, self.A, 64, self.B), ST_IDLE,
                             d.err_msg())
            self.assertEqual(q.read(d.ap + self.B, 64), bytes(64 * [0x42]))
            # Reading C, not granted: a DMA fault naming the address.
            for src, n, dst, bad in ((self.C, 64, self.B, self.C),
                                     (self.A + 0xfc0, 128, self.B,
                                      self.A + 0xfc0),
                                     (self.A, 64, self.C, self.C)):
                self.assertEqual(self.launch(d, src, n, dst), ST_ERROR)
                self.assertEqual(d.rd(ERR_CODE), vq.E_FAULT)
                self.assertEqual(d.rd(vq.ERR_KIND), vq.FAULT["DMA"])
                self.assertEqual(d.rd(vq.ERR_ADDR_LO), bad)
                self.assertEqual(d.rd(vq.ERR_TC), 0)
                self.assertIn("not in the HBM granted to this launch",
                              d.err_msg())
                ack(d)
            # Nothing of C reached B, and C is untouched.
            self.assertEqual(q.read(d.ap + self.B, 64), bytes(64 * [0x42]))
            self.assertEqual(q.read(d.ap + self.C, 64), secret)
            # Without F_RANGES the launch owns all of HBM (bare metal).
            self.assertEqual(d.run(cmd(OP_LAUNCH, arg=1 | 1 << 8,
                                       args=(self.C, 64, self.B, 0))),
                             ST_IDLE, d.err_msg())
            self.assertEqual(q.read(d.ap + self.B, 64),
                             bytes(b + 1 for b in secret))

    def test_bad_range_tables(self):
        image = dma_probe_elf()
        with start("hbm-size=64M", "aperture-size=8M") as q:
            d = Vtpu(q)
            d.setup_ring()
            self.assertEqual(load(d, q, image, slot=1, at=0x600000), ST_IDLE)
            bad = vq.E_BAD_RANGES
            for ranges, rsvd in (([], 0), ([(0, 0x1000)] * 65, 0),
                                 ([(0, 0x1000)], 1), ([(0, 0)], 0),
                                 ([(64 << 20, 0x1000)], 0),
                                 ([(0x1000, (1 << 64) - 0x1000)], 0)):
                self.grant(q, ranges[:65], rsvd)
                self.assertEqual(self.launch(d, self.A, 64, self.B), ST_ERROR,
                                 (ranges[:2], rsvd))
                self.assertEqual(d.rd(ERR_CODE), bad, d.err_msg())
                self.assertEqual(d.rd(vq.LAUNCH_COUNT), 0)
                ack(d)
            # A table the device cannot read (not RAM).
            d.submit(cmd(OP_LAUNCH, self.F_RANGES, arg=1 | 1 << 8,
                         ranges=vq.UART))
            self.assertEqual(d.settle(), ST_ERROR)
            self.assertEqual(d.rd(ERR_CODE), vq.E_HOST_DMA)
            ack(d)


class HostMemory(unittest.TestCase):
    MB = 64

    def fill_and_reset(self, q, d):
        pid = q.proc.pid
        d.setup_ring()
        before = rss_kib(pid)
        size = self.MB << 20
        self.assertEqual(d.run(cmd(OP_FILL, arg=0x5a5a5a5a, dst=0,
                                   length=size), timeout=30), ST_IDLE,
                         d.err_msg())
        # Past the end is refused: nothing outside what was granted.
        self.assertEqual(d.run(cmd(OP_FILL, arg=1, dst=size - 4, length=8)),
                         ST_ERROR)
        ack(d)
        filled = rss_kib(pid)
        self.assertEqual(q.readl(d.ap + 0x1000), 0x5a5a5a5a)
        d = d.system_reset()
        after = rss_kib(pid)
        grew, freed = (filled - before) >> 10, (filled - after) >> 10
        print("\nRSS: %d MiB more after filling %d MiB of HBM, %d MiB "
              "freed by system_reset" % (grew, self.MB, freed),
              file=sys.stderr)
        self.assertLessEqual(filled - before, (self.MB + 8) << 10)
        self.assertGreaterEqual(filled - before, (self.MB - 8) << 10)
        self.assertGreaterEqual(filled - after, (self.MB - 8) << 10)
        # Nothing of the previous guest is left.
        for off in (0, 0x1000, 0x123450, (4 << 20) - 4):
            self.assertEqual(q.readl(d.ap + off), 0)
        return d

    def test_fill_all_of_a_small_hbm(self):
        with start("hbm-size=%dM" % self.MB, "aperture-size=4M",
                   timeout=120) as q:
            d = Vtpu(q)
            self.assertEqual(d.rd(HBM_SIZE_LO), self.MB << 20)
            self.fill_and_reset(q, d)

    def test_memdev(self):
        with start("memdev=hbm0", "aperture-size=4M", timeout=120,
                   extra=["-object", "memory-backend-ram,id=hbm0,size=%dM"
                          % self.MB]) as q:
            d = Vtpu(q)
            self.assertEqual(d.rd(HBM_SIZE_LO), self.MB << 20)
            self.fill_and_reset(q, d)

    def test_memdev_kept_with_reset_scrub_off(self):
        with start("memdev=hbm0", "reset-scrub=off",
                   extra=["-object", "memory-backend-memfd,id=hbm0,size=32M,"
                          "share=on"]) as q:
            d = Vtpu(q)
            q.writel(d.ap + 0x2000, 0xfeedf00d)
            d = d.system_reset()
            self.assertEqual(q.readl(d.ap + 0x2000), 0xfeedf00d)

    def test_default_hbm_is_capped(self):
        with start("gen=v5p") as q:
            d = Vtpu(q)
            self.assertEqual(rd64(d, HBM_SIZE_LO), 4 << 30)
        with start("gen=v5p", "hbm-size=8G") as q:
            d = Vtpu(q)
            self.assertEqual(rd64(d, HBM_SIZE_LO), 8 << 30)

    def test_memdev_errors(self):
        import subprocess
        base = [vq.QEMU_BIN, "-M", "virt", "-display", "none", "-nodefaults",
                "-accel", "qtest", "-qtest", "null",
                "-object", "memory-backend-ram,id=m,size=32M"]
        for devs, want in ((["vtpu,memdev=m,hbm-size=64M"], "hbm-size"),
                           (["vtpu,memdev=nope"], "nope"),
                           (["vtpu,memdev=m", "vtpu,memdev=m"],
                            "already in use")):
            args = sum((["-device", x] for x in devs), [])
            out = subprocess.run(base + args, capture_output=True, text=True,
                                 timeout=30)
            self.assertNotEqual(out.returncode, 0, devs)
            self.assertIn(want, out.stderr, devs)


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=vq.QEMU_BIN)
    args, rest = ap.parse_known_args()
    vq.QEMU_BIN = args.qemu
    if not os.access(vq.QEMU_BIN, os.X_OK):
        print("guest_boundary_qtest: no QEMU at %s (make qemu)" % vq.QEMU_BIN,
              file=sys.stderr)
        return 1
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
