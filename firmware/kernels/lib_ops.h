/*
 * lib_ops.h - operation codes of the table-driven library kernels (the
 * value of scalar-prefetch 0), shared by the kernels and host code
 * (tests, benchmarks).  Freestanding: enums only, plus the helpers the
 * library's kernel files share.
 */
#ifndef VTPU_LIB_OPS_H
#define VTPU_LIB_OPS_H

#include <stdint.h>

/* ew_unary_f32; also the activation of matmul_*_bias (EW_U_NONE = none) */
enum {
    EW_U_NONE,
    EW_U_ABS,
    EW_U_NEG,
    EW_U_EXP,
    EW_U_LOG,
    EW_U_TANH,
    EW_U_SIGMOID,
    EW_U_RELU,
    EW_U_GELU,
    EW_U_SIN,
    EW_U_COS,
    EW_U_RSQRT,
    EW_U_SQRT,
    EW_U_RECIP,
    EW_U_FLOOR,
    EW_U_CEIL,
    EW_U_ROUND,
    EW_U_SQUARE,
    EW_U_COUNT
};

/* ew_binary_f32 */
enum {
    EW_B_ADD,
    EW_B_SUB,
    EW_B_MUL,
    EW_B_DIV,
    EW_B_MAX,
    EW_B_MIN,
    EW_B_POW,
    EW_B_COUNT
};

/* ew_unary_i32 */
enum { EW_UI_ABS, EW_UI_NEG, EW_UI_NOT, EW_UI_COUNT };

/* ew_binary_i32 */
enum {
    EW_BI_ADD,
    EW_BI_SUB,
    EW_BI_MUL,
    EW_BI_MAX,
    EW_BI_MIN,
    EW_BI_AND,
    EW_BI_OR,
    EW_BI_XOR,
    EW_BI_COUNT
};

/* matmul_f32_bias scalar 1: the MXU precision of the f32 matmul, as
 * lax.Precision (docs/isa.md, "f32 precision"); HIGHEST when absent */
enum { MM_PREC_HIGHEST, MM_PREC_HIGH, MM_PREC_DEFAULT, MM_PREC_COUNT };

/* reduce_last_f32 / reduce_first_f32 */
enum { RED_SUM, RED_MAX, RED_MIN, RED_COUNT };

#ifdef __riscv
/* lib_elementwise.c: constants in v20..v24, then v2 = op(v1) (uses v3). */
void lib_act_consts(void);
void lib_unary_f32(uint32_t op);
#endif

#endif /* VTPU_LIB_OPS_H */
