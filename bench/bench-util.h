/*
 * bench-util.h - the clock, the median and the random numbers the
 * benchmarks share (each bench_*.c is its own program; these are static
 * so each takes only what it uses).
 */
#ifndef VTPU_BENCH_UTIL_H
#define VTPU_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vtpu-launch.h"

/* Seconds on the monotonic clock. */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* qsort() order of doubles. */
static inline int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of t[0..n) (n > 0); sorts t, so t[0] is the fastest after. */
static inline double median(double *t, unsigned n)
{
    qsort(t, n, sizeof(double), cmp_d);
    return t[n / 2];
}

/* Uniform floats in [lo, hi) from a fixed-seed xorshift64*: the same
 * inputs every run, the program's own sequence. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static inline float rnd(float lo, float hi)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    uint32_t r = (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 40);
    return lo + (hi - lo) * (float)r / 16777216.0f;
}

static inline uint32_t bench_rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Index of kernel `name` in the .vtpu.kernels table of the module `elf`
 * (a trusted file of the build); exits if it is not there. */
static inline uint32_t bench_kernel_index(const uint8_t *e, const char *name)
{
    uint32_t shoff = bench_rd32(e + 32);
    unsigned shentsize = e[46] | e[47] << 8, shnum = e[48] | e[49] << 8;
    unsigned shstrndx = e[50] | e[51] << 8;
    const uint8_t *strtab =
        e + bench_rd32(e + shoff + shstrndx * shentsize + 16);
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = e + shoff + i * shentsize;
        if (strcmp((const char *)strtab + bench_rd32(sh), ".vtpu.kernels"))
            continue;
        uint32_t n = bench_rd32(sh + 20) / sizeof(vtpu_kernel_entry);
        for (uint32_t k = 0; k < n; k++) {
            vtpu_kernel_entry ke;
            memcpy(&ke, e + bench_rd32(sh + 16) + k * sizeof(ke), sizeof(ke));
            if (!strncmp(ke.name, name, sizeof(ke.name)))
                return k;
        }
    }
    fprintf(stderr, "bench: no kernel %s in the module\n", name);
    exit(1);
}

#endif
