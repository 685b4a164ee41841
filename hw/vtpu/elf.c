/*
 * elf.c - turn an RV32 ELF executable into a vtpu_program.
 *
 * Every field is checked against the file size before use: the ELF comes
 * from a user (vtpu-run) or a guest (the QEMU device), and a malformed file
 * must give a message, never a crash.  Code is decoded here, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define EM_RISCV 243
#define ET_EXEC 2
#define PT_LOAD 1
#define SHT_SYMTAB 2
#define STT_NOTYPE 0
#define STT_FUNC 2
#define EF_RISCV_RVC 0x1
#define EF_RISCV_FLOAT_ABI 0x6
#define EF_RISCV_RVE 0x8

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "ELF: ");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool within(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

void vtpu_program_free(vtpu_program *prog)
{
    if (!prog)
        return;
    for (uint32_t i = 0; i < prog->nsyms; i++)
        free(prog->syms[i].name);
    free(prog->syms);
    free(prog->code);
    free(prog->text);
    free(prog->smem_image);
    free(prog);
}

static int sym_cmp(const void *a, const void *b)
{
    const vtpu_symbol *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Collect function symbols from .symtab; a broken table is ignored. */
static void load_symbols(vtpu_program *prog, const uint8_t *b, size_t len)
{
    uint32_t shoff = rd32(b + 32);
    uint16_t shentsize = rd16(b + 46), shnum = rd16(b + 48);
    uint32_t code_end = VTPU_IMEM_BASE + prog->code_words * 4;

    if (!shoff || shentsize < 40 ||
        !within(shoff, (uint64_t)shnum * shentsize, len))
        return;
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = b + shoff + (size_t)i * shentsize;
        if (rd32(sh + 4) != SHT_SYMTAB)
            continue;
        uint32_t off = rd32(sh + 16), size = rd32(sh + 20);
        uint32_t link = rd32(sh + 24), entsize = rd32(sh + 36);
        if (link >= shnum || entsize < 16 || !within(off, size, len))
            return;
        const uint8_t *str = b + shoff + (size_t)link * shentsize;
        uint32_t stroff = rd32(str + 16), strsize = rd32(str + 20);
        if (!within(stroff, strsize, len) || strsize == 0)
            return;
        uint32_t n = size / entsize;
        prog->syms = calloc(n ? n : 1, sizeof(vtpu_symbol));
        if (!prog->syms)
            return;
        for (uint32_t k = 0; k < n; k++) {
            const uint8_t *s = b + off + (size_t)k * entsize;
            uint32_t name = rd32(s), value = rd32(s + 4);
            unsigned type = s[12] & 0xf;
            if ((type != STT_FUNC && type != STT_NOTYPE) || name == 0 ||
                name >= strsize || value < VTPU_IMEM_BASE ||
                value >= code_end)
                continue;
            const char *nm = (const char *)b + stroff + name;
            size_t maxlen = strsize - name;
            size_t nl = strnlen(nm, maxlen);
            if (nl == maxlen || nl == 0 || nm[0] == '.' ||
                (nm[0] == '$' ))
                continue; /* unterminated, or a local label / mapping */
            vtpu_symbol *sym = &prog->syms[prog->nsyms];
            sym->name = strndup(nm, nl);
            if (!sym->name)
                continue;
            sym->addr = value;
            sym->size = rd32(s + 8);
            prog->nsyms++;
        }
        qsort(prog->syms, prog->nsyms, sizeof(vtpu_symbol), sym_cmp);
        return;
    }
}

const char *vtpu_program_symbol(const vtpu_program *prog, uint32_t pc,
                                uint32_t *off)
{
    if (!prog || !prog->nsyms)
        return NULL;
    /* Last symbol with addr <= pc; prefer sized (FUNC) symbols there. */
    uint32_t lo = 0, hi = prog->nsyms;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (prog->syms[mid].addr <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const vtpu_symbol *best = &prog->syms[lo - 1];
    for (uint32_t i = lo; i-- > 0 && prog->syms[i].addr == best->addr;)
        if (prog->syms[i].size)
            best = &prog->syms[i];
    if (best->size && pc - best->addr >= best->size)
        return NULL;
    if (off)
        *off = pc - best->addr;
    return best->name;
}

vtpu_program *vtpu_program_from_elf(const vtpu_config *cfg, const void *elf,
                                    size_t len, char *err, size_t errlen)
{
    const uint8_t *b = elf;
    if (!b || len < 52 || memcmp(b, "\177ELF", 4) != 0) {
        seterr(err, errlen, "not an ELF file");
        return NULL;
    }
    if (b[4] != 1) {
        seterr(err, errlen,
               "ELFCLASS64 file: a TensorCore is RV32 (build with "
               "-march=rv32imf -mabi=ilp32f)");
        return NULL;
    }
    if (b[5] != 1) {
        seterr(err, errlen, "big-endian file: RISC-V is little-endian");
        return NULL;
    }
    if (rd16(b + 18) != EM_RISCV) {
        seterr(err, errlen, "machine %u is not RISC-V (243)", rd16(b + 18));
        return NULL;
    }
    if (rd16(b + 16) != ET_EXEC) {
        seterr(err, errlen,
               "type %u is not an executable (ET_EXEC); link the program "
               "with firmware/vtpu.ld",
               rd16(b + 16));
        return NULL;
    }
    uint32_t flags = rd32(b + 36);
    if (flags & EF_RISCV_RVC) {
        seterr(err, errlen,
               "uses compressed instructions (C extension), which a "
               "TensorCore does not have; build with -march=rv32imf");
        return NULL;
    }
    if (flags & EF_RISCV_RVE) {
        seterr(err, errlen, "RV32E binary; a TensorCore is RV32IMF");
        return NULL;
    }
    if ((flags & EF_RISCV_FLOAT_ABI) > 0x2) {
        seterr(err, errlen,
               "double-precision float ABI; a TensorCore has F only "
               "(build with -mabi=ilp32f)");
        return NULL;
    }

    uint32_t entry = rd32(b + 24), phoff = rd32(b + 28);
    uint16_t phentsize = rd16(b + 42), phnum = rd16(b + 44);
    if (phnum == 0 || phentsize < 32 ||
        !within(phoff, (uint64_t)phnum * phentsize, len)) {
        seterr(err, errlen, "program headers lie outside the file");
        return NULL;
    }

    /* First pass: extent of the IMEM and SMEM images. */
    uint64_t code_end = VTPU_IMEM_BASE, smem_end = VTPU_SMEM_BASE;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = b + phoff + (size_t)i * phentsize;
        if (rd32(ph) != PT_LOAD || rd32(ph + 20) == 0)
            continue;
        uint32_t off = rd32(ph + 4), vaddr = rd32(ph + 8);
        uint32_t filesz = rd32(ph + 16), memsz = rd32(ph + 20);
        if (filesz > memsz || !within(off, filesz, len)) {
            seterr(err, errlen,
                   "segment %u: file range 0x%x+0x%x is malformed", i, off,
                   filesz);
            return NULL;
        }
        uint64_t end = (uint64_t)vaddr + memsz;
        if (vaddr >= VTPU_IMEM_BASE &&
            end <= (uint64_t)VTPU_IMEM_BASE + cfg->imem_size) {
            if (vaddr % 4) {
                seterr(err, errlen,
                       "segment %u: code at 0x%08x is not 4-byte aligned", i,
                       vaddr);
                return NULL;
            }
            if (end > code_end)
                code_end = end;
        } else if (vaddr >= VTPU_SMEM_BASE &&
                   end <= (uint64_t)VTPU_SMEM_BASE + cfg->smem_size) {
            if (end > smem_end)
                smem_end = end;
        } else {
            seterr(err, errlen,
                   "segment %u at 0x%08x-0x%08llx is outside IMEM "
                   "[0x%08x, 0x%08x) and SMEM [0x%08x, 0x%08x): link with "
                   "firmware/vtpu.ld and check the program fits",
                   i, vaddr, (unsigned long long)end, VTPU_IMEM_BASE,
                   VTPU_IMEM_BASE + cfg->imem_size, VTPU_SMEM_BASE,
                   VTPU_SMEM_BASE + cfg->smem_size);
            return NULL;
        }
    }
    if (code_end == VTPU_IMEM_BASE) {
        seterr(err, errlen, "no code segment in IMEM at 0x%08x",
               VTPU_IMEM_BASE);
        return NULL;
    }
    if (entry < VTPU_IMEM_BASE || entry >= code_end || entry % 4) {
        seterr(err, errlen, "entry point 0x%08x is not in the code", entry);
        return NULL;
    }

    vtpu_program *prog = calloc(1, sizeof(*prog));
    if (!prog)
        goto oom;
    prog->entry = entry;
    prog->code_words = (uint32_t)((code_end - VTPU_IMEM_BASE + 3) / 4);
    prog->text = calloc(prog->code_words, 4);
    prog->code = calloc(prog->code_words, sizeof(vtpu_insn));
    prog->smem_image_len = (uint32_t)(smem_end - VTPU_SMEM_BASE);
    prog->smem_image = calloc(1, prog->smem_image_len + 1);
    if (!prog->text || !prog->code || !prog->smem_image)
        goto oom;

    /* Second pass: copy bytes (the rest stays zero: .bss). */
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = b + phoff + (size_t)i * phentsize;
        if (rd32(ph) != PT_LOAD || rd32(ph + 20) == 0)
            continue;
        uint32_t off = rd32(ph + 4), vaddr = rd32(ph + 8);
        uint32_t filesz = rd32(ph + 16);
        if (vaddr >= VTPU_SMEM_BASE)
            memcpy(prog->smem_image + (vaddr - VTPU_SMEM_BASE), b + off,
                   filesz);
        else
            memcpy((uint8_t *)prog->text + (vaddr - VTPU_IMEM_BASE),
                   b + off, filesz);
    }
    /* The words are little-endian in the file; make them host order. */
    for (uint32_t i = 0; i < prog->code_words; i++)
        prog->text[i] = rd32((const uint8_t *)&prog->text[i]);
    vtpu_decode_program(prog->text, prog->code_words, prog->code);
    load_symbols(prog, b, len);
    return prog;
oom:
    seterr(err, errlen, "out of host memory");
    vtpu_program_free(prog);
    return NULL;
}
