/*
 * helpers.h - shared by the unit tests: instruction encoders, an in-memory
 * ELF builder and a one-call "run these words" helper.
 */
#ifndef VTPU_TEST_HELPERS_H
#define VTPU_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "vtpu.h"

/* RV32 encoders (register numbers, immediates as the assembler takes them). */
uint32_t enc_r(uint32_t opc, uint32_t f3, uint32_t f7, unsigned rd,
               unsigned rs1, unsigned rs2);
uint32_t enc_r4(uint32_t opc, uint32_t f3, uint32_t f2, unsigned rd,
                unsigned rs1, unsigned rs2, unsigned rs3);
uint32_t enc_i(uint32_t opc, uint32_t f3, unsigned rd, unsigned rs1,
               int32_t imm);
uint32_t enc_s(uint32_t opc, uint32_t f3, unsigned rs1, unsigned rs2,
               int32_t imm);
uint32_t enc_b(uint32_t f3, unsigned rs1, unsigned rs2, int32_t off);
uint32_t enc_u(uint32_t opc, unsigned rd, uint32_t imm20);
uint32_t enc_j(unsigned rd, int32_t off);

/* Common instructions. */
uint32_t rv_addi(unsigned rd, unsigned rs1, int32_t imm);
uint32_t rv_lui(unsigned rd, uint32_t imm20);
uint32_t rv_li_hi(unsigned rd, uint32_t value); /* lui part of li */
uint32_t rv_li_lo(unsigned rd, uint32_t value); /* addi part of li */
uint32_t rv_ecall(void);
uint32_t rv_ebreak(void);

/* A program that ends with exit(a0): appends "li a7,93; ecall". */
typedef struct test_prog {
    uint32_t words[4096];
    size_t n;
    uint8_t data[4096]; /* initial SMEM at VTPU_SMEM_BASE */
    size_t data_len;
} test_prog;

void prog_init(test_prog *p);
void prog_emit(test_prog *p, uint32_t w);
void prog_li(test_prog *p, unsigned rd, uint32_t value); /* lui+addi */
void prog_exit(test_prog *p);                            /* exit(a0) */

/* Build an ELF32 image (malloc'd) with .text at IMEM, data at SMEM. */
void *build_elf(const test_prog *p, size_t *len);

/* New chip from preset `gen` with `ntcs` TCs (0 = preset), asserting. */
vtpu_chip *test_chip(const char *gen, unsigned ntcs);
/* Load p into chip and run it; returns vtpu_chip_run's result. */
int test_run(vtpu_chip *chip, const test_prog *p, vtpu_run_result *res);
/* The same with run options (NULL: vtpu_chip_run's defaults). */
int test_run_opts(vtpu_chip *chip, const test_prog *p,
                  const vtpu_run_opts *opts, vtpu_run_result *res);

/* Apply $VTPU_TEST_DMA_ORDER ("on-wait", "random:7", ...) to chip, if
 * set: the kernel tests run again under deferred DMA orders
 * (tests/meson.build), where a kernel that assumes an order fails. */
void test_dma_order_from_env(vtpu_chip *chip);
/* VTPU_TEST_CHECKS="race", "poison" or "race,poison": switch those
 * checks on (docs/debugging.md). */
void test_checks_from_env(vtpu_chip *chip);

/* A whole file, malloc'd; fails the test (naming the path) if unreadable. */
uint8_t *test_read_file(const char *path, size_t *len);

/* The kernel table (.vtpu.kernels section, vtpu-launch.h) of a kernel
 * module ELF: its first entry and *count; fails the test if absent. */
const uint8_t *test_module_kernels(const uint8_t *elf, size_t len,
                                   uint32_t *count);
/* Index of kernel `name` in that table; fails the test if absent. */
uint32_t test_module_kernel_index(const uint8_t *elf, size_t len,
                                  const char *name);

/* Deterministic random numbers for tests (xorshift64*). */
uint64_t test_rand64(uint64_t *state);
uint32_t test_rand32(uint64_t *state);

/* Snapshot streams in memory (vtpu-snapshot.h's callbacks): append to
 * a GByteArray (opaque) / read from a test_snap_in (-1 past its end). */
int test_snap_write(void *opaque, const void *p, size_t n);
typedef struct test_snap_in {
    const uint8_t *p;
    size_t n, at;
} test_snap_in;
int test_snap_read(void *opaque, void *p, size_t n);

#endif
