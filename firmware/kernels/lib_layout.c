/*
 * lib_layout.c - transpose and cumulative sums (docs/kernels.md, "Kernel
 * library: transpose, cumsum").
 *
 *   transpose_f32  x (R, C) in, o (C, R) out, any 4-byte dtype;
 *                  (128, 128) blocks, grid (cdiv(R, 128), cdiv(C, 128))
 *   cumsum_f32     x (R, C) in, o (R, C) out: o[r, c] = sum x[r, :c+1];
 *   cumsum_i32     the same, i32 (wrapping)
 *                  (8, 512) blocks, grid (cdiv(R, 8), cdiv(C, 512)),
 *                  semantics (parallel, arbitrary)
 *
 * transpose is one VXPOSE128 per block.  cumsum scans each 128-lane chunk
 * in 7 rotate-and-add steps (Hillis-Steele) and adds the running total of
 * the row (scratch VMEM, carried across the column blocks of a row), so
 * f32 rounding differs from a sequential sum.
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(xp_x, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_INDEX_MAP(xp_o, g, s, b)
{
    b[0] = g[1];
    b[1] = g[0];
}

/* clang-format off */
#define X16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) \
    M(11) M(12) M(13) M(14) M(15)
/* clang-format on */

VTPU_BODY(transpose_body, k)
{
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1);
#define LOAD(v) VLD(v, x + (v)*4096);
#define STORE(v) VST(16 + (v), o + (v)*4096);
    X16(LOAD)
    VXPOSE128(16, 0);
    X16(STORE)
}

VTPU_KERNEL(transpose_f32, transpose_body,
            .operands = {VTPU_IN(VTPU_DT_ANY, xp_x, 128, 128),
                         VTPU_OPERAND_EX(VTPU_ROLE_OUT, VTPU_MS_VMEM,
                                         VTPU_DT_ANY, xp_o, VTPU_LIKE_NONE,
                                         VTPU_LIKE(0), 128, 128)});

VTPU_INDEX_MAP(cs_map, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

#define CPITCH (512 * 4)

/* v1 = inclusive prefix sums along the lanes of v1 (v10: lane index,
 * v11: zero) */
#define SCAN(ADD)                                                              \
    do {                                                                       \
        for (uint32_t d = 1; d < 128; d <<= 1) {                               \
            VROT_LANES(2, 1, d);                                               \
            VBCAST_I32(12, d);                                                 \
            VCMP_I32(GE, 0, 10, 12);                                           \
            VSEL(2, 0, 2, 11);                                                 \
            ADD(1, 1, 2);                                                      \
        }                                                                      \
    } while (0)

static void cumsum(const vtpu_kctx *k, int f32)
{
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1), carry = k->scratch_vmem;
    if (vtpu_program_id(k, 1) == 0)
        VBCAST_I32(9, 0);
    else
        VLD(9, carry);
    VIOTA(LANE, 10, 0);
    VBCAST_I32(11, 0);
    for (uint32_t c = 0; c < 4; c++) {
        VLDS(1, x + c * 512, CPITCH);
        if (f32) {
            VRED_LANES(SUM_F32, 3, 1);
            SCAN(VADD_F32);
            VADD_F32(1, 1, 9);
            VADD_F32(9, 9, 3);
        } else {
            VRED_LANES(SUM_I32, 3, 1);
            SCAN(VADD_I32);
            VADD_I32(1, 1, 9);
            VADD_I32(9, 9, 3);
        }
        VSTS(1, o + c * 512, CPITCH);
    }
    VST(9, carry);
}

VTPU_BODY(cumsum_f32_body, k)
{
    cumsum(k, 1);
}
VTPU_BODY(cumsum_i32_body, k)
{
    cumsum(k, 0);
}

VTPU_KERNEL(cumsum_f32, cumsum_f32_body,
            .operands = {VTPU_IN(VTPU_F32, cs_map, 8, 512),
                         VTPU_OUT_LIKE(0, VTPU_F32, cs_map, 8, 512)},
            .scratch_vmem = 4096);
VTPU_KERNEL(cumsum_i32, cumsum_i32_body,
            .operands = {VTPU_IN(VTPU_I32, cs_map, 8, 512),
                         VTPU_OUT_LIKE(0, VTPU_I32, cs_map, 8, 512)},
            .scratch_vmem = 4096);
