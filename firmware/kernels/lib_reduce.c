/*
 * lib_reduce.c - reductions of (R, C) f32 arrays (docs/kernels.md,
 * "Kernel library: reductions").
 *
 *   reduce_last_f32   x (R, C) in, o (R, 1) f32 out: o[r] = op over x[r, :]
 *   argmax_last_f32   x (R, C) in, o (R, 1) i32 out: first index of the max
 *   reduce_first_f32  x (R, C) in, o (1, C) f32 out: o[c] = op over x[:, c]
 *   argmax_first_f32  x (R, C) in, o (1, C) i32 out
 *
 * op (scalar 0, reduce_* only): RED_SUM, RED_MAX, RED_MIN.  max/min
 * propagate NaN; argmax treats NaN as the largest value (the first NaN
 * wins), like jnp.argmax.  Sums are accumulated per lane and then by the
 * lane tree of VRED, so their rounding differs from a sequential sum.
 *
 * Grids: *_last: (cdiv(R, 8), cdiv(C, 512)), semantics (parallel,
 * arbitrary); *_first: (cdiv(C, 512), cdiv(R, 64)), the same semantics.
 * The output block stays in VMEM while the arbitrary axis runs; the
 * running values live in scratch VMEM.  Elements of padded edge blocks are
 * replaced by the op's identity.
 */
#include <vtpu/kernel.h>

#include "lib_ops.h"

#define LB 512 /* columns per block */
#define LPITCH (LB * 4)
#define FR 64 /* rows per block of the *_first kernels */

VTPU_INDEX_MAP(last_x, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_INDEX_MAP(last_o, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_INDEX_MAP(first_x, g, s, b)
{
    b[0] = g[1];
    b[1] = g[0];
}

VTPU_INDEX_MAP(first_o, g, s, b)
{
    b[0] = 0;
    b[1] = g[0];
}

static uint32_t red_op(const vtpu_kctx *k)
{
    uint32_t op = k->num_scalars ? (uint32_t)vtpu_scalar(k, 0) : RED_COUNT;
    if (op >= RED_COUNT)
        vtpu_fail(k, "reduce: scalar 0 must be RED_SUM, RED_MAX or RED_MIN");
    return op;
}

/* v14 = identity of op (argmax: -inf) */
static void identity(uint32_t op)
{
    VBCAST_F32(14, op == RED_SUM   ? 0.0f
                   : op == RED_MAX ? -__builtin_inff()
                                   : __builtin_inff());
}

/* v<acc> = op(v<acc>, v1) */
#define ACCUM(op, acc)                                                         \
    do {                                                                       \
        if ((op) == RED_SUM)                                                   \
            VADD_F32(acc, acc, 1);                                             \
        else if ((op) == RED_MAX)                                              \
            VMAX_F32(acc, acc, 1);                                             \
        else                                                                   \
            VMIN_F32(acc, acc, 1);                                             \
    } while (0)

/* argmax step: where v1 beats v<acc> (NaN beats everything but NaN), take
 * v1 and its index v15 */
#define ARGMAX_STEP(acc, accidx)                                               \
    do {                                                                       \
        VCMP_F32(GT, 2, 1, acc);                                               \
        VCMP_F32(NE, 3, 1, 1);                                                 \
        VCMP_F32(NE, 4, acc, acc);                                             \
        MOR(2, 2, 3);                                                          \
        MANDN(2, 2, 4);                                                        \
        VSEL(acc, 2, 1, acc);                                                  \
        VSEL(accidx, 2, 15, accidx);                                           \
    } while (0)

/* v5 = index of the best lane/sublane: the smallest index among the
 * elements equal to the reduced max (or NaN when the max is NaN). */
#define ARGMAX_FINISH(RED, acc, accidx)                                        \
    do {                                                                       \
        RED(MAX_F32, 5, acc);                                                  \
        VCMP_F32(EQ, 2, acc, 5);                                               \
        VCMP_F32(NE, 3, acc, acc);                                             \
        MOR(2, 2, 3);                                                          \
        VBCAST_I32(6, 0x7fffffff);                                             \
        VSEL(6, 2, accidx, 6);                                                 \
        RED(MIN_I32, 5, 6);                                                    \
    } while (0)

static void reduce_last(const vtpu_kctx *k, int arg)
{
    uint32_t op = arg ? RED_MAX : red_op(k);
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1);
    uint32_t acc = k->scratch_vmem, accidx = acc + 4096;
    uint32_t j = (uint32_t)vtpu_program_id(k, 1), nj = vtpu_num_programs(k, 1);
    uint32_t C = k->op[0].shape[1];

    identity(op);
    if (j == 0) {
        VMOV(16, 14);
        VBCAST_I32(17, 0);
    } else {
        VLD(16, acc);
        VLD(17, accidx);
    }
    for (uint32_t c = 0; c < LB / 128; c++) {
        uint32_t col0 = j * LB + c * 128;
        if (col0 >= C)
            break;
        VLDS(1, x + c * 512, LPITCH);
        if (C - col0 < 128) { /* padded columns -> identity */
            VIOTA(LANE, 12, 0);
            VBCAST_I32(13, C - col0);
            VCMP_I32(LT, 1, 12, 13);
            VSEL(1, 1, 1, 14);
        }
        if (arg) {
            VIOTA(LANE, 15, col0);
            ARGMAX_STEP(16, 17);
        } else {
            ACCUM(op, 16);
        }
    }
    if (j + 1 < nj) {
        VST(16, acc);
        VST(17, accidx);
        return;
    }
    if (arg) {
        ARGMAX_FINISH(VRED_LANES, 16, 17);
    } else if (op == RED_SUM) {
        VRED_LANES(SUM_F32, 5, 16);
    } else if (op == RED_MAX) {
        VRED_LANES(MAX_F32, 5, 16);
    } else {
        VRED_LANES(MIN_F32, 5, 16);
    }
    VIOTA(LANE, 12, 0);
    VBCAST_I32(13, 0);
    VCMP_I32(EQ, 1, 12, 13);
    VSTM(5, o, 4, 1); /* lane 0 of sublane s -> row s */
}

VTPU_BODY(reduce_last_body, k)
{
    reduce_last(k, 0);
}
VTPU_BODY(argmax_last_body, k)
{
    reduce_last(k, 1);
}

VTPU_KERNEL(reduce_last_f32, reduce_last_body,
            .operands = {VTPU_IN(VTPU_F32, last_x, 8, LB),
                         VTPU_OUT(VTPU_F32, last_o, 8, 1)},
            .scratch_vmem = 8192, .num_scalars = 1);
VTPU_KERNEL(argmax_last_f32, argmax_last_body,
            .operands = {VTPU_IN(VTPU_F32, last_x, 8, LB),
                         VTPU_OUT(VTPU_I32, last_o, 8, 1)},
            .scratch_vmem = 8192);

/* Accumulators of the *_first kernels: column chunk c in v16 + c, its
 * indices in v24 + c. */
#define FOR_CHUNKS(X) X(0) X(1) X(2) X(3)

static void reduce_first(const vtpu_kctx *k, int arg)
{
    uint32_t op = arg ? RED_MAX : red_op(k);
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1);
    uint32_t acc = k->scratch_vmem, accidx = acc + 4 * 4096;
    uint32_t i = (uint32_t)vtpu_program_id(k, 1), ni = vtpu_num_programs(k, 1);
    uint32_t R = k->op[0].shape[0];

    identity(op);
#define INIT(c)                                                                \
    if (i == 0) {                                                              \
        VMOV(16 + c, 14);                                                      \
        VBCAST_I32(24 + c, 0);                                                 \
    } else {                                                                   \
        VLD(16 + c, acc + c * 4096);                                           \
        VLD(24 + c, accidx + c * 4096);                                        \
    }
    FOR_CHUNKS(INIT)
    for (uint32_t g = 0; g < FR / 8; g++) {
        uint32_t row0 = i * FR + g * 8;
        if (row0 >= R)
            break;
        int part = R - row0 < 8;
        if (part) {
            VIOTA(SUBLANE, 12, 0);
            VBCAST_I32(13, R - row0);
            VCMP_I32(LT, 1, 12, 13);
        }
        if (arg)
            VIOTA(SUBLANE, 15, row0);
#define STEP(c)                                                                \
    VLDS(1, x + g * 8 * LPITCH + c * 512, LPITCH);                             \
    if (part)                                                                  \
        VSEL(1, 1, 1, 14);                                                     \
    if (arg)                                                                   \
        ARGMAX_STEP(16 + c, 24 + c);                                           \
    else                                                                       \
        ACCUM(op, 16 + c);
        FOR_CHUNKS(STEP)
    }
    if (i + 1 < ni) {
#define SAVE(c)                                                                \
    VST(16 + c, acc + c * 4096);                                               \
    VST(24 + c, accidx + c * 4096);
        FOR_CHUNKS(SAVE)
        return;
    }
#define FINISH(c)                                                              \
    if (arg) {                                                                 \
        ARGMAX_FINISH(VRED_SUBLANES, 16 + c, 24 + c);                          \
    } else if (op == RED_SUM) {                                                \
        VRED_SUBLANES(SUM_F32, 5, 16 + c);                                     \
    } else if (op == RED_MAX) {                                                \
        VRED_SUBLANES(MAX_F32, 5, 16 + c);                                     \
    } else {                                                                   \
        VRED_SUBLANES(MIN_F32, 5, 16 + c);                                     \
    }                                                                          \
    VSTS(5, o + c * 512, 0); /* every sublane holds the result */
    FOR_CHUNKS(FINISH)
}

VTPU_BODY(reduce_first_body, k)
{
    reduce_first(k, 0);
}
VTPU_BODY(argmax_first_body, k)
{
    reduce_first(k, 1);
}

VTPU_KERNEL(reduce_first_f32, reduce_first_body,
            .operands = {VTPU_IN(VTPU_F32, first_x, FR, LB),
                         VTPU_OUT(VTPU_F32, first_o, 1, LB)},
            .scratch_vmem = 8 * 4096, .num_scalars = 1);
VTPU_KERNEL(argmax_first_f32, argmax_first_body,
            .operands = {VTPU_IN(VTPU_F32, first_x, FR, LB),
                         VTPU_OUT(VTPU_I32, first_o, 1, LB)},
            .scratch_vmem = 8 * 4096);
