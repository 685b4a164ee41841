/*
 * vtpu_heap.c - the runtime's HBM range allocator: first fit over a
 * caller-provided segment table, coalescing on free (vtpu_rt.h,
 * docs/driver.md).  No allocation of its own: it runs in the guest too.
 */
#include <string.h>

#include "vtpu_rt.h"
/* ------------------------------------------------------------------ */
/* Range allocator                                                      */
/* ------------------------------------------------------------------ */

int vtpu_heap_init(vtpu_heap *h, uint64_t base, uint64_t size,
                   vtpu_heap_seg *segs, uint32_t cap)
{
    if (!h || !segs || cap < 1 || size == 0 || base + size < base)
        return VTPU_DRV_EINVAL;
    memset(h, 0, sizeof(*h));
    h->base = base;
    h->size = size;
    h->segs = segs;
    h->cap = cap;
    h->nsegs = 1;
    segs[0] = (vtpu_heap_seg){.off = base, .size = size, .used = 0};
    return VTPU_DRV_OK;
}

/* Insert `n` empty entries at index `at`. */
static void seg_insert(vtpu_heap *h, uint32_t at, uint32_t n)
{
    memmove(&h->segs[at + n], &h->segs[at],
            (h->nsegs - at) * sizeof(h->segs[0]));
    h->nsegs += n;
}

static void seg_remove(vtpu_heap *h, uint32_t at, uint32_t n)
{
    memmove(&h->segs[at], &h->segs[at + n],
            (h->nsegs - at - n) * sizeof(h->segs[0]));
    h->nsegs -= n;
}

int vtpu_heap_alloc(vtpu_heap *h, uint64_t size, uint64_t align, uint64_t *off)
{
    if (!h || !off || size == 0 || (align & (align - 1)))
        return VTPU_DRV_EINVAL;
    if (align == 0)
        align = 64;
    if (size > UINT64_MAX - 7)
        return VTPU_RT_ENOHBM;
    size = (size + 7) & ~(uint64_t)7;

    for (uint32_t i = 0; i < h->nsegs; i++) {
        vtpu_heap_seg *s = &h->segs[i];
        if (s->used)
            continue;
        uint64_t start = s->off + ((align - s->off % align) % align);
        uint64_t end = s->off + s->size;
        if (start < s->off || start >= end || end - start < size)
            continue;
        uint64_t gap = start - s->off, rest = end - start - size;
        uint32_t extra = (gap != 0) + (rest != 0);
        if (h->nsegs + extra > h->cap)
            return VTPU_RT_ETABLE;
        if (gap) {
            /* [free gap][used][free rest] */
            seg_insert(h, i + 1, 1);
            h->segs[i].size = gap;
            i++;
        }
        h->segs[i] = (vtpu_heap_seg){.off = start, .size = size, .used = 1};
        if (rest) {
            seg_insert(h, i + 1, 1);
            h->segs[i + 1] =
                (vtpu_heap_seg){.off = start + size, .size = rest, .used = 0};
        }
        h->used_bytes += size;
        h->nallocs++;
        *off = start;
        return VTPU_DRV_OK;
    }
    return VTPU_RT_ENOHBM;
}

/* Index of the segment starting at `off`, or -1. */
static int64_t seg_find(const vtpu_heap *h, uint64_t off)
{
    uint32_t lo = 0, hi = h->nsegs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (h->segs[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < h->nsegs && h->segs[lo].off == off)
        return lo;
    return -1;
}

int vtpu_heap_free(vtpu_heap *h, uint64_t off)
{
    if (!h)
        return VTPU_DRV_EINVAL;
    int64_t f = seg_find(h, off);
    if (f < 0 || !h->segs[f].used)
        return VTPU_RT_ENOTALLOC;
    uint32_t i = (uint32_t)f;
    h->segs[i].used = 0;
    h->used_bytes -= h->segs[i].size;
    h->nallocs--;
    /* Merge with the next, then with the previous free segment. */
    if (i + 1 < h->nsegs && !h->segs[i + 1].used) {
        h->segs[i].size += h->segs[i + 1].size;
        seg_remove(h, i + 1, 1);
    }
    if (i > 0 && !h->segs[i - 1].used) {
        h->segs[i - 1].size += h->segs[i].size;
        seg_remove(h, i, 1);
    }
    return VTPU_DRV_OK;
}

uint64_t vtpu_heap_size_of(const vtpu_heap *h, uint64_t off)
{
    int64_t f = seg_find(h, off);
    return f >= 0 && h->segs[f].used ? h->segs[f].size : 0;
}

uint64_t vtpu_heap_free_bytes(const vtpu_heap *h)
{
    return h->size - h->used_bytes;
}

uint64_t vtpu_heap_largest_free(const vtpu_heap *h)
{
    uint64_t best = 0;
    for (uint32_t i = 0; i < h->nsegs; i++)
        if (!h->segs[i].used && h->segs[i].size > best)
            best = h->segs[i].size;
    return best;
}

uint32_t vtpu_heap_free_segments(const vtpu_heap *h)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->nsegs; i++)
        n += !h->segs[i].used;
    return n;
}
