/*
 * row_scale.c - row_scale_acc: o += x * w[:, None], f32.
 *
 * Shows an SMEM operand and an input/output (aliased) operand: w is a
 * vector whose (8,) blocks are DMA'd into SMEM, where the body reads them
 * with ordinary loads; o is read, updated and written back, block by
 * block.  Grid (ceil(rows / 8), ceil(cols / 128)).
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_INDEX_MAP(rows_i, g, s, b)
{
    b[0] = g[0];
}

VTPU_BODY(row_scale_acc_body, k)
{
    const float *w = vtpu_smem_ref(k, 2);

    /* v6 = w[sublane] in every lane of each sublane */
    VIOTA(SUBLANE, 5, 0);
    VBCAST_I32(6, 0);
    for (unsigned r = 0; r < 8; r++) {
        VBCAST_I32(7, r);
        VCMP_I32(EQ, 1, 5, 7);
        VBCAST_F32(8, w[r]);
        VSEL(6, 1, 8, 6);
    }
    VLD(1, vtpu_ref(k, 1));
    VMUL_F32(1, 1, 6);
    VLD(2, vtpu_ref(k, 0));
    VADD_F32(2, 2, 1);
    VST(2, vtpu_ref(k, 0));
}

VTPU_KERNEL(row_scale_acc, row_scale_acc_body,
            .operands = {VTPU_INOUT(VTPU_F32, tile_ij, 8, 128),
                         VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_SMEM_IN(VTPU_F32, rows_i, 8)});
