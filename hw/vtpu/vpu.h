/*
 * vpu.h - the vector unit of a TensorCore: register file and element
 * kernels (docs/isa.md, "custom-0" and "custom-1").
 *
 * A vreg is 8 sublanes x 128 lanes of 32-bit words, element i = sublane *
 * 128 + lane.  A mask register holds one word per element, 0 (false) or
 * 0xFFFFFFFF (true), so that selects and masked stores are plain bitwise
 * operations that the host compiler vectorizes.
 *
 * Everything here works on already-decoded, already-validated operands:
 * xtpu.c decodes the instruction word, checks register numbers and memory
 * bounds and reports faults; these functions cannot fail.  Unless a
 * comment says otherwise, a destination register may be the same as any
 * source register.
 */
#ifndef VTPU_VPU_H
#define VTPU_VPU_H

#include <stdint.h>

#include "internal.h"
#include "prng.h"
#include "xtpu-encoding.h"

#define VTPU_N VTPU_VREG_ELEMS

typedef union vtpu_vreg {
    float f[VTPU_N];
    uint32_t u[VTPU_N];
    int32_t i[VTPU_N];
} vtpu_vreg;

struct vtpu_vpu {
    vtpu_vreg v[VTPU_NUM_VREGS];
    uint32_t m[VTPU_NUM_MASKS][VTPU_N]; /* 0 or ~0 per element */
    vtpu_prng prng; /* PRNG.SEED / VRAND (prng.h); zero = seed (0, 0) */
    /* Scratch for operations whose result must not overwrite an input
     * before it has been read (cross-lane ops, 128x128 transposes). */
    vtpu_vreg tmp[16];
};

/* ---- custom-0: element-wise ALU ---- */

/* True if (funct7, funct3, rd, rs2) names a defined custom-0 operation. */
bool vtpu_vpu_alu_valid(uint32_t raw);
/* Execute a custom-0 instruction that vtpu_vpu_alu_valid() accepted. */
void vtpu_vpu_alu(vtpu_vpu *p, uint32_t raw);
/* custom-2 R4 multiply-add, funct2 = XTPU_MULADD_F32 ... */
void vtpu_vpu_muladd(vtpu_vpu *p, unsigned f2, unsigned d, unsigned a,
                     unsigned b, unsigned c);

/* ---- custom-1: cross-lane and mask operations ---- */
void vtpu_vpu_iota(vtpu_vpu *p, unsigned d, unsigned kind, uint32_t base);
void vtpu_vpu_bcast(vtpu_vpu *p, unsigned d, uint32_t value);
void vtpu_vpu_rot_lanes(vtpu_vpu *p, unsigned d, unsigned a, uint32_t k);
void vtpu_vpu_rot_sublanes(vtpu_vpu *p, unsigned d, unsigned a, uint32_t k);
/* op = XTPU_RED_*; lanes: reduce along lanes (else along sublanes) */
void vtpu_vpu_reduce(vtpu_vpu *p, unsigned d, unsigned a, unsigned op,
                     bool lanes);
/* XTPU_XPOSE_128: d..d+15 = transpose(a..a+15), both <= 16; _8: tiles. */
void vtpu_vpu_transpose(vtpu_vpu *p, unsigned d, unsigned a, unsigned kind);
void vtpu_vpu_mask_logic(vtpu_vpu *p, unsigned op, unsigned md,
                         unsigned ma, unsigned mb);
void vtpu_vpu_mask_from_vreg(vtpu_vpu *p, unsigned md, unsigned a);
void vtpu_vpu_mask_to_vreg(vtpu_vpu *p, unsigned d, unsigned ma,
                           unsigned kind);
uint32_t vtpu_vpu_mask_count(const vtpu_vpu *p, unsigned ma);

/* ---- array kernels (also used by tests, benchmarks and the MXU) ---- */

/*
 * Unary f32 math on VTPU_N elements: op = XTPU_VSQRT, XTPU_VRSQRT,
 * XTPU_VRECIP, XTPU_VEXP, XTPU_VLOG, XTPU_VTANH, XTPU_VLOGISTIC, XTPU_VSIN,
 * XTPU_VCOS.  `d` must not overlap `a`.  Accuracy: docs/isa.md.
 */
void vtpu_vmath_unary(unsigned op, float *d, const float *a);
/* d = pow(a, b) element-wise; d must not overlap a or b. */
void vtpu_vmath_pow(float *d, const float *a, const float *b);

/* f32 -> bf16 bits, round to nearest even, NaN stays a quiet NaN. */
static inline uint32_t vtpu_bf16_from_f32(uint32_t u)
{
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u;
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? nan : r;
}

/*
 * f32 -> bf16 bits (in the high half of an f32; low half zero), rounded
 * stochastically with the random bits r (VSROUND.BF16): the 16 bits the
 * rounding drops are added to the high 16 bits of r and the carry, if
 * any, rounds the magnitude up.  So x rounds away from zero with
 * probability (dropped bits) / 2^16 and the mean is x (unbiased, up to
 * 2^-16 of an ulp).  Exact bf16 values, +-0 and infinities are kept; a
 * NaN becomes a quiet NaN as in VPACK; a magnitude above the largest
 * finite bf16 may round to infinity.
 */
static inline uint32_t vtpu_bf16_sround(uint32_t u, uint32_t r)
{
    uint32_t t = (u + (r >> 16)) & 0xFFFF0000u;
    uint32_t nan = (u | 0x00400000u) & 0xFFFF0000u;
    t = (u & 0x7FFFFFFFu) >= 0x7F800000u ? u & 0xFFFF0000u : t;
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? nan : t;
}

#endif /* VTPU_VPU_H */
