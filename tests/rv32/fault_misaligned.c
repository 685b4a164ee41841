/* A 4-byte load from an address that is 2 mod 4. */
#include <stdint.h>

static uint32_t words[4] = {1, 2, 3, 4};

__attribute__((noinline)) uint32_t load_misaligned(volatile uint32_t *p)
{
    return *p;
}

int main(void)
{
    return (int)load_misaligned(
        (volatile uint32_t *)((uintptr_t)&words[1] + 2));
}
