/*
 * copy.c - copy_block: o = x for any dtype, (16,128) blocks.
 *
 * The body moves the block VMEM -> VMEM with a DMA on its own semaphore,
 * so it works for every element size (a bf16 (16,128) block is one packed
 * vreg, an i8 one half of one); it exists to exercise the pipeline's
 * handling of narrow types at array edges.
 */
#include <vtpu/kernel.h>

enum { SEM_COPY, NUM_SEMS };

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(copy_block_body, k)
{
    vtpu_dma_desc d;
    uint32_t bytes = k->op[0].bytes;
    if (k->op[1].dtype != k->op[0].dtype)
        vtpu_fail(k, "copy_block copies between arrays of one dtype");
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 1)),
                vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 0)), bytes, SEM_COPY);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_COPY, bytes);
}

VTPU_KERNEL(copy_block, copy_block_body,
            .operands = {VTPU_IN(VTPU_DT_ANY, tile_ij, 16, 128),
                         VTPU_OUT_LIKE(0, VTPU_DT_ANY, tile_ij, 16, 128)},
            .num_sems = NUM_SEMS);
