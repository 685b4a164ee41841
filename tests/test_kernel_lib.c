/*
 * test_kernel_lib.c - the kernel library of kernels.elf (docs/kernels.md,
 * "Kernel library"): every kernel against a host C reference on random
 * data, at shapes that do and do not divide into blocks, on 1 and 2 TCs.
 *
 * On the harness of kernel_harness.h: arrays in HBM, a launch descriptor
 * naming a kernel by name, a run through the engine API, outputs read
 * back and compared.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "kernel_harness.h"
#include "lib_ops.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define HBM_SIZE (256ull << 20)

static int setup(void **state)
{
    alarm(300);
    *state = kt_new(HBM_SIZE, 0x2545f4914f6cdd1dull);
    return 0;
}

/* An operand of a launch: an array in HBM. */
typedef struct arr {
    uint64_t hbm;
    unsigned dtype, rank;
    uint32_t shape[4];
} arr;

static size_t arr_bytes(const arr *a)
{
    size_t n = vtpu_dtype_size(a->dtype);
    for (unsigned d = 0; d < a->rank; d++)
        n *= a->shape[d];
    return n;
}

/* A new array; `data` (may be NULL: filled with KT_SENTINEL) copied in. */
static arr new_arr(kt *t, unsigned dtype, unsigned rank, const uint32_t *shape,
                   const void *data)
{
    arr a = {.dtype = dtype, .rank = rank};
    memcpy(a.shape, shape, rank * 4);
    size_t bytes = arr_bytes(&a);
    a.hbm = hbm_alloc(t, bytes);
    if (data) {
        hbm_put(t, a.hbm, data, bytes);
    } else {
        void *s = malloc(bytes);
        assert_non_null(s);
        memset(s, KT_SENTINEL, bytes);
        hbm_put(t, a.hbm, s, bytes);
        free(s);
    }
    return a;
}

static void *get_arr(kt *t, const arr *a)
{
    size_t bytes = arr_bytes(a);
    void *p = malloc(bytes);
    assert_non_null(p);
    hbm_get(t, a->hbm, p, bytes);
    return p;
}

/* Launch `name` over `grid` (all parallel unless sem says otherwise);
 * returns the run's exit code (the runtime's VTPU_LERR_*). */
static int launch(kt *t, const char *name, unsigned grank, const uint32_t *grid,
                  const uint8_t *sem, const arr *ops, unsigned nops,
                  const int32_t *sc, unsigned nsc, unsigned ntcs)
{
    vtpu_launch L;
    launch_init(&L, kernel_index(t, name), grank, grid, sem);
    for (unsigned i = 0; i < nops; i++)
        launch_operand(&L, ops[i].hbm, ops[i].dtype, ops[i].rank, ops[i].shape);
    launch_scalars(t, &L, sc, nsc);
    return run_launch(t, &L, ntcs, NULL);
}

static void run_kernel(kt *t, const char *name, unsigned grank,
                       const uint32_t *grid, const uint8_t *sem, const arr *ops,
                       unsigned nops, const int32_t *sc, unsigned nsc,
                       unsigned ntcs)
{
    int rc = launch(t, name, grank, grid, sem, ops, nops, sc, nsc, ntcs);
    if (rc)
        fail_msg("%s: launch failed with exit code %d:\n%s", name, rc, t->out);
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ------------------------------------------------------------------ */
/* Sort                                                                  */
/* ------------------------------------------------------------------ */

/* The kernels' key order as an i32 (docs/kernels.md): f32/bf16 IEEE
 * totalOrder with every NaN the canonical +NaN; descending = not. */
static int32_t sort_key(uint32_t bits, int is_float, int desc)
{
    uint32_t u = bits;
    if (is_float) {
        if ((u & 0x7fffffffu) > 0x7f800000u)
            u = 0x7fc00000u;
        u ^= (uint32_t)((int32_t)u >> 31) & 0x7fffffffu;
    }
    return (int32_t)(desc ? ~u : u);
}

typedef struct sref {
    int32_t key;
    int32_t idx;
} sref;

static int sref_cmp(const void *a, const void *b)
{
    const sref *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

enum { SK_F32, SK_I32, SK_BF16 };

/* Random keys with many duplicates and the special values. */
static uint32_t sort_rand_key(kt *t, int kind)
{
    uint32_t r = test_rand32(&t->rng);
    if (kind == SK_I32) {
        switch (r % 8) {
        case 0:
            return 0x7fffffffu;
        case 1:
            return 0x80000000u;
        case 2:
            return test_rand32(&t->rng);
        default:
            return (uint32_t)((int32_t)(r >> 8) % 61 - 30);
        }
    }
    static const uint32_t special[] = {0x7fc00000u, 0xffc00001u, 0x7f800000u,
                                       0xff800000u, 0x00000000u, 0x80000000u,
                                       0x7fa00000u};
    uint32_t f;
    if (r % 16 == 0)
        f = special[(r >> 4) % 7];
    else if (r % 16 < 4)
        f = f2u(rnd_unit(t) * 2e6f - 1e6f);
    else
        f = f2u((float)((int)((r >> 8) % 41) - 20) * 0.25f);
    return kind == SK_BF16 ? f & 0xffff0000u : f;
}

/*
 * Sort (rows, n) keys with `nv` value arrays and compare with the
 * reference (a stable sort: qsort on (key, index)): indices exactly the
 * reference's, keys and values those of the indices.
 */
static void sort_case(kt *t, int kind, unsigned nv, unsigned rank,
                      uint32_t rows, uint32_t n, int desc, uint32_t grid,
                      unsigned ntcs)
{
    static const char *const base[] = {"sort_f32", "sort_i32", "sort_bf16"};
    char name[32];
    snprintf(name, sizeof(name), "%s%s", base[kind],
             nv == 0   ? ""
             : nv == 1 ? "_v1"
                       : "_v2");
    size_t total = (size_t)rows * n;
    unsigned kdt = kind == SK_F32   ? VTPU_F32
                   : kind == SK_I32 ? VTPU_I32
                                    : VTPU_BF16;
    uint32_t *keys = malloc(total * 4);
    uint16_t *kb16 = malloc(total * 2);
    uint32_t *vals[2];
    for (size_t i = 0; i < total; i++) {
        keys[i] = sort_rand_key(t, kind);
        kb16[i] = (uint16_t)(keys[i] >> 16);
    }
    uint32_t shape[2] = {rows, n};
    const uint32_t *sh = rank == 2 ? shape : shape + 1;
    reset_hbm(t);
    arr ops[7];
    unsigned no = 0;
    ops[no++] = new_arr(t, kdt, rank, sh,
                        kind == SK_BF16 ? (void *)kb16 : (void *)keys);
    for (unsigned v = 0; v < nv; v++) {
        vals[v] = malloc(total * 4);
        for (size_t i = 0; i < total; i++)
            vals[v][i] = test_rand32(&t->rng);
        ops[no++] = new_arr(t, v ? VTPU_F32 : VTPU_I32, rank, sh, vals[v]);
    }
    ops[no++] = new_arr(t, kdt, rank, sh, NULL);
    ops[no++] = new_arr(t, VTPU_I32, rank, sh, NULL);
    for (unsigned v = 0; v < nv; v++)
        ops[no++] = new_arr(t, v ? VTPU_F32 : VTPU_I32, rank, sh, NULL);
    int32_t flags = desc ? 1 : 0;
    run_kernel(t, name, 1, &grid, NULL, ops, no, &flags, 1, ntcs);

    void *ko = get_arr(t, &ops[1 + nv]);
    int32_t *io = get_arr(t, &ops[2 + nv]);
    uint32_t *vo[2];
    for (unsigned v = 0; v < nv; v++)
        vo[v] = get_arr(t, &ops[3 + nv + v]);
    int isf = kind != SK_I32;
    sref *ref = malloc(n * sizeof(sref));
    char *seen = malloc(n);
    for (uint32_t r = 0; r < rows; r++) {
        const uint32_t *kr = keys + (size_t)r * n;
        for (uint32_t i = 0; i < n; i++) {
            ref[i].key = sort_key(kr[i], isf, desc);
            ref[i].idx = (int32_t)i;
        }
        qsort(ref, n, sizeof(sref), sref_cmp);
        memset(seen, 0, n);
        for (uint32_t i = 0; i < n; i++) {
            size_t at = (size_t)r * n + i;
            uint32_t got = kind == SK_BF16
                               ? (uint32_t)((uint16_t *)ko)[at] << 16
                               : ((uint32_t *)ko)[at];
            int32_t ix = io[at];
            if (ix < 0 || (uint32_t)ix >= n || seen[ix])
                fail_msg("%s (%u,%u): row %u pos %u: index %d not a "
                         "permutation",
                         name, rows, n, r, i, ix);
            seen[ix] = 1;
            if (ix != ref[i].idx)
                fail_msg("%s (%u,%u) desc %d: row %u pos %u: index %d, "
                         "expected %d",
                         name, rows, n, desc, r, i, ix, ref[i].idx);
            if (sort_key(got, isf, desc) != ref[i].key)
                fail_msg("%s (%u,%u) desc %d: row %u pos %u: key 0x%08x, "
                         "expected order key %d",
                         name, rows, n, desc, r, i, got, ref[i].key);
            /* non-NaN keys come back bit for bit */
            uint32_t want = kr[ix];
            if (isf && (want & 0x7fffffffu) > 0x7f800000u)
                want = 0x7fc00000u;
            assert_int_equal(got, want);
            for (unsigned v = 0; v < nv; v++)
                assert_int_equal(vo[v][at], vals[v][(size_t)r * n + ix]);
        }
    }
    free(ref);
    free(seen);
    free(ko);
    free(io);
    for (unsigned v = 0; v < nv; v++) {
        free(vo[v]);
        free(vals[v]);
    }
    free(keys);
    free(kb16);
}

static void test_sort_f32(void **state)
{
    kt *t = *state;
    sort_case(t, SK_F32, 0, 2, 16, 128, 0, 2, 2);
    sort_case(t, SK_F32, 0, 2, 16, 256, 1, 2, 2);
    sort_case(t, SK_F32, 0, 2, 4, 1024, 0, 2, 2);
    sort_case(t, SK_F32, 0, 2, 3, 4096, 1, 3, 2);
    sort_case(t, SK_F32, 0, 2, 5, 100, 0, 1, 1); /* padded, one TC */
    sort_case(t, SK_F32, 0, 1, 1, 1, 0, 1, 1);
    sort_case(t, SK_F32, 0, 1, 1, 3000, 1, 1, 1);
    sort_case(t, SK_F32, 1, 2, 7, 3, 1, 2, 2);
    sort_case(t, SK_F32, 0, 2, 1000, 2, 0, 2, 2);
    sort_case(t, SK_F32, 0, 2, 300, 600, 0, 2, 2); /* several chunks */
}

static void test_sort_i32(void **state)
{
    kt *t = *state;
    sort_case(t, SK_I32, 0, 2, 16, 128, 1, 2, 2);
    sort_case(t, SK_I32, 0, 2, 7, 2048, 0, 2, 2);
    sort_case(t, SK_I32, 0, 2, 9, 77, 0, 2, 2); /* pads vs INT32_MAX */
    sort_case(t, SK_I32, 0, 2, 2, 5000, 1, 2, 1);
}

static void test_sort_bf16(void **state)
{
    kt *t = *state;
    sort_case(t, SK_BF16, 0, 2, 16, 128, 0, 2, 2);
    sort_case(t, SK_BF16, 0, 2, 3, 300, 1, 2, 2);
    sort_case(t, SK_BF16, 1, 2, 5, 2048, 0, 2, 2);
    sort_case(t, SK_BF16, 2, 2, 2, 6000, 1, 2, 2);
}

static void test_sort_values(void **state)
{
    kt *t = *state;
    sort_case(t, SK_F32, 1, 2, 16, 256, 0, 2, 2);
    sort_case(t, SK_F32, 2, 2, 5, 1000, 1, 2, 2);
    sort_case(t, SK_I32, 1, 2, 3, 8192, 0, 2, 2);
    sort_case(t, SK_I32, 2, 2, 33, 64, 1, 4, 2);
}

static void test_sort_long(void **state)
{
    kt *t = *state;
    sort_case(t, SK_F32, 1, 2, 1, 131072, 0, 1, 1);
    sort_case(t, SK_F32, 0, 2, 2, 100000, 1, 2, 2);
}

/* ------------------------------------------------------------------ */
/* Element-wise                                                          */
/* ------------------------------------------------------------------ */

static uint32_t cdiv(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

/* |got - want| within rel * |want| + abs; NaN matches NaN, inf inf. */
static int close_f(double got, double want, double rel, double abs_)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= rel * fabs(want) + abs_;
}

static float *rand_f32(kt *t, size_t n, float lo, float hi)
{
    float *p = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * rnd_unit(t);
    return p;
}

static double ref_unary(int op, double x)
{
    switch (op) {
    case EW_U_ABS:
        return fabs(x);
    case EW_U_NEG:
        return -x;
    case EW_U_EXP:
        return exp(x);
    case EW_U_LOG:
        return log(x);
    case EW_U_TANH:
        return tanh(x);
    case EW_U_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case EW_U_RELU:
        return x > 0 ? x : 0.0;
    case EW_U_GELU:
        return 0.5 * x *
               (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case EW_U_SIN:
        return sin(x);
    case EW_U_COS:
        return cos(x);
    case EW_U_RSQRT:
        return 1.0 / sqrt(x);
    case EW_U_SQRT:
        return sqrt(x);
    case EW_U_RECIP:
        return 1.0 / x;
    case EW_U_FLOOR:
        return floor(x);
    case EW_U_CEIL:
        return ceil(x);
    case EW_U_ROUND:
        return nearbyint(x);
    case EW_U_SQUARE:
        return x * x;
    default:
        return x;
    }
}

static void ew_unary_case(kt *t, int op, uint32_t R, uint32_t C, unsigned ntcs)
{
    size_t n = (size_t)R * C;
    int pos = op == EW_U_LOG || op == EW_U_RSQRT || op == EW_U_SQRT;
    float *x = rand_f32(t, n, pos ? 0.001f : -6.0f, 6.0f);
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 32), cdiv(C, 512)};
    reset_hbm(t);
    arr ops[2] = {new_arr(t, VTPU_F32, 2, sh, x),
                  new_arr(t, VTPU_F32, 2, sh, NULL)};
    int32_t sc = op;
    run_kernel(t, "ew_unary_f32", 2, grid, NULL, ops, 2, &sc, 1, ntcs);
    float *o = get_arr(t, &ops[1]);
    for (size_t i = 0; i < n; i++) {
        double want = ref_unary(op, x[i]);
        /* gelu: the kernel rounds every step in f32 */
        double rel = op == EW_U_GELU ? 1e-5 : 2e-7;
        if (!close_f(o[i], (float)want, rel, op == EW_U_GELU ? 1e-6 : 0))
            fail_msg("ew_unary_f32 op %d (%u,%u) [%zu]: f(%.9g) = %.9g, "
                     "expected %.9g",
                     op, R, C, i, x[i], o[i], want);
    }
    free(o);
    free(x);
}

static void test_ew_unary_f32(void **state)
{
    kt *t = *state;
    for (int op = 0; op < EW_U_COUNT; op++)
        ew_unary_case(t, op, 37, 300, op & 1 ? 1 : 2);
    ew_unary_case(t, EW_U_GELU, 64, 1024, 2);
    ew_unary_case(t, EW_U_EXP, 1, 5, 1);
}

static void ew_binary_case(kt *t, int op, uint32_t R, uint32_t C, unsigned ntcs)
{
    size_t n = (size_t)R * C;
    float *x = rand_f32(t, n, op == EW_B_POW ? 0.01f : -100.0f, 100.0f);
    float *y = rand_f32(t, n, -100.0f, 100.0f);
    if (op == EW_B_POW)
        for (size_t i = 0; i < n; i++)
            y[i] /= 25.0f;
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 32), cdiv(C, 512)};
    reset_hbm(t);
    arr ops[3] = {new_arr(t, VTPU_F32, 2, sh, x),
                  new_arr(t, VTPU_F32, 2, sh, y),
                  new_arr(t, VTPU_F32, 2, sh, NULL)};
    int32_t sc = op;
    run_kernel(t, "ew_binary_f32", 2, grid, NULL, ops, 3, &sc, 1, ntcs);
    float *o = get_arr(t, &ops[2]);
    for (size_t i = 0; i < n; i++) {
        float a = x[i], b = y[i], want;
        switch (op) {
        case EW_B_ADD:
            want = a + b;
            break;
        case EW_B_SUB:
            want = a - b;
            break;
        case EW_B_MUL:
            want = a * b;
            break;
        case EW_B_DIV:
            want = a / b;
            break;
        case EW_B_MAX:
            want = a > b ? a : b;
            break;
        case EW_B_MIN:
            want = a < b ? a : b;
            break;
        default:
            want = (float)pow(a, b);
            break;
        }
        if (!close_f(o[i], want, op == EW_B_POW ? 2e-7 : 0, 0))
            fail_msg("ew_binary_f32 op %d [%zu]: f(%.9g, %.9g) = %.9g, "
                     "expected %.9g",
                     op, i, a, b, o[i], want);
    }
    free(o);
    free(x);
    free(y);
}

static void test_ew_binary_f32(void **state)
{
    kt *t = *state;
    for (int op = 0; op < EW_B_COUNT; op++)
        ew_binary_case(t, op, 50, 515, op & 1 ? 1 : 2);
    ew_binary_case(t, EW_B_ADD, 128, 2048, 2);
}

static void ew_i32_case(kt *t, int binary, int op, uint32_t R, uint32_t C)
{
    size_t n = (size_t)R * C;
    uint32_t *x = malloc(n * 4), *y = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = test_rand32(&t->rng);
        y[i] = test_rand32(&t->rng);
    }
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 32), cdiv(C, 512)};
    reset_hbm(t);
    arr ops[3];
    unsigned no = 0;
    ops[no++] = new_arr(t, VTPU_I32, 2, sh, x);
    if (binary)
        ops[no++] = new_arr(t, VTPU_I32, 2, sh, y);
    ops[no++] = new_arr(t, VTPU_I32, 2, sh, NULL);
    int32_t sc = op;
    run_kernel(t, binary ? "ew_binary_i32" : "ew_unary_i32", 2, grid, NULL, ops,
               no, &sc, 1, 2);
    uint32_t *o = get_arr(t, &ops[no - 1]);
    for (size_t i = 0; i < n; i++) {
        uint32_t a = x[i], b = y[i], want;
        int32_t sa = (int32_t)a, sb = (int32_t)b;
        if (!binary)
            want = op == EW_UI_ABS   ? (sa < 0 ? 0u - a : a)
                   : op == EW_UI_NEG ? 0u - a
                                     : ~a;
        else
            switch (op) {
            case EW_BI_ADD:
                want = a + b;
                break;
            case EW_BI_SUB:
                want = a - b;
                break;
            case EW_BI_MUL:
                want = a * b;
                break;
            case EW_BI_MAX:
                want = sa > sb ? a : b;
                break;
            case EW_BI_MIN:
                want = sa < sb ? a : b;
                break;
            case EW_BI_AND:
                want = a & b;
                break;
            case EW_BI_OR:
                want = a | b;
                break;
            default:
                want = a ^ b;
                break;
            }
        if (o[i] != want)
            fail_msg("ew i32 %s op %d [%zu]: 0x%x, expected 0x%x",
                     binary ? "binary" : "unary", op, i, o[i], want);
    }
    free(o);
    free(x);
    free(y);
}

static void test_ew_i32(void **state)
{
    kt *t = *state;
    for (int op = 0; op < EW_UI_COUNT; op++)
        ew_i32_case(t, 0, op, 33, 129);
    for (int op = 0; op < EW_BI_COUNT; op++)
        ew_i32_case(t, 1, op, 40, 600);
}

static uint16_t bf16_rne(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static void test_casts(void **state)
{
    kt *t = *state;
    const uint32_t R = 70, C = 258;
    size_t n = (size_t)R * C;
    float *x = rand_f32(t, n, -3e9f, 3e9f);
    for (size_t i = 0; i < n; i += 7)
        x[i] = (float)((int)(test_rand32(&t->rng) % 2001) - 1000) / 4.0f;
    x[3] = NAN;
    x[5] = INFINITY;
    x[9] = -INFINITY;
    int32_t *xi = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        xi[i] = (int32_t)test_rand32(&t->rng) >> (i % 20);
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 64), cdiv(C, 128)};

    for (int rne = 0; rne < 2; rne++) {
        reset_hbm(t);
        arr ops[2] = {new_arr(t, VTPU_F32, 2, sh, x),
                      new_arr(t, VTPU_I32, 2, sh, NULL)};
        int32_t sc = rne;
        run_kernel(t, "cast_f32_i32", 2, grid, NULL, ops, 2, &sc, 1, 2);
        int32_t *o = get_arr(t, &ops[1]);
        for (size_t i = 0; i < n; i++) {
            float v = rne ? nearbyintf(x[i]) : truncf(x[i]);
            int32_t want = isnan(v)             ? 0
                           : v >= 2147483648.0f ? INT32_MAX
                           : v < -2147483648.0f ? INT32_MIN
                                                : (int32_t)v;
            if (o[i] != want)
                fail_msg("cast_f32_i32 rne %d: %.9g -> %d, expected %d", rne,
                         x[i], o[i], want);
        }
        free(o);
    }
    reset_hbm(t);
    arr ops[4] = {
        new_arr(t, VTPU_I32, 2, sh, xi), new_arr(t, VTPU_F32, 2, sh, NULL),
        new_arr(t, VTPU_F32, 2, sh, x), new_arr(t, VTPU_BF16, 2, sh, NULL)};
    run_kernel(t, "cast_i32_f32", 2, grid, NULL, ops, 2, NULL, 0, 2);
    run_kernel(t, "cast_f32_bf16", 2, grid, NULL, ops + 2, 2, NULL, 0, 1);
    float *of = get_arr(t, &ops[1]);
    uint16_t *ob = get_arr(t, &ops[3]);
    for (size_t i = 0; i < n; i++) {
        assert_true(of[i] == (float)xi[i]);
        if (ob[i] != bf16_rne(x[i]))
            fail_msg("cast_f32_bf16: %.9g -> 0x%04x, expected 0x%04x", x[i],
                     ob[i], bf16_rne(x[i]));
    }
    /* and back: bf16 -> f32 is exact */
    arr back = new_arr(t, VTPU_F32, 2, sh, NULL);
    arr ops2[2] = {ops[3], back};
    run_kernel(t, "cast_bf16_f32", 2, grid, NULL, ops2, 2, NULL, 0, 2);
    uint32_t *ou = get_arr(t, &back);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ou[i], (uint32_t)ob[i] << 16);
    free(ou);
    free(of);
    free(ob);
    free(x);
    free(xi);
}

/* ------------------------------------------------------------------ */
/* Reductions                                                            */
/* ------------------------------------------------------------------ */

/* op over n values at x[0], x[s], ...; argmax in *arg */
static double ref_reduce(int op, const float *x, size_t n, size_t s,
                         int32_t *arg)
{
    double acc = op == RED_SUM ? 0 : x[0];
    int32_t best = 0;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i * s];
        if (isnan(v)) {
            if (!nan)
                best = (int32_t)i;
            nan = 1;
        } else if (!nan && v > x[best * s]) {
            best = (int32_t)i;
        }
        if (op == RED_SUM)
            acc += v;
        else if (op == RED_MAX)
            acc = isnan(acc) || isnan(v) ? NAN : (v > acc ? v : acc);
        else
            acc = isnan(acc) || isnan(v) ? NAN : (v < acc ? v : acc);
    }
    *arg = best;
    return acc;
}

static void reduce_case(kt *t, int first, int op, uint32_t R, uint32_t C,
                        int nans, unsigned ntcs)
{
    size_t n = (size_t)R * C;
    float *x = rand_f32(t, n, -50.0f, 50.0f);
    for (size_t i = 0; i < n; i += op == RED_COUNT ? 1 : 3) /* ties */
        x[i] = (float)(int)(op == RED_COUNT ? x[i] / 10 : x[i]);
    for (int i = 0; i < nans; i++)
        x[test_rand32(&t->rng) % n] = NAN;
    uint32_t sh[2] = {R, C}, osh[2] = {first ? 1 : R, first ? C : 1};
    uint32_t grid[2] = {first ? cdiv(C, 512) : cdiv(R, 8),
                        first ? cdiv(R, 64) : cdiv(C, 512)};
    uint8_t sem[2] = {VTPU_PARALLEL, VTPU_ARBITRARY};
    int arg = op == RED_COUNT;
    char name[32];
    snprintf(name, sizeof(name), "%s_%s_f32", arg ? "argmax" : "reduce",
             first ? "first" : "last");
    reset_hbm(t);
    arr ops[2] = {new_arr(t, VTPU_F32, 2, sh, x),
                  new_arr(t, arg ? VTPU_I32 : VTPU_F32, 2, osh, NULL)};
    int32_t sc = op;
    run_kernel(t, name, 2, grid, sem, ops, 2, &sc, arg ? 0 : 1, ntcs);
    void *o = get_arr(t, &ops[1]);
    uint32_t m = first ? C : R;
    for (uint32_t i = 0; i < m; i++) {
        int32_t best;
        double want = first ? ref_reduce(arg ? RED_MAX : op, x + i, R, C, &best)
                            : ref_reduce(arg ? RED_MAX : op, x + (size_t)i * C,
                                         C, 1, &best);
        if (arg) {
            if (((int32_t *)o)[i] != best)
                fail_msg("%s (%u,%u) [%u]: %d, expected %d", name, R, C, i,
                         ((int32_t *)o)[i], best);
        } else {
            float got = ((float *)o)[i];
            if (!close_f(got, want, op == RED_SUM ? 1e-5 : 0,
                         op == RED_SUM ? 1e-3 : 0))
                fail_msg("%s op %d (%u,%u) [%u]: %.9g, expected %.9g", name, op,
                         R, C, i, got, want);
        }
    }
    free(o);
    free(x);
}

static void test_reduce(void **state)
{
    kt *t = *state;
    for (int first = 0; first < 2; first++) {
        for (int op = 0; op <= RED_COUNT; op++) {
            reduce_case(t, first, op, 13, 700, 0, 2);
            reduce_case(t, first, op, 70, 1300, 3, 1);
            reduce_case(t, first, op, 8, 512, 0, 2);
            reduce_case(t, first, op, 3, 5, 0, 2);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Softmax and norms                                                      */
/* ------------------------------------------------------------------ */

static void norm_case(kt *t, int kind, uint32_t R, uint32_t C, unsigned ntcs)
{
    static const char *const names[] = {"softmax_f32", "layernorm_f32",
                                        "rmsnorm_f32"};
    size_t n = (size_t)R * C;
    float *x = rand_f32(t, n, -8.0f, 8.0f);
    float *g = rand_f32(t, C, 0.5f, 2.0f), *b = rand_f32(t, C, -1.0f, 1.0f);
    float eps = 1e-5f;
    uint32_t sh[2] = {R, C}, grid = cdiv(R, 8);
    reset_hbm(t);
    arr ops[4];
    unsigned no = 0;
    ops[no++] = new_arr(t, VTPU_F32, 2, sh, x);
    if (kind)
        ops[no++] = new_arr(t, VTPU_F32, 1, &C, g);
    if (kind == 1)
        ops[no++] = new_arr(t, VTPU_F32, 1, &C, b);
    ops[no++] = new_arr(t, VTPU_F32, 2, sh, NULL);
    int32_t sc = (int32_t)f2u(eps);
    run_kernel(t, names[kind], 1, &grid, NULL, ops, no, &sc, kind ? 1 : 0,
               ntcs);
    float *o = get_arr(t, &ops[no - 1]);
    for (uint32_t r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * C;
        double mx = -INFINITY, s = 0, s2 = 0;
        for (uint32_t c = 0; c < C; c++) {
            mx = xr[c] > mx ? xr[c] : mx;
            s += xr[c];
            s2 += (double)xr[c] * xr[c];
        }
        double mean = s / C, var = 0, se = 0;
        for (uint32_t c = 0; c < C; c++) {
            var += (xr[c] - mean) * (xr[c] - mean);
            se += exp(xr[c] - mx);
        }
        var /= C;
        for (uint32_t c = 0; c < C; c++) {
            double want;
            if (kind == 0)
                want = exp(xr[c] - mx) / se;
            else if (kind == 1)
                want = (xr[c] - mean) / sqrt(var + eps) * g[c] + b[c];
            else
                want = xr[c] / sqrt(s2 / C + eps) * g[c];
            float got = o[(size_t)r * C + c];
            if (!close_f(got, want, 2e-5, kind ? 2e-5 : 1e-9))
                fail_msg("%s (%u,%u) [%u,%u]: %.9g, expected %.9g", names[kind],
                         R, C, r, c, got, want);
        }
    }
    free(o);
    free(x);
    free(g);
    free(b);
}

static void test_norms(void **state)
{
    kt *t = *state;
    for (int kind = 0; kind < 3; kind++) {
        norm_case(t, kind, 16, 128, 2);
        norm_case(t, kind, 13, 1000, 2);
        norm_case(t, kind, 3, 37, 1);
        norm_case(t, kind, 9, 4096, 2);
    }
}

/* ------------------------------------------------------------------ */
/* Matmul                                                                 */
/* ------------------------------------------------------------------ */

enum { MM_F32, MM_BF16, MM_I8 };

static float act_ref(int act, float v)
{
    switch (act) {
    case EW_U_RELU:
        return v > 0 ? v : 0.0f;
    case EW_U_TANH:
        return tanhf(v);
    case EW_U_SIGMOID:
        return (float)(1.0 / (1.0 + exp(-(double)v)));
    case EW_U_GELU:
        return (float)ref_unary(EW_U_GELU, v);
    default:
        return v;
    }
}

/* o = act(x @ y + bias) against a double-precision reference (exact for
 * i8); bias < 0: no bias operand. */
static void matmul_case(kt *t, int dt, uint32_t M, uint32_t N, uint32_t K,
                        int act, unsigned ntcs)
{
    static const char *const base[] = {"matmul_f32", "matmul_bf16",
                                       "matmul_i8"};
    char name[32];
    snprintf(name, sizeof(name), "%s%s", base[dt], act >= 0 ? "_bias" : "");
    uint32_t bm = dt == MM_F32 ? 128 : 256;
    float *xf = malloc((size_t)M * K * 4), *yf = malloc((size_t)K * N * 4);
    uint16_t *xb = malloc((size_t)M * K * 2), *yb = malloc((size_t)K * N * 2);
    int8_t *xi = malloc((size_t)M * K), *yi = malloc((size_t)K * N);
    for (size_t i = 0; i < (size_t)M * K; i++) {
        xi[i] = (int8_t)test_rand32(&t->rng);
        xb[i] = bf16_rne(rnd_unit(t) * 2 - 1);
        xf[i] = dt == MM_BF16 ? u2f((uint32_t)xb[i] << 16)
                : dt == MM_I8 ? xi[i]
                              : rnd_unit(t) * 2 - 1;
    }
    for (size_t i = 0; i < (size_t)K * N; i++) {
        yi[i] = (int8_t)test_rand32(&t->rng);
        yb[i] = bf16_rne(rnd_unit(t) * 2 - 1);
        yf[i] = dt == MM_BF16 ? u2f((uint32_t)yb[i] << 16)
                : dt == MM_I8 ? yi[i]
                              : rnd_unit(t) * 2 - 1;
    }
    float *bias = rand_f32(t, N, -1.0f, 1.0f);
    int32_t *bias_i = malloc((size_t)N * 4);
    for (uint32_t j = 0; j < N; j++)
        bias_i[j] = (int32_t)(test_rand32(&t->rng) % 200001) - 100000;
    unsigned idt = dt == MM_F32    ? VTPU_F32
                   : dt == MM_BF16 ? VTPU_BF16
                                   : VTPU_I8;
    const void *xs = dt == MM_F32    ? (void *)xf
                     : dt == MM_BF16 ? (void *)xb
                                     : (void *)xi;
    const void *ys = dt == MM_F32    ? (void *)yf
                     : dt == MM_BF16 ? (void *)yb
                                     : (void *)yi;
    uint32_t xsh[2] = {M, K}, ysh[2] = {K, N}, osh[2] = {M, N};
    uint32_t grid[3] = {cdiv(M, bm), cdiv(N, 128), cdiv(K, 128)};
    uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY};
    reset_hbm(t);
    arr ops[4];
    unsigned no = 0;
    ops[no++] = new_arr(t, idt, 2, xsh, xs);
    ops[no++] = new_arr(t, idt, 2, ysh, ys);
    if (act >= 0)
        ops[no++] = dt == MM_I8 ? new_arr(t, VTPU_I32, 1, &N, bias_i)
                                : new_arr(t, VTPU_F32, 1, &N, bias);
    ops[no++] = new_arr(t, dt == MM_I8 ? VTPU_I32 : VTPU_F32, 2, osh, NULL);
    int32_t sc = act;
    run_kernel(t, name, 3, grid, sem, ops, no, &sc, act >= 0, ntcs);
    void *o = get_arr(t, &ops[no - 1]);
    for (uint32_t i = 0; i < M; i++) {
        for (uint32_t j = 0; j < N; j++) {
            double s = 0, mag = 0;
            int32_t si = 0;
            for (uint32_t q = 0; q < K; q++) {
                double p =
                    (double)xf[(size_t)i * K + q] * yf[(size_t)q * N + j];
                s += p;
                mag += fabs(p);
                si += xi[(size_t)i * K + q] * yi[(size_t)q * N + j];
            }
            size_t at = (size_t)i * N + j;
            if (dt == MM_I8) {
                if (act >= 0) {
                    si += bias_i[j];
                    if (act == EW_U_RELU && si < 0)
                        si = 0;
                }
                if (((int32_t *)o)[at] != si)
                    fail_msg("%s (%u,%u,%u) [%u,%u]: %d, expected %d", name, M,
                             N, K, i, j, ((int32_t *)o)[at], si);
                continue;
            }
            double want = s, tol = 1e-6 * mag + 1e-6;
            if (act >= 0) {
                want = act_ref(act, (float)(s + bias[j]));
                tol += 1e-5 * fabs(want) + 1e-6;
            }
            float got = ((float *)o)[at];
            if (!(fabs(got - want) <= tol))
                fail_msg("%s act %d (%u,%u,%u) [%u,%u]: %.9g, expected %.9g",
                         name, act, M, N, K, i, j, got, want);
        }
    }
    free(o);
    free(xf);
    free(yf);
    free(xb);
    free(yb);
    free(xi);
    free(yi);
    free(bias);
    free(bias_i);
}

static void test_matmul(void **state)
{
    kt *t = *state;
    matmul_case(t, MM_BF16, 256, 128, 128, -1, 2);
    matmul_case(t, MM_BF16, 300, 260, 390, -1, 2);
    matmul_case(t, MM_BF16, 17, 6, 2, -1, 1);
    matmul_case(t, MM_I8, 256, 256, 256, -1, 2);
    matmul_case(t, MM_I8, 100, 36, 300, -1, 2);
    matmul_case(t, MM_BF16, 200, 130, 140, EW_U_RELU, 2);
    matmul_case(t, MM_BF16, 64, 128, 256, EW_U_GELU, 1);
    matmul_case(t, MM_F32, 130, 129, 200, EW_U_TANH, 2);
    matmul_case(t, MM_F32, 128, 256, 128, EW_U_NONE, 2);
    matmul_case(t, MM_F32, 5, 7, 3, EW_U_SIGMOID, 1);
    matmul_case(t, MM_I8, 300, 260, 132, EW_U_RELU, 2);
    matmul_case(t, MM_I8, 40, 8, 4, EW_U_NONE, 1);
}

/* ------------------------------------------------------------------ */
/* Transpose, cumsum, top-k                                              */
/* ------------------------------------------------------------------ */

static void transpose_case(kt *t, uint32_t R, uint32_t C, unsigned ntcs)
{
    size_t n = (size_t)R * C;
    uint32_t *x = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = test_rand32(&t->rng);
    uint32_t sh[2] = {R, C}, tsh[2] = {C, R};
    uint32_t grid[2] = {cdiv(R, 128), cdiv(C, 128)};
    reset_hbm(t);
    arr ops[2] = {new_arr(t, VTPU_I32, 2, sh, x),
                  new_arr(t, VTPU_I32, 2, tsh, NULL)};
    run_kernel(t, "transpose_f32", 2, grid, NULL, ops, 2, NULL, 0, ntcs);
    uint32_t *o = get_arr(t, &ops[1]);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t c = 0; c < C; c++)
            if (o[(size_t)c * R + r] != x[(size_t)r * C + c])
                fail_msg("transpose (%u,%u): [%u,%u]", R, C, r, c);
    free(o);
    free(x);
}

static void test_transpose(void **state)
{
    kt *t = *state;
    transpose_case(t, 128, 128, 1);
    transpose_case(t, 300, 200, 2);
    transpose_case(t, 1, 7, 1);
    transpose_case(t, 1000, 130, 2);
}

static void cumsum_case(kt *t, int f32, uint32_t R, uint32_t C, unsigned ntcs)
{
    size_t n = (size_t)R * C;
    float *xf = rand_f32(t, n, -1.0f, 1.0f);
    int32_t *xi = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        xi[i] = (int32_t)test_rand32(&t->rng);
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 8), cdiv(C, 512)};
    uint8_t sem[2] = {VTPU_PARALLEL, VTPU_ARBITRARY};
    reset_hbm(t);
    unsigned dt = f32 ? VTPU_F32 : VTPU_I32;
    arr ops[2] = {new_arr(t, dt, 2, sh, f32 ? (void *)xf : (void *)xi),
                  new_arr(t, dt, 2, sh, NULL)};
    run_kernel(t, f32 ? "cumsum_f32" : "cumsum_i32", 2, grid, sem, ops, 2, NULL,
               0, ntcs);
    void *o = get_arr(t, &ops[1]);
    for (uint32_t r = 0; r < R; r++) {
        double s = 0, mag = 0;
        uint32_t si = 0;
        for (uint32_t c = 0; c < C; c++) {
            size_t at = (size_t)r * C + c;
            s += xf[at];
            mag += fabs(xf[at]);
            si += (uint32_t)xi[at];
            if (f32 ? !(fabs(((float *)o)[at] - s) <= 1e-6 * mag + 1e-6)
                    : ((uint32_t *)o)[at] != si)
                fail_msg("cumsum %s (%u,%u) [%u,%u]", f32 ? "f32" : "i32", R, C,
                         r, c);
        }
    }
    free(o);
    free(xf);
    free(xi);
}

static void test_cumsum(void **state)
{
    kt *t = *state;
    for (int f32 = 0; f32 < 2; f32++) {
        cumsum_case(t, f32, 8, 512, 1);
        cumsum_case(t, f32, 19, 1500, 2);
        cumsum_case(t, f32, 3, 5, 2);
    }
}

/* top-k = the first K of a stable sort (descending, or ascending for the
 * smallest) */
static void topk_case(kt *t, int kind, uint32_t rows, uint32_t n, uint32_t K,
                      int smallest, unsigned ntcs)
{
    size_t total = (size_t)rows * n;
    uint32_t *keys = malloc(total * 4);
    for (size_t i = 0; i < total; i++)
        keys[i] = sort_rand_key(t, kind);
    uint32_t sh[2] = {rows, n}, osh[2] = {rows, K};
    unsigned dt = kind == SK_F32 ? VTPU_F32 : VTPU_I32;
    reset_hbm(t);
    arr ops[3] = {new_arr(t, dt, 2, sh, keys), new_arr(t, dt, 2, osh, NULL),
                  new_arr(t, VTPU_I32, 2, osh, NULL)};
    int32_t flags = smallest;
    uint32_t grid = 2;
    run_kernel(t, kind == SK_F32 ? "topk_f32" : "topk_i32", 1, &grid, NULL, ops,
               3, &flags, 1, ntcs);
    uint32_t *ko = get_arr(t, &ops[1]);
    int32_t *io = get_arr(t, &ops[2]);
    sref *ref = malloc(n * sizeof(sref));
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t i = 0; i < n; i++) {
            ref[i].key =
                sort_key(keys[(size_t)r * n + i], kind == SK_F32, !smallest);
            ref[i].idx = (int32_t)i;
        }
        qsort(ref, n, sizeof(sref), sref_cmp);
        for (uint32_t i = 0; i < K; i++) {
            size_t at = (size_t)r * K + i;
            if (io[at] != ref[i].idx)
                fail_msg("topk (%u,%u) K %u: row %u [%u]: index %d, "
                         "expected %d",
                         rows, n, K, r, i, io[at], ref[i].idx);
            assert_int_equal(sort_key(ko[at], kind == SK_F32, !smallest),
                             ref[i].key);
        }
    }
    free(ref);
    free(ko);
    free(io);
    free(keys);
}

static void test_topk(void **state)
{
    kt *t = *state;
    topk_case(t, SK_F32, 16, 128, 8, 0, 2);
    topk_case(t, SK_F32, 5, 1000, 17, 1, 2);
    topk_case(t, SK_I32, 3, 4096, 100, 0, 1);
    topk_case(t, SK_I32, 40, 50, 50, 0, 2);
}

/* ------------------------------------------------------------------ */
/* Flash attention                                                        */
/* ------------------------------------------------------------------ */

static void attn_case(kt *t, uint32_t H, uint32_t S, uint32_t D, int causal,
                      unsigned ntcs)
{
    size_t n = (size_t)H * S * D;
    float *q = rand_f32(t, n, -1.0f, 1.0f), *k = rand_f32(t, n, -1.0f, 1.0f),
          *v = rand_f32(t, n, -1.0f, 1.0f);
    uint32_t sh[3] = {H, S, D}, grid[3] = {H, cdiv(S, 128), cdiv(S, 128)};
    uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY};
    reset_hbm(t);
    arr ops[4] = {
        new_arr(t, VTPU_F32, 3, sh, q), new_arr(t, VTPU_F32, 3, sh, k),
        new_arr(t, VTPU_F32, 3, sh, v), new_arr(t, VTPU_F32, 3, sh, NULL)};
    int32_t sc = causal;
    run_kernel(t, "flash_attn_f32", 3, grid, sem, ops, 4, &sc, 1, ntcs);
    float *o = get_arr(t, &ops[3]);
    double *p = malloc(S * sizeof(double));
    double scale = 1.0 / sqrt((double)D);
    for (uint32_t h = 0; h < H; h++)
        for (uint32_t i = 0; i < S; i++) {
            const float *qi = q + ((size_t)h * S + i) * D;
            double mx = -INFINITY, sum = 0;
            uint32_t last = causal ? i + 1 : S;
            for (uint32_t j = 0; j < last; j++) {
                const float *kj = k + ((size_t)h * S + j) * D;
                double d = 0;
                for (uint32_t c = 0; c < D; c++)
                    d += (double)qi[c] * kj[c];
                p[j] = d * scale;
                mx = p[j] > mx ? p[j] : mx;
            }
            for (uint32_t j = 0; j < last; j++) {
                p[j] = exp(p[j] - mx);
                sum += p[j];
            }
            for (uint32_t c = 0; c < D; c++) {
                double want = 0;
                for (uint32_t j = 0; j < last; j++)
                    want += p[j] * v[((size_t)h * S + j) * D + c];
                want /= sum;
                float got = o[((size_t)h * S + i) * D + c];
                if (!(fabs(got - want) <= 2e-5))
                    fail_msg("flash_attn H %u S %u D %u causal %d: [%u,%u,%u] "
                             "%.9g, expected %.9g",
                             H, S, D, causal, h, i, c, got, want);
            }
        }
    free(p);
    free(o);
    free(q);
    free(k);
    free(v);
}

static void test_flash_attn(void **state)
{
    kt *t = *state;
    attn_case(t, 2, 256, 128, 0, 2);
    attn_case(t, 2, 256, 128, 1, 2);
    attn_case(t, 3, 200, 64, 1, 2);
    attn_case(t, 1, 77, 128, 0, 1);
    attn_case(t, 4, 130, 32, 1, 2);
}

/* ------------------------------------------------------------------ */
/* Misuse ends the launch with the kernel's message                       */
/* ------------------------------------------------------------------ */

static void expect_code(kt *t, int code, const char *name, unsigned grank,
                        const uint32_t *grid, const arr *ops, unsigned nops,
                        const int32_t *sc, unsigned nsc, const char *msg)
{
    int rc = launch(t, name, grank, grid, NULL, ops, nops, sc, nsc, 2);
    if (rc != code || !strstr(t->out, msg))
        fail_msg("%s: expected exit %d with \"%s\", got %d:\n%s", name, code,
                 msg, rc, t->out);
}

static void expect_fail(kt *t, const char *name, unsigned grank,
                        const uint32_t *grid, const arr *ops, unsigned nops,
                        const int32_t *sc, unsigned nsc, const char *msg)
{
    expect_code(t, VTPU_LERR_KERNEL_FAIL, name, grank, grid, ops, nops, sc, nsc,
                msg);
}

static void test_misuse(void **state)
{
    kt *t = *state;
    uint32_t big[2] = {1, 131073}, sh[2] = {2, 64}, odd[2] = {2, 63};
    uint32_t kbig[2] = {2, 65}, g1 = 1, g2[2] = {1, 1};
    reset_hbm(t);
    arr a[3] = {new_arr(t, VTPU_F32, 2, big, NULL),
                new_arr(t, VTPU_F32, 2, big, NULL),
                new_arr(t, VTPU_I32, 2, big, NULL)};
    expect_fail(t, "sort_f32", 1, &g1, a, 3, NULL, 0, "longer than 131072");
    arr b[3] = {new_arr(t, VTPU_F32, 2, sh, NULL),
                new_arr(t, VTPU_F32, 2, odd, NULL),
                new_arr(t, VTPU_I32, 2, sh, NULL)};
    /* The sort kernels declare their outputs like the keys: the runtime
     * refuses before the body's own check. */
    expect_code(t, VTPU_LERR_SHAPE, "sort_f32", 1, &g1, b, 3, NULL, 0,
                "operand 1 is (2, 63), declared like operand 0, (2, 64)");
    arr c[3] = {new_arr(t, VTPU_BF16, 2, odd, NULL),
                new_arr(t, VTPU_BF16, 2, odd, NULL),
                new_arr(t, VTPU_I32, 2, odd, NULL)};
    expect_fail(t, "sort_bf16", 1, &g1, c, 3, NULL, 0, "n must be even");
    arr d[3] = {new_arr(t, VTPU_F32, 2, sh, NULL),
                new_arr(t, VTPU_F32, 2, kbig, NULL),
                new_arr(t, VTPU_I32, 2, kbig, NULL)};
    expect_fail(t, "topk_f32", 1, &g1, d, 3, NULL, 0, "K <= n");
    int32_t bad = EW_U_COUNT;
    arr e[2] = {b[0], b[0]};
    expect_fail(t, "ew_unary_f32", 2, g2, e, 2, &bad, 1, "op of the table");
    expect_fail(t, "reduce_last_f32", 2, g2, b, 2, &bad, 1, "RED_SUM");
}

/* ------------------------------------------------------------------ */
/* Any number of value arrays: sort with argsort, then take_last        */
/* ------------------------------------------------------------------ */

enum { TAKE_NV = 5 };

/*
 * sort_f32 with argsort on random keys with duplicates, then one
 * take_last_32 launch per value array (5, f32 and i32 mixed) and one
 * take_last_16 for a bf16 array; indices must be the host's stable
 * argsort, every value array permuted by it.
 */
static void take_sort_case(kt *t, uint32_t rows, uint32_t n, unsigned ntcs)
{
    size_t total = (size_t)rows * n;
    uint32_t *keys = malloc(total * 4), *vals[TAKE_NV];
    uint16_t *v16 = malloc(total * 2);
    int32_t *want = malloc(total * 4);
    for (size_t i = 0; i < total; i++) {
        keys[i] = sort_rand_key(t, SK_F32);
        v16[i] = (uint16_t)test_rand32(&t->rng);
    }
    for (unsigned v = 0; v < TAKE_NV; v++) {
        vals[v] = malloc(total * 4);
        for (size_t i = 0; i < total; i++)
            vals[v][i] = v & 1 ? test_rand32(&t->rng)
                               : f2u(rnd_unit(t) * 200.0f - 100.0f);
    }
    sref *ref = malloc(n * sizeof(sref));
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t i = 0; i < n; i++) {
            ref[i].key = sort_key(keys[(size_t)r * n + i], 1, 0);
            ref[i].idx = (int32_t)i;
        }
        qsort(ref, n, sizeof(sref), sref_cmp);
        for (uint32_t i = 0; i < n; i++)
            want[(size_t)r * n + i] = ref[i].idx;
    }
    free(ref);

    uint32_t sh[2] = {rows, n}, grid = ntcs;
    reset_hbm(t);
    arr s[3] = {new_arr(t, VTPU_F32, 2, sh, keys),
                new_arr(t, VTPU_F32, 2, sh, NULL),
                new_arr(t, VTPU_I32, 2, sh, NULL)};
    run_kernel(t, "sort_f32", 1, &grid, NULL, s, 3, NULL, 0, ntcs);
    int32_t *io = get_arr(t, &s[2]);
    for (size_t i = 0; i < total; i++)
        if (io[i] != want[i])
            fail_msg("sort_f32 (%u,%u): row %zu pos %zu: index %d, expected "
                     "%d",
                     rows, n, i / n, i % n, io[i], want[i]);
    free(io);

    for (unsigned v = 0; v < TAKE_NV + 1; v++) {
        int b16 = v == TAKE_NV;
        unsigned dt = b16 ? VTPU_BF16 : v & 1 ? VTPU_I32 : VTPU_F32;
        arr a[3] = {new_arr(t, dt, 2, sh, b16 ? (void *)v16 : vals[v]), s[2],
                    new_arr(t, dt, 2, sh, NULL)};
        const char *name = b16 ? "take_last_16" : "take_last_32";
        run_kernel(t, name, 1, &grid, NULL, a, 3, NULL, 0, ntcs);
        void *o = get_arr(t, &a[2]);
        for (size_t i = 0; i < total; i++) {
            size_t from = i - i % n + (size_t)want[i];
            uint32_t got = b16 ? ((uint16_t *)o)[i] : ((uint32_t *)o)[i];
            uint32_t wv = b16 ? v16[from] : vals[v][from];
            if (got != wv)
                fail_msg("%s (%u,%u) array %u on %u TCs: [%zu, %zu] 0x%08x, "
                         "expected 0x%08x",
                         name, rows, n, v, ntcs, i / n, i % n, got, wv);
        }
        free(o);
        t->hbm_next = a[0].hbm; /* the sort's arrays stay */
    }
    for (unsigned v = 0; v < TAKE_NV; v++)
        free(vals[v]);
    free(keys);
    free(v16);
    free(want);
}

/* A general gather: idx (rows, m) random in [0, n), m != n; long rows
 * take the per-row path (chunks of indices, segments of src). */
static void take_gather_case(kt *t, int b16, unsigned rank, uint32_t rows,
                             uint32_t n, uint32_t m, unsigned ntcs)
{
    size_t isz = b16 ? 2 : 4;
    uint8_t *src = malloc((size_t)rows * n * isz);
    int32_t *idx = malloc((size_t)rows * m * 4);
    for (size_t i = 0; i < (size_t)rows * n * isz; i++)
        src[i] = (uint8_t)test_rand32(&t->rng);
    for (size_t i = 0; i < (size_t)rows * m; i++)
        idx[i] = (int32_t)(test_rand32(&t->rng) % n);
    uint32_t ssh[2] = {rows, n}, ish[2] = {rows, m}, grid = 2;
    unsigned dt = b16 ? VTPU_BF16 : VTPU_I32;
    reset_hbm(t);
    arr a[3] = {new_arr(t, dt, rank, rank == 2 ? ssh : ssh + 1, src),
                new_arr(t, VTPU_I32, rank, rank == 2 ? ish : ish + 1, idx),
                new_arr(t, dt, rank, rank == 2 ? ish : ish + 1, NULL)};
    const char *name = b16 ? "take_last_16" : "take_last_32";
    run_kernel(t, name, 1, &grid, NULL, a, 3, NULL, 0, ntcs);
    uint8_t *o = get_arr(t, &a[2]);
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t j = 0; j < m; j++) {
            size_t at = (size_t)r * m + j;
            const uint8_t *w = src + ((size_t)r * n + (uint32_t)idx[at]) * isz;
            if (memcmp(o + at * isz, w, isz))
                fail_msg("%s (%u,%u) idx (%u,%u): [%u, %u] differs", name, rows,
                         n, rows, m, r, j);
        }
    free(o);
    free(src);
    free(idx);
}

static void test_take_last(void **state)
{
    kt *t = *state;
    for (unsigned ntcs = 1; ntcs <= 2; ntcs++) {
        take_sort_case(t, 16, 128, ntcs);
        take_sort_case(t, 3, 1000, ntcs);
        take_sort_case(t, 1, 4096, ntcs);
    }
    take_gather_case(t, 0, 2, 3, 40000, 5000, 2); /* 5 segments, 3 chunks */
    take_gather_case(t, 1, 2, 2, 70000, 300, 2);
    take_gather_case(t, 0, 2, 5, 7, 300, 2);
    take_gather_case(t, 1, 1, 1, 33, 9, 1);

    /* an index outside [0, n) names its row, column and value */
    uint32_t sh[2] = {3, 128}, grid = 2;
    int32_t *idx = malloc(3 * 128 * 4);
    for (unsigned i = 0; i < 3 * 128; i++)
        idx[i] = (int32_t)(i % 128);
    idx[128 + 7] = 128;
    reset_hbm(t);
    arr a[3] = {new_arr(t, VTPU_F32, 2, sh, NULL),
                new_arr(t, VTPU_I32, 2, sh, idx),
                new_arr(t, VTPU_F32, 2, sh, NULL)};
    expect_fail(t, "take_last_32", 1, &grid, a, 3, NULL, 0,
                "take_last: idx[1, 7] = 128 is outside [0, 128)");
    idx[128 + 7] = 7;
    idx[2 * 128 + 100] = -1;
    a[1] = new_arr(t, VTPU_I32, 2, sh, idx);
    expect_fail(t, "take_last_32", 1, &grid, a, 3, NULL, 0,
                "take_last: idx[2, 100] = -1 is outside [0, 128)");
    free(idx);
}

/* ------------------------------------------------------------------ */
/* f32 matmul precisions (matmul_f32_bias scalar 1)                      */
/* ------------------------------------------------------------------ */

/*
 * The same f32 matmul at MM_PREC_HIGHEST, _HIGH and _DEFAULT (x @ y + 0,
 * no activation): the error against an f64 reference, relative to
 * sum |x y|, is ordered DEFAULT > HIGH > HIGHEST and within the bounds of
 * docs/isa.md ("f32 precision"), and HIGHEST is also the default when
 * scalar 1 is absent (bit for bit).
 */
static void matmul_prec_case(kt *t, uint32_t M, uint32_t N, uint32_t K,
                             unsigned ntcs)
{
    float *x = rand_f32(t, (size_t)M * K, -2.0f, 2.0f);
    float *y = rand_f32(t, (size_t)K * N, -2.0f, 2.0f);
    float *zero = calloc(N, 4);
    uint32_t xsh[2] = {M, K}, ysh[2] = {K, N}, osh[2] = {M, N};
    uint32_t grid[3] = {cdiv(M, 128), cdiv(N, 128), cdiv(K, 128)};
    uint8_t sem[3] = {VTPU_PARALLEL, VTPU_PARALLEL, VTPU_ARBITRARY};
    static const char *const names[3] = {"HIGHEST", "HIGH", "DEFAULT"};
    double acc = K * 0x1p-23;
    const double bound[3] = {acc, 3 * 0x1p-16 + acc, 0x1p-7 + 0x1p-16 + acc};
    double emax[3] = {0};
    float *out[4];

    for (int q = 0; q < 4; q++) { /* q = 3: no precision scalar */
        reset_hbm(t);
        arr ops[4] = {new_arr(t, VTPU_F32, 2, xsh, x),
                      new_arr(t, VTPU_F32, 2, ysh, y),
                      new_arr(t, VTPU_F32, 1, &N, zero),
                      new_arr(t, VTPU_F32, 2, osh, NULL)};
        int32_t sc[2] = {EW_U_NONE, q};
        run_kernel(t, "matmul_f32_bias", 3, grid, sem, ops, 4, sc,
                   q < 3 ? 2 : 1, ntcs);
        out[q] = get_arr(t, &ops[3]);
    }
    for (uint32_t i = 0; i < M; i++)
        for (uint32_t j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (uint32_t k = 0; k < K; k++) {
                double p = (double)x[(size_t)i * K + k] * y[(size_t)k * N + j];
                s += p;
                mag += fabs(p);
            }
            for (int q = 0; q < 3; q++)
                emax[q] =
                    fmax(emax[q], fabs(out[q][(size_t)i * N + j] - s) / mag);
        }
    assert_memory_equal(out[3], out[0], (size_t)M * N * 4);
    for (int q = 0; q < 3; q++) {
        print_message("matmul_f32_bias (%u,%u,%u) %-7s max |err| / sum|xy| "
                      "%.3e (bound %.3e)\n",
                      M, N, K, names[q], emax[q], bound[q]);
        assert_true(emax[q] < bound[q]);
    }
    assert_true(emax[2] > 16 * emax[1] && emax[1] > 2 * emax[0]);
    for (int q = 0; q < 4; q++)
        free(out[q]);
    free(x);
    free(y);
    free(zero);
}

static void test_matmul_precision(void **state)
{
    kt *t = *state;
    matmul_prec_case(t, 130, 200, 300, 2);
    matmul_prec_case(t, 64, 128, 128, 1);
    /* an unknown precision fails the launch */
    uint32_t sh[2] = {8, 8}, n8 = 8, g3[3] = {1, 1, 1};
    reset_hbm(t);
    arr a[4] = {
        new_arr(t, VTPU_F32, 2, sh, NULL), new_arr(t, VTPU_F32, 2, sh, NULL),
        new_arr(t, VTPU_F32, 1, &n8, NULL), new_arr(t, VTPU_F32, 2, sh, NULL)};
    int32_t sc[2] = {EW_U_NONE, MM_PREC_COUNT};
    expect_fail(t, "matmul_f32_bias", 3, g3, a, 4, sc, 2,
                "scalar 1 must be an MM_PREC_* precision");
}

/* ------------------------------------------------------------------ */
/* Random numbers: dropout, stochastic rounding (lib_random.c)          */
/* ------------------------------------------------------------------ */

/* Philox4x32-10 (Salmon et al., SC'11), written again for the host
 * reference: word q of philox((k0, k1), (c0, c1, c2, c3)). */
static void philox(uint32_t out[4], const uint32_t ctr[4], uint32_t k0,
                   uint32_t k1)
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    for (int r = 0; r < 10; r++) {
        uint64_t a = (uint64_t)0xD2511F53u * c[0];
        uint64_t b = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n[4] = {(uint32_t)(b >> 32) ^ c[1] ^ k0, (uint32_t)b,
                         (uint32_t)(a >> 32) ^ c[3] ^ k1, (uint32_t)a};
        memcpy(c, n, sizeof(c));
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof(c));
}

/* The 1024 words of draw d after PRNG.SEED(seed, stream) (docs/isa.md). */
static void ref_draw(uint32_t *w, uint32_t seed, uint32_t stream, uint32_t d)
{
    for (uint32_t j = 0; j < 256; j++) {
        uint32_t ctr[4] = {j, d, 0, 0};
        philox(w + 4 * j, ctr, seed, stream);
    }
}

/* dropout_f32 reference: grid point (bi, bj) of grid (gi, gj), stream
 * bi * gj + bj; draw 4r + c covers block rows 8r.., columns 128c.. */
static float *ref_dropout(const float *x, uint32_t R, uint32_t C, uint32_t seed,
                          float p, double *kept)
{
    float *o = malloc((size_t)R * C * 4), scale = 1.0f / p;
    uint32_t gj = cdiv(C, 512), thr = (uint32_t)(p * 4294967296.0f);
    uint32_t w[1024];
    size_t nk = 0;
    for (uint32_t bi = 0; bi < cdiv(R, 32); bi++)
        for (uint32_t bj = 0; bj < gj; bj++)
            for (uint32_t d = 0; d < 16; d++) {
                ref_draw(w, seed, bi * gj + bj, d);
                for (uint32_t e = 0; e < 1024; e++) {
                    uint32_t r = bi * 32 + (d / 4) * 8 + e / 128;
                    uint32_t c = bj * 512 + (d % 4) * 128 + e % 128;
                    if (r >= R || c >= C)
                        continue;
                    int keep = p == 1.0f || w[e] < thr;
                    size_t at = (size_t)r * C + c;
                    o[at] = keep ? x[at] * scale : 0.0f;
                    nk += keep;
                }
            }
    *kept = (double)nk / ((double)R * C);
    return o;
}

static void dropout_case(kt *t, uint32_t R, uint32_t C, uint32_t seed, float p,
                         unsigned ntcs, float **out)
{
    size_t n = (size_t)R * C;
    float *x = rand_f32(t, n, 0.5f, 2.0f); /* never 0: kept = non-zero */
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 32), cdiv(C, 512)};
    reset_hbm(t);
    arr ops[2] = {new_arr(t, VTPU_F32, 2, sh, x),
                  new_arr(t, VTPU_F32, 2, sh, NULL)};
    int32_t sc[2] = {(int32_t)seed, (int32_t)f2u(p)};
    run_kernel(t, "dropout_f32", 2, grid, NULL, ops, 2, sc, 2, ntcs);
    float *o = get_arr(t, &ops[1]);
    double kept;
    float *want = ref_dropout(x, R, C, seed, p, &kept);
    for (size_t i = 0; i < n; i++)
        if (f2u(o[i]) != f2u(want[i]))
            fail_msg("dropout_f32 (%u,%u) seed %u p %g, %u TCs: [%zu] %a, "
                     "want %a",
                     R, C, seed, p, ntcs, i, o[i], want[i]);
    /* the kept fraction is p within 5 sd */
    double sd = sqrt(p * (1 - p) / n);
    print_message("dropout_f32 (%u,%u) p %.2f seed %u, %u TCs: kept %.4f\n", R,
                  C, p, seed, ntcs, kept);
    assert_true(fabs(kept - p) <= 5 * sd);
    free(want);
    free(x);
    if (out)
        *out = o;
    else
        free(o);
}

static void test_dropout(void **state)
{
    kt *t = *state;
    float *a, *b, *c;
    /* the same seed gives the same mask on 1 and 2 TCs (both match the
     * reference, which does not know about TCs) */
    dropout_case(t, 100, 700, 7, 0.9f, 1, NULL);
    dropout_case(t, 100, 700, 7, 0.9f, 2, &a);
    dropout_case(t, 64, 1024, 7, 0.5f, 2, NULL);
    dropout_case(t, 33, 129, 123456789, 0.25f, 2, NULL);
    dropout_case(t, 16, 512, 5, 1.0f, 1, NULL);
    /* another seed: another mask */
    dropout_case(t, 100, 700, 8, 0.9f, 2, &b);
    dropout_case(t, 100, 700, 7, 0.9f, 2, &c);
    size_t diff = 0;
    for (size_t i = 0; i < 100 * 700; i++)
        diff += (a[i] == 0) != (b[i] == 0);
    /* masks of independent seeds differ in 2 p (1 - p) = 18% of places */
    print_message("dropout seeds 7 vs 8: %zu of 70000 mask bits differ\n",
                  diff);
    assert_true(diff > 70000 / 10 && diff < 70000 / 4);
    free(a);
    free(b);
    free(c);
    /* p outside (0, 1] fails the launch */
    uint32_t sh[2] = {8, 8}, g2[2] = {1, 1};
    reset_hbm(t);
    arr ops[2] = {new_arr(t, VTPU_F32, 2, sh, NULL),
                  new_arr(t, VTPU_F32, 2, sh, NULL)};
    int32_t sc[2] = {1, (int32_t)f2u(0.0f)};
    expect_fail(t, "dropout_f32", 2, g2, ops, 2, sc, 2,
                "scalar 1 (keep probability) must be in (0, 1]");
}

/* cast_f32_bf16_sr: every element against the reference (draw d of grid
 * point (bi, bj) rounds block rows 8d..8d+7), each one of the two bf16
 * neighbours, and the mean over many seeds converges to x. */
static void test_cast_sr(void **state)
{
    kt *t = *state;
    const uint32_t R = 70, C = 258, S = 64;
    size_t n = (size_t)R * C;
    float *x = rand_f32(t, n, -3.0f, 3.0f);
    x[3] = NAN;
    x[5] = INFINITY;
    x[7] = 1.0f + 0x1p-9f; /* a quarter of a bf16 ulp above 1 */
    x[8] = 0.0f;
    uint32_t sh[2] = {R, C}, grid[2] = {cdiv(R, 64), cdiv(C, 128)};
    uint32_t gj = grid[1], w[1024];
    double *sum = calloc(n, sizeof(double));

    for (uint32_t seed = 0; seed < S; seed++) {
        reset_hbm(t);
        arr ops[2] = {new_arr(t, VTPU_F32, 2, sh, x),
                      new_arr(t, VTPU_BF16, 2, sh, NULL)};
        int32_t sc = (int32_t)seed;
        run_kernel(t, "cast_f32_bf16_sr", 2, grid, NULL, ops, 2, &sc, 1,
                   seed % 2 + 1);
        uint16_t *o = get_arr(t, &ops[1]);
        for (uint32_t bi = 0; bi < grid[0]; bi++)
            for (uint32_t bj = 0; bj < gj; bj++)
                for (uint32_t d = 0; d < 8; d++) {
                    ref_draw(w, seed, bi * gj + bj, d);
                    for (uint32_t e = 0; e < 1024; e++) {
                        uint32_t r = bi * 64 + d * 8 + e / 128;
                        uint32_t c = bj * 128 + e % 128;
                        if (r >= R || c >= C)
                            continue;
                        size_t at = (size_t)r * C + c;
                        uint32_t u = f2u(x[at]);
                        uint32_t down = u >> 16, want;
                        if ((u & 0x7FFFFFFFu) > 0x7F800000u)
                            want = (u >> 16) | 0x40; /* quiet NaN */
                        else if ((u & 0x7FFFFFFFu) == 0x7F800000u)
                            want = down;
                        else
                            want = (u + (w[e] >> 16)) >> 16;
                        if (o[at] != want)
                            fail_msg("cast_f32_bf16_sr seed %u [%u,%u] x %a: "
                                     "0x%04x, want 0x%04x",
                                     seed, r, c, x[at], o[at], want);
                        if (isfinite(x[at]))
                            assert_true(o[at] == down || o[at] == down + 1);
                        sum[at] += u2f((uint32_t)o[at] << 16);
                    }
                }
        free(o);
    }
    /* unbiased: the mean error in ulps over all finite elements, whose
     * sd is sqrt(sum f (1 - f) / S) / n (f the fraction dropped), is
     * within 5 sd of 0; nearest-even rounding of the same x is not */
    double bias = 0, var = 0, rne = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        uint32_t u = f2u(x[i]);
        double lo = u2f(u & 0xFFFF0000u), hi = u2f((u & 0xFFFF0000u) + 0x10000);
        double ulp = fabs(hi - lo), f = fabs(x[i] - lo) / ulp;
        bias += (sum[i] / S - x[i]) / ulp;
        var += f * (1 - f) / S;
        rne += (u2f((uint32_t)bf16_rne(x[i]) << 16) - x[i]) / ulp;
        m++;
    }
    double sd = sqrt(var) / m;
    bias /= m;
    print_message("cast_f32_bf16_sr: %u seeds x %zu values: mean error "
                  "%+.2e ulp (sd %.1e); x = 1 + 2^-9: mean %.6f (RNE: 1)\n",
                  S, m, bias, sd, sum[7] / S);
    assert_true(fabs(bias) < 5 * sd);
    assert_true(fabs(sum[7] / S - (1.0 + 0x1p-9)) < 0x1p-9);
    (void)rne;
    free(sum);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sort_f32, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_sort_i32, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_sort_bf16, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_sort_values, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_sort_long, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_take_last, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_ew_unary_f32, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_ew_binary_f32, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_ew_i32, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_casts, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_reduce, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_norms, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_matmul, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_matmul_precision, setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_dropout, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_cast_sr, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_transpose, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_cumsum, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_topk, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_flash_attn, setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup, kt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
