/*
 * fpu.h - the scalar core's private interface, shared by decode.c,
 * interp.c and fpu.c (and the scalar/FPU unit tests): the list of
 * pre-decoded operations and the RV32F arithmetic.
 *
 * RV32F arithmetic contract (docs/scalar-core.md):
 *  - values are raw IEEE binary32 bits; every NaN result is the canonical
 *    NaN 0x7fc00000; `rm` is an already validated static rounding mode
 *    (VTPU_RM_RNE..VTPU_RM_RMM, never DYN);
 *  - exception flags go to two places: operations done in software OR them
 *    into *fflags directly, operations done by the host FPU leave them in
 *    the host's sticky flags, which vtpu_fpu_fold() moves into *fflags.
 *    Callers therefore bracket FP work with vtpu_fpu_enter()/_leave() and
 *    fold before anyone else may touch the host flags.
 */
#ifndef VTPU_FPU_H
#define VTPU_FPU_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Pre-decoded operations                                               */
/* ------------------------------------------------------------------ */

/*
 * Every operation the interpreter has a handler for.  decode.c picks one
 * per word; interp.c defines a label `op_NAME` per entry and hands the
 * label addresses out through vtpu_interp_handlers().  Operand use:
 *   rd/rs1/rs2/rs3 register numbers (rd of integer results: 0 -> 32),
 *   imm as noted.
 */
/* clang-format off */
#define VTPU_SCALAR_OPS(X)                                                    \
    X(ILLEGAL)  /* imm = raw word */                                          \
    X(TAIL)     /* last word of a program that may fall through; imm = raw */ \
    X(FALLOFF)  /* fetch past the end of the program */                      \
    X(LI)       /* lui, auipc (pc folded in): rd = imm */                     \
    X(JAL)      /* imm = target - pc, in instructions */                      \
    X(JAL_BAD)  /* jal to a misaligned / out-of-program target; imm bytes */  \
    X(JALR)                                                                   \
    X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU) /* imm in instructions */     \
    X(BR_SLOW)  /* any branch whose target or fall-through is bad:         \
                   rs3 = funct3, imm = offset in bytes */                     \
    X(LB) X(LH) X(LW) X(LBU) X(LHU) X(SB) X(SH) X(SW)                         \
    X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI)                           \
    X(SLLI) X(SRLI) X(SRAI)                                                   \
    X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND)     \
    X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU)           \
    X(NOP)      /* fence, fence.i */                                          \
    X(ECALL) X(EBREAK)                                                        \
    X(CSR)      /* rs3 = funct3, imm = csr number, rs1 = reg or uimm */       \
    X(FLW) X(FSW)                                                             \
    /* FP with a rounding mode: imm = rm field (7 = dynamic) */               \
    X(FADD) X(FSUB) X(FMUL) X(FDIV) X(FSQRT)                                  \
    X(FMADD) X(FMSUB) X(FNMSUB) X(FNMADD)                                     \
    X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_S_W) X(FCVT_S_WU)                         \
    X(FSGNJ) X(FSGNJN) X(FSGNJX) X(FMIN) X(FMAX)                              \
    X(FEQ) X(FLT) X(FLE) X(FCLASS) X(FMV_X_W) X(FMV_W_X)                      \
    X(XTPU)     /* imm = raw word, register fields as encoded */           \
    X(DEBUG)    /* debugger trap (gdbstub.c patches it into a TC's copy) */ \
    X(MEMCHK)   /* checked load/store (check.c's copy): rs3 = the real op */

enum vtpu_scalar_op {
#define VTPU_OP_ENUM(name) VTPU_OP_##name,
    VTPU_SCALAR_OPS(VTPU_OP_ENUM)
#undef VTPU_OP_ENUM
    VTPU_OP__COUNT
};
/* clang-format on */

/* interp.c: label address of each operation's handler, VTPU_OP__COUNT. */
const void *const *vtpu_interp_handlers(void);

/*
 * decode.c: decode one word found at instruction index `idx` of an
 * `n`-word program.  Unlike vtpu_decode_program() it never produces TAIL;
 * the interpreter uses it to run the last word out of line.
 */
void vtpu_decode_one(uint32_t raw, uint32_t idx, uint32_t n, vtpu_insn *out);

/* ------------------------------------------------------------------ */
/* RV32F                                                                */
/* ------------------------------------------------------------------ */

enum {
    VTPU_RM_RNE = 0,
    VTPU_RM_RTZ = 1,
    VTPU_RM_RDN = 2,
    VTPU_RM_RUP = 3,
    VTPU_RM_RMM = 4,
    VTPU_RM_DYN = 7,
};

/* fflags bits */
enum {
    VTPU_FF_NX = 1,
    VTPU_FF_UF = 2,
    VTPU_FF_OF = 4,
    VTPU_FF_DZ = 8,
    VTPU_FF_NV = 16,
};

#define VTPU_F32_CANON_NAN 0x7fc00000u

/*
 * Host FP state.  enter() saves the caller's control word and installs
 * ours (round to nearest, exceptions masked, no flush-to-zero, flags
 * clear); leave() folds pending flags and restores the caller's word.
 * fold() moves pending host flags into *fflags and clears them.
 */
uint32_t vtpu_fpu_enter(void);
void vtpu_fpu_leave(uint32_t saved, uint32_t *fflags);
void vtpu_fpu_fold(uint32_t *fflags);

uint32_t vtpu_f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_sqrt(uint32_t a, unsigned rm, uint32_t *fflags);
/* a*b+c, with the product and/or the addend negated first. */
uint32_t vtpu_f32_fma(uint32_t a, uint32_t b, uint32_t c, bool neg_prod,
                      bool neg_add, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_from_i32(int32_t v, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_from_u32(uint32_t v, unsigned rm, uint32_t *fflags);
/* These are always exact software: flags go straight to *fflags. */
uint32_t vtpu_f32_to_i32(uint32_t a, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_to_u32(uint32_t a, unsigned rm, uint32_t *fflags);
uint32_t vtpu_f32_min(uint32_t a, uint32_t b, uint32_t *fflags);
uint32_t vtpu_f32_max(uint32_t a, uint32_t b, uint32_t *fflags);
uint32_t vtpu_f32_eq(uint32_t a, uint32_t b, uint32_t *fflags);
uint32_t vtpu_f32_lt(uint32_t a, uint32_t b, uint32_t *fflags);
uint32_t vtpu_f32_le(uint32_t a, uint32_t b, uint32_t *fflags);
uint32_t vtpu_f32_class(uint32_t a);

/*
 * The pure software implementation behind RMM (the host has no such
 * rounding) and behind everything on hosts without SSE.  Exposed so the
 * tests can check it against the host FPU in the other four modes.
 */
uint32_t vtpu_sf_add(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_sf_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_sf_div(uint32_t a, uint32_t b, unsigned rm, uint32_t *fflags);
uint32_t vtpu_sf_sqrt(uint32_t a, unsigned rm, uint32_t *fflags);
uint32_t vtpu_sf_fma(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
                     uint32_t *fflags);
uint32_t vtpu_sf_from_u32(uint32_t v, bool negative, unsigned rm,
                          uint32_t *fflags);

static inline uint32_t vtpu_f32_canon(uint32_t r)
{
    return (r & 0x7fffffffu) > 0x7f800000u ? VTPU_F32_CANON_NAN : r;
}

/*
 * Round-to-nearest fast paths for the interpreter.  On x86 they are one
 * SSE instruction whose flags stay in MXCSR (see fold above); the asm is
 * volatile so that the compiler keeps it ordered with the MXCSR accesses.
 */
#if defined(__x86_64__) && !defined(VTPU_FPU_SOFT)
#define VTPU_FPU_HOST_SSE 1

static inline float vtpu_f32_host(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline uint32_t vtpu_f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

#define VTPU_SSE_BINOP(name, insn)                                             \
    static inline uint32_t name(uint32_t a, uint32_t b, uint32_t *fflags)      \
    {                                                                          \
        float x = vtpu_f32_host(a), y = vtpu_f32_host(b);                      \
        (void)fflags;                                                          \
        __asm__ volatile(insn " %1, %0" : "+x"(x) : "x"(y));                   \
        return vtpu_f32_canon(vtpu_f32_bits(x));                               \
    }
VTPU_SSE_BINOP(vtpu_f32_add_rne, "addss")
VTPU_SSE_BINOP(vtpu_f32_sub_rne, "subss")
VTPU_SSE_BINOP(vtpu_f32_mul_rne, "mulss")
VTPU_SSE_BINOP(vtpu_f32_div_rne, "divss")
#undef VTPU_SSE_BINOP

#else

static inline uint32_t vtpu_f32_add_rne(uint32_t a, uint32_t b,
                                        uint32_t *fflags)
{
    return vtpu_sf_add(a, b, VTPU_RM_RNE, fflags);
}

static inline uint32_t vtpu_f32_sub_rne(uint32_t a, uint32_t b,
                                        uint32_t *fflags)
{
    return vtpu_sf_add(a, b ^ 0x80000000u, VTPU_RM_RNE, fflags);
}

static inline uint32_t vtpu_f32_mul_rne(uint32_t a, uint32_t b,
                                        uint32_t *fflags)
{
    return vtpu_sf_mul(a, b, VTPU_RM_RNE, fflags);
}

static inline uint32_t vtpu_f32_div_rne(uint32_t a, uint32_t b,
                                        uint32_t *fflags)
{
    return vtpu_sf_div(a, b, VTPU_RM_RNE, fflags);
}
#endif

#endif /* VTPU_FPU_H */
