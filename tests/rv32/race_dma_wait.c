/*
 * race_dma_wait.c - planted bug for --race (docs/debugging.md): a vector
 * load of a DMA's destination before waiting for the DMA.  With the eager
 * DMA order the data is already there, so only the race check sees it.
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define BUF ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x1000))

int main(void)
{
    vtpu_dma_desc d;

    if (vtpu_tc_id() != 0)
        return 0;
    vtpu_dma_1d(&d, vtpu_vmem(BUF), vtpu_hbm(0x10000), 4096, 0);
    vtpu_dma_start(&d);
    VLD(1, BUF); /* BUG: the wait comes after */
    vtpu_sem_wait(0, vtpu_dma_bytes(&d));
    return 0;
}
