/*
 * xtpu_mxu.c - the MXU seen from a program, through vtpu/xtpu.h:
 * f32, bf16 and i8 matmuls of a (rows x 128) LHS by a staged (128 x 128)
 * RHS, accumulated twice for f32, checked element by element against a
 * scalar matmul computed on the TC.  Exits 0 only if everything matches.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vtpu/xtpu.h>

#pragma GCC optimize("fp-contract=off")

#define L 128

static int failures;

static uint32_t hash(uint32_t i)
{
    uint32_t h = i * 2654435761u;
    return h ^ (h >> 13);
}

/* Integer element of matrix `salt` at linear index i, in [-128, 127]. */
static int32_t ival(uint32_t salt, uint32_t i)
{
    return (int32_t)(hash(i + salt) & 0xFF) - 128;
}

#define SALT_B 0
#define SALT_A 0x10000
#define SALT_A2 0x20000

/* vd = ival(salt, base + linear index) as i32, using v28..v30 */
#define BUILD_I32(vd, salt, base)                                            \
    do {                                                                     \
        VIOTA(LINEAR, vd, (base) + (salt));                                  \
        VBCAST_I32(28, 2654435761u);                                         \
        VMUL_I32(vd, vd, 28);                                                \
        VBCAST_I32(28, 13);                                                  \
        VSRL(29, vd, 28);                                                    \
        VXOR(vd, vd, 29);                                                    \
        VBCAST_I32(28, 0xFF);                                                \
        VAND(vd, vd, 28);                                                    \
        VBCAST_I32(28, 128);                                                 \
        VSUB_I32(vd, vd, 28);                                                \
    } while (0)

/* ... as f32 scaled by `scale` (exact: small integers times 2^-k) */
#define BUILD_F32(vd, salt, base, scale)                                     \
    do {                                                                     \
        BUILD_I32(vd, salt, base);                                           \
        VCVT_I32_F32(vd, vd);                                                \
        VBCAST_F32(30, scale);                                               \
        VMUL_F32(vd, vd, 30);                                                \
    } while (0)

static void fail(const char *what, unsigned r, unsigned n, uint32_t got,
                 uint32_t want)
{
    if (failures < 20)
        printf("FAIL %s: C[%u][%u] = 0x%08lx, want 0x%08lx\n", what, r, n,
               (unsigned long)got, (unsigned long)want);
    failures++;
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* f32 reference for row r (of LHS salt), column n, in k order */
static float ref_f32(uint32_t salt, unsigned r, unsigned n, float sa,
                     float sb)
{
    float c = 0.0f;
    for (unsigned k = 0; k < L; k++) {
        float a = (float)ival(salt, r * L + k) * sa;
        float b = (float)ival(SALT_B, k * L + n) * sb;
        float p = a * b;
        c = c + p;
    }
    return c;
}

static int32_t ref_i32(uint32_t salt, unsigned r, unsigned n)
{
    int32_t c = 0;
    for (unsigned k = 0; k < L; k++)
        c += ival(salt, r * L + k) * ival(SALT_B, k * L + n);
    return c;
}

static void test_f32(void)
{
    MXU_CLR(0);
    for (unsigned t = 0; t < 16; t++) {
        BUILD_F32(5, SALT_B, t * 1024, 0.015625f);
        MXU_PUSH_F32(0, 5, 0);
    }
    BUILD_F32(6, SALT_A, 0, 0.03125f);
    MXU_MATMUL_F32(2, 6, 0);
    BUILD_F32(6, SALT_A2, 0, 0.03125f);
    MXU_MATMUL_F32(2, 6, 0); /* accumulates */
    MXU_POP(7, 2, 0);
    for (unsigned r = 0; r < 8; r++)
        for (unsigned n = 0; n < L; n++) {
            float want = ref_f32(SALT_A, r, n, 0.03125f, 0.015625f);
            want = want + ref_f32(SALT_A2, r, n, 0.03125f, 0.015625f);
            uint32_t got = VEXT_I32(7, r * L + n);
            if (got != fbits(want))
                fail("f32", r, n, got, fbits(want));
        }
}

static void test_bf16(void)
{
    MXU_CLR(1);
    /* bf16 vreg q holds RHS rows 16q .. 16q+15 */
    for (unsigned q = 0; q < 8; q++) {
        BUILD_F32(5, SALT_B, 2 * q * 1024, 0.015625f);
        BUILD_F32(6, SALT_B, (2 * q + 1) * 1024, 0.015625f);
        VPACK_BF16(7, 5, 6);
        MXU_PUSH_BF16(0, 7, 1);
    }
    BUILD_F32(5, SALT_A, 0, 0.03125f);    /* LHS rows 0..7 */
    BUILD_F32(6, SALT_A, 1024, 0.03125f); /* rows 8..15 */
    VPACK_BF16(7, 5, 6);
    MXU_MATMUL_BF16(10, 7, 1); /* rows 0..7 -> acc 10, 8..15 -> acc 11 */
    MXU_POP(8, 10, 1);
    MXU_POP(9, 11, 1);
    for (unsigned r = 0; r < 16; r++)
        for (unsigned n = 0; n < L; n++) {
            float want = ref_f32(SALT_A, r, n, 0.03125f, 0.015625f);
            uint32_t got = r < 8 ? VEXT_I32(8, r * L + n)
                                 : VEXT_I32(9, (r - 8) * L + n);
            if (got != fbits(want))
                fail("bf16", r, n, got, fbits(want));
        }
}

static void test_i8(void)
{
    MXU_CLR(0);
    /* i8 vreg q holds RHS rows 32q .. 32q+31: 4 i32 vregs -> 2 i16 -> i8 */
    for (unsigned q = 0; q < 4; q++) {
        BUILD_I32(11, SALT_B, (4 * q + 0) * 1024);
        BUILD_I32(12, SALT_B, (4 * q + 1) * 1024);
        BUILD_I32(13, SALT_B, (4 * q + 2) * 1024);
        BUILD_I32(14, SALT_B, (4 * q + 3) * 1024);
        VPACK_I16(15, 11, 12);
        VPACK_I16(16, 13, 14);
        VPACK_I8(17, 15, 16);
        MXU_PUSH_I8(0, 17, 0);
    }
    BUILD_I32(11, SALT_A, 0);
    BUILD_I32(12, SALT_A, 1024);
    BUILD_I32(13, SALT_A, 2048);
    BUILD_I32(14, SALT_A, 3072);
    VPACK_I16(15, 11, 12);
    VPACK_I16(16, 13, 14);
    VPACK_I8(17, 15, 16);
    MXU_MATMUL_I8(20, 17, 0); /* 32 rows -> accs 20..23 */
    MXU_POP(18, 20, 0);
    MXU_POP(19, 21, 0);
    MXU_POP(20, 22, 0);
    MXU_POP(21, 23, 0);
    for (unsigned r = 0; r < 32; r++)
        for (unsigned n = 0; n < L; n++) {
            uint32_t want = (uint32_t)ref_i32(SALT_A, r, n);
            unsigned i = (r % 8) * L + n;
            uint32_t got = r < 8    ? VEXT_I32(18, i)
                           : r < 16 ? VEXT_I32(19, i)
                           : r < 24 ? VEXT_I32(20, i)
                                    : VEXT_I32(21, i);
            if (got != want)
                fail("i8", r, n, got, want);
        }
}

int main(void)
{
    test_f32();
    test_bf16();
    test_i8();
    if (failures) {
        printf("xtpu_mxu: %d failures\n", failures);
        return 1;
    }
    printf("xtpu_mxu: all checks passed\n");
    return 0;
}
