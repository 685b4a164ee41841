/* helpers.c - see helpers.h. */
#include "helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "vtpu-debug.h"
#include "vtpu-launch.h"

uint32_t enc_r(uint32_t opc, uint32_t f3, uint32_t f7, unsigned rd,
               unsigned rs1, unsigned rs2)
{
    return opc | (rd << 7) | (f3 << 12) | (rs1 << 15) | (rs2 << 20) |
           (f7 << 25);
}

uint32_t enc_r4(uint32_t opc, uint32_t f3, uint32_t f2, unsigned rd,
                unsigned rs1, unsigned rs2, unsigned rs3)
{
    return opc | (rd << 7) | (f3 << 12) | (rs1 << 15) | (rs2 << 20) |
           (f2 << 25) | (rs3 << 27);
}

uint32_t enc_i(uint32_t opc, uint32_t f3, unsigned rd, unsigned rs1,
               int32_t imm)
{
    return opc | (rd << 7) | (f3 << 12) | (rs1 << 15) | ((uint32_t)imm << 20);
}

uint32_t enc_s(uint32_t opc, uint32_t f3, unsigned rs1, unsigned rs2,
               int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return opc | ((u & 0x1f) << 7) | (f3 << 12) | (rs1 << 15) | (rs2 << 20) |
           ((u >> 5) << 25);
}

uint32_t enc_b(uint32_t f3, unsigned rs1, unsigned rs2, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return 0x63 | (((u >> 11) & 1) << 7) | (((u >> 1) & 0xf) << 8) |
           (f3 << 12) | (rs1 << 15) | (rs2 << 20) | (((u >> 5) & 0x3f) << 25) |
           (((u >> 12) & 1) << 31);
}

uint32_t enc_u(uint32_t opc, unsigned rd, uint32_t imm20)
{
    return opc | (rd << 7) | (imm20 << 12);
}

uint32_t enc_j(unsigned rd, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return 0x6f | (rd << 7) | (((u >> 12) & 0xff) << 12) |
           (((u >> 11) & 1) << 20) | (((u >> 1) & 0x3ff) << 21) |
           (((u >> 20) & 1) << 31);
}

uint32_t rv_addi(unsigned rd, unsigned rs1, int32_t imm)
{
    return enc_i(0x13, 0, rd, rs1, imm);
}

uint32_t rv_lui(unsigned rd, uint32_t imm20)
{
    return enc_u(0x37, rd, imm20 & 0xfffff);
}

uint32_t rv_li_hi(unsigned rd, uint32_t value)
{
    return rv_lui(rd, (value + 0x800) >> 12);
}

uint32_t rv_li_lo(unsigned rd, uint32_t value)
{
    int32_t lo = (int32_t)(value << 20) >> 20;
    return rv_addi(rd, rd, lo);
}

uint32_t rv_ecall(void)
{
    return 0x00000073;
}

uint32_t rv_ebreak(void)
{
    return 0x00100073;
}

void prog_init(test_prog *p)
{
    memset(p, 0, sizeof(*p));
}

void prog_emit(test_prog *p, uint32_t w)
{
    assert_true(p->n < sizeof(p->words) / sizeof(p->words[0]));
    p->words[p->n++] = w;
}

void prog_li(test_prog *p, unsigned rd, uint32_t value)
{
    prog_emit(p, rv_li_hi(rd, value));
    prog_emit(p, rv_li_lo(rd, value));
}

void prog_exit(test_prog *p)
{
    prog_emit(p, rv_addi(17, 0, 93)); /* li a7, 93 */
    prog_emit(p, rv_ecall());
}

/* Minimal ELF32 writer: header, two program headers, no sections. */
static void put16(uint8_t *b, uint16_t v)
{
    b[0] = v & 0xff;
    b[1] = v >> 8;
}

static void put32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (v >> (8 * i)) & 0xff;
}

void *build_elf(const test_prog *p, size_t *len)
{
    size_t text_off = 0x100, text_len = p->n * 4;
    size_t data_off = text_off + text_len, data_len = p->data_len;
    unsigned phnum = data_len ? 2 : 1;
    size_t total = data_off + data_len;
    uint8_t *b = calloc(1, total);
    assert_non_null(b);

    memcpy(b, "\177ELF", 4);
    b[4] = 1;           /* ELFCLASS32 */
    b[5] = 1;           /* little endian */
    b[6] = 1;           /* EV_CURRENT */
    put16(b + 16, 2);   /* ET_EXEC */
    put16(b + 18, 243); /* EM_RISCV */
    put32(b + 20, 1);
    put32(b + 24, VTPU_IMEM_BASE); /* entry */
    put32(b + 28, 52);             /* phoff */
    put32(b + 32, 0);              /* shoff */
    put32(b + 36, 0x2);            /* float ABI: single */
    put16(b + 40, 52);
    put16(b + 42, 32);
    put16(b + 44, phnum);
    put16(b + 46, 40);
    put16(b + 48, 0);
    put16(b + 50, 0);

    uint8_t *ph = b + 52;
    put32(ph + 0, 1); /* PT_LOAD */
    put32(ph + 4, text_off);
    put32(ph + 8, VTPU_IMEM_BASE);
    put32(ph + 12, VTPU_IMEM_BASE);
    put32(ph + 16, text_len);
    put32(ph + 20, text_len);
    put32(ph + 24, 5); /* R+X */
    put32(ph + 28, 4);
    if (data_len) {
        ph += 32;
        put32(ph + 0, 1);
        put32(ph + 4, data_off);
        put32(ph + 8, VTPU_SMEM_BASE);
        put32(ph + 12, VTPU_SMEM_BASE);
        put32(ph + 16, data_len);
        put32(ph + 20, data_len);
        put32(ph + 24, 6); /* R+W */
        put32(ph + 28, 4);
    }
    for (size_t i = 0; i < p->n; i++)
        put32(b + text_off + 4 * i, p->words[i]);
    memcpy(b + data_off, p->data, data_len);
    *len = total;
    return b;
}

vtpu_chip *test_chip(const char *gen, unsigned ntcs)
{
    vtpu_config cfg;
    char err[256];
    assert_int_equal(vtpu_config_preset(&cfg, gen, err, sizeof(err)), 0);
    if (ntcs)
        cfg.num_tcs = ntcs;
    vtpu_chip *chip = vtpu_chip_new(&cfg, err, sizeof(err));
    if (!chip)
        fail_msg("vtpu_chip_new: %s", err);
    return chip;
}

int test_run(vtpu_chip *chip, const test_prog *p, vtpu_run_result *res)
{
    return test_run_opts(chip, p, NULL, res);
}

int test_run_opts(vtpu_chip *chip, const test_prog *p,
                  const vtpu_run_opts *opts, vtpu_run_result *res)
{
    size_t len;
    char err[256];
    void *elf = build_elf(p, &len);
    int rc = vtpu_chip_load_elf(chip, elf, len, err, sizeof(err));
    free(elf);
    if (rc)
        fail_msg("vtpu_chip_load_elf: %s", err);
    return vtpu_chip_run(chip, opts, res);
}

uint64_t test_rand64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint32_t test_rand32(uint64_t *s)
{
    return (uint32_t)(test_rand64(s) >> 32);
}

void test_dma_order_from_env(vtpu_chip *chip)
{
    const char *s = getenv("VTPU_TEST_DMA_ORDER");
    vtpu_dma_order order;
    uint64_t seed;
    char err[128];

    if (!s || !*s)
        return;
    if (vtpu_dma_order_parse(s, &order, &seed, err, sizeof(err)))
        fail_msg("VTPU_TEST_DMA_ORDER: %s", err);
    vtpu_chip_set_dma_order(chip, order, seed);
}

void test_checks_from_env(vtpu_chip *chip)
{
    const char *s = getenv("VTPU_TEST_CHECKS");
    char err[128];

    if (!s || !*s)
        return;
    if (vtpu_chip_set_checks(chip, strstr(s, "race") != NULL,
                             strstr(s, "poison") != NULL, err, sizeof(err)))
        fail_msg("VTPU_TEST_CHECKS: %s", err);
}

uint8_t *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (is it built?)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(n > 0);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

const uint8_t *test_module_kernels(const uint8_t *b, size_t len,
                                   uint32_t *count)
{
    assert_true(len >= 52);
    uint32_t shoff = le32(b + 32);
    uint16_t shentsize = le16(b + 46), shnum = le16(b + 48),
             shstrndx = le16(b + 50);
    assert_true(shstrndx < shnum && shoff + (uint64_t)shnum * shentsize <= len);
    uint32_t stroff = le32(b + shoff + shstrndx * shentsize + 16);
    assert_true(stroff < len);
    const char *strtab = (const char *)b + stroff;
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = b + shoff + i * shentsize;
        if (strcmp(strtab + le32(sh), ".vtpu.kernels"))
            continue;
        uint32_t off = le32(sh + 16), size = le32(sh + 20);
        assert_true(off + (uint64_t)size <= len);
        assert_int_equal(size % sizeof(vtpu_kernel_entry), 0);
        *count = size / sizeof(vtpu_kernel_entry);
        return b + off;
    }
    fail_msg("no .vtpu.kernels section in the module");
    return NULL;
}

uint32_t test_module_kernel_index(const uint8_t *elf, size_t len,
                                  const char *name)
{
    uint32_t n;
    const uint8_t *tab = test_module_kernels(elf, len, &n);
    for (uint32_t i = 0; i < n; i++) {
        vtpu_kernel_entry e;
        memcpy(&e, tab + i * sizeof(e), sizeof(e));
        if (!strncmp(e.name, name, sizeof(e.name)))
            return i;
    }
    fail_msg("kernel %s not in the module", name);
    return 0;
}

int test_snap_write(void *opaque, const void *p, size_t n)
{
    g_byte_array_append(opaque, p, (guint)n);
    return 0;
}

int test_snap_read(void *opaque, void *p, size_t n)
{
    test_snap_in *r = opaque;
    if (n > r->n - r->at)
        return -1;
    memcpy(p, r->p + r->at, n);
    r->at += n;
    return 0;
}
