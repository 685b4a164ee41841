/*
 * reporttest.c - kernels with planted bugs for the reports of the engine
 * and the TC runtime (docs/debugging.md; tests/test_debug_aids.py),
 * linked into the selftest module.  Not examples to follow.
 *
 *   half_out       o := row 0 only (VSTS with stride 0): rows 1..7 of
 *                  each (8,128) output block are never written, and the
 *                  write-back reads them (poison report names them);
 *   wait_at_point  the body at grid point scalar 0 waits for a signal
 *                  nothing sends (deadlock report with the grid point);
 *   dma_nowait     the body at grid point scalar 0 copies its block to
 *                  scratch and never waits (semaphore non-zero at exit,
 *                  with the DMA that signalled it);
 *   dma_over       copies its 4 KiB block into 1 KiB of scratch by DMA
 *                  (buffer bounds: a DMA that leaves its buffer);
 *   copy_unset     o := never-written scratch VMEM, loaded and stored
 *                  (poison report: where the poison was loaded, stored);
 *   a_kernel_with_a_long_name_31chr  a 31-character kernel name (the
 *                  most there is) whose body, with a long symbol, loads
 *                  8 rows from VMEM address base + scalar 0 (stride 512):
 *                  past the end of VMEM, an engine fault with a long
 *                  message, or (scalar 1 != 0) fails with vtpu_fail()
 *                  and a long text: nothing may be cut on the way out.
 * Blocks are (8,128) along the first dimension.
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(rows8, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_BODY(half_out_body, k)
{
    VBCAST_F32(1, 1.5f);
    VSTS(1, vtpu_ref(k, 0), 0); /* BUG: one row of eight */
}

VTPU_KERNEL(half_out, half_out_body,
            .operands = {VTPU_OUT(VTPU_F32, rows8, 8, 128)});

VTPU_BODY(wait_at_point_body, k)
{
    if (vtpu_program_id(k, 0) == vtpu_scalar(k, 0))
        vtpu_sem_wait(0, 1); /* BUG: nothing signals semaphore 0 */
    VBCAST_I32(1, vtpu_program_id(k, 0));
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(wait_at_point, wait_at_point_body,
            .operands = {VTPU_OUT(VTPU_I32, rows8, 8, 128)}, .num_sems = 1,
            .num_scalars = 1);

VTPU_BODY(dma_nowait_body, k)
{
    VBCAST_I32(1, vtpu_program_id(k, 0));
    VST(1, vtpu_ref(k, 0));
    if (vtpu_program_id(k, 0) == vtpu_scalar(k, 0)) {
        vtpu_dma_desc d;
        vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)k->scratch_vmem),
                    vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 0)), 4096, 0);
        vtpu_dma_start(&d); /* BUG: never waited for */
    }
}

VTPU_KERNEL(dma_nowait, dma_nowait_body,
            .operands = {VTPU_OUT(VTPU_I32, rows8, 8, 128)},
            .scratch_vmem = 4096, .num_sems = 1, .num_scalars = 1);

#define LONG_TEXT                                                              \
    "this text is long on purpose: it names what went wrong in words a "       \
    "kernel author would use, and it goes on for more than two hundred "       \
    "characters so that every buffer on the way to the user has to hold "      \
    "all of it -- END OF TEXT"

static void
this_body_function_has_a_rather_long_name_so_that_reports_carry_it_whole(
    const vtpu_kctx *k)
{
    if (vtpu_scalar(k, 1))
        vtpu_fail(k, LONG_TEXT);
    VLDS(1, VTPU_VMEM_BASE + (uint32_t)vtpu_scalar(k, 0), 512);
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(
    a_kernel_with_a_long_name_31chr,
    this_body_function_has_a_rather_long_name_so_that_reports_carry_it_whole,
    .operands = {VTPU_OUT(VTPU_F32, rows8, 8, 128)}, .num_scalars = 2);

/* o := scratch VMEM that nothing wrote, loaded and stored: the poison
 * travels by value to the write-back, which names the store and load. */
VTPU_BODY(copy_unset_body, k)
{
    VLD(1, k->scratch_vmem); /* BUG: scratch was never written */
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(copy_unset, copy_unset_body,
            .operands = {VTPU_OUT(VTPU_F32, rows8, 8, 128)},
            .scratch_vmem = 4096);

/* A body DMA of its 4 KiB block into 1 KiB of scratch: the DMA's write
 * side leaves the scratch area (buffer bounds, DMA form). */
VTPU_BODY(dma_over_body, k)
{
    vtpu_dma_desc d;

    VBCAST_I32(1, vtpu_program_id(k, 0));
    VST(1, vtpu_ref(k, 0));
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)k->scratch_vmem),
                vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 0)), 4096, 0);
    vtpu_dma_start(&d); /* BUG: the scratch holds 1024 bytes */
    vtpu_sem_wait(0, 4096);
}

VTPU_KERNEL(dma_over, dma_over_body,
            .operands = {VTPU_OUT(VTPU_I32, rows8, 8, 128)},
            .scratch_vmem = 1024, .num_sems = 1);
