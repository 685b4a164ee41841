/*
 * nop.c - empty bodies, to measure what the runtime costs per grid step:
 *   nop0   no operands: the grid walk alone
 *   nop3   the operands of add_sin_f32 (two (8,128) inputs, one output)
 *          with an empty body: the walk plus three block copies per step
 *          (any dtype: the tests also use it to check block shapes)
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(nop_body, k)
{
}

VTPU_KERNEL(nop0, nop_body);

VTPU_KERNEL(nop3, nop_body,
            .operands = {VTPU_IN(VTPU_DT_ANY, tile_ij, 8, 128),
                         VTPU_IN(VTPU_DT_ANY, tile_ij, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_DT_ANY, tile_ij, 8, 128)});
