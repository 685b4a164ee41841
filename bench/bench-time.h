/*
 * bench-time.h - the clock and the median the benchmarks share (each
 * bench_*.c is its own program; these are static inline so each takes
 * only what it uses).
 */
#ifndef VTPU_BENCH_TIME_H
#define VTPU_BENCH_TIME_H

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

#endif
