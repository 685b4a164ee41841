/*
 * tiny_elf.h - hand-made RV32 programs for the TCs, for guest programs
 * that need a program without the TC runtime (an empty launch, a fault,
 * a kernel that never ends) and without a cross compiler at run time.
 */
#ifndef GUEST_TINY_ELF_H
#define GUEST_TINY_ELF_H

#include <stddef.h>
#include <stdint.h>

/* Instruction words of a few programs. */
#define TINY_EXIT_A2                                                           \
    {                                                                          \
        0x00060513, 0x05d00893, 0x00000073                                     \
    } /* exit(a2) */
#define TINY_EXIT_0                                                            \
    {                                                                          \
        0x00000513, 0x05d00893, 0x00000073                                     \
    } /* exit(0) */
#define TINY_SPIN                                                              \
    {                                                                          \
        0x0000006f                                                             \
    } /* j . */
#define TINY_EBREAK                                                            \
    {                                                                          \
        0x00000013, 0x00100073                                                 \
    } /* nop; ebreak */
/* lui t0, 0x100; 1: addi t0, t0, -1; bnez t0, 1b; exit(0): a launch
 * that keeps a TC busy for 2M instructions (milliseconds). */
#define TINY_COUNTDOWN                                                         \
    {                                                                          \
        0x001002b7, 0xfff28293, 0xfe029ee3, 0x00000513, 0x05d00893, 0x00000073 \
    }

/* Bytes tiny_elf() writes for `n` instruction words. */
#define TINY_ELF_SIZE(n) (84 + 4 * (n))

/*
 * An RV32 little-endian ET_EXEC with one PT_LOAD (R+X) of `n` words at
 * IMEM (0x00100000), the entry point; writes TINY_ELF_SIZE(n) bytes to
 * `buf` and returns that.
 */
size_t tiny_elf(uint8_t *buf, const uint32_t *words, size_t n);

#endif /* GUEST_TINY_ELF_H */
