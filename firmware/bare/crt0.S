/*
 * crt0.S - start-up for programs on a vtpu TensorCore.
 *
 * At entry vtpu passes a0 = TC id, a1 = TCs started, a2..a5 = run
 * arguments (vtpu.h) and sp = the top of SMEM (SMEM base + smem-size).
 * They are kept in __vtpu_entry_args (a2..a5) and __vtpu_entry_sp for
 * vtpu_entry_arg() and vtpu_smem_top(); main() gets argc = 0.  Under
 * other loaders (qemu-riscv32) the values are whatever the loader left
 * there.
 */
    .section .text.init, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      t0, __vtpu_entry_sp
    sw      sp, 0(t0)
    la      sp, __stack_top
    la      t0, __vtpu_entry_args
    sw      a2, 0(t0)
    sw      a3, 4(t0)
    sw      a4, 8(t0)
    sw      a5, 12(t0)
    /* No .bss clearing: a vtpu run starts with SMEM = the image, .bss
     * zero (docs/execution.md), as qemu-riscv32 loads it too.  The loop
     * was 4 instructions a word, 4000 of an empty launch's 5200. */
    li      a0, 0
    li      a1, 0
    call    main
    call    exit
3:  j       3b

    .section .data
    .balign 4
    .globl __vtpu_entry_args
__vtpu_entry_args:
    .word   0, 0, 0, 0
    .globl __vtpu_entry_sp
__vtpu_entry_sp:
    .word   0
