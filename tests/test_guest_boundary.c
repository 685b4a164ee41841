/*
 * test_guest_boundary.c - the device against a hostile guest
 * (docs/registers.md, "The guest boundary"):
 *   - LOAD_PROG while another thread rewrites the ELF image in HBM (the
 *     double fetch that overflowed a heap block): never a crash, only
 *     "loaded" or VTPU_E_BAD_ELF; run under ASan by `make check`;
 *   - TC output into a buffer nobody reads: the TC never blocks, the
 *     drops are counted, soft and system reset finish within 100 ms;
 *   - output escaping and the rate limit;
 *   - vtpu_dev_reg_peek() has no side effects (`info vtpu`);
 *   - vtpu_chip_scrub() zeroes every memory and gives the pages back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev-priv.h"
#include "dev_fixture.h"
#include "helpers.h"
#include "outbuf.h"

#define ELF_HBM 0x100000u

/* A v5e chip with 16 MiB of HBM and a device on it, a ring of 8. */
static fx *fx_new(const vtpu_dev_opts *opts)
{
    return fx_create("v5e", "16M", opts, 8);
}

/* Acknowledge an error with SKIP; returns the code that was reported. */
static uint32_t take_error(fx *f)
{
    uint32_t code = rd(f, VTPU_A_ERR_CODE);
    if (code) {
        wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
        wr(f, VTPU_A_INT_STATUS, VTPU_FMASK(INT, ERROR));
        wait_idle(f);
    }
    return code;
}

static uint32_t load(fx *f, uint32_t slot, uint64_t len)
{
    push_load(f, slot, ELF_HBM, len);
    wait_idle(f);
    return take_error(f);
}

static int64_t ms_since(int64_t t0)
{
    return (g_get_monotonic_time() - t0) / 1000;
}

/* ------------------------------------------------------------------ */
/* LOAD_PROG against a guest that rewrites the image while it loads    */
/* ------------------------------------------------------------------ */

typedef struct flipper {
    uint8_t *hbm; /* the ELF image in HBM */
    const uint8_t *orig;
    size_t lo, hi; /* bytes [lo, hi) are flipped: the program headers */
    atomic_bool stop;
    uint64_t flips;
} flipper;

/* What a guest does through BAR2: alternate each program header field
 * between its real value and a random one, as fast as it can. */
static gpointer flip_main(gpointer opaque)
{
    flipper *fl = opaque;
    uint64_t seed = 0x5eed;

    while (!atomic_load(&fl->stop)) {
        size_t at = fl->lo + (test_rand32(&seed) % (fl->hi - fl->lo)) / 4 * 4;
        volatile uint32_t *w = (volatile uint32_t *)(fl->hbm + at);
        uint32_t r = test_rand32(&seed);
        /* Mostly plausible lies: small changes, huge sizes, IMEM/SMEM
         * addresses, so that the checks of the first pass pass. */
        switch (r % 4) {
        case 0:
            *w = r;
            break;
        case 1:
            *w = 0x7ffff000u;
            break;
        case 2:
            *w ^= 1u << (r >> 27);
            break;
        default:
            memcpy((void *)w, fl->orig + at, 4);
            break;
        }
        fl->flips++;
        if (fl->flips % 64 == 0)
            memcpy(fl->hbm + fl->lo, fl->orig + fl->lo, fl->hi - fl->lo);
    }
    return NULL;
}

static void test_load_while_rewritten(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    test_prog p;
    size_t len;

    prog_init(&p);
    for (unsigned i = 0; i < 256; i++)
        prog_emit(&p, rv_addi(0, 0, 0));
    prog_li(&p, 10, 42);
    prog_exit(&p);
    memset(p.data, 0xab, 1024);
    p.data_len = 1024;
    uint8_t *elf = build_elf(&p, &len);
    uint8_t *hbm = vtpu_chip_hbm_ptr(f->chip);
    memcpy(hbm + ELF_HBM, elf, len);

    uint32_t phoff = elf[28] | elf[29] << 8;
    uint32_t phnum = elf[44] | elf[45] << 8;
    flipper fl = {.hbm = hbm + ELF_HBM,
                  .orig = elf,
                  .lo = phoff,
                  .hi = phoff + 32 * phnum};
    atomic_init(&fl.stop, false);
    GThread *th = g_thread_new("flipper", flip_main, &fl);
    unsigned ok = 0, bad = 0;
    int64_t t0 = g_get_monotonic_time();
    for (unsigned i = 0; i < 4000 && ms_since(t0) < 8000; i++) {
        uint32_t code = load(f, i % VTPU_MAX_PROGRAMS, len);
        if (code == 0)
            ok++;
        else if (code == VTPU_E_BAD_ELF)
            bad++;
        else
            fail_msg("LOAD_PROG under rewrite: error code %u", code);
    }
    atomic_store(&fl.stop, true);
    g_thread_join(th);
    printf("LOAD_PROG under rewrite: %u loaded, %u refused, %llu flips\n", ok,
           bad, (unsigned long long)fl.flips);
    assert_true(ok + bad > 100);
    assert_true(fl.flips > 1000);

    /* The device is sound afterwards: the real image loads and runs. */
    memcpy(hbm + ELF_HBM, elf, len);
    assert_int_equal(load(f, 0, len), 0);
    vtpu_cmd c = mk(VTPU_OP_LAUNCH, 0);
    c.arg = 0;
    push(f, &c);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    assert_int_equal(rd(f, VTPU_A_LAST_EXIT), 42);
    free(elf);
    fx_free(f);
}

/* ------------------------------------------------------------------ */
/* TC output                                                            */
/* ------------------------------------------------------------------ */

/* write(1, SMEM_BASE, n) `count` times (0: for ever), then exit(0). */
static void prog_printer(test_prog *p, const char *text, uint32_t n,
                         uint32_t count)
{
    prog_init(p);
    memcpy(p->data, text, n);
    p->data_len = n;
    prog_li(p, 8, count); /* s0 = count */
    size_t loop = p->n;
    prog_li(p, 10, 1);
    prog_li(p, 11, VTPU_SMEM_BASE);
    prog_li(p, 12, n);
    prog_li(p, 17, 64); /* write */
    prog_emit(p, rv_ecall());
    if (count) {
        prog_emit(p, rv_addi(8, 8, -1));
        prog_emit(p, enc_b(1, 8, 0, -(int32_t)(4 * (p->n - loop))));
        prog_li(p, 10, 0);
        prog_exit(p);
    } else {
        prog_emit(p, enc_j(0, -(int32_t)(4 * (p->n - loop))));
    }
}

static void load_and_launch(fx *f, const test_prog *p)
{
    size_t len;
    uint8_t *elf = build_elf(p, &len);
    memcpy((uint8_t *)vtpu_chip_hbm_ptr(f->chip) + ELF_HBM, elf, len);
    free(elf);
    assert_int_equal(load(f, 0, len), 0);
    vtpu_cmd c = mk(VTPU_OP_LAUNCH, 0);
    push(f, &c);
}

/* Nobody drains the buffer: the kernel keeps running, resets are fast. */
static void test_output_unread_sink(void **state)
{
    (void)state;
    vtpu_dev_opts o = {.output_buffer = 4096, .output_rate = 1u << 30};
    fx *f = fx_new(&o);
    test_prog p;

    assert_true(rd(f, VTPU_A_CAPS) & VTPU_FMASK(CAPS, OUT_COUNTERS));
    prog_printer(&p, "0123456789abcdef0123456789abcdef\n", 33, 0);
    for (int round = 0; round < 2; round++) {
        load_and_launch(f, &p);
        /* It prints for ever into a full buffer: still running. */
        assert_int_equal(vtpu_dev_wait_idle(f->dev, 200), -1);
        uint64_t dropped = rd64(f, VTPU_A_OUT_DROPPED_LO);
        uint64_t bytes = rd64(f, VTPU_A_OUT_BYTES_LO);
        assert_true(dropped > 10 * 4096);
        assert_true(bytes <= 4096); /* since reset; nothing consumed */
        usleep(20000);
        assert_true(rd64(f, VTPU_A_OUT_DROPPED_LO) > dropped);

        int64_t t0 = g_get_monotonic_time();
        if (round == 0) { /* soft reset */
            wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
            wait_idle(f);
        } else { /* system reset */
            vtpu_dev_reset(f->dev);
        }
        int64_t ms = ms_since(t0);
        printf("%s reset with a blocked output sink: %lld ms\n",
               round ? "system" : "soft", (long long)ms);
        assert_true(ms < 100);
        assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
        assert_int_equal(rd64(f, VTPU_A_OUT_DROPPED_LO), 0);
        enable_ring(f);
    }
    /* What is in the buffer is the program's text, whole lines first. */
    const uint8_t *q;
    size_t n = vtpu_dev_output_peek(f->dev, &q);
    assert_true(n >= 33);
    assert_memory_equal(q, "0123456789abcdef0123456789abcdef\n", 33);
    assert_true(atomic_load(&f->host.output_ready) >= 1);
    fx_free(f);
}

static void drain(fx *f, char *buf, size_t cap, size_t *len)
{
    const uint8_t *q;
    size_t n;
    while ((n = vtpu_dev_output_peek(f->dev, &q)) > 0) {
        assert_true(*len + n <= cap);
        memcpy(buf + *len, q, n);
        *len += n;
        vtpu_dev_output_consume(f->dev, n);
    }
}

static void test_output_escaped(void **state)
{
    (void)state;
    vtpu_dev_opts o = {.output_buffer = 4096};
    fx *f = fx_new(&o);
    test_prog p;
    char out[4096];
    size_t len = 0;

    const char text[] = "ok\t\x1b[2J\\\x07\x9b\n";
    prog_printer(&p, text, sizeof(text) - 1, 3);
    load_and_launch(f, &p);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    drain(f, out, sizeof(out), &len);
    const char want[] = "ok\t\\x1b[2J\\\\\\x07\\x9b\n";
    assert_int_equal(len, 3 * (sizeof(want) - 1));
    for (int i = 0; i < 3; i++)
        assert_memory_equal(out + i * (sizeof(want) - 1), want,
                            sizeof(want) - 1);
    assert_int_equal(rd64(f, VTPU_A_OUT_BYTES_LO), len);
    assert_int_equal(rd64(f, VTPU_A_OUT_DROPPED_LO), 0);
    fx_free(f);
}

/* 200 KiB printed at once against 1 KiB/s with a 2 KiB burst: what is
 * kept is about the burst, the rest is counted as dropped. */
static void test_output_rate_limit(void **state)
{
    (void)state;
    vtpu_dev_opts o = {.output_buffer = 2048, .output_rate = 1024};
    fx *f = fx_new(&o);
    test_prog p;
    char out[8192];
    size_t len = 0;
    char line[64];

    memset(line, 'x', sizeof(line));
    line[63] = '\n';
    prog_printer(&p, line, 64, 3200);
    int64_t t0 = g_get_monotonic_time();
    load_and_launch(f, &p);
    /* Drain as it goes, so that only the rate limits. */
    while (vtpu_dev_wait_idle(f->dev, 1) != 0)
        drain(f, out, sizeof(out), &len);
    drain(f, out, sizeof(out), &len);
    double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
    uint64_t bytes = rd64(f, VTPU_A_OUT_BYTES_LO);
    uint64_t dropped = rd64(f, VTPU_A_OUT_DROPPED_LO);
    printf("rate limit: %llu kept, %llu dropped in %.3f s\n",
           (unsigned long long)bytes, (unsigned long long)dropped, secs);
    assert_int_equal(bytes + dropped, 3200 * 64);
    assert_int_equal(bytes, len);
    assert_true(bytes >= 2048 && bytes <= 2048 + 1024 * secs + 64);
    fx_free(f);
}

/* Without a reader (discard), everything is counted and dropped. */
static void test_output_discard(void **state)
{
    (void)state;
    vtpu_dev_opts o = {.output_buffer = 4096, .output_discard = true};
    fx *f = fx_new(&o);
    test_prog p;
    const uint8_t *q;

    prog_printer(&p, "hello\n", 6, 100);
    load_and_launch(f, &p);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    assert_int_equal(rd64(f, VTPU_A_OUT_DROPPED_LO), 600);
    assert_int_equal(rd64(f, VTPU_A_OUT_BYTES_LO), 0);
    assert_int_equal(vtpu_dev_output_peek(f->dev, &q), 0);
    assert_int_equal(atomic_load(&f->host.output_ready), 0);
    fx_free(f);
}

static void test_outbuf_wraps(void **state)
{
    (void)state;
    vtpu_outbuf *b = vtpu_outbuf_new(100, 0, 0, false);
    char want[4096], got[4096];
    size_t g = 0, w = 0;
    uint64_t seed = 3;

    for (int round = 0; round < 50; round++) {
        char chunk[40];
        size_t n = 1 + test_rand32(&seed) % sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)('a' + test_rand32(&seed) % 26);
        size_t took = vtpu_outbuf_put(b, chunk, n);
        assert_true(took <= n);
        assert_true(w + took <= sizeof(want));
        memcpy(want + w, chunk, took);
        w += took;
        const uint8_t *q;
        size_t k = vtpu_outbuf_peek(b, &q);
        k = k > 7 ? k - 7 : k; /* consume part, leave some behind */
        assert_true(g + k <= sizeof(got));
        memcpy(got + g, q, k);
        g += k;
        vtpu_outbuf_consume(b, k);
    }
    const uint8_t *q;
    size_t k;
    while ((k = vtpu_outbuf_peek(b, &q)) > 0) {
        memcpy(got + g, q, k);
        g += k;
        vtpu_outbuf_consume(b, k);
    }
    assert_int_equal(g, w);
    assert_memory_equal(got, want, g);
    vtpu_outbuf_stats st;
    vtpu_outbuf_stats_get(b, &st);
    assert_int_equal(st.accepted, w);
    assert_int_equal(st.pending, 0);
    vtpu_outbuf_free(b);
}

/* ------------------------------------------------------------------ */
/* Monitors read without side effects                                   */
/* ------------------------------------------------------------------ */

static void test_peek_no_side_effects(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);

    /* A driver read BYTES_IN_LO and is about to read HI. */
    (void)rd(f, VTPU_A_BYTES_IN_LO);
    f->dev->latch_hi = 0xabcd1234; /* as if the counter were that large */
    for (uint32_t off = 0; off < VTPU_BAR0_SIZE; off += 4) {
        (void)vtpu_dev_reg_peek(f->dev, off, 4);
        if (off % 8 == 0)
            (void)vtpu_dev_reg_peek(f->dev, off, 8);
    }
    assert_int_equal(rd(f, VTPU_A_BYTES_IN_HI), 0xabcd1234);
    /* Peeking a whole 64-bit counter gives both halves at once. */
    assert_int_equal(vtpu_dev_reg_peek(f->dev, VTPU_A_ID, 4), VTPU_ID_MAGIC);
    assert_int_equal(vtpu_dev_reg_peek(f->dev, VTPU_A_HBM_SIZE_LO, 8),
                     16u << 20);
    assert_int_equal(vtpu_dev_reg_peek(f->dev, VTPU_A_ID + 2, 4), 0);
    fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Scrub                                                                */
/* ------------------------------------------------------------------ */

static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(fp);
    return kib;
}

static void test_scrub(void **state)
{
    (void)state;
    vtpu_config cfg;
    char err[256];
    uint8_t buf[64], zero[64] = {0};

    assert_int_equal(vtpu_config_preset(&cfg, "v4", err, sizeof(err)), 0);
    assert_int_equal(
        vtpu_config_set(&cfg, "hbm-size", "256M", err, sizeof(err)), 0);
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    assert_non_null(chip);
    test_prog p;
    prog_init(&p);
    prog_li(&p, 10, 7);
    prog_exit(&p);
    size_t len;
    void *elf = build_elf(&p, &len);
    assert_int_equal(vtpu_chip_load_elf(chip, elf, len, err, sizeof(err)), 0);
    free(elf);

    long before = rss_kib();
    uint8_t *hbm = vtpu_chip_hbm_ptr(chip);
    uint64_t seed = 11;
    for (size_t i = 0; i < (128u << 20); i += 4096)
        hbm[i + test_rand32(&seed) % 4096] = (uint8_t)(1 + i / 4096 % 255);
    memset(buf, 0x5a, sizeof(buf));
    for (unsigned t = 0; t < cfg.num_tcs; t++) {
        assert_int_equal(
            vtpu_mem_write(chip, t, VTPU_SPACE_VMEM, 4096, buf, sizeof(buf)),
            0);
        assert_int_equal(
            vtpu_mem_write(chip, t, VTPU_SPACE_SMEM, 128, buf, sizeof(buf)), 0);
    }
    long filled = rss_kib();
    vtpu_chip_scrub(chip);
    long after = rss_kib();
    printf("RSS: %ld KiB before, %ld filled, %ld after scrub\n", before, filled,
           after);
    assert_true(filled - before >= 120 * 1024);
    assert_true(filled - after >= 120 * 1024);

    for (size_t i = 0; i < (128u << 20); i += 4096 * 61)
        assert_memory_equal(hbm + i, zero, 64);
    uint64_t check[512];
    assert_int_equal(
        vtpu_hbm_read(chip, (64u << 20) - 4096, check, sizeof(check)), 0);
    for (size_t i = 0; i < 512; i++)
        assert_int_equal(check[i], 0);
    for (unsigned t = 0; t < cfg.num_tcs; t++) {
        assert_int_equal(
            vtpu_mem_read(chip, t, VTPU_SPACE_VMEM, 4096, buf, sizeof(buf)), 0);
        assert_memory_equal(buf, zero, sizeof(buf));
        assert_int_equal(
            vtpu_mem_read(chip, t, VTPU_SPACE_SMEM, 128, buf, sizeof(buf)), 0);
        assert_memory_equal(buf, zero, sizeof(buf));
    }
    for (unsigned s = 0; s < VTPU_MAX_PROGRAMS; s++)
        assert_false(vtpu_chip_has_program(chip, s));
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_while_rewritten),
        cmocka_unit_test(test_output_unread_sink),
        cmocka_unit_test(test_output_escaped),
        cmocka_unit_test(test_output_rate_limit),
        cmocka_unit_test(test_output_discard),
        cmocka_unit_test(test_outbuf_wraps),
        cmocka_unit_test(test_peek_no_side_effects),
        cmocka_unit_test(test_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
