/*
 * vtpu_rt.h - the vtpu runtime: an HBM allocator, buffer upload/download,
 * ELF kernel modules and launches, over a device backend.
 *
 * The pieces:
 *   - vtpu_heap: a first-fit range allocator with alignment and coalescing
 *     free, its bookkeeping in a caller-provided array of segments (no
 *     malloc).  Usable on its own; the ring backend manages HBM with one.
 *   - vtpu_rt: one per device.  Moves data between host memory and HBM,
 *     loads kernel modules into program slots, and launches kernels:
 *     builds the vtpu_launch descriptor (vtpu-launch.h), uploads it,
 *     launches on the requested TCs, waits, reads back the status records
 *     and turns failures into one readable line.
 *   - vtpu_rt_dev_ops: what the runtime needs from the device (allocate
 *     and free HBM, copy to and from it, load a program into a slot,
 *     launch a slot on the HBM it may touch).  Two backends implement it:
 *     the ring backend over the register/ring driver (vtpu_drv.h; the
 *     bare-metal guest and the host, vtpu_rt_init) and the Linux backend
 *     over /dev/accel/accelN (driver/linux/user/vtpu_rt_linux.h,
 *     vtpu_rt_open_linux).  The generic runtime (checks, descriptors,
 *     status records, messages) is the same for both.
 *
 * Portable C11 like the driver: no allocation (every object is the
 * caller's; DMA memory comes from the platform's dma_alloc through the
 * driver), nothing from libc beyond memset/memcpy/memcmp/strlen/strncmp/
 * snprintf, so it builds for the bare-metal guest with picolibc too.  (The
 * Linux backend, a separate file, uses libc and malloc.)  Not
 * thread-safe, like the driver under it.
 *
 * Return values: 0 or a negative status, either a vtpu_drv_status or a
 * vtpu_rt_status below; vtpu_rt_strerror() names both.  Every failing
 * call also leaves a readable explanation in vtpu_rt_error(rt).
 * docs/driver.md describes the whole API.
 */
#ifndef VTPU_RT_H
#define VTPU_RT_H

#include <stddef.h>
#include <stdint.h>

#include "vtpu-launch.h"
#include "vtpu-map.h"
#include "vtpu_drv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vtpu_rt_status {
    VTPU_RT_ENOHBM = -32,    /* no free HBM block is large enough */
    VTPU_RT_ETABLE = -33,    /* the allocator's segment table is full */
    VTPU_RT_EBADELF = -34,   /* not a kernel module this device can run */
    VTPU_RT_ENOKERNEL = -35, /* no kernel of that name in the module */
    VTPU_RT_ENOSLOT = -36,   /* every program slot is in use */
    VTPU_RT_ELAUNCH = -37,   /* the TC runtime or the kernel reported an
                                error (VTPU_LERR_* in the status records) */
    VTPU_RT_ENOTALLOC = -38, /* free of an offset that is not allocated */
    VTPU_RT_ESYS = -39,      /* a system call of the backend failed (the
                                message has its errno text) */
} vtpu_rt_status;

/* Names a vtpu_rt_status or a vtpu_drv_status. */
const char *vtpu_rt_strerror(int status);

/* ------------------------------------------------------------------ */
/* Range allocator                                                      */
/* ------------------------------------------------------------------ */

/* One piece of the managed range, free or allocated. */
typedef struct vtpu_heap_seg {
    uint64_t off, size;
    uint32_t used; /* 1: allocated */
    uint32_t pad_;
} vtpu_heap_seg;

/*
 * The managed range [base, base + size) is cut into segments kept sorted
 * by offset in `segs` (capacity `cap`); adjacent free segments are always
 * merged.  An allocation takes at most two more segments (the alignment
 * gap before it and the rest after it), so `cap` = 2 * allocations + 1
 * always suffices.  Fields are private.
 */
typedef struct vtpu_heap {
    uint64_t base, size;
    vtpu_heap_seg *segs;
    uint32_t nsegs, cap;
    uint64_t used_bytes;
    uint32_t nallocs;
} vtpu_heap;

/* VTPU_DRV_EINVAL if size is 0, the range wraps or cap < 1. */
int vtpu_heap_init(vtpu_heap *h, uint64_t base, uint64_t size,
                   vtpu_heap_seg *segs, uint32_t cap);
/*
 * First fit: the lowest-addressed free segment that holds `size` bytes
 * at an `align`-aligned offset (a power of two; 0 = 64).  `size` is
 * rounded up to a multiple of 8.  VTPU_RT_ENOHBM when nothing fits,
 * VTPU_RT_ETABLE when the segment table is full, VTPU_DRV_EINVAL for a
 * size of 0 or an alignment that is not a power of two.
 */
int vtpu_heap_alloc(vtpu_heap *h, uint64_t size, uint64_t align, uint64_t *off);
/* Free the allocation starting at `off`, merging it with free neighbours.
 * VTPU_RT_ENOTALLOC if no allocation starts there. */
int vtpu_heap_free(vtpu_heap *h, uint64_t off);
/* Size of the allocation at `off` (0 if none). */
uint64_t vtpu_heap_size_of(const vtpu_heap *h, uint64_t off);
/* Bytes free in total, the largest free segment, free segments. */
uint64_t vtpu_heap_free_bytes(const vtpu_heap *h);
uint64_t vtpu_heap_largest_free(const vtpu_heap *h);
uint32_t vtpu_heap_free_segments(const vtpu_heap *h);

/* ------------------------------------------------------------------ */
/* Runtime                                                              */
/* ------------------------------------------------------------------ */

#define VTPU_RT_HEAP_SEGS 1024     /* segments of the runtime's own table */
#define VTPU_RT_ERR_LEN 4096       /* bytes of vtpu_rt_error(): room for
                                      every message, never cut */
#define VTPU_RT_MAX_KERNELS 128    /* kernels one module may hold */
#define VTPU_RT_MAX_TCS 8          /* status records read per launch */
#define VTPU_RT_STAGING (1u << 20) /* default staging buffer */

/* ------------------------------------------------------------------ */
/* Device backends                                                      */
/* ------------------------------------------------------------------ */

/* A range of HBM: [hbm, hbm + len). */
typedef struct vtpu_rt_range {
    uint64_t hbm, len;
} vtpu_rt_range;

/* One launch as the runtime asks a backend for it. */
typedef struct vtpu_rt_dev_launch {
    uint32_t slot;    /* a slot the backend's load() returned */
    uint32_t num_tcs; /* 1..info->num_tcs */
    uint32_t args[4]; /* a2..a5 at the program's entry */
    /* Every range of HBM the launch references: the descriptor block
     * (descriptor, status records, scalars) and each operand.  Ranges may
     * overlap and repeat.  A backend that isolates launches grants
     * exactly these (the buffers holding them); the ring backend owns all
     * of HBM and ignores them. */
    uint32_t nranges;
    const vtpu_rt_range *ranges;
    const char *what; /* "launch of 'add_sin_f32'": the start of messages */
    /* A collective run of the chip's slice (VTPU_LAUNCH_F_COLLECTIVE):
     * it starts when every chip of the slice has launched. */
    int collective;
    /* Copies around the launch, for a backend with launch_copies (else
     * 0): before it starts, write_len bytes from write_src to HBM at
     * write_hbm; once it ended, read_len bytes of HBM at read_hbm to
     * read_dst; all within the launch's one wait.  The runtime uploads
     * the descriptor and reads the TC status records so; a failed copy
     * fails the launch call. */
    const void *write_src;
    uint64_t write_hbm;
    size_t write_len;
    uint64_t read_hbm;
    void *read_dst;
    size_t read_len;
} vtpu_rt_dev_launch;

/*
 * What the runtime needs from a device.  `dev` is the backend's context
 * (vtpu_rt_init_dev).  Every call that can fail returns VTPU_DRV_OK or a
 * negative status (vtpu_drv_status or vtpu_rt_status) and, on failure,
 * writes one readable line (NUL-terminated, at most VTPU_RT_ERR_LEN
 * bytes) into `err`: what the runtime then reports in vtpu_rt_error().
 * The line names the operation ("copy to HBM: ...", "loading the module:
 * ...", l->what + ": ...") and the device's or system's explanation.
 * The runtime has checked its arguments before a call (offsets and
 * lengths inside HBM, copy lengths > 0, a slot from load()); a backend
 * checks only what is its own (e.g. that a range lies in its buffers).
 * After a failure the backend must stay usable (the ring backend recovers
 * the ring).  Calls come from one thread at a time.
 */
typedef struct vtpu_rt_dev_ops {
    const char *name; /* "ring", "linux": for messages */

    /* The device's identity and sizes.  Fields a backend cannot know are
     * 0 (the Linux backend: the vreg shape, caps, ring limits and
     * prog_slots: the kernel assigns slots).  Required; the pointer stays
     * valid until fini. */
    const vtpu_drv_info *(*info)(void *dev);

    /* Allocate `size` bytes of HBM (> 0) at an `align`-aligned offset
     * (a power of two, 0 = 64) into *hbm.  Contents are undefined.
     * VTPU_RT_ENOHBM (with the sizes involved in the message) or
     * VTPU_RT_ETABLE when there is no room, VTPU_DRV_EINVAL for a bad
     * size or alignment. */
    int (*alloc)(void *dev, uint64_t size, uint64_t align, uint64_t *hbm,
                 char *err);
    /* Free the allocation that alloc() returned at `hbm`; VTPU_RT_ENOTALLOC
     * if there is none. */
    int (*free)(void *dev, uint64_t hbm, char *err);

    /* Copy `len` bytes (> 0) between host memory and HBM at any byte
     * offset; synchronous: done when it returns.  The range need not be
     * one allocation, but a backend may refuse HBM that is not its
     * (VTPU_DRV_EINVAL).  Device errors: VTPU_DRV_EDEVICE with the
     * device's explanation. */
    int (*write)(void *dev, uint64_t hbm, const void *src, size_t len,
                 char *err);
    int (*read)(void *dev, uint64_t hbm, void *dst, size_t len, char *err);
    /* Fill `len` bytes at `hbm` with a 32-bit little-endian pattern.  The
     * runtime passes what its caller gave: an offset or length that is
     * not a multiple of 4, or a length of 0, is refused (the ring
     * backend: the device's BAD_ALIGN / BAD_LENGTH error, EDEVICE; the
     * Linux backend: VTPU_DRV_EINVAL). */
    int (*fill)(void *dev, uint64_t hbm, uint64_t len, uint32_t pattern,
                char *err);

    /* Put a program image (an ELF the runtime has checked with
     * vtpu_module_parse, `len` bytes) into a free program slot owned by
     * this runtime until unload(); *slot receives it.  VTPU_RT_ENOSLOT
     * when every slot is taken; a refusal by the device is
     * VTPU_DRV_EDEVICE with its reason. */
    int (*load)(void *dev, const void *image, size_t len, uint32_t *slot,
                char *err);
    /* Give the slot back.  Cannot fail (a backend logs what it cannot
     * undo). */
    void (*unload)(void *dev, uint32_t slot);

    /* Run the program in l->slot on l->num_tcs TCs with l->args, letting
     * it touch the HBM of l->ranges, and wait until it ends.  On success
     * *res holds the exit code of every TC that ran (num_tcs, tc_exit,
     * exit_code; instret where the backend has it); a non-zero exit code
     * is not a failure of this call.  A device error (a TC fault, a DMA
     * outside the granted HBM) is VTPU_DRV_EDEVICE with the device's
     * report; VTPU_DRV_ETIMEDOUT when the launch did not end in time (the
     * ring backend: its wait timed out, the ring is as it was; the Linux
     * backend: the driver's job timeout stopped it with a device reset);
     * VTPU_DRV_ECANCELED when a reset dropped it. */
    int (*launch)(void *dev, const vtpu_rt_dev_launch *l,
                  vtpu_launch_result *res, char *err);
    /* Optional (NULL: vtpu_rt_run_start is refused): launch() in two
     * halves, for launches on several devices in flight at once (a
     * collective launch across devices).  launch_start() submits without
     * waiting; launch_finish(), with the same `l` (its buffers still
     * valid), waits and fills *res.  One launch in flight per device. */
    int (*launch_start)(void *dev, const vtpu_rt_dev_launch *l, char *err);
    int (*launch_finish)(void *dev, const vtpu_rt_dev_launch *l,
                         vtpu_launch_result *res, char *err);
    /* Non-zero: launch() does the copies of vtpu_rt_dev_launch.write_*
     * and read_* (the ring backend: COPY_H2D, LAUNCH, COPY_D2H and one
     * fence: one wait instead of three round trips). */
    int launch_copies;

    /* Release what the backend holds for the runtime (vtpu_rt_fini).
     * Optional. */
    void (*fini)(void *dev);
} vtpu_rt_dev_ops;

typedef struct vtpu_rt_opts {
    /* HBM the runtime manages: [hbm_base, hbm_base + hbm_size); both 0 =
     * all of HBM.  Anything outside stays the caller's. */
    uint64_t hbm_base, hbm_size;
    /* Bytes of DMA memory for staging copies; 0 = VTPU_RT_STAGING. */
    size_t staging_size;
    /* Segment table for the HBM allocator; NULL = the runtime's own
     * VTPU_RT_HEAP_SEGS entries. */
    vtpu_heap_seg *segs;
    uint32_t nsegs;
} vtpu_rt_opts;

/* Caller-allocated runtime state; fields are private. */
typedef struct vtpu_rt {
    const vtpu_rt_dev_ops *ops; /* the backend */
    void *dev;                  /* its context */
    /* The ring backend (vtpu_rt_init; vtpu_rt_ring.c); unused by others. */
    vtpu_drv *drv;
    vtpu_heap heap;
    vtpu_heap_seg own_segs[VTPU_RT_HEAP_SEGS];
    uint8_t *stage; /* staging DMA memory */
    uint64_t stage_bus;
    size_t stage_size;
    vtpu_launch_result *result; /* DMA memory for LAUNCH's result */
    uint64_t result_bus;
    uint32_t slots_used; /* bit per program slot */
    uint32_t launch_seq; /* fence of the launch in flight */
    int launch_active;   /* vtpu_rt_run_start .. _finish */
    char err[VTPU_RT_ERR_LEN];
} vtpu_rt;

/*
 * The ring backend: the runtime over a driver that is probed and
 * initialised (vtpu_drv_init), managing HBM itself (vtpu_heap), copying
 * through a DMA staging buffer (COPY_H2D / COPY_D2H), loading with
 * LOAD_PROG, launching with LAUNCH.  `opts` may be NULL.  `drv` must
 * outlive `rt`.
 */
int vtpu_rt_init(vtpu_rt *rt, vtpu_drv *drv, const vtpu_rt_opts *opts);
/*
 * The runtime over another backend: `ops` (every callback required but
 * fini) with context `dev`, both outliving `rt`.
 */
int vtpu_rt_init_dev(vtpu_rt *rt, const vtpu_rt_dev_ops *ops, void *dev);
/* Release the backend's resources (the ring backend's DMA memory).  HBM
 * allocations and loaded programs are simply forgotten. */
void vtpu_rt_fini(vtpu_rt *rt);
/* What went wrong in the last failing call ("" if nothing did). */
const char *vtpu_rt_error(const vtpu_rt *rt);
/* The device as the backend describes it (vtpu_rt_dev_ops.info). */
const vtpu_drv_info *vtpu_rt_info(const vtpu_rt *rt);
/* The backend's name: "ring", "linux". */
const char *vtpu_rt_backend(const vtpu_rt *rt);

/* HBM allocation (the backend's: the ring backend's vtpu_heap, the Linux
 * backend's buffer objects).  The out-of-memory message names the
 * requested size and what is free. */
int vtpu_rt_alloc(vtpu_rt *rt, uint64_t size, uint64_t align, uint64_t *hbm);
int vtpu_rt_free(vtpu_rt *rt, uint64_t hbm);
/* The ring backend's allocator; NULL with another backend. */
const vtpu_heap *vtpu_rt_heap(const vtpu_rt *rt);

/* Copy between host memory and HBM (the ring backend: through the staging
 * buffer, COPY_H2D / COPY_D2H, waiting for each piece).  Device errors
 * come back as VTPU_DRV_EDEVICE with the device's explanation; the ring
 * is recovered. */
int vtpu_rt_write(vtpu_rt *rt, uint64_t hbm, const void *src, size_t len);
int vtpu_rt_read(vtpu_rt *rt, uint64_t hbm, void *dst, size_t len);
/* Fill with a 32-bit pattern (hbm 4-aligned, len a multiple of 4). */
int vtpu_rt_fill(vtpu_rt *rt, uint64_t hbm, uint64_t len, uint32_t pattern);

/* A dense row-major array in HBM: what a launch operand refers to. */
typedef struct vtpu_rt_array {
    uint64_t hbm;
    uint32_t shape[VTPU_MAX_RANK]; /* outermost first; 0 past rank */
    uint8_t dtype;                 /* enum vtpu_dtype */
    uint8_t rank;                  /* 1..4 */
} vtpu_rt_array;

/* Bytes of an array (0 if its dtype or rank is invalid). */
uint64_t vtpu_rt_array_bytes(const vtpu_rt_array *a);
/* Describe an array of `dtype` and `shape[rank]` and allocate it (aligned
 * to 256 bytes).  Free with vtpu_rt_free(rt, a->hbm). */
int vtpu_rt_array_alloc(vtpu_rt *rt, vtpu_rt_array *a, uint32_t dtype,
                        uint32_t rank, const uint32_t *shape);

/* ------------------------------------------------------------------ */
/* Kernel modules                                                       */
/* ------------------------------------------------------------------ */

/* A loaded module: the program slot and the module's kernel table. */
typedef struct vtpu_module {
    uint32_t slot;
    int loaded;
    uint32_t num_kernels;
    uint32_t smem_end; /* end of its SMEM image (TC address): the stack's
                          top; SMEM above it holds the scalar prefetch */
    vtpu_kernel_entry kernels[VTPU_RT_MAX_KERNELS];
} vtpu_module;

/*
 * Check that `elf` is a kernel module a device described by `info` can
 * run (RV32 little-endian RISC-V executable for RV32IMF, segments inside
 * the file and inside IMEM/SMEM, a well-formed .vtpu.kernels section whose
 * vtpu_kernel_<name> symbols agree with it) and read its kernel table
 * into `m` (not loaded).  `info` may be NULL to skip the memory sizes.
 * VTPU_RT_EBADELF with the reason in `err`.
 */
int vtpu_module_parse(vtpu_module *m, const void *elf, size_t len,
                      const vtpu_drv_info *info, char *err, size_t errlen);

/* Parse, then have the backend load it into a free slot (the ring
 * backend: upload the image to HBM, LOAD_PROG, wait, free the HBM copy;
 * the slot holds the program). */
int vtpu_rt_module_load(vtpu_rt *rt, vtpu_module *m, const void *elf,
                        size_t len);
/* Give the slot back (the ring backend: the program stays in it until
 * overwritten; the Linux backend: MODULE_UNLOAD). */
void vtpu_rt_module_unload(vtpu_rt *rt, vtpu_module *m);
/* Index of kernel `name` in the module's table, or VTPU_RT_ENOKERNEL. */
int vtpu_module_find(const vtpu_module *m, const char *name, uint32_t *index);
/*
 * The extension record (vtpu_kernel_ext, vtpu-launch.h: pl.Element
 * padding) of kernel entry `e` of the module image `elf` (len bytes,
 * already accepted by vtpu_module_parse): 0 and *out when the entry has
 * a record this driver reads (magic, version 1, size), 1 when it has none
 * (ext 0), VTPU_RT_EBADELF with the reason in `err` when `ext` does not
 * lie in the image's SMEM data or the record is of another version.  The
 * module keeps no copy (its table would double): callers that describe
 * kernels read it while they hold the image.  The TC runtime checks the
 * record again at every launch; it is the authority on what it accepts.
 */
int vtpu_module_kernel_ext(const void *elf, size_t len,
                           const vtpu_kernel_entry *e, vtpu_kernel_ext *out,
                           char *err, size_t errlen);
/* Find with the runtime's error message on failure. */
int vtpu_rt_kernel_find(vtpu_rt *rt, const vtpu_module *m, const char *name,
                        uint32_t *index);

/* ------------------------------------------------------------------ */
/* Launches                                                             */
/* ------------------------------------------------------------------ */

typedef struct vtpu_rt_launch {
    uint32_t kernel;                       /* index from vtpu_module_find() */
    uint32_t num_tcs;                      /* TCs to run on; 0 = every TC */
    uint32_t grid_rank;                    /* 0..4 (0: one step) */
    uint32_t grid[VTPU_MAX_GRID_DIMS];     /* extents >= 1, or VTPU_GRID_SCALAR(i) */
    uint8_t semantics[VTPU_MAX_GRID_DIMS]; /* VTPU_PARALLEL/ARBITRARY */
    uint32_t num_operands;
    vtpu_rt_array operands[VTPU_MAX_OPERANDS]; /* in the kernel's order */
    uint32_t num_scalars;                      /* scalar-prefetch values */
    const int32_t *scalars;
    /* Debugging checks of the TC runtime (docs/debugging.md), 0 = none:
     * VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT, and the shuffle's
     * seed in bits 31:16 (VTPU_LAUNCH_SEED_SHIFT). */
    uint32_t check_flags;
    /* Non-zero: a collective run of the chip's slice (docs/multichip.md):
     * it starts when every chip of the slice has launched; a device in no
     * slice refuses it. */
    int collective;
} vtpu_rt_launch;

/* What the TCs reported (sums over the TCs that ran). */
typedef struct vtpu_rt_stats {
    uint32_t num_tcs;
    uint32_t steps, blocks_in, blocks_out;
    uint64_t bytes_in, bytes_out;
    uint64_t loop_insns;
    vtpu_launch_status tc[VTPU_RT_MAX_TCS];
} vtpu_rt_stats;

/*
 * Run kernel l->kernel of module `m` over the grid and wait for it.
 * The runtime checks the launch against the kernel's table entry first
 * (operand count, dtypes, ranks, grid, scalars: VTPU_DRV_EINVAL), then
 * builds the descriptor in HBM, launches (granting the descriptor block
 * and the operands) and reads the status records.
 * A kernel or TC-runtime error is VTPU_RT_ELAUNCH, a device fault
 * VTPU_DRV_EDEVICE (the ring is recovered); vtpu_rt_error() says which
 * TC, which error and the TC runtime's own message.  `stats` may be NULL.
 */
int vtpu_rt_run(vtpu_rt *rt, const vtpu_module *m, const vtpu_rt_launch *l,
                vtpu_rt_stats *stats);

/* A launch in flight (vtpu_rt_run_start); fields are private. */
typedef struct vtpu_rt_pending {
    int active;
    uint64_t at; /* the descriptor block in HBM */
    uint32_t ntcs;
    const vtpu_kernel_entry *e;
    struct vtpu_rt_launch_block { /* what goes to HBM, in one write */
        vtpu_launch L;
        vtpu_launch_status st[VTPU_RT_MAX_TCS];
    } b;
    vtpu_rt_range ranges[1 + VTPU_MAX_OPERANDS];
    char what[80];
    vtpu_rt_dev_launch dl;
    vtpu_launch_result res;
} vtpu_rt_pending;

/*
 * vtpu_rt_run() in two halves, so that launches on several devices can be
 * in flight at once: a collective launch (l->collective) starts on a
 * device only when every chip of its slice has launched, so a program
 * driving a slice from one thread starts the launch on every device and
 * only then finishes them (guest/slice/vtpu-slice-demo.c).  run_start
 * checks, uploads the descriptor and submits without waiting; `p`, `m`
 * and `l->scalars` must stay valid and `p` must not move until
 * run_finish, which waits and reports exactly as vtpu_rt_run.  One launch
 * in flight per runtime; VTPU_DRV_EINVAL for a second one or a backend
 * that cannot (one without launch_start).  After a failing run_start,
 * nothing is in flight.  Both backends have it: the ring backend waits
 * for the launch's fence, the Linux backend WAITs for the SUBMIT's job.
 */
int vtpu_rt_run_start(vtpu_rt *rt, const vtpu_module *m,
                      const vtpu_rt_launch *l, vtpu_rt_pending *p);
int vtpu_rt_run_finish(vtpu_rt *rt, vtpu_rt_pending *p, vtpu_rt_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_RT_H */
