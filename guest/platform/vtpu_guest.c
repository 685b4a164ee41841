/*
 * vtpu_guest.c - the driver's platform (vtpu_platform.h) on the
 * bare-metal guest: BAR0/BAR2 MMIO, DMA memory from the heap, the INTx
 * line through the PLIC, the CLINT's time.
 *
 * The interrupt protocol: the PLIC handler only notes that the line was
 * seen high (the source is masked at claim, irq.c).  irq_wait() re-arms
 * the source and sleeps until the handler ran again or the deadline.
 *
 * QEMU 7.2's PLIC latches a source's pending bit on a rising edge only,
 * and clears it at claim even when the line stays high; the device's
 * INTx is updated from a bottom half that can fold a fall and a rise
 * into no change at all.  So an interrupt alone can be missed: every
 * sleep is cut into slices of IRQ_POLL_NS, and each wake-up also reads
 * the line's true level, the Interrupt Status bit of the PCI status
 * register.  A level found high without an interrupt is counted in
 * irq_level_polls.
 */
#include <stdio.h>
#include <stdlib.h>

#include "guest.h"
#include "vtpu-regs.h"

#define IRQ_POLL_NS 200000ull /* 200 us */
#define PCI_STATUS 0x06
#define PCI_STATUS_INTX 0x08

/* Linux's riscv readl/writel barriers: the MMIO write is ordered after
 * earlier memory stores, the MMIO read before later memory loads. */
static uint32_t plat_read32(void *ctx, unsigned bar, uint32_t off)
{
    guest_vtpu *g = ctx;
    volatile uint8_t *base = bar == VTPU_BAR_REGS       ? g->regs
                             : bar == VTPU_BAR_APERTURE ? g->aperture
                                                        : NULL;
    if (!base)
        return UINT32_MAX;
    uint32_t v = *(volatile uint32_t *)(base + off);
    __asm__ volatile("fence i,r" ::: "memory");
    return v;
}

static void plat_write32(void *ctx, unsigned bar, uint32_t off, uint32_t v)
{
    guest_vtpu *g = ctx;
    volatile uint8_t *base = bar == VTPU_BAR_REGS       ? g->regs
                             : bar == VTPU_BAR_APERTURE ? g->aperture
                                                        : NULL;
    if (!base)
        return;
    __asm__ volatile("fence w,o" ::: "memory");
    *(volatile uint32_t *)(base + off) = v;
}

/* RAM is coherent with the device (QEMU), and M-mode addresses are
 * physical: the heap is DMA memory, and a pointer is its bus address. */
static void *plat_dma_alloc(void *ctx, size_t size, size_t align, uint64_t *bus)
{
    guest_vtpu *g = ctx;

    if (!size || !align || (align & (align - 1)))
        return NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    void *p = aligned_alloc(align, (size + align - 1) & ~(align - 1));
    if (p) {
        *bus = (uintptr_t)p;
        g->dma_bytes += size;
    }
    return p;
}

static void plat_dma_free(void *ctx, void *cpu, size_t size)
{
    guest_vtpu *g = ctx;

    if (cpu)
        g->dma_bytes -= size;
    free(cpu);
}

static void vtpu_irq(void *ctx, unsigned src)
{
    guest_vtpu *g = ctx;

    (void)src;
    g->last_irq_ns = guest_now_ns();
    g->irq_seen = 1;
    g->irq_count++;
}

static int plat_irq_wait(void *ctx, uint64_t timeout_ns)
{
    guest_vtpu *g = ctx;
    uint64_t deadline = guest_now_ns() + timeout_ns;
    int was = guest_irq_enable(0);

    g->irq_seen = 0;
    guest_irq_unmask(g->plic_src);
    int seen = 0;
    uint64_t slice_end = guest_now_ns() + IRQ_POLL_NS;
    for (;;) {
        if (g->irq_seen) {
            seen = 1;
            break;
        }
        uint64_t now = guest_now_ns();
        /* Read the level only once a slice passed without an interrupt:
         * right after the driver cleared INT_STATUS it may still read
         * high until the device's bottom half ran. */
        if (now >= slice_end) {
            if (guest_pci_cfg_read16(g->pci, PCI_STATUS) & PCI_STATUS_INTX) {
                g->irq_level_polls++;
                seen = 1;
                break;
            }
            slice_end = now + IRQ_POLL_NS;
        }
        if (now >= deadline)
            break;
        guest_wait_event(slice_end < deadline ? slice_end : deadline);
    }
    guest_irq_enable(was);
    return seen;
}

static uint64_t plat_now_ns(void *ctx)
{
    (void)ctx;
    return guest_now_ns();
}

static void plat_log(void *ctx, const char *msg)
{
    (void)ctx;
    printf("vtpu-drv: %s\n", msg);
}

int guest_vtpu_open(guest_vtpu *g, int use_irq)
{
    return guest_vtpu_open_dev(
        g, guest_pci_find(VTPU_PCI_VENDOR_ID, VTPU_PCI_DEVICE_ID), use_irq);
}

int guest_vtpu_open_dev(guest_vtpu *g, const guest_pci_dev *d, int use_irq)
{
    *g = (guest_vtpu){0};
    if (d &&
        (d->vendor != VTPU_PCI_VENDOR_ID || d->device != VTPU_PCI_DEVICE_ID))
        return -1;
    if (!d || !d->bar[VTPU_BAR_REGS].addr)
        return -1;
    g->pci = d;
    g->regs = (volatile uint8_t *)(uintptr_t)d->bar[VTPU_BAR_REGS].addr;
    g->aperture = (volatile uint8_t *)(uintptr_t)d->bar[VTPU_BAR_APERTURE].addr;
    g->aperture_size = d->bar[VTPU_BAR_APERTURE].size;
    g->plic_src = d->plic_src;
    g->plat = (vtpu_platform){
        .ctx = g,
        .read32 = plat_read32,
        .write32 = plat_write32,
        .dma_alloc = plat_dma_alloc,
        .dma_free = plat_dma_free,
        .now_ns = plat_now_ns,
        .log = plat_log,
    };
    if (use_irq && g->plic_src) {
        guest_irq_attach(g->plic_src, vtpu_irq, g);
        g->plat.irq_wait = plat_irq_wait;
    }
    return 0;
}
