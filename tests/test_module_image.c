/*
 * test_module_image.c - a kernel module without its debug information
 * (tools/module-image.c), as vtpu-run and libvtpu-run upload it: for the
 * modules of the build, the runtime reads the same kernel table from
 * both, every segment and every kept section holds the same bytes, the
 * DWARF is gone; on thousands of corrupted copies, the stripped image is
 * either refused (NULL) or means to the runtime what the original means.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "module-image.h"
#include "vtpu_rt.h"

#define KERNELS VTPU_TEST_BUILD_DIR "/../firmware/kernels/kernels.elf"
#define SELFTEST VTPU_TEST_BUILD_DIR "/../firmware/kernels/selftest.elf"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static const char *sec_name(const uint8_t *e, unsigned i)
{
    uint32_t shoff = rd32(e + 32);
    const uint8_t *str = e + shoff + rd16(e + 50) * 40;
    return (const char *)e + rd32(str + 16) + rd32(e + shoff + i * 40);
}

static void same_module(const uint8_t *a, size_t alen, const uint8_t *b,
                        size_t blen)
{
    static vtpu_module ma, mb;
    char err[256];
    assert_int_equal(vtpu_module_parse(&ma, a, alen, NULL, err, sizeof(err)),
                     0);
    int rc = vtpu_module_parse(&mb, b, blen, NULL, err, sizeof(err));
    if (rc)
        fail_msg("stripped module refused: %s", err);
    assert_int_equal(ma.num_kernels, mb.num_kernels);
    assert_int_equal(ma.smem_end, mb.smem_end);
    assert_memory_equal(ma.kernels, mb.kernels,
                        ma.num_kernels * sizeof(ma.kernels[0]));
}

static void check_module(const char *path)
{
    size_t len, slen = 0;
    uint8_t *e = slurp(path, &len);
    uint8_t *s = vtpu_module_strip_debug(e, len, &slen);
    assert_non_null(s);
    assert_true(slen < len);
    same_module(e, len, s, slen);

    /* Segments: the same bytes (offsets may move). */
    unsigned phnum = rd16(e + 44);
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *pa = e + rd32(e + 28) + i * 32;
        const uint8_t *pb = s + rd32(s + 28) + i * 32;
        assert_int_equal(rd32(pa + 16), rd32(pb + 16)); /* filesz */
        assert_memory_equal(e + rd32(pa + 4), s + rd32(pb + 4),
                            rd32(pa + 16));
    }
    /* Sections: .debug* empty, the others the same bytes, aligned. */
    unsigned shnum = rd16(e + 48);
    uint32_t debug = 0;
    assert_int_equal(rd32(s + 32) % 4, 0);
    for (unsigned i = 1; i < shnum; i++) {
        const uint8_t *sa = e + rd32(e + 32) + i * 40;
        const uint8_t *sb = s + rd32(s + 32) + i * 40;
        assert_string_equal(sec_name(e, i), sec_name(s, i));
        if (!strncmp(sec_name(e, i), ".debug", 6)) {
            assert_int_equal(rd32(sb + 20), 0);
            debug += rd32(sa + 20);
            continue;
        }
        assert_int_equal(rd32(sa + 20), rd32(sb + 20));
        if (rd32(sa + 4) == 8) /* NOBITS: no bytes, no file offset */
            continue;
        uint32_t align = rd32(sa + 32);
        if (align > 1 && rd32(sa + 16) % align == 0)
            assert_int_equal(rd32(sb + 16) % align, 0);
        assert_memory_equal(e + rd32(sa + 16), s + rd32(sb + 16),
                            rd32(sa + 20));
    }
    assert_true(debug > 0);
    assert_true(len - slen > debug - 16 * shnum); /* all of it, but ends */
    free(s);
    free(e);
}

static void test_kernels_module(void **state)
{
    (void)state;
    check_module(KERNELS);
}

static void test_selftest_module(void **state)
{
    (void)state;
    check_module(SELFTEST);
}

/* Corrupted copies: refused, or the same module as the original. */
static void test_corrupted(void **state)
{
    (void)state;
    size_t len;
    uint8_t *e = slurp(KERNELS, &len);
    uint8_t *c = malloc(len);
    uint64_t r = 0x2545f4914f6cdd1dull;
    unsigned stripped = 0, refused = 0;
    static vtpu_module m;
    char err[256];
    assert_non_null(c);
    uint32_t shoff = rd32(e + 32);
    for (unsigned it = 0; it < 3000; it++) {
        memcpy(c, e, len);
        for (unsigned k = 0; k < 1 + it % 4; k++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            /* mostly the headers, where it matters */
            size_t at = it % 2 ? (size_t)(r >> 8) % len
                      : it % 4 == 0 ? (size_t)(r >> 8) % 52
                                    : shoff + (size_t)(r >> 8) % (len - shoff);
            c[at] ^= (uint8_t)(1u << (r & 7));
        }
        size_t slen;
        uint8_t *s = vtpu_module_strip_debug(c, len, &slen);
        if (!s) {
            refused++;
            continue;
        }
        stripped++;
        if (!vtpu_module_parse(&m, c, len, NULL, err, sizeof(err)))
            same_module(c, len, s, slen);
        free(s);
    }
    assert_true(stripped > 100 && refused > 100);
    free(c);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_module),
        cmocka_unit_test(test_selftest_module),
        cmocka_unit_test(test_corrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
