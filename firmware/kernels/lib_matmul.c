/*
 * lib_matmul.c - matmul variants on the MXU (docs/kernels.md, "Kernel
 * library: matmul").
 *
 *   matmul_bf16        x (M, K) bf16, y (K, N) bf16 -> o (M, N) f32
 *   matmul_bf16_bias   x, y, bias (N,) f32 -> o = act(x @ y + bias)
 *   matmul_f32_bias    the same with f32 x, y; scalar 1 (optional): the
 *                      MXU precision, MM_PREC_HIGHEST (default), _HIGH
 *                      (bf16x3) or _DEFAULT (one bf16 pass)
 *   matmul_i8          x (M, K) i8, y (K, N) i8 -> o (M, N) i32 (exact)
 *   matmul_i8_bias     x, y, bias (N,) i32 -> o = act(x @ y + bias), i32;
 *                      act is EW_U_NONE or EW_U_RELU (integer max(v, 0))
 *
 * Grid (cdiv(M, BM), cdiv(N, 128), cdiv(K, 128)), semantics (parallel,
 * parallel, arbitrary); BM = 256 (bf16, i8) or 128 (f32).  Any M, N, K:
 * edge blocks arrive zero-padded, so the K edge adds zeros, and only the
 * in-bounds part of o is written.  VMEM moves whole words, so bf16 needs
 * K and N even and i8 needs them multiples of 4.  *_bias: scalar 0 is the
 * activation, an EW_U_* code of ew_unary_f32 (EW_U_NONE, EW_U_RELU,
 * EW_U_GELU, EW_U_TANH, EW_U_SIGMOID, ...), applied once, after the last
 * K block.
 *
 * A step stages the (128, 128) y block in MXU 0 (weights stationary) and
 * streams the x block through it one vreg at a time (16 rows of bf16, 32
 * of i8, 8 of f32); each product is added to the o block in VMEM, which
 * stays there while k runs.
 */
#include <vtpu/kernel.h>

#include "lib_ops.h"

enum { DT_F32, DT_BF16, DT_I8 };

VTPU_INDEX_MAP(mm_x, g, s, b) /* (i, k) */
{
    b[0] = g[0];
    b[1] = g[2];
}

VTPU_INDEX_MAP(mm_y, g, s, b) /* (k, j) */
{
    b[0] = g[2];
    b[1] = g[1];
}

VTPU_INDEX_MAP(mm_o, g, s, b) /* (i, j) */
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_INDEX_MAP(mm_bias, g, s, b) /* (j) */
{
    b[0] = g[1];
}

/* o[q] += product of LHS vreg v2 (R rows) popped from accumulators. */
#define ADD_ACC(acc, orow)                                                     \
    do {                                                                       \
        MXU_POP(3, acc, 0);                                                    \
        VLD(4, orow);                                                          \
        if (dt == DT_I8)                                                       \
            VADD_I32(4, 4, 3);                                                 \
        else                                                                   \
            VADD_F32(4, 4, 3);                                                 \
        VST(4, orow);                                                          \
    } while (0)

static void matmul(const vtpu_kctx *k, int dt, uint32_t bm, int bias)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    uint32_t o = vtpu_ref(k, bias ? 3 : 2);
    uint32_t kk = (uint32_t)vtpu_program_id(k, 2);
    uint32_t ovregs = bm / 8; /* (bm, 128) f32/i32 */
    uint32_t prec = dt == DT_F32 && bias && k->num_scalars > 1
                        ? (uint32_t)vtpu_scalar(k, 1)
                        : MM_PREC_HIGHEST;
    if (prec >= MM_PREC_COUNT)
        vtpu_fail(k, "matmul_f32_bias: scalar 1 must be an MM_PREC_* "
                     "precision");

    if (kk == 0) {
        VBCAST_I32(0, 0);
        for (uint32_t r = 0; r < ovregs; r++)
            VST(0, o + r * 4096);
    }
    /* y block: 128 rows as 16 f32 / 8 bf16 / 4 i8 vregs */
    MXU_CLR(0);
    uint32_t rows = dt == DT_F32 ? 8 : dt == DT_BF16 ? 16 : 32;
    for (uint32_t r = 0; r < 128 / rows; r++) {
        VLD(1, y + r * 4096);
        if (dt == DT_F32)
            MXU_PUSH_F32(0, 1, 0);
        else if (dt == DT_BF16)
            MXU_PUSH_BF16(0, 1, 0);
        else
            MXU_PUSH_I8(0, 1, 0);
    }
    for (uint32_t q = 0; q < bm / rows; q++) {
        uint32_t orow = o + q * (rows / 8) * 4096;
        VLD(2, x + q * 4096);
        if (dt == DT_F32) {
            if (prec == MM_PREC_HIGH)
                MXU_MATMUL_F32P(HIGH, 0, 2, 0);
            else if (prec == MM_PREC_DEFAULT)
                MXU_MATMUL_F32P(DEFAULT, 0, 2, 0);
            else
                MXU_MATMUL_F32P(HIGHEST, 0, 2, 0);
            ADD_ACC(0, orow);
        } else if (dt == DT_BF16) {
            MXU_MATMUL_BF16(0, 2, 0);
            ADD_ACC(0, orow);
            ADD_ACC(1, orow + 4096);
        } else {
            MXU_MATMUL_I8(0, 2, 0);
            ADD_ACC(0, orow);
            ADD_ACC(1, orow + 4096);
            ADD_ACC(2, orow + 2 * 4096);
            ADD_ACC(3, orow + 3 * 4096);
        }
    }
    if (!bias || kk + 1 < vtpu_num_programs(k, 2))
        return;
    uint32_t act = k->num_scalars ? (uint32_t)vtpu_scalar(k, 0) : EW_U_NONE;
    if (act >= EW_U_COUNT)
        vtpu_fail(k, "matmul bias: scalar 0 must be an EW_U_* activation");
    if (dt == DT_I8) {
        /* Integer epilogue: exact i32 add, optional max(v, 0). */
        if (act != EW_U_NONE && act != EW_U_RELU)
            vtpu_fail(k, "matmul_i8_bias: scalar 0 must be EW_U_NONE or "
                         "EW_U_RELU");
        VLDS(5, vtpu_ref(k, 2), 0); /* bias row in every sublane */
        VBCAST_I32(6, 0);
        for (uint32_t r = 0; r < ovregs; r++) {
            VLD(1, o + r * 4096);
            VADD_I32(1, 1, 5);
            if (act == EW_U_RELU)
                VMAX_I32(1, 1, 6);
            VST(1, o + r * 4096);
        }
        return;
    }
    lib_act_consts();
    VLDS(5, vtpu_ref(k, 2), 0); /* bias row in every sublane */
    for (uint32_t r = 0; r < ovregs; r++) {
        VLD(1, o + r * 4096);
        VADD_F32(1, 1, 5);
        lib_unary_f32(act);
        VST(2, o + r * 4096);
    }
}

VTPU_BODY(matmul_bf16_body, k)
{
    matmul(k, DT_BF16, 256, 0);
}
VTPU_BODY(matmul_bf16_bias_body, k)
{
    matmul(k, DT_BF16, 256, 1);
}
VTPU_BODY(matmul_f32_bias_body, k)
{
    matmul(k, DT_F32, 128, 1);
}
VTPU_BODY(matmul_i8_body, k)
{
    matmul(k, DT_I8, 256, 0);
}
VTPU_BODY(matmul_i8_bias_body, k)
{
    matmul(k, DT_I8, 256, 1);
}

VTPU_KERNEL(matmul_bf16, matmul_bf16_body,
            .operands = {VTPU_IN(VTPU_BF16, mm_x, 256, 128),
                         VTPU_IN(VTPU_BF16, mm_y, 128, 128),
                         VTPU_OUT(VTPU_F32, mm_o, 256, 128)});
VTPU_KERNEL(matmul_bf16_bias, matmul_bf16_bias_body,
            .operands = {VTPU_IN(VTPU_BF16, mm_x, 256, 128),
                         VTPU_IN(VTPU_BF16, mm_y, 128, 128),
                         VTPU_IN(VTPU_F32, mm_bias, 128),
                         VTPU_OUT(VTPU_F32, mm_o, 256, 128)});
VTPU_KERNEL(matmul_f32_bias, matmul_f32_bias_body,
            .operands = {VTPU_IN(VTPU_F32, mm_x, 128, 128),
                         VTPU_IN(VTPU_F32, mm_y, 128, 128),
                         VTPU_IN(VTPU_F32, mm_bias, 128),
                         VTPU_OUT(VTPU_F32, mm_o, 128, 128)});
VTPU_KERNEL(matmul_i8, matmul_i8_body,
            .operands = {VTPU_IN(VTPU_I8, mm_x, 256, 128),
                         VTPU_IN(VTPU_I8, mm_y, 128, 128),
                         VTPU_OUT(VTPU_I32, mm_o, 256, 128)});
VTPU_KERNEL(matmul_i8_bias, matmul_i8_bias_body,
            .operands = {VTPU_IN(VTPU_I8, mm_x, 256, 128),
                         VTPU_IN(VTPU_I8, mm_y, 128, 128),
                         VTPU_IN(VTPU_I32, mm_bias, 128),
                         VTPU_OUT(VTPU_I32, mm_o, 256, 128)});
