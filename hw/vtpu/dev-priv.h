/*
 * dev-priv.h - what the host interface's two halves share: the register
 * file and its worker (dev.c) and the command processor (cmd.c).  Not an
 * API: dev.h is.
 */
#ifndef VTPU_DEV_PRIV_H
#define VTPU_DEV_PRIV_H

#include <string.h>
#include <time.h>

#include "dev.h"
#include "internal.h"
#include "outbuf.h"

#define VTPU_DEV_NREGS (VTPU_BAR0_SIZE / 4)

/* What a register-level or command error reports (the ERR_* registers). */
typedef struct dev_err {
    uint32_t code, kind, tc, pc, space, value;
    uint64_t addr, len;
    char msg[VTPU_ERR_MSG_MAX];
} dev_err;

/* A launch whose run is in progress: what finishing it needs (cmd.c),
 * and what a snapshot carries of it (dev.c). */
typedef struct dev_launch {
    uint32_t idx;     /* ring index */
    uint32_t flags;   /* VTPU_LAUNCH_F_* */
    uint32_t started; /* TCs */
    uint64_t addr;    /* result record */
} dev_launch;

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
    uint64_t run_ns; /* a launch: the engine's run (LAT_RUN) */
} cmd_outcome;

struct vtpu_dev {
    vtpu_chip *chip;
    vtpu_dev_ops ops;
    void *opaque;
    bool synchronous;
    uint32_t spin_ns;      /* vtpu_dev_opts.spin_ns */
    atomic_bool spinning;  /* the worker polls for a doorbell */
    atomic_bool work_hint; /* a doorbell came while it polled */
    uint64_t aper_size;

    vtpu_mutex lock;
    vtpu_cond work_cond; /* the worker has something to do */
    vtpu_cond idle_cond; /* busy() may have become false (dev.c) */
    GThread *worker;
    bool quit;

    uint32_t regs[VTPU_DEV_NREGS]; /* stored registers (no read hook) */
    bool executing;                /* a command runs outside the lock */
    /* Snapshots (vtpu_dev_pause/save/load): no command starts while
     * paused; in_run and cur: the launch whose run is in progress
     * (cmd.c); resume_launch: a load brought one, which the worker
     * continues (vtpu_dev_execute_resume) once unpaused. */
    bool paused;
    bool in_run;
    bool resume_launch;
    dev_launch cur;
    bool reset_req;                /* soft reset waits for that command */
    atomic_bool abort_cmd;
    uint32_t latch_hi; /* HI half of the last 64-bit counter read */
    bool peeking;      /* vtpu_dev_reg_peek(): reads without effects */
    uint64_t bytes_in, bytes_out;
    uint64_t instret[VTPU_MAX_TCS];
    vtpu_outbuf *out;     /* TC output, when the embedder asked for it */
    uint64_t out_base[2]; /* outbuf accepted/dropped at the last reset */
    char err_msg[VTPU_ERR_MSG_MAX];
    atomic_int irq_level;  /* computed by update_irq() */
    atomic_uint irq_rises; /* its rising edges, counted after the store */

    /*
     * Latency probes (the LAT_* registers, docs/registers.md), in ns of
     * dev_now_ns().  t_doorbell and doorbell_pending under the lock;
     * the interrupt's two under irq_lock, read atomically.
     */
    uint64_t t_doorbell;      /* the RING_TAIL write that found it idle */
    bool doorbell_pending;    /* ... and no command has started since */
    bool kick;                /* signal work_cond once the lock is dropped */
    _Atomic uint64_t t_raise; /* the last set_irq(1) after a command */
    atomic_uint lat_irq, lat_deliver;

    vtpu_mutex irq_lock; /* orders set_irq calls */
    int irq_delivered;
    unsigned irq_rises_seen; /* irq_rises at the last delivery check */
    /* Tests only: called in dev_unlock() between the two locks, to
     * widen the window in which another thread changes the line. */
    void (*unlock_gap)(vtpu_dev *dev);
};

/* The latency probes' clock: host monotonic time in ns. */
static inline uint64_t dev_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A probe's register value: ns, saturating at 0xffffffff. */
static inline uint32_t lat32(uint64_t ns)
{
    return ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* ---- little-endian access to ring entries and records ---- */

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline bool in_hbm(const vtpu_dev *dev, uint64_t off, uint64_t len)
{
    uint64_t size = dev->chip->cfg.hbm_size;
    return off <= size && len <= size - off;
}

static inline void init_err(dev_err *e)
{
    memset(e, 0, sizeof(*e));
    e->tc = VTPU_ERR_NONE32;
}

/* ---- cmd.c ---- */

/*
 * Fetch, decode and execute the ring entry `idx` at bus address `addr`,
 * collecting its effects in *o (zeroed, o->err initialised by the
 * caller).  Called without dev->lock.
 */
void vtpu_dev_execute(vtpu_dev *dev, uint32_t idx, uint64_t addr,
                      cmd_outcome *o);
/* Continue the launch a snapshot brought (dev->cur), as
 * vtpu_dev_execute() does a ring entry. */
void vtpu_dev_execute_resume(vtpu_dev *dev, const dev_launch *l,
                             cmd_outcome *o);
/* Fill in an error: code and a printf-style message. */
void vtpu_dev_set_err(dev_err *e, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VTPU_DEV_PRIV_H */
