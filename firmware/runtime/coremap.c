/*
 * coremap.c - per-core kernels (VTPU_KERNEL_F_CORE_MAP, Pallas'
 * pl.core_map): instead of sharing a grid, every TC of the launch runs
 * the body once, as core k->tc of k->num_tcs.
 */
#include <stdint.h>

#include "rt.h"

void rt_core_map(rt_state *st)
{
    const vtpu_kernel_entry *e = st->ctx.kernel;

    if (st->grid_rank != 0)
        rt_fail(st, VTPU_LERR_GRID,
                "kernel '%s' is a per-core kernel: its launch has no grid "
                "(rank %u given)",
                e->name, (unsigned)st->grid_rank);
    for (unsigned i = 0; i < st->ctx.num_operands; i++)
        if (e->operands[i].space != VTPU_MS_ANY)
            rt_fail(st, VTPU_LERR_TABLE,
                    "kernel '%s' is a per-core kernel: operand %u must be "
                    "memory space ANY",
                    e->name, i);
    /* One step on every TC: rt_split gave TC 0 the whole (empty) grid. */
    st->steps = 1;
    st->ctx.num_steps = 1;
    for (unsigned d = 0; d < 4; d++)
        st->start[d] = st->ctx.idx[d] = 0;
}
