/*
 * lib_collective.c - collectives over one axis of the slice's mesh
 * (docs/kernels.md, "Collectives"; docs/multichip.md has the model).
 *
 *   all_gather            x (B bytes) -> o (n * B): o[j] = x of the
 *                         chip at position j of the axis; any dtype
 *   all_gather_bidir      the same, each block halved between the two
 *                         directions of the ring
 *   reduce_scatter_f32    x (n * B) -> o (B) = sum over the axis' chips
 *   reduce_scatter_i32      of their x[my position] (f32 / i32 adds)
 *   all_reduce_f32        x (n * B) -> o (n * B) = the sum over the axis'
 *   all_reduce_i32          chips: reduce-scatter, then all-gather, on
 *                         one ring
 *   all_reduce_f32_bidir  the same, half of every block on each
 *                         direction of the ring
 *   collective_matmul_f32 x (m, K), w (K, Nc) -> o (n * m, Nc) =
 *                         all_gather(x) @ w, and xg (n * m, K) =
 *                         all_gather(x); the gather overlaps the MXU
 *   slice_info            o (8,) i32 = this chip's id, the slice's chips,
 *                         its mesh shape (x, y, z) and the chip's
 *                         coordinates (x, y, z); not collective
 *
 * n is the length of the mesh axis, "position" this chip's coordinate
 * on it.  Scalar 0 (optional) picks the axis: 0 (x, the default), 1 (y)
 * or 2 (z); the chips that share the other coordinates form one ring, so
 * on a 2-D mesh every row (axis 0) or column (axis 1) runs its own
 * collective at once.  Every chip of the slice launches the kernel
 * (SPMD), with its operands at the same HBM offsets (the remote copies
 * name the destination by the same offset on the other chip) and the
 * same shapes.
 *
 * Rings.  Step s of a ring moves one block (one part of a block per
 * program, see below) from every chip to its successor with a remote DMA
 * (pltpu.make_async_remote_copy): the sender waits for its send
 * semaphore, the receiver for its receive semaphore, both by the bytes.
 * All-gathers copy HBM to HBM straight into the successor's o (distinct
 * blocks, so nothing needs flow control).  Reductions add in VMEM: the
 * partial sum goes into one of two receive buffers of the successor, the
 * successor adds its own block to it with an adding DMA (VTPU_DMA_ADD,
 * pltpu.async_copy(..., add=True): HBM straight into the buffer, no
 * vector loads) and forwards the buffer; it gives the buffer back with a
 * remote semaphore signal (a credit) once the forward has left.  Sums
 * are taken in ring order, so every chip's result is the same bits and
 * the same as the host's sum in that order.
 *
 * Grid (P,), parallel: program p moves bytes [p * part, (p + 1) * part)
 * of every block (part rounded up to 4 KiB) and talks to the same TC on
 * the other chips, so P TCs run P independent rings.  Reductions need
 * every block to be a whole number of 4 KiB vregs (B % 4096 == 0, e.g.
 * (8k, 128) f32).
 */
#include <vtpu/kernel.h>


#define VREG 4096u
/* Bytes of a reduction chunk (a receive/send/own buffer), per ring. */
#define CHUNK (512u * 1024u)

/* Semaphores: four per ring, and one for local copies. */
enum { R_SEND, R_RECV0, R_RECV1, R_CRED, R_NSEMS };
enum { SEM_RING0 = 0, SEM_RING1 = R_NSEMS, SEM_LOCAL = 2 * R_NSEMS, NUM_SEMS };

/* VMEM scratch per ring: the receive buffers rb[2]; reductions only. */
#define RING_VMEM (2u * CHUNK)
#define COLL_SCRATCH (2u * RING_VMEM)

/* One direction of the ring along the axis. */
typedef struct ring {
    uint32_t n, q;     /* chips on the ring, this chip's ring position */
    int dir;           /* 0: towards +1 on the axis, 1: towards -1 */
    uint32_t to, from; /* chip ids of the successor / predecessor */
    uint32_t tc;       /* the TC that runs the same program there */
    uint32_t sem;      /* first of its R_NSEMS semaphores */
    uint32_t rb[2];    /* VMEM receive buffers (reductions) */
    uint32_t t;        /* reduction steps taken (credits) */
    int held;          /* rb[held] holds a sum still to forward, or -1 */
} ring;

typedef struct axis {
    uint32_t n, pos; /* axis length, this chip's coordinate on it */
    int axis;
} axis;

static uint32_t mod(int64_t a, uint32_t n)
{
    int64_t r = a % (int64_t)n;
    return (uint32_t)(r < 0 ? r + n : r);
}

static axis get_axis(const vtpu_kctx *k, const char *name)
{
    uint32_t dims[3], c[3];
    axis a;

    a.axis = k->num_scalars ? vtpu_scalar(k, 0) : 0;
    if (a.axis < 0 || a.axis > 2)
        vtpu_fail(k, "collective: scalar 0 (the mesh axis) must be 0, 1 "
                     "or 2");
    vtpu_mesh_shape(dims);
    vtpu_mesh_coords(c);
    a.n = dims[a.axis];
    a.pos = c[a.axis];
    (void)name;
    return a;
}

/* Ring `dir` along the axis: in ring numbering the algorithms below
 * always send to position q + 1. */
static void ring_init(ring *r, const vtpu_kctx *k, const axis *a, int dir,
                      uint32_t sem, uint32_t vmem)
{
    r->n = a->n;
    r->dir = dir;
    r->q = dir ? mod(-(int64_t)a->pos, a->n) : a->pos;
    r->to = vtpu_mesh_neighbor(a->axis, dir ? -1 : 1);
    r->from = vtpu_mesh_neighbor(a->axis, dir ? 1 : -1);
    r->tc = k->tc;
    r->sem = sem;
    r->t = 0;
    r->held = -1;
    for (unsigned i = 0; i < 2; i++)
        r->rb[i] = vmem + i * CHUNK;
}

/* Axis position of the ring's position q. */
static uint32_t ring_block(const ring *r, int64_t q)
{
    uint32_t b = mod(q, r->n);
    return r->dir ? mod(-(int64_t)b, r->n) : b;
}

/* A local copy (add: 0, or an adding DMA of that dtype), waited for. */
static void local_dma(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t bytes,
                      uint32_t add)
{
    vtpu_dma_desc d;
    if (!bytes)
        return;
    vtpu_dma_1d(&d, dst, src, bytes, SEM_LOCAL);
    if (add)
        vtpu_dma_set_add(&d, add);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_LOCAL, bytes);
}

static void local_copy(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t bytes)
{
    local_dma(dst, src, bytes, 0);
}

/* Start a remote copy to the ring's successor: dst there, src here. */
static void ring_send(const ring *r, vtpu_dma_ref dst, vtpu_dma_ref src,
                      uint32_t bytes, uint32_t recv_sem)
{
    vtpu_dma_desc d;
    if (dst.space != VTPU_DMA_HBM)
        dst.tc = (uint8_t)r->tc; /* the same TC index over there */
    vtpu_dma_1d(&d, dst, src, bytes, 0);
    vtpu_dma_set_sem(&d, r->tc, recv_sem);
    vtpu_dma_set_remote(&d, r->to, r->sem + R_SEND);
    vtpu_dma_start(&d);
}

/* This program's byte range [lo, hi) of a block of `blk` bytes. */
static void program_part(const vtpu_kctx *k, uint64_t blk, uint32_t align,
                         uint64_t *lo, uint64_t *hi)
{
    uint32_t np = vtpu_num_programs(k, 0), p = (uint32_t)vtpu_program_id(k, 0);
    uint64_t part = (blk + np - 1) / np;
    part = (part + align - 1) / align * align;
    *lo = (uint64_t)p * part < blk ? (uint64_t)p * part : blk;
    *hi = *lo + part < blk ? *lo + part : blk;
}

/* ------------------------------------------------------------------ */
/* All-gather: HBM to HBM                                              */
/* ------------------------------------------------------------------ */

/*
 * Bytes [lo, hi) of every block of o (blocks of blk bytes at HBM `o`):
 * step s sends block q - s (ring numbering) to the successor and
 * receives block q - s - 1 from the predecessor.  Several rings advance
 * together, one step of each at a time.
 */
static void gather_rings(ring *rs, unsigned nr, uint64_t o, uint64_t blk,
                         const uint64_t *lo, const uint64_t *hi)
{
    uint32_t n = rs[0].n;
    for (uint32_t s = 0; s + 1 < n; s++) {
        for (unsigned i = 0; i < nr; i++) {
            ring *r = &rs[i];
            uint32_t bytes = (uint32_t)(hi[i] - lo[i]);
            uint64_t at = o + ring_block(r, (int64_t)r->q - s) * blk + lo[i];
            if (bytes)
                ring_send(r, vtpu_hbm(at), vtpu_hbm(at), bytes,
                          r->sem + R_RECV0);
        }
        for (unsigned i = 0; i < nr; i++) {
            ring *r = &rs[i];
            uint32_t bytes = (uint32_t)(hi[i] - lo[i]);
            if (!bytes)
                continue;
            vtpu_sem_wait(r->sem + R_SEND, bytes);
            vtpu_sem_wait(r->sem + R_RECV0, bytes);
        }
    }
}

/* Split [lo, hi) between `nr` rings (halves for two), 4-byte aligned. */
static void split(uint64_t lo, uint64_t hi, unsigned nr, uint64_t *l,
                  uint64_t *h)
{
    uint64_t mid = lo + ((hi - lo) / 2 & ~(uint64_t)3);
    if (nr == 1) {
        l[0] = lo;
        h[0] = hi;
        return;
    }
    l[0] = lo;
    h[0] = mid;
    l[1] = mid;
    h[1] = hi;
}

static void all_gather(const vtpu_kctx *k, unsigned nr)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    axis a = get_axis(k, "all_gather");
    uint64_t blk = (uint64_t)x->shape[0] * x->shape[1] * x->itemsize;
    uint64_t lo, hi, l[2], h[2];
    ring rs[2];

    if (x->rank != 2 || o->rank != 2 || o->shape[1] != x->shape[1] ||
        o->shape[0] != a.n * x->shape[0] || o->itemsize != x->itemsize)
        vtpu_fail(k, "all_gather takes x (m, c) and o (n * m, c) of one "
                     "dtype, n the length of the mesh axis");
    program_part(k, blk, 4, &lo, &hi);
    /* My own block first, then the rings pass the others along. */
    local_copy(vtpu_hbm(o->hbm + a.pos * blk + lo), vtpu_hbm(x->hbm + lo),
               (uint32_t)(hi - lo));
    if (a.n == 1)
        return;
    for (unsigned i = 0; i < nr; i++)
        ring_init(&rs[i], k, &a, (int)i, i ? SEM_RING1 : SEM_RING0, 0);
    split(lo, hi, nr, l, h);
    gather_rings(rs, nr, o->hbm, blk, l, h);
}

VTPU_BODY(all_gather_body, k)
{
    all_gather(k, 1);
}

VTPU_BODY(all_gather_bidir_body, k)
{
    all_gather(k, 2);
}

/* ------------------------------------------------------------------ */
/* Reduce-scatter: partial sums around the ring through VMEM           */
/* ------------------------------------------------------------------ */

/* Give rb[j] back to the ring's predecessor (a credit). */
static void ring_release(ring *r)
{
    vtpu_sem_signal_remote(r->from, r->tc, r->sem + R_CRED, 1);
}

/*
 * One chunk of the reduction on every ring: bytes [lo[i], lo[i] + len[i])
 * of each block of x (blocks of blk bytes at HBM x).  Ring step s sends
 * the partial sum of block q - s - 1 and receives that of block q - s - 2
 * into rb[t & 1], to which this chip adds its own block (an adding DMA);
 * that buffer is what the next step sends.  After n - 1 steps the sum of
 * block q (this chip's) is complete and goes to HBM out[i].  `add`: the
 * dtype the DMAs add in (VTPU_F32 / VTPU_I32).
 */
static void reduce_chunk(ring *rs, unsigned nr, uint64_t x, uint64_t blk,
                         const uint64_t *lo, const uint32_t *len,
                         const uint64_t *out, uint32_t add)
{
    uint32_t n = rs[0].n;

    for (uint32_t s = 0; s + 1 < n; s++) {
        /* Send this step's partial sums. */
        for (unsigned i = 0; i < nr; i++) {
            ring *r = &rs[i];
            unsigned j = r->t & 1;
            if (!len[i])
                continue;
            /* The first partial is this chip's own block, sent
             * straight from HBM; later ones were summed into rb[held]. */
            vtpu_dma_ref src =
                s == 0 ? vtpu_hbm(x + ring_block(r, (int64_t)r->q - 1) * blk +
                                  lo[i])
                       : vtpu_vmem((void *)(uintptr_t)r->rb[r->held]);
            if (r->t >= 2) /* the successor has given rb[j] back */
                vtpu_sem_wait(r->sem + R_CRED, 1);
            ring_send(r, vtpu_vmem((void *)(uintptr_t)r->rb[j]), src, len[i],
                      r->sem + R_RECV0 + j);
        }
        /* Receive the predecessor's, add this chip's block. */
        for (unsigned i = 0; i < nr; i++) {
            ring *r = &rs[i];
            unsigned j = r->t & 1;
            if (!len[i])
                continue;
            uint64_t own =
                x + ring_block(r, (int64_t)r->q - s - 2) * blk + lo[i];
            vtpu_dma_ref rb = vtpu_vmem((void *)(uintptr_t)r->rb[j]);
            vtpu_sem_wait(r->sem + R_RECV0 + j, len[i]);
            local_dma(rb, vtpu_hbm(own), len[i], add);
            /* The forward from rb[held] has left: give that back. */
            vtpu_sem_wait(r->sem + R_SEND, len[i]);
            if (r->held >= 0)
                ring_release(r);
            r->held = -1;
            if (s + 2 == n) { /* the last step: block q is complete */
                local_copy(vtpu_hbm(out[i]), rb, len[i]);
                ring_release(r);
            } else {
                r->held = (int)j;
            }
            r->t++;
        }
    }
}

/* Take the credits still owed (every step's buffer comes back; the
 * first two sends needed none), so that no semaphore is left set. */
static void ring_drain(ring *r)
{
    uint32_t owed = r->t < 2 ? r->t : 2;
    if (owed)
        vtpu_sem_wait(r->sem + R_CRED, owed);
}

/*
 * Reduce-scatter of x (n blocks of blk bytes) into HBM `res` (blk bytes,
 * this chip's block of the sum), this program's bytes [lo, hi) of the
 * blocks, split between `nr` rings.
 */
static void reduce_scatter(const vtpu_kctx *k, const axis *a, unsigned nr,
                           uint64_t x, uint64_t blk, uint64_t res, uint64_t lo,
                           uint64_t hi, int i32)
{
    ring rs[2];
    uint64_t l[2], h[2];

    if (a->n == 1) {
        local_copy(vtpu_hbm(res + lo), vtpu_hbm(x + lo), (uint32_t)(hi - lo));
        return;
    }
    for (unsigned i = 0; i < nr; i++)
        ring_init(&rs[i], k, a, (int)i, i ? SEM_RING1 : SEM_RING0,
                  k->scratch_vmem + i * RING_VMEM);
    if (nr == 2) { /* halves of whole vregs */
        uint64_t mid = lo + (hi - lo) / 2 / VREG * VREG;
        l[0] = lo, h[0] = mid, l[1] = mid, h[1] = hi;
    } else {
        l[0] = lo, h[0] = hi;
    }
    for (;;) {
        uint64_t cl[2], out[2];
        uint32_t len[2];
        int more = 0;
        for (unsigned i = 0; i < nr; i++) {
            uint64_t left = h[i] - l[i];
            len[i] = (uint32_t)(left < CHUNK ? left : CHUNK);
            cl[i] = l[i];
            out[i] = res + l[i];
            l[i] += len[i];
            more |= len[i] != 0;
        }
        if (!more)
            break;
        reduce_chunk(rs, nr, x, blk, cl, len, out, i32 ? VTPU_I32 : VTPU_F32);
    }
    for (unsigned i = 0; i < nr; i++)
        ring_drain(&rs[i]);
}

static void check_reduce(const vtpu_kctx *k, const char *what, uint64_t blk)
{
    if (blk % VREG)
        vtpu_fail(k, "collective reduction: every chip's block must be a "
                     "whole number of 4 KiB vregs (e.g. (8k, 128) f32)");
    (void)what;
}

static void reduce_scatter_kernel(const vtpu_kctx *k, int i32)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    axis a = get_axis(k, "reduce_scatter");
    uint64_t blk = (uint64_t)o->shape[0] * o->shape[1] * o->itemsize;
    uint64_t lo, hi;

    if (x->rank != 2 || o->rank != 2 || x->shape[1] != o->shape[1] ||
        x->shape[0] != a.n * o->shape[0])
        vtpu_fail(k, "reduce_scatter takes x (n * m, c) and o (m, c), n "
                     "the length of the mesh axis");
    check_reduce(k, "reduce_scatter", blk);
    program_part(k, blk, VREG, &lo, &hi);
    reduce_scatter(k, &a, 1, x->hbm, blk, o->hbm, lo, hi, i32);
}

VTPU_BODY(reduce_scatter_f32_body, k)
{
    reduce_scatter_kernel(k, 0);
}

VTPU_BODY(reduce_scatter_i32_body, k)
{
    reduce_scatter_kernel(k, 1);
}

/* ------------------------------------------------------------------ */
/* All-reduce: reduce-scatter into o, then all-gather o                */
/* ------------------------------------------------------------------ */

static void all_reduce(const vtpu_kctx *k, unsigned nr, int i32)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    axis a = get_axis(k, "all_reduce");
    uint64_t total = (uint64_t)x->shape[0] * x->shape[1] * x->itemsize;
    uint64_t blk = total / a.n, lo, hi, l[2], h[2];
    ring rs[2];

    if (x->rank != 2 || o->rank != 2 || o->shape[0] != x->shape[0] ||
        o->shape[1] != x->shape[1] || x->shape[0] % a.n)
        vtpu_fail(k, "all_reduce takes x and o of one shape (r, c), r a "
                     "multiple of the length of the mesh axis");
    check_reduce(k, "all_reduce", blk);
    program_part(k, blk, VREG, &lo, &hi);
    /* Phase 1: this chip's block of the sum, in place in o. */
    reduce_scatter(k, &a, nr, x->hbm, blk, o->hbm + a.pos * blk, lo, hi, i32);
    if (a.n == 1)
        return;
    /* Phase 2: pass the blocks around, the same split between rings. */
    for (unsigned i = 0; i < nr; i++)
        ring_init(&rs[i], k, &a, (int)i, i ? SEM_RING1 : SEM_RING0, 0);
    if (nr == 2) {
        uint64_t mid = lo + (hi - lo) / 2 / VREG * VREG;
        l[0] = lo, h[0] = mid, l[1] = mid, h[1] = hi;
    } else {
        l[0] = lo, h[0] = hi;
    }
    gather_rings(rs, nr, o->hbm, blk, l, h);
}

VTPU_BODY(all_reduce_f32_body, k)
{
    all_reduce(k, 1, 0);
}

VTPU_BODY(all_reduce_i32_body, k)
{
    all_reduce(k, 1, 1);
}

VTPU_BODY(all_reduce_f32_bidir_body, k)
{
    all_reduce(k, 2, 0);
}

/* ------------------------------------------------------------------ */
/* Collective matmul: all-gather x while the MXU works on what is here */
/* ------------------------------------------------------------------ */

/* Rows of x per MXU pass (a chunk of a block), at most 128. */
#define MM_ROWS 128u
#define TILE (128u * 128u * 4u) /* one (128, 128) f32 tile */
#define MM_SCRATCH (8u * 1024u * 1024u)

/*
 * o[rows] = xg[rows] @ w for `m` rows of the gathered x starting at HBM
 * xrow (row pitch K * 4), into HBM orow (row pitch Nc * 4).  w is in VMEM
 * as (K/128) x (Nc/128) tiles, tile (kb, jb) at wv + (kb * nb + jb) *
 * TILE, each 128 dense rows of 128.
 */
static void mm_block(uint64_t xrow, uint64_t orow, uint32_t m, uint32_t K,
                     uint32_t Nc, uint32_t wv, uint32_t xv, uint32_t ov)
{
    uint32_t kbs = K / 128, nb = Nc / 128;

    for (uint32_t r0 = 0; r0 < m; r0 += MM_ROWS) {
        uint32_t rows = m - r0 < MM_ROWS ? m - r0 : MM_ROWS;
        /* x rows as kbs slabs of (rows, 128), slab kb at xv + kb * TILE */
        {
            vtpu_dma_desc d;
            uint32_t shape[3] = {512, rows, kbs};
            int64_t ds[2] = {512, TILE}, ss[2] = {(int64_t)K * 4, 512};
            vtpu_dma_3d(&d, vtpu_vmem((void *)(uintptr_t)xv), ds,
                        vtpu_hbm(xrow + (uint64_t)r0 * K * 4), ss, shape,
                        SEM_LOCAL);
            vtpu_dma_start(&d);
            vtpu_sem_wait(SEM_LOCAL, 512u * rows * kbs);
        }
        VBCAST_I32(0, 0);
        for (uint32_t jb = 0; jb < nb; jb++)
            for (uint32_t g = 0; g < rows; g += 8)
                VST(0, ov + jb * TILE + g * 512);
        for (uint32_t jb = 0; jb < nb; jb++) {
            for (uint32_t kb = 0; kb < kbs; kb++) {
                uint32_t wt = wv + (kb * nb + jb) * TILE;
                MXU_CLR(0);
                for (uint32_t r = 0; r < 16; r++) {
                    VLD(1, wt + r * VREG);
                    MXU_PUSH_F32(0, 1, 0);
                }
                for (uint32_t g = 0; g < rows; g += 8) {
                    uint32_t acc = ov + jb * TILE + g * 512;
                    VLD(2, xv + kb * TILE + g * 512);
                    MXU_MATMUL_F32(0, 2, 0);
                    MXU_POP(3, 0, 0);
                    VLD(4, acc);
                    VADD_F32(4, 4, 3);
                    VST(4, acc);
                }
            }
        }
        /* (rows, Nc) back: nb slabs of (rows, 128) */
        {
            vtpu_dma_desc d;
            uint32_t shape[3] = {512, rows, nb};
            int64_t ds[2] = {(int64_t)Nc * 4, 512}, ss[2] = {512, TILE};
            vtpu_dma_3d(&d, vtpu_hbm(orow + (uint64_t)r0 * Nc * 4), ds,
                        vtpu_vmem((void *)(uintptr_t)ov), ss, shape,
                        SEM_LOCAL);
            vtpu_dma_start(&d);
            vtpu_sem_wait(SEM_LOCAL, 512u * rows * nb);
        }
    }
}

VTPU_BODY(collective_matmul_body, k)
{
    const vtpu_operand_info *x = &k->op[0], *w = &k->op[1], *o = &k->op[2],
                            *xg = &k->op[3];
    axis a = get_axis(k, "collective_matmul_f32");
    uint32_t m = x->shape[0], K = x->shape[1], Nc = w->shape[1];
    uint32_t kbs = K / 128, nb = Nc / 128;
    uint64_t xblk = (uint64_t)m * K * 4;
    ring r;

    if (x->rank != 2 || w->rank != 2 || w->shape[0] != K || o->rank != 2 ||
        o->shape[0] != a.n * m || o->shape[1] != Nc || xg->rank != 2 ||
        xg->shape[0] != a.n * m || xg->shape[1] != K)
        vtpu_fail(k, "collective_matmul_f32 takes x (m, K), w (K, Nc), o (n "
                     "* m, Nc) and xg (n * m, K), n the length of the mesh "
                     "axis");
    if (m % 8 || K % 128 || Nc % 128)
        vtpu_fail(k, "collective_matmul_f32: m must be a multiple of 8, K "
                     "and Nc of 128");
    /* w, a slab of x and a slab of o must fit the scratch */
    uint64_t wbytes = (uint64_t)kbs * nb * TILE;
    uint64_t need = wbytes + (uint64_t)(kbs + nb) * TILE;
    if (need > MM_SCRATCH)
        vtpu_fail(k, "collective_matmul_f32: w (K, Nc) too large for VMEM "
                     "scratch (K/128 * Nc/128 + K/128 + Nc/128 <= 128 tiles)");
    if (vtpu_num_programs(k, 0) != 1)
        vtpu_fail(k, "collective_matmul_f32 runs as grid (1,)");

    uint32_t wv = k->scratch_vmem, xv = wv + (uint32_t)wbytes,
             ov = xv + kbs * TILE;
    /* w into tiles: for each kb, one 3-D copy of its nb tiles */
    for (uint32_t kb = 0; kb < kbs; kb++) {
        vtpu_dma_desc d;
        uint32_t shape[3] = {512, 128, nb};
        int64_t ds[2] = {512, TILE}, ss[2] = {(int64_t)Nc * 4, 512};
        vtpu_dma_3d(&d, vtpu_vmem((void *)(uintptr_t)(wv + kb * nb * TILE)),
                    ds, vtpu_hbm(w->hbm + (uint64_t)kb * 128 * Nc * 4), ss,
                    shape, SEM_LOCAL);
        vtpu_dma_start(&d);
        vtpu_sem_wait(SEM_LOCAL, 512u * 128u * nb);
    }
    /* My block of the gathered x */
    local_copy(vtpu_hbm(xg->hbm + a.pos * xblk), vtpu_hbm(x->hbm),
               (uint32_t)xblk);
    ring_init(&r, k, &a, 0, SEM_RING0, 0);
    for (uint32_t s = 0; s < a.n; s++) {
        uint32_t b = ring_block(&r, (int64_t)r.q - s);
        uint64_t at = xg->hbm + b * xblk;
        /* pass block b on while the MXU works on it */
        if (s + 1 < a.n)
            ring_send(&r, vtpu_hbm(at), vtpu_hbm(at), (uint32_t)xblk,
                      r.sem + R_RECV0);
        mm_block(at, o->hbm + (uint64_t)b * m * Nc * 4, m, K, Nc, wv, xv, ov);
        if (s + 1 < a.n) {
            vtpu_sem_wait(r.sem + R_SEND, (uint32_t)xblk);
            vtpu_sem_wait(r.sem + R_RECV0, (uint32_t)xblk);
        }
    }
}

/*
 * Where the chip is: a host that drives a slice through one device per
 * chip (the guest's vtpu-slice-demo) learns which device is which chip.
 */
static void slice_info_body(const vtpu_kctx *k)
{
    static uint32_t v[8]; /* SMEM */
    const vtpu_operand_info *o = &k->op[0];

    if (o->rank != 1 || o->shape[0] != 8)
        vtpu_fail(k, "slice_info takes o (8,) i32");
    v[0] = vtpu_chip_id();
    v[1] = vtpu_num_chips();
    vtpu_mesh_shape(&v[2]);
    vtpu_mesh_coords(&v[5]);
    local_copy(vtpu_hbm(o->hbm), vtpu_smem(v), sizeof(v));
}

/* ------------------------------------------------------------------ */
/* The kernels                                                          */
/* ------------------------------------------------------------------ */

VTPU_KERNEL(all_gather, all_gather_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_DT_ANY, 2),
                         VTPU_ANY_EX(VTPU_ROLE_OUT, VTPU_DT_ANY, 2,
                                     VTPU_LIKE_NONE, VTPU_LIKE(0))},
            .num_sems = NUM_SEMS);
VTPU_KERNEL(all_gather_bidir, all_gather_bidir_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_DT_ANY, 2),
                         VTPU_ANY_EX(VTPU_ROLE_OUT, VTPU_DT_ANY, 2,
                                     VTPU_LIKE_NONE, VTPU_LIKE(0))},
            .num_sems = NUM_SEMS);
VTPU_KERNEL(reduce_scatter_f32, reduce_scatter_f32_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY(VTPU_ROLE_OUT, VTPU_F32, 2)},
            .scratch_vmem = COLL_SCRATCH, .num_sems = NUM_SEMS);
VTPU_KERNEL(reduce_scatter_i32, reduce_scatter_i32_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_I32, 2),
                         VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 2)},
            .scratch_vmem = COLL_SCRATCH, .num_sems = NUM_SEMS);
VTPU_KERNEL(all_reduce_f32, all_reduce_f32_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .scratch_vmem = COLL_SCRATCH, .num_sems = NUM_SEMS);
VTPU_KERNEL(all_reduce_i32, all_reduce_i32_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_I32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_I32, 2)},
            .scratch_vmem = COLL_SCRATCH, .num_sems = NUM_SEMS);
VTPU_KERNEL(all_reduce_f32_bidir, all_reduce_f32_bidir_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .scratch_vmem = COLL_SCRATCH, .num_sems = NUM_SEMS);
VTPU_KERNEL(collective_matmul_f32, collective_matmul_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY(VTPU_ROLE_OUT, VTPU_F32, 2),
                         VTPU_ANY(VTPU_ROLE_OUT, VTPU_F32, 2)},
            .scratch_vmem = MM_SCRATCH, .num_sems = NUM_SEMS);
VTPU_KERNEL(slice_info, slice_info_body,
            .operands = {VTPU_ANY(VTPU_ROLE_OUT, VTPU_I32, 1)},
            .num_sems = NUM_SEMS);
