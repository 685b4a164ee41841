/*
 * slice-run.h - vtpu-run --topology: one collective launch of a kernel on
 * every chip of a slice (SPMD), operands sharded over the chips from .npy
 * files and outputs gathered (docs/vtpu-run.md, "Slices").  The chips of
 * this process are in-process host devices (driver/host_platform.h), each
 * with its ring driver and runtime, all attached to one vtpu_fabric; the
 * chips of other processes are reached through a slice_comm (MPI:
 * fabric-mpi.h).  Host-only code.
 */
#ifndef VTPU_SLICE_RUN_H
#define VTPU_SLICE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debug-opts.h"
#include "run-kernel.h"
#include "vtpu-slice.h"
#include "vtpu.h"

/*
 * The other processes of a slice run (NULL: every chip is here).  Every
 * call is made by every process, in the same order, from its main thread,
 * except `fault`.
 */
typedef struct slice_comm {
    unsigned rank, nranks;
    void *ctx;
    /* This process's chips of a slice of n: [*lo, *hi), contiguous. */
    void (*chips)(void *ctx, unsigned n, unsigned *lo, unsigned *hi);
    /* Carry f's messages to the other processes (vtpu_fabric_transport)
     * and start receiving theirs.  0 or -1 + err. */
    int (*attach)(void *ctx, vtpu_fabric *f, char *err, size_t errlen);
    /* A local chip failed (any thread): stop every other process's run,
     * telling them `msg`. */
    void (*fault)(void *ctx, unsigned chip, const char *msg);
    /* The local chips' runs have ended (ok: all cleanly): wait for every
     * process's, stop receiving.  Returns 0 if every process's chips ran
     * cleanly; else -1 and, when the failure was elsewhere, `why` names
     * it ("chip 3 on rank 1: ..."), "" when it was here. */
    int (*finish)(void *ctx, bool ok, char *why, size_t len);
    /* Rank 0 gets every process's bytes: `buf` holds chip c's `chip_bytes`
     * at c * chip_bytes for every chip of the slice (on rank 0) or of this
     * process (others).  0 or -1. */
    int (*gather)(void *ctx, void *buf, uint64_t chip_bytes, unsigned nchips);
    /* True on every process iff every process passed ok. */
    bool (*all_ok)(void *ctx, bool ok);
    /* The smallest v over every process. */
    double (*min_all)(void *ctx, double v);
    /* Leave (MPI_Finalize) and exit the process with `status`. */
    void (*end)(void *ctx, int status);
} slice_comm;

typedef struct slice_args {
    const char *topology; /* --topology SPEC */
    char **replicate;     /* --replicate I[,I...]: input files given whole */
    debug_opts dbg;       /* --dma-order, --trace, --stats, --tag-output */
    bool hugepages;       /* HBM in huge pages (as vtpu-run's one chip) */
} slice_args;

/*
 * Run a's launch on every chip of the slice; returns vtpu-run's exit
 * status (messages on stderr, prefixed "vtpu-run: ").
 */
int run_slice(const run_kernel_args *a, const vtpu_config *cfg,
              const slice_args *s, const slice_comm *comm);

#endif /* VTPU_SLICE_RUN_H */
