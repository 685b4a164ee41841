/*
 * fabric.c - chips joined by ICI links (vtpu-slice.h, docs/multichip.md):
 * attaching chips, remote DMA and signals between them (locally or
 * through a transport), the launch rendezvous of collective runs and the
 * link counters.
 *
 * Every chip attached to a fabric uses the fabric's lock for its
 * semaphores (sync.c), so one lock covers the slice: a remote signal
 * wakes a waiter on another chip exactly as a local one does, and the
 * deadlock test sees a consistent snapshot of every chip.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "internal.h"

struct vtpu_fabric {
    vtpu_topology topo;
    unsigned nchips;
    vtpu_chip **chips; /* [nchips], NULL = not local */
    unsigned nlocal;
    vtpu_mutex lock;  /* the slice's sync lock (sync.c) and ours */
    vtpu_cond launch; /* collective launch rendezvous */
    vtpu_cond unused; /* a detached chip's last user is done */
    uint64_t attaches; /* attachments so far: each one's generation */
    unsigned arrived; /* local chips waiting at the rendezvous */
    uint64_t gen;     /* rendezvous generation */
    uint64_t failed;  /* gen + 1 of the last launch that failed */
    bool gen_failed;  /* a chip of the current launch could not start */
    vtpu_fabric_transport ops;
    void *opaque;
    bool has_ops;
    vtpu_fabric_params params;
    uint64_t *link_bytes;   /* [nchips * VTPU_LINKS_PER_CHIP], atomic */
    atomic_int first_fault; /* chip of the first fault, -1 */
    vtpu_race_dom *race;    /* the chips' race detection (race.c), lazily */
};

vtpu_fabric *vtpu_fabric_new(const vtpu_topology *t, char *err, size_t errlen)
{
    if (!t || t->ndims < 1 || t->ndims > 3) {
        snprintf(err, errlen, "fabric: topology must have 1..3 axes");
        return NULL;
    }
    for (unsigned i = 0; i < 3; i++) {
        if (t->dims[i] < 1 || t->dims[i] > VTPU_TOPO_MAX_DIM ||
            (i >= t->ndims && t->dims[i] != 1)) {
            snprintf(err, errlen, "fabric: axis %u has %u chips", i,
                     t->dims[i]);
            return NULL;
        }
    }
    unsigned n = vtpu_topology_size(t);
    if (n > VTPU_SLICE_MAX_CHIPS) {
        snprintf(err, errlen, "fabric: %u chips, at most %u", n,
                 VTPU_SLICE_MAX_CHIPS);
        return NULL;
    }
    vtpu_fabric *f = g_new0(vtpu_fabric, 1);
    f->topo = *t;
    for (unsigned i = 0; i < 3; i++)
        if (f->topo.dims[i] <= 2)
            f->topo.wrap[i] = false;
    f->nchips = n;
    f->chips = g_new0(vtpu_chip *, n);
    f->link_bytes = g_new0(uint64_t, (size_t)n * VTPU_LINKS_PER_CHIP);
    f->params.hop_latency_ns = 1000;
    f->params.link_gbps = 45.0;
    vtpu_mutex_init(&f->lock);
    vtpu_cond_init(&f->launch);
    vtpu_cond_init(&f->unused);
    atomic_init(&f->first_fault, -1);
    return f;
}

void vtpu_fabric_free(vtpu_fabric *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < f->nchips; i++)
        vtpu_fabric_detach(f, i);
    vtpu_cond_clear(&f->launch);
    vtpu_cond_clear(&f->unused);
    vtpu_mutex_clear(&f->lock);
    vtpu_race_dom_free(f->race);
    g_free(f->chips);
    g_free(f->link_bytes);
    g_free(f);
}

const vtpu_topology *vtpu_fabric_topology(const vtpu_fabric *f)
{
    return &f->topo;
}

/* Under the lock, which the rendezvous holds when it reads the timeout. */
void vtpu_fabric_set_launch_timeout(vtpu_fabric *f, uint32_t ms)
{
    vtpu_mutex_lock(&f->lock);
    f->params.launch_timeout_ms = ms;
    vtpu_mutex_unlock(&f->lock);
}

void vtpu_fabric_set_params(vtpu_fabric *f, const vtpu_fabric_params *p)
{
    vtpu_mutex_lock(&f->lock);
    f->params = *p;
    if (!(f->params.link_gbps > 0))
        f->params.link_gbps = 45.0;
    vtpu_mutex_unlock(&f->lock);
}

void vtpu_fabric_get_params(const vtpu_fabric *f, vtpu_fabric_params *p)
{
    vtpu_mutex *lk = (vtpu_mutex *)&f->lock;

    vtpu_mutex_lock(lk);
    *p = f->params;
    vtpu_mutex_unlock(lk);
}

/* The first config key whose value differs, or NULL (fields compared
 * one by one: padding bytes of a caller's struct are not config). */
static const char *cfg_differs(const vtpu_config *a, const vtpu_config *b)
{
#define VTPU_CFG_CMP_(id, key, field, type, help)                               \
    if (a->field != b->field)                                                  \
        return key;
    VTPU_CONFIG_KEYS(VTPU_CFG_CMP_)
#undef VTPU_CFG_CMP_
    return NULL;
}

int vtpu_fabric_attach(vtpu_fabric *f, unsigned idx, vtpu_chip *chip, char *err,
                       size_t errlen)
{
    if (idx >= f->nchips) {
        snprintf(err, errlen, "fabric: chip %u, the slice has %u chips", idx,
                 f->nchips);
        return -1;
    }
    if (f->chips[idx]) {
        snprintf(err, errlen, "fabric: chip %u is already attached", idx);
        return -1;
    }
    if (chip->fabric) {
        snprintf(err, errlen,
                 "fabric: the chip is already chip %u of a "
                 "fabric",
                 chip->chip_id);
        return -1;
    }
    for (unsigned i = 0; i < f->nchips; i++) {
        if (!f->chips[i])
            continue;
        const char *key = cfg_differs(&f->chips[i]->cfg, &chip->cfg);
        if (key) {
            snprintf(err, errlen,
                     "fabric: chip %u's config differs from chip %u's in "
                     "'%s' (every chip of a slice must be configured alike)",
                     idx, i, key);
            return -1;
        }
        break; /* the first attached chip is the reference */
    }
    if (chip->cfg.race && f->nchips > VTPU_RACE_MAX_CHIPS) {
        snprintf(err, errlen,
                 "fabric: race detection supports slices of at most %u "
                 "chips, this one has %u (turn race off)",
                 VTPU_RACE_MAX_CHIPS, f->nchips);
        return -1;
    }
    uint32_t c[3];
    vtpu_topology_coords(&f->topo, idx, c);
    chip->fabric = f;
    chip->chip_id = idx;
    chip->nchips = f->nchips;
    chip->mesh = vtpu_topology_pack(f->topo.dims);
    chip->coord = vtpu_topology_pack(c);
    vtpu_sync_set_lock(chip, &f->lock);
    vtpu_check_attach(chip); /* one agent space for the slice */
    /* Published last: other chips reach it only once it is ready. */
    vtpu_mutex_lock(&f->lock);
    chip->fabric_users = 0;
    chip->fabric_gen = ++f->attaches;
    f->chips[idx] = chip;
    f->nlocal++;
    vtpu_mutex_unlock(&f->lock);
    return 0;
}

/*
 * Remote operations hold their destination chip from lookup to the end
 * of the copy and signal, so that detaching it (QEMU: the device
 * unplugged while another chip's kernel writes into it) waits for them
 * and later ones find no chip: a chip's memory is freed only after its
 * detach returns.  Holds are short (one copy and one signal; deferred
 * DMAs let go in between and look the chip up again when they complete).
 */
vtpu_chip *vtpu_fabric_get(vtpu_fabric *f, unsigned idx, uint64_t *gen)
{
    vtpu_chip *c = NULL;

    vtpu_mutex_lock(&f->lock);
    if (idx < f->nchips && (c = f->chips[idx]) != NULL) {
        c->fabric_users++;
        if (gen)
            *gen = c->fabric_gen;
    }
    vtpu_mutex_unlock(&f->lock);
    return c;
}

void vtpu_fabric_put(vtpu_fabric *f, vtpu_chip *c)
{
    vtpu_mutex_lock(&f->lock);
    if (--c->fabric_users == 0)
        vtpu_cond_broadcast(&f->unused);
    vtpu_mutex_unlock(&f->lock);
}

void vtpu_fabric_detach(vtpu_fabric *f, unsigned idx)
{
    if (idx >= f->nchips || !f->chips[idx])
        return;
    vtpu_chip *chip = f->chips[idx];
    vtpu_mutex_lock(&f->lock);
    f->chips[idx] = NULL;
    f->nlocal--;
    /* Remote operations already copying into it or signalling it
     * finish first (vtpu_fabric_get); none starts now. */
    while (chip->fabric_users)
        vtpu_cond_wait(&f->unused, &f->lock);
    if (f->arrived && f->arrived >= f->nlocal) {
        /* Chips waited for this one, which goes away (a device unplugged
         * mid-launch): their launch fails rather than waits for ever. */
        f->arrived = 0;
        f->gen++;
        f->failed = f->gen;
        f->gen_failed = false;
        vtpu_cond_broadcast(&f->launch);
    }
    vtpu_mutex_unlock(&f->lock);
    vtpu_check_detach(chip);
    vtpu_sync_set_lock(chip, NULL);
    chip->fabric = NULL;
    chip->chip_id = 0;
    chip->nchips = 1;
    chip->mesh = 1u | 1u << 10 | 1u << 20;
    chip->coord = 0;
}

vtpu_race_dom *vtpu_fabric_race_dom(vtpu_fabric *f)
{
    vtpu_mutex_lock(&f->lock);
    if (!f->race)
        f->race = vtpu_race_dom_new(f->nchips);
    vtpu_mutex_unlock(&f->lock);
    return f->race;
}

unsigned vtpu_fabric_race_agents(const vtpu_fabric *f)
{
    return vtpu_race_dom_agents(f->nchips);
}

bool vtpu_fabric_is_local(const vtpu_fabric *f, unsigned idx)
{
    return idx < f->nchips && f->chips[idx];
}

vtpu_chip *vtpu_fabric_chip(const vtpu_fabric *f, unsigned idx)
{
    return idx < f->nchips ? f->chips[idx] : NULL;
}

unsigned vtpu_fabric_nchips(const vtpu_fabric *f)
{
    return f->nchips;
}

bool vtpu_fabric_has_remote(const vtpu_fabric *f)
{
    return f->nlocal != f->nchips;
}

void vtpu_fabric_set_transport(vtpu_fabric *f, const vtpu_fabric_transport *ops,
                               void *opaque)
{
    f->has_ops = ops != NULL;
    if (ops)
        f->ops = *ops;
    else
        memset(&f->ops, 0, sizeof(f->ops));
    f->opaque = opaque;
}

uint64_t vtpu_fabric_link_bytes(const vtpu_fabric *f, unsigned link)
{
    if (link >= f->nchips * VTPU_LINKS_PER_CHIP)
        return 0;
    return __atomic_load_n(&f->link_bytes[link], __ATOMIC_RELAXED);
}

void vtpu_fabric_clear_counters(vtpu_fabric *f)
{
    for (size_t i = 0; i < (size_t)f->nchips * VTPU_LINKS_PER_CHIP; i++)
        __atomic_store_n(&f->link_bytes[i], 0, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Remote DMA: validation and delivery                                  */
/* ------------------------------------------------------------------ */

/*
 * Resolve and check the destination of d on chip dst: every byte inside
 * the memory, VMEM alignment, HBM grants.  Sets *mem, *dirty, *off (of
 * the first byte), *lo and *hi (bytes touched).  0 or -1 + err.
 */
static int resolve_dst(vtpu_chip *dst, unsigned src_tc,
                       const vtpu_remote_dma *d, uint8_t **mem, uint8_t **dirty,
                       int64_t *off, uint64_t *lo, uint64_t *hi, char *err,
                       size_t errlen)
{
    uint64_t size, window;
    unsigned tc = d->dst_tc;

    if (d->ndims < 1 || d->ndims > 4) {
        snprintf(err, errlen, "ndims: %u, must be 1..4", d->ndims);
        return -1;
    }
    switch (d->dst_space) {
    case VTPU_SPACE_HBM:
        if (tc != 0) {
            snprintf(err, errlen, "dst_tc: %u, must be 0 for HBM", tc);
            return -1;
        }
        *mem = dst->hbm;
        *dirty = NULL;
        size = dst->cfg.hbm_size;
        window = 0;
        break;
    case VTPU_SPACE_VMEM:
    case VTPU_SPACE_SMEM:
        if (tc == 0xff)
            tc = src_tc;
        if (tc >= dst->cfg.num_tcs) {
            snprintf(err, errlen, "dst_tc: TC %u, the chip has %u TCs", tc,
                     dst->cfg.num_tcs);
            return -1;
        }
        if (d->dst_space == VTPU_SPACE_SMEM) {
            *mem = dst->tcs[tc]->smem;
            *dirty = dst->tcs[tc]->smem_dirty;
            size = dst->tcs[tc]->smem_size;
            window = VTPU_SMEM_BASE;
        } else if (d->dst >= VTPU_VMEM_SHARED_BASE) {
            *mem = dst->vmem_shared;
            *dirty = dst->vmem_shared_dirty;
            size = dst->cfg.vmem_shared_size;
            window = VTPU_VMEM_SHARED_BASE;
        } else {
            *mem = dst->tcs[tc]->vmem;
            *dirty = dst->tcs[tc]->vmem_dirty;
            size = dst->tcs[tc]->vmem_size;
            window = VTPU_VMEM_BASE;
        }
        break;
    default:
        snprintf(err, errlen,
                 "dst_space: %u is not HBM (1), VMEM (2) or "
                 "SMEM (3)",
                 d->dst_space);
        return -1;
    }
    uint64_t count[4];
    uint64_t total = 1;
    for (unsigned i = 0; i < 4; i++) {
        count[i] = i < d->ndims ? d->shape[i] : 1;
        total *= count[i]; /* each < 2^32, checked below */
        if (total > UINT32_MAX || !count[i]) {
            total = count[i] ? UINT64_MAX : 0;
            break;
        }
    }
    if (total != d->bytes) {
        snprintf(err, errlen, "shape: does not match its %u bytes", d->bytes);
        return -1;
    }
    if (!total) { /* nothing to check or move; still signals (by 0) */
        *off = 0;
        *lo = *hi = 0;
        return 0;
    }
    if (d->dst_space == VTPU_SPACE_VMEM) {
        bool bad = d->dst % 4 || count[0] % 4;
        for (unsigned i = 1; i < d->ndims; i++)
            bad |= d->dst_stride[i - 1] % 4 != 0;
        if (bad) {
            snprintf(err, errlen,
                     "dst: VMEM address 0x%llx, runs and strides "
                     "must be multiples of 4",
                     (unsigned long long)d->dst);
            return -1;
        }
    }
    if (d->dst < window || d->dst - window > size) {
        snprintf(err, errlen,
                 "dst: address 0x%llx is outside %s (0x%llx bytes at 0x%llx)",
                 (unsigned long long)d->dst,
                 vtpu_space_name((vtpu_space)d->dst_space),
                 (unsigned long long)size, (unsigned long long)window);
        return -1;
    }
    int64_t o = (int64_t)(d->dst - window), neg = 0, pos = 0, l, h;
    for (unsigned i = 1; i < d->ndims; i++) {
        int64_t ext;
        if (__builtin_mul_overflow(d->dst_stride[i - 1],
                                   (int64_t)(count[i] - 1), &ext) ||
            __builtin_add_overflow(ext < 0 ? neg : pos, ext,
                                   ext < 0 ? &neg : &pos)) {
            snprintf(err, errlen, "dst_stride[%u]: overflows", i - 1);
            return -1;
        }
    }
    if (__builtin_add_overflow(o, neg, &l) ||
        __builtin_add_overflow(o, pos, &h) ||
        __builtin_add_overflow(h, (int64_t)count[0], &h) || l < 0 ||
        (uint64_t)h > size) {
        snprintf(err, errlen,
                 "dst: %s 0x%llx + strides reaches outside its 0x%llx bytes",
                 vtpu_space_name((vtpu_space)d->dst_space),
                 (unsigned long long)d->dst, (unsigned long long)size);
        return -1;
    }
    if (d->dst_space == VTPU_SPACE_HBM &&
        !vtpu_hbm_granted(dst, (uint64_t)l, (uint64_t)h)) {
        snprintf(err, errlen,
                 "dst: HBM 0x%llx..0x%llx is not in the HBM granted to the "
                 "destination chip's launch",
                 (unsigned long long)l, (unsigned long long)h - 1);
        return -1;
    }
    *off = o;
    *lo = (uint64_t)l;
    *hi = (uint64_t)h;
    return 0;
}

/* The receive semaphore of d on chip dst (0xff: src_tc); 0 or -1 + err. */
static int resolve_sem(vtpu_chip *dst, unsigned src_tc,
                       const vtpu_remote_dma *d, unsigned *sem_tc, char *err,
                       size_t errlen)
{
    *sem_tc = d->sem_tc == 0xff ? src_tc : d->sem_tc;
    if (*sem_tc >= dst->cfg.num_tcs || d->sem >= dst->cfg.num_sems) {
        snprintf(err, errlen,
                 "receive semaphore %u of TC %u: the chip has %u "
                 "TCs of %u semaphores",
                 d->sem, *sem_tc, dst->cfg.num_tcs, dst->cfg.num_sems);
        return -1;
    }
    return 0;
}

/* Where d lands on chip dst, and whose semaphore it signals. */
typedef struct dst_where {
    uint8_t *mem, *dirty; /* the memory and its dirty map (NULL: none) */
    int64_t off;          /* of the first byte */
    uint64_t lo, hi;      /* bytes touched */
    unsigned sem_tc;      /* the receive semaphore's TC */
} dst_where;

/* Both checks every remote DMA goes through, whoever delivers it. */
static int resolve(vtpu_chip *dst, unsigned src_tc, const vtpu_remote_dma *d,
                   dst_where *w, char *err, size_t errlen)
{
    return resolve_dst(dst, src_tc, d, &w->mem, &w->dirty, &w->off, &w->lo,
                       &w->hi, err, errlen) ||
                   resolve_sem(dst, src_tc, d, &w->sem_tc, err, errlen)
               ? -1
               : 0;
}

int vtpu_fabric_dst_plan(vtpu_chip *dst, unsigned src_tc,
                         const vtpu_remote_dma *d, const uint8_t *src_lo,
                         const uint8_t *src_hi, vtpu_dma_plan *p, char *err,
                         size_t errlen)
{
    dst_where w;

    if (resolve(dst, src_tc, d, &w, err, errlen))
        return -1;
    p->dst = w.mem + w.off;
    /* source and destination in one memory (a chip's DMA to itself) */
    p->overlap = w.hi > w.lo && src_lo < w.mem + w.hi && w.mem + w.lo < src_hi;
    p->dst_stride[0] = 1;
    for (unsigned i = 1; i < 4; i++)
        p->dst_stride[i] = i < d->ndims ? d->dst_stride[i - 1] : 0;
    p->dst_dirty = w.hi > w.lo ? w.dirty : NULL;
    p->dst_lo = w.lo;
    p->dst_hi = w.hi;
    p->dst_space = d->dst_space;
    p->sem_tc = w.sem_tc;
    p->sem = d->sem;
    p->rchip = dst;
    return 0;
}

/* A message's race information (if any), checked like its header,
 * whether or not race detection is on here. */
static int check_race(vtpu_chip *dst, unsigned src_chip, bool dma,
                      const vtpu_race_clock *rc, char *err, size_t errlen)
{
    return rc ? vtpu_race_clock_check(dst->nchips, src_chip, dma, rc, err,
                                      errlen)
              : 0;
}

/*
 * Apply d, a message from another process, to local chip `dst`:
 * validate, scatter (unless `landed`: the transport has put the bytes
 * there itself, vtpu_fabric_dma_landing), signal.  Its writes are
 * defined for the poison check; for the race detector they are the
 * sender's DMA's when the message carries its clock (d->race), else
 * unrecorded, and the signal ordered after everything local (race.c).
 */
static int apply_dma(vtpu_chip *dst, int src_chip, unsigned src_tc,
                     const vtpu_remote_dma *d, bool landed, char *err,
                     size_t errlen)
{
    dst_where w;

    if (resolve(dst, src_tc, d, &w, err, errlen) ||
        check_race(dst, (unsigned)src_chip, true, d->race, err, errlen))
        return -1;
    /* a race with the destination's accesses: nothing written here */
    if (VTPU_UNLIKELY(dst->check) && d->race &&
        vtpu_check_delivered_dma(dst, (unsigned)src_chip, d, w.mem, w.off, err,
                                 errlen))
        return -1;
    if (w.dirty)
        vtpu_dirty_mark(w.dirty, w.lo, w.hi - w.lo);
    /* scatter in the source's order: dim 0 fastest */
    uint32_t run = d->shape[0];
    uint32_t c1 = d->ndims > 1 ? d->shape[1] : 1;
    uint32_t c2 = d->ndims > 2 ? d->shape[2] : 1;
    uint32_t c3 = d->ndims > 3 ? d->shape[3] : 1;
    if (!d->bytes)
        c3 = 0; /* a zero-byte DMA moves nothing, signals by 0 */
    const uint8_t *src = d->data;
    for (uint32_t i3 = 0; i3 < c3; i3++)
        for (uint32_t i2 = 0; i2 < c2; i2++)
            for (uint32_t i1 = 0; i1 < c1; i1++) {
                int64_t o =
                    w.off +
                    (int64_t)i1 * (d->ndims > 1 ? d->dst_stride[0] : 0) +
                    (int64_t)i2 * (d->ndims > 2 ? d->dst_stride[1] : 0) +
                    (int64_t)i3 * (d->ndims > 3 ? d->dst_stride[2] : 0);
                if (!landed)
                    memmove(w.mem + o, src, run);
                if (VTPU_UNLIKELY(dst->check))
                    vtpu_check_written(dst, w.mem + o, run);
                src += run;
            }
    if (VTPU_UNLIKELY(dst->check)) {
        if (d->race)
            vtpu_check_delivered_race(dst, w.sem_tc, d->sem, d->bytes, d->race);
        else
            vtpu_check_delivered(dst, w.sem_tc, d->sem, d->bytes);
    }
    /* counted on the TC whose receive semaphore it signals */
    if (dst->tcs[w.sem_tc])
        __atomic_fetch_add(&dst->tcs[w.sem_tc]->cnt.ici_bytes_recv, d->bytes,
                           __ATOMIC_RELAXED);
    return vtpu_sync_deliver(dst, w.sem_tc, d->sem, d->bytes, src_chip, src_tc,
                             d->src_pc, true, err, errlen);
}

/* The destination chip of a message from another process, held
 * (vtpu_fabric_get: it stays attached until vtpu_fabric_put); NULL + err
 * if the message's chips or TCs cannot be taken as they are. */
static vtpu_chip *msg_dst(vtpu_fabric *f, unsigned src_chip, unsigned dst_chip,
                          const vtpu_remote_dma *d, char *err, size_t errlen)
{
    if (src_chip >= f->nchips) {
        snprintf(err, errlen, "source chip %u, the slice has %u", src_chip,
                 f->nchips);
        return NULL;
    }
    /* 0xff for dst_tc/sem_tc means the issuing TC; a message from
     * elsewhere must name TCs explicitly (the sender resolves them) */
    if (d->dst_tc == 0xff || d->sem_tc == 0xff) {
        snprintf(err, errlen, "message names TC 0xff (unresolved)");
        return NULL;
    }
    vtpu_chip *dst = vtpu_fabric_get(f, dst_chip, NULL);
    if (!dst)
        snprintf(err, errlen, "chip %u is not attached here", dst_chip);
    return dst;
}

int vtpu_fabric_deliver_dma(vtpu_fabric *f, unsigned src_chip,
                            unsigned dst_chip, const vtpu_remote_dma *d,
                            char *err, size_t errlen)
{
    vtpu_chip *dst = msg_dst(f, src_chip, dst_chip, d, err, errlen);
    if (!dst)
        return -1;
    int rc = apply_dma(dst, (int)src_chip, 0, d, false, err, errlen);
    vtpu_fabric_put(f, dst);
    return rc;
}

/* True if d's destination runs follow each other without gaps (dim 0
 * fastest, as the data comes): one run of d->bytes. */
static bool dst_contiguous(const vtpu_remote_dma *d)
{
    uint64_t run = d->shape[0];

    for (unsigned i = 1; i < d->ndims; i++) {
        if (d->shape[i] > 1 && d->dst_stride[i - 1] != (int64_t)run)
            return false;
        run *= d->shape[i];
    }
    return true;
}

int vtpu_fabric_dma_landing(vtpu_fabric *f, unsigned src_chip,
                            unsigned dst_chip, const vtpu_remote_dma *d,
                            vtpu_dma_landing *l, char *err, size_t errlen)
{
    dst_where w;

    l->at = NULL;
    l->chip = NULL;
    vtpu_chip *dst = msg_dst(f, src_chip, dst_chip, d, err, errlen);
    if (!dst)
        return -1;
    if (resolve(dst, 0, d, &w, err, errlen) ||
        check_race(dst, src_chip, true, d->race, err, errlen)) {
        vtpu_fabric_put(f, dst);
        return -1;
    }
    if (!d->bytes || !dst_contiguous(d)) {
        vtpu_fabric_put(f, dst);
        return 0;
    }
    l->at = w.mem + w.off; /* the chip stays held until _landed */
    l->chip = dst;
    return 0;
}

int vtpu_fabric_dma_landed(vtpu_fabric *f, unsigned src_chip,
                           const vtpu_remote_dma *d, vtpu_dma_landing *l,
                           bool written, char *err, size_t errlen)
{
    int rc = 0;

    if (!l->chip)
        return 0;
    if (written)
        rc = apply_dma(l->chip, (int)src_chip, 0, d, true, err, errlen);
    vtpu_fabric_put(f, l->chip);
    l->at = NULL;
    l->chip = NULL;
    return rc;
}

int vtpu_fabric_deliver_signal(vtpu_fabric *f, unsigned src_chip,
                               unsigned src_tc, unsigned dst_chip,
                               unsigned dst_tc, uint32_t sem, uint32_t n,
                               char *err, size_t errlen)
{
    return vtpu_fabric_deliver_signal_race(f, src_chip, src_tc, dst_chip,
                                           dst_tc, sem, n, NULL, err, errlen);
}

int vtpu_fabric_deliver_signal_race(vtpu_fabric *f, unsigned src_chip,
                                    unsigned src_tc, unsigned dst_chip,
                                    unsigned dst_tc, uint32_t sem, uint32_t n,
                                    const vtpu_race_clock *race, char *err,
                                    size_t errlen)
{
    if (src_chip >= f->nchips || src_tc >= VTPU_MAX_TCS) {
        snprintf(err, errlen, "source chip %u TC %u is not in the slice",
                 src_chip, src_tc);
        return -1;
    }
    vtpu_chip *dst = vtpu_fabric_get(f, dst_chip, NULL);
    if (!dst) {
        snprintf(err, errlen, "chip %u is not attached here", dst_chip);
        return -1;
    }
    if (check_race(dst, src_chip, false, race, err, errlen)) {
        vtpu_fabric_put(f, dst);
        return -1;
    }
    if (VTPU_UNLIKELY(dst->check) && dst_tc < dst->cfg.num_tcs &&
        sem < dst->cfg.num_sems) {
        if (race)
            vtpu_check_delivered_race(dst, dst_tc, sem, n, race);
        else
            vtpu_check_delivered(dst, dst_tc, sem, n);
    }
    int rc = vtpu_sync_deliver(dst, dst_tc, sem, n, (int)src_chip, src_tc, 0,
                               false, err, errlen);
    vtpu_fabric_put(f, dst);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Sending (called from the issuing TC)                                 */
/* ------------------------------------------------------------------ */

void vtpu_fabric_count(vtpu_tc *tc, unsigned dst_chip, unsigned dst_tc,
                       uint32_t bytes)
{
    vtpu_fabric *f = tc->chip->fabric;
    unsigned links[3 * VTPU_TOPO_MAX_DIM];
    (void)dst_tc;

    tc->cnt.ici_bytes_sent += bytes;
    if (!f)
        return;
    unsigned hops = vtpu_topology_route(&f->topo, tc->chip->chip_id, dst_chip,
                                        links, 3 * VTPU_TOPO_MAX_DIM);
    for (unsigned i = 0; i < hops; i++)
        __atomic_fetch_add(&f->link_bytes[links[i]], bytes, __ATOMIC_RELAXED);
    tc->cnt.ici_ns += (uint64_t)hops * f->params.hop_latency_ns +
                      (uint64_t)llround((double)bytes / f->params.link_gbps);
}

int vtpu_fabric_send_dma(vtpu_tc *tc, unsigned dst_chip,
                         const vtpu_remote_dma *d, char *err, size_t errlen)
{
    vtpu_fabric *f = tc->chip->fabric;

    if (!f || !f->has_ops || !f->ops.remote_dma) {
        snprintf(err, errlen,
                 "chip %u is not attached and the fabric has no "
                 "transport",
                 dst_chip);
        return -1;
    }
    /* the receiver cannot know our TC: resolve 0xff here */
    vtpu_remote_dma m = *d;
    if (m.dst_tc == 0xff)
        m.dst_tc = (uint8_t)tc->id;
    if (m.sem_tc == 0xff)
        m.sem_tc = (uint8_t)tc->id;
    return f->ops.remote_dma(f->opaque, tc->chip->chip_id, tc->id, dst_chip, &m,
                             err, errlen);
}

int vtpu_fabric_send_signal(vtpu_tc *tc, unsigned dst_chip, unsigned dst_tc,
                            uint32_t sem, uint32_t n,
                            const vtpu_race_clock *race, char *err,
                            size_t errlen)
{
    vtpu_fabric *f = tc->chip->fabric;
    vtpu_chip *dst = f ? vtpu_fabric_get(f, dst_chip, NULL) : tc->chip;

    if (dst) {
        int rc = vtpu_sync_deliver(dst, dst_tc, sem, n,
                                   f ? (int)tc->chip->chip_id : -1, tc->id,
                                   tc->pc, false, err, errlen);
        if (f)
            vtpu_fabric_put(f, dst);
        return rc;
    }
    if (f->has_ops && f->ops.remote_signal_race)
        return f->ops.remote_signal_race(f->opaque, tc->chip->chip_id, tc->id,
                                         dst_chip, dst_tc, sem, n, race, err,
                                         errlen);
    if (!f->has_ops || !f->ops.remote_signal) {
        snprintf(err, errlen,
                 "chip %u is not attached and the fabric has no "
                 "transport",
                 dst_chip);
        return -1;
    }
    return f->ops.remote_signal(f->opaque, tc->chip->chip_id, tc->id, dst_chip,
                                dst_tc, sem, n, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Collective runs                                                      */
/* ------------------------------------------------------------------ */

void vtpu_fabric_wake_launch(vtpu_fabric *f)
{
    vtpu_cond_broadcast(&f->launch);
}

int vtpu_fabric_rendezvous(vtpu_fabric *f, vtpu_chip *chip, bool failed)
{
    int rc = 0;

    vtpu_mutex_lock(&f->lock);
    uint64_t gen = f->gen;
    if (failed)
        f->gen_failed = true;
    if (++f->arrived >= f->nlocal) {
        if (f->has_ops && f->ops.launch_barrier) {
            /* others wait on gen; nobody else can complete this one */
            vtpu_mutex_unlock(&f->lock);
            rc = f->ops.launch_barrier(f->opaque);
            vtpu_mutex_lock(&f->lock);
        }
        f->arrived = 0;
        f->gen++;
        if (rc || f->gen_failed)
            f->failed = f->gen;
        f->gen_failed = false;
        rc = f->failed == f->gen ? -1 : 0;
        vtpu_cond_broadcast(&f->launch);
        vtpu_mutex_unlock(&f->lock);
        return rc;
    }
    uint32_t tmo = f->params.launch_timeout_ms;
    int64_t end = tmo ? g_get_monotonic_time() + (int64_t)tmo * 1000 : 0;
    while (f->gen == gen) {
        if (atomic_load(&chip->stop) & VTPU_STOP_ENDING) {
            f->arrived--;
            vtpu_mutex_unlock(&f->lock);
            return -1;
        }
        if (!tmo) {
            vtpu_cond_wait(&f->launch, &f->lock);
        } else if (!vtpu_cond_wait_until(&f->launch, &f->lock, end) &&
                   f->gen == gen) {
            /* The others may still come; they wait their own time. */
            f->arrived--;
            vtpu_mutex_unlock(&f->lock);
            return VTPU_RENDEZVOUS_TIMEOUT;
        }
    }
    rc = f->failed == gen + 1 ? -1 : 0;
    vtpu_mutex_unlock(&f->lock);
    return rc;
}

void vtpu_fabric_reset_fault(vtpu_fabric *f)
{
    atomic_store(&f->first_fault, -1);
}

int vtpu_fabric_first_fault(vtpu_fabric *f)
{
    return atomic_load(&f->first_fault);
}

void vtpu_fabric_fault(vtpu_fabric *f, vtpu_chip *chip)
{
    int none = -1;

    atomic_compare_exchange_strong(&f->first_fault, &none, (int)chip->chip_id);
    for (unsigned i = 0; i < f->nchips; i++) {
        vtpu_chip *c = vtpu_fabric_get(f, i, NULL);
        if (c && c != chip)
            vtpu_chip_stop_run(c, VTPU_STOP_END);
        if (c)
            vtpu_fabric_put(f, c);
    }
}
