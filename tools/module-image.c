/*
 * module-image.c - a kernel module without its debug information
 * (module-image.h).  Byte ranges of the dropped sections are cut out,
 * each rounded down to a multiple of 16 (the few bytes left over are
 * dead), and every file offset after a cut moves back by what was cut
 * before it: section offsets, the section header table, segment offsets.
 */
#include "module-image.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CUTS 64
#define SHT_NOBITS 8u
#define SHF_ALLOC 2u

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

typedef struct cut {
    uint32_t off, len; /* len a multiple of 16 */
} cut;

static bool overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Where old offset `off` lands: moved back by the cuts before it. */
static uint32_t moved(const cut *c, unsigned n, uint32_t off)
{
    uint32_t back = 0;
    for (unsigned i = 0; i < n; i++)
        if (c[i].off + c[i].len <= off)
            back += c[i].len;
    return off - back;
}

static int by_off(const void *a, const void *b)
{
    const cut *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

void *vtpu_module_strip_debug(const void *image, size_t len, size_t *outlen)
{
    const uint8_t *e = image;
    if (len < 52 || len > UINT32_MAX || memcmp(e, "\177ELF", 4) ||
        e[4] != 1 /* ELFCLASS32 */ || e[5] != 1 /* little-endian */)
        return NULL;
    uint32_t phoff = rd32(e + 28), shoff = rd32(e + 32);
    unsigned phentsize = rd16(e + 42), phnum = rd16(e + 44);
    unsigned shentsize = rd16(e + 46), shnum = rd16(e + 48);
    unsigned shstrndx = rd16(e + 50);
    uint64_t phend = (uint64_t)phoff + (uint64_t)phentsize * phnum;
    uint64_t shend = (uint64_t)shoff + (uint64_t)shentsize * shnum;
    if (shentsize != 40 || !shnum || shstrndx >= shnum || shend > len ||
        (phnum && (phentsize != 32 || phend > len)) || (shoff & 3))
        return NULL;
    const uint8_t *strsh = e + shoff + shstrndx * 40;
    uint32_t stroff = rd32(strsh + 16), strsize = rd32(strsh + 20);
    if ((uint64_t)stroff + strsize > len)
        return NULL;

    /* The sections to cut, and nothing they may touch. */
    cut c[MAX_CUTS];
    unsigned n = 0;
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = e + shoff + i * 40;
        uint32_t name = rd32(sh), type = rd32(sh + 4), flags = rd32(sh + 8);
        uint32_t off = rd32(sh + 16), size = rd32(sh + 20);
        if (type == SHT_NOBITS || !size)
            continue;
        if ((uint64_t)off + size > len)
            return NULL;
        if (name < strsize && strsize - name > 6 &&
            !strncmp((const char *)e + stroff + name, ".debug", 6) &&
            memchr(e + stroff + name, 0, strsize - name) &&
            !(flags & SHF_ALLOC)) {
            uint32_t start = (off + 15) & ~15u, end = off + size;
            if (end - off < 32 || n == MAX_CUTS)
                continue;
            c[n].off = start;
            c[n].len = (end - start) & ~15u;
            n++;
        }
    }
    if (!n)
        return NULL;
    qsort(c, n, sizeof(c[0]), by_off);
    for (unsigned k = 0; k < n; k++) {
        if ((k + 1 < n && c[k].off + c[k].len > c[k + 1].off) ||
            overlaps(c[k].off, c[k].len, 0, 52) ||
            overlaps(c[k].off, c[k].len, phoff, (uint32_t)(phend - phoff)) ||
            overlaps(c[k].off, c[k].len, shoff, (uint32_t)(shend - shoff)))
            return NULL;
        for (unsigned i = 0; i < shnum; i++) {
            const uint8_t *sh = e + shoff + i * 40;
            uint32_t off = rd32(sh + 16), size = rd32(sh + 20);
            uint32_t align = rd32(sh + 32);
            bool cut_here = off <= c[k].off && c[k].off + c[k].len <= off + size;
            if (cut_here)
                continue; /* the cut's own section */
            if (rd32(sh + 4) != SHT_NOBITS && size &&
                overlaps(c[k].off, c[k].len, off, size))
                return NULL;
            if (align > 16 && off > c[k].off)
                return NULL;
        }
        for (unsigned i = 0; i < phnum; i++) {
            const uint8_t *ph = e + phoff + i * 32;
            if (overlaps(c[k].off, c[k].len, rd32(ph + 4), rd32(ph + 16)))
                return NULL;
        }
    }

    /* Copy around the cuts, then move the offsets. */
    uint32_t total = 0;
    for (unsigned k = 0; k < n; k++)
        total += c[k].len;
    uint8_t *out = malloc(len - total);
    if (!out)
        return NULL;
    size_t from = 0, to = 0;
    for (unsigned k = 0; k <= n; k++) {
        size_t upto = k < n ? c[k].off : len;
        memcpy(out + to, e + from, upto - from);
        to += upto - from;
        from = k < n ? (size_t)c[k].off + c[k].len : len;
    }
    uint32_t nshoff = moved(c, n, shoff);
    wr32(out + 32, nshoff);
    for (unsigned i = 0; i < phnum; i++) {
        uint8_t *ph = out + moved(c, n, phoff) + i * 32;
        wr32(ph + 4, moved(c, n, rd32(ph + 4)));
    }
    for (unsigned i = 0; i < shnum; i++) {
        uint8_t *sh = out + nshoff + i * 40;
        uint32_t off = rd32(sh + 16), size = rd32(sh + 20);
        bool dropped = false;
        for (unsigned k = 0; k < n; k++)
            dropped |= off <= c[k].off && c[k].off + c[k].len <= off + size &&
                       rd32(sh + 4) != SHT_NOBITS;
        wr32(sh + 16, moved(c, n, off));
        if (dropped)
            wr32(sh + 20, 0);
    }
    *outlen = len - total;
    return out;
}
