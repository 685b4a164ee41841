#!/usr/bin/env python3
"""Kernel authors' traps (issue 13): the checks and reports of vtpu-run
against planted bugs (firmware/kernels/checktest.c, reporttest.c in
selftest.elf), each compared with an independent expectation:

  bounds        vst_small's plain VST into a (1,128) block overwrites the
                next operand's buffer: without the check p is silently
                wrong (not 2x on random data); by default the store is
                reported with the operand, grid point, pc and the buffer's
                extent, and vtpu-run names the operands' files; a body DMA
                that overruns its scratch is reported too.  Correct
                kernels with small blocks (a (8,1) output) pass with it on;
  buffer bounds edge_add1 loads whole blocks of a (9..15, 128) array:
                with --buffer-bounds padded (default) the padding reads 0
                and the result is x + 1; with logical the load of the
                edge block's padding is reported (rows, grid point), and
                masked edge loads pass;
  poison SMEM   smem_count reads a scratch SMEM counter it never set: right
                by luck without --poison, reported with --poison;
  trace steps   slow_point spins at one grid point: that point's "step"
                slice is the long one, and no step holds the start-up
                barrier;
  reports       races and poison name the operand array / buffer and the
                elements; poison says where the poison was stored and first
                loaded; deadlocks and semaphores left at exit give the grid
                point and the DMA that signalled; a 31-character kernel
                name with a long body symbol and a long vtpu_fail() text
                come out whole.
"""
import argparse
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

TIMEOUT = 120
FAILURES = []


def check(ok, what):
    print(('ok   ' if ok else 'FAIL ') + what)
    if not ok:
        FAILURES.append(what)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def write_npy(path, shape, values, descr='<f4'):
    code = {'<f4': 'f', '<i4': 'i'}[descr]
    hdr = ("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }"
           % (descr, ''.join('%d, ' % d for d in shape)))
    hdr += ' ' * (63 - (len(hdr) + 10) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) +
                hdr.encode() + struct.pack('<%d%s' % (len(values), code),
                                           *values))


def read_npy(path):
    b = open(path, 'rb').read()
    hl = struct.unpack('<H', b[8:10])[0]
    descr = re.search(r"'descr': '([^']+)'", b[10:10 + hl].decode()).group(1)
    d = b[10 + hl:]
    code = {'<f4': 'f', '<i4': 'i'}[descr]
    return list(struct.unpack('<%d%s' % (len(d) // 4, code), d))


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def test_bounds(a, rng):
    rows = rng.randint(3, 9)
    x = [f32(rng.uniform(-8, 8)) for _ in range(rows * 128)]
    xp, op, pp = (os.path.join(a.tmp, n) for n in ('x.npy', 'o.npy', 'p.npy'))
    write_npy(xp, (rows, 128), x)
    cmd = [a.vtpu_run, a.selftest, 'vst_small', '-q', '-c', '1',
           '--grid', str(rows), xp, '-o', op, '-o', pp]

    rc, _, err = run(cmd + ['--no-check-bounds'])
    p = read_npy(pp) if rc == 0 else []
    want = [f32(2 * v) for v in x]
    check(rc == 0 and p != want and
          sum(u != w for u, w in zip(p, want)) > rows * 64,
          f'without the check the stray VST silently corrupts p (rc {rc})')

    rc, _, err = run(cmd)
    m = re.search(r'leaves operand 1\'s block buffer 0 \(1,128\) x 4 bytes: '
                  r'VMEM \[0x([0-9a-f]+), 0x([0-9a-f]+)\) \(512 bytes\), into '
                  r'operand 2\'s block buffer 0', err)
    check(rc == 125 and 'ACCESS LEAVES ITS BUFFER: vst' in err and m and
          int(m.group(2), 16) - int(m.group(1), 16) == 512 and
          re.search(r'pc 0x[0-9a-f]{8} vst_small_body\+0x[0-9a-f]+, grid '
                    r'\(0\)', err) and '(4096 bytes)' in err,
          f'by default the VST is reported: operand, extent, pc, grid '
          f'point (rc {rc}): {err!r}')
    check(f"operands of 'vst_small': 0 {xp} (in), 1 {op} (out), 2 {pp} "
          f"(out)" in err, 'vtpu-run names the files of the operands')

    # The DMA form: a body copy that overruns its scratch area.
    rc, _, err = run([a.vtpu_run, a.selftest, 'dma_over', '-c', '1',
                      '--grid', '2', '--out-shape', 'i32:16,128', '-o', op])
    check(rc == 125 and re.search(
        r'DMA write of VMEM of TC 0 0x20000000\.\.0x20000fff \(4096 bytes\) '
        r'leaves the kernel\'s scratch: VMEM \[0x20000000, 0x20000400\) '
        r'\(1024 bytes\), into operand 0\'s block buffer 0', err) and
          'dma_over_body+0x' in err,
          f'a body DMA that overruns its scratch is reported: {err!r}')

    # A correct kernel with a tiny (8,1) output block, check on.
    r, c = rng.randint(9, 20), rng.randint(100, 700)
    xs = [f32(rng.uniform(-1, 1)) for _ in range(r * c)]
    write_npy(xp, (r, c), xs)
    rc, _, err = run([a.vtpu_run, a.module, 'reduce_last_f32', '-q',
                      '--grid', f'{-(-r // 8)},{-(-c // 512)}', '--dims',
                      'parallel,arbitrary', '--scalar', '0', xp,
                      '--out-shape', f'{r},1', '-o', op])
    o = read_npy(op) if rc == 0 else []
    sums = [math.fsum(xs[i * c:(i + 1) * c]) for i in range(r)]
    check(rc == 0 and len(o) == r and
          all(abs(u - w) <= 1e-5 * (1 + abs(w)) for u, w in zip(o, sums)),
          f'reduce_last_f32 ((8,1) output blocks) passes with the check on '
          f'(rc {rc}) {err}')


def test_buffer_bounds_modes(a, rng):
    # vtpu-run --buffer-bounds: edge_add1 loads whole (8,128) blocks, so
    # it reads the padding of the last block of a (rows, 128) array.
    rows = rng.choice([9, 13, 15])
    x = [f32(rng.uniform(-8, 8)) for _ in range(rows * 128)]
    xp, op = (os.path.join(a.tmp, n) for n in ('ex.npy', 'eo.npy'))
    write_npy(xp, (rows, 128), x)
    grid = -(-rows // 8)
    cmd = [a.vtpu_run, a.selftest, 'edge_add1', '-q', '-c', '1', '--grid',
           str(grid), '--scalar', '0', xp, '-o', op]
    want = [f32(v + 1) for v in x]
    for mode in ([], ['--buffer-bounds', 'padded']):
        rc, _, err = run(cmd + mode)
        check(rc == 0 and read_npy(op) == want,
              f'buffer bounds {mode or "default"}: padding reads 0 (rc {rc})')
    rc, _, err = run(cmd + ['--buffer-bounds', 'logical'])
    pad = rows - 8 * (grid - 1)
    check(rc == 125 and 'READ OF BLOCK PADDING: vld' in err and
          f'elements ({pad}, 0)..({pad}, 127)' in err and
          f'grid ({grid - 1})' in err,
          f'buffer bounds logical: the read is reported (rc {rc}): {err!r}')
    rc, _, err = run(cmd[:-5] + ['--scalar', '1', xp, '-o', op,
                                 '--buffer-bounds', 'logical'])
    check(rc == 0 and read_npy(op) == want,
          f'buffer bounds logical: masked edge loads pass (rc {rc}) {err}')
    rc, _, err = run(cmd + ['--buffer-bounds', 'loose'])
    check(rc != 0 and 'padded or logical' in err,
          f'--buffer-bounds loose is refused (rc {rc}) {err!r}')


def test_poison_smem(a):
    op = os.path.join(a.tmp, 'c.npy')
    cmd = [a.vtpu_run, a.selftest, 'smem_count', '-q', '-c', '1', '--grid',
           '3', '--out-shape', 'i32:24,128', '-o', op]
    rc, _, err = run(cmd)
    v = read_npy(op) if rc == 0 else []
    check(rc == 0 and v[::1024] == [1, 2, 3],
          f'an unset SMEM counter is silently right without --poison {err}')
    rc, _, err = run(cmd + ['--poison'])
    check(rc == 125 and 'UNINITIALISED READ of SMEM of TC 0' in err and
          "the kernel's scratch, bytes 0..3" in err and
          re.search(r'scalar load by TC 0 at pc 0x[0-9a-f]{8} '
                    r'smem_count_body\+0x[0-9a-f]+, grid \(0\)', err),
          f'--poison reports the read of the unset SMEM word: {err!r}')


def test_trace_steps(a):
    slow = random.Random(a.seed).randint(1, 3) # TC 0 runs points 0..3
    t = os.path.join(a.tmp, 'slow.json')
    rc, _, err = run([a.vtpu_run, a.selftest, 'slow_point', '-q', '-c', '2',
                      '--grid', '8', '--dims', 'parallel', '--scalar',
                      f'{slow},20000000', '--out-shape', 'i32:64,128',
                      '-o', os.path.join(a.tmp, 's.npy'), '--trace', t])
    try:
        ev = json.load(open(t))['traceEvents'] if rc == 0 else []
    except ValueError:
        ev = []
    steps = [e for e in ev if e.get('cat') == 'grid' and e.get('tid') == 0]
    longest = max(steps, key=lambda e: e['dur']) if steps else {}
    rest = sorted(e['dur'] for e in steps if e is not longest)
    check(len(steps) == 4 and longest.get('name') == f'step {slow}' and
          longest['args']['point'] == f'({slow})' and
          longest['dur'] > 5 * rest[len(rest) // 2],
          f'the slow grid point {slow} has the long slice: '
          f'{[(e["name"], e["args"]["point"], e["dur"]) for e in steps]}')
    # The TC that reaches the barrier first waits there: not in a step.
    bars = [e for e in ev if e.get('name') == 'barrier']
    ok = bool(bars)
    for b in bars:
        mine = [e['ts'] for e in ev if e.get('cat') == 'grid' and
                e.get('tid') == b['tid']]
        ok = ok and mine and b['ts'] + b['dur'] <= min(mine) + 1e-3
    check(ok, f'the start-up barrier is in no grid step: {bars}')


def test_reports(a):
    tmp = a.tmp
    x = os.path.join(tmp, 'x32.npy')
    write_npy(x, (32, 128), [float(i % 7) for i in range(32 * 128)])
    rc, _, err = run([a.vtpu_run, a.selftest, 'race_out', '-c', '2',
                      '--grid', '4', '--dims', 'parallel', x,
                      '--out-shape', '8,128', '-o',
                      os.path.join(tmp, 'y.npy'), '--race'])
    check(rc == 125 and "DATA RACE on HBM 0x" in err and
          "operand 1's array, elements (0, 0)..(7, 127)" in err,
          f'a race in HBM names the operand array and elements: {err!r}')

    o = os.path.join(tmp, 'h.npy')
    rc, _, err = run([a.vtpu_run, a.selftest, 'half_out', '-c', '1',
                      '--grid', '2', '--out-shape', '16,128', '-o', o,
                      '--poison'])
    check(rc == 125 and "operand 0's block buffer 0, elements (1, 0)..(7, "
          "127)" in err and 'no store wrote them' in err and
          'grid (0)' in err,
          f'poison at the write-back names the unwritten rows: {err!r}')
    rc, _, err = run([a.vtpu_run, a.selftest, 'copy_unset', '-c', '1',
                      '--grid', '2', '--out-shape', '16,128', '-o', o,
                      '--poison'])
    check(rc == 125 and re.search(
        r'the poison word was stored there by a vector store at pc '
        r'0x[0-9a-f]{8} \(copy_unset_body\+0x[0-9a-f]+\), grid \(0\)', err)
          and re.search(r'the first load of never-written VMEM was a vector '
                        r'load at pc 0x[0-9a-f]{8} \(copy_unset_body\+0x'
                        r'[0-9a-f]+\), grid \(0\), VMEM 0x20000000..'
                        r'0x20000fff \(the kernel\'s scratch, bytes '
                        r'0..4095\)', err),
          f'poison says where it was stored and first loaded: {err!r}')

    rc, _, err = run([a.vtpu_run, a.selftest, 'wait_at_point', '-c', '1',
                      '--grid', '4', '--scalar', '2', '--out-shape',
                      'i32:32,128', '-o', o])
    check(rc == 125 and 'deadlock' in err and
          'TC0 waits sem 0 >= 1 (is 0) at grid (2)' in err and
          'wait_at_point_body+0x' in err,
          f'a deadlock names the grid point: {err!r}')
    rc, _, err = run([a.vtpu_run, a.selftest, 'dma_nowait', '-c', '1',
                      '--grid', '4', '--scalar', '1', '--out-shape',
                      'i32:32,128', '-o', o])
    check(rc == 125 and re.search(
        r'semaphore 0 of TC 0 is 4096 at exit, after grid \(3\); last '
        r'signalled \(\+4096\) by a DMA issued by TC 0 at pc 0x[0-9a-f]{8} '
        r'\(dma_nowait_body\+0x[0-9a-f]+\), grid \(1\)\]', err),
          f'a semaphore left at exit names the DMA and grid points: {err!r}')

    name = 'a_kernel_with_a_long_name_31chr'
    body = ('this_body_function_has_a_rather_long_name_so_that_reports_'
            'carry_it_whole')
    base = [a.vtpu_run, a.selftest, name, '-c', '1', '--grid', '1',
            '--gen', 'v5p',
            '--set', 'vmem-size=64M', '--out-shape', '8,128', '-o', o]
    rc, _, err = run(base + ['--scalar', str(64 * 2**20 - 512) + ',0'])
    lines = [ln for ln in err.splitlines() if ln.startswith('vtpu-run: launch')]
    check(rc == 125 and len(lines) == 1 and
          lines[0].startswith(f"vtpu-run: launch of '{name}': ") and
          f'({body}+0x' in lines[0] and lines[0].endswith(
              'vld v1: sublane 1 at 0x24000000 (+512 bytes) is outside VMEM '
              '[0x20000000, 0x24000000) (base 0x23fffe00, stride 512)]'),
          f'an engine fault with long names comes out whole: {err!r}')
    rc, _, err = run(base + ['--scalar', '0,1'])
    lines = [ln for ln in err.splitlines() if ln.startswith('vtpu-run: launch')]
    check(rc == 125 and len(lines) == 1 and lines[0].startswith(
        f"vtpu-run: launch of '{name}' failed on TC 0: kernel failed (81): "
        f"kernel '{name}' at grid point (0): this text is long") and
          lines[0].endswith('has to hold all of it -- END OF TEXT'),
          f'a long vtpu_fail() text comes out whole: {err!r}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--module', required=True)
    ap.add_argument('--selftest', required=True)
    ap.add_argument('--seed', type=int, default=13)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix='vtpu-reports-') as a.tmp:
        test_bounds(a, rng)
        test_buffer_bounds_modes(a, rng)
        test_poison_smem(a)
        test_trace_steps(a)
        test_reports(a)
    if FAILURES:
        sys.exit(f'{len(FAILURES)} check(s) failed')


if __name__ == '__main__':
    main()
