/*
 * bench_kernels.c - the kernel library on the engine against native C
 * computing the same thing in the same run (issue 4's speed targets).
 * Launches go through the engine API, as tests/test_kernels.c does: the
 * descriptor is written to HBM and the module runs on the TCs; a timed
 * launch is that write plus vtpu_chip_run (no process start, no ELF load).
 * One JSON line per workload:
 *   {"bench":"kernels","workload":W,...,"seconds":S,"native_seconds":T,
 *    "ratio":S/T,"check":"ok"}
 * Times are medians over repetitions.
 * Usage: bench_kernels [--quick] [--only WORKLOAD] [KERNELS_ELF]
 *   --quick: small sizes (CI smoke run); --only: one workload (seed,
 *   seed_checks, bounds, seed_driver, seed512, matmul, sort, sort_long,
 *   attention, steps, launch)
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench-util.h"
#include "host_platform.h"
#include "vtpu-launch.h"
#include "vtpu.h"
#include "vtpu_rt.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

#define DESC_OFF 0x1000ull
#define ARRAYS_OFF 0x100000ull
#define HBM_SIZE (2ull << 30)

typedef struct bench {
    vtpu_chip *chip;
    uint8_t *elf;
    size_t elf_len;
    uint64_t next;
    bool quick;
    const char *only;
} bench;

typedef struct arr {
    uint64_t hbm;
    unsigned dtype, rank;
    uint32_t shape[3];
} arr;

static void die(const char *msg)
{
    fprintf(stderr, "bench_kernels: %s\n", msg);
    exit(1);
}

static uint32_t kernel_index(const bench *b, const char *name)
{
    return bench_kernel_index(b->elf, name);
}

static arr new_arr(bench *b, unsigned dtype, uint32_t r, uint32_t c,
                   const void *data, size_t isz)
{
    arr a = {b->next, dtype, 2, {r, c, 0}};
    size_t bytes = (size_t)r * c * isz;
    b->next = (b->next + bytes + 4095) & ~4095ull;
    if (b->next > HBM_SIZE)
        die("out of HBM");
    if (data && vtpu_hbm_write(b->chip, a.hbm, data, bytes))
        die("hbm write");
    return a;
}

static void get(bench *b, const arr *a, void *p, size_t isz)
{
    size_t n =
        (size_t)a->shape[0] * a->shape[1] * (a->rank == 3 ? a->shape[2] : 1);
    if (vtpu_hbm_read(b->chip, a->hbm, p, n * isz))
        die("hbm read");
}

/* One launch; returns its wall time. */
static double launch(bench *b, const char *name, unsigned grank,
                     const uint32_t *grid, const uint8_t *sem, const arr *ops,
                     unsigned nops, const int32_t *sc, unsigned nsc,
                     unsigned ntcs)
{
    vtpu_launch L;
    memset(&L, 0, sizeof(L));
    L.magic = VTPU_LAUNCH_MAGIC;
    L.version = VTPU_LAUNCH_VERSION;
    L.size = sizeof(L);
    L.kernel = kernel_index(b, name);
    L.grid_rank = (uint8_t)grank;
    for (unsigned d = 0; d < grank; d++) {
        L.grid[d] = grid[d];
        L.semantics[d] = sem ? sem[d] : VTPU_PARALLEL;
    }
    L.num_operands = (uint8_t)nops;
    for (unsigned i = 0; i < nops; i++) {
        L.operands[i].hbm = ops[i].hbm;
        L.operands[i].dtype = (uint8_t)ops[i].dtype;
        L.operands[i].rank = (uint8_t)ops[i].rank;
        memcpy(L.operands[i].shape, ops[i].shape, sizeof(ops[i].shape));
    }
    L.num_scalars = nsc;
    if (nsc)
        memcpy(L.scalars, sc, nsc * 4);
    vtpu_run_opts opts = {.num_tcs = ntcs, .args = {DESC_OFF, 0}};
    vtpu_run_result res;
    double t0 = now();
    vtpu_hbm_write(b->chip, DESC_OFF, &L, sizeof(L));
    int rc = vtpu_chip_run(b->chip, &opts, &res);
    double t = now() - t0;
    if (rc || res.exit_code) {
        char msg[512];
        vtpu_error_format(&res.error, msg, sizeof(msg));
        fprintf(stderr, "bench_kernels: %s: rc %d exit %d: %s\n", name, rc,
                res.exit_code, msg);
        exit(1);
    }
    return t;
}

/* ------------------------------------------------------------------ */
/* Seed workload: o = sin((x + y) * 2)                                   */
/* ------------------------------------------------------------------ */

static void native_seed(const float *x, const float *y, float *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = sinf((x[i] + y[i]) * 2.0f);
}

static void bench_seed(bench *b, uint32_t brows, const char *kernel,
                       const char *wl, unsigned reps)
{
    uint32_t steps = 512, rows = steps * brows;
    size_t n = (size_t)rows * 128;
    float *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4),
          *ref = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = rnd(-4, 4);
        y[i] = rnd(-4, 4);
    }
    b->next = ARRAYS_OFF;
    arr ops[3] = {new_arr(b, VTPU_F32, rows, 128, x, 4),
                  new_arr(b, VTPU_F32, rows, 128, y, 4),
                  new_arr(b, VTPU_F32, rows, 128, NULL, 4)};
    double *te = malloc(reps * sizeof(double)),
           *tn = malloc(reps * sizeof(double));
    launch(b, kernel, 1, &steps, NULL, ops, 3, NULL, 0, 2); /* warm */
    for (unsigned r = 0; r < reps; r++)
        te[r] = launch(b, kernel, 1, &steps, NULL, ops, 3, NULL, 0, 2);
    for (unsigned r = 0; r < reps; r++) {
        double t0 = now();
        native_seed(x, y, ref, n);
        tn[r] = now() - t0;
    }
    get(b, &ops[2], o, 4);
    double maxerr = 0;
    for (size_t i = 0; i < n; i++)
        maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));
    double s = median(te, reps), ns = median(tn, reps);
    printf("{\"bench\":\"kernels\",\"workload\":\"%s\",\"grid\":%u,"
           "\"block\":[%u,128],\"tcs\":2,\"seconds\":%.6f,"
           "\"native_seconds\":%.6f,\"ratio\":%.3f,"
           "\"interpret_mode_seconds\":4.27,\"speedup_vs_interpret\":%.0f,"
           "\"check\":\"%s\"}\n",
           wl, steps, brows, s, ns, s / ns, 4.27 / s,
           maxerr < 1e-5 ? "ok" : "MISMATCH");
    free(x);
    free(y);
    free(o);
    free(ref);
    free(te);
    free(tn);
}

/*
 * The seed workload with the race check (and race + poison) on, against
 * the same launches unchecked in the same process (docs/debugging.md:
 * the target is at most 3x).  Interpret mode pays 6.80 s vs 4.27 s.
 */
static void bench_seed_checks(bench *b, unsigned reps)
{
    uint32_t steps = 512, rows = steps * 8;
    size_t n = (size_t)rows * 128;
    float *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4),
          *ref = malloc(n * 4);
    double *t = malloc(reps * sizeof(double)), s[3];
    char err[128];
    for (size_t i = 0; i < n; i++) {
        x[i] = rnd(-4, 4);
        y[i] = rnd(-4, 4);
    }
    native_seed(x, y, ref, n);
    double maxerr = 0;
    for (unsigned mode = 0; mode < 3; mode++) {
        /* Checks first: poison counts only host writes it saw. */
        if (vtpu_chip_set_checks(b->chip, mode > 0, mode > 1, err,
                                 sizeof(err)))
            die(err);
        b->next = ARRAYS_OFF;
        arr ops[3] = {new_arr(b, VTPU_F32, rows, 128, x, 4),
                      new_arr(b, VTPU_F32, rows, 128, y, 4),
                      new_arr(b, VTPU_F32, rows, 128, NULL, 4)};
        launch(b, "add_sin_f32", 1, &steps, NULL, ops, 3, NULL, 0, 2);
        for (unsigned r = 0; r < reps; r++)
            t[r] = launch(b, "add_sin_f32", 1, &steps, NULL, ops, 3, NULL, 0,
                          2);
        s[mode] = median(t, reps);
        get(b, &ops[2], o, 4);
        for (size_t i = 0; i < n; i++)
            maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));
    }
    if (vtpu_chip_set_checks(b->chip, false, false, err, sizeof(err)))
        die(err);
    printf("{\"bench\":\"kernels\",\"workload\":\"seed_8x128_checks\","
           "\"grid\":%u,\"block\":[8,128],\"tcs\":2,"
           "\"seconds_unchecked\":%.6f,\"seconds_race\":%.6f,"
           "\"race_overhead\":%.2f,\"seconds_race_poison\":%.6f,"
           "\"race_poison_overhead\":%.2f,"
           "\"interpret_mode_race_seconds\":6.80,\"check\":\"%s\"}\n",
           steps, s[0], s[1], s[1] / s[0], s[2], s[2] / s[0],
           maxerr < 1e-5 ? "ok" : "MISMATCH");
    free(x);
    free(y);
    free(o);
    free(ref);
    free(t);
}

/*
 * The buffer bounds check (docs/debugging.md, "Buffer bounds"), on by
 * default in vtpu-run: the seed workload (one VLD/VLD/VST and three DMAs
 * per step) and a bf16 matmul (vector-heavy: hundreds of loads/stores per
 * step), each alternating unchecked and checked launches in one process
 * so that both see the same machine load; medians of each.
 */
static uint16_t to_bf16(float f);

static void bench_bounds(bench *b, unsigned reps, unsigned mm)
{
    uint32_t steps = 512, rows = steps * 8;
    size_t n = (size_t)rows * 128, nn = (size_t)mm * mm;
    float *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4),
          *ref = malloc(n * 4);
    uint16_t *xb = malloc(nn * 2), *yb = malloc(nn * 2);
    double *t[2] = {malloc(reps * sizeof(double)),
                    malloc(reps * sizeof(double))};
    double s[2], m[2], maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = rnd(-4, 4);
        y[i] = rnd(-4, 4);
    }
    for (size_t i = 0; i < nn; i++) {
        xb[i] = to_bf16(rnd(-1, 1));
        yb[i] = to_bf16(rnd(-1, 1));
    }
    native_seed(x, y, ref, n);
    b->next = ARRAYS_OFF;
    arr ops[3] = {new_arr(b, VTPU_F32, rows, 128, x, 4),
                  new_arr(b, VTPU_F32, rows, 128, y, 4),
                  new_arr(b, VTPU_F32, rows, 128, NULL, 4)};
    for (unsigned r = 0; r < reps + 1; r++)
        for (unsigned on = 0; on < 2; on++) {
            vtpu_chip_set_bounds(b->chip,
                                 on ? VTPU_BOUNDS_PADDED : VTPU_BOUNDS_OFF);
            double v = launch(b, "add_sin_f32", 1, &steps, NULL, ops, 3, NULL,
                              0, 2);
            if (r)
                t[on][r - 1] = v; /* the first round warms up */
        }
    s[0] = median(t[0], reps);
    s[1] = median(t[1], reps);
    get(b, &ops[2], o, 4);
    for (size_t i = 0; i < n; i++)
        maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));

    b->next = ARRAYS_OFF;
    arr mops[3] = {new_arr(b, VTPU_BF16, mm, mm, xb, 2),
                   new_arr(b, VTPU_BF16, mm, mm, yb, 2),
                   new_arr(b, VTPU_F32, mm, mm, NULL, 4)};
    uint32_t grid[3] = {mm / 256, mm / 128, mm / 128};
    uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY};
    unsigned mreps = reps / 4 ? reps / 4 : 1;
    float *mo[2] = {malloc(nn * 4), malloc(nn * 4)};
    for (unsigned r = 0; r < mreps + 1; r++)
        for (unsigned on = 0; on < 2; on++) {
            vtpu_chip_set_bounds(b->chip,
                                 on ? VTPU_BOUNDS_PADDED : VTPU_BOUNDS_OFF);
            double v = launch(b, "matmul_bf16", 3, grid, sem, mops, 3, NULL, 0,
                              2);
            if (r)
                t[on][r - 1] = v;
            get(b, &mops[2], mo[on], 4);
        }
    vtpu_chip_set_bounds(b->chip, VTPU_BOUNDS_OFF);
    m[0] = median(t[0], mreps);
    m[1] = median(t[1], mreps);
    bool same = !memcmp(mo[0], mo[1], nn * 4);
    printf("{\"bench\":\"kernels\",\"workload\":\"bounds_seed_8x128\","
           "\"grid\":%u,\"block\":[8,128],\"tcs\":2,"
           "\"seconds_unchecked\":%.6f,\"seconds_bounds\":%.6f,"
           "\"bounds_overhead\":%.3f,\"check\":\"%s\"}\n",
           steps, s[0], s[1], s[1] / s[0], maxerr < 1e-5 ? "ok" : "MISMATCH");
    printf("{\"bench\":\"kernels\",\"workload\":\"bounds_matmul_bf16\","
           "\"n\":%u,\"tcs\":2,\"seconds_unchecked\":%.6f,"
           "\"seconds_bounds\":%.6f,\"bounds_overhead\":%.3f,"
           "\"check\":\"%s\"}\n",
           mm, m[0], m[1], m[1] / m[0], same ? "ok" : "MISMATCH");
    free(x);
    free(y);
    free(o);
    free(ref);
    free(xb);
    free(yb);
    free(t[0]);
    free(t[1]);
    free(mo[0]);
    free(mo[1]);
}

/* The seed workload through the driver and runtime over the host
 * platform (the command ring, as vtpu-run and the guest launch): only
 * vtpu_rt_run is timed, the arrays are uploaded first. */
static void bench_seed_driver(bench *b, unsigned reps)
{
    uint32_t steps = 512, rows = steps * 8;
    size_t n = (size_t)rows * 128;
    vtpu_config cfg;
    char err[256];
    if (vtpu_config_preset(&cfg, "v5p", err, sizeof(err)) ||
        vtpu_config_set(&cfg, "hbm-size", "256M", err, sizeof(err)))
        die(err);
    cfg.num_tcs = 2;
    vtpu_host_opts ho = {.arena_size = 16u << 20};
    vtpu_host *host = vtpu_host_new(&cfg, &ho, err, sizeof(err));
    if (!host)
        die(err);
    static vtpu_drv drv;
    static vtpu_rt rt;
    static vtpu_module m;
    if (vtpu_drv_probe(&drv, vtpu_host_platform(host)) ||
        vtpu_drv_init(&drv, 0) || vtpu_rt_init(&rt, &drv, NULL) ||
        vtpu_rt_module_load(&rt, &m, b->elf, b->elf_len))
        die(vtpu_rt_error(&rt));
    float *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = rnd(-4, 4);
        y[i] = rnd(-4, 4);
    }
    vtpu_rt_launch l = {.num_tcs = 2,
                        .grid_rank = 1,
                        .grid = {steps},
                        .semantics = {VTPU_PARALLEL},
                        .num_operands = 3};
    if (vtpu_rt_kernel_find(&rt, &m, "add_sin_f32", &l.kernel))
        die(vtpu_rt_error(&rt));
    const float *src[3] = {x, y, NULL};
    for (unsigned i = 0; i < 3; i++) {
        vtpu_rt_array *a = &l.operands[i];
        a->shape[0] = rows;
        a->shape[1] = 128;
        a->dtype = VTPU_F32;
        a->rank = 2;
        if (vtpu_rt_alloc(&rt, n * 4, 0, &a->hbm) ||
            (src[i] && vtpu_rt_write(&rt, a->hbm, src[i], n * 4)))
            die(vtpu_rt_error(&rt));
    }
    double *te = malloc(reps * sizeof(double));
    for (unsigned r = 0; r <= reps; r++) { /* the first one warms up */
        double t0 = now();
        if (vtpu_rt_run(&rt, &m, &l, NULL))
            die(vtpu_rt_error(&rt));
        if (r)
            te[r - 1] = now() - t0;
    }
    if (vtpu_rt_read(&rt, l.operands[2].hbm, o, n * 4))
        die(vtpu_rt_error(&rt));
    float *ref = malloc(n * 4);
    double *tn = malloc(reps * sizeof(double));
    for (unsigned r = 0; r < reps; r++) {
        double t0 = now();
        native_seed(x, y, ref, n);
        tn[r] = now() - t0;
    }
    double maxerr = 0;
    for (size_t i = 0; i < n; i++)
        maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));
    double ns = median(tn, reps), s = median(te, reps);
    printf("{\"bench\":\"kernels\",\"workload\":\"seed_8x128_driver\","
           "\"grid\":%u,\"block\":[8,128],\"tcs\":2,\"seconds\":%.6f,"
           "\"native_seconds\":%.6f,\"ratio\":%.3f,"
           "\"speedup_vs_interpret\":%.0f,\"check\":\"%s\"}\n",
           steps, s, ns, s / ns, 4.27 / s, maxerr < 1e-5 ? "ok" : "MISMATCH");
    vtpu_rt_fini(&rt);
    vtpu_drv_fini(&drv);
    vtpu_host_free(host);
    free(x);
    free(y);
    free(o);
    free(ref);
    free(te);
    free(tn);
}

/* ------------------------------------------------------------------ */
/* 2048^3 bf16 -> f32 matmul                                             */
/* ------------------------------------------------------------------ */

/* Blocked native matmul, C = A @ B, f32, row-major, n a multiple of 256:
 * a 4 x 16 tile of C in registers, K and N cache blocks of 256. */
CLONES static void native_matmul(const float *A, const float *B, float *C,
                                 unsigned n)
{
    memset(C, 0, (size_t)n * n * 4);
    for (unsigned jb = 0; jb < n; jb += 256)
        for (unsigned kb = 0; kb < n; kb += 256)
            for (unsigned i = 0; i < n; i += 4)
                for (unsigned j = jb; j < jb + 256; j += 16) {
                    float c[4][16];
                    for (unsigned r = 0; r < 4; r++)
                        memcpy(c[r], C + (size_t)(i + r) * n + j, 64);
                    for (unsigned k = kb; k < kb + 256; k++) {
                        const float *bk = B + (size_t)k * n + j;
                        for (unsigned r = 0; r < 4; r++) {
                            float a = A[(size_t)(i + r) * n + k];
                            for (unsigned t = 0; t < 16; t++)
                                c[r][t] += a * bk[t];
                        }
                    }
                    for (unsigned r = 0; r < 4; r++)
                        memcpy(C + (size_t)(i + r) * n + j, c[r], 64);
                }
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static void bench_matmul(bench *b, unsigned n, unsigned reps)
{
    size_t nn = (size_t)n * n;
    uint16_t *xb = malloc(nn * 2), *yb = malloc(nn * 2);
    float *xf = malloc(nn * 4), *yf = malloc(nn * 4), *o = malloc(nn * 4),
          *ref = malloc(nn * 4);
    for (size_t i = 0; i < nn; i++) {
        xb[i] = to_bf16(rnd(-1, 1));
        yb[i] = to_bf16(rnd(-1, 1));
        uint32_t ux = (uint32_t)xb[i] << 16, uy = (uint32_t)yb[i] << 16;
        memcpy(&xf[i], &ux, 4);
        memcpy(&yf[i], &uy, 4);
    }
    b->next = ARRAYS_OFF;
    arr ops[3] = {new_arr(b, VTPU_BF16, n, n, xb, 2),
                  new_arr(b, VTPU_BF16, n, n, yb, 2),
                  new_arr(b, VTPU_F32, n, n, NULL, 4)};
    uint32_t grid[3] = {n / 256, n / 128, n / 128};
    uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY};
    double *te = malloc(reps * sizeof(double)),
           *tn = malloc(reps * sizeof(double));
    for (unsigned r = 0; r < reps; r++)
        te[r] = launch(b, "matmul_bf16", 3, grid, sem, ops, 3, NULL, 0, 2);
    for (unsigned r = 0; r < reps; r++) {
        double t0 = now();
        native_matmul(xf, yf, ref, n);
        tn[r] = now() - t0;
    }
    get(b, &ops[2], o, 4);
    double maxerr = 0;
    for (size_t i = 0; i < nn; i++)
        maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));
    double s = median(te, reps), ns = median(tn, reps);
    double flop = 2.0 * n * n * n;
    printf("{\"bench\":\"kernels\",\"workload\":\"matmul_bf16_f32\","
           "\"m\":%u,\"n\":%u,\"k\":%u,\"tcs\":2,\"seconds\":%.4f,"
           "\"gflops\":%.2f,\"native_seconds\":%.4f,\"native_gflops\":%.2f,"
           "\"fraction_of_native\":%.3f,\"check\":\"%s\"}\n",
           n, n, n, s, flop / s * 1e-9, ns, flop / ns * 1e-9, ns / s,
           maxerr < 1e-3 ? "ok" : "MISMATCH");
    free(xb);
    free(yb);
    free(xf);
    free(yf);
    free(o);
    free(ref);
    free(te);
    free(tn);
}

/* ------------------------------------------------------------------ */
/* Sort with argsort                                                     */
/* ------------------------------------------------------------------ */

typedef struct kv {
    float k;
    int32_t i;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    return x->i - y->i;
}

static void bench_sort(bench *b, uint32_t rows, uint32_t n, unsigned reps)
{
    size_t total = (size_t)rows * n;
    float *x = malloc(total * 4), *o = malloc(total * 4);
    int32_t *idx = malloc(total * 4);
    kv *ref = malloc(n * sizeof(kv));
    for (size_t i = 0; i < total; i++)
        x[i] = rnd(-1000, 1000);
    b->next = ARRAYS_OFF;
    arr ops[3] = {new_arr(b, VTPU_F32, rows, n, x, 4),
                  new_arr(b, VTPU_F32, rows, n, NULL, 4),
                  new_arr(b, VTPU_I32, rows, n, NULL, 4)};
    uint32_t grid = 2;
    int32_t flags = 0;
    double *te = malloc(reps * sizeof(double)),
           *tn = malloc(reps * sizeof(double));
    for (unsigned r = 0; r < reps; r++)
        te[r] = launch(b, "sort_f32", 1, &grid, NULL, ops, 3, &flags, 1, 2);
    get(b, &ops[1], o, 4);
    get(b, &ops[2], idx, 4);
    bool ok = true;
    for (unsigned r = 0; r < reps; r++) {
        double t0 = now();
        for (uint32_t row = 0; row < rows; row++) {
            for (uint32_t i = 0; i < n; i++)
                ref[i] = (kv){x[(size_t)row * n + i], (int32_t)i};
            qsort(ref, n, sizeof(kv), kv_cmp);
            if (r == 0)
                for (uint32_t i = 0; i < n; i++)
                    ok &= ref[i].i == idx[(size_t)row * n + i] &&
                          ref[i].k == o[(size_t)row * n + i];
        }
        tn[r] = now() - t0;
    }
    double s = median(te, reps), ns = median(tn, reps);
    printf("{\"bench\":\"kernels\",\"workload\":\"sort_f32_argsort\","
           "\"rows\":%u,\"n\":%u,\"tcs\":2,\"seconds\":%.6f,"
           "\"native_seconds\":%.6f,\"ratio\":%.2f,\"check\":\"%s\"}\n",
           rows, n, s, ns, s / ns, ok ? "ok" : "MISMATCH");
    free(x);
    free(o);
    free(idx);
    free(ref);
    free(te);
    free(tn);
}

/* ------------------------------------------------------------------ */
/* Flash attention forward                                               */
/* ------------------------------------------------------------------ */

/* Native attention, 8 query rows at a time in axpy form (vectorizes, and
 * K^T / V rows are reused from cache by the 8 rows): s = q K^T with K
 * transposed once per head, softmax, o = p V.  Causal: keys <= query. */
#define NQ 8
CLONES static void native_attn(const float *q, const float *k, const float *v,
                               float *o, unsigned H, unsigned S, unsigned D,
                               int causal, float *kt, float *s)
{
    float scale = 1.0f / sqrtf((float)D);
    for (unsigned h = 0; h < H; h++) {
        const float *qh = q + (size_t)h * S * D, *kh = k + (size_t)h * S * D,
                    *vh = v + (size_t)h * S * D;
        float *oh = o + (size_t)h * S * D;
        for (unsigned j = 0; j < S; j++)
            for (unsigned c = 0; c < D; c++)
                kt[(size_t)c * S + j] = kh[(size_t)j * D + c];
        for (unsigned i0 = 0; i0 < S; i0 += NQ) {
            unsigned nk = causal ? i0 + NQ : S; /* keys any row may see */
            memset(s, 0, (size_t)NQ * S * 4);
            for (unsigned c = 0; c < D; c++) {
                const float *kr = kt + (size_t)c * S;
                for (unsigned r = 0; r < NQ; r++) {
                    float a = qh[(size_t)(i0 + r) * D + c];
                    float *sr = s + (size_t)r * S;
                    for (unsigned j = 0; j < nk; j++)
                        sr[j] += a * kr[j];
                }
            }
            for (unsigned r = 0; r < NQ; r++) {
                float *sr = s + (size_t)r * S, mx = -INFINITY, sum = 0;
                unsigned last = causal ? i0 + r + 1 : S;
                for (unsigned j = 0; j < last; j++) {
                    sr[j] *= scale;
                    mx = sr[j] > mx ? sr[j] : mx;
                }
                for (unsigned j = 0; j < last; j++) {
                    sr[j] = expf(sr[j] - mx);
                    sum += sr[j];
                }
                for (unsigned j = 0; j < nk; j++)
                    sr[j] = j < last ? sr[j] / sum : 0.0f;
                memset(oh + (size_t)(i0 + r) * D, 0, D * 4);
            }
            for (unsigned j = 0; j < nk; j++) {
                const float *vr = vh + (size_t)j * D;
                for (unsigned r = 0; r < NQ; r++) {
                    float p = s[(size_t)r * S + j];
                    float *orow = oh + (size_t)(i0 + r) * D;
                    for (unsigned c = 0; c < D; c++)
                        orow[c] += p * vr[c];
                }
            }
        }
    }
}

static void bench_attn(bench *b, unsigned H, unsigned S, unsigned D, int causal)
{
    size_t n = (size_t)H * S * D;
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4),
          *o = malloc(n * 4), *ref = malloc(n * 4);
    float *kt = malloc((size_t)S * D * 4), *sc = malloc((size_t)NQ * S * 4);
    for (size_t i = 0; i < n; i++) {
        q[i] = rnd(-1, 1);
        k[i] = rnd(-1, 1);
        v[i] = rnd(-1, 1);
    }
    b->next = ARRAYS_OFF;
    arr ops[4];
    const float *src[3] = {q, k, v};
    for (unsigned i = 0; i < 4; i++) {
        ops[i] = new_arr(b, VTPU_F32, H * S, D, i < 3 ? src[i] : NULL, 4);
        ops[i].rank = 3; /* (H, S, D) */
        ops[i].shape[0] = H;
        ops[i].shape[1] = S;
        ops[i].shape[2] = D;
    }
    uint32_t grid[3] = {H, (S + 127) / 128, (S + 127) / 128};
    uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY};
    int32_t scal = causal;
    double s = launch(b, "flash_attn_f32", 3, grid, sem, ops, 4, &scal, 1, 2);
    get(b, &ops[3], o, 4);
    double t0 = now();
    native_attn(q, k, v, ref, H, S, D, causal, kt, sc);
    double ns = now() - t0;
    double maxerr = 0;
    for (size_t i = 0; i < n; i++)
        maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));
    double flop = (causal ? 2.0 : 4.0) * H * S * (double)S * D;
    printf("{\"bench\":\"kernels\",\"workload\":\"flash_attention_f32\","
           "\"heads\":%u,\"seq\":%u,\"dim\":%u,\"causal\":%s,\"tcs\":2,"
           "\"seconds\":%.4f,\"gflops\":%.2f,\"native_seconds\":%.4f,"
           "\"ratio\":%.3f,\"check\":\"%s\"}\n",
           H, S, D, causal ? "true" : "false", s, flop / s * 1e-9, ns, s / ns,
           maxerr < 1e-4 ? "ok" : "MISMATCH");
    free(q);
    free(k);
    free(v);
    free(o);
    free(ref);
    free(kt);
    free(sc);
}

/* ------------------------------------------------------------------ */
/* Cost of a grid step                                                   */
/* ------------------------------------------------------------------ */

static void bench_steps(bench *b, const char *kernel, uint32_t steps,
                        unsigned reps)
{
    int ops3 = !strcmp(kernel, "nop3");
    b->next = ARRAYS_OFF;
    arr ops[3];
    for (unsigned i = 0; ops3 && i < 3; i++)
        ops[i] = new_arr(b, VTPU_F32, steps * 8, 128, NULL, 4);
    uint32_t one = 1;
    double *t1 = malloc(reps * sizeof(double)),
           *tn = malloc(reps * sizeof(double));
    for (unsigned r = 0; r < reps; r++) {
        t1[r] = launch(b, kernel, 1, &one, NULL, ops, ops3 ? 3 : 0, NULL, 0, 1);
        tn[r] =
            launch(b, kernel, 1, &steps, NULL, ops, ops3 ? 3 : 0, NULL, 0, 1);
    }
    double s1 = median(t1, reps), sn = median(tn, reps);
    printf("{\"bench\":\"kernels\",\"workload\":\"grid_step_%s\","
           "\"steps\":%u,\"tcs\":1,\"seconds\":%.6f,\"launch_seconds\":%.6f,"
           "\"ns_per_step\":%.1f}\n",
           kernel, steps, sn, s1, (sn - s1) / (steps - 1) * 1e9);
    free(t1);
    free(tn);
}

/* ------------------------------------------------------------------ */
/* Launch cost (issue 16; docs/execution.md, "Launch cost")             */
/* ------------------------------------------------------------------ */

/*
 * Native baselines of what a launch must do at least: wake a parked
 * thread and wait for its answer (the engine's hand-off to TC 1..), and
 * what the design before issue 16 did per TC and run: create a thread
 * and join it.
 */
typedef struct pingpong {
    pthread_mutex_t mu;
    pthread_cond_t go_cv, done_cv;
    bool go, done, quit;
} pingpong;

static void *pong(void *opaque)
{
    pingpong *p = opaque;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->go && !p->quit)
            pthread_cond_wait(&p->go_cv, &p->mu);
        if (p->quit)
            break;
        p->go = false;
        p->done = true;
        pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *nothing(void *opaque)
{
    return opaque;
}

static double native_wake(unsigned reps)
{
    pingpong p = {.mu = PTHREAD_MUTEX_INITIALIZER,
                  .go_cv = PTHREAD_COND_INITIALIZER,
                  .done_cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    double *t = malloc(reps * sizeof(double));
    if (pthread_create(&th, NULL, pong, &p))
        die("pthread_create");
    for (unsigned r = 0; r < reps; r++) {
        double t0 = now();
        pthread_mutex_lock(&p.mu);
        p.go = true;
        p.done = false;
        pthread_mutex_unlock(&p.mu);
        pthread_cond_signal(&p.go_cv);
        pthread_mutex_lock(&p.mu);
        while (!p.done)
            pthread_cond_wait(&p.done_cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        t[r] = now() - t0;
    }
    pthread_mutex_lock(&p.mu);
    p.quit = true;
    pthread_mutex_unlock(&p.mu);
    pthread_cond_signal(&p.go_cv);
    pthread_join(th, NULL);
    double m = median(t, reps);
    free(t);
    return m;
}

static double native_spawn(unsigned reps)
{
    double *t = malloc(reps * sizeof(double));
    for (unsigned r = 0; r < reps; r++) {
        pthread_t th;
        double t0 = now();
        if (pthread_create(&th, NULL, nothing, NULL))
            die("pthread_create");
        pthread_join(th, NULL);
        t[r] = now() - t0;
    }
    double m = median(t, reps);
    free(t);
    return m;
}

/* Median and 90th percentile of `reps` launches of nop0 over grid
 * `steps` on `ntcs` TCs. */
static void time_nop(bench *b, uint32_t steps, unsigned ntcs, unsigned reps,
                     double *med, double *p90)
{
    double *t = malloc(reps * sizeof(double));
    launch(b, "nop0", 1, &steps, NULL, NULL, 0, NULL, 0, ntcs); /* warm */
    for (unsigned r = 0; r < reps; r++)
        t[r] = launch(b, "nop0", 1, &steps, NULL, NULL, 0, NULL, 0, ntcs);
    *med = median(t, reps);
    *p90 = t[reps * 9 / 10];
    free(t);
}

/*
 * Empty launches (grid 1 of nop0) on 1 and 2 TCs beside the native wake
 * and spawn round trips; then the launch latency by TCs and grid size
 * (bench/plot.py charts it); then a tiny real kernel, (x + y) * 2 on a
 * (100, 130) i32 array, beside the native loop.
 */
static void bench_launch(bench *b, unsigned reps)
{
    double wake = native_wake(reps), spawn = native_spawn(reps);
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        double med, p90;
        time_nop(b, 1, ntcs, reps, &med, &p90);
        printf("{\"bench\":\"kernels\",\"workload\":\"launch_empty\","
               "\"tcs\":%u,\"seconds\":%.7f,\"p90_seconds\":%.7f,"
               "\"native_seconds\":%.7f,\"native_spawn_seconds\":%.7f,"
               "\"ratio\":%.2f,\"native\":\"thread wake-up and answer "
               "(pthread condvar round trip); spawn: pthread_create+join, "
               "what each TC cost per run before\"}\n",
               ntcs, med, p90, wake, spawn, med / wake);
    }
    static const uint32_t grids[] = {1, 16, 256, 4096};
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++)
        for (unsigned g = 0; g < sizeof(grids) / sizeof(grids[0]); g++) {
            double med, p90;
            unsigned n = grids[g] > 256 ? reps / 10 + 1 : reps;
            time_nop(b, grids[g], ntcs, n, &med, &p90);
            printf("{\"bench\":\"kernels\",\"workload\":\"launch_grid\","
                   "\"tcs\":%u,\"steps\":%u,\"seconds\":%.7f,"
                   "\"p90_seconds\":%.7f}\n",
                   ntcs, grids[g], med, p90);
        }

    /* The tiny kernel: add_mul_i32 over (100, 130), grid (13, 2). */
    uint32_t rows = 100, cols = 130, n = rows * cols;
    int32_t *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4),
            *ref = malloc(n * 4);
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (int32_t)(rnd(-1e6f, 1e6f));
        y[i] = (int32_t)(rnd(-1e6f, 1e6f));
    }
    b->next = ARRAYS_OFF;
    arr ops[3] = {new_arr(b, VTPU_I32, rows, cols, x, 4),
                  new_arr(b, VTPU_I32, rows, cols, y, 4),
                  new_arr(b, VTPU_I32, rows, cols, NULL, 4)};
    uint32_t grid[2] = {(rows + 7) / 8, (cols + 127) / 128};
    double *te = malloc(reps * sizeof(double)),
           *tn = malloc(reps * sizeof(double));
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        for (unsigned r = 0; r < reps; r++)
            te[r] = launch(b, "add_mul_i32", 2, grid, NULL, ops, 3, NULL, 0,
                           ntcs);
        get(b, &ops[2], o, 4);
        for (unsigned r = 0; r < reps; r++) {
            double t0 = now();
            for (uint32_t i = 0; i < n; i++)
                ref[i] = (int32_t)(((uint32_t)x[i] + (uint32_t)y[i]) * 2u);
            __asm__ volatile("" : : "r"(ref) : "memory");
            tn[r] = now() - t0;
        }
        bool ok = !memcmp(o, ref, n * 4);
        double s = median(te, reps), ns = median(tn, reps);
        printf("{\"bench\":\"kernels\",\"workload\":\"launch_tiny\","
               "\"kernel\":\"add_mul_i32\",\"rows\":%u,\"cols\":%u,"
               "\"tcs\":%u,\"seconds\":%.7f,\"p90_seconds\":%.7f,"
               "\"native_seconds\":%.7f,\"ratio\":%.1f,\"check\":\"%s\"}\n",
               rows, cols, ntcs, s, te[reps * 9 / 10], ns, s / ns,
               ok ? "ok" : "MISMATCH");
    }
    free(x);
    free(y);
    free(o);
    free(ref);
    free(te);
    free(tn);
}

int main(int argc, char **argv)
{
    bench b = {0};
    const char *path = BENCH_KERNELS_ELF;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            b.quick = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            b.only = argv[++i];
        else
            path = argv[i];
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open the kernel module");
    fseek(f, 0, SEEK_END);
    b.elf_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.elf = malloc(b.elf_len);
    if (fread(b.elf, 1, b.elf_len, f) != b.elf_len)
        die("short read");
    fclose(f);

    vtpu_config cfg;
    char err[256];
    if (vtpu_config_preset(&cfg, "v5p", err, sizeof(err)))
        die(err);
    cfg.num_tcs = 2;
    cfg.hbm_size = HBM_SIZE;
    b.chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!b.chip)
        die(err);
    if (vtpu_chip_load_elf(b.chip, b.elf, b.elf_len, err, sizeof(err)))
        die(err);

    bool q = b.quick;
#define WANT(w) (!b.only || !strcmp(b.only, w))
    if (WANT("seed"))
        bench_seed(&b, 8, "add_sin_f32", "seed_8x128", q ? 3 : 31);
    if (WANT("seed_checks"))
        bench_seed_checks(&b, q ? 3 : 31);
    if (WANT("bounds"))
        bench_bounds(&b, q ? 3 : 31, q ? 256 : 1024);
    if (WANT("seed_driver"))
        bench_seed_driver(&b, q ? 3 : 31);
    if (WANT("seed512"))
        bench_seed(&b, 512, "add_sin_f32_b512", "seed_512x128", q ? 1 : 3);
    if (WANT("matmul"))
        bench_matmul(&b, q ? 256 : 2048, q ? 1 : 3);
    if (WANT("sort")) {
        bench_sort(&b, 16, 128, q ? 3 : 51);
        bench_sort(&b, 16, 256, q ? 3 : 51);
    }
    if (WANT("sort_long"))
        bench_sort(&b, 16, q ? 4096 : 131072, q ? 1 : 3);
    if (WANT("attention")) {
        bench_attn(&b, q ? 2 : 8, q ? 256 : 2048, 128, 0);
        bench_attn(&b, q ? 2 : 8, q ? 256 : 2048, 128, 1);
    }
    if (WANT("launch"))
        bench_launch(&b, q ? 21 : 2001);
    if (WANT("steps")) {
        bench_steps(&b, "nop0", q ? 1001 : 200001, q ? 1 : 5);
        bench_steps(&b, "nop3", q ? 1001 : 20001, q ? 1 : 5);
    }
    vtpu_chip_free(b.chip);
    free(b.elf);
    return 0;
}
