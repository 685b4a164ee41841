#!/usr/bin/env python3
"""vtpu-run's kernel mode: launches through the runtime on .npy files.

Writes .npy files with the standard library only (numpy is not needed),
runs kernels of firmware/kernels/kernels.elf through `vtpu-run MODULE
KERNEL ...` and checks the output files against references computed here:
the seed workload add_sin_f32 (grid 512, (8,128) f32 blocks, 2 TCs)
against math.sin on float32-rounded values to 1e-6 relative error,
add_mul_i32 with wrap-around, matmul_f32 with an --out-shape, gather_rows
with scalar prefetch (its output shape refused when not given), outputs
sized from the kernel's declarations (ew_binary_f32, copy_block,
reduce_last_f32 and transpose_f32 refused without --out-shape, an
--out-shape against the declaration refused by the runtime),
--scalar-file (40,000 gather indices against a host gather; bad files;
too many for SMEM refused, then run with more SMEM; index maps reading
past the scalar array reported with kernel, grid point, index, length),
scale_any (ANY operands), accumulate_any (adding DMAs into an in/out
operand, and their trace slices), row_scale_acc (an in/out
operand: a positional file and an -o file), and the error cases:
each must print a clear message and exit non-zero (a descr with a NUL
or control byte among them: refused, never matched up to the NUL).
"""
import argparse
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


def f32(v):
    """Round a Python float to the nearest float32."""
    return struct.unpack('<f', struct.pack('<f', v))[0]


def wrap32(v):
    return (v + 2**31) % 2**32 - 2**31


def npy_bytes(descr, shape, payload, version=1, fortran=False, extra=b''):
    dims = ', '.join(str(d) for d in shape) + (',' if len(shape) == 1 else '')
    hdr = ("{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }"
           % (descr, 'True' if fortran else 'False', dims))
    pre = 10 if version == 1 else 12
    hdr += ' ' * ((64 - (pre + len(hdr) + 1) % 64) % 64) + '\n'
    size = struct.pack('<H', len(hdr)) if version == 1 \
        else struct.pack('<I', len(hdr))
    return (b'\x93NUMPY' + bytes([version, 0]) + size + hdr.encode() +
            payload + extra)


def save(path, descr, shape, fmt, values, **kw):
    payload = struct.pack(f'<{len(values)}{fmt}', *values)
    with open(path, 'wb') as f:
        f.write(npy_bytes(descr, shape, payload, **kw))


def load(path):
    """(descr, shape, raw data) of an .npy file written by vtpu-run."""
    with open(path, 'rb') as f:
        b = f.read()
    assert b[:6] == b'\x93NUMPY', 'bad magic'
    assert b[6] == 1, f'version {b[6]}'
    hlen = struct.unpack('<H', b[8:10])[0]
    assert (10 + hlen) % 64 == 0, 'header not padded to 64 bytes'
    hdr = b[10:10 + hlen].decode()
    assert hdr.endswith('\n')
    m = re.match(r"\{'descr': '([^']+)', 'fortran_order': False, "
                 r"'shape': \(([0-9, ]*)\), \} *\n$", hdr)
    assert m, f'unexpected header {hdr!r}'
    shape = tuple(int(x) for x in m.group(2).split(',') if x.strip())
    return m.group(1), shape, b[10 + hlen:]


def values(path, fmt):
    descr, shape, raw = load(path)
    n = len(raw) // struct.calcsize(fmt)
    return descr, shape, struct.unpack(f'<{n}{fmt}', raw)


class Runner:
    def __init__(self, vtpu_run, module, tmp):
        self.vtpu_run, self.module, self.tmp = vtpu_run, module, tmp

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run(self, kernel, *args):
        cmd = [self.vtpu_run, self.module, kernel] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT,
                               cwd=self.tmp)
        except subprocess.TimeoutExpired:
            sys.exit(f"FAIL: timed out after {TIMEOUT}s: {' '.join(cmd)}")
        return p.returncode, p.stdout.decode(), p.stderr.decode()


def check(name, cond, detail=''):
    print(f"{'ok  ' if cond else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not cond:
        FAILURES.append(name)


def expect_ok(name, r, *args):
    rc, out, err = r.run(*args)
    check(f'{name}: exit 0', rc == 0, f'exit {rc}, stderr: {err.strip()}')
    return out


def test_add_sin(r, rng):
    rows, cols = 4096, 128
    n = rows * cols
    x = [f32(rng.uniform(-4, 4)) for _ in range(n)]
    y = [f32(rng.uniform(-4, 4)) for _ in range(n)]
    save(r.path('x.npy'), '<f4', (rows, cols), 'f', x)
    # y as a version 2.0 file: both header formats are read.
    save(r.path('y.npy'), '<f4', (rows, cols), 'f', y, version=2)
    out = expect_ok('add_sin_f32', r, 'add_sin_f32', '--grid', 512, '--dims',
                    'parallel', '--cores', 2, 'x.npy', 'y.npy', '-o',
                    'o.npy')
    check('add_sin_f32: summary', re.search(
        r'^add_sin_f32: grid \(512\) parallel, 2 TCs \(2 busy\), 512 steps, '
        r'[0-9.]+ ms, 6291456 bytes moved', out) is not None, out.strip())
    descr, shape, o = values(r.path('o.npy'), 'f')
    check('add_sin_f32: output header', descr == '<f4' and
          shape == (rows, cols), f'{descr} {shape}')
    worst = 0.0
    for a, b, v in zip(x, y, o):
        ref = math.sin(f32(a + b) * 2)
        worst = max(worst, abs(v - ref) / max(abs(ref), 1e-30))
    check('add_sin_f32: max relative error <= 1e-6', worst <= 1e-6,
          f'{worst:.3g}')


def test_add_mul(r, rng):
    # 1001 rows: the last row block sticks out (padding, masked write-back).
    rows, cols = 1001, 256
    n = rows * cols
    x = [rng.randint(-2**31, 2**31 - 1) for _ in range(n)]
    y = [rng.randint(-2**31, 2**31 - 1) for _ in range(n)]
    save(r.path('xi.npy'), '<i4', (rows, cols), 'i', x)
    save(r.path('yi.npy'), '<i4', (rows, cols), 'i', y)
    out = expect_ok('add_mul_i32', r, 'add_mul_i32', '--grid', '126,2',
                    '--dims', 'parallel,parallel', '--cores', 2, 'xi.npy',
                    'yi.npy', '-o', 'oi.npy')
    check('add_mul_i32: summary', 'grid (126,2) parallel,parallel' in out,
          out.strip())
    descr, shape, o = values(r.path('oi.npy'), 'i')
    check('add_mul_i32: output header', descr == '<i4' and
          shape == (rows, cols), f'{descr} {shape}')
    bad = sum(1 for a, b, v in zip(x, y, o) if wrap32((a + b) * 2) != v)
    check('add_mul_i32: exact', bad == 0 and len(o) == n,
          f'{bad} of {n} differ')


def test_matmul(r, rng):
    # K = 160 is not a multiple of 128: the K edge is zero-padded.
    M, K, N = 256, 160, 128
    x = [f32(rng.uniform(-1, 1)) for _ in range(M * K)]
    y = [f32(rng.uniform(-1, 1)) for _ in range(K * N)]
    save(r.path('mx.npy'), '<f4', (M, K), 'f', x)
    save(r.path('my.npy'), '<f4', (K, N), 'f', y)
    args = ['matmul_f32', '--grid', '2,1,2', '--dims',
            'parallel,parallel,arbitrary', '--cores', 2, 'mx.npy', 'my.npy',
            '-o', 'mo.npy']
    rc, _, err = r.run(*args)
    check('matmul_f32 without --out-shape: refused', rc == 2 and
          'give it with --out-shape' in err, f'exit {rc}: {err.strip()}')
    expect_ok('matmul_f32', r, *args, '--out-shape', f'{M},{N}')
    descr, shape, o = values(r.path('mo.npy'), 'f')
    check('matmul_f32: output header', descr == '<f4' and shape == (M, N),
          f'{descr} {shape}')
    yt = [y[j::N] for j in range(N)]
    worst = 0.0
    for i in range(M):
        row = x[i * K:(i + 1) * K]
        for j in range(N):
            col = yt[j]
            ref = sum(a * b for a, b in zip(row, col))
            mag = sum(abs(a * b) for a, b in zip(row, col))
            worst = max(worst, abs(o[i * N + j] - ref) / mag)
    check('matmul_f32: error <= 1e-6 of sum |x*y|', worst <= 1e-6,
          f'{worst:.3g}')


def test_gather(r, rng):
    # 6 row blocks gathered from a table of 8: the output is (48, 128),
    # not the table's shape, so the kernel cannot declare it.
    rows, cols = 64, 128
    x = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    save(r.path('gx.npy'), '<f4', (rows, cols), 'f', x)
    idx = [7, 0, 3, 3, 5, 1]
    args = ['gather_rows', '--grid', len(idx), '--scalar',
            ','.join(map(str, idx[:4])), '--scalar',
            ','.join(map(str, idx[4:])), 'gx.npy', '-o', 'go.npy']
    rc, _, err = r.run(*args)
    check('gather_rows without --out-shape: refused, naming the operand',
          rc == 2 and re.search(
              r"go\.npy: kernel 'gather_rows' does not declare the shape of "
              r"output operand 1 \(out f32 blocks \(8, 128\)\); give it "
              r"with --out-shape: the 1st --out-shape is this output's",
              err) is not None and not os.path.exists(r.path('go.npy')),
          f'exit {rc}: {err.strip()}')
    out = expect_ok('gather_rows', r, *args, '--out-shape', f'{8 * len(idx)},{cols}')
    _, shape, o = values(r.path('go.npy'), 'f')
    ref = [v for i in idx for v in x[i * 8 * cols:(i + 1) * 8 * cols]]
    check('gather_rows: rows gathered by the scalar-prefetch indices',
          list(o) == ref and shape == (8 * len(idx), cols),
          f'shape {shape}')
    check('gather_rows: repeated index skips a copy', '5+6 blocks' in out,
          out.strip())


def test_dynamic_grid(r, rng):
    # gather_rows_n: grid (s0, 1), scalar 0 = how many row blocks to gather
    # (a random n), scalars 1.. the indices; o has room for 9 row blocks.
    rows, cols = 64, 128
    x = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    save(r.path('dx.npy'), '<f4', (rows, cols), 'f', x)
    n = rng.randint(1, 9)
    idx = [rng.randrange(8) for _ in range(n)]
    out = expect_ok('gather_rows_n', r, 'gather_rows_n', '--grid', 's0,1',
                    '--scalar', ','.join(map(str, [n] + idx)), 'dx.npy',
                    '-o', 'do.npy', '--out-shape', f'{8 * 9},{cols}')
    check('gather_rows_n: summary shows the extent from s0',
          f'grid ({n} (s0),1)' in out and f'{n} steps' in out, out.strip())
    _, shape, o = values(r.path('do.npy'), 'f')
    ref = [v for i in idx for v in x[i * 8 * cols:(i + 1) * 8 * cols]]
    check('gather_rows_n: the first n row blocks gathered',
          list(o[:len(ref)]) == ref and shape == (72, cols), f'n {n}')
    # refused by the host runtime before anything runs: a usage error
    expect_error(r, 'grid from a negative scalar', 2,
                 r"launch of 'gather_rows_n': grid dimension 0 is scalar 0 "
                 r"= -2, a negative extent", 'gather_rows_n', '--grid',
                 's0,1', '--scalar', '-2,0', 'dx.npy', '-o', 'do.npy',
                 '--out-shape', f'8,{cols}')
    expect_error(r, 'grid from a missing scalar', 2,
                 r"launch of 'gather_rows_n': grid dimension 1 is scalar 5, "
                 r"but the launch has 2 scalars", 'gather_rows_n', '--grid',
                 's0,s5', '--scalar', '1,0', 'dx.npy', '-o', 'do.npy',
                 '--out-shape', f'8,{cols}')
    expect_error(r, '--grid sX', 2, r"--grid s0,sx: 'sx' is neither",
                 'gather_rows_n', '--grid', 's0,sx', 'dx.npy', '-o', 'do.npy')


def test_scalar_file(r, rng):
    """Scalar prefetch from a file: 40,000 indices (more than a command
    line and the old 64 KiB SMEM heap take), checked against a host
    gather; the file's errors; reads past the scalar array."""
    rows, cols, n = 64, 128, 40000
    x = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    save(r.path('sx.npy'), '<f4', (rows, cols), 'f', x)
    idx = [rng.randrange(rows // 8) for _ in range(n)]
    save(r.path('sidx.npy'), '<i4', (n,), 'i', idx)
    out = expect_ok('gather_rows --scalar-file (40000 indices)', r,
                    'gather_rows', '--grid', n, '--scalar-file', 'sidx.npy',
                    'sx.npy', '--out-shape', f'{8 * n},{cols}', '-o',
                    'sgo.npy')
    descr, shape, raw = load(r.path('sgo.npy'))
    xb = struct.pack(f'<{rows * cols}f', *x)
    blk = 8 * cols * 4
    ref = b''.join(xb[i * blk:(i + 1) * blk] for i in idx)
    check('gather_rows: 40000 row blocks gathered by the file\'s indices',
          descr == '<f4' and shape == (8 * n, cols) and raw == ref,
          f'{descr} {shape}, {len(raw)} bytes')
    check('gather_rows: 40000 steps', f'{n} steps' in out, out.strip())
    os.remove(r.path('sgo.npy'))
    # --scalar values come first, then the file's (uint32 accepted).
    save(r.path('su.npy'), '<u4', (3,), 'I', [6, 2, 6])
    expect_ok('--scalar then --scalar-file', r, 'gather_rows', '--grid', 4,
              '--scalar', 5, '--scalar-file', 'su.npy', 'sx.npy',
              '--out-shape', f'32,{cols}', '-o', 'su_o.npy')
    _, _, raw = load(r.path('su_o.npy'))
    check('--scalar then --scalar-file: order kept',
          raw == b''.join(xb[i * blk:(i + 1) * blk] for i in [5, 6, 2, 6]))
    # Files that are not one flat int32/uint32 array.
    save(r.path('sf.npy'), '<f4', (4,), 'f', [1.0, 2.0, 3.0, 4.0])
    save(r.path('s2.npy'), '<i4', (2, 2), 'i', [1, 2, 3, 4])
    with open(r.path('s8.npy'), 'wb') as f:
        f.write(npy_bytes('<i8', (4,), bytes(32)))
    base = ['gather_rows', '--grid', 4, 'sx.npy', '--out-shape',
            f'32,{cols}', '-o', 'serr.npy']
    for name, fname, status, pattern in [
            ('f32 file', 'sf.npy', 2,
             r"--scalar-file sf\.npy: holds f32 \('<f4'\); scalar-prefetch "
             r"values are int32: save idx\.astype\(np\.int32\)"),
            ('rank-2 file', 's2.npy', 2,
             r"--scalar-file s2\.npy: the array \(2, 2\) has rank 2; scalar "
             r"prefetch is one flat array"),
            ('int64 file', 's8.npy', 1,
             r"--scalar-file: s8\.npy: unsupported dtype '<i8'.*1-D int32 or "
             r"uint32"),
            ('missing file', 'nosuch.npy', 1,
             r"--scalar-file: nosuch\.npy: No such file")]:
        rc, _, err = r.run(*base[:3], '--scalar-file', fname, *base[3:])
        check(f'--scalar-file: {name} refused', rc == status and
              re.search(pattern, err) is not None,
              f'exit {rc} (want {status}): {err.strip()!r}')
    # More scalars than SMEM holds: refused before the launch, naming the
    # fix; with more SMEM it runs.
    big = [rng.randrange(8) for _ in range(300000)]
    save(r.path('sbig.npy'), '<i4', (len(big),), 'i', big)
    rc, _, err = r.run(*base[:3], '--scalar-file', 'sbig.npy', *base[3:])
    check('300000 scalars in 1 MiB of SMEM: refused, naming the fix',
          rc == 2 and re.search(
              r"launch of 'gather_rows': 300000 scalar-prefetch values "
              r"\(1200000 bytes\) do not fit in the [0-9]+ bytes of SMEM the "
              r"module leaves free \(smem-size 1048576\): give the chip more "
              r"SMEM \(vtpu-run --set smem-size=N\)", err) is not None,
          f'exit {rc}: {err.strip()!r}')
    expect_ok('300000 scalars with --set smem-size=2097152', r,
              *base[:3], '--scalar-file', 'sbig.npy', '--set',
              'smem-size=2097152', *base[3:])
    _, _, raw = load(r.path('serr.npy'))
    check('300000 scalars: the first 4 used',
          raw == b''.join(xb[i * blk:(i + 1) * blk] for i in big[:4]))
    # An index map reading past the scalar array: the kernel, the grid
    # point, the index and the array's length (inline and from HBM).
    for nidx in (4, 40):
        ids = [rng.randrange(8) for _ in range(nidx)]
        save(r.path('spast.npy'), '<i4', (nidx,), 'i', ids)
        rc, _, err = r.run('gather_rows', '--grid', f'{nidx + 1},1',
                           '--scalar-file', 'spast.npy', 'sx.npy',
                           '--out-shape', f'{8 * nidx + 8},{cols}', '-o',
                           'spast_o.npy')
        check(f'index map past {nidx} scalars: reported', rc == 125 and
              re.search(r"\(src_map\+0x[0-9a-f]+\): out-of-bounds access: "
                        r"SMEM address 0x[0-9a-f]+ \(4 bytes\): an index map "
                        r"of kernel 'gather_rows' at grid point "
                        rf"\({nidx}, 0\) read s\[{nidx}\], past the "
                        rf"launch's {nidx} scalar-prefetch values", err)
              is not None, f'exit {rc}: {err.strip()!r}')


def test_declared_shapes(r, rng):
    """Outputs sized from the kernel's declaration (operand spec
    shape_like / dtype_like), never guessed from other inputs."""
    rows, cols = 40, 700  # not multiples of the (32, 512) blocks
    x = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    y = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    save(r.path('ex1.npy'), '<f4', (rows, cols), 'f', x)
    save(r.path('ey1.npy'), '<f4', (rows, cols), 'f', y)
    # ew_binary_f32 with EW_B_SUB (1): declared like operand 0.
    expect_ok('ew_binary_f32 without --out-shape', r, 'ew_binary_f32',
              '--grid', '2,2', '--scalar', 1, 'ex1.npy', 'ey1.npy', '-o',
              'eo1.npy')
    descr, shape, o = values(r.path('eo1.npy'), 'f')
    check('ew_binary_f32: declared shape and dtype', descr == '<f4' and
          shape == (rows, cols), f'{descr} {shape}')
    check('ew_binary_f32: o = x - y',
          list(o) == [f32(a - b) for a, b in zip(x, y)])
    # copy_block takes any dtype: the output's is the input's (declared).
    vals = [rng.randint(-2**15, 2**15 - 1) for _ in range(48 * 256)]
    save(r.path('c16.npy'), '<i2', (48, 256), 'h', vals)
    expect_ok('copy_block without --out-shape', r, 'copy_block', '--grid',
              '3,2', 'c16.npy', '-o', 'co16.npy')
    descr, shape, o = values(r.path('co16.npy'), 'h')
    check('copy_block: dtype and shape of its input', descr == '<i2' and
          shape == (48, 256) and list(o) == vals, f'{descr} {shape}')
    # A reduction's output is not like its input: refused.
    rc, _, err = r.run('reduce_last_f32', '--grid', '5,2', '--dims',
                       'parallel,arbitrary', '--scalar', 0, 'ex1.npy', '-o',
                       'ro1.npy')
    check('reduce_last_f32 without --out-shape: refused', rc == 2 and
          "does not declare the shape of output operand 1" in err,
          f'exit {rc}: {err.strip()}')
    expect_ok('reduce_last_f32', r, 'reduce_last_f32', '--grid', '5,2',
              '--dims', 'parallel,arbitrary', '--scalar', 0, 'ex1.npy',
              '--out-shape', f'{rows},1', '-o', 'ro1.npy')
    _, shape, o = values(r.path('ro1.npy'), 'f')
    worst = max(abs(o[i] - sum(x[i * cols:(i + 1) * cols])) /
                sum(abs(v) for v in x[i * cols:(i + 1) * cols])
                for i in range(rows))
    check('reduce_last_f32: row sums', shape == (rows, 1) and worst <= 1e-5,
          f'{shape} {worst:.3g}')
    # transpose declares only the dtype (of x); the shape is the caller's.
    rc, _, err = r.run('transpose_f32', '--grid', '1,6', 'ex1.npy', '-o',
                       'to1.npy')
    check('transpose_f32 without --out-shape: refused', rc == 2 and
          "output operand 1 (out any blocks (128, 128))" in err,
          f'exit {rc}: {err.strip()}')
    expect_ok('transpose_f32', r, 'transpose_f32', '--grid', '1,6',
              '--out-shape', f'{cols},{rows}', 'ex1.npy', '-o', 'to1.npy')
    descr, shape, o = values(r.path('to1.npy'), 'f')
    check('transpose_f32: dtype declared like x, values transposed',
          descr == '<f4' and shape == (cols, rows) and
          all(o[j * rows + i] == x[i * cols + j] for i in range(rows)
              for j in range(cols)), f'{descr} {shape}')
    # An --out-shape that contradicts the declaration: the TC runtime
    # refuses the launch.
    rc, _, err = r.run('ew_binary_f32', '--grid', '2,2', '--scalar', 1,
                       'ex1.npy', 'ey1.npy', '--out-shape', f'{rows},{cols + 1}',
                       '-o', 'eo2.npy')
    check('output shape against the declaration: refused', rc == 125 and
          re.search(r"TC 0: bad shape: operand 2 is \(40, 701\), declared "
                    r"like operand 0, \(40, 700\)", err) is not None and
          "launch of 'ew_binary_f32' failed on TC 0: bad shape (73)" in err,
          f'exit {rc}: {err.strip()}')


def test_scale_any(r, rng):
    rows = 300
    x = [f32(rng.uniform(-9, 9)) for _ in range(rows * 128)]
    save(r.path('ax.npy'), '<f4', (rows, 128), 'f', x)
    expect_ok('scale_any', r, 'scale_any', '--grid', 2, '--dims', 'parallel',
              '--cores', 2, 'ax.npy', '-o', 'ao.npy')
    _, _, o = values(r.path('ao.npy'), 'f')
    check('scale_any: o = x * 2 + 1',
          list(o) == [f32(f32(v * 2) + 1) for v in x])


def test_accumulate_any(r, rng):
    # o += x with adding DMAs (pltpu.async_copy(..., add=True)); o is an
    # in/out operand.  The trace names the adds.
    rows, cols = 300, 128
    o0 = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    x = [f32(rng.uniform(-1e4, 1e4)) for _ in range(rows * cols)]
    save(r.path('acc_x.npy'), '<f4', (rows, cols), 'f', x)
    save(r.path('acc_o0.npy'), '<f4', (rows, cols), 'f', o0)
    expect_ok('accumulate_any', r, 'accumulate_any', '--grid', 2, '--dims',
              'parallel', '--cores', 2, 'acc_x.npy', 'acc_o0.npy', '-o',
              'acc_o.npy', '--trace', 'acc.json')
    _, shape, o = values(r.path('acc_o.npy'), 'f')
    check('accumulate_any: o += x (adding DMAs)',
          list(o) == [f32(a + b) for a, b in zip(o0, x)] and
          shape == (rows, cols))
    with open(r.path('acc.json')) as f:
        trace = f.read()
    check('accumulate_any: the trace has "dma add vmem->hbm" slices',
          '"name":"dma add vmem->hbm"' in trace)


def test_row_scale(r, rng):
    # An in/out operand takes a positional file and an -o file; w is an
    # SMEM input of rank 1.
    rows, cols = 24, 256
    o0 = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    x = [f32(rng.uniform(-9, 9)) for _ in range(rows * cols)]
    w = [f32(rng.uniform(-2, 2)) for _ in range(rows)]
    save(r.path('ro0.npy'), '<f4', (rows, cols), 'f', o0)
    save(r.path('rx.npy'), '<f4', (rows, cols), 'f', x)
    save(r.path('rw.npy'), '<f4', (rows,), 'f', w)
    expect_ok('row_scale_acc', r, 'row_scale_acc', '--grid', '3,2',
              'ro0.npy', 'rx.npy', 'rw.npy', '-o', 'ro.npy')
    _, shape, o = values(r.path('ro.npy'), 'f')
    ref = [f32(o0[i] + f32(x[i] * w[i // cols])) for i in range(rows * cols)]
    check('row_scale_acc: o += x * w[row]', list(o) == ref and
          shape == (rows, cols))


def raw(path):
    with open(path, 'rb') as f:
        return f.read()


def test_copy_paths(r, rng):
    """Files go straight between the page cache and HBM (pread into HBM,
    write() from it, outputs zeroed by dropping pages); with --poison the
    same launches copy through the driver (COPY_H2D/D2H, FILL).  Both
    must give the same bytes, on random data, for edge blocks and for
    output rows no grid step writes (zeros)."""
    rows, cols = 1001, 256
    x = [rng.randint(-2**31, 2**31 - 1) for _ in range(rows * cols)]
    y = [rng.randint(-2**31, 2**31 - 1) for _ in range(rows * cols)]
    save(r.path('cx.npy'), '<i4', (rows, cols), 'i', x)
    save(r.path('cy.npy'), '<i4', (rows, cols), 'i', y)
    fx = [f32(rng.uniform(-4, 4)) for _ in range(1024 * 128)]
    save(r.path('cf.npy'), '<f4', (1024, 128), 'f', fx)
    gx = [f32(rng.uniform(-9, 9)) for _ in range(64 * 128)]
    save(r.path('cg.npy'), '<f4', (64, 128), 'f', gx)
    n = rng.randint(1, 8)
    idx = [rng.randrange(8) for _ in range(n)]
    launches = [
        ('add_mul_i32', ['--grid', '126,2', '--dims', 'parallel,parallel',
                         '--cores', 2, 'cx.npy', 'cy.npy']),
        ('add_sin_f32', ['--grid', 128, 'cf.npy', 'cf.npy']),
        # o has room for 9 row blocks, n < 9 are gathered: the rest is 0
        ('gather_rows_n', ['--grid', 's0,1', '--scalar',
                           ','.join(map(str, [n] + idx)), 'cg.npy',
                           '--out-shape', '72,128']),
    ]
    for kernel, args in launches:
        expect_ok(f'{kernel}, direct', r, kernel, *args, '-o', 'c1.npy')
        expect_ok(f'{kernel}, through the driver', r, kernel, *args,
                  '--poison', '-o', 'c2.npy')
        a, b = raw(r.path('c1.npy')), raw(r.path('c2.npy'))
        check(f'{kernel}: the same bytes both ways', a == b and len(a) > 128,
              f'{len(a)} vs {len(b)} bytes')
    _, _, o = values(r.path('c1.npy'), 'f')
    check('gather_rows_n: rows past the gathered ones are zero',
          all(v == 0 for v in o[n * 8 * 128:]) and
          list(o[:n * 8 * 128]) ==
          [v for i in idx for v in gx[i * 8 * 128:(i + 1) * 8 * 128]],
          f'n {n}')

    # A pipe (not a regular file: read whole, no pread) gives the same.
    rfd, wfd = os.pipe()
    data = raw(r.path('cf.npy'))
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        with os.fdopen(wfd, 'wb') as f:
            f.write(data)
        os._exit(0)
    os.close(wfd)
    p = subprocess.run([r.vtpu_run, r.module, 'add_sin_f32', '--grid', '128',
                        f'/dev/fd/{rfd}', 'cf.npy', '-o', 'c3.npy'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT, cwd=r.tmp, pass_fds=(rfd,))
    os.close(rfd)
    os.waitpid(pid, 0)
    expect_ok('add_sin_f32, reference', r, 'add_sin_f32', '--grid', 128,
              'cf.npy', 'cf.npy', '-o', 'c4.npy')
    check('an input from a pipe', p.returncode == 0 and
          raw(r.path('c3.npy')) == raw(r.path('c4.npy')),
          f'exit {p.returncode}: {p.stderr.decode().strip()}')

    # A header longer than the 4 KiB read first (version 2.0 allows it).
    payload = struct.pack(f'<{len(fx)}f', *fx)
    long_hdr = npy_bytes('<f4', (1024, 128), payload, version=2)
    pre = long_hdr[:12]
    hdr = long_hdr[12:len(long_hdr) - len(payload)]
    hdr = hdr[:-1] + b' ' * 8192 + b'\n'
    with open(r.path('long.npy'), 'wb') as f:
        f.write(pre[:8] + struct.pack('<I', len(hdr)) + hdr + payload)
    expect_ok('a 8 KiB header', r, 'add_sin_f32', '--grid', 128, 'long.npy',
              'cf.npy', '-o', 'c5.npy')
    check('a 8 KiB header: the same result',
          raw(r.path('c5.npy')) == raw(r.path('c4.npy')))
    with open(r.path('longtr.npy'), 'wb') as f:
        f.write(pre[:8] + struct.pack('<I', len(hdr)) + hdr[:6000])
    expect_error(r, 'truncated 8 KiB header', 1,
                 r'longtr\.npy: truncated header \(8\d+ bytes announced, '
                 r'6000 present\)', 'add_sin_f32', '--grid', 128,
                 'longtr.npy', 'cf.npy', '-o', 'c6.npy')
    check('truncated header: no output file', not os.path.exists(
        r.path('c6.npy')))

    # An output that cannot be written whole (the file size limit: EFBIG)
    # is removed, not left as a truncated .npy.
    def small_files():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))
    p = subprocess.run([r.vtpu_run, r.module, 'add_sin_f32', '--grid', '128',
                        'cf.npy', 'cf.npy', '-o', 'c7.npy'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT, cwd=r.tmp, preexec_fn=small_files)
    err = p.stderr.decode()
    check('output cut short: exit 1, message, no file', p.returncode == 1 and
          re.search(r'c7\.npy: write error: File too large', err) is not None
          and not os.path.exists(r.path('c7.npy')),
          f'exit {p.returncode}: {err.strip()!r}')


def expect_error(r, name, status, pattern, kernel, *args):
    rc, out, err = r.run(kernel, *args)
    ok = rc == status and re.search(pattern, err) is not None
    check(f'error: {name}', ok, f'exit {rc} (want {status}), stderr: '
          f'{err.strip()!r}, want /{pattern}/')


def test_errors(r):
    shape = (64, 128)
    n = 64 * 128
    zeros = [0.0] * n
    save(r.path('ex.npy'), '<f4', shape, 'f', zeros)
    save(r.path('ey.npy'), '<f4', shape, 'f', zeros)
    with open(r.path('f8.npy'), 'wb') as f:
        f.write(npy_bytes('<f8', shape, bytes(8 * n)))
    with open(r.path('be.npy'), 'wb') as f:
        f.write(npy_bytes('>f4', shape, bytes(4 * n)))
    with open(r.path('fo.npy'), 'wb') as f:
        f.write(npy_bytes('<f4', shape, bytes(4 * n), fortran=True))
    with open(r.path('tr.npy'), 'wb') as f:
        f.write(npy_bytes('<f4', shape, bytes(4 * n - 4)))
    with open(r.path('junk.npy'), 'wb') as f:
        f.write(b'not an npy file at all')
    # '<f4' followed by a NUL and junk: strcmp would take it for '<f4'.
    with open(r.path('nul.npy'), 'wb') as f:
        f.write(npy_bytes('<f4\0junk', shape, bytes(4 * n)))
    with open(r.path('ctl.npy'), 'wb') as f:
        f.write(npy_bytes('<f4\n', shape, bytes(4 * n)))
    save(r.path('i32.npy'), '<i4', shape, 'i', [0] * n)
    save(r.path('r1.npy'), '<f4', (n,), 'f', zeros)

    base = ['--grid', 8]
    expect_error(r, 'unsupported dtype', 1, r"f8\.npy: unsupported dtype "
                 r"'<f8'", 'add_sin_f32', *base, 'f8.npy', 'ey.npy', '-o',
                 'eo.npy')
    expect_error(r, 'big-endian', 1, r'be\.npy: big-endian', 'add_sin_f32',
                 *base, 'be.npy', 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'Fortran order', 1, r'fo\.npy: Fortran-order',
                 'add_sin_f32', *base, 'ex.npy', 'fo.npy', '-o', 'eo.npy')
    expect_error(r, 'truncated file', 1, r'tr\.npy: truncated data',
                 'add_sin_f32', *base, 'ex.npy', 'tr.npy', '-o', 'eo.npy')
    expect_error(r, 'descr with a NUL byte', 1,
                 r"nul\.npy: malformed header: 'descr' contains a NUL byte "
                 r"\(at character 3\)$", 'add_sin_f32', *base, 'nul.npy',
                 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'descr with a control character', 1,
                 r"ctl\.npy: malformed header: 'descr' contains the "
                 r"non-printable byte 0x0a \(at character 3\)$", 'add_sin_f32',
                 *base, 'ctl.npy', 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'not an .npy file', 1, r'junk\.npy: not a NumPy',
                 'add_sin_f32', *base, 'junk.npy', 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'missing file', 1, r'nosuch\.npy: No such file',
                 'add_sin_f32', *base, 'nosuch.npy', 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'dtype of the kernel', 2,
                 r"i32\.npy: operand 1 of 'add_sin_f32' is f32, the file "
                 r"holds i32", 'add_sin_f32', *base, 'ex.npy', 'i32.npy',
                 '-o', 'eo.npy')
    expect_error(r, 'rank of the kernel', 2,
                 r"r1\.npy: operand 0 of 'add_sin_f32' has rank 2, the array "
                 r"\(8192,\) has rank 1", 'add_sin_f32', *base, 'r1.npy',
                 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'grid larger than the arrays', 125,
                 r"block index out of range", 'add_sin_f32', '--grid', 9,
                 'ex.npy', 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'unknown kernel', 2,
                 r"no kernel 'nope' in the module \(it has: [^)]*"
                 r"add_sin_f32, [^)]*matmul_f32", 'nope', *base, 'ex.npy', '-o',
                 'eo.npy')
    expect_error(r, 'too few files', 2,
                 r"kernel 'add_sin_f32' takes 2 input files and 1 -o file, "
                 r"got 1 and 1", 'add_sin_f32', *base, 'ex.npy', '-o',
                 'eo.npy')
    expect_error(r, 'bad --dims', 2, r"--dims: 'sideways' is neither",
                 'add_sin_f32', *base, '--dims', 'sideways', 'ex.npy',
                 'ey.npy', '-o', 'eo.npy')
    expect_error(r, 'missing scalar prefetch', 2,
                 r"launch of 'gather_rows' has 0 scalar-prefetch values",
                 'gather_rows', *base, 'ex.npy', '--out-shape', '64,128',
                 '-o', 'eo.npy')
    expect_error(r, 'unwritable output', 1, r'/nonexistent/o\.npy: ',
                 'add_sin_f32', *base, 'ex.npy', 'ey.npy', '-o',
                 '/nonexistent/o.npy')
    for name, module, pattern in [
            ('missing module', r.path('nosuch.elf'), r'nosuch\.elf'),
            ('module not an ELF', r.path('ex.npy'),
             r'ex\.npy: bad kernel module: ')]:
        p = subprocess.run([r.vtpu_run, module, 'add_sin_f32', '--grid', '8',
                            'ex.npy', 'ey.npy', '-o', 'eo.npy'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, cwd=r.tmp)
        err = p.stderr.decode()
        check(f'error: {name}', p.returncode == 126 and
              re.search(pattern, err) is not None,
              f'exit {p.returncode} (want 126), stderr: {err.strip()!r}')
    check('error: no output left behind by failed runs',
          not os.path.exists(r.path('eo.npy')))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--module', required=True)
    a = ap.parse_args()
    rng = random.Random(0x5eed)
    with tempfile.TemporaryDirectory(prefix='vtpu-run-') as tmp:
        r = Runner(os.path.abspath(a.vtpu_run), os.path.abspath(a.module),
                   tmp)
        p = subprocess.run([r.vtpu_run, '--help'], stdout=subprocess.PIPE,
                           timeout=TIMEOUT)
        h = p.stdout.decode()
        check('--help describes both modes', p.returncode == 0 and
              '--bare PROG.elf' in h and 'MODULE.elf KERNEL' in h and
              '--out-shape' in h)
        test_add_sin(r, rng)
        test_add_mul(r, rng)
        test_matmul(r, rng)
        test_gather(r, rng)
        test_dynamic_grid(r, rng)
        test_declared_shapes(r, rng)
        test_scalar_file(r, rng)
        test_scale_any(r, rng)
        test_accumulate_any(r, rng)
        test_row_scale(r, rng)
        test_copy_paths(r, rng)
        test_errors(r)
    if FAILURES:
        sys.exit(f'FAIL: {len(FAILURES)} check(s): {", ".join(FAILURES)}')
    print('all checks passed')


if __name__ == '__main__':
    main()
