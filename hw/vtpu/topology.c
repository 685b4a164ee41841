/*
 * topology.c - slice shapes: parsing, chip ids <-> coordinates and
 * dimension-order routes (vtpu-slice.h, docs/multichip.md).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Public slice shapes (docs/multichip.md has the sources). */
typedef struct shape_row {
    unsigned chips;
    uint32_t dims[3];
} shape_row;

/* v4 and v5p: 3-D, 4 chips per host; "-N" counts TensorCores (2/chip). */
static const shape_row shapes_3d[] = {
    {4, {2, 2, 1}},      {8, {2, 2, 2}},      {16, {2, 2, 4}},
    {32, {2, 4, 4}},     {64, {4, 4, 4}},     {128, {4, 4, 8}},
    {256, {4, 8, 8}},    {512, {8, 8, 8}},    {1024, {8, 8, 16}},
    {2048, {8, 16, 16}}, {4096, {16, 16, 16}},
};
/* v5e and v6e: 2-D, up to 16x16; "-N" counts chips. */
static const shape_row shapes_2d[] = {
    {1, {1, 1, 1}},  {4, {2, 2, 1}},  {8, {2, 4, 1}},    {16, {4, 4, 1}},
    {32, {4, 8, 1}}, {64, {8, 8, 1}}, {128, {8, 16, 1}}, {256, {16, 16, 1}},
};

static int fail(char *err, size_t errlen, const char *spec, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "topology '%s': %s", spec, why);
    return -1;
}

/* Axes of length <= 2 never wrap: see vtpu-slice.h. */
static void fix_wrap(vtpu_topology *t)
{
    for (unsigned i = 0; i < 3; i++)
        if (t->dims[i] <= 2)
            t->wrap[i] = false;
}

static int parse_preset(const char *spec, vtpu_topology *t, char *err,
                        size_t errlen)
{
    static const struct {
        const char *gen;
        bool three_d;
    } gens[] = {{"v4", true}, {"v5p", true}, {"v5e", false}, {"v6e", false}};
    const char *dash = strchr(spec, '-');
    char msg[160];

    for (unsigned g = 0; g < sizeof(gens) / sizeof(gens[0]); g++) {
        size_t n = strlen(gens[g].gen);
        if ((size_t)(dash - spec) != n || strncmp(spec, gens[g].gen, n))
            continue;
        char *end;
        unsigned long v = strtoul(dash + 1, &end, 10);
        if (!isdigit((unsigned char)dash[1]) || *end)
            return fail(err, errlen, spec, "expected GEN-NUMBER, e.g. v5p-128");
        const shape_row *rows = gens[g].three_d ? shapes_3d : shapes_2d;
        unsigned nrows = gens[g].three_d
                             ? sizeof(shapes_3d) / sizeof(shapes_3d[0])
                             : sizeof(shapes_2d) / sizeof(shapes_2d[0]);
        /* v4/v5p name TensorCores, two per chip */
        unsigned long chips = gens[g].three_d ? v / 2 : v;
        for (unsigned r = 0; r < nrows; r++) {
            if (rows[r].chips != chips || (gens[g].three_d && v % 2))
                continue;
            memset(t, 0, sizeof(*t));
            memcpy(t->dims, rows[r].dims, sizeof(t->dims));
            t->ndims = gens[g].three_d ? 3 : 2;
            /* Wrap-around: v4/v5p full cubes (every axis a multiple of
             * 4), v5e/v6e the full 16x16 pod. */
            bool wrap = gens[g].three_d
                            ? t->dims[0] % 4 == 0 && t->dims[1] % 4 == 0 &&
                                  t->dims[2] % 4 == 0
                            : t->dims[0] == 16 && t->dims[1] == 16;
            for (unsigned i = 0; i < 3; i++)
                t->wrap[i] = wrap;
            fix_wrap(t);
            return 0;
        }
        snprintf(msg, sizeof(msg),
                 "%s has no slice of %lu %s (docs/multichip.md lists them)",
                 gens[g].gen, v, gens[g].three_d ? "TensorCores" : "chips");
        return fail(err, errlen, spec, msg);
    }
    return fail(err, errlen, spec,
                "unknown generation (v4, v5p, v5e, v6e) or shape");
}

int vtpu_topology_parse(const char *spec, vtpu_topology *t, char *err,
                        size_t errlen)
{
    const char *p = spec;
    bool wrap = true;
    unsigned long total = 1;
    char msg[160];

    if (!spec || !*spec)
        return fail(err, errlen, spec ? spec : "(null)", "empty");
    if (spec[0] == 'v')
        return parse_preset(spec, t, err, errlen);
    if (!strncmp(p, "mesh:", 5)) {
        wrap = false;
        p += 5;
    } else if (!strncmp(p, "torus:", 6)) {
        p += 6;
    }
    memset(t, 0, sizeof(*t));
    t->dims[0] = t->dims[1] = t->dims[2] = 1;
    for (;;) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return fail(err, errlen, spec,
                        "expected a number (shapes look like 8, 2x4, "
                        "4x4x4, mesh:2x4, v5p-128)");
        unsigned long v = strtoul(p, &end, 10);
        if (t->ndims == 3)
            return fail(err, errlen, spec, "more than 3 axes");
        if (v < 1 || v > VTPU_TOPO_MAX_DIM) {
            snprintf(msg, sizeof(msg), "axis %u: %lu chips, must be 1..%u",
                     t->ndims, v, VTPU_TOPO_MAX_DIM);
            return fail(err, errlen, spec, msg);
        }
        t->dims[t->ndims] = (uint32_t)v;
        t->wrap[t->ndims] = wrap;
        t->ndims++;
        total *= v;
        if (total > VTPU_SLICE_MAX_CHIPS) {
            snprintf(msg, sizeof(msg), "more than %u chips",
                     VTPU_SLICE_MAX_CHIPS);
            return fail(err, errlen, spec, msg);
        }
        p = end;
        if (!*p)
            break;
        if (*p != 'x')
            return fail(err, errlen, spec, "expected 'x' between axes");
        p++;
    }
    fix_wrap(t);
    return 0;
}

unsigned vtpu_topology_size(const vtpu_topology *t)
{
    return t->dims[0] * t->dims[1] * t->dims[2];
}

void vtpu_topology_coords(const vtpu_topology *t, unsigned chip,
                          uint32_t c[3])
{
    c[0] = chip % t->dims[0];
    chip /= t->dims[0];
    c[1] = chip % t->dims[1];
    c[2] = chip / t->dims[1];
}

unsigned vtpu_topology_chip(const vtpu_topology *t, const uint32_t c[3])
{
    return c[0] + t->dims[0] * (c[1] + t->dims[1] * c[2]);
}

uint32_t vtpu_topology_pack(const uint32_t v[3])
{
    return (v[0] & 0x3ff) | (v[1] & 0x3ff) << 10 | (v[2] & 0x3ff) << 20;
}

int vtpu_topology_format(const vtpu_topology *t, char *buf, size_t len)
{
    bool mesh = true, longer = false;
    char s[64];
    int n = 0;

    /* "mesh:" only when an axis that could wrap does not */
    for (unsigned i = 0; i < t->ndims; i++) {
        if (t->dims[i] > 2) {
            longer = true;
            if (t->wrap[i])
                mesh = false;
        }
    }
    n = snprintf(s, sizeof(s), "%s", longer && mesh ? "mesh:" : "");
    for (unsigned i = 0; i < t->ndims && n < (int)sizeof(s); i++)
        n += snprintf(s + n, sizeof(s) - (size_t)n, "%s%u", i ? "x" : "",
                      t->dims[i]);
    return snprintf(buf, len, "%s", s);
}

unsigned vtpu_topology_route(const vtpu_topology *t, unsigned from,
                             unsigned to, unsigned *links, unsigned max)
{
    uint32_t a[3], b[3];
    unsigned hops = 0;

    vtpu_topology_coords(t, from, a);
    vtpu_topology_coords(t, to, b);
    for (unsigned ax = 0; ax < 3; ax++) {
        uint32_t d = t->dims[ax];
        uint32_t fwd = (b[ax] + d - a[ax]) % d; /* steps going + */
        int dir;
        unsigned steps;
        if (!fwd)
            continue;
        if (t->wrap[ax]) {
            uint32_t back = d - fwd;
            dir = fwd <= back ? 1 : -1;
            steps = fwd <= back ? fwd : back;
        } else {
            dir = b[ax] > a[ax] ? 1 : -1;
            steps = dir > 0 ? b[ax] - a[ax] : a[ax] - b[ax];
        }
        for (unsigned s = 0; s < steps; s++) {
            unsigned cur = vtpu_topology_chip(t, a);
            if (hops < max)
                links[hops] = cur * VTPU_LINKS_PER_CHIP + ax * 2 +
                              (dir > 0 ? 0 : 1);
            hops++;
            a[ax] = (a[ax] + d + (uint32_t)dir) % d;
        }
    }
    return hops;
}
