/*
 * fpu.c - RV32F arithmetic exact to the RISC-V spec (docs/scalar-core.md).
 *
 * Two implementations of the rounding arithmetic:
 *  - the host's SSE unit for RNE/RTZ/RDN/RUP: IEEE 754 like RISC-V, and
 *    like RISC-V (unlike Arm) it detects tininess after rounding, so its
 *    sticky flags are exactly fflags; only NaN results (canonicalised
 *    here) and inf*0+qNaN in fma (NV forced here) need fixing up;
 *  - a small software float ("sf_", integer arithmetic only) for RMM,
 *    which SSE cannot do, and for hosts without SSE.
 * Comparisons, min/max, classification and float->int conversion have
 * RISC-V-specific rules (saturation, NaN handling) and are integer code.
 */
#include "fpu.h"

#define F32_SIGN 0x80000000u
#define F32_ABS 0x7fffffffu
#define F32_INF 0x7f800000u

static bool is_nan(uint32_t a)
{
    return (a & F32_ABS) > F32_INF;
}

static bool is_snan(uint32_t a)
{
    return is_nan(a) && !(a & 0x00400000u);
}

static bool is_inf(uint32_t a)
{
    return (a & F32_ABS) == F32_INF;
}

static bool is_zero(uint32_t a)
{
    return (a & F32_ABS) == 0;
}

/* ------------------------------------------------------------------ */
/* Host FP state                                                        */
/* ------------------------------------------------------------------ */

#ifdef VTPU_FPU_HOST_SSE

/* All exceptions masked, round to nearest, DAZ/FTZ off, flags clear. */
#define MXCSR_OURS 0x1f80u
#define MXCSR_RC 0x6000u
#define MXCSR_FLAGS 0x3fu

static uint32_t mx_get(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static void mx_set(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v));
}

/* MXCSR IE,DE,ZE,OE,UE,PE -> NV,-,DZ,OF,UF,NX (DE has no RISC-V twin). */
static uint32_t mx_to_fflags(uint32_t m)
{
    return ((m & 0x01) ? VTPU_FF_NV : 0) | ((m & 0x04) ? VTPU_FF_DZ : 0) |
           ((m & 0x08) ? VTPU_FF_OF : 0) | ((m & 0x10) ? VTPU_FF_UF : 0) |
           ((m & 0x20) ? VTPU_FF_NX : 0);
}

uint32_t vtpu_fpu_enter(void)
{
    uint32_t saved = mx_get();
    mx_set(MXCSR_OURS);
    return saved;
}

void vtpu_fpu_fold(uint32_t *fflags)
{
    uint32_t m = mx_get();
    if (m & MXCSR_FLAGS) {
        *fflags |= mx_to_fflags(m);
        mx_set(m & ~MXCSR_FLAGS);
    }
}

void vtpu_fpu_leave(uint32_t saved, uint32_t *fflags)
{
    vtpu_fpu_fold(fflags);
    mx_set(saved);
}

/* RISC-V rm -> MXCSR rounding control (RMM never gets here). */
static const uint32_t rm_to_rc[4] = {0x0000, 0x6000, 0x2000, 0x4000};

/*
 * Run `expr` (host FP, volatile asm) under rounding mode rm.  The flags it
 * raises stay pending like those of the round-to-nearest fast path.
 */
#define WITH_RM(rm, expr)                                                      \
    ({                                                                         \
        uint32_t m_ = mx_get();                                                \
        mx_set((m_ & ~MXCSR_RC) | rm_to_rc[rm]);                               \
        uint32_t r_ = (expr);                                                  \
        mx_set((mx_get() & ~MXCSR_RC) | (m_ & MXCSR_RC));                      \
        r_;                                                                    \
    })

static uint32_t h_sqrt(uint32_t a)
{
    float x = vtpu_f32_host(a);
    __asm__ volatile("sqrtss %0, %0" : "+x"(x));
    return vtpu_f32_canon(vtpu_f32_bits(x));
}

static uint32_t h_fma(uint32_t a, uint32_t b, uint32_t c)
{
    float x = vtpu_f32_host(a), y = vtpu_f32_host(b), z = vtpu_f32_host(c);
    __asm__ volatile("vfmadd231ss %2, %1, %0" : "+x"(z) : "x"(x), "x"(y));
    return vtpu_f32_canon(vtpu_f32_bits(z));
}

static uint32_t h_from_i32(int32_t v)
{
    float x;
    __asm__ volatile("cvtsi2ssl %1, %0" : "=x"(x) : "r"(v));
    return vtpu_f32_bits(x);
}

static uint32_t h_from_u32(uint32_t v)
{
    /* Via a 64-bit signed source: exact input, one rounding. */
    float x;
    int64_t w = v;
    __asm__ volatile("cvtsi2ssq %1, %0" : "=x"(x) : "r"(w));
    return vtpu_f32_bits(x);
}

#else /* software only */

uint32_t vtpu_fpu_enter(void)
{
    return 0;
}

void vtpu_fpu_fold(uint32_t *fflags)
{
    (void)fflags;
}

void vtpu_fpu_leave(uint32_t saved, uint32_t *fflags)
{
    (void)saved;
    (void)fflags;
}

#endif

/* ------------------------------------------------------------------ */
/* Software float                                                       */
/* ------------------------------------------------------------------ */

static uint64_t shr_jam64(uint64_t v, unsigned n)
{
    if (n == 0)
        return v;
    if (n < 64)
        return (v >> n) | ((v << (64 - n)) != 0);
    return v != 0;
}

static unsigned clz64(uint64_t v)
{
    return (unsigned)__builtin_clzll(v);
}

/* Should the kept part (lsb `lsb`) go up by one, given dropped `r`? */
static bool round_up(unsigned rm, bool sign, uint64_t r, uint64_t half,
                     unsigned lsb)
{
    switch (rm) {
    case VTPU_RM_RNE:
        return r > half || (r == half && (lsb & 1));
    case VTPU_RM_RDN:
        return sign && r;
    case VTPU_RM_RUP:
        return !sign && r;
    case VTPU_RM_RMM:
        return r >= half;
    default: /* RTZ */
        return false;
    }
}

/*
 * Round and pack (-1)^sign * sig * 2^(exp - 62), where sig has its leading
 * one at bit 62 and any sticky bits ORed into its low bits.  Tininess is
 * detected after rounding (as RISC-V requires): tiny if the value rounded
 * to 24 bits with an unbounded exponent is below 2^-126.
 */
static uint32_t round_pack(bool sign, int exp, uint64_t sig, unsigned rm,
                           uint32_t *fl)
{
    const uint64_t rmask = (1ull << 39) - 1, half = 1ull << 38;
    uint32_t s = sign ? F32_SIGN : 0;
    bool tiny = false;

    if (exp < -126) {
        uint64_t m24 = (sig >> 39) + round_up(rm, sign, sig & rmask, half,
                                              (unsigned)(sig >> 39));
        tiny = !(exp == -127 && (m24 >> 24));
        sig = shr_jam64(sig, (unsigned)(-126 - exp));
        exp = -126;
    }
    uint64_t r = sig & rmask;
    uint64_t m =
        (sig >> 39) + round_up(rm, sign, r, half, (unsigned)(sig >> 39));
    if (r) {
        *fl |= VTPU_FF_NX;
        if (tiny)
            *fl |= VTPU_FF_UF;
    }
    if (m >> 24) {
        m >>= 1;
        exp++;
    }
    if (exp > 127) {
        *fl |= VTPU_FF_OF | VTPU_FF_NX;
        bool to_inf = rm == VTPU_RM_RNE || rm == VTPU_RM_RMM ||
                      (rm == VTPU_RM_RDN && sign) ||
                      (rm == VTPU_RM_RUP && !sign);
        return s | (to_inf ? F32_INF : 0x7f7fffffu);
    }
    if (m < (1u << 23)) /* subnormal or zero: exp is -126 here */
        return s | (uint32_t)m;
    return s | ((uint32_t)(exp + 127) << 23) | ((uint32_t)m & 0x7fffff);
}

/* Normalise any nonzero sig (value sig * 2^(exp - 62)), then round. */
static uint32_t norm_round_pack(bool sign, int exp, uint64_t sig, unsigned rm,
                                uint32_t *fl)
{
    unsigned lz = clz64(sig);
    if (lz == 0)
        return round_pack(sign, exp + 1, shr_jam64(sig, 1), rm, fl);
    return round_pack(sign, exp - (int)(lz - 1), sig << (lz - 1), rm, fl);
}

/* Finite nonzero a -> significand with its leading one at bit 23, exp. */
static uint32_t unpack(uint32_t a, int *exp)
{
    uint32_t e = (a >> 23) & 0xff, m = a & 0x7fffff;
    if (e) {
        *exp = (int)e - 127;
        return m | 0x800000;
    }
    unsigned sh = (unsigned)__builtin_clz(m) - 8;
    *exp = -126 - (int)sh;
    return m << sh;
}

/* Any NaN operand: NV if signalling, canonical NaN. */
static uint32_t nan_result(uint32_t a, uint32_t b, uint32_t *fl)
{
    if (is_snan(a) || is_snan(b))
        *fl |= VTPU_FF_NV;
    return VTPU_F32_CANON_NAN;
}

static uint32_t invalid(uint32_t *fl)
{
    *fl |= VTPU_FF_NV;
    return VTPU_F32_CANON_NAN;
}

/* Exact zero sum of opposite-signed values: -0 only when rounding down. */
static uint32_t zero_sum(unsigned rm)
{
    return rm == VTPU_RM_RDN ? F32_SIGN : 0;
}

uint32_t vtpu_sf_add(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    bool sa = a >> 31, sb = b >> 31;

    if (is_nan(a) || is_nan(b))
        return nan_result(a, b, fl);
    if (is_inf(a)) {
        if (is_inf(b) && sa != sb)
            return invalid(fl);
        return a;
    }
    if (is_inf(b))
        return b;
    if (is_zero(a) && is_zero(b))
        return sa == sb ? a : zero_sum(rm);
    if (is_zero(a))
        return b;
    if (is_zero(b))
        return a;

    int ea, eb;
    uint64_t ma = (uint64_t)unpack(a, &ea) << 38; /* leading one: bit 61 */
    uint64_t mb = (uint64_t)unpack(b, &eb) << 38;
    if (ea < eb) {
        uint64_t tm = ma;
        int te = ea;
        bool ts = sa;
        ma = mb, ea = eb, sa = sb;
        mb = tm, eb = te, sb = ts;
    }
    mb = shr_jam64(mb, (unsigned)(ea - eb > 63 ? 63 : ea - eb));
    uint64_t sum;
    bool sign = sa;
    if (sa == sb) {
        sum = ma + mb;
    } else if (ma >= mb) {
        sum = ma - mb;
    } else {
        sum = mb - ma;
        sign = sb;
    }
    if (sum == 0)
        return zero_sum(rm);
    /* bit 61 has weight 2^ea, so bit 62 has 2^(ea+1). */
    return norm_round_pack(sign, ea + 1, sum, rm, fl);
}

uint32_t vtpu_sf_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    uint32_t sign = (a ^ b) & F32_SIGN;

    if (is_nan(a) || is_nan(b))
        return nan_result(a, b, fl);
    if (is_inf(a) || is_inf(b)) {
        if (is_zero(a) || is_zero(b))
            return invalid(fl);
        return sign | F32_INF;
    }
    if (is_zero(a) || is_zero(b))
        return sign;
    int ea, eb;
    uint64_t p = (uint64_t)unpack(a, &ea) * unpack(b, &eb);
    /* p's bit 46 has weight 2^(ea+eb), so bit 62 has 2^(ea+eb+16). */
    return norm_round_pack(sign, ea + eb + 16, p, rm, fl);
}

uint32_t vtpu_sf_div(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    uint32_t sign = (a ^ b) & F32_SIGN;

    if (is_nan(a) || is_nan(b))
        return nan_result(a, b, fl);
    if (is_inf(a)) {
        if (is_inf(b))
            return invalid(fl);
        return sign | F32_INF;
    }
    if (is_inf(b))
        return sign;
    if (is_zero(b)) {
        if (is_zero(a))
            return invalid(fl);
        *fl |= VTPU_FF_DZ;
        return sign | F32_INF;
    }
    if (is_zero(a))
        return sign;
    int ea, eb;
    uint64_t n = (uint64_t)unpack(a, &ea) << 40;
    uint32_t d = unpack(b, &eb);
    uint64_t q = n / d, rem = n % d;
    /* q's bit 40 has weight 2^(ea-eb), so bit 62 has 2^(ea-eb+22). */
    return norm_round_pack(sign, ea - eb + 22, q | (rem != 0), rm, fl);
}

uint32_t vtpu_sf_sqrt(uint32_t a, unsigned rm, uint32_t *fl)
{
    if (is_nan(a))
        return nan_result(a, a, fl);
    if (is_zero(a))
        return a;
    if (a & F32_SIGN)
        return invalid(fl);
    if (is_inf(a))
        return a;
    int e;
    uint64_t m = unpack(a, &e); /* value m * 2^(e-23) */
    if (e & 1) {
        m <<= 1;
        e--;
    }
    /* value = (m << 39) * 2^(e-62), e-62 even: sqrt = isqrt * 2^((e-62)/2) */
    uint64_t v = m << 39, root = 0, bit = 1ull << 62;
    while (bit > v)
        bit >>= 2;
    while (bit) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return norm_round_pack(false, (e - 62) / 2 + 62, root | (v != 0), rm, fl);
}

typedef unsigned __int128 u128;

static u128 shr_jam128(u128 v, unsigned n)
{
    if (n == 0)
        return v;
    if (n < 128)
        return (v >> n) | ((v << (128 - n)) != 0);
    return v != 0;
}

uint32_t vtpu_sf_fma(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
                     uint32_t *fl)
{
    uint32_t sp = (a ^ b) & F32_SIGN, sc = c & F32_SIGN;
    bool inf_times_zero =
        (is_inf(a) && is_zero(b)) || (is_zero(a) && is_inf(b));

    if (is_nan(a) || is_nan(b) || is_nan(c)) {
        /* RISC-V: inf*0 is invalid even when the addend is a quiet NaN. */
        if (inf_times_zero || is_snan(a) || is_snan(b) || is_snan(c))
            *fl |= VTPU_FF_NV;
        return VTPU_F32_CANON_NAN;
    }
    if (inf_times_zero)
        return invalid(fl);
    if (is_inf(a) || is_inf(b)) {
        if (is_inf(c) && sc != sp)
            return invalid(fl);
        return sp | F32_INF;
    }
    if (is_inf(c))
        return c;
    if (is_zero(a) || is_zero(b)) {
        if (is_zero(c))
            return sp == sc ? sp : zero_sum(rm);
        return c;
    }
    int ea, eb, ec;
    uint64_t p = (uint64_t)unpack(a, &ea) * unpack(b, &eb);
    if (is_zero(c))
        return norm_round_pack(sp, ea + eb + 16, p, rm, fl);
    uint32_t mc = unpack(c, &ec);

    /*
     * Exact product and addend in 128 bits: X = p << 70 has lsb weight
     * 2^(ea+eb-46-70), Y = mc << 94 has 2^(ec-23-94).  Shifting the one
     * with the lower lsb right loses nothing until it is far below the
     * other, and then only into the sticky bit.
     */
    u128 x = (u128)p << 70, y = (u128)mc << 94;
    int lx = ea + eb - 116, ly = ec - 117, l;
    if (lx >= ly) {
        y = shr_jam128(y, (unsigned)(lx - ly > 127 ? 127 : lx - ly));
        l = lx;
    } else {
        x = shr_jam128(x, (unsigned)(ly - lx > 127 ? 127 : ly - lx));
        l = ly;
    }
    u128 sum;
    bool sign = sp;
    if (sp == sc) {
        sum = x + y;
    } else if (x >= y) {
        sum = x - y;
    } else {
        sum = y - x;
        sign = sc;
    }
    if (sum == 0)
        return zero_sum(rm);
    uint64_t hi = (uint64_t)(sum >> 64);
    unsigned msb = hi ? 127 - clz64(hi) : 63 - clz64((uint64_t)sum);
    uint64_t sig;
    if (msb > 62)
        sig = (uint64_t)shr_jam128(sum, msb - 62);
    else
        sig = (uint64_t)sum << (62 - msb);
    return round_pack(sign, l + (int)msb, sig, rm, fl);
}

uint32_t vtpu_sf_from_u32(uint32_t v, bool negative, unsigned rm, uint32_t *fl)
{
    if (v == 0)
        return 0;
    return norm_round_pack(negative, 62, v, rm, fl);
}

/* ------------------------------------------------------------------ */
/* Rounding arithmetic: host for RNE/RTZ/RDN/RUP, software for RMM      */
/* ------------------------------------------------------------------ */

#ifdef VTPU_FPU_HOST_SSE

uint32_t vtpu_f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    if (rm == VTPU_RM_RMM)
        return vtpu_sf_add(a, b, rm, fl);
    return WITH_RM(rm, vtpu_f32_add_rne(a, b, fl));
}

uint32_t vtpu_f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    if (rm == VTPU_RM_RMM)
        return vtpu_sf_add(a, b ^ F32_SIGN, rm, fl);
    return WITH_RM(rm, vtpu_f32_sub_rne(a, b, fl));
}

uint32_t vtpu_f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    if (rm == VTPU_RM_RMM)
        return vtpu_sf_mul(a, b, rm, fl);
    return WITH_RM(rm, vtpu_f32_mul_rne(a, b, fl));
}

uint32_t vtpu_f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    if (rm == VTPU_RM_RMM)
        return vtpu_sf_div(a, b, rm, fl);
    return WITH_RM(rm, vtpu_f32_div_rne(a, b, fl));
}

uint32_t vtpu_f32_sqrt(uint32_t a, unsigned rm, uint32_t *fl)
{
    (void)fl; /* every flag of a square root comes from the host */
    /* A square root is never exactly halfway: RMM = RNE. */
    if (rm == VTPU_RM_RMM)
        rm = VTPU_RM_RNE;
    return WITH_RM(rm, h_sqrt(a));
}

uint32_t vtpu_f32_fma(uint32_t a, uint32_t b, uint32_t c, bool neg_prod,
                      bool neg_add, unsigned rm, uint32_t *fl)
{
    a ^= neg_prod ? F32_SIGN : 0;
    c ^= neg_add ? F32_SIGN : 0;
    if (rm == VTPU_RM_RMM || !__builtin_cpu_supports("fma"))
        return vtpu_sf_fma(a, b, c, rm, fl);
    /* x86 does not flag inf*0 when the addend is a quiet NaN. */
    if (is_nan(c) && ((is_inf(a) && is_zero(b)) || (is_zero(a) && is_inf(b))))
        *fl |= VTPU_FF_NV;
    return WITH_RM(rm, h_fma(a, b, c));
}

uint32_t vtpu_f32_from_i32(int32_t v, unsigned rm, uint32_t *fl)
{
    if (rm == VTPU_RM_RMM)
        return vtpu_sf_from_u32(v < 0 ? 0u - (uint32_t)v : (uint32_t)v, v < 0,
                                rm, fl);
    return WITH_RM(rm, h_from_i32(v));
}

uint32_t vtpu_f32_from_u32(uint32_t v, unsigned rm, uint32_t *fl)
{
    if (rm == VTPU_RM_RMM)
        return vtpu_sf_from_u32(v, false, rm, fl);
    return WITH_RM(rm, h_from_u32(v));
}

#else

uint32_t vtpu_f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_add(a, b, rm, fl);
}

uint32_t vtpu_f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_add(a, b ^ F32_SIGN, rm, fl);
}

uint32_t vtpu_f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_mul(a, b, rm, fl);
}

uint32_t vtpu_f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_div(a, b, rm, fl);
}

uint32_t vtpu_f32_sqrt(uint32_t a, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_sqrt(a, rm, fl);
}

uint32_t vtpu_f32_fma(uint32_t a, uint32_t b, uint32_t c, bool neg_prod,
                      bool neg_add, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_fma(a ^ (neg_prod ? F32_SIGN : 0), b,
                       c ^ (neg_add ? F32_SIGN : 0), rm, fl);
}

uint32_t vtpu_f32_from_i32(int32_t v, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_from_u32(v < 0 ? 0u - (uint32_t)v : (uint32_t)v, v < 0, rm,
                            fl);
}

uint32_t vtpu_f32_from_u32(uint32_t v, unsigned rm, uint32_t *fl)
{
    return vtpu_sf_from_u32(v, false, rm, fl);
}

#endif

/* ------------------------------------------------------------------ */
/* Integer-only operations                                              */
/* ------------------------------------------------------------------ */

/*
 * Round a float to an integer magnitude under rm.  Returns false (the
 * caller saturates) if |a| >= 2^32 before rounding; *inexact says whether
 * a fraction was dropped.
 */
static bool to_int_mag(uint32_t a, unsigned rm, uint64_t *mag, bool *inexact)
{
    bool sign = a >> 31;
    int e;

    *inexact = false;
    *mag = 0;
    if (is_zero(a))
        return true;
    uint32_t m = unpack(a, &e);
    int sh = 23 - e; /* value = m * 2^-sh */
    if (sh <= 0) {
        if (-sh > 8) /* >= 2^32 */
            return false;
        *mag = (uint64_t)m << -sh;
        return true;
    }
    if (sh > 25) {
        /* |a| < 2^-2: only the sticky information matters. */
        m = 1;
        sh = 26;
    }
    uint32_t ip = m >> sh, r = m & ((1u << sh) - 1);
    *inexact = r != 0;
    *mag = ip + round_up(rm, sign, r, 1u << (sh - 1), ip);
    return true;
}

uint32_t vtpu_f32_to_i32(uint32_t a, unsigned rm, uint32_t *fl)
{
    uint64_t mag;
    bool inexact, sign = a >> 31;

    if (is_nan(a)) {
        *fl |= VTPU_FF_NV;
        return 0x7fffffffu;
    }
    if (is_inf(a) || !to_int_mag(a, rm, &mag, &inexact) ||
        mag > (sign ? 0x80000000u : 0x7fffffffu)) {
        *fl |= VTPU_FF_NV;
        return sign ? 0x80000000u : 0x7fffffffu;
    }
    if (inexact)
        *fl |= VTPU_FF_NX;
    return sign ? 0u - (uint32_t)mag : (uint32_t)mag;
}

uint32_t vtpu_f32_to_u32(uint32_t a, unsigned rm, uint32_t *fl)
{
    uint64_t mag;
    bool inexact, sign = a >> 31;

    if (is_nan(a)) {
        *fl |= VTPU_FF_NV;
        return 0xffffffffu;
    }
    if (is_inf(a) || !to_int_mag(a, rm, &mag, &inexact) ||
        mag > (sign ? 0 : 0xffffffffu)) {
        *fl |= VTPU_FF_NV;
        return sign ? 0 : 0xffffffffu;
    }
    if (inexact)
        *fl |= VTPU_FF_NX;
    return (uint32_t)mag;
}

/* Order-preserving key of a non-NaN float (-0 sorts before +0). */
static uint32_t order_key(uint32_t a)
{
    return (a & F32_SIGN) ? ~a : a | F32_SIGN;
}

/* RISC-V 2.2+ minNum/maxNum: one NaN -> the other operand. */
static uint32_t minmax(uint32_t a, uint32_t b, bool max, uint32_t *fl)
{
    if (is_snan(a) || is_snan(b))
        *fl |= VTPU_FF_NV;
    if (is_nan(a) && is_nan(b))
        return VTPU_F32_CANON_NAN;
    if (is_nan(a))
        return b;
    if (is_nan(b))
        return a;
    bool a_less = order_key(a) < order_key(b);
    return a_less != max ? a : b;
}

uint32_t vtpu_f32_min(uint32_t a, uint32_t b, uint32_t *fl)
{
    return minmax(a, b, false, fl);
}

uint32_t vtpu_f32_max(uint32_t a, uint32_t b, uint32_t *fl)
{
    return minmax(a, b, true, fl);
}

/* feq is a quiet comparison: NV only for signalling NaNs. */
uint32_t vtpu_f32_eq(uint32_t a, uint32_t b, uint32_t *fl)
{
    if (is_nan(a) || is_nan(b)) {
        if (is_snan(a) || is_snan(b))
            *fl |= VTPU_FF_NV;
        return 0;
    }
    return a == b || (is_zero(a) && is_zero(b));
}

/* flt/fle are signalling: NV for any NaN. */
uint32_t vtpu_f32_lt(uint32_t a, uint32_t b, uint32_t *fl)
{
    if (is_nan(a) || is_nan(b)) {
        *fl |= VTPU_FF_NV;
        return 0;
    }
    if (is_zero(a) && is_zero(b))
        return 0;
    return order_key(a) < order_key(b);
}

uint32_t vtpu_f32_le(uint32_t a, uint32_t b, uint32_t *fl)
{
    if (is_nan(a) || is_nan(b)) {
        *fl |= VTPU_FF_NV;
        return 0;
    }
    if (is_zero(a) && is_zero(b))
        return 1;
    return order_key(a) <= order_key(b);
}

uint32_t vtpu_f32_class(uint32_t a)
{
    bool neg = a >> 31;
    uint32_t e = (a >> 23) & 0xff, m = a & 0x7fffff;

    if (e == 0xff) {
        if (m == 0)
            return neg ? 1u << 0 : 1u << 7;
        return (m & 0x400000) ? 1u << 9 : 1u << 8;
    }
    if (e == 0)
        return m == 0 ? (neg ? 1u << 3 : 1u << 4) : (neg ? 1u << 2 : 1u << 5);
    return neg ? 1u << 1 : 1u << 6;
}
