/* test_config.c - generation presets, overrides, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "vtpu.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_presets(void **state)
{
    (void)state;
    vtpu_config c;
    char err[256];
    /* The public per-TensorCore numbers (docs/architecture.md, "Generations"). */
    assert_int_equal(vtpu_config_preset(&c, "v4", err, sizeof(err)), 0);
    assert_int_equal(c.num_tcs, 2);
    assert_int_equal(c.vmem_size, 16 * MiB);
    assert_int_equal(c.mxu_dim, 128);
    assert_int_equal(vtpu_config_preset(&c, "v5e", err, sizeof(err)), 0);
    assert_int_equal(c.num_tcs, 1);
    assert_int_equal(c.vmem_size, 128 * MiB);
    assert_int_equal(vtpu_config_preset(&c, "v5p", err, sizeof(err)), 0);
    assert_int_equal(c.num_tcs, 2);
    assert_int_equal(c.vmem_size, 64 * MiB);
    assert_true(c.hbm_size == 95 * GiB);
    assert_int_equal(vtpu_config_preset(&c, "v6e", err, sizeof(err)), 0);
    assert_int_equal(c.num_tcs, 1);
    assert_int_equal(c.vmem_size, 128 * MiB);
    assert_int_equal(c.mxu_dim, 256);
    assert_int_equal(c.smem_size, 1 * MiB);
    assert_string_equal(c.gen, "v6e");
    /* Default preset. */
    assert_int_equal(vtpu_config_preset(&c, NULL, err, sizeof(err)), 0);
    assert_string_equal(c.gen, "v5p");
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), 0);

    assert_int_equal(vtpu_config_preset(&c, "v9x", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown generation 'v9x'"));
}

static void test_overrides(void **state)
{
    (void)state;
    vtpu_config c;
    char err[256];
    vtpu_config_preset(&c, "v4", err, sizeof(err));
    assert_int_equal(vtpu_config_set(&c, "vmem-size", "32M", err, 256), 0);
    assert_int_equal(c.vmem_size, 32 * MiB);
    assert_int_equal(vtpu_config_set(&c, "hbm-size", "2GiB", err, 256), 0);
    assert_true(c.hbm_size == 2 * GiB);
    assert_int_equal(vtpu_config_set(&c, "smem-size", "0x20000", err, 256),
                     0);
    assert_int_equal(c.smem_size, 0x20000);
    assert_int_equal(vtpu_config_set(&c, "cores", "4", err, 256), 0);
    assert_int_equal(c.num_tcs, 4);
    assert_int_equal(vtpu_config_set(&c, "imem-size", "64K", err, 256), 0);
    assert_int_equal(c.imem_size, 65536);
    assert_int_equal(vtpu_config_set(&c, "sems", "17", err, 256), 0);
    assert_int_equal(c.num_sems, 17);
    assert_int_equal(vtpu_config_set(&c, "mxu-size", "256", err, 256), 0);
    assert_int_equal(c.mxu_dim, 256);
    assert_int_equal(vtpu_config_set(&c, "mxu-count", "2", err, 256), 0);
    assert_int_equal(c.mxu_count, 2);
    assert_int_equal(vtpu_config_set(&c, "insn-budget", "1000", err, 256), 0);
    assert_int_equal(c.insn_budget, 1000);
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), 0);

    /* gen resets everything to the preset. */
    assert_int_equal(vtpu_config_set(&c, "gen", "v5e", err, 256), 0);
    assert_int_equal(c.num_tcs, 1);
    assert_int_equal(c.insn_budget, 0);

    /* Bad input names what was wrong. */
    assert_int_equal(vtpu_config_set(&c, "vmem-size", "12Q", err, 256), -1);
    assert_non_null(strstr(err, "vmem-size: '12Q' is not a size"));
    assert_int_equal(vtpu_config_set(&c, "vmem-size", "-1", err, 256), -1);
    assert_int_equal(vtpu_config_set(&c, "vmem-size", "8G", err, 256), -1);
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(vtpu_config_set(&c, "colour", "1", err, 256), -1);
    assert_non_null(strstr(err, "unknown option 'colour'"));
}

static void test_validate(void **state)
{
    (void)state;
    vtpu_config c;
    char err[256];
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.num_tcs = 0;
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cores = 0 is out of range"));
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.num_tcs = VTPU_MAX_TCS + 1;
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), -1);
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.vmem_size = 65536 + 1;
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "vmem-size = 65537 is not a multiple"));
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.mxu_dim = 100;
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mxu-size = 100"));
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.num_sems = 0;
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), -1);
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.smem_size = VTPU_SMEM_MAX + 4096;
    assert_int_equal(vtpu_config_validate(&c, err, sizeof(err)), -1);
    /* vtpu_chip_new refuses a bad config with the same message. */
    vtpu_config_preset(&c, "v5p", err, sizeof(err));
    c.hbm_size = 12345;
    assert_null(vtpu_chip_new(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "hbm-size"));
}

static void test_help(void **state)
{
    (void)state;
    const char *help;
    unsigned n = 0;
    for (; vtpu_config_help(n, &help); n++)
        assert_true(strlen(help) > 5);
    assert_int_equal(n, 13);
    assert_string_equal(vtpu_config_help(0, NULL), "cores");
    assert_string_equal(vtpu_config_help(9, NULL), "race");
    assert_string_equal(vtpu_config_help(11, NULL), "bounds");
    assert_string_equal(vtpu_config_help(12, NULL), "vmem-shared");
}

/* The check switches take on/off as well as 1/0 (QEMU's race=on). */
static void test_checks(void **state)
{
    (void)state;
    vtpu_config c;
    char err[256];
    assert_int_equal(vtpu_config_preset(&c, "v4", err, sizeof(err)), 0);
    assert_int_equal(c.race, 0);
    assert_int_equal(vtpu_config_set(&c, "race", "on", err, 256), 0);
    assert_int_equal(c.race, 1);
    assert_int_equal(vtpu_config_set(&c, "poison", "1", err, 256), 0);
    assert_int_equal(c.poison, 1);
    assert_int_equal(vtpu_config_set(&c, "race", "off", err, 256), 0);
    assert_int_equal(c.race, 0);
    /* buffer bounds: off, padded (= on), logical */
    assert_int_equal(vtpu_config_set(&c, "bounds", "logical", err, 256), 0);
    assert_int_equal(c.bounds, VTPU_BOUNDS_LOGICAL);
    assert_int_equal(vtpu_config_validate(&c, err, 256), 0);
    assert_int_equal(vtpu_config_set(&c, "bounds", "padded", err, 256), 0);
    assert_int_equal(c.bounds, VTPU_BOUNDS_PADDED);
    assert_int_equal(vtpu_config_set(&c, "bounds", "on", err, 256), 0);
    assert_int_equal(c.bounds, VTPU_BOUNDS_PADDED);
    assert_int_equal(vtpu_config_set(&c, "race", "logical", err, 256), -1);
    assert_int_equal(vtpu_config_set(&c, "bounds", "3", err, 256), 0);
    assert_int_equal(vtpu_config_validate(&c, err, 256), -1);
    assert_non_null(strstr(err, "bounds"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
