/*
 * copy.c - async copies between an operand's HBM array and a local
 * buffer, for bodies that move their own data (memory space ANY).
 */
#include <stdint.h>

#include "rt.h"

static void prepare(vtpu_copy *c, const vtpu_kctx *k, unsigned op,
                    const uint32_t *start, const uint32_t *size, uint32_t local,
                    unsigned sem, int out)
{
    rt_state *st = &vtpu_rt;
    const char *dir = out ? "vtpu_copy_out" : "vtpu_copy_in";
    if (op >= k->num_operands)
        rt_fail(st, VTPU_LERR_COPY, "%s: operand %u of %lu", dir, op,
                (unsigned long)k->num_operands);
    if (sem >= k->kernel->num_sems)
        rt_fail(st, VTPU_LERR_COPY, "%s: semaphore %u, kernel '%s' declared %u",
                dir, sem, k->kernel->name, k->kernel->num_sems);

    const vtpu_operand_info *in = &k->op[op];
    unsigned r = in->rank;
    uint64_t off = in->hbm;
    for (unsigned d = 0; d < r; d++) {
        if ((uint64_t)start[d] + size[d] > in->shape[d])
            rt_fail(st, VTPU_LERR_COPY,
                    "%s: operand %u: elements %lu..%lu of dimension %u, "
                    "which has %lu",
                    dir, op, (unsigned long)start[d],
                    (unsigned long)(start[d] + size[d]), d,
                    (unsigned long)in->shape[d]);
        /* The array is dense: its strides are the ANY block's. */
        uint64_t hstride = in->itemsize;
        for (unsigned j = d + 1; j < r; j++)
            hstride *= in->shape[j];
        off += start[d] * hstride;
    }

    uint8_t space;
    if (local >= VTPU_VMEM_BASE && local < VTPU_VMEM_BASE + VTPU_VMEM_MAX)
        space = VTPU_DMA_VMEM;
    else if (local >= VTPU_SMEM_BASE && local < VTPU_SMEM_BASE + VTPU_SMEM_MAX)
        space = VTPU_DMA_SMEM;
    else
        rt_fail(st, VTPU_LERR_COPY,
                "%s: local address 0x%08lx is neither VMEM nor SMEM", dir,
                (unsigned long)local);

    uint32_t shape[4];
    int64_t hs[3], ls[3];
    uint64_t lstride = (uint64_t)size[r - 1] * in->itemsize;
    uint64_t bytes = lstride;
    shape[0] = (uint32_t)lstride;
    for (unsigned j = 1; j < r; j++) {
        unsigned d = r - 1 - j;
        uint64_t hstride = in->itemsize;
        for (unsigned m = d + 1; m < r; m++)
            hstride *= in->shape[m];
        shape[j] = size[d];
        hs[j - 1] = (int64_t)hstride;
        ls[j - 1] = (int64_t)lstride;
        lstride *= size[d];
        bytes *= size[d];
    }
    if (bytes > UINT32_MAX)
        rt_fail(st, VTPU_LERR_COPY, "%s: more than 2^32 - 1 bytes", dir);
    if (space == VTPU_DMA_VMEM && ((local | shape[0]) & 3))
        rt_fail(st, VTPU_LERR_COPY,
                "%s: VMEM address 0x%08lx or row of %lu bytes is not whole "
                "32-bit words",
                dir, (unsigned long)local, (unsigned long)shape[0]);

    vtpu_dma_ref l = {local, space, VTPU_DMA_SELF};
    if (out)
        vtpu_dma_nd(&c->desc, vtpu_hbm(off), l, r, shape, hs, ls, sem);
    else
        vtpu_dma_nd(&c->desc, l, vtpu_hbm(off), r, shape, ls, hs, sem);
    c->sem = sem;
    c->bytes = (uint32_t)bytes;
    c->dtype = in->dtype;
}

void vtpu_copy_in(vtpu_copy *c, const vtpu_kctx *k, unsigned op,
                  const uint32_t *start, const uint32_t *size, uint32_t local,
                  unsigned sem)
{
    prepare(c, k, op, start, size, local, sem, 0);
}

void vtpu_copy_out(vtpu_copy *c, const vtpu_kctx *k, unsigned op,
                   const uint32_t *start, const uint32_t *size, uint32_t local,
                   unsigned sem)
{
    prepare(c, k, op, start, size, local, sem, 1);
}
