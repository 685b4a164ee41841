/*
 * fuzz_npy.c - libFuzzer target: the .npy reader (tools/npy.c,
 * vtpu_npy_parse) on arbitrary bytes, the files vtpu-run is given.
 * docs/fuzzing.md.
 *
 * An accepted array must be what its header says: a known dtype, rank
 * 1..4, no zero dimension, `bytes` = elements * itemsize, all of it
 * inside the input after the header; a refused one leaves the struct
 * cleared with a one-line reason.  The file reader vtpu-run uses
 * (vtpu_npy_open + vtpu_npy_load: the header by pread, the data straight
 * into the caller's memory) must agree with it on the same bytes as a
 * file (a memfd): the same verdict, reason, array and data.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* The same bytes through vtpu_npy_open/load: as `a` (rc, err) says. */
static void check_file_reader(const uint8_t *data, size_t size, int rc,
                              const vtpu_npy *a, const char *err)
{
    char path[64], ferr[512];
    vtpu_npy_file f;
    int fd = memfd_create("fuzz_npy", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int frc = vtpu_npy_open(&f, path, ferr, sizeof(ferr));
    size_t plen = strlen(path);
    if (rc) {
        /* "PATH: " and the parser's reason */
        CHECK(frc == -1 && !strncmp(ferr, path, plen) &&
              !strcmp(ferr + plen + 2, err));
    } else {
        CHECK(frc == 0 && f.a.dtype == a->dtype && f.a.rank == a->rank &&
              !memcmp(f.a.shape, a->shape, sizeof(a->shape)) &&
              f.a.bytes == a->bytes && !f.a.data);
        uint8_t *buf = malloc(a->bytes ? a->bytes : 1);
        CHECK(buf);
        CHECK(vtpu_npy_load(&f, buf, ferr, sizeof(ferr)) == 0);
        CHECK(memcmp(buf, a->data, a->bytes) == 0);
        free(buf);
        vtpu_npy_close(&f);
    }
    close(fd);
}

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
    check_file_reader(data, size, rc, &a, err);
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
