/*
 * vtpu-snapshot.h - saving a chip, also in the middle of a run, and
 * restoring it (docs/qemu.md "Migration and snapshots", docs/vtpu-run.md
 * "Snapshots").
 *
 * Three parts:
 *
 *  - Quiescing.  vtpu_chip_quiesce() asks every TC of the run in progress
 *    to stop at an instruction boundary (a taken branch or an ecall, where
 *    the interpreter already polls chip->stop) and waits until each one
 *    is parked there, asleep in a semaphore wait or at the barrier (its
 *    pc is the waiting instruction, which it executes again when the run
 *    goes on), halted in the gdb stub, or done.  Deferred DMAs (dma-order on-wait / random) are
 *    completed before the chip counts as quiet.  vtpu_chip_unquiesce()
 *    lets the run go on.  While quiesced, nothing of the chip changes.
 *
 *  - Saving and loading.  vtpu_chip_save() writes everything a run needs
 *    to continue: program slots (as the ELF images they were loaded
 *    from), every TC's registers, pc, CSRs, vector registers and masks,
 *    PRNG, MXU staging and accumulators, semaphores, SMEM, VMEM,
 *    VMEM_SHARED, counters, and the run in progress (TCs started, HBM
 *    grants); HBM only with VTPU_SNAP_HBM (QEMU migrates HBM as RAM).
 *    The format is self-describing and versioned: a magic, a version, the
 *    chip configuration (checked on load: a snapshot loads only into a
 *    chip of the same configuration) and tagged, sized sections.
 *    vtpu_chip_load() reads it back into a chip that has no run in
 *    progress, checking every field: a stream is untrusted input, and a
 *    bad one fails with a message, leaving the chip scrubbed.
 *
 *  - Resuming.  After a load that carried a run in progress,
 *    vtpu_chip_run_resume() continues that run where it stopped, and
 *    returns as vtpu_chip_run() does.
 *
 * Not saved (and documented as reset on load): the race detector's
 * vector clocks and the poison shadow (a loaded chip's memory counts as
 * written), the timeline trace, the semaphores' "last signalled by"
 * records used in reports.
 */
#ifndef VTPU_SNAPSHOT_H
#define VTPU_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Format version written; loads accept VTPU_SNAP_VERSION_MIN..this. */
#define VTPU_SNAP_VERSION 1
#define VTPU_SNAP_VERSION_MIN 1

/* vtpu_chip_save() flags */
#define VTPU_SNAP_HBM 1u /* include HBM (its non-zero pages) */

/* Byte sinks and sources: 0 on success, non-zero on an I/O error (a
 * source that cannot give all `len` bytes fails). */
typedef int (*vtpu_snap_write_fn)(void *opaque, const void *buf, size_t len);
typedef int (*vtpu_snap_read_fn)(void *opaque, void *buf, size_t len);

/*
 * Ask the TCs of the run in progress to stop at an instruction boundary
 * and wait up to timeout_ms (< 0: for ever) until they have.  Returns 0
 * when the chip is quiet (also when no run is in progress), -1 on
 * timeout (a TC held by the debugger, say); the request stays until
 * vtpu_chip_unquiesce() either way.  Any thread but a TC's; a run that
 * starts while the request stands parks its TCs at their first
 * instruction.
 */
int vtpu_chip_quiesce(vtpu_chip *chip, int64_t timeout_ms);
/* Withdraw the request: parked TCs go on. */
void vtpu_chip_unquiesce(vtpu_chip *chip);
/* True while a run is in progress (quiesced or not). */
bool vtpu_chip_run_active(vtpu_chip *chip);

/*
 * Save points for debugging (vtpu-run --save-at): `fn` is called once on
 * a TC's thread with every TC of the run quiesced, when
 *   - TC `tc` has retired at least `insns` instructions (at the first
 *     taken branch or ecall from there: where the interpreter polls), or
 *   - with VTPU_PAUSE_FAULT, a TC is about to fault: the state is the one
 *     just before the faulting instruction, which then executes again
 *     (and faults) when the run goes on.
 * fn may save the chip (vtpu_chip_save()); the run goes on when it
 * returns.  Applies to the next vtpu_chip_run()/vtpu_chip_run_resume();
 * fn NULL clears it.
 */
typedef void (*vtpu_pause_fn)(void *opaque, vtpu_chip *chip, unsigned tc);
#define VTPU_PAUSE_FAULT UINT32_MAX /* as `tc`: just before the first fault */
void vtpu_chip_set_pause(vtpu_chip *chip, uint32_t tc, uint64_t insns,
                         vtpu_pause_fn fn, void *opaque);

/*
 * Write the chip's state.  The chip must be quiet: no run in progress,
 * or one quiesced (vtpu_chip_quiesce(), or inside a pause callback).
 * Returns 0, or -1 with a message (an I/O error of `w`, or a chip that
 * is not quiet).
 */
int vtpu_chip_save(vtpu_chip *chip, unsigned flags, vtpu_snap_write_fn w,
                   void *opaque, char *err, size_t errlen);
/*
 * Read a snapshot into `chip`, which must have the configuration the
 * snapshot was saved with and no run in progress.  With VTPU_SNAP_HBM
 * in `flags`, HBM is zeroed and loaded from the snapshot (which must
 * hold it); without, HBM is left alone (and any HBM in the snapshot is
 * refused).  Returns 0, or -1 with a message naming what was wrong (bad
 * magic, a version this engine does not read, a configuration
 * mismatch, a malformed or truncated section); the chip is then
 * scrubbed.
 */
int vtpu_chip_load(vtpu_chip *chip, unsigned flags, vtpu_snap_read_fn r,
                   void *opaque, char *err, size_t errlen);
/* True if the last vtpu_chip_load() brought a run in progress. */
bool vtpu_chip_run_pending(const vtpu_chip *chip);
/*
 * Continue the run a load brought (vtpu_chip_run_pending()): TCs parked
 * mid-run go on from their pc, TCs that were waiting execute their wait
 * again, TCs that had exited stay exited.  Returns as vtpu_chip_run().
 */
int vtpu_chip_run_resume(vtpu_chip *chip, vtpu_run_result *res);

/*
 * HBM the engine wrote since the last call - TC DMAs, the command
 * processor's copies and fills, vtpu_hbm_write(), the aperture, a scrub
 * or a load - reported to `fn` as page-aligned ranges, then forgotten.
 * Writes through vtpu_chip_hbm_ptr() are the embedder's to track (QEMU
 * tracks its own, BAR2 included).  For an embedder that migrates HBM as
 * memory: when the chip is quiet (no run, or one quiesced, and no
 * command executing), everything else is already in its dirty log.
 */
void vtpu_chip_hbm_dirty_take(vtpu_chip *chip,
                              void (*fn)(void *opaque, uint64_t off,
                                         uint64_t len),
                              void *opaque);

/* Convenience for files (vtpu-run): save to / load from `path`. */
int vtpu_chip_save_file(vtpu_chip *chip, unsigned flags, const char *path,
                        char *err, size_t errlen);
int vtpu_chip_load_file(vtpu_chip *chip, unsigned flags, const char *path,
                        char *err, size_t errlen);
/*
 * The configuration a snapshot file was saved with (to make a chip
 * that can load it).  0, or -1 with a message (not a snapshot, a
 * version this engine does not read).
 */
int vtpu_snap_file_config(const char *path, vtpu_config *cfg, char *err,
                          size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_SNAPSHOT_H */
