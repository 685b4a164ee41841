/*
 * selftest.h - the self-tests' framework (selftest.c): one line per test
 * ("ok"/"FAIL" and its time), checks that end the test, and the tests
 * that need nothing but the runtime (vtpu_rt.h), shared by the
 * bare-metal self-test (guest/selftest, the ring backend) and the Linux
 * user-space one (guest/linux-user, the Linux backend).
 */
#ifndef GUEST_SELFTEST_H
#define GUEST_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "vtpu_rt.h"

/* What the shared tests run on; the program fills it in. */
typedef struct st_env {
    vtpu_rt *rt;
    vtpu_module *mod; /* the kernel library, loaded */
    const void *kernels_elf;
    size_t kernels_len;
    const void *selftest_elf; /* selftest.elf: kernels that fail */
    size_t selftest_len;
    uint64_t (*now_ns)(void);
} st_env;
extern st_env st;

extern int st_failed; /* the running test failed */
extern int st_noted;  /* it printed lines of its own */

/* One indented line under the test's name (errors it provoked). */
void st_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The test failed at `line`. */
void st_failf(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            st_failf(__LINE__, "%s", #c);                                      \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            st_failf(__LINE__, "%s == %s: %lld (0x%llx) != %lld (0x%llx)",     \
                     #a, #b, a_, (unsigned long long)a_, b_,                   \
                     (unsigned long long)b_);                                  \
            return;                                                            \
        }                                                                      \
    } while (0)

/* A call that returns a driver/runtime status. */
#define CHECK_OK(call)                                                         \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_) {                                                             \
            st_failf(__LINE__, "%s: %s (%s)", #call, vtpu_rt_strerror(rc_),    \
                     vtpu_rt_error(st.rt));                                    \
            return;                                                            \
        }                                                                      \
    } while (0)

typedef struct st_test {
    const char *name;
    void (*fn)(void);
} st_test;

#define ST_TEST(n)                                                             \
    {                                                                          \
#n, test_##n                                                           \
    }

/*
 * Run the tests in order, one line each.  After a failed test,
 * `recover` (may be NULL) isolates the next one from what it left; if it
 * fails the run stops.  Returns the number of failed tests, or minus
 * (that number + 1) when the run stopped.
 */
int st_run_tests(const st_test *tests, unsigned n, int (*recover)(void));

/* Bytes of deterministic junk. */
void st_fill_pattern(uint8_t *p, size_t n, uint32_t seed);

/* add_sin_f32 from the kernel library on `tcs` TCs over a grid of
 * `grid` steps, checked against sinf. */
void st_run_add_sin(unsigned tcs, uint32_t grid);

/* The runtime-level tests (selftest.c). */
void test_rt_copies(void);         /* write/read at odd offsets, fill */
void test_module_load(void);       /* load, find, second slot, bad ELF */
void test_launch_1tc(void);        /* add_sin_f32 on 1 TC */
void test_launch_all_tcs(void);    /* ... on every TC */
void test_launch_kernel_error(void); /* a TC-runtime error: ELAUNCH */

#endif /* GUEST_SELFTEST_H */
