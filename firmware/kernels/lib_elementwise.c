/*
 * lib_elementwise.c - element-wise kernels of the library, table-driven:
 * the operation is scalar-prefetch value 0 (docs/kernels.md, "Kernel
 * library: element-wise").
 *
 *   ew_unary_f32   x in, o out          (R, C) f32   op = EW_U_*
 *   ew_binary_f32  x, y in, o out       (R, C) f32   op = EW_B_*
 *   ew_unary_i32   x in, o out          (R, C) i32   op = EW_UI_*
 *   ew_binary_i32  x, y in, o out       (R, C) i32   op = EW_BI_*
 *   cast_f32_i32   x f32 in, o i32 out  op 0 toward zero, 1 nearest-even
 *   cast_i32_f32   x i32 in, o f32 out
 *   cast_f32_bf16  x f32 in, o bf16 out (nearest-even)
 *   cast_bf16_f32  x bf16 in, o f32 out (exact)
 *
 * Blocks are (32, 512) (casts: (64, 128)), grid (cdiv(R, 32), cdiv(C,
 * 512)) parallel; arrays of any shape work (edge blocks are padded by the
 * runtime and written back masked).  bf16 arrays need an even C.
 */
#include <vtpu/kernel.h>

#include "lib_ops.h"

#define BR 32
#define BC 512
#define PITCH (BC * 4)
#define GROUPS (BR / 8)
#define CHUNKS (BC / 128)

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

/* Run STMT for every vreg of a (32, 512) block at offset `o`. */
#define EACH_VREG(o, STMT)                                                     \
    for (uint32_t g_ = 0; g_ < GROUPS; g_++)                                   \
        for (uint32_t c_ = 0; c_ < CHUNKS; c_++) {                             \
            uint32_t o = g_ * 8 * PITCH + c_ * 512;                            \
            STMT;                                                              \
        }

#define LD(v, base) VLDS(v, (base) + o, PITCH)
#define ST(v, base) VSTS(v, (base) + o, PITCH)

/* v2 = gelu(v1), tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * (v20..v23 hold the constants) */
static inline void gelu(void)
{
    VMUL_F32(3, 1, 1);
    VMUL_F32(3, 3, 1);        /* x^3 */
    VMULADD_F32(3, 3, 21, 1); /* x + 0.044715 x^3 */
    VMUL_F32(3, 3, 20);
    VTANH(3, 3);
    VADD_F32(3, 3, 22); /* 1 + tanh */
    VMUL_F32(2, 1, 23); /* 0.5 x */
    VMUL_F32(2, 2, 3);
}

void lib_act_consts(void)
{
    VBCAST_F32(20, 0.7978845608028654f);
    VBCAST_F32(21, 0.044715f);
    VBCAST_F32(22, 1.0f);
    VBCAST_F32(23, 0.5f);
    VBCAST_I32(24, 0);
}

/* v2 = op(v1); lib_act_consts() first. */
void lib_unary_f32(uint32_t op)
{
    /* clang-format off */
    switch (op) {
    case EW_U_ABS: VABS_F32(2, 1); break;
    case EW_U_NEG: VNEG_F32(2, 1); break;
    case EW_U_EXP: VEXP(2, 1); break;
    case EW_U_LOG: VLOG(2, 1); break;
    case EW_U_TANH: VTANH(2, 1); break;
    case EW_U_SIGMOID: VLOGISTIC(2, 1); break;
    case EW_U_RELU: VMAX_F32(2, 1, 24); break;
    case EW_U_GELU: gelu(); break;
    case EW_U_SIN: VSIN(2, 1); break;
    case EW_U_COS: VCOS(2, 1); break;
    case EW_U_RSQRT: VRSQRT(2, 1); break;
    case EW_U_SQRT: VSQRT(2, 1); break;
    case EW_U_RECIP: VRECIP(2, 1); break;
    case EW_U_FLOOR: VFLOOR(2, 1); break;
    case EW_U_CEIL: VCEIL(2, 1); break;
    case EW_U_ROUND: VROUND(2, 1); break;
    case EW_U_SQUARE: VMUL_F32(2, 1, 1); break;
    default: VMOV(2, 1); break; /* EW_U_NONE */
    }
    /* clang-format on */
}

static void check_op(const vtpu_kctx *k, uint32_t n)
{
    if (!k->num_scalars || (uint32_t)vtpu_scalar(k, 0) >= n)
        vtpu_fail(k, "element-wise: scalar 0 must be an op of the table");
}

VTPU_BODY(ew_unary_f32_body, k)
{
    check_op(k, EW_U_COUNT);
    uint32_t op = (uint32_t)vtpu_scalar(k, 0);
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    lib_act_consts();
    EACH_VREG(o, {
        LD(1, x);
        lib_unary_f32(op);
        ST(2, y);
    });
}

/* One pass over the block with a binary / unary instruction. */
#define BIN(OP)                                                                \
    EACH_VREG(o, {                                                             \
        LD(1, x);                                                              \
        LD(2, y);                                                              \
        OP(3, 1, 2);                                                           \
        ST(3, z);                                                              \
    })
#define UN(OP)                                                                 \
    EACH_VREG(o, {                                                             \
        LD(1, x);                                                              \
        OP(2, 1);                                                              \
        ST(2, y);                                                              \
    })

VTPU_BODY(ew_binary_f32_body, k)
{
    check_op(k, EW_B_COUNT);
    uint32_t op = (uint32_t)vtpu_scalar(k, 0);
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1), z = vtpu_ref(k, 2);
    /* clang-format off */
    switch (op) {
    case EW_B_ADD: BIN(VADD_F32); break;
    case EW_B_SUB: BIN(VSUB_F32); break;
    case EW_B_MUL: BIN(VMUL_F32); break;
    case EW_B_DIV: BIN(VDIV_F32); break;
    case EW_B_MAX: BIN(VMAX_F32); break;
    case EW_B_MIN: BIN(VMIN_F32); break;
    default: BIN(VPOW); break;
    }
    /* clang-format on */
}

VTPU_BODY(ew_unary_i32_body, k)
{
    check_op(k, EW_UI_COUNT);
    uint32_t op = (uint32_t)vtpu_scalar(k, 0);
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    /* clang-format off */
    switch (op) {
    case EW_UI_ABS: UN(VABS_I32); break;
    case EW_UI_NEG: UN(VNEG_I32); break;
    default: UN(VNOT); break;
    }
    /* clang-format on */
}

VTPU_BODY(ew_binary_i32_body, k)
{
    check_op(k, EW_BI_COUNT);
    uint32_t op = (uint32_t)vtpu_scalar(k, 0);
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1), z = vtpu_ref(k, 2);
    /* clang-format off */
    switch (op) {
    case EW_BI_ADD: BIN(VADD_I32); break;
    case EW_BI_SUB: BIN(VSUB_I32); break;
    case EW_BI_MUL: BIN(VMUL_I32); break;
    case EW_BI_MAX: BIN(VMAX_I32); break;
    case EW_BI_MIN: BIN(VMIN_I32); break;
    case EW_BI_AND: BIN(VAND); break;
    case EW_BI_OR: BIN(VOR); break;
    default: BIN(VXOR); break;
    }
    /* clang-format on */
}

#define EW_OPS1(dt)                                                            \
    {                                                                          \
        VTPU_IN(dt, tile_ij, BR, BC), VTPU_OUT_LIKE(0, dt, tile_ij, BR, BC)    \
    }
#define EW_OPS2(dt)                                                            \
    {                                                                          \
        VTPU_IN(dt, tile_ij, BR, BC), VTPU_IN(dt, tile_ij, BR, BC),            \
            VTPU_OUT_LIKE(0, dt, tile_ij, BR, BC)                              \
    }

VTPU_KERNEL(ew_unary_f32, ew_unary_f32_body, .operands = EW_OPS1(VTPU_F32),
            .num_scalars = 1);
VTPU_KERNEL(ew_binary_f32, ew_binary_f32_body, .operands = EW_OPS2(VTPU_F32),
            .num_scalars = 1);
VTPU_KERNEL(ew_unary_i32, ew_unary_i32_body, .operands = EW_OPS1(VTPU_I32),
            .num_scalars = 1);
VTPU_KERNEL(ew_binary_i32, ew_binary_i32_body, .operands = EW_OPS2(VTPU_I32),
            .num_scalars = 1);

/* ------------------------------------------------------------------ */
/* Casts: (64, 128) blocks, 8 f32 vregs = 4 packed bf16 vregs            */
/* ------------------------------------------------------------------ */

#define CR 64

VTPU_BODY(cast_f32_i32_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    int rne = k->num_scalars && vtpu_scalar(k, 0);
    for (uint32_t v = 0; v < CR / 8; v++) {
        VLD(1, x + v * 4096);
        if (rne)
            VCVT_F32_I32_RNE(2, 1);
        else
            VCVT_F32_I32(2, 1);
        VST(2, y + v * 4096);
    }
}

VTPU_BODY(cast_i32_f32_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    for (uint32_t v = 0; v < CR / 8; v++) {
        VLD(1, x + v * 4096);
        VCVT_I32_F32(2, 1);
        VST(2, y + v * 4096);
    }
}

VTPU_BODY(cast_f32_bf16_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    for (uint32_t v = 0; v < CR / 16; v++) {
        VLD(1, x + 2 * v * 4096);
        VLD(2, x + (2 * v + 1) * 4096);
        VPACK_BF16(3, 1, 2);
        VST(3, y + v * 4096);
    }
}

VTPU_BODY(cast_bf16_f32_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);
    for (uint32_t v = 0; v < CR / 16; v++) {
        VLD(1, x + v * 4096);
        VUNPACK_BF16(2, 1, 0);
        VUNPACK_BF16(3, 1, 1);
        VST(2, y + 2 * v * 4096);
        VST(3, y + (2 * v + 1) * 4096);
    }
}

#define CAST_OPS(a, b)                                                         \
    {                                                                          \
        VTPU_IN(a, tile_ij, CR, 128), VTPU_OUT_LIKE(0, b, tile_ij, CR, 128)    \
    }

VTPU_KERNEL(cast_f32_i32, cast_f32_i32_body,
            .operands = CAST_OPS(VTPU_F32, VTPU_I32));
VTPU_KERNEL(cast_i32_f32, cast_i32_f32_body,
            .operands = CAST_OPS(VTPU_I32, VTPU_F32));
VTPU_KERNEL(cast_f32_bf16, cast_f32_bf16_body,
            .operands = CAST_OPS(VTPU_F32, VTPU_BF16));
VTPU_KERNEL(cast_bf16_f32, cast_bf16_f32_body,
            .operands = CAST_OPS(VTPU_BF16, VTPU_F32));

/* ------------------------------------------------------------------ */
/* The seed workload with (512, 128) blocks (bench/bench_kernels.c)      */
/* ------------------------------------------------------------------ */

VTPU_BODY(add_sin_f32_b512_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1), z = vtpu_ref(k, 2);
    VBCAST_F32(4, 2.0f);
    for (uint32_t v = 0; v < 512 / 8; v++) {
        VLD(1, x + v * 4096);
        VLD(2, y + v * 4096);
        VADD_F32(3, 1, 2);
        VMUL_F32(3, 3, 4);
        VSIN(3, 3);
        VST(3, z + v * 4096);
    }
}

VTPU_KERNEL(add_sin_f32_b512, add_sin_f32_b512_body,
            .operands = {VTPU_IN(VTPU_F32, tile_ij, 512, 128),
                         VTPU_IN(VTPU_F32, tile_ij, 512, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, tile_ij, 512, 128)});
