/*
 * dirty.c - the pages of SMEM and VMEM written since their last reset,
 * and the reset that puts back only those (docs/execution.md, "Launch
 * cost").
 *
 * Why: every run starts with SMEM = the program's image and VMEM = zero.
 * Doing that to the whole spaces (a 1 MiB memset, a madvise of 16..128
 * MiB whose pages then fault back in one by one) cost 0.1..10 ms per
 * launch, most of it for pages the run never touched.  Every writer of
 * these memories marks the pages it writes (one byte per 4 KiB page,
 * a relaxed atomic store: several TCs may write one memory by DMA); the
 * reset scans the map and rewrites the marked pages only.  Pages stay
 * backed between runs, so a launch faults in nothing it faulted before.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t map_bytes(uint64_t size)
{
    return VTPU_DIRTY_PAGES(size) + 8;
}

/* Lazily backed, not calloc'd: a 95 GiB HBM's map is 24 MiB, of which a
 * run touches the pages it marks; calloc may serve that much from the
 * heap and clear all of it (64 such chips: 1.5 GiB resident). */
uint8_t *vtpu_dirty_new(uint64_t size)
{
    return vtpu_map_lazy(map_bytes(size));
}

void vtpu_dirty_free(uint8_t *map, uint64_t size)
{
    if (map)
        vtpu_unmap_lazy(map, map_bytes(size));
}

/* True if image bytes [from, to) are all zero (to <= len). */
static bool image_zero(const uint8_t *img, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++)
        if (img[i])
            return false;
    return true;
}

/* Rewrite page p of mem (size bytes) as img (len bytes) + zeros. */
static void restore_page(uint8_t *mem, uint64_t size, uint64_t p,
                         const uint8_t *img, uint64_t len)
{
    uint64_t at = p << VTPU_DIRTY_SHIFT, end = at + VTPU_DIRTY_PAGE;
    if (end > size)
        end = size;
    uint64_t icut = len < at ? at : len > end ? end : len;
    if (icut > at)
        memcpy(mem + at, img + at, icut - at);
    if (end > icut)
        memset(mem + icut, 0, end - icut);
}

void vtpu_dirty_restore(uint8_t *mem, uint64_t size, uint8_t *map,
                        const uint8_t *img, uint64_t len)
{
    uint64_t n = VTPU_DIRTY_PAGES(size);

    /* Eight map bytes at a time: almost all of a big VMEM's are zero. */
    for (uint64_t w = 0; w < n; w += 8) {
        uint64_t v;
        memcpy(&v, map + w, 8);
        if (!v)
            continue;
        for (uint64_t p = w; p < w + 8 && p < n; p++) {
            if (!__atomic_load_n(&map[p], __ATOMIC_RELAXED))
                continue;
            restore_page(mem, size, p, img, len);
            __atomic_store_n(&map[p], 0, __ATOMIC_RELAXED);
        }
    }
}

void vtpu_dirty_rebase(uint64_t size, uint8_t *map, const uint8_t *old_img,
                       uint64_t old_len, const uint8_t *new_img,
                       uint64_t new_len)
{
    uint64_t top = old_len > new_len ? old_len : new_len;
    if (top > size)
        top = size;

    for (uint64_t p = 0; p < VTPU_DIRTY_PAGES(top); p++) {
        if (map[p])
            continue;
        uint64_t at = p << VTPU_DIRTY_SHIFT, end = at + VTPU_DIRTY_PAGE;
        if (end > size)
            end = size;
        /* A clean page holds the old image: it stays if both images
         * give it the same bytes (zeros, mostly: .bss, the heap). */
        uint64_t oe = old_len < end ? old_len : end;
        uint64_t ne = new_len < end ? new_len : end;
        bool same = oe == ne && (oe <= at || !memcmp(old_img + at,
                                                     new_img + at, oe - at));
        if (!same)
            same = (oe <= at || image_zero(old_img, at, oe)) &&
                   (ne <= at || image_zero(new_img, at, ne));
        if (!same)
            map[p] = 1;
    }
}
