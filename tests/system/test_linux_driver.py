"""test_linux_driver.py - the Linux DRM accel driver (driver/linux,
vtpu.ko) in the riscv64 guest: boots the image of `make linux` +
`make linux-driver` (vtpu.ko loaded by /init, driver/linux/tests/vtpu-test
in /usr/bin) and runs vtpu-test's commands and shell steps around them:

- the uAPI end to end: parameters, BOs (mmap through the aperture,
  BO_RW, zeroing, HBM accounting), module loads refused and accepted,
  launches, exit codes, CHECK_EXIT errors, a pipeline, unload; a kernel
  that prints; every ioctl's documented errors;
- isolation: a launch granted BO A that reads or writes another file's
  BO B fails with a DMA fault naming B's address, B untouched;
- a kernel that never ends, stopped by the job timeout (device reset)
  while other files' jobs queued behind it complete and program slots
  come back;
- PCI remove while a file is open, mapped and waiting on a running job,
  rescan, rmmod refused while open, rmmod with a job running, insmod;
- INTx instead of MSI-X (QEMU virt with the PLIC);
- sysfs attributes, debugfs state, no leaked jobs or BOs, no oops.

Prints submit-to-completion latency measured from user space.

Every boot goes through guest/linux/run-linux.sh (tests/system/
test_linux.py's Guest: own process group, SIGKILL however the test
ends, hard time limit).

    python3 tests/system/test_linux_driver.py [--qemu PATH] [--build DIR]
        [--linux-dir DIR (default BUILD/linux)] [unittest options]
"""

import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402
import test_linux  # noqa: E402

BOOT_LIMIT = 150  # seconds for one boot, hard
TIMEOUT_MS = 2000  # the driver's job timeout in these boots
PROBE = "/usr/share/vtpu/dma_probe.elf"
HELLO = "/usr/share/vtpu/hello.elf"
PCI = "/sys/bus/pci/devices/0000:00:01.0"
DEBUGFS = "/sys/kernel/debug/accel/0000:00:01.0/state"
BAD_KERNEL = re.compile(r"Oops|BUG:|WARNING:|Kernel panic|Unable to handle|"
                        r"general protection|refcount_t|list_(add|del) "
                        r"corruption")


def need_driver():
    d = test_linux.linux_dir()
    listing = os.path.join(d, "initramfs.list")
    try:
        with open(listing) as f:
            files = f.read()
    except OSError:
        files = ""
    for want in ("/lib/modules/vtpu.ko", "/usr/bin/vtpu-test", PROBE):
        if want not in files:
            raise unittest.SkipTest("%s not in the initramfs "
                                    "(make linux-driver)" % want)


def boot(script, append="", extra=()):
    """Run `script` in the guest; returns (exit code or None, console)."""
    need_driver()
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(script)
        f.flush()
        args = ["--script", f.name, "--timeout", str(BOOT_LIMIT),
                "--append", "vtpu.job_timeout_ms=%d %s" % (TIMEOUT_MS, append)]
        if extra:
            args += ["--"] + list(extra)
        g = test_linux.Guest(args)
        try:
            rc = g.wait(BOOT_LIMIT + 10)
        finally:
            g.kill()
    return rc, g.text


class TestLinuxDriver(unittest.TestCase):
    def check_run(self, rc, out, commands):
        tail = out[-4000:]
        self.assertIsNotNone(rc, "time limit hit:\n" + tail)
        self.assertIn("VTPU-RUN-EXIT 0", out, tail)
        self.assertEqual(rc, 0, tail)
        for c in commands:
            self.assertIn("vtpu-test %s: PASS" % c, out, tail)
        bad = [ln for ln in out.splitlines() if ln.startswith("not ok")]
        self.assertEqual(bad, [], tail)
        m = BAD_KERNEL.search(out)
        self.assertIsNone(m, "kernel complaint: %s\n%s"
                          % (m and m.group(0), tail))
        irq = re.search(r"^VTPU-IRQ (\d+)", out, re.M)
        if irq:
            self.assertNotIn("irq %s: nobody cared" % irq.group(1), out)

    def test_uapi(self):
        """Parameters, BOs, modules, launches, errors, a printing kernel,
        isolation, latency; sysfs, debugfs; nothing left behind."""
        script = r"""
set -e
dmesg | grep -E 'vtpu .*TC\(s\)'
echo "VTPU-IRQ $(awk '/vtpu/ { sub(":", "", $1); print $1 }' /proc/interrupts)"
for f in generation num_tcs hbm_size vmem_size smem_size imem_size aperture_size; do
    echo "SYSFS $f $(cat %(pci)s/$f)"
done
vtpu-test info
vtpu-test basic %(probe)s
vtpu-test hello %(hello)s
vtpu-test isolation %(probe)s
vtpu-test errors
vtpu-test latency 300
echo DEBUGFS-BEGIN; cat %(dbg)s; echo DEBUGFS-END
""" % {"pci": PCI, "probe": PROBE, "hello": HELLO, "dbg": DEBUGFS}
        rc, out = boot(script)
        self.check_run(rc, out, ["info", "basic", "hello", "isolation",
                                 "errors", "latency"])
        self.assertRegex(out, r"vtpu v4: 2 TC\(s\), \d+ MiB HBM .*MSI-X")
        sysfs = dict(re.findall(r"^SYSFS (\w+) (\S+)$", out, re.M))
        self.assertEqual(sysfs.get("generation"), "v4", out[-3000:])
        self.assertEqual(sysfs.get("num_tcs"), "2")
        self.assertEqual(sysfs.get("vmem_size"), str(16 << 20))
        self.assertEqual(sysfs.get("smem_size"), str(1 << 20))
        self.assertEqual(sysfs.get("aperture_size"), str(16 << 20))
        self.assertGreater(int(sysfs.get("hbm_size", 0)), 0)
        self.assertIn("hello from a vtpu TensorCore", out)
        dbg = test_linux.section(out, "DEBUGFS")
        self.assertRegex(dbg, r"state: IDLE")
        self.assertRegex(dbg, r"live jobs: 0\nlive bos: 0", dbg)
        self.assertRegex(dbg, r"pending jobs: 0")
        self.assertRegex(dbg, r"timeouts: [1-9]", dbg)  # the errors test
        self.assertRegex(dbg, r"last error: LAUNCH failed: .*bad DMA", dbg)
        lat = re.search(r"^LATENCY .*$", out, re.M)
        thr = re.search(r"^THROUGHPUT .*$", out, re.M)
        print("\n%s\n%s" % (lat and lat.group(0), thr and thr.group(0)))

    def test_hang_recovered(self):
        """An endless kernel: reset after the job timeout, -ETIMEDOUT for
        it, the others' jobs complete, slots reloaded."""
        rc, out = boot("set -e\nvtpu-test hang\n"
                       "grep -E 'timeouts|resets|live' %s\n" % DEBUGFS)
        self.check_run(rc, out, ["hang"])
        self.assertRegex(out, r"ran past %d ms: resetting" % TIMEOUT_MS)
        self.assertRegex(out, r"(?m)^timeouts: 1$")
        self.assertRegex(out, r"(?m)^resets: 1$")
        self.assertRegex(out, r"(?m)^live jobs: 0$")
        t = re.search(r"fails with .* after ([0-9.]+) s", out)
        print("\nendless job stopped after %s s (timeout %d ms)"
              % (t and t.group(1), TIMEOUT_MS))

    def test_unplug_and_rmmod(self):
        """remove while open, mapped and waiting; rescan; rmmod refused
        while open; rmmod with a job running; insmod."""
        script = r"""
echo 60000 > /sys/module/vtpu/parameters/job_timeout_ms
vtpu-test hold-job > /tmp/hold.log 2>&1 &
pid=$!
i=0
while ! grep -q "HOLD READY" /tmp/hold.log && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
sleep 1
grep -E '^(state|pending jobs)' %(dbg)s
echo 1 > %(pci)s/remove
wait $pid
echo "HOLD-JOB-EXIT $?"
cat /tmp/hold.log
echo "AFTER-REMOVE $(ls /dev/accel 2>/dev/null | wc -l) nodes"
echo 1 > /sys/bus/pci/rescan
echo "AFTER-RESCAN $(ls /dev/accel)"
vtpu-test basic %(probe)s > /tmp/b1.log; echo "BASIC-1 $?"; tail -1 /tmp/b1.log
vtpu-test hold-open /tmp/release > /tmp/hold2.log 2>&1 &
pid=$!
i=0
while ! grep -q "HOLD READY" /tmp/hold2.log && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
rmmod vtpu
echo "RMMOD-OPEN $?"
touch /tmp/release
wait $pid
echo "HOLD-OPEN-EXIT $?"
cat /tmp/hold2.log
vtpu-test spin-exit
rmmod vtpu
echo "RMMOD-RUNNING $?"
echo "AFTER-RMMOD $(ls /dev/accel 2>/dev/null | wc -l) nodes"
insmod /lib/modules/vtpu.ko job_timeout_ms=%(tmo)d
echo "INSMOD $?"
vtpu-test basic %(probe)s > /tmp/b2.log; echo "BASIC-2 $?"; tail -1 /tmp/b2.log
grep -E '^live' %(dbg)s
""" % {"pci": PCI, "probe": PROBE, "dbg": DEBUGFS, "tmo": TIMEOUT_MS}
        rc, out = boot(script)
        self.check_run(rc, out, ["hold-job", "hold-open", "spin-exit"])
        self.assertRegex(out, r"(?m)^state: BUSY$")
        self.assertRegex(out, r"(?m)^pending jobs: 1$")
        self.assertIn("HOLD-JOB-EXIT 0", out)
        self.assertIn("AFTER-REMOVE 0 nodes", out)
        self.assertIn("AFTER-RESCAN accel0", out)
        self.assertIn("BASIC-1 0", out)
        self.assertRegex(out, r"RMMOD-OPEN [1-9]")
        self.assertIn("HOLD-OPEN-EXIT 0", out)
        self.assertIn("RMMOD-RUNNING 0", out)
        self.assertIn("AFTER-RMMOD 0 nodes", out)
        self.assertIn("INSMOD 0", out)
        self.assertIn("BASIC-2 0", out)
        self.assertRegex(out, r"(?m)^live jobs: 0$")
        self.assertRegex(out, r"(?m)^live bos: 0$")

    def test_intx(self):
        """No MSI: QEMU virt with the PLIC (aia=none); the driver falls
        back to INTx."""
        script = "set -e\n" \
            "echo \"VTPU-IRQ $(awk '/vtpu/ { sub(\":\", \"\", $1); " \
            "print $1 }' /proc/interrupts)\"\n" \
            "vtpu-test basic %s\nvtpu-test latency 100\n" \
            "grep vtpu /proc/interrupts\n" % PROBE
        rc, out = boot(script, extra=["-M", "virt,aia=none"])
        self.check_run(rc, out, ["basic", "latency"])
        self.assertRegex(out, r"vtpu v4: .*INTx")
        n = re.search(r"^\s*\d+:\s+(\d+)\s.*vtpu$", out, re.M)
        self.assertIsNotNone(n, out[-2000:])
        self.assertGreater(int(n.group(1)), 100)
        lat = re.search(r"^LATENCY .*$", out, re.M)
        print("\nINTx: %s" % (lat and lat.group(0)))


if __name__ == "__main__":
    if "--linux-dir" in sys.argv:
        i = sys.argv.index("--linux-dir")
        test_linux.LINUX_DIR = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    guestvm.main()
