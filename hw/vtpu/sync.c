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
#include "xtpu-encoding.h"

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
    int16_t by_chip; /* its chip when another chip of the slice, else -1 */
    uint8_t dma;
    int8_t rank; /* of pt; -1: no grid point */
    int32_t pt[VTPU_MAX_GRID_DIMS];
} sig_rec;

struct vtpu_sync {
    vtpu_chip *chip;
    sig_rec *sig; /* [tc * num_sems + sem] */
    uint32_t run; /* runs begun, for sig_rec.run */
    vtpu_mutex own;
    /* &own, or the fabric's lock shared by every chip of a slice */
    vtpu_mutex *lk;
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
    vtpu_mutex_init(&s->own);
    s->lk = &s->own;
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
    vtpu_mutex_clear(&s->own);
    g_free(s->sig);
    g_free(s);
}

/* Called by run.c before any TC thread of a run starts. */
void vtpu_sync_begin(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_sync *s = chip->sync;

    vtpu_mutex_lock(s->lk);
    s->ntcs = ntcs;
    s->run++;
    memset(s->w, 0, sizeof(s->w));
    s->arrived = 0;
    s->deadlock = false;
    s->victim = 0;
    s->detail[0] = 0;
    vtpu_mutex_unlock(s->lk);
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
    vtpu_mutex_lock(s->lk);
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        vtpu_cond_signal(&s->cond[i]);
    if (chip->fabric) /* a collective launch waiting to start */
        vtpu_fabric_wake_launch(chip->fabric);
    vtpu_mutex_unlock(s->lk);
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
    char grid[64] = "", by[32];
    uint32_t off = 0;
    const vtpu_program *prog = s->chip->prog;

    if (r->run != s->run) {
        g_snprintf(buf, len, "never signalled in this run");
        return;
    }
    if (r->by_chip >= 0) {
        /* from another chip of the slice: its program, its name */
        vtpu_chip *o = s->chip->fabric ? vtpu_fabric_chip(s->chip->fabric,
                                                          (unsigned)r->by_chip)
                                       : NULL;
        prog = o ? o->prog : NULL;
        g_snprintf(by, sizeof(by), "chip %d TC %u", r->by_chip, r->by);
    } else {
        g_snprintf(by, sizeof(by), "TC %u", r->by);
    }
    const char *sym = prog ? vtpu_program_symbol(prog, r->pc, &off) : NULL;
    vtpu_grid_pt g = {r->rank, {r->pt[0], r->pt[1], r->pt[2], r->pt[3]}};
    vtpu_check_grid_fmt(&g, grid, sizeof(grid));
    if (sym) {
        g_snprintf(buf, len,
                   "last signalled (+%u) by %s%s at pc 0x%08x (%s+0x%x)%s%s",
                   r->n, r->dma ? "a DMA issued by " : "", by, r->pc, sym, off,
                   *grid ? ", " : "", grid);
    } else {
        g_snprintf(buf, len, "last signalled (+%u) by %s%s at pc 0x%08x%s%s",
                   r->n, r->dma ? "a DMA issued by " : "", by, r->pc,
                   *grid ? ", " : "", grid);
    }
}

void vtpu_sync_sem_origin(vtpu_chip *chip, unsigned tc, uint32_t sem, char *buf,
                          size_t len)
{
    vtpu_sync *s = chip->sync;

    vtpu_mutex_lock(s->lk);
    sem_origin(s, tc, sem, buf, len);
    vtpu_mutex_unlock(s->lk);
}

/*
 * Describe every TC's state of s's chip into buf: the long form (with
 * each TC's grid point and where the semaphore it waits on was last
 * signalled from) or a compact one.  Returns the length it wanted.
 */
static size_t describe_into(vtpu_sync *s, char *buf, size_t len, bool compact)
{
    size_t pos = 0;

    buf[0] = 0;
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
            k = compact ? snprintf(buf + pos, len - pos, "%sTC%u:s%u>=%u(%u)%s",
                                   sep, i, w->sem, w->n, v, at)
                        : snprintf(buf + pos, len - pos,
                                   "%sTC%u waits sem %u >= %u (is %u)%s, %s",
                                   sep, i, w->sem, w->n, v, at, origin);
            break;
        }
        case W_BARRIER:
            k = snprintf(buf + pos, len - pos,
                         compact ? "%sTC%u:bar%s" : "%sTC%u at barrier%s", sep,
                         i, at);
            break;
        case W_DONE: {
            /* A TC that ended with an error (a kernel that failed) is
             * usually why the others wait: say so. */
            const vtpu_tc *t = s->chip->tcs[i];
            int code = t->state == VTPU_TC_EXITED ? t->exit_code : 0;
            if (code && !compact)
                k = snprintf(buf + pos, len - pos, "%sTC%u exited with code %d",
                             sep, i, code);
            else
                k = snprintf(buf + pos, len - pos,
                             compact ? "%sTC%u:exit" : "%sTC%u exited", sep, i);
            break;
        }
        case W_RUNNING: /* not in a deadlock */
            break;
        }
        pos += k > 0 ? (size_t)k : 0;
    }
    return pos;
}

/* The chip's TCs into s->detail, long form when it fits. */
static void describe(vtpu_sync *s, bool compact)
{
    size_t len = sizeof(s->detail);

    if (describe_into(s, s->detail, len, compact) >= len) {
        if (!compact) {
            describe(s, true);
            return;
        }
        memcpy(s->detail + len - 4, "...", 4);
    }
}

/* True if some TC of the chip's run is blocked (caller holds the lock). */
static bool any_blocked(const vtpu_sync *s)
{
    for (unsigned i = 0; i < s->ntcs; i++)
        if (s->w[i].kind == W_SEM || s->w[i].kind == W_BARRIER)
            return true;
    return false;
}

/* Every chip of the fabric with a blocked TC into buf ("chip 0: ... |
 * chip 1: ..."); the length it wanted. */
static size_t describe_slice(vtpu_fabric *f, char *buf, size_t len,
                             bool compact)
{
    size_t pos = 0;

    buf[0] = 0;
    for (unsigned c = 0; c < vtpu_fabric_nchips(f) && pos < len; c++) {
        vtpu_chip *ch = vtpu_fabric_chip(f, c);
        if (!ch || !any_blocked(ch->sync))
            continue;
        int k =
            snprintf(buf + pos, len - pos,
                     "%schip %u: ", pos ? " | " : "", c);
        pos += k > 0 ? (size_t)k : 0;
        if (pos < len)
            pos += describe_into(ch->sync, buf + pos, len - pos, compact);
    }
    return pos;
}

static void mark_deadlock(vtpu_fabric *f, vtpu_sync *s, int self);

/*
 * The deadlock test over every chip of a fabric (all local): no TC of
 * any chip running, one blocked.  Every chip with a blocked TC gets the
 * same report; each chip's victim faults with it.
 */
static void check_deadlock_slice(vtpu_sync *s, int self)
{
    vtpu_fabric *f = s->chip->fabric;
    bool blocked = false;
    unsigned n = vtpu_fabric_nchips(f);

    /* Another process's chips may still signal: their transport's job
     * (docs/multichip.md, "MPI"). */
    if (vtpu_fabric_has_remote(f))
        return;
    for (unsigned c = 0; c < n; c++) {
        vtpu_chip *ch = vtpu_fabric_chip(f, c);
        if (!ch)
            continue;
        vtpu_sync *o = ch->sync;
        /* being reported (a flag left by a finished run means nothing) */
        if (o->deadlock && any_blocked(o))
            return;
        for (unsigned i = 0; i < o->ntcs; i++) {
            if (o->w[i].kind == W_RUNNING)
                return;
            if (o->w[i].kind != W_DONE)
                blocked = true;
        }
    }
    if (!blocked)
        return;
    size_t len = sizeof(s->detail);
    if (describe_slice(f, s->detail, len, false) >= len &&
        describe_slice(f, s->detail, len, true) >= len)
        memcpy(s->detail + len - 4, "...", 4);
    mark_deadlock(f, s, self);
}

/*
 * Make every local chip of f with a blocked TC leave with a deadlock
 * fault carrying s->detail (s may be NULL: `detail` then); its victim is
 * `self` on s's chip, else its first blocked TC.  Caller holds the lock.
 */
static void mark_deadlock_detail(vtpu_fabric *f, vtpu_sync *s, int self,
                                 const char *detail)
{
    unsigned n = vtpu_fabric_nchips(f);

    for (unsigned c = 0; c < n; c++) {
        vtpu_chip *ch = vtpu_fabric_chip(f, c);
        if (!ch || !any_blocked(ch->sync))
            continue;
        vtpu_sync *o = ch->sync;
        o->deadlock = true;
        o->victim = o->ntcs;
        if (o == s && self >= 0)
            o->victim = (unsigned)self;
        for (unsigned i = 0; i < o->ntcs && o->victim == o->ntcs; i++)
            if (o->w[i].kind != W_DONE)
                o->victim = i;
        if (o != s)
            g_strlcpy(o->detail, detail, sizeof(o->detail));
        for (unsigned i = 0; i < o->ntcs; i++)
            vtpu_cond_signal(&o->cond[i]);
    }
}

static void mark_deadlock(vtpu_fabric *f, vtpu_sync *s, int self)
{
    mark_deadlock_detail(f, s, self, s->detail);
}

int vtpu_fabric_local_state(vtpu_fabric *f, char *desc, size_t len)
{
    vtpu_mutex *lk = NULL;
    unsigned n = vtpu_fabric_nchips(f);
    bool blocked = false;
    int state = VTPU_FABRIC_LOCAL_DONE;

    for (unsigned c = 0; c < n && !lk; c++)
        if (vtpu_fabric_chip(f, c))
            lk = vtpu_fabric_chip(f, c)->sync->lk;
    if (desc && len)
        desc[0] = 0;
    if (!lk)
        return state;
    vtpu_mutex_lock(lk);
    for (unsigned c = 0; c < n && state != VTPU_FABRIC_LOCAL_RUNNING; c++) {
        vtpu_chip *ch = vtpu_fabric_chip(f, c);
        if (!ch)
            continue;
        vtpu_sync *o = ch->sync;
        if (o->deadlock && any_blocked(o))
            state = VTPU_FABRIC_LOCAL_RUNNING; /* being reported */
        for (unsigned i = 0; i < o->ntcs; i++) {
            if (o->w[i].kind == W_RUNNING)
                state = VTPU_FABRIC_LOCAL_RUNNING;
            else if (o->w[i].kind != W_DONE)
                blocked = true;
        }
    }
    if (state != VTPU_FABRIC_LOCAL_RUNNING && blocked) {
        state = VTPU_FABRIC_LOCAL_BLOCKED;
        if (desc && len && describe_slice(f, desc, len, false) >= len &&
            describe_slice(f, desc, len, true) >= len && len > 4)
            memcpy(desc + len - 4, "...", 4);
    }
    vtpu_mutex_unlock(lk);
    return state;
}

void vtpu_fabric_report_deadlock(vtpu_fabric *f, const char *report)
{
    unsigned n = vtpu_fabric_nchips(f);

    for (unsigned c = 0; c < n; c++) {
        vtpu_chip *ch = vtpu_fabric_chip(f, c);
        if (!ch)
            continue;
        vtpu_mutex_lock(ch->sync->lk);
        mark_deadlock_detail(f, NULL, -1, report);
        vtpu_mutex_unlock(ch->sync->lk);
        return;
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
    if (s->chip->fabric) {
        check_deadlock_slice(s, self);
        return;
    }
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
        vtpu_cond_wait(&s->cond[id], s->lk);
    }
}

/* Called by run.c when tc's thread has left vtpu_tc_execute(). */
void vtpu_sync_tc_done(vtpu_tc *tc)
{
    vtpu_sync *s = tc->chip->sync;

    vtpu_mutex_lock(s->lk);
    s->w[tc->id].kind = W_DONE;
    check_deadlock(s, -1);
    vtpu_mutex_unlock(s->lk);
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

    vtpu_mutex_lock(s->lk);
    v = &tc->chip->tcs[target_tc]->sems[sem];
    if (VTPU_UNLIKELY(*v > UINT32_MAX - n)) {
        uint32_t old = *v;
        vtpu_mutex_unlock(s->lk);
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
    r->by_chip = -1;
    r->dma = dma;
    r->rank = (int8_t)vtpu_mailbox_point(tc, r->pt);
    if (s->w[target_tc].kind == W_SEM && s->w[target_tc].sem == sem &&
        *v >= s->w[target_tc].n)
        wake(s, target_tc);
    vtpu_mutex_unlock(s->lk);
    return 0;
}

int vtpu_sem_wait(vtpu_tc *tc, uint32_t sem, uint32_t n)
{
    vtpu_sync *s = tc->chip->sync;
    uint32_t *v;
    int rc = 0;

    if (check_sem(tc, sem))
        return -1;

    vtpu_mutex_lock(s->lk);
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
    vtpu_mutex_unlock(s->lk);
    return rc;
}

int vtpu_sem_read(vtpu_tc *tc, uint32_t sem, uint32_t *val)
{
    vtpu_sync *s = tc->chip->sync;

    if (check_sem(tc, sem))
        return -1;
    vtpu_mutex_lock(s->lk);
    *val = tc->sems[sem];
    vtpu_mutex_unlock(s->lk);
    return 0;
}

int vtpu_barrier(vtpu_tc *tc)
{
    vtpu_sync *s = tc->chip->sync;
    int rc = 0;

    vtpu_mutex_lock(s->lk);
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
    vtpu_mutex_unlock(s->lk);
    return rc;
}

bool vtpu_sync_tc_blocked(vtpu_chip *chip, unsigned id)
{
    vtpu_sync *s = chip->sync;
    bool blocked;

    vtpu_mutex_lock(s->lk);
    blocked =
        id < s->ntcs && (s->w[id].kind == W_SEM || s->w[id].kind == W_BARRIER);
    vtpu_mutex_unlock(s->lk);
    return blocked;
}

void vtpu_sync_set_lock(vtpu_chip *chip, vtpu_mutex *lock)
{
    chip->sync->lk = lock ? lock : &chip->sync->own;
}

int vtpu_sync_deliver(vtpu_chip *dst, unsigned tc, uint32_t sem, uint32_t n,
                      int src_chip, unsigned src_tc, uint32_t pc, bool dma,
                      char *err, size_t errlen)
{
    vtpu_sync *s = dst->sync;

    if (tc >= dst->cfg.num_tcs) {
        snprintf(err, errlen, "TC %u: the chip has %u TCs", tc,
                 dst->cfg.num_tcs);
        return -1;
    }
    if (sem >= dst->cfg.num_sems) {
        snprintf(err, errlen, "semaphore %u does not exist (%u per TC)", sem,
                 dst->cfg.num_sems);
        return -1;
    }
    vtpu_mutex_lock(s->lk);
    uint32_t *v = &dst->tcs[tc]->sems[sem];
    if (*v > UINT32_MAX - n) {
        uint32_t old = *v;
        vtpu_mutex_unlock(s->lk);
        snprintf(err, errlen, "semaphore %u of TC %u overflows: %u + %u", sem,
                 tc, old, n);
        return -1;
    }
    *v += n;
    sig_rec *r = &s->sig[(size_t)tc * dst->cfg.num_sems + sem];
    r->run = s->run;
    r->pc = pc;
    r->n = n;
    r->by = (uint8_t)src_tc;
    r->by_chip = (int16_t)(src_chip == (int)dst->chip_id ? -1 : src_chip);
    r->dma = dma;
    r->rank = -1;
    if (tc < s->ntcs && s->w[tc].kind == W_SEM && s->w[tc].sem == sem &&
        *v >= s->w[tc].n)
        wake(s, tc);
    vtpu_mutex_unlock(s->lk);
    return 0;
}

int vtpu_sem_signal_remote(vtpu_tc *tc, uint32_t chip, uint32_t sem_tc,
                           uint32_t n)
{
    uint32_t sem = sem_tc & 0xffff, dtc = sem_tc >> 16 & 0xff;
    char err[256];

    if (VTPU_UNLIKELY(chip >= tc->chip->nchips))
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "sem.signal.remote to chip %u: the slice has %u "
                             "chips",
                             chip, tc->chip->nchips);
    if (VTPU_UNLIKELY(sem_tc >> 24))
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "sem.signal.remote: rs2 0x%08x, bits 31:24 must "
                             "be 0",
                             sem_tc);
    if (dtc == XTPU_REMOTE_TC_SAME)
        dtc = tc->id;
    if (VTPU_UNLIKELY(dtc >= tc->ntcs))
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "sem.signal.remote to chip %u TC %u: runs have "
                             "%u TCs",
                             chip, dtc, tc->ntcs);
    if (check_sem(tc, sem))
        return -1;
    if (chip == tc->chip->chip_id) { /* our own chip: sem.signal.tc */
        if (VTPU_UNLIKELY(tc->check))
            vtpu_check_signal(tc, dtc, sem, n); /* happens-before */
        return vtpu_sem_signal(tc, dtc, sem, n);
    }
    vtpu_race_clock rc;
    bool race = false;
    if (VTPU_UNLIKELY(tc->check)) /* across chips too (race.c) */
        race = vtpu_check_signal_remote(tc, chip, dtc, sem, n, &rc);
    if (vtpu_fabric_send_signal(tc, chip, dtc, sem, n, race ? &rc : NULL, err,
                                sizeof(err)))
        return vtpu_tc_fault(tc, VTPU_ERR_SEM, VTPU_SPACE_SEM, sem, 0,
                             "sem.signal.remote to chip %u TC %u: %s", chip,
                             dtc, err);
    return 0;
}

bool vtpu_sync_tc_resting(vtpu_chip *chip, unsigned id)
{
    vtpu_sync *s = chip->sync;
    bool resting;

    vtpu_mutex_lock(s->lk);
    resting = id < s->ntcs && s->w[id].kind != W_RUNNING;
    vtpu_mutex_unlock(s->lk);
    return resting;
}

void vtpu_fabric_stop_local(vtpu_fabric *f)
{
    for (unsigned c = 0; c < vtpu_fabric_nchips(f); c++) {
        vtpu_chip *ch = vtpu_fabric_get(f, c, NULL);
        if (ch) {
            vtpu_chip_stop_run(ch, VTPU_STOP_END);
            vtpu_fabric_put(f, ch);
        }
    }
}
