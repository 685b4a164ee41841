/*
 * slice-run.c - vtpu-run --topology (slice-run.h, docs/vtpu-run.md
 * "Slices").
 *
 * Why host devices and runtimes, not vtpu_slice: the launch goes through
 * the same driver, runtime and command ring as vtpu-run's one chip (HBM
 * allocation, grants, status records, the collective flag of the LAUNCH
 * command), so a slice run tests what a guest with several vtpu devices
 * does; vtpu_slice would bypass all of it.  One host thread per local
 * chip submits its launch; the fabric's launch rendezvous starts them
 * together.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "cli.h"
#include "host_platform.h"
#include "module-image.h"
#include "npy.h"
#include "slice-run.h"
#include "vtpu-debug.h"

typedef struct slice_chip slice_chip;

typedef struct slice_state {
    const run_kernel_args *a;
    const slice_args *s;
    const slice_comm *comm;
    unsigned n, lo, hi; /* chips of the slice; ours [lo, hi) */
    vtpu_fabric *fabric;
    slice_chip *chips; /* [hi - lo] */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned done;  /* chip threads finished */
    bool failed;    /* a local chip failed: stop the others */
    bool have_offs; /* offs holds the first chip's operand offsets */
    uint64_t offs[VTPU_MAX_OPERANDS];
    unsigned offs_chip;
} slice_state;

struct slice_chip {
    slice_state *st;
    unsigned id;
    vtpu_host *host;
    vtpu_drv drv;
    vtpu_rt rt;
    vtpu_module *mod;
    vtpu_rt_launch l;
    kernel_io io;
    vtpu_rt_stats stats;
    int64_t us;
    rk_error err;
    int rc;
    pthread_t thread;
    /* what this chip allocated: operand data (its own input file, an
     * in/out copy) and per-chip file names */
    bool own_data[VTPU_MAX_OPERANDS], own_name[VTPU_MAX_OPERANDS];
};

/* "x%dy" -> one chip's name; the pattern has been checked. */
static char *chip_name(const char *pattern, unsigned chip)
{
    GString *s = g_string_new(NULL);
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '%' && p[1] == 'd') {
            g_string_append_printf(s, "%u", chip);
            p++;
        } else if (!strncmp(p, "{chip}", 6)) {
            g_string_append_printf(s, "%u", chip);
            p += 5;
        } else {
            g_string_append_c(s, *p);
        }
    }
    return g_string_free(s, FALSE);
}

/* True if `name` is one file per chip ("%d" or "{chip}" in it). */
static bool per_chip(const char *name)
{
    return strstr(name, "%d") || strstr(name, "{chip}");
}

static bool replicated(const slice_args *s, unsigned nth, unsigned ninputs)
{
    for (char **r = s->replicate; r && *r; r++) {
        gchar **parts = g_strsplit(*r, ",", -1);
        bool hit = false;
        for (gchar **p = parts; *p; p++) {
            uint32_t v;
            if (parse_u32(*p, &v) || v >= ninputs)
                die(EXIT_USAGE,
                    "--replicate %s: '%s' is not an input file index "
                    "0..%u",
                    *r, *p, ninputs ? ninputs - 1 : 0);
            hit |= v == nth;
        }
        g_strfreev(parts);
        if (hit)
            return true;
    }
    return false;
}

static void *hbm_ptr(void *ctx, uint64_t hbm, uint64_t len)
{
    slice_chip *c = ctx;
    const vtpu_config *cfg = vtpu_chip_config(vtpu_host_chip(c->host));
    if (cfg->poison || cfg->race || hbm > cfg->hbm_size ||
        len > cfg->hbm_size - hbm)
        return NULL;
    return (uint8_t *)vtpu_chip_hbm_ptr(vtpu_host_chip(c->host)) + hbm;
}

/* kernel_io.before_run: every chip must place the operands alike (a
 * collective names the remote operand by its offset). */
static int same_offsets(void *ctx, const vtpu_rt_launch *l, rk_error *err)
{
    slice_chip *c = ctx;
    slice_state *st = c->st;
    int rc = 0;

    pthread_mutex_lock(&st->lock);
    if (!st->have_offs) {
        for (unsigned i = 0; i < l->num_operands; i++)
            st->offs[i] = l->operands[i].hbm;
        st->have_offs = true;
        st->offs_chip = c->id;
    } else {
        for (unsigned i = 0; i < l->num_operands && !rc; i++)
            if (st->offs[i] != l->operands[i].hbm) {
                err->status = EXIT_FAULT;
                snprintf(err->msg, sizeof(err->msg),
                         "chip %u: operand %u is at HBM 0x%llx, on chip %u "
                         "at 0x%llx (every chip must place its operands "
                         "alike)",
                         c->id, i, (unsigned long long)l->operands[i].hbm,
                         st->offs_chip, (unsigned long long)st->offs[i]);
                rc = -1;
            }
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static void *chip_thread(void *opaque)
{
    slice_chip *c = opaque;
    slice_state *st = c->st;

    c->rc =
        rk_launch(&c->rt, c->mod, &c->l, &c->io, &c->stats, &c->us, &c->err);
    pthread_mutex_lock(&st->lock);
    if (c->rc && !st->failed) {
        st->failed = true;
        pthread_mutex_unlock(&st->lock);
        vtpu_fabric_stop_local(st->fabric);
        if (st->comm)
            st->comm->fault(st->comm->ctx, c->id, c->err.msg);
        pthread_mutex_lock(&st->lock);
    }
    st->done++;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* Wait for the chip threads; once one failed, stop the others again
 * every 50 ms (a chip that began its run after the first stop cleared
 * it: it must not wait at the rendezvous for ever). */
static void join_chips(slice_state *st)
{
    unsigned nl = st->hi - st->lo;

    pthread_mutex_lock(&st->lock);
    while (st->done < nl) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&st->cond, &st->lock, &ts);
        if (st->failed && st->done < nl) {
            pthread_mutex_unlock(&st->lock);
            vtpu_fabric_stop_local(st->fabric);
            pthread_mutex_lock(&st->lock);
        }
    }
    pthread_mutex_unlock(&st->lock);
    for (unsigned i = 0; i < nl; i++)
        pthread_join(st->chips[i].thread, NULL);
}

static void print_stats(slice_chip *c)
{
    vtpu_chip *chip = vtpu_host_chip(c->host);
    unsigned n = vtpu_chip_config(chip)->num_tcs;

    for (unsigned t = 0; t < n; t++) {
        vtpu_tc_stats s;
        if (vtpu_chip_tc_stats(chip, t, &s))
            continue;
        fprintf(stderr,
                "vtpu-run: chip %u TC %u: %llu instructions; DMA %llu bytes "
                "in, %llu out; ICI %llu bytes sent, %llu received, %.3f ms "
                "modelled; %.3f ms blocked on semaphores\n",
                c->id, t, (unsigned long long)s.instret,
                (unsigned long long)s.dma_bytes_in,
                (unsigned long long)s.dma_bytes_out,
                (unsigned long long)s.ici_bytes_sent,
                (unsigned long long)s.ici_bytes_recv, (double)s.ici_ns / 1e6,
                (double)s.sem_wait_ns / 1e6);
    }
}

/* Bring chip `id` up: host device on the fabric, driver, runtime, aids. */
static void open_chip(slice_state *st, slice_chip *c, unsigned id,
                      const vtpu_config *cfg)
{
    char err[512];
    const debug_opts *d = &st->s->dbg;

    c->st = st;
    c->id = id;
    vtpu_host_opts ho = {.hbm_hugepages = st->s->hugepages};
    c->host = vtpu_host_new(cfg, &ho, err, sizeof(err));
    if (!c->host)
        die(EXIT_USAGE, "chip %u: %s", id, err);
    if (vtpu_fabric_attach(st->fabric, id, vtpu_host_chip(c->host), err,
                           sizeof(err)))
        die(EXIT_FAULT, "chip %u: %s", id, err);
    int rc = vtpu_drv_probe(&c->drv, vtpu_host_platform(c->host));
    if (!rc)
        rc = vtpu_drv_init(&c->drv, 0);
    if (rc)
        die(EXIT_FAULT, "chip %u: driver: %s", id, vtpu_drv_strerror(rc));
    if (vtpu_rt_init(&c->rt, &c->drv, NULL))
        die(EXIT_FAULT, "chip %u: runtime: %s", id, vtpu_rt_error(&c->rt));
    vtpu_chip *chip = vtpu_host_chip(c->host);
    if (d->dma_order) {
        vtpu_dma_order order;
        uint64_t seed;
        if (vtpu_dma_order_parse(d->dma_order, &order, &seed, err, sizeof(err)))
            die(EXIT_USAGE, "--dma-order %s", err);
        vtpu_chip_set_dma_order(chip, order, seed);
    }
    if (d->trace) {
        /* one file per chip: %d / {chip} in the name, else FILE.chipN */
        char *name = per_chip(d->trace)
                         ? chip_name(d->trace, id)
                         : g_strdup_printf("%s.chip%u", d->trace, id);
        if (vtpu_chip_set_trace(chip, name, err, sizeof(err)))
            die(EXIT_FILE, "--trace: chip %u: %s", id, err);
        g_free(name);
    }
    if (d->tag)
        vtpu_chip_set_output_tags(chip, true);
}

/* Input operand i of every local chip from `file` (the nth input). */
static void bind_input(slice_state *st, const vtpu_kernel_entry *e, unsigned i,
                       unsigned nth, const char *file, bool whole,
                       vtpu_npy *global)
{
    char err[512];
    unsigned nl = st->hi - st->lo;
    rk_error rerr;

    if (per_chip(file)) {
        for (unsigned k = 0; k < nl; k++) {
            slice_chip *c = &st->chips[k];
            char *name = chip_name(file, c->id);
            if (vtpu_npy_read(&c->io.arr[i], name, err, sizeof(err)))
                die(EXIT_FILE, "chip %u: %s", c->id, err);
            c->io.in_file[i] = name;
            c->own_name[i] = true;
            c->own_data[i] = true;
            if (rk_check_operand(e, &c->io, i, &rerr))
                die(rerr.status, "chip %u: %s", c->id, rerr.msg);
            /* every chip's operand alike: a collective addresses the
             * others' by its own shape */
            const vtpu_npy *a0 = &st->chips[0].io.arr[i], *ak = &c->io.arr[i];
            if (k && (ak->dtype != a0->dtype || ak->rank != a0->rank ||
                      memcmp(ak->shape, a0->shape, sizeof(ak->shape)))) {
                char s0[96], sk[96];
                vtpu_npy_format_shape(a0->shape, a0->rank, s0, sizeof(s0));
                vtpu_npy_format_shape(ak->shape, ak->rank, sk, sizeof(sk));
                die(EXIT_USAGE,
                    "chip %u: %s holds %s %s, chip %u's file %s %s (every "
                    "chip's operand must have one shape and dtype)",
                    c->id, name, vtpu_npy_dtype_name(ak->dtype), sk,
                    st->chips[0].id, vtpu_npy_dtype_name(a0->dtype), s0);
            }
        }
        return;
    }
    if (vtpu_npy_read(global, file, err, sizeof(err)))
        die(EXIT_FILE, "%s", err);
    vtpu_npy shard = *global;
    if (!whole) {
        if (global->shape[0] % st->n)
            die(EXIT_USAGE,
                "%s: the leading dimension, %u, does not split evenly over "
                "the %u chips (give the file whole with --replicate=%u, or "
                "one file per chip with %%d in its name)",
                file, global->shape[0], st->n, nth);
        shard.shape[0] = global->shape[0] / st->n;
        shard.bytes = global->bytes / st->n;
    }
    for (unsigned k = 0; k < nl; k++) {
        slice_chip *c = &st->chips[k];
        c->io.arr[i] = shard;
        c->io.arr[i].data =
            (uint8_t *)global->data + (whole ? 0 : shard.bytes * c->id);
        c->io.in_file[i] = file;
        if (rk_check_operand(e, &c->io, i, &rerr))
            die(rerr.status, "%s (chip %u's %s)", rerr.msg, c->id,
                whole ? "copy" : "shard");
    }
}

int run_slice(const run_kernel_args *a, const vtpu_config *cfg,
              const slice_args *s, const slice_comm *comm)
{
    char err[512];
    slice_state st = {.a = a, .s = s, .comm = comm};
    vtpu_topology topo;
    int32_t *scalars = NULL;
    vtpu_rt_launch l = {0};

    if (vtpu_topology_parse(s->topology, &topo, err, sizeof(err)))
        die(EXIT_USAGE, "--topology %s: %s", s->topology, err);
    st.n = vtpu_topology_size(&topo);
    st.lo = 0;
    st.hi = st.n;
    if (comm)
        comm->chips(comm->ctx, st.n, &st.lo, &st.hi);
    unsigned nl = st.hi - st.lo;
    pthread_mutex_init(&st.lock, NULL);
    pthread_cond_init(&st.cond, NULL);

    rk_parse_launch_opts(a, &l, &scalars);
    l.collective = 1;
    char *elf;
    size_t len;
    bool elf_mapped;
    if (rk_read_file(a->module, &elf, &len, &elf_mapped, err, sizeof(err)))
        die(EXIT_LOAD, "%s", err);

    st.fabric = vtpu_fabric_new(&topo, err, sizeof(err));
    if (!st.fabric)
        die(EXIT_USAGE, "--topology %s: %s", s->topology, err);
    st.chips = g_new0(slice_chip, nl ? nl : 1);
    for (unsigned k = 0; k < nl; k++)
        open_chip(&st, &st.chips[k], st.lo + k, cfg);
    if (comm && comm->attach(comm->ctx, st.fabric, err, sizeof(err)))
        die(EXIT_FAULT, "%s", err);

    size_t slen;
    void *stripped = vtpu_module_strip_debug(elf, len, &slen);
    for (unsigned k = 0; k < nl; k++) {
        slice_chip *c = &st.chips[k];
        c->mod = g_new0(vtpu_module, 1);
        if ((!stripped ||
             vtpu_rt_module_load(&c->rt, c->mod, stripped, slen)) &&
            vtpu_rt_module_load(&c->rt, c->mod, elf, len))
            die(EXIT_LOAD, "%s: chip %u: %s", a->module, c->id,
                vtpu_rt_error(&c->rt));
    }
    free(stripped);
    rk_error rerr;
    uint32_t kidx = 0;
    if (nl &&
        rk_find_kernel(st.chips[0].mod, a->module, a->kernel, &kidx, &rerr))
        die(rerr.status, "%s", rerr.msg);
    l.kernel = kidx;
    const vtpu_kernel_entry *e = nl ? &st.chips[0].mod->kernels[kidx] : NULL;
    if (!e)
        die(EXIT_USAGE, "--topology %s: rank %u holds no chip", s->topology,
            comm ? comm->rank : 0);

    /* Operands: inputs in order to IN/INOUT, -o files to OUT/INOUT. */
    unsigned nops = 0, nin = 0, nout = 0;
    while (nops < VTPU_MAX_OPERANDS &&
           e->operands[nops].role != VTPU_ROLE_NONE) {
        nin += (e->operands[nops].role & VTPU_ROLE_IN) != 0;
        nout += (e->operands[nops].role & VTPU_ROLE_OUT) != 0;
        nops++;
    }
    unsigned nouts = 0, nshapes = 0;
    while (a->outputs && a->outputs[nouts])
        nouts++;
    while (a->out_shapes && a->out_shapes[nshapes])
        nshapes++;
    if (nin != a->ninputs || nout != nouts)
        die(EXIT_USAGE,
            "kernel '%s' takes %u input file%s and %u -o file%s, got %u and "
            "%u",
            e->name, nin, nin == 1 ? "" : "s", nout, nout == 1 ? "" : "s",
            a->ninputs, nouts);
    if (nshapes > nout)
        die(EXIT_USAGE, "%u --out-shape options for %u outputs", nshapes, nout);
    vtpu_npy global[VTPU_MAX_OPERANDS] = {{0}};
    void *outbuf[VTPU_MAX_OPERANDS] = {0};
    uint64_t outbytes[VTPU_MAX_OPERANDS] = {0};
    for (unsigned k = 0; k < nl; k++)
        st.chips[k].io.nops = nops;
    unsigned fi = 0, fo = 0;
    for (unsigned i = 0; i < nops; i++) {
        uint8_t r = e->operands[i].role;
        if (r & VTPU_ROLE_IN) {
            bool whole = replicated(s, fi, a->ninputs);
            bind_input(&st, e, i, fi, a->inputs[fi], whole, &global[i]);
            fi++;
        }
        if (r & VTPU_ROLE_OUT) {
            const char *spec = fo < nshapes ? a->out_shapes[fo] : NULL;
            vtpu_npy given;
            if (spec && !strcmp(spec, "auto"))
                spec = NULL;
            rk_parse_out_shape(spec, &given);
            for (unsigned k = 0; k < nl; k++) {
                slice_chip *c = &st.chips[k];
                c->io.out_file[i] = a->outputs[fo];
                if (r == VTPU_ROLE_OUT &&
                    rk_output_shape(e, &c->io, i, fo, &given, &rerr))
                    die(rerr.status, "%s", rerr.msg);
                if (rk_check_operand(e, &c->io, i, &rerr))
                    die(rerr.status, "%s", rerr.msg);
                vtpu_npy *arr = &c->io.arr[i];
                size_t el = 1;
                for (unsigned d = 0; d < arr->rank; d++)
                    el *= arr->shape[d];
                arr->bytes = el * vtpu_dtype_size(arr->dtype);
                if (!k) {
                    outbytes[i] = arr->bytes;
                    outbuf[i] = g_malloc0((size_t)outbytes[i] * st.n + 1);
                }
                if (arr->bytes != outbytes[i])
                    die(EXIT_USAGE,
                        "%s: chip %u's output is %zu bytes, chip %u's %llu "
                        "(every chip's shard must have the same shape)",
                        a->outputs[fo], c->id, arr->bytes, st.lo,
                        (unsigned long long)outbytes[i]);
                if (r == VTPU_ROLE_OUT) {
                    arr->data = (uint8_t *)outbuf[i] + outbytes[i] * c->id;
                } else if (!c->own_data[i]) {
                    /* in/out, in place: over a private copy of its input
                     * (a per-chip file's data is private already) */
                    arr->data = g_memdup2(arr->data, arr->bytes);
                    c->own_data[i] = true;
                }
            }
            fo++;
        }
    }
    for (unsigned k = 0; k < nl; k++) {
        slice_chip *c = &st.chips[k];
        c->l = l;
        c->io.hbm_ptr = hbm_ptr;
        c->io.hbm_ctx = c;
        c->io.before_run = same_offsets;
        c->io.ctx = c;
    }

    /* The launch: one thread per local chip. */
    gint64 t0 = g_get_monotonic_time();
    for (unsigned k = 0; k < nl; k++)
        if (pthread_create(&st.chips[k].thread, NULL, chip_thread,
                           &st.chips[k]))
            die(EXIT_FAULT, "cannot start chip %u's thread", st.lo + k);
    join_chips(&st);
    gint64 us = g_get_monotonic_time() - t0;

    bool ok = !st.failed;
    char why[1024] = "";
    int grc =
        comm ? comm->finish(comm->ctx, ok, why, sizeof(why)) : (ok ? 0 : -1);
    fflush(stdout);
    if (s->dbg.stats)
        for (unsigned k = 0; k < nl; k++)
            print_stats(&st.chips[k]);
    if (grc) {
        char onrank[32] = "";
        if (comm)
            snprintf(onrank, sizeof(onrank), " on rank %u", comm->rank);
        /* the chip that faulted says why; the chips its fault stopped
         * say so (their runtime only sees a run without a result) */
        int first = vtpu_fabric_first_fault(st.fabric);
        for (unsigned k = 0; k < nl; k++) {
            slice_chip *c = &st.chips[k];
            if (!c->rc)
                continue;
            if (first >= 0 && (unsigned)first != c->id)
                fprintf(stderr,
                        "vtpu-run: chip %u%s: stopped by chip %d's "
                        "fault\n",
                        c->id, onrank, first);
            else if (first < 0 && why[0])
                fprintf(stderr, "vtpu-run: chip %u%s: stopped\n", c->id,
                        onrank);
            else
                fprintf(stderr, "vtpu-run: chip %u%s: %s\n", c->id, onrank,
                        c->err.msg);
        }
        if (why[0])
            fprintf(stderr, "vtpu-run: rank %u: stopped by %s\n",
                    comm ? comm->rank : 0, why);
        for (unsigned k = 0; k < nl; k++)
            vtpu_chip_set_trace(vtpu_host_chip(st.chips[k].host), NULL, NULL,
                                0);
        fflush(NULL);
        if (comm)
            comm->end(comm->ctx, EXIT_FAULT);
        _exit(EXIT_FAULT);
    }

    /* Outputs: chip c's shard at c * bytes; rank 0 writes the files. */
    fo = 0;
    for (unsigned i = 0; i < nops; i++) {
        uint8_t r = e->operands[i].role;
        if (!(r & VTPU_ROLE_OUT))
            continue;
        const char *file = a->outputs[fo++];
        if (r == VTPU_ROLE_INOUT)
            for (unsigned k = 0; k < nl; k++)
                memcpy((uint8_t *)outbuf[i] + outbytes[i] * st.chips[k].id,
                       st.chips[k].io.arr[i].data, outbytes[i]);
        vtpu_npy out = st.chips[0].io.arr[i];
        if (per_chip(file)) {
            for (unsigned k = 0; k < nl; k++) {
                char *name = chip_name(file, st.chips[k].id);
                out.data = (uint8_t *)outbuf[i] + outbytes[i] * st.chips[k].id;
                out.bytes = outbytes[i];
                if (vtpu_npy_write(&out, name, err, sizeof(err)))
                    die(EXIT_FILE, "%s", err);
                g_free(name);
            }
            continue;
        }
        if (comm && comm->gather(comm->ctx, outbuf[i], outbytes[i], st.n))
            die(EXIT_FAULT, "%s: gathering the chips' outputs failed", file);
        if (comm && comm->rank)
            continue;
        out.shape[0] *= st.n;
        out.data = outbuf[i];
        out.bytes = outbytes[i] * st.n;
        if (vtpu_npy_write(&out, file, err, sizeof(err)))
            die(EXIT_FILE, "%s", err);
    }

    /* The launch's time: the slowest local chip's vtpu_rt_run; over MPI
     * the smallest of the ranks' (the last rank to reach the launch
     * barrier waited least for the others). */
    double launch_ms = 0;
    for (unsigned k = 0; k < nl; k++)
        if ((double)st.chips[k].us / 1000.0 > launch_ms)
            launch_ms = (double)st.chips[k].us / 1000.0;
    if (comm)
        launch_ms = comm->min_all(comm->ctx, launch_ms);
    if (!a->quiet && (!comm || !comm->rank)) {
        char tname[64], ranks[48] = "";
        vtpu_topology_format(&topo, tname, sizeof(tname));
        if (comm)
            snprintf(ranks, sizeof(ranks), " over %u ranks", comm->nranks);
        printf("%s: slice %s (%u chips%s), grid on each chip as given, "
               "launch %.3f ms, %.3f ms with uploads and downloads\n",
               e->name, tname, st.n, ranks, launch_ms, (double)us / 1000.0);
    }

    for (unsigned k = 0; k < nl; k++) {
        slice_chip *c = &st.chips[k];
        vtpu_chip_set_trace(vtpu_host_chip(c->host), NULL, NULL, 0);
        vtpu_rt_module_unload(&c->rt, c->mod);
        vtpu_rt_fini(&c->rt);
        vtpu_drv_fini(&c->drv);
        vtpu_fabric_detach(st.fabric, c->id);
    }
    for (unsigned k = 0; k < nl; k++) {
        slice_chip *c = &st.chips[k];
        vtpu_host_free(c->host);
        g_free(c->mod);
        for (unsigned i = 0; i < nops; i++) {
            if (c->own_data[i])
                g_free(c->io.arr[i].data);
            if (c->own_name[i])
                g_free((char *)c->io.in_file[i]);
        }
    }
    for (unsigned i = 0; i < nops; i++) {
        vtpu_npy_free(&global[i]);
        g_free(outbuf[i]);
    }
    g_free(st.chips);
    vtpu_fabric_free(st.fabric);
    if (elf_mapped)
        munmap(elf, len);
    else
        free(elf);
    free(scalars);
    return 0;
}
