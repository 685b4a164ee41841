/*
 * setup.c - check a launch against its kernel and lay out the memories.
 *
 * Everything the grid loop needs per step is computed here once: block
 * geometry, DMA templates, buffers, semaphores, this TC's range of grid
 * points.  Divisions happen here, never in the loop.
 *
 * Layout (docs/kernels.md, "Memory layout"), per blocked operand in
 * operand order a zeroed block (inputs whose array does not divide into
 * blocks) and two block buffers, in VMEM or SMEM:
 *   VMEM  base: scratch_vmem | VMEM operands' blocks
 *   SMEM  heap (then the tail, when the heap is full): scratch_smem |
 *         the runtime's operand records | SMEM operands' blocks
 *   SMEM  tail: image | stack | free (the tail) | scalars | end of SMEM
 *   sems  0 .. num_sems-1 the body's | one for the runtime | one per
 *         block buffer (two per blocked operand unless Buffered(n));
 *         never VTPU_BARRIER_SEM (254) and up: vtpu_slice_barrier's
 */
#include <stdint.h>
#include <string.h>

#include "rt.h"

extern const vtpu_kernel_entry __vtpu_kernels_start[];
extern const vtpu_kernel_entry __vtpu_kernels_end[];
extern char __heap_start[], __heap_end[], __stack_top[];

static uint32_t align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static uint32_t vmem_alloc(rt_state *st, uint32_t bytes)
{
    uint64_t at = align_up(st->vmem_top, RT_VMEM_ALIGN);
    uint32_t lim = st->launch.vmem_size ? st->launch.vmem_size : VTPU_VMEM_MAX;
    if (at + bytes > lim)
        rt_fail(st, VTPU_LERR_VMEM,
                "kernel needs more than the %lu bytes of VMEM (%lu in use, "
                "%lu more asked)",
                (unsigned long)lim, (unsigned long)at, (unsigned long)bytes);
    st->vmem_top = (uint32_t)(at + bytes);
    return VTPU_VMEM_BASE + (uint32_t)at;
}

/* SMEM from the heap (the image's .heap), else from the tail: what is
 * free between the stack and the scalar-prefetch array at the end of
 * SMEM. */
static uintptr_t smem_alloc(rt_state *st, uint32_t bytes)
{
    uintptr_t at = align_up(st->smem_top, RT_SMEM_ALIGN);
    if (at + bytes <= (uintptr_t)__heap_end) {
        st->smem_top = at + bytes;
        return at;
    }
    at = align_up(st->tail_top, RT_SMEM_ALIGN);
    if (at + bytes <= st->tail_end && at + bytes >= at) {
        st->tail_top = at + bytes;
        return at;
    }
    rt_fail(st, VTPU_LERR_SMEM,
            "kernel needs %lu more bytes of SMEM: the runtime's heap has "
            "%lu bytes left, SMEM after the stack %lu (%lu bytes of "
            "scalars at its end); raise the chip's smem-size or link with "
            "a larger __vtpu_heap_size",
            (unsigned long)bytes,
            (unsigned long)((uintptr_t)__heap_end -
                            align_up(st->smem_top, RT_SMEM_ALIGN)),
            (unsigned long)(st->tail_end > at ? st->tail_end - at : 0),
            (unsigned long)st->launch.num_scalars * 4);
}

/*
 * Zero VMEM explicitly rather than trust that a run starts with it
 * zeroed: under vtpu-run --poison it starts filled with NaN
 * (docs/debugging.md).  DMAs from a zeroed .bss row, source stride 0.
 */
static void zero_vmem(rt_state *st, uint32_t addr, uint32_t bytes)
{
    static uint32_t zrow[128];
    uint32_t rows = bytes / sizeof(zrow), rest = bytes % sizeof(zrow);
    vtpu_dma_desc d;

    if (rows) {
        vtpu_dma_2d(&d, vtpu_vmem((const void *)(uintptr_t)addr), sizeof(zrow),
                    vtpu_smem(zrow), 0, sizeof(zrow), rows, st->rt_sem);
        vtpu_dma_start(&d);
        vtpu_sem_wait(st->rt_sem, vtpu_dma_bytes(&d));
    }
    if (rest)
        rt_dma_wait_copy(
            vtpu_vmem((const void *)(uintptr_t)(addr + bytes - rest)),
            vtpu_smem(zrow), rest, st->rt_sem);
}

uintptr_t rt_smem_alloc(rt_state *st, uint32_t bytes)
{
    return smem_alloc(st, bytes);
}

/* Publish a buffer in the region table (vtpu-launch.h); `used` bytes of
 * it are the block or scratch, the rest up to the next allocation is
 * alignment padding, which the body may touch harmlessly. */
static void add_region(rt_state *st, unsigned space, uint64_t addr,
                       uint32_t used, unsigned operand, unsigned kind,
                       const vtpu_operand_info *in)
{
    uint32_t align = space == VTPU_REGION_VMEM   ? RT_VMEM_ALIGN
                     : space == VTPU_REGION_SMEM ? RT_SMEM_ALIGN
                                                 : 1;
    vtpu_region *r = &st->regions[st->nregions++];
    r->addr = addr;
    r->bytes = space == VTPU_REGION_HBM ? used : align_up(used, align);
    r->used = used;
    r->space = (uint8_t)space;
    r->operand = (uint8_t)operand;
    r->kind = (uint8_t)kind;
    r->rank = 0;
    r->itemsize = 0;
    memset(r->shape, 0, sizeof(r->shape));
    memset(r->reserved, 0, sizeof(r->reserved));
    r->nest = (uint8_t)st->depth;
    if (in) {
        r->rank = in->rank;
        r->itemsize = (uint8_t)in->itemsize;
        for (unsigned d = 0; d < in->rank; d++)
            r->shape[d] = kind == VTPU_RK_ARRAY ? in->shape[d] : in->block[d];
    }
}

static const vtpu_kernel_entry *find_kernel(rt_state *st)
{
    const vtpu_launch *L = &st->launch;
    uintptr_t bytes =
        (uintptr_t)__vtpu_kernels_end - (uintptr_t)__vtpu_kernels_start;
    if (bytes % sizeof(vtpu_kernel_entry))
        rt_fail(st, VTPU_LERR_TABLE,
                "section .vtpu.kernels is %lu bytes, not a multiple of %lu",
                (unsigned long)bytes, (unsigned long)sizeof(vtpu_kernel_entry));
    uint32_t count = bytes / sizeof(vtpu_kernel_entry);
    if (L->kernel >= count)
        rt_fail(st, VTPU_LERR_KERNEL,
                "kernel index %lu, but the module has %lu kernel%s",
                (unsigned long)L->kernel, (unsigned long)count,
                count == 1 ? "" : "s");
    const vtpu_kernel_entry *e = &__vtpu_kernels_start[L->kernel];
    if (e->magic != VTPU_KERNEL_MAGIC || e->abi != VTPU_KERNEL_ABI ||
        e->size != sizeof(*e) || !e->body ||
        memchr(e->name, 0, sizeof(e->name)) == NULL)
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel table entry %lu is not a kernel of this runtime "
                "(magic 0x%08lx, abi %u, size %u)",
                (unsigned long)L->kernel, (unsigned long)e->magic, e->abi,
                e->size);
    return e;
}

static void check_header(rt_state *st)
{
    const vtpu_launch *L = &st->launch;
    if (L->magic != VTPU_LAUNCH_MAGIC)
        rt_fail(st, VTPU_LERR_MAGIC,
                "no launch descriptor at HBM 0x%llx (magic 0x%08lx, "
                "expected 0x%08lx)",
                (unsigned long long)st->desc_hbm, (unsigned long)L->magic,
                (unsigned long)VTPU_LAUNCH_MAGIC);
    if (L->version != VTPU_LAUNCH_VERSION || L->size != sizeof(*L))
        rt_fail(st, VTPU_LERR_MAGIC,
                "launch descriptor version %u size %u; this runtime reads "
                "version %u size %u",
                L->version, L->size, VTPU_LAUNCH_VERSION, (unsigned)sizeof(*L));
    st->status_ok = 1;
    if (L->flags & ~VTPU_LAUNCH_F_KNOWN)
        rt_fail(st, VTPU_LERR_FLAGS, "unknown launch flags 0x%lx",
                (unsigned long)L->flags);
}

static void check_grid(rt_state *st)
{
    const vtpu_launch *L = &st->launch;
    if (L->grid_rank > VTPU_MAX_GRID_DIMS)
        rt_fail(st, VTPU_LERR_GRID, "grid rank %u (at most %u)", L->grid_rank,
                VTPU_MAX_GRID_DIMS);
    uint64_t points = 1;
    for (unsigned d = 0; d < VTPU_MAX_GRID_DIMS; d++) {
        if (d >= L->grid_rank) {
            if (L->grid[d] || L->semantics[d])
                rt_fail(st, VTPU_LERR_FLAGS,
                        "grid[%u]/semantics[%u] set beyond grid rank %u", d, d,
                        L->grid_rank);
            continue;
        }
        if (L->grid[d] == 0)
            rt_fail(st, VTPU_LERR_GRID, "grid[%u] is 0", d);
        if (L->semantics[d] > VTPU_PARALLEL)
            rt_fail(st, VTPU_LERR_SEMANTICS,
                    "semantics[%u] = %u (0 arbitrary, 1 parallel)", d,
                    L->semantics[d]);
        if (VTPU_GRID_IS_SCALAR(L->grid[d]))
            continue; /* resolve_grid(), once the scalars are loaded */
        points *= L->grid[d];
        if (points > UINT32_MAX)
            rt_fail(st, VTPU_LERR_GRID, "more than 2^32 - 1 grid points");
    }
    st->grid_rank = L->grid_rank;
}

/*
 * Dynamic grids: replace every extent given as VTPU_GRID_SCALAR(i) by
 * scalar i, in the runtime's copy of the descriptor (what the body sees
 * as k->launch and vtpu_num_programs()).  A dynamic extent of 0 is a
 * launch with no grid points.
 */
static void resolve_grid(rt_state *st, const vtpu_kernel_entry *e)
{
    vtpu_launch *L = &st->launch;
    const int32_t *s = st->ctx.scalars;
    uint64_t points = 1;
    for (unsigned d = 0; d < st->grid_rank; d++) {
        uint32_t g = L->grid[d], v = 0, i = VTPU_GRID_SCALAR_INDEX(g);
        switch (vtpu_grid_extent(g, s, L->num_scalars, &v)) {
        case VTPU_GRID_NO_SCALAR:
            rt_fail(st, VTPU_LERR_GRID,
                    "kernel '%s': grid[%u] is scalar-prefetch value %lu, but "
                    "the launch has %lu",
                    e->name, d, (unsigned long)i,
                    (unsigned long)L->num_scalars);
        case VTPU_GRID_NEGATIVE:
            rt_fail(st, VTPU_LERR_GRID,
                    "kernel '%s': grid[%u] is scalar-prefetch value %lu = "
                    "%ld, a negative extent",
                    e->name, d, (unsigned long)i, (long)s[i]);
        default:
            break;
        }
        L->grid[d] = v;
        points *= v;
        if (points > UINT32_MAX)
            rt_fail(st, VTPU_LERR_GRID,
                    "kernel '%s': more than 2^32 - 1 grid points (grid[%u] "
                    "= %lu%s)",
                    e->name, d, (unsigned long)v,
                    VTPU_GRID_IS_SCALAR(g) ? ", from a scalar" : "");
    }
}

/*
 * Scalar prefetch: the values (inline, or from HBM when more than 16)
 * go to the very end of SMEM, whatever their number, so that the SMEM
 * between the stack and them is all theirs to take, and an index map
 * that reads past the array faults on the first word past SMEM (the
 * host names the kernel, grid point and index: docs/kernels.md).
 */
static void load_scalars(rt_state *st, const vtpu_kernel_entry *e)
{
    vtpu_launch *L = &st->launch;
    uintptr_t top = vtpu_smem_top(), free_lo = (uintptr_t)__stack_top;
    if (L->num_scalars < e->num_scalars)
        rt_fail(st, VTPU_LERR_SCALARS,
                "kernel '%s' needs %u scalar-prefetch values, the launch "
                "has %lu",
                e->name, e->num_scalars, (unsigned long)L->num_scalars);
    if (L->num_scalars > (1u << 24))
        rt_fail(st, VTPU_LERR_SCALARS, "%lu scalar-prefetch values",
                (unsigned long)L->num_scalars);
    if (top < free_lo || top > VTPU_SMEM_BASE + VTPU_SMEM_MAX || top % 8)
        rt_fail(st, VTPU_LERR_SMEM,
                "sp at entry (0x%lx) is not the end of SMEM past the image "
                "(0x%lx)",
                (unsigned long)top, (unsigned long)free_lo);
    uint32_t bytes = L->num_scalars * 4;
    if (bytes > top - free_lo)
        rt_fail(st, VTPU_LERR_SMEM,
                "%lu scalars (%lu bytes) need a larger smem-size: %lu "
                "bytes free after the image, of %lu",
                (unsigned long)L->num_scalars, (unsigned long)bytes,
                (unsigned long)(top - free_lo),
                (unsigned long)(top - VTPU_SMEM_BASE));
    int32_t *s = (int32_t *)(top - bytes);
    if (L->num_scalars > VTPU_INLINE_SCALARS)
        rt_dma_wait_copy(vtpu_smem(s), vtpu_hbm(L->scalars_hbm), bytes,
                         st->rt_sem);
    else
        memcpy(s, L->scalars, bytes);
    st->ctx.scalars = s;
    st->ctx.num_scalars = L->num_scalars;
    st->tail_top = free_lo;
    st->tail_end = (top - bytes) & ~(uintptr_t)(RT_SMEM_ALIGN - 1);
}

/* Check operand i of the launch against the kernel's spec; fill info. */
static void check_operand(rt_state *st, const vtpu_kernel_entry *e, unsigned i)
{
    const vtpu_launch_operand *lo = &st->launch.operands[i];
    const vtpu_operand_spec *sp = &e->operands[i];
    vtpu_operand_info *in = &st->info[i];

    if (lo->flags || lo->reserved)
        rt_fail(st, VTPU_LERR_FLAGS, "operand %u: reserved fields not 0", i);
    uint32_t isz = vtpu_dtype_size(lo->dtype);
    if (!isz)
        rt_fail(st, VTPU_LERR_DTYPE, "operand %u: unknown dtype %u", i,
                lo->dtype);
    if (sp->dtype && sp->dtype != lo->dtype)
        rt_fail(st, VTPU_LERR_DTYPE, "operand %u is %s, kernel '%s' takes %s",
                i, rt_dtype_name(lo->dtype), e->name, rt_dtype_name(sp->dtype));
    if (lo->rank < 1 || lo->rank > VTPU_MAX_RANK)
        rt_fail(st, VTPU_LERR_RANK, "operand %u: rank %u (1 to %u)", i,
                lo->rank, VTPU_MAX_RANK);
    if (sp->rank && sp->rank != lo->rank)
        rt_fail(st, VTPU_LERR_RANK,
                "operand %u has rank %u, kernel '%s' blocks it with rank %u", i,
                lo->rank, e->name, sp->rank);

    unsigned r = lo->rank;
    uint64_t elems = 1;
    for (unsigned d = 0; d < r; d++) {
        if (lo->shape[d] == 0)
            rt_fail(st, VTPU_LERR_SHAPE, "operand %u: shape[%u] is 0", i, d);
        elems *= lo->shape[d];
        if (elems > (1ull << 40))
            rt_fail(st, VTPU_LERR_SHAPE, "operand %u: more than 2^40 elements",
                    i);
    }

    static const int32_t zeros[4];
    memset(in, 0, sizeof(*in));
    in->bidx = zeros;
    in->dtype = lo->dtype;
    in->rank = (uint8_t)r;
    in->space = sp->space;
    in->role = sp->role;
    in->itemsize = isz;
    in->hbm = lo->hbm;
    uint64_t bytes = isz;
    for (int d = (int)r - 1; d >= 0; d--) {
        uint32_t b = sp->block[d] & ~VTPU_BLOCK_ELEMENT;
        if (sp->block[d] & VTPU_BLOCK_ELEMENT) {
            if (sp->space == VTPU_MS_ANY || b == 0)
                rt_fail(st, VTPU_LERR_TABLE,
                        "kernel '%s': operand %u: element-indexed dimension "
                        "%d of %lu elements (blocked operands, >= 1)",
                        e->name, i, d, (unsigned long)b);
            if (sp->space == VTPU_MS_VMEM && isz < 4 && d == (int)r - 1)
                rt_fail(st, VTPU_LERR_BLOCK,
                        "operand %u (%s): the last dimension of a VMEM block "
                        "of a narrow type cannot be element-indexed",
                        i, rt_dtype_name(lo->dtype));
        } else if (sp->space == VTPU_MS_ANY || b == VTPU_FULL) {
            b = lo->shape[d];
        }
        in->shape[d] = lo->shape[d];
        in->block[d] = b;
        in->stride[d] = (uint32_t)bytes;
        bytes *= b;
        if (sp->space != VTPU_MS_ANY && bytes >= (1ull << 31))
            rt_fail(st, VTPU_LERR_BLOCK,
                    "operand %u: a block of more than 2^31 bytes", i);
    }
    in->bytes = sp->space == VTPU_MS_ANY ? 0 : (uint32_t)bytes;
    if (sp->space == VTPU_MS_VMEM && isz < 4) {
        /* VMEM is word-addressed by DMA: rows must be whole words, also
         * the clipped rows of an edge block. */
        uint32_t last = in->block[r - 1], full = lo->shape[r - 1];
        if ((last * isz) % 4 || (full % last && (full * isz) % 4))
            rt_fail(st, VTPU_LERR_BLOCK,
                    "operand %u (%s): VMEM block rows of %lu elements (array "
                    "rows %lu) are not whole 32-bit words",
                    i, rt_dtype_name(lo->dtype), (unsigned long)last,
                    (unsigned long)full);
    }
}

/* Operand i's array against what the kernel declares it is like
 * (shape_like / dtype_like, vtpu-launch.h). */
static void check_like(rt_state *st, const vtpu_kernel_entry *e, unsigned i,
                       unsigned nops)
{
    const vtpu_operand_spec *sp = &e->operands[i];
    const vtpu_launch_operand *lo = st->launch.operands;
    unsigned s = sp->shape_like, t = sp->dtype_like;

    if (s > nops || t > nops || s == i + 1 || t == i + 1 || sp->reserved)
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': operand %u is declared like itself or no "
                "operand (shape_like %u, dtype_like %u, %u operands)",
                e->name, i, s, t, nops);
    if (s) {
        const vtpu_launch_operand *a = &lo[i], *b = &lo[s - 1];
        int same = a->rank == b->rank;
        for (unsigned d = 0; same && d < a->rank; d++)
            same = a->shape[d] == b->shape[d];
        if (!same) {
            char as[64], bs[64];
            rt_fail(
                st, VTPU_LERR_SHAPE,
                "operand %u is %s, declared like operand %u, %s", i,
                rt_fmt_idx(as, sizeof(as), (const int32_t *)a->shape, a->rank),
                s - 1,
                rt_fmt_idx(bs, sizeof(bs), (const int32_t *)b->shape, b->rank));
        }
    }
    if (t && lo[i].dtype != lo[t - 1].dtype)
        rt_fail(st, VTPU_LERR_DTYPE,
                "operand %u is %s, declared like operand %u, %s", i,
                rt_dtype_name(lo[i].dtype), t - 1,
                rt_dtype_name(lo[t - 1].dtype));
}

/*
 * The kernel's extension record (vtpu_kernel_entry.ext, vtpu-launch.h):
 * a record this runtime knows, in SMEM, whose padding entries are all on
 * element-indexed dimensions of blocked operands.  Sets st->pads.
 */
static void check_ext(rt_state *st, const vtpu_kernel_entry *e, unsigned nops)
{
    st->pads = NULL;
    if (!e->ext)
        return;
    uintptr_t a = e->ext, top = vtpu_smem_top();
    if (a % 4 || a < VTPU_SMEM_BASE || a >= top ||
        top - a < sizeof(vtpu_kernel_ext))
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': extension record at 0x%08lx is not a %lu-byte "
                "aligned record in SMEM",
                e->name, (unsigned long)a,
                (unsigned long)sizeof(vtpu_kernel_ext));
    const vtpu_kernel_ext *x = (const vtpu_kernel_ext *)a;
    if (x->magic != VTPU_KEXT_MAGIC || x->version != VTPU_KEXT_VERSION ||
        x->size != sizeof(*x))
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': extension record at 0x%08lx has magic "
                "0x%08lx, version %u, size %u; this runtime reads 0x%08lx, "
                "%u, %u",
                e->name, (unsigned long)a, (unsigned long)x->magic, x->version,
                x->size, (unsigned long)VTPU_KEXT_MAGIC, VTPU_KEXT_VERSION,
                (unsigned)sizeof(*x));
    if ((x->flags & ~VTPU_KEXT_F_KNOWN) || x->reserved)
        rt_fail(st, VTPU_LERR_TABLE,
                "kernel '%s': extension record flags 0x%lx (known 0x%lx), "
                "reserved 0x%lx",
                e->name, (unsigned long)x->flags,
                (unsigned long)VTPU_KEXT_F_KNOWN, (unsigned long)x->reserved);
    if (!(x->flags & VTPU_KEXT_F_PAD))
        return;
    for (unsigned i = 0; i < VTPU_MAX_OPERANDS; i++)
        for (unsigned d = 0; d < VTPU_MAX_RANK; d++) {
            uint32_t lo = x->pad[i].lo[d], hi = x->pad[i].hi[d];
            if (!lo && !hi)
                continue;
            const vtpu_operand_spec *sp = &e->operands[i];
            if (i >= nops || sp->space == VTPU_MS_ANY || d >= sp->rank ||
                !(sp->block[d] & VTPU_BLOCK_ELEMENT))
                rt_fail(st, VTPU_LERR_TABLE,
                        "kernel '%s': operand %u dimension %u has padding "
                        "(%lu, %lu) but is not an element-indexed dimension "
                        "(VTPU_ELEMENT) of a blocked operand",
                        e->name, i, d, (unsigned long)lo, (unsigned long)hi);
            if (lo >= VTPU_MAX_PAD || hi >= VTPU_MAX_PAD)
                rt_fail(st, VTPU_LERR_TABLE,
                        "kernel '%s': operand %u dimension %u has padding "
                        "(%lu, %lu); each side below 2^30",
                        e->name, i, d, (unsigned long)lo, (unsigned long)hi);
        }
    st->pads = x->pad;
}

/* A blocked operand: grid-loop state, buffers, DMA templates. */
static void setup_blocked(rt_state *st, unsigned i, uint32_t sem)
{
    const vtpu_operand_spec *sp = &st->ctx.kernel->operands[i];
    vtpu_operand_info *in = &st->info[i];
    rt_op *o = &st->op[st->nblocked++];
    unsigned r = in->rank;

    memset(o, 0, sizeof(*o));
    o->map = (vtpu_index_map_fn)(uintptr_t)sp->index_map;
    o->info = in;
    o->hbm = in->hbm;
    o->bytes = in->bytes;
    o->index = (uint8_t)i;
    o->rank = (uint8_t)r;
    o->is_in = (sp->role & VTPU_ROLE_IN) != 0;
    o->is_out = (sp->role & VTPU_ROLE_OUT) != 0;
    o->local_space = sp->space == VTPU_MS_SMEM ? VTPU_DMA_SMEM : VTPU_DMA_VMEM;
    int partial = 0;
    uint64_t h = in->itemsize, ks = 1;
    for (int d = (int)r - 1; d >= 0; d--) {
        if (sp->block[d] & VTPU_BLOCK_ELEMENT) {
            o->elem |= (uint8_t)(1u << d);
            partial = 1; /* windows may stick out on either side */
            if (st->pads) {
                o->plo[d] = (int32_t)st->pads[i].lo[d];
                o->phi[d] = st->pads[i].hi[d];
                if (o->plo[d] || o->phi[d])
                    o->padded |= (uint8_t)(1u << d);
            }
        }
        o->kstride[d] = ks;
        ks *= (uint64_t)in->shape[d] + in->block[d];
        o->hstride[d] = h;
        o->bstride[d] = h * in->block[d];
        o->bstride32[d] = (uint32_t)o->bstride[d];
        o->nfull[d] = in->shape[d] / in->block[d];
        o->nblk[d] = o->nfull[d] + (in->shape[d] % in->block[d] != 0);
        partial |= in->shape[d] % in->block[d] != 0;
        h *= in->shape[d];
    }
    o->big = h > UINT32_MAX || o->elem;
    unsigned rspace =
        o->local_space == VTPU_DMA_VMEM ? VTPU_REGION_VMEM : VTPU_REGION_SMEM;
    if (partial && o->is_in) {
        o->zero = o->local_space == VTPU_DMA_VMEM
                      ? vmem_alloc(st, in->bytes)
                      : (uint32_t)smem_alloc(st, in->bytes);
        /* Neither memory is trusted to start zeroed: --poison fills
         * VMEM and the SMEM heap with NaNs (docs/debugging.md). */
        if (o->local_space == VTPU_DMA_VMEM)
            zero_vmem(st, o->zero, in->bytes);
        else
            memset((void *)(uintptr_t)o->zero, 0, in->bytes);
        add_region(st, rspace, o->zero, in->bytes, i, VTPU_RK_ZERO, in);
    }

    /* Complete-block copies: dim 0 of the DMA is the block's last
     * dimension, DMA dim k is block dim r-1-k. */
    uint32_t shape[4];
    int64_t hs[3], ls[3];
    shape[0] = in->block[r - 1] * in->itemsize;
    for (unsigned k = 1; k < r; k++) {
        shape[k] = in->block[r - 1 - k];
        hs[k - 1] = (int64_t)o->hstride[r - 1 - k];
        ls[k - 1] = in->stride[r - 1 - k];
    }
    o->nbuf = (uint8_t)(sp->buffers ? sp->buffers : 2);
    o->bufs = o->b;
    if (o->nbuf > 2)
        o->bufs = (rt_buf *)smem_alloc(st, o->nbuf * sizeof(rt_buf));
    if (st->deep) {
        o->q = (rt_slot *)smem_alloc(st, RT_WINDOW * sizeof(rt_slot));
        memset(o->q, 0, RT_WINDOW * sizeof(rt_slot));
    }
    for (unsigned s = 0; s < o->nbuf; s++) {
        rt_buf *b = &o->bufs[s];
        memset(b, 0, sizeof(*b));
        b->addr = o->local_space == VTPU_DMA_VMEM
                      ? vmem_alloc(st, in->bytes)
                      : (uint32_t)smem_alloc(st, in->bytes);
        b->sem = sem + s;
        add_region(st, rspace, b->addr, in->bytes, i,
                   s < 2 ? VTPU_RK_BUF0 + s : VTPU_RK_BUF2 + s - 2, in);
        vtpu_dma_ref local = {b->addr, o->local_space, VTPU_DMA_SELF};
        vtpu_dma_nd(&b->din, local, vtpu_hbm(in->hbm), r, shape, ls, hs,
                    b->sem);
        vtpu_dma_nd(&b->dout, vtpu_hbm(in->hbm), local, r, shape, hs, ls,
                    b->sem);
    }
    o->cur = &o->bufs[0];
    o->nxt = &o->bufs[o->nbuf > 1];
    in->bidx = o->cur->bidx;
}

void rt_setup(rt_state *st)
{
    vtpu_launch *L = &st->launch;
    vtpu_kctx *k = &st->ctx;

    check_header(st);
    const vtpu_kernel_entry *e = find_kernel(st);
    k->kernel = e;
    k->launch = L;
    k->tc = st->tc;
    k->num_tcs = st->ntcs;
    st->body = (vtpu_body_fn)(uintptr_t)e->body;
    check_grid(st);

    unsigned nops = 0;
    while (nops < VTPU_MAX_OPERANDS && e->operands[nops].role)
        nops++;
    for (unsigned i = nops; i < VTPU_MAX_OPERANDS; i++)
        if (e->operands[i].role)
            rt_fail(st, VTPU_LERR_TABLE,
                    "kernel '%s': operand %u follows an empty slot", e->name,
                    i);
    if (L->num_operands != nops)
        rt_fail(st, VTPU_LERR_OPERANDS,
                "launch has %u operand%s, kernel '%s' takes %u",
                L->num_operands, L->num_operands == 1 ? "" : "s", e->name,
                nops);
    for (unsigned i = 0; i < nops; i++) {
        const vtpu_operand_spec *sp = &e->operands[i];
        if (sp->role > VTPU_ROLE_INOUT || sp->space > VTPU_MS_ANY ||
            sp->rank > VTPU_MAX_RANK ||
            (sp->space != VTPU_MS_ANY && sp->rank == 0))
            rt_fail(st, VTPU_LERR_TABLE,
                    "kernel '%s': operand %u has a bad spec", e->name, i);
        if (sp->buffers > VTPU_MAX_BUFFERS ||
            (sp->space == VTPU_MS_ANY && sp->buffers))
            rt_fail(st, VTPU_LERR_TABLE,
                    "kernel '%s': operand %u asks for %u block buffers (1 to "
                    "%u, blocked operands only)",
                    e->name, i, sp->buffers, VTPU_MAX_BUFFERS);
        st->deep |= sp->buffers && sp->buffers != 2;
        check_operand(st, e, i);
    }
    for (unsigned i = 0; i < nops; i++)
        check_like(st, e, i, nops);
    check_ext(st, e, nops);
    k->op = st->info;
    k->num_operands = nops;

    st->smem_top = (uintptr_t)__heap_start;
    load_scalars(st, e);
    resolve_grid(st, e);

    unsigned nblocked = 0, nbufs = 0;
    for (unsigned i = 0; i < nops; i++) {
        const vtpu_operand_spec *sp = &e->operands[i];
        nblocked += sp->space != VTPU_MS_ANY;
        nbufs += sp->space == VTPU_MS_ANY ? 0 : sp->buffers ? sp->buffers : 2;
    }
    st->regions = (vtpu_region *)smem_alloc(st, (2 + nops + nblocked + nbufs) *
                                                    sizeof(vtpu_region));
    for (unsigned i = 0; i < nops; i++) {
        const vtpu_operand_info *in = &st->info[i];
        uint64_t bytes = in->itemsize;
        for (unsigned d = 0; d < in->rank; d++)
            bytes *= in->shape[d];
        add_region(st, VTPU_REGION_HBM, in->hbm, 0, i, VTPU_RK_ARRAY, in);
        st->regions[st->nregions - 1].bytes = bytes;
    }

    /* Memories: the body's scratch first, at fixed places. */
    if (e->scratch_vmem) {
        k->scratch_vmem = vmem_alloc(st, e->scratch_vmem);
        add_region(st, VTPU_REGION_VMEM, k->scratch_vmem, e->scratch_vmem,
                   VTPU_REGION_SCRATCH, VTPU_RK_SCRATCH, NULL);
    }
    if (e->scratch_smem) {
        k->scratch_smem = (void *)smem_alloc(st, e->scratch_smem);
        add_region(st, VTPU_REGION_SMEM, (uintptr_t)k->scratch_smem,
                   e->scratch_smem, VTPU_REGION_SCRATCH, VTPU_RK_SCRATCH, NULL);
    }
    st->op = (rt_op *)smem_alloc(st, nblocked * sizeof(rt_op));

    uint32_t sem = e->num_sems;
    st->rt_sem = sem++;
    for (unsigned i = 0; i < nops; i++)
        if (e->operands[i].space != VTPU_MS_ANY) {
            setup_blocked(st, i, sem);
            sem += st->op[st->nblocked - 1].nbuf;
        }
    if (L->num_sems && sem > L->num_sems)
        rt_fail(st, VTPU_LERR_SEMS,
                "kernel '%s' needs %lu semaphores (%u of its own, 1 + one "
                "per block buffer for the runtime), the TC has %u",
                e->name, (unsigned long)sem, e->num_sems, L->num_sems);
    if (sem > VTPU_BARRIER_SEM)
        rt_fail(st, VTPU_LERR_SEMS,
                "kernel '%s' needs %lu semaphores; %u and up are "
                "vtpu_slice_barrier's",
                e->name, (unsigned long)sem, VTPU_BARRIER_SEM);
    st->sem_top = sem;

    for (unsigned d = 0; d < VTPU_MAX_GRID_DIMS; d++)
        k->grid[d] = d < st->grid_rank ? L->grid[d] : 1;
}

void rt_setup_nested(rt_state *sub, const vtpu_kernel_entry *e, unsigned nops)
{
    vtpu_launch *L = &sub->launch;
    check_grid(sub);
    for (unsigned i = 0; i < nops; i++) {
        const vtpu_operand_spec *sp = &e->operands[i];
        if (!sp->role || sp->role > VTPU_ROLE_INOUT ||
            sp->space > VTPU_MS_ANY || sp->rank > VTPU_MAX_RANK ||
            (sp->space != VTPU_MS_ANY && sp->rank < 1) ||
            sp->buffers > VTPU_MAX_BUFFERS ||
            (sp->space == VTPU_MS_ANY && sp->buffers))
            rt_fail(sub, VTPU_LERR_TABLE,
                    "kernel '%s': vtpu_emit_pipeline operand %u has a bad "
                    "spec (a VMEM or SMEM block spec of 1 to 4 buffers, or "
                    "VTPU_ANY)",
                    e->name, i);
        sub->deep |= sp->buffers && sp->buffers != 2;
        check_operand(sub, e, i);
    }
    check_ext(sub, e, nops);
    /* The caller's regions, then this pipeline's buffers: the table the
     * mailbox shows while it runs (nested.c). */
    const rt_state *par = sub->parent;
    sub->regions = (vtpu_region *)smem_alloc(
        sub,
        (par->nregions + nops * (1 + VTPU_MAX_BUFFERS)) * sizeof(vtpu_region));
    memcpy(sub->regions, par->regions, par->nregions * sizeof(vtpu_region));
    sub->nregions = par->nregions;
    sub->op = (rt_op *)smem_alloc(sub, nops * sizeof(rt_op));
    uint32_t sem = sub->sem_top;
    for (unsigned i = 0; i < nops; i++)
        if (e->operands[i].space != VTPU_MS_ANY) {
            setup_blocked(sub, i, sem);
            sem += sub->op[sub->nblocked - 1].nbuf;
        }
    if (L->num_sems && sem > L->num_sems)
        rt_fail(sub, VTPU_LERR_SEMS,
                "kernel '%s': its nested pipeline needs %lu semaphores, the "
                "TC has %u",
                e->name, (unsigned long)sem, L->num_sems);
    if (sem > VTPU_BARRIER_SEM)
        rt_fail(sub, VTPU_LERR_SEMS,
                "kernel '%s': its nested pipeline needs %lu semaphores; %u "
                "and up are vtpu_slice_barrier's",
                e->name, (unsigned long)sem, VTPU_BARRIER_SEM);
    sub->sem_top = sem;
    uint32_t steps = 1;
    for (unsigned d = 0; d < VTPU_MAX_GRID_DIMS; d++) {
        sub->ctx.grid[d] = d < sub->grid_rank ? L->grid[d] : 1;
        steps *= sub->ctx.grid[d];
    }
    sub->steps = steps;
    sub->ctx.num_steps = steps;
}

/*
 * Split the leading parallel dimensions across the TCs: their grid
 * points, flattened in lexicographic order, are cut into ntcs contiguous
 * ranges (the first TCs take one more when it does not divide); each TC
 * runs all the remaining dimensions for each of its points.  With no
 * leading parallel dimension, TC 0 runs the whole grid.
 */
void rt_split(rt_state *st)
{
    const vtpu_launch *L = &st->launch;
    unsigned npd = 0;
    uint32_t outer = 1, inner = 1;
    while (npd < st->grid_rank && L->semantics[npd] == VTPU_PARALLEL)
        outer *= L->grid[npd++];
    for (unsigned d = npd; d < st->grid_rank; d++)
        inner *= L->grid[d];

    uint32_t t = st->tc, n = st->ntcs;
    uint32_t lo = (uint32_t)(((uint64_t)t * outer + n - 1) / n);
    uint32_t hi = (uint32_t)(((uint64_t)(t + 1) * outer + n - 1) / n);
    st->steps = (hi - lo) * inner;
    st->ctx.num_steps = st->steps;
    if (!st->steps)
        return; /* a dynamic extent of 0, or fewer points than TCs */

    /* Unflatten lo over the parallel dims; the rest start at 0. */
    for (int d = (int)npd - 1; d >= 0; d--) {
        st->start[d] = (int32_t)(lo % L->grid[d]);
        lo /= L->grid[d];
    }
    memcpy(st->ctx.idx, st->start, sizeof(st->ctx.idx));
}
