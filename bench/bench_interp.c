/*
 * bench_interp.c - scalar-core speed: runs each RV32 workload in
 * bench/rv32/ on one TC of the engine, runs the same C compiled for the
 * host, checks both computed the same value, and prints one JSON line per
 * workload:
 *   {"bench":"interp","workload":W,"insns":N,"seconds":S,"mips":M,
 *    "native_seconds":T,"ratio":S/T,"check":"ok"}
 * Usage: bench_interp [--quick] [ELF_DIR]   (--quick: tiny scales, for CI)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench-util.h"
#include "vtpu.h"

uint32_t bench_intmix(unsigned scale);
uint32_t bench_fpmix(unsigned scale);

typedef struct {
    const char *name;
    uint32_t (*native)(unsigned scale);
    unsigned scale, quick_scale;
} workload;

static const workload workloads[] = {
    {"intmix", bench_intmix, 400, 2},
    {"fpmix", bench_fpmix, 4000, 20},
};

typedef struct {
    char buf[64];
    size_t len;
} capture;

static void on_output(void *opaque, unsigned tc, int fd, const char *buf,
                      size_t len)
{
    capture *c = opaque;
    (void)tc;
    (void)fd;
    if (len > sizeof(c->buf) - 1 - c->len)
        len = sizeof(c->buf) - 1 - c->len;
    memcpy(c->buf + c->len, buf, len);
    c->len += len;
    c->buf[c->len] = 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int run_one(const workload *w, const char *dir, bool quick)
{
    char path[1024], err[256];
    unsigned scale = quick ? w->quick_scale : w->scale;
    size_t len;

    snprintf(path, sizeof(path), "%s/bench_%s.elf", dir, w->name);
    char *elf = slurp(path, &len);
    if (!elf) {
        fprintf(stderr, "bench_interp: cannot read %s\n", path);
        return -1;
    }
    vtpu_config cfg;
    if (vtpu_config_preset(&cfg, NULL, err, sizeof(err)) < 0)
        return fprintf(stderr, "bench_interp: %s\n", err), -1;
    cfg.num_tcs = 1;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip || vtpu_chip_load_elf(chip, elf, len, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_interp: %s: %s\n", path, err);
        free(elf);
        return -1;
    }
    free(elf);
    capture cap = {.len = 0};
    vtpu_chip_set_output(chip, on_output, &cap);
    vtpu_run_opts opts = {.num_tcs = 1, .args = {scale}};
    vtpu_run_result res;
    double t0 = now();
    int rc = vtpu_chip_run(chip, &opts, &res);
    double emu = now() - t0;
    if (rc < 0) {
        vtpu_error_format(&res.error, err, sizeof(err));
        fprintf(stderr, "bench_interp: %s: %s\n", w->name, err);
        vtpu_chip_free(chip);
        return -1;
    }

    /* Native: best of three, the result kept alive through volatile. */
    volatile uint32_t native_result = 0;
    double native = 1e30;
    for (int i = 0; i < 3; i++) {
        t0 = now();
        native_result = w->native(scale);
        double t = now() - t0;
        if (t < native)
            native = t;
    }
    char want[16];
    snprintf(want, sizeof(want), "%08lx\n", (unsigned long)native_result);
    bool ok = strcmp(cap.buf, want) == 0;
    uint64_t insns = res.instret[0];
    printf("{\"bench\":\"interp\",\"workload\":\"%s\",\"scale\":%u,"
           "\"insns\":%llu,\"seconds\":%.4f,\"mips\":%.1f,"
           "\"native_seconds\":%.4f,\"ratio\":%.2f,\"check\":\"%s\"}\n",
           w->name, scale, (unsigned long long)insns, emu,
           (double)insns / emu / 1e6, native, emu / native,
           ok ? "ok" : "MISMATCH");
    fflush(stdout);
    vtpu_chip_free(chip);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *dir = BENCH_ELF_DIR;
    bool quick = false;
    int status = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else
            dir = argv[i];
    }
    for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
        if (run_one(&workloads[i], dir, quick) < 0)
            status = 1;
    return status;
}
