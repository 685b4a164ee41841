/*
 * test_collectives.c - the collectives of firmware/kernels/lib_collective.c
 * on slices of 2, 4 and 8 chips and 2-D and 3-D meshes, every chip's
 * output checked against a host computation from the inputs (random
 * data; i32 sums exact, f32 sums exact in the ring's order, the matmul
 * against a double-precision host product and bit-for-bit against the
 * same kernel on one chip holding all of w).
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kernel_harness.h"
#include "vtpu-launch.h"
#include "vtpu-slice.h"
#include "vtpu.h"

#define DESC_OFF 0x1000ull
#define STATUS_OFF 0x2000ull
#define SCALARS_OFF 0x3000ull
#define X_OFF 0x100000ull

typedef struct sl {
    vtpu_slice *s;
    unsigned n;
    vtpu_topology topo;
    uint8_t *elf;
    size_t elf_len;
    uint64_t rng;
} sl;

static uint32_t rnd32(sl *t)
{
    t->rng = t->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(t->rng >> 33);
}

static float rndf(sl *t)
{
    return (float)(rnd32(t) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void quiet(void *opaque, unsigned tc, int fd, const char *buf,
                  size_t len)
{
    (void)opaque;
    (void)tc;
    if (fd == 2) /* kernel failures: show them */
        fwrite(buf, 1, len, stderr);
}

static sl *sl_new(const char *topology, unsigned tcs)
{
    sl *t = calloc(1, sizeof(*t));
    vtpu_config cfg;
    char err[256];

    assert_non_null(t);
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    cfg.num_tcs = tcs;
    cfg.hbm_size = 256ull << 20;
    cfg.vmem_size = 16u << 20;
    cfg.bounds = 1;
    t->s = vtpu_slice_new(&cfg, topology, err, sizeof(err));
    if (!t->s)
        fail_msg("vtpu_slice_new(%s): %s", topology, err);
    t->topo = *vtpu_slice_topology(t->s);
    t->n = vtpu_slice_size(t->s);
    t->elf = test_read_file(KT_MODULE, &t->elf_len);
    assert_non_null(t->elf);
    if (vtpu_slice_load_elf(t->s, t->elf, t->elf_len, err, sizeof(err)))
        fail_msg("load: %s", err);
    for (unsigned c = 0; c < t->n; c++) {
        vtpu_chip *chip = vtpu_slice_chip(t->s, c);
        vtpu_chip_set_output(chip, quiet, NULL);
        test_dma_order_from_env(chip);
        test_checks_from_env(chip);
    }
    t->rng = 0x5eed0000u + t->n;
    return t;
}

static void sl_free(sl *t)
{
    vtpu_slice_free(t->s);
    free(t->elf);
    free(t);
}

static uint32_t kindex(sl *t, const char *name)
{
    return test_module_kernel_index(t->elf, t->elf_len, name);
}

/* Extent of mesh axis a (1 past the topology's rank). */
static uint32_t dim(const sl *t, int a)
{
    return (uint32_t)a < t->topo.ndims ? t->topo.dims[a] : 1;
}

static void put(sl *t, unsigned c, uint64_t off, const void *p, size_t n)
{
    assert_int_equal(vtpu_hbm_write(vtpu_slice_chip(t->s, c), off, p, n), 0);
}

/* Launch L on chip c: its descriptor and a cleared status block. */
static void put_launch(sl *t, unsigned c, const vtpu_launch *L)
{
    vtpu_launch_status zero[VTPU_MAX_TCS];
    memset(zero, 0, sizeof(zero));
    put(t, c, STATUS_OFF, zero, sizeof(zero));
    put(t, c, DESC_OFF, L, sizeof(*L));
}

/* Put the launch on every chip and run the slice; fail on any fault or
 * non-zero exit. */
static void sl_run(sl *t, const vtpu_launch *L, unsigned tcs)
{
    vtpu_run_opts opts = {.num_tcs = tcs, .args = {DESC_OFF, 0}};
    vtpu_run_result *res = calloc(t->n, sizeof(*res));
    vtpu_error first;
    char msg[2048];

    assert_non_null(res);
    for (unsigned c = 0; c < t->n; c++)
        put_launch(t, c, L);
    if (vtpu_slice_run(t->s, &opts, res, &first)) {
        vtpu_error_format(&first, msg, sizeof(msg));
        fail_msg("slice run: %s", msg);
    }
    for (unsigned c = 0; c < t->n; c++)
        if (res[c].exit_code)
            fail_msg("chip %u: kernel exit code %d", c, res[c].exit_code);
    free(res);
}

static void get(sl *t, unsigned c, uint64_t off, void *p, size_t n)
{
    assert_int_equal(vtpu_hbm_read(vtpu_slice_chip(t->s, c), off, p, n), 0);
}

/* The launch: grid (P,), 2-D operands, scalar 0 = the axis. */
static void mk_launch(sl *t, vtpu_launch *L, const char *kernel, unsigned P,
                      int axis)
{
    uint32_t grid[1] = {P};
    int32_t s[1] = {axis};
    launch_init(L, kindex(t, kernel), 1, grid, NULL);
    L->num_scalars = 1;
    memcpy(L->scalars, s, sizeof(s));
}

/* The chips of `c`'s ring along `axis`, in axis order. */
static void ring_of(const sl *t, unsigned c, int axis, unsigned *chips,
                    unsigned *n, unsigned *pos)
{
    uint32_t co[3], k[3];
    vtpu_topology_coords(&t->topo, c, co);
    *n = dim(t, axis);
    *pos = co[axis];
    for (unsigned i = 0; i < *n; i++) {
        memcpy(k, co, sizeof(k));
        k[axis] = i;
        chips[i] = k[0] + dim(t, 0) * (k[1] + dim(t, 1) * k[2]);
    }
}

/* ---- all-gather ---- */

static void check_all_gather(const char *topo, int axis, const char *kernel,
                             unsigned tcs, unsigned P, uint32_t rows,
                             uint32_t cols)
{
    sl *t = sl_new(topo, tcs);
    unsigned n = dim(t, axis);
    size_t xb = (size_t)rows * cols * 4, ob = xb * n;
    uint64_t o_off = X_OFF + ((xb + 0xfff) & ~0xfffull);
    uint32_t **x = calloc(t->n, sizeof(*x));
    uint32_t *o = malloc(ob);
    vtpu_launch L;

    for (unsigned c = 0; c < t->n; c++) {
        x[c] = malloc(xb);
        for (size_t i = 0; i < xb / 4; i++)
            x[c][i] = rnd32(t);
        put(t, c, X_OFF, x[c], xb);
        memset(o, 0xa5, ob);
        put(t, c, o_off, o, ob);
    }
    mk_launch(t, &L, kernel, P, axis);
    uint32_t xs[2] = {rows, cols}, os[2] = {rows * n, cols};
    launch_operand(&L, X_OFF, VTPU_I32, 2, xs);
    launch_operand(&L, o_off, VTPU_I32, 2, os);
    sl_run(t, &L, tcs);
    for (unsigned c = 0; c < t->n; c++) {
        unsigned chips[1024], rn, pos;
        ring_of(t, c, axis, chips, &rn, &pos);
        get(t, c, o_off, o, ob);
        for (unsigned j = 0; j < rn; j++)
            if (memcmp((uint8_t *)o + j * xb, x[chips[j]], xb))
                fail_msg("%s %s axis %d: chip %u block %u is not chip %u's "
                         "x",
                         kernel, topo, axis, c, j, chips[j]);
    }
    for (unsigned c = 0; c < t->n; c++)
        free(x[c]);
    free(x);
    free(o);
    sl_free(t);
}

static void test_all_gather(void **state)
{
    (void)state;
    check_all_gather("2", 0, "all_gather", 1, 1, 24, 128);
    check_all_gather("4", 0, "all_gather", 2, 2, 40, 128);
    check_all_gather("8", 0, "all_gather", 1, 1, 16, 64);
    check_all_gather("2x2", 1, "all_gather", 1, 1, 8, 128);
    check_all_gather("2x4", 1, "all_gather_bidir", 2, 2, 16, 128);
    check_all_gather("4", 0, "all_gather_bidir", 1, 1, 24, 128);
    check_all_gather("2x2x2", 2, "all_gather", 1, 1, 8, 128);
}

/* ---- reductions ---- */

/* f32 sum of block b over the ring in the unidirectional ring's order:
 * the partial starts at position b + 1 and ends with b's own. */
static float ring_sum_f32(float **x, const unsigned *chips, unsigned n,
                          unsigned b, size_t blk_elems, size_t i)
{
    float s = x[chips[(b + 1) % n]][b * blk_elems + i];
    for (unsigned k = 2; k <= n; k++)
        s = s + x[chips[(b + k) % n]][b * blk_elems + i];
    return s;
}

static void check_reduce(const char *topo, int axis, const char *kernel,
                         unsigned tcs, unsigned P, uint32_t rows_per_chip,
                         int scatter)
{
    sl *t = sl_new(topo, tcs);
    unsigned n = dim(t, axis);
    int i32 = strstr(kernel, "i32") != NULL;
    int bidir = strstr(kernel, "bidir") != NULL;
    uint32_t cols = 128;
    size_t blk_elems = (size_t)rows_per_chip * cols, blk = blk_elems * 4;
    size_t xb = blk * n, ob = scatter ? blk : xb;
    uint64_t o_off = X_OFF + ((xb + 0xfff) & ~0xfffull);
    void **x = calloc(t->n, sizeof(*x));
    uint8_t *o = malloc(ob);
    vtpu_launch L;

    for (unsigned c = 0; c < t->n; c++) {
        x[c] = malloc(xb);
        for (size_t i = 0; i < xb / 4; i++) {
            if (i32)
                ((uint32_t *)x[c])[i] = rnd32(t);
            else
                ((float *)x[c])[i] = rndf(t);
        }
        put(t, c, X_OFF, x[c], xb);
        memset(o, 0xa5, ob);
        put(t, c, o_off, o, ob);
    }
    mk_launch(t, &L, kernel, P, axis);
    uint32_t xs[2] = {rows_per_chip * n, cols};
    uint32_t os[2] = {scatter ? rows_per_chip : rows_per_chip * n, cols};
    launch_operand(&L, X_OFF, i32 ? VTPU_I32 : VTPU_F32, 2, xs);
    launch_operand(&L, o_off, i32 ? VTPU_I32 : VTPU_F32, 2, os);
    sl_run(t, &L, tcs);
    for (unsigned c = 0; c < t->n; c++) {
        unsigned chips[1024], rn, pos;
        ring_of(t, c, axis, chips, &rn, &pos);
        get(t, c, o_off, o, ob);
        for (unsigned b = 0; b < n; b++) {
            if (scatter && b != pos)
                continue;
            const uint8_t *ob_ = o + (scatter ? 0 : b * blk);
            for (size_t i = 0; i < blk_elems; i++) {
                if (i32) {
                    uint32_t want = 0, got;
                    for (unsigned k = 0; k < n; k++)
                        want += ((uint32_t *)x[chips[k]])[b * blk_elems + i];
                    memcpy(&got, ob_ + i * 4, 4);
                    if (got != want)
                        fail_msg("%s %s axis %d: chip %u block %u element "
                                 "%zu: %u, want %u",
                                 kernel, topo, axis, c, b, i, got, want);
                    continue;
                }
                float got;
                memcpy(&got, ob_ + i * 4, 4);
                if (!bidir) {
                    float want = ring_sum_f32((float **)x, chips, n, b,
                                              blk_elems, i);
                    if (memcmp(&got, &want, 4))
                        fail_msg("%s %s axis %d: chip %u block %u element "
                                 "%zu: %a, want %a (the ring's order)",
                                 kernel, topo, axis, c, b, i, got, want);
                } else {
                    double want = 0;
                    for (unsigned k = 0; k < n; k++)
                        want += ((float *)x[chips[k]])[b * blk_elems + i];
                    if (fabs(got - want) > 1e-5 * n)
                        fail_msg("%s %s axis %d: chip %u block %u element "
                                 "%zu: %g, want %g",
                                 kernel, topo, axis, c, b, i, got, want);
                }
            }
        }
    }
    for (unsigned c = 0; c < t->n; c++)
        free(x[c]);
    free(x);
    free(o);
    sl_free(t);
}

static void test_reduce_scatter(void **state)
{
    (void)state;
    check_reduce("2", 0, "reduce_scatter_f32", 1, 1, 8, 1);
    check_reduce("4", 0, "reduce_scatter_f32", 2, 2, 2176, 1); /* chunks */
    check_reduce("4", 0, "reduce_scatter_i32", 2, 2, 24, 1);
    check_reduce("8", 0, "reduce_scatter_f32", 1, 1, 16, 1);
    check_reduce("2x4", 1, "reduce_scatter_f32", 1, 1, 8, 1);
    check_reduce("2x2x2", 2, "reduce_scatter_i32", 1, 1, 8, 1);
}

static void test_all_reduce(void **state)
{
    (void)state;
    /* 2176 rows a chip: 1088 KiB blocks, two 512 KiB chunks and a part
     * (for 2 programs: one chunk and a part each); 272: one part */
    check_reduce("2", 0, "all_reduce_f32", 1, 1, 2176, 0);
    check_reduce("4", 0, "all_reduce_i32", 2, 2, 2176, 0);
    check_reduce("2", 0, "all_reduce_f32", 1, 1, 272, 0);
    check_reduce("4", 0, "all_reduce_i32", 2, 2, 16, 0);
    check_reduce("8", 0, "all_reduce_f32", 2, 1, 8, 0);
    check_reduce("4", 0, "all_reduce_f32_bidir", 1, 1, 2176, 0);
    check_reduce("4", 0, "all_reduce_f32_bidir", 1, 1, 272, 0);
    check_reduce("8", 0, "all_reduce_f32_bidir", 2, 2, 16, 0);
    check_reduce("2x2", 0, "all_reduce_f32", 1, 1, 8, 0);
    check_reduce("2x4", 1, "all_reduce_f32_bidir", 1, 1, 16, 0);
    check_reduce("2x2x2", 1, "all_reduce_i32", 1, 1, 8, 0);
}

/* ---- collective matmul ---- */

/* o (n*m, Nc) and xg on every chip of a slice of `topo` along `axis`;
 * returns chip 0's o (malloc'd) for the comparison across slices. */
static float *run_cmm(const char *topo, int axis, uint32_t m, uint32_t K,
                      uint32_t N, float *xall, float *wall)
{
    sl *t = sl_new(topo, 1);
    unsigned n = dim(t, axis);
    uint32_t Nc = N / n;
    size_t xb = (size_t)m * K * 4, wb = (size_t)K * Nc * 4,
           ob = (size_t)n * m * Nc * 4, gb = xb * n;
    uint64_t w_off = X_OFF + ((xb + 0xfff) & ~0xfffull);
    uint64_t o_off = w_off + ((wb + 0xfff) & ~0xfffull);
    uint64_t g_off = o_off + ((ob + 0xfff) & ~0xfffull);
    float *w = malloc(wb), *o = malloc(ob), *g = malloc(gb), *first = NULL;
    vtpu_launch L;

    for (unsigned c = 0; c < t->n; c++) {
        unsigned chips[1024], rn, pos;
        ring_of(t, c, axis, chips, &rn, &pos);
        /* chip at axis position pos: x rows [pos*m, +m), w columns
         * [pos*Nc, +Nc) */
        put(t, c, X_OFF, xall + (size_t)pos * m * K, xb);
        for (uint32_t r = 0; r < K; r++)
            memcpy(w + (size_t)r * Nc, wall + (size_t)r * N + pos * Nc,
                   Nc * 4);
        put(t, c, w_off, w, wb);
    }
    mk_launch(t, &L, "collective_matmul_f32", 1, axis);
    uint32_t xs[2] = {m, K}, ws[2] = {K, Nc}, os[2] = {n * m, Nc},
             gs[2] = {n * m, K};
    launch_operand(&L, X_OFF, VTPU_F32, 2, xs);
    launch_operand(&L, w_off, VTPU_F32, 2, ws);
    launch_operand(&L, o_off, VTPU_F32, 2, os);
    launch_operand(&L, g_off, VTPU_F32, 2, gs);
    sl_run(t, &L, 1);
    for (unsigned c = 0; c < t->n; c++) {
        unsigned chips[1024], rn, pos;
        ring_of(t, c, axis, chips, &rn, &pos);
        get(t, c, g_off, g, gb);
        if (memcmp(g, xall, gb))
            fail_msg("collective_matmul %s: chip %u's gathered x differs",
                     topo, c);
        get(t, c, o_off, o, ob);
        for (uint32_t i = 0; i < n * m; i++)
            for (uint32_t j = 0; j < Nc; j++) {
                double want = 0;
                for (uint32_t k = 0; k < K; k++)
                    want += (double)xall[(size_t)i * K + k] *
                            wall[(size_t)k * N + pos * Nc + j];
                float got = o[(size_t)i * Nc + j];
                if (fabs(got - want) > 1e-4 * (1 + fabs(want)))
                    fail_msg("collective_matmul %s: chip %u o[%u][%u] = %g, "
                             "want %g",
                             topo, c, i, j, got, want);
            }
        if (c == 0) {
            first = malloc(ob);
            memcpy(first, o, ob);
        }
    }
    free(w);
    free(o);
    free(g);
    sl_free(t);
    return first;
}

static void test_collective_matmul(void **state)
{
    (void)state;
    const uint32_t m = 16, K = 256, N = 512;
    uint64_t rng = 77;
    float *x = malloc((size_t)4 * m * K * 4), *w = malloc((size_t)K * N * 4);
    for (size_t i = 0; i < (size_t)4 * m * K; i++) {
        rng = rng * 6364136223846793005ull + 1;
        x[i] = (float)(rng >> 40) / 16777216.0f - 0.5f;
    }
    for (size_t i = 0; i < (size_t)K * N; i++) {
        rng = rng * 6364136223846793005ull + 1;
        w[i] = (float)(rng >> 40) / 16777216.0f - 0.5f;
    }
    /* 2 chips: the same x rows as one chip with 2m rows? No: compare
     * each against the host; and the 4-chip ring, and a 2x2 mesh's
     * axis-1 rings. */
    free(run_cmm("2", 0, m, K, N, x, w));
    free(run_cmm("4", 0, m, K, N, x, w));
    free(run_cmm("2x2", 1, 2 * m, K, N, x, w));
    free(x);
    free(w);
}

/* ---- a bounds error on a slice names its chip ---- */

/* A slice of n chips with selftest.elf (the kernels with planted bugs)
 * instead of the kernel library, the race and poison checks off (the
 * environment's: a planted stray access is often a race too, not these
 * tests' subject). */
static sl *sl_selftest(const char *topo)
{
    sl *t = sl_new(topo, 1);
    char err[256];

    free(t->elf);
    t->elf = test_read_file(KT_SELFTEST, &t->elf_len);
    if (vtpu_slice_load_elf(t->s, t->elf, t->elf_len, err, sizeof(err)))
        fail_msg("load: %s", err);
    for (unsigned c = 0; c < vtpu_slice_size(t->s); c++)
        assert_int_equal(vtpu_chip_set_checks(vtpu_slice_chip(t->s, c), false,
                                              false, err, sizeof(err)),
                         0);
    return t;
}

/* vst_small (selftest.elf: a VST of 8 rows into a (1,128) block) on
 * chips 0 and 1, with the buffer bounds check on chip 1 only: the run
 * fails with chip 1's fault; without the check it "succeeds". */
static void test_bounds_chip(void **state)
{
    (void)state;
    sl *t = sl_selftest("2");
    const uint32_t rows = 4;
    uint32_t sh[2] = {rows, 128};
    size_t b = (size_t)rows * 128 * 4;
    vtpu_run_opts opts = {.num_tcs = 1, .args = {DESC_OFF, 0}};
    vtpu_run_result res[2];
    vtpu_error e;
    vtpu_launch L;
    char msg[2048];

    uint32_t grid[1] = {rows};
    launch_init(&L, kindex(t, "vst_small"), 1, grid, NULL);
    launch_operand(&L, X_OFF, VTPU_F32, 2, sh);
    launch_operand(&L, X_OFF + 0x10000, VTPU_F32, 2, sh);
    launch_operand(&L, X_OFF + 0x20000, VTPU_F32, 2, sh);
    float *x = malloc(b);
    for (size_t i = 0; i < b / 4; i++)
        x[i] = (float)(rnd32(t) % 1000) / 8.0f;
    vtpu_chip_set_bounds(vtpu_slice_chip(t->s, 0), VTPU_BOUNDS_OFF);
    for (unsigned c = 0; c < 2; c++) {
        put_launch(t, c, &L);
        put(t, c, X_OFF, x, b);
    }
    assert_int_equal(vtpu_slice_run(t->s, &opts, res, &e), -1);
    vtpu_error_format(&e, msg, sizeof(msg));
    assert_int_equal(e.kind, VTPU_ERR_BOUNDS);
    assert_int_equal(e.chip, 1);
    if (strncmp(msg, "chip 1 TC 0: pc 0x", 18) ||
        !strstr(msg, "vst of VMEM of chip 1 TC 0"))
        fail_msg("bounds: %s", msg);
    /* the check off everywhere: the stray store goes unnoticed */
    vtpu_chip_set_bounds(vtpu_slice_chip(t->s, 1), VTPU_BOUNDS_OFF);
    sl_run(t, &L, 1);
    free(x);
    sl_free(t);
}

/* remote_stray (selftest.elf) on a ring of 4: every chip's remote copy
 * into its successor's o runs one row past o's array.  The bounds check
 * stops the sender and names the destination chip; with the check off the
 * copy lands (in HBM past o) and the run "succeeds". */
static void test_bounds_remote(void **state)
{
    (void)state;
    sl *t = sl_selftest("4");
    const uint32_t rows = 16;
    uint32_t sh[2] = {rows, 128};
    size_t b = (size_t)rows * 128 * 4;
    vtpu_run_opts opts = {.num_tcs = 1, .args = {DESC_OFF, 0}};
    vtpu_run_result res[4];
    vtpu_error e;
    vtpu_launch L;
    char msg[2048], want[64];

    uint32_t grid[1] = {1};
    launch_init(&L, kindex(t, "remote_stray"), 1, grid, NULL);
    launch_operand(&L, X_OFF, VTPU_F32, 2, sh);
    launch_operand(&L, X_OFF + b, VTPU_F32, 2, sh);
    float *x = malloc(b), *o = malloc(b);
    for (unsigned c = 0; c < 4; c++) {
        put_launch(t, c, &L);
        for (size_t i = 0; i < b / 4; i++)
            x[i] = (float)(rnd32(t) % 1000) / 8.0f;
        put(t, c, X_OFF, x, b);
    }
    assert_int_equal(vtpu_slice_run(t->s, &opts, res, &e), -1);
    vtpu_error_format(&e, msg, sizeof(msg));
    assert_int_equal(e.kind, VTPU_ERR_BOUNDS);
    snprintf(want, sizeof(want), "remote DMA write of HBM of chip %u",
             (e.chip + 1) % 4);
    if (!strstr(msg, want) || !strstr(msg, "leaves"))
        fail_msg("remote bounds: want \"%s\" in: %s", want, msg);
    /* the check off: each chip's x lands in its successor's o, a row on */
    for (unsigned c = 0; c < 4; c++)
        vtpu_chip_set_bounds(vtpu_slice_chip(t->s, c), VTPU_BOUNDS_OFF);
    sl_run(t, &L, 1);
    for (unsigned c = 0; c < 4; c++) {
        get(t, c, X_OFF, x, b);
        get(t, (c + 1) % 4, X_OFF + b + 512, o, b - 512);
        assert_memory_equal(o, x, b - 512);
    }
    free(x);
    free(o);
    sl_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_gather),
        cmocka_unit_test(test_reduce_scatter),
        cmocka_unit_test(test_all_reduce),
        cmocka_unit_test(test_bounds_remote),
        cmocka_unit_test(test_collective_matmul),
        cmocka_unit_test(test_bounds_chip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
