"""Cases of JAX's tests/pallas/tpu_pallas_interpret_test.py, ported to
vtpu: one test per case, each naming the JAX test it follows ("JAX:
test_..." in its first comment line, the exact name of the JAX test
method; jax-ml/jax at cec06d1, 2026-08-08).  Where the names are the
same, the function is named as the JAX test; where vtpu checks the
opposite (JAX raises, vtpu allows) or a vtpu-only case, it is not.  Where vtpu
behaves differently from interpret mode on purpose, the test checks vtpu's
behaviour and docs/kernels.md ("Pallas interpret mode and vtpu") says why.

Kernels: core_map_shift_f32, matmul_f32, gather_rows_n (kernels.elf),
core_of_point, uninit_dtypes, race_out, revisit_out, oob_index, copy_oob,
edge_add1 and the kernels of firmware/kernels/interptest.c
(selftest.elf)."""
import re
import time

import numpy as np
import pytest

import vtpu


def core_map_reference(x, n):
    """core_map_shift_f32 in NumPy: core c's rows of y are its right
    neighbour's rows of x, + (1 + c) (one f32 rounding, as the kernel)."""
    rows = x.shape[0] // n
    y = np.empty_like(x)
    for c in range(n):
        nb = (c + 1) % n
        y[c * rows:(c + 1) * rows] = \
            x[nb * rows:(nb + 1) * rows] + np.float32(1 + c)
    return y


@pytest.mark.parametrize('cores', [1, 2, 4])
def test_core_map(cores, rng):
    # JAX: test_core_map (num_cores 1, 2, 4; use_context_manager has no
    # vtpu counterpart): a pl.core_map body per core meeting at a
    # semaphore barrier (deadlock unless the cores run in parallel), each
    # core's slice of x through VMEM: here core_map_shift_f32 stages its
    # rows in VMEM_SHARED and takes its neighbour's, vs NumPy.
    x = rng.standard_normal((16 * cores * 4, 128)).astype(np.float32)
    with vtpu.Chip(gen='v4', cores=cores, race=True, poison=True) as c:
        k = c.load(vtpu.find_module('kernels.elf')).core_map_shift_f32
        y = k(x)
        np.testing.assert_array_equal(y, core_map_reference(x, cores))
        st = k.last_stats
        assert (st.num_tcs, st.busy_tcs) == (cores, cores)


@pytest.mark.parametrize('cores', [2, 4])
def test_core_map_without_barrier_is_a_race(cores, rng):
    # JAX: test_core_map with its barrier removed (vtpu's own case; JAX's
    # race between the cores of a core_map is
    # test_allocate_shared_buffer_in_core_map_with_race, ported as
    # test_race_in_run_scoped_hbm_buffer): detect_races=True must find the
    # race on the shared memory, naming both cores.
    x = rng.standard_normal((64, 128)).astype(np.float32)
    with vtpu.Chip(gen='v4', cores=cores, race=True, quiet=True) as c:
        k = c.load(vtpu.find_module('kernels.elf')).core_map_shift_f32
        with pytest.raises(vtpu.KernelError) as e:
            k(x, scalars=[1])
        assert e.value.code == 'data race'
        rep = str(e.value)
        assert 'DATA RACE on VMEM_SHARED' in rep
        tcs = {int(t) for t in re.findall(
            r'(?:by|issued by) TC (\d+)', rep.split('DATA RACE')[1])}
        assert len(tcs) == 2, rep  # both sides of the race, two TCs
        # the same launch with the barrier is clean
        np.testing.assert_array_equal(k(x), core_map_reference(x, cores))


@pytest.mark.parametrize('cores', [1, 2, 4])
def test_core_map_exception_no_hang(cores, rng):
    # JAX: test_core_map_exception_no_hang: a kernel that fails on one core
    # (JAX: an out-of-bounds VMEM read on core 1) must end the call with
    # the error, not leave the other cores waiting at the semaphore for
    # ever.
    x = rng.standard_normal((64, 128)).astype(np.float32)
    with vtpu.Chip(gen='v4', cores=cores, quiet=True) as c:
        k = c.load(vtpu.find_module('kernels.elf')).core_map_shift_f32
        t0 = time.monotonic()
        with pytest.raises(vtpu.KernelError) as e:
            k(x, scalars=[2])
        assert time.monotonic() - t0 < 10
        msg = str(e.value) + k.last_stderr
        assert 'the last core fails on purpose' in msg
        if cores > 1:  # the others are stuck at the barrier: a deadlock
            assert 'deadlock' in str(e.value)
            assert f'TC{cores - 1} exited with code 81' in str(e.value)
        # the chip is usable afterwards
        np.testing.assert_array_equal(k(x), core_map_reference(x, cores))


def test_two_cores_along_parallel_dimension_with_race():
    # JAX: test_two_cores_along_parallel_dimension_with_race: both cores
    # write the one output block.
    x = np.ones((16, 128), np.float32)
    with vtpu.Chip(gen='v4', cores=2, race=True, quiet=True) as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        with pytest.raises(vtpu.KernelError) as e:
            st.race_out(x, grid=2, dims='parallel', out_shape=(8, 128))
        assert e.value.code == 'data race'
        assert 'issued by TC 0' in str(e.value)
        assert 'issued by TC 1' in str(e.value)


def test_two_cores_along_parallel_dimension_no_race(rng):
    # JAX: test_two_cores_along_parallel_dimension_no_race: one block per
    # core, o = x + x.
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    with vtpu.Chip(gen='v4', cores=2, race=True) as c:
        lib = c.load(vtpu.find_module('kernels.elf'))
        ops = __import__('conftest').OPS
        y = lib.ew_binary_f32(x, x, grid=(2, 2), dims='parallel',
                              scalars=[ops['EW_B_ADD']])
        np.testing.assert_array_equal(y, 2 * x)
        assert lib.ew_binary_f32.last_stats.busy_tcs == 2


def expected_cores(n, points=4):
    """vtpu's split of `points` parallel points over n cores: contiguous
    ranges, the first cores take one more (docs/kernels.md)."""
    return [[t for t in range(n)
             if -(-t * points // n) <= p < -(-(t + 1) * points // n)][0]
            for p in range(points)]


@pytest.mark.parametrize('cores', [1, 2, 3, 4, 5, 6])
def test_parallel_dimension_and_multiple_cores(cores):
    # JAX: test_parallel_dimension_and_multiple_cores: grid (4, 4),
    # ('parallel', 'arbitrary'), 1..6 cores: which core runs which point.
    with vtpu.Chip(gen='v4', cores=cores) as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        o = st.core_of_point(grid=(4, 4), dims='p,a',
                             out_shape='i32:32,512')[::8, ::128]
    core, step = o // 1000, o % 1000
    want = expected_cores(cores)
    for i in range(4):
        assert (core[i] == want[i]).all(), (cores, core)
    # each core walks its rows in order, the arbitrary dim innermost
    for t in range(cores):
        pts = sorted((step[i, j], (i, j)) for i in range(4) for j in range(4)
                     if core[i, j] == t)
        assert [p for _, p in pts] == sorted(p for _, p in pts)
        assert [s for s, _ in pts] == list(range(len(pts)))
    if cores == 3:  # interpret mode: ceil(4/3) = 2 points per core: 2, 2, 0
        assert [want.count(t) for t in range(3)] == [2, 1, 1]


def test_randomization_of_parallel_dimensions():
    # JAX: test_randomization_of_parallel_dimensions: with a fixed seed
    # the parallel points come in a shuffled but reproducible order; the
    # arbitrary dimension keeps its order inside each point.
    def order(seed, cores=1):
        with vtpu.Chip(gen='v4', cores=cores) as c:
            st = c.load(vtpu.find_module('selftest.elf'))
            o = st.core_of_point(grid=(4, 4), dims='p,a',
                                 out_shape='i32:32,512',
                                 grid_order=f'shuffle:{seed}')[::8, ::128]
        return o // 1000, o % 1000

    core, step = order(12345)
    assert (core == 0).all()
    rows = [int(step[i, 0]) // 4 for i in range(4)]  # slot of row i
    assert sorted(rows) == [0, 1, 2, 3] and rows != [0, 1, 2, 3]
    for i in range(4):
        assert list(step[i]) == [4 * rows[i] + j for j in range(4)]
    again = order(12345)
    np.testing.assert_array_equal(again[1], step)  # reproducible
    assert not np.array_equal(order(777)[1], step)  # another seed
    # on 2 cores each core shuffles its own rows
    core2, step2 = order(12345, cores=2)
    assert list(core2[:, 0]) == [0, 0, 1, 1]
    assert sorted(step2[:2, 0]) == [0, 4] and sorted(step2[2:, 0]) == [0, 4]


UNINIT_OUT = ['bf16:8,128', 'i16:8,128', 'f32:8,128']


@pytest.mark.parametrize('which,dtype,operand', [
    (0, 'bf16', 0), (1, 'int16', 1), (2, 'f32', 2)])
def test_uninitialized_memory(which, dtype, operand):
    # JAX: test_uninitialized_memory: uninitialised bf16, int16 and f32
    # VMEM copied to the outputs.  Interpret mode fills them with NaN
    # (int16: 32767) and returns that; vtpu with poison=on reports the
    # read where it reaches HBM; without it memory reads as 0 (JAX's
    # 'zero' mode).
    with vtpu.Chip(gen='v4', cores=1, poison=True, quiet=True) as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        with pytest.raises(vtpu.KernelError) as e:
            st.uninit_dtypes(scalars=[which], out_shape=UNINIT_OUT)
        assert e.value.code == 'uninitialised read', dtype
        rep = str(e.value)
        assert 'UNINITIALISED READ of VMEM' in rep
        if which == 2:
            assert f"operand {operand}'s block buffer" in rep
        else:
            assert "the kernel's scratch" in rep
    with vtpu.Chip(gen='v4', cores=1) as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        o1, o2, o3 = st.uninit_dtypes(scalars=[which], out_shape=UNINIT_OUT)
        assert o1.shape == o2.shape == o3.shape == (8, 128)
        for o in (o1, o2, o3):
            assert not np.asarray(o).view(np.uint8).any()


@pytest.mark.parametrize('rows', [13, 16, 1])
def test_buffer_bounds_padded_and_logical(rows, rng):
    # JAX: InterpretParams(buffer_bounds='padded' / 'logical'), as
    # test_out_of_bounds_write_index and test_out_of_bounds_write_range
    # use it on a (10, 128) scratch padded to (16, 128) (vtpu's scratch has
    # no shape, so here on an edge block): reading the padding of a block
    # (past the end of the array) reads what the padded tile holds with
    # 'padded' (vtpu: 0) and is an error with 'logical'.
    x = rng.standard_normal((rows, 128)).astype(np.float32)
    grid = -(-rows // 8)
    ref = x + np.float32(1)
    with vtpu.Chip(gen='v4', cores=1, buffer_bounds='padded') as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        for masked in (0, 1):
            np.testing.assert_array_equal(
                st.edge_add1(x, grid=grid, scalars=[masked]), ref)
    with vtpu.Chip(gen='v4', cores=2, buffer_bounds='logical',
                   quiet=True) as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        # reading only the rows inside the array is fine
        np.testing.assert_array_equal(
            st.edge_add1(x, grid=grid, dims='parallel', scalars=[1]), ref)
        if rows % 8 == 0:  # no padding: whole blocks are fine too
            np.testing.assert_array_equal(
                st.edge_add1(x, grid=grid, dims='parallel', scalars=[0]), ref)
            return
        with pytest.raises(vtpu.KernelError) as e:
            st.edge_add1(x, grid=grid, dims='parallel', scalars=[0])
        pad = rows % 8
        assert e.value.code == 'access leaves its buffer'
        assert e.value.grid_point == (grid - 1,)
        assert 'READ OF BLOCK PADDING' in str(e.value)
        assert f"block buffer 1, elements ({pad}, 0)..({pad}, 127)" \
            in str(e.value) or f"elements ({pad}, 0)" in str(e.value)


def test_buffer_bounds_option():
    # JAX: InterpretParams(buffer_bounds=...) only accepts 'padded' and
    # 'logical' (vtpu's own check of the option)
    with pytest.raises(vtpu.UsageError, match="'padded' or 'logical'"):
        vtpu.Chip(buffer_bounds='loose')


# ---------------------------------------------------------------------
# The remaining cases of the JAX file (issue 17).

def selftest_on(**chip):
    """A chip and its selftest module: `with selftest_on(...) as st`."""
    class _Ctx:
        def __enter__(self):
            self.chip = vtpu.Chip(gen='v4', **chip)
            return self.chip.load(vtpu.find_module('selftest.elf'))

        def __exit__(self, *a):
            self.chip.close()
    return _Ctx()


@pytest.mark.parametrize('cores', [1, 2])
def test_matmul_example(cores, rng):
    # JAX: test_matmul_example: z = x @ y on a 2x2 grid of output blocks.
    # vtpu's matmul_f32 takes (128, 128) blocks and a K axis, so a
    # (256, 256) problem has the 2x2 output grid (and K = 2 blocks).
    x = rng.standard_normal((256, 256)).astype(np.float32)
    y = rng.standard_normal((256, 256)).astype(np.float32)
    with vtpu.Chip(gen='v4', cores=cores) as c:
        k = c.load(vtpu.find_module('kernels.elf')).matmul_f32
        z = k(x, y, grid=(2, 2, 2), dims='p,p,a', out_shape=(256, 256))
    want = x.astype(np.float64) @ y.astype(np.float64)
    np.testing.assert_allclose(z, want, atol=1e-3, rtol=1e-4)


def test_scalar_prefetch_example():
    # JAX: test_scalar_prefetch_example: a (128, 128) block of a (512, 512)
    # int32 array at (128, 256), its block index given by scalar prefetch.
    x = np.arange(512 * 512, dtype=np.int32).reshape(512, 512)
    with selftest_on(cores=1) as st:
        o = st.slice_block(x, scalars=[128 // 128, 256 // 128],
                           out_shape=(128, 128))
        np.testing.assert_array_equal(o, x[128:256, 256:384])
        # every block, on random data
        r = np.random.default_rng(17).integers(-2**31, 2**31 - 1, (512, 512),
                                               dtype=np.int32)
        for bi, bj in [(0, 0), (3, 1), (2, 3)]:
            o = st.slice_block(r, scalars=[bi, bj], out_shape=(128, 128))
            np.testing.assert_array_equal(
                o, r[128 * bi:128 * bi + 128, 128 * bj:128 * bj + 128])


def test_dynamic_grid_and_aliasing(rng):
    # JAX: test_dynamic_grid_and_aliasing: an in/out (aliased) operand,
    # one (32, 128) block, a grid whose extent is a traced value (10..19).
    # vtpu: the extent is scalar 0 (grid=('s0',), VTPU_GRID_SCALAR), the
    # operand VTPU_ROLE_INOUT.  Interpret mode gives x + s whatever the
    # extent (x_ref and o_ref are two buffers, the input read once); vtpu
    # has one buffer for an in/out operand, read once and written back
    # once, so each of the n steps sees the previous one's sum: x + n * s
    # (a deliberate difference, docs/kernels.md).
    iters = int(rng.integers(10, 20))
    x = np.arange(32 * 128, dtype=np.float32).reshape(32, 128)
    with selftest_on(cores=1) as st:
        y = st.inout_add_n(x, grid=('s0',), scalars=[iters, 1])
        st_ = st.inout_add_n.last_stats
        want = x.copy()
        for _ in range(iters):
            want = want + np.float32(1)
        np.testing.assert_array_equal(y, want)
        assert st_.steps == iters
        assert (st_.bytes_in, st_.bytes_out) == (x.nbytes, x.nbytes)
        np.testing.assert_array_equal(x, np.arange(32 * 128).reshape(32, 128))
        # random data, another extent and addend
        r = rng.standard_normal((32, 128)).astype(np.float32)
        y = st.inout_add_n(r, grid=('s0',), scalars=[3, -2])
        np.testing.assert_array_equal(
            y, r + np.float32(-2) + np.float32(-2) + np.float32(-2))


def test_correct_number_of_stores():
    # JAX: test_correct_number_of_stores: (8, 256) blocks (i, 0) over a
    # (2, 2) grid, x += s, s += 1, o = x with s an SMEM counter.  The input
    # block stays in VMEM while j runs, so the body's write to it carries
    # over: o blocks [[1], [5]] as in interpret mode.  Interpret mode counts
    # store callbacks (5); vtpu counts blocks written back to HBM: 2.
    with selftest_on(cores=1) as st:
        o = st.count_store(np.zeros((16, 256), np.float32), grid=(2, 2))
        np.testing.assert_array_equal(o[::8, ::256], [[1.0], [5.0]])
        np.testing.assert_array_equal(o, np.repeat([[1.0], [5.0]], 8, 0)
                                      * np.ones((1, 256), np.float32))
        s = st.count_store.last_stats
        assert s.steps == 4
        assert (s.bytes_in, s.bytes_out) == (16 * 256 * 4, 16 * 256 * 4)


def test_revisiting_is_an_error():
    # JAX: test_revisiting_is_an_error (HBM, ANY input): an output block
    # visited again after it was written back is an error ('Revisited
    # block ... of output 1 in iteration (2, 0)').  revisit_out writes output block
    # g % 2 over grid (4): block 0 comes back at point 2.  Unchecked, the
    # last write wins (block 0 = step 2, block 1 = step 3); with
    # check_revisit=True the launch fails naming the block and points.
    with selftest_on(cores=1, quiet=True) as st:
        kw = dict(grid=4, out_shape='i32:16,128')
        o = st.revisit_out(**kw)
        np.testing.assert_array_equal(o, np.repeat([[2], [3]], 8, 0)
                                      * np.ones((1, 128), np.int32))
        with pytest.raises(vtpu.KernelError) as e:
            st.revisit_out(check_revisit=True, **kw)
        assert re.search(r'output block revisited.*block \(0, 0\) back at '
                         r'grid point \(2\), written back after \(0\)',
                         str(e.value)), str(e.value)
        assert e.value.grid_point == (2,)


@pytest.mark.parametrize('cores', [1, 2])
def test_out_of_bounds_block_spec(cores):
    # JAX: test_out_of_bounds_block_spec (raise, uninitialized): an index
    # map returning a block outside the array.  Interpret mode reads/writes padding there
    # (uninitialised values on read); vtpu refuses the block: the launch
    # fails with 'block index out of range' naming operand, block and grid
    # point (a deliberate difference, docs/kernels.md).  oob_index's
    # output block is g + 1: out of range at the last point.
    with selftest_on(cores=cores, quiet=True) as st:
        with pytest.raises(vtpu.KernelError) as e:
            st.oob_index(grid=2, dims='arbitrary', out_shape='i32:16,128')
        assert e.value.code == 'block index out of range'
        assert e.value.grid_point == (1,)
        assert ('operand 0: index map gave block (2, 0) at grid point (1); '
                'the array has (2, 1) blocks') in str(e.value)


@pytest.mark.parametrize('shape', [(3, 13, 200), (4, 16, 256), (1, 1, 1),
                                   (5, 9, 129)])
@pytest.mark.parametrize('bounds', ['padded', 'logical'])
def test_inputs_and_outputs_not_evenly_divisible_by_block_shape(shape, bounds,
                                                                rng):
    # JAX: test_inputs_and_outputs_not_evenly_divisible_by_block_shape:
    # (2, 512, 256) blocks over (7, 768, 640); here (2, 8, 128) blocks over
    # 3-D
    # arrays whose dimensions are not multiples of the block: edge blocks
    # in every dimension, o = x + 1 against NumPy.  add1_3d loads whole
    # blocks, so 'logical' bounds report the padding read unless the
    # shape divides.
    x = rng.standard_normal(shape).astype(np.float32)
    grid = tuple(-(-n // b) for n, b in zip(shape, (2, 8, 128)))
    divides = all(n % b == 0 for n, b in zip(shape, (2, 8, 128)))
    with selftest_on(cores=2, buffer_bounds=bounds, quiet=True) as st:
        if bounds == 'padded' or divides:
            o = st.add1_3d(x, grid=grid, dims='parallel')
            np.testing.assert_array_equal(o, x + np.float32(1))
        else:
            with pytest.raises(vtpu.KernelError) as e:
                st.add1_3d(x, grid=grid, dims='parallel')
            assert e.value.code == 'access leaves its buffer'
            assert 'READ OF BLOCK PADDING' in str(e.value)


@pytest.mark.parametrize('read,write,rows', [
    (0, 0, 40),     # the whole array
    (3, 10, 20),    # a range inside both
    (39, 0, 1),     # the last row, by index
    (0, 39, 1),
])
def test_any_copy_in_range(read, write, rows, rng):
    # JAX: test_out_of_bounds_read_range, test_out_of_bounds_write_range
    # (HBM, ANY), their in-bounds half: an ANY
    # operand's rows copied by async copy (pl.ds ranges and single
    # indices), against NumPy.
    x = rng.standard_normal((40, 128)).astype(np.float32)
    with selftest_on(cores=1, race=True, poison=True) as st:
        o = st.any_copy_range(x, scalars=[read, write, rows])
    want = np.zeros_like(x)
    want[write:write + rows] = x[read:read + rows]
    np.testing.assert_array_equal(o, want)


@pytest.mark.parametrize('read,write,rows,side,elems', [
    (30, 0, 20, 'vtpu_copy_in: operand 0', '30..50'),   # read by range
    (0, 30, 20, 'vtpu_copy_out: operand 1', '30..50'),  # write by range
    (40, 0, 1, 'vtpu_copy_in: operand 0', '40..41'),    # read by index
    (0, 40, 1, 'vtpu_copy_out: operand 1', '40..41'),   # write by index
])
def test_out_of_bounds_read_write_any(read, write, rows, side, elems):
    # JAX: test_out_of_bounds_read_index, test_out_of_bounds_read_range,
    # test_out_of_bounds_write_index, test_out_of_bounds_write_range (by
    # index and by range, HBM and ANY; JAX's read_index reads an SMEM
    # operand by index, vtpu's scalar loads are not bounds-checked per
    # buffer, so here the index is a copy's row) on HBM (ANY) operands.  Interpret mode reports the out-of-bounds access
    # (or returns uninitialised values); vtpu ends the launch with
    # 'async copy out of range' naming the copy, operand and elements.
    x = np.ones((40, 128), np.float32)
    with selftest_on(cores=1, quiet=True) as st:
        with pytest.raises(vtpu.KernelError) as e:
            st.any_copy_range(x, scalars=[read, write, rows])
        assert e.value.code == 'async copy out of range'
        assert (f'{side}: elements {elems} of dimension 0, which has 40'
                in str(e.value)), str(e.value)
        # and the selftest's copy_oob: a good copy still in flight
        with pytest.raises(vtpu.KernelError, match='async copy out of range'):
            st.copy_oob(np.zeros(16, np.float32), scalars=[100])


@pytest.mark.parametrize('bounds', ['padded', 'logical'])
def test_out_of_bounds_read_write_vmem_block(bounds, rng):
    # JAX: test_out_of_bounds_write_index, test_out_of_bounds_write_range
    # (buffer_bounds logical / padded) on blocked (VMEM) operands, and
    # test_smem_scratch_is_never_padded's VMEM half: reading past an edge block's
    # logical end reads 0 in 'padded' mode and is reported in 'logical'
    # mode; writing into the padding is allowed in both (never written
    # back), writing past the block buffer is reported in both.
    x = rng.standard_normal((13, 128)).astype(np.float32)
    with selftest_on(cores=1, buffer_bounds=bounds, quiet=True) as st:
        np.testing.assert_array_equal(    # stores whole blocks
            st.edge_add1(x, grid=2, scalars=[1]), x + np.float32(1))
        if bounds == 'padded':
            np.testing.assert_array_equal(
                st.edge_add1(x, grid=2, scalars=[0]), x + np.float32(1))
        else:
            with pytest.raises(vtpu.KernelError) as e:
                st.edge_add1(x, grid=2, scalars=[0])
            assert e.value.code == 'access leaves its buffer'
            assert e.value.grid_point == (1,)
            assert 'READ OF BLOCK PADDING' in str(e.value)
        # vst_small stores 8 rows into a (1, 128) block buffer
        with pytest.raises(vtpu.KernelError) as e:
            st.vst_small(np.ones((1, 128), np.float32), grid=1)
        assert e.value.code == 'access leaves its buffer'


@pytest.mark.parametrize('bounds', ['padded', 'logical'])
def test_stray_store_into_emit_pipeline_buffer(bounds):
    # vtpu's own case (interpret mode has none: its nested pipelines'
    # buffers are arrays of their own): a nested pipeline's body stores 8
    # rows into its (1, 128) output block; the bounds check sees the
    # nested pipeline's buffers and names the one the store leaves.
    with selftest_on(cores=1, buffer_bounds=bounds, quiet=True) as st:
        with pytest.raises(vtpu.KernelError) as e:
            st.nested_stray(np.ones((4, 128), np.float32), grid=1)
    assert e.value.code == 'access leaves its buffer'
    assert "leaves emit_pipeline 1's operand 1's block buffer 0 (1,128)" \
        in str(e.value)


@pytest.mark.parametrize('shape', [(16, 256), (13, 200)])
def test_masked_store(shape, rng):
    # JAX: test_masked_store (its in_bounds subtest; pl.store with mask=):
    # o := -1, then x stored only where x > 0 (VST.M), against np.where.
    x = rng.standard_normal(shape).astype(np.float32)
    grid = (-(-shape[0] // 8), -(-shape[1] // 128))
    with selftest_on(cores=2, race=True, poison=True) as st:
        o = st.masked_store(x, grid=grid, dims='parallel')
    np.testing.assert_array_equal(o, np.where(x > 0, x, np.float32(-1)))


@pytest.mark.parametrize('order', ['eager', 'on-wait'])
def test_race_detection(order, rng):
    # JAX: test_race_detection (eager, on_wait): an async copy of an ANY
    # operand into scratch, waited for before the scratch is read (no
    # race, o = x + 1), and read before the wait (a race found under both
    # DMA orders).  vtpu fails the launch with 'data race' naming the
    # read and the DMA (interpret mode sets races_found).
    x = rng.standard_normal((8, 128)).astype(np.float32)
    with selftest_on(cores=1, race=True, dma_order=order, quiet=True) as st:
        o = st.dma_race(x, scalars=[0], out_shape=(8, 128))
        np.testing.assert_array_equal(o, x + np.float32(1))
        with pytest.raises(vtpu.KernelError) as e:
            st.dma_race(x, scalars=[1], out_shape=(8, 128))
        assert e.value.code == 'data race'
        rep = str(e.value)
        assert "DATA RACE on VMEM of TC 0" in rep
        assert "the kernel's scratch" in rep
        assert 'read by TC 0' in rep and 'dma_race_body' in rep
        assert 'previous write by DMA issued by TC 0' in rep
    # without the check the racy read sees the copy done (eager) or not
    # yet (on-wait: the never-written scratch reads 0, o = 1)
    with selftest_on(cores=1, dma_order=order) as st:
        o = st.dma_race(x, scalars=[1], out_shape=(8, 128))
        want = x + np.float32(1) if order == 'eager' else np.ones_like(x)
        np.testing.assert_array_equal(o, want)


def test_race_in_run_scoped_hbm_buffer(rng):
    # JAX: test_allocate_shared_buffer_in_core_map_with_race (and its
    # race-free form test_allocate_shared_buffer_in_core_map): a
    # run-scoped HBM buffer written by two cores.  vtpu has no HBM
    # scratch; an ANY output is the HBM buffer a kernel writes by DMA: hbm_race's two
    # programs (one per TC) copy their rows to rows 0..7 of it (the bug),
    # a race on HBM naming both TCs; the correct version is clean, o = x.
    x = rng.standard_normal((16, 128)).astype(np.float32)
    with selftest_on(cores=2, race=True, quiet=True) as st:
        o = st.hbm_race(x, grid=2, dims='parallel', scalars=[0])
        np.testing.assert_array_equal(o, x)
        with pytest.raises(vtpu.KernelError) as e:
            st.hbm_race(x, grid=2, dims='parallel', scalars=[1])
        assert e.value.code == 'data race'
        rep = str(e.value)
        assert 'DATA RACE on HBM' in rep
        assert "operand 1's array, elements (0, 0)..(7, 127)" in rep
        assert 'issued by TC 0' in rep and 'issued by TC 1' in rep
    with selftest_on(cores=1, race=True) as st:   # one TC: ordered, no race
        o = st.hbm_race(x, grid=2, dims='parallel', scalars=[1])
        np.testing.assert_array_equal(o[:8], x[8:])


def test_dynamic_parallel_dimension(rng):
    # JAX: test_dynamic_parallel_dimension_raises: interpret mode refuses a
    # traced extent for a parallel dimension.  vtpu reads the extent at
    # launch, before splitting the points over the TCs, so it is allowed
    # (a deliberate difference, docs/kernels.md): gather_rows_n with grid
    # (scalar 0, 2), parallel, on 2 TCs, against NumPy.
    n = int(rng.integers(10, 20))
    x = rng.standard_normal((80, 256)).astype(np.float32)
    idx = rng.integers(0, 10, n).astype(np.int32)
    with vtpu.Chip(gen='v4', cores=2, race=True) as c:
        k = c.load(vtpu.find_module('kernels.elf')).gather_rows_n
        o = k(x, grid=('s0', 2), scalars=[n, *idx], dims='parallel',
              out_shape=(8 * n, 256))
        assert k.last_stats.busy_tcs == 2 and k.last_stats.steps == 2 * n
    want = np.concatenate([x[8 * b:8 * b + 8] for b in idx])
    np.testing.assert_array_equal(o, want)


@pytest.mark.parametrize('cores', [1, 2])
def test_dimensions_arbitrary_parallel(cores):
    # JAX: test_dimensions_arbitrary_parallel_raises: interpret mode
    # refuses dimension_semantics ('arbitrary', 'parallel') (a parallel
    # dimension after an arbitrary one).  vtpu allows it (a deliberate
    # difference, docs/kernels.md): only leading parallel dimensions are
    # split over cores, so with none leading every point runs on core 0,
    # in lexicographic order.
    with vtpu.Chip(gen='v4', cores=cores) as c:
        st = c.load(vtpu.find_module('selftest.elf'))
        o = st.core_of_point(grid=(4, 4), dims='a,p',
                             out_shape='i32:32,512')[::8, ::128]
    assert (o // 1000 == 0).all()
    assert (o % 1000 == np.arange(16).reshape(4, 4)).all()


def test_store_to_half_of_hbm_output_buffer(rng):
    # JAX: test_store_to_half_of_hbm_output_buffer (HBM, ANY): x aliased
    # to the output (input_output_aliases={0: 0}), the kernel copies its
    # first half over its second; the first half must stay (the output
    # is the input's buffer, not a fresh zeroed one).  half_copy's one
    # operand is an ANY in/out array.
    x = np.arange(16, dtype=np.int32)
    with selftest_on(cores=1, poison=True) as st:
        y = st.half_copy(x)
        np.testing.assert_array_equal(y, np.concatenate([x[:8], x[:8]]))
        r = rng.integers(-2**31, 2**31 - 1, 2048, dtype=np.int64)
        r = r.astype(np.int32)
        np.testing.assert_array_equal(st.half_copy(r),
                                      np.concatenate([r[:1024], r[:1024]]))


def test_referencing_hbm_raises():
    # JAX: test_referencing_hbm_raises (HBM, ANY): loading from or
    # storing to an HBM/ANY ref directly is refused at trace time.  A TC
    # cannot address HBM at all (only DMA reaches it): vld_hbm's vector
    # load at its ANY operand's HBM offset faults as an access outside
    # VMEM, naming the kernel body and the address.
    with selftest_on(cores=1, quiet=True) as st:
        with pytest.raises(vtpu.KernelError) as e:
            st.vld_hbm(np.zeros((8, 128), np.float32))
    assert e.value.code == 'out-of-bounds access'
    assert 'vld_hbm_body' in str(e.value)
    assert 'is outside VMEM' in str(e.value)
