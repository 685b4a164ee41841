/*
 * npy.h - reading and writing NumPy .npy files (format versions 1.0, 2.0
 * and 3.0), for the arrays vtpu-run moves between files and HBM.
 *
 * Supported: C-order (fortran_order False) arrays of rank 1..4 with one
 * of the little-endian element types below; each maps to a vtpu dtype
 * (vtpu-launch.h).  NumPy has no bfloat16, so bf16 arrays are stored as
 * their raw 16-bit patterns, '<u2'.
 *
 *   descr         vtpu dtype
 *   '<f4'         VTPU_F32
 *   '<i4'         VTPU_I32
 *   '<u4'         VTPU_U32
 *   '<u2'         VTPU_BF16 (raw bits)
 *   '<i2'         VTPU_I16
 *   '|i1' '|u1'   VTPU_I8, VTPU_U8 ('<' is accepted too)
 *
 * Everything else (big-endian data, Fortran order, other dtypes, object
 * or structured arrays, rank 0 or > 4, a file shorter than its header
 * says) is refused with a one-line reason.  Bytes after the data are
 * ignored, as np.load does.
 *
 * Host-only code (stdio, malloc); not thread-safe only in the sense that
 * one vtpu_npy must not be shared while being read or written.
 */
#ifndef VTPU_NPY_H
#define VTPU_NPY_H

#include <stddef.h>
#include <stdint.h>

#define VTPU_NPY_MAX_RANK 4

typedef struct vtpu_npy {
    uint32_t dtype; /* enum vtpu_dtype */
    uint32_t rank;  /* 1..VTPU_NPY_MAX_RANK */
    uint32_t shape[VTPU_NPY_MAX_RANK];
    void *data;   /* C-order elements, malloc'd; vtpu_npy_free() */
    size_t bytes; /* of data */
} vtpu_npy;

/*
 * Parse an .npy image held in memory: the array is copied into a new
 * buffer in `a`.  Returns 0, or -1 with the reason in `err` (without the
 * file name).
 */
int vtpu_npy_parse(vtpu_npy *a, const void *buf, size_t len, char *err,
                   size_t errlen);

/* Read `path` (vtpu_npy_parse on its contents).  -1 with "PATH: reason"
 * in `err` on failure. */
int vtpu_npy_read(vtpu_npy *a, const char *path, char *err, size_t errlen);

/*
 * Write `a` (dtype, rank, shape, data of `bytes` = elements * itemsize)
 * to `path` as a version 1.0 file whose header is padded to 64 bytes, as
 * NumPy writes it.  -1 with "PATH: reason" in `err` on failure; a file
 * that could not be written whole is removed, so no truncated .npy is
 * left behind looking like a result.
 */
int vtpu_npy_write(const vtpu_npy *a, const char *path, char *err,
                   size_t errlen);

/*
 * An .npy file opened for reading its data straight into memory the
 * caller chooses (HBM, for vtpu-run), with no copy in between:
 * vtpu_npy_open() reads and checks the header and that the file holds
 * all the data it announces (the same checks and messages as
 * vtpu_npy_read); vtpu_npy_load() then reads the data, and fails, never
 * fills with garbage, if the file was cut short since.  A file that is
 * not a regular file (a pipe) is read whole into memory at open.
 */
typedef struct vtpu_npy_file {
    vtpu_npy a;        /* dtype, rank, shape, bytes; data is NULL */
    const char *path;  /* for messages; the caller's string */
    int fd;            /* -1 once closed */
    uint64_t data_off; /* where the data starts in the file */
    unsigned char *buf; /* the whole file when it is not a regular one */
} vtpu_npy_file;

/* -1 with "PATH: reason" in `err` on failure (nothing left open). */
int vtpu_npy_open(vtpu_npy_file *f, const char *path, char *err,
                  size_t errlen);
/* Read the f->a.bytes bytes of data into `dst`.  -1 with "PATH: reason". */
int vtpu_npy_load(vtpu_npy_file *f, void *dst, char *err, size_t errlen);
void vtpu_npy_close(vtpu_npy_file *f);

/* Free a->data and clear `a`. */
void vtpu_npy_free(vtpu_npy *a);

/* The descr NumPy uses for a vtpu dtype ("<f4"...), NULL if none. */
const char *vtpu_npy_descr(uint32_t dtype);

/* The name of a vtpu dtype ("f32", "bf16", ...), "?" if invalid. */
const char *vtpu_npy_dtype_name(uint32_t dtype);

/* Format shape[rank] as "(4096, 128)" ("(4096,)" for rank 1). */
void vtpu_npy_format_shape(const uint32_t *shape, uint32_t rank, char *buf,
                           size_t len);

#endif /* VTPU_NPY_H */
