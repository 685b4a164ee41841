/* seed_simd.h - the seed workload's math, vectorised (seed_simd.c). */
#ifndef VTPU_BENCH_SEED_SIMD_H
#define VTPU_BENCH_SEED_SIMD_H

#include <stddef.h>

/* o[i] = sinf((x[i] + y[i]) * 2) for i < n, in the widest vectors the
 * host has; returns which ("avx2", "default"). */
const char *seed_simd(const float *x, const float *y, float *o, size_t n);

#endif
