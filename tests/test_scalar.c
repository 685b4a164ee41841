/*
 * test_scalar.c - the scalar core (decode.c, interp.c): every RV32IM
 * instruction against a host reference on corner and random operands,
 * Zicsr, ecalls, instret, and every fault the core raises, checking the
 * error kind, pc and address.  Programs are built word by word with the
 * encoders of helpers.c and run through the public chip API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h"

#define OP 0x33
#define OP_IMM 0x13
#define LOAD 0x03
#define STORE 0x23
#define SYSTEM 0x73
#define RES_BASE 0x1000u /* SMEM offset where programs store results */

static uint32_t smem_word(vtpu_chip *chip, uint32_t off)
{
    uint32_t v;
    assert_int_equal(vtpu_mem_read(chip, 0, VTPU_SPACE_SMEM, off, &v, 4), 0);
    return v;
}

static void prog_csr(test_prog *p, unsigned f3, unsigned rd, unsigned rs1,
                     unsigned csr)
{
    prog_emit(p, enc_i(SYSTEM, f3, rd, rs1, (int32_t)csr));
}

/* Start a program whose results go to SMEM RES_BASE.. via x9. */
static void prog_start(test_prog *p)
{
    prog_init(p);
    prog_li(p, 9, VTPU_SMEM_BASE + RES_BASE);
}

/* sw x7, 0(x9); addi x9, x9, 4 */
static void prog_store_result(test_prog *p)
{
    prog_emit(p, enc_s(STORE, 2, 9, 7, 0));
    prog_emit(p, rv_addi(9, 9, 4));
}

static void prog_end(test_prog *p)
{
    prog_emit(p, rv_addi(10, 0, 0));
    prog_exit(p);
}

/* ---- reference semantics ---- */

enum {
    I_ADD,
    I_SUB,
    I_SLL,
    I_SLT,
    I_SLTU,
    I_XOR,
    I_SRL,
    I_SRA,
    I_OR,
    I_AND,
    I_MUL,
    I_MULH,
    I_MULHSU,
    I_MULHU,
    I_DIV,
    I_DIVU,
    I_REM,
    I_REMU,
    I_NR
};

static const struct {
    uint32_t f3, f7;
} rr_enc[I_NR] = {
    [I_ADD] = {0, 0},    [I_SUB] = {0, 0x20}, [I_SLL] = {1, 0},
    [I_SLT] = {2, 0},    [I_SLTU] = {3, 0},   [I_XOR] = {4, 0},
    [I_SRL] = {5, 0},    [I_SRA] = {5, 0x20}, [I_OR] = {6, 0},
    [I_AND] = {7, 0},    [I_MUL] = {0, 1},    [I_MULH] = {1, 1},
    [I_MULHSU] = {2, 1}, [I_MULHU] = {3, 1},  [I_DIV] = {4, 1},
    [I_DIVU] = {5, 1},   [I_REM] = {6, 1},    [I_REMU] = {7, 1},
};

static uint32_t ref_rr(int op, uint32_t a, uint32_t b)
{
    int32_t sa = (int32_t)a, sb = (int32_t)b;
    switch (op) {
    case I_ADD:
        return a + b;
    case I_SUB:
        return a - b;
    case I_SLL:
        return a << (b & 31);
    case I_SLT:
        return sa < sb;
    case I_SLTU:
        return a < b;
    case I_XOR:
        return a ^ b;
    case I_SRL:
        return a >> (b & 31);
    case I_SRA:
        return (uint32_t)(sa >> (b & 31));
    case I_OR:
        return a | b;
    case I_AND:
        return a & b;
    case I_MUL:
        return (uint32_t)((uint64_t)a * b);
    case I_MULH:
        return (uint32_t)(((int64_t)sa * sb) >> 32);
    case I_MULHSU:
        return (uint32_t)(((int64_t)sa * (int64_t)(uint64_t)b) >> 32);
    case I_MULHU:
        return (uint32_t)(((uint64_t)a * b) >> 32);
    case I_DIV:
        if (b == 0)
            return 0xffffffffu;
        if (sa == INT32_MIN && sb == -1)
            return a;
        return (uint32_t)(sa / sb);
    case I_DIVU:
        return b ? a / b : 0xffffffffu;
    case I_REM:
        if (b == 0)
            return a;
        if (sa == INT32_MIN && sb == -1)
            return 0;
        return (uint32_t)(sa % sb);
    case I_REMU:
        return b ? a % b : a;
    }
    return 0;
}

enum {
    J_ADDI,
    J_SLTI,
    J_SLTIU,
    J_XORI,
    J_ORI,
    J_ANDI,
    J_SLLI,
    J_SRLI,
    J_SRAI,
    J_NR
};
static const uint32_t ri_f3[J_NR] = {0, 2, 3, 4, 6, 7, 1, 5, 5};

static uint32_t ref_ri(int op, uint32_t a, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    switch (op) {
    case J_ADDI:
        return a + u;
    case J_SLTI:
        return (int32_t)a < imm;
    case J_SLTIU:
        return a < u;
    case J_XORI:
        return a ^ u;
    case J_ORI:
        return a | u;
    case J_ANDI:
        return a & u;
    case J_SLLI:
        return a << imm;
    case J_SRLI:
        return a >> imm;
    case J_SRAI:
        return (uint32_t)((int32_t)a >> imm);
    }
    return 0;
}

static const uint32_t corner[] = {
    0,          1,          2,          0xffffffff, 0xfffffffe, 0x7fffffff,
    0x80000000, 0x80000001, 31,         32,         33,         63,
    0xffffffe0, 0x0000ffff, 0x00008000, 0x12345678, 0xdeadbeef, 0x55555555,
};
#define NCORNER (sizeof(corner) / sizeof(corner[0]))

static uint32_t rnd_operand(uint64_t *s)
{
    uint32_t r = test_rand32(s);
    switch (r & 3) {
    case 0:
        return test_rand32(s) >> (r >> 27);
    case 1:
        return corner[(r >> 8) % NCORNER] + ((r >> 4) & 3) - 1;
    default:
        return test_rand32(s);
    }
}

/* ---- batches of cases, one program each ---- */

typedef struct {
    int kind; /* 0 rr, 1 ri, 2 branch */
    int op;
    uint32_t a, b;
    int32_t imm;
    uint32_t want;
} icase;

#define MAX_CASES 450

static void emit_case(test_prog *p, const icase *c)
{
    prog_li(p, 5, c->a);
    prog_li(p, 6, c->b);
    if (c->kind == 0) {
        prog_emit(p, enc_r(OP, rr_enc[c->op].f3, rr_enc[c->op].f7, 7, 5, 6));
    } else if (c->kind == 1) {
        int32_t imm = c->imm;
        if (c->op == J_SRAI)
            imm |= 0x400;
        prog_emit(p, enc_i(OP_IMM, ri_f3[c->op], 7, 5, imm));
    } else {
        static const uint32_t f3[6] = {0, 1, 4, 5, 6, 7};
        prog_emit(p, rv_addi(7, 0, 1));
        prog_emit(p, enc_b(f3[c->op], 5, 6, 8));
        prog_emit(p, rv_addi(7, 0, 0));
    }
    prog_store_result(p);
}

static bool ref_branch(int op, uint32_t a, uint32_t b)
{
    switch (op) {
    case 0:
        return a == b;
    case 1:
        return a != b;
    case 2:
        return (int32_t)a < (int32_t)b;
    case 3:
        return (int32_t)a >= (int32_t)b;
    case 4:
        return a < b;
    default:
        return a >= b;
    }
}

static void run_cases(vtpu_chip *chip, const icase *c, unsigned n)
{
    test_prog p;
    vtpu_run_result res;

    prog_start(&p);
    for (unsigned i = 0; i < n; i++)
        emit_case(&p, &c[i]);
    prog_end(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);
    for (unsigned i = 0; i < n; i++) {
        uint32_t got = smem_word(chip, RES_BASE + 4 * i);
        if (got != c[i].want)
            fail_msg("kind %d op %d a %08x b %08x imm %d: got %08x want %08x",
                     c[i].kind, c[i].op, c[i].a, c[i].b, c[i].imm, got,
                     c[i].want);
    }
}

static void make_case(icase *c, int kind, int op, uint32_t a, uint32_t b,
                      int32_t imm)
{
    c->kind = kind;
    c->op = op;
    c->a = a;
    c->b = b;
    c->imm = imm;
    if (kind == 0)
        c->want = ref_rr(op, a, b);
    else if (kind == 1)
        c->want = ref_ri(op, a, imm);
    else
        c->want = ref_branch(op, a, b);
}

static void test_integer_random(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    static icase cases[MAX_CASES];
    uint64_t s = 1;
    unsigned n = 0, total = 0;

    /* every rr op and branch on every corner pair, then random ones */
    for (int op = 0; op < I_NR + 6; op++)
        for (unsigned i = 0; i < NCORNER; i++)
            for (unsigned j = 0; j < NCORNER; j++) {
                if (op < I_NR)
                    make_case(&cases[n++], 0, op, corner[i], corner[j], 0);
                else
                    make_case(&cases[n++], 2, op - I_NR, corner[i], corner[j],
                              0);
                if (n == MAX_CASES) {
                    run_cases(chip, cases, n);
                    total += n;
                    n = 0;
                }
            }
    for (unsigned k = 0; k < 12000; k++) {
        uint32_t a = rnd_operand(&s), b = rnd_operand(&s);
        int kind = (int)(test_rand32(&s) % 3);
        if (kind == 0) {
            make_case(&cases[n++], 0, (int)(test_rand32(&s) % I_NR), a, b, 0);
        } else if (kind == 1) {
            int op = (int)(test_rand32(&s) % J_NR);
            int32_t imm = op >= J_SLLI
                              ? (int32_t)(test_rand32(&s) % 32)
                              : (int32_t)(test_rand32(&s) % 4096) - 2048;
            make_case(&cases[n++], 1, op, a, 0, imm);
        } else {
            make_case(&cases[n++], 2, (int)(test_rand32(&s) % 6), a,
                      (test_rand32(&s) & 1) ? a : b, 0);
        }
        if (n == MAX_CASES) {
            run_cases(chip, cases, n);
            total += n;
            n = 0;
        }
    }
    if (n)
        run_cases(chip, cases, n);
    total += n;
    assert_true(total > 17000);
    vtpu_chip_free(chip);
}

/* The M extension's defined results for the undefined-in-C cases. */
static void test_division_corners(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    static const struct {
        int op;
        uint32_t a, b, want;
    } t[] = {
        {I_DIV, 7, 0, 0xffffffff},
        {I_DIV, 0x80000000, 0, 0xffffffff},
        {I_DIVU, 7, 0, 0xffffffff},
        {I_REM, 7, 0, 7},
        {I_REM, 0xfffffff9, 0, 0xfffffff9},
        {I_REMU, 7, 0, 7},
        {I_DIV, 0x80000000, 0xffffffff, 0x80000000},
        {I_REM, 0x80000000, 0xffffffff, 0},
        {I_DIV, 0xfffffff9, 2, 0xfffffffd}, /* truncates toward zero */
        {I_REM, 0xfffffff9, 2, 0xffffffff},
        {I_MULH, 0x80000000, 0x80000000, 0x40000000},
        {I_MULHSU, 0xffffffff, 0xffffffff, 0xffffffff},
        {I_MULHU, 0xffffffff, 0xffffffff, 0xfffffffe},
        {I_SLL, 1, 33, 2}, /* shift amounts use the low 5 bits */
        {I_SRL, 0x80000000, 63, 1},
        {I_SRA, 0x80000000, 0xffffffff, 0xffffffff},
    };
    icase c[sizeof(t) / sizeof(t[0])];
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        make_case(&c[i], 0, t[i].op, t[i].a, t[i].b, 0);
        assert_int_equal(c[i].want, t[i].want); /* the reference agrees */
    }
    run_cases(chip, c, sizeof(t) / sizeof(t[0]));
    vtpu_chip_free(chip);
}

/* lui, auipc, jal/jalr links, x0, loads and stores of every width. */
static void test_upper_jumps_x0(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    prog_start(&p);                              /* words 0, 1 */
    prog_emit(&p, enc_u(0x37, 7, 0xfffff));      /* 2: lui x7 */
    prog_store_result(&p);                       /* 3, 4 */
    prog_emit(&p, enc_u(0x17, 7, 0x80000));      /* 5: auipc */
    prog_store_result(&p);                       /* 6, 7 */
    prog_emit(&p, enc_j(7, 8));                  /* 8: jal x7, +8 */
    prog_emit(&p, rv_addi(7, 0, 99));            /* 9: skipped */
    prog_store_result(&p);                       /* 10, 11 */
    prog_li(&p, 6, VTPU_IMEM_BASE + 4 * 17 + 1); /* 12, 13 (bit 0 set) */
    prog_emit(&p, enc_i(0x67, 0, 7, 6, 0));      /* 14: jalr x7, 0(x6) */
    prog_emit(&p, rv_addi(7, 0, 99));            /* 15: skipped */
    prog_emit(&p, rv_addi(7, 0, 98));            /* 16: skipped */
    prog_store_result(&p);                       /* 17, 18 */
    prog_emit(&p, rv_addi(0, 0, 5));             /* 19: addi x0: sink */
    prog_emit(&p, enc_u(0x37, 0, 1));            /* 20: lui x0 */
    prog_emit(&p, enc_j(0, 8));                  /* 21: jal x0, +8 */
    prog_emit(&p, 0xffffffff);                   /* 22: skipped */
    prog_emit(&p, enc_r(OP, 0, 0, 7, 0, 0));     /* 23: add x7, x0, x0 */
    prog_store_result(&p);                       /* 24, 25 */
    /* jalr with rd == rs1 (link written after the target is read) */
    prog_li(&p, 7, VTPU_IMEM_BASE + 4 * 30); /* 26, 27 */
    prog_emit(&p, enc_i(0x67, 0, 7, 7, 0));  /* 28 */
    prog_emit(&p, 0xffffffff);               /* 29: skipped */
    prog_store_result(&p);                   /* 30, 31 */
    prog_end(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(smem_word(chip, RES_BASE + 0), 0xfffff000);
    assert_int_equal(smem_word(chip, RES_BASE + 4),
                     VTPU_IMEM_BASE + 4 * 5 + 0x80000000u);
    assert_int_equal(smem_word(chip, RES_BASE + 8), VTPU_IMEM_BASE + 4 * 9);
    assert_int_equal(smem_word(chip, RES_BASE + 12), VTPU_IMEM_BASE + 4 * 15);
    assert_int_equal(smem_word(chip, RES_BASE + 16), 0);
    assert_int_equal(smem_word(chip, RES_BASE + 20), VTPU_IMEM_BASE + 4 * 29);
    vtpu_chip_free(chip);
}

static void test_loads_stores(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    prog_start(&p);
    /* data at SMEM 0: odd bytes have bit 7 set, even bytes around 16
     * do not, so LB/LH see negative and positive values and LBU/LHU
     * see set high bits (a missing sign or zero extension fails). */
    for (unsigned i = 0; i < 32; i++)
        p.data[i] = (uint8_t)((0x80 + i * 9) | (i % 2 ? 0x80 : 0));
    p.data_len = 32;
    prog_li(&p, 8, VTPU_SMEM_BASE + 16);
    static const struct {
        uint32_t f3;
        int32_t off;
    } ld[] = {{0, 0},  {0, 1}, {0, -1},  {4, 0}, {4, -3}, {1, 0},
              {1, -2}, {5, 2}, {5, -16}, {2, 0}, {2, -4}, {2, 12}};
    for (unsigned i = 0; i < sizeof(ld) / sizeof(ld[0]); i++) {
        prog_emit(&p, enc_i(LOAD, ld[i].f3, 7, 8, ld[i].off));
        prog_store_result(&p);
    }
    prog_li(&p, 5, 0xa1b2c3d4);
    prog_emit(&p, enc_s(STORE, 0, 8, 5, 0));  /* sb */
    prog_emit(&p, enc_s(STORE, 1, 8, 5, -2)); /* sh */
    prog_emit(&p, enc_s(STORE, 2, 8, 5, 4));  /* sw */
    prog_emit(&p, enc_i(LOAD, 2, 7, 8, -4));
    prog_store_result(&p);
    prog_emit(&p, enc_i(LOAD, 2, 7, 8, 0));
    prog_store_result(&p);
    prog_emit(&p, enc_i(LOAD, 2, 7, 8, 4));
    prog_store_result(&p);
    /* a load into x0 still happens (and is discarded) */
    prog_emit(&p, enc_i(LOAD, 2, 0, 8, 0));
    prog_end(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);

    uint8_t d[32];
    for (unsigned i = 0; i < 32; i++)
        d[i] = (uint8_t)((0x80 + i * 9) | (i % 2 ? 0x80 : 0));
    /* The values are what the comment above promises. */
    assert_true((int8_t)d[16] > 0 && (int8_t)d[17] < 0 && (int8_t)d[15] < 0);
    assert_true((int16_t)(d[16] | d[17] << 8) < 0 &&
                (int16_t)(d[14] | d[15] << 8) < 0);
    uint32_t k = 0;
#define B(i) ((uint32_t)d[16 + (i)])
#define SB(i) ((uint32_t)(int32_t)(int8_t)d[16 + (i)])
    uint32_t want[] = {
        SB(0),
        SB(1),
        SB(-1),
        B(0),
        B(-3),
        (uint32_t)(int32_t)(int16_t)(B(0) | B(1) << 8),
        (uint32_t)(int32_t)(int16_t)(B(-2) | B(-1) << 8),
        B(2) | B(3) << 8,
        B(-16) | B(-15) << 8,
        B(0) | B(1) << 8 | B(2) << 16 | B(3) << 24,
        B(-4) | B(-3) << 8 | B(-2) << 16 | B(-1) << 24,
        B(12) | B(13) << 8 | B(14) << 16 | B(15) << 24,
        B(-4) | B(-3) << 8 | 0xc3d40000u, /* sh at -2 */
        0xd4 | B(1) << 8 | B(2) << 16 | B(3) << 24,
        0xa1b2c3d4,
    };
#undef B
#undef SB
    for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
        if (smem_word(chip, RES_BASE + 4 * k) != want[k])
            fail_msg("load/store %u: got %08x want %08x", k,
                     smem_word(chip, RES_BASE + 4 * k), want[k]);
    vtpu_chip_free(chip);
}

/* ---- CSRs ---- */

static void test_csrs(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 2);
    vtpu_run_result res;
    test_prog p;

    prog_start(&p);
    prog_csr(&p, 2, 7, 0, VTPU_CSR_TCID); /* csrr x7, tcid */
    prog_store_result(&p);
    prog_csr(&p, 2, 7, 0, VTPU_CSR_NTCS);
    prog_store_result(&p);
    prog_csr(&p, 2, 7, 0, 0xc02); /* instret: the 8 before it */
    prog_store_result(&p);
    prog_csr(&p, 2, 7, 0, 0xc00); /* cycle = instret */
    prog_store_result(&p);
    prog_csr(&p, 2, 7, 0, 0xc01); /* time = instret */
    prog_store_result(&p);
    prog_csr(&p, 2, 7, 0, 0xc82); /* instreth */
    prog_store_result(&p);
    prog_csr(&p, 6, 7, 0, 0xc00); /* csrrsi x7, cycle, 0: a read */
    prog_store_result(&p);
    prog_csr(&p, 2, 0, 0, 0xc00); /* csrr x0: discarded */
    prog_end(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(smem_word(chip, RES_BASE + 0), 0);
    assert_int_equal(smem_word(chip, RES_BASE + 4), 2);
    assert_int_equal(smem_word(chip, RES_BASE + 8), 8);
    assert_int_equal(smem_word(chip, RES_BASE + 12), 11);
    assert_int_equal(smem_word(chip, RES_BASE + 16), 14);
    assert_int_equal(smem_word(chip, RES_BASE + 20), 0);
    assert_int_equal(smem_word(chip, RES_BASE + 24), 20);
    uint32_t v;
    assert_int_equal(vtpu_mem_read(chip, 1, VTPU_SPACE_SMEM, RES_BASE, &v, 4),
                     0);
    assert_int_equal(v, 1); /* TC 1 reads its own id */
    /* instret counts every retired instruction, the exit ecall included */
    assert_int_equal(res.instret[0], p.n);
    assert_int_equal(res.instret[1], p.n);
    vtpu_chip_free(chip);
}

/* ---- faults ---- */

typedef struct {
    vtpu_error_kind kind;
    vtpu_space space;
    uint32_t pc_index; /* instruction index of the faulting pc */
    uint32_t addr;
} fault_want;

static void expect_fault(vtpu_chip *chip, const test_prog *p, fault_want w)
{
    vtpu_run_result res;
    assert_int_equal(test_run(chip, p, &res), -1);
    assert_int_equal(res.error.kind, w.kind);
    assert_int_equal(res.error.tc, 0);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * w.pc_index);
    assert_int_equal(res.error.space, w.space);
    assert_int_equal(res.error.addr, w.addr);
}

/* li x5, addr; <insn using x5> ; exit */
static void mem_prog(test_prog *p, uint32_t addr, uint32_t insn)
{
    prog_init(p);
    prog_li(p, 5, addr);
    prog_emit(p, insn);
    prog_end(p);
}

static void test_fault_memory(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    const uint32_t smem_size = vtpu_chip_config(chip)->smem_size;
    const uint32_t lw = enc_i(LOAD, 2, 6, 5, 0), sw = enc_s(STORE, 2, 5, 6, 0);
    const uint32_t lh = enc_i(LOAD, 1, 6, 5, 0), sh = enc_s(STORE, 1, 5, 6, 0);
    const uint32_t lb = enc_i(LOAD, 0, 6, 5, 0), flw = enc_i(0x07, 2, 1, 5, 0);
    test_prog p;

    struct {
        uint32_t addr, insn;
        fault_want w;
    } t[] = {
        {VTPU_SMEM_BASE + 2, lw, {VTPU_ERR_MISALIGNED, VTPU_SPACE_SMEM, 2, 0}},
        {VTPU_SMEM_BASE + 1, sh, {VTPU_ERR_MISALIGNED, VTPU_SPACE_SMEM, 2, 0}},
        {VTPU_SMEM_BASE + 3, lh, {VTPU_ERR_MISALIGNED, VTPU_SPACE_SMEM, 2, 0}},
        {VTPU_SMEM_BASE + 6, flw, {VTPU_ERR_MISALIGNED, VTPU_SPACE_SMEM, 2, 0}},
        {VTPU_SMEM_BASE + smem_size, lw, {VTPU_ERR_OOB, VTPU_SPACE_SMEM, 2, 0}},
        {VTPU_SMEM_BASE + smem_size, lb, {VTPU_ERR_OOB, VTPU_SPACE_SMEM, 2, 0}},
        /* just below SMEM is the top of the IMEM window */
        {VTPU_SMEM_BASE - 4, sw, {VTPU_ERR_OOB, VTPU_SPACE_IMEM, 2, 0}},
        {VTPU_IMEM_BASE, lw, {VTPU_ERR_OOB, VTPU_SPACE_IMEM, 2, 0}},
        {0, lb, {VTPU_ERR_OOB, VTPU_SPACE_NONE, 2, 0}},
        {0xfffffffc, sw, {VTPU_ERR_OOB, VTPU_SPACE_NONE, 2, 0}},
        {VTPU_VMEM_BASE, sw, {VTPU_ERR_SCALAR_VMEM, VTPU_SPACE_VMEM, 2, 0}},
        {VTPU_VMEM_BASE + 0x1234,
         lb,
         {VTPU_ERR_SCALAR_VMEM, VTPU_SPACE_VMEM, 2, 0}},
        {VTPU_VMEM_BASE + VTPU_VMEM_MAX - 4,
         lw,
         {VTPU_ERR_SCALAR_VMEM, VTPU_SPACE_VMEM, 2, 0}},
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        mem_prog(&p, t[i].addr, t[i].insn);
        t[i].w.addr = t[i].addr;
        expect_fault(chip, &p, t[i].w);
    }
    /* the last byte and last word of SMEM are fine */
    mem_prog(&p, VTPU_SMEM_BASE + smem_size - 1, lb);
    vtpu_run_result res;
    assert_int_equal(test_run(chip, &p, &res), 0);
    mem_prog(&p, VTPU_SMEM_BASE + smem_size - 4, sw);
    assert_int_equal(test_run(chip, &p, &res), 0);
    vtpu_chip_free(chip);
}

static void test_fault_control(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    test_prog p;

    /* jalr to a target with bit 1 set */
    mem_prog(&p, VTPU_IMEM_BASE + 6, enc_i(0x67, 0, 1, 5, 0));
    expect_fault(chip, &p,
                 (fault_want){VTPU_ERR_MISALIGNED, VTPU_SPACE_IMEM, 2,
                              VTPU_IMEM_BASE + 6});
    /* jalr past the program, and into SMEM (Harvard) */
    mem_prog(&p, VTPU_IMEM_BASE + 0x1000, enc_i(0x67, 0, 1, 5, 0));
    expect_fault(chip, &p,
                 (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 2,
                              VTPU_IMEM_BASE + 0x1000});
    mem_prog(&p, VTPU_SMEM_BASE, enc_i(0x67, 0, 1, 5, 0));
    expect_fault(
        chip, &p,
        (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 2, VTPU_SMEM_BASE});
    /* jal out of the program: faults at the jal */
    prog_init(&p);
    prog_emit(&p, rv_addi(5, 0, 1));
    prog_emit(&p, enc_j(1, -8));
    prog_end(&p);
    expect_fault(
        chip, &p,
        (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 1, VTPU_IMEM_BASE - 4});
    /* branch to a 2-aligned target: faults only if taken */
    prog_init(&p);
    prog_emit(&p, rv_addi(5, 0, 1));
    prog_emit(&p, enc_b(0, 5, 0, 6)); /* beq x5, x0: not taken */
    prog_emit(&p, enc_b(1, 5, 0, 6)); /* bne x5, x0: taken */
    prog_end(&p);
    expect_fault(chip, &p,
                 (fault_want){VTPU_ERR_MISALIGNED, VTPU_SPACE_IMEM, 2,
                              VTPU_IMEM_BASE + 8 + 6});
    /* backward branch before the program */
    prog_init(&p);
    prog_emit(&p, enc_b(0, 0, 0, -4));
    prog_end(&p);
    expect_fault(
        chip, &p,
        (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 0, VTPU_IMEM_BASE - 4});
    /* falling off the end: the fetch after the last word faults */
    prog_init(&p);
    prog_emit(&p, rv_addi(5, 0, 1));
    prog_emit(&p, rv_addi(5, 5, 1));
    expect_fault(
        chip, &p,
        (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 2, VTPU_IMEM_BASE + 8});
    /* ...also after a not-taken branch or a write ecall in the last slot */
    prog_init(&p);
    prog_emit(&p, rv_addi(5, 0, 1));
    prog_emit(&p, enc_b(0, 5, 0, -4));
    expect_fault(
        chip, &p,
        (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 2, VTPU_IMEM_BASE + 8});
    prog_init(&p);
    prog_emit(&p, rv_addi(17, 0, 64));
    prog_emit(&p, rv_addi(10, 0, 1));
    prog_emit(&p, rv_ecall());
    expect_fault(
        chip, &p,
        (fault_want){VTPU_ERR_OOB, VTPU_SPACE_IMEM, 3, VTPU_IMEM_BASE + 12});
    /* a last-slot load still faults at its own pc */
    prog_init(&p);
    prog_emit(&p, enc_i(LOAD, 2, 6, 0, 2));
    expect_fault(chip, &p, (fault_want){VTPU_ERR_OOB, VTPU_SPACE_NONE, 0, 2});
    /* a last-slot branch taken backwards works */
    prog_init(&p);
    prog_emit(&p, rv_addi(17, 0, 93));
    prog_emit(&p, enc_j(0, 12));
    prog_emit(&p, rv_addi(10, 0, 42));
    prog_emit(&p, rv_ecall());
    prog_emit(&p, enc_b(0, 0, 0, -8)); /* beq x0, x0, -8 */
    vtpu_run_result res;
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(res.exit_code, 42);
    vtpu_chip_free(chip);
}

static void test_fault_illegal(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    test_prog p;
    const uint32_t words[] = {
        0xffffffff,
        0x00000000,                              /* all ones / all zeros */
        0x00000001,                              /* compressed c.nop */
        0x0000002f,                              /* AMO: no A extension */
        0x02000053,                              /* fadd.d: no D */
        0x00003007,                              /* fld */
        0x30200073,                              /* mret: no privileged mode */
        0x10500073,                              /* wfi */
        0x00004073,                              /* SYSTEM funct3 4 */
        0x02001013,                              /* slli with shamt[5] set */
        0x40001013,                              /* slli with funct7 0x20 */
        0x4000d013 | (1 << 25),                  /* srai, bad funct7 */
        0x00002063,                              /* branch funct3 2 */
        0x00001067,                              /* jalr funct3 1 */
        0x00003003,                              /* ld */
        0x00003023,                              /* sd */
        0x00002073 | (0x7c0u << 20),             /* csrr of an unknown CSR */
        0x00001073 | (0xc00u << 20) | (5 << 15), /* csrw cycle */
        0x00006073 | ((uint32_t)VTPU_CSR_TCID << 20) | (1 << 15), /* csrsi */
        0x0000200f,             /* misc-mem funct3 2 */
        0x40000033 | (1 << 12), /* sll with funct7 0x20 */
        0x00000053 | (5 << 12), /* fadd.s rm 5 */
        0xe0001053 | (1 << 20), /* fclass with rs2 1 */
    };
    for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        prog_init(&p);
        prog_emit(&p, rv_addi(5, 0, 1));
        prog_emit(&p, words[i]);
        prog_end(&p);
        vtpu_run_result res;
        assert_int_equal(test_run(chip, &p, &res), -1);
        if (res.error.kind != VTPU_ERR_ILLEGAL_INSN ||
            res.error.pc != VTPU_IMEM_BASE + 4)
            fail_msg("word %08x: kind %d pc %08x", words[i], res.error.kind,
                     res.error.pc);
    }
    /* custom opcodes: illegal exactly when the Xtpu decoder says so */
    const uint32_t custom[] = {0x0000000b, 0x0000002b, 0x0000005b,
                               0x0000007b, 0xfe00700b, 0xfe00707b};
    for (unsigned i = 0; i < sizeof(custom) / sizeof(custom[0]); i++) {
        if (vtpu_xtpu_valid(custom[i]))
            continue;
        prog_init(&p);
        prog_emit(&p, custom[i]);
        prog_end(&p);
        expect_fault(
            chip, &p,
            (fault_want){VTPU_ERR_ILLEGAL_INSN, VTPU_SPACE_NONE, 0, 0});
    }
    /* an illegal word that is never executed is harmless */
    prog_init(&p);
    prog_emit(&p, enc_j(0, 8));
    prog_emit(&p, 0xffffffff);
    prog_end(&p);
    vtpu_run_result res;
    assert_int_equal(test_run(chip, &p, &res), 0);
    vtpu_chip_free(chip);
}

static void test_fault_ebreak_ecall(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    vtpu_run_result res;
    test_prog p;

    prog_init(&p);
    prog_emit(&p, rv_addi(5, 0, 1));
    prog_emit(&p, rv_ebreak());
    prog_end(&p);
    expect_fault(chip, &p,
                 (fault_want){VTPU_ERR_EBREAK, VTPU_SPACE_NONE, 1, 0});

    prog_init(&p);
    prog_emit(&p, rv_addi(17, 0, 1234));
    prog_emit(&p, rv_ecall());
    prog_end(&p);
    expect_fault(chip, &p, (fault_want){VTPU_ERR_ECALL, VTPU_SPACE_NONE, 1, 0});
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_non_null(strstr(res.error.detail, "1234"));

    /* exit(42) and exit_group */
    for (int nr = 93; nr <= 94; nr++) {
        prog_init(&p);
        prog_emit(&p, rv_addi(10, 0, 42));
        prog_emit(&p, rv_addi(17, 0, nr));
        prog_emit(&p, rv_ecall());
        prog_emit(&p, 0xffffffff);
        assert_int_equal(test_run(chip, &p, &res), 0);
        assert_int_equal(res.exit_code, 42);
        assert_int_equal(res.instret[0], 3);
    }
    vtpu_chip_free(chip);
}

typedef struct {
    char buf[256];
    size_t len;
    int fd;
    unsigned calls;
} out_capture;

static void capture(void *opaque, unsigned tc, int fd, const char *buf,
                    size_t len)
{
    out_capture *c = opaque;
    (void)tc;
    c->fd = fd;
    c->calls++;
    if (c->len + len <= sizeof(c->buf)) {
        memcpy(c->buf + c->len, buf, len);
        c->len += len;
    }
}

static void test_write_ecall(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 1);
    const uint32_t smem_size = vtpu_chip_config(chip)->smem_size;
    out_capture cap = {0};
    vtpu_run_result res;
    test_prog p;

    vtpu_chip_set_output(chip, capture, &cap);
    struct {
        uint32_t fd, buf, len, ret;
        bool out;
    } t[] = {
        {1, VTPU_SMEM_BASE, 5, 5, true},
        {2, VTPU_SMEM_BASE + 1, 3, 3, true},
        {0, VTPU_SMEM_BASE, 5, (uint32_t)-9, false},
        {3, VTPU_SMEM_BASE, 5, (uint32_t)-9, false},
        {1, VTPU_SMEM_BASE + smem_size - 2, 4, (uint32_t)-14, false},
        {1, VTPU_IMEM_BASE, 4, (uint32_t)-14, false},
        {1, VTPU_VMEM_BASE, 4, (uint32_t)-14, false},
        {1, VTPU_SMEM_BASE + smem_size - 2, 2, 2, true},
        {1, 0, 0, 0, false},
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        prog_start(&p);
        memcpy(p.data, "hello", 5);
        p.data_len = 5;
        prog_li(&p, 10, t[i].fd);
        prog_li(&p, 11, t[i].buf);
        prog_li(&p, 12, t[i].len);
        prog_emit(&p, rv_addi(17, 0, 64));
        prog_emit(&p, rv_ecall());
        prog_emit(&p, rv_addi(7, 10, 0));
        prog_store_result(&p);
        prog_end(&p);
        memset(&cap, 0, sizeof(cap));
        assert_int_equal(test_run(chip, &p, &res), 0);
        assert_int_equal(smem_word(chip, RES_BASE), t[i].ret);
        assert_int_equal(cap.calls, t[i].out ? 1 : 0);
        if (t[i].out) {
            assert_int_equal(cap.fd, t[i].fd);
            assert_int_equal(cap.len, t[i].len);
        }
        if (i < 2)
            assert_memory_equal(cap.buf, &"hello"[t[i].buf & 1], t[i].len);
    }
    vtpu_chip_free(chip);
}

static void test_watchdog(void **state)
{
    (void)state;
    vtpu_config cfg;
    char err[128];
    assert_int_equal(vtpu_config_preset(&cfg, NULL, err, sizeof(err)), 0);
    cfg.num_tcs = 1;
    cfg.insn_budget = 100000;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    assert_non_null(chip);
    test_prog p;
    vtpu_run_result res;

    /* an endless loop is stopped at its backward branch */
    prog_init(&p);
    prog_emit(&p, rv_addi(5, 0, 0));
    prog_emit(&p, rv_addi(5, 5, 1));
    prog_emit(&p, rv_addi(6, 6, 1));
    prog_emit(&p, enc_j(0, -8));
    prog_end(&p);
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_WATCHDOG);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 12);
    assert_true(res.instret[0] >= 100000 && res.instret[0] < 100003);
    /* a program under the budget is unaffected */
    prog_init(&p);
    prog_li(&p, 5, 1000);
    prog_emit(&p, rv_addi(5, 5, -1));
    prog_emit(&p, enc_b(1, 5, 0, -4));
    prog_end(&p);
    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(res.instret[0], 2 + 2000 + 3);
    vtpu_chip_free(chip);
}

/* A fault on one TC stops the others' endless loops (chip->stop). */
static void test_stop_other_tcs(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip(NULL, 2);
    vtpu_run_result res;
    test_prog p;

    prog_init(&p);
    prog_emit(&p, enc_b(1, 10, 0, 8)); /* bnez a0 (TC id): TC 1 loops */
    prog_emit(&p, rv_ebreak());        /* TC 0 faults */
    prog_emit(&p, rv_addi(5, 5, 1));
    prog_emit(&p, enc_j(0, -4));
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_EBREAK);
    assert_int_equal(res.error.tc, 0);
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_random),
        cmocka_unit_test(test_division_corners),
        cmocka_unit_test(test_upper_jumps_x0),
        cmocka_unit_test(test_loads_stores),
        cmocka_unit_test(test_csrs),
        cmocka_unit_test(test_fault_memory),
        cmocka_unit_test(test_fault_control),
        cmocka_unit_test(test_fault_illegal),
        cmocka_unit_test(test_fault_ebreak_ecall),
        cmocka_unit_test(test_write_ecall),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_stop_other_tcs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
