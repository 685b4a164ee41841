#!/usr/bin/env python3
"""test_linux_user.py - the runtime and tools in Linux user space: boot the
riscv64 Linux guest (guest/linux, `make linux`) with vtpu.ko loaded and run
the programs of `make linux-user` (guest/linux-user, docs/linux.md "User
space") through the kernel driver:

  - vtpu-demo: the demo's workloads (the bare-metal demo's code) over the
    runtime's Linux backend, every row matching its CPU reference;
  - vtpu-selftest: the runtime-level self-tests and the uAPI tests
    (isolation, faults, exit codes, job timeout), none failing;
  - vtpu-run add_sin_f32 on .npy files: the output file is dumped in hex on
    the console (three times: the first intact copy counts) and compared
    here against sin((x + y) * 2) computed from
    the same input files (to 1e-6), and byte for byte against the host's
    vtpu-run on the in-process chip; its errors (unknown kernel, a launch
    the TC runtime stops) keep their exit statuses and messages;
  - two processes launching at once, each looping over its own launches,
    every output checked;
  - vtpu-slice: collective launches through the driver on 2 and 4 vtpu
    devices joined by a vtpu-ici fabric (a ring of 2, a 2x2 torus), every
    chip's all-reduce, reduce-scatter and all-gather equal bit for bit to
    the program's reference in ring order; and a collective launched on
    only one chip of two, or on a chip in no slice, failing with the
    device's or the driver's error within its time limit, the devices
    working afterwards.

The programs and vtpu.ko are the build's (BUILD/linux-user/rootfs,
BUILD/driver/linux/vtpu.ko), added to the image's initramfs for each boot
(run-linux.sh --add), so a stale image does not hide a change.  Every boot
goes through guest/linux/run-linux.sh in its own process group with a hard
time limit and is killed (SIGKILL to the group) however the test ends.

    python3 tests/system/test_linux_user.py [--qemu PATH] [--build DIR]
        [--linux-dir DIR (default BUILD/linux)] [unittest options]
"""

import argparse
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402

RUN_LINUX = os.path.join(guestvm.ROOT, "guest/linux/run-linux.sh")
LINUX_DIR = None  # default: BUILD/linux
BOOT_LIMIT = 240  # seconds for one boot and its commands, hard
SHARE = "/usr/share/vtpu"


def linux_dir():
    d = LINUX_DIR or os.path.join(guestvm.BUILD, "linux")
    for f in ("Image", "initramfs.cpio"):
        if not os.path.exists(os.path.join(d, f)):
            raise unittest.SkipTest("%s/%s not built (make linux)" % (d, f))
    return d


def user_root():
    r = os.path.join(guestvm.BUILD, "linux-user", "rootfs")
    if not os.path.exists(os.path.join(r, "usr/bin/vtpu-run")):
        raise unittest.SkipTest("%s not built (make linux-user)" % r)
    return r


def adds():
    """--add arguments: the user-space tree and the kernel module."""
    root = user_root()
    out = []
    for d, _, files in os.walk(root):
        for f in sorted(files):
            h = os.path.join(d, f)
            out += ["--add", "%s:/%s" % (h, os.path.relpath(h, root))]
    ko = os.path.join(guestvm.BUILD, "driver", "linux", "vtpu.ko")
    if os.path.exists(ko):
        out += ["--add", ko + ":/lib/modules/vtpu.ko"]
    return out


def boot(script, device="vtpu,gen=v4", limit=BOOT_LIMIT, files=(),
         append=(), qemu_args=()):
    """Run the shell script in the guest, with host files (HOST, GUEST)
    added, more kernel command-line arguments and QEMU arguments; (exit
    code, console).  Exit code None: the time limit was hit (QEMU
    killed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
        path = f.name
    # loglevel=1: no kernel messages cut into what the script prints
    cmd = [RUN_LINUX, "--qemu", guestvm.QEMU, "--dir", linux_dir(),
           "--device", device, "--timeout", str(limit), "--append",
           "loglevel=1", "--script", path] + adds()
    for h, g in files:
        cmd += ["--add", "%s:%s" % (h, g)]
    for a in append:
        cmd += ["--append", a]
    if qemu_args:
        cmd += ["--"] + list(qemu_args)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=limit + 20)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = None
        out = b""
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out2, _ = p.communicate()
            out += out2
        os.unlink(path)
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    if "VTPU-RUN-START" in text:
        text = text[text.index("VTPU-RUN-START"):]
    return rc, text


def hex_blocks(text):
    """The files dumped between 'HEX-BEGIN name' and 'HEX-END name' lines
    (xxd -p: 60 hex digits a line, the last one shorter), as a list of
    bytes (or None for a garbled copy) by name."""
    blocks, cur, name = {}, None, None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"HEX-(BEGIN|END) (\S+)$", line)
        if m and m.group(1) == "BEGIN":
            cur, name = [], m.group(2)
        elif m and cur is not None:
            ok = all(len(h) == 60 for h in cur[:-1]) and \
                all(re.fullmatch(r"[0-9a-f]+", h) for h in cur)
            blocks.setdefault(name, []).append(
                bytes.fromhex("".join(cur)) if ok else None)
            cur = None
        elif cur is not None and line:
            cur.append(line)
    return blocks


def dump(guest_path, name):
    """Shell lines printing the file's size, then the file in hex three
    times (dumped() takes the first intact copy)."""
    return ("wc -c < %s | sed 's/^/SIZE-%s /'\n"
            "for c in 1 2 3; do echo HEX-BEGIN %s; xxd -p %s; "
            "echo HEX-END %s; done\n" % (guest_path, name, name, guest_path,
                                          name))


def dumped(text, name):
    """The first intact copy of a file dumped with dump().  Under load the
    console path (guest UART -> QEMU -> pipes) has lost characters, so a
    copy counts only if all its lines are whole and it has the size wc -c
    printed in the guest."""
    m = re.search(r"^SIZE-%s (\d+)" % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("no size of %s on the console" % name)
    size = int(m.group(1))
    copies = hex_blocks(text).get(name, [])
    for data in copies:
        if data is not None and len(data) == size:
            return data
    raise AssertionError("no intact copy of %s (%d bytes) among %d on the "
                         "console" % (name, size, len(copies)))


def npy_f32(data):
    """(shape, values) of a little-endian float32 .npy file's bytes."""
    assert data[:6] == b"\x93NUMPY", "not an .npy file"
    hlen = struct.unpack("<H", data[8:10])[0]
    hdr = data[10:10 + hlen].decode()
    assert "'descr': '<f4'" in hdr, hdr
    m = re.search(r"'shape': \(([0-9, ]*)\)", hdr)
    shape = tuple(int(x) for x in m.group(1).split(",") if x.strip())
    raw = data[10 + hlen:]
    return shape, struct.unpack("<%df" % (len(raw) // 4), raw)


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def add_sin_ref(x, y):
    """o = sin((x + y) * 2) with float32 sums and products, as the kernel
    (kernels.md): the sine of the float32 argument, rounded."""
    return [f32(math.sin(f32(f32(a + b) * 2.0))) for a, b in zip(x, y)]


def worst_error(got, ref):
    return max(abs(g - r) / max(abs(r), 1e-3) for g, r in zip(got, ref))


def inputs():
    share = os.path.join(user_root(), SHARE.lstrip("/"))
    with open(os.path.join(share, "x.npy"), "rb") as f:
        xb = f.read()
    with open(os.path.join(share, "y.npy"), "rb") as f:
        yb = f.read()
    return xb, yb


class Demo(unittest.TestCase):
    """vtpu-demo in user space: identity, every workload matches."""

    def check(self, device, tcs, gen):
        rc, out = boot("vtpu-demo\n", device=device)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("Linux user space", out)
        self.assertRegex(out, r"PCI \S+ 1af4:10f7, driver vtpu")
        self.assertIn("generation %s, %d TCs" % (gen, tcs), out)
        self.assertIn("vtpu-demo: all rows matched", out)
        rows = {}
        for line in out.splitlines():
            m = re.match(r"(add_sin_f32|matmul_f32|sort_f32)\s", line)
            if m:
                rows[m.group(1)] = line.rstrip()
        self.assertTrue(rows["add_sin_f32"].endswith(" yes"), out)
        self.assertTrue(rows["matmul_f32"].endswith(" yes"), out)
        sort = rows["sort_f32"]
        self.assertTrue(sort.endswith(" yes") or " skipped " in sort, sort)
        self.assertRegex(rows["add_sin_f32"], r"grid 512\s+%d\s" % tcs)
        return out

    def test_demo_v4(self):
        out = self.check("vtpu,gen=v4", 2, "v4")
        self.assertRegex(out, r"runtime \(linux backend\): 3 jobs")

    def test_demo_one_tc(self):
        self.check("vtpu,gen=v5e", 1, "v5e")


class Selftest(unittest.TestCase):
    """vtpu-selftest in user space: every test passes."""

    def test_selftest(self):
        rc, out = boot("vtpu-selftest\n")
        ran = re.findall(r"^test (\w+)", out, re.M)
        failed = re.findall(r"FAIL (\w+)", out)
        self.assertGreaterEqual(len(ran), 15, out)
        self.assertEqual(failed, [], out)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertRegex(out, r"vtpu-selftest: %d tests, 0 failed" % len(ran))
        for name in ("rt_copies", "module_load", "launch_all_tcs",
                     "launch_kernel_error", "isolation", "two_files",
                     "wait_and_job_timeout"):
            self.assertIn(name, ran)
        # device errors in the runtime's words
        self.assertIn("TC 0 faulted at pc 0x00100004: breakpoint", out)
        self.assertIn("is not in the HBM granted", out)
        self.assertIn("async copy out of range", out)


class VtpuRun(unittest.TestCase):
    """vtpu-run's kernel mode in the guest on .npy files."""

    def test_add_sin(self):
        xb, yb = inputs()
        script = (
            "cd /tmp\n"
            "vtpu-run %s/kernels.elf add_sin_f32 --grid 8 --dims parallel "
            "%s/x.npy %s/y.npy -o o.npy\n"
            "echo VTPU-RUN-RC $?\n" % (SHARE, SHARE, SHARE) +
            dump("o.npy", "o") +
            "vtpu-run %s/kernels.elf nope %s/x.npy -o z.npy\n"
            "echo NOPE-RC $?\n"
            "vtpu-run %s/kernels.elf add_sin_f32 --grid 9 %s/x.npy "
            "%s/y.npy -o z.npy\n"
            "echo GRID9-RC $?\n"
            "test -e z.npy && echo Z-EXISTS\n"
            "vtpu-run --gen v5e %s/kernels.elf add_sin_f32\n"
            "echo GEN-RC $?\n" % ((SHARE,) * 6))
        rc, out = boot(script)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("VTPU-RUN-RC 0", out)
        self.assertRegex(out, r"add_sin_f32: grid \(8\) parallel, 2 TCs "
                         r"\(2 busy\), 8 steps, [0-9.]+ ms, 98304 bytes moved")
        ob = dumped(out, "o")
        shape, o = npy_f32(ob)
        _, x = npy_f32(xb)
        _, y = npy_f32(yb)
        self.assertEqual(shape, (64, 128))
        err = worst_error(o, add_sin_ref(x, y))
        self.assertLessEqual(err, 1e-6, "max relative error %g" % err)
        sys.stderr.write("[max relative error %.2g] " % err)
        # the same launch on the host's in-process chip: the same bytes
        host = os.path.join(guestvm.BUILD, "tools", "vtpu-run")
        module = os.path.join(guestvm.BUILD, "firmware/kernels/kernels.elf")
        if os.path.exists(host) and os.path.exists(module):
            with tempfile.TemporaryDirectory() as tmp:
                for n, b in (("x.npy", xb), ("y.npy", yb)):
                    with open(os.path.join(tmp, n), "wb") as f:
                        f.write(b)
                p = subprocess.run(
                    [host, module, "add_sin_f32", "--grid", "8", "--dims",
                     "parallel", "--gen", "v4", "x.npy", "y.npy", "-o",
                     "o.npy"], cwd=tmp, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, timeout=120)
                self.assertEqual(p.returncode, 0, p.stdout)
                with open(os.path.join(tmp, "o.npy"), "rb") as f:
                    self.assertEqual(f.read(), ob,
                                     "guest and host outputs differ")
        # errors: status and message as on the host
        self.assertIn("NOPE-RC 2", out)
        self.assertRegex(out, r"vtpu-run: \S+kernels\.elf: no kernel 'nope' "
                         r"in the module \(it has: [^)]*add_sin_f32")
        self.assertIn("GRID9-RC 125", out)
        # The TC runtime's own line ("vtpu-rt: TC 0: ...") reaches the
        # console through the vtpu's chardev, in one piece but at any
        # byte of the guest's console output (seen: "v" + that line +
        # "tpu-run: launch of ..."): take it out before matching.
        shell = re.sub(r"vtpu-rt: TC \d+: [^\n]*\n", "", out)
        self.assertRegex(shell, r"vtpu-run: launch of 'add_sin_f32' failed on "
                         r"TC \d: block index out of range")
        self.assertNotIn("Z-EXISTS", out)
        self.assertIn("GEN-RC 2", out)
        self.assertIn("--gen: an option of the host's vtpu-run", out)

    def test_long_message_whole(self):
        """A device message longer than the uAPI record's message[256]
        comes out whole: the runtime gives JOB_ERROR a buffer for it
        (message_ptr).  The planted bug of the selftest module reads past
        VMEM from a body with a 70-character name."""
        name = "a_kernel_with_a_long_name_31chr"
        body = ("this_body_function_has_a_rather_long_name_so_that_reports_"
                "carry_it_whole")
        script = (
            "cd /tmp\n"
            "vm=$(cat /sys/bus/pci/devices/0000:00:01.0/vmem_size)\n"
            "vtpu-run %s/selftest.elf %s --grid 1 --out-shape 8,128 "
            "-o o.npy --scalar $((vm - 512)),0\n"
            "echo LONG-RC $?\n" % (SHARE, name))
        rc, out = boot(script)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("LONG-RC 125", out)
        lines = [ln.strip() for ln in out.splitlines()
                 if ln.startswith("vtpu-run: launch of '%s'" % name)]
        self.assertEqual(len(lines), 1, out)
        line = lines[0]
        self.assertIn("(%s+0x" % body, line)
        self.assertRegex(line, r"vld v1: sublane 1 at 0x[0-9a-f]+ \(\+512 "
                         r"bytes\) is outside VMEM \[0x20000000, 0x[0-9a-f]+\) "
                         r"\(base 0x[0-9a-f]+, stride 512\)\]$")
        self.assertGreater(len(line), 300)

    def test_kernels_match_host(self):
        """More kernels and launch shapes (padding, an --out-shape, more
        than 16 scalar-prefetch values in HBM, ANY operands, an in/out and
        an SMEM operand): the guest's outputs equal, byte for byte, the
        host's vtpu-run on the same inputs (which tests/test_vtpu_run.py
        checks against Python references)."""
        import random
        host = os.path.join(guestvm.BUILD, "tools", "vtpu-run")
        module = os.path.join(guestvm.BUILD, "firmware/kernels/kernels.elf")
        if not os.path.exists(host):
            self.skipTest("no host vtpu-run in the build")
        rng = random.Random(7)

        def save(path, descr, shape, fmt, vals):
            dims = ", ".join(str(d) for d in shape) + \
                ("," if len(shape) == 1 else "")
            hdr = ("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }"
                   % (descr, dims))
            hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
            with open(path, "wb") as f:
                f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) +
                        hdr.encode() +
                        struct.pack("<%d%s" % (len(vals), fmt), *vals))

        def fl(n, lo, hi):
            return [f32(rng.uniform(lo, hi)) for _ in range(n)]

        idx = [rng.randrange(8) for _ in range(20)]
        cases = [  # (name, inputs {file: (descr, shape, fmt, values)}, args)
            ("add_mul_i32",
             {"xi.npy": ("<i4", (101, 256), "i",
                         [rng.randint(-2**31, 2**31 - 1)
                          for _ in range(101 * 256)]),
              "yi.npy": ("<i4", (101, 256), "i",
                         [rng.randint(-2**31, 2**31 - 1)
                          for _ in range(101 * 256)])},
             "--grid 13,2 --dims parallel,parallel xi.npy yi.npy"),
            ("matmul_f32",
             {"mx.npy": ("<f4", (128, 160), "f", fl(128 * 160, -1, 1)),
              "my.npy": ("<f4", (160, 128), "f", fl(160 * 128, -1, 1))},
             "--grid 1,1,2 --dims parallel,parallel,arbitrary "
             "--out-shape 128,128 mx.npy my.npy"),
            ("gather_rows",
             {"gx.npy": ("<f4", (64, 128), "f", fl(64 * 128, -9, 9))},
             "--grid 20 --scalar %s --out-shape 160,128 gx.npy"
             % ",".join(map(str, idx))),
            ("scale_any",
             {"ax.npy": ("<f4", (300, 128), "f", fl(300 * 128, -9, 9))},
             "--grid 2 --dims parallel ax.npy"),
            ("row_scale_acc",
             {"ro0.npy": ("<f4", (24, 256), "f", fl(24 * 256, -9, 9)),
              "rx.npy": ("<f4", (24, 256), "f", fl(24 * 256, -9, 9)),
              "rw.npy": ("<f4", (24,), "f", fl(24, -2, 2))},
             "--grid 3,2 ro0.npy rx.npy rw.npy"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            files, script = [], "cd /root/k\n"
            for name, ins, args in cases:
                for fname, (descr, shape, fmt, vals) in ins.items():
                    save(os.path.join(tmp, fname), descr, shape, fmt, vals)
                    files.append((os.path.join(tmp, fname), "/root/k/" + fname))
                ref = "%s.ref.npy" % name
                p = subprocess.run([host, module, name, "--gen", "v4", "-q"] +
                                   args.split() + ["-o", ref], cwd=tmp,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=120)
                self.assertEqual(p.returncode, 0, "host %s: %s"
                                 % (name, p.stdout.decode()))
                files.append((os.path.join(tmp, ref), "/root/k/" + ref))
                script += ("vtpu-run %s/kernels.elf %s %s -o %s.npy\n"
                           "echo RC-%s $?\n"
                           "cmp %s.npy %s && echo SAME-%s\n"
                           % (SHARE, name, args, name, name, name, ref, name))
            rc, out = boot(script, files=files)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        for name, _, _ in cases:
            self.assertIn("RC-%s 0" % name, out, out)
            self.assertIn("SAME-%s" % name, out, out)
        self.assertRegex(out, r"gather_rows: grid \(20\) arbitrary")

    def test_two_processes(self):
        """Two processes, each launching ten times on its own inputs,
        at the same time: every output right."""
        xb, yb = inputs()
        loop = ("( for i in 1 2 3 4 5 6 7 8 9 10; do "
                "vtpu-run -q %s/kernels.elf add_sin_f32 --grid 8 --dims "
                "parallel %%s -o %%s$i.npy || echo %%s-FAILED $i; done; "
                "echo %%s-DONE ) &\n" % SHARE)
        script = (
            "cd /tmp\n" +
            loop % ("%s/x.npy %s/y.npy" % (SHARE, SHARE), "a", "A", "A") +
            loop % ("%s/x.npy %s/x.npy" % (SHARE, SHARE), "b", "B", "B") +
            "wait\n"
            "for i in 2 3 4 5 6 7 8 9 10; do cmp a1.npy a$i.npy || "
            "echo A-DIFFER; cmp b1.npy b$i.npy || echo B-DIFFER; done\n" +
            dump("a1.npy", "a") + dump("b1.npy", "b"))
        rc, out = boot(script)
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("A-DONE", out)
        self.assertIn("B-DONE", out)
        self.assertNotIn("-FAILED", out)
        self.assertNotIn("-DIFFER", out)
        _, x = npy_f32(xb)
        _, y = npy_f32(yb)
        _, a = npy_f32(dumped(out, "a"))
        _, b = npy_f32(dumped(out, "b"))
        self.assertLessEqual(worst_error(a, add_sin_ref(x, y)), 1e-6)
        self.assertLessEqual(worst_error(b, add_sin_ref(x, x)), 1e-6)


def slice_qemu_args(topology, chips, gen, launch_timeout=0):
    """A vtpu-ici fabric and one vtpu per chip (docs/multichip.md,
    "QEMU")."""
    ici = "vtpu-ici,id=ici0,topology=%s" % topology
    if launch_timeout:
        ici += ",launch-timeout=%d" % launch_timeout
    args = ["-object", ici]
    for c in range(chips):
        args += ["-device", "vtpu,gen=%s,ici=ici0,chip=%d" % (gen, c)]
    return args


class Slice(unittest.TestCase):
    """vtpu-slice: collective launches through vtpu.ko on every vtpu of a
    vtpu-ici slice, each chip's result checked; partial launches fail
    cleanly."""

    KERNELS = ("all_reduce_f32", "all_reduce_i32", "reduce_scatter_f32",
               "reduce_scatter_i32", "all_gather")

    def check_slice(self, topology, chips, axes, gen):
        rc, out = boot("vtpu-slice\n", device="none",
                       qemu_args=slice_qemu_args(topology, chips, gen))
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        self.assertIn("vtpu-slice: %d vtpu device(s)" % chips, out)
        for c in range(chips):
            self.assertRegex(out, r"/dev/accel/accel\d \(0000:00:0\d\.0\): "
                             r"chip %d of %d, mesh " % (c, chips), out)
        checks = re.findall(r"^check (\w+) axis (\d) chip (\d+): (.*)$", out,
                            re.M)
        got = {(k, int(a), int(c)) for k, a, c, r in checks if r == "ok"}
        want = {(k, a, c) for k in self.KERNELS for a in axes
                for c in range(chips)}
        self.assertEqual(got, want, out)
        self.assertNotIn("MISMATCH", out)
        self.assertNotIn("DIFFERS", out)
        m = re.search(r"^vtpu-slice: PASS \((\d+) checks\)$", out, re.M)
        self.assertIsNotNone(m, out)
        # the symmetric allocations are checks too
        self.assertEqual(int(m.group(1)), len(re.findall(r"(?m)^check ", out)),
                         out)
        sys.stderr.write("[%s: %s checks] " % (topology, m.group(1)))

    def test_ring_of_2(self):
        self.check_slice("2", 2, (0,), "v4")

    def test_torus_2x2(self):
        self.check_slice("2x2", 4, (0, 1), "v5e")

    def test_ring_of_4(self):
        # an axis of 4: the f32 sums' order matters (ring order, checked
        # bit for bit)
        self.check_slice("4", 4, (0,), "v5e")

    def test_mesh_2x4(self):
        # 8 devices; axis 1 a ring of 4
        self.check_slice("2x4", 8, (0, 1), "v5e")

    def check_partial(self, out, rc, why):
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, out))
        m = re.search(r"^vtpu-slice: (.+?): failed as expected after (\d+) "
                      r"ms \((\w+)\): (.*)$", out, re.M)
        self.assertIsNotNone(m, out)
        self.assertIn(why, m.group(4), out)
        self.assertNotIn("RAN on", out)
        self.assertIn("every device runs a plain launch afterwards: yes", out)
        self.assertRegex(out, r"(?m)^vtpu-slice: PASS \(the collective "
                         r"launch failed on each of the 1 chips")
        return int(m.group(2)), m.group(3)

    def test_one_of_two_launch_timeout(self):
        """Only chip 0 launches; the fabric's launch-timeout (1 s) makes
        the device fail it (DEADLOCK), long before the driver's job
        timeout would reset it."""
        rc, out = boot("vtpu-slice --partial 1\n", device="none",
                       qemu_args=slice_qemu_args("2", 2, "v5e",
                                                 launch_timeout=1000))
        ms, err = self.check_partial(
            out, rc, "not every chip of the slice launched within 1000 ms "
            "(launch timeout); nothing ran")
        self.assertEqual(err, "EDEVICE", out)
        self.assertGreaterEqual(ms, 1000, out)
        self.assertLess(ms, 5000, out)  # the job timeout: 5000 + 25000 ms
        self.assertIn("job timeout 5000 ms, collective wait 25000 ms", out)

    def test_one_of_two_job_timeout(self):
        """Only chip 0 launches and the fabric has no launch-timeout: the
        driver's job timeout plus the collective wait (1 + 1 s here) ends
        it with a device reset; both devices work afterwards."""
        rc, out = boot("vtpu-slice --partial 1\n"
                       "dmesg | grep -E 'ran past|resetting' || true\n",
                       device="none", append=(
                                              "vtpu.job_timeout_ms=1000",
                                              "vtpu.collective_wait_ms=1000"),
                       qemu_args=slice_qemu_args("2", 2, "v5e"))
        ms, err = self.check_partial(
            out, rc, "ran past the driver's job timeout (1000 ms) plus its "
            "collective wait (1000 ms) and was stopped by a device reset")
        self.assertEqual(err, "ETIMEDOUT", out)
        self.assertGreaterEqual(ms, 2000, out)
        self.assertLess(ms, 10000, out)
        self.assertRegex(out, r"collective launch job \d+ ran past 2000 ms: "
                         r"resetting the device")

    def test_no_slice(self):
        """A collective launch on a lone vtpu (no vtpu-ici): the device
        refuses the flag the driver passed on."""
        rc, out = boot("vtpu-slice --partial 1\n", device="vtpu,gen=v5e")
        _, err = self.check_partial(
            out, rc, "collective launch on a chip in no slice")
        self.assertEqual(err, "EDEVICE", out)
        self.assertIn("chip 0 of 1, mesh 1x1x1", out)


def main():
    global LINUX_DIR
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--linux-dir", default=None)
    args, rest = ap.parse_known_args()
    LINUX_DIR = args.linux_dir and os.path.abspath(args.linux_dir)
    sys.argv = [sys.argv[0]] + rest
    guestvm.main()


if __name__ == "__main__":
    main()
