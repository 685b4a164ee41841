/*
 * vtpu-elf.c - the checker of TensorCore programs (vtpu-elf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vtpu-elf.h"
#include "vtpu-map.h"
#include "vtpu-regs.h"

#define EF_RISCV_RVC 0x1
#define EF_RISCV_FLOAT_ABI 0x6
#define EF_RISCV_RVE 0x8

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int in_window(uint32_t vaddr, uint32_t memsz, uint32_t base,
                     uint32_t size)
{
    uint64_t end = (uint64_t)vaddr + memsz;
    return vaddr >= base && end <= (uint64_t)base + size;
}

int vtpu_elf_segment(const void *elf, const vtpu_elf_info *info, uint32_t i,
                     vtpu_elf_seg *seg)
{
    const uint8_t *b = elf;
    uint32_t n = 0;

    for (uint32_t k = 0; k < info->phnum; k++) {
        const uint8_t *ph = b + info->phoff + (size_t)k * info->phentsize;
        if (vtpu_elf_rd32(ph) != VTPU_ELF_PT_LOAD ||
            vtpu_elf_rd32(ph + 20) == 0)
            continue;
        if (n++ != i)
            continue;
        seg->index = k;
        seg->off = vtpu_elf_rd32(ph + 4);
        seg->vaddr = vtpu_elf_rd32(ph + 8);
        seg->filesz = vtpu_elf_rd32(ph + 16);
        seg->memsz = vtpu_elf_rd32(ph + 20);
        seg->imem = seg->vaddr < VTPU_SMEM_BASE;
        return 0;
    }
    return -1;
}

int vtpu_elf_check(const void *elf, size_t len, uint32_t imem_size,
                   uint32_t smem_size, vtpu_elf_info *info, char *err,
                   size_t errlen)
{
    const uint8_t *b = elf;

    memset(info, 0, sizeof(*info));
    if (!b || len < 52 || memcmp(b, "\177ELF", 4) != 0)
        return fail(err, errlen, "not an ELF file (%zu bytes)", len);
    if (b[4] != 1)
        return fail(err, errlen,
                    b[4] == 2 ? "64-bit ELF (ELFCLASS64): a TensorCore is "
                                "RV32 (build with -march=rv32imf "
                                "-mabi=ilp32f)"
                              : "ELF class %u is not ELFCLASS32",
                    b[4]);
    if (b[5] != 1)
        return fail(err, errlen,
                    "not little-endian (EI_DATA %u): RISC-V is "
                    "little-endian",
                    b[5]);
    if (b[6] != 1 || vtpu_elf_rd32(b + 20) != 1)
        return fail(err, errlen, "ELF version %u is not 1", b[6]);
    if (vtpu_elf_rd16(b + 18) != VTPU_ELF_EM_RISCV)
        return fail(err, errlen,
                    "machine %u is not RISC-V (EM_RISCV = 243): wrong "
                    "architecture",
                    vtpu_elf_rd16(b + 18));
    if (vtpu_elf_rd16(b + 16) != VTPU_ELF_ET_EXEC)
        return fail(err, errlen,
                    "type %u is not an executable (ET_EXEC = 2); link "
                    "with firmware/vtpu.ld",
                    vtpu_elf_rd16(b + 16));
    uint32_t flags = vtpu_elf_rd32(b + 36);
    if (flags & EF_RISCV_RVC)
        return fail(err, errlen,
                    "uses compressed instructions (RVC), which a "
                    "TensorCore does not have; build with -march=rv32imf");
    if (flags & EF_RISCV_RVE)
        return fail(err, errlen, "RV32E binary; a TensorCore is RV32IMF");
    if ((flags & EF_RISCV_FLOAT_ABI) > 0x2)
        return fail(err, errlen,
                    "double-precision float ABI; a TensorCore has F only "
                    "(build with -mabi=ilp32f)");
    if (len > VTPU_LOAD_PROG_MAX_LEN)
        return fail(err, errlen,
                    "image of %zu bytes is over the %u-byte limit of "
                    "LOAD_PROG",
                    len, VTPU_LOAD_PROG_MAX_LEN);

    info->entry = vtpu_elf_rd32(b + 24);
    info->phoff = vtpu_elf_rd32(b + 28);
    info->phentsize = vtpu_elf_rd16(b + 42);
    info->phnum = vtpu_elf_rd16(b + 44);
    info->shoff = vtpu_elf_rd32(b + 32);
    info->shentsize = vtpu_elf_rd16(b + 46);
    info->shnum = vtpu_elf_rd16(b + 48);
    info->shstrndx = vtpu_elf_rd16(b + 50);
    if (info->phnum == 0 || info->phentsize < 32 ||
        !vtpu_elf_within(info->phoff, (uint64_t)info->phnum * info->phentsize,
                         len))
        return fail(err, errlen,
                    "program headers (%u at 0x%x) lie outside the file",
                    info->phnum, info->phoff);

    info->code_end = VTPU_IMEM_BASE;
    info->smem_end = VTPU_SMEM_BASE;
    vtpu_elf_seg s;
    for (uint32_t i = 0; vtpu_elf_segment(elf, info, i, &s) == 0; i++) {
        if (s.filesz > s.memsz || !vtpu_elf_within(s.off, s.filesz, len))
            return fail(err, errlen,
                        "segment %u: file range 0x%x+0x%x is malformed",
                        s.index, s.off, s.filesz);
        uint32_t end = s.vaddr + s.memsz;
        if (in_window(s.vaddr, s.memsz, VTPU_IMEM_BASE, imem_size)) {
            if (s.vaddr % 4)
                return fail(err, errlen,
                            "segment %u: code at 0x%08x is not 4-byte "
                            "aligned",
                            s.index, s.vaddr);
            if (end > info->code_end)
                info->code_end = end;
        } else if (in_window(s.vaddr, s.memsz, VTPU_SMEM_BASE, smem_size)) {
            if (end > info->smem_end)
                info->smem_end = end;
        } else {
            return fail(
                err, errlen,
                "segment %u at 0x%08x+0x%x does not fit this device's IMEM "
                "[0x%08x, 0x%08x) or SMEM [0x%08x, 0x%08x): link "
                "with firmware/vtpu.ld and check the program fits",
                s.index, s.vaddr, s.memsz, VTPU_IMEM_BASE,
                VTPU_IMEM_BASE + imem_size, VTPU_SMEM_BASE,
                VTPU_SMEM_BASE + smem_size);
        }
    }
    if (info->code_end == VTPU_IMEM_BASE)
        return fail(err, errlen, "no code segment in IMEM at 0x%08x",
                    VTPU_IMEM_BASE);
    if (info->entry < VTPU_IMEM_BASE || info->entry >= info->code_end ||
        info->entry % 4)
        return fail(err, errlen, "entry point 0x%08x is not in the code",
                    info->entry);
    return 0;
}
