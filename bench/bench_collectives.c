/*
 * bench_collectives.c - slices in one process (docs/multichip.md,
 * "Speed"), each figure against its baseline measured in the same run:
 *
 *   allreduce    all_reduce_f32 (ring) and all_reduce_f32_bidir over 2, 4
 *                and 8 chips, S bytes per chip (64 MiB; --quick 1 MiB):
 *                bus bandwidth, NCCL's definition (2 (n - 1) / n * S / t),
 *                against the host's memcpy bandwidth on S bytes, and
 *                against the same all-reduce done natively by the host's
 *                cores with the least memory traffic there is (every
 *                input read once, every output written once): the most
 *                any implementation gets from this host;
 *   cmatmul      collective_matmul_f32 on 2 chips (each w's half of the
 *                columns) against the same kernel on 1 chip holding all
 *                of w, the same total product;
 *   scale        a 64-chip v5p-shaped slice (4x4x4, 2 TCs and 95 GiB HBM
 *                per chip): time to create it, resident memory, and a
 *                ring all-reduce of 64 KiB per chip over axis 0.
 *
 * One JSON line per figure.  Every result is checked against the host's
 * (a wrong answer fails the benchmark).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench-util.h"
#include "vtpu-launch.h"
#include "vtpu-slice.h"
#include "vtpu.h"

#define DESC_OFF 0x1000ull
#define STATUS_OFF 0x2000ull
#define X_OFF 0x100000ull

static int quick;
static unsigned only_chips; /* --chips N: that slice size alone */

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_collectives: %s: %s\n", what, msg);
    exit(1);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, "cannot open");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
        die(path, "cannot read");
    fclose(f);
    *len = (size_t)n;
    return p;
}

static uint32_t kernel_index(const uint8_t *elf, size_t len, const char *name)
{
    (void)len;
    return bench_kernel_index(elf, name);
}

typedef struct bslice {
    vtpu_slice *s;
    unsigned n;
    uint8_t *elf;
    size_t len;
} bslice;

static void quiet(void *o, unsigned tc, int fd, const char *b, size_t n)
{
    (void)o, (void)tc;
    if (fd == 2)
        fwrite(b, 1, n, stderr);
}

static bslice bs_new(const char *gen, const char *topo, uint32_t tcs,
                     uint64_t hbm)
{
    bslice b;
    vtpu_config cfg;
    char err[512];

    if (vtpu_config_preset(&cfg, gen, err, sizeof(err)))
        die(gen, err);
    if (tcs)
        cfg.num_tcs = tcs;
    if (hbm)
        cfg.hbm_size = hbm;
    b.s = vtpu_slice_new(&cfg, topo, err, sizeof(err));
    if (!b.s)
        die(topo, err);
    b.n = vtpu_slice_size(b.s);
    b.elf = read_all(BENCH_KERNELS_ELF, &b.len);
    if (vtpu_slice_load_elf(b.s, b.elf, b.len, err, sizeof(err)))
        die("load", err);
    for (unsigned c = 0; c < b.n; c++)
        vtpu_chip_set_output(vtpu_slice_chip(b.s, c), quiet, NULL);
    return b;
}

static void bs_free(bslice *b)
{
    vtpu_slice_free(b->s);
    free(b->elf);
}

static void put(bslice *b, unsigned c, uint64_t off, const void *p, size_t n)
{
    if (vtpu_hbm_write(vtpu_slice_chip(b->s, c), off, p, n))
        die("hbm write", "out of range");
}

static void get(bslice *b, unsigned c, uint64_t off, void *p, size_t n)
{
    if (vtpu_hbm_read(vtpu_slice_chip(b->s, c), off, p, n))
        die("hbm read", "out of range");
}

static void set_op(vtpu_launch *L, unsigned i, uint64_t hbm, unsigned dt,
                   uint32_t r, uint32_t c)
{
    vtpu_launch_operand *o = &L->operands[i];
    memset(o, 0, sizeof(*o));
    o->hbm = hbm;
    o->dtype = (uint8_t)dt;
    o->rank = 2;
    o->shape[0] = r;
    o->shape[1] = c;
    L->num_operands = i + 1;
}

static void mk_launch(vtpu_launch *L, uint32_t kernel, uint32_t P)
{
    memset(L, 0, sizeof(*L));
    L->magic = VTPU_LAUNCH_MAGIC;
    L->version = VTPU_LAUNCH_VERSION;
    L->size = sizeof(*L);
    L->kernel = kernel;
    L->grid_rank = 1;
    L->grid[0] = P;
    L->semantics[0] = VTPU_PARALLEL;
    L->status_hbm = STATUS_OFF;
}

/* Run L on every chip of the slice; seconds. */
static double run(bslice *b, const vtpu_launch *L, uint32_t tcs)
{
    vtpu_run_opts opts = {.num_tcs = tcs, .args = {DESC_OFF, 0}};
    vtpu_run_result *res = calloc(b->n, sizeof(*res));
    vtpu_error first;
    char msg[2048];

    for (unsigned c = 0; c < b->n; c++)
        put(b, c, DESC_OFF, L, sizeof(*L));
    double t0 = now();
    if (vtpu_slice_run(b->s, &opts, res, &first)) {
        vtpu_error_format(&first, msg, sizeof(msg));
        die("slice run", msg);
    }
    double t = now() - t0;
    for (unsigned c = 0; c < b->n; c++)
        if (res[c].exit_code) {
            snprintf(msg, sizeof(msg), "chip %u exit code %d", c,
                     res[c].exit_code);
            die("slice run", msg);
        }
    free(res);
    return t;
}

/* memcpy bandwidth on `bytes` (warm buffers), GB/s: the best of 5. */
static double memcpy_gbs(size_t bytes)
{
    uint8_t *a = malloc(bytes), *c = malloc(bytes);
    double best = 1e30;
    memset(a, 1, bytes);
    memset(c, 2, bytes);
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        memcpy(c, a, bytes);
        double t = now() - t0;
        if (t < best)
            best = t;
        a[i] ^= c[bytes - 1 - i]; /* keep the copies */
    }
    free(a);
    free(c);
    return (double)bytes / best / 1e9;
}

/*
 * The all-reduce natively, the bound for this host: n inputs of `elems`
 * floats summed into n outputs by one thread per online CPU (at most n),
 * each a contiguous part of the elements, in pieces of 16 KiB summed in
 * the cache (vectorised: fixed-length loops, AVX2/AVX-512 where the CPU
 * has them) and copied to every output.  The sum is taken in chip order,
 * as the host reference below; seconds, the median of `reps` (the
 * statistic vtpu's runs get: the ratio compares like with like).
 */
typedef struct native_part {
    float *const *x, *const *o;
    unsigned n;
    size_t lo, hi;
} native_part;

#define NATIVE_PIECE 4096u

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NATIVE_CLONES                                                          \
    __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NATIVE_CLONES
#endif

NATIVE_CLONES static void native_piece(float *const *x, float *const *o,
                                       unsigned n, size_t b)
{
    float acc[NATIVE_PIECE];

    memcpy(acc, x[0] + b, sizeof(acc));
    for (unsigned c = 1; c < n; c++) {
        const float *xc = x[c] + b;
        for (unsigned i = 0; i < NATIVE_PIECE; i++)
            acc[i] += xc[i];
    }
    /* the library's copy: on CPUs with fast string moves it writes
     * whole lines without reading them first */
    for (unsigned c = 0; c < n; c++)
        memcpy(o[c] + b, acc, sizeof(acc));
}

static void *native_run_part(void *arg)
{
    const native_part *p = arg;

    for (size_t b = p->lo; b < p->hi; b += NATIVE_PIECE)
        native_piece(p->x, p->o, p->n, b);
    return NULL;
}

static double native_allreduce(float *const *x, float *const *o, unsigned n,
                               size_t elems, unsigned reps)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned nt = cpus < 1 ? 1 : cpus > (long)n ? n : (unsigned)cpus;
    native_part parts[8];
    pthread_t th[8];
    double ts[16];

    if (nt > 8)
        nt = 8;
    if (elems % NATIVE_PIECE)
        die("native all-reduce", "elements not a multiple of 4096");
    for (unsigned t = 0; t < nt; t++)
        parts[t] = (native_part){
            x, o, n, elems * t / nt / NATIVE_PIECE * NATIVE_PIECE,
            t + 1 == nt ? elems
                        : elems * (t + 1) / nt / NATIVE_PIECE * NATIVE_PIECE};
    if (reps > 16)
        reps = 16;
    for (unsigned r = 0; r < reps; r++) {
        double t0 = now();
        for (unsigned t = 0; t < nt; t++)
            if (pthread_create(&th[t], NULL, native_run_part, &parts[t]))
                die("native all-reduce", "pthread_create failed");
        for (unsigned t = 0; t < nt; t++)
            pthread_join(th[t], NULL);
        ts[r] = now() - t0;
    }
    return median(ts, reps);
}

static void bench_allreduce(void)
{
    size_t S = quick ? (1u << 20) : (64u << 20);
    const char *kernels[2] = {"all_reduce_f32", "all_reduce_f32_bidir"};
    double mc = memcpy_gbs(S);

    for (unsigned ki = 0; ki < 2; ki++)
        for (unsigned n = 2; n <= 8; n *= 2) {
            if (only_chips && n != only_chips)
                continue;
            char topo[8];
            snprintf(topo, sizeof(topo), "%u", n);
            bslice b = bs_new("v5e", topo, 1, 3 * S + (64u << 20));
            uint32_t rows = (uint32_t)(S / 512), k;
            float *xs[8], *os[8], *o = malloc(S), *want = calloc(S / 4, 4);
            for (unsigned c = 0; c < n; c++) {
                float *x = xs[c] = malloc(S);
                os[c] = malloc(S);
                memset(os[c], 0, S); /* no page faults in the timing */
                for (size_t i = 0; i < S / 4; i++) {
                    /* small integers: every order of the sum is exact */
                    x[i] = (float)((int)(rnd(0, 64)) - 32);
                    want[i] += x[i];
                }
                put(&b, c, X_OFF, x, S);
            }
            k = kernel_index(b.elf, b.len, kernels[ki]);
            vtpu_launch L;
            mk_launch(&L, k, 1);
            set_op(&L, 0, X_OFF, VTPU_F32, rows, 128);
            set_op(&L, 1, X_OFF + S, VTPU_F32, rows, 128);
            double ts[5];
            unsigned reps = quick ? 1 : 5;
            long faults = 0;
            double cpu = 0;
            for (unsigned r = 0; r < reps; r++) {
                struct rusage u0, u1;
                getrusage(RUSAGE_SELF, &u0);
                ts[r] = run(&b, &L, 1);
                getrusage(RUSAGE_SELF, &u1);
                /* of the last (warm) run */
                faults = u1.ru_minflt - u0.ru_minflt;
                cpu = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec) +
                      (double)(u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
                      (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec +
                               u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) *
                          1e-6;
            }
            double t = median(ts, reps);
            for (unsigned c = 0; c < n; c++) {
                get(&b, c, X_OFF + S, o, S);
                if (memcmp(o, want, S))
                    die(kernels[ki], "wrong sum");
            }
            double nt = native_allreduce(xs, os, n, S / 4, reps);
            for (unsigned c = 0; c < n; c++)
                if (memcmp(os[c], want, S))
                    die("native all-reduce", "wrong sum");
            double bus = 2.0 * (n - 1) / n * (double)S / t / 1e9;
            double nbus = 2.0 * (n - 1) / n * (double)S / nt / 1e9;
            printf("{\"bench\":\"collectives\",\"workload\":\"%s\","
                   "\"chips\":%u,\"bytes_per_chip\":%zu,\"seconds\":%.6f,"
                   "\"busbw_gbs\":%.3f,\"memcpy_gbs\":%.3f,"
                   "\"busbw_over_memcpy\":%.3f,\"goal\":0.25,"
                   "\"native_seconds\":%.6f,\"native_busbw_over_memcpy\":%.3f,"
                   "\"busbw_over_native\":%.3f,"
                   "\"last_run_cpu_seconds\":%.4f,\"last_run_faults\":%ld}\n",
                   kernels[ki], n, S, t, bus, mc, bus / mc, nt, nbus / mc,
                   bus / nbus, cpu, faults);
            fflush(stdout);
            for (unsigned c = 0; c < n; c++) {
                free(xs[c]);
                free(os[c]);
            }
            free(o);
            free(want);
            bs_free(&b);
        }
}

/* collective_matmul_f32 on a ring of n chips, `reps` times into ts[];
 * the outputs checked against the host's product. */
static void cmatmul(unsigned n, uint32_t M, uint32_t K, uint32_t N,
                    const float *x, const float *w, const double *ref,
                    double *ts, unsigned reps)
{
    char topo[8];
    snprintf(topo, sizeof(topo), "%u", n);
    bslice b = bs_new("v5e", topo, 1, 256u << 20);
    uint32_t m = M / n, Nc = N / n;
    size_t xb = (size_t)m * K * 4, wb = (size_t)K * Nc * 4,
           ob = (size_t)M * Nc * 4;
    uint64_t w_off = X_OFF + xb, o_off = w_off + wb, g_off = o_off + ob;
    float *wc = malloc(wb), *o = malloc(ob);

    for (unsigned c = 0; c < n; c++) {
        put(&b, c, X_OFF, x + (size_t)c * m * K, xb);
        for (uint32_t r = 0; r < K; r++)
            memcpy(wc + (size_t)r * Nc, w + (size_t)r * N + c * Nc, Nc * 4);
        put(&b, c, w_off, wc, wb);
    }
    vtpu_launch L;
    mk_launch(&L, kernel_index(b.elf, b.len, "collective_matmul_f32"), 1);
    set_op(&L, 0, X_OFF, VTPU_F32, m, K);
    set_op(&L, 1, w_off, VTPU_F32, K, Nc);
    set_op(&L, 2, o_off, VTPU_F32, M, Nc);
    set_op(&L, 3, g_off, VTPU_F32, M, K);
    for (unsigned r = 0; r < reps; r++)
        ts[r] = run(&b, &L, 1);
    for (unsigned c = 0; c < n; c++) {
        get(&b, c, o_off, o, ob);
        for (uint32_t i = 0; i < M; i++)
            for (uint32_t j = 0; j < Nc; j++) {
                double want = ref[(size_t)i * N + c * Nc + j];
                if (fabs(o[(size_t)i * Nc + j] - want) >
                    1e-3 * (1 + fabs(want)))
                    die("collective_matmul_f32", "wrong product");
            }
    }
    free(wc);
    free(o);
    bs_free(&b);
}

static void bench_cmatmul(void)
{
    uint32_t M = quick ? 64 : 512, K = quick ? 128 : 512,
             N = quick ? 256 : 1024;
    float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)K * N * 4);
    double *ref = calloc((size_t)M * N, sizeof(double));
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = rnd(-1, 1);
    for (size_t i = 0; i < (size_t)K * N; i++)
        w[i] = rnd(-1, 1);
    for (uint32_t i = 0; i < M; i++)
        for (uint32_t k = 0; k < K; k++)
            for (uint32_t j = 0; j < N; j++)
                ref[(size_t)i * N + j] +=
                    (double)x[(size_t)i * K + k] * w[(size_t)k * N + j];
    /* One run is 10-20 ms, shorter than a shared host's bursts of
     * noise: 1 chip and 2 chips take turns, 5 runs each, three times,
     * and each side's median of its 15 runs counts. */
    double t1s[15], t2s[15];
    unsigned rounds = quick ? 1 : 3, per = quick ? 1 : 5;
    for (unsigned r = 0; r < rounds; r++) {
        cmatmul(1, M, K, N, x, w, ref, t1s + r * per, per);
        cmatmul(2, M, K, N, x, w, ref, t2s + r * per, per);
    }
    double t1 = median(t1s, rounds * per), t2 = median(t2s, rounds * per);
    printf("{\"bench\":\"collectives\",\"workload\":\"collective_matmul_f32\","
           "\"M\":%u,\"K\":%u,\"N\":%u,\"seconds_1chip\":%.6f,"
           "\"seconds_2chips\":%.6f,\"speedup\":%.3f,\"goal\":1.6}\n",
           M, K, N, t1, t2, t1 / t2);
    fflush(stdout);
    free(x);
    free(w);
    free(ref);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void bench_scale(void)
{
    long rss0 = rss_kib();
    double t0 = now();
    bslice b = bs_new("v5p", "v5p-128", 0, 0); /* 64 chips, 4x4x4 */
    double t_new = now() - t0;
    long rss1 = rss_kib();
    size_t S = 64u << 10;
    uint32_t rows = (uint32_t)(S / 512);
    float *x = malloc(S), *o = malloc(S), *want = calloc(S / 4, 4);
    /* axis 0: rings of 4 */
    const vtpu_topology *t = vtpu_slice_topology(b.s);
    for (unsigned c = 0; c < b.n; c++) {
        for (size_t i = 0; i < S / 4; i++)
            x[i] = (float)(c % 7) + (float)(i % 5);
        put(&b, c, X_OFF, x, S);
    }
    vtpu_launch L;
    mk_launch(&L, kernel_index(b.elf, b.len, "all_reduce_f32"), 1);
    set_op(&L, 0, X_OFF, VTPU_F32, rows, 128);
    set_op(&L, 1, X_OFF + S, VTPU_F32, rows, 128);
    double tr = run(&b, &L, 1);
    long rss2 = rss_kib();
    /* chip c's ring along x: the chips c - c%4 .. +3 */
    for (unsigned c = 0; c < b.n; c++) {
        unsigned base = c - c % t->dims[0];
        get(&b, c, X_OFF + S, o, S);
        for (size_t i = 0; i < S / 4; i++) {
            float s = 0;
            for (unsigned k = 0; k < t->dims[0]; k++)
                s += (float)((base + k) % 7) + (float)(i % 5);
            if (o[i] != s)
                die("scale all-reduce", "wrong sum");
        }
    }
    printf("{\"bench\":\"collectives\",\"workload\":\"scale_v5p_64\","
           "\"chips\":%u,\"tcs_per_chip\":%u,\"hbm_gib_per_chip\":%.1f,"
           "\"create_seconds\":%.4f,\"rss_mib_after_create\":%.1f,"
           "\"allreduce_seconds\":%.4f,\"rss_mib_after_run\":%.1f,"
           "\"rss_goal_mib\":1024}\n",
           b.n, vtpu_chip_config(vtpu_slice_chip(b.s, 0))->num_tcs,
           (double)vtpu_chip_config(vtpu_slice_chip(b.s, 0))->hbm_size /
               (1u << 30),
           t_new, (rss1 - rss0) / 1024.0, tr, (rss2 - rss0) / 1024.0);
    fflush(stdout);
    free(x);
    free(o);
    free(want);
    bs_free(&b);
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--chips") && i + 1 < argc &&
                 (only_chips = (unsigned)atoi(argv[i + 1])) >= 2 &&
                 only_chips <= 8 && !(only_chips & (only_chips - 1)))
            i++;
        else {
            fprintf(stderr, "usage: bench_collectives [--quick] [--only "
                            "scale|cmatmul|allreduce] [--chips 2|4|8 (the "
                            "all-reduce on that many chips only)]\n");
            return 2;
        }
    }
    if (!only || !strcmp(only, "scale"))
        bench_scale();
    if (!only || !strcmp(only, "cmatmul"))
        bench_cmatmul();
    if (!only || !strcmp(only, "allreduce"))
        bench_allreduce();
    return 0;
}
