/*
 * mailbox.c - the one reader of the TC runtime's progress mailbox
 * (vtpu-launch.h), for `info vtpu`, the timeline trace and race reports.
 *
 * The mailbox lives in the TC's SMEM, which the TC program (guest code),
 * other TCs' DMAs and a debugger write while we read.  So it is copied
 * out once, and only the copy is checked and used: a field checked in one
 * read and used from another could have changed in between.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* `len` bytes of SMEM at TC address `addr`, copied, if inside SMEM. */
static bool smem_copy(const vtpu_tc *tc, uint32_t addr, void *buf, size_t len)
{
    if (addr < VTPU_SMEM_BASE || addr - VTPU_SMEM_BASE > tc->smem_size ||
        len > tc->smem_size - (addr - VTPU_SMEM_BASE))
        return false;
    memcpy(buf, tc->smem + (addr - VTPU_SMEM_BASE), len);
    return true;
}

bool vtpu_mailbox_read(const vtpu_tc *tc, vtpu_mailbox_view *v)
{
    memset(v, 0, sizeof(*v));
    if (!smem_copy(tc, VTPU_MAILBOX_ADDR, &v->mb, sizeof(v->mb)) ||
        v->mb.magic != VTPU_MAILBOX_MAGIC)
        return false;
    v->mb.name[sizeof(v->mb.name) - 1] = 0;
    if (v->mb.size8 < sizeof(v->mb) / 8) { /* an older, 64-byte mailbox */
        v->mb.scalars_addr = v->mb.num_scalars = 0;
        v->mb.kernel_addr = v->mb.map_point_addr = 0;
    }
    if (v->mb.phase >= VTPU_MB_GRID && v->mb.grid_rank <= VTPU_MAX_GRID_DIMS &&
        v->mb.point_addr &&
        smem_copy(tc, v->mb.point_addr, v->point, sizeof(v->point)) &&
        smem_copy(tc, v->mb.step_addr, &v->step, sizeof(v->step))) {
        v->has_point = true;
        v->rank = v->mb.grid_rank;
    }
    return true;
}

int vtpu_mailbox_point(const vtpu_tc *tc, int32_t pt[VTPU_MAX_GRID_DIMS])
{
    uint32_t w[8]; /* magic, phase, kernel, code, point_addr, ..., rank */

    if (tc->smem_size < sizeof(w))
        return -1;
    memcpy(w, tc->smem, sizeof(w));
    unsigned rank = w[7] & 0xff;
    if (w[0] != VTPU_MAILBOX_MAGIC || w[1] != VTPU_MB_GRID ||
        rank > VTPU_MAX_GRID_DIMS ||
        !smem_copy(tc, w[4], pt, VTPU_MAX_GRID_DIMS * sizeof(int32_t)))
        return -1;
    return (int)rank;
}

bool vtpu_mailbox_scalar_past(const vtpu_tc *tc, uint32_t addr, char *buf,
                              size_t len)
{
    vtpu_mailbox_view v;
    uint32_t end = VTPU_SMEM_BASE + tc->smem_size;

    /* The TC runtime puts the array flush against the end of SMEM, so a
     * read past it is a read past SMEM. */
    if (addr < end || addr - end >= VTPU_SMEM_MAX ||
        !vtpu_mailbox_read(tc, &v) || v.mb.phase != VTPU_MB_GRID ||
        !v.has_point || !v.mb.scalars_addr ||
        (uint64_t)v.mb.scalars_addr + 4ull * v.mb.num_scalars != end)
        return false;

    /* In an index map (a function the kernel's entry names), the grid
     * point is the one the maps run for, not the body's. */
    const int32_t *point = v.point;
    int32_t mpoint[VTPU_MAX_GRID_DIMS];
    const char *who = "the body";
    vtpu_kernel_entry e;
    uint32_t off = 0;
    if (vtpu_program_symbol(tc->prog, tc->pc, &off) &&
        smem_copy(tc, v.mb.kernel_addr, &e, sizeof(e))) {
        for (unsigned i = 0; i < VTPU_MAX_OPERANDS && e.operands[i].role; i++)
            if (e.operands[i].index_map &&
                e.operands[i].index_map == tc->pc - off &&
                smem_copy(tc, v.mb.map_point_addr, mpoint, sizeof(mpoint))) {
                point = mpoint;
                who = "an index map";
                break;
            }
    }
    char pt[64];
    size_t pos = 0;
    pt[0] = 0;
    for (uint32_t i = 0; i < v.rank && pos < sizeof(pt); i++)
        pos += (size_t)snprintf(pt + pos, sizeof(pt) - pos, "%s%d",
                                i ? ", " : "", point[i]);
    snprintf(buf, len,
             "%s of kernel '%s' at grid point (%s) read s[%u], past the "
             "launch's %u scalar-prefetch values",
             who, v.mb.name, pt, (addr - v.mb.scalars_addr) / 4,
             v.mb.num_scalars);
    return true;
}
