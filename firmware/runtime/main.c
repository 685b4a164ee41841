/*
 * main.c - entry of the TC runtime: one launch per run.
 *
 * crt0 (firmware/bare) clears .bss and calls main(); the launch
 * descriptor's HBM offset is run argument 0 (low 32 bits, a2) and 1 (high
 * 32 bits, a3).  Every TC reads the descriptor itself, so nothing crosses
 * between TCs before the barrier.
 */
#include <stdint.h>

#include "rt.h"

rt_state vtpu_rt;

/* In .data, so the magic is part of the SMEM image a run starts from;
 * firmware/vtpu.ld places the section at VTPU_MAILBOX_ADDR. */
__attribute__((section(".vtpu.mailbox"),
               used)) volatile vtpu_mailbox vtpu_rt_mailbox = {
    .magic = VTPU_MAILBOX_MAGIC,
    .kernel = UINT32_MAX,
    .size8 = sizeof(vtpu_mailbox) / 8};

/* Announce the grid loop: what runs, and where its grid point is kept. */
static void publish_grid(const rt_state *st)
{
    volatile vtpu_mailbox *mb = &vtpu_rt_mailbox;
    const char *name = st->ctx.kernel->name;
    unsigned i = 0;
    for (; i + 1 < sizeof(mb->name) && name[i]; i++)
        mb->name[i] = name[i];
    mb->name[i] = 0;
    mb->grid_rank = (uint8_t)st->grid_rank;
    mb->num_steps = st->steps;
    mb->step_addr = (uint32_t)(uintptr_t)&st->ctx.step;
    mb->point_addr = (uint32_t)(uintptr_t)st->ctx.idx;
    mb->regions_addr = (uint32_t)(uintptr_t)st->regions;
    mb->num_regions = st->nregions;
    mb->rt_flags = VTPU_MB_RT_REGIONS;
    mb->scalars_addr = (uint32_t)(uintptr_t)st->ctx.scalars;
    mb->num_scalars = st->ctx.num_scalars;
    mb->kernel_addr = (uint32_t)(uintptr_t)st->ctx.kernel;
    mb->map_point_addr = (uint32_t)(uintptr_t)st->next;
    mb->phase = VTPU_MB_GRID;
}

static uint64_t instret64(void)
{
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("csrr %0, instreth" : "=r"(hi));
        __asm__ volatile("csrr %0, instret" : "=r"(lo));
        __asm__ volatile("csrr %0, instreth" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

/* A blocking copy on the runtime's own semaphore. */
void rt_dma_wait_copy(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t bytes,
                      uint32_t sem)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, dst, src, bytes, sem);
    vtpu_dma_start(&d);
    vtpu_sem_wait(sem, bytes);
}

int main(void)
{
    rt_state *st = &vtpu_rt;

    st->tc = vtpu_tc_id();
    st->ntcs = vtpu_num_tcs();
    st->rt_sem = RT_SEM_BOOT;
    st->shared_error = 1;
    st->desc_hbm = (uint64_t)(uint32_t)vtpu_entry_arg(0) |
                   (uint64_t)(uint32_t)vtpu_entry_arg(1) << 32;
    rt_dma_wait_copy(vtpu_smem(&st->launch), vtpu_hbm(st->desc_hbm),
                     sizeof(st->launch), st->rt_sem);
    vtpu_rt_mailbox.kernel = st->launch.kernel;
    vtpu_rt_mailbox.phase = VTPU_MB_SETUP;

    rt_setup(st);
    rt_split(st);
    if (st->ctx.kernel->flags & VTPU_KERNEL_F_CORE_MAP)
        rt_core_map(st);
    if (st->launch.flags & (VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT))
        rt_checks_setup(st);
    st->shared_error = 0;
    st->step_sync = (vtpu_rt_mailbox.host_flags & VTPU_MB_HOST_STEP_SYNC) != 0;

    /* Each TC clears its own .bss at start-up: a body that DMAs into
     * another TC's memory must not run before every TC got here.  The
     * grid phase starts after it, so that the wait is no grid step's. */
    vtpu_barrier();
    publish_grid(st);

    uint64_t t0 = instret64();
    rt_pipeline(st);
    st->status.loop_insns = instret64() - t0;
    vtpu_rt_mailbox.phase = VTPU_MB_DONE;

    rt_write_status(st, VTPU_LAUNCH_OK, "");
    return 0;
}
