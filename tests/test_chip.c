/* test_chip.c - chip lifetime, lazy HBM, host memory access, ELF loading. */
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
#include "internal.h"

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_lazy_hbm(void **state)
{
    (void)state;
    long before = rss_kib();
    /* v5p: 95 GiB of HBM and 2 x 64 MiB of VMEM must not cost that much
     * host memory until touched. */
    vtpu_chip *a = test_chip("v5p", 0);
    vtpu_chip *b = test_chip("v4", 0);
    long after = rss_kib();
    assert_true(after - before < 64 * 1024);

    /* Touch 1 byte at both ends of a's HBM; b's stays independent. */
    uint8_t v = 0xa5, r = 0;
    uint64_t top = vtpu_chip_config(a)->hbm_size - 1;
    assert_int_equal(vtpu_hbm_write(a, top, &v, 1), 0);
    assert_int_equal(vtpu_hbm_write(a, 0, &v, 1), 0);
    assert_int_equal(vtpu_hbm_read(a, top, &r, 1), 0);
    assert_int_equal(r, 0xa5);
    assert_int_equal(vtpu_hbm_read(b, 0, &r, 1), 0);
    assert_int_equal(r, 0);
    assert_true(rss_kib() - before < 64 * 1024);
    vtpu_chip_free(a);
    vtpu_chip_free(b);
}

static void test_hbm_bounds(void **state)
{
    (void)state;
    vtpu_chip *c = test_chip("v5e", 0);
    uint64_t size = vtpu_chip_config(c)->hbm_size;
    uint8_t buf[64];
    uint64_t seed = 42;
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)test_rand32(&seed);
    assert_int_equal(vtpu_hbm_write(c, size - 64, buf, 64), 0);
    uint8_t back[64];
    assert_int_equal(vtpu_hbm_read(c, size - 64, back, 64), 0);
    assert_memory_equal(buf, back, 64);
    assert_int_equal(vtpu_hbm_write(c, size - 63, buf, 64), -1);
    assert_int_equal(vtpu_hbm_read(c, size, back, 1), -1);
    assert_int_equal(vtpu_hbm_read(c, UINT64_MAX - 2, back, 8), -1);
    vtpu_chip_free(c);
}

static void test_tc_memories(void **state)
{
    (void)state;
    vtpu_chip *c = test_chip("v4", 0);
    const vtpu_config *cfg = vtpu_chip_config(c);
    uint32_t w = 0x12345678, r = 0;
    assert_int_equal(
        vtpu_mem_write(c, 1, VTPU_SPACE_VMEM, cfg->vmem_size - 4, &w, 4), 0);
    assert_int_equal(
        vtpu_mem_read(c, 1, VTPU_SPACE_VMEM, cfg->vmem_size - 4, &r, 4), 0);
    assert_int_equal(r, w);
    assert_int_equal(
        vtpu_mem_read(c, 0, VTPU_SPACE_VMEM, cfg->vmem_size - 4, &r, 4), 0);
    assert_int_equal(r, 0); /* TC 0's VMEM is its own */
    assert_int_equal(
        vtpu_mem_write(c, 0, VTPU_SPACE_SMEM, cfg->smem_size - 2, &w, 4), -1);
    assert_int_equal(vtpu_mem_write(c, 2, VTPU_SPACE_SMEM, 0, &w, 4), -1);
    assert_int_equal(vtpu_mem_write(c, 0, VTPU_SPACE_IMEM, 0, &w, 4), -1);
    assert_int_equal(vtpu_mem_write(c, 0, VTPU_SPACE_HBM, 0, &w, 4), -1);
    vtpu_chip_free(c);
}

/* A valid image from helpers.c, then one field broken at a time. */
static uint8_t *valid_elf(size_t *len)
{
    test_prog p;
    prog_init(&p);
    prog_emit(&p, rv_addi(10, 0, 7));
    prog_exit(&p);
    p.data_len = 16;
    memcpy(p.data, "vtpu-data-16byte", 16);
    return build_elf(&p, len);
}

static void expect_reject(uint8_t *elf, size_t len, const char *msg)
{
    vtpu_chip *c = test_chip("v5e", 0);
    char err[256] = "";
    assert_int_equal(vtpu_chip_load_elf(c, elf, len, err, sizeof(err)), -1);
    if (!strstr(err, msg))
        fail_msg("expected '%s' in '%s'", msg, err);
    vtpu_chip_free(c);
}

static void put32(uint8_t *b, uint32_t v)
{
    memcpy(b, &v, 4); /* tests run on little-endian hosts */
}

static void test_elf_rejects(void **state)
{
    (void)state;
    size_t len;
    uint8_t *e;

    e = valid_elf(&len);
    e[1] = 'X';
    expect_reject(e, len, "not an ELF file");
    free(e);

    e = valid_elf(&len);
    e[4] = 2;
    expect_reject(e, len, "ELFCLASS64");
    free(e);

    e = valid_elf(&len);
    e[18] = 62; /* x86-64 */
    expect_reject(e, len, "is not RISC-V");
    free(e);

    e = valid_elf(&len);
    e[16] = 3; /* ET_DYN */
    expect_reject(e, len, "not an executable");
    free(e);

    /* e_ident[EI_VERSION] and e_version: the loader and the runtime's
     * module reader once disagreed here (one checker now). */
    e = valid_elf(&len);
    e[6] = 2;
    expect_reject(e, len, "ELF version");
    free(e);
    e = valid_elf(&len);
    put32(e + 20, 0);
    expect_reject(e, len, "ELF version");
    free(e);

    e = valid_elf(&len);
    e[36] |= 1; /* RVC */
    expect_reject(e, len, "compressed instructions");
    free(e);

    e = valid_elf(&len);
    e[36] = 0x4; /* double-float ABI */
    expect_reject(e, len, "double-precision");
    free(e);

    e = valid_elf(&len);
    put32(e + 28, (uint32_t)len - 10); /* phoff past the end */
    expect_reject(e, len, "lie outside the file");
    free(e);

    e = valid_elf(&len);
    put32(e + 52 + 8, 0x40000000); /* text vaddr outside the map */
    expect_reject(e, len, "does not fit this device's IMEM");
    free(e);

    e = valid_elf(&len);
    put32(e + 52 + 32 + 20, 2u << 20); /* data memsz > SMEM */
    expect_reject(e, len, "does not fit this device's IMEM");
    free(e);

    e = valid_elf(&len);
    put32(e + 52 + 16, 0x10000); /* filesz past the end of the file */
    expect_reject(e, len, "malformed");
    free(e);

    e = valid_elf(&len);
    put32(e + 24, VTPU_IMEM_BASE + 0x1000); /* entry outside the code */
    expect_reject(e, len, "entry point");
    free(e);

    /* Truncated files of every length never crash. */
    e = valid_elf(&len);
    vtpu_chip *c = test_chip("v5e", 0);
    for (size_t l = 0; l < len; l++) {
        char err[256];
        int rc = vtpu_chip_load_elf(c, e, l, err, sizeof(err));
        if (rc == 0)
            fail_msg("truncated ELF of %zu bytes accepted", l);
    }
    vtpu_chip_free(c);
    free(e);
}

static void test_elf_loads(void **state)
{
    (void)state;
    size_t len;
    uint8_t *e = valid_elf(&len);
    vtpu_chip *c = test_chip("v4", 0);
    char err[256];
    assert_int_equal(vtpu_chip_load_elf(c, e, len, err, sizeof(err)), 0);
    free(e);
    /* IMEM readable by the host (debuggers), SMEM image applied at reset. */
    uint32_t w;
    assert_int_equal(vtpu_mem_read(c, 0, VTPU_SPACE_IMEM, 0, &w, 4), 0);
    assert_int_equal(w, rv_addi(10, 0, 7));
    vtpu_tc_reset(c->tcs[1], 2);
    char data[17] = "";
    assert_int_equal(vtpu_mem_read(c, 1, VTPU_SPACE_SMEM, 0, data, 16), 0);
    assert_string_equal(data, "vtpu-data-16byte");
    assert_int_equal(c->tcs[1]->pc, VTPU_IMEM_BASE);
    vtpu_chip_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_hbm),
        cmocka_unit_test(test_hbm_bounds),
        cmocka_unit_test(test_tc_memories),
        cmocka_unit_test(test_elf_rejects),
        cmocka_unit_test(test_elf_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
