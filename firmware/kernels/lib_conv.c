/*
 * lib_conv.c - convolution with a halo: element-indexed blocks
 * (pl.Element), docs/kernels.md "Element-indexed dimensions".
 *
 *   conv1d_rows_f32   o[r, c] = sum_{t=0..4} w[t] * x[r + t - 2, c]
 *
 * x, o (R, C) f32; a 5-tap filter along the rows ("same" size, zero
 * padding), w[t] = scalar t as f32 bits.  Grid (cdiv(R, 8), cdiv(C, 128)).
 * Step (i, j) needs x rows 8i - 2 .. 8i + 9: a window of 12 rows whose
 * row dimension is element-indexed, so consecutive windows overlap by 4
 * rows (the halo) and the first and last stick out of the array, where
 * the runtime fills zeros.  Sums run t = 0..4, each product and sum
 * rounded to f32.
 */
#include <string.h>

#include <vtpu/kernel.h>

#define CONV_TAPS 5
#define CONV_HALO 2    /* rows each side */
#define ROW_BYTES 512u /* one (8,128) f32 block row: 128 lanes */

VTPU_INDEX_MAP(conv_x_window, g, s, b)
{
    b[0] = 8 * g[0] - CONV_HALO; /* an element offset: row 8i - 2 */
    b[1] = g[1];                 /* a block index */
}

VTPU_INDEX_MAP(conv_o_block, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(conv1d_rows_body, k)
{
    uint32_t x = vtpu_ref(k, 0);
    VBCAST_F32(3, 0.0f);
    for (unsigned t = 0; t < CONV_TAPS; t++) {
        float w;
        memcpy(&w, &k->scalars[t], sizeof(w));
        VLD(1, x + t * ROW_BYTES); /* window rows t .. t + 7 */
        VBCAST_F32(2, w);
        VMUL_F32(1, 1, 2);
        VADD_F32(3, 3, 1);
    }
    VST(3, vtpu_ref(k, 1));
}

VTPU_KERNEL(conv1d_rows_f32, conv1d_rows_body,
            .operands = {VTPU_IN(VTPU_F32, conv_x_window,
                                 VTPU_ELEMENT(8 + 2 * CONV_HALO), 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, conv_o_block, 8, 128)},
            .num_scalars = CONV_TAPS);

/* The same with x three buffers deep and o's rows element-indexed too
 * (offset 8i, no overlap): the deep pipeline over windows that start
 * before the array, and a clipped element-indexed write-back. */
VTPU_INDEX_MAP(conv_o_rows, g, s, b)
{
    b[0] = 8 * g[0];
    b[1] = g[1];
}

VTPU_KERNEL(conv1d_rows_f32_buf3, conv1d_rows_body,
            .operands = {VTPU_IN_BUF(3, VTPU_F32, conv_x_window,
                                     VTPU_ELEMENT(8 + 2 * CONV_HALO), 128),
                         VTPU_OPERAND_BUF(VTPU_ROLE_OUT, VTPU_MS_VMEM, VTPU_F32,
                                          conv_o_rows, VTPU_LIKE(0), 0, 2,
                                          VTPU_ELEMENT(8), 128)},
            .num_scalars = CONV_TAPS);

/*
 * pl.Element(n, padding=(lo, hi)): the same 5-tap filter with the array
 * padded virtually by 2 rows before (the halo) and 9 after (the halo and
 * room for the last, ragged row block: its window starts at padded row
 * 8 * (cdiv(R, 8) - 1) <= R - 1 + 2 and ends by R + 11), so the index map
 * returns offsets into the padded array, 8i, as Pallas' would.
 */
VTPU_INDEX_MAP(conv_x_padded, g, s, b)
{
    b[0] = 8 * g[0]; /* padded row 8i = array row 8i - 2 */
    b[1] = g[1];
}

VTPU_KERNEL_EXT(conv1d_rows_pad_ext, VTPU_PAD(0, 0, CONV_HALO, CONV_HALO + 7));

VTPU_KERNEL(conv1d_rows_f32_pad, conv1d_rows_body,
            .operands = {VTPU_IN(VTPU_F32, conv_x_padded,
                                 VTPU_ELEMENT(8 + 2 * CONV_HALO), 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, conv_o_block, 8, 128)},
            .num_scalars = CONV_TAPS, .ext = VTPU_EXT(conv1d_rows_pad_ext));

/*
 * conv2d_3x3_f32: o[r, c] = sum_{a,b=0..2} w[3a + b] * x[r + a - 1, c + b - 1]
 * ("same" size, zero padding), w = scalars 0..8 as f32 bits, sums in
 * order (a, b) = (0, 0), (0, 1), ..., each product and sum rounded to f32.
 * Both dimensions of x are element-indexed with padding: a window of
 * (8 + 2, 128 + 2) elements at padded offset (8i, 128j), i.e. array rows
 * 8i - 1 .. 8i + 8 and columns 128j - 1 .. 128j + 128; padding (1, 8) and
 * (1, 128) (the halo, and room for a ragged last block).  The shifted
 * (8,128) operands are sublane-strided loads from the window at column
 * offsets 0, 1, 2 words.
 */
#define C2_ROWS (8 + 2)
#define C2_COLS (128 + 2)

VTPU_INDEX_MAP(conv2d_x_window, g, s, b)
{
    b[0] = 8 * g[0];
    b[1] = 128 * g[1];
}

VTPU_BODY(conv2d_3x3_body, k)
{
    uint32_t x = vtpu_ref(k, 0), rs = k->op[0].stride[0];
    VBCAST_F32(3, 0.0f);
    for (unsigned a = 0; a < 3; a++)
        for (unsigned c = 0; c < 3; c++) {
            float w;
            memcpy(&w, &k->scalars[3 * a + c], sizeof(w));
            VLDS(1, x + a * rs + c * 4, rs);
            VBCAST_F32(2, w);
            VMUL_F32(1, 1, 2);
            VADD_F32(3, 3, 1);
        }
    VST(3, vtpu_ref(k, 1));
}

VTPU_KERNEL_EXT(conv2d_3x3_ext, VTPU_PAD(0, 0, 1, 8), VTPU_PAD(0, 1, 1, 128));

VTPU_KERNEL(conv2d_3x3_f32, conv2d_3x3_body,
            .operands = {VTPU_IN(VTPU_F32, conv2d_x_window,
                                 VTPU_ELEMENT(C2_ROWS), VTPU_ELEMENT(C2_COLS)),
                         VTPU_OUT_LIKE(0, VTPU_F32, conv_o_block, 8, 128)},
            .num_scalars = 9, .ext = VTPU_EXT(conv2d_3x3_ext));

/*
 * conv1d_rows_f32_nested: conv1d_rows_f32_pad run by a nested pipeline
 * (vtpu_emit_pipeline) over ANY x and o, the padding given by the
 * pipeline's own extension record (vtpu_pipeline.ext): the same windows,
 * offsets and result.  One outer step; nested grid (cdiv(R, 8),
 * cdiv(C, 128)).
 */
VTPU_BODY(conv1d_rows_nested_body, k)
{
    const vtpu_operand_info *x = &k->op[0];
    vtpu_pipeline p = {
        .grid_rank = 2,
        .num_operands = 2,
        .grid = {(x->shape[0] + 7) / 8, (x->shape[1] + 127) / 128},
        .body = conv1d_rows_body,
        .src = {0, 1},
        .ext = &conv1d_rows_pad_ext,
    };
    p.operands[0] = (vtpu_operand_spec)VTPU_IN(
        VTPU_F32, conv_x_padded, VTPU_ELEMENT(8 + 2 * CONV_HALO), 128);
    p.operands[1] = (vtpu_operand_spec)VTPU_OUT(VTPU_F32, conv_o_block, 8, 128);
    vtpu_emit_pipeline(k, &p);
}

VTPU_KERNEL(conv1d_rows_f32_nested, conv1d_rows_nested_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .num_scalars = CONV_TAPS);
