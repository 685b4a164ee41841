/*
 * vtpu_drv.c - the driver's register and ring layer (contract in
 * vtpu_drv.h, device side in docs/registers.md).
 *
 * Waiting.  Every wait is the same loop (wait_until): acknowledge the
 * interrupt bits of interest, test the condition, then sleep on the
 * interrupt line (or poll).  Acknowledging *before* testing means an
 * event that lands after the test raises the line again, so no wake-up
 * is lost; an event before the test is seen by the test.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vtpu_drv.h"

#define DEFAULT_TIMEOUT_NS (30ull * 1000 * 1000 * 1000)
#define DEFAULT_RING 256u
#define RESET_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)

static uint32_t rd(vtpu_drv *d, uint32_t off)
{
    return d->plat->read32(d->plat->ctx, VTPU_BAR_REGS, off);
}

static void wr(vtpu_drv *d, uint32_t off, uint32_t val)
{
    d->plat->write32(d->plat->ctx, VTPU_BAR_REGS, off, val);
}

static uint64_t rd64(vtpu_drv *d, uint32_t lo)
{
    uint32_t l = rd(d, lo); /* LO first: counters latch HI on it */
    return l | (uint64_t)rd(d, lo + 4) << 32;
}

static uint64_t now(vtpu_drv *d)
{
    return d->plat->now_ns(d->plat->ctx);
}

static void dlog(vtpu_drv *d, const char *msg)
{
    if (d->plat && d->plat->log)
        d->plat->log(d->plat->ctx, msg);
}

/* Fence values wrap: a is at or after b. */
static int seq_reached(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

const char *vtpu_drv_strerror(int status)
{
    switch (status) {
    case VTPU_DRV_OK:
        return "success";
    case VTPU_DRV_ENODEV:
        return "no vtpu device found";
    case VTPU_DRV_EVERSION:
        return "unsupported vtpu register interface version";
    case VTPU_DRV_EINVAL:
        return "invalid argument";
    case VTPU_DRV_ENOMEM:
        return "out of DMA memory";
    case VTPU_DRV_ETIMEDOUT:
        return "timed out waiting for the device";
    case VTPU_DRV_EDEVICE:
        return "the device reported an error";
    case VTPU_DRV_ECANCELED:
        return "canceled by recovery or reset";
    case VTPU_DRV_ESTATE:
        return "device not initialised or ring stopped";
    }
    return "unknown status";
}

/* ------------------------------------------------------------------ */
/* Probe, reset, ring set-up                                            */
/* ------------------------------------------------------------------ */

int vtpu_drv_probe(vtpu_drv *d, const vtpu_platform *plat)
{
    if (!d || !plat || !plat->read32 || !plat->write32 || !plat->dma_alloc ||
        !plat->dma_free || !plat->now_ns)
        return VTPU_DRV_EINVAL;
    memset(d, 0, sizeof(*d));
    d->plat = plat;
    d->timeout_ns = DEFAULT_TIMEOUT_NS;
    d->use_irq = plat->irq_wait != NULL;
    d->next_seq = 1;

    if (rd(d, VTPU_A_ID) != VTPU_ID_MAGIC) {
        dlog(d, "vtpu: no vtpu at these registers (ID mismatch)");
        return VTPU_DRV_ENODEV;
    }
    vtpu_drv_info *in = &d->info;
    uint32_t v = rd(d, VTPU_A_VERSION);
    in->version_major = VTPU_FEX(v, VERSION, MAJOR);
    in->version_minor = VTPU_FEX(v, VERSION, MINOR);
    if (in->version_major != VTPU_VERSION_MAJOR) {
        char m[96];
        snprintf(m, sizeof(m),
                 "vtpu: register interface %u.%u, driver speaks %u.x",
                 in->version_major, in->version_minor, VTPU_VERSION_MAJOR);
        dlog(d, m);
        return VTPU_DRV_EVERSION;
    }
    in->caps = rd(d, VTPU_A_CAPS);
    uint32_t g = rd(d, VTPU_A_GEN);
    for (int i = 0; i < 4; i++)
        in->gen[i] = (char)(g >> (8 * i));
    in->gen[4] = 0;
    in->num_tcs = rd(d, VTPU_A_NUM_TCS);
    in->num_sems = rd(d, VTPU_A_NUM_SEMS);
    in->hbm_size = rd64(d, VTPU_A_HBM_SIZE_LO);
    in->vmem_size = rd(d, VTPU_A_VMEM_SIZE);
    in->smem_size = rd(d, VTPU_A_SMEM_SIZE);
    in->imem_size = rd(d, VTPU_A_IMEM_SIZE);
    v = rd(d, VTPU_A_VREG_SHAPE);
    in->sublanes = VTPU_FEX(v, VREG_SHAPE, SUBLANES);
    in->lanes = VTPU_FEX(v, VREG_SHAPE, LANES);
    in->elem_bits = VTPU_FEX(v, VREG_SHAPE, BITS);
    v = rd(d, VTPU_A_VREG_COUNT);
    in->num_vregs = VTPU_FEX(v, VREG_COUNT, VREGS);
    in->num_masks = VTPU_FEX(v, VREG_COUNT, MASKS);
    v = rd(d, VTPU_A_MXU);
    in->mxu_dim = VTPU_FEX(v, MXU, DIM);
    in->mxu_count = VTPU_FEX(v, MXU, COUNT);
    v = rd(d, VTPU_A_LIMITS);
    in->prog_slots = VTPU_FEX(v, LIMITS, PROG_SLOTS);
    in->ring_max_entries = 1u << VTPU_FEX(v, LIMITS, RING_MAX_LOG2);
    in->aperture_size = rd(d, VTPU_A_APERTURE_SIZE);

    /* A register that holds what is written tells a live device from a
     * bus that returns a constant. */
    wr(d, VTPU_A_SCRATCH, 0x5a5aa5a5u);
    if (rd(d, VTPU_A_SCRATCH) != 0x5a5aa5a5u) {
        dlog(d, "vtpu: SCRATCH register does not hold its value");
        return VTPU_DRV_ENODEV;
    }
    wr(d, VTPU_A_SCRATCH, 0);
    d->probed = 1;
    return VTPU_DRV_OK;
}

const vtpu_drv_info *vtpu_drv_info_get(const vtpu_drv *d)
{
    return &d->info;
}

void vtpu_drv_set_timeout(vtpu_drv *d, uint64_t ns)
{
    d->timeout_ns = ns;
}

void vtpu_drv_use_irq(vtpu_drv *d, int on)
{
    d->use_irq = on && d->plat->irq_wait;
    if (d->running)
        wr(d, VTPU_A_INT_ENABLE, d->use_irq ? d->int_base : 0);
}

/* Every fence submitted and not completed is dropped (abort or reset). */
static void cancel_pending(vtpu_drv *d, uint32_t completed)
{
    d->cancel_lo = completed;
    d->cancel_hi = d->next_seq - 1;
    d->cancel_valid = 1;
}

typedef int (*wait_cond)(vtpu_drv *d, uint32_t arg);
static int wait_until(vtpu_drv *d, uint32_t int_bits, wait_cond cond,
                      uint32_t arg);
static int cond_fence_value(vtpu_drv *d, uint32_t value);

/* CONTROL.RESET and wait for the device to come back DISABLED. */
static int device_reset(vtpu_drv *d)
{
    wr(d, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
    uint64_t deadline = now(d) + RESET_TIMEOUT_NS;
    while (VTPU_FEX(rd(d, VTPU_A_STATUS), STATUS, STATE) !=
           VTPU_STATE_DISABLED) {
        if (now(d) >= deadline) {
            dlog(d, "vtpu: soft reset did not complete");
            return VTPU_DRV_ETIMEDOUT;
        }
    }
    return VTPU_DRV_OK;
}

/* Program and enable the ring (device freshly reset). */
static int ring_start(vtpu_drv *d)
{
    memset(d->ring, 0, (size_t)d->ring_entries * VTPU_CMD_SIZE);
    d->head = d->tail = 0;
    wr(d, VTPU_A_RING_BASE_LO, (uint32_t)d->ring_bus);
    wr(d, VTPU_A_RING_BASE_HI, (uint32_t)(d->ring_bus >> 32));
    wr(d, VTPU_A_RING_SIZE, d->ring_entries);
    d->int_base = VTPU_FMASK(INT, FENCE) | VTPU_FMASK(INT, ERROR);
    wr(d, VTPU_A_INT_STATUS, VTPU_INT_ALL);
    wr(d, VTPU_A_INT_ENABLE, d->use_irq ? d->int_base : 0);
    wr(d, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
    if (VTPU_FEX(rd(d, VTPU_A_STATUS), STATUS, STATE) != VTPU_STATE_IDLE) {
        vtpu_drv_check(d);
        dlog(d, "vtpu: the ring did not start");
        return VTPU_DRV_EDEVICE;
    }
    d->running = 1;
    return VTPU_DRV_OK;
}

int vtpu_drv_init(vtpu_drv *d, uint32_t entries)
{
    if (!d->probed || d->ring)
        return VTPU_DRV_ESTATE;
    if (!entries)
        entries = DEFAULT_RING;
    if (entries < VTPU_RING_MIN_ENTRIES || entries > d->info.ring_max_entries ||
        (entries & (entries - 1)))
        return VTPU_DRV_EINVAL;
    int rc = device_reset(d);
    if (rc)
        return rc;
    size_t bytes = (size_t)entries * VTPU_CMD_SIZE;
    d->ring = d->plat->dma_alloc(d->plat->ctx, bytes, 4096, &d->ring_bus);
    if (!d->ring)
        return VTPU_DRV_ENOMEM;
    d->ring_entries = entries;
    rc = ring_start(d);
    if (rc) {
        d->plat->dma_free(d->plat->ctx, d->ring, bytes);
        d->ring = NULL;
    }
    return rc;
}

void vtpu_drv_fini(vtpu_drv *d)
{
    if (!d->probed)
        return;
    device_reset(d);
    d->running = 0;
    if (d->ring)
        d->plat->dma_free(d->plat->ctx, d->ring,
                          (size_t)d->ring_entries * VTPU_CMD_SIZE);
    d->ring = NULL;
}

int vtpu_drv_reset(vtpu_drv *d)
{
    if (!d->ring)
        return VTPU_DRV_ESTATE;
    uint32_t completed = rd(d, VTPU_A_FENCE);
    d->running = 0;
    int rc = device_reset(d);
    if (rc)
        return rc;
    cancel_pending(d, completed);
    rc = ring_start(d);
    if (rc)
        return rc;
    /*
     * The reset zeroed FENCE.  Bring it back to the last value handed out,
     * so fences completed before the reset still read as completed (those
     * dropped by it are in the canceled range, which is checked first).
     */
    vtpu_cmd c;
    memset(&c, 0, sizeof(c));
    c.hdr = VTPU_FDP(VTPU_FDP(0, CMD, OPCODE, VTPU_OP_FENCE), CMD, FLAGS,
                     d->use_irq ? VTPU_FENCE_F_IRQ : 0);
    c.arg = d->next_seq - 1;
    rc = vtpu_drv_submit(d, &c);
    /* Wake on the fence's interrupt: without it an interrupt wait would
     * sleep for the whole timeout. */
    return rc ? rc
              : wait_until(d, VTPU_FMASK(INT, FENCE) | VTPU_FMASK(INT, ERROR),
                           cond_fence_value, c.arg);
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

static void read_error(vtpu_drv *d)
{
    vtpu_drv_error *e = &d->err;

    e->code = rd(d, VTPU_A_ERR_CODE);
    e->index = rd(d, VTPU_A_ERR_INDEX);
    e->opcode = rd(d, VTPU_A_ERR_OPCODE);
    e->kind = rd(d, VTPU_A_ERR_KIND);
    e->tc = rd(d, VTPU_A_ERR_TC);
    e->pc = rd(d, VTPU_A_ERR_PC);
    e->space = rd(d, VTPU_A_ERR_SPACE);
    e->value = rd(d, VTPU_A_ERR_VALUE);
    e->addr = rd64(d, VTPU_A_ERR_ADDR_LO);
    e->len = rd64(d, VTPU_A_ERR_LEN_LO);
    e->msg[0] = 0;
    if (d->info.caps & VTPU_FMASK(CAPS, ERR_MSG)) {
        for (uint32_t i = 0; i < VTPU_ERR_MSG_MAX; i += 4) {
            uint32_t w = rd(d, VTPU_A_ERR_MSG + i);
            for (uint32_t b = 0; b < 4; b++)
                e->msg[i + b] = (char)(w >> (8 * b));
            if (!(w & 0xff) || !(w & 0xff00) || !(w & 0xff0000) ||
                !(w & 0xff000000u))
                break;
        }
        e->msg[VTPU_ERR_MSG_MAX - 1] = 0;
    }
}

int vtpu_drv_check(vtpu_drv *d)
{
    if (VTPU_FEX(rd(d, VTPU_A_STATUS), STATUS, STATE) != VTPU_STATE_ERROR)
        return VTPU_DRV_OK;
    read_error(d);
    return VTPU_DRV_EDEVICE;
}

const vtpu_drv_error *vtpu_drv_last_error(const vtpu_drv *d)
{
    return &d->err;
}

const char *vtpu_drv_opcode_name(uint32_t op)
{
    return vtpu_op_name(op);
}

const char *vtpu_drv_error_name(uint32_t code)
{
    return vtpu_err_name(code);
}

const char *vtpu_drv_fault_name(uint32_t kind)
{
    return vtpu_fault_name(kind);
}

/* snprintf that appends at *pos and never runs past len. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;

    if (*pos >= len)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n;
}

/* The error without the command it stopped: the fault, its place, the
 * device's message. */
static void format_detail(const vtpu_drv_error *e, char *tmp, size_t cap,
                          size_t *pp)
{
    size_t p = *pp;
    const char *space = vtpu_espace_name(e->space);

    if (e->code == VTPU_E_FAULT) {
        if (e->tc != VTPU_ERR_NONE32)
            append(tmp, cap, &p, "TC %u faulted at pc 0x%08x: ", e->tc,
                   e->pc);
        append(tmp, cap, &p, "%s", vtpu_drv_fault_name(e->kind));
    } else {
        append(tmp, cap, &p, "%s", vtpu_drv_error_name(e->code));
        if (e->code == VTPU_E_EXIT_CODE && e->tc != VTPU_ERR_NONE32)
            append(tmp, cap, &p, ": TC %u exited with %d", e->tc,
                   (int32_t)e->value);
    }
    if (space) {
        append(tmp, cap, &p, ", %s address 0x%llx", space,
               (unsigned long long)e->addr);
        if (e->len)
            append(tmp, cap, &p, " (%llu bytes)",
                   (unsigned long long)e->len);
    }
    if (e->msg[0])
        append(tmp, cap, &p, " [device: %s]", e->msg);
    *pp = p;
}

/* Room for the device's message and everything said around it. */
#define FMT_LEN (VTPU_ERR_MSG_MAX + 512)

int vtpu_drv_format_error(const vtpu_drv_error *e, char *buf, size_t len)
{
    char tmp[FMT_LEN];
    size_t p = 0;

    if (e->index == VTPU_ERR_NONE32)
        append(tmp, sizeof(tmp), &p, "ring error: ");
    else
        append(tmp, sizeof(tmp), &p, "command %u (%s) failed: ", e->index,
               vtpu_drv_opcode_name(e->opcode));
    format_detail(e, tmp, sizeof(tmp), &p);
    return snprintf(buf, len, "%s", tmp);
}

int vtpu_drv_format_error_detail(const vtpu_drv_error *e, char *buf,
                                 size_t len)
{
    char tmp[FMT_LEN];
    size_t p = 0;

    format_detail(e, tmp, sizeof(tmp), &p);
    return snprintf(buf, len, "%s", tmp);
}

int vtpu_drv_recover(vtpu_drv *d, uint32_t action)
{
    if (action != VTPU_ACK_SKIP && action != VTPU_ACK_ABORT &&
        action != VTPU_ACK_RETRY)
        return VTPU_DRV_EINVAL;
    if (vtpu_drv_check(d) != VTPU_DRV_EDEVICE)
        return VTPU_DRV_EINVAL;
    uint32_t completed = rd(d, VTPU_A_FENCE);
    wr(d, VTPU_A_ERR_ACK, action);
    wr(d, VTPU_A_INT_STATUS, VTPU_FMASK(INT, ERROR));
    if (action == VTPU_ACK_ABORT)
        cancel_pending(d, completed);
    d->head = rd(d, VTPU_A_RING_HEAD);
    return VTPU_DRV_OK;
}

/* ------------------------------------------------------------------ */
/* Waiting and submission                                               */
/* ------------------------------------------------------------------ */

/* Condition of a wait (wait_cond): 1 done, 0 not yet, < 0 a
 * vtpu_drv_status. */

static int wait_until(vtpu_drv *d, uint32_t int_bits, wait_cond cond,
                      uint32_t arg)
{
    uint64_t deadline = now(d) + d->timeout_ns;

    if (d->use_irq && (int_bits & ~d->int_base))
        wr(d, VTPU_A_INT_ENABLE, d->int_base | int_bits);
    int rc;
    for (;;) {
        if (d->use_irq)
            wr(d, VTPU_A_INT_STATUS, int_bits);
        rc = cond(d, arg);
        if (rc)
            break;
        uint64_t t = now(d);
        if (t >= deadline) {
            rc = VTPU_DRV_ETIMEDOUT;
            break;
        }
        if (d->use_irq)
            d->plat->irq_wait(d->plat->ctx, deadline - t);
    }
    if (d->use_irq && (int_bits & ~d->int_base))
        wr(d, VTPU_A_INT_ENABLE, d->int_base);
    return rc < 0 ? rc : VTPU_DRV_OK;
}

static uint32_t ring_space(const vtpu_drv *d)
{
    return (d->head - d->tail - 1) & (d->ring_entries - 1);
}

/* Is there room in the ring (re-reading HEAD)?  Stopped devices fail. */
static int cond_space(vtpu_drv *d, uint32_t unused)
{
    (void)unused;
    d->head = rd(d, VTPU_A_RING_HEAD);
    if (ring_space(d))
        return 1;
    return vtpu_drv_check(d) ? VTPU_DRV_EDEVICE : 0;
}

int vtpu_drv_submit(vtpu_drv *d, const vtpu_cmd *cmd)
{
    if (!d->running)
        return VTPU_DRV_ESTATE;
    if (!ring_space(d)) {
        int rc =
            wait_until(d, VTPU_FMASK(INT, PROGRESS) | VTPU_FMASK(INT, ERROR),
                       cond_space, 0);
        if (rc)
            return rc;
    }
    /* Plain stores into coherent DMA memory; write32 orders them before
     * the doorbell (vtpu_platform.h). */
    memcpy(&d->ring[d->tail], cmd, sizeof(*cmd));
    d->tail = (d->tail + 1) & (d->ring_entries - 1);
    wr(d, VTPU_A_RING_TAIL, d->tail);
    return VTPU_DRV_OK;
}

static int submit_simple(vtpu_drv *d, uint32_t op, uint32_t arg, uint64_t src,
                         uint64_t dst, uint64_t len)
{
    vtpu_cmd c;

    memset(&c, 0, sizeof(c));
    c.hdr = VTPU_FDP(0, CMD, OPCODE, op);
    c.arg = arg;
    c.src = src;
    c.dst = dst;
    c.len = len;
    return vtpu_drv_submit(d, &c);
}

int vtpu_drv_nop(vtpu_drv *d)
{
    return submit_simple(d, VTPU_OP_NOP, 0, 0, 0, 0);
}

int vtpu_drv_copy_to_hbm(vtpu_drv *d, uint64_t hbm, uint64_t host_bus,
                         uint64_t len)
{
    return submit_simple(d, VTPU_OP_COPY_H2D, 0, host_bus, hbm, len);
}

int vtpu_drv_copy_from_hbm(vtpu_drv *d, uint64_t host_bus, uint64_t hbm,
                           uint64_t len)
{
    return submit_simple(d, VTPU_OP_COPY_D2H, 0, hbm, host_bus, len);
}

int vtpu_drv_copy_hbm(vtpu_drv *d, uint64_t dst, uint64_t src, uint64_t len)
{
    return submit_simple(d, VTPU_OP_COPY_D2D, 0, src, dst, len);
}

int vtpu_drv_fill(vtpu_drv *d, uint64_t hbm, uint64_t len, uint32_t pattern)
{
    return submit_simple(d, VTPU_OP_FILL, pattern, 0, hbm, len);
}

int vtpu_drv_load_program(vtpu_drv *d, uint32_t slot, uint64_t hbm,
                          uint64_t len)
{
    return submit_simple(d, VTPU_OP_LOAD_PROG, slot, hbm, 0, len);
}

int vtpu_drv_launch(vtpu_drv *d, const vtpu_drv_launch_desc *l)
{
    vtpu_cmd c;
    uint32_t flags = 0;

    if (l->slot > 0xff || l->num_tcs > 0xff)
        return VTPU_DRV_EINVAL;
    if (l->check_exit)
        flags |= VTPU_LAUNCH_F_CHECK_EXIT;
    if (l->want_result)
        flags |= VTPU_LAUNCH_F_RESULT;
    if (l->collective)
        flags |= VTPU_LAUNCH_F_COLLECTIVE;
    memset(&c, 0, sizeof(c));
    c.hdr =
        VTPU_FDP(VTPU_FDP(0, CMD, OPCODE, VTPU_OP_LAUNCH), CMD, FLAGS, flags);
    c.arg =
        VTPU_FDP(VTPU_FDP(0, LAUNCH, SLOT, l->slot), LAUNCH, TCS, l->num_tcs);
    memcpy(c.args, l->args, sizeof(c.args));
    c.addr = l->result_bus;
    return vtpu_drv_submit(d, &c);
}

static int fence(vtpu_drv *d, uint32_t flags, uint64_t bus, uint32_t *seq)
{
    vtpu_cmd c;

    memset(&c, 0, sizeof(c));
    if (d->use_irq)
        flags |= VTPU_FENCE_F_IRQ;
    c.hdr =
        VTPU_FDP(VTPU_FDP(0, CMD, OPCODE, VTPU_OP_FENCE), CMD, FLAGS, flags);
    c.arg = d->next_seq;
    c.addr = bus;
    int rc = vtpu_drv_submit(d, &c);
    if (rc)
        return rc;
    *seq = d->next_seq++;
    return VTPU_DRV_OK;
}

int vtpu_drv_fence(vtpu_drv *d, uint32_t *seq)
{
    return fence(d, 0, 0, seq);
}

int vtpu_drv_fence_writeback(vtpu_drv *d, uint64_t bus, uint32_t *seq)
{
    return fence(d, VTPU_FENCE_F_WRITEBACK, bus, seq);
}

static int canceled(const vtpu_drv *d, uint32_t seq)
{
    return d->cancel_valid && !seq_reached(d->cancel_lo, seq) &&
           seq_reached(d->cancel_hi, seq);
}

int vtpu_drv_fence_done(vtpu_drv *d, uint32_t seq)
{
    return !canceled(d, seq) && seq_reached(rd(d, VTPU_A_FENCE), seq);
}

static int cond_fence(vtpu_drv *d, uint32_t seq)
{
    if (canceled(d, seq))
        return VTPU_DRV_ECANCELED;
    if (seq_reached(rd(d, VTPU_A_FENCE), seq))
        return 1;
    uint32_t st = VTPU_FEX(rd(d, VTPU_A_STATUS), STATUS, STATE);
    if (st == VTPU_STATE_ERROR) {
        read_error(d);
        return VTPU_DRV_EDEVICE;
    }
    if (st != VTPU_STATE_BUSY && st != VTPU_STATE_IDLE)
        return VTPU_DRV_ESTATE;
    return 0;
}

/* FENCE reads `value` exactly (ignoring cancellation). */
static int cond_fence_value(vtpu_drv *d, uint32_t value)
{
    if (rd(d, VTPU_A_FENCE) == value)
        return 1;
    return vtpu_drv_check(d) ? VTPU_DRV_EDEVICE : 0;
}

int vtpu_drv_wait(vtpu_drv *d, uint32_t seq)
{
    if (!d->running)
        return VTPU_DRV_ESTATE;
    if (!seq_reached(d->next_seq - 1, seq))
        return VTPU_DRV_EINVAL; /* never submitted */
    return wait_until(d, VTPU_FMASK(INT, FENCE) | VTPU_FMASK(INT, ERROR),
                      cond_fence, seq);
}

int vtpu_drv_sync(vtpu_drv *d)
{
    uint32_t seq;
    int rc = vtpu_drv_fence(d, &seq);
    return rc ? rc : vtpu_drv_wait(d, seq);
}

/* ------------------------------------------------------------------ */
/* Aperture and counters                                                */
/* ------------------------------------------------------------------ */

/* Copy [hbm, hbm+len) through the aperture, moving the window as it
 * goes; BAR2 is accessed in aligned 32-bit words. */
static int aperture_rw(vtpu_drv *d, uint64_t hbm, uint8_t *buf, size_t len,
                       int write)
{
    uint64_t win = d->info.aperture_size;

    if (!d->probed || !(d->info.caps & VTPU_FMASK(CAPS, APERTURE)) ||
        win < VTPU_APERTURE_ALIGN)
        return VTPU_DRV_ESTATE;
    if (hbm > d->info.hbm_size || len > d->info.hbm_size - hbm)
        return VTPU_DRV_EINVAL;
    while (len) {
        uint64_t base = hbm & ~(uint64_t)(VTPU_APERTURE_ALIGN - 1);
        uint32_t off = (uint32_t)(hbm - base);
        wr(d, VTPU_A_APERTURE_BASE_LO, (uint32_t)base);
        wr(d, VTPU_A_APERTURE_BASE_HI, (uint32_t)(base >> 32));
        while (len && off < win) {
            uint32_t word = off & ~3u, b = off - word;
            size_t n = 4 - b < len ? 4 - b : len;
            uint32_t w = 0;
            if (!write || n < 4)
                w = d->plat->read32(d->plat->ctx, VTPU_BAR_APERTURE, word);
            for (size_t i = 0; i < n; i++) {
                unsigned sh = 8 * (unsigned)(b + i);
                if (write)
                    w = (w & ~(0xffu << sh)) | (uint32_t)buf[i] << sh;
                else
                    buf[i] = (uint8_t)(w >> sh);
            }
            if (write)
                d->plat->write32(d->plat->ctx, VTPU_BAR_APERTURE, word, w);
            buf += n;
            len -= n;
            off += (uint32_t)n;
            hbm += n;
        }
    }
    return VTPU_DRV_OK;
}

int vtpu_drv_aperture_read(vtpu_drv *d, uint64_t hbm, void *buf, size_t len)
{
    return aperture_rw(d, hbm, buf, len, 0);
}

int vtpu_drv_aperture_write(vtpu_drv *d, uint64_t hbm, const void *buf,
                            size_t len)
{
    /* aperture_rw only reads from buf when writing. */
    return aperture_rw(d, hbm, (uint8_t *)(uintptr_t)buf, len, 1);
}

uint64_t vtpu_drv_instret(vtpu_drv *d, unsigned tc)
{
    if (tc >= 8)
        return 0;
    return rd64(d, VTPU_A_TC_INSTRET_LO_N(tc));
}

uint64_t vtpu_drv_tc_stat(vtpu_drv *d, unsigned tc, unsigned counter)
{
    if (tc >= 8 || counter >= VTPU_TSTAT__COUNT)
        return 0;
    wr(d, VTPU_A_TC_STAT_SEL, tc << 8 | counter);
    return rd64(d, VTPU_A_TC_STAT_LO);
}

uint32_t vtpu_drv_read_reg(vtpu_drv *d, uint32_t off)
{
    return rd(d, off);
}
