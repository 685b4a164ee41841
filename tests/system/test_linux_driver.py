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
- collective launches: refused by a chip in no slice (BAD_FLAGS through
  the job's error); on two devices of a vtpu-ici slice, run on both,
  and on one of them alone ended by the job timeout plus the collective
  wait (a reset), both devices working afterwards;
- sysfs attributes, debugfs state, no leaked jobs or BOs, no oops.

Prints submit-to-completion latency measured from user space.

Every boot goes through guest/linux/run-linux.sh (tests/system/
test_linux.py's Guest: own process group, SIGKILL however the test
ends, hard time limit).

    python3 tests/system/test_linux_driver.py [--qemu PATH] [--build DIR]
        [--linux-dir DIR (default BUILD/linux)] [--module vtpu.ko]
        [--debug-kernel] [unittest options]

--module boots with that vtpu.ko instead of the image's (the debug
kernel's module is built against it: `make check-linux-debug`).
--debug-kernel: the kernel is guest/linux/debug.config's (KASAN,
lockdep, DEBUG_OBJECTS, DMA-API debugging, hung-task detection); the
boots get more memory and time, and any report of those fails the test.
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
CWAIT_MS = 2000  # the collective wait in test_collective's boot
PROBE = "/usr/share/vtpu/dma_probe.elf"
HELLO = "/usr/share/vtpu/hello.elf"
PCI = "/sys/bus/pci/devices/0000:00:01.0"
DEBUGFS = "/sys/kernel/debug/accel/0000:00:01.0/state"
MODULE = None  # --module: boot with this vtpu.ko
DEBUG_KERNEL = False  # --debug-kernel
# Oopses, BUG()s and WARN()s, and what the debug kernel reports: KASAN
# ("BUG: KASAN: ..."), lockdep ("WARNING: possible circular locking",
# "inconsistent lock state" under a BUG: or WARNING: line), DEBUG_OBJECTS
# ("ODEBUG: ..."), DMA-API debugging (a WARNING: from kernel/dma/debug.c;
# its "DMA-API: preallocated" boot lines are not reports), sleeping in atomic
# context ("BUG: sleeping function"), hung tasks, soft lockups, SLUB
# ("BUG kmalloc-64 (...): ..." without a colon after BUG).
BAD_KERNEL = re.compile(r"Oops|BUG:|BUG [\w-]+ \(|WARNING:|Kernel panic|"
                        r"Unable to handle|general protection|refcount_t|"
                        r"list_(add|del) corruption|ODEBUG:|"
                        r"INFO: task .* blocked|soft lockup|"
                        r"possible recursive locking|"
                        r"inconsistent lock state|"
                        r"lock held when returning")


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


def boot(script, append="", extra=(), device=None):
    """Run `script` in the guest; returns (exit code or None, console).
    `device`: run-linux.sh --device (default: its own, one vtpu)."""
    need_driver()
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(script)
        f.flush()
        limit = BOOT_LIMIT * (3 if DEBUG_KERNEL else 1)
        args = ["--script", f.name, "--timeout", str(limit),
                "--append", "vtpu.job_timeout_ms=%d %s" % (TIMEOUT_MS, append)]
        if MODULE:
            args += ["--add", MODULE + ":/lib/modules/vtpu.ko"]
        if DEBUG_KERNEL:
            args += ["--mem", "1G"]
        if device:
            args += ["--device", device]
        if extra:
            args += ["--"] + list(extra)
        g = test_linux.Guest(args)
        try:
            rc = g.wait(limit + 10)
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
        if DEBUG_KERNEL:
            # lockdep announces itself at boot: the debug kernel it is
            self.assertIn("Lock dependency validator", out, tail)
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
vtpu-test no-slice
vtpu-test isolation %(probe)s
vtpu-test errors
vtpu-test latency 300
echo DEBUGFS-BEGIN; cat %(dbg)s; echo DEBUGFS-END
""" % {"pci": PCI, "probe": PROBE, "hello": HELLO, "dbg": DEBUGFS}
        rc, out = boot(script)
        self.check_run(rc, out, ["info", "basic", "hello", "no-slice",
                                 "isolation", "errors", "latency"])
        self.assertRegex(out, r"(?m)^PARAM collective_wait_ms 25000$")
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

    def test_collective(self):
        """Two vtpus of one vtpu-ici slice: a collective job on both runs,
        also when the second comes after the first waited past the job
        timeout; on one alone it waits, and the job timeout plus the
        collective wait resets that device (-ETIMEDOUT); both go on."""
        ici = ["-object", "vtpu-ici,id=ici0,topology=2",
               "-device", "vtpu,gen=v4,ici=ici0,chip=0",
               "-device", "vtpu,gen=v4,ici=ici0,chip=1"]
        rc, out = boot("set -e\nvtpu-test collective\n"
                       "dmesg | grep -E 'ran past|resetting'\n"
                       "grep -E 'collective wait|timeouts|resets|live' "
                       "/sys/kernel/debug/accel/*/state\n",
                       append="vtpu.collective_wait_ms=%d" % CWAIT_MS,
                       device="none", extra=ici)
        self.check_run(rc, out, ["collective"])
        self.assertIn("job timeout %d ms, collective wait %d ms"
                      % (TIMEOUT_MS, CWAIT_MS), out)
        self.assertIn("ok - accel1's collective job ran, the late partner's",
                      out)
        self.assertRegex(out, r"collective launch job \d+ ran past %d ms: "
                         r"resetting the device" % (TIMEOUT_MS + CWAIT_MS))
        self.assertRegex(out, r"JOB_ERROR: collective job timed out after "
                         r"%d ms" % (TIMEOUT_MS + CWAIT_MS))
        self.assertEqual(len(re.findall(r"(?m)state:collective wait: "
                                        r"%d ms$" % CWAIT_MS, out)), 2,
                         out[-3000:])
        # one reset, on the device whose job waited alone
        self.assertEqual(sorted(re.findall(r"(?m)state:resets: (\d+)$",
                                           out)), ["0", "1"], out[-3000:])
        self.assertEqual(re.findall(r"(?m)state:live jobs: (\d+)$", out),
                         ["0", "0"], out[-3000:])
        t = re.search(r"one chip of two: .* after ([0-9.]+) s", out)
        print("\nlone collective job stopped after %s s (%d + %d ms)"
              % (t and t.group(1), TIMEOUT_MS, CWAIT_MS))

    def test_collective_runtime_debug(self):
        """On the debug kernel: vtpu-slice (the runtime's collectives,
        tests/system/test_linux_user.py's Slice on the normal kernel) on a
        2x2 slice, and a collective on one chip of four ended by the job
        timeout plus the collective wait; no kernel report."""
        if not DEBUG_KERNEL:
            self.skipTest("on the normal kernel test_linux_user.py's Slice "
                          "runs vtpu-slice")
        listing = os.path.join(test_linux.linux_dir(), "initramfs.list")
        with open(listing) as f:
            if "/usr/bin/vtpu-slice" not in f.read():
                self.fail("/usr/bin/vtpu-slice not in the initramfs (make "
                          "linux-user before make linux-debug-driver)")
        dev = "vtpu,gen=v5e,hbm-size=256M,ici=ici0"
        ici = ["-object", "vtpu-ici,id=ici0,topology=2x2"]
        for c in range(1, 4):
            ici += ["-device", "%s,chip=%d" % (dev, c)]
        rc, out = boot("set -e\nvtpu-slice\nvtpu-slice --partial 1\n",
                       append="vtpu.collective_wait_ms=1000",
                       device=dev + ",chip=0", extra=ici)
        self.check_run(rc, out, [])
        self.assertRegex(out, r"(?m)^vtpu-slice: PASS \(61 checks\)$")
        self.assertRegex(out, r"failed as expected after \d+ ms "
                         r"\(ETIMEDOUT\)")
        self.assertRegex(out, r"(?m)^vtpu-slice: PASS \(the collective "
                         r"launch failed on each of the 1 chips")

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


class TestReportPatterns(unittest.TestCase):
    """BAD_KERNEL matches the reports the debug kernel prints (lines as
    Linux 6.12 words them) and not its ordinary boot lines."""

    REPORTS = [
        "BUG: KASAN: slab-use-after-free in vtpu_job_free+0x3c/0x90 [vtpu]",
        "BUG: KASAN: slab-out-of-bounds in vtpu_ioctl_submit+0x1a2/0x4d0",
        "WARNING: possible circular locking dependency detected",
        "WARNING: possible recursive locking detected",
        "WARNING: inconsistent lock state",
        "ODEBUG: free active (active state 0) object: 00000000a1b2c3d4 "
        "object type: timer_list hint: vtpu_job_timeout+0x0/0x60 [vtpu]",
        "WARNING: CPU: 0 PID: 77 at kernel/dma/debug.c:1036 "
        "check_unmap+0x4a0/0x8e0",
        "BUG: sleeping function called from invalid context at "
        "kernel/locking/mutex.c:585",
        "BUG kmalloc-128 (Not tainted): Poison overwritten",
        "INFO: task vtpu-test:91 blocked for more than 120 seconds.",
        "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [vtpu-test:90]",
        "Unable to handle kernel NULL pointer dereference at virtual "
        "address 0000000000000008",
    ]
    BOOT = [
        "DMA-API: preallocated 65536 debug entries",
        "DMA-API: debugging enabled by kernel config",
        "Lock dependency validator: Copyright (c) 2006 Red Hat, Inc.",
        "rcu: \tRCU lockdep checking is enabled.",
        "ODEBUG selftest passed",
        "[drm] Initialized vtpu 1.0.0 for 0000:00:01.0 on minor 0",
    ]

    def test_reports_match(self):
        for line in self.REPORTS:
            self.assertIsNotNone(BAD_KERNEL.search(line), line)

    def test_boot_lines_do_not(self):
        for line in self.BOOT:
            self.assertIsNone(BAD_KERNEL.search(line), line)


if __name__ == "__main__":
    if "--linux-dir" in sys.argv:
        i = sys.argv.index("--linux-dir")
        test_linux.LINUX_DIR = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    if "--module" in sys.argv:
        i = sys.argv.index("--module")
        MODULE = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
        if not os.path.isfile(MODULE):
            sys.exit("test_linux_driver: no module %s" % MODULE)
    if "--debug-kernel" in sys.argv:
        sys.argv.remove("--debug-kernel")
        DEBUG_KERNEL = True
    guestvm.main()
