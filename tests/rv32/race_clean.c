/*
 * race_clean.c - the correct forms of the planted races (race_*.c), run
 * with --race --poison on 2 TCs: every pattern below is ordered by a DMA
 * wait, a semaphore from the other TC or the barrier, so no report.
 * Exit 0 = the data was right too.
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define BUF ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x1000))
#define OUT 0x20000
enum { SEM_DMA = 0, SEM_HANDOFF = 1 };

static volatile uint32_t got[4];

static void put(uint32_t hbm, int32_t v)
{
    vtpu_dma_desc d;
    VBCAST_I32(1, v);
    VST(1, BUF);
    vtpu_dma_1d(&d, vtpu_hbm(hbm), vtpu_vmem(BUF), 4096, SEM_DMA);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_DMA, vtpu_dma_bytes(&d)); /* before reusing BUF */
}

int main(void)
{
    unsigned tc = vtpu_tc_id();
    vtpu_dma_desc d;

    /* Each TC its own output block; then the same block, in turn. */
    put(OUT + 4096 * (tc + 1), (int32_t)tc);
    if (tc == 0) {
        put(OUT, 7);
        vtpu_sem_signal_tc(1, SEM_HANDOFF, 1); /* TC 1 may now use OUT */
    } else {
        vtpu_sem_wait(SEM_HANDOFF, 1);
        vtpu_dma_1d(&d, vtpu_smem((const void *)got), vtpu_hbm(OUT),
                    sizeof(got), SEM_DMA);
        vtpu_dma_start(&d);
        vtpu_sem_wait(SEM_DMA, vtpu_dma_bytes(&d));
        if (got[0] != 7)
            return 1;
        put(OUT, 8);
    }
    vtpu_barrier();
    /* After the barrier everyone may read everything. */
    vtpu_dma_1d(&d, vtpu_smem((const void *)got), vtpu_hbm(OUT + 4096 * (2 - tc)),
                sizeof(got), SEM_DMA);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_DMA, vtpu_dma_bytes(&d));
    return got[3] == 1 - tc ? 0 : 2;
}
