/*
 * dma_order.c - planted DMA-ordering bugs for the --dma-order check
 * (tests/test_debug_aids.py, docs/debugging.md).  Runs on TC 0 only;
 * other TCs exit at once.
 *
 *   1. reads a DMA's destination before waiting for it;
 *   2. overwrites a DMA's source before waiting for it;
 *   3. starts two DMAs to the same destination and assumes the second
 *      one lands last.
 *
 * Prints what it saw, one line each; exits with a bit per planted bug
 * that bit (1, 2, 4), so 0 with the eager order, 3 with on-wait, and a
 * seed-dependent value with the random order (the third line tells which
 * DMA landed last).
 */
#include <stdint.h>
#include <stdio.h>

#include "vtpu/sync.h"

enum { SEM = 0 };

static volatile uint32_t src[4], dst[4], src2[4];

int main(void)
{
    vtpu_dma_desc d, d2;
    int bits = 0;

    if (vtpu_tc_id() != 0)
        return 0;

    /* 1: destination read too early. */
    src[0] = 42;
    vtpu_dma_1d(&d, vtpu_smem((const void *)dst), vtpu_smem((const void *)src),
                sizeof(src), SEM);
    vtpu_dma_start(&d);
    uint32_t early = dst[0]; /* BUG: before vtpu_sem_wait */
    vtpu_sem_wait(SEM, vtpu_dma_bytes(&d));
    printf("read before wait: %u\n", (unsigned)early);
    if (early != 42)
        bits |= 1;

    /* 2: source reused too early. */
    src[0] = 7;
    vtpu_dma_start(&d);
    src[0] = 8; /* BUG: the DMA may still read src */
    vtpu_sem_wait(SEM, vtpu_dma_bytes(&d));
    printf("copied: %u\n", (unsigned)dst[0]);
    if (dst[0] != 7)
        bits |= 2;

    /* 3: two DMAs to one place, "the second wins". */
    src[0] = 100;
    src2[0] = 200;
    vtpu_dma_1d(&d2, vtpu_smem((const void *)dst),
                vtpu_smem((const void *)src2), sizeof(src2), SEM);
    vtpu_dma_start(&d);
    vtpu_dma_start(&d2);
    vtpu_sem_wait(SEM, vtpu_dma_bytes(&d) + vtpu_dma_bytes(&d2));
    printf("last landed: %u\n", (unsigned)dst[0]);
    if (dst[0] != 200)
        bits |= 4;
    return bits;
}
