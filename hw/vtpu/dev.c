/*
 * dev.c - the host interface: one table of registers, one update_irq(),
 * the ring, reset, and the thread that runs the command processor
 * (cmd.c).  docs/registers.md describes the registers; dev.h the contract.
 *
 * Locking.  dev->lock guards every register and all device state.  A
 * command executes *without* the lock: a launch can take seconds and the
 * guest's status polls must not wait for it.  While one executes,
 * dev->executing is set and only the executing thread touches the chip;
 * its effects on the registers are collected in a cmd_outcome and applied
 * under the lock in one go, so the guest never sees half a command.
 * The interrupt line is delivered after the lock is dropped (irq_lock
 * keeps deliveries in order), so set_irq cannot deadlock against an MMIO
 * caller holding a lock of its own (QEMU's BQL).
 *
 * Stopping.  A reset or vtpu_dev_free() must end the command that
 * executes, also a launch that spins for ever or sleeps on a semaphore
 * nothing will signal.  The request (reset_req, quit) is made under the
 * lock, and so is the stop that goes with it: abort_cmd for the copy
 * loops, VTPU_STOP_ABORT on the chip for a launch (stop_command()).  The
 * chip keeps that bit until do_reset() withdraws it, which happens only
 * once nothing executes; a run never clears it.  So a stop cannot be
 * lost, wherever the launch is (before cmd_launch() checks reset_req,
 * between that check and the run's start, in the run), and whoever waits
 * for the reset or the worker does a plain condition wait: idle_cond is
 * broadcast whenever busy() may have become false.  docs/execution.md,
 * "Stopping a run".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dev-priv.h"

#define NREGS VTPU_DEV_NREGS
#define DEFAULT_APERTURE (16u << 20)

/* ------------------------------------------------------------------ */
/* Logging and small helpers                                            */
/* ------------------------------------------------------------------ */

static void dev_log(vtpu_dev *dev, vtpu_log_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dev_log(vtpu_dev *dev, vtpu_log_class cls, const char *fmt, ...)
{
    char msg[VTPU_ERR_MSG_MAX + 64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (dev->ops.log)
        dev->ops.log(dev->opaque, cls, msg);
    else
        g_log("vtpu", G_LOG_LEVEL_DEBUG, "%s%s",
              cls == VTPU_LOG_GUEST_ERROR ? "guest error: " : "", msg);
}

static uint64_t reg64(const vtpu_dev *dev, unsigned lo)
{
    return dev->regs[lo] | (uint64_t)dev->regs[lo + 1] << 32;
}

/* ------------------------------------------------------------------ */
/* Interrupts and state                                                 */
/* ------------------------------------------------------------------ */

/* The one place the interrupt line is computed.  Lock held. */
static void update_irq(vtpu_dev *dev)
{
    uint32_t pending = dev->regs[VTPU_R_INT_STATUS] &
                       dev->regs[VTPU_R_INT_ENABLE] & VTPU_INT_ALL;
    int level = pending != 0;

    /* the level first: dev_unlock() reads the count, then the level */
    if (level && !atomic_exchange(&dev->irq_level, level))
        atomic_fetch_add(&dev->irq_rises, 1);
    else
        atomic_store(&dev->irq_level, level);
}

/*
 * Drop the lock, then tell the embedder about a changed line.  Comparing
 * levels alone loses interrupts: the guest's W1C drops the line and
 * unlocks; before it gets here the worker raises the line again and
 * delivers nothing (delivered is still 1), and then neither sees a
 * change; a transport that sends a message per rise (MSI-X) never sends
 * one, and the guest waits for ever with INT_STATUS pending.  So a rise
 * that no delivery has seen is delivered even if the level looks the
 * same.
 */
static void dev_unlock_cmd(vtpu_dev *dev, uint64_t t_done)
{
    bool kick = dev->kick;

    dev->kick = false;
    vtpu_mutex_unlock(&dev->lock);
    /* After the unlock: a worker woken under it would only block on it.
     * A worker that polls (spin_for_work()) sees the hint instead. */
    if (kick) {
        atomic_store(&dev->work_hint, true);
        if (!atomic_load(&dev->spinning))
            vtpu_cond_signal(&dev->work_cond);
    }
    if (dev->unlock_gap)
        dev->unlock_gap(dev);
    vtpu_mutex_lock(&dev->irq_lock);
    unsigned rises = atomic_load(&dev->irq_rises);
    int level = atomic_load(&dev->irq_level);
    if (level != dev->irq_delivered ||
        (level && rises != dev->irq_rises_seen)) {
        dev->irq_delivered = level;
        if (level && t_done) { /* LAT_IRQ, and LAT_DELIVER's start */
            uint64_t t = dev_now_ns();
            atomic_store(&dev->lat_irq, lat32(t - t_done));
            atomic_store(&dev->t_raise, t);
        }
        dev->ops.set_irq(dev->opaque, level);
    }
    dev->irq_rises_seen = rises;
    vtpu_mutex_unlock(&dev->irq_lock);
}

/* dev_unlock_cmd() after anything but a command's completion. */
static void dev_unlock(vtpu_dev *dev)
{
    dev_unlock_cmd(dev, 0);
}

static bool enabled(const vtpu_dev *dev)
{
    return VTPU_FEX(dev->regs[VTPU_R_CONTROL], CONTROL, ENABLE);
}

static bool in_error(const vtpu_dev *dev)
{
    return dev->regs[VTPU_R_ERR_CODE] != VTPU_E_NONE;
}

static bool runnable(const vtpu_dev *dev)
{
    if (dev->executing || dev->reset_req || dev->quit || dev->paused)
        return false;
    return dev->resume_launch ||
           (enabled(dev) && !in_error(dev) &&
            dev->regs[VTPU_R_RING_HEAD] != dev->regs[VTPU_R_RING_TAIL]);
}

/* Executing, or has something to execute: vtpu_dev_wait_idle() waits. */
static bool busy(const vtpu_dev *dev)
{
    return dev->executing || dev->reset_req || runnable(dev);
}

static uint32_t state(const vtpu_dev *dev)
{
    if (dev->reset_req)
        return VTPU_STATE_RESETTING;
    if (in_error(dev))
        return VTPU_STATE_ERROR;
    if (dev->executing || dev->resume_launch)
        return VTPU_STATE_BUSY;
    if (!enabled(dev))
        return VTPU_STATE_DISABLED;
    if (dev->regs[VTPU_R_RING_HEAD] != dev->regs[VTPU_R_RING_TAIL])
        return VTPU_STATE_BUSY;
    return VTPU_STATE_IDLE;
}

/* Ring configuration is usable: power-of-two size, no address wrap. */
static bool ring_ok(const vtpu_dev *dev)
{
    uint32_t size = dev->regs[VTPU_R_RING_SIZE];
    uint64_t base = reg64(dev, VTPU_R_RING_BASE_LO);
    return size >= VTPU_RING_MIN_ENTRIES &&
           size <= (1u << VTPU_RING_MAX_LOG2) && !(size & (size - 1)) &&
           base <= UINT64_MAX - (uint64_t)size * VTPU_CMD_SIZE;
}

/*
 * Enter the ERROR state (lock held).  The first error wins: a second one
 * while the driver has not acknowledged the first is only logged, so the
 * registers keep describing what stopped the ring.
 */
static void raise_error(vtpu_dev *dev, uint32_t index, uint32_t opcode,
                        const dev_err *e)
{
    if (in_error(dev)) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "error while in ERROR state, not recorded: %s", e->msg);
        return;
    }
    uint32_t *r = dev->regs;
    r[VTPU_R_ERR_CODE] = e->code;
    r[VTPU_R_ERR_INDEX] = index;
    r[VTPU_R_ERR_OPCODE] = opcode;
    r[VTPU_R_ERR_KIND] = e->kind;
    r[VTPU_R_ERR_TC] = e->tc;
    r[VTPU_R_ERR_PC] = e->pc;
    r[VTPU_R_ERR_SPACE] = e->space;
    r[VTPU_R_ERR_VALUE] = e->value;
    r[VTPU_R_ERR_ADDR_LO] = (uint32_t)e->addr;
    r[VTPU_R_ERR_ADDR_HI] = (uint32_t)(e->addr >> 32);
    r[VTPU_R_ERR_LEN_LO] = (uint32_t)e->len;
    r[VTPU_R_ERR_LEN_HI] = (uint32_t)(e->len >> 32);
    r[VTPU_R_ERR_COUNT]++;
    snprintf(dev->err_msg, sizeof(dev->err_msg), "%s", e->msg);
    r[VTPU_R_INT_STATUS] |= VTPU_FMASK(INT, ERROR);
    if (index == VTPU_ERR_NONE32)
        dev_log(dev, VTPU_LOG_CMD_ERROR, "error %u: %s", e->code, e->msg);
    else
        dev_log(dev, VTPU_LOG_CMD_ERROR, "command %u (%s): error %u: %s", index,
                vtpu_op_name(opcode), e->code, e->msg);
}

static void clear_error(vtpu_dev *dev)
{
    for (unsigned i = VTPU_R_ERR_CODE; i < VTPU_R_ERR_COUNT; i++)
        dev->regs[i] = 0;
    dev->regs[VTPU_R_ERR_INDEX] = VTPU_ERR_NONE32;
    dev->regs[VTPU_R_ERR_TC] = VTPU_ERR_NONE32;
    memset(dev->err_msg, 0, sizeof(dev->err_msg));
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

/*
 * Stop the command that executes (lock held, reset_req or quit set).
 * Once is enough: the chip holds VTPU_STOP_ABORT until do_reset() (or,
 * for quit, vtpu_dev_free() after the worker is gone) withdraws it.
 */
static void stop_command(vtpu_dev *dev)
{
    atomic_store(&dev->abort_cmd, true);
    vtpu_chip_stop_run(dev->chip, VTPU_STOP_ABORT);
}

/* Power-on state of every register (lock held, nothing executing). */
static void do_reset(vtpu_dev *dev)
{
    memset(dev->regs, 0, sizeof(dev->regs));
    clear_error(dev);
    dev->bytes_in = dev->bytes_out = 0;
    memset(dev->instret, 0, sizeof(dev->instret));
    dev->latch_hi = 0;
    dev->t_doorbell = 0;
    dev->doorbell_pending = false;
    atomic_store(&dev->t_raise, 0);
    atomic_store(&dev->lat_irq, 0);
    atomic_store(&dev->lat_deliver, 0);
    if (dev->out) {
        vtpu_outbuf_stats st;
        vtpu_outbuf_stats_get(dev->out, &st);
        dev->out_base[0] = st.accepted;
        dev->out_base[1] = st.dropped;
    }
    /* Programs are device state a driver must reload after reset; HBM
     * keeps its contents, as DRAM does across a soft reset. */
    vtpu_chip_unload_programs(dev->chip);
    /* Nothing executes: the next launch runs freely. */
    vtpu_chip_abort_clear(dev->chip);
    dev->resume_launch = false;
    dev->reset_req = false;
    update_irq(dev);
    vtpu_cond_broadcast(&dev->idle_cond);
    dev_log(dev, VTPU_LOG_TRACE, "reset");
}

static void request_reset(vtpu_dev *dev)
{
    dev->reset_req = true;
    if (dev->executing) {
        stop_command(dev); /* step() resets once the command returns */
    } else {
        do_reset(dev);
    }
}

/* Make a command's effects visible (lock held). */
static void apply(vtpu_dev *dev, uint32_t idx, const cmd_outcome *o)
{
    uint32_t *r = dev->regs;

    dev->bytes_in += o->bytes_in;
    dev->bytes_out += o->bytes_out;
    if (o->launched) {
        r[VTPU_R_LAUNCH_COUNT]++;
        r[VTPU_R_LAT_RUN] = lat32(o->run_ns);
        r[VTPU_R_LAST_EXIT] = (uint32_t)o->exit_code;
        for (unsigned t = 0; t < VTPU_MAX_TCS; t++)
            dev->instret[t] += o->instret[t];
    }
    if (o->err.code) {
        raise_error(dev, idx, o->opcode, &o->err);
        return;
    }
    if (o->fence) {
        r[VTPU_R_FENCE] = o->fence_val;
        if (o->fence_irq)
            r[VTPU_R_INT_STATUS] |= VTPU_FMASK(INT, FENCE);
    }
    r[VTPU_R_RING_HEAD] = (idx + 1) & (r[VTPU_R_RING_SIZE] - 1);
    r[VTPU_R_CMD_COUNT]++;
    r[VTPU_R_INT_STATUS] |= VTPU_FMASK(INT, PROGRESS);
    if (r[VTPU_R_RING_HEAD] == r[VTPU_R_RING_TAIL])
        r[VTPU_R_INT_STATUS] |= VTPU_FMASK(INT, IDLE);
    dev_log(dev, VTPU_LOG_TRACE, "command %u (%s) done", idx,
            vtpu_op_name(o->opcode));
}

/*
 * Execute the command at HEAD.  Lock held on entry and on return; dropped
 * while the command runs.  Ring configuration cannot change meanwhile
 * (writable only when disabled and idle), so idx stays meaningful.
 * Returns when the command finished (dev_now_ns()), 0 if a reset cut it.
 */
static uint64_t step(vtpu_dev *dev)
{
    bool resume = dev->resume_launch; /* a launch a snapshot brought */
    dev_launch l = dev->cur;
    uint32_t idx = resume ? l.idx : dev->regs[VTPU_R_RING_HEAD];
    uint64_t addr =
        reg64(dev, VTPU_R_RING_BASE_LO) + (uint64_t)idx * VTPU_CMD_SIZE;
    cmd_outcome o;

    memset(&o, 0, sizeof(o));
    init_err(&o.err);
    uint64_t t_start = dev_now_ns();
    if (dev->doorbell_pending) {
        dev->regs[VTPU_R_LAT_WAKE] = lat32(t_start - dev->t_doorbell);
        dev->doorbell_pending = false;
    }
    dev->executing = true;
    dev->resume_launch = false;
    atomic_store(&dev->abort_cmd, false);
    vtpu_mutex_unlock(&dev->lock);
    if (resume)
        vtpu_dev_execute_resume(dev, &l, &o);
    else
        vtpu_dev_execute(dev, idx, addr, &o);
    uint64_t t_done = dev_now_ns();
    vtpu_mutex_lock(&dev->lock);
    dev->executing = false;
    if (dev->reset_req) {
        do_reset(dev); /* the command was cut short; forget it */
        t_done = 0;
    } else {
        apply(dev, idx, &o);
        dev->regs[VTPU_R_LAT_EXEC] = lat32(t_done - t_start);
        if (dev->t_doorbell)
            dev->regs[VTPU_R_LAT_BUSY] = lat32(t_done - dev->t_doorbell);
    }
    update_irq(dev);
    vtpu_cond_broadcast(&dev->idle_cond);
    return t_done;
}

/*
 * Lock held on entry and return, dropped meanwhile.  After a busy period,
 * poll up to spin_ns for the next doorbell instead of sleeping at once.
 * A doorbell that sees `spinning` skips its signal and sets work_hint;
 * one that comes after the poll ended signals as usual, and whatever
 * came meanwhile is found by the caller's runnable() under the lock
 * (state changes are made under it before the hint), so none is lost.
 */
static void spin_for_work(vtpu_dev *dev)
{
    atomic_store(&dev->work_hint, false);
    atomic_store(&dev->spinning, true);
    vtpu_mutex_unlock(&dev->lock);
    uint64_t end = dev_now_ns() + dev->spin_ns;
    while (!atomic_load(&dev->work_hint) && dev_now_ns() < end) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    atomic_store(&dev->spinning, false);
    vtpu_mutex_lock(&dev->lock);
}

static gpointer worker_main(gpointer opaque)
{
    vtpu_dev *dev = opaque;
    bool worked = false;

    if (dev->ops.thread_begin)
        dev->ops.thread_begin(dev->opaque);
    vtpu_mutex_lock(&dev->lock);
    while (!dev->quit) {
        if (!runnable(dev)) {
            if (worked && dev->spin_ns) {
                worked = false;
                spin_for_work(dev);
                continue;
            }
            vtpu_cond_wait(&dev->work_cond, &dev->lock);
            continue;
        }
        uint64_t t_done = step(dev);
        dev_unlock_cmd(dev, t_done);
        vtpu_mutex_lock(&dev->lock);
        worked = true;
    }
    vtpu_mutex_unlock(&dev->lock);
    if (dev->ops.thread_end)
        dev->ops.thread_end(dev->opaque);
    return NULL;
}

/*
 * Lock held.  Hand new work to the worker (woken by dev_unlock(), once the
 * lock is free), or in synchronous mode run it right here (dropping the
 * lock around each command as the worker does).  `was_idle`: the device
 * was not busy() before the register write, which makes this the
 * doorbell that starts a busy period (LAT_WAKE, LAT_BUSY).
 */
static void kick_work(vtpu_dev *dev, bool was_idle)
{
    if (!runnable(dev))
        return;
    if (was_idle) {
        dev->t_doorbell = dev_now_ns();
        dev->doorbell_pending = true;
    }
    if (!dev->synchronous) {
        dev->kick = true;
        return;
    }
    while (runnable(dev)) {
        uint64_t t_done = step(dev);
        dev_unlock_cmd(dev, t_done);
        vtpu_mutex_lock(&dev->lock);
    }
}

/* ------------------------------------------------------------------ */
/* The register table                                                   */
/* ------------------------------------------------------------------ */

typedef struct reg_desc {
    const char *name;
    uint32_t rw;  /* bits a write stores */
    uint32_t w1c; /* bits a write of 1 clears */
    /* Computed value instead of regs[idx]. */
    uint32_t (*read)(vtpu_dev *dev, unsigned idx);
    /* Side-effecting write instead of the generic store. */
    void (*write)(vtpu_dev *dev, unsigned idx, uint32_t val);
} reg_desc;

static uint32_t rd_ident(vtpu_dev *dev, unsigned idx)
{
    const vtpu_config *c = &dev->chip->cfg;

    switch (idx) {
    case VTPU_R_ID:
        return VTPU_ID_MAGIC;
    case VTPU_R_VERSION:
        return VTPU_FDP(VTPU_VERSION_MINOR, VERSION, MAJOR, VTPU_VERSION_MAJOR);
    case VTPU_R_CAPS:
        return VTPU_FMASK(CAPS, FENCE_WB) | VTPU_FMASK(CAPS, LAUNCH_RESULT) |
               VTPU_FMASK(CAPS, APERTURE) | VTPU_FMASK(CAPS, ERR_MSG) |
               VTPU_FMASK(CAPS, LATENCY) |
               (dev->out ? VTPU_FMASK(CAPS, OUT_COUNTERS) : 0);
    case VTPU_R_GEN:
        return le32((const uint8_t *)c->gen);
    case VTPU_R_NUM_TCS:
        return c->num_tcs;
    case VTPU_R_NUM_SEMS:
        return c->num_sems;
    case VTPU_R_HBM_SIZE_LO:
        return (uint32_t)c->hbm_size;
    case VTPU_R_HBM_SIZE_HI:
        return (uint32_t)(c->hbm_size >> 32);
    case VTPU_R_VMEM_SIZE:
        return c->vmem_size;
    case VTPU_R_SMEM_SIZE:
        return c->smem_size;
    case VTPU_R_IMEM_SIZE:
        return c->imem_size;
    case VTPU_R_VREG_SHAPE:
        return VTPU_FDP(VTPU_FDP(VTPU_SUBLANES, VREG_SHAPE, LANES, VTPU_LANES),
                        VREG_SHAPE, BITS, 32);
    case VTPU_R_VREG_COUNT:
        return VTPU_FDP(VTPU_NUM_VREGS, VREG_COUNT, MASKS, VTPU_NUM_MASKS);
    case VTPU_R_MXU:
        return VTPU_FDP(c->mxu_dim, MXU, COUNT, c->mxu_count);
    case VTPU_R_LIMITS:
        return VTPU_FDP(VTPU_MAX_PROGRAMS, LIMITS, RING_MAX_LOG2,
                        VTPU_RING_MAX_LOG2);
    case VTPU_R_APERTURE_SIZE:
        return (uint32_t)dev->aper_size;
    }
    return 0;
}

static uint32_t rd_status(vtpu_dev *dev, unsigned idx)
{
    (void)idx;
    return state(dev);
}

static uint32_t rd_zero(vtpu_dev *dev, unsigned idx)
{
    (void)dev;
    (void)idx;
    return 0;
}

/* The counter TC_STAT_SEL selects (vtpu-debug.h). */
static uint64_t tc_stat(vtpu_dev *dev)
{
    uint32_t sel = dev->regs[VTPU_R_TC_STAT_SEL];
    unsigned idx = VTPU_FEX(sel, TC_STAT_SEL, COUNTER);
    vtpu_tc_stats s;
    uint64_t v[VTPU_TSTAT__COUNT];

    _Static_assert(sizeof(s) == sizeof(v), "vtpu_tc_stats vs VTPU_TSTAT_*");
    if (idx >= VTPU_TSTAT__COUNT ||
        vtpu_chip_tc_stats(dev->chip, VTPU_FEX(sel, TC_STAT_SEL, TC), &s))
        return 0;
    memcpy(v, &s, sizeof(v));
    return v[idx];
}

/* TC output counters since reset (0 without an output buffer). */
static uint64_t out_counter(vtpu_dev *dev, bool dropped)
{
    vtpu_outbuf_stats st;

    if (!dev->out)
        return 0;
    vtpu_outbuf_stats_get(dev->out, &st);
    return dropped ? st.dropped - dev->out_base[1]
                   : st.accepted - dev->out_base[0];
}

/* 64-bit counters: reading LO latches HI, so LO-then-HI never tears. */
static uint32_t rd_counter(vtpu_dev *dev, unsigned idx)
{
    uint64_t v;
    unsigned lo = idx & ~1u;

    if (lo == VTPU_R_TC_STAT_LO)
        v = tc_stat(dev);
    else if (lo == VTPU_R_OUT_BYTES_LO || lo == VTPU_R_OUT_DROPPED_LO)
        v = out_counter(dev, lo == VTPU_R_OUT_DROPPED_LO);
    else if (lo == VTPU_R_BYTES_IN_LO)
        v = dev->bytes_in;
    else if (lo == VTPU_R_BYTES_OUT_LO)
        v = dev->bytes_out;
    else
        v = dev->instret[(lo - VTPU_R_TC_INSTRET_LO) / 2];
    if (dev->peeking) /* a monitor: whole values, the latch untouched */
        return idx == lo ? (uint32_t)v : (uint32_t)(v >> 32);
    if (idx == lo) {
        dev->latch_hi = (uint32_t)(v >> 32);
        return (uint32_t)v;
    }
    return dev->latch_hi;
}

/* The interrupt's probes, kept outside the lock (dev_unlock_cmd()). */
static uint32_t rd_lat_irq(vtpu_dev *dev, unsigned idx)
{
    return atomic_load(idx == VTPU_R_LAT_IRQ ? &dev->lat_irq
                                             : &dev->lat_deliver);
}

static uint32_t rd_err_msg(vtpu_dev *dev, unsigned idx)
{
    return le32((const uint8_t *)dev->err_msg + 4 * (idx - VTPU_R_ERR_MSG));
}

static void wr_control(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    bool was_idle = !busy(dev);
    uint32_t known = VTPU_FMASK(CONTROL, ENABLE) | VTPU_FMASK(CONTROL, RESET);

    if (val & ~known)
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "CONTROL: reserved bits 0x%08x ignored", val & ~known);
    if (VTPU_FEX(val, CONTROL, RESET)) {
        request_reset(dev);
        return;
    }
    bool en = VTPU_FEX(val, CONTROL, ENABLE);
    if (en && !enabled(dev) && !ring_ok(dev)) {
        dev_err e;
        init_err(&e);
        vtpu_dev_set_err(&e, VTPU_E_RING_CONFIG,
                         "ring enabled with base 0x%llx and %u entries (need a "
                         "power of two in %u..%u)",
                         (unsigned long long)reg64(dev, VTPU_R_RING_BASE_LO),
                         dev->regs[VTPU_R_RING_SIZE], VTPU_RING_MIN_ENTRIES,
                         1u << VTPU_RING_MAX_LOG2);
        e.value = dev->regs[VTPU_R_RING_SIZE];
        e.space = VTPU_ESPACE_HOST;
        e.addr = reg64(dev, VTPU_R_RING_BASE_LO);
        raise_error(dev, VTPU_ERR_NONE32, 0, &e);
        return;
    }
    dev->regs[idx] = VTPU_FDP(dev->regs[idx], CONTROL, ENABLE, en);
    kick_work(dev, was_idle);
}

static void wr_ring_cfg(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    if (state(dev) != VTPU_STATE_DISABLED) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "ring configuration written while the ring is not disabled and "
                "idle: ignored");
        return;
    }
    dev->regs[idx] =
        idx == VTPU_R_RING_BASE_LO ? val & ~(VTPU_RING_ALIGN - 1) : val;
    /* A new ring starts empty. */
    dev->regs[VTPU_R_RING_HEAD] = 0;
    dev->regs[VTPU_R_RING_TAIL] = 0;
}

static void wr_tail(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    if (!ring_ok(dev) || val >= dev->regs[VTPU_R_RING_SIZE]) {
        dev_err e;
        init_err(&e);
        vtpu_dev_set_err(&e, VTPU_E_RING_POINTER,
                         "RING_TAIL written with %u, the ring has %u entries",
                         val, dev->regs[VTPU_R_RING_SIZE]);
        e.value = val;
        raise_error(dev, VTPU_ERR_NONE32, 0, &e);
        return;
    }
    bool was_idle = !busy(dev);
    dev->regs[idx] = val;
    kick_work(dev, was_idle);
}

static void wr_err_ack(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    (void)idx;
    uint32_t action = VTPU_FEX(val, ERR_ACK, ACTION);
    uint32_t *r = dev->regs;
    bool was_idle = !busy(dev);

    if (!in_error(dev) || !action) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR, "ERR_ACK 0x%x %s: ignored", val,
                in_error(dev) ? "has no action" : "outside ERROR state");
        return;
    }
    if (r[VTPU_R_ERR_INDEX] != VTPU_ERR_NONE32) {
        if (action == VTPU_ACK_SKIP)
            r[VTPU_R_RING_HEAD] =
                (r[VTPU_R_ERR_INDEX] + 1) & (r[VTPU_R_RING_SIZE] - 1);
        else if (action == VTPU_ACK_ABORT)
            r[VTPU_R_RING_HEAD] = r[VTPU_R_RING_TAIL];
        if (r[VTPU_R_RING_HEAD] == r[VTPU_R_RING_TAIL])
            r[VTPU_R_INT_STATUS] |= VTPU_FMASK(INT, IDLE);
    }
    clear_error(dev);
    kick_work(dev, was_idle);
}

#define RO(n) [VTPU_R_##n] = {.name = #n}
#define IDENT(n) [VTPU_R_##n] = {.name = #n, .read = rd_ident}
#define COUNTER(n) [VTPU_R_##n] = {.name = #n, .read = rd_counter}

static const reg_desc reg_table[NREGS] = {
    IDENT(ID),
    IDENT(VERSION),
    IDENT(CAPS),
    IDENT(GEN),
    IDENT(NUM_TCS),
    IDENT(NUM_SEMS),
    IDENT(HBM_SIZE_LO),
    IDENT(HBM_SIZE_HI),
    IDENT(VMEM_SIZE),
    IDENT(SMEM_SIZE),
    IDENT(IMEM_SIZE),
    IDENT(VREG_SHAPE),
    IDENT(VREG_COUNT),
    IDENT(MXU),
    IDENT(LIMITS),
    IDENT(APERTURE_SIZE),
    [VTPU_R_SCRATCH] = {.name = "SCRATCH", .rw = UINT32_MAX},
    [VTPU_R_CONTROL] = {.name = "CONTROL", .write = wr_control},
    [VTPU_R_STATUS] = {.name = "STATUS", .read = rd_status},
    [VTPU_R_ERR_ACK] = {.name = "ERR_ACK",
                        .read = rd_zero,
                        .write = wr_err_ack},
    [VTPU_R_RING_BASE_LO] = {.name = "RING_BASE_LO", .write = wr_ring_cfg},
    [VTPU_R_RING_BASE_HI] = {.name = "RING_BASE_HI", .write = wr_ring_cfg},
    [VTPU_R_RING_SIZE] = {.name = "RING_SIZE", .write = wr_ring_cfg},
    RO(RING_HEAD),
    [VTPU_R_RING_TAIL] = {.name = "RING_TAIL", .write = wr_tail},
    RO(FENCE),
    [VTPU_R_INT_STATUS] = {.name = "INT_STATUS", .w1c = VTPU_INT_ALL},
    [VTPU_R_INT_ENABLE] = {.name = "INT_ENABLE", .rw = VTPU_INT_ALL},
    RO(LAST_EXIT),
    RO(ERR_CODE),
    RO(ERR_INDEX),
    RO(ERR_OPCODE),
    RO(ERR_KIND),
    RO(ERR_TC),
    RO(ERR_PC),
    RO(ERR_SPACE),
    RO(ERR_VALUE),
    RO(ERR_ADDR_LO),
    RO(ERR_ADDR_HI),
    RO(ERR_LEN_LO),
    RO(ERR_LEN_HI),
    RO(ERR_COUNT),
    [VTPU_R_APERTURE_BASE_LO] = {.name = "APERTURE_BASE_LO",
                                 .rw = ~(VTPU_APERTURE_ALIGN - 1)},
    [VTPU_R_APERTURE_BASE_HI] = {.name = "APERTURE_BASE_HI", .rw = UINT32_MAX},
    RO(CMD_COUNT),
    RO(LAUNCH_COUNT),
    COUNTER(BYTES_IN_LO),
    COUNTER(BYTES_IN_HI),
    COUNTER(BYTES_OUT_LO),
    COUNTER(BYTES_OUT_HI),
    [VTPU_R_TC_STAT_SEL] = {.name = "TC_STAT_SEL",
                            .rw = VTPU_FMASK(TC_STAT_SEL, COUNTER) |
                                  VTPU_FMASK(TC_STAT_SEL, TC)},
    COUNTER(TC_STAT_LO),
    COUNTER(TC_STAT_HI),
    COUNTER(OUT_BYTES_LO),
    COUNTER(OUT_BYTES_HI),
    COUNTER(OUT_DROPPED_LO),
    COUNTER(OUT_DROPPED_HI),
    RO(LAT_WAKE),
    RO(LAT_BUSY),
    RO(LAT_EXEC),
    RO(LAT_RUN),
    [VTPU_R_LAT_IRQ] = {.name = "LAT_IRQ", .read = rd_lat_irq},
    [VTPU_R_LAT_DELIVER] = {.name = "LAT_DELIVER", .read = rd_lat_irq},
};

/* The two register arrays share one descriptor each. */
static const reg_desc tc_counter_desc = {.name = "TC_INSTRET",
                                         .read = rd_counter};
static const reg_desc err_msg_desc = {.name = "ERR_MSG", .read = rd_err_msg};

static const reg_desc *lookup(unsigned idx)
{
    if (idx >= VTPU_R_TC_INSTRET_LO &&
        idx < VTPU_R_TC_INSTRET_LO + 2 * VTPU_MAX_TCS)
        return &tc_counter_desc;
    if (idx >= VTPU_R_ERR_MSG && idx < VTPU_R_ERR_MSG + VTPU_ERR_MSG_MAX / 4)
        return &err_msg_desc;
    if (idx < NREGS && reg_table[idx].name)
        return &reg_table[idx];
    return NULL;
}

static uint32_t reg_read32(vtpu_dev *dev, uint64_t off)
{
    const reg_desc *r = off % 4 ? NULL : lookup((unsigned)MIN(off / 4, NREGS));

    if (!r) {
        if (!dev->peeking)
            dev_log(dev, VTPU_LOG_GUEST_ERROR,
                    "read of unmapped register offset 0x%llx",
                    (unsigned long long)off);
        return 0;
    }
    unsigned idx = (unsigned)(off / 4);
    return r->read ? r->read(dev, idx) : dev->regs[idx];
}

static void reg_write32(vtpu_dev *dev, uint64_t off, uint32_t val)
{
    const reg_desc *r = off % 4 ? NULL : lookup((unsigned)MIN(off / 4, NREGS));
    unsigned idx = (unsigned)(off / 4);

    if (!r) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "write of 0x%x to unmapped register offset 0x%llx", val,
                (unsigned long long)off);
        return;
    }
    if (dev->reset_req) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "write of 0x%x to %s during reset: ignored", val, r->name);
        return;
    }
    dev_log(dev, VTPU_LOG_TRACE, "write %s = 0x%x", r->name, val);
    if (r->write) {
        r->write(dev, idx, val);
    } else if (!(r->rw | r->w1c)) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "write of 0x%x to read-only register %s: ignored", val,
                r->name);
    } else {
        uint32_t v = (dev->regs[idx] & ~r->rw) | (val & r->rw);
        dev->regs[idx] = v & ~(val & r->w1c);
    }
    update_irq(dev);
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */
/* ------------------------------------------------------------------ */

uint64_t vtpu_dev_reg_read(vtpu_dev *dev, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    vtpu_mutex_lock(&dev->lock);
    if (size == 4) {
        v = reg_read32(dev, off);
    } else if (size == 8 && off % 8 == 0) {
        v = reg_read32(dev, off);
        v |= (uint64_t)reg_read32(dev, off + 4) << 32;
    } else {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "register read of size %u at 0x%llx: only aligned 4 and 8 byte "
                "accesses are defined",
                size, (unsigned long long)off);
    }
    dev_unlock(dev);
    return v;
}

uint64_t vtpu_dev_reg_peek(vtpu_dev *dev, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    if ((size != 4 && size != 8) || off % size)
        return 0;
    vtpu_mutex_lock(&dev->lock);
    dev->peeking = true;
    v = reg_read32(dev, off);
    if (size == 8)
        v |= (uint64_t)reg_read32(dev, off + 4) << 32;
    dev->peeking = false;
    vtpu_mutex_unlock(&dev->lock);
    return v;
}

void vtpu_dev_reg_write(vtpu_dev *dev, uint64_t off, uint64_t val,
                        unsigned size)
{
    vtpu_mutex_lock(&dev->lock);
    if (size == 4) {
        reg_write32(dev, off, (uint32_t)val);
    } else if (size == 8 && off % 8 == 0) {
        reg_write32(dev, off, (uint32_t)val);
        reg_write32(dev, off + 4, (uint32_t)(val >> 32));
    } else {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "register write of size %u at 0x%llx: only aligned 4 and 8 "
                "byte accesses are defined",
                size, (unsigned long long)off);
    }
    /* A write can end busy() without a command finishing (ENABLE
     * cleared, a ring position rewritten): wake vtpu_dev_wait_idle(). */
    if (!busy(dev))
        vtpu_cond_broadcast(&dev->idle_cond);
    dev_unlock(dev);
}

/* HBM address of aperture byte `off` for a `size`-byte access, or false. */
static bool aperture_at(vtpu_dev *dev, uint64_t off, unsigned size,
                        uint64_t *hbm)
{
    bool ok = false;

    vtpu_mutex_lock(&dev->lock);
    uint64_t base = reg64(dev, VTPU_R_APERTURE_BASE_LO);
    if ((size == 1 || size == 2 || size == 4 || size == 8) &&
        off < dev->aper_size && size <= dev->aper_size - off &&
        base <= UINT64_MAX - off && in_hbm(dev, base + off, size)) {
        *hbm = base + off;
        ok = true;
    } else {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "aperture access of %u bytes at window offset 0x%llx (HBM "
                "0x%llx) is outside the window or HBM: ignored",
                size, (unsigned long long)off,
                (unsigned long long)(base + off));
    }
    vtpu_mutex_unlock(&dev->lock);
    return ok;
}

uint64_t vtpu_dev_aperture_read(vtpu_dev *dev, uint64_t off, unsigned size)
{
    uint64_t at, v = 0;

    if (!aperture_at(dev, off, size, &at))
        return 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)dev->chip->hbm[at + i] << (8 * i);
    return v;
}

void vtpu_dev_aperture_write(vtpu_dev *dev, uint64_t off, uint64_t val,
                             unsigned size)
{
    uint64_t at;

    if (!aperture_at(dev, off, size, &at))
        return;
    for (unsigned i = 0; i < size; i++)
        dev->chip->hbm[at + i] = (uint8_t)(val >> (8 * i));
    vtpu_dirty_mark(dev->chip->hbm_dirty, at, size);
}

uint64_t vtpu_dev_aperture_size(const vtpu_dev *dev)
{
    return dev->aper_size;
}

uint64_t vtpu_dev_aperture_base(vtpu_dev *dev)
{
    vtpu_mutex_lock(&dev->lock);
    uint64_t base = reg64(dev, VTPU_R_APERTURE_BASE_LO);
    vtpu_mutex_unlock(&dev->lock);
    return base;
}

int vtpu_dev_irq_level(vtpu_dev *dev)
{
    return atomic_load(&dev->irq_level);
}

void vtpu_dev_irq_delivered(vtpu_dev *dev)
{
    uint64_t t = atomic_exchange(&dev->t_raise, 0);

    if (t)
        atomic_store(&dev->lat_deliver, lat32(dev_now_ns() - t));
}

int vtpu_dev_wait_idle(vtpu_dev *dev, int64_t timeout_ms)
{
    int64_t deadline = g_get_monotonic_time() + timeout_ms * 1000;
    int rc = 0;

    vtpu_mutex_lock(&dev->lock);
    while (busy(dev)) {
        if (timeout_ms < 0) {
            vtpu_cond_wait(&dev->idle_cond, &dev->lock);
        } else if (!vtpu_cond_wait_until(&dev->idle_cond, &dev->lock,
                                         deadline) &&
                   busy(dev)) {
            rc = -1;
            break;
        }
    }
    dev_unlock(dev);
    return rc;
}

void vtpu_dev_reset(vtpu_dev *dev)
{
    vtpu_mutex_lock(&dev->lock);
    request_reset(dev);
    /* The stop is made once (request_reset()) and cannot be lost; the
     * worker's step() resets and broadcasts when the command returns. */
    while (dev->reset_req)
        vtpu_cond_wait(&dev->idle_cond, &dev->lock);
    dev_unlock(dev);
}

/* ---- TC output (vtpu_dev_opts.output_buffer) ---- */

static void output_fn(void *opaque, unsigned tc, int fd, const char *buf,
                      size_t len)
{
    vtpu_dev *dev = opaque;

    (void)tc;
    (void)fd;
    vtpu_outbuf_put(dev->out, buf, len);
}

static void output_ready(void *opaque)
{
    vtpu_dev *dev = opaque;

    dev->ops.output_ready(dev->opaque);
}

static bool output_setup(vtpu_dev *dev, const vtpu_dev_opts *opts)
{
    uint64_t rate = opts->output_rate ? opts->output_rate : VTPU_DEV_OUTPUT_RATE;

    dev->out = vtpu_outbuf_new(opts->output_buffer, rate, opts->output_buffer,
                               opts->output_discard);
    if (!dev->out)
        return false;
    if (dev->ops.output_ready)
        vtpu_outbuf_set_notify(dev->out, output_ready, dev);
    vtpu_chip_set_output(dev->chip, output_fn, dev);
    return true;
}

size_t vtpu_dev_output_peek(vtpu_dev *dev, const uint8_t **p)
{
    *p = NULL;
    return dev->out ? vtpu_outbuf_peek(dev->out, p) : 0;
}

void vtpu_dev_output_consume(vtpu_dev *dev, size_t n)
{
    if (dev->out)
        vtpu_outbuf_consume(dev->out, n);
}

vtpu_dev *vtpu_dev_new(vtpu_chip *chip, const vtpu_dev_ops *ops, void *opaque,
                       const vtpu_dev_opts *opts, char *err, size_t errlen)
{
    uint64_t aper =
        opts && opts->aperture_size ? opts->aperture_size : DEFAULT_APERTURE;

    if (!chip || !ops || !ops->dma_read || !ops->dma_write || !ops->set_irq) {
        if (err && errlen)
            snprintf(err, errlen,
                     "vtpu_dev_new: a chip and the dma_read, dma_write and "
                     "set_irq callbacks are required");
        return NULL;
    }
    if (aper < VTPU_APERTURE_ALIGN || aper > (1ull << 31) ||
        (aper & (aper - 1))) {
        if (err && errlen)
            snprintf(
                err, errlen,
                "aperture size 0x%llx is not a power of two in 4 KiB..2 GiB",
                (unsigned long long)aper);
        return NULL;
    }

    vtpu_dev *dev = g_new0(vtpu_dev, 1);
    dev->chip = chip;
    dev->ops = *ops;
    dev->opaque = opaque;
    dev->synchronous = opts && opts->synchronous;
    dev->spin_ns = opts ? MIN(opts->spin_ns, VTPU_DEV_SPIN_MAX) : 0;
    dev->aper_size = aper;
    if (opts && opts->output_buffer && !output_setup(dev, opts)) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory for a %zu-byte output buffer",
                     opts->output_buffer);
        g_free(dev);
        return NULL;
    }
    vtpu_mutex_init(&dev->lock);
    vtpu_mutex_init(&dev->irq_lock);
    vtpu_cond_init(&dev->work_cond);
    vtpu_cond_init(&dev->idle_cond);
    atomic_init(&dev->abort_cmd, false);
    atomic_init(&dev->spinning, false);
    atomic_init(&dev->work_hint, false);
    atomic_init(&dev->irq_level, 0);
    atomic_init(&dev->irq_rises, 0);

    vtpu_mutex_lock(&dev->lock);
    do_reset(dev);
    vtpu_mutex_unlock(&dev->lock);

    if (!dev->synchronous) {
        GError *gerr = NULL;
        dev->worker = g_thread_try_new("vtpu-cmd", worker_main, dev, &gerr);
        if (!dev->worker) {
            if (err && errlen)
                snprintf(err, errlen, "cannot start the command thread: %s",
                         gerr ? gerr->message : "?");
            g_clear_error(&gerr);
            vtpu_dev_free(dev);
            return NULL;
        }
    }
    return dev;
}

void vtpu_dev_free(vtpu_dev *dev)
{
    if (!dev)
        return;
    vtpu_mutex_lock(&dev->lock);
    dev->quit = true;
    stop_command(dev); /* once: the chip holds it until the join */
    vtpu_cond_broadcast(&dev->work_cond);
    vtpu_cond_broadcast(&dev->idle_cond);
    vtpu_mutex_unlock(&dev->lock);
    if (dev->worker)
        g_thread_join(dev->worker);
    /* Nothing executes any more: the chip may run again without us. */
    vtpu_chip_abort_clear(dev->chip);
    vtpu_cond_clear(&dev->work_cond);
    vtpu_cond_clear(&dev->idle_cond);
    vtpu_mutex_clear(&dev->irq_lock);
    vtpu_mutex_clear(&dev->lock);
    if (dev->out) { /* no TC runs now: the chip goes back to its default */
        vtpu_chip_set_output(dev->chip, NULL, NULL);
        vtpu_outbuf_free(dev->out);
    }
    g_free(dev);
}

/* ------------------------------------------------------------------ */
/* TC status for monitors                                               */
/* ------------------------------------------------------------------ */

/* The mailbox is read through the one checked reader (mailbox.c). */
int vtpu_dev_tc_status(vtpu_dev *dev, unsigned tc, vtpu_dev_tc_info *out)
{
    vtpu_mailbox_view v;

    memset(out, 0, sizeof(*out));
    if (vtpu_chip_tc_status(dev->chip, tc, &out->tc))
        return -1;
    if (out->tc.state == VTPU_TC_STATE_IDLE ||
        !vtpu_mailbox_read(dev->chip->tcs[tc], &v))
        return 0;
    out->has_mailbox = true;
    out->phase = v.mb.phase;
    out->kernel = v.mb.kernel;
    out->code = v.mb.code;
    _Static_assert(sizeof(out->kernel_name) == sizeof(v.mb.name), "name");
    memcpy(out->kernel_name, v.mb.name, sizeof(out->kernel_name));
    if (v.has_point) {
        _Static_assert(sizeof(out->point) == sizeof(v.point), "point");
        memcpy(out->point, v.point, sizeof(out->point));
        out->step = v.step;
        out->has_point = true;
        out->grid_rank = v.rank;
        out->num_steps = v.mb.num_steps;
    }
    return 0;
}

int vtpu_dev_tc_info_format(const vtpu_dev_tc_info *s, char *buf, size_t len)
{
    GString *g = g_string_new(vtpu_tc_state_name(s->tc.state));

    if (s->tc.state == VTPU_TC_STATE_EXITED)
        g_string_append_printf(g, " (code %d)", s->tc.exit_code);
    if (s->tc.pc_valid)
        g_string_append_printf(g, " at pc 0x%08x", s->tc.pc);
    if (s->tc.state != VTPU_TC_STATE_IDLE)
        g_string_append_printf(g, ", %" G_GUINT64_FORMAT "%s instructions",
                               s->tc.instret,
                               s->tc.state == VTPU_TC_STATE_RUNNING ? "+" : "");
    if (s->has_mailbox) {
        g_string_append(g, "; kernel ");
        if (s->kernel_name[0])
            g_string_append_printf(g, "%s ", s->kernel_name);
        if (s->kernel != UINT32_MAX)
            g_string_append_printf(g, "(#%u) ", s->kernel);
        g_string_append(g, vtpu_mailbox_phase_name(s->phase));
        if (s->phase == VTPU_MB_FAILED)
            g_string_append_printf(g, " (%s)", vtpu_launch_err_name(s->code));
        /* step is 0-based and names the step being (or last) run. */
        if (s->has_point && !s->num_steps) {
            g_string_append(g, ", no grid points on this TC");
        } else if (s->has_point) {
            g_string_append(g, " at grid point (");
            for (uint32_t d = 0; d < s->grid_rank; d++)
                g_string_append_printf(g, "%s%d", d ? ", " : "", s->point[d]);
            g_string_append_printf(g, "), step %u of %u",
                                   s->step < s->num_steps ? s->step + 1
                                                          : s->num_steps,
                                   s->num_steps);
        }
    }
    int n = snprintf(buf, len, "%s", g->str);
    g_string_free(g, TRUE);
    return n;
}

/* ------------------------------------------------------------------ */
/* Snapshots (dev.h: vtpu_dev_pause ... vtpu_dev_load)                  */
/* ------------------------------------------------------------------ */

#define DEV_MAGIC "VTPUDEV_"
#define DEV_VERSION 1u

int vtpu_dev_pause(vtpu_dev *dev, int64_t timeout_ms)
{
    int64_t deadline =
        timeout_ms < 0 ? INT64_MAX : g_get_monotonic_time() + timeout_ms * 1000;

    vtpu_mutex_lock(&dev->lock);
    dev->paused = true; /* no command starts from here on */
    vtpu_mutex_unlock(&dev->lock);
    /* A run in progress, or one that starts (its launch had begun),
     * parks its TCs; the chip keeps the request until unpaused. */
    if (vtpu_chip_quiesce(dev->chip, timeout_ms))
        return -1;
    /* Then: nothing executes, or a launch whose run is quiesced.  A copy
     * finishes (bounded); a launch before or after its run goes on to
     * its run (which parks at once) or to its end. */
    for (;;) {
        vtpu_mutex_lock(&dev->lock);
        bool executing = dev->executing, in_run = dev->in_run;
        vtpu_mutex_unlock(&dev->lock);
        if (!executing ||
            (in_run && vtpu_chip_run_active(dev->chip) &&
             vtpu_chip_is_quiet(dev->chip)))
            return 0;
        if (g_get_monotonic_time() > deadline)
            return -1;
        vtpu_mutex_lock(&dev->lock);
        vtpu_cond_wait_until(&dev->idle_cond, &dev->lock,
                             g_get_monotonic_time() + 1000);
        vtpu_mutex_unlock(&dev->lock);
    }
}

void vtpu_dev_resume(vtpu_dev *dev)
{
    vtpu_chip_unquiesce(dev->chip);
    vtpu_mutex_lock(&dev->lock);
    dev->paused = false;
    if (runnable(dev)) {
        if (dev->synchronous) {
            kick_work(dev, true);
        } else {
            dev->kick = true;
        }
    }
    dev_unlock(dev);
}

typedef struct dev_state {
    uint32_t regs[NREGS];
    uint64_t bytes_in, bytes_out;
    uint64_t instret[VTPU_MAX_TCS];
    uint64_t out_counts[2];
    uint32_t latch_hi;
    uint32_t launch; /* a launch is in progress: cur holds it */
    uint32_t idx, flags, started;
    uint64_t addr;
    char err_msg[VTPU_ERR_MSG_MAX];
} dev_state;

/* Little-endian fields, one after the other (the host is little-endian:
 * interp.c requires it), so a copy of the struct's fields in order. */
static void state_io(dev_state *st, uint8_t *buf, bool to_buf)
{
    size_t at = 0;
#define IO(field)                                                              \
    do {                                                                       \
        if (to_buf)                                                            \
            memcpy(buf + at, &st->field, sizeof(st->field));                   \
        else                                                                   \
            memcpy(&st->field, buf + at, sizeof(st->field));                   \
        at += sizeof(st->field);                                               \
    } while (0)
    IO(regs);
    IO(bytes_in);
    IO(bytes_out);
    IO(instret);
    IO(out_counts);
    IO(latch_hi);
    IO(launch);
    IO(idx);
    IO(flags);
    IO(started);
    IO(addr);
    IO(err_msg);
#undef IO
}

#define STATE_BYTES                                                            \
    (4 * NREGS + 16 + 8 * VTPU_MAX_TCS + 16 + 4 * 5 + 8 + VTPU_ERR_MSG_MAX)

int vtpu_dev_save(vtpu_dev *dev, vtpu_snap_write_fn w, void *opaque,
                  char *err, size_t errlen)
{
    dev_state st;
    uint8_t hdr[16], buf[STATE_BYTES];
    uint32_t v = DEV_VERSION, n = STATE_BYTES;

    memset(&st, 0, sizeof(st));
    vtpu_mutex_lock(&dev->lock);
    bool quiet = dev->paused && (!dev->executing || dev->in_run);
    if (quiet) {
        memcpy(st.regs, dev->regs, sizeof(st.regs));
        st.bytes_in = dev->bytes_in;
        st.bytes_out = dev->bytes_out;
        memcpy(st.instret, dev->instret, sizeof(st.instret));
        st.out_counts[0] = out_counter(dev, false);
        st.out_counts[1] = out_counter(dev, true);
        st.latch_hi = dev->latch_hi;
        st.launch = dev->in_run || dev->resume_launch;
        st.idx = dev->cur.idx;
        st.flags = dev->cur.flags;
        st.started = dev->cur.started;
        st.addr = dev->cur.addr;
        memcpy(st.err_msg, dev->err_msg, sizeof(st.err_msg));
    }
    vtpu_mutex_unlock(&dev->lock);
    if (!quiet) {
        snprintf(err, errlen, "the device is not paused");
        return -1;
    }
    memcpy(hdr, DEV_MAGIC, 8);
    memcpy(hdr + 8, &v, 4);
    memcpy(hdr + 12, &n, 4);
    state_io(&st, buf, true);
    if (w(opaque, hdr, sizeof(hdr)) || w(opaque, buf, sizeof(buf))) {
        snprintf(err, errlen, "cannot write the device state");
        return -1;
    }
    return vtpu_chip_save(dev->chip, 0, w, opaque, err, errlen);
}

/* A device state a guest could have made: the ring usable if enabled,
 * pointers inside it, the launch in progress inside it too. */
static int check_state(const vtpu_dev *dev, const dev_state *st, char *err,
                       size_t errlen)
{
    const uint32_t *r = st->regs;
    uint32_t size = r[VTPU_R_RING_SIZE];
    vtpu_dev probe;

    memcpy(probe.regs, r, sizeof(probe.regs));
    bool en = VTPU_FEX(r[VTPU_R_CONTROL], CONTROL, ENABLE);
    if (en && !ring_ok(&probe)) {
        snprintf(err, errlen, "device state: ring enabled with %u entries",
                 size);
        return -1;
    }
    if ((size && (r[VTPU_R_RING_HEAD] >= size || r[VTPU_R_RING_TAIL] >= size)) ||
        (!size && (r[VTPU_R_RING_HEAD] || r[VTPU_R_RING_TAIL]))) {
        snprintf(err, errlen, "device state: ring head %u / tail %u outside "
                              "%u entries",
                 r[VTPU_R_RING_HEAD], r[VTPU_R_RING_TAIL], size);
        return -1;
    }
    if (st->launch > 1 ||
        (st->launch && (!en || st->idx != r[VTPU_R_RING_HEAD] ||
                        st->started == 0 ||
                        st->started > dev->chip->cfg.num_tcs ||
                        (st->flags & ~(VTPU_LAUNCH_F_RESULT |
                                       VTPU_LAUNCH_F_CHECK_EXIT |
                                       VTPU_LAUNCH_F_RANGES))))) {
        snprintf(err, errlen, "device state: the launch in progress (ring "
                              "index %u, %u TCs, flags 0x%x) is impossible",
                 st->idx, st->started, st->flags);
        return -1;
    }
    return 0;
}

int vtpu_dev_load(vtpu_dev *dev, vtpu_snap_read_fn rd, void *opaque,
                  char *err, size_t errlen)
{
    uint8_t hdr[16], buf[STATE_BYTES];
    uint32_t v, n;
    dev_state st;

    vtpu_mutex_lock(&dev->lock);
    if (!dev->paused) {
        vtpu_mutex_unlock(&dev->lock);
        snprintf(err, errlen, "the device must be paused to load its state");
        return -1;
    }
    /* Whatever the current state runs goes: a reset, as at power-on. */
    request_reset(dev);
    while (dev->reset_req)
        vtpu_cond_wait(&dev->idle_cond, &dev->lock);
    vtpu_mutex_unlock(&dev->lock);

    int rc = -1;
    if (rd(opaque, hdr, sizeof(hdr))) {
        snprintf(err, errlen, "device state: truncated");
        goto out;
    }
    memcpy(&v, hdr + 8, 4);
    memcpy(&n, hdr + 12, 4);
    if (memcmp(hdr, DEV_MAGIC, 8)) {
        snprintf(err, errlen, "device state: bad magic");
        goto out;
    }
    if (v != DEV_VERSION || n != STATE_BYTES) {
        snprintf(err, errlen,
                 "device state version %u (%u bytes): this device reads "
                 "version %u (%u bytes)",
                 v, n, DEV_VERSION, (unsigned)STATE_BYTES);
        goto out;
    }
    if (rd(opaque, buf, sizeof(buf))) {
        snprintf(err, errlen, "device state: truncated");
        goto out;
    }
    state_io(&st, buf, false);
    st.err_msg[sizeof(st.err_msg) - 1] = 0;
    if (check_state(dev, &st, err, errlen))
        goto out;
    if (vtpu_chip_load(dev->chip, 0, rd, opaque, err, errlen))
        goto out;
    if (st.launch != vtpu_chip_run_pending(dev->chip)) {
        snprintf(err, errlen, "device state: a launch %s in progress, the "
                              "chip's state %s a run",
                 st.launch ? "is" : "is not",
                 vtpu_chip_run_pending(dev->chip) ? "has" : "has no");
        goto out;
    }
    rc = 0;
out:
    vtpu_mutex_lock(&dev->lock);
    if (rc) {
        do_reset(dev); /* a clean device, not half a state */
    } else {
        memcpy(dev->regs, st.regs, sizeof(dev->regs));
        dev->bytes_in = st.bytes_in;
        dev->bytes_out = st.bytes_out;
        memcpy(dev->instret, st.instret, sizeof(dev->instret));
        if (dev->out) {
            vtpu_outbuf_stats os;
            vtpu_outbuf_stats_get(dev->out, &os);
            dev->out_base[0] = os.accepted - st.out_counts[0];
            dev->out_base[1] = os.dropped - st.out_counts[1];
        }
        dev->latch_hi = st.latch_hi;
        memcpy(dev->err_msg, st.err_msg, sizeof(dev->err_msg));
        dev->resume_launch = st.launch;
        dev->cur = (dev_launch){st.idx, st.flags, st.started, st.addr};
        dev->t_doorbell = 0;
        dev->doorbell_pending = false;
    }
    update_irq(dev);
    vtpu_cond_broadcast(&dev->idle_cond);
    dev_unlock(dev);
    return rc;
}
