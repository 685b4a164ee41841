/*
 * vtpu_drv.h - the vtpu driver's register and ring layer.
 *
 * Probe and identity check, reset, the command ring (submission with
 * back-pressure when it is full), fences and waiting on them (interrupt or
 * poll), error decoding into readable messages, and recovery after an
 * error.  docs/registers.md describes the device side of each step.
 *
 * Portable C99 over vtpu_platform.h: no allocation here (the caller owns
 * the vtpu_drv; ring memory comes from the platform's dma_alloc), nothing
 * from libc beyond memset/memcpy/snprintf, so it builds for the
 * bare-metal guest with picolibc as well as for the host.
 *
 * Not thread-safe: one thread drives one vtpu_drv at a time.
 *
 * Return values: VTPU_DRV_OK (0) or a negative vtpu_drv_status;
 * vtpu_drv_strerror() names them.  After VTPU_DRV_EDEVICE,
 * vtpu_drv_last_error() says what the device reported.
 */
#ifndef VTPU_DRV_H
#define VTPU_DRV_H

#include <stddef.h>
#include <stdint.h>

#include "vtpu-regs.h"
#include "vtpu_platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vtpu_drv_status {
    VTPU_DRV_OK = 0,
    VTPU_DRV_ENODEV = -1,    /* no vtpu answers at these registers */
    VTPU_DRV_EVERSION = -2,  /* register interface of another major version */
    VTPU_DRV_EINVAL = -3,    /* bad argument */
    VTPU_DRV_ENOMEM = -4,    /* the platform's dma_alloc failed */
    VTPU_DRV_ETIMEDOUT = -5, /* the device did not answer in time */
    VTPU_DRV_EDEVICE = -6,   /* the device stopped on an error */
    VTPU_DRV_ECANCELED = -7, /* dropped by recovery (ABORT) or reset */
    VTPU_DRV_ESTATE = -8,    /* not initialised, or the ring is stopped */
} vtpu_drv_status;

const char *vtpu_drv_strerror(int status);

/* What the identity and capability registers say. */
typedef struct vtpu_drv_info {
    uint32_t version_major, version_minor;
    uint32_t caps; /* VTPU_F_CAPS_* bits */
    char gen[5];   /* "v5p" */
    uint32_t num_tcs, num_sems;
    uint64_t hbm_size;
    uint32_t vmem_size, smem_size, imem_size;
    uint32_t sublanes, lanes, elem_bits, num_vregs, num_masks;
    uint32_t mxu_dim, mxu_count;
    uint32_t prog_slots;
    uint32_t ring_max_entries;
    uint32_t aperture_size;
} vtpu_drv_info;

/* A decoded device error (the ERR_* registers and ERR_MSG). */
typedef struct vtpu_drv_error {
    uint32_t code;   /* VTPU_E_*; 0 = none */
    uint32_t index;  /* ring index of the failed command, or VTPU_ERR_NONE32 */
    uint32_t opcode; /* VTPU_OP_* of that command */
    uint32_t kind;   /* VTPU_FAULT_* (code VTPU_E_FAULT) */
    uint32_t tc;     /* VTPU_ERR_NONE32 when no TC is involved */
    uint32_t pc;
    uint32_t space; /* VTPU_ESPACE_* of addr */
    uint32_t value;
    uint64_t addr, len;
    char msg[VTPU_ERR_MSG_MAX]; /* the device's own explanation */
} vtpu_drv_error;

/* Caller-allocated driver state; fields are private. */
typedef struct vtpu_drv {
    const vtpu_platform *plat;
    vtpu_drv_info info;
    int probed, running, use_irq;
    uint64_t timeout_ns;
    vtpu_cmd *ring; /* ring_entries commands in DMA memory */
    uint64_t ring_bus;
    uint32_t ring_entries;
    uint32_t head, tail;           /* head: last value read from RING_HEAD */
    uint32_t int_base;             /* INT_ENABLE outside of waits */
    uint32_t next_seq;             /* next fence value */
    uint32_t cancel_lo, cancel_hi; /* fences in (lo, hi] were dropped */
    int cancel_valid;
    vtpu_drv_error err;
} vtpu_drv;

/*
 * Check that a vtpu with a compatible register interface (same major
 * version) sits behind `plat`, and read its identity into the driver.
 * Does not touch the device's state.  `plat` must outlive `d`.
 */
int vtpu_drv_probe(vtpu_drv *d, const vtpu_platform *plat);
const vtpu_drv_info *vtpu_drv_info_get(const vtpu_drv *d);

/*
 * Soft-reset the device, allocate a ring of `entries` commands (a power
 * of two, 2..info.ring_max_entries; 0 = 256) and start it.  After probe.
 * The device's program slots are empty afterwards.
 */
int vtpu_drv_init(vtpu_drv *d, uint32_t entries);
/* Reset the device (stopping any launch) and free the ring. */
void vtpu_drv_fini(vtpu_drv *d);
/*
 * Soft-reset the device and restart the ring: the way out when recovery
 * is not enough (e.g. a launch that never ends).  Every fence not yet
 * completed is canceled (those completed stay completed); loaded
 * programs are gone; HBM keeps its contents.
 */
int vtpu_drv_reset(vtpu_drv *d);

/* Timeout of every wait (default 30 s). */
void vtpu_drv_set_timeout(vtpu_drv *d, uint64_t ns);
/* Wait by interrupt (1, default when the platform has irq_wait) or by
 * polling (0). */
void vtpu_drv_use_irq(vtpu_drv *d, int on);

/*
 * Put one command in the ring and ring the doorbell.  When the ring is
 * full, waits (up to the timeout) for the device to make room; fails with
 * VTPU_DRV_EDEVICE if the device is stopped on an error meanwhile.
 */
int vtpu_drv_submit(vtpu_drv *d, const vtpu_cmd *cmd);

/* Command builders: each submits one command (docs/registers.md). */
int vtpu_drv_nop(vtpu_drv *d);
int vtpu_drv_copy_to_hbm(vtpu_drv *d, uint64_t hbm, uint64_t host_bus,
                         uint64_t len);
int vtpu_drv_copy_from_hbm(vtpu_drv *d, uint64_t host_bus, uint64_t hbm,
                           uint64_t len);
int vtpu_drv_copy_hbm(vtpu_drv *d, uint64_t dst, uint64_t src, uint64_t len);
int vtpu_drv_fill(vtpu_drv *d, uint64_t hbm, uint64_t len, uint32_t pattern);
int vtpu_drv_load_program(vtpu_drv *d, uint32_t slot, uint64_t hbm,
                          uint64_t len);

typedef struct vtpu_drv_launch_desc {
    uint32_t slot;
    uint32_t num_tcs; /* 0 = every TC */
    uint32_t args[4]; /* a2..a5 at entry */
    int check_exit;   /* a non-zero exit code stops the ring */
    int want_result;  /* write a vtpu_launch_result to result_bus */
    int collective;   /* VTPU_LAUNCH_F_COLLECTIVE: a run of the slice */
    uint64_t result_bus;
} vtpu_drv_launch_desc;
int vtpu_drv_launch(vtpu_drv *d, const vtpu_drv_launch_desc *l);

/*
 * Submit a fence; *seq receives its value.  Completing it means every
 * command submitted before it has completed.  The _writeback form also
 * has the device store the value (4 bytes, little endian) at `bus`.
 */
int vtpu_drv_fence(vtpu_drv *d, uint32_t *seq);
int vtpu_drv_fence_writeback(vtpu_drv *d, uint64_t bus, uint32_t *seq);
/* 1 if fence `seq` has completed (non-blocking), else 0. */
int vtpu_drv_fence_done(vtpu_drv *d, uint32_t seq);
/*
 * Wait for fence `seq`: VTPU_DRV_OK, VTPU_DRV_EDEVICE (the device stopped
 * on an error before reaching it: see vtpu_drv_last_error(), then
 * vtpu_drv_recover()), VTPU_DRV_ECANCELED (dropped by the most recent
 * ABORT recovery or reset) or VTPU_DRV_ETIMEDOUT.
 */
int vtpu_drv_wait(vtpu_drv *d, uint32_t seq);
/* Fence and wait: everything submitted so far is done. */
int vtpu_drv_sync(vtpu_drv *d);

/*
 * VTPU_DRV_EDEVICE if the device is stopped on an error (reading the
 * error into vtpu_drv_last_error()), else VTPU_DRV_OK.
 */
int vtpu_drv_check(vtpu_drv *d);
const vtpu_drv_error *vtpu_drv_last_error(const vtpu_drv *d);
/*
 * One readable line naming the command, the error, the TC, pc, memory
 * space and address involved, e.g.
 *   "command 4 (LAUNCH) failed: TC 1 faulted at pc 0x00100010:
 *    out-of-bounds access, VMEM address 0x20400000 (4 bytes) [device: ...]"
 * Returns what snprintf returns.
 */
int vtpu_drv_format_error(const vtpu_drv_error *e, char *buf, size_t len);
/* The same line without the "command N (OP) failed: " start: the error,
 * TC, pc, address and the device's message (for reports of a launch that
 * is not a ring entry of this driver, e.g. a Linux job). */
int vtpu_drv_format_error_detail(const vtpu_drv_error *e, char *buf,
                                 size_t len);
const char *vtpu_drv_opcode_name(uint32_t opcode);
const char *vtpu_drv_error_name(uint32_t code);
const char *vtpu_drv_fault_name(uint32_t kind);

/*
 * Leave the error state: VTPU_ACK_SKIP (drop the failed command, continue
 * with the next), VTPU_ACK_ABORT (drop it and every command after it:
 * their fences report VTPU_DRV_ECANCELED) or VTPU_ACK_RETRY (execute it
 * again, e.g. after fixing what it refers to).  VTPU_DRV_EINVAL if the
 * device is not in the error state or `action` is not one of those.
 */
int vtpu_drv_recover(vtpu_drv *d, uint32_t action);

/*
 * CPU access to HBM through the BAR2 aperture (moves APERTURE_BASE): for
 * small transfers; the ring's copies are the fast path.  Byte-granular;
 * partial words are read-modify-written.
 */
int vtpu_drv_aperture_read(vtpu_drv *d, uint64_t hbm, void *buf, size_t len);
int vtpu_drv_aperture_write(vtpu_drv *d, uint64_t hbm, const void *buf,
                            size_t len);

/* Counters: instructions retired by TC `tc` since reset, and so on. */
uint64_t vtpu_drv_instret(vtpu_drv *d, unsigned tc);
/* Counter `counter` (VTPU_TSTAT_*, vtpu-regs.h) of TC `tc` in the current
 * or last launch; 0 for an unknown TC or counter. */
uint64_t vtpu_drv_tc_stat(vtpu_drv *d, unsigned tc, unsigned counter);
uint32_t vtpu_drv_read_reg(vtpu_drv *d, uint32_t off);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_DRV_H */
