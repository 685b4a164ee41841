/*
 * exit.c - reporting the guest's result to the host through the virt
 * machine's sifive_test device, and picolibc's _exit.
 */
#include <stdarg.h>
#include <stdio.h>

#include "guest.h"

#define FINISHER_PASS 0x5555u
#define FINISHER_FAIL 0x3333u

_Noreturn void guest_exit(int status)
{
    volatile uint32_t *fin = (volatile uint32_t *)VIRT_TEST_BASE;

    fflush(stdout);
    fflush(stderr);
    guest_irq_enable(0);
    if (status == 0)
        *fin = FINISHER_PASS;
    else
        *fin = ((uint32_t)(status & 0xffff) << 16) | FINISHER_FAIL;
    for (;;) /* QEMU has exited by now */
        __asm__ volatile("wfi");
}

/* exit() ends here after running destructors and flushing stdio. */
_Noreturn void _exit(int status)
{
    guest_exit(status);
}

_Noreturn void guest_panic(const char *fmt, ...)
{
    va_list ap;

    guest_irq_enable(0);
    fputs("\n*** guest panic: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputs("\n", stdout);
    guest_exit(GUEST_EXIT_PANIC);
}
