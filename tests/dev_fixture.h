/*
 * dev_fixture.h - what the device tests (test_dev.c,
 * test_guest_boundary.c) share: the host side of vtpu_dev played by hand.
 * A fake host memory that the device reaches by DMA, callbacks that count
 * interrupts, log lines and output notifications, register access, and a
 * command ring at the start of host memory.
 */
#ifndef VTPU_TEST_DEV_FIXTURE_H
#define VTPU_TEST_DEV_FIXTURE_H

#include <stdatomic.h>
#include <stdint.h>

#include "dev.h"

#define FX_HOST_BASE 0x80000000ull /* bus address of the fake host memory */
#define FX_HOST_SIZE (4u << 20)    /* its size; the ring is at its start */

/* The host: memory and what the device told it. */
typedef struct fake_host {
    uint8_t *mem;             /* FX_HOST_SIZE bytes at FX_HOST_BASE */
    atomic_int irq;           /* the interrupt line's level */
    atomic_uint irq_changes;  /* set_irq calls */
    atomic_uint irq_raises;   /* set_irq(1) calls: interrupts sent */
    atomic_bool read_gate;    /* set: the device's DMA reads wait */
    atomic_uint guest_errors; /* VTPU_LOG_GUEST_ERROR lines */
    atomic_uint cmd_errors;   /* VTPU_LOG_CMD_ERROR lines */
    atomic_uint cmds_done;    /* trace lines "command N (OP) done" */
    atomic_uint output_ready; /* output_ready calls */
} fake_host;

/* Every callback of vtpu_dev_ops, on a fake_host as opaque; DMA outside
 * its memory fails. */
extern const vtpu_dev_ops fake_host_ops;

typedef struct fx {
    vtpu_chip *chip;
    vtpu_dev *dev;
    fake_host host;
    uint32_t entries; /* ring size; 0: no ring set up */
    uint32_t tail;    /* the driver's copy of RING_TAIL */
} fx;

/* A chip from preset `gen` with `hbm` of HBM ("16M"; lazily mapped) and
 * a device on it with `opts` (may be NULL); with `entries`, a ring of
 * that many commands, enabled and idle. */
fx *fx_create(const char *gen, const char *hbm, const vtpu_dev_opts *opts,
              uint32_t entries);
void fx_free(fx *f);

/* 32-bit register access; rd64() reads LO then HI. */
uint32_t rd(fx *f, uint32_t off);
uint64_t rd64(fx *f, uint32_t lo);
void wr(fx *f, uint32_t off, uint32_t v);
/* The device finished what it was given (asserted, 20 s at most). */
void wait_idle(fx *f);

/* Program the ring (f->entries at FX_HOST_BASE), tail 0, and enable it;
 * the device must then be idle. */
void enable_ring(fx *f);
/* A command with opcode `op` and flags, everything else 0. */
vtpu_cmd mk(uint32_t op, uint32_t flags);
/* Write ring entry `idx` without ringing the doorbell (past the ring's
 * end too: host memory beyond it). */
void put_cmd(fx *f, uint32_t idx, const vtpu_cmd *c);
/* Append a command and ring the doorbell; returns its ring index. */
uint32_t push(fx *f, const vtpu_cmd *c);
/* Push LOAD_PROG of the `len` bytes at HBM offset `src` into program
 * slot `slot`; returns its ring index. */
uint32_t push_load(fx *f, uint32_t slot, uint64_t src, uint64_t len);

#endif
