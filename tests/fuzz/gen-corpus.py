#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/).

    tests/fuzz/gen-corpus.py --build build-fuzz [--out tests/fuzz/corpus]

The committed corpus came from this script (docs/fuzzing.md, "Corpus");
run it again when an input format changes.  It needs the RV32 programs of
a build directory (any: build, build-fuzz) and the cross strip.  Seeds are
named after what they exercise, so rerunning overwrites them in place;
regression inputs from crashes (crash-*) are not touched.

The fuzz_cmd and fuzz_launch encoders below mirror the input formats in
the header comments of fuzz_cmd.c and fuzz_launch.c: change both together.
"""
import argparse
import os
import struct
import subprocess
import tempfile

MAX_SEED = 64 << 10


def stripped(path, strip):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'x')
        subprocess.run([strip, '-o', out, path], check=True)
        with open(out, 'rb') as f:
            return f.read()


def write(out, target, name, data):
    assert len(data) < MAX_SEED, f'{target}/{name}: {len(data)} bytes'
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz_elf: real programs, a tiny hand-made one, a kernel module ----

def tiny_elf(words, entry=0x100000, flags=0):
    """ELF32 RV32 executable: one PT_LOAD of `words` at IMEM, no sections."""
    code = struct.pack(f'<{len(words)}I', *words)
    ehdr = struct.pack('<4sBBBBxxxxxxxxHHIIIIIHHHHHH', b'\x7fELF', 1, 1, 1,
                       0, 2, 243, 1, entry, 52, 0, flags, 52, 32, 1, 40, 0,
                       0)
    phdr = struct.pack('<8I', 1, 84, 0x100000, 0x100000, len(code),
                       len(code), 5, 4)
    return ehdr + phdr + code


def elf_seeds(a, out):
    rv32 = os.path.join(a.build, 'tests', 'rv32')
    for name in ['fault_oob', 'race_clean', 'hello', 'xtpu_sem', 'fp_ops']:
        write(out, 'fuzz_elf', name + '.elf',
              stripped(os.path.join(rv32, name + '.elf'), a.strip))
    # A kernel module small enough for a seed: the runtime's self-tests.
    write(out, 'fuzz_elf', 'selftest.elf',
          stripped(os.path.join(a.build, 'firmware', 'kernels',
                                'selftest.elf'), a.strip))
    # li a0, 0; li a7, 93; ecall
    write(out, 'fuzz_elf', 'tiny.elf',
          tiny_elf([0x00000513, 0x05d00893, 0x00000073]))


# ---- fuzz_npy ----

def npy(descr, shape, payload, version=1, fortran=False, quote="'"):
    dims = ', '.join(str(d) for d in shape) + (',' if len(shape) == 1 else '')
    hdr = ("{%sdescr%s: %s%s%s, %sfortran_order%s: %s, %sshape%s: (%s), }" %
           (quote, quote, quote, descr, quote, quote, quote,
            'True' if fortran else 'False', quote, quote, dims))
    pre = 10 if version == 1 else 12
    hdr += ' ' * ((64 - (pre + len(hdr) + 1) % 64) % 64) + '\n'
    size = struct.pack('<H' if version == 1 else '<I', len(hdr))
    return b'\x93NUMPY' + bytes([version, 0]) + size + hdr.encode() + payload


def npy_seeds(out):
    sizes = {'<f4': 4, '<i4': 4, '<u4': 4, '<u2': 2, '<i2': 2, '|i1': 1,
             '|u1': 1, '<i1': 1, '<u1': 1}
    for descr, sz in sizes.items():
        name = descr.replace('<', 'le-').replace('|', 'na-')
        write(out, 'fuzz_npy', f'{name}.npy',
              npy(descr, (2, 3), bytes(range(6 * sz))))
    write(out, 'fuzz_npy', 'rank1.npy', npy('<f4', (5,), bytes(20)))
    write(out, 'fuzz_npy', 'rank4.npy', npy('<i4', (1, 2, 1, 2), bytes(16)))
    write(out, 'fuzz_npy', 'v2.npy', npy('<f4', (2, 2), bytes(16), version=2))
    write(out, 'fuzz_npy', 'v3.npy', npy('<f4', (1,), bytes(4), version=3))
    write(out, 'fuzz_npy', 'dquote.npy',
          npy('<f4', (1, 1), bytes(4), quote='"'))
    write(out, 'fuzz_npy', 'fortran.npy',
          npy('<f4', (2, 2), bytes(16), fortran=True))
    write(out, 'fuzz_npy', 'big-endian.npy', npy('>f4', (2,), bytes(8)))
    write(out, 'fuzz_npy', 'extra-bytes.npy', npy('|u1', (3,), b'abcdef'))
    # Regression: '<f4' + NUL + junk was once taken for '<f4'.
    write(out, 'fuzz_npy', 'descr-nul.npy', npy('<f4\0junk', (2,), bytes(8)))


# ---- fuzz_launch: [kernel] [mode] { [off u16] [n-1] bytes }... ----

KERNELS = 47  # the module's table size when the seeds were made


def patch(off, data):
    return struct.pack('<HB', off, len(data) - 1) + data


def launch_seeds(out):
    # Every kernel once (one block, 2 TCs): the mode byte is one mutation
    # away; 3 blocks along dim 0 and 1 TC with the checks for a few.
    for k in range(KERNELS):
        write(out, 'fuzz_launch', f'k{k:02d}', bytes([k, 0]))
    for k in [1, 2, 3, 19]:  # add_sin_f32 matmul_f32 gather_rows sort_f32
        write(out, 'fuzz_launch', f'k{k:02d}-grid3', bytes([k, 4]))
        write(out, 'fuzz_launch', f'k{k:02d}-checks', bytes([k, 9]))
    # gather_rows (3) with scalar-prefetch indices 1, 0 (descriptor
    # offset 64: scalars[]), 20 scalars spilled to scalars_hbm
    write(out, 'fuzz_launch', 'gather-scalars',
          bytes([3, 2]) + patch(64, struct.pack('<ii', 1, 0)))
    write(out, 'fuzz_launch', 'grid-rank2',
          bytes([1, 0]) + patch(16, bytes([2])) +
          patch(24, struct.pack('<II', 1, 2)))
    write(out, 'fuzz_launch', 'operand-data',
          bytes([16, 0]) + patch(640, bytes(range(16))))


# ---- fuzz_cmd: front operations, back DMA-time flips ----

OP = dict(REG_WRITE=0, REG_READ=1, RING_SETUP=2, CMD=3, RAW_ENTRY=4,
          DOORBELL=5, RAM_WRITE=6, APERTURE=7, APERTURE_BASE=8, PLACE_ELF=9,
          LOAD_LAUNCH=10, ERR_ACK=11, RESET=12, TC_STATUS=13)
BLOB = dict(race_clean=0, fault_oob=1, hello=2, kernels=3)
RAM_BASE = 0x80000000
CMD = dict(NOP=1, COPY_H2D=2, COPY_D2H=3, COPY_D2D=4, FILL=5, LOAD_PROG=6,
           LAUNCH=7, FENCE=8)


def ring(entries_log2=2, off64=0):
    return bytes([OP['RING_SETUP'], entries_log2 - 1, off64])


def ram_addr(off):  # operand(): selector 0, u16 RAM offset
    return bytes([0]) + struct.pack('<H', off)


def hbm_addr(off):  # selector 1: u16 << 4
    return bytes([1]) + struct.pack('<H', off >> 4)


def small_len(n):  # selector 1 for a length: u8 * 4
    return bytes([1, n // 4])


def raw64(v):
    return bytes([3]) + struct.pack('<Q', v)


def cmd(op, flags=0, arg=0, src=raw64(0), dst=raw64(0), length=raw64(0),
        a0=0, result=True, hold=False):
    fl = flags | (0x40 if hold else 0)
    return (bytes([OP['CMD'], op - 1, fl]) + struct.pack('<I', arg) + src +
            dst + length + struct.pack('<H', a0) +
            (bytes([1]) if result else bytes([0]) + raw64(0)))


def place(blob, hbm_off16=0x100):
    return bytes([OP['PLACE_ELF'], BLOB[blob]]) + struct.pack('<H',
                                                              hbm_off16 << 1)


def load_launch(slot=0, tcs=0, flags=3, a0=0):
    return bytes([OP['LOAD_LAUNCH'], slot, tcs, flags]) + struct.pack('<H', a0)


def flips(*recs):
    """Back of the input: DMA-time flips, first record used first."""
    b = b''
    for after, items in recs:
        rec = bytes([len(items) | (0x80 if after else 0)])
        for where, off, val in items:
            rec += bytes([where]) + struct.pack('<H', off) + bytes([val])
        b += rec
    return b[::-1]


def cmd_seeds(out):
    def w(name, data, back=b''):
        # Zeros between the two streams: DMA callbacks past the planned
        # flips read "no flips" instead of eating the operations' bytes.
        write(out, 'fuzz_cmd', name, data + bytes(32) + back)
    status = bytes([OP['TC_STATUS']])
    for blob in ['race_clean', 'fault_oob', 'hello']:
        w(f'launch-{blob}', ring() + place(blob) + load_launch() + status)
    w('launch-kernels', ring() + place('kernels') + load_launch(a0=0) +
      status)
    w('launch-1tc', ring() + place('hello') + load_launch(tcs=1) + status)
    w('copies', ring(3) +
      cmd(CMD['FILL'], arg=0x5a5a5a5a, dst=hbm_addr(0x1000),
          length=small_len(256)) +
      cmd(CMD['COPY_D2D'], src=hbm_addr(0x1000), dst=hbm_addr(0x2000),
          length=small_len(256)) +
      cmd(CMD['COPY_D2H'], src=hbm_addr(0x2000), dst=ram_addr(0x4000),
          length=small_len(256)) +
      cmd(CMD['COPY_H2D'], src=ram_addr(0x4000), dst=hbm_addr(0x3000),
          length=small_len(256)) +
      cmd(CMD['FENCE'], flags=3, arg=7) +
      bytes([OP['REG_READ'], 0]) + struct.pack('<H', 0x108))
    # H2D of a program from host RAM, then LOAD_PROG/LAUNCH by hand
    w('h2d-program', ring(3) +
      bytes([OP['PLACE_ELF'], BLOB['race_clean']]) +
      struct.pack('<H', 0x4000 << 1 | 1) +
      bytes([OP['PLACE_ELF'], BLOB['race_clean']]) + struct.pack('<H', 0) +
      cmd(CMD['COPY_H2D'], src=ram_addr(0x4000), dst=hbm_addr(0x10000),
          length=bytes([2])) +
      cmd(CMD['LOAD_PROG'], arg=1, src=hbm_addr(0x10000),
          length=bytes([2])) +
      cmd(CMD['LAUNCH'], flags=1, arg=1) + status)
    w('errors', ring() + bytes([OP['RAW_ENTRY']]) + bytes(64) +
      bytes([OP['ERR_ACK'], 3, OP['ERR_ACK'], 1]) +
      cmd(CMD['LAUNCH'], arg=5) + bytes([OP['ERR_ACK'], 2]) +
      cmd(CMD['COPY_H2D'], src=raw64(0x1234), dst=hbm_addr(0),
          length=small_len(64)) +
      bytes([OP['DOORBELL'], 0xff, OP['RESET'], 1]) + ring(1, 3) +
      cmd(CMD['FILL'], dst=hbm_addr(2), length=small_len(4)) +
      bytes([OP['RESET'], 0]))
    w('aperture', bytes([OP['APERTURE_BASE'], 0, 1]) +
      bytes([OP['APERTURE'], 3]) + b'\x10\x00\x00' + b'\x11' * 8 +
      bytes([OP['APERTURE'], 0x80]) + b'\x10\x00\x00' +
      bytes([OP['APERTURE'], 5]) + b'\xff\xff\x00' + b'\x22' +
      bytes([OP['APERTURE_BASE'], 1]) + struct.pack('<Q', 0xfffff000) +
      bytes([OP['APERTURE'], 2]) + b'\x00\x00\x00' + b'\x33' * 4)
    w('registers', bytes([OP['REG_WRITE'], 0]) + struct.pack('<H', 0x40) +
      struct.pack('<I', 0xdeadbeef) +
      bytes([OP['REG_WRITE'], 1]) + struct.pack('<H', 0x50) +
      struct.pack('<Q', RAM_BASE) +
      bytes([OP['REG_WRITE'], 0]) + struct.pack('<H', 0x58) +
      struct.pack('<I', 3) +
      bytes([OP['REG_WRITE'], 0]) + struct.pack('<H', 0x44) +
      struct.pack('<I', 1) +
      bytes([OP['REG_WRITE'], 5]) + struct.pack('<H', 0x41) +
      struct.pack('<I', 1) +
      bytes([OP['REG_WRITE'], 0]) + struct.pack('<H', 0x68) +
      struct.pack('<I', 0xf) +
      bytes([OP['REG_READ'], 1]) + struct.pack('<H', 0x100) +
      bytes([OP['REG_READ'], 0]) + struct.pack('<H', 0x400))
    # The double fetch: flips of the program in HBM (where 2) and of the
    # ring (where 1) while the device reads the ring.
    w('flip-elf', ring() + place('race_clean') + load_launch() + status,
      flips((False, [(2, 0x18, 0x00), (2, 0x2c, 0xff)]),
            (True, [(2, 0x1000, 0x13)]),
            (False, [(1, 64 + 4, 0x20)])))
    w('flip-ring', ring() + cmd(CMD['NOP'], hold=True) +
      cmd(CMD['FENCE'], flags=1, arg=3),
      flips((True, [(1, 0, 0x07), (1, 64, 0x02)]),
            (False, [(3, 0x10, 0x55)])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', required=True)
    ap.add_argument('--out', default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus'))
    ap.add_argument('--strip', default='riscv64-unknown-elf-strip')
    a = ap.parse_args()
    elf_seeds(a, a.out)
    npy_seeds(a.out)
    launch_seeds(a.out)
    cmd_seeds(a.out)


if __name__ == '__main__':
    main()
