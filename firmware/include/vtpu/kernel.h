/*
 * vtpu/kernel.h - writing a kernel for the vtpu TC runtime (Pallas-style).
 *
 * A kernel is a body function plus, per operand, a memory space, a block
 * shape and an index map; the TC runtime (firmware/runtime, linked into
 * every kernel module) walks the grid of a launch, DMAs each operand's
 * blocks between HBM and VMEM/SMEM around the body, and calls the body once
 * per grid point with the addresses of the current blocks.
 * docs/kernels.md teaches it; the short version:
 *
 *     #include <vtpu/kernel.h>
 *
 *     // block (i, 0) of every operand at grid point (i)
 *     VTPU_INDEX_MAP(rows, g, s, b) { b[0] = g[0]; b[1] = 0; }
 *
 *     VTPU_BODY(add_sin_body, k)
 *     {
 *         VLD(1, vtpu_ref(k, 0));     // x block, (8,128) f32 in VMEM
 *         VLD(2, vtpu_ref(k, 1));     // y block
 *         VADD_F32(3, 1, 2);
 *         VBCAST_F32(4, 2.0f);
 *         VMUL_F32(3, 3, 4);
 *         VSIN(3, 3);
 *         VST(3, vtpu_ref(k, 2));     // o block
 *     }
 *
 *     VTPU_KERNEL(add_sin_f32, add_sin_body,
 *                 .operands = {VTPU_IN(VTPU_F32, rows, 8, 128),
 *                              VTPU_IN(VTPU_F32, rows, 8, 128),
 *                              VTPU_OUT(VTPU_F32, rows, 8, 128)});
 *
 * Semaphores 0 .. num_sems-1 (declared with .num_sems) belong to the body;
 * the runtime uses the ones above.  Every semaphore the body signals must
 * be back at zero when the launch ends.
 */
#ifndef VTPU_FW_KERNEL_H
#define VTPU_FW_KERNEL_H

#include <stddef.h> /* NULL: the "block 0" index map */
#include <stdint.h>

#include "vtpu-launch.h"
/* DMA, semaphores, barriers; and slices: vtpu_chip_id(), vtpu_num_chips(),
 * vtpu_mesh_*(), vtpu_remote_copy(), vtpu_sem_signal_remote(),
 * vtpu_slice_barrier() (docs/multichip.md, docs/kernels.md) */
#include <vtpu/sync.h>
#include <vtpu/xtpu.h>

/* ------------------------------------------------------------------ */
/* What the body sees                                                   */
/* ------------------------------------------------------------------ */

/* An operand's geometry, resolved for this launch. */
typedef struct vtpu_operand_info {
    const int32_t *bidx; /* block index of the current block (ANY: 0s) */
    uint32_t block[4];   /* block shape in elements (ANY: the array shape) */
    uint32_t shape[4];   /* array shape in elements */
    uint32_t stride[4];  /* byte strides of the local block (dense) */
    uint64_t hbm;        /* HBM offset of the array */
    uint32_t itemsize;   /* bytes per element */
    uint32_t bytes;      /* bytes of one local block buffer */
    uint8_t dtype, rank, space, role;
} vtpu_operand_info;

/* The body's view of one grid step.  Read-only for the body. */
typedef struct vtpu_kctx {
    uint32_t ref[VTPU_MAX_OPERANDS];   /* current block, TC address */
    int32_t idx[VTPU_MAX_GRID_DIMS];   /* program ids (0 past grid rank) */
    uint32_t grid[VTPU_MAX_GRID_DIMS]; /* grid extents (1 past grid rank) */
    const int32_t *scalars;            /* scalar-prefetch values */
    uint32_t num_scalars;
    uint32_t scratch_vmem;       /* TC address, 0 if none declared */
    void *scratch_smem;          /* NULL if none declared */
    const vtpu_operand_info *op; /* [num_operands] */
    uint32_t num_operands;
    uint32_t step;      /* 0 .. num_steps-1 on this TC */
    uint32_t num_steps; /* grid points this TC runs */
    uint32_t tc, num_tcs;
    const vtpu_kernel_entry *kernel;
    const vtpu_launch *launch;
    const struct vtpu_kctx *outer; /* in a nested pipeline: the body's
                                      context that started it; else NULL */
} vtpu_kctx;

/* TC address of operand i's current block (VMEM or SMEM): the address to
 * give VLD/VST.  Blocks are dense and row-major: a (8,128) f32 block is
 * one vreg at sublane stride 512. */
static inline uint32_t vtpu_ref(const vtpu_kctx *k, unsigned i)
{
    return k->ref[i];
}

/* The same for an SMEM operand, as a pointer scalar code may use. */
static inline void *vtpu_smem_ref(const vtpu_kctx *k, unsigned i)
{
    return (void *)(uintptr_t)k->ref[i];
}

/* HBM offset of operand i's whole array (what ANY operands work with). */
static inline uint64_t vtpu_hbm_ref(const vtpu_kctx *k, unsigned i)
{
    return k->op[i].hbm;
}

/* pl.program_id(d) / pl.num_programs(d). */
static inline int32_t vtpu_program_id(const vtpu_kctx *k, unsigned d)
{
    return k->idx[d];
}

static inline uint32_t vtpu_num_programs(const vtpu_kctx *k, unsigned d)
{
    return k->grid[d];
}

/* The grid point as one number, its index in lexicographic order
 * (0 .. number of grid points - 1): the same whichever TC runs it. */
static inline uint32_t vtpu_program_index(const vtpu_kctx *k)
{
    uint32_t n = 0;
    for (unsigned d = 0; d < VTPU_MAX_GRID_DIMS; d++)
        n = n * k->grid[d] + (uint32_t)k->idx[d];
    return n;
}

/* pltpu.prng_seed(seed, <the grid point>): key this TC's generator with
 * (seed, vtpu_program_index(k)), so every grid point draws its own
 * stream, the same on any number of TCs (docs/isa.md, "Random numbers"). */
static inline void vtpu_prng_seed_grid(const vtpu_kctx *k, uint32_t seed)
{
    PRNG_SEED(seed, vtpu_program_index(k));
}

/* Scalar-prefetch value i (the caller knows how many were passed). */
static inline int32_t vtpu_scalar(const vtpu_kctx *k, unsigned i)
{
    return k->scalars[i];
}

/*
 * End the launch from the body: the runtime waits for its own DMAs, prints
 * "kernel failed" with `msg`, the kernel and the grid point on stderr,
 * writes the status record and exits with VTPU_LERR_KERNEL_FAIL.
 */
void vtpu_fail(const vtpu_kctx *k, const char *msg) __attribute__((noreturn));

/*
 * VMEM_SHARED (pltpu.VMEM_SHARED): the chip's one shared vector memory,
 * the same bytes for every TC, at TC addresses VTPU_VMEM_SHARED_BASE ..
 * + the chip's vmem-shared size (1 MiB by default).  Reached like VMEM:
 * VLD/VST and DMAs (vtpu_vmem(), vtpu_copy_in/out).  Nothing orders the
 * TCs' accesses but semaphores and the barrier; --race checks them.
 * The kernel owns the layout: this is byte `off` of it.
 */
static inline uint32_t vtpu_vmem_shared(uint32_t off)
{
    return VTPU_VMEM_SHARED_BASE + off;
}

/* ------------------------------------------------------------------ */
/* Async copies for ANY operands (pltpu.make_async_copy)                */
/* ------------------------------------------------------------------ */

/*
 * A prepared copy between a rectangular slice of an operand's HBM array
 * and a local buffer (VMEM or SMEM, told apart by its address) holding the
 * slice densely, row-major.  Prepare with vtpu_copy_in/vtpu_copy_out, then
 * start it and later wait for it, with the body's semaphore `sem`:
 *
 *     vtpu_copy c;
 *     uint32_t start[2] = {row, 0}, size[2] = {rows, 128};
 *     vtpu_copy_in(&c, k, 0, start, size, buf, SEM_IN0);
 *     vtpu_copy_start(&c);
 *     ...                                 // overlap work
 *     vtpu_copy_wait(&c);
 *
 * A slice outside the array, a local buffer outside VMEM/SMEM or a
 * semaphore the kernel did not declare ends the launch with
 * VTPU_LERR_COPY.  The descriptor is read when the copy starts, so a
 * vtpu_copy may be reused (or go out of scope) once started, as long as
 * `bytes` and `sem` are known to whoever waits.
 */
typedef struct vtpu_copy {
    vtpu_dma_desc desc;
    uint32_t sem;   /* semaphore the completion signals */
    uint32_t bytes; /* what it is signalled by */
    uint32_t dtype; /* the operand's element type */
} vtpu_copy;

/* slice [start, start + size) of operand `op` (in elements, one entry per
 * dimension of the array) -> local buffer at TC address `local` */
void vtpu_copy_in(vtpu_copy *c, const vtpu_kctx *k, unsigned op,
                  const uint32_t *start, const uint32_t *size, uint32_t local,
                  unsigned sem);
/* local buffer -> slice of operand `op` */
void vtpu_copy_out(vtpu_copy *c, const vtpu_kctx *k, unsigned op,
                   const uint32_t *start, const uint32_t *size, uint32_t local,
                   unsigned sem);

static inline void vtpu_copy_start(const vtpu_copy *c)
{
    vtpu_dma_start(&c->desc);
}

/*
 * Start `c` adding instead of copying (pltpu.async_copy(..., add=True)):
 * every element of the destination becomes destination + source, in the
 * operand's dtype (f32, i32 or u32; any other is a `bad DMA` fault at
 * this call).  Waited for as any copy.
 */
static inline void vtpu_copy_start_add(const vtpu_copy *c)
{
    vtpu_dma_desc d = c->desc;
    vtpu_dma_set_add(&d, c->dtype);
    vtpu_dma_start(&d);
}

static inline void vtpu_copy_wait(const vtpu_copy *c)
{
    vtpu_sem_wait(c->sem, c->bytes);
}

/* ------------------------------------------------------------------ */
/* Declaring a kernel                                                   */
/* ------------------------------------------------------------------ */

/* An index map: block index b[0..rank-1] of the block the body uses at
 * grid point g[0..3], given the scalar-prefetch values s.  Block indices
 * count blocks, not elements (Pallas' default indexing). */
typedef void (*vtpu_index_map_fn)(const int32_t *g, const int32_t *s,
                                  int32_t *b);
typedef void (*vtpu_body_fn)(const vtpu_kctx *k);

/*
 * pltpu.emit_pipeline: a nested pipeline a body runs over ANY operands,
 * with its own grid and block specs, on the same runtime code as the
 * launch's (docs/kernels.md, "Nested pipelines").  Nested operand i walks
 * kernel operand src[i] (memory space ANY), or rows row_start[i] ..
 * row_start[i] + rows[i] - 1 of it when rows[i] is not 0 (x_ref.at[a:b]
 * along the first dimension); operands[i] is a VMEM/SMEM block spec
 * (VTPU_IN, VTPU_OUT_BUF, ...; dtype 0 = the array's), or VTPU_ANY (the
 * array passed through, for a nested body's own vtpu_emit_pipeline: it
 * may be called from a nested body, VTPU_MAX_NEST levels deep, its src
 * then indexing the nested operands).  `body` runs once
 * per nested grid point, lexicographic order, with a context whose refs,
 * program ids and operand geometry are the nested pipeline's (scalars and
 * scratch are the kernel's; k->outer the caller's context).  Buffers and
 * semaphores come above the launch's and are released on return; all
 * nested copies are finished when it returns.
 */
typedef struct vtpu_pipeline {
    uint8_t grid_rank; /* 1..4 */
    uint8_t num_operands;
    /* extents (0: no grid points), or VTPU_GRID_SCALAR(i): the kernel's
     * scalar-prefetch value i */
    uint32_t grid[VTPU_MAX_GRID_DIMS];
    vtpu_body_fn body;
    uint8_t src[VTPU_MAX_OPERANDS];
    uint32_t row_start[VTPU_MAX_OPERANDS];
    uint32_t rows[VTPU_MAX_OPERANDS];
    vtpu_operand_spec operands[VTPU_MAX_OPERANDS];
    /* Padding of the nested operands' element-indexed dimensions
     * (pad[i] for operands[i]), as a kernel's VTPU_KERNEL_EXT; NULL =
     * none.  The kernel's own record is not inherited. */
    const vtpu_kernel_ext *ext;
} vtpu_pipeline;

void vtpu_emit_pipeline(const vtpu_kctx *k, const vtpu_pipeline *p);

#define VTPU_UNUSED_ __attribute__((unused))

/* Define an index map: VTPU_INDEX_MAP(name, g, s, b) { b[0] = ...; } */
#define VTPU_INDEX_MAP(name, g, s, b)                                          \
    static void name(const int32_t *g VTPU_UNUSED_,                            \
                     const int32_t *s VTPU_UNUSED_, int32_t *b)

/* Define a body: VTPU_BODY(name, k) { ... } */
#define VTPU_BODY(name, k) static void name(const vtpu_kctx *k VTPU_UNUSED_)

/* TC address of a function, as the kernel table stores it. */
#define VTPU_CODE_ADDR(f) ((uint32_t)(uintptr_t)(f))

#define VTPU_NARGS_(a, b, c, d, n, ...) n
#define VTPU_NARGS(...) VTPU_NARGS_(__VA_ARGS__, 4, 3, 2, 1, 0)

/* A blocked operand: role, memory space, dtype (0 = any), index map (NULL
 * = block (0, ..., 0)), then the block shape, 1 to 4 dimensions
 * (VTPU_FULL = the array's extent). */
#define VTPU_OPERAND(role_, space_, dtype_, map_, ...)                         \
    VTPU_OPERAND_EX(role_, space_, dtype_, map_, VTPU_LIKE_NONE,               \
                    VTPU_LIKE_NONE, __VA_ARGS__)

/* The same, declaring that the array has the shape of another operand
 * (shape_like_ = VTPU_LIKE(i)) and/or its dtype (dtype_like_), or
 * VTPU_LIKE_NONE.  The runtime refuses launches that break it; hosts size
 * outputs from it (vtpu-run needs no --out-shape for such an output). */
#define VTPU_OPERAND_EX(role_, space_, dtype_, map_, shape_like_, dtype_like_, \
                        ...)                                                   \
    VTPU_OPERAND_BUF(role_, space_, dtype_, map_, shape_like_, dtype_like_, 0, \
                     __VA_ARGS__)

/* The most general form: with the number of block buffers, 1 to
 * VTPU_MAX_BUFFERS, 0 = the default 2 (pl.Buffered(n)): the runtime
 * keeps up to n - 1 of an input's next blocks in flight while the body
 * runs; 1 = no overlap (each block is copied in when its step starts, an
 * output's copied back before the next block may use the buffer). */
#define VTPU_OPERAND_BUF(role_, space_, dtype_, map_, shape_like_,             \
                         dtype_like_, buffers_, ...)                           \
    {                                                                          \
        .role = (role_), .space = (space_), .dtype = (dtype_),                 \
        .rank = VTPU_NARGS(__VA_ARGS__), .block = {__VA_ARGS__},               \
        .index_map = VTPU_CODE_ADDR(map_), .shape_like = (shape_like_),        \
        .dtype_like = (dtype_like_), .buffers = (buffers_)                     \
    }

/* VMEM blocks with n buffers (BlockSpec(..., pipeline_mode=Buffered(n))) */
#define VTPU_IN_BUF(n, dtype, map, ...)                                        \
    VTPU_OPERAND_BUF(VTPU_ROLE_IN, VTPU_MS_VMEM, dtype, map, VTPU_LIKE_NONE,   \
                     VTPU_LIKE_NONE, n, __VA_ARGS__)
#define VTPU_OUT_BUF(n, dtype, map, ...)                                       \
    VTPU_OPERAND_BUF(VTPU_ROLE_OUT, VTPU_MS_VMEM, dtype, map, VTPU_LIKE_NONE,  \
                     VTPU_LIKE_NONE, n, __VA_ARGS__)

/* dtype_like for an operand "like operand i": its dtype too, unless the
 * kernel fixes the dtype. */
#define VTPU_DTYPE_LIKE_(dtype_, i) ((dtype_) ? VTPU_LIKE_NONE : VTPU_LIKE(i))

/* A block dimension of n elements whose index-map value is an element
 * offset (pl.Element(n)): overlapping windows, halos. */
#define VTPU_ELEMENT(n) (VTPU_BLOCK_ELEMENT | (uint32_t)(n))

/*
 * pl.Element(n, padding=(lo, hi)): dimension d of operand i is padded
 * virtually by lo elements before and hi after; its index map returns
 * offsets into the padded array (0 .. lo + shape + hi - n) and padding
 * reads as zeros.  Padding goes into the kernel's extension record
 * (vtpu_kernel_ext, vtpu-launch.h), which the entry points at:
 *
 *     VTPU_KERNEL_EXT(conv_ext, VTPU_PAD(0, 0, 2, 2), VTPU_PAD(0, 1, 1, 1));
 *     VTPU_KERNEL(conv2d, body, .operands = {VTPU_IN(VTPU_F32, map,
 *                 VTPU_ELEMENT(12), VTPU_ELEMENT(130)), ...},
 *                 .ext = VTPU_EXT(conv_ext));
 *
 * The dimension itself must be VTPU_ELEMENT in the operand's block.
 */
#define VTPU_PAD(op_, dim_, lo_, hi_)                                          \
    .pad[op_].lo[dim_] = (lo_), .pad[op_].hi[dim_] = (hi_)

/* An extension record `name_` (read-only data, in the SMEM image); its
 * fields after the header are designated initializers (VTPU_PAD). */
#define VTPU_KERNEL_EXT(name_, ...)                                            \
    __attribute__((aligned(8))) static const vtpu_kernel_ext name_ = {         \
        .magic = VTPU_KEXT_MAGIC,                                              \
        .version = VTPU_KEXT_VERSION,                                          \
        .size = sizeof(vtpu_kernel_ext),                                       \
        .flags = VTPU_KEXT_F_PAD,                                              \
        __VA_ARGS__}

/* vtpu_kernel_entry.ext of a record made by VTPU_KERNEL_EXT. */
#define VTPU_EXT(name_) ((uint32_t)(uintptr_t) & (name_))

/* VMEM blocks (BlockSpec) */
#define VTPU_IN(dtype, map, ...)                                               \
    VTPU_OPERAND(VTPU_ROLE_IN, VTPU_MS_VMEM, dtype, map, __VA_ARGS__)
#define VTPU_OUT(dtype, map, ...)                                              \
    VTPU_OPERAND(VTPU_ROLE_OUT, VTPU_MS_VMEM, dtype, map, __VA_ARGS__)
#define VTPU_INOUT(dtype, map, ...)                                            \
    VTPU_OPERAND(VTPU_ROLE_INOUT, VTPU_MS_VMEM, dtype, map, __VA_ARGS__)
/* An output whose array has the shape of operand i (and its dtype, when
 * dtype is VTPU_DT_ANY): what element-wise kernels declare. */
#define VTPU_OUT_LIKE(i, dtype, map, ...)                                      \
    VTPU_OPERAND_EX(VTPU_ROLE_OUT, VTPU_MS_VMEM, dtype, map, VTPU_LIKE(i),     \
                    VTPU_DTYPE_LIKE_(dtype, i), __VA_ARGS__)
/* SMEM blocks (memory_space=SMEM) */
#define VTPU_SMEM_IN(dtype, map, ...)                                          \
    VTPU_OPERAND(VTPU_ROLE_IN, VTPU_MS_SMEM, dtype, map, __VA_ARGS__)
#define VTPU_SMEM_OUT(dtype, map, ...)                                         \
    VTPU_OPERAND(VTPU_ROLE_OUT, VTPU_MS_SMEM, dtype, map, __VA_ARGS__)
/* memory_space=ANY: left in HBM; rank 0 = any rank */
#define VTPU_ANY(role_, dtype_, rank_)                                         \
    VTPU_ANY_EX(role_, dtype_, rank_, VTPU_LIKE_NONE, VTPU_LIKE_NONE)
/* ... with the array's shape and/or dtype declared like another operand's */
#define VTPU_ANY_EX(role_, dtype_, rank_, shape_like_, dtype_like_)            \
    {                                                                          \
        .role = (role_), .space = VTPU_MS_ANY, .dtype = (dtype_),              \
        .rank = (rank_), .shape_like = (shape_like_),                          \
        .dtype_like = (dtype_like_)                                            \
    }
/* ... an ANY output of operand i's shape (and dtype, when dtype is any) */
#define VTPU_ANY_OUT_LIKE(i, dtype_, rank_)                                    \
    VTPU_ANY_EX(VTPU_ROLE_OUT, dtype_, rank_, VTPU_LIKE(i),                    \
                VTPU_DTYPE_LIKE_(dtype_, i))

/*
 * VTPU_KERNEL(name, body, .operands = {...}, [.scratch_vmem = bytes,]
 *             [.scratch_smem = bytes,] [.num_sems = n,]
 *             [.num_scalars = n])
 * puts the kernel into the module's table (section .vtpu.kernels) as the
 * global symbol vtpu_kernel_<name>; a host launches it by that name.
 */
/*
 * VTPU_CORE_KERNEL(name, body, .operands = {VTPU_ANY(...), ...}, ...):
 * a per-core kernel (pl.core_map over a TensorCore mesh).  The body runs
 * once on every TC of the launch with k->tc = the core id, k->num_tcs =
 * the number of cores; no grid (launch grid rank 0), only ANY operands.
 */
#define VTPU_CORE_KERNEL(name_, body_, ...)                                    \
    VTPU_KERNEL(name_, body_, .flags = VTPU_KERNEL_F_CORE_MAP, __VA_ARGS__)

#define VTPU_KERNEL(name_, body_, ...)                                         \
    _Static_assert(sizeof(#name_) <= VTPU_KERNEL_NAME_LEN,                     \
                   "kernel name too long");                                    \
    __attribute__((section(".vtpu.kernels"), used, aligned(8)))                \
    const vtpu_kernel_entry vtpu_kernel_##name_ = {                            \
        .magic = VTPU_KERNEL_MAGIC,                                            \
        .abi = VTPU_KERNEL_ABI,                                                \
        .size = sizeof(vtpu_kernel_entry),                                     \
        .name = #name_,                                                        \
        .body = VTPU_CODE_ADDR(body_),                                         \
        __VA_ARGS__}

#endif /* VTPU_FW_KERNEL_H */
