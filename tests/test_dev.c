/*
 * test_dev.c - the host interface at register level (hw/vtpu/dev.c): the
 * identity registers, every command, every malformed command and how the
 * ring recovers from it, ring wrap-around, a full ring, soft reset in the
 * middle of a stream, interrupts (W1C, mask), the HBM aperture, bad
 * register accesses, launches.
 *
 * The test plays the driver by hand against a fake host memory, so each
 * check is about one register or one ring entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev_fixture.h"
#include "helpers.h"
#include "dev-priv.h"
#include "internal.h"
#include "vtpu-slice.h"

#define DATA_OFF (1u << 20) /* data buffers from 1 MiB */

/* A v5p chip with 16 MiB of HBM and a device on it; a ring of `entries`
 * commands unless 0. */
static fx *fx_new(bool sync, uint32_t entries)
{
    vtpu_dev_opts opts = {.synchronous = sync};
    return fx_create("v5p", "16M", &opts, entries);
}

static uint32_t push_fence(fx *f, uint32_t val, uint32_t flags, uint64_t wb)
{
    vtpu_cmd c = mk(VTPU_OP_FENCE, flags);
    c.arg = val;
    c.addr = wb;
    return push(f, &c);
}

static uint32_t push_copy(fx *f, uint32_t op, uint64_t src, uint64_t dst,
                          uint64_t len)
{
    vtpu_cmd c = mk(op, 0);
    c.src = src;
    c.dst = dst;
    c.len = len;
    return push(f, &c);
}

static void err_msg(fx *f, char *buf, size_t len)
{
    size_t i;
    for (i = 0; i + 1 < len && i < VTPU_ERR_MSG_SIZE; i++) {
        uint32_t w = rd(f, VTPU_A_ERR_MSG + (uint32_t)(i & ~3u));
        buf[i] = (char)(w >> (8 * (i & 3)));
        if (!buf[i])
            break;
    }
    buf[i < len ? i : len - 1] = 0;
}

/* The device stopped at `idx` with `code`; the message says something. */
static void expect_error(fx *f, uint32_t idx, uint32_t op, uint32_t code)
{
    char msg[VTPU_ERR_MSG_SIZE];

    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_ERROR);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), code);
    assert_int_equal(rd(f, VTPU_A_ERR_INDEX), idx);
    assert_int_equal(rd(f, VTPU_A_ERR_OPCODE), op);
    if (idx != VTPU_ERR_NONE32)
        assert_int_equal(rd(f, VTPU_A_RING_HEAD), idx);
    assert_true(rd(f, VTPU_A_INT_STATUS) & VTPU_FMASK(INT, ERROR));
    err_msg(f, msg, sizeof(msg));
    assert_true(strlen(msg) > 10);
}

/* Acknowledge with SKIP and show the ring goes on: a fence completes. */
static void skip_and_continue(fx *f, uint32_t fence)
{
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
    wr(f, VTPU_A_INT_STATUS, VTPU_FMASK(INT, ERROR));
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    push_fence(f, fence, 0, 0);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(f, VTPU_A_FENCE), fence);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)test_rand32(&seed);
}

/* ------------------------------------------------------------------ */

static void test_identity(void **state)
{
    (void)state;
    fx *f = fx_new(false, 0);
    const vtpu_config *cfg = vtpu_chip_config(f->chip);

    assert_int_equal(rd(f, VTPU_A_ID), VTPU_ID_MAGIC);
    assert_int_equal(VTPU_FEX(rd(f, VTPU_A_VERSION), VERSION, MAJOR),
                     VTPU_VERSION_MAJOR);
    assert_int_equal(VTPU_FEX(rd(f, VTPU_A_VERSION), VERSION, MINOR),
                     VTPU_VERSION_MINOR);
    assert_int_equal(rd(f, VTPU_A_CAPS), 0x2f);
    uint32_t gen = rd(f, VTPU_A_GEN);
    assert_memory_equal(&gen, "v5p", 4);
    assert_int_equal(rd(f, VTPU_A_NUM_TCS), cfg->num_tcs);
    assert_int_equal(rd(f, VTPU_A_NUM_SEMS), cfg->num_sems);
    assert_int_equal(rd64(f, VTPU_A_HBM_SIZE_LO), 16u << 20);
    assert_int_equal(rd(f, VTPU_A_VMEM_SIZE), cfg->vmem_size);
    assert_int_equal(rd(f, VTPU_A_SMEM_SIZE), cfg->smem_size);
    assert_int_equal(rd(f, VTPU_A_IMEM_SIZE), cfg->imem_size);
    uint32_t v = rd(f, VTPU_A_VREG_SHAPE);
    assert_int_equal(VTPU_FEX(v, VREG_SHAPE, SUBLANES), 8);
    assert_int_equal(VTPU_FEX(v, VREG_SHAPE, LANES), 128);
    assert_int_equal(VTPU_FEX(v, VREG_SHAPE, BITS), 32);
    v = rd(f, VTPU_A_VREG_COUNT);
    assert_int_equal(VTPU_FEX(v, VREG_COUNT, VREGS), 32);
    assert_int_equal(VTPU_FEX(v, VREG_COUNT, MASKS), 8);
    v = rd(f, VTPU_A_MXU);
    assert_int_equal(VTPU_FEX(v, MXU, DIM), cfg->mxu_dim);
    assert_int_equal(VTPU_FEX(v, MXU, COUNT), cfg->mxu_count);
    v = rd(f, VTPU_A_LIMITS);
    assert_int_equal(VTPU_FEX(v, LIMITS, PROG_SLOTS), VTPU_MAX_PROGRAMS);
    assert_int_equal(VTPU_FEX(v, LIMITS, RING_MAX_LOG2), 16);
    assert_int_equal(rd(f, VTPU_A_APERTURE_SIZE), 16u << 20);
    /* Power-on state. */
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    assert_int_equal(rd(f, VTPU_A_ERR_INDEX), VTPU_ERR_NONE32);
    assert_int_equal(rd(f, VTPU_A_ERR_TC), VTPU_ERR_NONE32);
    assert_int_equal(vtpu_dev_irq_level(f->dev), 0);
    /* 64-bit access = LO then HI. */
    assert_int_equal(vtpu_dev_reg_read(f->dev, VTPU_A_HBM_SIZE_LO, 8),
                     16u << 20);
    fx_free(f);
}

static void test_bad_register_access(void **state)
{
    (void)state;
    fx *f = fx_new(false, 0);
    unsigned ge = 0;

#define GUEST_ERROR()                                                          \
    do {                                                                       \
        assert_int_equal(atomic_load(&f->host.guest_errors), ++ge);            \
    } while (0)

    /* Read-only registers keep their value; the write is logged. */
    wr(f, VTPU_A_ID, 0);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_ID), VTPU_ID_MAGIC);
    wr(f, VTPU_A_NUM_TCS, 7);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_NUM_TCS), 2);
    wr(f, VTPU_A_RING_HEAD, 3);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 0);
    wr(f, VTPU_A_FENCE, 3);
    GUEST_ERROR();
    wr(f, VTPU_A_ERR_MSG + 8, 3);
    GUEST_ERROR();
    wr(f, VTPU_A_TC_INSTRET_LO, 3);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_TC_INSTRET_LO), 0);
    /* Unmapped, misaligned, past the BAR, odd sizes: 0, logged. */
    assert_int_equal(rd(f, 0x3f0), 0);
    GUEST_ERROR();
    wr(f, 0x3f0, 1);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_ID + 2), 0);
    GUEST_ERROR();
    wr(f, VTPU_A_SCRATCH + 1, 0xff);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_SCRATCH), 0);
    assert_int_equal(rd(f, 0x100000), 0);
    GUEST_ERROR();
    assert_int_equal(vtpu_dev_reg_read(f->dev, UINT64_MAX - 3, 4), 0);
    GUEST_ERROR();
    assert_int_equal(vtpu_dev_reg_read(f->dev, VTPU_A_ID, 2), 0);
    GUEST_ERROR();
    vtpu_dev_reg_write(f->dev, VTPU_A_SCRATCH, 0xff, 1);
    GUEST_ERROR();
    assert_int_equal(vtpu_dev_reg_read(f->dev, VTPU_A_ID + 4, 8), 0);
    GUEST_ERROR();
    /* Write-only ERR_ACK reads 0; acking without an error is logged. */
    assert_int_equal(rd(f, VTPU_A_ERR_ACK), 0);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
    GUEST_ERROR();
    /* Reserved CONTROL bits. */
    wr(f, VTPU_A_CONTROL, 0x100);
    GUEST_ERROR();
    assert_int_equal(rd(f, VTPU_A_CONTROL), 0);
    /* SCRATCH holds anything; write-only bits of RING_BASE_LO read 0. */
    wr(f, VTPU_A_SCRATCH, 0xdeadbeef);
    assert_int_equal(rd(f, VTPU_A_SCRATCH), 0xdeadbeef);
    wr(f, VTPU_A_RING_BASE_LO, 0x12345678);
    assert_int_equal(rd(f, VTPU_A_RING_BASE_LO), 0x12345640);
    vtpu_dev_reg_write(f->dev, VTPU_A_RING_BASE_LO, 0x0000000a00000040ull, 8);
    assert_int_equal(rd(f, VTPU_A_RING_BASE_HI), 0xa);
    assert_int_equal(atomic_load(&f->host.guest_errors), ge);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
#undef GUEST_ERROR
    fx_free(f);
}

static void test_interrupts(void **state)
{
    (void)state;
    fx *f = fx_new(false, 8);

    /* A fence with IRQ sets the status bit; masked, the line stays low. */
    push_fence(f, 1, VTPU_FENCE_F_IRQ, 0);
    wait_idle(f);
    uint32_t st = rd(f, VTPU_A_INT_STATUS);
    assert_true(st & VTPU_FMASK(INT, FENCE));
    assert_true(st & VTPU_FMASK(INT, IDLE));
    assert_true(st & VTPU_FMASK(INT, PROGRESS));
    assert_false(st & VTPU_FMASK(INT, ERROR));
    assert_int_equal(vtpu_dev_irq_level(f->dev), 0);
    assert_int_equal(atomic_load(&f->host.irq), 0);
    unsigned changes = atomic_load(&f->host.irq_changes);

    /* Unmasking raises the line; only enable bits that exist stick. */
    wr(f, VTPU_A_INT_ENABLE, 0xffffffff);
    assert_int_equal(rd(f, VTPU_A_INT_ENABLE), VTPU_INT_ALL);
    wr(f, VTPU_A_INT_ENABLE, VTPU_FMASK(INT, FENCE));
    assert_int_equal(vtpu_dev_irq_level(f->dev), 1);
    assert_int_equal(atomic_load(&f->host.irq), 1);
    assert_int_equal(atomic_load(&f->host.irq_changes), changes + 1);

    /* Writing 0s clears nothing; writing 1 clears that bit only. */
    wr(f, VTPU_A_INT_STATUS, 0);
    assert_int_equal(rd(f, VTPU_A_INT_STATUS), st);
    wr(f, VTPU_A_INT_STATUS, VTPU_FMASK(INT, IDLE));
    assert_int_equal(rd(f, VTPU_A_INT_STATUS), st & ~VTPU_FMASK(INT, IDLE));
    assert_int_equal(atomic_load(&f->host.irq), 1);
    wr(f, VTPU_A_INT_STATUS, VTPU_FMASK(INT, FENCE));
    assert_int_equal(atomic_load(&f->host.irq), 0);
    assert_int_equal(atomic_load(&f->host.irq_changes), changes + 2);

    /* Masking a pending bit drops the line; the bit stays pending. */
    push_fence(f, 2, VTPU_FENCE_F_IRQ, 0);
    wait_idle(f);
    assert_int_equal(atomic_load(&f->host.irq), 1);
    wr(f, VTPU_A_INT_ENABLE, 0);
    assert_int_equal(atomic_load(&f->host.irq), 0);
    assert_true(rd(f, VTPU_A_INT_STATUS) & VTPU_FMASK(INT, FENCE));

    /* A fence without F_IRQ does not set FENCE. */
    wr(f, VTPU_A_INT_STATUS, VTPU_INT_ALL);
    push_fence(f, 3, 0, 0);
    wait_idle(f);
    assert_false(rd(f, VTPU_A_INT_STATUS) & VTPU_FMASK(INT, FENCE));
    assert_int_equal(rd(f, VTPU_A_FENCE), 3);

    /* The error interrupt. */
    wr(f, VTPU_A_INT_ENABLE, VTPU_FMASK(INT, ERROR));
    vtpu_cmd bad = mk(0x7f, 0);
    push(f, &bad);
    wait_idle(f);
    assert_int_equal(atomic_load(&f->host.irq), 1);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
    assert_int_equal(atomic_load(&f->host.irq), 1); /* ack != W1C */
    wr(f, VTPU_A_INT_STATUS, VTPU_FMASK(INT, ERROR));
    assert_int_equal(atomic_load(&f->host.irq), 0);
    fx_free(f);
}

/*
 * An MSI-X device sends a message per rise of its line.  The driver's
 * handler W1Cs INT_STATUS; if the worker raises the line again while the
 * W1C's caller is between dropping the device lock and delivering the
 * fall, levels alone show no change to either thread, no message goes
 * out, and the driver waits for ever with INT_STATUS pending (seen in
 * Linux: vtpu.ko's interrupts stopped after about 1500).  The test puts
 * the rise in that window every time: the worker is held in its DMA read
 * of a queued FENCE (the fake host's read gate) while the handler's W1C
 * drops the line; in the window (a test hook) the W1C's caller opens the
 * gate and waits, without touching a register, until the worker has
 * raised the line again.  Then an interrupt newer than the W1C must
 * arrive.
 */
static fx *gap_fx;
static atomic_bool gap_armed;

static void release_worker_in_gap(vtpu_dev *dev)
{
    if (!atomic_exchange(&gap_armed, false))
        return;
    atomic_store(&gap_fx->host.read_gate, false);
    for (int i = 0; i < 200000 && !vtpu_dev_irq_level(dev); i++)
        usleep(10);
}

static void test_interrupt_rise_after_w1c(void **state)
{
    (void)state;
    fx *f = fx_new(false, 64);
    const uint32_t fence_bit = VTPU_FMASK(INT, FENCE);

    gap_fx = f;
    f->dev->unlock_gap = release_worker_in_gap;
    wr(f, VTPU_A_INT_ENABLE, fence_bit);
    push_fence(f, 1, VTPU_FENCE_F_IRQ, 0);
    wait_idle(f);
    assert_int_equal(atomic_load(&f->host.irq), 1);
    for (uint32_t k = 2; k <= 30; k++) {
        /* the line is high and delivered; the next fence is held */
        assert_true(rd(f, VTPU_A_INT_STATUS) & fence_bit);
        atomic_store(&f->host.read_gate, true);
        push_fence(f, k, VTPU_FENCE_F_IRQ, 0);
        unsigned seen = atomic_load(&f->host.irq_raises);
        /* the handler acknowledges; the fence completes in the window */
        atomic_store(&gap_armed, true);
        wr(f, VTPU_A_INT_STATUS, fence_bit);
        assert_false(atomic_load(&gap_armed));
        assert_false(atomic_load(&f->host.read_gate));
        wait_idle(f);
        assert_int_equal(rd(f, VTPU_A_FENCE), k);
        assert_true(rd(f, VTPU_A_INT_STATUS) & fence_bit);
        /* the worker delivers after it drops the lock: give it 2 s */
        for (int i = 0; i < 2000 && atomic_load(&f->host.irq_raises) == seen;
             i++)
            usleep(1000);
        if (atomic_load(&f->host.irq_raises) == seen)
            fail_msg("fence %u: FENCE pending, the line high, and no "
                     "interrupt sent since the W1C",
                     k);
        assert_int_equal(atomic_load(&f->host.irq), 1);
    }
    fx_free(f);
}

static void test_copies_fill_fence(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    uint8_t *host = f->host.mem + DATA_OFF;
    const size_t n = 3 * 100000 + 7; /* odd size, crosses no chunk */
    uint8_t *back = malloc(n);

    fill_random(host, n, 1);
    push(f, &(vtpu_cmd){.hdr = VTPU_OP_NOP});
    push_copy(f, VTPU_OP_COPY_H2D, FX_HOST_BASE + DATA_OFF, 0x1001, n);
    /* HBM -> HBM in both directions of overlap. */
    push_copy(f, VTPU_OP_COPY_D2D, 0x1001, 0x200000, n);
    push_copy(f, VTPU_OP_COPY_D2D, 0x200000, 0x200010, n);
    push_copy(f, VTPU_OP_COPY_D2D, 0x200010, 0x200003, n);
    push_copy(f, VTPU_OP_COPY_D2H, 0x200003, FX_HOST_BASE + DATA_OFF + n, n);
    vtpu_cmd fill = mk(VTPU_OP_FILL, 0);
    fill.dst = 0x400000;
    fill.len = 4096 * 3 + 8;
    fill.arg = 0xa1b2c3d4;
    push(f, &fill);
    push_fence(f, 0x1234, VTPU_FENCE_F_WRITEBACK,
               FX_HOST_BASE + DATA_OFF + 2 * n + 1);
    wait_idle(f);

    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 8);
    assert_int_equal(rd(f, VTPU_A_CMD_COUNT), 8);
    assert_int_equal(rd(f, VTPU_A_FENCE), 0x1234);
    assert_int_equal(vtpu_hbm_read(f->chip, 0x1001, back, n), 0);
    assert_memory_equal(back, host, n);
    assert_memory_equal(host + n, host, n);
    uint32_t wb;
    memcpy(&wb, host + 2 * n + 1, 4);
    assert_int_equal(wb, 0x1234);
    for (uint32_t off = 0; off < fill.len; off += 4) {
        uint32_t w;
        assert_int_equal(vtpu_hbm_read(f->chip, fill.dst + off, &w, 4), 0);
        assert_int_equal(w, 0xa1b2c3d4);
    }
    uint32_t after;
    vtpu_hbm_read(f->chip, fill.dst + fill.len, &after, 4);
    assert_int_equal(after, 0);
    assert_int_equal(rd64(f, VTPU_A_BYTES_IN_LO), n);
    assert_int_equal(rd64(f, VTPU_A_BYTES_OUT_LO), n);
    free(back);
    fx_free(f);
}

/*
 * Copies bigger than one DMA chunk (1 MiB), to the very end of HBM, and
 * overlapping HBM -> HBM copies in both directions, which the device
 * must do chunk by chunk in the right order.
 */
static void test_large_copy(void **state)
{
    (void)state;
    fx *f = fx_new(false, 4);
    const size_t n = 3u << 20;
    const uint64_t top = (16u << 20) - n;
    uint8_t *src = f->host.mem + 4096, *back = malloc(n);

    fill_random(src, n, 7); /* after the 4-entry ring at offset 0 */
    push_copy(f, VTPU_OP_COPY_H2D, FX_HOST_BASE + 4096, top, n);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    assert_int_equal(vtpu_hbm_read(f->chip, top, back, n), 0);
    assert_memory_equal(back, src, n);

    push_copy(f, VTPU_OP_COPY_D2D, top, top - 1000, n);       /* down */
    push_copy(f, VTPU_OP_COPY_D2D, top - 1000, top - 223, n); /* up */
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    assert_int_equal(vtpu_hbm_read(f->chip, top - 223, back, n), 0);
    assert_memory_equal(back, src, n);
    free(back);
    fx_free(f);
}

static void test_malformed_commands(void **state)
{
    (void)state;
    fx *f = fx_new(false, 64);
    uint64_t hbm = 16u << 20;
    uint32_t fence = 0;
    vtpu_cmd c;
    uint32_t i;

    /* Opcode 0: an entry that was never written. */
    c = mk(0, 0);
    i = push(f, &c);
    expect_error(f, i, 0, VTPU_E_BAD_OPCODE);
    skip_and_continue(f, ++fence);

    c = mk(0x7f, 0);
    i = push(f, &c);
    expect_error(f, i, 0x7f, VTPU_E_BAD_OPCODE);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), 0x7f);
    skip_and_continue(f, ++fence);

    c = mk(VTPU_OP_NOP, 1); /* NOP has no flags */
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_NOP, VTPU_E_BAD_FLAGS);
    skip_and_continue(f, ++fence);

    c = mk(VTPU_OP_FENCE, 0x80); /* unknown fence flag */
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_FENCE, VTPU_E_BAD_FLAGS);
    skip_and_continue(f, ++fence);

    c = mk(VTPU_OP_NOP, 0);
    c.hdr |= 1u << 20; /* reserved header bits */
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_NOP, VTPU_E_BAD_FLAGS);
    skip_and_continue(f, ++fence);

    i = push_copy(f, VTPU_OP_COPY_H2D, FX_HOST_BASE + DATA_OFF, 0, 0);
    expect_error(f, i, VTPU_OP_COPY_H2D, VTPU_E_BAD_LENGTH);
    skip_and_continue(f, ++fence);

    /* HBM ranges: past the end, straddling it, wrapping 64 bits. */
    i = push_copy(f, VTPU_OP_COPY_H2D, FX_HOST_BASE + DATA_OFF, hbm, 1);
    expect_error(f, i, VTPU_OP_COPY_H2D, VTPU_E_HBM_RANGE);
    assert_int_equal(rd(f, VTPU_A_ERR_SPACE), VTPU_ESPACE_HBM);
    assert_int_equal(rd64(f, VTPU_A_ERR_ADDR_LO), hbm);
    assert_int_equal(rd64(f, VTPU_A_ERR_LEN_LO), 1);
    skip_and_continue(f, ++fence);

    i = push_copy(f, VTPU_OP_COPY_D2H, hbm - 8, FX_HOST_BASE + DATA_OFF, 16);
    expect_error(f, i, VTPU_OP_COPY_D2H, VTPU_E_HBM_RANGE);
    skip_and_continue(f, ++fence);

    i = push_copy(f, VTPU_OP_COPY_D2D, 0, UINT64_MAX - 3, 16);
    expect_error(f, i, VTPU_OP_COPY_D2D, VTPU_E_HBM_RANGE);
    skip_and_continue(f, ++fence);

    /* Host ranges: unmapped below, past the end, wrapping. */
    i = push_copy(f, VTPU_OP_COPY_H2D, 0x1000, 0, 64);
    expect_error(f, i, VTPU_OP_COPY_H2D, VTPU_E_HOST_DMA);
    assert_int_equal(rd(f, VTPU_A_ERR_SPACE), VTPU_ESPACE_HOST);
    assert_int_equal(rd64(f, VTPU_A_ERR_ADDR_LO), 0x1000);
    skip_and_continue(f, ++fence);

    i = push_copy(f, VTPU_OP_COPY_D2H, 0, FX_HOST_BASE + FX_HOST_SIZE - 8, 64);
    expect_error(f, i, VTPU_OP_COPY_D2H, VTPU_E_HOST_DMA);
    skip_and_continue(f, ++fence);

    i = push_copy(f, VTPU_OP_COPY_D2H, 0, UINT64_MAX - 8, 64);
    expect_error(f, i, VTPU_OP_COPY_D2H, VTPU_E_HOST_DMA);
    skip_and_continue(f, ++fence);

    /* Fill: length and alignment. */
    c = mk(VTPU_OP_FILL, 0);
    c.len = 6;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_FILL, VTPU_E_BAD_LENGTH);
    skip_and_continue(f, ++fence);
    c.len = 0;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_FILL, VTPU_E_BAD_LENGTH);
    skip_and_continue(f, ++fence);
    c.len = 8;
    c.dst = 2;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_FILL, VTPU_E_BAD_ALIGN);
    skip_and_continue(f, ++fence);
    c.dst = hbm - 4;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_FILL, VTPU_E_HBM_RANGE);
    skip_and_continue(f, ++fence);

    /* Program loading: slot, length, range, and an image that is no ELF. */
    c = mk(VTPU_OP_LOAD_PROG, 0);
    c.arg = VTPU_MAX_PROGRAMS;
    c.len = 64;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LOAD_PROG, VTPU_E_BAD_SLOT);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), VTPU_MAX_PROGRAMS);
    skip_and_continue(f, ++fence);
    c.arg = 0;
    c.len = 0;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LOAD_PROG, VTPU_E_BAD_LENGTH);
    skip_and_continue(f, ++fence);
    c.len = VTPU_LOAD_PROG_MAX_LEN + 1ull;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LOAD_PROG, VTPU_E_BAD_LENGTH);
    skip_and_continue(f, ++fence);
    c.len = 64;
    c.src = hbm - 32;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LOAD_PROG, VTPU_E_HBM_RANGE);
    skip_and_continue(f, ++fence);
    c.src = 0x800000; /* zeros in HBM */
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LOAD_PROG, VTPU_E_BAD_ELF);
    char msg[VTPU_ERR_MSG_SIZE];
    err_msg(f, msg, sizeof(msg));
    assert_non_null(strstr(msg, "slot 0"));
    skip_and_continue(f, ++fence);

    /* Launches: empty slot, slot out of range, too many TCs, reserved. */
    c = mk(VTPU_OP_LAUNCH, 0);
    c.arg = 5;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_NO_PROGRAM);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), 5);
    skip_and_continue(f, ++fence);
    c.arg = 200;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_BAD_SLOT);
    skip_and_continue(f, ++fence);
    c.arg = 1u << 16;
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_BAD_FLAGS);
    skip_and_continue(f, ++fence);
    c = mk(VTPU_OP_LAUNCH, 0x40);
    i = push(f, &c);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_BAD_FLAGS);
    skip_and_continue(f, ++fence);

    /* A fence whose write-back address is not host memory: not done. */
    i = push_fence(f, 999, VTPU_FENCE_F_WRITEBACK, 0x10);
    expect_error(f, i, VTPU_OP_FENCE, VTPU_E_HOST_DMA);
    assert_int_equal(rd(f, VTPU_A_FENCE), fence);
    skip_and_continue(f, ++fence);

    assert_int_equal(rd(f, VTPU_A_ERR_COUNT), 26);
    assert_int_equal(atomic_load(&f->host.cmd_errors), 26);
    assert_int_equal(atomic_load(&f->host.guest_errors), 0);
    fx_free(f);
}

/* After an error, commands queued behind it wait; ABORT drops them. */
static void test_error_abort_retry(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);

    uint32_t bad = push_copy(f, VTPU_OP_COPY_H2D, 0x10, 0, 64);
    push_fence(f, 1, 0, 0);
    push_fence(f, 2, 0, 0);
    expect_error(f, bad, VTPU_OP_COPY_H2D, VTPU_E_HOST_DMA);
    /* The device stays stopped: more doorbells do not move it. */
    push_fence(f, 3, 0, 0);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), bad);
    assert_int_equal(rd(f, VTPU_A_FENCE), 0);
    /* A second error while stopped is not recorded over the first. */
    wr(f, VTPU_A_RING_TAIL, 100);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), VTPU_E_HOST_DMA);
    assert_int_equal(rd(f, VTPU_A_RING_TAIL), f->tail);

    wr(f, VTPU_A_ERR_ACK, 0); /* no action: ignored */
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_ERROR);
    wr(f, VTPU_A_INT_STATUS, VTPU_INT_ALL);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_ABORT);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), f->tail);
    assert_int_equal(rd(f, VTPU_A_FENCE), 0); /* dropped, never ran */
    assert_true(rd(f, VTPU_A_INT_STATUS) & VTPU_FMASK(INT, IDLE));
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
    assert_int_equal(rd(f, VTPU_A_ERR_INDEX), VTPU_ERR_NONE32);

    /* RETRY after fixing the command in place. */
    uint32_t i = push_copy(f, VTPU_OP_COPY_H2D, 0x10, 0, 64);
    push_fence(f, 7, 0, 0);
    expect_error(f, i, VTPU_OP_COPY_H2D, VTPU_E_HOST_DMA);
    vtpu_cmd fixed = mk(VTPU_OP_COPY_H2D, 0);
    fixed.src = FX_HOST_BASE + DATA_OFF;
    fixed.len = 64;
    memset(f->host.mem + DATA_OFF, 0x5c, 64);
    put_cmd(f, i, &fixed);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_RETRY);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(f, VTPU_A_FENCE), 7);
    uint8_t b;
    vtpu_hbm_read(f->chip, 63, &b, 1);
    assert_int_equal(b, 0x5c);
    fx_free(f);
}

static void test_ring_config_errors(void **state)
{
    (void)state;
    fx *f = fx_new(false, 0);

    /* Enabling with a size that is not a power of two. */
    wr(f, VTPU_A_RING_BASE_LO, (uint32_t)FX_HOST_BASE);
    wr(f, VTPU_A_RING_SIZE, 6);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
    expect_error(f, VTPU_ERR_NONE32, 0, VTPU_E_RING_CONFIG);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), 6);
    assert_int_equal(rd(f, VTPU_A_CONTROL), 0);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
    for (uint32_t bad = 0; bad < 2; bad++) {
        wr(f, VTPU_A_RING_SIZE, bad ? (1u << 17) : 1);
        wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
        expect_error(f, VTPU_ERR_NONE32, 0, VTPU_E_RING_CONFIG);
        wr(f, VTPU_A_ERR_ACK, VTPU_ACK_ABORT);
    }
    /* A ring that would wrap the 64-bit bus address space. */
    wr(f, VTPU_A_RING_BASE_LO, 0xffffffc0);
    wr(f, VTPU_A_RING_BASE_HI, 0xffffffff);
    wr(f, VTPU_A_RING_SIZE, 4);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
    expect_error(f, VTPU_ERR_NONE32, 0, VTPU_E_RING_CONFIG);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);

    /* Good ring; TAIL beyond it is a pointer error, TAIL unchanged. */
    f->entries = 4;
    enable_ring(f);
    wr(f, VTPU_A_RING_TAIL, 4);
    expect_error(f, VTPU_ERR_NONE32, 0, VTPU_E_RING_POINTER);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), 4);
    assert_int_equal(rd(f, VTPU_A_RING_TAIL), 0);
    wr(f, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);

    /* Ring configuration is frozen while enabled. */
    unsigned ge = atomic_load(&f->host.guest_errors);
    wr(f, VTPU_A_RING_SIZE, 8);
    wr(f, VTPU_A_RING_BASE_LO, 0);
    assert_int_equal(rd(f, VTPU_A_RING_SIZE), 4);
    assert_int_equal(rd(f, VTPU_A_RING_BASE_LO), (uint32_t)FX_HOST_BASE);
    assert_int_equal(atomic_load(&f->host.guest_errors), ge + 2);

    /* A ring in memory the device cannot read: fetch error at ADDR. */
    wr(f, VTPU_A_CONTROL, 0);
    wr(f, VTPU_A_RING_BASE_LO, 0x40);
    wr(f, VTPU_A_RING_BASE_HI, 0);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
    wr(f, VTPU_A_RING_TAIL, 3);
    expect_error(f, 0, 0, VTPU_E_RING_FETCH);
    assert_int_equal(rd64(f, VTPU_A_ERR_ADDR_LO), 0x40);
    assert_int_equal(rd(f, VTPU_A_ERR_SPACE), VTPU_ESPACE_HOST);
    fx_free(f);
}

/* Many more commands than entries: HEAD and TAIL wrap, nothing is lost. */
static void test_ring_wrap(void **state)
{
    (void)state;
    fx *f = fx_new(false, 4);
    uint8_t *host = f->host.mem + DATA_OFF;

    for (uint32_t k = 1; k <= 50; k++) {
        /* At most 3 in flight (one slot stays empty: full != empty). */
        while (((rd(f, VTPU_A_RING_HEAD) - f->tail - 1) & 3) == 0)
            wait_idle(f);
        memset(host, (int)k, 256);
        vtpu_cmd c = mk(VTPU_OP_COPY_H2D, 0);
        c.src = FX_HOST_BASE + DATA_OFF;
        c.dst = 256u * k;
        c.len = 256;
        push(f, &c);
        wait_idle(f); /* host buffer is reused next round */
        while (((rd(f, VTPU_A_RING_HEAD) - f->tail - 1) & 3) == 0)
            wait_idle(f);
        push_fence(f, k, 0, 0);
    }
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 50);
    assert_int_equal(rd(f, VTPU_A_CMD_COUNT), 100);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 100 % 4);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), f->tail);
    for (uint32_t k = 1; k <= 50; k++) {
        uint8_t b;
        vtpu_hbm_read(f->chip, 256u * k + 255, &b, 1);
        assert_int_equal(b, k);
    }
    fx_free(f);
}

/* A full ring (size - 1 entries) queued while disabled, then enabled. */
static void test_full_ring(void **state)
{
    (void)state;
    fx *f = fx_new(false, 8);

    wr(f, VTPU_A_CONTROL, 0);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
    for (uint32_t k = 1; k <= 7; k++)
        push_fence(f, k, 0, 0);
    assert_int_equal(rd(f, VTPU_A_RING_TAIL), 7);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 0); /* nothing ran */
    assert_int_equal(rd(f, VTPU_A_FENCE), 0);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 7);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 7);
    /* Another 7 wrap around the end. */
    for (uint32_t k = 8; k <= 14; k++)
        push_fence(f, k, 0, 0);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 14);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 14 % 8);
    fx_free(f);
}

static void test_synchronous_mode(void **state)
{
    (void)state;
    fx *f = fx_new(true, 4);

    push_fence(f, 42, VTPU_FENCE_F_IRQ, 0);
    /* Done by the time the doorbell write returned. */
    assert_int_equal(rd(f, VTPU_A_FENCE), 42);
    assert_int_equal(rd(f, VTPU_A_RING_HEAD), 1);
    vtpu_cmd bad = mk(0x55, 0);
    uint32_t i = push(f, &bad);
    expect_error(f, i, 0x55, VTPU_E_BAD_OPCODE);
    skip_and_continue(f, 43);
    fx_free(f);
}

static void test_aperture(void **state)
{
    (void)state;
    fx *f = fx_new(false, 0);
    uint64_t size = vtpu_dev_aperture_size(f->dev);
    unsigned ge = atomic_load(&f->host.guest_errors);

    assert_int_equal(size, 16u << 20);
    /* Base is 4 KiB-granular: low bits read as zero. */
    wr(f, VTPU_A_APERTURE_BASE_LO, 0x00201234);
    assert_int_equal(rd(f, VTPU_A_APERTURE_BASE_LO), 0x00201000);
    assert_int_equal(vtpu_dev_aperture_base(f->dev), 0x00201000);
    vtpu_dev_aperture_write(f->dev, 0x10, 0x1122334455667788ull, 8);
    vtpu_dev_aperture_write(f->dev, 0x20, 0xabcd, 2);
    vtpu_dev_aperture_write(f->dev, 0x23, 0xef, 1);
    uint8_t b[32];
    assert_int_equal(vtpu_hbm_read(f->chip, 0x201010, b, 32), 0);
    assert_int_equal(b[0], 0x88);
    assert_int_equal(b[7], 0x11);
    assert_int_equal(b[0x10], 0xcd);
    assert_int_equal(b[0x11], 0xab);
    assert_int_equal(b[0x13], 0xef);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 0x10, 4), 0x55667788);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 0x14, 2), 0x3344);
    /* Moving the window moves what the same offset shows. */
    wr(f, VTPU_A_APERTURE_BASE_LO, 0x00200000);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 0x1010, 8),
                     0x1122334455667788ull);
    assert_int_equal(atomic_load(&f->host.guest_errors), ge);

    /* Past HBM's end (16 MiB), past the window, odd sizes: ignored. */
    wr(f, VTPU_A_APERTURE_BASE_LO, (16u << 20) - 4096);
    vtpu_dev_aperture_write(f->dev, 4092, 0x01020304, 4);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 4092, 4), 0x01020304);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 4096, 4), 0);
    assert_int_equal(atomic_load(&f->host.guest_errors), ++ge);
    vtpu_dev_aperture_write(f->dev, 4094, 0xffffffff, 4);
    assert_int_equal(atomic_load(&f->host.guest_errors), ++ge);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 4092, 4), 0x01020304);
    wr(f, VTPU_A_APERTURE_BASE_LO, 0);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, size, 1), 0);
    assert_int_equal(atomic_load(&f->host.guest_errors), ++ge);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 0, 3), 0);
    assert_int_equal(atomic_load(&f->host.guest_errors), ++ge);
    wr(f, VTPU_A_APERTURE_BASE_HI, 0xffffffff);
    assert_int_equal(vtpu_dev_aperture_read(f->dev, 0, 4), 0);
    assert_int_equal(atomic_load(&f->host.guest_errors), ++ge);
    fx_free(f);
}

/* ---- launches ---- */

/* HBM address where test ELFs are staged. */
#define ELF_HBM 0x100000u

/* Copy an ELF built from p into HBM through the ring and load it. */
static void load_prog(fx *f, const test_prog *p, uint32_t slot)
{
    size_t len;
    void *elf = build_elf(p, &len);
    assert_true(len < (1u << 20));
    memcpy(f->host.mem + DATA_OFF, elf, len);
    free(elf);
    push_copy(f, VTPU_OP_COPY_H2D, FX_HOST_BASE + DATA_OFF, ELF_HBM, len);
    push_load(f, slot, ELF_HBM, len);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);
}

static uint32_t push_launch(fx *f, uint32_t slot, uint32_t tcs, uint32_t flags,
                            uint64_t result, const uint32_t args[4])
{
    vtpu_cmd c = mk(VTPU_OP_LAUNCH, flags);
    c.arg = slot | tcs << 8;
    c.addr = result;
    if (args)
        memcpy(c.args, args, sizeof(c.args));
    return push(f, &c);
}

static void prog_exit_with(test_prog *p, uint32_t code)
{
    prog_init(p);
    prog_li(p, 10, code); /* li a0, code */
    prog_exit(p);         /* li a7, 93; ecall */
}

static void test_launch_exit_code(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    test_prog p;
    const uint64_t res_bus = FX_HOST_BASE + DATA_OFF + (2u << 20);

    prog_exit_with(&p, 7);
    load_prog(f, &p, 3);
    push_launch(f, 3, 0, VTPU_LAUNCH_F_RESULT, res_bus, NULL);
    push_fence(f, 1, 0, 0);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(f, VTPU_A_FENCE), 1);
    assert_int_equal(rd(f, VTPU_A_LAST_EXIT), 7);
    assert_int_equal(rd(f, VTPU_A_LAUNCH_COUNT), 1);
    /* 4 instructions per TC: lui, addi, addi, ecall. */
    assert_int_equal(rd64(f, VTPU_A_TC_INSTRET_LO_N(0)), 4);
    assert_int_equal(rd64(f, VTPU_A_TC_INSTRET_LO_N(1)), 4);
    assert_int_equal(rd64(f, VTPU_A_TC_INSTRET_LO_N(2)), 0);

    vtpu_launch_result r;
    memcpy(&r, f->host.mem + DATA_OFF + (2u << 20), sizeof(r));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.exit_code, 7);
    assert_int_equal(r.num_tcs, 2);
    assert_int_equal(r.tc_exit[0], 7);
    assert_int_equal(r.tc_exit[1], 7);
    assert_int_equal(r.instret[0], 4);

    /* One TC only; with CHECK_EXIT a non-zero exit stops the ring. */
    uint32_t i = push_launch(f, 3, 1, VTPU_LAUNCH_F_CHECK_EXIT, 0, NULL);
    push_fence(f, 2, 0, 0);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_EXIT_CODE);
    assert_int_equal(rd(f, VTPU_A_ERR_TC), 0);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), 7);
    assert_int_equal(rd(f, VTPU_A_LAUNCH_COUNT), 2);
    assert_int_equal(rd64(f, VTPU_A_TC_INSTRET_LO_N(0)), 8);
    assert_int_equal(rd64(f, VTPU_A_TC_INSTRET_LO_N(1)), 4);
    skip_and_continue(f, 3);
    fx_free(f);
}

static void test_launch_args_and_slots(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    test_prog p;

    /* a0 = a2 + a3 + a0 (the TC id): exit code tells args arrived. */
    prog_init(&p);
    prog_emit(&p, enc_r(0x33, 0, 0, 10, 10, 12)); /* add a0, a0, a2 */
    prog_emit(&p, enc_r(0x33, 0, 0, 10, 10, 13)); /* add a0, a0, a3 */
    prog_exit(&p);
    load_prog(f, &p, 0);
    prog_exit_with(&p, 9);
    load_prog(f, &p, 15);

    const uint32_t args[4] = {30, 12, 0, 0};
    const uint64_t res_bus = FX_HOST_BASE + DATA_OFF + (2u << 20);
    push_launch(f, 0, 2, VTPU_LAUNCH_F_RESULT, res_bus, args);
    wait_idle(f);
    vtpu_launch_result r;
    memcpy(&r, f->host.mem + DATA_OFF + (2u << 20), sizeof(r));
    assert_int_equal(r.tc_exit[0], 42);
    assert_int_equal(r.tc_exit[1], 43);
    assert_int_equal(rd(f, VTPU_A_LAST_EXIT), 42);
    push_launch(f, 15, 0, 0, 0, NULL);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_LAST_EXIT), 9);
    /* Slot 0 is still resident. */
    push_launch(f, 0, 1, 0, 0, args);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_LAST_EXIT), 42);
    /* More TCs than the chip has. */
    uint32_t i = push_launch(f, 0, 3, 0, 0, args);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_BAD_TCS);
    assert_int_equal(rd(f, VTPU_A_ERR_VALUE), 3);
    skip_and_continue(f, 1);
    /* A result address outside host memory: the launch ran, then the
     * write-back failed. */
    i = push_launch(f, 15, 0, VTPU_LAUNCH_F_RESULT, 0x8, NULL);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_HOST_DMA);
    assert_int_equal(rd(f, VTPU_A_LAST_EXIT), 9);
    skip_and_continue(f, 2);
    fx_free(f);
}

static void test_launch_fault(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    test_prog p;

    /* TC 0 and 1 both: nop; ebreak. */
    prog_init(&p);
    prog_emit(&p, rv_addi(0, 0, 0));
    prog_emit(&p, rv_ebreak());
    load_prog(f, &p, 1);
    const uint64_t res_bus = FX_HOST_BASE + DATA_OFF + (2u << 20);
    uint32_t i = push_launch(f, 1, 1, VTPU_LAUNCH_F_RESULT, res_bus, NULL);
    push_fence(f, 1, 0, 0);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_FAULT);
    assert_int_equal(rd(f, VTPU_A_ERR_KIND), VTPU_FAULT_EBREAK);
    assert_int_equal(rd(f, VTPU_A_ERR_TC), 0);
    assert_int_equal(rd(f, VTPU_A_ERR_PC), VTPU_IMEM_BASE + 4);
    char msg[VTPU_ERR_MSG_SIZE];
    err_msg(f, msg, sizeof(msg));
    assert_non_null(strstr(msg, "ebreak"));
    vtpu_launch_result r;
    memcpy(&r, f->host.mem + DATA_OFF + (2u << 20), sizeof(r));
    assert_int_equal(r.status, VTPU_E_FAULT);
    skip_and_continue(f, 1);

    /* Scalar store into VMEM names the space and address. */
    prog_init(&p);
    prog_li(&p, 5, VTPU_VMEM_BASE + 0x100);
    prog_emit(&p, enc_s(0x23, 2, 5, 0, 0)); /* sw zero, 0(t0) */
    prog_exit(&p);
    load_prog(f, &p, 1);
    i = push_launch(f, 1, 1, 0, 0, NULL);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_FAULT);
    assert_int_equal(rd(f, VTPU_A_ERR_KIND), VTPU_FAULT_SCALAR_VMEM);
    assert_int_equal(rd(f, VTPU_A_ERR_SPACE), VTPU_ESPACE_VMEM);
    assert_int_equal(rd64(f, VTPU_A_ERR_ADDR_LO), VTPU_VMEM_BASE + 0x100);
    assert_int_equal(rd(f, VTPU_A_ERR_PC), VTPU_IMEM_BASE + 8);
    skip_and_continue(f, 2);
    fx_free(f);
}

/* ---- reset ---- */

static void check_reset_state(fx *f)
{
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
    static const uint32_t zero[] = {
        VTPU_A_CONTROL,      VTPU_A_RING_BASE_LO, VTPU_A_RING_BASE_HI,
        VTPU_A_RING_SIZE,    VTPU_A_RING_HEAD,    VTPU_A_RING_TAIL,
        VTPU_A_FENCE,        VTPU_A_INT_STATUS,   VTPU_A_INT_ENABLE,
        VTPU_A_ERR_CODE,     VTPU_A_ERR_COUNT,    VTPU_A_CMD_COUNT,
        VTPU_A_LAUNCH_COUNT, VTPU_A_LAST_EXIT,    VTPU_A_APERTURE_BASE_LO,
        VTPU_A_SCRATCH,      VTPU_A_BYTES_IN_LO,  VTPU_A_TC_INSTRET_LO,
        VTPU_A_ERR_MSG,      VTPU_A_LAT_WAKE,     VTPU_A_LAT_BUSY,
        VTPU_A_LAT_EXEC,     VTPU_A_LAT_RUN,      VTPU_A_LAT_IRQ,
        VTPU_A_LAT_DELIVER,
    };
    for (size_t k = 0; k < sizeof(zero) / sizeof(zero[0]); k++)
        assert_int_equal(rd(f, zero[k]), 0);
    assert_int_equal(rd(f, VTPU_A_ERR_INDEX), VTPU_ERR_NONE32);
    assert_int_equal(vtpu_dev_irq_level(f->dev), 0);
    assert_int_equal(atomic_load(&f->host.irq), 0);
    for (unsigned s = 0; s < VTPU_MAX_PROGRAMS; s++)
        assert_false(vtpu_chip_has_program(f->chip, s));
}

/* Bring a reset device back up with a fresh ring. */
static void restart(fx *f)
{
    enable_ring(f);
    push_fence(f, 77, 0, 0);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 77);
}

static void test_reset_idle_and_error(void **state)
{
    (void)state;
    fx *f = fx_new(false, 8);

    wr(f, VTPU_A_SCRATCH, 5);
    wr(f, VTPU_A_INT_ENABLE, VTPU_INT_ALL);
    wr(f, VTPU_A_APERTURE_BASE_LO, 0x3000);
    test_prog p;
    prog_exit_with(&p, 1);
    load_prog(f, &p, 2);
    vtpu_cmd bad = mk(0x66, 0);
    push(f, &bad);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_ERROR);
    assert_int_equal(atomic_load(&f->host.irq), 1);
    wr(f, VTPU_A_CONTROL,
       VTPU_FMASK(CONTROL, RESET) | VTPU_FMASK(CONTROL, ENABLE));
    check_reset_state(f);
    /* HBM survives a soft reset (the ELF staged there). */
    uint8_t magic[4];
    vtpu_hbm_read(f->chip, ELF_HBM, magic, 4);
    assert_memory_equal(magic, "\177ELF", 4);
    restart(f);
    uint32_t i = push_launch(f, 2, 0, 0, 0, NULL);
    expect_error(f, i, VTPU_OP_LAUNCH, VTPU_E_NO_PROGRAM);
    fx_free(f);
}

/* Soft reset while a long FILL and more commands are queued. */
static void test_reset_mid_stream(void **state)
{
    (void)state;
    fx *f = fx_create("v5p", "2G", NULL, 16);

    vtpu_cmd fill = mk(VTPU_OP_FILL, 0);
    fill.len = 3ull << 29; /* ~1 s of page faults: the reset cuts it */
    fill.arg = 0x01010101;
    push(f, &fill);
    for (uint32_t k = 1; k <= 10; k++)
        push_fence(f, k, VTPU_FENCE_F_IRQ, 0);
    usleep(20000); /* let the worker get into the FILL */
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_BUSY);
    gint64 t0 = g_get_monotonic_time();
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    uint32_t st = rd(f, VTPU_A_STATUS);
    assert_true(st == VTPU_STATE_RESETTING || st == VTPU_STATE_DISABLED);
    /* Writes during the reset are ignored and logged as guest errors.  On
     * a loaded host the reset may already be over when the write lands:
     * then it is an ordinary write, and no guest error is logged. */
    unsigned errs = atomic_load(&f->host.guest_errors);
    wr(f, VTPU_A_SCRATCH, 9);
    bool ignored = atomic_load(&f->host.guest_errors) > errs;
    wait_idle(f);
    assert_true(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC);
    assert_int_equal(rd(f, VTPU_A_SCRATCH), ignored ? 0 : 9);
    wr(f, VTPU_A_SCRATCH, 0);
    check_reset_state(f);
    restart(f);
    fx_free(f);
}

/* ---- latency probes and the doorbell ---- */

/*
 * The LAT_* probes tell apart where a round trip went: the worker is
 * held in its ring fetch for 30 ms, so that time must show in LAT_EXEC
 * and LAT_BUSY and not in LAT_WAKE; a second doorbell while the worker
 * is busy does not restart the busy period; the embedder's delivery
 * report sets LAT_DELIVER once; a launch sets LAT_RUN; reset clears all.
 */
static void test_latency_probes(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    const uint32_t hold_ns = 30 * 1000 * 1000;

    assert_true(rd(f, VTPU_A_CAPS) & VTPU_FMASK(CAPS, LATENCY));
    assert_int_equal(rd(f, VTPU_A_LAT_WAKE), 0);
    assert_int_equal(rd(f, VTPU_A_LAT_DELIVER), 0);
    wr(f, VTPU_A_LAT_WAKE, 5); /* read-only */
    assert_int_equal(rd(f, VTPU_A_LAT_WAKE), 0);

    wr(f, VTPU_A_INT_ENABLE, VTPU_FMASK(INT, FENCE));
    atomic_store(&f->host.read_gate, true);
    push_fence(f, 1, VTPU_FENCE_F_IRQ, 0);
    usleep(hold_ns / 2000);
    push_fence(f, 2, VTPU_FENCE_F_IRQ, 0); /* a doorbell while busy */
    usleep(hold_ns / 2000);
    atomic_store(&f->host.read_gate, false);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 2);
    uint32_t wake = rd(f, VTPU_A_LAT_WAKE), busy = rd(f, VTPU_A_LAT_BUSY);
    uint32_t exec = rd(f, VTPU_A_LAT_EXEC), irq = rd(f, VTPU_A_LAT_IRQ);
    /* the worker woke at once and waited in its fetch of fence 1 */
    assert_true(wake < hold_ns / 2);
    assert_true(busy >= hold_ns && busy < UINT32_MAX);
    assert_true(exec <= busy);
    assert_true(irq > 0 && irq < busy);
    assert_int_equal(rd(f, VTPU_A_LAT_RUN), 0);

    /* delivery: the first report after the raise counts, once */
    assert_int_equal(rd(f, VTPU_A_LAT_DELIVER), 0);
    usleep(5000);
    vtpu_dev_irq_delivered(f->dev);
    uint32_t deliver = rd(f, VTPU_A_LAT_DELIVER);
    assert_true(deliver >= 5000000u);
    vtpu_dev_irq_delivered(f->dev);
    assert_int_equal(rd(f, VTPU_A_LAT_DELIVER), deliver);

    /* a launch: LAT_RUN within the busy period it belongs to */
    test_prog p;
    prog_exit_with(&p, 0);
    load_prog(f, &p, 1);
    push_launch(f, 1, 0, 0, 0, NULL);
    push_fence(f, 3, 0, 0);
    wait_idle(f);
    uint32_t run = rd(f, VTPU_A_LAT_RUN);
    assert_true(run > 0 && run <= rd(f, VTPU_A_LAT_BUSY));

    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    wait_idle(f);
    check_reset_state(f);
    fx_free(f);
}

/*
 * A hostile guest rings the doorbell in a tight loop: with the worker
 * busy (held in its fetch) every write returns without waiting for the
 * command, and with the ring idle a doorbell that adds nothing runs
 * nothing; the device still completes what it was given.
 */
static void test_doorbell_storm(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    const unsigned n = 200000;

    atomic_store(&f->host.read_gate, true);
    push_fence(f, 1, VTPU_FENCE_F_IRQ, 0);
    gint64 t0 = g_get_monotonic_time();
    for (unsigned i = 0; i < n; i++)
        wr(f, VTPU_A_RING_TAIL, f->tail);
    gint64 dt = g_get_monotonic_time() - t0;
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_BUSY);
    assert_int_equal(rd(f, VTPU_A_CMD_COUNT), 0);
    atomic_store(&f->host.read_gate, false);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 1);
    /* 200000 register writes: well under a second each way */
    assert_true(dt < 10 * G_USEC_PER_SEC);

    uint32_t cmds = rd(f, VTPU_A_CMD_COUNT);
    for (unsigned i = 0; i < n; i++)
        wr(f, VTPU_A_RING_TAIL, f->tail);
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_CMD_COUNT), cmds);
    assert_int_equal(rd(f, VTPU_A_ERR_CODE), 0);

    /* interleaved with real work: every fence still completes */
    for (uint32_t k = 2; k < 200; k++) {
        push_fence(f, k, 0, 0);
        for (unsigned i = 0; i < 50; i++)
            wr(f, VTPU_A_RING_TAIL, f->tail);
    }
    wait_idle(f);
    assert_int_equal(rd(f, VTPU_A_FENCE), 199);
    assert_int_equal(atomic_load(&f->host.guest_errors), 0);
    fx_free(f);
}

/*
 * A worker that polls for the next doorbell after a busy period
 * (vtpu_dev_opts.spin_ns) loses none: doorbells land before, during and
 * after the poll window (random gaps around its 100 us), each fence
 * completes; reset and free while it polls return.
 */
static void test_worker_spin(void **state)
{
    (void)state;
    vtpu_dev_opts opts = {.spin_ns = 100000};
    fx *f = fx_create("v5p", "16M", &opts, 16);
    uint64_t seed = 16;
    unsigned fast = 0;

    for (uint32_t k = 1; k <= 400; k++) {
        usleep(test_rand32(&seed) % 250);
        push_fence(f, k, 0, 0);
        wait_idle(f);
        assert_int_equal(rd(f, VTPU_A_FENCE), k);
        fast += rd(f, VTPU_A_LAT_WAKE) < 50000;
    }
    assert_true(fast > 0);
    /* reset and free right behind a command: the poll ends on its own */
    push_fence(f, 500, 0, 0);
    wait_idle(f);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    wait_idle(f);
    check_reset_state(f);
    restart(f);
    gint64 t0 = g_get_monotonic_time();
    fx_free(f);
    assert_true(g_get_monotonic_time() - t0 < G_USEC_PER_SEC);

    /* the bound: VTPU_DEV_SPIN_MAX */
    opts.spin_ns = UINT32_MAX;
    f = fx_create("v5p", "16M", &opts, 16);
    assert_int_equal(f->dev->spin_ns, VTPU_DEV_SPIN_MAX);
    push_fence(f, 1, 0, 0);
    wait_idle(f);
    fx_free(f);
}

/* Reset requested right behind the doorbell, before or while the worker
 * wakes for it: the reset always completes and the device comes back. */
static void test_reset_during_wake(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);

    for (uint32_t k = 1; k <= 300; k++) {
        push_fence(f, k, VTPU_FENCE_F_IRQ, 0);
        if (k % 3)
            usleep(k % 7); /* land the reset at varying points */
        wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
        wait_idle(f);
        assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_DISABLED);
        assert_int_equal(rd(f, VTPU_A_LAT_WAKE), 0);
        enable_ring(f);
    }
    restart(f);
    fx_free(f);
}

/* Soft reset while a kernel spins forever (no watchdog). */
static void test_reset_during_launch(void **state)
{
    (void)state;
    fx *f = fx_new(false, 8);
    test_prog p;

    prog_init(&p);
    prog_emit(&p, enc_j(0, 0)); /* j . */
    load_prog(f, &p, 0);
    push_launch(f, 0, 0, 0, 0, NULL);
    push_fence(f, 1, 0, 0);
    assert_int_equal(vtpu_dev_wait_idle(f->dev, 100), -1); /* it spins */
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_BUSY);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    wait_idle(f);
    check_reset_state(f);
    restart(f);

    /* The same through vtpu_dev_reset() (system reset). */
    load_prog(f, &p, 0);
    push_launch(f, 0, 0, 0, 0, NULL);
    usleep(20000);
    vtpu_dev_reset(f->dev);
    check_reset_state(f);

    /* And freeing the device stops a spinning launch too. */
    restart(f);
    load_prog(f, &p, 0);
    push_launch(f, 0, 0, 0, 0, NULL);
    usleep(20000);
    fx_free(f);
}

/*
 * A kernel that never ends by itself: TC0 waits on a semaphore nothing
 * signals, TC1 spins (no watchdog, and no deadlock while TC1 runs).
 */
static void prog_stuck(test_prog *p)
{
    prog_init(p);
    prog_li(p, 6, 1);                         /* li t1, 1 */
    prog_emit(p, enc_b(1, 10, 0, 16));        /* bnez a0, spin */
    prog_emit(p, enc_r(0x7b, 3, 0, 0, 0, 6)); /* sem.wait 0, t1 */
    prog_li(p, 10, 0);                        /* li a0, 0 (never) */
    prog_emit(p, enc_j(0, 0));                /* spin: j . */
}

/* Microseconds since t0. */
static int64_t since(gint64 t0)
{
    return g_get_monotonic_time() - t0;
}

/*
 * Resets racing with a launch's start, many times: the stop must reach
 * the run wherever the launch is (queued, in cmd_launch() before or
 * after it checks for a reset, starting its TCs, running, a TC asleep in
 * a semaphore wait).  Soft reset and system reset alternate; each must
 * finish within a bound.  The waits have no periodic re-asking to hide a
 * lost stop: one would hang here (alarm()).
 */
static void test_reset_races_launch(void **state)
{
    (void)state;
    fx *f = fx_new(false, 8);
    test_prog p;
    const unsigned rounds = 300;
    unsigned stopped_running = 0;
    int64_t worst = 0;

    alarm(120);
    prog_stuck(&p);
    for (unsigned k = 0; k < rounds; k++) {
        load_prog(f, &p, 0);
        /* TC1 shows STOPPED afterwards only if this round's run began. */
        f->chip->tcs[1]->state = VTPU_TC_IDLE;
        push_launch(f, 0, 0, 0, 0, NULL);
        switch (k % 5) { /* land anywhere from queued to running */
        case 0:
            break;
        case 1:
            g_thread_yield();
            break;
        default:
            g_usleep(50u << (2 * (k % 5 - 2))); /* 50, 200, 800 us */
        }
        gint64 t0 = g_get_monotonic_time();
        if (k % 2) {
            vtpu_dev_reset(f->dev);
        } else {
            wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
            wait_idle(f);
        }
        int64_t us = since(t0);
        worst = us > worst ? us : worst;
        assert_true(us < 2 * G_USEC_PER_SEC);
        check_reset_state(f);
        vtpu_tc_status st;
        assert_int_equal(vtpu_chip_tc_status(f->chip, 1, &st), 0);
        stopped_running += st.state == VTPU_TC_STATE_STOPPED;
        restart(f);
    }
    alarm(0);
    printf("reset racing launch: %u rounds, %u stopped a running kernel, "
           "slowest %lld us\n",
           rounds, stopped_running, (long long)worst);
    assert_true(stopped_running > 0);
    fx_free(f);
}

/* vtpu_dev_free() racing with a launch's start ends it just as well. */
static void test_free_races_launch(void **state)
{
    (void)state;
    test_prog p;

    alarm(120);
    prog_stuck(&p);
    for (unsigned k = 0; k < 20; k++) {
        fx *f = fx_new(false, 8);
        load_prog(f, &p, 0);
        push_launch(f, 0, 0, 0, 0, NULL);
        if (k % 2)
            g_usleep(100u * k);
        gint64 t0 = g_get_monotonic_time();
        vtpu_dev_free(f->dev);
        assert_true(since(t0) < 2 * G_USEC_PER_SEC);
        /* The chip is free of the device's stop: it runs on its own. */
        vtpu_run_result res;
        test_prog q;
        prog_exit_with(&q, 3);
        assert_int_equal(test_run(f->chip, &q, &res), 0);
        assert_int_equal(res.exit_code, 3);
        f->dev = NULL;
        fx_free(f);
    }
    alarm(0);
}

/* Two devices in one process do not share state. */
/*
 * VTPU_LAUNCH_F_COLLECTIVE: refused on a chip in no slice; on two devices
 * whose chips share a fabric, the launch waits for the other chip's,
 * a reset ends the wait (the device stays usable), and the fabric's
 * launch timeout fails it with a DEADLOCK fault that says why.
 */
static void test_collective_launch(void **state)
{
    (void)state;
    fx *a = fx_new(false, 16), *b = fx_new(false, 16);
    const uint64_t res_bus = FX_HOST_BASE + DATA_OFF + (2u << 20);
    test_prog p;
    char msg[VTPU_ERR_MSG_SIZE], err[128];

    prog_exit_with(&p, 9);
    load_prog(a, &p, 1);
    load_prog(b, &p, 1);
    /* No slice: refused, nothing ran. */
    uint32_t i = push_launch(a, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    push_fence(a, 1, 0, 0);
    expect_error(a, i, VTPU_OP_LAUNCH, VTPU_E_BAD_FLAGS);
    err_msg(a, msg, sizeof(msg));
    assert_non_null(strstr(msg, "collective launch on a chip in no slice"));
    assert_int_equal(rd(a, VTPU_A_LAUNCH_COUNT), 0);
    skip_and_continue(a, 2);

    vtpu_topology t;
    assert_int_equal(vtpu_topology_parse("2", &t, err, sizeof(err)), 0);
    vtpu_fabric *fab = vtpu_fabric_new(&t, err, sizeof(err));
    assert_non_null(fab);
    assert_int_equal(vtpu_fabric_attach(fab, 0, a->chip, err, sizeof(err)), 0);
    assert_int_equal(vtpu_fabric_attach(fab, 1, b->chip, err, sizeof(err)), 0);

    /* Launched on a only: it waits for b's launch, then both run. */
    push_launch(a, 1, 0, VTPU_LAUNCH_F_COLLECTIVE | VTPU_LAUNCH_F_RESULT,
                res_bus, NULL);
    push_fence(a, 3, 0, 0);
    assert_int_equal(vtpu_dev_wait_idle(a->dev, 100), -1);
    assert_int_equal(rd(a, VTPU_A_STATUS), VTPU_STATE_BUSY);
    assert_int_equal(rd(a, VTPU_A_FENCE), 2);
    push_launch(b, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    push_fence(b, 4, 0, 0);
    wait_idle(a);
    wait_idle(b);
    assert_int_equal(rd(a, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(a, VTPU_A_FENCE), 3);
    assert_int_equal(rd(b, VTPU_A_FENCE), 4);
    assert_int_equal(rd(a, VTPU_A_LAST_EXIT), 9);
    assert_int_equal(rd(b, VTPU_A_LAST_EXIT), 9);
    assert_int_equal(rd(a, VTPU_A_LAUNCH_COUNT), 1);
    vtpu_launch_result r;
    memcpy(&r, a->host.mem + DATA_OFF + (2u << 20), sizeof(r));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.tc_exit[0], 9);

    /* Launched on a only, then a is reset: the wait ends, a works. */
    push_launch(a, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    assert_int_equal(vtpu_dev_wait_idle(a->dev, 50), -1);
    wr(a, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    wait_idle(a);
    check_reset_state(a);
    restart(a);
    load_prog(a, &p, 1);

    /* With a launch timeout, the lone launch fails and says why. */
    vtpu_fabric_params fp;
    vtpu_fabric_get_params(fab, &fp);
    fp.launch_timeout_ms = 50;
    vtpu_fabric_set_params(fab, &fp);
    gint64 t0 = g_get_monotonic_time();
    i = push_launch(a, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    push_fence(a, 5, 0, 0);
    expect_error(a, i, VTPU_OP_LAUNCH, VTPU_E_FAULT);
    assert_true(g_get_monotonic_time() - t0 >= 50000);
    assert_int_equal(rd(a, VTPU_A_ERR_KIND), VTPU_ERR_DEADLOCK);
    err_msg(a, msg, sizeof(msg));
    assert_non_null(strstr(msg, "not every chip of the slice launched "
                                "within 50 ms"));
    skip_and_continue(a, 6);
    /* and a launch on both still runs */
    push_launch(a, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    push_launch(b, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    push_fence(a, 7, 0, 0);
    push_fence(b, 8, 0, 0);
    wait_idle(a);
    wait_idle(b);
    assert_int_equal(rd(a, VTPU_A_FENCE), 7);
    assert_int_equal(rd(b, VTPU_A_FENCE), 8);
    assert_int_equal(rd(a, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(b, VTPU_A_STATUS), VTPU_STATE_IDLE);

    /* b waits for a, which leaves the slice (a device unplugged): b's
     * launch ends instead of waiting for ever. */
    fp.launch_timeout_ms = 0;
    vtpu_fabric_set_params(fab, &fp);
    push_launch(b, 1, 0, VTPU_LAUNCH_F_COLLECTIVE, 0, NULL);
    push_fence(b, 9, 0, 0);
    assert_int_equal(vtpu_dev_wait_idle(b->dev, 50), -1);
    vtpu_fabric_detach(fab, 0);
    wait_idle(b);
    assert_int_equal(rd(b, VTPU_A_FENCE), 9);

    vtpu_fabric_detach(fab, 1);
    vtpu_fabric_free(fab);
    fx_free(a);
    fx_free(b);
}

static void test_two_devices(void **state)
{
    (void)state;
    fx *a = fx_new(false, 4), *b = fx_new(false, 4);

    push_fence(a, 11, 0, 0);
    push_fence(b, 22, 0, 0);
    wr(a, VTPU_A_SCRATCH, 1);
    wr(b, VTPU_A_SCRATCH, 2);
    wait_idle(a);
    wait_idle(b);
    assert_int_equal(rd(a, VTPU_A_FENCE), 11);
    assert_int_equal(rd(b, VTPU_A_FENCE), 22);
    assert_int_equal(rd(a, VTPU_A_SCRATCH), 1);
    assert_int_equal(rd(b, VTPU_A_SCRATCH), 2);
    fx_free(a);
    fx_free(b);
}

typedef struct hammer {
    fx *f;
    atomic_bool stop;
    unsigned id;
    uint32_t reads, mismatches; /* cmocka asserts only on the main thread */
} hammer;

/* Reads every register, toggles the interrupt mask, uses the aperture. */
static gpointer hammer_main(gpointer opaque)
{
    hammer *h = opaque;
    uint64_t seed = 99 + h->id;
    while (!atomic_load(&h->stop)) {
        uint32_t r = test_rand32(&seed);
        vtpu_dev_reg_read(h->f->dev, (r % 0x140) * 4, 4); /* some unmapped */
        vtpu_dev_reg_read(h->f->dev, VTPU_A_STATUS, 4);
        if (r % 16 == 0)
            wr(h->f, VTPU_A_INT_ENABLE, r >> 28);
        uint64_t off = 0xe00000 + 8 * (h->id * 1024 + (r >> 8) % 1024);
        vtpu_dev_aperture_write(h->f->dev, off, r, 8);
        if (vtpu_dev_aperture_read(h->f->dev, off, 8) != r)
            h->mismatches++;
        h->reads++;
    }
    return NULL;
}

/* Several threads on the MMIO interface while commands stream through. */
static void test_concurrent_mmio(void **state)
{
    (void)state;
    fx *f = fx_new(false, 16);
    hammer hs[3];
    GThread *th[3];

    for (unsigned i = 0; i < 3; i++) {
        hs[i] = (hammer){.f = f, .id = i};
        atomic_init(&hs[i].stop, false);
        th[i] = g_thread_new("hammer", hammer_main, &hs[i]);
    }
    for (uint32_t k = 1; k <= 3000; k++) {
        while (((rd(f, VTPU_A_RING_HEAD) - f->tail - 1) & 15) < 2)
            ;
        push_copy(f, VTPU_OP_COPY_D2D, 8 * k, 0x100000 + 8 * k, 8);
        push_fence(f, k, k % 3 ? VTPU_FENCE_F_IRQ : 0, 0);
    }
    wait_idle(f);
    for (unsigned i = 0; i < 3; i++) {
        atomic_store(&hs[i].stop, true);
        g_thread_join(th[i]);
        assert_true(hs[i].reads > 0);
        assert_int_equal(hs[i].mismatches, 0);
    }
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
    assert_int_equal(rd(f, VTPU_A_FENCE), 3000);
    assert_int_equal(rd(f, VTPU_A_CMD_COUNT), 6000);
    fx_free(f);
}

/* A value that is often interesting: small, near a boundary, or random. */
static uint64_t fuzz_value(uint64_t *seed)
{
    static const uint64_t edges[] = {
        0,
        1,
        4,
        64,
        4096,
        16u << 20,
        FX_HOST_BASE,
        FX_HOST_BASE + 64,
        UINT32_MAX,
        UINT64_MAX,
        UINT64_MAX - 63,
    };
    uint32_t r = test_rand32(seed);
    switch (r % 4) {
    case 0:
        return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
    case 1:
        return r >> 20; /* small */
    case 2:
        return FX_HOST_BASE + (r >> 12) % FX_HOST_SIZE;
    }
    return test_rand64(seed);
}

/*
 * Random register writes and random ring contents: the device never
 * crashes and a reset always brings it back (synchronous mode, so each
 * doorbell executes right away and the run is reproducible).
 */
static void test_fuzz(void **state)
{
    (void)state;
    static const uint32_t regs[] = {
        VTPU_A_CONTROL,    VTPU_A_RING_BASE_LO,     VTPU_A_RING_BASE_HI,
        VTPU_A_RING_SIZE,  VTPU_A_RING_TAIL,        VTPU_A_RING_TAIL,
        VTPU_A_RING_TAIL,  VTPU_A_ERR_ACK,          VTPU_A_INT_STATUS,
        VTPU_A_INT_ENABLE, VTPU_A_APERTURE_BASE_LO, VTPU_A_SCRATCH,
    };
    fx *f = fx_new(true, 16);
    uint64_t seed = 0x5eed;
    test_prog p;

    /* Give launches something to run. */
    prog_exit_with(&p, 3);
    load_prog(f, &p, 1);
    for (int iter = 0; iter < 20000; iter++) {
        uint32_t r = test_rand32(&seed);
        if (r % 3 == 0) {
            /* A random command somewhere in the first 64 entries. */
            vtpu_cmd c;
            c.hdr = (uint32_t)(r >> 8) % 10 | (r % 7 == 0 ? 0x100 : 0);
            if (c.hdr == VTPU_OP_FENCE || c.hdr == VTPU_OP_LAUNCH)
                c.hdr |= (r >> 24) % 8 << 8;
            c.arg = (uint32_t)fuzz_value(&seed) & (r % 5 ? 0x1ff : ~0u);
            c.src = fuzz_value(&seed);
            c.dst = fuzz_value(&seed);
            c.len = fuzz_value(&seed) % (r % 2 ? 64 : 1u << 22);
            c.addr = fuzz_value(&seed);
            if ((r >> 4) % 2) { /* plausible operands for the opcode */
                uint64_t host = FX_HOST_BASE + DATA_OFF + (c.src & 0xfffff);
                uint64_t hbm = c.dst % (8u << 20);
                c.src = c.hdr == VTPU_OP_COPY_H2D ? host : hbm / 2;
                c.dst = c.hdr == VTPU_OP_COPY_D2H ? host : hbm & ~3ull;
                c.len = (1 + c.len % 4096) * 4;
                c.addr = host;
                if ((c.hdr & 0xff) == VTPU_OP_LAUNCH)
                    c.arg = 1 | (c.arg % 3) << 8;
            }
            for (int i = 0; i < 4; i++)
                c.args[i] = test_rand32(&seed);
            c.ranges = c.addr; /* a table, when F_RANGES is set */
            put_cmd(f, (r >> 16) % 64, &c);
        } else if (r % 3 == 1) {
            uint32_t off = regs[(r >> 8) % (sizeof(regs) / sizeof(regs[0]))];
            uint32_t v = (uint32_t)fuzz_value(&seed);
            bool sane = (r >> 24) % 8; /* mostly plausible values */
            if (off == VTPU_A_CONTROL && sane)
                v = (r >> 20) % 8 != 0; /* enable, now and then disable */
            else if (off == VTPU_A_RING_BASE_LO && sane)
                v = (uint32_t)FX_HOST_BASE;
            else if (off == VTPU_A_RING_BASE_HI && sane)
                v = 0;
            else if (off == VTPU_A_RING_SIZE && sane)
                v = 16u << (r >> 20) % 3;
            else if (off == VTPU_A_RING_TAIL && sane)
                v %= 16;
            else if (off == VTPU_A_ERR_ACK && sane)
                v = 1 + (r >> 20) % 3;
            wr(f, off, v);
        } else {
            /* Any offset and size, reads and writes. */
            uint64_t off = fuzz_value(&seed) % 0x1400;
            unsigned size = 1u << ((r >> 8) % 4);
            if (r & 1)
                vtpu_dev_reg_read(f->dev, off, size);
            else if (off != VTPU_A_CONTROL)
                vtpu_dev_reg_write(f->dev, off, fuzz_value(&seed), size);
            vtpu_dev_aperture_read(f->dev, fuzz_value(&seed) % (1u << 25),
                                   size);
        }
        /* A driver that mostly acknowledges errors keeps the ring going. */
        if (rd(f, VTPU_A_STATUS) == VTPU_STATE_ERROR && (r >> 12) % 4)
            wr(f, VTPU_A_ERR_ACK,
               (r >> 14) % 4 ? VTPU_ACK_SKIP : VTPU_ACK_ABORT);
    }
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    check_reset_state(f);
    restart(f);
    /* The run did exercise both paths (numbers for seed 0x5eed). */
    assert_true(atomic_load(&f->host.cmds_done) > 300);
    assert_true(atomic_load(&f->host.cmd_errors) > 1000);
    assert_true(atomic_load(&f->host.guest_errors) > 1000);
    fx_free(f);
}

static void test_new_rejects(void **state)
{
    (void)state;
    vtpu_chip *chip = test_chip("v5e", 0);
    char err[256] = "";
    vtpu_dev_ops none = {0};
    vtpu_dev_opts odd = {.aperture_size = 3u << 20};

    assert_null(vtpu_dev_new(chip, &none, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "required"));
    assert_null(
        vtpu_dev_new(chip, &fake_host_ops, NULL, &odd, err, sizeof(err)));
    assert_non_null(strstr(err, "power of two"));
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_bad_register_access),
        cmocka_unit_test(test_interrupts),
        cmocka_unit_test(test_interrupt_rise_after_w1c),
        cmocka_unit_test(test_copies_fill_fence),
        cmocka_unit_test(test_large_copy),
        cmocka_unit_test(test_malformed_commands),
        cmocka_unit_test(test_error_abort_retry),
        cmocka_unit_test(test_ring_config_errors),
        cmocka_unit_test(test_ring_wrap),
        cmocka_unit_test(test_full_ring),
        cmocka_unit_test(test_synchronous_mode),
        cmocka_unit_test(test_aperture),
        cmocka_unit_test(test_launch_exit_code),
        cmocka_unit_test(test_launch_args_and_slots),
        cmocka_unit_test(test_launch_fault),
        cmocka_unit_test(test_reset_idle_and_error),
        cmocka_unit_test(test_reset_mid_stream),
        cmocka_unit_test(test_reset_during_launch),
        cmocka_unit_test(test_reset_races_launch),
        cmocka_unit_test(test_free_races_launch),
        cmocka_unit_test(test_two_devices),
        cmocka_unit_test(test_collective_launch),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_concurrent_mmio),
        cmocka_unit_test(test_new_rejects),
        cmocka_unit_test(test_latency_probes),
        cmocka_unit_test(test_doorbell_storm),
        cmocka_unit_test(test_reset_during_wake),
        cmocka_unit_test(test_worker_spin),
    };
    alarm(240); /* a hang fails the test instead of stalling the suite */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
