/*
 * bench_python.c - launch overhead from Python (python/vtpu over
 * libvtpu-run.so with ctypes) against the C path (the same library's
 * vtpu_run_kernel called from C), measured in the same run: this
 * program times the C path, then runs bench/bench_python.py, which
 * times the same launches through the Python package.  One JSON line
 * per workload:
 *   {"bench":"python","workload":W,"n":N,"c_us":C,"python_us":P,
 *    "ratio":P/C,"target":2.0,"check":"ok"}
 * Times are medians of single launches (inputs uploaded, outputs zeroed
 * and read back, HBM freed: everything a launch from NumPy costs), the
 * best of 3 rounds that alternate C and Python.
 * Usage: bench_python [--quick]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench-util.h"
#include "libvtpu-run.h"
#include "vtpu-launch.h"

typedef struct workload {
    const char *name;   /* JSON and bench_python.py's name */
    const char *kernel; /* in kernels.elf */
    unsigned nops;      /* operands: f32 (rows, 128), the last one out */
    uint32_t rows, grid;
} workload;

static const workload workloads[] = {
    {"launch_nop0", "nop0", 0, 0, 0},
    {"launch_nop3_8x128", "nop3", 3, 8, 1},
    {"launch_add_sin_64x128", "add_sin_f32", 3, 64, 8},
};
#define NWORK (sizeof(workloads) / sizeof(workloads[0]))

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_python: %s: %s\n", what, msg);
    exit(1);
}

/* Median microseconds per launch of w over n launches (after a warm-up). */
static double time_c(vtpu_run_chip *c, int mod, const workload *w, unsigned n)
{
    int k;
    if (vtpu_run_find(c, mod, w->kernel, &k))
        die(w->kernel, vtpu_run_error(c));
    vtpu_run_array a[3];
    float *data[3];
    memset(a, 0, sizeof(a));
    for (unsigned i = 0; i < w->nops; i++) {
        size_t elems = (size_t)w->rows * 128;
        data[i] = calloc(elems, sizeof(float));
        if (!data[i])
            die("malloc", "out of memory");
        a[i] = (vtpu_run_array){.dtype = VTPU_F32,
                                .rank = 2,
                                .shape = {w->rows, 128},
                                .data = data[i],
                                .bytes = elems * sizeof(float)};
    }
    vtpu_run_launch l = {0};
    if (w->grid) {
        l.grid_rank = 1;
        l.grid[0] = w->grid;
        l.semantics[0] = VTPU_PARALLEL;
    }
    double *t = malloc(n * sizeof(double));
    if (!t)
        die("malloc", "out of memory");
    for (unsigned i = 0; i < n + n / 10; i++) {
        double t0 = now();
        if (vtpu_run_kernel(c, mod, k, &l, a, w->nops, NULL))
            die(w->kernel, vtpu_run_error(c));
        if (i >= n / 10)
            t[i - n / 10] = now() - t0;
    }
    qsort(t, n, sizeof(double), cmp_d);
    double med = t[n / 2] * 1e6;
    free(t);
    for (unsigned i = 0; i < w->nops; i++)
        free(data[i]);
    return med;
}

/* Run bench_python.py once; py_us[i] = min(py_us[i], its median). */
static void time_python(unsigned n, double *py_us)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s' '%s' --lib '%s' --module '%s' -n %u",
             BENCH_PYTHON, BENCH_PYTHON_SCRIPT, BENCH_LIB, BENCH_KERNELS_ELF,
             n);
    FILE *p = popen(cmd, "r");
    if (!p)
        die("popen", cmd);
    char line[512];
    unsigned got = 0;
    while (fgets(line, sizeof(line), p)) {
        char name[64];
        double us;
        if (sscanf(line, "%63s %lf", name, &us) != 2)
            continue;
        for (unsigned i = 0; i < NWORK; i++) {
            if (!strcmp(name, workloads[i].name)) {
                py_us[i] = us < py_us[i] ? us : py_us[i];
                got++;
            }
        }
    }
    int st = pclose(p);
    if (st != 0 || got != NWORK) {
        fprintf(stderr,
                "bench_python: %s: exit status %d, %u of %zu "
                "workloads\n",
                cmd, st, got, NWORK);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    unsigned n = quick ? 200 : 3000, rounds = quick ? 1 : 3;
    const char *opts[] = {"gen=v4", "cores=2", NULL};
    char err[512];
    double c_us[NWORK], py_us[NWORK];

    for (unsigned i = 0; i < NWORK; i++)
        c_us[i] = py_us[i] = 1e30;
    /* Rounds alternate C and Python, each side keeping its best median:
     * the host's load (other jobs on a shared machine) comes and goes. */
    for (unsigned r = 0; r < rounds; r++) {
        vtpu_run_chip *c = vtpu_run_open(opts, err, sizeof(err));
        if (!c)
            die("open", err);
        int mod;
        if (vtpu_run_load(c, BENCH_KERNELS_ELF, &mod))
            die("load", vtpu_run_error(c));
        for (unsigned i = 0; i < NWORK; i++) {
            double us = time_c(c, mod, &workloads[i], n);
            c_us[i] = us < c_us[i] ? us : c_us[i];
        }
        vtpu_run_close(c);
        time_python(n, py_us);
    }

    for (unsigned i = 0; i < NWORK; i++) {
        double ratio = py_us[i] / c_us[i];
        printf("{\"bench\":\"python\",\"workload\":\"%s\",\"kernel\":"
               "\"%s\",\"n\":%u,\"rounds\":%u,\"c_us\":%.2f,"
               "\"python_us\":%.2f,\"ratio\":%.3f,\"target\":2.0,"
               "\"check\":\"%s\"}\n",
               workloads[i].name, workloads[i].kernel, n, rounds, c_us[i],
               py_us[i], ratio, ratio <= 2.0 ? "ok" : "over target");
    }
    return 0;
}
