/*
 * take.c - gather along the last axis (docs/kernels.md, "Kernel library:
 * sort with any number of value arrays").
 *
 *   take_last_32   src (rows, n) any 4-byte dtype, idx (rows, m) i32 in;
 *                  out (rows, m) of src's dtype:
 *                  out[r, j] = src[r, idx[r, j]]
 *   take_last_16   the same for a 2-byte src (bf16, i16)
 *
 * Operands are ANY arrays of rank 1 ((n,), (m,), (m,)) or 2; grid (P,)
 * parallel: program p handles rows [p * per, (p + 1) * per), per =
 * ceil(rows / P), as sort_* does.  With idx = the argsort a sort_* launch
 * returns, one launch per value array carries any number of value arrays
 * along a sort.  An index outside [0, n) fails the launch with a message
 * naming its row, column and value (out may then be partly written).
 *
 * How: the ISA has no gather and VMEM is reached only by whole-vreg loads
 * and stores and by DMA, so the gather runs on the scalar core out of
 * scratch SMEM.  Rows are DMA'd from HBM into SMEM: several whole rows at
 * once when they fit (n <= SRC_BYTES / itemsize, m <= IDX_CAP), else per
 * row, IDX_CAP indices at a time, with src in segments of SRC_BYTES (one
 * pass over the chunk per segment; a row whose src fits is loaded once).
 */
#include <stdio.h>

#include <vtpu/kernel.h>

#define SRC_BYTES (32u * 1024u) /* src rows or one segment of a row */
#define IDX_CAP 2048u           /* indices per chunk */
#define TAKE_SCRATCH (SRC_BYTES + IDX_CAP * 4u + IDX_CAP * 4u)
#define SEM 0

typedef struct take_job {
    const vtpu_kctx *k;
    unsigned rank;
    uint32_t n, m, isz;
    void *src;    /* SRC_BYTES */
    int32_t *idx; /* IDX_CAP */
    void *out;    /* IDX_CAP elements */
} take_job;

/* rows [row, row + rows) x columns [col, col + cols) of operand op <->
 * dense local buffer (rank 1: the columns only). */
static void xfer(const take_job *t, unsigned op, uint32_t row, uint32_t rows,
                 uint32_t col, uint32_t cols, void *local, int out)
{
    uint32_t start[2], size[2];
    vtpu_copy c;
    if (t->rank == 1) {
        start[0] = col;
        size[0] = cols;
    } else {
        start[0] = row;
        start[1] = col;
        size[0] = rows;
        size[1] = cols;
    }
    uint32_t l = (uint32_t)(uintptr_t)local;
    if (out)
        vtpu_copy_out(&c, t->k, op, start, size, l, SEM);
    else
        vtpu_copy_in(&c, t->k, op, start, size, l, SEM);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
}

/* Every index of the (rows, w) block at (r0, c0) inside [0, n). */
static void check(const take_job *t, uint32_t rows, uint32_t w, uint32_t r0,
                  uint32_t c0)
{
    uint32_t cnt = rows * w;
    for (uint32_t i = 0; i < cnt; i++)
        if ((uint32_t)t->idx[i] >= t->n) {
            char msg[112];
            snprintf(msg, sizeof(msg),
                     "take_last: idx[%lu, %lu] = %ld is outside [0, %lu)",
                     (unsigned long)(r0 + i / w), (unsigned long)(c0 + i % w),
                     (long)t->idx[i], (unsigned long)t->n);
            vtpu_fail(t->k, msg);
        }
}

/* out[i] = src[idx[i] - base] for the cnt indices inside [base, base +
 * len); the others are left alone. */
static void gather(const take_job *t, uint32_t cnt, uint32_t base, uint32_t len,
                   uint32_t ipitch, uint32_t spitch, uint32_t rows)
{
    for (uint32_t r = 0; r < rows; r++) {
        const int32_t *ix = t->idx + r * ipitch;
        if (t->isz == 4) {
            const uint32_t *s = (const uint32_t *)t->src + r * spitch;
            uint32_t *o = (uint32_t *)t->out + r * ipitch;
            for (uint32_t i = 0; i < cnt; i++) {
                uint32_t u = (uint32_t)ix[i] - base;
                if (u < len)
                    o[i] = s[u];
            }
        } else {
            const uint16_t *s = (const uint16_t *)t->src + r * spitch;
            uint16_t *o = (uint16_t *)t->out + r * ipitch;
            for (uint32_t i = 0; i < cnt; i++) {
                uint32_t u = (uint32_t)ix[i] - base;
                if (u < len)
                    o[i] = s[u];
            }
        }
    }
}

static void take_body(const vtpu_kctx *k, uint32_t isz)
{
    const vtpu_operand_info *s = &k->op[0], *x = &k->op[1], *o = &k->op[2];
    unsigned rank = s->rank;
    if (rank < 1 || rank > 2 || x->rank != rank || o->rank != rank)
        vtpu_fail(k, "take_last: src, idx and out must all be (n,) or "
                     "(rows, n)");
    if (s->itemsize != isz)
        vtpu_fail(k, isz == 4 ? "take_last_32: src must be a 4-byte type"
                              : "take_last_16: src must be a 2-byte type");
    if (x->dtype != VTPU_I32)
        vtpu_fail(k, "take_last: idx must be i32");
    if (o->dtype != s->dtype)
        vtpu_fail(k, "take_last: out must have src's dtype");
    uint32_t rows = rank == 2 ? s->shape[0] : 1;
    if (rank == 2 && (x->shape[0] != rows || o->shape[0] != rows))
        vtpu_fail(k, "take_last: src, idx and out must have the same rows");
    if (o->shape[rank - 1] != x->shape[rank - 1])
        vtpu_fail(k, "take_last: out must have idx's shape");

    take_job t;
    t.k = k;
    t.rank = rank;
    t.n = s->shape[rank - 1];
    t.m = x->shape[rank - 1];
    t.isz = isz;
    t.src = k->scratch_smem;
    t.idx = (int32_t *)((uint8_t *)t.src + SRC_BYTES);
    t.out = (uint8_t *)t.idx + IDX_CAP * 4u;
    uint32_t seg = SRC_BYTES / isz; /* src elements per load */

    uint32_t np = vtpu_num_programs(k, 0);
    uint32_t per = (rows + np - 1) / np;
    uint32_t r0 = (uint32_t)vtpu_program_id(k, 0) * per;
    uint32_t r1 = r0 + per < rows ? r0 + per : rows;
    if (t.m == 0 || r0 >= r1)
        return;

    if (t.n > 0 && t.n <= seg && t.m <= IDX_CAP) {
        /* whole rows, as many as fit */
        uint32_t chunk = seg / t.n < IDX_CAP / t.m ? seg / t.n : IDX_CAP / t.m;
        for (uint32_t r = r0; r < r1; r += chunk) {
            uint32_t cnt = r1 - r < chunk ? r1 - r : chunk;
            xfer(&t, 1, r, cnt, 0, t.m, t.idx, 0);
            check(&t, cnt, t.m, r, 0);
            xfer(&t, 0, r, cnt, 0, t.n, t.src, 0);
            gather(&t, t.m, 0, t.n, t.m, t.n, cnt);
            xfer(&t, 2, r, cnt, 0, t.m, t.out, 1);
        }
        return;
    }

    /* one row at a time: chunks of indices, segments of src */
    for (uint32_t r = r0; r < r1; r++) {
        int loaded = 0;
        for (uint32_t j0 = 0; j0 < t.m; j0 += IDX_CAP) {
            uint32_t cm = t.m - j0 < IDX_CAP ? t.m - j0 : IDX_CAP;
            xfer(&t, 1, r, 1, j0, cm, t.idx, 0);
            check(&t, 1, cm, r, j0);
            for (uint32_t s0 = 0; s0 < t.n; s0 += seg) {
                uint32_t cs = t.n - s0 < seg ? t.n - s0 : seg;
                if (!loaded)
                    xfer(&t, 0, r, 1, s0, cs, t.src, 0);
                loaded = t.n <= seg; /* one segment: keep it for the row */
                gather(&t, cm, s0, cs, 0, 0, 1);
            }
            xfer(&t, 2, r, 1, j0, cm, t.out, 1);
        }
    }
}

VTPU_BODY(take_last_32_body, k)
{
    take_body(k, 4);
}

VTPU_BODY(take_last_16_body, k)
{
    take_body(k, 2);
}

#define ANY_(role, dt) VTPU_ANY(role, dt, 0)

VTPU_KERNEL(take_last_32, take_last_32_body,
            .operands = {ANY_(VTPU_ROLE_IN, VTPU_DT_ANY),
                         ANY_(VTPU_ROLE_IN, VTPU_I32),
                         /* idx's shape, src's dtype */
                         VTPU_ANY_EX(VTPU_ROLE_OUT, VTPU_DT_ANY, 0,
                                     VTPU_LIKE(1), VTPU_LIKE(0))},
            .scratch_smem = TAKE_SCRATCH, .num_sems = 1);

VTPU_KERNEL(take_last_16, take_last_16_body,
            .operands = {ANY_(VTPU_ROLE_IN, VTPU_DT_ANY),
                         ANY_(VTPU_ROLE_IN, VTPU_I32),
                         /* idx's shape, src's dtype */
                         VTPU_ANY_EX(VTPU_ROLE_OUT, VTPU_DT_ANY, 0,
                                     VTPU_LIKE(1), VTPU_LIKE(0))},
            .scratch_smem = TAKE_SCRATCH, .num_sems = 1);
