/*
 * mxu.c - the matrix units (mxu.h).
 *
 * Operands are widened to f32 once, when they are pushed (RHS) or used
 * (LHS), so one blocked f32 kernel serves every type: bf16 x bf16 products
 * are exact in f32, and for i8 every product and partial sum is an integer
 * of magnitude below 2^24 (K <= 256, |a*b| <= 2^14), so the f32 kernel
 * computes the i32 result exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxu.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic",          \
                     "fp-contract=off")
#endif

/* An AVX2 clone on x86-64 hosts; same results (no FMA, same order). */
#define CLONES VTPU_CLONES

#define L VTPU_LANES
#define ACC_EMPTY 0
#define ACC_F32 1
#define ACC_I32 2

static const char *const dt_name[] = {"f32", "bf16", "i8"};

typedef struct mxu_unit {
    int staged;          /* XTPU_DT_* of the staged rows, -1 if none */
    unsigned rows[2];    /* rows pushed into each 128-column block */
    uint8_t acc_kind[XTPU_MXU_ACCS];
    vtpu_vreg acc[XTPU_MXU_ACCS];
    float *rhs;          /* dim x dim, row k at rhs + k * dim */
    /* the staged RHS split into bf16 high and low parts (dim x dim each,
     * allocated at the first f32 MATMUL at HIGH or DEFAULT precision),
     * valid until the staging changes: weights stationary, split once */
    float *rhs_hi, *rhs_lo;
    bool split;
} mxu_unit;

struct vtpu_mxu {
    unsigned dim, count;
    mxu_unit *u;
    /* scratch for one MATMUL: LHS widened to f32 and its product */
    float lhs[32 * 256];
    float prod[32 * 256];
    /* ... and for the bf16 passes of f32 precisions HIGH and DEFAULT:
     * the low parts of the LHS, two more products, and the staged RHS
     * split into high and low bf16 parts (dim x dim each) */
    float lhs_lo[8 * 256];
    float prod2[8 * 256];
    float prod3[8 * 256];
};

vtpu_mxu *vtpu_mxu_new(const vtpu_config *cfg)
{
    vtpu_mxu *m = g_new0(vtpu_mxu, 1);
    m->dim = cfg->mxu_dim;
    m->count = cfg->mxu_count;
    g_assert(m->dim == 128 || m->dim == 256);
    m->u = g_new0(mxu_unit, m->count);
    for (unsigned i = 0; i < m->count; i++)
        m->u[i].rhs = g_new0(float, (size_t)m->dim * m->dim);
    vtpu_mxu_reset(m);
    return m;
}

void vtpu_mxu_free(vtpu_mxu *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->count; i++) {
        g_free(m->u[i].rhs);
        g_free(m->u[i].rhs_hi);
        g_free(m->u[i].rhs_lo);
    }
    g_free(m->u);
    g_free(m);
}

static void clear_staging(mxu_unit *u)
{
    u->split = false;
    u->staged = -1;
    u->rows[0] = u->rows[1] = 0;
}

void vtpu_mxu_reset(vtpu_mxu *m)
{
    for (unsigned i = 0; i < m->count; i++) {
        clear_staging(&m->u[i]);
        memset(m->u[i].acc_kind, ACC_EMPTY, sizeof(m->u[i].acc_kind));
    }
}

/* ------------------------------------------------------------------ */
/* state for snapshots (snapshot.c): per MXU, staged (i32), rows[2],    */
/* acc_kind[], accumulators, the staged RHS (dim x dim f32); host order */
/* ------------------------------------------------------------------ */

static size_t unit_state_size(const vtpu_mxu *m)
{
    return 4 + 8 + XTPU_MXU_ACCS + sizeof(vtpu_vreg) * XTPU_MXU_ACCS +
           sizeof(float) * (size_t)m->dim * m->dim;
}

size_t vtpu_mxu_state_size(const vtpu_mxu *m)
{
    return unit_state_size(m) * m->count;
}

void vtpu_mxu_state_get(const vtpu_mxu *m, uint8_t *out)
{
    for (unsigned i = 0; i < m->count; i++) {
        const mxu_unit *u = &m->u[i];
        int32_t staged = u->staged;
        uint32_t rows[2] = {u->rows[0], u->rows[1]};
        memcpy(out, &staged, 4);
        memcpy(out + 4, rows, 8);
        out += 12;
        memcpy(out, u->acc_kind, XTPU_MXU_ACCS);
        out += XTPU_MXU_ACCS;
        memcpy(out, u->acc, sizeof(u->acc));
        out += sizeof(u->acc);
        memcpy(out, u->rhs, sizeof(float) * (size_t)m->dim * m->dim);
        out += sizeof(float) * (size_t)m->dim * m->dim;
    }
}

int vtpu_mxu_state_set(vtpu_mxu *m, const uint8_t *in, char *err,
                       size_t errlen)
{
    /* check everything before changing anything */
    const uint8_t *p = in;
    for (unsigned i = 0; i < m->count; i++) {
        int32_t staged;
        uint32_t rows[2];
        memcpy(&staged, p, 4);
        memcpy(rows, p + 4, 8);
        if (staged < -1 || staged > XTPU_DT_I8 || rows[0] > m->dim ||
            rows[1] > m->dim || (m->dim == 128 && rows[1])) {
            snprintf(err, errlen,
                     "MXU %u: staging state (type %d, rows %u/%u) is "
                     "impossible for a %ux%u MXU",
                     i, staged, rows[0], rows[1], m->dim, m->dim);
            return -1;
        }
        for (unsigned a = 0; a < XTPU_MXU_ACCS; a++)
            if (p[12 + a] > ACC_I32) {
                snprintf(err, errlen, "MXU %u: accumulator %u kind %u", i, a,
                         p[12 + a]);
                return -1;
            }
        p += unit_state_size(m);
    }
    for (unsigned i = 0; i < m->count; i++) {
        mxu_unit *u = &m->u[i];
        int32_t staged;
        memcpy(&staged, in, 4);
        u->staged = staged;
        memcpy(u->rows, in + 4, 8);
        in += 12;
        memcpy(u->acc_kind, in, XTPU_MXU_ACCS);
        in += XTPU_MXU_ACCS;
        memcpy(u->acc, in, sizeof(u->acc));
        in += sizeof(u->acc);
        memcpy(u->rhs, in, sizeof(float) * (size_t)m->dim * m->dim);
        in += sizeof(float) * (size_t)m->dim * m->dim;
        u->split = false; /* the bf16 halves are made again when needed */
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* the kernel                                                            */
/* ------------------------------------------------------------------ */

/*
 * Register-blocked: a 4 x 16 tile of C stays in host vector registers
 * while k runs, so each B row segment loaded is used four times.  The
 * order of additions for every C element is k = 0, 1, ..., K-1.
 */
CLONES void vtpu_mxu_gemm(const float *A, unsigned lda, const float *B,
                          unsigned ldb, float *C, unsigned ldc, unsigned R,
                          unsigned K, unsigned N)
{
    for (unsigned i = 0; i < R; i += 4) {
        const float *a0 = A + (size_t)i * lda, *a1 = a0 + lda;
        const float *a2 = a1 + lda, *a3 = a2 + lda;
        for (unsigned j = 0; j < N; j += 16) {
            float c0[16] = {0}, c1[16] = {0}, c2[16] = {0}, c3[16] = {0};
            for (unsigned k = 0; k < K; k++) {
                const float *b = B + (size_t)k * ldb + j;
                float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
                for (unsigned t = 0; t < 16; t++) {
                    c0[t] += x0 * b[t];
                    c1[t] += x1 * b[t];
                    c2[t] += x2 * b[t];
                    c3[t] += x3 * b[t];
                }
            }
            float *o = C + (size_t)i * ldc + j;
            memcpy(o, c0, sizeof(c0));
            memcpy(o + ldc, c1, sizeof(c1));
            memcpy(o + 2 * ldc, c2, sizeof(c2));
            memcpy(o + 3 * ldc, c3, sizeof(c3));
        }
    }
}

/* Widen the rows of one vreg of type dt into f32 rows of 128 (stride ld). */
static void widen(const vtpu_vreg *v, unsigned dt, float *out, unsigned ld)
{
    unsigned rows = vtpu_mxu_rows(dt);
    for (unsigned r = 0; r < rows; r++) {
        float *o = out + (size_t)r * ld;
        if (dt == XTPU_DT_F32) {
            memcpy(o, v->f + r * L, L * 4);
        } else if (dt == XTPU_DT_BF16) {
            const uint32_t *w = v->u + r * (L / 2);
            for (unsigned k = 0; k < L / 2; k++) {
                uint32_t lo = w[k] << 16, hi = w[k] & 0xFFFF0000u;
                memcpy(&o[2 * k], &lo, 4);
                memcpy(&o[2 * k + 1], &hi, 4);
            }
        } else {
            const uint32_t *w = v->u + r * (L / 4);
            for (unsigned k = 0; k < L; k++)
                o[k] = (float)(int8_t)(w[k / 4] >> (8 * (k % 4)));
        }
    }
}

/*
 * The bf16 parts of f32 operands for precisions HIGH and DEFAULT: hi =
 * bf16(x) (nearest-even), lo = bf16(x - hi) (x - hi is exact in f32).
 * An x whose hi is not finite (inf, NaN, or beyond the largest bf16) has
 * lo = 0, so it stays what hi makes of it.  rows x cols at stride ld.
 */
static void split_bf16(float *hi, float *lo, const float *x, unsigned rows,
                       unsigned cols, unsigned ld)
{
    for (unsigned r = 0; r < rows; r++) {
        for (unsigned c = 0; c < cols; c++) {
            size_t i = (size_t)r * ld + c;
            uint32_t u, h, l;
            float fh, fl = 0.0f;
            memcpy(&u, &x[i], 4);
            h = vtpu_bf16_from_f32(u) << 16;
            memcpy(&fh, &h, 4);
            if ((h & 0x7FFFFFFFu) < 0x7F800000u && lo) {
                float d = x[i] - fh;
                memcpy(&u, &d, 4);
                l = vtpu_bf16_from_f32(u) << 16;
                memcpy(&fl, &l, 4);
            }
            hi[i] = fh;
            if (lo)
                lo[i] = fl;
        }
    }
}

/*
 * P (R x N, stride N) = LHS x RHS at precision `prec` for f32 operands:
 * HIGHEST one f32 pass; DEFAULT one pass over the bf16 parts; HIGH three
 * passes, P = (lo x hi + hi x lo) + hi x hi, each sum rounded to f32.
 */
static void product(vtpu_mxu *m, mxu_unit *u, unsigned prec,
                    unsigned ld, unsigned R, unsigned K, unsigned N)
{
    if (prec == XTPU_PREC_HIGHEST || prec == XTPU_DT_BF16 ||
        prec == XTPU_DT_I8) {
        vtpu_mxu_gemm(m->lhs, ld, u->rhs, m->dim, m->prod, N, R, K, N);
        return;
    }
    bool high = prec == XTPU_PREC_HIGH;
    split_bf16(m->lhs, high ? m->lhs_lo : NULL, m->lhs, R, K, ld);
    if (!u->rhs_hi) {
        u->rhs_hi = g_new0(float, (size_t)m->dim * m->dim);
        u->rhs_lo = g_new0(float, (size_t)m->dim * m->dim);
    }
    if (!u->split) {
        split_bf16(u->rhs_hi, u->rhs_lo, u->rhs, K, N, m->dim);
        u->split = true;
    }
    if (!high) {
        vtpu_mxu_gemm(m->lhs, ld, u->rhs_hi, m->dim, m->prod, N, R, K, N);
        return;
    }
    vtpu_mxu_gemm(m->lhs_lo, ld, u->rhs_hi, m->dim, m->prod, N, R, K, N);
    vtpu_mxu_gemm(m->lhs, ld, u->rhs_lo, m->dim, m->prod2, N, R, K, N);
    vtpu_mxu_gemm(m->lhs, ld, u->rhs_hi, m->dim, m->prod3, N, R, K, N);
    for (size_t i = 0; i < (size_t)R * N; i++)
        m->prod[i] = (m->prod[i] + m->prod2[i]) + m->prod3[i];
}

/* ------------------------------------------------------------------ */
/* instructions                                                          */
/* ------------------------------------------------------------------ */

static mxu_unit *unit(vtpu_tc *tc, unsigned mxu, const char *insn)
{
    vtpu_mxu *m = tc->mxu;
    if (VTPU_UNLIKELY(mxu >= m->count)) {
        vtpu_tc_fault(tc, VTPU_ERR_MXU, VTPU_SPACE_NONE, 0, 0,
                      "%s: MXU %u does not exist (%u per TC)", insn, mxu,
                      m->count);
        return NULL;
    }
    return &m->u[mxu];
}

#define MXU_FAULT(tc, ...)                                                   \
    vtpu_tc_fault(tc, VTPU_ERR_MXU, VTPU_SPACE_NONE, 0, 0, __VA_ARGS__)

int vtpu_mxu_push(vtpu_tc *tc, unsigned mxu, unsigned dt, unsigned cb,
                  unsigned va)
{
    vtpu_mxu *m = tc->mxu;
    mxu_unit *u = unit(tc, mxu, "mxu.push");
    if (!u)
        return -1;
    unsigned rows = vtpu_mxu_rows(dt);
    if (cb >= m->dim / L)
        return MXU_FAULT(tc, "mxu.push: column block %u, but MXU %u is %u "
                         "wide (%u blocks of 128)", cb, mxu, m->dim,
                         m->dim / L);
    if (u->staged >= 0 && (unsigned)u->staged != dt)
        return MXU_FAULT(tc, "mxu.push: %s rows into MXU %u whose staging "
                         "holds %s rows (MXU.CLR first)", dt_name[dt], mxu,
                         dt_name[u->staged]);
    if (u->rows[cb] + rows > m->dim)
        return MXU_FAULT(tc, "mxu.push: staging overflow: MXU %u column "
                         "block %u holds %u rows, %u more exceed %u", mxu,
                         cb, u->rows[cb], rows, m->dim);
    widen(&tc->vpu->v[va], dt, u->rhs + (size_t)u->rows[cb] * m->dim + cb * L,
          m->dim);
    u->rows[cb] += rows;
    u->staged = (int)dt;
    u->split = false;
    return 0;
}

int vtpu_mxu_matmul(vtpu_tc *tc, unsigned mxu, unsigned dt, unsigned acc,
                    unsigned va)
{
    vtpu_mxu *m = tc->mxu;
    unsigned prec = dt; /* XTPU_PREC_* of f32 operands */
    if (dt == XTPU_PREC_HIGH || dt == XTPU_PREC_DEFAULT)
        dt = XTPU_DT_F32;
    mxu_unit *u = unit(tc, mxu, "mxu.matmul");
    if (!u)
        return -1;
    if (u->staged < 0)
        return MXU_FAULT(tc, "mxu.matmul: nothing staged in MXU %u", mxu);
    if ((unsigned)u->staged != dt)
        return MXU_FAULT(tc, "mxu.matmul: LHS is %s but MXU %u staged %s "
                         "RHS", dt_name[dt], mxu, dt_name[u->staged]);
    unsigned K = u->rows[0], nb = 0;
    for (unsigned cb = 0; cb < m->dim / L; cb++) {
        if (u->rows[cb] == 0)
            continue;
        if (u->rows[cb] != K || nb != cb)
            return MXU_FAULT(tc, "mxu.matmul: MXU %u column blocks are "
                             "uneven (block 0 has %u rows, block %u has %u)",
                             mxu, K, cb, u->rows[cb]);
        nb++;
    }
    unsigned R = vtpu_mxu_rows(dt), kb = (K + L - 1) / L;
    unsigned nacc = R / VTPU_SUBLANES * nb;
    if (va + kb > VTPU_NUM_VREGS)
        return MXU_FAULT(tc, "mxu.matmul: K = %u needs LHS vregs v%u..v%u",
                         K, va, va + kb - 1);
    if (acc + nacc > XTPU_MXU_ACCS)
        return MXU_FAULT(tc, "mxu.matmul: result needs accumulators "
                         "%u..%u of MXU %u (it has %u)", acc,
                         acc + nacc - 1, mxu, XTPU_MXU_ACCS);
    uint8_t kind = dt == XTPU_DT_I8 ? ACC_I32 : ACC_F32;
    for (unsigned i = acc; i < acc + nacc; i++)
        if (u->acc_kind[i] != ACC_EMPTY && u->acc_kind[i] != kind)
            return MXU_FAULT(tc, "mxu.matmul: accumulator %u of MXU %u "
                             "holds %s results, this product is %s", i, mxu,
                             u->acc_kind[i] == ACC_I32 ? "i32" : "f32",
                             kind == ACC_I32 ? "i32" : "f32");

    unsigned ld = kb * L, N = nb * L;
    for (unsigned j = 0; j < kb; j++)
        widen(&tc->vpu->v[va + j], dt, m->lhs + j * L, ld);
    product(m, u, prec, ld, R, K, N);

    /* row group g, column block cb -> accumulator acc + g * nb + cb */
    for (unsigned g = 0; g < R / VTPU_SUBLANES; g++) {
        for (unsigned cb = 0; cb < nb; cb++) {
            unsigned i = acc + g * nb + cb;
            vtpu_vreg *a = &u->acc[i];
            if (u->acc_kind[i] == ACC_EMPTY)
                memset(a, 0, sizeof(*a));
            u->acc_kind[i] = kind;
            for (unsigned r = 0; r < VTPU_SUBLANES; r++) {
                const float *p =
                    m->prod + (size_t)(g * VTPU_SUBLANES + r) * N + cb * L;
                if (kind == ACC_F32) {
                    float *o = a->f + r * L;
                    for (unsigned l = 0; l < L; l++)
                        o[l] += p[l];
                } else {
                    uint32_t *o = a->u + r * L;
                    for (unsigned l = 0; l < L; l++)
                        o[l] += (uint32_t)(int32_t)p[l];
                }
            }
        }
    }
    return 0;
}

int vtpu_mxu_pop(vtpu_tc *tc, unsigned mxu, unsigned acc, unsigned vd)
{
    mxu_unit *u = unit(tc, mxu, "mxu.pop");
    if (!u)
        return -1;
    if (u->acc_kind[acc] == ACC_EMPTY)
        return MXU_FAULT(tc, "mxu.pop: accumulator %u of MXU %u holds no "
                         "result (never written, or already popped)", acc,
                         mxu);
    memcpy(&tc->vpu->v[vd], &u->acc[acc], sizeof(vtpu_vreg));
    u->acc_kind[acc] = ACC_EMPTY;
    return 0;
}

int vtpu_mxu_clear(vtpu_tc *tc, unsigned mxu, unsigned what)
{
    mxu_unit *u = unit(tc, mxu, "mxu.clr");
    if (!u)
        return -1;
    if (what & XTPU_CLR_STAGING)
        clear_staging(u);
    if (what & XTPU_CLR_ACCS)
        memset(u->acc_kind, ACC_EMPTY, sizeof(u->acc_kind));
    return 0;
}
