/*
 * selftest.c - a second, tiny kernel module for tests/test_kernels.c:
 * kernels that misbehave on purpose, so the runtime's error paths can be
 * checked (they are not examples to follow).
 *
 *   copy_oob   starts a good async copy of its ANY operand, then asks for
 *              a slice starting at scalar 0: past the end, the launch must
 *              end with "async copy out of range" although the first copy
 *              is still unawaited (the runtime consumes its semaphore).
 *   race_out   every grid point writes output block 0: on a 'parallel'
 *              grid split across TCs, two TCs write one output block, a
 *              data race for vtpu-run --race (docs/debugging.md).
 *
 * and kernels that check an instruction from inside a kernel:
 *
 *   sem_read   reads its semaphores (pltpu.semaphore_read) after signals,
 *              a DMA and waits, and stores what it read.
 */
#include <vtpu/kernel.h>

enum { SEM_A, NUM_SEMS };

VTPU_BODY(copy_oob_body, k)
{
    vtpu_copy a, b;
    uint32_t start[1] = {0}, size[1] = {8};
    vtpu_copy_in(&a, k, 0, start, size, k->scratch_vmem, SEM_A);
    vtpu_copy_start(&a);
    start[0] = (uint32_t)vtpu_scalar(k, 0);
    vtpu_copy_in(&b, k, 0, start, size, k->scratch_vmem + 512, SEM_A);
    vtpu_copy_start(&b);
    vtpu_copy_wait(&a);
    vtpu_copy_wait(&b);
}

VTPU_KERNEL(copy_oob, copy_oob_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 1)},
            .scratch_vmem = 1024, .num_sems = NUM_SEMS, .num_scalars = 1);

VTPU_INDEX_MAP(race_in_map, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_INDEX_MAP(race_out_map, g, s, b)
{
    b[0] = 0; /* BUG: should be g[0] */
    b[1] = 0;
}

VTPU_BODY(race_out_body, k)
{
    VLD(1, vtpu_ref(k, 0));
    VST(1, vtpu_ref(k, 1));
}

VTPU_KERNEL(race_out, race_out_body,
            .operands = {VTPU_IN(VTPU_F32, race_in_map, 8, 128),
                         VTPU_OUT(VTPU_F32, race_out_map, 8, 128)});

/* An output declared like itself: a malformed table entry
 * (VTPU_LERR_TABLE); and a body that reads one scalar past the launch's
 * array (the engine's report names it). */
VTPU_BODY(scalar_past_body, k)
{
    VBCAST_I32(1, vtpu_scalar(k, k->num_scalars));
    VST(1, vtpu_ref(k, 0));
}

VTPU_KERNEL(bad_like, scalar_past_body,
            .operands = {VTPU_OPERAND_EX(VTPU_ROLE_OUT, VTPU_MS_VMEM, VTPU_I32,
                                         NULL, VTPU_LIKE(0), VTPU_LIKE_NONE, 8,
                                         128)});
/* five block buffers: more than VTPU_MAX_BUFFERS */
VTPU_KERNEL(bad_buffers, scalar_past_body,
            .operands = {VTPU_OUT_BUF(5, VTPU_I32, NULL, 8, 128)});
/* padding (pl.Element(n, padding=...)) on a blocked dimension: refused */
VTPU_KERNEL_EXT(bad_pad_ext, VTPU_PAD(0, 1, 1, 1));
VTPU_KERNEL(bad_pad, scalar_past_body,
            .operands = {VTPU_OUT(VTPU_I32, NULL, VTPU_ELEMENT(8), 128)},
            .ext = VTPU_EXT(bad_pad_ext));
/* an extension record of another version: refused, not ignored */
static const vtpu_kernel_ext bad_ext_version = {
    .magic = VTPU_KEXT_MAGIC, .version = 2, .size = sizeof(vtpu_kernel_ext)};
VTPU_KERNEL(bad_ext, scalar_past_body,
            .operands = {VTPU_OUT(VTPU_I32, NULL, 8, 128)},
            .ext = VTPU_EXT(bad_ext_version));
VTPU_KERNEL(scalar_past, scalar_past_body,
            .operands = {VTPU_OUT(VTPU_I32, NULL, 8, 128)});

/*
 * sem_read: grid (G,), out (G * 8, 128) i32; block g's element i (row 0)
 * is the i-th value read, with n = scalar 0 + g and B = 256 + 4g bytes:
 * 0 (nothing signalled yet), n, n + 5 (two local signals), B (a DMA's
 * completion, read before waiting for it), 5 (after waiting for n), 0
 * (after every wait), then the TC that ran it.
 */
enum { SR_COUNT, SR_DMA, SR_SEMS };

VTPU_INDEX_MAP(sem_read_map, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_BODY(sem_read_body, k)
{
    uint32_t g = (uint32_t)vtpu_program_id(k, 0);
    uint32_t n = (uint32_t)vtpu_scalar(k, 0) + g, v[7];
    uint32_t src = k->scratch_vmem, dst = src + 1024;
    vtpu_dma_desc d;

    VBCAST_I32(1, g);
    VST(1, src); /* the DMA's source: 4096 written bytes */
    v[0] = vtpu_sem_read(SR_COUNT);
    vtpu_sem_signal(SR_COUNT, n);
    v[1] = vtpu_sem_read(SR_COUNT);
    vtpu_sem_signal(SR_COUNT, 5);
    v[2] = vtpu_sem_read(SR_COUNT);
    vtpu_dma_1d(&d, vtpu_vmem((void *)(uintptr_t)dst),
                vtpu_vmem((void *)(uintptr_t)src), 256 + 4 * g, SR_DMA);
    vtpu_dma_start(&d);
    v[3] = vtpu_sem_read(SR_DMA);
    vtpu_sem_wait(SR_COUNT, n);
    v[4] = vtpu_sem_read(SR_COUNT);
    vtpu_sem_wait(SR_COUNT, 5);
    vtpu_sem_wait(SR_DMA, vtpu_dma_bytes(&d));
    v[5] = vtpu_sem_read(SR_DMA) + vtpu_sem_read(SR_COUNT);
    v[6] = k->tc;
    VBCAST_I32(2, 0xFFFFFFFFu);
    for (uint32_t i = 0; i < 7; i++)
        VINS_I32(2, i, v[i]);
    VST(2, vtpu_ref(k, 0));
}

VTPU_KERNEL(sem_read, sem_read_body,
            .operands = {VTPU_OUT(VTPU_I32, sem_read_map, 8, 128)},
            .scratch_vmem = 8192, .num_sems = SR_SEMS, .num_scalars = 1);
