/*
 * vtpu-latency.c - launch throughput and completion latency of the vtpu
 * as the guest sees them, in guest time (the CLINT's mtime; under TCG
 * without -icount it follows the host's clock).
 *
 * Prints one JSON line per measurement (bench/results format, "bench":
 * "guest"); guest/run-bench.sh collects them.  Measurements:
 *   launch_sync      LAUNCH of an empty program (exit 0, no TC runtime)
 *                    on 1 TC, then a fence and wait: one at a time
 *   launch_stream    the same launches queued back to back, one sync at
 *                    the end: launches per second
 *   rt_nop0          vtpu_rt_run of the library's nop0 kernel, grid (1,):
 *                    the whole runtime path (descriptor upload, status
 *                    records read back); rt_nop0_poll the same polling
 *   fence_irq        doorbell of a FENCE with F_IRQ -> the guest's PLIC
 *                    interrupt handler running
 *   fence_poll       doorbell of a FENCE -> the FENCE register read back
 *                    with the new value (polling)
 *   mmio_read        a read of SCRATCH: the guest's MMIO round trip into
 *                    the device model, the floor under every figure above
 * launch_sync, fence_irq and rt_nop0(_poll) also give the medians of the
 * device's latency probes (LAT_* registers, docs/registers.md) read
 * after each sample: "dev_wake_us" doorbell -> the worker starts,
 * "dev_run_us" the engine's run of the launch, "dev_busy_us" doorbell ->
 * the last command done, "dev_irq_us" done -> interrupt raised,
 * "dev_deliver_us" raised -> QEMU delivered it, and the guest's side:
 * "handler_us" doorbell -> the interrupt handler runs, "woken_us"
 * doorbell -> the waiter has seen the completion.
 * Exit status: 0, or 1 if anything failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "kernels.h"
#include "tiny_elf.h"
#include "vtpu_rt.h"

#define SLOT_EMPTY 15
#define MAX_N 2000

static guest_vtpu gv;
static vtpu_drv drv;
static vtpu_rt rt;
static vtpu_module mod;
static uint64_t samples[MAX_N];

/* Per-sample breakdown (ns): the device's probes and the guest's side. */
enum { P_WAKE, P_RUN, P_BUSY, P_IRQ, P_DELIVER, P_HANDLER, P_WOKEN, P__N };
static const char *const probe_key[P__N] = {
    "dev_wake_us",    "dev_run_us", "dev_busy_us", "dev_irq_us",
    "dev_deliver_us", "handler_us", "woken_us"};
static uint64_t probes[P__N][MAX_N];
static unsigned nprobe[P__N];

static void probe_add(unsigned p, uint64_t ns)
{
    if (nprobe[p] < MAX_N)
        probes[p][nprobe[p]++] = ns;
}

/* The device's probes for the sample just taken (LAT_IRQ and
 * LAT_DELIVER only when an interrupt was taken for it). */
static void probe_device(int irq_taken)
{
    if (!(vtpu_drv_info_get(&drv)->caps & VTPU_FMASK(CAPS, LATENCY)))
        return;
    probe_add(P_WAKE, vtpu_drv_read_reg(&drv, VTPU_A_LAT_WAKE));
    probe_add(P_BUSY, vtpu_drv_read_reg(&drv, VTPU_A_LAT_BUSY));
    if (irq_taken) {
        probe_add(P_IRQ, vtpu_drv_read_reg(&drv, VTPU_A_LAT_IRQ));
        probe_add(P_DELIVER, vtpu_drv_read_reg(&drv, VTPU_A_LAT_DELIVER));
    }
}

static void probe_reset(void)
{
    memset(nprobe, 0, sizeof(nprobe));
}

static int cmp_u64(const void *a, const void *b);

/* ",\"dev_wake_us\":1.2,..." : the medians of the probes taken. */
static void probe_format(char *buf, size_t len)
{
    size_t at = 0;

    buf[0] = 0;
    for (unsigned p = 0; p < P__N && at < len; p++) {
        if (!nprobe[p])
            continue;
        qsort(probes[p], nprobe[p], sizeof(probes[p][0]), cmp_u64);
        at += (size_t)snprintf(buf + at, len - at, "%s\"%s\":%.2f",
                               at ? "," : "", probe_key[p],
                               (double)probes[p][nprobe[p] / 2] / 1e3);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* One JSON line: per-operation statistics of samples[0..n) (ns). */
static void report(const char *metric, unsigned n, uint64_t total_ns,
                   const char *extra)
{
    qsort(samples, n, sizeof(samples[0]), cmp_u64);
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += samples[i];
    printf("{\"bench\":\"guest\",\"metric\":\"%s\",\"n\":%u,"
           "\"per_second\":%.0f,\"mean_us\":%.2f,\"median_us\":%.2f,"
           "\"min_us\":%.2f,\"p90_us\":%.2f,\"max_us\":%.2f,"
           "\"clock\":\"guest mtime\"%s%s}\n",
           metric, n, (double)n * 1e9 / (double)total_ns, (double)sum / n / 1e3,
           (double)samples[n / 2] / 1e3, (double)samples[0] / 1e3,
           (double)samples[n * 9 / 10] / 1e3, (double)samples[n - 1] / 1e3,
           extra ? "," : "", extra ? extra : "");
}

/* The empty program: exit(0) at once, no TC runtime. */
static int load_empty(void)
{
    static const uint32_t code[] = TINY_EXIT_0;
    static uint8_t img[TINY_ELF_SIZE(3)];
    size_t len = tiny_elf(img, code, 3);

    uint64_t hbm;
    int rc = vtpu_rt_alloc(&rt, len, 0, &hbm);
    if (!rc)
        rc = vtpu_rt_write(&rt, hbm, img, len);
    if (!rc)
        rc = vtpu_drv_load_program(&drv, SLOT_EMPTY, hbm, len);
    if (!rc)
        rc = vtpu_drv_sync(&drv);
    vtpu_rt_free(&rt, hbm);
    return rc;
}

static int bench_launch_sync(unsigned n)
{
    vtpu_drv_launch_desc l = {.slot = SLOT_EMPTY, .num_tcs = 1};
    uint64_t t_all = guest_now_ns();
    char extra[512];

    probe_reset();
    for (unsigned i = 0; i < n; i++) {
        uint64_t irqs = gv.irq_count;
        uint64_t t0 = guest_now_ns();
        if (vtpu_drv_launch(&drv, &l) || vtpu_drv_sync(&drv))
            return -1;
        uint64_t t1 = guest_now_ns();
        samples[i] = t1 - t0;
        int irq = gv.irq_count != irqs && gv.last_irq_ns >= t0;
        if (irq)
            probe_add(P_HANDLER, gv.last_irq_ns - t0);
        probe_add(P_WOKEN, t1 - t0);
        probe_add(P_RUN, vtpu_drv_read_reg(&drv, VTPU_A_LAT_RUN));
        probe_device(irq);
    }
    probe_format(extra, sizeof(extra));
    report("launch_sync", n, guest_now_ns() - t_all, extra);
    return 0;
}

static int bench_launch_stream(unsigned n)
{
    vtpu_drv_launch_desc l = {.slot = SLOT_EMPTY, .num_tcs = 1};
    uint32_t c0 = vtpu_drv_read_reg(&drv, VTPU_A_LAUNCH_COUNT);
    uint64_t t0 = guest_now_ns(), prev = t0;

    for (unsigned i = 0; i < n; i++) {
        if (vtpu_drv_launch(&drv, &l))
            return -1;
        uint64_t t = guest_now_ns();
        samples[i] = t - prev; /* submission interval (back-pressure) */
        prev = t;
    }
    if (vtpu_drv_sync(&drv))
        return -1;
    uint64_t total = guest_now_ns() - t0;
    if (vtpu_drv_read_reg(&drv, VTPU_A_LAUNCH_COUNT) - c0 != n)
        return -1;
    report("launch_stream", n, total, NULL);
    return 0;
}

static int bench_rt_nop0(unsigned n, int irq)
{
    vtpu_rt_launch l = {.num_tcs = 1,
                        .grid_rank = 1,
                        .grid = {1},
                        .semantics = {VTPU_PARALLEL}};
    if (vtpu_rt_kernel_find(&rt, &mod, "nop0", &l.kernel))
        return -1;
    vtpu_drv_use_irq(&drv, irq);
    uint64_t t_all = guest_now_ns();
    char extra[512];
    probe_reset();
    for (unsigned i = 0; i < n; i++) {
        uint64_t irqs = gv.irq_count;
        uint64_t t0 = guest_now_ns();
        if (vtpu_rt_run(&rt, &mod, &l, NULL))
            return -1;
        samples[i] = guest_now_ns() - t0;
        probe_add(P_RUN, vtpu_drv_read_reg(&drv, VTPU_A_LAT_RUN));
        /* one wait per run (the ring backend's launch_copies) */
        probe_device(irq && gv.irq_count != irqs && gv.last_irq_ns >= t0);
    }
    vtpu_drv_use_irq(&drv, 1);
    probe_format(extra, sizeof(extra));
    report(irq ? "rt_nop0" : "rt_nop0_poll", n, guest_now_ns() - t_all, extra);
    return 0;
}

static int bench_fence_irq(unsigned n)
{
    unsigned got = 0, missed = 0;
    uint64_t t_all = guest_now_ns();

    vtpu_drv_use_irq(&drv, 1);
    probe_reset();
    for (unsigned i = 0; i < n; i++) {
        uint32_t seq;
        uint64_t irqs = gv.irq_count;
        uint64_t t0 = guest_now_ns();
        if (vtpu_drv_fence(&drv, &seq) || vtpu_drv_wait(&drv, seq))
            return -1;
        uint64_t t1 = guest_now_ns();
        if (gv.irq_count != irqs && gv.last_irq_ns >= t0) {
            samples[got++] = gv.last_irq_ns - t0;
            probe_add(P_WOKEN, t1 - t0);
            probe_device(1);
        } else {
            missed++; /* completed before the wait, or by the level */
        }
    }
    if (!got)
        return -1;
    char extra[512];
    int at = snprintf(extra, sizeof(extra), "\"fences\":%u,\"without_irq\":%u,",
                      n, missed);
    probe_format(extra + at, sizeof(extra) - (size_t)at);
    report("fence_irq", got, guest_now_ns() - t_all, extra);
    return 0;
}

static int bench_fence_poll(unsigned n)
{
    uint64_t t_all = guest_now_ns();

    vtpu_drv_use_irq(&drv, 0);
    for (unsigned i = 0; i < n; i++) {
        uint32_t seq;
        uint64_t t0 = guest_now_ns();
        if (vtpu_drv_fence(&drv, &seq) || vtpu_drv_wait(&drv, seq))
            return -1;
        samples[i] = guest_now_ns() - t0;
    }
    vtpu_drv_use_irq(&drv, 1);
    report("fence_poll", n, guest_now_ns() - t_all, NULL);
    return 0;
}

/* The floor: one MMIO read of a register with no side effects. */
static int bench_mmio_read(unsigned n)
{
    uint64_t t_all = guest_now_ns();

    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = guest_now_ns();
        (void)vtpu_drv_read_reg(&drv, VTPU_A_SCRATCH);
        samples[i] = guest_now_ns() - t0;
    }
    report("mmio_read", n, guest_now_ns() - t_all, NULL);
    return 0;
}

int main(void)
{
    guest_pci_init();
    if (guest_vtpu_open(&gv, 1)) {
        printf("vtpu-latency: no vtpu on PCI\n");
        return 1;
    }
    int rc = vtpu_drv_probe(&drv, &gv.plat);
    if (!rc)
        rc = vtpu_drv_init(&drv, 1024);
    if (!rc)
        rc = vtpu_rt_init(&rt, &drv, NULL);
    if (!rc)
        rc = vtpu_rt_module_load(&rt, &mod, vtpu_kernels_elf,
                                 vtpu_kernels_elf_len);
    if (!rc)
        rc = load_empty();
    if (rc) {
        printf("vtpu-latency: set-up failed: %s %s\n", vtpu_rt_strerror(rc),
               vtpu_rt_error(&rt));
        return 1;
    }
    printf("vtpu-latency: %s, %u TCs, guest time from mtime (%u Hz)\n",
           vtpu_drv_info_get(&drv)->gen, vtpu_drv_info_get(&drv)->num_tcs,
           VIRT_TIMEBASE_HZ);
    int bad = 0;
    if (bench_launch_sync(500))
        bad = printf("launch_sync failed: %s\n", vtpu_rt_error(&rt));
    if (bench_launch_stream(MAX_N))
        bad = printf("launch_stream failed\n");
    if (bench_rt_nop0(300, 1) || bench_rt_nop0(300, 0))
        bad = printf("rt_nop0 failed: %s\n", vtpu_rt_error(&rt));
    if (bench_fence_irq(1000))
        bad = printf("fence_irq failed\n");
    if (bench_fence_poll(1000))
        bad = printf("fence_poll failed\n");
    if (bench_mmio_read(MAX_N))
        bad = printf("mmio_read failed\n");
    vtpu_rt_fini(&rt);
    vtpu_drv_fini(&drv);
    return bad ? 1 : 0;
}
