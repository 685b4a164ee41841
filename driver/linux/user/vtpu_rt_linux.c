/*
 * vtpu_rt_linux.c - the runtime's Linux backend over /dev/accel/accelN
 * (vtpu_rt_linux.h; the uAPI is driver/linux/uapi/vtpu_accel.h, its
 * semantics docs/linux.md).
 */
#define _GNU_SOURCE
#include "vtpu_rt_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../uapi/vtpu_accel.h"

#define BO_CACHE_MAX 8          /* freed BOs kept for reuse */
#define BO_CACHE_SIZE (64u << 10) /* ... of at most this size */
#define RW_CHUNK (1u << 20)     /* fill through BO_RW in pieces of this */
/* Parameters read at open: every one up to JOB_TIMEOUT_MS must exist,
 * later ones are read if the driver has them (else 0). */
#define NPARAMS (DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS + 1)

/* One buffer object of this process. */
typedef struct lx_bo {
    uint32_t handle;
    uint32_t flags;   /* DRM_VTPU_BO_* from BO_INFO */
    uint64_t off;     /* the BO's HBM offset */
    uint64_t size;    /* its size (rounded up by the driver) */
    uint64_t user;    /* the offset alloc() returned (aligned in the BO) */
    uint64_t mmap_offset;
    uint8_t *map;     /* NULL until first mapped access */
    int map_failed;   /* mmap refused: use BO_RW */
    int cached;       /* freed, kept for reuse */
} lx_bo;

typedef struct vtpu_linux {
    int fd;
    char path[128];
    uint64_t params[NPARAMS];
    vtpu_drv_info info;
    lx_bo *bos; /* sorted by off */
    size_t nbos, cap;
    unsigned ncached;
    int have_collective; /* the driver has DRM_VTPU_SUBMIT_COLLECTIVE */
    uint64_t wait_ns; /* 0: no limit */
    uint64_t inflight; /* launch_start's job, 0 if none */
    vtpu_rt_linux_stats st;
} vtpu_linux;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fmt(char *err, int status, const char *f, ...)
{
    if (!err)
        return status;
    va_list ap;
    va_start(ap, f);
    vsnprintf(err, VTPU_RT_ERR_LEN, f, ap);
    va_end(ap);
    return status;
}

/* ioctl, retried when a signal interrupted it (as libdrm's drmIoctl). */
static int xioctl(int fd, unsigned long req, void *arg)
{
    int rc;
    do
        rc = ioctl(fd, req, arg);
    while (rc == -1 && (errno == EINTR || errno == EAGAIN));
    return rc;
}

/* ------------------------------------------------------------------ */
/* The BO table                                                         */
/* ------------------------------------------------------------------ */

/* Index of the first BO with off > hbm (binary search). */
static size_t upper(const vtpu_linux *lx, uint64_t hbm)
{
    size_t lo = 0, hi = lx->nbos;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lx->bos[mid].off <= hbm)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The live BO holding HBM offset `hbm`, or NULL. */
static lx_bo *bo_at(vtpu_linux *lx, uint64_t hbm)
{
    size_t i = upper(lx, hbm);
    if (!i)
        return NULL;
    lx_bo *b = &lx->bos[i - 1];
    return !b->cached && hbm - b->off < b->size ? b : NULL;
}

static int bo_insert(vtpu_linux *lx, const lx_bo *b)
{
    if (lx->nbos == lx->cap) {
        size_t cap = lx->cap ? 2 * lx->cap : 64;
        lx_bo *n = realloc(lx->bos, cap * sizeof(*n));
        if (!n)
            return -1;
        lx->bos = n;
        lx->cap = cap;
    }
    size_t i = upper(lx, b->off);
    memmove(&lx->bos[i + 1], &lx->bos[i], (lx->nbos - i) * sizeof(*b));
    lx->bos[i] = *b;
    lx->nbos++;
    return 0;
}

/* Unmap, GEM_CLOSE and drop entry i. */
static void bo_destroy(vtpu_linux *lx, size_t i)
{
    lx_bo *b = &lx->bos[i];
    if (b->map)
        munmap(b->map, b->size);
    struct drm_gem_close c = {.handle = b->handle};
    if (xioctl(lx->fd, DRM_IOCTL_GEM_CLOSE, &c) == 0)
        lx->st.bo_closed++;
    if (b->cached)
        lx->ncached--;
    memmove(&lx->bos[i], &lx->bos[i + 1], (lx->nbos - i - 1) * sizeof(*b));
    lx->nbos--;
}

/* The CPU mapping of a BO, or NULL if it has none (use BO_RW). */
static uint8_t *bo_map(vtpu_linux *lx, lx_bo *b)
{
    if (b->map || b->map_failed || !(b->flags & DRM_VTPU_BO_MAPPABLE))
        return b->map;
    void *p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, lx->fd,
                   (off_t)b->mmap_offset);
    if (p == MAP_FAILED) {
        b->map_failed = 1;
        return NULL;
    }
    b->map = p;
    return b->map;
}

/* ------------------------------------------------------------------ */
/* Backend callbacks                                                    */
/* ------------------------------------------------------------------ */

static const vtpu_drv_info *lx_info(void *dev)
{
    vtpu_linux *lx = dev;
    return &lx->info;
}

static int lx_alloc(void *dev, uint64_t size, uint64_t align, uint64_t *hbm,
                    char *err)
{
    vtpu_linux *lx = dev;
    if (!align)
        align = 64;
    if (!size || (align & (align - 1)))
        return fmt(err, VTPU_DRV_EINVAL,
                   "HBM allocation of %llu bytes with alignment %llu: size "
                   "must be > 0, alignment a power of two",
                   (unsigned long long)size, (unsigned long long)align);

    /* A cached BO that fits: the smallest. */
    lx_bo *best = NULL;
    for (size_t i = 0; i < lx->nbos; i++) {
        lx_bo *b = &lx->bos[i];
        if (b->cached && b->size >= size && b->off % align == 0 &&
            (!best || b->size < best->size))
            best = b;
    }
    if (best) {
        best->cached = 0;
        best->user = best->off;
        lx->ncached--;
        lx->st.bo_reused++;
        *hbm = best->off;
        return VTPU_DRV_OK;
    }

    /* A new BO; over-allocated when the driver's placement does not give
     * the alignment. */
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t want = attempt ? size + align : size;
        if (want < size)
            break;
        /* Small buffers (descriptor blocks, status records) are asked for
         * inside the aperture, so they are written through a mapping
         * even when large ones have filled it; elsewhere if there is no
         * room there. */
        struct drm_vtpu_bo_create c = {
            .size = want,
            .flags = want <= BO_CACHE_SIZE ? DRM_VTPU_BO_CREATE_MAPPABLE : 0};
        int rc = xioctl(lx->fd, DRM_IOCTL_VTPU_BO_CREATE, &c);
        if (rc && c.flags && (errno == ENOSPC || errno == EINVAL)) {
            c = (struct drm_vtpu_bo_create){.size = want};
            rc = xioctl(lx->fd, DRM_IOCTL_VTPU_BO_CREATE, &c);
        }
        if (rc) {
            int e = errno;
            struct drm_vtpu_get_param gp = {.param = DRM_VTPU_PARAM_HBM_FREE};
            if (e == ENOMEM || e == ENOSPC)
                return fmt(err, VTPU_RT_ENOHBM,
                           "out of HBM: requested %llu bytes (alignment "
                           "%llu), the driver has %llu bytes free (BO_CREATE: "
                           "%s)",
                           (unsigned long long)size, (unsigned long long)align,
                           xioctl(lx->fd, DRM_IOCTL_VTPU_GET_PARAM, &gp)
                               ? 0ull
                               : (unsigned long long)gp.value,
                           strerror(e));
            return fmt(err, VTPU_RT_ESYS,
                       "HBM allocation of %llu bytes: BO_CREATE: %s",
                       (unsigned long long)size, strerror(e));
        }
        lx->st.bo_created++;
        struct drm_vtpu_bo_info in = {.handle = c.handle};
        if (xioctl(lx->fd, DRM_IOCTL_VTPU_BO_INFO, &in)) {
            int e = errno;
            struct drm_gem_close gc = {.handle = c.handle};
            xioctl(lx->fd, DRM_IOCTL_GEM_CLOSE, &gc);
            return fmt(err, VTPU_RT_ESYS, "BO_INFO of a new BO: %s",
                       strerror(e));
        }
        uint64_t user = (in.hbm_offset + align - 1) & ~(align - 1);
        if (user + size > in.hbm_offset + in.size) {
            struct drm_gem_close gc = {.handle = c.handle};
            xioctl(lx->fd, DRM_IOCTL_GEM_CLOSE, &gc);
            lx->st.bo_closed++;
            continue; /* try again with room to align */
        }
        lx_bo b = {.handle = c.handle,
                   .flags = in.flags,
                   .off = in.hbm_offset,
                   .size = in.size,
                   .user = user,
                   .mmap_offset = in.mmap_offset};
        if (bo_insert(lx, &b)) {
            struct drm_gem_close gc = {.handle = c.handle};
            xioctl(lx->fd, DRM_IOCTL_GEM_CLOSE, &gc);
            return fmt(err, VTPU_DRV_ENOMEM, "out of host memory");
        }
        *hbm = user;
        return VTPU_DRV_OK;
    }
    return fmt(err, VTPU_RT_ENOHBM,
               "out of HBM: requested %llu bytes (alignment %llu): no BO "
               "with that alignment",
               (unsigned long long)size, (unsigned long long)align);
}

static int lx_free(void *dev, uint64_t hbm, char *err)
{
    vtpu_linux *lx = dev;
    size_t i = upper(lx, hbm);
    lx_bo *b = i ? &lx->bos[i - 1] : NULL;
    if (!b || b->cached || b->user != hbm)
        return fmt(err, VTPU_RT_ENOTALLOC,
                   "free of HBM 0x%llx: not an allocation",
                   (unsigned long long)hbm);
    if (b->size <= BO_CACHE_SIZE && b->user == b->off &&
        lx->ncached < BO_CACHE_MAX) {
        b->cached = 1;
        lx->ncached++;
        return VTPU_DRV_OK;
    }
    bo_destroy(lx, i - 1);
    return VTPU_DRV_OK;
}

/* Copy [hbm, hbm + len) from or to `buf`, BO by BO. */
static int lx_copy(vtpu_linux *lx, uint64_t hbm, uint8_t *buf, size_t len,
                   int write, const char *what, char *err)
{
    while (len) {
        lx_bo *b = bo_at(lx, hbm);
        if (!b)
            return fmt(err, VTPU_DRV_EINVAL,
                       "%s: HBM 0x%llx is not in a buffer of this process",
                       what, (unsigned long long)hbm);
        uint64_t in = hbm - b->off, room = b->size - in;
        size_t n = len < room ? len : (size_t)room;
        uint8_t *map = bo_map(lx, b);
        if (map) {
            if (write)
                memcpy(map + in, buf, n);
            else
                memcpy(buf, map + in, n);
            lx->st.mmap_bytes += n;
        } else {
            struct drm_vtpu_bo_rw rw = {.handle = b->handle,
                                        .write = (uint32_t)write,
                                        .offset = in,
                                        .size = n,
                                        .user_ptr = (uintptr_t)buf};
            if (xioctl(lx->fd, DRM_IOCTL_VTPU_BO_RW, &rw)) {
                int e = errno;
                return fmt(err, e == EIO ? VTPU_DRV_EDEVICE : VTPU_RT_ESYS,
                           "%s: BO_RW of %zu bytes at HBM 0x%llx: %s", what,
                           n, (unsigned long long)hbm, strerror(e));
            }
            lx->st.rw_bytes += n;
        }
        hbm += n;
        buf += n;
        len -= n;
    }
    return VTPU_DRV_OK;
}

static int lx_write(void *dev, uint64_t hbm, const void *src, size_t len,
                    char *err)
{
    return lx_copy(dev, hbm, (uint8_t *)(uintptr_t)src, len, 1, "copy to HBM",
                   err);
}

static int lx_read(void *dev, uint64_t hbm, void *dst, size_t len, char *err)
{
    return lx_copy(dev, hbm, dst, len, 0, "copy from HBM", err);
}

static int lx_fill(void *dev, uint64_t hbm, uint64_t len, uint32_t pattern,
                   char *err)
{
    vtpu_linux *lx = dev;
    if ((hbm | len) & 3 || !len)
        return fmt(err, VTPU_DRV_EINVAL,
                   "fill: HBM 0x%llx+%llu: offset and length must be "
                   "multiples of 4 and the length > 0",
                   (unsigned long long)hbm, (unsigned long long)len);
    size_t piece = len < RW_CHUNK ? (size_t)len : RW_CHUNK;
    uint32_t *pat = malloc(piece);
    if (!pat)
        return fmt(err, VTPU_DRV_ENOMEM, "fill: out of host memory");
    for (size_t i = 0; i < piece / 4; i++)
        pat[i] = pattern;
    int rc = VTPU_DRV_OK;
    while (len && !rc) {
        size_t n = len < piece ? (size_t)len : piece;
        rc = lx_copy(lx, hbm, (uint8_t *)pat, n, 1, "fill", err);
        hbm += n;
        len -= n;
    }
    free(pat);
    return rc;
}

static int lx_load(void *dev, const void *image, size_t len, uint32_t *slot,
                   char *err)
{
    vtpu_linux *lx = dev;
    struct drm_vtpu_module_load m;
    memset(&m, 0, sizeof(m));
    m.image_ptr = (uintptr_t)image;
    m.image_size = len;
    if (xioctl(lx->fd, DRM_IOCTL_VTPU_MODULE_LOAD, &m)) {
        int e = errno;
        m.error[sizeof(m.error) - 1] = 0;
        if (e == ENOEXEC)
            return fmt(err, VTPU_DRV_EDEVICE,
                       "loading the module: the device refused it: %s",
                       m.error[0] ? m.error : strerror(e));
        if (e == ENOSPC || e == EBUSY)
            return fmt(err, VTPU_RT_ENOSLOT,
                       "loading the module: no free program slot (%s); "
                       "unload one first",
                       strerror(e));
        return fmt(err, e == EIO ? VTPU_DRV_EDEVICE : VTPU_RT_ESYS,
                   "loading the module: MODULE_LOAD: %s%s%s", strerror(e),
                   m.error[0] ? ": " : "", m.error);
    }
    *slot = m.slot;
    return VTPU_DRV_OK;
}

static void lx_unload(void *dev, uint32_t slot)
{
    vtpu_linux *lx = dev;
    struct drm_vtpu_module_unload u = {.slot = slot};
    if (xioctl(lx->fd, DRM_IOCTL_VTPU_MODULE_UNLOAD, &u))
        fprintf(stderr, "vtpu_rt_linux: MODULE_UNLOAD of slot %u: %s\n", slot,
                strerror(errno));
}

/* Add the handles of every BO under [hbm, hbm + len) to the list. */
static int add_range(vtpu_linux *lx, uint64_t hbm, uint64_t len,
                     uint32_t *handles, uint32_t *n, const char *what,
                     char *err)
{
    uint64_t end = hbm + len;
    while (hbm < end) {
        lx_bo *b = bo_at(lx, hbm);
        if (!b)
            return fmt(err, VTPU_DRV_EINVAL,
                       "%s: HBM 0x%llx (of a %llu-byte range at 0x%llx) is "
                       "not in a buffer of this process",
                       what, (unsigned long long)hbm, (unsigned long long)len,
                       (unsigned long long)(end - len));
        uint32_t k;
        for (k = 0; k < *n && handles[k] != b->handle; k++)
            ;
        if (k == *n) {
            if (*n == DRM_VTPU_MAX_BOS)
                return fmt(err, VTPU_DRV_EINVAL,
                           "%s: more than %u buffers", what,
                           DRM_VTPU_MAX_BOS);
            handles[(*n)++] = b->handle;
        }
        hbm = b->off + b->size;
    }
    return VTPU_DRV_OK;
}

int vtpu_linux_format_job_error(const struct drm_vtpu_job_error *je,
                                char *buf, size_t len)
{
    vtpu_drv_error de;
    char cut[sizeof(je->message) + 1], line[VTPU_RT_ERR_LEN];
    const char *msg = cut;

    memset(&de, 0, sizeof(de));
    de.code = je->code;
    de.kind = je->kind;
    de.tc = je->tc;
    de.pc = je->pc;
    de.space = je->space;
    de.value = je->value;
    de.addr = je->addr;
    de.len = je->len;
    de.index = VTPU_ERR_NONE32;
    de.opcode = VTPU_OP_LAUNCH;
    memcpy(cut, je->message, sizeof(je->message));
    cut[sizeof(je->message)] = 0;
    /* the whole message, when the caller gave JOB_ERROR a buffer for it */
    if (je->message_ptr && je->message_size && je->message_len)
        msg = (const char *)(uintptr_t)je->message_ptr;
    if (!de.code)
        return snprintf(buf, len, "%s", msg[0] ? msg : "no device error");
    vtpu_drv_format_error_detail(&de, line, sizeof(line));
    /* The message is the device's ERR_MSG, or a line the driver formatted
     * from the same record ("LAUNCH failed: <what the fields say>
     * [device: ...]"): then it says it all. */
    const char *m = strstr(msg, line);
    if (m)
        return snprintf(buf, len, "%s", m);
    size_t n = strlen(msg) < sizeof(de.msg) - 1 ? strlen(msg) : sizeof(de.msg) - 1;
    memcpy(de.msg, msg, n);
    de.msg[n] = 0;
    return vtpu_drv_format_error_detail(&de, buf, len);
}

/* SUBMIT a launch with the BOs under its ranges; its job in *seqno. */
static int lx_submit(vtpu_linux *lx, const vtpu_rt_dev_launch *l,
                     uint64_t *seqno, char *err)
{
    uint32_t handles[DRM_VTPU_MAX_BOS], n = 0;
    if (l->collective && !lx->have_collective)
        return fmt(err, VTPU_DRV_EINVAL,
                   "%s: collective launch: the driver of %s has no "
                   "collective launches (GET_PARAM COLLECTIVE_WAIT_MS "
                   "refused: vtpu.ko is older than this runtime)",
                   l->what, lx->path);
    for (uint32_t i = 0; i < l->nranges; i++) {
        int rc = add_range(lx, l->ranges[i].hbm, l->ranges[i].len, handles,
                           &n, l->what, err);
        if (rc)
            return rc;
    }
    struct drm_vtpu_submit s = {
        .slot = l->slot,
        .num_tcs = l->num_tcs,
        .args = {l->args[0], l->args[1], l->args[2], l->args[3]},
        .bo_handles = (uintptr_t)handles,
        .num_bos = n,
        .flags = l->collective ? DRM_VTPU_SUBMIT_COLLECTIVE : 0,
    };
    if (xioctl(lx->fd, DRM_IOCTL_VTPU_SUBMIT, &s)) {
        int e = errno;
        return fmt(err, VTPU_RT_ESYS, "%s: SUBMIT%s: %s", l->what,
                   l->collective ? " (collective)" : "", strerror(e));
    }
    lx->st.submits++;
    *seqno = s.seqno;
    return VTPU_DRV_OK;
}

/* WAIT for job `seqno` of a launch; its outcome into *res or err. */
static int lx_wait_job(vtpu_linux *lx, const vtpu_rt_dev_launch *l,
                       uint64_t seqno, vtpu_launch_result *res, char *err)
{
    /* One WAIT: to the end of the job (the driver's job timeout stops a
     * job that never ends), or wait_ns if set. */
    struct drm_vtpu_wait w;
    memset(&w, 0, sizeof(w));
    w.seqno = seqno;
    w.timeout_ns = lx->wait_ns ? (int64_t)lx->wait_ns : -1;
    if (xioctl(lx->fd, DRM_IOCTL_VTPU_WAIT, &w)) {
        int e = errno;
        if (e == ETIME)
            return fmt(err, VTPU_DRV_ETIMEDOUT,
                       "%s: job %llu still running after %.1f s", l->what,
                       (unsigned long long)seqno,
                       (double)lx->wait_ns / 1e9);
        return fmt(err, VTPU_RT_ESYS, "%s: WAIT for job %llu: %s", l->what,
                   (unsigned long long)seqno, strerror(e));
    }
    lx->st.waits++;
    switch (w.status) {
    case 0:
        break;
    case -EIO: {
        struct drm_vtpu_job_error je;
        char whole[VTPU_RT_ERR_LEN];
        memset(&je, 0, sizeof(je));
        je.seqno = seqno;
        je.message_ptr = (uintptr_t)whole;
        je.message_size = sizeof(whole);
        if (xioctl(lx->fd, DRM_IOCTL_VTPU_JOB_ERROR, &je))
            return fmt(err, VTPU_DRV_EDEVICE,
                       "%s: job %llu failed with a device error (JOB_ERROR: "
                       "%s)",
                       l->what, (unsigned long long)seqno, strerror(errno));
        char line[VTPU_RT_ERR_LEN];
        vtpu_linux_format_job_error(&je, line, sizeof(line));
        return fmt(err, VTPU_DRV_EDEVICE, "%s: job %llu failed: %s", l->what,
                   (unsigned long long)seqno, line);
    }
    case -ETIMEDOUT:
        if (l->collective)
            return fmt(err, VTPU_DRV_ETIMEDOUT,
                       "%s: collective job %llu ran past the driver's job "
                       "timeout (%llu ms) plus its collective wait (%llu "
                       "ms) and was stopped by a device reset: did every "
                       "chip of the slice launch?",
                       l->what, (unsigned long long)seqno,
                       (unsigned long long)
                           lx->params[DRM_VTPU_PARAM_JOB_TIMEOUT_MS],
                       (unsigned long long)
                           lx->params[DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS]);
        return fmt(err, VTPU_DRV_ETIMEDOUT,
                   "%s: job %llu ran past the driver's job timeout (%llu ms) "
                   "and was stopped by a device reset",
                   l->what, (unsigned long long)seqno,
                   (unsigned long long)
                       lx->params[DRM_VTPU_PARAM_JOB_TIMEOUT_MS]);
    case -ENODEV:
        return fmt(err, VTPU_DRV_ENODEV, "%s: job %llu: the device was removed",
                   l->what, (unsigned long long)seqno);
    case -ECANCELED:
        return fmt(err, VTPU_DRV_ECANCELED,
                   "%s: job %llu was canceled by a device reset another job "
                   "caused",
                   l->what, (unsigned long long)seqno);
    default:
        return fmt(err, VTPU_RT_ESYS, "%s: job %llu failed: %s", l->what,
                   (unsigned long long)seqno, strerror(-w.status));
    }
    memset(res, 0, sizeof(*res));
    res->exit_code = w.exit_code;
    res->num_tcs = l->num_tcs;
    for (unsigned t = 0; t < 8; t++) {
        res->tc_exit[t] = (int32_t)w.tc_exit[t];
        res->instret[t] = w.instret[t];
    }
    return VTPU_DRV_OK;
}

static int lx_launch(void *dev, const vtpu_rt_dev_launch *l,
                     vtpu_launch_result *res, char *err)
{
    vtpu_linux *lx = dev;
    uint64_t seqno;
    int rc = lx_submit(lx, l, &seqno, err);
    return rc ? rc : lx_wait_job(lx, l, seqno, res, err);
}

/* launch() in halves: the job's sequence number is the fence to wait on
 * (the runtime allows one launch in flight per device). */
static int lx_launch_start(void *dev, const vtpu_rt_dev_launch *l, char *err)
{
    vtpu_linux *lx = dev;
    uint64_t seqno;
    int rc = lx_submit(lx, l, &seqno, err);
    if (!rc)
        lx->inflight = seqno;
    return rc;
}

static int lx_launch_finish(void *dev, const vtpu_rt_dev_launch *l,
                            vtpu_launch_result *res, char *err)
{
    vtpu_linux *lx = dev;
    uint64_t seqno = lx->inflight;
    if (!seqno)
        return fmt(err, VTPU_DRV_EINVAL, "%s: no launch in flight", l->what);
    lx->inflight = 0; /* the runtime has nothing in flight after this */
    return lx_wait_job(lx, l, seqno, res, err);
}

static void lx_fini(void *dev)
{
    vtpu_linux *lx = dev;
    for (size_t i = 0; i < lx->nbos; i++)
        if (lx->bos[i].map)
            munmap(lx->bos[i].map, lx->bos[i].size);
    close(lx->fd); /* frees every BO and slot of this file */
    free(lx->bos);
    free(lx);
}

static const vtpu_rt_dev_ops linux_ops = {
    .name = "linux",
    .info = lx_info,
    .alloc = lx_alloc,
    .free = lx_free,
    .write = lx_write,
    .read = lx_read,
    .fill = lx_fill,
    .load = lx_load,
    .unload = lx_unload,
    .launch = lx_launch,
    .launch_start = lx_launch_start,
    .launch_finish = lx_launch_finish,
    .fini = lx_fini,
};

/* ------------------------------------------------------------------ */
/* Opening                                                              */
/* ------------------------------------------------------------------ */

static vtpu_linux *lx_of(const vtpu_rt *rt)
{
    return rt && rt->ops == &linux_ops ? rt->dev : NULL;
}

int vtpu_rt_open_linux(vtpu_rt *rt, const char *path)
{
    if (!rt)
        return VTPU_DRV_EINVAL;
    memset(rt, 0, sizeof(*rt));
    if (!path)
        path = getenv("VTPU_ACCEL");
    if (!path || !*path)
        path = VTPU_LINUX_DEFAULT_NODE;
    vtpu_linux *lx = calloc(1, sizeof(*lx));
    if (!lx)
        return fmt(rt->err, VTPU_DRV_ENOMEM, "out of host memory");
    snprintf(lx->path, sizeof(lx->path), "%s", path);
    lx->fd = open(path, O_RDWR | O_CLOEXEC);
    if (lx->fd < 0) {
        int e = errno;
        free(lx);
        return fmt(rt->err, VTPU_RT_ESYS, "cannot open %s: %s%s", path,
                   strerror(e),
                   e == ENOENT ? " (is vtpu.ko loaded?)" : "");
    }
    for (unsigned p = 0; p < NPARAMS; p++) {
        struct drm_vtpu_get_param gp = {.param = p};
        if (xioctl(lx->fd, DRM_IOCTL_VTPU_GET_PARAM, &gp)) {
            if (p > DRM_VTPU_PARAM_JOB_TIMEOUT_MS)
                continue; /* newer than the driver */
            int e = errno;
            close(lx->fd);
            free(lx);
            return fmt(rt->err, VTPU_RT_ESYS,
                       "%s: GET_PARAM %u: %s (not a vtpu?)", path, p,
                       strerror(e));
        }
        lx->params[p] = gp.value;
        if (p == DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS)
            lx->have_collective = 1;
        if (p == DRM_VTPU_PARAM_UAPI_VERSION &&
            gp.value != DRM_VTPU_UAPI_VERSION) {
            close(lx->fd);
            free(lx);
            return fmt(rt->err, VTPU_DRV_EVERSION,
                       "%s: uAPI version %llu, this runtime speaks %u", path,
                       (unsigned long long)gp.value, DRM_VTPU_UAPI_VERSION);
        }
    }
    vtpu_drv_info *in = &lx->info;
    uint64_t v = lx->params[DRM_VTPU_PARAM_DEVICE_VERSION];
    in->version_major = (uint32_t)(v >> 16) & 0xffff;
    in->version_minor = (uint32_t)v & 0xffff;
    uint64_t g = lx->params[DRM_VTPU_PARAM_GEN];
    for (int i = 0; i < 4; i++)
        in->gen[i] = (char)(g >> (8 * i));
    in->gen[4] = 0;
    in->num_tcs = (uint32_t)lx->params[DRM_VTPU_PARAM_NUM_TCS];
    in->num_sems = (uint32_t)lx->params[DRM_VTPU_PARAM_NUM_SEMS];
    in->hbm_size = lx->params[DRM_VTPU_PARAM_HBM_SIZE];
    in->vmem_size = (uint32_t)lx->params[DRM_VTPU_PARAM_VMEM_SIZE];
    in->smem_size = (uint32_t)lx->params[DRM_VTPU_PARAM_SMEM_SIZE];
    in->imem_size = (uint32_t)lx->params[DRM_VTPU_PARAM_IMEM_SIZE];
    uint32_t mxu = (uint32_t)lx->params[DRM_VTPU_PARAM_MXU];
    in->mxu_dim = VTPU_FEX(mxu, MXU, DIM);
    in->mxu_count = VTPU_FEX(mxu, MXU, COUNT);
    in->aperture_size = (uint32_t)lx->params[DRM_VTPU_PARAM_APERTURE_SIZE];
    if (in->num_tcs > VTPU_RT_MAX_TCS)
        in->num_tcs = VTPU_RT_MAX_TCS;
    lx->wait_ns = 0; /* the driver's job timeout ends every job */

    int rc = vtpu_rt_init_dev(rt, &linux_ops, lx);
    if (rc) {
        lx_fini(lx);
        return rc;
    }
    return VTPU_DRV_OK;
}

int vtpu_rt_linux_fd(const vtpu_rt *rt)
{
    vtpu_linux *lx = lx_of(rt);
    return lx ? lx->fd : -1;
}

uint32_t vtpu_rt_linux_handle(const vtpu_rt *rt, uint64_t hbm)
{
    vtpu_linux *lx = lx_of(rt);
    lx_bo *b = lx ? bo_at(lx, hbm) : NULL;
    return b ? b->handle : 0;
}

uint64_t vtpu_rt_linux_param(const vtpu_rt *rt, unsigned param)
{
    vtpu_linux *lx = lx_of(rt);
    return lx && param < NPARAMS ? lx->params[param] : 0;
}

void vtpu_rt_linux_set_wait_timeout(vtpu_rt *rt, uint64_t ns)
{
    vtpu_linux *lx = lx_of(rt);
    if (lx)
        lx->wait_ns = ns;
}

const vtpu_rt_linux_stats *vtpu_rt_linux_get_stats(const vtpu_rt *rt)
{
    vtpu_linux *lx = lx_of(rt);
    return lx ? &lx->st : NULL;
}
