/*
 * native-add-sin.c - the baseline of bench_process's whole-process row:
 * what vtpu-run's `add_sin_f32` launch computes, o = sin((x + y) * 2),
 * as a plain native process on the same .npy files:
 *
 *   native-add-sin X.npy Y.npy O.npy
 *
 * reads both inputs (tools/npy.c, straight into malloc'd buffers),
 * computes with the same glibc sinf loop as bench_kernels' native seed
 * baseline, writes the output.  Exit 1 with a message on bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "vtpu-launch.h"

static void *load(vtpu_npy_file *f, const char *path)
{
    char err[512];
    if (vtpu_npy_open(f, path, err, sizeof(err))) {
        fprintf(stderr, "native-add-sin: %s\n", err);
        exit(1);
    }
    if (f->a.dtype != VTPU_F32) {
        fprintf(stderr, "native-add-sin: %s: not f32\n", path);
        exit(1);
    }
    void *p = malloc(f->a.bytes ? f->a.bytes : 1);
    if (!p || vtpu_npy_load(f, p, err, sizeof(err))) {
        fprintf(stderr, "native-add-sin: %s\n", p ? err : "out of memory");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    vtpu_npy_file fx, fy;
    char err[512];

    if (argc != 4) {
        fprintf(stderr, "usage: native-add-sin X.npy Y.npy O.npy\n");
        return 2;
    }
    float *x = load(&fx, argv[1]), *y = load(&fy, argv[2]);
    if (fx.a.bytes != fy.a.bytes) {
        fprintf(stderr, "native-add-sin: x and y differ in size\n");
        return 1;
    }
    size_t n = fx.a.bytes / 4;
    float *o = malloc(fx.a.bytes ? fx.a.bytes : 1);
    if (!o)
        return 1;
    for (size_t i = 0; i < n; i++)
        o[i] = sinf((x[i] + y[i]) * 2.0f);
    vtpu_npy out = fx.a;
    out.data = o;
    if (vtpu_npy_write(&out, argv[3], err, sizeof(err))) {
        fprintf(stderr, "native-add-sin: %s\n", err);
        return 1;
    }
    vtpu_npy_close(&fx);
    vtpu_npy_close(&fy);
    free(x);
    free(y);
    free(o);
    return 0;
}
