/*
 * lib_norm.c - row-wise normalisations of (R, C) f32 arrays
 * (docs/kernels.md, "Kernel library: softmax and norms").
 *
 *   softmax_f32    x in, o out: o = exp(x - max) / sum(exp(x - max))
 *   layernorm_f32  x, gamma (C,), beta (C,) in, o out; scalar 0 = eps
 *                  (f32 bits): o = (x - mean) / sqrt(var + eps) * g + b
 *   rmsnorm_f32    x, gamma (C,) in, o out; scalar 0 = eps (f32 bits):
 *                  o = x / sqrt(mean(x^2) + eps) * g
 *
 * Blocks of 8 whole rows, grid (cdiv(R, 8),) parallel; gamma and beta are
 * copied once.  Rows are (8, C) in VMEM with a pitch of C * 4 bytes, read
 * in chunks of 128 columns; the last chunk of a C that is not a multiple
 * of 128 uses masked loads and stores (lanes past the row are never
 * touched).  Variance is the two-pass mean of squared deviations; 1/sqrt
 * is VRSQRT.
 */
#include <stddef.h>

#include <vtpu/kernel.h>

VTPU_INDEX_MAP(row_blocks, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

typedef struct rows {
    uint32_t C, pitch, nch, last; /* last: valid lanes of the last chunk */
} rows;

static rows rows_of(const vtpu_kctx *k)
{
    rows r;
    r.C = k->op[0].shape[1];
    r.pitch = r.C * 4;
    r.nch = (r.C + 127) / 128;
    r.last = r.C - (r.nch - 1) * 128;
    /* m7 = lanes of the last chunk */
    VIOTA(LANE, 12, 0);
    VBCAST_I32(13, r.last);
    VCMP_I32(LT, 7, 12, 13);
    return r;
}

/* v<v> = chunk c of the 8 rows at `base`; lanes past the row keep the
 * value v<v> had (fill it first). */
#define LOAD_CHUNK(v, r, base, c)                                              \
    do {                                                                       \
        if ((c) + 1 < (r).nch || (r).last == 128)                              \
            VLDS(v, (base) + (c)*512, (r).pitch);                              \
        else                                                                   \
            VLDM(v, (base) + (c)*512, (r).pitch, 7);                           \
    } while (0)

#define STORE_CHUNK(v, r, base, c)                                             \
    do {                                                                       \
        if ((c) + 1 < (r).nch || (r).last == 128)                              \
            VSTS(v, (base) + (c)*512, (r).pitch);                              \
        else                                                                   \
            VSTM(v, (base) + (c)*512, (r).pitch, 7);                           \
    } while (0)

/* a (C,) vector, chunk c, in every sublane */
#define LOAD_VEC(v, r, base, c)                                                \
    do {                                                                       \
        if ((c) + 1 < (r).nch || (r).last == 128)                              \
            VLDS(v, (base) + (c)*512, 0);                                      \
        else                                                                   \
            VLDM(v, (base) + (c)*512, 0, 7);                                   \
    } while (0)

VTPU_BODY(softmax_body, k)
{
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1);
    rows r = rows_of(k);

    VBCAST_F32(14, -__builtin_inff());
    VMOV(10, 14);
    for (uint32_t c = 0; c < r.nch; c++) {
        VMOV(1, 14);
        LOAD_CHUNK(1, r, x, c);
        VMAX_F32(10, 10, 1);
    }
    VRED_LANES(MAX_F32, 10, 10);
    VBCAST_F32(11, 0.0f);
    for (uint32_t c = 0; c < r.nch; c++) {
        VMOV(1, 14);
        LOAD_CHUNK(1, r, x, c);
        VSUB_F32(1, 1, 10);
        VEXP(1, 1);
        VADD_F32(11, 11, 1);
        STORE_CHUNK(1, r, o, c);
    }
    VRED_LANES(SUM_F32, 11, 11);
    for (uint32_t c = 0; c < r.nch; c++) {
        LOAD_CHUNK(1, r, o, c);
        VDIV_F32(1, 1, 11);
        STORE_CHUNK(1, r, o, c);
    }
}

VTPU_KERNEL(softmax_f32, softmax_body,
            .operands = {VTPU_IN(VTPU_F32, row_blocks, 8, VTPU_FULL),
                         VTPU_OUT_LIKE(0, VTPU_F32, row_blocks, 8, VTPU_FULL)});

static float eps_of(const vtpu_kctx *k)
{
    union {
        int32_t i;
        float f;
    } u;
    u.i = k->num_scalars ? vtpu_scalar(k, 0) : 0;
    return u.f;
}

/* v10 = 1 / sqrt(v11 / C + eps) per row, v11 = per-row sum */
static void inv_rms(rows r, float eps)
{
    VRED_LANES(SUM_F32, 11, 11);
    VBCAST_F32(12, (float)r.C);
    VDIV_F32(11, 11, 12);
    VBCAST_F32(12, eps);
    VADD_F32(11, 11, 12);
    VRSQRT(10, 11);
}

static void norm(const vtpu_kctx *k, int layer)
{
    uint32_t x = vtpu_ref(k, 0), gam = vtpu_ref(k, 1);
    uint32_t bet = layer ? vtpu_ref(k, 2) : 0, o = vtpu_ref(k, layer ? 3 : 2);
    rows r = rows_of(k);
    float eps = eps_of(k);

    VBCAST_F32(14, 0.0f);
    VMOV(9, 14); /* mean (0 for RMSnorm) */
    if (layer) {
        VMOV(11, 14);
        for (uint32_t c = 0; c < r.nch; c++) {
            VMOV(1, 14);
            LOAD_CHUNK(1, r, x, c);
            VADD_F32(11, 11, 1);
        }
        VRED_LANES(SUM_F32, 11, 11);
        VBCAST_F32(12, (float)r.C);
        VDIV_F32(9, 11, 12);
    }
    VMOV(11, 14);
    for (uint32_t c = 0; c < r.nch; c++) {
        LOAD_CHUNK(1, r, x, c);
        VSUB_F32(1, 1, 9);
        if (c + 1 == r.nch && r.last != 128)
            VSEL(1, 7, 1, 14);
        VMULADD_F32(11, 1, 1, 11);
    }
    inv_rms(r, eps);
    for (uint32_t c = 0; c < r.nch; c++) {
        LOAD_CHUNK(1, r, x, c);
        LOAD_VEC(2, r, gam, c);
        VSUB_F32(1, 1, 9);
        VMUL_F32(1, 1, 10);
        VMUL_F32(1, 1, 2);
        if (layer) {
            LOAD_VEC(3, r, bet, c);
            VADD_F32(1, 1, 3);
        }
        STORE_CHUNK(1, r, o, c);
    }
}

VTPU_BODY(layernorm_body, k)
{
    norm(k, 1);
}
VTPU_BODY(rmsnorm_body, k)
{
    norm(k, 0);
}

VTPU_KERNEL(layernorm_f32, layernorm_body,
            .operands = {VTPU_IN(VTPU_F32, row_blocks, 8, VTPU_FULL),
                         VTPU_IN(VTPU_F32, NULL, VTPU_FULL),
                         VTPU_IN(VTPU_F32, NULL, VTPU_FULL),
                         VTPU_OUT_LIKE(0, VTPU_F32, row_blocks, 8, VTPU_FULL)},
            .num_scalars = 1);
VTPU_KERNEL(rmsnorm_f32, rmsnorm_body,
            .operands = {VTPU_IN(VTPU_F32, row_blocks, 8, VTPU_FULL),
                         VTPU_IN(VTPU_F32, NULL, VTPU_FULL),
                         VTPU_OUT_LIKE(0, VTPU_F32, row_blocks, 8, VTPU_FULL)},
            .num_scalars = 1);
