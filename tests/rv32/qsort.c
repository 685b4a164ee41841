/*
 * qsort.c - sorting as a workload: a hand-written quicksort, an insertion
 * sort and picolibc's qsort() on pseudo-random integers, floats and
 * strings, each checked for order and fingerprinted; printed so vtpu and
 * qemu-riscv32 must agree (tests/bare_test.py).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 20000

static uint32_t rng_state = 0xc0ffee;

static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

static int32_t ia[N], ib[N];
static float fa[N];
static char words[2000][12];
static char *wp[2000];

static void my_qsort(int32_t *a, int lo, int hi)
{
    while (lo < hi) {
        int32_t pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        /* Recurse into the smaller half: bounded stack. */
        if (j - lo < hi - i) {
            my_qsort(a, lo, j);
            lo = i;
        } else {
            my_qsort(a, i, hi);
            hi = j;
        }
    }
}

static void insertion_sort(int32_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        int32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint32_t fp_i32(const int32_t *a, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint32_t)a[i]) * 16777619u;
    return h;
}

int main(void)
{
    int bad = 0;

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            uint32_t r = rng();
            ia[i] = round == 1 ? (int32_t)(r % 100) : (int32_t)r;
        }
        memcpy(ib, ia, sizeof(ia));
        my_qsort(ia, 0, N - 1);
        qsort(ib, N, sizeof(ib[0]), cmp_i32);
        for (int i = 1; i < N; i++)
            bad += ia[i - 1] > ia[i];
        bad += memcmp(ia, ib, sizeof(ia)) != 0;
        printf("round %d: min %ld median %ld max %ld fingerprint %08lx\n",
               round, (long)ia[0], (long)ia[N / 2], (long)ia[N - 1],
               (unsigned long)fp_i32(ia, N));
    }

    for (int i = 0; i < 3000; i++)
        ib[i] = (int32_t)(rng() >> 8) - (1 << 23);
    insertion_sort(ib, 3000);
    for (int i = 1; i < 3000; i++)
        bad += ib[i - 1] > ib[i];
    printf("insertion: %ld .. %ld fingerprint %08lx\n", (long)ib[0],
           (long)ib[2999], (unsigned long)fp_i32(ib, 3000));

    for (int i = 0; i < N; i++)
        fa[i] = (float)(int32_t)rng() / (float)((rng() & 0xffff) + 1);
    qsort(fa, N, sizeof(fa[0]), cmp_f);
    for (int i = 1; i < N; i++)
        bad += fa[i - 1] > fa[i];
    printf("floats: %.6e %.6e %.6e\n", (double)fa[0], (double)fa[N / 2],
           (double)fa[N - 1]);

    for (int i = 0; i < 2000; i++) {
        int len = 3 + (int)(rng() % 8);
        for (int k = 0; k < len; k++)
            words[i][k] = (char)('a' + rng() % 26);
        words[i][len] = 0;
        wp[i] = words[i];
    }
    qsort(wp, 2000, sizeof(wp[0]), cmp_str);
    for (int i = 1; i < 2000; i++)
        bad += strcmp(wp[i - 1], wp[i]) > 0;
    printf("strings: %s %s %s\n", wp[0], wp[1000], wp[1999]);
    printf("%s (%d out of order)\n", bad ? "FAIL" : "sorted", bad);
    return bad ? 1 : 0;
}
