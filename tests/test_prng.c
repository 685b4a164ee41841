/*
 * test_prng.c - the TensorCore's random numbers (prng.c, PRNG.SEED and
 * VRAND in xtpu.c) and stochastic rounding (VSROUND.BF16 in vpu.c),
 * docs/isa.md "Random numbers".
 *
 * - Philox4x32-10 against the Random123 known-answer vectors, and every
 *   word of many draws against a second implementation written here
 *   from the documented layout (key, counter, element order);
 * - determinism, reseeding, per-TC state, distinct streams per seed word;
 * - statistical quality with fixed seeds and fixed thresholds: chi-square
 *   uniformity over 256 buckets (high and low bytes), bit balance, and
 *   independence: pairs chi-square of consecutive words, of the same
 *   element in consecutive draws and of two streams seeded with adjacent
 *   grid points, plus serial correlation;
 * - stochastic rounding: each result is one of the two bf16 neighbours,
 *   exact values stay, special values, and the mean of many roundings
 *   converges to the f32 value (where nearest-even rounding is biased).
 *
 * The chi-square thresholds are the 1 - 1e-4 quantile for 255 degrees of
 * freedom (Wilson-Hilferty: 347.7); the seeds are fixed, so a pass is
 * reproducible, and a broken generator (a lane or draw pattern, a stuck
 * bit, correlated streams) lands far above it.
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
#include "vpu.h"

#define NE VTPU_VREG_ELEMS
#define TEST_PC 0x00100080u
#define CHI2_255 347.7 /* chi-square, 255 dof, upper 1e-4 quantile */

typedef struct fixture {
    vtpu_chip *chip;
    vtpu_tc *tc[2];
} fixture;

static int setup(void **state)
{
    alarm(240);
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    cfg.num_tcs = 2;
    cfg.vmem_size = 1u << 20;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        fail_msg("vtpu_chip_new: %s", err);
    fixture *fx = calloc(1, sizeof(*fx));
    fx->chip = chip;
    for (unsigned i = 0; i < 2; i++) {
        fx->tc[i] = chip->tcs[i];
        vtpu_tc_reset(fx->tc[i], 2);
        fx->tc[i]->pc = TEST_PC;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    vtpu_chip_free(fx->chip);
    free(fx);
    return 0;
}

static void exec1(vtpu_tc *tc, uint32_t raw)
{
    assert_true(vtpu_xtpu_valid(raw));
    vtpu_insn in = {0};
    in.imm = (int32_t)raw;
    in.rd = XTPU_RD(raw);
    in.rs1 = XTPU_RS1(raw);
    in.rs2 = XTPU_RS2(raw);
    tc->state = VTPU_TC_RUNNING;
    if (vtpu_xtpu_exec(tc, &in))
        fail_msg("0x%08x faulted: %s", raw, tc->err.detail);
}

/* PRNG.SEED x10, x11 with x10 = seed, x11 = stream. */
static void seed(vtpu_tc *tc, uint32_t s, uint32_t stream)
{
    tc->x[10] = s;
    tc->x[11] = stream;
    exec1(tc, enc_r(XTPU_OPC_VXFER, 0, XTPU_PRNG_SEED, 0, 10, 11));
}

/* VRAND v<vd>; returns the vreg's words. */
static const uint32_t *draw(vtpu_tc *tc, unsigned vd)
{
    exec1(tc, enc_r(XTPU_OPC_VXFER, 0, XTPU_VRAND, vd, 0, 0));
    return tc->vpu->v[vd].u;
}

/* ------------------------------------------------------------------ */
/* A second Philox4x32-10, from the paper, for the reference stream     */
/* ------------------------------------------------------------------ */

static void ref_philox(uint32_t out[4], uint32_t c0, uint32_t c1, uint32_t c2,
                       uint32_t c3, uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint64_t a = (uint64_t)c0 * 0xD2511F53u;
        uint64_t b = (uint64_t)c2 * 0xCD9E8D57u;
        uint32_t n0 = (uint32_t)(b >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)b;
        uint32_t n2 = (uint32_t)(a >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)a;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* Word e of draw d after PRNG.SEED(seed, stream) (docs/isa.md). */
static uint32_t ref_word(uint32_t s, uint32_t stream, uint64_t d, unsigned e)
{
    uint32_t o[4];
    ref_philox(o, e / 4, (uint32_t)d, (uint32_t)(d >> 32), 0, s, stream);
    return o[e % 4];
}

static void test_known_answers(void **state)
{
    fixture *fx = *state;
    /* Random123 tests/kat_vectors, "philox4x32 10": ctr, key -> out */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
         0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (unsigned i = 0; i < 3; i++) {
        uint32_t out[4], ref[4];
        vtpu_philox4x32_10(kat[i], kat[i] + 4, out);
        ref_philox(ref, kat[i][0], kat[i][1], kat[i][2], kat[i][3], kat[i][4],
                   kat[i][5]);
        for (unsigned q = 0; q < 4; q++) {
            assert_int_equal(out[q], kat[i][6 + q]);
            assert_int_equal(ref[q], kat[i][6 + q]);
        }
    }
    /* Through the ISA: an unseeded TC has key (0, 0), draw 0, so words
     * 0..3 of its first VRAND are philox(0, 0). */
    const uint32_t *v = draw(fx->tc[0], 1);
    for (unsigned q = 0; q < 4; q++)
        assert_int_equal(v[q], kat[0][6 + q]);
}

static void test_reference_stream(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc[0];
    uint64_t rng = 0x9e3779b97f4a7c15ull;

    for (unsigned t = 0; t < 24; t++) {
        uint32_t s = test_rand32(&rng), st = t < 8 ? t : test_rand32(&rng);
        seed(tc, s, st);
        for (uint64_t d = 0; d < 5; d++) {
            const uint32_t *v = draw(tc, 7);
            for (unsigned e = 0; e < NE; e++)
                if (v[e] != ref_word(s, st, d, e))
                    fail_msg("seed (0x%x, 0x%x) draw %u word %u: 0x%08x, "
                             "want 0x%08x",
                             s, st, (unsigned)d, e, v[e],
                             ref_word(s, st, d, e));
        }
    }
    /* the draw counter carries into its high word */
    seed(tc, 77, 5);
    tc->vpu->prng.draw = 0xFFFFFFFFull;
    for (uint64_t d = 0xFFFFFFFFull; d < 0x100000001ull; d++) {
        const uint32_t *v = draw(tc, 2);
        for (unsigned e = 0; e < NE; e++)
            assert_int_equal(v[e], ref_word(77, 5, d, e));
    }
}

static void test_determinism_and_streams(void **state)
{
    fixture *fx = *state;
    vtpu_tc *a = fx->tc[0], *b = fx->tc[1];
    static uint32_t first[3][NE];

    /* the same seed gives the same draws; reseeding restarts */
    seed(a, 2024, 3);
    for (unsigned d = 0; d < 3; d++)
        memcpy(first[d], draw(a, 4), sizeof(first[d]));
    seed(a, 2024, 3);
    for (unsigned d = 0; d < 3; d++)
        assert_memory_equal(draw(a, 5), first[d], sizeof(first[d]));

    /* each TC has its own generator: TC 1's seeds and draws leave TC 0's
     * stream alone, and the same seed on TC 1 gives the same stream */
    seed(a, 2024, 3);
    seed(b, 2024, 3);
    assert_memory_equal(draw(b, 1), first[0], sizeof(first[0]));
    seed(b, 99, 1);
    draw(b, 1);
    assert_memory_equal(draw(a, 6), first[0], sizeof(first[0]));
    assert_memory_equal(draw(a, 6), first[1], sizeof(first[1]));

    /* a run starts from key (0, 0), draw 0 */
    vtpu_tc_reset(a, 2);
    uint32_t w0 = ref_word(0, 0, 0, 0);
    assert_int_equal(draw(a, 3)[0], w0);

    /* distinct (seed, stream) pairs give distinct streams: 4 seeds x 256
     * grid points, the first draw of each; no 64-bit prefix repeats and
     * equal words at the same position are as rare as chance allows
     * (expected 1024 * 1023 / 2 * 1024 / 2^32 = 0.12) */
    enum { NS = 1024 };
    uint32_t *w = malloc((size_t)NS * NE * 4);
    for (unsigned i = 0; i < NS; i++) {
        seed(a, 0x5eed0000u + i / 256, i % 256);
        memcpy(w + (size_t)i * NE, draw(a, 8), NE * 4);
    }
    unsigned same = 0;
    for (unsigned i = 0; i < NS; i++)
        for (unsigned j = i + 1; j < NS; j++) {
            const uint32_t *x = w + (size_t)i * NE, *y = w + (size_t)j * NE;
            assert_false(x[0] == y[0] && x[1] == y[1]);
            for (unsigned e = 0; e < NE; e++)
                same += x[e] == y[e];
        }
    print_message("streams: %u equal words at equal positions over "
                  "%u stream pairs\n",
                  same, NS * (NS - 1) / 2);
    assert_true(same <= 3);
    free(w);
}

/* ------------------------------------------------------------------ */
/* statistics                                                           */
/* ------------------------------------------------------------------ */

enum { DRAWS = 1024, NW = DRAWS * NE }; /* 2^20 words per stream */

/* n words of stream (s, st) in draw order. */
static uint32_t *stream_words(vtpu_tc *tc, uint32_t s, uint32_t st)
{
    uint32_t *w = malloc((size_t)NW * 4);
    seed(tc, s, st);
    for (unsigned d = 0; d < DRAWS; d++)
        memcpy(w + (size_t)d * NE, draw(tc, 9), NE * 4);
    return w;
}

static double chi2(const unsigned *cnt, unsigned cells, double n)
{
    double e = n / cells, c = 0;
    for (unsigned i = 0; i < cells; i++)
        c += (cnt[i] - e) * (cnt[i] - e) / e;
    return c;
}

static void test_uniformity(void **state)
{
    fixture *fx = *state;
    static const uint32_t seeds[4][2] = {
        {0, 0}, {12345, 0}, {12345, 1}, {0xdeadbeef, 0x7fffffff}};

    for (unsigned t = 0; t < 4; t++) {
        uint32_t *w = stream_words(fx->tc[0], seeds[t][0], seeds[t][1]);
        unsigned hi[256] = {0}, lo[256] = {0}, bits[32] = {0};
        double sum = 0;
        for (size_t i = 0; i < NW; i++) {
            hi[w[i] >> 24]++;
            lo[w[i] & 0xFF]++;
            for (unsigned b = 0; b < 32; b++)
                bits[b] += (w[i] >> b) & 1;
            sum += w[i] / 4294967296.0;
        }
        double ch = chi2(hi, 256, NW), cl = chi2(lo, 256, NW);
        double mean = sum / NW;
        print_message("seed (%u, %u): chi2 high byte %.1f, low byte %.1f "
                      "(255 dof, limit %.1f), mean %.5f\n",
                      seeds[t][0], seeds[t][1], ch, cl, CHI2_255, mean);
        assert_true(ch < CHI2_255);
        assert_true(cl < CHI2_255);
        /* mean of U(0,1): sd 1/sqrt(12 n) = 2.8e-4; 5 sd */
        assert_true(fabs(mean - 0.5) < 5 * sqrt(1.0 / (12.0 * NW)));
        /* every bit is 1 half the time: 5 sd = 5 * sqrt(n) / 2 */
        for (unsigned b = 0; b < 32; b++)
            assert_true(fabs((double)bits[b] - NW / 2.0) <
                        5 * sqrt((double)NW) / 2);
        free(w);
    }
}

/* Pairs chi-square: the top 4 bits of x[i] and y[i] as a 16 x 16 table. */
static double pairs_chi2(const uint32_t *x, const uint32_t *y, size_t n,
                         size_t step)
{
    unsigned cnt[256] = {0};
    size_t m = 0;
    for (size_t i = 0; i < n; i += step, m++)
        cnt[(x[i] >> 28) * 16 + (y[i] >> 28)]++;
    return chi2(cnt, 256, (double)m);
}

/* Pearson correlation of x[i] and y[i] as uniforms in [0, 1). */
static double correlation(const uint32_t *x, const uint32_t *y, size_t n)
{
    double sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double a = x[i] / 4294967296.0, b = y[i] / 4294967296.0;
        sx += a, sy += b, sxy += a * b, sxx += a * a, syy += b * b;
    }
    double cov = sxy / n - (sx / n) * (sy / n);
    double vx = sxx / n - (sx / n) * (sx / n);
    double vy = syy / n - (sy / n) * (sy / n);
    return cov / sqrt(vx * vy);
}

static void test_independence(void **state)
{
    fixture *fx = *state;
    uint32_t *w = stream_words(fx->tc[0], 42, 0);
    uint32_t *g1 = stream_words(fx->tc[0], 42, 1);  /* next grid point */
    uint32_t *s43 = stream_words(fx->tc[0], 43, 0); /* next seed */
    /* |r| of independent uniforms: sd 1/sqrt(n) ~ 1e-3 here; 5 sd */
    double rlim = 5.0 / sqrt((double)NW);

    struct {
        const char *what;
        double chi, r;
    } c[] = {
        /* neighbouring words: word i and i+1 of the stream (lanes, and
         * across sublanes and draws), disjoint pairs */
        {"consecutive words", pairs_chi2(w, w + 1, NW - 1, 2),
         correlation(w, w + 1, NW - 1)},
        /* the same element in consecutive draws */
        {"element in draws d, d+1", pairs_chi2(w, w + NE, NW - NE, 1),
         correlation(w, w + NE, NW - NE)},
        /* the same lane one sublane apart */
        {"sublane s, s+1", pairs_chi2(w, w + 128, NW - 128, 1),
         correlation(w, w + 128, NW - 128)},
        /* streams of adjacent grid points / seeds, word by word */
        {"streams (42, 0) vs (42, 1)", pairs_chi2(w, g1, NW, 1),
         correlation(w, g1, NW)},
        {"streams (42, 0) vs (43, 0)", pairs_chi2(w, s43, NW, 1),
         correlation(w, s43, NW)},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        print_message("%-28s pairs chi2 %.1f (limit %.1f), r %+.5f "
                      "(limit %.5f)\n",
                      c[i].what, c[i].chi, CHI2_255, c[i].r, rlim);
        assert_true(c[i].chi < CHI2_255);
        assert_true(fabs(c[i].r) < rlim);
    }
    free(w);
    free(g1);
    free(s43);
}

/* Generators with a pattern fail the same tests: the thresholds have
 * teeth. */
static void test_thresholds_catch_bad_generators(void **state)
{
    (void)state;
    uint32_t *w = malloc((size_t)NW * 4);
    /* a Weyl sequence: perfectly uniform, but each word determines the
     * next */
    unsigned hi[256] = {0};
    for (size_t i = 0; i < NW; i++) {
        w[i] = (uint32_t)(i * 0x9E3779B9u);
        hi[w[i] >> 24]++;
    }
    assert_true(chi2(hi, 256, NW) < CHI2_255);
    assert_true(pairs_chi2(w, w + 1, NW - 1, 2) > 10 * CHI2_255);
    /* good words, but every draw repeats the first one */
    for (size_t i = 0; i < NW; i++)
        w[i] = ref_word(1, 2, 0, (unsigned)(i % NE));
    assert_true(pairs_chi2(w, w + NE, NW - NE, 1) > 10 * CHI2_255);
    /* a counter: word i = i, low byte cycles, high byte nearly constant */
    memset(hi, 0, sizeof(hi));
    for (size_t i = 0; i < NW; i++)
        hi[(uint32_t)i >> 24]++;
    assert_true(chi2(hi, 256, NW) > 10 * CHI2_255);
    free(w);
}

/* ------------------------------------------------------------------ */
/* stochastic rounding                                                  */
/* ------------------------------------------------------------------ */

static uint32_t u_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float f_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* VSROUND.BF16 v<d>, v<a>, v<b> */
static void sround(vtpu_tc *tc, unsigned d, unsigned a, unsigned b)
{
    exec1(tc, enc_r(XTPU_OPC_VALU, 0, XTPU_VSROUND, d, a, b));
}

/* A random f32 over a wide range of magnitudes (subnormal to huge). */
static float wide(uint64_t *rng)
{
    uint32_t u = test_rand32(rng);
    unsigned e = test_rand32(rng) % 254; /* exponent 0..253 */
    return f_of((u & 0x807FFFFFu) | e << 23);
}

static void test_sround_neighbours(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc[0];
    vtpu_vpu *p = tc->vpu;
    uint64_t rng = 77;

    seed(tc, 5, 6);
    for (unsigned rep = 0; rep < 200; rep++) {
        for (unsigned i = 0; i < NE; i++)
            p->v[1].f[i] = wide(&rng);
        draw(tc, 2);
        sround(tc, 3, 1, 2);
        for (unsigned i = 0; i < NE; i++) {
            uint32_t x = p->v[1].u[i], r = p->v[2].u[i], got = p->v[3].u[i];
            uint32_t down = x & 0xFFFF0000u, up = down + 0x10000u;
            /* rounds away from zero iff the dropped bits + the high 16
             * random bits carry (docs/isa.md) */
            uint32_t want = (x & 0xFFFF) + (r >> 16) >= 0x10000 ? up : down;
            if (got != want)
                fail_msg("x 0x%08x bits 0x%08x: 0x%08x, want 0x%08x", x, r, got,
                         want);
            assert_true(got == down || got == up);
            if ((x & 0xFFFF) == 0)
                assert_int_equal(got, x); /* exact bf16 values stay */
        }
    }
    /* the edges of the rule: dropped bits 1 + 65535 carries, + 65534
     * does not; special values */
    static const struct {
        uint32_t x, r, want;
    } e[] = {
        {0x3F800001u, 0xFFFF0000u, 0x3F810000u},
        {0x3F800001u, 0xFFFEFFFFu, 0x3F800000u},
        {0xBF80FFFFu, 0x00010000u, 0xBF810000u}, /* negative: magnitude up */
        {0xBF80FFFFu, 0x0000FFFFu, 0xBF800000u},
        {0x00000000u, 0xFFFFFFFFu, 0x00000000u}, /* +0 */
        {0x80000000u, 0xFFFFFFFFu, 0x80000000u}, /* -0 */
        {0x7F800000u, 0xFFFFFFFFu, 0x7F800000u}, /* +inf */
        {0xFF800000u, 0xFFFFFFFFu, 0xFF800000u}, /* -inf */
        {0x7F800001u, 0xFFFFFFFFu, 0x7FC00000u}, /* sNaN -> quiet */
        {0xFFC01234u, 0xFFFFFFFFu, 0xFFC00000u}, /* qNaN: sign, top kept */
        {0x7F7FFFFFu, 0x00000000u, 0x7F7F0000u}, /* max f32, no carry */
        {0x7F7FFFFFu, 0x00010000u, 0x7F800000u}, /* ... carries to inf */
        {0x00000001u, 0xFFFF0000u, 0x00010000u}, /* subnormal up */
    };
    for (unsigned i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
        p->v[1].u[0] = e[i].x;
        p->v[2].u[0] = e[i].r;
        sround(tc, 1, 1, 2); /* in place */
        if (p->v[1].u[0] != e[i].want)
            fail_msg("case %u: 0x%08x bits 0x%08x: 0x%08x, want 0x%08x", i,
                     e[i].x, e[i].r, p->v[1].u[0], e[i].want);
    }
    /* reserved fields */
    assert_false(
        vtpu_xtpu_valid(enc_r(XTPU_OPC_VALU, 1, XTPU_VSROUND, 1, 2, 3)));
    assert_false(
        vtpu_xtpu_valid(enc_r(XTPU_OPC_VXFER, 0, XTPU_PRNG_SEED, 1, 2, 3)));
    assert_false(
        vtpu_xtpu_valid(enc_r(XTPU_OPC_VXFER, 0, XTPU_VRAND, 1, 2, 0)));
    assert_false(
        vtpu_xtpu_valid(enc_r(XTPU_OPC_VXFER, 1, XTPU_VRAND, 1, 0, 0)));
}

/*
 * Unbiased: 1024 values, each rounded D times with VRAND bits; the mean
 * of the D results is within 5 sd of x for every value (sd = ulp *
 * sqrt(p (1 - p) / D), p = the fraction dropped), and the z-scores'
 * squares sum to about 1024 (chi-square, 1024 dof).  Nearest-even rounding
 * of the same values is biased by up to half an ulp.
 */
static void test_sround_unbiased(void **state)
{
    fixture *fx = *state;
    vtpu_tc *tc = fx->tc[0];
    vtpu_vpu *p = tc->vpu;
    enum { D = 4096 };
    uint64_t rng = 4242;
    double *sum = calloc(NE, sizeof(double));
    float x[NE];

    for (unsigned i = 0; i < NE; i++) {
        /* magnitudes 2^-10 .. 2^10, both signs, and a quarter-ulp case */
        double m = ldexp(1.0 + test_rand32(&rng) / 4294967296.0,
                         (int)(test_rand32(&rng) % 21) - 10);
        x[i] = (float)(i & 1 ? -m : m);
    }
    x[0] = 1.0f + 0x1p-9f;    /* bf16 ulp at 1 is 2^-7: RNE gives 1 always */
    x[1] = 0x1p-130f * 1.75f; /* subnormal */
    memcpy(p->v[1].f, x, sizeof(x));
    seed(tc, 31337, 0);
    for (unsigned d = 0; d < D; d++) {
        draw(tc, 2);
        sround(tc, 3, 1, 2);
        for (unsigned i = 0; i < NE; i++)
            sum[i] += p->v[3].f[i];
    }
    double zz = 0, zmax = 0, rne_bias_max = 0;
    for (unsigned i = 0; i < NE; i++) {
        uint32_t u = u_of(x[i]);
        double lo = f_of(u & 0xFFFF0000u);
        double hi = f_of((u & 0xFFFF0000u) + 0x10000u);
        double ulp = fabs(hi - lo), frac = fabs(x[i] - lo) / ulp;
        double mean = sum[i] / D;
        double sd = ulp * sqrt(frac * (1 - frac) / D);
        double z = sd > 0 ? (mean - x[i]) / sd : 0;
        if (sd == 0)
            assert_true(mean == x[i]);
        zz += z * z;
        zmax = fmax(zmax, fabs(z));
        double rne = f_of(vtpu_bf16_from_f32(u) << 16);
        rne_bias_max = fmax(rne_bias_max, fabs(rne - x[i]) / ulp);
        if (fabs(z) >= 5)
            fail_msg("x[%u] = %a: mean of %d roundings %a (z = %.2f)", i, x[i],
                     D, mean, z);
    }
    double mean0 = sum[0] / D;
    print_message("stochastic rounding: %d draws x 1024 values: max |z| "
                  "%.2f, sum z^2 %.1f (1024 dof); x = 1 + 2^-9: mean %.7f "
                  "(nearest-even: 1); nearest-even bias up to %.3f ulp\n",
                  D, zmax, zz, mean0, rne_bias_max);
    /* chi-square 1024 dof: mean 1024, sd 45; upper 1e-4 quantile ~ 1200 */
    assert_true(zz < 1200);
    assert_true(fabs(mean0 - (1.0 + 0x1p-9)) < 0.1 * 0x1p-9);
    assert_true(rne_bias_max > 0.4);
    free(sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_determinism_and_streams, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_uniformity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_independence, setup, teardown),
        cmocka_unit_test(test_thresholds_catch_bad_generators),
        cmocka_unit_test_setup_teardown(test_sround_neighbours, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sround_unbiased, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
