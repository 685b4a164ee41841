/*
 * slice-coll.h - collectives over a slice driven from one thread, for the
 * bare-metal vtpu-slice-demo (guest/slice) and Linux's vtpu-slice
 * (guest/linux-user) alike: which device is which chip (the kernel
 * slice_info), the same allocations on every device (the collectives
 * need their operands at the same HBM offsets), a collective launch
 * started on every device before any is finished (vtpu_rt_run_start /
 * _finish), and every chip's result checked bit for bit against the
 * host's own reduction, summed in the ring order the kernels use
 * (firmware/kernels/lib_collective.c).
 *
 * Output (printf): one "check ..." line per check, a timing line per
 * collective, and sc_report()'s "<prog>: PASS (N checks)" or "<prog>:
 * FAIL (k of N checks failed)".
 */
#ifndef GUEST_SLICE_COLL_H
#define GUEST_SLICE_COLL_H

#include <stdint.h>

#include "vtpu_rt.h"

#define SC_MAX_CHIPS 16

/* One device: a runtime with kernels.elf loaded. */
typedef struct sc_chip {
    vtpu_rt *rt;
    vtpu_module *mod;
    char name[64];    /* how messages name the device: "vtpu 00:01.0" */
    uint32_t info[8]; /* slice_info: id, chips, mesh x y z, coords x y z */
} sc_chip;

typedef struct sc_slice {
    /* The caller's part */
    sc_chip *dev; /* ndev devices, in the caller's order */
    unsigned ndev;
    const char *prog;           /* message prefix: "vtpu-slice-demo" */
    uint64_t (*clock_ns)(void); /* a monotonic clock */
    uint64_t rng;               /* the inputs' random state: a non-zero
                                   seed, advanced as inputs are made */
    /* Optional: end the launch of a device whose collective launch
     * started when another device's could not start (the ring backend:
     * reset the device).  NULL: the started ones wait until the device's
     * or the driver's timeout ends them. */
    void (*abort_started)(sc_chip *c);

    /* Set by sc_find_chips() and the checks */
    sc_chip *by_chip[SC_MAX_CHIPS]; /* chip id -> device */
    uint32_t mesh[3];
    unsigned nchecks, nfailed;
} sc_slice;

/* The collectives of lib_collective.c that sc_run_collective() checks. */
enum sc_coll { SC_ALL_REDUCE, SC_REDUCE_SCATTER, SC_ALL_GATHER };

/*
 * Run slice_info on every device (not collective), print which device is
 * which chip ("<name>: chip C of N, mesh XxYxZ, at (x,y,z)") and fill
 * by_chip and mesh.  -1 (with a message) unless the devices are exactly
 * the slice's chips, each once.
 */
int sc_find_chips(sc_slice *s);

/*
 * One collective along `axis` (0..2) with blocks of m rows of 128 words
 * (f32 or i32): x and o allocated alike on every device (checked), x
 * random, o filled with 0xdeadbeef, the collective launched on every
 * chip, every chip's o read back and compared with the reference.  f32
 * inputs are random finite floats of mixed magnitudes, so the sums round
 * and only the ring's order of additions gives the same bits.
 */
void sc_run_collective(sc_slice *s, enum sc_coll kind, const char *kernel,
                       int f32, int axis, uint32_t m);

/*
 * *l := a collective launch of `kernel` on device c: grid (TCs,),
 * operands x and o, scalar 0 *axis (which must outlive the launch).
 * 0, or -1 with the runtime's message printed.
 */
int sc_collective_launch(const sc_slice *s, sc_chip *c, const char *kernel,
                         const vtpu_rt_array *x, const vtpu_rt_array *o,
                         const int32_t *axis, vtpu_rt_launch *l);

/* Every collective above along every mesh axis longer than 1. */
void sc_run_all(sc_slice *s);

/* Print the PASS/FAIL line; the exit status: failed checks (at most 100). */
int sc_report(const sc_slice *s);

#endif /* GUEST_SLICE_COLL_H */
