/*
 * test_dev_snapshot.c - the device (dev.h) paused in the middle of a
 * launch, saved, loaded into a second device with a copy of HBM and of
 * host memory (what QEMU migrates as RAM), and resumed: the launch
 * finishes there with the result record, fence and counters of an
 * uninterrupted launch, and so does the paused device once resumed.
 * Between commands too, and bad device streams: refused, the device left
 * reset and usable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "dev_fixture.h"
#include "helpers.h"

#define DATA_OFF (1u << 20)
#define ELF_HBM 0x100000u
#define RESULT_OFF (DATA_OFF + (2u << 20))
#define HBM "16M"


/* x = TC + 1; a2 times x = x * 1664525 + 1013904223; exit(x) */
static void prog_lcg(test_prog *p)
{
    prog_init(p);
    prog_emit(p, rv_addi(5, 10, 1));
    prog_li(p, 6, 1664525);
    prog_li(p, 7, 1013904223);
    prog_emit(p, enc_r(0x33, 0, 1, 5, 5, 6)); /* mul t0, t0, t1 */
    prog_emit(p, enc_r(0x33, 0, 0, 5, 5, 7)); /* add t0, t0, t2 */
    prog_emit(p, rv_addi(12, 12, -1));
    prog_emit(p, enc_b(1, 12, 0, -12)); /* bnez a2, loop */
    prog_emit(p, rv_addi(10, 5, 0));
    prog_exit(p);
}

static fx *dev_new(void)
{
    vtpu_dev_opts opts = {0};
    return fx_create("v5p", HBM, &opts, 16);
}

static void load(fx *f, uint32_t slot)
{
    test_prog p;
    size_t len;
    prog_lcg(&p);
    void *elf = build_elf(&p, &len);
    memcpy(f->host.mem + DATA_OFF, elf, len);
    free(elf);
    vtpu_cmd c = mk(VTPU_OP_COPY_H2D, 0);
    c.src = FX_HOST_BASE + DATA_OFF;
    c.dst = ELF_HBM;
    c.len = len;
    push(f, &c);
    push_load(f, slot, ELF_HBM, len);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
}

static void launch(fx *f, uint32_t slot, uint32_t iters, uint32_t fence)
{
    vtpu_cmd c = mk(VTPU_OP_LAUNCH, VTPU_LAUNCH_F_RESULT);
    c.arg = slot;
    c.addr = FX_HOST_BASE + RESULT_OFF;
    c.args[0] = iters;
    push(f, &c);
    vtpu_cmd fc = mk(VTPU_OP_FENCE, 0);
    fc.arg = fence;
    push(f, &fc);
}

/* The second device gets what QEMU migrates as RAM: HBM, host memory. */
static void copy_ram(fx *from, fx *to)
{
    const vtpu_config *cfg = vtpu_chip_config(from->chip);
    memcpy(vtpu_chip_hbm_ptr(to->chip), vtpu_chip_hbm_ptr(from->chip),
           cfg->hbm_size);
    memcpy(to->host.mem, from->host.mem, FX_HOST_SIZE);
    to->tail = from->tail; /* the driver's copy of RING_TAIL */
}

static GByteArray *save(fx *f)
{
    GByteArray *b = g_byte_array_new();
    char err[256];
    if (vtpu_dev_save(f->dev, test_snap_write, b, err, sizeof(err)))
        fail_msg("vtpu_dev_save: %s", err);
    return b;
}

static int restore(fx *f, GByteArray *b, char *err, size_t errlen)
{
    test_snap_in r = {b->data, b->len, 0};
    assert_int_equal(vtpu_dev_pause(f->dev, 10000), 0);
    return vtpu_dev_load(f->dev, test_snap_read, &r, err, errlen);
}

#define REGS(X)                                                                \
    X(FENCE) X(LAST_EXIT) X(LAUNCH_COUNT) X(CMD_COUNT) X(RING_HEAD)           \
        X(RING_TAIL) X(INT_STATUS) X(STATUS) X(ERR_CODE)

static void same_regs(fx *a, fx *b)
{
#define CMP(n)                                                                 \
    if (rd(a, VTPU_A_##n) != rd(b, VTPU_A_##n))                                \
        fail_msg("register " #n ": 0x%x vs 0x%x", rd(a, VTPU_A_##n),          \
                 rd(b, VTPU_A_##n));
    REGS(CMP)
#undef CMP
    for (unsigned t = 0; t < 2; t++)
        assert_int_equal(rd64(a, VTPU_A_TC_INSTRET_LO_N(t)),
                         rd64(b, VTPU_A_TC_INSTRET_LO_N(t)));
}

static void test_mid_launch(void **state)
{
    (void)state;
    fx *a = dev_new();
    uint8_t ref[112];
    const uint32_t iters = 3000000;

    load(a, 2);
    launch(a, 2, iters, 1);
    wait_idle(a);
    memcpy(ref, a->host.mem + RESULT_OFF, sizeof(ref));
    vtpu_launch_result r;
    memcpy(&r, ref, sizeof(r));
    assert_int_equal(r.instret[0], 4ull * iters + 8);

    for (unsigned round = 0; round < 4; round++) {
        memset(a->host.mem + RESULT_OFF, 0, sizeof(ref));
        launch(a, 2, iters, 10 + round);
        g_usleep(1000 + 3000 * round);
        assert_int_equal(vtpu_dev_pause(a->dev, 10000), 0);
        GByteArray *snap = save(a);
        fx *b = dev_new();
        copy_ram(a, b);
        char err[256];
        if (restore(b, snap, err, sizeof(err)))
            fail_msg("vtpu_dev_load: %s", err);
        /* while both are paused, they are the same device */
        same_regs(a, b);
        vtpu_dev_resume(b->dev);
        vtpu_dev_resume(a->dev);
        wait_idle(a);
        wait_idle(b);
        assert_memory_equal(a->host.mem + RESULT_OFF, ref, sizeof(ref));
        assert_memory_equal(b->host.mem + RESULT_OFF, ref, sizeof(ref));
        assert_int_equal(rd(b, VTPU_A_FENCE), 10 + round);
        same_regs(a, b);
        printf("paused after %u ms, %u-byte device snapshot: both finish "
               "identically\n",
               1 + 3 * round, snap->len);
        g_byte_array_free(snap, TRUE);
        fx_free(b);
    }
    fx_free(a);
}

static void test_between_commands_and_bad_streams(void **state)
{
    (void)state;
    fx *a = dev_new();
    load(a, 1);
    launch(a, 1, 10, 5);
    wait_idle(a);
    wr(a, VTPU_A_SCRATCH, 0x1234);
    assert_int_equal(vtpu_dev_pause(a->dev, 1000), 0);
    GByteArray *snap = save(a);
    vtpu_dev_resume(a->dev);

    fx *b = dev_new();
    copy_ram(a, b);
    char err[256];
    assert_int_equal(restore(b, snap, err, sizeof(err)), 0);
    vtpu_dev_resume(b->dev);
    same_regs(a, b);
    assert_int_equal(rd(b, VTPU_A_SCRATCH), 0x1234);
    /* the program slot came along: launch it on b */
    launch(b, 1, 10, 6);
    wait_idle(b);
    assert_int_equal(rd(b, VTPU_A_FENCE), 6);
    assert_int_equal(rd(b, VTPU_A_LAUNCH_COUNT), 2);

    /* loading needs a paused device */
    test_snap_in r = {snap->data, snap->len, 0};
    assert_int_not_equal(vtpu_dev_load(b->dev, test_snap_read, &r, err,
                                       sizeof(err)),
                         0);
    assert_non_null(strstr(err, "paused"));

    /* bad streams: refused with a message; the device reset, usable */
    static const struct {
        size_t at;
        uint8_t val;
        const char *want;
    } bad[] = {
        {0, 'X', "bad magic"},
        {8, 9, "device state version 9"},
        /* RING_SIZE (register 0x..): a non-power of two while enabled */
        {16 + VTPU_A_RING_SIZE, 3, "ring enabled with 3 entries"},
        {16 + VTPU_A_RING_HEAD, 200, "outside"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *c = g_memdup2(snap->data, snap->len);
        c[bad[i].at] = bad[i].val;
        GByteArray g = {c, snap->len};
        if (!restore(b, &g, err, sizeof(err)))
            fail_msg("bad stream %u loaded", i);
        if (!strstr(err, bad[i].want))
            fail_msg("bad stream %u: \"%s\" does not say \"%s\"", i, err,
                     bad[i].want);
        vtpu_dev_resume(b->dev);
        assert_int_equal(rd(b, VTPU_A_STATUS), VTPU_STATE_DISABLED);
        g_free(c);
    }
    for (unsigned cut = 0; cut < snap->len; cut += snap->len / 50 + 1) {
        GByteArray g = {snap->data, (guint)cut};
        assert_int_not_equal(restore(b, &g, err, sizeof(err)), 0);
        vtpu_dev_resume(b->dev);
    }
    /* after all that, the good one still loads */
    assert_int_equal(restore(b, snap, err, sizeof(err)), 0);
    vtpu_dev_resume(b->dev);
    assert_int_equal(rd(b, VTPU_A_SCRATCH), 0x1234);
    g_byte_array_free(snap, TRUE);
    fx_free(b);
    fx_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mid_launch),
        cmocka_unit_test(test_between_commands_and_bad_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
