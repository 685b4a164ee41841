/*
 * panic-test.c - a guest program that faults on purpose, so the system
 * tests can check the platform's panic report: a load from an address
 * where nothing decodes is a load access fault in M-mode.
 */
#include <stdio.h>

#include "guest.h"

int main(void)
{
    volatile uint32_t *nowhere = (volatile uint32_t *)0x0000dead0000ull;

    printf("panic-test: loading from %p\n", (void *)nowhere);
    return (int)*nowhere; /* never gets here */
}
