/*
 * check.h - the opt-in dynamic checks: data races (race.c), reads of
 * never-written memory (poison.c) and accesses that leave the buffer
 * they started in (bounds.c), behind one framework (check.c) that the
 * rest of the engine calls.  docs/debugging.md, "Race detection" and
 * "Uninitialised memory", describe what they report.
 *
 * Cost when off: chip->check is NULL when neither check is configured
 * (vtpu_config.race / .poison), and each TC's tc->check is NULL for a run
 * without checks.  Hooks are called only behind one test of that pointer,
 * once per Xtpu memory instruction, DMA or semaphore operation; scalar
 * SMEM loads/stores are checked only in runs that have checks, through a
 * private copy of the decoded program whose load/store entries point at
 * the interpreter's MEMCHK handler (the unchecked handlers are unchanged).
 * Inside the framework each check is one pointer, NULL when it is off,
 * tested before any of its work.
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

/* run.c: after the TCs are reset for a run, before a collective run's
 * launch rendezvous (so other chips' remote writes of this run come
 * after it).  Sets tc->check and, when scalar accesses are checked,
 * tc->code. */
void vtpu_check_run_begin(vtpu_chip *chip, unsigned ntcs);
/* run.c: after the rendezvous, before the TC threads start. */
void vtpu_check_run_start(vtpu_chip *chip, unsigned ntcs);

/* fabric.c: the chip joined a fabric (its race detector shares the
 * fabric's agent space, race.c) / left it. */
void vtpu_check_attach(vtpu_chip *chip);
void vtpu_check_detach(vtpu_chip *chip);
/* Most chips of one fabric race detection supports (race.c). */
#define VTPU_RACE_MAX_CHIPS 64u

/* xtpu.c: a vector load/store of 8 sublanes of 512 bytes at addr + s *
 * stride (already bounds-checked); mask NULL or the 8x128 lane mask;
 * vreg the register's 8x128 words. */
int vtpu_check_vmem(vtpu_tc *tc, uint32_t addr, int32_t stride,
                    const uint32_t *mask, const uint32_t *vreg, bool store);

/* xtpu.c: vreg `v` is about to be an MXU operand (poison). */
int vtpu_check_mxu_input(vtpu_tc *tc, unsigned v);

/* interp.c (MEMCHK): a scalar SMEM access; out-of-range ones are ignored
 * here (the unchecked handler then faults).  `frame`: addressed off sp,
 * the compiler's stack frame, whose loads poison does not check (they
 * copy structs with unset padding and temporaries; poison.c). */
int vtpu_check_smem(vtpu_tc *tc, uint32_t addr, unsigned size, bool store,
                    bool frame);

/* dma.c: a validated DMA at its start (whenever it is executed). */
int vtpu_check_dma(vtpu_tc *tc, const vtpu_dma_plan *p);
/* dma.c: a validated remote DMA at its start (p->remote; its
 * destination is p->rchip's memory, or another process's when NULL).
 * Called when tc->check or p->rchip->check is set; either may be NULL.
 * To another process with race detection on, p->race_ep gets the DMA's
 * epoch and its clock is kept until vtpu_check_remote_clock(). */
int vtpu_check_remote_dma(vtpu_tc *tc, vtpu_dma_plan *p);
/* dma.c, sending p (p->race_ep set) through the transport: its race
 * information into *rc; returns the clock to g_free after the send, or
 * NULL (none: the run's checks changed). */
uint32_t *vtpu_check_remote_clock(vtpu_tc *tc, const vtpu_dma_plan *p,
                                  vtpu_race_clock *rc);
/* sync.c: sem.signal.remote to (chip, tc, sem), validated, before it is
 * sent.  To a chip of another process with race detection on, the
 * signal's race information goes into *rc (valid until the TC's next
 * remote signal) and true is returned. */
bool vtpu_check_signal_remote(vtpu_tc *tc, uint32_t chip, uint32_t dst_tc,
                              uint32_t sem, uint32_t n, vtpu_race_clock *rc);
/* fabric.c, for messages from another process: a delivered DMA wrote
 * [p, p+len) of chip's memory (poison: defined); a delivered signal or
 * DMA without race information is about to signal (tc, sem) by n (race:
 * it orders everything local so far). */
void vtpu_check_written(vtpu_chip *chip, const uint8_t *p, uint64_t len);
void vtpu_check_delivered(vtpu_chip *chip, uint32_t tc, uint32_t sem,
                          uint32_t n);
/* fabric.c, for messages from another process that carry the sender's
 * race information (already checked, vtpu_race_clock_check): a
 * delivered DMA's destination runs (as apply_dma scatters them, from
 * mem + off) checked and recorded as the sender's writes before any is
 * written (0, or -1 + err "DATA RACE: ..." with the report on the
 * chip's output); a delivered signal or DMA is about to signal (tc,
 * sem) by n with the sender's clock. */
int vtpu_check_delivered_dma(vtpu_chip *chip, unsigned src_chip,
                             const vtpu_remote_dma *d, uint8_t *mem,
                             int64_t off, char *err, size_t errlen);
void vtpu_check_delivered_race(vtpu_chip *chip, uint32_t tc, uint32_t sem,
                               uint32_t n, const vtpu_race_clock *rc);

/* xtpu_sync.c: synchronisation, for happens-before. */
void vtpu_check_signal(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                       uint32_t n); /* before the signal */
void vtpu_check_wait(vtpu_tc *tc, uint32_t sem, uint32_t n); /* after */
void vtpu_check_barrier_arrive(vtpu_tc *tc);
void vtpu_check_barrier_leave(vtpu_tc *tc);

/* chip.c / cmd.c: the host wrote HBM bytes [off, off+len) (poison). */
void vtpu_check_host_write(vtpu_chip *chip, uint64_t off, uint64_t len);

/* ---- check.c, for race.c and poison.c ---- */

/* Where an access is: a space, the TC owning it, a byte offset. */
typedef struct vtpu_mem_ref {
    vtpu_space space;
    unsigned tc;  /* owner of VMEM/SMEM */
    uint64_t off; /* byte offset in the space */
} vtpu_mem_ref;

/* Space-relative offset -> the address a program uses. */
uint64_t vtpu_check_addr(const vtpu_mem_ref *r);
/* "HBM" or "VMEM of TC 1" into buf; returns buf. */
const char *vtpu_check_space(const vtpu_mem_ref *r, char *buf, size_t len);
/* The same for memory of `chip`, naming it on a slice: "HBM of chip 1",
 * "VMEM of chip 1 TC 0" (40 bytes suffice). */
/* The same for chip `chip_id` of a slice (always names the chip). */
const char *vtpu_check_space_of(unsigned chip_id, const vtpu_mem_ref *r,
                                char *buf, size_t len);
const char *vtpu_check_space_on(const vtpu_chip *chip, const vtpu_mem_ref *r,
                                char *buf, size_t len);

/* A grid point the TC runtime published in its mailbox (vtpu-launch.h). */
typedef struct vtpu_grid_pt {
    int8_t rank; /* -1: none (no runtime, or not in its grid loop) */
    int32_t pt[4];
} vtpu_grid_pt;

void vtpu_check_grid_get(vtpu_tc *tc, vtpu_grid_pt *g);
/* "grid (1,0)", or "" for none. */
void vtpu_check_grid_fmt(const vtpu_grid_pt *g, char *buf, size_t len);
/* Both, for tc now. */
void vtpu_check_grid(vtpu_tc *tc, char *buf, size_t len);
/* The access tc is making now: "TC 0 at pc 0x001000f4 main+0x9c" and,
 * with a grid point, ", grid (3)"; on a slice "chip 1 TC 0 at ...". */
void vtpu_check_where(vtpu_tc *tc, char *buf, size_t len);
/* Emit the full report to the output and fault tc with `kind`. */
int vtpu_check_report(vtpu_tc *tc, vtpu_error_kind kind, const vtpu_mem_ref *at,
                      uint64_t len, const char *detail, const char *full);

/* ---- race.c: the race detector, created only when race is on ---- */
typedef struct vtpu_race vtpu_race;

/* NULL (with a warning) when its shadow memory cannot be reserved. */
vtpu_race *vtpu_race_new(vtpu_chip *chip);
void vtpu_race_free(vtpu_race *rd);
/* Before the rendezvous: publish this chip's clocks, reset queues (and
 * every chip's clocks near their limit). */
void vtpu_race_run_begin(vtpu_race *rd, unsigned ntcs);
/* After it: every chip's previous run happens before all of this one;
 * TCs 0..ntcs-1 start their first epoch. */
void vtpu_race_run_start(vtpu_race *rd, unsigned ntcs);
/* The agent space of a fabric's chips (race.c); NULL when nchips is
 * above VTPU_RACE_MAX_CHIPS. */
typedef struct vtpu_race_dom vtpu_race_dom;
vtpu_race_dom *vtpu_race_dom_new(unsigned nchips);
void vtpu_race_dom_free(vtpu_race_dom *d);
/* rd becomes chip idx of d / its own domain again. */
void vtpu_race_attach(vtpu_race *rd, vtpu_race_dom *d, unsigned idx);
void vtpu_race_detach(vtpu_race *rd);
/* Check and record len bytes at r of rd's chip, accessed by tc itself
 * or (dma) by the DMA tc is starting, between vtpu_race_dma_start() (or
 * _remote_start()) and _end(); tc may be of another chip of the
 * fabric (a remote DMA's destination). */
int vtpu_race_access(vtpu_race *rd, vtpu_tc *tc, bool dma,
                     const vtpu_mem_ref *r, uint64_t len, bool write);
/* A DMA that will signal `units` on semaphore (sem_tc, sem). */
void vtpu_race_dma_start(vtpu_race *rd, vtpu_tc *tc, uint32_t sem_tc,
                         uint32_t sem, uint32_t units);
void vtpu_race_dma_end(vtpu_race *rd, vtpu_tc *tc);
/* A remote DMA tc starts (then checked and ended as a DMA): receive
 * semaphore (rtc, rsem) of dst (dst_chip's detector, NULL: none or
 * another process), send semaphore send_sem of tc. */
void vtpu_race_remote_start(vtpu_race *rd, vtpu_tc *tc, vtpu_race *dst,
                            uint32_t dst_chip, uint32_t rtc, uint32_t rsem,
                            uint32_t send_sem, uint32_t units);
/* sem.signal.remote to (target_tc, sem) of dst's chip. */
void vtpu_race_signal_remote(vtpu_race *rd, vtpu_tc *tc, vtpu_race *dst,
                             uint32_t target_tc, uint32_t sem, uint32_t n);
/* A signal from another process (vtpu_check_delivered). */
/* Messages to and from other processes (vtpu_race_clock, vtpu-slice.h).
 * Agents of a slice of nchips (0: too many chips for race detection). */
unsigned vtpu_race_dom_agents(unsigned nchips);
/* Is rc a well-formed clock from chip src_chip of a slice of nchips? */
int vtpu_race_clock_check(unsigned nchips, unsigned src_chip, bool dma,
                          const vtpu_race_clock *rc, char *err, size_t errlen);
/* After vtpu_race_remote_start of a DMA to another process: keep its
 * clock; returns its epoch (never 0). */
uint32_t vtpu_race_remote_keep(vtpu_race *rd, vtpu_tc *tc);
/* The kept clock of epoch ep into *rc, handed over (g_free), or NULL. */
uint32_t *vtpu_race_remote_take(vtpu_race *rd, vtpu_tc *tc, uint32_t ep,
                                vtpu_race_clock *rc);
/* Before vtpu_race_signal_remote: tc's clock now into *rc (tc's buffer). */
void vtpu_race_signal_clock(vtpu_race *rd, vtpu_tc *tc, vtpu_race_clock *rc);
/* A delivered DMA's clock as this domain uses it (g_free); then each
 * destination run checked and recorded (0, or -1 + err, reported). */
uint32_t *vtpu_race_far_dma(vtpu_race *rd, unsigned src_chip,
                            const vtpu_race_clock *rc);
int vtpu_race_far_write(vtpu_race *rd, unsigned src_chip,
                        const vtpu_race_clock *rc, const uint32_t *vc,
                        uint32_t pc, const vtpu_mem_ref *r, uint64_t len,
                        char *err, size_t errlen);
void vtpu_race_delivered_clock(vtpu_race *rd, uint32_t target_tc, uint32_t sem,
                               uint32_t n, const vtpu_race_clock *rc);
void vtpu_race_delivered(vtpu_race *rd, uint32_t target_tc, uint32_t sem,
                         uint32_t n);
/* The synchronisation hooks above, for happens-before. */
void vtpu_race_signal(vtpu_race *rd, vtpu_tc *tc, uint32_t target_tc,
                      uint32_t sem, uint32_t n);
void vtpu_race_wait(vtpu_race *rd, vtpu_tc *tc, uint32_t sem, uint32_t n);
void vtpu_race_barrier_arrive(vtpu_race *rd, vtpu_tc *tc);
void vtpu_race_barrier_leave(vtpu_race *rd, vtpu_tc *tc);

/* ---- regions.c: the TC runtime's buffers (vtpu-launch.h) ---- */
/* Copy and check tc's region table into out[VTPU_MAX_REGIONS]: the
 * number of usable regions, 0 without a runtime in its grid phase. */
uint32_t vtpu_regions_read(const vtpu_tc *tc, vtpu_region *out);
const char *vtpu_region_kind_name(const vtpu_region *r);
/* "operand 2's block buffer 0 (8,128) x 4 bytes: VMEM [a, b) (n bytes)" */
void vtpu_region_fmt(const vtpu_region *r, char *buf, size_t len);
/* What `len` bytes at `at` are, for reports: "operand 2's array,
 * elements (8, 0)..(15, 127)".  false (buf "") when no region holds it. */
bool vtpu_regions_describe(vtpu_chip *chip, const vtpu_mem_ref *at,
                           uint64_t len, char *buf, size_t buflen);

/* ---- bounds.c: buffer bounds, created only when bounds is on ---- */
typedef struct vtpu_bounds vtpu_bounds;
vtpu_bounds *vtpu_bounds_new(vtpu_chip *chip);
void vtpu_bounds_free(vtpu_bounds *b);
void vtpu_bounds_run_begin(vtpu_bounds *b, unsigned ntcs);
/* A vector access (as vtpu_check_vmem()): 0, or -1 after a report. */
int vtpu_bounds_vmem(vtpu_bounds *b, vtpu_tc *tc, uint32_t addr,
                     int32_t stride, const uint32_t *mask, bool store);
/* One side of a DMA tc starts, first byte at r (dims as vtpu_dma_plan). */
int vtpu_bounds_dma_side(vtpu_bounds *b, vtpu_tc *tc, const vtpu_mem_ref *r,
                         const int64_t *stride, const uint64_t *count,
                         unsigned ndims, bool write);
/* A remote DMA's destination (on chip `chip`) against the issuer's own
 * buffers: the same layout on every chip (bounds.c). */
int vtpu_bounds_remote_dst(vtpu_bounds *b, vtpu_tc *tc,
                           const vtpu_remote_dma *d, unsigned chip);

/* The region table of tc's runtime while it walks its grid (n = 0 and
 * NULL otherwise), for padding.c. */
const vtpu_region *vtpu_bounds_regions(vtpu_bounds *b, vtpu_tc *tc,
                                       uint32_t *n);

/* ---- padding.c: reads of edge blocks' padding (bounds = logical) ---- */
typedef struct vtpu_padding vtpu_padding;
vtpu_padding *vtpu_padding_new(vtpu_chip *chip, vtpu_bounds *bounds);
void vtpu_padding_free(vtpu_padding *p);
void vtpu_padding_run_begin(vtpu_padding *p, unsigned ntcs);
/* A vector access (as vtpu_check_vmem()): a load of padding is
 * reported (0, or -1 after the report); a store clears it. */
int vtpu_padding_vmem(vtpu_padding *p, vtpu_tc *tc, uint32_t addr,
                      int32_t stride, const uint32_t *mask, bool store);
/* A DMA tc starts (its first bytes at src and dst): its destination
 * becomes padding when it copies from the runtime's zero block. */
void vtpu_padding_dma(vtpu_padding *p, vtpu_tc *tc, const vtpu_mem_ref *src,
                      const vtpu_mem_ref *dst, const int64_t *dst_stride,
                      const uint64_t *count, unsigned ndims);

/* ---- poison.c: the poison check, created only when poison is on ---- */
typedef struct vtpu_poison vtpu_poison;
vtpu_poison *vtpu_poison_new(vtpu_chip *chip);
void vtpu_poison_free(vtpu_poison *p);
void vtpu_poison_run_begin(vtpu_poison *p, unsigned ntcs);
/* Mark written / check read; range in one space, len bytes, runs of
 * `len` at off. who/pc describe the reader for reports. */
void vtpu_poison_write(vtpu_poison *p, const vtpu_mem_ref *r, uint64_t len);
int vtpu_poison_read(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                     uint64_t len, const char *who);
/* A scalar SMEM load of `len` bytes at r: reported when none of them
 * was written (a load that covers written bytes too is a struct copy
 * carrying padding, not a use of an unset value). */
int vtpu_poison_scalar(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       unsigned len);
/* A vector store of n words: those equal to the poison NaN stay
 * unwritten (copied poison). */
void vtpu_poison_store(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       const uint32_t *words, unsigned n);
/* A vector load of n words: the never-written ones read as poison. */
void vtpu_poison_vload(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       unsigned n);
int vtpu_poison_mxu(vtpu_poison *p, vtpu_tc *tc, unsigned v,
                    const uint32_t *words);

#endif /* VTPU_CHECK_H */
