/*
 * debug-opts.c - vtpu-run's switches for the engine's debugging aids
 * (debug-opts.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "debug-opts.h"
#include "vtpu-debug.h"

/* The chip the aids are on, for the exit handler (one per process). */
static vtpu_chip *dbg_chip;
static bool dbg_stats;

static void print_stats(vtpu_chip *chip)
{
    unsigned n = vtpu_chip_config(chip)->num_tcs;

    for (unsigned t = 0; t < n; t++) {
        vtpu_tc_stats s;
        if (vtpu_chip_tc_stats(chip, t, &s))
            continue;
        fprintf(stderr,
                "vtpu-run: TC %u: %llu instructions; vector %llu alu, %llu "
                "load/store, %llu cross-lane, %llu mask; MXU %llu push, %llu "
                "matmul, %llu pop, %llu clear\n",
                t, (unsigned long long)s.instret, (unsigned long long)s.vec_alu,
                (unsigned long long)s.vec_ldst, (unsigned long long)s.vec_xlane,
                (unsigned long long)s.vec_mask, (unsigned long long)s.mxu_push,
                (unsigned long long)s.mxu_matmul, (unsigned long long)s.mxu_pop,
                (unsigned long long)s.mxu_clear);
        fprintf(stderr,
                "vtpu-run: TC %u: DMA %llu started, bytes %llu in, %llu out, "
                "%llu local, %llu HBM-HBM; %llu semaphore ops, %.3f ms "
                "blocked on semaphores, %.3f ms at barriers\n",
                t, (unsigned long long)s.dma_starts,
                (unsigned long long)s.dma_bytes_in,
                (unsigned long long)s.dma_bytes_out,
                (unsigned long long)s.dma_bytes_local,
                (unsigned long long)s.dma_bytes_hbm,
                (unsigned long long)s.sem_ops, (double)s.sem_wait_ns / 1e6,
                (double)s.barrier_ns / 1e6);
        if (s.ici_bytes_sent || s.ici_bytes_recv) /* slices */
            fprintf(stderr,
                    "vtpu-run: TC %u: ICI %llu bytes sent, %llu received, "
                    "%.3f ms modelled\n",
                    t, (unsigned long long)s.ici_bytes_sent,
                    (unsigned long long)s.ici_bytes_recv,
                    (double)s.ici_ns / 1e6);
    }
}

void debug_opts_finish(void)
{
    vtpu_chip *chip = dbg_chip;

    if (!chip)
        return;
    dbg_chip = NULL;
    fflush(stdout);
    if (dbg_stats)
        print_stats(chip);
    vtpu_chip_set_trace(chip, NULL, NULL, 0);
}

void debug_opts_apply(vtpu_chip *chip, const debug_opts *o)
{
    char err[256];

    if (o->dma_order) {
        vtpu_dma_order order;
        uint64_t seed;
        if (vtpu_dma_order_parse(o->dma_order, &order, &seed, err, sizeof(err)))
            die(EXIT_USAGE, "--dma-order %s", err);
        vtpu_chip_set_dma_order(chip, order, seed);
    }
    if (o->trace && vtpu_chip_set_trace(chip, o->trace, err, sizeof(err)))
        die(EXIT_FILE, "--trace: %s", err);
    if (o->tag)
        vtpu_chip_set_output_tags(chip, true);
    dbg_stats = o->stats;
    if (!dbg_chip && (o->stats || o->trace)) {
        static bool registered;
        if (!registered)
            atexit(debug_opts_finish);
        registered = true;
    }
    dbg_chip = chip;
}
