/*
 * internal.h - what the engine's modules share with each other.
 *
 * Module ownership (one concept per file):
 *   config.c    presets and overrides            vtpu.h config API
 *   chip.c      chip lifetime, memories, output  vtpu.h chip API
 *   dirty.c     pages written since a reset      vtpu_dirty_*()
 *   elf.c       ELF loading, symbols             vtpu_program
 *   decode.c    RV32IMF decoder -> vtpu_insn     vtpu_decode_program()
 *   interp.c    the interpreter loop, CSRs, ecall vtpu_tc_execute()
 *   fpu.c       RV32F arithmetic exact to the spec
 *   xtpu.c      Xtpu decode/dispatch             vtpu_xtpu_*()
 *   vpu.c       vector unit                       vpu.h
 *   mxu.c       matrix unit                       mxu.h
 *   xtpu_sync.c Xtpu custom-3: DMA/semaphore/barrier decode+exec
 *   dma.c       DMA engines                       vtpu_dma_start()
 *   sync.c      semaphores, barrier, deadlock    vtpu_sem_*(), vtpu_barrier()
 *   topology.c  slice shapes, routes             vtpu-slice.h topology
 *   fabric.c    chips joined: remote DMA/signals vtpu-slice.h fabric
 *   slice.c     N local chips run together       vtpu-slice.h slice
 *   run.c       one run: threads, stop, results  vtpu_chip_run()
 *               quiescing, save points, resume   vtpu-snapshot.h
 *   snapshot.c  chip state as a stream and back  vtpu_chip_save/load()
 *   error.c     taxonomy names, formatting, vtpu_tc_fault()
 *   gdbstub.c   debugger run control; the RSP    gdbstub.h
 *               server is gdbstub-rsp.c
 *   check.c     the checks' framework and hooks  check.h
 *   race.c      race detection                   check.h
 *   poison.c    uninitialised-memory check       check.h
 *   bounds.c    buffer bounds check              check.h
 *   padding.c   reads of edge-block padding      check.h
 *   regions.c   the TC runtime's region table    check.h
 *   dmaq.c      deferred DMA orders              vtpu-debug.h
 *   timeline.c  trace, counters, output tags     vtpu-debug.h
 */
#ifndef VTPU_INTERNAL_H
#define VTPU_INTERNAL_H

#include <glib.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "vtpu.h"
#include "vtpu-debug.h"
#include "vtpu-snapshot.h"
#include "vtpu-launch.h"
#include "vtpu-slice.h"
#include "vtpu-thread.h"

#define VTPU_LIKELY(x) __builtin_expect(!!(x), 1)
#define VTPU_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * An AVX2 clone of a function on x86-64 hosts (vpu.c, mxu.c, dma.c);
 * its results are the same as the default's (no FMA, the same order).
 * Not under TSan: the clones' ifunc resolver is instrumented and runs
 * at load time, before the TSan runtime is up (a crash at start).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    !defined(__SANITIZE_THREAD__)
#define VTPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VTPU_CLONES
#endif

/*
 * memcpy of n bytes through the C library.  GCC expands a memcpy of a
 * constant 512 or 4096 bytes (a vreg row, a vreg) inline as `rep movsq`,
 * several times slower than the library's vector loop on the hosts
 * measured (docs/multichip.md, "Speed": vector loads and stores were 40%
 * of an all-reduce's time); hiding the size keeps the call.
 */
static inline void vtpu_bulk_copy(void *dst, const void *src, size_t n)
{
    __asm__("" : "+r"(n));
    memcpy(dst, src, n);
}

typedef struct vtpu_tc vtpu_tc;
typedef struct vtpu_vpu vtpu_vpu;   /* vpu.h */
typedef struct vtpu_mxu vtpu_mxu;   /* mxu.h */
typedef struct vtpu_sync vtpu_sync; /* sync.c: chip-wide */
typedef struct vtpu_gdb vtpu_gdb;   /* gdbstub.c: debugger stub */
typedef struct vtpu_dbg vtpu_dbg;   /* timeline.c: debugging aids */
typedef struct vtpu_dmaq vtpu_dmaq; /* dmaq.c: a TC's deferred DMAs */

/*
 * One pre-decoded instruction.  The decoder fills every field once per
 * loaded program; the interpreter never looks at the raw word again.
 * For Xtpu (custom-0..3) instructions `imm` holds the raw instruction word
 * and rd/rs1/rs2 its register fields, for vtpu_xtpu_exec().
 */
typedef struct vtpu_insn {
    const void *h; /* interpreter handler (a label address in interp.c) */
    uint8_t rd;    /* destination; writes to x0 are redirected to x[32] */
    uint8_t rs1, rs2, rs3;
    int32_t imm;
} vtpu_insn;

typedef struct vtpu_symbol {
    uint32_t addr, size;
    char *name;
} vtpu_symbol;

/* A loaded program: read-only while TCs run, shared by all of them. */
typedef struct vtpu_program {
    vtpu_insn *code;      /* one per 4-byte word of IMEM image */
    uint32_t code_words;  /* words of code from VTPU_IMEM_BASE */
    uint32_t *text;       /* raw IMEM words (for debuggers, disassembly) */
    /* chip.c: the ELF image it was loaded from (snapshot.c saves it) */
    uint8_t *elf;
    uint32_t elf_len;
    uint8_t *smem_image;  /* initial SMEM contents (.data, zeroed .bss) */
    uint32_t smem_image_len;
    /* The image's bytes up to its last non-zero one (the rest, .bss
     * mostly, is zeros: a reset writes only these, dirty.c) */
    uint32_t smem_image_used;
    /* Bytes from SMEM's base that C gives values (.data, .bss: up to
     * __heap_start, or __bss_end); the heap and stack after them start
     * undefined (poison.c).  smem_image_len without those symbols. */
    uint32_t smem_defined;
    uint32_t entry;
    vtpu_symbol *syms;    /* function symbols sorted by addr */
    uint32_t nsyms;
    /* chip.c: this chip's serial number for the program (never 0), so
     * that a TC knows which image its SMEM holds (a freed program's
     * address may be reused) */
    uint64_t serial;
} vtpu_program;

typedef enum vtpu_tc_state {
    VTPU_TC_IDLE = 0,
    VTPU_TC_RUNNING,
    VTPU_TC_BLOCKED, /* in a semaphore wait or barrier */
    VTPU_TC_EXITED,
    VTPU_TC_FAULTED,
    VTPU_TC_STOPPED, /* stopped because another TC faulted */
} vtpu_tc_state;

struct vtpu_tc {
    /* --- scalar core (interp.c), hot fields first --- */
    uint32_t x[33]; /* x[32] is the sink for writes to x0 */
    uint32_t f[32]; /* single-precision registers, raw bits */
    uint32_t fflags, frm;
    uint64_t instret;
    uint64_t budget;   /* instret limit (watchdog), UINT64_MAX = off */
    uint32_t pc;       /* valid whenever the TC is not inside the loop,
                          and set before calling out of the loop */
    const vtpu_program *prog;
    /* What the loop runs: prog->code, or a private copy a debugger patches
     * traps into (gdbstub.c); set by run.c.  NULL means prog->code. */
    const vtpu_insn *code;

    /* --- identity and memories (chip.c) --- */
    vtpu_chip *chip;
    unsigned id;
    unsigned ntcs;     /* TCs started for this run */
    uint8_t *smem, *vmem;
    uint32_t smem_size, vmem_size, imem_size;
    uint32_t *sems;    /* num_sems values; guarded by sync.c's lock */
    /* dirty.c: pages of smem/vmem written since the TC's last reset;
     * the clean pages of SMEM hold the image of the program with serial
     * smem_serial (0: zeros) */
    uint8_t *smem_dirty, *vmem_dirty; /* smem_dirty = smem - VTPU_SMEM_MAP */
    uint64_t smem_serial;
    /* Vector/MXU state may differ from reset (an Xtpu vector or MXU
     * instruction ran, or a debugger wrote a vreg) */
    bool units_dirty;

    /* --- units --- */
    vtpu_vpu *vpu;     /* vpu.c */
    vtpu_mxu *mxu;     /* mxu.c */
    struct vtpu_check *check; /* check.h: this run's checks, NULL = none */

    /* --- run state (run.c / sync.c) --- */
    vtpu_tc_state state;
    int exit_code;
    vtpu_error err;    /* filled by vtpu_tc_fault() */
    /* run.c: the TC's host thread (TCs 1..), started by the first run
     * that needs it, parked between runs, joined by vtpu_chip_free;
     * `go` (under chip->pool_lock) hands it a run */
    GThread *thread;
    vtpu_cond wake;
    bool go;

    /* --- debugging aids (timeline.c, dmaq.c) --- */
    vtpu_tc_stats cnt; /* counters of this run (instret is tc->instret) */
    vtpu_dmaq *dmaq;
    /* dma.c: where a strided remote DMA to another process is gathered
     * (kept: a fresh buffer per DMA cost a page fault per 4 KiB) */
    uint8_t *rgather;
    size_t rgather_cap;   /* deferred DMAs; NULL in the eager order */

    /* --- quiescing and save points (run.c, vtpu-snapshot.h) --- */
    uint64_t pause_at; /* instret of this TC's save point, or UINT64_MAX;
                          tc->budget is at most this during a run */
    bool pause_hit;    /* this TC reached the save point: it calls the
                          pause callback once the chip is quiet */
    atomic_bool parked; /* waiting in vtpu_tc_park() */
    bool pause_off;     /* another thread completes tc's DMAs: no save
                           point there */
};

struct vtpu_chip {
    vtpu_config cfg;
    uint8_t *hbm;             /* lazily backed mapping of cfg.hbm_size */
    /* VMEM_SHARED: one lazily backed buffer of cfg.vmem_shared_size that
     * every TC reaches at VTPU_VMEM_SHARED_BASE; NULL when the size is 0 */
    uint8_t *vmem_shared;
    uint8_t *vmem_shared_dirty; /* dirty.c */
    bool hbm_external;        /* hbm is the embedder's (vtpu_chip_new_ext) */
    /* dirty.c map of the HBM pages the engine wrote (DMAs, the command
     * processor, host writes) since vtpu_chip_hbm_dirty_take(): what an
     * embedder that migrates HBM as memory must send again */
    uint8_t *hbm_dirty;
    vtpu_tc *tcs[VTPU_MAX_TCS];
    vtpu_program *prog;       /* the selected slot's program, or NULL */
    vtpu_program *slots[VTPU_MAX_PROGRAMS]; /* owned; prog points at one */
    uint64_t prog_serial;     /* the last vtpu_program.serial given */
    vtpu_output_fn out_fn;
    void *out_opaque;
    vtpu_mutex out_lock;      /* serialises default output */
    vtpu_sync *sync;          /* sync.c */
    atomic_int stop;          /* VTPU_STOP_* bits; 0 while running freely */
    vtpu_gdb *gdb;            /* attached gdb stub (gdbstub.c) or NULL */
    struct vtpu_check *check; /* race/poison/bounds checks (check.h) or NULL */
    vtpu_dbg *dbg;            /* DMA order, trace, tags or NULL */
    /* HBM this run may reach by DMA (vtpu_run_opts); 0 ranges = all */
    uint32_t num_grants;
    vtpu_hbm_range grants[VTPU_RUN_MAX_HBM_RANGES];
    /* run.c: the TC threads' hand-off (tc->go, tc->wake); pool_pending
     * counts the current run's TCs still running on their threads */
    vtpu_mutex pool_lock;
    vtpu_cond pool_done;
    atomic_uint pool_pending; /* written under pool_lock */
    bool pool_quit;
    void *pool_ctx; /* run.c's run_ctx of the run in progress */
    /* fabric.c: the slice this chip is in (NULL: a lone chip) and what
     * the slice CSRs read (a lone chip: 0, 1, 1x1x1, 0) */
    struct vtpu_fabric *fabric;
    uint32_t chip_id, nchips, mesh, coord;
    /* fabric.c, under the fabric's lock: remote operations holding this
     * chip (vtpu_fabric_get), and its attachment's generation */
    unsigned fabric_users;
    uint64_t fabric_gen;

    /* run.c: quiescing (vtpu-snapshot.h).  q_lock guards run_active and
     * run_ntcs and orders parking; q_cond is broadcast when a TC parks
     * and when the quiesce request or an ending bit changes. */
    vtpu_mutex q_lock;
    vtpu_cond q_cond;
    bool run_active;   /* between a run's set-up and its results */
    unsigned run_ntcs; /* TCs of that run */
    /* save points (vtpu_chip_set_pause) */
    vtpu_pause_fn pause_fn;
    void *pause_opaque;
    uint32_t pause_tc; /* VTPU_PAUSE_FAULT: before the first fault */
    uint64_t pause_insns;
    atomic_int pause_taken; /* the save point of this run was reached */
    /* snapshot.c: a load brought a run in progress (run_ntcs TCs, the
     * grants) for vtpu_chip_run_resume() */
    bool resume_pending;
    bool resuming; /* run.c: vtpu_chip_run_resume() is setting up */
};

/*
 * chip->stop.  The interpreter polls it (relaxed) at taken branches and
 * ecalls; a TC asleep in a semaphore wait, the barrier or the gdb stub
 * looks at it under that sleep's lock, so whoever sets an ending bit
 * must wake the sleepers after the store: vtpu_chip_stop_run().
 *
 * The run must end (a fault elsewhere, a debugger's kill).  Set by the
 * run itself; the next run clears it when it starts ...
 */
#define VTPU_STOP_END 1
/* ... or a debugger asks every running TC to pause (gdbstub.c) ... */
#define VTPU_STOP_PAUSE 2
/*
 * ... or the embedder aborts the run in progress *and any run started
 * before it withdraws the request* (dev.c: a reset or the device going
 * away, from the request until nothing executes any more).  A run never
 * clears this bit, so a request cannot be lost by landing just before a
 * run starts: the new run's TCs see it at their first look.
 */
#define VTPU_STOP_ABORT 4
/*
 * ... or the embedder wants the chip quiet for a snapshot
 * (vtpu_chip_quiesce): running TCs leave the interpreter at their next
 * poll and park in run.c until the bit goes; a run keeps it.
 */
#define VTPU_STOP_QUIESCE 8
/* Bits that make a TC leave its run. */
#define VTPU_STOP_ENDING (VTPU_STOP_END | VTPU_STOP_ABORT)

/* ---- error.c ---- */
/*
 * Record a fault on `tc` at tc->pc: fills tc->err (format -> detail) and
 * sets tc->state = VTPU_TC_FAULTED.  Returns -1 so callers can
 * `return vtpu_tc_fault(...)`.
 */
int vtpu_tc_fault(vtpu_tc *tc, vtpu_error_kind kind, vtpu_space space,
                  uint64_t addr, uint64_t len, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- lazymem.c: lazily backed memory (NULL if the mapping fails) ---- */
void *vtpu_map_lazy(uint64_t size);
/* The same, backed by 2 MiB pages where the host allows (one page fault
 * per 2 MiB touched instead of 512: VMEM and SMEM, whose first touches
 * were most of a small launch's time on a virtualised host). */
void *vtpu_map_lazy_huge(uint64_t size); /* size rounded up to 2 MiB */
void vtpu_unmap_lazy_huge(void *p, uint64_t size);
void vtpu_unmap_lazy(void *p, uint64_t size);
/* Back to all-zero, releasing the host pages. */
void vtpu_zero_lazy(void *p, uint64_t size);

/* ---- dirty.c: pages written since the last reset ---- */
#define VTPU_DIRTY_SHIFT 12
#define VTPU_DIRTY_PAGE (1u << VTPU_DIRTY_SHIFT)
#define VTPU_DIRTY_PAGES(size)                                                 \
    (((uint64_t)(size) + VTPU_DIRTY_PAGE - 1) >> VTPU_DIRTY_SHIFT)
/* SMEM's map is the VTPU_SMEM_MAP bytes before SMEM itself (one per page
 * of the largest SMEM, and 8 for the scan): the interpreter marks a store
 * at smem + off with smem[(off >> VTPU_DIRTY_SHIFT) - VTPU_SMEM_MAP]. */
#define VTPU_SMEM_MAP ((VTPU_SMEM_MAX >> VTPU_DIRTY_SHIFT) + 4096u)
/* A map for `size` bytes, all clean (lazily backed), or NULL; free it
 * with vtpu_dirty_free(map, the same size). */
uint8_t *vtpu_dirty_new(uint64_t size);
void vtpu_dirty_free(uint8_t *map, uint64_t size);
/* Bytes [off, off + len) of the memory of `map` were written.  Any
 * thread (relaxed atomic byte stores; the run's start and end order
 * them with the reset). */
static inline void vtpu_dirty_mark(uint8_t *map, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    uint64_t p = off >> VTPU_DIRTY_SHIFT, e = (off + len - 1) >> VTPU_DIRTY_SHIFT;
    for (; p <= e; p++)
        __atomic_store_n(&map[p], 1, __ATOMIC_RELAXED);
}
/* Everything written: the whole memory of `size` bytes. */
static inline void vtpu_dirty_all(uint8_t *map, uint64_t size)
{
    memset(map, 1, (size_t)VTPU_DIRTY_PAGES(size));
}
/* Put back the marked pages of mem (size bytes) as img (len bytes, NULL
 * if 0) followed by zeros, and clear the map.  No writer may run. */
void vtpu_dirty_restore(uint8_t *mem, uint64_t size, uint8_t *map,
                        const uint8_t *img, uint64_t len);
/* The clean pages of mem hold old_img + zeros and must come to hold
 * new_img + zeros: mark those where the two differ. */
void vtpu_dirty_rebase(uint64_t size, uint8_t *map, const uint8_t *old_img,
                       uint64_t old_len, const uint8_t *new_img,
                       uint64_t new_len);

/* ---- mailbox.c ---- */
/* A checked copy of the TC runtime's progress mailbox (vtpu-launch.h). */
typedef struct vtpu_mailbox_view {
    vtpu_mailbox mb;   /* the copy; name NUL-terminated */
    bool has_point;    /* point/step/rank valid: in or past the grid loop */
    uint32_t rank;     /* <= VTPU_MAX_GRID_DIMS */
    int32_t point[VTPU_MAX_GRID_DIMS];
    uint32_t step;     /* 0-based */
} vtpu_mailbox_view;
/* Copy the mailbox out of tc's SMEM once and check the copy; false if
 * the TC's SMEM holds none.  Any thread, any time (a display only). */
bool vtpu_mailbox_read(const vtpu_tc *tc, vtpu_mailbox_view *v);
/* Just the grid point, cheaply (a few words): its rank, -1 outside the
 * grid phase.  For records made at every semaphore signal. */
int vtpu_mailbox_point(const vtpu_tc *tc, int32_t pt[VTPU_MAX_GRID_DIMS]);
/* If a scalar load at `addr` (past the end of SMEM) read past the TC
 * runtime's scalar-prefetch array, say so in buf ("kernel 'k' at grid
 * point (...) read s[i], past its n scalar-prefetch values") and return
 * true. */
bool vtpu_mailbox_scalar_past(const vtpu_tc *tc, uint32_t addr, char *buf,
                              size_t len);

/* ---- chip.c ---- */
void vtpu_chip_output(vtpu_chip *chip, unsigned tc, int fd, const char *buf,
                      size_t len);
/* Power-on memories of a TC (pages dropped), semaphores, state, pc,
 * counters (vtpu_chip_scrub, snapshot.c's clear). */
void vtpu_tc_power_on(vtpu_tc *tc);
/* Reset a TC for a run: registers, SMEM from the image, VMEM, sems, units. */
void vtpu_tc_reset(vtpu_tc *tc, unsigned ntcs);
/* The host, a debugger or a check wrote [off, off + len) of tc's SMEM or
 * VMEM (other spaces: nothing to do) behind the engine's back. */
void vtpu_tc_mark_written(vtpu_tc *tc, vtpu_space space, uint64_t off,
                          uint64_t len);
/*
 * The VMEM a TC address falls in: the TC's own (base VTPU_VMEM_BASE) or
 * the chip's VMEM_SHARED (VTPU_VMEM_SHARED_BASE).  Sets *base (host
 * pointer of the window's first byte), *window (its TC address) and *size.
 */
static inline void vtpu_vmem_window(const vtpu_tc *tc, uint32_t addr,
                                    uint8_t **base, uint32_t *window,
                                    uint32_t *size)
{
    if (VTPU_UNLIKELY(addr >= VTPU_VMEM_SHARED_BASE)) {
        *base = tc->chip->vmem_shared;
        *window = VTPU_VMEM_SHARED_BASE;
        *size = tc->chip->cfg.vmem_shared_size;
    } else {
        *base = tc->vmem;
        *window = VTPU_VMEM_BASE;
        *size = tc->vmem_size;
    }
}
/* The owner index that stands for VMEM_SHARED in vtpu_mem_ref.tc
 * (check.h): one past the last TC. */
#define VTPU_SHARED_OWNER VTPU_MAX_TCS

/* HBM [lo, hi) may be reached by the chip's run: no grants (all of HBM)
 * or inside one of them (vtpu_run_opts.hbm_ranges; dma.c, fabric.c). */
static inline bool vtpu_hbm_granted(const vtpu_chip *chip, uint64_t lo,
                                    uint64_t hi)
{
    if (!chip->num_grants)
        return true;
    for (uint32_t i = 0; i < chip->num_grants; i++) {
        const vtpu_hbm_range *g = &chip->grants[i];
        if (lo >= g->off && hi <= g->off + g->len)
            return true;
    }
    return false;
}

/* ---- elf.c ---- */
vtpu_program *vtpu_program_from_elf(const vtpu_config *cfg, const void *elf,
                                    size_t len, char *err, size_t errlen);
void vtpu_program_free(vtpu_program *prog);
/* Name of the function containing pc, or NULL; *off = pc - start. */
const char *vtpu_program_symbol(const vtpu_program *prog, uint32_t pc,
                                uint32_t *off);

/* ---- decode.c ---- */
/* Decode `n` words of IMEM (at VTPU_IMEM_BASE) into `out` (n entries).
 * Undefined encodings decode to an instruction that faults when executed. */
void vtpu_decode_program(const uint32_t *words, uint32_t n, vtpu_insn *out);

/* ---- interp.c ---- */
/* Run tc from tc->pc until it exits, faults or the chip stops. */
void vtpu_tc_execute(vtpu_tc *tc);

/* ---- xtpu.c ---- */
/* True if `raw` (opcode custom-0..3) is a defined Xtpu instruction. */
bool vtpu_xtpu_valid(uint32_t raw);
/* Execute one Xtpu instruction; 0 to continue, -1 if the TC must stop
 * (tc->err / tc->state say why). tc->pc holds the instruction's pc. */
int vtpu_xtpu_exec(vtpu_tc *tc, const vtpu_insn *insn);

/* ---- xtpu_sync.c: the custom-3 opcode (DMA, semaphores, barrier);
 * xtpu.c forwards custom-3 instructions to these ---- */
bool vtpu_xtpu_sync_valid(uint32_t raw);
int vtpu_xtpu_sync_exec(vtpu_tc *tc, const vtpu_insn *insn);

/* ---- vpu.c / mxu.c: per-TC unit state ---- */
vtpu_vpu *vtpu_vpu_new(void);
void vtpu_vpu_free(vtpu_vpu *vpu);
void vtpu_vpu_reset(vtpu_vpu *vpu);
vtpu_mxu *vtpu_mxu_new(const vtpu_config *cfg);
void vtpu_mxu_free(vtpu_mxu *mxu);
void vtpu_mxu_reset(vtpu_mxu *mxu);
/* snapshot.c: the MXU state as bytes and back.  The blob is
 * vtpu_mxu_state_size() bytes; load checks every field and returns -1
 * (message in err) for a bad one. */
size_t vtpu_mxu_state_size(const vtpu_mxu *mxu);
void vtpu_mxu_state_get(const vtpu_mxu *mxu, uint8_t *out);
int vtpu_mxu_state_set(vtpu_mxu *mxu, const uint8_t *in, char *err,
                       size_t errlen);

/* ---- dma.c ---- */
/* A validated DMA: everything needed to execute it later (dma.c). */
typedef struct vtpu_dma_plan {
    uint8_t *dst, *src;                   /* first byte (all indices 0) */
    int64_t dst_stride[4], src_stride[4]; /* [0] unused */
    uint64_t count[4]; /* count[0] = bytes of a contiguous run */
    unsigned ndims;
    bool overlap; /* src and dst ranges share bytes */
    uint32_t bytes;
    uint32_t sem_tc, sem;
    uint32_t pc; /* of its dma.start, for reports */
    uint8_t src_space, dst_space; /* vtpu_space, for counters and traces */
    /* VTPU_DMA_ADD: 0 copies; VTPU_F32 / VTPU_I32 / VTPU_U32 add the
     * source's elements to the destination's (docs/isa.md) */
    uint8_t add;
    /* dirty.c: the map of dst's memory (HBM's too: chip->hbm_dirty) and
     * the bytes [dst_lo, dst_hi) of that memory the copy writes */
    uint8_t *dst_dirty;
    uint64_t dst_lo, dst_hi;
    /* A remote DMA (docs/multichip.md): sem_tc/sem are the receive
     * semaphore on chip dst_chip, send_sem the issuer's.  rchip: the
     * destination when it is in this process (dst is then its memory,
     * copied straight into); NULL: through the transport, rm holds the
     * message (its data gathered at completion). */
    bool remote;
    uint32_t dst_chip, send_sem;
    struct vtpu_chip *rchip;
    uint64_t rgen; /* rchip's attachment (fabric.c), checked at completion */
    vtpu_remote_dma rm;
    /* to another process with race detection on: the DMA's epoch, whose
     * clock race.c keeps until it is sent (check.h); 0 = none */
    uint32_t race_ep;
} vtpu_dma_plan;

/* Start the DMA whose descriptor is at SMEM address desc_addr: validate
 * it, then (eager order) copy and signal its semaphore, or hand it to
 * dmaq.c.  0 or -1 (fault). */
int vtpu_dma_start(vtpu_tc *tc, uint32_t desc_addr);
/* Copy a validated DMA (no signal). */
void vtpu_dma_execute(const vtpu_dma_plan *p);
/* Copy and signal a validated DMA started by `tc`, in any order: when
 * started (eager) or later (dmaq.c).  0 or -1 (fault). */
int vtpu_dma_complete(vtpu_tc *tc, const vtpu_dma_plan *p);

/* ---- dmaq.c: deferred DMA orders (only when tc->dmaq is set) ---- */
/* Queue a validated DMA started at `t_ns` (trace clock). 0 or -1. */
int vtpu_dmaq_push(vtpu_tc *tc, const vtpu_dma_plan *p, int64_t t_ns);
/* Complete what must complete before sem.wait/sem.read of `sem`, or
 * everything (sem < 0: barrier, exit); remote_all: every remote DMA too
 * (the TC may block).  0 or -1 (fault). */
int vtpu_dmaq_sync(vtpu_tc *tc, int64_t sem, bool remote_all);
vtpu_dmaq *vtpu_dmaq_new(bool random, uint64_t seed, unsigned tc);
void vtpu_dmaq_free(vtpu_dmaq *q);
/* DMAs waiting in tc's queue (0 without one). */
unsigned vtpu_dmaq_pending(const vtpu_tc *tc);

/* ---- timeline.c: hooks called only when chip->dbg is set ---- */
/* run.c: after the TCs are reset / when a TC's thread leaves its loop. */
void vtpu_dbg_run_begin(vtpu_chip *chip, unsigned ntcs);
void vtpu_dbg_tc_end(vtpu_tc *tc);
/* Trace clock, ns. */
int64_t vtpu_dbg_now(void);
/* A DMA of `tc` ran from t0 (start) to now; also marks grid steps. */
void vtpu_dbg_dma(vtpu_tc *tc, const vtpu_dma_plan *p, int64_t t0);
/* A semaphore wait (sem >= 0) or barrier (sem < 0) blocked t0..now. */
void vtpu_dbg_wait(vtpu_tc *tc, int64_t sem, uint32_t n, int64_t t0);
/* Before a semaphore operation: notice grid step changes. */
void vtpu_dbg_sync_point(vtpu_tc *tc);
/* chip.c: the output with tags (g_malloc'd, *len updated), or NULL
 * when not tagging. */
char *vtpu_dbg_tag(vtpu_chip *chip, unsigned tc, int fd, const char *buf,
                   size_t *len);
/* chip.c: drop the debugging state (closes the trace). */
void vtpu_dbg_free(vtpu_chip *chip);

/* ---- run.c ---- */
/*
 * Set `bits` (VTPU_STOP_END, VTPU_STOP_ABORT) in chip->stop, then wake
 * every TC sleeping where the flag alone would not reach it: semaphore
 * waits and the barrier (sync.c), halts in the gdb stub.  Any thread;
 * takes sync.c's lock and the stub's, so the caller holds neither.
 */
void vtpu_chip_stop_run(vtpu_chip *chip, int bits);
/*
 * A TC left the interpreter still RUNNING (the chip's stop flag, a save
 * point): park it while a quiesce request stands (completing its
 * deferred DMAs first; the TC that reached a save point calls the pause
 * callback once the chip is quiet).  True if it is to execute again,
 * false if the run is ending (or a deferred DMA faulted).
 */
bool vtpu_tc_park(vtpu_tc *tc);
/* No run in progress, or one quiesced with every TC at rest (snapshot.c
 * saves only then). */
bool vtpu_chip_is_quiet(vtpu_chip *chip);
/* interp.c: tc reached tc->pause_at (its save point). */
void vtpu_tc_pause_point(vtpu_tc *tc);
/* error.c: a fault on a running TC may be the VTPU_PAUSE_FAULT point
 * instead: true if it is (the TC then leaves its loop still RUNNING). */
bool vtpu_tc_fault_pause(vtpu_tc *tc, vtpu_error_kind kind);
/* Withdraw VTPU_STOP_ABORT: the runs started from now on run freely. */
void vtpu_chip_abort_clear(vtpu_chip *chip);
/* chip.c, vtpu_chip_free: end and join the parked TC threads (no run may
 * be in progress). */
void vtpu_chip_join_threads(vtpu_chip *chip);

/* ---- sync.c ---- */
vtpu_sync *vtpu_sync_new(vtpu_chip *chip);
void vtpu_sync_free(vtpu_sync *s);
/* Wake every blocked TC so it sees chip->stop (vtpu_chip_stop_run()). */
void vtpu_sync_stop_all(vtpu_chip *chip);
/* Start of a run on `ntcs` TCs: all count as running, none blocked. */
void vtpu_sync_begin(vtpu_chip *chip, unsigned ntcs);
/* A TC's thread has left the interpreter (exit, fault or stop). */
void vtpu_sync_tc_done(vtpu_tc *tc);
/* target_tc: index of the TC whose semaphore is signalled. */
int vtpu_sem_signal(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                    uint32_t n);
/* The same, from the DMA (dma) or instruction at `pc`: remembered as the
 * semaphore's last signal, for deadlock and exit reports. */
int vtpu_sem_signal_from(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                         uint32_t n, uint32_t pc, bool dma);
/* "last signalled (+4096) by DMA issued by TC 0 at pc 0x... (sym+0x..),
 * grid (3)" or "never signalled in this run"; takes sync.c's lock. */
void vtpu_sync_sem_origin(vtpu_chip *chip, unsigned tc, uint32_t sem,
                          char *buf, size_t len);
int vtpu_sem_wait(vtpu_tc *tc, uint32_t sem, uint32_t n);
int vtpu_sem_read(vtpu_tc *tc, uint32_t sem, uint32_t *val);
int vtpu_barrier(vtpu_tc *tc);
/* True if TC `id` of the run sleeps in a semaphore wait or the barrier
 * (gdbstub.c: such a TC counts as stopped for an all-stop). */
bool vtpu_sync_tc_blocked(vtpu_chip *chip, unsigned id);
/* True if TC `id` of the run is blocked or has finished (not running):
 * quiet for a snapshot. */
bool vtpu_sync_tc_resting(vtpu_chip *chip, unsigned id);

/* Slices (fabric.c).  A chip on a fabric shares the fabric's lock for
 * its semaphores, so one lock covers the whole slice: the deadlock test
 * sees every chip. */
/* sync.c: use `lock` (NULL: the chip's own) from now on; no run. */
void vtpu_sync_set_lock(vtpu_chip *chip, vtpu_mutex *lock);
/*
 * Add n to semaphore `sem` of TC `tc` of chip `dst` on behalf of TC
 * src_tc of chip src_chip (-1: a chip not known) at pc, waking its
 * waiter.  Validates tc < cfg.num_tcs, sem, overflow: 0 or -1 + err.
 */
int vtpu_sync_deliver(vtpu_chip *dst, unsigned tc, uint32_t sem, uint32_t n,
                      int src_chip, unsigned src_tc, uint32_t pc, bool dma,
                      char *err, size_t errlen);
/* xtpu_sync.c: sem.signal.remote */
int vtpu_sem_signal_remote(vtpu_tc *tc, uint32_t chip, uint32_t sem_tc,
                           uint32_t n);
/* dma.c: a descriptor with VTPU_DMA_REMOTE */
#define VTPU_DMA_REMOTE 1u
/* fabric.c: validate the destination and receive semaphore of d on
 * chip dst, in this process, for TC src_tc of the issuing chip (0xff
 * TCs resolve to it), and fill p's destination side (dst, dst_stride,
 * dst_dirty/lo/hi, dst_space, sem_tc, sem, rchip, and overlap with the
 * source bytes [src_lo, src_hi)).  0 or -1 + err. */
int vtpu_fabric_dst_plan(vtpu_chip *dst, unsigned src_tc,
                         const vtpu_remote_dma *d, const uint8_t *src_lo,
                         const uint8_t *src_hi, vtpu_dma_plan *p, char *err,
                         size_t errlen);
/* fabric.c: send a gathered remote DMA to a chip of another process
 * (the transport) / a signal to any chip (local: deliver).  0 or -1 +
 * err. */
/* The chip attached as `idx`, held against its detach until
 * vtpu_fabric_put; NULL if none.  *gen (if not NULL): its attachment's
 * generation (a chip detached and attached again has a new one). */
vtpu_chip *vtpu_fabric_get(vtpu_fabric *f, unsigned idx, uint64_t *gen);
void vtpu_fabric_put(vtpu_fabric *f, vtpu_chip *c);
int vtpu_fabric_send_dma(vtpu_tc *tc, unsigned dst_chip,
                         const vtpu_remote_dma *d, char *err, size_t errlen);
/* race: the signal's race information for a transport (NULL: none) */
int vtpu_fabric_send_signal(vtpu_tc *tc, unsigned dst_chip, unsigned dst_tc,
                            uint32_t sem, uint32_t n,
                            const vtpu_race_clock *race, char *err,
                            size_t errlen);
/* fabric.c: count bytes from tc's chip to dst_chip on the links and in
 * the counters of both TCs (model only). */
void vtpu_fabric_count(vtpu_tc *tc, unsigned dst_chip, unsigned dst_tc,
                       uint32_t bytes);
/* fabric.c: the race detectors' shared agent space (check.c), made on
 * first use; NULL when the slice is too big for it. */
struct vtpu_race_dom *vtpu_fabric_race_dom(struct vtpu_fabric *f);
/* fabric.c: for sync.c's deadlock test: chips of the fabric (local or
 * NULL), and whether non-local chips exist (then the test is off). */
unsigned vtpu_fabric_nchips(const struct vtpu_fabric *f);
bool vtpu_fabric_has_remote(const struct vtpu_fabric *f);
/* fabric.c: wake launch waiters (stop); caller holds the fabric lock. */
void vtpu_fabric_wake_launch(struct vtpu_fabric *f);
/* run.c: the collective launch rendezvous; 0 = go, -1 = stopped or a
 * chip of this launch could not start (`failed`: this one; it still
 * takes part so that the others do not wait for it),
 * VTPU_RENDEZVOUS_TIMEOUT = the others did not all come within the
 * fabric's launch_timeout_ms. */
#define VTPU_RENDEZVOUS_TIMEOUT (-2)
int vtpu_fabric_rendezvous(struct vtpu_fabric *f, vtpu_chip *chip, bool failed);
/* run.c: a TC of chip faulted: remember the first chip to fault (since
 * vtpu_fabric_reset_fault) and stop every other local chip. */
void vtpu_fabric_fault(struct vtpu_fabric *f, vtpu_chip *chip);
void vtpu_fabric_reset_fault(struct vtpu_fabric *f);
/* timeline.c: a remote DMA in the trace. */
void vtpu_dbg_remote_dma(vtpu_tc *tc, unsigned dst_chip, uint32_t bytes,
                         uint32_t sem, int64_t t0);

/* ---- gdbstub.c: hooks the engine calls only when chip->gdb is set ---- */
/* run.c: before the TC threads start / after they have been joined. */
void vtpu_gdb_run_begin(vtpu_chip *chip, unsigned ntcs);
/* run.c: chip->stop gained an ending bit; wake TCs halted in the stub. */
void vtpu_gdb_wake(vtpu_chip *chip);
void vtpu_gdb_run_end(vtpu_chip *chip, const vtpu_run_result *res, int rc);
/* run.c: a TC thread's body in place of vtpu_tc_execute(). */
void vtpu_gdb_tc_main(vtpu_tc *tc);
/*
 * interp.c, with tc->pc and tc->instret synced and fflags folded:
 * trap() for an executed DEBUG instruction, pause() when chip->stop is
 * seen.  Both may block while the debugger has the TC stopped; 0 = go on
 * at tc->pc (the debugger may have changed it), -1 = leave the loop.
 */
int vtpu_gdb_trap(vtpu_tc *tc);
int vtpu_gdb_pause(vtpu_tc *tc);
/* run.c: TC `id` is halted in the stub (its pc and registers synced):
 * at rest for a snapshot.  Takes the stub's lock. */
bool vtpu_gdb_tc_halted(vtpu_chip *chip, unsigned id);

#endif /* VTPU_INTERNAL_H */
