/*
 * gdb_target.c - the program tests/test_gdbstub.py debugs: a function to
 * break in (fill_vregs) that leaves known values in v1 and m2, a global in
 * SMEM, and a loop to step through.  Exits with the sum it computes (42)
 * so the test can check the run completes after continuing.
 */
#include <stdint.h>

#include <vtpu/xtpu.h>

volatile int32_t counter = 5;     /* SMEM .data: read and written by gdb */
volatile uint32_t table[4] = {0x11111111u, 0x22222222u, 0x33333333u,
                              0x44444444u};

__attribute__((noinline)) int fill_vregs(int base)
{
    VIOTA(LINEAR, 1, base); /* v1[i] = i + base */
    VBCAST_I32(2, 7);       /* v2 = 7 everywhere */
    VST(1, VTPU_VMEM_BASE); /* VMEM[0..4095] = v1 */
    return base + 1;
}

__attribute__((noinline)) int accumulate(int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += i;
    counter = counter + 1;
    return sum;
}

int main(void)
{
    int r = fill_vregs(100);       /* 101 */
    int s = accumulate(7);         /* 21 */
    return r - 101 + s + 21 + (counter - 6) +
           (int)(table[2] - 0x33333333u); /* 42 */
}
