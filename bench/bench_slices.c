/*
 * bench_slices.c - all-reduce bus bandwidth of a 2-chip slice run by
 * vtpu-run --topology 2: in one process, and over 2 MPI ranks
 * (mpirun -np 2, one chip per rank, the ICI fabric over MPI:
 * tools/fabric-mpi.c), both measured in this run on the same files.
 * NCCL's bus bandwidth: 2 (n - 1) / n * S / t, S the bytes per chip (64
 * MiB), t vtpu-run's launch time (its summary line: vtpu_rt_run of the
 * slowest chip; over MPI the smallest of the ranks', the launch barrier
 * included).  Goal: MPI at least half the in-process figure.  Both runs'
 * output files must be bit-identical, and equal to the sum (small
 * integers: every order of the sum is exact).
 *
 *   bench_slices [--quick]      JSON lines on stdout
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *msg)
{
    fprintf(stderr, "bench_slices: %s\n", msg);
    exit(1);
}

/* A (rows, 128) f32 .npy file. */
static void write_npy(const char *path, const float *x, uint32_t rows)
{
    char hdr[128];
    int n = snprintf(hdr, sizeof(hdr),
                     "{'descr': '<f4', 'fortran_order': False, 'shape': "
                     "(%u, 128), }",
                     rows);
    while ((10 + n + 1) % 64)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write the input file");
    uint16_t hl = (uint16_t)n;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hl, 2, 1, f);
    fwrite(hdr, 1, (size_t)n, f);
    fwrite(x, 4, (size_t)rows * 128, f);
    if (fclose(f))
        die("cannot write the input file");
}

/* Run cmd; the "launch X ms" of its summary line, best of reps. */
static double launch_ms(const char *cmd, unsigned reps)
{
    double best = -1;
    for (unsigned r = 0; r < reps; r++) {
        FILE *p = popen(cmd, "r");
        char line[1024];
        double ms = -1;
        if (!p)
            die("popen failed");
        while (fgets(line, sizeof(line), p)) {
            const char *l = strstr(line, ", launch ");
            if (l)
                ms = atof(l + 9);
        }
        if (pclose(p) != 0 || ms < 0) {
            fprintf(stderr, "bench_slices: failed: %s\n", cmd);
            exit(1);
        }
        if (best < 0 || ms < best)
            best = ms;
    }
    return best;
}

static int same_file(const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    const size_t S = quick ? (1u << 20) : (64u << 20); /* bytes per chip */
    const unsigned n = 2, reps = quick ? 1 : 3;
    uint32_t rows = (uint32_t)(S / 512);
    char dir[] = "/tmp/bench_slices.XXXXXX";
    char x[256], o1[256], o2[256], cmd[4096];

    if (!mkdtemp(dir))
        die("mkdtemp failed");
    snprintf(x, sizeof(x), "%s/x.npy", dir);
    snprintf(o1, sizeof(o1), "%s/o1.npy", dir);
    snprintf(o2, sizeof(o2), "%s/o2.npy", dir);
    float *v = malloc(S * n);
    if (!v)
        die("out of memory");
    uint64_t s = 14;
    for (size_t i = 0; i < S * n / 4; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)((int)((s >> 33) % 64) - 32);
    }
    write_npy(x, v, rows * n);

    const char *common = "--topology 2 --gen v5e --set hbm-size=1G "
                         "--grid 1 --dims parallel";
    snprintf(cmd, sizeof(cmd), "%s %s %s all_reduce_f32 %s -o %s",
             BENCH_VTPU_RUN, common, BENCH_KERNELS_ELF, x, o1);
    double t_in = launch_ms(cmd, reps);
    double bus_in = 2.0 * (n - 1) / n * (double)S / (t_in / 1e3) / 1e9;

    /* check: the sum of the two chips' blocks, on both */
    FILE *f = fopen(o1, "rb");
    float *o = malloc(S * n);
    unsigned char pre[10];
    if (!f || !o || fread(pre, 1, 10, f) != 10 ||
        fseek(f, 10 + (pre[8] | pre[9] << 8), SEEK_SET) ||
        fread(o, 1, S * n, f) != S * n)
        die("cannot read the in-process output");
    fclose(f);
    for (size_t i = 0; i < S / 4; i++)
        if (o[i] != v[i] + v[S / 4 + i] || o[S / 4 + i] != o[i])
            die("in-process all-reduce: wrong sum");

    double t_mpi = -1, bus_mpi = -1;
    int identical = 0;
    if (access(BENCH_MPIRUN, X_OK) == 0) {
        snprintf(cmd, sizeof(cmd),
                 "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                 "timeout 600 %s -np 2 --oversubscribe --bind-to none "
                 "--mca btl self,vader %s %s %s all_reduce_f32 %s -o %s",
                 BENCH_MPIRUN, BENCH_VTPU_RUN, common, BENCH_KERNELS_ELF, x,
                 o2);
        t_mpi = launch_ms(cmd, reps);
        bus_mpi = 2.0 * (n - 1) / n * (double)S / (t_mpi / 1e3) / 1e9;
        identical = same_file(o1, o2);
        if (!identical)
            die("the MPI run's output differs from the in-process run's");
    }
    printf("{\"bench\":\"slices\",\"workload\":\"all_reduce_f32\","
           "\"chips\":%u,\"ranks\":2,\"bytes_per_chip\":%zu,"
           "\"inproc_ms\":%.3f,\"inproc_busbw_gbs\":%.3f,"
           "\"mpi_ms\":%.3f,\"mpi_busbw_gbs\":%.3f,"
           "\"mpi_over_inproc\":%.3f,\"goal\":0.5,\"identical\":%s}\n",
           n, S, t_in, bus_in, t_mpi, bus_mpi,
           bus_mpi > 0 ? bus_mpi / bus_in : -1.0, identical ? "true" : "false");
    unlink(x);
    unlink(o1);
    unlink(o2);
    rmdir(dir);
    free(v);
    free(o);
    return 0;
}
