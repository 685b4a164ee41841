/*
 * sync.c - semaphores, the barrier and deadlock detection for one chip.
 *
 * All semaphore values of all TCs, and what each TC of the run is waiting
 * for, are guarded by one chip-wide mutex.  Semaphore operations are rare
 * next to instructions, so one uncontended lock per operation costs
 * nothing measurable, and one lock makes the deadlock test a consistent
 * snapshot of the whole chip, which is what makes it exact.
 *
 * Waiting is on the host, never spinning: a blocked TC sleeps on its own
 * condition variable.  Whoever makes the TC's wait satisfiable (a
 * semaphore signal, the last TC arriving at the barrier) marks it running
 * again *before* it wakes up, under the lock.  So at any moment under the
 * lock a TC is either running (executing, or woken and about to continue)
 * or blocked on something that has not happened yet, or done.  That gives
 * the deadlock rule without any timeouts or guessing:
 *
 *   deadlock  <=>  no TC of the run is running, and at least one is blocked
 *
 * because only a running TC can signal a semaphore or arrive at the
 * barrier (DMAs complete when started, i.e. inside a running TC; see
 * dma.c).  The test runs whenever a TC blocks and whenever a TC's thread
 * ends, which are the only two events that can take the last running TC
 * away, so a deadlock is always found and never reported early.
 *
 * A TC waits only on its own semaphores (sem.wait has no TC operand), so
 * every semaphore has at most one waiter and only that waiter subtracts:
 * once a wait is satisfiable it stays satisfiable until the waiter takes
 * it.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "internal.h"

typedef enum wait_kind {
    W_RUNNING = 0, /* executing, or woken and about to continue */
    W_SEM,         /* in sem.wait: sems[sem] < n */
    W_BARRIER,     /* arrived at the barrier, others have not */
    W_DONE,        /* its thread left vtpu_tc_execute() */
} wait_kind;

typedef struct tc_wait {
    wait_kind kind;
    uint32_t sem, n;
} tc_wait;

/* The last signal of one semaphore in this run, for reports. */
typedef struct sig_rec {
    uint32_t run; /* == vtpu_sync.run when valid */
    uint32_t pc, n;
    uint8_t by; /* the signalling TC (of the DMA's dma.start) */
    uint8_t dma;
    int8_t rank; /* of pt; -1: no grid point */
    int32_t pt[VTPU_MAX_GRID_DIMS];
} sig_rec;

struct vtpu_sync {
    vtpu_chip *chip;
    sig_rec *sig; /* [tc * num_sems + sem] */
    uint32_t run; /* runs begun, for sig_rec.run */
    vtpu_mutex lock;
    vtpu_cond cond[VTPU_MAX_TCS]; /* one per TC: wake only whom it concerns */
    unsigned ntcs;                /* TCs of the current run */
    tc_wait w[VTPU_MAX_TCS];
    unsigned arrived; /* TCs waiting at the barrier */
    bool deadlock;    /* found; every blocked TC must leave */
    unsigned victim;  /* TC that reports it (its pc is a wait) */
    char detail[sizeof(((vtpu_error *)0)->detail)];
};

vtpu_sync *vtpu_sync_new(vtpu_chip *chip)
{
    vtpu_sync *s = g_new0(vtpu_sync, 1);
    s->chip = chip;
    s->sig = g_new0(sig_rec, (size_t)VTPU_MAX_TCS * chip->cfg.num_sems);
    vtpu_mutex_init(&s->lock);
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        vtpu_cond_init(&s->cond[i]);
    return s;
}

void vtpu_sync_free(vtpu_sync *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        vtpu_cond_clear(&s->cond[i]);
    vtpu_mutex_clear(&s->lock);
    g_free(s->sig);
    g_free(s);
}

/* Called by run.c before any TC thread of a run starts. */
void vtpu_sync_begin(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_sync *s = chip->sync;

    vtpu_mutex_lock(&s->lock);
    s->ntcs = ntcs;
    s->run++;
    memset(s->w, 0, sizeof(s->w));
    s->arrived = 0;
    s->deadlock = false;
    s->victim = 0;
    s->detail[0] = 0;
    vtpu_mutex_unlock(&s->lock);
}

void vtpu_sync_stop_all(vtpu_chip *chip)
{
    vtpu_sync *s = chip->sync;

    /*
     * The caller stored chip->stop before this (vtpu_chip_stop_run());
     * taking the lock orders that store before any waiter's next look at
     * it, so a waiter either sees stop or is already asleep and gets this
     * wake-up.
     */
    vtpu_mutex_lock(&s->lock);
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        vtpu_cond_signal(&s->cond[i]);
    vtpu_mutex_unlock(&s->lock);
}

static void wake(vtpu_sync *s, unsigned id)
{
    s->w[id].kind = W_RUNNING;
    vtpu_cond_signal(&s->cond[id]);
}

/* Caller holds the lock. */
static void sem_origin(vtpu_sync *s, unsigned tc, uint32_t sem, char *buf,
                       size_t len)
{
    const sig_rec *r = &s->sig[(size_t)tc * s->chip->cfg.num_sems + sem];
    char grid[64] = "";
    uint32_t off = 0;

    if (r->run != s->run) {
        g_snprintf(buf, len, "never signalled in this run");
        return;
    }
    const char *sym = vtpu_program_symbol(s->chip->prog, r->pc, &off);
    vtpu_grid_pt g = {r->rank, {r->pt[0], r->pt[1], r->pt[2], r->pt[3]}};
    vtpu_check_grid_fmt(&g, grid, sizeof(grid));
    if (sym) {
        g_snprintf(buf, len,
                   "last signalled (+%u) by %sTC %u at pc 0x%08x (%s+0x%x)%s%s",
                   r->n, r->dma ? "a DMA issued by " : "", r->by, r->pc, sym,
                   off, *grid ? ", " : "", grid);
    } else {
        g_snprintf(buf, len, "last signalled (+%u) by %sTC %u at pc 0x%08x%s%s",
                   r->n, r->dma ? "a DMA issued by " : "", r->by, r->pc,
                   *grid ? ", " : "", grid);
    }
}

void vtpu_sync_sem_origin(vtpu_chip *chip, unsigned tc, uint32_t sem, char *buf,
                          size_t len)
{
    vtpu_sync *s = chip->sync;

    vtpu_mutex_lock(&s->lock);
    sem_origin(s, tc, sem, buf, len);
    vtpu_mutex_unlock(&s->lock);
}

/*
 * Describe every TC's state into s->detail: the long form (with each
 * TC's grid point and where the semaphore it waits on was last signalled
 * from) when it fits, else a compact one.
 */
static void describe(vtpu_sync *s, bool compact)
{
    size_t len = sizeof(s->detail), pos = 0;

    s->detail[0] = 0;
    for (unsigned i = 0; i < s->ntcs && pos < len; i++) {
        const tc_wait *w = &s->w[i];
        const char *sep = i ? (compact ? " " : "; ") : "";
        char grid[64] = "", at[80] = "", origin[400] = "";
        vtpu_grid_pt g;
        int k = 0;

        g.rank = (int8_t)vtpu_mailbox_point(s->chip->tcs[i], g.pt);
        vtpu_check_grid_fmt(&g, grid, sizeof(grid));
        if (*grid)
            g_snprintf(at, sizeof(at), compact ? "@%s" : " at %s",
                       compact ? grid + 5 : grid); /* "grid (1,2)" */
        switch (w->kind) {
        case W_SEM: {
            uint32_t v = s->chip->tcs[i]->sems[w->sem];
            if (!compact)
                sem_origin(s, i, w->sem, origin, sizeof(origin));
            k = compact ? snprintf(s->detail + pos, len - pos,
                                   "%sTC%u:s%u>=%u(%u)%s", sep, i, w->sem, w->n,
                                   v, at)
                        : snprintf(s->detail + pos, len - pos,
                                   "%sTC%u waits sem %u >= %u (is %u)%s, %s",
                                   sep, i, w->sem, w->n, v, at, origin);
            break;
        }
        case W_BARRIER:
            k = snprintf(s->detail + pos, len - pos,
                         compact ? "%sTC%u:bar%s" : "%sTC%u at barrier%s", sep,
                         i, at);
            break;
        case W_DONE: {
            /* A TC that ended with an error (a kernel that failed) is
             * usually why the others wait: say so. */
            const vtpu_tc *t = s->chip->tcs[i];
            int code = t->state == VTPU_TC_EXITED ? t->exit_code : 0;
            if (code && !compact)
                k = snprintf(s->detail + pos, len - pos,
                             "%sTC%u exited with code %d", sep, i, code);
            else
                k = snprintf(s->detail + pos, len - pos,
                             compact ? "%sTC%u:exit" : "%sTC%u exited", sep, i);
            break;
        }
        case W_RUNNING: /* not in a deadlock */
            break;
        }
        pos += k > 0 ? (size_t)k : 0;
    }
    if (pos >= len) {
        if (!compact) {
            describe(s, true);
            return;
        }
        memcpy(s->detail + len - 4, "...", 4);
    }
}

/*
 * The deadlock test (see the top of the file); caller holds the lock.
 * `self` is the TC that is about to block, or -1 when a TC ended.
 */
static void check_deadlock(vtpu_sync *s, int self)
{
    int first_blocked = -1;

    if (s->deadlock || (atomic_load(&s->chip->stop) & VTPU_STOP_ENDING))
        return;
    for (unsigned i = 0; i < s->ntcs; i++) {
        if (s->w[i].kind == W_RUNNING)
            return;
        if (s->w[i].kind != W_DONE && first_blocked < 0)
            first_blocked = (int)i;
    }
    if (first_blocked < 0)
        return; /* everyone has finished: the run is just over */

    s->deadlock = true;
    s->victim = self >= 0 ? (unsigned)self : (unsigned)first_blocked;
    describe(s, false);
    for (unsigned i = 0; i < s->ntcs; i++)
        vtpu_cond_signal(&s->cond[i]);
}

/*
 * Sleep until someone marks this TC running, the run stops or a deadlock
 * is found.  Caller holds the lock and has set s->w[id].  0 = continue,
 * -1 = the TC must stop (tc->state says why).
 */
static int block(vtpu_sync *s, vtpu_tc *tc)
{
    unsigned id = tc->id;

    tc->state = VTPU_TC_BLOCKED;
    check_deadlock(s, (int)id);
    for (;;) {
        if (s->w[id].kind == W_RUNNING) {
            tc->state = VTPU_TC_RUNNING;
            return 0;
        }
        if (s->deadlock) {
            if (s->victim == id) {
                const tc_wait *w = &s->w[id];
                return vtpu_tc_fault(
                    tc, VTPU_ERR_DEADLOCK,
                    w->kind == W_SEM ? VTPU_SPACE_SEM : VTPU_SPACE_NONE,
                    w->kind == W_SEM ? w->sem : 0, 0, "%s", s->detail);
            }
            tc->state = VTPU_TC_STOPPED;
            return -1;
        }
        /* A debugger's pause leaves a blocked TC blocked. */
        if (atomic_load(&s->chip->stop) & VTPU_STOP_ENDING) {
            tc->state = VTPU_TC_STOPPED;
            return -1;
        }
        vtpu_cond_wait(&s->cond[id], &s->lock);
    }
}

/* Called by run.c when tc's thread has left vtpu_tc_execute(). */
void vtpu_sync_tc_done(vtpu_tc *tc)
{
    vtpu_sync *s = tc->chip->sync;

    vtpu_mutex_lock(&s->lock);
    s->w[tc->id].kind = W_DONE;
    check_deadlock(s, -1);
    vtpu_mutex_unlock(&s->lock);
}

static int check_sem(vtpu_tc *tc, uint32_t sem)
{
    uint32_t nsems = tc->chip->cfg.num_sems;

    if (VTPU_UNLIKELY(sem >= nsems))
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "semaphore %u does not exist (%u per TC)", sem,
                             nsems);
    return 0;
}

int vtpu_sem_signal(vtpu_tc *tc, uint32_t target_tc, uint32_t sem, uint32_t n)
{
    return vtpu_sem_signal_from(tc, target_tc, sem, n, tc->pc, false);
}

int vtpu_sem_signal_from(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                         uint32_t n, uint32_t pc, bool dma)
{
    vtpu_sync *s = tc->chip->sync;
    uint32_t *v;

    if (VTPU_UNLIKELY(target_tc >= tc->ntcs))
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "signal to TC %u: the run has %u TCs", target_tc,
                             tc->ntcs);
    if (check_sem(tc, sem))
        return -1;

    vtpu_mutex_lock(&s->lock);
    v = &tc->chip->tcs[target_tc]->sems[sem];
    if (VTPU_UNLIKELY(*v > UINT32_MAX - n)) {
        uint32_t old = *v;
        vtpu_mutex_unlock(&s->lock);
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "semaphore %u of TC %u overflows: %u + %u", sem,
                             target_tc, old, n);
    }
    *v += n;
    sig_rec *r = &s->sig[(size_t)target_tc * tc->chip->cfg.num_sems + sem];
    r->run = s->run;
    r->pc = pc;
    r->n = n;
    r->by = (uint8_t)tc->id;
    r->dma = dma;
    r->rank = (int8_t)vtpu_mailbox_point(tc, r->pt);
    if (s->w[target_tc].kind == W_SEM && s->w[target_tc].sem == sem &&
        *v >= s->w[target_tc].n)
        wake(s, target_tc);
    vtpu_mutex_unlock(&s->lock);
    return 0;
}

int vtpu_sem_wait(vtpu_tc *tc, uint32_t sem, uint32_t n)
{
    vtpu_sync *s = tc->chip->sync;
    uint32_t *v;
    int rc = 0;

    if (check_sem(tc, sem))
        return -1;

    vtpu_mutex_lock(&s->lock);
    v = &tc->sems[sem];
    if (*v < n) {
        int64_t t0 = vtpu_dbg_now(); /* only when blocking: counters */
        s->w[tc->id] = (tc_wait){W_SEM, sem, n};
        rc = block(s, tc);
        tc->cnt.sem_wait_ns += (uint64_t)(vtpu_dbg_now() - t0);
        if (VTPU_UNLIKELY(tc->chip->dbg))
            vtpu_dbg_wait(tc, sem, n, t0);
    }
    /* Only this TC subtracts, so a satisfied wait is still satisfied. */
    if (rc == 0)
        *v -= n;
    vtpu_mutex_unlock(&s->lock);
    return rc;
}

int vtpu_sem_read(vtpu_tc *tc, uint32_t sem, uint32_t *val)
{
    vtpu_sync *s = tc->chip->sync;

    if (check_sem(tc, sem))
        return -1;
    vtpu_mutex_lock(&s->lock);
    *val = tc->sems[sem];
    vtpu_mutex_unlock(&s->lock);
    return 0;
}

int vtpu_barrier(vtpu_tc *tc)
{
    vtpu_sync *s = tc->chip->sync;
    int rc = 0;

    vtpu_mutex_lock(&s->lock);
    if (++s->arrived == s->ntcs) {
        s->arrived = 0;
        for (unsigned i = 0; i < s->ntcs; i++)
            if (s->w[i].kind == W_BARRIER)
                wake(s, i);
    } else {
        int64_t t0 = vtpu_dbg_now();
        s->w[tc->id] = (tc_wait){W_BARRIER, 0, 0};
        rc = block(s, tc);
        tc->cnt.barrier_ns += (uint64_t)(vtpu_dbg_now() - t0);
        if (VTPU_UNLIKELY(tc->chip->dbg))
            vtpu_dbg_wait(tc, -1, 0, t0);
    }
    vtpu_mutex_unlock(&s->lock);
    return rc;
}

bool vtpu_sync_tc_blocked(vtpu_chip *chip, unsigned id)
{
    vtpu_sync *s = chip->sync;
    bool blocked;

    vtpu_mutex_lock(&s->lock);
    blocked =
        id < s->ntcs && (s->w[id].kind == W_SEM || s->w[id].kind == W_BARRIER);
    vtpu_mutex_unlock(&s->lock);
    return blocked;
}

bool vtpu_sync_tc_resting(vtpu_chip *chip, unsigned id)
{
    vtpu_sync *s = chip->sync;
    bool resting;

    vtpu_mutex_lock(&s->lock);
    resting = id < s->ntcs && s->w[id].kind != W_RUNNING;
    vtpu_mutex_unlock(&s->lock);
    return resting;
}
