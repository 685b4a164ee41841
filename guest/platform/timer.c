/*
 * timer.c - time from the CLINT's mtime (10 MHz on the virt machine) and
 * the hart's timer interrupt, which guest_wait_event() uses to bound a
 * sleep.
 */
#include "guest.h"

#define CLINT_MTIMECMP0 0x4000u

/*
 * The time CSR reads mtime without a trip through the CLINT's MMIO
 * (QEMU: a helper, no BQL), so the clock costs little in wait loops and
 * between a benchmark's two readings.
 */
uint64_t guest_ticks(void)
{
    uint64_t t;

    __asm__ volatile("csrr %0, time" : "=r"(t));
    return t;
}

uint64_t guest_now_ns(void)
{
    return guest_ticks() * (1000000000u / VIRT_TIMEBASE_HZ);
}

void guest_timer_set(uint64_t ticks)
{
    *(volatile uint64_t *)(VIRT_CLINT_BASE + CLINT_MTIMECMP0) = ticks;
}

void guest_delay_ns(uint64_t ns)
{
    uint64_t end = guest_now_ns() + ns;
    int was = guest_irq_enable(0);

    while (guest_now_ns() < end)
        guest_wait_event(end);
    guest_irq_enable(was);
}
