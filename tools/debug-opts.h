/*
 * debug-opts.h - vtpu-run's switches for the engine's debugging aids
 * (hw/vtpu/include/vtpu-debug.h, docs/debugging.md): --dma-order, --trace,
 * --stats, --tag-output, shared by the bare and kernel modes.
 */
#ifndef VTPU_RUN_DEBUG_OPTS_H
#define VTPU_RUN_DEBUG_OPTS_H

#include <stdbool.h>

#include "vtpu.h"

typedef struct debug_opts {
    const char *dma_order; /* "eager", "on-wait", "random[:SEED]" or NULL */
    const char *trace;     /* trace file or NULL */
    bool stats;            /* per-TC counters on stderr after the run */
    bool tag;              /* "[TC n (i,j)] " before kernel output lines */
} debug_opts;

/*
 * Switch the aids on for `chip` (usage errors end the process).  From
 * then until debug_opts_finish(), an exit of the process (a failed run
 * included) still prints the counters and completes the trace file.
 */
void debug_opts_apply(vtpu_chip *chip, const debug_opts *o);
/* Print the counters (--stats), close the trace.  Idempotent. */
void debug_opts_finish(void);

#endif /* VTPU_RUN_DEBUG_OPTS_H */
