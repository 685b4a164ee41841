/*
 * bench_process.c - the fixed costs around a kernel (issue 16), each
 * against a baseline measured in the same run.  Two JSON lines:
 *
 * {"bench":"process","workload":"vtpu_run_add_sin_f32",...}
 *   `vtpu-run kernels.elf add_sin_f32 --grid 512 -q x.npy y.npy -o o.npy`
 *   on (4096,128) f32 files, the whole process (spawn to exit), against
 *   native-add-sin, a native C process doing the same math on the same
 *   files (read, glibc sinf loop, write).  Runs alternate between the two
 *   (and --old's binary) so that a load change hits all of them; medians
 *   of wall time, CPU time and minor page faults (wait4's rusage), and of
 *   the launch time vtpu-run prints (the kernel alone).  --old PATH (or
 *   $BENCH_OLD_VTPU_RUN) adds a previous build of vtpu-run as a second
 *   baseline; its output must be the same bytes.
 *
 * {"bench":"limits","workload":"seed_8x128_limits",...}
 *   the seed workload (grid 512 of (8,128) f32 blocks, 2 TCs, through
 *   libvtpu-run: the launch time the runtime measures) against the
 *   host's limits for the same bytes and math: a memcpy of the bytes the
 *   launch moves (4 MiB in, 2 MiB out) and the math alone, vectorised
 *   (seed_simd.c: libmvec's sinf, 8 lanes with AVX2), plus glibc's scalar
 *   sinf loop (bench_kernels' native baseline).  vs_memcpy and vs_simd
 *   are how far vtpu is from each limit (medians; best_* the fastest
 *   runs, less distorted by a loaded machine).
 *
 * Usage: bench_process [--quick] [--old VTPU_RUN] [--reps N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "libvtpu-run.h"
#include "seed_simd.h"
#include "vtpu-launch.h"

extern char **environ;

#define ROWS 4096
#define COLS 128
#define N ((size_t)ROWS * COLS)

/* After median(): the fastest. */
static double best(const double *t)
{
    return t[0];
}

static void die(const char *fmt, const char *what)
{
    fprintf(stderr, "bench_process: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    exit(1);
}

/* A (ROWS, COLS) '<f4' .npy file as NumPy writes it (header padded to 64). */
static void save(const char *path, const float *v)
{
    char hdr[118];
    int n = snprintf(hdr, sizeof(hdr),
                     "{'descr': '<f4', 'fortran_order': False, 'shape': "
                     "(%d, %d), }",
                     ROWS, COLS);
    memset(hdr + n, ' ', sizeof(hdr) - (size_t)n - 1);
    hdr[sizeof(hdr) - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             sizeof(hdr) & 0xff, sizeof(hdr) >> 8};
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(pre, 1, 10, f) != 10 ||
        fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr) ||
        fwrite(v, 4, N, f) != N || fclose(f))
        die("cannot write %s", path);
}

/* The data of an output file (the 128-byte header skipped). */
static float *load_out(const char *path)
{
    float *v = malloc(N * 4);
    FILE *f = fopen(path, "rb");
    if (!v || !f || fseek(f, 128, SEEK_SET) || fread(v, 4, N, f) != N)
        die("cannot read the output %s", path);
    fclose(f);
    return v;
}

/* One run of a process: wall time, CPU time, minor faults, status. */
typedef struct proc_run {
    double wall, cpu, minflt;
    int status;
} proc_run;

/* Run argv in `dir` with stdout to `out`; the child's rusage is its own. */
static proc_run run_proc(char *const *argv, const char *dir, const char *out)
{
    posix_spawn_file_actions_t fa;
    proc_run r = {0};
    pid_t pid;
    int st;
    struct rusage ru;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    double t0 = now();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ))
        die("cannot run %s", argv[0]);
    if (wait4(pid, &st, 0, &ru) != pid)
        die("wait4 failed for %s", argv[0]);
    r.wall = now() - t0;
    posix_spawn_file_actions_destroy(&fa);
    r.cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    r.minflt = (double)ru.ru_minflt;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

/* The launch time vtpu-run's summary line gives ("..., 12.345 ms, ..."). */
static double launch_ms(const char *path)
{
    char line[512];
    double ms = NAN;
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    if (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, " ms, ");
        if (p) {
            while (p > line && p[-1] != ' ')
                p--;
            ms = strtod(p, NULL);
        }
    }
    fclose(f);
    return ms;
}

typedef struct series {
    double wall[256], cpu[256], minflt[256], launch[256];
} series;

static void process_row(const char *dir, const char *old, unsigned reps)
{
    char x[4096], y[4096], o[4096], on[4096], oo[4096], out[4096];
    snprintf(x, sizeof(x), "%s/x.npy", dir);
    snprintf(y, sizeof(y), "%s/y.npy", dir);
    snprintf(o, sizeof(o), "%s/o.npy", dir);
    snprintf(on, sizeof(on), "%s/o_native.npy", dir);
    snprintf(oo, sizeof(oo), "%s/o_old.npy", dir);
    snprintf(out, sizeof(out), "%s/stdout.txt", dir);

    float *xv = malloc(N * 4), *yv = malloc(N * 4);
    for (size_t i = 0; i < N; i++) {
        xv[i] = rnd(-4, 4);
        yv[i] = rnd(-4, 4);
    }
    save(x, xv);
    save(y, yv);

    char *vr[] = {BENCH_VTPU_RUN, BENCH_KERNELS_ELF, "add_sin_f32", "--grid",
                  "512", "x.npy", "y.npy", "-o", "o.npy", NULL};
    char *nat[] = {BENCH_NATIVE_ADD_SIN, "x.npy", "y.npy", "o_native.npy",
                   NULL};
    char *ov[] = {(char *)old, BENCH_KERNELS_ELF, "add_sin_f32", "--grid",
                  "512", "x.npy", "y.npy", "-o", "o_old.npy", NULL};
    static series sv, sn, so;

    /* One warm-up each (page cache, dynamic loader caches). */
    run_proc(vr, dir, out);
    run_proc(nat, dir, out);
    if (old)
        run_proc(ov, dir, out);
    bool ok = true;
    for (unsigned r = 0; r < reps; r++) {
        proc_run p = run_proc(vr, dir, out);
        ok &= p.status == 0;
        sv.wall[r] = p.wall;
        sv.cpu[r] = p.cpu;
        sv.minflt[r] = p.minflt;
        sv.launch[r] = launch_ms(out) * 1e-3;
        p = run_proc(nat, dir, out);
        ok &= p.status == 0;
        sn.wall[r] = p.wall;
        sn.cpu[r] = p.cpu;
        sn.minflt[r] = p.minflt;
        if (old) {
            p = run_proc(ov, dir, out);
            ok &= p.status == 0;
            so.wall[r] = p.wall;
            so.cpu[r] = p.cpu;
            so.minflt[r] = p.minflt;
            so.launch[r] = launch_ms(out) * 1e-3;
        }
    }

    /* vtpu against the native process (the same glibc sinf: < 1e-5), and
     * the old vtpu-run: the same bytes. */
    const char *check = "ok";
    if (!ok) {
        check = "FAILED";
    } else {
        float *a = load_out(o), *b = load_out(on);
        double maxerr = 0;
        for (size_t i = 0; i < N; i++)
            maxerr = fmax(maxerr, fabs((double)a[i] - b[i]));
        if (!(maxerr < 1e-5))
            check = "MISMATCH";
        if (old) {
            float *c = load_out(oo);
            if (memcmp(a, c, N * 4))
                check = "MISMATCH_OLD";
            free(c);
        }
        free(a);
        free(b);
    }

    double s = median(sv.wall, reps), ns = median(sn.wall, reps);
    printf("{\"bench\":\"process\",\"workload\":\"vtpu_run_add_sin_f32\","
           "\"shape\":[%d,%d],\"grid\":512,\"runs\":%u,\"seconds\":%.6f,"
           "\"cpu_seconds\":%.6f,\"launch_seconds\":%.6f,"
           "\"minor_faults\":%.0f,\"native_seconds\":%.6f,"
           "\"native_cpu_seconds\":%.6f,\"native_minor_faults\":%.0f,"
           "\"ratio\":%.3f,",
           ROWS, COLS, reps, s, median(sv.cpu, reps),
           median(sv.launch, reps), median(sv.minflt, reps), ns,
           median(sn.cpu, reps), median(sn.minflt, reps), s / ns);
    if (old) {
        double os = median(so.wall, reps);
        printf("\"old_seconds\":%.6f,\"old_cpu_seconds\":%.6f,"
               "\"old_launch_seconds\":%.6f,\"old_minor_faults\":%.0f,"
               "\"speedup_vs_old\":%.2f,",
               os, median(so.cpu, reps), median(so.launch, reps),
               median(so.minflt, reps), os / s);
    }
    printf("\"goal_seconds\":0.025,\"check\":\"%s\"}\n", check);
    fflush(stdout);
    free(xv);
    free(yv);
}

static void limits_row(unsigned reps)
{
    char err[512];
    float *x = malloc(N * 4), *y = malloc(N * 4), *o = malloc(N * 4),
          *ref = malloc(N * 4), *simd = malloc(N * 4), *d = malloc(N * 4 * 3);
    for (size_t i = 0; i < N; i++) {
        x[i] = rnd(-4, 4);
        y[i] = rnd(-4, 4);
    }
    memset(o, 0, N * 4);
    memset(d, 0, N * 4 * 3);

    vtpu_run_chip *c = vtpu_run_open(NULL, err, sizeof(err));
    if (!c)
        die("libvtpu-run: %s", err);
    int mod, k;
    if (vtpu_run_load(c, BENCH_KERNELS_ELF, &mod) ||
        vtpu_run_find(c, mod, "add_sin_f32", &k))
        die("libvtpu-run: %s", vtpu_run_error(c));
    vtpu_run_array a[3] = {
        {VTPU_F32, 2, {ROWS, COLS, 0, 0}, x, N * 4},
        {VTPU_F32, 2, {ROWS, COLS, 0, 0}, y, N * 4},
        {VTPU_F32, 2, {ROWS, COLS, 0, 0}, o, N * 4},
    };
    vtpu_run_launch l = {.grid_rank = 1, .grid = {512},
                         .semantics = {VTPU_PARALLEL}};
    vtpu_run_stats st;
    double *tv = malloc(reps * sizeof(double)),
           *tm = malloc(reps * sizeof(double)),
           *ts = malloc(reps * sizeof(double)),
           *tn = malloc(reps * sizeof(double));
    const char *isa = seed_simd(x, y, simd, N); /* warm-up */
    if (vtpu_run_kernel(c, mod, k, &l, a, 3, &st))
        die("launch: %s", vtpu_run_report(c));
    for (unsigned r = 0; r < reps; r++) {
        /* Interleaved, as in process_row. */
        if (vtpu_run_kernel(c, mod, k, &l, a, 3, &st))
            die("launch: %s", vtpu_run_report(c));
        tv[r] = (double)st.launch_ns * 1e-9;
        double t0 = now();
        memcpy(d, x, N * 4);         /* x in */
        memcpy(d + N, y, N * 4);     /* y in */
        memcpy(d + 2 * N, o, N * 4); /* o out */
        tm[r] = now() - t0;
        t0 = now();
        seed_simd(x, y, simd, N);
        ts[r] = now() - t0;
        t0 = now();
        for (size_t i = 0; i < N; i++)
            ref[i] = sinf((x[i] + y[i]) * 2.0f);
        tn[r] = now() - t0;
    }
    double maxerr = 0, simderr = 0;
    for (size_t i = 0; i < N; i++) {
        maxerr = fmax(maxerr, fabs((double)o[i] - ref[i]));
        simderr = fmax(simderr, fabs((double)simd[i] - ref[i]));
    }
    double s = median(tv, reps), m = median(tm, reps), v = median(ts, reps),
           n = median(tn, reps);
    /* The fastest runs too: on a shared machine the medians carry the
     * load, the best of each is the closer look at the distance. */
    double sb = best(tv), mb = best(tm), vb = best(ts);
    printf("{\"bench\":\"limits\",\"workload\":\"seed_8x128_limits\","
           "\"grid\":512,\"block\":[8,128],\"tcs\":%u,\"runs\":%u,"
           "\"bytes\":%zu,\"seconds\":%.6f,\"memcpy_seconds\":%.6f,"
           "\"memcpy_gbytes_per_s\":%.2f,\"simd_seconds\":%.6f,"
           "\"simd_isa\":\"%s\",\"scalar_seconds\":%.6f,"
           "\"vs_memcpy\":%.2f,\"vs_simd\":%.2f,\"vs_scalar\":%.3f,"
           "\"best_seconds\":%.6f,\"best_memcpy_seconds\":%.6f,"
           "\"best_simd_seconds\":%.6f,\"best_vs_memcpy\":%.2f,"
           "\"best_vs_simd\":%.2f,\"check\":\"%s\"}\n",
           st.num_tcs, reps, N * 12, s, m, (double)N * 12 / m * 1e-9, v, isa,
           n, s / m, s / v, s / n, sb, mb, vb, sb / mb, sb / vb,
           maxerr < 1e-5 && simderr < 1e-5 ? "ok" : "MISMATCH");
    fflush(stdout);
    vtpu_run_close(c);
    free(x);
    free(y);
    free(o);
    free(ref);
    free(simd);
    free(d);
    free(tv);
    free(tm);
    free(ts);
    free(tn);
}

int main(int argc, char **argv)
{
    bool quick = false;
    const char *old = getenv("BENCH_OLD_VTPU_RUN");
    unsigned reps = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--old") && i + 1 < argc)
            old = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = (unsigned)atoi(argv[++i]);
        else
            die("usage: bench_process [--quick] [--old VTPU_RUN] [--reps N]"
                "%s",
                "");
    }
    if (old && !*old)
        old = NULL;
    if (old && access(old, X_OK))
        die("--old %s: not an executable", old);
    if (!reps)
        reps = quick ? 3 : 21;
    if (reps > 256)
        reps = 256;

    char dir[] = "/tmp/vtpu-bench-process-XXXXXX";
    if (!mkdtemp(dir))
        die("cannot create %s", dir);
    process_row(dir, old, reps);
    limits_row(quick ? 3 : 31);

    const char *files[] = {"x.npy", "y.npy", "o.npy", "o_native.npy",
                           "o_old.npy", "stdout.txt"};
    char p[4096];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}
