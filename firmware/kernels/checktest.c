/*
 * checktest.c - kernels with planted bugs for the TC runtime's debugging
 * checks (docs/debugging.md; tests/test_debug_aids.py), linked into the
 * selftest module.  Not examples to follow.
 *
 *   walk_order   o block i := the step at which grid point i ran: shows
 *                the order of grid points (lexicographic or shuffled);
 *                a kernel whose result depends on that order;
 *   print_point  the same, printing "step S" each step (tagged output);
 *   revisit_out  output block g % 2 over grid (4): block 0 is written
 *                back after point 0 and comes back at point 2;
 *   oob_index    output block g + 1: out of range at the last point.
 *   vst_small    x in, o out, p out: (1,128) f32 blocks; p = 2x stored
 *                right (one row, stride 0), then o = x + 1 with a plain
 *                VST: 8 rows, 4 KiB into o's 512-byte buffer, over p's
 *                buffers (buffer bounds check);
 *   smem_count   o block := a counter in scratch SMEM that is never
 *                initialised (poison: uninitialised SMEM);
 *   slow_point   o block := the grid point; the body at point scalar 0
 *                spins scalar 1 iterations (trace: the slow step's slice);
 *   uninit_read  copies scratch VMEM it never wrote into its output: an
 *                uninitialised read for poison=on (python/tests).
 *   core_of_point  o block (i, j) := 1000 x the TC that ran grid point
 *                (i, j) + its step on that TC: which core runs which point,
 *                in which order (python/tests/test_pallas_interpret.py);
 *   edge_add1    o = x + 1 over (R, 128) f32 in (8,128) blocks: scalar 0 =
 *                0 loads whole blocks (the edge block's padding too: an
 *                error with buffer bounds 'logical'), 1 loads only the
 *                rows inside the array (masked);
 *   uninit_dtypes  o1 bf16, o2 i16, o3 f32 (8,128) blocks; scalar 0 picks
 *                the one left uninitialised (0: o1 := unwritten bf16
 *                scratch, 1: o2 := unwritten i16 scratch, 2: o3 never
 *                written); the others are written with zeros.
 *   remote_stray  x, o ANY (R, 128) f32 on a slice: x copied into the
 *                successor's o one row on, past o's array (buffer bounds
 *                check of a remote DMA's destination).
 * Outputs are (8,128) i32 blocks along the first dimension unless said.
 */
#include <stdio.h>

#include <vtpu/kernel.h>

enum { SEM_FILL, NUM_SEMS };
#define BLOCK_WORDS (8 * 128)

VTPU_INDEX_MAP(rows, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_INDEX_MAP(alternate, g, s, b)
{
    b[0] = g[0] % 2;
    b[1] = 0;
}

VTPU_INDEX_MAP(shifted, g, s, b)
{
    b[0] = g[0] + 1;
    b[1] = 0;
}

/* Output block 0 := the step number, through an SMEM staging buffer. */
static void fill_step(const vtpu_kctx *k)
{
    int32_t *buf = (int32_t *)k->scratch_smem;
    vtpu_dma_desc d;

    for (unsigned i = 0; i < BLOCK_WORDS; i++)
        buf[i] = (int32_t)k->step;
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 0)),
                vtpu_smem(buf), BLOCK_WORDS * 4, SEM_FILL);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_FILL, BLOCK_WORDS * 4);
}

VTPU_BODY(walk_order_body, k)
{
    fill_step(k);
}

VTPU_BODY(print_point_body, k)
{
    printf("step %u\n", (unsigned)k->step);
    fill_step(k);
}

#define STEP_KERNEL(name, body, map)                                           \
    VTPU_KERNEL(name, body, .operands = {VTPU_OUT(VTPU_I32, map, 8, 128)},     \
                .scratch_smem = BLOCK_WORDS * 4, .num_sems = NUM_SEMS)

STEP_KERNEL(walk_order, walk_order_body, rows);
STEP_KERNEL(print_point, print_point_body, rows);
STEP_KERNEL(revisit_out, walk_order_body, alternate);
STEP_KERNEL(oob_index, walk_order_body, shifted);

VTPU_BODY(vst_small_body, k)
{
    VLDS(1, vtpu_ref(k, 0), 0); /* every sublane: x's one row */
    VBCAST_F32(2, 2.0f);
    VMUL_F32(3, 1, 2);
    VSTS(3, vtpu_ref(k, 2), 0); /* p = 2x: one row, right */
    VBCAST_F32(2, 1.0f);
    VADD_F32(4, 1, 2);
    VST(4, vtpu_ref(k, 1)); /* BUG: 8 rows into a (1,128) block */
}

VTPU_KERNEL(vst_small, vst_small_body,
            .operands = {VTPU_IN(VTPU_F32, rows, 1, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, rows, 1, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, rows, 1, 128)});

VTPU_BODY(smem_count_body, k)
{
    volatile int32_t *count = (volatile int32_t *)k->scratch_smem;
    *count = *count + 1; /* BUG: never set to 0 at step 0 */
    VBCAST_I32(1, *count);
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(smem_count, smem_count_body,
            .operands = {VTPU_OUT(VTPU_I32, rows, 8, 128)}, .scratch_smem = 64);

VTPU_BODY(slow_point_body, k)
{
    int32_t g = vtpu_program_id(k, 0);
    if (g == vtpu_scalar(k, 0))
        for (volatile int32_t i = 0; i < vtpu_scalar(k, 1); i = i + 1)
            ;
    VBCAST_I32(1, g);
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(slow_point, slow_point_body,
            .operands = {VTPU_OUT(VTPU_I32, rows, 8, 128)}, .num_scalars = 2);

VTPU_BODY(uninit_read_body, k)
{
    VLD(1, k->scratch_vmem); /* BUG: never written */
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(uninit_read, uninit_read_body,
            .operands = {VTPU_OUT(VTPU_F32, rows, 8, 128)},
            .scratch_vmem = BLOCK_WORDS * 4);

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(core_of_point_body, k)
{
    VBCAST_I32(1, (int32_t)(1000 * k->tc + k->step));
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(core_of_point, core_of_point_body,
            .operands = {VTPU_OUT(VTPU_I32, tile_ij, 8, 128)});

/* A (8,128) block of 2-byte elements is 2 KiB: 4 VMEM rows. */
#define HALF_BLOCK (8 * 128 * 2)

static void vmem_copy(uint32_t dst, uint32_t src, uint32_t bytes)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)dst),
                vtpu_vmem((void *)(uintptr_t)src), bytes, SEM_FILL);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_FILL, bytes);
}

VTPU_BODY(uninit_dtypes_body, k)
{
    int32_t which = vtpu_scalar(k, 0);
    uint32_t bf = k->scratch_vmem, i16 = k->scratch_vmem + HALF_BLOCK;

    VBCAST_I32(1, 0);
    for (uint32_t r = 0; r < HALF_BLOCK; r += 512) { /* one row each */
        if (which != 0)
            VSTS(1, bf + r, 0);
        if (which != 1)
            VSTS(1, i16 + r, 0);
    }
    vmem_copy(vtpu_ref(k, 0), bf, HALF_BLOCK);  /* o1 := bf16 scratch */
    vmem_copy(vtpu_ref(k, 1), i16, HALF_BLOCK); /* o2 := i16 scratch */
    if (which != 2)
        VST(1, vtpu_ref(k, 2)); /* o3 := 0 */
}

VTPU_KERNEL(uninit_dtypes, uninit_dtypes_body,
            .operands = {VTPU_OUT(VTPU_BF16, NULL, 8, 128),
                         VTPU_OUT(VTPU_I16, NULL, 8, 128),
                         VTPU_OUT(VTPU_F32, NULL, 8, 128)},
            .scratch_vmem = 2 * HALF_BLOCK, .num_sems = NUM_SEMS,
            .num_scalars = 1);

VTPU_BODY(edge_add1_body, k)
{
    int32_t masked = vtpu_scalar(k, 0);
    uint32_t left = k->op[0].shape[0] - (uint32_t)k->op[0].bidx[0] * 8;

    VBCAST_F32(2, 1.0f);
    if (masked && left < 8) {
        VIOTA(SUBLANE, 3, 0);
        VBCAST_I32(4, (int32_t)left);
        VCMP_I32(LT, 1, 3, 4); /* m1 = rows inside the array */
        VLDM(1, vtpu_ref(k, 0), 512, 1);
    } else {
        VLD(1, vtpu_ref(k, 0));
    }
    VADD_F32(1, 1, 2);
    VST(1, vtpu_ref(k, 1));
}

VTPU_KERNEL(edge_add1, edge_add1_body,
            .operands = {VTPU_IN(VTPU_F32, rows, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, rows, 8, 128)},
            .num_scalars = 1);

/*
 * nested_stray: a stray store into a nested pipeline's buffer.  The body
 * runs vtpu_emit_pipeline over x and o (ANY, (R, 128) f32) in (1, 128)
 * blocks; the nested body stores o's block with a plain VST, 8 rows into
 * a 1-row buffer: the bounds check names emit_pipeline 1's operand 1's
 * block buffer (docs/debugging.md, "Buffer bounds").
 */
VTPU_INDEX_MAP(stray_rows, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_BODY(nested_stray_inner, k)
{
    VLDS(1, vtpu_ref(k, 0), 0);
    VST(1, vtpu_ref(k, 1)); /* BUG: 8 rows into a (1,128) block */
}

VTPU_BODY(nested_stray_body, k)
{
    vtpu_pipeline p = {
        .grid_rank = 1,
        .num_operands = 2,
        .grid = {k->op[0].shape[0]},
        .body = nested_stray_inner,
        .src = {0, 1},
    };
    p.operands[0] = (vtpu_operand_spec)VTPU_IN(VTPU_F32, stray_rows, 1, 128);
    p.operands[1] = (vtpu_operand_spec)VTPU_OUT(VTPU_F32, stray_rows, 1, 128);
    vtpu_emit_pipeline(k, &p);
}

VTPU_KERNEL(nested_stray, nested_stray_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)});

/*
 * remote_stray: a remote copy past its destination's buffer.  Every chip
 * sends all of x (ANY, (R, 128) f32) to its successor on the mesh's x
 * axis, into that chip's o (ANY, like x) one row further on: the last row
 * lands past o's array.  The bounds check reports it on the sender,
 * naming the destination chip (docs/debugging.md, "Buffer bounds").
 */
VTPU_BODY(remote_stray_body, k)
{
    uint32_t bytes = k->op[0].shape[0] * k->op[0].shape[1] * 4;

    vtpu_remote_copy(vtpu_hbm(k->op[1].hbm + 512), /* BUG: one row on */
                     vtpu_hbm(k->op[0].hbm), bytes, vtpu_mesh_neighbor(0, 1), 0,
                     1);
    vtpu_sem_wait(0, bytes);
    vtpu_sem_wait(1, bytes);
}

VTPU_KERNEL(remote_stray, remote_stray_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)});
