/*
 * coremap.c - a per-core kernel (Pallas' pl.core_map with VMEM_SHARED):
 * docs/kernels.md, "Per-core kernels".
 *
 * core_map_shift_f32(x (R, 128) f32) -> y (R, 128) f32, on n cores, R a
 * multiple of 8n and R * 512 <= the chip's vmem-shared bytes.  Core c
 * owns rows [c R/n, (c+1) R/n): it stages its rows of x in VMEM_SHARED,
 * meets the other cores at a semaphore barrier, then computes its rows of
 * y from its right neighbour's staged rows:
 *
 *     y[rows of c] = x[rows of (c + 1) mod n] + 1 + c
 *
 * Scalar 0 (optional, default 0), bits: 1 = skip the barrier (a planted
 * race on VMEM_SHARED, for --race); 2 = the last core fails
 * (vtpu_fail) before the barrier, so the others wait for a signal that
 * never comes (the launch must end, not hang).
 */
#include <vtpu/kernel.h>

enum { SEM_DMA = 0, SEM_BAR = 1 };
#define ROW_BYTES 512u
#define VREG_BYTES 4096u

/* A barrier of semaphores (pltpu.semaphore_signal to every other core,
 * then wait for all of their signals). */
static void core_barrier(const vtpu_kctx *k)
{
    for (uint32_t t = 0; t < k->num_tcs; t++)
        if (t != k->tc)
            vtpu_sem_signal_tc(t, SEM_BAR, 1);
    if (k->num_tcs > 1)
        vtpu_sem_wait(SEM_BAR, k->num_tcs - 1);
}

VTPU_BODY(core_map_shift_body, k)
{
    uint32_t flags = k->num_scalars ? (uint32_t)vtpu_scalar(k, 0) : 0;
    uint32_t n = k->num_tcs, c = k->tc, R = k->op[0].shape[0];
    if (k->op[0].shape[1] != 128 || R % (8 * n))
        vtpu_fail(k, "core_map_shift: x must be (R, 128) with R a multiple "
                     "of 8 x cores");
    uint32_t rows = R / n, nb = (c + 1) % n;
    uint32_t start[2] = {c * rows, 0}, size[2] = {rows, 128};

    /* my rows of x -> my part of VMEM_SHARED */
    vtpu_copy cp;
    vtpu_copy_in(&cp, k, 0, start, size, vtpu_vmem_shared(c * rows * ROW_BYTES),
                 SEM_DMA);
    vtpu_copy_start(&cp);
    vtpu_copy_wait(&cp);

    if ((flags & 2) && c == n - 1)
        vtpu_fail(k, "core_map_shift: the last core fails on purpose");
    if (!(flags & 1))
        core_barrier(k);

    /* the neighbour's rows, + 1 + c, into my scratch */
    uint32_t src = vtpu_vmem_shared(nb * rows * ROW_BYTES);
    VBCAST_F32(2, 1.0f + (float)c);
    for (uint32_t i = 0; i < rows / 8; i++) {
        VLD(1, src + i * VREG_BYTES);
        VADD_F32(1, 1, 2);
        VST(1, k->scratch_vmem + i * VREG_BYTES);
    }
    vtpu_copy_out(&cp, k, 1, start, size, k->scratch_vmem, SEM_DMA);
    vtpu_copy_start(&cp);
    vtpu_copy_wait(&cp);
}

VTPU_CORE_KERNEL(core_map_shift_f32, core_map_shift_body,
                 .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                              VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
                 .scratch_vmem = 512 * 1024, .num_sems = 2);
