#!/usr/bin/env python3
"""vtpu-run --save-at / --restore (docs/vtpu-run.md, "Snapshots").

For bare programs (the demo, the coremark-like and qsort programs, the
Xtpu DMA/semaphore/MXU programs): run uninterrupted; run again saving at
random (seeded) instruction counts of a random TC, which must print the
same and exit the same; restore each snapshot, which must print what the
uninterrupted run printed after the save point - the whole output when
the program prints at its end, and in any case the same exit status and
instruction counts.  Then `--save-at fault` on the fault programs: the
restored run faults with the same report.  Then every error case: a clear
message and the documented exit status.
"""
import argparse
import collections
import os
import random
import re
import subprocess
import sys
import tempfile

TIMEOUT = 120
FAILURES = []


def run(vr, *args):
    p = subprocess.run([vr, *args], capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(errors='replace'), \
        p.stderr.decode(errors='replace')


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print('FAIL:', what)


def insns(err):
    """{tc: instructions} from -v's summary lines."""
    return {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r'TC (\d+): exit -?\d+, (\d+) instructions', err)}


def program(vr, tmp, rng, elf, args, rounds):
    name = os.path.basename(elf)
    rc0, out0, err0 = run(vr, '--bare', elf, '-v', *args)
    n0 = insns(err0)
    check(n0, f'{name}: -v gave no instruction counts: {err0}')
    for r in range(rounds):
        tc = rng.randrange(len(n0))
        n = rng.randrange(max(n0[tc], 1))
        snap = os.path.join(tmp, f'{name}.{r}.snap')
        rc1, out1, err1 = run(vr, '--bare', elf, '-v', *args,
                              '--save-at', f'insn:{tc}:{n}',
                              '--snapshot', snap)
        if n0[tc] - n < 20000 and 'nothing saved' in err1:
            continue  # the last stretch has no poll point: nothing saved
        # several TCs print in an order of the host's scheduling
        key = (lambda o: o) if len(n0) == 1 else \
            (lambda o: sorted(o.splitlines()))
        check(rc1 == rc0 and key(out1) == key(out0),
              f'{name}: saving at TC {tc} insn {n} changed the run '
              f'({rc1} vs {rc0})')
        check(f'saved the chip to {snap}' in err1,
              f'{name}: no save message: {err1}')
        check(insns(err1) == n0, f'{name}: instruction counts differ '
              f'after a save: {insns(err1)} vs {n0}')
        rc2, out2, err2 = run(vr, '--restore', snap, '-v')
        check(rc2 == rc0, f'{name}: restored from TC {tc} insn {n}: exit '
              f'{rc2}, uninterrupted {rc0}: {err2}')
        tail = out0.endswith(out2) if len(n0) == 1 else not (
            collections.Counter(out2.splitlines()) -
            collections.Counter(out0.splitlines()))
        check(tail,
              f'{name}: restored output is not the end of the '
              f'uninterrupted one:\n{out2}\n---\n{out0}')
        check(insns(err2) == n0, f'{name}: restored instruction counts '
              f'{insns(err2)}, uninterrupted {n0}')
        print(f'{name}: saved at TC {tc} instruction {n} of {n0[tc]}, '
              f'restored: exit {rc2}, {len(out2)} of {len(out0)} bytes of '
              f'output after the save point')


def fault_point(vr, tmp, elf, args=()):
    name = os.path.basename(elf)
    rc0, _, err0 = run(vr, '--bare', elf, *args)
    snap = os.path.join(tmp, name + '.fault.snap')
    rc1, _, err1 = run(vr, '--bare', elf, *args, '--save-at', 'fault',
                       '--snapshot', snap)
    check(rc0 == 125 and rc1 == 125, f'{name}: exits {rc0}, {rc1}')
    check('just before its fault' in err1, f'{name}: {err1}')
    rc2, _, err2 = run(vr, '--restore', snap)
    check(rc2 == 125, f'{name}: restored run exits {rc2}')
    # the same fault (kind, pc, detail), whichever TC reports it
    strip = lambda e: re.sub(r'^.*?: TC \d+: ', '', e.strip().splitlines()[-1])
    check(strip(err2) == strip(err0),
          f'{name}: restored fault differs:\n{err2}\n{err0}')
    print(f'{name}: saved before the fault, restored: {strip(err2)}')


def under_gdb(vr, tmp, elf):
    """--save-at fault, then --restore --gdb: gdb finds TC 0 at the
    faulting instruction, in its C function; `continue` faults."""
    import shutil
    import socket
    gdb = shutil.which('gdb-multiarch')
    if not gdb:
        print('no gdb-multiarch: --restore --gdb not checked')
        return
    snap = os.path.join(tmp, 'gdb.snap')
    rc, _, err = run(vr, '--bare', elf, '--save-at', 'fault', '--snapshot',
                     snap)
    m = re.search(r'TC (\d+) at pc (0x[0-9a-f]+)', err)
    check(m, f'--save-at fault: {err}')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([vr, '--restore', snap, '--gdb', str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        g = subprocess.run(
            [gdb, '-q', '-batch', '-nx', '-ex', 'set architecture riscv:rv32',
             '-ex', f'target remote 127.0.0.1:{port}',
             '-ex', f'thread {int(m.group(1)) + 1}', '-ex', 'p/x $pc',
             '-ex', 'bt 1', '-ex', 'continue', elf],
            capture_output=True, timeout=60)
        out = g.stdout.decode(errors='replace')
        pc = re.search(r'\$1 = (0x[0-9a-f]+)', out)
        check(pc and int(pc.group(1), 16) == int(m.group(2), 16) and
              'load_past_smem' in out,
              f'gdb after --restore: {out}')
        p.wait(30)
        check(p.returncode == 125, f'restored run under gdb: {p.returncode}')
        print(f'--restore --gdb: TC {m.group(1)} at {m.group(2)} in '
              'load_past_smem, continue faults')
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def errors(vr, tmp, demo):
    snap = os.path.join(tmp, 'e.snap')
    rc, _, err = run(vr, '--bare', demo, '--save-at', 'insn:0:100',
                     '--snapshot', snap)
    check(rc == 0, f'save: {rc} {err}')
    data = open(snap, 'rb').read()

    def bad(path, content):
        with open(path, 'wb') as f:
            f.write(content)
        return path

    cases = [
        (['--bare', demo, '--save-at', 'insn:9:5'], 2, 'the chip has 2 TCs'),
        (['--bare', demo, '--save-at', 'cycle:5'], 2, 'expected insn:N'),
        (['--bare', demo, '--save-at', 'insn:-1'], 2, 'expected insn:N'),
        (['--bare', demo, '--save-at', 'insn:0:99999999999',
          '--snapshot', os.path.join(tmp, 'never.snap')], 1,
         'nothing saved'),
        (['--bare', demo, '--snapshot', snap], 2, 'names the file'),
        (['--bare', demo, '--save-at', 'insn:5', '--snapshot',
          os.path.join(tmp, 'no', 'such', 'dir.snap')], 1,
         'No such file or directory'),
        (['--restore', os.path.join(tmp, 'missing.snap')], 1,
         'No such file'),
        (['--restore', bad(os.path.join(tmp, 'g.snap'), b'garbage')], 1,
         'not a vtpu snapshot'),
        (['--restore', bad(os.path.join(tmp, 't.snap'), data[:5000])], 1,
         'truncated'),
        (['--restore', bad(os.path.join(tmp, 'v.snap'),
                           data[:8] + b'\x09' + data[9:])], 1,
         'version 9: this engine reads versions 1..1'),
        (['--restore', snap, '--cores', '1'], 1,
         'configuration mismatch: the snapshot is of a chip with cores=2, '
         'this chip has cores=1'),
        (['--restore', snap, '--bare', demo], 2, 'holds the program'),
        (['--restore', snap, '--save-at', 'fault'], 2, 'one at a time'),
    ]
    for args, want_rc, want in cases:
        rc, _, err = run(vr, *args)
        check(rc == want_rc and want in err,
              f'{args}: exit {rc} (want {want_rc}), "{err.strip()}" '
              f'(want "{want}")')
    # a corrupted byte anywhere: a clean failure or a run, never a crash
    rng = random.Random(7)
    for i in range(40):
        b = bytearray(data)
        at = rng.randrange(min(len(b), 70000))
        b[at] ^= 1 << rng.randrange(8)
        rc, _, err = run(vr, '--restore', bad(os.path.join(tmp, 'c.snap'),
                                              bytes(b)))
        check(rc in (0, 1, 125) and 'Sanitizer' not in err,
              f'corrupted byte {at}: exit {rc}: {err}')
    print(f'{len(cases)} error cases and 40 corrupted snapshots: clean')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--demo', required=True)
    ap.add_argument('--elf-dir', required=True)
    ap.add_argument('--seed', type=int,
                    default=int(os.environ.get('VTPU_TEST_SEED', '15')))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    print(f'seed {a.seed} (--seed / VTPU_TEST_SEED)')
    vr = a.vtpu_run
    rv = lambda n: os.path.join(a.elf_dir, n + '.elf')
    with tempfile.TemporaryDirectory() as tmp:
        program(vr, tmp, rng, a.demo, [], 3)
        program(vr, tmp, rng, rv('coremark_like'), ['--cores', '1'], 2)
        program(vr, tmp, rng, rv('qsort'), [], 2)
        program(vr, tmp, rng, rv('xtpu_dma'), [], 2)
        program(vr, tmp, rng, rv('xtpu_sem'), [], 2)
        program(vr, tmp, rng, rv('xtpu_mxu'), [], 2)
        program(vr, tmp, rng, rv('xtpu_dma'), ['--dma-order', 'random:3'], 2)
        for f in ('fault_oob', 'fault_illegal', 'fault_misaligned'):
            fault_point(vr, tmp, rv(f))
        # the watchdog's budget travels in the snapshot's configuration
        fault_point(vr, tmp, rv('fault_watchdog'),
                    ['--insn-budget', '1000000'])
        under_gdb(vr, tmp, rv('fault_oob'))
        errors(vr, tmp, a.demo)
    if FAILURES:
        print(f'{len(FAILURES)} failure(s)')
        sys.exit(1)
    print('all snapshot checks passed')


if __name__ == '__main__':
    main()
