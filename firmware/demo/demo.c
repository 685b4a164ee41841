/*
 * demo.c - what `make demo` runs on the emulated chip (every TC runs it).
 *
 * 1. The seed workload o = sin((x + y) * 2) over NBLK (8,128) f32 blocks:
 *    TC 0 generates x and y and DMAs them to HBM; every TC then takes its
 *    share of the blocks, DMAs each into VMEM, computes with the vector
 *    unit and DMAs the result back to HBM.
 * 2. A 128x128x128 f32 matmul on the MXU, on TC 0.
 * Each result is checked on the TC against a scalar reference (picolibc's
 * sinf, a scalar triple loop), and TC 0 prints a table of what ran.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vtpu/sync.h>
#include <vtpu/xtpu.h>

#pragma GCC optimize("fp-contract=off")

#define NBLK 64                /* (8,128) blocks in x, y, o */
#define BLK_ELEMS 1024
#define BLK_BYTES (BLK_ELEMS * 4)
#define HBM_X 0x000000ull
#define HBM_Y 0x100000ull
#define HBM_O 0x200000ull
#define HBM_A 0x300000ull      /* matmul operands and result */
#define HBM_B 0x340000ull
#define HBM_C 0x380000ull

#define VM_X (VTPU_VMEM_BASE + 0x0000)
#define VM_Y (VTPU_VMEM_BASE + 0x1000)
#define VM_O (VTPU_VMEM_BASE + 0x2000)
#define VM_A (VTPU_VMEM_BASE + 0x10000) /* 128x128 f32 = 64 KiB each */
#define VM_B (VTPU_VMEM_BASE + 0x20000)
#define VM_C (VTPU_VMEM_BASE + 0x30000)

#define SEM_DMA 0

static float blk[BLK_ELEMS];   /* SMEM staging for generation/checking */
static float ref[BLK_ELEMS];
static float mat_a[128 * 128]; /* SMEM copies for the scalar reference */
static float mat_b[128 * 128];

static uint32_t rng_state = 12345;

static float rnd(void) /* uniform in [-2, 2) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) * (4.0f / 16777216.0f) - 2.0f;
}

static uint32_t instret(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, instret" : "=r"(v));
    return v;
}

/* Copy and wait: DMA completion signals SEM_DMA by the bytes moved. */
static void dma(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t bytes)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, dst, src, bytes, SEM_DMA);
    vtpu_dma_start(&d);
    vtpu_sem_wait(SEM_DMA, bytes);
}

static void generate(void)
{
    for (unsigned b = 0; b < NBLK; b++) {
        for (unsigned i = 0; i < BLK_ELEMS; i++)
            blk[i] = rnd();
        dma(vtpu_hbm(HBM_X + b * BLK_BYTES), vtpu_smem(blk), BLK_BYTES);
        for (unsigned i = 0; i < BLK_ELEMS; i++)
            blk[i] = rnd();
        dma(vtpu_hbm(HBM_Y + b * BLK_BYTES), vtpu_smem(blk), BLK_BYTES);
    }
}

/* The kernel body of the seed workload, for this TC's blocks. */
static void seed_kernel(unsigned tc, unsigned ntcs)
{
    VBCAST_F32(4, 2.0f);
    for (unsigned b = tc; b < NBLK; b += ntcs) {
        dma(vtpu_vmem((void *)VM_X), vtpu_hbm(HBM_X + b * BLK_BYTES),
            BLK_BYTES);
        dma(vtpu_vmem((void *)VM_Y), vtpu_hbm(HBM_Y + b * BLK_BYTES),
            BLK_BYTES);
        VLD(1, VM_X);
        VLD(2, VM_Y);
        VADD_F32(3, 1, 2);
        VMUL_F32(3, 3, 4);
        VSIN(3, 3);
        VST(3, VM_O);
        dma(vtpu_hbm(HBM_O + b * BLK_BYTES), vtpu_vmem((void *)VM_O),
            BLK_BYTES);
    }
}

/* Largest relative error of o against sinf((x + y) * 2) over all blocks. */
static float check_seed(void)
{
    float worst = 0;
    for (unsigned b = 0; b < NBLK; b++) {
        dma(vtpu_smem(blk), vtpu_hbm(HBM_X + b * BLK_BYTES), BLK_BYTES);
        memcpy(ref, blk, sizeof(ref));
        dma(vtpu_smem(blk), vtpu_hbm(HBM_Y + b * BLK_BYTES), BLK_BYTES);
        for (unsigned i = 0; i < BLK_ELEMS; i++)
            ref[i] = sinf((ref[i] + blk[i]) * 2.0f);
        dma(vtpu_smem(blk), vtpu_hbm(HBM_O + b * BLK_BYTES), BLK_BYTES);
        for (unsigned i = 0; i < BLK_ELEMS; i++) {
            float err = fabsf(blk[i] - ref[i]) / fmaxf(fabsf(ref[i]), 1e-3f);
            if (!(err <= worst)) /* also catches NaN */
                worst = err;
        }
    }
    return worst;
}

/* C = A x B, 128x128 f32, on MXU 0: stage B, then 16 row groups of A. */
static void matmul_mxu(void)
{
    MXU_CLR(0);
    for (unsigned r = 0; r < 128; r += 8) {
        VLD(5, VM_B + r * 512);
        MXU_PUSH_F32(0, 5, 0);
    }
    for (unsigned r = 0; r < 128; r += 8) {
        VLD(6, VM_A + r * 512);
        MXU_MATMUL_F32(0, 6, 0);
        MXU_POP(7, 0, 0);
        VST(7, VM_C + r * 512);
    }
}

static float check_matmul(void)
{
    float worst = 0;
    static float row[128];
    for (unsigned r = 0; r < 128; r++) {
        dma(vtpu_smem(row), vtpu_hbm(HBM_C + r * 512), 512);
        for (unsigned n = 0; n < 128; n++) {
            float acc = 0;
            for (unsigned k = 0; k < 128; k++)
                acc += mat_a[r * 128 + k] * mat_b[k * 128 + n];
            float err = fabsf(row[n] - acc) / fmaxf(fabsf(acc), 1.0f);
            if (!(err <= worst))
                worst = err;
        }
    }
    return worst;
}

static const char *verdict(float err, float tol)
{
    return err <= tol ? "match" : "MISMATCH";
}

int main(void)
{
    unsigned tc = vtpu_tc_id(), ntcs = vtpu_num_tcs();

    /* Every TC clears its .bss at start-up: nobody DMAs into another TC
     * before all have passed this barrier. */
    vtpu_barrier();
    if (tc == 0)
        generate();
    vtpu_barrier();
    uint32_t t0 = instret();
    seed_kernel(tc, ntcs);
    uint32_t seed_insns = instret() - t0;
    vtpu_barrier();
    if (tc != 0)
        return 0;

    float seed_err = check_seed();

    for (unsigned i = 0; i < 128 * 128; i++) {
        mat_a[i] = rnd();
        mat_b[i] = rnd();
    }
    dma(vtpu_hbm(HBM_A), vtpu_smem(mat_a), sizeof(mat_a));
    dma(vtpu_hbm(HBM_B), vtpu_smem(mat_b), sizeof(mat_b));
    dma(vtpu_vmem((void *)VM_A), vtpu_hbm(HBM_A), sizeof(mat_a));
    dma(vtpu_vmem((void *)VM_B), vtpu_hbm(HBM_B), sizeof(mat_b));
    t0 = instret();
    matmul_mxu();
    uint32_t mm_insns = instret() - t0;
    dma(vtpu_hbm(HBM_C), vtpu_vmem((void *)VM_C), sizeof(mat_a));
    float mm_err = check_matmul();

    printf("vtpu demo: %u TensorCore(s)\n\n", ntcs);
    printf("%-34s %-6s %-12s %-12s %s\n", "kernel", "TCs", "insns(TC0)",
           "max rel err", "result");
    printf("%-34s %-6u %-12lu %-12.3g %s\n",
           "sin((x+y)*2), 64 x (8,128) f32", ntcs, (unsigned long)seed_insns,
           (double)seed_err, verdict(seed_err, 1e-6f));
    printf("%-34s %-6u %-12lu %-12.3g %s\n", "matmul 128x128x128 f32 (MXU)",
           1u, (unsigned long)mm_insns, (double)mm_err,
           verdict(mm_err, 1e-5f));
    return seed_err <= 1e-6f && mm_err <= 1e-5f ? 0 : 1;
}
