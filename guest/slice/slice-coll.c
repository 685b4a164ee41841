/*
 * slice-coll.c - collectives over a slice from one thread, checked
 * against the host (slice-coll.h).  Only the runtime's API: the same code
 * runs over the ring backend on bare metal and over the Linux driver.
 */
#include "slice-coll.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rand32(sc_slice *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (uint32_t)(s->rng >> 16);
}

/* A finite f32 with a random sign, 24 random significant bits and an
 * exponent in [-8, 8]: sums of several round. */
static uint32_t rand_f32_bits(sc_slice *s)
{
    uint32_t r = rand32(s);
    uint32_t e = 127 - 8 + rand32(s) % 17;
    return (r & 0x80000000u) | e << 23 | (r & 0x7fffffu);
}

static void check(sc_slice *s, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line per check. */
static void check(sc_slice *s, int ok, const char *fmt, ...)
{
    va_list ap;
    s->nchecks++;
    s->nfailed += !ok;
    printf("check ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* ------------------------------------------------------------------ */
/* Launching on every chip                                              */
/* ------------------------------------------------------------------ */

/*
 * Allocate the same arrays on every device: the HBM offsets must agree
 * (symmetric allocation), or the remote copies would land elsewhere.
 * On a failure nothing stays allocated.
 */
static int alloc_all(sc_slice *s, vtpu_rt_array a[SC_MAX_CHIPS], uint32_t dtype,
                     uint32_t rank, const uint32_t *shape, const char *what)
{
    for (unsigned d = 0; d < s->ndev; d++) {
        int rc = vtpu_rt_array_alloc(s->dev[d].rt, &a[d], dtype, rank, shape);
        if (rc) {
            printf("%s: %s on %s: %s\n", s->prog, what, s->dev[d].name,
                   vtpu_rt_error(s->dev[d].rt));
            while (d--)
                vtpu_rt_free(s->dev[d].rt, a[d].hbm);
            return -1;
        }
    }
    int same = 1;
    for (unsigned d = 1; d < s->ndev; d++)
        same &= a[d].hbm == a[0].hbm;
    check(s, same, "symmetric allocation of %s: HBM 0x%llx on every chip: %s",
          what, (unsigned long long)a[0].hbm, same ? "ok" : "DIFFERS");
    if (!same)
        for (unsigned d = 0; d < s->ndev; d++)
            vtpu_rt_free(s->dev[d].rt, a[d].hbm);
    return same ? 0 : -1;
}

static void free_all(sc_slice *s, vtpu_rt_array a[SC_MAX_CHIPS])
{
    for (unsigned d = 0; d < s->ndev; d++)
        vtpu_rt_free(s->dev[d].rt, a[d].hbm);
}

int sc_collective_launch(const sc_slice *s, sc_chip *c, const char *kernel,
                         const vtpu_rt_array *x, const vtpu_rt_array *o,
                         const int32_t *axis, vtpu_rt_launch *l)
{
    memset(l, 0, sizeof(*l));
    if (vtpu_rt_kernel_find(c->rt, c->mod, kernel, &l->kernel)) {
        printf("%s: %s\n", s->prog, vtpu_rt_error(c->rt));
        return -1;
    }
    l->grid_rank = 1;
    l->grid[0] = vtpu_rt_info(c->rt)->num_tcs;
    l->semantics[0] = VTPU_PARALLEL;
    l->num_operands = 2;
    l->operands[0] = *x;
    l->operands[1] = *o;
    l->num_scalars = 1;
    l->scalars = axis;
    l->collective = 1;
    return 0;
}

/*
 * Launch `kernel` with operands x, o (per device) on every device as one
 * collective launch: start on all, then finish all.  A device that
 * cannot start leaves the others waiting at the rendezvous: they are
 * aborted where the caller can (abort_started).  0 if every chip ran.
 */
static int launch_all(sc_slice *s, const char *kernel, vtpu_rt_array *x,
                      vtpu_rt_array *o, int32_t axis, uint64_t *ns)
{
    static vtpu_rt_pending pend[SC_MAX_CHIPS];
    static vtpu_rt_launch l[SC_MAX_CHIPS];
    unsigned started = 0;
    int bad = 0;

    for (unsigned d = 0; d < s->ndev; d++)
        if (sc_collective_launch(s, &s->dev[d], kernel, &x[d], &o[d], &axis,
                                 &l[d]))
            return -1;
    uint64_t t0 = s->clock_ns();
    for (; started < s->ndev; started++) {
        sc_chip *c = &s->dev[started];
        if (vtpu_rt_run_start(c->rt, c->mod, &l[started], &pend[started])) {
            printf("%s: %s on chip %u: %s\n", s->prog, kernel, c->info[0],
                   vtpu_rt_error(c->rt));
            bad = -1;
            break;
        }
    }
    if (bad && s->abort_started)
        for (unsigned d = 0; d < started; d++)
            s->abort_started(&s->dev[d]);
    for (unsigned d = 0; d < started; d++) {
        sc_chip *c = &s->dev[d];
        if (vtpu_rt_run_finish(c->rt, &pend[d], NULL) && !bad) {
            printf("%s: %s on chip %u: %s\n", s->prog, kernel, c->info[0],
                   vtpu_rt_error(c->rt));
            bad = -1;
        }
    }
    *ns = s->clock_ns() - t0;
    return bad;
}

/* ------------------------------------------------------------------ */
/* The collectives and their references                                 */
/* ------------------------------------------------------------------ */

/* Chip id at coordinates c (x fastest). */
static unsigned chip_at(const sc_slice *s, const uint32_t c[3])
{
    return c[0] + s->mesh[0] * (c[1] + s->mesh[1] * c[2]);
}

/* The chip at position p of chip `me`'s ring along `axis`. */
static unsigned ring_member(const sc_slice *s, unsigned me, int axis,
                            uint32_t p)
{
    uint32_t c[3];
    memcpy(c, &s->by_chip[me]->info[5], sizeof(c));
    c[axis] = p;
    return chip_at(s, c);
}

/*
 * Word i of block b of the reduction along chip `me`'s ring: the sum of
 * that word of every member's x, in the kernels' ring order.  Block b's
 * partial sum starts on the chip after b (position b + 1), each next
 * chip adds its own word to what it received, and the chip at position
 * b adds last: ((x[b+1] + x[b+2]) + ...) + x[b], positions mod n.
 */
static uint32_t ring_sum(const sc_slice *s, const uint32_t *in, size_t xw,
                         unsigned me, int axis, uint32_t b, size_t xi, int f32)
{
    uint32_t n = s->mesh[axis];
    uint32_t si = 0;
    float sf = 0;
    for (uint32_t k = 1; k <= n; k++) {
        uint32_t v = in[ring_member(s, me, axis, (b + k) % n) * xw + xi];
        float fv;
        memcpy(&fv, &v, 4);
        if (k == 1) {
            si = v;
            sf = fv;
        } else {
            si += v;
            sf += fv;
        }
    }
    if (f32)
        memcpy(&si, &sf, 4);
    return si;
}

void sc_run_collective(sc_slice *s, enum sc_coll kind, const char *kernel,
                       int f32, int axis, uint32_t m)
{
    uint32_t n = s->mesh[axis], cols = 128;
    uint32_t xr = kind == SC_ALL_GATHER ? m : n * m;
    uint32_t orow = kind == SC_REDUCE_SCATTER ? m : n * m;
    uint32_t xs[2] = {xr, cols}, os[2] = {orow, cols};
    size_t xw = (size_t)xr * cols, ow = (size_t)orow * cols;
    uint32_t dt = f32 ? VTPU_F32 : VTPU_I32;
    vtpu_rt_array x[SC_MAX_CHIPS], o[SC_MAX_CHIPS];
    char what[48];
    uint64_t ns = 0;

    snprintf(what, sizeof(what), "%s x (%u,%u)", kernel, xr, cols);
    if (alloc_all(s, x, dt, 2, xs, what)) {
        check(s, 0, "%s axis %d: did not run", kernel, axis);
        return;
    }
    snprintf(what, sizeof(what), "%s o (%u,%u)", kernel, orow, cols);
    if (alloc_all(s, o, dt, 2, os, what)) {
        check(s, 0, "%s axis %d: did not run", kernel, axis);
        free_all(s, x);
        return;
    }
    /* in[chip] */
    uint32_t *in = malloc(s->ndev * xw * 4), *got = malloc(ow * 4),
             *want = malloc(ow * 4);
    int bad = !in || !got || !want;
    if (bad)
        printf("%s: out of memory for %s's data\n", s->prog, kernel);
    for (unsigned c = 0; c < s->ndev && !bad; c++)
        for (size_t i = 0; i < xw; i++)
            in[c * xw + i] = f32 ? rand_f32_bits(s) : rand32(s);
    for (unsigned c = 0; c < s->ndev && !bad; c++) {
        sc_chip *d = s->by_chip[c];
        unsigned di = (unsigned)(d - s->dev);
        bad = vtpu_rt_write(d->rt, x[di].hbm, &in[c * xw], xw * 4) ||
              vtpu_rt_fill(d->rt, o[di].hbm, ow * 4, 0xdeadbeefu);
        if (bad)
            printf("%s: upload to chip %u: %s\n", s->prog, c,
                   vtpu_rt_error(d->rt));
    }
    if (!bad)
        bad = launch_all(s, kernel, x, o, axis, &ns);
    if (bad) {
        check(s, 0, "%s axis %d: did not run", kernel, axis);
        goto out;
    }
    printf("%s axis %d, x (%u,%u) %s on %u chips: %llu us (launch on "
           "every chip to the last completion)\n",
           kernel, axis, xr, cols, f32 ? "f32" : "i32", s->ndev,
           (unsigned long long)(ns / 1000));

    for (unsigned c = 0; c < s->ndev; c++) {
        sc_chip *d = s->by_chip[c];
        unsigned di = (unsigned)(d - s->dev);
        uint32_t pos = d->info[5 + axis];
        /* The reference, in the host's arithmetic */
        for (size_t i = 0; i < ow; i++) {
            size_t r = i / cols, col = i % cols;
            if (kind == SC_ALL_GATHER) {
                unsigned src = ring_member(s, c, axis, (uint32_t)(r / m));
                want[i] = in[src * xw + (r % m) * cols + col];
                continue;
            }
            /* reduce-scatter: this chip's block; all-reduce: every block */
            uint32_t b = kind == SC_REDUCE_SCATTER ? pos : (uint32_t)(r / m);
            size_t xi = ((size_t)b * m + r % m) * cols + col;
            want[i] = ring_sum(s, in, xw, c, axis, b, xi, f32);
        }
        if (vtpu_rt_read(d->rt, o[di].hbm, got, ow * 4)) {
            check(s, 0, "%s axis %d chip %u: read-back: %s", kernel, axis, c,
                  vtpu_rt_error(d->rt));
            continue;
        }
        size_t i = 0;
        while (i < ow && got[i] == want[i])
            i++;
        if (i == ow) {
            check(s, 1, "%s axis %d chip %u: ok", kernel, axis, c);
        } else if (f32) {
            float g, w;
            memcpy(&g, &got[i], 4);
            memcpy(&w, &want[i], 4);
            check(s, 0,
                  "%s axis %d chip %u: MISMATCH at [%zu][%zu]: %.9g "
                  "(0x%08x), expected %.9g (0x%08x)",
                  kernel, axis, c, i / cols, i % cols, (double)g,
                  (unsigned)got[i], (double)w, (unsigned)want[i]);
        } else {
            check(s, 0,
                  "%s axis %d chip %u: MISMATCH at [%zu][%zu]: 0x%08x, "
                  "expected 0x%08x",
                  kernel, axis, c, i / cols, i % cols, (unsigned)got[i],
                  (unsigned)want[i]);
        }
    }
out:
    free(in);
    free(got);
    free(want);
    free_all(s, o);
    free_all(s, x);
}

void sc_run_all(sc_slice *s)
{
    for (int axis = 0; axis < 3; axis++) {
        if (s->mesh[axis] < 2)
            continue;
        sc_run_collective(s, SC_ALL_REDUCE, "all_reduce_f32", 1, axis, 8);
        sc_run_collective(s, SC_ALL_REDUCE, "all_reduce_i32", 0, axis, 16);
        sc_run_collective(s, SC_REDUCE_SCATTER, "reduce_scatter_f32", 1, axis,
                          8);
        sc_run_collective(s, SC_REDUCE_SCATTER, "reduce_scatter_i32", 0, axis,
                          8);
        sc_run_collective(s, SC_ALL_GATHER, "all_gather", 0, axis, 8);
    }
}

int sc_report(const sc_slice *s)
{
    if (s->nfailed)
        printf("%s: FAIL (%u of %u checks failed)\n", s->prog, s->nfailed,
               s->nchecks);
    else
        printf("%s: PASS (%u checks)\n", s->prog, s->nchecks);
    return s->nfailed > 100 ? 100 : (int)s->nfailed;
}

/* ------------------------------------------------------------------ */
/* Which device is which chip                                           */
/* ------------------------------------------------------------------ */

int sc_find_chips(sc_slice *s)
{
    uint32_t shape[1] = {8};
    vtpu_rt_array o[SC_MAX_CHIPS];
    int bad = 0;

    if (s->ndev > SC_MAX_CHIPS) {
        printf("%s: %u devices, at most %u\n", s->prog, s->ndev, SC_MAX_CHIPS);
        return -1;
    }
    if (alloc_all(s, o, VTPU_I32, 1, shape, "slice_info o (8,)"))
        return -1;
    for (unsigned d = 0; d < s->ndev && !bad; d++) {
        sc_chip *c = &s->dev[d];
        vtpu_rt_launch l = {.num_operands = 1, .operands = {o[d]}};
        bad = vtpu_rt_kernel_find(c->rt, c->mod, "slice_info", &l.kernel) ||
              vtpu_rt_run(c->rt, c->mod, &l, NULL) ||
              vtpu_rt_read(c->rt, o[d].hbm, c->info, sizeof(c->info));
        if (bad)
            printf("%s: slice_info on %s: %s\n", s->prog, c->name,
                   vtpu_rt_error(c->rt));
    }
    free_all(s, o);
    if (bad)
        return -1;
    memset(s->by_chip, 0, sizeof(s->by_chip));
    memcpy(s->mesh, &s->dev[0].info[2], sizeof(s->mesh));
    for (unsigned d = 0; d < s->ndev; d++) {
        sc_chip *c = &s->dev[d];
        printf("%s: chip %u of %u, mesh %ux%ux%u, at (%u,%u,%u)\n", c->name,
               c->info[0], c->info[1], c->info[2], c->info[3], c->info[4],
               c->info[5], c->info[6], c->info[7]);
        if (c->info[1] != s->ndev || c->info[0] >= s->ndev ||
            s->by_chip[c->info[0]] ||
            memcmp(s->mesh, &c->info[2], sizeof(s->mesh))) {
            printf("%s: device %u: chip %u of %u: the slice must have one "
                   "device per chip (%u devices found), each chip index "
                   "once\n",
                   s->prog, d, c->info[0], c->info[1], s->ndev);
            return -1;
        }
        s->by_chip[c->info[0]] = c;
    }
    return 0;
}
