/*
 * bounds.c - accesses that leave their buffer (check.h).
 *
 * The engine's own bounds check faults only outside VMEM/SMEM/HBM; a
 * vector store that runs from a small block buffer into the next
 * operand's buffer stays inside VMEM and corrupts it silently (an
 * (8,128) VST into a (1,128) block writes 4 KiB into 512 bytes).  The TC
 * runtime knows every buffer it laid out and publishes them in its
 * mailbox (vtpu-launch.h, vtpu_region: block buffers, zero padding,
 * scratch, operand arrays in HBM).  While the mailbox says the grid runs,
 * a vector load/store (its active lanes) and each side of a DMA in this
 * TC's memories or HBM must stay inside a region containing its first
 * byte; one that starts in a region and leaves it, or starts outside all
 * of them and reaches into one, is reported.  Accesses of programs
 * without the runtime, and of the runtime before its grid loop, are not
 * checked (no regions yet).
 *
 * The table is copied out of SMEM once per TC and run, at the first
 * access in the grid phase, and again whenever the mailbox's regions_gen
 * changes (a nested pipeline, vtpu_emit_pipeline, publishes a table with
 * its buffers on entry and the caller's on return), and checked there; a
 * region the program garbles later is not seen.  Per access the cost is
 * three SMEM words (magic, phase, regions_gen), the extent of the access
 * and a search of a handful of regions starting at the last one hit.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define fmt(...) ((void)g_snprintf(__VA_ARGS__))

typedef struct bounds_tc {
    bool loaded;  /* the table was copied (or found missing) */
    uint32_t gen; /* the mailbox's regions_gen when it was */
    uint32_t n;   /* regions in r */
    uint32_t hit; /* last region found, to start the next search */
    vtpu_region r[VTPU_MAX_REGIONS];
} bounds_tc;

struct vtpu_bounds {
    vtpu_chip *chip;
    bounds_tc tc[VTPU_MAX_TCS]; /* each used only by its TC's thread */
};

vtpu_bounds *vtpu_bounds_new(vtpu_chip *chip)
{
    vtpu_bounds *b = g_new0(vtpu_bounds, 1);
    b->chip = chip;
    return b;
}

void vtpu_bounds_free(vtpu_bounds *b)
{
    g_free(b);
}

void vtpu_bounds_run_begin(vtpu_bounds *b, unsigned ntcs)
{
    for (unsigned t = 0; t < ntcs && t < VTPU_MAX_TCS; t++) {
        b->tc[t].loaded = false;
        b->tc[t].n = 0;
        b->tc[t].hit = 0;
    }
}

/* The TC's regions while its runtime walks the grid, else NULL. */
static bounds_tc *regions(vtpu_bounds *b, vtpu_tc *tc)
{
    bounds_tc *s = &b->tc[tc->id];
    uint32_t w[2], gen;

    if (tc->smem_size < sizeof(vtpu_mailbox))
        return NULL;
    memcpy(w, tc->smem, sizeof(w)); /* magic, phase */
    if (w[0] != VTPU_MAILBOX_MAGIC || w[1] != VTPU_MB_GRID)
        return NULL;
    memcpy(&gen, tc->smem + offsetof(vtpu_mailbox, regions_gen), 4);
    if (!s->loaded || gen != s->gen) {
        s->loaded = true;
        s->gen = gen; /* a nested pipeline's table, or back from one */
        s->n = vtpu_regions_read(tc, s->r);
        s->hit = 0;
    }
    return s->n ? s : NULL;
}

/* VTPU_REGION_* of an engine space. */
static unsigned region_space(vtpu_space sp)
{
    return sp == VTPU_SPACE_HBM    ? VTPU_REGION_HBM
           : sp == VTPU_SPACE_VMEM ? VTPU_REGION_VMEM
                                   : VTPU_REGION_SMEM;
}

static bool inside(const vtpu_region *r, uint64_t a)
{
    return a >= r->addr && a - r->addr < r->bytes;
}

/*
 * An access of space `sp` covering [lo, hi) (TC addresses, or HBM
 * offsets) whose first byte is `start`: 0, or -1 after the report.
 * `what` names it ("vst", "DMA write"); tc makes it (or starts the DMA).
 */
static int check_extent(vtpu_tc *tc, bounds_tc *s, vtpu_space sp,
                        uint64_t start, uint64_t lo, uint64_t hi,
                        const char *what, int dst_chip)
{
    unsigned rs = region_space(sp);
    const vtpu_region *from = NULL, *into = NULL;

    /* The region hit last time first: consecutive accesses mostly use
     * the same buffer. */
    const vtpu_region *h = &s->r[s->hit < s->n ? s->hit : 0];
    if (h->space == rs && inside(h, start) && lo >= h->addr &&
        hi - h->addr <= h->bytes)
        return 0;
    for (uint32_t i = 0; i < s->n; i++) {
        const vtpu_region *r = &s->r[i];
        if (r->space != rs)
            continue;
        if (inside(r, start)) {
            if (lo >= r->addr && hi - r->addr <= r->bytes) {
                s->hit = i;
                return 0; /* some region holds all of it */
            }
            if (!from)
                from = r;
        } else if (!into && lo < r->addr + r->bytes && hi > r->addr) {
            into = r;
        }
    }
    if (!from && !into)
        return 0; /* memory the runtime does not manage */
    if (from) {   /* what it reaches: another operand's buffer first */
        into = NULL;
        for (int pass = 0; pass < 2 && !into; pass++)
            for (uint32_t i = 0; i < s->n; i++) {
                const vtpu_region *r = &s->r[i];
                if (r != from && r->space == rs && lo < r->addr + r->bytes &&
                    hi > r->addr && (pass || r->operand != from->operand)) {
                    into = r;
                    break;
                }
            }
    }

    char sp_name[40], where[512], rfrom[256], rinto[280], detail[1536],
        full[2048], grid[64];
    vtpu_mem_ref at = {sp, tc->id, 0};
    uint64_t base = sp == VTPU_SPACE_VMEM   ? VTPU_VMEM_BASE
                    : sp == VTPU_SPACE_SMEM ? VTPU_SMEM_BASE
                                            : 0;
    at.off = lo - base;
    if (dst_chip >= 0) /* a remote DMA's destination */
        vtpu_check_space_of((unsigned)dst_chip, &at, sp_name, sizeof(sp_name));
    else
        vtpu_check_space_on(tc->chip, &at, sp_name, sizeof(sp_name));
    vtpu_check_where(tc, where, sizeof(where));
    vtpu_check_grid(tc, grid, sizeof(grid));
    rfrom[0] = rinto[0] = 0;
    if (from)
        vtpu_region_fmt(from, rfrom, sizeof(rfrom));
    if (into) {
        char tmp[256];
        vtpu_region_fmt(into, tmp, sizeof(tmp));
        fmt(rinto, sizeof(rinto), "%s%s", from ? ", into " : "", tmp);
    }
    fmt(detail, sizeof(detail),
        "%s of %s 0x%llx..0x%llx (%llu bytes) %s%s%s%s%s", what, sp_name,
        (unsigned long long)lo, (unsigned long long)(hi - 1),
        (unsigned long long)(hi - lo),
        from ? "leaves " : "starts outside every buffer and reaches ", rfrom,
        rinto, *grid ? " at " : "", grid);
    fmt(full, sizeof(full),
        "vtpu: ACCESS LEAVES ITS BUFFER: %s of %s 0x%llx..0x%llx (%llu "
        "bytes)\n"
        "  by %s\n"
        "  %s%s%s\n"
        "  (the TC runtime's buffers: docs/debugging.md, \"Buffer "
        "bounds\")\n",
        what, sp_name, (unsigned long long)lo, (unsigned long long)(hi - 1),
        (unsigned long long)(hi - lo), where,
        from ? "starts in " : "starts outside every buffer and reaches ",
        from ? rfrom : "", rinto);
    return vtpu_check_report(tc, VTPU_ERR_BOUNDS, &at, hi - lo, detail, full);
}

const vtpu_region *vtpu_bounds_regions(vtpu_bounds *b, vtpu_tc *tc, uint32_t *n)
{
    bounds_tc *s = regions(b, tc);
    *n = s ? s->n : 0;
    return s ? s->r : NULL;
}

int vtpu_bounds_vmem(vtpu_bounds *b, vtpu_tc *tc, uint32_t addr, int32_t stride,
                     const uint32_t *mask, bool store)
{
    bounds_tc *s = regions(b, tc);
    if (!s)
        return 0;

    uint64_t lo = UINT64_MAX, hi = 0, start = 0;
    bool any = false;
    for (unsigned r = 0; r < 8; r++) {
        uint64_t row = (uint64_t)((int64_t)addr + (int64_t)r * stride);
        unsigned f = 0, l = 127;
        if (mask) {
            const uint32_t *m = mask + r * 128;
            while (f < 128 && !m[f])
                f++;
            if (f == 128)
                continue;
            while (!m[l])
                l--;
        }
        uint64_t a = row + 4 * f, e = row + 4 * l + 4;
        if (!any)
            start = a;
        any = true;
        lo = a < lo ? a : lo;
        hi = e > hi ? e : hi;
    }
    if (!any)
        return 0;
    return check_extent(
        tc, s, VTPU_SPACE_VMEM, start, lo, hi,
        store ? (mask ? "vst.m" : "vst") : (mask ? "vld.m" : "vld"), -1);
}

static int dma_extent(vtpu_bounds *b, vtpu_tc *tc, const vtpu_mem_ref *r,
                      const int64_t *stride, const uint64_t *count,
                      unsigned ndims, const char *what, int dst_chip)
{
    if (r->space != VTPU_SPACE_HBM && r->tc != tc->id)
        return 0; /* another TC's memory: its regions are its own */
    bounds_tc *s = regions(b, tc);
    if (!s)
        return 0;

    uint64_t base = r->space == VTPU_SPACE_VMEM   ? VTPU_VMEM_BASE
                    : r->space == VTPU_SPACE_SMEM ? VTPU_SMEM_BASE
                                                  : 0;
    int64_t lo = 0, hi = (int64_t)count[0];
    for (unsigned d = 1; d < ndims; d++) {
        int64_t span = stride[d] * (int64_t)(count[d] - 1);
        if (span < 0)
            lo += span;
        else
            hi += span;
    }
    uint64_t start = base + r->off;
    return check_extent(tc, s, r->space, start, (uint64_t)((int64_t)start + lo),
                        (uint64_t)((int64_t)start + hi), what, dst_chip);
}

int vtpu_bounds_dma_side(vtpu_bounds *b, vtpu_tc *tc, const vtpu_mem_ref *r,
                         const int64_t *stride, const uint64_t *count,
                         unsigned ndims, bool write)
{
    return dma_extent(b, tc, r, stride, count, ndims,
                      write ? "DMA write" : "DMA read", -1);
}

/*
 * A remote DMA's destination on chip `chip`, by the issuer's own
 * buffers: an SPMD kernel names the buffer over there by its own layout
 * (Pallas's remote copy takes a ref of the issuing kernel), so a copy
 * that leaves the buffer it starts in is the kernel's bug wherever it
 * lands.  HBM, and the memories of the TC with the issuer's index; the
 * report names the destination chip.
 */
int vtpu_bounds_remote_dst(vtpu_bounds *b, vtpu_tc *tc,
                           const vtpu_remote_dma *d, unsigned chip)
{
    unsigned t = d->dst_tc == 0xff ? tc->id : d->dst_tc;
    int64_t stride[4] = {0, d->dst_stride[0], d->dst_stride[1],
                         d->dst_stride[2]};
    uint64_t count[4] = {d->shape[0], d->shape[1], d->shape[2], d->shape[3]};
    vtpu_mem_ref r;

    if (!d->bytes || d->ndims < 1 || d->ndims > 4)
        return 0;
    switch (d->dst_space) {
    case VTPU_SPACE_HBM:
        r = (vtpu_mem_ref){VTPU_SPACE_HBM, 0, d->dst};
        break;
    case VTPU_SPACE_VMEM: /* VMEM_SHARED is not the TC's own */
        if (d->dst < VTPU_VMEM_BASE || d->dst >= VTPU_VMEM_SHARED_BASE)
            return 0;
        r = (vtpu_mem_ref){VTPU_SPACE_VMEM, t, d->dst - VTPU_VMEM_BASE};
        break;
    case VTPU_SPACE_SMEM:
        if (d->dst < VTPU_SMEM_BASE)
            return 0;
        r = (vtpu_mem_ref){VTPU_SPACE_SMEM, t, d->dst - VTPU_SMEM_BASE};
        break;
    default:
        return 0;
    }
    return dma_extent(b, tc, &r, stride, count, d->ndims, "remote DMA write",
                      (int)chip);
}
