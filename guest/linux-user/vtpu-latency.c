/*
 * vtpu-latency.c (Linux user space) - launch latency and throughput of
 * the vtpu as a Linux process sees them through the kernel driver, the
 * counterpart of the bare-metal guest/bench/vtpu-latency.c (same metric
 * names, so guest/run-bench.sh puts the two side by side).
 *
 * Prints one JSON line per measurement (bench/results format, "bench":
 * "guest-linux", times from CLOCK_MONOTONIC).  Measurements:
 *   launch_sync      SUBMIT of an empty program (exit 0, no TC runtime;
 *                    MODULE_LOAD of a tiny ELF) on 1 TC, then WAIT until
 *                    its fence is signalled: one at a time.  The
 *                    bare-metal launch_sync is LAUNCH + FENCE + wait, both
 *                    woken by the device's interrupt.  Also split into
 *                    the SUBMIT ioctl and the wait (medians).
 *   launch_sync_poll the same, polling the fence with WAIT of no time
 *   launch_stream    the same launches submitted back to back, one WAIT
 *                    for the last at the end: launches per second (when
 *                    the driver's queue is full, the oldest is waited for)
 *   submit           the SUBMIT ioctl alone (from launch_stream)
 *   rt_nop0          vtpu_rt_run of the library's nop0 kernel, grid (1,):
 *                    the whole runtime path (descriptor written through
 *                    the BO's mapping, SUBMIT with its BOs, WAIT, status
 *                    records read back)
 *
 *   vtpu-latency [--device NODE] [-n N]
 *
 * Exit status: 0, or 1 if anything failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "linux-user.h"
#include "tiny_elf.h"
#include "vtpu_accel.h"
#include "vtpu_rt_linux.h"

#define MAX_N 4000

static vtpu_rt rt;
static vtpu_module mod;
static int fd;
static uint64_t samples[MAX_N];
static uint32_t empty_slot;
static uint32_t bo_list[1];
static uint32_t nbos; /* 0, or 1 if the driver wants a BO per launch */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void report(const char *metric, unsigned n, uint64_t total_ns,
                   const char *extra)
{
    qsort(samples, n, sizeof(samples[0]), cmp_u64);
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += samples[i];
    printf("{\"bench\":\"guest-linux\",\"metric\":\"%s\",\"n\":%u,"
           "\"per_second\":%.0f,\"mean_us\":%.2f,\"median_us\":%.2f,"
           "\"min_us\":%.2f,\"p90_us\":%.2f,\"max_us\":%.2f,"
           "\"clock\":\"CLOCK_MONOTONIC\"%s%s}\n",
           metric, n, (double)n * 1e9 / (double)total_ns, (double)sum / n / 1e3,
           (double)samples[n / 2] / 1e3, (double)samples[0] / 1e3,
           (double)samples[n * 9 / 10] / 1e3, (double)samples[n - 1] / 1e3,
           extra ? "," : "", extra ? extra : "");
    fflush(stdout);
}

/* SUBMIT of the empty program: the seqno, or -errno. */
static int64_t submit_empty(void)
{
    struct drm_vtpu_submit s = {.slot = empty_slot,
                                .num_tcs = 1,
                                .bo_handles = (uintptr_t)bo_list,
                                .num_bos = nbos};
    int rc;
    do
        rc = ioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &s);
    while (rc == -1 && errno == EINTR);
    return rc ? -errno : (int64_t)s.seqno;
}

/* WAIT for job `seq` (poll: WAIT with no time, again until it is done). */
static int wait_job(uint64_t seq, int poll)
{
    struct drm_vtpu_wait w = {.seqno = seq,
                              .timeout_ns = poll ? 0 : 30000000000ll};
    int rc;
    do
        rc = ioctl(fd, DRM_IOCTL_VTPU_WAIT, &w);
    while (rc == -1 && (errno == EINTR || (poll && errno == ETIME)));
    if (rc) {
        fprintf(stderr, "vtpu-latency: WAIT %llu: %s\n",
                (unsigned long long)seq, strerror(errno));
        return -1;
    }
    if (w.status) {
        fprintf(stderr, "vtpu-latency: job %llu: status %d\n",
                (unsigned long long)seq, w.status);
        return -1;
    }
    return 0;
}

static int wait_seq(uint64_t seq)
{
    return wait_job(seq, 0);
}

static int set_up_empty(void)
{
    static const uint32_t code[] = TINY_EXIT_0;
    static uint8_t img[TINY_ELF_SIZE(3)];
    size_t len = tiny_elf(img, code, 3);
    struct drm_vtpu_module_load m;

    memset(&m, 0, sizeof(m));
    m.image_ptr = (uintptr_t)img;
    m.image_size = len;
    if (ioctl(fd, DRM_IOCTL_VTPU_MODULE_LOAD, &m)) {
        fprintf(stderr, "vtpu-latency: MODULE_LOAD: %s %s\n", strerror(errno),
                m.error);
        return -1;
    }
    empty_slot = m.slot;
    /* A launch with no BO at all, if the driver takes it; else one. */
    int64_t seq = submit_empty();
    if (seq < 0) {
        uint64_t hbm;
        if (vtpu_rt_alloc(&rt, 4096, 0, &hbm))
            return -1;
        bo_list[0] = vtpu_rt_linux_handle(&rt, hbm);
        nbos = 1;
        seq = submit_empty();
        if (seq < 0) {
            fprintf(stderr, "vtpu-latency: SUBMIT: %s\n",
                    strerror((int)-seq));
            return -1;
        }
    }
    return wait_seq((uint64_t)seq);
}

/* One launch at a time: SUBMIT, then WAIT until its fence is signalled
 * (blocking: woken by the driver's interrupt handler; poll: WAIT with no
 * time until done).  The extra fields split each launch into the SUBMIT
 * ioctl and the wait. */
static int bench_launch_sync(unsigned n, int poll)
{
    static uint64_t sub[MAX_N], wt[MAX_N];
    uint64_t t_all = lu_now_ns();
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = lu_now_ns();
        int64_t seq = submit_empty();
        uint64_t t1 = lu_now_ns();
        if (seq < 0 || wait_job((uint64_t)seq, poll))
            return -1;
        uint64_t t2 = lu_now_ns();
        samples[i] = t2 - t0;
        sub[i] = t1 - t0;
        wt[i] = t2 - t1;
    }
    uint64_t total = lu_now_ns() - t_all;
    qsort(sub, n, sizeof(sub[0]), cmp_u64);
    qsort(wt, n, sizeof(wt[0]), cmp_u64);
    char extra[160];
    snprintf(extra, sizeof(extra),
             "\"bos\":%u,\"submit_median_us\":%.2f,\"wait_median_us\":%.2f",
             nbos, (double)sub[n / 2] / 1e3, (double)wt[n / 2] / 1e3);
    report(poll ? "launch_sync_poll" : "launch_sync", n, total, extra);
    return 0;
}

static int bench_launch_stream(unsigned n)
{
    static uint64_t seqs[MAX_N];
    static uint64_t sub[MAX_N];
    unsigned waited = 0, full = 0;
    uint64_t t0 = lu_now_ns(), prev = t0;

    for (unsigned i = 0; i < n; i++) {
        uint64_t ts = lu_now_ns();
        int64_t seq = submit_empty();
        while (seq == -EBUSY || seq == -EAGAIN || seq == -ENOSPC) {
            full++; /* the driver's queue is full: wait for the oldest */
            if (waited >= i || wait_seq(seqs[waited++]))
                return -1;
            ts = lu_now_ns();
            seq = submit_empty();
        }
        if (seq < 0) {
            fprintf(stderr, "vtpu-latency: SUBMIT: %s\n",
                    strerror((int)-seq));
            return -1;
        }
        uint64_t t = lu_now_ns();
        seqs[i] = (uint64_t)seq;
        sub[i] = t - ts;
        samples[i] = t - prev; /* submission interval */
        prev = t;
    }
    if (wait_seq(seqs[n - 1]))
        return -1;
    uint64_t total = lu_now_ns() - t0;
    char extra[96];
    snprintf(extra, sizeof(extra), "\"queue_full\":%u,\"bos\":%u", full,
             nbos);
    report("launch_stream", n, total, extra);
    memcpy(samples, sub, n * sizeof(sub[0]));
    report("submit", n, total, NULL);
    return 0;
}

static int bench_rt_nop0(unsigned n)
{
    vtpu_rt_launch l = {.num_tcs = 1,
                        .grid_rank = 1,
                        .grid = {1},
                        .semantics = {VTPU_PARALLEL}};
    if (vtpu_rt_kernel_find(&rt, &mod, "nop0", &l.kernel))
        return -1;
    uint64_t t_all = lu_now_ns();
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = lu_now_ns();
        if (vtpu_rt_run(&rt, &mod, &l, NULL))
            return -1;
        samples[i] = lu_now_ns() - t0;
    }
    report("rt_nop0", n, lu_now_ns() - t_all, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *node = NULL;
    unsigned n = 500;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            node = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: vtpu-latency [--device NODE] [-n N]\n");
            return 2;
        }
    }
    if (n < 10 || n > MAX_N / 2)
        n = 500;
    size_t len;
    void *elf = lu_read_file(LU_KERNELS_ELF, &len);
    if (!elf) {
        printf("vtpu-latency: cannot read %s\n", LU_KERNELS_ELF);
        return 1;
    }
    if (vtpu_rt_open_linux(&rt, node) ||
        vtpu_rt_module_load(&rt, &mod, elf, len)) {
        printf("vtpu-latency: set-up failed: %s\n", vtpu_rt_error(&rt));
        return 1;
    }
    fd = vtpu_rt_linux_fd(&rt);
    if (set_up_empty())
        return 1;
    printf("vtpu-latency: %s, %u TCs, Linux user space, CLOCK_MONOTONIC\n",
           vtpu_rt_info(&rt)->gen, vtpu_rt_info(&rt)->num_tcs);
    int bad = 0;
    if (bench_launch_sync(n, 0))
        bad = printf("launch_sync failed\n");
    if (bench_launch_sync(n, 1))
        bad = printf("launch_sync_poll failed\n");
    if (bench_launch_stream(4 * n))
        bad = printf("launch_stream failed\n");
    if (bench_rt_nop0(n * 3 / 5))
        bad = printf("rt_nop0 failed: %s\n", vtpu_rt_error(&rt));
    vtpu_rt_fini(&rt);
    free(elf);
    return bad ? 1 : 0;
}
