/*
 * fpmix.c - single-precision workload for bench_interp: a small matrix
 * product, Horner polynomials, Newton iterations for square roots and
 * reciprocals, and int/float conversions.  Only correctly rounded
 * operations (+ - * / sqrt), compiled with -ffp-contract=off on both
 * sides, so the engine and the host must produce identical bits.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MN 24
#define VN 512

static float ma[MN][MN], mb[MN][MN], mc[MN][MN];
static float v[VN];

static uint32_t bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static uint32_t matmul(uint32_t seed)
{
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            seed = seed * 1664525u + 1013904223u;
            ma[i][j] = (float)(int32_t)(seed >> 8) * (1.0f / 8388608.0f);
            mb[i][j] = (float)(seed >> 20) * 0.001f - 2.0f;
        }
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            float s = 0.0f;
            for (int k = 0; k < MN; k++)
                s += ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    uint32_t h = 0;
    for (int i = 0; i < MN; i++)
        h = h * 31 + bits(mc[i][(i * 7) % MN]);
    return h;
}

static uint32_t series(uint32_t seed)
{
    uint32_t h = 0;
    for (int i = 0; i < VN; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)(seed >> 9) * (1.0f / 4194304.0f) + 0.5f;
    }
    for (int i = 0; i < VN; i++) {
        float x = v[i];
        /* Horner: exp-like polynomial */
        float p = ((((x * (1.0f / 120) + (1.0f / 24)) * x + (1.0f / 6)) * x +
                    0.5f) * x + 1.0f) * x + 1.0f;
        /* Newton: 1/sqrt(x) and 1/x */
        float r = 1.0f / x, y = 1.0f;
        for (int k = 0; k < 6; k++) {
            y = y * (1.5f - 0.5f * x * y * y);
            r = r * (2.0f - x * r);
        }
        float s = sqrtf(x);
        int32_t q = (int32_t)(p * 1000.0f);
        h = (h * 33) ^ bits(p) ^ bits(y) ^ bits(r) ^ bits(s) ^ (uint32_t)q;
    }
    return h;
}

uint32_t bench_fpmix(unsigned scale);

uint32_t bench_fpmix(unsigned scale)
{
    uint32_t acc = 0;
    for (unsigned r = 0; r < scale; r++) {
        acc ^= matmul(acc + r);
        acc += series(acc);
    }
    return acc;
}

#ifndef BENCH_NATIVE
#include <stdio.h>

unsigned long vtpu_entry_arg(unsigned i); /* firmware/bare/syscalls.c */

int main(void)
{
    unsigned scale = (unsigned)vtpu_entry_arg(0);
    printf("%08lx\n", (unsigned long)bench_fpmix(scale ? scale : 10));
    return 0;
}
#endif
