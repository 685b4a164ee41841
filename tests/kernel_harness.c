/* kernel_harness.c - see kernel_harness.h. */
#include "kernel_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "helpers.h"

static void capture(void *opaque, unsigned tc, int fd, const char *buf,
                    size_t len)
{
    kt *t = opaque;
    (void)tc;
    (void)fd;
    pthread_mutex_lock(&t->mu);
    size_t room = sizeof(t->out) - 1 - t->out_len;
    if (len > room)
        len = room;
    memcpy(t->out + t->out_len, buf, len);
    t->out_len += len;
    t->out[t->out_len] = 0;
    pthread_mutex_unlock(&t->mu);
}

kt *kt_new(uint64_t hbm_size, uint64_t seed)
{
    kt *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    pthread_mutex_init(&t->mu, NULL);
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, "v5p", err, sizeof(err)), 0);
    cfg.num_tcs = 2;
    cfg.hbm_size = hbm_size;
    cfg.vmem_size = KT_VMEM_SIZE;
    cfg.bounds = 1; /* as vtpu-run: the library must stay in its buffers */
    t->chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!t->chip)
        fail_msg("vtpu_chip_new: %s", err);
    vtpu_chip_set_output(t->chip, capture, t);
    test_dma_order_from_env(t->chip);
    test_checks_from_env(t->chip);
    load_module(t, KT_MODULE);
    t->hbm_size = hbm_size;
    t->hbm_next = KT_ARRAYS_OFF;
    t->rng = seed;
    return t;
}

void kt_free(kt *t)
{
    vtpu_chip_free(t->chip);
    free(t->elf);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int kt_teardown(void **state)
{
    kt_free(*state);
    return 0;
}

void load_module(kt *t, const char *path)
{
    char err[256];
    free(t->elf);
    t->elf = test_read_file(path, &t->elf_len);
    if (vtpu_chip_load_elf(t->chip, t->elf, t->elf_len, err, sizeof(err)))
        fail_msg("loading %s: %s", path, err);
}

const uint8_t *kernel_table(const kt *t, uint32_t *count)
{
    return test_module_kernels(t->elf, t->elf_len, count);
}

uint32_t kernel_index(const kt *t, const char *name)
{
    return test_module_kernel_index(t->elf, t->elf_len, name);
}

/* The name of kernel `k` for messages ("?" past the table's end). */
static void kernel_name(const kt *t, uint32_t k, char *buf, size_t len)
{
    uint32_t n;
    const uint8_t *tab = kernel_table(t, &n);
    vtpu_kernel_entry e;
    if (k >= n) {
        snprintf(buf, len, "?");
        return;
    }
    memcpy(&e, tab + (size_t)k * sizeof(e), sizeof(e));
    snprintf(buf, len, "%.*s", (int)sizeof(e.name), e.name);
}

uint64_t hbm_alloc(kt *t, uint64_t bytes)
{
    uint64_t at = t->hbm_next;
    t->hbm_next = (at + bytes + KT_GUARD + 4095) & ~4095ull;
    assert_true(t->hbm_next <= t->hbm_size);
    return at;
}

void reset_hbm(kt *t)
{
    t->hbm_next = KT_ARRAYS_OFF;
}

void hbm_put(kt *t, uint64_t off, const void *p, size_t n)
{
    assert_int_equal(vtpu_hbm_write(t->chip, off, p, n), 0);
}

void hbm_get(kt *t, uint64_t off, void *p, size_t n)
{
    assert_int_equal(vtpu_hbm_read(t->chip, off, p, n), 0);
}

uint64_t out_alloc(kt *t, uint64_t bytes)
{
    uint64_t at = hbm_alloc(t, bytes);
    uint8_t *s = malloc(bytes + KT_GUARD);
    assert_non_null(s);
    memset(s, KT_SENTINEL, bytes + KT_GUARD);
    hbm_put(t, at, s, bytes + KT_GUARD);
    free(s);
    return at;
}

void check_guard(kt *t, uint64_t at, uint64_t bytes)
{
    uint8_t g[KT_GUARD];
    hbm_get(t, at + bytes, g, KT_GUARD);
    for (unsigned i = 0; i < KT_GUARD; i++)
        if (g[i] != KT_SENTINEL)
            fail_msg("byte %u after the output at HBM 0x%llx was written", i,
                     (unsigned long long)at);
}

float rnd_unit(kt *t)
{
    return (float)(test_rand32(&t->rng) >> 8) / 16777216.0f;
}

void launch_init(vtpu_launch *L, uint32_t kernel, unsigned rank,
                 const uint32_t *grid, const uint8_t *sem)
{
    memset(L, 0, sizeof(*L));
    L->magic = VTPU_LAUNCH_MAGIC;
    L->version = VTPU_LAUNCH_VERSION;
    L->size = sizeof(*L);
    L->kernel = kernel;
    L->flags = VTPU_LAUNCH_F_STATUS;
    L->grid_rank = (uint8_t)rank;
    for (unsigned d = 0; d < rank; d++) {
        L->grid[d] = grid[d];
        L->semantics[d] = sem ? sem[d] : VTPU_PARALLEL;
    }
    L->status_hbm = KT_STATUS_OFF;
    L->vmem_size = KT_VMEM_SIZE;
    L->num_sems = 256;
}

void launch_operand(vtpu_launch *L, uint64_t hbm, unsigned dtype, unsigned rank,
                    const uint32_t *shape)
{
    assert_true(L->num_operands < VTPU_MAX_OPERANDS);
    vtpu_launch_operand *o = &L->operands[L->num_operands++];
    o->hbm = hbm;
    o->dtype = (uint8_t)dtype;
    o->rank = (uint8_t)rank;
    for (unsigned d = 0; d < rank; d++)
        o->shape[d] = shape[d];
}

void launch_scalars(kt *t, vtpu_launch *L, const int32_t *s, unsigned n)
{
    L->num_scalars = n;
    if (n == 0) {
        /* none: s may be NULL */
    } else if (n <= VTPU_INLINE_SCALARS) {
        memcpy(L->scalars, s, n * 4);
    } else {
        L->scalars_hbm = KT_SCALARS_OFF;
        hbm_put(t, KT_SCALARS_OFF, s, n * 4);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int run_raw(kt *t, const vtpu_launch *L, unsigned ntcs, vtpu_run_result *res)
{
    vtpu_run_opts opts = {.num_tcs = ntcs, .args = {KT_DESC_OFF, 0}};
    vtpu_launch_status zero[VTPU_MAX_TCS];
    memset(zero, 0, sizeof(zero));
    hbm_put(t, KT_STATUS_OFF, zero, sizeof(zero));
    hbm_put(t, KT_DESC_OFF, L, sizeof(*L));
    t->out_len = 0;
    t->out[0] = 0;
    double t0 = now_s();
    int rc = vtpu_chip_run(t->chip, &opts, res);
    t->last_run_s = now_s() - t0;
    return rc;
}

int run_launch(kt *t, const vtpu_launch *L, unsigned ntcs,
               vtpu_launch_status *st)
{
    vtpu_run_result res;
    if (run_raw(t, L, ntcs, &res)) {
        char msg[512], name[64];
        vtpu_error_format(&res.error, msg, sizeof(msg));
        kernel_name(t, L->kernel, name, sizeof(name));
        fail_msg("%s: engine fault: %s\nTC output:\n%s", name, msg, t->out);
    }
    if (st) {
        hbm_get(t, KT_STATUS_OFF, st, ntcs * sizeof(*st));
        for (unsigned i = 0; i < ntcs; i++) {
            assert_int_equal(st[i].magic, VTPU_STATUS_MAGIC);
            assert_int_equal(st[i].tc, i);
            assert_int_equal(st[i].code, (uint32_t)res.tc_exit[i]);
        }
    }
    return res.exit_code;
}

void run_ok(kt *t, const vtpu_launch *L, unsigned ntcs, vtpu_launch_status *st)
{
    int rc = run_launch(t, L, ntcs, st);
    if (rc) {
        char name[64];
        kernel_name(t, L->kernel, name, sizeof(name));
        fail_msg("%s: launch failed with exit code %d:\n%s", name, rc, t->out);
    }
}
