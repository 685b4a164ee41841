/*
 * checks.c - the TC runtime's opt-in debugging checks (launch flags in
 * vtpu-launch.h, docs/debugging.md):
 *
 *   VTPU_LAUNCH_F_SHUFFLE  walk this TC's points of the leading parallel
 *       dimensions in a seeded random order, as Pallas' interpret mode
 *       can: a kernel whose result depends on the order of parallel grid
 *       points (a carry kept in scratch, an output block shared by two
 *       points) gives a different answer.  The arbitrary dimensions
 *       inside keep their order.
 *   VTPU_LAUNCH_F_REVISIT  fail when an output block that was written
 *       back comes back at a later grid point: the pipeline keeps an
 *       output block in VMEM only while consecutive points use it, so the
 *       second visit starts from a fresh buffer and its write-back
 *       overwrites the first one's result.
 *
 * Both are off in the grid loop unless asked for (one branch per step).
 */
#include <stdint.h>

#include "rt.h"

/* The shuffle: a seeded bijection on [0, 2^bits), walked until it lands
 * in [0, n) ("cycle walking"), so no table is needed. */
static struct {
    uint32_t lo, n, inner, npd; /* this TC's parallel range, steps per point */
    uint32_t bits, mask, a, b, c;
} shuf;

/* One written-back output block: its offset and the last point using it. */
typedef struct visit {
    uint64_t off;
    int32_t point[4];
    uint32_t used, pad;
} visit;

static visit *seen[VTPU_MAX_OPERANDS]; /* per blocked operand: a hash set */
static uint32_t seen_mask;

/* A 32-bit finalizer (good avalanche), to spread the seed. */
static uint32_t hash(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t mix(uint32_t x)
{
    x = (x * shuf.a + shuf.b) & shuf.mask;
    if (shuf.bits > 1)
        x ^= x >> (shuf.bits / 2 + 1);
    return (x * shuf.c) & shuf.mask;
}

static uint32_t permute(uint32_t x)
{
    do
        x = mix(x);
    while (x >= shuf.n);
    return x;
}

void rt_shuffle_point(rt_state *st, uint32_t s, int32_t *out)
{
    const uint32_t *grid = st->launch.grid;
    uint32_t o = shuf.lo + permute(s / shuf.inner), in = s % shuf.inner;

    for (unsigned d = st->grid_rank; d-- > shuf.npd;) {
        out[d] = (int32_t)(in % grid[d]);
        in /= grid[d];
    }
    for (unsigned d = shuf.npd; d-- > 0;) {
        out[d] = (int32_t)(o % grid[d]);
        o /= grid[d];
    }
}

static void setup_shuffle(rt_state *st)
{
    const vtpu_launch *L = &st->launch;
    uint32_t seed = L->flags >> VTPU_LAUNCH_SEED_SHIFT, lo = 0;

    shuf.npd = 0;
    shuf.inner = 1;
    while (shuf.npd < st->grid_rank && L->semantics[shuf.npd] == VTPU_PARALLEL)
        shuf.npd++;
    for (unsigned d = shuf.npd; d < st->grid_rank; d++)
        shuf.inner *= L->grid[d];
    for (unsigned d = 0; d < shuf.npd; d++)
        lo = lo * L->grid[d] + (uint32_t)st->start[d];
    shuf.lo = lo;
    shuf.n = st->steps / shuf.inner;
    if (shuf.n < 2)
        return; /* nothing to shuffle */
    shuf.bits = 32 - (uint32_t)__builtin_clz(shuf.n - 1);
    shuf.mask = shuf.bits == 32 ? UINT32_MAX : (1u << shuf.bits) - 1;
    /* Odd multipliers and any offset: a bijection for every seed. */
    shuf.a = hash(seed * 3 + 0) | 1;
    shuf.b = hash(seed * 3 + 1);
    shuf.c = hash(seed * 3 + 2) | 1;
    st->shuffle = 1;
    rt_shuffle_point(st, 0, st->ctx.idx);
}

static void setup_revisit(rt_state *st)
{
    uint32_t cap = 16;

    while (cap < 2 * st->steps && cap < (1u << 30))
        cap <<= 1;
    seen_mask = cap - 1;
    for (unsigned i = 0; i < st->nblocked; i++) {
        if (!st->op[i].is_out)
            continue;
        seen[i] = (visit *)rt_smem_alloc(st, cap * sizeof(visit));
        for (uint32_t j = 0; j < cap; j++)
            seen[i][j].used = 0;
    }
    st->revisit = 1;
}

void rt_checks_setup(rt_state *st)
{
    if (!st->steps)
        return; /* nothing runs (a dynamic extent of 0) */
    if (st->launch.flags & VTPU_LAUNCH_F_SHUFFLE)
        setup_shuffle(st);
    if (st->launch.flags & VTPU_LAUNCH_F_REVISIT)
        setup_revisit(st);
}

static visit *slot(visit *tab, uint64_t off)
{
    uint32_t h = (uint32_t)(off ^ (off >> 32)) * 0x9e3779b1u;
    for (uint32_t i = h >> 8;; i++) {
        visit *v = &tab[i & seen_mask];
        if (!v->used || v->off == off)
            return v;
    }
}

void rt_revisit(rt_state *st, rt_op *o, const rt_buf *c, const rt_buf *n,
                const int32_t *from, const int32_t *to)
{
    visit *tab = seen[o - st->op], *v;
    char bs[64], f[64], t[64];

    v = slot(tab, c->off);
    v->used = 1;
    v->off = c->off;
    for (unsigned d = 0; d < 4; d++)
        v->point[d] = from[d];
    v = slot(tab, n->off);
    if (!v->used)
        return;
    rt_fail(st, VTPU_LERR_REVISIT,
            "operand %u: block %s back at grid point %s, written back "
            "after %s",
            o->index, rt_fmt_idx(bs, sizeof(bs), n->bidx, o->rank),
            rt_fmt_idx(t, sizeof(t), to, st->grid_rank),
            rt_fmt_idx(f, sizeof(f), v->point, st->grid_rank));
}
