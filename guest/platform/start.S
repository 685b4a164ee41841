/*
 * start.S - entry and trap vector of the bare-metal riscv64 guest.
 *
 * QEMU's virt machine with "-bios none -kernel" jumps here in M-mode with
 * a0 = hart id and a1 = the device tree's address.  Hart 0 sets up gp, tp
 * (the TLS block of guest.ld), the stack, zeroes .bss/.tbss, turns the
 * FPU on (mstatus.FS, the ABI is lp64f), installs the trap vector and
 * calls guest_boot(hartid, dtb), which never returns.  Other harts park.
 *
 * The trap vector saves every integer register and mepc in a
 * guest_trap_frame (guest.h) on the current stack, calls guest_trap()
 * and restores them (mepc too, so a handler may skip an instruction).
 * FP registers are not saved: trap handlers do no floating point.
 */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    bnez    a0, park
    la      sp, __stack_top
    la      tp, __tls_base
    csrw    mie, zero
    li      t0, (1 << 13)             /* mstatus.FS = Initial */
    csrs    mstatus, t0
    fscsr   zero
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  la      t0, guest_trap_entry
    csrw    mtvec, t0
    call    guest_boot
park:
    wfi
    j       park

    .text
    .balign 4
    .globl guest_trap_entry
guest_trap_entry:
    addi    sp, sp, -34*8
    sd      x1, 1*8(sp)
    sd      x3, 3*8(sp)
    sd      x4, 4*8(sp)
    sd      x5, 5*8(sp)
    sd      x6, 6*8(sp)
    sd      x7, 7*8(sp)
    sd      x8, 8*8(sp)
    sd      x9, 9*8(sp)
    sd      x10, 10*8(sp)
    sd      x11, 11*8(sp)
    sd      x12, 12*8(sp)
    sd      x13, 13*8(sp)
    sd      x14, 14*8(sp)
    sd      x15, 15*8(sp)
    sd      x16, 16*8(sp)
    sd      x17, 17*8(sp)
    sd      x18, 18*8(sp)
    sd      x19, 19*8(sp)
    sd      x20, 20*8(sp)
    sd      x21, 21*8(sp)
    sd      x22, 22*8(sp)
    sd      x23, 23*8(sp)
    sd      x24, 24*8(sp)
    sd      x25, 25*8(sp)
    sd      x26, 26*8(sp)
    sd      x27, 27*8(sp)
    sd      x28, 28*8(sp)
    sd      x29, 29*8(sp)
    sd      x30, 30*8(sp)
    sd      x31, 31*8(sp)
    addi    t0, sp, 34*8              /* sp before the trap */
    sd      t0, 2*8(sp)
    csrr    t0, mepc
    sd      t0, 0*8(sp)               /* slot of x0: the pc */
    csrr    t0, mcause
    sd      t0, 32*8(sp)
    csrr    t0, mtval
    sd      t0, 33*8(sp)
    mv      a0, sp
    call    guest_trap
    ld      t0, 0*8(sp)
    csrw    mepc, t0
    ld      x1, 1*8(sp)
    ld      x3, 3*8(sp)
    ld      x4, 4*8(sp)
    ld      x5, 5*8(sp)
    ld      x6, 6*8(sp)
    ld      x7, 7*8(sp)
    ld      x8, 8*8(sp)
    ld      x9, 9*8(sp)
    ld      x10, 10*8(sp)
    ld      x11, 11*8(sp)
    ld      x12, 12*8(sp)
    ld      x13, 13*8(sp)
    ld      x14, 14*8(sp)
    ld      x15, 15*8(sp)
    ld      x16, 16*8(sp)
    ld      x17, 17*8(sp)
    ld      x18, 18*8(sp)
    ld      x19, 19*8(sp)
    ld      x20, 20*8(sp)
    ld      x21, 21*8(sp)
    ld      x22, 22*8(sp)
    ld      x23, 23*8(sp)
    ld      x24, 24*8(sp)
    ld      x25, 25*8(sp)
    ld      x26, 26*8(sp)
    ld      x27, 27*8(sp)
    ld      x28, 28*8(sp)
    ld      x29, 29*8(sp)
    ld      x30, 30*8(sp)
    ld      x31, 31*8(sp)
    addi    sp, sp, 34*8
    mret
