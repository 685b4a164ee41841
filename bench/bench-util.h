/*
 * bench-util.h - the clock, the median and the random numbers the
 * benchmarks share (each bench_*.c is its own program; these are static
 * so each takes only what it uses).
 */
#ifndef VTPU_BENCH_UTIL_H
#define VTPU_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

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

#endif
