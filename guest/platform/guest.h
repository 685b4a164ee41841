/*
 * guest.h - the bare-metal riscv64 platform for QEMU's virt machine.
 *
 * What a guest program (demo, self-test, benchmarks) gets: a console on
 * picolibc's stdio, time, interrupts, PCI, the vtpu driver's platform and
 * a way to report its result to the host.  The program defines
 * `int main(void)`; start.S and guest_boot() run before it, and main's
 * return value goes to guest_exit().
 *
 * Runs in M-mode on hart 0 with physical addresses (no MMU), so a CPU
 * pointer is its own bus address.  Addresses are those of the virt
 * machine in QEMU 7.2 (hw/riscv/virt.c), documented in docs/debugging.md.
 * Nothing here is thread-safe: there is one hart and interrupt handlers
 * only set flags.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "vtpu_platform.h"

/* ---- the virt machine ---------------------------------------------- */

#define VIRT_TEST_BASE 0x00100000ul  /* sifive_test finisher */
#define VIRT_CLINT_BASE 0x02000000ul /* mtimecmp 0x4000, mtime 0xbff8 */
#define VIRT_PLIC_BASE 0x0c000000ul
#define VIRT_UART_BASE 0x10000000ul     /* 16550, 8 bits wide */
#define VIRT_ECAM_BASE 0x30000000ul     /* PCIe config space, buses 0..255 */
#define VIRT_PCI_MMIO_BASE 0x40000000ul /* 32-bit PCI memory window */
#define VIRT_PCI_MMIO_SIZE 0x40000000ul
/* 64-bit window: right after RAM, aligned to its 16 GiB size; at 16 GiB
 * for every RAM size up to 15 GiB. */
#define VIRT_PCI_MMIO64_BASE 0x400000000ul
#define VIRT_PCI_MMIO64_SIZE 0x400000000ul
#define VIRT_PCI_IRQ_BASE 32 /* PLIC sources of INTA..INTD, swizzled */
#define VIRT_TIMEBASE_HZ 10000000u

/* The device tree QEMU passed at boot (a1), for programs that want it. */
extern const void *guest_dtb;

/* ---- exit ----------------------------------------------------------- */

/* Exit statuses with a meaning of their own (QEMU's exit code). */
#define GUEST_EXIT_PANIC 120 /* an unexpected trap, guest_panic() */

/*
 * Stop the machine: status 0 is the finisher's PASS (QEMU exits 0), any
 * other value FAIL with that code (QEMU exits with it; values above 255
 * are cut to 8 bits by the host, so keep them small).  Flushes stdout.
 */
_Noreturn void guest_exit(int status);
/* Print "*** guest panic: <why>" and exit with GUEST_EXIT_PANIC. */
_Noreturn void guest_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- console -------------------------------------------------------- */

/* stdout/stderr go to the UART (polled; "\n" becomes "\r\n"). */
void guest_uart_init(void);
void guest_uart_putc(char c);

/* ---- time ------------------------------------------------------------ */

uint64_t guest_ticks(void); /* mtime, VIRT_TIMEBASE_HZ */
uint64_t guest_now_ns(void);
/* Interrupt (mip.MTIP) at `ticks`; UINT64_MAX switches it off. */
void guest_timer_set(uint64_t ticks);
void guest_delay_ns(uint64_t ns);

/* ---- traps and interrupts ------------------------------------------- */

/* What start.S saves on a trap: x[0] holds mepc (x0 needs no slot),
 * x[2] the sp before the trap. */
typedef struct guest_trap_frame {
    uint64_t x[32];
    uint64_t mcause, mtval;
} guest_trap_frame;

/* Called by start.S; interrupts are dispatched, anything else panics
 * with the cause, pc, mtval and every register. */
void guest_trap(guest_trap_frame *f);

/*
 * An external interrupt source (PLIC, 1..1023).  The handler runs in the
 * trap with interrupts off, after the PLIC claim; the source is masked
 * before the handler runs and stays masked until guest_irq_unmask():
 * that is what a level-triggered line needs (the device lowers it only
 * once its driver has serviced it).
 */
typedef void (*guest_irq_handler)(void *ctx, unsigned src);
void guest_irq_attach(unsigned src, guest_irq_handler fn, void *ctx);
void guest_irq_unmask(unsigned src);
void guest_irq_mask(unsigned src);
/* Global interrupt enable (mstatus.MIE); returns the previous state. */
int guest_irq_enable(int on);
/* Sleep until an interrupt is pending or `deadline_ns` (guest_now_ns)
 * passed; pending interrupts are handled before it returns.  Call with
 * interrupts off, after checking the condition waited for: no wake-up
 * is lost. */
void guest_wait_event(uint64_t deadline_ns);

/* Counters for tests: interrupts handled, by kind. */
typedef struct guest_irq_stats {
    uint64_t external, timer, spurious;
} guest_irq_stats;
guest_irq_stats guest_irq_stats_get(void);

/* ---- PCI -------------------------------------------------------------- */

#define GUEST_PCI_MAX_BARS 6

typedef struct guest_pci_bar {
    uint64_t addr, size; /* size 0: the device has no such BAR */
    int is64, prefetch, io;
} guest_pci_bar;

typedef struct guest_pci_dev {
    unsigned bus, dev, fn;
    uint16_t vendor, device;
    uint32_t class_rev; /* class [31:8], revision [7:0] */
    unsigned irq_pin;   /* 1 = INTA .. 4 = INTD, 0 = none */
    unsigned plic_src;  /* PLIC source of its INTx, 0 = none */
    guest_pci_bar bar[GUEST_PCI_MAX_BARS];
} guest_pci_dev;

/* Config space access over ECAM. */
uint32_t guest_pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn,
                              unsigned off);
void guest_pci_cfg_write32(unsigned bus, unsigned dev, unsigned fn,
                           unsigned off, uint32_t v);
uint16_t guest_pci_cfg_read16(const guest_pci_dev *d, unsigned off);
void guest_pci_cfg_write16(const guest_pci_dev *d, unsigned off, uint16_t v);

/*
 * Enumerate bus 0 (the virt machine's host bridge has no other buses),
 * size every memory BAR and assign it from the 32-bit window (64-bit
 * BARs that do not fit there go to the 64-bit window), enable memory
 * decoding and bus mastering.  Idempotent; returns the devices found.
 */
int guest_pci_init(void);
int guest_pci_count(void);
const guest_pci_dev *guest_pci_get(int i);
/* First function with this vendor:device, or NULL. */
const guest_pci_dev *guest_pci_find(uint16_t vendor, uint16_t device);
/* Print one line per function: address, ids, class, BARs, IRQ. */
void guest_pci_print(void);

/* ---- the vtpu --------------------------------------------------------- */

typedef struct guest_vtpu {
    const guest_pci_dev *pci;
    volatile uint8_t *regs;     /* BAR0 */
    volatile uint8_t *aperture; /* BAR2 */
    uint64_t aperture_size;
    unsigned plic_src;
    volatile int irq_seen;    /* the handler ran since the last unmask */
    uint64_t irq_count;       /* interrupts taken */
    uint64_t irq_level_polls; /* waits ended by the level, not an IRQ */
    uint64_t last_irq_ns;     /* guest_now_ns() in the last handler run */
    size_t dma_bytes;         /* DMA memory currently allocated */
    vtpu_platform plat;
} guest_vtpu;

/*
 * Find the vtpu (1af4:10f7) on PCI (guest_pci_init first), map its BARs
 * and fill in g->plat: MMIO with Linux's readl/writel ordering, DMA
 * memory from the heap (CPU address = bus address), irq_wait on the
 * PLIC source of its INTx (NULL, i.e. polling, when `use_irq` is 0 or
 * the device has no INTx), time from the CLINT, log to stdout.
 * Returns 0, or -1 when there is no vtpu.
 */
int guest_vtpu_open(guest_vtpu *g, int use_irq);
/* The same for PCI function `d` (guest_pci_get), e.g. each of several
 * vtpus; -1 if it is no vtpu.  Functions sharing an INTx line share a
 * PLIC source, which has one handler: open such ones with use_irq 0. */
int guest_vtpu_open_dev(guest_vtpu *g, const guest_pci_dev *d, int use_irq);

#endif /* GUEST_H */
