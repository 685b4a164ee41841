/*
 * vtpu_rt.c - the vtpu runtime over the driver: HBM allocations and
 * copies, loading kernel modules into program slots, launches.  The
 * allocator is vtpu_heap.c, the module reader vtpu_module.c.  See
 * vtpu_rt.h and docs/driver.md.
 */
#include "vtpu_rt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Status names                                                         */
/* ------------------------------------------------------------------ */

const char *vtpu_rt_strerror(int status)
{
    switch (status) {
    case VTPU_RT_ENOHBM:
        return "out of HBM";
    case VTPU_RT_ETABLE:
        return "HBM allocator segment table full";
    case VTPU_RT_EBADELF:
        return "bad kernel module";
    case VTPU_RT_ENOKERNEL:
        return "no such kernel";
    case VTPU_RT_ENOSLOT:
        return "no free program slot";
    case VTPU_RT_ELAUNCH:
        return "launch failed";
    case VTPU_RT_ENOTALLOC:
        return "not an HBM allocation";
    default:
        return vtpu_drv_strerror(status);
    }
}

/* ------------------------------------------------------------------ */
/* Runtime: set-up and errors                                           */
/* ------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
seterr(vtpu_rt *rt, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->err, sizeof(rt->err), fmt, ap);
    va_end(ap);
    return status;
}

/* A driver call failed: explain it (with the device's report for
 * EDEVICE, recovering the ring so the runtime stays usable). */
static int drv_fail(vtpu_rt *rt, int status, const char *what)
{
    if (status == VTPU_DRV_EDEVICE) {
        char msg[VTPU_RT_ERR_LEN];
        vtpu_drv_format_error(vtpu_drv_last_error(rt->drv), msg, sizeof(msg));
        vtpu_drv_recover(rt->drv, VTPU_ACK_ABORT);
        return seterr(rt, status, "%s: %s", what, msg);
    }
    return seterr(rt, status, "%s: %s", what, vtpu_drv_strerror(status));
}

const char *vtpu_rt_error(const vtpu_rt *rt)
{
    return rt->err;
}

int vtpu_rt_init(vtpu_rt *rt, vtpu_drv *drv, const vtpu_rt_opts *opts)
{
    vtpu_rt_opts o = {0};
    if (!rt || !drv)
        return VTPU_DRV_EINVAL;
    if (opts)
        o = *opts;
    memset(rt, 0, sizeof(*rt));
    rt->drv = drv;
    if (!drv->running)
        return seterr(rt, VTPU_DRV_ESTATE,
                      "the driver is not initialised (vtpu_drv_init)");
    const vtpu_drv_info *in = vtpu_drv_info_get(drv);
    if (o.hbm_base == 0 && o.hbm_size == 0)
        o.hbm_size = in->hbm_size;
    if (o.hbm_size == 0 || o.hbm_base > in->hbm_size ||
        o.hbm_size > in->hbm_size - o.hbm_base)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "HBM range 0x%llx+0x%llx is outside the device's "
                      "%llu bytes",
                      (unsigned long long)o.hbm_base,
                      (unsigned long long)o.hbm_size,
                      (unsigned long long)in->hbm_size);
    vtpu_heap_seg *segs = o.segs ? o.segs : rt->own_segs;
    uint32_t nsegs = o.segs ? o.nsegs : VTPU_RT_HEAP_SEGS;
    if (vtpu_heap_init(&rt->heap, o.hbm_base, o.hbm_size, segs, nsegs))
        return seterr(rt, VTPU_DRV_EINVAL, "bad allocator segment table");

    const vtpu_platform *p = drv->plat;
    rt->stage_size = o.staging_size ? o.staging_size : VTPU_RT_STAGING;
    rt->stage = p->dma_alloc(p->ctx, rt->stage_size, 64, &rt->stage_bus);
    if (!rt->stage)
        return seterr(rt, VTPU_DRV_ENOMEM,
                      "no DMA memory for a %zu-byte staging buffer",
                      rt->stage_size);
    rt->result =
        p->dma_alloc(p->ctx, sizeof(vtpu_launch_result), 64, &rt->result_bus);
    if (!rt->result) {
        p->dma_free(p->ctx, rt->stage, rt->stage_size);
        rt->stage = NULL;
        return seterr(rt, VTPU_DRV_ENOMEM, "no DMA memory for launch results");
    }
    return VTPU_DRV_OK;
}

void vtpu_rt_fini(vtpu_rt *rt)
{
    if (!rt || !rt->drv)
        return;
    const vtpu_platform *p = rt->drv->plat;
    if (rt->stage)
        p->dma_free(p->ctx, rt->stage, rt->stage_size);
    if (rt->result)
        p->dma_free(p->ctx, rt->result, sizeof(vtpu_launch_result));
    rt->stage = NULL;
    rt->result = NULL;
}

/* ------------------------------------------------------------------ */
/* HBM allocation and copies                                            */
/* ------------------------------------------------------------------ */

int vtpu_rt_alloc(vtpu_rt *rt, uint64_t size, uint64_t align, uint64_t *hbm)
{
    int rc = vtpu_heap_alloc(&rt->heap, size, align, hbm);
    switch (rc) {
    case VTPU_DRV_OK:
        rt->err[0] = 0;
        return rc;
    case VTPU_RT_ENOHBM:
        return seterr(rt, rc,
                      "out of HBM: requested %llu bytes (alignment %llu), "
                      "largest free block %llu bytes (%llu bytes free in "
                      "%u blocks)",
                      (unsigned long long)size,
                      (unsigned long long)(align ? align : 64),
                      (unsigned long long)vtpu_heap_largest_free(&rt->heap),
                      (unsigned long long)vtpu_heap_free_bytes(&rt->heap),
                      vtpu_heap_free_segments(&rt->heap));
    case VTPU_RT_ETABLE:
        return seterr(rt, rc,
                      "HBM allocator: all %u segments in use (requested %llu "
                      "bytes); free something or give a larger table",
                      rt->heap.cap, (unsigned long long)size);
    default:
        return seterr(rt, rc,
                      "HBM allocation of %llu bytes with alignment %llu: "
                      "size must be > 0, alignment a power of two",
                      (unsigned long long)size, (unsigned long long)align);
    }
}

int vtpu_rt_free(vtpu_rt *rt, uint64_t hbm)
{
    int rc = vtpu_heap_free(&rt->heap, hbm);
    if (rc)
        return seterr(rt, rc, "free of HBM 0x%llx: not an allocation",
                      (unsigned long long)hbm);
    return rc;
}

const vtpu_heap *vtpu_rt_heap(const vtpu_rt *rt)
{
    return &rt->heap;
}

static int range_ok(vtpu_rt *rt, uint64_t hbm, uint64_t len, const char *what)
{
    uint64_t size = vtpu_drv_info_get(rt->drv)->hbm_size;
    if (hbm > size || len > size - hbm)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "%s: HBM range 0x%llx+0x%llx is outside the %llu "
                      "bytes of HBM",
                      what, (unsigned long long)hbm, (unsigned long long)len,
                      (unsigned long long)size);
    return VTPU_DRV_OK;
}

int vtpu_rt_write(vtpu_rt *rt, uint64_t hbm, const void *src, size_t len)
{
    const uint8_t *s = src;
    int rc = range_ok(rt, hbm, len, "write");
    if (rc)
        return rc;
    while (len) {
        size_t n = len < rt->stage_size ? len : rt->stage_size;
        memcpy(rt->stage, s, n);
        rc = vtpu_drv_copy_to_hbm(rt->drv, hbm, rt->stage_bus, n);
        if (!rc)
            rc = vtpu_drv_sync(rt->drv);
        if (rc)
            return drv_fail(rt, rc, "copy to HBM");
        s += n;
        hbm += n;
        len -= n;
    }
    rt->err[0] = 0;
    return VTPU_DRV_OK;
}

int vtpu_rt_read(vtpu_rt *rt, uint64_t hbm, void *dst, size_t len)
{
    uint8_t *d = dst;
    int rc = range_ok(rt, hbm, len, "read");
    if (rc)
        return rc;
    while (len) {
        size_t n = len < rt->stage_size ? len : rt->stage_size;
        rc = vtpu_drv_copy_from_hbm(rt->drv, rt->stage_bus, hbm, n);
        if (!rc)
            rc = vtpu_drv_sync(rt->drv);
        if (rc)
            return drv_fail(rt, rc, "copy from HBM");
        memcpy(d, rt->stage, n);
        d += n;
        hbm += n;
        len -= n;
    }
    rt->err[0] = 0;
    return VTPU_DRV_OK;
}

int vtpu_rt_fill(vtpu_rt *rt, uint64_t hbm, uint64_t len, uint32_t pattern)
{
    int rc = range_ok(rt, hbm, len, "fill");
    if (rc)
        return rc;
    rc = vtpu_drv_fill(rt->drv, hbm, len, pattern);
    if (!rc)
        rc = vtpu_drv_sync(rt->drv);
    if (rc)
        return drv_fail(rt, rc, "fill");
    rt->err[0] = 0;
    return VTPU_DRV_OK;
}

uint64_t vtpu_rt_array_bytes(const vtpu_rt_array *a)
{
    uint64_t n = vtpu_dtype_size(a->dtype);
    if (a->rank < 1 || a->rank > VTPU_MAX_RANK)
        return 0;
    for (unsigned d = 0; d < a->rank; d++) {
        if (a->shape[d] && n > UINT64_MAX / a->shape[d])
            return 0;
        n *= a->shape[d];
    }
    return n;
}

int vtpu_rt_array_alloc(vtpu_rt *rt, vtpu_rt_array *a, uint32_t dtype,
                        uint32_t rank, const uint32_t *shape)
{
    memset(a, 0, sizeof(*a));
    if (rank < 1 || rank > VTPU_MAX_RANK || !vtpu_dtype_size(dtype) ||
        dtype == VTPU_DT_ANY)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "array: rank %u (1..4) or dtype %u is invalid", rank,
                      dtype);
    a->dtype = (uint8_t)dtype;
    a->rank = (uint8_t)rank;
    for (unsigned d = 0; d < rank; d++) {
        if (!shape[d])
            return seterr(rt, VTPU_DRV_EINVAL, "array: dimension %u is 0", d);
        a->shape[d] = shape[d];
    }
    uint64_t bytes = vtpu_rt_array_bytes(a);
    if (!bytes)
        return seterr(rt, VTPU_DRV_EINVAL, "array: size overflows");
    return vtpu_rt_alloc(rt, bytes, 256, &a->hbm);
}

int vtpu_rt_kernel_find(vtpu_rt *rt, const vtpu_module *m, const char *name,
                        uint32_t *index)
{
    int rc = vtpu_module_find(m, name, index);
    if (rc == VTPU_RT_ENOKERNEL) {
        char list[160];
        size_t n = 0;
        list[0] = 0;
        for (uint32_t k = 0; k < m->num_kernels && n < sizeof(list); k++) {
            int w = snprintf(list + n, sizeof(list) - n, "%s%s", k ? ", " : "",
                             m->kernels[k].name);
            if (w < 0)
                break;
            n += (size_t)w;
        }
        return seterr(rt, rc, "no kernel '%s' in the module (it has: %s)", name,
                      list);
    }
    if (rc)
        return seterr(rt, rc, "kernel lookup: bad argument");
    rt->err[0] = 0;
    return rc;
}

int vtpu_rt_module_load(vtpu_rt *rt, vtpu_module *m, const void *elf,
                        size_t len)
{
    const vtpu_drv_info *in = vtpu_drv_info_get(rt->drv);
    int rc = vtpu_module_parse(m, elf, len, in, rt->err, sizeof(rt->err));
    if (rc)
        return rc;
    uint32_t nslots = in->prog_slots < 32 ? in->prog_slots : 32, slot;
    for (slot = 0; slot < nslots; slot++)
        if (!(rt->slots_used & (1u << slot)))
            break;
    if (slot == nslots)
        return seterr(rt, VTPU_RT_ENOSLOT,
                      "all %u program slots hold modules; unload one first",
                      nslots);
    uint64_t at;
    rc = vtpu_rt_alloc(rt, len, 64, &at);
    if (rc)
        return rc;
    rc = vtpu_rt_write(rt, at, elf, len);
    if (!rc) {
        rc = vtpu_drv_load_program(rt->drv, slot, at, len);
        if (!rc)
            rc = vtpu_drv_sync(rt->drv);
        if (rc)
            drv_fail(rt, rc, "loading the module");
    }
    vtpu_heap_free(&rt->heap, at);
    if (rc)
        return rc;
    rt->slots_used |= 1u << slot;
    m->slot = slot;
    m->loaded = 1;
    rt->err[0] = 0;
    return VTPU_DRV_OK;
}

void vtpu_rt_module_unload(vtpu_rt *rt, vtpu_module *m)
{
    if (m && m->loaded && m->slot < 32)
        rt->slots_used &= ~(1u << m->slot);
    if (m)
        m->loaded = 0;
}

/* ------------------------------------------------------------------ */
/* Launches                                                             */
/* ------------------------------------------------------------------ */

static const char *dtype_name(uint32_t dt)
{
    static const char *const n[VTPU_DT__COUNT] = {"any",  "f32", "i32", "u32",
                                                  "bf16", "i16", "i8",  "u8"};
    return dt < VTPU_DT__COUNT ? n[dt] : "invalid";
}

/* Check the launch against the kernel's table entry. */
static int launch_check(vtpu_rt *rt, const vtpu_kernel_entry *e,
                        const vtpu_rt_launch *l, uint32_t ntcs)
{
    const vtpu_drv_info *in = vtpu_drv_info_get(rt->drv);
    const char *kn = e->name;
    uint32_t nops = 0;
    while (nops < VTPU_MAX_OPERANDS && e->operands[nops].role)
        nops++;

    if (ntcs < 1 || ntcs > in->num_tcs || ntcs > VTPU_RT_MAX_TCS)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch of '%s' on %u TCs: the device has %u", kn, ntcs,
                      in->num_tcs);
    if (l->grid_rank > VTPU_MAX_GRID_DIMS)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch of '%s': grid rank %u is over 4", kn,
                      l->grid_rank);
    uint64_t points = 1;
    for (unsigned d = 0; d < l->grid_rank; d++) {
        if (l->grid[d] == 0)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': grid dimension %u is 0", kn, d);
        if (l->semantics[d] > VTPU_PARALLEL)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': dimension semantics %u of grid "
                          "dimension %u is not parallel or arbitrary",
                          kn, l->semantics[d], d);
        points *= l->grid[d];
        if (points >> 32)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': 2^32 grid points or more", kn);
    }
    if (l->num_operands != nops)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch of '%s' has %u operands, the kernel takes %u", kn,
                      l->num_operands, nops);
    for (uint32_t i = 0; i < nops; i++) {
        const vtpu_rt_array *a = &l->operands[i];
        const vtpu_operand_spec *s = &e->operands[i];
        if (a->dtype == VTPU_DT_ANY || !vtpu_dtype_size(a->dtype))
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': operand %u has invalid dtype %u", kn,
                          i, a->dtype);
        if (s->dtype && s->dtype != a->dtype)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': operand %u is %s, the kernel "
                          "takes %s",
                          kn, i, dtype_name(a->dtype), dtype_name(s->dtype));
        if (a->rank < 1 || a->rank > VTPU_MAX_RANK ||
            (s->rank && s->rank != a->rank))
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': operand %u has rank %u, the "
                          "kernel takes rank %u",
                          kn, i, a->rank, s->rank);
        for (unsigned d = 0; d < a->rank; d++)
            if (!a->shape[d])
                return seterr(rt, VTPU_DRV_EINVAL,
                              "launch of '%s': operand %u has dimension %u "
                              "of 0",
                              kn, i, d);
        uint64_t bytes = vtpu_rt_array_bytes(a);
        if (!bytes || a->hbm > in->hbm_size || bytes > in->hbm_size - a->hbm)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': operand %u (%llu bytes at HBM "
                          "0x%llx) is outside HBM",
                          kn, i, (unsigned long long)bytes,
                          (unsigned long long)a->hbm);
    }
    if (l->num_scalars < e->num_scalars)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch of '%s' has %u scalar-prefetch values, the "
                      "kernel needs %u",
                      kn, l->num_scalars, e->num_scalars);
    if (l->num_scalars && !l->scalars)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch of '%s': %u scalars but no values", kn,
                      l->num_scalars);
    if (l->num_scalars > (1u << 24))
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch of '%s': %u scalar-prefetch values (at most "
                      "2^24)",
                      kn, l->num_scalars);
    return VTPU_DRV_OK;
}

int vtpu_rt_run(vtpu_rt *rt, const vtpu_module *m, const vtpu_rt_launch *l,
                vtpu_rt_stats *stats)
{
    if (!rt || !m || !l)
        return VTPU_DRV_EINVAL;
    if (!m->loaded)
        return seterr(rt, VTPU_DRV_EINVAL, "launch: module not loaded");
    if (l->kernel >= m->num_kernels)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch: kernel index %u, the module has %u kernels",
                      l->kernel, m->num_kernels);
    const vtpu_kernel_entry *e = &m->kernels[l->kernel];
    const vtpu_drv_info *in = vtpu_drv_info_get(rt->drv);
    uint32_t ntcs = l->num_tcs ? l->num_tcs : in->num_tcs;
    int rc = launch_check(rt, e, l, ntcs);
    if (rc)
        return rc;

    /* Descriptor, status records and (if many) the scalars in one block. */
    vtpu_launch L;
    uint64_t status_off = sizeof(L);
    uint64_t scalars_off =
        status_off + (uint64_t)ntcs * sizeof(vtpu_launch_status);
    uint64_t total = scalars_off;
    if (l->num_scalars > VTPU_INLINE_SCALARS)
        total += (uint64_t)l->num_scalars * 4;
    uint64_t at;
    rc = vtpu_rt_alloc(rt, total, 64, &at);
    if (rc)
        return rc;

    memset(&L, 0, sizeof(L));
    L.magic = VTPU_LAUNCH_MAGIC;
    L.version = VTPU_LAUNCH_VERSION;
    L.size = sizeof(L);
    L.kernel = l->kernel;
    L.flags = VTPU_LAUNCH_F_STATUS |
              (l->check_flags & (VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT |
                                 0xffff0000u));
    L.grid_rank = (uint8_t)l->grid_rank;
    L.num_operands = (uint8_t)l->num_operands;
    for (unsigned d = 0; d < l->grid_rank; d++) {
        L.grid[d] = l->grid[d];
        L.semantics[d] = l->semantics[d];
    }
    L.num_sems = (uint16_t)(in->num_sems > 0xffff ? 0xffff : in->num_sems);
    L.vmem_size = in->vmem_size;
    L.num_scalars = l->num_scalars;
    L.status_hbm = at + status_off;
    if (l->num_scalars > VTPU_INLINE_SCALARS)
        L.scalars_hbm = at + scalars_off;
    else if (l->num_scalars)
        memcpy(L.scalars, l->scalars, l->num_scalars * sizeof(int32_t));
    for (uint32_t i = 0; i < l->num_operands; i++) {
        const vtpu_rt_array *a = &l->operands[i];
        vtpu_launch_operand *o = &L.operands[i];
        o->hbm = a->hbm;
        o->dtype = a->dtype;
        o->rank = a->rank;
        for (unsigned d = 0; d < a->rank; d++)
            o->shape[d] = a->shape[d];
    }

    /* Descriptor and zeroed status records (a TC that never writes its
     * record is then caught by the magic). */
    vtpu_launch_status st[VTPU_RT_MAX_TCS];
    memset(st, 0, sizeof(st));
    rc = vtpu_rt_write(rt, at, &L, sizeof(L));
    if (!rc)
        rc = vtpu_rt_write(rt, at + status_off, st,
                           ntcs * sizeof(vtpu_launch_status));
    if (!rc && L.scalars_hbm)
        rc = vtpu_rt_write(rt, L.scalars_hbm, l->scalars,
                           (size_t)l->num_scalars * 4);
    if (rc)
        goto out;

    vtpu_drv_launch_desc ld = {
        .slot = m->slot,
        .num_tcs = ntcs,
        .args = {(uint32_t)at, (uint32_t)(at >> 32), 0, 0},
        .check_exit = 0,
        .want_result = 1,
        .result_bus = rt->result_bus,
    };
    memset(rt->result, 0, sizeof(*rt->result));
    rc = vtpu_drv_launch(rt->drv, &ld);
    if (!rc)
        rc = vtpu_drv_sync(rt->drv);
    if (rc) {
        char what[80];
        snprintf(what, sizeof(what), "launch of '%s'", e->name);
        drv_fail(rt, rc, what);
        goto out;
    }
    vtpu_launch_result res = *rt->result;
    rc = vtpu_rt_read(rt, at + status_off, st,
                      ntcs * sizeof(vtpu_launch_status));
    if (rc)
        goto out;

    if (stats) {
        memset(stats, 0, sizeof(*stats));
        stats->num_tcs = ntcs;
    }
    /* Report the first TC that failed. */
    int failed = -1;
    for (uint32_t t = 0; t < ntcs; t++) {
        int32_t code = res.tc_exit[t];
        if (stats) {
            stats->tc[t] = st[t];
            stats->steps += st[t].steps;
            stats->blocks_in += st[t].blocks_in;
            stats->blocks_out += st[t].blocks_out;
            stats->bytes_in += st[t].bytes_in;
            stats->bytes_out += st[t].bytes_out;
            stats->loop_insns += st[t].loop_insns;
        }
        if (failed < 0 && (code != 0 || st[t].magic != VTPU_STATUS_MAGIC))
            failed = (int)t;
    }
    if (failed >= 0) {
        const vtpu_launch_status *s = &st[failed];
        int32_t code = res.tc_exit[failed];
        rc = VTPU_RT_ELAUNCH;
        if (s->magic != VTPU_STATUS_MAGIC) {
            seterr(rt, rc,
                   "launch of '%s' failed on TC %d: exit code %d (%s), no "
                   "status record",
                   e->name, failed, code, vtpu_launch_err_name((uint32_t)code));
        } else {
            char msg[sizeof(s->message) + 1], pre[32];
            const char *why = msg, *name = vtpu_launch_err_name(s->code);
            memcpy(msg, s->message, sizeof(s->message));
            msg[sizeof(s->message)] = 0;
            /* The TC runtime's line reads "vtpu-rt: TC n: <name>: why";
             * keep only "why". */
            snprintf(pre, sizeof(pre), "vtpu-rt: TC %d: ", failed);
            if (!strncmp(why, pre, strlen(pre)))
                why += strlen(pre);
            size_t nl = strlen(name);
            if (!strncmp(why, name, nl) && why[nl] == ':' && why[nl + 1] == ' ')
                why += nl + 2;
            seterr(rt, rc, "launch of '%s' failed on TC %d: %s (%u)%s%s",
                   e->name, failed, name, s->code, why[0] ? ": " : "", why);
        }
        goto out;
    }
    rc = VTPU_DRV_OK;
    rt->err[0] = 0;
out:
    vtpu_heap_free(&rt->heap, at);
    return rc;
}
