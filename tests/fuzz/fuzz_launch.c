/*
 * fuzz_launch.c - libFuzzer target: the launch-descriptor path.  The
 * project's kernel module (firmware/kernels, embedded at build time) is
 * loaded into a chip once; each input picks a kernel, a valid launch for
 * it is built (vtpu-launch.h: descriptor, operand arrays in HBM, scalars),
 * then the input's patches overwrite bytes of the descriptor and of the
 * operand data, and the launch runs on the TCs with a small instruction
 * budget.  docs/fuzzing.md.
 *
 * Input:  [kernel] [mode] { [off lo] [off hi] [n] n bytes }...
 *   kernel  index into the module's table (modulo its size)
 *   mode    bit 0: one TC instead of two; bits 1-2: grid extent 1, 2, 3
 *           or 4 along dimension 0 (arrays grow with it); bit 3: flags
 *           F_SHUFFLE|F_REVISIT (the runtime's checks)
 *   patch   n = 1 + (byte % 16) bytes at `off`: offsets below 640 are
 *           descriptor bytes, the rest operand data from ARRAYS_OFF
 *
 * Any outcome of the run is fine (a VTPU_LERR_* exit, a watchdog, a TC
 * fault); it must end, without a sanitizer report, and report coherently:
 * every TC exit code is 0, below VTPU_LERR_BASE (the kernel's own) or a
 * VTPU_LERR_* code, and a fault names a TC that was started.
 * VTPU_FUZZ_VERBOSE=1 prints each run's outcome and the TCs' output.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-blobs.h"
#include "internal.h"
#include "vtpu-launch.h"
#include "vtpu_rt.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_launch: %s:%d: check failed: %s\n",          \
                    __FILE__, __LINE__, #c);                                   \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* HBM layout of one launch. */
#define HBM_SIZE (4u << 20)
#define DESC_OFF 0x1000u
#define STATUS_OFF 0x2000u   /* VTPU_MAX_TCS status records */
#define SCALARS_OFF 0x3000u  /* scalar-prefetch values beyond the inline 16 */
#define ARRAYS_OFF 0x10000u  /* operand arrays, 4 KiB aligned */
#define INSN_BUDGET "300000" /* per TC: a launch ends in milliseconds */

typedef struct fuzz_state {
    vtpu_chip *chip;
    vtpu_module mod; /* the module's kernel table */
    int verbose;
} fuzz_state;

static void out_sink(void *opaque, unsigned tc, int fd, const char *buf,
                     size_t len)
{
    const fuzz_state *s = opaque;
    if (s->verbose)
        fprintf(stderr, "[TC %u fd %d] %.*s", tc, fd, (int)len, buf);
}

static fuzz_state *state(void)
{
    static fuzz_state s;
    char err[256];
    vtpu_config cfg;

    if (s.chip)
        return &s;
    s.verbose = getenv("VTPU_FUZZ_VERBOSE") != NULL;
    const fuzz_blob *m = &fuzz_blobs[0]; /* kernels.elf, stripped */
    CHECK(vtpu_module_parse(&s.mod, m->data, m->len, NULL, err, sizeof(err)) ==
          0);
    CHECK(vtpu_config_preset(&cfg, "v5e", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "cores", "2", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "hbm-size", "4M", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "vmem-size", "4M", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "smem-size", "256K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "imem-size", "64K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "sems", "64", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "insn-budget", INSN_BUDGET, NULL, 0) == 0);
    s.chip = vtpu_chip_new(&cfg, err, sizeof(err));
    CHECK(s.chip);
    vtpu_chip_set_output(s.chip, out_sink, &s);
    if (vtpu_chip_load_elf(s.chip, m->data, m->len, err, sizeof(err))) {
        fprintf(stderr, "fuzz_launch: %s\n", err);
        abort();
    }
    return &s;
}

/* A launch of kernel `e` the runtime accepts: arrays of `g` blocks along
 * dimension 0, one block along the others; returns the bytes of arrays. */
static uint64_t build_launch(const vtpu_kernel_entry *e, uint32_t k, uint32_t g,
                             vtpu_launch *L)
{
    uint64_t at = ARRAYS_OFF;

    memset(L, 0, sizeof(*L));
    L->magic = VTPU_LAUNCH_MAGIC;
    L->version = VTPU_LAUNCH_VERSION;
    L->size = sizeof(*L);
    L->kernel = k;
    L->flags = VTPU_LAUNCH_F_STATUS;
    L->grid_rank = 1;
    L->grid[0] = g;
    L->semantics[0] = VTPU_PARALLEL;
    L->status_hbm = STATUS_OFF;
    L->num_scalars = e->num_scalars;
    if (e->num_scalars > VTPU_INLINE_SCALARS)
        L->scalars_hbm = SCALARS_OFF;
    for (unsigned i = 0; i < VTPU_MAX_OPERANDS; i++) {
        const vtpu_operand_spec *o = &e->operands[i];
        if (o->role == VTPU_ROLE_NONE)
            break;
        vtpu_launch_operand *op = &L->operands[L->num_operands++];
        op->dtype = o->dtype ? o->dtype : VTPU_F32;
        op->rank = o->rank ? o->rank : 2;
        uint64_t bytes = vtpu_dtype_size(op->dtype);
        for (unsigned d = 0; d < op->rank; d++) {
            /* Whole-extent or unknown block dims: a lane row's worth. */
            uint32_t b = o->rank && o->block[d] ? o->block[d] : 128;
            op->shape[d] = d == 0 ? b * g : b;
            bytes *= op->shape[d];
        }
        op->hbm = at;
        at = (at + bytes + 4095) & ~(uint64_t)4095;
    }
    return at - ARRAYS_OFF;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_state *s = state();
    uint8_t *hbm = vtpu_chip_hbm_ptr(s->chip);
    vtpu_launch L;

    if (size < 2)
        return 0;
    uint32_t k = data[0] % s->mod.num_kernels;
    uint8_t mode = data[1];
    unsigned ntcs = mode & 1 ? 1 : 2;
    uint64_t arrays =
        build_launch(&s->mod.kernels[k], k, 1 + (mode >> 1 & 3), &L);
    if (mode & 8)
        L.flags |= VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT |
                   (uint32_t)k << VTPU_LAUNCH_SEED_SHIFT;
    if (ARRAYS_OFF + arrays > HBM_SIZE)
        return 0; /* (no kernel of the module is that large) */

    /* A fresh HBM each run, so a run depends on its input alone. */
    memset(hbm, 0, HBM_SIZE);
    uint8_t *desc = (uint8_t *)&L;
    for (size_t p = 2; p + 3 <= size;) {
        size_t off = data[p] | (size_t)data[p + 1] << 8;
        size_t n = 1 + data[p + 2] % 16;
        p += 3;
        if (n > size - p)
            n = size - p;
        for (size_t i = 0; i < n; i++, off++) {
            if (off < sizeof(L))
                desc[off] = data[p + i];
            else
                hbm[ARRAYS_OFF + off - sizeof(L)] = data[p + i];
        }
        p += n;
    }
    memcpy(hbm + DESC_OFF, &L, sizeof(L));

    vtpu_run_opts opts = {.num_tcs = ntcs, .args = {DESC_OFF, 0}};
    vtpu_run_result res;
    int rc = vtpu_chip_run(s->chip, &opts, &res);

    if (s->verbose) {
        char msg[512] = "";
        if (rc)
            vtpu_error_format(&res.error, msg, sizeof(msg));
        fprintf(stderr, "kernel %u %s: rc %d exit %d/%d, %llu/%llu insns %s\n",
                k, s->mod.kernels[k].name, rc, res.tc_exit[0], res.tc_exit[1],
                (unsigned long long)res.instret[0],
                (unsigned long long)res.instret[1], msg);
    }
    if (rc) {
        CHECK(res.error.kind > VTPU_ERR_NONE &&
              res.error.kind < VTPU_ERR__COUNT);
        CHECK(res.error.tc < (int32_t)ntcs);
        return 0;
    }
    for (unsigned t = 0; t < ntcs; t++) {
        int c = res.tc_exit[t];
        CHECK(c >= 0 && c < VTPU_LERR__END);
        CHECK(res.instret[t] <= strtoull(INSN_BUDGET, NULL, 10));
    }
    return 0;
}
