/*
 * test_rt.c - the runtime (driver/vtpu_rt.c) over the real driver and the
 * host platform: the HBM allocator against a reference model on random
 * alloc/free sequences, out-of-memory messages, copies through the
 * staging buffer, rejection of malformed and wrong-architecture ELFs
 * before they reach the device, and launches of the seed kernel
 * add_sin_f32 from firmware kernels.elf on 1 and 2 TCs against a host
 * reference, plus launch errors.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "host_platform.h"
#include "dev.h"
#include "vtpu_drv.h"
#include "vtpu_rt.h"
#include "vtpu-slice.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define MODULE VTPU_TEST_BUILD_DIR "/../firmware/kernels/kernels.elf"
#define MS 1000000ull

#define ASSERT_CONTAINS(hay, needle)                                           \
    do {                                                                       \
        if (!strstr((hay), (needle)))                                          \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));       \
    } while (0)

/* ------------------------------------------------------------------ */
/* Fixture: host platform, driver, runtime                              */
/* ------------------------------------------------------------------ */

typedef struct tfx {
    vtpu_host *host;
    vtpu_drv drv;
    vtpu_rt rt;
    uint64_t rng;
} tfx;

static tfx *tfx_new(const vtpu_rt_opts *opts)
{
    tfx *t = calloc(1, sizeof(*t));
    vtpu_config cfg;
    char err[256];

    assert_non_null(t);
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    assert_int_equal(vtpu_config_set(&cfg, "hbm-size", "64M", err, sizeof(err)),
                     0);
    cfg.num_tcs = 2;
    vtpu_host_opts o = {.arena_size = 64u << 20};
    t->host = vtpu_host_new(&cfg, &o, err, sizeof(err));
    if (!t->host)
        fail_msg("vtpu_host_new: %s", err);
    assert_int_equal(vtpu_drv_probe(&t->drv, vtpu_host_platform(t->host)), 0);
    vtpu_drv_set_timeout(&t->drv, 20000 * MS);
    assert_int_equal(vtpu_drv_init(&t->drv, 0), 0);
    int rc = vtpu_rt_init(&t->rt, &t->drv, opts);
    if (rc)
        fail_msg("vtpu_rt_init: %s", vtpu_rt_error(&t->rt));
    t->rng = 0x243f6a8885a308d3ull;
    return t;
}

static void tfx_free(tfx *t)
{
    vtpu_rt_fini(&t->rt);
    vtpu_drv_fini(&t->drv);
    vtpu_host_free(t->host);
    free(t);
}

/* ------------------------------------------------------------------ */
/* Allocator                                                            */
/* ------------------------------------------------------------------ */

typedef struct ref_alloc {
    uint64_t off, size; /* size rounded up to 8, as the heap does */
} ref_alloc;

static int ref_cmp(const void *a, const void *b)
{
    const ref_alloc *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* First fit in the reference model: the lowest aligned offset in a gap
 * between live allocations (sorted) that holds `size`; UINT64_MAX if
 * none. */
static uint64_t ref_first_fit(const ref_alloc *live, size_t n, uint64_t base,
                              uint64_t end, uint64_t size, uint64_t align)
{
    uint64_t gap = base;
    for (size_t i = 0; i <= n; i++) {
        uint64_t gend = i < n ? live[i].off : end;
        uint64_t at = (gap + align - 1) & ~(align - 1);
        if (at < gend && gend - at >= size)
            return at;
        if (i < n)
            gap = live[i].off + live[i].size;
    }
    return UINT64_MAX;
}

/* The heap's own bookkeeping: contiguous, merged, sums right. */
static void heap_invariants(const vtpu_heap *h)
{
    uint64_t at = h->base, used = 0;
    uint32_t nused = 0;
    assert_true(h->nsegs >= 1 && h->nsegs <= h->cap);
    for (uint32_t i = 0; i < h->nsegs; i++) {
        const vtpu_heap_seg *s = &h->segs[i];
        assert_int_equal(s->off, at);
        assert_true(s->size > 0);
        if (i && !s->used)
            assert_true(h->segs[i - 1].used); /* free neighbours merged */
        if (s->used) {
            used += s->size;
            nused++;
        }
        at += s->size;
    }
    assert_int_equal(at, h->base + h->size);
    assert_int_equal(used, h->size - vtpu_heap_free_bytes(h));
    assert_int_equal(nused, h->nallocs);
}

static void test_heap_stress(void **state)
{
    (void)state;
    enum { CAP = 2048, MAXLIVE = 600 };
    static vtpu_heap_seg segs[CAP];
    static ref_alloc live[MAXLIVE];
    const uint64_t base = 0x3000, size = 4u << 20; /* unaligned base */
    vtpu_heap h;
    uint64_t rng = 12345;
    size_t n = 0;
    unsigned allocs = 0, ooms = 0;

    assert_int_equal(vtpu_heap_init(&h, base, size, segs, CAP), 0);
    for (int step = 0; step < 30000; step++) {
        uint32_t r = test_rand32(&rng);
        /* Phases: mostly allocating, then mostly freeing, so the heap
         * both fills up (OOMs) and fragments. */
        int alloc_bias = (step / 3000) % 2 ? 30 : 70;
        if (n < MAXLIVE && (n == 0 || (int)(r % 100) < alloc_bias)) {
            uint32_t kind = test_rand32(&rng) % 10;
            uint64_t sz = kind < 6   ? 1 + test_rand32(&rng) % 256
                          : kind < 9 ? 1 + test_rand32(&rng) % 16384
                                     : 1 + test_rand32(&rng) % (256u << 10);
            uint64_t align = 1ull << (test_rand32(&rng) % 13); /* 1..4096 */
            uint64_t want = ref_first_fit(live, n, base, base + size,
                                          (sz + 7) & ~7ull, align);
            uint64_t off = 0;
            int rc = vtpu_heap_alloc(&h, sz, align, &off);
            if (want == UINT64_MAX) {
                assert_int_equal(rc, VTPU_RT_ENOHBM);
                ooms++;
                continue;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(off, want); /* first fit, exactly */
            assert_int_equal(off % align, 0);
            assert_true(off >= base && off + sz <= base + size);
            assert_int_equal(vtpu_heap_size_of(&h, off), (sz + 7) & ~7ull);
            live[n++] = (ref_alloc){off, (sz + 7) & ~7ull};
            qsort(live, n, sizeof(live[0]), ref_cmp);
            allocs++;
        } else {
            size_t i = test_rand32(&rng) % n;
            assert_int_equal(vtpu_heap_free(&h, live[i].off), 0);
            /* A second free of the same offset is refused. */
            if (step % 97 == 0)
                assert_int_equal(vtpu_heap_free(&h, live[i].off),
                                 VTPU_RT_ENOTALLOC);
            memmove(&live[i], &live[i + 1], (n - i - 1) * sizeof(live[0]));
            n--;
        }
        /* No overlap, and the heap's view matches the model. */
        for (size_t i = 1; i < n; i++)
            assert_true(live[i - 1].off + live[i - 1].size <= live[i].off);
        if (step % 16 == 0)
            heap_invariants(&h);
        assert_int_equal(h.nallocs, n);
    }
    assert_true(allocs > 5000);
    assert_true(ooms > 0);
    /* Free everything in random order: back to one block. */
    while (n) {
        size_t i = test_rand32(&rng) % n;
        assert_int_equal(vtpu_heap_free(&h, live[i].off), 0);
        live[i] = live[--n];
    }
    heap_invariants(&h);
    assert_int_equal(h.nsegs, 1);
    assert_int_equal(vtpu_heap_free_segments(&h), 1);
    assert_int_equal(vtpu_heap_largest_free(&h), size);
    assert_int_equal(vtpu_heap_free_bytes(&h), size);
}

static void test_heap_edges(void **state)
{
    (void)state;
    vtpu_heap_seg segs[5];
    vtpu_heap h;
    uint64_t a, b, c;

    assert_int_equal(vtpu_heap_init(&h, 0, 0, segs, 5), VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_heap_init(&h, UINT64_MAX - 4, 16, segs, 5),
                     VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_heap_init(&h, 0, 4096, segs, 0), VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_heap_init(&h, 0, 4096, segs, 5), 0);
    assert_int_equal(vtpu_heap_alloc(&h, 0, 64, &a), VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_heap_alloc(&h, 8, 3, &a), VTPU_DRV_EINVAL);
    assert_int_equal(vtpu_heap_alloc(&h, 4097, 8, &a), VTPU_RT_ENOHBM);
    assert_int_equal(vtpu_heap_alloc(&h, UINT64_MAX, 8, &a), VTPU_RT_ENOHBM);
    /* Exact fit of the whole range, then nothing left. */
    assert_int_equal(vtpu_heap_alloc(&h, 4096, 4096, &a), 0);
    assert_int_equal(a, 0);
    assert_int_equal(vtpu_heap_alloc(&h, 8, 8, &b), VTPU_RT_ENOHBM);
    assert_int_equal(vtpu_heap_free(&h, 8), VTPU_RT_ENOTALLOC);
    assert_int_equal(vtpu_heap_free(&h, a), 0);
    /* Default alignment is 64. */
    assert_int_equal(vtpu_heap_alloc(&h, 1, 0, &a), 0);
    assert_int_equal(vtpu_heap_alloc(&h, 1, 0, &b), 0);
    assert_int_equal(a, 0);
    assert_int_equal(b, 64);
    /* [a used][gap free][b used][rest free]; c fills the gap's start. */
    assert_int_equal(h.nsegs, 4);
    assert_int_equal(vtpu_heap_alloc(&h, 8, 8, &c), 0);
    assert_int_equal(c, 8);
    assert_int_equal(h.nsegs, 5);
    /* Table capacity: an aligned block needs gap + block + rest. */
    assert_int_equal(vtpu_heap_alloc(&h, 8, 2048, &c), VTPU_RT_ETABLE);
    assert_int_equal(h.nsegs, 5);
    /* Freeing b merges it with the free blocks on both sides. */
    assert_int_equal(vtpu_heap_free(&h, b), 0);
    assert_int_equal(h.nsegs, 3);
    assert_int_equal(vtpu_heap_free(&h, 8), 0);
    assert_int_equal(h.nsegs, 2);
    assert_int_equal(vtpu_heap_free(&h, a), 0);
    assert_int_equal(h.nsegs, 1);
}

static void test_rt_oom(void **state)
{
    (void)state;
    tfx *t = tfx_new(NULL);
    const vtpu_heap *h = vtpu_rt_heap(&t->rt);
    uint64_t hbm = vtpu_drv_info_get(&t->drv)->hbm_size, a;
    char want[200];

    assert_int_equal(vtpu_heap_free_bytes(h), hbm);
    assert_int_equal(vtpu_rt_alloc(&t->rt, hbm + 1, 0, &a), VTPU_RT_ENOHBM);
    snprintf(want, sizeof(want),
             "out of HBM: requested %llu bytes (alignment 64), largest "
             "free block %llu bytes",
             (unsigned long long)hbm + 1, (unsigned long long)hbm);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), want);

    /* Fragment HBM into 1 MiB pieces and free every other one: 32 MiB
     * are free, but no 2 MiB block. */
    uint64_t blocks[64];
    for (int i = 0; i < 64; i++)
        assert_int_equal(vtpu_rt_alloc(&t->rt, 1u << 20, 4096, &blocks[i]), 0);
    assert_int_equal(vtpu_rt_alloc(&t->rt, 8, 8, &a), VTPU_RT_ENOHBM);
    for (int i = 0; i < 64; i += 2)
        assert_int_equal(vtpu_rt_free(&t->rt, blocks[i]), 0);
    assert_int_equal(vtpu_rt_alloc(&t->rt, 2u << 20, 0, &a), VTPU_RT_ENOHBM);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt),
                    "requested 2097152 bytes (alignment 64), largest free "
                    "block 1048576 bytes (33554432 bytes free in 32 blocks)");
    assert_int_equal(vtpu_rt_free(&t->rt, 12345), VTPU_RT_ENOTALLOC);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "free of HBM 0x3039: not an "
                                           "allocation");
    /* Freeing the rest coalesces: the 2 MiB (and all of HBM) fit again. */
    for (int i = 1; i < 64; i += 2)
        assert_int_equal(vtpu_rt_free(&t->rt, blocks[i]), 0);
    assert_int_equal(vtpu_heap_free_segments(h), 1);
    assert_int_equal(vtpu_rt_alloc(&t->rt, hbm, 0, &a), 0);
    assert_int_equal(vtpu_rt_free(&t->rt, a), 0);
    assert_string_equal(vtpu_rt_strerror(VTPU_RT_ENOHBM), "out of HBM");
    tfx_free(t);
}

/* Copies larger than a (small) staging buffer, odd sizes and offsets. */
static void test_rt_copies(void **state)
{
    (void)state;
    vtpu_rt_opts o = {.staging_size = 4096};
    tfx *t = tfx_new(&o);
    size_t sizes[] = {1, 7, 4096, 4097, 100000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        uint8_t *src = malloc(n), *dst = malloc(n);
        uint64_t at;
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)test_rand32(&t->rng);
        assert_int_equal(vtpu_rt_alloc(&t->rt, n + 3, 1, &at), 0);
        assert_int_equal(vtpu_rt_write(&t->rt, at + 3, src, n), 0);
        memset(dst, 0, n);
        assert_int_equal(vtpu_rt_read(&t->rt, at + 3, dst, n), 0);
        assert_memory_equal(src, dst, n);
        assert_int_equal(vtpu_rt_free(&t->rt, at), 0);
        free(src);
        free(dst);
    }
    /* Fill, then read back. */
    uint32_t w[16];
    assert_int_equal(vtpu_rt_fill(&t->rt, 0x1000, sizeof(w), 0xdeadbeef), 0);
    assert_int_equal(vtpu_rt_read(&t->rt, 0x1000, w, sizeof(w)), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(w[i], 0xdeadbeef);
    /* Outside HBM: refused before the device sees it. */
    uint64_t hbm = vtpu_drv_info_get(&t->drv)->hbm_size;
    assert_int_equal(vtpu_rt_read(&t->rt, hbm - 8, w, 16), VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "outside the 67108864 bytes of HBM");
    /* A device error (fill not 4-aligned) is explained and recovered. */
    assert_int_equal(vtpu_rt_fill(&t->rt, 0x1002, 16, 0), VTPU_DRV_EDEVICE);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "fill: command ");
    assert_int_equal(vtpu_rt_read(&t->rt, 0x1000, w, sizeof(w)), 0);
    tfx_free(t);
}

/* ------------------------------------------------------------------ */
/* ELF modules                                                          */
/* ------------------------------------------------------------------ */

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* File offset of section `name`'s header in the module, or 0. */
static size_t find_shdr(const uint8_t *b, const char *name)
{
    uint32_t shoff = get32(b + 32);
    unsigned shnum = b[48] | b[49] << 8, shstrndx = b[50] | b[51] << 8;
    const char *str = (const char *)b + get32(b + shoff + shstrndx * 40 + 16);
    for (unsigned i = 0; i < shnum; i++)
        if (!strcmp(str + get32(b + shoff + i * 40), name))
            return shoff + i * 40;
    return 0;
}

/* Load a mutated copy of the module; it must be refused with `why`. */
static void expect_reject(tfx *t, const uint8_t *elf, size_t len,
                          const char *why)
{
    vtpu_module m;
    uint32_t loads = vtpu_drv_read_reg(&t->drv, VTPU_A_RING_HEAD);
    int rc = vtpu_rt_module_load(&t->rt, &m, elf, len);
    if (rc != VTPU_RT_EBADELF)
        fail_msg("expected rejection (%s), got %d: %s", why, rc,
                 vtpu_rt_error(&t->rt));
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "bad kernel module: ");
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), why);
    /* Checked on the host: nothing was submitted to the device. */
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_RING_HEAD), loads);
    assert_int_equal(m.loaded, 0);
}

/* The kernel extension record (pl.Element padding) as a host reads it
 * from the image: found, absent, outside the data, of another version. */
static void test_kernel_ext(void **state)
{
    (void)state;
    size_t len;
    uint8_t *elf = test_read_file(MODULE, &len);
    static vtpu_module m;
    char err[256];
    uint32_t kc, ka;
    assert_int_equal(vtpu_module_parse(&m, elf, len, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(vtpu_module_find(&m, "conv2d_3x3_f32", &kc), 0);
    assert_int_equal(vtpu_module_find(&m, "add_sin_f32", &ka), 0);

    vtpu_kernel_ext x;
    assert_int_equal(
        vtpu_module_kernel_ext(elf, len, &m.kernels[kc], &x, err, sizeof(err)),
        0);
    assert_int_equal(x.flags, VTPU_KEXT_F_PAD);
    assert_int_equal(x.pad[0].lo[0], 1);
    assert_int_equal(x.pad[0].hi[0], 8);
    assert_int_equal(x.pad[0].lo[1], 1);
    assert_int_equal(x.pad[0].hi[1], 128);
    assert_int_equal(x.pad[1].lo[0] | x.pad[1].hi[1], 0);
    assert_int_equal(
        vtpu_module_kernel_ext(elf, len, &m.kernels[ka], &x, err, sizeof(err)),
        1);

    vtpu_kernel_entry e = m.kernels[kc];
    e.ext = 0x10f00000; /* SMEM, but past the image */
    assert_int_equal(vtpu_module_kernel_ext(elf, len, &e, &x, err, sizeof(err)),
                     VTPU_RT_EBADELF);
    ASSERT_CONTAINS(err, "kernel 'conv2d_3x3_f32': extension record at "
                         "0x10f00000 is not in the module's SMEM data");

    /* the record of another version: found in the file, version 7 */
    assert_int_equal(
        vtpu_module_kernel_ext(elf, len, &m.kernels[kc], &x, NULL, 0), 0);
    uint8_t *at = NULL;
    for (size_t o = 0; !at && o + sizeof(x) <= len; o += 4)
        if (!memcmp(elf + o, &x, sizeof(x)))
            at = elf + o;
    assert_non_null(at);
    at[4] = 7;
    assert_int_equal(
        vtpu_module_kernel_ext(elf, len, &m.kernels[kc], &x, err, sizeof(err)),
        VTPU_RT_EBADELF);
    ASSERT_CONTAINS(err, "has magic 0x584b5456, version 7, size 528 (this "
                         "driver reads 0x584b5456, 1, 528)");
    free(elf);
}

static void test_elf_reject(void **state)
{
    (void)state;
    tfx *t = tfx_new(NULL);
    size_t len;
    uint8_t *elf = test_read_file(MODULE, &len);
    uint8_t *c = malloc(len);

#define MUTATE(stmt, why)                                                      \
    do {                                                                       \
        memcpy(c, elf, len);                                                   \
        stmt;                                                                  \
        expect_reject(t, c, len, why);                                         \
    } while (0)

    expect_reject(t, elf, 40, "not an ELF file (40 bytes)");
    MUTATE(c[1] = 'X', "not an ELF file");
    MUTATE(c[4] = 2, "64-bit ELF (ELFCLASS64)");
    MUTATE(c[5] = 2, "not little-endian");
    MUTATE(wr16(c + 18, 62), "machine 62 is not RISC-V");
    MUTATE(wr16(c + 16, 3), "type 3 is not an executable");
    MUTATE(wr32(c + 36, get32(c + 36) | 1), "compressed instructions");
    MUTATE(wr32(c + 36, get32(c + 36) | 4), "double-precision float ABI");
    MUTATE(wr32(c + 28, (uint32_t)len), "program headers");
    MUTATE(wr32(c + 32, (uint32_t)len - 8), "no section headers");
    size_t ks = find_shdr(elf, ".vtpu.kernels");
    assert_true(ks != 0);
    uint32_t koff = get32(elf + ks + 16);
    MUTATE(c[get32(elf + get32(elf + 32) + (elf[50] | elf[51] << 8) * 40 + 16) +
             get32(elf + ks) + 1] = 'X',
           "no .vtpu.kernels section");
    MUTATE(wr32(c + ks + 20, get32(c + ks + 20) - 4),
           "not a whole number of 512-byte entries");
    /* A table section of type SHT_NULL (0) whose data lies past the end
     * of the file (found by tests/fuzz/fuzz_elf). */
    MUTATE((wr32(c + ks + 4, 0), wr32(c + ks + 16, 0x7ffffff0)),
           ".vtpu.kernels lies outside the file");
    MUTATE(wr32(c + koff + 512, 0x12345678), "kernel table entry 1: magic");
    MUTATE(memset(c + koff + 8, 'a', 32), "kernel table entry 0: name");
    /* A symbol vtpu_kernel_<name> must name its own entry. */
    {
        char sym[64];
        snprintf(sym, sizeof(sym), "symbol vtpu_kernel_%s ", elf + koff + 8);
        MUTATE(c[koff + 8] ^= 0x20, sym);
    }
    /* Segments must fit this device's memories: move the code past the
     * end of IMEM. */
    {
        uint32_t phoff = get32(elf + 28);
        memcpy(c, elf, len);
        wr32(c + phoff + 8, 0x0fe00000);
        expect_reject(t, c, len, "does not fit this device's IMEM");
    }

    /* The real one loads, finds kernels by name, unknown names fail. */
    vtpu_module m;
    uint32_t k;
    assert_int_equal(vtpu_rt_module_load(&t->rt, &m, elf, len), 0);
    assert_int_equal(m.loaded, 1);
    assert_true(m.num_kernels >= 9); /* the examples, plus the library */
    assert_int_equal(vtpu_rt_kernel_find(&t->rt, &m, "add_sin_f32", &k), 0);
    assert_string_equal(m.kernels[k].name, "add_sin_f32");
    assert_int_equal(vtpu_rt_kernel_find(&t->rt, &m, "matmul_f32", &k), 0);
    assert_string_equal(m.kernels[k].name, "matmul_f32");
    assert_int_equal(vtpu_rt_kernel_find(&t->rt, &m, "nope", &k),
                     VTPU_RT_ENOKERNEL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt),
                    "no kernel 'nope' in the module (it has: ");
    /* The ELF image's HBM copy is freed after LOAD_PROG. */
    assert_int_equal(vtpu_heap_free_segments(vtpu_rt_heap(&t->rt)), 1);
    assert_int_equal(vtpu_heap_free_bytes(vtpu_rt_heap(&t->rt)),
                     vtpu_drv_info_get(&t->drv)->hbm_size);

    /* Every slot taken: a clear error.  Unloading frees one. */
    vtpu_module more[16];
    unsigned loaded = 0;
    for (; loaded < 16; loaded++)
        if (vtpu_rt_module_load(&t->rt, &more[loaded], elf, len))
            break;
    assert_int_equal(loaded, 15);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "all 16 program slots");
    vtpu_rt_module_unload(&t->rt, &more[3]);
    assert_int_equal(vtpu_rt_module_load(&t->rt, &more[15], elf, len), 0);
    assert_int_equal(more[15].slot, more[3].slot);

    free(c);
    free(elf);
    tfx_free(t);
}

/* ------------------------------------------------------------------ */
/* Launches                                                             */
/* ------------------------------------------------------------------ */

static uint32_t cdiv(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

static float rnd_f32(tfx *t, float lo, float hi)
{
    return lo + (hi - lo) * (float)(test_rand32(&t->rng) >> 8) / 16777216.0f;
}

/* o = sin((x + y) * 2) over (rows, cols) f32 arrays through the runtime. */
static void add_sin_case(tfx *t, const vtpu_module *m, uint32_t rows,
                         uint32_t cols, unsigned ntcs)
{
    size_t n = (size_t)rows * cols;
    uint32_t shape[2] = {rows, cols};
    float *x = malloc(n * 4), *y = malloc(n * 4), *o = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = rnd_f32(t, -4.0f, 4.0f);
        y[i] = rnd_f32(t, -4.0f, 4.0f);
    }
    vtpu_rt_launch l = {.num_tcs = ntcs, .num_operands = 3};
    assert_int_equal(vtpu_rt_kernel_find(&t->rt, m, "add_sin_f32", &l.kernel),
                     0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            vtpu_rt_array_alloc(&t->rt, &l.operands[i], VTPU_F32, 2, shape), 0);
    assert_int_equal(vtpu_rt_write(&t->rt, l.operands[0].hbm, x, n * 4), 0);
    assert_int_equal(vtpu_rt_write(&t->rt, l.operands[1].hbm, y, n * 4), 0);
    assert_int_equal(vtpu_rt_fill(&t->rt, l.operands[2].hbm, n * 4, 0x7fc00000),
                     0);
    l.grid_rank = cols <= 128 ? 1 : 2;
    l.grid[0] = cdiv(rows, 8);
    l.grid[1] = l.grid_rank == 2 ? cdiv(cols, 128) : 0;
    l.semantics[0] = VTPU_PARALLEL;
    l.semantics[1] = VTPU_PARALLEL;

    vtpu_rt_stats st;
    int rc = vtpu_rt_run(&t->rt, m, &l, &st);
    if (rc)
        fail_msg("add_sin_f32 (%u,%u) on %u TCs: %s", rows, cols, ntcs,
                 vtpu_rt_error(&t->rt));
    assert_int_equal(st.num_tcs, ntcs);
    assert_int_equal(st.steps, l.grid[0] * (l.grid_rank == 2 ? l.grid[1] : 1));
    if (ntcs == 2 && l.grid[0] >= 2) /* the parallel dimension is split */
        assert_true(st.tc[0].steps > 0 && st.tc[1].steps > 0);
    assert_int_equal(st.bytes_out, n * 4);

    assert_int_equal(vtpu_rt_read(&t->rt, l.operands[2].hbm, o, n * 4), 0);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float s = (x[i] + y[i]) * 2.0f;
        float ref = (float)sin((double)s);
        double err =
            fabs((double)o[i] - ref) / fmax(fabs((double)ref), (double)FLT_MIN);
        if (!(err <= worst))
            worst = err;
    }
    if (!(worst <= 1e-6))
        fail_msg("(%u,%u) on %u TCs: max relative error %g", rows, cols, ntcs,
                 worst);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vtpu_rt_free(&t->rt, l.operands[i].hbm), 0);
    free(x);
    free(y);
    free(o);
}

static vtpu_module *load_module(tfx *t)
{
    size_t len;
    uint8_t *elf = test_read_file(MODULE, &len);
    vtpu_module *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    if (vtpu_rt_module_load(&t->rt, m, elf, len))
        fail_msg("loading %s: %s", MODULE, vtpu_rt_error(&t->rt));
    free(elf);
    return m;
}

static void test_launch_add_sin(void **state)
{
    (void)state;
    tfx *t = tfx_new(NULL);
    vtpu_module *m = load_module(t);
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        add_sin_case(t, m, 64, 128, ntcs);  /* 1-D grid, divides */
        add_sin_case(t, m, 100, 200, ntcs); /* 2-D grid, ragged edges */
        add_sin_case(t, m, 1024, 384,
                     ntcs); /* larger than the staging buffer */
    }
    /* Everything was freed again. */
    assert_int_equal(vtpu_heap_free_segments(vtpu_rt_heap(&t->rt)), 1);
    free(m);
    tfx_free(t);
}

static void test_launch_errors(void **state)
{
    (void)state;
    tfx *t = tfx_new(NULL);
    vtpu_module *m = load_module(t);
    uint32_t shape[2] = {16, 128}, k;
    vtpu_rt_launch l = {.num_operands = 3, .grid_rank = 1, .grid = {2}};

    assert_int_equal(vtpu_rt_kernel_find(&t->rt, m, "add_sin_f32", &l.kernel),
                     0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            vtpu_rt_array_alloc(&t->rt, &l.operands[i], VTPU_F32, 2, shape), 0);

    /* Checked against the kernel table before anything is launched. */
    uint32_t launches = vtpu_drv_read_reg(&t->drv, VTPU_A_LAUNCH_COUNT);
    l.operands[1].dtype = VTPU_I32;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &l, NULL), VTPU_DRV_EINVAL);
    assert_string_equal(vtpu_rt_error(&t->rt),
                        "launch of 'add_sin_f32': operand 1 is i32, the "
                        "kernel takes f32");
    l.operands[1].dtype = VTPU_F32;
    l.num_operands = 2;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &l, NULL), VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt),
                    "has 2 operands, the kernel takes 3");
    l.num_operands = 3;
    l.num_tcs = 3;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &l, NULL), VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "on 3 TCs: the device has 2");
    l.num_tcs = 0;
    l.grid[0] = 0;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &l, NULL), VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "grid dimension 0 is 0");
    l.grid[0] = 2;
    l.semantics[0] = 7;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &l, NULL), VTPU_DRV_EINVAL);
    l.semantics[0] = VTPU_PARALLEL;
    assert_int_equal(vtpu_drv_read_reg(&t->drv, VTPU_A_LAUNCH_COUNT), launches);

    /* Errors only the TC runtime sees: gather_rows with a scalar-prefetch
     * index outside x. */
    vtpu_rt_launch g = {.num_operands = 2, .grid_rank = 2, .grid = {2, 1}};
    int32_t idx[2] = {1, 5}; /* x has 2 row blocks */
    assert_int_equal(vtpu_rt_kernel_find(&t->rt, m, "gather_rows", &g.kernel),
                     0);
    g.operands[0] = l.operands[0];
    g.operands[1] = l.operands[2];
    assert_int_equal(vtpu_rt_run(&t->rt, m, &g, NULL), VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt),
                    "has 0 scalar-prefetch values, the kernel needs 1");
    g.num_scalars = 2;
    g.scalars = idx;
    vtpu_rt_stats st;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &g, &st), VTPU_RT_ELAUNCH);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "launch of 'gather_rows' failed on "
                                           "TC ");
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "block index out of range (79)");
    /* The TC runtime's own message, without its "vtpu-rt: TC n:" prefix
     * and without repeating the error's name. */
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt),
                    "(79): operand 0: index map gave block (5, 0)");
    assert_true(vtpu_drv_read_reg(&t->drv, VTPU_A_LAUNCH_COUNT) > launches);

    /* Valid indices work, and so does the next launch: nothing is stuck. */
    idx[1] = 0;
    if (vtpu_rt_run(&t->rt, m, &g, &st))
        fail_msg("gather_rows: %s", vtpu_rt_error(&t->rt));
    assert_int_equal(st.steps, 2);
    add_sin_case(t, m, 8, 128, 2);

    /* Many scalars (> 16: carried in HBM). */
    int32_t many[40];
    for (int i = 0; i < 40; i++)
        many[i] = i % 2;
    g.num_scalars = 40;
    g.scalars = many;
    if (vtpu_rt_run(&t->rt, m, &g, &st))
        fail_msg("gather_rows, 40 scalars: %s", vtpu_rt_error(&t->rt));

    /* A device error during a launch: after a reset the slot is empty.
     * The driver's decoded error comes back, the ring is recovered, and
     * loading the module again makes it work. */
    assert_int_equal(vtpu_drv_reset(&t->drv), 0);
    assert_int_equal(vtpu_rt_run(&t->rt, m, &g, &st), VTPU_DRV_EDEVICE);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "launch of 'gather_rows': command ");
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt),
                    "(LAUNCH) failed: no program loaded in that slot");
    assert_int_equal(vtpu_drv_check(&t->drv), 0);
    vtpu_rt_module_unload(&t->rt, m);
    vtpu_module *m2 = load_module(t);
    if (vtpu_rt_run(&t->rt, m2, &g, &st))
        fail_msg("gather_rows after reload: %s", vtpu_rt_error(&t->rt));
    free(m2);
    assert_int_equal(vtpu_heap_free_segments(vtpu_rt_heap(&t->rt)), 1);

    /* Not loaded / bad index. */
    vtpu_module dead = *m;
    dead.loaded = 0;
    assert_int_equal(vtpu_rt_run(&t->rt, &dead, &l, NULL), VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t->rt), "module not loaded");
    l.kernel = 99;
    assert_int_equal(vtpu_rt_run(&t->rt, m, &l, NULL), VTPU_DRV_EINVAL);
    (void)k;
    free(m);
    tfx_free(t);
}

/* What `info vtpu` shows: the engine's TC state and the TC runtime's
 * progress mailbox, read through the device (vtpu_dev_tc_status). */
/*
 * vtpu_rt_run_start / _finish: a collective all_reduce_i32 over two
 * devices whose chips share a fabric, started on both before either is
 * finished, as a guest driving a slice does; every chip's result against
 * the host's wrapping sum.  Also: a second launch in flight is refused,
 * finish without start is refused, and a lone collective launch ends
 * ECANCELED when its device is reset.
 */
static void test_run_start_finish_collective(void **state)
{
    (void)state;
    tfx *t[2] = {tfx_new(NULL), tfx_new(NULL)};
    vtpu_module *m[2] = {load_module(t[0]), load_module(t[1])};
    vtpu_topology topo;
    char err[128];
    assert_int_equal(vtpu_topology_parse("2", &topo, err, sizeof(err)), 0);
    vtpu_fabric *fab = vtpu_fabric_new(&topo, err, sizeof(err));
    assert_non_null(fab);
    for (unsigned c = 0; c < 2; c++)
        assert_int_equal(vtpu_fabric_attach(fab, c, vtpu_host_chip(t[c]->host),
                                            err, sizeof(err)),
                         0);

    const uint32_t rows = 32, cols = 128, n = rows * cols;
    uint32_t shape[2] = {rows, cols};
    uint32_t *in[2], *got = malloc(n * 4);
    vtpu_rt_launch l[2];
    vtpu_rt_pending p[2];
    int32_t axis = 0;
    for (unsigned c = 0; c < 2; c++) {
        vtpu_rt_array x, o;
        in[c] = malloc(n * 4);
        for (uint32_t i = 0; i < n; i++)
            in[c][i] = test_rand32(&t[0]->rng);
        assert_int_equal(vtpu_rt_array_alloc(&t[c]->rt, &x, VTPU_I32, 2, shape),
                         0);
        assert_int_equal(vtpu_rt_array_alloc(&t[c]->rt, &o, VTPU_I32, 2, shape),
                         0);
        assert_int_equal(vtpu_rt_write(&t[c]->rt, x.hbm, in[c], n * 4), 0);
        memset(&l[c], 0, sizeof(l[c]));
        assert_int_equal(vtpu_rt_kernel_find(&t[c]->rt, m[c], "all_reduce_i32",
                                             &l[c].kernel),
                         0);
        l[c].grid_rank = 1;
        l[c].grid[0] = 2;
        l[c].semantics[0] = VTPU_PARALLEL;
        l[c].num_operands = 2;
        l[c].operands[0] = x;
        l[c].operands[1] = o;
        l[c].num_scalars = 1;
        l[c].scalars = &axis;
        l[c].collective = 1;
    }
    /* symmetric allocation: the same offsets on both */
    assert_int_equal(l[0].operands[1].hbm, l[1].operands[1].hbm);

    memset(p, 0, sizeof(p));
    assert_int_equal(vtpu_rt_run_finish(&t[0]->rt, &p[0], NULL),
                     VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t[0]->rt), "nothing in flight");
    for (unsigned c = 0; c < 2; c++)
        if (vtpu_rt_run_start(&t[c]->rt, m[c], &l[c], &p[c]))
            fail_msg("start on %u: %s", c, vtpu_rt_error(&t[c]->rt));
    vtpu_rt_pending extra;
    assert_int_equal(vtpu_rt_run_start(&t[0]->rt, m[0], &l[0], &extra),
                     VTPU_DRV_EINVAL);
    ASSERT_CONTAINS(vtpu_rt_error(&t[0]->rt), "another launch is in flight");
    for (unsigned c = 0; c < 2; c++)
        if (vtpu_rt_run_finish(&t[c]->rt, &p[c], NULL))
            fail_msg("finish on %u: %s", c, vtpu_rt_error(&t[c]->rt));
    for (unsigned c = 0; c < 2; c++) {
        assert_int_equal(
            vtpu_rt_read(&t[c]->rt, l[c].operands[1].hbm, got, n * 4), 0);
        for (uint32_t i = 0; i < n; i++)
            if (got[i] != in[0][i] + in[1][i])
                fail_msg("chip %u [%u] = 0x%08x, expected 0x%08x", c, i, got[i],
                         in[0][i] + in[1][i]);
    }

    /* Launched on chip 0 only: a reset of its device ends it. */
    assert_int_equal(vtpu_rt_run_start(&t[0]->rt, m[0], &l[0], &p[0]), 0);
    usleep(20000);
    assert_int_equal(vtpu_drv_reset(&t[0]->drv), 0);
    assert_int_equal(vtpu_rt_run_finish(&t[0]->rt, &p[0], NULL),
                     VTPU_DRV_ECANCELED);

    for (unsigned c = 0; c < 2; c++)
        vtpu_fabric_detach(fab, c);
    vtpu_fabric_free(fab);
    for (unsigned c = 0; c < 2; c++) {
        free(in[c]);
        free(m[c]);
        tfx_free(t[c]);
    }
    free(got);
}

static void test_tc_status(void **state)
{
    (void)state;
    tfx *t = tfx_new(NULL);
    vtpu_dev *dev = vtpu_host_dev(t->host);
    vtpu_dev_tc_info s;
    char line[256];

    assert_int_equal(vtpu_dev_tc_status(dev, 0, &s), 0);
    assert_int_equal(s.tc.state, VTPU_TC_STATE_IDLE);
    assert_false(s.tc.pc_valid);
    assert_false(s.has_mailbox);
    vtpu_dev_tc_info_format(&s, line, sizeof(line));
    assert_string_equal(line, "idle");
    assert_int_equal(vtpu_dev_tc_status(dev, 2, &s), -1);

    /* 64 rows: grid (8) split 4 + 4 over 2 TCs. */
    vtpu_module *m = load_module(t);
    uint32_t k;
    assert_int_equal(vtpu_module_find(m, "add_sin_f32", &k), 0);
    add_sin_case(t, m, 64, 128, 2);
    for (unsigned tc = 0; tc < 2; tc++) {
        assert_int_equal(vtpu_dev_tc_status(dev, tc, &s), 0);
        assert_int_equal(s.tc.state, VTPU_TC_STATE_EXITED);
        assert_int_equal(s.tc.exit_code, 0);
        assert_true(s.tc.pc_valid);
        assert_true(s.tc.pc >= VTPU_IMEM_BASE);
        assert_true(s.tc.instret > 0);
        assert_true(s.has_mailbox);
        assert_int_equal(s.phase, VTPU_MB_DONE);
        assert_int_equal(s.kernel, k);
        assert_string_equal(s.kernel_name, "add_sin_f32");
        assert_true(s.has_point);
        assert_int_equal(s.grid_rank, 1);
        assert_int_equal(s.point[0], tc ? 7 : 3); /* the last point */
        assert_int_equal(s.step, 3);
        assert_int_equal(s.num_steps, 4);
        vtpu_dev_tc_info_format(&s, line, sizeof(line));
        char want[128];
        snprintf(want, sizeof(want),
                 "; kernel add_sin_f32 (#%u) done at grid point (%u), step 4 "
                 "of 4",
                 k, tc ? 7 : 3);
        ASSERT_CONTAINS(line, want);
        ASSERT_CONTAINS(line, "exited (code 0) at pc 0x");
    }

    /* A launch the TC runtime fails: the mailbox says why. */
    uint32_t shape[2] = {16, 128};
    int32_t idx[2] = {0, 5};
    vtpu_rt_launch g = {.num_operands = 2, .grid_rank = 1, .grid = {2},
                        .num_scalars = 2, .scalars = idx};
    assert_int_equal(vtpu_module_find(m, "gather_rows", &g.kernel), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            vtpu_rt_array_alloc(&t->rt, &g.operands[i], VTPU_F32, 2, shape), 0);
    assert_int_equal(vtpu_rt_run(&t->rt, m, &g, NULL), VTPU_RT_ELAUNCH);
    assert_int_equal(vtpu_dev_tc_status(dev, 0, &s), 0);
    assert_int_equal(s.tc.state, VTPU_TC_STATE_EXITED);
    assert_int_equal(s.tc.exit_code, VTPU_LERR_INDEX);
    assert_int_equal(s.phase, VTPU_MB_FAILED);
    assert_int_equal(s.code, VTPU_LERR_INDEX);
    vtpu_dev_tc_info_format(&s, line, sizeof(line));
    ASSERT_CONTAINS(line, "kernel gather_rows (#");
    ASSERT_CONTAINS(line, "failed (block index out of range)");
    free(m);
    tfx_free(t);
}

static void test_names(void **state)
{
    (void)state;
    for (int s = VTPU_RT_ENOHBM; s >= VTPU_RT_ENOTALLOC; s--)
        assert_string_not_equal(vtpu_rt_strerror(s), "unknown status");
    assert_string_equal(vtpu_rt_strerror(VTPU_DRV_EINVAL),
                        vtpu_drv_strerror(VTPU_DRV_EINVAL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_stress),
        cmocka_unit_test(test_heap_edges),
        cmocka_unit_test(test_rt_oom),
        cmocka_unit_test(test_rt_copies),
        cmocka_unit_test(test_elf_reject),
        cmocka_unit_test(test_kernel_ext),
        cmocka_unit_test(test_launch_add_sin),
        cmocka_unit_test(test_launch_errors),
        cmocka_unit_test(test_tc_status),
        cmocka_unit_test(test_run_start_finish_collective),
        cmocka_unit_test(test_names),
    };
    alarm(240); /* a hang fails the test instead of stalling the suite */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
