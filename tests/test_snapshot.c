/*
 * test_snapshot.c - saving a chip mid-run and restoring it
 * (vtpu-snapshot.h): kernels of the library paused at random (seeded)
 * instruction counts of a random TC, saved with HBM, loaded into a new
 * chip and resumed, must give output bit-identical to an uninterrupted
 * run (and so must the run that was paused and went on).  Then the
 * quiesce API from another thread, and loads of bad streams: truncated,
 * corrupted, another configuration, another version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "helpers.h"
#include "internal.h"
#include "kernel_harness.h"
#include "vtpu-snapshot.h"

#define HBM_SIZE (64u << 20)


static int load_buf(vtpu_chip *chip, unsigned flags, const uint8_t *p,
                    size_t n, char *err, size_t errlen)
{
    test_snap_in r = {p, n, 0};
    return vtpu_chip_load(chip, flags, test_snap_read, &r, err, errlen);
}

/* The pause callback runs on a TC's thread: no cmocka asserts there. */
typedef struct pause_rec {
    GByteArray *snap;
    int rc, calls;
    unsigned tc;
    char err[256];
} pause_rec;

static void on_pause(void *opaque, vtpu_chip *chip, unsigned tc)
{
    pause_rec *p = opaque;
    p->calls++;
    p->tc = tc;
    p->rc = vtpu_chip_save(chip, VTPU_SNAP_HBM, test_snap_write, p->snap, p->err,
                           sizeof(p->err));
}

static vtpu_chip *twin(vtpu_chip *chip)
{
    char err[256];
    vtpu_chip *c = vtpu_chip_new(vtpu_chip_config(chip), err, sizeof(err));
    if (!c)
        fail_msg("vtpu_chip_new: %s", err);
    vtpu_chip_set_output(c, NULL, NULL);
    return c;
}

static void fill_random(kt *t, uint64_t off, size_t n)
{
    uint32_t *v = malloc(n);
    for (size_t i = 0; i < n / 4; i++) {
        float f = rnd_unit(t) * 8 - 4;
        memcpy(&v[i], &f, 4);
    }
    hbm_put(t, off, v, n);
    free(v);
}

/* One launch, described once, run several ways. */
typedef struct kcase {
    const char *name;
    vtpu_launch L;
    unsigned ntcs;
    uint64_t out, out_len; /* the output array */
} kcase;

static void kcase_seed(kt *t, kcase *k, uint32_t rows, unsigned ntcs)
{
    uint32_t shape[2] = {rows, 128}, grid[1] = {rows / 8};
    size_t n = (size_t)rows * 128 * 4;
    uint64_t hx = hbm_alloc(t, n), hy = hbm_alloc(t, n);
    fill_random(t, hx, n);
    fill_random(t, hy, n);
    k->name = "add_sin_f32";
    k->out = out_alloc(t, n);
    k->out_len = n;
    k->ntcs = ntcs;
    launch_init(&k->L, kernel_index(t, "add_sin_f32"), 1, grid, NULL);
    launch_operand(&k->L, hx, VTPU_F32, 2, shape);
    launch_operand(&k->L, hy, VTPU_F32, 2, shape);
    launch_operand(&k->L, k->out, VTPU_F32, 2, shape);
}

static void kcase_matmul(kt *t, kcase *k, uint32_t M, uint32_t N, uint32_t K,
                         unsigned ntcs)
{
    static const uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL,
                                   VTPU_ARBITRARY};
    uint32_t sa[2] = {M, K}, sb[2] = {K, N}, so[2] = {M, N};
    uint32_t grid[3] = {(M + 127) / 128, (N + 127) / 128, (K + 127) / 128};
    uint64_t ha = hbm_alloc(t, (size_t)M * K * 4);
    uint64_t hb = hbm_alloc(t, (size_t)K * N * 4);
    fill_random(t, ha, (size_t)M * K * 4);
    fill_random(t, hb, (size_t)K * N * 4);
    k->name = "matmul_f32";
    k->out_len = (size_t)M * N * 4;
    k->out = out_alloc(t, k->out_len);
    k->ntcs = ntcs;
    launch_init(&k->L, kernel_index(t, "matmul_f32"), 3, grid, sem);
    launch_operand(&k->L, ha, VTPU_F32, 2, sa);
    launch_operand(&k->L, hb, VTPU_F32, 2, sb);
    launch_operand(&k->L, k->out, VTPU_F32, 2, so);
}

/* Output, status records and TC-visible results of a run. */
typedef struct outcome {
    uint8_t *out;
    uint8_t status[VTPU_MAX_TCS * sizeof(vtpu_launch_status)];
    vtpu_run_result res;
    int rc;
} outcome;

static void take(vtpu_chip *chip, const kcase *k, outcome *o)
{
    o->out = malloc(k->out_len);
    assert_int_equal(vtpu_hbm_read(chip, k->out, o->out, k->out_len), 0);
    assert_int_equal(vtpu_hbm_read(chip, KT_STATUS_OFF, o->status,
                                   sizeof(o->status)),
                     0);
}

static void same(const kcase *k, const outcome *a, const outcome *b,
                 const char *what)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->res.exit_code, b->res.exit_code);
    for (unsigned i = 0; i < k->ntcs; i++) {
        assert_int_equal(a->res.tc_exit[i], b->res.tc_exit[i]);
        if (a->res.instret[i] != b->res.instret[i])
            fail_msg("%s (%s): TC %u retired %llu instructions, %llu "
                     "uninterrupted",
                     k->name, what, i, (unsigned long long)b->res.instret[i],
                     (unsigned long long)a->res.instret[i]);
    }
    if (memcmp(a->out, b->out, k->out_len))
        fail_msg("%s (%s): output differs from the uninterrupted run",
                 k->name, what);
    /* status records: the same but for the timing fields (none) */
    if (memcmp(a->status, b->status, k->ntcs * sizeof(vtpu_launch_status)))
        fail_msg("%s (%s): status records differ", k->name, what);
}

static void fresh_output(kt *t, const kcase *k)
{
    uint8_t *s = malloc(k->out_len);
    memset(s, KT_SENTINEL, k->out_len);
    hbm_put(t, k->out, s, k->out_len);
    free(s);
}

/*
 * The case uninterrupted, then `rounds` times: paused at a random
 * instruction count of a random TC and saved (the run goes on: same
 * result), and the snapshot restored in a new chip and resumed (same
 * result).
 */
static void check_case(kt *t, const kcase *k, unsigned rounds)
{
    outcome ref = {0};
    fresh_output(t, k);
    ref.rc = run_raw(t, &k->L, k->ntcs, &ref.res);
    assert_int_equal(ref.rc, 0);
    take(t->chip, k, &ref);

    for (unsigned r = 0; r < rounds; r++) {
        unsigned tc = test_rand32(&t->rng) % k->ntcs;
        uint64_t n = ref.res.instret[tc]
                         ? test_rand32(&t->rng) % ref.res.instret[tc]
                         : 0;
        pause_rec p = {.snap = g_byte_array_new()};
        outcome go = {0}, back = {0};

        fresh_output(t, k);
        vtpu_chip_set_pause(t->chip, tc, n, on_pause, &p);
        go.rc = run_raw(t, &k->L, k->ntcs, &go.res);
        vtpu_chip_set_pause(t->chip, 0, 0, NULL, NULL);
        if (p.calls != 1 || p.rc)
            fail_msg("%s: pause at TC %u insn %llu: %d calls, rc %d: %s",
                     k->name, tc, (unsigned long long)n, p.calls, p.rc,
                     p.err);
        take(t->chip, k, &go);
        same(k, &ref, &go, "paused and saved");

        vtpu_chip *c = twin(t->chip);
        char err[512];
        if (load_buf(c, VTPU_SNAP_HBM, p.snap->data, p.snap->len, err,
                     sizeof(err)))
            fail_msg("%s: load: %s", k->name, err);
        assert_true(vtpu_chip_run_pending(c));
        back.rc = vtpu_chip_run_resume(c, &back.res);
        if (back.rc) {
            vtpu_error_format(&back.res.error, err, sizeof(err));
            fail_msg("%s: resumed run faulted: %s", k->name, err);
        }
        take(c, k, &back);
        same(k, &ref, &back, "restored");
        printf("%s on %u TCs: paused at TC %u instruction %llu of %llu, "
               "%u-byte snapshot, restored: identical\n",
               k->name, k->ntcs, tc, (unsigned long long)n,
               (unsigned long long)ref.res.instret[tc], p.snap->len);
        vtpu_chip_free(c);
        g_byte_array_free(p.snap, TRUE);
        free(go.out);
        free(back.out);
    }
    free(ref.out);
}

/* Seeded: VTPU_TEST_SEED=N reproduces a failing run (printed). */
static uint64_t seed(void)
{
    const char *e = getenv("VTPU_TEST_SEED");
    uint64_t s = e ? strtoull(e, NULL, 0) : 0x5a7e;
    printf("seed %llu (VTPU_TEST_SEED)\n", (unsigned long long)s);
    return s;
}

static int setup(void **state)
{
    *state = kt_new(HBM_SIZE, seed());
    return 0;
}

static void test_seed_kernel(void **state)
{
    kt *t = *state;
    kcase k;
    kcase_seed(t, &k, 512 * 8, 2);
    check_case(t, &k, 4);
    kcase_seed(t, &k, 64 * 8, 1);
    check_case(t, &k, 3);
}

static void test_matmul_kernel(void **state)
{
    kt *t = *state;
    kcase k;
    kcase_matmul(t, &k, 256, 256, 384, 2);
    check_case(t, &k, 3);
    kcase_matmul(t, &k, 200, 300, 260, 1);
    check_case(t, &k, 2);
}

/* ---- quiescing from another thread ---- */

typedef struct bg_run {
    kt *t;
    const kcase *k;
    outcome o;
    atomic_bool done;
} bg_run;

static gpointer bg_main(gpointer opaque)
{
    bg_run *b = opaque;
    b->o.rc = run_raw(b->t, &b->k->L, b->k->ntcs, &b->o.res);
    atomic_store(&b->done, true);
    return NULL;
}

static void test_quiesce_thread(void **state)
{
    kt *t = *state;
    kcase k;
    kcase_seed(t, &k, 2048 * 8, 2);
    outcome ref = {0};
    fresh_output(t, &k);
    ref.rc = run_raw(t, &k.L, k.ntcs, &ref.res);
    take(t->chip, &k, &ref);

    for (unsigned r = 0; r < 3; r++) {
        bg_run b = {t, &k, {0}, false};
        fresh_output(t, &k);
        GThread *th = g_thread_new("run", bg_main, &b);
        /* a save must not race with a run's set-up (the device pauses
         * its command processor first): wait for the run to be going */
        while (!vtpu_chip_run_active(t->chip) && !atomic_load(&b.done))
            g_usleep(10);
        g_usleep(100 * r);
        assert_int_equal(vtpu_chip_quiesce(t->chip, 10000), 0);
        GByteArray *snap = g_byte_array_new();
        char err[256];
        int rc = vtpu_chip_save(t->chip, VTPU_SNAP_HBM, test_snap_write, snap, err,
                                sizeof(err));
        bool mid = vtpu_chip_run_active(t->chip);
        vtpu_chip_unquiesce(t->chip);
        g_thread_join(th);
        if (rc)
            fail_msg("save while quiesced: %s", err);
        take(t->chip, &k, &b.o);
        same(&k, &ref, &b.o, "quiesced and saved");

        vtpu_chip *c = twin(t->chip);
        if (load_buf(c, VTPU_SNAP_HBM, snap->data, snap->len, err,
                     sizeof(err)))
            fail_msg("load: %s", err);
        assert_int_equal(vtpu_chip_run_pending(c), mid);
        if (mid) {
            outcome back = {0};
            back.rc = vtpu_chip_run_resume(c, &back.res);
            take(c, &k, &back);
            same(&k, &ref, &back, "quiesced, restored");
            free(back.out);
        }
        printf("quiesced %s the run, restored: identical\n",
               mid ? "in the middle of" : "outside");
        vtpu_chip_free(c);
        g_byte_array_free(snap, TRUE);
        free(b.o.out);
    }
    free(ref.out);
}

/* ---- bad streams ---- */

static GByteArray *snap_mid(kt *t)
{
    kcase k;
    kcase_seed(t, &k, 64 * 8, 2);
    pause_rec p = {.snap = g_byte_array_new()};
    vtpu_run_result res;
    vtpu_chip_set_pause(t->chip, 1, 3000, on_pause, &p);
    run_raw(t, &k.L, 2, &res);
    vtpu_chip_set_pause(t->chip, 0, 0, NULL, NULL);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.rc, 0);
    return p.snap;
}

static void expect_fail(vtpu_chip *c, unsigned flags, const uint8_t *p,
                        size_t n, const char *want)
{
    char err[512] = "";
    assert_int_not_equal(load_buf(c, flags, p, n, err, sizeof(err)), 0);
    if (want && !strstr(err, want))
        fail_msg("load error \"%s\" does not say \"%s\"", err, want);
    assert_false(vtpu_chip_run_pending(c));
}

static void test_bad_streams(void **state)
{
    kt *t = *state;
    GByteArray *s = snap_mid(t);
    vtpu_chip *c = twin(t->chip);
    char err[512];

    /* the good one loads */
    assert_int_equal(load_buf(c, VTPU_SNAP_HBM, s->data, s->len, err,
                              sizeof(err)),
                     0);
    assert_true(vtpu_chip_run_pending(c));

    uint8_t *b = g_memdup2(s->data, s->len);
    b[0] ^= 1;
    expect_fail(c, VTPU_SNAP_HBM, b, s->len, "bad magic");
    memcpy(b, s->data, s->len);
    b[8] = 99; /* version */
    expect_fail(c, VTPU_SNAP_HBM, b, s->len, "version 99");
    memcpy(b, s->data, s->len);
    expect_fail(c, 0, b, s->len, "holds HBM");

    /* truncated anywhere */
    for (unsigned i = 0; i < 64; i++) {
        size_t cut = test_rand32(&t->rng) % s->len;
        expect_fail(c, VTPU_SNAP_HBM, s->data, cut, NULL);
    }
    /* a byte changed anywhere in the first 64 KiB (headers, registers,
     * programs): fails cleanly or loads; a load that succeeds may run
     * (and fault) but must not crash */
    for (unsigned i = 0; i < 200; i++) {
        memcpy(b, s->data, s->len);
        size_t at = test_rand32(&t->rng) % MIN(s->len, 65536u);
        b[at] ^= (uint8_t)(1u << (test_rand32(&t->rng) % 8));
        if (!load_buf(c, VTPU_SNAP_HBM, b, s->len, err, sizeof(err)) &&
            vtpu_chip_run_pending(c) && i % 20 == 0) {
            vtpu_run_result res;
            vtpu_chip_run_resume(c, &res);
        }
    }
    g_free(b);

    /* another configuration */
    vtpu_config cfg = *vtpu_chip_config(t->chip);
    cfg.num_tcs = 1;
    vtpu_chip *one = vtpu_chip_new(&cfg, err, sizeof(err));
    assert_non_null(one);
    expect_fail(one, VTPU_SNAP_HBM, s->data, s->len,
                "configuration mismatch: the snapshot is of a chip with "
                "cores=2, this chip has cores=1");
    vtpu_chip_free(one);
    vtpu_chip_free(c);
    g_byte_array_free(s, TRUE);
}

/* ---- what the engine wrote to HBM (vtpu_chip_hbm_dirty_take) ---- */

typedef struct ranges {
    uint64_t off[64], len[64];
    unsigned n;
} ranges;

static void note(void *opaque, uint64_t off, uint64_t len)
{
    ranges *r = opaque;
    if (r->n < 64) {
        r->off[r->n] = off;
        r->len[r->n] = len;
    }
    r->n++;
}

static bool covered(const ranges *r, uint64_t off, uint64_t len)
{
    for (uint64_t a = off & ~4095ull; a < off + len; a += 4096) {
        bool in = false;
        for (unsigned i = 0; i < r->n && i < 64; i++)
            in |= a >= r->off[i] && a < r->off[i] + r->len[i];
        if (!in)
            return false;
    }
    return true;
}

static void test_hbm_dirty(void **state)
{
    kt *t = *state;
    kcase k;
    ranges r = {.n = 0};
    vtpu_run_result res;

    kcase_seed(t, &k, 64 * 8, 2);
    fresh_output(t, &k);
    vtpu_chip_hbm_dirty_take(t->chip, note, &r); /* forget the set-up */
    memset(&r, 0, sizeof(r));
    vtpu_chip_hbm_dirty_take(t->chip, note, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(run_raw(t, &k.L, k.ntcs, &res), 0);
    vtpu_chip_hbm_dirty_take(t->chip, note, &r);
    /* the kernel's DMAs wrote its output and the status records; the
     * descriptor went in through vtpu_hbm_write() */
    assert_true(r.n > 0 && r.n <= 64);
    assert_true(covered(&r, k.out, k.out_len));
    assert_true(covered(&r, KT_STATUS_OFF, 2 * sizeof(vtpu_launch_status)));
    assert_true(covered(&r, KT_DESC_OFF, sizeof(vtpu_launch)));
    /* nothing outside what was written: the inputs were only read */
    assert_false(covered(&r, k.L.operands[0].hbm, 4096));
    memset(&r, 0, sizeof(r));
    vtpu_chip_hbm_dirty_take(t->chip, note, &r);
    assert_int_equal(r.n, 0);
}

/* Saving needs a quiet chip; resuming needs a loaded run. */
static void test_misuse(void **state)
{
    kt *t = *state;
    vtpu_run_result res;
    char err[256];
    vtpu_chip *c = twin(t->chip);
    assert_int_equal(vtpu_chip_run_resume(c, &res), -1);
    assert_non_null(strstr(res.error.detail, "no run to resume"));
    /* between runs: saved and loaded, nothing pending */
    GByteArray *s = g_byte_array_new();
    assert_int_equal(
        vtpu_chip_save(t->chip, 0, test_snap_write, s, err, sizeof(err)), 0);
    assert_int_equal(load_buf(c, 0, s->data, s->len, err, sizeof(err)), 0);
    assert_false(vtpu_chip_run_pending(c));
    g_byte_array_free(s, TRUE);
    vtpu_chip_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_kernel, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_matmul_kernel, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_quiesce_thread, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_streams, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_hbm_dirty, setup, kt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
