/*
 * vtpu-demo.c - the end-to-end demo: a bare-metal riscv64 guest finds
 * the vtpu on PCIe, loads the kernel library and runs workloads through
 * the driver and runtime, checking each result against a reference
 * computed on the guest CPU.
 *
 * Exit status (QEMU's exit code): the number of workloads that did not
 * match or failed to run; 0 when every row matched.
 */
#include <stdio.h>

#include "demo.h"
#include "guest.h"
#include "kernels.h"
#include "vtpu_rt.h"

static guest_vtpu gv;
static vtpu_drv drv;
static vtpu_rt rt;
static vtpu_module mod;

static void print_identity(void)
{
    const vtpu_drv_info *i = vtpu_drv_info_get(&drv);
    const guest_pci_dev *d = gv.pci;

    printf("vtpu %02x:%02x.%u: %04x:%04x rev %u, BAR0 0x%llx, BAR2 0x%llx "
           "(%llu MiB), INT%c -> PLIC %u\n",
           d->bus, d->dev, d->fn, d->vendor, d->device,
           (unsigned)(d->class_rev & 0xff), (unsigned long long)d->bar[0].addr,
           (unsigned long long)d->bar[2].addr,
           (unsigned long long)(gv.aperture_size >> 20),
           d->irq_pin ? 'A' + d->irq_pin - 1 : '-', gv.plic_src);
    printf("  interface %u.%u, generation %s, %u TCs, %u semaphores/TC\n",
           i->version_major, i->version_minor, i->gen, i->num_tcs, i->num_sems);
    printf("  HBM %llu MiB, VMEM %u KiB, SMEM %u KiB, IMEM %u KiB per TC\n",
           (unsigned long long)(i->hbm_size >> 20), i->vmem_size >> 10,
           i->smem_size >> 10, i->imem_size >> 10);
    printf("  vregs %u x (%u,%u) x %u bit, %u masks; MXU %ux%u x %u\n",
           i->num_vregs, i->sublanes, i->lanes, i->elem_bits, i->num_masks,
           i->mxu_dim, i->mxu_dim, i->mxu_count);
    printf("  %u program slots, ring up to %u entries, caps 0x%x%s%s%s%s\n",
           i->prog_slots, i->ring_max_entries, i->caps,
           i->caps & VTPU_FMASK(CAPS, FENCE_WB) ? " fence-writeback" : "",
           i->caps & VTPU_FMASK(CAPS, LAUNCH_RESULT) ? " launch-result" : "",
           i->caps & VTPU_FMASK(CAPS, APERTURE) ? " aperture" : "",
           i->caps & VTPU_FMASK(CAPS, ERR_MSG) ? " error-messages" : "");
}

int main(void)
{
    printf("vtpu-demo: bare-metal riscv64 guest on QEMU virt\n");
    guest_pci_init();
    guest_pci_print();
    if (guest_vtpu_open(&gv, 1)) {
        printf("vtpu-demo: no vtpu (%04x:%04x) on PCI\n", VTPU_PCI_VENDOR_ID,
               VTPU_PCI_DEVICE_ID);
        return 1;
    }
    int rc = vtpu_drv_probe(&drv, &gv.plat);
    if (rc == 0)
        rc = vtpu_drv_init(&drv, 0);
    if (rc) {
        printf("vtpu-demo: driver: %s\n", vtpu_drv_strerror(rc));
        return 1;
    }
    print_identity();
    rc = vtpu_rt_init(&rt, &drv, NULL);
    if (rc == 0)
        rc = vtpu_rt_module_load(&rt, &mod, vtpu_kernels_elf,
                                 vtpu_kernels_elf_len);
    if (rc) {
        printf("vtpu-demo: runtime: %s\n", vtpu_rt_error(&rt));
        return 1;
    }
    printf("kernel module: %llu bytes, %u kernels, program slot %u\n",
           (unsigned long long)vtpu_kernels_elf_len, mod.num_kernels, mod.slot);

    unsigned tcs = vtpu_drv_info_get(&drv)->num_tcs;
    int bad = demo_run(&rt, &mod, tcs, guest_now_ns);
    printf("\nvtpu interrupts: %llu taken, %llu waits ended by the line's "
           "level; device counters: %u commands, %u launches\n",
           (unsigned long long)gv.irq_count,
           (unsigned long long)gv.irq_level_polls,
           vtpu_drv_read_reg(&drv, VTPU_A_CMD_COUNT),
           vtpu_drv_read_reg(&drv, VTPU_A_LAUNCH_COUNT));
    printf("vtpu-demo: %s\n", bad ? "FAILED" : "all rows matched");
    vtpu_rt_fini(&rt);
    vtpu_drv_fini(&drv);
    return bad;
}
