/*
 * vtpu-slice.c (Linux user space) - collectives over every vtpu of the
 * VM through the kernel driver: the devices are chips of one vtpu-ici
 * slice (docs/multichip.md, "QEMU"), one runtime per /dev/accel/accelN
 * (the runtime's Linux backend), and the kernel library's collectives
 * launched with DRM_VTPU_SUBMIT_COLLECTIVE on every device before any is
 * waited for.  The chip mapping, the launches and the checks against
 * the host's reference are the bare-metal vtpu-slice-demo's
 * (guest/slice/slice-coll.c).
 *
 *   vtpu-slice [KERNELS.elf] [--seed N]
 *       all_reduce, reduce_scatter (f32, i32) and all_gather along every
 *       mesh axis, each chip's result compared bit for bit; then
 *       "vtpu-slice: PASS (N checks)" or "vtpu-slice: FAIL (...)".
 *   vtpu-slice --partial K [KERNELS.elf]
 *       a collective all_reduce_f32 launched on the first K devices only
 *       (by /dev/accel number), so it cannot run: every one of them must
 *       fail (the device's launch-timeout, the driver's job timeout, or
 *       the device refusing a collective on a chip in no slice), each
 *       error printed; then every device must run a normal launch.
 *       "vtpu-slice: PASS (...)" when all of that held.
 *
 * Devices: /dev/accel/accel0, accel1, ... up to the first that does not
 * exist.  Exit status: the failed checks (at most 100), 0 = PASS; 1 when
 * the devices or the module cannot be used; 2 usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linux-user.h"
#include "slice-coll.h"
#include "vtpu_accel.h"
#include "vtpu_rt_linux.h"

#define PROG "vtpu-slice"

static vtpu_rt rts[SC_MAX_CHIPS];
static vtpu_module mods[SC_MAX_CHIPS];
static sc_chip chips[SC_MAX_CHIPS];
static unsigned ndev;

/* "/dev/accel/accelN (PCI address)": how messages name the device. */
static void name_device(sc_chip *c, const char *node)
{
    char path[PATH_MAX], link[PATH_MAX] = "";
    const char *base = strrchr(node, '/') + 1;
    snprintf(path, sizeof(path), "/sys/class/accel/%s/device", base);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    const char *pci = "?";
    if (n > 0) {
        link[n] = 0;
        pci = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
    }
    snprintf(c->name, sizeof(c->name), "%s (%s)", node, pci);
}

/* Open every /dev/accel/accelN and load the module on each. */
static int open_all(const char *module)
{
    size_t len;
    void *elf = lu_read_file(module, &len);
    if (!elf) {
        printf(PROG ": cannot read %s: %s\n", module, strerror(errno));
        return -1;
    }
    for (ndev = 0; ndev < SC_MAX_CHIPS; ndev++) {
        char node[64];
        snprintf(node, sizeof(node), "/dev/accel/accel%u", ndev);
        if (access(node, F_OK))
            break;
        sc_chip *c = &chips[ndev];
        c->rt = &rts[ndev];
        c->mod = &mods[ndev];
        name_device(c, node);
        if (vtpu_rt_open_linux(c->rt, node) ||
            vtpu_rt_module_load(c->rt, c->mod, elf, len)) {
            printf(PROG ": %s: %s\n", c->name, vtpu_rt_error(c->rt));
            free(elf);
            return -1;
        }
        const vtpu_drv_info *in = vtpu_rt_info(c->rt);
        printf("%s: %s, %u TCs; job timeout %llu ms, collective wait %llu "
               "ms\n",
               c->name, in->gen, in->num_tcs,
               (unsigned long long)vtpu_rt_linux_param(
                   c->rt, DRM_VTPU_PARAM_JOB_TIMEOUT_MS),
               (unsigned long long)vtpu_rt_linux_param(
                   c->rt, DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS));
    }
    free(elf);
    printf(PROG ": %u vtpu device(s)\n", ndev);
    if (!ndev) {
        printf(PROG ": no /dev/accel/accel0 (is vtpu.ko loaded?)\n");
        return -1;
    }
    return 0;
}

/* The runtime status of a failed launch, as the system test names it. */
static const char *status_name(int rc)
{
    switch (rc) {
    case VTPU_DRV_EDEVICE:
        return "EDEVICE";
    case VTPU_DRV_ETIMEDOUT:
        return "ETIMEDOUT";
    case VTPU_DRV_ECANCELED:
        return "ECANCELED";
    case VTPU_DRV_EINVAL:
        return "EINVAL";
    }
    return "OTHER";
}

/*
 * A collective all_reduce_f32 on devices 0..k-1 only: each must fail,
 * since the other chips never launch.  Then a plain launch (slice_info,
 * sc_find_chips) on every device must work.  0 when all of that held.
 */
static int partial(sc_slice *s, unsigned k)
{
    static vtpu_rt_pending pend[SC_MAX_CHIPS];
    static vtpu_rt_launch l[SC_MAX_CHIPS];
    vtpu_rt_array x[SC_MAX_CHIPS], o[SC_MAX_CHIPS];
    uint32_t shape[2] = {8 * s->mesh[0], 128};
    int32_t axis = 0;
    unsigned started = 0, failed = 0;
    int bad = 0;

    printf(PROG ": collective all_reduce_f32 on %u of %u chips\n", k, s->ndev);
    for (unsigned d = 0; d < k && !bad; d++) {
        sc_chip *c = &s->dev[d];
        bad = vtpu_rt_array_alloc(c->rt, &x[d], VTPU_F32, 2, shape) ||
              vtpu_rt_array_alloc(c->rt, &o[d], VTPU_F32, 2, shape) ||
              vtpu_rt_fill(c->rt, x[d].hbm, vtpu_rt_array_bytes(&x[d]), 0);
        if (bad) {
            printf(PROG ": %s: %s\n", c->name, vtpu_rt_error(c->rt));
            return 1;
        }
        if (sc_collective_launch(s, c, "all_reduce_f32", &x[d], &o[d], &axis,
                                 &l[d]))
            return 1;
    }
    uint64_t t0 = lu_now_ns();
    for (; started < k; started++) {
        sc_chip *c = &s->dev[started];
        if (vtpu_rt_run_start(c->rt, c->mod, &l[started], &pend[started])) {
            printf(PROG ": %s: the collective launch did not start: %s\n",
                   c->name, vtpu_rt_error(c->rt));
            failed++;
            break;
        }
    }
    for (unsigned d = 0; d < started; d++) {
        sc_chip *c = &s->dev[d];
        int rc = vtpu_rt_run_finish(c->rt, &pend[d], NULL);
        double ms = (double)(lu_now_ns() - t0) / 1e6;
        if (rc) {
            failed++;
            printf(PROG ": %s: failed as expected after %.0f ms (%s): %s\n",
                   c->name, ms, status_name(rc), vtpu_rt_error(c->rt));
        } else {
            printf(PROG ": %s: the collective launch RAN on %u of %u "
                        "chips (after %.0f ms)\n",
                   c->name, k, s->ndev, ms);
        }
    }
    for (unsigned d = 0; d < k; d++) {
        vtpu_rt_free(s->dev[d].rt, x[d].hbm);
        vtpu_rt_free(s->dev[d].rt, o[d].hbm);
    }
    /* Every device goes on: a plain launch on each. */
    int after = sc_find_chips(s);
    printf(PROG ": every device runs a plain launch afterwards: %s\n",
           after ? "NO" : "yes");
    if (failed == k && !after) {
        printf(PROG ": PASS (the collective launch failed on each of the %u "
                    "chips that launched; every device works afterwards)\n",
               k);
        return 0;
    }
    printf(PROG ": FAIL (%u of %u partial launches failed%s)\n", failed, k,
           after ? "; a device does not work afterwards" : "");
    return 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: " PROG " [KERNELS.elf] [--seed N] [--partial K]\n"
            "  collectives over every /dev/accel/accelN (a vtpu-ici slice)\n"
            "  --partial K: a collective launched on K devices only must "
            "fail\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *module = LU_KERNELS_ELF;
    unsigned long long seed = 0;
    long part = -1;

    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], &end, 0);
            if (*end || !seed)
                return usage();
        } else if (!strcmp(argv[i], "--partial") && i + 1 < argc) {
            part = strtol(argv[++i], &end, 0);
            if (*end || part < 1)
                return usage();
        } else if (argv[i][0] == '-') {
            return usage();
        } else {
            module = argv[i];
        }
    }
    if (!seed)
        seed = (lu_now_ns() ^ (unsigned long long)getpid() << 32) | 1;

    printf(PROG ": collectives over every vtpu of the VM, Linux user "
                "space (runtime over vtpu.ko)\n");
    if (open_all(module))
        return 1;
    sc_slice s = {.dev = chips,
                  .ndev = ndev,
                  .prog = PROG,
                  .clock_ns = lu_now_ns,
                  .rng = seed};
    if (sc_find_chips(&s))
        return 1;
    int rc;
    if (part >= 0) {
        if ((unsigned long)part > ndev) {
            printf(PROG ": --partial %ld: there are %u devices\n", part, ndev);
            return 2;
        }
        rc = partial(&s, (unsigned)part);
    } else {
        printf(PROG ": seed 0x%llx\n", seed);
        sc_run_all(&s);
        rc = sc_report(&s);
    }
    for (unsigned d = 0; d < ndev; d++)
        vtpu_rt_fini(&rts[d]);
    return rc;
}
