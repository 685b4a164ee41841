/*
 * vtpu_rt_ring.c - the runtime's ring backend (vtpu_rt_dev_ops over the
 * register/ring driver, vtpu_drv.h): HBM managed by the runtime's own
 * vtpu_heap, copies through a DMA staging buffer (COPY_H2D / COPY_D2H and
 * a fence per piece), FILL, LOAD_PROG into the lowest free slot, LAUNCH
 * with a vtpu_launch_result.  The bare-metal guest and the host (vtpu-run,
 * the tests) use it; it owns the whole device, so launches are not
 * restricted to the ranges the runtime lists.
 *
 * Portable C11 like the rest of the runtime (picolibc in the guest).
 */
#include "vtpu_rt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fmt(char *err, int status, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(err, VTPU_RT_ERR_LEN, f, ap);
    va_end(ap);
    return status;
}

/* A driver call failed: explain it (with the device's report for
 * EDEVICE, recovering the ring so the runtime stays usable). */
static int drv_fail(vtpu_rt *rt, int status, const char *what, char *err)
{
    if (status == VTPU_DRV_EDEVICE) {
        char msg[VTPU_RT_ERR_LEN];
        vtpu_drv_format_error(vtpu_drv_last_error(rt->drv), msg, sizeof(msg));
        vtpu_drv_recover(rt->drv, VTPU_ACK_ABORT);
        return fmt(err, status, "%s: %s", what, msg);
    }
    return fmt(err, status, "%s: %s", what, vtpu_drv_strerror(status));
}

static const vtpu_drv_info *ring_info(void *dev)
{
    vtpu_rt *rt = dev;
    return vtpu_drv_info_get(rt->drv);
}

static int ring_alloc(void *dev, uint64_t size, uint64_t align, uint64_t *hbm,
                      char *err)
{
    vtpu_rt *rt = dev;
    int rc = vtpu_heap_alloc(&rt->heap, size, align, hbm);
    switch (rc) {
    case VTPU_DRV_OK:
        return rc;
    case VTPU_RT_ENOHBM:
        return fmt(err, rc,
                   "out of HBM: requested %llu bytes (alignment %llu), "
                   "largest free block %llu bytes (%llu bytes free in "
                   "%u blocks)",
                   (unsigned long long)size,
                   (unsigned long long)(align ? align : 64),
                   (unsigned long long)vtpu_heap_largest_free(&rt->heap),
                   (unsigned long long)vtpu_heap_free_bytes(&rt->heap),
                   vtpu_heap_free_segments(&rt->heap));
    case VTPU_RT_ETABLE:
        return fmt(err, rc,
                   "HBM allocator: all %u segments in use (requested %llu "
                   "bytes); free something or give a larger table",
                   rt->heap.cap, (unsigned long long)size);
    default:
        return fmt(err, rc,
                   "HBM allocation of %llu bytes with alignment %llu: "
                   "size must be > 0, alignment a power of two",
                   (unsigned long long)size, (unsigned long long)align);
    }
}

static int ring_free(void *dev, uint64_t hbm, char *err)
{
    vtpu_rt *rt = dev;
    int rc = vtpu_heap_free(&rt->heap, hbm);
    if (rc)
        return fmt(err, rc, "free of HBM 0x%llx: not an allocation",
                   (unsigned long long)hbm);
    return rc;
}

static int ring_write(void *dev, uint64_t hbm, const void *src, size_t len,
                      char *err)
{
    vtpu_rt *rt = dev;
    const uint8_t *s = src;
    while (len) {
        size_t n = len < rt->stage_size ? len : rt->stage_size;
        memcpy(rt->stage, s, n);
        int rc = vtpu_drv_copy_to_hbm(rt->drv, hbm, rt->stage_bus, n);
        if (!rc)
            rc = vtpu_drv_sync(rt->drv);
        if (rc)
            return drv_fail(rt, rc, "copy to HBM", err);
        s += n;
        hbm += n;
        len -= n;
    }
    return VTPU_DRV_OK;
}

static int ring_read(void *dev, uint64_t hbm, void *dst, size_t len,
                     char *err)
{
    vtpu_rt *rt = dev;
    uint8_t *d = dst;
    while (len) {
        size_t n = len < rt->stage_size ? len : rt->stage_size;
        int rc = vtpu_drv_copy_from_hbm(rt->drv, rt->stage_bus, hbm, n);
        if (!rc)
            rc = vtpu_drv_sync(rt->drv);
        if (rc)
            return drv_fail(rt, rc, "copy from HBM", err);
        memcpy(d, rt->stage, n);
        d += n;
        hbm += n;
        len -= n;
    }
    return VTPU_DRV_OK;
}

static int ring_fill(void *dev, uint64_t hbm, uint64_t len, uint32_t pattern,
                     char *err)
{
    vtpu_rt *rt = dev;
    int rc = vtpu_drv_fill(rt->drv, hbm, len, pattern);
    if (!rc)
        rc = vtpu_drv_sync(rt->drv);
    if (rc)
        return drv_fail(rt, rc, "fill", err);
    return VTPU_DRV_OK;
}

/* Upload the image to a temporary HBM block, LOAD_PROG it into the lowest
 * free slot, free the block. */
static int ring_load(void *dev, const void *image, size_t len, uint32_t *slot,
                     char *err)
{
    vtpu_rt *rt = dev;
    const vtpu_drv_info *in = vtpu_drv_info_get(rt->drv);
    uint32_t nslots = in->prog_slots < 32 ? in->prog_slots : 32, s;
    for (s = 0; s < nslots; s++)
        if (!(rt->slots_used & (1u << s)))
            break;
    if (s == nslots)
        return fmt(err, VTPU_RT_ENOSLOT,
                   "all %u program slots hold modules; unload one first",
                   nslots);
    uint64_t at;
    int rc = ring_alloc(rt, len, 64, &at, err);
    if (rc)
        return rc;
    rc = ring_write(rt, at, image, len, err);
    if (!rc) {
        rc = vtpu_drv_load_program(rt->drv, s, at, len);
        if (!rc)
            rc = vtpu_drv_sync(rt->drv);
        if (rc)
            drv_fail(rt, rc, "loading the module", err);
    }
    vtpu_heap_free(&rt->heap, at);
    if (rc)
        return rc;
    rt->slots_used |= 1u << s;
    *slot = s;
    return VTPU_DRV_OK;
}

static void ring_unload(void *dev, uint32_t slot)
{
    vtpu_rt *rt = dev;
    if (slot < 32)
        rt->slots_used &= ~(1u << slot);
}

/* Everything of a launch up to its fence, without waiting for it. */
static int ring_launch_start(void *dev, const vtpu_rt_dev_launch *l, char *err)
{
    vtpu_rt *rt = dev;
    vtpu_drv_launch_desc ld = {
        .slot = l->slot,
        .num_tcs = l->num_tcs,
        .args = {l->args[0], l->args[1], l->args[2], l->args[3]},
        .check_exit = 0,
        .want_result = 1,
        .collective = l->collective,
        .result_bus = rt->result_bus,
    };
    memset(rt->result, 0, sizeof(*rt->result));
    /* The copies ride on the launch's fence when they fit the stage (the
     * ring runs in order: the upload lands before the launch starts, the
     * read-back copies what it left, after the upload read the stage). */
    int rc = VTPU_DRV_OK;
    if (l->write_len > rt->stage_size)
        rc = ring_write(dev, l->write_hbm, l->write_src, l->write_len, err);
    if (rc)
        return rc;
    if (l->write_len && l->write_len <= rt->stage_size) {
        memcpy(rt->stage, l->write_src, l->write_len);
        rc = vtpu_drv_copy_to_hbm(rt->drv, l->write_hbm, rt->stage_bus,
                                  l->write_len);
    }
    size_t back = l->read_len <= rt->stage_size ? l->read_len : 0;
    if (!rc)
        rc = vtpu_drv_launch(rt->drv, &ld);
    if (!rc && back)
        rc = vtpu_drv_copy_from_hbm(rt->drv, rt->stage_bus, l->read_hbm, back);
    if (!rc)
        rc = vtpu_drv_fence(rt->drv, &rt->launch_seq);
    if (rc)
        return drv_fail(rt, rc, l->what, err);
    return VTPU_DRV_OK;
}

/* Wait for the fence ring_launch_start() submitted; the results. */
static int ring_launch_finish(void *dev, const vtpu_rt_dev_launch *l,
                              vtpu_launch_result *res, char *err)
{
    vtpu_rt *rt = dev;
    size_t back = l->read_len <= rt->stage_size ? l->read_len : 0;
    int rc = vtpu_drv_wait(rt->drv, rt->launch_seq);
    if (rc)
        return drv_fail(rt, rc, l->what, err);
    *res = *rt->result;
    if (back)
        memcpy(l->read_dst, rt->stage, back);
    else if (l->read_len)
        return ring_read(dev, l->read_hbm, l->read_dst, l->read_len, err);
    return VTPU_DRV_OK;
}

static int ring_launch(void *dev, const vtpu_rt_dev_launch *l,
                       vtpu_launch_result *res, char *err)
{
    int rc = ring_launch_start(dev, l, err);
    return rc ? rc : ring_launch_finish(dev, l, res, err);
}

static void ring_fini(void *dev)
{
    vtpu_rt *rt = dev;
    const vtpu_platform *p = rt->drv->plat;
    if (rt->stage)
        p->dma_free(p->ctx, rt->stage, rt->stage_size);
    if (rt->result)
        p->dma_free(p->ctx, rt->result, sizeof(vtpu_launch_result));
    rt->stage = NULL;
    rt->result = NULL;
}

static const vtpu_rt_dev_ops ring_ops = {
    .name = "ring",
    .info = ring_info,
    .alloc = ring_alloc,
    .free = ring_free,
    .write = ring_write,
    .read = ring_read,
    .fill = ring_fill,
    .load = ring_load,
    .unload = ring_unload,
    .launch = ring_launch,
    .launch_start = ring_launch_start,
    .launch_finish = ring_launch_finish,
    .launch_copies = 1,
    .fini = ring_fini,
};

int vtpu_rt_init(vtpu_rt *rt, vtpu_drv *drv, const vtpu_rt_opts *opts)
{
    vtpu_rt_opts o = {0};
    if (!rt || !drv)
        return VTPU_DRV_EINVAL;
    if (opts)
        o = *opts;
    int rc = vtpu_rt_init_dev(rt, &ring_ops, rt);
    if (rc)
        return rc;
    rt->drv = drv;
    if (!drv->running)
        return fmt(rt->err, VTPU_DRV_ESTATE,
                   "the driver is not initialised (vtpu_drv_init)");
    const vtpu_drv_info *in = vtpu_drv_info_get(drv);
    if (o.hbm_base == 0 && o.hbm_size == 0)
        o.hbm_size = in->hbm_size;
    if (o.hbm_size == 0 || o.hbm_base > in->hbm_size ||
        o.hbm_size > in->hbm_size - o.hbm_base)
        return fmt(rt->err, VTPU_DRV_EINVAL,
                   "HBM range 0x%llx+0x%llx is outside the device's %llu "
                   "bytes",
                   (unsigned long long)o.hbm_base,
                   (unsigned long long)o.hbm_size,
                   (unsigned long long)in->hbm_size);
    vtpu_heap_seg *segs = o.segs ? o.segs : rt->own_segs;
    uint32_t nsegs = o.segs ? o.nsegs : VTPU_RT_HEAP_SEGS;
    if (vtpu_heap_init(&rt->heap, o.hbm_base, o.hbm_size, segs, nsegs))
        return fmt(rt->err, VTPU_DRV_EINVAL, "bad allocator segment table");

    const vtpu_platform *p = drv->plat;
    rt->stage_size = o.staging_size ? o.staging_size : VTPU_RT_STAGING;
    rt->stage = p->dma_alloc(p->ctx, rt->stage_size, 64, &rt->stage_bus);
    if (!rt->stage)
        return fmt(rt->err, VTPU_DRV_ENOMEM,
                   "no DMA memory for a %zu-byte staging buffer",
                   rt->stage_size);
    rt->result =
        p->dma_alloc(p->ctx, sizeof(vtpu_launch_result), 64, &rt->result_bus);
    if (!rt->result) {
        p->dma_free(p->ctx, rt->stage, rt->stage_size);
        rt->stage = NULL;
        return fmt(rt->err, VTPU_DRV_ENOMEM,
                   "no DMA memory for launch results");
    }
    return VTPU_DRV_OK;
}
