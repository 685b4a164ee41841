/*
 * seed_simd.c - the seed workload's math, sin((x + y) * 2), vectorised
 * by the compiler with glibc's vector math library (libmvec: 8 floats a
 * call with AVX2): the host's compute limit for it, which bench_process
 * prints beside vtpu's time.  Its own file because it needs -ffast-math
 * (GCC calls libmvec's sinf only then), which nothing else may get.
 */
#include <math.h>
#include <stddef.h>

#include "seed_simd.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx2,fma"))) static void
seed_avx2(const float *restrict x, const float *restrict y, float *restrict o,
          size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        o[i] = sinf((x[i] + y[i]) * 2.0f);
}
#endif

static void seed_default(const float *restrict x, const float *restrict y,
                         float *restrict o, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        o[i] = sinf((x[i] + y[i]) * 2.0f);
}

const char *seed_simd(const float *x, const float *y, float *o, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        seed_avx2(x, y, o, n);
        return "avx2";
    }
#endif
    seed_default(x, y, o, n);
    return "default";
}
