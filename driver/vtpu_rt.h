/*
 * vtpu_rt.h - the vtpu runtime over the driver (vtpu_drv.h): an HBM
 * allocator, buffer upload/download, ELF kernel modules and launches.
 *
 * The pieces:
 *   - vtpu_heap: a first-fit range allocator with alignment and coalescing
 *     free, its bookkeeping in a caller-provided array of segments (no
 *     malloc).  Usable on its own; the runtime manages HBM with one.
 *   - vtpu_rt: one per driver.  Moves data between host memory and HBM
 *     through a DMA staging buffer (COPY_H2D / COPY_D2H), loads kernel
 *     modules (upload the ELF to HBM, LOAD_PROG into a free slot), and
 *     launches kernels: builds the vtpu_launch descriptor (vtpu-launch.h),
 *     uploads it, LAUNCHes on the requested TCs, waits, reads back the
 *     status records and turns failures into one readable line.
 *
 * Portable C11 like the driver: no allocation (every object is the
 * caller's; DMA memory comes from the platform's dma_alloc through the
 * driver), nothing from libc beyond memset/memcpy/memcmp/strlen/strncmp/
 * snprintf, so it builds for the bare-metal guest with picolibc too.
 * Not thread-safe, like the driver under it.
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
#define VTPU_RT_ERR_LEN 320        /* bytes of vtpu_rt_error() */
#define VTPU_RT_MAX_KERNELS 128    /* kernels one module may hold */
#define VTPU_RT_MAX_TCS 8          /* status records read per launch */
#define VTPU_RT_STAGING (1u << 20) /* default staging buffer */

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
    vtpu_drv *drv;
    vtpu_heap heap;
    vtpu_heap_seg own_segs[VTPU_RT_HEAP_SEGS];
    uint8_t *stage; /* staging DMA memory */
    uint64_t stage_bus;
    size_t stage_size;
    vtpu_launch_result *result; /* DMA memory for LAUNCH's result */
    uint64_t result_bus;
    uint32_t slots_used; /* bit per program slot */
    char err[VTPU_RT_ERR_LEN];
} vtpu_rt;

/*
 * Set up the runtime over a driver that is probed and initialised
 * (vtpu_drv_init).  `opts` may be NULL.  `drv` must outlive `rt`.
 */
int vtpu_rt_init(vtpu_rt *rt, vtpu_drv *drv, const vtpu_rt_opts *opts);
/* Free the runtime's DMA memory.  HBM allocations and loaded programs are
 * simply forgotten. */
void vtpu_rt_fini(vtpu_rt *rt);
/* What went wrong in the last failing call ("" if nothing did). */
const char *vtpu_rt_error(const vtpu_rt *rt);

/* HBM allocation (the runtime's vtpu_heap).  The out-of-memory message
 * names the requested size and the largest free block. */
int vtpu_rt_alloc(vtpu_rt *rt, uint64_t size, uint64_t align, uint64_t *hbm);
int vtpu_rt_free(vtpu_rt *rt, uint64_t hbm);
const vtpu_heap *vtpu_rt_heap(const vtpu_rt *rt);

/* Copy between host memory and HBM through the staging buffer (COPY_H2D
 * / COPY_D2H, waiting for each piece).  Device errors come back as
 * VTPU_DRV_EDEVICE with the device's explanation; the ring is recovered. */
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

/* Parse, upload the image to HBM, LOAD_PROG it into a free slot, wait;
 * the HBM copy is freed again (the slot holds the program). */
int vtpu_rt_module_load(vtpu_rt *rt, vtpu_module *m, const void *elf,
                        size_t len);
/* Give the slot back (the program stays in it until overwritten). */
void vtpu_rt_module_unload(vtpu_rt *rt, vtpu_module *m);
/* Index of kernel `name` in the module's table, or VTPU_RT_ENOKERNEL. */
int vtpu_module_find(const vtpu_module *m, const char *name, uint32_t *index);
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
    uint32_t grid[VTPU_MAX_GRID_DIMS];     /* extents >= 1 */
    uint8_t semantics[VTPU_MAX_GRID_DIMS]; /* VTPU_PARALLEL/ARBITRARY */
    uint32_t num_operands;
    vtpu_rt_array operands[VTPU_MAX_OPERANDS]; /* in the kernel's order */
    uint32_t num_scalars;                      /* scalar-prefetch values */
    const int32_t *scalars;
    /* Debugging checks of the TC runtime (docs/debugging.md), 0 = none:
     * VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT, and the shuffle's
     * seed in bits 31:16 (VTPU_LAUNCH_SEED_SHIFT). */
    uint32_t check_flags;
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
 * builds the descriptor in HBM, LAUNCHes and reads the status records.
 * A kernel or TC-runtime error is VTPU_RT_ELAUNCH, a device fault
 * VTPU_DRV_EDEVICE (the ring is recovered); vtpu_rt_error() says which
 * TC, which error and the TC runtime's own message.  `stats` may be NULL.
 */
int vtpu_rt_run(vtpu_rt *rt, const vtpu_module *m, const vtpu_rt_launch *l,
                vtpu_rt_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_RT_H */
