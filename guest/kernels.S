/*
 * kernels.S - kernel modules inside the guest image (kernels.h): the
 * kernel library (firmware/kernels/kernels.elf) and the module of
 * kernels that fail on purpose (selftest.elf).  The build passes their
 * paths as VTPU_KERNELS_ELF and VTPU_SELFTEST_ELF.
 */
    .section .rodata.vtpu_kernels, "a"
    .balign 16
    .globl vtpu_kernels_elf
vtpu_kernels_elf:
    .incbin VTPU_KERNELS_ELF
vtpu_kernels_elf_end:
    .balign 16
    .globl vtpu_selftest_elf
vtpu_selftest_elf:
    .incbin VTPU_SELFTEST_ELF
vtpu_selftest_elf_end:
    .balign 8
    .globl vtpu_kernels_elf_len
vtpu_kernels_elf_len:
    .dword vtpu_kernels_elf_end - vtpu_kernels_elf
    .globl vtpu_selftest_elf_len
vtpu_selftest_elf_len:
    .dword vtpu_selftest_elf_end - vtpu_selftest_elf
