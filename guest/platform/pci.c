/*
 * pci.c - PCIe enumeration over the virt machine's ECAM and BAR
 * assignment, as firmware does before an OS runs.
 *
 * Only bus 0 exists behind the virt machine's host bridge (no bridges are
 * created unless asked for), so there is no bus numbering to do.  Every
 * memory BAR is sized (write all ones, read back the mask) with decoding
 * off, then placed naturally aligned in the 32-bit window, largest first
 * so alignment wastes nothing; a 64-bit BAR that does not fit there goes
 * to the 64-bit window.  I/O BARs are left unassigned.
 */
#include <stdio.h>

#include "guest.h"

#define MAX_DEVS 32
#define CFG_ID 0x00
#define CFG_COMMAND 0x04
#define CFG_CLASS_REV 0x08
#define CFG_HEADER 0x0c /* header type in bits [23:16] */
#define CFG_BAR0 0x10
#define CFG_INT 0x3c /* line [7:0], pin [15:8] */
#define CMD_MEMORY 0x2
#define CMD_MASTER 0x4
#define BAR_IO 0x1
#define BAR_TYPE_64 0x4
#define BAR_PREFETCH 0x8

static guest_pci_dev devs[MAX_DEVS];
static int ndevs = -1;

static volatile uint32_t *ecam(unsigned bus, unsigned dev, unsigned fn,
                               unsigned off)
{
    return (volatile uint32_t *)(VIRT_ECAM_BASE + ((uintptr_t)bus << 20) +
                                 (dev << 15) + (fn << 12) + (off & ~3u));
}

uint32_t guest_pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn,
                              unsigned off)
{
    return *ecam(bus, dev, fn, off);
}

void guest_pci_cfg_write32(unsigned bus, unsigned dev, unsigned fn,
                           unsigned off, uint32_t v)
{
    *ecam(bus, dev, fn, off) = v;
}

uint16_t guest_pci_cfg_read16(const guest_pci_dev *d, unsigned off)
{
    return (uint16_t)(guest_pci_cfg_read32(d->bus, d->dev, d->fn, off) >>
                      (8 * (off & 2)));
}

void guest_pci_cfg_write16(const guest_pci_dev *d, unsigned off, uint16_t v)
{
    uint32_t w = guest_pci_cfg_read32(d->bus, d->dev, d->fn, off);
    unsigned sh = 8 * (off & 2);

    w = (w & ~(0xffffu << sh)) | ((uint32_t)v << sh);
    /* Writing the whole dword also writes the status register next to
     * the command register; its bits are RW1C, and writing back what was
     * read could clear them.  Keep them at 0 there. */
    if ((off & ~3u) == CFG_COMMAND)
        w &= 0xffff;
    guest_pci_cfg_write32(d->bus, d->dev, d->fn, off, w);
}

static void size_bars(guest_pci_dev *d)
{
    for (unsigned i = 0; i < GUEST_PCI_MAX_BARS; i++) {
        unsigned off = CFG_BAR0 + 4 * i;
        uint32_t orig = guest_pci_cfg_read32(d->bus, d->dev, d->fn, off);
        guest_pci_bar *b = &d->bar[i];

        guest_pci_cfg_write32(d->bus, d->dev, d->fn, off, 0xffffffffu);
        uint32_t mask = guest_pci_cfg_read32(d->bus, d->dev, d->fn, off);
        guest_pci_cfg_write32(d->bus, d->dev, d->fn, off, orig);
        if (!mask)
            continue;
        if (orig & BAR_IO) {
            b->io = 1;
            b->size = ~(mask & ~3u) + 1u;
            b->size &= 0xffffffffu;
            continue;
        }
        uint64_t m = mask & ~0xfu;
        b->prefetch = !!(orig & BAR_PREFETCH);
        if ((orig & 0x6) == BAR_TYPE_64 && i + 1 < GUEST_PCI_MAX_BARS) {
            uint32_t hi_orig =
                guest_pci_cfg_read32(d->bus, d->dev, d->fn, off + 4);
            guest_pci_cfg_write32(d->bus, d->dev, d->fn, off + 4, ~0u);
            uint32_t hi = guest_pci_cfg_read32(d->bus, d->dev, d->fn, off + 4);
            guest_pci_cfg_write32(d->bus, d->dev, d->fn, off + 4, hi_orig);
            m |= (uint64_t)hi << 32;
            b->is64 = 1;
            b->size = ~m + 1;
            i++; /* the upper half is not a BAR of its own */
        } else {
            b->size = (uint32_t)(~(uint32_t)m + 1u);
        }
    }
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Place every memory BAR, largest first, in the window it fits. */
static void assign_bars(void)
{
    uint64_t next32 = VIRT_PCI_MMIO_BASE, next64 = VIRT_PCI_MMIO64_BASE;

    for (;;) {
        guest_pci_dev *bd = NULL;
        unsigned bi = 0;
        for (int n = 0; n < ndevs; n++)
            for (unsigned i = 0; i < GUEST_PCI_MAX_BARS; i++) {
                guest_pci_bar *b = &devs[n].bar[i];
                if (b->size && !b->io && !b->addr &&
                    (!bd || b->size > bd->bar[bi].size)) {
                    bd = &devs[n];
                    bi = i;
                }
            }
        if (!bd)
            return;
        guest_pci_bar *b = &bd->bar[bi];
        uint64_t at = align_up(next32, b->size);
        if (at + b->size <= VIRT_PCI_MMIO_BASE + VIRT_PCI_MMIO_SIZE) {
            next32 = at + b->size;
        } else if (b->is64 && align_up(next64, b->size) + b->size <=
                                  VIRT_PCI_MMIO64_BASE + VIRT_PCI_MMIO64_SIZE) {
            at = align_up(next64, b->size);
            next64 = at + b->size;
        } else {
            printf("pci: %02x:%02x.%u BAR%u (%llu bytes) does not fit\n",
                   bd->bus, bd->dev, bd->fn, bi, (unsigned long long)b->size);
            b->size = 0;
            continue;
        }
        b->addr = at;
        unsigned off = CFG_BAR0 + 4 * bi;
        uint32_t lo = guest_pci_cfg_read32(bd->bus, bd->dev, bd->fn, off);
        guest_pci_cfg_write32(bd->bus, bd->dev, bd->fn, off,
                              (uint32_t)at | (lo & 0xfu));
        if (b->is64)
            guest_pci_cfg_write32(bd->bus, bd->dev, bd->fn, off + 4,
                                  (uint32_t)(at >> 32));
    }
}

static void probe_fn(unsigned dev, unsigned fn)
{
    uint32_t id = guest_pci_cfg_read32(0, dev, fn, CFG_ID);

    if ((id & 0xffff) == 0xffff || ndevs >= MAX_DEVS)
        return;
    guest_pci_dev *d = &devs[ndevs++];
    d->bus = 0;
    d->dev = dev;
    d->fn = fn;
    d->vendor = (uint16_t)id;
    d->device = (uint16_t)(id >> 16);
    d->class_rev = guest_pci_cfg_read32(0, dev, fn, CFG_CLASS_REV);
    d->irq_pin = (guest_pci_cfg_read32(0, dev, fn, CFG_INT) >> 8) & 0xff;
    /* The virt machine's swizzle (hw/riscv/virt.c): INTA of slot s is
     * source 32 + s % 4, INTB one more, and so on. */
    if (d->irq_pin >= 1 && d->irq_pin <= 4)
        d->plic_src = VIRT_PCI_IRQ_BASE + (d->irq_pin - 1 + dev) % 4;
    guest_pci_cfg_write16(d, CFG_COMMAND,
                          guest_pci_cfg_read16(d, CFG_COMMAND) &
                              ~(CMD_MEMORY | CMD_MASTER));
    size_bars(d);
}

int guest_pci_init(void)
{
    if (ndevs >= 0)
        return ndevs;
    ndevs = 0;
    for (unsigned dev = 0; dev < 32; dev++) {
        uint32_t id = guest_pci_cfg_read32(0, dev, 0, CFG_ID);
        if ((id & 0xffff) == 0xffff)
            continue;
        probe_fn(dev, 0);
        uint32_t hdr = guest_pci_cfg_read32(0, dev, 0, CFG_HEADER);
        if (hdr & (0x80u << 16)) /* multi-function */
            for (unsigned fn = 1; fn < 8; fn++)
                probe_fn(dev, fn);
    }
    assign_bars();
    for (int n = 0; n < ndevs; n++) {
        guest_pci_dev *d = &devs[n];
        if ((d->class_rev >> 8) == 0x060000) /* the host bridge itself */
            continue;
        guest_pci_cfg_write16(d, CFG_COMMAND,
                              guest_pci_cfg_read16(d, CFG_COMMAND) |
                                  CMD_MEMORY | CMD_MASTER);
    }
    return ndevs;
}

int guest_pci_count(void)
{
    return ndevs < 0 ? 0 : ndevs;
}

const guest_pci_dev *guest_pci_get(int i)
{
    return i >= 0 && i < guest_pci_count() ? &devs[i] : NULL;
}

const guest_pci_dev *guest_pci_find(uint16_t vendor, uint16_t device)
{
    for (int n = 0; n < guest_pci_count(); n++)
        if (devs[n].vendor == vendor && devs[n].device == device)
            return &devs[n];
    return NULL;
}

void guest_pci_print(void)
{
    for (int n = 0; n < guest_pci_count(); n++) {
        const guest_pci_dev *d = &devs[n];
        printf("pci %02x:%02x.%u %04x:%04x class %06lx rev %u", d->bus, d->dev,
               d->fn, d->vendor, d->device, (unsigned long)(d->class_rev >> 8),
               (unsigned)(d->class_rev & 0xff));
        if (d->plic_src)
            printf(" INT%c->plic %u", 'A' + d->irq_pin - 1, d->plic_src);
        printf("\n");
        for (unsigned i = 0; i < GUEST_PCI_MAX_BARS; i++) {
            const guest_pci_bar *b = &d->bar[i];
            if (!b->size)
                continue;
            if (b->io)
                printf("    BAR%u io, %llu bytes (not assigned)\n", i,
                       (unsigned long long)b->size);
            else
                printf("    BAR%u mem%s%s 0x%llx, %llu KiB\n", i,
                       b->is64 ? "64" : "32", b->prefetch ? " pref" : "",
                       (unsigned long long)b->addr,
                       (unsigned long long)(b->size >> 10));
        }
    }
}
