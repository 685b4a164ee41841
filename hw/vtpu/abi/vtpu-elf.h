/*
 * vtpu-elf.h - what a program for the TensorCores is: the one checker of
 * RV32 ELF images, used by the engine's loader (hw/vtpu/elf.c, which the
 * device's LOAD_PROG reaches) and by the runtime's kernel-module reader
 * (driver/vtpu_rt.c, in the guest and on the host), so that both accept
 * and refuse the same files with the same words.
 *
 * Freestanding C (<stdint.h>, <stddef.h>, <string.h>, snprintf): it builds
 * into the engine, the host driver and the bare-metal guest.  Every field
 * is bounds-checked against the image length before use; the image must
 * not change during the call (callers parse private copies).
 */
#ifndef VTPU_ELF_H
#define VTPU_ELF_H

#include <stddef.h>
#include <stdint.h>

#define VTPU_ELF_EM_RISCV 243
#define VTPU_ELF_ET_EXEC 2
#define VTPU_ELF_PT_LOAD 1
#define VTPU_ELF_SHT_SYMTAB 2
#define VTPU_ELF_SHT_NOBITS 8

/* A PT_LOAD segment with a non-zero memory size. */
typedef struct vtpu_elf_seg {
    uint32_t index; /* program header index */
    uint32_t off, vaddr, filesz, memsz;
    int imem; /* 1: in the IMEM window (code), 0: SMEM (data) */
} vtpu_elf_seg;

/* What the checker found, for the caller's own passes. */
typedef struct vtpu_elf_info {
    uint32_t entry;
    uint32_t phoff, phentsize, phnum;
    uint32_t shoff, shentsize, shnum, shstrndx;
    uint32_t code_end; /* end of the highest IMEM segment (TC address) */
    uint32_t smem_end; /* end of the highest SMEM segment (TC address) */
} vtpu_elf_info;

/*
 * Check `elf` (len bytes) as a program for TCs with `imem_size` bytes of
 * IMEM and `smem_size` of SMEM: ELF identity (class 32, little-endian,
 * version 1), EM_RISCV, ET_EXEC, no RVC/RVE/double-float ABI, at most
 * VTPU_LOAD_PROG_MAX_LEN bytes, program headers inside the file, every
 * loaded segment's file range inside the file and its memory inside IMEM
 * (4-byte aligned) or SMEM, some code in IMEM, the entry point in it.
 * Returns 0 and fills *info, or -1 with a one-line reason in err.
 */
int vtpu_elf_check(const void *elf, size_t len, uint32_t imem_size,
                   uint32_t smem_size, vtpu_elf_info *info, char *err,
                   size_t errlen);

/* The `i`-th loaded segment of a checked image (0..): 0 and *seg, or -1
 * past the last one. */
int vtpu_elf_segment(const void *elf, const vtpu_elf_info *info, uint32_t i,
                     vtpu_elf_seg *seg);

/* Little-endian fields of an image. */
static inline uint32_t vtpu_elf_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint16_t vtpu_elf_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* off + size <= len, without overflow. */
static inline int vtpu_elf_within(uint64_t off, uint64_t size, uint64_t len)
{
    return off <= len && size <= len - off;
}

#endif /* VTPU_ELF_H */
