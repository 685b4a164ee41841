/*
 * dma.c - the DMA engines: strided copies of up to 4 dimensions between
 * HBM, VMEM and SMEM of any TC of the run (docs/isa.md, "custom-3" has the
 * descriptor, firmware/include/vtpu/sync.h the same layout for the TC).
 *
 * A DMA goes through three steps:
 *   1. plan:     read the descriptor from SMEM and validate every field and
 *                every byte of both ranges; nothing has moved if this fails;
 *   2. execute:  copy, one memcpy per contiguous run after collapsing the
 *                dimensions that are contiguous on both sides (or, with
 *                VTPU_DMA_ADD, add each run's elements to the
 *                destination's: pltpu.async_copy(..., add=True));
 *   3. complete: signal the descriptor's semaphore by the bytes moved.
 *
 * Completion model: by default a DMA executes and completes eagerly,
 * inside dma.start, so a program observes it as finished the moment it
 * starts.  Programs must not rely on that: the semaphore is the only
 * completion signal.  The on-wait and random orders (vtpu-debug.h) queue
 * the validated plan, which holds resolved host pointers, in dmaq.c
 * instead.  Only DMAs that signal their own TC are deferred, and the TC
 * completes them before it can block on that semaphore; remote DMAs
 * (which signal a semaphore of another chip too) are deferred and
 * completed before their TC blocks in any wait (dmaq.c), so sync.c's
 * deadlock test needs no notion of pending DMAs.
 */
#include <string.h>

#include "check.h"
#include "fpu.h"
#include "internal.h"

/* Descriptor layout: byte offsets, little-endian, 96 bytes, 8-aligned. */
enum {
    D_SRC = 0,         /* u64 source address */
    D_DST = 8,         /* u64 destination address */
    D_SRC_STRIDE = 16, /* i64[3] byte strides of dims 1..3, source */
    D_DST_STRIDE = 40, /* i64[3] byte strides of dims 1..3, destination */
    D_SHAPE = 64,      /* u32[4]: bytes of a run (dim 0), counts of 1..3 */
    D_SRC_SPACE = 80,  /* u8 vtpu_space */
    D_DST_SPACE = 81,
    D_SRC_TC = 82, /* u8 TC owning src (VMEM/SMEM), 0xff = self */
    D_DST_TC = 83,
    D_SEM_TC = 84,   /* u8 TC whose semaphore is signalled, 0xff = self */
    D_NDIMS = 85,    /* u8 1..4 */
    D_SEM = 86,      /* u16 semaphore index */
    D_FLAGS = 88,    /* u32: bit 0 VTPU_DMA_REMOTE, 31:16 its send sem;
                        bit 1 VTPU_DMA_ADD, 7:4 its element type */
    D_RESERVED = 92, /* u32: destination chip (remote), else 0 */
    DESC_SIZE = 96,
};

#define DMA_SELF 0xffu
#define VMEM_ALIGN 4u

/* flags of a local DMA (docs/isa.md, "Adding DMA") */
#define DMA_ADD (1u << 1)
#define DMA_ADD_TYPE(f) ((f) >> 4 & 0xfu)
#define DMA_ADD_MASK (DMA_ADD | 0xf0u)

/* One side (source or destination) of a DMA, resolved. */
typedef struct dma_side {
    const char *name; /* "src" / "dst", for messages */
    vtpu_space space;
    unsigned tc;     /* owner of SMEM/VMEM */
    uint8_t *mem;    /* host base of the space */
    uint64_t size;   /* bytes in the space */
    uint64_t window; /* TC address of offset 0 (0 for HBM) */
    uint64_t addr;   /* address from the descriptor */
    int64_t off;     /* offset of the first byte in mem */
    int64_t stride[4];
    uint64_t lo, hi; /* bytes [lo, hi) of mem touched */
} dma_side;

/* A validated DMA (internal.h: dmaq.c queues them). */
typedef vtpu_dma_plan dma_plan;

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

#define BADF(tc, space, addr, len, ...)                                        \
    vtpu_tc_fault(tc, VTPU_ERR_DMA, space, addr, len, __VA_ARGS__)

/* Resolve a TC byte of the descriptor: 0xff = self, else < ntcs. */
static int resolve_tc(vtpu_tc *tc, uint32_t desc_addr, const char *field,
                      unsigned v, unsigned *out)
{
    if (v == DMA_SELF) {
        *out = tc->id;
        return 0;
    }
    if (v >= tc->ntcs)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "%s: TC %u, the run has %u TCs", field, v, tc->ntcs);
    *out = v;
    return 0;
}

/* Fill in the space, owner and memory of one side. */
static int resolve_side(vtpu_tc *tc, uint32_t desc_addr, const uint8_t *d,
                        dma_side *sd, int space_at, int tc_at,
                        const char *space_field, const char *tc_field)
{
    vtpu_chip *chip = tc->chip;
    unsigned space = d[space_at], tcv = d[tc_at];

    sd->space = (vtpu_space)space;
    switch (space) {
    case VTPU_SPACE_HBM:
        if (tcv != 0)
            return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                        "%s: %u, must be 0 for HBM", tc_field, tcv);
        sd->tc = 0;
        sd->mem = chip->hbm;
        sd->size = chip->cfg.hbm_size;
        sd->window = 0;
        return 0;
    case VTPU_SPACE_VMEM:
    case VTPU_SPACE_SMEM:
        if (resolve_tc(tc, desc_addr, tc_field, tcv, &sd->tc))
            return -1;
        if (space == VTPU_SPACE_VMEM) {
            sd->mem = chip->tcs[sd->tc]->vmem;
            sd->size = chip->tcs[sd->tc]->vmem_size;
            sd->window = VTPU_VMEM_BASE;
        } else {
            sd->mem = chip->tcs[sd->tc]->smem;
            sd->size = chip->tcs[sd->tc]->smem_size;
            sd->window = VTPU_SMEM_BASE;
        }
        return 0;
    default:
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "%s: %u is not HBM (1), VMEM (2) or SMEM (3)", space_field,
                    space);
    }
}

/* A VMEM side whose address is in the VMEM_SHARED window is the chip's
 * shared VMEM, whichever TC the descriptor names. */
static void shared_side(vtpu_tc *tc, dma_side *sd)
{
    if (sd->space != VTPU_SPACE_VMEM || sd->addr < VTPU_VMEM_SHARED_BASE)
        return;
    sd->mem = tc->chip->vmem_shared;
    sd->size = tc->chip->cfg.vmem_shared_size;
    sd->window = VTPU_VMEM_SHARED_BASE;
}

/*
 * Check every byte one side touches.  count[] are the (already validated,
 * non-zero) counts; all arithmetic is overflow-checked since strides and
 * addresses come straight from the program.
 */
static int check_range(vtpu_tc *tc, dma_side *sd, const uint64_t *count,
                       unsigned ndims, bool add)
{
    int64_t neg = 0, pos = 0, lo, hi;

    if (add && sd->space != VTPU_SPACE_VMEM) {
        /* An adding DMA moves 4-byte elements (VMEM: checked below). */
        if (sd->addr % 4)
            return BADF(tc, sd->space, sd->addr, 0,
                        "%s: address 0x%llx is not 4-byte aligned "
                        "(VTPU_DMA_ADD adds 4-byte elements)",
                        sd->name, (unsigned long long)sd->addr);
        if (count[0] % 4)
            return BADF(tc, sd->space, sd->addr, count[0],
                        "shape[0]: %llu bytes, not whole 4-byte elements "
                        "(VTPU_DMA_ADD)",
                        (unsigned long long)count[0]);
        for (unsigned i = 1; i < ndims; i++)
            if (sd->stride[i] % 4)
                return BADF(tc, sd->space, sd->addr, 0,
                            "%s_stride[%u]: %lld, not a multiple of 4 "
                            "(VTPU_DMA_ADD adds 4-byte elements)",
                            sd->name, i - 1, (long long)sd->stride[i]);
    }
    if (sd->space == VTPU_SPACE_VMEM) {
        if (sd->addr % VMEM_ALIGN)
            return BADF(tc, sd->space, sd->addr, 0,
                        "%s: VMEM address 0x%llx is not 4-byte aligned",
                        sd->name, (unsigned long long)sd->addr);
        if (count[0] % VMEM_ALIGN)
            return BADF(tc, sd->space, sd->addr, count[0],
                        "shape[0]: %llu bytes, VMEM runs must be whole "
                        "words",
                        (unsigned long long)count[0]);
        for (unsigned i = 1; i < ndims; i++)
            if (sd->stride[i] % (int64_t)VMEM_ALIGN)
                return BADF(tc, sd->space, sd->addr, 0,
                            "%s_stride[%u]: %lld, VMEM strides must be "
                            "multiples of 4",
                            sd->name, i - 1, (long long)sd->stride[i]);
    }
    if (sd->addr < sd->window || sd->addr - sd->window > sd->size)
        return BADF(tc, sd->space, sd->addr, count[0],
                    "%s: address 0x%llx is outside %s (0x%llx bytes at "
                    "0x%llx)",
                    sd->name, (unsigned long long)sd->addr,
                    vtpu_space_name(sd->space), (unsigned long long)sd->size,
                    (unsigned long long)sd->window);
    sd->off = (int64_t)(sd->addr - sd->window);

    for (unsigned i = 1; i < ndims; i++) {
        int64_t ext;
        if (__builtin_mul_overflow(sd->stride[i], (int64_t)(count[i] - 1),
                                   &ext) ||
            __builtin_add_overflow(ext < 0 ? neg : pos, ext,
                                   ext < 0 ? &neg : &pos))
            return BADF(tc, sd->space, sd->addr, 0,
                        "%s_stride[%u]: %lld x %llu overflows", sd->name, i - 1,
                        (long long)sd->stride[i], (unsigned long long)count[i]);
    }
    /* off <= size < 2^63 and count[0] < 2^32, so only the sums can wrap. */
    if (__builtin_add_overflow(sd->off, neg, &lo) ||
        __builtin_add_overflow(sd->off, pos, &hi) ||
        __builtin_add_overflow(hi, (int64_t)count[0], &hi))
        return BADF(tc, sd->space, sd->addr, 0,
                    "%s: address 0x%llx + strides overflows", sd->name,
                    (unsigned long long)sd->addr);
    if (lo < 0 || (uint64_t)hi > sd->size)
        return BADF(tc, sd->space, sd->window + (lo < 0 ? 0 : (uint64_t)lo),
                    (uint64_t)(hi - lo),
                    "%s: %s offsets %s0x%llx..0x%llx are outside its 0x%llx "
                    "bytes",
                    sd->name, vtpu_space_name(sd->space), lo < 0 ? "-" : "",
                    (unsigned long long)(lo < 0 ? -(uint64_t)lo : (uint64_t)lo),
                    (unsigned long long)hi - 1, (unsigned long long)sd->size);
    sd->lo = (uint64_t)lo;
    sd->hi = (uint64_t)hi;
    if (sd->space == VTPU_SPACE_HBM && tc->chip->num_grants &&
        !vtpu_hbm_granted(tc->chip, sd->lo, sd->hi))
        return BADF(tc, sd->space, sd->lo, sd->hi - sd->lo,
                    "%s: HBM 0x%llx..0x%llx is not in the HBM granted to this "
                    "launch (%u ranges; docs/registers.md, \"Isolation\")",
                    sd->name, (unsigned long long)sd->lo,
                    (unsigned long long)sd->hi - 1, tc->chip->num_grants);
    return 0;
}

/*
 * Drop dimensions of count 1, then merge each dimension into the one
 * inside it when both sides are contiguous across it, so that the copy
 * loop sees the longest possible runs.
 */
static void collapse(dma_plan *p)
{
    unsigned n = 1;

    for (unsigned i = 1; i < p->ndims; i++) {
        int64_t sin, din;
        if (p->count[i] == 1)
            continue;
        if (n == 1) {
            /* Outer stride equal to the run: the run just gets longer. */
            sin = din = (int64_t)p->count[0];
            if (p->src_stride[i] == sin && p->dst_stride[i] == din) {
                p->count[0] *= p->count[i];
                continue;
            }
        } else if (!__builtin_mul_overflow(p->src_stride[n - 1],
                                           (int64_t)p->count[n - 1], &sin) &&
                   !__builtin_mul_overflow(p->dst_stride[n - 1],
                                           (int64_t)p->count[n - 1], &din) &&
                   p->src_stride[i] == sin && p->dst_stride[i] == din) {
            p->count[n - 1] *= p->count[i];
            continue;
        }
        p->count[n] = p->count[i];
        p->src_stride[n] = p->src_stride[i];
        p->dst_stride[n] = p->dst_stride[i];
        n++;
    }
    for (unsigned i = n; i < 4; i++) {
        p->count[i] = 1;
        p->src_stride[i] = p->dst_stride[i] = 0;
    }
    p->ndims = n;
}

static int plan_dma(vtpu_tc *tc, uint32_t desc_addr, dma_plan *p)
{
    vtpu_chip *chip = tc->chip;
    uint64_t total = 1;
    bool zero = false;
    dma_side src = {.name = "src"}, dst = {.name = "dst"};
    const uint8_t *d;
    unsigned ndims, sem_tc = 0;
    uint32_t sem, shape[4];

    if (desc_addr % 8 || desc_addr < VTPU_SMEM_BASE ||
        desc_addr - VTPU_SMEM_BASE > tc->smem_size - DESC_SIZE)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "descriptor: address 0x%08x is not an 8-aligned "
                    "%u-byte block in SMEM",
                    desc_addr, (unsigned)DESC_SIZE);
    d = tc->smem + (desc_addr - VTPU_SMEM_BASE);

    uint32_t flags = ld32(d + D_FLAGS);
    if (VTPU_UNLIKELY(flags & VTPU_DMA_REMOTE))
        return 1; /* to another chip: remote_start() */
    p->remote = false;
    p->add = 0;
    if (VTPU_UNLIKELY(flags)) {
        uint32_t t = DMA_ADD_TYPE(flags);
        if (flags & ~DMA_ADD_MASK)
            return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                        "flags: 0x%08x, only bit 0 (VTPU_DMA_REMOTE), bit 1 "
                        "(VTPU_DMA_ADD) and its type in bits 7:4 may be set",
                        flags);
        if (!(flags & DMA_ADD))
            return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                        "flags: 0x%08x, an element type (bits 7:4) without "
                        "VTPU_DMA_ADD (bit 1)",
                        flags);
        if (t != VTPU_F32 && t != VTPU_I32 && t != VTPU_U32)
            return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                        "flags: 0x%08x, VTPU_DMA_ADD of element type %u: "
                        "only f32 (%u), i32 (%u) and u32 (%u) add",
                        flags, t, (unsigned)VTPU_F32, (unsigned)VTPU_I32,
                        (unsigned)VTPU_U32);
        p->add = (uint8_t)t;
    }
    if (ld32(d + D_RESERVED))
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "reserved: 0x%08x, must be 0", ld32(d + D_RESERVED));
    ndims = d[D_NDIMS];
    if (ndims < 1 || ndims > 4)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "ndims: %u, must be 1..4", ndims);
    if (resolve_side(tc, desc_addr, d, &src, D_SRC_SPACE, D_SRC_TC, "src_space",
                     "src_tc") ||
        resolve_side(tc, desc_addr, d, &dst, D_DST_SPACE, D_DST_TC, "dst_space",
                     "dst_tc") ||
        resolve_tc(tc, desc_addr, "sem_tc", d[D_SEM_TC], &sem_tc))
        return -1;
    p->src_space = (uint8_t)src.space;
    p->dst_space = (uint8_t)dst.space;
    sem = (uint32_t)d[D_SEM] | (uint32_t)d[D_SEM + 1] << 8;
    if (sem >= chip->cfg.num_sems)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "sem: %u, TCs have %u semaphores", sem, chip->cfg.num_sems);

    for (unsigned i = 0; i < 4; i++) {
        shape[i] = i < ndims ? ld32(d + D_SHAPE + 4 * i) : 1;
        p->count[i] = shape[i];
        if (!shape[i])
            zero = true;
        else if (__builtin_mul_overflow(total, shape[i], &total))
            total = UINT64_MAX;
    }
    if (zero)
        total = 0;
    if (total > UINT32_MAX)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "shape: %u x %u x %u x %u bytes, more than 0xffffffff "
                    "(the semaphore counts bytes)",
                    shape[0], shape[1], shape[2], shape[3]);

    p->ndims = ndims;
    p->bytes = (uint32_t)total;
    p->sem_tc = sem_tc;
    p->sem = sem;
    p->pc = tc->pc;
    p->overlap = false;
    if (total == 0) {
        p->ndims = 0; /* nothing to check or move; still signals (by 0) */
        return 0;
    }

    src.addr = ld64(d + D_SRC);
    dst.addr = ld64(d + D_DST);
    shared_side(tc, &src);
    shared_side(tc, &dst);
    src.stride[0] = dst.stride[0] = 1;
    for (unsigned i = 1; i < 4; i++) {
        src.stride[i] =
            i < ndims ? (int64_t)ld64(d + D_SRC_STRIDE + 8 * (i - 1)) : 0;
        dst.stride[i] =
            i < ndims ? (int64_t)ld64(d + D_DST_STRIDE + 8 * (i - 1)) : 0;
    }
    if (check_range(tc, &src, p->count, ndims, p->add) ||
        check_range(tc, &dst, p->count, ndims, p->add))
        return -1;

    p->src = src.mem + src.off;
    p->dst = dst.mem + dst.off;
    if (dst.space == VTPU_SPACE_HBM) {
        p->dst_dirty = chip->hbm_dirty; /* for migration (snapshot.c) */
    } else {
        vtpu_tc *o = chip->tcs[dst.tc];
        p->dst_dirty = dst.mem == chip->vmem_shared ? chip->vmem_shared_dirty
                       : dst.space == VTPU_SPACE_VMEM ? o->vmem_dirty
                                                      : o->smem_dirty;
    }
    p->dst_lo = dst.lo;
    p->dst_hi = dst.hi;
    for (unsigned i = 1; i < 4; i++) {
        p->src_stride[i] = src.stride[i];
        p->dst_stride[i] = dst.stride[i];
    }
    p->overlap = src.mem == dst.mem && src.lo < dst.hi && dst.lo < src.hi;
    /*
     * Merging runs would turn several ordered memmoves into one, which
     * gives a different result when a run reads what an earlier one
     * wrote; overlapping copies keep their runs (and are rare).
     */
    if (!p->overlap)
        collapse(p);
    return 0;
}

/*
 * A run of at least this many bytes into HBM is copied with non-temporal
 * stores where the host has them: it cannot stay in a core's cache
 * anyway, and the stores then skip reading every destination line first.
 * Not into VMEM or SMEM, which the kernel reads next (a 1 MiB chunk of an
 * all-reduce streamed into VMEM and loaded right after doubled its CPU
 * time).  (glibc
 * switches to such stores only above its own threshold, 3/4 of what it
 * takes for the shared cache: 288 MiB on the 2-core VMs measured, where
 * a 16 MiB copy ran at 13-15 GB/s with memcpy and 18-22 GB/s with
 * these; docs/multichip.md, "Speed".)
 */
#define DMA_STREAM_MIN (1u << 20)

#if defined(__x86_64__)
#include <emmintrin.h>

/* memcpy of n >= 64 bytes, the destination written around the caches
 * (SSE2: every x86-64 CPU has it). */
static void copy_stream(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t head = (size_t)(-(uintptr_t)dst & 15);

    memcpy(dst, src, head);
    dst += head, src += head, n -= head;
    for (; n >= 64; dst += 64, src += 64, n -= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)src);
        __m128i b = _mm_loadu_si128((const __m128i *)(src + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + 48));
        _mm_stream_si128((__m128i *)dst, a);
        _mm_stream_si128((__m128i *)(dst + 16), b);
        _mm_stream_si128((__m128i *)(dst + 32), c);
        _mm_stream_si128((__m128i *)(dst + 48), d);
    }
    memcpy(dst, src, n);
    _mm_sfence(); /* ordered before the DMA's semaphore signal */
}
#else
static void copy_stream(uint8_t *dst, const uint8_t *src, size_t n)
{
    memcpy(dst, src, n);
}
#endif

/* One run of a DMA whose source and destination do not overlap;
 * `stream`: its destination is HBM. */
static inline void copy_run(uint8_t *dst, const uint8_t *src, size_t n,
                            bool stream)
{
    if (VTPU_UNLIKELY(stream && n >= DMA_STREAM_MIN))
        copy_stream(dst, src, n);
    else
        memcpy(dst, src, n);
}

/*
 * VTPU_DMA_ADD: d[i] += s[i] over n 4-byte elements of type t, d and s
 * not overlapping.  Blocks of a fixed 1024 elements, which the compiler
 * vectorises (no FMA: the VPU's VADD), then the tail.  vtpu_dma_execute
 * runs them in the engine's host FPU state (round to nearest even,
 * subnormals kept) and drops the flags they raise: a DMA does not touch
 * the TC's fflags, wherever it completes (dma.start, a wait, the exit).
 */
#define ADD_BLOCK 1024u

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic",              \
                     "no-trapping-math", "fp-contract=off")
#endif
VTPU_CLONES static void add_f32(float *restrict d, const float *restrict s,
                                size_t n)
{
    for (; n >= ADD_BLOCK; n -= ADD_BLOCK, d += ADD_BLOCK, s += ADD_BLOCK)
        for (unsigned i = 0; i < ADD_BLOCK; i++)
            d[i] += s[i];
    for (size_t i = 0; i < n; i++)
        d[i] += s[i];
}

VTPU_CLONES static void add_u32(uint32_t *restrict d,
                                const uint32_t *restrict s, size_t n)
{
    for (; n >= ADD_BLOCK; n -= ADD_BLOCK, d += ADD_BLOCK, s += ADD_BLOCK)
        for (unsigned i = 0; i < ADD_BLOCK; i++)
            d[i] += s[i];
    for (size_t i = 0; i < n; i++)
        d[i] += s[i];
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static void add_elems(uint8_t *dst, const uint8_t *src, size_t n, unsigned t)
{
    if (t == VTPU_F32)
        add_f32((float *)(void *)dst, (const float *)(const void *)src, n / 4);
    else /* i32 and u32: the same bits, modulo 2^32 */
        add_u32((uint32_t *)(void *)dst, (const uint32_t *)(const void *)src,
                n / 4);
}

/*
 * One run of an adding DMA.  When the run's source and destination
 * overlap, as if the source were read into a temporary buffer first (as
 * a copy does): pieces go through one on the stack, taken in the
 * direction in which every piece of the source is read before any of it
 * is overwritten (memmove's rule).
 */
static void add_run(uint8_t *dst, const uint8_t *src, size_t n, unsigned t,
                    bool overlap)
{
    uint8_t tmp[4 * ADD_BLOCK] __attribute__((aligned(64)));

    if (!overlap || dst + n <= src || src + n <= dst) {
        add_elems(dst, src, n, t);
        return;
    }
    if (dst <= src) {
        for (size_t off = 0; off < n; off += sizeof(tmp)) {
            size_t len = n - off < sizeof(tmp) ? n - off : sizeof(tmp);
            memcpy(tmp, src + off, len);
            add_elems(dst + off, tmp, len, t);
        }
    } else {
        for (size_t end = n; end;) {
            size_t len = end < sizeof(tmp) ? end : sizeof(tmp);
            memcpy(tmp, src + end - len, len);
            add_elems(dst + end - len, tmp, len, t);
            end -= len;
        }
    }
}

/*
 * Copy in lexicographic order of (dim3, dim2, dim1), one run at a time.
 * Overlapping source and destination get memmove semantics per run.
 */
void vtpu_dma_execute(const dma_plan *p)
{
    uint64_t c1 = p->ndims > 1 ? p->count[1] : 1;
    uint64_t c2 = p->ndims > 2 ? p->count[2] : 1;
    uint64_t c3 = p->ndims > 3 ? p->count[3] : 1;
    size_t run = p->count[0];
    uint32_t fp = 0, dropped = 0;

    if (p->ndims == 0)
        return;
    if (p->dst_dirty)
        vtpu_dirty_mark(p->dst_dirty, p->dst_lo, p->dst_hi - p->dst_lo);
    bool stream = p->dst_space == VTPU_SPACE_HBM;
    if (VTPU_UNLIKELY(p->add))
        fp = vtpu_fpu_enter(); /* the adds' rounding; flags dropped below */
    else if (p->ndims == 1 && !p->overlap) {
        copy_run(p->dst, p->src, run, stream);
        return;
    }
    for (uint64_t i3 = 0; i3 < c3; i3++) {
        for (uint64_t i2 = 0; i2 < c2; i2++) {
            int64_t so =
                (int64_t)i3 * p->src_stride[3] + (int64_t)i2 * p->src_stride[2];
            int64_t dof =
                (int64_t)i3 * p->dst_stride[3] + (int64_t)i2 * p->dst_stride[2];
            for (uint64_t i1 = 0; i1 < c1; i1++) {
                if (VTPU_UNLIKELY(p->add))
                    add_run(p->dst + dof, p->src + so, run, p->add,
                            p->overlap);
                else if (p->overlap)
                    memmove(p->dst + dof, p->src + so, run);
                else
                    copy_run(p->dst + dof, p->src + so, run, stream);
                so += p->src_stride[1];
                dof += p->dst_stride[1];
            }
        }
    }
    if (VTPU_UNLIKELY(p->add))
        vtpu_fpu_leave(fp, &dropped);
}

/* Bytes per direction (vtpu_tc_stats): [src space][dst space]. */
static void count_dma(vtpu_tc *tc, const dma_plan *p)
{
    bool sh = p->src_space == VTPU_SPACE_HBM;
    bool dh = p->dst_space == VTPU_SPACE_HBM;

    tc->cnt.dma_starts++;
    if (sh && dh)
        tc->cnt.dma_bytes_hbm += p->bytes;
    else if (sh)
        tc->cnt.dma_bytes_in += p->bytes;
    else if (dh)
        tc->cnt.dma_bytes_out += p->bytes;
    else
        tc->cnt.dma_bytes_local += p->bytes;
}

/*
 * Complete a remote DMA: copy (straight into the destination chip's
 * memory, or gathered for the transport), signal the receive semaphore
 * on the destination chip (the data has landed), then the send
 * semaphore on the issuing TC (the data has left).  When started
 * (eager) or later (dmaq.c), like a local DMA.
 */
static int remote_complete(vtpu_tc *tc, const dma_plan *p)
{
    char err[512];
    int rc;

    if (p->rchip) {
        vtpu_chip *dst = p->rchip;
        vtpu_fabric *f = tc->chip->fabric;
        if (f) {
            /* held while it copies and signals; and still the chip it
             * planned for (a deferred DMA plans long before) */
            uint64_t gen = 0;
            vtpu_chip *now = vtpu_fabric_get(f, p->dst_chip, &gen);
            if (VTPU_UNLIKELY(now != dst || gen != p->rgen)) {
                if (now)
                    vtpu_fabric_put(f, now);
                return BADF(tc, (vtpu_space)p->rm.dst_space, p->rm.dst,
                            p->bytes,
                            "remote DMA to chip %u: the chip left the slice "
                            "while the DMA was in flight",
                            p->dst_chip);
            }
        }
        vtpu_dma_execute(p);
        /* counted on the TC whose receive semaphore it signals */
        __atomic_fetch_add(&dst->tcs[p->sem_tc]->cnt.ici_bytes_recv, p->bytes,
                           __ATOMIC_RELAXED);
        rc = vtpu_sync_deliver(dst, p->sem_tc, p->sem, p->bytes,
                               f ? (int)tc->chip->chip_id : -1, tc->id, p->pc,
                               true, err, sizeof(err));
        if (f)
            vtpu_fabric_put(f, dst);
    } else {
        /* to another process: gathered, dim 0 fastest, as the
         * destination scatters (fabric.c apply_dma) */
        vtpu_remote_dma m = p->rm;
        uint8_t *buf = NULL;
        if (p->ndims == 1) {
            buf = p->src; /* one run: the transport sends it from here */
        } else if (p->ndims) {
            if (p->bytes > tc->rgather_cap) {
                g_free(tc->rgather);
                tc->rgather_cap = 0;
                tc->rgather = g_try_malloc(p->bytes);
                if (!tc->rgather)
                    return BADF(tc, VTPU_SPACE_NONE, 0, p->bytes,
                                "remote DMA of %u bytes: out of host memory",
                                p->bytes);
                tc->rgather_cap = p->bytes;
            }
            buf = tc->rgather;
            uint8_t *o = buf;
            for (uint64_t i3 = 0; i3 < p->count[3]; i3++)
                for (uint64_t i2 = 0; i2 < p->count[2]; i2++)
                    for (uint64_t i1 = 0; i1 < p->count[1]; i1++) {
                        int64_t so = (int64_t)i1 * p->src_stride[1] +
                                     (int64_t)i2 * p->src_stride[2] +
                                     (int64_t)i3 * p->src_stride[3];
                        memcpy(o, p->src + so, p->count[0]);
                        o += p->count[0];
                    }
        }
        m.data = buf;
        /* the race detector's clock of the DMA, kept since its start */
        vtpu_race_clock rcl;
        uint32_t *vc = VTPU_UNLIKELY(p->race_ep)
                           ? vtpu_check_remote_clock(tc, p, &rcl)
                           : NULL;
        m.race = vc ? &rcl : NULL;
        rc = vtpu_fabric_send_dma(tc, p->dst_chip, &m, err, sizeof(err));
        g_free(vc);
    }
    if (rc)
        return BADF(tc, (vtpu_space)p->rm.dst_space, p->rm.dst, p->bytes,
                    "remote DMA to chip %u: %s", p->dst_chip, err);
    vtpu_fabric_count(tc, p->dst_chip, p->sem_tc, p->bytes);
    return vtpu_sem_signal_from(tc, tc->id, p->send_sem, p->bytes, p->pc, true);
}

/*
 * A remote DMA (flags bit 0, docs/multichip.md): the source is checked
 * here, the destination against the destination chip (fabric.c: its
 * memories, TCs and grants) before anything moves.  A destination chip
 * in this process is copied into straight from the source, one memmove
 * per contiguous run after collapsing dimensions, as a local DMA; only
 * a chip of another process gets the bytes gathered for the transport.
 * Deferred by the on-wait and random orders like a local DMA (dmaq.c).
 */
static int __attribute__((noinline))
remote_start(vtpu_tc *tc, uint32_t desc_addr)
{
    const uint8_t *d = tc->smem + (desc_addr - VTPU_SMEM_BASE);
    uint32_t flags = ld32(d + D_FLAGS), chip = ld32(d + D_RESERVED);
    uint32_t send_sem = flags >> 16, nsems = tc->chip->cfg.num_sems;
    unsigned ndims = d[D_NDIMS];
    dma_side src = {.name = "src"};
    uint64_t total = 1;
    bool zero = false;
    dma_plan p;

    if (flags & DMA_ADD)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "flags: 0x%08x, VTPU_DMA_ADD (bit 1) is for local "
                    "DMAs: a remote DMA copies (add on the destination "
                    "chip, after its receive semaphore)",
                    flags);
    if (flags & 0xfffeu)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "flags: 0x%08x, bits 15:1 must be 0", flags);
    if (chip >= tc->chip->nchips)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "remote DMA to chip %u: the slice has %u chips", chip,
                    tc->chip->nchips);
    if (send_sem >= nsems)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "send semaphore (flags 31:16): %u, TCs have %u semaphores",
                    send_sem, nsems);
    if (ndims < 1 || ndims > 4)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "ndims: %u, must be 1..4", ndims);
    if (resolve_side(tc, desc_addr, d, &src, D_SRC_SPACE, D_SRC_TC, "src_space",
                     "src_tc"))
        return -1;
    memset(&p, 0, sizeof(p));
    for (unsigned i = 0; i < 4; i++) {
        p.count[i] = i < ndims ? ld32(d + D_SHAPE + 4 * i) : 1;
        if (!p.count[i])
            zero = true;
        else if (__builtin_mul_overflow(total, p.count[i], &total))
            total = UINT64_MAX;
    }
    if (zero)
        total = 0;
    if (total > UINT32_MAX)
        return BADF(tc, VTPU_SPACE_SMEM, desc_addr, DESC_SIZE,
                    "shape: more than 0xffffffff bytes");

    p.remote = true;
    p.dst_chip = chip;
    p.send_sem = send_sem;
    p.bytes = (uint32_t)total;
    p.pc = tc->pc;
    p.src_space = (uint8_t)src.space;
    p.ndims = total ? ndims : 0;
    p.rm = (vtpu_remote_dma){
        .dst_space = d[D_DST_SPACE],
        .dst_tc = d[D_DST_TC],
        .ndims = (uint8_t)ndims,
        .sem_tc = d[D_SEM_TC],
        .sem = (uint32_t)d[D_SEM] | (uint32_t)d[D_SEM + 1] << 8,
        .dst = ld64(d + D_DST),
        .bytes = (uint32_t)total,
        .src_pc = tc->pc,
    };
    for (unsigned i = 0; i < 4; i++)
        p.rm.shape[i] = (uint32_t)p.count[i];
    for (unsigned i = 0; i < 3; i++)
        p.rm.dst_stride[i] =
            i + 1 < ndims ? (int64_t)ld64(d + D_DST_STRIDE + 8 * i) : 0;
    if (total) {
        src.addr = ld64(d + D_SRC);
        shared_side(tc, &src);
        src.stride[0] = 1;
        for (unsigned i = 1; i < 4; i++)
            src.stride[i] =
                i < ndims ? (int64_t)ld64(d + D_SRC_STRIDE + 8 * (i - 1)) : 0;
        if (check_range(tc, &src, p.count, ndims, false))
            return -1;
        p.src = src.mem + src.off;
        for (unsigned i = 1; i < 4; i++)
            p.src_stride[i] = src.stride[i];
    }

    /* The destination is held while it is planned and checked against
     * (fabric.c: a chip detached meanwhile is not freed under us);
     * remote_complete holds it again while it copies. */
    vtpu_fabric *f = tc->chip->fabric;
    vtpu_chip *dst = f ? vtpu_fabric_get(f, chip, &p.rgen) : tc->chip;
    int rc = 0;
    if (dst) {
        char err[512];
        if (vtpu_fabric_dst_plan(dst, tc->id, &p.rm, src.mem + src.lo,
                                 src.mem + src.hi, &p, err, sizeof(err)))
            rc = BADF(tc, (vtpu_space)p.rm.dst_space, p.rm.dst, total,
                      "remote DMA to chip %u: %s", chip, err);
        else if (p.ndims && !p.overlap)
            collapse(&p); /* as plan_dma: longest runs, one memmove each */
    } else {
        /* another process: the transport resolves the rest */
        p.sem_tc = p.rm.sem_tc == DMA_SELF ? tc->id : p.rm.sem_tc;
        p.sem = p.rm.sem;
    }
    if (!rc && VTPU_UNLIKELY(tc->check || (dst && dst->check)))
        rc = vtpu_check_remote_dma(tc, &p); /* a race, an uninitialised
                                               read (check.h) */
    if (f && dst)
        vtpu_fabric_put(f, dst);
    if (rc)
        return -1;
    tc->cnt.dma_starts++;
    if (VTPU_UNLIKELY(tc->chip->dbg)) {
        int64_t t0 = vtpu_dbg_now();
        if (tc->dmaq)
            return vtpu_dmaq_push(tc, &p, t0);
        rc = remote_complete(tc, &p);
        if (!rc)
            vtpu_dbg_remote_dma(tc, chip, p.bytes, p.sem, t0);
        return rc;
    }
    return remote_complete(tc, &p);
}

int vtpu_dma_start(vtpu_tc *tc, uint32_t desc_addr)
{
    dma_plan p;
    int r = plan_dma(tc, desc_addr, &p);

    if (VTPU_UNLIKELY(r))
        return r < 0 ? -1 : remote_start(tc, desc_addr);
    if (VTPU_UNLIKELY(tc->check) && vtpu_check_dma(tc, &p))
        return -1; /* a race or an uninitialised read (check.h) */
    count_dma(tc, &p);
    if (VTPU_UNLIKELY(tc->chip->dbg)) {
        /* Deferred orders (dmaq.c) and the trace (timeline.c). */
        int64_t t0 = vtpu_dbg_now();
        if (tc->dmaq && p.sem_tc == tc->id)
            return vtpu_dmaq_push(tc, &p, t0);
        int rc = vtpu_dma_complete(tc, &p);
        vtpu_dbg_dma(tc, &p, t0);
        return rc;
    }
    return vtpu_dma_complete(tc, &p);
}

/* The one place a DMA's bytes move and its semaphore is signalled, in
 * every order (dmaq.c calls it for deferred DMAs). */
int vtpu_dma_complete(vtpu_tc *tc, const dma_plan *p)
{
    if (VTPU_UNLIKELY(p->remote))
        return remote_complete(tc, p);
    vtpu_dma_execute(p);
    return vtpu_sem_signal_from(tc, p->sem_tc, p->sem, p->bytes, p->pc, true);
}
