/*
 * padding.c - logical buffer bounds (config bounds=2, "logical";
 * docs/debugging.md, "Buffer bounds: padded or logical"): a vector load
 * of the padding of an edge block, the part of a block buffer past the
 * end of its array, is reported, as Pallas' interpret mode does with
 * buffer bounds checked against the logical array.  With bounds=1
 * ("padded", the default) such a load reads what the padded tile holds:
 * zeros, which the TC runtime copies there from its zero block.
 *
 * How padding is known: the runtime fills it by DMA from its zero block
 * (region kind VTPU_RK_ZERO, firmware/runtime/pipeline.c: edge_copy).
 * Each VMEM word of a TC has one shadow byte: a DMA from a zero region
 * marks the words it writes, any other DMA write or vector store clears
 * them, and a vector load whose active lanes touch a marked word is
 * reported.  Only the TC's own VMEM is tracked (SMEM blocks are read by
 * scalar loads, which have no lanes to mask).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

#define fmt(...) ((void)g_snprintf(__VA_ARGS__))

struct vtpu_padding {
    vtpu_chip *chip;
    vtpu_bounds *bounds;        /* the region tables */
    uint8_t *pad[VTPU_MAX_TCS]; /* vmem_size / 4: 1 = padding */
};

vtpu_padding *vtpu_padding_new(vtpu_chip *chip, vtpu_bounds *bounds)
{
    vtpu_padding *p = g_new0(vtpu_padding, 1);
    p->chip = chip;
    p->bounds = bounds;
    for (unsigned t = 0; t < chip->cfg.num_tcs; t++)
        p->pad[t] = vtpu_map_lazy(chip->cfg.vmem_size / 4);
    return p;
}

void vtpu_padding_free(vtpu_padding *p)
{
    if (!p)
        return;
    for (unsigned t = 0; t < VTPU_MAX_TCS; t++)
        vtpu_unmap_lazy(p->pad[t], p->chip->cfg.vmem_size / 4);
    g_free(p);
}

void vtpu_padding_run_begin(vtpu_padding *p, unsigned ntcs)
{
    for (unsigned t = 0; t < ntcs && t < VTPU_MAX_TCS; t++)
        vtpu_zero_lazy(p->pad[t], p->chip->cfg.vmem_size / 4);
}

/* Is the TC address `a` (VMEM of tc) in one of its runtime's zero blocks? */
static bool in_zero_block(vtpu_padding *p, vtpu_tc *tc, uint64_t a)
{
    uint32_t n;
    const vtpu_region *r = vtpu_bounds_regions(p->bounds, tc, &n);
    for (uint32_t i = 0; i < n; i++)
        if (r[i].kind == VTPU_RK_ZERO && r[i].space == VTPU_REGION_VMEM &&
            a >= r[i].addr && a - r[i].addr < r[i].bytes)
            return true;
    return false;
}

void vtpu_padding_dma(vtpu_padding *p, vtpu_tc *tc, const vtpu_mem_ref *src,
                      const vtpu_mem_ref *dst, const int64_t *dst_stride,
                      const uint64_t *count, unsigned ndims)
{
    if (dst->space != VTPU_SPACE_VMEM || dst->tc >= VTPU_MAX_TCS ||
        !p->pad[dst->tc])
        return;
    uint8_t v = src->space == VTPU_SPACE_VMEM && src->tc == tc->id &&
                dst->tc == tc->id &&
                in_zero_block(p, tc, VTPU_VMEM_BASE + src->off);
    uint8_t *m = p->pad[dst->tc];
    uint64_t c1 = ndims > 1 ? count[1] : 1, c2 = ndims > 2 ? count[2] : 1;
    uint64_t c3 = ndims > 3 ? count[3] : 1;
    for (uint64_t i3 = 0; i3 < c3; i3++)
        for (uint64_t i2 = 0; i2 < c2; i2++)
            for (uint64_t i1 = 0; i1 < c1; i1++) {
                int64_t o = (int64_t)dst->off +
                            (int64_t)i3 * (ndims > 3 ? dst_stride[3] : 0) +
                            (int64_t)i2 * (ndims > 2 ? dst_stride[2] : 0) +
                            (int64_t)i1 * (ndims > 1 ? dst_stride[1] : 0);
                /* VMEM DMAs are whole words (dma.c checks it) */
                memset(m + o / 4, v, count[0] / 4);
            }
}

static int report(vtpu_padding *p, vtpu_tc *tc, uint32_t a, const char *what)
{
    char where[512], elems[400], detail[1536], full[2048], grid[64];
    vtpu_mem_ref at = {VTPU_SPACE_VMEM, tc->id, a - VTPU_VMEM_BASE};

    /* the run of marked words from a, within its row */
    uint32_t n = 1;
    const uint8_t *m = p->pad[tc->id] + at.off / 4;
    while (n < 128 && at.off / 4 + n < tc->vmem_size / 4 && m[n])
        n++;
    vtpu_check_where(tc, where, sizeof(where));
    vtpu_check_grid(tc, grid, sizeof(grid));
    if (!vtpu_regions_describe(p->chip, &at, 4ull * n, elems, sizeof(elems)))
        fmt(elems, sizeof(elems), "a block buffer");
    fmt(detail, sizeof(detail),
        "%s reads the padding of an edge block at VMEM 0x%08x: %s, past "
        "the end of the array (buffer bounds 'logical')%s%s",
        what, a, elems, *grid ? " at " : "", grid);
    fmt(full, sizeof(full),
        "vtpu: READ OF BLOCK PADDING: %s of VMEM of TC %u 0x%08x..0x%08x: "
        "%s\n"
        "  by %s\n"
        "  these elements lie past the end of the array; with buffer bounds "
        "'padded' they read as the padded tile holds them (0)\n"
        "  (docs/debugging.md, \"Buffer bounds: padded or logical\")\n",
        what, tc->id, a, a + 4 * n - 1, elems, where);
    return vtpu_check_report(tc, VTPU_ERR_BOUNDS, &at, 4ull * n, detail, full);
}

int vtpu_padding_vmem(vtpu_padding *p, vtpu_tc *tc, uint32_t addr,
                      int32_t stride, const uint32_t *mask, bool store)
{
    const uint8_t *m = p->pad[tc->id];
    if (!m || addr >= VTPU_VMEM_SHARED_BASE)
        return 0;
    for (unsigned s = 0; s < 8; s++) {
        int64_t off = (int64_t)addr + (int64_t)s * stride - VTPU_VMEM_BASE;
        const uint32_t *mr = mask ? mask + s * 128 : NULL;
        for (unsigned l = 0; l < 128; l++) {
            int64_t o = off + 4 * (int64_t)l;
            if ((mr && !mr[l]) || o < 0 || o + 4 > tc->vmem_size)
                continue;
            if (!m[o / 4])
                continue;
            if (store)
                p->pad[tc->id][o / 4] = 0;
            else
                return report(p, tc, (uint32_t)(VTPU_VMEM_BASE + o),
                              mask ? "vld.m" : "vld");
        }
    }
    return 0;
}
