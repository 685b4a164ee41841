/*
 * check.h - the opt-in dynamic checks: data races (race.c) and reads of
 * never-written memory (poison.c).  docs/debugging.md, "Race detection"
 * and "Uninitialised memory", describe what they report.
 *
 * Cost when off: chip->check is NULL when neither check is configured
 * (vtpu_config.race / .poison), and each TC's tc->check is NULL for a run
 * without checks.  Hooks are called only behind one test of that pointer,
 * once per Xtpu memory instruction, DMA or semaphore operation; scalar
 * SMEM loads/stores are checked only in runs that have checks, through a
 * private copy of the decoded program whose load/store entries point at
 * the interpreter's MEMCHK handler (the unchecked handlers are unchanged).
 *
 * Every hook returns 0, or -1 after recording a fault on `tc` (kind
 * VTPU_ERR_RACE or VTPU_ERR_UNINIT), which ends the run like any fault.
 * The full two-access report also goes to the chip's output (fd 2).
 */
#ifndef VTPU_CHECK_H
#define VTPU_CHECK_H

#include "internal.h"

typedef struct vtpu_check vtpu_check;

/* chip.c: create/free with the chip (NULL when no check is configured). */
vtpu_check *vtpu_check_new(vtpu_chip *chip);
void vtpu_check_free(vtpu_check *ck);

/* run.c: after the TCs are reset for a run, before their threads start.
 * Sets tc->check and, when scalar accesses are checked, tc->code. */
void vtpu_check_run_begin(vtpu_chip *chip, unsigned ntcs);

/* xtpu.c: a vector load/store of 8 sublanes of 512 bytes at addr + s *
 * stride (already bounds-checked); mask NULL or the 8x128 lane mask;
 * vreg the register's 8x128 words. */
int vtpu_check_vmem(vtpu_tc *tc, uint32_t addr, int32_t stride,
                    const uint32_t *mask, const uint32_t *vreg, bool store);

/* xtpu.c: vreg `v` is about to be an MXU operand (poison). */
int vtpu_check_mxu_input(vtpu_tc *tc, unsigned v);

/* interp.c (MEMCHK): a scalar SMEM access; out-of-range ones are ignored
 * here (the unchecked handler then faults). */
int vtpu_check_smem(vtpu_tc *tc, uint32_t addr, unsigned size, bool store);

/* dma.c: a validated DMA at its start (whenever it is executed). */
int vtpu_check_dma(vtpu_tc *tc, const vtpu_dma_plan *p);

/* xtpu_sync.c: synchronisation, for happens-before. */
void vtpu_check_signal(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                       uint32_t n); /* before the signal */
void vtpu_check_wait(vtpu_tc *tc, uint32_t sem, uint32_t n); /* after */
void vtpu_check_barrier_arrive(vtpu_tc *tc);
void vtpu_check_barrier_leave(vtpu_tc *tc);

/* chip.c / cmd.c: the host wrote HBM bytes [off, off+len) (poison). */
void vtpu_check_host_write(vtpu_chip *chip, uint64_t off, uint64_t len);

/* ---- shared by race.c and poison.c ---- */
typedef struct vtpu_mem_ref {
    vtpu_space space;
    unsigned tc;  /* owner of VMEM/SMEM */
    uint64_t off; /* byte offset in the space */
} vtpu_mem_ref;

/* Which memory a host pointer into chip memory belongs to. */
bool vtpu_check_resolve(vtpu_chip *chip, const uint8_t *p, vtpu_mem_ref *r);
/* Space-relative offset -> the address a program uses. */
uint64_t vtpu_check_addr(const vtpu_mem_ref *r);
/* "grid (1,0)" of tc now, "" without the runtime's mailbox. */
void vtpu_check_grid(vtpu_tc *tc, char *buf, size_t len);
/* Emit the full report to the output and fault tc with `kind`. */
int vtpu_check_report(vtpu_tc *tc, vtpu_error_kind kind, const vtpu_mem_ref *at,
                      uint64_t len, const char *detail, const char *full);

/* poison.c */
typedef struct vtpu_poison vtpu_poison;
vtpu_poison *vtpu_poison_new(vtpu_chip *chip);
void vtpu_poison_free(vtpu_poison *p);
void vtpu_poison_run_begin(vtpu_poison *p, unsigned ntcs);
/* Mark written / check read; range in one space, len bytes, runs of
 * `len` at off. who/pc describe the reader for reports. */
void vtpu_poison_write(vtpu_poison *p, const vtpu_mem_ref *r, uint64_t len);
int vtpu_poison_read(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                     uint64_t len, const char *who);
/* A vector store of n words: those equal to the poison NaN stay
 * unwritten (copied poison). */
void vtpu_poison_store(vtpu_poison *p, const vtpu_mem_ref *r,
                       const uint32_t *words, unsigned n);
/* A vector load of n words: the never-written ones read as poison. */
void vtpu_poison_vload(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       unsigned n);
int vtpu_poison_mxu(vtpu_poison *p, vtpu_tc *tc, unsigned v,
                    const uint32_t *words);

#endif /* VTPU_CHECK_H */
