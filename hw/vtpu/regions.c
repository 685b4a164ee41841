/*
 * regions.c - the TC runtime's buffers as the engine sees them: the
 * region table a runtime publishes through its mailbox (vtpu-launch.h,
 * vtpu_region), read for the bounds check (bounds.c) and to name what an
 * address is in reports (races, poison): "operand 2's array, elements
 * (8, 0)..(15, 127)" instead of a raw HBM offset.
 *
 * The table lives in SMEM, which the program may overwrite: it is copied
 * once and only the copy is checked and used (as mailbox.c does).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

#define fmt(...) ((void)g_snprintf(__VA_ARGS__))

uint32_t vtpu_regions_read(const vtpu_tc *tc, vtpu_region *out)
{
    vtpu_mailbox mb;
    uint32_t n = 0;

    if (tc->smem_size < sizeof(mb))
        return 0;
    memcpy(&mb, tc->smem, sizeof(mb));
    if (mb.magic != VTPU_MAILBOX_MAGIC || mb.phase < VTPU_MB_GRID ||
        !(mb.rt_flags & VTPU_MB_RT_REGIONS))
        return 0;
    uint32_t off = mb.regions_addr - VTPU_SMEM_BASE, cnt = mb.num_regions;
    if (cnt > VTPU_MAX_REGIONS || off >= tc->smem_size ||
        (uint64_t)cnt * sizeof(vtpu_region) > tc->smem_size - off)
        return 0;
    memcpy(out, tc->smem + off, cnt * sizeof(vtpu_region));
    for (uint32_t i = 0; i < cnt; i++) {
        vtpu_region r = out[i];
        if (r.space < VTPU_REGION_HBM || r.space > VTPU_REGION_SMEM ||
            r.addr + r.bytes < r.addr || r.bytes == 0 || r.rank > VTPU_MAX_RANK)
            continue; /* garbled: dropped */
        out[n++] = r;
    }
    return n;
}

const char *vtpu_region_kind_name(const vtpu_region *r)
{
    switch (r->kind) {
    case VTPU_RK_BUF0:
        return "block buffer 0";
    case VTPU_RK_BUF1:
        return "block buffer 1";
    case VTPU_RK_BUF2:
        return "block buffer 2";
    case VTPU_RK_BUF3:
        return "block buffer 3";
    case VTPU_RK_ZERO:
        return "zero-padding block";
    case VTPU_RK_ARRAY:
        return "array";
    default:
        return "scratch";
    }
}

/* "(1, 0, 3)": the element at byte `off` of a dense row-major region. */
static void element(const vtpu_region *r, uint64_t off, char *buf, size_t len)
{
    uint64_t e = off / r->itemsize;
    uint64_t idx[VTPU_MAX_RANK];
    size_t pos = 0;

    for (int d = r->rank - 1; d >= 0; d--) {
        uint64_t n = r->shape[d] ? r->shape[d] : 1;
        idx[d] = d ? e % n : e; /* the first dimension takes the rest */
        e /= n;
    }
    buf[0] = 0;
    for (unsigned d = 0; d < r->rank && pos < len; d++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%llu", d ? ", " : "(",
                                (unsigned long long)idx[d]);
    if (pos < len)
        fmt(buf + pos, len - pos, ")");
}

/* "operand 1's", "the kernel's", "emit_pipeline 1's operand 0's": whose
 * buffer r is (nested pipelines' operands are numbered in their own
 * list). */
static void region_who(const vtpu_region *r, char *who, size_t len)
{
    if (r->operand == VTPU_REGION_SCRATCH)
        fmt(who, len, "the kernel's");
    else if (r->nest)
        fmt(who, len, "emit_pipeline %u's operand %u's", r->nest, r->operand);
    else
        fmt(who, len, "operand %u's", r->operand);
}

void vtpu_region_fmt(const vtpu_region *r, char *buf, size_t len)
{
    char who[48], used[48] = "", shape[64] = "";

    region_who(r, who, sizeof(who));
    if (r->rank && r->itemsize) {
        size_t pos = 0;
        for (unsigned d = 0; d < r->rank; d++)
            pos += (size_t)snprintf(shape + pos, sizeof(shape) - pos, "%s%u",
                                    d ? "," : " (", r->shape[d]);
        fmt(shape + pos, sizeof(shape) - pos, ") x %u bytes", r->itemsize);
    }
    if (r->space != VTPU_REGION_HBM && r->used != r->bytes)
        fmt(used, sizeof(used), ", the block %u of them", r->used);
    fmt(buf, len, "%s %s%s: %s [0x%llx, 0x%llx) (%llu bytes%s)", who,
        vtpu_region_kind_name(r), shape,
        r->space == VTPU_REGION_VMEM   ? "VMEM"
        : r->space == VTPU_REGION_SMEM ? "SMEM"
                                       : "HBM",
        (unsigned long long)r->addr, (unsigned long long)(r->addr + r->bytes),
        (unsigned long long)r->bytes, used);
}

/* The TC whose table describes `at`: its owner, or for HBM the first
 * TC of the run that has a table. */
static uint32_t table_for(vtpu_chip *chip, const vtpu_mem_ref *at,
                          vtpu_region *tab)
{
    if (at->space != VTPU_SPACE_HBM)
        return at->tc < chip->cfg.num_tcs
                   ? vtpu_regions_read(chip->tcs[at->tc], tab)
                   : 0;
    for (unsigned t = 0; t < chip->cfg.num_tcs; t++) {
        uint32_t n = vtpu_regions_read(chip->tcs[t], tab);
        if (n)
            return n;
    }
    return 0;
}

bool vtpu_regions_describe(vtpu_chip *chip, const vtpu_mem_ref *at,
                           uint64_t len, char *buf, size_t buflen)
{
    vtpu_region tab[VTPU_MAX_REGIONS];
    uint32_t n = table_for(chip, at, tab);
    uint64_t a = vtpu_check_addr(at);
    unsigned rs = at->space == VTPU_SPACE_HBM    ? VTPU_REGION_HBM
                  : at->space == VTPU_SPACE_VMEM ? VTPU_REGION_VMEM
                                                 : VTPU_REGION_SMEM;

    buf[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        const vtpu_region *r = &tab[i];
        if (r->space != rs || a < r->addr || a - r->addr >= r->bytes)
            continue;
        uint64_t off = a - r->addr, end = off + (len ? len : 1);
        uint64_t limit = r->space == VTPU_REGION_HBM ? r->bytes : r->used;
        char who[48], first[64], last[64];
        region_who(r, who, sizeof(who));
        if (!r->itemsize || !r->rank || off >= limit) {
            fmt(buf, buflen, "%s %s, bytes %llu..%llu", who,
                vtpu_region_kind_name(r), (unsigned long long)off,
                (unsigned long long)(end - 1));
            return true;
        }
        if (end > limit)
            end = limit;
        element(r, off, first, sizeof(first));
        element(r, end - 1, last, sizeof(last));
        if (!strcmp(first, last))
            fmt(buf, buflen, "%s %s, element %s", who, vtpu_region_kind_name(r),
                first);
        else
            fmt(buf, buflen, "%s %s, elements %s..%s", who,
                vtpu_region_kind_name(r), first, last);
        return true;
    }
    return false;
}
