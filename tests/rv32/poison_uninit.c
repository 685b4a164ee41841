/*
 * poison_uninit.c - planted bug for --poison (docs/debugging.md): only
 * the first half of a block is computed, the whole block is written
 * back (or, built with -DTO_MXU as poison_mxu.c, the never-written half
 * is pushed into the MXU).
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define BUF ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x4000))
#define HALF ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x5000))

int main(void)
{
    vtpu_dma_desc d;

    if (vtpu_tc_id() != 0)
        return 0;
    VBCAST_F32(1, 1.5f);
    VST(1, BUF); /* BUG: the block is 8 KiB, HALF is never written */
#ifdef TO_MXU
    VLD(2, HALF);
    MXU_PUSH_F32(0, 2, 0);
    return 0;
#endif
    vtpu_dma_1d(&d, vtpu_hbm(0x40000), vtpu_vmem(BUF), 8192, 0);
    vtpu_dma_start(&d);
    vtpu_sem_wait(0, vtpu_dma_bytes(&d));
    return 0;
}
