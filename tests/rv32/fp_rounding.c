/*
 * fp_rounding.c - dynamic rounding (frm), the fcsr/frm/fflags CSRs, flag
 * accumulation, and operand sets built to land exactly on rounding ties,
 * on the overflow threshold and on the underflow threshold (where RISC-V
 * detects tininess after rounding), in all five rounding modes.  Printed
 * bit-exactly and compared with qemu-riscv32 by tests/bare_test.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint32_t digest = 2166136261u;

static void mix(uint32_t v)
{
    digest = (digest ^ v) * 16777619u;
}

static const char *const rm_name[8] = {"rne", "rtz", "rdn", "rup",
                                       "rmm", "?5",  "?6",  "dyn"};

static uint32_t rng_state = 0x1234567;

static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* ---- dynamic-rounding instruction wrappers: frm set, flags cleared ---- */

#define DYN2(fn, insn)                                                        \
    static uint32_t fn(unsigned rm, uint32_t a, uint32_t b, uint32_t *fl)     \
    {                                                                         \
        uint32_t r, f;                                                        \
        __asm__ volatile("fsrm %3\n\t"                                        \
                         "fsflags zero\n\t"                                   \
                         "fmv.w.x ft0, %1\n\t"                                \
                         "fmv.w.x ft1, %2\n\t" insn " ft2, ft0, ft1\n\t"      \
                         "fmv.x.w %0, ft2\n\t"                                \
                         "frflags %1"                                         \
                         : "=r"(r), "+r"(a)                                   \
                         : "r"(b), "r"(rm)                                    \
                         : "ft0", "ft1", "ft2");                              \
        f = a;                                                                \
        *fl = f;                                                              \
        return r;                                                             \
    }
DYN2(dyn_fadd, "fadd.s")
DYN2(dyn_fsub, "fsub.s")
DYN2(dyn_fmul, "fmul.s")
DYN2(dyn_fdiv, "fdiv.s")

#define DYN3(fn, insn)                                                        \
    static uint32_t fn(unsigned rm, uint32_t a, uint32_t b, uint32_t c,       \
                       uint32_t *fl)                                          \
    {                                                                         \
        uint32_t r;                                                           \
        __asm__ volatile("fsrm %4\n\t"                                        \
                         "fsflags zero\n\t"                                   \
                         "fmv.w.x ft0, %1\n\t"                                \
                         "fmv.w.x ft1, %2\n\t"                                \
                         "fmv.w.x ft3, %3\n\t" insn " ft2, ft0, ft1, ft3\n\t" \
                         "fmv.x.w %0, ft2\n\t"                                \
                         "frflags %1"                                         \
                         : "=r"(r), "+r"(a)                                   \
                         : "r"(b), "r"(c), "r"(rm)                            \
                         : "ft0", "ft1", "ft2", "ft3");                       \
        *fl = a;                                                              \
        return r;                                                             \
    }
DYN3(dyn_fmadd, "fmadd.s")
DYN3(dyn_fmsub, "fmsub.s")
DYN3(dyn_fnmsub, "fnmsub.s")
DYN3(dyn_fnmadd, "fnmadd.s")

static uint32_t dyn_fsqrt(unsigned rm, uint32_t a, uint32_t *fl)
{
    uint32_t r;
    __asm__ volatile("fsrm %2\n\t"
                     "fsflags zero\n\t"
                     "fmv.w.x ft0, %1\n\t"
                     "fsqrt.s ft2, ft0\n\t"
                     "fmv.x.w %0, ft2\n\t"
                     "frflags %1"
                     : "=r"(r), "+r"(a)
                     : "r"(rm)
                     : "ft0", "ft2");
    *fl = a;
    return r;
}

static uint32_t dyn_fcvt_w_s(unsigned rm, uint32_t a, uint32_t *fl)
{
    uint32_t r;
    __asm__ volatile("fsrm %2\n\t"
                     "fsflags zero\n\t"
                     "fmv.w.x ft0, %1\n\t"
                     "fcvt.w.s %0, ft0\n\t"
                     "frflags %1"
                     : "=r"(r), "+r"(a)
                     : "r"(rm)
                     : "ft0");
    *fl = a;
    return r;
}

static uint32_t dyn_fcvt_wu_s(unsigned rm, uint32_t a, uint32_t *fl)
{
    uint32_t r;
    __asm__ volatile("fsrm %2\n\t"
                     "fsflags zero\n\t"
                     "fmv.w.x ft0, %1\n\t"
                     "fcvt.wu.s %0, ft0\n\t"
                     "frflags %1"
                     : "=r"(r), "+r"(a)
                     : "r"(rm)
                     : "ft0");
    *fl = a;
    return r;
}

static uint32_t dyn_fcvt_s_w(unsigned rm, uint32_t a, uint32_t *fl)
{
    uint32_t r;
    __asm__ volatile("fsrm %2\n\t"
                     "fsflags zero\n\t"
                     "fcvt.s.w ft2, %1\n\t"
                     "fmv.x.w %0, ft2\n\t"
                     "frflags %1"
                     : "=r"(r), "+r"(a)
                     : "r"(rm)
                     : "ft2");
    *fl = a;
    return r;
}

static uint32_t dyn_fcvt_s_wu(unsigned rm, uint32_t a, uint32_t *fl)
{
    uint32_t r;
    __asm__ volatile("fsrm %2\n\t"
                     "fsflags zero\n\t"
                     "fcvt.s.wu ft2, %1\n\t"
                     "fmv.x.w %0, ft2\n\t"
                     "frflags %1"
                     : "=r"(r), "+r"(a)
                     : "r"(rm)
                     : "ft2");
    *fl = a;
    return r;
}

typedef uint32_t (*dyn2_fn)(unsigned, uint32_t, uint32_t, uint32_t *);
typedef uint32_t (*dyn3_fn)(unsigned, uint32_t, uint32_t, uint32_t,
                            uint32_t *);
typedef uint32_t (*dyn1_fn)(unsigned, uint32_t, uint32_t *);

static void show2(const char *name, dyn2_fn fn, uint32_t a, uint32_t b)
{
    printf("%s %08lx %08lx:", name, (unsigned long)a, (unsigned long)b);
    for (unsigned rm = 0; rm < 5; rm++) {
        uint32_t fl, r = fn(rm, a, b, &fl);
        printf(" %s=%08lx/%02lx", rm_name[rm], (unsigned long)r,
               (unsigned long)fl);
        mix(r);
        mix(fl);
    }
    printf("\n");
}

static void show3(const char *name, dyn3_fn fn, uint32_t a, uint32_t b,
                  uint32_t c)
{
    printf("%s %08lx %08lx %08lx:", name, (unsigned long)a, (unsigned long)b,
           (unsigned long)c);
    for (unsigned rm = 0; rm < 5; rm++) {
        uint32_t fl, r = fn(rm, a, b, c, &fl);
        printf(" %s=%08lx/%02lx", rm_name[rm], (unsigned long)r,
               (unsigned long)fl);
        mix(r);
        mix(fl);
    }
    printf("\n");
}

static void show1(const char *name, dyn1_fn fn, uint32_t a)
{
    printf("%s %08lx:", name, (unsigned long)a);
    for (unsigned rm = 0; rm < 5; rm++) {
        uint32_t fl, r = fn(rm, a, &fl);
        printf(" %s=%08lx/%02lx", rm_name[rm], (unsigned long)r,
               (unsigned long)fl);
        mix(r);
        mix(fl);
    }
    printf("\n");
}

static uint32_t fbits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* x with `bits` significant bits: 1.xxx (bits-1 random fraction bits). */
static uint32_t short_sig(int exp_biased, int bits, uint32_t sign)
{
    uint32_t m = rng() & 0x7fffff;
    m &= ~((1u << (23 - (bits - 1))) - 1);
    m |= 1u << (23 - (bits - 1)); /* odd at the last kept bit */
    m &= 0x7fffff;
    return sign | ((uint32_t)exp_biased << 23) | m;
}

static void ties(void)
{
    printf("-- ties: sums --\n");
    /* 1 + 2^-24 is halfway between 1 and 1+2^-23; so is 1 + 3*2^-24. */
    show2("fadd", dyn_fadd, 0x3f800000, 0x33800000);
    show2("fadd", dyn_fadd, 0x3f800001, 0x33800000);
    show2("fadd", dyn_fadd, 0xbf800000, 0xb3800000);
    show2("fadd", dyn_fadd, 0xbf800001, 0xb3800000);
    show2("fsub", dyn_fsub, 0x3f800000, 0xb3800000);
    show2("fadd", dyn_fadd, 0x7f7fffff, 0x73000000); /* max + half ulp */
    show2("fadd", dyn_fadd, 0xff7fffff, 0xf3000000);
    show2("fadd", dyn_fadd, 0x7f7fffff, 0x72ffffff); /* just under it */
    for (int n = 0; n < 300; n++) {
        int e = 1 + (int)(rng() % 253);
        uint32_t a = short_sig(e, 24, rng() & 0x80000000u);
        int d = 24 + (int)(rng() % 3) - 1;
        uint32_t b = (a & 0x80000000u) ^ ((rng() & 1) << 31);
        b |= (uint32_t)(e - d > 0 ? e - d : 1) << 23;
        show2((n & 1) ? "fsub" : "fadd", (n & 1) ? dyn_fsub : dyn_fadd, a, b);
    }
    printf("-- ties: products --\n");
    /* 12-bit x 13-bit odd significands give exactly 25-bit products. */
    for (int n = 0; n < 300; n++) {
        int ea = 100 + (int)(rng() % 56), eb = 100 + (int)(rng() % 56);
        if (n % 10 == 0) {
            ea = 64 + (int)(rng() % 8); /* products near 2^-126 */
            eb = 127 - 126 + (int)(rng() % 8);
        } else if (n % 10 == 1) {
            ea = 190 + (int)(rng() % 4); /* products near overflow */
            eb = 190 + (int)(rng() % 4);
        }
        show2("fmul", dyn_fmul, short_sig(ea, 12, rng() & 0x80000000u),
              short_sig(eb, 13, rng() & 0x80000000u));
    }
    printf("-- ties: quotients --\n");
    /* (x * 2^-24-ish tie) / y with x = t*y exact and t a 25-bit tie. */
    for (int n = 0; n < 200; n++) {
        uint32_t y = short_sig(120 + (int)(rng() % 15), 8, 0);
        uint32_t t = short_sig(127, 12, 0), fl;
        uint32_t x = dyn_fmul(0, t, y, &fl); /* exact: 20 bits */
        show2("fdiv", dyn_fdiv, x, y);
        show2("fdiv", dyn_fdiv, x ^ 0x80000000u, y);
    }
    printf("-- ties: fused --\n");
    for (int n = 0; n < 300; n++) {
        uint32_t a = short_sig(110 + (int)(rng() % 30), 12,
                               rng() & 0x80000000u);
        uint32_t b = short_sig(110 + (int)(rng() % 30), 13,
                               rng() & 0x80000000u);
        uint32_t c = short_sig(80 + (int)(rng() % 80), 4, rng() & 0x80000000u);
        static const dyn3_fn fns[4] = {dyn_fmadd, dyn_fmsub, dyn_fnmsub,
                                       dyn_fnmadd};
        static const char *const names[4] = {"fmadd", "fmsub", "fnmsub",
                                              "fnmadd"};
        show3(names[n % 4], fns[n % 4], a, b, n % 3 ? c : 0);
    }
    printf("-- ties: conversions --\n");
    static const uint32_t ints[] = {
        0x01000001, 0x01000003, 0x02000002, 0x02000006, 0x02000001,
        0x7fffffc0, 0x7fffff40, 0xfeffffff, 0xff000001, 0x80000040,
        0xffffffff, 0xffffff80, 0x7fffffff, 0x80000000, 0x00000000,
    };
    for (unsigned i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        show1("fcvt.s.w", dyn_fcvt_s_w, ints[i]);
        show1("fcvt.s.wu", dyn_fcvt_s_wu, ints[i]);
    }
    for (int n = 0; n < 200; n++) {
        uint32_t v = (rng() | 1u) >> (rng() % 8);
        show1("fcvt.s.w", dyn_fcvt_s_w, v);
        show1("fcvt.s.wu", dyn_fcvt_s_wu, v);
    }
    /* x.5 and friends to integers, both directions of sign. */
    for (int k = -6; k <= 6; k++) {
        float v = (float)k * 0.5f;
        show1("fcvt.w.s", dyn_fcvt_w_s, fbits(v));
        show1("fcvt.wu.s", dyn_fcvt_wu_s, fbits(v));
        show1("fcvt.w.s", dyn_fcvt_w_s, fbits(v + 0.25f));
        show1("fcvt.wu.s", dyn_fcvt_wu_s, fbits(v - 0.25f));
    }
    static const uint32_t edge[] = {
        0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001, 0x4f7fffff,
        0x4f800000, 0xbf000000, 0xbf400000, 0xbf800000, 0x3f7fffff,
        0x00000001, 0x80000001, 0x7f800000, 0xff800000, 0x7fc00000,
        0x7f800001, 0xffc00000, 0x4b000001, 0x4a800001, 0x4a800003,
    };
    for (unsigned i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        show1("fcvt.w.s", dyn_fcvt_w_s, edge[i]);
        show1("fcvt.wu.s", dyn_fcvt_wu_s, edge[i]);
    }
    printf("-- square roots --\n");
    for (int n = 0; n < 200; n++) {
        uint32_t a = n < 100 ? short_sig(1 + (int)(rng() % 253), 24, 0)
                             : (rng() & 0x007fffff) >> (rng() % 23);
        show1("fsqrt", dyn_fsqrt, a);
    }
}

/* Results straddling 2^-126: tininess after rounding differs by mode. */
static void underflow(void)
{
    printf("-- underflow threshold --\n");
    /* (1 - 2^-24) * 2^-126 written as a product of two floats */
    static const uint32_t pairs[][2] = {
        {0x3f7fffff, 0x00800000}, /* (1-2^-24) * 2^-126 */
        {0x3f7ffffe, 0x00800000},
        {0x3f7fffff, 0x00800001},
        {0x3f800001, 0x007fffff},
        {0x3fffffff, 0x00400000},
        {0x3f000001, 0x00ffffff},
        {0x00000001, 0x3f000000}, /* half the smallest subnormal */
        {0x00000001, 0x3f400000},
        {0x00000003, 0x3f000000},
        {0x00000001, 0x3e800000},
        {0x00800000, 0x3f000000}, /* exact subnormal result: no UF */
    };
    for (unsigned i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        show2("fmul", dyn_fmul, pairs[i][0], pairs[i][1]);
        show2("fmul", dyn_fmul, pairs[i][0] ^ 0x80000000u, pairs[i][1]);
    }
    for (int n = 0; n < 300; n++) {
        uint32_t a = short_sig(127 + (int)(rng() % 3) - 1, 24, 0);
        uint32_t b = short_sig(1 + (int)(rng() % 2), 24, rng() & 0x80000000u);
        if (n & 1)
            b &= 0x807fffffu; /* a subnormal */
        show2("fmul", dyn_fmul, a, b);
        show2("fdiv", dyn_fdiv, b, a);
        show2("fsub", dyn_fsub, b, a & 0x00ffffffu);
    }
}

/* The CSRs themselves. */
static void csrs(void)
{
    uint32_t old, v, fcsr;
    printf("-- csr --\n");
    __asm__ volatile("csrw fcsr, zero\n\t"
                     "csrrw %0, frm, %2\n\t"
                     "csrr %1, fcsr"
                     : "=&r"(old), "=&r"(fcsr)
                     : "r"(0xffu));
    printf("frm<-0xff: old %lx fcsr %lx\n", (unsigned long)old,
           (unsigned long)fcsr);
    __asm__ volatile("csrrw %0, fflags, %2\n\t"
                     "csrr %1, fcsr"
                     : "=&r"(old), "=&r"(fcsr)
                     : "r"(0xffffffffu));
    printf("fflags<-~0: old %lx fcsr %lx\n", (unsigned long)old,
           (unsigned long)fcsr);
    __asm__ volatile("csrrci %0, fflags, 0x15\n\t"
                     "csrr %1, fcsr"
                     : "=&r"(old), "=&r"(fcsr));
    printf("fflags&=~0x15: old %lx fcsr %lx\n", (unsigned long)old,
           (unsigned long)fcsr);
    __asm__ volatile("csrrsi %0, frm, 4\n\t"
                     "csrr %1, fcsr"
                     : "=&r"(old), "=&r"(fcsr));
    printf("frm|=4: old %lx fcsr %lx\n", (unsigned long)old,
           (unsigned long)fcsr);
    __asm__ volatile("csrrw %0, fcsr, %2\n\t"
                     "csrr %1, fcsr"
                     : "=&r"(old), "=&r"(fcsr)
                     : "r"(0x12345678u));
    printf("fcsr<-0x12345678: old %lx now %lx\n", (unsigned long)old,
           (unsigned long)fcsr);
    __asm__ volatile("csrrc %0, fcsr, %2\n\t"
                     "csrr %1, fcsr"
                     : "=&r"(old), "=&r"(fcsr)
                     : "r"(0x0f0u));
    printf("fcsr&=~0xf0: old %lx now %lx\n", (unsigned long)old,
           (unsigned long)fcsr);
    __asm__ volatile("csrrs %0, fcsr, zero\n\t"
                     "csrrwi %1, frm, 3"
                     : "=&r"(old), "=&r"(v));
    printf("read-only csrrs: %lx, frm swap %lx\n", (unsigned long)old,
           (unsigned long)v);

    /* Flags accumulate across operations until cleared. */
    uint32_t fl;
    volatile float one = 1.0f, three = 3.0f, zero = 0.0f, big = 3e38f;
    volatile float tiny = 1e-30f;
    volatile float sink;
    __asm__ volatile("csrw fcsr, zero");
    sink = one / three;
    __asm__ volatile("frflags %0" : "=r"(fl));
    printf("after 1/3: %lx\n", (unsigned long)fl);
    sink = one / zero;
    __asm__ volatile("frflags %0" : "=r"(fl));
    printf("after 1/0: %lx\n", (unsigned long)fl);
    sink = big * big;
    __asm__ volatile("frflags %0" : "=r"(fl));
    printf("after overflow: %lx\n", (unsigned long)fl);
    sink = tiny * tiny;
    __asm__ volatile("frflags %0" : "=r"(fl));
    printf("after underflow: %lx\n", (unsigned long)fl);
    sink = zero / zero;
    __asm__ volatile("frflags %0" : "=r"(fl));
    printf("after 0/0: %lx\n", (unsigned long)fl);
    __asm__ volatile("fsflags %0, zero" : "=r"(fl));
    printf("swapped out: %lx\n", (unsigned long)fl);
    __asm__ volatile("frflags %0" : "=r"(fl));
    printf("cleared: %lx\n", (unsigned long)fl);
    (void)sink;
}

/* A small numeric kernel in every mode: rounding errors compound. */
static void kernels(void)
{
    printf("-- kernels --\n");
    for (unsigned rm = 0; rm < 5; rm++) {
        uint32_t fl;
        uint32_t s = 0, h = 0, p = 0x3f800000, x = 0x40000000;
        __asm__ volatile("fsrm %0\n\tfsflags zero" : : "r"(rm));
        for (int i = 1; i <= 2000; i++) {
            uint32_t fi = dyn_fcvt_s_w(rm, (uint32_t)i, &fl);
            uint32_t inv = dyn_fdiv(rm, 0x3f800000, fi, &fl);
            s = dyn_fadd(rm, s, inv, &fl);          /* harmonic sum */
            h = dyn_fmadd(rm, inv, inv, h, &fl);    /* sum 1/i^2 */
            p = dyn_fmul(rm, p, 0x3f800347, &fl);   /* compound growth */
        }
        for (int i = 0; i < 6; i++) {               /* Newton sqrt(2) */
            uint32_t q = dyn_fdiv(rm, 0x40000000, x, &fl);
            x = dyn_fmul(rm, dyn_fadd(rm, x, q, &fl), 0x3f000000, &fl);
        }
        printf("%s: harmonic %08lx basel %08lx growth %08lx sqrt2 %08lx\n",
               rm_name[rm], (unsigned long)s, (unsigned long)h,
               (unsigned long)p, (unsigned long)x);
        mix(s ^ h ^ p ^ x);
    }
}

int main(void)
{
    csrs();
    ties();
    underflow();
    kernels();
    __asm__ volatile("csrw fcsr, zero");
    printf("digest %08lx\n", (unsigned long)digest);
    return 0;
}
