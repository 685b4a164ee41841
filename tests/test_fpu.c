/*
 * test_fpu.c - RV32F arithmetic (hw/vtpu/fpu.c) against independent
 * references: the host FPU driven through <fenv.h> for RNE/RTZ/RDN/RUP,
 * exact reasoning in double for RMM ties, and the RISC-V spec's tables
 * for the corner cases.  The software float (used for RMM) is checked
 * against the host in the four modes both have.  A few programs run
 * through the interpreter for rounding-mode decoding and fflags CSRs.
 */
#include <fenv.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fpu.h"
#include "helpers.h"

#define NV VTPU_FF_NV
#define DZ VTPU_FF_DZ
#define OF VTPU_FF_OF
#define UF VTPU_FF_UF
#define NX VTPU_FF_NX
#define CNAN VTPU_F32_CANON_NAN

static float f_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static uint32_t b_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* ---- host reference through fenv ---- */

static const int fe_mode[4] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD,
                               FE_UPWARD};

static uint32_t fe_to_fflags(int e)
{
    return ((e & FE_INVALID) ? NV : 0) | ((e & FE_DIVBYZERO) ? DZ : 0) |
           ((e & FE_OVERFLOW) ? OF : 0) | ((e & FE_UNDERFLOW) ? UF : 0) |
           ((e & FE_INEXACT) ? NX : 0);
}

enum { R_ADD, R_SUB, R_MUL, R_DIV, R_SQRT, R_FMA, R_I2F, R_U2F };

static uint32_t ref(int op, unsigned rm, uint32_t a, uint32_t b, uint32_t c,
                    uint32_t *fl)
{
    volatile float x = f_of(a), y = f_of(b), z = f_of(c);
    volatile float r = 0;
    volatile int32_t ia = (int32_t)a;
    volatile uint32_t ua = a;

    fesetround(fe_mode[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    switch (op) {
    case R_ADD:
        r = x + y;
        break;
    case R_SUB:
        r = x - y;
        break;
    case R_MUL:
        r = x * y;
        break;
    case R_DIV:
        r = x / y;
        break;
    case R_SQRT:
        r = sqrtf(x);
        break;
    case R_FMA:
        r = fmaf(x, y, z);
        break;
    case R_I2F:
        r = (float)ia;
        break;
    case R_U2F:
        r = (float)ua;
        break;
    }
    *fl = fe_to_fflags(fetestexcept(FE_ALL_EXCEPT));
    fesetround(FE_TONEAREST);
    uint32_t rb = b_of(r);
    if (isnan(f_of(rb)))
        rb = CNAN;
    /* RISC-V: inf*0 in fma is invalid whatever the addend. */
    if (op == R_FMA && ((isinf(x) && y == 0) || (x == 0 && isinf(y))))
        *fl |= NV;
    return rb;
}

/* ---- operands ---- */

static const uint32_t specials[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff,
    0x00800000, 0x80800000, 0x00800001, 0x3f800000, 0xbf800000, 0x3f800001,
    0x3f7fffff, 0x3fc00000, 0x40000000, 0x40400000, 0x3eaaaaab, 0x3f000000,
    0x4b000000, 0x4b000001, 0x4f000000, 0xcf000000, 0x33800000, 0x34000000,
    0x7f7fffff, 0xff7fffff, 0x7f000000, 0x7effffff, 0x1f800000, 0x20000000,
    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc12345, 0x7f800001,
    0xff800001, 0x7fbfffff, 0x00400000, 0x3f800003,
};
#define NSPEC (sizeof(specials) / sizeof(specials[0]))

static uint32_t rnd_float(uint64_t *s)
{
    uint32_t r = test_rand32(s);
    switch (r % 6) {
    case 0:
        return test_rand32(s);
    case 1:
        return specials[test_rand32(s) % NSPEC];
    case 2: /* few significant bits: exact results and ties */
        return (test_rand32(s) & 0xbff80000u) | 0x3c000000u;
    case 3: /* tiny */
        return (test_rand32(s) & 0x80ffffffu) | ((r >> 8) & 0x01000000u);
    default: /* moderate exponents */
        return (test_rand32(s) & 0x83ffffffu) | 0x3c000000u;
    }
}

/* ---- host path and software path vs fenv ---- */

typedef struct {
    const char *name;
    int ref_op;
    int nin;
} op_desc;

static uint32_t run_ours(int op, unsigned rm, uint32_t a, uint32_t b,
                         uint32_t c, bool soft, uint32_t *fl)
{
    uint32_t r = 0;
    *fl = 0;
    uint32_t saved = vtpu_fpu_enter();
    switch (op) {
    case R_ADD:
        r = soft ? vtpu_sf_add(a, b, rm, fl) : vtpu_f32_add(a, b, rm, fl);
        break;
    case R_SUB:
        r = soft ? vtpu_sf_add(a, b ^ 0x80000000u, rm, fl)
                 : vtpu_f32_sub(a, b, rm, fl);
        break;
    case R_MUL:
        r = soft ? vtpu_sf_mul(a, b, rm, fl) : vtpu_f32_mul(a, b, rm, fl);
        break;
    case R_DIV:
        r = soft ? vtpu_sf_div(a, b, rm, fl) : vtpu_f32_div(a, b, rm, fl);
        break;
    case R_SQRT:
        r = soft ? vtpu_sf_sqrt(a, rm, fl) : vtpu_f32_sqrt(a, rm, fl);
        break;
    case R_FMA:
        r = soft ? vtpu_sf_fma(a, b, c, rm, fl)
                 : vtpu_f32_fma(a, b, c, false, false, rm, fl);
        break;
    case R_I2F:
        r = soft ? vtpu_sf_from_u32((int32_t)a < 0 ? 0u - a : a, (int32_t)a < 0,
                                    rm, fl)
                 : vtpu_f32_from_i32((int32_t)a, rm, fl);
        break;
    case R_U2F:
        r = soft ? vtpu_sf_from_u32(a, false, rm, fl)
                 : vtpu_f32_from_u32(a, rm, fl);
        break;
    }
    vtpu_fpu_leave(saved, fl);
    return r;
}

static void check_case(int op, unsigned rm, uint32_t a, uint32_t b, uint32_t c,
                       bool soft)
{
    uint32_t rfl, ofl;
    uint32_t want = ref(op, rm, a, b, c, &rfl);
    uint32_t got = run_ours(op, rm, a, b, c, soft, &ofl);
    if (got != want || ofl != rfl)
        fail_msg("%s op %d rm %u (%08x, %08x, %08x): got %08x/%02x, "
                 "want %08x/%02x",
                 soft ? "soft" : "host", op, rm, a, b, c, got, ofl, want, rfl);
}

static void check_against_fenv(bool soft)
{
    uint64_t s = soft ? 77 : 78;
    static const int ops[] = {R_ADD,  R_SUB, R_MUL, R_DIV,
                              R_SQRT, R_FMA, R_I2F, R_U2F};
    for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        for (unsigned rm = 0; rm < 4; rm++) {
            for (unsigned i = 0; i < NSPEC; i++)
                for (unsigned j = 0; j < NSPEC; j++)
                    check_case(ops[k], rm, specials[i], specials[j],
                               specials[(i * 7 + j) % NSPEC], soft);
            for (unsigned n = 0; n < 4000; n++) {
                uint32_t a = rnd_float(&s), b = rnd_float(&s);
                uint32_t c = rnd_float(&s);
                if (n & 1)
                    b = (b & 0x807fffffu) | (a & 0x7f800000u);
                if (n % 5 == 0 && ops[k] == R_FMA) {
                    /* near cancellation */
                    uint32_t fl;
                    c = ref(R_MUL, 0, a, b, 0, &fl) ^ 0x80000000u;
                    c += (uint32_t)(test_rand32(&s) % 5) - 2;
                }
                if (ops[k] == R_I2F || ops[k] == R_U2F)
                    a = test_rand32(&s) >> (test_rand32(&s) % 32);
                check_case(ops[k], rm, a, b, c, soft);
            }
        }
    }
}

static void test_host_vs_fenv(void **state)
{
    (void)state;
    check_against_fenv(false);
}

static void test_soft_vs_fenv(void **state)
{
    (void)state;
    check_against_fenv(true);
}

/* ---- RMM: ties decided by exact reasoning ---- */

/*
 * Round an exactly known value (a double holding it exactly, in the
 * normal float range) to float with ties away from zero: the RTZ neighbour
 * and the next one away; the exact midpoint picks the outer one.
 */
static uint32_t rmm_of_exact(double d, uint32_t *fl)
{
    fesetround(FE_TOWARDZERO);
    volatile double vd = d;
    volatile float lo = (float)vd;
    fesetround(FE_TONEAREST);
    *fl = 0;
    if ((double)lo == d)
        return b_of(lo);
    *fl = NX;
    float hi = nextafterf(lo, d > 0 ? INFINITY : -INFINITY);
    double dlo = fabs(d - (double)lo), dhi = fabs((double)hi - d);
    if (dhi < dlo || dhi == dlo)
        return b_of(hi);
    return b_of(lo);
}

static void test_rmm_ties(void **state)
{
    (void)state;
    uint64_t s = 99;
    uint32_t fl;

    /* Hand-picked: 1 + 2^-24 is halfway between 1 and 1 + 2^-23. */
    fl = 0;
    assert_int_equal(vtpu_f32_add(0x3f800000, 0x33800000, VTPU_RM_RMM, &fl),
                     0x3f800001);
    assert_int_equal(fl, NX);
    fl = 0;
    assert_int_equal(vtpu_f32_add(0xbf800000, 0xb3800000, VTPU_RM_RMM, &fl),
                     0xbf800001);
    /* RNE goes to even instead. */
    uint32_t saved = vtpu_fpu_enter();
    assert_int_equal(vtpu_f32_add(0x3f800000, 0x33800000, VTPU_RM_RNE, &fl),
                     0x3f800000);
    vtpu_fpu_leave(saved, &fl);
    /* (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: a product tie. */
    fl = 0;
    assert_int_equal(vtpu_f32_mul(0x3f800800, 0x3f800800, VTPU_RM_RMM, &fl),
                     0x3f801001);
    /* Integer ties: 2^24 + 1 and -(2^24 + 1). */
    fl = 0;
    assert_int_equal(vtpu_f32_from_i32(0x01000001, VTPU_RM_RMM, &fl),
                     0x4b800001);
    assert_int_equal(fl, NX);
    assert_int_equal(vtpu_f32_from_i32(-0x01000001, VTPU_RM_RMM, &fl),
                     0xcb800001);
    assert_int_equal(vtpu_f32_from_u32(0xffffff80u, VTPU_RM_RMM, &fl),
                     0x4f800000);
    /* Ties to integers: 2.5 -> 3, -2.5 -> -3, 0.5 -> 1. */
    fl = 0;
    assert_int_equal(vtpu_f32_to_i32(0x40200000, VTPU_RM_RMM, &fl), 3);
    assert_int_equal(vtpu_f32_to_i32(0xc0200000, VTPU_RM_RMM, &fl),
                     (uint32_t)-3);
    assert_int_equal(vtpu_f32_to_u32(0x3f000000, VTPU_RM_RMM, &fl), 1);
    assert_int_equal(fl, NX);

    /* Random products of short significands: exact in double. */
    for (int n = 0; n < 20000; n++) {
        uint32_t a = 0x3f800000u | (test_rand32(&s) & 0x007ff000u) |
                     (test_rand32(&s) & 0x80000000u);
        uint32_t b = 0x3f000000u | (test_rand32(&s) & 0x007ff800u) |
                     ((uint32_t)(test_rand32(&s) % 8) << 23);
        uint32_t want_fl, got_fl = 0;
        uint32_t want = rmm_of_exact((double)f_of(a) * f_of(b), &want_fl);
        uint32_t got = vtpu_f32_mul(a, b, VTPU_RM_RMM, &got_fl);
        if (got != want || got_fl != want_fl)
            fail_msg("rmm mul %08x*%08x: %08x/%x want %08x/%x", a, b, got,
                     got_fl, want, want_fl);
        /* Sums with exponent difference <= 30 are exact in double. */
        uint32_t c = (a & 0x807fffffu) |
                     ((((a >> 23) & 0xff) - (test_rand32(&s) % 30)) << 23);
        uint32_t c8 = c & 0xffff0000u; /* 8 bits: a*b+c8 exact in double */
        got_fl = 0;
        want = rmm_of_exact((double)f_of(a) + f_of(c), &want_fl);
        got = vtpu_f32_add(a, c, VTPU_RM_RMM, &got_fl);
        if (got != want || got_fl != want_fl)
            fail_msg("rmm add %08x+%08x: %08x/%x want %08x/%x", a, c, got,
                     got_fl, want, want_fl);
        /* fma with short operands: a*b + c exact in double too. */
        got_fl = 0;
        want = rmm_of_exact((double)f_of(a) * f_of(b) + f_of(c8), &want_fl);
        got = vtpu_f32_fma(a, b, c8, false, false, VTPU_RM_RMM, &got_fl);
        if (want != 0 && (got != want || got_fl != want_fl))
            fail_msg("rmm fma %08x*%08x+%08x: %08x/%x want %08x/%x", a, b, c8,
                     got, got_fl, want, want_fl);
    }
}

/* ---- spec corner cases ---- */

static void test_fcvt_to_int(void **state)
{
    (void)state;
    static const struct {
        uint32_t in;
        unsigned rm;
        uint32_t w, wfl, wu, wufl;
    } t[] = {
        {0x7fc00000, 0, 0x7fffffff, NV, 0xffffffff, NV}, /* qNaN */
        {0xffc00000, 0, 0x7fffffff, NV, 0xffffffff, NV}, /* -qNaN */
        {0x7f800001, 0, 0x7fffffff, NV, 0xffffffff, NV}, /* sNaN */
        {0x7f800000, 0, 0x7fffffff, NV, 0xffffffff, NV}, /* +inf */
        {0xff800000, 0, 0x80000000, NV, 0x00000000, NV}, /* -inf */
        {0x4f000000, 0, 0x7fffffff, NV, 0x80000000, 0},  /* 2^31 */
        {0xcf000000, 0, 0x80000000, 0, 0x00000000, NV},  /* -2^31 */
        {0xcf000001, 0, 0x80000000, NV, 0x00000000, NV},
        {0x4f800000, 0, 0x7fffffff, NV, 0xffffffff, NV}, /* 2^32 */
        {0x4f7fffff, 0, 0x7fffffff, NV, 0xffffff00, 0},
        {0x3f000000, 0, 0, NX, 0, NX},          /* 0.5 RNE */
        {0x3f000000, 4, 1, NX, 1, NX},          /* 0.5 RMM */
        {0x3fc00000, 0, 2, NX, 2, NX},          /* 1.5 RNE */
        {0x40200000, 0, 2, NX, 2, NX},          /* 2.5 RNE */
        {0xbf000000, 2, 0xffffffff, NX, 0, NV}, /* -0.5 RDN */
        {0xbf000000, 1, 0, NX, 0, NX},          /* -0.5 RTZ */
        {0xbf000000, 3, 0, NX, 0, NX},          /* -0.5 RUP */
        {0x3e800000, 3, 1, NX, 1, NX},          /* 0.25 RUP */
        {0x00000001, 3, 1, NX, 1, NX},          /* tiny RUP */
        {0x80000001, 2, 0xffffffff, NX, 0, NV}, /* -tiny RDN */
        {0x80000000, 0, 0, 0, 0, 0},            /* -0 */
        {0xbf800000, 1, 0xffffffff, 0, 0, NV},  /* -1 */
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint32_t fl = 0;
        uint32_t r = vtpu_f32_to_i32(t[i].in, t[i].rm, &fl);
        if (r != t[i].w || fl != t[i].wfl)
            fail_msg("fcvt.w.s %08x rm %u: %08x/%x want %08x/%x", t[i].in,
                     t[i].rm, r, fl, t[i].w, t[i].wfl);
        fl = 0;
        r = vtpu_f32_to_u32(t[i].in, t[i].rm, &fl);
        if (r != t[i].wu || fl != t[i].wufl)
            fail_msg("fcvt.wu.s %08x rm %u: %08x/%x want %08x/%x", t[i].in,
                     t[i].rm, r, fl, t[i].wu, t[i].wufl);
    }
    /* Random in-range values against the host's own conversions. */
    uint64_t s = 5;
    for (int n = 0; n < 20000; n++) {
        uint32_t a = rnd_float(&s);
        float f = f_of(a);
        for (unsigned rm = 0; rm < 4; rm++) {
            if (isnan(f) || fabsf(f) >= 2147483648.0f)
                continue;
            fesetround(fe_mode[rm]);
            volatile float vf = f;
            long want = lrintf(vf);
            fesetround(FE_TONEAREST);
            uint32_t fl = 0;
            uint32_t got = vtpu_f32_to_i32(a, rm, &fl);
            assert_int_equal(got, (uint32_t)want);
            assert_int_equal(fl, (float)want == f ? 0 : NX);
        }
    }
}

static void test_minmax(void **state)
{
    (void)state;
    uint32_t fl = 0;
    assert_int_equal(vtpu_f32_min(0x80000000, 0x00000000, &fl), 0x80000000);
    assert_int_equal(vtpu_f32_min(0x00000000, 0x80000000, &fl), 0x80000000);
    assert_int_equal(vtpu_f32_max(0x80000000, 0x00000000, &fl), 0x00000000);
    assert_int_equal(vtpu_f32_max(0x00000000, 0x80000000, &fl), 0x00000000);
    assert_int_equal(fl, 0);
    /* one quiet NaN: the other operand, no flag */
    assert_int_equal(vtpu_f32_min(0x7fc00000, 0x3f800000, &fl), 0x3f800000);
    assert_int_equal(vtpu_f32_max(0xbf800000, 0xffc00000, &fl), 0xbf800000);
    assert_int_equal(fl, 0);
    /* signalling NaN: the other operand, NV */
    assert_int_equal(vtpu_f32_max(0x7f800001, 0x40000000, &fl), 0x40000000);
    assert_int_equal(fl, NV);
    /* both NaN: canonical */
    fl = 0;
    assert_int_equal(vtpu_f32_min(0x7fc12345, 0xffc00001, &fl), CNAN);
    assert_int_equal(fl, 0);
    assert_int_equal(vtpu_f32_min(0x7fc12345, 0x7f800001, &fl), CNAN);
    assert_int_equal(fl, NV);
    fl = 0;
    assert_int_equal(vtpu_f32_min(0xff800000, 0x7f7fffff, &fl), 0xff800000);
    assert_int_equal(vtpu_f32_max(0xff800000, 0x7f7fffff, &fl), 0x7f7fffff);
    assert_int_equal(vtpu_f32_min(0xbf800000, 0xc0000000, &fl), 0xc0000000);
    assert_int_equal(fl, 0);
    /* random: against host fminf on non-NaN, non-zero-pair operands */
    uint64_t s = 11;
    for (int n = 0; n < 20000; n++) {
        uint32_t a = rnd_float(&s), b = rnd_float(&s);
        if (isnan(f_of(a)) || isnan(f_of(b)) || (f_of(a) == 0 && f_of(b) == 0))
            continue;
        assert_int_equal(vtpu_f32_min(a, b, &fl),
                         b_of(fminf(f_of(a), f_of(b))));
        assert_int_equal(vtpu_f32_max(a, b, &fl),
                         b_of(fmaxf(f_of(a), f_of(b))));
    }
    assert_int_equal(fl, 0);
}

static void test_compare(void **state)
{
    (void)state;
    uint32_t fl = 0;
    /* feq is quiet: qNaN no flag, sNaN NV */
    assert_int_equal(vtpu_f32_eq(0x7fc00000, 0x7fc00000, &fl), 0);
    assert_int_equal(fl, 0);
    assert_int_equal(vtpu_f32_eq(0x7f800001, 0x3f800000, &fl), 0);
    assert_int_equal(fl, NV);
    fl = 0;
    /* flt/fle signal on any NaN */
    assert_int_equal(vtpu_f32_lt(0x7fc00000, 0x3f800000, &fl), 0);
    assert_int_equal(fl, NV);
    fl = 0;
    assert_int_equal(vtpu_f32_le(0x3f800000, 0xffc00000, &fl), 0);
    assert_int_equal(fl, NV);
    fl = 0;
    /* zeros */
    assert_int_equal(vtpu_f32_eq(0x80000000, 0x00000000, &fl), 1);
    assert_int_equal(vtpu_f32_lt(0x80000000, 0x00000000, &fl), 0);
    assert_int_equal(vtpu_f32_le(0x00000000, 0x80000000, &fl), 1);
    assert_int_equal(fl, 0);
    uint64_t s = 12;
    for (int n = 0; n < 20000; n++) {
        uint32_t a = rnd_float(&s), b = rnd_float(&s);
        if (n & 1)
            b = a ^ (test_rand32(&s) & 1);
        float x = f_of(a), y = f_of(b);
        bool nan = isnan(x) || isnan(y);
        bool snan = vtpu_f32_class(a) == 0x100 || vtpu_f32_class(b) == 0x100;
        fl = 0;
        assert_int_equal(vtpu_f32_eq(a, b, &fl), x == y);
        assert_int_equal(fl, snan ? NV : 0);
        fl = 0;
        assert_int_equal(vtpu_f32_lt(a, b, &fl), x < y);
        assert_int_equal(fl, nan ? NV : 0);
        fl = 0;
        assert_int_equal(vtpu_f32_le(a, b, &fl), x <= y);
        assert_int_equal(fl, nan ? NV : 0);
    }
}

static void test_fclass(void **state)
{
    (void)state;
    static const uint32_t in[10] = {
        0xff800000, 0xbf800000, 0x807fffff, 0x80000000, 0x00000000,
        0x00000001, 0x3f800000, 0x7f800000, 0x7f800001, 0x7fc00000};
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(vtpu_f32_class(in[i]), 1u << i);
    assert_int_equal(vtpu_f32_class(0xffbfffff), 1u << 8); /* -sNaN */
    assert_int_equal(vtpu_f32_class(0xffc00001), 1u << 9); /* -qNaN */
    assert_int_equal(vtpu_f32_class(0xff7fffff), 1u << 1);
}

/* Every flag, and canonical NaNs out of every arithmetic operation. */
static void test_flags_and_nans(void **state)
{
    (void)state;
    struct {
        int op;
        unsigned rm;
        uint32_t a, b, c, want, fl;
    } t[] = {
        {R_DIV, 0, 0x00000000, 0x00000000, 0, CNAN, NV},
        {R_DIV, 0, 0x3f800000, 0x80000000, 0, 0xff800000, DZ},
        {R_MUL, 0, 0x7f7fffff, 0x40000000, 0, 0x7f800000, OF | NX},
        {R_MUL, 1, 0x7f7fffff, 0x40000000, 0, 0x7f7fffff, OF | NX},
        {R_MUL, 0, 0x1f800000, 0x1f800000, 0, 0x00200000, 0}, /* exact */
        {R_MUL, 0, 0x00000001, 0x3f000000, 0, 0x00000000, UF | NX},
        {R_MUL, 3, 0x00000001, 0x3f000000, 0, 0x00000001, UF | NX},
        {R_MUL, 0, 0x3f7fffff, 0x00800000, 0, 0x00800000, UF | NX},
        {R_MUL, 0, 0x00800000, 0x3f000000, 0, 0x00400000, 0},
        {R_DIV, 0, 0x3f800000, 0x40400000, 0, 0x3eaaaaab, NX},
        {R_ADD, 0, 0x7f800001, 0x3f800000, 0, CNAN, NV},
        {R_ADD, 0, 0x7fc12345, 0x3f800000, 0, CNAN, 0},
        {R_ADD, 0, 0x7f800000, 0xff800000, 0, CNAN, NV},
        {R_MUL, 0, 0x7f800000, 0x00000000, 0, CNAN, NV},
        {R_SQRT, 0, 0xbf800000, 0, 0, CNAN, NV},
        {R_SQRT, 0, 0x80000000, 0, 0, 0x80000000, 0},
        {R_SQRT, 0, 0xffc00000, 0, 0, CNAN, 0},
        {R_FMA, 0, 0x7f800000, 0x00000000, 0x7fc00000, CNAN, NV},
        {R_FMA, 0, 0x3f800000, 0x3f800000, 0x7fc00000, CNAN, 0},
        {R_FMA, 0, 0x7f800000, 0x3f800000, 0xff800000, CNAN, NV},
        {R_FMA, 4, 0x7f800000, 0x00000000, 0x7fc00000, CNAN, NV},
        /* exact zero sums: +0, or -0 when rounding down */
        {R_ADD, 0, 0x3f800000, 0xbf800000, 0, 0x00000000, 0},
        {R_ADD, 2, 0x3f800000, 0xbf800000, 0, 0x80000000, 0},
        {R_ADD, 4, 0x80000000, 0x80000000, 0, 0x80000000, 0},
        {R_FMA, 2, 0x3f800000, 0x3f800000, 0xbf800000, 0x80000000, 0},
    };
    for (unsigned rep = 0; rep < 2; rep++) {
        for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            uint32_t fl;
            uint32_t r = run_ours(t[i].op, t[i].rm, t[i].a, t[i].b, t[i].c,
                                  rep == 1, &fl);
            if (r != t[i].want || fl != t[i].fl)
                fail_msg("%s case %u: %08x/%x want %08x/%x",
                         rep ? "soft" : "host", i, r, fl, t[i].want, t[i].fl);
        }
    }
}

/* ---- through the interpreter ---- */

#define OP_FP 0x53

static void prog_csr(test_prog *p, unsigned f3, unsigned rd, unsigned rs1,
                     unsigned csr)
{
    prog_emit(p, enc_i(0x73, f3, rd, rs1, (int32_t)csr));
}

static uint32_t smem_word(vtpu_chip *chip, uint32_t off)
{
    uint32_t v;
    assert_int_equal(vtpu_mem_read(chip, 0, VTPU_SPACE_SMEM, off, &v, 4), 0);
    return v;
}

/*
 * f1 = a, f2 = b; op with rm; store result and fflags to SMEM 0x100 and
 * 0x104 (base in x9).
 */
static void build_fp_prog(test_prog *p, uint32_t insn, uint32_t a, uint32_t b,
                          uint32_t frm)
{
    prog_init(p);
    prog_li(p, 9, VTPU_SMEM_BASE + 0x100);
    prog_li(p, 5, a);
    prog_emit(p, enc_r(OP_FP, 0, 0x78, 1, 5, 0)); /* fmv.w.x f1, x5 */
    prog_li(p, 5, b);
    prog_emit(p, enc_r(OP_FP, 0, 0x78, 2, 5, 0)); /* fmv.w.x f2, x5 */
    prog_li(p, 5, frm);
    prog_csr(p, 1, 0, 5, 0x002); /* csrw frm, x5 */
    prog_csr(p, 1, 0, 0, 0x001); /* csrw fflags, x0 */
    prog_emit(p, insn);
    prog_emit(p, enc_s(0x27, 2, 9, 3, 0)); /* fsw f3, 0(x9) */
    prog_csr(p, 2, 6, 0, 0x001);           /* csrr x6, fflags */
    prog_emit(p, enc_s(0x23, 2, 9, 6, 4)); /* sw x6, 4(x9) */
    prog_emit(p, rv_addi(10, 0, 0));
    prog_exit(p);
}

static void test_interp_rounding_modes(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    /* 1 + 2^-24 in every static mode and every dynamic one */
    static const uint32_t want[5] = {0x3f800000, 0x3f800000, 0x3f800000,
                                     0x3f800001, 0x3f800001};
    for (unsigned rm = 0; rm < 8; rm++) {
        if (rm == 5 || rm == 6)
            continue;
        for (unsigned frm = 0; frm < 5; frm++) {
            uint32_t fadd = enc_r(OP_FP, rm, 0x00, 3, 1, 2);
            build_fp_prog(&p, fadd, 0x3f800000, 0x33800000, frm);
            assert_int_equal(test_run(chip, &p, &res), 0);
            unsigned eff = rm == 7 ? frm : rm;
            assert_int_equal(smem_word(chip, 0x100), want[eff]);
            assert_int_equal(smem_word(chip, 0x104), NX);
        }
    }
    /* fsgnj has no rounding mode: an invalid frm does not matter */
    build_fp_prog(&p, enc_r(OP_FP, 0, 0x10, 3, 1, 2), 0x3f800000, 0x80000000,
                  7);
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(smem_word(chip, 0x100), 0xbf800000);
    vtpu_chip_free(chip);
}

static void test_interp_bad_rm(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    /* static rm 5 and 6 are reserved encodings */
    for (unsigned rm = 5; rm <= 6; rm++) {
        build_fp_prog(&p, enc_r(OP_FP, rm, 0x00, 3, 1, 2), 0, 0, 0);
        assert_int_equal(test_run(chip, &p, &res), -1);
        assert_int_equal(res.error.kind, VTPU_ERR_ILLEGAL_INSN);
        assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * 12);
    }
    /* dynamic with frm 5, 6, 7: illegal when used, for every rm-op */
    static const uint32_t rm_ops[] = {
        0x00, 0x04, 0x08, 0x0c, /* add sub mul div */
    };
    for (unsigned frm = 5; frm <= 7; frm++) {
        for (unsigned i = 0; i < 4; i++) {
            build_fp_prog(&p, enc_r(OP_FP, 7, rm_ops[i], 3, 1, 2), 0, 0, frm);
            assert_int_equal(test_run(chip, &p, &res), -1);
            assert_int_equal(res.error.kind, VTPU_ERR_ILLEGAL_INSN);
            assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * 12);
        }
        /* fmadd, fsqrt, fcvt.w.s, fcvt.s.w */
        const uint32_t more[] = {
            enc_r4(0x43, 7, 0, 3, 1, 2, 1),
            enc_r(OP_FP, 7, 0x2c, 3, 1, 0),
            enc_r(OP_FP, 7, 0x60, 3, 1, 0),
            enc_r(OP_FP, 7, 0x68, 3, 1, 0),
        };
        for (unsigned i = 0; i < 4; i++) {
            build_fp_prog(&p, more[i], 0, 0, frm);
            assert_int_equal(test_run(chip, &p, &res), -1);
            assert_int_equal(res.error.kind, VTPU_ERR_ILLEGAL_INSN);
        }
    }
    vtpu_chip_free(chip);
}

/* fflags accumulate across instructions and read back through fcsr. */
static void test_interp_fflags(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    prog_init(&p);
    prog_li(&p, 9, VTPU_SMEM_BASE + 0x100);
    prog_li(&p, 5, 0x3f800000);
    prog_emit(&p, enc_r(OP_FP, 0, 0x78, 1, 5, 0)); /* f1 = 1 */
    prog_li(&p, 5, 0x40400000);
    prog_emit(&p, enc_r(OP_FP, 0, 0x78, 2, 5, 0)); /* f2 = 3 */
    prog_emit(&p, enc_r(OP_FP, 0, 0x78, 4, 0, 0)); /* f4 = 0 */
    prog_emit(&p, enc_r(OP_FP, 7, 0x0c, 3, 1, 2)); /* 1/3: NX */
    prog_emit(&p, enc_r(OP_FP, 7, 0x0c, 3, 1, 4)); /* 1/0: DZ */
    prog_csr(&p, 2, 6, 0, 0x003);                  /* csrr x6, fcsr */
    prog_emit(&p, enc_s(0x23, 2, 9, 6, 0));
    prog_emit(&p, enc_r(OP_FP, 7, 0x0c, 3, 4, 4)); /* 0/0: NV */
    prog_li(&p, 5, 0x40);                          /* frm = 2 */
    prog_csr(&p, 1, 6, 5, 0x003);                  /* csrrw x6, fcsr, x5 */
    prog_emit(&p, enc_s(0x23, 2, 9, 6, 4));
    prog_csr(&p, 2, 6, 0, 0x002); /* csrr x6, frm */
    prog_emit(&p, enc_s(0x23, 2, 9, 6, 8));
    prog_csr(&p, 2, 6, 0, 0x001); /* csrr x6, fflags */
    prog_emit(&p, enc_s(0x23, 2, 9, 6, 12));
    prog_emit(&p, rv_addi(10, 0, 0));
    prog_exit(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(smem_word(chip, 0x100), NX | DZ);
    assert_int_equal(smem_word(chip, 0x104), NX | DZ | NV);
    assert_int_equal(smem_word(chip, 0x108), 2);
    assert_int_equal(smem_word(chip, 0x10c), 0);
    vtpu_chip_free(chip);
}

/*
 * The caller's host FP state is the caller's: a run neither inherits its
 * pending flags nor leaves its own behind, and restores its control word.
 */
static void test_host_state_isolated(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    build_fp_prog(&p, enc_r(OP_FP, 7, 0x00, 3, 1, 2), 0x3f800000, 0x33800000,
                  0);
    fesetround(FE_UPWARD);
    feclearexcept(FE_ALL_EXCEPT);
    feraiseexcept(FE_INEXACT | FE_OVERFLOW);
    /* The run happens on another thread; this checks nothing leaks back
     * and that the TC's own flags are exactly its operation's. */
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(smem_word(chip, 0x100), 0x3f800000); /* RNE */
    assert_int_equal(smem_word(chip, 0x104), NX);
    assert_int_equal(fegetround(), FE_UPWARD);
    assert_int_equal(fetestexcept(FE_ALL_EXCEPT), FE_INEXACT | FE_OVERFLOW);
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);

    /* Same thread: enter/leave around our own operations. */
    fesetround(FE_TOWARDZERO);
    feraiseexcept(FE_DIVBYZERO);
    uint32_t fl = 0;
    uint32_t saved = vtpu_fpu_enter();
    uint32_t r = vtpu_f32_add_rne(0x3f800000, 0x33800000, &fl);
    vtpu_fpu_leave(saved, &fl);
    assert_int_equal(r, 0x3f800000); /* RNE, not the caller's RTZ */
    assert_int_equal(fl, NX);        /* not the caller's DZ */
    assert_int_equal(fegetround(), FE_TOWARDZERO);
    assert_int_equal(fetestexcept(FE_ALL_EXCEPT), FE_DIVBYZERO);
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_vs_fenv),
        cmocka_unit_test(test_soft_vs_fenv),
        cmocka_unit_test(test_rmm_ties),
        cmocka_unit_test(test_fcvt_to_int),
        cmocka_unit_test(test_minmax),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_fclass),
        cmocka_unit_test(test_flags_and_nans),
        cmocka_unit_test(test_interp_rounding_modes),
        cmocka_unit_test(test_interp_bad_rm),
        cmocka_unit_test(test_interp_fflags),
        cmocka_unit_test(test_host_state_isolated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
