/*
 * gather.c - gather_rows: scalar prefetch driving an index map.
 *
 * o's row block i is x's row block idx[i], where idx is the launch's
 * scalar-prefetch array: o[8i:8i+8, :] = x[8 idx[i]:8 idx[i]+8, :].
 * Grid (G, C/128): block (idx[i], j) of x and (i, j) of o at grid point
 * (i, j).  When idx repeats, the runtime sees the same x block again and
 * skips its copy.
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(src_map, g, s, b)
{
    b[0] = s[g[0]];
    b[1] = g[1];
}

VTPU_INDEX_MAP(dst_map, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(gather_body, k)
{
    VLD(1, vtpu_ref(k, 0));
    VST(1, vtpu_ref(k, 1));
}

VTPU_KERNEL(gather_rows, gather_body,
            .operands = {VTPU_IN(VTPU_F32, src_map, 8, 128),
                         VTPU_OUT(VTPU_F32, dst_map, 8, 128)},
            .num_scalars = 1);
