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
    for (unsigned i = 0; i < st->nblocked; i++)
        for (unsigned j = 0; j < st->op[i].nbuf; j++)
            settle(&st->op[i].bufs[j]);
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
bad_window(rt_state *st, rt_op *o, const int32_t *b, const int32_t *g,
           unsigned d)
{
    char bs[64], gs[64];
    const vtpu_operand_info *in = o->info;
    if ((o->padded >> d) & 1) {
        /* pl.Element(n, padding=(lo, hi)): offsets into the padded
         * array, and the window must still reach the array. */
        int64_t lo = o->plo[d], n = in->block[d], sh = in->shape[d];
        rt_fail(st, VTPU_LERR_INDEX,
                "operand %u: index map gave block %s at grid point %s; "
                "dimension %u is element-indexed with padding (%ld, %lu): "
                "its offset %ld must be in [%ld, %ld] so that the %ld "
                "elements lie in the padded array of %ld and overlap the "
                "array",
                o->index, rt_fmt_idx(bs, sizeof(bs), b, o->rank),
                rt_fmt_idx(gs, sizeof(gs), g, st->grid_rank), d, (long)lo,
                (unsigned long)o->phi[d], (long)b[d],
                (long)(lo - n + 1 > 0 ? lo - n + 1 : 0),
                (long)(lo + sh - 1 < lo + sh + (int64_t)o->phi[d] - n
                           ? lo + sh - 1
                           : lo + sh + (int64_t)o->phi[d] - n),
                (long)n, (long)(lo + sh + (int64_t)o->phi[d]));
    }
    rt_fail(st, VTPU_LERR_INDEX,
            "operand %u: index map gave block %s at grid point %s; "
            "dimension %u is element-indexed: its offset %ld must be in "
            "(-%lu, %lu) so that the %lu elements overlap the array",
            o->index, rt_fmt_idx(bs, sizeof(bs), b, o->rank),
            rt_fmt_idx(gs, sizeof(gs), g, st->grid_rank), d, (long)b[d],
            (unsigned long)in->block[d], (unsigned long)in->shape[d],
            (unsigned long)in->block[d]);
}

/* First element of dimension d of b's block (element dims: the offset,
 * less the padding before the array). */
static inline int64_t first_elem(const rt_op *o, const rt_buf *b, unsigned d)
{
    if ((o->elem >> d) & 1)
        return (int64_t)b->bidx[d] - o->plo[d];
    return (int64_t)(uint32_t)b->bidx[d] * o->info->block[d];
}

static void __attribute__((noinline))
locate_slow(rt_state *st, rt_op *o, rt_buf *b, const int32_t *g)
{
    const vtpu_operand_info *in = o->info;
    uint64_t off = 0, key = 0;
    uint32_t edge = 0, neg = 0;
    for (unsigned d = 0; d < o->rank; d++) {
        int32_t v = b->bidx[d];
        if ((o->elem >> d) & 1) {
            int64_t f = (int64_t)v - o->plo[d], n = in->block[d];
            if (f <= -n || f >= (int64_t)in->shape[d] ||
                (((o->padded >> d) & 1) &&
                 (v < 0 || f + n > (int64_t)in->shape[d] + o->phi[d])))
                bad_window(st, o, b->bidx, g, d);
        } else if ((uint32_t)v >= o->nblk[d]) {
            bad_index(st, o, b->bidx, g);
        }
        int64_t first = first_elem(o, b, d);
        edge |= first < 0 || first + in->block[d] > in->shape[d];
        neg |= first < 0;
        off += (uint64_t)first * o->hstride[d];
        key += (uint64_t)(first + in->block[d]) * o->kstride[d];
    }
    /* A window that starts before the array has no offset of its own:
     * a key unique among such windows, apart from every real offset. */
    b->off = neg ? key | 1ull << 63 : off;
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
 * A block that sticks out of the array (on either side, for element
 * dimensions): copy only its in-bounds part; for an input, fill the rest
 * of the buffer with zeros (copied from the operand's zero buffer).
 * Returns the bytes the buffer's semaphore is signalled by.
 */
static uint32_t __attribute__((noinline))
edge_copy(rt_state *st, rt_op *o, rt_buf *b, int out)
{
    const vtpu_operand_info *in = o->info;
    unsigned r = o->rank;
    uint32_t v[4], lo[4], shape[4], loff = 0;
    int64_t hs[3], ls[3];
    vtpu_dma_desc d;
    uint64_t off = o->hbm;

    /* Dimension k: elements lo[k] .. lo[k] + v[k] - 1 of the block are in
     * the array. */
    for (unsigned k = 0; k < r; k++) {
        int64_t first = first_elem(o, b, k);
        int64_t left = (int64_t)in->shape[k] - first;
        uint32_t hi = left < in->block[k] ? (uint32_t)left : in->block[k];
        lo[k] = first < 0 ? (uint32_t)-first : 0;
        v[k] = hi - lo[k];
        off += (uint64_t)(first + lo[k]) * o->hstride[k];
        loff += lo[k] * in->stride[k];
    }
    vtpu_dma_ref local = {b->addr + loff, o->local_space, VTPU_DMA_SELF};
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

    /* Padding: for each dimension k that is clipped, the slabs where the
     * dims before k are in bounds, dim k is before or past the array and
     * the dims after k are anything: one DMA of k+1 dimensions each. */
    uint32_t total = bytes, base = 0;
    for (unsigned k = 0; k < r; k++) {
        uint32_t at[2] = {0, lo[k] + v[k]};
        uint32_t len[2] = {lo[k], in->block[k] - lo[k] - v[k]};
        for (unsigned side = 0; side < 2; side++) {
            if (!len[side])
                continue;
            uint32_t pshape[4], skip = base + at[side] * in->stride[k];
            int64_t pst[3];
            pshape[0] = len[side] * in->stride[k];
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
        base += lo[k] * in->stride[k];
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

/* ------------------------------------------------------------------ */
/* The deep pipeline: operands with 1..4 buffers (pl.Buffered(n))       */
/* ------------------------------------------------------------------ */

/*
 * When some operand has other than two buffers, the grid loop below runs
 * instead of the one after it.  It keeps the grid points of steps s ..
 * s + ahead (ahead = the largest buffer count - 1, at least 1) in a
 * window, evaluates each operand's index map once per point as the point
 * enters it, and hands the buffers of an operand out round-robin to its
 * distinct consecutive blocks.  An operand with n buffers has the blocks
 * of steps s .. s + n - 1 in its buffers while step s runs: the copies of
 * an input's next n - 1 blocks are in flight during the body; with n = 1
 * a block is copied in when its step starts (after the previous block's
 * write-back), so nothing overlaps.  At most n distinct blocks occur in n
 * consecutive steps, so the buffer handed out is never one still in use.
 */

/* The grid point of step t from step t - 1's. */
static void advance(rt_state *st, uint32_t t)
{
    int32_t *out = st->window[t % RT_WINDOW];
    copy4(out, st->window[(t - 1) % RT_WINDOW]);
    for (unsigned d = st->grid_rank; d-- > 0;) {
        if ((uint32_t)++out[d] < st->ctx.grid[d])
            break;
        out[d] = 0;
    }
    if (__builtin_expect(st->shuffle, 0))
        rt_shuffle_point(st, t, out); /* checks.c */
}

/* Operand o's block at step t (whose point is in the window). */
static void deep_eval(rt_state *st, rt_op *o, uint32_t t)
{
    rt_slot *q = &o->q[t % RT_WINDOW];
    const rt_slot *p = &o->q[(t - 1) % RT_WINDOW];
    const int32_t *g = st->window[t % RT_WINDOW];

    copy4(st->next, g); /* the mailbox's map point */
    if (o->map)
        o->map(g, st->ctx.scalars, q->blk.bidx);
    else
        for (unsigned d = 0; d < 4; d++)
            q->blk.bidx[d] = 0;
    locate(st, o, &q->blk, g);
    q->fresh = t == 0 || q->blk.off != p->blk.off;
    q->issued = !q->fresh;
    if (q->fresh) {
        q->buf = o->ring;
        o->ring = (uint8_t)(o->ring + 1 == o->nbuf ? 0 : o->ring + 1);
    } else {
        q->buf = p->buf;
    }
}

/* Give operand o's blocks of steps s .. s + nbuf - 1 their buffers;
 * start the copies in.  Returns the copies in flight for steps after s. */
static uint32_t deep_issue(rt_state *st, rt_op *o, uint32_t s, uint32_t last)
{
    uint32_t end = s + o->nbuf - 1, ahead = 0;
    if (end > last)
        end = last;
    for (uint32_t t = s; t <= end; t++) {
        rt_slot *q = &o->q[t % RT_WINDOW];
        if (q->fresh && t > s && o->is_in)
            ahead++;
        if (q->issued)
            continue;
        rt_buf *b = &o->bufs[q->buf];
        settle(b); /* the write-back of the block it held */
        copy4(b->bidx, q->blk.bidx);
        b->off = q->blk.off;
        b->edge = q->blk.edge;
        if (o->is_in)
            fetch(st, o, b);
        q->issued = 1;
    }
    return ahead;
}

static void __attribute__((noinline)) rt_pipeline_deep(rt_state *st)
{
    vtpu_kctx *k = &st->ctx;
    rt_op *ops = st->op, *end = st->op + st->nblocked;
    uint32_t last = st->steps - 1, ahead = 1;

    for (rt_op *o = ops; o < end; o++)
        if (o->nbuf - 1u > ahead)
            ahead = o->nbuf - 1u;
    st->ahead = ahead;

    step_begin(st, 0);
    copy4(st->window[0], k->idx);
    for (uint32_t t = 1; t <= ahead && t <= last; t++)
        advance(st, t);
    for (rt_op *o = ops; o < end; o++)
        for (uint32_t t = 0; t <= ahead && t <= last; t++)
            deep_eval(st, o, t);

    for (uint32_t s = 0;; s++) {
        uint32_t inflight = 0;
        copy4(k->idx, st->window[s % RT_WINDOW]);
        for (rt_op *o = ops; o < end; o++)
            inflight += deep_issue(st, o, s, last);
        for (rt_op *o = ops; o < end; o++) {
            rt_buf *b = &o->bufs[o->q[s % RT_WINDOW].buf];
            settle(b);
            o->cur_i = o->q[s % RT_WINDOW].buf;
            k->ref[o->index] = b->addr;
            o->info->bidx = b->bidx;
        }
        if (inflight > st->status.max_prefetch)
            st->status.max_prefetch = inflight;

        st->body(k);

        for (rt_op *o = ops; o < end; o++) {
            const rt_slot *n = &o->q[(s + 1) % RT_WINDOW];
            if (!o->is_out || (s != last && !n->fresh))
                continue;
            rt_buf *c = &o->bufs[o->cur_i];
            if (__builtin_expect(st->revisit, 0) && s != last)
                rt_revisit(st, o, c, &n->blk, st->window[s % RT_WINDOW],
                           st->window[(s + 1) % RT_WINDOW]); /* checks.c */
            write_back(st, o, c);
        }
        if (s == last)
            break;
        uint32_t t = s + 1 + ahead;
        if (t <= last) {
            advance(st, t);
            for (rt_op *o = ops; o < end; o++)
                deep_eval(st, o, t);
        }
        step_begin(st, s + 1);
    }
    rt_drain(st);
    st->status.steps = st->steps;
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
    if (st->deep) {
        rt_pipeline_deep(st);
        return;
    }

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
                /* copies for the next step in flight during this body
                 * (reset after it, so a loop without copies pays
                 * nothing) */
                if (++st->inflight > st->status.max_prefetch)
                    st->status.max_prefetch = st->inflight;
            }
        }

        body(k);

        for (rt_op *o = ops; o < end; o++) {
            if (!o->changed)
                continue;
            st->inflight = 0;
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
