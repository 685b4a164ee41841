/*
 * interptest.c - small kernels for the ports of JAX's Pallas interpret
 * mode tests (python/tests/test_pallas_interpret.py), linked into the
 * selftest module.  Some have planted bugs, selected by a scalar.
 *
 *   add1_3d        o = x + 1 over 3-D f32 arrays in (2, 8, 128) blocks
 *                  (edge blocks in every dimension when not divisible);
 *   masked_store   o := -1, then x stored where x > 0 (VST.M);
 *   count_store    JAX's test_correct_number_of_stores: (8, 256) blocks
 *                  (i, 0) of x and o over grid (I, J), a counter s in
 *                  scratch SMEM (0 at step 0): x += s; s += 1; o = x;
 *   slice_block    o := block (scalar 0, scalar 1) of x, (128, 128) i32
 *                  blocks (a dynamic slice by scalar prefetch);
 *   inout_add_n    o (in/out, one (32, 128) f32 block) += scalar 1 at
 *                  every grid point; grid (scalar 0,) in the test;
 *   dma_race       ANY x (8, 128) f32 -> scratch by async copy, o = t + 1;
 *                  scalar 0 = 1 loads t before waiting for the copy (BUG:
 *                  a race between the DMA's write and the load);
 *   any_copy_range ANY x (R, 128) f32 -> ANY o: rows [s0, s0 + s2) of x
 *                  to rows [s1, s1 + s2) of o through VMEM; ranges past
 *                  the arrays are the caller's bug (async copy out of
 *                  range);
 *   hbm_race       ANY x, ANY o (R, 128) f32, grid (P,): program p copies
 *                  its 8 rows of x to rows 8p of o, or (scalar 0 = 1, BUG)
 *                  all programs to rows 0: two TCs write one HBM range;
 *   half_copy      JAX's test_store_to_half_of_hbm_output_buffer: one ANY
 *                  in/out (aliased) i32 array of 2n elements, its first
 *                  half copied over its second through VMEM scratch
 *                  (2n <= 2048);
 *   vld_hbm        JAX's test_referencing_hbm_raises: a vector load at an
 *                  ANY operand's HBM offset, as if HBM were addressable
 *                  (BUG: only DMA reaches HBM; the load faults).
 */
#include <vtpu/kernel.h>

enum { SEM_A, NUM_SEMS };

VTPU_INDEX_MAP(blk3, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
    b[2] = g[2];
}

VTPU_BODY(add1_3d_body, k)
{
    VBCAST_F32(2, 1.0f);
    for (unsigned d = 0; d < 2; d++) {
        VLD(1, vtpu_ref(k, 0) + d * 4096);
        VADD_F32(1, 1, 2);
        VST(1, vtpu_ref(k, 1) + d * 4096);
    }
}

VTPU_KERNEL(add1_3d, add1_3d_body,
            .operands = {VTPU_IN(VTPU_F32, blk3, 2, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, blk3, 2, 8, 128)});

VTPU_INDEX_MAP(tile_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(masked_store_body, k)
{
    VBCAST_F32(2, -1.0f);
    VST(2, vtpu_ref(k, 1));
    VLD(1, vtpu_ref(k, 0));
    VBCAST_F32(3, 0.0f);
    VCMP_F32(GT, 1, 1, 3); /* m1 = x > 0 */
    VSTM(1, vtpu_ref(k, 1), 512, 1);
}

VTPU_KERNEL(masked_store, masked_store_body,
            .operands = {VTPU_IN(VTPU_F32, tile_ij, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, tile_ij, 8, 128)});

VTPU_INDEX_MAP(rows_i0, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_BODY(count_store_body, k)
{
    int32_t *s = (int32_t *)k->scratch_smem;
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1);

    if (k->step == 0)
        s[0] = 0;
    VBCAST_F32(3, (float)s[0]);
    s[0] += 1;
    for (unsigned h = 0; h < 2; h++) { /* the two 128-column halves */
        VLDS(1, x + h * 512, 1024);
        VADD_F32(1, 1, 3);
        VSTS(1, x + h * 512, 1024);
        VSTS(1, o + h * 512, 1024);
    }
}

VTPU_KERNEL(count_store, count_store_body,
            .operands = {VTPU_IN(VTPU_F32, rows_i0, 8, 256),
                         VTPU_OUT_LIKE(0, VTPU_F32, rows_i0, 8, 256)},
            .scratch_smem = 64);

VTPU_INDEX_MAP(by_scalars, g, s, b)
{
    b[0] = s[0];
    b[1] = s[1];
}

VTPU_INDEX_MAP(block00, g, s, b)
{
    b[0] = 0;
    b[1] = 0;
}

VTPU_BODY(slice_block_body, k)
{
    vtpu_dma_desc d;
    uint32_t bytes = k->op[0].bytes;

    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 1)),
                vtpu_vmem((void *)(uintptr_t)vtpu_ref(k, 0)), bytes, SEM_A);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_A, bytes);
}

VTPU_KERNEL(slice_block, slice_block_body,
            .operands = {VTPU_IN(VTPU_I32, by_scalars, 128, 128),
                         VTPU_OUT(VTPU_I32, block00, 128, 128)},
            .num_sems = NUM_SEMS, .num_scalars = 2);

VTPU_BODY(inout_add_n_body, k)
{
    VBCAST_F32(2, (float)vtpu_scalar(k, 1));
    for (unsigned r = 0; r < 4; r++) {
        VLD(1, vtpu_ref(k, 0) + r * 4096);
        VADD_F32(1, 1, 2);
        VST(1, vtpu_ref(k, 0) + r * 4096);
    }
}

VTPU_KERNEL(inout_add_n, inout_add_n_body,
            .operands = {VTPU_INOUT(VTPU_F32, block00, 32, 128)},
            .num_scalars = 2);

VTPU_BODY(dma_race_body, k)
{
    vtpu_copy c;
    uint32_t start[2] = {0, 0}, size[2] = {8, 128}, t = k->scratch_vmem;

    vtpu_copy_in(&c, k, 0, start, size, t, SEM_A);
    vtpu_copy_start(&c);
    if (vtpu_scalar(k, 0)) {
        VLD(1, t); /* BUG: before the copy is waited for */
        vtpu_copy_wait(&c);
    } else {
        vtpu_copy_wait(&c);
        VLD(1, t);
    }
    VBCAST_F32(2, 1.0f);
    VADD_F32(1, 1, 2);
    VST(1, vtpu_ref(k, 1));
}

VTPU_KERNEL(dma_race, dma_race_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_OUT(VTPU_F32, block00, 8, 128)},
            .scratch_vmem = 4096, .num_sems = NUM_SEMS, .num_scalars = 1);

#define ACR_MAX_ROWS 64

VTPU_BODY(any_copy_range_body, k)
{
    vtpu_copy c;
    uint32_t n = (uint32_t)vtpu_scalar(k, 2);
    uint32_t rd[2] = {(uint32_t)vtpu_scalar(k, 0), 0};
    uint32_t wr[2] = {(uint32_t)vtpu_scalar(k, 1), 0};
    uint32_t size[2] = {n, 128};

    if (n == 0 || n > ACR_MAX_ROWS)
        vtpu_fail(k, "any_copy_range copies 1..64 rows");
    vtpu_copy_in(&c, k, 0, rd, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
    vtpu_copy_out(&c, k, 1, wr, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
}

VTPU_KERNEL(any_copy_range, any_copy_range_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .scratch_vmem = ACR_MAX_ROWS * 512, .num_sems = NUM_SEMS,
            .num_scalars = 3);

VTPU_BODY(hbm_race_body, k)
{
    vtpu_copy c;
    uint32_t p = (uint32_t)vtpu_program_id(k, 0);
    uint32_t rd[2] = {8 * p, 0}, wr[2] = {8 * p, 0}, size[2] = {8, 128};

    if (vtpu_scalar(k, 0))
        wr[0] = 0; /* BUG: every program writes rows 0..7 */
    vtpu_copy_in(&c, k, 0, rd, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
    vtpu_copy_out(&c, k, 1, wr, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
}

VTPU_KERNEL(hbm_race, hbm_race_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .scratch_vmem = 4096, .num_sems = NUM_SEMS, .num_scalars = 1);

VTPU_BODY(half_copy_body, k)
{
    vtpu_copy c;
    uint32_t n = k->op[0].shape[0] / 2;
    uint32_t src[1] = {0}, size[1] = {n};
    if (n == 0 || n > 1024)
        vtpu_fail(k, "half_copy takes 2 to 2048 elements");
    vtpu_copy_in(&c, k, 0, src, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
    uint32_t dst[1] = {n};
    vtpu_copy_out(&c, k, 0, dst, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
}

VTPU_KERNEL(half_copy, half_copy_body,
            .operands = {VTPU_ANY(VTPU_ROLE_INOUT, VTPU_I32, 1)},
            .scratch_vmem = 4096, .num_sems = NUM_SEMS);

VTPU_BODY(vld_hbm_body, k)
{
    VLD(1, (uint32_t)vtpu_hbm_ref(k, 0)); /* BUG: an HBM offset */
    VST(1, vtpu_ref(k, 1));
}

VTPU_KERNEL(vld_hbm, vld_hbm_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_OUT_LIKE(0, VTPU_F32, NULL, 8, 128)});
