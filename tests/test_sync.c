/*
 * test_sync.c - semaphores, the barrier, deadlock detection (sync.c), the
 * custom-3 semaphore instructions (xtpu_sync.c) and runs (run.c): threads,
 * stopping on a fault, entry registers, exit codes, results.
 *
 * The first group drives sync.c from plain host threads standing in for
 * TCs, so the protocol is tested without the interpreter; the rest are
 * hand-assembled RV32 programs on 2, 4 and 8 TCs.  Every test runs under
 * alarm(): a hang fails instead of blocking the suite.
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

/* sync.c's run hooks (not yet in internal.h). */

enum {
    ZERO = 0,
    SP = 2,
    T0 = 5,
    T1 = 6,
    T2 = 7,
    S0 = 8,
    S1 = 9,
    A0 = 10,
    A1 = 11,
    A2 = 12,
    A3 = 13,
    A4 = 14,
    A5 = 15,
    T3 = 28,
    T4 = 29,
    T5 = 30,
};

static int setup(void **state)
{
    (void)state;
    alarm(120);
    return 0;
}

static vtpu_chip *chip_n(unsigned ntcs, uint64_t budget)
{
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    cfg.num_tcs = ntcs;
    cfg.hbm_size = 16u << 20;
    cfg.vmem_size = 1u << 20;
    cfg.insn_budget = budget;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        fail_msg("vtpu_chip_new: %s", err);
    return chip;
}

/* ---- custom-3 encodings (docs/isa.md, "custom-3") ---- */

static uint32_t x_signal(unsigned rs_sem, unsigned rs_n)
{
    return enc_r(0x7b, 1, 0, 0, rs_sem, rs_n);
}

static uint32_t x_signal_tc(unsigned rs_tc, unsigned rs_sem, unsigned rs_n)
{
    return enc_r4(0x7b, 2, 0, 0, rs_tc, rs_sem, rs_n);
}

static uint32_t x_wait(unsigned rs_sem, unsigned rs_n)
{
    return enc_r(0x7b, 3, 0, 0, rs_sem, rs_n);
}

static uint32_t x_read(unsigned rd, unsigned rs_sem)
{
    return enc_r(0x7b, 4, 0, rd, rs_sem, 0);
}

static uint32_t x_barrier(void)
{
    return enc_r(0x7b, 5, 0, 0, 0, 0);
}

/* ---- a little assembler on top of helpers.h ---- */

static uint32_t rv_add(unsigned rd, unsigned a, unsigned b)
{
    return enc_r(0x33, 0, 0, rd, a, b);
}

static uint32_t rv_mul(unsigned rd, unsigned a, unsigned b)
{
    return enc_r(0x33, 0, 1, rd, a, b);
}

enum { BEQ = 0, BNE = 1, BLT = 4, BGE = 5 };

/* A forward branch, patched by br_here() once the target is known. */
static size_t br_fwd(test_prog *p)
{
    prog_emit(p, 0);
    return p->n - 1;
}

static void br_here(test_prog *p, size_t at, unsigned f3, unsigned a,
                    unsigned b)
{
    p->words[at] = enc_b(f3, a, b, (int32_t)(p->n - at) * 4);
}

static void br_back(test_prog *p, unsigned f3, unsigned a, unsigned b,
                    size_t target)
{
    prog_emit(p, enc_b(f3, a, b, ((int32_t)target - (int32_t)p->n) * 4));
}

static void exit_with(test_prog *p, uint32_t code)
{
    prog_li(p, A0, code);
    prog_exit(p);
}

/* Spin `n` iterations of a 2-instruction loop (uses T5). */
static void spin(test_prog *p, uint32_t n)
{
    prog_li(p, T5, n);
    size_t top = p->n;
    prog_emit(p, rv_addi(T5, T5, -1));
    br_back(p, BNE, T5, ZERO, top);
}

static void assert_clean(int rc, const vtpu_run_result *res)
{
    if (rc || res->error.kind != VTPU_ERR_NONE) {
        char buf[512];
        vtpu_error_format(&res->error, buf, sizeof(buf));
        fail_msg("run failed (%d): %s", rc, buf);
    }
}

static void assert_detail(const vtpu_run_result *res, const char *want)
{
    if (!strstr(res->error.detail, want))
        fail_msg("detail '%s' lacks '%s'", res->error.detail, want);
}

/* ================= sync.c driven by host threads ================= */

typedef enum op_kind { OP_SIGNAL, OP_WAIT, OP_BARRIER } op_kind;

typedef struct host_tc {
    vtpu_tc *tc;
    op_kind kind;
    unsigned target, sem, n, reps;
    atomic_int *counter; /* for barrier rounds */
    int rc;
    unsigned bad_rounds;
} host_tc;

static gpointer host_tc_thread(gpointer opaque)
{
    host_tc *h = opaque;
    for (unsigned r = 0; r < h->reps && h->rc == 0; r++) {
        switch (h->kind) {
        case OP_SIGNAL:
            h->rc = vtpu_sem_signal(h->tc, h->target, h->sem, h->n);
            break;
        case OP_WAIT:
            h->rc = vtpu_sem_wait(h->tc, h->sem, h->n);
            break;
        case OP_BARRIER:
            atomic_fetch_add(h->counter, 1);
            h->rc = vtpu_barrier(h->tc);
            /* Everyone arrived: all increments of this round are in. */
            if (h->rc == 0 &&
                atomic_load(h->counter) < (int)((r + 1) * h->tc->ntcs))
                h->bad_rounds++;
            break;
        }
    }
    vtpu_sync_tc_done(h->tc);
    return NULL;
}

static void host_run(vtpu_chip *chip, host_tc *h, unsigned n)
{
    GThread *th[VTPU_MAX_TCS];
    vtpu_sync_begin(chip, n);
    for (unsigned i = 0; i < n; i++) {
        h[i].tc = chip->tcs[i];
        h[i].tc->ntcs = n;
        h[i].tc->pc = VTPU_IMEM_BASE + 4 * i;
        h[i].tc->state = VTPU_TC_RUNNING;
        h[i].rc = 0;
        th[i] = g_thread_new("host-tc", host_tc_thread, &h[i]);
    }
    for (unsigned i = 0; i < n; i++)
        g_thread_join(th[i]);
}

static void test_host_counting(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(4, 0);
    host_tc h[4] = {
        {.kind = OP_WAIT, .sem = 5, .n = 3, .reps = 2000},
        {.kind = OP_SIGNAL, .target = 0, .sem = 5, .n = 1, .reps = 2000},
        {.kind = OP_SIGNAL, .target = 0, .sem = 5, .n = 1, .reps = 2000},
        {.kind = OP_SIGNAL, .target = 0, .sem = 5, .n = 1, .reps = 2000},
    };
    host_run(chip, h, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(h[i].rc, 0);
    assert_int_equal(chip->tcs[0]->sems[5], 0);
    vtpu_chip_free(chip);
}

static void test_host_barrier(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(4, 0);
    atomic_int counter = 0;
    host_tc h[4];
    for (unsigned i = 0; i < 4; i++)
        h[i] = (host_tc){.kind = OP_BARRIER, .reps = 3000, .counter = &counter};
    host_run(chip, h, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(h[i].rc, 0);
        assert_int_equal(h[i].bad_rounds, 0);
    }
    assert_int_equal(atomic_load(&counter), 4 * 3000);
    vtpu_chip_free(chip);
}

/* Two waiters, nobody signals: one reports the deadlock, one stops. */
static void test_host_deadlock(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    host_tc h[2] = {
        {.kind = OP_WAIT, .sem = 1, .n = 1, .reps = 1},
        {.kind = OP_WAIT, .sem = 2, .n = 4, .reps = 1},
    };
    host_run(chip, h, 2);
    assert_int_equal(h[0].rc, -1);
    assert_int_equal(h[1].rc, -1);
    unsigned v = chip->tcs[0]->state == VTPU_TC_FAULTED ? 0 : 1;
    assert_int_equal(chip->tcs[v]->state, VTPU_TC_FAULTED);
    assert_int_equal(chip->tcs[1 - v]->state, VTPU_TC_STOPPED);
    const vtpu_error *e = &chip->tcs[v]->err;
    assert_int_equal(e->kind, VTPU_ERR_DEADLOCK);
    assert_int_equal(e->space, VTPU_SPACE_SEM);
    assert_int_equal(e->addr, v ? 2 : 1);
    assert_string_equal(e->detail,
                        "TC0 waits sem 1 >= 1 (is 0), never signalled in "
                        "this run; TC1 waits sem 2 >= 4 (is 0), never "
                        "signalled in this run");
    vtpu_chip_free(chip);
}

/* A stop request wakes a blocked TC, which then reports STOPPED. */
static gpointer stop_later(gpointer opaque)
{
    vtpu_chip *chip = opaque;
    g_usleep(20000);
    vtpu_chip_stop_run(chip, VTPU_STOP_END);
    return NULL;
}

static void test_host_stop(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    /* TC1 "runs" (never blocks or ends) while TC0 waits: no deadlock. */
    vtpu_sync_begin(chip, 2);
    vtpu_tc *tc = chip->tcs[0];
    tc->ntcs = 2;
    GThread *th = g_thread_new("stopper", stop_later, chip);
    assert_int_equal(vtpu_sem_wait(tc, 0, 1), -1);
    assert_int_equal(tc->state, VTPU_TC_STOPPED);
    g_thread_join(th);
    atomic_store(&chip->stop, 0);
    vtpu_chip_free(chip);
}

/* ================= programs ================= */

/* Strict alternation between two TCs, 2000 round trips. */
static void pingpong(vtpu_chip *chip)
{
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, S0, 2000);
    prog_li(&p, T0, 0); /* semaphore */
    prog_li(&p, T1, 1); /* n */
    size_t to_tc1 = br_fwd(&p);
    /* TC0: ping, wait for pong */
    size_t loop0 = p.n;
    prog_li(&p, T2, 1);
    prog_emit(&p, x_signal_tc(T2, T0, T1));
    prog_emit(&p, x_wait(T0, T1));
    prog_emit(&p, x_read(T3, T0)); /* nothing extra may have arrived */
    size_t bad0 = br_fwd(&p);
    prog_emit(&p, rv_addi(S0, S0, -1));
    br_back(&p, BNE, S0, ZERO, loop0);
    exit_with(&p, 0);
    /* TC1: wait for ping, pong */
    br_here(&p, to_tc1, BNE, A0, ZERO);
    size_t loop1 = p.n;
    prog_emit(&p, x_wait(T0, T1));
    prog_emit(&p, x_read(T3, T0));
    size_t bad1 = br_fwd(&p);
    prog_emit(&p, x_signal_tc(ZERO, T0, T1));
    prog_emit(&p, rv_addi(S0, S0, -1));
    br_back(&p, BNE, S0, ZERO, loop1);
    exit_with(&p, 0);
    br_here(&p, bad0, BNE, T3, ZERO);
    p.words[bad1] = enc_b(BNE, T3, ZERO, (int32_t)(p.n - bad1) * 4);
    exit_with(&p, 1);

    assert_clean(test_run_opts(chip, &p, NULL, &res), &res);
    assert_int_equal(res.tc_exit[0], 0);
    assert_int_equal(res.tc_exit[1], 0);
    assert_true(res.instret[0] > 2000 * 5);
}

static void test_pingpong(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    pingpong(chip);
    vtpu_chip_free(chip);
}

/*
 * The same with the poison check on and race detection off: every
 * sem.wait goes through the check hooks, which then have no per-TC
 * clocks (a member access through NULL once; UBSan in `make check`).
 */
static void test_pingpong_poison_only(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    char err[128];
    assert_int_equal(vtpu_chip_set_checks(chip, false, true, err, sizeof(err)),
                     0);
    pingpong(chip);
    vtpu_chip_free(chip);
}

/*
 * Counting across 4 TCs: TC k signals TC0's semaphore 1 by k, 50 times
 * (300 in all); TC0 waits for 6 25 times, then once for the other 150,
 * and exits with what is left (0).
 */
static void test_counting_4tc(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(4, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T0, 1);
    prog_li(&p, S0, 50);
    size_t to_others = br_fwd(&p);
    prog_li(&p, S0, 25);
    prog_li(&p, T1, 6);
    size_t loop0 = p.n;
    prog_emit(&p, x_wait(T0, T1));
    prog_emit(&p, rv_addi(S0, S0, -1));
    br_back(&p, BNE, S0, ZERO, loop0);
    prog_li(&p, T1, 25 * 6);
    prog_emit(&p, x_wait(T0, T1));
    prog_emit(&p, x_read(A0, T0));
    prog_exit(&p);
    br_here(&p, to_others, BNE, A0, ZERO);
    size_t loop = p.n;
    prog_emit(&p, x_signal_tc(ZERO, T0, A0)); /* by my TC id */
    prog_emit(&p, rv_addi(S0, S0, -1));
    br_back(&p, BNE, S0, ZERO, loop);
    exit_with(&p, 0);

    assert_clean(test_run_opts(chip, &p, NULL, &res), &res);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(res.tc_exit[i], 0);
    vtpu_chip_free(chip);
}

/*
 * Barrier rounds on 4 TCs: before each barrier every other TC signals
 * TC0's semaphore 2; after it TC0 must see all of this round's signals,
 * then a second barrier keeps the next round's out of its reading.
 */
static void test_barrier_4tc(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(4, 0);
    test_prog p;
    vtpu_run_result res;
    const uint32_t rounds = 200;

    prog_init(&p);
    prog_li(&p, S0, 0);
    prog_li(&p, S1, rounds);
    prog_li(&p, T0, 2);
    prog_li(&p, T1, 1);
    prog_emit(&p, rv_addi(T5, A1, -1)); /* TCs that signal */
    size_t loop = p.n;
    size_t skip_sig = br_fwd(&p);
    prog_emit(&p, x_signal_tc(ZERO, T0, T1));
    br_here(&p, skip_sig, BEQ, A0, ZERO);
    prog_emit(&p, x_barrier());
    prog_emit(&p, rv_addi(S0, S0, 1));
    size_t skip_check = br_fwd(&p);
    prog_emit(&p, x_read(T3, T0));
    prog_emit(&p, rv_mul(T4, S0, T5));
    size_t bad = br_fwd(&p);
    br_here(&p, skip_check, BNE, A0, ZERO);
    prog_emit(&p, x_barrier());
    br_back(&p, BLT, S0, S1, loop);
    /* TC0 takes everything so the run ends with zero semaphores. */
    size_t done = br_fwd(&p);
    prog_emit(&p, rv_mul(T4, S1, T5));
    prog_emit(&p, x_wait(T0, T4));
    br_here(&p, done, BNE, A0, ZERO);
    exit_with(&p, 0);
    br_here(&p, bad, BNE, T3, T4);
    prog_emit(&p, rv_add(A0, S0, ZERO)); /* exit with the failing round */
    prog_exit(&p);

    assert_clean(test_run_opts(chip, &p, NULL, &res), &res);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(res.tc_exit[i], 0);
    vtpu_chip_free(chip);
}

static void test_sem_nonzero(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    size_t to_tc1 = br_fwd(&p);
    exit_with(&p, 0);
    br_here(&p, to_tc1, BNE, A0, ZERO);
    prog_li(&p, T0, 3);
    prog_li(&p, T1, 5);
    prog_emit(&p, x_signal(T0, T1));
    prog_li(&p, T0, 4);
    prog_emit(&p, x_signal(T0, T1));
    exit_with(&p, 0);

    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_SEM_NONZERO);
    assert_int_equal(res.error.tc, 1);
    assert_int_equal(res.error.space, VTPU_SPACE_SEM);
    assert_int_equal(res.error.addr, 3);
    /* ... with the instruction that signalled it last. */
    assert_string_equal(res.error.detail,
                        "semaphore 3 of TC 1 is 5 at exit (and others); last "
                        "signalled (+5) by TC 1 at pc 0x00100024");
    assert_int_equal(res.tc_exit[1], 0);
    vtpu_chip_free(chip);
}

/* Each TC waits for what only the other would signal afterwards. */
static void test_deadlock_pair(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T1, 1);
    size_t to_tc1 = br_fwd(&p);
    prog_li(&p, T0, 1);
    prog_li(&p, T2, 2);
    size_t wait0 = p.n;
    prog_emit(&p, x_wait(T0, T2)); /* sem 1 >= 2, gets only 1 */
    prog_emit(&p, x_signal_tc(T1, ZERO, T1));
    exit_with(&p, 0);
    br_here(&p, to_tc1, BNE, A0, ZERO);
    prog_emit(&p, x_signal_tc(ZERO, T1, T1)); /* TC0 sem 1 += 1 */
    size_t wait1 = p.n;
    prog_emit(&p, x_wait(ZERO, T1)); /* sem 0 >= 1 */
    exit_with(&p, 0);

    for (int round = 0; round < 20; round++) {
        assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
        assert_int_equal(res.error.kind, VTPU_ERR_DEADLOCK);
        assert_true(res.error.tc == 0 || res.error.tc == 1);
        assert_int_equal(res.error.pc,
                         VTPU_IMEM_BASE + 4 * (res.error.tc ? wait1 : wait0));
        assert_int_equal(res.error.space, VTPU_SPACE_SEM);
        assert_int_equal(res.error.addr, res.error.tc ? 0 : 1);
        char want[200];
        snprintf(want, sizeof(want),
                 "TC0 waits sem 1 >= 2 (is 1), last signalled (+1) by TC 1 "
                 "at pc 0x%08zx; TC1 waits sem 0 >= 1 (is 0), never "
                 "signalled in this run",
                 VTPU_IMEM_BASE + 4 * (wait1 - 1));
        assert_string_equal(res.error.detail, want);
    }
    vtpu_chip_free(chip);
}

static void test_deadlock_barrier_exited(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(3, 0);
    test_prog p;
    vtpu_run_result res;

    /* TC0 and TC2 meet at the barrier, TC1 has exited (slowly or not). */
    prog_init(&p);
    prog_li(&p, T0, 1);
    size_t skip = br_fwd(&p);
    spin(&p, 20000);
    exit_with(&p, 0);
    br_here(&p, skip, BNE, A0, T0);
    size_t at = p.n;
    prog_emit(&p, x_barrier());
    exit_with(&p, 0);

    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_DEADLOCK);
    assert_true(res.error.tc == 0 || res.error.tc == 2);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * at);
    assert_string_equal(res.error.detail,
                        "TC0 at barrier; TC1 exited; TC2 at barrier");
    assert_int_equal(res.tc_exit[1], 0);
    vtpu_chip_free(chip);
}

/* 8 TCs fit the long form (vtpu_error.detail holds 1535 characters). */
static void test_deadlock_8tc(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(8, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_emit(&p, rv_addi(T1, A0, 1));
    prog_emit(&p, x_wait(A0, T1)); /* sem <id> >= id + 1 */
    exit_with(&p, 0);

    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_DEADLOCK);
    GString *want = g_string_new(NULL);
    for (unsigned i = 0; i < 8; i++)
        g_string_append_printf(want,
                               "%sTC%u waits sem %u >= %u (is 0), never "
                               "signalled in this run",
                               i ? "; " : "", i, i, i + 1);
    assert_string_equal(res.error.detail, want->str);
    g_string_free(want, TRUE);
    vtpu_chip_free(chip);
}

/*
 * No false reports: TC0 waits while TC1 runs for a long time before it
 * signals and exits; TC2 waits for TC1 too and blocks before it.
 */
static void test_slow_signaller(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(3, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T1, 1);
    size_t to_tc1 = br_fwd(&p);
    prog_emit(&p, x_wait(ZERO, T1));
    exit_with(&p, 0);
    br_here(&p, to_tc1, BEQ, A0, T1);
    spin(&p, 1000000);
    prog_emit(&p, x_signal_tc(ZERO, ZERO, T1));
    prog_li(&p, T2, 2);
    prog_emit(&p, x_signal_tc(T2, ZERO, T1));
    exit_with(&p, 0);

    assert_clean(test_run_opts(chip, &p, NULL, &res), &res);
    assert_true(res.instret[1] > 2000000);
    vtpu_chip_free(chip);
}

/* A fault stops a TC that is blocked: the fault is reported, not a
 * deadlock, and the blocked TC ends STOPPED. */
static void test_fault_stops_blocked(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T1, 1);
    size_t to_tc1 = br_fwd(&p);
    prog_emit(&p, x_wait(ZERO, T1));
    exit_with(&p, 0);
    br_here(&p, to_tc1, BNE, A0, ZERO);
    spin(&p, 100000);
    size_t at = p.n;
    prog_emit(&p, 0); /* illegal */

    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_ILLEGAL_INSN);
    assert_int_equal(res.error.tc, 1);
    assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * at);
    assert_int_equal(chip->tcs[0]->state, VTPU_TC_STOPPED);
    vtpu_chip_free(chip);
}

/* A fault stops a TC spinning forever (no watchdog to rescue it). */
static void test_fault_stops_spinning(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(4, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T1, 2);
    size_t to_tc2 = br_fwd(&p);
    prog_emit(&p, enc_j(0, 0)); /* j . */
    br_here(&p, to_tc2, BEQ, A0, T1);
    spin(&p, 50000);
    prog_emit(&p, rv_ebreak());

    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_EBREAK);
    assert_int_equal(res.error.tc, 2);
    for (unsigned i = 0; i < 4; i++)
        if (i != 2)
            assert_int_equal(chip->tcs[i]->state, VTPU_TC_STOPPED);
    vtpu_chip_free(chip);
}

/* Abort the run (an embedder's stop, as a device reset does) after 20 ms. */
static gpointer abort_later(gpointer opaque)
{
    g_usleep(20000);
    vtpu_chip_stop_run(opaque, VTPU_STOP_ABORT);
    return NULL;
}

/*
 * VTPU_STOP_ABORT ends a run however it is stuck (TC0 waits on a
 * semaphore nothing signals, TC1 spins for ever, no watchdog), also when
 * it is requested before the run starts: a run clears only the stop bits
 * it set itself, so the request cannot be lost by landing just before
 * the start.  Withdrawn, the next run runs freely.
 */
static void test_abort(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    test_prog p, q;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T1, 1);
    size_t to_tc1 = br_fwd(&p);
    prog_emit(&p, x_wait(ZERO, T1));
    exit_with(&p, 0);
    br_here(&p, to_tc1, BNE, A0, ZERO);
    prog_emit(&p, enc_j(0, 0));
    prog_init(&q);
    exit_with(&q, 5);

    /* Requested before the run (with a stale END from a "last run"). */
    vtpu_chip_stop_run(chip, VTPU_STOP_ABORT | VTPU_STOP_END);
    assert_int_equal(test_run_opts(chip, &p, NULL, &res), 0);
    assert_int_equal(chip->tcs[0]->state, VTPU_TC_STOPPED);
    assert_int_equal(chip->tcs[1]->state, VTPU_TC_STOPPED);
    assert_true(res.instret[1] < 100);
    assert_int_equal(atomic_load(&chip->stop), VTPU_STOP_ABORT);
    vtpu_chip_abort_clear(chip);
    assert_int_equal(atomic_load(&chip->stop), 0);
    assert_clean(test_run_opts(chip, &q, NULL, &res), &res);
    assert_int_equal(res.tc_exit[0], 5);
    assert_int_equal(res.tc_exit[1], 5);

    /* Requested while TC0 sleeps in its wait and TC1 spins. */
    GThread *th = g_thread_new("abort", abort_later, chip);
    assert_int_equal(test_run_opts(chip, &p, NULL, &res), 0);
    g_thread_join(th);
    assert_int_equal(chip->tcs[0]->state, VTPU_TC_STOPPED);
    assert_int_equal(chip->tcs[1]->state, VTPU_TC_STOPPED);
    assert_true(res.instret[1] > 100);
    vtpu_chip_abort_clear(chip);
    assert_clean(test_run_opts(chip, &q, NULL, &res), &res);
    assert_int_equal(res.tc_exit[1], 5);
    vtpu_chip_free(chip);
}

/* The watchdog ends a spinning TC while the other one is blocked. */
static void test_watchdog(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 100000);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T1, 1);
    size_t to_tc1 = br_fwd(&p);
    prog_emit(&p, x_wait(ZERO, T1));
    exit_with(&p, 0);
    br_here(&p, to_tc1, BNE, A0, ZERO);
    prog_emit(&p, enc_j(0, 0));

    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_WATCHDOG);
    assert_int_equal(res.error.tc, 1);
    /* The interpreter may check the budget at block granularity. */
    assert_true(res.instret[1] >= 100000 && res.instret[1] < 101000);
    vtpu_chip_free(chip);
}

static void test_bad_sem(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    uint32_t nsems = chip->cfg.num_sems;
    struct {
        uint32_t insn;
        const char *detail;
    } cases[] = {
        {x_wait(T0, T1), "semaphore %u does not exist"},
        {x_signal(T0, T1), "semaphore %u does not exist"},
        {x_read(A0, T0), "semaphore %u does not exist"},
        {x_signal_tc(T2, T1, T1), "signal to TC 2: the run has 2 TCs"},
        {x_signal_tc(T1, T0, T1), "semaphore %u does not exist"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_prog p;
        vtpu_run_result res;
        char want[128];
        prog_init(&p);
        prog_li(&p, T0, nsems);
        prog_li(&p, T1, 1);
        prog_li(&p, T2, 2);
        size_t at = p.n;
        prog_emit(&p, cases[i].insn);
        exit_with(&p, 0);
        assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
        assert_int_equal(res.error.kind, VTPU_ERR_SEM);
        assert_int_equal(res.error.pc, VTPU_IMEM_BASE + 4 * at);
        snprintf(want, sizeof(want), cases[i].detail, nsems);
        assert_detail(&res, want);
    }
    vtpu_chip_free(chip);
}

static void test_sem_overflow(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(1, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_li(&p, T0, 7);
    prog_li(&p, T1, 0xffffffffu);
    prog_emit(&p, x_signal(T0, T1));
    prog_li(&p, T1, 1);
    prog_emit(&p, x_signal(T0, T1));
    exit_with(&p, 0);
    assert_int_equal(test_run_opts(chip, &p, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_SEM);
    assert_detail(&res, "semaphore 7 of TC 0 overflows: 4294967295 + 1");
    vtpu_chip_free(chip);
}

/* a0 = id, a1 = TCs started, a2..a5 = args, sp = top of SMEM. */
static void test_entry_registers(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(4, 0);
    test_prog p;
    vtpu_run_result res;
    vtpu_run_opts opts = {.num_tcs = 3, .args = {1, 20, 300, 4000}};

    prog_init(&p);
    prog_li(&p, T0, VTPU_SMEM_BASE + chip->cfg.smem_size);
    size_t bad = br_fwd(&p);
    /* exit(a0 + 10 * a1 + a2 + a3 + a4 + a5) */
    prog_li(&p, T1, 10);
    prog_emit(&p, rv_mul(T1, T1, A1));
    prog_emit(&p, rv_add(A0, A0, T1));
    prog_emit(&p, rv_add(A0, A0, A2));
    prog_emit(&p, rv_add(A0, A0, A3));
    prog_emit(&p, rv_add(A0, A0, A4));
    prog_emit(&p, rv_add(A0, A0, A5));
    prog_exit(&p);
    br_here(&p, bad, BNE, SP, T0);
    exit_with(&p, 9999);

    assert_clean(test_run_opts(chip, &p, &opts, &res), &res);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(res.tc_exit[i], (int)i + 30 + 4321);
    assert_int_equal(res.exit_code, 4351);
    assert_int_equal(res.instret[3], 0); /* not started */
    vtpu_chip_free(chip);
}

static void test_exit_codes(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(3, 0);
    test_prog p;
    vtpu_run_result res;

    prog_init(&p);
    prog_emit(&p, rv_mul(A0, A0, A0)); /* exit(id * id) */
    prog_exit(&p);
    assert_clean(test_run_opts(chip, &p, NULL, &res), &res);
    assert_int_equal(res.tc_exit[0], 0);
    assert_int_equal(res.tc_exit[1], 1);
    assert_int_equal(res.tc_exit[2], 4);
    assert_int_equal(res.exit_code, 1);
    vtpu_chip_free(chip);
}

static void test_no_program(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    vtpu_run_result res;
    assert_int_equal(vtpu_chip_run(chip, NULL, &res), -1);
    assert_int_equal(res.error.kind, VTPU_ERR_NO_PROGRAM);
    assert_int_equal(res.error.tc, -1);

    /* More TCs than the chip has cannot run either. */
    test_prog p;
    vtpu_run_opts opts = {.num_tcs = 3};
    prog_init(&p);
    exit_with(&p, 0);
    assert_int_equal(test_run_opts(chip, &p, &opts, &res), -1);
    assert_int_not_equal(res.error.kind, VTPU_ERR_NONE);
    vtpu_chip_free(chip);
}

/* Runs after a deadlock and a fault start from a clean slate. */
static void test_rerun(void **state)
{
    (void)state;
    vtpu_chip *chip = chip_n(2, 0);
    test_prog dead, ok;
    vtpu_run_result res;

    prog_init(&dead);
    prog_li(&dead, T1, 1);
    prog_emit(&dead, x_wait(ZERO, T1));
    exit_with(&dead, 0);

    prog_init(&ok);
    prog_li(&ok, T1, 1);
    prog_li(&ok, T2, 1);
    prog_emit(&ok, x_barrier());
    prog_emit(&ok, x_signal(ZERO, T1));
    prog_emit(&ok, x_wait(ZERO, T1));
    prog_emit(&ok, x_barrier());
    exit_with(&ok, 0);

    for (int i = 0; i < 5; i++) {
        assert_int_equal(test_run_opts(chip, &dead, NULL, &res), -1);
        assert_int_equal(res.error.kind, VTPU_ERR_DEADLOCK);
        assert_clean(test_run_opts(chip, &ok, NULL, &res), &res);
    }
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_host_counting, setup),
        cmocka_unit_test_setup(test_host_barrier, setup),
        cmocka_unit_test_setup(test_host_deadlock, setup),
        cmocka_unit_test_setup(test_host_stop, setup),
        cmocka_unit_test_setup(test_pingpong, setup),
        cmocka_unit_test_setup(test_pingpong_poison_only, setup),
        cmocka_unit_test_setup(test_counting_4tc, setup),
        cmocka_unit_test_setup(test_barrier_4tc, setup),
        cmocka_unit_test_setup(test_sem_nonzero, setup),
        cmocka_unit_test_setup(test_deadlock_pair, setup),
        cmocka_unit_test_setup(test_deadlock_barrier_exited, setup),
        cmocka_unit_test_setup(test_deadlock_8tc, setup),
        cmocka_unit_test_setup(test_slow_signaller, setup),
        cmocka_unit_test_setup(test_fault_stops_blocked, setup),
        cmocka_unit_test_setup(test_fault_stops_spinning, setup),
        cmocka_unit_test_setup(test_abort, setup),
        cmocka_unit_test_setup(test_watchdog, setup),
        cmocka_unit_test_setup(test_bad_sem, setup),
        cmocka_unit_test_setup(test_sem_overflow, setup),
        cmocka_unit_test_setup(test_entry_registers, setup),
        cmocka_unit_test_setup(test_exit_codes, setup),
        cmocka_unit_test_setup(test_no_program, setup),
        cmocka_unit_test_setup(test_rerun, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
