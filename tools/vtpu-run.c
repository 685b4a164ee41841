/*
 * vtpu-run - run programs on an emulated vtpu chip, without QEMU.
 *
 *   vtpu-run --bare PROG.elf [--gen G] [--cores N] [-o key=value]...
 *
 * loads an RV32 ELF (linked to the map of docs/architecture.md: code in
 * IMEM, data in SMEM), runs it on every TC, forwards what it prints and
 * exits with its exit code.  Exit status: the program's exit code (first
 * non-zero of any TC, modulo 256 as on Linux); 125 when the run faulted
 * (the report goes to stderr); 126 when the program cannot be loaded;
 * 2 for a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "vtpu.h"

#define EXIT_FAULT 125
#define EXIT_LOAD 126
#define EXIT_USAGE 2

static gchar *opt_bare;
static gchar *opt_gen;
static gint opt_cores;
static gchar **opt_set;
static gchar **opt_args;
static gint64 opt_budget = -1;
static gboolean opt_verbose;

static gboolean print_props(const gchar *name, const gchar *value,
                            gpointer data, GError **error)
{
    (void)name;
    (void)value;
    (void)data;
    (void)error;
    const char *help;
    printf("Chip properties for -o KEY=VALUE (sizes take K, M, G, T):\n");
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
    {"set", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &opt_set,
     "Override a chip property, e.g. -o vmem-size=16M (repeatable; "
     "--help-props lists them)",
     "KEY=VALUE"},
    {"insn-budget", 0, 0, G_OPTION_ARG_INT64, &opt_budget,
     "Watchdog: stop a TC after N instructions (0 = off)", "N"},
    {"arg", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &opt_args,
     "Value for a2..a5 at entry, in order (repeatable, up to 4)", "VALUE"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
     "Print a summary (instructions per TC, exit codes) to stderr", NULL},
    {"help-props", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK,
     (gpointer)print_props, "List the chip properties for --set", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static int die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int die(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vtpu-run: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end || v < INT32_MIN || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static void build_config(vtpu_config *cfg)
{
    char err[256];
    if (vtpu_config_preset(cfg, opt_gen, err, sizeof(err)))
        die(EXIT_USAGE, "--gen: %s", err);
    for (gchar **s = opt_set; s && *s; s++) {
        char *eq = strchr(*s, '=');
        if (!eq)
            die(EXIT_USAGE, "--set %s: expected KEY=VALUE", *s);
        *eq = 0;
        if (vtpu_config_set(cfg, *s, eq + 1, err, sizeof(err)))
            die(EXIT_USAGE, "--set: %s", err);
    }
    if (opt_cores) {
        if (opt_cores < 1 || opt_cores > VTPU_MAX_TCS)
            die(EXIT_USAGE, "--cores %d: must be between 1 and %d",
                opt_cores, VTPU_MAX_TCS);
        cfg->num_tcs = (uint32_t)opt_cores;
    }
    if (opt_budget >= 0)
        cfg->insn_budget = (uint64_t)opt_budget;
    if (vtpu_config_validate(cfg, err, sizeof(err)))
        die(EXIT_USAGE, "%s", err);
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

    vtpu_run_result res;
    int rc = vtpu_chip_run(chip, &opts, &res);
    fflush(stdout);
    if (opt_verbose) {
        for (unsigned i = 0; i < cfg->num_tcs; i++)
            fprintf(stderr, "vtpu-run: TC %u: exit %d, %llu instructions\n",
                    i, res.tc_exit[i], (unsigned long long)res.instret[i]);
    }
    int status;
    if (rc) {
        vtpu_error_format(&res.error, err, sizeof(err));
        fprintf(stderr, "vtpu-run: %s: %s\n", opt_bare, err);
        status = EXIT_FAULT;
    } else {
        status = res.exit_code & 0xff;
    }
    vtpu_chip_free(chip);
    return status;
}

int main(int argc, char **argv)
{
    GError *gerr = NULL;
    GOptionContext *ctx = g_option_context_new("- run programs on vtpu");
    g_option_context_set_summary(
        ctx, "Runs RV32IMF+Xtpu programs on an emulated vtpu chip.\n\n"
             "  vtpu-run --bare PROG.elf [--gen G] [--cores N]\n\n"
             "Exit status: the program's exit code; 125 if it faulted "
             "(report on stderr);\n126 if it could not be loaded; 2 for "
             "usage errors.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr))
        die(EXIT_USAGE, "%s (try --help)", gerr->message);
    g_option_context_free(ctx);
    if (argc > 1)
        die(EXIT_USAGE, "unexpected argument '%s' (try --help)", argv[1]);
    if (!opt_bare)
        die(EXIT_USAGE, "nothing to run: give --bare PROG.elf (try --help)");

    vtpu_config cfg;
    build_config(&cfg);
    return run_bare(&cfg);
}
