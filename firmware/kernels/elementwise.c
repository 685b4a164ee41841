/*
 * elementwise.c - the seed workload, one (8,128) block per grid step:
 *   add_sin_f32   o = sin((x + y) * 2)   f32
 *   add_mul_i32   o = (x + y) * 2        i32 (wrapping)
 * The arrays are 2-D (rows, cols); block (i, j) is used at grid point
 * (i, j), so a 1-D grid over (rows, 128) arrays and a 2-D grid over wider
 * ones both work (program ids past the grid's rank are 0).
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(add_sin_f32_body, k)
{
    VLD(1, vtpu_ref(k, 0));
    VLD(2, vtpu_ref(k, 1));
    VADD_F32(3, 1, 2);
    VBCAST_F32(4, 2.0f);
    VMUL_F32(3, 3, 4);
    VSIN(3, 3);
    VST(3, vtpu_ref(k, 2));
}

VTPU_KERNEL(add_sin_f32, add_sin_f32_body,
            .operands = {VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, tile_ij, 8, 128)});

VTPU_BODY(add_mul_i32_body, k)
{
    VLD(1, vtpu_ref(k, 0));
    VLD(2, vtpu_ref(k, 1));
    VADD_I32(3, 1, 2);
    VBCAST_I32(4, 2);
    VMUL_I32(3, 3, 4);
    VST(3, vtpu_ref(k, 2));
}

VTPU_KERNEL(add_mul_i32, add_mul_i32_body,
            .operands = {VTPU_IN(VTPU_I32, tile_ij, 8, 128),
                         VTPU_IN(VTPU_I32, tile_ij, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_I32, tile_ij, 8, 128)});

/*
 * The seed workload with other block-buffer counts (pl.Buffered(n)):
 *   add_sin_f32_buf1  every operand one buffer: no copy overlaps a body
 *   add_sin_f32_buf3  x, y three buffers (two next blocks in flight), o two
 *   add_sin_f32_buf4  x four, y two, o one
 */
VTPU_KERNEL(add_sin_f32_buf1, add_sin_f32_body,
            .operands = {VTPU_IN_BUF(1, VTPU_F32, tile_ij, 8, 128),
                         VTPU_IN_BUF(1, VTPU_F32, tile_ij, 8, 128),
                         VTPU_OPERAND_BUF(VTPU_ROLE_OUT, VTPU_MS_VMEM, VTPU_F32,
                                          tile_ij, VTPU_LIKE(0), 0, 1, 8,
                                          128)});

VTPU_KERNEL(add_sin_f32_buf3, add_sin_f32_body,
            .operands = {VTPU_IN_BUF(3, VTPU_F32, tile_ij, 8, 128),
                         VTPU_IN_BUF(3, VTPU_F32, tile_ij, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, tile_ij, 8, 128)});

VTPU_KERNEL(add_sin_f32_buf4, add_sin_f32_body,
            .operands = {VTPU_IN_BUF(4, VTPU_F32, tile_ij, 8, 128),
                         VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_OPERAND_BUF(VTPU_ROLE_OUT, VTPU_MS_VMEM, VTPU_F32,
                                          tile_ij, VTPU_LIKE(0), 0, 1, 8,
                                          128)});
