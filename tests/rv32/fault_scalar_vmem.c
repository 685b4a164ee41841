/* A scalar store to VMEM: reported with the function that did it. */
#include <stdint.h>
#include <stdio.h>

__attribute__((noinline)) void store_to_vmem(volatile uint32_t *p)
{
    *p = 1;
}

int main(void)
{
    printf("before\n");
    store_to_vmem((volatile uint32_t *)0x20000100);
    printf("not reached\n");
    return 0;
}
