/*
 * race.c - data-race detection between TCs and DMA engines (check.h),
 * FastTrack-style: vector clocks for the agents, one shadow cell per
 * granule of memory holding the last write and the last read epoch.
 *
 * Agents.  Each TC of the chip is an agent (0..VTPU_MAX_TCS-1).  DMAs are
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
 * queues, lanes and the barrier accumulators are under ck->lock; shadow
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
#include <stdio.h>
#include <string.h>

#include "check.h"

/* Reports may be cut short; the return value is not needed. */
#define fmt(...) ((void)g_snprintf(__VA_ARGS__))
#include "fpu.h"
#include "vpu.h"
#include "vtpu-launch.h"

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

typedef struct grid_pt {
    int8_t rank; /* -1: unknown */
    int32_t pt[4];
} grid_pt;

typedef struct lane_dma {
    uint32_t clock; /* k, to validate the ring slot */
    uint8_t issuer;
    grid_pt grid;
} lane_dma;

typedef struct tc_clock {
    uint32_t vc[MAX_AGENTS];
    uint32_t dvc[MAX_AGENTS]; /* a DMA's clock (vtpu_check_dma) */
    uint32_t bar_gen;
    grid_pt grid[RING]; /* grid point at the start of each epoch */
} tc_clock;

static void grid_get(vtpu_tc *tc, grid_pt *g);
static void grid_fmt(const grid_pt *g, char *buf, size_t len);

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

struct vtpu_check {
    vtpu_chip *chip;
    bool race;
    vtpu_poison *poison;
    bool scalar;     /* scalar SMEM accesses go through MEMCHK */
    vtpu_insn *code; /* the checking copy of the program */

    vtpu_mutex lock; /* below: clocks other than a TC's own vc, queues, lanes */
    uint32_t clock[MAX_AGENTS]; /* latest clock of each agent */
    unsigned nagents;           /* agents in use (a bound for loops) */
    uint16_t *lane_of;          /* [tc * num_sems + sem], 0 = none yet */
    unsigned nlanes;
    lane_dma *lanes[MAX_AGENTS]; /* RING entries each, lazily */
    GQueue *queue;               /* [tc * num_sems + sem] of sig_rec */
    uint32_t bar_vc[3][MAX_AGENTS];
    unsigned bar_count[3];
    tc_clock *tcs[VTPU_MAX_TCS];

    shadow hbm, vmem[VTPU_MAX_TCS], smem[VTPU_MAX_TCS];
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

int vtpu_chip_set_checks(vtpu_chip *chip, bool race, bool poison, char *err,
                         size_t errlen)
{
    vtpu_check_free(chip->check);
    chip->cfg.race = race;
    chip->cfg.poison = poison;
    chip->check = vtpu_check_new(chip);
    if ((race && !(chip->check && chip->check->race)) ||
        (poison && !(chip->check && chip->check->poison))) {
        if (err && errlen)
            fmt(err, errlen, "cannot reserve shadow memory for the checks");
        vtpu_check_free(chip->check);
        chip->check = NULL;
        chip->cfg.race = chip->cfg.poison = 0;
        return -1;
    }
    return 0;
}

vtpu_check *vtpu_check_new(vtpu_chip *chip)
{
    const vtpu_config *cfg = &chip->cfg;
    vtpu_check *ck;

    if (!cfg->race && !cfg->poison)
        return NULL;
    ck = g_new0(vtpu_check, 1);
    ck->chip = chip;
    ck->race = cfg->race != 0;
    vtpu_mutex_init(&ck->lock);
    if (cfg->poison)
        ck->poison = vtpu_poison_new(chip);
    if (ck->race) {
        bool ok = shadow_map(&ck->hbm, cfg->hbm_size);
        for (unsigned t = 0; t < cfg->num_tcs; t++) {
            ok = ok && shadow_map(&ck->vmem[t], cfg->vmem_size / 4) &&
                 shadow_map(&ck->smem[t], cfg->smem_size);
            ck->tcs[t] = g_new0(tc_clock, 1);
        }
        ck->lane_of = g_new0(uint16_t, (size_t)cfg->num_tcs * cfg->num_sems);
        ck->queue = g_new0(GQueue, (size_t)cfg->num_tcs * cfg->num_sems);
        ck->nagents = VTPU_MAX_TCS;
        if (!ok) {
            /* Out of address space: run without race checks. */
            g_warning("vtpu: cannot reserve shadow memory; race checks off");
            ck->race = false;
        }
    }
    return ck;
}

static void clear_queues(vtpu_check *ck)
{
    size_t n = (size_t)ck->chip->cfg.num_tcs * ck->chip->cfg.num_sems;
    for (size_t i = 0; i < n; i++) {
        sig_rec *r;
        while ((r = g_queue_pop_head(&ck->queue[i])))
            g_free(r);
    }
}

void vtpu_check_free(vtpu_check *ck)
{
    if (!ck)
        return;
    if (ck->queue)
        clear_queues(ck);
    g_free(ck->queue);
    g_free(ck->lane_of);
    for (unsigned i = 0; i < MAX_AGENTS; i++)
        g_free(ck->lanes[i]);
    for (unsigned t = 0; t < VTPU_MAX_TCS; t++) {
        g_free(ck->tcs[t]);
        shadow_unmap(&ck->vmem[t]);
        shadow_unmap(&ck->smem[t]);
    }
    shadow_unmap(&ck->hbm);
    vtpu_poison_free(ck->poison);
    g_free(ck->code);
    vtpu_mutex_clear(&ck->lock);
    g_free(ck);
}

/* Record tc's grid point for the epoch that starts now. */
static void tick(vtpu_check *ck, vtpu_tc *tc)
{
    tc_clock *c = ck->tcs[tc->id];
    uint32_t v = c->vc[tc->id];

    if (v < CLOCK_MASK)
        v++;
    c->vc[tc->id] = v;
    __atomic_store_n(&ck->clock[tc->id], v, __ATOMIC_RELAXED);
    grid_get(tc, &c->grid[v % RING]);
}

/* The copy of the program whose loads/stores go through MEMCHK. */
static void build_code(vtpu_check *ck, const vtpu_program *prog)
{
    const void *const *h = vtpu_interp_handlers();
    static const int ops[] = {VTPU_OP_LB,  VTPU_OP_LH, VTPU_OP_LW, VTPU_OP_LBU,
                              VTPU_OP_LHU, VTPU_OP_SB, VTPU_OP_SH, VTPU_OP_SW,
                              VTPU_OP_FLW, VTPU_OP_FSW};

    g_free(ck->code);
    ck->code = g_memdup2(prog->code, sizeof(vtpu_insn) * prog->code_words);
    for (uint32_t i = 0; i < prog->code_words; i++) {
        for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
            if (ck->code[i].h == h[ops[k]]) {
                /* rs3 is unused by loads and stores: the real op. */
                ck->code[i].rs3 = (uint8_t)ops[k];
                ck->code[i].h = h[VTPU_OP_MEMCHK];
                break;
            }
        }
    }
}

void vtpu_check_run_begin(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_check *ck = chip->check;

    if (ck->poison)
        vtpu_poison_run_begin(ck->poison, ntcs);
    if (ck->race) {
        bool reset = false;
        for (unsigned a = 0; a < ck->nagents; a++)
            reset |= ck->clock[a] >= CLOCK_RESET;
        if (reset) {
            memset(ck->clock, 0, sizeof(ck->clock));
            shadow_drop(&ck->hbm);
            for (unsigned t = 0; t < chip->cfg.num_tcs; t++) {
                shadow_drop(&ck->vmem[t]);
                shadow_drop(&ck->smem[t]);
            }
        }
        clear_queues(ck);
        memset(ck->bar_count, 0, sizeof(ck->bar_count));
        /* Everything before the run happens before all of it. */
        for (unsigned t = 0; t < ntcs; t++) {
            memcpy(ck->tcs[t]->vc, ck->clock, sizeof(ck->clock));
            ck->tcs[t]->bar_gen = 0;
        }
    }
    /* A debugger's patched copy wins; scalar accesses then go unchecked
     * (and, for poison, all of SMEM counts as written). */
    ck->scalar = !chip->gdb;
    if (ck->scalar)
        build_code(ck, chip->prog);
    for (unsigned t = 0; t < ntcs && ck->poison && !ck->scalar; t++) {
        vtpu_mem_ref r = {VTPU_SPACE_SMEM, t, 0};
        vtpu_poison_write(ck->poison, &r, chip->tcs[t]->smem_size);
    }
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        tc->check = ck;
        if (ck->race)
            tick(ck, tc);
        if (ck->scalar)
            tc->code = ck->code;
    }
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

/* "TC 1 (pc 0x00100234 body+0x14, grid (0,1))" for an earlier access. */
static void describe_prev(vtpu_check *ck, uint32_t e, uint32_t pc, char *buf,
                          size_t len)
{
    unsigned a = E_AGENT(e);
    uint32_t k = E_CLOCK(e), off = 0;
    const char *sym = vtpu_program_symbol(ck->chip->prog, pc, &off);
    char where[96];
    char grid[40] = "";

    fmt(where, sizeof(where), "pc 0x%08x %s+0x%x", pc, sym ? sym : "?", off);
    if (a < VTPU_MAX_TCS) {
        if (ck->tcs[a])
            grid_fmt(&ck->tcs[a]->grid[k % RING], grid, sizeof(grid));
        fmt(buf, len, "TC %u (%s%s%s)", a, where, *grid ? ", " : "", grid);
    } else {
        lane_dma *l = ck->lanes[a] ? &ck->lanes[a][k % RING] : NULL;
        if (l && l->clock == k) {
            grid_fmt(&l->grid, grid, sizeof(grid));
            fmt(buf, len, "DMA issued by TC %u (dma.start at %s%s%s)",
                l->issuer, where, *grid ? ", " : "", grid);
        } else {
            fmt(buf, len, "a DMA (dma.start at %s)", where);
        }
    }
}

static const char *space_tc(const vtpu_mem_ref *r, char *buf, size_t len)
{
    if (r->space == VTPU_SPACE_HBM)
        fmt(buf, len, "HBM");
    else
        fmt(buf, len, "%s of TC %u", vtpu_space_name(r->space), r->tc);
    return buf;
}

/*
 * A race between the access now (by tc or a DMA it issued, `dma`) and
 * the earlier one recorded as epoch e / pc: bytes [at, at+len).
 */
static int race_report(vtpu_check *ck, vtpu_tc *tc, bool dma, bool write,
                       const vtpu_mem_ref *at, uint64_t len, uint32_t e,
                       uint32_t pc, bool prev_write)
{
    char prev[200], grid[40], sp[24], detail[160], full[768];
    uint32_t off = 0;
    const char *sym = vtpu_program_symbol(ck->chip->prog, tc->pc, &off);
    uint64_t addr = vtpu_check_addr(at);

    describe_prev(ck, e, pc, prev, sizeof(prev));
    vtpu_check_grid(tc, grid, sizeof(grid));
    space_tc(at, sp, sizeof(sp));
    fmt(detail, sizeof(detail),
        "%s%s of %s 0x%llx (%llu bytes) races "
        "with a %s by %s",
        dma ? "DMA " : "", write ? "write" : "read", sp,
        (unsigned long long)addr, (unsigned long long)len,
        prev_write ? "write" : "read", prev);
    fmt(full, sizeof(full),
        "vtpu: DATA RACE on %s 0x%llx..0x%llx (%llu bytes)\n"
        "  %s by %sTC %u at pc 0x%08x %s+0x%x%s%s\n"
        "  previous %s by %s\n"
        "  no semaphore wait, DMA completion or barrier orders them\n",
        sp, (unsigned long long)addr, (unsigned long long)(addr + len - 1),
        (unsigned long long)len, write ? "write" : "read",
        dma ? "DMA issued by " : "", tc->id, tc->pc, sym ? sym : "?", off,
        *grid ? ", " : "", grid, prev_write ? "write" : "read", prev);
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

static shadow *shadow_of(vtpu_check *ck, const vtpu_mem_ref *r, unsigned *gran)
{
    *gran = 1;
    switch (r->space) {
    case VTPU_SPACE_HBM:
        return &ck->hbm;
    case VTPU_SPACE_VMEM:
        *gran = 4;
        return &ck->vmem[r->tc];
    default:
        return &ck->smem[r->tc];
    }
}

/* Check and record len bytes at r; 0 or -1 (reported). */
static int race_range(vtpu_check *ck, vtpu_tc *tc, bool dma,
                      const vtpu_mem_ref *r, uint64_t len, bool write,
                      uint32_t ep, const uint32_t *vc)
{
    unsigned gran;
    shadow *s = shadow_of(ck, r, &gran);
    uint64_t a = r->off / gran, b = a + len / gran, at_cell = b;
    uint32_t pe = 0, ppc = 0;
    bool pw = false;

    for (uint64_t i = a; i < b;) {
        uint64_t ki = i / CHUNK, end = (ki + 1) * CHUNK;
        chunk *k = &s->k[ki];
        bool whole = i == ki * CHUNK && end <= b;
        if (end > b)
            end = b;
        if (whole && !is_split(k)) {
            if (cells_access(&k->sum, 1, write, ep, vc, tc->pc, &pe, &ppc,
                             &pw)) {
                i = end;
                continue;
            }
            chunk_split(s, ki); /* a conflict: find it cell by cell */
        } else {
            chunk_split(s, ki);
        }
        size_t n = (size_t)(end - i);
        size_t j =
            cells_access(s->c + i, n, write, ep, vc, tc->pc, &pe, &ppc, &pw);
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
        return 0;
    /* Report the run of cells that conflict with the same access. */
    uint64_t j = at_cell + 1;
    while (j < b) {
        cell x = cell_get(s, j);
        if ((pw ? x.w : x.r) != pe)
            break;
        j++;
    }
    vtpu_mem_ref at = *r;
    at.off = at_cell * gran;
    return race_report(ck, tc, dma, write, &at, (j - at_cell) * gran, pe, ppc,
                       pw);
}

/* ------------------------------------------------------------------ */
/* Accesses                                                             */
/* ------------------------------------------------------------------ */

int vtpu_check_vmem(vtpu_tc *tc, uint32_t addr, int32_t stride,
                    const uint32_t *mask, const uint32_t *vreg, bool store)
{
    vtpu_check *ck = tc->check;
    const uint32_t *vc = ck->race ? ck->tcs[tc->id]->vc : NULL;
    uint32_t ep = vc ? EPOCH(tc->id, vc[tc->id]) : 0;

    /* A dense unmasked access is one range (and one report). */
    unsigned rows = !mask && stride == 512 ? 1 : 8, lanes = 1024 / rows;

    for (unsigned s = 0; s < rows; s++) {
        int64_t off = (int64_t)addr + (int64_t)s * stride - VTPU_VMEM_BASE;
        const uint32_t *m = mask ? mask + s * 128 : NULL;
        for (unsigned l = 0; l < lanes;) {
            /* a run of active lanes [l, e) */
            unsigned e = l;
            if (m) {
                while (l < 128 && !m[l])
                    l++;
                e = l;
                while (e < 128 && m[e] && off + 4 * (int64_t)e >= 0 &&
                       off + 4 * (int64_t)e + 4 <= tc->vmem_size)
                    e++;
                if (e == l) {
                    l++;
                    continue;
                }
            } else {
                e = lanes;
            }
            vtpu_mem_ref r = {VTPU_SPACE_VMEM, tc->id,
                              (uint64_t)(off + 4 * (int64_t)l)};
            uint64_t len = 4u * (e - l);
            if (vc && race_range(ck, tc, false, &r, len, store, ep, vc))
                return -1;
            /* Loads of poison are not reported: kernels load whole tiles
             * of partly filled blocks; the poison is caught where it is
             * used (MXU, DMA out), see poison.c. */
            if (ck->poison && store)
                vtpu_poison_store(ck->poison, &r, vreg + s * 128 + l, e - l);
            else if (ck->poison)
                vtpu_poison_vload(ck->poison, tc, &r, e - l);
            l = e;
        }
    }
    return 0;
}

int vtpu_check_smem(vtpu_tc *tc, uint32_t addr, unsigned size, bool store)
{
    vtpu_check *ck = tc->check;
    uint32_t off = addr - VTPU_SMEM_BASE;

    if (off >= tc->smem_size || size > tc->smem_size - off)
        return 0;
    vtpu_mem_ref r = {VTPU_SPACE_SMEM, tc->id, off};
    if (ck->race) {
        const uint32_t *vc = ck->tcs[tc->id]->vc;
        if (race_range(ck, tc, false, &r, size, store,
                       EPOCH(tc->id, vc[tc->id]), vc))
            return -1;
    }
    if (ck->poison && store)
        vtpu_poison_write(ck->poison, &r, size);
    return 0;
}

/* The lane of semaphore (stc, sem); caller holds the lock. */
static unsigned lane_for(vtpu_check *ck, uint32_t stc, uint32_t sem)
{
    size_t i = (size_t)stc * ck->chip->cfg.num_sems + sem;
    if (!ck->lane_of[i]) {
        unsigned a;
        if (ck->nlanes < MAX_AGENTS - VTPU_MAX_TCS) {
            a = VTPU_MAX_TCS + ck->nlanes++;
            ck->nagents = a + 1;
        } else {
            a = VTPU_MAX_TCS + (unsigned)(i % (MAX_AGENTS - VTPU_MAX_TCS));
        }
        ck->lane_of[i] = (uint16_t)a;
    }
    return ck->lane_of[i];
}

/* Caller holds the lock. */
static void push_rec(vtpu_check *ck, uint32_t stc, uint32_t sem, uint32_t units,
                     const uint32_t *vc)
{
    unsigned n = ck->nagents;
    sig_rec *r = g_malloc(sizeof(sig_rec) + sizeof(uint32_t) * n);
    r->units = units;
    r->n = n;
    memcpy(r->vc, vc, sizeof(uint32_t) * n);
    g_queue_push_tail(&ck->queue[(size_t)stc * ck->chip->cfg.num_sems + sem],
                      r);
}

/* Visit every contiguous run of a DMA side: fn(ref, len) */
typedef struct dma_walk {
    const uint8_t *base;
    const int64_t *stride;
} dma_walk;

static int dma_side(vtpu_check *ck, vtpu_tc *tc, const dma_walk *w,
                    const uint64_t *count, unsigned ndims, bool write,
                    uint32_t ep, const uint32_t *vc)
{
    uint64_t c1 = ndims > 1 ? count[1] : 1, c2 = ndims > 2 ? count[2] : 1;
    uint64_t c3 = ndims > 3 ? count[3] : 1;
    vtpu_mem_ref r0;

    if (!vtpu_check_resolve(ck->chip, w->base, &r0))
        return 0;
    for (uint64_t i3 = 0; i3 < c3; i3++)
        for (uint64_t i2 = 0; i2 < c2; i2++)
            for (uint64_t i1 = 0; i1 < c1; i1++) {
                int64_t o = (int64_t)i3 * (ndims > 3 ? w->stride[3] : 0) +
                            (int64_t)i2 * (ndims > 2 ? w->stride[2] : 0) +
                            (int64_t)i1 * (ndims > 1 ? w->stride[1] : 0);
                vtpu_mem_ref r = r0;
                r.off = (uint64_t)((int64_t)r0.off + o);
                if (vc && race_range(ck, tc, true, &r, count[0], write, ep, vc))
                    return -1;
                if (ck->poison) {
                    if (write)
                        vtpu_poison_write(ck->poison, &r, count[0]);
                    else if (vtpu_poison_read(ck->poison, tc, &r, count[0],
                                              "DMA issued by"))
                        return -1;
                }
            }
    return 0;
}

int vtpu_check_dma(vtpu_tc *tc, const vtpu_dma_plan *p)
{
    const uint64_t *count = p->count;
    unsigned ndims = p->ndims;
    uint32_t sem_tc = p->sem_tc, sem = p->sem;
    vtpu_check *ck = tc->check;
    uint32_t *vc = NULL, ep = 0;
    int rc = 0;

    if (ck->race) {
        tc_clock *c = ck->tcs[tc->id];
        vc = c->dvc;
        vtpu_mutex_lock(&ck->lock);
        unsigned a = lane_for(ck, sem_tc, sem);
        /* The TC's clock has no entries past nagents, nor has dvc. */
        memcpy(vc, c->vc, sizeof(uint32_t) * ck->nagents);
        uint32_t k = ck->clock[a] < CLOCK_MASK ? ck->clock[a] + 1 : CLOCK_MASK;
        ck->clock[a] = k;
        if (vc[a] < k)
            vc[a] = k;
        ep = EPOCH(a, k);
        if (!ck->lanes[a])
            ck->lanes[a] = g_new0(lane_dma, RING);
        lane_dma *l = &ck->lanes[a][k % RING];
        l->clock = k;
        l->issuer = (uint8_t)tc->id;
        grid_get(tc, &l->grid);
        push_rec(ck, sem_tc, sem, p->bytes, vc);
        vtpu_mutex_unlock(&ck->lock);
    }
    if (ndims) {
        dma_walk s = {p->src, p->src_stride}, d = {p->dst, p->dst_stride};
        rc = dma_side(ck, tc, &s, count, ndims, false, ep, vc);
        if (!rc)
            rc = dma_side(ck, tc, &d, count, ndims, true, ep, vc);
    }
    if (ck->race)
        tick(ck, tc);
    return rc;
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

void vtpu_check_signal(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                       uint32_t n)
{
    vtpu_check *ck = tc->check;

    if (!ck->race || target_tc >= tc->ntcs || sem >= ck->chip->cfg.num_sems)
        return;
    vtpu_mutex_lock(&ck->lock);
    push_rec(ck, target_tc, sem, n, ck->tcs[tc->id]->vc);
    vtpu_mutex_unlock(&ck->lock);
    tick(ck, tc);
}

void vtpu_check_wait(vtpu_tc *tc, uint32_t sem, uint32_t n)
{
    vtpu_check *ck = tc->check;

    /* Without race checks (poison only) ck->tcs[] is all NULL. */
    if (!ck->race || sem >= ck->chip->cfg.num_sems)
        return;
    uint32_t *vc = ck->tcs[tc->id]->vc;
    vtpu_mutex_lock(&ck->lock);
    GQueue *q = &ck->queue[(size_t)tc->id * ck->chip->cfg.num_sems + sem];
    sig_rec *r;
    while ((r = g_queue_peek_head(q)) && (n > 0 || r->units == 0)) {
        uint32_t take = r->units < n ? r->units : n;
        join(vc, r->vc, r->n);
        r->units -= take;
        n -= take;
        if (!r->units)
            g_free(g_queue_pop_head(q));
    }
    vtpu_mutex_unlock(&ck->lock);
}

/*
 * Barrier generations g use accumulator g % 3: the first TC to arrive at
 * generation g clears it; nobody still reads it then, since every TC has
 * left generation g - 1 (and so g - 3) before anyone arrives at g.
 */
void vtpu_check_barrier_arrive(vtpu_tc *tc)
{
    vtpu_check *ck = tc->check;
    tc_clock *c;

    if (!ck->race)
        return;
    c = ck->tcs[tc->id];
    unsigned g = c->bar_gen % 3;
    vtpu_mutex_lock(&ck->lock);
    if (ck->bar_count[g] == 0)
        memset(ck->bar_vc[g], 0, sizeof(ck->bar_vc[g]));
    join(ck->bar_vc[g], c->vc, ck->nagents);
    if (++ck->bar_count[g] == tc->ntcs)
        ck->bar_count[g] = 0;
    vtpu_mutex_unlock(&ck->lock);
}

void vtpu_check_barrier_leave(vtpu_tc *tc)
{
    vtpu_check *ck = tc->check;
    tc_clock *c;

    if (!ck->race)
        return;
    c = ck->tcs[tc->id];
    unsigned g = c->bar_gen++ % 3;
    vtpu_mutex_lock(&ck->lock);
    join(c->vc, ck->bar_vc[g], ck->nagents);
    vtpu_mutex_unlock(&ck->lock);
    tick(ck, tc);
}

int vtpu_check_mxu_input(vtpu_tc *tc, unsigned v)
{
    vtpu_check *ck = tc->check;

    return ck->poison ? vtpu_poison_mxu(ck->poison, tc, v, tc->vpu->v[v].u) : 0;
}

void vtpu_check_host_write(vtpu_chip *chip, uint64_t off, uint64_t len)
{
    vtpu_check *ck = chip->check;

    if (ck && ck->poison) {
        vtpu_mem_ref r = {VTPU_SPACE_HBM, 0, off};
        vtpu_poison_write(ck->poison, &r, len);
    }
}

/* ------------------------------------------------------------------ */
/* Shared helpers                                                       */
/* ------------------------------------------------------------------ */

bool vtpu_check_resolve(vtpu_chip *chip, const uint8_t *p, vtpu_mem_ref *r)
{
    if (p >= chip->hbm && p < chip->hbm + chip->cfg.hbm_size) {
        *r = (vtpu_mem_ref){VTPU_SPACE_HBM, 0, (uint64_t)(p - chip->hbm)};
        return true;
    }
    for (unsigned t = 0; t < chip->cfg.num_tcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        if (p >= tc->vmem && p < tc->vmem + tc->vmem_size) {
            *r = (vtpu_mem_ref){VTPU_SPACE_VMEM, t, (uint64_t)(p - tc->vmem)};
            return true;
        }
        if (p >= tc->smem && p < tc->smem + tc->smem_size) {
            *r = (vtpu_mem_ref){VTPU_SPACE_SMEM, t, (uint64_t)(p - tc->smem)};
            return true;
        }
    }
    return false;
}

uint64_t vtpu_check_addr(const vtpu_mem_ref *r)
{
    switch (r->space) {
    case VTPU_SPACE_VMEM:
        return VTPU_VMEM_BASE + r->off;
    case VTPU_SPACE_SMEM:
        return VTPU_SMEM_BASE + r->off;
    default:
        return r->off;
    }
}

/* The grid point the TC runtime publishes in its mailbox; rank -1 if
 * none (no runtime, or not in its grid loop). */
static void grid_get(vtpu_tc *tc, grid_pt *g)
{
    vtpu_mailbox_view v;

    g->rank = -1;
    if (!vtpu_mailbox_read(tc, &v) || v.mb.phase != VTPU_MB_GRID ||
        !v.has_point)
        return;
    _Static_assert(sizeof(g->pt) == sizeof(v.point), "grid point size");
    memcpy(g->pt, v.point, sizeof(g->pt));
    g->rank = (int8_t)v.rank;
}

static void grid_fmt(const grid_pt *g, char *buf, size_t len)
{
    buf[0] = 0;
    if (g->rank < 0)
        return;
    size_t pos = (size_t)snprintf(buf, len, "grid (");
    for (int i = 0; i < g->rank && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%d", i ? "," : "",
                                g->pt[i]);
    if (pos < len)
        fmt(buf + pos, len - pos, ")");
}

void vtpu_check_grid(vtpu_tc *tc, char *buf, size_t len)
{
    grid_pt g;
    grid_get(tc, &g);
    grid_fmt(&g, buf, len);
}

int vtpu_check_report(vtpu_tc *tc, vtpu_error_kind kind, const vtpu_mem_ref *at,
                      uint64_t len, const char *detail, const char *full)
{
    vtpu_chip_output(tc->chip, tc->id, 2, full, strlen(full));
    return vtpu_tc_fault(tc, kind, at->space, vtpu_check_addr(at), len, "%s",
                         detail);
}
