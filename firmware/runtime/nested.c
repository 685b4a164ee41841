/*
 * nested.c - vtpu_emit_pipeline (pltpu.emit_pipeline): a body runs a
 * pipeline of its own over ANY operands.
 *
 * The nested pipeline is a second rt_state, set up by the same code as a
 * launch (rt_setup_nested: check_operand, setup_blocked) from a launch
 * descriptor and kernel entry made here, and run by the same grid loop
 * (rt_pipeline, the deep one when a spec asks for Buffered(n)).  Its
 * buffers, records and semaphores are allocated above the caller's and
 * released when it returns.  A failure inside it ends the launch as the
 * outer pipeline does (fail.c drains the nested copies first).
 *
 * A nested body may start a pipeline of its own (up to VTPU_MAX_NEST
 * levels): the caller is always the innermost running pipeline.  While
 * one runs, the mailbox shows a region table of the caller's regions and
 * its buffers (docs/kernels.md, "Nested pipelines"), so the engine's
 * bounds check and reports see them.
 */
#include <stdint.h>
#include <string.h>

#include "rt.h"

/* Point the mailbox at s's region table (the engine's bounds check
 * copies it again when regions_gen changes); a table too large for
 * readers leaves the one shown. */
static void publish_regions(const rt_state *s)
{
    volatile vtpu_mailbox *mb = &vtpu_rt_mailbox;
    if (s->nregions > VTPU_MAX_REGIONS || mb->phase != VTPU_MB_GRID)
        return;
    mb->regions_addr = (uint32_t)(uintptr_t)s->regions;
    mb->num_regions = s->nregions;
    mb->regions_gen = mb->regions_gen + 1;
}

/* The running pipeline whose body context k is: the launch's, or the
 * innermost nested one. */
static rt_state *caller_of(const vtpu_kctx *k)
{
    rt_state *st = &vtpu_rt;
    while (st->child)
        st = st->child;
    if (k != &st->ctx)
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': vtpu_emit_pipeline called with a context that "
                "is not the running body's",
                st->ctx.kernel->name);
    return st;
}

/*
 * The nested grid: extents >= 0, or VTPU_GRID_SCALAR(i) for the
 * kernel's scalar-prefetch value i (as a launch's grid).  Returns the
 * number of points (0: nothing runs).
 */
static uint32_t resolve_nested_grid(rt_state *st, const vtpu_kctx *k,
                                    const vtpu_pipeline *p, uint32_t *grid)
{
    uint64_t points = 1;
    for (unsigned d = 0; d < p->grid_rank; d++) {
        uint32_t g = p->grid[d], i = VTPU_GRID_SCALAR_INDEX(g);
        switch (vtpu_grid_extent(g, k->scalars, k->num_scalars, &grid[d])) {
        case VTPU_GRID_NO_SCALAR:
            rt_fail(st, VTPU_LERR_GRID,
                    "kernel '%s': vtpu_emit_pipeline grid[%u] is "
                    "scalar-prefetch value %lu, but the launch has %lu",
                    k->kernel->name, d, (unsigned long)i,
                    (unsigned long)k->num_scalars);
        case VTPU_GRID_NEGATIVE:
            rt_fail(st, VTPU_LERR_GRID,
                    "kernel '%s': vtpu_emit_pipeline grid[%u] is "
                    "scalar-prefetch value %lu = %ld, a negative extent",
                    k->kernel->name, d, (unsigned long)i, (long)k->scalars[i]);
        default:
            break;
        }
        points *= grid[d];
        if (points > UINT32_MAX)
            rt_fail(st, VTPU_LERR_GRID,
                    "kernel '%s': vtpu_emit_pipeline with more than 2^32 - 1 "
                    "grid points (grid[%u] = %lu)",
                    k->kernel->name, d, (unsigned long)grid[d]);
    }
    return (uint32_t)points;
}

void vtpu_emit_pipeline(const vtpu_kctx *k, const vtpu_pipeline *p)
{
    rt_state *st = caller_of(k);
    const vtpu_kernel_entry *ke = k->kernel;
    unsigned n = p->num_operands;

    if (st->depth >= VTPU_MAX_NEST)
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': vtpu_emit_pipeline nested %lu deep (at most %u)",
                ke->name, (unsigned long)st->depth + 1, VTPU_MAX_NEST);
    if (n == 0 || n > VTPU_MAX_OPERANDS || p->grid_rank < 1 ||
        p->grid_rank > VTPU_MAX_GRID_DIMS || !p->body)
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': vtpu_emit_pipeline with %u operands, grid rank "
                "%u (1 to 16, 1 to 4, and a body)",
                ke->name, n, p->grid_rank);
    uint32_t grid[VTPU_MAX_GRID_DIMS];
    if (resolve_nested_grid(st, k, p, grid) == 0)
        return; /* a dynamic extent of 0: no grid points */

    uintptr_t smem_mark = st->smem_top, tail_mark = st->tail_top;
    rt_state *sub = (rt_state *)rt_smem_alloc(st, sizeof(*sub));
    vtpu_kernel_entry *e = (vtpu_kernel_entry *)rt_smem_alloc(st, sizeof(*e));
    memset(sub, 0, sizeof(*sub));
    *e = *ke;
    e->body = (uint32_t)(uintptr_t)p->body;
    e->num_scalars = 0;
    e->ext = (uint32_t)(uintptr_t)p->ext; /* not the kernel's: its own */
    memset(e->operands, 0, sizeof(e->operands));

    vtpu_launch *L = &sub->launch;
    *L = st->launch;
    L->flags = 0; /* no status record, shuffle or revisit check */
    L->grid_rank = p->grid_rank;
    L->num_operands = (uint8_t)n;
    memset(L->grid, 0, sizeof(L->grid));
    memset(L->semantics, 0, sizeof(L->semantics));
    memset(L->operands, 0, sizeof(L->operands));
    for (unsigned d = 0; d < p->grid_rank; d++)
        L->grid[d] = grid[d];
    for (unsigned i = 0; i < n; i++) {
        unsigned src = p->src[i];
        if (src >= k->num_operands || ke->operands[src].space != VTPU_MS_ANY)
            rt_fail(st, VTPU_LERR_TABLE,
                    "kernel '%s': vtpu_emit_pipeline operand %u walks "
                    "operand %u, which is not an ANY operand of the caller",
                    ke->name, i, src);
        vtpu_launch_operand *lo = &L->operands[i];
        const vtpu_operand_info *a = &k->op[src];
        *lo = st->launch.operands[src];
        e->operands[i] = p->operands[i];
        if (!e->operands[i].dtype)
            e->operands[i].dtype = lo->dtype;
        if (p->rows[i]) {
            uint64_t end = (uint64_t)p->row_start[i] + p->rows[i];
            if (end > a->shape[0])
                rt_fail(st, VTPU_LERR_COPY,
                        "kernel '%s': vtpu_emit_pipeline operand %u: rows "
                        "%lu..%lu of operand %u, which has %lu",
                        ke->name, i, (unsigned long)p->row_start[i],
                        (unsigned long)(end - 1), src,
                        (unsigned long)a->shape[0]);
            uint64_t row = a->itemsize;
            for (unsigned d = 1; d < a->rank; d++)
                row *= a->shape[d];
            lo->hbm += p->row_start[i] * row;
            lo->shape[0] = p->rows[i];
        }
    }

    sub->parent = st;
    sub->depth = st->depth + 1;
    sub->tc = st->tc;
    sub->ntcs = st->ntcs;
    sub->rt_sem = st->rt_sem;
    sub->sem_top = st->sem_top;
    sub->vmem_top = st->vmem_top;
    sub->smem_top = st->smem_top;
    sub->tail_top = st->tail_top;
    sub->tail_end = st->tail_end;
    sub->body = p->body;
    vtpu_kctx *c = &sub->ctx;
    c->kernel = e;
    c->launch = L;
    c->tc = k->tc;
    c->num_tcs = k->num_tcs;
    c->scalars = k->scalars;
    c->num_scalars = k->num_scalars;
    c->scratch_vmem = k->scratch_vmem;
    c->scratch_smem = k->scratch_smem;
    c->op = sub->info;
    c->num_operands = n;
    c->outer = k;

    st->child = sub;
    rt_setup_nested(sub, e, n);
    publish_regions(sub);
    rt_pipeline(sub);
    st->child = NULL;
    publish_regions(st);

    /* The launch's status counts the nested pipeline's copies too. */
    vtpu_launch_status *s = &st->status;
    s->blocks_in += sub->status.blocks_in;
    s->blocks_out += sub->status.blocks_out;
    s->bytes_in += sub->status.bytes_in;
    s->bytes_out += sub->status.bytes_out;
    for (unsigned i = 0; i < sub->nblocked; i++) {
        const rt_op *o = &sub->op[i];
        s->blocks_in += o->copies_in;
        s->blocks_out += o->copies_out;
        s->bytes_in += (uint64_t)o->copies_in * o->bytes;
        s->bytes_out += (uint64_t)o->copies_out * o->bytes;
    }
    if (sub->status.max_prefetch > s->max_prefetch)
        s->max_prefetch = sub->status.max_prefetch;
    st->smem_top = smem_mark;
    st->tail_top = tail_mark;
}
