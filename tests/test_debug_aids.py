#!/usr/bin/env python3
"""The debugging aids of vtpu-run (docs/debugging.md), each against a
planted bug or a known workload:

  --dma-order      tests/rv32/dma_order.c reads a DMA destination before
                   waiting, reuses a source early and assumes the order of
                   two DMAs: correct with eager, caught with on-wait, and
                   the random order is reproducible per seed;
  --grid-order     selftest.elf's walk_order records the order of grid
                   points: lexicographic by default, a seeded permutation
                   of the parallel points with shuffle, arbitrary
                   dimensions kept in order;
  --check-revisit  revisit_out comes back to output block 0: reported
                   with both grid points; oob_index: block index out of
                   range with its grid point (always on);
  --trace          valid Chrome trace JSON with the expected events, in
                   both modes;
  --stats          per-TC counters with the known DMA byte counts;
  --tag-output     print_point's lines tagged with TC and grid point.
"""
import argparse
import json
import os
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


def write_npy(path, shape, values):
    hdr = ("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }"
           % ''.join('%d, ' % d for d in shape))
    hdr += ' ' * (63 - (len(hdr) + 10) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) +
                hdr.encode() + struct.pack('<%df' % len(values), *values))


def block_values(path):
    """First i32 of every (8,128) block of an .npy file."""
    b = open(path, 'rb').read()
    hl = struct.unpack('<H', b[8:10])[0]
    d = b[10 + hl:]
    v = struct.unpack('<%di' % (len(d) // 4), d)
    return [v[i] for i in range(0, len(v), 1024)]


def test_dma_order(a):
    elf = os.path.join(a.elf_dir, 'dma_order.elf')
    rc, out, _ = run([a.vtpu_run, '--bare', elf])
    check(rc == 0 and 'read before wait: 42' in out and
          'last landed: 200' in out, 'eager: the planted bugs go unseen')
    rc, out, _ = run([a.vtpu_run, '--bare', elf, '--dma-order', 'on-wait'])
    check(rc == 3 and 'read before wait: 0' in out and 'copied: 8' in out,
          f'on-wait: early read and early reuse caught (rc {rc}): {out!r}')
    seen = set()
    for seed in range(1, 17):
        r1 = run([a.vtpu_run, '--bare', elf, '--dma-order', f'random:{seed}'])
        r2 = run([a.vtpu_run, '--bare', elf, '--dma-order', f'random:{seed}'])
        if r1[:2] != r2[:2]:
            check(False, f'random:{seed} is reproducible')
            return
        seen.add(re.search(r'last landed: (\d+)', r1[1]).group(1))
    check(True, 'random:SEED is reproducible (16 seeds, twice each)')
    check(seen == {'100', '200'},
          f'random orders both DMAs both ways over 16 seeds: {seen}')
    rc, _, err = run([a.vtpu_run, '--bare', elf, '--dma-order', 'sometimes'])
    check(rc == 2 and 'eager, on-wait, random' in err,
          'a bad --dma-order is a usage error')


def test_grid_order(a):
    base = [a.vtpu_run, a.selftest, 'walk_order', '-q', '-c', '1',
            '--out-shape', 'i32:64,128', '--grid', '8', '--dims', 'parallel']
    o = os.path.join(a.tmp, 'w.npy')
    rc, _, err = run(base + ['-o', o])
    check(rc == 0 and block_values(o) == list(range(8)),
          f'lexicographic order by default {err}')
    orders = []
    for seed in (3, 3, 4):
        rc, _, err = run(base + ['-o', o, '--grid-order', f'shuffle:{seed}'])
        orders.append(block_values(o) if rc == 0 else None)
    check(orders[0] == orders[1] and sorted(orders[0]) == list(range(8)) and
          orders[0] != list(range(8)),
          f'shuffle:3 is a reproducible permutation: {orders[0]}')
    check(orders[2] != orders[0], 'another seed, another order')
    rc, _, err = run([a.vtpu_run, a.selftest, 'walk_order', '-q', '-c', '1',
                      '--out-shape', 'i32:32,128', '--grid', '4,2', '--dims',
                      'parallel,arbitrary', '-o', o, '--grid-order',
                      'shuffle:4'])
    v = block_values(o) if rc == 0 else []
    check(sorted(v) == [1, 3, 5, 7],
          f'arbitrary dimensions keep their order inside a point: {v}')
    rc, _, err = run(base + ['-o', o, '--grid-order', 'backwards'])
    check(rc == 2, 'a bad --grid-order is a usage error')


def test_revisit(a):
    cmd = [a.vtpu_run, a.selftest, 'revisit_out', '-q', '-c', '1',
           '--out-shape', 'i32:16,128', '--grid', '4',
           '-o', os.path.join(a.tmp, 'r.npy')]
    rc, _, err = run(cmd)
    check(rc == 0, 'a revisit goes unseen without the check')
    rc, _, err = run(cmd + ['--check-revisit'])
    check(rc == 125 and re.search(
        r'output block revisited.*block \(0, 0\) back at grid point \(2\), '
        r'written back after \(0\)', err) is not None,
        f'--check-revisit names the block and both grid points: {err}')
    rc, _, err = run([a.vtpu_run, a.selftest, 'oob_index', '-q', '-c', '1',
                      '--out-shape', 'i32:16,128', '--grid', '2',
                      '-o', os.path.join(a.tmp, 'r.npy')])
    check(rc == 125 and re.search(
        r'index map gave block \(2, 0\) at grid point \(1\)', err)
        is not None, f'out-of-range block index with its grid point: {err}')


def seed_launch(a, extra):
    x, y = os.path.join(a.tmp, 'x.npy'), os.path.join(a.tmp, 'y.npy')
    vals = [i * 1e-3 for i in range(64 * 128)]
    write_npy(x, (64, 128), vals)
    write_npy(y, (64, 128), vals)
    return run([a.vtpu_run, a.module, 'add_sin_f32', '--grid', '8',
                '--dims', 'parallel', '-c', '2', '-q', x, y,
                '-o', os.path.join(a.tmp, 'o.npy')] + extra)


def load_trace(path, what):
    try:
        with open(path) as f:
            return json.load(f)['traceEvents']
    except (OSError, ValueError, KeyError) as e:
        check(False, f'{what}: trace is JSON with traceEvents ({e})')
        return []


def check_dma_pairs(ev, what):
    begins = {e['id']: e for e in ev if e.get('ph') == 'b'}
    ends = {e['id']: e for e in ev if e.get('ph') == 'e'}
    check(begins and begins.keys() == ends.keys() and
          all(ends[i]['ts'] >= begins[i]['ts'] and
              begins[i]['tid'] >= 100 for i in begins),
          f'{what}: every DMA begins and ends on a DMA engine track')


def test_trace(a):
    t = os.path.join(a.tmp, 'kernel.json')
    rc, _, err = seed_launch(a, ['--trace', t])
    ev = load_trace(t, 'kernel mode')
    names = [(e.get('ph'), e.get('name'), e.get('tid')) for e in ev]
    check(rc == 0 and ('M', 'thread_name', 0) in names and
          ('M', 'thread_name', 101) in names, f'kernel mode: tracks {err}')
    for tc in (0, 1):
        check(('X', 'run', tc) in names and
              ('X', 'kernel add_sin_f32', tc) in names,
              f'kernel mode: TC {tc} run and kernel slices')
        steps = sorted(e['name'] for e in ev
                       if e.get('ph') == 'X' and e.get('tid') == tc and
                       e.get('cat') == 'grid')
        check(steps == ['step 0', 'step 1', 'step 2', 'step 3'],
              f'kernel mode: TC {tc} grid steps {steps}')
    pts = {e['args']['point'] for e in ev if e.get('cat') == 'grid'}
    check(pts == {f'({i})' for i in range(8)}, f'grid points {sorted(pts)}')
    check(any(e.get('ph') == 'C' for e in ev), 'kernel mode: counter track')
    check_dma_pairs(ev, 'kernel mode')

    t = os.path.join(a.tmp, 'bare.json')
    rc, _, _ = run([a.vtpu_run, '--bare',
                    os.path.join(a.elf_dir, 'xtpu_dma.elf'), '--cores', '2',
                    '--trace', t])
    ev = load_trace(t, 'bare mode')
    runs = [e for e in ev if e.get('name') == 'run']
    check(rc == 0 and len(runs) == 2 and
          all(e['args']['state'] == 'exited' for e in runs),
          'bare mode: one run slice per TC')
    check_dma_pairs(ev, 'bare mode')


def test_stats(a):
    rc, _, err = seed_launch(a, ['--stats'])
    for tc in (0, 1):
        m = re.search(r'TC %d: (\d+) instructions; vector (\d+) alu' % tc, err)
        d = re.search(r'TC %d: DMA (\d+) started, bytes (\d+) in, (\d+) out'
                      % tc, err)
        # 4 steps of two (8,128) f32 inputs in and one output out, plus the
        # runtime's launch descriptor (640 B) and status record (512 B).
        check(rc == 0 and m and d and int(m.group(1)) > 1000 and
              int(m.group(2)) > 0 and int(d.group(2)) == 8 * 4096 + 640 and
              int(d.group(3)) == 4 * 4096 + 512,
              f'--stats: TC {tc} counters {m and m.group(0)} '
              f'{d and d.group(0)}')


def test_tags(a):
    rc, out, err = run([a.vtpu_run, a.selftest, 'print_point', '-q',
                        '--grid', '2,2', '--dims', 'parallel,arbitrary',
                        '--out-shape', 'i32:16,128', '--tag-output',
                        '-o', os.path.join(a.tmp, 'p.npy')])
    lines = sorted(out.splitlines())
    check(rc == 0 and lines == ['[TC 0 (0,0)] step 0', '[TC 0 (0,1)] step 1',
                                '[TC 1 (1,0)] step 0', '[TC 1 (1,1)] step 1'],
          f'--tag-output: {lines} {err}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--elf-dir', required=True)
    ap.add_argument('--module', required=True)
    ap.add_argument('--selftest', required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='vtpu-aids-') as a.tmp:
        for t in (test_dma_order, test_grid_order, test_revisit, test_trace,
                  test_stats, test_tags):
            t(a)
    if FAILURES:
        sys.exit(f'{len(FAILURES)} check(s) failed')


if __name__ == '__main__':
    main()
