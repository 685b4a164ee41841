"""test_linux.py - boot the riscv64 Linux guest (guest/linux, `make linux`)
in QEMU with a vtpu and check it from inside: the vtpu at 00:01.0 with its
BARs assigned and MSI-X offered over the AIA, a hard-float user program,
commands run through the kernel command line and through a script, the
exit status carried out through QEMU's exit code, the interactive shell.
Prints the boot time to user space.

Every boot goes through guest/linux/run-linux.sh, in its own process
group, killed (SIGKILL to the group) however the test ends; each has a
hard time limit.

    python3 tests/system/test_linux.py [--qemu PATH] [--build DIR]
        [--linux-dir DIR (default BUILD/linux)] [unittest options]
"""

import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402

RUN_LINUX = os.path.join(guestvm.ROOT, "guest/linux/run-linux.sh")
LINUX_DIR = None  # default: BUILD/linux
BOOT_LIMIT = 120  # seconds for one boot, hard
VTPU_VENDOR, VTPU_DEVICE = 0x1AF4, 0x10F7
PCI_CAP_ID_MSIX = 0x11


def linux_dir():
    d = LINUX_DIR or os.path.join(guestvm.BUILD, "linux")
    for f in ("Image", "initramfs.cpio"):
        if not os.path.exists(os.path.join(d, f)):
            raise unittest.SkipTest("%s/%s not built (make linux)" % (d, f))
    return d


class Guest:
    """One run of run-linux.sh; the console is read line by line with the
    time each line arrived (seconds since the start)."""

    def __init__(self, args, stdin=subprocess.DEVNULL):
        self.lines = []  # (seconds, text)
        self.t0 = time.monotonic()
        cmd = [RUN_LINUX, "--qemu", guestvm.QEMU, "--dir", linux_dir(),
               "--timeout", str(BOOT_LIMIT)] + list(args)
        self.p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.p.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append((time.monotonic() - self.t0, text))

    def wait(self, limit=BOOT_LIMIT + 10):
        """The exit code, or None if the limit was hit (QEMU killed)."""
        try:
            rc = self.p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
        self.kill()
        return rc

    def wait_for(self, pattern, limit=BOOT_LIMIT):
        """Seconds until a console line matched pattern, or None."""
        end = time.monotonic() + limit
        while True:
            for t, text in list(self.lines):
                if re.search(pattern, text):
                    return t
            if time.monotonic() >= end or (self.p.poll() is not None
                                           and not self.reader.is_alive()):
                return None
            time.sleep(0.05)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait()
        self.reader.join(5)
        self.p.stdout.close()
        if self.p.stdin:
            self.p.stdin.close()

    @property
    def text(self):
        return "\n".join(t for _, t in self.lines)


def section(text, name):
    m = re.search(r"^%s-BEGIN$\n(.*?)^%s-END$" % (name, name), text,
                  re.M | re.S)
    if not m:
        raise AssertionError("no %s section in the console:\n%s"
                             % (name, text[-3000:]))
    return m.group(1)


def fpcheck_expected():
    """What guest/linux/fpcheck.c prints, computed the same way here."""
    def f32(x):
        return struct.unpack("f", struct.pack("f", x))[0]
    s = q = f = 0.0
    for i in range(1, 1001):
        x = float(i)
        s += 1.0 / (x * x)
        q += math.sqrt(x)
        f = f32(f + f32(f32(x) * 0.5))
    return "fpcheck %.17g %.17g %.9g" % (s, q, f)


def msix_offered(config):
    """Walk the capability list of a config-space dump."""
    if len(config) < 64 or not config[6] & 0x10:  # status: cap list
        return False
    ptr, seen = config[0x34] & 0xFC, 0
    while ptr and ptr + 1 < len(config) and seen < 48:
        if config[ptr] == PCI_CAP_ID_MSIX:
            return True
        ptr, seen = config[ptr + 1] & 0xFC, seen + 1
    return False


PCI_SCRIPT = r"""
d=/sys/bus/pci/devices/0000:00:01.0
echo LSPCI-BEGIN; lspci; echo LSPCI-END
echo "ID $(cat $d/vendor) $(cat $d/device)"
echo RESOURCE-BEGIN; cat $d/resource; echo RESOURCE-END
echo "MSI_BUS $(cat $d/msi_bus)"
echo CONFIG-BEGIN; hexdump -v -e '16/1 "%02x " "\n"' $d/config; echo CONFIG-END
echo IRQ-BEGIN; dmesg | grep -i -E 'imsic|aplic'; echo IRQ-END
fpcheck
exit 7
"""


class TestLinux(unittest.TestCase):
    def test_vtpu_on_pci(self):
        """vtpu at 00:01.0 with BAR0 and BAR2 assigned, MSI-X over the
        IMSIC, a hard-float program, the exit status through QEMU."""
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as script:
            script.write(PCI_SCRIPT)
            script.flush()
            g = Guest(["--script", script.name])
            try:
                rc = g.wait()
            finally:
                g.kill()
        out = g.text
        self.assertIsNotNone(rc, "time limit hit:\n" + out[-3000:])
        self.assertIn("VTPU-RUN-EXIT 7", out, out[-3000:])
        self.assertEqual(rc, 7, out[-3000:])

        up = g.wait_for(r"^vtpu-linux: user space up", 0)
        guest_up = re.search(r"user space up at ([0-9.]+) s", out)
        print("\nboot to user space: %.2f s wall (QEMU start to /init), "
              "%s s guest uptime" % (up, guest_up.group(1)))

        lspci = section(out, "LSPCI")
        self.assertRegex(lspci, r"(?m)^00:01\.0 .*1af4:10f7", lspci)
        self.assertIn("ID 0x%04x 0x%04x" % (VTPU_VENDOR, VTPU_DEVICE), out)

        res = [ln.split() for ln in section(out, "RESOURCE").splitlines()]
        for bar in (0, 2):
            start, end = int(res[bar][0], 16), int(res[bar][1], 16)
            self.assertNotEqual(start, 0, "BAR%d unassigned: %s" % (bar, res))
            self.assertGreater(end, start, "BAR%d: %s" % (bar, res))

        self.assertIn("MSI_BUS 1", out)
        config = bytes(int(b, 16) for b in section(out, "CONFIG").split())
        self.assertEqual(struct.unpack_from("<HH", config, 0),
                         (VTPU_VENDOR, VTPU_DEVICE))
        self.assertTrue(msix_offered(config), "no MSI-X capability")
        irq = section(out, "IRQ")
        self.assertRegex(irq, r"(?i)imsic", "no IMSIC (AIA) in dmesg")

        self.assertIn(fpcheck_expected(), out)
        self.assertNotRegex(out, r"(?i)illegal instruction|SIGILL|Oops|"
                            r"Kernel panic|BUG:")

    def test_console_interrupt(self):
        """The UART's level-triggered interrupt through the APLIC in MSI
        mode does not storm.  QEMU 7.2's APLIC sets a level source
        pending on every setipnum write, asserted or not, and Linux writes
        setipnum at each EOI: 100000 spurious interrupts, "irq 11: nobody
        cared", the console IRQ disabled and polled, ~0.5 s more boot.
        hw/qemu/build-qemu.sh patches QEMU (patch_aplic); this fails on a
        QEMU without the fix."""
        g = Guest(["--device", "none", "--run", "grep ttyS0 /proc/interrupts"])
        rc = g.wait()
        out = g.text
        self.assertEqual(rc, 0, out[-3000:])
        self.assertNotIn("nobody cared", out,
                         "QEMU's APLIC storms level interrupts in MSI mode "
                         "(hw/qemu/build-qemu.sh patch_aplic not applied?)")
        m = re.search(r"^\s*\d+:\s+(\d+)\s.*ttyS0", out, re.M)
        self.assertIsNotNone(m, out[-3000:])
        self.assertLess(int(m.group(1)), 10000, m.group(0))

    def test_run_on_command_line(self):
        """vtpu.run="CMD" on the kernel command line (run-linux.sh --run):
        spaces and shell syntax survive, the status is QEMU's exit code."""
        g = Guest(["--run", "echo hello-$((6*7)) from $(uname -m); exit 3"])
        rc = g.wait()
        out = g.text
        self.assertIsNotNone(rc, "time limit hit:\n" + out[-3000:])
        self.assertIn("hello-42 from riscv64", out, out[-3000:])
        self.assertIn("VTPU-RUN-EXIT 3", out)
        self.assertEqual(rc, 3)

    def test_interactive_shell(self):
        """make run-linux: the shell reads the console; poweroff ends QEMU
        with status 0."""
        g = Guest([], stdin=subprocess.PIPE)
        try:
            t = g.wait_for(r"shell on the console")
            self.assertIsNotNone(t, "no shell prompt:\n" + g.text[-3000:])
            time.sleep(0.5)
            g.p.stdin.write(b"echo typed-$((40+2))\n")
            g.p.stdin.flush()
            self.assertIsNotNone(g.wait_for(r"^typed-42", 30),
                                 "the shell did not answer:\n" + g.text[-3000:])
            g.p.stdin.write(b"poweroff\n")
            g.p.stdin.flush()
            rc = g.wait(60)
        finally:
            g.kill()
        self.assertEqual(rc, 0, g.text[-3000:])


if __name__ == "__main__":
    if "--linux-dir" in sys.argv:
        i = sys.argv.index("--linux-dir")
        LINUX_DIR = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    guestvm.main()
