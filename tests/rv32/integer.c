/*
 * integer.c - every RV32IM instruction on corner and pseudo-random
 * operands, each result printed, so that vtpu and qemu-riscv32 must agree
 * on all of them (tests/bare_test.py).  Inline asm pins the exact
 * instruction; the compiler would otherwise fold or pick another.
 */
#include <stdint.h>
#include <stdio.h>

static const uint32_t corner[] = {
    0,          1,          2,          3,          0xffffffff, 0xfffffffe,
    0x7fffffff, 0x80000000, 0x80000001, 0x7ffffffe, 31,         32,
    33,         63,         0xffffffe0, 0x0000ffff, 0x00008000, 0xffff8000,
    0x00007fff, 0x000000ff, 0x00000080, 0xffffff80, 0x12345678, 0x87654321,
    0xdeadbeef, 0x55555555, 0xaaaaaaaa, 0x00010000, 0x0000f00d, 0x10000000,
};
#define NCORNER (sizeof(corner) / sizeof(corner[0]))

static uint32_t rng_state = 0x2545f491;

static uint32_t rng(void)
{
    /* xorshift32 */
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* Random operands biased towards interesting magnitudes. */
static uint32_t rnd_operand(void)
{
    uint32_t r = rng();
    switch (r & 7) {
    case 0:
        return r >> (rng() & 31);
    case 1:
        return (uint32_t)-(int32_t)(r >> (rng() & 31));
    case 2:
        return corner[rng() % NCORNER] + (rng() & 3) - 1;
    default:
        return rng();
    }
}

static uint32_t checksum;

static void out(const char *name, uint32_t a, uint32_t b, uint32_t r)
{
    checksum = (checksum ^ r) * 16777619u + a;
    printf("%s %08lx %08lx -> %08lx\n", name, (unsigned long)a,
           (unsigned long)b, (unsigned long)r);
}

#define RR(op)                                                                \
    static uint32_t do_##op(uint32_t a, uint32_t b)                           \
    {                                                                         \
        uint32_t r;                                                           \
        __asm__ volatile(#op " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));       \
        return r;                                                             \
    }
RR(add)
RR(sub)
RR(sll)
RR(slt)
RR(sltu)
RR(xor)
RR(srl)
RR(sra)
RR(or)
RR(and)
RR(mul)
RR(mulh)
RR(mulhsu)
RR(mulhu)
RR(div)
RR(divu)
RR(rem)
RR(remu)

typedef uint32_t (*rr_fn)(uint32_t, uint32_t);
static const struct {
    const char *name;
    rr_fn fn;
} rr_ops[] = {
    {"add", do_add},     {"sub", do_sub},       {"sll", do_sll},
    {"slt", do_slt},     {"sltu", do_sltu},     {"xor", do_xor},
    {"srl", do_srl},     {"sra", do_sra},       {"or", do_or},
    {"and", do_and},     {"mul", do_mul},       {"mulh", do_mulh},
    {"mulhsu", do_mulhsu}, {"mulhu", do_mulhu}, {"div", do_div},
    {"divu", do_divu},   {"rem", do_rem},       {"remu", do_remu},
};
#define NRR (sizeof(rr_ops) / sizeof(rr_ops[0]))

/* Immediate forms: one function per (op, immediate). */
#define RI(op, tag, imm)                                                      \
    static uint32_t do_##op##_##tag(uint32_t a, uint32_t b)                   \
    {                                                                         \
        uint32_t r;                                                           \
        (void)b;                                                              \
        __asm__ volatile(#op " %0, %1, " #imm : "=r"(r) : "r"(a));            \
        return r;                                                             \
    }
#define RI_SET(op)                                                            \
    RI(op, 0, 0)                                                              \
    RI(op, 1, 1)                                                              \
    RI(op, m1, -1)                                                            \
    RI(op, max, 2047)                                                         \
    RI(op, min, -2048)                                                        \
    RI(op, x, 0x555)                                                          \
    RI(op, y, -0x556)
RI_SET(addi)
RI_SET(slti)
RI_SET(sltiu)
RI_SET(xori)
RI_SET(ori)
RI_SET(andi)
#define SH_SET(op)                                                            \
    RI(op, 0, 0)                                                              \
    RI(op, 1, 1)                                                              \
    RI(op, 7, 7)                                                              \
    RI(op, 16, 16)                                                            \
    RI(op, 31, 31)
SH_SET(slli)
SH_SET(srli)
SH_SET(srai)

#define E7(op) {#op " 0", do_##op##_0}, {#op " 1", do_##op##_1},              \
    {#op " -1", do_##op##_m1}, {#op " 2047", do_##op##_max},                  \
    {#op " -2048", do_##op##_min}, {#op " 0x555", do_##op##_x},               \
    {#op " -0x556", do_##op##_y}
#define E5(op) {#op " 0", do_##op##_0}, {#op " 1", do_##op##_1},              \
    {#op " 7", do_##op##_7}, {#op " 16", do_##op##_16},                       \
    {#op " 31", do_##op##_31}
static const struct {
    const char *name;
    rr_fn fn;
} ri_ops[] = {E7(addi), E7(slti), E7(sltiu), E7(xori), E7(ori), E7(andi),
              E5(slli), E5(srli), E5(srai)};
#define NRI (sizeof(ri_ops) / sizeof(ri_ops[0]))

#define BR(op)                                                                \
    static uint32_t do_##op(uint32_t a, uint32_t b)                           \
    {                                                                         \
        uint32_t r;                                                           \
        __asm__ volatile("li %0, 1\n\t" #op " %1, %2, 1f\n\t"                 \
                         "li %0, 0\n"                                         \
                         "1:"                                                 \
                         : "=&r"(r)                                           \
                         : "r"(a), "r"(b));                                   \
        return r;                                                             \
    }
BR(beq)
BR(bne)
BR(blt)
BR(bge)
BR(bltu)
BR(bgeu)
static const struct {
    const char *name;
    rr_fn fn;
} br_ops[] = {{"beq", do_beq}, {"bne", do_bne},   {"blt", do_blt},
              {"bge", do_bge}, {"bltu", do_bltu}, {"bgeu", do_bgeu}};

static void test_rr_ri_br(void)
{
    for (unsigned i = 0; i < NCORNER; i++) {
        for (unsigned j = 0; j < NCORNER; j++) {
            uint32_t a = corner[i], b = corner[j];
            for (unsigned k = 0; k < NRR; k++)
                out(rr_ops[k].name, a, b, rr_ops[k].fn(a, b));
            for (unsigned k = 0; k < 6; k++)
                out(br_ops[k].name, a, b, br_ops[k].fn(a, b));
        }
        for (unsigned k = 0; k < NRI; k++)
            out(ri_ops[k].name, corner[i], 0, ri_ops[k].fn(corner[i], 0));
    }
    for (unsigned n = 0; n < 3000; n++) {
        uint32_t a = rnd_operand(), b = rnd_operand();
        unsigned k = rng() % (NRR + NRI + 6);
        if (k < NRR)
            out(rr_ops[k].name, a, b, rr_ops[k].fn(a, b));
        else if (k < NRR + NRI)
            out(ri_ops[k - NRR].name, a, 0, ri_ops[k - NRR].fn(a, 0));
        else
            out(br_ops[k - NRR - NRI].name, a, b,
                br_ops[k - NRR - NRI].fn(a, b));
    }
}

static void test_upper(void)
{
    uint32_t r;
    __asm__ volatile("lui %0, 0xfffff" : "=r"(r));
    out("lui 0xfffff", 0, 0, r);
    __asm__ volatile("lui %0, 0x80000" : "=r"(r));
    out("lui 0x80000", 0, 0, r);
    __asm__ volatile("lui %0, 0" : "=r"(r));
    out("lui 0", 0, 0, r);
    /* auipc: the difference of two auipc is position-independent. */
    uint32_t p1, p2;
    __asm__ volatile("auipc %0, 0\n\tauipc %1, 0x1" : "=r"(p1), "=r"(p2));
    out("auipc delta", 0, 0, p2 - p1);
    __asm__ volatile("auipc %0, 0xfffff\n\tauipc %1, 0" : "=r"(p1), "=r"(p2));
    out("auipc delta2", 0, 0, p2 - p1);
    /* Writes to x0 are discarded. */
    __asm__ volatile("li t0, 5\n\tadd x0, t0, t0\n\tlui x0, 1\n\t"
                     "addi %0, x0, 3"
                     : "=r"(r)
                     :
                     : "t0");
    out("x0", 0, 0, r);
}

static void test_jumps(void)
{
    uint32_t r, link, target;
    /* jal: link = pc+4, lands past one instruction. */
    __asm__ volatile("li %0, 1\n\t"
                     "jal %1, 1f\n\t"
                     "li %0, 2\n"
                     "1:\n\t"
                     "auipc %2, 0\n\t"
                     "addi %2, %2, -4\n\t"
                     "sub %1, %2, %1"
                     : "=&r"(r), "=&r"(link), "=&r"(target));
    out("jal", 0, link, r);
    /* jalr with an offset and rd == rs1; bit 0 of the target ignored. */
    __asm__ volatile("la %1, 1f\n\t"
                     "addi %1, %1, -7\n\t"
                     "li %0, 1\n\t"
                     "jalr %1, 8(%1)\n\t"
                     "li %0, 2\n"
                     "1:\n\t"
                     "la %2, 1b\n\t"
                     "sub %1, %2, %1"
                     : "=&r"(r), "=&r"(link), "=&r"(target));
    out("jalr", 0, link, r);
    /* Backward branch loop. */
    __asm__ volatile("li %0, 0\n\tli %1, 100\n"
                     "1:\n\taddi %0, %0, 3\n\taddi %1, %1, -1\n\t"
                     "bnez %1, 1b"
                     : "=&r"(r), "=&r"(link));
    out("loop", 0, 0, r);
}

static union {
    uint8_t b[64];
    uint32_t w[16];
} mem __attribute__((aligned(8)));

static void test_mem(void)
{
    for (unsigned i = 0; i < 64; i++)
        mem.b[i] = (uint8_t)(0x81 + i * 37);
    uint8_t *p = mem.b + 32;
    uint32_t r;
#define LD(op, off)                                                           \
    __asm__ volatile(#op " %0, " #off "(%1)" : "=r"(r) : "r"(p) : "memory");  \
    out(#op " " #off, 0, 0, r);
    LD(lb, 0) LD(lb, 1) LD(lb, -1) LD(lb, 31) LD(lb, -32) LD(lbu, 0)
    LD(lbu, 1) LD(lbu, -1) LD(lbu, 5) LD(lh, 0) LD(lh, 2) LD(lh, -2)
    LD(lh, 30) LD(lhu, 0) LD(lhu, 2) LD(lhu, -2) LD(lhu, -32) LD(lw, 0)
    LD(lw, 4) LD(lw, -4) LD(lw, 28) LD(lw, -32)
#undef LD
#define ST(op, off, val)                                                      \
    __asm__ volatile(#op " %1, " #off "(%0)"                                  \
                     :                                                        \
                     : "r"(p), "r"(val)                                       \
                     : "memory");
    ST(sb, 0, 0x123456ffu) ST(sb, -1, 0x80u) ST(sb, 3, 0x7fu)
    ST(sh, 4, 0xabcd8001u) ST(sh, -2, 0xffffu) ST(sh, 6, 0x1234u)
    ST(sw, 8, 0xcafef00du) ST(sw, -8, 0x80000000u) ST(sw, 12, 0xffffffffu)
#undef ST
    for (unsigned i = 0; i < 16; i++)
        out("mem", i, 0, mem.w[i]);
}

static void test_misc(void)
{
    uint32_t r = 0;
    __asm__ volatile("fence\n\tfence rw, rw\n\t.word 0x0000100f /* fence.i */\n\tnop\n\t"
                     "li %0, 9"
                     : "=r"(r));
    out("fence", 0, 0, r);
}

int main(void)
{
    test_rr_ri_br();
    test_upper();
    test_jumps();
    test_mem();
    test_misc();
    printf("checksum %08lx\n", (unsigned long)checksum);
    return (int)(checksum & 0x7f);
}
