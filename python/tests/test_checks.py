"""The chip's checks through the Python package: races, uninitialised
reads, DMA order, grid order, revisits, the trace; and the package's own
behaviour (output capture, chips, threads, vtpu.run)."""
import json
import threading

import numpy as np
import pytest

import vtpu

X = np.arange(64 * 128, dtype=np.float32).reshape(64, 128)


@pytest.fixture(scope='module')
def checked():
    """A chip with race detection and poisoning on."""
    with vtpu.Chip(gen='v4', cores=2, race=True, poison=True,
                   quiet=True) as c:
        yield c


def test_race_report(checked, selftest):
    st = checked.load(vtpu.find_module('selftest.elf'))
    with pytest.raises(vtpu.KernelError) as e:
        st.race_out(X, grid=8, dims='parallel', out_shape=(8, 128))
    k = e.value
    assert k.code == 'data race'
    # Which TC's write-back comes second depends on the threads: TC 0 runs
    # points 0..3, TC 1 points 4..7, each writes block 0.
    assert k.core in (0, 1) and k.pc is not None and k.pc > 0x100000
    assert k.grid_point[0] in range(4 * k.core, 4 * k.core + 4)
    assert 'DATA RACE on HBM' in str(k) and 'previous write by DMA' in str(k)
    assert f'issued by TC {1 - k.core}' in str(k)  # the other access
    # without the check the same launch runs (and is wrong)
    o = selftest.race_out(X, grid=8, dims='parallel', out_shape=(8, 128))
    assert o.shape == (8, 128)


def test_uninitialised_read_report(checked, selftest):
    st = checked.load(vtpu.find_module('selftest.elf'))
    with pytest.raises(vtpu.KernelError) as e:
        st.uninit_read(grid=2, out_shape=(16, 128))
    k = e.value
    assert k.code == 'uninitialised read' and k.core == 0
    assert k.grid_point == (0,)
    assert 'UNINITIALISED READ of VMEM' in str(k)
    selftest.uninit_read(grid=2, out_shape=(16, 128))  # unchecked: runs


def test_library_clean_under_race_and_poison(checked):
    lib = checked.load(vtpu.find_module())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 260)).astype(np.float32)
    o = lib.ew_unary_f32(x, grid=(10, 1), dims='parallel', scalars=[0])
    np.testing.assert_array_equal(o, x)
    y = rng.standard_normal((260, 200)).astype(np.float32)
    o = lib.matmul_f32(x, y, grid=(3, 2, 3), dims='p,p,a',
                       out_shape=(300, 200))
    np.testing.assert_allclose(o, x.astype(np.float64) @ y, atol=1e-3)


@pytest.mark.parametrize('order', ['on-wait', 'random:7', 'random:8'])
def test_dma_orders_same_results(order):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 300)).astype(np.float32)
    keys = rng.standard_normal((4, 1000)).astype(np.float32)
    res = []
    for o in ('eager', order):
        with vtpu.Chip(gen='v4', cores=2, dma_order=o) as c:
            lib = c.load(vtpu.find_module())
            res.append((lib.softmax_f32(x, grid=25, dims='parallel'),
                        lib.sort_f32(keys, grid=2, dims='parallel',
                                     out_shape=[keys.shape, keys.shape])))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1][0], res[1][1][0])
    np.testing.assert_array_equal(res[0][1][1], res[1][1][1])


def test_grid_order_shuffle(selftest):
    def order(**kw):
        o = selftest.walk_order(grid=8, dims='parallel', num_tcs=1,
                                out_shape='i32:64,128', **kw)
        return list(o[::8, 0])
    assert order() == list(range(8))
    a, b, c = (order(grid_order=f'shuffle:{s}') for s in (3, 3, 4))
    assert a == b and sorted(a) == list(range(8)) and a != list(range(8))
    assert c != a


def test_check_revisit(selftest):
    kw = dict(grid=4, out_shape='i32:16,128', num_tcs=1)
    selftest.revisit_out(**kw)  # unseen without the check
    with pytest.raises(vtpu.KernelError,
                       match=r'output block revisited.*block \(0, 0\) back at '
                             r'grid point \(2\), written back after \(0\)'):
        selftest.revisit_out(check_revisit=True, **kw)


def test_trace_file(tmp_path):
    t = tmp_path / 'trace.json'
    with vtpu.Chip(gen='v4', cores=2, trace=t) as c:
        c.load(vtpu.find_module()).add_sin_f32(X, X, grid=8, dims='parallel')
    ev = json.loads(t.read_text())['traceEvents']
    assert len(ev) > 8
    t2 = tmp_path / 'run.json'
    vtpu.run('kernels.elf', 'add_sin_f32', X, X, grid=8, trace=t2)
    assert json.loads(t2.read_text())['traceEvents']


def test_tagged_output_captured():
    with vtpu.Chip(gen='v4', cores=2, tag_output=True, quiet=True) as c:
        k = c.load(vtpu.find_module('selftest.elf')).print_point
        k(grid=4, dims='parallel', out_shape='i32:32,128')
    assert sorted(k.last_output.splitlines()) == [  # TCs interleave
        '[TC 0 (0)] step 0', '[TC 0 (1)] step 1',
        '[TC 1 (2)] step 0', '[TC 1 (3)] step 1']


def test_stats_and_generations():
    for gen, tcs in (('v5e', 1), ('v5p', 2), ('v6e', 1)):
        with vtpu.Chip(gen=gen) as c:
            assert c.num_tcs == tcs
            k = c.load(vtpu.find_module()).add_sin_f32
            k(X, X, grid=8, dims='parallel')
            s = k.last_stats
            assert (s.num_tcs, s.busy_tcs, s.steps) == (tcs, tcs, 8)
            assert s.bytes_in == 2 * X.nbytes and s.bytes_out == X.nbytes


def test_threads_share_a_chip(lib2):
    errors = []

    def work(i):
        try:
            x = np.full((64, 128), i, np.int32)
            for _ in range(5):
                o = lib2.add_mul_i32(x, x, grid=(8, 1))
                assert (o == 4 * i).all()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_closed_chip():
    c = vtpu.Chip(cores=1)
    k = c.load(vtpu.find_module()).nop0
    k()
    c.close()
    c.close()
    with pytest.raises(vtpu.VtpuError, match='closed'):
        k()


def test_run_convenience():
    o = vtpu.run('kernels.elf', 'add_mul_i32', np.full((8, 128), 3, np.int32),
                 np.full((8, 128), 4, np.int32), cores=2)
    assert (o == 14).all()
