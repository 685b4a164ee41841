/*
 * test_run.c - runs back to back (run.c, dirty.c): the TC threads that
 * persist between runs and the reset that rewrites only the pages a run
 * wrote must give every run the start docs/execution.md promises (SMEM =
 * the image + zeros, VMEM and VMEM_SHARED zero, vector/MXU state clear),
 * whatever ran before, on 1 and 2 TCs alternately.
 *
 * The reference for "what a run starts from" is a fresh chip: after the
 * same launch, a chip that ran many other launches before must hold
 * exactly the same SMEM and VMEM as one that ran nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "kernel_harness.h"

#define HBM (64ull << 20)

/* o = (x + y) * 2 over (rows, 128) i32, grid rows/8 (add_mul_i32). */
static void add_mul(kt *t, uint32_t rows, unsigned ntcs)
{
    size_t n = (size_t)rows * 128;
    uint32_t shape[2] = {rows, 128}, grid = (rows + 7) / 8;
    uint32_t *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = test_rand32(&t->rng);
        y[i] = test_rand32(&t->rng);
    }
    reset_hbm(t);
    uint64_t hx = hbm_alloc(t, n * 4), hy = hbm_alloc(t, n * 4);
    hbm_put(t, hx, x, n * 4);
    hbm_put(t, hy, y, n * 4);
    uint64_t ho = out_alloc(t, n * 4);
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "add_mul_i32"), 1, &grid, NULL);
    launch_operand(&L, hx, VTPU_I32, 2, shape);
    launch_operand(&L, hy, VTPU_I32, 2, shape);
    launch_operand(&L, ho, VTPU_I32, 2, shape);
    vtpu_launch_status st[2];
    run_ok(t, &L, ntcs, st);
    hbm_get(t, ho, o, n * 4);
    for (size_t i = 0; i < n; i++)
        if (o[i] != (x[i] + y[i]) * 2u)
            fail_msg("%u rows on %u TCs: element %zu is %u, expected %u",
                     rows, ntcs, i, o[i], (x[i] + y[i]) * 2u);
    check_guard(t, ho, n * 4);
    free(x);
    free(y);
    free(o);
}

/* An empty launch (nop0, grid 1): what it leaves in SMEM and VMEM is what
 * the start of a run plus the runtime's own work put there. */
static void nop(kt *t, unsigned ntcs)
{
    uint32_t one = 1;
    vtpu_launch L;
    launch_init(&L, kernel_index(t, "nop0"), 1, &one, NULL);
    run_ok(t, &L, ntcs, NULL);
}

/* TC tc's SMEM and VMEM of chips a and b are the same bytes. */
static void same_memories(vtpu_chip *a, vtpu_chip *b, unsigned tc,
                          const char *when)
{
    static const struct {
        vtpu_space space;
        const char *name;
    } sp[] = {{VTPU_SPACE_SMEM, "SMEM"}, {VTPU_SPACE_VMEM, "VMEM"}};
    for (unsigned s = 0; s < 2; s++) {
        uint32_t size = sp[s].space == VTPU_SPACE_SMEM
                            ? vtpu_chip_config(a)->smem_size
                            : vtpu_chip_config(a)->vmem_size;
        uint8_t *ma = malloc(size), *mb = malloc(size);
        assert_int_equal(vtpu_mem_read(a, tc, sp[s].space, 0, ma, size), 0);
        assert_int_equal(vtpu_mem_read(b, tc, sp[s].space, 0, mb, size), 0);
        for (uint32_t i = 0; i < size; i++)
            if (ma[i] != mb[i])
                fail_msg("%s: TC %u %s byte 0x%x is 0x%02x after earlier "
                         "runs, 0x%02x on a fresh chip",
                         when, tc, sp[s].name, i, ma[i], mb[i]);
        free(ma);
        free(mb);
    }
}

/* Many launches of random sizes on 1 and 2 TCs in turn, each checked
 * against the host; between them, empty launches whose memories must be
 * those of a fresh chip's. */
static void test_back_to_back(void **state)
{
    (void)state;
    kt *t = kt_new(HBM, 0x5eed16);
    unsigned n = 0;
    for (unsigned i = 0; i < 120; i++) {
        unsigned ntcs = 1 + (i & 1);
        uint32_t rows = 8 * (1 + test_rand32(&t->rng) % 40);
        add_mul(t, rows, ntcs);
        if (i % 10 == 9) {
            /* The fresh chip's TCs (and the harness's module) are the
             * same; its HBM does not matter to SMEM and VMEM. */
            kt *f = kt_new(HBM, 1);
            unsigned m = 1 + (i / 10) % 2;
            nop(t, m);
            nop(f, m);
            char when[64];
            snprintf(when, sizeof(when), "empty launch on %u TCs after %u",
                     m, i + 1);
            for (unsigned tc = 0; tc < m; tc++)
                same_memories(t->chip, f->chip, tc, when);
            kt_free(f);
            n++;
        }
    }
    assert_int_equal(n, 12);
    kt_free(t);
}

/* A run leaves its pages dirty, then another program (an ELF with no
 * SMEM image) replaces the module and runs, then the module comes back:
 * its image must be whole again and VMEM zero on every TC. */
static void test_program_change(void **state)
{
    (void)state;
    kt *t = kt_new(HBM, 77), *f = kt_new(HBM, 77);
    add_mul(t, 256, 2);
    test_prog p;
    prog_init(&p);
    prog_li(&p, 10, 0);
    prog_exit(&p);
    vtpu_run_opts o = {.num_tcs = 2};
    vtpu_run_result res;
    assert_int_equal(test_run_opts(t->chip, &p, &o, &res), 0);
    load_module(t, KT_MODULE);
    nop(t, 2);
    nop(f, 2);
    for (unsigned tc = 0; tc < 2; tc++)
        same_memories(t->chip, f->chip, tc, "empty launch after a reload");
    kt_free(t);
    kt_free(f);
}

/* A program of raw words that only exits: after it ran, a TC's VMEM is
 * what the reset left, all zero, and SMEM is its image (none) + zeros but
 * for nothing (it stores nothing). */
static void test_reset_leaves_zero(void **state)
{
    (void)state;
    kt *t = kt_new(HBM, 99);
    add_mul(t, 320, 2); /* dirties VMEM of both TCs, SMEM too */
    test_prog p;
    prog_init(&p);
    prog_li(&p, 10, 0);
    prog_exit(&p);
    vtpu_run_opts o = {.num_tcs = 2};
    vtpu_run_result res;
    assert_int_equal(test_run_opts(t->chip, &p, &o, &res), 0);
    const vtpu_config *cfg = vtpu_chip_config(t->chip);
    uint8_t *m = malloc(cfg->vmem_size);
    for (unsigned tc = 0; tc < 2; tc++) {
        assert_int_equal(
            vtpu_mem_read(t->chip, tc, VTPU_SPACE_VMEM, 0, m, cfg->vmem_size),
            0);
        for (uint32_t i = 0; i < cfg->vmem_size; i++)
            if (m[i])
                fail_msg("TC %u VMEM byte 0x%x is 0x%02x after the reset", tc,
                         i, m[i]);
        assert_int_equal(
            vtpu_mem_read(t->chip, tc, VTPU_SPACE_SMEM, 0, m, cfg->smem_size),
            0);
        for (uint32_t i = 0; i < cfg->smem_size; i++)
            if (m[i])
                fail_msg("TC %u SMEM byte 0x%x is 0x%02x after the reset", tc,
                         i, m[i]);
    }
    /* The host's writes between runs are gone at the next run too. */
    memset(m, 0x5a, 8192);
    assert_int_equal(vtpu_mem_write(t->chip, 1, VTPU_SPACE_VMEM, 4096, m, 8192),
                     0);
    assert_int_equal(vtpu_mem_write(t->chip, 0, VTPU_SPACE_SMEM, 100, m, 8192),
                     0);
    assert_int_equal(test_run_opts(t->chip, &p, &o, &res), 0);
    assert_int_equal(vtpu_mem_read(t->chip, 1, VTPU_SPACE_VMEM, 0, m, 16384),
                     0);
    for (uint32_t i = 0; i < 16384; i++)
        assert_int_equal(m[i], 0);
    assert_int_equal(vtpu_mem_read(t->chip, 0, VTPU_SPACE_SMEM, 0, m, 16384),
                     0);
    for (uint32_t i = 0; i < 16384; i++)
        assert_int_equal(m[i], 0);
    free(m);
    kt_free(t);
}

/* Chips made and freed with their threads parked, running or never
 * started: nothing leaks or hangs (ASan, TSan). */
static void test_threads_lifetime(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 6; i++) {
        kt *t = kt_new(HBM, i);
        for (unsigned r = 0; r < i; r++)
            nop(t, 1 + (r + i) % 2);
        kt_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_program_change),
        cmocka_unit_test(test_reset_leaves_zero),
        cmocka_unit_test(test_threads_lifetime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
