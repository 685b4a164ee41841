/*
 * prng.h - the random number generator of a TensorCore (docs/isa.md,
 * "Random numbers"): Philox4x32-10 (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11), a counter-based generator, keyed
 * by the two words a kernel seeds it with.
 *
 * A draw (VRAND) fills one vreg: element 4j + q (j = 0..255, q = 0..3) is
 * word q of philox(key, {j, draw_lo, draw_hi, 0}), and the draw counter
 * then advances by one.  So the stream depends only on the seed words and
 * on how many draws were made since seeding, never on the TC or on other
 * TCs: kernels get independent streams per grid point by seeding with the
 * grid point (what Pallas kernels do with pltpu.prng_seed(seed, i)).
 */
#ifndef VTPU_PRNG_H
#define VTPU_PRNG_H

#include <stdint.h>

typedef struct vtpu_prng {
    uint32_t key[2]; /* the seed words */
    uint64_t draw;   /* draws since seeding */
} vtpu_prng;

/* One Philox4x32-10 block: out = philox(key, ctr). */
void vtpu_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                        uint32_t out[4]);

/* PRNG.SEED: key = (seed, stream), draw counter 0. */
void vtpu_prng_seed(vtpu_prng *g, uint32_t seed, uint32_t stream);

/* VRAND: out[0..1023] = the next draw. */
void vtpu_prng_draw(vtpu_prng *g, uint32_t *out);

#endif /* VTPU_PRNG_H */
