/*
 * run-kernel.h - vtpu-run's kernel mode (docs/vtpu-run.md), over any
 * runtime backend: plain C, no GLib and no engine, so the same code runs
 * on the host (vtpu-run.c: the in-process chip) and in Linux user space
 * (vtpu-run-linux.c: /dev/accel/accel0).
 */
#ifndef VTPU_RUN_KERNEL_H
#define VTPU_RUN_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "npy.h"
#include "vtpu_rt.h"

/* The command line of one launch; lists are NULL-terminated or NULL. */
typedef struct run_kernel_args {
    const char *module; /* MODULE.elf */
    const char *kernel; /* KERNEL */
    char **inputs;      /* IN.npy files, for the input operands */
    unsigned ninputs;
    char **outputs;    /* -o files, for the output operands */
    const char *grid;  /* --grid "512,4" or NULL */
    const char *dims;  /* --dims "parallel,arbitrary" or NULL */
    char **scalars;    /* --scalar values "3,4" */
    const char *scalar_file; /* --scalar-file FILE.npy or NULL: int32/uint32
                                values after the --scalar ones */
    char **out_shapes; /* --out-shape "[DT:]N,N", per output */
    bool quiet;        /* no summary line */
    const char *grid_order; /* --grid-order "shuffle[:SEED]" or NULL */
    bool check_revisit;     /* --check-revisit */
} run_kernel_args;

/* The device the launch runs on. */
typedef struct run_kernel_dev {
    void *ctx;
    /* Bring the device and a runtime up (after the command line and the
     * module file were read); end the process with a message and an
     * EXIT_* status on failure. */
    vtpu_rt *(*open)(void *ctx);
    /* After the outputs are written and the summary printed (optional). */
    void (*finish)(void *ctx);
    /* Take everything down. */
    void (*close)(void *ctx);
    /* Optional (kernel_io.hbm_ptr, with ctx): the host's pointer into
     * HBM, for files read straight into it and written from it. */
    void *(*hbm_ptr)(void *ctx, uint64_t hbm, uint64_t len);
} run_kernel_dev;

/*
 * Load the module, bind the files to the kernel's operands, run the
 * launch, write the outputs, print the summary line.  Returns 0; every
 * failure ends the process with a message on stderr and an EXIT_* status
 * (cli.h).
 */
int run_kernel(const run_kernel_args *a, const run_kernel_dev *dev);

/*
 * The steps of a launch on arrays in memory, shared by run_kernel() and
 * the library over it (libvtpu-run.h, for Python): each returns 0, or -1
 * with `err` filled and the process left running.
 */

/* What went wrong: the EXIT_* status vtpu-run ends with (cli.h) and the
 * line it prints after "vtpu-run: ". */
typedef struct rk_error {
    int status;
    char msg[1024];
} rk_error;

/* The operands of one launch and, for messages, the names of what they
 * come from and go to (files for vtpu-run). */
typedef struct kernel_io {
    unsigned nops;
    vtpu_npy arr[VTPU_MAX_OPERANDS];         /* contents (inputs) / results */
    const char *in_file[VTPU_MAX_OPERANDS];  /* set for IN and INOUT */
    const char *out_file[VTPU_MAX_OPERANDS]; /* set for OUT and INOUT */
    const char *noun;      /* what holds an input: NULL = "file" */
    const char *shape_opt; /* how outputs' shapes are given: NULL =
                              "--out-shape" */
    /*
     * Where input data comes from and results go, when not arr[i].data
     * (NULL: from and to arr[i].data): `load` puts input operand i's
     * arr[i].bytes into dst, `store` takes output operand i's from src;
     * 0, or -1 with `err` filled.  vtpu-run reads files straight into
     * HBM and writes them straight from it this way.
     */
    int (*load)(void *ctx, unsigned i, void *dst, rk_error *err);
    int (*store)(void *ctx, unsigned i, const void *src, rk_error *err);
    void *ctx;
    /*
     * The host's own pointer to [hbm, hbm+len) of HBM, when the device is
     * in this process and may be written behind its back (no check that
     * watches host writes, such as poison, is on); NULL: copy through the
     * runtime (vtpu_rt_write/read/fill), the driver's DMA path.
     */
    void *(*hbm_ptr)(void *hbm_ctx, uint64_t hbm, uint64_t len);
    void *hbm_ctx;
    /*
     * Optional, with ctx: called once every operand is in HBM
     * (l->operands[i].hbm set), just before the launch; non-zero (err
     * filled) skips it.  The slice runner checks there that every chip
     * placed the operands alike (docs/vtpu-run.md, "Slices").
     */
    int (*before_run)(void *ctx, const vtpu_rt_launch *l, rk_error *err);
} kernel_io;

/* Index of `kernel` in `mod` (read from the file `module`); the message
 * lists the module's kernels. */
int rk_find_kernel(const vtpu_module *mod, const char *module,
                   const char *kernel, uint32_t *index, rk_error *err);

/* io->arr[i] (an input, or an output once shaped) against the kernel's
 * declaration of operand i: dtype and rank. */
int rk_check_operand(const vtpu_kernel_entry *e, const kernel_io *io,
                     unsigned i, rk_error *err);

/*
 * Shape and dtype of output operand i, the nth output from 0
 * (docs/vtpu-run.md, "Output shapes"): from `given` (may be NULL; a
 * dtype or rank of 0 is not given) or what the kernel declares (the
 * operand spec's shape_like / dtype_like, naming inputs, which must be in
 * io->arr already); never guessed: without either, an error naming the
 * option (io->shape_opt) to give.  Sets
 * io->arr[i]'s dtype, rank and shape, not its data.
 */
int rk_output_shape(const vtpu_kernel_entry *e, kernel_io *io, unsigned i,
                    unsigned nth, const vtpu_npy *given, rk_error *err);

/*
 * Run launch `l` (kernel, grid, semantics, scalars, checks set; the
 * operands are filled in here) of `mod` on io's arrays, all of them
 * shaped and with data of exactly their size (or io->load/store set):
 * allocate every operand in HBM, upload the inputs, zero the outputs,
 * run, read the outputs (and in/out operands) back into their arrays,
 * free the HBM.  With io->hbm_ptr the copies are the host's own, one per
 * operand and direction, and outputs are zeroed by dropping their pages
 * (docs/vtpu-run.md, "Where the time goes").  `st` and `us`
 * (the wall time of vtpu_rt_run alone) may be NULL.
 */
int rk_launch(vtpu_rt *rt, const vtpu_module *mod, vtpu_rt_launch *l,
              kernel_io *io, vtpu_rt_stats *st, int64_t *us, rk_error *err);

/* Helpers of run_kernel() that the slice runner (slice-run.c) shares;
 * the void ones end the process on bad input, as run_kernel() does. */
/* --grid, --dims, --scalar, --scalar-file, --grid-order, --check-revisit
 * into l; *scalars is malloc'd (free it). */
void rk_parse_launch_opts(const run_kernel_args *a, vtpu_rt_launch *l,
                          int32_t **scalars);
/* An --out-shape value ("[DT:]N,N"; NULL: nothing given) into out's
 * dtype, rank and shape. */
void rk_parse_out_shape(const char *spec, vtpu_npy *out);
/* A whole file, mapped (*mapped: munmap it) or read (free it). */
int rk_read_file(const char *path, char **data, size_t *len, bool *mapped,
                 char *err, size_t errlen);
/* "in", "out", "in/out". */
const char *rk_role_name(uint8_t role);

#endif /* VTPU_RUN_KERNEL_H */
