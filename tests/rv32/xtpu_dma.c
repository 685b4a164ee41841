/*
 * xtpu_dma.c - DMA on two TCs, checked against scalar references.
 *
 * TC0 builds a 64x32 matrix in SMEM and moves it around: to HBM (1-D), a
 * 16x16 block of it from HBM into TC1's SMEM (2-D, TC1's semaphore), a
 * transpose into VMEM and back (3-D, element-sized runs), and a copy with
 * negative strides (4-D).  TC1 checks its block, sends it back through HBM
 * signalling TC0's semaphore, and TC0 checks that too.  Then adding DMAs
 * (VTPU_DMA_ADD): u32 rows of the matrix added into SMEM (2-D) and f32
 * from HBM added into SMEM, against the scalar core's sums.  Exit 0 = all
 * good.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vtpu/sync.h"
#include "vtpu-map.h"

#define ROWS 64
#define COLS 32
#define BR 16 /* block rows/cols */
#define BC 16
#define B_ROW0 8
#define B_COL0 4

enum { SEM_LOCAL = 0, SEM_BLOCK = 1, SEM_BACK = 2 };

static uint32_t a[ROWS][COLS];
static uint32_t t[COLS][ROWS];
static uint32_t r4[ROWS][COLS];
static uint32_t blk[BR][BC];
static uint32_t back[BR][BC];
static uint32_t before[16][COLS];
static float fx[256], fy[256], fx0[256];

#define HBM_A 0x1000
#define HBM_BACK 0x20000
#define HBM_F 0x30000
#define VMEM_T ((const void *)(uintptr_t)(VTPU_VMEM_BASE + 0x8000))

static unsigned errors;

static void check(int ok, const char *what, unsigned i, unsigned j)
{
    if (!ok && errors++ < 5)
        printf("xtpu_dma: TC%u: %s mismatch at [%u][%u]\n",
               (unsigned)vtpu_tc_id(), what, i, j);
}

static uint32_t pattern(unsigned r, unsigned c)
{
    return r * 1000u + c * 7u + 0x5a000000u;
}

static void wait_for(unsigned sem, const vtpu_dma_desc *d)
{
    vtpu_sem_wait(sem, vtpu_dma_bytes(d));
}

static void tc0(void)
{
    vtpu_dma_desc d;

    for (unsigned r = 0; r < ROWS; r++)
        for (unsigned c = 0; c < COLS; c++)
            a[r][c] = pattern(r, c);

    /* 1-D: SMEM -> HBM. */
    vtpu_dma_1d(&d, vtpu_hbm(HBM_A), vtpu_smem(a), sizeof(a), SEM_LOCAL);
    vtpu_dma_start(&d);
    wait_for(SEM_LOCAL, &d);

    /* 2-D: a block of the HBM copy -> TC1's SMEM, TC1's semaphore. */
    vtpu_dma_2d(&d, vtpu_smem_tc(1, blk), BC * 4,
                vtpu_hbm(HBM_A + (B_ROW0 * COLS + B_COL0) * 4), COLS * 4,
                BC * 4, BR, SEM_BLOCK);
    vtpu_dma_set_sem(&d, 1, SEM_BLOCK);
    vtpu_dma_start(&d);

    /* 3-D transpose, SMEM -> VMEM, one 4-byte element per run. */
    {
        uint32_t shape[3] = {4, ROWS, COLS};
        int64_t ss[2] = {COLS * 4, 4}, ds[2] = {4, ROWS * 4};
        vtpu_dma_3d(&d, vtpu_vmem(VMEM_T), ds, vtpu_smem(a), ss, shape,
                    SEM_LOCAL);
        vtpu_dma_start(&d);
        wait_for(SEM_LOCAL, &d);
        vtpu_dma_1d(&d, vtpu_smem(t), vtpu_vmem(VMEM_T), sizeof(t), SEM_LOCAL);
        vtpu_dma_start(&d);
        wait_for(SEM_LOCAL, &d);
        for (unsigned c = 0; c < COLS; c++)
            for (unsigned r = 0; r < ROWS; r++)
                check(t[c][r] == a[r][c], "transpose", c, r);
    }

    /*
     * 4-D, HBM -> SMEM with negative strides: rows in 4 groups of 16,
     * each row as 8 runs of 4 elements; groups and runs land in reverse
     * order, rows within a group keep theirs.
     */
    {
        uint32_t shape[4] = {16, 8, 16, 4};
        int64_t ss[3] = {16, COLS * 4, 16 * COLS * 4};
        int64_t ds[3] = {-16, COLS * 4, -16 * COLS * 4};
        vtpu_dma_ref dst = vtpu_smem(&r4[48][28]);
        vtpu_dma_4d(&d, dst, ds, vtpu_hbm(HBM_A), ss, shape, SEM_LOCAL);
        vtpu_dma_start(&d);
        wait_for(SEM_LOCAL, &d);
        for (unsigned g = 0; g < 4; g++)
            for (unsigned r = 0; r < 16; r++)
                for (unsigned k = 0; k < 8; k++)
                    for (unsigned e = 0; e < 4; e++) {
                        unsigned sr = g * 16 + r, sc = k * 4 + e;
                        unsigned dr = (3 - g) * 16 + r, dc = (7 - k) * 4 + e;
                        check(r4[dr][dc] == a[sr][sc], "4-D", dr, dc);
                    }
    }

    /* TC1 sends its block back through HBM and signals our semaphore. */
    vtpu_sem_wait(SEM_BACK, sizeof(blk));
    vtpu_dma_1d(&d, vtpu_smem(back), vtpu_hbm(HBM_BACK), sizeof(back),
                SEM_LOCAL);
    vtpu_dma_start(&d);
    wait_for(SEM_LOCAL, &d);
    for (unsigned i = 0; i < BR; i++)
        for (unsigned j = 0; j < BC; j++)
            check(back[i][j] == pattern(B_ROW0 + i, B_COL0 + j) + 1,
                  "round trip", i, j);

    /* Adding DMA, u32, 2-D: rows 0..15 of a (HBM) += into r4's rows
     * 0..15, every other row of a. */
    memcpy(before, r4, sizeof(before));
    vtpu_dma_2d(&d, vtpu_smem(r4), COLS * 4, vtpu_hbm(HBM_A), 2 * COLS * 4,
                COLS * 4, 16, SEM_LOCAL);
    vtpu_dma_set_add(&d, VTPU_U32);
    vtpu_dma_start(&d);
    wait_for(SEM_LOCAL, &d);
    for (unsigned r = 0; r < 16; r++)
        for (unsigned c = 0; c < COLS; c++)
            check(r4[r][c] == before[r][c] + a[2 * r][c], "add u32", r, c);

    /* Adding DMA, f32: HBM += into SMEM, sums that round. */
    for (unsigned i = 0; i < 256; i++) {
        fx[i] = fx0[i] = (float)i * 0.37f - 20.0f;
        fy[i] = 1.0f / (float)(i + 3);
    }
    vtpu_dma_1d(&d, vtpu_hbm(HBM_F), vtpu_smem(fy), sizeof(fy), SEM_LOCAL);
    vtpu_dma_start(&d);
    wait_for(SEM_LOCAL, &d);
    vtpu_dma_1d(&d, vtpu_smem(fx), vtpu_hbm(HBM_F), sizeof(fx), SEM_LOCAL);
    vtpu_dma_set_add(&d, VTPU_F32);
    uint32_t flags;
    __asm__ volatile("csrw fflags, zero" ::: "memory");
    vtpu_dma_start(&d);
    wait_for(SEM_LOCAL, &d);
    /* the sums round, but a DMA leaves the TC's fflags alone */
    __asm__ volatile("csrr %0, fflags" : "=r"(flags)::"memory");
    check(flags == 0, "add f32 left fflags", flags, 0);
    for (unsigned i = 0; i < 256; i++) {
        volatile float want = fx0[i] + fy[i]; /* the scalar core's fadd.s */
        check(fx[i] == want, "add f32", i, 0);
    }
}

static void tc1(void)
{
    vtpu_dma_desc d;

    vtpu_sem_wait(SEM_BLOCK, sizeof(blk));
    for (unsigned i = 0; i < BR; i++)
        for (unsigned j = 0; j < BC; j++) {
            check(blk[i][j] == pattern(B_ROW0 + i, B_COL0 + j), "block", i, j);
            blk[i][j]++;
        }
    vtpu_dma_1d(&d, vtpu_hbm(HBM_BACK), vtpu_smem(blk), sizeof(blk), SEM_BACK);
    vtpu_dma_set_sem(&d, 0, SEM_BACK);
    vtpu_dma_start(&d);
}

int main(void)
{
    if (vtpu_num_tcs() < 2) {
        printf("xtpu_dma: needs 2 TCs (--cores 2)\n");
        return 2;
    }
    /*
     * crt0 clears .bss on every TC; a DMA into another TC's .bss before
     * that TC is past crt0 would be wiped (a real race, seen by TSan).
     */
    vtpu_barrier();
    if (vtpu_tc_id() == 0)
        tc0();
    else if (vtpu_tc_id() == 1)
        tc1();
    /* Report only once everyone is done, so errors are all counted. */
    vtpu_barrier();
    if (errors)
        printf("xtpu_dma: TC%u: %u errors\n", (unsigned)vtpu_tc_id(), errors);
    else if (vtpu_tc_id() == 0)
        printf("xtpu_dma: ok\n");
    return errors ? 1 : 0;
}
