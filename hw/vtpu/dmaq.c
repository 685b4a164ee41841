/*
 * dmaq.c - deferred DMA orders (vtpu-debug.h: on-wait and random).
 *
 * Each TC has its own queue of validated DMAs that signal one of its own
 * semaphores; only that TC's thread touches it, so there is no lock.
 * dma.start appends to it; the TC completes queued DMAs (copy, then
 * signal) at the points where a program may legitimately observe them:
 * sem.wait and sem.read of their semaphore, the barrier, and exit.
 *
 * A remote DMA (docs/multichip.md) is queued too, keyed by its send
 * semaphore (the one of this TC): it completes (copy, receive signal on
 * the other chip, send signal) at those points, and also before its TC
 * blocks in any sem.wait.  A TC waiting on a receive semaphore whose data
 * sits in another TC's queue is then never taken for a deadlock: that
 * other TC is running, or blocked with an empty queue of remote DMAs.
 *
 * In the random order every such point also completes each other queued
 * DMA with probability 1/2, and what completes at one point does so in a
 * shuffled order.  The PRNG is per TC and seeded from (seed, TC id), and
 * a TC's queue only depends on what that TC executes, so the completion
 * order is the same for every run with the same seed whatever the host's
 * thread scheduling.
 */
#include <string.h>

#include "internal.h"

typedef struct qent {
    vtpu_dma_plan p;
    int64_t t0; /* trace clock at dma.start */
} qent;

struct vtpu_dmaq {
    GArray *q;    /* of qent, in start order */
    GArray *pick; /* of qent: what completes at this point */
    bool random;
    uint64_t rng; /* xorshift64* state, never 0 */
};

/* splitmix64, to spread (seed, TC) over the state. */
static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t next(vtpu_dmaq *q)
{
    uint64_t x = q->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    q->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

vtpu_dmaq *vtpu_dmaq_new(bool random, uint64_t seed, unsigned tc)
{
    vtpu_dmaq *q = g_new0(vtpu_dmaq, 1);
    q->q = g_array_new(FALSE, FALSE, sizeof(qent));
    q->pick = g_array_new(FALSE, FALSE, sizeof(qent));
    q->random = random;
    q->rng = mix(seed ^ mix(tc + 1)) | 1;
    return q;
}

void vtpu_dmaq_free(vtpu_dmaq *q)
{
    if (!q)
        return;
    g_array_free(q->q, TRUE);
    g_array_free(q->pick, TRUE);
    g_free(q);
}

int vtpu_dmaq_push(vtpu_tc *tc, const vtpu_dma_plan *p, int64_t t_ns)
{
    qent e = {*p, t_ns};
    g_array_append_val(tc->dmaq->q, e);
    return 0;
}

int vtpu_dmaq_sync(vtpu_tc *tc, int64_t sem, bool remote_all)
{
    vtpu_dmaq *q = tc->dmaq;
    guint keep = 0;

    if (!q->q->len)
        return 0;
    /* Split the queue: what completes now goes to `pick`, in order. */
    g_array_set_size(q->pick, 0);
    for (guint i = 0; i < q->q->len; i++) {
        qent *e = &g_array_index(q->q, qent, i);
        uint32_t own = e->p.remote ? e->p.send_sem : e->p.sem;
        bool now = sem < 0 || own == (uint64_t)sem ||
                   (remote_all && e->p.remote) ||
                   (q->random && (next(q) >> 63));
        if (now)
            g_array_append_val(q->pick, *e);
        else
            g_array_index(q->q, qent, keep++) = *e;
    }
    g_array_set_size(q->q, keep);
    if (q->random) {
        for (guint i = q->pick->len; i > 1; i--) {
            guint j = (guint)(next(q) % i);
            qent t = g_array_index(q->pick, qent, i - 1);
            g_array_index(q->pick, qent, i - 1) =
                g_array_index(q->pick, qent, j);
            g_array_index(q->pick, qent, j) = t;
        }
    }
    for (guint i = 0; i < q->pick->len; i++) {
        const qent *e = &g_array_index(q->pick, qent, i);
        if (vtpu_dma_complete(tc, &e->p))
            return -1;
        if (e->p.remote)
            vtpu_dbg_remote_dma(tc, e->p.dst_chip, e->p.bytes, e->p.sem, e->t0);
        else
            vtpu_dbg_dma(tc, &e->p, e->t0);
    }
    return 0;
}

unsigned vtpu_dmaq_pending(const vtpu_tc *tc)
{
    return tc->dmaq ? tc->dmaq->q->len : 0;
}
