/*
 * kernel_harness.h - what the kernel tests (test_kernels.c,
 * test_kernel_lib.c) share: a 2-TC v5p chip with the kernel module
 * loaded, bump-allocated arrays in HBM, the TCs' output captured, launch
 * descriptors (vtpu-launch.h) built and run through the engine API.
 *
 * The chip honours $VTPU_TEST_DMA_ORDER and $VTPU_TEST_CHECKS (helpers.h):
 * tests/meson.build runs both tests again under them (suite 'checks').
 * Every helper fails the test on a broken call, so a case only checks
 * values.
 */
#ifndef VTPU_TEST_KERNEL_HARNESS_H
#define VTPU_TEST_KERNEL_HARNESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpu-launch.h"
#include "vtpu.h"

#define KT_MODULE VTPU_TEST_BUILD_DIR "/../firmware/kernels/kernels.elf"
#define KT_SELFTEST VTPU_TEST_BUILD_DIR "/../firmware/kernels/selftest.elf"

/* HBM layout: the descriptor, status records and scalars at fixed
 * offsets, arrays from KT_ARRAYS_OFF on. */
#define KT_DESC_OFF 0x1000ull
#define KT_STATUS_OFF 0x2000ull
#define KT_SCALARS_OFF 0x3000ull
#define KT_ARRAYS_OFF 0x100000ull
#define KT_VMEM_SIZE (16u << 20) /* the chip's VMEM, all of it per launch */
#define KT_GUARD 4096u           /* unused bytes after every array */
#define KT_SENTINEL 0xa5         /* what out_alloc() fills outputs with */

typedef struct kt {
    vtpu_chip *chip;
    uint8_t *elf; /* the loaded module */
    size_t elf_len;
    uint64_t hbm_size, hbm_next;
    pthread_mutex_t mu; /* the TCs print concurrently */
    char out[16384];    /* what the TCs printed (both fds) since the run */
    size_t out_len;
    uint64_t rng;      /* for test_rand32() */
    double last_run_s; /* wall time of the last run_launch() */
} kt;

/* A chip with `hbm_size` bytes of HBM and KT_MODULE loaded; the random
 * numbers start from `seed`. */
kt *kt_new(uint64_t hbm_size, uint64_t seed);
void kt_free(kt *t);
/* cmocka teardown: kt_free(*state). */
int kt_teardown(void **state);

/* Replace the module (KT_MODULE, KT_SELFTEST). */
void load_module(kt *t, const char *path);
/* The module's kernel table (.vtpu.kernels) and a kernel's index in it. */
const uint8_t *kernel_table(const kt *t, uint32_t *count);
uint32_t kernel_index(const kt *t, const char *name);

/* HBM: bump allocation with KT_GUARD bytes after each array; reset_hbm()
 * starts again at KT_ARRAYS_OFF. */
uint64_t hbm_alloc(kt *t, uint64_t bytes);
void reset_hbm(kt *t);
void hbm_put(kt *t, uint64_t off, const void *p, size_t n);
void hbm_get(kt *t, uint64_t off, void *p, size_t n);
/* An output array: KT_SENTINEL over it and its guard band ... */
uint64_t out_alloc(kt *t, uint64_t bytes);
/* ... which must still be there after the launch (masked write-back). */
void check_guard(kt *t, uint64_t at, uint64_t bytes);

/* A uniform float in [0, 1) from t->rng. */
float rnd_unit(kt *t);

/* A descriptor for kernel index `kernel` over `grid` (all parallel unless
 * `sem` says otherwise), status records on, all of VMEM. */
void launch_init(vtpu_launch *L, uint32_t kernel, unsigned rank,
                 const uint32_t *grid, const uint8_t *sem);
/* Append an operand. */
void launch_operand(vtpu_launch *L, uint64_t hbm, unsigned dtype, unsigned rank,
                    const uint32_t *shape);
/* Scalar-prefetch values: inline if they fit, else at KT_SCALARS_OFF. */
void launch_scalars(kt *t, vtpu_launch *L, const int32_t *s, unsigned n);

/* Write L to KT_DESC_OFF and run it on `ntcs` TCs, output captured in
 * t->out; returns vtpu_chip_run()'s result, *res filled. */
int run_raw(kt *t, const vtpu_launch *L, unsigned ntcs, vtpu_run_result *res);
/* The same, failing the test on an engine fault (with the kernel's name
 * and the TCs' output); returns the runtime's exit code (VTPU_LERR_*).
 * With `st`, reads the ntcs status records back and checks them. */
int run_launch(kt *t, const vtpu_launch *L, unsigned ntcs,
               vtpu_launch_status *st);
/* run_launch() that must succeed. */
void run_ok(kt *t, const vtpu_launch *L, unsigned ntcs, vtpu_launch_status *st);

#endif
