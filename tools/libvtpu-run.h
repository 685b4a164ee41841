/*
 * libvtpu-run.h - vtpu-run's kernel mode as a library (libvtpu-run.so):
 * an emulated chip in the calling process, kernel modules loaded into
 * it, launches on arrays in memory.  A flat C API for other languages
 * (python/vtpu drives it through ctypes, docs/python.md); the launch
 * itself is run-kernel.c's, the code vtpu-run runs.
 *
 * Contract, for every call:
 *  - Nothing exits or aborts the process: a call that fails returns a
 *    status (below) and leaves one line explaining it in
 *    vtpu_run_error(chip) (for vtpu_run_open, in `err`).  The line is
 *    what vtpu-run prints after "vtpu-run: " for the same mistake.
 *  - Statuses are vtpu-run's exit statuses (docs/vtpu-run.md):
 *      0   VTPU_RUN_OK
 *      1   VTPU_RUN_EFILE   a file cannot be read or written
 *      2   VTPU_RUN_EUSAGE  bad options, unknown kernel, arrays that do
 *                           not fit the kernel's operands, a launch the
 *                           runtime refuses before submitting it
 *      125 VTPU_RUN_EFAULT  the launch failed: an error of the kernel or
 *                           the TC runtime, or a device fault (a check's
 *                           report: race, uninitialised read, ...)
 *      126 VTPU_RUN_ELOAD   the module cannot be read or is not a kernel
 *                           module this chip runs
 *  - A chip is used by one thread at a time (the caller serialises);
 *    several chips may live in one process.
 *  - Structures are plain C with fixed-width fields, for ctypes.
 */
#ifndef VTPU_LIBVTPU_RUN_H
#define VTPU_LIBVTPU_RUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VTPU_RUN_API_VERSION 2 /* 2: vtpu_run_padding */

enum vtpu_run_status {
    VTPU_RUN_OK = 0,
    VTPU_RUN_EFILE = 1,
    VTPU_RUN_EUSAGE = 2,
    VTPU_RUN_EFAULT = 125,
    VTPU_RUN_ELOAD = 126,
};

typedef struct vtpu_run_chip vtpu_run_chip;

/* An array in host memory: dense, C order. */
typedef struct vtpu_run_array {
    uint32_t dtype; /* enum vtpu_dtype (vtpu-launch.h); 0 = infer */
    uint32_t rank;  /* 1..4; 0 = infer (outputs only) */
    uint32_t shape[4];
    void *data;     /* bytes of elements; the caller's */
    uint64_t bytes; /* of data: exactly elements * dtype size */
} vtpu_run_array;

/* One launch's parameters besides its arrays. */
typedef struct vtpu_run_launch {
    uint32_t grid_rank;    /* 0..4; 0 = one step */
    uint32_t grid[4];      /* extents >= 1, or VTPU_GRID_SCALAR(i) */
    uint32_t semantics[4]; /* VTPU_PARALLEL (1) / VTPU_ARBITRARY (0) */
    uint32_t num_scalars;  /* scalar-prefetch values */
    const int32_t *scalars;
    /* VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT, shuffle seed in
     * bits 31:16 (vtpu-launch.h; vtpu-run's --grid-order and
     * --check-revisit) */
    uint32_t check_flags;
    uint32_t num_tcs; /* TCs to run on; 0 = all */
} vtpu_run_launch;

/* What a launch did (the summary line of vtpu-run). */
typedef struct vtpu_run_stats {
    uint32_t num_tcs, busy_tcs; /* TCs it ran on, TCs that ran a step */
    uint32_t steps;             /* grid points run, all TCs */
    uint32_t blocks_in, blocks_out;
    uint64_t bytes_in, bytes_out; /* moved by the pipeline */
    uint64_t launch_ns;           /* wall time of the launch alone */
    /* The TC whose status the failure reports (-1: none or a device
     * fault), its VTPU_LERR_* code, steps run per TC. */
    int32_t failed_tc;
    uint32_t failed_code;
    uint32_t tc_steps[8];
} vtpu_run_stats;

/* A kernel's declaration of one operand (vtpu-launch.h). */
typedef struct vtpu_run_operand {
    uint32_t role;  /* VTPU_ROLE_IN 1, OUT 2, INOUT 3 */
    uint32_t space; /* enum vtpu_mem_space */
    uint32_t dtype; /* 0 = any */
    uint32_t rank;  /* 0 = any (memory space ANY) */
    uint32_t block[4];
} vtpu_run_operand;

/* VTPU_RUN_API_VERSION of the library. */
int vtpu_run_version(void);

/*
 * A chip with the driver and runtime brought up over it.  `opts` is a
 * NULL-terminated list of "KEY=VALUE" (or NULL): "gen=v4" (first: it
 * resets the others), any chip property of vtpu-run --help-props
 * ("cores=2", "race=on", "poison=on", "insn-budget=N", "vmem-size=16M"),
 * the debugging aids "dma-order=eager|on-wait|random[:SEED]",
 * "trace=FILE" (Chrome/Perfetto JSON, complete after vtpu_run_close) and
 * "tag-output=on", and "quiet=on": what kernels print is kept for
 * vtpu_run_output() but not also written to this process's
 * stdout/stderr.  NULL with the reason in `err` on failure.
 */
vtpu_run_chip *vtpu_run_open(const char *const *opts, char *err, size_t errlen);
/* Unload every module, take the chip down, complete the trace. */
void vtpu_run_close(vtpu_run_chip *c);
/* The last failure's line ("" after a success). */
const char *vtpu_run_error(const vtpu_run_chip *c);
/*
 * The last failure's line followed by what the TCs wrote to stderr
 * during the last launch: the TC runtime's own line (not shortened, with
 * the grid point), a check's full report (a race: both accesses, their
 * TCs, pcs and grid points).  Valid until the next call on `c`.
 */
const char *vtpu_run_report(vtpu_run_chip *c);
/* What the TCs wrote to `fd` (1 or 2) during the last launch (the first
 * 64 KiB). */
const char *vtpu_run_output(const vtpu_run_chip *c, int fd);
/* The status of the last call (0 after a success). */
int vtpu_run_status(const vtpu_run_chip *c);
/* TCs on the chip. */
int vtpu_run_num_tcs(const vtpu_run_chip *c);

/* Load the kernel module at `path`; *module receives its handle. */
int vtpu_run_load(vtpu_run_chip *c, const char *path, int *module);
/* Kernels in a module, and the name of the i-th (NULL past the end). */
int vtpu_run_num_kernels(const vtpu_run_chip *c, int module);
const char *vtpu_run_kernel_name(const vtpu_run_chip *c, int module,
                                 int kernel);
/* Index of `name` in the module (the message lists the kernels). */
int vtpu_run_find(vtpu_run_chip *c, int module, const char *name, int *kernel);
/* The kernel's operand declarations: *n (in: capacity of ops, 16 is
 * always enough) receives their count. */
int vtpu_run_operands(vtpu_run_chip *c, int module, int kernel,
                      vtpu_run_operand *ops, unsigned *n);
/* Operand `op`'s padding of its element-indexed dimensions
 * (pl.Element(n, padding=(lo, hi)), the kernel's VTPU_KERNEL_EXT record):
 * lo[4] and hi[4] receive it per dimension, zeros where none (version 2). */
int vtpu_run_padding(vtpu_run_chip *c, int module, int kernel, unsigned op,
                     uint32_t *lo, uint32_t *hi);

/*
 * Shape the outputs: `arrays` has one entry per operand, in the kernel's
 * order; inputs (and in/out operands) are set, outputs may leave dtype
 * and/or rank 0 to have them inferred as vtpu-run does (the inputs of
 * the output's rank; docs/vtpu-run.md).  Sets every output's dtype, rank
 * and shape and `bytes` to what its data must hold; checks every array
 * against the kernel's declarations.
 */
int vtpu_run_shape(vtpu_run_chip *c, int module, int kernel,
                   vtpu_run_array *arrays, unsigned n);

/*
 * Run one launch of the kernel on `arrays` (as for vtpu_run_shape, every
 * one shaped and with data): the inputs are uploaded, the outputs
 * zeroed, and after the run the outputs and in/out operands are written
 * into their arrays' data.  `st` may be NULL.
 */
int vtpu_run_kernel(vtpu_run_chip *c, int module, int kernel,
                    const vtpu_run_launch *l, vtpu_run_array *arrays,
                    unsigned n, vtpu_run_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_LIBVTPU_RUN_H */
