/*
 * dma_probe.c - one DMA read and one DMA write of HBM, where the run
 * arguments say: a2 = HBM offset to read, a3 = bytes (<= 4096), a4 = HBM
 * offset to write them back to (+1 each byte).  For the isolation tests
 * (tests/test_guest_boundary.c): a launch may touch only the HBM it was
 * granted.  Exit 0 after both copies.
 */
#include <stdint.h>

#include "vtpu/sync.h"

unsigned long vtpu_entry_arg(unsigned i); /* firmware/bare/syscalls.c */

static uint8_t buf[4096];

int main(void)
{
    uint32_t src = vtpu_entry_arg(0), n = vtpu_entry_arg(1);
    uint32_t dst = vtpu_entry_arg(2);
    vtpu_dma_desc d;

    if (vtpu_tc_id() != 0)
        return 0;
    if (n > sizeof(buf))
        return 2;
    vtpu_dma_1d(&d, vtpu_smem(buf), vtpu_hbm(src), n, 0);
    vtpu_dma_start(&d);
    vtpu_sem_wait(0, n);
    for (uint32_t i = 0; i < n; i++)
        buf[i]++;
    vtpu_dma_1d(&d, vtpu_hbm(dst), vtpu_smem(buf), n, 0);
    vtpu_dma_start(&d);
    vtpu_sem_wait(0, n);
    return 0;
}
