"""The worked example of docs/python.md: axpy.c's kernel against NumPy."""
import os

import numpy as np
import pytest

import vtpu

MODULE = os.environ.get('AXPY_ELF', 'axpy.elf')


@pytest.fixture(scope='module', params=[1, 2], ids=['1tc', '2tc'])
def axpy(request):
    with vtpu.Chip(gen='v4', cores=request.param) as chip:
        yield chip.load(MODULE).axpy_f32


@pytest.mark.parametrize('shape', [(64, 128), (100, 300)])
def test_axpy(axpy, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, np.float32)
    y = rng.standard_normal(shape, np.float32)
    grid = (-(-shape[0] // 8), -(-shape[1] // 128))
    o = axpy(x, y, grid=grid, dims='parallel,parallel', scalars=[2.5])
    np.testing.assert_allclose(o, 2.5 * x + y, rtol=1e-6)


def test_axpy_needs_its_scalar(axpy):
    x = np.zeros((8, 128), np.float32)
    with pytest.raises(vtpu.UsageError, match='scalar'):
        axpy(x, x)
