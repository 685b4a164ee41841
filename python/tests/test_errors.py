"""Failures through the Python package: the exception class, vtpu-run's
message, and the device's report (core, pc, grid point) of a failed
launch."""
import numpy as np
import pytest

import vtpu

X = np.ones((64, 128), np.float32)


def test_dtype_mismatch(lib2):
    with pytest.raises(vtpu.UsageError) as e:
        lib2.add_sin_f32(X, X.astype(np.int32), grid=8)
    assert str(e.value) == ("input 1: operand 1 of 'add_sin_f32' is f32, the "
                            "array holds i32 ('<i4')")
    assert e.value.status == 2


def test_rank_mismatch(lib2):
    with pytest.raises(vtpu.UsageError,
                       match=r"input 0: operand 0 of 'add_sin_f32' has rank 2, "
                             r"the array \(8192,\) has rank 1"):
        lib2.add_sin_f32(X.reshape(-1), X, grid=8)


def test_wrong_number_of_inputs(lib2):
    with pytest.raises(vtpu.UsageError,
                       match=r"kernel 'add_sin_f32' takes 2 input arrays, got 1"):
        lib2.add_sin_f32(X, grid=8)


def test_unknown_kernel_lists_the_module(lib2):
    with pytest.raises(vtpu.UsageError,
                       match=r"kernels.elf: no kernel 'nope' in the module "
                             r"\(it has: .*add_sin_f32, .*nop0"):
        lib2['nope']
    with pytest.raises(AttributeError, match='nope'):
        lib2.nope
    assert 'add_sin_f32' in lib2 and 'nope' not in lib2


def test_output_shape_not_inferable(lib2):
    x, y = np.ones((128, 256), np.float32), np.ones((256, 128), np.float32)
    with pytest.raises(vtpu.UsageError,
                       match=r"output 0: kernel 'matmul_f32' does not declare "
                             r"the shape of output operand 2 \(out f32 blocks "
                             r"\(128, 128\)\); give it with out_shape"):
        lib2.matmul_f32(x, y, grid=(1, 1, 2))
    o = lib2.matmul_f32(x, y, grid=(1, 1, 2),
                        out_shape=vtpu.ShapeDtype((128, 128), np.float32))
    np.testing.assert_array_equal(o, np.full((128, 128), 256, np.float32))


def test_numpy_dtype_without_vtpu_dtype(lib2):
    with pytest.raises(TypeError, match='float64 has no vtpu dtype'):
        lib2.add_sin_f32(X.astype(np.float64), X, grid=8)


def test_too_few_scalars_refused_before_the_launch(lib2):
    with pytest.raises(vtpu.UsageError, match='scalar'):
        lib2.gather_rows(X, grid=(2, 1), out_shape=(16, 128))


def test_bad_grid_options(lib2):
    with pytest.raises(vtpu.UsageError, match="'sideways' is neither"):
        lib2.add_sin_f32(X, X, grid=8, dims='sideways')
    with pytest.raises(vtpu.UsageError, match='2 values for a grid of rank 1'):
        lib2.add_sin_f32(X, X, grid=8, dims=('p', 'p'))
    with pytest.raises(vtpu.UsageError, match='shuffle:SEED'):
        lib2.add_sin_f32(X, X, grid=8, grid_order='backwards')


def test_bad_module(tmp_path):
    bad = tmp_path / 'bad.elf'
    bad.write_bytes(b'\x7fELF' + bytes(60))
    with vtpu.Chip(cores=1) as chip:
        with pytest.raises(vtpu.LoadError, match='bad.elf') as e:
            chip.load(bad)
        assert e.value.status == 126
        with pytest.raises(vtpu.LoadError, match='missing.elf'):
            chip.load(tmp_path / 'missing.elf')


def test_bad_chip_options():
    with pytest.raises(vtpu.UsageError, match='v9'):
        vtpu.Chip(gen='v9')
    with pytest.raises(vtpu.UsageError, match='cores'):
        vtpu.Chip(cores=99)
    with pytest.raises(vtpu.UsageError, match='eager, on-wait, random'):
        vtpu.Chip(dma_order='sometimes')


def test_block_index_out_of_range_report(selftest):
    with pytest.raises(vtpu.KernelError) as e:
        selftest.oob_index(grid=2, out_shape='i32:16,128')
    k = e.value
    assert k.status == 125 and k.kernel == 'oob_index'
    assert k.core == 0 and k.grid_point == (1,)
    assert k.code == 'block index out of range'
    assert k.message.startswith("launch of 'oob_index' failed on TC 0: block "
                                "index out of range (79)")
    # the TC runtime's own line, whole, is part of the report
    assert ('index map gave block (2, 0) at grid point (1); the array has '
            '(2, 1) blocks') in str(k)
    assert k.stats is not None and k.stats.num_tcs == 2


def test_async_copy_out_of_range(selftest):
    with pytest.raises(vtpu.KernelError,
                       match=r'async copy out of range.*elements 100\.\.108 of '
                             r'dimension 0, which has 16') as e:
        selftest.copy_oob(np.zeros(16, np.float32), scalars=[100])
    assert e.value.code == 'async copy out of range'
    assert e.value.core == 0
    np.testing.assert_array_equal(  # the chip is fine afterwards
        selftest.chip.load(vtpu.find_module()).add_sin_f32(
            X, X, grid=8), np.sin(np.float32(4)) * np.ones_like(X))


def test_kernel_failure_message(lib2):
    src = np.zeros((2, 128), np.float32)
    idx = np.zeros((2, 8), np.int32)
    idx[1, 7] = 128
    with pytest.raises(vtpu.KernelError,
                       match=r'take_last: idx\[1, 7\] = 128 is outside '
                             r'\[0, 128\)') as e:
        lib2.take_last_32(src, idx, out_shape=(2, 8))
    assert e.value.code == 'kernel failed' and e.value.core == 0
