/*
 * race_two_writers.c - planted bug for --race (docs/debugging.md): two
 * TCs each write one output block of HBM, the same one, with nothing
 * ordering the two DMAs.
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define BUF ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x2000))
#define OUT 0x20000 /* BUG: should be OUT + 4096 * TC id */

int main(void)
{
    vtpu_dma_desc d;

    VBCAST_I32(1, vtpu_tc_id());
    VST(1, BUF);
    vtpu_dma_1d(&d, vtpu_hbm(OUT), vtpu_vmem(BUF), 4096, 0);
    vtpu_dma_start(&d);
    vtpu_sem_wait(0, vtpu_dma_bytes(&d));
    return 0;
}
