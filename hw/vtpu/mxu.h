/*
 * mxu.h - the matrix units of a TensorCore (docs/isa.md, "custom-2: MXU").
 *
 * Each TC has cfg.mxu_count MXUs of cfg.mxu_dim x cfg.mxu_dim.  An MXU
 * holds a staged right-hand side (RHS, K x N, pushed a vreg at a time into
 * 128-column blocks) and XTPU_MXU_ACCS accumulators of 8 x 128 x 32 bit.
 * MATMUL multiplies LHS vregs by the staged RHS and adds the product into
 * accumulators; POP moves an accumulator into a vreg and empties it.
 *
 * The functions execute one decoded instruction; every misuse is reported
 * with vtpu_tc_fault(VTPU_ERR_MXU) and a detail that says what was wrong,
 * and they return 0 or -1 like vtpu_xtpu_exec().
 */
#ifndef VTPU_MXU_H
#define VTPU_MXU_H

#include "internal.h"
#include "vpu.h"

/* The rows (of the logical matrix) one vreg holds for operand type dt. */
static inline unsigned vtpu_mxu_rows(unsigned dt)
{
    return 8u << dt; /* f32 8, bf16 16, i8 32 */
}

int vtpu_mxu_push(vtpu_tc *tc, unsigned mxu, unsigned dt, unsigned cb,
                  unsigned va);
/* dt: XTPU_DT_* or, for f32 operands, XTPU_PREC_HIGH / XTPU_PREC_DEFAULT
 * (XTPU_PREC_HIGHEST is XTPU_DT_F32). */
int vtpu_mxu_matmul(vtpu_tc *tc, unsigned mxu, unsigned dt, unsigned acc,
                    unsigned va);
int vtpu_mxu_pop(vtpu_tc *tc, unsigned mxu, unsigned acc, unsigned vd);
int vtpu_mxu_clear(vtpu_tc *tc, unsigned mxu, unsigned what);

/*
 * The product kernel, exposed for tests and benchmarks: C[r][n] =
 * sum over k = 0..K-1, in increasing k, of A[r][k] * B[k][n], each product
 * and each partial sum rounded to f32, starting from +0.  A is R x K with
 * row stride lda, B is K x N with row stride ldb, C is R x N with row stride
 * ldc.  R must be a multiple of 4 and N of 16.
 */
void vtpu_mxu_gemm(const float *A, unsigned lda, const float *B,
                   unsigned ldb, float *C, unsigned ldc, unsigned R,
                   unsigned K, unsigned N);

#endif /* VTPU_MXU_H */
