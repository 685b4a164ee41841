/*
 * test_dma.c - the DMA engines (dma.c) and dma.start (xtpu_sync.c).
 *
 * Most cases call vtpu_dma_start() directly on a chip's TCs: random
 * shapes of 1..4 dimensions with random (also zero and negative) strides
 * between every pair of spaces and across TCs, checked against a
 * byte-by-byte host reference, and every validation error with its field.
 * The last cases run real programs through the interpreter.
 */
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

/* The TC-side header: its descriptor must be what the engine reads. */
#include "vtpu/sync.h"

#define NTCS 2
#define HBM_SIZE (16u << 20)
#define SMEM_WIN 0x8000u /* window offsets inside each memory */
#define VMEM_WIN 0x4000u
#define HBM_WIN 0x200000u
#define WIN 0x4000u     /* DMAs stay inside [win, win + WIN) */
#define GUARD 256u      /* compared around each window, must not change */
#define DESC_OFF 0x100u /* descriptor offset in the starter's SMEM */
#define DESC_ADDR (VTPU_SMEM_BASE + DESC_OFF)
#define TEST_PC 0x00100040u

static int setup(void **state)
{
    (void)state;
    alarm(120); /* a hang fails the test instead of blocking the suite */
    return 0;
}

static vtpu_chip *dma_chip(unsigned ntcs)
{
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    cfg.num_tcs = ntcs;
    cfg.hbm_size = HBM_SIZE;
    cfg.vmem_size = 1u << 20;
    cfg.smem_size = 256u << 10;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        fail_msg("vtpu_chip_new: %s", err);
    /* Outside a run: what vtpu_chip_run() would set for the DMA path. */
    for (unsigned t = 0; t < ntcs; t++) {
        chip->tcs[t]->ntcs = ntcs;
        chip->tcs[t]->pc = TEST_PC;
        chip->tcs[t]->state = VTPU_TC_RUNNING;
    }
    return chip;
}

static void put_desc(vtpu_chip *chip, unsigned tc, uint32_t addr,
                     const vtpu_dma_desc *d)
{
    memcpy(chip->tcs[tc]->smem + (addr - VTPU_SMEM_BASE), d, sizeof(*d));
}

/* Host view of the window of (space, tc) and its address on the TC. */
static uint8_t *win_mem(vtpu_chip *chip, unsigned space, unsigned tc,
                        uint64_t *addr)
{
    switch (space) {
    case VTPU_DMA_HBM:
        *addr = HBM_WIN;
        return chip->hbm + HBM_WIN;
    case VTPU_DMA_VMEM:
        *addr = VTPU_VMEM_BASE + VMEM_WIN;
        return chip->tcs[tc]->vmem + VMEM_WIN;
    default:
        *addr = VTPU_SMEM_BASE + SMEM_WIN;
        return chip->tcs[tc]->smem + SMEM_WIN;
    }
}

/* Every window with its guard bands: 1 HBM + per TC VMEM and SMEM. */
#define NWIN (1 + 2 * VTPU_MAX_TCS)
static uint8_t *win_at(vtpu_chip *chip, unsigned ntcs, unsigned i)
{
    uint64_t a;
    if (i == 0)
        return win_mem(chip, VTPU_DMA_HBM, 0, &a) - GUARD;
    i--;
    if (i / 2 >= ntcs)
        return NULL;
    return win_mem(chip, i % 2 ? VTPU_DMA_SMEM : VTPU_DMA_VMEM, i / 2, &a) -
           GUARD;
}

typedef struct snapshot {
    uint8_t mem[NWIN][WIN + 2 * GUARD];
} snapshot;

static void fill_windows(vtpu_chip *chip, unsigned ntcs, uint64_t *rng)
{
    for (unsigned i = 0; i < NWIN; i++) {
        uint8_t *p = win_at(chip, ntcs, i);
        for (unsigned j = 0; p && j < WIN + 2 * GUARD; j += 4) {
            uint32_t r = test_rand32(rng);
            memcpy(p + j, &r, 4);
        }
    }
}

static void take(vtpu_chip *chip, unsigned ntcs, snapshot *s)
{
    for (unsigned i = 0; i < NWIN; i++) {
        uint8_t *p = win_at(chip, ntcs, i);
        if (p)
            memcpy(s->mem[i], p, sizeof(s->mem[i]));
    }
}

static void assert_windows(vtpu_chip *chip, unsigned ntcs, const snapshot *s,
                           unsigned iter)
{
    for (unsigned i = 0; i < NWIN; i++) {
        uint8_t *p = win_at(chip, ntcs, i);
        if (!p || !memcmp(p, s->mem[i], sizeof(s->mem[i])))
            continue;
        for (unsigned j = 0; j < sizeof(s->mem[i]); j++)
            if (p[j] != s->mem[i][j])
                fail_msg("case %u: window %u byte %d: got 0x%02x, want "
                         "0x%02x",
                         iter, i, (int)j - (int)GUARD, p[j], s->mem[i][j]);
    }
}

/* The snapshot byte that stands for (space, tc, address). */
static uint8_t *ref_byte(snapshot *s, unsigned space, unsigned tc, int64_t addr)
{
    unsigned i;
    int64_t base;
    switch (space) {
    case VTPU_DMA_HBM:
        i = 0;
        base = HBM_WIN;
        break;
    case VTPU_DMA_VMEM:
        i = 1 + 2 * tc;
        base = VTPU_VMEM_BASE + VMEM_WIN;
        break;
    default:
        i = 2 + 2 * tc;
        base = VTPU_SMEM_BASE + SMEM_WIN;
        break;
    }
    int64_t off = addr - base;
    assert_true(off >= 0 && off < (int64_t)WIN);
    return &s->mem[i][GUARD + off];
}

/*
 * The documented semantics, naively: runs in lexicographic order of
 * (dim3, dim2, dim1), each run read completely before it is written.
 */
static void reference_copy(snapshot *s, const vtpu_dma_desc *d,
                           unsigned starter)
{
    /* VTPU_DMA_ADD: the element type, else 0 (a copy) */
    unsigned add = d->flags & VTPU_DMA_ADD ? d->flags >> 4 & 0xf : 0;
    unsigned stc = d->src_tc == VTPU_DMA_SELF ? starter : d->src_tc;
    unsigned dtc = d->dst_tc == VTPU_DMA_SELF ? starter : d->dst_tc;
    uint32_t n[4] = {1, 1, 1, 1};
    int64_t ss[4] = {0}, ds[4] = {0};
    uint8_t run[4096];

    for (unsigned i = 0; i < d->ndims; i++)
        n[i] = d->shape[i];
    for (unsigned i = 1; i < d->ndims; i++) {
        ss[i] = d->src_stride[i - 1];
        ds[i] = d->dst_stride[i - 1];
    }
    assert_true(n[0] <= sizeof(run));
    for (uint32_t i3 = 0; i3 < n[3]; i3++)
        for (uint32_t i2 = 0; i2 < n[2]; i2++)
            for (uint32_t i1 = 0; i1 < n[1]; i1++) {
                int64_t so =
                    (int64_t)d->src + i1 * ss[1] + i2 * ss[2] + i3 * ss[3];
                int64_t dof =
                    (int64_t)d->dst + i1 * ds[1] + i2 * ds[2] + i3 * ds[3];
                for (uint32_t b = 0; b < n[0]; b++)
                    run[b] = *ref_byte(s, d->src_space, stc, so + b);
                /* an adding DMA: run = dst + run, element by element
                 * (little-endian words, the host's scalar arithmetic) */
                for (uint32_t b = 0; add && b < n[0]; b += 4) {
                    uint32_t x = 0, v;
                    for (unsigned k = 0; k < 4; k++)
                        x |= (uint32_t)*ref_byte(s, d->dst_space, dtc,
                                                 dof + b + k)
                             << 8 * k;
                    memcpy(&v, run + b, 4);
                    if (add == VTPU_F32) {
                        float fx, fv;
                        memcpy(&fx, &x, 4);
                        memcpy(&fv, &v, 4);
                        fx = fx + fv;
                        memcpy(&x, &fx, 4);
                    } else {
                        x += v;
                    }
                    memcpy(run + b, &x, 4);
                }
                for (uint32_t b = 0; b < n[0]; b++)
                    *ref_byte(s, d->dst_space, dtc, dof + b) = run[b];
            }
}

static unsigned pick_tc(uint64_t *rng, unsigned ntcs, unsigned space)
{
    if (space == VTPU_DMA_HBM)
        return 0;
    unsigned r = test_rand32(rng) % (ntcs + 1);
    return r == ntcs ? VTPU_DMA_SELF : r;
}

/* A random stride for dimension i: contiguous, zero, or anything. */
static int64_t pick_stride(uint64_t *rng, unsigned unit, int64_t inner)
{
    switch (test_rand32(rng) % 4) {
    case 0:
        return inner; /* contiguous: collapses into the dim inside */
    case 1:
        return 0;
    default:
        return ((int64_t)(test_rand32(rng) % 129) - 64) * (int64_t)unit;
    }
}

/* Address for one side: anywhere its whole range fits in the window. */
static uint64_t pick_addr(uint64_t *rng, uint64_t win_addr,
                          const int64_t *stride, const uint32_t *shape,
                          unsigned ndims, unsigned unit)
{
    int64_t neg = 0, pos = 0;
    for (unsigned i = 1; i < ndims; i++) {
        int64_t e = stride[i - 1] * (int64_t)(shape[i] - 1);
        if (e < 0)
            neg += e;
        else
            pos += e;
    }
    int64_t lo = -neg, hi = (int64_t)WIN - pos - (int64_t)shape[0];
    assert_true(hi >= lo);
    int64_t span = (hi - lo) / unit + 1;
    return win_addr +
           (uint64_t)(lo + (int64_t)(test_rand64(rng) % (uint64_t)span) * unit);
}

static void random_desc(uint64_t *rng, vtpu_chip *chip, unsigned ntcs,
                        vtpu_dma_desc *d, unsigned *starter, bool add)
{
    uint64_t a;
    memset(d, 0, sizeof(*d));
    *starter = test_rand32(rng) % ntcs;
    d->src_space = 1 + test_rand32(rng) % 3;
    d->dst_space = 1 + test_rand32(rng) % 3;
    d->src_tc = pick_tc(rng, ntcs, d->src_space);
    d->dst_tc = pick_tc(rng, ntcs, d->dst_space);
    unsigned unit =
        add || d->src_space == VTPU_DMA_VMEM || d->dst_space == VTPU_DMA_VMEM
            ? 4
            : 1;
    d->ndims = 1 + test_rand32(rng) % 4;
    d->shape[0] = unit * (1 + test_rand32(rng) % 24);
    /* What "contiguous" means for the next dimension, per side. */
    int64_t sin = d->shape[0], din = d->shape[0];
    for (unsigned i = 1; i < 4; i++) {
        d->shape[i] = i < d->ndims ? 1 + test_rand32(rng) % 4 : 1;
        if (i >= d->ndims)
            continue;
        d->src_stride[i - 1] = pick_stride(rng, unit, sin);
        d->dst_stride[i - 1] = pick_stride(rng, unit, din);
        sin = d->src_stride[i - 1] * (int64_t)d->shape[i];
        din = d->dst_stride[i - 1] * (int64_t)d->shape[i];
    }
    unsigned stc = d->src_tc == VTPU_DMA_SELF ? *starter : d->src_tc;
    unsigned dtc = d->dst_tc == VTPU_DMA_SELF ? *starter : d->dst_tc;
    win_mem(chip, d->src_space, stc, &a);
    d->src = pick_addr(rng, a, d->src_stride, d->shape, d->ndims, unit);
    win_mem(chip, d->dst_space, dtc, &a);
    d->dst = pick_addr(rng, a, d->dst_stride, d->shape, d->ndims, unit);
    d->sem_tc = (uint8_t)pick_tc(rng, ntcs, VTPU_DMA_SMEM);
    d->sem = test_rand32(rng) % chip->cfg.num_sems;
    if (add)
        vtpu_dma_set_add(d, VTPU_F32 + test_rand32(rng) % 3); /* F32, I32,
                                                                 U32 */
}

/*
 * For adding DMAs: no NaN or infinity in the windows (random bits are
 * full of them), so that every f32 sum of two words is a number or an
 * infinity and compares bit for bit (a NaN's payload is unspecified).
 * Subnormals stay.
 */
static void finite_windows(vtpu_chip *chip, unsigned ntcs)
{
    for (unsigned i = 0; i < NWIN; i++) {
        uint8_t *p = win_at(chip, ntcs, i);
        for (unsigned j = 0; p && j < WIN + 2 * GUARD; j += 4) {
            uint32_t w;
            memcpy(&w, p + j, 4);
            if ((w >> 23 & 0xff) == 0xff)
                w &= ~(1u << 30);
            memcpy(p + j, &w, 4);
        }
    }
}

static void run_random(unsigned ntcs, unsigned iters, uint64_t seed, bool add)
{
    vtpu_chip *chip = dma_chip(ntcs);
    static snapshot ref;
    uint64_t rng = seed;

    for (unsigned it = 0; it < iters; it++) {
        vtpu_dma_desc d;
        unsigned starter;
        random_desc(&rng, chip, ntcs, &d, &starter, add);
        fill_windows(chip, ntcs, &rng);
        if (add)
            finite_windows(chip, ntcs);
        take(chip, ntcs, &ref);
        reference_copy(&ref, &d, starter);
        put_desc(chip, starter, DESC_ADDR, &d);

        vtpu_tc *tc = chip->tcs[starter];
        if (vtpu_dma_start(tc, DESC_ADDR) != 0)
            fail_msg("case %u: unexpected fault: %s", it, tc->err.detail);
        assert_windows(chip, ntcs, &ref, it);

        unsigned semtc = d.sem_tc == VTPU_DMA_SELF ? starter : d.sem_tc;
        assert_int_equal(chip->tcs[semtc]->sems[d.sem], vtpu_dma_bytes(&d));
        chip->tcs[semtc]->sems[d.sem] = 0;
    }
    vtpu_chip_free(chip);
}

static void test_random_2tc(void **state)
{
    (void)state;
    run_random(2, 3000, 0x9e3779b97f4a7c15ull, false);
}

static void test_random_4tc(void **state)
{
    (void)state;
    run_random(4, 1500, 0x1234567887654321ull, false);
}

/* VTPU_DMA_ADD: random shapes, strides, spaces, overlaps and types. */
static void test_random_add(void **state)
{
    (void)state;
    run_random(2, 3000, 0x5851f42d4c957f2dull, true);
    run_random(4, 1500, 0x14057b7ef767814full, true);
}

/* The block copy a pipeline does most: rows of an HBM array to VMEM. */
static void test_block_hbm_to_vmem(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    const unsigned rows = 8, cols = 128, pitch = 1024 * 4;
    uint32_t *hbm = (uint32_t *)(chip->hbm + HBM_WIN);
    for (unsigned r = 0; r < rows; r++)
        for (unsigned c = 0; c < 1024; c++)
            hbm[r * 1024 + c] = r * 100000 + c;

    vtpu_dma_desc d;
    vtpu_dma_ref dst = {VTPU_VMEM_BASE, VTPU_DMA_VMEM, 1};
    vtpu_dma_2d(&d, dst, cols * 4, vtpu_hbm(HBM_WIN + 256 * 4), pitch, cols * 4,
                rows, 5);
    vtpu_dma_set_sem(&d, 1, 7);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);

    const uint32_t *v = (const uint32_t *)chip->tcs[1]->vmem;
    for (unsigned r = 0; r < rows; r++)
        for (unsigned c = 0; c < cols; c++)
            assert_int_equal(v[r * cols + c], r * 100000 + 256 + c);
    assert_int_equal(chip->tcs[1]->sems[7], rows * cols * 4);
    assert_int_equal(chip->tcs[0]->sems[5], 0);
    vtpu_chip_free(chip);
}

/* Overlapping source and destination: memmove semantics per run. */
static void test_overlap(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    uint8_t *s = chip->tcs[0]->smem + SMEM_WIN, want[256];
    for (unsigned i = 0; i < 256; i++)
        s[i] = (uint8_t)i;
    memcpy(want, s, 256);
    memmove(want + 3, want, 200);

    vtpu_dma_desc d;
    vtpu_dma_1d(&d, vtpu_smem_tc(VTPU_DMA_SELF, 0), vtpu_smem_tc(0, 0), 200, 0);
    d.src = VTPU_SMEM_BASE + SMEM_WIN;
    d.dst = VTPU_SMEM_BASE + SMEM_WIN + 3;
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
    assert_memory_equal(s, want, 256);
    assert_int_equal(chip->tcs[0]->sems[0], 200);

    /*
     * Runs that are contiguous on both sides but overlap: still run by
     * run, so run 1 reads what run 0 wrote (not one big memmove).
     */
    for (unsigned i = 0; i < 256; i++)
        s[i] = (uint8_t)i;
    memcpy(want, s, 256);
    for (unsigned r = 0; r < 4; r++)
        memmove(want + 3 + 8 * r, want + 8 * r, 8);
    uint32_t shape[2] = {8, 4};
    int64_t st[1] = {8};
    vtpu_dma_nd(&d, vtpu_smem_tc(0, 0), vtpu_smem_tc(0, 0), 2, shape, st, st,
                0);
    d.src = VTPU_SMEM_BASE + SMEM_WIN;
    d.dst = VTPU_SMEM_BASE + SMEM_WIN + 3;
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
    assert_memory_equal(s, want, 256);
    vtpu_chip_free(chip);
}

/* Runs of 1 MiB or more are copied with non-temporal stores (dma.c):
 * HBM to HBM, 1-D and 2-D, destinations at every alignment mod 16 and
 * odd lengths, random data; the bytes around the destination must not
 * change. */
static void test_large_runs(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(1);
    uint64_t rng = 0x5eed1a26e;
    const uint64_t src = 1u << 20, dst = 8u << 20;
    const uint32_t len = (1u << 20) + 77;
    uint8_t *h = chip->hbm;

    for (uint32_t i = 0; i < (6u << 20); i += 4) {
        uint32_t r = test_rand32(&rng);
        memcpy(h + src + i, &r, 4);
    }
    for (unsigned k = 0; k < 4; k++) {
        uint64_t at = dst + 5 * k; /* 0, 5, 10, 15 mod 16 */
        uint64_t from = src + 3 * k;
        vtpu_dma_desc d;
        memset(h + dst - 64, 0xa5, (6u << 20) + 128);
        if (k < 2) {
            vtpu_dma_1d(&d, vtpu_hbm(at), vtpu_hbm(from), len, 0);
        } else { /* two rows of len, 2 MiB apart on both sides */
            uint32_t shape[2] = {len, 2};
            int64_t st[1] = {2u << 20};
            vtpu_dma_nd(&d, vtpu_hbm(at), vtpu_hbm(from), 2, shape, st, st, 0);
        }
        put_desc(chip, 0, DESC_ADDR, &d);
        chip->tcs[0]->sems[0] = 0;
        assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
        unsigned rows = k < 2 ? 1 : 2;
        assert_int_equal(chip->tcs[0]->sems[0], rows * len);
        for (unsigned r = 0; r < rows; r++)
            assert_memory_equal(h + at + r * (2u << 20),
                                h + from + r * (2u << 20), len);
        for (uint64_t b = dst - 64; b < at; b++)
            assert_int_equal(h[b], 0xa5);
        for (unsigned r = 0; r < rows; r++) {
            uint64_t end = at + r * (2u << 20) + len;
            uint64_t next = r + 1 < rows ? at + (r + 1) * (2u << 20) : end + 64;
            for (uint64_t b = end; b < next; b++)
                assert_int_equal(h[b], 0xa5);
        }
    }
    vtpu_chip_free(chip);
}

/* A zero count moves nothing, signals by 0, and ignores the addresses. */
/*
 * VTPU_DMA_ADD on long runs (the engine adds in blocks of 1024 elements
 * and a tail; overlapping runs go through a 4 KiB buffer piece by piece):
 * HBM to HBM and HBM to VMEM, source before or after an overlapping
 * destination, against the host's scalar sum of a copy of the source.
 */
static void check_add(vtpu_chip *chip, uint8_t *dmem, vtpu_dma_ref dst,
                      uint8_t *smem, vtpu_dma_ref src, uint32_t len,
                      unsigned type, uint64_t *rng, const char *what)
{
    uint32_t n = len / 4;
    uint32_t *want = malloc(len), *s0 = malloc(len);
    vtpu_dma_desc d;

    assert_non_null(want);
    assert_non_null(s0);
    for (uint32_t i = 0; i < n; i++) { /* finite f32s of any exponent */
        uint32_t a = test_rand32(rng), b = test_rand32(rng);
        if ((a >> 23 & 0xff) == 0xff)
            a &= ~(1u << 30);
        if ((b >> 23 & 0xff) == 0xff)
            b &= ~(1u << 30);
        memcpy(smem + 4 * (size_t)i, &a, 4);
        memcpy(dmem + 4 * (size_t)i, &b, 4);
    }
    memcpy(s0, smem, len); /* the source as it was (it may overlap) */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, dmem + 4 * (size_t)i, 4);
        if (type == VTPU_F32) {
            float f, g;
            memcpy(&f, &x, 4);
            memcpy(&g, &s0[i], 4);
            f = f + g;
            memcpy(&want[i], &f, 4);
        } else {
            want[i] = x + s0[i];
        }
    }
    vtpu_dma_1d(&d, dst, src, len, 0);
    vtpu_dma_set_add(&d, type);
    put_desc(chip, 0, DESC_ADDR, &d);
    chip->tcs[0]->sems[0] = 0;
    if (vtpu_dma_start(chip->tcs[0], DESC_ADDR))
        fail_msg("%s: %s", what, chip->tcs[0]->err.detail);
    assert_int_equal(chip->tcs[0]->sems[0], len);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t got;
        memcpy(&got, dmem + 4 * (size_t)i, 4);
        if (got != want[i])
            fail_msg("%s: element %u: got 0x%08x, want 0x%08x", what, i, got,
                     want[i]);
    }
    free(want);
    free(s0);
}

static void test_add_runs(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(1);
    uint64_t rng = 0xadd5eed;
    uint8_t *h = chip->hbm, *v = chip->tcs[0]->vmem;
    const uint32_t len = 3 * 4096 * 4 + 4 * 13; /* 3 blocks and a tail */
    static const unsigned types[] = {VTPU_F32, VTPU_I32, VTPU_U32};

    for (unsigned t = 0; t < 3; t++) {
        unsigned ty = types[t];
        check_add(chip, h + (4u << 20), vtpu_hbm(4u << 20), h + (1u << 20),
                  vtpu_hbm(1u << 20), len, ty, &rng, "HBM to HBM");
        check_add(chip, v + 4096,
                  vtpu_vmem_tc(0, (void *)(VTPU_VMEM_BASE + 4096)), h + 12,
                  vtpu_hbm(12), len, ty, &rng, "HBM to VMEM");
        /* overlapping: destination 8 bytes below / above the source */
        check_add(chip, h + (2u << 20) - 8, vtpu_hbm((2u << 20) - 8),
                  h + (2u << 20), vtpu_hbm(2u << 20), len, ty, &rng,
                  "overlap, dst below src");
        check_add(chip, h + (2u << 20) + 8, vtpu_hbm((2u << 20) + 8),
                  h + (2u << 20), vtpu_hbm(2u << 20), len, ty, &rng,
                  "overlap, dst above src");
        check_add(chip, h + (3u << 20), vtpu_hbm(3u << 20), h + (3u << 20),
                  vtpu_hbm(3u << 20), len, ty, &rng, "dst == src");
    }

    /* f32 by hand: subnormals are kept, signs of zero, infinities,
     * round to nearest even, and a NaN result is a NaN. */
    static const uint32_t a[] = {0x00000001, 0x80000000, 0x7f800000,
                                 0x3f800000, 0x4b800000, 0x7f800000,
                                 0x00400000, 0x7f7fffff};
    static const uint32_t b[] = {0x00000001, 0x80000000, 0x3f800000,
                                 0x33800000, 0x3f800000, 0xff800000,
                                 0x00400000, 0x7f7fffff};
    static const uint32_t sum[] = {0x00000002, 0x80000000, 0x7f800000,
                                   0x3f800000, 0x4b800000, 0x7fc00000,
                                   0x00800000, 0x7f800000};
    /* 1 + 2^-24 rounds to even (1), 2^24 + 1 too; inf - inf is a NaN */
    memcpy(h + 64, a, sizeof(a));
    memcpy(h + 128, b, sizeof(b));
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, vtpu_hbm(128), vtpu_hbm(64), sizeof(a), 0);
    vtpu_dma_set_add(&d, VTPU_F32);
    put_desc(chip, 0, DESC_ADDR, &d);
    chip->tcs[0]->sems[0] = 0;
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
    for (unsigned i = 0; i < 8; i++) {
        uint32_t got;
        memcpy(&got, h + 128 + 4 * i, 4);
        if (i == 5) {
            if ((got & 0x7f800000) != 0x7f800000 || !(got & 0x007fffff))
                fail_msg("inf + -inf: 0x%08x is not a NaN", got);
        } else if (got != sum[i]) {
            fail_msg("f32 case %u: got 0x%08x, want 0x%08x", i, got, sum[i]);
        }
    }
    vtpu_chip_free(chip);
}

static void test_zero_size(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    vtpu_dma_desc d;
    uint32_t shape[3] = {64, 0, 3};
    int64_t st[2] = {64, 64};
    vtpu_dma_3d(&d, vtpu_hbm(~0ull), st, vtpu_hbm(HBM_SIZE * 2), st, shape, 2);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
    assert_int_equal(chip->tcs[0]->sems[2], 0);
    vtpu_chip_free(chip);
}

/* VMEM_SHARED: one buffer at VTPU_VMEM_SHARED_BASE for every TC; the
 * descriptor's TC field does not select it. */
static void test_vmem_shared(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    uint32_t sh = chip->cfg.vmem_shared_size;
    uint8_t src[4096], got[4096];
    uint64_t rng = 5;
    vtpu_dma_desc d;

    assert_int_equal(sh, 1u << 20); /* the presets' size */
    for (unsigned i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)test_rand32(&rng);
    memcpy(chip->tcs[0]->smem + SMEM_WIN, src, sizeof(src));
    /* TC 0: its SMEM -> the last 4 KiB of VMEM_SHARED, "of TC 1" */
    uint32_t at = VTPU_VMEM_SHARED_BASE + sh - sizeof(src);
    vtpu_dma_1d(&d, vtpu_vmem_tc(1, (void *)(uintptr_t)at),
                vtpu_smem((void *)(uintptr_t)(VTPU_SMEM_BASE + SMEM_WIN)),
                sizeof(src), 0);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
    assert_memory_equal(chip->vmem_shared + sh - sizeof(src), src, sizeof(src));
    /* TC 1 reads the same bytes back into its SMEM */
    vtpu_dma_1d(&d, vtpu_smem((void *)(uintptr_t)(VTPU_SMEM_BASE + SMEM_WIN)),
                vtpu_vmem((void *)(uintptr_t)at), sizeof(src), 0);
    put_desc(chip, 1, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[1], DESC_ADDR), 0);
    memcpy(got, chip->tcs[1]->smem + SMEM_WIN, sizeof(got));
    assert_memory_equal(got, src, sizeof(src));
    /* TC 1's own VMEM was not touched */
    for (unsigned i = 0; i < chip->cfg.vmem_size; i += 4096)
        assert_int_equal(chip->tcs[1]->vmem[i], 0);
    /* one byte past its end */
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)(at + 4)),
                vtpu_smem((void *)(uintptr_t)(VTPU_SMEM_BASE + SMEM_WIN)),
                sizeof(src), 0);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), -1);
    assert_int_equal(chip->tcs[0]->err.kind, VTPU_ERR_DMA);
    assert_non_null(strstr(chip->tcs[0]->err.detail, "dst:"));
    vtpu_chip_free(chip);

    /* vmem-shared = 0: no shared window */
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v4", err, sizeof(err)), 0);
    assert_int_equal(
        vtpu_config_set(&cfg, "vmem-shared", "0", err, sizeof(err)), 0);
    chip = vtpu_chip_new(&cfg, err, sizeof(err));
    assert_non_null(chip);
    chip->tcs[0]->ntcs = 1;
    chip->tcs[0]->state = VTPU_TC_RUNNING;
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)VTPU_VMEM_SHARED_BASE),
                vtpu_smem((void *)(uintptr_t)(VTPU_SMEM_BASE + SMEM_WIN)), 64,
                0);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), -1);
    assert_int_equal(chip->tcs[0]->err.kind, VTPU_ERR_DMA);
    vtpu_chip_free(chip);
    assert_int_equal(
        vtpu_config_set(&cfg, "vmem-shared", "65M", err, sizeof(err)), 0);
    assert_int_equal(vtpu_config_validate(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "vmem-shared"));
}

/* Ranges that end exactly at the end of a space are fine. */
static void test_edges(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    vtpu_tc *tc = chip->tcs[0];
    vtpu_dma_desc d;
    memset(chip->hbm + HBM_SIZE - 64, 0xab, 64);
    vtpu_dma_ref dst = {VTPU_VMEM_BASE + tc->vmem_size - 64, VTPU_DMA_VMEM,
                        VTPU_DMA_SELF};
    vtpu_dma_1d(&d, dst, vtpu_hbm(HBM_SIZE - 64), 64, 0);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(tc, DESC_ADDR), 0);
    assert_int_equal(tc->vmem[tc->vmem_size - 1], 0xab);

    /* Negative strides walking down to offset 0 exactly. */
    uint32_t shape[2] = {16, 4};
    int64_t ss[1] = {-16}, ds[1] = {16};
    vtpu_dma_ref src = {VTPU_SMEM_BASE + 48, VTPU_DMA_SMEM, 1};
    for (unsigned i = 0; i < 64; i++)
        chip->tcs[1]->smem[i] = (uint8_t)i;
    vtpu_dma_nd(&d, vtpu_hbm(0), src, 2, shape, ds, ss, 1);
    /* The descriptor sits at the end of SMEM: the last legal place. */
    uint32_t last = VTPU_SMEM_BASE + tc->smem_size - 96;
    put_desc(chip, 0, last, &d);
    assert_int_equal(vtpu_dma_start(tc, last), 0);
    for (unsigned r = 0; r < 4; r++)
        for (unsigned b = 0; b < 16; b++)
            assert_int_equal(chip->hbm[r * 16 + b], (3 - r) * 16 + b);
    assert_int_equal(tc->sems[1], 64);
    vtpu_chip_free(chip);
}

/* ---- validation: every error names its field, nothing moves ---- */

typedef struct bad_case {
    const char *name;
    void (*mutate)(vtpu_dma_desc *d, uint32_t *desc_addr);
    const char *detail; /* must appear in err.detail */
    vtpu_space space;   /* err.space */
} bad_case;

/* The valid base case: 2-D, TC0's SMEM -> TC1's VMEM, sem 3 of TC1. */
static void base_desc(vtpu_dma_desc *d)
{
    uint32_t shape[2] = {64, 4};
    int64_t ss[1] = {128}, ds[1] = {64};
    vtpu_dma_ref src = {VTPU_SMEM_BASE + SMEM_WIN, VTPU_DMA_SMEM,
                        VTPU_DMA_SELF};
    vtpu_dma_ref dst = {VTPU_VMEM_BASE + VMEM_WIN, VTPU_DMA_VMEM, 1};
    vtpu_dma_nd(d, dst, src, 2, shape, ds, ss, 3);
    vtpu_dma_set_sem(d, 1, 3);
}

#define MUT(fn, body)                                                          \
    static void fn(vtpu_dma_desc *d, uint32_t *a)                              \
    {                                                                          \
        (void)d;                                                               \
        (void)a;                                                               \
        body;                                                                  \
    }

MUT(m_desc_misaligned, *a += 4)
MUT(m_desc_past_smem, *a = VTPU_SMEM_BASE + (256u << 10) - 88)
MUT(m_desc_in_vmem, *a = VTPU_VMEM_BASE)
MUT(m_desc_below_smem, *a = 0x0ffffff8)
MUT(m_flags, d->flags = 2) /* bit 0 is VTPU_DMA_REMOTE */
MUT(m_reserved, d->reserved = 0x80000000u)
MUT(m_ndims0, d->ndims = 0)
MUT(m_ndims5, d->ndims = 5)
MUT(m_src_space0, d->src_space = 0)
MUT(m_dst_space_imem, d->dst_space = VTPU_SPACE_IMEM)
MUT(m_dst_tc, d->dst_tc = 2)
MUT(m_src_tc_hbm, (d->src_space = VTPU_DMA_HBM, d->src = 0, d->src_tc = 1))
MUT(m_sem_tc, d->sem_tc = 7)
MUT(m_sem, d->sem = 4096)
MUT(m_huge, (d->shape[0] = 0x10000, d->shape[1] = 0x10000, d->src_stride[0] = 0,
             d->dst_stride[0] = 0))
MUT(m_vmem_addr, d->dst += 2)
MUT(m_vmem_run, d->shape[0] = 62)
MUT(m_vmem_stride, d->dst_stride[0] = 66)
MUT(m_src_past_end, d->src = VTPU_SMEM_BASE + (256u << 10) - 64 - 3 * 128 + 1)
MUT(m_src_below, d->src = VTPU_SMEM_BASE - 4)
MUT(m_src_above, d->src = VTPU_SMEM_BASE + (256u << 10) + 4)
MUT(m_dst_neg, d->dst_stride[0] = -8192)
MUT(m_stride_overflow, d->src_stride[0] = INT64_MAX / 2)
MUT(m_stride_sum_overflow,
    (d->ndims = 3, d->shape[2] = 2, d->src_stride[0] = INT64_MAX / 3,
     d->src_stride[1] = INT64_MAX / 2))
MUT(m_hbm_past_end,
    (d->src_space = VTPU_DMA_HBM, d->src_tc = 0, d->src = HBM_SIZE - 64))
#define ADD_F32 (VTPU_DMA_ADD | VTPU_F32 << 4)
MUT(m_add_bf16, d->flags = VTPU_DMA_ADD | VTPU_BF16 << 4)
MUT(m_add_type_only, d->flags = VTPU_F32 << 4)
MUT(m_flags_bit8, d->flags = ADD_F32 | 1u << 8)
MUT(m_add_addr, (d->flags = ADD_F32, d->src += 2))
MUT(m_add_run, (d->flags = ADD_F32, d->shape[0] = 62))
MUT(m_add_stride, (d->flags = ADD_F32, d->src_stride[0] = 130))
MUT(m_hbm_huge, (d->src_space = VTPU_DMA_HBM, d->src_tc = 0,
                 d->src = 0xffffffffffffff00ull))

static const bad_case bad_cases[] = {
    {"desc misaligned", m_desc_misaligned, "descriptor:", VTPU_SPACE_SMEM},
    {"desc past SMEM", m_desc_past_smem, "descriptor:", VTPU_SPACE_SMEM},
    {"desc in VMEM", m_desc_in_vmem, "descriptor:", VTPU_SPACE_SMEM},
    {"desc below SMEM", m_desc_below_smem, "descriptor:", VTPU_SPACE_SMEM},
    {"flags", m_flags, "flags:", VTPU_SPACE_SMEM},
    {"reserved", m_reserved, "reserved:", VTPU_SPACE_SMEM},
    {"ndims 0", m_ndims0, "ndims:", VTPU_SPACE_SMEM},
    {"ndims 5", m_ndims5, "ndims:", VTPU_SPACE_SMEM},
    {"src_space 0", m_src_space0, "src_space: 0", VTPU_SPACE_SMEM},
    {"dst_space IMEM", m_dst_space_imem, "dst_space: 4", VTPU_SPACE_SMEM},
    {"dst_tc", m_dst_tc, "dst_tc: TC 2", VTPU_SPACE_SMEM},
    {"src_tc for HBM", m_src_tc_hbm, "src_tc: 1", VTPU_SPACE_SMEM},
    {"sem_tc", m_sem_tc, "sem_tc: TC 7", VTPU_SPACE_SMEM},
    {"sem", m_sem, "sem: 4096", VTPU_SPACE_SMEM},
    {"4 GiB", m_huge, "shape:", VTPU_SPACE_SMEM},
    {"VMEM address", m_vmem_addr, "dst: VMEM address", VTPU_SPACE_VMEM},
    {"VMEM run", m_vmem_run, "shape[0]:", VTPU_SPACE_VMEM},
    {"VMEM stride", m_vmem_stride, "dst_stride[0]:", VTPU_SPACE_VMEM},
    {"src past end", m_src_past_end, "src: SMEM offsets", VTPU_SPACE_SMEM},
    {"src below SMEM", m_src_below, "src: address", VTPU_SPACE_SMEM},
    {"src above SMEM", m_src_above, "src: address", VTPU_SPACE_SMEM},
    {"dst negative", m_dst_neg, "dst: VMEM offsets -", VTPU_SPACE_VMEM},
    {"stride overflow", m_stride_overflow, "src_stride[0]:", VTPU_SPACE_SMEM},
    {"stride sum overflow", m_stride_sum_overflow,
     "src_stride[1]:", VTPU_SPACE_SMEM},
    {"HBM past end", m_hbm_past_end, "src: HBM offsets", VTPU_SPACE_HBM},
    {"HBM huge", m_hbm_huge, "src: address", VTPU_SPACE_HBM},
    {"add bf16", m_add_bf16,
     "flags: 0x00000042, VTPU_DMA_ADD of element type 4", VTPU_SPACE_SMEM},
    {"add type without add", m_add_type_only,
     "an element type (bits 7:4) without VTPU_DMA_ADD", VTPU_SPACE_SMEM},
    {"flags bit 8", m_flags_bit8, "only bit 0", VTPU_SPACE_SMEM},
    {"add address", m_add_addr, "src: address 0x10008002 is not 4-byte aligned",
     VTPU_SPACE_SMEM},
    {"add run", m_add_run, "shape[0]: 62 bytes, not whole 4-byte elements",
     VTPU_SPACE_SMEM},
    {"add stride", m_add_stride, "src_stride[0]: 130, not a multiple of 4",
     VTPU_SPACE_SMEM},
};

static void test_validation(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    uint64_t rng = 77;
    static snapshot before;

    /* The base case itself is valid. */
    vtpu_dma_desc d;
    base_desc(&d);
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(chip->tcs[0], DESC_ADDR), 0);
    assert_int_equal(chip->tcs[1]->sems[3], 256);
    chip->tcs[1]->sems[3] = 0;

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case *c = &bad_cases[i];
        uint32_t addr = DESC_ADDR;
        vtpu_tc *tc = chip->tcs[0];

        base_desc(&d);
        c->mutate(&d, &addr);
        fill_windows(chip, NTCS, &rng);
        memset(chip->tcs[1]->vmem + VMEM_WIN - 8192, 0x5a, 8192);
        take(chip, NTCS, &before);
        /* Write it where it should be read if the address is valid. */
        if (addr >= VTPU_SMEM_BASE &&
            addr - VTPU_SMEM_BASE <= tc->smem_size - sizeof(d))
            put_desc(chip, 0, addr, &d);
        tc->state = VTPU_TC_RUNNING;
        tc->pc = TEST_PC + 4 * (uint32_t)i;

        int rc = vtpu_dma_start(tc, addr);
        if (rc != -1)
            fail_msg("%s: no fault", c->name);
        assert_int_equal(tc->state, VTPU_TC_FAULTED);
        assert_int_equal(tc->err.kind, VTPU_ERR_DMA);
        assert_int_equal(tc->err.pc, TEST_PC + 4 * (uint32_t)i);
        assert_int_equal(tc->err.tc, 0);
        if (!strstr(tc->err.detail, c->detail))
            fail_msg("%s: detail '%s' lacks '%s'", c->name, tc->err.detail,
                     c->detail);
        if (tc->err.space != c->space)
            fail_msg("%s: space %s, want %s", c->name,
                     vtpu_space_name(tc->err.space), vtpu_space_name(c->space));
        assert_windows(chip, NTCS, &before, (unsigned)i);
        for (unsigned t = 0; t < NTCS; t++)
            for (unsigned s = 0; s < chip->cfg.num_sems; s++)
                assert_int_equal(chip->tcs[t]->sems[s], 0);
        for (unsigned b = 0; b < 8192; b++)
            assert_int_equal(chip->tcs[1]->vmem[VMEM_WIN - 8192 + b], 0x5a);
    }
    vtpu_chip_free(chip);
}

/* A range error reports the space, the start of the range and its size. */
static void test_range_report(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    vtpu_tc *tc = chip->tcs[0];
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, vtpu_smem_tc(0, 0), vtpu_hbm(HBM_SIZE - 100), 128, 0);
    d.dst = VTPU_SMEM_BASE + SMEM_WIN;
    put_desc(chip, 0, DESC_ADDR, &d);
    assert_int_equal(vtpu_dma_start(tc, DESC_ADDR), -1);
    assert_int_equal(tc->err.space, VTPU_SPACE_HBM);
    assert_int_equal(tc->err.addr, HBM_SIZE - 100);
    assert_int_equal(tc->err.len, 128);

    /* VMEM addresses are reported as the TC sees them. */
    vtpu_dma_ref dst = {VTPU_VMEM_BASE + tc->vmem_size - 60, VTPU_DMA_VMEM,
                        VTPU_DMA_SELF};
    vtpu_dma_1d(&d, dst, vtpu_hbm(0), 64, 0);
    put_desc(chip, 0, DESC_ADDR, &d);
    tc->state = VTPU_TC_RUNNING;
    assert_int_equal(vtpu_dma_start(tc, DESC_ADDR), -1);
    assert_int_equal(tc->err.space, VTPU_SPACE_VMEM);
    assert_int_equal(tc->err.addr, VTPU_VMEM_BASE + tc->vmem_size - 60);
    assert_int_equal(tc->err.len, 64);
    vtpu_chip_free(chip);
}

/* ---- through programs: dma.start, sem.wait, faults with the pc ---- */

#define T0 5
#define T1 6
#define T2 7
#define A0 10

static uint32_t x_dma(unsigned rs1)
{
    return enc_r(0x7b, 0, 0, 0, rs1, 0);
}

static uint32_t x_wait(unsigned rs_sem, unsigned rs_n)
{
    return enc_r(0x7b, 3, 0, 0, rs_sem, rs_n);
}

static void emit_wait(test_prog *p, uint32_t sem, uint32_t n)
{
    prog_li(p, T0, sem);
    prog_li(p, T1, n);
    prog_emit(p, x_wait(T0, T1));
}

/*
 * TC0 copies 1 KiB of its SMEM image to HBM and waits for it; TC1 waits
 * for TC0's copy of the same bytes into its own SMEM, then exits with the
 * last word it received.
 */
static void test_program_dma(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(NTCS);
    test_prog p;
    vtpu_run_result res;
    vtpu_dma_desc d[2];
    const uint32_t src = 0x200, dst = 0x1000, n = 1024;

    prog_init(&p);
    vtpu_dma_1d(&d[0], vtpu_hbm(0x4000), vtpu_smem_tc(VTPU_DMA_SELF, 0), n, 1);
    d[0].src = VTPU_SMEM_BASE + src;
    vtpu_dma_1d(&d[1], vtpu_smem_tc(1, 0), vtpu_hbm(0x4000), n, 2);
    d[1].dst = VTPU_SMEM_BASE + dst;
    vtpu_dma_set_sem(&d[1], 1, 2);
    memcpy(p.data, d, sizeof(d));
    for (unsigned i = 0; i < n; i++)
        p.data[src + i] = (uint8_t)(i * 7 + 1);
    p.data_len = src + n;

    size_t br = p.n;
    prog_emit(&p, 0); /* bne a0, x0, tc1 */
    prog_li(&p, A0, VTPU_SMEM_BASE);
    prog_emit(&p, x_dma(A0));
    emit_wait(&p, 1, n);
    prog_li(&p, A0, VTPU_SMEM_BASE + 96);
    prog_emit(&p, x_dma(A0));
    prog_li(&p, A0, 0);
    prog_exit(&p);
    p.words[br] = enc_b(1, A0, 0, (int32_t)(p.n - br) * 4);
    emit_wait(&p, 2, n);
    prog_li(&p, T2, VTPU_SMEM_BASE + dst + n - 4);
    prog_emit(&p, enc_i(0x03, 2, A0, T2, 0)); /* lw a0, 0(t2) */
    prog_exit(&p);

    assert_int_equal(test_run(chip, &p, &res), 0);
    assert_int_equal(res.error.kind, VTPU_ERR_NONE);
    uint32_t want;
    memcpy(&want, &p.data[src + n - 4], 4);
    assert_int_equal((uint32_t)res.tc_exit[1], want);
    uint8_t hbm[1024];
    assert_int_equal(vtpu_hbm_read(chip, 0x4000, hbm, n), 0);
    assert_memory_equal(hbm, p.data + src, n);
    vtpu_chip_free(chip);
}

/* A bad descriptor in a program: kind DMA at the pc of dma.start. */
static void test_program_bad_dma(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(1);
    test_prog p;
    vtpu_run_result res;
    vtpu_dma_desc d;

    prog_init(&p);
    vtpu_dma_1d(&d, vtpu_hbm(HBM_SIZE - 8), vtpu_hbm(0), 16, 0);
    memcpy(p.data, &d, sizeof(d));
    p.data_len = sizeof(d);
    prog_li(&p, A0, VTPU_SMEM_BASE);
    size_t at = p.n;
    prog_emit(&p, x_dma(A0));
    prog_li(&p, A0, 0);
    prog_exit(&p);

    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_DMA);
    assert_int_equal(res.error.tc, 0);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * at);
    assert_int_equal(res.error.space, VTPU_SPACE_HBM);
    assert_non_null(strstr(res.error.detail, "dst: HBM offsets"));
    vtpu_chip_free(chip);
}

/* A DMA whose completion nobody waits for leaves its semaphore set. */
static void test_program_unwaited(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(1);
    test_prog p;
    vtpu_run_result res;
    vtpu_dma_desc d;

    prog_init(&p);
    vtpu_dma_1d(&d, vtpu_hbm(64), vtpu_hbm(0), 48, 9);
    memcpy(p.data, &d, sizeof(d));
    p.data_len = sizeof(d);
    prog_li(&p, A0, VTPU_SMEM_BASE);
    prog_emit(&p, x_dma(A0));
    prog_li(&p, A0, 0);
    prog_exit(&p);

    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_SEM_NONZERO);
    assert_int_equal(res.error.tc, 0);
    assert_int_equal(res.error.addr, 9);
    assert_non_null(strstr(res.error.detail, "semaphore 9 of TC 0 is 48"));
    vtpu_chip_free(chip);
}

/* Reserved bits of dma.start are illegal (they are for later). */
static void test_program_reserved_bits(void **state)
{
    (void)state;
    vtpu_chip *chip = dma_chip(1);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, A0, VTPU_SMEM_BASE);
    size_t at = p.n;
    prog_emit(&p, enc_r(0x7b, 0, 0, 0, A0, 1)); /* rs2 != 0 */
    prog_li(&p, A0, 0);
    prog_exit(&p);
    assert_int_equal(test_run(chip, &p, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_ILLEGAL_INSN);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * at);
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_random_2tc, setup),
        cmocka_unit_test_setup(test_random_4tc, setup),
        cmocka_unit_test_setup(test_block_hbm_to_vmem, setup),
        cmocka_unit_test_setup(test_overlap, setup),
        cmocka_unit_test_setup(test_large_runs, setup),
        cmocka_unit_test_setup(test_random_add, setup),
        cmocka_unit_test_setup(test_add_runs, setup),
        cmocka_unit_test_setup(test_zero_size, setup),
        cmocka_unit_test_setup(test_edges, setup),
        cmocka_unit_test_setup(test_validation, setup),
        cmocka_unit_test_setup(test_range_report, setup),
        cmocka_unit_test_setup(test_program_dma, setup),
        cmocka_unit_test_setup(test_program_bad_dma, setup),
        cmocka_unit_test_setup(test_program_unwaited, setup),
        cmocka_unit_test_setup(test_program_reserved_bits, setup),
        cmocka_unit_test_setup(test_vmem_shared, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
