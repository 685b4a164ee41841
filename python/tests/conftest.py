"""Fixtures for the kernel library's tests through the Python package.

The library and modules come from the build directory: meson test passes
VTPU_LIB, VTPU_KERNELS_DIR and PYTHONPATH (python/meson.build); run by
hand, `VTPU_BUILD_DIR=build pytest python/tests` (docs/python.md).
"""
import os
import re
import zlib

import numpy as np
import pytest

import vtpu

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _lib_ops():
    """The op codes of firmware/kernels/lib_ops.h, by name."""
    with open(os.path.join(ROOT, 'firmware', 'kernels', 'lib_ops.h')) as f:
        text = f.read()
    ops = {}
    for body in re.findall(r'enum\s*{([^}]*)}', text):
        names = [n.strip() for n in body.split(',') if n.strip()]
        for i, n in enumerate(names):
            ops[n] = i
    return ops


OPS = _lib_ops()


@pytest.fixture(scope='session', params=[1, 2], ids=['1tc', '2tc'])
def chip(request):
    """A v4 chip with 1 and with 2 TCs: each test using it runs twice."""
    with vtpu.Chip(gen='v4', cores=request.param) as c:
        yield c


@pytest.fixture(scope='session')
def chip2():
    with vtpu.Chip(gen='v4', cores=2) as c:
        yield c


@pytest.fixture(scope='session')
def lib(chip):
    return chip.load(vtpu.find_module('kernels.elf'))


@pytest.fixture(scope='session')
def lib2(chip2):
    return chip2.load(vtpu.find_module('kernels.elf'))


@pytest.fixture(scope='session')
def selftest(chip2):
    return chip2.load(vtpu.find_module('selftest.elf'))


@pytest.fixture
def rng(request):
    """Seeded per test, so a failure reproduces."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def cdiv(a, b):
    return -(-a // b)


def f32_to_bf16(x):
    """Round-to-nearest-even f32 -> bf16 bit patterns (uint16)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)
