/*
 * slicefault.c - slice kernels that misbehave on purpose, for vtpu-run
 * --topology's error paths in one process and over MPI
 * (tests/test_slices.py).  Operand: o (r, 128) i32 in HBM (ANY).
 *
 * slice_bad_remote: the last chip copies o (r * 512 bytes: from r = 64
 * on, the MPI transport sends a header and a data message) into chip 0's
 * HBM far past anything granted to chip 0's launch (a remote DMA the
 * destination refuses); every other chip waits for a signal that never
 * comes (the fault must stop them).
 * slice_deadlock: chip 0 signals chip 1's semaphore 1 (a wait that is
 * satisfied), then every chip waits on semaphore 0, which nobody signals:
 * a deadlock across the slice.
 */
#include <vtpu/kernel.h>

enum { SEM_WAIT, SEM_OK, SEM_SEND, SEMS };

VTPU_BODY(slice_bad_remote_body, k)
{
    uint32_t n = vtpu_num_chips(), me = vtpu_chip_id();
    const vtpu_operand_info *o = &k->op[0];

    uint32_t bytes = o->shape[0] * o->shape[1] * 4;

    if (n > 1 && me == n - 1 && k->tc == 0) {
        vtpu_remote_copy(vtpu_hbm(o->hbm + (1ull << 40)), vtpu_hbm(o->hbm),
                         bytes, 0, SEM_SEND, SEM_OK);
        vtpu_sem_wait(SEM_SEND, bytes);
        return;
    }
    vtpu_sem_wait(SEM_WAIT, 1);
}

VTPU_BODY(slice_deadlock_body, k)
{
    uint32_t n = vtpu_num_chips(), me = vtpu_chip_id();

    if (n > 1 && me == 0 && k->tc == 0)
        vtpu_sem_signal_remote(1, 0, SEM_OK, 1);
    if (n > 1 && me == 1 && k->tc == 0)
        vtpu_sem_wait(SEM_OK, 1);
    vtpu_sem_wait(SEM_WAIT, 1);
}

VTPU_KERNEL(slice_bad_remote, slice_bad_remote_body,
            .operands = {VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 2)},
            .num_sems = SEMS);
VTPU_KERNEL(slice_deadlock, slice_deadlock_body,
            .operands = {VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 2)},
            .num_sems = SEMS);
