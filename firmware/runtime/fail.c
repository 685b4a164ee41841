/*
 * fail.c - how a launch ends badly: one line on stderr, the status record,
 * and a VTPU_LERR_* exit code.
 *
 * Before exiting, the runtime waits for its block copies in flight (and
 * consumes the body's semaphores): a semaphore left non-zero would make
 * the engine report "semaphore non-zero at exit" instead of the real
 * problem.  Errors every TC finds the same
 * way (a bad descriptor) are printed by TC 0 only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

const char *rt_dtype_name(uint32_t dt)
{
    static const char *const names[VTPU_DT__COUNT] = {
        "any", "f32", "i32", "u32", "bf16", "i16", "i8", "u8"};
    return dt < VTPU_DT__COUNT ? names[dt] : "?";
}

const char *rt_fmt_idx(char *buf, unsigned len, const int32_t *v, unsigned n)
{
    unsigned pos = 0;
    buf[0] = 0;
    pos += snprintf(buf + pos, len - pos, "(");
    for (unsigned i = 0; i < n && pos < len; i++)
        pos += snprintf(buf + pos, len - pos, i ? ", %ld" : "%ld", (long)v[i]);
    if (pos < len)
        snprintf(buf + pos, len - pos, ")");
    return buf;
}

void rt_write_status(rt_state *st, uint32_t code, const char *msg)
{
    vtpu_launch_status *s = &st->status;
    if (!st->status_ok || !(st->launch.flags & VTPU_LAUNCH_F_STATUS))
        return;
    /* Complete-block copies were only counted per operand. */
    for (unsigned i = 0; i < st->nblocked; i++) {
        const rt_op *o = &st->op[i];
        s->blocks_in += o->copies_in;
        s->blocks_out += o->copies_out;
        s->bytes_in += (uint64_t)o->copies_in * o->bytes;
        s->bytes_out += (uint64_t)o->copies_out * o->bytes;
    }
    s->magic = VTPU_STATUS_MAGIC;
    s->code = code;
    s->tc = st->tc;
    strncpy(s->message, msg, sizeof(s->message) - 1);
    s->message[sizeof(s->message) - 1] = 0;
    rt_dma_wait_copy(vtpu_hbm(st->launch.status_hbm + st->tc * sizeof(*s)),
                     vtpu_smem(s), sizeof(*s), st->rt_sem);
}

void rt_fail(rt_state *st, uint32_t code, const char *fmt, ...)
{
    /* Every line the runtime makes fits (kernel names have at most 31
     * characters, indices 4 numbers); only a vtpu_fail() text can be
     * longer, and then goes to stderr whole and ends in "..." in the
     * status record. */
    static char line[sizeof(st->status.message) + 2];
    va_list ap, ap2;
    /* In a nested pipeline (nested.c): wait for its copies and every
     * enclosing one's, then end the launch as the outer pipeline. */
    while (st->parent)
        st = st->parent;
    for (rt_state *c = st->child; c; c = c->child)
        rt_drain(c);
    int n =
        snprintf(line, sizeof(line), "vtpu-rt: TC %u: %s: ", (unsigned)st->tc,
                 vtpu_launch_err_name(code));
    int pre = n;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    int whole = n <= (int)sizeof(line) - 2;
    if (!whole) {
        n = sizeof(line) - 2;
        memcpy(line + n - 3, "...", 3);
    }
    line[n++] = '\n';
    line[n] = 0;

    rt_drain(st);
    /* A body that fails may have copies of its own in flight: consume
     * what its semaphores hold, so that the engine's exit check does not
     * report them instead of this error. */
    if (st->ctx.kernel)
        for (uint32_t i = 0; i < st->ctx.kernel->num_sems; i++) {
            uint32_t v = vtpu_sem_read(i);
            if (v)
                vtpu_sem_wait(i, v);
        }
    if (!st->shared_error || st->tc == 0) {
        if (whole) {
            write(2, line, n);
        } else {
            write(2, line, pre);
            vfprintf(stderr, fmt, ap2);
            fputc('\n', stderr);
            fflush(stderr);
        }
    }
    va_end(ap2);
    line[n - 1] = 0;
    vtpu_rt_mailbox.code = code;
    vtpu_rt_mailbox.phase = VTPU_MB_FAILED;
    rt_write_status(st, code, line);
    exit((int)code);
}

void vtpu_fail(const vtpu_kctx *k, const char *msg)
{
    char at[64];
    rt_fail(&vtpu_rt, VTPU_LERR_KERNEL_FAIL, "kernel '%s' at grid point %s: %s",
            k->kernel->name,
            rt_fmt_idx(at, sizeof(at), k->idx, vtpu_rt.grid_rank), msg);
}
