/*
 * run-kernel.h - vtpu-run's kernel mode (docs/vtpu-run.md), over any
 * runtime backend: plain C, no GLib and no engine, so the same code runs
 * on the host (vtpu-run.c: the in-process chip) and in Linux user space
 * (vtpu-run-linux.c: /dev/accel/accel0).
 */
#ifndef VTPU_RUN_KERNEL_H
#define VTPU_RUN_KERNEL_H

#include <stdbool.h>

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
} run_kernel_dev;

/*
 * Load the module, bind the files to the kernel's operands, run the
 * launch, write the outputs, print the summary line.  Returns 0; every
 * failure ends the process with a message on stderr and an EXIT_* status
 * (cli.h).
 */
int run_kernel(const run_kernel_args *a, const run_kernel_dev *dev);

#endif /* VTPU_RUN_KERNEL_H */
