/*
 * axpy.c - the worked example of docs/python.md: o = a * x + y over f32
 * arrays of any shape (rows, cols), a the launch's scalar 0 (f32 bits),
 * one (8,128) block per grid point (i, j).  test_axpy.py tests it from
 * Python against NumPy.
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(axpy_body, k)
{
    union {
        int32_t i;
        float f;
    } a = {.i = vtpu_scalar(k, 0)};

    VLD(1, vtpu_ref(k, 0)); /* v1 = x block */
    VLD(2, vtpu_ref(k, 1)); /* v2 = y block */
    VBCAST_F32(3, a.f);
    VMUL_F32(1, 1, 3);
    VADD_F32(1, 1, 2);
    VST(1, vtpu_ref(k, 2)); /* o block */
}

VTPU_KERNEL(axpy_f32, axpy_body,
            .operands = {VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, tile_ij, 8, 128)},
            .num_scalars = 1);
