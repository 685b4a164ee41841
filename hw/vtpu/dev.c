/*
 * dev.c - the host interface: one table of registers, one update_irq(),
 * and the command processor (docs/registers.md; contract in dev.h).
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
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dev.h"
#include "internal.h"

#define NREGS (VTPU_BAR0_SIZE / 4)
#define CHUNK (1u << 20) /* bytes per DMA callback; abort is checked per chunk */
#define DEFAULT_APERTURE (16u << 20)
#define KICK_MS 10 /* how often a waiter re-asks a launch to stop */

/* The register interface mirrors the engine's taxonomy value for value. */
_Static_assert(sizeof(vtpu_cmd) == VTPU_CMD_SIZE, "ring entry size");
_Static_assert(sizeof(vtpu_launch_result) == 112, "launch result size");
_Static_assert((int)VTPU_ERR__COUNT == (int)VTPU_FAULT__COUNT,
               "fault kinds");
_Static_assert((int)VTPU_ERR_NO_PROGRAM == (int)VTPU_FAULT_NO_PROGRAM,
               "fault kinds");
_Static_assert((int)VTPU_ERR_WATCHDOG == (int)VTPU_FAULT_WATCHDOG,
               "fault kinds");
_Static_assert((int)VTPU_SPACE_SEM == (int)VTPU_ESPACE_SEM, "spaces");
_Static_assert(VTPU_MAX_PROGRAMS <= 255 && VTPU_MAX_TCS <= 8, "fields");
_Static_assert(VTPU_A_TC_INSTRET_LO + 8 * VTPU_MAX_TCS <= VTPU_A_ERR_MSG,
               "counter block");

/* What a register-level or command error reports (the ERR_* registers). */
typedef struct dev_err {
    uint32_t code, kind, tc, pc, space, value;
    uint64_t addr, len;
    char msg[VTPU_ERR_MSG_SIZE];
} dev_err;

/* Everything a command does to the registers, applied under the lock. */
typedef struct cmd_outcome {
    uint32_t opcode;
    dev_err err;
    bool fence, fence_irq;
    uint32_t fence_val;
    bool launched;
    int32_t exit_code;
    uint64_t instret[VTPU_MAX_TCS];
    uint64_t bytes_in, bytes_out;
} cmd_outcome;

struct vtpu_dev {
    vtpu_chip *chip;
    vtpu_dev_ops ops;
    void *opaque;
    bool synchronous;
    uint64_t aper_size;

    GMutex lock;
    GCond work_cond; /* the worker has something to do */
    GCond idle_cond; /* a command or a reset finished */
    GThread *worker;
    bool quit;
    bool worker_done;

    uint32_t regs[NREGS]; /* stored registers (no read hook) */
    bool executing;       /* a command runs outside the lock */
    bool in_launch;       /* ... and it is inside vtpu_chip_run() */
    bool reset_req;       /* soft reset waits for that command */
    atomic_bool abort_cmd;
    uint32_t latch_hi;    /* HI half of the last 64-bit counter read */
    uint64_t bytes_in, bytes_out;
    uint64_t instret[VTPU_MAX_TCS];
    char err_msg[VTPU_ERR_MSG_SIZE];
    atomic_int irq_level; /* computed by update_irq() */

    GMutex irq_lock;      /* orders set_irq calls */
    int irq_delivered;
};

/* ------------------------------------------------------------------ */
/* Logging and small helpers                                            */
/* ------------------------------------------------------------------ */

static void dev_log(vtpu_dev *dev, vtpu_log_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dev_log(vtpu_dev *dev, vtpu_log_class cls, const char *fmt, ...)
{
    char msg[VTPU_ERR_MSG_SIZE + 64];
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

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t reg64(const vtpu_dev *dev, unsigned lo)
{
    return dev->regs[lo] | (uint64_t)dev->regs[lo + 1] << 32;
}

static bool in_hbm(const vtpu_dev *dev, uint64_t off, uint64_t len)
{
    uint64_t size = dev->chip->cfg.hbm_size;
    return off <= size && len <= size - off;
}

static const char *op_name(uint32_t op)
{
    static const char *const names[VTPU_OP__COUNT] = {
        [VTPU_OP_NOP] = "NOP",
        [VTPU_OP_COPY_H2D] = "COPY_H2D",
        [VTPU_OP_COPY_D2H] = "COPY_D2H",
        [VTPU_OP_COPY_D2D] = "COPY_D2D",
        [VTPU_OP_FILL] = "FILL",
        [VTPU_OP_LOAD_PROG] = "LOAD_PROG",
        [VTPU_OP_LAUNCH] = "LAUNCH",
        [VTPU_OP_FENCE] = "FENCE",
    };
    return op < VTPU_OP__COUNT && names[op] ? names[op] : "unknown";
}

/* ------------------------------------------------------------------ */
/* Interrupts and state                                                 */
/* ------------------------------------------------------------------ */

/* The one place the interrupt line is computed.  Lock held. */
static void update_irq(vtpu_dev *dev)
{
    uint32_t pending = dev->regs[VTPU_R_INT_STATUS] &
                       dev->regs[VTPU_R_INT_ENABLE] & VTPU_INT_ALL;
    atomic_store(&dev->irq_level, pending != 0);
}

/* Drop the lock, then tell the embedder about a changed line. */
static void dev_unlock(vtpu_dev *dev)
{
    g_mutex_unlock(&dev->lock);
    g_mutex_lock(&dev->irq_lock);
    int level = atomic_load(&dev->irq_level);
    if (level != dev->irq_delivered) {
        dev->irq_delivered = level;
        dev->ops.set_irq(dev->opaque, level);
    }
    g_mutex_unlock(&dev->irq_lock);
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
    return !dev->executing && !dev->reset_req && !dev->quit &&
           enabled(dev) && !in_error(dev) &&
           dev->regs[VTPU_R_RING_HEAD] != dev->regs[VTPU_R_RING_TAIL];
}

static uint32_t state(const vtpu_dev *dev)
{
    if (dev->reset_req)
        return VTPU_STATE_RESETTING;
    if (in_error(dev))
        return VTPU_STATE_ERROR;
    if (dev->executing)
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
        dev_log(dev, VTPU_LOG_CMD_ERROR, "command %u (%s): error %u: %s",
                index, op_name(opcode), e->code, e->msg);
}

static void clear_error(vtpu_dev *dev)
{
    for (unsigned i = VTPU_R_ERR_CODE; i < VTPU_R_ERR_COUNT; i++)
        dev->regs[i] = 0;
    dev->regs[VTPU_R_ERR_INDEX] = VTPU_ERR_NONE32;
    dev->regs[VTPU_R_ERR_TC] = VTPU_ERR_NONE32;
    memset(dev->err_msg, 0, sizeof(dev->err_msg));
}

static void set_err(dev_err *e, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(dev_err *e, uint32_t code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

static void init_err(dev_err *e)
{
    memset(e, 0, sizeof(*e));
    e->tc = VTPU_ERR_NONE32;
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

/* Ask a launch in progress to stop (lock held).  Repeated by waiters:
 * a stop that lands just before the run clears chip->stop is lost. */
static void kick_launch(vtpu_dev *dev)
{
    if (dev->in_launch) {
        atomic_store(&dev->chip->stop, 1);
        vtpu_sync_stop_all(dev->chip);
    }
}

/* Power-on state of every register (lock held, nothing executing). */
static void do_reset(vtpu_dev *dev)
{
    memset(dev->regs, 0, sizeof(dev->regs));
    clear_error(dev);
    dev->bytes_in = dev->bytes_out = 0;
    memset(dev->instret, 0, sizeof(dev->instret));
    dev->latch_hi = 0;
    /* Programs are device state a driver must reload after reset; HBM
     * keeps its contents, as DRAM does across a soft reset. */
    vtpu_chip_unload_programs(dev->chip);
    dev->reset_req = false;
    update_irq(dev);
    g_cond_broadcast(&dev->idle_cond);
    dev_log(dev, VTPU_LOG_TRACE, "reset");
}

static void request_reset(vtpu_dev *dev)
{
    dev->reset_req = true;
    if (dev->executing) {
        atomic_store(&dev->abort_cmd, true);
        kick_launch(dev);
    } else {
        do_reset(dev);
    }
}

/* ------------------------------------------------------------------ */
/* Commands (executed without the lock)                                 */
/* ------------------------------------------------------------------ */

/* Decoded ring entry. */
typedef struct cmd {
    uint32_t hdr, op, flags, arg;
    uint64_t src, dst, len, addr;
    uint32_t args[4];
} cmd;

static bool aborted(vtpu_dev *dev)
{
    return atomic_load(&dev->abort_cmd);
}

static void err_hbm(dev_err *e, const char *what, uint64_t off, uint64_t len,
                    uint64_t size)
{
    set_err(e, VTPU_E_HBM_RANGE,
            "%s range 0x%llx + 0x%llx is outside HBM (0x%llx bytes)", what,
            (unsigned long long)off, (unsigned long long)len,
            (unsigned long long)size);
    e->space = VTPU_ESPACE_HBM;
    e->addr = off;
    e->len = len;
}

static void err_host(dev_err *e, const char *what, uint64_t addr,
                     uint64_t len)
{
    set_err(e, VTPU_E_HOST_DMA,
            "%s host memory 0x%llx + 0x%llx is not accessible", what,
            (unsigned long long)addr, (unsigned long long)len);
    e->space = VTPU_ESPACE_HOST;
    e->addr = addr;
    e->len = len;
}

/* Checks shared by the copies: non-zero length, HBM and host ranges. */
static bool check_copy(vtpu_dev *dev, const cmd *c, dev_err *e)
{
    uint64_t size = dev->chip->cfg.hbm_size;
    bool src_hbm = c->op != VTPU_OP_COPY_H2D;
    bool dst_hbm = c->op != VTPU_OP_COPY_D2H;

    if (!c->len) {
        set_err(e, VTPU_E_BAD_LENGTH, "copy of 0 bytes");
        return false;
    }
    if (src_hbm && !in_hbm(dev, c->src, c->len)) {
        err_hbm(e, "source", c->src, c->len, size);
        return false;
    }
    if (dst_hbm && !in_hbm(dev, c->dst, c->len)) {
        err_hbm(e, "destination", c->dst, c->len, size);
        return false;
    }
    uint64_t host = src_hbm ? c->dst : c->src;
    if (c->op != VTPU_OP_COPY_D2D && host > UINT64_MAX - c->len) {
        err_host(e, "copy wraps around:", host, c->len);
        return false;
    }
    return true;
}

static void cmd_copy(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    uint8_t *hbm = dev->chip->hbm;

    if (!check_copy(dev, c, &o->err))
        return;
    if (c->op == VTPU_OP_COPY_D2D) {
        /* Chunks in the direction that keeps overlapping ranges right. */
        bool down = c->dst > c->src;
        for (uint64_t done = 0; done < c->len && !aborted(dev);) {
            uint64_t n = MIN(CHUNK, c->len - done);
            uint64_t at = down ? c->len - done - n : done;
            memmove(hbm + c->dst + at, hbm + c->src + at, n);
            done += n;
        }
        return;
    }
    for (uint64_t done = 0; done < c->len && !aborted(dev);) {
        size_t n = (size_t)MIN(CHUNK, c->len - done);
        int rc;
        if (c->op == VTPU_OP_COPY_H2D) {
            rc = dev->ops.dma_read(dev->opaque, c->src + done,
                                   hbm + c->dst + done, n);
            o->bytes_in += rc ? 0 : n;
        } else {
            rc = dev->ops.dma_write(dev->opaque, c->dst + done,
                                    hbm + c->src + done, n);
            o->bytes_out += rc ? 0 : n;
        }
        if (rc) {
            err_host(&o->err, "copy:",
                     (c->op == VTPU_OP_COPY_H2D ? c->src : c->dst) + done,
                     n);
            return;
        }
        done += n;
    }
}

static void cmd_fill(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    uint8_t pat[4096];

    if (!c->len || c->len % 4) {
        set_err(&o->err, VTPU_E_BAD_LENGTH,
                "fill length 0x%llx is not a non-zero multiple of 4",
                (unsigned long long)c->len);
        o->err.len = c->len;
        return;
    }
    if (c->dst % 4) {
        set_err(&o->err, VTPU_E_BAD_ALIGN,
                "fill destination 0x%llx is not 4-byte aligned",
                (unsigned long long)c->dst);
        o->err.space = VTPU_ESPACE_HBM;
        o->err.addr = c->dst;
        return;
    }
    if (!in_hbm(dev, c->dst, c->len)) {
        err_hbm(&o->err, "fill", c->dst, c->len, dev->chip->cfg.hbm_size);
        return;
    }
    for (size_t i = 0; i < sizeof(pat); i += 4)
        put_le32(pat + i, c->arg);
    for (uint64_t done = 0; done < c->len && !aborted(dev);) {
        uint64_t n = MIN(sizeof(pat), c->len - done);
        memcpy(dev->chip->hbm + c->dst + done, pat, n);
        done += n;
    }
}

static void cmd_load(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    dev_err *e = &o->err;

    if (c->arg >= VTPU_MAX_PROGRAMS) {
        set_err(e, VTPU_E_BAD_SLOT, "program slot %u out of range (0..%u)",
                c->arg, VTPU_MAX_PROGRAMS - 1);
        e->value = c->arg;
        return;
    }
    if (!c->len || c->len > VTPU_LOAD_PROG_MAX_LEN) {
        set_err(e, VTPU_E_BAD_LENGTH,
                "ELF image length 0x%llx not in 1..0x%x",
                (unsigned long long)c->len, VTPU_LOAD_PROG_MAX_LEN);
        e->len = c->len;
        return;
    }
    if (!in_hbm(dev, c->src, c->len)) {
        err_hbm(e, "ELF image", c->src, c->len, dev->chip->cfg.hbm_size);
        return;
    }
    char why[160];
    if (vtpu_chip_load_elf_slot(dev->chip, c->arg, dev->chip->hbm + c->src,
                                (size_t)c->len, why, sizeof(why))) {
        set_err(e, VTPU_E_BAD_ELF, "slot %u: %s", c->arg, why);
        e->value = c->arg;
        e->space = VTPU_ESPACE_HBM;
        e->addr = c->src;
        e->len = c->len;
    }
}

static void fault_to_err(const vtpu_error *f, dev_err *e)
{
    char line[VTPU_ERR_MSG_SIZE];

    vtpu_error_format(f, line, sizeof(line));
    set_err(e, VTPU_E_FAULT, "%s", line);
    e->kind = (uint32_t)f->kind;
    e->tc = f->tc >= 0 ? (uint32_t)f->tc : VTPU_ERR_NONE32;
    e->pc = f->pc;
    e->space = (uint32_t)f->space;
    e->addr = f->addr;
    e->len = f->len;
}

static void cmd_launch(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    dev_err *e = &o->err;
    uint32_t slot = VTPU_FEX(c->arg, LAUNCH, SLOT);
    uint32_t tcs = VTPU_FEX(c->arg, LAUNCH, TCS);
    uint32_t ntcs = dev->chip->cfg.num_tcs;

    if (c->arg >> 16) {
        set_err(e, VTPU_E_BAD_FLAGS, "launch argument 0x%x: bits 16..31 "
                "are reserved", c->arg);
        e->value = c->arg;
        return;
    }
    if (slot >= VTPU_MAX_PROGRAMS) {
        set_err(e, VTPU_E_BAD_SLOT, "program slot %u out of range (0..%u)",
                slot, VTPU_MAX_PROGRAMS - 1);
        e->value = slot;
        return;
    }
    if (!vtpu_chip_has_program(dev->chip, slot)) {
        set_err(e, VTPU_E_NO_PROGRAM, "launch of program slot %u, which "
                "holds no program", slot);
        e->value = slot;
        return;
    }
    if (tcs > ntcs) {
        set_err(e, VTPU_E_BAD_TCS, "launch on %u TCs, the chip has %u", tcs,
                ntcs);
        e->value = tcs;
        return;
    }

    vtpu_run_opts opts = {.num_tcs = tcs};
    vtpu_run_result res;
    memcpy(opts.args, c->args, sizeof(opts.args));
    vtpu_chip_select_program(dev->chip, slot);

    g_mutex_lock(&dev->lock);
    bool go = !dev->reset_req && !dev->quit;
    dev->in_launch = go;
    g_mutex_unlock(&dev->lock);
    if (!go)
        return;
    int rc = vtpu_chip_run(dev->chip, &opts, &res);
    g_mutex_lock(&dev->lock);
    dev->in_launch = false;
    g_mutex_unlock(&dev->lock);

    unsigned started = tcs ? tcs : ntcs;
    o->launched = true;
    o->exit_code = res.exit_code;
    memcpy(o->instret, res.instret, sizeof(o->instret));
    if (rc)
        fault_to_err(&res.error, e);
    else if ((c->flags & VTPU_LAUNCH_F_CHECK_EXIT) && res.exit_code) {
        unsigned t = 0;
        while (t + 1 < started && !res.tc_exit[t])
            t++;
        set_err(e, VTPU_E_EXIT_CODE, "TC %u exited with code %d", t,
                res.tc_exit[t]);
        e->tc = t;
        e->value = (uint32_t)res.tc_exit[t];
    }

    if (c->flags & VTPU_LAUNCH_F_RESULT) {
        uint8_t rec[sizeof(vtpu_launch_result)] = {0};
        put_le32(rec + 0, e->code);
        put_le32(rec + 4, (uint32_t)res.exit_code);
        put_le32(rec + 8, started);
        for (unsigned t = 0; t < VTPU_MAX_TCS; t++) {
            put_le32(rec + 16 + 4 * t, (uint32_t)res.tc_exit[t]);
            put_le64(rec + 48 + 8 * t, res.instret[t]);
        }
        if (dev->ops.dma_write(dev->opaque, c->addr, rec, sizeof(rec)) &&
            !e->code)
            err_host(e, "launch result:", c->addr, sizeof(rec));
    }
}

static void cmd_fence(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    if (c->flags & VTPU_FENCE_F_WRITEBACK) {
        uint8_t v[4];
        put_le32(v, c->arg);
        if (dev->ops.dma_write(dev->opaque, c->addr, v, sizeof(v))) {
            err_host(&o->err, "fence write-back:", c->addr, sizeof(v));
            return;
        }
    }
    o->fence = true;
    o->fence_val = c->arg;
    o->fence_irq = c->flags & VTPU_FENCE_F_IRQ;
}

/* Flags each opcode defines; anything else is VTPU_E_BAD_FLAGS. */
static const uint32_t op_flags[VTPU_OP__COUNT] = {
    [VTPU_OP_LAUNCH] = VTPU_LAUNCH_F_RESULT | VTPU_LAUNCH_F_CHECK_EXIT,
    [VTPU_OP_FENCE] = VTPU_FENCE_F_IRQ | VTPU_FENCE_F_WRITEBACK,
};

/* Fetch, decode and execute the command at ring index `idx`. */
static void execute(vtpu_dev *dev, uint32_t idx, uint64_t addr,
                    cmd_outcome *o)
{
    uint8_t raw[VTPU_CMD_SIZE];
    dev_err *e = &o->err;
    cmd c;

    if (dev->ops.dma_read(dev->opaque, addr, raw, sizeof(raw))) {
        set_err(e, VTPU_E_RING_FETCH, "cannot read ring entry %u at host "
                "address 0x%llx", idx, (unsigned long long)addr);
        e->space = VTPU_ESPACE_HOST;
        e->addr = addr;
        e->len = sizeof(raw);
        return;
    }
    c.hdr = le32(raw + VTPU_CMD_OFF_HDR);
    c.op = VTPU_FEX(c.hdr, CMD, OPCODE);
    c.flags = VTPU_FEX(c.hdr, CMD, FLAGS);
    c.arg = le32(raw + VTPU_CMD_OFF_ARG);
    c.src = le64(raw + VTPU_CMD_OFF_SRC);
    c.dst = le64(raw + VTPU_CMD_OFF_DST);
    c.len = le64(raw + VTPU_CMD_OFF_LEN);
    c.addr = le64(raw + VTPU_CMD_OFF_ADDR);
    for (unsigned i = 0; i < 4; i++)
        c.args[i] = le32(raw + VTPU_CMD_OFF_ARGS + 4 * i);
    o->opcode = c.op;

    if (c.op == 0 || c.op >= VTPU_OP__COUNT) {
        set_err(e, VTPU_E_BAD_OPCODE, "unknown opcode 0x%02x%s", c.op,
                c.op ? "" : " (an entry that was never written?)");
        e->value = c.op;
        return;
    }
    if (VTPU_FEX(c.hdr, CMD, RSVD) || (c.flags & ~op_flags[c.op])) {
        set_err(e, VTPU_E_BAD_FLAGS, "%s: header 0x%08x has unknown flags "
                "or reserved bits set", op_name(c.op), c.hdr);
        e->value = c.hdr;
        return;
    }
    switch (c.op) {
    case VTPU_OP_NOP:
        break;
    case VTPU_OP_COPY_H2D:
    case VTPU_OP_COPY_D2H:
    case VTPU_OP_COPY_D2D:
        cmd_copy(dev, &c, o);
        break;
    case VTPU_OP_FILL:
        cmd_fill(dev, &c, o);
        break;
    case VTPU_OP_LOAD_PROG:
        cmd_load(dev, &c, o);
        break;
    case VTPU_OP_LAUNCH:
        cmd_launch(dev, &c, o);
        break;
    case VTPU_OP_FENCE:
        cmd_fence(dev, &c, o);
        break;
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
            op_name(o->opcode));
}

/*
 * Execute the command at HEAD.  Lock held on entry and on return; dropped
 * while the command runs.  Ring configuration cannot change meanwhile
 * (writable only when disabled and idle), so idx stays meaningful.
 */
static void step(vtpu_dev *dev)
{
    uint32_t idx = dev->regs[VTPU_R_RING_HEAD];
    uint64_t addr = reg64(dev, VTPU_R_RING_BASE_LO) +
                    (uint64_t)idx * VTPU_CMD_SIZE;
    cmd_outcome o;

    memset(&o, 0, sizeof(o));
    init_err(&o.err);
    dev->executing = true;
    atomic_store(&dev->abort_cmd, false);
    g_mutex_unlock(&dev->lock);
    execute(dev, idx, addr, &o);
    g_mutex_lock(&dev->lock);
    dev->executing = false;
    if (dev->reset_req)
        do_reset(dev); /* the command was cut short; forget it */
    else
        apply(dev, idx, &o);
    update_irq(dev);
    g_cond_broadcast(&dev->idle_cond);
}

static gpointer worker_main(gpointer opaque)
{
    vtpu_dev *dev = opaque;

    g_mutex_lock(&dev->lock);
    while (!dev->quit) {
        if (!runnable(dev)) {
            g_cond_wait(&dev->work_cond, &dev->lock);
            continue;
        }
        step(dev);
        dev_unlock(dev);
        g_mutex_lock(&dev->lock);
    }
    dev->worker_done = true;
    g_cond_broadcast(&dev->idle_cond);
    g_mutex_unlock(&dev->lock);
    return NULL;
}

/* Lock held.  Hand new work to the worker, or in synchronous mode run it
 * right here (dropping the lock around each command as the worker does). */
static void kick_work(vtpu_dev *dev)
{
    if (!dev->synchronous) {
        g_cond_signal(&dev->work_cond);
        return;
    }
    while (runnable(dev)) {
        step(dev);
        dev_unlock(dev);
        g_mutex_lock(&dev->lock);
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
        return VTPU_FDP(VTPU_VERSION_MINOR, VERSION, MAJOR,
                        VTPU_VERSION_MAJOR);
    case VTPU_R_CAPS:
        return VTPU_FMASK(CAPS, FENCE_WB) | VTPU_FMASK(CAPS, LAUNCH_RESULT) |
               VTPU_FMASK(CAPS, APERTURE) | VTPU_FMASK(CAPS, ERR_MSG);
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
        return VTPU_FDP(VTPU_FDP(VTPU_SUBLANES, VREG_SHAPE, LANES,
                                 VTPU_LANES),
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
    /* A driver polls STATUS while a reset waits: re-ask the launch to
     * stop on every poll, which closes kick_launch()'s race. */
    if (dev->reset_req)
        kick_launch(dev);
    return state(dev);
}

static uint32_t rd_zero(vtpu_dev *dev, unsigned idx)
{
    (void)dev;
    (void)idx;
    return 0;
}

/* 64-bit counters: reading LO latches HI, so LO-then-HI never tears. */
static uint32_t rd_counter(vtpu_dev *dev, unsigned idx)
{
    uint64_t v;
    unsigned lo = idx & ~1u;

    if (lo == VTPU_R_BYTES_IN_LO)
        v = dev->bytes_in;
    else if (lo == VTPU_R_BYTES_OUT_LO)
        v = dev->bytes_out;
    else
        v = dev->instret[(lo - VTPU_R_TC_INSTRET_LO) / 2];
    if (idx == lo) {
        dev->latch_hi = (uint32_t)(v >> 32);
        return (uint32_t)v;
    }
    return dev->latch_hi;
}

static uint32_t rd_err_msg(vtpu_dev *dev, unsigned idx)
{
    return le32((const uint8_t *)dev->err_msg +
                4 * (idx - VTPU_R_ERR_MSG));
}

static void wr_control(vtpu_dev *dev, unsigned idx, uint32_t val)
{
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
        set_err(&e, VTPU_E_RING_CONFIG,
                "ring enabled with base 0x%llx and %u entries (need a power "
                "of two in %u..%u)",
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
    kick_work(dev);
}

static void wr_ring_cfg(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    if (state(dev) != VTPU_STATE_DISABLED) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "ring configuration written while the ring is not disabled "
                "and idle: ignored");
        return;
    }
    dev->regs[idx] = idx == VTPU_R_RING_BASE_LO
                         ? val & ~(VTPU_RING_ALIGN - 1)
                         : val;
    /* A new ring starts empty. */
    dev->regs[VTPU_R_RING_HEAD] = 0;
    dev->regs[VTPU_R_RING_TAIL] = 0;
}

static void wr_tail(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    if (!ring_ok(dev) || val >= dev->regs[VTPU_R_RING_SIZE]) {
        dev_err e;
        init_err(&e);
        set_err(&e, VTPU_E_RING_POINTER,
                "RING_TAIL written with %u, the ring has %u entries", val,
                dev->regs[VTPU_R_RING_SIZE]);
        e.value = val;
        raise_error(dev, VTPU_ERR_NONE32, 0, &e);
        return;
    }
    dev->regs[idx] = val;
    kick_work(dev);
}

static void wr_err_ack(vtpu_dev *dev, unsigned idx, uint32_t val)
{
    (void)idx;
    uint32_t action = VTPU_FEX(val, ERR_ACK, ACTION);
    uint32_t *r = dev->regs;

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
    kick_work(dev);
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
    [VTPU_R_ERR_ACK] = {.name = "ERR_ACK", .read = rd_zero,
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
    [VTPU_R_APERTURE_BASE_HI] = {.name = "APERTURE_BASE_HI",
                                 .rw = UINT32_MAX},
    RO(CMD_COUNT),
    RO(LAUNCH_COUNT),
    COUNTER(BYTES_IN_LO),
    COUNTER(BYTES_IN_HI),
    COUNTER(BYTES_OUT_LO),
    COUNTER(BYTES_OUT_HI),
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
    if (idx >= VTPU_R_ERR_MSG && idx < VTPU_R_ERR_MSG + VTPU_ERR_MSG_SIZE / 4)
        return &err_msg_desc;
    if (idx < NREGS && reg_table[idx].name)
        return &reg_table[idx];
    return NULL;
}

static uint32_t reg_read32(vtpu_dev *dev, uint64_t off)
{
    const reg_desc *r = off % 4 ? NULL : lookup((unsigned)MIN(off / 4, NREGS));

    if (!r) {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "read of unmapped register offset 0x%llx", (unsigned long long)off);
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

    g_mutex_lock(&dev->lock);
    if (size == 4) {
        v = reg_read32(dev, off);
    } else if (size == 8 && off % 8 == 0) {
        v = reg_read32(dev, off);
        v |= (uint64_t)reg_read32(dev, off + 4) << 32;
    } else {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "register read of size %u at 0x%llx: only aligned 4 and 8 "
                "byte accesses are defined",
                size, (unsigned long long)off);
    }
    dev_unlock(dev);
    return v;
}

void vtpu_dev_reg_write(vtpu_dev *dev, uint64_t off, uint64_t val,
                        unsigned size)
{
    g_mutex_lock(&dev->lock);
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
    dev_unlock(dev);
}

/* HBM address of aperture byte `off` for a `size`-byte access, or false. */
static bool aperture_at(vtpu_dev *dev, uint64_t off, unsigned size,
                        uint64_t *hbm)
{
    bool ok = false;

    g_mutex_lock(&dev->lock);
    uint64_t base = reg64(dev, VTPU_R_APERTURE_BASE_LO);
    if ((size == 1 || size == 2 || size == 4 || size == 8) &&
        off < dev->aper_size && size <= dev->aper_size - off &&
        base <= UINT64_MAX - off && in_hbm(dev, base + off, size)) {
        *hbm = base + off;
        ok = true;
    } else {
        dev_log(dev, VTPU_LOG_GUEST_ERROR,
                "aperture access of %u bytes at window offset 0x%llx "
                "(HBM 0x%llx) is outside the window or HBM: ignored",
                size, (unsigned long long)off,
                (unsigned long long)(base + off));
    }
    g_mutex_unlock(&dev->lock);
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
}

uint64_t vtpu_dev_aperture_size(const vtpu_dev *dev)
{
    return dev->aper_size;
}

int vtpu_dev_irq_level(vtpu_dev *dev)
{
    return atomic_load(&dev->irq_level);
}

static bool busy(const vtpu_dev *dev)
{
    return dev->executing || dev->reset_req || runnable(dev);
}

int vtpu_dev_wait_idle(vtpu_dev *dev, int64_t timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;
    int rc = 0;

    g_mutex_lock(&dev->lock);
    while (busy(dev)) {
        gint64 now = g_get_monotonic_time();
        if (timeout_ms >= 0 && now >= deadline) {
            rc = -1;
            break;
        }
        if (dev->reset_req)
            kick_launch(dev);
        gint64 until = now + KICK_MS * 1000;
        if (timeout_ms >= 0 && until > deadline)
            until = deadline;
        g_cond_wait_until(&dev->idle_cond, &dev->lock, until);
    }
    dev_unlock(dev);
    return rc;
}

void vtpu_dev_reset(vtpu_dev *dev)
{
    g_mutex_lock(&dev->lock);
    request_reset(dev);
    while (dev->reset_req) {
        kick_launch(dev);
        g_cond_wait_until(&dev->idle_cond, &dev->lock,
                          g_get_monotonic_time() + KICK_MS * 1000);
    }
    dev_unlock(dev);
}

vtpu_dev *vtpu_dev_new(vtpu_chip *chip, const vtpu_dev_ops *ops,
                       void *opaque, const vtpu_dev_opts *opts, char *err,
                       size_t errlen)
{
    uint64_t aper = opts && opts->aperture_size ? opts->aperture_size
                                                : DEFAULT_APERTURE;

    if (!chip || !ops || !ops->dma_read || !ops->dma_write ||
        !ops->set_irq) {
        if (err && errlen)
            snprintf(err, errlen, "vtpu_dev_new: a chip and the dma_read, "
                     "dma_write and set_irq callbacks are required");
        return NULL;
    }
    if (aper < VTPU_APERTURE_ALIGN || aper > (1ull << 31) ||
        (aper & (aper - 1))) {
        if (err && errlen)
            snprintf(err, errlen, "aperture size 0x%llx is not a power of "
                     "two in 4 KiB..2 GiB", (unsigned long long)aper);
        return NULL;
    }

    vtpu_dev *dev = g_new0(vtpu_dev, 1);
    dev->chip = chip;
    dev->ops = *ops;
    dev->opaque = opaque;
    dev->synchronous = opts && opts->synchronous;
    dev->aper_size = aper;
    g_mutex_init(&dev->lock);
    g_mutex_init(&dev->irq_lock);
    g_cond_init(&dev->work_cond);
    g_cond_init(&dev->idle_cond);
    atomic_init(&dev->abort_cmd, false);
    atomic_init(&dev->irq_level, 0);

    g_mutex_lock(&dev->lock);
    do_reset(dev);
    g_mutex_unlock(&dev->lock);

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
    g_mutex_lock(&dev->lock);
    dev->quit = true;
    atomic_store(&dev->abort_cmd, true);
    g_cond_broadcast(&dev->work_cond);
    /* Keep asking a launch in progress to stop until the worker is gone:
     * one request can be lost (kick_launch()). */
    while (dev->worker && !dev->worker_done) {
        kick_launch(dev);
        g_cond_wait_until(&dev->idle_cond, &dev->lock,
                          g_get_monotonic_time() + KICK_MS * 1000);
    }
    g_mutex_unlock(&dev->lock);
    if (dev->worker)
        g_thread_join(dev->worker);
    g_cond_clear(&dev->work_cond);
    g_cond_clear(&dev->idle_cond);
    g_mutex_clear(&dev->irq_lock);
    g_mutex_clear(&dev->lock);
    g_free(dev);
}
