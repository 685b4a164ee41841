/*
 * prng.c - Philox4x32-10, the TensorCore's random number generator
 * (prng.h, docs/isa.md "Random numbers").
 *
 * Written from the paper's definition: ten rounds of two 32x32->64 bit
 * multiplies, the key bumped by the Weyl constants between rounds.
 * tests/test_prng.c checks it against the known-answer vector of the
 * Random123 distribution and against a second implementation.
 */
#include "prng.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

static inline void round4(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t c1 = c[1], c3 = c[3];
    c[0] = hi1 ^ c1 ^ k0;
    c[1] = lo1;
    c[2] = hi0 ^ c3 ^ k1;
    c[3] = lo0;
}

void vtpu_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                        uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        round4(c, k0, k1);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int i = 0; i < 4; i++)
        out[i] = c[i];
}

void vtpu_prng_seed(vtpu_prng *g, uint32_t seed, uint32_t stream)
{
    g->key[0] = seed;
    g->key[1] = stream;
    g->draw = 0;
}

void vtpu_prng_draw(vtpu_prng *g, uint32_t *out)
{
    /* Struct-of-arrays over the 256 blocks so the rounds vectorize. */
    uint32_t c0[256], c1[256], c2[256], c3[256];
    uint32_t dlo = (uint32_t)g->draw, dhi = (uint32_t)(g->draw >> 32);
    uint32_t k0 = g->key[0], k1 = g->key[1];

    for (uint32_t j = 0; j < 256; j++) {
        c0[j] = j;
        c1[j] = dlo;
        c2[j] = dhi;
        c3[j] = 0;
    }
    for (int r = 0; r < 10; r++) {
        for (uint32_t j = 0; j < 256; j++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2[j];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
            c1[j] = (uint32_t)p1;
            c3[j] = (uint32_t)p0;
            c0[j] = n0;
            c2[j] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (uint32_t j = 0; j < 256; j++) {
        out[4 * j] = c0[j];
        out[4 * j + 1] = c1[j];
        out[4 * j + 2] = c2[j];
        out[4 * j + 3] = c3[j];
    }
    g->draw++;
}
