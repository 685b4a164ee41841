/*
 * gdbstub.c - the gdb stub's run control: TCs halting, stepping and
 * breakpoints (gdbstub.h; the protocol is gdbstub-rsp.c; docs/debugging.md,
 * "Debugging kernels").
 *
 * Two sides share one lock (g->lock):
 *
 * - the server thread speaks the protocol on one TCP connection at a time
 *   (framing, checksums, acks, Ctrl-C) and decides what the TCs do;
 * - each TC's own thread, in the hooks the engine calls (internal.h),
 *   "halts" by sleeping on g->cond until the server resumes it, and does
 *   all patching of its private code copy itself when resumed.
 *
 * All-stop: an event on one TC (breakpoint, step done, fault) sets the
 * chip's VTPU_STOP_PAUSE bit, which the other TCs see at their next taken
 * branch and halt.  A TC sleeping in a semaphore wait or the barrier counts
 * as stopped as it is: nothing can wake it while every runnable TC halts.
 *
 * Breakpoints and steps never cost the engine a per-instruction check:
 * while a debugger is attached each TC runs a private copy of the
 * pre-decoded program, and a trap is an instruction whose handler is
 * DEBUG.  A breakpoint patches every TC's copy; a single step patches the
 * one successor of the instruction (computed here from the registers) in
 * the stepping TC's copy; resuming from a breakpoint runs the original
 * instruction with a step trap behind it, and re-patches.
 */
#include <string.h>

#include "gdbstub-priv.h"

/* ------------------------------------------------------------------ */
/* Code patching (TC side, or server side while the TC cannot run)      */
/* ------------------------------------------------------------------ */

bool vtpu_gdbs_bp_has(const vtpu_gdb *g, uint32_t pc)
{
    for (unsigned i = 0; i < g->nbp; i++)
        if (g->bp[i] == pc)
            return true;
    return false;
}

static uint32_t code_words(const vtpu_tc *tc)
{
    return tc->prog ? tc->prog->code_words : 0;
}

/* Does `in` read or write SMEM or VMEM (what a watchpoint watches)? */
static bool is_access(const vtpu_gdb *g, const vtpu_insn *in)
{
    for (unsigned i = 0; i < g->nh_mem; i++)
        if (g->h_mem[i] == in->h) {
            if (i + 1 < g->nh_mem)
                return true;
            /* the last one is XTPU: only custom-1 VLD/VLD.M/VST/VST.M */
            uint32_t raw = (uint32_t)in->imm;
            return XTPU_OPCODE(raw) == XTPU_OPC_VXFER &&
                   XTPU_FUNCT7(raw) <= XTPU_VST_M;
        }
    return false;
}

/* Put into t's copy at idx what it must hold now. */
static void refresh(vtpu_gdb *g, vtpu_tc *tc, int32_t idx)
{
    gdb_tc *t = &g->t[tc->id];

    if (!t->code || idx < 0 || (uint32_t)idx >= code_words(tc))
        return;
    t->code[idx] = tc->prog->code[idx];
    if (idx != t->exec_idx &&
        (idx == t->step_idx || vtpu_gdbs_bp_has(g, VTPU_IMEM_BASE + 4u * idx) ||
         (g->nwp && is_access(g, &tc->prog->code[idx]))))
        t->code[idx].h = g->h_debug;
}

/* Every instruction of every TC (watchpoints armed or disarmed). */
void vtpu_gdbs_refresh_everything(vtpu_gdb *g)
{
    for (unsigned i = 0; i < g->ntcs && g->run_active; i++) {
        vtpu_tc *tc = g->chip->tcs[i];
        for (uint32_t w = 0; w < code_words(tc); w++)
            refresh(g, tc, (int32_t)w);
    }
}

static bool overlaps(const watchpoint *w, uint64_t a, uint64_t len)
{
    return a < (uint64_t)w->addr + w->len && w->addr < a + len;
}

/*
 * The watchpoint (index + 1) that the instruction at tc->pc hits with the
 * registers as they are, or 0.  Masked vector accesses count whole rows.
 */
static int watch_hit(const vtpu_gdb *g, const vtpu_tc *tc)
{
    uint32_t idx = (tc->pc - VTPU_IMEM_BASE) / 4;

    if (!g->nwp || (tc->pc & 3) || idx >= code_words(tc))
        return 0;
    const vtpu_insn *in = &tc->prog->code[idx];
    if (!is_access(g, in))
        return 0;
    int op = -1;
    for (int i = 0; i < VTPU_OP__COUNT && op < 0; i++)
        if (g->handlers[i] == in->h)
            op = i;
    bool store;
    uint32_t size = 4, addr = tc->x[in->rs1] + (uint32_t)in->imm;
    int32_t stride = 0;
    unsigned rows = 1;
    switch (op) {
    case VTPU_OP_LB:
    case VTPU_OP_LBU:
        size = 1;
        store = false;
        break;
    case VTPU_OP_LH:
    case VTPU_OP_LHU:
        size = 2;
        store = false;
        break;
    case VTPU_OP_LW:
    case VTPU_OP_FLW:
        store = false;
        break;
    case VTPU_OP_SB:
        size = 1;
        store = true;
        break;
    case VTPU_OP_SH:
        size = 2;
        store = true;
        break;
    case VTPU_OP_SW:
    case VTPU_OP_FSW:
        store = true;
        break;
    default: { /* VLD/VST: 8 rows of 128 words, x[rs2] bytes apart */
        uint32_t raw = (uint32_t)in->imm;
        store = XTPU_FUNCT7(raw) >= XTPU_VST;
        addr = tc->x[XTPU_RS1(raw)];
        stride = (int32_t)tc->x[XTPU_RS2(raw)];
        size = VTPU_LANES * 4;
        rows = VTPU_SUBLANES;
    }
    }
    for (unsigned w = 0; w < g->nwp; w++) {
        const watchpoint *wp = &g->wp[w];
        if ((wp->type == 2 && !store) || (wp->type == 3 && store))
            continue;
        for (unsigned r = 0; r < rows; r++)
            if (overlaps(wp, (uint32_t)(addr + (int64_t)r * stride), size))
                return (int)w + 1;
    }
    return 0;
}

void vtpu_gdbs_refresh_all_tcs(vtpu_gdb *g, uint32_t pc)
{
    for (unsigned i = 0; i < g->ntcs; i++)
        refresh(g, g->chip->tcs[i], (int32_t)((pc - VTPU_IMEM_BASE) / 4));
}

/* Undo a planted step (trap and left-out instruction). */
static void unplant(vtpu_gdb *g, vtpu_tc *tc)
{
    gdb_tc *t = &g->t[tc->id];
    int32_t s = t->step_idx, e = t->exec_idx;

    t->step_idx = t->exec_idx = -1;
    t->mode = M_NONE;
    refresh(g, tc, s);
    refresh(g, tc, e);
}

static int op_of(const vtpu_gdb *g, const void *h)
{
    for (int i = 0; i < VTPU_OP__COUNT; i++)
        if (g->handlers[i] == h)
            return i;
    return -1;
}

static bool branch_taken(unsigned f3, uint32_t a, uint32_t b)
{
    switch (f3) {
    case 0:
        return a == b;
    case 1:
        return a != b;
    case 4:
        return (int32_t)a < (int32_t)b;
    case 5:
        return (int32_t)a >= (int32_t)b;
    case 6:
        return a < b;
    default:
        return a >= b;
    }
}

/* The pc after the instruction at tc->pc, given the registers now. */
static uint32_t next_pc(const vtpu_gdb *g, const vtpu_tc *tc,
                        const vtpu_insn *in)
{
    uint32_t pc = tc->pc, a = tc->x[in->rs1], b = tc->x[in->rs2];
    static const unsigned f3_of[] = {0, 1, 4, 5, 6, 7};

    switch (op_of(g, in->h)) {
    case VTPU_OP_JAL:
        return pc + 4u * (uint32_t)in->imm;
    case VTPU_OP_JALR:
        return (a + (uint32_t)in->imm) & ~1u;
    case VTPU_OP_BEQ:
    case VTPU_OP_BNE:
    case VTPU_OP_BLT:
    case VTPU_OP_BGE:
    case VTPU_OP_BLTU:
    case VTPU_OP_BGEU:
        return branch_taken(f3_of[op_of(g, in->h) - VTPU_OP_BEQ], a, b)
                   ? pc + 4u * (uint32_t)in->imm
                   : pc + 4;
    case VTPU_OP_BR_SLOW:
        return branch_taken(in->rs3, a, b) ? pc + (uint32_t)in->imm : pc + 4;
    default:
        return pc + 4;
    }
}

/*
 * Arrange for the instruction at tc->pc to run once (unpatched) with a
 * trap on its successor, in `mode`.  Returns 1 if the step is already
 * complete (an instruction that jumps to itself: done here).
 */
static int plant_step(vtpu_gdb *g, vtpu_tc *tc, step_mode mode)
{
    gdb_tc *t = &g->t[tc->id];
    uint32_t n = code_words(tc), idx = (tc->pc - VTPU_IMEM_BASE) / 4;

    unplant(g, tc);
    t->watch_hit = mode == M_STEPOVER ? 0 : watch_hit(g, tc);
    if (t->watch_hit)
        t->watch = g->wp[t->watch_hit - 1];
    if (!t->code || (tc->pc & 3) || idx >= n)
        return 0; /* the fetch faults; nothing to plant */
    const vtpu_insn *in = &tc->prog->code[idx];
    uint32_t np = next_pc(g, tc, in), nidx = (np - VTPU_IMEM_BASE) / 4;
    if (np == tc->pc) {
        int op = op_of(g, in->h);
        if (op == VTPU_OP_JAL || op == VTPU_OP_JALR)
            tc->x[in->rd] = tc->pc + 4;
        tc->instret++;
        return mode == M_STEP;
    }
    t->mode = mode;
    t->exec_idx = (int32_t)idx;
    refresh(g, tc, (int32_t)idx);
    if (!(np & 3) && nidx < n) {
        t->step_idx = (int32_t)nidx;
        refresh(g, tc, (int32_t)nidx);
    } else if (mode == M_STEPOVER) {
        /* No successor to trap on (it will fault); re-patch at once. */
        t->exec_idx = -1;
        t->mode = M_NONE;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Halting (TC side)                                                    */
/* ------------------------------------------------------------------ */

static bool ending(const vtpu_gdb *g)
{
    return g->killed || (atomic_load(&g->chip->stop) & VTPU_STOP_ENDING);
}

/* Ask every running TC to halt (lock held). */
static void request_pause(vtpu_gdb *g)
{
    g->pausing = true;
    atomic_fetch_or(&g->chip->stop, VTPU_STOP_PAUSE);
}

/*
 * Halt tc with event `ev` (EV_NONE: because of a pause) and sleep until
 * the server resumes it; then prepare what it was resumed for.  Lock
 * held.  0 = continue at tc->pc, -1 = leave (the run ends).
 */
static int halt(vtpu_gdb *g, vtpu_tc *tc, ev_kind ev, int sig)
{
    gdb_tc *t = &g->t[tc->id];

    for (;;) {
        t->state = T_HALT;
        t->ev = ev;
        t->ev_sig = sig;
        t->ev_seq = ev != EV_NONE ? ++g->seq : 0;
        if (ev != EV_NONE)
            request_pause(g);
        vtpu_cond_broadcast(&g->cond);
        /* Whatever ends the halt broadcasts g->cond under the lock: the
         * server resuming, a kill, or vtpu_chip_stop_run() (a fault on
         * another TC, a device reset) through vtpu_gdb_wake(). */
        while (t->state == T_HALT && !ending(g))
            vtpu_cond_wait(&g->cond, &g->lock);
        if (t->state == T_HALT) { /* the run ends under us */
            t->state = T_RUN;
            return -1;
        }
        if (t->act != A_STEP) {
            /* Continue; off a breakpoint by stepping over it. */
            if (vtpu_gdbs_bp_has(g, tc->pc))
                plant_step(g, tc, M_STEPOVER);
            else
                unplant(g, tc);
            return 0;
        }
        if (!plant_step(g, tc, M_STEP))
            return 0;
        ev = EV_STEP; /* finished already: report it */
        sig = SIG_TRAP;
    }
}

bool vtpu_gdb_tc_halted(vtpu_chip *chip, unsigned id)
{
    vtpu_gdb *g = chip->gdb;

    if (!g || id >= VTPU_MAX_TCS)
        return false;
    vtpu_mutex_lock(&g->lock);
    bool halted = g->t[id].state == T_HALT;
    vtpu_mutex_unlock(&g->lock);
    return halted;
}

int vtpu_gdb_pause(vtpu_tc *tc)
{
    vtpu_gdb *g = tc->chip->gdb;
    int r = -1;

    vtpu_mutex_lock(&g->lock);
    if (ending(g))
        r = -1;
    else if (!g->pausing)
        r = 0; /* the pause is over already */
    else
        r = halt(g, tc, EV_NONE, 0);
    vtpu_mutex_unlock(&g->lock);
    return r;
}

int vtpu_gdb_trap(vtpu_tc *tc)
{
    vtpu_gdb *g = tc->chip->gdb;
    gdb_tc *t = &g->t[tc->id];
    int32_t idx = (int32_t)((tc->pc - VTPU_IMEM_BASE) / 4);
    int r = 0;

    vtpu_mutex_lock(&g->lock);
    if (idx == t->step_idx) {
        step_mode m = t->mode;
        bool hit = t->watch_hit != 0;
        unplant(g, tc);
        if ((m == M_STEP || m == M_WATCH) && g->connected)
            r = halt(g, tc, hit ? EV_WATCH : EV_STEP, SIG_TRAP);
        else if (vtpu_gdbs_bp_has(g, tc->pc) && g->connected)
            r = halt(g, tc, EV_BREAK, SIG_TRAP);
        /* else go on; the instruction here may be a trap of its own */
    } else if (vtpu_gdbs_bp_has(g, tc->pc) && g->connected) {
        r = halt(g, tc, EV_BREAK, SIG_TRAP);
    } else if (g->nwp && g->connected && is_access(g, &tc->prog->code[idx])) {
        /* run it; report after it if it hits a watchpoint */
        plant_step(g, tc, watch_hit(g, tc) ? M_WATCH : M_STEPOVER);
    } else {
        refresh(g, tc, idx); /* stale trap: run the instruction */
    }
    if (!r && ending(g))
        r = -1;
    vtpu_mutex_unlock(&g->lock);
    return r;
}

static int fault_signal(vtpu_error_kind k)
{
    switch (k) {
    case VTPU_ERR_EBREAK:
        return SIG_TRAP;
    case VTPU_ERR_ILLEGAL_INSN:
        return SIG_ILL;
    case VTPU_ERR_MISALIGNED:
        return SIG_BUS;
    case VTPU_ERR_OOB:
    case VTPU_ERR_SCALAR_VMEM:
    case VTPU_ERR_DMA:
        return SIG_SEGV;
    case VTPU_ERR_WATCHDOG:
        return SIG_XCPU;
    case VTPU_ERR_DEADLOCK:
        return SIG_ABRT;
    default:
        return SIG_SYS;
    }
}

/* A fault while attached: 0 = run again from tc->pc, -1 = let it end. */
static int on_fault(vtpu_gdb *g, vtpu_tc *tc)
{
    gdb_tc *t = &g->t[tc->id];
    int sig = fault_signal(tc->err.kind);
    uint32_t pc = tc->pc;

    if (!g->connected || ending(g))
        return -1;
    unplant(g, tc);
    t->act_sig = 0;
    if (halt(g, tc, EV_FAULT, sig) < 0)
        return -1;
    if (t->act_sig) /* resumed with the signal: the fault ends the run */
        return -1;
    if (tc->err.kind == VTPU_ERR_EBREAK && tc->pc == pc) {
        tc->pc += 4; /* go on after the ebreak */
        if (t->act == A_STEP)
            plant_step(g, tc, M_STEP); /* the step starts after it */
    }
    memset(&tc->err, 0, sizeof(tc->err));
    tc->state = VTPU_TC_RUNNING;
    return 0;
}

void vtpu_gdb_tc_main(vtpu_tc *tc)
{
    vtpu_gdb *g = tc->chip->gdb;
    gdb_tc *t = &g->t[tc->id];
    int r = 0;

    vtpu_mutex_lock(&g->lock);
    if (g->connected &&
        (g->pausing || g->launch_break || (g->flags & VTPU_GDB_STOP_AT_START)))
        r = halt(g, tc, g->pausing ? EV_NONE : EV_START,
                 g->pausing ? 0 : SIG_TRAP);
    vtpu_mutex_unlock(&g->lock);

    while (r == 0) {
        vtpu_tc_execute(tc);
        /* still running: a quiesce request parked it (run.c) */
        if (tc->state == VTPU_TC_RUNNING &&
            (atomic_load(&tc->chip->stop) & VTPU_STOP_QUIESCE) &&
            vtpu_tc_park(tc))
            continue;
        if (tc->state != VTPU_TC_FAULTED)
            break;
        vtpu_mutex_lock(&g->lock);
        r = on_fault(g, tc);
        vtpu_mutex_unlock(&g->lock);
    }

    vtpu_mutex_lock(&g->lock);
    bool stepping = t->mode == M_STEP;
    unplant(g, tc);
    t->state = T_DONE;
    if (stepping && tc->state == VTPU_TC_EXITED && g->connected) {
        /* gdb waits for this step: tell it where the TC ended */
        t->ev = EV_STEP;
        t->ev_sig = SIG_TRAP;
        t->ev_seq = ++g->seq;
        request_pause(g);
    }
    vtpu_cond_broadcast(&g->cond);
    vtpu_mutex_unlock(&g->lock);
}

void vtpu_gdb_run_begin(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_gdb *g = chip->gdb;

    vtpu_mutex_lock(&g->lock);
    g->ntcs = ntcs;
    g->runs++;
    g->run_active = true;
    g->run_over = false;
    g->killed = false;
    if (g->cur_g >= ntcs)
        g->cur_g = 0;
    for (unsigned i = 0; i < ntcs; i++) {
        vtpu_tc *tc = chip->tcs[i];
        gdb_tc *t = &g->t[i];
        g_free(t->code);
        t->code =
            g_memdup2(tc->prog->code, tc->prog->code_words * sizeof(vtpu_insn));
        t->step_idx = t->exec_idx = -1;
        t->mode = M_NONE;
        t->ev = EV_NONE;
        t->ev_seq = 0;
        t->state = T_RUN;
        tc->code = t->code;
        if (g->nwp) /* every memory access is a trap */
            for (uint32_t w = 0; w < tc->prog->code_words; w++)
                refresh(g, tc, (int32_t)w);
        for (unsigned b = 0; b < g->nbp; b++)
            refresh(g, tc, (int32_t)((g->bp[b] - VTPU_IMEM_BASE) / 4));
    }
    vtpu_cond_broadcast(&g->cond);
    vtpu_mutex_unlock(&g->lock);
}

void vtpu_gdb_wake(vtpu_chip *chip)
{
    vtpu_gdb *g = chip->gdb;

    vtpu_mutex_lock(&g->lock);
    vtpu_cond_broadcast(&g->cond);
    vtpu_mutex_unlock(&g->lock);
}

void vtpu_gdb_run_end(vtpu_chip *chip, const vtpu_run_result *res, int rc)
{
    vtpu_gdb *g = chip->gdb;

    vtpu_mutex_lock(&g->lock);
    for (unsigned i = 0; i < g->ntcs; i++) {
        vtpu_tc *tc = chip->tcs[i];
        tc->code = tc->prog ? tc->prog->code : NULL;
        g_free(g->t[i].code);
        g->t[i].code = NULL;
        g->t[i].state = T_IDLE;
        g->t[i].ev_seq = 0;
    }
    g->run_active = false;
    g->pausing = false;
    atomic_fetch_and(&chip->stop, ~VTPU_STOP_PAUSE);
    if (rc && res->error.kind != VTPU_ERR_NONE)
        g->exit_status = -fault_signal(res->error.kind);
    else
        g->exit_status = res->exit_code & 0xff;
    if (g->flags & VTPU_GDB_ONE_RUN)
        g->run_over = true;
    vtpu_cond_broadcast(&g->cond);
    vtpu_mutex_unlock(&g->lock);
}

/* ------------------------------------------------------------------ */
/* Server side: stopping and resuming                                   */
/* ------------------------------------------------------------------ */

/* Lock held: has every TC of the run halted, finished or blocked? */
bool vtpu_gdbs_quiescent(vtpu_gdb *g)
{
    if (!g->run_active)
        return true;
    for (unsigned i = 0; i < g->ntcs; i++) {
        tc_run s = g->t[i].state;
        if (s == T_HALT || s == T_DONE)
            continue;
        if (!vtpu_sync_tc_blocked(g->chip, i))
            return false;
    }
    return true;
}

/* Lock held: halt everything (all-stop) and wait until it is so. */
void vtpu_gdbs_stop_all(vtpu_gdb *g)
{
    request_pause(g);
    while (!vtpu_gdbs_quiescent(g) && !atomic_load(&g->quit)) {
        gint64 end = g_get_monotonic_time() + 5 * G_TIME_SPAN_MILLISECOND;
        vtpu_cond_wait_until(&g->cond, &g->lock, end);
    }
}

/* Lock held: the TC whose unreported event came first, or -1. */
int vtpu_gdbs_first_event(vtpu_gdb *g)
{
    int best = -1;

    for (unsigned i = 0; i < g->ntcs && g->run_active; i++) {
        gdb_tc *t = &g->t[i];
        if (!t->ev_seq)
            continue;
        if (best < 0 || t->ev_seq < g->t[best].ev_seq)
            best = (int)i;
    }
    return best;
}

/* Drop pending events gdb could not make sense of any more. */
void vtpu_gdbs_drop_stale_events(vtpu_gdb *g)
{
    for (unsigned i = 0; i < g->ntcs; i++) {
        gdb_tc *t = &g->t[i];
        vtpu_tc *tc = g->chip->tcs[i];
        if (t->ev_seq && (t->ev == EV_STEP || t->ev == EV_START ||
                          (t->ev == EV_WATCH && !g->nwp) ||
                          (t->ev == EV_BREAK && !vtpu_gdbs_bp_has(g, tc->pc))))
            t->ev_seq = 0;
    }
}
