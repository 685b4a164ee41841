"""test_linux_gdb.py - make debug-linux's session, scripted: the debug
kernel (guest/linux/debug.config, with DWARF and the kernel's gdb
scripts) halted under QEMU's gdb stub, and the vtpu's own stub for the
TCs in the same boot.

1. gdb-multiarch -batch -x DIR/gdbinit (written by run-linux.sh --gdb):
   stops at start_kernel, lx-symbols; then a breakpoint in vtpu.ko's
   vtpu_probe (pending until /init loads the module) is hit, the
   backtrace goes through the PCI core, the pci_dev is the vtpu's
   (vendor, device), lx-lsmod lists vtpu, finish returns 0; gdb detaches.
2. A second gdb on the device's stub (gdb-launch-break=on) with hello.elf:
   the launch that `vtpu-test hello` submits stops at its entry, a
   breakpoint in main is hit on TC 0, gdb detaches; the kernel prints its
   line, the test program passes, the guest powers off with status 0.

Every process has a time limit and is killed however the test ends.

    python3 tests/system/test_linux_gdb.py [--qemu PATH] [--build DIR]
        [--linux-dir DIR (default BUILD/linux-debug)] [unittest options]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402
import test_linux  # noqa: E402

GDB = shutil.which("gdb-multiarch") or "gdb-multiarch"
LIMIT = 300  # seconds for the whole boot, hard
GDB_LIMIT = 200  # seconds for each gdb
HELLO = "/usr/share/vtpu/hello.elf"


def gdb(args, limit=GDB_LIMIT):
    """Run gdb-multiarch in batch mode; returns (exit code, output)."""
    p = subprocess.Popen([GDB, "-nx", "-batch"] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, _ = p.communicate()
        return None, out.decode("utf-8", "replace")
    return p.returncode, out.decode("utf-8", "replace")


class TestLinuxGdb(unittest.TestCase):
    def test_kernel_and_tc_debuggers(self):
        d = test_linux.linux_dir()
        kdir = os.path.join(d, "kernel")
        for f in ("vmlinux", "vmlinux-gdb.py", "../driver/vtpu.ko"):
            if not os.path.exists(os.path.join(kdir, f)):
                raise unittest.SkipTest("no %s/%s (make linux-debug-driver)"
                                        % (kdir, f))
        hello = os.path.join(guestvm.BUILD, "tests/rv32/hello.elf")
        if not os.path.exists(hello):
            raise unittest.SkipTest("no %s" % hello)
        kport, tport = guestvm.free_port(), guestvm.free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as script:
            script.write("vtpu-test hello %s\n" % HELLO)
            script.flush()
            g = test_linux.Guest(
                ["--gdb", str(kport), "--tc-gdb", str(tport),
                 "--device", "vtpu,gen=v4,gdb-launch-break=on",
                 "--append", "vtpu.job_timeout_ms=120000",
                 "--mem", "1G", "--script", script.name,
                 "--timeout", str(LIMIT)])
            try:
                self.session(g, d, kport, tport, hello)
            finally:
                g.kill()

    def session(self, g, d, kport, tport, hello):
        # run-linux.sh writes gdbinit before it starts QEMU halted
        self.assertIsNotNone(g.wait_for("QEMU halted, its gdb stub", 30),
                             g.text)
        rc, out = gdb(["-x", os.path.join(d, "gdbinit"),
                       "-ex", "break vtpu_probe",
                       "-ex", "continue",
                       "-ex", "bt 3",
                       "-ex", "print/x pdev->vendor",
                       "-ex", "print/x pdev->device",
                       "-ex", "lx-lsmod",
                       "-ex", "finish",
                       "-ex", "delete",
                       "-ex", "detach"])
        print("\n--- kernel gdb ---\n" + out[-2500:])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"Breakpoint 1, start_kernel \(\)")
        self.assertRegex(out, r"loading @0x[0-9a-f]+: .*/driver/vtpu\.ko")
        self.assertRegex(out, r"Breakpoint \d+, vtpu_probe \(pdev=")
        self.assertRegex(out, r"#1 .* (local_pci_probe|pci_call_probe)")
        self.assertRegex(out, r"\$1 = 0x1af4")
        self.assertRegex(out, r"\$2 = 0x10f7")
        self.assertRegex(out, r"(?m)^0x[0-9a-f]+ +vtpu +\d+")
        self.assertRegex(out, r"Value returned is \$3 = 0")

        # the TC stub: vtpu-test hello's launch stops at its entry
        rc, out = gdb(["-ex", "set remotetimeout 30",
                       "-ex", "target remote :%d" % tport,
                       "-ex", "break main",
                       "-ex", "continue",
                       "-ex", "bt",
                       "-ex", "info threads",
                       "-ex", "delete",
                       "-ex", "detach", hello])
        print("--- TC gdb ---\n" + out[-2000:])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"Breakpoint 1, main \(\)")
        self.assertRegex(out, r"#0 +main \(\)")
        self.assertRegex(out, r"TC 0")
        rc = g.wait(LIMIT)
        self.assertEqual(rc, 0, g.text[-3000:])
        self.assertIn("hello from a vtpu TensorCore", g.text)
        self.assertIn("vtpu-test hello: PASS", g.text)
        m = re.search(r"Oops|BUG:|WARNING:|Kernel panic", g.text)
        self.assertIsNone(m, g.text[-3000:])


if __name__ == "__main__":
    if "--linux-dir" in sys.argv:
        i = sys.argv.index("--linux-dir")
        test_linux.LINUX_DIR = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    else:
        test_linux.LINUX_DIR = os.path.join(guestvm.ROOT, "build",
                                            "linux-debug")
    guestvm.main()
