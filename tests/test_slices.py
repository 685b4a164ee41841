#!/usr/bin/env python3
"""vtpu-run --topology: slices in one process and over MPI.

In one process: the collectives of firmware/kernels/lib_collective.c
(all_gather, reduce_scatter_f32, all_reduce_f32/_i32,
all_reduce_f32_bidir, collective_matmul_f32) on slices "2", "4", "8",
"2x2" and "2x2x2" (and along y of a 2x2), random inputs sharded from one
.npy file (or given whole with --replicate, or one file per chip with
%d), every chip's output against NumPy (f32 sums in the ring's order, bit
for bit; the bidirectional one and the matmul within a tolerance).

Over MPI (--mpirun): `mpirun -np 2` and `-np 4` give files bit-identical
to the same slice in one process; a bad remote DMA on one rank ends every
rank with an error naming the chip; a deadlock across ranks is reported,
not hung; with --race, a race between chips of two ranks is reported
naming both chips (found by the delivery and by the later local access),
and the same kernel with its wait, and all_reduce_f32, run clean.  Every mpirun has a time limit and is killed (its process
group) when it runs out or the test fails.

Needs numpy (/usr/bin/python3 on Debian).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile

import numpy as np

FAILURES = []
TIMEOUT = 120


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print('FAIL:', what, flush=True)
    return cond


def run(cmd, timeout=TIMEOUT, env=None):
    """Run cmd in its own process group; kill the group on timeout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err + '\n[killed: timed out after %ds]' % timeout
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return p.returncode, out, err


def topo_dims(spec):
    d = [int(v) for v in spec.split('x')]
    return d + [1] * (3 - len(d))


def ring_of(dims, chip, axis):
    """The chips of chip's ring along axis, in position order, and its
    position."""
    X, Y, Z = dims
    c = [chip % X, chip // X % Y, chip // (X * Y)]
    members = []
    for p in range(dims[axis]):
        q = list(c)
        q[axis] = p
        members.append(q[0] + X * (q[1] + Y * q[2]))
    return members, c[axis]


class Runner:
    def __init__(self, args, tmp):
        self.vtpu_run = args.vtpu_run
        self.module = args.module
        self.tmp = tmp
        self.n = 0

    def path(self, name):
        self.n += 1
        return os.path.join(self.tmp, '%d_%s' % (self.n, name))

    def cmd(self, topo, kernel, inputs, outputs, extra=()):
        grid = '1' if kernel == 'collective_matmul_f32' else '2'
        c = [self.vtpu_run, '--topology', topo, '--set', 'hbm-size=256M',
             '-q', self.module, kernel, '--grid', grid, '--dims', 'parallel']
        c += list(extra) + list(inputs)
        for o in outputs:
            c += ['-o', o]
        return c


def rng_f32(rng, shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def ring_sum(blocks, members, start):
    """f32 sum of blocks[members[(start+1) % n]], ... in ring order."""
    n = len(members)
    s = blocks[members[(start + 1) % n]].copy()
    for k in range(2, n + 1):
        s = (s + blocks[members[(start + k) % n]]).astype(s.dtype)
    return s


def one_case(r, rng, topo, kernel, axis=0, big=False):
    """The command of kernel on topo in one process, its output files and
    a function checking their contents (big: blocks of 512 KiB, which the
    MPI transport sends as a header and a data message)."""
    dims = topo_dims(topo)
    N = dims[0] * dims[1] * dims[2]
    n = dims[axis]
    extra = ['--scalar', str(axis)] if axis else []
    name = '%s on %s axis %d' % (kernel, topo, axis)
    if kernel == 'all_gather':
        m, c = (1024 if big else 8), 128
        x = rng_f32(rng, (N * m, c))
        xin = r.path('x.npy')
        np.save(xin, x)
        out = r.path('o.npy')
        cmd = r.cmd(topo, kernel, [xin], [out],
                    extra + ['--out-shape', '%d,%d' % (n * m, c)])
        want = []
        for chip in range(N):
            mem, _ = ring_of(dims, chip, axis)
            want.append(np.concatenate([x[j * m:(j + 1) * m] for j in mem]))
        want = np.concatenate(want)
        return cmd, [out], lambda got: check(
            np.array_equal(got[0], want), name + ': output differs')
    if kernel in ('reduce_scatter_f32',):
        m, c = 8, 128
        x = rng_f32(rng, (N * n * m, c))
        xin = r.path('x.npy')
        np.save(xin, x)
        out = r.path('o.npy')
        cmd = r.cmd(topo, kernel, [xin], [out],
                    extra + ['--out-shape', '%d,%d' % (m, c)])
        xs = [x[ch * n * m:(ch + 1) * n * m] for ch in range(N)]
        want = []
        for chip in range(N):
            mem, pos = ring_of(dims, chip, axis)
            blocks = {j: xs[j][pos * m:(pos + 1) * m] for j in mem}
            want.append(ring_sum(blocks, mem, pos))
        want = np.concatenate(want)
        return cmd, [out], lambda got: check(
            np.array_equal(got[0], want), name + ': output differs')
    if kernel.startswith('all_reduce'):
        bm, c = 8, 128
        rows = n * bm * 2
        i32 = kernel.endswith('i32')
        x = (rng.integers(-2**31, 2**31, size=(N * rows, c), dtype=np.int64)
             .astype(np.int32) if i32 else rng_f32(rng, (N * rows, c)))
        xin = r.path('x.npy')
        np.save(xin, x)
        out = r.path('o.npy')
        cmd = r.cmd(topo, kernel, [xin], [out], extra)
        xs = [x[ch * rows:(ch + 1) * rows] for ch in range(N)]
        want = []
        blk = rows // n
        for chip in range(N):
            mem, _ = ring_of(dims, chip, axis)
            parts = []
            for b in range(n):
                blocks = {j: xs[j][b * blk:(b + 1) * blk] for j in mem}
                if i32:
                    with np.errstate(over='ignore'):
                        parts.append(sum(blocks[j].astype(np.int64)
                                         for j in mem).astype(np.int32))
                else:
                    parts.append(ring_sum(blocks, mem, b))
            want.append(np.concatenate(parts))
        want = np.concatenate(want)
        if kernel == 'all_reduce_f32_bidir':
            exact = [sum(xs[j].astype(np.float64)
                         for j in ring_of(dims, ch, axis)[0])
                     for ch in range(N)]
            exact = np.concatenate(exact)
            return cmd, [out], lambda got: check(
                np.abs(got[0] - exact).max() <= 1e-5 * n,
                name + ': off by %g' % np.abs(got[0] - exact).max())
        return cmd, [out], lambda got: check(
            np.array_equal(got[0], want), name + ': output differs')
    if kernel == 'collective_matmul_f32':
        m, K, Nc = 8, 128, 128
        x = rng_f32(rng, (N * m, K))
        w = rng_f32(rng, (K, Nc))
        xin, win = r.path('x.npy'), r.path('w.npy')
        np.save(xin, x)
        np.save(win, w)
        o, xg = r.path('o.npy'), r.path('xg.npy')
        cmd = r.cmd(topo, kernel, [xin, win], [o, xg],
                    extra + ['--replicate', '1',
                             '--out-shape', '%d,%d' % (n * m, Nc),
                             '--out-shape', '%d,%d' % (n * m, K)])
        wantg = []
        for chip in range(N):
            mem, _ = ring_of(dims, chip, axis)
            wantg.append(np.concatenate([x[j * m:(j + 1) * m] for j in mem]))
        wantg = np.concatenate(wantg)
        wanto = wantg.astype(np.float64) @ w.astype(np.float64)

        def ok(got):
            check(np.array_equal(got[1], wantg), name + ': xg differs')
            err = np.abs(got[0] - wanto) / (1 + np.abs(wanto))
            check(err.max() <= 1e-4, name + ': o off by %g' % err.max())
        return cmd, [o, xg], ok
    raise ValueError(kernel)


def test_in_process(r, rng):
    cases = []
    for topo in ('2', '4', '8', '2x2', '2x2x2'):
        for k in ('all_gather', 'reduce_scatter_f32', 'all_reduce_f32',
                  'all_reduce_i32', 'all_reduce_f32_bidir',
                  'collective_matmul_f32'):
            cases.append((topo, k, 0))
    cases += [('2x2', 'all_reduce_f32', 1), ('2x2', 'all_gather', 1),
              ('2x2x2', 'reduce_scatter_f32', 2)]
    for topo, k, axis in cases:
        cmd, outs, verify = one_case(r, rng, topo, k, axis)
        rc, out, err = run(cmd)
        if not check(rc == 0, '%s on %s: exit %s: %s' % (k, topo, rc,
                                                         err.strip())):
            continue
        verify([np.load(o) for o in outs])
    print('in process: %d cases' % len(cases), flush=True)


def test_per_chip_files(r, rng):
    """%d file names: one input file per chip, one output file per chip."""
    N, rows, c = 4, 64, 128
    xs = [rng_f32(rng, (rows, c)) for _ in range(N)]
    pat = r.path('x%d.npy')
    for i, x in enumerate(xs):
        np.save(pat % i, x)
    opat = r.path('o{chip}.npy')
    rc, _, err = run(r.cmd('4', 'all_reduce_f32', [pat], [opat]))
    if not check(rc == 0, 'per-chip files: exit %s: %s' % (rc, err)):
        return
    mem = list(range(N))
    for chip in range(N):
        got = np.load(opat.replace('{chip}', str(chip)))
        want = np.concatenate([ring_sum({j: xs[j][b * 16:(b + 1) * 16]
                                         for j in mem}, mem, b)
                               for b in range(N)])
        check(np.array_equal(got, want), 'per-chip files: chip %d' % chip)


def test_inout(r, rng):
    """An in/out operand (row_scale_acc: o += x * w[row]) on a slice of
    2: split from one file and from per-chip files; w per chip."""
    rows, cols, N = 24, 256, 2
    o0 = rng_f32(rng, (N * rows, cols))
    x = rng_f32(rng, (N * rows, cols))
    w = [rng_f32(rng, (rows,)) for _ in range(N)]
    fo0, fx, fw = r.path('o0.npy'), r.path('x.npy'), r.path('w%d.npy')
    np.save(fo0, o0)
    np.save(fx, x)
    for c in range(N):
        np.save(fw % c, w[c])
    want = np.concatenate([o0[c * rows:(c + 1) * rows] +
                           x[c * rows:(c + 1) * rows] * w[c][:, None]
                           for c in range(N)]).astype(np.float32)
    for per_chip in (False, True):
        if per_chip:
            fo0 = r.path('q%d.npy')
            for c in range(N):
                np.save(fo0 % c, o0[c * rows:(c + 1) * rows])
        out = r.path('ro.npy')
        c = [r.vtpu_run, '--topology', '2', '--set', 'hbm-size=256M', '-q',
             r.module, 'row_scale_acc', '--grid', '3,2', fo0, fx, fw,
             '-o', out]
        rc, _, err = run(c)
        if check(rc == 0, 'row_scale_acc on 2 chips: exit %s: %s'
                 % (rc, err)):
            check(np.array_equal(np.load(out), want),
                  'row_scale_acc on 2 chips (per-chip o0: %s)' % per_chip)


def test_aids(r, rng):
    """--stats prints every chip's TCs; --trace writes one file per chip."""
    import json
    x = rng_f32(rng, (4 * 32, 128))
    xin = r.path('x.npy')
    np.save(xin, x)
    tr = r.path('t%d.json')
    rc, _, err = run(r.cmd('4', 'all_reduce_f32', [xin], [r.path('o.npy')],
                           ['--stats', '--trace', tr]))
    if not check(rc == 0, '--stats --trace: exit %s: %s' % (rc, err)):
        return
    for c in range(4):
        for t in range(2):
            check('vtpu-run: chip %d TC %d: ' % (c, t) in err,
                  '--stats: no line for chip %d TC %d: %s' % (c, t, err))
        check(' ICI %d bytes sent' % 0 not in err.split('chip %d TC 0' % c)[1]
              .split('\n')[0], '--stats: chip %d sent nothing' % c)
        with open(tr % c) as f:
            ev = json.load(f)
        ev = ev['traceEvents'] if isinstance(ev, dict) else ev
        check(any('ici' in str(e.get('name', '')) for e in ev),
              '--trace: chip %d has no ICI event' % c)


def test_errors(r, rng, selftest):
    x = rng_f32(rng, (12, 128))
    xin = r.path('x.npy')
    np.save(xin, x)
    rc, _, err = run(r.cmd('8', 'all_reduce_f32', [xin], [r.path('o.npy')]))
    check(rc == 2 and 'does not split evenly over the 8 chips' in err,
          'uneven split: exit %s: %s' % (rc, err))
    rc, _, err = run(r.cmd('3x0', 'all_reduce_f32', [xin],
                           [r.path('o.npy')]))
    check(rc == 2 and '--topology 3x0' in err,
          'bad topology: exit %s: %s' % (rc, err))
    rc, _, err = run(r.cmd('2', 'all_reduce_f32', [r.path('no%d.npy')],
                           [r.path('o.npy')]))
    check(rc == 1 and 'chip 0' in err, 'missing per-chip file: %s' % err)
    pat = r.path('s%d.npy')
    np.save(pat % 0, rng_f32(rng, (16, 128)))
    np.save(pat % 1, rng_f32(rng, (32, 128)))
    rc, _, err = run(r.cmd('2', 'all_reduce_f32', [pat], [r.path('o.npy')]))
    check(rc == 2 and 'chip 1' in err and 'one shape' in err,
          'per-chip files of two shapes: exit %s: %s' % (rc, err))
    rc, _, err = run(r.cmd('2', 'all_reduce_f32', [xin], [r.path('o.npy')],
                           ['--replicate', '5']))
    check(rc == 2 and '--replicate 5' in err,
          'bad --replicate: exit %s: %s' % (rc, err))
    # a bad remote DMA faults the issuing chip; the others are stopped
    c = [r.vtpu_run, '--topology', '4', '--set', 'hbm-size=256M', '-q',
         selftest, 'slice_bad_remote', '-o', r.path('o.npy'),
         '--out-shape', '8,128']
    rc, _, err = run(c)
    check(rc == 125 and 'chip 3' in err and 'HBM' in err,
          'bad remote DMA in one process: exit %s: %s' % (rc, err))
    c = [r.vtpu_run, '--topology', '4', '--set', 'hbm-size=256M', '-q',
         selftest, 'slice_deadlock', '-o', r.path('o.npy'), '--out-shape',
         '8,128']
    rc, _, err = run(c)
    check(rc == 125 and 'deadlock' in err and 'chip 3' in err,
          'deadlock in one process: exit %s: %s' % (rc, err))


def race_cmd(r, selftest, topo, kernel, out, rows=16):
    return [r.vtpu_run, '--topology', topo, '--set', 'hbm-size=256M', '-q',
            '--race', selftest, kernel, '-o', out, '--out-shape',
            '%d,128' % rows]


def race_found(err):
    """The DATA RACE report names a write of chip 1's HBM and both
    chips' DMAs."""
    m = re.search(r'DATA RACE on HBM of chip 1 .*\n  write by (.*)\n'
                  r'  previous write by (.*)\n', err)
    return bool(m) and {m.group(1)[:24], m.group(2)[:24]} == {
        'DMA issued by chip 0 TC ', 'DMA issued by chip 1 TC '}


def test_race_local(r, selftest):
    """--race across the chips of one process (slicexfer.c)."""
    o = r.path('o.npy')
    for k in ('slice_race', 'slice_race_late'):
        rc, _, err = run(race_cmd(r, selftest, '2', k, o))
        check(rc == 125 and race_found(err),
              '--race %s in one process: exit %s: %s' % (k, rc, err[-3000:]))
    rc, _, err = run(race_cmd(r, selftest, '2', 'slice_race_ok', o))
    check(rc == 0 and 'RACE' not in err,
          '--race slice_race_ok in one process: exit %s: %s' % (rc, err))


def mpirun_cmd(args, np_, cmd):
    base = [args.mpirun, '-np', str(np_), '--oversubscribe',
            '--mca', 'btl', 'self,vader', '--bind-to', 'none']
    if os.geteuid() == 0:
        base.append('--allow-run-as-root')
    return base + cmd


def test_mpi(args, r, rng, selftest):
    env = dict(os.environ)
    env['OMPI_MCA_rmaps_base_oversubscribe'] = '1'
    env['VTPU_MPI_TIMEOUT'] = '60'
    cases = [('4', 'all_reduce_f32'), ('2x2x2', 'all_reduce_f32'),
             ('4', 'all_gather', True),
             ('2x2', 'all_gather'), ('4', 'collective_matmul_f32'),
             ('2x2x2', 'all_reduce_f32_bidir'), ('8', 'reduce_scatter_f32'),
             ('4', 'all_reduce_i32')]
    for topo, k, *big in cases:
        cmd, outs, verify = one_case(r, rng, topo, k, big=bool(big))
        rc, _, err = run(cmd)
        if not check(rc == 0, 'mpi reference %s on %s: %s' % (k, topo, err)):
            continue
        ref = [open(o, 'rb').read() for o in outs]
        verify([np.load(o) for o in outs])
        for np_ in (2, 4):
            for o in outs:
                os.unlink(o)
            rc, out, err = run(mpirun_cmd(args, np_, cmd), env=env)
            if not check(rc == 0, 'mpirun -np %d %s on %s: exit %s: %s'
                         % (np_, k, topo, rc, err.strip()[-2000:])):
                continue
            for o, want in zip(outs, ref):
                check(open(o, 'rb').read() == want,
                      'mpirun -np %d %s on %s: %s differs from the '
                      'in-process run' % (np_, k, topo, o))
    print('mpi: %d cases x 2 rank counts' % len(cases), flush=True)
    # a bad remote DMA from chip 3 (rank 1) into chip 0 (rank 0): in one
    # message (4 KiB), and as a header refused before its data (64 KiB)
    o = r.path('o.npy')
    for rows in (8, 128):
        c = [r.vtpu_run, '--topology', '4', '--set', 'hbm-size=256M', '-q',
             selftest, 'slice_bad_remote', '-o', o, '--out-shape',
             '%d,128' % rows]
        rc, _, err = run(mpirun_cmd(args, 2, c), env=env, timeout=90)
        check(rc not in (0, None) and 'chip 0' in err and 'chip 3' in err and
              'rejected on rank 0' in err and 'outside HBM' in err and
              'stopped by' in err,
              'mpi bad remote DMA of %d rows: exit %s: %s'
              % (rows, rc, err[-3000:]))
    # remote DMAs whose destination is not one run (received into a
    # buffer, then scattered), over 2 and 4 ranks against one process
    # and the host
    m = 64
    x = rng_f32(rng, (4 * m, 256))
    xin, o = r.path('x.npy'), r.path('o.npy')
    np.save(xin, x)
    c = [r.vtpu_run, '--topology', '4', '--set', 'hbm-size=256M', '-q',
         selftest, 'slice_strided', '--grid', '2', '--dims', 'parallel',
         xin, '-o', o]
    rc, _, err = run(c)
    if check(rc == 0, 'slice_strided in one process: %s' % err):
        ref = open(o, 'rb').read()
        want = np.zeros_like(x)
        for ch in range(4):
            src = x[(ch - 1) % 4 * m:((ch - 1) % 4 + 1) * m]
            want[ch * m:(ch + 1) * m, :128] = src[:, :128]
            want[ch * m:(ch + 1) * m, 128:] = src[::-1, 128:]
        check(np.array_equal(np.load(o), want),
              'slice_strided in one process: output differs from the host')
        for np_ in (2, 4):
            os.unlink(o)
            rc, _, err = run(mpirun_cmd(args, np_, c), env=env)
            if check(rc == 0, 'mpirun -np %d slice_strided: exit %s: %s'
                     % (np_, rc, err.strip()[-2000:])):
                check(open(o, 'rb').read() == ref,
                      'mpirun -np %d slice_strided: output differs from the '
                      'in-process run' % np_)
    # a rank that cannot start (its chip's file is missing) ends the job
    pat = r.path('p%d.npy')
    for i in (0, 1, 3):
        np.save(pat % i, rng_f32(rng, (32, 128)))
    rc, _, err = run(mpirun_cmd(args, 2, r.cmd('4', 'all_reduce_f32', [pat],
                                                [r.path('q.npy')])),
                     env=env, timeout=90)
    check(rc not in (0, None) and 'chip 2: ' in err and 'p2.npy' in err,
          'mpi missing file on rank 1: exit %s: %s' % (rc, err[-3000:]))
    # rank 1's chips cannot launch (their operands do not fit in HBM)
    # while rank 0's wait at the launch barrier: everyone stops
    pat = r.path('h%d.npy')
    for i in range(4):
        np.save(pat % i, rng_f32(rng, (64 if i < 2 else 16384, 128)))
    c = [r.vtpu_run, '--topology', '4', '--set', 'hbm-size=4M', '-q',
         r.module, 'all_reduce_f32', '--grid', '2', '--dims', 'parallel',
         pat, '-o', r.path('hq%d.npy')]
    rc, _, err = run(mpirun_cmd(args, 2, c), env=env, timeout=90)
    check(rc not in (0, None) and 'chip 2 on rank 1: operand 0: out of HBM'
          in err and re.search(r"rank 0: stopped by chip [23]'s fault on "
                               r"rank 1: operand 0: out of HBM", err),
          'mpi launch failing on rank 1: exit %s: %s' % (rc, err[-3000:]))
    c = [r.vtpu_run, '--topology', '4', '--set', 'hbm-size=256M', '-q',
         selftest, 'slice_deadlock', '-o', o, '--out-shape', '8,128']
    rc, _, err = run(mpirun_cmd(args, 2, c), env=env, timeout=90)
    check(rc not in (0, None) and 'deadlock across ranks' in err and
          'rank 1: chip 2' in err and 'chip 3' in err,
          'mpi deadlock: exit %s: %s' % (rc, err[-3000:]))
    test_race_mpi(args, r, rng, selftest, env)


def test_race_mpi(args, r, rng, selftest, env):
    """--race over MPI: chip 0 (rank 0) -> chip 1 (rank 1); the
    remote data in one message (4 KiB) and split (64 KiB)."""
    o = r.path('o.npy')
    for rows in (16, 256):
        # found when the data is delivered (chip 1's write came first)
        # or by chip 1's write (the data came first): either way
        # both chips are named
        for k in ('slice_race', 'slice_race_late'):
            rc, _, err = run(mpirun_cmd(args, 2, race_cmd(r, selftest, '2', k,
                                                          o, rows)),
                             env=env, timeout=90)
            check(rc not in (0, None) and race_found(err),
                  'mpi --race %s (%d rows): exit %s: %s'
                  % (k, rows, rc, err[-3000:]))
        rc, _, err = run(mpirun_cmd(args, 2, race_cmd(r, selftest, '2',
                                                      'slice_race_ok', o,
                                                      rows)),
                         env=env, timeout=90)
        check(rc == 0 and 'RACE' not in err,
              'mpi --race slice_race_ok (%d rows): exit %s: %s'
              % (rows, rc, err[-3000:]))
    # the collectives stay clean, and compute what they compute alone
    for topo in ('2', '4'):
        cmd, outs, verify = one_case(r, rng, topo, 'all_reduce_f32')
        rc, _, err = run(cmd)
        if not check(rc == 0, 'reference all_reduce_f32 on %s: %s'
                     % (topo, err)):
            continue
        ref = [open(f, 'rb').read() for f in outs]
        for f in outs:
            os.unlink(f)
        rc, _, err = run(mpirun_cmd(args, 2, cmd + ['--race']), env=env)
        if check(rc == 0 and 'RACE' not in err,
                 'mpi --race all_reduce_f32 on %s: exit %s: %s'
                 % (topo, rc, err[-3000:])):
            for f, want in zip(outs, ref):
                check(open(f, 'rb').read() == want,
                      'mpi --race all_reduce_f32 on %s: %s differs' % (topo, f))
    print('mpi --race: ok', flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--module', required=True)
    ap.add_argument('--selftest', required=True)
    ap.add_argument('--mpirun', help='run the MPI tests with this mpirun')
    ap.add_argument('--only', choices=['local', 'mpi'])
    args = ap.parse_args()
    rng = np.random.default_rng(14)
    with tempfile.TemporaryDirectory() as tmp:
        r = Runner(args, tmp)
        if args.only != 'mpi':
            test_in_process(r, rng)
            test_per_chip_files(r, rng)
            test_inout(r, rng)
            test_aids(r, rng)
            test_errors(r, rng, args.selftest)
            test_race_local(r, args.selftest)
        if args.mpirun and args.only != 'local':
            test_mpi(args, r, rng, args.selftest)
    if FAILURES:
        print('%d failure(s)' % len(FAILURES))
        sys.exit(1)
    print('ok')


if __name__ == '__main__':
    main()
