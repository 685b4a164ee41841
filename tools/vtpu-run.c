/*
 * vtpu-run - run programs and kernels on an emulated vtpu chip, without
 * QEMU.  Two modes:
 *
 *   vtpu-run --bare PROG.elf [--gen G] [--cores N] [-o key=value]...
 *
 * loads an RV32 ELF (linked to the map of docs/architecture.md: code in
 * IMEM, data in SMEM), runs it on every TC, forwards what it prints and
 * exits with its exit code.  Exit status: the program's exit code (first
 * non-zero of any TC, modulo 256 as on Linux); 125 when the run faulted
 * (the report goes to stderr); 126 when the program cannot be loaded;
 * 2 for a usage error.
 *
 *   vtpu-run MODULE.elf KERNEL [--grid 512[,4...]] IN.npy... -o OUT.npy...
 *
 * runs one launch of a kernel through the real driver and runtime
 * (driver/vtpu_rt.h) over the in-process host platform, with operands
 * read from and written to NumPy .npy files (docs/vtpu-run.md).  Exit
 * status: 0; 1 for a file that cannot be read or written; 2 for a usage
 * error (including operands that do not fit the kernel); 125 when the
 * launch failed; 126 when the module cannot be loaded.
 *
 * With --bare, --save-at POINT writes a snapshot of the chip (HBM too) to
 * --snapshot FILE when the run gets there, and the run goes on;
 * vtpu-run --restore FILE continues a saved run (also under --gdb).
 * docs/vtpu-run.md, "Snapshots".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cli.h"
#include "debug-opts.h"
#include "gdbstub.h"
#include "host_platform.h"
#include "run-kernel.h"
#include "vtpu-snapshot.h"
#include "slice-run.h"
#include "vtpu.h"
#ifdef VTPU_HAVE_MPI
#include "fabric-mpi.h"
#endif


static gchar *opt_bare;
static gchar *opt_gen;
static gint opt_cores;
static gchar **opt_set;
static gchar **opt_out; /* -o: outputs (kernel mode), properties (--bare) */
static gchar **opt_args;
static gint64 opt_budget = -1;
static gboolean opt_race, opt_poison; /* checks (docs/debugging.md) */
static gboolean opt_no_bounds;        /* the buffer bounds check is on */
static gchar *opt_buffer_bounds;      /* "padded" (default) or "logical" */
static gboolean opt_verbose;
static gchar *opt_gdb; /* --gdb [HOST:]PORT (docs/debugging.md) */
static gchar *opt_grid;
static gchar *opt_dims;
static gchar **opt_scalar;
static gchar *opt_scalar_file;
static gchar **opt_out_shape;
static gboolean opt_quiet;
static gchar *opt_dma_order;
static gchar *opt_trace;
static gboolean opt_stats;
static gboolean opt_tag;
static gchar *opt_grid_order;
static gboolean opt_revisit;
static gchar *opt_save_at;   /* insn:[TC:]N or fault */
static gchar *opt_snapshot;  /* where --save-at writes */
static gchar *opt_restore;   /* a snapshot to continue */
static gchar *opt_topology;   /* --topology: a slice (slice-run.h) */
static gchar **opt_replicate; /* --replicate I: input I whole on each chip */

static gboolean print_props(const gchar *name, const gchar *value,
                            gpointer data, GError **error)
{
    (void)name;
    (void)value;
    (void)data;
    (void)error;
    const char *help;
    printf("Chip properties for --set KEY=VALUE (also -o KEY=VALUE with "
           "--bare;\nsizes take K, M, G, T):\n");
    printf("  %-12s %s\n", "gen", "generation preset: v4, v5e, v5p, v6e "
                                  "(resets every other property)");
    for (unsigned i = 0; vtpu_config_help(i, &help); i++)
        printf("  %-12s %s\n", vtpu_config_help(i, NULL), help);
    exit(0);
}

static const GOptionEntry entries[] = {
    {"bare", 0, 0, G_OPTION_ARG_FILENAME, &opt_bare,
     "Run the RV32 ELF program PROG on every TC", "PROG.elf"},
    {"gen", 'g', 0, G_OPTION_ARG_STRING, &opt_gen,
     "Chip generation preset: v4, v5e, v5p (default), v6e", "G"},
    {"cores", 'c', 0, G_OPTION_ARG_INT, &opt_cores,
     "Number of TensorCores (default: the preset's)", "N"},
    {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_set,
     "Override a chip property, e.g. --set vmem-size=16M (repeatable; "
     "--help-props lists them)",
     "KEY=VALUE"},
    {"output", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &opt_out,
     "Kernel mode: the .npy file for the next output operand (repeatable, "
     "in operand order).  With --bare: the same as --set",
     "FILE"},
    {"grid", 0, 0, G_OPTION_ARG_STRING, &opt_grid,
     "Kernel mode: grid extents, e.g. 512 or 4,2,8; sI takes an extent "
     "from scalar I at launch (default: one step)",
     "N[,N...]"},
    {"dims", 0, 0, G_OPTION_ARG_STRING, &opt_dims,
     "Kernel mode: semantics per grid dimension, parallel or arbitrary "
     "(default: all arbitrary, as in Pallas; leading parallel dimensions "
     "are split across the TCs)",
     "S[,S...]"},
    {"scalar", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_scalar,
     "Kernel mode: scalar-prefetch values, int32 (repeatable)",
     "V[,V...]"},
    {"scalar-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_scalar_file,
     "Kernel mode: more scalar-prefetch values, after the --scalar ones: "
     "a 1-D int32/uint32 .npy file",
     "FILE.npy"},
    {"out-shape", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_out_shape,
     "Kernel mode: shape (and dtype) of the next output, e.g. 1024,128 or "
     "i32:1024,128; 'auto' keeps the kernel's declared shape (repeatable, "
     "in output order)",
     "[DT:]N[,N...]"},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet,
     "Kernel mode: do not print the summary line", NULL},
    {"insn-budget", 0, 0, G_OPTION_ARG_INT64, &opt_budget,
     "Watchdog: stop a TC after N instructions (0 = off)", "N"},
    {"race", 0, 0, G_OPTION_ARG_NONE, &opt_race,
     "Detect data races between TCs and DMAs (the run stops at the first, "
     "reporting both accesses); same as --set race=on",
     NULL},
    {"poison", 0, 0, G_OPTION_ARG_NONE, &opt_poison,
     "Fill VMEM/SMEM with NaN and report the first read of never-written "
     "memory by a vector load or DMA; same as --set poison=on",
     NULL},
    {"no-check-bounds", 0, 0, G_OPTION_ARG_NONE, &opt_no_bounds,
     "Do not report kernel vector loads/stores and DMAs that leave the TC "
     "runtime's buffer they started in (on by default; same as --set "
     "bounds=off)",
     NULL},
    {"buffer-bounds", 0, 0, G_OPTION_ARG_STRING, &opt_buffer_bounds,
     "padded: a kernel's read of an edge block's padding (past the end of "
     "the array) reads what the padded tile holds, 0 (default); logical: "
     "it is reported (Pallas interpret mode's buffer bounds; same as --set "
     "bounds=logical)",
     "MODE"},
    {"arg", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &opt_args,
     "Value for a2..a5 at entry, in order (repeatable, up to 4)", "VALUE"},
    {"gdb", 0, 0, G_OPTION_ARG_STRING, &opt_gdb,
     "Serve the GDB remote protocol for the TCs on [HOST:]PORT (default "
     "host 127.0.0.1) and wait for gdb before running; the TCs start "
     "stopped at the entry",
     "PORT"},
    {"dma-order", 0, 0, G_OPTION_ARG_STRING, &opt_dma_order,
     "When DMAs copy: eager (at dma.start, the default), on-wait (when "
     "their semaphore is waited on, at a barrier or exit), random[:SEED] "
     "(queued, completed in a seeded random order)",
     "ORDER"},
    {"trace", 0, 0, G_OPTION_ARG_FILENAME, &opt_trace,
     "Write a timeline trace (Chrome/Perfetto JSON) of the run to FILE",
     "FILE"},
    {"stats", 0, 0, G_OPTION_ARG_NONE, &opt_stats,
     "Print per-TC counters (instructions, vector/MXU ops, DMA bytes, time "
     "blocked) to stderr after the run",
     NULL},
    {"tag-output", 0, 0, G_OPTION_ARG_NONE, &opt_tag,
     "Prefix each line a kernel prints with [TC n (grid point)]", NULL},
    {"grid-order", 0, 0, G_OPTION_ARG_STRING, &opt_grid_order,
     "Kernel mode: order of each TC's parallel grid points: lexicographic "
     "(default) or shuffle[:SEED] (seeded random; SEED 0..65535)",
     "ORDER"},
    {"check-revisit", 0, 0, G_OPTION_ARG_NONE, &opt_revisit,
     "Kernel mode: fail when an output block comes back after it was "
     "written back (a non-consecutive revisit)",
     NULL},
    {"save-at", 0, 0, G_OPTION_ARG_STRING, &opt_save_at,
     "With --bare: save the chip (registers, memories, HBM) to the "
     "--snapshot file when the run reaches POINT, then go on.  POINT is "
     "insn:[TC:]N (TC, default 0, has retired N instructions: saved at the "
     "first taken branch or ecall from there) or fault (just before the "
     "first fault, which then happens as usual)",
     "POINT"},
    {"snapshot", 0, 0, G_OPTION_ARG_FILENAME, &opt_snapshot,
     "The file --save-at writes (default vtpu-run.snap)", "FILE"},
    {"restore", 0, 0, G_OPTION_ARG_FILENAME, &opt_restore,
     "Continue the run saved in FILE (by --save-at) on a chip of the same "
     "configuration: its program, output and exit status are the saved "
     "run's.  With --gdb the TCs wait for the debugger where they stopped; "
     "--race/--poison/--insn-budget may differ from the saved run",
     "FILE"},
    {"topology", 0, 0, G_OPTION_ARG_STRING, &opt_topology,
     "Kernel mode: run the kernel on every chip of a slice of this shape "
     "(e.g. 8, 2x2, 2x2x2, v5p-16) as one collective launch; inputs are "
     "split over the chips along their first dimension, outputs "
     "concatenated (docs/vtpu-run.md, \"Slices\"); under mpirun the "
     "chips are spread over the ranks",
     "SPEC"},
    {"replicate", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_replicate,
     "Kernel mode with --topology: give input file I (0 = the first) "
     "whole to every chip instead of splitting it (repeatable, or "
     "I,J,...)",
     "I[,I...]"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
     "Print a summary (instructions per TC, exit codes) to stderr", NULL},
    {"help-props", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK,
     (gpointer)print_props, "List the chip properties for --set", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static void set_props(vtpu_config *cfg, gchar **props)
{
    char err[256];
    for (gchar **s = props; s && *s; s++) {
        char *eq = strchr(*s, '=');
        if (!eq)
            die(EXIT_USAGE, "--set %s: expected KEY=VALUE", *s);
        *eq = 0;
        if (vtpu_config_set(cfg, *s, eq + 1, err, sizeof(err)))
            die(EXIT_USAGE, "--set: %s", err);
    }
}

/* The chip: --gen, then --set (and, with --bare, -o), then --cores. */
static void build_config(vtpu_config *cfg, gboolean bare)
{
    char err[256];
    if (vtpu_config_preset(cfg, opt_gen, err, sizeof(err)))
        die(EXIT_USAGE, "--gen: %s", err);
    cfg->bounds = 1; /* costs nothing measurable (bench bounds_*) */
    set_props(cfg, opt_set);
    if (bare)
        set_props(cfg, opt_out);
    if (opt_cores) {
        if (opt_cores < 1 || opt_cores > VTPU_MAX_TCS)
            die(EXIT_USAGE, "--cores %d: must be between 1 and %d",
                opt_cores, VTPU_MAX_TCS);
        cfg->num_tcs = (uint32_t)opt_cores;
    }
    if (opt_budget >= 0)
        cfg->insn_budget = (uint64_t)opt_budget;
    if (opt_race)
        cfg->race = 1;
    if (opt_poison)
        cfg->poison = 1;
    if (opt_buffer_bounds) {
        if (!strcmp(opt_buffer_bounds, "logical"))
            cfg->bounds = VTPU_BOUNDS_LOGICAL;
        else if (!strcmp(opt_buffer_bounds, "padded"))
            cfg->bounds = VTPU_BOUNDS_PADDED;
        else
            die(EXIT_USAGE, "--buffer-bounds %s: padded or logical",
                opt_buffer_bounds);
    }
    if (opt_no_bounds)
        cfg->bounds = 0;
    if (vtpu_config_validate(cfg, err, sizeof(err)))
        die(EXIT_USAGE, "%s", err);
}

/* --gdb: serve the debugger and wait for it to attach (docs/debugging.md). */
static vtpu_gdb *start_gdb(vtpu_chip *chip)
{
    char err[256];
    vtpu_gdb *g = vtpu_gdb_start(
        chip, opt_gdb, VTPU_GDB_STOP_AT_START | VTPU_GDB_ONE_RUN, err,
        sizeof(err));
    if (!g)
        die(EXIT_USAGE, "--gdb: %s", err);
    fprintf(stderr, "vtpu-run: waiting for gdb on port %d\n",
            vtpu_gdb_port(g));
    vtpu_gdb_wait_attach(g, -1);
    return g;
}

/* --save-at: where, and what happened there. */
typedef struct save_point {
    uint32_t tc;   /* VTPU_PAUSE_FAULT for "fault" */
    uint64_t insns;
    const char *path;
    bool saved, failed;
} save_point;

static void parse_save_at(const vtpu_config *cfg, save_point *sp)
{
    const char *p = opt_save_at;
    char *end;

    sp->path = opt_snapshot ? opt_snapshot : "vtpu-run.snap";
    if (!strcmp(p, "fault")) {
        sp->tc = VTPU_PAUSE_FAULT;
        return;
    }
    if (strncmp(p, "insn:", 5))
        goto bad;
    p += 5;
    errno = 0;
    unsigned long long a = strtoull(p, &end, 0);
    if (errno || end == p || *p == '-')
        goto bad;
    if (*end == ':') {
        const char *q = end + 1;
        errno = 0;
        unsigned long long n = strtoull(q, &end, 0);
        if (errno || end == q || *end || *q == '-')
            goto bad;
        if (a >= cfg->num_tcs)
            die(EXIT_USAGE, "--save-at %s: TC %llu, the chip has %u TCs",
                opt_save_at, a, cfg->num_tcs);
        sp->tc = (uint32_t)a;
        sp->insns = n;
        return;
    }
    if (*end)
        goto bad;
    sp->tc = 0;
    sp->insns = a;
    return;
bad:
    die(EXIT_USAGE,
        "--save-at %s: expected insn:N, insn:TC:N (TC 0.. has retired N "
        "instructions) or fault",
        opt_save_at);
}

/* On a TC's thread, every TC quiesced (vtpu_chip_set_pause). */
static void save_now(void *opaque, vtpu_chip *chip, unsigned tc)
{
    save_point *sp = opaque;
    char err[512];
    vtpu_tc_status st;

    vtpu_chip_tc_status(chip, tc, &st);
    if (vtpu_chip_save_file(chip, VTPU_SNAP_HBM, sp->path, err,
                            sizeof(err))) {
        fprintf(stderr, "vtpu-run: --save-at: %s\n", err);
        sp->failed = true;
        return;
    }
    sp->saved = true;
    fprintf(stderr,
            "vtpu-run: saved the chip to %s: TC %u at pc 0x%08x after %llu "
            "instructions%s (continue with --restore %s)\n",
            sp->path, tc, st.pc, (unsigned long long)st.instret,
            sp->tc == VTPU_PAUSE_FAULT ? ", just before its fault" : "",
            sp->path);
}

/* What a bare or restored run prints and returns. */
static int bare_status(const vtpu_config *cfg, const char *what, int rc,
                       vtpu_run_result *res, vtpu_gdb *gdb)
{
    char err[512];

    fflush(stdout);
    debug_opts_finish();
    if (gdb && vtpu_gdb_killed(gdb))
        fprintf(stderr, "vtpu-run: killed from the debugger\n");
    if (opt_verbose) {
        for (unsigned i = 0; i < cfg->num_tcs; i++)
            fprintf(stderr, "vtpu-run: TC %u: exit %d, %llu instructions\n",
                    i, res->tc_exit[i], (unsigned long long)res->instret[i]);
    }
    int status;
    if (rc) {
        vtpu_error_format(&res->error, err, sizeof(err));
        fprintf(stderr, "vtpu-run: %s: %s\n", what, err);
        status = EXIT_FAULT;
    } else {
        status = res->exit_code & 0xff;
    }
    if (gdb && vtpu_gdb_killed(gdb))
        status = EXIT_FAULT;
    return status;
}

/* --restore FILE: the chip of the snapshot's configuration (--race,
 * --poison, --insn-budget and the others on top), loaded, resumed. */
static int run_restore(void)
{
    char err[512];
    vtpu_config cfg;

    if (vtpu_snap_file_config(opt_restore, &cfg, err, sizeof(err)))
        die(EXIT_FILE, "--restore: %s", err);
    if (opt_gen || opt_set || opt_out || opt_cores)
        fprintf(stderr, "vtpu-run: --restore: the chip's configuration comes "
                        "from the snapshot; other values must agree\n");
    if (opt_gen && vtpu_config_preset(&cfg, opt_gen, err, sizeof(err)))
        die(EXIT_USAGE, "--gen: %s", err);
    set_props(&cfg, opt_set);
    set_props(&cfg, opt_out);
    if (opt_cores)
        cfg.num_tcs = (uint32_t)opt_cores;
    if (opt_budget >= 0)
        cfg.insn_budget = (uint64_t)opt_budget;
    if (opt_race)
        cfg.race = 1;
    if (opt_poison)
        cfg.poison = 1;
    if (opt_no_bounds)
        cfg.bounds = 0;
    if (vtpu_config_validate(&cfg, err, sizeof(err)))
        die(EXIT_USAGE, "%s", err);
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        die(EXIT_USAGE, "%s", err);
    if (vtpu_chip_load_file(chip, VTPU_SNAP_HBM, opt_restore, err,
                            sizeof(err))) {
        vtpu_chip_free(chip);
        die(EXIT_FILE, "--restore %s: %s", opt_restore, err);
    }
    if (!vtpu_chip_run_pending(chip)) {
        vtpu_chip_free(chip);
        die(EXIT_FILE, "--restore %s: the snapshot holds no run in progress",
            opt_restore);
    }
    vtpu_gdb *gdb = opt_gdb ? start_gdb(chip) : NULL;
    debug_opts_apply(chip, &(debug_opts){opt_dma_order, opt_trace,
                                         opt_stats, opt_tag});
    vtpu_run_result res;
    int rc = vtpu_chip_run_resume(chip, &res);
    int status = bare_status(&cfg, opt_restore, rc, &res, gdb);
    vtpu_gdb_free(gdb);
    vtpu_chip_free(chip);
    return status;
}

static int run_bare(const vtpu_config *cfg)
{
    char err[512];
    gchar *elf;
    gsize len;
    GError *gerr = NULL;
    vtpu_run_opts opts = {0};

    unsigned nargs = 0;
    for (gchar **a = opt_args; a && *a; a++) {
        if (nargs == 4)
            die(EXIT_USAGE, "--arg: at most 4 values (a2..a5)");
        if (parse_u32(*a, &opts.args[nargs++]))
            die(EXIT_USAGE, "--arg %s: not a 32-bit integer", *a);
    }
    if (!g_file_get_contents(opt_bare, &elf, &len, &gerr))
        die(EXIT_LOAD, "%s", gerr->message);

    vtpu_chip *chip = vtpu_chip_new(cfg, err, sizeof(err));
    if (!chip)
        die(EXIT_USAGE, "%s", err);
    if (vtpu_chip_load_elf(chip, elf, len, err, sizeof(err))) {
        vtpu_chip_free(chip);
        g_free(elf);
        die(EXIT_LOAD, "%s: %s", opt_bare, err);
    }
    g_free(elf);

    vtpu_gdb *gdb = opt_gdb ? start_gdb(chip) : NULL;
    vtpu_run_result res;
    debug_opts_apply(chip, &(debug_opts){opt_dma_order, opt_trace,
                                         opt_stats, opt_tag});
    save_point sp = {0};
    if (opt_save_at) {
        parse_save_at(cfg, &sp);
        vtpu_chip_set_pause(chip, sp.tc, sp.insns, save_now, &sp);
    }
    int rc = vtpu_chip_run(chip, &opts, &res);
    int status = bare_status(cfg, opt_bare, rc, &res, gdb);
    if (opt_save_at && !sp.saved && !sp.failed)
        fprintf(stderr, "vtpu-run: --save-at %s: the run ended before it "
                        "got there; nothing saved\n",
                opt_save_at);
    if (opt_save_at && !sp.saved)
        status = EXIT_FILE;
    vtpu_gdb_free(gdb);
    vtpu_chip_free(chip);
    return status;
}

/* Kernel mode's device: a chip in this process, the host platform, the
 * ring driver and the runtime over it (run-kernel.h). */
typedef struct host_dev {
    const vtpu_config *cfg;
    vtpu_host *host;
    vtpu_drv drv;
    vtpu_rt rt;
    vtpu_gdb *gdb;
} host_dev;

static vtpu_rt *host_open(void *ctx)
{
    host_dev *k = ctx;
    char err[512];

    /* HBM in huge pages: a (4096, 128) f32 operand is one page fault, not
     * 512 (docs/vtpu-run.md, "Where the time goes"). */
    vtpu_host_opts ho = {.hbm_hugepages = true};
    k->host = vtpu_host_new(k->cfg, &ho, err, sizeof(err));
    if (!k->host)
        die(EXIT_USAGE, "%s", err);
    int rc = vtpu_drv_probe(&k->drv, vtpu_host_platform(k->host));
    if (!rc)
        rc = vtpu_drv_init(&k->drv, 0);
    if (rc)
        die(EXIT_FAULT, "driver: %s", vtpu_drv_strerror(rc));
    if (vtpu_rt_init(&k->rt, &k->drv, NULL))
        die(EXIT_FAULT, "runtime: %s", vtpu_rt_error(&k->rt));
    debug_opts_apply(vtpu_host_chip(k->host),
                     &(debug_opts){opt_dma_order, opt_trace, opt_stats,
                                   opt_tag});
    if (opt_gdb) { /* docs/debugging.md: the launch waits for gdb */
        k->gdb = vtpu_gdb_start(vtpu_host_chip(k->host), opt_gdb,
                                VTPU_GDB_STOP_AT_START | VTPU_GDB_ONE_RUN, err,
                                sizeof(err));
        if (!k->gdb)
            die(EXIT_USAGE, "--gdb: %s", err);
        fprintf(stderr, "vtpu-run: waiting for gdb on port %d\n",
                vtpu_gdb_port(k->gdb));
        vtpu_gdb_wait_attach(k->gdb, -1);
        vtpu_drv_set_timeout(&k->drv, UINT64_C(1) << 62); /* no time limit */
    }
    return &k->rt;
}

/* run_kernel_dev.hbm_ptr: files go straight between HBM and the page
 * cache, unless a check must see the host's writes (poison tracks which
 * HBM bytes the host wrote; race, whose accesses happen before the run):
 * then they go through the driver's copies, which the device sees. */
static void *host_hbm_ptr(void *ctx, uint64_t hbm, uint64_t len)
{
    host_dev *k = ctx;
    if (k->cfg->poison || k->cfg->race || hbm > k->cfg->hbm_size ||
        len > k->cfg->hbm_size - hbm)
        return NULL;
    return (uint8_t *)vtpu_chip_hbm_ptr(vtpu_host_chip(k->host)) + hbm;
}

static void host_finish(void *ctx)
{
    (void)ctx;
    debug_opts_finish();
}

static void host_close(void *ctx)
{
    host_dev *k = ctx;
    vtpu_rt_fini(&k->rt);
    vtpu_drv_fini(&k->drv);
    vtpu_gdb_free(k->gdb);
    vtpu_host_free(k->host);
    g_free(k);
}

int main(int argc, char **argv)
{
    GError *gerr = NULL;
    const slice_comm *comm = NULL;
#ifdef VTPU_HAVE_MPI
    /* under mpirun: every rank runs its block of the slice's chips */
    if (fabric_mpi_launched())
        comm = fabric_mpi_init(&argc, &argv);
#else
    /* several copies would each run the whole slice and race on the
     * output files */
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    if (ws && atoi(ws) > 1)
        die(EXIT_USAGE, "started by mpirun, but this vtpu-run was built "
                        "without MPI (install libopenmpi-dev and rebuild; "
                        "docs/vtpu-run.md)");
#endif
    GOptionContext *ctx = g_option_context_new("- run programs on vtpu");
    g_option_context_set_summary(
        ctx,
        "Runs RV32IMF+Xtpu programs and kernels on an emulated vtpu chip.\n\n"
        "  vtpu-run --bare PROG.elf [--gen G] [--cores N] [-o KEY=VALUE]...\n"
        "           [--save-at POINT [--snapshot FILE]]\n"
        "      runs PROG on every TC.  Exit status: the program's exit code;\n"
        "      125 if it faulted (report on stderr); 126 if it could not be\n"
        "      loaded; 2 for usage errors; 1 if --save-at saved nothing.\n\n"
        "  vtpu-run --restore FILE [--gdb PORT] [--race] [--poison]\n"
        "      continues the run --save-at saved in FILE; exit status as\n"
        "      --bare's, 1 for a snapshot that cannot be read or loaded.\n\n"
        "  vtpu-run MODULE.elf KERNEL [--grid N[,N...]] [--dims S[,S...]]\n"
        "           [--scalar V,...] [--scalar-file S.npy] IN.npy...\n"
        "           -o OUT.npy... [--out-shape ...]\n"
        "      runs one launch of KERNEL through the driver and runtime.\n"
        "      Input files go to the kernel's input (and in/out) operands in\n"
        "      order, -o files to its output (and in/out) operands in order;\n"
        "      an output's shape is the one the kernel declares (like an\n"
        "      input's), else --out-shape must give it.  Prints one summary\n"
        "      line (kernel, grid,\n"
        "      TCs, launch time, bytes moved).  Exit status: 0; 1 for a file\n"
        "      that cannot be read or written; 2 for usage errors; 125 if the\n"
        "      launch failed; 126 if the module could not be loaded.\n"
        "      docs/vtpu-run.md has the details.\n\n"
        "  vtpu-run --topology SPEC [--replicate I] MODULE.elf KERNEL ...\n"
        "  mpirun -np R vtpu-run --topology SPEC MODULE.elf KERNEL ...\n"
        "      runs the launch on every chip of a slice (SPEC: 8, 2x2,\n"
        "      2x2x2, v5p-16, ...) as one collective launch: inputs split\n"
        "      along their first dimension over the chips (or whole with\n"
        "      --replicate, or one file per chip with %d in the name),\n"
        "      outputs concatenated in chip order.  Under mpirun each rank\n"
        "      runs a contiguous block of the chips (docs/multichip.md).");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr))
        die(EXIT_USAGE, "%s (try --help)", gerr->message);
    g_option_context_free(ctx);

    vtpu_config cfg;
    if (opt_restore) {
        if (opt_bare || argc > 1)
            die(EXIT_USAGE, "--restore: the snapshot holds the program; give "
                            "no --bare or module (try --help)");
        if (opt_save_at)
            die(EXIT_USAGE, "--restore and --save-at: one at a time");
        return run_restore();
    }
    if (opt_save_at && !opt_bare)
        die(EXIT_USAGE, "--save-at works with --bare programs (kernel mode "
                        "cannot be saved yet)");
    if (opt_snapshot && !opt_save_at)
        die(EXIT_USAGE, "--snapshot names the file of --save-at");
    if (opt_bare) {
        if (argc > 1)
            die(EXIT_USAGE, "unexpected argument '%s' (try --help)", argv[1]);
        build_config(&cfg, TRUE);
        return run_bare(&cfg);
    }
    if (argc < 3)
        die(EXIT_USAGE, "nothing to run: give --bare PROG.elf or MODULE.elf "
                        "KERNEL (try --help)");
    build_config(&cfg, FALSE);
    if (comm && !opt_topology && comm->nranks > 1)
        die(EXIT_USAGE, "under mpirun (%u ranks) give --topology: the "
                        "ranks run the chips of one slice",
            comm->nranks);
    if (opt_replicate && !opt_topology)
        die(EXIT_USAGE, "--replicate: only with --topology");
    run_kernel_args ka = {
        .module = argv[1],
        .kernel = argv[2],
        .inputs = argv + 3,
        .ninputs = (unsigned)argc - 3,
        .outputs = opt_out,
        .grid = opt_grid,
        .dims = opt_dims,
        .scalars = opt_scalar,
        .scalar_file = opt_scalar_file,
        .out_shapes = opt_out_shape,
        .quiet = opt_quiet,
        .grid_order = opt_grid_order,
        .check_revisit = opt_revisit,
    };
    if (opt_topology) {
        if (opt_gdb)
            die(EXIT_USAGE, "--gdb: not with --topology (one chip only)");
        slice_args sa = {
            .topology = opt_topology,
            .replicate = opt_replicate,
            .dbg = {opt_dma_order, opt_trace, opt_stats, opt_tag},
            .hugepages = true,
        };
        int rc = run_slice(&ka, &cfg, &sa, comm);
        if (comm)
            comm->end(comm->ctx, rc);
        return rc;
    }
    /* Big objects (the runtime's segment table) live on the heap. */
    host_dev *k = g_new0(host_dev, 1);
    k->cfg = &cfg;
    run_kernel_dev dev = {k, host_open, host_finish, host_close,
                          host_hbm_ptr};
    return run_kernel(&ka, &dev);
}
