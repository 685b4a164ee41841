/*
 * run.c - one run of the loaded program: TC 0 on the calling thread,
 * every other started TC on its own host thread (started by the first
 * run that needs it, parked on a condition variable between runs),
 * stopping everyone when one TC faults, and the run's result
 * (docs/execution.md).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "internal.h"

typedef struct run_ctx {
    vtpu_chip *chip;
    atomic_int first_fault; /* id of the TC whose fault is reported, -1 */
} run_ctx;

/*
 * Remember the first TC to fault (in the order their threads get here;
 * pick_fault() refines it) and tell everyone else to stop.  Stopping is
 * VTPU_TC_STOPPED, never a fault, so no fault is caused by this.
 */
static void tc_fault_stop(run_ctx *ctx, vtpu_tc *tc)
{
    int none = -1;

    atomic_compare_exchange_strong(&ctx->first_fault, &none, (int)tc->id);
    vtpu_chip_stop_run(ctx->chip, VTPU_STOP_END);
    /* a slice stops as one (docs/multichip.md) */
    if (ctx->chip->fabric)
        vtpu_fabric_fault(ctx->chip->fabric, ctx->chip);
}

void vtpu_chip_stop_run(vtpu_chip *chip, int bits)
{
    /* The store comes first: each sleeper looks at chip->stop under its
     * sleep's lock, so taking that lock below orders the store before
     * its next look, or finds it asleep and wakes it. */
    atomic_fetch_or(&chip->stop, bits);
    vtpu_sync_stop_all(chip);
    if (chip->gdb)
        vtpu_gdb_wake(chip);
    vtpu_mutex_lock(&chip->q_lock); /* parked TCs (vtpu_tc_park) */
    vtpu_cond_broadcast(&chip->q_cond);
    vtpu_mutex_unlock(&chip->q_lock);
}

/* ------------------------------------------------------------------ */
/* Quiescing and save points (vtpu-snapshot.h)                          */
/* ------------------------------------------------------------------ */

static bool run_ending(vtpu_chip *chip)
{
    return atomic_load(&chip->stop) & VTPU_STOP_ENDING;
}

/* q_lock held.  Every TC of the run parked, blocked or done, and the
 * run not ending (an ending run is quiet only once it is over). */
static bool quiet_locked(vtpu_chip *chip)
{
    if (!chip->run_active)
        return true;
    if (run_ending(chip))
        return false;
    for (unsigned t = 0; t < chip->run_ntcs; t++)
        if (!atomic_load(&chip->tcs[t]->parked) &&
            !vtpu_sync_tc_resting(chip, t) &&
            !(chip->gdb && vtpu_gdb_tc_halted(chip, t)))
            return false;
    return true;
}

/*
 * q_lock held.  Complete the deferred DMAs of blocked TCs: a TC asleep in
 * a wait cannot do it itself, and a snapshot carries no queues.  Every
 * other TC is parked or done, so nobody else touches the queues; a DMA's
 * signal may wake its waiter, which then runs to its next poll and parks.
 * True if anything was completed (quiet must be looked at again).
 */
static bool flush_blocked_dmas(vtpu_chip *chip)
{
    bool any = false;

    for (unsigned t = 0; t < chip->run_ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        if (atomic_load(&tc->parked) || !vtpu_dmaq_pending(tc) ||
            !vtpu_sync_tc_blocked(chip, t))
            continue;
        tc->pause_off = true; /* not on tc's thread: a fault is a fault */
        vtpu_dmaq_sync(tc, -1, true);
        tc->pause_off = false;
        any = true;
    }
    return any;
}

/* q_lock held.  Wait until quiet; deadline_us < 0: for ever.  `member`:
 * the caller is a TC of the run (the save point's): it gives up (-1)
 * once the run ends, which it cannot wait out (the run is not over while
 * it waits here). */
static int wait_quiet_locked(vtpu_chip *chip, int64_t deadline_us, bool member)
{
    for (;;) {
        if (quiet_locked(chip) && !flush_blocked_dmas(chip))
            return 0;
        if (member && run_ending(chip))
            return -1;
        /* Blocked TCs do not broadcast: look again every millisecond. */
        int64_t now = g_get_monotonic_time();
        if (deadline_us >= 0 && now >= deadline_us)
            return -1;
        int64_t until = now + 1000;
        if (deadline_us >= 0 && until > deadline_us)
            until = deadline_us;
        vtpu_cond_wait_until(&chip->q_cond, &chip->q_lock, until);
    }
}

int vtpu_chip_quiesce(vtpu_chip *chip, int64_t timeout_ms)
{
    int64_t deadline =
        timeout_ms < 0 ? -1 : g_get_monotonic_time() + timeout_ms * 1000;

    atomic_fetch_or(&chip->stop, VTPU_STOP_QUIESCE);
    vtpu_mutex_lock(&chip->q_lock);
    int rc = wait_quiet_locked(chip, deadline, false);
    vtpu_mutex_unlock(&chip->q_lock);
    return rc;
}

void vtpu_chip_unquiesce(vtpu_chip *chip)
{
    vtpu_mutex_lock(&chip->q_lock);
    atomic_fetch_and(&chip->stop, ~VTPU_STOP_QUIESCE);
    vtpu_cond_broadcast(&chip->q_cond);
    vtpu_mutex_unlock(&chip->q_lock);
}

bool vtpu_chip_run_active(vtpu_chip *chip)
{
    vtpu_mutex_lock(&chip->q_lock);
    bool active = chip->run_active;
    vtpu_mutex_unlock(&chip->q_lock);
    return active;
}

/* True once the chip is quiet for vtpu_chip_save(). */
bool vtpu_chip_is_quiet(vtpu_chip *chip)
{
    vtpu_mutex_lock(&chip->q_lock);
    bool q = !chip->run_active ||
             ((atomic_load(&chip->stop) & VTPU_STOP_QUIESCE) &&
              quiet_locked(chip));
    vtpu_mutex_unlock(&chip->q_lock);
    return q;
}

void vtpu_chip_set_pause(vtpu_chip *chip, uint32_t tc, uint64_t insns,
                         vtpu_pause_fn fn, void *opaque)
{
    chip->pause_fn = fn;
    chip->pause_opaque = opaque;
    chip->pause_tc = fn ? tc : 0;
    chip->pause_insns = insns;
}

/* The save point is taken once per run, by whoever gets there first. */
static bool take_pause(vtpu_tc *tc)
{
    if (!tc->chip->pause_fn || atomic_exchange(&tc->chip->pause_taken, 1))
        return false;
    tc->pause_hit = true;
    atomic_fetch_or(&tc->chip->stop, VTPU_STOP_QUIESCE);
    return true;
}

void vtpu_tc_pause_point(vtpu_tc *tc)
{
    const vtpu_config *cfg = &tc->chip->cfg;

    tc->pause_at = UINT64_MAX;
    tc->budget = cfg->insn_budget ? cfg->insn_budget : UINT64_MAX;
    take_pause(tc);
}

bool vtpu_tc_fault_pause(vtpu_tc *tc, vtpu_error_kind kind)
{
    /* Not the faults found while blocked or after the run. */
    if (kind == VTPU_ERR_DEADLOCK || kind == VTPU_ERR_SEM_NONZERO ||
        tc->state != VTPU_TC_RUNNING || tc->pause_off)
        return false;
    if (take_pause(tc))
        return true;
    /* Another TC's fault is the save point and the chip is not saved
     * yet: this one waits before its faulting instruction too (it faults
     * again once resumed), rather than end the run under the save. */
    return atomic_load(&tc->chip->stop) & VTPU_STOP_QUIESCE;
}

bool vtpu_tc_park(vtpu_tc *tc)
{
    vtpu_chip *chip = tc->chip;

    if (run_ending(chip))
        return false;
    if (!(atomic_load(&chip->stop) & VTPU_STOP_QUIESCE))
        return true; /* the request went before we got here */
    /* A deferred DMA that faults ends the TC, unless the fault was the
     * save point (the TC is still RUNNING and leads the pause). */
    if (vtpu_dmaq_pending(tc) && vtpu_dmaq_sync(tc, -1, true) &&
        tc->state != VTPU_TC_RUNNING)
        return false;
    vtpu_mutex_lock(&chip->q_lock);
    atomic_store(&tc->parked, true);
    vtpu_cond_broadcast(&chip->q_cond);
    if (tc->pause_hit) {
        tc->pause_hit = false;
        if (!wait_quiet_locked(chip, -1, true) && !run_ending(chip)) {
            vtpu_mutex_unlock(&chip->q_lock);
            chip->pause_fn(chip->pause_opaque, chip, tc->id);
            vtpu_mutex_lock(&chip->q_lock);
        }
        atomic_fetch_and(&chip->stop, ~VTPU_STOP_QUIESCE);
        vtpu_cond_broadcast(&chip->q_cond);
    }
    while ((atomic_load(&chip->stop) & VTPU_STOP_QUIESCE) && !run_ending(chip))
        vtpu_cond_wait(&chip->q_cond, &chip->q_lock);
    atomic_store(&tc->parked, false);
    vtpu_mutex_unlock(&chip->q_lock);
    return !run_ending(chip);
}

void vtpu_chip_abort_clear(vtpu_chip *chip)
{
    atomic_fetch_and(&chip->stop, ~VTPU_STOP_ABORT);
}

/* How long the caller looks for the other TCs' end before sleeping. */
#define SPIN_US 20

/* One TC's part of a run, on whichever thread runs it. */
static void run_tc(run_ctx *ctx, vtpu_tc *tc)
{
    if (tc->state != VTPU_TC_RUNNING) {
        /* resumed from a snapshot in which it had exited already */
    } else if (tc->chip->gdb) {
        vtpu_gdb_tc_main(tc); /* the same, stopping where a debugger asks */
    } else {
        /* Leaving still RUNNING: the stop flag (parked while quiesced) */
        while (tc->state == VTPU_TC_RUNNING) {
            vtpu_tc_execute(tc);
            if (tc->state != VTPU_TC_RUNNING || !vtpu_tc_park(tc))
                break;
        }
    }
    if (VTPU_UNLIKELY(tc->chip->dbg))
        vtpu_dbg_tc_end(tc); /* deferred DMAs, trace (timeline.c) */
    if (tc->state == VTPU_TC_FAULTED)
        tc_fault_stop(ctx, tc);
    else if (tc->state != VTPU_TC_EXITED)
        tc->state = VTPU_TC_STOPPED; /* left the loop because of stop */
    vtpu_sync_tc_done(tc);
}

/*
 * A TC thread: sleep until a run hands it work (tc->go) or the chip goes
 * away.  The hand-off and the completion count go through pool_lock, so
 * everything the caller set up before the run happens before the TC
 * runs, and everything the TC did happens before the caller reads the
 * results.  A wake-up is one futex call each way.
 */
static gpointer tc_thread(gpointer opaque)
{
    vtpu_tc *tc = opaque;
    vtpu_chip *chip = tc->chip;

    vtpu_mutex_lock(&chip->pool_lock);
    for (;;) {
        while (!tc->go && !chip->pool_quit)
            vtpu_cond_wait(&tc->wake, &chip->pool_lock);
        if (!tc->go)
            break; /* pool_quit */
        tc->go = false;
        run_ctx *ctx = chip->pool_ctx;
        vtpu_mutex_unlock(&chip->pool_lock);
        run_tc(ctx, tc);
        vtpu_mutex_lock(&chip->pool_lock);
        if (atomic_fetch_sub(&chip->pool_pending, 1) == 1)
            vtpu_cond_signal(&chip->pool_done);
    }
    vtpu_mutex_unlock(&chip->pool_lock);
    return NULL;
}

void vtpu_chip_join_threads(vtpu_chip *chip)
{
    vtpu_mutex_lock(&chip->pool_lock);
    chip->pool_quit = true;
    vtpu_mutex_unlock(&chip->pool_lock);
    for (unsigned t = 0; t < VTPU_MAX_TCS; t++) {
        vtpu_tc *tc = chip->tcs[t];
        if (!tc || !tc->thread)
            continue;
        vtpu_mutex_lock(&chip->pool_lock);
        vtpu_cond_signal(&tc->wake);
        vtpu_mutex_unlock(&chip->pool_lock);
        g_thread_join(tc->thread);
        tc->thread = NULL;
    }
}

/* Start the threads of TCs 1..ntcs-1 that have none yet.  0, or -1 with
 * msg set (nothing runs then). */
static int start_threads(vtpu_chip *chip, unsigned ntcs, char *msg,
                         size_t len)
{
    for (unsigned t = 1; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        GError *gerr = NULL;
        char name[24];

        if (tc->thread)
            continue;
        snprintf(name, sizeof(name), "vtpu-tc%u", t);
        tc->thread = g_thread_try_new(name, tc_thread, tc, &gerr);
        if (!tc->thread) {
            snprintf(msg, len, "cannot start a thread for TC %u: %s", t,
                     gerr ? gerr->message : "?");
            g_clear_error(&gerr);
            return -1;
        }
    }
    return 0;
}

static void set_chip_error(vtpu_run_result *res, vtpu_error_kind kind,
                           const char *detail)
{
    int32_t chip = res->error.chip; /* vtpu_chip_run set it */

    memset(&res->error, 0, sizeof(res->error));
    res->error.kind = kind;
    res->error.tc = -1;
    res->error.chip = chip;
    snprintf(res->error.detail, sizeof(res->error.detail), "%s", detail);
}

/* A run that cannot start: say why; a collective one still meets the
 * others at the rendezvous, failing their launch too, so that none
 * waits for this chip. */
static int fail_start(vtpu_chip *chip, const vtpu_run_opts *opts,
                      vtpu_run_result *res, const char *detail)
{
    set_chip_error(res, VTPU_ERR_NO_PROGRAM, detail);
    if (opts && opts->collective && chip->fabric) {
        atomic_fetch_and(&chip->stop, VTPU_STOP_ABORT);
        vtpu_fabric_rendezvous(chip->fabric, chip, true);
    }
    return -1;
}

/* Copy tc's fault into the result, naming the function it happened in. */
static void take_fault(const vtpu_chip *chip, const vtpu_tc *tc,
                       vtpu_run_result *res)
{
    uint32_t off = 0;
    const char *sym = vtpu_program_symbol(chip->prog, tc->err.pc, &off);

    res->error = tc->err;
    res->error.tc = (int32_t)tc->id;
    if (sym && !res->error.symbol[0]) {
        snprintf(res->error.symbol, sizeof(res->error.symbol), "%s", sym);
        res->error.sym_offset = off;
    }
}

/*
 * The first fault in time is the one reported: later faults may be its
 * consequences.  But when several TCs hit the same fault (same kind, same
 * pc: one bug in code they all run), which thread got there first is
 * host scheduling noise, so report the lowest-numbered of them and the
 * same program gives the same report every time.
 */
static unsigned pick_fault(const vtpu_chip *chip, unsigned first)
{
    const vtpu_error *e = &chip->tcs[first]->err;

    for (unsigned t = 0; t < first; t++) {
        const vtpu_tc *tc = chip->tcs[t];
        if (tc->state == VTPU_TC_FAULTED && tc->err.kind == e->kind &&
            tc->err.pc == e->pc)
            return t;
    }
    return first;
}

/*
 * A clean run must leave every semaphore at zero: a non-zero one is a
 * signal nobody waited for (often a DMA whose completion was never
 * awaited).  Reports the first by TC, then index.
 */
static int check_sems(vtpu_chip *chip, unsigned ntcs, vtpu_run_result *res)
{
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        for (uint32_t i = 0; i < chip->cfg.num_sems; i++) {
            if (!tc->sems[i])
                continue;
            unsigned more = 0;
            for (uint32_t j = i + 1; j < chip->cfg.num_sems; j++)
                more += tc->sems[j] != 0;
            char origin[400], grid[64];
            vtpu_grid_pt g = {-1, {0}};
            vtpu_mailbox_view v; /* the TC's last grid point */
            if (vtpu_mailbox_read(tc, &v) && v.has_point) {
                g.rank = (int8_t)v.rank;
                memcpy(g.pt, v.point, sizeof(g.pt));
            }
            vtpu_check_grid_fmt(&g, grid, sizeof(grid));
            vtpu_sync_sem_origin(chip, t, i, origin, sizeof(origin));
            vtpu_tc_fault(tc, VTPU_ERR_SEM_NONZERO, VTPU_SPACE_SEM, i, 4,
                          "semaphore %u of TC %u is %u at exit%s%s%s; %s", i, t,
                          tc->sems[i], more ? " (and others)" : "",
                          *grid ? ", after " : "", grid, origin);
            take_fault(chip, tc, res);
            return -1;
        }
    }
    return 0;
}

static int run_tcs(vtpu_chip *chip, unsigned ntcs, vtpu_run_result *res);

int vtpu_chip_run(vtpu_chip *chip, const vtpu_run_opts *opts,
                  vtpu_run_result *res)
{
    unsigned ntcs = opts && opts->num_tcs ? opts->num_tcs : chip->cfg.num_tcs;
    uint64_t budget =
        chip->cfg.insn_budget ? chip->cfg.insn_budget : UINT64_MAX;

    memset(res, 0, sizeof(*res));
    res->error.tc = -1;
    res->error.chip = chip->fabric ? (int32_t)chip->chip_id : -1;
    if (!chip->prog) {
        return fail_start(chip, opts, res, "no program is loaded");
    }
    if (ntcs > chip->cfg.num_tcs) {
        /* There is no "bad argument" kind; the program cannot run. */
        char msg[80];
        snprintf(msg, sizeof(msg), "run asks for %u TCs, the chip has %u", ntcs,
                 chip->cfg.num_tcs);
        return fail_start(chip, opts, res, msg);
    }
    uint32_t ng = opts ? opts->num_hbm_ranges : 0;
    if (ng > VTPU_RUN_MAX_HBM_RANGES || (ng && !opts->hbm_ranges)) {
        char msg[80];
        snprintf(msg, sizeof(msg), "run grants %u HBM ranges, at most %u", ng,
                 VTPU_RUN_MAX_HBM_RANGES);
        return fail_start(chip, opts, res, msg);
    }
    chip->num_grants = ng;
    if (ng)
        memcpy(chip->grants, opts->hbm_ranges, ng * sizeof(chip->grants[0]));

    /*
     * The threads first: failing to start one (the taxonomy has no
     * host-resource kind; see docs/execution.md) must leave nothing
     * running.
     */
    char msg[160];
    if (start_threads(chip, ntcs, msg, sizeof(msg))) {
        return fail_start(chip, opts, res, msg);
    }

    /* Clear what the last run set (END, PAUSE), never an embedder's
     * VTPU_STOP_ABORT or VTPU_STOP_QUIESCE: a request made before this
     * point must end (or park) us. */
    atomic_fetch_and(&chip->stop, VTPU_STOP_ABORT | VTPU_STOP_QUIESCE);
    chip->resume_pending = false;
    vtpu_sync_begin(chip, ntcs);
    /* VMEM_SHARED starts each run zeroed, as every TC's own VMEM does. */
    if (chip->vmem_shared)
        vtpu_dirty_restore(chip->vmem_shared, chip->cfg.vmem_shared_size,
                           chip->vmem_shared_dirty, NULL, 0);
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        vtpu_tc_reset(tc, ntcs);
        tc->prog = chip->prog;
        tc->code = chip->prog->code;
        tc->pc = chip->prog->entry;
        tc->x[2] = VTPU_SMEM_BASE + tc->smem_size;
        tc->x[10] = t;
        tc->x[11] = ntcs;
        for (unsigned i = 0; i < 4; i++)
            tc->x[12 + i] = opts ? opts->args[i] : 0;
        tc->instret = 0;
        tc->budget = budget;
        tc->exit_code = 0;
        memset(&tc->err, 0, sizeof(tc->err));
        memset(&tc->cnt, 0, sizeof(tc->cnt));
        tc->state = VTPU_TC_RUNNING;
    }
    /* Before the rendezvous: other chips write our memories (and the
     * checks' state of them) only after it. */
    if (VTPU_UNLIKELY(chip->check))
        vtpu_check_run_begin(chip, ntcs); /* sets tc->check, tc->code */
    /*
     * A collective run starts when every chip of the slice has reset
     * (its memories may be written by the others from then on).  A stop
     * (reset, removal, a fault elsewhere) ends the wait: nothing ran.
     */
    int rv = opts && opts->collective && chip->fabric
                 ? vtpu_fabric_rendezvous(chip->fabric, chip, false)
                 : 0;
    if (rv) {
        for (unsigned t = 0; t < ntcs; t++) {
            chip->tcs[t]->state = VTPU_TC_STOPPED;
            vtpu_sync_tc_done(chip->tcs[t]);
        }
        if (rv != VTPU_RENDEZVOUS_TIMEOUT)
            return 0;
        vtpu_fabric_params fp;
        vtpu_fabric_get_params(chip->fabric, &fp);
        snprintf(msg, sizeof(msg),
                 "collective launch: not every chip of the slice launched "
                 "within %u ms (launch timeout); nothing ran",
                 fp.launch_timeout_ms);
        set_chip_error(res, VTPU_ERR_DEADLOCK, msg);
        return -1;
    }
    return run_tcs(chip, ntcs, res);
}

int vtpu_chip_run_resume(vtpu_chip *chip, vtpu_run_result *res)
{
    unsigned ntcs = chip->run_ntcs;
    char msg[160];

    memset(res, 0, sizeof(*res));
    res->error.tc = -1;
    if (!chip->resume_pending || !chip->prog || !ntcs ||
        ntcs > chip->cfg.num_tcs) {
        set_chip_error(res, VTPU_ERR_NO_PROGRAM,
                       "no run to resume: load a snapshot saved mid-run");
        return -1;
    }
    if (start_threads(chip, ntcs, msg, sizeof(msg))) {
        set_chip_error(res, VTPU_ERR_NO_PROGRAM, msg);
        return -1;
    }
    atomic_fetch_and(&chip->stop, VTPU_STOP_ABORT | VTPU_STOP_QUIESCE);
    chip->resume_pending = false;
    vtpu_sync_begin(chip, ntcs);
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        tc->prog = chip->prog;
        tc->code = chip->prog->code;
        tc->ntcs = ntcs;
        /* a wait executes again; an exited TC stays so */
        if (tc->state == VTPU_TC_BLOCKED)
            tc->state = VTPU_TC_RUNNING;
    }
    chip->resuming = true; /* check.c: memory is not poisoned again */
    int rc = run_tcs(chip, ntcs, res);
    chip->resuming = false;
    return rc;
}

/* The part of a run after its TCs are set up: start them, wait, collect
 * (vtpu_chip_run and vtpu_chip_run_resume). */
static int run_tcs(vtpu_chip *chip, unsigned ntcs, vtpu_run_result *res)
{
    run_ctx ctx = {.chip = chip};
    int rc = 0;

    atomic_init(&ctx.first_fault, -1);
    atomic_store(&chip->pause_taken, 0);
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        tc->pause_hit = false;
        tc->pause_at = UINT64_MAX;
        if (chip->pause_fn && chip->pause_tc == t) {
            tc->pause_at = chip->pause_insns;
            if (tc->pause_at < tc->budget)
                tc->budget = tc->pause_at;
        }
    }
    if (VTPU_UNLIKELY(chip->dbg))
        vtpu_dbg_run_begin(chip, ntcs);
    if (VTPU_UNLIKELY(chip->check))
        vtpu_check_run_start(chip, ntcs);

    if (chip->gdb)
        vtpu_gdb_run_begin(chip, ntcs);
    vtpu_mutex_lock(&chip->q_lock);
    chip->run_active = true;
    chip->run_ntcs = ntcs;
    vtpu_mutex_unlock(&chip->q_lock);
    /* TCs 1.. on their threads, TC 0 here: a 1-TC run wakes nobody. */
    if (ntcs > 1) {
        vtpu_mutex_lock(&chip->pool_lock);
        chip->pool_ctx = &ctx;
        atomic_store(&chip->pool_pending, ntcs - 1);
        for (unsigned t = 1; t < ntcs; t++)
            chip->tcs[t]->go = true;
        vtpu_mutex_unlock(&chip->pool_lock);
        for (unsigned t = 1; t < ntcs; t++)
            vtpu_cond_signal(&chip->tcs[t]->wake);
    }
    run_tc(&ctx, chip->tcs[0]);
    if (ntcs > 1) {
        /* The other TCs usually end within microseconds of TC 0 (they
         * ran the same grid): look for that a little while before
         * sleeping, which would cost a wake-up (~5 us here) more. */
        int64_t until = g_get_monotonic_time() + SPIN_US;
        for (unsigned i = 0; atomic_load(&chip->pool_pending); i++)
            if ((i & 63) == 63 && g_get_monotonic_time() > until)
                break;
        vtpu_mutex_lock(&chip->pool_lock);
        while (atomic_load(&chip->pool_pending))
            vtpu_cond_wait(&chip->pool_done, &chip->pool_lock);
        chip->pool_ctx = NULL;
        vtpu_mutex_unlock(&chip->pool_lock);
    }

    vtpu_mutex_lock(&chip->q_lock);
    chip->run_active = false;
    vtpu_cond_broadcast(&chip->q_cond);
    vtpu_mutex_unlock(&chip->q_lock);
    /* Every TC is done: their fields are ours to read now. */
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        res->tc_exit[t] = tc->state == VTPU_TC_EXITED ? tc->exit_code : 0;
        res->instret[t] = tc->instret;
        if (!res->exit_code && res->tc_exit[t])
            res->exit_code = res->tc_exit[t];
    }
    int first = atomic_load(&ctx.first_fault);
    if (first >= 0) {
        take_fault(chip, chip->tcs[pick_fault(chip, first)], res);
        rc = -1;
    } else if (!chip->fabric ||
               !(atomic_load(&chip->stop) & VTPU_STOP_ENDING)) {
        /* (a slice chip stopped because another chip faulted: its
         * semaphores say nothing) */
        rc = check_sems(chip, ntcs, res);
    }
    if (chip->gdb)
        vtpu_gdb_run_end(chip, res, rc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Status for monitors (vtpu_chip_tc_status)                            */
/* ------------------------------------------------------------------ */

const char *vtpu_tc_state_name(vtpu_tc_run_state state)
{
    static const char *const names[] = {"idle",   "running", "blocked",
                                        "exited", "faulted", "stopped"};
    return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state]
                                                              : "?";
}

/*
 * The TC's own thread writes these fields without atomics (the
 * interpreter must stay fast); relaxed atomic loads here at least read
 * each field whole.  The pc is only meaningful once the TC has left its
 * loop, which the state says.
 */
int vtpu_chip_tc_status(vtpu_chip *chip, unsigned tc, vtpu_tc_status *out)
{
    memset(out, 0, sizeof(*out));
    if (!chip || tc >= chip->cfg.num_tcs || !chip->tcs[tc])
        return -1;
    vtpu_tc *t = chip->tcs[tc];
    vtpu_tc_state st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);

    switch (st) {
    case VTPU_TC_IDLE:
        out->state = VTPU_TC_STATE_IDLE;
        break;
    case VTPU_TC_RUNNING:
        out->state = VTPU_TC_STATE_RUNNING;
        break;
    case VTPU_TC_BLOCKED:
        out->state = VTPU_TC_STATE_BLOCKED;
        break;
    case VTPU_TC_EXITED:
        out->state = VTPU_TC_STATE_EXITED;
        out->exit_code = __atomic_load_n(&t->exit_code, __ATOMIC_RELAXED);
        break;
    case VTPU_TC_FAULTED:
        out->state = VTPU_TC_STATE_FAULTED;
        break;
    case VTPU_TC_STOPPED:
        out->state = VTPU_TC_STATE_STOPPED;
        break;
    }
    /* a parked TC (quiesced, vtpu-snapshot.h) has left its loop */
    out->pc_valid = st != VTPU_TC_IDLE &&
                    (st != VTPU_TC_RUNNING || atomic_load(&t->parked));
    if (out->pc_valid)
        out->pc = st == VTPU_TC_FAULTED
                      ? __atomic_load_n(&t->err.pc, __ATOMIC_RELAXED)
                      : __atomic_load_n(&t->pc, __ATOMIC_RELAXED);
    out->instret = __atomic_load_n(&t->instret, __ATOMIC_RELAXED);
    return 0;
}
