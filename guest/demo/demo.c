/*
 * demo.c - the demo's workloads (demo.h): the seed workload add_sin_f32,
 * a matmul on the MXU and a sort with argsort, each run through the
 * runtime and checked against a reference computed on the CPU, and the
 * result table.  Shared by the bare-metal demo (vtpu-demo.c, the ring
 * backend) and the Linux user-space demo (guest/linux-user/vtpu-demo.c,
 * the Linux backend): only the runtime is touched here.
 */
#include "demo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vtpu_rt *rt;
static vtpu_module *mod;
static uint64_t (*now_ns)(void);

/* One line of the result table. */
typedef struct row {
    char what[24], shape[28];
    unsigned tcs;
    uint64_t run_ns, total_ns, ref_ns;
    double err;
    int status; /* 1 matched, 0 mismatch, -1 failed to run, -2 skipped */
    char note[96];
} row;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float rand_f32(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)(rng >> 40) / (float)(1u << 24);
}

static float *alloc_f32(size_t n)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        printf("vtpu-demo: out of memory (%zu floats)\n", n);
        exit(DEMO_EXIT_NOMEM);
    }
    return p;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static int fail(row *r, const char *what, int rc)
{
    snprintf(r->note, sizeof(r->note), "%s: %s", what,
             rc ? vtpu_rt_error(rt) : "");
    printf("  %s failed (%s): %s\n", r->what, vtpu_rt_strerror(rc),
           vtpu_rt_error(rt));
    r->status = -1;
    return rc;
}

/* Allocate every operand, upload the first `n_in`, run, download the
 * others into outputs[]. */
static int run_kernel(row *r, vtpu_rt_launch *l, const char *kernel,
                      uint32_t n_in, const void *const *inputs,
                      void *const *outputs)
{
    int rc = vtpu_rt_kernel_find(rt, mod, kernel, &l->kernel);
    if (rc)
        return fail(r, "kernel", rc);
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < l->num_operands; i++) {
        vtpu_rt_array *a = &l->operands[i], want = *a;
        rc = vtpu_rt_array_alloc(rt, a, want.dtype, want.rank, want.shape);
        if (rc)
            return fail(r, "alloc", rc);
        if (i < n_in) {
            rc = vtpu_rt_write(rt, a->hbm, inputs[i], vtpu_rt_array_bytes(a));
            if (rc)
                return fail(r, "upload", rc);
        }
    }
    vtpu_rt_stats st;
    uint64_t t1 = now_ns();
    rc = vtpu_rt_run(rt, mod, l, &st);
    r->run_ns = now_ns() - t1;
    if (rc)
        return fail(r, "run", rc);
    for (uint32_t i = n_in; i < l->num_operands; i++) {
        vtpu_rt_array *o = &l->operands[i];
        rc = vtpu_rt_read(rt, o->hbm, outputs[i - n_in],
                          vtpu_rt_array_bytes(o));
        if (rc)
            return fail(r, "download", rc);
    }
    r->total_ns = now_ns() - t0;
    r->tcs = st.num_tcs;
    for (uint32_t i = 0; i < l->num_operands; i++)
        vtpu_rt_free(rt, l->operands[i].hbm);
    return 0;
}

static void set_operand(vtpu_rt_launch *l, uint32_t i, uint32_t rows,
                        uint32_t cols)
{
    l->operands[i] =
        (vtpu_rt_array){.shape = {rows, cols}, .dtype = VTPU_F32, .rank = 2};
}

/* The seed workload: o = sin((x + y) * 2), (8,128) f32 blocks. */
static void demo_add_sin(row *r, unsigned tcs)
{
    const uint32_t grid = 512, rows = grid * 8, cols = 128;
    size_t n = (size_t)rows * cols;
    float *x = alloc_f32(n), *y = alloc_f32(n), *o = alloc_f32(n);

    snprintf(r->what, sizeof(r->what), "add_sin_f32");
    snprintf(r->shape, sizeof(r->shape), "(%u,%u) grid %u", rows, cols, grid);
    for (size_t i = 0; i < n; i++) {
        x[i] = rand_f32(-2, 2);
        y[i] = rand_f32(-2, 2);
    }
    vtpu_rt_launch l = {.num_tcs = tcs,
                        .grid_rank = 1,
                        .grid = {grid},
                        .semantics = {VTPU_PARALLEL},
                        .num_operands = 3};
    for (int i = 0; i < 3; i++)
        set_operand(&l, i, rows, cols);
    const void *in[2] = {x, y};
    void *out[1] = {o};
    if (run_kernel(r, &l, "add_sin_f32", 2, in, out) == 0) {
        uint64_t t0 = now_ns();
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)o[i] - (double)sinf((x[i] + y[i]) * 2.0f));
            if (!(e <= worst))
                worst = e;
        }
        r->ref_ns = now_ns() - t0;
        r->err = worst;
        /* the device rounds sin() of double, the guest uses sinf():
         * both within an ulp or so of the true value (<= 1.2e-7 here) */
        r->status = worst <= 1e-6;
    }
    free(x);
    free(y);
    free(o);
}

/* o = x @ y on the MXU; the reference sums in the MXU's order (per
 * 128-wide k block from +0, then into the output), so it is exact. */
static void demo_matmul(row *r, unsigned tcs)
{
    const uint32_t M = 256, N = 256, K = 384;
    float *a = alloc_f32((size_t)M * K), *b = alloc_f32((size_t)K * N);
    float *o = alloc_f32((size_t)M * N);

    snprintf(r->what, sizeof(r->what), "matmul_f32");
    snprintf(r->shape, sizeof(r->shape), "%ux%ux%u", M, K, N);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = rand_f32(-1, 1);
    for (size_t i = 0; i < (size_t)K * N; i++)
        b[i] = rand_f32(-1, 1);
    vtpu_rt_launch l = {
        .num_tcs = tcs,
        .grid_rank = 3,
        .grid = {M / 128, N / 128, K / 128},
        .semantics = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY},
        .num_operands = 3};
    set_operand(&l, 0, M, K);
    set_operand(&l, 1, K, N);
    set_operand(&l, 2, M, N);
    const void *in[2] = {a, b};
    void *out[1] = {o};
    if (run_kernel(r, &l, "matmul_f32", 2, in, out) == 0) {
        uint64_t t0 = now_ns();
        double worst = 0;
        for (uint32_t m = 0; m < M; m++)
            for (uint32_t nn = 0; nn < N; nn++) {
                float acc = 0.0f;
                for (uint32_t k0 = 0; k0 < K; k0 += 128) {
                    float p = 0.0f;
                    for (uint32_t k = k0; k < k0 + 128; k++)
                        p = p + a[(size_t)m * K + k] * b[(size_t)k * N + nn];
                    acc = acc + (0.0f + p);
                }
                double e = fabs((double)o[(size_t)m * N + nn] - acc) /
                           fmax(fabs((double)acc), 1.0);
                if (!(e <= worst))
                    worst = e;
            }
        r->ref_ns = now_ns() - t0;
        r->err = worst;
        r->status = worst <= 1e-6;
    }
    free(a);
    free(b);
    free(o);
}

static int cmp_f32(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Sort with argsort along the last axis (sort_f32: keys in; sorted keys
 * and indices out), one row per grid step.  The keys are distinct, so
 * the result is unique: the sorted keys equal the guest's qsort, and the
 * indices are a permutation that gathers the keys into that order. */
static void demo_sort(row *r, unsigned tcs)
{
    const uint32_t rows = 8, n = 4096;
    uint32_t idx0;

    snprintf(r->what, sizeof(r->what), "sort_f32");
    snprintf(r->shape, sizeof(r->shape), "(%u,%u) + argsort", rows, n);
    if (vtpu_module_find(mod, "sort_f32", &idx0) != 0) {
        snprintf(r->note, sizeof(r->note),
                 "no sort_f32 kernel in this kernel module");
        r->status = -2;
        return;
    }
    size_t total = (size_t)rows * n;
    float *x = alloc_f32(total), *o = alloc_f32(total), *ref = alloc_f32(total);
    int32_t *idx = (int32_t *)alloc_f32(total);
    for (size_t i = 0; i < total; i++)
        x[i] = rand_f32(-1000, 1000) + (float)(i % n) * 1e-3f;
    vtpu_rt_launch l = {.num_tcs = tcs,
                        .grid_rank = 1,
                        .grid = {tcs ? tcs : 1},
                        .semantics = {VTPU_PARALLEL},
                        .num_operands = 3};
    set_operand(&l, 0, rows, n);
    set_operand(&l, 1, rows, n);
    set_operand(&l, 2, rows, n);
    l.operands[2].dtype = VTPU_I32;
    const void *in[1] = {x};
    void *out[2] = {o, idx};
    if (run_kernel(r, &l, "sort_f32", 1, in, out) == 0) {
        uint64_t t0 = now_ns();
        memcpy(ref, x, total * sizeof(float));
        size_t wrong = 0;
        for (uint32_t i = 0; i < rows; i++) {
            float *rr = ref + (size_t)i * n;
            qsort(rr, n, sizeof(float), cmp_f32);
            static uint8_t seen[4096];
            memset(seen, 0, sizeof(seen));
            for (uint32_t j = 0; j < n; j++) {
                size_t at = (size_t)i * n + j;
                int32_t k = idx[at];
                int ok = o[at] == rr[j] && k >= 0 && (uint32_t)k < n &&
                         !seen[k] && x[(size_t)i * n + (uint32_t)k] == o[at];
                if (ok)
                    seen[k] = 1;
                wrong += !ok;
            }
        }
        r->ref_ns = now_ns() - t0;
        r->err = (double)wrong;
        r->status = wrong == 0;
    }
    free(x);
    free(o);
    free(ref);
    free(idx);
}

static const char *status_name(int s)
{
    return s == 1 ? "yes" : s == 0 ? "NO" : s == -1 ? "FAILED" : "skipped";
}

int demo_run(vtpu_rt *r, vtpu_module *m, unsigned tcs,
             uint64_t (*clock_ns)(void))
{
    rt = r;
    mod = m;
    now_ns = clock_ns;
    static row rows[3];
    demo_add_sin(&rows[0], tcs);
    demo_matmul(&rows[1], tcs);
    demo_sort(&rows[2], tcs);

    printf("\n%-12s %-20s %3s %10s %10s %10s %9s  %s\n", "workload", "shape",
           "TCs", "run ms", "total ms", "cpu ref ms", "max err", "match");
    int bad = 0;
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        row *r = &rows[i];
        if (r->status == -2) {
            printf("%-12s %-20s %3s %10s %10s %10s %9s  %s (%s)\n", r->what,
                   "-", "-", "-", "-", "-", "-", status_name(r->status),
                   r->note);
            continue;
        }
        printf("%-12s %-20s %3u %10.2f %10.2f %10.2f %9.2g  %s\n", r->what,
               r->shape, r->tcs, ms(r->run_ns), ms(r->total_ns), ms(r->ref_ns),
               r->err, status_name(r->status));
        bad += r->status != 1;
    }
    return bad;
}
