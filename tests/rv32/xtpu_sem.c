/*
 * xtpu_sem.c - semaphores and the barrier on 4 TCs (works on 2..8).
 *
 *  - a token passed around the ring of TCs: each TC waits for it on its
 *    own semaphore and signals the next TC's, so the order is strict;
 *  - counting: every TC signals TC0 by (id + 1) per round, TC0 waits for
 *    the sum in pieces and in one large wait;
 *  - barrier rounds: every TC DMAs the round number into its slot of
 *    TC0's SMEM, waits for the DMA, meets the others at the barrier, and
 *    TC0 then must see every slot at this round.
 * Exit 0 = all good.
 */
#include <stdint.h>
#include <stdio.h>

#include "vtpu/sync.h"

#define ROUNDS 200

enum { SEM_TOKEN = 0, SEM_COUNT = 1, SEM_DMA = 2 };

static uint32_t slots[8]; /* TC0's copy is the one that is written */
static uint32_t order[ROUNDS * 8];
static unsigned errors;

static void fail(const char *what, unsigned round, uint32_t got, uint32_t want)
{
    if (errors++ < 5)
        printf("xtpu_sem: TC%u: %s, round %u: got %u, want %u\n",
               (unsigned)vtpu_tc_id(), what, round, (unsigned)got,
               (unsigned)want);
}

static void token_ring(unsigned id, unsigned n)
{
    unsigned next = (id + 1) % n;

    if (id == 0)
        vtpu_sem_signal(SEM_TOKEN, 1); /* TC0 holds the first token */
    for (unsigned r = 0; r < ROUNDS; r++) {
        vtpu_sem_wait(SEM_TOKEN, 1);
        if (vtpu_sem_read(SEM_TOKEN) != 0)
            fail("token duplicated", r, vtpu_sem_read(SEM_TOKEN), 0);
        /* Only the holder may touch the log; TC0 keeps it in its SMEM. */
        vtpu_dma_desc d;
        uint32_t stamp = r * n + id;
        vtpu_dma_1d(&d, vtpu_smem_tc(0, &order[stamp]), vtpu_smem(&stamp), 4,
                    SEM_DMA);
        vtpu_dma_start(&d);
        vtpu_sem_wait(SEM_DMA, 4);
        if (r + 1 < ROUNDS || next != 0)
            vtpu_sem_signal_tc(next, SEM_TOKEN, 1);
    }
}

static void counting(unsigned id, unsigned n)
{
    uint32_t sum = n * (n + 1) / 2;

    for (unsigned r = 0; r < ROUNDS; r++)
        vtpu_sem_signal_tc(0, SEM_COUNT, id + 1);
    if (id != 0)
        return;
    for (unsigned r = 0; r < ROUNDS / 2; r++)
        vtpu_sem_wait(SEM_COUNT, sum);
    vtpu_sem_wait(SEM_COUNT, sum * (ROUNDS - ROUNDS / 2));
    if (vtpu_sem_read(SEM_COUNT) != 0)
        fail("count left over", 0, vtpu_sem_read(SEM_COUNT), 0);
}

static void barrier_rounds(unsigned id, unsigned n)
{
    for (unsigned r = 1; r <= ROUNDS; r++) {
        vtpu_dma_desc d;
        uint32_t v = r;
        vtpu_dma_1d(&d, vtpu_smem_tc(0, &slots[id]), vtpu_smem(&v), 4, SEM_DMA);
        vtpu_dma_start(&d);
        vtpu_sem_wait(SEM_DMA, 4);
        vtpu_barrier();
        if (id == 0)
            for (unsigned k = 0; k < n; k++)
                if (slots[k] != r)
                    fail("barrier slot", r, slots[k], r);
        /* Nobody writes round r+1 before TC0 has read round r. */
        vtpu_barrier();
    }
}

int main(void)
{
    unsigned id = vtpu_tc_id(), n = vtpu_num_tcs();

    if (n < 2 || n > 8) {
        printf("xtpu_sem: needs 2..8 TCs (--cores N)\n");
        return 2;
    }
    /* Cross-TC DMAs below write TC0's .bss: only after its crt0 ran. */
    vtpu_barrier();
    token_ring(id, n);
    vtpu_barrier();
    if (id == 0)
        for (unsigned i = 0; i < ROUNDS * n; i++)
            if (order[i] != i)
                fail("token order", i / n, order[i], i);
    counting(id, n);
    vtpu_barrier();
    barrier_rounds(id, n);
    vtpu_barrier();
    if (errors)
        printf("xtpu_sem: TC%u: %u errors\n", id, errors);
    else if (id == 0)
        printf("xtpu_sem: ok on %u TCs\n", n);
    return errors ? 1 : 0;
}
