/*
 * test_drv.c - the driver's register and ring layer (driver/vtpu_drv.c)
 * over the host platform (driver/host_platform.c): probe and identity,
 * copies that round-trip random data, fill, the aperture, fences (by
 * interrupt and by polling), error decoding and each recovery path,
 * back-pressure on a full ring, reset.
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

#include "helpers.h"
#include "host_platform.h"
#include "vtpu_drv.h"

#define MS 1000000ull

typedef struct tfx {
    vtpu_host *host;
    const vtpu_platform *plat;
    vtpu_drv drv;
} tfx;

static tfx *tfx_new(const char *gen, bool sync, uint32_t entries,
                    uint64_t aperture)
{
    tfx *t = calloc(1, sizeof(*t));
    vtpu_config cfg;
    char err[256];

    assert_non_null(t);
    assert_int_equal(vtpu_config_preset(&cfg, gen, err, sizeof(err)), 0);
    assert_int_equal(vtpu_config_set(&cfg, "hbm-size", "64M", err, sizeof(err)),
                     0);
    vtpu_host_opts o = {.arena_size = 64u << 20,
                        .synchronous = sync,
                        .aperture_size = aperture};
    t->host = vtpu_host_new(&cfg, &o, err, sizeof(err));
    if (!t->host)
        fail_msg("vtpu_host_new: %s", err);
    t->plat = vtpu_host_platform(t->host);
    assert_int_equal(vtpu_drv_probe(&t->drv, t->plat), VTPU_DRV_OK);
    vtpu_drv_set_timeout(&t->drv, 20000 * MS);
    assert_int_equal(vtpu_drv_init(&t->drv, entries), VTPU_DRV_OK);
    return t;
}

static void tfx_free(tfx *t)
{
    vtpu_drv_fini(&t->drv);
    /* fini leaves the device reset: disabled, nothing pending. */
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_STATUS),
                     VTPU_STATE_DISABLED);
    vtpu_host_free(t->host);
    free(t);
}

typedef struct dbuf {
    uint8_t *cpu;
    uint64_t bus;
    size_t size;
} dbuf;

static dbuf dalloc(tfx *t, size_t size)
{
    dbuf b = {.size = size};
    b.cpu = t->plat->dma_alloc(t->plat->ctx, size, 64, &b.bus);
    assert_non_null(b.cpu);
    return b;
}

static void dfree(tfx *t, dbuf *b)
{
    t->plat->dma_free(t->plat->ctx, b->cpu, b->size);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)test_rand32(&seed);
}

static void format(tfx *t, char *buf, size_t len)
{
    vtpu_drv_format_error(vtpu_drv_last_error(&t->drv), buf, len);
}

#define ASSERT_CONTAINS(hay, needle)                                           \
    do {                                                                       \
        if (!strstr((hay), (needle)))                                          \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));       \
    } while (0)

/* Upload `len` bytes to HBM through a DMA bounce buffer. */
static void upload(tfx *t, uint64_t hbm, const void *data, size_t len)
{
    dbuf b = dalloc(t, len);
    memcpy(b.cpu, data, len);
    assert_int_equal(vtpu_drv_copy_to_hbm(&t->drv, hbm, b.bus, len), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    dfree(t, &b);
}

static void load(tfx *t, const test_prog *p, uint32_t slot)
{
    size_t len;
    void *elf = build_elf(p, &len);
    upload(t, 0x100000, elf, len);
    free(elf);
    assert_int_equal(vtpu_drv_load_program(&t->drv, slot, 0x100000, len), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
}

/* ------------------------------------------------------------------ */

static void test_probe_info(void **state)
{
    (void)state;
    tfx *t = tfx_new("v4", false, 0, 0);
    const vtpu_drv_info *in = vtpu_drv_info_get(&t->drv);
    const vtpu_config *cfg = vtpu_chip_config(vtpu_host_chip(t->host));

    assert_string_equal(in->gen, "v4");
    assert_int_equal(in->version_major, VTPU_VERSION_MAJOR);
    assert_int_equal(in->num_tcs, 2);
    assert_int_equal(in->hbm_size, 64u << 20);
    assert_int_equal(in->vmem_size, cfg->vmem_size);
    assert_int_equal(in->smem_size, cfg->smem_size);
    assert_int_equal(in->imem_size, cfg->imem_size);
    assert_int_equal(in->num_sems, cfg->num_sems);
    assert_int_equal(in->sublanes, 8);
    assert_int_equal(in->lanes, 128);
    assert_int_equal(in->elem_bits, 32);
    assert_int_equal(in->num_vregs, 32);
    assert_int_equal(in->num_masks, 8);
    assert_int_equal(in->mxu_dim, 128);
    assert_int_equal(in->mxu_count, cfg->mxu_count);
    assert_int_equal(in->prog_slots, VTPU_MAX_PROGRAMS);
    assert_int_equal(in->ring_max_entries, 65536);
    assert_int_equal(in->aperture_size, 16u << 20);
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_RING_SIZE), 256);
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_STATUS),
                     VTPU_STATE_IDLE);
    /* The ring sits above 4 GiB on the host platform. */
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_RING_BASE_HI), 1);

    /* Bad ring sizes; init twice. */
    vtpu_drv d2;
    assert_int_equal(vtpu_drv_probe(&d2, t->plat), 0);
    assert_int_equal(vtpu_drv_init(&d2, 3), VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_drv_init(&d2, 1u << 17), VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_drv_init(&t->drv, 8), VTPU_DRV_ESTATE);
    assert_int_equal(vtpu_drv_probe(NULL, t->plat), VTPU_DRV_EINVAL);
    tfx_free(t);
}

/* A platform wrapper that corrupts one register, to probe failures. */
typedef struct bad_bus {
    const vtpu_platform *real;
    uint32_t off, value;
} bad_bus;

static uint32_t bad_read32(void *ctx, unsigned bar, uint32_t off)
{
    bad_bus *b = ctx;
    if (bar == VTPU_BAR_REGS && off == b->off)
        return b->value;
    return b->real->read32(b->real->ctx, bar, off);
}

static void bad_write32(void *ctx, unsigned bar, uint32_t off, uint32_t v)
{
    bad_bus *b = ctx;
    b->real->write32(b->real->ctx, bar, off, v);
}

static void test_probe_failures(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 4, 0);
    bad_bus bb = {.real = t->plat};
    vtpu_platform p = *t->plat;
    vtpu_drv d;

    p.ctx = &bb;
    p.read32 = bad_read32;
    p.write32 = bad_write32;
    p.dma_alloc = t->plat->dma_alloc; /* ctx mismatch unused: no init */

    bb.off = VTPU_A_ID;
    bb.value = 0xffffffff; /* nothing on the bus */
    assert_int_equal(vtpu_drv_probe(&d, &p), VTPU_DRV_ENODEV);
    bb.off = VTPU_A_VERSION;
    bb.value = (VTPU_VERSION_MAJOR + 1) << 16;
    assert_int_equal(vtpu_drv_probe(&d, &p), VTPU_DRV_EVERSION);
    bb.value = VTPU_VERSION_MAJOR << 16 | 7; /* newer minor: fine */
    assert_int_equal(vtpu_drv_probe(&d, &p), VTPU_DRV_OK);
    assert_int_equal(vtpu_drv_info_get(&d)->version_minor, 7);
    bb.off = VTPU_A_SCRATCH;
    bb.value = 0;
    assert_int_equal(vtpu_drv_probe(&d, &p), VTPU_DRV_ENODEV);
    assert_string_equal(vtpu_drv_strerror(VTPU_DRV_ENODEV),
                        "no vtpu device found");
    tfx_free(t);
}

/* Copies round-trip random data: host -> HBM -> HBM -> host. */
static void roundtrip(tfx *t, uint64_t seed)
{
    const size_t n = (5u << 20) + 13;
    dbuf a = dalloc(t, n), b = dalloc(t, n);

    fill_random(a.cpu, n, seed);
    memset(b.cpu, 0, n);
    assert_int_equal(vtpu_drv_copy_to_hbm(&t->drv, 0x10, a.bus, n), 0);
    assert_int_equal(vtpu_drv_copy_hbm(&t->drv, 0x2000003, 0x10, n), 0);
    assert_int_equal(vtpu_drv_copy_from_hbm(&t->drv, b.bus, 0x2000003, n), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    assert_memory_equal(a.cpu, b.cpu, n);
    dfree(t, &a);
    dfree(t, &b);
}

static void test_copies(void **state)
{
    (void)state;
    /* Device on a worker thread / in the doorbell; waits by interrupt /
     * by polling. */
    for (int mode = 0; mode < 4; mode++) {
        tfx *t = tfx_new("v5p", mode & 1, 16, 0);
        vtpu_drv_use_irq(&t->drv, !(mode & 2));
        unsigned irqs = vtpu_host_irq_count(t->host);
        roundtrip(t, 100 + (uint64_t)mode);
        roundtrip(t, 200 + (uint64_t)mode);
        if (mode & 2)
            assert_int_equal(vtpu_host_irq_count(t->host), irqs);
        uint64_t n = (5u << 20) + 13;
        assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_BYTES_IN_LO), 2 * n);
        assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_BYTES_OUT_LO),
                         2 * n);
        tfx_free(t);
    }
}

/* A platform without interrupts: the driver polls. */
static void test_poll_platform(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 8, 0);
    vtpu_platform p = *t->plat;
    vtpu_drv d;

    vtpu_drv_fini(&t->drv);
    p.irq_wait = NULL;
    assert_int_equal(vtpu_drv_probe(&d, &p), 0);
    assert_int_equal(vtpu_drv_init(&d, 8), 0);
    assert_int_equal(vtpu_drv_read_reg(&d, VTPU_A_INT_ENABLE), 0);
    t->drv = d;
    roundtrip(t, 5);
    tfx_free(t);
}

static void test_fill_and_aperture(void **state)
{
    (void)state;
    /* A 4 KiB aperture makes every transfer move the window. */
    tfx *t = tfx_new("v5e", false, 8, 4096);
    static uint8_t buf[16384], back[16384];

    assert_int_equal(vtpu_drv_fill(&t->drv, 0x1000, 0x3000, 0xcafef00d), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    assert_int_equal(vtpu_drv_aperture_read(&t->drv, 0xffe, buf, 0x3004), 0);
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[1], 0);
    for (size_t i = 2; i < 0x3002; i += 4) {
        uint32_t w;
        memcpy(&w, buf + i, 4);
        assert_int_equal(w, 0xcafef00d);
    }
    assert_int_equal(buf[0x3002], 0);

    /* Unaligned write across window boundaries, read back by DMA. */
    fill_random(buf, sizeof(buf), 9);
    assert_int_equal(
        vtpu_drv_aperture_write(&t->drv, 0x20003, buf, sizeof(buf)), 0);
    dbuf b = dalloc(t, sizeof(buf) + 2);
    assert_int_equal(
        vtpu_drv_copy_from_hbm(&t->drv, b.bus, 0x20002, sizeof(buf) + 2), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    assert_memory_equal(b.cpu + 1, buf, sizeof(buf));
    assert_int_equal(b.cpu[0], 0); /* the byte before is untouched */
    assert_int_equal(b.cpu[sizeof(buf) + 1], 0);
    assert_int_equal(
        vtpu_drv_aperture_read(&t->drv, 0x20003, back, sizeof(back)), 0);
    assert_memory_equal(back, buf, sizeof(buf));
    dfree(t, &b);

    /* Out of HBM. */
    uint64_t hbm = vtpu_drv_info_get(&t->drv)->hbm_size;
    assert_int_equal(vtpu_drv_aperture_read(&t->drv, hbm - 2, back, 4),
                     VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_drv_aperture_read(&t->drv, hbm - 4, back, 4), 0);
    tfx_free(t);
}

static void test_fences(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 16, 0);
    dbuf wb = dalloc(t, 64);
    uint32_t s1, s2, s3;
    unsigned irqs = vtpu_host_irq_count(t->host);

    memset(wb.cpu, 0, 64);
    assert_int_equal(vtpu_drv_fence(&t->drv, &s1), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_fence_writeback(&t->drv, wb.bus + 8, &s2), 0);
    assert_int_equal(vtpu_drv_fence(&t->drv, &s3), 0);
    assert_true(s1 < s2 && s2 < s3);
    assert_int_equal(vtpu_drv_wait(&t->drv, s3), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, s1), 0); /* already done */
    assert_true(vtpu_drv_fence_done(&t->drv, s2));
    uint32_t v;
    memcpy(&v, wb.cpu + 8, 4);
    assert_int_equal(v, s2);
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_FENCE), s3);
    /* Waiting for something never submitted is a caller bug. */
    assert_int_equal(vtpu_drv_wait(&t->drv, s3 + 1), VTPU_DRV_EINVAL);
    assert_false(vtpu_drv_fence_done(&t->drv, s3 + 1));
    /* Fences with F_IRQ raised the line at least once. */
    assert_true(vtpu_host_irq_count(t->host) > irqs);
    dfree(t, &wb);
    tfx_free(t);
}

static void test_error_decode_and_skip(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 16, 0);
    char msg[600];
    uint32_t seq;

    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_copy_to_hbm(&t->drv, 0, 0x1234, 64), 0);
    assert_int_equal(vtpu_drv_fence(&t->drv, &seq), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, seq), VTPU_DRV_EDEVICE);
    const vtpu_drv_error *e = vtpu_drv_last_error(&t->drv);
    assert_int_equal(e->code, VTPU_E_HOST_DMA);
    assert_int_equal(e->index, 1);
    assert_int_equal(e->opcode, VTPU_OP_COPY_H2D);
    assert_int_equal(e->space, VTPU_ESPACE_HOST);
    assert_int_equal(e->addr, 0x1234);
    assert_int_equal(e->len, 64);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "command 1 (COPY_H2D) failed");
    ASSERT_CONTAINS(msg, "host memory not accessible");
    ASSERT_CONTAINS(msg, "host address 0x1234 (64 bytes)");
    ASSERT_CONTAINS(msg, "[device: ");
    assert_int_equal(vtpu_drv_check(&t->drv), VTPU_DRV_EDEVICE);

    /* SKIP: the fence behind the bad copy completes. */
    assert_int_equal(vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, seq), 0);
    assert_int_equal(vtpu_drv_check(&t->drv), 0);
    assert_int_equal(vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP),
                     VTPU_DRV_EINVAL); /* no error to recover from */
    assert_int_equal(vtpu_drv_recover(&t->drv, 9), VTPU_DRV_EINVAL);

    /* HBM out of range names HBM. */
    assert_int_equal(vtpu_drv_fill(&t->drv, 64u << 20, 4, 0), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "(FILL) failed: address range outside HBM, HBM "
                         "address 0x4000000 (4 bytes)");
    /* RETRY executes it again: same error. */
    assert_int_equal(vtpu_drv_recover(&t->drv, VTPU_ACK_RETRY), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    assert_int_equal(vtpu_drv_last_error(&t->drv)->opcode, VTPU_OP_FILL);
    assert_int_equal(vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    tfx_free(t);
}

static void test_error_abort(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 16, 0);
    uint32_t a, b;
    char msg[600];

    assert_int_equal(vtpu_drv_load_program(&t->drv, 99, 0, 16), 0);
    assert_int_equal(vtpu_drv_fence(&t->drv, &a), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_fence(&t->drv, &b), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, b), VTPU_DRV_EDEVICE);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "command 0 (LOAD_PROG) failed: program slot out "
                         "of range");
    assert_int_equal(vtpu_drv_recover(&t->drv, VTPU_ACK_ABORT), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, a), VTPU_DRV_ECANCELED);
    assert_int_equal(vtpu_drv_wait(&t->drv, b), VTPU_DRV_ECANCELED);
    assert_false(vtpu_drv_fence_done(&t->drv, b));
    /* The ring works afterwards; canceled fences stay canceled. */
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, b), VTPU_DRV_ECANCELED);
    tfx_free(t);
}

static void test_launch_errors(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5p", false, 16, 0);
    test_prog p;
    char msg[600];

    /* Launch of an empty slot. */
    vtpu_drv_launch_desc l = {.slot = 4};
    assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "(LAUNCH) failed: no program loaded in that slot");
    vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP);

    /* An image that is not ELF. */
    static const uint8_t junk[64] = "not an ELF file";
    upload(t, 0x100000, junk, sizeof(junk));
    assert_int_equal(vtpu_drv_load_program(&t->drv, 1, 0x100000, 64), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "(LOAD_PROG) failed: ELF image rejected");
    vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP);

    /* A kernel fault names TC, pc and the fault. */
    prog_init(&p);
    prog_emit(&p, rv_addi(0, 0, 0));
    prog_emit(&p, rv_ebreak());
    load(t, &p, 2);
    l = (vtpu_drv_launch_desc){.slot = 2, .num_tcs = 1};
    assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "command ");
    ASSERT_CONTAINS(msg, "(LAUNCH) failed: TC 0 faulted at pc 0x00100004: "
                         "breakpoint");
    vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP);

    /* exit(7) with check_exit, and the result record. */
    prog_init(&p);
    prog_li(&p, 10, 7);
    prog_exit(&p);
    load(t, &p, 3);
    dbuf res = dalloc(t, sizeof(vtpu_launch_result));
    l = (vtpu_drv_launch_desc){
        .slot = 3, .check_exit = 1, .want_result = 1, .result_bus = res.bus};
    assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    format(t, msg, sizeof(msg));
    ASSERT_CONTAINS(msg, "kernel exited with a non-zero code: TC 0 exited "
                         "with 7");
    vtpu_launch_result r;
    memcpy(&r, res.cpu, sizeof(r));
    assert_int_equal(r.status, VTPU_E_EXIT_CODE);
    assert_int_equal(r.exit_code, 7);
    assert_int_equal(r.num_tcs, 2);
    vtpu_drv_recover(&t->drv, VTPU_ACK_SKIP);
    /* Without check_exit the same launch is a success. */
    uint64_t before = vtpu_drv_instret(&t->drv, 1);
    l.check_exit = 0;
    assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_LAST_EXIT), 7);
    assert_true(vtpu_drv_instret(&t->drv, 1) > 0);
    assert_int_equal(vtpu_drv_instret(&t->drv, 8), 0);
    /* Per-TC counters of the last launch (TC_STAT_SEL/LO/HI). */
    assert_int_equal(vtpu_drv_tc_stat(&t->drv, 1, VTPU_TSTAT_INSTRET),
                     vtpu_drv_instret(&t->drv, 1) - before);
    assert_int_equal(vtpu_drv_tc_stat(&t->drv, 1, VTPU_TSTAT_DMA_STARTS), 0);
    assert_int_equal(vtpu_drv_tc_stat(&t->drv, 1, VTPU_TSTAT__COUNT), 0);
    assert_int_equal(vtpu_drv_tc_stat(&t->drv, 8, VTPU_TSTAT_INSTRET), 0);
    dfree(t, &res);

    /* Reset: the device is usable, programs are gone. */
    assert_int_equal(vtpu_drv_reset(&t->drv), 0);
    assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), VTPU_DRV_EDEVICE);
    assert_int_equal(vtpu_drv_last_error(&t->drv)->code, VTPU_E_NO_PROGRAM);
    tfx_free(t);
}

/* A program that counts a register down from `n`, then exits 0. */
static void prog_spin(test_prog *p, uint32_t n)
{
    prog_init(p);
    prog_li(p, 5, n);                 /* li t0, n */
    prog_emit(p, rv_addi(5, 5, -1));  /* 1: addi t0, t0, -1 */
    prog_emit(p, enc_b(1, 5, 0, -4)); /* bnez t0, 1b */
    prog_emit(p, rv_addi(10, 0, 0));  /* li a0, 0 */
    prog_exit(p);
}

/*
 * Back-pressure: a 4-entry ring holds 3 commands.  Behind a launch that
 * keeps the device busy, the 4th submission must wait for the launch to
 * finish instead of overwriting the ring.
 */
static void test_back_pressure(void **state)
{
    (void)state;
    for (int irq = 0; irq < 2; irq++) {
        tfx *t = tfx_new("v5e", false, 4, 0);
        test_prog p;

        vtpu_drv_use_irq(&t->drv, irq);
        prog_spin(&p, 20000000); /* ~40M instructions */
        load(t, &p, 0);
        vtpu_drv_launch_desc l = {.slot = 0};
        assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
        assert_int_equal(vtpu_drv_nop(&t->drv), 0);
        assert_int_equal(vtpu_drv_nop(&t->drv), 0);
        assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_LAUNCH_COUNT), 0);
        assert_int_equal(vtpu_drv_nop(&t->drv), 0); /* waits for room */
        assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_LAUNCH_COUNT), 1);
        /* Lots more through the small ring, each one checked. */
        dbuf b = dalloc(t, 64 * 1024);
        for (uint32_t k = 0; k < 64; k++) {
            memset(b.cpu + 1024 * k, (int)k, 1024);
            assert_int_equal(
                vtpu_drv_copy_to_hbm(&t->drv, 1024 * k, b.bus + 1024 * k, 1024),
                0);
        }
        /* Read back into another buffer: the copies above may still be
         * reading from b. */
        dbuf c = dalloc(t, 64 * 1024);
        memset(c.cpu, 0xee, 64 * 1024);
        assert_int_equal(vtpu_drv_copy_from_hbm(&t->drv, c.bus, 0, 64 * 1024),
                         0);
        assert_int_equal(vtpu_drv_sync(&t->drv), 0);
        assert_memory_equal(c.cpu, b.cpu, 64 * 1024);
        dfree(t, &c);
        assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_CMD_COUNT),
                         4 + 4 + 64 + 2);
        dfree(t, &b);
        tfx_free(t);
    }
}

/* A full ring behind a failed command: submit reports the error. */
static void test_full_ring_error(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 4, 0);

    assert_int_equal(vtpu_drv_copy_to_hbm(&t->drv, 0, 0x10, 4), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), VTPU_DRV_EDEVICE);
    assert_int_equal(vtpu_drv_last_error(&t->drv)->code, VTPU_E_HOST_DMA);
    assert_int_equal(vtpu_drv_recover(&t->drv, VTPU_ACK_ABORT), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    tfx_free(t);
}

/* A kernel that never ends: waits time out, reset gets the device back. */
static void test_timeout_and_reset(void **state)
{
    (void)state;
    tfx *t = tfx_new("v5e", false, 4, 0);
    test_prog p;
    uint32_t seq;

    prog_init(&p);
    prog_emit(&p, enc_j(0, 0)); /* j . */
    load(t, &p, 0);
    vtpu_drv_set_timeout(&t->drv, 50 * MS);
    vtpu_drv_launch_desc l = {.slot = 0};
    assert_int_equal(vtpu_drv_launch(&t->drv, &l), 0);
    assert_int_equal(vtpu_drv_fence(&t->drv, &seq), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, seq), VTPU_DRV_ETIMEDOUT);
    assert_int_equal(vtpu_drv_nop(&t->drv), 0);
    assert_int_equal(vtpu_drv_nop(&t->drv), VTPU_DRV_ETIMEDOUT); /* full */
    vtpu_drv_set_timeout(&t->drv, 20000 * MS);
    assert_int_equal(vtpu_drv_reset(&t->drv), 0);
    assert_int_equal(vtpu_drv_wait(&t->drv, seq), VTPU_DRV_ECANCELED);
    /* Fences completed before the reset still are. */
    assert_int_equal(vtpu_drv_wait(&t->drv, seq - 1), 0);
    assert_true(vtpu_drv_fence_done(&t->drv, 1));
    assert_int_equal(vtpu_drv_sync(&t->drv), 0);
    roundtrip(t, 77);
    tfx_free(t);
}

static void test_names(void **state)
{
    (void)state;
    vtpu_drv_error e;
    char msg[600];

    memset(&e, 0, sizeof(e));
    e.code = VTPU_E_FAULT;
    e.index = 12;
    e.opcode = VTPU_OP_LAUNCH;
    e.kind = VTPU_FAULT_OOB;
    e.tc = 1;
    e.pc = 0x100234;
    e.space = VTPU_ESPACE_VMEM;
    e.addr = 0x20400000;
    e.len = 4;
    vtpu_drv_format_error(&e, msg, sizeof(msg));
    assert_string_equal(msg, "command 12 (LAUNCH) failed: TC 1 faulted at "
                             "pc 0x00100234: out-of-bounds access, VMEM "
                             "address 0x20400000 (4 bytes)");
    e.index = VTPU_ERR_NONE32;
    e.code = VTPU_E_RING_POINTER;
    e.space = 0;
    vtpu_drv_format_error(&e, msg, sizeof(msg));
    assert_string_equal(msg, "ring error: ring tail out of range");
    /* Every code and kind has a name; unknown ones say so. */
    for (uint32_t c = 0; c < VTPU_E__COUNT; c++)
        assert_string_not_equal(vtpu_drv_error_name(c), "unknown error");
    for (uint32_t k = 0; k < VTPU_FAULT__COUNT; k++)
        assert_string_not_equal(vtpu_drv_fault_name(k), "unknown fault");
    assert_string_equal(vtpu_drv_error_name(999), "unknown error");
    assert_string_equal(vtpu_drv_opcode_name(0), "unknown opcode");
    for (int s = 0; s >= VTPU_DRV_ESTATE; s--)
        assert_string_not_equal(vtpu_drv_strerror(s), "unknown status");
    /* Truncation is safe. */
    assert_true(vtpu_drv_format_error(&e, msg, 5) > 5);
    assert_int_equal(strlen(msg), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_info),
        cmocka_unit_test(test_probe_failures),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_poll_platform),
        cmocka_unit_test(test_fill_and_aperture),
        cmocka_unit_test(test_fences),
        cmocka_unit_test(test_error_decode_and_skip),
        cmocka_unit_test(test_error_abort),
        cmocka_unit_test(test_launch_errors),
        cmocka_unit_test(test_back_pressure),
        cmocka_unit_test(test_full_ring_error),
        cmocka_unit_test(test_timeout_and_reset),
        cmocka_unit_test(test_names),
    };
    alarm(240); /* a hang fails the test instead of stalling the suite */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
