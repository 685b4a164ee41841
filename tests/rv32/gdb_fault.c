/*
 * gdb_fault.c - faults for tests/test_gdbstub.py: with a debugger attached
 * an ebreak stops with SIGTRAP and continuing goes on after it; an
 * out-of-bounds store stops with SIGSEGV at the store.
 */
#include <stdint.h>

volatile int stage;

__attribute__((noinline)) void trap_here(void)
{
    __asm__ volatile("ebreak");
    stage = 1;
}

__attribute__((noinline)) void store_past_smem(volatile uint32_t *p)
{
    *p = 0xdeadbeef;
    stage = 2;
}

int main(void)
{
    trap_here();
    store_past_smem((volatile uint32_t *)0x10100000);
    return stage;
}
