/*
 * fuzz-blobs.h - files embedded into a fuzz target at build time
 * (tests/fuzz/embed.py): the RV32 programs it loads, so the binary runs
 * anywhere without paths.
 */
#ifndef VTPU_FUZZ_BLOBS_H
#define VTPU_FUZZ_BLOBS_H

#include <stddef.h>

typedef struct fuzz_blob {
    const char *name; /* file name without directory and extension */
    const unsigned char *data;
    size_t len;
} fuzz_blob;

extern const fuzz_blob fuzz_blobs[];
extern const unsigned fuzz_nblobs;

#endif
