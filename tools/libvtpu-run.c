/*
 * libvtpu-run.c - vtpu-run's kernel mode as a library (libvtpu-run.h):
 * the in-process chip, host platform, ring driver and runtime of
 * vtpu-run.c's host_dev, with errors returned instead of exiting, and
 * the launch steps of run-kernel.c on the caller's arrays.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "host_platform.h"
#include "libvtpu-run.h"
#include "module-image.h"
#include "run-kernel.h"
#include "vtpu-debug.h"
#include "vtpu.h"

#define MAX_MODULES 16
#define OUTPUT_KEEP (64 * 1024) /* bytes of each stream kept per launch */

/* What the TCs wrote during the last launch (fd 1, fd 2), kept for the
 * caller and, unless quiet, forwarded to this process's stdout/stderr. */
typedef struct captured {
    pthread_mutex_t lock;
    int quiet;
    char *buf[2];
    size_t len[2];
} captured;

struct vtpu_run_chip {
    vtpu_config cfg;
    vtpu_host *host;
    vtpu_drv drv;
    vtpu_rt rt;
    int rt_up, drv_up;
    int trace; /* a trace file is open */
    vtpu_module *mod[MAX_MODULES];
    char *mod_path[MAX_MODULES];
    /* per module, per kernel: its operands' pl.Element padding (from the
     * kernel's extension record, read at load; zeros without one) */
    vtpu_operand_pad (*mod_pad[MAX_MODULES])[VTPU_MAX_OPERANDS];
    rk_error err;
    captured out;
    char *report; /* vtpu_run_report() */
};

_Static_assert(sizeof(((vtpu_run_stats *)0)->tc_steps) / sizeof(uint32_t) ==
                   VTPU_RT_MAX_TCS,
               "vtpu_run_stats.tc_steps covers every TC");

int vtpu_run_version(void)
{
    return VTPU_RUN_API_VERSION;
}

static int ok(vtpu_run_chip *c)
{
    c->err.status = 0;
    c->err.msg[0] = 0;
    return 0;
}

static int fail(vtpu_run_chip *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(vtpu_run_chip *c, int status, const char *fmt, ...)
{
    va_list ap;
    c->err.status = status;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof(c->err.msg), fmt, ap);
    va_end(ap);
    return status;
}

/* vtpu_output_fn: called from the TCs' threads. */
static void on_output(void *opaque, unsigned tc, int fd, const char *buf,
                      size_t len)
{
    captured *o = opaque;
    unsigned k = fd == 2;
    (void)tc;

    pthread_mutex_lock(&o->lock);
    if (!o->quiet) {
        fwrite(buf, 1, len, k ? stderr : stdout);
        fflush(k ? stderr : stdout);
    }
    size_t n = len < OUTPUT_KEEP - o->len[k] ? len : OUTPUT_KEEP - o->len[k];
    memcpy(o->buf[k] + o->len[k], buf, n);
    o->len[k] += n;
    o->buf[k][o->len[k]] = 0;
    pthread_mutex_unlock(&o->lock);
}

static void output_reset(captured *o)
{
    pthread_mutex_lock(&o->lock);
    for (unsigned k = 0; k < 2; k++) {
        o->len[k] = 0;
        o->buf[k][0] = 0;
    }
    pthread_mutex_unlock(&o->lock);
}

/* The debugging aids and options that are not chip properties. */
static int apply_aid(vtpu_run_chip *c, const char *key, const char *val)
{
    vtpu_chip *chip = vtpu_host_chip(c->host);
    char err[256];

    if (!strcmp(key, "dma-order")) {
        vtpu_dma_order order;
        uint64_t seed;
        if (vtpu_dma_order_parse(val, &order, &seed, err, sizeof(err)))
            return fail(c, VTPU_RUN_EUSAGE, "dma-order %s", err);
        vtpu_chip_set_dma_order(chip, order, seed);
    } else if (!strcmp(key, "trace")) {
        if (vtpu_chip_set_trace(chip, val, err, sizeof(err)))
            return fail(c, VTPU_RUN_EFILE, "trace: %s", err);
        c->trace = 1;
    } else if (!strcmp(key, "tag-output")) {
        vtpu_chip_set_output_tags(chip,
                                  !strcmp(val, "on") || !strcmp(val, "1"));
    } else if (!strcmp(key, "quiet")) {
        c->out.quiet = !strcmp(val, "on") || !strcmp(val, "1");
    }
    return 0;
}

static int is_aid(const char *key)
{
    return !strcmp(key, "dma-order") || !strcmp(key, "trace") ||
           !strcmp(key, "tag-output") || !strcmp(key, "quiet");
}

/* Split "KEY=VALUE" into key[] and a pointer to the value. */
static int split_opt(vtpu_run_chip *c, const char *opt, char *key, size_t len,
                     const char **val)
{
    const char *eq = strchr(opt, '=');
    if (!eq || (size_t)(eq - opt) >= len)
        return fail(c, VTPU_RUN_EUSAGE, "chip option '%s': expected KEY=VALUE",
                    opt);
    memcpy(key, opt, (size_t)(eq - opt));
    key[eq - opt] = 0;
    *val = eq + 1;
    return 0;
}

static int open_chip(vtpu_run_chip *c, const char *const *opts)
{
    char key[64], err[512];
    const char *val;

    if (vtpu_config_preset(&c->cfg, NULL, err, sizeof(err)))
        return fail(c, VTPU_RUN_EUSAGE, "%s", err);
    for (const char *const *o = opts; o && *o; o++) {
        if (split_opt(c, *o, key, sizeof(key), &val))
            return c->err.status;
        if (!is_aid(key) &&
            vtpu_config_set(&c->cfg, key, val, err, sizeof(err)))
            return fail(c, VTPU_RUN_EUSAGE, "%s", err);
    }
    if (vtpu_config_validate(&c->cfg, err, sizeof(err)))
        return fail(c, VTPU_RUN_EUSAGE, "%s", err);

    /* HBM in huge pages (host_platform.h): far fewer page faults. */
    vtpu_host_opts ho = {.hbm_hugepages = true};
    c->host = vtpu_host_new(&c->cfg, &ho, err, sizeof(err));
    if (!c->host)
        return fail(c, VTPU_RUN_EUSAGE, "%s", err);
    int rc = vtpu_drv_probe(&c->drv, vtpu_host_platform(c->host));
    if (!rc)
        rc = vtpu_drv_init(&c->drv, 0);
    if (rc)
        return fail(c, VTPU_RUN_EFAULT, "driver: %s", vtpu_drv_strerror(rc));
    c->drv_up = 1;
    if (vtpu_rt_init(&c->rt, &c->drv, NULL))
        return fail(c, VTPU_RUN_EFAULT, "runtime: %s", vtpu_rt_error(&c->rt));
    c->rt_up = 1;
    vtpu_chip_set_output(vtpu_host_chip(c->host), on_output, &c->out);

    for (const char *const *o = opts; o && *o; o++) {
        split_opt(c, *o, key, sizeof(key), &val);
        if (is_aid(key) && apply_aid(c, key, val))
            return c->err.status;
    }
    return ok(c);
}

vtpu_run_chip *vtpu_run_open(const char *const *opts, char *err, size_t errlen)
{
    vtpu_run_chip *c = calloc(1, sizeof(*c));
    if (c) {
        pthread_mutex_init(&c->out.lock, NULL);
        c->out.buf[0] = malloc(OUTPUT_KEEP + 1);
        c->out.buf[1] = malloc(OUTPUT_KEEP + 1);
    }
    if (!c || !c->out.buf[0] || !c->out.buf[1]) {
        snprintf(err, errlen, "out of memory");
        vtpu_run_close(c);
        return NULL;
    }
    output_reset(&c->out);
    if (open_chip(c, opts)) {
        snprintf(err, errlen, "%s", c->err.msg);
        vtpu_run_close(c);
        return NULL;
    }
    return c;
}

void vtpu_run_close(vtpu_run_chip *c)
{
    if (!c)
        return;
    for (unsigned m = 0; m < MAX_MODULES; m++) {
        if (c->mod[m])
            vtpu_rt_module_unload(&c->rt, c->mod[m]);
        free(c->mod[m]);
        free(c->mod_path[m]);
        free(c->mod_pad[m]);
    }
    if (c->trace) /* completes the file */
        vtpu_chip_set_trace(vtpu_host_chip(c->host), NULL, NULL, 0);
    if (c->rt_up)
        vtpu_rt_fini(&c->rt);
    if (c->drv_up)
        vtpu_drv_fini(&c->drv);
    vtpu_host_free(c->host);
    pthread_mutex_destroy(&c->out.lock);
    free(c->out.buf[0]);
    free(c->out.buf[1]);
    free(c->report);
    free(c);
}

const char *vtpu_run_error(const vtpu_run_chip *c)
{
    return c->err.msg;
}

const char *vtpu_run_report(vtpu_run_chip *c)
{
    const char *err = c->out.buf[1];
    size_t n = strlen(c->err.msg) + strlen(err) + 2;
    char *r = realloc(c->report, n);
    if (!r)
        return c->err.msg;
    snprintf(r, n, "%s%s%s", c->err.msg, *err && *c->err.msg ? "\n" : "", err);
    c->report = r;
    return r;
}

const char *vtpu_run_output(const vtpu_run_chip *c, int fd)
{
    return c->out.buf[fd == 2];
}

int vtpu_run_status(const vtpu_run_chip *c)
{
    return c->err.status;
}

int vtpu_run_num_tcs(const vtpu_run_chip *c)
{
    return (int)c->cfg.num_tcs;
}

static const vtpu_module *module_of(const vtpu_run_chip *c, int m)
{
    return m >= 0 && m < MAX_MODULES ? c->mod[m] : NULL;
}

int vtpu_run_load(vtpu_run_chip *c, const char *path, int *module)
{
    int m = 0;
    while (m < MAX_MODULES && c->mod[m])
        m++;
    if (m == MAX_MODULES)
        return fail(c, VTPU_RUN_ELOAD, "%s: %d modules are loaded already",
                    path, MAX_MODULES);

    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(c, VTPU_RUN_ELOAD, "%s: %s", path, strerror(errno));
    char *elf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            char *p = realloc(elf, cap);
            if (!p)
                break;
            elf = p;
        }
        size_t got = fread(elf + len, 1, cap - len, f);
        len += got;
        if (!got)
            break;
    }
    int bad = ferror(f) || !elf;
    fclose(f);
    if (bad) {
        free(elf);
        return fail(c, VTPU_RUN_ELOAD, "%s: cannot read it", path);
    }

    vtpu_module *mod = calloc(1, sizeof(*mod));
    char *name = strdup(path);
    /* Without its debug information (module-image.h), else as it is. */
    size_t slen;
    void *stripped = vtpu_module_strip_debug(elf, len, &slen);
    int loaded = mod && name && stripped &&
                 !vtpu_rt_module_load(&c->rt, mod, stripped, slen);
    free(stripped);
    if (!mod || !name ||
        (!loaded && vtpu_rt_module_load(&c->rt, mod, elf, len))) {
        free(elf);
        free(mod);
        free(name);
        return fail(c, VTPU_RUN_ELOAD, "%s: %s", path,
                    mod && name ? vtpu_rt_error(&c->rt) : "out of memory");
    }
    /* Padding for describing the kernels (vtpu_run_padding); a record
     * this library cannot read leaves zeros: the TC runtime is the one
     * that refuses it, at launch, with its own message. */
    vtpu_operand_pad(*pad)[VTPU_MAX_OPERANDS] =
        calloc(mod->num_kernels, sizeof(*pad));
    for (uint32_t k = 0; pad && k < mod->num_kernels; k++) {
        vtpu_kernel_ext x;
        if (!vtpu_module_kernel_ext(elf, len, &mod->kernels[k], &x, NULL, 0) &&
            (x.flags & VTPU_KEXT_F_PAD))
            memcpy(pad[k], x.pad, sizeof(pad[k]));
    }
    free(elf);
    if (!pad) {
        vtpu_rt_module_unload(&c->rt, mod);
        free(mod);
        free(name);
        return fail(c, VTPU_RUN_ELOAD, "%s: out of memory", path);
    }
    c->mod[m] = mod;
    c->mod_path[m] = name;
    c->mod_pad[m] = pad;
    *module = m;
    return ok(c);
}

int vtpu_run_num_kernels(const vtpu_run_chip *c, int module)
{
    const vtpu_module *mod = module_of(c, module);
    return mod ? (int)mod->num_kernels : 0;
}

const char *vtpu_run_kernel_name(const vtpu_run_chip *c, int module, int kernel)
{
    const vtpu_module *mod = module_of(c, module);
    if (!mod || kernel < 0 || (uint32_t)kernel >= mod->num_kernels)
        return NULL;
    return mod->kernels[kernel].name;
}

/* The module and kernel entry for a call; NULL after fail(). */
static const vtpu_kernel_entry *entry_of(vtpu_run_chip *c, int module,
                                         int kernel)
{
    const vtpu_module *mod = module_of(c, module);
    if (!mod) {
        fail(c, VTPU_RUN_EUSAGE, "no module %d on this chip", module);
        return NULL;
    }
    if (kernel < 0 || (uint32_t)kernel >= mod->num_kernels) {
        fail(c, VTPU_RUN_EUSAGE, "%s: no kernel %d in the module",
             c->mod_path[module], kernel);
        return NULL;
    }
    return &mod->kernels[kernel];
}

int vtpu_run_find(vtpu_run_chip *c, int module, const char *name, int *kernel)
{
    const vtpu_module *mod = module_of(c, module);
    uint32_t i;
    if (!mod)
        return fail(c, VTPU_RUN_EUSAGE, "no module %d on this chip", module);
    if (rk_find_kernel(mod, c->mod_path[module], name, &i, &c->err))
        return c->err.status;
    *kernel = (int)i;
    return ok(c);
}

static unsigned count_operands(const vtpu_kernel_entry *e)
{
    unsigned n = 0;
    while (n < VTPU_MAX_OPERANDS && e->operands[n].role != VTPU_ROLE_NONE)
        n++;
    return n;
}

int vtpu_run_operands(vtpu_run_chip *c, int module, int kernel,
                      vtpu_run_operand *ops, unsigned *n)
{
    const vtpu_kernel_entry *e = entry_of(c, module, kernel);
    if (!e)
        return c->err.status;
    unsigned nops = count_operands(e);
    for (unsigned i = 0; i < nops && i < *n; i++) {
        const vtpu_operand_spec *o = &e->operands[i];
        ops[i] = (vtpu_run_operand){o->role, o->space, o->dtype, o->rank, {0}};
        memcpy(ops[i].block, o->block, sizeof(ops[i].block));
    }
    *n = nops;
    return ok(c);
}

int vtpu_run_padding(vtpu_run_chip *c, int module, int kernel, unsigned op,
                     uint32_t *lo, uint32_t *hi)
{
    const vtpu_kernel_entry *e = entry_of(c, module, kernel);
    if (!e)
        return c->err.status;
    if (op >= count_operands(e))
        return fail(c, VTPU_RUN_EUSAGE, "kernel '%s' has no operand %u",
                    e->name, op);
    const vtpu_operand_pad *p = &c->mod_pad[module][kernel][op];
    memcpy(lo, p->lo, sizeof(p->lo));
    memcpy(hi, p->hi, sizeof(p->hi));
    return ok(c);
}

/* Names for messages: "input 1" is the second array the caller gave
 * for an input (positional arguments in Python), "output 0" the first
 * result. */
typedef struct io_names {
    char in[VTPU_MAX_OPERANDS][16], out[VTPU_MAX_OPERANDS][16];
} io_names;

/* The caller's arrays as run-kernel.c's kernel_io (sharing their data),
 * every input checked against the kernel. */
static int bind(vtpu_run_chip *c, const vtpu_kernel_entry *e,
                const vtpu_run_array *arrays, unsigned n, kernel_io *io,
                io_names *names)
{
    unsigned nin = 0, nout = 0;

    memset(io, 0, sizeof(*io));
    io->nops = count_operands(e);
    io->noun = "array";
    io->shape_opt = "out_shape";
    if (n != io->nops)
        return fail(c, VTPU_RUN_EUSAGE, "kernel '%s' has %u operands, got %u",
                    e->name, io->nops, n);
    for (unsigned i = 0; i < n; i++) {
        const vtpu_run_array *a = &arrays[i];
        uint8_t r = e->operands[i].role;
        if (a->rank > VTPU_NPY_MAX_RANK)
            return fail(c, VTPU_RUN_EUSAGE, "operand %u: rank %u (at most %d)",
                        i, a->rank, VTPU_NPY_MAX_RANK);
        io->arr[i].dtype = a->dtype;
        io->arr[i].rank = a->rank;
        memcpy(io->arr[i].shape, a->shape, sizeof(a->shape));
        io->arr[i].data = a->data;
        io->arr[i].bytes = (size_t)a->bytes;
        if (r & VTPU_ROLE_IN) {
            snprintf(names->in[i], sizeof(names->in[i]), "input %u", nin++);
            io->in_file[i] = names->in[i];
            if (rk_check_operand(e, io, i, &c->err))
                return c->err.status;
        }
        if (r & VTPU_ROLE_OUT) {
            snprintf(names->out[i], sizeof(names->out[i]), "output %u", nout++);
            io->out_file[i] = names->out[i];
        }
    }
    return 0;
}

/* kernel_io.hbm_ptr: arrays copied straight between the caller's memory
 * and HBM, unless a check must see the host's writes (poison, race):
 * then through the driver, as the device sees them. */
static void *hbm_ptr(void *ctx, uint64_t hbm, uint64_t len)
{
    vtpu_run_chip *c = ctx;
    if (c->cfg.poison || c->cfg.race || hbm > c->cfg.hbm_size ||
        len > c->cfg.hbm_size - hbm)
        return NULL;
    return (uint8_t *)vtpu_chip_hbm_ptr(vtpu_host_chip(c->host)) + hbm;
}

static uint64_t npy_bytes(const vtpu_npy *a)
{
    uint64_t n = vtpu_dtype_size(a->dtype);
    for (unsigned d = 0; d < a->rank; d++)
        n *= a->shape[d];
    return n;
}

int vtpu_run_shape(vtpu_run_chip *c, int module, int kernel,
                   vtpu_run_array *arrays, unsigned n)
{
    const vtpu_kernel_entry *e = entry_of(c, module, kernel);
    kernel_io io;
    io_names names;

    if (!e || bind(c, e, arrays, n, &io, &names))
        return c->err.status;
    for (unsigned i = 0, nth = 0; i < n; i++) {
        if (io.in_file[i])
            continue;
        vtpu_npy given = io.arr[i];
        if (rk_output_shape(e, &io, i, nth++, &given, &c->err) ||
            rk_check_operand(e, &io, i, &c->err))
            return c->err.status;
        vtpu_run_array *a = &arrays[i];
        a->dtype = io.arr[i].dtype;
        a->rank = io.arr[i].rank;
        memcpy(a->shape, io.arr[i].shape, sizeof(a->shape));
        a->bytes = npy_bytes(&io.arr[i]);
    }
    return ok(c);
}

int vtpu_run_kernel(vtpu_run_chip *c, int module, int kernel,
                    const vtpu_run_launch *l, vtpu_run_array *arrays,
                    unsigned n, vtpu_run_stats *st)
{
    const vtpu_kernel_entry *e = entry_of(c, module, kernel);
    kernel_io io;
    io_names names;
    vtpu_rt_launch rl;
    vtpu_rt_stats rs;
    int64_t us = 0;

    if (!e || bind(c, e, arrays, n, &io, &names))
        return c->err.status;
    for (unsigned i = 0; i < n; i++)
        if (!io.in_file[i] && rk_check_operand(e, &io, i, &c->err))
            return c->err.status;
    if (l->grid_rank > VTPU_MAX_GRID_DIMS)
        return fail(c, VTPU_RUN_EUSAGE, "grid of rank %u (at most %d)",
                    l->grid_rank, VTPU_MAX_GRID_DIMS);

    memset(&rl, 0, sizeof(rl));
    rl.kernel = (uint32_t)kernel;
    rl.num_tcs = l->num_tcs;
    rl.grid_rank = l->grid_rank;
    for (unsigned d = 0; d < l->grid_rank; d++) {
        rl.grid[d] = l->grid[d];
        rl.semantics[d] = (uint8_t)l->semantics[d];
    }
    rl.num_scalars = l->num_scalars;
    rl.scalars = l->scalars;
    rl.check_flags = l->check_flags;

    memset(&rs, 0, sizeof(rs));
    io.hbm_ptr = hbm_ptr;
    io.hbm_ctx = c;
    output_reset(&c->out);
    int rc = rk_launch(&c->rt, c->mod[module], &rl, &io, &rs, &us, &c->err);
    if (st) {
        memset(st, 0, sizeof(*st));
        st->num_tcs = rs.num_tcs;
        st->steps = rs.steps;
        st->blocks_in = rs.blocks_in;
        st->blocks_out = rs.blocks_out;
        st->bytes_in = rs.bytes_in;
        st->bytes_out = rs.bytes_out;
        st->launch_ns = (uint64_t)us * 1000;
        st->failed_tc = -1;
        for (unsigned t = 0; t < rs.num_tcs && t < VTPU_RT_MAX_TCS; t++) {
            st->tc_steps[t] = rs.tc[t].steps;
            st->busy_tcs += rs.tc[t].steps != 0;
            if (st->failed_tc < 0 && rs.tc[t].code) {
                st->failed_tc = (int32_t)t;
                st->failed_code = rs.tc[t].code;
            }
        }
    }
    return rc ? c->err.status : ok(c);
}
