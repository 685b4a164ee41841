/*
 * selftest.c - the self-tests' framework and the tests that need only the
 * runtime (selftest.h): the same code checks the ring backend in the
 * bare-metal guest and the Linux backend in Linux user space.
 */
#include "selftest.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

st_env st;
int st_failed, st_noted;

void st_note(const char *fmt, ...)
{
    va_list ap;

    printf("\n    ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    st_noted = 1;
}

void st_failf(int line, const char *fmt, ...)
{
    va_list ap;

    printf("\n    line %d: ", line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    st_failed = st_noted = 1;
}

int st_run_tests(const st_test *tests, unsigned n, int (*recover)(void))
{
    int failed = 0;

    for (unsigned i = 0; i < n; i++) {
        st_failed = st_noted = 0;
        printf("test %-20s", tests[i].name);
        fflush(stdout);
        uint64_t t0 = st.now_ns();
        tests[i].fn();
        uint64_t us = (st.now_ns() - t0) / 1000;
        if (st_failed) {
            printf("\n%-25s FAIL %s (%llu us)\n", "", tests[i].name,
                   (unsigned long long)us);
            failed++;
            if (recover && recover()) {
                printf("vtpu-selftest: cannot recover the device\n");
                return -(failed + 1);
            }
        } else {
            printf("%s ok (%llu us)\n",
                   st_noted ? "\n                         " : "",
                   (unsigned long long)us);
        }
        fflush(stdout);
    }
    return failed;
}

void st_fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* Copies at odd offsets and lengths, larger than one staging buffer or
 * BO piece, and fills, all read back. */
void test_rt_copies(void)
{
    const size_t n = (1u << 20) + 3 * 4096 + 13;
    uint8_t *src = malloc(n), *dst = malloc(n);
    uint64_t hbm;

    CHECK(src && dst);
    st_fill_pattern(src, n, 11);
    memset(dst, 0xee, n);
    CHECK_OK(vtpu_rt_alloc(st.rt, n + 64, 0, &hbm));
    CHECK_OK(vtpu_rt_write(st.rt, hbm + 3, src, n));
    CHECK_OK(vtpu_rt_read(st.rt, hbm + 3, dst, n));
    CHECK(memcmp(src, dst, n) == 0);
    /* a piece in the middle */
    CHECK_OK(vtpu_rt_read(st.rt, hbm + 3 + 4093, dst, 300));
    CHECK(memcmp(src + 4093, dst, 300) == 0);
    /* fill, its neighbours untouched */
    CHECK_OK(vtpu_rt_fill(st.rt, hbm + 4096, 64, 0xdeadbeefu));
    uint32_t w[18];
    CHECK_OK(vtpu_rt_read(st.rt, hbm + 4092, w, sizeof(w)));
    uint32_t before;
    memcpy(&before, src + 4089, 4);
    CHECK_EQ(w[0], before);
    for (unsigned i = 1; i <= 16; i++)
        CHECK_EQ(w[i], 0xdeadbeefu);
    uint32_t after;
    memcpy(&after, src + 4096 + 64 - 3, 4);
    CHECK_EQ(w[17], after);
    CHECK_OK(vtpu_rt_free(st.rt, hbm));
    CHECK_EQ(vtpu_rt_free(st.rt, hbm), VTPU_RT_ENOTALLOC);
    free(src);
    free(dst);
}

void test_module_load(void)
{
    uint32_t k;
    static vtpu_module m2, bad;
    static uint8_t junk[256];
    char err[200];

    CHECK(st.mod->loaded);
    CHECK(st.mod->num_kernels >= 8);
    CHECK_OK(vtpu_module_find(st.mod, "add_sin_f32", &k));
    CHECK_OK(vtpu_module_find(st.mod, "matmul_f32", &k));
    CHECK_EQ(vtpu_rt_kernel_find(st.rt, st.mod, "no_such_kernel", &k),
             VTPU_RT_ENOKERNEL);
    CHECK(strstr(vtpu_rt_error(st.rt), "add_sin_f32") != NULL);
    /* a second copy in another slot */
    CHECK_OK(vtpu_rt_module_load(st.rt, &m2, st.kernels_elf, st.kernels_len));
    CHECK(m2.slot != st.mod->slot);
    vtpu_rt_module_unload(st.rt, &m2);
    /* refused on the CPU before reaching the device */
    memcpy(junk, st.kernels_elf, sizeof(junk));
    junk[18] = 62; /* e_machine = x86-64 */
    CHECK_EQ(
        vtpu_module_parse(&bad, junk, sizeof(junk), NULL, err, sizeof(err)),
        VTPU_RT_EBADELF);
    CHECK(strstr(err, "RISC-V") != NULL);
    CHECK_EQ(vtpu_rt_module_load(st.rt, &bad, junk, 16), VTPU_RT_EBADELF);
}

void st_run_add_sin(unsigned tcs, uint32_t grid)
{
    const uint32_t rows = grid * 8, n = rows * 128;
    float *x = malloc(4 * n), *o = malloc(4 * n);
    vtpu_rt_launch l = {.num_tcs = tcs,
                        .grid_rank = 1,
                        .grid = {grid},
                        .semantics = {VTPU_PARALLEL},
                        .num_operands = 3};
    uint32_t shape[2] = {rows, 128};
    vtpu_rt_stats stats;

    CHECK(x && o);
    for (uint32_t i = 0; i < n; i++)
        x[i] = (float)(i % 1000) * 1e-3f;
    CHECK_OK(vtpu_rt_kernel_find(st.rt, st.mod, "add_sin_f32", &l.kernel));
    for (int i = 0; i < 3; i++)
        CHECK_OK(
            vtpu_rt_array_alloc(st.rt, &l.operands[i], VTPU_F32, 2, shape));
    CHECK_OK(vtpu_rt_write(st.rt, l.operands[0].hbm, x, 4 * n));
    CHECK_OK(vtpu_rt_write(st.rt, l.operands[1].hbm, x, 4 * n));
    CHECK_OK(vtpu_rt_run(st.rt, st.mod, &l, &stats));
    CHECK_OK(vtpu_rt_read(st.rt, l.operands[2].hbm, o, 4 * n));
    CHECK_EQ(stats.num_tcs, tcs);
    CHECK_EQ(stats.steps, grid);
    for (unsigned t = 0; t < tcs; t++)
        CHECK(stats.tc[t].steps >= 1);
    for (uint32_t i = 0; i < n; i++) {
        float ref = sinf((x[i] + x[i]) * 2.0f);
        if (!(fabsf(o[i] - ref) <= 1e-6f)) {
            st_failf(__LINE__, "element %u: %g, expected %g", i, (double)o[i],
                     (double)ref);
            break;
        }
    }
    for (int i = 0; i < 3; i++)
        vtpu_rt_free(st.rt, l.operands[i].hbm);
    free(x);
    free(o);
}

/* A kernel the TC runtime stops (selftest.elf's copy_oob: an async copy
 * past the end of its operand): VTPU_RT_ELAUNCH with the runtime's own
 * explanation, and the device keeps working. */
void test_launch_kernel_error(void)
{
    static vtpu_module m;
    uint32_t shape[1] = {64};
    int32_t at = 60;
    vtpu_rt_launch l = {
        .num_tcs = 1, .num_operands = 1, .num_scalars = 1, .scalars = &at};

    CHECK_OK(vtpu_rt_module_load(st.rt, &m, st.selftest_elf, st.selftest_len));
    CHECK_OK(vtpu_rt_kernel_find(st.rt, &m, "copy_oob", &l.kernel));
    CHECK_OK(vtpu_rt_array_alloc(st.rt, &l.operands[0], VTPU_F32, 1, shape));
    CHECK_OK(vtpu_rt_fill(st.rt, l.operands[0].hbm, 256, 0));
    CHECK_EQ(vtpu_rt_run(st.rt, &m, &l, NULL), VTPU_RT_ELAUNCH);
    st_note("-> %s", vtpu_rt_error(st.rt));
    CHECK(strstr(vtpu_rt_error(st.rt), "copy_oob") != NULL);
    CHECK(strstr(vtpu_rt_error(st.rt), "async copy out of range") != NULL);
    at = 0; /* in range: the same launch succeeds */
    CHECK_OK(vtpu_rt_run(st.rt, &m, &l, NULL));
    vtpu_rt_free(st.rt, l.operands[0].hbm);
    vtpu_rt_module_unload(st.rt, &m);
}

void test_launch_1tc(void)
{
    st_run_add_sin(1, 16);
}

void test_launch_all_tcs(void)
{
    unsigned tcs = vtpu_rt_info(st.rt)->num_tcs;
    st_run_add_sin(tcs, 16 * tcs);
}
