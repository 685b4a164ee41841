/*
 * lib_random.c - kernels that draw random numbers (docs/kernels.md,
 * "Kernel library: random numbers"), on the TC's Philox generator
 * (docs/isa.md, "Random numbers").
 *
 *   dropout_f32       x (R, C) f32 in, o out: o = keep ? x / p : 0, keep
 *                     with probability p.  Scalar 0: seed; scalar 1: p as
 *                     f32 bits, 0 < p <= 1.
 *   cast_f32_bf16_sr  x (R, C) f32 in, o bf16 out, stochastically rounded.
 *                     Scalar 0: seed.  C even.
 *
 * Every grid point seeds the generator with (seed, its index in the grid,
 * vtpu_program_index), as Pallas kernels do with
 * pltpu.prng_seed(seed, pl.program_id(0), ...), so the result depends on
 * the seed only, not on the number of TCs or the order of grid points.
 * The draws of a block are made in a fixed order (below), which the host
 * reference in tests/test_kernel_lib.c reproduces word for word.
 */
#include <vtpu/kernel.h>

VTPU_INDEX_MAP(rnd_ij, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

/*
 * dropout: (32, 512) blocks, grid (cdiv(R, 32), cdiv(C, 512)) parallel.
 * Draw d = 4 * r + c (r, c = 0..3) covers rows 8r..8r+7, columns
 * 128c..128c+127 of the block (element (s, l) of the draw: row 8r + s,
 * column 128c + l); keep iff the word < p * 2^32 (all kept when p = 1).
 */
#define DR 32
#define DC 512
#define PITCH (DC * 4)

VTPU_BODY(dropout_f32_body, k)
{
    uint32_t x = vtpu_ref(k, 0), o = vtpu_ref(k, 1);
    uint32_t pb = (uint32_t)vtpu_scalar(k, 1);
    float p;
    __builtin_memcpy(&p, &pb, 4);
    if (!(p > 0.0f && p <= 1.0f))
        vtpu_fail(k, "dropout_f32: scalar 1 (keep probability) must be in "
                     "(0, 1]");
    float scale = 1.0f / p;
    int all = p == 1.0f;
    uint32_t thr = all ? 0 : (uint32_t)(p * 4294967296.0f);

    vtpu_prng_seed_grid(k, (uint32_t)vtpu_scalar(k, 0));
    VBCAST_I32(5, thr);
    VBCAST_F32(6, scale);
    VBCAST_I32(7, 0);
    for (uint32_t r = 0; r < DR / 8; r++)
        for (uint32_t c = 0; c < DC / 128; c++) {
            uint32_t off = r * 8 * PITCH + c * 512;
            VRAND(2);
            if (all)
                MSET(1);
            else
                VCMP_U32(LT, 1, 2, 5); /* keep = bits < p * 2^32 */
            VLDS(1, x + off, PITCH);
            VMUL_F32(3, 1, 6);
            VSEL(4, 1, 3, 7);
            VSTS(4, o + off, PITCH);
        }
}

VTPU_KERNEL(dropout_f32, dropout_f32_body,
            .operands = {VTPU_IN(VTPU_F32, rnd_ij, DR, DC),
                         VTPU_OUT_LIKE(0, VTPU_F32, rnd_ij, DR, DC)},
            .num_scalars = 2);

/*
 * Stochastic rounding to bf16: (64, 128) blocks, grid (cdiv(R, 64),
 * cdiv(C, 128)) parallel.  Draw d (0..7) rounds rows 8d..8d+7 of the
 * block (the f32 vreg d); pairs of rounded vregs are packed (exactly).
 */
#define SR 64

VTPU_BODY(cast_f32_bf16_sr_body, k)
{
    uint32_t x = vtpu_ref(k, 0), y = vtpu_ref(k, 1);

    vtpu_prng_seed_grid(k, (uint32_t)vtpu_scalar(k, 0));
    for (uint32_t v = 0; v < SR / 16; v++) {
        VLD(1, x + 2 * v * 4096);
        VLD(2, x + (2 * v + 1) * 4096);
        VRAND(3);
        VSROUND_BF16(1, 1, 3);
        VRAND(3);
        VSROUND_BF16(2, 2, 3);
        VPACK_BF16(4, 1, 2);
        VST(4, y + v * 4096);
    }
}

VTPU_KERNEL(cast_f32_bf16_sr, cast_f32_bf16_sr_body,
            .operands = {VTPU_IN(VTPU_F32, rnd_ij, SR, 128),
                         VTPU_OUT_LIKE(0, VTPU_BF16, rnd_ij, SR, 128)},
            .num_scalars = 1);
