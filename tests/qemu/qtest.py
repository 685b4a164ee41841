"""qtest.py - drive qemu-system-riscv64 through QEMU's qtest protocol.

A small Python counterpart of QEMU's libqtest (tests/qtest/libqtest.c in
the QEMU tree): the test listens on two UNIX sockets, starts QEMU with
"-qtest unix:A -qmp unix:B -accel qtest" so that QEMU connects to both,
then sends qtest lines ("readl ADDR", "write ADDR SIZE 0xHEX", ...) and
QMP commands.  With -accel qtest no guest CPU runs: the test is the CPU.

Also here: PCI configuration access through the virt machine's ECAM and
BAR assignment, since no firmware runs to do it.
"""

import json
import os
import socket
import subprocess
import tempfile
import time

# qemu-system-riscv64 -M virt memory map (hw/riscv/virt.c, QEMU 7.2).
VIRT_ECAM = 0x30000000
VIRT_PCI_MMIO = 0x40000000
VIRT_PCI_MMIO_SIZE = 0x40000000
VIRT_DRAM = 0x80000000


class QTestError(Exception):
    pass


class QEMU:
    """One QEMU process under qtest control.  Use as a context manager: the
    process is killed on exit whatever happened."""

    def __init__(self, binary, args, timeout=60.0, machine="virt"):
        self.binary = binary
        self.args = list(args)
        self.timeout = timeout
        self.machine = machine
        self.proc = None
        self.qt = None
        self.qmp_sock = None
        self._buf = b""
        self._qmp_buf = b""
        self.events = []  # QMP events not yet taken by wait_event()
        self.deadline = None

    # -- life cycle ---------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="vtpu-qtest-")
        qt_path = os.path.join(self.tmp, "qtest.sock")
        qmp_path = os.path.join(self.tmp, "qmp.sock")
        lq = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lm = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lq.bind(qt_path)
            lq.listen(1)
            lm.bind(qmp_path)
            lm.listen(1)
            cmd = [self.binary, "-machine", self.machine, "-accel", "qtest",
                   "-display", "none", "-nodefaults", "-serial", "none",
                   "-qtest", "unix:" + qt_path, "-qmp", "unix:" + qmp_path,
                   ] + self.args
            self.stderr_path = os.path.join(self.tmp, "stderr")
            self._stderr = open(self.stderr_path, "wb")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=self._stderr)
            self.deadline = time.monotonic() + self.timeout
            lq.settimeout(15)
            lm.settimeout(15)
            try:
                # QEMU connects the qtest socket first, then the monitor.
                self.qt, _ = lq.accept()
                self.qmp_sock, _ = lm.accept()
            except socket.timeout:
                raise QTestError("QEMU did not connect: " + self.stderr())
            self.qt.settimeout(10)
            self.qmp_sock.settimeout(10)
            self._qmp_recv()  # greeting
            self.qmp("qmp_capabilities")
        except BaseException:
            self.kill()
            raise
        finally:
            lq.close()
            lm.close()

    def kill(self):
        for s in (self.qt, self.qmp_sock):
            if s:
                try:
                    s.close()
                except OSError:
                    pass
        self.qt = self.qmp_sock = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if getattr(self, "_stderr", None):
            self._stderr.close()
            self._stderr = None

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_deadline(self):
        if self.deadline and time.monotonic() > self.deadline:
            raise QTestError("test exceeded %.0f s" % self.timeout)

    # -- qtest --------------------------------------------------------
    def _line(self):
        while b"\n" not in self._buf:
            try:
                data = self.qt.recv(65536)
            except socket.timeout:
                raise QTestError("qtest: no answer; stderr: " + self.stderr())
            if not data:
                raise QTestError("qtest: QEMU went away; stderr: " +
                                 self.stderr())
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, line):
        self.check_deadline()
        self.qt.sendall(line.encode() + b"\n")
        while True:
            ans = self._line()
            if ans.startswith("IRQ"):
                continue  # asynchronous, unused here
            if ans.startswith("OK"):
                return ans[2:].strip()
            raise QTestError("qtest %r -> %r" % (line, ans))

    def readb(self, a): return int(self.cmd("readb 0x%x" % a), 16)
    def readw(self, a): return int(self.cmd("readw 0x%x" % a), 16)
    def readl(self, a): return int(self.cmd("readl 0x%x" % a), 16)
    def readq(self, a): return int(self.cmd("readq 0x%x" % a), 16)
    def writeb(self, a, v): self.cmd("writeb 0x%x 0x%x" % (a, v & 0xff))
    def writew(self, a, v): self.cmd("writew 0x%x 0x%x" % (a, v & 0xffff))
    def writel(self, a, v): self.cmd("writel 0x%x 0x%x" % (a, v & 0xffffffff))
    def writeq(self, a, v):
        self.cmd("writeq 0x%x 0x%x" % (a, v & 0xffffffffffffffff))

    def read(self, addr, size):
        hexdata = self.cmd("read 0x%x 0x%x" % (addr, size))
        return bytes.fromhex(hexdata[2:])

    def write(self, addr, data):
        if not data:
            return
        self.cmd("write 0x%x 0x%x 0x%s" % (addr, len(data), data.hex()))

    def memset(self, addr, size, val):
        self.cmd("memset 0x%x 0x%x 0x%x" % (addr, size, val & 0xff))

    # -- QMP ----------------------------------------------------------
    def _qmp_recv(self):
        while b"\n" not in self._qmp_buf:
            try:
                data = self.qmp_sock.recv(65536)
            except socket.timeout:
                raise QTestError("QMP: no answer")
            if not data:
                raise QTestError("QMP: QEMU went away; stderr: " +
                                 self.stderr())
            self._qmp_buf += data
        line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def qmp(self, command, **args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.qmp_sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            ans = self._qmp_recv()
            if "event" in ans:
                self.events.append(ans)
                continue
            if "error" in ans:
                raise QTestError("QMP %s: %s" % (command, ans["error"]))
            return ans.get("return")

    def hmp(self, line):
        return self.qmp("human-monitor-command", **{"command-line": line})

    def wait_event(self, name, timeout=10.0, **data):
        """Take the first QMP event `name` whose data has the given items,
        waiting up to `timeout` s for it."""
        end = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                d = ev.get("data", {})
                if ev["event"] == name and \
                        all(d.get(k) == v for k, v in data.items()):
                    return self.events.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise QTestError("no QMP event %s %r" % (name, data))
            self.qmp_sock.settimeout(left)
            try:
                self.events.append(self._qmp_recv())
            except QTestError:
                pass  # timed out: the loop reports it
            finally:
                self.qmp_sock.settimeout(10)


class PCIDevice:
    """A function on bus 0 of the virt machine, configured through ECAM."""

    def __init__(self, qemu, slot, fn=0, bus=0):
        self.q = qemu
        self.base = VIRT_ECAM + (bus << 20) + (slot << 15) + (fn << 12)
        self.bars = {}

    def cfg_readl(self, off): return self.q.readl(self.base + off)
    def cfg_readw(self, off): return self.q.readw(self.base + off)
    def cfg_readb(self, off): return self.q.readb(self.base + off)
    def cfg_writel(self, off, v): self.q.writel(self.base + off, v)
    def cfg_writew(self, off, v): self.q.writew(self.base + off, v)

    def bar_info(self, i):
        """(size, is_64bit, prefetchable) of BAR i, or None if absent."""
        off = 0x10 + 4 * i
        orig = self.cfg_readl(off)
        self.cfg_writel(off, 0xffffffff)
        lo = self.cfg_readl(off)
        self.cfg_writel(off, orig)
        if lo == 0:
            return None
        is64 = (lo & 0x6) == 0x4
        mask = lo & ~0xf
        if is64:
            orig_hi = self.cfg_readl(off + 4)
            self.cfg_writel(off + 4, 0xffffffff)
            hi = self.cfg_readl(off + 4)
            self.cfg_writel(off + 4, orig_hi)
            mask |= hi << 32
            size = ((~mask) & 0xffffffffffffffff) + 1
        else:
            size = ((~mask) & 0xffffffff) + 1
        return size, is64, bool(lo & 0x8)

    def assign_bars(self, nbars=6, base=VIRT_PCI_MMIO):
        """Give every memory BAR an address in the 32-bit window, naturally
        aligned; enable memory decoding and bus mastering."""
        addr = base
        i = 0
        while i < nbars:
            info = self.bar_info(i)
            if info is None:
                i += 1
                continue
            size, is64, _ = info
            addr = (addr + size - 1) // size * size
            off = 0x10 + 4 * i
            self.cfg_writel(off, addr & 0xffffffff)
            if is64:
                self.cfg_writel(off + 4, addr >> 32)
            self.bars[i] = (addr, size)
            addr += size
            i += 2 if is64 else 1
        self.set_command(memory=True, master=True)
        return self.bars

    def set_command(self, memory=True, master=True, intx_disable=False):
        cmd = self.cfg_readw(0x04) & ~0x0406
        cmd |= (0x2 if memory else 0) | (0x4 if master else 0)
        cmd |= 0x400 if intx_disable else 0
        self.cfg_writew(0x04, cmd)

    def intx_pending(self):
        """PCI status bit 3: QEMU keeps it equal to the INTx level."""
        return bool(self.cfg_readw(0x06) & 0x8)

    def setup_bridge(self, secondary, mem_base, mem_limit):
        """Program a PCI-to-PCI bridge (this function): bus numbers
        secondary..secondary, a 32-bit non-prefetchable memory window
        [mem_base, mem_limit] (1 MiB granules), no I/O or prefetchable
        window, memory decoding and bus mastering on.  Then the functions
        behind it are PCIDevice(q, slot, bus=secondary)."""
        self.q.writeb(self.base + 0x18, 0)              # primary bus
        self.q.writeb(self.base + 0x19, secondary)
        self.q.writeb(self.base + 0x1a, secondary)      # subordinate
        self.cfg_writew(0x20, (mem_base >> 16) & 0xfff0)
        self.cfg_writew(0x22, (mem_limit >> 16) & 0xfff0)
        self.cfg_writew(0x24, 0xfff0)                   # prefetchable:
        self.cfg_writew(0x26, 0x0000)                   # base > limit = off
        self.cfg_writel(0x28, 0)
        self.cfg_writel(0x2c, 0)
        self.set_command(memory=True, master=True)

    def find_cap(self, cap_id):
        if not self.cfg_readw(0x06) & 0x10:
            return None
        ptr = self.cfg_readb(0x34) & ~3
        while ptr:
            if self.cfg_readb(ptr) == cap_id:
                return ptr
            ptr = self.cfg_readb(ptr + 1) & ~3
        return None
