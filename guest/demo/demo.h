/*
 * demo.h - the demo's workloads over the runtime (demo.c), for the
 * bare-metal demo and the Linux user-space demo alike.
 */
#ifndef GUEST_DEMO_H
#define GUEST_DEMO_H

#include <stdint.h>

#include "vtpu_rt.h"

/* Exit status when the CPU side runs out of memory. */
#define DEMO_EXIT_NOMEM 120

/*
 * Run add_sin_f32, matmul_f32 and sort_f32 from module `m` (loaded in
 * `rt`) on `tcs` TCs, check each against its CPU reference, and print the
 * result table ("workload shape TCs run ms total ms cpu ref ms max err
 * match").  `clock_ns` is a monotonic clock.  Returns the number of
 * workloads that did not match or failed to run.
 */
int demo_run(vtpu_rt *rt, vtpu_module *m, unsigned tcs,
             uint64_t (*clock_ns)(void));

#endif /* GUEST_DEMO_H */
