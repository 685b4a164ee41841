/*
 * vtpu/xtpu.h - C intrinsics for the Xtpu vector unit and MXU
 * (docs/isa.md is the specification of every instruction).
 *
 * Freestanding: needs only the compiler (GNU C, statement expressions and
 * inline asm) and xtpu-encoding.h.  Every intrinsic is one instruction.
 *
 * Register operands:
 *   vd, va, vb, vc   vector registers, 0..31: integer CONSTANT expressions
 *                    (they are encoded into the instruction word)
 *   md, ma, mb, m    mask registers, 0..7: constant expressions
 *   mxu, acc, cb     MXU index, accumulator 0..31, column block: constants
 *   everything else  ordinary C values (scalar registers): addresses,
 *                    strides, indices, scalars
 *
 * Operand order, one rule for every intrinsic (docs/isa.md, "Intrinsics"):
 *   1. a selector that names the operation variant, if any (cond, kind,
 *      op);
 *   2. the destination: what the instruction writes (vd, md, the MXU
 *      accumulator acc, the staging column block cb);
 *   3. the sources, in the order of the operation (va, vb, vc; the mask
 *      m of VSEL before the values it selects between); what qualifies an
 *      operand follows it (VUNPACK's part and VEXT's idx: which part of
 *      va; VINS's idx: where in vd; VROT's k);
 *   4. the unit last (mxu).
 * Loads and stores name the vector register first, then the address,
 * the stride and the mask (as lw/sw name the register first); results
 * returned as C values (VEXT_*, MCOUNT) have no destination operand.
 *
 *     MXU_PUSH_F32(0, 8, 1);      // column block 0 of MXU 1 += rows of v8
 *     MXU_MATMUL_F32(4, 1, 1);    // acc 4 of MXU 1 += v1 x staged RHS
 *     MXU_POP(2, 4, 1);           // v2 = acc 4 of MXU 1
 *
 *     VLD(1, x_ref);              // v1 = dense (8,128) block at x_ref
 *     VLD(2, y_ref);
 *     VADD_F32(3, 1, 2);          // v3 = v1 + v2
 *     VBCAST_F32(4, 2.0f);
 *     VMUL_F32(3, 3, 4);
 *     VSIN(3, 3);
 *     VST(3, o_ref);
 *
 * VMEM addresses are TC addresses in [VTPU_VMEM_BASE, + vmem size), given
 * as integers or pointers; a dense (8,128) f32 block has a sublane stride
 * of XTPU_DENSE_STRIDE (512) bytes.  The vector registers are invisible to
 * the compiler: all intrinsics are volatile asm, kept in program order.
 */
#ifndef VTPU_XTPU_H
#define VTPU_XTPU_H

#include <stdint.h>

#include "xtpu-encoding.h"
#include "vtpu-map.h"

#define XTPU_DENSE_STRIDE 512

#define XTPU_ADDR_(a) ((uint32_t)(uintptr_t)(a))

/* One R-type word whose register fields are all constants. */
#define XTPU_RRR_(opc, f3, f7, rd, rs1, rs2)                                 \
    __asm__ volatile(".insn r %0, %1, %2, x%3, x%4, x%5"                     \
                     :                                                       \
                     : "i"(opc), "i"(f3), "i"(f7), "i"(rd), "i"(rs1),        \
                       "i"(rs2))

/* ------------------------------------------------------------------ */
/* custom-0: element-wise                                                */
/* ------------------------------------------------------------------ */

#define XTPU_V0_(f7, f3, vd, va, vb)                                         \
    XTPU_RRR_(XTPU_OPC_VALU, f3, f7, vd, va, vb)

/* vd = va op vb */
#define VADD_F32(vd, va, vb) XTPU_V0_(XTPU_VADD, XTPU_T_F32, vd, va, vb)
#define VADD_I32(vd, va, vb) XTPU_V0_(XTPU_VADD, XTPU_T_I32, vd, va, vb)
#define VSUB_F32(vd, va, vb) XTPU_V0_(XTPU_VSUB, XTPU_T_F32, vd, va, vb)
#define VSUB_I32(vd, va, vb) XTPU_V0_(XTPU_VSUB, XTPU_T_I32, vd, va, vb)
#define VMUL_F32(vd, va, vb) XTPU_V0_(XTPU_VMUL, XTPU_T_F32, vd, va, vb)
#define VMUL_I32(vd, va, vb) XTPU_V0_(XTPU_VMUL, XTPU_T_I32, vd, va, vb)
#define VDIV_F32(vd, va, vb) XTPU_V0_(XTPU_VDIV, XTPU_T_F32, vd, va, vb)
#define VMIN_F32(vd, va, vb) XTPU_V0_(XTPU_VMIN, XTPU_T_F32, vd, va, vb)
#define VMIN_I32(vd, va, vb) XTPU_V0_(XTPU_VMIN, XTPU_T_I32, vd, va, vb)
#define VMIN_U32(vd, va, vb) XTPU_V0_(XTPU_VMIN, XTPU_T_U32, vd, va, vb)
#define VMAX_F32(vd, va, vb) XTPU_V0_(XTPU_VMAX, XTPU_T_F32, vd, va, vb)
#define VMAX_I32(vd, va, vb) XTPU_V0_(XTPU_VMAX, XTPU_T_I32, vd, va, vb)
#define VMAX_U32(vd, va, vb) XTPU_V0_(XTPU_VMAX, XTPU_T_U32, vd, va, vb)
#define VAND(vd, va, vb) XTPU_V0_(XTPU_VAND, 0, vd, va, vb)
#define VOR(vd, va, vb) XTPU_V0_(XTPU_VOR, 0, vd, va, vb)
#define VXOR(vd, va, vb) XTPU_V0_(XTPU_VXOR, 0, vd, va, vb)
#define VSLL(vd, va, vb) XTPU_V0_(XTPU_VSLL, 0, vd, va, vb)
#define VSRL(vd, va, vb) XTPU_V0_(XTPU_VSRL, 0, vd, va, vb)
#define VSRA(vd, va, vb) XTPU_V0_(XTPU_VSRA, 0, vd, va, vb)
#define VPOW(vd, va, vb) XTPU_V0_(XTPU_VPOW, XTPU_T_F32, vd, va, vb)
#define VMOV(vd, va) VOR(vd, va, va)

/* vd = va (f32) rounded stochastically to bf16 with the random bits vb
 * (VRAND), as an f32 whose low 16 bits are 0: VPACK_BF16 of two such
 * vregs is exact (pltpu.stochastic_round) */
#define VSROUND_BF16(vd, va, vb) XTPU_V0_(XTPU_VSROUND, 0, vd, va, vb)

/* packing: vd = pack(va = first half, vb = second half) */
#define VPACK_BF16(vd, va, vb) XTPU_V0_(XTPU_VPACK, XTPU_PACK_BF16, vd, va, vb)
#define VPACK_I16(vd, va, vb) XTPU_V0_(XTPU_VPACK, XTPU_PACK_I16, vd, va, vb)
#define VPACK_I8(vd, va, vb) XTPU_V0_(XTPU_VPACK, XTPU_PACK_I8, vd, va, vb)
/* part = 0/1 (bf16, i16) or 0..3 (i8) */
#define VUNPACK_BF16(vd, va, part)                                           \
    XTPU_V0_(XTPU_VUNPACK, XTPU_UNPACK_BF16_LO + (part), vd, va, 0)
#define VUNPACK_I16(vd, va, part)                                            \
    XTPU_V0_(XTPU_VUNPACK, XTPU_UNPACK_I16_LO + (part), vd, va, 0)
#define VUNPACK_I8(vd, va, part)                                             \
    XTPU_V0_(XTPU_VUNPACK, XTPU_UNPACK_I8_Q0 + (part), vd, va, 0)

/* md = va cond vb; cond is EQ, NE, LT, LE, GT or GE */
#define VCMP_F32(cond, md, va, vb)                                           \
    XTPU_V0_(XTPU_VCMP_F32, XTPU_CMP_##cond, md, va, vb)
#define VCMP_I32(cond, md, va, vb)                                           \
    XTPU_V0_(XTPU_VCMP_I32, XTPU_CMP_##cond, md, va, vb)
#define VCMP_U32(cond, md, va, vb)                                           \
    XTPU_V0_(XTPU_VCMP_U32, XTPU_CMP_##cond, md, va, vb)
/* vd = m ? va : vb (element-wise) */
#define VSEL(vd, m, va, vb) XTPU_V0_(XTPU_VSEL, m, vd, va, vb)

/* vd = op(va) */
#define VNEG_F32(vd, va) XTPU_V0_(XTPU_VNEG, XTPU_T_F32, vd, va, 0)
#define VNEG_I32(vd, va) XTPU_V0_(XTPU_VNEG, XTPU_T_I32, vd, va, 0)
#define VABS_F32(vd, va) XTPU_V0_(XTPU_VABS, XTPU_T_F32, vd, va, 0)
#define VABS_I32(vd, va) XTPU_V0_(XTPU_VABS, XTPU_T_I32, vd, va, 0)
#define VNOT(vd, va) XTPU_V0_(XTPU_VNOT, 0, vd, va, 0)
#define VCVT_F32_I32(vd, va) /* i32 <- f32, toward zero */                   \
    XTPU_V0_(XTPU_VCVT, XTPU_CVT_F32_I32_RTZ, vd, va, 0)
#define VCVT_F32_I32_RNE(vd, va)                                             \
    XTPU_V0_(XTPU_VCVT, XTPU_CVT_F32_I32_RNE, vd, va, 0)
#define VCVT_I32_F32(vd, va) XTPU_V0_(XTPU_VCVT, XTPU_CVT_I32_F32, vd, va, 0)
#define VCVT_U32_F32(vd, va) XTPU_V0_(XTPU_VCVT, XTPU_CVT_U32_F32, vd, va, 0)
#define VFLOOR(vd, va) XTPU_V0_(XTPU_VFLOOR, 0, vd, va, 0)
#define VCEIL(vd, va) XTPU_V0_(XTPU_VCEIL, 0, vd, va, 0)
#define VTRUNC(vd, va) XTPU_V0_(XTPU_VTRUNC, 0, vd, va, 0)
#define VROUND(vd, va) XTPU_V0_(XTPU_VROUND, 0, vd, va, 0)
#define VSQRT(vd, va) XTPU_V0_(XTPU_VSQRT, 0, vd, va, 0)
#define VRSQRT(vd, va) XTPU_V0_(XTPU_VRSQRT, 0, vd, va, 0)
#define VRECIP(vd, va) XTPU_V0_(XTPU_VRECIP, 0, vd, va, 0)
#define VEXP(vd, va) XTPU_V0_(XTPU_VEXP, 0, vd, va, 0)
#define VLOG(vd, va) XTPU_V0_(XTPU_VLOG, 0, vd, va, 0)
#define VTANH(vd, va) XTPU_V0_(XTPU_VTANH, 0, vd, va, 0)
#define VLOGISTIC(vd, va) XTPU_V0_(XTPU_VLOGISTIC, 0, vd, va, 0)
#define VSIN(vd, va) XTPU_V0_(XTPU_VSIN, 0, vd, va, 0)
#define VCOS(vd, va) XTPU_V0_(XTPU_VCOS, 0, vd, va, 0)

/* vd = va * vb +- vc (f32: two roundings; i32: wrapping) */
#define XTPU_R4_(f2, vd, va, vb, vc)                                         \
    __asm__ volatile(".insn r4 %0, %1, %2, x%3, x%4, x%5, x%6"               \
                     :                                                       \
                     : "i"(XTPU_OPC_MXU), "i"(XTPU_F3_R4), "i"(f2), "i"(vd), \
                       "i"(va), "i"(vb), "i"(vc))
#define VMULADD_F32(vd, va, vb, vc) XTPU_R4_(XTPU_MULADD_F32, vd, va, vb, vc)
#define VMULSUB_F32(vd, va, vb, vc) XTPU_R4_(XTPU_MULSUB_F32, vd, va, vb, vc)
#define VNMULSUB_F32(vd, va, vb, vc) /* vc - va * vb */                      \
    XTPU_R4_(XTPU_NMULSUB_F32, vd, va, vb, vc)
#define VMULADD_I32(vd, va, vb, vc) XTPU_R4_(XTPU_MULADD_I32, vd, va, vb, vc)

/* ------------------------------------------------------------------ */
/* custom-1: VMEM, scalars, cross-lane, masks                            */
/* ------------------------------------------------------------------ */

/* vd/vs with x[rs1] = addr, x[rs2] = stride, funct3 = f3 */
#define XTPU_MEM_(f7, f3, v, addr, stride)                                   \
    __asm__ volatile(".insn r %0, %1, %2, x%3, %4, %5"                       \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(f3), "i"(f7), "i"(v),        \
                       "r"(XTPU_ADDR_(addr)), "r"((int32_t)(stride)))

/* sublane s <-> addr + s * stride (bytes, multiple of 4, may be <= 0) */
#define VLDS(vd, addr, stride) XTPU_MEM_(XTPU_VLD, 0, vd, addr, stride)
#define VSTS(vs, addr, stride) XTPU_MEM_(XTPU_VST, 0, vs, addr, stride)
#define VLD(vd, addr) VLDS(vd, addr, XTPU_DENSE_STRIDE)
#define VST(vs, addr) VSTS(vs, addr, XTPU_DENSE_STRIDE)
/* masked: only elements where mask m is true are read/written */
#define VLDM(vd, addr, stride, m) XTPU_MEM_(XTPU_VLD_M, m, vd, addr, stride)
#define VSTM(vs, addr, stride, m) XTPU_MEM_(XTPU_VST_M, m, vs, addr, stride)

/* vd = broadcast of a scalar */
#define VBCAST_I32(vd, x)                                                    \
    __asm__ volatile(".insn r %0, 0, %1, x%2, %3, x0"                        \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(XTPU_VBCAST), "i"(vd),       \
                       "r"((uint32_t)(x)))
#define VBCAST_F32(vd, f)                                                    \
    __asm__ volatile(".insn r %0, 1, %1, x%2, %3, x0"                        \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(XTPU_VBCAST), "i"(vd),       \
                       "f"((float)(f)))

/* vd = index + base; kind LANE (0..127), SUBLANE (0..7), LINEAR (0..1023) */
#define VIOTA(kind, vd, base)                                                \
    __asm__ volatile(".insn r %0, %1, %2, x%3, %4, x0"                       \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(XTPU_IOTA_##kind),           \
                       "i"(XTPU_VIOTA), "i"(vd), "r"((uint32_t)(base)))

/* element idx (sublane * 128 + lane, taken mod 1024) of va */
#define VEXT_I32(va, idx)                                                    \
    __extension__({                                                          \
        uint32_t xtpu_r_;                                                    \
        __asm__ volatile(".insn r %1, 0, %2, %0, x%3, %4"                    \
                         : "=r"(xtpu_r_)                                     \
                         : "i"(XTPU_OPC_VXFER), "i"(XTPU_VEXT), "i"(va),     \
                           "r"((uint32_t)(idx)));                            \
        xtpu_r_;                                                             \
    })
#define VEXT_F32(va, idx)                                                    \
    __extension__({                                                          \
        float xtpu_r_;                                                       \
        __asm__ volatile(".insn r %1, 1, %2, %0, x%3, %4"                    \
                         : "=f"(xtpu_r_)                                     \
                         : "i"(XTPU_OPC_VXFER), "i"(XTPU_VEXT), "i"(va),     \
                           "r"((uint32_t)(idx)));                            \
        xtpu_r_;                                                             \
    })
/* vd[idx] = x */
#define VINS_I32(vd, idx, x)                                                 \
    __asm__ volatile(".insn r %0, 0, %1, x%2, %3, %4"                        \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(XTPU_VINS), "i"(vd),         \
                       "r"((uint32_t)(x)), "r"((uint32_t)(idx)))
#define VINS_F32(vd, idx, f)                                                 \
    __asm__ volatile(".insn r %0, 1, %1, x%2, %3, %4"                        \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(XTPU_VINS), "i"(vd),         \
                       "f"((float)(f)), "r"((uint32_t)(idx)))

/* vd = roll(va, k) along lanes (mod 128) / sublanes (mod 8), like
 * jnp.roll: out[i] = in[(i - k) mod n] */
#define XTPU_ROT_(f7, vd, va, k)                                             \
    __asm__ volatile(".insn r %0, 0, %1, x%2, x%3, %4"                       \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(f7), "i"(vd), "i"(va),       \
                       "r"((uint32_t)(k)))
#define VROT_LANES(vd, va, k) XTPU_ROT_(XTPU_VROTL, vd, va, k)
#define VROT_SUBLANES(vd, va, k) XTPU_ROT_(XTPU_VROTS, vd, va, k)

/* reductions, result broadcast along the reduced axis;
 * op is SUM_F32, MAX_F32, MIN_F32, SUM_I32, MAX_I32 or MIN_I32 */
#define VRED_LANES(op, vd, va)                                               \
    XTPU_RRR_(XTPU_OPC_VXFER, XTPU_RED_##op, XTPU_VREDL, vd, va, 0)
#define VRED_SUBLANES(op, vd, va)                                            \
    XTPU_RRR_(XTPU_OPC_VXFER, XTPU_RED_##op, XTPU_VREDS, vd, va, 0)

/* vd..vd+15 = transpose of the (128,128) matrix in va..va+15 (<= 16) */
#define VXPOSE128(vd, va)                                                    \
    XTPU_RRR_(XTPU_OPC_VXFER, XTPU_XPOSE_128, XTPU_VXPOSE, vd, va, 0)
/* every 8x8 tile (lanes 8j..8j+7) of va transposed */
#define VXPOSE8(vd, va)                                                      \
    XTPU_RRR_(XTPU_OPC_VXFER, XTPU_XPOSE_8, XTPU_VXPOSE, vd, va, 0)

/* masks */
#define MAND(md, ma, mb) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_AND, XTPU_MLOGIC, md, ma, mb)
#define MOR(md, ma, mb) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_OR, XTPU_MLOGIC, md, ma, mb)
#define MXOR(md, ma, mb) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_XOR, XTPU_MLOGIC, md, ma, mb)
#define MANDN(md, ma, mb) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_ANDN, XTPU_MLOGIC, md, ma, mb)
#define MNOT(md, ma) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_NOT, XTPU_MLOGIC, md, ma, 0)
#define MSET(md) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_SET, XTPU_MLOGIC, md, 0, 0)
#define MCLR(md) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_M_CLR, XTPU_MLOGIC, md, 0, 0)
/* md = (va != 0) bitwise; vd = ma as 0/~0, 0/1 or 0.0f/1.0f */
#define MFROMV(md, va) XTPU_RRR_(XTPU_OPC_VXFER, 0, XTPU_MFROMV, md, va, 0)
#define MTOV(vd, ma) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_MTOV_ONES, XTPU_MTOV, vd, ma, 0)
#define MTOV_I32(vd, ma) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_MTOV_I32, XTPU_MTOV, vd, ma, 0)
#define MTOV_F32(vd, ma) XTPU_RRR_(XTPU_OPC_VXFER, XTPU_MTOV_F32, XTPU_MTOV, vd, ma, 0)
/* number of true elements of ma */
#define MCOUNT(ma)                                                           \
    __extension__({                                                          \
        uint32_t xtpu_r_;                                                    \
        __asm__ volatile(".insn r %1, 0, %2, %0, x%3, x0"                    \
                         : "=r"(xtpu_r_)                                     \
                         : "i"(XTPU_OPC_VXFER), "i"(XTPU_MCOUNT), "i"(ma));  \
        xtpu_r_;                                                             \
    })

/* random numbers (Philox4x32-10, docs/isa.md "Random numbers"):
 * PRNG_SEED keys this TC's generator with (seed, stream) and restarts its
 * draw counter (pltpu.prng_seed); VRAND(vd) fills vd with the next 1024
 * random 32-bit words (pltpu.prng_random_bits) */
#define PRNG_SEED(seed, stream)                                              \
    __asm__ volatile(".insn r %0, 0, %1, x0, %2, %3"                         \
                     :                                                       \
                     : "i"(XTPU_OPC_VXFER), "i"(XTPU_PRNG_SEED),             \
                       "r"((uint32_t)(seed)), "r"((uint32_t)(stream)))
#define VRAND(vd) XTPU_RRR_(XTPU_OPC_VXFER, 0, XTPU_VRAND, vd, 0, 0)

/* ------------------------------------------------------------------ */
/* custom-2: MXU                                                         */
/* ------------------------------------------------------------------ */

/* Append the rows of va (8 f32 / 16 bf16 / 32 i8 rows of 128) to column
 * block cb (0, or 0..1 on a 256-wide MXU) of the staged RHS of `mxu`.
 * (Before this order rule the macro was (mxu, va, cb).) */
#define MXU_PUSH_F32(cb, va, mxu)                                            \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_DT_F32, XTPU_MXU_PUSH, mxu, va, cb)
#define MXU_PUSH_BF16(cb, va, mxu)                                           \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_DT_BF16, XTPU_MXU_PUSH, mxu, va, cb)
#define MXU_PUSH_I8(cb, va, mxu)                                             \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_DT_I8, XTPU_MXU_PUSH, mxu, va, cb)
/* acc.. += LHS rows in va (va+1 when K > 128) x staged RHS */
#define MXU_MATMUL_F32(acc, va, mxu)                                         \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_DT_F32, XTPU_MXU_MATMUL, acc, va, mxu)
#define MXU_MATMUL_BF16(acc, va, mxu)                                        \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_DT_BF16, XTPU_MXU_MATMUL, acc, va, mxu)
#define MXU_MATMUL_I8(acc, va, mxu)                                          \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_DT_I8, XTPU_MXU_MATMUL, acc, va, mxu)
/* f32 LHS x staged f32 RHS at precision prec: DEFAULT (one bf16 pass),
 * HIGH (bf16x3) or HIGHEST (f32, = MXU_MATMUL_F32), as lax.Precision */
#define MXU_MATMUL_F32P(prec, acc, va, mxu)                                  \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_PREC_##prec, XTPU_MXU_MATMUL, acc, va, mxu)
/* vd = accumulator acc, which becomes empty */
#define MXU_POP(vd, acc, mxu)                                                \
    XTPU_RRR_(XTPU_OPC_MXU, 0, XTPU_MXU_POP, vd, acc, mxu)
/* forget the staged RHS / all accumulators / both */
#define MXU_CLR_STAGING(mxu)                                                 \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_CLR_STAGING, XTPU_MXU_CLR, 0, 0, mxu)
#define MXU_CLR_ACCS(mxu)                                                    \
    XTPU_RRR_(XTPU_OPC_MXU, XTPU_CLR_ACCS, XTPU_MXU_CLR, 0, 0, mxu)
#define MXU_CLR(mxu) XTPU_RRR_(XTPU_OPC_MXU, XTPU_CLR_ALL, XTPU_MXU_CLR, 0, 0, mxu)

#endif /* VTPU_XTPU_H */
