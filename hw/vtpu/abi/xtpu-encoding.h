/*
 * xtpu-encoding.h - opcode and function-field values of the Xtpu custom
 * extension (docs/isa.md is the specification).
 *
 * Shared by the engine (host gcc) and by code that runs on the TCs
 * (riscv64-unknown-elf-gcc, firmware/include/vtpu/xtpu.h), so it holds only
 * #defines.  Every instruction is a 32-bit RISC-V R-type (or R4-type) word:
 *
 *   31     25 24  20 19  15 14  12 11   7 6      0
 *   [ funct7 ][ rs2 ][ rs1 ][funct3][  rd ][ opcode ]      R-type
 *   [rs3][f2 ][ rs2 ][ rs1 ][funct3][  rd ][ opcode ]      R4-type
 *
 * Register fields name vector registers (v0..v31), mask registers (m0..m7),
 * scalar registers (x0..x31) or f registers (f0..f31) depending on the
 * instruction; funct7 selects the operation and funct3 its variant.
 */
#ifndef VTPU_XTPU_ENCODING_H
#define VTPU_XTPU_ENCODING_H

/* Opcode spaces. */
#define XTPU_OPC_VALU 0x0B /* custom-0: element-wise vector ALU */
#define XTPU_OPC_VXFER 0x2B /* custom-1: VMEM, cross-lane, scalar, masks */
#define XTPU_OPC_MXU 0x5B  /* custom-2: MXU, R4 multiply-add */
#define XTPU_OPC_SYNC 0x7B /* custom-3: DMA, semaphores, barrier */

/* Field extraction (raw 32-bit word). */
#define XTPU_OPCODE(w) ((w) & 0x7Fu)
#define XTPU_RD(w) (((w) >> 7) & 0x1Fu)
#define XTPU_FUNCT3(w) (((w) >> 12) & 0x7u)
#define XTPU_RS1(w) (((w) >> 15) & 0x1Fu)
#define XTPU_RS2(w) (((w) >> 20) & 0x1Fu)
#define XTPU_FUNCT7(w) (((w) >> 25) & 0x7Fu)
#define XTPU_FUNCT2(w) (((w) >> 25) & 0x3u)
#define XTPU_RS3(w) (((w) >> 27) & 0x1Fu)

/* funct3 element types of arithmetic instructions. */
#define XTPU_T_F32 0
#define XTPU_T_I32 1
#define XTPU_T_U32 2

/* ---- custom-0 (0x0B): vd = op(va, vb); rd = vd, rs1 = va, rs2 = vb ---- */
/* binary, funct3 = type */
#define XTPU_VADD 0x00   /* f32 i32 */
#define XTPU_VSUB 0x01   /* f32 i32 */
#define XTPU_VMUL 0x02   /* f32 i32 */
#define XTPU_VDIV 0x03   /* f32 */
#define XTPU_VMIN 0x04   /* f32 i32 u32 */
#define XTPU_VMAX 0x05   /* f32 i32 u32 */
#define XTPU_VAND 0x06   /* funct3 = 0 */
#define XTPU_VOR 0x07    /* funct3 = 0 */
#define XTPU_VXOR 0x08   /* funct3 = 0 */
#define XTPU_VSLL 0x09   /* funct3 = 0; shift by vb & 31 */
#define XTPU_VSRL 0x0A   /* funct3 = 0 */
#define XTPU_VSRA 0x0B   /* funct3 = 0 */
#define XTPU_VPOW 0x0C   /* f32 */
#define XTPU_VPACK 0x0D  /* funct3 = XTPU_PACK_* */
#define XTPU_VSROUND 0x0E /* funct3 0: va f32 -> bf16 (as f32), random vb */
/* compares: rd = mask register md (0..7), funct3 = XTPU_CMP_* */
#define XTPU_VCMP_F32 0x10
#define XTPU_VCMP_I32 0x11
#define XTPU_VCMP_U32 0x12
/* select: vd = m[funct3] ? va : vb */
#define XTPU_VSEL 0x18
/* unary: rs2 must be 0 */
#define XTPU_VNEG 0x20    /* f32 i32 */
#define XTPU_VABS 0x21    /* f32 i32 */
#define XTPU_VNOT 0x22    /* funct3 = 0 */
#define XTPU_VCVT 0x23    /* funct3 = XTPU_CVT_* */
#define XTPU_VUNPACK 0x24 /* funct3 = XTPU_UNPACK_* */
#define XTPU_VFLOOR 0x28  /* f32 (funct3 = 0) from here on */
#define XTPU_VCEIL 0x29
#define XTPU_VTRUNC 0x2A
#define XTPU_VROUND 0x2B /* to nearest, ties to even */
#define XTPU_VSQRT 0x30
#define XTPU_VRSQRT 0x31
#define XTPU_VRECIP 0x32
#define XTPU_VEXP 0x33
#define XTPU_VLOG 0x34
#define XTPU_VTANH 0x35
#define XTPU_VLOGISTIC 0x36
#define XTPU_VSIN 0x37
#define XTPU_VCOS 0x38

/* compare conditions (funct3 of VCMP_*) */
#define XTPU_CMP_EQ 0
#define XTPU_CMP_NE 1
#define XTPU_CMP_LT 2
#define XTPU_CMP_LE 3
#define XTPU_CMP_GT 4
#define XTPU_CMP_GE 5

/* VCVT variants (funct3) */
#define XTPU_CVT_F32_I32_RTZ 0 /* i32 <- f32, toward zero, saturating */
#define XTPU_CVT_F32_I32_RNE 1 /* i32 <- f32, nearest even, saturating */
#define XTPU_CVT_I32_F32 2     /* f32 <- i32 */
#define XTPU_CVT_U32_F32 3     /* f32 <- u32 */

/* VPACK variants (funct3): vd = pack(va = first half, vb = second half) */
#define XTPU_PACK_BF16 0 /* 2 x f32 -> bf16 x 2048, RNE */
#define XTPU_PACK_I16 1  /* 2 x i32 -> i16 x 2048, saturating */
#define XTPU_PACK_I8 2   /* 2 x packed i16 -> i8 x 4096, saturating */

/* VUNPACK variants (funct3): which part of the packed source */
#define XTPU_UNPACK_BF16_LO 0 /* bf16 elements 0..1023 -> f32 */
#define XTPU_UNPACK_BF16_HI 1 /* bf16 elements 1024..2047 -> f32 */
#define XTPU_UNPACK_I16_LO 2
#define XTPU_UNPACK_I16_HI 3
#define XTPU_UNPACK_I8_Q0 4 /* i8 elements 1024*q .. 1024*q+1023, q=0..3 */

/* ---- custom-1 (0x2B): data movement ---- */
#define XTPU_VLD 0x00    /* vd(rd), x[rs1] address, x[rs2] sublane stride */
#define XTPU_VLD_M 0x01  /* ... funct3 = mask: masked-off elements kept */
#define XTPU_VST 0x02    /* vs(rd), x[rs1] address, x[rs2] sublane stride */
#define XTPU_VST_M 0x03  /* ... funct3 = mask */
#define XTPU_VBCAST 0x08 /* vd(rd) = x[rs1] (funct3 0) or f[rs1] (funct3 1) */
#define XTPU_VIOTA 0x09  /* vd(rd) = index(funct3) + x[rs1] */
#define XTPU_VEXT 0x0A   /* x[rd] (funct3 0) / f[rd] (1) = va(rs1)[x[rs2]] */
#define XTPU_VINS 0x0B   /* vd(rd)[x[rs2]] = x[rs1] (funct3 0) / f[rs1] (1) */
#define XTPU_VROTL 0x0C  /* vd(rd) = roll(va(rs1), x[rs2], lanes) */
#define XTPU_VROTS 0x0D  /* vd(rd) = roll(va(rs1), x[rs2], sublanes) */
#define XTPU_VREDL 0x0E  /* vd(rd) = reduce va(rs1) along lanes, funct3 op */
#define XTPU_VREDS 0x0F  /* ... along sublanes */
#define XTPU_VXPOSE 0x10 /* funct3 = XTPU_XPOSE_* */
#define XTPU_MLOGIC 0x18 /* md(rd) = ma(rs1) op mb(rs2), funct3 = XTPU_M_* */
#define XTPU_MFROMV 0x19 /* md(rd) = va(rs1) != 0 */
#define XTPU_MTOV 0x1A   /* vd(rd) = ma(rs1) as funct3 = XTPU_MTOV_* */
#define XTPU_MCOUNT 0x1B /* x[rd] = number of true elements of ma(rs1) */
#define XTPU_PRNG_SEED 0x1C /* key = (x[rs1], x[rs2]), draws = 0; rd = 0 */
#define XTPU_VRAND 0x1D     /* vd(rd) = next random draw; rs1 = rs2 = 0 */

/* VIOTA index kinds (funct3) */
#define XTPU_IOTA_LANE 0    /* 0..127 along lanes */
#define XTPU_IOTA_SUBLANE 1 /* 0..7 along sublanes */
#define XTPU_IOTA_LINEAR 2  /* sublane * 128 + lane */

/* reductions (funct3 of VREDL/VREDS) */
#define XTPU_RED_SUM_F32 0
#define XTPU_RED_MAX_F32 1
#define XTPU_RED_MIN_F32 2
#define XTPU_RED_SUM_I32 4
#define XTPU_RED_MAX_I32 5
#define XTPU_RED_MIN_I32 6

/* transposes (funct3 of VXPOSE) */
#define XTPU_XPOSE_128 0 /* (128,128) held in 16 consecutive vregs */
#define XTPU_XPOSE_8 1   /* each 8x8 tile of one vreg */

/* mask logic (funct3 of MLOGIC) */
#define XTPU_M_AND 0
#define XTPU_M_OR 1
#define XTPU_M_XOR 2
#define XTPU_M_ANDN 3 /* ma & ~mb */
#define XTPU_M_NOT 4  /* ~ma; rs2 = 0 */
#define XTPU_M_SET 5  /* all true; rs1 = rs2 = 0 */
#define XTPU_M_CLR 6  /* all false; rs1 = rs2 = 0 */

/* MTOV value kinds (funct3) */
#define XTPU_MTOV_ONES 0 /* 0 / 0xFFFFFFFF */
#define XTPU_MTOV_I32 1  /* 0 / 1 */
#define XTPU_MTOV_F32 2  /* 0.0f / 1.0f */

/* ---- custom-2 (0x5B): MXU (R-type) and multiply-add (R4, funct3 7) ---- */
#define XTPU_MXU_PUSH 0x00   /* mxu(rd), va(rs1), column block(rs2), f3 dt */
#define XTPU_MXU_MATMUL 0x01 /* acc(rd), va(rs1), mxu(rs2), funct3 dtype */
#define XTPU_MXU_POP 0x02    /* vd(rd), acc(rs1), mxu(rs2), funct3 0 */
#define XTPU_MXU_CLR 0x03    /* mxu(rs2), funct3 = XTPU_CLR_* */

/* MXU operand types (funct3 of PUSH/MATMUL) */
#define XTPU_DT_F32 0  /* 8 rows x 128 f32 per vreg */
#define XTPU_DT_BF16 1 /* 16 rows x 128 bf16 per vreg (packed) */
#define XTPU_DT_I8 2   /* 32 rows x 128 i8 per vreg (packed) */
/* f32 MATMUL precisions (funct3 of MATMUL only; the RHS is pushed as f32):
 * HIGHEST is XTPU_DT_F32 (full f32 products) */
#define XTPU_PREC_HIGHEST XTPU_DT_F32
#define XTPU_PREC_HIGH 3    /* bf16x3: hi*hi + hi*lo + lo*hi passes */
#define XTPU_PREC_DEFAULT 4 /* one bf16 pass: operands rounded to bf16 */

/* MXU_CLR what (funct3) */
#define XTPU_CLR_STAGING 1
#define XTPU_CLR_ACCS 2
#define XTPU_CLR_ALL 3

#define XTPU_F3_R4 7     /* custom-2 funct3 selecting the R4 format */
#define XTPU_MULADD_F32 0 /* vd = va * vb + vc (two roundings) */
#define XTPU_MULSUB_F32 1 /* vd = va * vb - vc */
#define XTPU_NMULSUB_F32 2 /* vd = vc - va * vb */
#define XTPU_MULADD_I32 3 /* vd = va * vb + vc (wrapping) */

/* ---- custom-3 (0x7B): DMA, semaphores, barrier; funct3 ---- */
#define XTPU_DMA_START 0    /* rs1 = descriptor address (SMEM) */
#define XTPU_SEM_SIGNAL 1   /* rs1 = sem, rs2 = n */
#define XTPU_SEM_SIGNAL_TC 2 /* R4: rs1 = tc, rs2 = sem, rs3 = n */
#define XTPU_SEM_WAIT 3     /* rs1 = sem, rs2 = n */
#define XTPU_SEM_READ 4     /* rd = value of sem rs1 */
#define XTPU_BARRIER 5
/* R4: rs1 = chip, rs2 = sem | tc << 16 (0xff: same TC), rs3 = n */
#define XTPU_SEM_SIGNAL_REMOTE 6
#define XTPU_REMOTE_TC_SAME 0xffu

/* MXU geometry that does not depend on the configuration. */
#define XTPU_MXU_ACCS 32 /* accumulators per MXU, each 8 x 128 x 32 bit */

#endif /* VTPU_XTPU_ENCODING_H */
