/*
 * vtpu-debug.h - the engine's opt-in debugging aids (docs/debugging.md):
 * DMA execution orders, the timeline trace, per-TC counters and tagged
 * kernel output.  Part of the embedding API (vtpu.h); vtpu-run, the QEMU
 * device and the tests set these up before a run.
 *
 * Everything here is off on a new chip and costs nothing when off: the
 * engine tests one per-chip pointer at DMA issue, semaphore operations,
 * output and the ends of a run, never per instruction.  The counters are
 * always on (one increment per Xtpu instruction or DMA).
 *
 * None of these calls may be made while a run is in progress.
 */
#ifndef VTPU_DEBUG_H
#define VTPU_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vtpu_chip vtpu_chip;

/*
 * When a DMA's copy happens.  Every DMA is validated at dma.start in all
 * orders, so errors are reported at the instruction that started it.
 *   EAGER    copy and signal inside dma.start (the default);
 *   ON_WAIT  queue the DMA; copy and signal it when its TC waits on (or
 *            reads) the semaphore it signals, at a barrier or at exit;
 *   RANDOM   queued as ON_WAIT; at each of those points the DMAs that
 *            must complete, plus each other queued DMA with probability
 *            1/2, complete in an order drawn from a PRNG seeded with
 *            (seed, TC), so a run is reproducible for a given seed.
 * Deferral applies to DMAs that signal a semaphore of the TC that started
 * them (what the TC runtime and the kernel library do); a DMA signalling
 * another TC's semaphore completes eagerly, since that TC cannot make
 * this TC's queue progress.
 */
typedef enum vtpu_dma_order {
    VTPU_DMA_EAGER = 0,
    VTPU_DMA_ON_WAIT,
    VTPU_DMA_RANDOM,
} vtpu_dma_order;

/* Parse "eager", "on-wait", "random" or "random:SEED" (SEED decimal or
 * 0x hex; "random" alone takes seed 1).  0, or -1 with a message. */
int vtpu_dma_order_parse(const char *s, vtpu_dma_order *order, uint64_t *seed,
                         char *err, size_t errlen);
void vtpu_chip_set_dma_order(vtpu_chip *chip, vtpu_dma_order order,
                             uint64_t seed);

/*
 * Timeline trace in the Chrome trace-event JSON format (loads in
 * ui.perfetto.dev and chrome://tracing): pid = the chip, tid n = TC n,
 * tid 100 + n = TC n's DMA engine.  Events: per TC the run, the kernel
 * (from the TC runtime's mailbox), its grid steps, semaphore waits,
 * barrier waits; per DMA engine each DMA from start to completion; MXU
 * and vector work as counter tracks at grid steps.  Grid steps are taken
 * from the mailbox at the TC's DMA and semaphore operations (no
 * instruction is instrumented), so a step begins at its first such
 * operation.  `path` NULL closes the trace (the file is complete only
 * then, or at vtpu_chip_free()).  0, or -1 with a message.
 */
int vtpu_chip_set_trace(vtpu_chip *chip, const char *path, char *err,
                        size_t errlen);

/*
 * Tag kernel output (the write ecall) line by line with
 * "[TC n] " or, while the TC runtime's mailbox says a grid runs,
 * "[TC n (i,j)] " with the grid point.
 */
void vtpu_chip_set_output_tags(vtpu_chip *chip, bool on);

/* Per-TC counters of the current or last run (reset when a run starts). */
typedef struct vtpu_tc_stats {
    uint64_t instret;   /* instructions retired */
    uint64_t vec_alu;   /* element-wise vector ops (custom-0, FMA) */
    uint64_t vec_ldst;  /* vector loads and stores */
    uint64_t vec_xlane; /* cross-lane: rotate, reduce, transpose, ... */
    uint64_t vec_mask;  /* mask ops */
    uint64_t mxu_push, mxu_matmul, mxu_pop, mxu_clear;
    uint64_t dma_starts;
    uint64_t dma_bytes_in;    /* HBM -> VMEM/SMEM */
    uint64_t dma_bytes_out;   /* VMEM/SMEM -> HBM */
    uint64_t dma_bytes_local; /* VMEM/SMEM -> VMEM/SMEM (any TC) */
    uint64_t dma_bytes_hbm;   /* HBM -> HBM */
    uint64_t sem_ops;         /* signals, waits, reads */
    uint64_t sem_wait_ns;     /* time blocked in sem.wait */
    uint64_t barrier_ns;      /* time blocked at the barrier */
    /* Slices (docs/multichip.md): bytes this TC sent to other chips by
     * remote DMA, bytes other chips' DMAs wrote into its memories, and
     * the fabric's modelled time of its sends (hops x latency + bytes /
     * link bandwidth; a model, not measured) */
    uint64_t ici_bytes_sent;
    uint64_t ici_bytes_recv;
    uint64_t ici_ns;
} vtpu_tc_stats;

/* 0, or -1 if the chip has no such TC.  Exact once a run has ended. */
int vtpu_chip_tc_stats(vtpu_chip *chip, unsigned tc, vtpu_tc_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_DEBUG_H */
