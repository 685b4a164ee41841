/*
 * test_fabric_msg.c - the MPI transport's message codec
 * (tools/fabric-msg.c): random remote DMAs and signals encoded and
 * decoded back field for field; every malformed message (cut short,
 * longer than announced, wrong magic, kind, chips, TC, split flag)
 * refused with a reason; and 100,000 random mutations of valid messages
 * decoded and, when they decode, delivered to a real chip of a fabric
 * (vtpu_fabric_deliver_*), which must refuse or apply them and never
 * write outside the chip (ASan in `make check-asan`); every DMA also to
 * a twin chip in the two steps of a transport that receives straight
 * into the destination (vtpu_fabric_dma_landing, a copy to where it
 * says, vtpu_fabric_dma_landed), which must refuse exactly what the
 * first refuses and leave the same memories; and a receive in place that
 * got no data (landed, not written) writing and counting nothing and
 * holding the chip no longer.  Race information (a sender with --race):
 * encoded and decoded back; a clock block the header does not match
 * refused by the decoder; one that decodes but does not fit the slice
 * (its length, its epoch's agent and clock, its entries) refused by
 * vtpu_fabric_deliver_* and vtpu_fabric_dma_landing, changing nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fabric-msg.h"
#include "vtpu-map.h"
#include "vtpu-debug.h"
#include "vtpu-slice.h"
#include "vtpu.h"

static uint64_t rng = 14;

static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

/* A random, well-formed DMA of at most 4 KiB, 1..4 dims. */
static void random_dma(vtpu_remote_dma *d, uint8_t *data)
{
    memset(d, 0, sizeof(*d));
    d->dst_space = (uint8_t)(1 + rnd() % 3);
    d->dst_tc = (uint8_t)(rnd() % 2);
    d->ndims = (uint8_t)(1 + rnd() % 4);
    d->sem_tc = (uint8_t)(rnd() % 2);
    d->sem = rnd() % 16;
    d->dst = (uint64_t)rnd() << 8 | rnd() % 256;
    uint32_t bytes = 1;
    for (unsigned i = 0; i < 4; i++) {
        d->shape[i] = i < d->ndims ? 1 + rnd() % 4 : 0;
        if (i < d->ndims)
            bytes *= d->shape[i];
        if (i < 3)
            d->dst_stride[i] = (int64_t)(rnd() % 2048) - 1024;
    }
    d->bytes = bytes;
    d->src_pc = rnd();
    for (uint32_t i = 0; i < bytes; i++)
        data[i] = (uint8_t)rnd();
    d->data = data;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t msg[VTPU_MSG_HDR + 4096], data[4096];
    char err[256];
    vtpu_ici_msg m;

    for (int rep = 0; rep < 1000; rep++) {
        vtpu_remote_dma d;
        random_dma(&d, data);
        unsigned sc = rnd() % 8, st = rnd() % VTPU_MAX_TCS, dc = rnd() % 8;
        bool split = rep & 1;
        vtpu_msg_encode_dma(msg, sc, st, dc, &d, split);
        memcpy(msg + VTPU_MSG_HDR, data, d.bytes);
        size_t len = VTPU_MSG_HDR + (split ? 0 : d.bytes);
        assert_int_equal(vtpu_msg_decode(msg, len, 8, &m, err, sizeof(err)), 0);
        assert_int_equal(m.kind, VTPU_MSG_DMA);
        assert_int_equal(m.src_chip, sc);
        assert_int_equal(m.src_tc, st);
        assert_int_equal(m.dst_chip, dc);
        assert_int_equal(m.split, split);
        assert_int_equal(m.dma.dst_space, d.dst_space);
        assert_int_equal(m.dma.dst_tc, d.dst_tc);
        assert_int_equal(m.dma.ndims, d.ndims);
        assert_int_equal(m.dma.sem_tc, d.sem_tc);
        assert_int_equal(m.dma.sem, d.sem);
        assert_true(m.dma.dst == d.dst);
        for (unsigned i = 0; i < 3; i++)
            assert_true(m.dma.dst_stride[i] == d.dst_stride[i]);
        assert_memory_equal(m.dma.shape, d.shape, sizeof(d.shape));
        assert_int_equal(m.dma.bytes, d.bytes);
        assert_int_equal(m.dma.src_pc, d.src_pc);
        if (split)
            assert_null(m.dma.data);
        else
            assert_memory_equal(m.dma.data, data, d.bytes);

        uint32_t tc = rnd(), sem = rnd(), n = rnd();
        vtpu_msg_encode_signal(msg, sc, st, dc, tc, sem, n);
        assert_int_equal(
            vtpu_msg_decode(msg, VTPU_MSG_HDR, 8, &m, err, sizeof(err)), 0);
        assert_int_equal(m.kind, VTPU_MSG_SIGNAL);
        assert_int_equal(m.src_chip, sc);
        assert_int_equal(m.src_tc, st);
        assert_int_equal(m.dst_chip, dc);
        assert_int_equal(m.dst_tc, tc);
        assert_int_equal(m.sem, sem);
        assert_int_equal(m.n, n);
    }
}

/* decode must refuse buf[0, len) with a reason containing `want`. */
static void refused(const uint8_t *buf, size_t len, const char *want)
{
    char err[256] = "";
    vtpu_ici_msg m;
    if (vtpu_msg_decode(buf, len, 4, &m, err, sizeof(err)) != -1)
        fail_msg("accepted a bad message (%zu bytes), wanted '%s'", len, want);
    if (!strstr(err, want))
        fail_msg("reason '%s', wanted '%s'", err, want);
}

static void test_refused(void **state)
{
    (void)state;
    uint8_t msg[VTPU_MSG_HDR + 64], data[64];
    vtpu_remote_dma d = {.dst_space = VTPU_SPACE_HBM,
                         .ndims = 1,
                         .shape = {64},
                         .bytes = 64,
                         .data = data};
    memset(data, 7, sizeof(data));
    vtpu_msg_encode_dma(msg, 1, 0, 2, &d, false);
    memcpy(msg + VTPU_MSG_HDR, data, 64);
    for (size_t len = 0; len < VTPU_MSG_HDR; len++)
        refused(msg, len, "no ICI message");
    for (size_t len = VTPU_MSG_HDR; len < sizeof(msg); len++)
        refused(msg, len, "64 bytes announced");
    uint8_t bad[sizeof(msg)];
    memcpy(bad, msg, sizeof(msg));
    bad[0] ^= 1;
    refused(bad, sizeof(bad), "no ICI message");
    memcpy(bad, msg, sizeof(msg));
    bad[4] = 3;
    refused(bad, sizeof(bad), "unknown message kind 3");
    memcpy(bad, msg, sizeof(msg));
    bad[8] = 4; /* source chip 4 of 4 */
    refused(bad, sizeof(bad), "the slice has 4");
    memcpy(bad, msg, sizeof(msg));
    bad[16] = 200;
    refused(bad, sizeof(bad), "destination chip 200");
    memcpy(bad, msg, sizeof(msg));
    bad[12] = VTPU_MAX_TCS;
    refused(bad, sizeof(bad), "source TC");
    memcpy(bad, msg, sizeof(msg));
    bad[84] = 2;
    refused(bad, sizeof(bad), "split 2");
    bad[84] = 1; /* split, yet data behind the header */
    refused(bad, sizeof(bad), "split 1");
    vtpu_msg_encode_signal(bad, 0, 0, 1, 0, 1, 1);
    refused(bad, VTPU_MSG_HDR + 1, "a 97-byte signal");
}

/* A small v5p chip (1 MiB HBM, 64 KiB VMEM), attached as chip 1 of a
 * fabric of topology `topo`, the only chip in this process. */
static vtpu_fabric *chip1_of(const char *topo, vtpu_config *cfg,
                             vtpu_chip **chip)
{
    vtpu_topology t;
    char err[512];
    assert_int_equal(vtpu_config_preset(cfg, "v5p", NULL, 0), 0);
    cfg->hbm_size = 1u << 20;
    cfg->vmem_size = 64u << 10;
    assert_int_equal(vtpu_topology_parse(topo, &t, NULL, 0), 0);
    vtpu_fabric *f = vtpu_fabric_new(&t, err, sizeof(err));
    *chip = vtpu_chip_new(cfg, err, sizeof(err));
    assert_non_null(f);
    assert_non_null(*chip);
    assert_int_equal(vtpu_fabric_attach(f, 1, *chip, err, sizeof(err)), 0);
    return f;
}

/* Random mutations, decoded and delivered to chip 1 of a fabric of 4. */
static void test_mutations(void **state)
{
    (void)state;
    vtpu_config cfg;
    char err[512];
    vtpu_chip *chip, *chip2;
    vtpu_fabric *f = chip1_of("4", &cfg, &chip);
    /* the twin, fed in two steps */
    vtpu_fabric *f2 = chip1_of("4", &cfg, &chip2);
    const uint8_t *hbm2 = vtpu_chip_hbm_ptr(chip2);
    unsigned landed = 0;

    uint8_t msg[VTPU_MSG_HDR + 4096], data[4096];
    unsigned decoded = 0, applied = 0;
    for (int rep = 0; rep < 100000; rep++) {
        vtpu_remote_dma d;
        random_dma(&d, data);
        /* aim at memory that exists, sometimes */
        if (rnd() % 2) {
            uint64_t base = d.dst_space == VTPU_SPACE_HBM    ? 0
                            : d.dst_space == VTPU_SPACE_VMEM ? VTPU_VMEM_BASE
                                                             : VTPU_SMEM_BASE;
            d.dst = base + (rnd() % 8192) * 4;
        }
        size_t len = VTPU_MSG_HDR + d.bytes;
        if (rnd() % 4 == 0)
            vtpu_msg_encode_signal(msg, rnd() % 4, rnd() % 2, 1, rnd() % 3,
                                   rnd() % 40, rnd() % 3),
                len = VTPU_MSG_HDR;
        else
            vtpu_msg_encode_dma(msg, rnd() % 4, rnd() % 2, 1, &d, false);
        memcpy(msg + VTPU_MSG_HDR, data, d.bytes);
        unsigned flips = rnd() % 4;
        for (unsigned i = 0; i < flips; i++)
            msg[4 + rnd() % (VTPU_MSG_HDR - 4)] ^= (uint8_t)(1u << (rnd() % 8));
        if (rnd() % 16 == 0)
            len = rnd() % len;
        vtpu_ici_msg m;
        if (vtpu_msg_decode(msg, len, 4, &m, err, sizeof(err)))
            continue;
        decoded++;
        if (m.kind == VTPU_MSG_DMA && m.split)
            continue;
        int rc = m.kind == VTPU_MSG_DMA
                     ? vtpu_fabric_deliver_dma(f, m.src_chip, m.dst_chip,
                                               &m.dma, err, sizeof(err))
                     : vtpu_fabric_deliver_signal(f, m.src_chip, m.src_tc,
                                                  m.dst_chip, m.dst_tc, m.sem,
                                                  m.n, err, sizeof(err));
        assert_true(rc == 0 || rc == -1);
        applied += rc == 0;
        if (m.kind != VTPU_MSG_DMA) {
            vtpu_fabric_deliver_signal(f2, m.src_chip, m.src_tc, m.dst_chip,
                                       m.dst_tc, m.sem, m.n, err, sizeof(err));
            continue;
        }
        vtpu_dma_landing l = {(uint8_t *)1, NULL};
        int rc2 = vtpu_fabric_dma_landing(f2, m.src_chip, m.dst_chip, &m.dma,
                                          &l, err, sizeof(err));
        assert_true(rc2 == 0 || rc2 == -1);
        if (rc2) {
            assert_null(l.at);
        } else if (l.at) {
            assert_ptr_equal(l.chip, chip2);
            /* what an MPI receive into the destination does */
            if (m.dma.dst_space == VTPU_SPACE_HBM)
                assert_true(l.at >= hbm2 &&
                            l.at + m.dma.bytes <= hbm2 + cfg.hbm_size);
            memcpy(l.at, m.dma.data, m.dma.bytes);
            rc2 = vtpu_fabric_dma_landed(f2, m.src_chip, &m.dma, &l, true, err,
                                         sizeof(err));
            assert_null(l.chip);
            landed += rc2 == 0;
        } else {
            rc2 = vtpu_fabric_deliver_dma(f2, m.src_chip, m.dst_chip, &m.dma,
                                          err, sizeof(err));
        }
        assert_int_equal(rc2, rc);
    }
    /* both paths were exercised */
    assert_true(decoded > 1000);
    assert_true(applied > 100);
    assert_true(landed > 100);
    /* the twins' memories are the same bytes */
    static uint8_t a[1u << 20], b[1u << 20];
    assert_int_equal(vtpu_hbm_read(chip, 0, a, cfg.hbm_size), 0);
    assert_int_equal(vtpu_hbm_read(chip2, 0, b, cfg.hbm_size), 0);
    assert_memory_equal(a, b, cfg.hbm_size);
    for (unsigned tc = 0; tc < cfg.num_tcs; tc++) {
        static const vtpu_space sp[] = {VTPU_SPACE_VMEM, VTPU_SPACE_SMEM};
        static const char *name[] = {"VMEM", "SMEM"};
        uint32_t size[] = {cfg.vmem_size, cfg.smem_size};
        for (unsigned i = 0; i < 2; i++) {
            assert_true(size[i] <= sizeof(a));
            assert_int_equal(vtpu_mem_read(chip, tc, sp[i], 0, a, size[i]), 0);
            assert_int_equal(vtpu_mem_read(chip2, tc, sp[i], 0, b, size[i]), 0);
            if (memcmp(a, b, size[i]))
                fail_msg("TC %u's %s differs between the two ways", tc,
                         name[i]);
        }
    }
    vtpu_fabric_free(f);
    vtpu_chip_free(chip);
    vtpu_fabric_free(f2);
    vtpu_chip_free(chip2);
}

/* A receive in place that got no data lets the chip go and neither
 * writes nor counts; one that did, counts (ici_bytes_recv, as the
 * receive semaphore's signal); a detach afterwards returns (no hold
 * left behind). */
static void test_landing_let_go(void **state)
{
    (void)state;
    vtpu_config cfg;
    char err[512];
    vtpu_chip *chip;
    vtpu_fabric *f = chip1_of("2", &cfg, &chip);

    vtpu_remote_dma d = {.dst_space = VTPU_SPACE_HBM,
                         .ndims = 2,
                         .shape = {1024, 4},
                         .dst_stride = {1024},
                         .bytes = 4096,
                         .sem = 3,
                         .dst = 8192};
    vtpu_dma_landing l;
    vtpu_tc_stats st;
    uint8_t got[4096], want[4096];
    assert_int_equal(vtpu_fabric_dma_landing(f, 0, 1, &d, &l, err, sizeof(err)),
                     0);
    assert_ptr_equal(l.at, (uint8_t *)vtpu_chip_hbm_ptr(chip) + 8192);
    assert_ptr_equal(l.chip, chip);
    assert_int_equal(
        vtpu_fabric_dma_landed(f, 0, &d, &l, false, err, sizeof(err)), 0);
    assert_null(l.chip);
    assert_int_equal(vtpu_chip_tc_stats(chip, 0, &st), 0);
    assert_int_equal(st.ici_bytes_recv, 0);
    assert_int_equal(vtpu_hbm_read(chip, 8192, got, sizeof(got)), 0);
    memset(want, 0, sizeof(want));
    assert_memory_equal(got, want, sizeof(got));

    assert_int_equal(vtpu_fabric_dma_landing(f, 0, 1, &d, &l, err, sizeof(err)),
                     0);
    for (unsigned i = 0; i < sizeof(want); i++)
        want[i] = (uint8_t)rnd();
    memcpy(l.at, want, sizeof(want));
    assert_int_equal(
        vtpu_fabric_dma_landed(f, 0, &d, &l, true, err, sizeof(err)), 0);
    assert_int_equal(vtpu_chip_tc_stats(chip, 0, &st), 0);
    assert_int_equal(st.ici_bytes_recv, 4096);
    assert_int_equal(vtpu_hbm_read(chip, 8192, got, sizeof(got)), 0);
    assert_memory_equal(got, want, sizeof(got));

    /* strided: nothing to receive in place, nothing held */
    d.dst_stride[0] = 2048;
    assert_int_equal(vtpu_fabric_dma_landing(f, 0, 1, &d, &l, err, sizeof(err)),
                     0);
    assert_null(l.at);
    assert_null(l.chip);
    vtpu_fabric_detach(f, 1);
    vtpu_fabric_free(f);
    vtpu_chip_free(chip);
}

/* The race information of a DMA from chip 0 of a 2-chip slice: its
 * first lane (agent VTPU_MAX_TCS), clock 1. */
static unsigned race_of(vtpu_race_clock *rc, uint32_t *vc, unsigned n)
{
    memset(vc, 0, sizeof(uint32_t) * n);
    vc[0] = 3;            /* chip 0 TC 0 */
    vc[VTPU_MAX_TCS] = 1; /* the lane */
    *rc = (vtpu_race_clock){(uint32_t)VTPU_MAX_TCS << 22 | 1, n, 0, 2, vc};
    return n;
}

static void test_race_clock(void **state)
{
    (void)state;
    static uint8_t msg[VTPU_MSG_HDR + 4 * VTPU_RACE_MAX_AGENTS + 4096];
    static uint32_t vc[VTPU_RACE_MAX_AGENTS];
    static vtpu_ici_msg m;
    uint8_t data[4096], got[4096], zero[4096];
    vtpu_race_clock rc;
    char err[512];
    vtpu_config cfg;
    vtpu_chip *chip;
    vtpu_tc_stats st;

    /* round trips */
    unsigned n = race_of(&rc, vc, 1024);
    for (unsigned i = 0; i < n; i++)
        vc[i] = rnd() & 0x3fffff;
    vtpu_remote_dma d = {.dst_space = VTPU_SPACE_HBM,
                         .ndims = 1,
                         .shape = {4096},
                         .bytes = 4096,
                         .sem = 2,
                         .dst = 8192,
                         .data = data,
                         .race = &rc};
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)rnd();
    size_t rb = vtpu_msg_race_bytes(&rc);
    assert_int_equal(rb, 4096);
    vtpu_msg_encode_dma(msg, 0, 1, 1, &d, false);
    memcpy(msg + VTPU_MSG_HDR + rb, data, sizeof(data));
    size_t len = VTPU_MSG_HDR + rb + sizeof(data);
    assert_int_equal(vtpu_msg_decode(msg, len, 2, &m, err, sizeof(err)), 0);
    assert_ptr_equal(m.dma.race, &m.race);
    assert_int_equal(m.race.n, n);
    assert_int_equal(m.race.epoch, rc.epoch);
    assert_int_equal(m.race.tc, 1);
    assert_int_equal(m.race.nchips, 2);
    assert_memory_equal(m.race.vc, vc, rb);
    assert_memory_equal(m.dma.data, data, sizeof(data));
    vtpu_msg_encode_dma(msg, 0, 1, 1, &d, true); /* split: header + clock */
    assert_int_equal(
        vtpu_msg_decode(msg, VTPU_MSG_HDR + rb, 2, &m, err, sizeof(err)), 0);
    assert_null(m.dma.data);
    assert_memory_equal(m.race.vc, vc, rb);
    rc.epoch = 0;
    vtpu_msg_encode_signal_race(msg, 0, 1, 1, 0, 3, 7, &rc);
    assert_int_equal(
        vtpu_msg_decode(msg, VTPU_MSG_HDR + rb, 2, &m, err, sizeof(err)), 0);
    assert_int_equal(m.race.n, n);
    assert_memory_equal(m.race.vc, vc, rb);
    assert_null(m.dma.race);
    vtpu_msg_encode_signal(msg, 0, 1, 1, 0, 3, 7); /* none */
    assert_int_equal(
        vtpu_msg_decode(msg, VTPU_MSG_HDR, 2, &m, err, sizeof(err)), 0);
    assert_int_equal(m.race.n, 0);

    /* the decoder: a clock block the lengths do not match */
    vtpu_msg_encode_signal_race(msg, 0, 1, 1, 0, 3, 7, &rc);
    refused(msg, VTPU_MSG_HDR + rb - 4, "race clock of 1024");
    refused(msg, VTPU_MSG_HDR + rb + 4, "signal");
    put32(msg + 88, VTPU_RACE_MAX_AGENTS + 1);
    refused(msg, VTPU_MSG_HDR + rb + 4, "race clock of 1025");
    put32(msg + 88, 2u << 16); /* a chip count, no clock */
    refused(msg, VTPU_MSG_HDR, "2 chips");
    put32(msg + 88, 0);
    put32(msg + 92, 5); /* an epoch, no clock */
    refused(msg, VTPU_MSG_HDR, "epoch 0x5");
    rc.epoch = (uint32_t)VTPU_MAX_TCS << 22 | 1;
    vtpu_msg_encode_dma(msg, 0, 1, 1, &d, false);
    memcpy(msg + VTPU_MSG_HDR + rb, data, sizeof(data));
    refused(msg, len - 1, "4096 bytes announced");

    /* the engine: chip 1 of "2", race detection on */
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", NULL, 0), 0);
    vtpu_topology t;
    assert_int_equal(vtpu_topology_parse("2", &t, NULL, 0), 0);
    cfg.hbm_size = 1u << 20;
    cfg.vmem_size = 64u << 10;
    cfg.race = 1;
    vtpu_fabric *f = vtpu_fabric_new(&t, err, sizeof(err));
    chip = vtpu_chip_new(&cfg, err, sizeof(err));
    assert_non_null(f);
    assert_non_null(chip);
    assert_int_equal(vtpu_fabric_attach(f, 1, chip, err, sizeof(err)), 0);
    n = vtpu_fabric_race_agents(f);
    assert_int_equal(n, 1024); /* 512 agents for each of 2 chips */
    memset(zero, 0, sizeof(zero));

    /* malformed: each refused, the destination untouched */
    enum {
        LEN,
        AGENT_TC,
        AGENT_CHIP,
        CLOCK0,
        BEHIND,
        ENTRY,
        FROM,
        CHIPS,
        NBAD
    };
    static const char *want[] = {
        "race clock of 1023 agents, a slice of 2 chips has 1024",
        "is no DMA of chip 0",
        "is no DMA of chip 0",
        "is no DMA of chip 0",
        "is no DMA of chip 0",
        "past 0x3fffff",
        "is no DMA of chip 1",
        "from a slice of 4 chips, this one has 2"};
    for (unsigned bad = 0; bad < NBAD; bad++) {
        race_of(&rc, vc, n);
        unsigned src = 0;
        switch (bad) {
        case LEN:
            rc.n = n - 1;
            break;
        case AGENT_TC: /* chip 0's TC 1, not a DMA lane */
            rc.epoch = 1u << 22 | 1;
            vc[1] = 1;
            break;
        case AGENT_CHIP: /* chip 1's lane, from chip 0 */
            rc.epoch = (512u + VTPU_MAX_TCS) << 22 | 1;
            vc[512 + VTPU_MAX_TCS] = 1;
            break;
        case CLOCK0:
            rc.epoch = (uint32_t)VTPU_MAX_TCS << 22;
            break;
        case BEHIND: /* the clock does not have its own epoch */
            rc.epoch = (uint32_t)VTPU_MAX_TCS << 22 | 2;
            break;
        case ENTRY:
            vc[77] = 1u << 22;
            break;
        case FROM: /* a lane of chip 0 in a message from chip 1 */
            src = 1;
            break;
        case CHIPS: /* 4 chips have 1024 agents too, numbered otherwise */
            rc.nchips = 4;
            break;
        }
        vtpu_msg_encode_dma(msg, src, 0, 1, &d, false);
        memcpy(msg + VTPU_MSG_HDR + vtpu_msg_race_bytes(&rc), data,
               sizeof(data));
        len = VTPU_MSG_HDR + vtpu_msg_race_bytes(&rc) + sizeof(data);
        assert_int_equal(vtpu_msg_decode(msg, len, 2, &m, err, sizeof(err)), 0);
        err[0] = 0;
        assert_int_equal(vtpu_fabric_deliver_dma(f, m.src_chip, m.dst_chip,
                                                 &m.dma, err, sizeof(err)),
                         -1);
        if (!strstr(err, want[bad]))
            fail_msg("case %u: '%s', wanted '%s'", bad, err, want[bad]);
        vtpu_dma_landing l = {(uint8_t *)1, NULL};
        assert_int_equal(vtpu_fabric_dma_landing(f, m.src_chip, m.dst_chip,
                                                 &m.dma, &l, err, sizeof(err)),
                         -1);
        assert_null(l.at);
        assert_null(l.chip);
        /* as a signal (no epoch), by all a semaphore holds */
        rc.epoch = bad == LEN || bad == ENTRY || bad == CHIPS ? 0 : 1;
        vtpu_msg_encode_signal_race(msg, src, 0, 1, 0, 3, UINT32_MAX, &rc);
        assert_int_equal(
            vtpu_msg_decode(msg, VTPU_MSG_HDR + vtpu_msg_race_bytes(&rc), 2, &m,
                            err, sizeof(err)),
            0);
        assert_int_equal(vtpu_fabric_deliver_signal_race(
                             f, m.src_chip, m.src_tc, m.dst_chip, m.dst_tc,
                             m.sem, m.n, &m.race, err, sizeof(err)),
                         -1);
    }
    assert_int_equal(vtpu_hbm_read(chip, 8192, got, sizeof(got)), 0);
    assert_memory_equal(got, zero, sizeof(got));
    assert_int_equal(vtpu_chip_tc_stats(chip, 0, &st), 0);
    assert_int_equal(st.ici_bytes_recv, 0);
    /* no refused signal counted: the whole range is still free */
    race_of(&rc, vc, n);
    rc.epoch = 0;
    assert_int_equal(vtpu_fabric_deliver_signal_race(
                         f, 0, 0, 1, 0, 3, UINT32_MAX, &rc, err, sizeof(err)),
                     0);
    assert_int_equal(vtpu_fabric_deliver_signal_race(f, 0, 0, 1, 0, 3, 1, &rc,
                                                     err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "overflows"));
    /* and the well-formed DMA lands */
    race_of(&rc, vc, n);
    assert_int_equal(vtpu_fabric_deliver_dma(f, 0, 1, &d, err, sizeof(err)), 0);
    assert_int_equal(vtpu_hbm_read(chip, 8192, got, sizeof(got)), 0);
    assert_memory_equal(got, data, sizeof(got));
    assert_int_equal(vtpu_chip_tc_stats(chip, 0, &st), 0);
    assert_int_equal(st.ici_bytes_recv, 4096);
    vtpu_fabric_detach(f, 1);
    vtpu_fabric_free(f);
    vtpu_chip_free(chip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_landing_let_go),
        cmocka_unit_test(test_race_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
