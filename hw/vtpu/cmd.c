/*
 * cmd.c - the command processor: decode one ring entry and execute it
 * (docs/registers.md lists the commands and their errors).
 *
 * Runs without the device lock, on the device's worker thread (or the
 * doorbell writer's, in synchronous mode).  It touches the chip and host
 * memory, never the registers: what a command does to them goes into a
 * cmd_outcome that dev.c applies under the lock.  Long commands check
 * dev->abort_cmd between chunks so a soft reset need not wait for them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dev-priv.h"

#define CHUNK                                                                  \
    (1u << 20) /* bytes per DMA callback; abort is checked per chunk */

/* The register interface mirrors the engine's taxonomy value for value. */
_Static_assert(sizeof(vtpu_cmd) == VTPU_CMD_SIZE, "ring entry size");
_Static_assert(sizeof(vtpu_launch_result) == 112, "launch result size");
_Static_assert((int)VTPU_ERR__COUNT == (int)VTPU_FAULT__COUNT, "fault kinds");
/* The hand-written counts of vtpu-regs.h's tables cover every entry. */
#define OP_BELOW_COUNT(name, v) _Static_assert((v) < VTPU_OP__COUNT, #name);
VTPU_OPCODES(OP_BELOW_COUNT)
#define E_BELOW_COUNT(name, v, d) _Static_assert((v) < VTPU_E__COUNT, #name);
VTPU_ERRORS(E_BELOW_COUNT)
#define F_BELOW_COUNT(name, v, d)                                              \
    _Static_assert((v) < VTPU_FAULT__COUNT, #name);
VTPU_FAULTS(F_BELOW_COUNT)
_Static_assert((int)VTPU_ERR_NO_PROGRAM == (int)VTPU_FAULT_NO_PROGRAM,
               "fault kinds");
_Static_assert((int)VTPU_ERR_WATCHDOG == (int)VTPU_FAULT_WATCHDOG,
               "fault kinds");
_Static_assert((int)VTPU_SPACE_SEM == (int)VTPU_ESPACE_SEM, "spaces");
_Static_assert(VTPU_MAX_PROGRAMS <= 255 && VTPU_MAX_TCS <= 8, "fields");
_Static_assert(VTPU_A_TC_INSTRET_LO + 8 * VTPU_MAX_TCS <= VTPU_A_ERR_MSG,
               "counter block");

void vtpu_dev_set_err(dev_err *e, uint32_t code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}


/* Decoded ring entry. */
typedef struct cmd {
    uint32_t idx; /* ring index */
    uint32_t hdr, op, flags, arg;
    uint64_t src, dst, len, addr, ranges;
    uint32_t args[4];
} cmd;

static bool aborted(vtpu_dev *dev)
{
    return atomic_load(&dev->abort_cmd);
}

static void err_hbm(dev_err *e, const char *what, uint64_t off, uint64_t len,
                    uint64_t size)
{
    vtpu_dev_set_err(e, VTPU_E_HBM_RANGE,
                     "%s range 0x%llx + 0x%llx is outside HBM (0x%llx bytes)",
                     what, (unsigned long long)off, (unsigned long long)len,
                     (unsigned long long)size);
    e->space = VTPU_ESPACE_HBM;
    e->addr = off;
    e->len = len;
}

static void err_host(dev_err *e, const char *what, uint64_t addr, uint64_t len)
{
    vtpu_dev_set_err(e, VTPU_E_HOST_DMA,
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
        vtpu_dev_set_err(e, VTPU_E_BAD_LENGTH, "copy of 0 bytes");
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
    if (c->op != VTPU_OP_COPY_D2H) /* HBM written: for migration */
        vtpu_dirty_mark(dev->chip->hbm_dirty, c->dst, c->len);
    if (dev->chip->check && c->op != VTPU_OP_COPY_D2H)
        vtpu_check_host_write(dev->chip, c->dst, c->len); /* poison */
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
                     (c->op == VTPU_OP_COPY_H2D ? c->src : c->dst) + done, n);
            return;
        }
        done += n;
    }
}

static void cmd_fill(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    uint8_t pat[4096];

    if (!c->len || c->len % 4) {
        vtpu_dev_set_err(&o->err, VTPU_E_BAD_LENGTH,
                         "fill length 0x%llx is not a non-zero multiple of 4",
                         (unsigned long long)c->len);
        o->err.len = c->len;
        return;
    }
    if (c->dst % 4) {
        vtpu_dev_set_err(&o->err, VTPU_E_BAD_ALIGN,
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
    vtpu_dirty_mark(dev->chip->hbm_dirty, c->dst, c->len); /* migration */
    if (dev->chip->check)
        vtpu_check_host_write(dev->chip, c->dst, c->len); /* poison */
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
        vtpu_dev_set_err(e, VTPU_E_BAD_SLOT,
                         "program slot %u out of range (0..%u)", c->arg,
                         VTPU_MAX_PROGRAMS - 1);
        e->value = c->arg;
        return;
    }
    if (!c->len || c->len > VTPU_LOAD_PROG_MAX_LEN) {
        vtpu_dev_set_err(e, VTPU_E_BAD_LENGTH,
                         "ELF image length 0x%llx not in 1..0x%x",
                         (unsigned long long)c->len, VTPU_LOAD_PROG_MAX_LEN);
        e->len = c->len;
        return;
    }
    if (!in_hbm(dev, c->src, c->len)) {
        err_hbm(e, "ELF image", c->src, c->len, dev->chip->cfg.hbm_size);
        return;
    }
    /*
     * The guest can rewrite HBM through BAR2 while we parse: parse a
     * private copy, never HBM itself (a header checked in one pass and
     * re-read in the next was a heap overflow; docs/registers.md, "The
     * guest boundary").  The length is bounded above.
     */
    uint8_t *image = g_try_malloc((size_t)c->len);
    if (!image) {
        vtpu_dev_set_err(e, VTPU_E_BAD_LENGTH,
                         "ELF image of 0x%llx bytes: out of host memory",
                         (unsigned long long)c->len);
        e->len = c->len;
        return;
    }
    memcpy(image, dev->chip->hbm + c->src, (size_t)c->len);
    char why[VTPU_ERR_MSG_MAX];
    int rc = vtpu_chip_load_elf_slot(dev->chip, c->arg, image, (size_t)c->len,
                                     why, sizeof(why));
    g_free(image);
    if (rc) {
        vtpu_dev_set_err(e, VTPU_E_BAD_ELF, "slot %u: %s", c->arg, why);
        e->value = c->arg;
        e->space = VTPU_ESPACE_HBM;
        e->addr = c->src;
        e->len = c->len;
    }
}

static void fault_to_err(const vtpu_error *f, dev_err *e)
{
    char line[VTPU_ERR_MSG_MAX];

    vtpu_error_format(f, line, sizeof(line));
    vtpu_dev_set_err(e, VTPU_E_FAULT, "%s", line);
    e->kind = (uint32_t)f->kind;
    e->tc = f->tc >= 0 ? (uint32_t)f->tc : VTPU_ERR_NONE32;
    e->pc = f->pc;
    e->space = (uint32_t)f->space;
    e->addr = f->addr;
    e->len = f->len;
}

/*
 * The launch's HBM grant (VTPU_LAUNCH_F_RANGES): the table is guest
 * memory, so it is copied once, bounded, and only the copy is checked
 * and used.  0, or -1 with the error filled in.
 */
static int read_ranges(vtpu_dev *dev, uint64_t addr, vtpu_hbm_range *out,
                       uint32_t *count, dev_err *e)
{
    _Static_assert(VTPU_MAX_HBM_RANGES <= VTPU_RUN_MAX_HBM_RANGES, "grants");
    uint8_t raw[sizeof(vtpu_hbm_ranges)];

    if (addr > UINT64_MAX - sizeof(raw) ||
        dev->ops.dma_read(dev->opaque, addr, raw, 8)) {
        err_host(e, "launch HBM range table:", addr, 8);
        return -1;
    }
    uint32_t n = le32(raw), rsvd = le32(raw + 4);
    if (n == 0 || n > VTPU_MAX_HBM_RANGES || rsvd) {
        vtpu_dev_set_err(e, VTPU_E_BAD_RANGES,
                         "launch HBM range table at 0x%llx: count %u (need "
                         "1..%u), reserved word 0x%x",
                         (unsigned long long)addr, n, VTPU_MAX_HBM_RANGES,
                         rsvd);
        e->value = n;
        return -1;
    }
    if (dev->ops.dma_read(dev->opaque, addr + 8, raw + 8, 16 * (size_t)n)) {
        err_host(e, "launch HBM range table:", addr, 8 + 16 * (uint64_t)n);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        out[i].off = le64(raw + 8 + 16 * i);
        out[i].len = le64(raw + 16 + 16 * i);
        if (!out[i].len || !in_hbm(dev, out[i].off, out[i].len)) {
            vtpu_dev_set_err(e, VTPU_E_BAD_RANGES,
                             "launch HBM range %u: 0x%llx + 0x%llx is empty "
                             "or outside HBM (0x%llx bytes)",
                             i, (unsigned long long)out[i].off,
                             (unsigned long long)out[i].len,
                             (unsigned long long)dev->chip->cfg.hbm_size);
            e->value = i;
            e->space = VTPU_ESPACE_HBM;
            e->addr = out[i].off;
            e->len = out[i].len;
            return -1;
        }
    }
    *count = n;
    return 0;
}

static bool run_begin(vtpu_dev *dev, const dev_launch *l);
static void run_end(vtpu_dev *dev);
static void launch_done(vtpu_dev *dev, const dev_launch *l, int rc,
                        const vtpu_run_result *r, cmd_outcome *o);

static void cmd_launch(vtpu_dev *dev, const cmd *c, cmd_outcome *o)
{
    dev_err *e = &o->err;
    uint32_t slot = VTPU_FEX(c->arg, LAUNCH, SLOT);
    uint32_t tcs = VTPU_FEX(c->arg, LAUNCH, TCS);
    uint32_t ntcs = dev->chip->cfg.num_tcs;

    if (c->arg >> 16) {
        vtpu_dev_set_err(e, VTPU_E_BAD_FLAGS,
                         "launch argument 0x%x: bits 16..31 are reserved",
                         c->arg);
        e->value = c->arg;
        return;
    }
    if (slot >= VTPU_MAX_PROGRAMS) {
        vtpu_dev_set_err(e, VTPU_E_BAD_SLOT,
                         "program slot %u out of range (0..%u)", slot,
                         VTPU_MAX_PROGRAMS - 1);
        e->value = slot;
        return;
    }
    if (!vtpu_chip_has_program(dev->chip, slot)) {
        vtpu_dev_set_err(e, VTPU_E_NO_PROGRAM,
                         "launch of program slot %u, which holds no program",
                         slot);
        e->value = slot;
        return;
    }
    if (tcs > ntcs) {
        vtpu_dev_set_err(e, VTPU_E_BAD_TCS, "launch on %u TCs, the chip has %u",
                         tcs, ntcs);
        e->value = tcs;
        return;
    }

    if ((c->flags & VTPU_LAUNCH_F_COLLECTIVE) && !dev->chip->fabric) {
        vtpu_dev_set_err(e, VTPU_E_BAD_FLAGS,
                         "collective launch on a chip in no slice "
                         "(docs/multichip.md)");
        return;
    }
    vtpu_hbm_range grants[VTPU_MAX_HBM_RANGES];
    vtpu_run_opts opts = {.num_tcs = tcs,
                          .collective =
                              (c->flags & VTPU_LAUNCH_F_COLLECTIVE) != 0};
    vtpu_run_result res;
    memcpy(opts.args, c->args, sizeof(opts.args));
    if ((c->flags & VTPU_LAUNCH_F_RANGES) &&
        read_ranges(dev, c->ranges, grants, &opts.num_hbm_ranges, e))
        return;
    opts.hbm_ranges = grants;
    vtpu_chip_select_program(dev->chip, slot);

    dev_launch l = {c->idx, c->flags, tcs ? tcs : ntcs, c->addr};
    if (!run_begin(dev, &l))
        return;
    uint64_t t_run = dev_now_ns();
    int rc = vtpu_chip_run(dev->chip, &opts, &res);
    o->run_ns = dev_now_ns() - t_run;
    run_end(dev);
    launch_done(dev, &l, rc, &res, o);
}

/*
 * A reset or quit requested from here on stops the run through the
 * chip's VTPU_STOP_ABORT, which the run does not clear (dev.c,
 * "Stopping"); one requested already need not start TCs at all.  The
 * launch is recorded for snapshots (dev->cur): a pause from here on
 * finds its run quiesced, and a snapshot carries it.
 */
static bool run_begin(vtpu_dev *dev, const dev_launch *l)
{
    vtpu_mutex_lock(&dev->lock);
    bool go = !dev->reset_req && !dev->quit;
    if (go) {
        dev->in_run = true;
        dev->cur = *l;
    }
    vtpu_mutex_unlock(&dev->lock);
    return go;
}

static void run_end(vtpu_dev *dev)
{
    vtpu_mutex_lock(&dev->lock);
    dev->in_run = false;
    vtpu_cond_broadcast(&dev->idle_cond);
    vtpu_mutex_unlock(&dev->lock);
}

void vtpu_dev_execute_resume(vtpu_dev *dev, const dev_launch *l,
                             cmd_outcome *o)
{
    vtpu_run_result res;

    o->opcode = VTPU_OP_LAUNCH;
    if (!run_begin(dev, l))
        return;
    uint64_t t_run = dev_now_ns();
    int rc = vtpu_chip_run_resume(dev->chip, &res);
    o->run_ns = dev_now_ns() - t_run;
    run_end(dev);
    launch_done(dev, l, rc, &res, o);
}

/* What a launch's run did, into *o; the result record to the host. */
static void launch_done(vtpu_dev *dev, const dev_launch *l, int rc,
                        const vtpu_run_result *r, cmd_outcome *o)
{
    dev_err *e = &o->err;
    const vtpu_run_result res = *r;
    unsigned started = l->started;
    const struct {
        uint32_t flags;
        uint64_t addr;
    } cc = {l->flags, l->addr}, *c = &cc;

    o->launched = true;
    o->exit_code = res.exit_code;
    memcpy(o->instret, res.instret, sizeof(o->instret));
    if (rc)
        fault_to_err(&res.error, e);
    else if ((c->flags & VTPU_LAUNCH_F_CHECK_EXIT) && res.exit_code) {
        unsigned t = 0;
        while (t + 1 < started && !res.tc_exit[t])
            t++;
        vtpu_dev_set_err(e, VTPU_E_EXIT_CODE, "TC %u exited with code %d", t,
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
    [VTPU_OP_LAUNCH] = VTPU_LAUNCH_F_RESULT | VTPU_LAUNCH_F_CHECK_EXIT |
                       VTPU_LAUNCH_F_RANGES | VTPU_LAUNCH_F_COLLECTIVE,
    [VTPU_OP_FENCE] = VTPU_FENCE_F_IRQ | VTPU_FENCE_F_WRITEBACK,
};

/* Fetch, decode and execute the command at ring index `idx`. */
void vtpu_dev_execute(vtpu_dev *dev, uint32_t idx, uint64_t addr,
                      cmd_outcome *o)
{
    uint8_t raw[VTPU_CMD_SIZE];
    dev_err *e = &o->err;
    cmd c;

    if (dev->ops.dma_read(dev->opaque, addr, raw, sizeof(raw))) {
        vtpu_dev_set_err(e, VTPU_E_RING_FETCH,
                         "cannot read ring entry %u at host address 0x%llx",
                         idx, (unsigned long long)addr);
        e->space = VTPU_ESPACE_HOST;
        e->addr = addr;
        e->len = sizeof(raw);
        return;
    }
    c.idx = idx;
    c.hdr = le32(raw + VTPU_CMD_OFF_HDR);
    c.op = VTPU_FEX(c.hdr, CMD, OPCODE);
    c.flags = VTPU_FEX(c.hdr, CMD, FLAGS);
    c.arg = le32(raw + VTPU_CMD_OFF_ARG);
    c.src = le64(raw + VTPU_CMD_OFF_SRC);
    c.dst = le64(raw + VTPU_CMD_OFF_DST);
    c.len = le64(raw + VTPU_CMD_OFF_LEN);
    c.addr = le64(raw + VTPU_CMD_OFF_ADDR);
    c.ranges = le64(raw + VTPU_CMD_OFF_RANGES);
    for (unsigned i = 0; i < 4; i++)
        c.args[i] = le32(raw + VTPU_CMD_OFF_ARGS + 4 * i);
    o->opcode = c.op;

    if (c.op == 0 || c.op >= VTPU_OP__COUNT) {
        vtpu_dev_set_err(e, VTPU_E_BAD_OPCODE, "unknown opcode 0x%02x%s", c.op,
                         c.op ? "" : " (an entry that was never written?)");
        e->value = c.op;
        return;
    }
    if (VTPU_FEX(c.hdr, CMD, RSVD) || (c.flags & ~op_flags[c.op])) {
        vtpu_dev_set_err(
            e, VTPU_E_BAD_FLAGS,
            "%s: header 0x%08x has unknown flags or reserved bits set",
            vtpu_op_name(c.op), c.hdr);
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
