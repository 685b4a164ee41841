/*
 * fuzz_npy.c - libFuzzer target: the .npy reader (tools/npy.c,
 * vtpu_npy_parse) on arbitrary bytes, the files vtpu-run is given.
 * docs/fuzzing.md.
 *
 * An accepted array must be what its header says: a known dtype, rank
 * 1..4, no zero dimension, `bytes` = elements * itemsize, all of it
 * inside the input after the header; a refused one leaves the struct
 * cleared with a one-line reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "vtpu-launch.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_npy: %s:%d: check failed: %s\n", __FILE__,   \
                    __LINE__, #c);                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vtpu_npy a;
    char err[256];

    /* An exact-size copy: no NUL or slack after the input for the parser
     * to lean on unseen. */
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    err[0] = 0;
    int rc = vtpu_npy_parse(&a, copy, size, err, sizeof(err));
    free(copy);
    if (rc) {
        CHECK(rc == -1 && err[0] && !strchr(err, '\n'));
        CHECK(!a.data && !a.bytes);
        return 0;
    }
    CHECK(a.dtype > 0 && a.dtype < VTPU_DT__COUNT);
    CHECK(vtpu_npy_descr(a.dtype) != NULL);
    CHECK(a.rank >= 1 && a.rank <= VTPU_NPY_MAX_RANK);
    uint64_t n = vtpu_dtype_size(a.dtype);
    for (uint32_t d = 0; d < a.rank; d++) {
        CHECK(a.shape[d] > 0);
        n *= a.shape[d];
    }
    CHECK(n == a.bytes && n < size && a.data);
    /* The data is what follows the header (magic, version, length). */
    size_t hoff = data[6] == 1 ? 10 : 12;
    size_t hlen = data[6] == 1
                      ? (size_t)(data[8] | data[9] << 8)
                      : (size_t)data[8] | (size_t)data[9] << 8 |
                            (size_t)data[10] << 16 | (size_t)data[11] << 24;
    CHECK(hoff + hlen + n <= size);
    CHECK(memcmp(a.data, data + hoff + hlen, n) == 0);
    char shape[96];
    vtpu_npy_format_shape(a.shape, a.rank, shape, sizeof(shape));
    CHECK(shape[0] == '(' && strchr(shape, ')'));
    vtpu_npy_free(&a);
    CHECK(!a.data && !a.bytes);
    return 0;
}
