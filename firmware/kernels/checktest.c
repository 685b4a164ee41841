/*
 * checktest.c - kernels with planted bugs for the TC runtime's debugging
 * checks (docs/debugging.md; tests/test_debug_aids.py), linked into the
 * selftest module.  Not examples to follow.
 *
 *   walk_order   o block i := the step at which grid point i ran: shows
 *                the order of grid points (lexicographic or shuffled);
 *                a kernel whose result depends on that order;
 *   print_point  the same, printing "step S" each step (tagged output);
 *   revisit_out  output block g % 2 over grid (4): block 0 is written
 *                back after point 0 and comes back at point 2;
 *   oob_index    output block g + 1: out of range at the last point;
 *   uninit_read  copies scratch VMEM it never wrote into its output: an
 *                uninitialised read for poison=on (python/tests).
 * Outputs are (8,128) i32 blocks along the first dimension.
 */
#include <stdio.h>

#include <vtpu/kernel.h>

enum { SEM_FILL, NUM_SEMS };
#define BLOCK_WORDS (8 * 128)

VTPU_INDEX_MAP(rows, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_INDEX_MAP(alternate, g, s, b)
{
    b[0] = g[0] % 2;
    b[1] = 0;
}

VTPU_INDEX_MAP(shifted, g, s, b)
{
    b[0] = g[0] + 1;
    b[1] = 0;
}

/* Output block 0 := the step number, through an SMEM staging buffer. */
static void fill_step(const vtpu_kctx *k)
{
    int32_t *buf = (int32_t *)k->scratch_smem;
    vtpu_dma_desc d;

    for (unsigned i = 0; i < BLOCK_WORDS; i++)
        buf[i] = (int32_t)k->step;
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 0)),
                vtpu_smem(buf), BLOCK_WORDS * 4, SEM_FILL);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_FILL, BLOCK_WORDS * 4);
}

VTPU_BODY(walk_order_body, k)
{
    fill_step(k);
}

VTPU_BODY(print_point_body, k)
{
    printf("step %u\n", (unsigned)k->step);
    fill_step(k);
}

#define STEP_KERNEL(name, body, map)                                           \
    VTPU_KERNEL(name, body, .operands = {VTPU_OUT(VTPU_I32, map, 8, 128)},     \
                .scratch_smem = BLOCK_WORDS * 4, .num_sems = NUM_SEMS)

STEP_KERNEL(walk_order, walk_order_body, rows);
STEP_KERNEL(print_point, print_point_body, rows);
STEP_KERNEL(revisit_out, walk_order_body, alternate);
STEP_KERNEL(oob_index, walk_order_body, shifted);

VTPU_BODY(uninit_read_body, k)
{
    VLD(1, k->scratch_vmem); /* BUG: never written */
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(uninit_read, uninit_read_body,
            .operands = {VTPU_OUT(VTPU_F32, rows, 8, 128)},
            .scratch_vmem = BLOCK_WORDS * 4);
