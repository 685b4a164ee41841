/*
 * intmix.c - compute-bound integer workload for bench_interp: bitwise
 * CRC-32, a open-addressing hash table, a sieve and an insertion sort.
 * The same source is compiled for RV32 (run on the engine) and for the
 * host (BENCH_NATIVE, linked into bench_interp) so both run identical C.
 * On the engine the scale comes in a2 (vtpu_run_opts.args[0]).
 */
#include <stdint.h>

#define BUF_N 4096
#define HT_N 4096
#define SIEVE_N 60000
#define SORT_N 1200

static uint8_t buf[BUF_N];
static uint32_t ht_key[HT_N], ht_val[HT_N];
static uint8_t sieve[SIEVE_N];
static int32_t arr[SORT_N];

static uint32_t crc32_bits(const uint8_t *p, unsigned n, uint32_t crc)
{
    crc = ~crc;
    for (unsigned i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static uint32_t ht_mix(uint32_t seed)
{
    uint32_t x = seed, sum = 0;
    for (unsigned i = 0; i < HT_N; i++)
        ht_key[i] = 0;
    for (unsigned i = 0; i < HT_N * 3 / 4; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t k = x | 1, h = (k * 2654435761u) >> 20;
        while (ht_key[h] && ht_key[h] != k)
            h = (h + 1) & (HT_N - 1);
        ht_key[h] = k;
        ht_val[h] = i;
    }
    for (unsigned i = 0; i < HT_N; i++) {
        uint32_t k = (i * 7919u) | 1, h = (k * 2654435761u) >> 20;
        while (ht_key[h] && ht_key[h] != k)
            h = (h + 1) & (HT_N - 1);
        sum += ht_key[h] ? ht_val[h] : i;
    }
    return sum;
}

static uint32_t primes(void)
{
    uint32_t count = 0;
    for (unsigned i = 0; i < SIEVE_N; i++)
        sieve[i] = 1;
    for (unsigned i = 2; i < SIEVE_N; i++) {
        if (!sieve[i])
            continue;
        count += i;
        for (unsigned j = i * 2; j < SIEVE_N; j += i)
            sieve[j] = 0;
    }
    return count;
}

static uint32_t sort_mix(uint32_t seed)
{
    uint32_t x = seed;
    for (unsigned i = 0; i < SORT_N; i++) {
        x = x * 1103515245u + 12345u;
        arr[i] = (int32_t)(x >> 3);
    }
    for (int i = 1; i < SORT_N; i++) {
        int32_t v = arr[i];
        int j = i - 1;
        while (j >= 0 && arr[j] > v) {
            arr[j + 1] = arr[j];
            j--;
        }
        arr[j + 1] = v;
    }
    return (uint32_t)arr[0] ^ (uint32_t)arr[SORT_N / 2] ^
           (uint32_t)arr[SORT_N - 1];
}

uint32_t bench_intmix(unsigned scale);

uint32_t bench_intmix(unsigned scale)
{
    uint32_t acc = 0;
    for (unsigned r = 0; r < scale; r++) {
        for (unsigned i = 0; i < BUF_N; i++)
            buf[i] = (uint8_t)(i * 31 + r);
        acc ^= crc32_bits(buf, BUF_N, acc);
        acc += ht_mix(acc | 1);
        acc ^= primes();
        acc += sort_mix(acc);
    }
    return acc;
}

#ifndef BENCH_NATIVE
#include <stdio.h>

unsigned long vtpu_entry_arg(unsigned i); /* firmware/bare/syscalls.c */

int main(void)
{
    unsigned scale = (unsigned)vtpu_entry_arg(0);
    printf("%08lx\n", (unsigned long)bench_intmix(scale ? scale : 10));
    return 0;
}
#endif
