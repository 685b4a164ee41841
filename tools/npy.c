/*
 * npy.c - NumPy .npy files (npy.h).  The header is a Python dict literal;
 * this parses exactly the subset NumPy writes ('descr' a string,
 * 'fortran_order' a bool, 'shape' a tuple of ints) and refuses the rest.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtpu-launch.h"

static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Every descr we accept, with the vtpu dtype it becomes.  The first
 * entry for a dtype is what vtpu_npy_write() uses. */
static const struct {
    const char *descr;
    uint32_t dtype;
} descrs[] = {
    {"<f4", VTPU_F32},  {"<i4", VTPU_I32}, {"<u4", VTPU_U32},
    {"<u2", VTPU_BF16}, {"<i2", VTPU_I16}, {"|i1", VTPU_I8},
    {"|u1", VTPU_U8},   {"<i1", VTPU_I8},  {"<u1", VTPU_U8},
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

const char *vtpu_npy_descr(uint32_t dtype)
{
    for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
        if (descrs[i].dtype == dtype)
            return descrs[i].descr;
    return NULL;
}

const char *vtpu_npy_dtype_name(uint32_t dtype)
{
    static const char *const names[VTPU_DT__COUNT] = {
        "any", "f32", "i32", "u32", "bf16", "i16", "i8", "u8"};
    return dtype < VTPU_DT__COUNT ? names[dtype] : "?";
}

void vtpu_npy_format_shape(const uint32_t *shape, uint32_t rank, char *buf,
                           size_t len)
{
    size_t n = 0;
    if (!len)
        return;
    buf[0] = 0;
    for (uint32_t d = 0; d <= rank && n < len; d++) {
        int w;
        if (d == rank)
            w = snprintf(buf + n, len - n, rank == 1 ? ",)" : ")");
        else
            w = snprintf(buf + n, len - n, "%s%u", d ? ", " : "(", shape[d]);
        if (w < 0)
            return;
        n += (size_t)w;
    }
}

/* ------------------------------------------------------------------ */
/* Header parsing                                                       */
/* ------------------------------------------------------------------ */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A '...' or "..." literal without escapes, into out[outlen]; *len is
 * its length (a NUL inside it makes strlen(out) shorter). */
static bool parse_str(cursor *c, char *out, size_t outlen, size_t *len)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= outlen)
            return false;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    out[n] = 0;
    *len = n;
    return true;
}

/*
 * Keys and descr are printable ASCII in every file NumPy writes.  Refuse
 * anything else: a NUL would cut the string short for strcmp ('<f4\0x'
 * taken for '<f4'), and a control character echoed in a message would
 * break its one line.
 */
static int check_text(const char *what, const char *s, size_t n, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!ch)
            return fail(err, errlen,
                        "malformed header: %s contains a NUL byte (at "
                        "character %zu)",
                        what, i);
        if (ch < 0x20 || ch > 0x7e)
            return fail(err, errlen,
                        "malformed header: %s contains the non-printable "
                        "byte 0x%02x (at character %zu)",
                        what, ch, i);
    }
    return 0;
}

static bool parse_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
        return false;
    c->p += n;
    return true;
}

/* A tuple of non-negative ints: "()", "(5,)", "(2, 3)"; at most 32. */
static bool parse_shape(cursor *c, uint64_t *dims, uint32_t *rank)
{
    *rank = 0;
    if (!eat(c, '('))
        return false;
    for (;;) {
        if (eat(c, ')'))
            return true;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9' || *rank == 32)
            return false;
        uint64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (uint64_t)(*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') /* Python 2 longs */
            c->p++;
        dims[(*rank)++] = v;
        if (!eat(c, ',')) {
            if (!eat(c, ')'))
                return false;
            return true;
        }
    }
}

static int parse_header(vtpu_npy *a, const char *hdr, size_t len, char *err,
                        size_t errlen)
{
    cursor c = {hdr, hdr + len};
    char descr[64] = "", key[32];
    int fortran = -1;
    bool have_shape = false;
    uint64_t dims[32];
    uint32_t rank = 0;
    size_t n;

    if (!eat(&c, '{'))
        return fail(err, errlen, "malformed header: not a dict");
    while (!eat(&c, '}')) {
        if (!parse_str(&c, key, sizeof(key), &n) || !eat(&c, ':'))
            return fail(err, errlen, "malformed header: expected a key");
        if (check_text("a key", key, n, err, errlen))
            return -1;
        if (!strcmp(key, "descr")) {
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return fail(err, errlen, "structured arrays are not supported");
            if (!parse_str(&c, descr, sizeof(descr), &n))
                return fail(err, errlen, "malformed header: bad 'descr'");
            if (check_text("'descr'", descr, n, err, errlen))
                return -1;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_word(&c, "True"))
                fortran = 1;
            else if (parse_word(&c, "False"))
                fortran = 0;
            else
                return fail(err, errlen,
                            "malformed header: bad 'fortran_order'");
        } else if (!strcmp(key, "shape")) {
            if (!parse_shape(&c, dims, &rank))
                return fail(err, errlen, "malformed header: bad 'shape'");
            have_shape = true;
        } else {
            return fail(err, errlen, "malformed header: unknown key '%s'", key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                return fail(err, errlen, "malformed header: expected ','");
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return fail(err, errlen, "malformed header: text after the dict");
    if (!descr[0] || fortran < 0 || !have_shape)
        return fail(err, errlen, "malformed header: missing %s",
                    !descr[0]     ? "'descr'"
                    : fortran < 0 ? "'fortran_order'"
                                  : "'shape'");

    a->dtype = 0;
    for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
        if (!strcmp(descr, descrs[i].descr))
            a->dtype = descrs[i].dtype;
    if (!a->dtype) {
        if (descr[0] == '>')
            return fail(
                err, errlen,
                "big-endian data ('%s') is not supported: save it "
                "little-endian (arr.astype(arr.dtype.newbyteorder('<')))",
                descr);
        return fail(err, errlen,
                    "unsupported dtype '%s' (supported: <f4 f32, <i4 i32, "
                    "<u4 u32, <u2 bf16 bits, <i2 i16, |i1 i8, |u1 u8)",
                    descr);
    }
    if (fortran)
        return fail(err, errlen,
                    "Fortran-order arrays are not supported: save a C-order "
                    "copy (np.ascontiguousarray)");
    if (rank == 0 || rank > VTPU_NPY_MAX_RANK)
        return fail(err, errlen,
                    "rank %u arrays are not supported (vtpu operands have "
                    "1 to %d dimensions)",
                    rank, VTPU_NPY_MAX_RANK);
    a->rank = rank;
    for (uint32_t d = 0; d < rank; d++) {
        if (dims[d] == 0 || dims[d] > UINT32_MAX)
            return fail(err, errlen,
                        "dimension %u is %llu (vtpu arrays need 1..2^32-1)", d,
                        (unsigned long long)dims[d]);
        a->shape[d] = (uint32_t)dims[d];
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

/*
 * The magic, version and header of an .npy image of `total` bytes whose
 * first `have` are in `b`: sets a's dtype, rank, shape and bytes and
 * *doff, the data's offset, after checking that the image holds all the
 * data.  Returns 0, -1 with the reason in `err`, or 1 (nothing in `err`)
 * when the header goes past `have` but not past `total`: *doff is then
 * how many bytes it needs.
 */
static int parse_head(vtpu_npy *a, const unsigned char *b, size_t have,
                      uint64_t total, uint64_t *doff, char *err,
                      size_t errlen)
{
    memset(a, 0, sizeof(*a));
    if (have < 10 || memcmp(b, magic, sizeof(magic)))
        return fail(err, errlen, "not a NumPy .npy file (bad magic)");
    unsigned major = b[6], minor = b[7];
    uint64_t hlen, hoff;
    if (major == 1) {
        hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (have < 12)
            return fail(err, errlen, "truncated header");
        hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 |
               (uint64_t)b[11] << 24;
        hoff = 12;
    } else {
        return fail(err, errlen, "unsupported .npy format version %u.%u", major,
                    minor);
    }
    if (hlen > total - hoff)
        return fail(err, errlen,
                    "truncated header (%llu bytes announced, %llu present)",
                    (unsigned long long)hlen,
                    (unsigned long long)(total - hoff));
    if (hlen > have - hoff) {
        *doff = hoff + hlen;
        return 1;
    }
    if (parse_header(a, (const char *)b + hoff, (size_t)hlen, err, errlen))
        return -1;

    uint64_t n = vtpu_dtype_size(a->dtype);
    for (uint32_t d = 0; d < a->rank; d++) {
        if (n > UINT64_MAX / a->shape[d])
            return fail(err, errlen, "array too large");
        n *= a->shape[d];
    }
    *doff = hoff + hlen;
    if (n > total - *doff)
        return fail(err, errlen,
                    "truncated data: the header says %llu bytes, the file "
                    "has %llu",
                    (unsigned long long)n, (unsigned long long)(total - *doff));
    if (n > SIZE_MAX)
        return fail(err, errlen, "array too large");
    a->bytes = (size_t)n;
    return 0;
}

int vtpu_npy_parse(vtpu_npy *a, const void *buf, size_t len, char *err,
                   size_t errlen)
{
    const unsigned char *b = buf;
    uint64_t doff;
    if (parse_head(a, b, len, len, &doff, err, errlen))
        return -1; /* 1 cannot happen: have == total */
    size_t n = a->bytes;
    a->data = malloc(n ? n : 1);
    if (!a->data)
        return fail(err, errlen, "out of memory (%zu bytes)", n);
    memcpy(a->data, b + doff, n);
    return 0;
}

/* The whole of an open stream, malloc'd. */
static int slurp(FILE *f, unsigned char **out, size_t *outlen)
{
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        errno = EIO;
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int vtpu_npy_read(vtpu_npy *a, const char *path, char *err, size_t errlen)
{
    char why[256];
    memset(a, 0, sizeof(*a));
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    unsigned char *buf;
    size_t len;
    int bad = slurp(f, &buf, &len);
    fclose(f);
    if (bad)
        return fail(err, errlen, "%s: %s", path,
                    errno == ENOMEM ? "out of memory" : "read error");
    int rc = vtpu_npy_parse(a, buf, len, why, sizeof(why));
    free(buf);
    if (rc)
        return fail(err, errlen, "%s: %s", path, why);
    return 0;
}

/* pread() all of [off, off+len) into dst; -1 with errno, or 0 with *got
 * short at end of file. */
static int pread_all(int fd, void *dst, size_t len, uint64_t off, size_t *got)
{
    size_t n = 0;
    while (n < len) {
        ssize_t r = pread(fd, (char *)dst + n, len - n, (off_t)(off + n));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

int vtpu_npy_open(vtpu_npy_file *f, const char *path, char *err,
                  size_t errlen)
{
    char why[256];
    unsigned char head[4096], *big = NULL;
    struct stat st;
    size_t got;
    uint64_t doff;
    int rc;

    memset(f, 0, sizeof(*f));
    f->path = path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    if (fstat(f->fd, &st) || !S_ISREG(st.st_mode)) {
        /* A pipe or device: no size to check against, no pread. */
        FILE *s = fdopen(f->fd, "rb");
        size_t len;
        if (!s || slurp(s, &f->buf, &len)) {
            int e = errno;
            if (s)
                fclose(s);
            else
                close(f->fd);
            f->fd = -1;
            return fail(err, errlen, "%s: %s", path,
                        e == ENOMEM ? "out of memory" : "read error");
        }
        fclose(s);
        f->fd = -1;
        rc = parse_head(&f->a, f->buf, len, len, &f->data_off, why,
                        sizeof(why));
    } else {
        uint64_t total = (uint64_t)st.st_size;
        if (pread_all(f->fd, head, sizeof(head), 0, &got))
            goto read_error;
        rc = parse_head(&f->a, head, got, total, &doff, why, sizeof(why));
        if (rc == 1) { /* a header longer than 4 KiB */
            big = malloc((size_t)doff);
            if (!big) {
                vtpu_npy_close(f);
                return fail(err, errlen, "%s: out of memory", path);
            }
            if (pread_all(f->fd, big, (size_t)doff, 0, &got)) {
                free(big);
                goto read_error;
            }
            rc = parse_head(&f->a, big, got, got < doff ? got : total, &doff,
                            why, sizeof(why));
            free(big);
        }
        f->data_off = doff;
    }
    if (rc) {
        vtpu_npy_close(f);
        return fail(err, errlen, "%s: %s", path, why);
    }
    return 0;

read_error:
    rc = errno;
    vtpu_npy_close(f);
    return fail(err, errlen, "%s: read error: %s", path, strerror(rc));
}

int vtpu_npy_load(vtpu_npy_file *f, void *dst, char *err, size_t errlen)
{
    size_t got;
    if (f->buf) {
        memcpy(dst, f->buf + f->data_off, f->a.bytes);
        return 0;
    }
    if (f->fd < 0)
        return fail(err, errlen, "%s: not open", f->path);
    if (pread_all(f->fd, dst, f->a.bytes, f->data_off, &got))
        return fail(err, errlen, "%s: read error: %s", f->path,
                    strerror(errno));
    if (got < f->a.bytes) /* cut short since vtpu_npy_open() */
        return fail(err, errlen,
                    "%s: truncated data: the header says %zu bytes, the file "
                    "has %zu",
                    f->path, f->a.bytes, got);
    return 0;
}

void vtpu_npy_close(vtpu_npy_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
}

/* write() all of buf; 0 or an errno. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int vtpu_npy_write(const vtpu_npy *a, const char *path, char *err,
                   size_t errlen)
{
    const char *descr = vtpu_npy_descr(a->dtype);
    if (!descr || a->rank < 1 || a->rank > VTPU_NPY_MAX_RANK)
        return fail(err, errlen, "%s: cannot store this array", path);

    char shape[96], hdr[256];
    vtpu_npy_format_shape(a->shape, a->rank, shape, sizeof(shape));
    int n = snprintf(hdr, sizeof(hdr),
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    if (n < 0 || (size_t)n + 10 + 64 > sizeof(hdr))
        return fail(err, errlen, "%s: header too long", path);
    /* Pad with spaces so that magic + length + header + '\n' is a
     * multiple of 64, as NumPy does. */
    size_t total = ((size_t)n + 10 + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    memset(hdr + n, ' ', hlen - 1 - (size_t)n);
    hdr[hlen - 1] = '\n';

    unsigned char pre[10];
    memcpy(pre, magic, sizeof(magic));
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    /* The header and the data in one pass, no stdio buffer: the data
     * goes from where it is (HBM, for vtpu-run) to the file. */
    unsigned char head[10 + sizeof(hdr)];
    memcpy(head, pre, sizeof(pre));
    memcpy(head + sizeof(pre), hdr, hlen);
    /* No O_TRUNC: a file rewritten with the same size (the same launch
     * run again) keeps its page-cache pages instead of freeing and
     * allocating them all again; the size is set at the end. */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    bool regular = !fstat(fd, &st) && S_ISREG(st.st_mode);
    int e = write_all(fd, head, sizeof(pre) + hlen);
    if (!e)
        e = write_all(fd, a->data, a->bytes);
    if (!e && regular &&
        ftruncate(fd, (off_t)(sizeof(pre) + hlen + a->bytes)))
        e = errno;
    if (close(fd) && !e)
        e = errno;
    if (e) {
        /* Not a truncated array that np.load would refuse later, or a
         * shorter one from before: no file at all (only a file: never
         * unlink /dev/full). */
        if (regular)
            unlink(path);
        return fail(err, errlen, "%s: write error: %s", path, strerror(e));
    }
    return 0;
}

void vtpu_npy_free(vtpu_npy *a)
{
    free(a->data);
    memset(a, 0, sizeof(*a));
}
