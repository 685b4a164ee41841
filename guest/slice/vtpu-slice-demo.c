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
 * launch rendezvous until every chip has launched).  Inputs are small
 * integers in f32 and any i32 (wrapping sums), so every sum is exact
 * whatever the order.
 *
 * Output: one line per chip and check ("check <kernel> axis A chip C:
 * ok" or what differs), then "vtpu-slice-demo: PASS (N checks)" or
 * "FAIL (k of N checks failed)".  Exit status: the failed checks (at
 * most 100), 0 = PASS.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "kernels.h"
#include "vtpu_rt.h"

#define MAX_DEVS 16
#define STAGING (256u << 10)

typedef struct chip_dev {
    guest_vtpu gv;
    vtpu_drv drv;
    vtpu_rt rt;
    vtpu_module mod;
    uint32_t info[8]; /* slice_info: id, chips, mesh x y z, coords x y z */
} chip_dev;

static chip_dev devs[MAX_DEVS];
static unsigned ndev;
static chip_dev *by_chip[MAX_DEVS]; /* chip id -> device */
static uint32_t mesh[3];
static unsigned nchecks, nfailed;

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t rand32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        printf("vtpu-slice-demo: out of memory (%zu bytes)\n", n);
        guest_exit(100);
    }
    return p;
}

static void check(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line per check. */
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    nchecks++;
    nfailed += !ok;
    printf("check ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

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

/* ------------------------------------------------------------------ */
/* Launching on every chip                                              */
/* ------------------------------------------------------------------ */

/*
 * Allocate the same arrays on every device: the HBM offsets must agree
 * (symmetric allocation), or the remote copies would land elsewhere.
 */
static int alloc_all(vtpu_rt_array a[MAX_DEVS], uint32_t dtype, uint32_t rank,
                     const uint32_t *shape, const char *what)
{
    for (unsigned d = 0; d < ndev; d++) {
        int rc = vtpu_rt_array_alloc(&devs[d].rt, &a[d], dtype, rank, shape);
        if (rc) {
            printf("vtpu-slice-demo: %s on device %u: %s\n", what, d,
                   vtpu_rt_error(&devs[d].rt));
            return -1;
        }
    }
    int same = 1;
    for (unsigned d = 1; d < ndev; d++)
        same &= a[d].hbm == a[0].hbm;
    check(same, "symmetric allocation of %s: HBM 0x%llx on every chip: %s",
          what, (unsigned long long)a[0].hbm, same ? "ok" : "DIFFERS");
    return same ? 0 : -1;
}

static void free_all(vtpu_rt_array a[MAX_DEVS])
{
    for (unsigned d = 0; d < ndev; d++)
        vtpu_rt_free(&devs[d].rt, a[d].hbm);
}

/*
 * Launch `kernel` with operands x, o (per device) on every device as one
 * collective launch: start on all, then finish all.  A device that
 * cannot start leaves the others waiting at the rendezvous: they are
 * reset, which ends their launch (ECANCELED).  0 if every chip ran.
 */
static int launch_all(const char *kernel, vtpu_rt_array *x, vtpu_rt_array *o,
                      int32_t axis, uint64_t *ns)
{
    static vtpu_rt_pending pend[MAX_DEVS];
    static vtpu_rt_launch l[MAX_DEVS];
    unsigned started = 0;
    int bad = 0;

    for (unsigned d = 0; d < ndev; d++) {
        chip_dev *c = &devs[d];
        memset(&l[d], 0, sizeof(l[d]));
        if (vtpu_rt_kernel_find(&c->rt, &c->mod, kernel, &l[d].kernel)) {
            printf("vtpu-slice-demo: %s\n", vtpu_rt_error(&c->rt));
            return -1;
        }
        l[d].grid_rank = 1;
        l[d].grid[0] = vtpu_rt_info(&c->rt)->num_tcs;
        l[d].semantics[0] = VTPU_PARALLEL;
        l[d].num_operands = 2;
        l[d].operands[0] = x[d];
        l[d].operands[1] = o[d];
        l[d].num_scalars = 1;
        l[d].scalars = &axis;
        l[d].collective = 1;
    }
    uint64_t t0 = guest_now_ns();
    for (; started < ndev; started++) {
        chip_dev *c = &devs[started];
        if (vtpu_rt_run_start(&c->rt, &c->mod, &l[started], &pend[started])) {
            printf("vtpu-slice-demo: %s on chip %u: %s\n", kernel, c->info[0],
                   vtpu_rt_error(&c->rt));
            bad = -1;
            break;
        }
    }
    if (bad)
        for (unsigned d = 0; d < started; d++)
            vtpu_drv_reset(&devs[d].drv);
    for (unsigned d = 0; d < started; d++) {
        chip_dev *c = &devs[d];
        if (vtpu_rt_run_finish(&c->rt, &pend[d], NULL) && !bad) {
            printf("vtpu-slice-demo: %s on chip %u: %s\n", kernel, c->info[0],
                   vtpu_rt_error(&c->rt));
            bad = -1;
        }
    }
    *ns = guest_now_ns() - t0;
    return bad;
}

/* ------------------------------------------------------------------ */
/* The collectives and their references                                 */
/* ------------------------------------------------------------------ */

enum coll { ALL_REDUCE, REDUCE_SCATTER, ALL_GATHER };

/* Chip id at coordinates c (x fastest). */
static unsigned chip_at(const uint32_t c[3])
{
    return c[0] + mesh[0] * (c[1] + mesh[1] * c[2]);
}

/* The chip at position p of chip `me`'s ring along `axis`. */
static unsigned ring_member(unsigned me, int axis, uint32_t p)
{
    uint32_t c[3];
    memcpy(c, &by_chip[me]->info[5], sizeof(c));
    c[axis] = p;
    return chip_at(c);
}

/*
 * Run one collective along `axis` with blocks of `m` rows of 128 words:
 * x and o per chip, reference per chip, compare.  Words are i32 or f32
 * holding small integers; both compare bit-exactly.
 */
static void run_collective(enum coll kind, const char *kernel, int f32,
                           int axis, uint32_t m)
{
    uint32_t n = mesh[axis], cols = 128;
    uint32_t xr = kind == ALL_GATHER ? m : n * m;
    uint32_t orow = kind == REDUCE_SCATTER ? m : n * m;
    uint32_t xs[2] = {xr, cols}, os[2] = {orow, cols};
    size_t xw = (size_t)xr * cols, ow = (size_t)orow * cols;
    uint32_t dt = f32 ? VTPU_F32 : VTPU_I32;
    vtpu_rt_array x[MAX_DEVS], o[MAX_DEVS];
    char what[48];
    uint64_t ns = 0;

    snprintf(what, sizeof(what), "%s x (%u,%u)", kernel, xr, cols);
    if (alloc_all(x, dt, 2, xs, what))
        return;
    snprintf(what, sizeof(what), "%s o (%u,%u)", kernel, orow, cols);
    if (alloc_all(o, dt, 2, os, what)) {
        free_all(x);
        return;
    }
    /* inputs[chip] */
    uint32_t *in = xmalloc(ndev * xw * 4), *got = xmalloc(ow * 4),
             *want = xmalloc(ow * 4);
    for (unsigned c = 0; c < ndev; c++)
        for (size_t i = 0; i < xw; i++) {
            uint32_t r = rand32();
            if (f32) {
                float v = (float)((int32_t)(r % 2001) - 1000);
                memcpy(&in[c * xw + i], &v, 4);
            } else {
                in[c * xw + i] = r;
            }
        }
    int bad = 0;
    for (unsigned c = 0; c < ndev && !bad; c++) {
        chip_dev *d = by_chip[c];
        unsigned di = (unsigned)(d - devs);
        bad = vtpu_rt_write(&d->rt, x[di].hbm, &in[c * xw], xw * 4) ||
              vtpu_rt_fill(&d->rt, o[di].hbm, ow * 4, 0xdeadbeefu);
        if (bad)
            printf("vtpu-slice-demo: upload to chip %u: %s\n", c,
                   vtpu_rt_error(&d->rt));
    }
    if (!bad)
        bad = launch_all(kernel, x, o, axis, &ns);
    if (bad) {
        check(0, "%s axis %d: did not run", kernel, axis);
        goto out;
    }
    printf("%s axis %d, x (%u,%u) %s on %u chips: %llu us (launch on "
           "every chip to the last completion)\n",
           kernel, axis, xr, cols, f32 ? "f32" : "i32", ndev,
           (unsigned long long)(ns / 1000));

    for (unsigned c = 0; c < ndev; c++) {
        chip_dev *d = by_chip[c];
        unsigned di = (unsigned)(d - devs);
        uint32_t pos = d->info[5 + axis];
        /* The reference, in the guest's arithmetic */
        for (size_t i = 0; i < ow; i++) {
            size_t r = i / cols, col = i % cols;
            if (kind == ALL_GATHER) {
                unsigned src = ring_member(c, axis, (uint32_t)(r / m));
                want[i] = in[src * xw + (r % m) * cols + col];
                continue;
            }
            size_t xi = kind == REDUCE_SCATTER ? (pos * m + r) * cols + col : i;
            uint32_t si = 0;
            float sf = 0;
            for (uint32_t p = 0; p < n; p++) {
                uint32_t v = in[ring_member(c, axis, p) * xw + xi];
                float fv;
                memcpy(&fv, &v, 4);
                si += v;
                sf += fv;
            }
            if (f32)
                memcpy(&want[i], &sf, 4);
            else
                want[i] = si;
        }
        if (vtpu_rt_read(&d->rt, o[di].hbm, got, ow * 4)) {
            check(0, "%s axis %d chip %u: read-back: %s", kernel, axis, c,
                  vtpu_rt_error(&d->rt));
            continue;
        }
        size_t i = 0;
        while (i < ow && got[i] == want[i])
            i++;
        if (i == ow) {
            check(1, "%s axis %d chip %u: ok", kernel, axis, c);
        } else if (f32) {
            float g, w;
            memcpy(&g, &got[i], 4);
            memcpy(&w, &want[i], 4);
            check(0,
                  "%s axis %d chip %u: MISMATCH at [%zu][%zu]: %g, "
                  "expected %g",
                  kernel, axis, c, i / cols, i % cols, (double)g, (double)w);
        } else {
            check(0,
                  "%s axis %d chip %u: MISMATCH at [%zu][%zu]: 0x%08x, "
                  "expected 0x%08x",
                  kernel, axis, c, i / cols, i % cols, (unsigned)got[i],
                  (unsigned)want[i]);
        }
    }
out:
    free(in);
    free(got);
    free(want);
    free_all(o);
    free_all(x);
}

/* ------------------------------------------------------------------ */
/* Which device is which chip                                           */
/* ------------------------------------------------------------------ */

static int find_chips(void)
{
    uint32_t shape[1] = {8};
    vtpu_rt_array o[MAX_DEVS];
    int bad = 0;

    if (alloc_all(o, VTPU_I32, 1, shape, "slice_info o (8,)"))
        return -1;
    for (unsigned d = 0; d < ndev && !bad; d++) {
        chip_dev *c = &devs[d];
        vtpu_rt_launch l = {.num_operands = 1, .operands = {o[d]}};
        bad = vtpu_rt_kernel_find(&c->rt, &c->mod, "slice_info", &l.kernel) ||
              vtpu_rt_run(&c->rt, &c->mod, &l, NULL) ||
              vtpu_rt_read(&c->rt, o[d].hbm, c->info, sizeof(c->info));
        if (bad)
            printf("vtpu-slice-demo: slice_info on device %u: %s\n", d,
                   vtpu_rt_error(&c->rt));
    }
    free_all(o);
    if (bad)
        return -1;
    memcpy(mesh, &devs[0].info[2], sizeof(mesh));
    for (unsigned d = 0; d < ndev; d++) {
        chip_dev *c = &devs[d];
        const guest_pci_dev *p = c->gv.pci;
        printf("vtpu %02x:%02x.%u: chip %u of %u, mesh %ux%ux%u, at "
               "(%u,%u,%u)\n",
               p->bus, p->dev, p->fn, c->info[0], c->info[1], c->info[2],
               c->info[3], c->info[4], c->info[5], c->info[6], c->info[7]);
        if (c->info[1] != ndev || c->info[0] >= ndev || by_chip[c->info[0]] ||
            memcmp(mesh, &c->info[2], sizeof(mesh))) {
            printf("vtpu-slice-demo: device %u: chip %u of %u: the slice "
                   "must have one device per chip (%u devices found), "
                   "each chip index once\n",
                   d, c->info[0], c->info[1], ndev);
            return -1;
        }
        by_chip[c->info[0]] = c;
    }
    return 0;
}

int main(void)
{
    printf("vtpu-slice-demo: collectives over every vtpu of the VM\n");
    guest_pci_init();
    for (int i = 0; i < guest_pci_count() && ndev < MAX_DEVS; i++) {
        const guest_pci_dev *d = guest_pci_get(i);
        if (d->vendor != VTPU_PCI_VENDOR_ID || d->device != VTPU_PCI_DEVICE_ID)
            continue;
        if (bring_up(&devs[ndev], d))
            return 1;
        ndev++;
    }
    printf("vtpu-slice-demo: %u vtpu device(s)\n", ndev);
    if (!ndev) {
        printf("vtpu-slice-demo: no vtpu (%04x:%04x) on PCI\n",
               VTPU_PCI_VENDOR_ID, VTPU_PCI_DEVICE_ID);
        return 1;
    }
    if (find_chips())
        return 1;

    for (int axis = 0; axis < 3; axis++) {
        if (mesh[axis] < 2)
            continue;
        run_collective(ALL_REDUCE, "all_reduce_f32", 1, axis, 8);
        run_collective(ALL_REDUCE, "all_reduce_i32", 0, axis, 16);
        run_collective(REDUCE_SCATTER, "reduce_scatter_f32", 1, axis, 8);
        run_collective(REDUCE_SCATTER, "reduce_scatter_i32", 0, axis, 8);
        run_collective(ALL_GATHER, "all_gather", 0, axis, 8);
    }
    for (unsigned d = 0; d < ndev; d++) {
        vtpu_rt_fini(&devs[d].rt);
        vtpu_drv_fini(&devs[d].drv);
    }
    if (nfailed)
        printf("vtpu-slice-demo: FAIL (%u of %u checks failed)\n", nfailed,
               nchecks);
    else
        printf("vtpu-slice-demo: PASS (%u checks)\n", nchecks);
    return nfailed > 100 ? 100 : (int)nfailed;
}
