/*
 * dev.h - the host interface of a vtpu chip: the register file (BAR0),
 * the HBM aperture (BAR2) and the command processor that executes the
 * command ring (docs/registers.md).
 *
 * A vtpu_dev wraps one vtpu_chip the way a PCI function wraps the chip on
 * a board.  It knows nothing about buses: MMIO arrives through the
 * vtpu_dev_reg_* and vtpu_dev_aperture_* calls, host memory is reached
 * only through the DMA callbacks below and the interrupt line leaves
 * through set_irq.  The QEMU device (hw/qemu) and the host platform of the
 * driver (driver/host_platform.c) are its two embedders.
 *
 * Threads.  Commands execute on a worker thread owned by the device, so a
 * doorbell write returns at once (a vCPU must not sit in an MMIO handler
 * while a kernel runs).  Every entry point is thread-safe.  Nothing a
 * guest writes to the registers or puts in the ring aborts the process: a
 * bad register access is logged and ignored, a bad command is reported
 * through the error registers.
 */
#ifndef VTPU_DEV_H
#define VTPU_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpu-launch.h"
#include "vtpu-regs.h"
#include "vtpu-snapshot.h"
#include "vtpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vtpu_dev vtpu_dev;

/*
 * Log classes, after QEMU NVMe's trace split: normal events, command
 * errors the device reports through ERR_* (the guest asked for something
 * impossible), and guest misbehaviour at the register level that the
 * device ignores (QEMU: LOG_GUEST_ERROR).
 */
typedef enum vtpu_log_class {
    VTPU_LOG_TRACE = 0,
    VTPU_LOG_CMD_ERROR = 1,
    VTPU_LOG_GUEST_ERROR = 2,
} vtpu_log_class;

typedef struct vtpu_dev_ops {
    /*
     * Copy `len` bytes between host ("guest physical" / bus) memory at
     * `addr` and `buf`.  Return 0 on success, non-zero when any byte of
     * [addr, addr+len) is not host memory (the device then reports
     * VTPU_E_HOST_DMA or VTPU_E_RING_FETCH for that command; what part of
     * the transfer happened is unspecified).  Called from the worker
     * thread (or, in synchronous mode, the thread that wrote the
     * doorbell), never with the device lock held; may be called
     * concurrently with MMIO calls.  `len` is at most 1 MiB per call.
     */
    int (*dma_read)(void *opaque, uint64_t addr, void *buf, size_t len);
    int (*dma_write)(void *opaque, uint64_t addr, const void *buf, size_t len);
    /*
     * The interrupt line changed to `level` (0 or 1), or rose again:
     * set_irq(1) while the line is already high means the line fell and
     * rose again before the earlier call was made, a new interrupt that
     * an edge-triggered transport (MSI-X) must send and a level one may
     * pulse.  Called from whichever thread caused the change (the
     * worker, or an MMIO caller), never with the device lock held,
     * serialised by the device so calls arrive in order.  It must not
     * call back into the device (except the lock-free
     * vtpu_dev_irq_level() and vtpu_dev_irq_delivered()), nor block on
     * a lock that an MMIO caller may hold while calling into the device
     * (QEMU: never wait for the BQL here; deliver at once if the caller
     * holds it or a trylock gets it, else schedule a bottom half that
     * reads vtpu_dev_irq_level(); docs/qemu.md "Interrupt delivery").
     */
    void (*set_irq)(void *opaque, int level);
    /*
     * Optional (NULL: GLib debug messages in log domain "vtpu").  One line
     * without newline.  May be called with the device lock held: must
     * not call back into the device.
     */
    void (*log)(void *opaque, vtpu_log_class cls, const char *msg);
    /*
     * Optional.  Called on the device's worker thread when it starts
     * and just before it ends, outside the device lock: an embedder
     * whose DMA callbacks need per-thread set-up does it here (QEMU:
     * rcu_register_thread(), since address-space lookups run under RCU
     * and QEMU only waits for readers it knows about).
     */
    void (*thread_begin)(void *opaque);
    void (*thread_end)(void *opaque);
    /*
     * Optional, with vtpu_dev_opts.output_buffer: TC output is waiting
     * (the buffer turned non-empty).  Called from a TC's thread; must not
     * block and must not call into the device except vtpu_dev_output_*
     * (QEMU: schedule a bottom half that drains into the chardev).
     */
    void (*output_ready)(void *opaque);
} vtpu_dev_ops;

typedef struct vtpu_dev_opts {
    /* Execute commands inside the doorbell write instead of on a worker
     * thread (deterministic tests; an embedder without threads). */
    bool synchronous;
    /* Bytes of the BAR2 window: a power of two >= 4 KiB; 0 = 16 MiB. */
    uint64_t aperture_size;
    /*
     * TC output (the write ecall).  0: the chip's output stays as it is
     * (vtpu_chip_set_output()).  Otherwise the device takes it into a
     * buffer of this many bytes that never blocks a TC (outbuf.h): bytes
     * escaped, over `output_rate` bytes/s (0 = VTPU_DEV_OUTPUT_RATE) or
     * past a full buffer dropped and counted (OUT_BYTES, OUT_DROPPED).
     * The embedder drains it with vtpu_dev_output_peek/consume, or sets
     * `output_discard` when nobody will (everything is counted, dropped).
     */
    size_t output_buffer;
    uint64_t output_rate;
    bool output_discard;
    /*
     * Nanoseconds the worker polls for the next doorbell after it ran
     * out of commands, before it sleeps (0: sleeps at once; at most
     * VTPU_DEV_SPIN_MAX).  Saves the wake-up of a sleeping thread
     * (LAT_WAKE) when the driver rings again soon, for a host core
     * spent polling after every busy period (docs/qemu.md).
     */
    uint32_t spin_ns;
} vtpu_dev_opts;

#define VTPU_DEV_SPIN_MAX 1000000u /* ns */

#define VTPU_DEV_OUTPUT_RATE (1u << 20) /* bytes/s: 1 MiB/s */

/*
 * Create the host interface of `chip`, in its reset state.  The chip
 * must outlive the device and, while the device exists, be driven only
 * through it.  `opts` may be NULL.  `ops` is copied; dma_read, dma_write
 * and set_irq are required.  Returns NULL with a message in `err` on bad
 * options.
 */
vtpu_dev *vtpu_dev_new(vtpu_chip *chip, const vtpu_dev_ops *ops, void *opaque,
                       const vtpu_dev_opts *opts, char *err, size_t errlen);
/* Stop whatever executes (a running launch is stopped), join the worker,
 * free.  The chip's loaded programs stay loaded. */
void vtpu_dev_free(vtpu_dev *dev);

/*
 * BAR0 access at byte offset `off`, `size` 4 or 8 (8 = the 32-bit
 * register at off, then the one at off + 4; off 8-aligned).  Unmapped
 * offsets, other sizes and misaligned offsets read 0 and ignore writes,
 * logged as guest errors; so are writes to read-only registers.
 */
uint64_t vtpu_dev_reg_read(vtpu_dev *dev, uint64_t off, unsigned size);
void vtpu_dev_reg_write(vtpu_dev *dev, uint64_t off, uint64_t val,
                        unsigned size);
/*
 * The value a read would return, without any effect of the read: the
 * 64-bit counters' HI latch is not moved (size 8 gives the whole counter
 * at once), nothing is logged, nothing is asked to stop.  For monitors
 * (QEMU's `info vtpu`), so that looking never disturbs a driver's read.
 * Unmapped offsets, other sizes and misalignment read 0.
 */
uint64_t vtpu_dev_reg_peek(vtpu_dev *dev, uint64_t off, unsigned size);

/*
 * BAR2 access: HBM at APERTURE_BASE + off, `size` 1, 2, 4 or 8, little
 * endian.  Outside the window or past the end of HBM: reads 0, writes are
 * dropped, logged as guest errors.
 */
uint64_t vtpu_dev_aperture_read(vtpu_dev *dev, uint64_t off, unsigned size);
void vtpu_dev_aperture_write(vtpu_dev *dev, uint64_t off, uint64_t val,
                             unsigned size);
uint64_t vtpu_dev_aperture_size(const vtpu_dev *dev);
/*
 * Current APERTURE_BASE: for an embedder that maps the window straight
 * onto HBM (vtpu_chip_hbm_ptr()) instead of going through the calls
 * above.  It changes on guest writes to APERTURE_BASE_LO/HI and on reset
 * (a soft reset can complete on the worker thread), so such an embedder
 * re-reads it after BAR0 writes.
 */
uint64_t vtpu_dev_aperture_base(vtpu_dev *dev);

/*
 * TC output buffered by the device (vtpu_dev_opts.output_buffer): the
 * oldest unread bytes, valid until consumed (0 when empty or when the
 * device has no buffer), and how many of them were delivered.  One
 * consumer thread at a time; never blocks.
 */
size_t vtpu_dev_output_peek(vtpu_dev *dev, const uint8_t **p);
void vtpu_dev_output_consume(vtpu_dev *dev, size_t n);

/* Current level of the interrupt line (what set_irq last reported). */
int vtpu_dev_irq_level(vtpu_dev *dev);

/*
 * Optional: the embedder delivered the interrupt that the last set_irq(1)
 * announced (QEMU: INTx set or the MSI-X message sent).  Feeds the
 * LAT_DELIVER probe (docs/registers.md); the first call after a raise
 * counts, later ones do nothing.  Any thread.
 */
void vtpu_dev_irq_delivered(vtpu_dev *dev);

/*
 * Wait until the device has nothing to do: not executing a command, no
 * soft reset in progress, and HEAD == TAIL, the ring disabled, or the
 * device in ERROR state.  timeout_ms < 0 waits forever.  Returns 0, or -1
 * on timeout.  For tests and for embedders that need a quiescent device
 * (snapshots).
 */
int vtpu_dev_wait_idle(vtpu_dev *dev, int64_t timeout_ms);

/*
 * Snapshots and migration (docs/qemu.md, "Migration and snapshots").
 *
 * vtpu_dev_pause(): no command starts any more; a launch whose run is in
 * progress is quiesced (its TCs stop at an instruction boundary,
 * vtpu-snapshot.h), any other command finishes.  Returns 0 once the
 * device is quiet, -1 after timeout_ms (< 0: no limit; a TC held by the
 * debugger never quiesces) - the device stays paused either way.
 * vtpu_dev_resume() undoes it: the quiesced run goes on, or the launch a
 * load brought is continued, and the ring is served again.
 *
 * vtpu_dev_save() (paused and quiet) writes the registers, counters, the
 * launch in progress (its ring index and result address) and the chip
 * (vtpu_chip_save() without HBM: the embedder migrates HBM as memory).
 * vtpu_dev_load() (paused) first resets the device (a run in progress
 * is stopped), then reads such a stream, checking everything: a bad one
 * leaves the device reset and returns -1 with a message.  The chip's
 * HBM is not touched.  Interrupt line: recomputed from the loaded
 * registers and reported through set_irq.
 */
int vtpu_dev_pause(vtpu_dev *dev, int64_t timeout_ms);
void vtpu_dev_resume(vtpu_dev *dev);
int vtpu_dev_save(vtpu_dev *dev, vtpu_snap_write_fn w, void *opaque,
                  char *err, size_t errlen);
int vtpu_dev_load(vtpu_dev *dev, vtpu_snap_read_fn r, void *opaque,
                  char *err, size_t errlen);

/*
 * Device reset (power-on / system reset): as CONTROL.RESET, but returns
 * only when the reset is complete.  A launch in progress is stopped.
 */
void vtpu_dev_reset(vtpu_dev *dev);

/*
 * What TC `tc` is doing, for monitors (QEMU's `info vtpu`): the engine's
 * view (vtpu_chip_tc_status: state, pc once stopped, instructions) and,
 * when the program on the TC is a kernel module, what the TC runtime's
 * progress mailbox in its SMEM says (vtpu-launch.h): which kernel, which
 * phase, the current grid point and step.  Between launches this is the
 * last launch's final state.  Callable from any thread at any time; it
 * reads memory the TCs may be writing, so it is a display, not a
 * synchronisation point.  Returns -1 if the chip has no TC `tc`.
 */
typedef struct vtpu_dev_tc_info {
    vtpu_tc_status tc;
    bool has_mailbox; /* the TC's SMEM holds a TC runtime mailbox; the
                         fields below are valid only then */
    uint32_t phase;   /* enum vtpu_mailbox_phase */
    uint32_t kernel;  /* index in the module; UINT32_MAX: not read yet */
    char kernel_name[VTPU_KERNEL_NAME_LEN]; /* "" before the grid loop */
    uint32_t code;      /* VTPU_LERR_* when the phase is FAILED */
    bool has_point;     /* point/step/num_steps: the grid loop started */
    uint32_t grid_rank; /* entries of point[] in use */
    int32_t point[VTPU_MAX_GRID_DIMS]; /* current grid point */
    uint32_t step, num_steps;          /* this TC's step (0-based) and
                                          its number of grid points */
} vtpu_dev_tc_info;

int vtpu_dev_tc_status(vtpu_dev *dev, unsigned tc, vtpu_dev_tc_info *out);

/*
 * One line for a status, without the TC number or newline, e.g.
 *   "exited (code 0) at pc 0x00100a3c, 5163 instructions; kernel
 *    add_sin_f32 (#0) done at grid point (255), step 256 of 256"
 *   "running, 1200+ instructions; kernel matmul_f32 (#2) running at grid
 *    point (1, 0, 3), step 7 of 8"
 * Returns what snprintf returns.
 */
int vtpu_dev_tc_info_format(const vtpu_dev_tc_info *s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_DEV_H */
