/*
 * run-kernel.c - vtpu-run's kernel mode: one launch of a kernel from a
 * kernel module through the runtime (driver/vtpu_rt.h), operands from and
 * to .npy files.  The device is the caller's (run_kernel_dev): the
 * in-process host platform and ring driver on the host (vtpu-run.c), the
 * Linux backend in Linux user space (vtpu-run-linux.c).  Plain C and
 * libc, no GLib, so it builds for both.  docs/vtpu-run.md describes the
 * command line and how files map to the kernel's operands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "module-image.h"
#include "npy.h"
#include "run-kernel.h"
#include "vtpu_rt.h"

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die(EXIT_FAULT, "out of memory (%zu bytes)", n);
    return p;
}

/* A growing string (the GString of the GLib version). */
typedef struct str {
    char *s;
    size_t len, cap;
} str;

static void str_printf(str *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void str_printf(str *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p)
            die(EXIT_FAULT, "out of memory");
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static const char *str_get(str *b)
{
    return b->s ? b->s : "";
}

/* Split "a,b,c" at the commas into malloc'd pieces with surrounding
 * white space removed, NULL-terminated; "" gives no piece (as g_strsplit
 * and g_strstrip). */
static char **split_list(const char *s, unsigned *count)
{
    unsigned n = *s ? 1 : 0;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **v = xmalloc((n + 1) * sizeof(*v));
    const char *p = s;
    for (unsigned i = 0; i < n; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' ||
                       (p[len - 1] >= '\t' && p[len - 1] <= '\r')))
            len--;
        v[i] = xmalloc(len + 1);
        memcpy(v[i], p, len);
        v[i][len] = 0;
        p = e ? e + 1 : p + len;
    }
    v[n] = NULL;
    if (count)
        *count = n;
    return v;
}

static void free_list(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static unsigned list_len(char **v)
{
    unsigned n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* The whole file, as g_file_get_contents (and its messages): a regular
 * file is mapped (*mapped set; munmap it), which costs a page fault per
 * 16 pages read instead of one per page of a buffer read into. */
int rk_read_file(const char *path, char **data, size_t *len, bool *mapped,
                 char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        snprintf(err, errlen, "Failed to open file \u201c%s\u201d: %s", path,
                 strerror(errno));
        return -1;
    }
    *mapped = false;
    if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
                       fileno(f), 0);
        if (p != MAP_FAILED) {
            fclose(f);
            *data = p;
            *len = (size_t)st.st_size;
            *mapped = true;
            return 0;
        }
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                snprintf(err, errlen,
                         "Failed to read from file \u201c%s\u201d: %s", path,
                         strerror(errno ? errno : EIO));
                fclose(f);
                free(buf);
                return -1;
            }
            break;
        }
        cap *= 2;
        char *p = realloc(buf, cap + 1);
        if (!p)
            die(EXIT_FAULT, "out of memory reading %s", path);
        buf = p;
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Parse "a,b,c" into at most `max` unsigned values >= `min`. */
static unsigned parse_list(const char *opt, const char *s, unsigned max,
                           uint32_t min, uint32_t *out)
{
    char **parts = split_list(s, NULL);
    unsigned n = 0;
    for (char **p = parts; *p; p++) {
        uint32_t v;
        char *t = *p;
        if (n == max)
            die(EXIT_USAGE, "%s %s: at most %u values", opt, s, max);
        if (parse_u32(t, &v) || t[0] == '-' || v < min)
            die(EXIT_USAGE, "%s %s: '%s' is not an integer >= %u", opt, s, t,
                min);
        out[n++] = v;
    }
    free_list(parts);
    if (!n)
        die(EXIT_USAGE, "%s: empty list", opt);
    return n;
}

/* --grid: extents, or "sI" for an extent taken from scalar-prefetch value
 * I at launch (VTPU_GRID_SCALAR). */
static unsigned parse_grid(const char *s, uint32_t *out)
{
    char **parts = split_list(s, NULL);
    unsigned n = 0;
    for (char **p = parts; *p; p++) {
        uint32_t v;
        char *t = *p;
        int dyn = t[0] == 's';
        if (n == VTPU_MAX_GRID_DIMS)
            die(EXIT_USAGE, "--grid %s: at most %u values", s,
                VTPU_MAX_GRID_DIMS);
        if (parse_u32(t + dyn, &v) || t[dyn] == '-' || (!dyn && v < 1) ||
            v >= VTPU_GRID_SCALAR_BIT)
            die(EXIT_USAGE,
                "--grid %s: '%s' is neither an extent >= 1 nor sI (scalar "
                "I gives the extent)",
                s, t);
        out[n++] = dyn ? VTPU_GRID_SCALAR(v) : v;
    }
    free_list(parts);
    if (!n)
        die(EXIT_USAGE, "--grid: empty list");
    return n;
}

/* --grid-order, --check-revisit: the TC runtime's checks. */
static uint32_t check_flags(const run_kernel_args *a)
{
    uint32_t f = a->check_revisit ? VTPU_LAUNCH_F_REVISIT : 0;
    uint32_t seed = 1;
    const char *g = a->grid_order;

    if (!g || !strcmp(g, "lexicographic"))
        return f;
    if (strncmp(g, "shuffle", 7) || (g[7] && g[7] != ':') ||
        (g[7] == ':' && (parse_u32(g + 8, &seed) || seed > 0xffff)))
        die(EXIT_USAGE,
            "--grid-order %s: expected lexicographic, shuffle or "
            "shuffle:SEED (SEED 0..65535)",
            g);
    return f | VTPU_LAUNCH_F_SHUFFLE | seed << VTPU_LAUNCH_SEED_SHIFT;
}

void rk_parse_launch_opts(const run_kernel_args *a, vtpu_rt_launch *l,
                          int32_t **scalars)
{
    l->check_flags = check_flags(a);
    if (a->grid)
        l->grid_rank = parse_grid(a->grid, l->grid);
    for (unsigned d = 0; d < l->grid_rank; d++)
        l->semantics[d] = VTPU_ARBITRARY;
    if (a->dims) {
        unsigned n;
        char **parts = split_list(a->dims, &n);
        if (n != l->grid_rank)
            die(EXIT_USAGE, "--dims %s: %u values for a grid of rank %u",
                a->dims, n, l->grid_rank);
        for (unsigned d = 0; d < n; d++) {
            const char *t = parts[d];
            if (!strcmp(t, "parallel") || !strcmp(t, "p"))
                l->semantics[d] = VTPU_PARALLEL;
            else if (!strcmp(t, "arbitrary") || !strcmp(t, "a"))
                l->semantics[d] = VTPU_ARBITRARY;
            else
                die(EXIT_USAGE,
                    "--dims: '%s' is neither 'parallel' nor 'arbitrary'", t);
        }
        free_list(parts);
    }

    int32_t *vals = NULL;
    unsigned nvals = 0, cap = 0;
    for (char **arg = a->scalars; arg && *arg; arg++) {
        char **parts = split_list(*arg, NULL);
        for (char **p = parts; *p; p++) {
            uint32_t v;
            char *t = *p;
            if (parse_u32(t, &v))
                die(EXIT_USAGE, "--scalar %s: '%s' is not a 32-bit integer",
                    *arg, t);
            if (nvals == cap) {
                cap = cap ? 2 * cap : 16;
                vals = realloc(vals, cap * sizeof(*vals));
                if (!vals)
                    die(EXIT_FAULT, "out of memory");
            }
            vals[nvals++] = (int32_t)v;
        }
        free_list(parts);
    }
    if (a->scalar_file) {
        /* After the --scalar values: a 1-D int32/uint32 array, as many
         * values as SMEM holds (the command line runs out first). */
        vtpu_npy f;
        char err[512], shape[96];
        const char *fn = a->scalar_file;
        if (vtpu_npy_read(&f, fn, err, sizeof(err)))
            die(EXIT_FILE,
                "--scalar-file: %s (it takes a 1-D int32 or uint32 array: "
                "np.save(f, idx.astype(np.int32)))",
                err);
        vtpu_npy_format_shape(f.shape, f.rank, shape, sizeof(shape));
        if (f.dtype != VTPU_I32 && f.dtype != VTPU_U32)
            die(EXIT_USAGE,
                "--scalar-file %s: holds %s ('%s'); scalar-prefetch values "
                "are int32: save idx.astype(np.int32)",
                fn, vtpu_npy_dtype_name(f.dtype), vtpu_npy_descr(f.dtype));
        if (f.rank != 1)
            die(EXIT_USAGE,
                "--scalar-file %s: the array %s has rank %u; scalar "
                "prefetch is one flat array: save idx.ravel()",
                fn, shape, f.rank);
        size_t n = f.bytes / 4;
        if (n > (1u << 24) - (size_t)nvals)
            die(EXIT_USAGE,
                "--scalar-file %s: %zu values (with --scalar: %zu); a "
                "launch takes at most 2^24",
                fn, n, n + nvals);
        int32_t *all = realloc(vals, (nvals + n) * sizeof(*vals) + 1);
        if (!all)
            die(EXIT_FAULT, "out of memory (%zu scalar values)", nvals + n);
        vals = all;
        memcpy(vals + nvals, f.data, n * 4);
        nvals += (unsigned)n;
        vtpu_npy_free(&f);
    }
    l->num_scalars = nvals;
    *scalars = vals;
    l->scalars = *scalars;
}

const char *rk_role_name(uint8_t role)
{
    return role == VTPU_ROLE_IN    ? "in"
           : role == VTPU_ROLE_OUT ? "out"
                                   : "in/out";
}

/* "out f32 blocks (8, 128)" / "in f32 rank 2 in HBM". */
static void describe_operand(str *s, const vtpu_operand_spec *o)
{
    char blk[96];
    uint32_t b[4]; /* element-indexed dimensions show their extent */
    for (unsigned d = 0; d < 4; d++)
        b[d] = o->block[d] & ~VTPU_BLOCK_ELEMENT;
    vtpu_npy_format_shape(b, o->rank, blk, sizeof(blk));
    str_printf(s, "%s %s", rk_role_name(o->role),
               vtpu_npy_dtype_name(o->dtype));
    if (o->space == VTPU_MS_ANY)
        str_printf(s, " rank %u in HBM", o->rank);
    else
        str_printf(s, " blocks %s", blk);
}

/* "0: in f32 blocks (8, 128); 1: ..." for usage messages. */
static void describe_operands(str *s, const vtpu_kernel_entry *e, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        str_printf(s, "%s%u: ", i ? "; " : "", i);
        describe_operand(s, &e->operands[i]);
    }
}

/* Fill `err` (status and line); returns -1. */
static int rk_fail(rk_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rk_fail(rk_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* "1st", "2nd", ... */
static const char *ordinal(unsigned n, char *buf, size_t len)
{
    const char *suf = "th";
    if (n % 100 < 11 || n % 100 > 13)
        suf = n % 10 == 1   ? "st"
              : n % 10 == 2 ? "nd"
              : n % 10 == 3 ? "rd"
                            : "th";
    snprintf(buf, len, "%u%s", n, suf);
    return buf;
}

int rk_output_shape(const vtpu_kernel_entry *e, kernel_io *io, unsigned i,
                    unsigned nth, const vtpu_npy *given, rk_error *err)
{
    const vtpu_operand_spec *o = &e->operands[i];
    vtpu_npy *a = &io->arr[i];
    const vtpu_npy *like = NULL, *dlike = NULL;
    const char *opt = io->shape_opt ? io->shape_opt : "--out-shape";
    char nb[16];

    /* Declarations name operands with data (inputs); an output declared
     * like another output is sized by that one's declaration. */
    for (unsigned s = o->shape_like, hops = 0;
         s && s <= io->nops && hops < VTPU_MAX_OPERANDS; hops++) {
        if (io->in_file[s - 1]) {
            like = &io->arr[s - 1];
            break;
        }
        s = e->operands[s - 1].shape_like;
    }
    if (o->dtype_like && o->dtype_like <= io->nops &&
        io->in_file[o->dtype_like - 1])
        dlike = &io->arr[o->dtype_like - 1];
    a->dtype = o->dtype ? o->dtype : dlike ? dlike->dtype : 0;
    if (given && given->dtype)
        a->dtype = given->dtype;
    if (given && given->rank) {
        a->rank = given->rank;
        memcpy(a->shape, given->shape, sizeof(a->shape));
    } else if (like) {
        a->rank = like->rank;
        memcpy(a->shape, like->shape, sizeof(a->shape));
    } else {
        str d = {0};
        describe_operand(&d, o);
        rk_fail(err, EXIT_USAGE,
                "%s: kernel '%s' does not declare the shape of output operand "
                "%u (%s); give it with %s: the %s %s is this output's (%u "
                "dimension%s)",
                io->out_file[i], e->name, i, str_get(&d), opt,
                ordinal(nth + 1, nb, sizeof(nb)), opt, o->rank ? o->rank : 1,
                o->rank == 1 || !o->rank ? "" : "s");
        free(d.s);
        return -1;
    }
    if (!a->dtype)
        return rk_fail(err, EXIT_USAGE,
                       "%s: output operand %u of '%s' takes any dtype; give "
                       "one as the %s %s DT:N,...",
                       io->out_file[i], i, e->name,
                       ordinal(nth + 1, nb, sizeof(nb)), opt);
    return 0;
}

/* Shape and dtype of output operand i (the nth output, from 0): from
 * --out-shape `spec`, else from what the kernel declares; never guessed. */
void rk_parse_out_shape(const char *spec, vtpu_npy *out)
{
    vtpu_npy given = {0};

    if (spec) {
        const char *dims = spec;
        const char *colon = strchr(spec, ':');
        if (colon) {
            char *dt = strndup(spec, (size_t)(colon - spec));
            if (!dt)
                die(EXIT_FAULT, "out of memory");
            for (uint32_t t = 1; t < VTPU_DT__COUNT; t++)
                if (!strcmp(dt, vtpu_npy_dtype_name(t)))
                    given.dtype = t;
            if (!given.dtype)
                die(EXIT_USAGE,
                    "--out-shape %s: unknown dtype '%s' (f32, "
                    "i32, u32, bf16, i16, i8, u8)",
                    spec, dt);
            free(dt);
            dims = colon + 1;
        }
        given.rank =
            parse_list("--out-shape", dims, VTPU_NPY_MAX_RANK, 1, given.shape);
    }
    *out = given;
}

static void output_shape(const vtpu_kernel_entry *e, kernel_io *io, unsigned i,
                         unsigned nth, const char *spec)
{
    vtpu_npy given;
    rk_error err;

    rk_parse_out_shape(spec, &given);
    if (rk_output_shape(e, io, i, nth, &given, &err))
        die(err.status, "%s", err.msg);
}

int rk_check_operand(const vtpu_kernel_entry *e, const kernel_io *io,
                     unsigned i, rk_error *err)
{
    const vtpu_operand_spec *o = &e->operands[i];
    const vtpu_npy *a = &io->arr[i];
    const char *name = io->in_file[i] ? io->in_file[i] : io->out_file[i];
    char shape[96];
    vtpu_npy_format_shape(a->shape, a->rank, shape, sizeof(shape));
    if (o->dtype && a->dtype != o->dtype)
        return rk_fail(err, EXIT_USAGE,
                       "%s: operand %u of '%s' is %s, the %s holds %s ('%s')",
                       name, i, e->name, vtpu_npy_dtype_name(o->dtype),
                       io->noun ? io->noun : "file",
                       vtpu_npy_dtype_name(a->dtype), vtpu_npy_descr(a->dtype));
    if (o->rank && a->rank != o->rank)
        return rk_fail(err, EXIT_USAGE,
                       "%s: operand %u of '%s' has rank %u, the array %s has "
                       "rank %u",
                       name, i, e->name, o->rank, shape, a->rank);
    return 0;
}

/* Check a file's array against the kernel's declaration of operand i. */
static void check_operand(const vtpu_kernel_entry *e, const kernel_io *io,
                          unsigned i)
{
    rk_error err;
    if (rk_check_operand(e, io, i, &err))
        die(err.status, "%s", err.msg);
}

/* Map files to operands: inputs in order to IN and INOUT operands, -o
 * files in order to OUT and INOUT ones. */
static void bind_files(const vtpu_kernel_entry *e, kernel_io *io,
                       vtpu_npy_file *files, const run_kernel_args *a)
{
    char **inputs = a->inputs;
    unsigned ninputs = a->ninputs;
    unsigned nin = 0, nout = 0;
    unsigned nouts = list_len(a->outputs);
    unsigned nshapes = list_len(a->out_shapes);
    char err[512];

    for (io->nops = 0; io->nops < VTPU_MAX_OPERANDS &&
                       e->operands[io->nops].role != VTPU_ROLE_NONE;
         io->nops++) {
        uint8_t r = e->operands[io->nops].role;
        nin += (r & VTPU_ROLE_IN) != 0;
        nout += (r & VTPU_ROLE_OUT) != 0;
    }
    if (nin != ninputs || nout != nouts) {
        str d = {0};
        describe_operands(&d, e, io->nops);
        die(EXIT_USAGE,
            "kernel '%s' takes %u input file%s and %u -o file%s, got %u and "
            "%u (operands %s)",
            e->name, nin, nin == 1 ? "" : "s", nout, nout == 1 ? "" : "s",
            ninputs, nouts, str_get(&d));
    }
    if (nshapes > nout)
        die(EXIT_USAGE, "%u --out-shape options for %u outputs", nshapes, nout);

    unsigned fi = 0, fo = 0;
    for (unsigned i = 0; i < io->nops; i++) {
        uint8_t r = e->operands[i].role;
        if (r & VTPU_ROLE_IN) {
            io->in_file[i] = inputs[fi++];
            /* The header now, the data later, straight into HBM. */
            if (vtpu_npy_open(&files[i], io->in_file[i], err, sizeof(err)))
                die(EXIT_FILE, "%s", err);
            io->arr[i] = files[i].a;
            check_operand(e, io, i);
        }
        if (r & VTPU_ROLE_OUT)
            io->out_file[i] = a->outputs[fo++];
    }
    fo = 0;
    for (unsigned i = 0; i < io->nops; i++) {
        if (e->operands[i].role != VTPU_ROLE_OUT) {
            fo += e->operands[i].role == VTPU_ROLE_INOUT;
            continue;
        }
        const char *spec = fo < nshapes ? a->out_shapes[fo] : NULL;
        if (spec && !strcmp(spec, "auto"))
            spec = NULL;
        output_shape(e, io, i, fo++, spec);
        check_operand(e, io, i);
    }
}

static void format_grid(const vtpu_rt_launch *l, char *buf, size_t len)
{
    str s = {0};
    str_printf(&s, "(");
    for (unsigned d = 0; d < l->grid_rank; d++) {
        uint32_t g = l->grid[d];
        if (VTPU_GRID_IS_SCALAR(g) &&
            VTPU_GRID_SCALAR_INDEX(g) < l->num_scalars)
            str_printf(&s, "%s%d (s%u)", d ? "," : "",
                       (int)l->scalars[VTPU_GRID_SCALAR_INDEX(g)],
                       (unsigned)VTPU_GRID_SCALAR_INDEX(g));
        else
            str_printf(&s, "%s%u", d ? "," : "", g);
    }
    str_printf(&s, ") ");
    if (!l->grid_rank)
        str_printf(&s, "one step");
    for (unsigned d = 0; d < l->grid_rank; d++)
        str_printf(&s, "%s%s", d ? "," : "",
                   l->semantics[d] == VTPU_PARALLEL ? "parallel" : "arbitrary");
    snprintf(buf, len, "%s", str_get(&s));
    free(s.s);
}

int rk_find_kernel(const vtpu_module *mod, const char *module,
                   const char *kernel, uint32_t *index, rk_error *err)
{
    if (!vtpu_module_find(mod, kernel, index))
        return 0;
    /* The whole list: the runtime's message shortens long ones. */
    str names = {0};
    for (uint32_t i = 0; i < mod->num_kernels; i++)
        str_printf(&names, "%s%s", i ? ", " : "", mod->kernels[i].name);
    rk_fail(err, EXIT_USAGE, "%s: no kernel '%s' in the module (it has: %s)",
            module, kernel, str_get(&names));
    free(names.s);
    return -1;
}

/*
 * Zero [p, p+len) of HBM through the host's pointer, touching only what
 * is already there.  Pages not in memory (never written: vtpu-run's fresh
 * HBM) are dropped, which costs nothing and reads back as zeros, so an
 * output the kernel writes is written once, not filled first, and pages
 * it never writes are never committed; pages in memory (HBM an earlier
 * launch of the same chip used: libvtpu-run) are cleared in place, which
 * is cheaper than dropping them for the kernel to fault in again.  The
 * partial pages at the ends are cleared.  (Not-resident is not the same
 * as zero, a page may be swapped out: hence dropped, not skipped.)
 */
static void zero_hbm(void *p, size_t len)
{
    enum { PAGE = 4096, CHUNK = 4096 }; /* pages per mincore() call */
    unsigned char vec[CHUNK];
    uintptr_t lo = ((uintptr_t)p + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)(PAGE - 1);
    if (hi <= lo) {
        memset(p, 0, len);
        return;
    }
    memset(p, 0, lo - (uintptr_t)p);
    memset((void *)hi, 0, (uintptr_t)p + len - hi);
    for (uintptr_t at = lo; at < hi;) {
        size_t n = (hi - at) / PAGE < CHUNK ? (hi - at) / PAGE : CHUNK;
        if (mincore((void *)at, n * PAGE, vec)) {
            memset((void *)at, 0, n * PAGE);
            at += n * PAGE;
            continue;
        }
        for (size_t i = 0; i < n;) {
            size_t j = i;
            bool in = vec[i] & 1;
            while (j < n && (bool)(vec[j] & 1) == in)
                j++;
            void *run = (void *)(at + i * PAGE);
            size_t bytes = (j - i) * PAGE;
            if (in || madvise(run, bytes, MADV_DONTNEED))
                memset(run, 0, bytes);
            i = j;
        }
        at += n * PAGE;
    }
}

/* Input operand n into HBM at `op`. */
static int upload(vtpu_rt *rt, kernel_io *io, unsigned n,
                  const vtpu_rt_array *op, rk_error *err)
{
    const vtpu_npy *arr = &io->arr[n];
    void *dst = io->hbm_ptr ? io->hbm_ptr(io->hbm_ctx, op->hbm, arr->bytes)
                            : NULL;
    if (dst) { /* one copy: file or array -> HBM */
        if (io->load)
            return io->load(io->ctx, n, dst, err);
        memcpy(dst, arr->data, arr->bytes);
        return 0;
    }
    void *tmp = NULL;
    const void *src = arr->data;
    if (io->load) {
        src = tmp = xmalloc(arr->bytes);
        if (io->load(io->ctx, n, tmp, err)) {
            free(tmp);
            return -1;
        }
    }
    int rc = 0;
    if (vtpu_rt_write(rt, op->hbm, src, arr->bytes))
        rc = rk_fail(err, EXIT_FAULT, "operand %u: %s", n, vtpu_rt_error(rt));
    free(tmp);
    return rc;
}

/* Output operand i out of HBM at `op`. */
static int download(vtpu_rt *rt, kernel_io *io, unsigned i,
                    const vtpu_rt_array *op, rk_error *err)
{
    vtpu_npy *arr = &io->arr[i];
    const void *src =
        io->hbm_ptr ? io->hbm_ptr(io->hbm_ctx, op->hbm, arr->bytes) : NULL;
    if (src) { /* one copy: HBM -> file or array */
        if (io->store)
            return io->store(io->ctx, i, src, err);
        memcpy(arr->data, src, arr->bytes);
        return 0;
    }
    void *dst = io->store ? xmalloc(arr->bytes) : arr->data;
    int rc = 0;
    if (vtpu_rt_read(rt, op->hbm, dst, arr->bytes))
        rc = rk_fail(err, EXIT_FAULT, "operand %u: %s", i, vtpu_rt_error(rt));
    else if (io->store)
        rc = io->store(io->ctx, i, dst, err);
    if (io->store)
        free(dst);
    return rc;
}

int rk_launch(vtpu_rt *rt, const vtpu_module *mod, vtpu_rt_launch *l,
              kernel_io *io, vtpu_rt_stats *st, int64_t *us, rk_error *err)
{
    unsigned n = 0;
    int rc = 0;

    /* Operands into HBM: inputs uploaded, outputs zeroed. */
    l->num_operands = io->nops;
    for (; n < io->nops && !rc; n++) {
        vtpu_npy *arr = &io->arr[n];
        vtpu_rt_array *op = &l->operands[n];
        if (vtpu_rt_array_alloc(rt, op, arr->dtype, arr->rank, arr->shape)) {
            rc = rk_fail(err, EXIT_USAGE, "operand %u: %s", n,
                         vtpu_rt_error(rt));
            break;
        }
        uint64_t bytes = vtpu_rt_array_bytes(op);
        void *p;
        if (bytes != arr->bytes)
            rc = rk_fail(err, EXIT_USAGE,
                         "operand %u: %zu bytes of data for %llu of array", n,
                         arr->bytes, (unsigned long long)bytes);
        else if (io->in_file[n])
            rc = upload(rt, io, n, op, err);
        else if (io->hbm_ptr &&
                 (p = io->hbm_ptr(io->hbm_ctx, op->hbm, bytes)) != NULL)
            zero_hbm(p, (size_t)bytes);
        else if (vtpu_rt_fill(rt, op->hbm, (bytes + 3) & ~3ull, 0))
            rc = rk_fail(err, EXIT_FAULT, "operand %u: %s", n,
                         vtpu_rt_error(rt));
    }

    if (!rc && io->before_run)
        rc = io->before_run(io->ctx, l, err);
    if (!rc) {
        int64_t t0 = monotonic_us();
        rc = vtpu_rt_run(rt, mod, l, st);
        if (us)
            *us = monotonic_us() - t0;
        /* EINVAL: the runtime refused the launch before submitting it. */
        if (rc)
            rc = rk_fail(err, rc == VTPU_DRV_EINVAL ? EXIT_USAGE : EXIT_FAULT,
                         "%s", vtpu_rt_error(rt));
    }

    for (unsigned i = 0; i < io->nops && !rc; i++)
        if (io->out_file[i])
            rc = download(rt, io, i, &l->operands[i], err);

    while (n--)
        vtpu_rt_free(rt, l->operands[n].hbm);
    return rc;
}

/* kernel_io's data hooks for files (run_kernel). */
typedef struct file_io {
    vtpu_npy_file *files;
    kernel_io *io;
} file_io;

static int file_load(void *ctx, unsigned i, void *dst, rk_error *err)
{
    file_io *f = ctx;
    return vtpu_npy_load(&f->files[i], dst, err->msg, sizeof(err->msg))
               ? (err->status = EXIT_FILE, -1)
               : 0;
}

static int file_store(void *ctx, unsigned i, const void *src, rk_error *err)
{
    file_io *f = ctx;
    vtpu_npy out = f->io->arr[i];
    out.data = (void *)src;
    return vtpu_npy_write(&out, f->io->out_file[i], err->msg,
                          sizeof(err->msg))
               ? (err->status = EXIT_FILE, -1)
               : 0;
}

int run_kernel(const run_kernel_args *a, const run_kernel_dev *dev)
{
    const char *module = a->module;
    char err[512];
    char *elf;
    size_t len;
    vtpu_rt_launch l = {0};
    int32_t *scalars = NULL;
    kernel_io io;
    vtpu_npy_file files[VTPU_MAX_OPERANDS];
    file_io fio = {files, &io};
    rk_error rerr;
    static vtpu_module mod; /* big (the kernel table): not on the stack */
    memset(&io, 0, sizeof(io));
    for (unsigned i = 0; i < VTPU_MAX_OPERANDS; i++)
        files[i].fd = -1, files[i].buf = NULL;

    rk_parse_launch_opts(a, &l, &scalars);
    bool elf_mapped;
    if (rk_read_file(module, &elf, &len, &elf_mapped, err, sizeof(err)))
        die(EXIT_LOAD, "%s", err);

    vtpu_rt *rt = dev->open(dev->ctx); /* exits on failure */
    /* Without its debug information, which the device never reads; a
     * module refused that way is tried as it is, for the refusal to be
     * the file's own. */
    size_t slen;
    void *stripped = vtpu_module_strip_debug(elf, len, &slen);
    if ((!stripped || vtpu_rt_module_load(rt, &mod, stripped, slen)) &&
        vtpu_rt_module_load(rt, &mod, elf, len))
        die(EXIT_LOAD, "%s: %s", module, vtpu_rt_error(rt));
    free(stripped);
    if (elf_mapped)
        munmap(elf, len);
    else
        free(elf);
    if (rk_find_kernel(&mod, module, a->kernel, &l.kernel, &rerr))
        die(rerr.status, "%s", rerr.msg);
    const vtpu_kernel_entry *e = &mod.kernels[l.kernel];

    bind_files(e, &io, files, a);
    for (unsigned i = 0; i < io.nops; i++) {
        if (io.in_file[i])
            continue;
        vtpu_npy *arr = &io.arr[i];
        size_t elems = 1;
        for (unsigned d = 0; d < arr->rank; d++)
            elems *= arr->shape[d];
        arr->bytes = elems * vtpu_dtype_size(arr->dtype);
    }
    /* Files are read into HBM and written from it (file_load/store),
     * through the device's own pointer where it has one. */
    io.load = file_load;
    io.store = file_store;
    io.ctx = &fio;
    if (dev->hbm_ptr) {
        io.hbm_ptr = dev->hbm_ptr;
        io.hbm_ctx = dev->ctx;
    }

    vtpu_rt_stats st;
    int64_t us;
    if (rk_launch(rt, &mod, &l, &io, &st, &us, &rerr)) {
        if (rerr.status != EXIT_FAULT)
            die(rerr.status, "%s", rerr.msg);
        /* Reports say "operand 2": say which file that is. */
        str ops = {0};
        for (unsigned i = 0; i < io.nops; i++)
            str_printf(&ops, "%s%u %s (%s)", i ? ", " : "", i,
                       io.out_file[i]  ? io.out_file[i]
                       : io.in_file[i] ? io.in_file[i]
                                       : "-",
                       rk_role_name(e->operands[i].role));
        fprintf(stderr, "vtpu-run: %s\n", rerr.msg);
        die(EXIT_FAULT, "operands of '%s': %s", e->name, str_get(&ops));
    }

    if (!a->quiet) {
        char grid[128];
        unsigned busy = 0;
        for (unsigned t = 0; t < st.num_tcs; t++)
            busy += st.tc[t].steps != 0;
        format_grid(&l, grid, sizeof(grid));
        printf("%s: grid %s, %u TC%s (%u busy), %u steps, %.3f ms, "
               "%llu bytes moved (%llu in, %llu out; %u+%u blocks)\n",
               e->name, grid, st.num_tcs, st.num_tcs == 1 ? "" : "s", busy,
               st.steps, (double)us / 1000.0,
               (unsigned long long)(st.bytes_in + st.bytes_out),
               (unsigned long long)st.bytes_in,
               (unsigned long long)st.bytes_out, st.blocks_in, st.blocks_out);
    }

    for (unsigned i = 0; i < io.nops; i++)
        vtpu_npy_close(&files[i]);
    free(scalars);
    if (dev->finish)
        dev->finish(dev->ctx);
    vtpu_rt_module_unload(rt, &mod);
    dev->close(dev->ctx);
    return 0;
}
