/*
 * gather.c - gather_rows: scalar prefetch driving an index map (and
 * gather_rows_n, its grid from a scalar; gather_rows_buf3, Buffered(n)).
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

/*
 * gather_rows_n: the same with the number of rows gathered decided at
 * launch (a dynamic grid, Pallas' grid given by scalars): scalar 0 is n,
 * scalars 1..n the row-block indices, and the launch's grid is
 * (VTPU_GRID_SCALAR(0), C/128).  Row blocks n.. of o are not written;
 * n = 0 runs nothing.
 */
VTPU_INDEX_MAP(src_map_n, g, s, b)
{
    b[0] = s[1 + g[0]];
    b[1] = g[1];
}

VTPU_KERNEL(gather_rows_n, gather_body,
            .operands = {VTPU_IN(VTPU_F32, src_map_n, 8, 128),
                         VTPU_OUT(VTPU_F32, dst_map, 8, 128)},
            .num_scalars = 1);

/* gather_rows with three buffers for x (two of its next blocks in flight
 * while the body runs; repeated indices still skip the copy) and one for
 * o (each block written back before the next may use the buffer). */
VTPU_KERNEL(gather_rows_buf3, gather_body,
            .operands = {VTPU_IN_BUF(3, VTPU_F32, src_map, 8, 128),
                         VTPU_OUT_BUF(1, VTPU_F32, dst_map, 8, 128)},
            .num_scalars = 1);
