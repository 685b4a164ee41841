/*
 * slicetest.c - remote DMA, remote signals and slice barriers on a slice
 * of chips (tests/test_slice.c runs it on several topologies and checks
 * the results on the host).  a2 = mode, a3/a4 = its arguments.  Every TC
 * of every chip runs it; TC k works with TC k of the other chips.
 *
 * HBM of each chip: RES + tc * 256 results (u32 words), IN/OUT/OUT2 +
 * tc * 64 KiB blocks.  VMEM: A and B, 64 KiB each.
 *
 *  0 CSRs: chip id, count, shape, coordinates, neighbours -> RES
 *  1 ring shift of the a3-byte block IN: first a remote copy of it into
 *    OUT2 of the chip at -1 along x (HBM destination), then along every
 *    axis longer than 1 a remote copy to the chip at +1 with the 512-byte
 *    rows reversed (2-D, negative destination stride), a local copy back
 *    and a slice barrier; the result -> OUT
 *  2 a token (SMEM word) passed a3 times round the chips by remote DMA,
 *    a3 rounds of sem.signal.remote ping-pong between chip 0 and the last
 *    chip, three slice barriers -> RES = {last token, ping-pongs}
 *  3 a deadlock across chips 0 and 1 (TC 0)
 *  4 a bad remote operation of chip 1 TC 0, kind a3 (see below; 5 is
 *    a good one, its receive semaphore awaited by chip 0)
 *  5 the checks across chips (TC 0 of chips 0 and 1, a4 bytes; see
 *    checks()): chip 0 remote-copies VMEM A (loaded from its IN) into
 *    chip 1's VMEM B, which chip 1 copies to its OUT, kind a3:
 *      0 chip 1 reads B after a "go" signal but without waiting for the
 *        receive semaphore (a race; in the on-wait order it reads the
 *        old B, since chip 0 holds the copy until chip 1 says "done")
 *      1 the same with the wait: clean
 *      2 chip 0 sends A without having written it (poison)
 *      3 chip 1 loads B from its OUT and copies it back, then signals
 *        chip 0, which only then copies into B: the remote signal orders
 *        the remote DMA, clean
 *      4 the same without chip 0 waiting for the signal (a race)
 *      5 chip 0 blocks in a wait right after starting the copy, which
 *        chip 1 answers once the data is in (no deadlock in any order)
 *  6 TC 0 of chip 0 copies a4 bytes of its HBM at 16 MiB into chip 1's
 *    HBM at 32 MiB, a3 times, one after the other (chip 1 need not
 *    run): the stream into a chip that is detached meanwhile
 *    (test_detach_mid_stream)
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/sync.h"

unsigned long vtpu_entry_arg(unsigned i); /* firmware/bare/syscalls.c */

#define RES 0u
#define IN 0x100000u
#define OUT 0x200000u
#define OUT2 0x300000u
#define BLK_MAX 0x10000u
#define A ((void *)(uintptr_t)VTPU_VMEM_BASE)
#define B ((void *)(uintptr_t)(VTPU_VMEM_BASE + BLK_MAX))
#define ROW 512u

static uint32_t res[64];
static volatile uint32_t tok;
static uint32_t val;

static void copy_wait(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t n)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, dst, src, n, 0);
    vtpu_dma_start(&d);
    vtpu_sem_wait(0, n);
}

static void put_res(unsigned words)
{
    copy_wait(vtpu_hbm(RES + vtpu_tc_id() * 256), vtpu_smem(res), words * 4);
}

static void csrs(void)
{
    uint32_t d[3], c[3];
    vtpu_mesh_shape(d);
    vtpu_mesh_coords(c);
    res[0] = vtpu_chip_id();
    res[1] = vtpu_num_chips();
    for (int i = 0; i < 3; i++) {
        res[2 + i] = d[i];
        res[5 + i] = c[i];
        res[8 + 2 * i] = vtpu_mesh_neighbor(i, 1);
        res[9 + 2 * i] = vtpu_mesh_neighbor(i, -1);
    }
    res[14] = vtpu_mesh_chip(c);
    put_res(15);
}

static void ring_shift(uint32_t blk)
{
    uint32_t t = vtpu_tc_id() * BLK_MAX, d[3], rows = blk / ROW;

    copy_wait(vtpu_vmem(A), vtpu_hbm(IN + t), blk);
    /* HBM destination on the chip at -1 along x (send 1, receive 2) */
    vtpu_remote_copy(vtpu_hbm(OUT2 + t), vtpu_vmem(A), blk,
                     vtpu_mesh_neighbor(0, -1), 1, 2);
    vtpu_sem_wait(1, blk); /* .wait_send() */
    vtpu_sem_wait(2, blk); /* .wait_recv() */
    vtpu_slice_barrier();  /* everyone has read A before it changes */

    vtpu_mesh_shape(d);
    for (int axis = 0; axis < 3; axis++) {
        if (d[axis] < 2)
            continue;
        vtpu_dma_desc x;
        vtpu_dma_2d(&x, vtpu_vmem((char *)B + (rows - 1) * ROW), -(int64_t)ROW,
                    vtpu_vmem(A), ROW, ROW, rows, 4);
        vtpu_dma_set_sem(&x, VTPU_DMA_SELF, 4);
        vtpu_dma_set_remote(&x, vtpu_mesh_neighbor(axis, 1), 3);
        vtpu_dma_start(&x);
        vtpu_sem_wait(3, blk);
        vtpu_sem_wait(4, blk);
        copy_wait(vtpu_vmem(A), vtpu_vmem(B), blk);
        vtpu_slice_barrier(); /* B is free again everywhere */
    }
    copy_wait(vtpu_hbm(OUT + t), vtpu_vmem(A), blk);
}

static void send_token(uint32_t next)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, vtpu_smem((const void *)&tok), vtpu_smem(&val), 4, 5);
    vtpu_dma_set_sem(&d, VTPU_DMA_SELF, 5);
    vtpu_dma_set_remote(&d, next, 6);
    vtpu_dma_start(&d);
    vtpu_sem_wait(6, 4);
}

static void tokens(uint32_t rounds)
{
    uint32_t n = vtpu_num_chips(), me = vtpu_chip_id();
    uint32_t next = (me + 1) % n, last = 0, pp = 0;

    if (n > 1) {
        if (me == 0) {
            val = 1;
            send_token(next);
        }
        for (uint32_t r = 0; r < rounds; r++) {
            vtpu_sem_wait(5, 4);
            last = tok;
            if (me == 0 && r == rounds - 1)
                break;
            val = last + 1;
            send_token(next);
        }
        for (uint32_t r = 0; r < rounds; r++) {
            if (me == 0) {
                vtpu_sem_signal_remote(n - 1, VTPU_DMA_SELF, 7, 1);
                vtpu_sem_wait(8, 1);
                pp++;
            } else if (me == n - 1) {
                vtpu_sem_wait(7, 1);
                vtpu_sem_signal_remote(0, VTPU_DMA_SELF, 8, 1);
                pp++;
            }
        }
    }
    for (int i = 0; i < 3; i++)
        vtpu_slice_barrier();
    res[0] = last;
    res[1] = pp;
    put_res(2);
}

static void deadlock(void)
{
    if (vtpu_tc_id() != 0)
        return;
    if (vtpu_chip_id() == 1) {
        vtpu_sem_signal_remote(0, 0, 9, 1);
        vtpu_sem_wait(9, 1); /* nobody signals this */
    } else if (vtpu_chip_id() == 0) {
        vtpu_sem_wait(9, 2); /* chip 1 gives only 1 */
    }
}

static void bad(uint32_t kind, uint32_t arg)
{
    uint32_t n = vtpu_num_chips();
    vtpu_dma_desc d;

    if (vtpu_tc_id() != 0)
        return;
    if (vtpu_chip_id() == 0 && kind == 5) {
        vtpu_sem_wait(2, 64); /* the good copy's receive semaphore */
        return;
    }
    if (vtpu_chip_id() != 1)
        return;
    switch (kind) {
    case 0: /* no such chip */
        vtpu_remote_copy(vtpu_vmem(B), vtpu_vmem(A), 64, n, 1, 2);
        break;
    case 1: /* past the end of the remote VMEM (a4 = its size) */
        vtpu_remote_copy(vtpu_vmem((char *)A + arg - 32), vtpu_vmem(A), 64, 0,
                         1, 2);
        break;
    case 2: /* sem.signal.remote to no such chip */
        vtpu_sem_signal_remote(n, VTPU_DMA_SELF, 3, 1);
        break;
    case 3: /* remote HBM outside the destination's grants (a4) */
    case 5: /* the same where it is fine (no grants) */
        vtpu_remote_copy(vtpu_hbm(arg), vtpu_vmem(A), 64, 0, 1, 2);
        break;
    case 4: /* a flag a remote DMA must not have (a4) */
        vtpu_dma_1d(&d, vtpu_vmem(B), vtpu_vmem(A), 64, 2);
        vtpu_dma_set_remote(&d, 0, 1);
        d.flags |= arg;
        vtpu_dma_start(&d);
        break;
    }
    vtpu_sem_wait(1, 64); /* .wait_send() */
}

/* Semaphores of mode 5: go, send, receive, done, may-write. */
enum { S_GO = 10, S_SEND, S_RECV, S_DONE, S_MAY };

static void checks(uint32_t kind, uint32_t n)
{
    uint32_t me = vtpu_chip_id();

    if (vtpu_tc_id() != 0 || me > 1)
        return;
    if (me == 0) {
        if (kind != 2)
            copy_wait(vtpu_vmem(A), vtpu_hbm(IN), n);
        if (kind == 3)
            vtpu_sem_wait(S_MAY, 1);
        vtpu_remote_copy(vtpu_vmem(B), vtpu_vmem(A), n, 1, S_SEND, S_RECV);
        if (kind == 0) {
            vtpu_sem_signal_remote(1, VTPU_DMA_SELF, S_GO, 1);
            /* polling completes only DMAs that signal S_DONE: the copy
             * stays queued in the deferred orders */
            while (vtpu_sem_read(S_DONE) == 0)
                ;
            vtpu_sem_wait(S_DONE, 1);
        } else if (kind == 1) {
            vtpu_sem_signal_remote(1, VTPU_DMA_SELF, S_GO, 1);
        } else if (kind == 4) {
            vtpu_sem_wait(S_MAY, 1);
        } else if (kind == 5) {
            vtpu_sem_wait(S_DONE, 1); /* blocks: the copy must land first */
        }
        vtpu_sem_wait(S_SEND, n);
        return;
    }
    if (kind == 3 || kind == 4) /* B defined before it is read */
        copy_wait(vtpu_vmem(B), vtpu_hbm(OUT), n);
    if (kind <= 1)
        vtpu_sem_wait(S_GO, 1);
    if (kind == 1 || kind == 2 || kind == 5)
        vtpu_sem_wait(S_RECV, n);
    copy_wait(vtpu_hbm(OUT), vtpu_vmem(B), n);
    if (kind == 0 || kind == 5)
        vtpu_sem_signal_remote(0, VTPU_DMA_SELF, S_DONE, 1);
    if (kind == 3 || kind == 4)
        vtpu_sem_signal_remote(0, VTPU_DMA_SELF, S_MAY, 1);
    if (kind != 1 && kind != 2 && kind != 5)
        vtpu_sem_wait(S_RECV, n);
}

static void stream(uint32_t times, uint32_t bytes)
{
    if (vtpu_chip_id() != 0 || vtpu_tc_id() != 0)
        return;
    for (uint32_t i = 0; i < times; i++) {
        vtpu_remote_copy(vtpu_hbm(32u << 20), vtpu_hbm(16u << 20), bytes, 1, 0,
                         1);
        vtpu_sem_wait(0, bytes);
    }
}

int main(void)
{
    uint32_t mode = vtpu_entry_arg(0), a = vtpu_entry_arg(1);
    uint32_t b = vtpu_entry_arg(2);

    switch (mode) {
    case 0:
        csrs();
        break;
    case 1:
        ring_shift(a);
        break;
    case 2:
        tokens(a);
        break;
    case 3:
        deadlock();
        break;
    case 4:
        bad(a, b);
        break;
    case 5:
        checks(a, b);
        break;
    case 6:
        stream(a, b);
        break;
    default:
        return 3;
    }
    return 0;
}
