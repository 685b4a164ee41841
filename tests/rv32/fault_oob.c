/* A load past the end of SMEM (1 MiB from 0x10000000). */
#include <stdint.h>

__attribute__((noinline)) uint32_t load_past_smem(volatile uint32_t *p)
{
    return *p;
}

int main(void)
{
    return (int)load_past_smem((volatile uint32_t *)0x10100000);
}
