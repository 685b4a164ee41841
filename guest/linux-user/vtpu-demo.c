/*
 * vtpu-demo.c (Linux user space) - the end-to-end demo as a Linux
 * program: the runtime over the kernel driver (/dev/accel/accel0, the
 * runtime's Linux backend) loads the kernel library from a file and runs
 * the demo's workloads (guest/demo/demo.c, the same code as the
 * bare-metal demo), each checked against a reference computed on the CPU.
 *
 *   vtpu-demo [KERNELS.elf] [--device /dev/accel/accelN]
 *
 * KERNELS.elf defaults to /usr/share/vtpu/kernels.elf.  Exit status: the
 * number of workloads that did not match or failed to run (0 when every
 * row matched); 1 when the device or the module cannot be used.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "linux-user.h"
#include "vtpu_accel.h"
#include "vtpu_rt_linux.h"

static vtpu_rt rt;
static vtpu_module mod;

/* The PCI function behind the device node, from sysfs ("" if unknown). */
static void print_identity(const char *node)
{
    const vtpu_drv_info *i = vtpu_rt_info(&rt);
    char pci[PATH_MAX] = "", vendor[16] = "", device[16] = "",
         drv[PATH_MAX] = "";
    const char *base = strrchr(node, '/');
    char path[PATH_MAX], link[PATH_MAX];

    base = base ? base + 1 : node;
    snprintf(path, sizeof(path), "/sys/class/accel/%s/device", base);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = 0;
        const char *b = strrchr(link, '/');
        snprintf(pci, sizeof(pci), "%s", b ? b + 1 : link);
    }
    lu_read_line("/sys/class/accel/%s/device/vendor", base, vendor,
                 sizeof(vendor));
    lu_read_line("/sys/class/accel/%s/device/device", base, device,
                 sizeof(device));
    snprintf(path, sizeof(path), "/sys/class/accel/%s/device/driver", base);
    n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = 0;
        const char *b = strrchr(link, '/');
        snprintf(drv, sizeof(drv), "%s", b ? b + 1 : link);
    }
    printf("vtpu %s: PCI %s %s:%s, driver %s, uAPI %llu\n", node,
           pci[0] ? pci : "?", vendor[0] ? vendor + 2 : "?",
           device[0] ? device + 2 : "?", drv[0] ? drv : "?",
           (unsigned long long)vtpu_rt_linux_param(
               &rt, DRM_VTPU_PARAM_UAPI_VERSION));
    printf("  interface %u.%u, generation %s, %u TCs, %u semaphores/TC\n",
           i->version_major, i->version_minor, i->gen, i->num_tcs, i->num_sems);
    printf("  HBM %llu MiB (%llu MiB free), VMEM %u KiB, SMEM %u KiB, IMEM "
           "%u KiB per TC\n",
           (unsigned long long)(i->hbm_size >> 20),
           (unsigned long long)(vtpu_rt_linux_param(
                                    &rt, DRM_VTPU_PARAM_HBM_FREE) >>
                                20),
           i->vmem_size >> 10, i->smem_size >> 10, i->imem_size >> 10);
    printf("  MXU %ux%u x %u; job timeout %llu ms\n", i->mxu_dim, i->mxu_dim,
           i->mxu_count,
           (unsigned long long)vtpu_rt_linux_param(
               &rt, DRM_VTPU_PARAM_JOB_TIMEOUT_MS));
}

int main(int argc, char **argv)
{
    const char *module = LU_KERNELS_ELF, *node = NULL;
    struct utsname u;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            node = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr,
                    "usage: vtpu-demo [KERNELS.elf] [--device NODE]\n");
            return 2;
        } else
            module = argv[i];
    }
    uname(&u);
    printf("vtpu-demo: Linux user space (%s %s %s)\n", u.sysname, u.release,
           u.machine);
    if (vtpu_rt_open_linux(&rt, node)) {
        printf("vtpu-demo: %s\n", vtpu_rt_error(&rt));
        return 1;
    }
    print_identity(node ? node : getenv("VTPU_ACCEL") && *getenv("VTPU_ACCEL")
                                     ? getenv("VTPU_ACCEL")
                                     : VTPU_LINUX_DEFAULT_NODE);
    size_t len;
    void *elf = lu_read_file(module, &len);
    if (!elf) {
        printf("vtpu-demo: cannot read %s\n", module);
        return 1;
    }
    if (vtpu_rt_module_load(&rt, &mod, elf, len)) {
        printf("vtpu-demo: %s: %s\n", module, vtpu_rt_error(&rt));
        return 1;
    }
    printf("kernel module: %s, %zu bytes, %u kernels, program slot %u\n",
           module, len, mod.num_kernels, mod.slot);

    int bad = demo_run(&rt, &mod, vtpu_rt_info(&rt)->num_tcs, lu_now_ns);

    const vtpu_rt_linux_stats *s = vtpu_rt_linux_get_stats(&rt);
    printf("\nruntime (linux backend): %llu jobs; %llu BOs created, %llu "
           "reused; %llu bytes copied through mmap, %llu through BO_RW\n",
           (unsigned long long)s->submits, (unsigned long long)s->bo_created,
           (unsigned long long)s->bo_reused, (unsigned long long)s->mmap_bytes,
           (unsigned long long)s->rw_bytes);
    printf("vtpu-demo: %s\n", bad ? "FAILED" : "all rows matched");
    vtpu_rt_module_unload(&rt, &mod);
    vtpu_rt_fini(&rt);
    free(elf);
    return bad;
}
