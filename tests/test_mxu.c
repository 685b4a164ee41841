/*
 * test_mxu.c - the matrix units (mxu.c) through custom-2 (xtpu.c).
 *
 * Matmuls of random f32, bf16 and i8 operands on 128- and 256-wide MXUs,
 * accumulated over several MATMULs, against a host matmul that follows
 * the documented order of operations (so f32 results match bit for bit),
 * and every misuse with the detail it reports.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h"
#include "mxu.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define NE VTPU_VREG_ELEMS
#define L VTPU_LANES
#define TEST_PC 0x00100080u

typedef struct fixture {
    vtpu_chip *chip;
    vtpu_tc *tc;
    uint64_t rng;
} fixture;

static fixture *make(const char *gen)
{
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, gen, err, sizeof(err)), 0);
    cfg.num_tcs = 1;
    cfg.vmem_size = 1u << 20;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        fail_msg("vtpu_chip_new: %s", err);
    fixture *fx = calloc(1, sizeof(*fx));
    fx->chip = chip;
    fx->tc = chip->tcs[0];
    vtpu_tc_reset(fx->tc, 1);
    fx->tc->pc = TEST_PC;
    fx->tc->state = VTPU_TC_RUNNING;
    fx->rng = 0x1234567887654321ull;
    return fx;
}

static int setup128(void **state)
{
    alarm(240);
    *state = make("v5p");
    return 0;
}

static int setup256(void **state)
{
    alarm(240);
    *state = make("v6e");
    assert_int_equal(((fixture *)*state)->chip->cfg.mxu_dim, 256);
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    vtpu_chip_free(fx->chip);
    free(fx);
    return 0;
}

static int run1(vtpu_tc *tc, uint32_t raw)
{
    assert_true(vtpu_xtpu_valid(raw));
    vtpu_insn in = {0};
    in.imm = (int32_t)raw;
    in.rd = XTPU_RD(raw);
    in.rs1 = XTPU_RS1(raw);
    in.rs2 = XTPU_RS2(raw);
    tc->state = VTPU_TC_RUNNING;
    return vtpu_xtpu_exec(tc, &in);
}

static void ok(vtpu_tc *tc, uint32_t raw)
{
    if (run1(tc, raw))
        fail_msg("0x%08x faulted: %s", raw, tc->err.detail);
}

static uint32_t push(unsigned mxu, unsigned dt, unsigned va, unsigned cb)
{
    return enc_r(XTPU_OPC_MXU, dt, XTPU_MXU_PUSH, mxu, va, cb);
}

static uint32_t matmul(unsigned acc, unsigned dt, unsigned va, unsigned mxu)
{
    return enc_r(XTPU_OPC_MXU, dt, XTPU_MXU_MATMUL, acc, va, mxu);
}

static uint32_t pop(unsigned vd, unsigned acc, unsigned mxu)
{
    return enc_r(XTPU_OPC_MXU, 0, XTPU_MXU_POP, vd, acc, mxu);
}

static uint32_t clr(unsigned mxu, unsigned what)
{
    return enc_r(XTPU_OPC_MXU, what, XTPU_MXU_CLR, 0, 0, mxu);
}

static float rnd(uint64_t *s)
{
    return (float)((double)test_rand32(s) / 4294967296.0 * 4.0 - 2.0);
}

static float fb(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/*
 * Host model of one matmul: element (r, n) of the logical LHS/RHS in f32
 * (already widened), product in the documented order.
 */
static void host_matmul(const float *A, const float *B, float *C, unsigned R,
                        unsigned K, unsigned N)
{
    for (unsigned r = 0; r < R; r++)
        for (unsigned n = 0; n < N; n++) {
            float c = 0.0f;
            for (unsigned k = 0; k < K; k++) {
                float p = A[r * K + k] * B[k * N + n];
                c = c + p;
            }
            C[r * N + n] = c;
        }
}

/* Element (row, col) of the logical matrix held by vreg v as type dt. */
static float elem(const vtpu_vreg *v, unsigned dt, unsigned row, unsigned col)
{
    unsigned e = row * L + col;
    if (dt == XTPU_DT_F32)
        return v->f[e];
    if (dt == XTPU_DT_BF16)
        return fb(((v->u[e / 2] >> (16 * (e % 2))) & 0xFFFF) << 16);
    return (float)(int8_t)(v->u[e / 4] >> (8 * (e % 4)));
}

static void fill(fixture *fx, unsigned v, unsigned dt)
{
    vtpu_vreg *r = &fx->tc->vpu->v[v];
    for (unsigned i = 0; i < NE; i++) {
        if (dt == XTPU_DT_F32) {
            r->f[i] = rnd(&fx->rng);
        } else if (dt == XTPU_DT_BF16) {
            float a = rnd(&fx->rng), b = rnd(&fx->rng);
            uint32_t ua, ub;
            memcpy(&ua, &a, 4);
            memcpy(&ub, &b, 4);
            r->u[i] = vtpu_bf16_from_f32(ua) | vtpu_bf16_from_f32(ub) << 16;
        } else {
            r->u[i] = test_rand32(&fx->rng);
        }
    }
}

/*
 * Stage a K x N RHS from vregs 0.. (N = 128 * nb, pushing block cb from
 * vregs in turn), multiply `reps` LHS row-blocks (each kb vregs from
 * vreg 20) accumulating into the same accumulators, pop and compare.
 */
static void check_matmul(fixture *fx, unsigned dt, unsigned K, unsigned nb,
                         unsigned reps)
{
    vtpu_tc *tc = fx->tc;
    unsigned rows = vtpu_mxu_rows(dt), N = nb * L, kb = (K + L - 1) / L;
    unsigned nacc = rows / 8 * nb;
    float *B = calloc((size_t)K * N, sizeof(float));
    float *A = calloc((size_t)rows * K, sizeof(float));
    float *P = calloc((size_t)rows * N, sizeof(float));
    float *Cf = calloc((size_t)rows * N, sizeof(float));
    int32_t *Ci = calloc((size_t)rows * N, sizeof(int32_t));

    ok(tc, clr(1, XTPU_CLR_ALL));
    for (unsigned cb = 0; cb < nb; cb++)
        for (unsigned k0 = 0; k0 < K; k0 += rows) {
            fill(fx, 3, dt);
            for (unsigned r = 0; r < rows; r++)
                for (unsigned c = 0; c < L; c++)
                    B[(k0 + r) * N + cb * L + c] =
                        elem(&tc->vpu->v[3], dt, r, c);
            ok(tc, push(1, dt, 3, cb));
        }
    for (unsigned rep = 0; rep < reps; rep++) {
        for (unsigned j = 0; j < kb; j++) {
            fill(fx, 20 + j, dt);
            for (unsigned r = 0; r < rows; r++)
                for (unsigned c = 0; c < L && j * L + c < K; c++)
                    A[r * K + j * L + c] = elem(&tc->vpu->v[20 + j], dt, r, c);
        }
        host_matmul(A, B, P, rows, K, N);
        for (unsigned i = 0; i < rows * N; i++) {
            Cf[i] = rep ? Cf[i] + P[i] : P[i];
            Ci[i] = (int32_t)((uint32_t)(rep ? Ci[i] : 0) +
                              (uint32_t)(int32_t)P[i]);
        }
        ok(tc, matmul(4, dt, 20, 1));
    }
    for (unsigned a = 0; a < nacc; a++) {
        ok(tc, pop(10, 4 + a, 1));
        unsigned g = a / nb, cb = a % nb;
        for (unsigned r = 0; r < 8; r++)
            for (unsigned c = 0; c < L; c++) {
                unsigned i = (g * 8 + r) * N + cb * L + c;
                uint32_t got = tc->vpu->v[10].u[r * L + c], want;
                if (dt == XTPU_DT_I8)
                    want = (uint32_t)Ci[i];
                else
                    memcpy(&want, &Cf[i], 4);
                if (got != want)
                    fail_msg("dt %u K %u N %u acc %u (%u,%u): 0x%08x want "
                             "0x%08x", dt, K, N, 4 + a, r, c, got, want);
            }
    }
    /* popped accumulators are empty again */
    assert_int_equal(run1(tc, pop(10, 4, 1)), -1);
    assert_int_equal(tc->err.kind, VTPU_ERR_MXU);
    free(A);
    free(B);
    free(P);
    free(Cf);
    free(Ci);
}

static void test_matmul_128(void **state)
{
    fixture *fx = *state;
    check_matmul(fx, XTPU_DT_F32, 128, 1, 3);
    check_matmul(fx, XTPU_DT_BF16, 128, 1, 2);
    check_matmul(fx, XTPU_DT_I8, 128, 1, 2);
    check_matmul(fx, XTPU_DT_F32, 24, 1, 1); /* K < 128 */
}

static void test_matmul_256(void **state)
{
    fixture *fx = *state;
    check_matmul(fx, XTPU_DT_F32, 256, 2, 2);
    check_matmul(fx, XTPU_DT_BF16, 256, 2, 1);
    check_matmul(fx, XTPU_DT_I8, 256, 2, 2);
    check_matmul(fx, XTPU_DT_F32, 128, 2, 1);
}

/* The gemm kernel against the plain loop on odd shapes. */
static void test_gemm_kernel(void **state)
{
    fixture *fx = *state;
    const unsigned R = 12, K = 37, N = 48;
    float A[12 * 40], B[37 * 64], C[12 * 50], W[12 * 48];
    for (unsigned i = 0; i < sizeof(A) / 4; i++)
        A[i] = rnd(&fx->rng);
    for (unsigned i = 0; i < sizeof(B) / 4; i++)
        B[i] = rnd(&fx->rng);
    vtpu_mxu_gemm(A, 40, B, 64, C, 50, R, K, N);
    for (unsigned r = 0; r < R; r++)
        for (unsigned n = 0; n < N; n++) {
            float c = 0;
            for (unsigned k = 0; k < K; k++) {
                float p = A[r * 40 + k] * B[k * 64 + n];
                c = c + p;
            }
            W[r * N + n] = c;
            assert_memory_equal(&C[r * 50 + n], &W[r * N + n], 4);
        }
}

/* ------------------------------------------------------------------ */
/* f32 precisions (docs/isa.md, "f32 precision")                        */
/* ------------------------------------------------------------------ */

/* hi = bf16(x) nearest-even, lo = bf16(x - hi), both as f32. */
static void host_split(float x, float *hi, float *lo)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    float h = fb(vtpu_bf16_from_f32(u) << 16);
    float d = x - h;
    memcpy(&u, &d, 4);
    *hi = h;
    *lo = isfinite(h) ? fb(vtpu_bf16_from_f32(u) << 16) : 0.0f;
}

/* The documented passes: DEFAULT hi x hi; HIGH (lo x hi + hi x lo) +
 * hi x hi; HIGHEST the f32 product. */
static void host_matmul_prec(unsigned prec, const float *A, const float *B,
                             float *C, unsigned R, unsigned K, unsigned N)
{
    if (prec == XTPU_PREC_HIGHEST) {
        host_matmul(A, B, C, R, K, N);
        return;
    }
    float *Ah = malloc(R * K * 4), *Al = malloc(R * K * 4);
    float *Bh = malloc(K * N * 4), *Bl = malloc(K * N * 4);
    float *P1 = malloc(R * N * 4), *P2 = malloc(R * N * 4);
    for (unsigned i = 0; i < R * K; i++)
        host_split(A[i], &Ah[i], &Al[i]);
    for (unsigned i = 0; i < K * N; i++)
        host_split(B[i], &Bh[i], &Bl[i]);
    if (prec == XTPU_PREC_DEFAULT) {
        host_matmul(Ah, Bh, C, R, K, N);
    } else {
        host_matmul(Al, Bh, P1, R, K, N);
        host_matmul(Ah, Bl, P2, R, K, N);
        host_matmul(Ah, Bh, C, R, K, N);
        for (unsigned i = 0; i < R * N; i++)
            C[i] = (P1[i] + P2[i]) + C[i];
    }
    free(Ah), free(Al), free(Bh), free(Bl), free(P1), free(P2);
}

/*
 * f32 matmuls at the three precisions: bit for bit the documented passes,
 * and their error against an f64 reference, relative to sum |a_k b_k|
 * (the scale of the rounding errors): ordered DEFAULT > HIGH > HIGHEST
 * and within the bounds docs/isa.md gives.  Operands uniform in [-2, 2)
 * and, as a second distribution, with magnitudes spread over 2^-8..2^8.
 */
static void check_precisions(fixture *fx, unsigned K, unsigned nb)
{
    vtpu_tc *tc = fx->tc;
    static const unsigned precs[3] = {XTPU_PREC_DEFAULT, XTPU_PREC_HIGH,
                                      XTPU_PREC_HIGHEST};
    static const char *const names[3] = {"DEFAULT", "HIGH", "HIGHEST"};
    /* documented bounds of |err| / sum |a b| (docs/isa.md): operand
     * rounding (bf16 unit roundoff u = 2^-8: DEFAULT 2u + u^2, HIGH
     * about 3 u^2) plus f32 accumulation, K * 2^-23 with room */
    double acc = K * 0x1p-23;
    const double bound[3] = {0x1p-7 + 0x1p-16 + acc, 3 * 0x1p-16 + acc, acc};
    unsigned N = nb * L, kb = (K + L - 1) / L;
    float *A = calloc(8 * K, 4), *B = calloc(K * N, 4), *P = calloc(8 * N, 4);
    double emax[3] = {0}, esum[3] = {0};
    unsigned cnt = 0;

    for (unsigned trial = 0; trial < 16; trial++) {
        int spread = trial & 1;
        ok(tc, clr(0, XTPU_CLR_ALL));
        for (unsigned cb = 0; cb < nb; cb++)
            for (unsigned k0 = 0; k0 < K; k0 += 8) {
                for (unsigned i = 0; i < NE; i++) {
                    float v = rnd(&fx->rng);
                    if (spread)
                        v = ldexpf(v, (int)(test_rand32(&fx->rng) % 17) - 8);
                    tc->vpu->v[3].f[i] = v;
                }
                for (unsigned r = 0; r < 8; r++)
                    for (unsigned c = 0; c < L; c++)
                        B[(k0 + r) * N + cb * L + c] =
                            tc->vpu->v[3].f[r * L + c];
                ok(tc, push(0, XTPU_DT_F32, 3, cb));
            }
        for (unsigned j = 0; j < kb; j++)
            for (unsigned r = 0; r < 8; r++)
                for (unsigned c = 0; c < L; c++) {
                    float v = rnd(&fx->rng);
                    if (spread)
                        v = ldexpf(v, (int)(test_rand32(&fx->rng) % 17) - 8);
                    tc->vpu->v[20 + j].f[r * L + c] = v;
                    if (j * L + c < K)
                        A[r * K + j * L + c] = v;
                }
        for (unsigned q = 0; q < 3; q++) {
            ok(tc, matmul(4, precs[q], 20, 0));
            host_matmul_prec(precs[q], A, B, P, 8, K, N);
            for (unsigned cb = 0; cb < nb; cb++) {
                ok(tc, pop(10, 4 + cb, 0));
                for (unsigned r = 0; r < 8; r++)
                    for (unsigned c = 0; c < L; c++) {
                        unsigned n = cb * L + c;
                        float got = tc->vpu->v[10].f[r * L + c];
                        if (memcmp(&got, &P[r * N + n], 4))
                            fail_msg("%s K %u (%u,%u): %a, want %a",
                                     names[q], K, r, n, got, P[r * N + n]);
                        double exact = 0, mag = 0;
                        for (unsigned k = 0; k < K; k++) {
                            double t = (double)A[r * K + k] * B[k * N + n];
                            exact += t;
                            mag += fabs(t);
                        }
                        double e = fabs(got - exact) / mag;
                        emax[q] = fmax(emax[q], e);
                        esum[q] += e;
                        cnt += q == 0;
                    }
            }
        }
    }
    for (unsigned q = 0; q < 3; q++) {
        print_message("K %u: precision %-7s max |err| / sum|ab| %.3e "
                      "(2^%.1f), mean %.3e; bound %.3e\n", K, names[q],
                      emax[q], log2(emax[q]), esum[q] / cnt, bound[q]);
        assert_true(emax[q] < bound[q]);
    }
    assert_true(emax[0] > 16 * emax[1]);
    assert_true(emax[1] > 2 * emax[2]);
    assert_true(esum[0] > 16 * esum[1] && esum[1] > 2 * esum[2]);
    /* pushing more rows after a HIGH/DEFAULT MATMUL: the next one sees
     * them (the engine's bf16 split of the staged RHS is redone) */
    ok(tc, clr(0, XTPU_CLR_ALL));
    for (unsigned k0 = 0; k0 < 16; k0 += 8) {
        for (unsigned i = 0; i < NE; i++)
            tc->vpu->v[3].f[i] = rnd(&fx->rng);
        for (unsigned r = 0; r < 8; r++)
            for (unsigned c = 0; c < L; c++)
                B[(k0 + r) * L + c] = tc->vpu->v[3].f[r * L + c];
        ok(tc, push(0, XTPU_DT_F32, 3, 0));
        for (unsigned r = 0; r < 8; r++)
            for (unsigned c = 0; c < k0 + 8; c++)
                A[r * (k0 + 8) + c] = tc->vpu->v[20].f[r * L + c];
        for (unsigned q = 0; q < 2; q++) {
            ok(tc, matmul(4, precs[q], 20, 0));
            ok(tc, pop(10, 4, 0));
            host_matmul_prec(precs[q], A, B, P, 8, k0 + 8, L);
            assert_memory_equal(tc->vpu->v[10].f, P, 8 * L * 4);
        }
    }
    /* the precisions are MATMUL variants of f32 operands only */
    ok(tc, clr(0, XTPU_CLR_ALL));
    fill(fx, 3, XTPU_DT_BF16);
    ok(tc, push(0, XTPU_DT_BF16, 3, 0));
    memset(&tc->err, 0, sizeof(tc->err));
    assert_int_equal(run1(tc, matmul(4, XTPU_PREC_HIGH, 20, 0)), -1);
    assert_non_null(strstr(tc->err.detail, "LHS is f32 but MXU 0 staged bf16"));
    assert_false(vtpu_xtpu_valid(matmul(4, 5, 20, 0)));
    assert_false(vtpu_xtpu_valid(push(0, XTPU_PREC_HIGH, 3, 0)));
    free(A), free(B), free(P);
}

static void test_precision_128(void **state)
{
    check_precisions(*state, 128, 1);
    check_precisions(*state, 40, 1);
}

static void test_precision_256(void **state)
{
    check_precisions(*state, 256, 2);
}

static void expect_mxu(vtpu_tc *tc, uint32_t raw, const char *detail)
{
    memset(&tc->err, 0, sizeof(tc->err));
    tc->pc = TEST_PC + 4;
    assert_int_equal(run1(tc, raw), -1);
    assert_int_equal(tc->err.kind, VTPU_ERR_MXU);
    assert_int_equal(tc->err.pc, TEST_PC + 4);
    assert_int_equal(tc->state, VTPU_TC_FAULTED);
    if (!strstr(tc->err.detail, detail))
        fail_msg("detail \"%s\" lacks \"%s\"", tc->err.detail, detail);
}

static void test_misuse(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;
    unsigned count = fx->chip->cfg.mxu_count;

    expect_mxu(tc, matmul(0, XTPU_DT_F32, 1, 0), "nothing staged");
    expect_mxu(tc, pop(1, 0, 0), "holds no result");
    expect_mxu(tc, push(count, XTPU_DT_F32, 1, 0), "does not exist");
    expect_mxu(tc, matmul(0, XTPU_DT_F32, 1, count), "does not exist");
    expect_mxu(tc, pop(1, 0, count), "does not exist");
    expect_mxu(tc, clr(count, XTPU_CLR_ALL), "does not exist");
    expect_mxu(tc, push(0, XTPU_DT_F32, 1, 1), "column block 1");

    /* overflow: 16 pushes of 8 rows fill 128, the 17th overflows */
    for (unsigned i = 0; i < 16; i++)
        ok(tc, push(0, XTPU_DT_F32, 1, 0));
    expect_mxu(tc, push(0, XTPU_DT_F32, 1, 0), "staging overflow");
    /* type mismatches */
    expect_mxu(tc, push(0, XTPU_DT_BF16, 1, 0), "holds f32");
    expect_mxu(tc, matmul(0, XTPU_DT_BF16, 1, 0), "LHS is bf16");
    /* accumulator range: f32 LHS needs one accumulator, 31 is fine */
    ok(tc, matmul(31, XTPU_DT_F32, 1, 0));
    ok(tc, pop(2, 31, 0));
    ok(tc, clr(0, XTPU_CLR_STAGING));
    ok(tc, push(0, XTPU_DT_I8, 1, 0)); /* 32 rows */
    expect_mxu(tc, matmul(30, XTPU_DT_I8, 1, 0), "accumulators 30..33");
    /* an f32 accumulator cannot take an i32 product */
    ok(tc, matmul(0, XTPU_DT_I8, 1, 0)); /* accs 0..3 now i32 */
    ok(tc, clr(0, XTPU_CLR_STAGING));
    ok(tc, push(0, XTPU_DT_F32, 1, 0));
    expect_mxu(tc, matmul(2, XTPU_DT_F32, 1, 0), "holds i32");
    /* clearing the accumulators empties them */
    ok(tc, clr(0, XTPU_CLR_ACCS));
    expect_mxu(tc, pop(1, 0, 0), "holds no result");
    /* LHS register range when K > 128 needs a 256-wide MXU: see 256 test */
    /* reserved encodings */
    assert_false(vtpu_xtpu_valid(enc_r(XTPU_OPC_MXU, 3, XTPU_MXU_PUSH, 0, 1,
                                       0)));
    assert_false(vtpu_xtpu_valid(enc_r(XTPU_OPC_MXU, 0, XTPU_MXU_CLR, 0, 0,
                                       0)));
    assert_false(vtpu_xtpu_valid(enc_r(XTPU_OPC_MXU, 1, XTPU_MXU_POP, 0, 0,
                                       0)));
}

static void test_misuse_256(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc;

    /* uneven column blocks */
    for (unsigned i = 0; i < 2; i++)
        ok(tc, push(0, XTPU_DT_F32, 1, 0));
    ok(tc, push(0, XTPU_DT_F32, 1, 1));
    expect_mxu(tc, matmul(0, XTPU_DT_F32, 1, 0), "uneven");
    /* K = 256 needs two LHS vregs */
    ok(tc, clr(0, XTPU_CLR_ALL));
    for (unsigned i = 0; i < 32; i++)
        ok(tc, push(0, XTPU_DT_F32, 1, 0));
    expect_mxu(tc, matmul(0, XTPU_DT_F32, 31, 0), "v31..v32");
    ok(tc, matmul(0, XTPU_DT_F32, 30, 0));
}

/* Through the decoder and interpreter: push, matmul, pop, exit code. */
static void test_program(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip("v5p", 1);
    test_prog p;
    vtpu_run_result res;
    prog_init(&p);
    /* RHS = 16 vregs of 1.0 (K = 128), LHS = 2.0: every output is 256 */
    prog_li(&p, 5, 0x3F800000);
    prog_li(&p, 6, 0x40000000);
    prog_li(&p, 7, 77);
    prog_emit(&p, enc_r(XTPU_OPC_VXFER, 0, XTPU_VBCAST, 1, 5, 0));
    prog_emit(&p, enc_r(XTPU_OPC_VXFER, 0, XTPU_VBCAST, 2, 6, 0));
    for (unsigned i = 0; i < 16; i++)
        prog_emit(&p, push(0, XTPU_DT_F32, 1, 0));
    prog_emit(&p, matmul(3, XTPU_DT_F32, 2, 0));
    prog_emit(&p, pop(4, 3, 0));
    prog_emit(&p, enc_r(XTPU_OPC_VALU, XTPU_CVT_F32_I32_RTZ, XTPU_VCVT, 4, 4,
                        0));
    prog_emit(&p, enc_r(XTPU_OPC_VXFER, 0, XTPU_VEXT, 10, 4, 7)); /* a0 */
    size_t bad = p.n;
    prog_emit(&p, pop(4, 3, 0)); /* second pop: empty */
    prog_exit(&p);
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_MXU);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * bad);
    assert_int_equal(chip->tcs[0]->x[10], 256);
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matmul_128, setup128, teardown),
        cmocka_unit_test_setup_teardown(test_matmul_256, setup256, teardown),
        cmocka_unit_test_setup_teardown(test_gemm_kernel, setup128, teardown),
        cmocka_unit_test_setup_teardown(test_precision_128, setup128,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_precision_256, setup256,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup128, teardown),
        cmocka_unit_test_setup_teardown(test_misuse_256, setup256, teardown),
        cmocka_unit_test_setup_teardown(test_program, setup128, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
