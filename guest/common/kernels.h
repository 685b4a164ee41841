/*
 * kernels.h - the kernel modules built into the guest image by
 * guest/kernels.S: the kernel library (firmware/kernels/kernels.elf) and
 * the kernels that misbehave on purpose (firmware/kernels/selftest.elf).
 */
#ifndef GUEST_KERNELS_H
#define GUEST_KERNELS_H

#include <stdint.h>

extern const unsigned char vtpu_kernels_elf[];
extern const uint64_t vtpu_kernels_elf_len;
extern const unsigned char vtpu_selftest_elf[];
extern const uint64_t vtpu_selftest_elf_len;

#endif /* GUEST_KERNELS_H */
