/*
 * fuzz_snapshot.c - libFuzzer target: the snapshot loader
 * (hw/vtpu/snapshot.c, vtpu_chip_load), which reads migration streams
 * and vtpu-run's snapshot files, both untrusted.  docs/fuzzing.md.
 *
 * At start-up a real snapshot is made: an embedded RV32 program paused
 * mid-run on a small 2-TC chip, saved with HBM.  An input edits a copy of
 * it: `[cut u8] {[offset u24] [n-1] n bytes}...` - the edits are written
 * at offset (modulo the snapshot's size), then the copy is cut to
 * (cut / 256) of its length unless cut is 255.  The loader must refuse it
 * with a message (and leave no run pending) or load it; a loaded run
 * resumes (watchdog at 300 000 instructions per TC) and ends; then the
 * chip saves again, and that stream loads back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "fuzz-blobs.h"
#include "internal.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_snapshot: %s:%d: check failed: %s\n",       \
                    __FILE__, __LINE__, #c);                                   \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int buf_write(void *opaque, const void *p, size_t n)
{
    g_byte_array_append(opaque, p, (guint)n);
    return 0;
}

typedef struct rbuf {
    const uint8_t *p;
    size_t n, at;
} rbuf;

static int buf_read(void *opaque, void *p, size_t n)
{
    rbuf *r = opaque;
    if (n > r->n - r->at)
        return -1;
    memcpy(p, r->p + r->at, n);
    r->at += n;
    return 0;
}

static void quiet(void *opaque, unsigned tc, int fd, const char *buf,
                  size_t len)
{
    (void)opaque, (void)tc, (void)fd, (void)buf, (void)len;
}

static void on_pause(void *opaque, vtpu_chip *chip, unsigned tc)
{
    char err[256];
    (void)tc;
    CHECK(vtpu_chip_save(chip, VTPU_SNAP_HBM, buf_write, opaque, err,
                         sizeof(err)) == 0);
}

static vtpu_chip *chip;
static GByteArray *base; /* the snapshot inputs edit */

static void setup(void)
{
    vtpu_config cfg;
    char err[256];

    CHECK(vtpu_config_preset(&cfg, "v5e", NULL, 0) == 0);
    cfg.num_tcs = 2;
    CHECK(vtpu_config_set(&cfg, "imem-size", "256K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "smem-size", "256K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "vmem-size", "1M", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "hbm-size", "1M", NULL, 0) == 0);
    cfg.mxu_count = 1;
    cfg.insn_budget = 300000;
    chip = vtpu_chip_new(&cfg, err, sizeof(err));
    CHECK(chip);
    vtpu_chip_set_output(chip, quiet, NULL);
    CHECK(fuzz_nblobs >= 1);
    CHECK(vtpu_chip_load_elf(chip, fuzz_blobs[0].data, fuzz_blobs[0].len,
                             err, sizeof(err)) == 0);
    base = g_byte_array_new();
    vtpu_chip_set_pause(chip, 1, 200, on_pause, base);
    vtpu_run_result res;
    vtpu_chip_run(chip, NULL, &res);
    vtpu_chip_set_pause(chip, 0, 0, NULL, NULL);
    CHECK(base->len > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];

    if (!chip)
        setup();
    uint8_t *s = g_memdup2(base->data, base->len);
    size_t n = base->len;
    if (size) {
        if (data[0] != 255)
            n = n * data[0] / 256;
        data++, size--;
    }
    while (size >= 4) {
        size_t off = (data[0] | data[1] << 8 | (size_t)data[2] << 16) %
                     base->len;
        size_t k = (size_t)data[3] + 1;
        data += 4, size -= 4;
        if (k > size)
            k = size;
        if (k > base->len - off)
            k = base->len - off;
        memcpy(s + off, data, k);
        data += k, size -= k;
    }

    rbuf r = {s, n, 0};
    err[0] = 0;
    if (vtpu_chip_load(chip, VTPU_SNAP_HBM, buf_read, &r, err,
                       sizeof(err))) {
        CHECK(err[0] && memchr(err, 0, sizeof(err)));
        CHECK(!strchr(err, '\n'));
        CHECK(!vtpu_chip_run_pending(chip));
        g_free(s);
        return 0;
    }
    if (vtpu_chip_run_pending(chip)) {
        vtpu_run_result res;
        vtpu_chip_run_resume(chip, &res);
        CHECK(!vtpu_chip_run_pending(chip));
    }
    /* what loaded (and ran) saves, and that loads again */
    GByteArray *again = g_byte_array_new();
    CHECK(vtpu_chip_save(chip, VTPU_SNAP_HBM, buf_write, again, err,
                         sizeof(err)) == 0);
    rbuf r2 = {again->data, again->len, 0};
    if (vtpu_chip_load(chip, VTPU_SNAP_HBM, buf_read, &r2, err,
                       sizeof(err))) {
        fprintf(stderr, "fuzz_snapshot: a saved chip does not load: %s\n",
                err);
        abort();
    }
    g_byte_array_free(again, TRUE);
    g_free(s);
    return 0;
}
