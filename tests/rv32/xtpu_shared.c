/*
 * xtpu_shared.c - VMEM_SHARED on 4 TCs (works on 1..8): the chip's one
 * shared vector memory at VTPU_VMEM_SHARED_BASE (docs/isa.md).
 *
 *  - every TC stores a vreg with its id into its 4 KiB slot of VMEM_SHARED
 *    with VST, and DMAs a second pattern from its own VMEM into the next
 *    slot-row with a descriptor naming another TC (ignored for shared);
 *  - the barrier; then every TC reads every slot with VLD and by DMA into
 *    its own VMEM and checks the values against what the owner wrote;
 *  - its own VMEM at the same offset was not touched.
 * Run with --race --poison: the barrier orders everything. Exit 0 = ok.
 */
#include <stdint.h>
#include <stdio.h>

#include "vtpu/sync.h"
#include "vtpu/xtpu.h"

#define SLOT 8192u /* per TC: a VST (4 KiB) and a DMA'd 4 KiB */
#define SHARED(off) (VTPU_VMEM_SHARED_BASE + (off))
#define MINE ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x10000))
#define BACK ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x20000))

enum { SEM_DMA = 0 };

static unsigned errors;

static void check(const char *what, unsigned tc, uint32_t got, uint32_t want)
{
    if (got != want && errors++ < 5)
        printf("xtpu_shared: TC%u: %s of TC%u: got %u, want %u\n",
               (unsigned)vtpu_tc_id(), what, tc, (unsigned)got, (unsigned)want);
}

static void dma(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t bytes)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, dst, src, bytes, SEM_DMA);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_DMA, bytes);
}

int main(void)
{
    unsigned id = vtpu_tc_id(), n = vtpu_num_tcs();
    uint32_t slot = SHARED(id * SLOT);

    VBCAST_I32(1, (int32_t)(100 + id));
    VST(1, slot);
    VIOTA(LINEAR, 2, 1000 * id);
    VST(2, MINE);
    /* to "TC (id + 1) % n": the address alone selects VMEM_SHARED */
    dma(vtpu_vmem_tc((id + 1) % n, (const void *)(uintptr_t)(slot + 4096)),
        vtpu_vmem(MINE), 4096);
    vtpu_barrier();

    for (unsigned t = 0; t < n; t++) {
        uint32_t s = SHARED(t * SLOT);
        VLD(3, s);
        for (unsigned e = 0; e < 1024; e += 311) {
            check("VST'd slot", t, VEXT_I32(3, e), 100 + t);
        }
        dma(vtpu_vmem(BACK), vtpu_vmem((const void *)(uintptr_t)(s + 4096)),
            4096);
        VLD(4, BACK);
        for (unsigned e = 0; e < 1024; e += 127) {
            check("DMA'd slot", t, VEXT_I32(4, e), 1000 * t + e);
        }
    }
    /* the TC's own VMEM at the slot's offset was never written: 0, or
     * the poison word with --poison */
    VLD(5, VTPU_VMEM_BASE + id * SLOT);
    uint32_t own = VEXT_I32(5, 0);
    check("own VMEM", id, own == 0x7fc0deadu ? 0 : own, 0);
    vtpu_barrier(); /* nobody leaves while others still read */
    return errors ? 1 : 0;
}
