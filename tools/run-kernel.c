/*
 * run-kernel.c - vtpu-run's kernel mode: one launch of a kernel from a
 * kernel module through the driver and runtime (driver/vtpu_rt.h) over
 * the in-process host platform, operands from and to .npy files.
 * docs/vtpu-run.md describes the command line and how files map to the
 * kernel's operands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cli.h"
#include "gdbstub.h"
#include "host_platform.h"
#include "npy.h"
#include "run-kernel.h"
#include "vtpu_rt.h"

/* Parse "a,b,c" into at most `max` unsigned values >= `min`. */
static unsigned parse_list(const char *opt, const char *s, unsigned max,
                           uint32_t min, uint32_t *out)
{
    gchar **parts = g_strsplit(s, ",", -1);
    unsigned n = 0;
    for (gchar **p = parts; *p; p++) {
        uint32_t v;
        char *t = g_strstrip(*p);
        if (n == max)
            die(EXIT_USAGE, "%s %s: at most %u values", opt, s, max);
        if (parse_u32(t, &v) || t[0] == '-' || v < min)
            die(EXIT_USAGE, "%s %s: '%s' is not an integer >= %u", opt, s, t,
                min);
        out[n++] = v;
    }
    g_strfreev(parts);
    if (!n)
        die(EXIT_USAGE, "%s: empty list", opt);
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

static void parse_launch_opts(const run_kernel_args *a, vtpu_rt_launch *l,
                              int32_t **scalars)
{
    l->check_flags = check_flags(a);
    if (a->grid)
        l->grid_rank =
            parse_list("--grid", a->grid, VTPU_MAX_GRID_DIMS, 1, l->grid);
    for (unsigned d = 0; d < l->grid_rank; d++)
        l->semantics[d] = VTPU_ARBITRARY;
    if (a->dims) {
        gchar **parts = g_strsplit(a->dims, ",", -1);
        unsigned n = g_strv_length(parts);
        if (n != l->grid_rank)
            die(EXIT_USAGE, "--dims %s: %u values for a grid of rank %u",
                a->dims, n, l->grid_rank);
        for (unsigned d = 0; d < n; d++) {
            const char *t = g_strstrip(parts[d]);
            if (!strcmp(t, "parallel") || !strcmp(t, "p"))
                l->semantics[d] = VTPU_PARALLEL;
            else if (!strcmp(t, "arbitrary") || !strcmp(t, "a"))
                l->semantics[d] = VTPU_ARBITRARY;
            else
                die(EXIT_USAGE,
                    "--dims: '%s' is neither 'parallel' nor 'arbitrary'", t);
        }
        g_strfreev(parts);
    }

    GArray *vals = g_array_new(FALSE, FALSE, sizeof(int32_t));
    for (char **arg = a->scalars; arg && *arg; arg++) {
        gchar **parts = g_strsplit(*arg, ",", -1);
        for (gchar **p = parts; *p; p++) {
            uint32_t v;
            char *t = g_strstrip(*p);
            if (parse_u32(t, &v))
                die(EXIT_USAGE, "--scalar %s: '%s' is not a 32-bit integer",
                    *arg, t);
            int32_t sv = (int32_t)v;
            g_array_append_val(vals, sv);
        }
        g_strfreev(parts);
    }
    l->num_scalars = vals->len;
    *scalars = (int32_t *)g_array_free(vals, FALSE);
    l->scalars = *scalars;
}

static const char *role_name(uint8_t role)
{
    return role == VTPU_ROLE_IN    ? "in"
           : role == VTPU_ROLE_OUT ? "out"
                                   : "in/out";
}

/* "0: in f32 blocks (8, 128); 1: ..." for usage messages. */
static GString *describe_operands(const vtpu_kernel_entry *e, unsigned n)
{
    GString *s = g_string_new(NULL);
    for (unsigned i = 0; i < n; i++) {
        const vtpu_operand_spec *o = &e->operands[i];
        char blk[96];
        vtpu_npy_format_shape(o->block, o->rank, blk, sizeof(blk));
        g_string_append_printf(s, "%s%u: %s %s", i ? "; " : "", i,
                               role_name(o->role),
                               vtpu_npy_dtype_name(o->dtype));
        if (o->space == VTPU_MS_ANY)
            g_string_append_printf(s, " rank %u in HBM", o->rank);
        else
            g_string_append_printf(s, " blocks %s", blk);
    }
    return s;
}

/* The operands of one launch and the files they come from and go to. */
typedef struct kernel_io {
    unsigned nops;
    vtpu_npy arr[VTPU_MAX_OPERANDS]; /* contents (inputs) / results */
    const char *in_file[VTPU_MAX_OPERANDS];
    const char *out_file[VTPU_MAX_OPERANDS];
} kernel_io;

/* Shape and dtype of output operand i from --out-shape or the inputs. */
static void output_shape(const vtpu_kernel_entry *e, kernel_io *io, unsigned i,
                         const char *spec)
{
    const vtpu_operand_spec *o = &e->operands[i];
    vtpu_npy *a = &io->arr[i];
    const vtpu_npy *ref = NULL;

    /* The reference input: every input of the output's rank (and dtype,
     * if the kernel fixes one) must agree on the shape. */
    for (unsigned j = 0; j < io->nops; j++) {
        const vtpu_npy *c = &io->arr[j];
        if (!io->in_file[j] || (o->rank && c->rank != o->rank) ||
            (o->dtype && c->dtype != o->dtype))
            continue;
        if (ref && (ref->rank != c->rank ||
                    memcmp(ref->shape, c->shape, sizeof(c->shape)))) {
            if (!spec)
                die(EXIT_USAGE,
                    "%s: cannot infer the shape of output operand %u (its "
                    "inputs have different shapes); give it with --out-shape",
                    io->out_file[i], i);
            break;
        }
        if (!ref)
            ref = c;
    }
    a->dtype = o->dtype ? o->dtype : ref ? ref->dtype : 0;
    if (spec) {
        const char *dims = spec;
        const char *colon = strchr(spec, ':');
        if (colon) {
            gchar *dt = g_strndup(spec, (gsize)(colon - spec));
            a->dtype = 0;
            for (uint32_t t = 1; t < VTPU_DT__COUNT; t++)
                if (!strcmp(dt, vtpu_npy_dtype_name(t)))
                    a->dtype = t;
            if (!a->dtype)
                die(EXIT_USAGE,
                    "--out-shape %s: unknown dtype '%s' (f32, "
                    "i32, u32, bf16, i16, i8, u8)",
                    spec, dt);
            g_free(dt);
            dims = colon + 1;
        }
        a->rank =
            parse_list("--out-shape", dims, VTPU_NPY_MAX_RANK, 1, a->shape);
    } else if (ref) {
        a->rank = ref->rank;
        memcpy(a->shape, ref->shape, sizeof(a->shape));
    } else {
        die(EXIT_USAGE,
            "%s: cannot infer the shape of output operand %u (no input of "
            "rank %u); give it with --out-shape",
            io->out_file[i], i, o->rank);
    }
    if (!a->dtype)
        die(EXIT_USAGE,
            "%s: output operand %u takes any dtype; give one with "
            "--out-shape DT:N,...",
            io->out_file[i], i);
}

/* Check a file's array against the kernel's declaration of operand i. */
static void check_operand(const vtpu_kernel_entry *e, unsigned i,
                          const vtpu_npy *a, const char *file)
{
    const vtpu_operand_spec *o = &e->operands[i];
    char shape[96];
    vtpu_npy_format_shape(a->shape, a->rank, shape, sizeof(shape));
    if (o->dtype && a->dtype != o->dtype)
        die(EXIT_USAGE,
            "%s: operand %u of '%s' is %s, the file holds %s ('%s')", file, i,
            e->name, vtpu_npy_dtype_name(o->dtype),
            vtpu_npy_dtype_name(a->dtype), vtpu_npy_descr(a->dtype));
    if (o->rank && a->rank != o->rank)
        die(EXIT_USAGE,
            "%s: operand %u of '%s' has rank %u, the array %s has rank %u",
            file, i, e->name, o->rank, shape, a->rank);
}

/* Map files to operands: inputs in order to IN and INOUT operands, -o
 * files in order to OUT and INOUT ones. */
static void bind_files(const vtpu_kernel_entry *e, kernel_io *io,
                       const run_kernel_args *a)
{
    char **inputs = a->inputs;
    unsigned ninputs = a->ninputs;
    unsigned nin = 0, nout = 0;
    unsigned nouts = a->outputs ? g_strv_length(a->outputs) : 0;
    unsigned nshapes = a->out_shapes ? g_strv_length(a->out_shapes) : 0;
    char err[512];

    for (io->nops = 0; io->nops < VTPU_MAX_OPERANDS &&
                       e->operands[io->nops].role != VTPU_ROLE_NONE;
         io->nops++) {
        uint8_t r = e->operands[io->nops].role;
        nin += (r & VTPU_ROLE_IN) != 0;
        nout += (r & VTPU_ROLE_OUT) != 0;
    }
    if (nin != ninputs || nout != nouts) {
        GString *d = describe_operands(e, io->nops);
        die(EXIT_USAGE,
            "kernel '%s' takes %u input file%s and %u -o file%s, got %u and "
            "%u (operands %s)",
            e->name, nin, nin == 1 ? "" : "s", nout, nout == 1 ? "" : "s",
            ninputs, nouts, d->str);
    }
    if (nshapes > nout)
        die(EXIT_USAGE, "%u --out-shape options for %u outputs", nshapes, nout);

    unsigned fi = 0, fo = 0;
    for (unsigned i = 0; i < io->nops; i++) {
        uint8_t r = e->operands[i].role;
        if (r & VTPU_ROLE_IN) {
            io->in_file[i] = inputs[fi++];
            if (vtpu_npy_read(&io->arr[i], io->in_file[i], err, sizeof(err)))
                die(EXIT_FILE, "%s", err);
            check_operand(e, i, &io->arr[i], io->in_file[i]);
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
        fo++;
        output_shape(e, io, i, spec);
        check_operand(e, i, &io->arr[i], io->out_file[i]);
    }
}

static void format_grid(const vtpu_rt_launch *l, char *buf, size_t len)
{
    GString *s = g_string_new("(");
    for (unsigned d = 0; d < l->grid_rank; d++)
        g_string_append_printf(s, "%s%u", d ? "," : "", l->grid[d]);
    g_string_append(s, ") ");
    if (!l->grid_rank)
        g_string_append(s, "one step");
    for (unsigned d = 0; d < l->grid_rank; d++)
        g_string_append_printf(s, "%s%s", d ? "," : "",
                               l->semantics[d] == VTPU_PARALLEL ? "parallel"
                                                                : "arbitrary");
    g_strlcpy(buf, s->str, len);
    g_string_free(s, TRUE);
}

typedef struct kernel_run {
    vtpu_host *host;
    vtpu_drv drv;
    vtpu_rt rt;
    vtpu_module mod;
} kernel_run;

int run_kernel(const vtpu_config *cfg, const run_kernel_args *a)
{
    const char *module = a->module;
    char err[512];
    gchar *elf;
    gsize len;
    GError *gerr = NULL;
    vtpu_rt_launch l = {0};
    int32_t *scalars = NULL;
    kernel_io io;
    memset(&io, 0, sizeof(io));

    parse_launch_opts(a, &l, &scalars);
    if (!g_file_get_contents(module, &elf, &len, &gerr))
        die(EXIT_LOAD, "%s", gerr->message);

    /* Big objects (the runtime's segment table) live on the heap. */
    kernel_run *k = g_new0(kernel_run, 1);
    k->host = vtpu_host_new(cfg, NULL, err, sizeof(err));
    if (!k->host)
        die(EXIT_USAGE, "%s", err);
    int rc = vtpu_drv_probe(&k->drv, vtpu_host_platform(k->host));
    if (!rc)
        rc = vtpu_drv_init(&k->drv, 0);
    if (rc)
        die(EXIT_FAULT, "driver: %s", vtpu_drv_strerror(rc));
    if (vtpu_rt_init(&k->rt, &k->drv, NULL))
        die(EXIT_FAULT, "runtime: %s", vtpu_rt_error(&k->rt));
    debug_opts_apply(vtpu_host_chip(k->host), &a->dbg);
    vtpu_gdb *gdb = NULL;
    if (a->gdb) { /* docs/debugging.md: the launch waits for gdb */
        gdb = vtpu_gdb_start(vtpu_host_chip(k->host), a->gdb,
                             VTPU_GDB_STOP_AT_START | VTPU_GDB_ONE_RUN, err,
                             sizeof(err));
        if (!gdb)
            die(EXIT_USAGE, "--gdb: %s", err);
        fprintf(stderr, "vtpu-run: waiting for gdb on port %d\n",
                vtpu_gdb_port(gdb));
        vtpu_gdb_wait_attach(gdb, -1);
        vtpu_drv_set_timeout(&k->drv, UINT64_C(1) << 62); /* no time limit */
    }
    if (vtpu_rt_module_load(&k->rt, &k->mod, elf, len))
        die(EXIT_LOAD, "%s: %s", module, vtpu_rt_error(&k->rt));
    g_free(elf);
    if (vtpu_module_find(&k->mod, a->kernel, &l.kernel)) {
        /* The whole list: the runtime's message shortens long ones. */
        GString *names = g_string_new(NULL);
        for (uint32_t i = 0; i < k->mod.num_kernels; i++)
            g_string_append_printf(names, "%s%s", i ? ", " : "",
                                   k->mod.kernels[i].name);
        die(EXIT_USAGE, "%s: no kernel '%s' in the module (it has: %s)", module,
            a->kernel, names->str);
    }
    const vtpu_kernel_entry *e = &k->mod.kernels[l.kernel];

    bind_files(e, &io, a);

    /* Operands into HBM: inputs uploaded, outputs zeroed. */
    l.num_operands = io.nops;
    for (unsigned i = 0; i < io.nops; i++) {
        vtpu_npy *arr = &io.arr[i];
        vtpu_rt_array *op = &l.operands[i];
        if (vtpu_rt_array_alloc(&k->rt, op, arr->dtype, arr->rank, arr->shape))
            die(EXIT_USAGE, "operand %u: %s", i, vtpu_rt_error(&k->rt));
        uint64_t bytes = vtpu_rt_array_bytes(op);
        if (io.in_file[i])
            rc = vtpu_rt_write(&k->rt, op->hbm, arr->data, arr->bytes);
        else
            rc = vtpu_rt_fill(&k->rt, op->hbm, (bytes + 3) & ~3ull, 0);
        if (rc)
            die(EXIT_FAULT, "operand %u: %s", i, vtpu_rt_error(&k->rt));
        if (!io.in_file[i]) {
            arr->bytes = (size_t)bytes;
            arr->data = g_malloc(arr->bytes ? arr->bytes : 1);
        }
    }

    vtpu_rt_stats st;
    gint64 t0 = g_get_monotonic_time();
    rc = vtpu_rt_run(&k->rt, &k->mod, &l, &st);
    gint64 t1 = g_get_monotonic_time();
    /* EINVAL: the runtime refused the launch before submitting it. */
    if (rc)
        die(rc == VTPU_DRV_EINVAL ? EXIT_USAGE : EXIT_FAULT, "%s",
            vtpu_rt_error(&k->rt));

    for (unsigned i = 0; i < io.nops; i++) {
        if (!io.out_file[i])
            continue;
        if (vtpu_rt_read(&k->rt, l.operands[i].hbm, io.arr[i].data,
                         io.arr[i].bytes))
            die(EXIT_FAULT, "operand %u: %s", i, vtpu_rt_error(&k->rt));
        if (vtpu_npy_write(&io.arr[i], io.out_file[i], err, sizeof(err)))
            die(EXIT_FILE, "%s", err);
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
               st.steps, (double)(t1 - t0) / 1000.0,
               (unsigned long long)(st.bytes_in + st.bytes_out),
               (unsigned long long)st.bytes_in,
               (unsigned long long)st.bytes_out, st.blocks_in, st.blocks_out);
    }

    for (unsigned i = 0; i < io.nops; i++) {
        if (io.in_file[i])
            vtpu_npy_free(&io.arr[i]);
        else
            g_free(io.arr[i].data);
    }
    g_free(scalars);
    debug_opts_finish();
    vtpu_rt_module_unload(&k->rt, &k->mod);
    vtpu_rt_fini(&k->rt);
    vtpu_drv_fini(&k->drv);
    vtpu_gdb_free(gdb);
    vtpu_host_free(k->host);
    g_free(k);
    return 0;
}
