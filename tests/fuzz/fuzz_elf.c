/*
 * fuzz_elf.c - libFuzzer target: the ELF loader (hw/vtpu/elf.c) on
 * arbitrary bytes, as LOAD_PROG hands it a guest's image and vtpu-run a
 * user's file; and on the same bytes the host runtime's kernel-module
 * reader (driver/vtpu_rt.c, vtpu_module_parse), which sees them first
 * when a user names a module.  docs/fuzzing.md.
 *
 * Besides "no crash, no sanitizer report", a loaded program must agree
 * with its own description: the entry is a code word, the SMEM image fits
 * SMEM, and every symbol lookup of a code address names a symbol that
 * starts at or below it.  A refusal must come with an "ELF: " message.
 * An accepted module has 1..VTPU_RT_MAX_KERNELS kernels with well-formed
 * entries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vtpu_rt.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_elf: %s:%d: check failed: %s\n", __FILE__,   \
                    __LINE__, #c);                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void module(const uint8_t *copy, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vtpu_config cfg;
    static int ready;
    char err[256];

    if (!ready) {
        /* Small memories: large sizes only make refusals slower to find. */
        CHECK(vtpu_config_preset(&cfg, "v5e", NULL, 0) == 0);
        CHECK(vtpu_config_set(&cfg, "imem-size", "256K", NULL, 0) == 0);
        CHECK(vtpu_config_set(&cfg, "smem-size", "256K", NULL, 0) == 0);
        ready = 1;
    }
    /* The loader must not rely on a NUL or anything else past `size`:
     * give it an exact-size heap copy, so ASan sees any over-read. */
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);

    module(copy, size);
    err[0] = 0;
    vtpu_program *p = vtpu_program_from_elf(&cfg, copy, size, err, sizeof(err));
    if (!p) {
        CHECK(strncmp(err, "ELF: ", 5) == 0);
        CHECK(memchr(err, 0, sizeof(err)) != NULL);
        free(copy);
        return 0;
    }
    CHECK(p->code_words > 0 && p->code_words <= cfg.imem_size / 4);
    CHECK(p->entry >= VTPU_IMEM_BASE && p->entry % 4 == 0 &&
          p->entry < VTPU_IMEM_BASE + 4 * p->code_words);
    CHECK(p->smem_image_len <= cfg.smem_size);
    for (uint32_t i = 0; i + 1 < p->nsyms; i++)
        CHECK(p->syms[i].addr <= p->syms[i + 1].addr && p->syms[i].name);
    /* Look up every code word (bounded: programs can be 64K words). */
    uint32_t step = p->code_words > 4096 ? p->code_words / 4096 : 1;
    for (uint32_t w = 0; w < p->code_words; w += step) {
        uint32_t pc = VTPU_IMEM_BASE + 4 * w, off = UINT32_MAX;
        const char *name = vtpu_program_symbol(p, pc, &off);
        if (name)
            CHECK(off <= pc - VTPU_IMEM_BASE && name[0]);
    }
    vtpu_program_free(p);
    free(copy);
    return 0;
}

/* The runtime's reading of a kernel module (big: one static table). */
static void module(const uint8_t *copy, size_t size)
{
    static vtpu_module m;
    char err[256];

    err[0] = 0;
    if (vtpu_module_parse(&m, copy, size, NULL, err, sizeof(err))) {
        CHECK(err[0] && memchr(err, 0, sizeof(err)));
        return;
    }
    CHECK(m.num_kernels >= 1 && m.num_kernels <= VTPU_RT_MAX_KERNELS);
    for (uint32_t k = 0; k < m.num_kernels; k++) {
        const vtpu_kernel_entry *e = &m.kernels[k];
        CHECK(e->magic == VTPU_KERNEL_MAGIC && e->name[0] &&
              memchr(e->name, 0, sizeof(e->name)));
        uint32_t idx = UINT32_MAX;
        CHECK(vtpu_module_find(&m, e->name, &idx) == 0 && idx <= k);
        /* its extension record (pl.Element padding), read from the image:
         * found, absent, or refused with a reason */
        vtpu_kernel_ext x;
        err[0] = 0;
        int rc = vtpu_module_kernel_ext(copy, size, e, &x, err, sizeof(err));
        CHECK(rc == 0 || rc == 1 || (rc == VTPU_RT_EBADELF && err[0]));
        CHECK(rc != 0 || (x.magic == VTPU_KEXT_MAGIC &&
                          x.version == VTPU_KEXT_VERSION));
    }
}
