#!/usr/bin/env python3
"""The TensorCore gdb stub (hw/vtpu/gdbstub.c) against real debuggers.

    test_gdbstub.py --vtpu-run PATH --elf-dir DIR [--module kernels.elf]
                    [--qemu PATH] [--gdb gdb-multiarch] [TEST...]

Sessions: gdb-multiarch in batch mode against `vtpu-run --gdb 0 --bare`
(breakpoint by function name, vector registers, SMEM globals, HBM through
the debugger window, stepping, continuing to the exit code; threads per
TC; watchpoints on SMEM and VMEM; a library kernel's C body in
vtpu-run's kernel mode (--module); ebreak and a fault stopping in the
debugger; the same stub in the QEMU device, with a launch through the
ring driven by the qtest harness, when --qemu is given).  Protocol: raw remote
protocol packets over TCP (bad checksums, garbage, out-of-range memory and
registers, Ctrl-C) must give the right errors and never crash the stub.

Every vtpu-run and gdb child has a time limit and is killed whatever
happens.  Exit status 0 if every test passed, 77 (skip) without gdb.
"""
import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

TIMEOUT = 60


class Fail(Exception):
    pass


class VtpuRun:
    """vtpu-run --gdb 0 ... in the background; .port is where it listens."""

    def __init__(self, vtpu_run, args):
        self.p = subprocess.Popen([vtpu_run, '--gdb', '0'] + args,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        line = self.p.stderr.readline().decode()
        m = re.search(r'waiting for gdb on port (\d+)', line)
        if not m:
            self.kill()
            raise Fail(f'vtpu-run did not start its stub: {line!r}')
        self.port = int(m.group(1))

    def wait(self):
        try:
            out, err = self.p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail('vtpu-run did not end')
        err = err.decode(errors='replace')
        if 'Sanitizer' in err or 'runtime error:' in err:
            raise Fail(f'vtpu-run: {err}')
        return self.p.returncode, out.decode(errors='replace'), err

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def gdb_session(gdb, vr, elf, commands):
    """Run gdb in batch mode against vr; returns its output."""
    cmd = [gdb, '-nx', '-batch', '-ex', 'set remotetimeout 20',
           '-ex', 'set pagination off', '-ex', f'target remote :{vr.port}']
    for c in commands:
        cmd += ['-ex', c]
    cmd.append(elf)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise Fail(f'gdb timed out; output so far:\n'
                   f'{(e.output or b"").decode(errors="replace")}')
    return p.stdout.decode(errors='replace')


def expect(out, *patterns):
    """Each regex must match, in order, in out."""
    pos = 0
    for pat in patterns:
        m = re.compile(pat, re.M).search(out, pos)
        if not m:
            raise Fail(f'expected /{pat}/ after offset {pos} in:\n{out}')
        pos = m.end()


# ---------------------------------------------------------------------------
# gdb sessions


def test_session(a):
    """Break by name, vregs, SMEM, HBM window, step, continue to the end."""
    elf = os.path.join(a.elf_dir, 'gdb_target.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '1', '--bare', elf])
    try:
        out = gdb_session(a.gdb, vr, elf, [
            'info threads',
            'break fill_vregs',
            'continue',
            'finish',
            'p $v1.i[5]',
            'p $v1.i[1023]',
            'p $v2.i[0]',
            'p $v1.f[0] == 0',
            'p $m0[3]',
            'p counter',
            'p/x table[2]',
            'x/2wx &table[0]',
            'set var table[2] = 0x33333334',
            'x/wx &table[2]',
            'p/x $pc',
            'info registers a0',
            'monitor hbm-base 0x1000',
            'x/wx 0x40000000',
            'break accumulate',
            'continue',
            'next',
            'next',
            'stepi',
            'info registers pc',
            'delete',
            'continue',
        ])
    finally:
        try:
            rc, _, err = vr.wait()
        finally:
            vr.kill()
    expect(out,
           r'^\* 1 +Thread 1 \(TC 0 \(stopped\)\) _start',
           r'Breakpoint 1 at 0x[0-9a-f]+: file .*gdb_target\.c',
           r'Breakpoint 1, fill_vregs \(base=.*100\) at .*gdb_target\.c:\d+',
           r'Value returned is \$1 = 101',
           r'^\$2 = 105$',
           r'^\$3 = 1123$',
           r'^\$4 = 7$',
           r'^\$5 = 0$',          # v1.f[0] is the float with bits 100
           r'^\$6 = false$',
           r'^\$7 = 5$',
           r'^\$8 = 0x33333333$',
           r':\s+0x11111111\s+0x22222222',
           r':\s+0x33333334',
           r'^\$9 = 0x1000[0-9a-f]{2}$',
           r'^a0\s+0x65\s+101',
           r'HBM offset 0x1000 is at 0x40000000',
           r'0x40000000:\s+0x00000000',
           r'Breakpoint 2, accumulate \(n=.*7\) at .*gdb_target\.c:(\d+)',
           r'^\d+\s+.*(sum|for)',
           r'^\d+\s+.*(sum|for)',
           r'^pc\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <accumulate\+\d+>',
           # main adds table[2] - 0x33333333 to its exit code
           r'\[Inferior 1 \(Remote target\) exited with code',
           )
    want = 43
    if f'exited with code {want:03o}' not in out:
        raise Fail(f'gdb did not see exit code {want}:\n{out}')
    if rc != want:
        raise Fail(f'vtpu-run exited {rc}, expected {want}: {err}')


def test_threads(a):
    """Two TCs are two threads, stopped at the entry with a0 = TC index."""
    elf = os.path.join(a.elf_dir, 'gdb_target.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '2', '--bare', elf])
    try:
        out = gdb_session(a.gdb, vr, elf, [
            'info threads',
            'thread 2',
            'p $a0',
            'p $a1',
            'thread 1',
            'p $a0',
            'break accumulate',
            'continue',
            'p $_thread',
            'delete',
            'continue',
        ])
    finally:
        try:
            rc, _, err = vr.wait()
        finally:
            vr.kill()
    expect(out,
           r'1 +Thread 1 \(TC 0 \(stopped\)\)',
           r'2 +Thread 2 \(TC 1 \(stopped\)\)',
           r'Switching to thread 2',
           r'^\$1 = 1$', r'^\$2 = 2$',
           r'Switching to thread 1',
           r'^\$3 = 0$',
           r'Thread [12] hit Breakpoint 1, accumulate',
           r'^\$4 = [12]$',
           r'exited with code 052')
    if rc != 42:
        raise Fail(f'vtpu-run exited {rc}, expected 42: {err}')


def test_watch(a):
    """Watchpoints on SMEM (scalar store and load) and VMEM (vector store)."""
    elf = os.path.join(a.elf_dir, 'gdb_target.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '1', '--bare', elf])
    try:
        out = gdb_session(a.gdb, vr, elf, [
            'watch counter',
            'rwatch table[2]',
            'watch *(int *)0x20000010',
            'continue',
            'continue',
            'continue',
            'delete',
            'continue',
        ])
    finally:
        try:
            rc, _, err = vr.wait()
        finally:
            vr.kill()
    expect(out,
           r'Hardware watchpoint 1: counter',
           r'Hardware read watchpoint 2: table\[2\]',
           r'Hardware watchpoint 3: \*\(int \*\)0x20000010',
           # VST(1, VMEM) writes v1[4] = 104 at 0x20000010
           r'Hardware watchpoint 3: .*\s+Old value = 0\s+New value = 104',
           r'fill_vregs',
           r'Hardware watchpoint 1: counter\s+Old value = 5\s+'
           r'New value = 6',
           r'Hardware read watchpoint 2: table\[2\]\s+Value = 858993459',
           r'exited with code 052')
    if rc != 42:
        raise Fail(f'vtpu-run exited {rc}, expected 42: {err}')


def write_npy(path, values, rows):
    """A (rows, 128) float32 .npy file."""
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 128), }" \
        % rows
    hdr = hdr.ljust(117) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) +
                hdr.encode())
        f.write(struct.pack('<%df' % len(values), *values))


def test_kernel(a):
    """A library kernel in vtpu-run's kernel mode, in its C body."""
    n = 32 * 128
    x = os.path.join(a.tmp, 'x.npy')
    y = os.path.join(a.tmp, 'y.npy')
    write_npy(x, [float(i % 7) for i in range(n)], 32)
    write_npy(y, [float(10 + i % 5) for i in range(n)], 32)
    vr = VtpuRun(a.vtpu_run, [a.module, 'add_sin_f32', '--grid', '4',
                              '--dims', 'parallel', '--cores', '1', x, y,
                              '-o', os.path.join(a.tmp, 'o.npy')])
    try:
        out = gdb_session(a.gdb, vr, a.module, [
            'break add_sin_f32_body',
            'continue',
            'bt',
            'next',
            'next',
            'p $v1.f[9]',
            'p $v2.f[9]',
            'next',
            'p $v3.f[9]',
            'delete',
            'continue',
        ])
    finally:
        try:
            rc, stdout, err = vr.wait()
        finally:
            vr.kill()
    expect(out,
           r'Breakpoint 1, add_sin_f32_body \(k=',
           r'#1 .* in rt_pipeline ',
           r'#2 .* in main \(\)',
           r'^\$1 = 2$',    # x[9] = 9 % 7
           r'^\$2 = 14$',   # y[9] = 10 + 9 % 5
           r'^\$3 = 16$',   # VADD
           r'exited normally')
    if rc != 0 or 'add_sin_f32: grid (4)' not in stdout:
        raise Fail(f'vtpu-run exited {rc}: {stdout} {err}')


def test_fault(a):
    """ebreak stops with SIGTRAP (continue goes on), a bad store SIGSEGV."""
    elf = os.path.join(a.elf_dir, 'gdb_fault.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '1', '--bare', elf])
    try:
        out = gdb_session(a.gdb, vr, elf, [
            'continue',
            'p $pc == &trap_here',
            'continue',
            'p stage',
            'monitor fault',
            'continue',
        ])
    finally:
        try:
            rc, _, err = vr.wait()
        finally:
            vr.kill()
    expect(out,
           r'Program received signal SIGTRAP',
           r'trap_here \(\) at .*gdb_fault\.c',
           r'^\$1 = 1$',
           r'Program received signal SIGSEGV',
           r'store_past_smem \(p=.*\) at .*gdb_fault\.c',
           r'^\$2 = 1$',
           r'TC 0: pc 0x[0-9a-f]+ \(store_past_smem\+0x[0-9a-f]+\): '
           r'out-of-bounds access: SMEM address 0x10100000',
           r'Program terminated with signal SIGSEGV')
    if rc != 125 or 'out-of-bounds access' not in err:
        raise Fail(f'vtpu-run exited {rc}, expected 125 and the report: '
                   f'{err}')


def test_fault_skip(a):
    """A hardware breakpoint, then skipping a faulting store goes on."""
    elf = os.path.join(a.elf_dir, 'gdb_fault.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '1', '--bare', elf])
    try:
        out = gdb_session(a.gdb, vr, elf, [
            'hbreak store_past_smem',
            'continue',     # the ebreak
            'continue',     # the hardware breakpoint
            'continue',     # the fault
            'set var $pc = $pc + 4',
            'signal 0',     # resume without the signal: past the store
        ])
    finally:
        try:
            rc, _, err = vr.wait()
        finally:
            vr.kill()
    expect(out,
           r'Hardware assisted breakpoint 1 at',
           r'Program received signal SIGTRAP',
           r'Breakpoint 1, store_past_smem',
           r'Program received signal SIGSEGV',
           r'exited with code 02')
    if rc != 2:
        raise Fail(f'vtpu-run exited {rc}, expected 2 (stage): {err}')


# ---------------------------------------------------------------------------
# raw protocol


class Rsp:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=20)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''

    def raw(self, data):
        self.s.sendall(data)

    def byte(self):
        while not self.buf:
            d = self.s.recv(65536)
            if not d:
                raise Fail('stub hung up')
            self.buf += d
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def packet(self):
        """Next packet's payload (acks skipped), checksum verified."""
        while self.byte() != b'$':
            pass
        data = b''
        while True:
            c = self.byte()
            if c == b'#':
                break
            data += c
        cs = self.byte() + self.byte()
        if int(cs, 16) != sum(data) & 0xff:
            raise Fail(f'bad checksum from the stub on {data!r}')
        self.raw(b'+')
        return data.decode()

    def send(self, payload, checksum=None):
        p = payload.encode() if isinstance(payload, str) else payload
        cs = sum(p) & 0xff if checksum is None else checksum
        self.raw(b'$' + p + b'#%02x' % cs)

    def ask(self, payload):
        self.send(payload)
        return self.packet()

    def ack(self):
        """The ack byte for the last packet sent."""
        while True:
            c = self.byte()
            if c in (b'+', b'-'):
                return c


def test_protocol(a):
    """Malformed and out-of-range requests give errors, never a crash."""
    elf = os.path.join(a.elf_dir, 'gdb_target.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '2', '--bare', elf])
    r = None
    try:
        r = Rsp(vr.port)
        # a bad checksum is NAKed, then the stub still answers
        r.send('qSupported', checksum=0)
        if r.ack() != b'-':
            raise Fail('bad checksum not NAKed')
        r.raw(b'garbage\x00\xff+-+')
        sup = r.ask('qSupported:multiprocess+;swbreak+')
        if 'qXfer:features:read+' not in sup or 'PacketSize=' not in sup:
            raise Fail(f'qSupported: {sup}')
        stop = r.ask('?')
        if not re.fullmatch(r'T05thread:1;', stop):
            raise Fail(f'stop reply {stop!r}')
        threads = r.ask('qfThreadInfo')
        if threads != 'm1,2' or r.ask('qsThreadInfo') != 'l':
            raise Fail(f'threads {threads!r}')
        # target description: rv32 + the Xtpu feature with v0..v31, m0..m7
        xml, off = '', 0
        while True:
            rep = r.ask(f'qXfer:features:read:target.xml:{off:x},200')
            xml += rep[1:]
            off += len(rep) - 1
            if rep[0] == 'l':
                break
            if rep[0] != 'm':
                raise Fail(f'qXfer reply {rep[:40]!r}')
        root = ET.fromstring(xml)
        if root.find('architecture').text != 'riscv:rv32':
            raise Fail('architecture')
        names = [reg.get('name') for reg in root.iter('reg')]
        for n in ['zero', 'pc', 'ft0', 'fcsr', 'v0', 'v31', 'm0', 'm7']:
            if n not in names:
                raise Fail(f'register {n} missing from target.xml')
        g = r.ask('g')
        if len(g) != 68 * 8:
            raise Fail(f"'g' reply has {len(g)} hex digits")
        if len(r.ask('p45')) != 8192 or len(r.ask('p65')) != 2048:
            raise Fail('vector register / mask sizes')
        # x0 is zero, pc is the entry (little-endian hex)
        if r.ask('p0') != '00000000' or r.ask('p20')[-2:] != '00':
            raise Fail('x0 / pc')
        errors = {
            'm0,4': 'E01',                  # unmapped
            'mffffffff,8': 'E01',            # wraps past 4 GiB
            '10ffffff,4': '',                # not a packet we know
            'm1fffffff,2': 'E01',            # runs past SMEM
            'm20000000,zz': 'E01',           # bad length
            'm100000': 'E01',                # no length
            'M100000,4:00000000': 'E01',     # IMEM is read-only
            'M10000000,4:0000': 'E01',       # data shorter than length
            'M10000000,2:zzzz': 'E01',       # not hex
            'p9999': 'E01',
            'pzz': 'E01',
            'P0=00': 'E01',                  # wrong size
            'Hg99': 'E01',
            'Hgzz': 'E01',
            'T7': 'E01',
            'Z0,3,4': 'E01',                 # misaligned
            'Z0,0,4': 'E01',                 # outside IMEM
            'vCont;x': 'E01',
            'qThreadExtraInfo,9': 'E01',
            'qRcmd,7a7a7a': 'E01',           # unknown monitor command
            'qRcmd,6862': 'E01',             # 'hb' is not a command
            'G00': 'E01',
        }
        for req, want in errors.items():
            got = r.ask(req)
            while req.startswith('qRcmd') and re.fullmatch(r'O[0-9a-f]+', got):
                got = r.packet()  # monitor output before the answer
            if got != want:
                raise Fail(f'{req!r}: got {got!r}, expected {want!r}')
        # memory that exists: SMEM and VMEM round trip, HBM window
        for base in (0x10000100, 0x20000040, 0x40000000):
            if r.ask(f'M{base:x},4:deadbeef') != 'OK':
                raise Fail(f'write at {base:#x}')
            if r.ask(f'm{base:x},4') != 'deadbeef':
                raise Fail(f'read back at {base:#x}')
        # an overlong packet is NAKed and forgotten
        r.send('m' + '0' * 70000)
        if r.ack() != b'-':
            raise Fail('overlong packet not NAKed')
        if r.ask('qC') != 'QC1':
            raise Fail('qC after an overlong packet')
        # Ctrl-C while running: a loop that never ends, stopped with T02
        if r.ask('Z0,%x,4' % 0x100000) != 'OK' or \
                r.ask('z0,%x,4' % 0x100000) != 'OK':
            raise Fail('Z0/z0')
        r.send('vCont;c')
        time.sleep(0.2)
        r.raw(b'\x03')
        rep = r.packet()
        # the program may have ended first; either answer is well-formed
        if not re.fullmatch(r'T02thread:[12];|W2a', rep):
            raise Fail(f'after Ctrl-C: {rep!r}')
        if rep.startswith('T'):
            r.send('k')
    finally:
        if r:
            r.s.close()
        try:
            vr.wait()
        finally:
            vr.kill()


def test_interrupt(a):
    """Ctrl-C stops a TC that loops forever; kill ends vtpu-run."""
    elf = os.path.join(a.elf_dir, 'fault_watchdog.elf')
    vr = VtpuRun(a.vtpu_run, ['--cores', '2', '--bare', elf])
    r = None
    try:
        r = Rsp(vr.port)
        r.ask('qSupported')
        if r.ask('?') != 'T05thread:1;':
            raise Fail('initial stop')
        r.send('vCont;c')
        time.sleep(0.3)
        r.raw(b'\x03')
        rep = r.packet()
        if not re.fullmatch(r'T02thread:1;', rep):
            raise Fail(f'after Ctrl-C: {rep!r}')
        # still alive, stopped: step one TC, the other stays put
        r.ask('Hg2')
        pc2 = r.ask('p20')
        rep = r.ask('vCont;s:1')
        if rep != 'T05thread:1;':
            raise Fail(f'step: {rep!r}')
        r.ask('Hg2')
        if r.ask('p20') != pc2:
            raise Fail('the other TC moved during a step')
        r.send('vKill;1')
        rc, _, err = vr.wait()
        if rc != 125 or 'killed from the debugger' not in err:
            raise Fail(f'after kill: status {rc}, {err!r}')
    finally:
        if r:
            r.s.close()
        vr.kill()


# ---------------------------------------------------------------------------
# QEMU: the same stub in -device vtpu,gdb=PORT, a launch through the ring


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_qemu(a):
    """gdb attached to the device stops a launch at a breakpoint."""
    sys.path.insert(0, os.path.join(a.root, 'tests', 'qemu'))
    import vtpu_qtest as vq  # noqa: E402  (the qtest harness)

    elf_path = os.path.join(a.elf_dir, 'gdb_target.elf')
    with open(elf_path, 'rb') as f:
        elf = f.read()
    port = free_port()
    flag = os.path.join(a.tmp, 'gdb-attached')
    if os.path.exists(flag):
        os.unlink(flag)
    vq.QEMU_BIN = a.qemu
    gdb = None
    with vq.start('hbm-size=64M', 'cores=1', f'gdb=tcp::{port}') as q:
        try:
            d = vq.Vtpu(q)
            d.setup_ring()
            q.write(vq.DATA, elf)
            st = d.run(vq.cmd(vq.OP_H2D, src=vq.DATA, dst=0x100000,
                              length=len(elf)),
                       vq.cmd(vq.OP_LOAD_PROG, arg=0, src=0x100000,
                              length=len(elf)))
            if st != vq.ST_IDLE:
                raise Fail(f'loading: {d.err_msg()}')
            cmd = [a.gdb, '-nx', '-batch', '-ex', 'set remotetimeout 20',
                   '-ex', f'target remote :{port}',
                   '-ex', 'break fill_vregs',
                   '-ex', f'shell touch {flag}',
                   '-ex', 'continue',
                   '-ex', 'finish',
                   '-ex', 'p $v1.i[5]',
                   '-ex', 'p counter',
                   '-ex', 'info threads',
                   '-ex', 'delete',
                   '-ex', 'detach', elf_path]
            gdb = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
            end = time.monotonic() + TIMEOUT
            while not os.path.exists(flag):
                if time.monotonic() > end or gdb.poll() is not None:
                    raise Fail('gdb did not attach: ' +
                               gdb.communicate()[0].decode())
                time.sleep(0.05)
            # the launch waits at its entry until gdb continues
            st = d.run(vq.cmd(vq.OP_LAUNCH, vq.LAUNCH_RESULT, arg=0 | 1 << 8,
                              addr=vq.DATA + 0x100000),
                       vq.cmd(vq.OP_FENCE, arg=1), timeout=TIMEOUT)
            out = gdb.communicate(timeout=TIMEOUT)[0].decode()
            if st != vq.ST_IDLE:
                raise Fail(f'launch: {d.err_msg()}\n{out}')
            expect(out,
                   r'Breakpoint 1, fill_vregs \(base=.*100\)',
                   r'Value returned is \$1 = 101',
                   r'^\$2 = 105$',
                   r'^\$3 = 5$',
                   r'1 +Thread 1 \(TC 0 \(stopped\)\)',
                   r'\[Inferior 1 \(Remote target\) detached\]')
            if d.rd(vq.LAST_EXIT) != 42:
                raise Fail(f'launch exit {d.rd(vq.LAST_EXIT)}, expected 42')
        finally:
            if gdb and gdb.poll() is None:
                gdb.kill()
                gdb.wait()


TESTS = {
    'session': test_session,
    'threads': test_threads,
    'watch': test_watch,
    'kernel': test_kernel,
    'fault': test_fault,
    'fault_skip': test_fault_skip,
    'protocol': test_protocol,
    'interrupt': test_interrupt,
    'qemu': test_qemu,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--elf-dir', required=True)
    ap.add_argument('--gdb', default='gdb-multiarch')
    ap.add_argument('--module', help='kernels.elf, for the kernel test')
    ap.add_argument('--qemu', help='qemu-system-riscv64 with the vtpu '
                    'device (the qemu test is skipped without it)')
    ap.add_argument('tests', nargs='*')
    a = ap.parse_args()
    a.root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    a.tmp = tempfile.mkdtemp(prefix='vtpu-gdb-')
    gdb = shutil.which(a.gdb)
    names = a.tests or list(TESTS)
    needs_gdb = {'session', 'threads', 'watch', 'kernel', 'fault',
                 'fault_skip', 'qemu'}
    failed = 0
    for n in names:
        if n in needs_gdb and not gdb:
            print(f'SKIP {n}: no {a.gdb}')
            continue
        if n == 'kernel' and not a.module:
            print('SKIP kernel: no --module')
            continue
        if n == 'qemu' and not (gdb and a.qemu and os.path.exists(a.qemu)):
            print('SKIP qemu: no --qemu binary (make qemu) or no gdb')
            continue
        a.gdb = gdb
        t0 = time.time()
        try:
            TESTS[n](a)
            print(f'ok   {n} ({time.time() - t0:.1f}s)')
        except Fail as e:
            failed += 1
            print(f'FAIL {n}: {e}')
    if not gdb and all(n in needs_gdb for n in names):
        sys.exit(77)
    shutil.rmtree(a.tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
