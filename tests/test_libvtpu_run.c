/*
 * test_libvtpu_run.c - libvtpu-run.so (tools/libvtpu-run.h) from C, as
 * another language would call it: chip options and their errors, module
 * loading (missing, not an ELF), kernel lookup, output-shape inference,
 * a launch of add_sin_f32 against a host reference on 1 and 2 TCs, a
 * failing launch's status and report (the TC runtime's whole line with
 * the grid point), a race report, captured kernel output, and many
 * launches on one chip (HBM freed after each).  python/tests covers the
 * same through the Python package; this runs the library under ASan.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libvtpu-run.h"
#include "vtpu-launch.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define KERNELS VTPU_TEST_BUILD_DIR "/../firmware/kernels/kernels.elf"
#define SELFTEST VTPU_TEST_BUILD_DIR "/../firmware/kernels/selftest.elf"

#define ASSERT_CONTAINS(hay, needle)                                           \
    do {                                                                       \
        if (!strstr((hay), (needle)))                                          \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));       \
    } while (0)

static vtpu_run_chip *open_chip(const char *const *opts)
{
    char err[512];
    vtpu_run_chip *c = vtpu_run_open(opts, err, sizeof(err));
    if (!c)
        fail_msg("vtpu_run_open: %s", err);
    return c;
}

static int load(vtpu_run_chip *c, const char *path)
{
    int m = -1;
    if (vtpu_run_load(c, path, &m))
        fail_msg("%s: %s", path, vtpu_run_error(c));
    return m;
}

static vtpu_run_array f32_2d(float *data, uint32_t r, uint32_t cols)
{
    return (vtpu_run_array){.dtype = VTPU_F32,
                            .rank = 2,
                            .shape = {r, cols},
                            .data = data,
                            .bytes = (uint64_t)r * cols * sizeof(float)};
}

static void test_options(void **state)
{
    (void)state;
    char err[512];
    const char *bad_gen[] = {"gen=v9", NULL};
    const char *bad_key[] = {"colour=blue", NULL};
    const char *no_eq[] = {"race", NULL};
    const char *bad_order[] = {"dma-order=sometimes", NULL};

    assert_int_equal(vtpu_run_version(), VTPU_RUN_API_VERSION);
    assert_null(vtpu_run_open(bad_gen, err, sizeof(err)));
    ASSERT_CONTAINS(err, "v9");
    assert_null(vtpu_run_open(bad_key, err, sizeof(err)));
    ASSERT_CONTAINS(err, "colour");
    assert_null(vtpu_run_open(no_eq, err, sizeof(err)));
    ASSERT_CONTAINS(err, "expected KEY=VALUE");
    assert_null(vtpu_run_open(bad_order, err, sizeof(err)));
    ASSERT_CONTAINS(err, "eager, on-wait, random");

    const char *v5e[] = {"gen=v5e", NULL},
               *v4_1[] = {"gen=v4", "cores=1", NULL};
    vtpu_run_chip *c = open_chip(v5e);
    assert_int_equal(vtpu_run_num_tcs(c), 1);
    vtpu_run_close(c);
    c = open_chip(v4_1);
    assert_int_equal(vtpu_run_num_tcs(c), 1);
    vtpu_run_close(c);
    c = open_chip(NULL); /* the default preset, v5p: 2 TCs */
    assert_int_equal(vtpu_run_num_tcs(c), 2);
    vtpu_run_close(c);
}

static void test_modules_and_kernels(void **state)
{
    (void)state;
    vtpu_run_chip *c = open_chip(NULL);
    int m, k;

    assert_int_equal(vtpu_run_load(c, "/nonexistent.elf", &m), VTPU_RUN_ELOAD);
    ASSERT_CONTAINS(vtpu_run_error(c), "/nonexistent.elf");
    assert_int_equal(
        vtpu_run_load(c, VTPU_TEST_BUILD_DIR "/../build.ninja", &m),
        VTPU_RUN_ELOAD);
    assert_int_equal(vtpu_run_status(c), VTPU_RUN_ELOAD);

    m = load(c, KERNELS);
    assert_string_equal(vtpu_run_error(c), "");
    assert_true(vtpu_run_num_kernels(c, m) > 40);
    assert_null(vtpu_run_kernel_name(c, m, 1000));
    assert_int_equal(vtpu_run_find(c, m, "nope", &k), VTPU_RUN_EUSAGE);
    ASSERT_CONTAINS(vtpu_run_error(c), "no kernel 'nope' in the module (it "
                                       "has: ");
    ASSERT_CONTAINS(vtpu_run_error(c), "add_sin_f32");
    assert_int_equal(vtpu_run_find(c, m, "matmul_f32", &k), 0);
    assert_string_equal(vtpu_run_kernel_name(c, m, k), "matmul_f32");

    vtpu_run_operand ops[16];
    unsigned n = 16;
    assert_int_equal(vtpu_run_operands(c, m, k, ops, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ops[2].role, VTPU_ROLE_OUT);
    assert_int_equal(ops[0].block[0], 128);

    /* pl.Element padding from the kernel's extension record */
    uint32_t lo[4], hi[4];
    assert_int_equal(vtpu_run_padding(c, m, k, 0, lo, hi), 0);
    assert_int_equal(lo[0] | lo[1] | hi[0] | hi[1], 0); /* matmul: none */
    assert_int_equal(vtpu_run_padding(c, m, k, 3, lo, hi), VTPU_RUN_EUSAGE);
    ASSERT_CONTAINS(vtpu_run_error(c), "kernel 'matmul_f32' has no operand 3");
    int kc;
    assert_int_equal(vtpu_run_find(c, m, "conv2d_3x3_f32", &kc), 0);
    assert_int_equal(vtpu_run_padding(c, m, kc, 0, lo, hi), 0);
    assert_int_equal(lo[0], 1);
    assert_int_equal(hi[0], 8);
    assert_int_equal(lo[1], 1);
    assert_int_equal(hi[1], 128);

    /* matmul: M, K, N differ, the output's shape must be given */
    float x[1], y[1];
    vtpu_run_array a[3] = {f32_2d(x, 256, 384), f32_2d(y, 384, 128), {0}};
    assert_int_equal(vtpu_run_shape(c, m, k, a, 3), VTPU_RUN_EUSAGE);
    ASSERT_CONTAINS(vtpu_run_error(c), "output 0: kernel 'matmul_f32' does "
                                       "not declare the shape of output "
                                       "operand 2");
    a[2].rank = 2;
    a[2].shape[0] = 256;
    a[2].shape[1] = 128;
    assert_int_equal(vtpu_run_shape(c, m, k, a, 3), 0);
    assert_int_equal(a[2].dtype, VTPU_F32);
    assert_int_equal(a[2].bytes, 256 * 128 * 4);
    assert_int_equal(vtpu_run_shape(c, m, k, a, 2), VTPU_RUN_EUSAGE);
    ASSERT_CONTAINS(vtpu_run_error(c), "has 3 operands, got 2");
    a[1].dtype = VTPU_I32;
    assert_int_equal(vtpu_run_shape(c, m, k, a, 3), VTPU_RUN_EUSAGE);
    assert_string_equal(vtpu_run_error(c),
                        "input 1: operand 1 of 'matmul_f32' is f32, the "
                        "array holds i32 ('<i4')");
    vtpu_run_close(c);
}

static void add_sin(unsigned tcs)
{
    char cores[16];
    snprintf(cores, sizeof(cores), "cores=%u", tcs);
    /* 128 MiB of HBM: the launches below would run out if any leaked */
    const char *opts[] = {"gen=v4", cores, "hbm-size=128M", NULL};
    vtpu_run_chip *c = open_chip(opts);
    int m = load(c, KERNELS), k;
    assert_int_equal(vtpu_run_find(c, m, "add_sin_f32", &k), 0);

    enum { R = 100, C = 300 }; /* not whole blocks */
    static float x[R * C], y[R * C], o[R * C];
    for (unsigned i = 0; i < R * C; i++) {
        x[i] = (float)i * 1e-4f;
        y[i] = 1.0f - (float)i * 3e-5f;
        o[i] = -1;
    }
    vtpu_run_array a[3] = {f32_2d(x, R, C), f32_2d(y, R, C), {0}};
    assert_int_equal(vtpu_run_shape(c, m, k, a, 3), 0);
    assert_int_equal(a[2].shape[0], R);
    assert_int_equal(a[2].shape[1], C);
    a[2].data = o;
    vtpu_run_launch l = {.grid_rank = 2,
                         .grid = {13, 3},
                         .semantics = {VTPU_PARALLEL, VTPU_PARALLEL}};
    vtpu_run_stats st;
    assert_int_equal(vtpu_run_kernel(c, m, k, &l, a, 3, &st), 0);
    for (unsigned i = 0; i < R * C; i++) {
        double want = sin(((double)x[i] + y[i]) * 2);
        if (fabs(o[i] - want) > 1e-6)
            fail_msg("o[%u] = %.9g, expected %.9g", i, o[i], want);
    }
    assert_int_equal(st.num_tcs, tcs);
    assert_int_equal(st.busy_tcs, tcs);
    assert_int_equal(st.steps, 39);
    assert_int_equal(st.failed_tc, -1);
    assert_int_equal(st.bytes_out, sizeof(o));

    /* Many launches: every one frees its HBM. */
    float *big;
    const uint32_t BR = 4096, BC = 1024; /* 16 MiB per array */
    big = calloc((size_t)BR * BC * 3, sizeof(float));
    assert_non_null(big);
    vtpu_run_array b[3] = {f32_2d(big, BR, BC),
                           f32_2d(big + (size_t)BR * BC, BR, BC),
                           f32_2d(big + 2 * (size_t)BR * BC, BR, BC)};
    vtpu_run_launch one = {0};
    int nop3;
    assert_int_equal(vtpu_run_find(c, m, "nop3", &nop3), 0);
    for (unsigned i = 0; i < 20; i++) /* 960 MiB in total */
        if (vtpu_run_kernel(c, m, nop3, &one, b, 3, NULL))
            fail_msg("launch %u: %s", i, vtpu_run_error(c));
    free(big);
    vtpu_run_close(c);
}

static void test_add_sin_1tc(void **state)
{
    (void)state;
    add_sin(1);
}

static void test_add_sin_2tc(void **state)
{
    (void)state;
    add_sin(2);
}

static void test_failure_report(void **state)
{
    (void)state;
    const char *opts[] = {"gen=v4", "cores=2", "quiet=on", NULL};
    vtpu_run_chip *c = open_chip(opts);
    int m = load(c, SELFTEST), k;
    static int32_t o[16 * 128];

    assert_int_equal(vtpu_run_find(c, m, "oob_index", &k), 0);
    vtpu_run_array a[1] = {{.dtype = VTPU_I32,
                            .rank = 2,
                            .shape = {16, 128},
                            .data = o,
                            .bytes = sizeof(o)}};
    vtpu_run_launch l = {.grid_rank = 1, .grid = {2}};
    vtpu_run_stats st;
    assert_int_equal(vtpu_run_kernel(c, m, k, &l, a, 1, &st), VTPU_RUN_EFAULT);
    assert_int_equal(vtpu_run_status(c), VTPU_RUN_EFAULT);
    ASSERT_CONTAINS(vtpu_run_error(c), "launch of 'oob_index' failed on TC 0: "
                                       "block index out of range (79)");
    const char *r = vtpu_run_report(c);
    ASSERT_CONTAINS(r, vtpu_run_error(c));
    ASSERT_CONTAINS(r, "\nvtpu-rt: TC 0: block index out of range: operand "
                       "0: index map gave block (2, 0) at grid point (1); "
                       "the array has (2, 1) blocks");
    ASSERT_CONTAINS(vtpu_run_output(c, 2), "at grid point (1)");
    assert_int_equal(st.failed_tc, 0);
    assert_int_equal(st.failed_code, 79);

    /* The chip is usable afterwards; a good launch clears the report. */
    assert_int_equal(vtpu_run_find(c, m, "walk_order", &k), 0);
    assert_int_equal(vtpu_run_kernel(c, m, k, &l, a, 1, &st), 0);
    assert_string_equal(vtpu_run_error(c), "");
    assert_string_equal(vtpu_run_output(c, 2), "");
    assert_int_equal(o[0], 0);
    assert_int_equal(o[8 * 128], 1);

    /* Tagged kernel output, captured (quiet: not printed). */
    vtpu_run_close(c);
    const char *tag[] = {"gen=v4", "cores=1", "quiet=on", "tag-output=on",
                         NULL};
    c = open_chip(tag);
    m = load(c, SELFTEST);
    assert_int_equal(vtpu_run_find(c, m, "print_point", &k), 0);
    assert_int_equal(vtpu_run_kernel(c, m, k, &l, a, 1, NULL), 0);
    assert_string_equal(vtpu_run_output(c, 1),
                        "[TC 0 (0)] step 0\n[TC 0 (1)] step 1\n");
    vtpu_run_close(c);
}

static void test_race_report(void **state)
{
    (void)state;
    const char *opts[] = {"gen=v4", "cores=2", "race=on", "quiet=on", NULL};
    vtpu_run_chip *c = open_chip(opts);
    int m = load(c, SELFTEST), k;
    static float x[64 * 128], o[8 * 128];

    assert_int_equal(vtpu_run_find(c, m, "race_out", &k), 0);
    vtpu_run_array a[2] = {f32_2d(x, 64, 128), f32_2d(o, 8, 128)};
    vtpu_run_launch l = {
        .grid_rank = 1, .grid = {8}, .semantics = {VTPU_PARALLEL}};
    assert_int_equal(vtpu_run_kernel(c, m, k, &l, a, 2, NULL), VTPU_RUN_EFAULT);
    ASSERT_CONTAINS(vtpu_run_error(c), "data race");
    ASSERT_CONTAINS(vtpu_run_report(c), "vtpu: DATA RACE on HBM 0x");
    ASSERT_CONTAINS(vtpu_run_report(c), "previous write by DMA issued by TC");
    vtpu_run_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_modules_and_kernels),
        cmocka_unit_test(test_add_sin_1tc),
        cmocka_unit_test(test_add_sin_2tc),
        cmocka_unit_test(test_failure_report),
        cmocka_unit_test(test_race_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
