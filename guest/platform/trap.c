/*
 * trap.c - M-mode trap handling: interrupts go to the timer and the PLIC
 * (irq.c), everything else is a bug in the guest and ends it with a
 * report a person can act on: the cause by name, the pc, mtval and every
 * register, then GUEST_EXIT_PANIC.
 */
#include <stdio.h>

#include "guest.h"

#define MCAUSE_INT (1ul << 63)
#define IRQ_M_TIMER 7
#define IRQ_M_EXT 11

void guest_irq_timer(void);    /* irq.c */
void guest_irq_external(void); /* irq.c */

static const char *const exc_names[] = {
    "instruction address misaligned",
    "instruction access fault",
    "illegal instruction",
    "breakpoint",
    "load address misaligned",
    "load access fault",
    "store/AMO address misaligned",
    "store/AMO access fault",
    "ecall from U-mode",
    "ecall from S-mode",
    "reserved (10)",
    "ecall from M-mode",
    "instruction page fault",
    "load page fault",
    "reserved (14)",
    "store/AMO page fault",
};

static const char *const reg_names[32] = {
    "pc", "ra", "sp", "gp", "tp",  "t0",  "t1", "t2", "s0", "s1", "a0",
    "a1", "a2", "a3", "a4", "a5",  "a6",  "a7", "s2", "s3", "s4", "s5",
    "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
};

static _Noreturn void trap_panic(const guest_trap_frame *f)
{
    uint64_t code = f->mcause & ~MCAUSE_INT;
    uint64_t mstatus;
    const char *what;

    __asm__ volatile("csrr %0, mstatus" : "=r"(mstatus));
    if (f->mcause & MCAUSE_INT)
        what = "unexpected interrupt";
    else if (code < sizeof(exc_names) / sizeof(exc_names[0]))
        what = exc_names[code];
    else
        what = "unknown exception";
    printf("\n*** guest panic: unexpected trap: %s (mcause 0x%llx)\n", what,
           (unsigned long long)f->mcause);
    printf("    mepc 0x%016llx  mtval 0x%016llx  mstatus 0x%llx\n",
           (unsigned long long)f->x[0], (unsigned long long)f->mtval,
           (unsigned long long)mstatus);
    for (int i = 1; i < 32; i++)
        printf("%s%-3s 0x%016llx%s", (i - 1) % 4 ? "  " : "    ", reg_names[i],
               (unsigned long long)f->x[i], i % 4 == 0 || i == 31 ? "\n" : "");
    printf("    (riscv64-unknown-elf-addr2line -e <program.elf> 0x%llx)\n",
           (unsigned long long)f->x[0]);
    guest_exit(GUEST_EXIT_PANIC);
}

void guest_trap(guest_trap_frame *f)
{
    if (f->mcause == (MCAUSE_INT | IRQ_M_TIMER))
        guest_irq_timer();
    else if (f->mcause == (MCAUSE_INT | IRQ_M_EXT))
        guest_irq_external();
    else
        trap_panic(f);
}
