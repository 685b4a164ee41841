/* dev_fixture.c - see dev_fixture.h. */
#include "dev_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 20000

/* Host memory at bus address `addr`, or NULL if [addr, addr + len) is
 * not all in it. */
static uint8_t *host_at(fake_host *h, uint64_t addr, size_t len)
{
    if (addr < FX_HOST_BASE || addr - FX_HOST_BASE > FX_HOST_SIZE ||
        len > FX_HOST_SIZE - (addr - FX_HOST_BASE))
        return NULL;
    return h->mem + (addr - FX_HOST_BASE);
}

static int host_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    fake_host *h = opaque;
    for (int i = 0; atomic_load(&h->read_gate) && i < 200000; i++)
        usleep(10); /* a test holds the device's DMA here (20 s at most) */
    uint8_t *p = host_at(opaque, addr, len);
    if (!p)
        return -1;
    memcpy(buf, p, len);
    return 0;
}

static int host_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    uint8_t *p = host_at(opaque, addr, len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    return 0;
}

static void host_irq(void *opaque, int level)
{
    fake_host *h = opaque;
    atomic_store(&h->irq, level);
    atomic_fetch_add(&h->irq_changes, 1);
    if (level)
        atomic_fetch_add(&h->irq_raises, 1);
}

static void host_log(void *opaque, vtpu_log_class cls, const char *msg)
{
    fake_host *h = opaque;
    if (cls == VTPU_LOG_GUEST_ERROR)
        atomic_fetch_add(&h->guest_errors, 1);
    else if (cls == VTPU_LOG_CMD_ERROR)
        atomic_fetch_add(&h->cmd_errors, 1);
    else if (strstr(msg, ") done"))
        atomic_fetch_add(&h->cmds_done, 1);
}

static void host_output_ready(void *opaque)
{
    fake_host *h = opaque;
    atomic_fetch_add(&h->output_ready, 1);
}

const vtpu_dev_ops fake_host_ops = {
    .dma_read = host_read,
    .dma_write = host_write,
    .set_irq = host_irq,
    .log = host_log,
    .output_ready = host_output_ready,
};

fx *fx_create(const char *gen, const char *hbm, const vtpu_dev_opts *opts,
              uint32_t entries)
{
    fx *f = calloc(1, sizeof(*f));
    vtpu_config cfg;
    char err[256];

    assert_non_null(f);
    f->host.mem = calloc(1, FX_HOST_SIZE);
    assert_non_null(f->host.mem);
    assert_int_equal(vtpu_config_preset(&cfg, gen, err, sizeof(err)), 0);
    assert_int_equal(vtpu_config_set(&cfg, "hbm-size", hbm, err, sizeof(err)),
                     0);
    f->chip = vtpu_chip_new(&cfg, err, sizeof(err));
    assert_non_null(f->chip);
    f->dev =
        vtpu_dev_new(f->chip, &fake_host_ops, &f->host, opts, err, sizeof(err));
    if (!f->dev)
        fail_msg("vtpu_dev_new: %s", err);
    f->entries = entries;
    if (entries)
        enable_ring(f);
    return f;
}

void fx_free(fx *f)
{
    vtpu_dev_free(f->dev);
    vtpu_chip_free(f->chip);
    free(f->host.mem);
    free(f);
}

uint32_t rd(fx *f, uint32_t off)
{
    return (uint32_t)vtpu_dev_reg_read(f->dev, off, 4);
}

uint64_t rd64(fx *f, uint32_t lo)
{
    uint32_t l = rd(f, lo);
    return l | (uint64_t)rd(f, lo + 4) << 32;
}

void wr(fx *f, uint32_t off, uint32_t v)
{
    vtpu_dev_reg_write(f->dev, off, v, 4);
}

void wait_idle(fx *f)
{
    assert_int_equal(vtpu_dev_wait_idle(f->dev, WAIT_MS), 0);
}

void enable_ring(fx *f)
{
    f->tail = 0;
    wr(f, VTPU_A_RING_BASE_LO, (uint32_t)FX_HOST_BASE);
    wr(f, VTPU_A_RING_BASE_HI, (uint32_t)(FX_HOST_BASE >> 32));
    wr(f, VTPU_A_RING_SIZE, f->entries);
    wr(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
    assert_int_equal(rd(f, VTPU_A_STATUS), VTPU_STATE_IDLE);
}

vtpu_cmd mk(uint32_t op, uint32_t flags)
{
    vtpu_cmd c;
    memset(&c, 0, sizeof(c));
    c.hdr = op | flags << 8;
    return c;
}

void put_cmd(fx *f, uint32_t idx, const vtpu_cmd *c)
{
    memcpy(f->host.mem + (size_t)idx * VTPU_CMD_SIZE, c, sizeof(*c));
}

uint32_t push(fx *f, const vtpu_cmd *c)
{
    uint32_t idx = f->tail;
    put_cmd(f, idx, c);
    f->tail = (f->tail + 1) % f->entries;
    wr(f, VTPU_A_RING_TAIL, f->tail);
    return idx;
}

uint32_t push_load(fx *f, uint32_t slot, uint64_t src, uint64_t len)
{
    vtpu_cmd c = mk(VTPU_OP_LOAD_PROG, 0);
    c.arg = slot;
    c.src = src;
    c.len = len;
    return push(f, &c);
}
