/*
 * error.c - the error taxonomy: names, one-line reports, recording faults.
 *
 * Every fault a program can cause ends up as one vtpu_error naming the
 * TC, pc, function symbol, memory space and address; docs/architecture.md
 * lists the kinds and what raises each.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"


const char *vtpu_error_kind_name(vtpu_error_kind kind)
{
    return vtpu_fault_name((uint32_t)kind);
}

const char *vtpu_space_name(vtpu_space space)
{
    switch (space) {
    case VTPU_SPACE_HBM:
        return "HBM";
    case VTPU_SPACE_VMEM:
        return "VMEM";
    case VTPU_SPACE_SMEM:
        return "SMEM";
    case VTPU_SPACE_IMEM:
        return "IMEM";
    case VTPU_SPACE_SEM:
        return "semaphore";
    case VTPU_SPACE_NONE:
        break;
    }
    return "unmapped";
}

int vtpu_error_format(const vtpu_error *e, char *buf, size_t len)
{
    /* Built whole, then copied: the result is never cut below `len`
     * by an intermediate buffer. */
    GString *s = g_string_new(NULL);

    if (e->chip >= 0)
        g_string_append_printf(s,
                               e->tc >= 0 ? "chip %d " : "chip %d: ", e->chip);
    if (e->tc >= 0) {
        if (e->symbol[0])
            g_string_append_printf(s, "TC %d: pc 0x%08x (%s+0x%x): ", e->tc,
                                   e->pc, e->symbol, e->sym_offset);
        else
            g_string_append_printf(s, "TC %d: pc 0x%08x: ", e->tc, e->pc);
    }
    g_string_append(s, vtpu_error_kind_name(e->kind));
    if (e->space != VTPU_SPACE_NONE || e->addr) {
        g_string_append_printf(s, ": %s address 0x%llx",
                               vtpu_space_name(e->space),
                               (unsigned long long)e->addr);
        if (e->len)
            g_string_append_printf(s, " (%llu bytes)",
                                   (unsigned long long)e->len);
    }
    if (e->detail[0])
        g_string_append_printf(s, ": %s", e->detail);
    int n = (int)s->len;
    if (len)
        snprintf(buf, len, "%s", s->str);
    g_string_free(s, TRUE);
    return n;
}

int vtpu_tc_fault(vtpu_tc *tc, vtpu_error_kind kind, vtpu_space space,
                  uint64_t addr, uint64_t len, const char *fmt, ...)
{
    if (VTPU_UNLIKELY(tc->chip->pause_tc == VTPU_PAUSE_FAULT) &&
        vtpu_tc_fault_pause(tc, kind))
        return -1; /* saved first; the instruction faults again after */
    vtpu_error *e = &tc->err;
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->tc = (int32_t)tc->id;
    e->chip = tc->chip->fabric ? (int32_t)tc->chip->chip_id : -1;
    e->pc = tc->pc;
    e->space = space;
    e->addr = addr;
    e->len = len;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
        va_end(ap);
    }
    tc->state = VTPU_TC_FAULTED;
    return -1;
}
