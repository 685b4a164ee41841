#!/usr/bin/env python3
"""make-npy.py OUTDIR - the .npy inputs of the vtpu-run example in the
Linux guest (docs/linux.md): x.npy and y.npy, float32 (64, 128), values
from a fixed seed in [-2, 2), written with the standard library only
(the NumPy format: docs/vtpu-run.md).  In the guest:

    vtpu-run /usr/share/vtpu/kernels.elf add_sin_f32 --grid 8 \\
        --dims parallel /usr/share/vtpu/x.npy /usr/share/vtpu/y.npy -o o.npy

computes o = sin((x + y) * 2); tests/system/test_linux_user.py checks it
against the same formula on the host.
"""
import os
import random
import struct
import sys

SHAPE = (64, 128)


def npy(shape, values):
    dims = ', '.join(str(d) for d in shape) + (',' if len(shape) == 1 else '')
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % dims
    hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\n'
    return (b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) +
            hdr.encode() + struct.pack('<%df' % len(values), *values))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20240601)
    n = SHAPE[0] * SHAPE[1]
    for name in ('x', 'y'):
        vals = [rng.uniform(-2.0, 2.0) for _ in range(n)]
        path = os.path.join(out, name + '.npy')
        data = npy(SHAPE, vals)
        old = open(path, 'rb').read() if os.path.exists(path) else None
        if old != data:  # keep the time stamp when nothing changed
            with open(path, 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
