/*
 * vtpu-selftest.c - the driver and runtime test suite, run in the guest
 * against the QEMU device: every command, fences, interrupts versus
 * polling, ring wrap-around, the HBM allocator, BAR2, module loading,
 * launches on 1 and 2 TCs, each device error reported and recovered
 * from, device reset and timeouts.
 *
 * One line per test ("ok"/"FAIL" and its guest time); device errors a
 * test provokes are printed as the driver formats them.  Exit status
 * (QEMU's exit code): the number of failed tests.  The tests that need
 * only the runtime (rt_copies, module_load, launch_*,
 * launch_kernel_error) are guest/common/selftest.c, shared with the Linux
 * user-space self-test (guest/linux-user/vtpu-selftest.c); the rest reach
 * registers, the ring or DMA memory and are bare-metal only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "kernels.h"
#include "selftest.h"
#include "tiny_elf.h"
#include "vtpu_rt.h"

#define MS 1000000ull
#define TIMEOUT_NS (30000 * MS)
#define SLOT_TINY 15 /* tiny hand-made programs; modules take low slots */

static guest_vtpu gv;
static vtpu_drv drv;
static vtpu_rt rt;
static vtpu_module mod;
/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

typedef struct dbuf {
    uint8_t *cpu;
    uint64_t bus;
    size_t size;
} dbuf;

static dbuf dalloc(size_t size)
{
    dbuf b = {.size = size};
    b.cpu = gv.plat.dma_alloc(gv.plat.ctx, size, 64, &b.bus);
    if (!b.cpu)
        guest_panic("out of DMA memory (%zu bytes)", size);
    return b;
}

static void dfree(dbuf *b)
{
    gv.plat.dma_free(gv.plat.ctx, b->cpu, b->size);
}

static const uint32_t prog_exit_a2[] = TINY_EXIT_A2;
static const uint32_t prog_spin[] = TINY_SPIN;
static const uint32_t prog_ebreak[] = TINY_EBREAK;
static const uint32_t prog_countdown[] = TINY_COUNTDOWN;

/* Put a tiny program into `slot` (through HBM at a runtime block). */
static int load_tiny(uint32_t slot, const uint32_t *words, size_t n)
{
    static uint8_t img[256];
    size_t len = tiny_elf(img, words, n);
    uint64_t hbm;
    int rc = vtpu_rt_alloc(&rt, len, 0, &hbm);
    if (!rc)
        rc = vtpu_rt_write(&rt, hbm, img, len);
    if (!rc)
        rc = vtpu_drv_load_program(&drv, slot, hbm, len);
    if (!rc)
        rc = vtpu_drv_sync(&drv);
    vtpu_rt_free(&rt, hbm);
    return rc;
}

/* The device stopped on `code` for the last command: print the driver's
 * line, leave the error state with `action`, and check it works again. */
#define EXPECT_DEVICE_ERROR(want_, act_)                                       \
    do {                                                                       \
        CHECK_EQ(vtpu_drv_sync(&drv), VTPU_DRV_EDEVICE);                       \
        const vtpu_drv_error *e_ = vtpu_drv_last_error(&drv);                  \
        char line_[400];                                                       \
        vtpu_drv_format_error(e_, line_, sizeof(line_));                       \
        st_note("-> %s", line_);                                                  \
        CHECK_EQ(e_->code, (want_));                                           \
        CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_STATUS) & 0xf,                 \
                 VTPU_STATE_ERROR);                                            \
        CHECK_OK(vtpu_drv_recover(&drv, (act_)));                              \
        CHECK_OK(vtpu_drv_sync(&drv));                                         \
        CHECK_EQ(vtpu_drv_check(&drv), VTPU_DRV_OK);                           \
    } while (0)

/* Driver + runtime + kernel module, with a ring of `entries`. */
static int fixture_up(uint32_t entries)
{
    int rc = vtpu_drv_init(&drv, entries);
    if (rc)
        return rc;
    vtpu_drv_set_timeout(&drv, TIMEOUT_NS);
    rc = vtpu_rt_init(&rt, &drv, NULL);
    if (rc)
        return rc;
    return vtpu_rt_module_load(&rt, &mod, vtpu_kernels_elf,
                               vtpu_kernels_elf_len);
}

static void fixture_down(void)
{
    vtpu_rt_fini(&rt);
    vtpu_drv_fini(&drv);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void test_probe_identity(void)
{
    const vtpu_drv_info *i = vtpu_drv_info_get(&drv);

    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_ID), VTPU_ID_MAGIC);
    CHECK_EQ(i->version_major, 1);
    CHECK(i->num_tcs >= 1 && i->num_tcs <= 8);
    CHECK(i->hbm_size >= (64ull << 20));
    CHECK_EQ(i->sublanes, 8);
    CHECK_EQ(i->lanes, 128);
    CHECK_EQ(i->aperture_size, gv.aperture_size);
    CHECK_EQ(gv.pci->class_rev >> 8, VTPU_PCI_CLASS << 8);
    CHECK_EQ(gv.pci->class_rev & 0xff, i->version_major);
    CHECK(gv.plic_src >= VIRT_PCI_IRQ_BASE &&
          gv.plic_src < VIRT_PCI_IRQ_BASE + 4);
}

static void test_bar0_scratch(void)
{
    static const uint32_t vals[] = {0, 0xffffffffu, 0xa5a5a5a5u, 0x12345678u};
    for (unsigned k = 0; k < 4; k++) {
        gv.plat.write32(gv.plat.ctx, VTPU_BAR_REGS, VTPU_A_SCRATCH, vals[k]);
        CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_SCRATCH), vals[k]);
    }
    /* the identity is read-only */
    gv.plat.write32(gv.plat.ctx, VTPU_BAR_REGS, VTPU_A_ID, 0);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_ID), VTPU_ID_MAGIC);
}

static void test_nop_and_fence(void)
{
    uint32_t c0 = vtpu_drv_read_reg(&drv, VTPU_A_CMD_COUNT), seq, seq2;

    CHECK_OK(vtpu_drv_nop(&drv));
    CHECK_OK(vtpu_drv_nop(&drv));
    CHECK_OK(vtpu_drv_fence(&drv, &seq));
    CHECK_OK(vtpu_drv_wait(&drv, seq));
    CHECK(vtpu_drv_fence_done(&drv, seq));
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_FENCE), seq);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_CMD_COUNT) - c0, 3);
    CHECK_OK(vtpu_drv_fence(&drv, &seq2));
    CHECK_EQ(seq2, seq + 1);
    CHECK_OK(vtpu_drv_wait(&drv, seq2));
    CHECK_OK(vtpu_drv_wait(&drv, seq)); /* an old fence stays done */
}

static void test_fence_writeback(void)
{
    dbuf b = dalloc(64);
    uint32_t seq;

    memset(b.cpu, 0, 64);
    CHECK_OK(vtpu_drv_fence_writeback(&drv, b.bus + 8, &seq));
    CHECK_OK(vtpu_drv_wait(&drv, seq));
    uint32_t v;
    memcpy(&v, b.cpu + 8, 4);
    CHECK_EQ(v, seq);
    CHECK_EQ(b.cpu[7], 0);
    CHECK_EQ(b.cpu[12], 0);
    dfree(&b);
}

static void test_copy_h2d_d2h(void)
{
    const size_t n = 256 * 1024 + 13;
    dbuf src = dalloc(n), dst = dalloc(n);
    uint64_t hbm;
    uint32_t in0 = vtpu_drv_read_reg(&drv, VTPU_A_BYTES_IN_LO);

    st_fill_pattern(src.cpu, n, 1);
    memset(dst.cpu, 0xee, n);
    CHECK_OK(vtpu_rt_alloc(&rt, n + 64, 0, &hbm));
    CHECK_OK(vtpu_drv_copy_to_hbm(&drv, hbm + 3, src.bus, n));
    CHECK_OK(vtpu_drv_copy_from_hbm(&drv, dst.bus, hbm + 3, n));
    CHECK_OK(vtpu_drv_sync(&drv));
    CHECK(memcmp(src.cpu, dst.cpu, n) == 0);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_BYTES_IN_LO) - in0, n);
    vtpu_rt_free(&rt, hbm);
    dfree(&src);
    dfree(&dst);
}

static void test_copy_d2d_fill(void)
{
    const size_t n = 8192;
    dbuf b = dalloc(n);
    uint64_t hbm;

    CHECK_OK(vtpu_rt_alloc(&rt, 3 * n, 0, &hbm));
    CHECK_OK(vtpu_drv_fill(&drv, hbm, n, 0xdeadbeefu));
    CHECK_OK(vtpu_drv_copy_hbm(&drv, hbm + n, hbm, n));
    CHECK_OK(vtpu_drv_fill(&drv, hbm + n + 16, 8, 0x01020304u));
    /* overlapping D2D copies like memmove */
    CHECK_OK(vtpu_drv_copy_hbm(&drv, hbm + 2 * n + 4, hbm + n, n - 4));
    CHECK_OK(vtpu_drv_copy_from_hbm(&drv, b.bus, hbm + n, n));
    CHECK_OK(vtpu_drv_sync(&drv));
    uint32_t w[6];
    memcpy(w, b.cpu + 12, sizeof(w));
    CHECK_EQ(w[0], 0xdeadbeefu);
    CHECK_EQ(w[1], 0x01020304u);
    CHECK_EQ(w[2], 0x01020304u);
    CHECK_EQ(w[3], 0xdeadbeefu);
    CHECK_OK(vtpu_rt_read(&rt, hbm + 2 * n + 4 + 16, w, 8));
    CHECK_EQ(w[0], 0x01020304u);
    vtpu_rt_free(&rt, hbm);
    dfree(&b);
}

/* A 4-entry ring (3 usable) through hundreds of commands: every
 * submission past the third waits for room; HEAD wraps many times. */
static void test_ring_wraparound(void)
{
    const uint32_t copies = 200, piece = 512;
    fixture_down();
    CHECK_OK(fixture_up(4));
    dbuf src = dalloc(copies * piece), dst = dalloc(copies * piece);
    uint64_t hbm;
    uint32_t c0 = vtpu_drv_read_reg(&drv, VTPU_A_CMD_COUNT);

    st_fill_pattern(src.cpu, copies * piece, 7);
    memset(dst.cpu, 0, copies * piece);
    CHECK_OK(vtpu_rt_alloc(&rt, copies * piece, 0, &hbm));
    for (uint32_t k = 0; k < copies; k++)
        CHECK_OK(vtpu_drv_copy_to_hbm(&drv, hbm + k * piece,
                                      src.bus + k * piece, piece));
    for (uint32_t k = 0; k < copies; k++)
        CHECK_OK(vtpu_drv_copy_from_hbm(&drv, dst.bus + k * piece,
                                        hbm + k * piece, piece));
    CHECK_OK(vtpu_drv_sync(&drv));
    CHECK(memcmp(src.cpu, dst.cpu, copies * piece) == 0);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_CMD_COUNT) - c0, 2 * copies + 1);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_RING_SIZE), 4);
    vtpu_rt_free(&rt, hbm);
    dfree(&src);
    dfree(&dst);
    fixture_down();
    CHECK_OK(fixture_up(256));
}

/* Launches that keep the device busy for milliseconds, waited for by
 * interrupt and by polling: both complete, every interrupt-mode wait
 * sleeps and is woken (by the interrupt, or the line's level), polling
 * takes no interrupt. */
static void test_irq_vs_polling(void)
{
    const int n = 5;
    vtpu_drv_launch_desc l = {.slot = SLOT_TINY, .num_tcs = 1};
    uint64_t t0, t_irq, t_poll, woke0, irq0;

    CHECK(gv.plat.irq_wait != NULL);
    CHECK_OK(load_tiny(SLOT_TINY, prog_countdown, 6));
    vtpu_drv_use_irq(&drv, 1);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_INT_ENABLE) &
                 VTPU_FMASK(INT, FENCE),
             VTPU_FMASK(INT, FENCE));
    woke0 = gv.irq_count + gv.irq_level_polls;
    t0 = guest_now_ns();
    for (int k = 0; k < n; k++) {
        CHECK_OK(vtpu_drv_launch(&drv, &l));
        CHECK_OK(vtpu_drv_sync(&drv));
    }
    t_irq = guest_now_ns() - t0;
    uint64_t woke = gv.irq_count + gv.irq_level_polls - woke0;
    CHECK(woke >= (uint64_t)n);

    vtpu_drv_use_irq(&drv, 0);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_INT_ENABLE), 0);
    irq0 = gv.irq_count;
    t0 = guest_now_ns();
    for (int k = 0; k < n; k++) {
        CHECK_OK(vtpu_drv_launch(&drv, &l));
        CHECK_OK(vtpu_drv_sync(&drv));
    }
    t_poll = guest_now_ns() - t0;
    CHECK_EQ(gv.irq_count, irq0);
    vtpu_drv_use_irq(&drv, 1);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_LAUNCH_COUNT) > 0, 1);
    st_note("%d launches of 2M instructions: by interrupt %llu us (%llu "
         "wake-ups), polling %llu us",
         n, (unsigned long long)(t_irq / 1000), (unsigned long long)woke,
         (unsigned long long)(t_poll / 1000));
}

static void test_hbm_allocator(void)
{
    const vtpu_heap *h = vtpu_rt_heap(&rt);
    uint64_t free0 = vtpu_heap_free_bytes(h), a, b, c, big;

    CHECK_OK(vtpu_rt_alloc(&rt, 1000, 4096, &a));
    CHECK_OK(vtpu_rt_alloc(&rt, 1 << 20, 0, &b));
    CHECK_OK(vtpu_rt_alloc(&rt, 24, 0, &c));
    CHECK_EQ(a % 4096, 0);
    CHECK(b >= a + 1000 && c >= b + (1 << 20));
    CHECK_EQ(vtpu_heap_size_of(h, a), 1000);
    CHECK_OK(vtpu_rt_free(&rt, b));
    CHECK_EQ(vtpu_rt_free(&rt, b), VTPU_RT_ENOTALLOC);
    /* first fit reuses the hole */
    uint64_t b2;
    CHECK_OK(vtpu_rt_alloc(&rt, 4096, 0, &b2));
    CHECK_EQ(b2, b);
    CHECK_EQ(vtpu_rt_alloc(&rt, vtpu_heap_largest_free(h) + 8, 0, &big),
             VTPU_RT_ENOHBM);
    CHECK(strstr(vtpu_rt_error(&rt), "largest free block") != NULL);
    CHECK_OK(vtpu_rt_free(&rt, a));
    CHECK_OK(vtpu_rt_free(&rt, b2));
    CHECK_OK(vtpu_rt_free(&rt, c));
    CHECK_EQ(vtpu_heap_free_bytes(h), free0);
    /* data in a block survives its neighbours' traffic */
    CHECK_OK(vtpu_rt_alloc(&rt, 64, 0, &a));
    CHECK_OK(vtpu_rt_fill(&rt, a, 64, 0x5a5a5a5au));
    CHECK_OK(vtpu_rt_alloc(&rt, 64, 0, &b));
    CHECK_OK(vtpu_rt_fill(&rt, b, 64, 0));
    uint32_t w;
    CHECK_OK(vtpu_rt_read(&rt, a + 60, &w, 4));
    CHECK_EQ(w, 0x5a5a5a5au);
    CHECK_OK(vtpu_rt_free(&rt, a));
    CHECK_OK(vtpu_rt_free(&rt, b));
}

/* BAR2: through the driver (moving APERTURE_BASE) and as plain CPU
 * loads/stores at the BAR's address, against ring copies. */
static void test_bar2_aperture(void)
{
    uint8_t in[300], out[300];
    uint64_t hbm;

    CHECK(gv.aperture != NULL && gv.aperture_size >= 4096);
    CHECK_OK(vtpu_rt_alloc(&rt, 1 << 20, 0, &hbm));
    st_fill_pattern(in, sizeof(in), 3);
    CHECK_OK(vtpu_drv_aperture_write(&drv, hbm + 5, in, sizeof(in)));
    memset(out, 0, sizeof(out));
    CHECK_OK(vtpu_rt_read(&rt, hbm + 5, out, sizeof(out)));
    CHECK(memcmp(in, out, sizeof(out)) == 0);
    st_fill_pattern(in, sizeof(in), 4);
    CHECK_OK(vtpu_rt_write(&rt, hbm + 4097, in, sizeof(in)));
    CHECK_OK(vtpu_drv_aperture_read(&drv, hbm + 4097, out, sizeof(out)));
    CHECK(memcmp(in, out, sizeof(out)) == 0);
    /* direct: point the window at the block and use the BAR's memory */
    gv.plat.write32(gv.plat.ctx, VTPU_BAR_REGS, VTPU_A_APERTURE_BASE_LO,
                    (uint32_t)hbm);
    gv.plat.write32(gv.plat.ctx, VTPU_BAR_REGS, VTPU_A_APERTURE_BASE_HI,
                    (uint32_t)(hbm >> 32));
    volatile uint64_t *ap = (volatile uint64_t *)gv.aperture;
    ap[16] = 0x0123456789abcdefull;
    uint64_t v;
    CHECK_OK(vtpu_rt_read(&rt, hbm + 128, &v, 8));
    CHECK_EQ(v, 0x0123456789abcdefull);
    CHECK_OK(vtpu_rt_fill(&rt, hbm + 256, 8, 0xcafef00du));
    CHECK_EQ(ap[32], 0xcafef00dcafef00dull);
    vtpu_rt_free(&rt, hbm);
}






/* The launch result record, LAST_EXIT, and F_CHECK_EXIT. */
static void test_launch_exit_code(void)
{
    dbuf res = dalloc(sizeof(vtpu_launch_result));
    unsigned tcs = vtpu_drv_info_get(&drv)->num_tcs;

    CHECK_OK(load_tiny(SLOT_TINY, prog_exit_a2, 3));
    vtpu_drv_launch_desc l = {.slot = SLOT_TINY,
                              .args = {7},
                              .want_result = 1,
                              .result_bus = res.bus};
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    CHECK_OK(vtpu_drv_sync(&drv));
    vtpu_launch_result r;
    memcpy(&r, res.cpu, sizeof(r));
    CHECK_EQ(r.exit_code, 7);
    CHECK_EQ(r.num_tcs, tcs);
    CHECK_EQ(r.tc_exit[tcs - 1], 7);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_LAST_EXIT), 7);
    CHECK(vtpu_drv_instret(&drv, 0) > 0);
    l.check_exit = 1;
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    EXPECT_DEVICE_ERROR(VTPU_E_EXIT_CODE, VTPU_ACK_SKIP);
    CHECK_EQ(vtpu_drv_last_error(&drv)->value, 7);
    dfree(&res);
}

static void submit_raw(uint32_t hdr, uint32_t arg, uint64_t src, uint64_t dst,
                       uint64_t len)
{
    vtpu_cmd c = {.hdr = hdr, .arg = arg, .src = src, .dst = dst, .len = len};
    int rc = vtpu_drv_submit(&drv, &c);
    if (rc)
        st_failf(__LINE__, "submit: %s", vtpu_drv_strerror(rc));
}

static void test_err_bad_opcode(void)
{
    submit_raw(0x7f, 0, 0, 0, 0);
    EXPECT_DEVICE_ERROR(VTPU_E_BAD_OPCODE, VTPU_ACK_SKIP);
}

static void test_err_bad_flags(void)
{
    submit_raw(VTPU_OP_NOP | 0x80u << 8, 0, 0, 0, 0);
    EXPECT_DEVICE_ERROR(VTPU_E_BAD_FLAGS, VTPU_ACK_SKIP);
}

static void test_err_bad_length(void)
{
    dbuf b = dalloc(64);
    CHECK_OK(vtpu_drv_copy_to_hbm(&drv, 0, b.bus, 0));
    EXPECT_DEVICE_ERROR(VTPU_E_BAD_LENGTH, VTPU_ACK_SKIP);
    dfree(&b);
}

static void test_err_bad_align(void)
{
    CHECK_OK(vtpu_drv_fill(&drv, 2, 64, 0));
    EXPECT_DEVICE_ERROR(VTPU_E_BAD_ALIGN, VTPU_ACK_SKIP);
}

static void test_err_hbm_range(void)
{
    dbuf b = dalloc(64);
    uint64_t end = vtpu_drv_info_get(&drv)->hbm_size;
    CHECK_OK(vtpu_drv_copy_to_hbm(&drv, end - 32, b.bus, 64));
    EXPECT_DEVICE_ERROR(VTPU_E_HBM_RANGE, VTPU_ACK_SKIP);
    CHECK_EQ(vtpu_drv_last_error(&drv)->addr, end - 32);
    dfree(&b);
}

/* Host memory the bus cannot reach: unmapped, and the UART (MMIO). */
static void test_err_host_dma(void)
{
    CHECK_OK(vtpu_drv_copy_to_hbm(&drv, 0, 0x7f0000000000ull, 64));
    EXPECT_DEVICE_ERROR(VTPU_E_HOST_DMA, VTPU_ACK_SKIP);
    CHECK_OK(vtpu_drv_copy_from_hbm(&drv, VIRT_UART_BASE, 0, 4));
    EXPECT_DEVICE_ERROR(VTPU_E_HOST_DMA, VTPU_ACK_SKIP);
}

static void test_err_bad_slot(void)
{
    CHECK_OK(vtpu_drv_load_program(&drv, 99, 0, 64));
    EXPECT_DEVICE_ERROR(VTPU_E_BAD_SLOT, VTPU_ACK_SKIP);
}

static void test_err_no_program(void)
{
    vtpu_drv_launch_desc l = {.slot = 14};
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    EXPECT_DEVICE_ERROR(VTPU_E_NO_PROGRAM, VTPU_ACK_SKIP);
}

static void test_err_bad_tcs(void)
{
    CHECK_OK(load_tiny(SLOT_TINY, prog_exit_a2, 3));
    vtpu_drv_launch_desc l = {.slot = SLOT_TINY,
                              .num_tcs = vtpu_drv_info_get(&drv)->num_tcs + 1};
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    EXPECT_DEVICE_ERROR(VTPU_E_BAD_TCS, VTPU_ACK_SKIP);
}

/* A TC fault names the TC, the pc and the fault. */
static void test_err_fault(void)
{
    CHECK_OK(load_tiny(SLOT_TINY, prog_ebreak, 2));
    vtpu_drv_launch_desc l = {.slot = SLOT_TINY, .num_tcs = 1};
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    EXPECT_DEVICE_ERROR(VTPU_E_FAULT, VTPU_ACK_SKIP);
    const vtpu_drv_error *e = vtpu_drv_last_error(&drv);
    CHECK_EQ(e->tc, 0);
    CHECK_EQ(e->pc, 0x00100004);
    CHECK_EQ(e->kind, VTPU_FAULT_EBREAK);
}

/* BAD_ELF, then the image fixed through BAR2 while the ring is stopped,
 * and RETRY runs the same LOAD_PROG again. */
static void test_err_bad_elf_retry(void)
{
    static uint8_t img[256];
    size_t len = tiny_elf(img, prog_exit_a2, 3);
    uint64_t hbm;

    CHECK_OK(vtpu_rt_alloc(&rt, 256, 0, &hbm));
    img[0] ^= 0xff; /* spoil the magic */
    CHECK_OK(vtpu_rt_write(&rt, hbm, img, len));
    img[0] ^= 0xff;
    CHECK_OK(vtpu_drv_load_program(&drv, SLOT_TINY, hbm, len));
    CHECK_EQ(vtpu_drv_sync(&drv), VTPU_DRV_EDEVICE);
    CHECK_EQ(vtpu_drv_last_error(&drv)->code, VTPU_E_BAD_ELF);
    char line[400];
    vtpu_drv_format_error(vtpu_drv_last_error(&drv), line, sizeof(line));
    st_note("-> %s", line);
    CHECK_OK(vtpu_drv_aperture_write(&drv, hbm, img, 4));
    CHECK_OK(vtpu_drv_recover(&drv, VTPU_ACK_RETRY));
    CHECK_OK(vtpu_drv_sync(&drv));
    vtpu_drv_launch_desc l = {.slot = SLOT_TINY, .num_tcs = 1, .args = {42}};
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    CHECK_OK(vtpu_drv_sync(&drv));
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_LAST_EXIT), 42);
    vtpu_rt_free(&rt, hbm);
}

/* ABORT drops the failed command and everything queued behind it. */
static void test_err_abort(void)
{
    uint32_t s1, s2;
    CHECK_OK(vtpu_drv_fill(&drv, 1, 4, 0)); /* BAD_ALIGN */
    CHECK_OK(vtpu_drv_fence(&drv, &s1));
    CHECK_OK(vtpu_drv_nop(&drv));
    CHECK_OK(vtpu_drv_fence(&drv, &s2));
    CHECK_EQ(vtpu_drv_wait(&drv, s2), VTPU_DRV_EDEVICE);
    CHECK_OK(vtpu_drv_recover(&drv, VTPU_ACK_ABORT));
    CHECK_EQ(vtpu_drv_wait(&drv, s1), VTPU_DRV_ECANCELED);
    CHECK_EQ(vtpu_drv_wait(&drv, s2), VTPU_DRV_ECANCELED);
    CHECK_OK(vtpu_drv_sync(&drv));
}

/* A doorbell past the ring: the write is ignored and reported. */
static void test_err_ring_pointer(void)
{
    uint32_t size = vtpu_drv_read_reg(&drv, VTPU_A_RING_SIZE);
    gv.plat.write32(gv.plat.ctx, VTPU_BAR_REGS, VTPU_A_RING_TAIL, size + 5);
    CHECK_EQ(vtpu_drv_check(&drv), VTPU_DRV_EDEVICE);
    const vtpu_drv_error *e = vtpu_drv_last_error(&drv);
    CHECK_EQ(e->code, VTPU_E_RING_POINTER);
    CHECK_EQ(e->value, size + 5);
    char line[400];
    vtpu_drv_format_error(e, line, sizeof(line));
    st_note("-> %s", line);
    CHECK_OK(vtpu_drv_recover(&drv, VTPU_ACK_SKIP));
    CHECK_OK(vtpu_drv_sync(&drv));
}

/* A kernel that never ends: the wait times out, the full ring too; a
 * reset cancels what was queued, empties the program slots, keeps HBM. */
static void test_timeout_and_reset(void)
{
    uint32_t seq, w = 0x600df00du;
    uint64_t hbm;

    CHECK_OK(vtpu_rt_alloc(&rt, 64, 0, &hbm));
    CHECK_OK(vtpu_rt_write(&rt, hbm, &w, 4));
    CHECK_OK(load_tiny(SLOT_TINY, prog_spin, 1));
    vtpu_drv_set_timeout(&drv, 100 * MS);
    vtpu_drv_launch_desc l = {.slot = SLOT_TINY, .num_tcs = 1};
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    CHECK_OK(vtpu_drv_fence(&drv, &seq));
    uint64_t t0 = guest_now_ns();
    CHECK_EQ(vtpu_drv_wait(&drv, seq), VTPU_DRV_ETIMEDOUT);
    uint64_t took = guest_now_ns() - t0;
    CHECK(took >= 100 * MS && took < 2000 * MS);
    CHECK_EQ(vtpu_drv_read_reg(&drv, VTPU_A_STATUS) & 0xf, VTPU_STATE_BUSY);
    vtpu_drv_set_timeout(&drv, TIMEOUT_NS);
    CHECK_OK(vtpu_drv_reset(&drv));
    CHECK_EQ(vtpu_drv_wait(&drv, seq), VTPU_DRV_ECANCELED);
    CHECK_OK(vtpu_drv_sync(&drv));
    w = 0;
    CHECK_OK(vtpu_rt_read(&rt, hbm, &w, 4));
    CHECK_EQ(w, 0x600df00du);
    l.slot = SLOT_TINY;
    CHECK_OK(vtpu_drv_launch(&drv, &l));
    EXPECT_DEVICE_ERROR(VTPU_E_NO_PROGRAM, VTPU_ACK_SKIP);
    vtpu_rt_free(&rt, hbm);
    /* the module is gone too: load it again for the tests after this */
    vtpu_rt_module_unload(&rt, &mod);
    CHECK_OK(
        vtpu_rt_module_load(&rt, &mod, vtpu_kernels_elf, vtpu_kernels_elf_len));
    st_run_add_sin(1, 2);
}

/* ------------------------------------------------------------------ */

/* Isolate the next test from whatever a failed one left. */
static int recover(void)
{
    vtpu_drv_set_timeout(&drv, TIMEOUT_NS);
    vtpu_drv_use_irq(&drv, 1);
    vtpu_rt_module_unload(&rt, &mod);
    if (vtpu_drv_reset(&drv) ||
        vtpu_rt_module_load(&rt, &mod, vtpu_kernels_elf,
                            vtpu_kernels_elf_len))
        return -1;
    return 0;
}

#define T ST_TEST
static const st_test tests[] = {
    T(probe_identity),   T(bar0_scratch),      T(nop_and_fence),
    T(fence_writeback),  T(copy_h2d_d2h),      T(copy_d2d_fill),
    T(ring_wraparound),  T(irq_vs_polling),    T(hbm_allocator),
    T(bar2_aperture),    T(rt_copies),         T(module_load),
    T(launch_1tc),       T(launch_all_tcs),    T(launch_exit_code),
    T(launch_kernel_error), T(err_bad_opcode), T(err_bad_flags),
    T(err_bad_length),   T(err_bad_align),     T(err_hbm_range),
    T(err_host_dma),     T(err_bad_slot),      T(err_no_program),
    T(err_bad_tcs),      T(err_fault),         T(err_bad_elf_retry),
    T(err_abort),        T(err_ring_pointer),  T(timeout_and_reset),
};

int main(void)
{
    const unsigned n = sizeof(tests) / sizeof(tests[0]);

    printf("vtpu-selftest: driver and runtime against the QEMU device\n");
    guest_pci_init();
    if (guest_vtpu_open(&gv, 1)) {
        printf("vtpu-selftest: no vtpu on PCI\n");
        return 1;
    }
    st = (st_env){.rt = &rt,
                  .mod = &mod,
                  .kernels_elf = vtpu_kernels_elf,
                  .kernels_len = vtpu_kernels_elf_len,
                  .selftest_elf = vtpu_selftest_elf,
                  .selftest_len = vtpu_selftest_elf_len,
                  .now_ns = guest_now_ns};
    int rc = vtpu_drv_probe(&drv, &gv.plat);
    if (!rc)
        rc = fixture_up(256);
    if (rc) {
        printf("vtpu-selftest: set-up failed: %s %s\n", vtpu_rt_strerror(rc),
               vtpu_rt_error(&rt));
        return 1;
    }
    const vtpu_drv_info *info = vtpu_drv_info_get(&drv);
    printf("device: %s, %u TCs, PLIC source %u\n", info->gen, info->num_tcs,
           gv.plic_src);
    uint64_t t_all = guest_now_ns();
    int failed = st_run_tests(tests, n, recover);
    if (failed < 0)
        return -failed;
    fixture_down();
    printf("vtpu-selftest: %u tests, %d failed, %llu ms; %llu interrupts, "
           "%llu waits ended by the line's level\n",
           n, failed, (unsigned long long)((guest_now_ns() - t_all) / MS),
           (unsigned long long)gv.irq_count,
           (unsigned long long)gv.irq_level_polls);
    return failed;
}
