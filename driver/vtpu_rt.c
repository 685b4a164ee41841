/*
 * vtpu_rt.c - the vtpu runtime over a device backend (vtpu_rt_dev_ops):
 * HBM allocations and copies, loading kernel modules into program slots,
 * launches.  The ring backend is vtpu_rt_ring.c, the Linux backend
 * driver/linux/user/vtpu_rt_linux.c, the allocator vtpu_heap.c, the
 * module reader vtpu_module.c.  See vtpu_rt.h and docs/driver.md.
 */
#include "vtpu_rt.h"

#include <stdarg.h>
#include <stddef.h>
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
    case VTPU_RT_ESYS:
        return "system call failed";
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

const char *vtpu_rt_error(const vtpu_rt *rt)
{
    return rt->err;
}

const vtpu_drv_info *vtpu_rt_info(const vtpu_rt *rt)
{
    return rt->ops->info(rt->dev);
}

const char *vtpu_rt_backend(const vtpu_rt *rt)
{
    return rt->ops->name;
}

int vtpu_rt_init_dev(vtpu_rt *rt, const vtpu_rt_dev_ops *ops, void *dev)
{
    if (!rt || !ops)
        return VTPU_DRV_EINVAL;
    memset(rt, 0, sizeof(*rt));
    if (!ops->info || !ops->alloc || !ops->free || !ops->write || !ops->read ||
        !ops->fill || !ops->load || !ops->unload || !ops->launch)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "backend %s lacks a required callback",
                      ops->name ? ops->name : "?");
    rt->ops = ops;
    rt->dev = dev;
    return VTPU_DRV_OK;
}

void vtpu_rt_fini(vtpu_rt *rt)
{
    if (!rt || !rt->ops)
        return;
    if (rt->ops->fini)
        rt->ops->fini(rt->dev);
    rt->ops = NULL;
}

/* A backend call's result: its message becomes the runtime's. */
static int dev_done(vtpu_rt *rt, int rc)
{
    if (!rc)
        rt->err[0] = 0;
    else if (!rt->err[0])
        seterr(rt, rc, "%s backend: %s", rt->ops->name, vtpu_rt_strerror(rc));
    return rc;
}

/* ------------------------------------------------------------------ */
/* HBM allocation and copies                                            */
/* ------------------------------------------------------------------ */

int vtpu_rt_alloc(vtpu_rt *rt, uint64_t size, uint64_t align, uint64_t *hbm)
{
    rt->err[0] = 0;
    return dev_done(rt, rt->ops->alloc(rt->dev, size, align, hbm, rt->err));
}

int vtpu_rt_free(vtpu_rt *rt, uint64_t hbm)
{
    rt->err[0] = 0;
    return dev_done(rt, rt->ops->free(rt->dev, hbm, rt->err));
}

const vtpu_heap *vtpu_rt_heap(const vtpu_rt *rt)
{
    return rt->drv ? &rt->heap : NULL; /* only the ring backend sets drv */
}

static int range_ok(vtpu_rt *rt, uint64_t hbm, uint64_t len, const char *what)
{
    uint64_t size = vtpu_rt_info(rt)->hbm_size;
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
    int rc = range_ok(rt, hbm, len, "write");
    if (rc)
        return rc;
    rt->err[0] = 0;
    if (!len)
        return VTPU_DRV_OK;
    return dev_done(rt, rt->ops->write(rt->dev, hbm, src, len, rt->err));
}

int vtpu_rt_read(vtpu_rt *rt, uint64_t hbm, void *dst, size_t len)
{
    int rc = range_ok(rt, hbm, len, "read");
    if (rc)
        return rc;
    rt->err[0] = 0;
    if (!len)
        return VTPU_DRV_OK;
    return dev_done(rt, rt->ops->read(rt->dev, hbm, dst, len, rt->err));
}

int vtpu_rt_fill(vtpu_rt *rt, uint64_t hbm, uint64_t len, uint32_t pattern)
{
    int rc = range_ok(rt, hbm, len, "fill");
    if (rc)
        return rc;
    rt->err[0] = 0;
    return dev_done(rt, rt->ops->fill(rt->dev, hbm, len, pattern, rt->err));
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
    const vtpu_drv_info *in = vtpu_rt_info(rt);
    int rc = vtpu_module_parse(m, elf, len, in, rt->err, sizeof(rt->err));
    if (rc)
        return rc;
    uint32_t slot = 0;
    rt->err[0] = 0;
    rc = dev_done(rt, rt->ops->load(rt->dev, elf, len, &slot, rt->err));
    if (rc)
        return rc;
    m->slot = slot;
    m->loaded = 1;
    return VTPU_DRV_OK;
}

void vtpu_rt_module_unload(vtpu_rt *rt, vtpu_module *m)
{
    if (m && m->loaded)
        rt->ops->unload(rt->dev, m->slot);
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
    const vtpu_drv_info *in = vtpu_rt_info(rt);
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
        uint32_t g = l->grid[d], v = 0, si = VTPU_GRID_SCALAR_INDEX(g);
        switch (vtpu_grid_extent(g, l->scalars, l->num_scalars, &v)) {
        case VTPU_GRID_ZERO:
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': grid dimension %u is 0", kn, d);
        case VTPU_GRID_NO_SCALAR:
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': grid dimension %u is scalar %u, "
                          "but the launch has %u scalars",
                          kn, d, si, l->num_scalars);
        case VTPU_GRID_NEGATIVE:
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': grid dimension %u is scalar %u = "
                          "%d, a negative extent",
                          kn, d, si, (int)l->scalars[si]);
        default:
            break;
        }
        if (l->semantics[d] > VTPU_PARALLEL)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': dimension semantics %u of grid "
                          "dimension %u is not parallel or arbitrary",
                          kn, l->semantics[d], d);
        points *= v;
        if (points >> 32)
            return seterr(rt, VTPU_DRV_EINVAL,
                          "launch of '%s': 2^32 grid points or more%s", kn,
                          VTPU_GRID_IS_SCALAR(g) ? " (grid from scalars)" : "");
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

/* What vtpu_rt_run() writes at the start of its HBM block. */
typedef struct vtpu_rt_launch_block launch_block;
_Static_assert(offsetof(launch_block, st) == sizeof(vtpu_launch),
               "status records right after the descriptor");

/* Up to the backend's launch: `async` = launch_start (else launch). */
static int run_start(vtpu_rt *rt, const vtpu_module *m, const vtpu_rt_launch *l,
                     vtpu_rt_pending *p, int async)
{
    if (!m->loaded)
        return seterr(rt, VTPU_DRV_EINVAL, "launch: module not loaded");
    if (l->kernel >= m->num_kernels)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch: kernel index %u, the module has %u kernels",
                      l->kernel, m->num_kernels);
    const vtpu_kernel_entry *e = &m->kernels[l->kernel];
    const vtpu_drv_info *in = vtpu_rt_info(rt);
    uint32_t ntcs = l->num_tcs ? l->num_tcs : in->num_tcs;
    int rc = launch_check(rt, e, l, ntcs);
    if (rc)
        return rc;
    /* The TC runtime keeps the scalars at the end of SMEM, above the
     * module's image (docs/kernels.md); it fails a launch they do not
     * fit, but the host can say so before anything runs. */
    uint64_t smem_top = (uint64_t)VTPU_SMEM_BASE + in->smem_size;
    if (in->smem_size && m->smem_end && m->smem_end <= smem_top &&
        (uint64_t)l->num_scalars * 4 > smem_top - m->smem_end)
        return seterr(
            rt, VTPU_DRV_EINVAL,
            "launch of '%s': %u scalar-prefetch values (%llu "
            "bytes) do not fit in the %llu bytes of SMEM the "
            "module leaves free (smem-size %u): give the chip more "
            "SMEM (vtpu-run --set smem-size=N) or pass fewer",
            e->name, l->num_scalars, (unsigned long long)l->num_scalars * 4,
            (unsigned long long)(smem_top - m->smem_end), in->smem_size);

    /* Descriptor, status records and (if many) the scalars in one block;
     * the first two go to the device in one write (one round trip). */
    launch_block *b = &p->b;
    uint64_t status_off = sizeof(b->L);
    uint64_t scalars_off =
        status_off + (uint64_t)ntcs * sizeof(vtpu_launch_status);
    uint64_t total = scalars_off;
    if (l->num_scalars > VTPU_INLINE_SCALARS)
        total += (uint64_t)l->num_scalars * 4;
    uint64_t at;
    rc = vtpu_rt_alloc(rt, total, 64, &at);
    if (rc)
        return rc;

    memset(&b->L, 0, sizeof(b->L));
    b->L.magic = VTPU_LAUNCH_MAGIC;
    b->L.version = VTPU_LAUNCH_VERSION;
    b->L.size = sizeof(b->L);
    b->L.kernel = l->kernel;
    b->L.flags = VTPU_LAUNCH_F_STATUS |
                 (l->check_flags & (VTPU_LAUNCH_F_SHUFFLE |
                                    VTPU_LAUNCH_F_REVISIT | 0xffff0000u));
    b->L.grid_rank = (uint8_t)l->grid_rank;
    b->L.num_operands = (uint8_t)l->num_operands;
    for (unsigned d = 0; d < l->grid_rank; d++) {
        b->L.grid[d] = l->grid[d];
        b->L.semantics[d] = l->semantics[d];
    }
    b->L.num_sems = (uint16_t)(in->num_sems > 0xffff ? 0xffff : in->num_sems);
    b->L.vmem_size = in->vmem_size;
    b->L.num_scalars = l->num_scalars;
    b->L.status_hbm = at + status_off;
    if (l->num_scalars > VTPU_INLINE_SCALARS)
        b->L.scalars_hbm = at + scalars_off;
    else if (l->num_scalars)
        memcpy(b->L.scalars, l->scalars, l->num_scalars * sizeof(int32_t));
    for (uint32_t i = 0; i < l->num_operands; i++) {
        const vtpu_rt_array *a = &l->operands[i];
        vtpu_launch_operand *o = &b->L.operands[i];
        o->hbm = a->hbm;
        o->dtype = a->dtype;
        o->rank = a->rank;
        for (unsigned d = 0; d < a->rank; d++)
            o->shape[d] = a->shape[d];
    }

    /* Descriptor and zeroed status records (a TC that never writes its
     * record is then caught by the magic). */
    memset(b->st, 0, sizeof(b->st));
    size_t block = status_off + ntcs * sizeof(vtpu_launch_status);
    if (!rt->ops->launch_copies)
        rc = vtpu_rt_write(rt, at, b, block);
    if (!rc && b->L.scalars_hbm)
        rc = vtpu_rt_write(rt, b->L.scalars_hbm, l->scalars,
                           (size_t)l->num_scalars * 4);
    if (rc)
        goto out;

    /* The HBM the launch references: the descriptor block and every
     * operand (a backend that isolates launches grants exactly these). */
    vtpu_rt_range *ranges = p->ranges;
    uint32_t nranges = 0;
    ranges[nranges++] = (vtpu_rt_range){at, total};
    for (uint32_t i = 0; i < l->num_operands; i++)
        ranges[nranges++] = (vtpu_rt_range){
            l->operands[i].hbm, vtpu_rt_array_bytes(&l->operands[i])};
    snprintf(p->what, sizeof(p->what), "launch of '%s'", e->name);
    p->dl = (vtpu_rt_dev_launch){
        .slot = m->slot,
        .num_tcs = ntcs,
        .args = {(uint32_t)at, (uint32_t)(at >> 32), 0, 0},
        .nranges = nranges,
        .ranges = ranges,
        .what = p->what,
        .collective = l->collective,
    };
    /* Descriptor and status records go up, and the records come back,
     * with the launch where the backend can (one wait), else with a
     * write and a read of their own. */
    if (rt->ops->launch_copies) {
        p->dl.write_src = b;
        p->dl.write_hbm = at;
        p->dl.write_len = block;
        p->dl.read_hbm = at + status_off;
        p->dl.read_dst = b->st;
        p->dl.read_len = ntcs * sizeof(vtpu_launch_status);
    }
    memset(&p->res, 0, sizeof(p->res));
    rt->err[0] = 0;
    rc = dev_done(rt, async
                          ? rt->ops->launch_start(rt->dev, &p->dl, rt->err)
                          : rt->ops->launch(rt->dev, &p->dl, &p->res, rt->err));
    if (rc)
        goto out;
    p->at = at;
    p->ntcs = ntcs;
    p->e = e;
    p->active = 1;
    return VTPU_DRV_OK;
out:;
    char scratch[VTPU_RT_ERR_LEN]; /* keep the launch's message */
    rt->ops->free(rt->dev, at, scratch);
    return rc;
}

/* After the backend's launch: the status records, the report. */
static int run_finish(vtpu_rt *rt, vtpu_rt_pending *p, vtpu_rt_stats *stats,
                      int async)
{
    launch_block *b = &p->b;
    const vtpu_kernel_entry *e = p->e;
    uint64_t at = p->at;
    uint64_t status_off = sizeof(b->L);
    uint32_t ntcs = p->ntcs;
    vtpu_launch_result res;
    int rc = VTPU_DRV_OK;

    p->active = 0;
    if (async) {
        memset(&p->res, 0, sizeof(p->res));
        rt->err[0] = 0;
        rc = dev_done(
            rt, rt->ops->launch_finish(rt->dev, &p->dl, &p->res, rt->err));
        if (rc)
            goto out;
    }
    res = p->res;
    if (!rt->ops->launch_copies)
        rc = vtpu_rt_read(rt, at + status_off, b->st,
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
            stats->tc[t] = b->st[t];
            stats->steps += b->st[t].steps;
            stats->blocks_in += b->st[t].blocks_in;
            stats->blocks_out += b->st[t].blocks_out;
            stats->bytes_in += b->st[t].bytes_in;
            stats->bytes_out += b->st[t].bytes_out;
            stats->loop_insns += b->st[t].loop_insns;
        }
        if (failed < 0 && (code != 0 || b->st[t].magic != VTPU_STATUS_MAGIC))
            failed = (int)t;
    }
    if (failed >= 0) {
        const vtpu_launch_status *s = &b->st[failed];
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
out:;
    char scratch[VTPU_RT_ERR_LEN]; /* keep the launch's message */
    rt->ops->free(rt->dev, at, scratch);
    return rc;
}

int vtpu_rt_run(vtpu_rt *rt, const vtpu_module *m, const vtpu_rt_launch *l,
                vtpu_rt_stats *stats)
{
    vtpu_rt_pending p;

    if (!rt || !m || !l)
        return VTPU_DRV_EINVAL;
    int rc = run_start(rt, m, l, &p, 0);
    return rc ? rc : run_finish(rt, &p, stats, 0);
}

int vtpu_rt_run_start(vtpu_rt *rt, const vtpu_module *m,
                      const vtpu_rt_launch *l, vtpu_rt_pending *p)
{
    if (!rt || !m || !l || !p)
        return VTPU_DRV_EINVAL;
    p->active = 0;
    if (!rt->ops->launch_start || !rt->ops->launch_finish)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch: the %s backend cannot start a launch without "
                      "waiting for it",
                      rt->ops->name);
    if (rt->launch_active)
        return seterr(rt, VTPU_DRV_EINVAL,
                      "launch: another launch is in flight on this device");
    int rc = run_start(rt, m, l, p, 1);
    rt->launch_active = p->active;
    return rc;
}

int vtpu_rt_run_finish(vtpu_rt *rt, vtpu_rt_pending *p, vtpu_rt_stats *stats)
{
    if (!rt || !p)
        return VTPU_DRV_EINVAL;
    if (!p->active)
        return seterr(rt, VTPU_DRV_EINVAL, "launch: nothing in flight");
    rt->launch_active = 0;
    return run_finish(rt, p, stats, 1);
}
