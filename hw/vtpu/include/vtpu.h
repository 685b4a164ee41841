/*
 * vtpu.h - the embedding API of the vtpu chip engine.
 *
 * The engine is pure C11 (plus GLib for threads); it has no QEMU headers and
 * no global mutable state, so any number of chips may live in one process.
 * The QEMU device (hw/qemu), vtpu-run (tools/) and the tests all drive the
 * chip only through this header.
 *
 * Contract, per call, in the comment above each declaration.  Unless a
 * comment says otherwise: functions returning int return 0 on success and a
 * negative value on failure, and write a human-readable message into the
 * caller's `err` buffer (which may be NULL).
 */
#ifndef VTPU_H
#define VTPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpu-faults.h"
#include "vtpu-map.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

typedef struct vtpu_config {
    char gen[8];          /* generation preset name: "v4", "v5e", "v5p", "v6e" */
    uint32_t num_tcs;     /* TensorCores on the chip, 1..VTPU_MAX_TCS */
    uint64_t hbm_size;    /* bytes of HBM shared by all TCs */
    uint32_t vmem_size;   /* bytes of VMEM per TC */
    uint32_t smem_size;   /* bytes of SMEM per TC */
    uint32_t imem_size;   /* bytes of IMEM per TC */
    uint32_t num_sems;    /* semaphores per TC */
    uint32_t mxu_dim;     /* MXU systolic array is mxu_dim x mxu_dim */
    uint32_t mxu_count;   /* MXUs per TC */
    uint64_t insn_budget; /* watchdog: max instructions per TC per run, 0 = off */
    uint32_t race;        /* 1 = detect data races (docs/debugging.md) */
    uint32_t poison;      /* 1 = poison memory, report uninitialised reads */
    uint32_t bounds;      /* 1 = report accesses leaving the TC runtime's
                             buffers (docs/debugging.md, "Buffer bounds");
                             VTPU_BOUNDS_LOGICAL = also report vector
                             loads of an edge block's padding */
    uint32_t vmem_shared_size; /* bytes of VMEM_SHARED, one for the chip at
                                  VTPU_VMEM_SHARED_BASE; 0 = none */
} vtpu_config;

/*
 * The override keys, one table for every user (config.c's parser and
 * help, the QEMU device's properties, vtpu-run's options):
 * X(ID, "key", vtpu_config field, U32 or U64, one-line help).
 */
#define VTPU_CONFIG_KEYS(X)                                                    \
    X(CORES, "cores", num_tcs, U32, "TensorCores on the chip (1-8)")           \
    X(HBM_SIZE, "hbm-size", hbm_size, U64, "HBM bytes shared by all TCs")      \
    X(VMEM_SIZE, "vmem-size", vmem_size, U32, "VMEM bytes per TC")             \
    X(SMEM_SIZE, "smem-size", smem_size, U32, "SMEM bytes per TC")             \
    X(IMEM_SIZE, "imem-size", imem_size, U32, "IMEM bytes per TC")             \
    X(SEMS, "sems", num_sems, U32, "semaphores per TC")                        \
    X(MXU_SIZE, "mxu-size", mxu_dim, U32, "MXU dimension (128 or 256)")        \
    X(MXU_COUNT, "mxu-count", mxu_count, U32, "MXUs per TC (1-8)")             \
    X(INSN_BUDGET, "insn-budget", insn_budget, U64,                            \
      "watchdog: instructions per TC per run, 0 = off")                        \
    X(RACE, "race", race, U32, "detect data races: on/off (1/0)")              \
    X(POISON, "poison", poison, U32,                                           \
      "poison memory, report uninitialised reads: on/off")                     \
    X(BOUNDS, "bounds", bounds, U32,                                           \
      "buffer bounds: off, on = padded, logical (padding reads reported)")     \
    X(VMEM_SHARED, "vmem-shared", vmem_shared_size, U32,                       \
      "VMEM_SHARED bytes of the chip, seen by every TC (0 = none)")

/* vtpu_config.bounds: off, "padded" (on: padding reads as the padded
 * tile holds it) or "logical" (a read of padding is reported). */
#define VTPU_BOUNDS_OFF 0u
#define VTPU_BOUNDS_PADDED 1u
#define VTPU_BOUNDS_LOGICAL 2u

enum vtpu_config_key {
#define VTPU_CONFIG_KEY_ENUM_(id, key, field, type, help) VTPU_CFG_##id,
    VTPU_CONFIG_KEYS(VTPU_CONFIG_KEY_ENUM_)
#undef VTPU_CONFIG_KEY_ENUM_
    VTPU_CFG__COUNT
};

/*
 * Fill `cfg` with the preset for generation `gen` ("v4", "v5e", "v5p",
 * "v6e"; NULL means the default, "v5p").  Returns -1 for an unknown name.
 */
int vtpu_config_preset(vtpu_config *cfg, const char *gen, char *err,
                       size_t errlen);

/*
 * Apply one override "key=value": "gen" or a key of VTPU_CONFIG_KEYS
 * (named as the QEMU properties are; race and poison also take on/off).
 * Sizes accept K/M/G suffixes (binary).  "gen" resets every field to
 * that preset, so give it first.
 */
int vtpu_config_set(vtpu_config *cfg, const char *key, const char *value,
                    char *err, size_t errlen);

/*
 * Enumerate the override keys (not "gen"): returns the i-th key (i is a
 * VTPU_CFG_* value) and its one-line description in *help, or NULL past
 * the end.  For help texts and property lists.
 */
const char *vtpu_config_help(unsigned i, const char **help);

/* Check ranges and alignment of every field.  */
int vtpu_config_validate(const vtpu_config *cfg, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/*
 * The error taxonomy: docs/architecture.md describes each kind.  Made
 * from VTPU_FAULTS (vtpu-faults.h), the table the register interface's
 * ERR_KIND uses, so the two cannot drift:
 *   ILLEGAL_INSN undefined or reserved encoding, bad CSR; MISALIGNED
 *   load/store/fetch/jump target; OOB access outside a memory space;
 *   SCALAR_VMEM scalar load/store to VMEM; DMA malformed or out-of-range
 *   descriptor; MXU staging/accumulator misuse; SEM bad semaphore index
 *   or TC; SEM_NONZERO semaphore left non-zero at exit; DEADLOCK every
 *   live TC waits on what cannot happen; WATCHDOG instruction budget
 *   exhausted; EBREAK with no debugger; ECALL unknown service or bad
 *   arguments; NO_PROGRAM run without a program; RACE data race
 *   (race=1); UNINIT read of never-written memory (poison=1); BOUNDS
 *   a kernel's access left the TC runtime's buffer it started in
 *   (bounds=1).
 */
typedef enum vtpu_error_kind {
#define VTPU_ERR_ENUM_(name, v, desc) VTPU_ERR_##name = (v),
    VTPU_FAULTS(VTPU_ERR_ENUM_)
#undef VTPU_ERR_ENUM_
    VTPU_ERR__COUNT = VTPU_FAULT__COUNT
} vtpu_error_kind;

/* Memory spaces, as named in reports and DMA descriptors. */
typedef enum vtpu_space {
    VTPU_SPACE_NONE = 0,
    VTPU_SPACE_HBM = 1,
    VTPU_SPACE_VMEM = 2,
    VTPU_SPACE_SMEM = 3,
    VTPU_SPACE_IMEM = 4,
    VTPU_SPACE_SEM = 5,
} vtpu_space;

typedef struct vtpu_error {
    vtpu_error_kind kind;
    int32_t tc;            /* TC that faulted, -1 when chip-wide */
    int32_t chip;          /* chip of a slice (vtpu-slice.h) the fault is
                              on; -1 for a chip in no fabric */
    uint32_t pc;           /* pc of the faulting instruction */
    char symbol[256];      /* function symbol containing pc, "" if unknown */
    uint32_t sym_offset;   /* pc - symbol start */
    vtpu_space space;      /* memory space involved, NONE if none */
    uint64_t addr;         /* address involved (space-relative for HBM) */
    uint64_t len;          /* bytes involved, 0 if n/a */
    char detail[1536];     /* free-form, e.g. "semaphore 3 = 5"; every
                              detail the engine makes fits */
} vtpu_error;

const char *vtpu_error_kind_name(vtpu_error_kind kind);
const char *vtpu_space_name(vtpu_space space);

/*
 * Format an error report as one line ("chip 3 TC 1: ..." when e->chip
 * >= 0):
 *   "vtpu: TC 1: out-of-bounds access at pc 0x00100234 (kernel+0x14):
 *    VMEM address 0x20400000 (4 bytes): ..."
 * Returns the number of characters written (like snprintf).
 */
int vtpu_error_format(const vtpu_error *e, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Chips                                                                */
/* ------------------------------------------------------------------ */

typedef struct vtpu_chip vtpu_chip;

/*
 * Output of the write(64) ecall.  Called from the TC's thread with the bytes
 * the program wrote; `fd` is 1 or 2.  Default (NULL): fwrite to the host's
 * stdout/stderr, serialised so lines of different TCs do not interleave.
 */
typedef void (*vtpu_output_fn)(void *opaque, unsigned tc, int fd,
                               const char *buf, size_t len);

/* Create a chip.  Returns NULL (and a message in err) on a bad config. */
vtpu_chip *vtpu_chip_new(const vtpu_config *cfg, char *err, size_t errlen);
/*
 * As vtpu_chip_new(), with HBM in the caller's memory: `hbm` holds
 * cfg->hbm_size bytes, zeroed, and outlives the chip (QEMU: a memory
 * backend, memdev=).  NULL hbm: the chip maps its own, as vtpu_chip_new().
 */
vtpu_chip *vtpu_chip_new_ext(const vtpu_config *cfg, void *hbm, char *err,
                             size_t errlen);
void vtpu_chip_free(vtpu_chip *chip);
/*
 * Power-on state of the chip's memories: HBM (when the chip owns it),
 * every TC's VMEM, SMEM and semaphores to zero, program slots emptied,
 * check shadows renewed.  Pages are dropped, not written, so it is fast
 * whatever the sizes and gives the memory back to the host.  Caller's
 * HBM (vtpu_chip_new_ext) is the caller's to scrub.  Not during a run.
 */
void vtpu_chip_scrub(vtpu_chip *chip);
const vtpu_config *vtpu_chip_config(const vtpu_chip *chip);
void vtpu_chip_set_output(vtpu_chip *chip, vtpu_output_fn fn, void *opaque);

/*
 * Load an RV32 ELF executable (ET_EXEC, EM_RISCV, ELFCLASS32) for every TC:
 * PT_LOAD segments inside the IMEM window go to IMEM and are pre-decoded,
 * segments inside the SMEM window become the SMEM image each run starts
 * from.  Anything else is refused with a message.  The bytes are copied.
 * `elf` must not change during the call: the parser reads fields more
 * than once.  Memory a guest can write (HBM, guest RAM) is copied into
 * private memory first and the copy is passed here (cmd.c does).
 */
int vtpu_chip_load_elf(vtpu_chip *chip, const void *elf, size_t len,
                       char *err, size_t errlen);

/*
 * Program slots.  A chip holds up to VTPU_MAX_PROGRAMS loaded programs
 * (the command processor's LOAD_PROG/LAUNCH name them by slot); one slot
 * is selected, and vtpu_chip_run() runs the selected slot's program.
 * vtpu_chip_load_elf() is vtpu_chip_load_elf_slot(chip, 0, ...) followed
 * by vtpu_chip_select_program(chip, 0).  None of these may be called
 * while a run is in progress.
 */
#define VTPU_MAX_PROGRAMS 16

/* Load into `slot` (replacing what it held; if the slot is selected, the
 * new program is what runs next).  On failure the slot is unchanged. */
int vtpu_chip_load_elf_slot(vtpu_chip *chip, unsigned slot, const void *elf,
                            size_t len, char *err, size_t errlen);
/* Select the program vtpu_chip_run() runs: -1 if `slot` is out of range
 * or empty (the selection is then unchanged). */
int vtpu_chip_select_program(vtpu_chip *chip, unsigned slot);
/* True if `slot` holds a program. */
bool vtpu_chip_has_program(const vtpu_chip *chip, unsigned slot);
/* Empty every slot; afterwards no program is selected. */
void vtpu_chip_unload_programs(vtpu_chip *chip);

/* A range of HBM a run may reach by DMA (vtpu_run_opts.hbm_ranges). */
typedef struct vtpu_hbm_range {
    uint64_t off, len;
} vtpu_hbm_range;
#define VTPU_RUN_MAX_HBM_RANGES 64

typedef struct vtpu_run_opts {
    uint32_t num_tcs;  /* TCs to start: 0 = all of the chip's */
    uint32_t args[4];  /* a2..a5 at entry (a0 = TC id, a1 = TCs started) */
    /*
     * Isolation: when num_hbm_ranges > 0, a DMA whose HBM extent is not
     * inside one of these ranges faults (VTPU_ERR_DMA); 0 = all of HBM.
     * At most VTPU_RUN_MAX_HBM_RANGES; copied at the start of the run.
     */
    const vtpu_hbm_range *hbm_ranges;
    uint32_t num_hbm_ranges;
    /*
     * A collective run (vtpu-slice.h) of a chip attached to a fabric: the
     * chip resets its TCs, then waits at the fabric's launch rendezvous
     * until every attached chip has begun its collective run, then starts.
     * The wait ends early (the run returns without executing, TCs
     * stopped) when chip->stop gets VTPU_STOP_ABORT/END (a reset, the
     * device going away): a launch never hangs a reset.  Ignored for a
     * chip in no fabric.
     */
    bool collective;
} vtpu_run_opts;

typedef struct vtpu_run_result {
    int exit_code;          /* first non-zero exit code of any TC, else 0 */
    int tc_exit[VTPU_MAX_TCS];
    uint64_t instret[VTPU_MAX_TCS];
    vtpu_error error;       /* kind NONE when every TC exited cleanly */
} vtpu_run_result;

/*
 * Run the loaded program: reset the started TCs (registers, SMEM from the
 * image, VMEM and semaphores cleared), start each on its own host thread at
 * the ELF entry with sp at the top of SMEM, and wait until every TC has
 * exited or one has faulted (a fault stops the other TCs).  Returns 0 if all
 * TCs exited (whatever their exit codes), -1 on a fault (res->error says
 * which).  Never aborts the process because of anything the program does.
 */
int vtpu_chip_run(vtpu_chip *chip, const vtpu_run_opts *opts,
                  vtpu_run_result *res);

/*
 * What a TC is doing, for monitors and debuggers (QEMU's `info vtpu`).
 * Callable from any thread at any time, also while a run is in progress;
 * it only reads, and never slows the interpreter: while a TC runs, its pc
 * lives in a host register, so `pc` is reported only once the TC has
 * stopped, blocked or ended.
 */
typedef enum vtpu_tc_run_state {
    VTPU_TC_STATE_IDLE = 0, /* not started since the chip was created */
    VTPU_TC_STATE_RUNNING,  /* executing instructions */
    VTPU_TC_STATE_BLOCKED,  /* in a semaphore wait or the barrier */
    VTPU_TC_STATE_EXITED,   /* the last run ended with exit() */
    VTPU_TC_STATE_FAULTED,  /* the last run ended with a fault on this TC */
    VTPU_TC_STATE_STOPPED,  /* the last run was stopped (a fault elsewhere,
                               a reset) */
} vtpu_tc_run_state;

typedef struct vtpu_tc_status {
    vtpu_tc_run_state state;
    bool pc_valid;     /* false while RUNNING (and while IDLE) */
    uint32_t pc;       /* BLOCKED: the waiting instruction; EXITED: the
                          exit ecall; FAULTED: the faulting instruction */
    uint64_t instret;  /* instructions retired in the current or last run,
                          as of the last time the TC left its loop (a
                          lower bound while RUNNING) */
    int exit_code;     /* EXITED only, else 0 */
} vtpu_tc_status;

/* "idle", "running", "blocked", "exited", "faulted", "stopped". */
const char *vtpu_tc_state_name(vtpu_tc_run_state state);

/* Status of TC `tc`: 0, or -1 if the chip has no such TC.  A snapshot of
 * fields another thread may be changing: consistent enough for display,
 * not for decisions. */
int vtpu_chip_tc_status(vtpu_chip *chip, unsigned tc, vtpu_tc_status *out);

/*
 * Switch the opt-in checks (docs/debugging.md) for the runs that follow:
 * race detection and poisoned memory, the same as config fields race and
 * poison at creation.  Not while a run is in progress.  Returns -1 (and
 * a message) if shadow memory cannot be reserved; the checks are then
 * off.
 */
int vtpu_chip_set_checks(vtpu_chip *chip, bool race, bool poison, char *err,
                         size_t errlen);
/* The buffer bounds check (config field bounds), likewise: mode
 * VTPU_BOUNDS_OFF, _PADDED (true) or _LOGICAL; it cannot fail. */
void vtpu_chip_set_bounds(vtpu_chip *chip, unsigned mode);

/* Host access to HBM (bounds-checked; returns -1 if out of range). */
int vtpu_hbm_read(vtpu_chip *chip, uint64_t off, void *buf, size_t len);
int vtpu_hbm_write(vtpu_chip *chip, uint64_t off, const void *buf,
                   size_t len);

/*
 * HBM as host memory: hbm_size bytes (vtpu_chip_config()), valid until
 * vtpu_chip_free().  For embedders that map HBM into a guest directly
 * (the QEMU device's BAR2); plain loads/stores, no checks, no ordering
 * beyond what the host memory model gives against running TCs and DMAs.
 */
void *vtpu_chip_hbm_ptr(vtpu_chip *chip);

/* Host access to a TC's memories by space (VMEM/SMEM/IMEM, offset within). */
int vtpu_mem_read(vtpu_chip *chip, unsigned tc, vtpu_space space,
                  uint32_t off, void *buf, size_t len);
int vtpu_mem_write(vtpu_chip *chip, unsigned tc, vtpu_space space,
                   uint32_t off, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_H */
