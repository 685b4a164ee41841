/*
 * vpu.c - the vector unit: register file and element kernels (vpu.h).
 *
 * Speed is the point of this file: a vector instruction is one call into a
 * loop over 1024 elements, written so that gcc vectorizes it (no branches
 * per element, selects instead of ifs, masks as 0/~0 words).  The
 * transcendental functions are our own branch-free polynomial
 * approximations evaluated in double precision, which makes the f32 result
 * faithfully rounded with a simple argument (docs/isa.md has the measured
 * error bounds) while still vectorizing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vpu.h"

/*
 * - Vectorize every loop regardless of the build type (the default -O2
 *   cost model refuses many of these loops).
 * - Selects of floating-point values are if-converted only when the
 *   compiler may assume that FP operations do not trap (they never do
 *   here: host FP exceptions are masked).
 * - sqrt() must compile to the instruction, not to a call that sets errno
 *   (gcc 12 honours this one only on the command line, -fno-math-errno).
 * - Never contract a*b+c into an FMA: the ISA specifies two roundings, and
 *   results must not depend on the host's instruction set.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic",          \
                     "no-math-errno", "no-trapping-math", "fp-contract=off")
#endif

/*
 * Hot kernels get an AVX2 clone on x86-64 hosts (chosen at load time):
 * twice the width, variable shifts, blends.  Results are identical in both
 * clones: no FMA is enabled and every element is computed the same way.
 */
#define CLONES VTPU_CLONES

#define N VTPU_N
/* Element i of every operand is read before element i of the result is
 * written, so d == a is fine; ivdep says so to the vectorizer. */
#ifdef __clang__ /* no ivdep in clang (the fuzz build, docs/fuzzing.md) */
#define EACH for (unsigned i = 0; i < N; i++)
#else
#define EACH _Pragma("GCC ivdep") for (unsigned i = 0; i < N; i++)
#endif

vtpu_vpu *vtpu_vpu_new(void)
{
    /* 64-byte alignment for full-width host vector loads/stores. */
    size_t size = (sizeof(vtpu_vpu) + 63) & ~(size_t)63;
    vtpu_vpu *p = aligned_alloc(64, size);
    if (!p)
        return NULL; /* vtpu_chip_new reports it */
    vtpu_vpu_reset(p);
    return p;
}

void vtpu_vpu_free(vtpu_vpu *p)
{
    free(p);
}

void vtpu_vpu_reset(vtpu_vpu *p)
{
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ */
/* bit casts (compile to nothing; gcc vectorizes through them)          */
/* ------------------------------------------------------------------ */

static inline float f_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t u_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline double d_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline uint64_t u64_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* ------------------------------------------------------------------ */
/* scalar element functions, all branch-free                            */
/* ------------------------------------------------------------------ */

/* NaN-propagating minimum with -0 < +0 (IEEE 754-2019 minimum). */
static inline uint32_t min_f32(uint32_t a, uint32_t b)
{
    float x = f_of(a), y = f_of(b);
    uint32_t r = x < y ? a : b;
    r = x == y ? (a | b) : r;            /* -0 wins over +0 */
    return (x != x || y != y) ? 0x7FC00000u : r;
}

static inline uint32_t max_f32(uint32_t a, uint32_t b)
{
    float x = f_of(a), y = f_of(b);
    uint32_t r = x > y ? a : b;
    r = x == y ? (a & b) : r;            /* +0 wins over -0 */
    return (x != x || y != y) ? 0x7FC00000u : r;
}

static inline uint32_t min_i32(uint32_t a, uint32_t b)
{
    return (int32_t)a < (int32_t)b ? a : b;
}

static inline uint32_t max_i32(uint32_t a, uint32_t b)
{
    return (int32_t)a > (int32_t)b ? a : b;
}

static inline uint32_t mask_of(int c)
{
    return -(uint32_t)(c != 0);
}

/* Truncation toward zero for |x| < 2^23 via the integer conversion; larger
 * magnitudes, infinities and NaNs are already integral (or NaN). */
static inline float trunc_f32(float x)
{
    float a = fabsf(x);
    float t = (float)(int32_t)(a < 8388608.0f ? a : 0.0f);
    return a < 8388608.0f ? copysignf(t, x) : x;
}

static inline float round_f32(float x)
{
    /* Adding and removing 2^23 rounds to an integer in the current
     * (round-to-nearest-even) mode. */
    float a = fabsf(x);
    float r = (a + 8388608.0f) - 8388608.0f;
    return a < 8388608.0f ? copysignf(r, x) : x;
}

/* f32 -> i32 toward zero, saturating, NaN -> 0. */
static inline uint32_t cvt_i32(float x)
{
    float c = x < -2147483648.0f ? -2147483648.0f : x;
    c = c > 2147483520.0f ? 2147483520.0f : c; /* largest f32 < 2^31 */
    c = x == x ? c : 0.0f;
    uint32_t r = (uint32_t)(int32_t)c;
    return x >= 2147483648.0f ? 0x7FFFFFFFu : r;
}

static inline uint32_t sat_i16(uint32_t v)
{
    int32_t x = (int32_t)v;
    x = x < -32768 ? -32768 : x;
    x = x > 32767 ? 32767 : x;
    return (uint32_t)x & 0xFFFFu;
}

static inline uint32_t sat_i8(uint32_t half)
{
    int32_t x = (int16_t)(uint16_t)half;
    x = x < -128 ? -128 : x;
    x = x > 127 ? 127 : x;
    return (uint32_t)x & 0xFFu;
}

/* ------------------------------------------------------------------ */
/* element-wise kernels                                                  */
/* ------------------------------------------------------------------ */

typedef uint32_t *__restrict wptr; /* only ever a scratch destination */

CLONES static void alu_binary(unsigned f7, unsigned t, uint32_t *d,
                       const uint32_t *a, const uint32_t *b)
{
    const float *fa = (const float *)a, *fb = (const float *)b;
    float *fd = (float *)d;

    switch (f7 << 2 | t) {
    case XTPU_VADD << 2 | XTPU_T_F32:
        EACH fd[i] = fa[i] + fb[i];
        break;
    case XTPU_VADD << 2 | XTPU_T_I32:
        EACH d[i] = a[i] + b[i];
        break;
    case XTPU_VSUB << 2 | XTPU_T_F32:
        EACH fd[i] = fa[i] - fb[i];
        break;
    case XTPU_VSUB << 2 | XTPU_T_I32:
        EACH d[i] = a[i] - b[i];
        break;
    case XTPU_VMUL << 2 | XTPU_T_F32:
        EACH fd[i] = fa[i] * fb[i];
        break;
    case XTPU_VMUL << 2 | XTPU_T_I32:
        EACH d[i] = a[i] * b[i];
        break;
    case XTPU_VDIV << 2 | XTPU_T_F32:
        EACH fd[i] = fa[i] / fb[i];
        break;
    case XTPU_VMIN << 2 | XTPU_T_F32:
        EACH d[i] = min_f32(a[i], b[i]);
        break;
    case XTPU_VMIN << 2 | XTPU_T_I32:
        EACH d[i] = min_i32(a[i], b[i]);
        break;
    case XTPU_VMIN << 2 | XTPU_T_U32:
        EACH d[i] = a[i] < b[i] ? a[i] : b[i];
        break;
    case XTPU_VMAX << 2 | XTPU_T_F32:
        EACH d[i] = max_f32(a[i], b[i]);
        break;
    case XTPU_VMAX << 2 | XTPU_T_I32:
        EACH d[i] = max_i32(a[i], b[i]);
        break;
    case XTPU_VMAX << 2 | XTPU_T_U32:
        EACH d[i] = a[i] > b[i] ? a[i] : b[i];
        break;
    case XTPU_VAND << 2:
        EACH d[i] = a[i] & b[i];
        break;
    case XTPU_VOR << 2:
        EACH d[i] = a[i] | b[i];
        break;
    case XTPU_VXOR << 2:
        EACH d[i] = a[i] ^ b[i];
        break;
    case XTPU_VSLL << 2:
        EACH d[i] = a[i] << (b[i] & 31);
        break;
    case XTPU_VSRL << 2:
        EACH d[i] = a[i] >> (b[i] & 31);
        break;
    case XTPU_VSRA << 2:
        /* gcc defines >> of a negative int as arithmetic */
        EACH d[i] = (uint32_t)((int32_t)a[i] >> (b[i] & 31));
        break;
    }
}

CLONES static void alu_compare(unsigned f7, unsigned cond, uint32_t *m,
                        const uint32_t *a, const uint32_t *b)
{
    const float *fa = (const float *)a, *fb = (const float *)b;
    const int32_t *ia = (const int32_t *)a, *ib = (const int32_t *)b;

#define CMP(x, y)                                                            \
    switch (cond) {                                                          \
    case XTPU_CMP_EQ:                                                        \
        EACH m[i] = mask_of(x[i] == y[i]);                                   \
        break;                                                               \
    case XTPU_CMP_NE:                                                        \
        EACH m[i] = mask_of(!(x[i] == y[i]));                                \
        break;                                                               \
    case XTPU_CMP_LT:                                                        \
        EACH m[i] = mask_of(x[i] < y[i]);                                    \
        break;                                                               \
    case XTPU_CMP_LE:                                                        \
        EACH m[i] = mask_of(x[i] <= y[i]);                                   \
        break;                                                               \
    case XTPU_CMP_GT:                                                        \
        EACH m[i] = mask_of(x[i] > y[i]);                                    \
        break;                                                               \
    default:                                                                 \
        EACH m[i] = mask_of(x[i] >= y[i]);                                   \
        break;                                                               \
    }
    if (f7 == XTPU_VCMP_F32) {
        CMP(fa, fb);
    } else if (f7 == XTPU_VCMP_I32) {
        CMP(ia, ib);
    } else {
        CMP(a, b);
    }
#undef CMP
}

CLONES static void alu_unary(unsigned f7, unsigned t, uint32_t *d,
                      const uint32_t *a)
{
    const float *fa = (const float *)a;
    float *fd = (float *)d;

    switch (f7 << 3 | t) {
    case XTPU_VNEG << 3 | XTPU_T_F32:
        EACH d[i] = a[i] ^ 0x80000000u;
        break;
    case XTPU_VNEG << 3 | XTPU_T_I32:
        EACH d[i] = -a[i];
        break;
    case XTPU_VABS << 3 | XTPU_T_F32:
        EACH d[i] = a[i] & 0x7FFFFFFFu;
        break;
    case XTPU_VABS << 3 | XTPU_T_I32:
        EACH d[i] = (int32_t)a[i] < 0 ? -a[i] : a[i];
        break;
    case XTPU_VNOT << 3:
        EACH d[i] = ~a[i];
        break;
    case XTPU_VCVT << 3 | XTPU_CVT_F32_I32_RTZ:
        EACH d[i] = cvt_i32(fa[i]);
        break;
    case XTPU_VCVT << 3 | XTPU_CVT_F32_I32_RNE:
        EACH d[i] = cvt_i32(round_f32(fa[i]));
        break;
    case XTPU_VCVT << 3 | XTPU_CVT_I32_F32:
        EACH fd[i] = (float)(int32_t)a[i];
        break;
    case XTPU_VCVT << 3 | XTPU_CVT_U32_F32:
        EACH fd[i] = (float)a[i];
        break;
    case XTPU_VFLOOR << 3:
        EACH {
            float t0 = trunc_f32(fa[i]);
            fd[i] = t0 > fa[i] ? t0 - 1.0f : t0;
        }
        break;
    case XTPU_VCEIL << 3:
        EACH {
            float t0 = trunc_f32(fa[i]);
            fd[i] = t0 < fa[i] ? t0 + 1.0f : t0;
        }
        break;
    case XTPU_VTRUNC << 3:
        EACH fd[i] = trunc_f32(fa[i]);
        break;
    case XTPU_VROUND << 3:
        EACH fd[i] = round_f32(fa[i]);
        break;
    }
}

/*
 * Packed formats keep memory order: a packed vreg is the row-major image
 * of 2048 bf16/i16 (or 4096 i8) elements, element e in word e / 2 (e / 4)
 * at bit 16 * (e % 2) (8 * (e % 4)).  So a DMA'd bf16 array, loaded with a
 * dense VLD, is already packed.  `w` never aliases a or b.
 */
CLONES static void pack(unsigned kind, wptr w, const uint32_t *a, const uint32_t *b)
{
    for (unsigned h = 0; h < 2; h++) {
        const uint32_t *s = h ? b : a;
        uint32_t *o = w + h * (N / 2);
        if (kind == XTPU_PACK_BF16) {
            for (unsigned j = 0; j < N / 2; j++)
                o[j] = vtpu_bf16_from_f32(s[2 * j]) |
                       vtpu_bf16_from_f32(s[2 * j + 1]) << 16;
        } else if (kind == XTPU_PACK_I16) {
            for (unsigned j = 0; j < N / 2; j++)
                o[j] = sat_i16(s[2 * j]) | sat_i16(s[2 * j + 1]) << 16;
        } else {
            for (unsigned j = 0; j < N / 2; j++)
                o[j] = sat_i8(s[2 * j]) | sat_i8(s[2 * j] >> 16) << 8 |
                       sat_i8(s[2 * j + 1]) << 16 |
                       sat_i8(s[2 * j + 1] >> 16) << 24;
        }
    }
}

CLONES static void unpack(unsigned kind, wptr w, const uint32_t *a)
{
    if (kind <= XTPU_UNPACK_BF16_HI) {
        const uint32_t *s = a + (kind & 1) * (N / 2);
        for (unsigned j = 0; j < N / 2; j++) {
            w[2 * j] = s[j] << 16;
            w[2 * j + 1] = s[j] & 0xFFFF0000u;
        }
    } else if (kind <= XTPU_UNPACK_I16_HI) {
        const uint32_t *s = a + (kind & 1) * (N / 2);
        for (unsigned j = 0; j < N / 2; j++) {
            w[2 * j] = (uint32_t)(int32_t)(int16_t)(s[j] & 0xFFFFu);
            w[2 * j + 1] = (uint32_t)((int32_t)s[j] >> 16);
        }
    } else {
        const uint32_t *s = a + (kind - XTPU_UNPACK_I8_Q0) * (N / 4);
        for (unsigned j = 0; j < N / 4; j++)
            for (unsigned k = 0; k < 4; k++)
                w[4 * j + k] = (uint32_t)(int32_t)(int8_t)(s[j] >> (8 * k));
    }
}

/* ------------------------------------------------------------------ */
/* transcendental functions                                              */
/* ------------------------------------------------------------------ */

/*
 * All are evaluated in double precision and rounded once to f32.  The
 * double result has a relative error below 2^-40, so the f32 result is the
 * correctly rounded one except when the exact value lies within 2^-40
 * relative of a rounding boundary; the error bound is 0.5 ulp + a hair
 * (tests/test_vpu.c measures it against libm in double).
 */
#define SHIFT 0x1.8p52 /* adding it rounds a double to an integer */
#define INV_LN2 0x1.71547652b82fep+0
#define LN2 0x1.62e42fefa39efp-1
#define LN2_HI 0x1.62e42fefa3800p-1 /* 42 bits: n * LN2_HI is exact */
#define LN2_LO 0x1.ef35793c76730p-45
#define TWO_OVER_PI 0x1.45f306dc9c883p-1
#define PIO2_1 0x1.921fb54400000p+0 /* pi/2 in three parts; the first */
#define PIO2_2 0x1.0b4611a600000p-34 /* two have 33 bits, so k * part */
#define PIO2_3 0x1.3198a2e037073p-69 /* is exact for k < 2^20 */
#define TRIG_FAST_MAX 0x1p19f        /* |x| below it: Cody-Waite */

/* e^x for x in [-708, 709] (not NaN): 2^n * e^r, |r| <= ln2/2, Taylor to
 * r^12 (truncation error < 2^-52). */
static inline double exp_core(double x)
{
    double t = x * INV_LN2 + SHIFT;
    double n = t - SHIFT;
    double r = (x - n * LN2_HI) - n * LN2_LO;
    double p = 1.0 / 479001600;
    p = p * r + 1.0 / 39916800;
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* n sits in the low bits of t; build 2^n from it */
    uint64_t k = u64_of(t) - u64_of(SHIFT);
    return p * d_of((k + 1023) << 52);
}

static inline double clamp_d(double x, double lo, double hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* log(x) for finite x > 0 (a normal double): x = 2^e * m, m in
 * [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172,
 * series to s^19 (truncation error < 2^-54 relative).  Adding
 * 1 - sqrt(1/2) to the mantissa carries into the exponent exactly when
 * m >= sqrt(2), which splits x without a compare (64-bit compares do not
 * vectorize on baseline x86-64). */
static inline double log_core(double x)
{
    const uint64_t sqrt_half = 0x3FE6A09E667F3BCDull;
    uint64_t u = u64_of(x) + (0x3FF0000000000000ull - sqrt_half);
    double m = d_of((u & 0x000FFFFFFFFFFFFFull) + sqrt_half);
    uint64_t e = (u >> 52) - 1023; /* two's complement */
    double ed = d_of(u64_of(SHIFT) + e) - SHIFT;
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    double p = 2.0 / 19;
    p = p * z + 2.0 / 17;
    p = p * z + 2.0 / 15;
    p = p * z + 2.0 / 13;
    p = p * z + 2.0 / 11;
    p = p * z + 2.0 / 9;
    p = p * z + 2.0 / 7;
    p = p * z + 2.0 / 5;
    p = p * z + 2.0 / 3;
    double l = 2.0 * s + s * z * p;
    return ed * LN2_HI + (ed * LN2_LO + l);
}

/* sin (cos_shift 0) or cos (cos_shift 1) of |x| < TRIG_FAST_MAX. */
static inline double trig_core(double x, uint64_t cos_shift)
{
    double t = x * TWO_OVER_PI + SHIFT;
    double k = t - SHIFT;
    double r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    uint64_t q = u64_of(t) + cos_shift;
    double z = r * r;
    /* Taylor series on |r| <= pi/4: sin to r^15, cos to r^16 */
    double s = -1.0 / 1307674368000;
    s = s * z + 1.0 / 6227020800;
    s = s * z - 1.0 / 39916800;
    s = s * z + 1.0 / 362880;
    s = s * z - 1.0 / 5040;
    s = s * z + 1.0 / 120;
    s = s * z - 1.0 / 6;
    s = r * (1.0 + z * s); /* keeps the sign of -0 */
    double c = 1.0 / 20922789888000;
    c = c * z - 1.0 / 87178291200;
    c = c * z + 1.0 / 479001600;
    c = c * z - 1.0 / 3628800;
    c = c * z + 1.0 / 40320;
    c = c * z - 1.0 / 720;
    c = c * z + 1.0 / 24;
    c = c * z - 0.5;
    c = 1.0 + z * c;
    /* quadrant: odd -> cos, 2 and 3 -> negate; done on the bits */
    uint64_t pick = 0 - (q & 1);
    uint64_t v = (u64_of(c) & pick) | (u64_of(s) & ~pick);
    return d_of(v ^ ((q & 2) << 62));
}

CLONES static void math_exp(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++) {
        float x = a[i];
        float y = (float)exp_core(clamp_d(x, -104.0, 89.0));
        d[i] = x == x ? y : x + x;
    }
}

CLONES static void math_log(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++) {
        float x = a[i];
        float y = (float)log_core(clamp_d(x, 0x1p-149, 0x1.fffffep127));
        y = x == INFINITY ? INFINITY : y;
        y = x == 0.0f ? -INFINITY : y;
        y = x < 0.0f ? NAN : y;
        d[i] = x == x ? y : x + x;
    }
}

CLONES static void math_tanh(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++) {
        double x = a[i], ax = fabs(x), z = x * x;
        /* |x| < 1/16: Taylor to x^11, else (e^2x - 1) / (e^2x + 1) */
        double p = -1382.0 / 155925;
        p = p * z + 62.0 / 2835;
        p = p * z - 17.0 / 315;
        p = p * z + 2.0 / 15;
        p = p * z - 1.0 / 3;
        double small = x * (1.0 + z * p); /* keeps the sign of -0 */
        double t = exp_core(2.0 * (ax < 20.0 ? ax : 20.0));
        double big = copysign((t - 1.0) / (t + 1.0), x);
        float y = (float)(ax < 0.0625 ? small : big);
        d[i] = x == x ? y : a[i] + a[i];
    }
}

CLONES static void math_logistic(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++) {
        float x = a[i];
        float y = (float)(1.0 / (1.0 + exp_core(clamp_d(-x, -200, 200))));
        d[i] = x == x ? y : x + x;
    }
}

/* Returns non-zero if some |a[i]| >= TRIG_FAST_MAX (or inf/NaN): those
 * results are garbage and must be replaced by trig_fixup(). */
CLONES static uint32_t trig_main(float *__restrict d,
                                 const float *__restrict a,
                                 uint64_t cos_shift)
{
    uint32_t slow = 0;
    for (unsigned i = 0; i < N; i++) {
        slow |= (u_of(a[i]) & 0x7FFFFFFFu) >= u_of(TRIG_FAST_MAX);
        d[i] = (float)trig_core(a[i], cos_shift);
    }
    return slow;
}

/*
 * Huge arguments (and inf/NaN) need an exact reduction modulo pi/2; the
 * host's double sin/cos do that, and rounding their result to f32 keeps
 * our bound.  Rare enough that a per-element branch is fine.  Kept out of
 * the AVX2 clones: scalar calls from AVX code pay transition stalls.
 */
static void math_trig(float *__restrict d, const float *__restrict a,
                      uint64_t cos_shift)
{
    if (VTPU_LIKELY(!trig_main(d, a, cos_shift)))
        return;
    for (unsigned i = 0; i < N; i++) {
        if (!(fabsf(a[i]) < TRIG_FAST_MAX))
            d[i] = (float)(cos_shift ? cos(a[i]) : sin(a[i]));
    }
}

CLONES static void math_sqrt(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++)
        d[i] = sqrtf(a[i]);
}

CLONES static void math_rsqrt(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++)
        d[i] = (float)(1.0 / sqrt((double)a[i]));
}

CLONES static void math_recip(float *__restrict d, const float *__restrict a)
{
    for (unsigned i = 0; i < N; i++)
        d[i] = 1.0f / a[i];
}

void vtpu_vmath_unary(unsigned op, float *d, const float *a)
{
    switch (op) {
    case XTPU_VSQRT:
        math_sqrt(d, a);
        break;
    case XTPU_VRSQRT:
        math_rsqrt(d, a);
        break;
    case XTPU_VRECIP:
        math_recip(d, a);
        break;
    case XTPU_VEXP:
        math_exp(d, a);
        break;
    case XTPU_VLOG:
        math_log(d, a);
        break;
    case XTPU_VTANH:
        math_tanh(d, a);
        break;
    case XTPU_VLOGISTIC:
        math_logistic(d, a);
        break;
    case XTPU_VSIN:
        math_trig(d, a, 0);
        break;
    case XTPU_VCOS:
        math_trig(d, a, 1);
        break;
    }
}

static int is_int_f32(float y)
{
    return trunc_f32(y) == y;
}

static int is_odd_int_f32(float y)
{
    /* odd integers are below 2^24 in magnitude */
    return fabsf(y) < 16777216.0f && is_int_f32(y) &&
           ((int32_t)y & 1) != 0;
}

/* pow for the cases the main loop flags: x <= 0, x or y not finite.
 * `mag` is the main loop's |x|^y.  Follows C99 Annex F (powf). */
static float pow_special(float x, float y, float mag)
{
    if (y == 0.0f || x == 1.0f)
        return 1.0f;
    if (x != x || y != y)
        return x + y;
    if (isinf(y)) {
        float ax = fabsf(x);
        if (ax == 1.0f)
            return 1.0f;
        return (ax < 1.0f) == (y < 0.0f) ? INFINITY : 0.0f;
    }
    int odd = is_odd_int_f32(y);
    if (x == 0.0f) {
        float r = y < 0.0f ? INFINITY : 0.0f;
        return odd ? copysignf(r, x) : r;
    }
    if (isinf(x)) {
        float r = (y < 0.0f) == (x > 0.0f) ? 0.0f : INFINITY;
        if (x < 0.0f)
            r = y < 0.0f ? (odd ? -0.0f : 0.0f) : (odd ? -INFINITY : INFINITY);
        return r;
    }
    /* finite x < 0 */
    if (!is_int_f32(y))
        return NAN;
    return odd ? -mag : mag;
}

/* |a|^b for every element; non-zero if some element needs pow_special(). */
CLONES static uint32_t pow_main(float *__restrict d, const float *__restrict a,
                                const float *__restrict b)
{
    uint32_t special = 0;
    for (unsigned i = 0; i < N; i++) {
        float x = a[i], y = b[i];
        float ax = fabsf(x);
        int ok = (ax > 0.0f) & (ax < INFINITY) & (fabsf(y) < INFINITY);
        special |= (uint32_t)(ok ^ 1) | (uint32_t)(x < 0.0f);
        double l = log_core(ax); /* garbage when !ok, fixed below */
        double z = clamp_d((double)y * l, -708.0, 709.0);
        d[i] = (float)exp_core(z);
    }
    return special;
}

void vtpu_vmath_pow(float *__restrict d, const float *__restrict a,
                    const float *__restrict b)
{
    if (VTPU_LIKELY(!pow_main(d, a, b)))
        return;
    for (unsigned i = 0; i < N; i++) {
        float x = a[i], y = b[i];
        if (!(x > 0.0f && x < INFINITY && fabsf(y) < INFINITY))
            d[i] = pow_special(x, y, d[i]);
    }
}

/* ------------------------------------------------------------------ */
/* custom-0 dispatch                                                    */
/* ------------------------------------------------------------------ */

CLONES static void alu_select(uint32_t *d, const uint32_t *a,
                              const uint32_t *b, const uint32_t *m)
{
    EACH d[i] = (a[i] & m[i]) | (b[i] & ~m[i]);
}

CLONES static void alu_sround(uint32_t *d, const uint32_t *a,
                              const uint32_t *b)
{
    EACH d[i] = vtpu_bf16_sround(a[i], b[i]);
}

bool vtpu_vpu_alu_valid(uint32_t raw)
{
    unsigned f7 = XTPU_FUNCT7(raw), t = XTPU_FUNCT3(raw);
    unsigned rd = XTPU_RD(raw), rs2 = XTPU_RS2(raw);

    switch (f7) {
    case XTPU_VADD:
    case XTPU_VSUB:
    case XTPU_VMUL:
        return t <= XTPU_T_I32;
    case XTPU_VDIV:
    case XTPU_VPOW:
        return t == XTPU_T_F32;
    case XTPU_VMIN:
    case XTPU_VMAX:
        return t <= XTPU_T_U32;
    case XTPU_VAND:
    case XTPU_VOR:
    case XTPU_VXOR:
    case XTPU_VSLL:
    case XTPU_VSRL:
    case XTPU_VSRA:
        return t == 0;
    case XTPU_VPACK:
        return t <= XTPU_PACK_I8;
    case XTPU_VSROUND:
        return t == 0;
    case XTPU_VCMP_F32:
    case XTPU_VCMP_I32:
    case XTPU_VCMP_U32:
        return t <= XTPU_CMP_GE && rd < VTPU_NUM_MASKS;
    case XTPU_VSEL:
        return true;
    case XTPU_VNEG:
    case XTPU_VABS:
        return t <= XTPU_T_I32 && rs2 == 0;
    case XTPU_VNOT:
        return t == 0 && rs2 == 0;
    case XTPU_VCVT:
        return t <= XTPU_CVT_U32_F32 && rs2 == 0;
    case XTPU_VUNPACK:
        return rs2 == 0;
    case XTPU_VFLOOR:
    case XTPU_VCEIL:
    case XTPU_VTRUNC:
    case XTPU_VROUND:
    case XTPU_VSQRT:
    case XTPU_VRSQRT:
    case XTPU_VRECIP:
    case XTPU_VEXP:
    case XTPU_VLOG:
    case XTPU_VTANH:
    case XTPU_VLOGISTIC:
    case XTPU_VSIN:
    case XTPU_VCOS:
        return t == 0 && rs2 == 0;
    default:
        return false;
    }
}

void vtpu_vpu_alu(vtpu_vpu *p, uint32_t raw)
{
    unsigned f7 = XTPU_FUNCT7(raw), t = XTPU_FUNCT3(raw);
    uint32_t *d = p->v[XTPU_RD(raw)].u;
    const uint32_t *a = p->v[XTPU_RS1(raw)].u;
    const uint32_t *b = p->v[XTPU_RS2(raw)].u;
    uint32_t *w = p->tmp[0].u;

    switch (f7) {
    case XTPU_VCMP_F32:
    case XTPU_VCMP_I32:
    case XTPU_VCMP_U32:
        alu_compare(f7, t, p->m[XTPU_RD(raw)], a, b);
        return;
    case XTPU_VSEL:
        alu_select(d, a, b, p->m[t]);
        return;
    case XTPU_VPACK:
        pack(t, w, a, b);
        vtpu_bulk_copy(d, w, sizeof(vtpu_vreg));
        return;
    case XTPU_VUNPACK:
        unpack(t, w, a);
        vtpu_bulk_copy(d, w, sizeof(vtpu_vreg));
        return;
    case XTPU_VSROUND:
        alu_sround(d, a, b);
        return;
    case XTPU_VPOW:
        vtpu_vmath_pow((float *)w, (const float *)a, (const float *)b);
        vtpu_bulk_copy(d, w, sizeof(vtpu_vreg));
        return;
    default:
        break;
    }
    if (f7 >= XTPU_VSQRT) {
        /* the math kernels read inputs again after writing (fix-ups) */
        vtpu_vmath_unary(f7, (float *)w, (const float *)a);
        vtpu_bulk_copy(d, w, sizeof(vtpu_vreg));
    } else if (f7 >= XTPU_VNEG) {
        alu_unary(f7, t, d, a);
    } else {
        alu_binary(f7, t, d, a, b);
    }
}

CLONES void vtpu_vpu_muladd(vtpu_vpu *p, unsigned f2, unsigned d, unsigned a,
                     unsigned b, unsigned c)
{
    float *fd = p->v[d].f;
    const float *fa = p->v[a].f, *fb = p->v[b].f, *fc = p->v[c].f;

    switch (f2) {
    case XTPU_MULADD_F32:
        EACH fd[i] = fa[i] * fb[i] + fc[i];
        break;
    case XTPU_MULSUB_F32:
        EACH fd[i] = fa[i] * fb[i] - fc[i];
        break;
    case XTPU_NMULSUB_F32:
        EACH fd[i] = fc[i] - fa[i] * fb[i];
        break;
    default: {
        uint32_t *ud = p->v[d].u;
        const uint32_t *ua = p->v[a].u, *ub = p->v[b].u, *uc = p->v[c].u;
        EACH ud[i] = ua[i] * ub[i] + uc[i];
        break;
    }
    }
}

/* ------------------------------------------------------------------ */
/* custom-1: cross-lane and masks                                        */
/* ------------------------------------------------------------------ */

void vtpu_vpu_iota(vtpu_vpu *p, unsigned d, unsigned kind, uint32_t base)
{
    uint32_t *o = p->v[d].u;
    for (unsigned i = 0; i < N; i++) {
        uint32_t idx = kind == XTPU_IOTA_LANE      ? i % VTPU_LANES
                       : kind == XTPU_IOTA_SUBLANE ? i / VTPU_LANES
                                                   : i;
        o[i] = idx + base;
    }
}

void vtpu_vpu_bcast(vtpu_vpu *p, unsigned d, uint32_t value)
{
    uint32_t *o = p->v[d].u;
    for (unsigned i = 0; i < N; i++)
        o[i] = value;
}

/* out[l] = in[(l - k) mod n], like jnp.roll.  Rotations are hot in
 * sorts: write straight into vd unless it is also the source. */
CLONES void vtpu_vpu_rot_lanes(vtpu_vpu *p, unsigned d, unsigned a,
                               uint32_t k)
{
    const unsigned L = VTPU_LANES;
    unsigned s = k % L;
    uint32_t *w = d == a ? p->tmp[0].u : p->v[d].u;
    const uint32_t *in = p->v[a].u;
    /* two vectorised copies per row, not two libc calls of odd sizes */
    for (unsigned r = 0; r < VTPU_SUBLANES; r++) {
        const uint32_t *__restrict ir = in + r * L;
        uint32_t *__restrict orow = w + r * L;
        for (unsigned l = 0; l < s; l++)
            orow[l] = ir[l + L - s];
        for (unsigned l = s; l < L; l++)
            orow[l] = ir[l - s];
    }
    if (d == a)
        vtpu_bulk_copy(p->v[d].u, w, sizeof(vtpu_vreg));
}

void vtpu_vpu_rot_sublanes(vtpu_vpu *p, unsigned d, unsigned a, uint32_t k)
{
    const unsigned S = VTPU_SUBLANES, L = VTPU_LANES;
    unsigned s = k % S;
    uint32_t *w = d == a ? p->tmp[0].u : p->v[d].u;
    const uint32_t *in = p->v[a].u;
    for (unsigned r = 0; r < S; r++)
        vtpu_bulk_copy(w + ((r + s) % S) * L, in + r * L, L * 4);
    if (d == a)
        vtpu_bulk_copy(p->v[d].u, w, sizeof(vtpu_vreg));
}

/* One tree step over `n` words: w[j] = op(w[j], w[j + n]).  The switch is
 * outside the loops so each variant vectorizes. */
CLONES static void red_step(unsigned op, uint32_t *w, unsigned n)
{
    uint32_t *__restrict lo = w;
    const uint32_t *__restrict hi = w + n;
    switch (op) {
    case XTPU_RED_SUM_F32:
        for (unsigned j = 0; j < n; j++)
            lo[j] = u_of(f_of(lo[j]) + f_of(hi[j]));
        break;
    case XTPU_RED_MAX_F32:
        for (unsigned j = 0; j < n; j++)
            lo[j] = max_f32(lo[j], hi[j]);
        break;
    case XTPU_RED_MIN_F32:
        for (unsigned j = 0; j < n; j++)
            lo[j] = min_f32(lo[j], hi[j]);
        break;
    case XTPU_RED_SUM_I32:
        for (unsigned j = 0; j < n; j++)
            lo[j] = lo[j] + hi[j];
        break;
    case XTPU_RED_MAX_I32:
        for (unsigned j = 0; j < n; j++)
            lo[j] = max_i32(lo[j], hi[j]);
        break;
    default:
        for (unsigned j = 0; j < n; j++)
            lo[j] = min_i32(lo[j], hi[j]);
        break;
    }
}

/*
 * Pairwise trees with a fixed shape so results are reproducible: along
 * lanes, step n = 64, 32, ..., 1 combines lane j with lane j + n; along
 * sublanes, n = 4, 2, 1 combines sublane s with s + n.  The result is
 * broadcast along the reduced axis.
 */
void vtpu_vpu_reduce(vtpu_vpu *p, unsigned d, unsigned a, unsigned op,
                     bool lanes)
{
    const unsigned S = VTPU_SUBLANES, L = VTPU_LANES;
    uint32_t *w = p->tmp[0].u;
    uint32_t *o = p->v[d].u;

    vtpu_bulk_copy(w, p->v[a].u, sizeof(vtpu_vreg));
    if (lanes) {
        for (unsigned r = 0; r < S; r++) {
            for (unsigned n = L / 2; n >= 1; n /= 2)
                red_step(op, w + r * L, n);
            for (unsigned l = 0; l < L; l++)
                o[r * L + l] = w[r * L];
        }
    } else {
        for (unsigned n = S / 2; n >= 1; n /= 2)
            red_step(op, w, n * L); /* rows r < n with rows r + n */
        for (unsigned r = 0; r < S; r++)
            vtpu_bulk_copy(o + r * L, w, L * 4);
    }
}

/*
 * XTPU_XPOSE_128: vregs a..a+15 hold a (128,128) matrix, row 8 * k + s in
 * sublane s of vreg a + k; d..d+15 receive its transpose.  Source and
 * destination groups may overlap, hence the scratch copy.
 * XTPU_XPOSE_8: each 8x8 tile (lanes 8j..8j+7) of vreg a is transposed.
 */
void vtpu_vpu_transpose(vtpu_vpu *p, unsigned d, unsigned a, unsigned kind)
{
    const unsigned S = VTPU_SUBLANES, L = VTPU_LANES;

    if (kind == XTPU_XPOSE_8) {
        const uint32_t *in = p->v[a].u;
        uint32_t *w = p->tmp[0].u;
        for (unsigned s = 0; s < S; s++)
            for (unsigned j = 0; j < L; j += 8)
                for (unsigned t = 0; t < 8; t++)
                    w[s * L + j + t] = in[t * L + j + s];
        vtpu_bulk_copy(p->v[d].u, w, sizeof(vtpu_vreg));
        return;
    }
    uint32_t *w = p->tmp[0].u; /* 16 scratch vregs = one 128x128 matrix */
    const uint32_t *in = p->v[a].u;
    for (unsigned rb = 0; rb < L; rb += 8)
        for (unsigned cb = 0; cb < L; cb += 8)
            for (unsigned r = rb; r < rb + 8; r++)
                for (unsigned c = cb; c < cb + 8; c++)
                    w[c * L + r] = in[r * L + c];
    vtpu_bulk_copy(p->v[d].u, w, 16 * sizeof(vtpu_vreg));
}

CLONES void vtpu_vpu_mask_logic(vtpu_vpu *p, unsigned op, unsigned md,
                         unsigned ma, unsigned mb)
{
    uint32_t *d = p->m[md];
    const uint32_t *a = p->m[ma], *b = p->m[mb];

    switch (op) {
    case XTPU_M_AND:
        EACH d[i] = a[i] & b[i];
        break;
    case XTPU_M_OR:
        EACH d[i] = a[i] | b[i];
        break;
    case XTPU_M_XOR:
        EACH d[i] = a[i] ^ b[i];
        break;
    case XTPU_M_ANDN:
        EACH d[i] = a[i] & ~b[i];
        break;
    case XTPU_M_NOT:
        EACH d[i] = ~a[i];
        break;
    case XTPU_M_SET:
        memset(d, 0xFF, N * 4);
        break;
    default:
        memset(d, 0, N * 4);
        break;
    }
}

void vtpu_vpu_mask_from_vreg(vtpu_vpu *p, unsigned md, unsigned a)
{
    uint32_t *d = p->m[md];
    const uint32_t *s = p->v[a].u;
    EACH d[i] = mask_of(s[i] != 0);
}

void vtpu_vpu_mask_to_vreg(vtpu_vpu *p, unsigned d, unsigned ma,
                           unsigned kind)
{
    static const uint32_t one[] = {0xFFFFFFFFu, 1u, 0x3F800000u};
    uint32_t v = one[kind];
    uint32_t *o = p->v[d].u;
    const uint32_t *m = p->m[ma];
    EACH o[i] = m[i] & v;
}

uint32_t vtpu_vpu_mask_count(const vtpu_vpu *p, unsigned ma)
{
    const uint32_t *m = p->m[ma];
    uint32_t n = 0;
    for (unsigned i = 0; i < N; i++)
        n += m[i] & 1;
    return n;
}
