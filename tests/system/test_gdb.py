#!/usr/bin/env python3
"""test_gdb.py - debug the guest with gdb-multiarch through QEMU's gdb
stub, in batch mode, as docs/debugging.md describes: start halted,
break in a driver function, continue, read a device register through
the guest (a call of the driver's register read executed by the guest
CPU, and a debugger load from BAR0), step, quit.

    tests/system/test_gdb.py [--qemu PATH] [--build DIR] [--guest-dir DIR]

QEMU and gdb both run with time limits and are killed whatever happens.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402

GDB = shutil.which("gdb-multiarch")
ID_MAGIC = 0x55505456  # VTPU_ID_MAGIC


@unittest.skipUnless(GDB, "gdb-multiarch is not installed")
class GdbGuest(unittest.TestCase):

    def run_gdb(self, program, commands, timeout=60):
        """Boot `program` halted with the stub on a free port, run gdb
        with `commands`; returns (gdb output, guest console)."""
        port = guestvm.free_port()
        elf = guestvm.elf_path(program)
        qemu = guestvm.start(program,
                             extra=["-gdb", "tcp:127.0.0.1:%d" % port, "-S"])
        try:
            # the stub listens once QEMU is up; gdb retries the connect
            args = [GDB, "--batch", "-nx", elf,
                    "-ex", "set pagination off",
                    "-ex", "set confirm off",
                    "-ex", "set tcp connect-timeout 20",
                    "-ex", "target remote 127.0.0.1:%d" % port]
            for c in commands:
                args += ["-ex", c]
            g = subprocess.run(args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
            out = g.stdout.decode("utf-8", "replace")
        finally:
            guestvm.kill(qemu)
        console = qemu.stdout.read().decode("utf-8", "replace")
        qemu.stdout.close()
        return out, console.replace("\r\n", "\n")

    def test_break_read_register_step(self):
        t0 = time.monotonic()
        out, console = self.run_gdb("vtpu-demo", [
            "break vtpu_drv_init",
            "continue",
            # the guest CPU executes the driver's MMIO read of ID
            "print/x vtpu_drv_read_reg(d, 0)",
            # the debugger's own load from BAR0 (the device's ID register)
            "x/wx gv.regs",
            "print d->info.num_tcs",
            "info registers pc",
            "next",
            "next",
            "step",
            "info registers pc",
            "bt",
            # QEMU's monitor through the stub: the device's own view
            "monitor info vtpu",
            "kill",
            "quit",
        ])
        took = time.monotonic() - t0
        msg = "gdb said:\n%s\nconsole:\n%s" % (out, console)
        # stopped at the start, then in the driver
        self.assertRegex(out, r"Breakpoint 1 at 0x[0-9a-f]+: file .*vtpu_drv\.c",
                         msg)
        self.assertRegex(out, r"Breakpoint 1, vtpu_drv_init \(d=", msg)
        # the register read through the guest, and through the debugger
        self.assertIn("$1 = 0x%x" % ID_MAGIC, out, msg)
        self.assertRegex(out, r"0x[0-9a-f]+:\s+0x%x" % ID_MAGIC, msg)
        self.assertIn("$2 = 2", out, msg)  # gen=v4: 2 TCs
        # stepping moved the pc, still in the driver under vtpu_drv_init
        pcs = re.findall(r"^pc\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+ <(\w+)", out,
                         re.M)
        self.assertEqual(len(pcs), 2, msg)
        self.assertNotEqual(pcs[0][0], pcs[1][0], msg)
        self.assertRegex(out, r"#0 .*\bat .*vtpu_drv\.c:\d+", msg)
        self.assertRegex(out, r"#\d .*vtpu_drv_init \(", msg)
        self.assertRegex(out, r"#\d .* in main \(\) at .*vtpu-demo\.c", msg)
        self.assertIn("gen v4, 2 TC(s)", out, msg)
        # the guest got as far as the probe, and no further than init
        self.assertIn("1af4:10f7", console)
        self.assertNotIn("kernel module:", console)
        sys.stderr.write("[gdb session %.1f s] " % took)


if __name__ == "__main__":
    guestvm.main()
