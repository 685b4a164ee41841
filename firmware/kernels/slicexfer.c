/*
 * slicexfer.c - a slice kernel that moves data in a shape the
 * collectives do not, for the MPI transport's paths
 * (tests/test_slices.py compares its output over MPI with the
 * in-process run's, byte for byte, and with the host's).
 *
 * slice_strided: x (m, 256) f32 -> o (m, 256) f32 on every chip: chip
 * c's x lands in chip c + 1's o (a ring), as two 2-D remote copies whose
 * destination runs are not contiguous, so that a transport cannot take
 * either in one piece: the left halves of the rows in row order (512-byte
 * runs 1 KiB apart), the right halves in reverse row order (a negative
 * destination pitch).  From m = 64 on each is at least 32 KiB (the MPI
 * transport then sends a header and a data message).  Program 0 of each
 * chip does it; other programs return.
 *
 * slice_race / slice_race_ok: o (r, 128) i32 (r even, h = r / 2 rows),
 * race detection across chips (docs/debugging.md "Across chips"; over
 * MPI too).  Chip 1 TC 0 fills o's rows [0, h) with a local DMA from
 * rows [h, r), waits for it and tells chip 0 TC 0 (sem.signal.remote,
 * "ready"); chip 0 TC 0 copies its rows [h, r) into chip 1's rows
 * [0, h) (a remote DMA), which chip 1 TC 0 waits for.  slice_race_ok
 * waits for "ready" before the copy (clean); slice_race only after it,
 * so the remote write and chip 1's local write are not ordered: a DATA
 * RACE naming both chips.  slice_race_late: as slice_race, but chip 1
 * starts its local DMA only once the remote data has landed (it polls
 * the receive semaphore with sem.read, which orders nothing): the race
 * is then found by chip 1's access, against the recorded remote write.
 * Other chips and TCs return.
 */
#include <vtpu/kernel.h>

enum { SEM_IN, SEM_OUT, SEMS };

VTPU_BODY(slice_strided_body, k)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    uint32_t n = vtpu_num_chips(), me = vtpu_chip_id();
    vtpu_dma_desc d;

    if (x->rank != 2 || o->rank != 2 || x->shape[1] != 256 ||
        o->shape[0] != x->shape[0] || o->shape[1] != 256)
        vtpu_fail(k, "slice_strided takes x and o (m, 256) f32");
    if (vtpu_program_id(k, 0) != 0 || n < 2)
        return;
    uint32_t m = x->shape[0], pitch = 1024, half = 512, to = (me + 1) % n;
    vtpu_dma_2d(&d, vtpu_hbm(o->hbm), pitch, vtpu_hbm(x->hbm), pitch, half,
                m, SEM_IN);
    vtpu_dma_set_sem(&d, VTPU_DMA_SELF, SEM_IN);
    vtpu_dma_set_remote(&d, to, SEM_OUT);
    vtpu_dma_start(&d);
    vtpu_dma_2d(&d, vtpu_hbm(o->hbm + (uint64_t)(m - 1) * pitch + half),
                -(int64_t)pitch, vtpu_hbm(x->hbm + half), pitch, half, m,
                SEM_IN);
    vtpu_dma_set_sem(&d, VTPU_DMA_SELF, SEM_IN);
    vtpu_dma_set_remote(&d, to, SEM_OUT);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_OUT, 2 * half * m);
    vtpu_sem_wait(SEM_IN, 2 * half * m);
}

enum { SEM_LOCAL = SEMS, SEM_READY, SEM_RECV, SEM_SENT, SEMS_RACE };

/* await: 1 slice_race_ok, 0 slice_race, -1 slice_race_late */
static void race_body(const vtpu_kctx *k, int await)
{
    const vtpu_operand_info *o = &k->op[0];
    uint32_t me = vtpu_chip_id();
    uint32_t half = o->shape[0] / 2 * o->shape[1] * 4;
    vtpu_dma_desc d;

    if (vtpu_num_chips() < 2 || k->tc != 0 || me > 1)
        return;
    if (me == 1) {
        if (await < 0)
            while (vtpu_sem_read(SEM_RECV) < half)
                ;
        vtpu_dma_1d(&d, vtpu_hbm(o->hbm), vtpu_hbm(o->hbm + half), half,
                    SEM_LOCAL);
        vtpu_dma_start(&d);
        vtpu_sem_wait(SEM_LOCAL, half);
        vtpu_sem_signal_remote(0, 0, SEM_READY, 1);
        vtpu_sem_wait(SEM_RECV, half);
        return;
    }
    if (await > 0)
        vtpu_sem_wait(SEM_READY, 1);
    vtpu_remote_copy(vtpu_hbm(o->hbm), vtpu_hbm(o->hbm + half), half, 1,
                     SEM_SENT, SEM_RECV);
    vtpu_sem_wait(SEM_SENT, half);
    if (await <= 0)
        vtpu_sem_wait(SEM_READY, 1);
}

VTPU_BODY(slice_race_body, k)
{
    race_body(k, 0);
}

VTPU_BODY(slice_race_ok_body, k)
{
    race_body(k, 1);
}

VTPU_BODY(slice_race_late_body, k)
{
    race_body(k, -1);
}

VTPU_KERNEL(slice_race_late, slice_race_late_body,
            .operands = {VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 2)},
            .num_sems = SEMS_RACE);
VTPU_KERNEL(slice_race, slice_race_body,
            .operands = {VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 2)},
            .num_sems = SEMS_RACE);
VTPU_KERNEL(slice_race_ok, slice_race_ok_body,
            .operands = {VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 2)},
            .num_sems = SEMS_RACE);

VTPU_KERNEL(slice_strided, slice_strided_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .num_sems = SEMS);
