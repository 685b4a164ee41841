/*
 * vtpu-slice-demo.c - a bare-metal guest drives a slice: several vtpu
 * devices joined by one vtpu-ici fabric in QEMU (docs/qemu.md, "Several
 * chips: vtpu-ici"), one runtime per device, and collectives from the
 * kernel library (firmware/kernels/lib_collective.c) launched on every
 * chip at once, each chip's result checked against the guest's own sum.
 *
 *   qemu-system-riscv64 -M virt ... -kernel vtpu-slice-demo.elf
 *     -object vtpu-ici,id=ici0,topology=2x2
 *     -device vtpu,ici=ici0,chip=0 ... -device vtpu,ici=ici0,chip=3
 *
 * How: every device gets a driver, a runtime and the kernel module.
 * slice_info tells which device is which chip and the mesh's shape.
 * Then, per collective and mesh axis: the same allocations on every
 * runtime (same sizes, same order: the heaps then give the same HBM
 * offsets, which the collectives need - checked), random inputs, and a
 * collective launch started on every device before any is waited for
 * (vtpu_rt_run_start / _finish: each device's run waits at the slice's
 * launch rendezvous until every chip has launched).  Inputs are random
 * f32 of mixed magnitudes and any i32 (wrapping sums); the reference
 * sums in the kernels' ring order, so f32 results match bit for bit.
 *
 * The chip mapping, the launches and the checks are slice-coll.c's,
 * shared with Linux's vtpu-slice (guest/linux-user/vtpu-slice.c); this
 * file brings up the devices.
 *
 * Output: one line per chip and check ("check <kernel> axis A chip C:
 * ok" or what differs), then "vtpu-slice-demo: PASS (N checks)" or
 * "FAIL (k of N checks failed)".  Exit status: the failed checks (at
 * most 100), 0 = PASS.
 */
#include <stdio.h>
#include <string.h>

#include "guest.h"
#include "kernels.h"
#include "slice-coll.h"
#include "vtpu_rt.h"

#define STAGING (256u << 10)

typedef struct chip_dev {
    guest_vtpu gv;
    vtpu_drv drv;
    vtpu_rt rt;
    vtpu_module mod;
} chip_dev;

static chip_dev devs[SC_MAX_CHIPS];
static sc_chip chips[SC_MAX_CHIPS];
static unsigned ndev;

static int bring_up(chip_dev *c, const guest_pci_dev *d)
{
    vtpu_rt_opts o = {.staging_size = STAGING};
    /* Several functions share the virt machine's four INTx lines:
     * poll (guest_vtpu_open_dev). */
    if (guest_vtpu_open_dev(&c->gv, d, 0))
        return -1;
    int rc = vtpu_drv_probe(&c->drv, &c->gv.plat);
    if (!rc)
        rc = vtpu_drv_init(&c->drv, 64);
    if (rc) {
        printf("vtpu %02x:%02x.%u: driver: %s\n", d->bus, d->dev, d->fn,
               vtpu_drv_strerror(rc));
        return -1;
    }
    rc = vtpu_rt_init(&c->rt, &c->drv, &o);
    if (!rc)
        rc = vtpu_rt_module_load(&c->rt, &c->mod, vtpu_kernels_elf,
                                 vtpu_kernels_elf_len);
    if (rc) {
        printf("vtpu %02x:%02x.%u: runtime: %s\n", d->bus, d->dev, d->fn,
               vtpu_rt_error(&c->rt));
        return -1;
    }
    return 0;
}

/* A collective launch that cannot start everywhere: a reset ends the
 * wait of the devices where it started (ECANCELED). */
static void abort_started(sc_chip *c)
{
    vtpu_drv_reset(&devs[c - chips].drv);
}

int main(void)
{
    sc_slice s = {.dev = chips,
                  .prog = "vtpu-slice-demo",
                  .clock_ns = guest_now_ns,
                  .rng = 0x243f6a8885a308d3ull,
                  .abort_started = abort_started};

    printf("vtpu-slice-demo: collectives over every vtpu of the VM\n");
    guest_pci_init();
    for (int i = 0; i < guest_pci_count() && ndev < SC_MAX_CHIPS; i++) {
        const guest_pci_dev *d = guest_pci_get(i);
        if (d->vendor != VTPU_PCI_VENDOR_ID || d->device != VTPU_PCI_DEVICE_ID)
            continue;
        if (bring_up(&devs[ndev], d))
            return 1;
        chips[ndev].rt = &devs[ndev].rt;
        chips[ndev].mod = &devs[ndev].mod;
        snprintf(chips[ndev].name, sizeof(chips[ndev].name),
                 "vtpu %02x:%02x.%u", d->bus, d->dev, d->fn);
        ndev++;
    }
    printf("vtpu-slice-demo: %u vtpu device(s)\n", ndev);
    if (!ndev) {
        printf("vtpu-slice-demo: no vtpu (%04x:%04x) on PCI\n",
               VTPU_PCI_VENDOR_ID, VTPU_PCI_DEVICE_ID);
        return 1;
    }
    s.ndev = ndev;
    if (sc_find_chips(&s))
        return 1;
    sc_run_all(&s);
    for (unsigned d = 0; d < ndev; d++) {
        vtpu_rt_fini(&devs[d].rt);
        vtpu_drv_fini(&devs[d].drv);
    }
    return sc_report(&s);
}
