/*
 * race_buffer_reuse.c - planted bug for --race (docs/debugging.md): the
 * body refills a VMEM buffer while the DMA that writes it back to HBM may
 * still be reading it.
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define BUF ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x3000))

int main(void)
{
    vtpu_dma_desc d;

    if (vtpu_tc_id() != 0)
        return 0;
    VBCAST_I32(1, 1);
    VST(1, BUF);
    vtpu_dma_1d(&d, vtpu_hbm(0x30000), vtpu_vmem(BUF), 4096, 0);
    vtpu_dma_start(&d);
    VBCAST_I32(2, 2);
    VST(2, BUF); /* BUG: the write-back has not been waited for */
    vtpu_sem_wait(0, vtpu_dma_bytes(&d));
    return 0;
}
