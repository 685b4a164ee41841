/*
 * test_vpu.c - the vector unit (vpu.c) and custom-0/custom-1 (xtpu.c).
 *
 * Most cases execute single instruction words with vtpu_xtpu_exec() on a
 * chip's TC whose vregs hold random data, and compare every element with
 * a host reference written independently here (libm, plain C).  The
 * transcendental functions are measured in ulps against libm in double
 * precision over many random inputs and must stay within the bound
 * docs/isa.md documents.  The last cases run real programs through the
 * decoder and interpreter.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h"
#include "vpu.h"

/* References must round exactly like the spec: no FMA contraction. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define NE VTPU_VREG_ELEMS
#define TEST_PC 0x00100040u
#define VMEM_SIZE (1u << 20)

/* Documented bounds (docs/isa.md, "Accuracy"), in ulps. */
#define ULP_BOUND 1.0

typedef struct fixture {
    vtpu_chip *chip;
    vtpu_tc *tc;
    uint64_t rng;
} fixture;

static int setup(void **state)
{
    alarm(240);
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    cfg.num_tcs = 1;
    cfg.vmem_size = VMEM_SIZE;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        fail_msg("vtpu_chip_new: %s", err);
    fixture *fx = calloc(1, sizeof(*fx));
    fx->chip = chip;
    fx->tc = chip->tcs[0];
    vtpu_tc_reset(fx->tc, 1);
    fx->tc->pc = TEST_PC;
    fx->tc->state = VTPU_TC_RUNNING;
    fx->rng = 0x9E3779B97F4A7C15ull;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    vtpu_chip_free(fx->chip);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* helpers                                                               */
/* ------------------------------------------------------------------ */

static uint32_t X(uint32_t opc, unsigned f7, unsigned f3, unsigned rd,
                  unsigned rs1, unsigned rs2)
{
    return enc_r(opc, f3, f7, rd, rs1, rs2);
}

static uint32_t V0(unsigned f7, unsigned f3, unsigned rd, unsigned rs1,
                   unsigned rs2)
{
    return X(XTPU_OPC_VALU, f7, f3, rd, rs1, rs2);
}

static uint32_t V1(unsigned f7, unsigned f3, unsigned rd, unsigned rs1,
                   unsigned rs2)
{
    return X(XTPU_OPC_VXFER, f7, f3, rd, rs1, rs2);
}

/* Execute one word on the fixture's TC; returns vtpu_xtpu_exec(). */
static int run1(vtpu_tc *tc, uint32_t raw)
{
    assert_true(vtpu_xtpu_valid(raw));
    vtpu_insn in = {0};
    in.imm = (int32_t)raw;
    in.rd = XTPU_RD(raw);
    in.rs1 = XTPU_RS1(raw);
    in.rs2 = XTPU_RS2(raw);
    return vtpu_xtpu_exec(tc, &in);
}

static void exec_ok(vtpu_tc *tc, uint32_t raw)
{
    int r = run1(tc, raw);
    if (r)
        fail_msg("0x%08x faulted: %s", raw, tc->err.detail);
}

static float fb(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bf(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Random f32 from a mix of ranges, with special values sprinkled in. */
static uint32_t rand_f32(uint64_t *s)
{
    static const uint32_t special[] = {
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000,
        0x00000001, 0x807FFFFF, 0x3F800000, 0xBF800000, 0x7F7FFFFF,
        0x4B000000, 0x3F000000, 0xBF000000, 0x3FC00000, 0x40200000};
    uint32_t r = test_rand32(s);
    switch (r % 8) {
    case 0:
        return special[test_rand32(s) % (sizeof(special) / 4)];
    case 1:
        return test_rand32(s); /* any bit pattern */
    case 2: /* small integers and halves: exercises rounding ties */
        return bf((float)((int32_t)(test_rand32(s) % 64) - 32) * 0.5f);
    default:
        return bf(((float)test_rand32(s) / 4294967296.0f - 0.5f) * 200.0f);
    }
}

static void fill_f32(vtpu_tc *tc, unsigned v, uint64_t *s)
{
    for (unsigned i = 0; i < NE; i++)
        tc->vpu->v[v].u[i] = rand_f32(s);
}

static void fill_u32(vtpu_tc *tc, unsigned v, uint64_t *s)
{
    for (unsigned i = 0; i < NE; i++) {
        uint32_t r = test_rand32(s);
        /* mix of small and full-range values so compares see equality */
        tc->vpu->v[v].u[i] = (r & 3) == 0 ? (r >> 8) % 5 - 2 : test_rand32(s);
    }
}

static void fill_mask(vtpu_tc *tc, unsigned m, uint64_t *s)
{
    for (unsigned i = 0; i < NE; i++)
        tc->vpu->m[m][i] = (test_rand32(s) & 1) ? 0xFFFFFFFFu : 0;
}

/* Bitwise equality, any NaN equal to any NaN. */
static int same_f32(uint32_t a, uint32_t b)
{
    if (isnan(fb(a)) && isnan(fb(b)))
        return 1;
    return a == b;
}

#define CHECK_ELEMS(what, got, want, eq)                                     \
    do {                                                                     \
        for (unsigned i_ = 0; i_ < NE; i_++)                                 \
            if (!eq((got)[i_], (want)[i_]))                                  \
                fail_msg("%s: element %u: got 0x%08x want 0x%08x", what, i_, \
                         (got)[i_], (want)[i_]);                             \
    } while (0)

static int same_u32(uint32_t a, uint32_t b)
{
    return a == b;
}

/* ------------------------------------------------------------------ */
/* host references                                                       */
/* ------------------------------------------------------------------ */

static uint32_t ref_min_f32(uint32_t a, uint32_t b)
{
    float x = fb(a), y = fb(b);
    if (isnan(x) || isnan(y))
        return 0x7FC00000;
    if (x == y)
        return signbit(x) ? a : b;
    return x < y ? a : b;
}

static uint32_t ref_max_f32(uint32_t a, uint32_t b)
{
    float x = fb(a), y = fb(b);
    if (isnan(x) || isnan(y))
        return 0x7FC00000;
    if (x == y)
        return signbit(x) ? b : a;
    return x > y ? a : b;
}

static uint32_t ref_binary(unsigned f7, unsigned t, uint32_t a, uint32_t b)
{
    float x = fb(a), y = fb(b);
    int32_t ia = (int32_t)a, ib = (int32_t)b;
    switch (f7 << 2 | t) {
    case XTPU_VADD << 2 | XTPU_T_F32: return bf(x + y);
    case XTPU_VADD << 2 | XTPU_T_I32: return a + b;
    case XTPU_VSUB << 2 | XTPU_T_F32: return bf(x - y);
    case XTPU_VSUB << 2 | XTPU_T_I32: return a - b;
    case XTPU_VMUL << 2 | XTPU_T_F32: return bf(x * y);
    case XTPU_VMUL << 2 | XTPU_T_I32: return a * b;
    case XTPU_VDIV << 2 | XTPU_T_F32: return bf(x / y);
    case XTPU_VMIN << 2 | XTPU_T_F32: return ref_min_f32(a, b);
    case XTPU_VMIN << 2 | XTPU_T_I32: return (uint32_t)(ia < ib ? ia : ib);
    case XTPU_VMIN << 2 | XTPU_T_U32: return a < b ? a : b;
    case XTPU_VMAX << 2 | XTPU_T_F32: return ref_max_f32(a, b);
    case XTPU_VMAX << 2 | XTPU_T_I32: return (uint32_t)(ia > ib ? ia : ib);
    case XTPU_VMAX << 2 | XTPU_T_U32: return a > b ? a : b;
    case XTPU_VAND << 2: return a & b;
    case XTPU_VOR << 2: return a | b;
    case XTPU_VXOR << 2: return a ^ b;
    case XTPU_VSLL << 2: return a << (b % 32);
    case XTPU_VSRL << 2: return a >> (b % 32);
    case XTPU_VSRA << 2: {
        unsigned sh = b % 32;
        uint32_t r = a >> sh;
        if ((a & 0x80000000u) && sh)
            r |= ~(0xFFFFFFFFu >> sh);
        return r;
    }
    }
    fail_msg("no reference for binary %#x.%u", f7, t);
    return 0;
}

static uint32_t ref_cvt_i32(float x)
{
    if (isnan(x))
        return 0;
    if (x >= 2147483648.0f)
        return 0x7FFFFFFFu;
    if (x < -2147483648.0f)
        return 0x80000000u;
    return (uint32_t)(int32_t)x;
}

static uint32_t ref_unary(unsigned f7, unsigned t, uint32_t a)
{
    float x = fb(a);
    switch (f7 << 3 | t) {
    case XTPU_VNEG << 3 | XTPU_T_F32: return bf(-x);
    case XTPU_VNEG << 3 | XTPU_T_I32: return 0u - a;
    case XTPU_VABS << 3 | XTPU_T_F32: return bf(fabsf(x));
    case XTPU_VABS << 3 | XTPU_T_I32:
        return (a & 0x80000000u) ? 0u - a : a;
    case XTPU_VNOT << 3: return ~a;
    case XTPU_VCVT << 3 | XTPU_CVT_F32_I32_RTZ: return ref_cvt_i32(x);
    case XTPU_VCVT << 3 | XTPU_CVT_F32_I32_RNE: return ref_cvt_i32(rintf(x));
    case XTPU_VCVT << 3 | XTPU_CVT_I32_F32: return bf((float)(int32_t)a);
    case XTPU_VCVT << 3 | XTPU_CVT_U32_F32: return bf((float)a);
    case XTPU_VFLOOR << 3: return bf(floorf(x));
    case XTPU_VCEIL << 3: return bf(ceilf(x));
    case XTPU_VTRUNC << 3: return bf(truncf(x));
    case XTPU_VROUND << 3: return bf(rintf(x));
    case XTPU_VSQRT << 3: return bf(sqrtf(x));
    case XTPU_VRECIP << 3: return bf(1.0f / x);
    }
    fail_msg("no reference for unary %#x.%u", f7, t);
    return 0;
}

/* bf16 by comparing distances to the two neighbours, in double. */
static uint16_t ref_bf16(uint32_t u)
{
    float f = fb(u);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x40);
    if (isinf(f))
        return (uint16_t)(u >> 16);
    /* lo: toward zero, hi: away from zero (2^128 past the largest) */
    uint32_t lo = u & 0xFFFF0000u, hi = lo + 0x10000u;
    double af = fabs((double)f), vl = fabs((double)fb(lo));
    double vh = (hi & 0x7F800000u) == 0x7F800000u ? ldexp(1.0, 128)
                                                  : fabs((double)fb(hi));
    double dl = af - vl, dh = vh - af;
    if (dl < dh || (dl == dh && ((lo >> 16) & 1) == 0))
        return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

/* ------------------------------------------------------------------ */
/* element-wise                                                           */
/* ------------------------------------------------------------------ */

static void test_binary(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    static const unsigned ops[][2] = {
        {XTPU_VADD, 0}, {XTPU_VADD, 1}, {XTPU_VSUB, 0}, {XTPU_VSUB, 1},
        {XTPU_VMUL, 0}, {XTPU_VMUL, 1}, {XTPU_VDIV, 0}, {XTPU_VMIN, 0},
        {XTPU_VMIN, 1}, {XTPU_VMIN, 2}, {XTPU_VMAX, 0}, {XTPU_VMAX, 1},
        {XTPU_VMAX, 2}, {XTPU_VAND, 0}, {XTPU_VOR, 0},  {XTPU_VXOR, 0},
        {XTPU_VSLL, 0}, {XTPU_VSRL, 0}, {XTPU_VSRA, 0}};
    uint32_t want[NE];

    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        unsigned f7 = ops[k][0], t = ops[k][1];
        for (unsigned rep = 0; rep < 4; rep++) {
            bool fp = t == XTPU_T_F32 && f7 <= XTPU_VMAX;
            if (fp) {
                fill_f32(tc, 1, &fx->rng);
                fill_f32(tc, 2, &fx->rng);
            } else {
                fill_u32(tc, 1, &fx->rng);
                fill_u32(tc, 2, &fx->rng);
            }
            /* rep 1: vd == va; rep 2: vd == vb; rep 3: va == vb */
            unsigned d = rep == 1 ? 1 : rep == 2 ? 2 : 3;
            unsigned b = rep == 3 ? 1 : 2;
            for (unsigned i = 0; i < NE; i++)
                want[i] = ref_binary(f7, t, tc->vpu->v[1].u[i],
                                     tc->vpu->v[b].u[i]);
            exec_ok(tc, V0(f7, t, d, 1, b));
            char what[64];
            snprintf(what, sizeof(what), "binary %#x.%u rep %u", f7, t, rep);
            CHECK_ELEMS(what, tc->vpu->v[d].u, want, same_f32);
        }
    }
}

static void test_unary(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    static const unsigned ops[][2] = {
        {XTPU_VNEG, 0},   {XTPU_VNEG, 1},  {XTPU_VABS, 0},   {XTPU_VABS, 1},
        {XTPU_VNOT, 0},   {XTPU_VCVT, 0},  {XTPU_VCVT, 1},   {XTPU_VCVT, 2},
        {XTPU_VCVT, 3},   {XTPU_VFLOOR, 0}, {XTPU_VCEIL, 0}, {XTPU_VTRUNC, 0},
        {XTPU_VROUND, 0}, {XTPU_VSQRT, 0}, {XTPU_VRECIP, 0}};
    uint32_t want[NE];

    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        unsigned f7 = ops[k][0], t = ops[k][1];
        for (unsigned rep = 0; rep < 4; rep++) {
            if (t == XTPU_T_F32 || f7 == XTPU_VCVT) {
                fill_f32(tc, 5, &fx->rng);
                if (f7 == XTPU_VCVT && t <= 1 && rep == 3)
                    for (unsigned i = 0; i < NE; i += 3) /* near limits */
                        tc->vpu->v[5].f[i] = (i & 4 ? -1.0f : 1.0f) *
                                             ldexpf(1.0f + i / 4096.0f, 30);
            }
            if (f7 == XTPU_VCVT ? t >= 2 : t != XTPU_T_F32)
                fill_u32(tc, 5, &fx->rng);
            unsigned d = rep & 1 ? 5 : 6;
            for (unsigned i = 0; i < NE; i++)
                want[i] = ref_unary(f7, t, tc->vpu->v[5].u[i]);
            exec_ok(tc, V0(f7, t, d, 5, 0));
            char what[64];
            snprintf(what, sizeof(what), "unary %#x.%u", f7, t);
            CHECK_ELEMS(what, tc->vpu->v[d].u, want, same_f32);
        }
    }
}

static void test_compare_select(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    uint32_t want[NE];

    for (unsigned ty = 0; ty < 3; ty++) {
        for (unsigned c = 0; c <= XTPU_CMP_GE; c++) {
            if (ty == 0) {
                fill_f32(tc, 1, &fx->rng);
                fill_f32(tc, 2, &fx->rng);
                for (unsigned i = 0; i < NE; i += 7) /* equal pairs */
                    tc->vpu->v[2].u[i] = tc->vpu->v[1].u[i];
            } else {
                fill_u32(tc, 1, &fx->rng);
                fill_u32(tc, 2, &fx->rng);
            }
            for (unsigned i = 0; i < NE; i++) {
                uint32_t a = tc->vpu->v[1].u[i], b = tc->vpu->v[2].u[i];
                int lt, eq, un = 0;
                if (ty == 0) {
                    float x = fb(a), y = fb(b);
                    un = isnan(x) || isnan(y);
                    lt = x < y;
                    eq = x == y;
                } else if (ty == 1) {
                    lt = (int32_t)a < (int32_t)b;
                    eq = a == b;
                } else {
                    lt = a < b;
                    eq = a == b;
                }
                int r[] = {eq, !eq, lt, lt || eq, !un && !lt && !eq,
                           !un && !lt};
                want[i] = r[c] ? 0xFFFFFFFFu : 0;
            }
            unsigned md = (ty * 6 + c) % 8;
            exec_ok(tc, V0(XTPU_VCMP_F32 + ty, c, md, 1, 2));
            CHECK_ELEMS("compare", tc->vpu->m[md], want, same_u32);
        }
    }
    /* select with every mask register */
    for (unsigned m = 0; m < 8; m++) {
        fill_mask(tc, m, &fx->rng);
        fill_u32(tc, 3, &fx->rng);
        fill_u32(tc, 4, &fx->rng);
        for (unsigned i = 0; i < NE; i++)
            want[i] = tc->vpu->m[m][i] ? tc->vpu->v[3].u[i]
                                       : tc->vpu->v[4].u[i];
        exec_ok(tc, V0(XTPU_VSEL, m, 4, 3, 4));
        CHECK_ELEMS("select", tc->vpu->v[4].u, want, same_u32);
    }
}

static void test_muladd(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    uint32_t want[NE];

    for (unsigned f2 = 0; f2 < 4; f2++) {
        fill_f32(tc, 7, &fx->rng);
        fill_f32(tc, 8, &fx->rng);
        fill_f32(tc, 9, &fx->rng);
        for (unsigned i = 0; i < NE; i++) {
            uint32_t a = tc->vpu->v[7].u[i], b = tc->vpu->v[8].u[i];
            uint32_t c = tc->vpu->v[9].u[i];
            float p = fb(a) * fb(b); /* rounded: the spec has two roundings */
            switch (f2) {
            case XTPU_MULADD_F32: want[i] = bf(p + fb(c)); break;
            case XTPU_MULSUB_F32: want[i] = bf(p - fb(c)); break;
            case XTPU_NMULSUB_F32: want[i] = bf(fb(c) - p); break;
            default: want[i] = a * b + c; break;
            }
        }
        exec_ok(tc, enc_r4(XTPU_OPC_MXU, XTPU_F3_R4, f2, 9, 7, 8, 9));
        CHECK_ELEMS("muladd", tc->vpu->v[9].u, want, same_f32);
    }
}

/* ------------------------------------------------------------------ */
/* packing                                                               */
/* ------------------------------------------------------------------ */

static uint32_t half(const uint32_t *w, unsigned e)
{
    return (w[e / 2] >> (16 * (e % 2))) & 0xFFFF;
}

static void test_bf16(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;

    fill_f32(tc, 1, &fx->rng);
    fill_f32(tc, 2, &fx->rng);
    /* exact ties, both parities, rounding to inf, NaNs with payloads */
    static const uint32_t edge[] = {0x3F808000, 0x3F818000, 0x3F80C000,
                                    0x3F807FFF, 0x7F7FFFFF, 0x7F7F8000,
                                    0xFF7FC000, 0x7F800001, 0xFFC12345,
                                    0x00008000, 0x80018000, 0x7F800000};
    for (unsigned i = 0; i < sizeof(edge) / 4; i++)
        p->v[1].u[i * 5] = edge[i];
    uint32_t a[NE], b[NE];
    memcpy(a, p->v[1].u, sizeof(a));
    memcpy(b, p->v[2].u, sizeof(b));

    exec_ok(tc, V0(XTPU_VPACK, XTPU_PACK_BF16, 2, 1, 2)); /* vd == vb */
    for (unsigned e = 0; e < 2 * NE; e++) {
        uint32_t src = e < NE ? a[e] : b[e - NE];
        uint32_t got = half(p->v[2].u, e), want = ref_bf16(src);
        if (got != want)
            fail_msg("bf16 pack element %u of 0x%08x: got 0x%04x want 0x%04x",
                     e, src, got, want);
    }
    for (unsigned h = 0; h < 2; h++) {
        exec_ok(tc, V0(XTPU_VUNPACK, XTPU_UNPACK_BF16_LO + h, 3, 2, 0));
        for (unsigned i = 0; i < NE; i++) {
            uint32_t want = (uint32_t)ref_bf16(h ? b[i] : a[i]) << 16;
            if (p->v[3].u[i] != want)
                fail_msg("bf16 unpack %u element %u: got 0x%08x want 0x%08x",
                         h, i, p->v[3].u[i], want);
        }
    }
}

static int32_t clampi(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static void test_int_pack(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;
    int32_t src[4][NE];

    for (unsigned v = 0; v < 4; v++) {
        for (unsigned i = 0; i < NE; i++) {
            uint32_t r = test_rand32(&fx->rng);
            /* mostly in the i8 range, some beyond i8 and i16 */
            int32_t x = (int32_t)(r >> 8) % 300 - 150;
            if ((r & 15) == 0)
                x = (int32_t)test_rand32(&fx->rng);
            src[v][i] = x;
            p->v[10 + v].i[i] = x;
        }
    }
    /* i16: v14 = pack(v10, v11), v15 = pack(v12, v13) */
    exec_ok(tc, V0(XTPU_VPACK, XTPU_PACK_I16, 14, 10, 11));
    exec_ok(tc, V0(XTPU_VPACK, XTPU_PACK_I16, 15, 12, 13));
    for (unsigned e = 0; e < 2 * NE; e++) {
        int32_t want = clampi(e < NE ? src[0][e] : src[1][e - NE], -32768,
                              32767);
        assert_int_equal((int16_t)half(p->v[14].u, e), want);
    }
    for (unsigned h = 0; h < 2; h++) {
        exec_ok(tc, V0(XTPU_VUNPACK, XTPU_UNPACK_I16_LO + h, 16, 15, 0));
        for (unsigned i = 0; i < NE; i++)
            assert_int_equal(p->v[16].i[i],
                             clampi(src[2 + h][i], -32768, 32767));
    }
    /* i8: v17 = pack(v14, v15): 4096 elements, src[0..3] in order */
    exec_ok(tc, V0(XTPU_VPACK, XTPU_PACK_I8, 17, 14, 15));
    for (unsigned e = 0; e < 4 * NE; e++) {
        int32_t want = clampi(clampi(src[e / NE][e % NE], -32768, 32767),
                              -128, 127);
        int8_t got = (int8_t)(p->v[17].u[e / 4] >> (8 * (e % 4)));
        if (got != want)
            fail_msg("i8 pack element %u: got %d want %d", e, got, want);
    }
    for (unsigned q = 0; q < 4; q++) {
        unsigned d = q == 3 ? 17 : 16; /* the last one in place */
        exec_ok(tc, V0(XTPU_VUNPACK, XTPU_UNPACK_I8_Q0 + q, d, 17, 0));
        for (unsigned i = 0; i < NE; i++)
            assert_int_equal(p->v[d].i[i],
                             clampi(src[q][i], -128, 127));
    }
}

/* ------------------------------------------------------------------ */
/* transcendental accuracy                                               */
/* ------------------------------------------------------------------ */

/* Error of f32 `got` against the exact `want`, in ulps of the f32 grid at
 * want (the subnormal spacing below the normal range). */
static double ulp_err(float got, double want)
{
    if (isnan(want))
        return isnan(got) ? 0 : INFINITY;
    if (isinf(want) || isinf(got)) {
        if (got == want)
            return 0;
        /* overflow boundary: fine if want is beyond FLT_MAX by < 0.5 ulp */
        double big = ldexp(1.0, 128);
        if (isinf(got) && fabs(want) >= big - ldexp(1.0, 103))
            return (big - fabs(want)) / ldexp(1.0, 104);
        return INFINITY;
    }
    int e;
    frexp(want, &e); /* want = m * 2^e, m in [0.5, 1) */
    if (e < -125)
        e = -125;
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

typedef double (*ref_fn)(double);

static double ref_rsqrt(double x)
{
    return 1.0 / sqrt(x);
}

static double ref_logistic(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double ref_recip(double x)
{
    return 1.0 / x;
}

/* Max ulp error of op over `batches` of random inputs from gen(). */
static double measure(fixture *fx, unsigned op, ref_fn ref,
                      float (*gen)(uint64_t *), unsigned batches,
                      float *worst_x)
{
    float *in = malloc(NE * 4), *out = malloc(NE * 4);
    double worst = 0;
    for (unsigned b = 0; b < batches; b++) {
        for (unsigned i = 0; i < NE; i++)
            in[i] = gen(&fx->rng);
        vtpu_vmath_unary(op, out, in);
        for (unsigned i = 0; i < NE; i++) {
            double e = ulp_err(out[i], ref((double)in[i]));
            if (e > worst || isnan(e)) {
                worst = e;
                *worst_x = in[i];
            }
        }
    }
    free(in);
    free(out);
    return worst;
}

static float unit_rand(uint64_t *s)
{
    return (float)((double)test_rand32(s) / 4294967296.0);
}

static float g_exp(uint64_t *s)
{
    return -104.0f + 194.0f * unit_rand(s);
}

static float g_small(uint64_t *s)
{
    /* tiny to moderate magnitudes of both signs, log-uniform */
    float m = ldexpf(1.0f + unit_rand(s), -(int)(test_rand32(s) % 40));
    return test_rand32(s) & 1 ? m : -m;
}

static float g_pos_any(uint64_t *s)
{
    uint32_t u = test_rand32(s) & 0x7FFFFFFFu;
    return u >= 0x7F800000u ? 1.5f : fb(u); /* all finite positives */
}

static float g_near1(uint64_t *s)
{
    return 1.0f + (unit_rand(s) - 0.5f) * 0.01f;
}

static float g_trig(uint64_t *s)
{
    uint32_t r = test_rand32(s) % 4;
    if (r == 0) /* near multiples of pi/2, where reduction is hardest */
        return (float)((double)(int32_t)(test_rand32(s) % 20001 - 10000) *
                       1.5707963267948966) +
               (unit_rand(s) - 0.5f) * 1e-3f;
    if (r == 1)
        return (unit_rand(s) - 0.5f) * 20.0f;
    if (r == 2)
        return (unit_rand(s) - 0.5f) * 2e6f;
    uint32_t u = test_rand32(s) & 0xFFFFFFFFu; /* any finite float */
    return (u & 0x7F800000u) == 0x7F800000u ? 3.0f : fb(u);
}

static float g_tanh(uint64_t *s)
{
    return test_rand32(s) & 1 ? (unit_rand(s) - 0.5f) * 24.0f : g_small(s);
}

static float g_logistic(uint64_t *s)
{
    return (unit_rand(s) - 0.5f) * 240.0f;
}

static float g_any_finite(uint64_t *s)
{
    uint32_t u = test_rand32(s);
    return (u & 0x7F800000u) == 0x7F800000u ? 2.0f : fb(u);
}

static void check_bound(const char *name, double worst, float x)
{
    printf("  %-10s max error %.6f ulp (at %a)\n", name, worst, (double)x);
    if (!(worst <= ULP_BOUND))
        fail_msg("%s: %.4f ulp at x = %a exceeds the documented %.1f", name,
                 worst, (double)x, ULP_BOUND);
}

static void test_math_accuracy(void **state)
{
    fixture *fx = *state;
    float x = 0;
    const unsigned B = 500; /* 512000 inputs per distribution */
    struct {
        const char *name;
        unsigned op;
        ref_fn ref;
        float (*gen)(uint64_t *);
    } cases[] = {
        {"exp", XTPU_VEXP, exp, g_exp},
        {"exp small", XTPU_VEXP, exp, g_small},
        {"log", XTPU_VLOG, log, g_pos_any},
        {"log ~1", XTPU_VLOG, log, g_near1},
        {"tanh", XTPU_VTANH, tanh, g_tanh},
        {"logistic", XTPU_VLOGISTIC, ref_logistic, g_logistic},
        {"logistic0", XTPU_VLOGISTIC, ref_logistic, g_small},
        {"sin", XTPU_VSIN, sin, g_trig},
        {"sin small", XTPU_VSIN, sin, g_small},
        {"cos", XTPU_VCOS, cos, g_trig},
        {"cos small", XTPU_VCOS, cos, g_small},
        {"rsqrt", XTPU_VRSQRT, ref_rsqrt, g_pos_any},
        {"recip", XTPU_VRECIP, ref_recip, g_any_finite},
        {"sqrt", XTPU_VSQRT, sqrt, g_pos_any},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double w = measure(fx, cases[i].op, cases[i].ref, cases[i].gen, B, &x);
        check_bound(cases[i].name, w, x);
    }
}

static void test_math_special(void **state)
{
    (void)state;
    const float inf = INFINITY, nan = NAN;
    struct {
        unsigned op;
        float x, want;
    } cases[] = {
        {XTPU_VEXP, nan, nan},       {XTPU_VEXP, inf, inf},
        {XTPU_VEXP, -inf, 0},        {XTPU_VEXP, 0, 1},
        {XTPU_VEXP, -0.0f, 1},       {XTPU_VEXP, 89, inf},
        {XTPU_VEXP, -104, 0},
        {XTPU_VLOG, 0, -inf},        {XTPU_VLOG, -0.0f, -inf},
        {XTPU_VLOG, -1, nan},        {XTPU_VLOG, inf, inf},
        {XTPU_VLOG, 1, 0},           {XTPU_VLOG, nan, nan},
        {XTPU_VTANH, inf, 1},        {XTPU_VTANH, -inf, -1},
        {XTPU_VTANH, -0.0f, -0.0f},  {XTPU_VTANH, nan, nan},
        {XTPU_VTANH, 0x1p-149f, 0x1p-149f},
        {XTPU_VLOGISTIC, inf, 1},    {XTPU_VLOGISTIC, -inf, 0},
        {XTPU_VLOGISTIC, 0, 0.5f},   {XTPU_VLOGISTIC, nan, nan},
        {XTPU_VSIN, inf, nan},       {XTPU_VSIN, -inf, nan},
        {XTPU_VSIN, nan, nan},       {XTPU_VSIN, -0.0f, -0.0f},
        {XTPU_VCOS, inf, nan},       {XTPU_VCOS, 0, 1},
        {XTPU_VRSQRT, 0, inf},       {XTPU_VRSQRT, -0.0f, -inf},
        {XTPU_VRSQRT, -1, nan},      {XTPU_VRSQRT, inf, 0},
        {XTPU_VRECIP, 0, inf},       {XTPU_VRECIP, -0.0f, -inf},
        {XTPU_VRECIP, -inf, -0.0f},  {XTPU_VSQRT, -0.0f, -0.0f},
    };
    float in[NE], out[NE];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (unsigned j = 0; j < NE; j++)
            in[j] = cases[i].x;
        vtpu_vmath_unary(cases[i].op, out, in);
        if (!same_f32(bf(out[0]), bf(cases[i].want)))
            fail_msg("op %#x of %a: got %a want %a", cases[i].op,
                     (double)cases[i].x, (double)out[0],
                     (double)cases[i].want);
    }
}

static void test_pow(void **state)
{
    fixture *fx = *state;
    float a[NE], b[NE], out[NE];
    double worst = 0;
    float wx = 0, wy = 0;

    for (unsigned batch = 0; batch < 500; batch++) {
        for (unsigned i = 0; i < NE; i++) {
            a[i] = batch % 2 ? unit_rand(&fx->rng) * 100.0f
                             : g_pos_any(&fx->rng);
            b[i] = (unit_rand(&fx->rng) - 0.5f) * (batch % 2 ? 40.0f : 4.0f);
            if (i % 5 == 0) { /* negative bases with integer exponents */
                a[i] = -a[i];
                b[i] = rintf(b[i]);
            }
        }
        vtpu_vmath_pow(out, a, b);
        for (unsigned i = 0; i < NE; i++) {
            double e = ulp_err(out[i], pow((double)a[i], (double)b[i]));
            if (e > worst || isnan(e)) {
                worst = e;
                wx = a[i];
                wy = b[i];
            }
        }
    }
    printf("  %-10s max error %.6f ulp (at %a, %a)\n", "pow", worst,
           (double)wx, (double)wy);
    if (!(worst <= ULP_BOUND))
        fail_msg("pow: %.4f ulp at (%a, %a)", worst, (double)wx, (double)wy);

    /* C99 Annex F special cases, against the host's powf */
    static const float sv[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.5f,
                               -0.5f, 3.0f, -3.0f, 2.5f, -2.5f, INFINITY,
                               -INFINITY, NAN, 1e-30f, 1e30f};
    const unsigned n = sizeof(sv) / sizeof(sv[0]);
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++, k++) {
            a[k] = sv[i];
            b[k] = sv[j];
        }
    vtpu_vmath_pow(out, a, b);
    for (unsigned i = 0; i < k; i++) {
        float want = powf(a[i], b[i]);
        if (!same_f32(bf(out[i]), bf(want)) &&
            ulp_err(out[i], pow((double)a[i], (double)b[i])) > ULP_BOUND)
            fail_msg("pow(%a, %a) = %a, want %a", (double)a[i], (double)b[i],
                     (double)out[i], (double)want);
    }
}

/* The instruction path of the math ops (VEXP ... VPOW) incl. vd == va. */
static void test_math_insns(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    static const unsigned ops[] = {XTPU_VSQRT, XTPU_VRSQRT, XTPU_VRECIP,
                                   XTPU_VEXP,  XTPU_VLOG,   XTPU_VTANH,
                                   XTPU_VLOGISTIC, XTPU_VSIN, XTPU_VCOS};
    float want[NE];
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        fill_f32(tc, 20, &fx->rng);
        vtpu_vmath_unary(ops[k], want, tc->vpu->v[20].f);
        exec_ok(tc, V0(ops[k], 0, 20, 20, 0));
        CHECK_ELEMS("math insn", tc->vpu->v[20].u, (uint32_t *)want,
                    same_f32);
    }
    fill_f32(tc, 21, &fx->rng);
    fill_f32(tc, 22, &fx->rng);
    vtpu_vmath_pow(want, tc->vpu->v[21].f, tc->vpu->v[22].f);
    exec_ok(tc, V0(XTPU_VPOW, 0, 22, 21, 22));
    CHECK_ELEMS("vpow", tc->vpu->v[22].u, (uint32_t *)want, same_f32);
}

/* ------------------------------------------------------------------ */
/* cross-lane, scalar, masks                                             */
/* ------------------------------------------------------------------ */

static void test_iota_bcast_ext_ins(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;

    tc->x[5] = 1000;
    for (unsigned k = 0; k < 3; k++) {
        exec_ok(tc, V1(XTPU_VIOTA, k, 4, 5, 0));
        for (unsigned i = 0; i < NE; i++) {
            uint32_t idx = k == 0 ? i % 128 : k == 1 ? i / 128 : i;
            assert_int_equal(p->v[4].u[i], idx + 1000);
        }
    }
    tc->x[6] = 0xDEADBEEF;
    tc->f[7] = bf(-2.5f);
    exec_ok(tc, V1(XTPU_VBCAST, 0, 8, 6, 0));
    exec_ok(tc, V1(XTPU_VBCAST, 1, 9, 7, 0));
    for (unsigned i = 0; i < NE; i++) {
        assert_int_equal(p->v[8].u[i], 0xDEADBEEF);
        assert_int_equal(p->v[9].u[i], bf(-2.5f));
    }
    fill_u32(tc, 10, &fx->rng);
    for (unsigned t = 0; t < 50; t++) {
        uint32_t idx = test_rand32(&fx->rng);
        tc->x[11] = idx;
        exec_ok(tc, V1(XTPU_VEXT, 0, 12, 10, 11));
        assert_int_equal(tc->x[12], p->v[10].u[idx % NE]);
        exec_ok(tc, V1(XTPU_VEXT, 1, 3, 10, 11));
        assert_int_equal(tc->f[3], p->v[10].u[idx % NE]);
        tc->x[13] = test_rand32(&fx->rng);
        exec_ok(tc, V1(XTPU_VINS, 0, 10, 13, 11));
        assert_int_equal(p->v[10].u[idx % NE], tc->x[13]);
        tc->f[14] = test_rand32(&fx->rng);
        exec_ok(tc, V1(XTPU_VINS, 1, 10, 14, 11));
        assert_int_equal(p->v[10].u[idx % NE], tc->f[14]);
    }
    /* rd = x0 is not written */
    exec_ok(tc, V1(XTPU_VEXT, 0, 0, 10, 11));
    assert_int_equal(tc->x[0], 0);
}

static void test_rotate(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;
    uint32_t src[NE];

    for (unsigned t = 0; t < 40; t++) {
        fill_u32(tc, 1, &fx->rng);
        memcpy(src, p->v[1].u, sizeof(src));
        int32_t k = (int32_t)(test_rand32(&fx->rng) % 600) - 300;
        tc->x[2] = (uint32_t)k;
        unsigned d = t % 2 ? 1 : 3;
        bool lanes = t % 4 < 2;
        exec_ok(tc, V1(lanes ? XTPU_VROTL : XTPU_VROTS, 0, d, 1, 2));
        for (unsigned s = 0; s < 8; s++)
            for (unsigned l = 0; l < 128; l++) {
                unsigned from = lanes ? s * 128 + (unsigned)((l - k) & 127)
                                      : ((unsigned)(s - k) & 7) * 128 + l;
                if (p->v[d].u[s * 128 + l] != src[from])
                    fail_msg("rot %s by %d: (%u,%u)", lanes ? "lanes" : "sub",
                             k, s, l);
            }
    }
}

static uint32_t tree(const uint32_t *x, unsigned n, unsigned stride,
                     unsigned op)
{
    uint32_t w[128];
    for (unsigned i = 0; i < n; i++)
        w[i] = x[i * stride];
    for (unsigned h = n / 2; h >= 1; h /= 2)
        for (unsigned j = 0; j < h; j++) {
            uint32_t a = w[j], b = w[j + h];
            switch (op) {
            case XTPU_RED_SUM_F32: w[j] = bf(fb(a) + fb(b)); break;
            case XTPU_RED_MAX_F32: w[j] = ref_max_f32(a, b); break;
            case XTPU_RED_MIN_F32: w[j] = ref_min_f32(a, b); break;
            case XTPU_RED_SUM_I32: w[j] = a + b; break;
            case XTPU_RED_MAX_I32:
                w[j] = (int32_t)a > (int32_t)b ? a : b;
                break;
            default: w[j] = (int32_t)a < (int32_t)b ? a : b; break;
            }
        }
    return w[0];
}

static void test_reduce(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;
    static const unsigned ops[] = {0, 1, 2, 4, 5, 6};
    uint32_t src[NE];

    for (unsigned ax = 0; ax < 2; ax++)
        for (unsigned k = 0; k < 6; k++)
            for (unsigned rep = 0; rep < 3; rep++) {
                unsigned op = ops[k];
                if (op < 4) {
                    /* finite values (rep 2: also NaN/inf/zeros) */
                    for (unsigned i = 0; i < NE; i++)
                        p->v[1].u[i] = rep == 2 ? rand_f32(&fx->rng)
                                                : bf((unit_rand(&fx->rng) -
                                                      0.5f) * 1000.0f);
                } else {
                    fill_u32(tc, 1, &fx->rng);
                }
                memcpy(src, p->v[1].u, sizeof(src));
                unsigned d = rep == 1 ? 1 : 2;
                exec_ok(tc, V1(ax ? XTPU_VREDS : XTPU_VREDL, op, d, 1, 0));
                for (unsigned s = 0; s < 8; s++)
                    for (unsigned l = 0; l < 128; l++) {
                        uint32_t want = ax ? tree(src + l, 8, 128, op)
                                           : tree(src + s * 128, 128, 1, op);
                        if (!same_f32(p->v[d].u[s * 128 + l], want))
                            fail_msg("reduce ax %u op %u (%u,%u): 0x%08x "
                                     "want 0x%08x", ax, op, s, l,
                                     p->v[d].u[s * 128 + l], want);
                    }
            }
}

static void test_transpose(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;
    static uint32_t m[128][128];

    /* 128x128 from v3..v18 into v5..v20 (overlapping groups) */
    for (unsigned v = 3; v < 19; v++)
        fill_u32(tc, v, &fx->rng);
    for (unsigned r = 0; r < 128; r++)
        for (unsigned c = 0; c < 128; c++)
            m[r][c] = p->v[3 + r / 8].u[(r % 8) * 128 + c];
    exec_ok(tc, V1(XTPU_VXPOSE, XTPU_XPOSE_128, 5, 3, 0));
    for (unsigned r = 0; r < 128; r++)
        for (unsigned c = 0; c < 128; c++)
            if (p->v[5 + r / 8].u[(r % 8) * 128 + c] != m[c][r])
                fail_msg("transpose128 (%u,%u)", r, c);
    /* 8x8 tiles, in place */
    fill_u32(tc, 30, &fx->rng);
    uint32_t src[NE];
    memcpy(src, p->v[30].u, sizeof(src));
    exec_ok(tc, V1(XTPU_VXPOSE, XTPU_XPOSE_8, 30, 30, 0));
    for (unsigned s = 0; s < 8; s++)
        for (unsigned l = 0; l < 128; l++)
            assert_int_equal(p->v[30].u[s * 128 + l],
                             src[(l % 8) * 128 + (l / 8) * 8 + s]);
    /* group must fit in the register file */
    assert_false(vtpu_xtpu_valid(V1(XTPU_VXPOSE, 0, 17, 0, 0)));
    assert_false(vtpu_xtpu_valid(V1(XTPU_VXPOSE, 0, 0, 17, 0)));
}

static void test_masks(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;
    uint32_t want[NE];

    for (unsigned op = 0; op <= XTPU_M_CLR; op++) {
        fill_mask(tc, 1, &fx->rng);
        fill_mask(tc, 2, &fx->rng);
        unsigned a = op >= XTPU_M_SET ? 0 : 1;
        unsigned b = op >= XTPU_M_NOT ? 0 : 2;
        for (unsigned i = 0; i < NE; i++) {
            uint32_t x = p->m[1][i], y = p->m[2][i];
            uint32_t r[] = {x & y, x | y, x ^ y, x & ~y, ~x, ~0u, 0};
            want[i] = r[op];
        }
        exec_ok(tc, V1(XTPU_MLOGIC, op, 3, a, b));
        CHECK_ELEMS("mask logic", p->m[3], want, same_u32);
    }
    fill_u32(tc, 4, &fx->rng);
    p->v[4].u[0] = 0x80000000u; /* -0.0f counts as non-zero bits */
    exec_ok(tc, V1(XTPU_MFROMV, 0, 5, 4, 0));
    uint32_t n = 0;
    for (unsigned i = 0; i < NE; i++) {
        want[i] = p->v[4].u[i] ? ~0u : 0;
        n += p->v[4].u[i] != 0;
    }
    CHECK_ELEMS("mask from vreg", p->m[5], want, same_u32);
    static const uint32_t one[] = {0xFFFFFFFFu, 1u, 0x3F800000u};
    for (unsigned k = 0; k < 3; k++) {
        exec_ok(tc, V1(XTPU_MTOV, k, 6, 5, 0));
        for (unsigned i = 0; i < NE; i++)
            assert_int_equal(p->v[6].u[i], p->v[4].u[i] ? one[k] : 0);
    }
    exec_ok(tc, V1(XTPU_MCOUNT, 0, 9, 5, 0));
    assert_int_equal(tc->x[9], n);
    /* mask fields beyond m7 are not encodings */
    assert_false(vtpu_xtpu_valid(V1(XTPU_MLOGIC, 0, 8, 1, 2)));
    assert_false(vtpu_xtpu_valid(V0(XTPU_VCMP_F32, 0, 8, 1, 2)));
    assert_false(vtpu_xtpu_valid(V1(XTPU_MCOUNT, 0, 9, 8, 0)));
}

/* ------------------------------------------------------------------ */
/* VMEM                                                                  */
/* ------------------------------------------------------------------ */

static void test_load_store(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    vtpu_vpu *p = tc->vpu;
    uint8_t *vm = tc->vmem;

    for (uint32_t i = 0; i < VMEM_SIZE / 4; i++) {
        uint32_t v = i * 2654435761u;
        memcpy(vm + 4 * i, &v, 4);
    }
    static const int32_t strides[] = {512, 0, -512, 4, 1024, -12, 4096};
    for (size_t k = 0; k < sizeof(strides) / 4; k++) {
        int32_t st = strides[k];
        uint32_t off = 0x40000 + 4 * (test_rand32(&fx->rng) % 4096);
        tc->x[10] = VTPU_VMEM_BASE + off;
        tc->x[11] = (uint32_t)st;
        exec_ok(tc, V1(XTPU_VLD, 0, 7, 10, 11));
        for (unsigned s = 0; s < 8; s++)
            for (unsigned l = 0; l < 128; l++) {
                uint32_t w;
                memcpy(&w, vm + off + (int32_t)s * st + 4 * l, 4);
                if (p->v[7].u[s * 128 + l] != w)
                    fail_msg("vld stride %d (%u,%u)", st, s, l);
            }
        /* store a different vreg back at a new place, then reload */
        if (st == 0 || st == 4 || st == -12)
            continue; /* overlapping rows: last writer wins, skip */
        fill_u32(tc, 8, &fx->rng);
        tc->x[10] = VTPU_VMEM_BASE + 0x80000 + off;
        exec_ok(tc, V1(XTPU_VST, 0, 8, 10, 11));
        for (unsigned s = 0; s < 8; s++) {
            uint32_t w[128];
            memcpy(w, vm + 0x80000 + off + (int32_t)s * st, 512);
            assert_memory_equal(w, p->v[8].u + s * 128, 512);
        }
    }

    /* masked: only active elements move */
    fill_mask(tc, 3, &fx->rng);
    fill_u32(tc, 9, &fx->rng);
    uint32_t before[NE], old[NE];
    memcpy(old, vm + 0x1000, sizeof(old));
    memcpy(before, p->v[9].u, sizeof(before));
    tc->x[10] = VTPU_VMEM_BASE + 0x1000;
    tc->x[11] = 512;
    exec_ok(tc, V1(XTPU_VST_M, 3, 9, 10, 11));
    for (unsigned i = 0; i < NE; i++) {
        uint32_t w;
        memcpy(&w, vm + 0x1000 + 4 * i, 4);
        assert_int_equal(w, p->m[3][i] ? before[i] : old[i]);
    }
    fill_u32(tc, 9, &fx->rng);
    memcpy(before, p->v[9].u, sizeof(before));
    tc->x[10] = VTPU_VMEM_BASE + 0x3000;
    exec_ok(tc, V1(XTPU_VLD_M, 3, 9, 10, 11));
    for (unsigned i = 0; i < NE; i++) {
        uint32_t w;
        memcpy(&w, vm + 0x3000 + 4 * i, 4);
        assert_int_equal(p->v[9].u[i], p->m[3][i] ? w : before[i]);
    }

    /* masked access hanging off the end: fine while masked-off */
    for (unsigned i = 0; i < NE; i++)
        p->m[4][i] = (i % 128) < 64 ? ~0u : 0; /* first half of each row */
    tc->x[10] = VTPU_VMEM_BASE + VMEM_SIZE - 8 * 512 + 256;
    fill_u32(tc, 11, &fx->rng);
    exec_ok(tc, V1(XTPU_VST_M, 4, 11, 10, 11));
    for (unsigned s = 0; s < 8; s++) {
        uint32_t w[64];
        memcpy(w, vm + VMEM_SIZE - 8 * 512 + 256 + 512 * s, 256);
        assert_memory_equal(w, p->v[11].u + 128 * s, 256);
    }
    exec_ok(tc, V1(XTPU_VLD_M, 4, 12, 10, 11));
    for (unsigned s = 0; s < 8; s++)
        assert_memory_equal(p->v[12].u + 128 * s, p->v[11].u + 128 * s, 256);
}

static void expect_fault(vtpu_tc *tc, uint32_t raw, vtpu_error_kind kind,
                         uint32_t addr, uint32_t len)
{
    tc->state = VTPU_TC_RUNNING;
    memset(&tc->err, 0, sizeof(tc->err));
    tc->pc = TEST_PC + 8;
    assert_int_equal(run1(tc, raw), -1);
    assert_int_equal(tc->err.kind, kind);
    assert_int_equal(tc->err.pc, TEST_PC + 8);
    assert_int_equal(tc->err.space, VTPU_SPACE_VMEM);
    assert_int_equal(tc->err.addr, addr);
    assert_int_equal(tc->err.len, len);
    assert_int_equal(tc->state, VTPU_TC_FAULTED);
    assert_true(strlen(tc->err.detail) > 0);
    tc->state = VTPU_TC_RUNNING;
}

static void test_vmem_faults(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    const uint32_t end = VTPU_VMEM_BASE + VMEM_SIZE;

    tc->x[11] = 512;
    /* last row one word past the end */
    tc->x[10] = end - 8 * 512 + 4;
    expect_fault(tc, V1(XTPU_VLD, 0, 1, 10, 11), VTPU_ERR_OOB,
                 end - 512 + 4, 512);
    expect_fault(tc, V1(XTPU_VST, 0, 1, 10, 11), VTPU_ERR_OOB,
                 end - 512 + 4, 512);
    /* below VMEM (SMEM window) */
    tc->x[10] = VTPU_SMEM_BASE;
    expect_fault(tc, V1(XTPU_VLD, 0, 1, 10, 11), VTPU_ERR_OOB,
                 VTPU_SMEM_BASE, 512);
    /* negative stride walking below the base */
    tc->x[10] = VTPU_VMEM_BASE + 512;
    tc->x[11] = (uint32_t)-512;
    expect_fault(tc, V1(XTPU_VST, 0, 1, 10, 11), VTPU_ERR_OOB,
                 VTPU_VMEM_BASE - 512, 512);
    /* masked: an active element outside faults at that element */
    for (unsigned i = 0; i < NE; i++)
        tc->vpu->m[2][i] = i == 7 * 128 + 127 ? ~0u : 0;
    tc->x[10] = end - 8 * 512 + 4;
    tc->x[11] = 512;
    for (unsigned i = 0; i < NE; i++) /* rows 0..6 are inside: active */
        tc->vpu->m[2][i] |= i < 7 * 128 ? ~0u : 0;
    uint32_t before[NE];
    memset(tc->vpu->v[1].u, 0xA5, sizeof(before));
    memcpy(before, tc->vpu->v[1].u, sizeof(before));
    expect_fault(tc, V1(XTPU_VLD_M, 2, 1, 10, 11), VTPU_ERR_OOB,
                 end, 4);
    /* a faulting access changes nothing, not even the rows inside */
    assert_memory_equal(tc->vpu->v[1].u, before, sizeof(before));
    /* misaligned address and stride */
    tc->x[10] = VTPU_VMEM_BASE + 2;
    expect_fault(tc, V1(XTPU_VLD, 0, 1, 10, 11), VTPU_ERR_MISALIGNED,
                 VTPU_VMEM_BASE + 2, 4);
    tc->x[10] = VTPU_VMEM_BASE;
    tc->x[11] = 514;
    expect_fault(tc, V1(XTPU_VST_M, 2, 1, 10, 11), VTPU_ERR_MISALIGNED,
                 VTPU_VMEM_BASE, 4);
}

static void test_encodings(void **state)
{
    (void)state;
    /* reserved funct7/funct3 combinations and non-zero reserved fields */
    assert_false(vtpu_xtpu_valid(V0(0x7F, 0, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V0(XTPU_VDIV, XTPU_T_I32, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V0(XTPU_VAND, 1, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V0(XTPU_VEXP, 0, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V0(XTPU_VCMP_F32, 6, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V0(XTPU_VPACK, 3, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V1(XTPU_VLD, 1, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(V1(XTPU_VIOTA, 3, 1, 2, 0)));
    assert_false(vtpu_xtpu_valid(V1(XTPU_VREDL, 3, 1, 2, 0)));
    assert_false(vtpu_xtpu_valid(V1(0x7F, 0, 1, 2, 3)));
    assert_false(vtpu_xtpu_valid(enc_r(XTPU_OPC_MXU, 0, 0x7F, 0, 0, 0)));
    assert_false(vtpu_xtpu_valid(0x00000013)); /* addi: not custom */
    assert_true(vtpu_xtpu_valid(V0(XTPU_VADD, 0, 31, 31, 31)));
    assert_true(vtpu_xtpu_valid(V1(XTPU_VST_M, 7, 31, 31, 31)));
}

/* ------------------------------------------------------------------ */
/* through the decoder and interpreter                                   */
/* ------------------------------------------------------------------ */

static void test_program(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip("v5p", 1);
    test_prog p;
    vtpu_run_result res;
    prog_init(&p);
    /* v1 = f32(linear iota); v2 = bcast(0.5f); v3 = v1 * v2 + v1;
     * store v3 densely at VMEM + 0x100, x12 = v3[1023] */
    prog_li(&p, 10, VTPU_VMEM_BASE + 0x100);
    prog_li(&p, 11, 512);
    prog_li(&p, 13, 0x3F000000);
    prog_li(&p, 14, 1023);
    prog_emit(&p, V1(XTPU_VIOTA, XTPU_IOTA_LINEAR, 1, 0, 0));
    prog_emit(&p, V0(XTPU_VCVT, XTPU_CVT_I32_F32, 1, 1, 0));
    prog_emit(&p, V1(XTPU_VBCAST, 0, 2, 13, 0));
    prog_emit(&p, enc_r4(XTPU_OPC_MXU, XTPU_F3_R4, XTPU_MULADD_F32, 3, 1, 2,
                         1));
    prog_emit(&p, V1(XTPU_VST, 0, 3, 10, 11));
    prog_emit(&p, V1(XTPU_VEXT, 0, 12, 3, 14));
    prog_emit(&p, V0(XTPU_VCMP_F32, XTPU_CMP_GE, 1, 3, 2)); /* m1 = v3>=.5 */
    prog_emit(&p, V1(XTPU_MCOUNT, 0, 10, 1, 0));            /* a0 = 1023 */
    prog_exit(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(res.exit_code, 1023);
    float out[NE];
    assert_int_equal(vtpu_mem_read(chip, 0, VTPU_SPACE_VMEM, 0x100, out,
                                   sizeof(out)), 0);
    for (unsigned i = 0; i < NE; i++)
        assert_true(out[i] == 1.5f * (float)i);
    vtpu_chip_free(chip);
}

static void test_program_faults(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip("v5p", 1);
    uint32_t vmem = vtpu_chip_config(chip)->vmem_size;
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, 10, VTPU_VMEM_BASE + vmem - 512);
    prog_li(&p, 11, 512);
    prog_emit(&p, V1(XTPU_VLD, 0, 1, 10, 11)); /* word 4 */
    prog_exit(&p);
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_OOB);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 16);
    assert_int_equal(res.error.space, VTPU_SPACE_VMEM);
    assert_int_equal(res.error.addr, VTPU_VMEM_BASE + vmem);
    assert_int_equal(res.error.len, 512);

    prog_init(&p);
    prog_emit(&p, rv_addi(10, 0, 0));
    prog_emit(&p, V0(0x7F, 0, 1, 2, 3)); /* reserved */
    prog_exit(&p);
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_ILLEGAL_INSN);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4);
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compare_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_muladd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bf16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_math_accuracy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_math_special, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_math_insns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iota_bcast_ext_ins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reduce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transpose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmem_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encodings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_program_faults, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
