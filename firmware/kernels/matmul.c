/*
 * matmul.c - matmul_f32: o = x @ y, f32, (128,128) blocks on the MXU.
 *
 * Grid (M/128, N/128, K/128) with semantics (parallel, parallel,
 * arbitrary).  The output block (i, j) stays in VMEM while k runs (its
 * index map ignores k), so it is the accumulator: zeroed at k == 0,
 * written back to HBM once k moves on.  Edge blocks of x and y arrive
 * zero-padded, so a K that is not a multiple of 128 adds only zeros.
 */
#include <vtpu/kernel.h>

#define ROWS_PER_VREG 8
#define ROW_BYTES (128 * 4)
#define VREG_ROWS_BYTES (ROWS_PER_VREG * ROW_BYTES)

VTPU_INDEX_MAP(x_map, g, s, b) /* x block (i, k) */
{
    b[0] = g[0];
    b[1] = g[2];
}

VTPU_INDEX_MAP(y_map, g, s, b) /* y block (k, j) */
{
    b[0] = g[2];
    b[1] = g[1];
}

VTPU_INDEX_MAP(o_map, g, s, b) /* o block (i, j) */
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(matmul_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1), o = vtpu_ref(k, 2);

    if (vtpu_program_id(k, 2) == 0) {
        VBCAST_I32(0, 0);
        for (unsigned r = 0; r < 16; r++)
            VST(0, o + r * VREG_ROWS_BYTES);
    }
    /* Stage the y block (128 rows of K) as the MXU's right-hand side. */
    MXU_CLR(0);
    for (unsigned r = 0; r < 16; r++) {
        VLD(1, y + r * VREG_ROWS_BYTES);
        MXU_PUSH_F32(0, 1, 0);
    }
    /* Eight rows of x at a time: o[rows] += x[rows] @ y. */
    for (unsigned r = 0; r < 16; r++) {
        uint32_t orow = o + r * VREG_ROWS_BYTES;
        VLD(2, x + r * VREG_ROWS_BYTES);
        MXU_MATMUL_F32(0, 2, 0);
        MXU_POP(3, 0, 0);
        VLD(4, orow);
        VADD_F32(4, 4, 3);
        VST(4, orow);
    }
}

VTPU_KERNEL(matmul_f32, matmul_body,
            .operands = {VTPU_IN(VTPU_F32, x_map, 128, 128),
                         VTPU_IN(VTPU_F32, y_map, 128, 128),
                         VTPU_OUT(VTPU_F32, o_map, 128, 128)});

/* The same with x and y three buffers deep and o one: the accumulator
 * stays in its single buffer across k, and is written back (and waited
 * for) before the next (i, j) block starts in it. */
VTPU_KERNEL(matmul_f32_buf3, matmul_body,
            .operands = {VTPU_IN_BUF(3, VTPU_F32, x_map, 128, 128),
                         VTPU_IN_BUF(3, VTPU_F32, y_map, 128, 128),
                         VTPU_OUT_BUF(1, VTPU_F32, o_map, 128, 128)});
