/*
 * gdbstub-priv.h - what the two halves of the gdb stub share
 * (gdbstub.c: run control on the TC side; gdbstub-rsp.c: the remote
 * protocol server).  docs/debugging.md, "Debugging kernels".
 *
 * Everything here is guarded by vtpu_gdb.lock unless a comment says
 * otherwise.
 */
#ifndef VTPU_GDBSTUB_PRIV_H
#define VTPU_GDBSTUB_PRIV_H

#include "fpu.h"
#include "gdbstub.h"
#include "vpu.h"

/* gdb's signal numbers (enum gdb_signal), as the protocol carries them. */
enum {
    SIG_INT = 2,
    SIG_ILL = 4,
    SIG_TRAP = 5,
    SIG_ABRT = 6,
    SIG_BUS = 10,
    SIG_SEGV = 11,
    SIG_SYS = 12,
    SIG_XCPU = 24,
};

#define MAX_PACKET 0x10000 /* what we accept; advertised as PacketSize */
#define MAX_BPS 64
#define MAX_WPS 16
#define HBM_WINDOW 0x40000000u
#define HBM_WINDOW_SIZE 0xc0000000u
#define NREGS_G 68 /* x0-x31, pc, f0-f31, fflags, frm, fcsr */
#define REG_V0 69
#define REG_M0 (REG_V0 + VTPU_NUM_VREGS)
#define REG_END (REG_M0 + VTPU_NUM_MASKS)

typedef enum tc_run {
    T_IDLE = 0, /* not part of a run */
    T_RUN,      /* executing (or blocked in a semaphore wait/barrier) */
    T_HALT,     /* sleeping in the stub until resumed */
    T_DONE,     /* its thread has finished */
} tc_run;

typedef enum step_mode {
    M_NONE = 0,
    M_STEP,     /* gdb's single step: halt at the trap */
    M_STEPOVER, /* ran a patched instruction: re-patch and go on */
    M_WATCH,    /* ran an access a watchpoint wants: report it */
} step_mode;

typedef enum resume_act {
    A_STAY = 0,
    A_CONT,
    A_STEP,
} resume_act;

typedef enum ev_kind {
    EV_NONE = 0,
    EV_BREAK, /* breakpoint */
    EV_STEP,  /* single step done */
    EV_FAULT, /* fault or ebreak */
    EV_START, /* stopped at the start of a run (launch-break) */
    EV_WATCH, /* an access hit watchpoint t->watch */
} ev_kind;

/* Z2/Z3/Z4: SMEM or VMEM bytes [addr, addr + len). */
typedef struct watchpoint {
    uint32_t addr, len;
    int type; /* 2 write, 3 read, 4 access */
} watchpoint;

typedef struct gdb_tc {
    tc_run state;
    resume_act act; /* set by the server with state = T_RUN */
    int act_sig;    /* signal gdb resumed a faulted TC with */
    ev_kind ev;     /* why it halted (EV_NONE: asked to pause) */
    int ev_sig;
    uint64_t ev_seq;  /* order of events; 0 = reported or none */
    vtpu_insn *code;  /* private copy of the program, patched */
    int32_t step_idx; /* instruction index of the planted step trap, -1 */
    int32_t exec_idx; /* index left unpatched to run it once, -1 */
    step_mode mode;
    int watch_hit;    /* index + 1 in g->wp of the watchpoint the
                         stepped instruction hits, 0 = none */
    watchpoint watch; /* the one reported with EV_WATCH */
} gdb_tc;

struct vtpu_gdb {
    vtpu_chip *chip;
    unsigned flags;
    int lfd; /* listening socket */
    int cfd; /* connection, -1 */
    int port;
    GThread *thread;
    atomic_int quit;

    vtpu_mutex lock;
    vtpu_cond cond;
    bool connected;   /* a debugger is attached */
    bool gdb_running; /* gdb waits for a stop reply */
    bool pausing;     /* everyone must halt (all-stop) */
    bool run_active;  /* between run_begin and run_end */
    bool run_over;    /* ONE_RUN: the run ended, not yet reported */
    bool killed;
    bool launch_break; /* stop at the start of every run */
    unsigned ntcs;     /* TCs of the current or last run */
    unsigned runs;     /* runs begun */
    unsigned cur_g;    /* TC for registers/memory (Hg) */
    uint64_t seq;
    gdb_tc t[VTPU_MAX_TCS];
    uint32_t bp[MAX_BPS];
    unsigned nbp;
    watchpoint wp[MAX_WPS];
    unsigned nwp;
    const void *h_mem[VTPU_OP__COUNT]; /* handlers of memory accesses */
    unsigned nh_mem;
    uint64_t hbm_base;
    int exit_status; /* W value, or -signal for X */
    const void *h_debug;
    const void *const *handlers;

    /* server side: input buffer */
    uint8_t in[4096];
    size_t in_len, in_pos;
    char pkt[MAX_PACKET + 1];
    char out[2 * VTPU_VREG_BYTES + 64];
};

/* ---- gdbstub.c, for the server (lock held) ---- */
/* Is there a breakpoint at pc? */
bool vtpu_gdbs_bp_has(const vtpu_gdb *g, uint32_t pc);
/* Re-patch the instruction at pc in every TC's copy (breakpoints). */
void vtpu_gdbs_refresh_all_tcs(vtpu_gdb *g, uint32_t pc);
/* Re-patch every instruction (watchpoints armed or disarmed). */
void vtpu_gdbs_refresh_everything(vtpu_gdb *g);
/* Has every TC of the run halted, finished or blocked? */
bool vtpu_gdbs_quiescent(vtpu_gdb *g);
/* Halt everything (all-stop) and wait until it is so. */
void vtpu_gdbs_stop_all(vtpu_gdb *g);
/* The TC whose unreported event came first, or -1. */
int vtpu_gdbs_first_event(vtpu_gdb *g);
/* Drop pending events gdb could not make sense of any more. */
void vtpu_gdbs_drop_stale_events(vtpu_gdb *g);

#endif /* VTPU_GDBSTUB_PRIV_H */
