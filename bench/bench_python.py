"""The Python half of bench_python.c: the same launches through the
python/vtpu package, one line per workload: "NAME MEDIAN_US".

Usage: bench_python.py --lib LIBVTPU_RUN_SO --module KERNELS_ELF -n N
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'python'))


def median_us(fn, n):
    for _ in range(n // 10):  # warm-up, as the C side
        fn()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    t.sort()
    return t[n // 2] * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lib', required=True)
    ap.add_argument('--module', required=True)
    ap.add_argument('-n', type=int, default=5000)
    a = ap.parse_args()
    os.environ['VTPU_LIB'] = a.lib
    import numpy as np
    import vtpu

    with vtpu.Chip(gen='v4', cores=2) as chip:
        lib = chip.load(a.module)
        x8 = np.zeros((8, 128), np.float32)
        x64 = np.zeros((64, 128), np.float32)
        work = [
            ('launch_nop0', lambda: lib.nop0()),
            ('launch_nop3_8x128',
             lambda: lib.nop3(x8, x8, grid=1, dims='parallel')),
            ('launch_add_sin_64x128',
             lambda: lib.add_sin_f32(x64, x64, grid=8, dims='parallel')),
        ]
        for name, fn in work:
            print(name, f'{median_us(fn, a.n):.2f}', flush=True)


if __name__ == '__main__':
    main()
