/*
 * irq.c - external interrupts through the PLIC (hart 0's M-mode context)
 * and the sleep primitive every wait is built on.
 *
 * Level-triggered sources (PCI INTx) are masked when claimed, before the
 * handler runs, and completed at once; the driver unmasks the source when
 * it waits again, after servicing the device.  A line still high then
 * pends again, so no assertion is lost and none storms.
 */
#include "guest.h"

#define PLIC_PRIORITY(src) (VIRT_PLIC_BASE + 4ul * (src))
#define PLIC_ENABLE(ctx, src)                                                  \
    (VIRT_PLIC_BASE + 0x2000ul + 0x80ul * (ctx) + 4ul * ((src) / 32))
#define PLIC_THRESHOLD(ctx) (VIRT_PLIC_BASE + 0x200000ul + 0x1000ul * (ctx))
#define PLIC_CLAIM(ctx) (PLIC_THRESHOLD(ctx) + 4)
#define PLIC_CTX 0 /* hart 0, M-mode */
#define PLIC_SOURCES 1024

#define MSTATUS_MIE (1ul << 3)
#define MIE_MTIE (1ul << 7)
#define MIE_MEIE (1ul << 11)

static volatile uint32_t *reg32(uintptr_t a)
{
    return (volatile uint32_t *)a;
}

static struct {
    guest_irq_handler fn;
    void *ctx;
} handlers[PLIC_SOURCES];
static guest_irq_stats stats;

void guest_irq_attach(unsigned src, guest_irq_handler fn, void *ctx)
{
    if (!src || src >= PLIC_SOURCES)
        guest_panic("guest_irq_attach: no PLIC source %u", src);
    handlers[src].fn = fn;
    handlers[src].ctx = ctx;
    *reg32(PLIC_PRIORITY(src)) = 1;
    *reg32(PLIC_THRESHOLD(PLIC_CTX)) = 0;
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MEIE));
}

void guest_irq_unmask(unsigned src)
{
    *reg32(PLIC_ENABLE(PLIC_CTX, src)) |= 1u << (src % 32);
}

void guest_irq_mask(unsigned src)
{
    *reg32(PLIC_ENABLE(PLIC_CTX, src)) &= ~(1u << (src % 32));
}

int guest_irq_enable(int on)
{
    uint64_t old;

    if (on)
        __asm__ volatile("csrrs %0, mstatus, %1"
                         : "=r"(old)
                         : "r"(MSTATUS_MIE));
    else
        __asm__ volatile("csrrc %0, mstatus, %1"
                         : "=r"(old)
                         : "r"(MSTATUS_MIE));
    return (old & MSTATUS_MIE) != 0;
}

guest_irq_stats guest_irq_stats_get(void)
{
    return stats;
}

void guest_irq_timer(void)
{
    guest_timer_set(UINT64_MAX);
    stats.timer++;
}

void guest_irq_external(void)
{
    uint32_t src;

    while ((src = *reg32(PLIC_CLAIM(PLIC_CTX))) != 0) {
        guest_irq_mask(src);
        if (src < PLIC_SOURCES && handlers[src].fn) {
            stats.external++;
            handlers[src].fn(handlers[src].ctx, src);
        } else {
            stats.spurious++; /* stays masked */
        }
        *reg32(PLIC_CLAIM(PLIC_CTX)) = src;
    }
}

void guest_wait_event(uint64_t deadline_ns)
{
    uint64_t ns_per_tick = 1000000000u / VIRT_TIMEBASE_HZ;

    if (guest_now_ns() >= deadline_ns)
        return;
    guest_timer_set((deadline_ns + ns_per_tick - 1) / ns_per_tick);
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MTIE));
    /* wfi wakes on any enabled pending interrupt even with MIE off; the
     * window below then takes it. */
    __asm__ volatile("wfi");
    guest_irq_enable(1);
    __asm__ volatile("nop");
    guest_irq_enable(0);
    guest_timer_set(UINT64_MAX);
}
