"""Cases of JAX's tests/pallas/tpu_pallas_interpret_test.py, ported to
vtpu: one test per case, each naming the JAX test it follows.  Where vtpu
behaves differently from interpret mode on purpose, the test checks vtpu's
behaviour and docs/kernels.md ("Pallas interpret mode and vtpu") says why.

Kernels: core_map_shift_f32 (kernels.elf, firmware/kernels/coremap.c),
core_of_point, uninit_dtypes, race_out (selftest.elf)."""
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
def test_core_map_with_semaphore_barrier(cores, rng):
    # JAX: test_core_map_over_one_core (the version read has the 1-core
    # form; the 2- and 4-core forms with a barrier semaphore follow the
    # brief): a pl.core_map body per core, VMEM_SHARED, semaphore barrier.
    x = rng.standard_normal((16 * cores * 4, 128)).astype(np.float32)
    with vtpu.Chip(gen='v4', cores=cores, race=True, poison=True) as c:
        k = c.load(vtpu.find_module('kernels.elf')).core_map_shift_f32
        y = k(x)
        np.testing.assert_array_equal(y, core_map_reference(x, cores))
        st = k.last_stats
        assert (st.num_tcs, st.busy_tcs) == (cores, cores)


@pytest.mark.parametrize('cores', [2, 4])
def test_core_map_without_barrier_is_a_race(cores, rng):
    # JAX: the core_map test with its barrier removed (vtpu's own case):
    # detect_races=True must find the race on the shared memory, naming
    # both cores.
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
def test_kernel_exception_does_not_hang(cores, rng):
    # JAX: the kernel-exception case (not in the version of the JAX file
    # read, so named by what it checks): a kernel that raises on one core
    # must end the call with the error, not leave the other cores waiting
    # at the barrier for ever.
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
    # Interpret mode's buffer bounds: reading the padding of an edge block
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
    with pytest.raises(vtpu.UsageError, match="'padded' or 'logical'"):
        vtpu.Chip(buffer_bounds='loose')
