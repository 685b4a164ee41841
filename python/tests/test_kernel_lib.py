"""The kernel library (firmware/kernels, docs/kernels.md) on random data
against NumPy references, on 1 and 2 TCs, at shapes that do and do not
divide into blocks."""
import numpy as np
import pytest

from conftest import OPS, bf16_to_f32, cdiv, f32_to_bf16


def rand(rng, shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


@pytest.mark.parametrize('shape', [(4096, 128), (64, 256), (13, 200)])
def test_add_sin_f32(lib, rng, shape):
    x, y = rand(rng, shape), rand(rng, shape)
    grid = (cdiv(shape[0], 8), cdiv(shape[1], 128))
    o = lib.add_sin_f32(x, y, grid=grid, dims='parallel,parallel')
    want = np.sin((x.astype(np.float64) + y) * 2)
    np.testing.assert_allclose(o, want, rtol=1e-6, atol=1e-6)
    st = lib.add_sin_f32.last_stats
    assert st.steps == grid[0] * grid[1]
    assert sum(st.tc_steps) == st.steps


def test_add_mul_i32_wraps(lib, rng):
    x = rng.integers(-2**31, 2**31, (20, 300), dtype=np.int32)
    y = rng.integers(-2**31, 2**31, (20, 300), dtype=np.int32)
    o = lib.add_mul_i32(x, y, grid=(3, 3))
    np.testing.assert_array_equal(o, (x + y) * np.int32(2))


def test_matmul_f32(lib, rng):
    x, y = rand(rng, (200, 300)), rand(rng, (300, 130))
    o = lib.matmul_f32(x, y, grid=(2, 2, 3), dims=('p', 'p', 'a'),
                       out_shape=(200, 130))
    want = x.astype(np.float64) @ y
    assert np.abs(o - want).max() <= 1e-6 * (np.abs(x) @ np.abs(y)).max()


def test_gather_rows_scalar_prefetch(lib, rng):
    x = rand(rng, (64, 256))
    idx = [7, 0, 3, 3, 5]
    o = lib.gather_rows(x, grid=(len(idx), 2), scalars=idx,
                        out_shape=(8 * len(idx), 256))
    want = np.concatenate([x[8 * i:8 * i + 8] for i in idx])
    np.testing.assert_array_equal(o, want)


def test_scale_any(lib, rng, chip):
    x = rand(rng, (100, 128))
    o = lib.scale_any(x, grid=chip.num_tcs, dims='parallel')
    np.testing.assert_array_equal(o, x * 2 + 1)


def test_row_scale_acc_inout(lib, rng):
    o0, x, w = rand(rng, (24, 256)), rand(rng, (24, 256)), rand(rng, (24,))
    keep = o0.copy()
    o = lib.row_scale_acc(o0, x, w, grid=(3, 2))
    np.testing.assert_allclose(o, o0 + x * w[:, None], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(o0, keep)  # the argument is left alone


UNARY = {
    'EW_U_NONE': lambda x: x, 'EW_U_ABS': np.abs, 'EW_U_NEG': np.negative,
    'EW_U_EXP': np.exp, 'EW_U_TANH': np.tanh,
    'EW_U_SIGMOID': lambda x: 1 / (1 + np.exp(-x)),
    'EW_U_RELU': lambda x: np.maximum(x, 0), 'EW_U_SIN': np.sin,
    'EW_U_COS': np.cos, 'EW_U_FLOOR': np.floor, 'EW_U_CEIL': np.ceil,
    'EW_U_SQUARE': np.square,
    'EW_U_GELU': lambda x: 0.5 * x * (1 + np.tanh(
        np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
}


@pytest.mark.parametrize('op', sorted(UNARY))
def test_ew_unary_f32(lib, rng, op):
    x = rand(rng, (40, 600), -4, 4)
    o = lib.ew_unary_f32(x, grid=(cdiv(40, 32), cdiv(600, 512)),
                         dims='parallel', scalars=[OPS[op]])
    want = UNARY[op](x.astype(np.float64))
    np.testing.assert_allclose(o, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize('op', ['EW_U_LOG', 'EW_U_SQRT', 'EW_U_RSQRT',
                                'EW_U_RECIP'])
def test_ew_unary_f32_positive(lib, rng, op):
    x = rand(rng, (32, 512), 0.1, 100)
    o = lib.ew_unary_f32(x, grid=(1, 1), scalars=[OPS[op]])
    x64 = x.astype(np.float64)
    want = {'EW_U_LOG': np.log, 'EW_U_SQRT': np.sqrt,
            'EW_U_RSQRT': lambda v: 1 / np.sqrt(v),
            'EW_U_RECIP': lambda v: 1 / v}[op](x64)
    np.testing.assert_allclose(o, want, rtol=2e-7)


BINARY = {'EW_B_ADD': np.add, 'EW_B_SUB': np.subtract,
          'EW_B_MUL': np.multiply, 'EW_B_DIV': np.divide,
          'EW_B_MAX': np.maximum, 'EW_B_MIN': np.minimum}


@pytest.mark.parametrize('op', sorted(BINARY))
def test_ew_binary_f32(lib, rng, op):
    x, y = rand(rng, (33, 700)), rand(rng, (33, 700), 0.5, 2)
    o = lib.ew_binary_f32(x, y, grid=(2, 2), dims='parallel',
                          scalars=[OPS[op]])
    np.testing.assert_allclose(o, BINARY[op](x, y), rtol=1e-7)


BINARY_I = {'EW_BI_ADD': np.add, 'EW_BI_SUB': np.subtract,
            'EW_BI_MUL': np.multiply, 'EW_BI_MAX': np.maximum,
            'EW_BI_MIN': np.minimum, 'EW_BI_AND': np.bitwise_and,
            'EW_BI_OR': np.bitwise_or, 'EW_BI_XOR': np.bitwise_xor}


@pytest.mark.parametrize('op', sorted(BINARY_I))
def test_ew_binary_i32(lib, rng, op):
    x = rng.integers(-2**31, 2**31, (40, 520), dtype=np.int32)
    y = rng.integers(-2**31, 2**31, (40, 520), dtype=np.int32)
    o = lib.ew_binary_i32(x, y, grid=(2, 2), dims='parallel',
                          scalars=[OPS[op]])
    np.testing.assert_array_equal(o, BINARY_I[op](x, y))


def test_ew_unary_i32(lib, rng):
    x = rng.integers(-2**31, 2**31, (32, 512), dtype=np.int32)
    for op, f in [('EW_UI_NEG', np.negative), ('EW_UI_NOT', np.invert)]:
        o = lib.ew_unary_i32(x, grid=(1, 1), scalars=[OPS[op]])
        np.testing.assert_array_equal(o, f(x))


def test_casts(lib, rng):
    x = rand(rng, (70, 130), -1000, 1000)
    g = (cdiv(70, 64), cdiv(130, 128))
    s = x.shape  # the outputs' dtype differs from the input's: no inference
    np.testing.assert_array_equal(
        lib.cast_f32_i32(x, grid=g, scalars=[0], out_shape=s),
        np.trunc(x).astype(np.int32))
    np.testing.assert_array_equal(
        lib.cast_f32_i32(x, grid=g, scalars=[1], out_shape=s),
        np.rint(x).astype(np.int32))
    i = rng.integers(-2**24, 2**24, s, dtype=np.int32)
    np.testing.assert_array_equal(lib.cast_i32_f32(i, grid=g, out_shape=s),
                                  i.astype(np.float32))
    b = lib.cast_f32_bf16(x, grid=g, out_shape=s)
    assert b.dtype == np.uint16
    np.testing.assert_array_equal(b, f32_to_bf16(x))
    np.testing.assert_array_equal(lib.cast_bf16_f32(b, grid=g, out_shape=s),
                                  bf16_to_f32(b))


@pytest.mark.parametrize('op', ['RED_SUM', 'RED_MAX', 'RED_MIN'])
def test_reduce_last_and_first(lib, rng, op):
    x = rand(rng, (13, 700), -50, 50)
    f = {'RED_SUM': np.sum, 'RED_MAX': np.max, 'RED_MIN': np.min}[op]
    o = lib.reduce_last_f32(x, grid=(cdiv(13, 8), cdiv(700, 512)),
                            dims='p,a', scalars=[OPS[op]], out_shape=(13, 1))
    np.testing.assert_allclose(o[:, 0], f(x.astype(np.float64), axis=1),
                               rtol=1e-5, atol=1e-4)
    o = lib.reduce_first_f32(x, grid=(cdiv(700, 512), cdiv(13, 64)),
                             dims='p,a', scalars=[OPS[op]], out_shape=(1, 700))
    np.testing.assert_allclose(o[0], f(x.astype(np.float64), axis=0),
                               rtol=1e-5, atol=1e-4)


def test_argmax(lib, rng):
    x = np.floor(rand(rng, (70, 1300), -50, 50))  # ties: the first wins
    x[3, 17] = np.nan
    o = lib.argmax_last_f32(x, grid=(cdiv(70, 8), cdiv(1300, 512)),
                            dims='p,a', out_shape=(70, 1))
    np.testing.assert_array_equal(o[:, 0], np.argmax(x, axis=1))
    o = lib.argmax_first_f32(x, grid=(cdiv(1300, 512), cdiv(70, 64)),
                             dims='p,a', out_shape=(1, 1300))
    np.testing.assert_array_equal(o[0], np.argmax(x, axis=0))


def test_softmax_layernorm_rmsnorm(lib, rng):
    R, C = 20, 300
    x = rand(rng, (R, C), -8, 8)
    g, b = rand(rng, (C,), 0.5, 2), rand(rng, (C,))
    eps = np.float32(1e-5)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        lib.softmax_f32(x, grid=cdiv(R, 8), dims='parallel'),
        e / e.sum(axis=1, keepdims=True), rtol=2e-5, atol=1e-9)
    mean = x64.mean(axis=1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(
        lib.layernorm_f32(x, g, b, grid=cdiv(R, 8), scalars=[eps]),
        (x64 - mean) / np.sqrt(var + eps) * g + b, rtol=2e-5, atol=2e-5)
    ms = (x64 ** 2).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(
        lib.rmsnorm_f32(x, g, grid=cdiv(R, 8), scalars=[eps]),
        x64 / np.sqrt(ms + eps) * g, rtol=2e-5, atol=2e-5)


def test_matmul_bf16_bias_relu(lib, rng):
    M, K, N = 300, 256, 200
    x, y = f32_to_bf16(rand(rng, (M, K))), f32_to_bf16(rand(rng, (K, N)))
    bias = rand(rng, (N,))
    grid = (cdiv(M, 256), cdiv(N, 128), cdiv(K, 128))
    xf, yf = bf16_to_f32(x).astype(np.float64), bf16_to_f32(y)
    o = lib.matmul_bf16(x, y, grid=grid, dims='p,p,a', out_shape=(M, N))
    mag = (np.abs(xf) @ np.abs(yf)).max()
    assert o.dtype == np.float32
    assert np.abs(o - xf @ yf).max() <= 1e-6 * mag
    o = lib.matmul_bf16_bias(x, y, bias, grid=grid, dims='p,p,a',
                             scalars=[OPS['EW_U_RELU']], out_shape=(M, N))
    assert np.abs(o - np.maximum(xf @ yf + bias, 0)).max() <= 1e-6 * mag


def test_matmul_i8_exact(lib, rng):
    M, K, N = 100, 260, 132
    x = rng.integers(-128, 128, (M, K), dtype=np.int8)
    y = rng.integers(-128, 128, (K, N), dtype=np.int8)
    o = lib.matmul_i8(x, y, grid=(1, 2, 3), dims='p,p,a', out_shape=(M, N))
    np.testing.assert_array_equal(o, x.astype(np.int32) @ y.astype(np.int32))


def test_transpose_and_cumsum(lib, rng):
    x = rand(rng, (130, 300))
    o = lib.transpose_f32(x, grid=(2, 3), dims='parallel',
                          out_shape=(300, 130))
    np.testing.assert_array_equal(o, x.T)
    i = rng.integers(-1000, 1000, (13, 1100), dtype=np.int32)
    o = lib.cumsum_i32(i, grid=(2, 3), dims='p,a')
    np.testing.assert_array_equal(o, np.cumsum(i, axis=1))
    o = lib.cumsum_f32(x, grid=(cdiv(130, 8), 1), dims='p,a')
    np.testing.assert_allclose(o, np.cumsum(x.astype(np.float64), axis=1),
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('causal', [0, 1])
def test_flash_attention(lib, rng, causal):
    H, S, D = 2, 200, 64
    q, k, v = (rand(rng, (H, S, D)) for _ in range(3))
    o = lib.flash_attn_f32(q, k, v, grid=(H, cdiv(S, 128), cdiv(S, 128)),
                           dims='p,p,a', scalars=[causal])
    s = np.einsum('hqd,hkd->hqk', q.astype(np.float64), k) / np.sqrt(D)
    if causal:
        s = np.where(np.tril(np.ones((S, S), bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    want = (p / p.sum(axis=-1, keepdims=True)) @ v
    np.testing.assert_allclose(o, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('shape', [(16, 128), (3, 1000), (4096,)])
def test_sort_f32_stable_argsort(lib, rng, chip, shape):
    # many equal keys, no zeros (vtpu orders -0.0 before +0.0)
    keys = np.round(rand(rng, shape, -20, 20)) + np.float32(0.5)
    keys.flat[5] = np.nan
    s, idx = lib.sort_f32(keys, grid=chip.num_tcs, dims='parallel',
                          out_shape=[shape, shape])
    want = np.argsort(keys, axis=-1, kind='stable')
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(s, np.take_along_axis(keys, want, -1))


def test_topk_and_take(lib, rng, chip):
    keys = rng.permutation(5 * 1000).reshape(5, 1000).astype(np.int32)
    vals, idx = lib.topk_i32(keys, grid=chip.num_tcs, dims='parallel',
                             out_shape=[(5, 17), (5, 17)])
    want = np.argsort(-keys, axis=-1, kind='stable')[:, :17]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(vals, np.take_along_axis(keys, want, -1))
    src = rand(rng, (5, 1000))
    got = lib.take_last_32(src, idx, grid=chip.num_tcs, dims='parallel',
                           out_shape=(5, 17))
    np.testing.assert_array_equal(got, np.take_along_axis(src, want, -1))


@pytest.mark.parametrize('n', [0, 1, 5, 11])
def test_gather_rows_n_dynamic_grid(lib, rng, n):
    # The grid's first extent is scalar 0 (n), known only at launch; the
    # rows past n row blocks are left as they were (o comes zeroed).
    x = rand(rng, (80, 256))
    idx = rng.integers(0, 10, n).astype(np.int32)
    o = lib.gather_rows_n(x, grid=('s0', 2), scalars=[n, *idx],
                          dims='parallel', out_shape=(96, 256))
    want = np.zeros((96, 256), np.float32)
    for i, b in enumerate(idx):
        want[8 * i:8 * i + 8] = x[8 * b:8 * b + 8]
    np.testing.assert_array_equal(o[:8 * n], want[:8 * n])
    assert lib.gather_rows_n.last_stats.steps == 2 * n


def test_outputs_zeroed_in_reused_hbm(lib, rng):
    # Outputs are zeroed by dropping HBM pages (and clearing the partial
    # pages at the ends), not by a FILL: the HBM a launch gets back from the
    # last one, full of its data, must still read as zeros where no grid
    # step writes.
    x = rand(rng, (80, 256)) + 1.0
    full = rng.integers(0, 10, 12).astype(np.int32)
    for n in (12, 1, 12, 0):
        idx = full[:n]
        o = lib.gather_rows_n(x, grid=('s0', 2), scalars=[n, *idx],
                              dims='parallel', out_shape=(104, 256))
        want = np.zeros((104, 256), np.float32)
        for i, b in enumerate(idx):
            want[8 * i:8 * i + 8] = x[8 * b:8 * b + 8]
        np.testing.assert_array_equal(o, want)


def test_gather_rows_n_bad_scalar(lib):
    import vtpu
    x = np.zeros((16, 128), np.float32)
    with pytest.raises(vtpu.VtpuError, match=r"grid dimension 0 is scalar 0 = "
                       r"-1, a negative extent"):
        lib.gather_rows_n(x, grid=('s0', 1), scalars=[-1], out_shape=(8, 128))
    with pytest.raises(vtpu.UsageError, match=r"is neither an extent nor"):
        lib.gather_rows_n(x, grid=('sx', 1), scalars=[1], out_shape=(8, 128))


@pytest.mark.parametrize('kernel', ['add_sin_f32_buf1', 'add_sin_f32_buf3',
                                    'add_sin_f32_buf4'])
@pytest.mark.parametrize('shape', [(64, 256), (13, 200)])
def test_add_sin_f32_buffered(lib, rng, kernel, shape):
    x, y = rand(rng, shape), rand(rng, shape)
    grid = (cdiv(shape[0], 8), cdiv(shape[1], 128))
    o = lib[kernel](x, y, grid=grid, dims='parallel,parallel')
    want = np.sin((x.astype(np.float64) + y) * 2)
    np.testing.assert_allclose(o, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('kernel', ['conv1d_rows_f32', 'conv1d_rows_f32_buf3'])
@pytest.mark.parametrize('shape', [(64, 128), (61, 300), (5, 128)])
def test_conv1d_rows_halo(lib, rng, kernel, shape):
    # element-indexed row windows with a 2-row halo each side, zero padded
    x = rand(rng, shape, -2, 2)
    w = rand(rng, (5,))
    o = lib[kernel](x, grid=(cdiv(shape[0], 8), cdiv(shape[1], 128)),
                    dims='parallel,parallel', scalars=[float(v) for v in w])
    xp = np.pad(x, ((2, 2), (0, 0)))
    want = np.zeros(shape, np.float32)
    for t in range(5):  # the kernel's order: f32 products and sums
        want = want + w[t] * xp[t:t + shape[0]]
    np.testing.assert_array_equal(o, want)


@pytest.mark.parametrize('shape', [(64, 128), (61, 300), (5, 128)])
def test_conv1d_rows_element_padding(lib, rng, shape):
    # pl.Element(12, padding=(2, 9)): the index map returns offsets into
    # the padded array (8i); the padding reads as zeros.  Reference:
    # np.pad by the halo, then the 5 taps as shifted sums in the kernel's
    # order (f32 products and sums).
    x = rand(rng, shape, -2, 2)
    w = rand(rng, (5,))
    o = lib.conv1d_rows_f32_pad(x, grid=(cdiv(shape[0], 8),
                                         cdiv(shape[1], 128)),
                                dims='parallel,parallel',
                                scalars=[float(v) for v in w])
    xp = np.pad(x, ((2, 2), (0, 0)))
    want = np.zeros(shape, np.float32)
    for t in range(5):
        want = want + w[t] * xp[t:t + shape[0]]
    np.testing.assert_array_equal(o, want)


@pytest.mark.parametrize('shape', [(64, 128), (61, 300), (5, 128)])
def test_conv1d_rows_element_padding_nested(lib, rng, shape):
    # the same through vtpu_emit_pipeline, the padding from the nested
    # pipeline's own extension record (vtpu_pipeline.ext)
    x = rand(rng, shape, -2, 2)
    w = rand(rng, (5,))
    o = lib.conv1d_rows_f32_nested(x, grid=1, scalars=[float(v) for v in w])
    xp = np.pad(x, ((2, 2), (0, 0)))
    want = np.zeros(shape, np.float32)
    for t in range(5):
        want = want + w[t] * xp[t:t + shape[0]]
    np.testing.assert_array_equal(o, want)


def correlate2d_same(x, w):
    # 2-D correlation of x zero-padded by 1 ("same" size): the sums in
    # the kernel's order (a, b) = (0, 0), (0, 1), ..., each rounded to f32.
    xp = np.pad(x, 1)
    R, C = x.shape
    acc = np.zeros(x.shape, np.float32)
    for a in range(3):
        for b in range(3):
            acc = acc + w[a, b] * xp[a:a + R, b:b + C]
    return acc


@pytest.mark.parametrize('shape', [(64, 256), (69, 300), (5, 100),
                                   (17, 129), (8, 128)])
def test_conv2d_element_padding(lib, rng, shape):
    # both dimensions element-indexed with padding (pl.Element(10,
    # padding=(1, 8)), pl.Element(130, padding=(1, 128))): windows with a
    # 1-element halo all round, the edge blocks reading the padding
    x = rand(rng, shape, -2, 2)
    w = rand(rng, (3, 3))
    o = lib.conv2d_3x3_f32(x, grid=(cdiv(shape[0], 8), cdiv(shape[1], 128)),
                           dims='parallel,parallel',
                           scalars=[float(v) for v in w.ravel()])
    np.testing.assert_array_equal(o, correlate2d_same(x, w))
    # and against a float64 correlation, independent of the order
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    xp = np.pad(x64, 1)
    ref = sum(w64[a, b] * xp[a:a + shape[0], b:b + shape[1]]
              for a in range(3) for b in range(3))
    np.testing.assert_allclose(o, ref, rtol=1e-5, atol=1e-5)


def test_element_padding_declarations(lib):
    # what a host reads of the kernel's extension record
    # (vtpu_run_padding): per operand and dimension
    ops = lib.conv2d_3x3_f32.operands
    assert ops[0]['element'] == (True, True)
    assert ops[0]['padding'] == ((1, 8), (1, 128))
    assert ops[0]['block'] == (10, 130)
    assert ops[1]['element'] == (False, False)
    assert ops[1]['padding'] == ((0, 0), (0, 0))
    assert lib.conv1d_rows_f32_pad.operands[0]['padding'] == ((2, 9), (0, 0))
    assert lib.conv1d_rows_f32.operands[0]['padding'] == ((0, 0), (0, 0))


def test_element_padding_logical_bounds():
    # buffer bounds 'logical': a load of pl.Element padding is reported
    # like an edge block's padding (Pallas: undefined values)
    import vtpu
    with vtpu.Chip(gen='v4', cores=1, buffer_bounds='logical',
                   quiet=True) as c:
        m = c.load(vtpu.find_module('kernels.elf'))
        with pytest.raises(vtpu.KernelError,
                           match="READ OF BLOCK PADDING.*operand 0's block"):
            m.conv2d_3x3_f32(np.ones((8, 128), np.float32), grid=(1, 1),
                             scalars=[0] * 9)


def test_element_padding_window_outside(lib):
    # a grid one row block too long: the window at padded row 16 would
    # end past the padded array (2 + 9 + 9 rows)
    import vtpu
    x = np.zeros((9, 128), np.float32)
    with pytest.raises(vtpu.KernelError, match=r'offset 16 must be in \[0, '
                       r'8\] so that the 12 elements lie in the padded '
                       r'array of 20'):
        lib.conv1d_rows_f32_pad(x, grid=(3, 1), scalars=[0] * 5)


@pytest.mark.parametrize('shape,blocks', [((64, 256), (8, 2)),
                                          ((69, 300), (3, 2)),
                                          ((69, 300), (9, 3)),
                                          ((16, 128), (0, 1))])
def test_scale_nested_dynamic_grid(lib, rng, shape, blocks):
    # emit_pipeline over ANY operands with its grid from scalar-prefetch
    # values (VTPU_GRID_SCALAR): o (aliased in/out) := 2x + 1 on the first
    # blocks[0] x blocks[1] (8, 128) blocks, clipped to the array; 0 runs
    # no nested grid point
    x = rand(rng, shape, -100, 100)
    o0 = rand(rng, shape, -100, 100)
    o = lib.scale_nested_dyn(x, o0, grid=1, scalars=list(blocks))
    want = o0.copy()
    r, c = 8 * blocks[0], 128 * blocks[1]
    want[:r, :c] = x[:r, :c] * np.float32(2) + np.float32(1)
    np.testing.assert_array_equal(o, want)


@pytest.mark.parametrize('rows', [64, 1000, 5])
def test_scale_nested_pipeline_in_nested_pipeline(lib, rng, rows):
    # an emit_pipeline inside an emit_pipeline body: 64-row chunks (ANY
    # operands passed through), each walked in (8, 128) blocks
    x = rand(rng, (rows, 128), -100, 100)
    o = lib.scale_nested2(x, grid=())
    np.testing.assert_array_equal(o, x * np.float32(2) + np.float32(1))
    assert lib.scale_nested2.last_stats.blocks_in == cdiv(rows, 8)


@pytest.mark.parametrize('rows,programs', [(1000, 3), (5, 4), (64, 1)])
def test_scale_nested_pipeline(lib, rng, rows, programs):
    # each program runs a nested pipeline (vtpu_emit_pipeline) over its rows
    x = rand(rng, (rows, 128), -100, 100)
    o = lib.scale_nested(x, grid=programs, dims='parallel')
    np.testing.assert_array_equal(o, x * np.float32(2) + np.float32(1))
