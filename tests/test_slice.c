/*
 * test_slice.c - slices (vtpu-slice.h, docs/multichip.md): topology
 * parsing and routes against hand-computed values, tests/rv32/slicetest.c
 * on rings, 2-D and 3-D tori checked against host references on random
 * data, cross-chip deadlocks and bad remote operations, a fake transport
 * between two fabrics, and a 64-chip v5p slice's memory footprint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "helpers.h"
#include "internal.h"
#include "vtpu-slice.h"

#define RES 0u
#define IN 0x100000u
#define OUT 0x200000u
#define OUT2 0x300000u
#define BLK_MAX 0x10000u
#define ROW 512u

static uint8_t *elf;
static size_t elf_len;

static int setup(void **state)
{
    (void)state;
    elf = test_read_file(SLICETEST_ELF, &elf_len);
    return elf ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(elf);
    return 0;
}

static vtpu_config small_cfg(unsigned tcs)
{
    vtpu_config cfg;
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", NULL, 0), 0);
    cfg.num_tcs = tcs;
    cfg.hbm_size = 16u << 20;
    cfg.vmem_size = 256u << 10;
    return cfg;
}

static vtpu_slice *mk(const char *topo, unsigned tcs)
{
    char err[256];
    vtpu_config cfg = small_cfg(tcs);
    vtpu_slice *s = vtpu_slice_new(&cfg, topo, err, sizeof(err));
    if (!s)
        fail_msg("%s: %s", topo, err);
    assert_int_equal(vtpu_slice_load_elf(s, elf, elf_len, err, sizeof(err)), 0);
    return s;
}

/* Run mode with arguments; expect every chip clean. */
static void run_ok(vtpu_slice *s, uint32_t mode, uint32_t a, uint32_t b)
{
    vtpu_run_opts o = {.args = {mode, a, b}};
    unsigned n = vtpu_slice_size(s);
    vtpu_run_result *r = calloc(n, sizeof(*r));
    vtpu_error first;
    int rc = vtpu_slice_run(s, &o, r, &first);
    if (rc) {
        char msg[2048];
        vtpu_error_format(&first, msg, sizeof(msg));
        fail_msg("mode %u: %s", mode, msg);
    }
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(r[i].exit_code, 0);
    assert_int_equal(first.kind, VTPU_ERR_NONE);
    free(r);
}

static uint32_t rd32(vtpu_chip *c, uint64_t off)
{
    uint32_t v;
    assert_int_equal(vtpu_hbm_read(c, off, &v, 4), 0);
    return v;
}

/* ---- encodings on a lone chip (its only chip is 0) ---- */

static int run_words(vtpu_chip *c, uint32_t rs2val, unsigned rd,
                     vtpu_run_result *r)
{
    test_prog p;
    prog_init(&p);
    prog_li(&p, 10, 0);      /* a0: chip 0, ourselves */
    prog_li(&p, 11, rs2val); /* a1: sem | tc << 16 */
    prog_li(&p, 12, 5);      /* a2: n */
    prog_emit(&p, enc_r4(0x7b, 6, 0, rd, 10, 11, 12)); /* sem.signal.remote */
    prog_li(&p, 11, 3);
    prog_emit(&p, enc_r(0x7b, 3, 0, 0, 11, 12)); /* sem.wait 3, 5 */
    prog_emit(&p, enc_i(0x73, 2, 13, 0, 0xcc3)); /* csrr a3, nchips */
    prog_emit(&p, rv_addi(10, 13, 0));           /* exit(nchips) */
    prog_exit(&p);
    return test_run(c, &p, r);
}

static void test_encoding(void **state)
{
    (void)state;
    vtpu_config cfg = small_cfg(1);
    vtpu_chip *c = vtpu_chip_new(&cfg, NULL, 0);
    vtpu_run_result r;

    /* signal our own chip, same TC (0xff): then the wait passes; exit
     * code = NCHIPS = 1 */
    assert_int_equal(run_words(c, 3 | 0xffu << 16, 0, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(run_words(c, 3, 0, &r), 0); /* TC 0 named */
    /* bits 31:24 */
    assert_int_equal(run_words(c, 3 | 1u << 24, 0, &r), -1);
    assert_int_equal(r.error.kind, VTPU_ERR_SEM);
    assert_non_null(strstr(r.error.detail, "bits 31:24 must be 0"));
    assert_int_equal(r.error.chip, -1);
    /* TC 1 of a 1-TC run */
    assert_int_equal(run_words(c, 3 | 1u << 16, 0, &r), -1);
    assert_int_equal(r.error.kind, VTPU_ERR_SEM);
    /* rd != 0 is not an instruction */
    assert_int_equal(run_words(c, 3, 1, &r), -1);
    assert_int_equal(r.error.kind, VTPU_ERR_ILLEGAL_INSN);
    /* the slice CSRs are read-only */
    test_prog p;
    prog_init(&p);
    prog_emit(&p, enc_i(0x73, 1, 0, 10, 0xcc2)); /* csrw chipid, a0 */
    prog_exit(&p);
    assert_int_equal(test_run(c, &p, &r), -1);
    assert_int_equal(r.error.kind, VTPU_ERR_ILLEGAL_INSN);
    vtpu_chip_free(c);
}

/* ---- topology ---- */

typedef struct topo_case {
    const char *spec;
    uint32_t ndims, d0, d1, d2;
    bool w0, w1, w2;
    const char *fmt;
} topo_case;

static void test_topology_parse(void **state)
{
    (void)state;
    static const topo_case ok[] = {
        {"1", 1, 1, 1, 1, 0, 0, 0, "1"},
        {"2", 1, 2, 1, 1, 0, 0, 0, "2"},
        {"8", 1, 8, 1, 1, 1, 0, 0, "8"},
        {"2x4", 2, 2, 4, 1, 0, 1, 0, "2x4"},
        {"4x4x4", 3, 4, 4, 4, 1, 1, 1, "4x4x4"},
        {"torus:3x5", 2, 3, 5, 1, 1, 1, 0, "3x5"},
        {"mesh:4x4", 2, 4, 4, 1, 0, 0, 0, "mesh:4x4"},
        {"mesh:2x2", 2, 2, 2, 1, 0, 0, 0, "2x2"},
        {"v5p-8", 3, 2, 2, 1, 0, 0, 0, "2x2x1"},
        {"v5p-128", 3, 4, 4, 4, 1, 1, 1, "4x4x4"},
        {"v5p-64", 3, 2, 4, 4, 0, 0, 0, "mesh:2x4x4"},
        {"v4-32", 3, 2, 2, 4, 0, 0, 0, "mesh:2x2x4"},
        {"v4-256", 3, 4, 4, 8, 1, 1, 1, "4x4x8"},
        {"v5e-16", 2, 4, 4, 1, 0, 0, 0, "mesh:4x4"},
        {"v6e-8", 2, 2, 4, 1, 0, 0, 0, "mesh:2x4"},
        {"v6e-256", 2, 16, 16, 1, 1, 1, 0, "16x16"},
    };
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"", "empty"},
        {"0", "axis 0: 0 chips"},
        {"2x", "expected a number"},
        {"x2", "expected a number"},
        {"2x2x2x2", "more than 3 axes"},
        {"4y4", "expected 'x'"},
        {"mesh:", "expected a number"},
        {"2000", "must be 1..1023"},
        {"64x64x2", "more than 4096 chips"},
        {"v5p-7", "no slice of 7 TensorCores"},
        {"v5e-3", "no slice of 3 chips"},
        {"v7-8", "unknown generation"},
        {"v5p-", "expected GEN-NUMBER"},
        {"v5p", "expected GEN-NUMBER"},
    };
    vtpu_topology t;
    char err[256], buf[64];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const topo_case *c = &ok[i];
        if (vtpu_topology_parse(c->spec, &t, err, sizeof(err)))
            fail_msg("%s: %s", c->spec, err);
        assert_int_equal(t.ndims, c->ndims);
        assert_int_equal(t.dims[0], c->d0);
        assert_int_equal(t.dims[1], c->d1);
        assert_int_equal(t.dims[2], c->d2);
        if (t.wrap[0] != c->w0 || t.wrap[1] != c->w1 || t.wrap[2] != c->w2)
            fail_msg("%s: wrap %d%d%d", c->spec, t.wrap[0], t.wrap[1],
                     t.wrap[2]);
        assert_int_equal(vtpu_topology_size(&t), c->d0 * c->d1 * c->d2);
        vtpu_topology_format(&t, buf, sizeof(buf));
        assert_string_equal(buf, c->fmt);
        vtpu_topology t2;
        assert_int_equal(vtpu_topology_parse(buf, &t2, err, sizeof(err)), 0);
        assert_memory_equal(t2.dims, t.dims, sizeof(t.dims));
        assert_memory_equal(t2.wrap, t.wrap, sizeof(t.wrap));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(vtpu_topology_parse(bad[i].spec, &t, err, sizeof(err)),
                         -1);
        if (!strstr(err, bad[i].msg) || !strstr(err, "topology '"))
            fail_msg("'%s': '%s' lacks '%s'", bad[i].spec, err, bad[i].msg);
    }
    /* coordinates, x fastest */
    uint32_t c[3];
    assert_int_equal(vtpu_topology_parse("2x3x4", &t, err, sizeof(err)), 0);
    vtpu_topology_coords(&t, 17, c); /* 17 = 1 + 2 * (2 + 3 * 2) */
    assert_int_equal(c[0], 1);
    assert_int_equal(c[1], 2);
    assert_int_equal(c[2], 2);
    assert_int_equal(vtpu_topology_chip(&t, c), 17);
}

static void expect_route(const char *spec, unsigned from, unsigned to,
                         unsigned n, const unsigned *want)
{
    vtpu_topology t;
    unsigned links[16];
    assert_int_equal(vtpu_topology_parse(spec, &t, NULL, 0), 0);
    unsigned h = vtpu_topology_route(&t, from, to, links, 16);
    if (h != n)
        fail_msg("%s %u->%u: %u hops, want %u", spec, from, to, h, n);
    for (unsigned i = 0; i < n; i++)
        if (links[i] != want[i])
            fail_msg("%s %u->%u: hop %u link %u, want %u", spec, from, to, i,
                     links[i], want[i]);
}

static void test_route(void **state)
{
    (void)state;
    /* link = chip * 6 + axis * 2 + (0: +, 1: -) */
    expect_route("8", 0, 0, 0, NULL);
    expect_route("8", 0, 3, 3, (unsigned[]){0, 6, 12});
    expect_route("8", 0, 5, 3, (unsigned[]){1, 43, 37});    /* 0->7->6->5 */
    expect_route("8", 0, 4, 4, (unsigned[]){0, 6, 12, 18}); /* tie: + */
    expect_route("mesh:8", 0, 5, 5, (unsigned[]){0, 6, 12, 18, 24});
    expect_route("mesh:8", 5, 3, 2, (unsigned[]){31, 25});
    /* 4x4: (0,0) -> (3,3): x back one to chip 3, y back one to 15 */
    expect_route("4x4", 0, 15, 2, (unsigned[]){1, 21});
    /* 2x2x2: 0 -> 7: x to 1, y to 3, z to 7 */
    expect_route("2x2x2", 0, 7, 3, (unsigned[]){0, 8, 22});
    expect_route("2x2x2", 7, 0, 3, (unsigned[]){43, 39, 29});
    /* a route longer than the buffer still counts every hop */
    vtpu_topology t;
    unsigned one[1];
    assert_int_equal(vtpu_topology_parse("mesh:16", &t, NULL, 0), 0);
    assert_int_equal(vtpu_topology_route(&t, 0, 15, one, 1), 15);
    assert_int_equal(one[0], 0);
}

/* ---- CSRs ---- */

static void check_csrs(const char *spec, unsigned tcs)
{
    vtpu_slice *s = mk(spec, tcs);
    const vtpu_topology *t = vtpu_slice_topology(s);
    unsigned n = vtpu_slice_size(s);

    run_ok(s, 0, 0, 0);
    for (unsigned i = 0; i < n; i++) {
        /* independent: x fastest */
        uint32_t x = i % t->dims[0], y = i / t->dims[0] % t->dims[1],
                 z = i / (t->dims[0] * t->dims[1]);
        uint32_t co[3] = {x, y, z};
        for (unsigned k = 0; k < tcs; k++) {
            vtpu_chip *c = vtpu_slice_chip(s, i);
            uint64_t b = RES + k * 256;
            assert_int_equal(rd32(c, b + 0), i);
            assert_int_equal(rd32(c, b + 4), n);
            for (unsigned a = 0; a < 3; a++) {
                assert_int_equal(rd32(c, b + 8 + 4 * a), t->dims[a]);
                assert_int_equal(rd32(c, b + 20 + 4 * a), co[a]);
                for (int dl = 1; dl >= -1; dl -= 2) {
                    uint32_t m[3] = {x, y, z};
                    m[a] = (co[a] + t->dims[a] + (uint32_t)dl) % t->dims[a];
                    uint32_t want =
                        m[0] + t->dims[0] * (m[1] + t->dims[1] * m[2]);
                    assert_int_equal(rd32(c, b + 32 + 8 * a + (dl < 0 ? 4 : 0)),
                                     want);
                }
            }
            assert_int_equal(rd32(c, b + 56), i);
        }
    }
    vtpu_slice_free(s);
}

static void test_csrs(void **state)
{
    (void)state;
    const char *specs[] = {"1", "2", "4", "8", "2x2", "2x2x2", "mesh:3x2"};
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
        check_csrs(specs[i], i % 2 ? 2 : 1);

    /* a lone chip (no fabric) */
    vtpu_config cfg = small_cfg(1);
    vtpu_chip *c = vtpu_chip_new(&cfg, NULL, 0);
    vtpu_run_result r;
    vtpu_run_opts o = {.args = {0}};
    assert_int_equal(vtpu_chip_load_elf(c, elf, elf_len, NULL, 0), 0);
    assert_int_equal(vtpu_chip_run(c, &o, &r), 0);
    assert_int_equal(rd32(c, 0), 0);
    assert_int_equal(rd32(c, 4), 1);
    for (unsigned a = 0; a < 3; a++)
        assert_int_equal(rd32(c, 8 + 4 * a), 1);
    vtpu_chip_free(c);
}

/* ---- ring shift by remote DMA ---- */

static uint8_t *rand_blocks(unsigned n, unsigned tcs, uint32_t blk,
                            uint32_t seed)
{
    uint8_t *in = malloc((size_t)n * tcs * blk);
    for (size_t i = 0; i < (size_t)n * tcs * blk; i++) {
        seed = seed * 1103515245u + 12345u;
        in[i] = (uint8_t)(seed >> 16);
    }
    return in;
}

/* The reference of mode 1: out (shifted along every axis > 1 with rows
 * reversed) and out2 (the block of the chip at +1 along x). */
static void shift_ref(const vtpu_topology *t, unsigned tcs, uint32_t blk,
                      const uint8_t *in, uint8_t *out, uint8_t *out2)
{
    unsigned n = vtpu_topology_size(t);
    size_t sz = (size_t)tcs * blk;
    uint8_t *cur = malloc(n * sz), *nx = malloc(n * sz);
    uint32_t rows = blk / ROW;

    memcpy(cur, in, n * sz);
    for (unsigned i = 0; i < n; i++) {
        unsigned x = i % t->dims[0];
        unsigned src = i - x + (x + 1) % t->dims[0];
        memcpy(out2 + i * sz, in + src * sz, sz);
    }
    for (unsigned a = 0; a < 3; a++) {
        if (t->dims[a] < 2)
            continue;
        for (unsigned i = 0; i < n; i++) {
            uint32_t c[3] = {i % t->dims[0], i / t->dims[0] % t->dims[1],
                             i / (t->dims[0] * t->dims[1])};
            c[a] = (c[a] + t->dims[a] - 1) % t->dims[a];
            unsigned src = c[0] + t->dims[0] * (c[1] + t->dims[1] * c[2]);
            for (unsigned k = 0; k < tcs; k++)
                for (uint32_t r = 0; r < rows; r++)
                    memcpy(nx + i * sz + k * blk + r * ROW,
                           cur + src * sz + k * blk + (rows - 1 - r) * ROW,
                           ROW);
        }
        memcpy(cur, nx, n * sz);
    }
    memcpy(out, cur, n * sz);
    free(cur);
    free(nx);
}

static void put_inputs(vtpu_chip *c, unsigned tcs, uint32_t blk,
                       const uint8_t *in)
{
    for (unsigned k = 0; k < tcs; k++)
        assert_int_equal(vtpu_hbm_write(c, IN + k * BLK_MAX, in + k * blk, blk),
                         0);
}

static void check_outputs(vtpu_chip *c, unsigned chip, unsigned tcs,
                          uint32_t blk, const uint8_t *out, const uint8_t *out2)
{
    uint8_t *got = malloc(blk);
    for (unsigned k = 0; k < tcs; k++) {
        assert_int_equal(vtpu_hbm_read(c, OUT + k * BLK_MAX, got, blk), 0);
        if (memcmp(got, out + k * blk, blk))
            fail_msg("chip %u TC %u: OUT differs", chip, k);
        assert_int_equal(vtpu_hbm_read(c, OUT2 + k * BLK_MAX, got, blk), 0);
        if (memcmp(got, out2 + k * blk, blk))
            fail_msg("chip %u TC %u: OUT2 differs", chip, k);
    }
    free(got);
}

static void check_shift(const char *spec, unsigned tcs, uint32_t blk)
{
    vtpu_slice *s = mk(spec, tcs);
    const vtpu_topology *t = vtpu_slice_topology(s);
    unsigned n = vtpu_slice_size(s), axes = 0;
    size_t sz = (size_t)tcs * blk;
    uint8_t *in = rand_blocks(n, tcs, blk, 0x5eed + n + tcs);
    uint8_t *out = malloc(n * sz), *out2 = malloc(n * sz);

    for (unsigned i = 0; i < n; i++)
        put_inputs(vtpu_slice_chip(s, i), tcs, blk, in + i * sz);
    shift_ref(t, tcs, blk, in, out, out2);
    run_ok(s, 1, blk, 0);
    for (unsigned a = 0; a < 3; a++)
        axes += t->dims[a] > 1;
    for (unsigned i = 0; i < n; i++) {
        vtpu_chip *c = vtpu_slice_chip(s, i);
        check_outputs(c, i, tcs, blk, out + i * sz, out2 + i * sz);
        for (unsigned k = 0; k < tcs; k++) {
            vtpu_tc_stats st;
            assert_int_equal(vtpu_chip_tc_stats(c, k, &st), 0);
            assert_int_equal(st.ici_bytes_sent, (uint64_t)blk * (1 + axes));
            assert_int_equal(st.ici_bytes_recv, (uint64_t)blk * (1 + axes));
            if (n > 1)
                assert_true(st.ici_ns > 0);
        }
    }
    /* the first hop (to x - 1) of chip 1 goes over its link 1*6+1 */
    if (n > 1 && t->dims[0] > 1)
        assert_true(vtpu_fabric_link_bytes(vtpu_slice_fabric(s), 7) >=
                    (uint64_t)blk * tcs);
    free(in);
    free(out);
    free(out2);
    vtpu_slice_free(s);
}

static void test_ring_shift(void **state)
{
    (void)state;
    check_shift("1", 1, 4096);
    check_shift("2", 1, 4096);
    check_shift("4", 2, 2048);
    check_shift("8", 1, 1024);
    check_shift("2x2", 2, 4096);
    check_shift("2x2x2", 1, 2048);
    check_shift("mesh:3x2", 1, 512);
}

/* A remote DMA in the timeline trace of the issuing chip. */
static void test_trace(void **state)
{
    (void)state;
    vtpu_slice *s = mk("2", 1);
    char path[] = "/tmp/vtpu-slice-traceXXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(
        vtpu_chip_set_trace(vtpu_slice_chip(s, 1), path, err, sizeof(err)), 0);
    run_ok(s, 1, 1024, 0);
    assert_int_equal(vtpu_chip_set_trace(vtpu_slice_chip(s, 1), NULL, err,
                                         sizeof(err)),
                     0);
    size_t len;
    char *txt = (char *)test_read_file(path, &len);
    assert_non_null(txt);
    txt = realloc(txt, len + 1);
    txt[len] = 0;
    /* to chip 0 (x - 1 and x + 1 on a ring of 2), 1024 bytes each */
    assert_non_null(strstr(txt, "\"name\":\"ici dma chip 1->0\""));
    assert_non_null(strstr(txt, "\"bytes\":1024,\"sem\":2,\"dst_chip\":0"));
    free(txt);
    unlink(path);
    vtpu_slice_free(s);
}

/* ---- tokens, ping-pong, barriers ---- */

static void check_tokens(const char *spec, unsigned tcs, uint32_t rounds)
{
    vtpu_slice *s = mk(spec, tcs);
    unsigned n = vtpu_slice_size(s);

    run_ok(s, 2, rounds, 0);
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < tcs; k++) {
            vtpu_chip *c = vtpu_slice_chip(s, i);
            uint32_t last = n == 1   ? 0
                            : i == 0 ? rounds * n
                                     : (rounds - 1) * n + i;
            uint32_t pp = n > 1 && (i == 0 || i == n - 1) ? rounds : 0;
            assert_int_equal(rd32(c, RES + k * 256), last);
            assert_int_equal(rd32(c, RES + k * 256 + 4), pp);
        }
    /* and again: a second run on the same slice starts clean */
    run_ok(s, 2, rounds, 0);
    vtpu_slice_free(s);
}

static void test_tokens(void **state)
{
    (void)state;
    check_tokens("2", 1, 50);
    check_tokens("4", 2, 20);
    check_tokens("8", 1, 10);
    check_tokens("2x2x2", 2, 5);
}

/* ---- faults ---- */

static void run_fault(vtpu_slice *s, const vtpu_run_opts *o, vtpu_error *e,
                      char *msg, size_t len)
{
    unsigned n = vtpu_slice_size(s);
    vtpu_run_result *r = calloc(n, sizeof(*r));
    assert_int_equal(vtpu_slice_run(s, o, r, e), -1);
    vtpu_error_format(e, msg, len);
    free(r);
}

static void test_deadlock(void **state)
{
    (void)state;
    vtpu_slice *s = mk("4", 2);
    vtpu_run_opts o = {.args = {3}};
    vtpu_error e;
    char msg[2048];

    for (int rep = 0; rep < 2; rep++) {
        run_fault(s, &o, &e, msg, sizeof(msg));
        assert_int_equal(e.kind, VTPU_ERR_DEADLOCK);
        assert_true(e.chip == 0 || e.chip == 1);
        assert_int_equal(e.tc, 0);
        if (!strstr(msg, "chip 0: TC0 waits sem 9 >= 2 (is 1)") ||
            !strstr(msg, "last signalled (+1) by chip 1 TC 0") ||
            !strstr(msg, "chip 1: TC0 waits sem 9 >= 1 (is 0)") ||
            strstr(msg, "chip 2:") || strncmp(msg, "chip ", 5))
            fail_msg("report: %s", msg);
    }
    vtpu_slice_free(s);
}

static void test_bad_remote(void **state)
{
    (void)state;
    vtpu_slice *s = mk("4", 1);
    vtpu_hbm_range g = {0, 8u << 20};
    static const struct {
        uint32_t kind, arg;
        vtpu_error_kind ek;
        const char *msg;
        bool grants;
    } cases[] = {
        {0, 0, VTPU_ERR_DMA, "remote DMA to chip 4: the slice has 4 chips", 0},
        {1, 256u << 10, VTPU_ERR_DMA, "remote DMA to chip 0: dst: VMEM", 0},
        {2, 0, VTPU_ERR_SEM, "sem.signal.remote to chip 4: the slice has 4", 0},
        {3, 12u << 20, VTPU_ERR_DMA,
         "not in the HBM granted to the "
         "destination chip's launch",
         1},
        {5, 12u << 20, VTPU_ERR_NONE, NULL, 0}, /* no grants: fine */
        {4, 4, VTPU_ERR_DMA, "bits 15:1 must be 0", 0},
        {4, 2 /* VTPU_DMA_ADD */, VTPU_ERR_DMA,
         "VTPU_DMA_ADD (bit 1) is for local DMAs", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vtpu_run_opts o = {.args = {4, cases[i].kind, cases[i].arg}};
        vtpu_error e;
        char msg[2048];
        if (cases[i].grants) {
            o.hbm_ranges = &g;
            o.num_hbm_ranges = 1;
        }
        if (cases[i].ek == VTPU_ERR_NONE) {
            run_ok(s, 4, cases[i].kind, cases[i].arg);
            continue;
        }
        run_fault(s, &o, &e, msg, sizeof(msg));
        assert_int_equal(e.kind, cases[i].ek);
        assert_int_equal(e.chip, 1);
        assert_int_equal(e.tc, 0);
        if (!strstr(msg, cases[i].msg) ||
            strncmp(msg, "chip 1 TC 0: pc 0x", 18))
            fail_msg("case %zu: %s", i, msg);
    }
    vtpu_slice_free(s);
}

/* ---- checks across chips (mode 5, docs/debugging.md) ---- */

#define CK_IN 0x100000u
#define CK_OUT 0x200000u

/* Every chip of s: race/poison on or off, DMA order `order`. */
static void set_checks(vtpu_slice *s, bool race, bool poison, const char *order)
{
    char err[256];
    vtpu_dma_order o;
    uint64_t seed;

    assert_int_equal(vtpu_dma_order_parse(order, &o, &seed, err, sizeof(err)),
                     0);
    for (unsigned c = 0; c < vtpu_slice_size(s); c++) {
        vtpu_chip *ch = vtpu_slice_chip(s, c);
        if (vtpu_chip_set_checks(ch, race, poison, err, sizeof(err)))
            fail_msg("set_checks: %s", err);
        vtpu_chip_set_dma_order(ch, o, seed);
    }
}

/* Run mode 5 kind `kind` on n bytes of random data: 0 and chip 1's OUT
 * in *out, or -1 and the fault's message in msg. */
static int run_checks(vtpu_slice *s, uint32_t kind, uint32_t n,
                      const uint8_t *in, uint8_t *out, vtpu_error *e, char *msg,
                      size_t len)
{
    vtpu_run_opts o = {.args = {5, kind, n}};
    unsigned nc = vtpu_slice_size(s);
    vtpu_run_result *r = calloc(nc, sizeof(*r));
    uint8_t *junk = malloc(n);

    memset(junk, 0xa5, n);
    assert_int_equal(vtpu_hbm_write(vtpu_slice_chip(s, 0), CK_IN, in, n), 0);
    assert_int_equal(vtpu_hbm_write(vtpu_slice_chip(s, 1), CK_OUT, junk, n), 0);
    int rc = vtpu_slice_run(s, &o, r, e);
    vtpu_error_format(e, msg, len);
    if (!rc) {
        for (unsigned i = 0; i < nc; i++)
            assert_int_equal(r[i].exit_code, 0);
        assert_int_equal(vtpu_hbm_read(vtpu_slice_chip(s, 1), CK_OUT, out, n),
                         0);
    }
    free(junk);
    free(r);
    return rc;
}

static void expect_clean(vtpu_slice *s, uint32_t kind, uint32_t n,
                         const uint8_t *in, const uint8_t *want)
{
    uint8_t *out = malloc(n);
    vtpu_error e;
    char msg[2048];

    if (run_checks(s, kind, n, in, out, &e, msg, sizeof(msg)))
        fail_msg("kind %u: %s", kind, msg);
    assert_memory_equal(out, want, n);
    free(out);
}

/* A race reported on chip `chip` naming both chips. */
static void expect_race(vtpu_slice *s, uint32_t kind, uint32_t n,
                        const uint8_t *in, int chip)
{
    vtpu_error e;
    char msg[2048];

    assert_int_equal(run_checks(s, kind, n, in, NULL, &e, msg, sizeof(msg)),
                     -1);
    assert_int_equal(e.kind, VTPU_ERR_RACE);
    if (chip >= 0)
        assert_int_equal(e.chip, chip);
    if (!strstr(msg, "VMEM of chip 1 TC 0") || !strstr(msg, "chip 0 TC 0") ||
        !strstr(msg, "chip 1 TC 0") ||
        (kind == 0 &&
         !strstr(msg, "DMA issued by chip 0 TC 0 (dma.start at pc 0x")) ||
        (kind == 0 && !strstr(msg, "DMA read of VMEM of chip 1 TC 0")))
        fail_msg("kind %u: %s", kind, msg);
}

static void test_checks(void **state)
{
    (void)state;
    vtpu_slice *s = mk("2", 1);
    const uint32_t n = 4096;
    uint8_t *in = malloc(n), *zero = calloc(1, n), *junk = malloc(n);
    vtpu_error e;
    char msg[2048];

    for (uint32_t i = 0; i < n; i++)
        in[i] = (uint8_t)g_random_int();
    memset(junk, 0xa5, n); /* what run_checks leaves in chip 1's OUT */
    /* eager: the copy has landed when chip 0 says "go" */
    expect_clean(s, 0, n, in, in);
    expect_clean(s, 1, n, in, in);
    expect_clean(s, 3, n, in, junk);
    expect_clean(s, 5, n, in, in);
    /* deferred: the unawaited read sees the old B; awaited ones the data;
     * a TC blocking with a queued remote DMA is no deadlock */
    static const char *const orders[] = {"on-wait", "random:7", "random:99"};
    for (size_t i = 0; i < 3; i++) {
        set_checks(s, false, false, orders[i]);
        if (i == 0)
            expect_clean(s, 0, n, in, zero);
        expect_clean(s, 1, n, in, in);
        expect_clean(s, 3, n, in, junk);
        expect_clean(s, 5, n, in, in);
    }
    /* race detection: both chips named; the waits make it clean, in
     * every order */
    for (size_t i = 0; i < 3; i++) {
        set_checks(s, true, true, orders[i]);
        if (i == 0)
            expect_race(s, 0, n, in, 1);
        expect_race(s, 4, n, in, -1);
        expect_clean(s, 1, n, in, in);
        expect_clean(s, 3, n, in, junk);
        expect_clean(s, 5, n, in, in);
    }
    set_checks(s, true, false, "eager");
    expect_race(s, 0, n, in, 1);
    expect_race(s, 4, n, in, -1);
    expect_clean(s, 1, n, in, in);
    expect_clean(s, 3, n, in, junk);
    /* poison: a remote DMA of never-written VMEM, reported on chip 0 */
    set_checks(s, false, true, "eager");
    assert_int_equal(run_checks(s, 2, n, in, NULL, &e, msg, sizeof(msg)), -1);
    assert_int_equal(e.kind, VTPU_ERR_UNINIT);
    assert_int_equal(e.chip, 0);
    if (strncmp(msg, "chip 0 TC 0: pc 0x", 18) ||
        !strstr(msg, "VMEM of chip 0 TC 0 0x20000000"))
        fail_msg("poison: %s", msg);
    expect_clean(s, 1, n, in, in); /* the destination counts as written */
    set_checks(s, false, false, "eager");
    expect_clean(s, 1, n, in, in);
    free(in);
    free(zero);
    free(junk);
    vtpu_slice_free(s);
}

static void test_error_format(void **state)
{
    (void)state;
    vtpu_error e;
    char buf[256];

    memset(&e, 0, sizeof(e));
    e.kind = VTPU_ERR_SEM;
    e.tc = 1;
    e.chip = 3;
    e.pc = 0x100010;
    vtpu_error_format(&e, buf, sizeof(buf));
    assert_true(strncmp(buf, "chip 3 TC 1: pc 0x00100010", 26) == 0);
    e.chip = -1;
    vtpu_error_format(&e, buf, sizeof(buf));
    assert_true(strncmp(buf, "TC 1: pc", 8) == 0);
    e.tc = -1;
    e.chip = 2;
    vtpu_error_format(&e, buf, sizeof(buf));
    assert_true(strncmp(buf, "chip 2: ", 8) == 0);
}

static void test_attach_rules(void **state)
{
    (void)state;
    vtpu_topology t;
    char err[256];
    vtpu_config a = small_cfg(1), b = small_cfg(2);
    assert_int_equal(vtpu_topology_parse("2", &t, NULL, 0), 0);
    vtpu_fabric *f = vtpu_fabric_new(&t, err, sizeof(err));
    vtpu_chip *c0 = vtpu_chip_new(&a, NULL, 0),
              *c1 = vtpu_chip_new(&b, NULL, 0);
    assert_int_equal(vtpu_fabric_attach(f, 0, c0, err, sizeof(err)), 0);
    assert_int_equal(vtpu_fabric_attach(f, 1, c1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "config differs from chip 0's in 'cores'"));
    assert_int_equal(vtpu_fabric_attach(f, 2, c1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the slice has 2 chips"));
    assert_int_equal(vtpu_fabric_attach(f, 0, c1, err, sizeof(err)), -1);
    assert_true(vtpu_fabric_is_local(f, 0));
    assert_false(vtpu_fabric_is_local(f, 1));
    vtpu_chip_free(c1);
    vtpu_chip_free(c0); /* detaches itself */
    assert_false(vtpu_fabric_is_local(f, 0));
    vtpu_fabric_free(f);

    /* race detection shares 1024 agents among the chips: at most 64 */
    assert_int_equal(vtpu_topology_parse("5x13", &t, NULL, 0), 0);
    f = vtpu_fabric_new(&t, err, sizeof(err));
    a.race = 1;
    c0 = vtpu_chip_new(&a, NULL, 0);
    assert_int_equal(vtpu_fabric_attach(f, 3, c0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "race detection supports slices of at most "
                                "64 chips, this one has 65"));
    assert_int_equal(vtpu_chip_set_checks(c0, false, false, NULL, 0), 0);
    assert_int_equal(vtpu_fabric_attach(f, 3, c0, err, sizeof(err)), 0);
    assert_int_equal(vtpu_chip_set_checks(c0, true, false, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "at most 64 chips"));
    vtpu_chip_free(c0);
    vtpu_fabric_free(f);
}

/* ---- a chip detached while another streams into it ---- */

/* QEMU's unplug of a slice member: detach, then free (vtpu_chip_free
 * does both), while chip 0's kernel keeps copying into it.  (No counter
 * can be read while the run goes on without a data race, so it waits a
 * while; the caller checks afterwards that the stream had begun.) */
static gpointer free_later(gpointer p)
{
    g_usleep(100000);
    vtpu_chip_free(p);
    return NULL;
}

static void test_detach_mid_stream(void **state)
{
    (void)state;
    vtpu_topology t;
    char err[256];
    vtpu_config cfg = small_cfg(1);
    vtpu_tc_stats st = {0};
    cfg.hbm_size = 64u << 20;
    vtpu_run_result r;
    assert_int_equal(vtpu_topology_parse("2", &t, NULL, 0), 0);
    vtpu_fabric *f = vtpu_fabric_new(&t, err, sizeof(err));
    vtpu_chip *c0 = vtpu_chip_new(&cfg, NULL, 0), *c1;
    assert_int_equal(vtpu_fabric_attach(f, 0, c0, err, sizeof(err)), 0);
    assert_int_equal(vtpu_chip_load_elf(c0, elf, elf_len, NULL, 0), 0);
    uint8_t *buf = malloc(16u << 20);
    for (size_t i = 0; i < (16u << 20); i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    assert_int_equal(vtpu_hbm_write(c0, 16u << 20, buf, 16u << 20), 0);
    free(buf);
    /* 250 x 16 MiB: a second or so of copying (each copy long enough
     * that the unplug lands in one), and chip 1's receive semaphore
     * stays below 2^32.  Again if the host was so busy that the chip
     * went before the first copy. */
    vtpu_run_opts o = {.args = {6, 250, 16u << 20}};
    for (unsigned tries = 0; tries < 5 && !st.ici_bytes_sent; tries++) {
        c1 = vtpu_chip_new(&cfg, NULL, 0);
        assert_int_equal(vtpu_fabric_attach(f, 1, c1, err, sizeof(err)), 0);
        GThread *th = g_thread_new("unplug", free_later, c1);
        int rc = vtpu_chip_run(c0, &o, &r);
        g_thread_join(th);
        if (rc != -1)
            fail_msg("the stream ended (exit code %d) before chip 1 went",
                     r.exit_code);
        assert_int_equal(r.error.kind, VTPU_ERR_DMA);
        assert_int_equal(r.error.chip, 0);
        if (!strstr(r.error.detail, "remote DMA to chip 1: ") ||
            (!strstr(r.error.detail, "chip 1 is not attached") &&
             !strstr(r.error.detail, "left the slice")))
            fail_msg("detach mid-stream: %s", r.error.detail);
        assert_false(vtpu_fabric_is_local(f, 1));
        assert_int_equal(vtpu_chip_tc_stats(c0, 0, &st), 0);
        vtpu_chip_abort_clear(c0);
    }
    assert_true(st.ici_bytes_sent > 0);
    /* chip 0 and the fabric go on: a chip attached again as 1 */
    c1 = vtpu_chip_new(&cfg, NULL, 0);
    assert_int_equal(vtpu_fabric_attach(f, 1, c1, err, sizeof(err)), 0);
    o.args[1] = 3;
    assert_int_equal(vtpu_chip_run(c0, &o, &r), 0);
    assert_int_equal(vtpu_chip_tc_stats(c1, 0, &st), 0);
    assert_int_equal(st.ici_bytes_recv, 3u * (16u << 20));
    vtpu_chip_free(c1);
    vtpu_chip_free(c0);
    vtpu_fabric_free(f);
}

/* ---- a fake transport: two fabrics, chips 0-1 and 2-3 of a ring ---- */

typedef struct msg {
    struct msg *next;
    bool quit, sig;
    unsigned src, src_tc, dst, dst_tc;
    uint32_t sem, n;
    vtpu_remote_dma d;
    uint8_t *data;
    /* race information (vc NULL: none), copied: the sender's is valid
     * during the call only */
    vtpu_race_clock race;
    uint32_t *vc;
} msg;

typedef struct side {
    vtpu_fabric *f;
    struct side *peer;
    /* messages for this side's chips, in order (engine's pthread locks:
     * TSan sees them, GLib's futexes it does not) */
    vtpu_mutex mu;
    vtpu_cond cv;
    msg *head, **tail;
    GThread *th;
    int errors;
} side;

static void q_push(side *sd, msg *m)
{
    vtpu_mutex_lock(&sd->mu);
    m->next = NULL;
    *sd->tail = m;
    sd->tail = &m->next;
    vtpu_cond_signal(&sd->cv);
    vtpu_mutex_unlock(&sd->mu);
}

static msg *q_pop(side *sd)
{
    vtpu_mutex_lock(&sd->mu);
    while (!sd->head)
        vtpu_cond_wait(&sd->cv, &sd->mu);
    msg *m = sd->head;
    sd->head = m->next;
    if (!sd->head)
        sd->tail = &sd->head;
    vtpu_mutex_unlock(&sd->mu);
    return m;
}

/* the two processes' launch barrier */
static vtpu_mutex bar_mu;
static vtpu_cond bar_cv;
static unsigned bar_count, bar_gen;

static int t_barrier(void *opaque)
{
    (void)opaque;
    vtpu_mutex_lock(&bar_mu);
    unsigned gen = bar_gen;
    if (++bar_count == 2) {
        bar_count = 0;
        bar_gen++;
        vtpu_cond_broadcast(&bar_cv);
    } else {
        while (gen == bar_gen)
            vtpu_cond_wait(&bar_cv, &bar_mu);
    }
    vtpu_mutex_unlock(&bar_mu);
    return 0;
}

static int t_dma(void *opaque, unsigned src, unsigned src_tc, unsigned dst,
                 const vtpu_remote_dma *d, char *err, size_t len)
{
    side *sd = opaque;
    (void)err;
    (void)len;
    msg *m = g_new0(msg, 1);
    m->src = src;
    m->src_tc = src_tc;
    m->dst = dst;
    m->d = *d;
    m->data = g_memdup2(d->data, d->bytes);
    m->d.data = m->data;
    if (d->race) {
        m->race = *d->race;
        m->vc = g_memdup2(d->race->vc, sizeof(uint32_t) * d->race->n);
        m->race.vc = m->vc;
        m->d.race = &m->race;
    }
    q_push(sd->peer, m);
    return 0;
}

static int t_signal(void *opaque, unsigned src, unsigned src_tc, unsigned dst,
                    unsigned dst_tc, uint32_t sem, uint32_t n,
                    const vtpu_race_clock *race, char *err, size_t len)
{
    side *sd = opaque;
    (void)err;
    (void)len;
    msg *m = g_new0(msg, 1);
    *m = (msg){.sig = true,
               .src = src,
               .src_tc = src_tc,
               .dst = dst,
               .dst_tc = dst_tc,
               .sem = sem,
               .n = n};
    if (race) {
        m->race = *race;
        m->vc = g_memdup2(race->vc, sizeof(uint32_t) * race->n);
        m->race.vc = m->vc;
    }
    q_push(sd->peer, m);
    return 0;
}

static gpointer deliverer(gpointer opaque)
{
    side *sd = opaque;
    for (;;) {
        msg *m = q_pop(sd);
        char err[256];
        if (m->quit) {
            g_free(m);
            return NULL;
        }
        int rc = m->sig
                     ? vtpu_fabric_deliver_signal_race(
                           sd->f, m->src, m->src_tc, m->dst, m->dst_tc, m->sem,
                           m->n, m->vc ? &m->race : NULL, err, sizeof(err))
                     : vtpu_fabric_deliver_dma(sd->f, m->src, m->dst, &m->d,
                                               err, sizeof(err));
        if (rc) {
            fprintf(stderr, "deliver: %s\n", err);
            sd->errors++;
        }
        g_free(m->data);
        g_free(m->vc);
        g_free(m);
    }
}

typedef struct crun {
    vtpu_chip *chip;
    vtpu_run_opts o;
    vtpu_run_result r;
    int rc;
} crun;

static gpointer crun_thread(gpointer p)
{
    crun *c = p;
    c->rc = vtpu_chip_run(c->chip, &c->o, &c->r);
    return NULL;
}

static void test_transport(void **state)
{
    (void)state;
    const unsigned n = 4, tcs = 2;
    const uint32_t blk = 2048;
    vtpu_topology t;
    vtpu_config cfg = small_cfg(tcs);
    vtpu_chip *chips[4];
    side sides[2];
    vtpu_fabric_transport ops = {.remote_dma = t_dma,
                                 .remote_signal_race = t_signal,
                                 .launch_barrier = t_barrier};
    size_t sz = (size_t)tcs * blk;
    uint8_t *in = rand_blocks(n, tcs, blk, 77);
    uint8_t *out = malloc(n * sz), *out2 = malloc(n * sz);

    assert_int_equal(vtpu_topology_parse("4", &t, NULL, 0), 0);
    vtpu_mutex_init(&bar_mu);
    vtpu_cond_init(&bar_cv);
    for (unsigned s = 0; s < 2; s++) {
        sides[s].f = vtpu_fabric_new(&t, NULL, 0);
        sides[s].peer = &sides[1 - s];
        vtpu_mutex_init(&sides[s].mu);
        vtpu_cond_init(&sides[s].cv);
        sides[s].head = NULL;
        sides[s].tail = &sides[s].head;
        sides[s].errors = 0;
        vtpu_fabric_set_transport(sides[s].f, &ops, &sides[s]);
    }
    for (unsigned i = 0; i < n; i++) {
        chips[i] = vtpu_chip_new(&cfg, NULL, 0);
        assert_int_equal(
            vtpu_fabric_attach(sides[i / 2].f, i, chips[i], NULL, 0), 0);
        assert_int_equal(vtpu_chip_load_elf(chips[i], elf, elf_len, NULL, 0),
                         0);
        put_inputs(chips[i], tcs, blk, in + i * sz);
    }
    assert_false(vtpu_fabric_is_local(sides[0].f, 2));
    for (unsigned s = 0; s < 2; s++)
        sides[s].th = g_thread_new("deliver", deliverer, &sides[s]);

    /* plain; with race and poison (messages from the other fabric carry
     * the race clocks: no false report); the same in the on-wait order */
    for (unsigned ck = 0; ck < 3; ck++) {
        vtpu_dma_order ord;
        uint64_t seed;
        assert_int_equal(vtpu_dma_order_parse(ck == 2 ? "on-wait" : "eager",
                                              &ord, &seed, NULL, 0),
                         0);
        for (unsigned i = 0; i < n; i++) {
            assert_int_equal(
                vtpu_chip_set_checks(chips[i], ck > 0, ck > 0, NULL, 0), 0);
            vtpu_chip_set_dma_order(chips[i], ord, seed);
            put_inputs(chips[i], tcs, blk, in + i * sz); /* known to poison */
        }
        /* the ring shift, then the tokens (signals, barriers) */
        for (uint32_t mode = 1; mode <= 2; mode++) {
            crun runs[4];
            GThread *th[4];
            for (unsigned i = 0; i < n; i++) {
                runs[i] = (crun){.chip = chips[i],
                                 .o = {.args = {mode, mode == 1 ? blk : 7},
                                       .collective = true}};
                th[i] = g_thread_new("chip", crun_thread, &runs[i]);
            }
            for (unsigned i = 0; i < n; i++) {
                g_thread_join(th[i]);
                if (runs[i].rc) {
                    char m[2048];
                    vtpu_error_format(&runs[i].r.error, m, sizeof(m));
                    fail_msg("chip %u: %s", i, m);
                }
            }
        }
        shift_ref(&t, tcs, blk, in, out, out2);
        for (unsigned i = 0; i < n; i++) {
            check_outputs(chips[i], i, tcs, blk, out + i * sz, out2 + i * sz);
            for (unsigned k = 0; k < tcs; k++) {
                assert_int_equal(rd32(chips[i], RES + k * 256),
                                 i == 0 ? 7 * n : 6 * n + i);
            }
        }
    }
    /* the checks off again, eager order (the loop above left them on) */
    for (unsigned i = 0; i < n; i++) {
        vtpu_dma_order eager;
        uint64_t seed0 = 0;
        assert_int_equal(
            vtpu_dma_order_parse("eager", &eager, &seed0, NULL, 0), 0);
        assert_int_equal(vtpu_chip_set_checks(chips[i], false, false, NULL, 0),
                         0);
        vtpu_chip_set_dma_order(chips[i], eager, 0);
    }
    /* A deadlock the engine cannot see (chips elsewhere): the
     * transport's view (vtpu_fabric_local_state) and its report
     * (vtpu_fabric_report_deadlock), then a stop from elsewhere
     * (vtpu_fabric_stop_local) ending the same wait. */
    for (int how = 0; how < 2; how++) {
        crun runs[4];
        GThread *th[4];
        char desc[2048];
        int st0 = -1, st1 = -1;
        for (unsigned i = 0; i < n; i++) {
            runs[i] = (crun){.chip = chips[i],
                             .o = {.args = {3}, .collective = true}};
            th[i] = g_thread_new("chip", crun_thread, &runs[i]);
        }
        for (int w = 0; w < 10000; w++) { /* 10 s at most */
            st0 = vtpu_fabric_local_state(sides[0].f, desc, sizeof(desc));
            st1 = vtpu_fabric_local_state(sides[1].f, NULL, 0);
            if (st0 == VTPU_FABRIC_LOCAL_BLOCKED &&
                st1 == VTPU_FABRIC_LOCAL_DONE)
                break;
            g_usleep(1000);
        }
        assert_int_equal(st0, VTPU_FABRIC_LOCAL_BLOCKED);
        assert_int_equal(st1, VTPU_FABRIC_LOCAL_DONE);
        if (!strstr(desc, "chip 0: TC0 waits sem 9 >= 2 (is 1)") ||
            !strstr(desc, "chip 1: TC0 waits sem 9 >= 1 (is 0)"))
            fail_msg("local state: %s", desc);
        if (how == 0)
            vtpu_fabric_report_deadlock(sides[0].f, "found elsewhere");
        else
            vtpu_fabric_stop_local(sides[0].f);
        for (unsigned i = 0; i < n; i++) {
            g_thread_join(th[i]);
            char m[2048] = "";
            if (runs[i].rc)
                vtpu_error_format(&runs[i].r.error, m, sizeof(m));
            if (i >= 2 || how == 1) {
                assert_int_equal(runs[i].rc, 0);
                continue;
            }
            assert_int_equal(runs[i].rc, -1);
            assert_int_equal(runs[i].r.error.kind, VTPU_ERR_DEADLOCK);
            if (!strstr(m, "found elsewhere"))
                fail_msg("chip %u: %s", i, m);
        }
        assert_int_equal(vtpu_fabric_local_state(sides[0].f, NULL, 0),
                         VTPU_FABRIC_LOCAL_DONE);
    }

    /* a bad message from elsewhere is refused, nothing written */
    char err[256];
    vtpu_remote_dma bad = {.dst_space = VTPU_SPACE_VMEM,
                           .dst_tc = 5,
                           .ndims = 1,
                           .dst = VTPU_VMEM_BASE,
                           .shape = {4, 1, 1, 1},
                           .bytes = 4,
                           .data = (const uint8_t *)"abcd"};
    assert_int_equal(
        vtpu_fabric_deliver_dma(sides[0].f, 2, 0, &bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "dst_tc: TC 5"));
    bad.dst_tc = 0;
    bad.dst = VTPU_VMEM_BASE + (256u << 10) - 2;
    assert_int_equal(
        vtpu_fabric_deliver_dma(sides[0].f, 2, 0, &bad, err, sizeof(err)), -1);
    assert_int_equal(
        vtpu_fabric_deliver_dma(sides[0].f, 2, 3, &bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not attached here"));
    assert_int_equal(vtpu_fabric_deliver_signal(sides[0].f, 2, 0, 1, 0, 9999, 1,
                                                err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "semaphore 9999"));

    for (unsigned s = 0; s < 2; s++) {
        msg *q = g_new0(msg, 1);
        q->quit = true;
        q_push(&sides[s], q);
        g_thread_join(sides[s].th);
        vtpu_cond_clear(&sides[s].cv);
        vtpu_mutex_clear(&sides[s].mu);
        assert_int_equal(sides[s].errors, 0);
    }
    for (unsigned i = 0; i < n; i++)
        vtpu_chip_free(chips[i]);
    for (unsigned s = 0; s < 2; s++)
        vtpu_fabric_free(sides[s].f);
    free(in);
    free(out);
    free(out2);
}

/* A collective run waiting for a chip that never comes ends on a stop. */
static gpointer stopper(gpointer p)
{
    g_usleep(20000);
    vtpu_chip_stop_run(p, VTPU_STOP_ABORT);
    return NULL;
}

static void test_rendezvous_abort(void **state)
{
    (void)state;
    vtpu_slice *s = mk("2", 1);
    vtpu_chip *c = vtpu_slice_chip(s, 0);
    vtpu_run_opts o = {.args = {0}, .collective = true};
    vtpu_run_result r;
    GThread *th = g_thread_new("stop", stopper, c);
    assert_int_equal(vtpu_chip_run(c, &o, &r), 0);
    g_thread_join(th);
    vtpu_tc_status st;
    assert_int_equal(vtpu_chip_tc_status(c, 0, &st), 0);
    assert_int_equal(st.state, VTPU_TC_STATE_STOPPED);
    vtpu_chip_abort_clear(c);
    run_ok(s, 0, 0, 0); /* and the slice still works */
    vtpu_slice_free(s);
}

/* A chip of the slice that cannot start fails the launch everywhere,
 * and nobody waits for it. */
static void test_start_failure(void **state)
{
    (void)state;
    vtpu_slice *s = mk("4", 2);
    vtpu_run_opts o = {.args = {2, 3}};
    vtpu_run_result r[4];
    vtpu_error e;

    vtpu_chip_unload_programs(vtpu_slice_chip(s, 2));
    assert_int_equal(vtpu_slice_run(s, &o, r, &e), -1);
    assert_int_equal(e.kind, VTPU_ERR_NO_PROGRAM);
    assert_int_equal(e.chip, 2);
    assert_int_equal(e.tc, -1);
    for (unsigned i = 0; i < 4; i++) {
        vtpu_tc_status st;
        assert_int_equal(vtpu_chip_tc_status(vtpu_slice_chip(s, i), 0, &st), 0);
        if (i != 2)
            assert_int_equal(st.state, VTPU_TC_STATE_STOPPED);
        assert_int_equal(r[i].instret[0], 0);
    }
    char msg[512];
    vtpu_error_format(&e, msg, sizeof(msg));
    assert_string_equal(msg, "chip 2: no program loaded: no program is loaded");
    /* loaded again, the slice runs */
    assert_int_equal(
        vtpu_chip_load_elf(vtpu_slice_chip(s, 2), elf, elf_len, NULL, 0), 0);
    run_ok(s, 2, 3, 0);
    vtpu_slice_free(s);
}

/* ---- scale: a 64-chip v5p slice in one process ---- */

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

static void test_scale_v5p(void **state)
{
    (void)state;
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", NULL, 0), 0);
#if defined(__SANITIZE_THREAD__)
    /* TSan's application address range holds no 6 TiB of mappings */
    cfg.hbm_size = 16ull << 30;
#endif
    long before = rss_kib();
    vtpu_slice *s = vtpu_slice_new(&cfg, "v5p-128", err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(vtpu_slice_size(s), 64);
    assert_int_equal(vtpu_slice_load_elf(s, elf, elf_len, err, sizeof(err)), 0);
    run_ok(s, 0, 0, 0);
    long after = rss_kib();
    vtpu_chip *c = vtpu_slice_chip(s, 63);
    assert_int_equal(rd32(c, RES), 63);
    assert_int_equal(rd32(c, RES + 4), 64);
    assert_int_equal(rd32(c, RES + 256 + 20), 3); /* TC 1: x = 3 */
    print_message("64-chip v5p slice: RSS %ld -> %ld KiB\n", before, after);
    assert_true(after - before < 1024 * 1024);
    vtpu_slice_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_parse),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_attach_rules),
        cmocka_unit_test(test_detach_mid_stream),
        cmocka_unit_test(test_csrs),
        cmocka_unit_test(test_ring_shift),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_deadlock),
        cmocka_unit_test(test_bad_remote),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_rendezvous_abort),
        cmocka_unit_test(test_start_failure),
        cmocka_unit_test(test_scale_v5p),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
