/*
 * tiny_elf.c - see tiny_elf.h.  The layout is the ELF32 header (52
 * bytes), one program header (32 bytes), then the code.
 */
#include <string.h>

#include "tiny_elf.h"

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

size_t tiny_elf(uint8_t *buf, const uint32_t *words, size_t n)
{
    const uint32_t entry = 0x00100000, ehsize = 52, phsize = 32;
    const uint32_t off = ehsize + phsize, code = (uint32_t)(4 * n);
    uint8_t *ph = buf + ehsize;

    memset(buf, 0, off);
    memcpy(buf, "\177ELF\1\1\1", 7); /* ELFCLASS32, LSB, version 1 */
    put16(buf + 16, 2);              /* ET_EXEC */
    put16(buf + 18, 243);            /* EM_RISCV */
    put32(buf + 20, 1);
    put32(buf + 24, entry);
    put32(buf + 28, ehsize); /* e_phoff */
    put16(buf + 40, ehsize);
    put16(buf + 42, phsize);
    put16(buf + 44, 1);
    put16(buf + 46, 40); /* e_shentsize, no sections */
    put32(ph + 0, 1);    /* PT_LOAD */
    put32(ph + 4, off);
    put32(ph + 8, entry);
    put32(ph + 12, entry);
    put32(ph + 16, code);
    put32(ph + 20, code);
    put32(ph + 24, 5); /* R+X */
    put32(ph + 28, 4);
    memcpy(buf + off, words, code);
    return off + code;
}
