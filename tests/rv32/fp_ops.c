/*
 * fp_ops.c - every RV32F instruction, in every static rounding mode, on
 * special values (zeros, subnormals, limits, infinities, quiet and
 * signalling NaNs, ties) and on pseudo-random values, printing the result
 * bits and the fflags each operation raised.  tests/bare_test.py requires
 * vtpu and qemu-riscv32 to print the same bytes.
 *
 * Output is formatted by hand into a buffer: printf would dominate the
 * run time and this program prints a few hundred thousand lines.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- output ---- */

static char obuf[8192];
static unsigned olen;

static void flush(void)
{
    if (olen)
        write(1, obuf, olen);
    olen = 0;
}

static void put_str(const char *s)
{
    while (*s) {
        if (olen == sizeof(obuf))
            flush();
        obuf[olen++] = *s++;
    }
}

static void put_hex(uint32_t v, int digits)
{
    static const char hx[] = "0123456789abcdef";
    if (olen + 9 > sizeof(obuf))
        flush();
    for (int i = digits - 1; i >= 0; i--)
        obuf[olen++] = hx[(v >> (4 * i)) & 15];
}

static void put_ch(char c)
{
    if (olen == sizeof(obuf))
        flush();
    obuf[olen++] = c;
}

static uint32_t digest = 2166136261u;

/* "<op> <rm> <operands...> = <result> <fflags>" */
static void line(const char *op, const char *rm, const uint32_t *in, int nin,
                 uint32_t r, uint32_t fl)
{
    put_str(op);
    put_ch(' ');
    put_str(rm);
    for (int i = 0; i < nin; i++) {
        put_ch(' ');
        put_hex(in[i], 8);
    }
    put_str(" = ");
    put_hex(r, 8);
    put_ch(' ');
    put_hex(fl, 2);
    put_ch('\n');
    digest = (digest ^ r) * 16777619u;
    digest = (digest ^ fl) * 16777619u;
}

/* ---- operands ---- */

static const uint32_t specials[] = {
    0x00000000, 0x80000000, /* +-0 */
    0x00000001, 0x80000001, /* smallest subnormals */
    0x007fffff, 0x807fffff, /* largest subnormals */
    0x00400000, 0x00000003, /* subnormals */
    0x00800000, 0x80800000, /* smallest normals */
    0x00800001, 0x3f800000, /* 1.0 */
    0xbf800000, 0x3f800001, /* -1.0, 1+ulp */
    0x3f7fffff, 0x3fc00000, /* 1-ulp/2, 1.5 */
    0x40000000, 0x40400000, /* 2, 3 */
    0x3eaaaaab, 0x3dcccccd, /* 1/3, 0.1 */
    0x3f000000, 0xbf000000, /* +-0.5 */
    0x4b000000, 0x4b000001, /* 2^23, 2^23+1 */
    0x4b7fffff, 0x4f000000, /* 2^24-1, 2^31 */
    0xcf000000, 0x4f800000, /* -2^31, 2^32 */
    0x4effffff, 0xcf000001, /* below 2^31, below -2^31 */
    0x33800000, 0x34000000, /* 2^-24, 2^-23 */
    0x7f7fffff, 0xff7fffff, /* +-max */
    0x7f000000, 0x7effffff, /* near overflow */
    0x1f800000, 0x20000000, /* 2^-64, 2^-63: products near underflow */
    0x7f800000, 0xff800000, /* +-inf */
    0x7fc00000, 0xffc00000, /* canonical and negative quiet NaN */
    0x7fc12345, 0x7f800001, /* payload qNaN, sNaN */
    0xff800001, 0x7fbfffff, /* -sNaN, sNaN with full payload */
};
#define NSPEC (sizeof(specials) / sizeof(specials[0]))

/* A smaller set for three-operand instructions. */
static const uint32_t specials3[] = {
    0x00000000, 0x80000000, 0x00000001, 0x007fffff, 0x00800000, 0x3f800000,
    0xbf800000, 0x3f800001, 0x3fc00000, 0x7f7fffff, 0xff7fffff, 0x7f800000,
    0xff800000, 0x7fc00000, 0x7f800001, 0x20000000,
};
#define NSPEC3 (sizeof(specials3) / sizeof(specials3[0]))

static uint32_t rng_state = 0x9e3779b9;

static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* Random float with exponent near `e` (biased) and `bits` random top
 * significand bits: few bits make exact ties and exact results common. */
static uint32_t rnd_float_near(int e, int bits)
{
    uint32_t sign = rng() & 0x80000000u;
    int ex = e + (int)(rng() % 9) - 4;
    if (ex < 0)
        ex = 0;
    if (ex > 254)
        ex = 254;
    uint32_t m = rng() & 0x7fffff;
    if (bits < 23)
        m &= ~((1u << (23 - bits)) - 1);
    return sign | ((uint32_t)ex << 23) | m;
}

static uint32_t rnd_float(void)
{
    switch (rng() % 8) {
    case 0:
        return rng(); /* anything, NaNs included */
    case 1:
        return specials[rng() % NSPEC];
    case 2:
        return rnd_float_near(1 + (int)(rng() % 30), 23); /* tiny */
    case 3:
        return rnd_float_near(200 + (int)(rng() % 54), 23); /* huge */
    case 4:
        return rnd_float_near(127, (int)(rng() % 12));
    default:
        return rnd_float_near(100 + (int)(rng() % 56), 23);
    }
}

/* ---- instructions ---- */

static const char *const rm_name[5] = {"rne", "rtz", "rdn", "rup", "rmm"};

#define ASM_2(insn, rm, r, fl, a, b)                                          \
    __asm__ volatile("fmv.w.x ft0, %2\n\t"                                    \
                     "fmv.w.x ft1, %3\n\t"                                    \
                     "fsflags zero\n\t" insn " ft2, ft0, ft1, " rm "\n\t"     \
                     "frflags %1\n\t"                                         \
                     "fmv.x.w %0, ft2"                                        \
                     : "=r"(r), "=r"(fl)                                      \
                     : "r"(a), "r"(b)                                         \
                     : "ft0", "ft1", "ft2")

#define ASM_3(insn, rm, r, fl, a, b, c)                                       \
    __asm__ volatile("fmv.w.x ft0, %2\n\t"                                    \
                     "fmv.w.x ft1, %3\n\t"                                    \
                     "fmv.w.x ft3, %4\n\t"                                    \
                     "fsflags zero\n\t" insn " ft2, ft0, ft1, ft3, " rm "\n\t" \
                     "frflags %1\n\t"                                         \
                     "fmv.x.w %0, ft2"                                        \
                     : "=r"(r), "=r"(fl)                                      \
                     : "r"(a), "r"(b), "r"(c)                                 \
                     : "ft0", "ft1", "ft2", "ft3")

#define ASM_1(insn, rm, r, fl, a)                                             \
    __asm__ volatile("fmv.w.x ft0, %2\n\t"                                    \
                     "fsflags zero\n\t" insn " ft2, ft0, " rm "\n\t"          \
                     "frflags %1\n\t"                                         \
                     "fmv.x.w %0, ft2"                                        \
                     : "=r"(r), "=r"(fl)                                      \
                     : "r"(a)                                                 \
                     : "ft0", "ft2")

/* float -> int */
#define ASM_FX(insn, rm, r, fl, a)                                            \
    __asm__ volatile("fmv.w.x ft0, %2\n\t"                                    \
                     "fsflags zero\n\t" insn " %0, ft0, " rm "\n\t"           \
                     "frflags %1"                                             \
                     : "=r"(r), "=r"(fl)                                      \
                     : "r"(a)                                                 \
                     : "ft0")

/* int -> float */
#define ASM_XF(insn, rm, r, fl, a)                                            \
    __asm__ volatile("fsflags zero\n\t" insn " ft2, %2, " rm "\n\t"           \
                     "frflags %1\n\t"                                         \
                     "fmv.x.w %0, ft2"                                        \
                     : "=r"(r), "=r"(fl)                                      \
                     : "r"(a)                                                 \
                     : "ft2")

/* One function per instruction: switch on the rounding mode. */
#define RM_SWITCH(ASM, insn, ...)                                             \
    switch (rm) {                                                             \
    case 0:                                                                   \
        ASM(insn, "rne", __VA_ARGS__);                                        \
        break;                                                                \
    case 1:                                                                   \
        ASM(insn, "rtz", __VA_ARGS__);                                        \
        break;                                                                \
    case 2:                                                                   \
        ASM(insn, "rdn", __VA_ARGS__);                                        \
        break;                                                                \
    case 3:                                                                   \
        ASM(insn, "rup", __VA_ARGS__);                                        \
        break;                                                                \
    default:                                                                  \
        ASM(insn, "rmm", __VA_ARGS__);                                        \
        break;                                                                \
    }

typedef uint32_t (*op2_fn)(int rm, uint32_t a, uint32_t b, uint32_t *fl);
typedef uint32_t (*op3_fn)(int rm, uint32_t a, uint32_t b, uint32_t c,
                           uint32_t *fl);
typedef uint32_t (*op1_fn)(int rm, uint32_t a, uint32_t *fl);

#define DEF2(fn, insn)                                                        \
    static uint32_t fn(int rm, uint32_t a, uint32_t b, uint32_t *flp)         \
    {                                                                         \
        uint32_t r, fl;                                                       \
        RM_SWITCH(ASM_2, insn, r, fl, a, b)                                   \
        *flp = fl;                                                            \
        return r;                                                             \
    }
DEF2(do_fadd, "fadd.s")
DEF2(do_fsub, "fsub.s")
DEF2(do_fmul, "fmul.s")
DEF2(do_fdiv, "fdiv.s")

#define DEF3(fn, insn)                                                        \
    static uint32_t fn(int rm, uint32_t a, uint32_t b, uint32_t c,            \
                       uint32_t *flp)                                         \
    {                                                                         \
        uint32_t r, fl;                                                       \
        RM_SWITCH(ASM_3, insn, r, fl, a, b, c)                                \
        *flp = fl;                                                            \
        return r;                                                             \
    }
DEF3(do_fmadd, "fmadd.s")
DEF3(do_fmsub, "fmsub.s")
DEF3(do_fnmsub, "fnmsub.s")
DEF3(do_fnmadd, "fnmadd.s")

#define DEF1(fn, ASM, insn)                                                   \
    static uint32_t fn(int rm, uint32_t a, uint32_t *flp)                     \
    {                                                                         \
        uint32_t r, fl;                                                       \
        RM_SWITCH(ASM, insn, r, fl, a)                                        \
        *flp = fl;                                                            \
        return r;                                                             \
    }
DEF1(do_fsqrt, ASM_1, "fsqrt.s")
DEF1(do_fcvt_w_s, ASM_FX, "fcvt.w.s")
DEF1(do_fcvt_wu_s, ASM_FX, "fcvt.wu.s")
DEF1(do_fcvt_s_w, ASM_XF, "fcvt.s.w")
DEF1(do_fcvt_s_wu, ASM_XF, "fcvt.s.wu")

/* Instructions without a rounding mode. */
#define DEF_NORM2(fn, insn)                                                   \
    static uint32_t fn(int rm, uint32_t a, uint32_t b, uint32_t *flp)         \
    {                                                                         \
        uint32_t r, fl;                                                       \
        (void)rm;                                                             \
        __asm__ volatile("fmv.w.x ft0, %2\n\t"                                \
                         "fmv.w.x ft1, %3\n\t"                                \
                         "fsflags zero\n\t" insn " ft2, ft0, ft1\n\t"         \
                         "frflags %1\n\t"                                     \
                         "fmv.x.w %0, ft2"                                    \
                         : "=r"(r), "=r"(fl)                                  \
                         : "r"(a), "r"(b)                                     \
                         : "ft0", "ft1", "ft2");                              \
        *flp = fl;                                                            \
        return r;                                                             \
    }
DEF_NORM2(do_fsgnj, "fsgnj.s")
DEF_NORM2(do_fsgnjn, "fsgnjn.s")
DEF_NORM2(do_fsgnjx, "fsgnjx.s")
DEF_NORM2(do_fmin, "fmin.s")
DEF_NORM2(do_fmax, "fmax.s")

#define DEF_CMP(fn, insn)                                                     \
    static uint32_t fn(int rm, uint32_t a, uint32_t b, uint32_t *flp)         \
    {                                                                         \
        uint32_t r, fl;                                                       \
        (void)rm;                                                             \
        __asm__ volatile("fmv.w.x ft0, %2\n\t"                                \
                         "fmv.w.x ft1, %3\n\t"                                \
                         "fsflags zero\n\t" insn " %0, ft0, ft1\n\t"          \
                         "frflags %1"                                         \
                         : "=r"(r), "=r"(fl)                                  \
                         : "r"(a), "r"(b)                                     \
                         : "ft0", "ft1");                                     \
        *flp = fl;                                                            \
        return r;                                                             \
    }
DEF_CMP(do_feq, "feq.s")
DEF_CMP(do_flt, "flt.s")
DEF_CMP(do_fle, "fle.s")

static uint32_t do_fclass(int rm, uint32_t a, uint32_t *flp)
{
    uint32_t r, fl;
    (void)rm;
    __asm__ volatile("fmv.w.x ft0, %2\n\t"
                     "fsflags zero\n\t"
                     "fclass.s %0, ft0\n\t"
                     "frflags %1"
                     : "=r"(r), "=r"(fl)
                     : "r"(a)
                     : "ft0");
    *flp = fl;
    return r;
}

/* fmv and flw/fsw must move bits untouched, NaN payloads included. */
static uint32_t do_fmv_mem(int rm, uint32_t a, uint32_t *flp)
{
    static volatile uint32_t cell[2];
    uint32_t r, fl;
    (void)rm;
    cell[0] = a;
    __asm__ volatile("fsflags zero\n\t"
                     "flw ft0, 0(%2)\n\t"
                     "fsw ft0, 4(%2)\n\t"
                     "lw %0, 4(%2)\n\t"
                     "fmv.w.x ft1, %0\n\t"
                     "fmv.x.w %0, ft1\n\t"
                     "frflags %1"
                     : "=&r"(r), "=r"(fl)
                     : "r"(cell)
                     : "ft0", "ft1", "memory");
    *flp = fl;
    return r;
}

static const struct {
    const char *name;
    op2_fn fn;
    int has_rm;
} ops2[] = {
    {"fadd", do_fadd, 1},     {"fsub", do_fsub, 1},     {"fmul", do_fmul, 1},
    {"fdiv", do_fdiv, 1},     {"fsgnj", do_fsgnj, 0},   {"fsgnjn", do_fsgnjn, 0},
    {"fsgnjx", do_fsgnjx, 0}, {"fmin", do_fmin, 0},     {"fmax", do_fmax, 0},
    {"feq", do_feq, 0},       {"flt", do_flt, 0},       {"fle", do_fle, 0},
};
#define NOPS2 (sizeof(ops2) / sizeof(ops2[0]))

static const struct {
    const char *name;
    op3_fn fn;
} ops3[] = {{"fmadd", do_fmadd},
            {"fmsub", do_fmsub},
            {"fnmsub", do_fnmsub},
            {"fnmadd", do_fnmadd}};

static const struct {
    const char *name;
    op1_fn fn;
    int has_rm;
} ops1[] = {{"fsqrt", do_fsqrt, 1},        {"fcvt.w.s", do_fcvt_w_s, 1},
            {"fcvt.wu.s", do_fcvt_wu_s, 1}, {"fclass", do_fclass, 0},
            {"fmv", do_fmv_mem, 0}};
#define NOPS1 (sizeof(ops1) / sizeof(ops1[0]))

static const struct {
    const char *name;
    op1_fn fn;
} opsx[] = {{"fcvt.s.w", do_fcvt_s_w}, {"fcvt.s.wu", do_fcvt_s_wu}};

static void run2(unsigned k, uint32_t a, uint32_t b)
{
    uint32_t in[2] = {a, b}, fl, r;
    for (int rm = 0; rm < (ops2[k].has_rm ? 5 : 1); rm++) {
        r = ops2[k].fn(rm, a, b, &fl);
        line(ops2[k].name, ops2[k].has_rm ? rm_name[rm] : "-", in, 2, r, fl);
    }
}

static void run3(unsigned k, uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t in[3] = {a, b, c}, fl, r;
    for (int rm = 0; rm < 5; rm++) {
        r = ops3[k].fn(rm, a, b, c, &fl);
        line(ops3[k].name, rm_name[rm], in, 3, r, fl);
    }
}

static void run1(unsigned k, uint32_t a)
{
    uint32_t fl, r;
    for (int rm = 0; rm < (ops1[k].has_rm ? 5 : 1); rm++) {
        r = ops1[k].fn(rm, a, &fl);
        line(ops1[k].name, ops1[k].has_rm ? rm_name[rm] : "-", &a, 1, r, fl);
    }
}

static void runx(unsigned k, uint32_t a)
{
    uint32_t fl, r;
    for (int rm = 0; rm < 5; rm++) {
        r = opsx[k].fn(rm, a, &fl);
        line(opsx[k].name, rm_name[rm], &a, 1, r, fl);
    }
}

static const uint32_t int_specials[] = {
    0,          1,          0xffffffff, 0x7fffffff, 0x80000000, 0x80000001,
    0x01000000, 0x01000001, 0x01000002, 0x01000003, 0x02000002, 0x02000006,
    0x00ffffff, 0xfeffffff, 0xff000001, 0x7fffffc0, 0x7fffffbf, 0xffffff80,
    0xffffff7f, 0x12345678, 0x87654321, 0x00000100, 0xfffffffe, 0x3fffffff,
};
#define NINTSPEC (sizeof(int_specials) / sizeof(int_specials[0]))

int main(void)
{
    /* Specials: all pairs for two operands, all triples of the small set. */
    for (unsigned k = 0; k < NOPS2; k++)
        for (unsigned i = 0; i < NSPEC; i++)
            for (unsigned j = 0; j < NSPEC; j++)
                run2(k, specials[i], specials[j]);
    for (unsigned k = 0; k < 4; k++)
        for (unsigned i = 0; i < NSPEC3; i++)
            for (unsigned j = 0; j < NSPEC3; j++)
                for (unsigned l = 0; l < NSPEC3; l++)
                    run3(k, specials3[i], specials3[j], specials3[l]);
    for (unsigned k = 0; k < NOPS1; k++)
        for (unsigned i = 0; i < NSPEC; i++)
            run1(k, specials[i]);
    for (unsigned k = 0; k < 2; k++)
        for (unsigned i = 0; i < NINTSPEC; i++)
            runx(k, int_specials[i]);

    /* Random operands. */
    for (unsigned n = 0; n < 4000; n++) {
        uint32_t a = rnd_float(), b = rnd_float();
        if (n & 1) /* same neighbourhood: cancellation, ties */
            b = (b & 0x807fffffu) | (a & 0x7f800000u);
        run2(n % NOPS2, a, b);
        run1(n % NOPS1, a);
        runx(n & 1, rng() >> (rng() % 32));
    }
    for (unsigned n = 0; n < 3000; n++) {
        uint32_t a = rnd_float(), b = rnd_float(), c = rnd_float();
        if (n % 3 == 0) {
            /* c close to -(a*b): massive cancellation */
            uint32_t fl;
            c = do_fmul(0, a, b, &fl) ^ 0x80000000u;
            c += (rng() % 5) - 2;
        }
        run3(n % 4, a, b, c);
    }
    put_str("digest ");
    put_hex(digest, 8);
    put_ch('\n');
    flush();
    return 0;
}
