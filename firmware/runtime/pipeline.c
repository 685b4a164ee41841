/*
 * pipeline.c - the grid loop: what Mosaic's pipeline does around a
 * Pallas body (docs/kernels.md, "Pipeline semantics").
 *
 * Per grid step, for every blocked operand:
 *   - wait until the current block's buffer is ready (its input copy
 *     arrived, or the write-back that last used it left);
 *   - evaluate the index map at the NEXT grid point; if the block changes,
 *     start copying an input's next block into the other buffer now, so
 *     the copy overlaps the body;
 * then call the body; then, for every operand whose block changes (or at
 * the last step), start the write-back of an output's block and switch
 * buffers.  An unchanged block is neither re-read nor written back: the
 * body sees the same buffer again (the accumulator pattern).
 *
 * The loop does no division and no printing; the copy of a complete
 * block only patches the HBM address of a prepared descriptor, and blocks
 * at the edge of an array take the slow path (clipped copies, zero
 * padding) in edge_copy().
 */
#include <stdint.h>

#include "rt.h"

static inline void copy4(int32_t *dst, const int32_t *src)
{
    dst[0] = src[0];
    dst[1] = src[1];
    dst[2] = src[2];
    dst[3] = src[3];
}

static inline void settle(rt_buf *b)
{
    if (b->pend) {
        vtpu_sem_wait(b->sem, b->pend);
        b->pend = 0;
    }
}

void rt_drain(rt_state *st)
{
    for (unsigned i = 0; i < st->nblocked; i++) {
        settle(&st->op[i].b[0]);
        settle(&st->op[i].b[1]);
    }
}

static void __attribute__((noinline))
bad_index(rt_state *st, rt_op *o, const int32_t *b, const int32_t *g)
{
    char bs[64], gs[64], ns[64];
    int32_t n[4];
    for (unsigned d = 0; d < 4; d++)
        n[d] = (int32_t)o->nblk[d];
    rt_fail(st, VTPU_LERR_INDEX,
            "operand %u: index map gave block %s at grid point %s; the "
            "array has %s blocks",
            o->index, rt_fmt_idx(bs, sizeof(bs), b, o->rank),
            rt_fmt_idx(gs, sizeof(gs), g, st->grid_rank),
            rt_fmt_idx(ns, sizeof(ns), n, o->rank));
}

static void __attribute__((noinline))
locate_slow(rt_state *st, rt_op *o, rt_buf *b, const int32_t *g)
{
    uint64_t off = 0;
    uint32_t edge = 0;
    for (unsigned d = 0; d < o->rank; d++) {
        uint32_t bd = (uint32_t)b->bidx[d];
        if (bd >= o->nblk[d])
            bad_index(st, o, b->bidx, g);
        edge |= bd >= o->nfull[d];
        off += bd * o->bstride[d];
    }
    b->off = off;
    b->edge = edge;
}

/* The block index in b (the block of grid point g): check it, compute its
 * offset and edge flag.  Complete blocks of arrays under 4 GiB take the
 * fast path. */
static inline void locate(rt_state *st, rt_op *o, rt_buf *b, const int32_t *g)
{
    uint32_t off = 0;
    if (__builtin_expect(o->big, 0))
        goto slow;
    for (unsigned d = 0; d < o->rank; d++) {
        uint32_t bd = (uint32_t)b->bidx[d];
        if (__builtin_expect(bd >= o->nfull[d], 0))
            goto slow;
        off += bd * o->bstride32[d];
    }
    b->off = off;
    b->edge = 0;
    return;
slow:
    locate_slow(st, o, b, g);
}

/*
 * A block that sticks out of the array: copy only its in-bounds part;
 * for an input, fill the rest of the buffer with zeros (copied from the
 * operand's zero buffer).  Returns the bytes the buffer's semaphore is
 * signalled by.
 */
static uint32_t __attribute__((noinline))
edge_copy(rt_state *st, rt_op *o, rt_buf *b, int out)
{
    const vtpu_operand_info *in = o->info;
    unsigned r = o->rank;
    uint32_t v[4], shape[4];
    int64_t hs[3], ls[3];
    vtpu_dma_desc d;
    vtpu_dma_ref local = {b->addr, o->local_space, VTPU_DMA_SELF};
    uint64_t off = o->hbm + b->off;

    for (unsigned k = 0; k < r; k++) {
        uint32_t first = (uint32_t)b->bidx[k] * in->block[k];
        uint32_t left = in->shape[k] - first;
        v[k] = left < in->block[k] ? left : in->block[k];
    }
    shape[0] = v[r - 1] * in->itemsize;
    uint32_t bytes = shape[0];
    for (unsigned k = 1; k < r; k++) {
        shape[k] = v[r - 1 - k];
        hs[k - 1] = (int64_t)o->hstride[r - 1 - k];
        ls[k - 1] = in->stride[r - 1 - k];
        bytes *= shape[k];
    }
    if (out) {
        vtpu_dma_nd(&d, vtpu_hbm(off), local, r, shape, hs, ls, b->sem);
        vtpu_dma_start(&d);
        st->status.blocks_out++;
        st->status.bytes_out += bytes;
        return bytes;
    }
    vtpu_dma_nd(&d, local, vtpu_hbm(off), r, shape, ls, hs, b->sem);
    vtpu_dma_start(&d);
    st->status.blocks_in++;
    st->status.bytes_in += bytes;

    /* Padding: for each dimension k that is clipped, the slab where the
     * dims before k are in bounds, dim k is past the end and the dims
     * after k are anything: one DMA of k+1 dimensions. */
    uint32_t total = bytes;
    for (unsigned k = 0; k < r; k++) {
        if (v[k] == in->block[k])
            continue;
        uint32_t pshape[4], skip = v[k] * in->stride[k];
        int64_t pst[3];
        pshape[0] = (in->block[k] - v[k]) * in->stride[k];
        uint32_t pbytes = pshape[0];
        for (unsigned j = 1; j <= k; j++) {
            pshape[j] = v[k - j];
            pst[j - 1] = in->stride[k - j];
            pbytes *= pshape[j];
        }
        vtpu_dma_ref zsrc = {o->zero + skip, o->local_space, VTPU_DMA_SELF};
        vtpu_dma_ref zdst = {b->addr + skip, o->local_space, VTPU_DMA_SELF};
        vtpu_dma_nd(&d, zdst, zsrc, k + 1, pshape, pst, pst, b->sem);
        vtpu_dma_start(&d);
        total += pbytes;
    }
    return total;
}

/* Start copying b's block in from HBM. */
static inline void fetch(rt_state *st, rt_op *o, rt_buf *b)
{
    if (__builtin_expect(b->edge, 0)) {
        b->pend = edge_copy(st, o, b, 0);
        return;
    }
    b->din.src = o->hbm + b->off;
    vtpu_dma_start(&b->din);
    b->pend = o->bytes;
    o->copies_in++;
}

/* Start writing b's block back to HBM. */
static inline void write_back(rt_state *st, rt_op *o, rt_buf *b)
{
    if (__builtin_expect(b->edge, 0)) {
        b->pend = edge_copy(st, o, b, 1);
        return;
    }
    b->dout.dst = o->hbm + b->off;
    vtpu_dma_start(&b->dout);
    b->pend = o->bytes;
    o->copies_out++;
}

/*
 * Grid step s begins: before it waits for its blocks, so that a host
 * reading the mailbox (the trace) counts the wait, the prefetch, the body
 * and the write-back of step s as step s.  Under a trace the engine asks
 * for a sync point here (VTPU_MB_HOST_STEP_SYNC), which it sees even when
 * the step itself waits for nothing.
 */
static inline void step_begin(rt_state *st, uint32_t s)
{
    st->ctx.step = s;
    if (__builtin_expect(st->step_sync, 0))
        (void)vtpu_sem_read(st->rt_sem);
}

void rt_pipeline(rt_state *st)
{
    vtpu_kctx *k = &st->ctx;
    const int32_t *sc = k->scalars;
    const uint32_t *grid = k->grid;
    rt_op *ops = st->op, *end = st->op + st->nblocked;
    vtpu_body_fn body = st->body;
    uint32_t steps = st->steps, rank = st->grid_rank;
    int32_t *nx = st->next; /* the mailbox points at it */

    if (steps == 0)
        return;

    /* Prologue: the first grid point's blocks. */
    step_begin(st, 0);
    copy4(nx, k->idx);
    for (rt_op *o = ops; o < end; o++) {
        rt_buf *c = o->cur;
        if (o->map)
            o->map(nx, sc, c->bidx);
        locate(st, o, c, k->idx);
        copy4(o->nxt->bidx, c->bidx);
        o->nxt->off = c->off;
        o->nxt->edge = c->edge;
        if (o->is_in)
            fetch(st, o, c);
        k->ref[o->index] = c->addr;
    }

    for (uint32_t s = 0; s + 1 < steps; s++) {
        /* The next grid point, in lexicographic order. */
        copy4(nx, k->idx);
        for (unsigned d = rank; d-- > 0;) {
            if ((uint32_t)++nx[d] < grid[d])
                break;
            nx[d] = 0;
        }
        if (__builtin_expect(st->shuffle, 0))
            rt_shuffle_point(st, s + 1, nx); /* checks.c */

        for (rt_op *o = ops; o < end; o++) {
            rt_buf *c = o->cur, *n = o->nxt;
            settle(c);
            if (!o->map)
                continue;
            o->map(nx, sc, n->bidx);
            locate(st, o, n, nx);
            o->changed = n->off != c->off;
            if (__builtin_expect(st->revisit, 0) && o->changed && o->is_out)
                rt_revisit(st, o, c, n, k->idx, nx); /* checks.c */
            if (o->changed && o->is_in) {
                settle(n);
                fetch(st, o, n);
            }
        }

        body(k);

        for (rt_op *o = ops; o < end; o++) {
            if (!o->changed)
                continue;
            rt_buf *c = o->cur, *n = o->nxt;
            if (o->is_out)
                write_back(st, o, c);
            o->cur = n;
            o->nxt = c;
            k->ref[o->index] = n->addr;
            o->info->bidx = n->bidx;
        }
        copy4(k->idx, nx);
        step_begin(st, s + 1);
    }

    /* The last step: its outputs go back whatever comes next. */
    for (rt_op *o = ops; o < end; o++)
        settle(o->cur);
    body(k);
    for (rt_op *o = ops; o < end; o++)
        if (o->is_out)
            write_back(st, o, o->cur);
    rt_drain(st);
    st->status.steps = steps;
}
