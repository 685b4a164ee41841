/*
 * poison_add.c - planted bug for --poison (docs/debugging.md): partial
 * sums are added into a VMEM accumulator with adding DMAs
 * (VTPU_DMA_ADD), but the accumulator is never cleared first, so the
 * first add reads memory nothing wrote.
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define PARTS ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x4000))
#define ACC ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x6000))

int main(void)
{
    vtpu_dma_desc d;

    if (vtpu_tc_id() != 0)
        return 0;
    VBCAST_F32(1, 0.25f);
    VST(1, PARTS); /* two partial sums of 2 KiB */
    /* BUG: ACC was never zeroed or copied into before the first add */
    for (unsigned part = 0; part < 2; part++) {
        vtpu_dma_1d(&d, vtpu_vmem(ACC),
                    vtpu_vmem((const char *)PARTS + part * 2048), 2048, 0);
        vtpu_dma_set_add(&d, VTPU_F32);
        vtpu_dma_start(&d);
        vtpu_sem_wait(0, vtpu_dma_bytes(&d));
    }
    return 0;
}
