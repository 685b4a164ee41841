/*
 * vtpu-selftest.c (Linux user space) - the runtime's tests through the
 * kernel driver: the runtime-level tests shared with the bare-metal
 * self-test (guest/common/selftest.c: copies, module loading, launches on
 * 1 and all TCs, a TC-runtime error) over the runtime's Linux backend,
 * and tests of the uAPI as the backend uses it: parameters, BOs and HBM
 * accounting, mmap against BO_RW, a BO beyond the aperture (BO_RW, a
 * launch writing into its middle), program slots, exit codes, a TC fault
 * and CHECK_EXIT reported through JOB_ERROR, isolation (a launch's DMA to
 * a BO it was not given faults), files not sharing handles or slots, WAIT
 * polling and the job timeout.
 *
 * The bare-metal self-test's tests of registers, the command ring,
 * fences, interrupts, DMA memory and ring recovery have no counterpart
 * here: in Linux the kernel driver owns them.
 *
 *   vtpu-selftest [--device NODE] [--only NAME]...
 *
 * One line per test ("ok"/"FAIL" and its time).  Exit status: the number
 * of failed tests; 1 if the device or the modules cannot be used.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "linux-user.h"
#include "selftest.h"
#include "tiny_elf.h"
#include "vtpu_accel.h"
#include "vtpu_rt_linux.h"

#define MS 1000000ull

static vtpu_rt rt;
static vtpu_module mod;
static const char *node;
static int fd; /* the runtime's device file, for direct uAPI calls */

static const uint32_t prog_exit_a2[] = TINY_EXIT_A2;
static const uint32_t prog_spin[] = TINY_SPIN;
static const uint32_t prog_ebreak[] = TINY_EBREAK;

static int xioctl(int f, unsigned long req, void *arg)
{
    int rc;
    do
        rc = ioctl(f, req, arg);
    while (rc == -1 && (errno == EINTR || errno == EAGAIN));
    return rc;
}

/* MODULE_LOAD of a tiny program on `f`: the slot, or -errno. */
static int load_tiny(int f, const uint32_t *words, size_t n)
{
    static uint8_t img[256];
    size_t len = tiny_elf(img, words, n);
    struct drm_vtpu_module_load m;
    memset(&m, 0, sizeof(m));
    m.image_ptr = (uintptr_t)img;
    m.image_size = len;
    if (xioctl(f, DRM_IOCTL_VTPU_MODULE_LOAD, &m))
        return -errno;
    return (int)m.slot;
}

static int unload(int f, uint32_t slot)
{
    struct drm_vtpu_module_unload u = {.slot = slot};
    return xioctl(f, DRM_IOCTL_VTPU_MODULE_UNLOAD, &u) ? -errno : 0;
}

/* SUBMIT; the seqno or -errno. */
static int64_t submit(int f, uint32_t slot, uint32_t tcs, uint32_t a0,
                      const uint32_t *bos, uint32_t nbos, uint32_t flags)
{
    struct drm_vtpu_submit s = {.slot = slot,
                                .num_tcs = tcs,
                                .args = {a0},
                                .bo_handles = (uintptr_t)bos,
                                .num_bos = nbos,
                                .flags = flags};
    if (xioctl(f, DRM_IOCTL_VTPU_SUBMIT, &s))
        return -errno;
    return (int64_t)s.seqno;
}

/* WAIT; 0 or -errno, *w filled. */
static int wait_job(int f, uint64_t seqno, int64_t timeout_ns,
                    struct drm_vtpu_wait *w)
{
    memset(w, 0, sizeof(*w));
    w->seqno = seqno;
    w->timeout_ns = timeout_ns;
    return xioctl(f, DRM_IOCTL_VTPU_WAIT, w) ? -errno : 0;
}

/* JOB_ERROR, formatted as the runtime formats device errors. */
static int job_error(int f, uint64_t seqno, struct drm_vtpu_job_error *je,
                     char *line, size_t len)
{
    char whole[4096];
    memset(je, 0, sizeof(*je));
    je->seqno = seqno;
    je->message_ptr = (uintptr_t)whole;
    je->message_size = sizeof(whole);
    if (xioctl(f, DRM_IOCTL_VTPU_JOB_ERROR, je))
        return -errno;
    vtpu_linux_format_job_error(je, line, len);
    je->message_ptr = 0; /* `whole` ends here */
    return 0;
}

static uint64_t param(int f, unsigned p)
{
    struct drm_vtpu_get_param gp = {.param = p};
    return xioctl(f, DRM_IOCTL_VTPU_GET_PARAM, &gp) ? ~0ull : gp.value;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void test_params(void)
{
    const vtpu_drv_info *i = vtpu_rt_info(&rt);

    CHECK_EQ(param(fd, DRM_VTPU_PARAM_UAPI_VERSION), DRM_VTPU_UAPI_VERSION);
    CHECK_EQ(i->version_major, 1);
    CHECK(i->gen[0] == 'v');
    CHECK(i->num_tcs >= 1 && i->num_tcs <= 8);
    CHECK(i->hbm_size >= (64ull << 20));
    CHECK(i->vmem_size > 0 && i->smem_size > 0 && i->imem_size > 0);
    CHECK(i->mxu_dim >= 8);
    CHECK(param(fd, DRM_VTPU_PARAM_HBM_FREE) <= i->hbm_size);
    CHECK(param(fd, DRM_VTPU_PARAM_JOB_TIMEOUT_MS) > 0);
    /* an unknown parameter is refused */
    struct drm_vtpu_get_param gp = {.param = 999};
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_GET_PARAM, &gp), -1);
    st_note("%s, %u TCs, HBM %llu MiB, job timeout %llu ms", i->gen,
            i->num_tcs, (unsigned long long)(i->hbm_size >> 20),
            (unsigned long long)param(fd, DRM_VTPU_PARAM_JOB_TIMEOUT_MS));
}

/* Allocations are BOs: HBM_FREE follows them, alignment holds, freeing
 * twice is refused, too much is ENOHBM with a message. */
static void test_bo_alloc_free(void)
{
    uint64_t free0 = param(fd, DRM_VTPU_PARAM_HBM_FREE), a, b, big;

    CHECK_OK(vtpu_rt_alloc(&rt, 1 << 20, 0, &a));
    CHECK(vtpu_rt_linux_handle(&rt, a) != 0);
    CHECK(free0 - param(fd, DRM_VTPU_PARAM_HBM_FREE) >= (1 << 20));
    CHECK_OK(vtpu_rt_alloc(&rt, 1000, 4096, &b));
    CHECK_EQ(b % 4096, 0);
    CHECK(vtpu_rt_linux_handle(&rt, b) != vtpu_rt_linux_handle(&rt, a));
    struct drm_vtpu_bo_info in = {.handle = vtpu_rt_linux_handle(&rt, a)};
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_BO_INFO, &in), 0);
    CHECK_EQ(in.hbm_offset, a);
    CHECK(in.size >= (1 << 20));
    CHECK_OK(vtpu_rt_free(&rt, a));
    CHECK_EQ(vtpu_rt_free(&rt, a), VTPU_RT_ENOTALLOC);
    CHECK_EQ(vtpu_rt_linux_handle(&rt, a), 0);
    CHECK_OK(vtpu_rt_free(&rt, b));
    CHECK_EQ(vtpu_rt_alloc(&rt, vtpu_rt_info(&rt)->hbm_size + 4096, 0, &big),
             VTPU_RT_ENOHBM);
    st_note("-> %s", vtpu_rt_error(&rt));
    CHECK(strstr(vtpu_rt_error(&rt), "out of HBM") != NULL);
    /* small freed BOs are kept for reuse: at most what the cache holds */
    CHECK(free0 - param(fd, DRM_VTPU_PARAM_HBM_FREE) <= (64u << 10) * 8);
}

/* What the runtime writes (mmap or BO_RW) BO_RW reads, and back. */
static void test_mmap_and_bo_rw(void)
{
    const size_t n = 3 * 4096 + 77;
    uint8_t in[3 * 4096 + 77], out[3 * 4096 + 77];
    uint64_t hbm;

    CHECK_OK(vtpu_rt_alloc(&rt, 64 << 10, 0, &hbm));
    uint32_t h = vtpu_rt_linux_handle(&rt, hbm);
    struct drm_vtpu_bo_info bi = {.handle = h};
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_BO_INFO, &bi), 0);
    const vtpu_rt_linux_stats *s = vtpu_rt_linux_get_stats(&rt);
    uint64_t mm0 = s->mmap_bytes, rw0 = s->rw_bytes;
    st_fill_pattern(in, n, 5);
    CHECK_OK(vtpu_rt_write(&rt, hbm + 9, in, n));
    st_note("BO at HBM 0x%llx, %s; the runtime wrote %llu bytes by mmap, "
            "%llu by BO_RW",
            (unsigned long long)bi.hbm_offset,
            bi.flags & DRM_VTPU_BO_MAPPABLE ? "mappable" : "not mappable",
            (unsigned long long)(s->mmap_bytes - mm0),
            (unsigned long long)(s->rw_bytes - rw0));
    if (bi.flags & DRM_VTPU_BO_MAPPABLE)
        CHECK_EQ(s->mmap_bytes - mm0, n);
    memset(out, 0, n);
    struct drm_vtpu_bo_rw rw = {.handle = h,
                                .write = 0,
                                .offset = 9,
                                .size = n,
                                .user_ptr = (uintptr_t)out};
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_BO_RW, &rw), 0);
    CHECK(memcmp(in, out, n) == 0);
    st_fill_pattern(in, n, 6);
    rw.write = 1;
    rw.user_ptr = (uintptr_t)in;
    rw.offset = 100;
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_BO_RW, &rw), 0);
    CHECK_OK(vtpu_rt_read(&rt, hbm + 100, out, n));
    CHECK(memcmp(in, out, n) == 0);
    /* a mapping of our own sees the same bytes */
    if (bi.flags & DRM_VTPU_BO_MAPPABLE) {
        uint8_t *p = mmap(NULL, bi.size, PROT_READ, MAP_SHARED, fd,
                          (off_t)bi.mmap_offset);
        CHECK(p != MAP_FAILED);
        int same = memcmp(p + 100, in, n) == 0;
        munmap(p, bi.size);
        CHECK(same);
    }
    /* past the end of the BO is refused */
    rw.offset = bi.size - 8;
    rw.size = 16;
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_BO_RW, &rw), -1);
    CHECK_OK(vtpu_rt_free(&rt, hbm));
}

/* A BO beyond the aperture: the runtime copies through BO_RW, and a
 * launch whose output lies in the middle of that BO gets the BO granted. */
static void test_bo_rw_path(void)
{
    const size_t big = 20u << 20, n = (1u << 20) + 13;
    const uint32_t grid = 16, rows = grid * 8, cnt = rows * 128;
    uint8_t *in = malloc(n), *out = malloc(n);
    float *x = malloc(4 * cnt), *o = malloc(4 * cnt);
    uint64_t hbm;
    uint32_t shape[2] = {rows, 128};
    vtpu_rt_launch l = {.num_tcs = 0,
                        .grid_rank = 1,
                        .grid = {grid},
                        .semantics = {VTPU_PARALLEL},
                        .num_operands = 3};

    CHECK(in && out && x && o);
    CHECK_OK(vtpu_rt_alloc(&rt, big, 0, &hbm));
    struct drm_vtpu_bo_info bi = {.handle = vtpu_rt_linux_handle(&rt, hbm)};
    CHECK_EQ(xioctl(fd, DRM_IOCTL_VTPU_BO_INFO, &bi), 0);
    CHECK_EQ(bi.flags & DRM_VTPU_BO_MAPPABLE, 0);
    const vtpu_rt_linux_stats *s = vtpu_rt_linux_get_stats(&rt);
    uint64_t rw0 = s->rw_bytes;
    st_fill_pattern(in, n, 9);
    CHECK_OK(vtpu_rt_write(&rt, hbm + big - n - 5, in, n));
    CHECK_OK(vtpu_rt_read(&rt, hbm + big - n - 5, out, n));
    CHECK(memcmp(in, out, n) == 0);
    CHECK_OK(vtpu_rt_fill(&rt, hbm + 4096, 64, 0x01020304u));
    uint32_t w[16];
    CHECK_OK(vtpu_rt_read(&rt, hbm + 4096, w, sizeof(w)));
    for (unsigned i = 0; i < 16; i++)
        CHECK_EQ(w[i], 0x01020304u);
    CHECK(s->rw_bytes - rw0 >= 2 * n);
    st_note("a %zu MiB BO at HBM 0x%llx, not mappable: %llu bytes through "
            "BO_RW",
            big >> 20, (unsigned long long)bi.hbm_offset,
            (unsigned long long)(s->rw_bytes - rw0));

    for (uint32_t i = 0; i < cnt; i++)
        x[i] = (float)(i % 777) * 1e-3f;
    CHECK_OK(vtpu_rt_kernel_find(&rt, &mod, "add_sin_f32", &l.kernel));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(vtpu_rt_array_alloc(&rt, &l.operands[i], VTPU_F32, 2, shape));
        CHECK_OK(vtpu_rt_write(&rt, l.operands[i].hbm, x, 4 * cnt));
    }
    l.operands[2] = (vtpu_rt_array){.hbm = hbm + (8u << 20),
                                    .shape = {rows, 128},
                                    .dtype = VTPU_F32,
                                    .rank = 2};
    CHECK_OK(vtpu_rt_run(&rt, &mod, &l, NULL));
    CHECK_OK(vtpu_rt_read(&rt, l.operands[2].hbm, o, 4 * cnt));
    for (uint32_t i = 0; i < cnt; i++)
        CHECK(fabsf(o[i] - sinf((x[i] + x[i]) * 2.0f)) <= 1e-6f);
    vtpu_rt_free(&rt, l.operands[0].hbm);
    vtpu_rt_free(&rt, l.operands[1].hbm);
    CHECK_OK(vtpu_rt_free(&rt, hbm));
    free(in);
    free(out);
    free(x);
    free(o);
}

/* HBM that is in no BO of this process cannot be reached. */
static void test_hbm_outside_buffers(void)
{
    uint64_t hbm;
    uint32_t w = 1;

    CHECK_OK(vtpu_rt_alloc(&rt, 1 << 20, 0, &hbm));
    CHECK_OK(vtpu_rt_free(&rt, hbm)); /* 1 MiB BOs are not cached */
    CHECK_EQ(vtpu_rt_write(&rt, hbm, &w, 4), VTPU_DRV_EINVAL);
    st_note("-> %s", vtpu_rt_error(&rt));
    CHECK(strstr(vtpu_rt_error(&rt), "not in a buffer of this process"));
    CHECK_EQ(vtpu_rt_read(&rt, hbm + 64, &w, 4), VTPU_DRV_EINVAL);
}

/* Slots are the file's: load until none is free, unload, load again. */
static void test_module_slots(void)
{
    static vtpu_module m[40];
    unsigned n = 0;
    int rc = 0;

    while (n < 40 && !(rc = vtpu_rt_module_load(&rt, &m[n], st.kernels_elf,
                                                st.kernels_len)))
        n++;
    CHECK_EQ(rc, VTPU_RT_ENOSLOT);
    st_note("%u more modules loaded, then -> %s", n, vtpu_rt_error(&rt));
    CHECK(n >= 1);
    for (unsigned i = 0; i < n; i++)
        vtpu_rt_module_unload(&rt, &m[i]);
    CHECK_OK(vtpu_rt_module_load(&rt, &m[0], st.kernels_elf, st.kernels_len));
    vtpu_rt_module_unload(&rt, &m[0]);
    /* a slot that is not the file's */
    CHECK(unload(fd, 99) < 0);
}

/* Exit codes come back through WAIT; with CHECK_EXIT a non-zero one
 * fails the job (JOB_ERROR: EXIT_CODE). */
static void test_launch_exit_code(void)
{
    struct drm_vtpu_wait w;
    struct drm_vtpu_job_error je;
    char line[VTPU_RT_ERR_LEN];
    unsigned tcs = vtpu_rt_info(&rt)->num_tcs;
    int slot = load_tiny(fd, prog_exit_a2, 3);

    CHECK(slot >= 0);
    int64_t seq = submit(fd, (uint32_t)slot, 0, 7, NULL, 0, 0);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 10000 * MS, &w), 0);
    CHECK_EQ(w.status, 0);
    CHECK_EQ(w.exit_code, 7);
    for (unsigned t = 0; t < tcs; t++)
        CHECK_EQ(w.tc_exit[t], 7);
    CHECK(w.instret[0] >= 3);
    seq = submit(fd, (uint32_t)slot, 1, 9, NULL, 0,
                 DRM_VTPU_SUBMIT_CHECK_EXIT);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 10000 * MS, &w), 0);
    CHECK_EQ(w.status, -EIO);
    CHECK_EQ(job_error(fd, (uint64_t)seq, &je, line, sizeof(line)), 0);
    st_note("-> job %lld: %s", (long long)seq, line);
    CHECK_EQ(je.code, VTPU_E_EXIT_CODE);
    CHECK_EQ((int32_t)je.value, 9);
    /* the device goes on */
    seq = submit(fd, (uint32_t)slot, 1, 0, NULL, 0,
                 DRM_VTPU_SUBMIT_CHECK_EXIT);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 10000 * MS, &w), 0);
    CHECK_EQ(w.status, 0);
    CHECK_EQ(unload(fd, (uint32_t)slot), 0);
}

/* A TC fault: the job fails with the TC, pc and fault, nothing else. */
static void test_err_fault(void)
{
    struct drm_vtpu_wait w;
    struct drm_vtpu_job_error je;
    char line[VTPU_RT_ERR_LEN];
    int slot = load_tiny(fd, prog_ebreak, 2);

    CHECK(slot >= 0);
    int64_t seq = submit(fd, (uint32_t)slot, 1, 0, NULL, 0, 0);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 10000 * MS, &w), 0);
    CHECK_EQ(w.status, -EIO);
    CHECK_EQ(job_error(fd, (uint64_t)seq, &je, line, sizeof(line)), 0);
    st_note("-> job %lld: %s", (long long)seq, line);
    CHECK_EQ(je.code, VTPU_E_FAULT);
    CHECK_EQ(je.kind, VTPU_FAULT_EBREAK);
    CHECK_EQ(je.tc, 0);
    CHECK_EQ(je.pc, 0x00100004);
    CHECK_EQ(unload(fd, (uint32_t)slot), 0);
    st_run_add_sin(1, 2); /* and the device goes on */
}

/* add_sin_f32's descriptor written by hand into a BO of its own (what
 * vtpu_rt_run does), so that the BO list can leave operands out. */
static void test_isolation(void)
{
    const uint32_t grid = 4, rows = grid * 8, n = rows * 128;
    uint32_t shape[2] = {rows, 128}, k;
    vtpu_rt_array a[3];
    uint64_t desc;
    float x[4 * 8 * 128];
    struct drm_vtpu_wait w;
    struct drm_vtpu_job_error je;
    char line[VTPU_RT_ERR_LEN];

    CHECK_OK(vtpu_rt_kernel_find(&rt, &mod, "add_sin_f32", &k));
    for (int i = 0; i < 3; i++)
        CHECK_OK(vtpu_rt_array_alloc(&rt, &a[i], VTPU_F32, 2, shape));
    for (uint32_t i = 0; i < n; i++)
        x[i] = (float)i * 1e-4f;
    CHECK_OK(vtpu_rt_write(&rt, a[0].hbm, x, sizeof(x)));
    CHECK_OK(vtpu_rt_write(&rt, a[1].hbm, x, sizeof(x)));
    CHECK_OK(vtpu_rt_fill(&rt, a[2].hbm, sizeof(x), 0));
    CHECK_OK(vtpu_rt_alloc(&rt, 4096, 0, &desc));

    vtpu_launch L;
    memset(&L, 0, sizeof(L));
    L.magic = VTPU_LAUNCH_MAGIC;
    L.version = VTPU_LAUNCH_VERSION;
    L.size = sizeof(L);
    L.kernel = k;
    L.flags = VTPU_LAUNCH_F_STATUS;
    L.grid_rank = 1;
    L.grid[0] = grid;
    L.semantics[0] = VTPU_PARALLEL;
    L.num_operands = 3;
    L.num_sems = (uint16_t)vtpu_rt_info(&rt)->num_sems;
    L.vmem_size = vtpu_rt_info(&rt)->vmem_size;
    L.status_hbm = desc + sizeof(L);
    for (int i = 0; i < 3; i++) {
        L.operands[i].hbm = a[i].hbm;
        L.operands[i].dtype = VTPU_F32;
        L.operands[i].rank = 2;
        L.operands[i].shape[0] = rows;
        L.operands[i].shape[1] = 128;
    }
    CHECK_OK(vtpu_rt_write(&rt, desc, &L, sizeof(L)));
    uint32_t bos[4] = {vtpu_rt_linux_handle(&rt, desc),
                       vtpu_rt_linux_handle(&rt, a[0].hbm),
                       vtpu_rt_linux_handle(&rt, a[1].hbm),
                       vtpu_rt_linux_handle(&rt, a[2].hbm)};

    /* the output's BO left out: the write-back DMA faults */
    int64_t seq = submit(fd, mod.slot, 1, (uint32_t)desc, bos, 3, 0);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 30000 * MS, &w), 0);
    CHECK_EQ(w.status, -EIO);
    CHECK_EQ(job_error(fd, (uint64_t)seq, &je, line, sizeof(line)), 0);
    st_note("-> without the output's BO: %s", line);
    CHECK_EQ(je.code, VTPU_E_FAULT);
    CHECK_EQ(je.kind, VTPU_FAULT_DMA);
    CHECK(je.addr >= a[2].hbm && je.addr < a[2].hbm + sizeof(x));
    CHECK(strstr(je.message, "granted") != NULL);
    float o[4 * 8 * 128];
    CHECK_OK(vtpu_rt_read(&rt, a[2].hbm, o, sizeof(o)));
    for (uint32_t i = 0; i < n; i++)
        CHECK_EQ(o[i], 0.0f); /* nothing was written */

    /* an input's BO left out: the first read faults */
    uint32_t bos2[3] = {bos[0], bos[2], bos[3]};
    seq = submit(fd, mod.slot, 1, (uint32_t)desc, bos2, 3, 0);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 30000 * MS, &w), 0);
    CHECK_EQ(w.status, -EIO);
    CHECK_EQ(job_error(fd, (uint64_t)seq, &je, line, sizeof(line)), 0);
    CHECK_EQ(je.kind, VTPU_FAULT_DMA);
    CHECK(je.addr >= a[0].hbm && je.addr < a[0].hbm + sizeof(x));

    /* every BO given: it runs */
    seq = submit(fd, mod.slot, 1, (uint32_t)desc, bos, 4, 0);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 30000 * MS, &w), 0);
    CHECK_EQ(w.status, 0);
    CHECK_EQ(w.exit_code, 0);
    CHECK_OK(vtpu_rt_read(&rt, a[2].hbm, o, sizeof(o)));
    for (uint32_t i = 0; i < n; i++)
        CHECK(fabsf(o[i] - sinf((x[i] + x[i]) * 2.0f)) <= 1e-6f);
    for (int i = 0; i < 3; i++)
        vtpu_rt_free(&rt, a[i].hbm);
    vtpu_rt_free(&rt, desc);
}

/* Two files of one process: neither can use the other's BOs or slots;
 * both run launches. */
static void test_two_files(void)
{
    static vtpu_rt rt2;
    static vtpu_module m2;
    uint64_t hbm2;

    CHECK_OK(vtpu_rt_open_linux(&rt2, node));
    int fd2 = vtpu_rt_linux_fd(&rt2);
    CHECK(fd2 >= 0 && fd2 != fd);
    CHECK_OK(vtpu_rt_alloc(&rt2, 4096, 0, &hbm2));
    uint32_t h2 = vtpu_rt_linux_handle(&rt2, hbm2);
    CHECK(h2 != 0);
    int slot2 = load_tiny(fd2, prog_exit_a2, 3);
    CHECK(slot2 >= 0);
    CHECK((uint32_t)slot2 != mod.slot); /* slots are the device's */
    /* fd naming fd2's slot is refused */
    int64_t seq = submit(fd, (uint32_t)slot2, 1, 0, NULL, 0, 0);
    st_note("SUBMIT of another file's slot %d -> %s", slot2,
            seq < 0 ? strerror((int)-seq) : "accepted");
    CHECK(seq < 0);
    /* a handle of fd2 on fd names nothing (or another BO of fd) */
    struct drm_vtpu_bo_info bi = {.handle = h2};
    if (xioctl(fd, DRM_IOCTL_VTPU_BO_INFO, &bi) == 0)
        CHECK(bi.hbm_offset != hbm2);
    CHECK_OK(vtpu_rt_module_load(&rt2, &m2, st.kernels_elf, st.kernels_len));
    vtpu_rt *save = st.rt;
    vtpu_module *savem = st.mod;
    st.rt = &rt2;
    st.mod = &m2;
    st_run_add_sin(1, 4);
    st.rt = save;
    st.mod = savem;
    st_run_add_sin(1, 4);
    vtpu_rt_fini(&rt2); /* closes fd2: its BOs and slots go */
}

/* WAIT with no time polls; a launch that never ends is stopped by the
 * driver's job timeout (a device reset) and the device goes on, the
 * runtime's module still loaded. */
static void test_wait_and_job_timeout(void)
{
    struct drm_vtpu_wait w;
    uint64_t jt = param(fd, DRM_VTPU_PARAM_JOB_TIMEOUT_MS);
    int slot = load_tiny(fd, prog_spin, 1);

    CHECK(slot >= 0);
    if (jt > 15000) {
        st_note("job timeout %llu ms: too long to wait for, spin skipped",
                (unsigned long long)jt);
        CHECK_EQ(unload(fd, (uint32_t)slot), 0);
        return;
    }
    int64_t seq = submit(fd, (uint32_t)slot, 1, 0, NULL, 0, 0);
    CHECK(seq > 0);
    CHECK_EQ(wait_job(fd, (uint64_t)seq, 0, &w), -ETIME);
    uint64_t t0 = lu_now_ns();
    CHECK_EQ(wait_job(fd, (uint64_t)seq, (int64_t)(2 * jt + 10000) * MS, &w),
             0);
    uint64_t took = (lu_now_ns() - t0) / MS;
    CHECK_EQ(w.status, -ETIMEDOUT);
    st_note("the spinning job ended after %llu ms (job timeout %llu ms)",
            (unsigned long long)took, (unsigned long long)jt);
    CHECK_EQ(unload(fd, (uint32_t)slot), 0);
    st_run_add_sin(1, 2);
}

/* ------------------------------------------------------------------ */

#define T ST_TEST
static const st_test tests[] = {
    T(params),           T(rt_copies),           T(bo_alloc_free),
    T(mmap_and_bo_rw),   T(bo_rw_path),          T(hbm_outside_buffers),
    T(module_load),
    T(module_slots),     T(launch_1tc),          T(launch_all_tcs),
    T(launch_kernel_error), T(launch_exit_code), T(err_fault),
    T(isolation),        T(two_files),           T(wait_and_job_timeout),
};

int main(int argc, char **argv)
{
    const unsigned n = sizeof(tests) / sizeof(tests[0]);
    const char *only[16];
    unsigned nonly = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            node = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc && nonly < 16)
            only[nonly++] = argv[++i];
        else {
            fprintf(stderr, "usage: vtpu-selftest [--device NODE] "
                            "[--only TEST]...\n");
            return 2;
        }
    }
    printf("vtpu-selftest: runtime (linux backend) and uAPI through the "
           "kernel driver\n");
    size_t klen, slen;
    void *kelf = lu_read_file(LU_KERNELS_ELF, &klen);
    void *self = lu_read_file(LU_SELFTEST_ELF, &slen);
    if (!kelf || !self) {
        printf("vtpu-selftest: cannot read %s or %s\n", LU_KERNELS_ELF,
               LU_SELFTEST_ELF);
        return 1;
    }
    st = (st_env){.rt = &rt,
                  .mod = &mod,
                  .kernels_elf = kelf,
                  .kernels_len = klen,
                  .selftest_elf = self,
                  .selftest_len = slen,
                  .now_ns = lu_now_ns};
    if (vtpu_rt_open_linux(&rt, node) ||
        vtpu_rt_module_load(&rt, &mod, kelf, klen)) {
        printf("vtpu-selftest: set-up failed: %s\n", vtpu_rt_error(&rt));
        return 1;
    }
    fd = vtpu_rt_linux_fd(&rt);
    const vtpu_drv_info *info = vtpu_rt_info(&rt);
    printf("device: %s, %u TCs, %s\n", info->gen, info->num_tcs,
           node ? node : VTPU_LINUX_DEFAULT_NODE);

    st_test sel[sizeof(tests) / sizeof(tests[0])];
    unsigned nsel = 0;
    for (unsigned i = 0; i < n; i++) {
        int want = !nonly;
        for (unsigned j = 0; j < nonly; j++)
            want |= !strcmp(only[j], tests[i].name);
        if (want)
            sel[nsel++] = tests[i];
    }
    uint64_t t_all = lu_now_ns();
    int failed = st_run_tests(sel, nsel, NULL);
    const vtpu_rt_linux_stats *s = vtpu_rt_linux_get_stats(&rt);
    printf("vtpu-selftest: %u tests, %d failed, %llu ms; %llu jobs, %llu BOs "
           "created\n",
           nsel, failed, (unsigned long long)((lu_now_ns() - t_all) / MS),
           (unsigned long long)s->submits, (unsigned long long)s->bo_created);
    vtpu_rt_module_unload(&rt, &mod);
    vtpu_rt_fini(&rt);
    free(kelf);
    free(self);
    return failed;
}
