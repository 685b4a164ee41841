/*
 * race.c - data-race detection between TCs and DMA engines,
 * FastTrack-style: vector clocks for the agents, one shadow cell per
 * granule of memory holding the last write and the last read epoch.
 * The check framework (check.c) creates it only when race detection is
 * on, and hands it each access and synchronisation (check.h).
 *
 * Agents.  Each TC of the chip is an agent (base..base+VTPU_MAX_TCS-1,
 * base below; 0.. on a lone chip).  DMAs are
 * agents too, but not one per DMA: a "lane" per signalled semaphore
 * (target TC, semaphore index), assigned on first use and kept for the
 * chip's lifetime.  The k-th DMA that signals a semaphore has epoch
 * (lane, k); its reads and writes all carry that epoch, since a DMA's
 * accesses may happen at any moment between its start and its signal.
 * Only that semaphore's waiter (its owner TC) learns the lane's clock, and
 * it consumes signals first in, first out, so acquiring (lane, k) means
 * every DMA k' <= k of that lane has been waited for: exact for one
 * engine signalling in order.  When more than MAX_AGENTS lanes are needed
 * lanes are shared, which only adds ordering (missed races, never false
 * ones).
 *
 * Happens-before edges:
 *   - program order of a TC;
 *   - dma.start: everything the issuing TC did before it happens before
 *     the DMA's accesses (the DMA's clock is the TC's, plus its lane);
 *   - sem.signal -> the sem.wait that consumes it (a queue of (units,
 *     clock) records per semaphore; a wait of n units joins the clocks of
 *     the records it consumes);
 *   - a DMA's accesses -> the wait that consumes its signal, whenever the
 *     copy physically happens (the record is queued at dma.start, so the
 *     order is the same in eager and deferred execution);
 *   - the barrier: every TC's arrival happens before every TC's leaving;
 *   - runs: everything of a run happens before the next run (host order).
 *
 * Slices (docs/multichip.md, docs/debugging.md "Across chips").  Vector
 * clocks mean the same on every chip of a fabric: the chips share one
 * agent space, a race domain (vtpu_race_dom, owned by the fabric; a lone
 * chip has its own).  Chip c's agents are [c * per, (c + 1) * per), per =
 * MAX_AGENTS / (chips rounded up to a power of 2): its TCs first, then
 * its DMA lanes (fewer lanes per chip in big slices: shared lanes, which
 * only adds ordering).  The domain holds the latest clock of every agent
 * (each chip writes only its own), one lock for every chip's semaphore
 * queues, and `done`: each chip's clocks published when its next run
 * begins (before the launch rendezvous, its previous run over), which
 * every TC of every chip joins when its run starts (after the
 * rendezvous): everything of every chip's previous run happens before
 * the new run, and nothing of the new run (another chip may already be
 * running) leaks into its start.  A remote DMA has one epoch on a lane of
 * the issuing chip per (TC, send semaphore, destination chip, receive
 * TC, receive semaphore): its source read is checked in the issuer's
 * shadow and its destination write in the destination chip's, both with
 * that epoch; its signal records go to the receive semaphore (the
 * receiver's wait orders the data) and the send semaphore (the sender's
 * wait orders reuse of the source).  sem.signal.remote pushes the
 * signaller's clock to the destination semaphore's queue.  Messages from
 * another process (a transport) carry the same clock when the sender
 * runs with race detection (vtpu_race_clock, the bottom of this file):
 * the agent space depends on the chip count alone, so every process
 * numbers agents alike; a delivered DMA's bytes are checked and recorded
 * as the sender's DMA's writes and its clock (joined with `done`) is
 * queued on the receive semaphore.  Agents of chips elsewhere have no
 * clock here: `far` keeps the latest seen in messages, published into
 * `done` at run begin.  A message without a clock (the sender runs
 * without race detection) is given the clock of everything local at
 * delivery (ordering more than the truth: missed races, never false
 * ones), and its bytes are not recorded.
 *
 * Epoch encoding: agent (10 bits) << 22 | clock (22 bits); 0 = none.
 * Clocks are not reset between runs (a run starts by joining every
 * agent's clock into every TC), so shadow memory never needs clearing;
 * when a clock nears 2^22 the shadow is dropped (madvise) and clocks
 * restart at 1 at the next run start.
 *
 * Granules: VMEM is tracked per 4-byte word (every VMEM access, vector or
 * DMA, is whole aligned words, so this is exact); SMEM and HBM per byte.
 * A cell is 16 bytes (write/read epoch, write/read pc), reserved lazily
 * (MAP_NORESERVE) so untouched memory costs nothing.
 *
 * Readers: only the last reader is kept (FastTrack keeps a read vector
 * clock when reads are concurrent): a write racing only with an older of
 * two concurrent reads is missed.  No false positives come from it.
 *
 * Threads: each TC thread updates its own vector clock alone; semaphore
 * queues, lanes and the barrier accumulators are under the domain's lock
 * (one for the slice, like sync.c's); shadow
 * cells are shared without a lock (one lock per access would cost more
 * than the rest of the check).  Each field of a cell or chunk is read and
 * written as a relaxed atomic (ld/st below: plain loads and stores on
 * x86-64 and arm64, but no C data race, so no torn or re-read field and
 * nothing for ThreadSanitizer to report); a chunk's split flag is
 * released after its cells are written and acquired before they are
 * read.  A cell's four fields are still not updated as one: two threads
 * touching one chunk at once is either a race of the program (then
 * reported, perhaps with a garbled previous access) or concurrent reads
 * (then a read may be lost).
 */
#include <string.h>

#include "check.h"

/* Reports may be cut short; the return value is not needed. */
#define fmt(...) ((void)g_snprintf(__VA_ARGS__))

#define MAX_AGENTS 1024u
#define CLOCK_BITS 22
#define CLOCK_MASK ((1u << CLOCK_BITS) - 1)
#define CLOCK_RESET (1u << (CLOCK_BITS - 1))
#define RING 256u /* DMA records kept per lane, for reports */

#define EPOCH(a, c) ((uint32_t)(a) << CLOCK_BITS | (c))
#define E_AGENT(e) ((e) >> CLOCK_BITS)
#define E_CLOCK(e) ((e)&CLOCK_MASK)

typedef struct cell {
    uint32_t w, r;     /* epochs of the last write / read, 0 = none */
    uint32_t wpc, rpc; /* pc of those accesses (dma.start for a DMA) */
} cell;

typedef struct sig_rec {
    uint32_t units; /* semaphore units not yet consumed */
    uint32_t n;     /* entries of vc (the agents then; the rest are 0) */
    uint32_t vc[];
} sig_rec;

typedef struct lane_dma {
    uint32_t clock; /* k, to validate the ring slot */
    uint8_t issuer;
    vtpu_grid_pt grid;
} lane_dma;

/* The agent space of a fabric's chips (a lone chip's own): top of file. */
struct vtpu_race_dom {
    vtpu_mutex lock;      /* below, and every member chip's queues and lanes */
    unsigned nchips, per; /* agents per chip */
    unsigned nagents;     /* agents in use (a bound for loops) */
    uint32_t clock[MAX_AGENTS]; /* latest clock of each agent */
    uint32_t done[MAX_AGENTS];  /* published at each chip's run begin */
    vtpu_race **rd;             /* [nchips], NULL: no detector there */
    /* Agents of chips in other processes (a transport's messages with
     * race information): the latest clock of each seen in a message,
     * published into `done` at each run begin, and their DMAs' issuers
     * for reports (lazily). */
    uint32_t far[MAX_AGENTS];
    lane_dma *far_lanes[MAX_AGENTS];
};

typedef struct tc_clock {
    uint32_t vc[MAX_AGENTS];
    uint32_t dvc[MAX_AGENTS]; /* the clock of the DMA being started */
    uint32_t dep;             /* and its epoch (vtpu_race_dma_start) */
    uint32_t svc[MAX_AGENTS]; /* the clock of a remote signal being sent */
    /* remote DMAs to another process not yet handed to the transport:
     * epoch -> their clock (g_malloc, vtpu_race_dom_agents entries) */
    GHashTable *kept;
    uint32_t bar_gen;
    vtpu_grid_pt grid[RING]; /* grid point at the start of each epoch */
} tc_clock;

/*
 * Two levels: cells are grouped in chunks of CHUNK; a chunk whose cells
 * are all alike is "uniform" and only its summary is read and written,
 * so an access covering whole chunks (nearly every DMA and vector access:
 * 4 KiB blocks, 512-byte rows) costs one check per chunk instead of one
 * per byte.  A partial access splits the chunk into its cells first; a
 * whole-chunk write that passes makes it uniform again.
 */
#define CHUNK 128u /* cells */

typedef struct chunk {
    cell sum;       /* every cell's value while uniform */
    uint32_t split; /* 0 = uniform (the cells are stale) */
} chunk;

typedef struct shadow {
    cell *c;
    chunk *k;
    uint64_t bytes, kbytes; /* of the mappings */
} shadow;

struct vtpu_race {
    vtpu_chip *chip;
    vtpu_race_dom *dom; /* own, or the fabric's */
    vtpu_race_dom *own;
    unsigned base; /* first agent of this chip */

    /* below: under dom->lock */
    uint16_t *lane_of;  /* [tc * num_sems + sem] agent, 0 = none yet */
    GHashTable *rlanes; /* remote DMA key -> agent */
    unsigned nlanes;
    lane_dma *lanes[MAX_AGENTS]; /* [agent - base], RING entries, lazily */
    GQueue *queue;               /* [tc * num_sems + sem] of sig_rec */
    uint32_t bar_vc[3][MAX_AGENTS];
    unsigned bar_count[3];
    tc_clock *tcs[VTPU_MAX_TCS];

    /* vmem[VTPU_SHARED_OWNER]: VMEM_SHARED */
    shadow hbm, vmem[VTPU_MAX_TCS + 1], smem[VTPU_MAX_TCS];
};

/* ------------------------------------------------------------------ */
/* Setup                                                                */
/* ------------------------------------------------------------------ */

static bool shadow_map(shadow *s, uint64_t cells)
{
    uint64_t chunks = (cells + CHUNK - 1) / CHUNK;
    s->bytes = chunks * CHUNK * sizeof(cell);
    s->kbytes = chunks * sizeof(chunk);
    s->c = vtpu_map_lazy(s->bytes);
    s->k = vtpu_map_lazy(s->kbytes);
    return s->c && s->k;
}

static void shadow_unmap(shadow *s)
{
    vtpu_unmap_lazy(s->c, s->bytes);
    vtpu_unmap_lazy(s->k, s->kbytes);
    s->c = NULL;
    s->k = NULL;
}

static void shadow_drop(shadow *s)
{
    vtpu_zero_lazy(s->c, s->bytes);
    vtpu_zero_lazy(s->k, s->kbytes);
}

/* Shadow fields are shared by the TC threads without a lock (top). */
static inline uint32_t ld(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline cell cell_load(const cell *x)
{
    return (cell){ld(&x->w), ld(&x->r), ld(&x->wpc), ld(&x->rpc)};
}

static inline void cell_store(cell *x, cell v)
{
    st(&x->w, v.w);
    st(&x->r, v.r);
    st(&x->wpc, v.wpc);
    st(&x->rpc, v.rpc);
}

/* Is the chunk split?  Its cells are then what the splitter wrote. */
static inline bool is_split(const chunk *k)
{
    return __atomic_load_n(&k->split, __ATOMIC_ACQUIRE) != 0;
}

static inline void set_split(chunk *k, bool split)
{
    __atomic_store_n(&k->split, split, __ATOMIC_RELEASE);
}

/* The value of cell i, whichever level holds it. */
static inline cell cell_get(const shadow *s, uint64_t i)
{
    const chunk *k = &s->k[i / CHUNK];
    return is_split(k) ? cell_load(&s->c[i]) : cell_load(&k->sum);
}

/* Give chunk `ki` its own cells. */
static void chunk_split(shadow *s, uint64_t ki)
{
    chunk *k = &s->k[ki];
    if (is_split(k))
        return;
    cell *c = s->c + ki * CHUNK;
    cell sum = cell_load(&k->sum);
    for (unsigned i = 0; i < CHUNK; i++)
        cell_store(&c[i], sum);
    set_split(k, true);
}

static void clear_queues(vtpu_race *rd);

vtpu_race_dom *vtpu_race_dom_new(unsigned nchips)
{
    unsigned p2 = 1;
    while (p2 < nchips)
        p2 <<= 1;
    if (!nchips || nchips > VTPU_RACE_MAX_CHIPS)
        return NULL;
    vtpu_race_dom *d = g_new0(vtpu_race_dom, 1);
    vtpu_mutex_init(&d->lock);
    d->nchips = nchips;
    d->per = MAX_AGENTS / p2;
    d->rd = g_new0(vtpu_race *, nchips);
    return d;
}

void vtpu_race_dom_free(vtpu_race_dom *d)
{
    if (!d)
        return;
    vtpu_mutex_clear(&d->lock);
    for (unsigned a = 0; a < MAX_AGENTS; a++)
        g_free(d->far_lanes[a]);
    g_free(d->rd);
    g_free(d);
}

_Static_assert(MAX_AGENTS / VTPU_RACE_MAX_CHIPS >= 2 * VTPU_MAX_TCS,
               "a chip's agents: its TCs and at least as many DMA lanes");
_Static_assert(sizeof(void *) >= 8, "remote lane keys are pointers");

/* Make rd chip `idx` of domain d: its agents, its lanes forgotten (their
 * agents change), nothing queued. */
static void bind(vtpu_race *rd, vtpu_race_dom *d, unsigned idx)
{
    vtpu_mutex_lock(&d->lock);
    rd->dom = d;
    rd->base = idx * d->per;
    d->rd[idx] = rd;
    if (d->nagents < rd->base + VTPU_MAX_TCS)
        d->nagents = rd->base + VTPU_MAX_TCS;
    memset(rd->lane_of, 0,
           sizeof(uint16_t) * rd->chip->cfg.num_tcs * rd->chip->cfg.num_sems);
    g_hash_table_remove_all(rd->rlanes);
    rd->nlanes = 0;
    clear_queues(rd);
    vtpu_mutex_unlock(&d->lock);
}

void vtpu_race_attach(vtpu_race *rd, vtpu_race_dom *d, unsigned idx)
{
    vtpu_race_detach(rd);
    bind(rd, d, idx);
}

void vtpu_race_detach(vtpu_race *rd)
{
    vtpu_race_dom *d = rd->dom;

    if (!d || d == rd->own)
        return;
    vtpu_mutex_lock(&d->lock);
    d->rd[rd->base / d->per] = NULL;
    clear_queues(rd);
    vtpu_mutex_unlock(&d->lock);
    bind(rd, rd->own, 0);
}

vtpu_race *vtpu_race_new(vtpu_chip *chip)
{
    const vtpu_config *cfg = &chip->cfg;
    vtpu_race *rd = g_new0(vtpu_race, 1);

    rd->chip = chip;
    bool ok = shadow_map(&rd->hbm, cfg->hbm_size);
    for (unsigned t = 0; t < cfg->num_tcs; t++) {
        ok = ok && shadow_map(&rd->vmem[t], cfg->vmem_size / 4) &&
             shadow_map(&rd->smem[t], cfg->smem_size);
        rd->tcs[t] = g_new0(tc_clock, 1);
        rd->tcs[t]->kept =
            g_hash_table_new_full(g_direct_hash, NULL, NULL, g_free);
    }
    if (cfg->vmem_shared_size)
        ok = ok && shadow_map(&rd->vmem[VTPU_SHARED_OWNER],
                              cfg->vmem_shared_size / 4);
    rd->lane_of = g_new0(uint16_t, (size_t)cfg->num_tcs * cfg->num_sems);
    rd->rlanes = g_hash_table_new(g_direct_hash, NULL);
    rd->queue = g_new0(GQueue, (size_t)cfg->num_tcs * cfg->num_sems);
    rd->own = vtpu_race_dom_new(1);
    bind(rd, rd->own, 0);
    if (!ok) {
        /* Out of address space: run without race checks. */
        g_warning("vtpu: cannot reserve shadow memory; race checks off");
        vtpu_race_free(rd);
        return NULL;
    }
    return rd;
}

/* Caller holds the lock (or nobody else can see rd). */
static void clear_queues(vtpu_race *rd)
{
    size_t n = (size_t)rd->chip->cfg.num_tcs * rd->chip->cfg.num_sems;
    for (size_t i = 0; i < n; i++) {
        sig_rec *r;
        while ((r = g_queue_pop_head(&rd->queue[i])))
            g_free(r);
    }
}

void vtpu_race_free(vtpu_race *rd)
{
    if (!rd)
        return;
    vtpu_race_detach(rd);
    clear_queues(rd);
    vtpu_race_dom_free(rd->own);
    g_free(rd->queue);
    g_free(rd->lane_of);
    if (rd->rlanes)
        g_hash_table_destroy(rd->rlanes);
    for (unsigned i = 0; i < MAX_AGENTS; i++)
        g_free(rd->lanes[i]);
    for (unsigned t = 0; t < VTPU_MAX_TCS; t++) {
        if (rd->tcs[t])
            g_hash_table_destroy(rd->tcs[t]->kept);
        g_free(rd->tcs[t]);
        shadow_unmap(&rd->vmem[t]);
        shadow_unmap(&rd->smem[t]);
    }
    shadow_unmap(&rd->vmem[VTPU_SHARED_OWNER]);
    shadow_unmap(&rd->hbm);
    g_free(rd);
}

/* Record tc's grid point for the epoch that starts now. */
static void tick(vtpu_race *rd, vtpu_tc *tc)
{
    tc_clock *c = rd->tcs[tc->id];
    unsigned a = rd->base + tc->id;
    uint32_t v = c->vc[a];

    if (v < CLOCK_MASK)
        v++;
    c->vc[a] = v;
    __atomic_store_n(&rd->dom->clock[a], v, __ATOMIC_RELAXED);
    vtpu_check_grid_get(tc, &c->grid[v % RING]);
}

static void drop_shadows(vtpu_race *rd)
{
    shadow_drop(&rd->hbm);
    for (unsigned t = 0; t < rd->chip->cfg.num_tcs; t++) {
        shadow_drop(&rd->vmem[t]);
        shadow_drop(&rd->smem[t]);
    }
    shadow_drop(&rd->vmem[VTPU_SHARED_OWNER]);
}

/*
 * Before the launch rendezvous (this chip's previous run is over, and in
 * a collective run nobody runs the new one yet): restart every chip's
 * clocks when one nears the limit (epochs of any chip may be in any
 * chip's shadow, so every chip's shadow goes), publish our clocks, and
 * forget our queues.
 */
void vtpu_race_run_begin(vtpu_race *rd, unsigned ntcs)
{
    vtpu_race_dom *d = rd->dom;
    bool reset = false;

    (void)ntcs;
    vtpu_mutex_lock(&d->lock);
    for (unsigned a = 0; a < d->nagents; a++)
        reset |= d->clock[a] >= CLOCK_RESET;
    if (reset) {
        memset(d->clock, 0, sizeof(d->clock));
        memset(d->done, 0, sizeof(d->done));
        memset(d->far, 0, sizeof(d->far));
        for (unsigned c = 0; c < d->nchips; c++)
            if (d->rd[c])
                drop_shadows(d->rd[c]);
    }
    memcpy(d->done + rd->base, d->clock + rd->base, sizeof(uint32_t) * d->per);
    /* chips elsewhere: their previous run is over too (the transport's
     * launch barrier), and what of it we saw is in `far` */
    for (unsigned c = 0; c < d->nchips; c++)
        if (!d->rd[c])
            for (unsigned a = c * d->per; a < (c + 1) * d->per; a++)
                if (d->done[a] < d->far[a])
                    d->done[a] = d->far[a];
    clear_queues(rd);
    for (unsigned t = 0; t < rd->chip->cfg.num_tcs; t++)
        g_hash_table_remove_all(rd->tcs[t]->kept);
    memset(rd->bar_count, 0, sizeof(rd->bar_count));
    vtpu_mutex_unlock(&d->lock);
}

/* After the rendezvous: every chip's previous run happens before all of
 * this one; TCs 0..ntcs-1 start their first epoch. */
void vtpu_race_run_start(vtpu_race *rd, unsigned ntcs)
{
    vtpu_race_dom *d = rd->dom;

    vtpu_mutex_lock(&d->lock);
    for (unsigned t = 0; t < ntcs; t++) {
        memcpy(rd->tcs[t]->vc, d->done, sizeof(d->done));
        rd->tcs[t]->bar_gen = 0;
    }
    vtpu_mutex_unlock(&d->lock);
    for (unsigned t = 0; t < ntcs; t++)
        tick(rd, rd->chip->tcs[t]);
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

/* "chip 1 " on a fabric, "" on a lone chip. */
static void chip_prefix(const vtpu_chip *chip, unsigned id, char *buf,
                        size_t len)
{
    buf[0] = 0;
    if (chip->fabric)
        fmt(buf, len, "chip %u ", id);
}

/* "chip 1 TC 1 (pc 0x00100234 body+0x14, grid (0,1))" for an earlier
 * access, whichever chip of the domain made it. */
static void describe_prev(vtpu_race *rd, uint32_t e, uint32_t pc, char *buf,
                          size_t len)
{
    vtpu_race_dom *d = rd->dom;
    unsigned a = E_AGENT(e), ci = a / d->per, la = a % d->per;
    uint32_t k = E_CLOCK(e), off = 0;
    char where[320], ch[24];
    char grid[64] = "";

    vtpu_mutex_lock(&d->lock);
    vtpu_race *o = ci < d->nchips ? d->rd[ci] : NULL;
    /* a chip of another process runs the same program (vtpu-run loads
     * one ELF everywhere): its symbols are ours */
    const char *sym =
        vtpu_program_symbol(o ? o->chip->prog : rd->chip->prog, pc, &off);
    fmt(where, sizeof(where), "pc 0x%08x %s+0x%x", pc, sym ? sym : "?", off);
    chip_prefix(rd->chip, ci, ch, sizeof(ch));
    if (la < VTPU_MAX_TCS) {
        if (o && o->tcs[la])
            vtpu_check_grid_fmt(&o->tcs[la]->grid[k % RING], grid,
                                sizeof(grid));
        fmt(buf, len, "%sTC %u (%s%s%s)", ch, la, where, *grid ? ", " : "",
            grid);
    } else {
        lane_dma *l = o && o->lanes[la]       ? &o->lanes[la][k % RING]
                      : !o && d->far_lanes[a] ? &d->far_lanes[a][k % RING]
                                              : NULL;
        if (l && l->clock == k) {
            vtpu_check_grid_fmt(&l->grid, grid, sizeof(grid));
            fmt(buf, len, "DMA issued by %sTC %u (dma.start at %s%s%s)", ch,
                l->issuer, where, *grid ? ", " : "", grid);
        } else {
            fmt(buf, len, "a DMA issued on %s(dma.start at %s)", ch, where);
        }
    }
    vtpu_mutex_unlock(&d->lock);
}

/*
 * The texts of a race between the access now (`now`: who made it; a DMA
 * it issued if `dma`) and the earlier one recorded as epoch e / pc, on
 * bytes [at, at+len) of rd's chip: `detail` for the fault, `full` for
 * the report.  `far`: the access is a DMA delivered from another
 * process (its issuer named in the detail too).
 */
static void race_text(vtpu_race *rd, const vtpu_mem_ref *at, uint64_t len,
                      bool dma, bool write, const char *now, bool far,
                      uint32_t e, uint32_t pc, bool prev_write, char *detail,
                      size_t dlen, char *full, size_t flen)
{
    char prev[600], space[40], what[256], by[400] = "";
    uint64_t addr = vtpu_check_addr(at);

    describe_prev(rd, e, pc, prev, sizeof(prev));
    /* "VMEM of chip 1 TC 0", "HBM of chip 1" on a slice */
    vtpu_check_space_on(rd->chip, at, space, sizeof(space));
    /* What the bytes are: an operand's array and elements, a buffer. */
    what[0] = 0;
    if (vtpu_regions_describe(rd->chip, at, len, what + 2, sizeof(what) - 2))
        memcpy(what, ": ", 2);
    if (far)
        fmt(by, sizeof(by), " by DMA issued by %s", now);
    fmt(detail, dlen, "%s%s of %s 0x%llx (%llu bytes)%s%s races with a %s by %s",
        dma ? "DMA " : "", write ? "write" : "read", space,
        (unsigned long long)addr, (unsigned long long)len, what, by,
        prev_write ? "write" : "read", prev);
    fmt(full, flen,
        "vtpu: DATA RACE on %s 0x%llx..0x%llx (%llu bytes)%s\n"
        "  %s by %s%s%s\n"
        "  previous %s by %s\n"
        "  no semaphore wait, DMA completion or barrier orders them\n",
        space, (unsigned long long)addr, (unsigned long long)(addr + len - 1),
        (unsigned long long)len, what, write ? "write" : "read",
        dma ? "DMA issued by " : "", now,
        far ? ", delivered from another process" : "",
        prev_write ? "write" : "read", prev);
}

/* A race of tc's access (or a DMA it issued, `dma`): reported as a
 * fault of tc. */
static int race_report(vtpu_race *rd, vtpu_tc *tc, bool dma, bool write,
                       const vtpu_mem_ref *at, uint64_t len, uint32_t e,
                       uint32_t pc, bool prev_write)
{
    char now[512], detail[1536], full[2048];

    vtpu_check_where(tc, now, sizeof(now)); /* "chip 0 TC 0 at ..." */
    race_text(rd, at, len, dma, write, now, false, e, pc, prev_write, detail,
              sizeof(detail), full, sizeof(full));
    return vtpu_check_report(tc, VTPU_ERR_RACE, at, len, detail, full);
}

/* ------------------------------------------------------------------ */
/* The shadow check                                                     */
/* ------------------------------------------------------------------ */

static inline bool hb(uint32_t e, const uint32_t *vc)
{
    return vc[E_AGENT(e)] >= E_CLOCK(e);
}

/*
 * Access cells [c, c+n) as agent epoch `ep` with clock `vc`.  Returns n,
 * or the index of the first conflicting cell (nothing updated from
 * there on), with the conflicting epoch/pc/kind in *pe, *ppc, *pw.
 */
static size_t cells_access(cell *c, size_t n, bool write, uint32_t ep,
                           const uint32_t *vc, uint32_t pc, uint32_t *pe,
                           uint32_t *ppc, bool *pw)
{
    uint32_t ok_w = ep, ok_r = ep; /* epochs known to be ordered before */

    for (size_t i = 0; i < n; i++) {
        cell *x = &c[i];
        uint32_t w = ld(&x->w);
        if (w != ok_w && w) {
            if (!hb(w, vc)) {
                *pe = w, *ppc = ld(&x->wpc), *pw = true;
                return i;
            }
            ok_w = w;
        }
        uint32_t r = ld(&x->r);
        if (write) {
            if (r != ok_r && r) {
                if (!hb(r, vc)) {
                    *pe = r, *ppc = ld(&x->rpc), *pw = false;
                    return i;
                }
                ok_r = r;
            }
            st(&x->w, ep);
            st(&x->wpc, pc);
            st(&x->r, 0);
        } else if (r != ep) {
            st(&x->r, ep);
            st(&x->rpc, pc);
        }
    }
    return n;
}

static shadow *shadow_of(vtpu_race *rd, const vtpu_mem_ref *r, unsigned *gran)
{
    *gran = 1;
    switch (r->space) {
    case VTPU_SPACE_HBM:
        return &rd->hbm;
    case VTPU_SPACE_VMEM:
        *gran = 4;
        return &rd->vmem[r->tc];
    default:
        return &rd->smem[r->tc];
    }
}

/*
 * Check and record len bytes at r of rd's chip, accessed with epoch `ep`
 * and clock `vc` (pc for reports).  false, or true with the first run of
 * conflicting bytes in *at / *alen and the earlier access in *pe, *ppc,
 * *pw (nothing recorded from there on).
 */
static bool shadow_check(vtpu_race *rd, const vtpu_mem_ref *r, uint64_t len,
                         bool write, uint32_t ep, const uint32_t *vc,
                         uint32_t pc, vtpu_mem_ref *at, uint64_t *alen,
                         uint32_t *pe, uint32_t *ppc, bool *pw)
{
    unsigned gran;
    shadow *s = shadow_of(rd, r, &gran);
    uint64_t a = r->off / gran, b = a + len / gran, at_cell = b;

    *pe = *ppc = 0;
    *pw = false;
    for (uint64_t i = a; i < b;) {
        uint64_t ki = i / CHUNK, end = (ki + 1) * CHUNK;
        chunk *k = &s->k[ki];
        bool whole = i == ki * CHUNK && end <= b;
        if (end > b)
            end = b;
        if (whole && !is_split(k)) {
            if (cells_access(&k->sum, 1, write, ep, vc, pc, pe, ppc, pw)) {
                i = end;
                continue;
            }
            chunk_split(s, ki); /* a conflict: find it cell by cell */
        } else {
            chunk_split(s, ki);
        }
        size_t n = (size_t)(end - i);
        size_t j = cells_access(s->c + i, n, write, ep, vc, pc, pe, ppc, pw);
        if (j < n) {
            at_cell = i + j;
            break;
        }
        if (whole && write) { /* every cell is now (ep, no reader) */
            cell_store(&k->sum, cell_load(&s->c[i]));
            set_split(k, false);
        }
        i = end;
    }
    if (at_cell == b)
        return false;
    /* Report the run of cells that conflict with the same access. */
    uint64_t j = at_cell + 1;
    while (j < b) {
        cell x = cell_get(s, j);
        if ((*pw ? x.w : x.r) != *pe)
            break;
        j++;
    }
    *at = *r;
    at->off = at_cell * gran;
    *alen = (j - at_cell) * gran;
    return true;
}

/* Check and record len bytes at r of rd's chip, accessed by tc (of any
 * chip of rd's domain) or a DMA it starts; 0 or -1 (reported). */
int vtpu_race_access(vtpu_race *rd, vtpu_tc *tc, bool dma,
                     const vtpu_mem_ref *r, uint64_t len, bool write)
{
    vtpu_race *by = tc->chip == rd->chip ? rd
                    : tc->chip->chip_id < rd->dom->nchips
                        ? rd->dom->rd[tc->chip->chip_id]
                        : NULL;
    if (!by || by->chip != tc->chip)
        return 0; /* (a chip without the detector: nothing to order by) */
    const tc_clock *c = by->tcs[tc->id];
    unsigned self = by->base + tc->id;
    const uint32_t *vc = dma ? c->dvc : c->vc;
    uint32_t ep = dma ? c->dep : EPOCH(self, c->vc[self]);
    vtpu_mem_ref at;
    uint64_t alen;
    uint32_t pe, ppc;
    bool pw;

    if (!shadow_check(rd, r, len, write, ep, vc, tc->pc, &at, &alen, &pe, &ppc,
                      &pw))
        return 0;
    return race_report(rd, tc, dma, write, &at, alen, pe, ppc, pw);
}

/* ------------------------------------------------------------------ */
/* DMAs                                                                 */
/* ------------------------------------------------------------------ */

/* A new lane of rd's chip for key `h` (a hash when lanes run out);
 * caller holds the lock. */
static unsigned lane_new(vtpu_race *rd, uint64_t h)
{
    vtpu_race_dom *d = rd->dom;
    unsigned nl = d->per - VTPU_MAX_TCS, a;

    if (rd->nlanes < nl) {
        a = rd->base + VTPU_MAX_TCS + rd->nlanes++;
        if (d->nagents < a + 1)
            d->nagents = a + 1;
    } else {
        a = rd->base + VTPU_MAX_TCS + (unsigned)(h % nl);
    }
    return a;
}

/* The lane of semaphore (stc, sem); caller holds the lock. */
static unsigned lane_for(vtpu_race *rd, uint32_t stc, uint32_t sem)
{
    size_t i = (size_t)stc * rd->chip->cfg.num_sems + sem;
    if (!rd->lane_of[i])
        rd->lane_of[i] = (uint16_t)lane_new(rd, i);
    return rd->lane_of[i];
}

/* The lane of tc's remote DMAs with this send semaphore, destination
 * chip and receive semaphore (TC rtc of that chip); caller holds the
 * lock.  One issuer and one semaphore at each end: both waiters consume
 * the lane's DMAs in order, as for a local lane. */
static unsigned lane_remote(vtpu_race *rd, unsigned tc, uint32_t send,
                            uint32_t chip, uint32_t rtc, uint32_t rsem)
{
    uint64_t key =
        (uint64_t)send | (uint64_t)rsem << 16 | (uint64_t)(rtc & 0xff) << 32 |
        (uint64_t)(chip & 0xfff) << 40 | (uint64_t)(tc & 7) << 52 | 1ull << 56;
    gpointer v = g_hash_table_lookup(rd->rlanes, (gpointer)(uintptr_t)key);
    if (v)
        return (unsigned)(uintptr_t)v;
    unsigned a = lane_new(rd, key ^ key >> 29);
    g_hash_table_insert(rd->rlanes, (gpointer)(uintptr_t)key,
                        (gpointer)(uintptr_t)a);
    return a;
}

/* Caller holds the lock. */
static void push_rec(vtpu_race *rd, uint32_t stc, uint32_t sem, uint32_t units,
                     const uint32_t *vc)
{
    unsigned n = rd->dom->nagents;
    sig_rec *r = g_malloc(sizeof(sig_rec) + sizeof(uint32_t) * n);
    r->units = units;
    r->n = n;
    memcpy(r->vc, vc, sizeof(uint32_t) * n);
    g_queue_push_tail(&rd->queue[(size_t)stc * rd->chip->cfg.num_sems + sem],
                      r);
}

/* tc's DMA gets epoch k+1 of lane a and its clock; caller holds the lock. */
static void dma_epoch(vtpu_race *rd, vtpu_tc *tc, unsigned a)
{
    tc_clock *c = rd->tcs[tc->id];
    uint32_t *vc = c->dvc;
    vtpu_race_dom *d = rd->dom;

    /* The TC's clock has no entries past nagents, nor has dvc. */
    memcpy(vc, c->vc, sizeof(uint32_t) * d->nagents);
    uint32_t k = d->clock[a] < CLOCK_MASK ? d->clock[a] + 1 : CLOCK_MASK;
    d->clock[a] = k;
    if (vc[a] < k)
        vc[a] = k;
    c->dep = EPOCH(a, k);
    unsigned la = a - rd->base;
    if (!rd->lanes[la])
        rd->lanes[la] = g_new0(lane_dma, RING);
    lane_dma *l = &rd->lanes[la][k % RING];
    l->clock = k;
    l->issuer = (uint8_t)tc->id;
    vtpu_check_grid_get(tc, &l->grid);
}

void vtpu_race_dma_start(vtpu_race *rd, vtpu_tc *tc, uint32_t sem_tc,
                         uint32_t sem, uint32_t units)
{
    vtpu_mutex_lock(&rd->dom->lock);
    dma_epoch(rd, tc, lane_for(rd, sem_tc, sem));
    push_rec(rd, sem_tc, sem, units, rd->tcs[tc->id]->dvc);
    vtpu_mutex_unlock(&rd->dom->lock);
}

void vtpu_race_remote_start(vtpu_race *rd, vtpu_tc *tc, vtpu_race *dst,
                            uint32_t dst_chip, uint32_t rtc, uint32_t rsem,
                            uint32_t send_sem, uint32_t units)
{
    vtpu_mutex_lock(&rd->dom->lock);
    dma_epoch(rd, tc, lane_remote(rd, tc->id, send_sem, dst_chip, rtc, rsem));
    const uint32_t *vc = rd->tcs[tc->id]->dvc;
    if (dst && dst->dom == rd->dom && rtc < dst->chip->cfg.num_tcs &&
        rsem < dst->chip->cfg.num_sems)
        push_rec(dst, rtc, rsem, units, vc);   /* the data has landed */
    push_rec(rd, tc->id, send_sem, units, vc); /* the data has left */
    vtpu_mutex_unlock(&rd->dom->lock);
}

/* The DMA's accesses are checked: the TC's next epoch starts. */
void vtpu_race_dma_end(vtpu_race *rd, vtpu_tc *tc)
{
    tick(rd, tc);
}

/* ------------------------------------------------------------------ */
/* Synchronisation                                                      */
/* ------------------------------------------------------------------ */

static void join(uint32_t *into, const uint32_t *from, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (into[i] < from[i])
            into[i] = from[i];
}

void vtpu_race_signal(vtpu_race *rd, vtpu_tc *tc, uint32_t target_tc,
                      uint32_t sem, uint32_t n)
{
    if (target_tc >= tc->ntcs || sem >= rd->chip->cfg.num_sems)
        return;
    vtpu_mutex_lock(&rd->dom->lock);
    push_rec(rd, target_tc, sem, n, rd->tcs[tc->id]->vc);
    vtpu_mutex_unlock(&rd->dom->lock);
    tick(rd, tc);
}

void vtpu_race_signal_remote(vtpu_race *rd, vtpu_tc *tc, vtpu_race *dst,
                             uint32_t target_tc, uint32_t sem, uint32_t n)
{
    vtpu_mutex_lock(&rd->dom->lock);
    if (dst && dst->dom == rd->dom && target_tc < dst->chip->cfg.num_tcs &&
        sem < dst->chip->cfg.num_sems)
        push_rec(dst, target_tc, sem, n, rd->tcs[tc->id]->vc);
    vtpu_mutex_unlock(&rd->dom->lock);
    tick(rd, tc);
}

void vtpu_race_delivered(vtpu_race *rd, uint32_t target_tc, uint32_t sem,
                         uint32_t n)
{
    vtpu_race_dom *d = rd->dom;

    if (target_tc >= rd->chip->cfg.num_tcs || sem >= rd->chip->cfg.num_sems)
        return;
    vtpu_mutex_lock(&d->lock);
    uint32_t *vc = g_new(uint32_t, d->nagents);
    for (unsigned a = 0; a < d->nagents; a++)
        vc[a] = __atomic_load_n(&d->clock[a], __ATOMIC_RELAXED);
    push_rec(rd, target_tc, sem, n, vc);
    g_free(vc);
    vtpu_mutex_unlock(&d->lock);
}

void vtpu_race_wait(vtpu_race *rd, vtpu_tc *tc, uint32_t sem, uint32_t n)
{
    if (sem >= rd->chip->cfg.num_sems)
        return;
    uint32_t *vc = rd->tcs[tc->id]->vc;
    vtpu_mutex_lock(&rd->dom->lock);
    GQueue *q = &rd->queue[(size_t)tc->id * rd->chip->cfg.num_sems + sem];
    sig_rec *r;
    while ((r = g_queue_peek_head(q)) && (n > 0 || r->units == 0)) {
        uint32_t take = r->units < n ? r->units : n;
        join(vc, r->vc, r->n);
        r->units -= take;
        n -= take;
        if (!r->units)
            g_free(g_queue_pop_head(q));
    }
    vtpu_mutex_unlock(&rd->dom->lock);
}

/*
 * Barrier generations g use accumulator g % 3: the first TC to arrive at
 * generation g clears it; nobody still reads it then, since every TC has
 * left generation g - 1 (and so g - 3) before anyone arrives at g.
 */
void vtpu_race_barrier_arrive(vtpu_race *rd, vtpu_tc *tc)
{
    tc_clock *c = rd->tcs[tc->id];
    unsigned g = c->bar_gen % 3;
    vtpu_mutex_lock(&rd->dom->lock);
    if (rd->bar_count[g] == 0)
        memset(rd->bar_vc[g], 0, sizeof(rd->bar_vc[g]));
    join(rd->bar_vc[g], c->vc, rd->dom->nagents);
    if (++rd->bar_count[g] == tc->ntcs)
        rd->bar_count[g] = 0;
    vtpu_mutex_unlock(&rd->dom->lock);
}

void vtpu_race_barrier_leave(vtpu_race *rd, vtpu_tc *tc)
{
    tc_clock *c = rd->tcs[tc->id];
    unsigned g = c->bar_gen++ % 3;
    vtpu_mutex_lock(&rd->dom->lock);
    join(c->vc, rd->bar_vc[g], rd->dom->nagents);
    vtpu_mutex_unlock(&rd->dom->lock);
    tick(rd, tc);
}

/* ------------------------------------------------------------------ */
/* Messages to and from other processes (a transport)                   */
/* ------------------------------------------------------------------ */

unsigned vtpu_race_dom_agents(unsigned nchips)
{
    unsigned p2 = 1;

    if (!nchips || nchips > VTPU_RACE_MAX_CHIPS)
        return 0;
    while (p2 < nchips)
        p2 <<= 1;
    return nchips * (MAX_AGENTS / p2);
}

_Static_assert(MAX_AGENTS == VTPU_RACE_MAX_AGENTS, "vtpu-slice.h's bound");

int vtpu_race_clock_check(unsigned nchips, unsigned src_chip, bool dma,
                          const vtpu_race_clock *rc, char *err, size_t errlen)
{
    unsigned want = vtpu_race_dom_agents(nchips);

    if (!want) {
        fmt(err, errlen,
            "race information on a slice of %u chips (race detection "
            "supports at most %u)",
            nchips, VTPU_RACE_MAX_CHIPS);
        return -1;
    }
    unsigned per = want / nchips;
    if (rc->nchips != nchips) {
        fmt(err, errlen,
            "race information from a slice of %u chips, this one has %u (do "
            "all ranks run the same topology?)",
            rc->nchips, nchips);
        return -1;
    }
    if (rc->n != want || !rc->vc) {
        fmt(err, errlen,
            "race clock of %u agents, a slice of %u chips has %u (do all "
            "ranks run the same topology?)",
            rc->n, nchips, want);
        return -1;
    }
    if (src_chip >= nchips || rc->tc >= VTPU_MAX_TCS) {
        fmt(err, errlen, "race information from chip %u TC %u", src_chip,
            rc->tc);
        return -1;
    }
    for (unsigned a = 0; a < rc->n; a++)
        if (rc->vc[a] > CLOCK_MASK) {
            fmt(err, errlen, "race clock: agent %u at %u, past 0x%x", a,
                rc->vc[a], CLOCK_MASK);
            return -1;
        }
    if (!dma) {
        if (rc->epoch) {
            fmt(err, errlen, "race information of a signal with epoch 0x%x",
                rc->epoch);
            return -1;
        }
        return 0;
    }
    /* a DMA lane of the source chip, at a clock the DMA's clock has */
    unsigned a = E_AGENT(rc->epoch), k = E_CLOCK(rc->epoch);
    if (a < src_chip * per + VTPU_MAX_TCS || a >= (src_chip + 1) * per || !k ||
        rc->vc[a] < k) {
        fmt(err, errlen,
            "race epoch 0x%x (agent %u clock %u) is no DMA of chip %u "
            "(agents %u..%u) within its clock",
            rc->epoch, a, k, src_chip, src_chip * per + VTPU_MAX_TCS,
            (src_chip + 1) * per - 1);
        return -1;
    }
    return 0;
}

/* A copy of vc's first nagents entries, zero to n (domain agents). */
static uint32_t *clock_copy(const vtpu_race_dom *d, const uint32_t *vc)
{
    unsigned n = d->nchips * d->per;
    uint32_t *c = g_new0(uint32_t, n);
    memcpy(c, vc, sizeof(uint32_t) * d->nagents);
    return c;
}

uint32_t vtpu_race_remote_keep(vtpu_race *rd, vtpu_tc *tc)
{
    tc_clock *c = rd->tcs[tc->id];

    vtpu_mutex_lock(&rd->dom->lock);
    uint32_t *vc = clock_copy(rd->dom, c->dvc);
    vtpu_mutex_unlock(&rd->dom->lock);
    g_hash_table_replace(c->kept, GUINT_TO_POINTER(c->dep), vc);
    return c->dep;
}

uint32_t *vtpu_race_remote_take(vtpu_race *rd, vtpu_tc *tc, uint32_t ep,
                                vtpu_race_clock *rc)
{
    tc_clock *c = rd->tcs[tc->id];
    gpointer key = GUINT_TO_POINTER(ep), vc = NULL;

    if (!g_hash_table_steal_extended(c->kept, key, NULL, &vc))
        return NULL;
    rc->epoch = ep;
    rc->n = rd->dom->nchips * rd->dom->per;
    rc->tc = tc->id;
    rc->nchips = rd->dom->nchips;
    rc->vc = vc;
    return vc;
}

void vtpu_race_signal_clock(vtpu_race *rd, vtpu_tc *tc, vtpu_race_clock *rc)
{
    tc_clock *c = rd->tcs[tc->id];
    vtpu_race_dom *d = rd->dom;
    unsigned n = d->nchips * d->per;

    vtpu_mutex_lock(&d->lock);
    memcpy(c->svc, c->vc, sizeof(uint32_t) * d->nagents);
    memset(c->svc + d->nagents, 0, sizeof(uint32_t) * (n - d->nagents));
    vtpu_mutex_unlock(&d->lock);
    rc->epoch = 0;
    rc->n = n;
    rc->tc = tc->id;
    rc->nchips = d->nchips;
    rc->vc = c->svc;
}

/*
 * A checked clock from another process (rc->n == the domain's agents),
 * made usable here; caller holds the lock.  Its entries join what we
 * know of those agents (`far`, published at the next run begin) and
 * nagents covers them; the result (g_free) is rc's clock joined with
 * `done`: everything of the previous runs happened before this run of
 * every process (the launch barrier), even when the sender has not
 * heard of it.
 */
static uint32_t *far_clock(vtpu_race *rd, const vtpu_race_clock *rc)
{
    vtpu_race_dom *d = rd->dom;
    uint32_t *vc = g_new0(uint32_t, MAX_AGENTS);
    unsigned top = 0;

    for (unsigned a = 0; a < rc->n; a++) {
        uint32_t v = rc->vc[a];
        if (v) {
            top = a + 1;
            if (!d->rd[a / d->per] && d->far[a] < v)
                d->far[a] = v;
        }
        vc[a] = v > d->done[a] ? v : d->done[a];
    }
    if (d->nagents < top)
        d->nagents = top;
    return vc;
}

void vtpu_race_delivered_clock(vtpu_race *rd, uint32_t target_tc, uint32_t sem,
                               uint32_t n, const vtpu_race_clock *rc)
{
    vtpu_race_dom *d = rd->dom;

    if (target_tc >= rd->chip->cfg.num_tcs || sem >= rd->chip->cfg.num_sems)
        return;
    vtpu_mutex_lock(&d->lock);
    uint32_t *vc = far_clock(rd, rc);
    push_rec(rd, target_tc, sem, n, vc);
    g_free(vc);
    vtpu_mutex_unlock(&d->lock);
}

uint32_t *vtpu_race_far_dma(vtpu_race *rd, unsigned src_chip,
                            const vtpu_race_clock *rc)
{
    vtpu_race_dom *d = rd->dom;
    unsigned a = E_AGENT(rc->epoch), k = E_CLOCK(rc->epoch);

    vtpu_mutex_lock(&d->lock);
    uint32_t *vc = far_clock(rd, rc);
    if (!d->rd[src_chip]) { /* (a chip here has its own ring) */
        if (!d->far_lanes[a])
            d->far_lanes[a] = g_new0(lane_dma, RING);
        lane_dma *l = &d->far_lanes[a][k % RING];
        l->clock = k;
        l->issuer = (uint8_t)rc->tc;
        l->grid.rank = -1;
    }
    vtpu_mutex_unlock(&d->lock);
    return vc;
}

int vtpu_race_far_write(vtpu_race *rd, unsigned src_chip,
                        const vtpu_race_clock *rc, const uint32_t *vc,
                        uint32_t pc, const vtpu_mem_ref *r, uint64_t len,
                        char *err, size_t errlen)
{
    vtpu_mem_ref at;
    uint64_t alen;
    uint32_t pe, ppc;
    bool pw;

    if (!shadow_check(rd, r, len, true, rc->epoch, vc, pc, &at, &alen, &pe,
                      &ppc, &pw))
        return 0;
    /* as race_report, for an issuer in another process */
    char now[320], detail[1536], full[2048];
    uint32_t off = 0;
    const char *sym = vtpu_program_symbol(rd->chip->prog, pc, &off);

    fmt(now, sizeof(now), "chip %u TC %u (dma.start at pc 0x%08x %s+0x%x)",
        src_chip, rc->tc, pc, sym ? sym : "?", off);
    race_text(rd, &at, alen, true, true, now, true, pe, ppc, pw, detail,
              sizeof(detail), full, sizeof(full));
    vtpu_chip_output(rd->chip, at.tc, 2, full, strlen(full));
    fmt(err, errlen, "DATA RACE: %s", detail);
    return -1;
}
