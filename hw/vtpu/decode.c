/*
 * decode.c - RV32IMF + Zicsr (+ Xtpu) words -> vtpu_insn, once per
 * loaded program (docs/scalar-core.md).
 *
 * Everything the interpreter would otherwise recompute per execution is
 * done here: immediates are extracted and sign-extended, auipc folds its
 * pc in, branch and jal targets become instruction-index offsets (a target
 * that is misaligned or outside the program selects a slower handler that
 * faults when taken), writes to x0 go to the sink x[32], and every
 * undefined encoding becomes ILLEGAL (a fault only if executed).
 */
#include "fpu.h"

enum {
    OPC_LOAD = 0x03,
    OPC_LOAD_FP = 0x07,
    OPC_CUSTOM0 = 0x0b,
    OPC_MISC_MEM = 0x0f,
    OPC_OP_IMM = 0x13,
    OPC_AUIPC = 0x17,
    OPC_STORE = 0x23,
    OPC_STORE_FP = 0x27,
    OPC_CUSTOM1 = 0x2b,
    OPC_OP = 0x33,
    OPC_LUI = 0x37,
    OPC_MADD = 0x43,
    OPC_MSUB = 0x47,
    OPC_NMSUB = 0x4b,
    OPC_NMADD = 0x4f,
    OPC_OP_FP = 0x53,
    OPC_CUSTOM2 = 0x5b,
    OPC_BRANCH = 0x63,
    OPC_JALR = 0x67,
    OPC_JAL = 0x6f,
    OPC_SYSTEM = 0x73,
    OPC_CUSTOM3 = 0x7b,
};

/* Sign-extend the low `bits` bits of v (no signed shifts: UBSan-clean). */
static int32_t sext(uint32_t v, unsigned bits)
{
    uint32_t m = 1u << (bits - 1);
    v &= (m << 1) - 1;
    return (int32_t)((v ^ m) - m);
}

static int32_t imm_i(uint32_t w)
{
    return sext(w >> 20, 12);
}

static int32_t imm_s(uint32_t w)
{
    return sext(((w >> 25) << 5) | ((w >> 7) & 0x1f), 12);
}

static int32_t imm_b(uint32_t w)
{
    return sext(((w >> 31) << 12) | (((w >> 7) & 1) << 11) |
                    (((w >> 25) & 0x3f) << 5) | (((w >> 8) & 0xf) << 1),
                13);
}

static int32_t imm_j(uint32_t w)
{
    return sext(((w >> 31) << 20) | (w & 0xff000) | (((w >> 20) & 1) << 11) |
                    (((w >> 21) & 0x3ff) << 1),
                21);
}

/* Integer destination: x0 writes land in the sink x[32]. */
static uint8_t xrd(unsigned rd)
{
    return rd ? (uint8_t)rd : 32;
}

/* A static rm of 5 or 6 is reserved; 7 (dynamic) is checked at run time. */
static bool rm_ok(unsigned rm)
{
    return rm != 5 && rm != 6;
}

/* Is the target `off` bytes away from instruction idx a valid one? */
static bool target_ok(uint32_t idx, uint32_t n, int32_t off)
{
    if (off & 3)
        return false;
    int64_t t = (int64_t)idx + off / 4;
    return t >= 0 && t < (int64_t)n;
}

/* The operation for word w at idx; fills the operand fields of *d. */
static int decode_op(uint32_t w, uint32_t idx, uint32_t n, vtpu_insn *d)
{
    unsigned opc = w & 0x7f, rd = (w >> 7) & 31, f3 = (w >> 12) & 7;
    unsigned rs1 = (w >> 15) & 31, rs2 = (w >> 20) & 31, f7 = w >> 25;
    uint32_t pc = VTPU_IMEM_BASE + 4 * idx;

    d->rd = (uint8_t)rd;
    d->rs1 = (uint8_t)rs1;
    d->rs2 = (uint8_t)rs2;
    d->rs3 = (uint8_t)(w >> 27);
    d->imm = 0;

    switch (opc) {
    case OPC_LUI:
        d->rd = xrd(rd);
        d->imm = (int32_t)(w & 0xfffff000u);
        return VTPU_OP_LI;
    case OPC_AUIPC:
        d->rd = xrd(rd);
        d->imm = (int32_t)(pc + (w & 0xfffff000u));
        return VTPU_OP_LI;
    case OPC_JAL: {
        int32_t off = imm_j(w);
        d->rd = xrd(rd);
        if (!target_ok(idx, n, off)) {
            d->imm = off;
            return VTPU_OP_JAL_BAD;
        }
        d->imm = off / 4;
        return VTPU_OP_JAL;
    }
    case OPC_JALR:
        if (f3)
            break;
        d->rd = xrd(rd);
        d->imm = imm_i(w);
        return VTPU_OP_JALR;
    case OPC_BRANCH: {
        static const int ops[8] = {VTPU_OP_BEQ,  VTPU_OP_BNE, -1,
                                   -1,           VTPU_OP_BLT, VTPU_OP_BGE,
                                   VTPU_OP_BLTU, VTPU_OP_BGEU};
        int32_t off = imm_b(w);
        if (ops[f3] < 0)
            break;
        /* The not-taken path needs a next instruction too. */
        if (!target_ok(idx, n, off) || idx + 1 >= n) {
            d->rs3 = (uint8_t)f3;
            d->imm = off;
            return VTPU_OP_BR_SLOW;
        }
        d->imm = off / 4;
        return ops[f3];
    }
    case OPC_LOAD: {
        static const int ops[8] = {VTPU_OP_LB,  VTPU_OP_LH,  VTPU_OP_LW, -1,
                                   VTPU_OP_LBU, VTPU_OP_LHU, -1,         -1};
        if (ops[f3] < 0)
            break;
        d->rd = xrd(rd);
        d->imm = imm_i(w);
        return ops[f3];
    }
    case OPC_STORE: {
        static const int ops[8] = {VTPU_OP_SB, VTPU_OP_SH, VTPU_OP_SW, -1,
                                   -1,         -1,         -1,         -1};
        if (ops[f3] < 0)
            break;
        d->imm = imm_s(w);
        return ops[f3];
    }
    case OPC_OP_IMM: {
        static const int ops[8] = {VTPU_OP_ADDI,  VTPU_OP_SLLI, VTPU_OP_SLTI,
                                   VTPU_OP_SLTIU, VTPU_OP_XORI, VTPU_OP_SRLI,
                                   VTPU_OP_ORI,   VTPU_OP_ANDI};
        int op = ops[f3];
        d->rd = xrd(rd);
        d->imm = imm_i(w);
        if (f3 == 1 || f3 == 5) {
            /* RV32: shamt[5] set is reserved, so the whole f7 decides. */
            d->imm = (int32_t)rs2;
            if (f3 == 1 && f7 != 0)
                break;
            if (f3 == 5) {
                if (f7 == 0x20)
                    op = VTPU_OP_SRAI;
                else if (f7 != 0)
                    break;
            }
        }
        return op;
    }
    case OPC_OP: {
        static const int base[8] = {VTPU_OP_ADD,  VTPU_OP_SLL, VTPU_OP_SLT,
                                    VTPU_OP_SLTU, VTPU_OP_XOR, VTPU_OP_SRL,
                                    VTPU_OP_OR,   VTPU_OP_AND};
        static const int mext[8] = {VTPU_OP_MUL,   VTPU_OP_MULH, VTPU_OP_MULHSU,
                                    VTPU_OP_MULHU, VTPU_OP_DIV,  VTPU_OP_DIVU,
                                    VTPU_OP_REM,   VTPU_OP_REMU};
        d->rd = xrd(rd);
        if (f7 == 0)
            return base[f3];
        if (f7 == 1)
            return mext[f3];
        if (f7 == 0x20 && f3 == 0)
            return VTPU_OP_SUB;
        if (f7 == 0x20 && f3 == 5)
            return VTPU_OP_SRA;
        break;
    }
    case OPC_MISC_MEM:
        if (f3 == 0 || f3 == 1) /* fence, fence.i: one hart, no caches */
            return VTPU_OP_NOP;
        break;
    case OPC_SYSTEM:
        if (f3 == 0) {
            if (w == 0x00000073)
                return VTPU_OP_ECALL;
            if (w == 0x00100073)
                return VTPU_OP_EBREAK;
            break; /* xRET, wfi, sfence.vma...: not in user mode */
        }
        if (f3 == 4)
            break;
        d->rd = xrd(rd);
        d->rs3 = (uint8_t)f3;
        d->imm = (int32_t)(w >> 20);
        return VTPU_OP_CSR;
    case OPC_LOAD_FP:
        if (f3 != 2)
            break;
        d->imm = imm_i(w);
        return VTPU_OP_FLW;
    case OPC_STORE_FP:
        if (f3 != 2)
            break;
        d->imm = imm_s(w);
        return VTPU_OP_FSW;
    case OPC_MADD:
    case OPC_MSUB:
    case OPC_NMSUB:
    case OPC_NMADD:
        if ((f7 & 3) != 0 || !rm_ok(f3)) /* fmt must be S */
            break;
        d->imm = (int32_t)f3;
        return opc == OPC_MADD    ? VTPU_OP_FMADD
               : opc == OPC_MSUB  ? VTPU_OP_FMSUB
               : opc == OPC_NMSUB ? VTPU_OP_FNMSUB
                                  : VTPU_OP_FNMADD;
    case OPC_OP_FP:
        d->imm = (int32_t)f3;
        switch (f7) {
        case 0x00:
        case 0x04:
        case 0x08:
        case 0x0c:
            if (!rm_ok(f3))
                break;
            return f7 == 0x00   ? VTPU_OP_FADD
                   : f7 == 0x04 ? VTPU_OP_FSUB
                   : f7 == 0x08 ? VTPU_OP_FMUL
                                : VTPU_OP_FDIV;
        case 0x2c:
            if (rs2 != 0 || !rm_ok(f3))
                break;
            return VTPU_OP_FSQRT;
        case 0x10:
            if (f3 > 2)
                break;
            return VTPU_OP_FSGNJ + (int)f3;
        case 0x14:
            if (f3 > 1)
                break;
            return f3 ? VTPU_OP_FMAX : VTPU_OP_FMIN;
        case 0x50:
            if (f3 > 2)
                break;
            d->rd = xrd(rd);
            return f3 == 2 ? VTPU_OP_FEQ : f3 == 1 ? VTPU_OP_FLT : VTPU_OP_FLE;
        case 0x60:
            if (rs2 > 1 || !rm_ok(f3))
                break;
            d->rd = xrd(rd);
            return rs2 ? VTPU_OP_FCVT_WU_S : VTPU_OP_FCVT_W_S;
        case 0x68:
            if (rs2 > 1 || !rm_ok(f3))
                break;
            return rs2 ? VTPU_OP_FCVT_S_WU : VTPU_OP_FCVT_S_W;
        case 0x70:
            if (rs2 != 0 || f3 > 1)
                break;
            d->rd = xrd(rd);
            return f3 ? VTPU_OP_FCLASS : VTPU_OP_FMV_X_W;
        case 0x78:
            if (rs2 != 0 || f3 != 0)
                break;
            return VTPU_OP_FMV_W_X;
        }
        break;
    case OPC_CUSTOM0:
    case OPC_CUSTOM1:
    case OPC_CUSTOM2:
    case OPC_CUSTOM3:
        if (!vtpu_xtpu_valid(w))
            break;
        /* Xtpu handles its own rd (no x0 redirect) and reads the word. */
        d->rs3 = 0;
        d->imm = (int32_t)w;
        return VTPU_OP_XTPU;
    }
    /* Compressed (low bits != 11), 48/64-bit, A/D/V... all land here. */
    d->rd = d->rs1 = d->rs2 = d->rs3 = 0;
    d->imm = (int32_t)w;
    return VTPU_OP_ILLEGAL;
}

void vtpu_decode_one(uint32_t raw, uint32_t idx, uint32_t n, vtpu_insn *out)
{
    int op = decode_op(raw, idx, n, out);
    out->h = vtpu_interp_handlers()[op];
}

void vtpu_decode_program(const uint32_t *words, uint32_t n, vtpu_insn *out)
{
    const void *const *h = vtpu_interp_handlers();

    for (uint32_t i = 0; i < n; i++) {
        int op = decode_op(words[i], i, n, &out[i]);
        /*
         * The array has no slot after the last word, so if the last word
         * can fall through it runs out of line (TAIL) and the fetch past
         * it faults.  Jumps never fall through; branches already took
         * BR_SLOW above.
         */
        if (i == n - 1 && op != VTPU_OP_JAL && op != VTPU_OP_JAL_BAD &&
            op != VTPU_OP_JALR && op != VTPU_OP_BR_SLOW) {
            out[i] = (vtpu_insn){.imm = (int32_t)words[i]};
            op = VTPU_OP_TAIL;
        }
        out[i].h = h[op];
    }
}
