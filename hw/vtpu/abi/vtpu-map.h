/*
 * vtpu-map.h - the TensorCore address map and chip limits.
 *
 * Shared by the engine (host C) and by code that runs on the TCs (compiled
 * with riscv64-unknown-elf-gcc), so it holds only #defines.
 * docs/architecture.md explains the map.
 *
 * Each TC sees one 32-bit address space:
 *
 *   0x0010_0000  IMEM  instructions; fetched only (Harvard: not readable or
 *                      writable by scalar loads/stores)
 *   0x1000_0000  SMEM  scalar data: .data/.bss/stack, launch parameters;
 *                      scalar loads/stores, vector-free
 *   0x2000_0000  VMEM  vector memory: only vector loads/stores, MXU and DMA
 *   0x3c00_0000  VMEM_SHARED  one vector memory of the chip, the same bytes
 *                      for every TC (Pallas' VMEM_SHARED); reached like VMEM
 *                      (vector loads/stores, DMA with space VMEM); absent
 *                      when vmem-shared is 0
 *
 * HBM is not in the TC's address space at all: only DMA reaches it, with
 * 64-bit byte offsets.  Semaphores are addressed by index.
 */
#ifndef VTPU_MAP_H
#define VTPU_MAP_H

#define VTPU_IMEM_BASE 0x00100000u
#define VTPU_IMEM_MAX 0x0ff00000u /* largest IMEM the window allows */
#define VTPU_SMEM_BASE 0x10000000u
#define VTPU_SMEM_MAX 0x10000000u
#define VTPU_VMEM_BASE 0x20000000u
#define VTPU_VMEM_MAX 0x20000000u /* the VMEM window */
/* The top 64 MiB of the window is the chip's shared VMEM, so a TC's own
 * VMEM has at most 448 MiB. */
#define VTPU_VMEM_SHARED_BASE 0x3c000000u
#define VTPU_VMEM_SHARED_MAX 0x04000000u
#define VTPU_VMEM_PRIVATE_MAX (VTPU_VMEM_SHARED_BASE - VTPU_VMEM_BASE)

#define VTPU_MAX_TCS 8
#define VTPU_MAX_SEMS 4096

/* Vector register shape: 8 sublanes x 128 lanes x 32 bit. */
#define VTPU_SUBLANES 8
#define VTPU_LANES 128
#define VTPU_VREG_ELEMS (VTPU_SUBLANES * VTPU_LANES)
#define VTPU_VREG_BYTES (VTPU_VREG_ELEMS * 4)
#define VTPU_NUM_VREGS 32
#define VTPU_NUM_MASKS 8

/* Custom CSRs (user read-only range 0xCC0-0xCFF). */
#define VTPU_CSR_TCID 0xCC0 /* this TC's index */
#define VTPU_CSR_NTCS 0xCC1 /* TCs running this program */
/* Slices (docs/multichip.md): chip id = x + X * (y + Y * z). */
#define VTPU_CSR_CHIPID 0xCC2 /* this chip's index in the slice (0 alone) */
#define VTPU_CSR_NCHIPS 0xCC3 /* chips in the slice (1 alone) */
#define VTPU_CSR_MESH 0xCC4   /* dims x | y << 10 | z << 20 (unused: 1) */
#define VTPU_CSR_COORD 0xCC5  /* this chip's coordinates, same packing */

/* ecall services (Linux RISC-V numbering, a7 = number). */
#define VTPU_SYS_WRITE 64
#define VTPU_SYS_EXIT 93
#define VTPU_SYS_EXIT_GROUP 94

#endif /* VTPU_MAP_H */
