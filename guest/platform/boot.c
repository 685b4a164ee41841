/*
 * boot.c - from start.S to main(): console, then main's result to the
 * host.  Interrupts stay off (mstatus.MIE = 0) outside of waits; see
 * guest_wait_event().
 */
#include <stdio.h>
#include <stdlib.h>

#include "guest.h"

int main(void);

const void *guest_dtb;

_Noreturn void guest_boot(unsigned long hartid, const void *dtb)
{
    (void)hartid;
    guest_dtb = dtb;
    guest_timer_set(UINT64_MAX);
    guest_uart_init();
    exit(main());
}
