/*
 * lib_attention.c - flash attention forward (docs/kernels.md, "Kernel
 * library: flash attention").
 *
 *   flash_attn_f32   q, k, v (H, S, D) f32 in; o (H, S, D) f32 out
 *                    o = softmax(q k^T * scale [+ causal mask]) v per head
 *
 * D <= 128 (the blocks are (1, 128, 128); a smaller D is zero-padded),
 * any S.  Scalars (optional): 0 = causal (0/1), 1 = scale as f32 bits
 * (default 1 / sqrt(D)).  Grid (H, cdiv(S, 128), cdiv(S, 128)) with
 * semantics (parallel, parallel, arbitrary): step (h, i, j) takes query
 * block i against key/value block j with the online softmax (running max
 * m, sum l and the unnormalised output in scratch VMEM, one vreg per 8
 * query rows), and writes o = acc / l after the last j.  Key positions
 * past S and, when causal, after the query are -inf; causal steps with
 * j > i only finish.
 *
 * Per step: k^T (VXPOSE128 of the k block) is staged in MXU 0 and the v
 * block in MXU 1; each group of 8 query rows does s = q k^T in MXU 0 and
 * p v in MXU 1.
 */
#include <vtpu/kernel.h>

#define BQ 128
#define VB 4096

VTPU_INDEX_MAP(fa_q, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
    b[2] = 0;
}

VTPU_INDEX_MAP(fa_kv, g, s, b)
{
    b[0] = g[0];
    b[1] = g[2];
    b[2] = 0;
}

/* clang-format off */
#define X16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) \
    M(11) M(12) M(13) M(14) M(15)
/* clang-format on */

VTPU_BODY(flash_attn_body, k)
{
    uint32_t q = vtpu_ref(k, 0), kb = vtpu_ref(k, 1), vb = vtpu_ref(k, 2);
    uint32_t o = vtpu_ref(k, 3);
    uint32_t mbuf = k->scratch_vmem, lbuf = mbuf + 16 * VB,
             abuf = lbuf + 16 * VB;
    uint32_t i = (uint32_t)vtpu_program_id(k, 1);
    uint32_t j = (uint32_t)vtpu_program_id(k, 2);
    uint32_t nj = vtpu_num_programs(k, 2);
    uint32_t S = k->op[0].shape[1], D = k->op[0].shape[2];
    int causal = k->num_scalars > 0 && vtpu_scalar(k, 0);
    float scale;
    if (k->num_scalars > 1) {
        union {
            int32_t i;
            float f;
        } u = {.i = vtpu_scalar(k, 1)};
        scale = u.f;
    } else {
        VBCAST_F32(1, (float)D);
        VRSQRT(1, 1);
        scale = VEXT_F32(1, 0);
    }
    if (D > 128 || k->op[1].shape[2] != D || k->op[1].shape[1] != S)
        vtpu_fail(k, "flash_attn: q, k, v must be (H, S, D), D <= 128");

    if (j == 0) {
        VBCAST_F32(1, -__builtin_inff());
        VBCAST_F32(2, 0.0f);
        for (uint32_t g = 0; g < 16; g++) {
            VST(1, mbuf + g * VB);
            VST(2, lbuf + g * VB);
            VST(2, abuf + g * VB);
        }
    }
    if (!causal || j <= i) {
        /* k^T -> MXU 0, v -> MXU 1 */
#define KLOAD(r) VLD(r, kb + (r)*VB);
#define KPUSH(r) MXU_PUSH_F32(0, 16 + (r), 0);
        X16(KLOAD)
        VXPOSE128(16, 0);
        MXU_CLR(0);
        X16(KPUSH)
        MXU_CLR(1);
        for (uint32_t r = 0; r < 16; r++) {
            VLD(1, vb + r * VB);
            MXU_PUSH_F32(0, 1, 1);
        }
        VBCAST_F32(20, scale);
        VBCAST_I32(21, S);
        VBCAST_F32(22, -__builtin_inff());
        VIOTA(LANE, 12, j * BQ); /* key positions */
        VCMP_I32(GE, 5, 12, 21); /* m5: keys past S */
        for (uint32_t g = 0; g < 16; g++) {
            VLD(1, q + g * VB);
            MXU_MATMUL_F32(0, 1, 0);
            MXU_POP(2, 0, 0);
            VMUL_F32(2, 2, 20);
            if (causal) {
                VIOTA(SUBLANE, 13, i * BQ + g * 8); /* query positions */
                VCMP_I32(GT, 1, 12, 13);
                MOR(0, 1, 5);
                VSEL(2, 0, 22, 2);
            } else {
                VSEL(2, 5, 22, 2);
            }
            VLD(3, mbuf + g * VB);
            VRED_LANES(MAX_F32, 4, 2);
            VMAX_F32(4, 4, 3); /* m_new */
            VSUB_F32(5, 2, 4);
            VEXP(6, 5); /* p */
            VSUB_F32(7, 3, 4);
            VEXP(7, 7); /* alpha = exp(m_old - m_new) */
            VST(4, mbuf + g * VB);
            VLD(8, lbuf + g * VB);
            VRED_LANES(SUM_F32, 9, 6);
            VMULADD_F32(8, 8, 7, 9); /* l = l * alpha + sum(p) */
            VST(8, lbuf + g * VB);
            MXU_MATMUL_F32(0, 6, 1);
            MXU_POP(9, 0, 1); /* p v */
            VLD(10, abuf + g * VB);
            VMULADD_F32(10, 10, 7, 9);
            VST(10, abuf + g * VB);
        }
    }
    if (j + 1 < nj)
        return;
    for (uint32_t g = 0; g < 16; g++) {
        VLD(1, abuf + g * VB);
        VLD(2, lbuf + g * VB);
        VDIV_F32(1, 1, 2);
        VST(1, o + g * VB);
    }
}

VTPU_KERNEL(flash_attn_f32, flash_attn_body,
            .operands = {VTPU_IN(VTPU_F32, fa_q, 1, BQ, 128),
                         VTPU_IN(VTPU_F32, fa_kv, 1, BQ, 128),
                         VTPU_IN(VTPU_F32, fa_kv, 1, BQ, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, fa_q, 1, BQ, 128)},
            .scratch_vmem = 3 * 16 * VB);
