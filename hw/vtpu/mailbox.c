/*
 * mailbox.c - the one reader of the TC runtime's progress mailbox
 * (vtpu-launch.h), for `info vtpu`, the timeline trace and race reports.
 *
 * The mailbox lives in the TC's SMEM, which the TC program (guest code),
 * other TCs' DMAs and a debugger write while we read.  So it is copied
 * out once, and only the copy is checked and used: a field checked in one
 * read and used from another could have changed in between.
 */
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
