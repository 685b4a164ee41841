/*
 * host_platform.c - the vtpu platform on the host (see host_platform.h).
 *
 * The DMA arena hands out memory first-fit from a list of allocations
 * kept sorted by offset; drivers allocate a few rings and buffers, so a
 * linear scan is plenty.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <glib.h>

#include "host_platform.h"
#include "vtpu-thread.h"

#define DEFAULT_ARENA (256ull << 20)

typedef struct arena_block {
    uint64_t off, size;
} arena_block;

struct vtpu_host {
    vtpu_chip *chip;
    vtpu_dev *dev;
    vtpu_platform plat;

    uint8_t *arena;
    uint64_t arena_size;
    void *hbm; /* HBM when the platform maps it (hbm_hugepages) */
    uint64_t hbm_size;
    vtpu_mutex alloc_lock;
    GArray *blocks; /* arena_block, sorted by off */

    vtpu_mutex irq_lock;
    vtpu_cond irq_cond;
    int irq_level;
    unsigned irq_edges;
    unsigned guest_errors;
};

/* ---- device side: the embedding callbacks ---- */

static uint8_t *arena_at(vtpu_host *h, uint64_t bus, uint64_t len)
{
    if (bus < VTPU_HOST_BUS_BASE)
        return NULL;
    uint64_t off = bus - VTPU_HOST_BUS_BASE;
    if (off > h->arena_size || len > h->arena_size - off)
        return NULL;
    return h->arena + off;
}

static int host_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    uint8_t *p = arena_at(opaque, addr, len);
    if (!p)
        return -1;
    memcpy(buf, p, len);
    return 0;
}

static int host_dma_write(void *opaque, uint64_t addr, const void *buf,
                          size_t len)
{
    uint8_t *p = arena_at(opaque, addr, len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    return 0;
}

static void host_set_irq(void *opaque, int level)
{
    vtpu_host *h = opaque;

    vtpu_mutex_lock(&h->irq_lock);
    if (level) /* set_irq(1) on a high line is a new rise too (dev.h) */
        h->irq_edges++;
    h->irq_level = level;
    vtpu_cond_broadcast(&h->irq_cond);
    vtpu_mutex_unlock(&h->irq_lock);
}

static void host_dev_log(void *opaque, vtpu_log_class cls, const char *msg)
{
    vtpu_host *h = opaque;

    if (cls == VTPU_LOG_GUEST_ERROR)
        __atomic_fetch_add(&h->guest_errors, 1, __ATOMIC_RELAXED);
    g_log("vtpu", G_LOG_LEVEL_DEBUG, "%s%s",
          cls == VTPU_LOG_GUEST_ERROR ? "guest error: " : "", msg);
}

/* ---- driver side: the platform hooks ---- */

static uint32_t plat_read32(void *ctx, unsigned bar, uint32_t off)
{
    vtpu_host *h = ctx;

    if (bar == VTPU_BAR_REGS)
        return (uint32_t)vtpu_dev_reg_read(h->dev, off, 4);
    if (bar == VTPU_BAR_APERTURE)
        return (uint32_t)vtpu_dev_aperture_read(h->dev, off, 4);
    return UINT32_MAX; /* nothing decodes there: a master abort */
}

static void plat_write32(void *ctx, unsigned bar, uint32_t off, uint32_t v)
{
    vtpu_host *h = ctx;

    if (bar == VTPU_BAR_REGS)
        vtpu_dev_reg_write(h->dev, off, v, 4);
    else if (bar == VTPU_BAR_APERTURE)
        vtpu_dev_aperture_write(h->dev, off, v, 4);
}

static void *plat_dma_alloc(void *ctx, size_t size, size_t align, uint64_t *bus)
{
    vtpu_host *h = ctx;
    void *p = NULL;

    if (!size || !align || (align & (align - 1)))
        return NULL;
    /* Bus and CPU alignment agree: the arena is page-aligned and the bus
     * base is a multiple of 4 GiB. */
    vtpu_mutex_lock(&h->alloc_lock);
    uint64_t start = 0;
    guint i;
    for (i = 0; i <= h->blocks->len; i++) {
        uint64_t at = (start + align - 1) & ~(uint64_t)(align - 1);
        uint64_t end = i < h->blocks->len
                           ? g_array_index(h->blocks, arena_block, i).off
                           : h->arena_size;
        if (at <= end && size <= end - at) {
            arena_block b = {at, size};
            g_array_insert_val(h->blocks, i, b);
            p = h->arena + at;
            *bus = VTPU_HOST_BUS_BASE + at;
            break;
        }
        if (i < h->blocks->len) {
            arena_block *b = &g_array_index(h->blocks, arena_block, i);
            start = b->off + b->size;
        }
    }
    vtpu_mutex_unlock(&h->alloc_lock);
    return p;
}

static void plat_dma_free(void *ctx, void *cpu, size_t size)
{
    vtpu_host *h = ctx;
    uint64_t off = (uint64_t)((uint8_t *)cpu - h->arena);

    (void)size;
    vtpu_mutex_lock(&h->alloc_lock);
    for (guint i = 0; i < h->blocks->len; i++) {
        if (g_array_index(h->blocks, arena_block, i).off == off) {
            g_array_remove_index(h->blocks, i);
            break;
        }
    }
    vtpu_mutex_unlock(&h->alloc_lock);
    /* Give the pages back, and make stale data visible as zeros. */
    uint64_t page = 4096, lo = (off + page - 1) & ~(page - 1);
    uint64_t hi = (off + size) & ~(page - 1);
    if (hi > lo)
        madvise(h->arena + lo, hi - lo, MADV_DONTNEED);
}

static int plat_irq_wait(void *ctx, uint64_t timeout_ns)
{
    vtpu_host *h = ctx;
    gint64 until = g_get_monotonic_time() + (gint64)(timeout_ns / 1000) + 1;

    vtpu_mutex_lock(&h->irq_lock);
    while (!h->irq_level)
        if (!vtpu_cond_wait_until(&h->irq_cond, &h->irq_lock, until))
            break;
    int level = h->irq_level;
    vtpu_mutex_unlock(&h->irq_lock);
    return level;
}

static uint64_t plat_now_ns(void *ctx)
{
    (void)ctx;
    return (uint64_t)g_get_monotonic_time() * 1000;
}

static void plat_log(void *ctx, const char *msg)
{
    (void)ctx;
    g_log("vtpu-drv", G_LOG_LEVEL_DEBUG, "%s", msg);
}

/* ---- lifetime ---- */

vtpu_host *vtpu_host_new(const vtpu_config *cfg, const vtpu_host_opts *opts,
                         char *err, size_t errlen)
{
    vtpu_host *h = g_new0(vtpu_host, 1);

    vtpu_mutex_init(&h->alloc_lock);
    vtpu_mutex_init(&h->irq_lock);
    vtpu_cond_init(&h->irq_cond);
    h->blocks = g_array_new(FALSE, FALSE, sizeof(arena_block));
    h->arena_size = opts && opts->arena_size ? opts->arena_size : DEFAULT_ARENA;
    h->arena_size = (h->arena_size + 4095) & ~4095ull;
    void *a = mmap(NULL, h->arena_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED) {
        if (err && errlen)
            snprintf(err, errlen, "cannot reserve a %llu-byte DMA arena",
                     (unsigned long long)h->arena_size);
        h->arena_size = 0;
        vtpu_host_free(h);
        return NULL;
    }
    h->arena = a;
#ifdef MADV_HUGEPAGE
    if (opts && opts->hbm_hugepages) /* the staging buffer: 1 MiB */
        madvise(a, h->arena_size, MADV_HUGEPAGE);
#endif

    if (opts && opts->hbm_hugepages) {
        /* Lazily backed as the engine's own HBM (lazymem.c), in huge
         * pages where the kernel grants them; without THP the advice
         * fails and this is the engine's mapping exactly. */
        void *m = mmap(NULL, cfg->hbm_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            if (err && errlen)
                snprintf(err, errlen, "cannot reserve %llu bytes of HBM",
                         (unsigned long long)cfg->hbm_size);
            vtpu_host_free(h);
            return NULL;
        }
#ifdef MADV_HUGEPAGE
        madvise(m, cfg->hbm_size, MADV_HUGEPAGE);
#endif
        h->hbm = m;
        h->hbm_size = cfg->hbm_size;
    }
    h->chip = vtpu_chip_new_ext(cfg, h->hbm, err, errlen);
    if (!h->chip) {
        vtpu_host_free(h);
        return NULL;
    }
    vtpu_dev_ops ops = {
        .dma_read = host_dma_read,
        .dma_write = host_dma_write,
        .set_irq = host_set_irq,
        .log = host_dev_log,
    };
    vtpu_dev_opts dopts = {
        .synchronous = opts && opts->synchronous,
        .aperture_size = opts ? opts->aperture_size : 0,
    };
    h->dev = vtpu_dev_new(h->chip, &ops, h, &dopts, err, errlen);
    if (!h->dev) {
        vtpu_host_free(h);
        return NULL;
    }
    h->plat = (vtpu_platform){
        .ctx = h,
        .read32 = plat_read32,
        .write32 = plat_write32,
        .dma_alloc = plat_dma_alloc,
        .dma_free = plat_dma_free,
        .irq_wait = plat_irq_wait,
        .now_ns = plat_now_ns,
        .log = plat_log,
    };
    return h;
}

void vtpu_host_free(vtpu_host *h)
{
    if (!h)
        return;
    vtpu_dev_free(h->dev); /* first: its worker uses the arena and chip */
    vtpu_chip_free(h->chip);
    if (h->arena)
        munmap(h->arena, h->arena_size);
    if (h->hbm)
        munmap(h->hbm, h->hbm_size);
    g_array_free(h->blocks, TRUE);
    vtpu_cond_clear(&h->irq_cond);
    vtpu_mutex_clear(&h->irq_lock);
    vtpu_mutex_clear(&h->alloc_lock);
    g_free(h);
}

const vtpu_platform *vtpu_host_platform(vtpu_host *h)
{
    return &h->plat;
}

vtpu_chip *vtpu_host_chip(vtpu_host *h)
{
    return h->chip;
}

vtpu_dev *vtpu_host_dev(vtpu_host *h)
{
    return h->dev;
}

void *vtpu_host_bus_to_cpu(vtpu_host *h, uint64_t bus, uint64_t len)
{
    return arena_at(h, bus, len);
}

unsigned vtpu_host_irq_count(vtpu_host *h)
{
    vtpu_mutex_lock(&h->irq_lock);
    unsigned n = h->irq_edges;
    vtpu_mutex_unlock(&h->irq_lock);
    return n;
}

unsigned vtpu_host_guest_errors(vtpu_host *h)
{
    return __atomic_load_n(&h->guest_errors, __ATOMIC_RELAXED);
}
