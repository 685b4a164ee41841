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
#include "vtpu-elf.h"

#define STT_NOTYPE 0
#define STT_FUNC 2

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
    g_free(prog->elf);
    free(prog);
}

static int sym_cmp(const void *a, const void *b)
{
    const vtpu_symbol *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* __heap_start (else __bss_end) ends what C defines in SMEM. */
static void defined_symbol(vtpu_program *prog, const char *nm, size_t max,
                           uint32_t off)
{
    if (strnlen(nm, max) == max)
        return;
    if (!strcmp(nm, "__heap_start") ||
        (!strcmp(nm, "__bss_end") &&
         prog->smem_defined == prog->smem_image_len))
        prog->smem_defined = off;
}

/* Collect function symbols from .symtab; a broken table is ignored. */
static void load_symbols(vtpu_program *prog, const uint8_t *b, size_t len)
{
    uint32_t shoff = vtpu_elf_rd32(b + 32);
    uint16_t shentsize = vtpu_elf_rd16(b + 46), shnum = vtpu_elf_rd16(b + 48);
    uint32_t code_end = VTPU_IMEM_BASE + prog->code_words * 4;

    if (!shoff || shentsize < 40 ||
        !vtpu_elf_within(shoff, (uint64_t)shnum * shentsize, len))
        return;
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = b + shoff + (size_t)i * shentsize;
        if (vtpu_elf_rd32(sh + 4) != VTPU_ELF_SHT_SYMTAB)
            continue;
        uint32_t off = vtpu_elf_rd32(sh + 16), size = vtpu_elf_rd32(sh + 20);
        uint32_t link = vtpu_elf_rd32(sh + 24),
                 entsize = vtpu_elf_rd32(sh + 36);
        if (link >= shnum || entsize < 16 || !vtpu_elf_within(off, size, len))
            return;
        const uint8_t *str = b + shoff + (size_t)link * shentsize;
        uint32_t stroff = vtpu_elf_rd32(str + 16),
                 strsize = vtpu_elf_rd32(str + 20);
        if (!vtpu_elf_within(stroff, strsize, len) || strsize == 0)
            return;
        uint32_t n = size / entsize;
        prog->syms = calloc(n ? n : 1, sizeof(vtpu_symbol));
        if (!prog->syms)
            return;
        for (uint32_t k = 0; k < n; k++) {
            const uint8_t *s = b + off + (size_t)k * entsize;
            uint32_t name = vtpu_elf_rd32(s), value = vtpu_elf_rd32(s + 4);
            unsigned type = s[12] & 0xf;
            if (type == STT_NOTYPE && name && name < strsize &&
                value >= VTPU_SMEM_BASE &&
                value - VTPU_SMEM_BASE <= prog->smem_image_len)
                defined_symbol(prog, (const char *)b + stroff + name,
                               strsize - name, value - VTPU_SMEM_BASE);
            if ((type != STT_FUNC && type != STT_NOTYPE) || name == 0 ||
                name >= strsize || value < VTPU_IMEM_BASE || value >= code_end)
                continue;
            const char *nm = (const char *)b + stroff + name;
            size_t maxlen = strsize - name;
            size_t nl = strnlen(nm, maxlen);
            if (nl == maxlen || nl == 0 || nm[0] == '.' || (nm[0] == '$'))
                continue; /* unterminated, or a local label / mapping */
            vtpu_symbol *sym = &prog->syms[prog->nsyms];
            sym->name = strndup(nm, nl);
            if (!sym->name)
                continue;
            sym->addr = value;
            sym->size = vtpu_elf_rd32(s + 8);
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
    vtpu_elf_info info;
    char why[200];

    /* The rules of what a TC program is live in one place (abi/). */
    if (vtpu_elf_check(elf, len, cfg->imem_size, cfg->smem_size, &info, why,
                       sizeof(why))) {
        seterr(err, errlen, "%s", why);
        return NULL;
    }
    uint32_t entry = info.entry;
    uint64_t code_end = info.code_end, smem_end = info.smem_end;

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

    /* Copy the bytes (the rest stays zero: .bss). */
    vtpu_elf_seg sg;
    for (uint32_t i = 0; vtpu_elf_segment(b, &info, i, &sg) == 0; i++) {
        if (sg.imem)
            memcpy((uint8_t *)prog->text + (sg.vaddr - VTPU_IMEM_BASE),
                   b + sg.off, sg.filesz);
        else {
            uint64_t at = sg.vaddr - VTPU_SMEM_BASE;
            memcpy(prog->smem_image + at, b + sg.off, sg.filesz);
            if (at + sg.filesz > prog->smem_image_used)
                prog->smem_image_used = (uint32_t)(at + sg.filesz);
        }
    }
    /* Zeros at the end of .data are .bss to a reset (dirty.c). */
    while (prog->smem_image_used && !prog->smem_image[prog->smem_image_used - 1])
        prog->smem_image_used--;
    /* The words are little-endian in the file; make them host order. */
    for (uint32_t i = 0; i < prog->code_words; i++)
        prog->text[i] = vtpu_elf_rd32((const uint8_t *)&prog->text[i]);
    vtpu_decode_program(prog->text, prog->code_words, prog->code);
    prog->smem_defined = prog->smem_image_len;
    load_symbols(prog, b, len);
    return prog;
oom:
    seterr(err, errlen, "out of host memory");
    vtpu_program_free(prog);
    return NULL;
}
