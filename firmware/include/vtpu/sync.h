/*
 * vtpu/sync.h - DMA, semaphores and the barrier from code on a TensorCore
 * (the custom-3 instructions of Xtpu, docs/isa.md, "custom-3").
 *
 * Freestanding C: needs only <stdint.h>.  Every intrinsic is a single
 * `.insn` so any RISC-V assembler accepts it, and each one has a "memory"
 * clobber: a DMA reads its descriptor and moves memory behind the
 * compiler's back, and semaphores order memory between TCs, so the
 * compiler must not cache memory across them.
 *
 * A typical copy, HBM block into this TC's VMEM:
 *
 *     vtpu_dma_desc d;
 *     vtpu_dma_2d(&d, vtpu_vmem(buf), row_bytes,
 *                 vtpu_hbm(off), row_pitch, row_bytes, rows, SEM_IN);
 *     vtpu_dma_start(&d);
 *     ...
 *     vtpu_sem_wait(SEM_IN, vtpu_dma_bytes(&d));
 */
#ifndef VTPU_FW_SYNC_H
#define VTPU_FW_SYNC_H

#include <stdint.h>

#include "vtpu-launch.h" /* element types (VTPU_F32, ...) of adding DMAs */

/* Memory spaces (the same numbers as vtpu_space in the engine). */
#define VTPU_DMA_HBM 1
#define VTPU_DMA_VMEM 2
#define VTPU_DMA_SMEM 3
/* TC byte meaning "the TC that starts the DMA". */
#define VTPU_DMA_SELF 0xff

/*
 * The DMA descriptor, exactly as the engine reads it from SMEM: 96 bytes,
 * little-endian, at an 8-byte-aligned SMEM address.
 *
 * The copy has up to 4 dimensions.  Dimension 0 is a contiguous run of
 * shape[0] bytes on both sides; dimensions 1..3 repeat it shape[i] times
 * with the byte strides src_stride[i-1] / dst_stride[i-1] (signed; zero
 * and negative strides are allowed).  Runs are copied in lexicographic
 * order of (dim 3, dim 2, dim 1).  Fields of dimensions >= ndims are
 * ignored.  Addresses are HBM byte offsets for HBM, and TC addresses
 * (0x1000_0000 + offset for SMEM, 0x2000_0000 + offset for VMEM) for the
 * others, in the address space of the TC named by src_tc / dst_tc.
 *
 * VMEM sides must be word-aligned: address, shape[0] and strides are
 * multiples of 4.  When the DMA completes, semaphore `sem` of TC `sem_tc`
 * is signalled by the number of bytes moved (the product of the shape,
 * which must be below 2^32).
 */
typedef struct vtpu_dma_desc {
    uint64_t src;          /*  0: source address */
    uint64_t dst;          /*  8: destination address */
    int64_t src_stride[3]; /* 16: byte strides of dims 1..3, source */
    int64_t dst_stride[3]; /* 40: byte strides of dims 1..3, destination */
    uint32_t shape[4];     /* 64: run bytes, then counts of dims 1..3 */
    uint8_t src_space;     /* 80: VTPU_DMA_HBM / _VMEM / _SMEM */
    uint8_t dst_space;     /* 81 */
    uint8_t src_tc;        /* 82: TC owning src; VTPU_DMA_SELF; 0 for HBM */
    uint8_t dst_tc;        /* 83: TC owning dst; VTPU_DMA_SELF; 0 for HBM */
    uint8_t sem_tc;        /* 84: TC whose semaphore is signalled */
    uint8_t ndims;         /* 85: 1..4 */
    uint16_t sem;          /* 86: semaphore index */
    uint32_t flags;        /* 88: 0, VTPU_DMA_REMOTE | send sem << 16,
                              or VTPU_DMA_ADD | element type << 4 */
    uint32_t reserved;     /* 92: destination chip (remote), else 0 */
} __attribute__((aligned(8))) vtpu_dma_desc;

_Static_assert(sizeof(vtpu_dma_desc) == 96, "descriptor is 96 bytes");
_Static_assert(__builtin_offsetof(vtpu_dma_desc, shape) == 64, "layout");
_Static_assert(__builtin_offsetof(vtpu_dma_desc, src_space) == 80, "layout");
_Static_assert(__builtin_offsetof(vtpu_dma_desc, sem) == 86, "layout");

/* One end of a copy: a memory space, the TC owning it and an address. */
typedef struct vtpu_dma_ref {
    uint64_t addr;
    uint8_t space, tc;
} vtpu_dma_ref;

static inline vtpu_dma_ref vtpu_hbm(uint64_t offset)
{
    vtpu_dma_ref r = {offset, VTPU_DMA_HBM, 0};
    return r;
}

/* This TC's VMEM / SMEM, from a pointer into it. */
static inline vtpu_dma_ref vtpu_vmem(const void *p)
{
    vtpu_dma_ref r = {(uint32_t)(uintptr_t)p, VTPU_DMA_VMEM, VTPU_DMA_SELF};
    return r;
}

static inline vtpu_dma_ref vtpu_smem(const void *p)
{
    vtpu_dma_ref r = {(uint32_t)(uintptr_t)p, VTPU_DMA_SMEM, VTPU_DMA_SELF};
    return r;
}

/* Another TC's VMEM / SMEM: the address as that TC sees it. */
static inline vtpu_dma_ref vtpu_vmem_tc(unsigned tc, const void *p)
{
    vtpu_dma_ref r = {(uint32_t)(uintptr_t)p, VTPU_DMA_VMEM, (uint8_t)tc};
    return r;
}

static inline vtpu_dma_ref vtpu_smem_tc(unsigned tc, const void *p)
{
    vtpu_dma_ref r = {(uint32_t)(uintptr_t)p, VTPU_DMA_SMEM, (uint8_t)tc};
    return r;
}

/*
 * General form: `ndims` dimensions, shape[0] bytes per run, strides of
 * dims 1..ndims-1; signals this TC's semaphore `sem` (change it with
 * vtpu_dma_set_sem()).
 */
static inline void vtpu_dma_nd(vtpu_dma_desc *d, vtpu_dma_ref dst,
                               vtpu_dma_ref src, unsigned ndims,
                               const uint32_t *shape, const int64_t *dst_stride,
                               const int64_t *src_stride, unsigned sem)
{
    d->src = src.addr;
    d->dst = dst.addr;
    for (unsigned i = 0; i < 3; i++) {
        int used = i + 1 < ndims;
        d->src_stride[i] = used ? src_stride[i] : 0;
        d->dst_stride[i] = used ? dst_stride[i] : 0;
    }
    for (unsigned i = 0; i < 4; i++)
        d->shape[i] = i < ndims ? shape[i] : 1;
    d->src_space = src.space;
    d->dst_space = dst.space;
    d->src_tc = src.tc;
    d->dst_tc = dst.tc;
    d->sem_tc = VTPU_DMA_SELF;
    d->ndims = (uint8_t)ndims;
    d->sem = (uint16_t)sem;
    d->flags = 0;
    d->reserved = 0;
}

/* Signal semaphore `sem` of TC `tc` (or VTPU_DMA_SELF) on completion. */
static inline void vtpu_dma_set_sem(vtpu_dma_desc *d, unsigned tc, unsigned sem)
{
    d->sem_tc = (uint8_t)tc;
    d->sem = (uint16_t)sem;
}

/* Contiguous copy of `bytes` bytes. */
static inline void vtpu_dma_1d(vtpu_dma_desc *d, vtpu_dma_ref dst,
                               vtpu_dma_ref src, uint32_t bytes, unsigned sem)
{
    uint32_t shape[1] = {bytes};
    vtpu_dma_nd(d, dst, src, 1, shape, 0, 0, sem);
}

/* `rows` runs of `row_bytes` bytes, rows `dst_pitch`/`src_pitch` apart. */
static inline void vtpu_dma_2d(vtpu_dma_desc *d, vtpu_dma_ref dst,
                               int64_t dst_pitch, vtpu_dma_ref src,
                               int64_t src_pitch, uint32_t row_bytes,
                               uint32_t rows, unsigned sem)
{
    uint32_t shape[2] = {row_bytes, rows};
    int64_t ds[1] = {dst_pitch}, ss[1] = {src_pitch};
    vtpu_dma_nd(d, dst, src, 2, shape, ds, ss, sem);
}

/* shape = {run bytes, n1, n2}; strides of dims 1 and 2. */
static inline void vtpu_dma_3d(vtpu_dma_desc *d, vtpu_dma_ref dst,
                               const int64_t dst_stride[2], vtpu_dma_ref src,
                               const int64_t src_stride[2],
                               const uint32_t shape[3], unsigned sem)
{
    vtpu_dma_nd(d, dst, src, 3, shape, dst_stride, src_stride, sem);
}

/* shape = {run bytes, n1, n2, n3}; strides of dims 1, 2 and 3. */
static inline void vtpu_dma_4d(vtpu_dma_desc *d, vtpu_dma_ref dst,
                               const int64_t dst_stride[3], vtpu_dma_ref src,
                               const int64_t src_stride[3],
                               const uint32_t shape[4], unsigned sem)
{
    vtpu_dma_nd(d, dst, src, 4, shape, dst_stride, src_stride, sem);
}

/* Bytes the DMA moves, i.e. what its semaphore is signalled by. */
/*
 * Remote DMA (docs/multichip.md): after building a descriptor with
 * vtpu_dma_1d..4d and vtpu_dma_set_sem(d, tc, recv_sem), make its
 * destination memory (dst address, space, dst_tc) and its semaphore
 * (the receive semaphore: sem_tc/sem) name those of chip `chip`; the
 * source stays on this chip.  `send_sem` (this TC's) is signalled by the
 * bytes once the data has left, the receive semaphore on `chip` once it
 * has landed.  VTPU_DMA_SELF in dst_tc/sem_tc means the TC with this
 * TC's index on `chip`.  Address the destination as if it were local:
 * vtpu_vmem(buf) names `buf` in the remote TC's VMEM (same program,
 * same address), vtpu_hbm(off) the remote chip's HBM.
 */
#define VTPU_DMA_REMOTE 1u
static inline void vtpu_dma_set_remote(vtpu_dma_desc *d, uint32_t chip,
                                       uint32_t send_sem)
{
    d->flags = VTPU_DMA_REMOTE | send_sem << 16;
    d->reserved = chip;
}

/*
 * Adding DMA (pltpu.async_copy(src, dst, sem, add=True)): the DMA adds
 * each 4-byte element of the source to the destination's element instead
 * of overwriting it; `dtype` is VTPU_F32 (IEEE binary32 add, round to
 * nearest even, as VADD.F32), VTPU_I32 or VTPU_U32 (modulo 2^32).
 * Addresses, runs and strides must be multiples of 4 on both sides.  A
 * local DMA only (a remote DMA cannot add).  Call after vtpu_dma_1d..4d.
 */
#define VTPU_DMA_ADD (1u << 1)
static inline void vtpu_dma_set_add(vtpu_dma_desc *d, uint32_t dtype)
{
    d->flags = VTPU_DMA_ADD | (dtype & 0xfu) << 4;
}

/*
 * Semaphores 254 and 255 belong to vtpu_slice_barrier() (the TC runtime
 * and kernels must not use them; the default 256 semaphores per TC are
 * needed).  vtpu_barrier_sem() is the first of the two.
 */
#define VTPU_BARRIER_SEM 254u
static inline uint32_t vtpu_barrier_sem(void)
{
    return VTPU_BARRIER_SEM;
}

static inline uint32_t vtpu_dma_bytes(const vtpu_dma_desc *d)
{
    uint32_t n = 1;
    for (unsigned i = 0; i < d->ndims && i < 4; i++)
        n *= d->shape[i];
    return n;
}

/*
 * ---- the instructions ----
 * Only for the TC; without them this header also describes the descriptor
 * to host code (the engine's tests use it to check the layout).
 */
#if defined(__riscv)

/* dma.start: validate and start the copy `d` describes. */
static inline void vtpu_dma_start(const vtpu_dma_desc *d)
{
    __asm__ volatile(".insn r 0x7b, 0, 0, x0, %0, x0" ::"r"(d) : "memory");
}

/* sem.signal: this TC's semaphore `sem` += n. */
static inline void vtpu_sem_signal(uint32_t sem, uint32_t n)
{
    __asm__ volatile(".insn r 0x7b, 1, 0, x0, %0, %1" ::"r"(sem), "r"(n)
                     : "memory");
}

/* sem.signal.tc: semaphore `sem` of TC `tc` += n. */
static inline void vtpu_sem_signal_tc(uint32_t tc, uint32_t sem, uint32_t n)
{
    __asm__ volatile(".insn r4 0x7b, 2, 0, x0, %0, %1, %2" ::"r"(tc), "r"(sem),
                     "r"(n)
                     : "memory");
}

/* sem.wait: block until this TC's semaphore `sem` >= n, then subtract n. */
static inline void vtpu_sem_wait(uint32_t sem, uint32_t n)
{
    __asm__ volatile(".insn r 0x7b, 3, 0, x0, %0, %1" ::"r"(sem), "r"(n)
                     : "memory");
}

/* sem.read: the current value of this TC's semaphore `sem`. */
static inline uint32_t vtpu_sem_read(uint32_t sem)
{
    uint32_t v;
    __asm__ volatile(".insn r 0x7b, 4, 0, %0, %1, x0"
                     : "=r"(v)
                     : "r"(sem)
                     : "memory");
    return v;
}

/* barrier: wait until every TC of the run has arrived. */
static inline void vtpu_barrier(void)
{
    __asm__ volatile(".insn r 0x7b, 5, 0, x0, x0, x0" ::: "memory");
}

/* This TC's index and the number of TCs running the program (CSRs). */
#ifndef VTPU_HAVE_TC_ID
#define VTPU_HAVE_TC_ID 1
static inline uint32_t vtpu_tc_id(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc0" : "=r"(v));
    return v;
}

static inline uint32_t vtpu_num_tcs(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc1" : "=r"(v));
    return v;
}
#endif /* VTPU_HAVE_TC_ID */

/* ---- slices (docs/multichip.md) ---- */

/* This chip's index in the slice (0 for a lone chip) and the chip count. */
static inline uint32_t vtpu_chip_id(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc2" : "=r"(v));
    return v;
}

static inline uint32_t vtpu_num_chips(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc3" : "=r"(v));
    return v;
}

static inline void vtpu__unpack3(uint32_t v, uint32_t out[3])
{
    out[0] = v & 0x3ff;
    out[1] = v >> 10 & 0x3ff;
    out[2] = v >> 20 & 0x3ff;
}

/* The slice's shape (chips along x, y, z; unused axes 1). */
static inline void vtpu_mesh_shape(uint32_t dims[3])
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc4" : "=r"(v));
    vtpu__unpack3(v, dims);
}

/* This chip's coordinates. */
static inline void vtpu_mesh_coords(uint32_t c[3])
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc5" : "=r"(v));
    vtpu__unpack3(v, c);
}

/* Coordinates -> chip id (x + X * (y + Y * z)). */
static inline uint32_t vtpu_mesh_chip(const uint32_t c[3])
{
    uint32_t d[3];
    vtpu_mesh_shape(d);
    return c[0] + d[0] * (c[1] + d[1] * c[2]);
}

/* The chip `delta` steps along `axis` (0..2) from this one, wrapping
 * around the axis (whether or not the slice has the wrap-around link:
 * the DMA is routed either way). */
static inline uint32_t vtpu_mesh_neighbor(int axis, int delta)
{
    uint32_t d[3], c[3];
    vtpu_mesh_shape(d);
    vtpu_mesh_coords(c);
    int n = (int)d[axis];
    int v = ((int)c[axis] + delta % n + n) % n;
    c[axis] = (uint32_t)v;
    return c[0] + d[0] * (c[1] + d[1] * c[2]);
}

/* sem.signal.remote: semaphore `sem` of TC `tc` (VTPU_DMA_SELF: the TC
 * with this TC's index) of chip `chip` += n. */
static inline void vtpu_sem_signal_remote(uint32_t chip, uint32_t tc,
                                          uint32_t sem, uint32_t n)
{
    uint32_t st = (sem & 0xffff) | (tc & 0xff) << 16;
    __asm__ volatile(".insn r4 0x7b, 6, 0, x0, %0, %1, %2" ::"r"(chip), "r"(st),
                     "r"(n)
                     : "memory");
}

/*
 * Pallas' make_async_remote_copy(src, dst, send_sem, recv_sem, device_id)
 * .start(): copy `bytes` from src (this chip) to dst on chip `chip`; the
 * receive semaphore is recv_sem of the TC with this TC's index there.
 * .wait_send() is vtpu_sem_wait(send_sem, bytes) here, .wait_recv() is
 * vtpu_sem_wait(recv_sem, bytes) on the receiving TC.
 */
static inline void vtpu_remote_copy(vtpu_dma_ref dst, vtpu_dma_ref src,
                                    uint32_t bytes, uint32_t chip,
                                    uint32_t send_sem, uint32_t recv_sem)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, dst, src, bytes, recv_sem);
    vtpu_dma_set_sem(&d, VTPU_DMA_SELF, recv_sem);
    vtpu_dma_set_remote(&d, chip, send_sem);
    vtpu_dma_start(&d);
}

/*
 * Every chip's TC k meets TC k of every other chip: it signals their
 * barrier semaphore by 1 and waits for num_chips - 1, in two rounds
 * (semaphores 254 then 255) so that a chip already at the next barrier
 * cannot be counted for this one; then, if several TCs run, the chip's
 * own TC barrier.  Every TC of every chip must call it the same number
 * of times.
 */
static inline void vtpu_slice_barrier(void)
{
    uint32_t n = vtpu_num_chips(), me = vtpu_chip_id();

    for (uint32_t round = 0; round < 2 && n > 1; round++) {
        for (uint32_t c = 0; c < n; c++)
            if (c != me)
                vtpu_sem_signal_remote(c, VTPU_DMA_SELF,
                                       VTPU_BARRIER_SEM + round, 1);
        vtpu_sem_wait(VTPU_BARRIER_SEM + round, n - 1);
    }
    if (vtpu_num_tcs() > 1)
        vtpu_barrier();
}
#endif /* __riscv */

#endif /* VTPU_FW_SYNC_H */
