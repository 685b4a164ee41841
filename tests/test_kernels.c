/*
 * test_kernels.c - the TC runtime and the example kernels
 * (firmware/runtime, firmware/kernels), without the host driver.
 *
 * Each case creates a chip through vtpu.h, loads the kernel module ELF,
 * writes random input arrays and a launch descriptor (vtpu-launch.h) into
 * HBM, runs the module on 1 or 2 TCs with the descriptor's offset as run
 * argument 0, and compares the outputs with a host C reference.  Arrays
 * that do and do not divide into blocks; the bytes around every output
 * must be left alone (masked write-back).  Bad descriptors must end with
 * the runtime's exit code and message, never with an engine fault.
 */
#include <float.h>
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
#include "kernel_harness.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define HBM_SIZE (512ull << 20)

static int setup(void **state)
{
    alarm(120); /* a hang fails the test instead of blocking the suite */
    *state = kt_new(HBM_SIZE, 0x9e3779b97f4a7c15ull);
    return 0;
}

static float rnd_f32(kt *t, float lo, float hi)
{
    return lo + (hi - lo) * rnd_unit(t);
}

static uint64_t put_f32_random(kt *t, size_t n, float lo, float hi,
                               float **host)
{
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        h[i] = rnd_f32(t, lo, hi);
    uint64_t at = hbm_alloc(t, n * 4);
    hbm_put(t, at, h, n * 4);
    *host = h;
    return at;
}

static uint32_t total_steps(const vtpu_launch_status *st, unsigned ntcs)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < ntcs; i++)
        n += st[i].steps;
    return n;
}

static uint32_t cdiv(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

/* ------------------------------------------------------------------ */
/* The module                                                           */
/* ------------------------------------------------------------------ */

static void test_kernel_table(void **state)
{
    kt *t = *state;
    static const char *const names[] = {
        "add_sin_f32", "add_mul_i32", "matmul_f32",
        "gather_rows", "scale_any",   "row_scale_acc",
        "copy_block",  "nop0",        "nop3"};
    uint32_t n;
    const uint8_t *tab = kernel_table(t, &n);
    assert_true(n >= sizeof(names) / sizeof(names[0])); /* + the library */
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint32_t k = kernel_index(t, names[i]);
        vtpu_kernel_entry e;
        memcpy(&e, tab + k * sizeof(e), sizeof(e));
        assert_int_equal(e.magic, VTPU_KERNEL_MAGIC);
        assert_int_equal(e.abi, VTPU_KERNEL_ABI);
        assert_int_equal(e.size, sizeof(e));
        assert_true(e.body >= VTPU_IMEM_BASE);
    }
    uint32_t mm = kernel_index(t, "matmul_f32");
    vtpu_kernel_entry e;
    memcpy(&e, tab + mm * sizeof(e), sizeof(e));
    assert_int_equal(e.operands[2].role, VTPU_ROLE_OUT);
    assert_int_equal(e.operands[0].block[0], 128);
    assert_int_equal(e.operands[0].rank, 2);
    assert_int_equal(e.operands[3].role, VTPU_ROLE_NONE);
    /* A matmul's output is (M, N): not declared like an input. */
    assert_int_equal(e.operands[2].shape_like, VTPU_LIKE_NONE);
    assert_int_equal(e.operands[2].dtype_like, VTPU_LIKE_NONE);
    /* add_sin_f32's o is declared like x (its dtype is fixed);
     * copy_block's o like x in shape and dtype. */
    memcpy(&e, tab + kernel_index(t, "add_sin_f32") * sizeof(e), sizeof(e));
    assert_int_equal(e.operands[2].shape_like, VTPU_LIKE(0));
    assert_int_equal(e.operands[2].dtype_like, VTPU_LIKE_NONE);
    assert_int_equal(e.operands[0].shape_like, VTPU_LIKE_NONE);
    memcpy(&e, tab + kernel_index(t, "copy_block") * sizeof(e), sizeof(e));
    assert_int_equal(e.operands[1].shape_like, VTPU_LIKE(0));
    assert_int_equal(e.operands[1].dtype_like, VTPU_LIKE(0));
    assert_int_equal(e.operands[1].reserved, 0);
    /* A gather's output has as many rows as indices: not declared. */
    memcpy(&e, tab + kernel_index(t, "gather_rows") * sizeof(e), sizeof(e));
    assert_int_equal(e.operands[1].shape_like, VTPU_LIKE_NONE);
}

/* ------------------------------------------------------------------ */
/* Seed workload                                                        */
/* ------------------------------------------------------------------ */

/* o = sin((x + y) * 2) (f32) or (x + y) * 2 (i32) over (rows, cols)
 * arrays with (8,128) blocks, grid (rows/8, cols/128). */
static void seed_case(kt *t, int is_f32, uint32_t rows, uint32_t cols,
                      unsigned ntcs, const uint8_t *sem)
{
    size_t n = (size_t)rows * cols;
    uint32_t shape[2] = {rows, cols};
    uint32_t grid[2] = {cdiv(rows, 8), cdiv(cols, 128)};
    unsigned grank = cols <= 128 ? 1 : 2;
    float *x, *y;
    uint64_t hx, hy, ho;
    if (is_f32) {
        hx = put_f32_random(t, n, -4.0f, 4.0f, &x);
        hy = put_f32_random(t, n, -4.0f, 4.0f, &y);
    } else {
        x = malloc(n * 4);
        y = malloc(n * 4);
        for (size_t i = 0; i < n; i++) {
            ((uint32_t *)x)[i] = test_rand32(&t->rng);
            ((uint32_t *)y)[i] = test_rand32(&t->rng);
        }
        hx = hbm_alloc(t, n * 4);
        hy = hbm_alloc(t, n * 4);
        hbm_put(t, hx, x, n * 4);
        hbm_put(t, hy, y, n * 4);
    }
    ho = out_alloc(t, n * 4);

    vtpu_launch L;
    launch_init(&L, kernel_index(t, is_f32 ? "add_sin_f32" : "add_mul_i32"),
                grank, grid, sem);
    unsigned dt = is_f32 ? VTPU_F32 : VTPU_I32;
    launch_operand(&L, hx, dt, 2, shape);
    launch_operand(&L, hy, dt, 2, shape);
    launch_operand(&L, ho, dt, 2, shape);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs),
                     grid[0] * (grank == 2 ? grid[1] : 1));

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_f32) {
            float s = (x[i] + y[i]) * 2.0f;
            float ref = (float)sin((double)s);
            double err = fabs((double)o[i] - ref) /
                         fmax(fabs((double)ref), (double)FLT_MIN);
            if (!(err <= worst))
                worst = err;
        } else {
            uint32_t ref = (((uint32_t *)x)[i] + ((uint32_t *)y)[i]) * 2u;
            if (((uint32_t *)o)[i] != ref)
                fail_msg("i32 element %zu: %u, expected %u", i,
                         ((uint32_t *)o)[i], ref);
        }
    }
    if (!(worst <= 1e-6))
        fail_msg("(%u,%u) on %u TCs: max relative error %g", rows, cols, ntcs,
                 worst);
    check_guard(t, ho, n * 4);
    free(x);
    free(y);
    free(o);
}

/* The seed workload (docs/kernels.md, "Cost of a grid step"): grid 512 of
 * (8,128) f32 blocks, 2 TCs. */
static void test_seed_grid512(void **state)
{
    kt *t = *state;
    seed_case(t, 1, 512 * 8, 128, 2, NULL);
    printf("seed workload, grid 512 of (8,128) f32 blocks, 2 TCs: %.2f ms "
           "(whole run: start-up, descriptor, grid)\n",
           t->last_run_s * 1e3);
}

static void test_seed_f32_shapes(void **state)
{
    kt *t = *state;
    static const uint8_t par_arb[2] = {VTPU_PARALLEL, VTPU_ARBITRARY};
    static const uint8_t arb_par[2] = {VTPU_ARBITRARY, VTPU_PARALLEL};
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        seed_case(t, 1, 64, 128, ntcs, NULL);    /* divides */
        seed_case(t, 1, 100, 200, ntcs, NULL);   /* does not, 2-D grid */
        seed_case(t, 1, 5, 70, ntcs, NULL);      /* one partial block */
        seed_case(t, 1, 24, 384, ntcs, par_arb); /* split on dim 0 only */
        seed_case(t, 1, 24, 384, ntcs, arb_par); /* no split: TC 0 */
        seed_case(t, 1, 8 * 13 + 1, 128, ntcs, NULL);
    }
}

static void test_seed_i32_shapes(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        seed_case(t, 0, 512 * 8, 128, ntcs, NULL);
        seed_case(t, 0, 100, 200, ntcs, NULL);
        seed_case(t, 0, 3, 130, ntcs, NULL);
    }
}

/* Work split: leading parallel dims flattened, contiguous ranges. */
static void test_split(void **state)
{
    kt *t = *state;
    static const uint8_t par_par[2] = {VTPU_PARALLEL, VTPU_PARALLEL};
    static const uint8_t arb[2] = {VTPU_ARBITRARY, VTPU_ARBITRARY};
    uint32_t shape[2] = {8 * 13, 128 * 3};
    uint32_t grid[2] = {13, 3};
    size_t n = (size_t)shape[0] * shape[1];
    float *x, *y;
    uint64_t hx = put_f32_random(t, n, -1, 1, &x);
    uint64_t hy = put_f32_random(t, n, -1, 1, &y);
    uint64_t ho = out_alloc(t, n * 4);
    vtpu_launch L;
    vtpu_launch_status st[2];

    launch_init(&L, kernel_index(t, "add_sin_f32"), 2, grid, par_par);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, hy, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    run_ok(t, &L, 2, st);
    assert_int_equal(st[0].steps, 20); /* 39 points: 20 + 19 */
    assert_int_equal(st[1].steps, 19);

    memcpy(L.semantics, arb, 2);
    run_ok(t, &L, 2, st);
    assert_int_equal(st[0].steps, 39);
    assert_int_equal(st[1].steps, 0);
    assert_int_equal(st[1].blocks_in, 0);

    /* grid rank 0: one step, on TC 0 */
    uint32_t one[2] = {8, 128};
    launch_init(&L, kernel_index(t, "add_sin_f32"), 0, NULL, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, one);
    launch_operand(&L, hy, VTPU_F32, 2, one);
    launch_operand(&L, ho, VTPU_F32, 2, one);
    run_ok(t, &L, 2, st);
    assert_int_equal(st[0].steps, 1);
    assert_int_equal(st[1].steps, 0);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------ */
/* Matmul                                                               */
/* ------------------------------------------------------------------ */

/* The MXU's order: per 128-wide k block, a sequential f32 sum from +0,
 * added to an empty accumulator (+0), then to the output block. */
static float matmul_ref(const float *a, const float *b, uint32_t K, uint32_t N,
                        uint32_t m, uint32_t n)
{
    float o = 0.0f;
    for (uint32_t k0 = 0; k0 < K; k0 += 128) {
        float p = 0.0f;
        for (uint32_t k = k0; k < k0 + 128 && k < K; k++) {
            float prod = a[(size_t)m * K + k] * b[(size_t)k * N + n];
            p = p + prod;
        }
        float acc = 0.0f + p;
        o = o + acc;
    }
    return o;
}

static void matmul_case_k(kt *t, const char *kname, uint32_t M, uint32_t N,
                          uint32_t K, unsigned ntcs)
{
    static const uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL,
                                   VTPU_ARBITRARY};
    float *a, *b;
    uint64_t ha = put_f32_random(t, (size_t)M * K, -1, 1, &a);
    uint64_t hb = put_f32_random(t, (size_t)K * N, -1, 1, &b);
    uint64_t ho = out_alloc(t, (size_t)M * N * 4);
    uint32_t sa[2] = {M, K}, sb[2] = {K, N}, so[2] = {M, N};
    uint32_t grid[3] = {cdiv(M, 128), cdiv(N, 128), cdiv(K, 128)};

    vtpu_launch L;
    launch_init(&L, kernel_index(t, kname), 3, grid, sem);
    launch_operand(&L, ha, VTPU_F32, 2, sa);
    launch_operand(&L, hb, VTPU_F32, 2, sb);
    launch_operand(&L, ho, VTPU_F32, 2, so);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), grid[0] * grid[1] * grid[2]);
    /* each output block is written back exactly once */
    uint32_t outs = 0;
    for (unsigned i = 0; i < ntcs; i++)
        outs += st[i].blocks_out;
    assert_int_equal(outs, grid[0] * grid[1]);

    float *o = malloc((size_t)M * N * 4);
    hbm_get(t, ho, o, (size_t)M * N * 4);
    double worst = 0;
    for (uint32_t m = 0; m < M; m++)
        for (uint32_t n = 0; n < N; n++) {
            float ref = matmul_ref(a, b, K, N, m, n);
            double err = fabs((double)o[(size_t)m * N + n] - ref) /
                         fmax(fabs((double)ref), 1.0);
            if (!(err <= worst))
                worst = err;
        }
    if (!(worst <= 1e-6))
        fail_msg("%s %ux%ux%u on %u TCs: max error %g", kname, M, N, K, ntcs,
                 worst);
    check_guard(t, ho, (size_t)M * N * 4);
    free(a);
    free(b);
    free(o);
}

static void matmul_case(kt *t, uint32_t M, uint32_t N, uint32_t K,
                        unsigned ntcs)
{
    matmul_case_k(t, "matmul_f32", M, N, K, ntcs);
}

static void test_matmul(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        matmul_case(t, 256, 256, 384, ntcs); /* divides into blocks */
        matmul_case(t, 200, 300, 260, ntcs); /* does not, in any dim */
        matmul_case(t, 8, 128, 100, ntcs);   /* one partial block */
    }
}

/* ------------------------------------------------------------------ */
/* Scalar prefetch: gather                                              */
/* ------------------------------------------------------------------ */

/* Block copies of x the pipeline must make: one per run of equal
 * consecutive (idx[i], j) in each TC's range of i (grid dim 0 split). */
static uint32_t gather_expected_in(const int32_t *idx, uint32_t G,
                                   uint32_t cblocks, unsigned ntcs)
{
    uint32_t n = 0;
    for (unsigned tc = 0; tc < ntcs; tc++) {
        uint32_t lo = (tc * G + ntcs - 1) / ntcs;
        uint32_t hi = ((tc + 1) * G + ntcs - 1) / ntcs;
        for (uint32_t i = lo; i < hi; i++)
            if (cblocks > 1 || i == lo || idx[i] != idx[i - 1])
                n += cblocks;
    }
    return n;
}

/* gather_rows; gather_rows_buf3 (Buffered); gather_rows_n (the grid's
 * first extent from scalar 0, o two row blocks longer than it fills). */
enum { GATHER, GATHER_BUF3, GATHER_N };

static void gather_case_k(kt *t, int kind, uint32_t R, uint32_t C, uint32_t G,
                          unsigned ntcs, int repeats)
{
    static const char *const kn[] = {"gather_rows", "gather_rows_buf3",
                                     "gather_rows_n"};
    uint32_t nb = cdiv(R, 8);
    int32_t *idx = malloc(G * 4);
    for (uint32_t i = 0; i < G; i++)
        idx[i] = (repeats && i % 3) ? idx[i - 1]
                                    : (int32_t)(test_rand32(&t->rng) % nb);
    idx[G - 1] = nb - 1; /* the partial block, if any */

    float *x;
    uint64_t hx = put_f32_random(t, (size_t)R * C, -8, 8, &x);
    uint32_t orows = G * 8 - 2; /* the last o block is partial too */
    uint32_t arows = kind == GATHER_N ? G * 8 + 14 : orows;
    uint64_t ho = out_alloc(t, (size_t)arows * C * 4);
    uint32_t sx[2] = {R, C}, so[2] = {arows, C};
    uint32_t grid[2] = {G, cdiv(C, 128)};

    vtpu_launch L;
    if (kind == GATHER_N) {
        uint32_t dyn[2] = {VTPU_GRID_SCALAR(0), grid[1]};
        int32_t *sc = malloc((G + 1) * 4);
        sc[0] = (int32_t)G;
        memcpy(sc + 1, idx, G * 4);
        launch_init(&L, kernel_index(t, kn[kind]), 2, dyn, NULL);
        launch_scalars(t, &L, sc, G + 1);
        free(sc);
        orows = G * 8;
    } else {
        launch_init(&L, kernel_index(t, kn[kind]), 2, grid, NULL);
        launch_scalars(t, &L, idx, G);
    }
    launch_operand(&L, hx, VTPU_F32, 2, sx);
    launch_operand(&L, ho, VTPU_F32, 2, so);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), G * grid[1]);

    uint32_t ins = 0;
    for (unsigned i = 0; i < ntcs; i++)
        ins += st[i].blocks_in;
    assert_int_equal(ins, gather_expected_in(idx, G, grid[1], ntcs));

    float *o = malloc((size_t)orows * C * 4);
    hbm_get(t, ho, o, (size_t)orows * C * 4);
    for (uint32_t r = 0; r < orows; r++) {
        uint32_t src = (uint32_t)idx[r / 8] * 8 + r % 8;
        for (uint32_t c = 0; c < C; c++) {
            float ref = src < R ? x[(size_t)src * C + c] : 0.0f;
            float got = o[(size_t)r * C + c];
            if (memcmp(&got, &ref, 4))
                fail_msg("%s o[%u][%u] = %g, expected %g (x row %u)", kn[kind],
                         r, c, got, ref, src);
        }
    }
    /* gather_rows_n: the row blocks past n are not written */
    if (arows > orows) {
        size_t nb = (size_t)(arows - orows) * C * 4;
        uint8_t *rest = malloc(nb);
        hbm_get(t, ho + (size_t)orows * C * 4, rest, nb);
        for (size_t i = 0; i < nb; i++)
            if (rest[i] != KT_SENTINEL)
                fail_msg("%s: byte %zu after the %u gathered rows written",
                         kn[kind], i, orows);
        free(rest);
    }
    check_guard(t, ho, (size_t)arows * C * 4);
    free(idx);
    free(x);
    free(o);
}

static void gather_case(kt *t, uint32_t R, uint32_t C, uint32_t G,
                        unsigned ntcs, int repeats)
{
    gather_case_k(t, GATHER, R, C, G, ntcs, repeats);
}

static void test_gather(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        gather_case(t, 64, 128, 12, ntcs, 1);         /* inline scalars */
        gather_case(t, 8 * 20 - 3, 128, 40, ntcs, 1); /* from HBM */
        gather_case(t, 8 * 9 - 5, 200, 16, ntcs, 0);  /* 2 column blocks */
    }
}

/*
 * 40,000 indices: 160 KB of scalars, more than the runtime's 64 KiB SMEM
 * heap that used to hold them; they now sit at the end of SMEM.  Then an
 * index map that reads one past them: the fault names the kernel, the
 * grid point the map ran for, the index and the array's length.
 */
static void test_gather_many_scalars(void **state)
{
    kt *t = *state;
    gather_case(t, 8 * 50 - 3, 128, 40000, 2, 0);

    uint32_t nidx = 20, sx[2] = {64, 128}, so[2] = {8 * (nidx + 1), 128};
    uint32_t grid[2] = {nidx + 1, 1};
    int32_t idx[20];
    for (unsigned i = 0; i < nidx; i++)
        idx[i] = (int32_t)(test_rand32(&t->rng) % 8);
    reset_hbm(t);
    float *x;
    uint64_t hx = put_f32_random(t, 64 * 128, -1, 1, &x);
    uint64_t ho = out_alloc(t, (size_t)so[0] * 128 * 4);
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "gather_rows"), 2, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, sx);
    launch_operand(&L, ho, VTPU_F32, 2, so);
    launch_scalars(t, &L, idx, nidx);
    vtpu_run_result res;
    assert_int_equal(run_raw(t, &L, 1, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_OOB);
    assert_int_equal(res.error.space, VTPU_SPACE_SMEM);
    if (!strstr(res.error.detail,
                "an index map of kernel 'gather_rows' at grid point (20, 0) "
                "read s[20], past the launch's 20 scalar-prefetch values"))
        fail_msg("fault detail: %s", res.error.detail);
    free(x);
}

/* ------------------------------------------------------------------ */
/* Dynamic grids: extents from scalar-prefetch values                   */
/* ------------------------------------------------------------------ */

static void test_dynamic_grid(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        gather_case_k(t, GATHER_N, 64, 128, 12, ntcs, 1);
        gather_case_k(t, GATHER_N, 8 * 9 - 5, 200, 17, ntcs, 0);
        gather_case_k(t, GATHER_N, 8 * 20 - 3, 128, 1, ntcs, 0);
    }

    /* n = 0: nothing runs, nothing is written, no error */
    reset_hbm(t);
    float *x;
    uint32_t sx[2] = {64, 128}, so[2] = {64, 128};
    uint64_t hx = put_f32_random(t, 64 * 128, -1, 1, &x);
    uint64_t ho = out_alloc(t, 64 * 128 * 4);
    uint32_t grid[2] = {VTPU_GRID_SCALAR(0), 1};
    int32_t sc[3] = {0, 1, 2};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "gather_rows_n"), 2, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, sx);
    launch_operand(&L, ho, VTPU_F32, 2, so);
    launch_scalars(t, &L, sc, 3);
    vtpu_launch_status st[2];
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        run_ok(t, &L, ntcs, st);
        assert_int_equal(total_steps(st, ntcs), 0);
        assert_int_equal(st[0].blocks_in + st[0].blocks_out, 0);
        uint8_t *ob = malloc(64 * 128 * 4);
        hbm_get(t, ho, ob, 64 * 128 * 4);
        for (unsigned i = 0; i < 64 * 128 * 4; i++)
            if (ob[i] != KT_SENTINEL)
                fail_msg("grid of 0 points wrote byte %u of o", i);
        free(ob);
    }
    /* the body sees the resolved extent: vtpu_num_programs() */
    sc[0] = 2;
    launch_scalars(t, &L, sc, 3);
    run_ok(t, &L, 2, st);
    assert_int_equal(total_steps(st, 2), 2);
    free(x);
}

/* ------------------------------------------------------------------ */
/* Buffered(n): block buffers per operand                               */
/* ------------------------------------------------------------------ */

/* add_sin_f32 with other buffer counts over (R, C); returns TC 0's
 * max_prefetch after checking o against the host. */
static uint32_t buffered_case_f(kt *t, const char *kname, uint32_t R,
                                uint32_t C, unsigned ntcs, uint32_t flags)
{
    float *x, *y;
    size_t n = (size_t)R * C;
    reset_hbm(t);
    uint64_t hx = put_f32_random(t, n, -4, 4, &x);
    uint64_t hy = put_f32_random(t, n, -4, 4, &y);
    uint64_t ho = out_alloc(t, n * 4);
    uint32_t shape[2] = {R, C}, grid[2] = {cdiv(R, 8), cdiv(C, 128)};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, kname), 2, grid, NULL);
    L.flags |= flags;
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, hy, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), grid[0] * grid[1]);
    uint32_t ins = 0, outs = 0;
    for (unsigned i = 0; i < ntcs; i++) {
        ins += st[i].blocks_in;
        outs += st[i].blocks_out;
    }
    assert_int_equal(ins, 2 * grid[0] * grid[1]);
    assert_int_equal(outs, grid[0] * grid[1]);

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (size_t i = 0; i < n; i++) {
        float ref = sinf((x[i] + y[i]) * 2.0f);
        /* VSIN is within 1 ulp of the correctly rounded result */
        if (!(fabsf(o[i] - ref) <= 2.5e-7f * fmaxf(fabsf(ref), 1.0f)))
            fail_msg("%s (%u, %u) on %u TCs: o[%zu] = %.9g, expected %.9g",
                     kname, R, C, ntcs, i, o[i], ref);
    }
    check_guard(t, ho, n * 4);
    free(x);
    free(y);
    free(o);
    return st[0].max_prefetch;
}

static uint32_t buffered_case(kt *t, const char *kname, uint32_t R, uint32_t C,
                              unsigned ntcs)
{
    return buffered_case_f(t, kname, R, C, ntcs, 0);
}

static void test_buffered(void **state)
{
    kt *t = *state;
    static const struct {
        const char *name;
        uint32_t prefetch; /* sum over inputs of buffers - 1 */
    } k[] = {{"add_sin_f32_buf1", 0},
             {"add_sin_f32", 2},
             {"add_sin_f32_buf3", 4},
             {"add_sin_f32_buf4", 4}};
    for (unsigned i = 0; i < 4; i++)
        for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
            /* divides, does not (edge blocks), one row block, 2-D grid */
            assert_int_equal(buffered_case(t, k[i].name, 8 * 40, 128, ntcs),
                             k[i].prefetch);
            buffered_case(t, k[i].name, 8 * 13 - 3, 300, ntcs);
            buffered_case(t, k[i].name, 5, 128, ntcs);
            buffered_case(t, k[i].name, 8 * 7, 128 * 5, ntcs);
            /* the deep loop under the shuffled order and revisit check */
            buffered_case_f(t, k[i].name, 8 * 13 - 3, 300, ntcs,
                            VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT |
                                (7u << VTPU_LAUNCH_SEED_SHIFT));
        }

    /* the accumulator pattern and data-dependent maps with repeats */
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        reset_hbm(t);
        matmul_case_k(t, "matmul_f32_buf3", 256, 256, 384, ntcs);
        matmul_case_k(t, "matmul_f32_buf3", 200, 300, 260, ntcs);
        reset_hbm(t);
        gather_case_k(t, GATHER_BUF3, 64, 128, 30, ntcs, 1);
        gather_case_k(t, GATHER_BUF3, 8 * 9 - 5, 200, 16, ntcs, 0);
    }
}

/* ------------------------------------------------------------------ */
/* Element-indexed blocks: a convolution with a halo                    */
/* ------------------------------------------------------------------ */

static void conv_case(kt *t, const char *kname, uint32_t R, uint32_t C,
                      unsigned ntcs)
{
    float *x, w[5];
    int32_t ws[5];
    size_t n = (size_t)R * C;
    reset_hbm(t);
    uint64_t hx = put_f32_random(t, n, -2, 2, &x);
    uint64_t ho = out_alloc(t, n * 4);
    for (unsigned i = 0; i < 5; i++) {
        w[i] = rnd_f32(t, -1, 1);
        memcpy(&ws[i], &w[i], 4);
    }
    uint32_t shape[2] = {R, C}, grid[2] = {cdiv(R, 8), cdiv(C, 128)};
    /* the nested form walks that grid itself, in one outer step */
    int nested = strstr(kname, "_nested") != NULL;
    if (nested)
        grid[0] = grid[1] = 1;
    vtpu_launch L;
    launch_init(&L, kernel_index(t, kname), nested ? 1 : 2, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    launch_scalars(t, &L, ws, 5);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), grid[0] * grid[1]);
    if (nested) /* every nested output block written back once */
        assert_int_equal(st[0].blocks_out, cdiv(R, 8) * cdiv(C, 128));

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t c = 0; c < C; c++) {
            float acc = 0.0f;
            for (int k = 0; k < 5; k++) {
                int64_t src = (int64_t)r + k - 2;
                float v = src >= 0 && src < R ? x[(size_t)src * C + c] : 0.0f;
                float p = w[k] * v;
                acc = acc + p;
            }
            float got = o[(size_t)r * C + c];
            if (memcmp(&got, &acc, 4))
                fail_msg("%s (%u, %u) on %u TCs: o[%u][%u] = %.9g, "
                         "expected %.9g",
                         kname, R, C, ntcs, r, c, got, acc);
        }
    check_guard(t, ho, n * 4);
    free(x);
    free(o);
}

/* conv2d_3x3_f32 (lib_conv.c): both dimensions element-indexed with
 * padding (pl.Element(n, padding=(lo, hi))), against a host 3x3
 * correlation of the zero-padded array in the kernel's order. */
static void conv2d_case(kt *t, uint32_t R, uint32_t C, unsigned ntcs)
{
    float *x, w[9];
    int32_t ws[9];
    size_t n = (size_t)R * C;
    reset_hbm(t);
    uint64_t hx = put_f32_random(t, n, -2, 2, &x);
    uint64_t ho = out_alloc(t, n * 4);
    for (unsigned i = 0; i < 9; i++) {
        w[i] = rnd_f32(t, -1, 1);
        memcpy(&ws[i], &w[i], 4);
    }
    uint32_t shape[2] = {R, C}, grid[2] = {cdiv(R, 8), cdiv(C, 128)};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "conv2d_3x3_f32"), 2, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    launch_scalars(t, &L, ws, 9);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), grid[0] * grid[1]);

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t c = 0; c < C; c++) {
            float acc = 0.0f;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    int64_t sr = (int64_t)r + a - 1, sc = (int64_t)c + b - 1;
                    float v = sr >= 0 && sr < R && sc >= 0 && sc < C
                                  ? x[(size_t)sr * C + (size_t)sc]
                                  : 0.0f;
                    float p = w[3 * a + b] * v;
                    acc = acc + p;
                }
            float got = o[(size_t)r * C + c];
            if (memcmp(&got, &acc, 4))
                fail_msg("conv2d_3x3_f32 (%u, %u) on %u TCs: o[%u][%u] = "
                         "%.9g, expected %.9g",
                         R, C, ntcs, r, c, got, acc);
        }
    check_guard(t, ho, n * 4);
    free(x);
    free(o);
}

static void test_element_conv(void **state)
{
    kt *t = *state;
    static const char *const kn[] = {"conv1d_rows_f32", "conv1d_rows_f32_buf3",
                                     "conv1d_rows_f32_pad",
                                     "conv1d_rows_f32_nested"};
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        conv2d_case(t, 64, 256, ntcs); /* divides: every edge is padding */
        conv2d_case(t, 69, 300, ntcs); /* ragged last blocks both ways */
        conv2d_case(t, 5, 100, ntcs);  /* one window, clipped all round */
        conv2d_case(t, 17, 129, ntcs); /* last column block 1 wide */
    }
    for (unsigned i = 0; i < 4; i++)
        for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
            conv_case(t, kn[i], 64, 128, ntcs);        /* divides */
            conv_case(t, kn[i], 8 * 9 - 3, 300, ntcs); /* edges both ways */
            conv_case(t, kn[i], 5, 128, ntcs); /* one window, both clipped */
            conv_case(t, kn[i], 9, 256, ntcs); /* last mostly outside */
        }

    /* a window that does not overlap the array: grid one row block too
     * long, so the last window starts at row 8 * 2 - 2 = 14 of 9 */
    reset_hbm(t);
    uint32_t shape[2] = {9, 128}, grid[2] = {3, 1};
    uint64_t h = hbm_alloc(t, 9 * 128 * 4), ho = hbm_alloc(t, 9 * 128 * 4);
    int32_t ws[5] = {0};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "conv1d_rows_f32"), 2, grid, NULL);
    launch_operand(&L, h, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    launch_scalars(t, &L, ws, 5);
    vtpu_launch_status st[2];
    assert_int_equal(run_launch(t, &L, 1, st), VTPU_LERR_INDEX);
    if (!strstr(t->out, "operand 0: index map gave block (14, 0) at grid "
                        "point (2, 0); dimension 0 is element-indexed: its "
                        "offset 14 must be in (-12, 9)"))
        fail_msg("output: %s", t->out);

    /* with padding (2, 9): the third window starts at padded row 16 and
     * would end at 28, past the padded array of 2 + 9 + 9 = 20 */
    reset_hbm(t);
    launch_init(&L, kernel_index(t, "conv1d_rows_f32_pad"), 2, grid, NULL);
    launch_operand(&L, h, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    launch_scalars(t, &L, ws, 5);
    assert_int_equal(run_launch(t, &L, 1, st), VTPU_LERR_INDEX);
    if (!strstr(t->out, "operand 0: index map gave block (16, 0) at grid "
                        "point (2, 0); dimension 0 is element-indexed with "
                        "padding (2, 9): its offset 16 must be in [0, 8] so "
                        "that the 12 elements lie in the padded array of 20 "
                        "and overlap the array"))
        fail_msg("output: %s", t->out);
}

/* ------------------------------------------------------------------ */
/* ANY operands: the body's own double-buffered DMA                     */
/* ------------------------------------------------------------------ */

static void scale_any_case(kt *t, uint32_t rows, uint32_t P, unsigned ntcs)
{
    float *x;
    size_t n = (size_t)rows * 128;
    uint64_t hx = put_f32_random(t, n, -100, 100, &x);
    uint64_t ho = out_alloc(t, n * 4);
    uint32_t shape[2] = {rows, 128}, grid[1] = {P};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "scale_any"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), P);
    assert_int_equal(st[0].blocks_in, 0); /* the runtime moved nothing */

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (size_t i = 0; i < n; i++) {
        float p = x[i] * 2.0f;
        float ref = p + 1.0f;
        if (memcmp(&o[i], &ref, 4))
            fail_msg("scale_any rows %u: o[%zu] = %g, expected %g", rows, i,
                     o[i], ref);
    }
    check_guard(t, ho, n * 4);
    free(x);
    free(o);
}

/* accumulate_any: o += x with adding DMAs (vtpu_copy_start_add), f32
 * and i32 against the host's sums; bf16 cannot be added. */
static void accumulate_any_case(kt *t, uint32_t rows, uint32_t cols, uint32_t P,
                                unsigned ntcs, unsigned dtype)
{
    size_t n = (size_t)rows * cols;
    uint32_t *x = malloc(n * 4), *o0 = malloc(n * 4), *o = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        if (dtype == VTPU_F32) {
            float a = (rnd_unit(t) - 0.5f) * 1e4f, b = rnd_unit(t) - 0.5f;
            memcpy(&x[i], &a, 4);
            memcpy(&o0[i], &b, 4);
        } else {
            x[i] = test_rand32(&t->rng);
            o0[i] = test_rand32(&t->rng);
        }
    }
    uint64_t hx = hbm_alloc(t, n * 4), ho = hbm_alloc(t, n * 4);
    hbm_put(t, hx, x, n * 4);
    hbm_put(t, ho, o0, n * 4);
    uint32_t shape[2] = {rows, cols}, grid[1] = {P};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "accumulate_any"), 1, grid, NULL);
    launch_operand(&L, hx, dtype, 2, shape);
    launch_operand(&L, ho, dtype, 2, shape);
    run_ok(t, &L, ntcs, NULL);
    hbm_get(t, ho, o, n * 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t want = o0[i] + x[i];
        if (dtype == VTPU_F32) {
            float a, b;
            memcpy(&a, &o0[i], 4);
            memcpy(&b, &x[i], 4);
            a = a + b;
            memcpy(&want, &a, 4);
        }
        if (o[i] != want)
            fail_msg("accumulate_any %ux%u dtype %u: o[%zu] = 0x%08x, "
                     "expected 0x%08x",
                     rows, cols, dtype, i, o[i], want);
    }
    free(x);
    free(o0);
    free(o);
}

static void test_accumulate_any(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        accumulate_any_case(t, 1000, 128, 3, ntcs, VTPU_F32);
        accumulate_any_case(t, 77, 5, 2, ntcs, VTPU_I32);
        accumulate_any_case(t, 5, 128, 4, ntcs, VTPU_F32); /* idle programs */
    }
    /* bf16 elements cannot be added: the DMA says so */
    uint32_t shape[2] = {8, 128}, grid[1] = {1};
    uint64_t hx = hbm_alloc(t, 8 * 128 * 2), ho = hbm_alloc(t, 8 * 128 * 2);
    vtpu_launch L;
    vtpu_run_result res;
    launch_init(&L, kernel_index(t, "accumulate_any"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_BF16, 2, shape);
    launch_operand(&L, ho, VTPU_BF16, 2, shape);
    assert_int_equal(run_raw(t, &L, 1, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_DMA);
    if (!strstr(res.error.detail, "VTPU_DMA_ADD of element type 4"))
        fail_msg("fault detail: %s", res.error.detail);
}

/* The poison check keeps what it knows while other checks are switched:
 * HBM the host wrote with poison on stays written when the bounds check
 * and race detection change; switching poison itself off and on starts
 * afresh (then that HBM was never written). */
static void test_poison_kept(void **state)
{
    kt *t = *state;
    char err[128];
    float *x;
    uint32_t shape[2] = {64, 128}, grid[1] = {2};
    vtpu_launch L;
    vtpu_run_result res;

    assert_int_equal(
        vtpu_chip_set_checks(t->chip, false, true, err, sizeof(err)), 0);
    uint64_t hx = put_f32_random(t, 64 * 128, -4, 4, &x);
    uint64_t ho = out_alloc(t, 64 * 128 * 4);
    launch_init(&L, kernel_index(t, "scale_any"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    vtpu_chip_set_bounds(t->chip, VTPU_BOUNDS_LOGICAL);
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, true, true, err, sizeof(err)), 0);
    run_ok(t, &L, 2, NULL); /* x is still known to be written */
    float *o = malloc(64 * 128 * 4);
    hbm_get(t, ho, o, 64 * 128 * 4);
    for (unsigned i = 0; i < 64 * 128; i++)
        if (o[i] != x[i] * 2.0f + 1.0f)
            fail_msg("o[%u] = %g, want %g", i, o[i], x[i] * 2.0f + 1.0f);

    assert_int_equal(
        vtpu_chip_set_checks(t->chip, false, false, err, sizeof(err)), 0);
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, false, true, err, sizeof(err)), 0);
    assert_int_equal(run_raw(t, &L, 2, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_UNINIT);
    assert_int_equal(res.error.space, VTPU_SPACE_HBM);
    vtpu_chip_set_bounds(t->chip, VTPU_BOUNDS_PADDED);
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, false, false, err, sizeof(err)), 0);
    free(x);
    free(o);
}

/* scale_nested: the same through vtpu_emit_pipeline (nested.c) */
static void scale_nested_case(kt *t, uint32_t rows, uint32_t P, unsigned ntcs)
{
    float *x;
    size_t n = (size_t)rows * 128;
    reset_hbm(t);
    uint64_t hx = put_f32_random(t, n, -100, 100, &x);
    uint64_t ho = out_alloc(t, n * 4);
    uint32_t shape[2] = {rows, 128}, grid[1] = {P};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "scale_nested"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    assert_int_equal(total_steps(st, ntcs), P);
    /* every row block copied in and out once by the nested pipelines */
    uint32_t ins = 0, outs = 0, per = ((rows + P - 1) / P + 7) & ~7u, want = 0;
    for (uint32_t r0 = 0; r0 < rows; r0 += per)
        want += cdiv(rows - r0 < per ? rows - r0 : per, 8);
    for (unsigned i = 0; i < ntcs; i++) {
        ins += st[i].blocks_in;
        outs += st[i].blocks_out;
    }
    assert_int_equal(ins, want);
    assert_int_equal(outs, want);

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (size_t i = 0; i < n; i++) {
        float p = x[i] * 2.0f;
        float ref = p + 1.0f;
        if (memcmp(&o[i], &ref, 4))
            fail_msg("scale_nested rows %u P %u: o[%zu] = %g, expected %g",
                     rows, P, i, o[i], ref);
    }
    check_guard(t, ho, n * 4);
    free(x);
    free(o);
}

/* scale_nested_dyn: the nested grid (s0, s1) from scalars; o in/out */
static void scale_nested_dyn_case(kt *t, uint32_t R, uint32_t C, int32_t s0,
                                  int32_t s1)
{
    float *x, *o0;
    size_t n = (size_t)R * C;
    reset_hbm(t);
    uint64_t hx = put_f32_random(t, n, -100, 100, &x);
    uint64_t ho = put_f32_random(t, n, -100, 100, &o0);
    uint32_t shape[2] = {R, C}, grid[1] = {1};
    int32_t sc[2] = {s0, s1};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "scale_nested_dyn"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    launch_scalars(t, &L, sc, 2);
    vtpu_launch_status st[2];
    run_ok(t, &L, 1, st);
    uint32_t blocks = (uint32_t)s0 * (uint32_t)s1;
    assert_int_equal(st[0].blocks_out, blocks);

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t c = 0; c < C; c++) {
            size_t i = (size_t)r * C + c;
            float ref = o0[i];
            if (r < 8u * (uint32_t)s0 && c < 128u * (uint32_t)s1) {
                float p = x[i] * 2.0f;
                ref = p + 1.0f;
            }
            if (memcmp(&o[i], &ref, 4))
                fail_msg("scale_nested_dyn (%u, %u) grid (%d, %d): o[%u][%u] "
                         "= %g, expected %g",
                         R, C, s0, s1, r, c, o[i], ref);
        }
    free(x);
    free(o0);
    free(o);
}

/* scale_nested2: a nested pipeline inside a nested pipeline's body */
static void scale_nested2_case(kt *t, uint32_t rows, unsigned ntcs)
{
    float *x;
    size_t n = (size_t)rows * 128;
    reset_hbm(t);
    uint64_t hx = put_f32_random(t, n, -100, 100, &x);
    uint64_t ho = out_alloc(t, n * 4);
    uint32_t shape[2] = {rows, 128};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "scale_nested2"), 0, NULL, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, ho, VTPU_F32, 2, shape);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    /* every row block copied in and out once by the innermost pipelines,
     * counted in the launch's status through both levels */
    assert_int_equal(st[0].blocks_in, cdiv(rows, 8));
    assert_int_equal(st[0].blocks_out, cdiv(rows, 8));

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (size_t i = 0; i < n; i++) {
        float p = x[i] * 2.0f;
        float ref = p + 1.0f;
        if (memcmp(&o[i], &ref, 4))
            fail_msg("scale_nested2 rows %u: o[%zu] = %g, expected %g", rows, i,
                     o[i], ref);
    }
    check_guard(t, ho, n * 4);
    free(x);
    free(o);
}

static void test_nested_pipeline(void **state)
{
    kt *t = *state;
    scale_nested2_case(t, 64, 1);
    scale_nested2_case(t, 1000, 1); /* a partial chunk and block */
    scale_nested2_case(t, 5, 1);
    scale_nested_dyn_case(t, 64, 256, 8, 2); /* the whole array */
    scale_nested_dyn_case(t, 69, 300, 3, 2); /* part of it */
    scale_nested_dyn_case(t, 69, 300, 9, 3); /* clipped edge blocks */
    scale_nested_dyn_case(t, 16, 128, 0, 1); /* no nested grid points */

    /* a negative extent from a scalar */
    reset_hbm(t);
    uint32_t shape[2] = {8, 128}, grid[1] = {1};
    uint64_t h = hbm_alloc(t, 8 * 128 * 4);
    int32_t sc[2] = {1, -3};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "scale_nested_dyn"), 1, grid, NULL);
    launch_operand(&L, h, VTPU_F32, 2, shape);
    launch_operand(&L, h, VTPU_F32, 2, shape);
    launch_scalars(t, &L, sc, 2);
    assert_int_equal(run_launch(t, &L, 1, NULL), VTPU_LERR_GRID);
    if (!strstr(t->out, "kernel 'scale_nested_dyn': vtpu_emit_pipeline "
                        "grid[1] is scalar-prefetch value 1 = -3, a negative "
                        "extent"))
        fail_msg("output: %s", t->out);

    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        scale_nested_case(t, 64, 1, ntcs);
        scale_nested_case(t, 1000, 3, ntcs); /* partial last block */
        scale_nested_case(t, 5, 4, ntcs);    /* programs with no rows */
        scale_nested_case(t, 8 * 40, 2, ntcs);
    }
}

static void test_scale_any(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        scale_any_case(t, 1000, 3, ntcs);
        scale_any_case(t, 256, 2, ntcs);
        scale_any_case(t, 5, 4, ntcs); /* programs with no rows */
    }
}

/* ------------------------------------------------------------------ */
/* SMEM operand and an input/output operand                             */
/* ------------------------------------------------------------------ */

static void row_scale_case(kt *t, uint32_t R, uint32_t C, unsigned ntcs)
{
    float *o0, *x, *w;
    size_t n = (size_t)R * C;
    uint64_t ho = put_f32_random(t, n, -1, 1, &o0);
    uint64_t hx = put_f32_random(t, n, -1, 1, &x);
    uint64_t hw = put_f32_random(t, R, -3, 3, &w);
    uint32_t s2[2] = {R, C}, s1[1] = {R};
    uint32_t grid[2] = {cdiv(R, 8), cdiv(C, 128)};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "row_scale_acc"), 2, grid, NULL);
    launch_operand(&L, ho, VTPU_F32, 2, s2);
    launch_operand(&L, hx, VTPU_F32, 2, s2);
    launch_operand(&L, hw, VTPU_F32, 1, s1);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);

    float *o = malloc(n * 4);
    hbm_get(t, ho, o, n * 4);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t c = 0; c < C; c++) {
            size_t i = (size_t)r * C + c;
            float p = x[i] * w[r];
            float ref = o0[i] + p;
            if (memcmp(&o[i], &ref, 4))
                fail_msg("row_scale o[%u][%u] = %g, expected %g", r, c, o[i],
                         ref);
        }
    free(o0);
    free(x);
    free(w);
    free(o);
}

static void test_row_scale(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        row_scale_case(t, 64, 256, ntcs);
        row_scale_case(t, 37, 300, ntcs);
    }
}

/* ------------------------------------------------------------------ */
/* Narrow dtypes: copy_block                                            */
/* ------------------------------------------------------------------ */

static void copy_case(kt *t, unsigned dt, uint32_t R, uint32_t C, unsigned ntcs)
{
    size_t bytes = (size_t)R * C * vtpu_dtype_size(dt);
    uint8_t *x = malloc(bytes), *o = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        x[i] = (uint8_t)test_rand32(&t->rng);
    uint64_t hx = hbm_alloc(t, bytes);
    hbm_put(t, hx, x, bytes);
    uint64_t ho = out_alloc(t, bytes);
    uint32_t shape[2] = {R, C}, grid[2] = {cdiv(R, 16), cdiv(C, 128)};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "copy_block"), 2, grid, NULL);
    launch_operand(&L, hx, dt, 2, shape);
    launch_operand(&L, ho, dt, 2, shape);
    run_ok(t, &L, ntcs, NULL);
    hbm_get(t, ho, o, bytes);
    for (size_t i = 0; i < bytes; i++)
        if (o[i] != x[i])
            fail_msg("copy_block dtype %u (%u,%u): byte %zu is 0x%02x, "
                     "expected 0x%02x",
                     dt, R, C, i, o[i], x[i]);
    check_guard(t, ho, bytes);
    free(x);
    free(o);
}

static void test_copy_dtypes(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        copy_case(t, VTPU_BF16, 37, 300, ntcs);
        copy_case(t, VTPU_I8, 45, 260, ntcs);
        copy_case(t, VTPU_U8, 16, 128, ntcs);
        copy_case(t, VTPU_I16, 20, 130, ntcs);
        copy_case(t, VTPU_F32, 17, 129, ntcs);
        copy_case(t, VTPU_U32, 3, 5, ntcs);
    }
}

/* ------------------------------------------------------------------ */
/* Overhead per grid step                                               */
/* ------------------------------------------------------------------ */

static void test_step_overhead(void **state)
{
    kt *t = *state;
    vtpu_launch L;
    vtpu_launch_status st[1];
    uint32_t grid[1] = {4096}, big[1] = {1u << 20};

    launch_init(&L, kernel_index(t, "nop0"), 1, big, NULL);
    run_ok(t, &L, 1, st);
    assert_int_equal(st[0].steps, 1u << 20);
    double nop0 = (double)st[0].loop_insns / st[0].steps;
    double nop0_ns = t->last_run_s * 1e9 / st[0].steps;

    uint32_t shape[2] = {4096 * 8, 128};
    uint64_t h = hbm_alloc(t, (size_t)shape[0] * shape[1] * 4);
    launch_init(&L, kernel_index(t, "nop3"), 1, grid, NULL);
    for (unsigned i = 0; i < 3; i++)
        launch_operand(&L, h, VTPU_F32, 2, shape);
    run_ok(t, &L, 1, st); /* the first run pays for touching HBM pages */
    run_ok(t, &L, 1, st);
    assert_int_equal(st[0].blocks_in, 2 * 4096);
    assert_int_equal(st[0].blocks_out, 4096);
    double nop3 = (double)st[0].loop_insns / st[0].steps;
    double nop3_ns = t->last_run_s * 1e9 / st[0].steps;

    printf("grid-step overhead: %.1f instructions, %.0f ns (no operands); "
           "%.1f instructions, %.0f ns (2 inputs + 1 output, (8,128) f32 "
           "blocks)\n",
           nop0, nop0_ns, nop3, nop3_ns);
    assert_true(nop0 < 40);
    assert_true(nop3 < 400);
}

/* ------------------------------------------------------------------ */
/* Bad launches                                                         */
/* ------------------------------------------------------------------ */

/* A launch that must end with `code` and a message containing `msg`,
 * printed once (by TC 0 for descriptor errors), with no engine fault;
 * then a good launch must still work. */
static void expect_error(kt *t, const vtpu_launch *L, unsigned ntcs,
                         uint32_t code, const char *msg)
{
    vtpu_launch_status st[2];
    int rc = run_launch(t, L, ntcs,
                        L->magic == VTPU_LAUNCH_MAGIC &&
                                L->version == VTPU_LAUNCH_VERSION &&
                                L->size == sizeof(*L)
                            ? st
                            : NULL);
    if (rc != (int)code || !strstr(t->out, msg))
        fail_msg("expected exit %u (%s) with \"%s\", got %d:\n%s", code,
                 vtpu_launch_err_name(code), msg, rc, t->out);
    if (!strstr(t->out, vtpu_launch_err_name(code)))
        fail_msg("message does not name the error:\n%s", t->out);
}

static void seed_launch(kt *t, vtpu_launch *L, uint64_t *hx)
{
    uint32_t shape[2] = {64, 128}, grid[1] = {8};
    uint64_t h = hbm_alloc(t, 64 * 128 * 4 * 3);
    launch_init(L, kernel_index(t, "add_sin_f32"), 1, grid, NULL);
    for (unsigned i = 0; i < 3; i++)
        launch_operand(L, h + i * 64 * 128 * 4, VTPU_F32, 2, shape);
    *hx = h;
}

static void test_bad_launches(void **state)
{
    kt *t = *state;
    vtpu_launch L;
    uint64_t h;

    seed_launch(t, &L, &h);
    L.magic = 0x12345678;
    expect_error(t, &L, 2, VTPU_LERR_MAGIC, "no launch descriptor at HBM");
    assert_null(strstr(strstr(t->out, "TC 0") + 1, "vtpu-rt")); /* once */

    seed_launch(t, &L, &h);
    L.version = 7;
    expect_error(t, &L, 1, VTPU_LERR_MAGIC, "version 7");

    seed_launch(t, &L, &h);
    L.flags |= 0x80;
    expect_error(t, &L, 1, VTPU_LERR_FLAGS, "unknown launch flags 0x81");

    seed_launch(t, &L, &h);
    L.kernel = 999; /* the module has the library too (test_kernel_lib.c) */
    expect_error(t, &L, 2, VTPU_LERR_KERNEL,
                 "kernel index 999, but the "
                 "module has ");

    seed_launch(t, &L, &h);
    L.num_operands = 2;
    expect_error(t, &L, 1, VTPU_LERR_OPERANDS,
                 "launch has 2 operands, kernel 'add_sin_f32' takes 3");

    seed_launch(t, &L, &h);
    L.operands[1].dtype = VTPU_I32;
    expect_error(t, &L, 1, VTPU_LERR_DTYPE,
                 "operand 1 is i32, kernel 'add_sin_f32' takes f32");

    seed_launch(t, &L, &h);
    L.operands[2].dtype = 42;
    expect_error(t, &L, 1, VTPU_LERR_DTYPE, "operand 2: unknown dtype 42");

    seed_launch(t, &L, &h);
    L.operands[0].rank = 3;
    L.operands[0].shape[2] = 1;
    expect_error(t, &L, 1, VTPU_LERR_RANK,
                 "operand 0 has rank 3, kernel 'add_sin_f32' blocks it "
                 "with rank 2");

    seed_launch(t, &L, &h);
    L.operands[1].shape[0] = 0;
    expect_error(t, &L, 1, VTPU_LERR_SHAPE, "operand 1: shape[0] is 0");

    seed_launch(t, &L, &h);
    L.grid[0] = 0;
    expect_error(t, &L, 1, VTPU_LERR_GRID, "grid[0] is 0");

    /* Dynamic grids: the scalar must exist, be >= 0, and the grid stay
     * under 2^32 points; the message names the kernel and the scalar. */
    seed_launch(t, &L, &h);
    L.grid[0] = VTPU_GRID_SCALAR(2);
    {
        int32_t sc[2] = {3, 4};
        launch_scalars(t, &L, sc, 2);
        expect_error(t, &L, 2, VTPU_LERR_GRID,
                     "kernel 'add_sin_f32': grid[0] is scalar-prefetch value "
                     "2, but the launch has 2");
        int32_t neg[3] = {3, 4, -5};
        launch_scalars(t, &L, neg, 3);
        expect_error(t, &L, 2, VTPU_LERR_GRID,
                     "kernel 'add_sin_f32': grid[0] is scalar-prefetch value "
                     "2 = -5, a negative extent");
        int32_t big[3] = {1 << 30, 0, 1 << 30};
        launch_scalars(t, &L, big, 3);
        L.grid_rank = 2;
        L.grid[1] = VTPU_GRID_SCALAR(0);
        expect_error(t, &L, 1, VTPU_LERR_GRID,
                     "kernel 'add_sin_f32': more than 2^32 - 1 grid points "
                     "(grid[1] = 1073741824, from a scalar)");
    }

    seed_launch(t, &L, &h);
    L.grid_rank = 5;
    expect_error(t, &L, 1, VTPU_LERR_GRID, "grid rank 5");

    seed_launch(t, &L, &h);
    L.semantics[0] = 2;
    expect_error(t, &L, 1, VTPU_LERR_SEMANTICS, "semantics[0] = 2");

    seed_launch(t, &L, &h);
    L.vmem_size = 8192;
    expect_error(t, &L, 2, VTPU_LERR_VMEM, "8192 bytes of VMEM");

    seed_launch(t, &L, &h);
    L.num_sems = 4;
    expect_error(t, &L, 1, VTPU_LERR_SEMS, "needs 7 semaphores");

    /* An index map that leaves the array, half-way through the grid on
     * TC 1, with block copies in flight: the runtime drains them (no
     * "semaphore non-zero" fault) and reports where. */
    {
        int32_t idx[8] = {0, 1, 2, 3, 4, 5, 9, 7};
        uint32_t sx[2] = {64, 128}, grid[2] = {8, 1};
        launch_init(&L, kernel_index(t, "gather_rows"), 2, grid, NULL);
        launch_operand(&L, h, VTPU_F32, 2, sx);
        launch_operand(&L, h + 64 * 128 * 4, VTPU_F32, 2, sx);
        launch_scalars(t, &L, idx, 8);
        expect_error(t, &L, 2, VTPU_LERR_INDEX,
                     "TC 1: block index out of range: operand 0: index map "
                     "gave block (9, 0) at grid point (6, 0); the array has "
                     "(8, 1) blocks");
        launch_scalars(t, &L, idx, 0);
        expect_error(t, &L, 1, VTPU_LERR_SCALARS,
                     "kernel 'gather_rows' needs 1 scalar-prefetch values");
    }

    /* VMEM rows of bf16 / i8 that are not whole words at the edge. */
    {
        uint32_t s[2] = {16, 101}, grid[2] = {1, 1};
        launch_init(&L, kernel_index(t, "copy_block"), 2, grid, NULL);
        for (unsigned i = 0; i < 2; i++)
            launch_operand(&L, h, VTPU_BF16, 2, s);
        expect_error(t, &L, 1, VTPU_LERR_BLOCK,
                     "operand 0 (bf16): VMEM block rows of 128 elements "
                     "(array rows 101) are not whole 32-bit words");
        L.operands[0].dtype = L.operands[1].dtype = VTPU_I8;
        L.operands[0].shape[1] = L.operands[1].shape[1] = 130;
        expect_error(t, &L, 1, VTPU_LERR_BLOCK, "operand 0 (i8)");
        L.operands[0].shape[1] = 132;
        L.operands[1].shape[1] = 132;
        L.operands[1].dtype = VTPU_U8;
        /* o is declared with x's dtype (and shape). */
        expect_error(t, &L, 1, VTPU_LERR_DTYPE,
                     "operand 1 is u8, declared like operand 0, i8");
        L.operands[1].dtype = VTPU_I8;
        L.operands[1].shape[0] = 32;
        expect_error(t, &L, 1, VTPU_LERR_SHAPE,
                     "operand 1 is (32, 132), declared like operand 0, "
                     "(16, 132)");
    }

    /* The body gives up: vtpu_fail(). */
    {
        uint32_t sx[2] = {16, 64}, so[2] = {16, 64}, grid[1] = {2};
        launch_init(&L, kernel_index(t, "scale_any"), 1, grid, NULL);
        launch_operand(&L, h, VTPU_F32, 2, sx);
        launch_operand(&L, h + 64 * 128 * 4, VTPU_F32, 2, so);
        expect_error(t, &L, 2, VTPU_LERR_KERNEL_FAIL,
                     "kernel 'scale_any' at grid point (0): scale_any takes "
                     "x and o of the same shape");
    }

    /* The chip is still usable. */
    seed_case(t, 1, 16, 128, 2, NULL);
}

/* An async copy outside its operand, with another one in flight. */
static void test_bad_copy(void **state)
{
    kt *t = *state;
    load_module(t, KT_SELFTEST);
    float *x;
    uint64_t hx = put_f32_random(t, 64, -1, 1, &x);
    uint32_t shape[1] = {64};
    int32_t at[1] = {56};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "copy_oob"), 0, NULL, NULL);
    launch_operand(&L, hx, VTPU_F32, 1, shape);
    launch_scalars(t, &L, at, 1);
    run_ok(t, &L, 1, NULL); /* elements 56..63: fine */
    at[0] = 60;
    launch_scalars(t, &L, at, 1);
    expect_error(t, &L, 2, VTPU_LERR_COPY,
                 "vtpu_copy_in: operand 0: elements 60..68 of dimension 0, "
                 "which has 64");
    free(x);
}

/* selftest bad_like: an output declared like itself is a malformed
 * table entry; scalar_past: a body reading s[n] of n scalars is named. */
static void test_bad_declarations(void **state)
{
    kt *t = *state;
    load_module(t, KT_SELFTEST);
    uint32_t shape[2] = {8, 128};
    uint64_t ho = out_alloc(t, 8 * 128 * 4);
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "bad_like"), 0, NULL, NULL);
    launch_operand(&L, ho, VTPU_I32, 2, shape);
    expect_error(t, &L, 1, VTPU_LERR_TABLE,
                 "kernel 'bad_like': operand 0 is declared like itself or "
                 "no operand (shape_like 1, dtype_like 0, 1 operands)");
    launch_init(&L, kernel_index(t, "bad_buffers"), 0, NULL, NULL);
    launch_operand(&L, ho, VTPU_I32, 2, shape);
    expect_error(t, &L, 1, VTPU_LERR_TABLE,
                 "kernel 'bad_buffers': operand 0 asks for 5 block buffers "
                 "(1 to 4, blocked operands only)");

    launch_init(&L, kernel_index(t, "bad_pad"), 0, NULL, NULL);
    launch_operand(&L, ho, VTPU_I32, 2, shape);
    expect_error(t, &L, 1, VTPU_LERR_TABLE,
                 "kernel 'bad_pad': operand 0 dimension 1 has padding (1, 1) "
                 "but is not an element-indexed dimension (VTPU_ELEMENT) of a "
                 "blocked operand");
    launch_init(&L, kernel_index(t, "bad_ext"), 0, NULL, NULL);
    launch_operand(&L, ho, VTPU_I32, 2, shape);
    expect_error(t, &L, 1, VTPU_LERR_TABLE,
                 "has magic 0x584b5456, version 2, size 528; this runtime "
                 "reads 0x584b5456, 1, 528");

    int32_t s[3] = {7, 8, 9};
    launch_init(&L, kernel_index(t, "scalar_past"), 0, NULL, NULL);
    launch_operand(&L, ho, VTPU_I32, 2, shape);
    launch_scalars(t, &L, s, 3);
    vtpu_run_result res;
    assert_int_equal(run_raw(t, &L, 1, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_OOB);
    if (!strstr(res.error.detail, "the body of kernel 'scalar_past' at grid "
                                  "point () read s[3], past the launch's 3 "
                                  "scalar-prefetch values"))
        fail_msg("fault detail: %s", res.error.detail);
}

/* selftest sem_read: pltpu.semaphore_read from a kernel body, on 1 and 2
 * TCs (values in selftest.c). */
static void test_sem_read(void **state)
{
    kt *t = *state;
    load_module(t, KT_SELFTEST);
    enum { G = 5 };
    uint32_t grid[1] = {G}, shape[2] = {G * 8, 128};
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        uint64_t ho = out_alloc(t, G * 8 * 128 * 4);
        int32_t s0[1] = {1000};
        vtpu_launch L;
        launch_init(&L, kernel_index(t, "sem_read"), 1, grid, NULL);
        launch_operand(&L, ho, VTPU_I32, 2, shape);
        launch_scalars(t, &L, s0, 1);
        run_ok(t, &L, ntcs, NULL);
        uint32_t *o = malloc(G * 8 * 128 * 4);
        hbm_get(t, ho, o, G * 8 * 128 * 4);
        for (uint32_t g = 0; g < G; g++) {
            uint32_t n = 1000 + g;
            /* TC of grid point g: TC 0 takes the first ceil(G / ntcs) */
            uint32_t tc = ntcs == 1 ? 0 : g >= (G + 1) / 2;
            const uint32_t want[8] = {0, n, n + 5, 256 + 4 * g,
                                      5, 0, tc,    0xFFFFFFFFu};
            for (unsigned i = 0; i < 8; i++)
                if (o[g * 1024 + i] != want[i])
                    fail_msg("%u TCs, grid point %u, value %u: %u, want %u",
                             ntcs, g, i, o[g * 1024 + i], want[i]);
        }
        free(o);
    }
}

/*
 * Two TCs write one output block (selftest race_out): with the race
 * check on (docs/debugging.md) the run stops with a report naming both
 * DMAs and their grid points; without it the launch "works".
 */
static void test_race_report(void **state)
{
    kt *t = *state;
    load_module(t, KT_SELFTEST);
    float *x;
    uint64_t hx = put_f32_random(t, 4 * 8 * 128, -1, 1, &x);
    uint64_t hy = hbm_alloc(t, 8 * 128 * 4);
    uint32_t in[2] = {32, 128}, out[2] = {8, 128}, grid[1] = {4};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "race_out"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, in);
    launch_operand(&L, hy, VTPU_F32, 2, out);
    char err[128];
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, true, false, err, sizeof(err)), 0);
    vtpu_run_result res;
    assert_int_equal(run_raw(t, &L, 2, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_RACE);
    assert_int_equal(res.error.space, VTPU_SPACE_HBM);
    assert_int_equal(res.error.addr, hy);
    assert_int_equal(res.error.len, 8 * 128 * 4);
    /* TC 0 does grid points 0, 1; TC 1 does 2, 3: each writes block 0
     * after its last point. */
    if (!strstr(t->out, "vtpu: DATA RACE on HBM") ||
        !strstr(t->out, "write by DMA issued by TC") ||
        !strstr(t->out, "previous write by DMA issued by TC") ||
        !strstr(t->out, "grid (1)") || !strstr(t->out, "grid (3)"))
        fail_msg("unexpected report:\n%s", t->out);
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, false, false, err, sizeof(err)), 0);
    run_ok(t, &L, 2, NULL); /* unchecked: no report */
    free(x);
}

/* core_map_shift_f32 (firmware/kernels/coremap.c): a per-core kernel on
 * 1 and 2 TCs against a host reference, with races checked; without its
 * semaphore barrier a race on VMEM_SHARED between the two TCs; a grid
 * is refused. */
static void test_core_map(void **state)
{
    kt *t = *state;
    const uint32_t R = 64;
    char err[128];
    /* poison first: it knows only the HBM written while it is on */
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, true, true, err, sizeof(err)), 0);
    float *x;
    uint64_t hx = put_f32_random(t, R * 128, -4, 4, &x);
    uint64_t hy = out_alloc(t, R * 128 * 4);
    uint32_t shape[2] = {R, 128};

    for (unsigned n = 1; n <= 2; n++) {
        vtpu_launch L;
        launch_init(&L, kernel_index(t, "core_map_shift_f32"), 0, NULL, NULL);
        launch_operand(&L, hx, VTPU_F32, 2, shape);
        launch_operand(&L, hy, VTPU_F32, 2, shape);
        run_ok(t, &L, n, NULL);
        float *y = malloc(R * 128 * 4);
        hbm_get(t, hy, y, R * 128 * 4);
        for (uint32_t c = 0, rows = R / n; c < n; c++)
            for (uint32_t i = 0; i < rows * 128; i++) {
                float want = x[((c + 1) % n) * rows * 128 + i] + (1.0f + c);
                if (y[c * rows * 128 + i] != want)
                    fail_msg("%u TCs: y[%u] = %g, want %g", n,
                             c * rows * 128 + i, y[c * rows * 128 + i], want);
            }
        check_guard(t, hy, R * 128 * 4);
        free(y);
    }

    /* scalar 0 = 1: no barrier.  Races only: with poison too, a core may
     * read its neighbour's rows before they were written at all, and its
     * write-back of that is reported first, as an uninitialised read. */
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, true, false, err, sizeof(err)), 0);
    vtpu_launch L;
    int32_t s[1] = {1};
    launch_init(&L, kernel_index(t, "core_map_shift_f32"), 0, NULL, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, hy, VTPU_F32, 2, shape);
    launch_scalars(t, &L, s, 1);
    vtpu_run_result res;
    assert_int_equal(run_raw(t, &L, 2, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_RACE);
    assert_int_equal(res.error.space, VTPU_SPACE_VMEM);
    if (!strstr(t->out, "vtpu: DATA RACE on VMEM_SHARED") ||
        !strstr(t->out, "TC 0") || !strstr(t->out, "TC 1"))
        fail_msg("unexpected report:\n%s", t->out);

    /* a per-core kernel has no grid */
    uint32_t grid[1] = {2};
    launch_init(&L, kernel_index(t, "core_map_shift_f32"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, hy, VTPU_F32, 2, shape);
    assert_int_equal(run_launch(t, &L, 2, NULL), VTPU_LERR_GRID);
    assert_int_equal(
        vtpu_chip_set_checks(t->chip, false, false, err, sizeof(err)), 0);
    free(x);
}

/* nested_stray (selftest.elf) stores 8 rows into a nested pipeline's
 * (1, 128) block buffer: the bounds check sees the nested pipeline's
 * buffers (published while it runs) and names the one it left. */
static void test_nested_bounds(void **state)
{
    kt *t = *state;
    load_module(t, KT_SELFTEST);
    float *x;
    uint64_t hx = put_f32_random(t, 4 * 128, -4, 4, &x);
    uint64_t hy = out_alloc(t, 4 * 128 * 4);
    uint32_t shape[2] = {4, 128}, grid[1] = {1};
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "nested_stray"), 1, grid, NULL);
    launch_operand(&L, hx, VTPU_F32, 2, shape);
    launch_operand(&L, hy, VTPU_F32, 2, shape);
    vtpu_run_result res;
    assert_int_equal(run_raw(t, &L, 1, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_BOUNDS);
    if (!strstr(t->out, "ACCESS LEAVES ITS BUFFER: vst") ||
        !strstr(t->out, "nested_stray_inner") ||
        !strstr(t->out, "starts in emit_pipeline 1's operand 1's block "
                        "buffer 0 (1,128) x 4 bytes"))
        fail_msg("unexpected report:\n%s", t->out);
    free(x);
}

/* edge_add1 (selftest.elf) loads whole (8,128) blocks of a (13, 128)
 * array: fine with buffer bounds padded, a report with logical; its
 * masked form passes both. */
static void test_buffer_bounds_modes(void **state)
{
    kt *t = *state;
    load_module(t, KT_SELFTEST);
    float *x;
    uint64_t hx = put_f32_random(t, 13 * 128, -4, 4, &x);
    uint64_t hy = out_alloc(t, 13 * 128 * 4);
    uint32_t shape[2] = {13, 128}, grid[1] = {2};
    float y[13 * 128];

    for (unsigned mode = VTPU_BOUNDS_PADDED; mode <= VTPU_BOUNDS_LOGICAL;
         mode++)
        for (int32_t masked = 0; masked <= 1; masked++) {
            vtpu_chip_set_bounds(t->chip, mode);
            vtpu_launch L;
            launch_init(&L, kernel_index(t, "edge_add1"), 1, grid, NULL);
            launch_operand(&L, hx, VTPU_F32, 2, shape);
            launch_operand(&L, hy, VTPU_F32, 2, shape);
            launch_scalars(t, &L, &masked, 1);
            if (mode == VTPU_BOUNDS_LOGICAL && !masked) {
                vtpu_run_result res;
                assert_int_equal(run_raw(t, &L, 1, &res), -1);
                assert_int_equal(res.error.kind, VTPU_ERR_BOUNDS);
                if (!strstr(t->out, "READ OF BLOCK PADDING") ||
                    !strstr(t->out, "elements (5, 0)..(5, 127)") ||
                    !strstr(t->out, "grid (1)"))
                    fail_msg("unexpected report:\n%s", t->out);
                continue;
            }
            run_ok(t, &L, 1, NULL);
            hbm_get(t, hy, y, sizeof(y));
            for (unsigned i = 0; i < 13 * 128; i++)
                assert_true(y[i] == x[i] + 1.0f);
            check_guard(t, hy, sizeof(y));
        }
    vtpu_chip_set_bounds(t->chip, VTPU_BOUNDS_PADDED);
    free(x);
}

/* A descriptor offset outside HBM is the engine's bad-DMA fault. */
static void test_descriptor_outside_hbm(void **state)
{
    kt *t = *state;
    vtpu_run_opts opts = {.num_tcs = 1, .args = {0, 0x100}};
    vtpu_run_result res;
    assert_int_equal(vtpu_chip_run(t->chip, &opts, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_DMA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kernel_table, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_seed_grid512, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_seed_f32_shapes, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_seed_i32_shapes, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_split, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_matmul, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_gather, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_dynamic_grid, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_buffered, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_element_conv, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_nested_pipeline, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_gather_many_scalars, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_declarations, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_scale_any, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_accumulate_any, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_poison_kept, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_row_scale, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_copy_dtypes, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_step_overhead, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_launches, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_copy, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_race_report, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_sem_read, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_descriptor_outside_hbm, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_core_map, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_buffer_bounds_modes, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_nested_bounds, setup, kt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
