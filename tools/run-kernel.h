/*
 * run-kernel.h - vtpu-run's kernel mode (docs/vtpu-run.md).
 */
#ifndef VTPU_RUN_KERNEL_H
#define VTPU_RUN_KERNEL_H

#include <stdbool.h>

#include "debug-opts.h"
#include "vtpu.h"

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
    char **out_shapes; /* --out-shape "[DT:]N,N", per output */
    bool quiet;        /* no summary line */
    const char *gdb;   /* --gdb [HOST:]PORT: debug the launch, or NULL */
    debug_opts dbg;    /* --dma-order, --trace, --stats, --tag-output */
    const char *grid_order; /* --grid-order "shuffle[:SEED]" or NULL */
    bool check_revisit;     /* --check-revisit */
} run_kernel_args;

/*
 * Run the launch on a chip built from `cfg`, write the outputs, print the
 * summary line.  Returns 0; every failure ends the process with a message
 * on stderr and an EXIT_* status (cli.h).
 */
int run_kernel(const vtpu_config *cfg, const run_kernel_args *a);

#endif /* VTPU_RUN_KERNEL_H */
