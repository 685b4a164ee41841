/*
 * vtpu_module.c - kernel modules: check an ELF image as a TC program (the
 * one checker, hw/vtpu/abi/vtpu-elf.h) and read its kernel table
 * (.vtpu.kernels) and kernel symbols (vtpu_rt.h, docs/driver.md).  Runs
 * on the host and in the guest, before anything reaches the device.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vtpu-elf.h"
#include "vtpu_rt.h"
/* ------------------------------------------------------------------ */
/* ELF kernel modules                                                   */
/* ------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
elf_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "bad kernel module: ");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < errlen)
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return VTPU_RT_EBADELF;
}

/* NUL-terminated string at strtab[off] within [0, size). */
static const char *elf_str(const uint8_t *strtab, uint32_t size, uint32_t off)
{
    if (off >= size || !memchr(strtab + off, 0, size - off))
        return NULL;
    return (const char *)strtab + off;
}

int vtpu_module_parse(vtpu_module *m, const void *elf, size_t len,
                      const vtpu_drv_info *info, char *err, size_t errlen)
{
    const uint8_t *b = elf;
    if (err && errlen)
        err[0] = 0;
    memset(m, 0, sizeof(*m));
    /* What a TC program is: the one checker (hw/vtpu/abi/vtpu-elf.h).
     * Without device info, the largest windows the address map allows. */
    vtpu_elf_info ei;
    char why[200];
    if (vtpu_elf_check(b, len, info ? info->imem_size : VTPU_IMEM_MAX,
                       info ? info->smem_size : VTPU_SMEM_MAX, &ei, why,
                       sizeof(why)))
        return elf_err(err, errlen, "%s", why);
    m->smem_end = ei.smem_end;

    /* Section headers and their names. */
    uint32_t shoff = ei.shoff, shentsize = ei.shentsize, shnum = ei.shnum,
             shstrndx = ei.shstrndx;
    if (shnum == 0 || shentsize < 40 ||
        !vtpu_elf_within(shoff, (uint64_t)shnum * shentsize, len))
        return elf_err(err, errlen,
                       "no section headers (a kernel module needs "
                       ".vtpu.kernels)");
    if (shstrndx >= shnum)
        return elf_err(err, errlen, "section name table index %u out of range",
                       shstrndx);
#define SH(i) (b + shoff + (size_t)(i)*shentsize)
    const uint8_t *shs = SH(shstrndx);
    uint32_t shs_off = vtpu_elf_rd32(shs + 16),
             shs_size = vtpu_elf_rd32(shs + 20);
    if (!vtpu_elf_within(shs_off, shs_size, len))
        return elf_err(err, errlen, "section name table outside the file");
    const uint8_t *names = b + shs_off;

    int ktab = -1, symtab = -1;
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = SH(i);
        uint32_t type = vtpu_elf_rd32(sh + 4);
        if (type != VTPU_ELF_SHT_NOBITS && type != 0 &&
            !vtpu_elf_within(vtpu_elf_rd32(sh + 16), vtpu_elf_rd32(sh + 20),
                             len))
            return elf_err(err, errlen, "section %u lies outside the file", i);
        const char *nm = elf_str(names, shs_size, vtpu_elf_rd32(sh));
        if (nm && !strcmp(nm, ".vtpu.kernels"))
            ktab = (int)i;
        if (type == VTPU_ELF_SHT_SYMTAB)
            symtab = (int)i;
    }
    if (ktab < 0)
        return elf_err(err, errlen,
                       "no .vtpu.kernels section: not a kernel module (link "
                       "with the TC runtime and declare kernels with "
                       "VTPU_KERNEL)");
    const uint8_t *ks = SH(ktab);
    uint32_t kaddr = vtpu_elf_rd32(ks + 12), koff = vtpu_elf_rd32(ks + 16),
             ksize = vtpu_elf_rd32(ks + 20);
    if (vtpu_elf_rd32(ks + 4) == VTPU_ELF_SHT_NOBITS ||
        ksize % sizeof(vtpu_kernel_entry))
        return elf_err(err, errlen,
                       ".vtpu.kernels is %u bytes, not a whole number of "
                       "%zu-byte entries",
                       ksize, sizeof(vtpu_kernel_entry));
    /* The loop above skips SHT_NULL sections: check this one here. */
    if (!vtpu_elf_within(koff, ksize, len))
        return elf_err(err, errlen, ".vtpu.kernels lies outside the file");
    uint32_t nk = ksize / sizeof(vtpu_kernel_entry);
    if (nk == 0)
        return elf_err(err, errlen, "the module declares no kernels");
    if (nk > VTPU_RT_MAX_KERNELS)
        return elf_err(err, errlen,
                       "%u kernels; the runtime takes at most %u per module",
                       nk, VTPU_RT_MAX_KERNELS);
    for (uint32_t k = 0; k < nk; k++) {
        vtpu_kernel_entry *e = &m->kernels[k];
        memcpy(e, b + koff + (size_t)k * sizeof(*e), sizeof(*e));
        if (e->magic != VTPU_KERNEL_MAGIC || e->abi != VTPU_KERNEL_ABI ||
            e->size != sizeof(*e))
            return elf_err(err, errlen,
                           "kernel table entry %u: magic 0x%08x, ABI %u, "
                           "size %u (want 0x%08x, %u, %zu)",
                           k, e->magic, e->abi, e->size, VTPU_KERNEL_MAGIC,
                           VTPU_KERNEL_ABI, sizeof(*e));
        if (!memchr(e->name, 0, sizeof(e->name)) || !e->name[0])
            return elf_err(err, errlen,
                           "kernel table entry %u: name is empty or not "
                           "NUL-terminated",
                           k);
    }
    m->num_kernels = nk;

    /* Every vtpu_kernel_<name> symbol must be its entry in the table. */
    if (symtab >= 0) {
        const uint8_t *st = SH(symtab);
        uint32_t soff = vtpu_elf_rd32(st + 16), ssize = vtpu_elf_rd32(st + 20);
        uint32_t link = vtpu_elf_rd32(st + 24);
        if (link >= shnum)
            return elf_err(err, errlen, "symbol table has no string table");
        uint32_t stroff = vtpu_elf_rd32(SH(link) + 16),
                 strsize = vtpu_elf_rd32(SH(link) + 20);
        if (!vtpu_elf_within(stroff, strsize, len))
            return elf_err(err, errlen, "string table outside the file");
        for (uint32_t i = 0; i + 16 <= ssize; i += 16) {
            const uint8_t *sym = b + soff + i;
            const char *nm = elf_str(b + stroff, strsize, vtpu_elf_rd32(sym));
            if (!nm || strncmp(nm, "vtpu_kernel_", 12))
                continue;
            const char *kn = nm + 12;
            uint32_t v = vtpu_elf_rd32(sym + 4);
            uint32_t idx = (v - kaddr) / sizeof(vtpu_kernel_entry);
            if (v < kaddr || (v - kaddr) % sizeof(vtpu_kernel_entry) ||
                idx >= nk ||
                strncmp(m->kernels[idx].name, kn, VTPU_KERNEL_NAME_LEN))
                return elf_err(err, errlen,
                               "symbol %s (0x%08x) is not the table entry "
                               "of kernel '%s'",
                               nm, v, kn);
        }
    }
#undef SH
    return VTPU_DRV_OK;
}

int vtpu_module_find(const vtpu_module *m, const char *name, uint32_t *index)
{
    if (!m || !name)
        return VTPU_DRV_EINVAL;
    for (uint32_t k = 0; k < m->num_kernels; k++)
        if (!strncmp(m->kernels[k].name, name, VTPU_KERNEL_NAME_LEN)) {
            if (index)
                *index = k;
            return VTPU_DRV_OK;
        }
    return VTPU_RT_ENOKERNEL;
}

int vtpu_module_kernel_ext(const void *elf, size_t len,
                           const vtpu_kernel_entry *e, vtpu_kernel_ext *out,
                           char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!e->ext)
        return 1;
    vtpu_elf_info ei;
    char why[200];
    if (vtpu_elf_check(elf, len, VTPU_IMEM_MAX, VTPU_SMEM_MAX, &ei, why,
                       sizeof(why)))
        return elf_err(err, errlen, "%s", why);
    vtpu_elf_seg seg;
    for (uint32_t i = 0; !vtpu_elf_segment(elf, &ei, i, &seg); i++) {
        if (seg.imem || e->ext < seg.vaddr || e->ext - seg.vaddr > seg.filesz ||
            seg.filesz - (e->ext - seg.vaddr) < sizeof(*out))
            continue;
        memcpy(out, (const uint8_t *)elf + seg.off + (e->ext - seg.vaddr),
               sizeof(*out));
        if (out->magic != VTPU_KEXT_MAGIC ||
            out->version != VTPU_KEXT_VERSION || out->size != sizeof(*out))
            return elf_err(err, errlen,
                           "kernel '%.31s': extension record at 0x%08x has "
                           "magic 0x%08x, version %u, size %u (this driver "
                           "reads 0x%08x, %u, %zu)",
                           e->name, e->ext, out->magic, out->version, out->size,
                           VTPU_KEXT_MAGIC, VTPU_KEXT_VERSION, sizeof(*out));
        return 0;
    }
    return elf_err(err, errlen,
                   "kernel '%.31s': extension record at 0x%08x is not in the "
                   "module's SMEM data",
                   e->name, e->ext);
}
